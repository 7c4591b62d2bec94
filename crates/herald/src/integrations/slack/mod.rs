//! Slack: `X-Slack-Signature` (`v0=` HMAC-SHA256 over `v0:{timestamp}:{body}`) for the
//! Events API, interactivity and slash commands.

pub mod api;
pub mod config;
mod source;
#[cfg(test)]
mod tests;

pub use source::{KIND, SlackSource};
