//! Ready-made, commented configurations for common workflows (`herald init --preset NAME`).
//! Each is a file under examples/presets/, embedded in the binary so `init` needs nothing
//! else, and loaded by the docs test like every other example. Its guide, a file under
//! docs/, is embedded too (`herald init --preset NAME --docs`) and linked online.

/// One preset: its name on the command line, a one-line description, the file, and its
/// guide.
pub struct Preset {
    pub name: &'static str,
    pub description: &'static str,
    pub text: &'static str,
    /// The guide's path in the repository (`docs/pact-slack.md`).
    pub doc_path: &'static str,
    /// The guide's text, as that file holds it.
    pub doc: &'static str,
}

/// The repository herald is built from (`repository` in Cargo.toml).
pub const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

impl Preset {
    /// The guide online: the file on the repository's main branch.
    pub fn doc_url(&self) -> String {
        format!("{REPOSITORY}/blob/main/{}", self.doc_path)
    }
}

/// Every preset. A new one adds its file under examples/presets/, its guide under docs/,
/// and its lines here.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "deploybot",
        description: "Slack ChatOps (/cimon) for deployments: pull requests, pushes and `deploy` commands → GitHub deployments → CircleCI pipelines → statuses, one Slack message each, replacing deploybot",
        text: include_str!("../../../examples/presets/deploybot.toml"),
        doc_path: "docs/deploybot.md",
        doc: include_str!("../../../docs/deploybot.md"),
    },
    Preset {
        name: "jira-release",
        description: "GitHub releases (one registered hook per repository) → each Jira ticket in the release notes moves one step through its project's state machine, with a comment",
        text: include_str!("../../../examples/presets/jira-release.toml"),
        doc_path: "docs/jira.md",
        doc: include_str!("../../../docs/jira.md"),
    },
    Preset {
        name: "pact-github",
        description: "Pact Broker contract_requiring_verification_published → GitHub repository_dispatch to the provider's verification workflow",
        text: include_str!("../../../examples/presets/pact-github.toml"),
        doc_path: "docs/pact-github.md",
        doc: include_str!("../../../docs/pact-github.md"),
    },
    Preset {
        name: "pact-slack",
        description: "Pact Broker publications and verifications → a Slack digest per pacticipant version, and a thread per contract in each provider's channel",
        text: include_str!("../../../examples/presets/pact-slack.toml"),
        doc_path: "docs/pact-slack.md",
        doc: include_str!("../../../docs/pact-slack.md"),
    },
    Preset {
        name: "workos-sync",
        description: "WorkOS Events API polled from its cursor (users, organizations, memberships) → upserts into your SQLite or PostgreSQL tables, safe to replay",
        text: include_str!("../../../examples/presets/workos-sync.toml"),
        doc_path: "docs/pollers.md",
        doc: include_str!("../../../docs/pollers.md"),
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| preset.name == name)
}

pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|preset| preset.name).collect()
}

/// The environment variables a configuration reads (`${env:NAME}`), in order, once each.
/// Comments are skipped: they may show references the file does not use.
pub fn env_vars(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut rest = line;
        while let Some(start) = rest.find("${env:") {
            let after = &rest[start + "${env:".len()..];
            let Some(end) = after.find('}') else { break };
            let name = &after[..end];
            // `$${env:X}` is a literal, not a reference.
            let escaped = rest[..start].ends_with('$');
            if !escaped && !names.contains(&name) {
                names.push(name);
            }
            rest = &after[end + 1..];
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    #[test]
    fn names_are_unique_and_findable() {
        let names = names();
        for name in &names {
            assert_eq!(find(name).unwrap().name, *name);
            assert_eq!(names.iter().filter(|n| n == &name).count(), 1, "{name}");
        }
        assert!(find("nope").is_none());
    }

    #[test]
    fn every_preset_loads_with_its_variables_set() {
        for preset in PRESETS {
            let vars: Vec<String> = env_vars(preset.text)
                .into_iter()
                .map(String::from)
                .collect();
            assert!(!vars.is_empty(), "{}", preset.name);
            // An encryption key must be one: 32 bytes, as 64 hex characters.
            let env = Arc::new(move |name: &str| {
                vars.iter()
                    .any(|v| v == name)
                    .then(|| match name.ends_with("_KEY") {
                        true => "ab".repeat(32),
                        false => format!("value-of-{name}"),
                    })
            });
            let loaded = crate::config::from_text(
                Path::new("herald.toml"),
                preset.text,
                env,
                &crate::integrations::catalog(),
            )
            .unwrap_or_else(|report| panic!("{}: {}", preset.name, report.short()));
            assert_eq!(loaded.warnings.warnings().count(), 0, "{}", preset.name);
        }
    }

    #[test]
    fn every_preset_has_its_guide_which_names_it() {
        for preset in PRESETS {
            assert!(preset.doc_path.starts_with("docs/"), "{}", preset.name);
            assert!(
                preset.doc.contains(&format!("--preset {}", preset.name)),
                "{} does not mention `herald init --preset {}`",
                preset.doc_path,
                preset.name
            );
            assert!(preset.doc_url().ends_with(preset.doc_path));
            assert!(preset.doc_url().starts_with("https://"));
        }
    }

    #[test]
    fn env_vars_skip_comments_and_escapes() {
        let text =
            "# ${env:IN_A_COMMENT}\na = \"${env:A}:${env:B}\"\nb = \"$${env:LITERAL} ${env:A}\"\n";
        assert_eq!(env_vars(text), ["A", "B"]);
    }
}
