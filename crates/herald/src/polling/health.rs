//! How each poller is doing, from its state in the store: what `herald status`,
//! `/api/status` and `/metrics` show.

use crate::config::Config;
use chrono::{DateTime, Utc};
use herald_store::model::{PollFailureKind, PollerState};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollerHealth {
    pub source: String,
    /// Where its pages come from (no credentials).
    pub url: String,
    pub interval_seconds: u64,
    pub cursor: Option<String>,
    /// Whether a process holds its lease now.
    pub polling: bool,
    pub last_poll_at: Option<DateTime<Utc>>,
    /// The last poll that read every page to the end.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Seconds since then: how far behind the API herald may be (None before the first).
    pub lag_seconds: Option<i64>,
    /// Items the last poll read.
    pub last_items: i64,
    /// The newest item's own time.
    pub newest_item_at: Option<DateTime<Utc>>,
    /// Failed polls since the last success.
    pub failures: i64,
    pub last_error: Option<String>,
    pub last_error_kind: Option<PollFailureKind>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub next_poll_at: Option<DateTime<Utc>>,
}

/// Every configured poller, by source, with its stored state (a poller that never polled
/// has none yet).
pub fn pollers(config: &Config, states: &[PollerState], now: DateTime<Utc>) -> Vec<PollerHealth> {
    config
        .sources
        .values()
        .filter_map(|source| Some((source, source.poller.as_ref()?)))
        .map(|(source, poller)| {
            let state = states.iter().find(|state| state.source == source.name);
            let get = |read: fn(&PollerState) -> Option<DateTime<Utc>>| state.and_then(read);
            let last_success_at = get(|s| s.last_success_at);
            PollerHealth {
                source: source.name.clone(),
                url: poller.describe(),
                interval_seconds: poller.settings().interval.as_secs(),
                cursor: state.and_then(|s| s.cursor.clone()),
                polling: state
                    .and_then(|s| s.lease_until)
                    .is_some_and(|until| until > now),
                last_poll_at: get(|s| s.last_poll_at),
                last_success_at,
                lag_seconds: last_success_at.map(|at| (now - at).num_seconds().max(0)),
                last_items: state.map_or(0, |s| s.last_items),
                newest_item_at: get(|s| s.newest_item_at),
                failures: state.map_or(0, |s| s.failures),
                last_error: state.and_then(|s| s.last_error.clone()),
                last_error_kind: state.and_then(|s| s.last_error_kind),
                last_error_at: get(|s| s.last_error_at),
                next_poll_at: get(|s| s.next_poll_at),
            }
        })
        .collect()
}
