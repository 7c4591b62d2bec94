//! `kind = "slack"`: post a message, and with a `key`, remember it so later events reply in
//! its thread and/or update it in place.

use super::api::{self, Outcome};
use crate::action::{
    Action, ActionDeps, ActionInput, AttemptReport, FailureKind, OrderingKey, Plan, PlanError,
    PlannedRequest, RefKey, ref_write,
};
use crate::core::classify::Verdict;
use crate::core::template::TemplateRef;
use crate::integrations::http::send;
use crate::secret::Secret;
use async_trait::async_trait;
use serde_json::{Map, Value, json};
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
    pub timeout: Duration,
    /// The key's message, or else the channel: work on one message, and plain posts to one
    /// channel, happen one at a time and in order.
    pub ordering: OrderingKey,
}

/// The existing message a key names.
struct Known {
    channel: String,
    ts: String,
}

#[async_trait]
impl Action for SlackAction {
    fn kind(&self) -> &'static str {
        super::ACTION_KIND
    }

    fn ordering_key(&self) -> Option<&OrderingKey> {
        Some(&self.ordering)
    }

    fn credential_secrets(&self) -> Vec<&str> {
        vec![self.token.name()]
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        let Some(key_template) = &self.key else {
            let channel = self.channel(input)?;
            let body = self.body(input, &self.message, &[("channel", json!(channel))])?;
            let request =
                self.request("chat.postMessage", body, format!("post to {channel}"), None)?;
            return Ok(Plan::of(vec![request]));
        };
        let key = input
            .templates
            .render(key_template, input.context)?
            .trim()
            .to_string();
        let known = input
            .refs
            .get(REF_KIND, &key)
            .await
            .map_err(PlanError::Invalid)?;
        match known.as_ref().and_then(known_message) {
            Some(known) => self.plan_existing(input, &key, &known),
            None => self.plan_missing(input, &key),
        }
    }

    async fn execute(&self, plan: &Plan, deps: &ActionDeps, done: usize) -> AttemptReport {
        let mut report = AttemptReport::success(None, None);
        report.done = done.max(plan.first_step);
        // The message the previous step posted: a reply to a new root goes in its thread.
        let mut posted: Option<(String, String)> = None;
        for planned in plan.remaining(done) {
            let threaded;
            let request = match (&posted, planned.thread_from_previous) {
                (Some((channel, ts)), true) => {
                    threaded = in_thread(planned, channel, ts);
                    &threaded
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
                        if let Some(remember) = &request.remember {
                            report
                                .refs
                                .push(ref_write(remember, json!({ "channel": channel, "ts": ts })));
                        }
                        posted = Some((channel, ts));
                    }
                    report.done += 1;
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

impl SlackAction {
    fn channel(&self, input: &ActionInput<'_>) -> Result<String, PlanError> {
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

    /// No message yet for the key: post the root and remember it, skip, or fail.
    fn plan_missing(&self, input: &ActionInput<'_>, key: &str) -> Result<Plan, PlanError> {
        match self.if_missing {
            IfMissing::Skip => Ok(Plan::note(format!(
                "no Slack message for key {key:?} yet: nothing to do"
            ))),
            IfMissing::Fail => Err(PlanError::Invalid(format!(
                "no Slack message for key {key:?}"
            ))),
            IfMissing::Post => {
                let channel = self.channel(input)?;
                let body = self.body(input, &self.message, &[("channel", json!(channel))])?;
                let purpose =
                    format!("post the root message for key {key:?} to {channel} (none yet)");
                let remember = RefKey {
                    kind: REF_KIND,
                    key: key.to_string(),
                };
                let mut requests =
                    vec![self.request("chat.postMessage", body, purpose, Some(remember))?];
                if self.reply_to_new && !self.reply.is_empty() {
                    let fields = [("channel", json!(channel))];
                    if let Some(body) = self.reply_body(input, &fields)? {
                        let purpose = "reply in the thread of that new message".to_string();
                        let mut reply = self.request("chat.postMessage", body, purpose, None)?;
                        reply.thread_from_previous = true;
                        requests.push(reply);
                    }
                }
                Ok(Plan::of(requests))
            }
        }
    }

    /// The key's message exists: reply in its thread and/or update it.
    fn plan_existing(
        &self,
        input: &ActionInput<'_>,
        key: &str,
        known: &Known,
    ) -> Result<Plan, PlanError> {
        let mut requests = Vec::new();
        let fields = [
            ("channel", json!(known.channel)),
            ("thread_ts", json!(known.ts)),
        ];
        if !self.reply.is_empty()
            && let Some(body) = self.reply_body(input, &fields)?
        {
            let purpose = format!(
                "reply in the thread of key {key:?} ({} {})",
                known.channel, known.ts
            );
            requests.push(self.request("chat.postMessage", body, purpose, None)?);
        }
        if self.update {
            let fields = [("channel", json!(known.channel)), ("ts", json!(known.ts))];
            let body = self.body(input, &self.message, &fields)?;
            let purpose = format!(
                "update the message of key {key:?} ({} {})",
                known.channel, known.ts
            );
            requests.push(self.request("chat.update", body, purpose, None)?);
        }
        if requests.is_empty() {
            return Ok(Plan::note(format!(
                "the message for key {key:?} exists: nothing to do"
            )));
        }
        // Step 0 (posting the root) is done: a retry of a delivery that posted it resumes
        // with the reply, planned this way.
        Ok(Plan {
            first_step: 1,
            ..Plan::of(requests)
        })
    }

    /// The reply's body, or none when its text renders empty (nothing to say this time).
    fn reply_body(
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
    fn body(
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

    fn request(
        &self,
        method: &str,
        (body, shown): (Value, Value),
        purpose: String,
        remember: Option<RefKey>,
    ) -> Result<PlannedRequest, PlanError> {
        let url = url::Url::parse(&format!("{}/{method}", self.api_url.trim_end_matches('/')))
            .map_err(|error| PlanError::Invalid(format!("bad api_url: {error}")))?;
        let channel = body["channel"].as_str().unwrap_or_default().to_string();
        let mut request = PlannedRequest::json(url, &body, &shown, self.timeout)
            .bearer(&self.token)
            .purpose(purpose);
        request.remember = remember;
        request.pace_key = Some(format!("{}:{channel}", self.token.name()));
        Ok(request)
    }
}

fn known_message(data: &Value) -> Option<Known> {
    Some(Known {
        channel: data["channel"].as_str()?.to_string(),
        ts: data["ts"].as_str()?.to_string(),
    })
}

/// The default API base when `api_url` is not set.
pub fn default_api_url() -> String {
    api::DEFAULT_API_URL.to_string()
}

/// `planned`, posted in the thread of `ts` in `channel` (the id Slack answered with).
fn in_thread(planned: &PlannedRequest, channel: &str, ts: &str) -> PlannedRequest {
    let mut request = planned.clone();
    let patch = |text: &str| -> Option<String> {
        let mut body: Value = serde_json::from_str(text).ok()?;
        body["channel"] = json!(channel);
        body["thread_ts"] = json!(ts);
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
