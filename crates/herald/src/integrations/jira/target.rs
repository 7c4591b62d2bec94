//! What `jira-transition` and `jira-comment` share: where Jira is and how to sign in,
//! the tickets an event names, how often each is done (`once_per`), and one delivery of
//! the action at a time.

use super::api::Auth;
use super::keys;
use super::settings::JiraConfig;
use crate::action::{ActionInput, CredentialCheck, OrderingKey, PlanError, PlannedRequest, RefKey};
use crate::core::template::TemplateRef;
use std::time::Duration;

#[derive(Debug)]
pub struct Target {
    pub auth: Auth,
    /// The Jira site, e.g. `https://acme.atlassian.net`.
    pub url: String,
    pub tickets: Tickets,
    /// Each ticket is done once per what this renders (default: the event's id).
    pub once_per: TemplateRef,
    /// Deliveries of the action run one at a time: two touching one ticket never race,
    /// and a release's several deliveries find what the first one did.
    pub ordering: OrderingKey,
    pub timeout: Duration,
}

impl Target {
    /// `{url}/rest/api/2/{path}`.
    pub fn api(&self, path: &str) -> Result<url::Url, PlanError> {
        let url = format!("{}/rest/api/2/{path}", self.url.trim_end_matches('/'));
        url::Url::parse(&url)
            .map_err(|error| PlanError::Invalid(format!("bad Jira URL {url:?}: {error}")))
    }

    /// `GET {url}/rest/api/2/myself`: whether Jira takes the sign-in, reading only the
    /// account (version 2, which Jira Cloud and Data Center both serve, as every call of
    /// the Jira actions).
    pub fn credential_check(&self) -> Option<CredentialCheck> {
        let url = self.api("myself").ok()?;
        let request = PlannedRequest::new(
            http::Method::GET,
            url.clone(),
            url.to_string(),
            self.timeout,
        );
        let credential = match &self.auth {
            super::api::Auth::Basic { email, token } => {
                format!("Jira token `{}` of {email}", token.name())
            }
            super::api::Auth::Bearer(token) => format!("Jira token `{}`", token.name()),
        };
        Some(CredentialCheck {
            credential,
            request: self.auth.sign(request),
            read: |answer, now| {
                super::api::classify(answer.status, answer.retry_after(now), &answer.body)
            },
        })
    }

    /// `request` signed, for `ticket`: a failure of its own ends only that ticket's part.
    pub fn for_ticket(&self, request: PlannedRequest, ticket: &str) -> PlannedRequest {
        self.auth.sign(request).part(ticket)
    }

    /// The ref that records `what` was done for `ticket` this `once_per`, and whether it
    /// exists already.
    pub async fn done_before(
        &self,
        input: &ActionInput<'_>,
        kind: &'static str,
        what: &str,
    ) -> Result<(RefKey, bool), PlanError> {
        let scope = render(input, &self.once_per)?;
        let key = RefKey {
            kind,
            key: format!("{scope}:{what}"),
        };
        let found = input
            .refs
            .get(kind, &key.key)
            .await
            .map_err(PlanError::Invalid)?;
        Ok((key, found.is_some()))
    }
}

/// The tickets an action works on: a template rendering keys (separated by spaces,
/// commas, or as a list); only keys of projects with a machine count, each once.
#[derive(Debug)]
pub struct Tickets {
    pub template: TemplateRef,
    pub settings: JiraConfig,
}

impl Tickets {
    pub fn render(&self, input: &ActionInput<'_>) -> Result<Vec<String>, PlanError> {
        let text = render(input, &self.template)?;
        // Anything a key cannot hold separates keys: spaces, commas, a list's brackets and
        // quotes (`['SOC-1', 'DEVHOP-7']`, as `jira_keys` prints).
        let listed = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .filter(|part| !part.is_empty());
        let mut tickets: Vec<String> = Vec::new();
        for ticket in listed {
            let known = keys::is_key(ticket)
                && self
                    .settings
                    .machines
                    .contains_key(keys::project_of(ticket));
            if known && !tickets.iter().any(|t| t == ticket) {
                tickets.push(ticket.to_string());
            }
        }
        Ok(tickets)
    }
}

pub fn render(input: &ActionInput<'_>, template: &TemplateRef) -> Result<String, PlanError> {
    Ok(input
        .templates
        .render(template, input.context)?
        .trim()
        .to_string())
}
