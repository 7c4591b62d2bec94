//! `kind = "jira-comment"`: a comment on each ticket (a link to the release, say), with
//! `POST /rest/api/2/issue/{key}/comment` `{"body": …}`. Each ticket is its own part and
//! step, and is commented once per `once_per` (default: the event).

use super::api::{self, Auth};
use super::transition::render;
use crate::action::{
    Action, ActionInput, OrderingKey, Outcome, Plan, PlanError, PlannedRequest, RefKey, Remember,
    Runbook,
};
use crate::core::template::TemplateRef;
use crate::transport::Answer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::time::Duration;

pub const KIND: &str = "jira-comment";
/// Comments made, per (scope, ticket).
pub const REF_KIND: &str = "jira-comment";

#[derive(Debug)]
pub struct CommentAction {
    pub auth: Auth,
    pub url: String,
    pub tickets: super::transition::Tickets,
    /// The comment's text (Jira wiki markup).
    pub body: TemplateRef,
    pub once_per: TemplateRef,
    pub timeout: Duration,
    /// Deliveries of this action run one at a time, so a ticket is commented once per
    /// `once_per` even when two deliveries of one release come together.
    pub ordering: OrderingKey,
}

#[async_trait]
impl Action for CommentAction {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn ordering_key(&self) -> Option<&OrderingKey> {
        Some(&self.ordering)
    }

    fn credential_secrets(&self) -> Vec<&str> {
        vec![self.auth.secret().name()]
    }

    fn credential_runbook(&self) -> Runbook {
        super::RUNBOOK
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        let tickets = self.tickets.render(input)?;
        let text = input.templates.render(&self.body, input.context)?;
        let shown = input.templates.render_redacted(&self.body, input.context)?;
        if tickets.is_empty() || text.trim().is_empty() {
            return Ok(Plan::note("no ticket, or an empty comment: nothing to do"));
        }
        let scope = render(input, &self.once_per)?;
        let mut requests = Vec::new();
        for (step, ticket) in tickets.iter().enumerate() {
            let done = RefKey {
                kind: REF_KIND,
                key: format!("{scope}:{ticket}"),
            };
            if input
                .refs
                .get(REF_KIND, &done.key)
                .await
                .map_err(PlanError::Invalid)?
                .is_some()
            {
                continue;
            }
            let url = format!(
                "{}/rest/api/2/issue/{ticket}/comment",
                self.url.trim_end_matches('/')
            );
            let url = url::Url::parse(&url)
                .map_err(|error| PlanError::Invalid(format!("bad Jira URL {url:?}: {error}")))?;
            let request = PlannedRequest::json(
                url,
                &json!({ "body": text }),
                &json!({ "body": shown }),
                self.timeout,
            );
            requests.push(
                self.auth
                    .sign(request)
                    .purpose(format!("comment on {ticket}"))
                    .part(ticket.as_str())
                    .step(step)
                    .remember(Remember::Answer {
                        key: done,
                        extra: json!({ "ticket": ticket }),
                        group: None,
                    }),
            );
        }
        if requests.is_empty() {
            return Ok(Plan::note(format!("already commented for {scope}")));
        }
        Ok(Plan::stepped(requests))
    }

    fn classify(&self, _request: &PlannedRequest, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        api::classify(answer.status, answer.retry_after(now), &answer.body)
    }
}
