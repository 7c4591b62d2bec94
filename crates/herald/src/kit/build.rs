//! What kind builders (one per integration) use to turn their options into parts:
//! secrets by name, templates, expressions, `${env:...}` values, durations.

use super::diagnostic::{Diagnostic, Diagnostics};
use super::document::{self, Item};
use super::interpolate::Interpolator;
use super::units;
use crate::action::OrderingKey;
use crate::core::context::TEMPLATE_VARIABLES;
use crate::core::template::{
    self, CompileError, Escape, ExprRef, TemplateEngine, TemplateRef, word_places,
};
use crate::secret::Secret;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

pub struct Builder<'a> {
    /// The configuration file's text, to point at a name inside a template.
    pub text: &'a str,
    pub diagnostics: &'a mut Diagnostics,
    pub templates: &'a mut TemplateEngine,
    pub interpolator: &'a Interpolator,
    pub secrets: &'a BTreeMap<String, Secret>,
    /// Secrets referenced so far, to warn about unused ones.
    pub used_secrets: &'a mut BTreeSet<String>,
    /// Names templates are registered under, e.g. `action.sink`.
    pub scope: String,
    /// The integrations' own sections, read before any kind is built.
    pub sections: &'a super::Sections,
    /// What failed to build so far: references to it stay silent.
    pub failed: Failed,
    /// While a kind reads its options: the keys of the table it does not read (`timeout`
    /// of an action), so an unknown key can be told it was probably one of them.
    pub shared_keys: &'static [&'static str],
}

/// What could not be built — a secret whose value could not be read (an unset
/// `${env:…}`), a source, an action, a rule — so that what refers to it says nothing
/// more: its own error said what is wrong (one mistake, one message).
#[derive(Debug, Default)]
pub struct Failed {
    pub secrets: BTreeSet<String>,
    /// (section, name): `("actions", "digest")`.
    pub entries: BTreeSet<(String, String)>,
}

impl Failed {
    /// Whether `[section.name]` is there but failed to build.
    pub fn entry(&self, section: &str, name: &str) -> bool {
        self.entries
            .contains(&(section.to_string(), name.to_string()))
    }

    /// Whether anything failed: what is unused cannot be told then.
    pub fn any(&self) -> bool {
        !self.secrets.is_empty() || !self.entries.is_empty()
    }
}

impl Builder<'_> {
    /// Deserialize the kind's own options; unknown keys are errors.
    pub fn options<T: DeserializeOwned>(&mut self, item: Item<'_>) -> Option<T> {
        let result = document::typed_among(item, self.shared_keys);
        self.diagnostics.take(result)
    }

    pub fn error(
        &mut self,
        span: impl Into<Option<std::ops::Range<usize>>>,
        message: impl Into<String>,
    ) {
        self.diagnostics.error(span, message);
    }

    /// A named secret from `[secrets]`.
    pub fn secret(&mut self, name: &Spanned<String>) -> Option<Secret> {
        self.used_secrets.insert(name.get_ref().clone());
        match self.secrets.get(name.get_ref()) {
            Some(secret) => Some(secret.clone()),
            None if self.failed.secrets.contains(name.get_ref()) => None,
            None => {
                self.diagnostics
                    .push(undefined_secret(name.get_ref(), name.span()));
                None
            }
        }
    }

    /// Every named secret of a non-empty list.
    pub fn secret_list(&mut self, names: &Spanned<Vec<Spanned<String>>>) -> Option<Vec<Secret>> {
        if names.get_ref().is_empty() {
            self.error(names.span(), "list at least one secret");
            return None;
        }
        let resolved: Vec<_> = names
            .get_ref()
            .iter()
            .map(|name| self.secret(name))
            .collect();
        resolved.into_iter().collect()
    }

    /// A string with `${env:...}` / `${file:...}` references resolved.
    pub fn interpolate(&mut self, value: &Spanned<String>) -> Option<String> {
        let result = self.interpolator.resolve(value);
        self.diagnostics.take(result)
    }

    /// An API base URL: the action's own `api_url` (references resolved) when it sets
    /// one, else `fallback` — its integration's section's, else the provider's default.
    pub fn url_or(&mut self, own: Option<&Spanned<String>>, fallback: &str) -> Option<String> {
        match own {
            Some(url) => self.interpolate(url),
            None => Some(fallback.to_string()),
        }
    }

    pub fn duration(&mut self, value: &Spanned<String>) -> Option<Duration> {
        self.diagnostics.take(units::duration(value))
    }

    /// An optional duration, or its default.
    pub fn duration_or(
        &mut self,
        value: &Option<Spanned<String>>,
        default: Duration,
    ) -> Option<Duration> {
        self.diagnostics
            .take(units::optional_duration(value, default))
    }

    /// Event type patterns (`pull_request.*`), as rules and the `sql` action's cases match
    /// them.
    pub fn event_globs(&mut self, raw: &[Spanned<String>]) -> Option<Vec<glob::Pattern>> {
        let mut globs = Vec::new();
        for text in raw {
            match glob::Pattern::new(text.get_ref()) {
                Ok(glob) => globs.push(glob),
                Err(error) => self.error(text.span(), format!("bad event pattern: {error}")),
            }
        }
        (globs.len() == raw.len()).then_some(globs)
    }

    /// A template over `event`, `meta` and `headers`; `secret("...")` names must exist.
    pub fn template(
        &mut self,
        part: &str,
        source: &Spanned<String>,
        escape: Escape,
    ) -> Option<TemplateRef> {
        let (text, values) = self.interpolate_with_values(source)?;
        self.template_redacting(part, &Spanned::new(source.span(), text), escape, values)
    }

    /// As `interpolate`, with the values the references brought in (to redact when shown).
    pub fn interpolate_with_values(
        &mut self,
        value: &Spanned<String>,
    ) -> Option<(String, Vec<String>)> {
        let result = self.interpolator.resolve_with_values(value);
        self.diagnostics.take(result)
    }

    /// A template of resolved text that shows `values` (what references brought in) as
    /// `[redacted]`.
    pub fn template_redacting(
        &mut self,
        part: &str,
        source: &Spanned<String>,
        escape: Escape,
        values: Vec<String>,
    ) -> Option<TemplateRef> {
        let template = self.template_text(part, source, escape)?;
        Some(self.templates.redacting(template, values))
    }

    /// Like [`Builder::template`], for text whose references are already resolved.
    pub fn template_text(
        &mut self,
        part: &str,
        source: &Spanned<String>,
        escape: Escape,
    ) -> Option<TemplateRef> {
        let text = source.get_ref();
        for name in template::secret_references(text) {
            self.used_secrets.insert(name.clone());
            if !self.secrets.contains_key(&name) && !self.failed.secrets.contains(&name) {
                self.diagnostics
                    .push(undefined_secret(&name, source.span()));
            }
        }
        let name = format!("{}.{part}", self.scope);
        let result = self
            .templates
            .add_template(&name, text, escape, TEMPLATE_VARIABLES);
        self.compiled(result, "template", part, source)
    }

    /// The compiled template or expression, or its problems reported, each at its place
    /// in the file when it is known.
    fn compiled<T>(
        &mut self,
        result: Result<T, CompileError>,
        what: &str,
        part: &str,
        source: &Spanned<String>,
    ) -> Option<T> {
        let problems = match result {
            Ok(compiled) => return Some(compiled),
            Err(CompileError(problems)) => problems,
        };
        for problem in problems {
            let span = match &problem.at {
                Some(at) => place_in_value(self.text, source.span(), source.get_ref(), at),
                None => source.span(),
            };
            let mut diagnostic = Diagnostic::error(
                span,
                format!("bad {what} for `{part}`: {}", problem.message),
            );
            diagnostic.help = problem.help;
            self.diagnostics.push(diagnostic);
        }
        None
    }

    /// An ordering key that is the same for every delivery of the action `kind` being
    /// built: they run one at a time, in the order their events arrived.
    pub fn one_at_a_time(
        &mut self,
        kind: &str,
        span: std::ops::Range<usize>,
    ) -> Option<OrderingKey> {
        let empty = Spanned::new(span, String::new());
        let template = self.template_text("ordering", &empty, Escape::None)?;
        Some(OrderingKey {
            prefix: format!("{kind}:{}", self.scope),
            template,
        })
    }

    /// An expression over the given variables.
    pub fn expression(
        &mut self,
        part: &str,
        source: &Spanned<String>,
        variables: &[&str],
    ) -> Option<ExprRef> {
        let name = format!("{}.{part}", self.scope);
        let result = self
            .templates
            .add_expression(&name, source.get_ref(), variables);
        self.compiled(result, "expression", part, source)
    }
}

/// Where the bytes `at` of `text` — the value at `span` as read, its escapes and
/// `${…}` references resolved — are in the file: the same occurrence of the same name in
/// the value as written; the whole value when it is not found there.
fn place_in_value(file: &str, span: Range<usize>, text: &str, at: &Range<usize>) -> Range<usize> {
    let Some(name) = text.get(at.clone()) else {
        return span;
    };
    let before = word_places(&text[..at.start], name).count();
    let written = file.get(span.clone()).unwrap_or_default();
    match word_places(written, name).nth(before) {
        Some(offset) => span.start + offset..span.start + offset + name.len(),
        None => span,
    }
}

fn undefined_secret(name: &str, span: std::ops::Range<usize>) -> Diagnostic {
    Diagnostic::error(span, format!("undefined secret `{name}`")).with_help(format!(
        "define it under [secrets], e.g. {name} = \"${{env:...}}\""
    ))
}
