//! Open aggregation windows, and flushing them now (the old aggregator's `/trigger`).

use crate::clock::SharedClock;
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

pub async fn list(
    store: &SharedStore,
    filter: &WindowFilter,
) -> Result<Result<Vec<Window>, String>, StoreError> {
    let query = match filter.to_query() {
        Ok(query) => query,
        Err(message) => return Ok(Err(message)),
    };
    store.list_windows(&query).await.map(Ok)
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
