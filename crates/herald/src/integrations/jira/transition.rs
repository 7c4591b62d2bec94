//! `kind = "jira-transition"`: move each ticket one step through its project's state
//! machine. Per ticket, three steps (numbered `3 × i + …`, so a retry resumes after the
//! tickets done):
//!
//! | step | request |
//! |---|---|
//! | 0 | `GET /rest/api/2/issue/{key}?fields=status,project`: its status |
//! | 1 | `GET …/transitions`: what it offers, unless cached for (project, status) or the machine says stay |
//! | 2 | `POST …/transitions` `{"transition": {"id": …}}` to the machine's goal, unless it stays |
//!
//! Each ticket is its own part: a 404 for one key ends only that key. A move is remembered
//! per (`once_per`, ticket, event), so a second delivery of the same release (GitHub sends
//! `created`, `published` and `released`) or a replay does not move a ticket twice.

use super::api;
use super::cache::TransitionCache;
use super::keys;
use super::machine::{Goal, Machine};
use super::target::Target;
use crate::action::{
    Action, ActionInput, Earlier, Follow, Followed, OrderingKey, Outcome, Plan, PlanError,
    PlannedRequest, RefKey, Remember, Runbook,
};
use crate::transport::Answer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::Method;
use serde_json::{Value, json};
use std::sync::Arc;

pub const KIND: &str = "jira-transition";
/// Moves done, per (scope, ticket, event).
pub const REF_KIND: &str = "jira-step";
const STEPS_PER_TICKET: usize = 3;

#[derive(Debug)]
pub struct TransitionAction {
    pub target: Target,
    /// The machine's event: `next`, `prev`, any name.
    pub event: String,
    pub cache: Arc<TransitionCache>,
}

#[async_trait]
impl Action for TransitionAction {
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
        let tickets = self.target.tickets.render(input)?;
        if tickets.is_empty() {
            return Ok(Plan::note(
                "no ticket of a configured project: nothing to do",
            ));
        }
        let mut requests = Vec::new();
        let mut moved = Vec::new();
        for (index, ticket) in tickets.iter().enumerate() {
            let what = format!("{ticket}:{}", self.event);
            let (done, before) = self.target.done_before(input, REF_KIND, &what).await?;
            if before {
                moved.push(ticket.clone());
                continue;
            }
            requests.extend(self.ticket_steps(ticket, index * STEPS_PER_TICKET, done)?);
        }
        if requests.is_empty() {
            return Ok(Plan::note(format!(
                "already moved on `{}`: {}",
                self.event,
                moved.join(", ")
            )));
        }
        Ok(Plan::stepped(requests))
    }

    fn classify(&self, _request: &PlannedRequest, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        api::classify(answer.status, answer.retry_after(now), &answer.body)
    }
}

impl TransitionAction {
    fn ticket_steps(
        &self,
        ticket: &str,
        first: usize,
        done: RefKey,
    ) -> Result<Vec<PlannedRequest>, PlanError> {
        let project = keys::project_of(ticket).to_string();
        let target = &self.target;
        let machine = target.tickets.settings.machines[&project].clone();
        let issue = target.api(&format!("issue/{ticket}?fields=status,project"))?;
        let transitions = target.api(&format!("issue/{ticket}/transitions"))?;
        let read = |url: url::Url, purpose: String| {
            let request =
                PlannedRequest::new(Method::GET, url.clone(), url.to_string(), target.timeout);
            target
                .for_ticket(request, ticket)
                .header("accept", "application/json")
                .purpose(purpose)
        };
        let status = read(issue, format!("read the status of {ticket}")).step(first);
        let offered = read(
            transitions.clone(),
            format!("read the transitions {ticket} offers"),
        )
        .step(first + 1)
        .following(Offered {
            first,
            project: project.clone(),
            machine: machine.clone(),
            event: self.event.clone(),
            cache: self.cache.clone(),
        });
        let body = json!({ "transition": { "id": "(chosen from the transitions offered)" } });
        let purpose = format!(
            "move {ticket} on `{}` to the machine's next status",
            self.event
        );
        let post = PlannedRequest::json(transitions, &body, &body, target.timeout);
        let post = target
            .for_ticket(post, ticket)
            .purpose(purpose)
            .step(first + 2)
            .following(Choose {
                first,
                ticket: ticket.to_string(),
                project,
                machine,
                event: self.event.clone(),
                cache: self.cache.clone(),
            })
            .remember(Remember::Answer {
                key: done,
                extra: json!({ "ticket": ticket }),
                group: None,
            });
        Ok(vec![status, offered, post])
    }
}

/// The status step 0 read.
fn status_of(earlier: &Earlier, first: usize) -> Result<String, String> {
    earlier
        .of(first)
        .and_then(|facts| facts["status"].as_str())
        .map(str::to_string)
        .ok_or_else(|| "Jira's answer named no status".to_string())
}

/// Step 1: skipped when the ticket stays, or when the (project, status) transitions are
/// cached.
#[derive(Debug)]
struct Offered {
    first: usize,
    project: String,
    machine: Machine,
    event: String,
    cache: Arc<TransitionCache>,
}

impl Follow for Offered {
    fn apply(&self, request: &PlannedRequest, earlier: &Earlier) -> Result<Followed, String> {
        let status = status_of(earlier, self.first)?;
        if let Goal::Stay(_) = self.machine.goal(&status, &self.event) {
            return Ok(Followed::Done(Value::Null));
        }
        match self.cache.get(&self.project, &status) {
            Some(cached) => Ok(Followed::Done(cached)),
            None => Ok(Followed::Send(Box::new(request.clone()))),
        }
    }
}

/// Step 2: the transition to the machine's goal, or nothing when the ticket stays.
#[derive(Debug)]
struct Choose {
    first: usize,
    ticket: String,
    project: String,
    machine: Machine,
    event: String,
    cache: Arc<TransitionCache>,
}

impl Follow for Choose {
    fn apply(&self, request: &PlannedRequest, earlier: &Earlier) -> Result<Followed, String> {
        let status = status_of(earlier, self.first)?;
        let goal = match self.machine.goal(&status, &self.event) {
            Goal::Move(goal) => goal,
            Goal::Stay(why) => {
                tracing::info!(ticket = %self.ticket, status = %status, why = %why, "Jira ticket stays");
                return Ok(Followed::Done(Value::Null));
            }
        };
        let offered = earlier.of(self.first + 1).cloned().unwrap_or(Value::Null);
        self.cache.put(&self.project, &status, &offered);
        let transitions = offered["transitions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let leads = |field: &str| {
            transitions.iter().find(|t| {
                t[field]
                    .as_str()
                    .is_some_and(|name| name.eq_ignore_ascii_case(&goal))
            })
        };
        let Some(chosen) = leads("to").or_else(|| leads("name")) else {
            return Err(format!(
                "no transition of {} leads from {status:?} to {goal:?}",
                self.ticket
            ));
        };
        let id = chosen["id"].as_str().unwrap_or_default();
        let body = json!({ "transition": { "id": id } });
        let mut request = request.clone();
        request.body = Some(bytes::Bytes::from(body.to_string()));
        request.shown_body = Some(serde_json::to_string_pretty(&body).unwrap_or_default());
        Ok(Followed::Send(Box::new(request)))
    }
}
