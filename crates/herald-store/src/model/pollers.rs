//! Pollers: sources herald pulls from an API. Their state (cursor, lease, how the last
//! polls went) and the writes a poll makes.

use super::{AppendOutcome, EventWithDeliveries, Timestamp};
use serde::{Deserialize, Serialize};

/// One poller's row: where it is in its API's stream, how its polls went, and who polls it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollerState {
    pub source: String,
    /// What the next page is fetched after; None until the first item is stored.
    pub cursor: Option<String>,
    /// When the row was made (a poller's first poll): where `start = "now"` starts.
    pub start_at: Option<Timestamp>,
    pub last_poll_at: Option<Timestamp>,
    /// The last poll that read every page to the end.
    pub last_success_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    pub last_error_kind: Option<PollFailureKind>,
    /// Failed polls since the last success.
    pub failures: i64,
    /// Items the last poll read (stored now or already stored).
    pub last_items: i64,
    /// The time (the item's own) of the newest item stored.
    pub newest_item_at: Option<Timestamp>,
    pub next_poll_at: Option<Timestamp>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl PollerState {
    /// Whether the last poll failed (no success since the last failure).
    pub fn failing(&self) -> bool {
        self.failures > 0
    }
}

/// Why a poll failed. Every kind keeps the cursor where it was: only the wait differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollFailureKind {
    /// The API refused the credential (401, 403).
    Credential,
    /// The API asked to slow down (429).
    RateLimited,
    /// A timeout, a lost connection, a 5xx: tried again with a backoff.
    Transient,
    /// Any other answer (a 400, a page herald cannot read): tried again at the interval.
    Permanent,
}

impl PollFailureKind {
    pub const ALL: [PollFailureKind; 4] = [
        Self::Credential,
        Self::RateLimited,
        Self::Transient,
        Self::Permanent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credential => "credential",
            Self::RateLimited => "rate_limited",
            Self::Transient => "transient",
            Self::Permanent => "permanent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

/// A process asking to poll a source now.
#[derive(Debug, Clone, PartialEq)]
pub struct PollerClaim<'a> {
    pub source: &'a str,
    pub owner: &'a str,
    pub now: Timestamp,
    pub lease_until: Timestamp,
    /// Poll even if the next poll is not due yet (`herald poll --once`); a live lease of
    /// another process still refuses.
    pub force: bool,
}

/// One page of a poll: its events (with their deliveries and windows), and the cursor
/// that follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPage<'a> {
    pub source: &'a str,
    /// The poller's lease is extended to `lease_until` if this process holds it.
    pub owner: &'a str,
    /// The cursor the page was fetched after (None: the poller had none).
    pub after: Option<&'a str>,
    /// The cursor to store with the page.
    pub cursor: &'a str,
    pub items: &'a [EventWithDeliveries],
    /// The newest item time of the page, if its items have times.
    pub newest_item_at: Option<Timestamp>,
    pub now: Timestamp,
    pub lease_until: Timestamp,
}

/// What storing a page did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageOutcome {
    /// The events were appended (each stored or a duplicate) and the cursor moved.
    Stored(Vec<AppendOutcome>),
    /// The stored cursor is no longer the one the page was fetched after (another process
    /// stored it first): nothing was written.
    CursorMoved { cursor: Option<String> },
}

/// How a poll ended.
#[derive(Debug, Clone, PartialEq)]
pub struct PollEnd<'a> {
    pub source: &'a str,
    pub owner: &'a str,
    pub now: Timestamp,
    /// Items read by the poll.
    pub items: i64,
    /// None when every page was read to the end.
    pub failure: Option<(PollFailureKind, &'a str)>,
    pub next_poll_at: Timestamp,
}
