//! GitHub webhooks: `X-Hub-Signature-256` HMAC-SHA256 over the raw body.

pub mod action;
pub mod action_config;
pub mod api;
pub mod config;
mod source;
#[cfg(test)]
mod tests;

pub use source::{GithubSource, KIND};
