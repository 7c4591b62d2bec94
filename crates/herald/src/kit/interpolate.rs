//! `${env:NAME}` and `${file:PATH}` references in configuration strings, resolved once
//! at load. `$${` writes a literal `${`.

use super::diagnostic::Diagnostic;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

/// Looks up environment variables; injected so tests need not touch the process environment.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok())
}

pub struct Interpolator {
    base_dir: PathBuf,
    env: EnvLookup,
}

impl Interpolator {
    /// `base_dir` anchors relative `${file:...}` paths (the configuration file's directory).
    pub fn new(base_dir: &Path, env: EnvLookup) -> Self {
        Interpolator {
            base_dir: base_dir.to_path_buf(),
            env,
        }
    }

    /// The configuration file's directory, which relative paths are read against.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Replace every reference in the value. Errors name the variable or file, never a value.
    pub fn resolve(&self, value: &Spanned<String>) -> Result<String, Diagnostic> {
        self.resolve_with_values(value).map(|(text, _)| text)
    }

    /// As `resolve`, with the values the references resolved to: what `${env:…}` and
    /// `${file:…}` bring in may be a credential, and is redacted wherever it is shown.
    pub fn resolve_with_values(
        &self,
        value: &Spanned<String>,
    ) -> Result<(String, Vec<String>), Diagnostic> {
        let text = value.get_ref();
        let mut values = Vec::new();
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find('$') {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(reference) = tail.strip_prefix("${") {
                let end = reference.find('}').ok_or_else(|| {
                    Diagnostic::error(value.span(), "unterminated ${...} reference")
                })?;
                let resolved = self.lookup(&reference[..end], value)?;
                out.push_str(&resolved);
                values.push(resolved);
                rest = &reference[end + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        Ok((out, values))
    }

    fn lookup(&self, reference: &str, value: &Spanned<String>) -> Result<String, Diagnostic> {
        if let Some(name) = reference.strip_prefix("env:") {
            return (self.env)(name).ok_or_else(|| {
                Diagnostic::error(
                    value.span(),
                    format!("environment variable {name} is not set"),
                )
                .with_help(format!("export {name}=... before starting herald"))
            });
        }
        if let Some(path) = reference.strip_prefix("file:") {
            let full = self.base_dir.join(path);
            return std::fs::read_to_string(&full)
                .map(|content| content.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|error| {
                    Diagnostic::error(
                        value.span(),
                        format!("cannot read {}: {error}", full.display()),
                    )
                });
        }
        Err(
            Diagnostic::error(value.span(), format!("unknown reference ${{{reference}}}"))
                .with_help("use ${env:NAME} or ${file:PATH}; write $${ for a literal ${"),
        )
    }
}

/// Whether a string holds a `${...}` reference (a secret written inline has none).
pub fn has_reference(text: &str) -> bool {
    text.replace("$${", "").contains("${")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interpolator(dir: &Path) -> Interpolator {
        Interpolator::new(
            dir,
            Arc::new(|name| (name == "TOKEN").then(|| "s3cret".to_string())),
        )
    }

    fn spanned(text: &str) -> Spanned<String> {
        Spanned::new(3..9, text.to_string())
    }

    #[test]
    fn resolves_env_and_file_references() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "from-file\n").unwrap();
        let interpolator = interpolator(dir.path());
        assert_eq!(
            interpolator.resolve(&spanned("${env:TOKEN}")).unwrap(),
            "s3cret"
        );
        assert_eq!(
            interpolator.resolve(&spanned("a-${file:key}-b")).unwrap(),
            "a-from-file-b"
        );
        assert_eq!(
            interpolator.resolve(&spanned("cost $5 $${env:X}")).unwrap(),
            "cost $5 ${env:X}"
        );
    }

    #[test]
    fn errors_name_the_reference_and_keep_the_span() {
        let dir = tempfile::tempdir().unwrap();
        let interpolator = interpolator(dir.path());
        let missing = interpolator.resolve(&spanned("${env:NOPE}")).unwrap_err();
        assert_eq!(missing.message, "environment variable NOPE is not set");
        assert_eq!(missing.span, Some(3..9));
        let unknown = interpolator.resolve(&spanned("${vault:x}")).unwrap_err();
        assert!(unknown.message.contains("unknown reference"));
        let open = interpolator.resolve(&spanned("${env:TOKEN")).unwrap_err();
        assert!(open.message.contains("unterminated"));
        let no_file = interpolator
            .resolve(&spanned("${file:absent}"))
            .unwrap_err();
        assert!(no_file.message.starts_with("cannot read"));
    }

    #[test]
    fn detects_inline_values() {
        assert!(has_reference("${env:A}"));
        assert!(!has_reference("plain"));
        assert!(!has_reference("$${env:A}"));
    }
}
