//! One language for rule filters and action templates: minijinja.
//!
//! Every filter and template is compiled once when the configuration loads (syntax and
//! unknown variables are configuration errors) and rendered per event (a render error
//! fails that delivery). Filters read missing fields as undefined, so
//! `event.pull_request.draft == false` is simply false on a push; templates refuse to print
//! a missing field, so a typo fails loudly instead of sending an empty value.

use super::filters;
use crate::secret::Secret;
use minijinja::value::{Value, merge_maps};
use minijinja::{AutoEscape, Environment, ErrorKind, State, UndefinedBehavior};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Bounds the work one render may do, so a template cannot spin forever.
const FUEL: u64 = 2_000_000;
const REDACT_FLAG: &str = "__herald_redact";
const REDACTED: &str = "[redacted]";
/// Interpolated values shorter than this are not redacted (see `redacting`).
const MIN_REDACTED: usize = 4;

/// How rendered values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Printed as is (URLs, headers, plain text).
    None,
    /// Every `{{ value }}` is written as JSON: strings are quoted and escaped.
    Json,
}

/// A compiled filter expression, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprRef(String);

/// A compiled template, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    name: String,
    uses_secrets: bool,
    /// Values `${env:…}` / `${file:…}` wrote into the template's text, and how each is
    /// shown instead.
    interpolated: Arc<[(String, String)]>,
}

/// A template failed on one input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

impl From<minijinja::Error> for RenderError {
    fn from(error: minijinja::Error) -> Self {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        RenderError(message)
    }
}

pub struct TemplateEngine {
    expressions: Environment<'static>,
    templates: Environment<'static>,
}

impl TemplateEngine {
    /// `secrets` are what `secret("name")` may return inside templates.
    pub fn new(secrets: Arc<BTreeMap<String, Secret>>) -> Self {
        Self::with_vars(secrets, Value::from(()), |_| {})
    }

    /// As `new`, with `[vars]` (constants every template and filter sees as `vars`) and
    /// the filters `extend` adds (the integrations').
    pub fn with_vars(
        secrets: Arc<BTreeMap<String, Secret>>,
        vars: Value,
        extend: impl Fn(&mut Environment<'static>),
    ) -> Self {
        let mut expressions = Environment::new();
        expressions.set_undefined_behavior(UndefinedBehavior::Chainable);
        expressions.set_fuel(Some(FUEL));
        let mut templates = Environment::new();
        templates.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        templates.set_fuel(Some(FUEL));
        templates.set_auto_escape_callback(|name| {
            if name.ends_with(".json") {
                AutoEscape::Json
            } else {
                AutoEscape::None
            }
        });
        templates.add_function("secret", move |state: &State, name: String| {
            secret_value(state, &secrets, &name)
        });
        for env in [&mut expressions, &mut templates] {
            filters::register(env);
            extend(env);
        }
        if !vars.is_none() {
            expressions.add_global("vars", vars.clone());
            templates.add_global("vars", vars);
        }
        TemplateEngine {
            expressions,
            templates,
        }
    }

    /// Compile an expression (a rule filter, a source's event type). Only the variables in
    /// `allowed` may be read.
    pub fn add_expression(
        &mut self,
        name: &str,
        source: &str,
        allowed: &[&str],
    ) -> Result<ExprRef, String> {
        let compiled = self
            .expressions
            .compile_expression(source)
            .map_err(|e| RenderError::from(e).0)?;
        check_variables(
            &self.expressions,
            compiled.undeclared_variables(false),
            allowed,
        )?;
        // Stored as a template so it is compiled once and looked up by name.
        // `none` prints as "None" in Jinja; an absent value must print as nothing.
        let wrapped = format!(
            "{{% set value = ({source}) %}}{{% if value is not none %}}{{{{ value }}}}{{% endif %}}"
        );
        let truth = format!("{{% if ({source}) %}}1{{% endif %}}");
        self.expressions
            .add_template_owned(format!("{name}#value"), wrapped)
            .and_then(|()| {
                self.expressions
                    .add_template_owned(format!("{name}#truth"), truth)
            })
            .map_err(|e| RenderError::from(e).0)?;
        Ok(ExprRef(name.to_string()))
    }

    /// Compile a template. Names must be unique; `Escape::Json` escapes every printed value.
    pub fn add_template(
        &mut self,
        name: &str,
        source: &str,
        escape: Escape,
        allowed: &[&str],
    ) -> Result<TemplateRef, String> {
        let full_name = match escape {
            Escape::Json => format!("{name}.json"),
            Escape::None => name.to_string(),
        };
        self.templates
            .add_template_owned(full_name.clone(), source.to_string())
            .map_err(|e| RenderError::from(e).0)?;
        let template = self
            .templates
            .get_template(&full_name)
            .map_err(|e| RenderError::from(e).0)?;
        check_variables(
            &self.templates,
            template.undeclared_variables(false),
            allowed,
        )?;
        Ok(TemplateRef {
            name: full_name,
            uses_secrets: source.contains("secret"),
            interpolated: Arc::from([]),
        })
    }

    /// `template`, with the values interpolated into its text redacted when it is shown.
    /// Values shorter than `MIN_REDACTED` (a port, a flag) are left: redacting them would
    /// blank out the text around every digit.
    pub fn redacting(&self, template: TemplateRef, values: Vec<String>) -> TemplateRef {
        let mut values: Vec<(String, String)> = values
            .into_iter()
            .filter(|value| value.chars().count() >= MIN_REDACTED)
            .flat_map(|value| {
                // As written, and as a JSON template escapes it.
                let escaped = serde_json::to_string(&value).unwrap_or_default();
                let escaped = escaped.trim_matches('"').to_string();
                let shown = redacted_form(&value);
                [(escaped, shown.clone()), (value, shown)]
            })
            .collect();
        // The longest first, so a value inside another is not left half shown.
        values.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        values.dedup();
        TemplateRef {
            interpolated: Arc::from(values),
            ..template
        }
    }

    /// Whether the expression is true for this context (Jinja truthiness).
    pub fn is_true(&self, expr: &ExprRef, context: &Value) -> Result<bool, RenderError> {
        let template = self
            .expressions
            .get_template(&format!("{}#truth", expr.0))?;
        Ok(template.render(context)? == "1")
    }

    /// The expression's value printed as text; empty when it is undefined or none.
    pub fn eval_text(&self, expr: &ExprRef, context: &Value) -> Result<String, RenderError> {
        let template = self
            .expressions
            .get_template(&format!("{}#value", expr.0))?;
        Ok(template.render(context)?)
    }

    /// Render for sending: `secret()` gives real values.
    pub fn render(&self, template: &TemplateRef, context: &Value) -> Result<String, RenderError> {
        Ok(self
            .templates
            .get_template(&template.name)?
            .render(context)?)
    }

    /// Render for showing (dry runs, the attempt log): `secret()` gives `[redacted]`.
    pub fn render_redacted(
        &self,
        template: &TemplateRef,
        context: &Value,
    ) -> Result<String, RenderError> {
        let mut shown = if template.uses_secrets {
            let flag = Value::from(BTreeMap::from([(REDACT_FLAG, true)]));
            let flagged = merge_maps([flag, context.clone()]);
            self.render(template, &flagged)?
        } else {
            self.render(template, context)?
        };
        for (value, instead) in template.interpolated.iter() {
            if shown.contains(value.as_str()) {
                shown = shown.replace(value.as_str(), instead);
            }
        }
        Ok(shown)
    }
}

/// How an interpolated value is shown: a URL keeps its origin, so a dry run still says
/// where a request goes (a Slack webhook URL's secret is its path); anything else is
/// `[redacted]`.
fn redacted_form(value: &str) -> String {
    let Ok(url) = url::Url::parse(value) else {
        return REDACTED.to_string();
    };
    if !url.has_host() {
        return REDACTED.to_string();
    }
    let origin = url.origin().ascii_serialization();
    if url.as_str() == format!("{origin}/") {
        // Nothing beyond where it goes: nothing to hide.
        value.to_string()
    } else {
        format!("{origin}/{REDACTED}")
    }
}

fn secret_value(
    state: &State,
    secrets: &BTreeMap<String, Secret>,
    name: &str,
) -> Result<String, minijinja::Error> {
    let secret = secrets.get(name).ok_or_else(|| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("unknown secret {name:?}"),
        )
    })?;
    let redact = state.lookup(REDACT_FLAG).is_some_and(|flag| flag.is_true());
    Ok(if redact {
        REDACTED.to_string()
    } else {
        secret.expose().to_string()
    })
}

fn check_variables(
    env: &Environment<'static>,
    used: HashSet<String>,
    allowed: &[&str],
) -> Result<(), String> {
    let globals: HashSet<&str> = env.globals().map(|(name, _)| name).collect();
    let mut unknown: Vec<String> = used
        .into_iter()
        .filter(|name| !allowed.contains(&name.as_str()) && !globals.contains(name.as_str()))
        .collect();
    unknown.sort();
    match unknown.as_slice() {
        [] => Ok(()),
        names => Err(format!(
            "unknown variable{} {} (available: {})",
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            allowed.join(", ")
        )),
    }
}

/// Names passed to `secret("...")` in a template source, so references to undefined
/// secrets are caught when the configuration loads.
pub fn secret_references(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("secret(") {
        rest = &rest[at + "secret(".len()..];
        let trimmed = rest.trim_start();
        let Some(quote) = trimmed.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = trimmed[1..].find(quote) {
            names.push(trimmed[1..1 + end].to_string());
        }
    }
    names
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
