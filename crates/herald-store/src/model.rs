//! The records herald keeps: events, deliveries (the outbox), their attempts, and refs.
//!
//! These are plain data. Every timestamp is UTC and comes from the caller's clock, never
//! from the database, so tests can move time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use uuid::Uuid;

use crate::compress::Effort;

mod pollers;
pub use pollers::*;

pub type Timestamp = DateTime<Utc>;

/// An accepted input, ready to be written to the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: Uuid,
    pub source: String,
    pub event_type: String,
    /// The sender's delivery id; a second event with the same (source, key) is a duplicate.
    pub dedup_key: Option<String>,
    pub received_at: Timestamp,
    /// Request headers worth keeping (signature and credential headers removed).
    pub headers: BTreeMap<String, String>,
    pub payload: JsonText,
    /// The registered hook the event came through, if any.
    pub hook: Option<EventHook>,
}

/// A JSON document as the text the store keeps. Whoever makes an event encodes it, so the
/// single writer that commits every event only copies it.
#[derive(Debug, Clone)]
pub struct JsonText {
    text: Box<RawValue>,
    /// The text as a zstd frame, made on first use (see `compressed`).
    compressed: OnceLock<Option<Box<[u8]>>>,
}

impl JsonText {
    pub fn encode(value: &Value) -> JsonText {
        // A `Value` always encodes: its map keys are strings.
        JsonText {
            text: serde_json::value::to_raw_value(value).expect("a JSON value encodes"),
            compressed: OnceLock::new(),
        }
    }

    pub fn as_str(&self) -> &str {
        self.text.get()
    }

    pub fn as_raw(&self) -> &RawValue {
        &self.text
    }

    /// The document as a value again.
    pub fn decode(&self) -> Value {
        // The text came from a `Value`, so it parses.
        serde_json::from_str(self.as_str()).unwrap_or(Value::Null)
    }

    /// The text as a zstd frame, for a backend that does not compress large values itself
    /// (SQLite) or should not parse a payload (PostgreSQL, migration 0018). None when the
    /// text is too short to gain, or compressing fails. Made once: the `Writer` asks for it
    /// on the caller's task.
    pub fn compressed(&self) -> Option<&[u8]> {
        self.compressed_with(Effort::Fast)
    }

    /// The same, at `effort`. A document is compressed once, at the effort first asked
    /// for: an event's payload fast, on the request's path; an attempt's request small.
    pub(crate) fn compressed_with(&self, effort: Effort) -> Option<&[u8]> {
        self.compressed
            .get_or_init(|| crate::compress::compress(self.as_str().as_bytes(), effort))
            .as_deref()
    }

    /// The text as a zstd frame made against `dictionary` (`compress::compress_against`),
    /// made only if the text is long enough to be compressed. Shares `compressed`'s one
    /// frame: a document is compressed once, the way first asked for.
    pub(crate) fn compressed_against(
        &self,
        effort: Effort,
        dictionary: impl FnOnce() -> Vec<u8>,
    ) -> Option<&[u8]> {
        self.compressed
            .get_or_init(|| {
                let text = self.as_str().as_bytes();
                (text.len() >= crate::compress::FROM_BYTES)
                    .then(|| crate::compress::compress_against(text, &dictionary(), effort))
                    .flatten()
            })
            .as_deref()
    }

    /// The text as a zstd frame made against a dictionary trained on payloads like it
    /// (`crate::trained`), from a shorter length than a frame alone: 0.5 KB of JSON gains
    /// from one. Shares `compressed`'s one frame.
    pub(crate) fn compressed_trained(&self, dictionary: &crate::trained::Trained) -> Option<&[u8]> {
        self.compressed
            .get_or_init(|| crate::trained::compress(self.as_str().as_bytes(), dictionary))
            .as_deref()
    }

    /// The text of a zstd frame made by `compressed`.
    pub fn decompress(frame: &[u8]) -> std::io::Result<String> {
        crate::compress::decompress(frame)
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> JsonText {
        JsonText::encode(&value)
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &JsonText) -> bool {
        self.as_str() == other.as_str()
    }
}

impl JsonText {
    /// Text already known to be one JSON document (a parser has checked it), kept as it
    /// was written: a request body is stored as it came, without parsing it into a value
    /// and printing it again.
    pub fn from_raw(text: Box<RawValue>) -> JsonText {
        JsonText {
            text,
            compressed: OnceLock::new(),
        }
    }
}

/// A JSON document shared by those who read it (routing, templates, the outbox): its text,
/// its value, or both, each made from the other on first use. A webhook's payload is kept
/// as the text it came in, and parsed only if a filter or a template reads into it.
#[derive(Debug)]
pub struct Document {
    text: OnceLock<JsonText>,
    value: OnceLock<Value>,
}

impl Document {
    pub fn from_value(value: Value) -> Document {
        Document {
            text: OnceLock::new(),
            value: OnceLock::from(value),
        }
    }

    pub fn from_text(text: JsonText) -> Document {
        Document {
            text: OnceLock::from(text),
            value: OnceLock::new(),
        }
    }

    /// The document as a value, parsed on first use.
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| parsed(self.text.get()))
    }

    /// The document as text: as it came, or printed from its value.
    pub fn text(&self) -> &JsonText {
        self.text.get_or_init(|| JsonText::encode(self.value()))
    }

    /// The document as a value, taken rather than copied.
    pub fn into_value(self) -> Value {
        match self.value.into_inner() {
            Some(value) => value,
            None => parsed(self.text.get()),
        }
    }

    /// Whether it has been parsed (or was made from a value).
    pub fn is_parsed(&self) -> bool {
        self.value.get().is_some()
    }

    /// The text's length in bytes, without printing it (0 before it is made).
    pub fn text_len(&self) -> usize {
        self.text.get().map_or(0, |text| text.as_str().len())
    }

    /// The document printed from its value, as the store prints a payload a request is
    /// kept against (`common::request_frame`): the same whatever text it came as.
    pub fn canonical(&self) -> String {
        self.value().to_string()
    }
}

/// A document's text as a value. Made from a value or from text a parser checked, so it
/// parses.
fn parsed(text: Option<&JsonText>) -> Value {
    let text = text.map(JsonText::as_str).unwrap_or("null");
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl From<Value> for Document {
    fn from(value: Value) -> Document {
        Document::from_value(value)
    }
}

impl std::ops::Deref for Document {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl PartialEq for Document {
    fn eq(&self, other: &Document) -> bool {
        self.value() == other.value()
    }
}

impl PartialEq<Value> for Document {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl Clone for Document {
    /// A copy of what is made so far.
    fn clone(&self) -> Document {
        Document {
            text: self.text.clone(),
            value: self.value.clone(),
        }
    }
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub source: String,
    pub event_type: String,
    pub dedup_key: Option<String>,
    pub received_at: Timestamp,
    pub headers: BTreeMap<String, String>,
    pub payload: Value,
    /// The registered hook the event came through, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<EventHook>,
}

/// The registered hook an event was delivered to (`/hooks/{source}/{id}`), kept with the
/// event so rules and templates see it as `meta.hook`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventHook {
    pub id: String,
    pub repository: String,
}

/// An event and the deliveries its rules produced: written in one transaction, so no event
/// is ever stored without its outbox rows.
#[derive(Debug, Clone, PartialEq)]
pub struct EventWithDeliveries {
    pub event: NewEvent,
    pub deliveries: Vec<NewDelivery>,
    /// The windows the event joins, if it is stored (a duplicate joins none).
    pub windows: Vec<WindowEntry>,
}

/// What happened to one event of an append batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AppendOutcome {
    /// Stored now, with its deliveries.
    Stored { event_id: Uuid },
    /// The (source, dedup key) was already stored: nothing was written.
    Duplicate { event_id: Uuid },
}

impl AppendOutcome {
    pub fn event_id(&self) -> Uuid {
        match self {
            AppendOutcome::Stored { event_id } | AppendOutcome::Duplicate { event_id } => *event_id,
        }
    }
}

/// One action to carry out, as written to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: Uuid,
    pub event_id: Option<Uuid>,
    pub rule: String,
    pub action: String,
    /// Unique across the outbox: (event, rule, action) for a rule match.
    pub idempotency_key: String,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    /// Deliveries sharing a key run one at a time, in (created_at, id) order.
    pub ordering_key: Option<String>,
    /// The window whose flush made the delivery (a flush sets it whatever is given).
    pub window_id: Option<Uuid>,
    /// Leased as it is inserted, to the process inserting it, which runs it without a
    /// claim (`born_claimed`). Appends only: a flush's deliveries are claimed as usual.
    pub lease: Option<NewLease>,
}

/// The lease a delivery is inserted with: as a claim's, but set by the insert itself.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLease {
    pub token: Uuid,
    pub until: Timestamp,
    /// Who holds the lease, for operators reading the table.
    pub owner: String,
}

impl NewDelivery {
    /// The delivery as its insert leased it, as a claim would have returned it: none
    /// without a lease.
    pub fn born_claimed(&self) -> Option<ClaimedDelivery> {
        let lease = self.lease.as_ref()?;
        Some(ClaimedDelivery {
            delivery: Delivery {
                id: self.id,
                event_id: self.event_id,
                rule: self.rule.clone(),
                action: self.action.clone(),
                idempotency_key: self.idempotency_key.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                retries_used: 0,
                next_attempt_at: self.next_attempt_at,
                lease_until: Some(lease.until),
                created_at: self.created_at,
                updated_at: self.created_at,
                last_status_code: None,
                last_error: None,
                ordering_key: self.ordering_key.clone(),
                progress: 0,
                failure_kind: None,
                window_id: self.window_id,
                claims: 1,
            },
            lease_token: lease.token,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (possibly leased by a worker right now).
    Pending,
    Succeeded,
    /// Its retry schedule ended or it failed permanently; kept until replayed or pruned.
    Dead,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [Self::Pending, Self::Succeeded, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Dead => "dead",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!("unknown delivery status {s:?} (expected pending, succeeded or dead)")
            })
    }
}

/// A delivery as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: Uuid,
    pub event_id: Option<Uuid>,
    pub rule: String,
    pub action: String,
    pub idempotency_key: String,
    pub status: DeliveryStatus,
    /// Attempts made over the delivery's whole life.
    pub attempts: i32,
    /// Attempts counted against the retry schedule; a replay resets it.
    pub retries_used: i32,
    pub next_attempt_at: Timestamp,
    /// Set while a worker holds the delivery; an expired lease may be claimed again.
    pub lease_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub ordering_key: Option<String>,
    /// Steps of a multi-request action done so far; a retry resumes after them.
    pub progress: i32,
    /// Why the last attempt failed, when that matters beyond this delivery.
    pub failure_kind: Option<FailureKind>,
    /// The window whose flush made the delivery.
    pub window_id: Option<Uuid>,
    /// Times the delivery was leased since its last recorded attempt, this lease included.
    pub claims: i32,
}

impl Delivery {
    /// Whether an earlier attempt may have sent something herald never heard back about:
    /// a process died (or stopped) holding the delivery, or the last attempt got no answer
    /// (a timeout, a reset connection).
    pub fn outcome_unknown(&self) -> bool {
        let unrecorded_claim = self.claims > 1;
        let unanswered = self.attempts > 0 && self.last_status_code.is_none();
        unrecorded_claim || unanswered
    }
}

/// Why an attempt failed, when the cause is shared with other deliveries (so operators can
/// find every delivery a bad credential broke).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The destination refused the credential (revoked or expired token).
    Credential,
}

impl FailureKind {
    pub const ALL: [FailureKind; 1] = [Self::Credential];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credential => "credential",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

/// A delivery claimed by a worker. Every delivery of one claim shares its token; (id,
/// token) fences the lease: completing with a stale token (the lease expired and someone
/// else claimed it) is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub delivery: Delivery,
    pub lease_token: Uuid,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRequest {
    pub now: Timestamp,
    pub lease_until: Timestamp,
    /// Who holds the lease, for operators reading the table.
    pub owner: String,
    pub limit: u32,
    /// Deliveries of these actions are left for later: the claimer already runs as many
    /// of them as it lets one action have (a slow destination takes only its share).
    pub skip_actions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Success,
    /// Failed, will be tried again.
    Retry,
    /// Failed, and no further attempt will be made (permanent error or schedule ended).
    Failed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Retry => "retry",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Success, Self::Retry, Self::Failed]
            .into_iter()
            .find(|outcome| outcome.as_str() == s)
    }
}

/// One recorded attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub delivery_id: Uuid,
    /// 1 for the first attempt, counting across replays.
    pub number: i32,
    pub started_at: Timestamp,
    pub duration_ms: i64,
    pub outcome: AttemptOutcome,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// The rendered request, with secrets redacted.
    pub request: Option<Value>,
    /// The response body, truncated.
    pub response_body: Option<String>,
}

/// What the worker learnt from an attempt, and what happens to the delivery next.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub delivery_id: Uuid,
    pub lease_token: Uuid,
    pub started_at: Timestamp,
    pub duration_ms: i64,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// The rendered request, with secrets redacted, encoded by the caller: SQLite
    /// compresses a large one before the writer takes it (`Store::prepare_complete`).
    pub request: Option<JsonText>,
    /// The payload of the delivery's event, as the executor rendered the request from it,
    /// when the request was made from that event: most of an `http` action's request is
    /// the payload itself, so both backends compress the request against it (SQLite's
    /// migration 0015, PostgreSQL's 0019) and read it back with the stored payload. None
    /// for a window's delivery. Shared with the delivery's template context.
    pub payload: Option<std::sync::Arc<Document>>,
    /// The response body, truncated (to `[delivery] response_body_limit`).
    pub response_body: Option<String>,
    pub next: NextStep,
    /// When the record is written; becomes the delivery's `updated_at`.
    pub now: Timestamp,
    /// The delivery's progress after this attempt.
    pub progress: i32,
    /// Set on the delivery as is: a success or a plain retry clears it.
    pub failure_kind: Option<FailureKind>,
    /// What the external system returned, to remember. Written even when the lease token
    /// no longer holds the delivery: the work was done either way.
    pub refs: Vec<RefWrite>,
}

/// A ref to write: insert it, or replace the data and group of the ref with the same kind
/// and key; or, with `delete`, delete that ref (if there is one). The writes of a record
/// apply in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefWrite {
    pub kind: String,
    pub key: String,
    /// Ignored by a delete.
    pub data: Value,
    /// The group the ref is listed under by [`Store::list_refs`](crate::Store::list_refs);
    /// an upsert sets it (None clears it). Ignored by a delete.
    #[serde(default)]
    pub group: Option<String>,
    /// Delete the (kind, key) ref instead of writing it.
    #[serde(default)]
    pub delete: bool,
}

/// Refs changed together, on conditions (chat-ops state: a channel linked to one repository
/// and back). See [`Store::change_refs`](crate::Store::change_refs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefChange {
    /// (kind, key) pairs that must not exist.
    pub absent: Vec<(String, String)>,
    /// (kind, key) pairs that must exist.
    pub present: Vec<(String, String)>,
    /// Applied in order, as the writes of one attempt record are.
    pub writes: Vec<RefWrite>,
    /// Written as the refs' `updated_at` (and `created_at` of new ones).
    pub now: Timestamp,
}

/// What an external system returned for a key (a Slack message, a GitHub deployment), kept
/// so later deliveries can refer to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ref {
    pub kind: String,
    pub key: String,
    pub data: Value,
    /// The group of the last write, if it had one.
    pub group: Option<String>,
    pub created_at: Timestamp,
    /// The `now` of the last attempt record that wrote it.
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NextStep {
    Succeeded,
    /// Try again at this time. `counts_against_schedule` is false for waits the
    /// destination asked for (rate limits) that should not use up the schedule.
    Retry {
        at: Timestamp,
        counts_against_schedule: bool,
    },
    Dead,
}

impl NextStep {
    pub fn outcome(&self) -> AttemptOutcome {
        match self {
            NextStep::Succeeded => AttemptOutcome::Success,
            NextStep::Retry { .. } => AttemptOutcome::Retry,
            NextStep::Dead => AttemptOutcome::Failed,
        }
    }
}

/// Writes that share one transaction: appends first, then completions, then claims, so a
/// claim sees the rows completed (or appended) in the same batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteBatch<'a> {
    pub appends: &'a [EventWithDeliveries],
    pub completions: &'a [AttemptRecord],
    pub claims: &'a [ClaimRequest],
}

impl WriteBatch<'_> {
    pub fn is_empty(&self) -> bool {
        self.appends.is_empty() && self.completions.is_empty() && self.claims.is_empty()
    }

    /// Jobs in the batch: one per append, completion and claim.
    pub fn len(&self) -> usize {
        self.appends.len() + self.completions.len() + self.claims.len()
    }
}

/// What a [`WriteBatch`] did, one entry per input, in input order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteResults {
    pub appended: Vec<AppendOutcome>,
    /// False where the lease token no longer held the delivery (nothing was written).
    pub completed: Vec<bool>,
    pub claimed: Vec<Vec<ClaimedDelivery>>,
}

/// Filters for listing events; every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventQuery {
    pub source: Option<String>,
    pub event_type: Option<String>,
    /// On `received_at`, inclusive.
    pub since: Option<Timestamp>,
    /// On `received_at`, exclusive.
    pub until: Option<Timestamp>,
    /// Only events with an id smaller than this (ids are time-ordered UUIDv7): paging.
    pub before: Option<Uuid>,
    pub limit: u32,
}

/// When events were received and deliveries created, newest first (`Store::activity_since`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub events: Vec<Timestamp>,
    pub deliveries: Vec<Timestamp>,
}

/// Filters for listing deliveries; every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryQuery {
    pub status: Option<DeliveryStatus>,
    pub rule: Option<String>,
    pub action: Option<String>,
    pub event_id: Option<Uuid>,
    /// On `created_at`, inclusive.
    pub since: Option<Timestamp>,
    /// On `created_at`, exclusive.
    pub until: Option<Timestamp>,
    pub before: Option<Uuid>,
    pub limit: u32,
}

/// Which deliveries a replay re-queues: explicit ids, or every delivery matching a filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaySelector {
    Ids(Vec<Uuid>),
    Filter(ReplayFilter),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayFilter {
    pub rule: Option<String>,
    pub action: Option<String>,
    /// Deliveries still pending are never replayed by filter (they will run anyway).
    pub status: Option<DeliveryStatus>,
    /// On `created_at`, inclusive.
    pub since: Option<Timestamp>,
    /// On `created_at`, exclusive.
    pub until: Option<Timestamp>,
}

/// How many deliveries wait in the outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub pending: i64,
    /// Pending and due now (not waiting for a retry time).
    pub due: i64,
    pub dead: i64,
}

/// What to prune. `None` leaves that kind of record alone.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PrunePolicy {
    /// Delete succeeded deliveries (and their attempts) updated before this.
    pub succeeded_before: Option<Timestamp>,
    /// Delete dead deliveries (and their attempts) updated before this. Explicit only.
    pub dead_before: Option<Timestamp>,
    /// Delete events received before this that no remaining delivery or window refers to,
    /// and first the windows flushed before this that no remaining delivery refers to.
    pub events_before: Option<Timestamp>,
    /// Delete refs last written (`updated_at`) before this, except durable ones (see
    /// [`DURABLE_REF_PREFIX`]).
    pub refs_before: Option<Timestamp>,
}

/// Refs whose kind starts with this are state people set (a channel linked to a
/// repository), not answers remembered for a while: retention never prunes them.
pub const DURABLE_REF_PREFIX: &str = "durable:";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub events: u64,
    pub deliveries: u64,
    pub refs: u64,
    /// Flushed windows, with their membership rows.
    pub windows: u64,
}

/// What a monitor remembers about one subject between runs (e.g. whether it has already
/// alerted on an action), so a restart or another replica picks up where it left off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorState {
    pub monitor: String,
    pub subject: String,
    pub data: Value,
    pub updated_at: Timestamp,
}

/// How actions, sources and rules are doing, from what the store holds (pruned records no
/// longer count). Each list is sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub actions: Vec<ActionHealth>,
    pub sources: Vec<SourceHealth>,
    pub rules: Vec<RuleHealth>,
}

/// One action, over the attempts of its deliveries. Of two attempts with the same
/// `started_at`, the one with the larger (delivery id, number) is the later.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionHealth {
    pub action: String,
    /// The latest attempt with outcome success.
    pub last_success_at: Option<Timestamp>,
    /// The latest attempt with outcome retry or failed.
    pub last_failure_at: Option<Timestamp>,
    /// That attempt's status code.
    pub last_failure_status: Option<i32>,
    /// That attempt's error.
    pub last_failure_error: Option<String>,
    /// The failure kind of that attempt's delivery, as it is now.
    pub last_failure_kind: Option<FailureKind>,
    /// Attempts with outcome retry or failed after the last success (all of them if none
    /// succeeded).
    pub failure_streak: i64,
    /// Deliveries of the action that are pending.
    pub pending: i64,
    /// Deliveries of the action that are dead.
    pub dead: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceHealth {
    pub source: String,
    /// When the newest stored event of the source was received.
    pub last_event_at: Option<Timestamp>,
    /// Events of the source stored.
    pub events: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleHealth {
    pub rule: String,
    /// When the newest delivery the rule produced was created.
    pub last_delivery_at: Option<Timestamp>,
    /// Deliveries of the rule that are dead.
    pub dead: i64,
}

/// An event joining the open window of (rule, group key), with the timing that places the
/// window's flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowEntry {
    pub rule: String,
    pub group_key: String,
    pub timing: WindowTiming,
}

/// When a window is due; see [`WindowTiming::due_at`]. Durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowTiming {
    /// Due once no event has joined for this long.
    pub quiet_ms: Option<i64>,
    /// Due at the end of the bucket (multiples of this since the unix epoch) of the last
    /// event. Not positive: no bucket.
    pub bucket_ms: Option<i64>,
    /// Due at the latest this long after the window opened.
    pub max_wait_ms: i64,
    /// Due at once when the window holds this many events.
    pub max_count: Option<i64>,
}

impl WindowTiming {
    /// When a window opened at `opened_at`, whose last event came at `last_event_at` and
    /// which holds `count` events, is due: at its last event once it holds `max_count`;
    /// otherwise at the later of `last + quiet` and the end of the last event's bucket (or
    /// at its last event with neither), but no later than `opened_at + max_wait`.
    pub fn due_at(&self, opened_at: Timestamp, last_event_at: Timestamp, count: i64) -> Timestamp {
        if self.max_count.is_some_and(|max| count >= max) {
            return last_event_at;
        }
        let quiet = self.quiet_ms.map(|ms| add_ms(last_event_at, ms));
        let bucket = self
            .bucket_ms
            .filter(|&ms| ms > 0)
            .map(|ms| end_of_bucket(last_event_at, ms));
        // `None` orders before any time, so this is the later of those that apply.
        let settled = quiet.max(bucket).unwrap_or(last_event_at);
        settled.min(add_ms(opened_at, self.max_wait_ms))
    }
}

/// `time` plus `ms` (negative counts as zero); saturates instead of overflowing.
fn add_ms(time: Timestamp, ms: i64) -> Timestamp {
    chrono::TimeDelta::try_milliseconds(ms.max(0))
        .and_then(|delta| time.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first multiple of `bucket_ms` since the unix epoch strictly after `time`.
fn end_of_bucket(time: Timestamp, bucket_ms: i64) -> Timestamp {
    time.timestamp_millis()
        .div_euclid(bucket_ms)
        .checked_add(1)
        .and_then(|n| n.checked_mul(bucket_ms))
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStatus {
    /// Gathering events (possibly leased by a flusher right now).
    Open,
    /// Closed by a flush; its deliveries were written with it.
    Flushed,
}

impl WindowStatus {
    pub const ALL: [WindowStatus; 2] = [Self::Open, Self::Flushed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Flushed => "flushed",
        }
    }
}

impl fmt::Display for WindowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WindowStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown window status {s:?} (expected open or flushed)"))
    }
}

/// The events of one rule and group key gathered until a flush.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub id: Uuid,
    pub rule: String,
    pub group_key: String,
    pub status: WindowStatus,
    /// When its first event was received.
    pub opened_at: Timestamp,
    /// The latest `received_at` of its events.
    pub last_event_at: Timestamp,
    /// When it may be flushed.
    pub due_at: Timestamp,
    /// Events it holds.
    pub count: i64,
    pub flushed_at: Option<Timestamp>,
    /// Made due by [`crate::Store::flush_now`]: flush it whatever its calendar says.
    pub forced: bool,
}

/// A window leased by a flusher. Every window of one claim shares its token; (id, token)
/// fences the lease, as for deliveries. The flush covers the `window.count` events it held
/// when claimed (what [`crate::Store::window_events`] returns while it is leased).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedWindow {
    pub window: Window,
    pub lease_token: Uuid,
}

/// Filters for listing windows; every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowQuery {
    pub rule: Option<String>,
    pub status: Option<WindowStatus>,
    pub limit: u32,
}

/// A hook registered at run time under a registry source (`/hooks/{source}/{id}`), with its
/// own secret. The store keeps secrets only as ciphertext: sealing and opening them is the
/// caller's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub source: String,
    pub id: String,
    pub repository: String,
    pub secret: SealedSecret,
    /// The secret a rotation replaced, still accepted until its `valid_until`.
    pub previous: Option<PreviousSecret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A secret as the store keeps it: ciphertext (with its tag) and the nonce it was sealed
/// with.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.ciphertext.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub secret: SealedSecret,
    pub valid_until: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn a_large_document_compresses_and_reads_back_as_it_was() {
        let lines: Vec<String> = (0..200).map(|n| format!("commit {n}: fix 🚀")).collect();
        let text = JsonText::encode(&json!({ "commits": lines }));
        assert!(text.as_str().len() >= crate::compress::FROM_BYTES);
        let frame = text.compressed().expect("a large document compresses");
        assert!(
            frame.len() * 4 < text.as_str().len(),
            "{} bytes",
            frame.len()
        );
        assert_eq!(JsonText::decompress(frame).unwrap(), text.as_str());
        // Made once: the same frame again.
        assert!(std::ptr::eq(text.compressed().unwrap(), frame));
    }

    #[test]
    fn a_short_document_stays_text() {
        assert_eq!(
            JsonText::encode(&json!({ "ref": "main" })).compressed(),
            None
        );
    }

    #[test]
    fn a_damaged_frame_is_an_error() {
        assert!(JsonText::decompress(b"not zstd").is_err());
    }

    /// Seconds after 2026-01-01 (a whole number of minutes and hours since the epoch).
    fn at(seconds: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
    }

    fn timing(quiet: Option<i64>, bucket: Option<i64>, max_wait: i64) -> WindowTiming {
        WindowTiming {
            quiet_ms: quiet.map(|s| s * 1000),
            bucket_ms: bucket.map(|s| s * 1000),
            max_wait_ms: max_wait * 1000,
            max_count: None,
        }
    }

    #[test]
    fn quiet_only_waits_after_the_last_event() {
        let quiet = timing(Some(10), None, 300);
        assert_eq!(quiet.due_at(at(0), at(0), 1), at(10));
        assert_eq!(quiet.due_at(at(0), at(7), 2), at(17));
    }

    #[test]
    fn bucket_only_ends_at_the_next_boundary() {
        let minute = timing(None, Some(60), 3600);
        assert_eq!(minute.due_at(at(5), at(5), 1), at(60));
        assert_eq!(minute.due_at(at(5), at(59), 2), at(60));
        // A boundary itself belongs to the bucket it starts.
        assert_eq!(minute.due_at(at(5), at(60), 3), at(120));
        // Before the epoch too.
        let early = DateTime::from_timestamp_millis(-90_000).unwrap();
        let boundary = DateTime::from_timestamp_millis(-60_000).unwrap();
        assert_eq!(minute.due_at(early, early, 1), boundary);
    }

    #[test]
    fn quiet_and_bucket_take_the_later() {
        let both = timing(Some(10), Some(60), 3600);
        assert_eq!(both.due_at(at(0), at(20), 2), at(60));
        assert_eq!(both.due_at(at(0), at(55), 3), at(65));
    }

    #[test]
    fn neither_quiet_nor_bucket_is_due_at_the_last_event() {
        assert_eq!(timing(None, None, 300).due_at(at(0), at(4), 2), at(4));
        // A bucket of zero is no bucket.
        assert_eq!(timing(None, Some(0), 300).due_at(at(0), at(4), 2), at(4));
    }

    #[test]
    fn max_wait_caps_a_steady_stream() {
        let quiet = timing(Some(10), None, 300);
        let opened = at(0);
        let mut first_capped = None;
        for n in 0..120 {
            let last = at(n * 5);
            let due = quiet.due_at(opened, last, n + 1);
            assert!(due <= at(300), "event {n}: due at {due}");
            if due == at(300) {
                first_capped.get_or_insert(n);
            }
        }
        // Quiet alone would keep moving it: the cap takes over at 290 s + 10 s.
        assert_eq!(first_capped, Some(58));
    }

    #[test]
    fn max_count_makes_it_due_at_once() {
        let counted = WindowTiming {
            max_count: Some(3),
            ..timing(Some(10), Some(60), 300)
        };
        assert_eq!(counted.due_at(at(0), at(2), 2), at(60));
        assert_eq!(counted.due_at(at(0), at(2), 3), at(2));
        assert_eq!(counted.due_at(at(0), at(4), 4), at(4));
    }

    #[test]
    fn huge_durations_saturate() {
        let forever = timing(
            Some(i64::MAX / 1000),
            Some(i64::MAX / 1000),
            i64::MAX / 1000,
        );
        assert_eq!(forever.due_at(at(0), at(0), 1), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn window_status_round_trips() {
        for status in WindowStatus::ALL {
            assert_eq!(status.as_str().parse::<WindowStatus>().unwrap(), status);
        }
        assert!("closed".parse::<WindowStatus>().is_err());
    }
}
