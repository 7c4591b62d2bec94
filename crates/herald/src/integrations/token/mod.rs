//! Shared-token authentication for senders that cannot sign (e.g. the Pact Broker): a
//! header carrying a secret, or HTTP basic auth.

use crate::kit::{Integration, SourceKind};

pub mod config;
mod source;
#[cfg(test)]
mod tests;

pub use source::{KIND, TokenParams, TokenSource};

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    sources: &[SourceKind {
        name: KIND,
        build: config::build,
        default_max_body: 5 << 20,
        options: config::options,
    }],
    ..Integration::named("token")
};
