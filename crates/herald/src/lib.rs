//! herald: signed webhooks in, durable rules and retried actions out.
//!
//! See ARCHITECTURE.md at the repository root for the codemap.

pub mod action;
pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod dashboard;
pub mod ingress;
pub mod integrations;
pub mod kit;
pub mod monitors;
pub mod outbox;
pub mod polling;
pub mod presets;
pub mod registry;
pub mod secret;
pub mod services;
pub mod telemetry;
pub mod tls;
pub mod traces;
pub mod transport;
