//! Slack: `X-Slack-Signature` (`v0=` HMAC-SHA256 over `v0:{timestamp}:{body}`) for the
//! Events API, interactivity and slash commands.

use crate::kit::{ActionKind, Integration, SectionKind, SourceKind};

pub mod action;
pub mod action_config;
pub mod api;
pub mod config;
pub mod filters;
mod plan;
mod recover;
pub mod retire;
pub mod settings;
mod source;
#[cfg(test)]
mod tests;

pub use source::{KIND, SlackSource};

/// The action kind: post, reply to and update messages with the Web API.
pub const ACTION_KIND: &str = "slack";

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    sources: &[SourceKind {
        name: KIND,
        build: config::build,
        default_max_body: 1 << 20,
        options: config::options,
    }],
    actions: &[
        ActionKind {
            name: ACTION_KIND,
            build: action_config::build,
            options: action_config::options,
        },
        ActionKind {
            name: retire::KIND,
            build: retire::build,
            options: retire::options,
        },
    ],
    sections: &[SectionKind {
        name: settings::SECTION,
        build: settings::build,
        options: settings::options,
    }],
    filters: Some(filters::register),
    ..Integration::named("slack")
};
