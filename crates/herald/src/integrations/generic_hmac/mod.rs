//! Configurable HMAC signatures for senders without a dedicated kind: header, prefix,
//! algorithm, encoding, and an optional signed timestamp.

pub mod config;
mod source;
#[cfg(test)]
mod tests;

pub use crate::integrations::signature::{HmacAlgorithm, SignatureEncoding};
pub use source::{HmacParams, HmacSource, KIND, TimestampParams};
