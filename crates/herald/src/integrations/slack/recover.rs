//! Posting a root message once, even across a crash. Slack has no idempotency key, so each
//! root carries message metadata naming its delivery and step; when an earlier attempt may
//! have posted it without herald hearing back, the channel's recent history is read first
//! and a root found there is adopted instead of posted again.

use super::action::SlackAction;
use super::api;
use crate::action::{Attempting, Lookup, Outcome, PlanError, PlannedRequest, Recover};
use crate::transport::Answer;
use chrono::{DateTime, Utc};
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

/// The metadata `event_type` of the roots herald posts.
pub const ROOT_EVENT_TYPE: &str = "herald_root";

/// How many of the channel's newest messages are read. A root lost in a crash was posted
/// moments before it; older messages than the delivery are not asked for at all.
const HISTORY_LIMIT: u32 = 200;

/// Tag a root's body (and its shown twin) with the delivery and step that post it.
pub(super) fn tag(body: &mut (Value, Value), delivery: &Attempting, step: usize) {
    let metadata = json!({
        "event_type": ROOT_EVENT_TYPE,
        "event_payload": { "delivery": delivery.id.to_string(), "step": step },
    });
    body.0["metadata"] = metadata.clone();
    body.1["metadata"] = metadata;
}

/// Looks for the root a delivery's step posted in `channel`'s history.
#[derive(Debug)]
pub(super) struct RootLookup {
    request: PlannedRequest,
    channel: String,
    delivery: String,
    step: usize,
}

impl RootLookup {
    pub(super) fn new(
        action: &SlackAction,
        channel: &str,
        delivery: &Attempting,
        step: usize,
    ) -> Result<Self, PlanError> {
        let base = format!(
            "{}/conversations.history",
            action.api_url.trim_end_matches('/')
        );
        // The root cannot be older than its delivery; a minute covers clock skew.
        let oldest = delivery.created_at.timestamp() - 60;
        let url = url::Url::parse_with_params(
            &base,
            [
                ("channel", channel),
                ("oldest", &oldest.to_string()),
                ("limit", &HISTORY_LIMIT.to_string()),
                ("include_all_metadata", "true"),
            ],
        )
        .map_err(|error| PlanError::Invalid(format!("bad api_url: {error}")))?;
        let request =
            PlannedRequest::new(Method::GET, url.clone(), url.to_string(), action.timeout)
                .bearer(&action.token)
                .purpose("look in the channel for a root an interrupted attempt posted");
        Ok(RootLookup {
            request,
            channel: channel.to_string(),
            delivery: delivery.id.to_string(),
            step,
        })
    }

    fn is_ours(&self, message: &Message) -> bool {
        let Some(metadata) = &message.metadata else {
            return false;
        };
        let payload = &metadata.event_payload;
        metadata.event_type == ROOT_EVENT_TYPE
            && payload["delivery"].as_str() == Some(self.delivery.as_str())
            && payload["step"].as_u64() == Some(self.step as u64)
    }
}

/// The fields herald reads from a `conversations.history` answer.
#[derive(Debug, Deserialize)]
struct History {
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    ts: String,
    metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    event_type: String,
    #[serde(default)]
    event_payload: Value,
}

impl Recover for RootLookup {
    fn lookup(&self) -> &PlannedRequest {
        &self.request
    }

    fn found(&self, answer: &Answer, now: DateTime<Utc>) -> Lookup {
        match api::classify(answer.status, answer.retry_after(now), &answer.body) {
            Outcome::Done { .. } => {}
            Outcome::Permanent { error } => {
                // No `channels:history` scope, a channel given by name: herald cannot look,
                // and posting again is better than never posting.
                tracing::warn!(
                    channel = %self.channel, error = %error,
                    "Cannot read the channel's history to find an interrupted root post; posting it again"
                );
                return Lookup::NotDone;
            }
            failed => return Lookup::Failed(failed),
        }
        let history: History = match serde_json::from_str(&answer.body) {
            Ok(history) => history,
            Err(error) => {
                return Lookup::Failed(Outcome::transient(format!(
                    "unreadable conversations.history answer: {error}"
                )));
            }
        };
        match history
            .messages
            .iter()
            .find(|message| self.is_ours(message))
        {
            Some(message) => Lookup::Done(json!({ "channel": self.channel, "ts": message.ts })),
            None => Lookup::NotDone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lookup() -> RootLookup {
        let url = url::Url::parse("https://slack.example/api/conversations.history").unwrap();
        RootLookup {
            request: PlannedRequest::new(Method::GET, url, String::new(), Duration::from_secs(1)),
            channel: "C1".into(),
            delivery: "d-1".into(),
            step: 0,
        }
    }

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            headers: http::HeaderMap::new(),
            body: body.to_string(),
        }
    }

    fn tagged(ts: &str, delivery: &str, step: u64) -> Value {
        json!({"ts": ts, "text": "x", "metadata": {"event_type": ROOT_EVENT_TYPE,
            "event_payload": {"delivery": delivery, "step": step}}})
    }

    #[test]
    fn the_root_of_this_delivery_and_step_is_adopted() {
        let history = json!({"ok": true, "messages": [
            {"ts": "3.0", "text": "someone else"},
            tagged("2.0", "d-2", 0),
            tagged("1.5", "d-1", 3),
            tagged("1.0", "d-1", 0),
        ]});
        let found = lookup().found(&answer(200, history), Utc::now());
        assert_eq!(found, Lookup::Done(json!({"channel": "C1", "ts": "1.0"})));
    }

    #[test]
    fn no_root_of_this_delivery_means_post_it() {
        let history = json!({"ok": true, "messages": [tagged("2.0", "d-2", 0)]});
        let found = lookup().found(&answer(200, history), Utc::now());
        assert_eq!(found, Lookup::NotDone);
    }

    #[test]
    fn a_history_that_cannot_be_read_means_post_it() {
        let refused = json!({"ok": false, "error": "missing_scope"});
        let found = lookup().found(&answer(200, refused), Utc::now());
        assert_eq!(found, Lookup::NotDone);
    }

    #[test]
    fn a_rate_limited_or_failing_lookup_retries_instead_of_posting() {
        let limited = lookup().found(&answer(429, json!({"ok": false})), Utc::now());
        assert!(
            matches!(limited, Lookup::Failed(Outcome::RateLimited { .. })),
            "{limited:?}"
        );
        let down = lookup().found(&answer(503, json!({})), Utc::now());
        assert!(
            matches!(down, Lookup::Failed(Outcome::Transient { .. })),
            "{down:?}"
        );
        let revoked = json!({"ok": false, "error": "token_revoked"});
        let revoked = lookup().found(&answer(200, revoked), Utc::now());
        assert!(
            matches!(revoked, Lookup::Failed(Outcome::Credential { .. })),
            "{revoked:?}"
        );
    }
}
