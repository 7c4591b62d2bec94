//! `kind = "http"`: a templated HTTP request to an allowed host.

use crate::kit::{ActionKind, Integration};

pub mod action;
pub mod allow;
pub mod config;

pub use action::HttpAction;

pub const KIND: &str = "http";

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    actions: &[ActionKind {
        name: KIND,
        build: config::build,
        options: config::options,
    }],
    ..Integration::named("http")
};
