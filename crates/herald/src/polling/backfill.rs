//! A backfill (`herald poll SOURCE --since T [--until U]`): read a range of the API's items
//! page by page and store each page like a live poll does, without the live cursor, which
//! stays where it is. Items already stored are duplicates of their dedup key and are not
//! processed again, unless `reprocess` asks for new deliveries of them.

use super::cycle::Context;
use super::events;
use super::fetch::{Failure, fetch, retry_wait};
use crate::ingress::poller::{PageAt, PolledItem, Poller};
use crate::traces::PageTrace;
use chrono::{DateTime, Utc};
use herald_store::model::{AppendOutcome, PollFailureKind};
use serde::Serialize;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// Failed requests in a row tried again before a backfill gives up (a 429 always waits).
const TRANSIENT_TRIES: i64 = 5;
/// The longest wait a 429 may ask of a backfill.
const MAX_RATE_WAIT: Duration = Duration::from_secs(300);

/// The range to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    /// Make new deliveries for items already stored.
    pub reprocess: bool,
}

/// How far a backfill got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub pages: u64,
    /// Items read in the range.
    pub items: u64,
    /// Items stored now.
    pub stored: u64,
    /// Items already stored, left as they were (or reprocessed).
    pub duplicates: u64,
    /// Deliveries made for items already stored (`reprocess`).
    pub reprocessed: u64,
    /// Items the API gave outside the range, left out.
    pub outside: u64,
    /// Rate-limited answers waited out.
    pub waits: u64,
}

/// Read the range to its end, calling `on_page` after each page. The progress so far, and
/// the failure that stopped it early, if any.
pub async fn run(
    context: &Context<'_>,
    source: &str,
    poller: &dyn Poller,
    range: Range,
    on_page: &mut (dyn FnMut(&Progress) + Send),
) -> (Progress, Option<Failure>) {
    let run = Uuid::now_v7();
    let mut progress = Progress::default();
    let mut cursor: Option<String> = None;
    let mut failures = 0;
    loop {
        if context.stop.is_cancelled() {
            return (progress, Some(interrupted()));
        }
        let at = match &cursor {
            Some(cursor) => PageAt::After(cursor),
            None => PageAt::Range {
                start: Some(range.since),
                end: range.until,
            },
        };
        let fetch_started = SystemTime::now();
        let page = match fetch(context.http, poller, at, context.clock.now()).await {
            Ok(page) => page,
            Err(failure) => {
                failures += 1;
                let Some(wait) = worth_waiting(&failure, failures, poller) else {
                    return (progress, Some(failure));
                };
                if failure.kind == PollFailureKind::RateLimited {
                    progress.waits += 1;
                }
                tracing::warn!(source, error = %failure.error, wait = ?wait, "Backfill page failed; trying again");
                tokio::select! {
                    () = context.stop.cancelled() => return (progress, Some(interrupted())),
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        failures = 0;
        progress.pages += 1;
        let Some(last) = page.items.last() else {
            on_page(&progress);
            return (progress, None);
        };
        let next = page.next.clone().unwrap_or_else(|| last.id.clone());
        let (inside, past_end) = in_range(&page.items, &range);
        progress.outside += (page.items.len() - inside.len()) as u64;
        let fetched = (fetch_started, SystemTime::now());
        let stored = store(
            context,
            source,
            &inside,
            &range,
            run,
            &mut progress,
            fetched,
        )
        .await;
        if let Err(failure) = stored {
            return (progress, Some(failure));
        }
        on_page(&progress);
        let repeated = cursor.as_deref() == Some(next.as_str());
        if past_end || page.next.is_none() || repeated {
            return (progress, None);
        }
        cursor = Some(next);
    }
}

/// The wait before asking again, or None to give up.
fn worth_waiting(failure: &Failure, failures: i64, poller: &dyn Poller) -> Option<Duration> {
    let interval = poller.settings().interval;
    match failure.kind {
        PollFailureKind::RateLimited => {
            Some(retry_wait(failure, failures, interval).min(MAX_RATE_WAIT))
        }
        PollFailureKind::Transient if failures < TRANSIENT_TRIES => {
            Some(retry_wait(failure, failures, interval))
        }
        _ => None,
    }
}

fn interrupted() -> Failure {
    Failure {
        kind: PollFailureKind::Transient,
        error: "interrupted".to_string(),
        retry_after: None,
    }
}

/// The items of the page inside the range (an item without a time counts as inside), and
/// whether the page went past its end.
fn in_range(items: &[PolledItem], range: &Range) -> (Vec<PolledItem>, bool) {
    let mut past_end = false;
    let inside = items
        .iter()
        .filter(|item| {
            let Some(time) = item.time else { return true };
            if range.until.is_some_and(|until| time > until) {
                past_end = true;
                return false;
            }
            time >= range.since
        })
        .cloned()
        .collect();
    (inside, past_end)
}

/// Store one page's items in one transaction; with `reprocess`, new deliveries for those
/// already stored.
async fn store(
    context: &Context<'_>,
    source: &str,
    items: &[PolledItem],
    range: &Range,
    run: Uuid,
    progress: &mut Progress,
    (fetch_started, fetched): (SystemTime, SystemTime),
) -> Result<(), Failure> {
    let stored_failure = |error: herald_store::StoreError| Failure {
        kind: PollFailureKind::Transient,
        error: format!("the page could not be stored: {error}"),
        retry_after: None,
    };
    let now = context.clock.now();
    let prepared = events::prepare(context.config, source, items, now);
    let traced = super::cycle::event_traces(context.traces, &prepared);
    let batch: Vec<_> = prepared.into_iter().map(|p| p.item).collect();
    let outcomes = context
        .store
        .append_events(&batch)
        .await
        .map_err(stored_failure)?;
    let mut again = Vec::new();
    for (outcome, item) in outcomes.iter().zip(items) {
        match outcome {
            AppendOutcome::Stored { .. } => progress.stored += 1,
            AppendOutcome::Duplicate { event_id } => {
                progress.duplicates += 1;
                if range.reprocess {
                    let config = context.config;
                    again.extend(events::reprocess(
                        config,
                        source,
                        (*event_id, item),
                        run,
                        now,
                    ));
                }
            }
        }
        crate::telemetry::event_stored(source, matches!(outcome, AppendOutcome::Duplicate { .. }));
    }
    progress.items += items.len() as u64;
    let page = PageTrace {
        source,
        ingress: "backfill",
        number: progress.pages,
        items: items.len(),
        fetch_started,
        fetched,
        committed: SystemTime::now(),
    };
    super::cycle::trace_page(context.traces, &page, traced, &outcomes);
    progress.reprocessed += context
        .store
        .add_deliveries(&again)
        .await
        .map_err(stored_failure)?;
    context.traces.rerouted(&again, SystemTime::now());
    if batch.iter().any(|item| !item.deliveries.is_empty()) || !again.is_empty() {
        context.wake.notify_one();
    }
    Ok(())
}
