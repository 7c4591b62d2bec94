//! `kind = "sql"` options: `database` (the secret holding the URL), `schema`,
//! `statements` and/or `cases` (`events` + `statements`), each statement's `sql` and
//! `params`, `ordering_key`, `retry_on`. Everything a database need not be asked is checked
//! here, with its line: the URL's form, the templates, the placeholders against `params`.

use super::action::{Case, SqlAction, Statement};
use super::database::Database;
use super::errors::Constraint;
use super::placeholders;
use super::target::Backend;
use crate::action::{Action, OrderingKey};
use crate::core::template::Escape;
use crate::kit::ActionCommon;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    database: Spanned<String>,
    schema: Option<Spanned<String>>,
    statements: Option<Spanned<Vec<StatementOptions>>>,
    #[serde(default)]
    cases: Vec<CaseOptions>,
    ordering_key: Option<Spanned<String>>,
    #[serde(default)]
    retry_on: Vec<Constraint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseOptions {
    events: Spanned<Vec<Spanned<String>>>,
    statements: Spanned<Vec<StatementOptions>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementOptions {
    sql: Spanned<String>,
    #[serde(default)]
    params: Vec<Spanned<String>>,
}

pub fn build(
    options: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let span = options.span();
    let options: Options = builder.options(options)?;
    let database = database(&options, common, builder);
    let backend = database.as_ref().map(|database| database.backend());
    if options.statements.is_none() && options.cases.is_empty() {
        builder.error(
            span.clone(),
            "give `statements` (run for every event) or `cases` (statements per event type)",
        );
        return None;
    }
    let otherwise = options
        .statements
        .as_ref()
        .map(|statements| self::statements("statements", statements, backend, builder));
    let mut cases = Vec::new();
    for (n, case) in options.cases.iter().enumerate() {
        cases.push(self::case(n, case, backend, builder));
    }
    let ordering = ordering(options.ordering_key.as_ref(), span, builder);
    Some(Arc::new(SqlAction {
        database: Arc::new(database?),
        cases: cases.into_iter().collect::<Option<_>>()?,
        otherwise: otherwise.map(|s| s.ok_or(())).transpose().ok()?,
        ordering: ordering?,
    }))
}

fn database(
    options: &Options,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Database> {
    let secret = builder.secret(&options.database);
    let schema = match &options.schema {
        Some(schema) => Some(builder.interpolate(schema)?),
        None => None,
    };
    let config_dir = builder.interpolator.base_dir().to_path_buf();
    match Database::new(&secret?, &config_dir, schema, common.timeout) {
        Ok(database) => Some(database.retrying(options.retry_on.clone())),
        Err(message) => {
            let name = options.database.get_ref();
            builder.error(
                options.database.span(),
                format!("secret `{name}`: {message}"),
            );
            None
        }
    }
}

fn case(
    n: usize,
    case: &CaseOptions,
    backend: Option<Backend>,
    builder: &mut Builder<'_>,
) -> Option<Case> {
    if case.events.get_ref().is_empty() {
        builder.error(case.events.span(), "list the event types this case is for");
    }
    let events = builder.event_globs(case.events.get_ref());
    let statements = statements(
        &format!("cases[{n}].statements"),
        &case.statements,
        backend,
        builder,
    );
    Some(Case {
        events: events.filter(|events| !events.is_empty())?,
        statements: statements?,
    })
}

fn statements(
    part: &str,
    raw: &Spanned<Vec<StatementOptions>>,
    backend: Option<Backend>,
    builder: &mut Builder<'_>,
) -> Option<Vec<Statement>> {
    if raw.get_ref().is_empty() {
        builder.error(raw.span(), "list at least one statement");
        return None;
    }
    let built: Vec<_> = raw
        .get_ref()
        .iter()
        .enumerate()
        .map(|(n, statement)| self::statement(&format!("{part}[{n}]"), statement, backend, builder))
        .collect();
    built.into_iter().collect()
}

fn statement(
    part: &str,
    raw: &StatementOptions,
    backend: Option<Backend>,
    builder: &mut Builder<'_>,
) -> Option<Statement> {
    let sql = raw.sql.get_ref().trim();
    let mut ok = true;
    if sql.is_empty() {
        builder.error(raw.sql.span(), "empty statement");
        ok = false;
    } else if let Some(backend) = backend
        && let Err(message) = placeholders::scan(sql, backend).check(raw.params.len())
    {
        builder.error(raw.sql.span(), message);
        ok = false;
    }
    let params: Vec<_> = raw
        .params
        .iter()
        .enumerate()
        .map(|(n, param)| builder.template(&format!("{part}.params[{n}]"), param, Escape::Json))
        .collect();
    let params: Option<Vec<_>> = params.into_iter().collect();
    Some(Statement {
        sql: Arc::from(sql),
        params: params?,
    })
    .filter(|_| ok)
}

/// By default one key for every delivery of the action: they run one at a time, in the
/// order their events arrived, as a replica applies its log.
fn ordering(
    template: Option<&Spanned<String>>,
    span: std::ops::Range<usize>,
    builder: &mut Builder<'_>,
) -> Option<OrderingKey> {
    let prefix = format!("{}:{}", super::KIND, builder.scope);
    let (prefix, template) = match template {
        Some(template) => (
            format!("{prefix}:"),
            builder.template("ordering_key", template, Escape::None)?,
        ),
        None => {
            let empty = Spanned::new(span, String::new());
            (
                prefix,
                builder.template_text("ordering_key", &empty, Escape::None)?,
            )
        }
    };
    Some(OrderingKey { prefix, template })
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}
