//! One live poll: from the stored cursor (or the start, when there is none), fetch a page,
//! store it with the cursor that follows it, and go on until the API says there is no
//! next page or a page is empty. Every page is stored before the next is asked for; a
//! failure ends the poll where it is, and the next poll starts from the stored cursor.

use super::events;
use super::fetch::{Failure, fetch};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::ingress::poller::{PageAt, Poller, Start};
use crate::telemetry;
use crate::traces::{EventTrace, PageTrace, Stored, Traces};
use herald_store::SharedStore;
use herald_store::model::{AppendOutcome, PageOutcome, PollFailureKind, PollPage, PollerState};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cycle {
    pub pages: u64,
    /// Items read, stored now or already stored.
    pub items: u64,
    /// Items stored now (the others were already stored).
    pub stored: u64,
    pub failure: Option<Failure>,
    /// Another process stored a page from the same cursor first (this one's lease had
    /// ended): this poll stopped without writing.
    pub overtaken: bool,
    /// Stopped between pages by shutdown.
    pub interrupted: bool,
    /// The cursor at the end.
    pub cursor: Option<String>,
}

/// What a poll needs besides the poller.
pub struct Context<'a> {
    pub config: &'a Config,
    pub store: &'a SharedStore,
    pub http: &'a reqwest::Client,
    pub clock: &'a SharedClock,
    pub owner: &'a str,
    pub lease: Duration,
    pub stop: &'a CancellationToken,
    /// Rung when a page's deliveries are committed.
    pub wake: &'a tokio::sync::Notify,
    /// Where each stored item's trace starts.
    pub traces: &'a Traces,
}

/// Poll `source` from `state` (leased by `context.owner`) until the end.
pub async fn run(
    context: &Context<'_>,
    source: &str,
    poller: &dyn Poller,
    state: &PollerState,
) -> Cycle {
    let start = match poller.settings().start {
        Start::Now => state.start_at,
        Start::At(at) => Some(at),
    };
    let mut cycle = Cycle {
        cursor: state.cursor.clone(),
        ..Cycle::default()
    };
    loop {
        if context.stop.is_cancelled() {
            cycle.interrupted = true;
            return cycle;
        }
        let at = match &cycle.cursor {
            Some(cursor) => PageAt::After(cursor),
            None => PageAt::Range { start, end: None },
        };
        let fetch_started = SystemTime::now();
        let fetched = tokio::select! {
            () = context.stop.cancelled() => {
                cycle.interrupted = true;
                return cycle;
            }
            fetched = fetch(context.http, poller, at, context.clock.now()) => fetched,
        };
        let fetched_at = SystemTime::now();
        let page = match fetched {
            Ok(page) => page,
            Err(failure) => {
                cycle.failure = Some(failure);
                return cycle;
            }
        };
        cycle.pages += 1;
        let Some(last) = page.items.last() else {
            return cycle;
        };
        let cursor = page.next.clone().unwrap_or_else(|| last.id.clone());
        let now = context.clock.now();
        let prepared = events::prepare(context.config, source, &page.items, now);
        let traced = event_traces(context.traces, &prepared);
        let items: Vec<_> = prepared.into_iter().map(|p| p.item).collect();
        let newest_item_at = page.items.iter().filter_map(|item| item.time).max();
        let written = context
            .store
            .store_poll_page(&PollPage {
                source,
                owner: context.owner,
                after: cycle.cursor.as_deref(),
                cursor: &cursor,
                items: &items,
                newest_item_at,
                now,
                lease_until: crate::clock::add(now, context.lease),
            })
            .await;
        let outcomes = match written {
            Ok(PageOutcome::Stored(outcomes)) => outcomes,
            Ok(PageOutcome::CursorMoved { cursor }) => {
                tracing::warn!(
                    source,
                    ?cursor,
                    "Another process stored this page first; this poll stops"
                );
                cycle.overtaken = true;
                return cycle;
            }
            Err(error) => {
                cycle.failure = Some(Failure {
                    kind: PollFailureKind::Transient,
                    error: format!("the page could not be stored: {error}"),
                    retry_after: None,
                });
                return cycle;
            }
        };
        let stored = count_stored(source, &outcomes);
        let page_trace = PageTrace {
            source,
            ingress: "poll",
            number: cycle.pages,
            items: items.len(),
            fetch_started,
            fetched: fetched_at,
            committed: SystemTime::now(),
        };
        trace_page(context.traces, &page_trace, traced, &outcomes);
        if items.iter().any(|item| !item.deliveries.is_empty()) {
            context.wake.notify_one();
        }
        cycle.items += page.items.len() as u64;
        cycle.stored += stored;
        telemetry::poller_page(source, page.items.len() as u64, stored);
        let previous = cycle.cursor.replace(cursor);
        match page.next {
            // The API would give this page again: following it would never end.
            Some(next) if previous.as_deref() == Some(next.as_str()) => {
                tracing::warn!(source, cursor = %next, "The API gave the same cursor again; this poll stops");
                return cycle;
            }
            Some(_) => {}
            None => return cycle,
        }
    }
}

/// The traces of a page's events, if traces are on.
pub(super) fn event_traces(
    traces: &Traces,
    prepared: &[crate::services::ingest::Prepared],
) -> Vec<EventTrace> {
    if !traces.is_on() {
        return Vec::new();
    }
    prepared
        .iter()
        .map(|p| EventTrace::of(&p.item, &p.filter_errors))
        .collect()
}

/// One trace per item of a stored page, each with how storing it ended.
pub(super) fn trace_page(
    traces: &Traces,
    page: &PageTrace<'_>,
    events: Vec<EventTrace>,
    outcomes: &[AppendOutcome],
) {
    if events.is_empty() {
        return;
    }
    let stored = outcomes.iter().map(|outcome| Stored::of(Ok(outcome)));
    traces.polled(page, events.into_iter().zip(stored).collect());
}

fn count_stored(source: &str, outcomes: &[AppendOutcome]) -> u64 {
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, AppendOutcome::Stored { .. }))
        .count();
    for outcome in outcomes {
        telemetry::event_stored(source, matches!(outcome, AppendOutcome::Duplicate { .. }));
    }
    stored as u64
}
