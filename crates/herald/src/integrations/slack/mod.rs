//! Slack: `X-Slack-Signature` (`v0=` HMAC-SHA256 over `v0:{timestamp}:{body}`) for the
//! Events API, interactivity and slash commands.

pub mod action;
pub mod action_config;
pub mod api;
pub mod config;
mod plan;
pub mod retire;
mod source;
#[cfg(test)]
mod tests;

pub use source::{KIND, SlackSource};

/// The action kind: post, reply to and update messages with the Web API.
pub const ACTION_KIND: &str = "slack";
