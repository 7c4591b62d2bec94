//! Open aggregation windows, and flushing them now (the old aggregator's `/trigger`).

use crate::clock::SharedClock;
use crate::config::Config;
use herald_store::model::{Window, WindowQuery, WindowStatus};
use herald_store::{SharedStore, StoreError};
use serde::Deserialize;
use uuid::Uuid;

/// Windows as people ask for them: `?rule=digest&status=open&limit=50`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowFilter {
    pub rule: Option<String>,
    /// `open` (the default) or `flushed`.
    pub status: Option<String>,
    pub limit: Option<u32>,
}

impl WindowFilter {
    pub fn to_query(&self) -> Result<WindowQuery, String> {
        let status = match self.status.as_deref() {
            None | Some("open") => Some(WindowStatus::Open),
            Some("flushed") => Some(WindowStatus::Flushed),
            Some("all") => None,
            Some(other) => {
                return Err(format!(
                    "unknown window status {other:?}: open, flushed or all"
                ));
            }
        };
        Ok(WindowQuery {
            rule: self.rule.clone(),
            status,
            limit: self.limit.unwrap_or(100),
        })
    }
}

/// Which open windows to flush now: all, a rule's, or one group of a rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlushRequest {
    pub rule: Option<String>,
    pub key: Option<String>,
}

/// The windows `filter` selects, each open one due when its flush may really happen: not
/// before its rule's calendar allows it (the store keeps the quiet period's end).
pub async fn list(
    config: &Config,
    store: &SharedStore,
    filter: &WindowFilter,
) -> Result<Result<Vec<Window>, String>, StoreError> {
    let query = match filter.to_query() {
        Ok(query) => query,
        Err(message) => return Ok(Err(message)),
    };
    let mut windows = store.list_windows(&query).await?;
    for window in &mut windows {
        window.due_at = flushable_at(config, window);
    }
    Ok(Ok(windows))
}

/// When an open window will be flushed: its due time, moved to the next moment its rule's
/// calendar allows (unless it was forced with flush-now).
fn flushable_at(config: &Config, window: &Window) -> chrono::DateTime<chrono::Utc> {
    let calendar = config
        .rule(&window.rule)
        .and_then(|rule| rule.window.as_ref()?.calendar.as_ref());
    match calendar {
        Some(calendar) if window.status == WindowStatus::Open && !window.forced => {
            calendar.next_allowed(window.due_at)
        }
        _ => window.due_at,
    }
}

/// Make the chosen windows due now, regardless of their quiet period and calendar. The
/// flusher of a running herald closes them within its poll interval.
pub async fn flush_now(
    store: &SharedStore,
    clock: &SharedClock,
    request: &FlushRequest,
) -> Result<Vec<Uuid>, StoreError> {
    store
        .flush_now(request.rule.as_deref(), request.key.as_deref(), clock.now())
        .await
}
