//! Answering a request in its HTTP response: a chat command (a Slack slash command, a
//! button press) is stored as an event like any other, and then answered at once by the
//! action its source names in `respond_with`, from the state herald keeps in its store.
//! What takes longer goes through the outbox, like every side effect.

use crate::ingress::source::Reply;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_store::SharedStore;
use serde_json::Value;

/// What a responder answers from.
pub struct Responding<'a> {
    pub event_id: uuid::Uuid,
    pub event_type: &'a str,
    pub payload: &'a Value,
    /// Its state lives in refs (`Store::get_ref`, `list_refs`, `change_refs`).
    pub store: &'a SharedStore,
    /// For reads a reply needs (a repository's collaborators), within the reply's time.
    pub http: &'a reqwest::Client,
    pub now: DateTime<Utc>,
}

/// Answers the requests of a source in the HTTP response.
#[async_trait]
pub trait Responder: Send + Sync {
    /// The answer to send; `None` leaves herald's usual `202 {"event_id"}`.
    async fn respond(&self, request: &Responding<'_>) -> Option<Reply>;
}
