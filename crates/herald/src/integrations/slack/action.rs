//! `kind = "slack"`: post a message, and with a `key`, remember it so later events reply in
//! its thread and/or update it in place (planning in `plan.rs`).

use super::api::{self, Outcome};
use crate::action::{
    Action, ActionDeps, ActionInput, AttemptReport, FailureKind, OrderingKey, Plan, PlanError,
    PlannedRequest, RefKey, Remember, ref_delete, ref_write,
};
use crate::core::classify::Verdict;
use crate::core::template::TemplateRef;
use crate::integrations::http::send;
use crate::secret::Secret;
use async_trait::async_trait;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Refs of Slack messages live under this kind, shared by every Slack action.
pub const REF_KIND: &str = "slack";

/// What to do for a keyed action when no message exists yet for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IfMissing {
    /// Post the root message and remember it (the default).
    Post,
    /// Do nothing: another rule posts the root.
    Skip,
    /// Fail the delivery: the root should exist by now.
    Fail,
}

/// A message body: fallback `text` and/or Block Kit `blocks` (a JSON template).
#[derive(Debug, Clone, Default)]
pub struct Content {
    pub text: Option<TemplateRef>,
    pub blocks: Option<TemplateRef>,
}

impl Content {
    pub fn is_empty(&self) -> bool {
        self.text.is_none() && self.blocks.is_none()
    }
}

/// Older threads of the same group are retired when this action runs: each gets `notice`
/// as a reply and appended to its root, and is forgotten.
#[derive(Debug, Clone)]
pub struct Supersede {
    pub group: TemplateRef,
    /// How many threads of the group stay, this one included (a template).
    pub keep: TemplateRef,
    pub notice: String,
}

/// A thread with `max_replies` replies is closed with `notice` and continued under a new
/// root that repeats the old one.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub max_replies: u64,
    pub notice: String,
}

#[derive(Debug)]
pub struct SlackAction {
    pub token: Secret,
    pub api_url: String,
    pub channel: Option<TemplateRef>,
    /// The message posted first (the root, for a keyed action), and what `update` renders.
    pub message: Content,
    pub key: Option<TemplateRef>,
    /// Posted in the keyed message's thread when it already exists.
    pub reply: Content,
    /// Re-render the keyed message with `message` when it already exists.
    pub update: bool,
    pub if_missing: IfMissing,
    /// When the root is posted now, also post the reply in its new thread.
    pub reply_to_new: bool,
    pub rotation: Option<Rotation>,
    pub supersede: Option<Supersede>,
    /// The retention group a root is remembered in, for `slack-retire` passes.
    pub retire_group: Option<TemplateRef>,
    pub timeout: Duration,
    /// The key's message, or else the channel: work on one message, and plain posts to one
    /// channel, happen one at a time and in order.
    pub ordering: Option<OrderingKey>,
}

#[async_trait]
impl Action for SlackAction {
    fn kind(&self) -> &'static str {
        super::ACTION_KIND
    }

    fn ordering_key(&self) -> Option<&OrderingKey> {
        self.ordering.as_ref()
    }

    fn credential_secrets(&self) -> Vec<&str> {
        vec![self.token.name()]
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        super::plan::plan(self, input).await
    }

    async fn execute(&self, plan: &Plan, deps: &ActionDeps, done: usize) -> AttemptReport {
        let mut report = AttemptReport::success(None, None);
        report.done = done;
        let mut refs = Remembered::default();
        // The message the previous step posted: a reply to a new root goes in its thread.
        let mut posted: Option<(String, String)> = None;
        for planned in plan.remaining(done) {
            let followed;
            let request = match (&posted, planned.follow_previous) {
                (Some((channel, ts)), Some(field)) => {
                    followed = follow(planned, field, channel, ts);
                    &followed
                }
                _ => planned,
            };
            let channel = request.pace_key.as_deref().unwrap_or_default();
            deps.pacer.wait(channel).await;
            let answer = match send::send(request, deps).await {
                Ok(answer) => answer,
                Err(error) => {
                    return report.failed(Verdict::Retry { retry_after: None }, None, error);
                }
            };
            let retry_after = answer.retry_after(deps);
            let status = Some(answer.status);
            report.status_code = status;
            report.response_body = Some(answer.body.clone());
            match api::classify(answer.status, retry_after, &answer.body) {
                Outcome::Done { channel, ts } => {
                    if let (Some(channel), Some(ts)) = (channel, ts) {
                        posted = Some((channel, ts));
                    }
                    if let Some(remember) = &request.remember {
                        report.refs.push(refs.apply(remember, posted.as_ref()));
                    }
                    report.done = request.step + 1;
                }
                Outcome::RateLimited { retry_after } => {
                    report.counts_against_schedule = false;
                    return report.failed(
                        Verdict::Retry {
                            retry_after: Some(retry_after),
                        },
                        status,
                        "ratelimited".into(),
                    );
                }
                Outcome::Transient { error } => {
                    return report.failed(Verdict::Retry { retry_after: None }, status, error);
                }
                Outcome::Permanent { error, credential } => {
                    if credential {
                        report.failure_kind = Some(FailureKind::Credential);
                    }
                    return report.failed(Verdict::Permanent, status, error);
                }
            }
        }
        report
    }
}

/// The remembered messages as this attempt changes them: several steps may change one
/// (post a new root, then reply in it), each from the state the previous one left.
#[derive(Default)]
struct Remembered {
    data: HashMap<String, Value>,
}

impl Remembered {
    fn apply(
        &mut self,
        remember: &Remember,
        posted: Option<&(String, String)>,
    ) -> herald_store::model::RefWrite {
        let (key, data, group) = match remember {
            Remember::Forget(key) => {
                self.data.remove(&key.key);
                return ref_delete(key);
            }
            Remember::Answer { key, extra, group } => {
                let mut data = extra.clone();
                if let Some((channel, ts)) = posted {
                    data["channel"] = json!(channel);
                    data["ts"] = json!(ts);
                }
                (key, data, group)
            }
            Remember::Replied { key, known, group } => {
                let mut data = self.current(key, known);
                let replies = data["replies"].as_u64().unwrap_or(0);
                data["replies"] = json!(replies + 1);
                (key, data, group)
            }
            Remember::Retext {
                key,
                text,
                known,
                group,
            } => {
                let mut data = self.current(key, known);
                data["text"] = json!(text);
                (key, data, group)
            }
        };
        // A message keeps the group it was posted in, whichever action writes it next.
        let group = group
            .clone()
            .or_else(|| data["group"].as_str().map(str::to_string));
        self.data.insert(key.key.clone(), data.clone());
        ref_write(key, data, group.as_deref())
    }

    fn current(&self, key: &RefKey, known: &Option<Value>) -> Value {
        self.data
            .get(&key.key)
            .cloned()
            .or_else(|| known.clone())
            .unwrap_or_else(|| json!({}))
    }
}

impl SlackAction {
    pub(super) fn channel(&self, input: &ActionInput<'_>) -> Result<String, PlanError> {
        let template = self
            .channel
            .as_ref()
            .ok_or_else(|| PlanError::Invalid("this action has no `channel` to post to".into()))?;
        let channel = input
            .templates
            .render(template, input.context)?
            .trim()
            .to_string();
        if channel.is_empty() {
            return Err(PlanError::Invalid("`channel` renders empty".into()));
        }
        Ok(channel)
    }

    /// The reply's body, or none when it renders empty (nothing to say this time).
    pub(super) fn reply_body(
        &self,
        input: &ActionInput<'_>,
        fields: &[(&str, Value)],
    ) -> Result<Option<(Value, Value)>, PlanError> {
        let (body, shown) = self.body(input, &self.reply, fields)?;
        let empty = body.get("blocks").is_none()
            && body["text"]
                .as_str()
                .is_none_or(|text| text.trim().is_empty());
        Ok((!empty).then_some((body, shown)))
    }

    /// A JSON body: the given fields plus rendered text and blocks.
    pub(super) fn body(
        &self,
        input: &ActionInput<'_>,
        content: &Content,
        fields: &[(&str, Value)],
    ) -> Result<(Value, Value), PlanError> {
        let mut body: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut shown = body.clone();
        if let Some(text) = &content.text {
            // A template's last line break (a loop's, say) is not part of the message.
            let rendered = input.templates.render(text, input.context)?;
            body.insert("text".into(), json!(rendered.trim_end_matches('\n')));
            let redacted = input.templates.render_redacted(text, input.context)?;
            shown.insert("text".into(), json!(redacted.trim_end_matches('\n')));
        }
        if let Some(blocks) = &content.blocks {
            let rendered = input.templates.render(blocks, input.context)?;
            let parsed: Value = serde_json::from_str(&rendered).map_err(|error| {
                PlanError::Invalid(format!("`blocks` is not valid JSON: {error}"))
            })?;
            if !parsed.is_array() {
                return Err(PlanError::Invalid(
                    "`blocks` must render to a JSON array".into(),
                ));
            }
            body.insert("blocks".into(), parsed.clone());
            shown.insert("blocks".into(), parsed);
        }
        Ok((Value::Object(body), Value::Object(shown)))
    }

    /// A Web API call with a JSON body, paced per token and channel.
    pub(super) fn request(
        &self,
        method: &str,
        (body, shown): (Value, Value),
        purpose: String,
    ) -> Result<PlannedRequest, PlanError> {
        let url = url::Url::parse(&format!("{}/{method}", self.api_url.trim_end_matches('/')))
            .map_err(|error| PlanError::Invalid(format!("bad api_url: {error}")))?;
        let channel = body["channel"].as_str().unwrap_or_default().to_string();
        let mut request = PlannedRequest::json(url, &body, &shown, self.timeout)
            .bearer(&self.token)
            .purpose(purpose);
        request.pace_key = Some(format!("{}:{channel}", self.token.name()));
        Ok(request)
    }
}

/// The default API base when `api_url` is not set.
pub fn default_api_url() -> String {
    api::DEFAULT_API_URL.to_string()
}

/// `planned` aimed at the message the previous step posted: its `field` (`thread_ts` or
/// `ts`) set to that `ts`, and its channel to the id Slack answered with.
fn follow(planned: &PlannedRequest, field: &str, channel: &str, ts: &str) -> PlannedRequest {
    let mut request = planned.clone();
    let patch = |text: &str| -> Option<String> {
        let mut body: Value = serde_json::from_str(text).ok()?;
        body["channel"] = json!(channel);
        body[field] = json!(ts);
        Some(body.to_string())
    };
    if let Some(body) = request
        .body
        .as_ref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(patch)
    {
        request.body = Some(bytes::Bytes::from(body));
    }
    request
}
