//! One language for rule filters and action templates: minijinja.
//!
//! Every filter and template is compiled once when the configuration loads (syntax,
//! unknown variables and unknown filters, tests and functions are configuration errors)
//! and rendered per event (a render error fails that delivery). Filters read missing
//! fields as undefined, so `event.pull_request.draft == false` is simply false on a push;
//! templates refuse to print a missing field, so a typo fails loudly instead of sending an
//! empty value.

use super::filters;
use crate::secret::Secret;
use minijinja::functions::Function;
use minijinja::machinery::{self, Instruction, Instructions};
use minijinja::value::{FunctionArgs, FunctionResult, Value, merge_maps};
use minijinja::{AutoEscape, Environment, ErrorKind, State, Template, UndefinedBehavior};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// Bounds the work one render may do, so a template cannot spin forever.
const FUEL: u64 = 2_000_000;
const REDACT_FLAG: &str = "__herald_redact";
const REDACTED: &str = "[redacted]";
/// Interpolated values shorter than this are not redacted (see `redacting`).
const MIN_REDACTED: usize = 4;
/// An expression is compiled as a template that starts with this.
const TRUTH_PREFIX: &str = "{% if (";

/// minijinja's own filters and tests (with the `builtins`, `json` and `urlencode`
/// features), offered as suggestions. Whether a name exists is asked of the environment.
const BUILTIN_FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
    "zip",
];
const BUILTIN_TESTS: &[&str] = &[
    "boolean",
    "defined",
    "divisibleby",
    "endingwith",
    "eq",
    "equalto",
    "escaped",
    "even",
    "false",
    "filter",
    "float",
    "ge",
    "greaterthan",
    "gt",
    "in",
    "int",
    "integer",
    "iterable",
    "le",
    "lessthan",
    "lower",
    "lt",
    "mapping",
    "ne",
    "none",
    "number",
    "odd",
    "safe",
    "sameas",
    "sequence",
    "startingwith",
    "string",
    "test",
    "true",
    "undefined",
    "upper",
];

/// Where herald and the integrations add their template filters: the environment, and
/// the names added, so a template naming an unknown filter is told the nearest one.
pub struct Filters<'e> {
    env: &'e mut Environment<'static>,
    names: BTreeSet<&'static str>,
}

impl<'e> Filters<'e> {
    pub fn on(env: &'e mut Environment<'static>) -> Self {
        Filters {
            env,
            names: BTreeSet::new(),
        }
    }

    /// As `Environment::add_filter`.
    pub fn add_filter<F, Rv, Args>(&mut self, name: &'static str, filter: F)
    where
        F: Function<Rv, Args>,
        Rv: FunctionResult,
        Args: for<'a> FunctionArgs<'a>,
    {
        self.names.insert(name);
        self.env.add_filter(name, filter);
    }
}

/// Why a template or an expression cannot be used: each problem, with its place in the
/// source when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError(pub Vec<Problem>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    /// The bytes of the source it is about (an unknown filter's name).
    pub at: Option<Range<usize>>,
    pub help: Option<String>,
}

impl CompileError {
    fn whole(message: impl Into<String>) -> Self {
        CompileError(vec![Problem {
            message: message.into(),
            at: None,
            help: None,
        }])
    }
}

impl From<minijinja::Error> for CompileError {
    fn from(error: minijinja::Error) -> Self {
        CompileError::whole(RenderError::from(error).0)
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<&str> = self.0.iter().map(|p| p.message.as_str()).collect();
        f.write_str(&messages.join("; "))
    }
}

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
        if let Some(named) = undefined_named(&error) {
            return RenderError(named);
        }
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        RenderError(message)
    }
}

/// "`event.branch` is undefined (line 3)": an undefined value named by the expression that
/// read it, which minijinja's own message ("undefined value") leaves out.
fn undefined_named(error: &minijinja::Error) -> Option<String> {
    if error.kind() != ErrorKind::UndefinedError {
        return None;
    }
    let source = error.template_source()?;
    let range = error.range()?;
    let expression = source.get(range.clone())?.trim();
    let path = |c: char| c.is_alphanumeric() || "_.[]'\"".contains(c);
    if expression.is_empty() || !expression.chars().all(path) {
        return None;
    }
    // A filter given an undefined value is reported at the filter's name.
    let filtered = source.get(..range.start)?.trim_end().ends_with('|');
    let what = match filtered {
        true => format!("the value given to `{expression}` is undefined"),
        false => format!("`{expression}` is undefined"),
    };
    Some(match error.line() {
        Some(line) => format!("{what} (line {line})"),
        None => what,
    })
}

pub struct TemplateEngine {
    expressions: Environment<'static>,
    templates: Environment<'static>,
    /// The filters herald and the integrations added.
    filter_names: BTreeSet<&'static str>,
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
        extend: impl Fn(&mut Filters<'_>),
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
        let mut filter_names = BTreeSet::new();
        for env in [&mut expressions, &mut templates] {
            let mut adding = Filters::on(env);
            filters::register(&mut adding);
            extend(&mut adding);
            filter_names.extend(adding.names);
        }
        if !vars.is_none() {
            expressions.add_global("vars", vars.clone());
            templates.add_global("vars", vars);
        }
        TemplateEngine {
            expressions,
            templates,
            filter_names,
        }
    }

    /// Compile an expression (a rule filter, a source's event type). Only the variables in
    /// `allowed` may be read, and only filters, tests and functions that exist be called.
    pub fn add_expression(
        &mut self,
        name: &str,
        source: &str,
        allowed: &[&str],
    ) -> Result<ExprRef, CompileError> {
        let compiled = self.expressions.compile_expression(source)?;
        let used = compiled.undeclared_variables(false);
        // Stored as a template so it is compiled once and looked up by name.
        // `none` prints as "None" in Jinja; an absent value must print as nothing.
        let wrapped = format!(
            "{{% set value = ({source}) %}}{{% if value is not none %}}{{{{ value }}}}{{% endif %}}"
        );
        let truth = format!("{TRUTH_PREFIX}{source}) %}}1{{% endif %}}");
        let truth_name = format!("{name}#truth");
        self.expressions
            .add_template_owned(format!("{name}#value"), wrapped)?;
        self.expressions
            .add_template_owned(truth_name.clone(), truth)?;
        let template = self.expressions.get_template(&truth_name)?;
        let mut problems = self.unknown_calls(&self.expressions, &template, &used, allowed);
        for problem in &mut problems {
            // Back into the expression as written.
            problem.at = problem.at.take().and_then(|at| {
                let start = at.start.checked_sub(TRUTH_PREFIX.len())?;
                let end = at.end - TRUTH_PREFIX.len();
                (end <= source.len()).then_some(start..end)
            });
        }
        problems.extend(check_variables(&self.expressions, used, allowed, &template).err());
        if !problems.is_empty() {
            return Err(CompileError(problems));
        }
        Ok(ExprRef(name.to_string()))
    }

    /// Compile a template. Names must be unique; `Escape::Json` escapes every printed value.
    pub fn add_template(
        &mut self,
        name: &str,
        source: &str,
        escape: Escape,
        allowed: &[&str],
    ) -> Result<TemplateRef, CompileError> {
        let full_name = match escape {
            Escape::Json => format!("{name}.json"),
            Escape::None => name.to_string(),
        };
        self.templates
            .add_template_owned(full_name.clone(), source.to_string())?;
        let template = self.templates.get_template(&full_name)?;
        let used = template.undeclared_variables(false);
        let mut problems = self.unknown_calls(&self.templates, &template, &used, allowed);
        problems.extend(check_variables(&self.templates, used, allowed, &template).err());
        if !problems.is_empty() {
            return Err(CompileError(problems));
        }
        Ok(TemplateRef {
            name: full_name,
            uses_secrets: source.contains("secret"),
            interpolated: Arc::from([]),
        })
    }

    /// The filters, tests and functions `template` calls that `env` does not have, each
    /// once, at its first call, with the nearest known name. minijinja looks them up only
    /// when it renders: unchecked, a typo would fail every delivery (or never match).
    fn unknown_calls(
        &self,
        env: &Environment<'static>,
        template: &Template<'_, '_>,
        undeclared: &HashSet<String>,
        allowed: &[&str],
    ) -> Vec<Problem> {
        let compiled = machinery::get_compiled_template(template);
        let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
        let mut seen = BTreeSet::new();
        let mut problems = Vec::new();
        let blocks = std::iter::once(&compiled.instructions).chain(compiled.blocks.values());
        for instructions in blocks {
            for (index, call) in calls(instructions) {
                let known = match call {
                    Call::Filter(name) => self.filter_exists(env, name),
                    Call::Test(name) => test_exists(env, name),
                    // A macro or a `set` of the template is not undeclared.
                    Call::Function(name) => {
                        !undeclared.contains(name)
                            || globals.contains(name)
                            || allowed.contains(&name)
                    }
                };
                if known || !seen.insert(call) {
                    continue;
                }
                let (what, name, candidates): (_, _, Vec<&str>) = match call {
                    Call::Filter(name) => (
                        "filter",
                        name,
                        self.filter_names
                            .iter()
                            .copied()
                            .chain(BUILTIN_FILTERS.iter().copied())
                            .collect(),
                    ),
                    Call::Test(name) => ("test", name, BUILTIN_TESTS.to_vec()),
                    Call::Function(name) => ("function", name, globals.iter().copied().collect()),
                };
                let help = match super::suggest::nearest(name, candidates.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None if what == "filter" => format!(
                        "herald's filters: {} (and minijinja's: upper, default, join, …)",
                        self.filter_names
                            .iter()
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => format!("known {what}s: {}", candidates.join(", ")),
                };
                problems.push(Problem {
                    message: format!("unknown {what} `{name}`"),
                    at: call_site(instructions, index, call),
                    help: Some(help),
                });
            }
        }
        problems
    }

    fn filter_exists(&self, env: &Environment<'static>, name: &str) -> bool {
        if self.filter_names.contains(name) || BUILTIN_FILTERS.contains(&name) {
            return true;
        }
        // Not one herald knows of: ask minijinja (without arguments, nothing runs for long).
        !matches!(env.empty_state().apply_filter(name, &[]),
            Err(error) if error.kind() == ErrorKind::UnknownFilter)
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

fn test_exists(env: &Environment<'static>, name: &str) -> bool {
    BUILTIN_TESTS.contains(&name)
        || !matches!(env.empty_state().perform_test(name, &[]),
            Err(error) if error.kind() == ErrorKind::UnknownTest)
}

/// What an instruction calls by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Call<'s> {
    Filter(&'s str),
    Test(&'s str),
    Function(&'s str),
}

/// Every call by name in `instructions`, with the instruction's index.
fn calls<'s>(instructions: &Instructions<'s>) -> Vec<(u32, Call<'s>)> {
    let mut found = Vec::new();
    let mut index = 0;
    while let Some(instruction) = instructions.get(index) {
        let call = match instruction {
            Instruction::ApplyFilter(name, ..) => Some(Call::Filter(name)),
            Instruction::PerformTest(name, ..) => Some(Call::Test(name)),
            Instruction::CallFunction(name, ..) => Some(Call::Function(name)),
            _ => None,
        };
        found.extend(call.map(|call| (index, call)));
        index += 1;
    }
    found
}

/// The bytes of the called name in the source: within the call's span, the occurrence
/// after `|` or `filter` (a filter), `is` or `not` (a test), or followed by `(` (a
/// function); the first occurrence otherwise.
fn call_site(instructions: &Instructions<'_>, index: u32, call: Call<'_>) -> Option<Range<usize>> {
    let span = instructions.get_span(index)?;
    let source = instructions.source();
    let start = span.start_offset as usize;
    let end = (span.end_offset as usize).min(source.len());
    let (name, fits): (&str, fn(&str, &str) -> bool) = match call {
        Call::Filter(name) => (name, |before, _| {
            before.ends_with('|') || before.ends_with("filter")
        }),
        Call::Test(name) => (name, |before, _| {
            before.ends_with(" is") || before.ends_with(" not")
        }),
        Call::Function(name) => (name, |_, after| after.starts_with('(')),
    };
    let text = source.get(start..end)?;
    let places: Vec<usize> = word_places(text, name).collect();
    let place = places
        .iter()
        .find(|&&at| fits(text[..at].trim_end(), text[at + name.len()..].trim_start()))
        .or(places.first())?;
    Some(start + place..start + place + name.len())
}

/// Where `word` stands as a whole word (a name) in `text`.
pub fn word_places<'t>(text: &'t str, word: &'t str) -> impl Iterator<Item = usize> + 't {
    let name_char = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word)
        .map(|(at, _)| at)
        .filter(move |&at| {
            !text[..at].chars().next_back().is_some_and(name_char)
                && !text[at + word.len()..]
                    .chars()
                    .next()
                    .is_some_and(name_char)
        })
}

fn check_variables(
    env: &Environment<'static>,
    used: HashSet<String>,
    allowed: &[&str],
    template: &Template<'_, '_>,
) -> Result<(), Problem> {
    let globals: HashSet<&str> = env.globals().map(|(name, _)| name).collect();
    // Names that are called are reported as functions.
    let compiled = machinery::get_compiled_template(template);
    let called: HashSet<&str> = std::iter::once(&compiled.instructions)
        .chain(compiled.blocks.values())
        .flat_map(|instructions| calls(instructions))
        .filter_map(|(_, call)| match call {
            Call::Function(name) => Some(name),
            _ => None,
        })
        .collect();
    let mut unknown: Vec<String> = used
        .into_iter()
        .filter(|name| {
            !allowed.contains(&name.as_str())
                && !globals.contains(name.as_str())
                && !called.contains(name.as_str())
        })
        .collect();
    unknown.sort();
    match unknown.as_slice() {
        [] => Ok(()),
        names => Err(Problem {
            message: format!(
                "unknown variable{} {} (available: {})",
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                allowed.join(", ")
            ),
            at: None,
            help: None,
        }),
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
