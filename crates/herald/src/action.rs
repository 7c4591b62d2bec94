//! The contract every action kind implements (one per integration folder).
//!
//! An action first *plans*: it renders what it would send, with no side effect. Dry runs
//! print the plan; workers *execute* it and classify the answer.

use crate::clock::SharedClock;
use crate::core::classify::Verdict;
use crate::core::template::{RenderError, TemplateEngine, TemplateRef};
use crate::outbox::pacer::Pacer;
use crate::secret::Secret;
use async_trait::async_trait;
use bytes::Bytes;
use herald_store::SharedStore;
pub use herald_store::model::FailureKind;
use http::{HeaderName, HeaderValue, Method};
use minijinja::value::Value;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// What an action is rendered from.
pub struct ActionInput<'a> {
    pub templates: &'a TemplateEngine,
    /// `event`, `meta` and `headers` (see `core::context`).
    pub context: &'a Value,
    /// What earlier deliveries remembered (a Slack message, a GitHub deployment).
    pub refs: &'a dyn RefLookup,
    /// When the plan is made (retention passes measure age from it).
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Reads refs: what an external system returned for a key, kept in the store.
#[async_trait]
pub trait RefLookup: Send + Sync {
    async fn get(&self, kind: &str, key: &str) -> Result<Option<serde_json::Value>, String>;

    /// Refs of a kind in one group, newest first: (key, data).
    async fn group(
        &self,
        kind: &str,
        group: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, String>;

    /// Every ref of a kind, newest first: (key, data, last written).
    async fn all(&self, kind: &str) -> Result<Vec<StoredRef>, String>;
}

/// A ref as a retention pass sees it.
pub type StoredRef = (String, serde_json::Value, chrono::DateTime<chrono::Utc>);

/// No refs at all: for routing, and dry runs without a store.
pub struct NoRefs;

#[async_trait]
impl RefLookup for NoRefs {
    async fn get(&self, _kind: &str, _key: &str) -> Result<Option<serde_json::Value>, String> {
        Ok(None)
    }

    async fn group(
        &self,
        _kind: &str,
        _group: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, String> {
        Ok(Vec::new())
    }

    async fn all(&self, _kind: &str) -> Result<Vec<StoredRef>, String> {
        Ok(Vec::new())
    }
}

/// Refs as the store holds them.
pub struct StoreRefs(pub SharedStore);

#[async_trait]
impl RefLookup for StoreRefs {
    async fn get(&self, kind: &str, key: &str) -> Result<Option<serde_json::Value>, String> {
        match self.0.get_ref(kind, key).await {
            Ok(found) => Ok(found.map(|r| r.data)),
            Err(error) => Err(format!("cannot read ref {kind}/{key}: {error}")),
        }
    }

    async fn group(
        &self,
        kind: &str,
        group: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, String> {
        match self.0.list_refs(kind, group).await {
            Ok(found) => Ok(found.into_iter().map(|r| (r.key, r.data)).collect()),
            Err(error) => Err(format!("cannot read refs {kind} of {group}: {error}")),
        }
    }

    async fn all(&self, kind: &str) -> Result<Vec<StoredRef>, String> {
        match self.0.list_refs_of_kind(kind).await {
            Ok(found) => Ok(found
                .into_iter()
                .map(|r| (r.key, r.data, r.updated_at))
                .collect()),
            Err(error) => Err(format!("cannot read refs {kind}: {error}")),
        }
    }
}

/// Names a ref: its kind (shared by the actions that read it) and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefKey {
    pub kind: &'static str,
    pub key: String,
}

/// A ref to remember, written with the attempt record.
pub type RefWrite = herald_store::model::RefWrite;

/// What to remember for `key`, in `group`.
pub fn ref_write(key: &RefKey, data: serde_json::Value, group: Option<&str>) -> RefWrite {
    RefWrite {
        kind: key.kind.to_string(),
        key: key.key.clone(),
        data,
        group: group.map(str::to_string),
        delete: false,
    }
}

/// Forget `key`.
pub fn ref_delete(key: &RefKey) -> RefWrite {
    RefWrite {
        kind: key.kind.to_string(),
        key: key.key.clone(),
        data: serde_json::Value::Null,
        group: None,
        delete: true,
    }
}

/// What a request's success changes in the refs.
#[derive(Debug, Clone, PartialEq)]
pub enum Remember {
    /// What the answer identifies (Slack: channel and ts; GitHub: the deployment id), with
    /// `extra` fields, under `key` in `group`.
    Answer {
        key: RefKey,
        extra: serde_json::Value,
        group: Option<String>,
    },
    /// One more reply to the remembered message (`known`: its data as planned, unless an
    /// earlier request of the same attempt remembered it).
    Replied {
        key: RefKey,
        known: Option<serde_json::Value>,
        group: Option<String>,
    },
    /// The remembered message now reads `text`.
    Retext {
        key: RefKey,
        text: String,
        known: Option<serde_json::Value>,
        group: Option<String>,
    },
    /// Forget the key (a superseded or retired Slack thread).
    Forget(RefKey),
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

/// What actions may use while executing.
#[derive(Clone)]
pub struct ActionDeps {
    pub http: reqwest::Client,
    pub clock: SharedClock,
    /// How much of a response body is kept in the attempt log.
    pub response_body_limit: usize,
    /// Spaces out calls to destinations that rate-limit (Slack channels).
    pub pacer: Arc<Pacer>,
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
    /// What the request does, in words, for dry runs ("reply in the thread of ...").
    pub purpose: Option<String>,
    /// What this request's success changes in the refs.
    pub remember: Option<Remember>,
    /// The action's number for this request. Numbers are the same however the action is
    /// planned (a keyed message that exists needs no root post), so a retry resumes after
    /// the steps already done.
    pub step: usize,
    /// Calls with the same pace key are spaced out by the pacer.
    pub pace_key: Option<String>,
    /// Slack: set this body field (`thread_ts` to reply, `ts` to update) to the `ts` of
    /// the message the previous request posted, known only once its answer is in.
    pub follow_previous: Option<&'static str>,
}

impl PlannedRequest {
    /// A POST of a JSON body; `shown` is the body with secrets redacted.
    pub fn json(
        url: url::Url,
        body: &serde_json::Value,
        shown: &serde_json::Value,
        timeout: Duration,
    ) -> Self {
        PlannedRequest {
            method: Method::POST,
            shown_url: url.to_string(),
            url,
            headers: vec![(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            body: Some(Bytes::from(body.to_string())),
            timeout,
            shown_headers: vec![(
                "content-type".to_string(),
                "application/json; charset=utf-8".to_string(),
            )],
            shown_body: Some(serde_json::to_string_pretty(shown).unwrap_or_default()),
            purpose: None,
            remember: None,
            step: 0,
            pace_key: None,
            follow_previous: None,
        }
    }

    /// This request as step `step`.
    pub fn step(mut self, step: usize) -> Self {
        self.step = step;
        self
    }

    /// `Authorization: Bearer <token>`, shown redacted.
    pub fn bearer(mut self, token: &Secret) -> Self {
        match HeaderValue::from_str(&format!("Bearer {}", token.expose())) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.push((http::header::AUTHORIZATION, value));
                self.shown_headers
                    .push(("authorization".into(), "Bearer [redacted]".into()));
            }
            // A token HTTP cannot carry: send none, and the destination answers 401.
            Err(_) => self.shown_headers.push((
                "authorization".into(),
                "[the token is not a valid header value]".into(),
            )),
        }
        self
    }

    /// A header with a static, non-secret value.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(header) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), header));
            self.shown_headers
                .push((name.to_string(), value.to_string()));
        }
        self
    }

    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = Some(purpose.into());
        self
    }
}

/// Everything an action would do for one input.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub requests: Vec<PlannedRequest>,
    /// What a `log` action records instead of sending.
    pub message: Option<String>,
}

impl Plan {
    /// A plan of these requests, numbered in order.
    pub fn of(mut requests: Vec<PlannedRequest>) -> Self {
        for (step, request) in requests.iter_mut().enumerate() {
            request.step = step;
        }
        Self::stepped(requests)
    }

    /// A plan of requests that carry their own step numbers (see `PlannedRequest::step`).
    pub fn stepped(requests: Vec<PlannedRequest>) -> Self {
        Plan {
            requests,
            message: None,
        }
    }

    /// The requests still to send when the steps before `done` are done.
    pub fn remaining(&self, done: usize) -> impl Iterator<Item = &PlannedRequest> {
        self.requests.iter().filter(move |r| r.step >= done)
    }

    /// Nothing to send; the message says why.
    pub fn note(message: impl Into<String>) -> Self {
        Plan {
            requests: Vec::new(),
            message: Some(message.into()),
        }
    }

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
                let mut shown = json!({
                    "method": request.method.as_str(),
                    "url": request.shown_url,
                    "headers": headers,
                    "body": request.shown_body,
                });
                if let Some(purpose) = &request.purpose {
                    shown["purpose"] = json!(purpose);
                }
                shown
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
    /// Requests of the plan done so far, counting those done by earlier attempts; a retry
    /// resumes after them.
    pub done: usize,
    /// What to remember from the answers.
    pub refs: Vec<RefWrite>,
    /// Why it failed, when that matters beyond this delivery (a bad token).
    pub failure_kind: Option<FailureKind>,
}

impl AttemptReport {
    pub fn success(status_code: Option<u16>, response_body: Option<String>) -> Self {
        AttemptReport {
            verdict: Verdict::Success,
            status_code,
            error: None,
            response_body,
            counts_against_schedule: true,
            done: 0,
            refs: Vec::new(),
            failure_kind: None,
        }
    }

    /// This report, failed with `verdict` (keeping what was done and remembered).
    pub fn failed(mut self, verdict: Verdict, status_code: Option<u16>, error: String) -> Self {
        self.verdict = verdict;
        self.status_code = status_code;
        self.error = Some(error);
        self
    }

    pub fn permanent(error: impl Into<String>) -> Self {
        AttemptReport {
            verdict: Verdict::Permanent,
            status_code: None,
            error: Some(error.into()),
            response_body: None,
            counts_against_schedule: true,
            done: 0,
            refs: Vec::new(),
            failure_kind: None,
        }
    }
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

    /// Render what would be done for this input, without doing it.
    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError>;

    /// Carry out a plan once and classify the outcome. The first `done` requests were
    /// carried out by earlier attempts and are skipped.
    async fn execute(&self, plan: &Plan, deps: &ActionDeps, done: usize) -> AttemptReport;
}
