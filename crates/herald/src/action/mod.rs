//! The contract every action kind implements (one per integration folder).
//!
//! An action *plans*: it renders the steps it would take, with no side effect. Dry runs
//! print the plan; the step runner (`outbox/runner.rs`) sends its requests and asks the
//! action to *classify* each answer into an [`Outcome`] — or, for a side effect that is not
//! an HTTP request (SQL statements), carries out the plan's [`Effect`], which classifies
//! its own result.

mod credential;
mod effect;
mod plan;
mod refs;
mod respond;

pub use credential::{CredentialCheck, CredentialStatus};
pub use effect::Effect;
pub use plan::{Authorize, Earlier, Follow, Followed, Lookup, Pace, Plan, PlannedRequest, Recover};
pub use refs::{
    NoRefs, RefKey, RefLookup, RefWrite, Remember, StoreRefs, StoredRef, ref_delete, ref_write,
};
pub use respond::{Responder, Responding};

use crate::core::classify::{Verdict, classify_status};
use crate::core::template::{RenderError, TemplateEngine, TemplateRef};
use crate::transport::Answer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
pub use herald_store::model::FailureKind;
use minijinja::value::Value;
use std::time::Duration;

/// What an action is rendered from.
pub struct ActionInput<'a> {
    pub templates: &'a TemplateEngine,
    /// `event`, `meta` and `headers` (see `core::context`).
    pub context: &'a Value,
    /// What earlier deliveries remembered (a Slack message, a GitHub deployment).
    pub refs: &'a dyn RefLookup,
    /// When the plan is made (retention passes measure age from it).
    pub now: DateTime<Utc>,
    /// Steps already done by earlier attempts at the same delivery (0 for dry runs).
    pub done: usize,
    /// The delivery being attempted; none for dry runs.
    pub delivery: Option<Attempting>,
}

/// The delivery an action is planned for.
#[derive(Debug, Clone, Copy)]
pub struct Attempting {
    pub id: uuid::Uuid,
    pub created_at: DateTime<Utc>,
    /// An earlier attempt may have sent something without herald hearing back (see
    /// `Delivery::outcome_unknown`): steps that must not be repeated look first.
    pub outcome_unknown: bool,
}

/// How an action's ordering key is made: a fixed prefix and a rendered part.
#[derive(Debug, Clone)]
pub struct OrderingKey {
    pub prefix: String,
    pub template: TemplateRef,
}

impl OrderingKey {
    pub fn render(
        &self,
        templates: &TemplateEngine,
        context: &Value,
    ) -> Result<String, RenderError> {
        let rendered = templates.render(&self.template, context)?;
        Ok(format!("{}{}", self.prefix, rendered.trim()))
    }
}

/// Why an action could not be planned for this input. Permanent — the same input renders
/// the same way next time — unless it is `NotYet`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("template error: {0}")]
    Render(#[from] RenderError),
    #[error("{0}")]
    Invalid(String),
    /// What the plan needs is not there yet (a record another delivery is still writing):
    /// try again on the retry schedule.
    #[error("{0}")]
    NotYet(String),
}

/// A provider's answer to one step, as its integration reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The step worked. `facts` are what the answer identifies (Slack's channel and ts, a
    /// deployment's id): later steps of the attempt may use them, and a step that
    /// remembers a ref stores them.
    Done { facts: serde_json::Value },
    /// The provider asked to slow down: try again after `wait`, without using up the
    /// retry schedule.
    RateLimited { wait: Duration, error: String },
    /// Worth retrying on the schedule (after `retry_after`, when the provider said).
    Transient {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help.
    Permanent { error: String },
    /// The credential is bad or revoked: retrying cannot help, and monitors alert at once.
    Credential { error: String },
}

impl Outcome {
    pub fn done() -> Self {
        Outcome::Done {
            facts: serde_json::Value::Null,
        }
    }

    pub fn transient(error: impl Into<String>) -> Self {
        Outcome::Transient {
            error: error.into(),
            retry_after: None,
        }
    }

    pub fn permanent(error: impl Into<String>) -> Self {
        Outcome::Permanent {
            error: error.into(),
        }
    }

    /// Plain HTTP: 2xx succeed; 408, 429 and 5xx are retried (after `Retry-After`, when
    /// given); every other status fails for good.
    pub fn of_status(answer: &Answer, now: DateTime<Utc>) -> Self {
        match classify_status(answer.status, answer.retry_after(now)) {
            Verdict::Success => Outcome::done(),
            Verdict::Retry { retry_after } => Outcome::Transient {
                error: status_line(answer.status),
                retry_after,
            },
            Verdict::Permanent => Outcome::permanent(status_line(answer.status)),
        }
    }
}

/// `HTTP 404 Not Found`.
fn status_line(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("");
    format!("HTTP {status} {reason}").trim_end().to_string()
}

/// The classified result of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptReport {
    pub verdict: Verdict,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response_body: Option<String>,
    /// False for waits the destination imposed (rate limits) that should not use up the
    /// retry schedule.
    pub counts_against_schedule: bool,
    /// Requests of the plan done so far, counting those done by earlier attempts; a retry
    /// resumes after them.
    pub done: usize,
    /// What to remember from the answers.
    pub refs: Vec<RefWrite>,
    /// Why it failed, when that matters beyond this delivery (a bad token).
    pub failure_kind: Option<FailureKind>,
}

impl AttemptReport {
    /// Nothing sent yet, `done` steps done by earlier attempts.
    pub fn resuming(done: usize) -> Self {
        AttemptReport {
            verdict: Verdict::Success,
            status_code: None,
            error: None,
            response_body: None,
            counts_against_schedule: true,
            done,
            refs: Vec::new(),
            failure_kind: None,
        }
    }

    /// Fail with `verdict`, keeping what was done and remembered.
    pub fn fail(&mut self, verdict: Verdict, status_code: Option<u16>, error: String) {
        self.verdict = verdict;
        self.status_code = status_code;
        self.error = Some(error);
    }

    /// This report, failed with `verdict` (keeping what was done and remembered).
    pub fn failed(mut self, verdict: Verdict, status_code: Option<u16>, error: String) -> Self {
        self.fail(verdict, status_code, error);
        self
    }
}

/// What to do when a destination refuses herald's credential: the steps particular to
/// the provider, before and after "put the new credential where herald reads it" and
/// "test it".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runbook {
    pub before: &'static [&'static str],
    pub after: &'static [&'static str],
}

impl Runbook {
    pub const GENERIC: Runbook = Runbook {
        before: &["Issue a new credential at the destination."],
        after: &[],
    };
}

#[async_trait]
pub trait Action: Send + Sync + 'static {
    /// The configuration `kind` this implements, e.g. `http`.
    fn kind(&self) -> &'static str;

    /// Deliveries with the same ordering key run one at a time, in the order their events
    /// arrived (work on one Slack message, posts to one channel). Rendered at ingest.
    fn ordering_key(&self) -> Option<&OrderingKey> {
        None
    }

    /// Names of the secrets this action authenticates with, for credential alerts.
    fn credential_secrets(&self) -> Vec<&str> {
        Vec::new()
    }

    /// How to replace this action's credential when the destination refuses it.
    fn credential_runbook(&self) -> Runbook {
        Runbook::GENERIC
    }

    /// How to ask each destination whether this action's credentials work, without doing
    /// anything that shows (`herald check --online`); none for a kind that has no
    /// credential of its own or no such request.
    fn credential_checks(&self) -> Vec<CredentialCheck> {
        Vec::new()
    }

    /// Answers requests in their HTTP response, for a source that names this action in
    /// `respond_with` (a chat command); none for most kinds.
    fn responder(&self) -> Option<&dyn Responder> {
        None
    }

    /// Render what would be done for this input, without doing it.
    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError>;

    /// Read the provider's answer to one of this action's requests. Plain HTTP unless the
    /// integration knows its provider better.
    fn classify(&self, _request: &PlannedRequest, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        Outcome::of_status(answer, now)
    }
}
