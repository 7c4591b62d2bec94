//! What an action would do for one input: the requests it would send, numbered as steps,
//! each with a redacted twin for logs and dry runs; or the one [`Effect`] it carries out
//! itself.

use super::Outcome;
use super::effect::Effect;
use super::refs::Remember;
use crate::secret::Secret;
use crate::transport::Answer;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderName, HeaderValue, Method};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

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
    /// Calls with the same pace key are spaced out (see `outbox::pacer`).
    pub pace: Option<Pace>,
    /// Fills in what only an earlier step's answer tells, just before this one is sent.
    pub follow: Option<Arc<dyn Follow>>,
    /// Looks whether an earlier attempt already did this step, before sending it again.
    pub recover: Option<Arc<dyn Recover>>,
    /// The part of the plan this step belongs to (a Jira ticket): a permanent failure ends
    /// only its part, and the steps of other parts still run.
    pub part: Option<String>,
    /// The credential fetched when the request is sent (see [`Authorize`]): the runner sets
    /// its `Authorization` header then.
    pub authorize: Option<Arc<dyn Authorize>>,
}

/// A credential fetched when the request is sent (a GitHub App's installation token), not
/// when it is planned.
#[async_trait]
pub trait Authorize: Send + Sync + std::fmt::Debug {
    /// The `Authorization` header value to send; an Err is the outcome of failing to get
    /// one (credential refused → `Outcome::Credential`, network → `Transient`).
    async fn authorization(
        &self,
        http: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<String, Outcome>;
    /// The destination refused what `authorization` gave: forget it, so the next call
    /// fetches a fresh one.
    fn refused(&self);
}

/// Space this call out with every other call of the same key: at most one per `every`,
/// after a burst of `burst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pace {
    pub key: String,
    pub every: Duration,
    pub burst: u32,
}

/// What earlier steps of the same attempt answered: their facts, in the order sent.
#[derive(Debug, Default)]
pub struct Earlier {
    facts: Vec<(usize, Value)>,
}

impl Earlier {
    pub fn push(&mut self, step: usize, facts: Value) {
        self.facts.push((step, facts));
    }

    /// The facts of earlier steps, the latest first.
    pub fn latest_first(&self) -> impl Iterator<Item = &Value> {
        self.facts.iter().rev().map(|(_, facts)| facts)
    }

    /// The facts step `step` answered in this attempt, if it ran.
    pub fn of(&self, step: usize) -> Option<&Value> {
        self.facts
            .iter()
            .rev()
            .find(|(done, _)| *done == step)
            .map(|(_, facts)| facts)
    }
}

/// What a [`Follow`] makes of its step.
#[derive(Debug)]
pub enum Followed {
    /// Send this request.
    Send(Box<PlannedRequest>),
    /// Nothing to send (the answer is known already, or there is nothing to do): the step
    /// is done with these facts, and remembers nothing.
    Done(Value),
}

/// A step that depends on an earlier step's answer (the thread a new Slack message
/// opened, the id of a Jira transition looked up first).
pub trait Follow: Send + Sync + std::fmt::Debug {
    /// `request` as it should be sent given what earlier steps answered, or that it need
    /// not be sent; an error fails the delivery (or its part) for good.
    fn apply(&self, request: &PlannedRequest, earlier: &Earlier) -> Result<Followed, String>;
}

/// A step an earlier attempt may have done without herald hearing the answer (the process
/// died mid-send, the answer timed out), and that must not be done twice (a Slack root).
/// Before sending it again, the runner sends `lookup` and asks `found` what it shows.
pub trait Recover: Send + Sync + std::fmt::Debug {
    /// The request that looks (a read: it changes nothing).
    fn lookup(&self) -> &PlannedRequest;
    /// What the lookup's answer shows.
    fn found(&self, answer: &Answer, now: DateTime<Utc>) -> Lookup;
}

/// What a [`Recover`] lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The step was done: these are its facts, as if it had just been sent.
    Done(Value),
    /// It was not done (or cannot be found out): send it.
    NotDone,
    /// The lookup itself failed (rate limited, down): settle the step with this outcome.
    Failed(Outcome),
}

impl PlannedRequest {
    /// A request without a body; `shown_url` is the URL with secrets redacted.
    pub fn new(method: Method, url: url::Url, shown_url: String, timeout: Duration) -> Self {
        PlannedRequest {
            method,
            url,
            headers: Vec::new(),
            body: None,
            timeout,
            shown_url,
            shown_headers: Vec::new(),
            shown_body: None,
            purpose: None,
            remember: None,
            step: 0,
            pace: None,
            follow: None,
            recover: None,
            part: None,
            authorize: None,
        }
    }

    /// A POST of a JSON body; `shown` is the body with secrets redacted.
    pub fn json(url: url::Url, body: &Value, shown: &Value, timeout: Duration) -> Self {
        let mut request = Self::new(Method::POST, url.clone(), url.to_string(), timeout);
        request.headers.push((
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        ));
        request.shown_headers.push((
            "content-type".to_string(),
            "application/json; charset=utf-8".to_string(),
        ));
        request.body = Some(Bytes::from(body.to_string()));
        request.shown_body = Some(serde_json::to_string_pretty(shown).unwrap_or_default());
        request
    }

    /// This request as step `step`.
    pub fn step(mut self, step: usize) -> Self {
        self.step = step;
        self
    }

    /// `Authorization: Bearer <token>`, shown redacted.
    pub fn bearer(self, token: &Secret) -> Self {
        let value = format!("Bearer {}", token.expose());
        self.secret_header(http::header::AUTHORIZATION, &value, "Bearer [redacted]")
    }

    /// `Authorization` from `auth`, fetched when the request is sent (an installation
    /// token); shown as `Bearer [installation token]`.
    pub fn authorized(mut self, auth: Arc<dyn Authorize>) -> Self {
        self.shown_headers.push((
            http::header::AUTHORIZATION.as_str().to_string(),
            "Bearer [installation token]".to_string(),
        ));
        self.authorize = Some(auth);
        self
    }

    /// This request with `Authorization: value` (a sensitive header), replacing any.
    pub fn with_authorization(&self, value: &str) -> Result<Self, String> {
        let mut header = HeaderValue::from_str(value)
            .map_err(|_| "the credential is not a valid header value".to_string())?;
        header.set_sensitive(true);
        let mut request = self.clone();
        request
            .headers
            .retain(|(name, _)| name != http::header::AUTHORIZATION);
        request.headers.push((http::header::AUTHORIZATION, header));
        Ok(request)
    }

    /// A header carrying a secret: sent as `value`, shown as `shown`.
    pub fn secret_header(mut self, name: HeaderName, value: &str, shown: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(mut header) => {
                header.set_sensitive(true);
                self.shown_headers
                    .push((name.as_str().to_string(), shown.to_string()));
                self.headers.push((name, header));
            }
            // A credential HTTP cannot carry: send none, and the destination answers 401.
            Err(_) => self.shown_headers.push((
                name.as_str().to_string(),
                "[the secret is not a valid header value]".into(),
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

    /// Remember this on success.
    pub fn remember(mut self, remember: Remember) -> Self {
        self.remember = Some(remember);
        self
    }

    /// Space this call out with others of the same key.
    pub fn paced(mut self, pace: Pace) -> Self {
        self.pace = Some(pace);
        self
    }

    /// This step belongs to `part` (see `PlannedRequest::part`).
    pub fn part(mut self, part: impl Into<String>) -> Self {
        self.part = Some(part.into());
        self
    }

    /// Look whether an earlier attempt did this step before sending it again.
    pub fn recovering(mut self, recover: impl Recover + 'static) -> Self {
        self.recover = Some(Arc::new(recover));
        self
    }

    /// Fill this request in from earlier answers before it is sent.
    pub fn following(mut self, follow: impl Follow + 'static) -> Self {
        self.follow = Some(Arc::new(follow));
        self
    }
}

/// Everything an action would do for one input.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub requests: Vec<PlannedRequest>,
    /// A side effect that is not an HTTP request, carried out instead of `requests` as the
    /// plan's one step (step 0).
    pub effect: Option<Arc<dyn Effect>>,
    /// Why there is nothing to send, or what a `log` action records instead of sending.
    pub message: Option<String>,
    /// The step runner logs `message` (a `log` action).
    pub logs_message: bool,
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
            ..Plan::default()
        }
    }

    /// The requests still to send when the steps before `done` are done.
    pub fn remaining(&self, done: usize) -> impl Iterator<Item = &PlannedRequest> {
        self.requests.iter().filter(move |r| r.step >= done)
    }

    /// A plan of one effect the action carries out itself (see [`Effect`]).
    pub fn effect(effect: impl Effect + 'static) -> Self {
        Plan {
            effect: Some(Arc::new(effect)),
            ..Plan::default()
        }
    }

    /// Nothing to send; the message says why.
    pub fn note(message: impl Into<String>) -> Self {
        Plan {
            message: Some(message.into()),
            ..Plan::default()
        }
    }

    /// Nothing to send; the message is logged when the plan is carried out.
    pub fn log(message: impl Into<String>) -> Self {
        Plan {
            logs_message: true,
            ..Plan::note(message)
        }
    }

    /// The plan as JSON, with secrets redacted: printed by dry runs, kept in the attempt log.
    pub fn describe(&self) -> Value {
        if let Some(effect) = &self.effect {
            return json!({ "effect": effect.describe() });
        }
        let requests: Vec<_> = self.requests.iter().map(describe_request).collect();
        match &self.message {
            Some(message) if requests.is_empty() => json!({ "log": message }),
            Some(message) => json!({ "log": message, "requests": requests }),
            None => json!({ "requests": requests }),
        }
    }
}

fn describe_request(request: &PlannedRequest) -> Value {
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
    if let Some(recover) = &request.recover {
        shown["looked_up_first"] = describe_request(recover.lookup());
    }
    shown
}
