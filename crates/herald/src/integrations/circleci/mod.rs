//! CircleCI webhooks: `circleci-signature: v1=<hex>[,v2=…]`, HMAC-SHA256 over the raw body.

pub mod config;
mod source;
#[cfg(test)]
mod tests;

pub use source::{CircleciSource, KIND};
