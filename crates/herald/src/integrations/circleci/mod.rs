//! CircleCI: webhooks signed with `circleci-signature: v1=<hex>[,v2=…]` (HMAC-SHA256 over
//! the raw body), the `circleci-pipeline` action (API v2), and `[circleci]`, the API's
//! URL.

use crate::kit::{ActionKind, Integration, SectionKind, SourceKind};

pub mod config;
pub mod pipeline;
pub mod pipeline_config;
pub mod settings;
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
    sections: &[SectionKind {
        name: settings::SECTION,
        build: settings::build,
        options: settings::options,
    }],
    ..Integration::named("circleci")
};
