//! Configurable HMAC signatures for senders without a dedicated kind: header, prefix,
//! algorithm, encoding, and an optional signed timestamp.

use crate::kit::{Integration, SourceKind};

pub mod config;
mod source;
#[cfg(test)]
mod tests;

pub use crate::integrations::signature::{HmacAlgorithm, SignatureEncoding};
pub use source::{HmacParams, HmacSource, KIND, TimestampParams};

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    sources: &[SourceKind {
        name: KIND,
        build: config::build,
        default_max_body: 5 << 20,
        options: config::options,
    }],
    ..Integration::named("hmac")
};
