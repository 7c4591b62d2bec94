//! CircleCI webhooks: `circleci-signature: v1=<hex>[,v2=…]`, HMAC-SHA256 over the raw body.

use crate::kit::{Integration, SourceKind};

pub mod config;
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
    ..Integration::named("circleci")
};
