//! Standard Webhooks (<https://www.standardwebhooks.com>): `webhook-id`,
//! `webhook-timestamp` and a `v1,<base64>` list in `webhook-signature`, HMAC-SHA256 over
//! `{id}.{timestamp}.{body}` with a base64 (`whsec_`) key.

pub mod config;
mod source;
#[cfg(test)]
mod tests;

pub use source::{KIND, StandardWebhooksSource};
