//! OpenTelemetry traces: one trace per event, from its ingest (a webhook, a poll, one of
//! herald's own events) through the rules it matched to each delivery attempt, which
//! happens later, in another task and perhaps another process. Off unless
//! `[telemetry] endpoint` is set; then exported over OTLP/HTTP (protobuf) in batches from
//! a thread of its own, through a bounded queue that drops spans when full, so neither
//! ingest nor delivery ever waits for a collector.
//!
//! The trace is continued without storing anything: an event's id is its trace id, and
//! the parent of each attempt is named by the delivery's id (`ids.rs`).
//!
//! ```text
//! ingest SOURCE | poll SOURCE      root; span id derived from the event id
//!   fetch SOURCE                   (a poll) the page request
//!   rule RULE                      one per delivery (span id derived from the delivery
//!                                  id), one per window joined, one per failed filter
//! window RULE                      a window's flush, child of its last event's root
//! deliver ACTION                   each attempt, child of its delivery's rule (or window)
//! ```
//!
//! Span times are the wall clock's, as metrics' durations are `Instant`s: they measure
//! what happened; the injected clock (`clock.rs`) still decides everything.
//!
//! Spans carry what is listed in `attributes` below and nothing else: names from the
//! configuration, ids, outcomes, status codes. Never a header, a URL, a payload, an error
//! text (which may quote a payload or an answer) or a secret.

#[cfg(feature = "otel")]
mod export;
mod ids;
#[cfg(feature = "otel")]
mod spans;

use crate::config::TelemetryConfig;
use chrono::{DateTime, Utc};
use herald_store::StoreError;
use herald_store::model::{AppendOutcome, EventWithDeliveries, NewDelivery};
use std::sync::Arc;
use std::time::SystemTime;
use uuid::Uuid;

pub use ids::{span_of, trace_of};

/// Attribute keys, herald's own under `herald.`, OpenTelemetry's where one fits.
pub mod attributes {
    pub const SOURCE: &str = "herald.source";
    pub const EVENT_TYPE: &str = "herald.event.type";
    pub const EVENT_ID: &str = "herald.event.id";
    /// How the event came: webhook, hook (a registered hook), send, herald (herald's own:
    /// alerts, schedules), poll, backfill.
    pub const INGRESS: &str = "herald.ingress";
    pub const HOOK_ID: &str = "herald.hook.id";
    /// stored, duplicate, failed (ingest); success, retry, dead (an attempt).
    pub const OUTCOME: &str = "herald.outcome";
    /// The event already stored under the same dedup key, for a duplicate.
    pub const ORIGINAL_EVENT_ID: &str = "herald.event.original_id";
    pub const DELIVERIES: &str = "herald.deliveries";
    pub const RULE: &str = "herald.rule";
    pub const ACTION: &str = "herald.action";
    pub const ACTION_KIND: &str = "herald.action.kind";
    pub const DELIVERY_ID: &str = "herald.delivery.id";
    /// delivery (an immediate delivery), window (joined an aggregation window), filter
    /// failed.
    pub const ROUTE: &str = "herald.route";
    pub const ATTEMPT: &str = "herald.attempt";
    pub const STEPS_DONE: &str = "herald.steps.done";
    pub const FAILURE_KIND: &str = "herald.failure.kind";
    pub const RETRY_AT: &str = "herald.retry.at";
    pub const STATUS_CODE: &str = "http.response.status_code";
    pub const PAGE: &str = "herald.poll.page";
    pub const PAGE_ITEMS: &str = "herald.poll.items";
    pub const WINDOW_ID: &str = "herald.window.id";
    pub const WINDOW_EVENTS: &str = "herald.window.events";
}

/// Where spans go: nowhere (the default), or an OTLP collector. Cheap to clone; every
/// method does nothing when off.
#[derive(Clone, Default)]
pub struct Traces {
    inner: Option<Arc<Inner>>,
}

#[cfg(feature = "otel")]
use export::Exporter as Inner;

/// Without the `otel` feature there is nothing to export to (a configuration naming an
/// endpoint is refused at load).
#[cfg(not(feature = "otel"))]
enum Inner {}

#[derive(Debug, thiserror::Error)]
#[error("cannot start exporting traces: {0}")]
pub struct StartError(String);

impl Traces {
    /// Traces off.
    pub fn off() -> Self {
        Traces::default()
    }

    /// Start exporting as `config` says: nothing is started without an endpoint.
    pub fn start(config: &TelemetryConfig) -> Result<Self, StartError> {
        let Some(_endpoint) = &config.endpoint else {
            return Ok(Traces::off());
        };
        #[cfg(feature = "otel")]
        {
            let exporter = export::Exporter::start(_endpoint, config).map_err(StartError)?;
            Ok(Traces {
                inner: Some(Arc::new(exporter)),
            })
        }
        #[cfg(not(feature = "otel"))]
        Err(StartError(
            "herald was built without the `otel` feature".into(),
        ))
    }

    /// Start as `config` says; on failure, log it and go on without traces.
    pub fn start_or_off(config: &TelemetryConfig) -> Self {
        Traces::start(config).unwrap_or_else(|error| {
            tracing::error!(%error, "Traces are off");
            Traces::off()
        })
    }

    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Send every span ended so far now (tests; `serve` flushes at shutdown).
    pub async fn flush(&self) {
        if let Some(inner) = self.inner.clone() {
            let _ = tokio::task::spawn_blocking(move || inner.flush()).await;
        }
    }

    /// Send what is queued and stop, waiting `[telemetry] timeout` at most. Spans ended
    /// afterwards are dropped.
    pub async fn shutdown(&self) {
        if let Some(inner) = self.inner.clone() {
            let _ = tokio::task::spawn_blocking(move || inner.shutdown()).await;
        }
    }

    /// An event's ingest ended (`outcome`): its root span and its rules' spans.
    pub fn ingested(&self, event: EventTrace, outcome: Stored, timing: IngestTiming) {
        if let Some(inner) = &self.inner {
            inner.ingested(&event, &outcome, &timing);
        }
    }

    /// A poll stored a page: one trace per item.
    pub fn polled(&self, page: &PageTrace<'_>, events: Vec<(EventTrace, Stored)>) {
        if let Some(inner) = &self.inner {
            inner.polled(page, &events);
        }
    }

    /// New deliveries of stored events (`herald poll --reprocess`): their rules' spans,
    /// each in its event's trace.
    pub fn rerouted(&self, deliveries: &[NewDelivery], at: SystemTime) {
        if let Some(inner) = &self.inner {
            inner.rerouted(deliveries, at);
        }
    }

    /// A window was flushed into `deliveries`.
    pub fn window_flushed(&self, window: &WindowTrace<'_>) {
        if let Some(inner) = &self.inner {
            inner.window_flushed(window);
        }
    }

    /// A delivery attempt ended.
    pub fn attempted(&self, attempt: &AttemptTrace<'_>) {
        if let Some(inner) = &self.inner {
            inner.attempted(attempt);
        }
    }
}

/// What an event's spans show, taken before the event goes to the writer.
#[derive(Debug, Clone)]
pub struct EventTrace {
    pub event_id: Uuid,
    pub source: String,
    pub event_type: String,
    /// The registered hook it came through.
    pub hook: Option<String>,
    pub routes: Vec<Route>,
}

/// Where a rule sent the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub rule: String,
    pub to: RouteTo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTo {
    Delivery {
        action: String,
        delivery_id: Uuid,
    },
    Window,
    /// The rule's filter (or window group) failed: it did not match.
    FilterFailed,
}

impl EventTrace {
    /// `item` as routed, with the rules whose filter failed.
    pub fn of(item: &EventWithDeliveries, filter_errors: &[(String, String)]) -> Self {
        let deliveries = item.deliveries.iter().map(|delivery| Route {
            rule: delivery.rule.clone(),
            to: RouteTo::Delivery {
                action: delivery.action.clone(),
                delivery_id: delivery.id,
            },
        });
        let windows = item.windows.iter().map(|window| Route {
            rule: window.rule.clone(),
            to: RouteTo::Window,
        });
        let failed = filter_errors.iter().map(|(rule, _)| Route {
            rule: rule.clone(),
            to: RouteTo::FilterFailed,
        });
        EventTrace {
            event_id: item.event.id,
            source: item.event.source.clone(),
            event_type: item.event.event_type.clone(),
            hook: item.event.hook.as_ref().map(|hook| hook.id.clone()),
            routes: deliveries.chain(windows).chain(failed).collect(),
        }
    }
}

/// How storing an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    /// Its dedup key was seen before, as this event: nothing was written.
    Duplicate(Uuid),
    /// The store failed: nothing was written.
    Failed,
}

impl Stored {
    pub fn of(outcome: Result<&AppendOutcome, &StoreError>) -> Self {
        match outcome {
            Ok(AppendOutcome::Stored { .. }) => Stored::New,
            Ok(AppendOutcome::Duplicate { event_id }) => Stored::Duplicate(*event_id),
            Err(_) => Stored::Failed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stored::New => "stored",
            Stored::Duplicate(_) => "duplicate",
            Stored::Failed => "failed",
        }
    }
}

/// When an ingest started (the request arrived), was routed (handed to the writer) and
/// ended (committed, or failed).
#[derive(Debug, Clone, Copy)]
pub struct IngestTiming {
    /// webhook, hook, send, herald.
    pub ingress: &'static str,
    pub started: SystemTime,
    pub routed: SystemTime,
    pub ended: SystemTime,
}

/// A page a poll stored.
#[derive(Debug, Clone, Copy)]
pub struct PageTrace<'a> {
    pub source: &'a str,
    /// poll or backfill.
    pub ingress: &'static str,
    /// The page's number in its poll, from 1.
    pub number: u64,
    pub items: usize,
    pub fetch_started: SystemTime,
    pub fetched: SystemTime,
    pub committed: SystemTime,
}

/// A window's flush.
#[derive(Debug, Clone, Copy)]
pub struct WindowTrace<'a> {
    pub window_id: Uuid,
    pub rule: &'a str,
    /// The window's events, oldest first; the deliveries join the newest one's trace.
    pub events: &'a [Uuid],
    pub deliveries: &'a [NewDelivery],
    pub started: SystemTime,
    pub committed: SystemTime,
}

/// One delivery attempt.
#[derive(Debug, Clone)]
pub struct AttemptTrace<'a> {
    pub delivery_id: Uuid,
    /// The event whose trace it continues.
    pub event_id: Option<Uuid>,
    /// The event's source and type, when it could be read.
    pub event: Option<(&'a str, &'a str)>,
    pub window_id: Option<Uuid>,
    /// A window's events, linked to.
    pub linked_events: &'a [Uuid],
    pub rule: &'a str,
    pub action: &'a str,
    pub action_kind: Option<&'a str>,
    /// This attempt's number, from 1.
    pub attempt: i64,
    /// success, retry or dead.
    pub outcome: &'static str,
    pub status_code: Option<u16>,
    pub failure_kind: Option<&'static str>,
    pub steps_done: usize,
    pub retry_at: Option<DateTime<Utc>>,
    pub started: SystemTime,
    pub ended: SystemTime,
}

#[cfg(not(feature = "otel"))]
impl Inner {
    fn flush(&self) {
        match *self {}
    }
    fn shutdown(&self) {
        match *self {}
    }
    fn ingested(&self, _: &EventTrace, _: &Stored, _: &IngestTiming) {
        match *self {}
    }
    fn polled(&self, _: &PageTrace<'_>, _: &[(EventTrace, Stored)]) {
        match *self {}
    }
    fn rerouted(&self, _: &[NewDelivery], _: SystemTime) {
        match *self {}
    }
    fn window_flushed(&self, _: &WindowTrace<'_>) {
        match *self {}
    }
    fn attempted(&self, _: &AttemptTrace<'_>) {
        match *self {}
    }
}
