//! `kind = "sql"`: statements against the user's own database (a SQLite file or
//! PostgreSQL, its URL a named secret), with parameters bound from JSON templates — never
//! written into the SQL — several statements per delivery in one transaction, chosen per
//! event type. Not an HTTP request: the plan carries an `Effect` (`action/effect.rs`) that
//! the step runner carries out as the plan's one step.
//!
//! `config.rs` reads the options (`target.rs` the URL, `placeholders.rs` each statement
//! against its `params`), `action.rs` plans (case, rendered values, the shown twin),
//! `param.rs` binds values by their JSON type, `database.rs` holds the lazily made pool and
//! runs the transaction, `errors.rs` reads the database's errors into outcomes.

use crate::kit::{ActionKind, Integration};

pub mod action;
pub mod config;
pub mod database;
pub mod errors;
pub mod param;
pub mod placeholders;
pub mod target;

#[cfg(test)]
mod tests;

pub const KIND: &str = "sql";

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    actions: &[ActionKind {
        name: KIND,
        build: config::build,
        options: config::options,
    }],
    ..Integration::named("sql")
};
