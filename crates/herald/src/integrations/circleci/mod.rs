//! CircleCI: webhooks signed with `circleci-signature: v1=<hex>[,v2=…]` (HMAC-SHA256 over
//! the raw body), and the `circleci-pipeline` action (API v2).

use crate::kit::{ActionKind, Integration, SourceKind};

pub mod config;
pub mod pipeline;
pub mod pipeline_config;
mod source;
#[cfg(test)]
mod tests;

pub use source::{CircleciSource, KIND};

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    sources: &[SourceKind {
        name: KIND,
        build: config::build,
        default_max_body: 5 << 20,
        options: config::options,
    }],
    actions: &[ActionKind {
        name: pipeline::KIND,
        build: pipeline_config::build,
        options: pipeline_config::options,
    }],
    ..Integration::named("circleci")
};
