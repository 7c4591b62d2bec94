//! GitHub webhooks: `X-Hub-Signature-256` HMAC-SHA256 over the raw body; the REST API
//! actions; `[github]`, the API's URL and version they share.

use crate::kit::{ActionKind, Integration, SectionKind, SourceKind};

pub mod action;
pub mod action_config;
pub mod api;
pub mod auth;
pub mod config;
pub mod endpoint;
pub mod settings;
mod source;
#[cfg(test)]
mod tests;

pub use source::{GithubSource, KIND};

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    sources: &[SourceKind {
        name: KIND,
        build: config::build,
        default_max_body: 25 << 20,
        options: config::options,
    }],
    actions: &[
        ActionKind {
            name: action_config::DISPATCH,
            build: action_config::build_dispatch,
            options: action_config::dispatch_options,
        },
        ActionKind {
            name: action_config::COMMIT_STATUS,
            build: action_config::build_status,
            options: action_config::status_options,
        },
        ActionKind {
            name: action_config::DEPLOYMENT,
            build: action_config::build_deployment,
            options: action_config::deployment_options,
        },
        ActionKind {
            name: action_config::DEPLOYMENT_STATUS,
            build: action_config::build_deployment_status,
            options: action_config::deployment_status_options,
        },
    ],
    sections: &[SectionKind {
        name: settings::SECTION,
        build: settings::build,
        options: settings::options,
    }],
    ..Integration::named("github")
};
