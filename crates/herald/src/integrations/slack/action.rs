//! `kind = "slack"`: post a message, and with a `key`, remember it so later events reply in
//! its thread and/or update it in place (planning in `plan.rs`).

use super::api;
use super::settings::SlackConfig;
use crate::action::{
    Action, ActionInput, CredentialCheck, Earlier, Follow, Followed, OrderingKey, Outcome, Plan,
    PlanError, PlannedRequest, Runbook,
};
use crate::core::template::TemplateRef;
use crate::secret::Secret;
use crate::transport::Answer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
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
    /// `[slack]`: how calls are paced per token and channel.
    pub settings: SlackConfig,
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

    fn credential_runbook(&self) -> Runbook {
        RUNBOOK
    }

    fn credential_checks(&self) -> Vec<CredentialCheck> {
        api::credential_check(&self.api_url, &self.token, self.timeout)
            .into_iter()
            .collect()
    }

    fn classify(&self, _request: &PlannedRequest, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        api::classify(answer.status, answer.retry_after(now), &answer.body)
    }
}

/// Replacing a revoked or rotated Slack token.
const RUNBOOK: Runbook = Runbook {
    before: &[
        "Open the Slack app at https://api.slack.com/apps → OAuth & Permissions; reinstall the app if the token was revoked, and copy the Bot User OAuth Token (`xoxb-…`). It needs the `chat:write` scope.",
    ],
    after: &[],
};

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
        let pace = self
            .settings
            .pace(format!("{}:{channel}", self.token.name()));
        Ok(PlannedRequest::json(url, &body, &shown, self.timeout)
            .bearer(&self.token)
            .purpose(purpose)
            .paced(pace))
    }
}

/// Aims a step at the message an earlier step of the same attempt posted (a reply to a
/// root posted just now): sets its `field` (`thread_ts` or `ts`) to that message's `ts`,
/// and its channel to the id Slack answered with.
#[derive(Debug)]
pub struct FollowPost {
    pub field: &'static str,
}

impl Follow for FollowPost {
    fn apply(&self, request: &PlannedRequest, earlier: &Earlier) -> Result<Followed, String> {
        let mut request = request.clone();
        let Some(posted) = earlier
            .latest_first()
            .find(|facts| facts["channel"].is_string() && facts["ts"].is_string())
        else {
            return Ok(Followed::Send(Box::new(request)));
        };
        let patched = request
            .body
            .as_ref()
            .and_then(|body| serde_json::from_slice::<Value>(body).ok())
            .map(|mut body| {
                body["channel"] = posted["channel"].clone();
                body[self.field] = posted["ts"].clone();
                body.to_string()
            });
        if let Some(body) = patched {
            request.body = Some(bytes::Bytes::from(body));
        }
        Ok(Followed::Send(Box::new(request)))
    }
}
