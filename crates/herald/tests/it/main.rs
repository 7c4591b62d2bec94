//! End-to-end tests: the real router on port 0, a real SQLite store (and PostgreSQL where
//! noted), fake destinations on port 0, and an injected clock.

mod admin;
mod circleci_pipeline;
mod cli;
mod config_load;
mod crash;
mod dashboard;
mod delivery;
mod deploybot;
mod disk_full;
mod docs;
mod explain;
mod fakes;
mod github_actions;
mod github_app;
mod handoff;
mod hooks;
mod ingress;
mod isolation;
mod jira;
mod metrics;
mod monitors;
mod needs;
mod packaging;
mod pact_slack;
mod pollers;
mod postgres;
mod presets;
mod properties;
mod redaction;
mod replicas;
mod shutdown;
mod slack_actions;
mod slack_roots;
mod sql;
mod support;
#[cfg(feature = "otel")]
mod traces;
mod windows;
