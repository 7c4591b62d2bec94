//! The contract every action kind implements (one per integration folder).
//!
//! An action first *plans*: it renders what it would send, with no side effect. Dry runs
//! print the plan; workers *execute* it and classify the answer.

use crate::clock::SharedClock;
use crate::core::classify::Verdict;
use crate::core::template::{RenderError, TemplateEngine};
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use minijinja::value::Value;
use serde_json::json;
use std::time::Duration;

/// What an action is rendered from.
pub struct ActionInput<'a> {
    pub templates: &'a TemplateEngine,
    /// `event`, `meta` and `headers` (see `core::context`).
    pub context: &'a Value,
}

/// What actions may use while executing.
#[derive(Clone)]
pub struct ActionDeps {
    pub http: reqwest::Client,
    pub clock: SharedClock,
    /// How much of a response body is kept in the attempt log.
    pub response_body_limit: usize,
}

/// Why an action could not be planned for this input. Always permanent: the same input
/// renders the same way next time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("template error: {0}")]
    Render(#[from] RenderError),
    #[error("{0}")]
    Invalid(String),
}

/// An HTTP request ready to send, with a redacted twin for logs and dry runs.
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    pub method: Method,
    pub url: url::Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<Bytes>,
    pub timeout: Duration,
    /// URL as shown: secrets replaced by `[redacted]`.
    pub shown_url: String,
    /// Headers as shown: secrets replaced by `[redacted]`.
    pub shown_headers: Vec<(String, String)>,
    /// Body as shown: secrets replaced by `[redacted]`.
    pub shown_body: Option<String>,
}

/// Everything an action would do for one input.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub requests: Vec<PlannedRequest>,
    /// What a `log` action records instead of sending.
    pub message: Option<String>,
}

impl Plan {
    /// The plan as JSON, with secrets redacted: printed by dry runs, kept in the attempt log.
    pub fn describe(&self) -> serde_json::Value {
        let requests: Vec<_> = self
            .requests
            .iter()
            .map(|request| {
                let headers: serde_json::Map<_, _> = request
                    .shown_headers
                    .iter()
                    .map(|(name, value)| (name.clone(), json!(value)))
                    .collect();
                json!({
                    "method": request.method.as_str(),
                    "url": request.shown_url,
                    "headers": headers,
                    "body": request.shown_body,
                })
            })
            .collect();
        match &self.message {
            Some(message) if requests.is_empty() => json!({ "log": message }),
            Some(message) => json!({ "log": message, "requests": requests }),
            None => json!({ "requests": requests }),
        }
    }
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
}

impl AttemptReport {
    pub fn success(status_code: Option<u16>, response_body: Option<String>) -> Self {
        AttemptReport {
            verdict: Verdict::Success,
            status_code,
            error: None,
            response_body,
            counts_against_schedule: true,
        }
    }

    pub fn permanent(error: impl Into<String>) -> Self {
        AttemptReport {
            verdict: Verdict::Permanent,
            status_code: None,
            error: Some(error.into()),
            response_body: None,
            counts_against_schedule: true,
        }
    }
}

#[async_trait]
pub trait Action: Send + Sync + 'static {
    /// The configuration `kind` this implements, e.g. `http`.
    fn kind(&self) -> &'static str;

    /// Render what would be done for this input, without doing it.
    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError>;

    /// Carry out a plan once and classify the outcome.
    async fn execute(&self, plan: &Plan, deps: &ActionDeps) -> AttemptReport;
}
