//! deploybot: Slack ChatOps for deployments across GitHub and CircleCI (replaces
//! deploybot's `/cimon`). One action kind, `deploybot`, that
//! - answers the slash command and its buttons in the HTTP response (`respond.rs`), keeping
//!   channel ↔ repository, GitHub ↔ Slack users and settings as refs (`state.rs`);
//! - plans each step of a deployment through the outbox (`plan.rs`): a `deploy` command, a
//!   pull request or a push creates a GitHub deployment; GitHub's `deployment` event
//!   triggers CircleCI; CircleCI's completion becomes a deployment status; and each step
//!   updates the deployment's one Slack message in place (`message.rs`).

use crate::action::{
    Action, ActionInput, CredentialCheck, OrderingKey, Outcome, Plan, PlanError, PlannedRequest,
    Responder, Runbook,
};
use crate::kit::{ActionKind, Integration};
use crate::transport::Answer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

mod clients;
mod commands;
pub mod config;
mod message;
mod plan;
mod respond;
mod routing;
pub mod state;
#[cfg(test)]
mod tests;

use clients::{CircleciClient, GithubClient, SlackClient};
use routing::Routing;

/// What this folder provides.
pub const INTEGRATION: Integration = Integration {
    actions: &[ActionKind {
        name: config::KIND,
        build: config::build,
        options: config::options,
    }],
    ..Integration::named("deploybot")
};

/// The `deploybot` action.
pub struct DeployBot {
    /// The slash command answered, e.g. `/cimon`.
    pub command: String,
    /// The description of deployments made for GitHub events.
    pub description: String,
    pub routing: Routing,
    pub slack: SlackClient,
    pub github: GithubClient,
    pub circleci: CircleciClient,
    /// Where commits and pull requests are linked to.
    pub web_url: String,
    /// One delivery at a time per repository (or channel, for commands): a deployment's
    /// steps read what the previous ones remembered (its Slack message, its pipeline).
    pub ordering: OrderingKey,
    pub timeout: Duration,
}

#[async_trait]
impl Action for DeployBot {
    fn kind(&self) -> &'static str {
        config::KIND
    }

    fn ordering_key(&self) -> Option<&OrderingKey> {
        Some(&self.ordering)
    }

    fn credential_secrets(&self) -> Vec<&str> {
        let mut names = self.github.endpoint.auth.secret_names();
        names.push(self.slack.token.name());
        names.push(self.circleci.token.name());
        names
    }

    fn credential_runbook(&self) -> Runbook {
        Runbook {
            before: &[
                "The failing delivery's last attempt names the API that refused herald's credential (Slack, GitHub or CircleCI).",
                "Slack: api.slack.com/apps → the app → OAuth & Permissions → reinstall or copy the Bot User OAuth Token. GitHub: a new token, or a new private key of the App (Settings → Developer settings → GitHub Apps → the app → Private keys). CircleCI: User Settings → Personal API Tokens → Create New Token.",
            ],
            after: &["Revoke the old credential at its provider."],
        }
    }

    fn responder(&self) -> Option<&dyn Responder> {
        Some(self)
    }

    /// Its three credentials: Slack's, GitHub's and CircleCI's.
    fn credential_checks(&self) -> Vec<CredentialCheck> {
        let github = &self.github.endpoint;
        [
            crate::integrations::slack::api::credential_check(
                &self.slack.api_url,
                &self.slack.token,
                self.timeout,
            ),
            github.auth.credential_check(github.api(), self.timeout),
            crate::integrations::circleci::pipeline::credential_check(
                &self.circleci.api_url,
                &self.circleci.token,
                self.timeout,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        plan::plan(self, input).await
    }

    fn classify(&self, request: &PlannedRequest, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        if self.github.is_its(request) {
            self.github.classify(answer, now)
        } else if self.circleci.is_its(request) {
            self.circleci.classify(answer, now)
        } else {
            self.slack.classify(answer, now)
        }
    }
}
