//! Planning a `sql` delivery: the statements of the first case whose `events` match the
//! event's type (else the action's own `statements`), each parameter rendered as JSON and
//! read into a typed value; the plan's effect runs them in one transaction.

use super::database::{Bound, Database};
use super::param::Param;
use crate::action::{Action, ActionInput, Effect, OrderingKey, Outcome, Plan, PlanError, Runbook};
use crate::core::template::TemplateRef;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Debug)]
pub struct SqlAction {
    pub database: Arc<Database>,
    /// Tried in order; the first whose patterns match the event's type is run.
    pub cases: Vec<Case>,
    /// For an event no case matches.
    pub otherwise: Option<Vec<Statement>>,
    /// Deliveries with the same key run one at a time, in the order their events arrived
    /// (by default, every delivery of the action).
    pub ordering: OrderingKey,
}

#[derive(Debug)]
pub struct Case {
    pub events: Vec<glob::Pattern>,
    pub statements: Vec<Statement>,
}

#[derive(Debug)]
pub struct Statement {
    pub sql: Arc<str>,
    /// JSON templates, bound as `$1`, `$2`, … in order.
    pub params: Vec<TemplateRef>,
}

#[async_trait]
impl Action for SqlAction {
    fn kind(&self) -> &'static str {
        super::KIND
    }

    fn ordering_key(&self) -> Option<&OrderingKey> {
        Some(&self.ordering)
    }

    fn credential_secrets(&self) -> Vec<&str> {
        vec![self.database.name()]
    }

    fn credential_runbook(&self) -> Runbook {
        RUNBOOK
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        let event_type = event_type(input.context);
        let Some(statements) = self.statements_for(&event_type) else {
            return Ok(Plan::note(format!("no statements for type {event_type}")));
        };
        let mut bound = Vec::with_capacity(statements.len());
        let mut shown = Vec::with_capacity(statements.len());
        for (n, statement) in statements.iter().enumerate() {
            let mut values = Vec::with_capacity(statement.params.len());
            let mut shown_values = Vec::with_capacity(statement.params.len());
            for (p, template) in statement.params.iter().enumerate() {
                let (value, shown_value) = render(input, template).map_err(|error| {
                    PlanError::Invalid(format!(
                        "statement {}, parameter ${}: {error}",
                        n + 1,
                        p + 1
                    ))
                })?;
                values.push(value);
                shown_values.push(shown_value);
            }
            bound.push(Bound {
                sql: statement.sql.clone(),
                values,
            });
            shown.push(json!({ "sql": &*statement.sql, "params": shown_values }));
        }
        let database = &self.database;
        let count = bound.len();
        let shown = json!({
            "purpose": format!(
                "run {count} statement{} in one transaction on `{}` ({})",
                if count == 1 { "" } else { "s" },
                database.name(),
                database.backend().name(),
            ),
            "database": database.name(),
            "backend": database.backend().name(),
            "statements": shown,
        });
        Ok(Plan::effect(SqlRun {
            database: database.clone(),
            statements: bound,
            shown,
        }))
    }
}

impl SqlAction {
    fn statements_for(&self, event_type: &str) -> Option<&[Statement]> {
        self.cases
            .iter()
            .find(|case| case.events.iter().any(|glob| glob.matches(event_type)))
            .map(|case| case.statements.as_slice())
            .or(self.otherwise.as_deref())
    }
}

/// A parameter's value, and how it is shown (`secret()` redacted).
fn render(input: &ActionInput<'_>, template: &TemplateRef) -> Result<(Param, Value), PlanError> {
    let shown = input.templates.render_redacted(template, input.context)?;
    let shown_value = serde_json::from_str(shown.trim()).unwrap_or(Value::String(shown.clone()));
    let rendered = input.templates.render(template, input.context)?;
    // An error quotes what was rendered: the shown twin, never a secret.
    let value = Param::from_rendered(&rendered).map_err(|_| {
        let error = Param::from_rendered(&shown).err();
        PlanError::Invalid(error.unwrap_or_else(|| "it does not render one JSON value".into()))
    })?;
    Ok((value, shown_value))
}

/// The type of the event (of a window's last event).
fn event_type(context: &minijinja::Value) -> String {
    context
        .get_attr("meta")
        .and_then(|meta| meta.get_attr("type"))
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One delivery's statements, run by the step runner as the plan's effect.
pub struct SqlRun {
    database: Arc<Database>,
    statements: Vec<Bound>,
    shown: Value,
}

impl std::fmt::Debug for SqlRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqlRun({})", self.shown)
    }
}

#[async_trait]
impl Effect for SqlRun {
    async fn apply(&self) -> Outcome {
        self.database.run(&self.statements).await
    }

    fn describe(&self) -> Value {
        self.shown.clone()
    }
}

/// Replacing a database password.
const RUNBOOK: Runbook = Runbook {
    before: &[
        "Set a new password for the database user herald connects as (PostgreSQL: ALTER ROLE name PASSWORD '…'), and write the new URL, postgres://USER:PASSWORD@HOST/DATABASE, where the secret is read from.",
    ],
    after: &[],
};
