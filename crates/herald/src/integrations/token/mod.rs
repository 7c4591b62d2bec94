//! Shared-token authentication for senders that cannot sign (e.g. the Pact Broker): a
//! header carrying a secret, or HTTP basic auth.

pub mod config;
mod source;
#[cfg(test)]
mod tests;

pub use source::{KIND, TokenParams, TokenSource};
