//! `kind = "jira-comment"`: a comment on each ticket (a link to the release, say), with
//! `POST /rest/api/2/issue/{key}/comment` `{"body": …}`. Each ticket is its own part and
//! step, and is commented once per `once_per` (default: the event).

use super::api;
use super::target::Target;
use crate::action::{
    Action, ActionInput, OrderingKey, Outcome, Plan, PlanError, PlannedRequest, Remember, Runbook,
};
use crate::core::template::TemplateRef;
use crate::transport::Answer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

pub const KIND: &str = "jira-comment";
/// Comments made, per (scope, ticket).
pub const REF_KIND: &str = "jira-comment";

#[derive(Debug)]
pub struct CommentAction {
    pub target: Target,
    /// The comment's text (Jira wiki markup).
    pub body: TemplateRef,
}

#[async_trait]
impl Action for CommentAction {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn ordering_key(&self) -> Option<&OrderingKey> {
        Some(&self.target.ordering)
    }

    fn credential_secrets(&self) -> Vec<&str> {
        vec![self.target.auth.secret().name()]
    }

    fn credential_runbook(&self) -> Runbook {
        super::RUNBOOK
    }

    fn credential_checks(&self) -> Vec<crate::action::CredentialCheck> {
        self.target.credential_check().into_iter().collect()
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        let target = &self.target;
        let tickets = target.tickets.render(input)?;
        let text = input.templates.render(&self.body, input.context)?;
        let shown = input.templates.render_redacted(&self.body, input.context)?;
        if tickets.is_empty() || text.trim().is_empty() {
            return Ok(Plan::note("no ticket, or an empty comment: nothing to do"));
        }
        let mut requests = Vec::new();
        for (step, ticket) in tickets.iter().enumerate() {
            let (done, before) = target.done_before(input, REF_KIND, ticket).await?;
            if before {
                continue;
            }
            let url = target.api(&format!("issue/{ticket}/comment"))?;
            let (body, shown) = (json!({ "body": text }), json!({ "body": shown }));
            let request = PlannedRequest::json(url, &body, &shown, target.timeout);
            requests.push(
                target
                    .for_ticket(request, ticket)
                    .purpose(format!("comment on {ticket}"))
                    .step(step)
                    .remember(Remember::Answer {
                        key: done,
                        extra: json!({ "ticket": ticket }),
                        group: None,
                    }),
            );
        }
        if requests.is_empty() {
            return Ok(Plan::note("every ticket was commented on already"));
        }
        Ok(Plan::stepped(requests))
    }

    fn classify(&self, _request: &PlannedRequest, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        api::classify(answer.status, answer.retry_after(now), &answer.body)
    }
}
