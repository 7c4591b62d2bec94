//! Standard Webhooks (<https://www.standardwebhooks.com>): `webhook-id`,
//! `webhook-timestamp` and a `v1,<base64>` list in `webhook-signature`, HMAC-SHA256 over
//! `{id}.{timestamp}.{body}` with a base64 (`whsec_`) key.

use crate::kit::{Integration, SourceKind};

pub mod config;
mod source;
#[cfg(test)]
mod tests;

pub use source::{KIND, StandardWebhooksSource};

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    sources: &[SourceKind {
        name: KIND,
        build: config::build,
        default_max_body: 5 << 20,
        options: config::options,
    }],
    ..Integration::named("standard-webhooks")
};
