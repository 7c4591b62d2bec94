//! Jira (REST API v2, Cloud or Data Center): `jira-transition` moves the tickets an event
//! names one step through their project's state machine, `jira-comment` comments on them;
//! `[jira]` holds the machines (TOML, or unotify's HCL file); the `jira_keys` filter finds
//! ticket keys in text.

use crate::action::Runbook;
use crate::kit::{ActionKind, Integration, SectionKind, Sections};

pub mod action_config;
pub mod api;
pub mod cache;
pub mod comment;
pub mod hcl;
pub mod keys;
pub mod machine;
pub mod settings;
pub mod target;
pub mod transition;

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    actions: &[
        ActionKind {
            name: transition::KIND,
            build: action_config::build_transition,
            options: action_config::transition_options,
        },
        ActionKind {
            name: comment::KIND,
            build: action_config::build_comment,
            options: action_config::comment_options,
        },
    ],
    sections: &[SectionKind {
        name: settings::SECTION,
        build: settings::build,
        options: settings::options,
    }],
    filters: Some(register_filters),
    ..Integration::named("jira")
};

/// `jira_keys`: the ticket keys of configured projects in a text, each once, in order.
fn register_filters(env: &mut crate::core::template::Filters<'_>, sections: &Sections) {
    let projects = settings::JiraConfig::of(sections).projects();
    env.add_filter("jira_keys", move |text: Option<String>| {
        keys::find(text.as_deref().unwrap_or_default(), &projects)
    });
}

/// Replacing a Jira API token.
const RUNBOOK: Runbook = Runbook {
    before: &[
        "Jira Cloud: sign in as the account herald uses, open https://id.atlassian.com/manage-profile/security/api-tokens and create an API token (Data Center: Profile → Personal Access Tokens). The account needs Browse, Transition and Add Comments permissions on the projects.",
    ],
    after: &["Revoke the old token on the same page."],
};
