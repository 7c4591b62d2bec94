//! Prometheus metrics (`/metrics`) and log setup. Metric names are defined here only.

use crate::ingress::source::VerifyError;
use herald_store::BatchWritten;
use herald_store::model::{QueueDepth, Timestamp};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Seconds; from half a millisecond (an ingest) to a minute (a slow destination).
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
/// Seconds from an event's arrival to its delivery, retries included.
const END_TO_END_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0,
];
/// Jobs in one writer batch: 1 up to `app::MAX_WRITE_BATCH` (256).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Seconds one writer transaction takes: from a tenth of a millisecond (SQLite on a fast
/// disk) to seconds (a stalled disk or database).
const COMMIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric herald exports, with the `# HELP` text `/metrics` shows for it. A name used
/// below and missing here fails a unit test.
const METRICS: &[(&str, Kind, &str)] = &[
    (
        "herald_build_info",
        Kind::Gauge,
        "Always 1; the labels name the running herald's version and commit.",
    ),
    (
        "herald_ingress_requests_total",
        Kind::Counter,
        "Webhook requests received, by source and HTTP status answered.",
    ),
    (
        "herald_ingress_duration_seconds",
        Kind::Histogram,
        "Time to answer a webhook request, storing the event included, by source.",
    ),
    (
        "herald_signature_failures_total",
        Kind::Counter,
        "Webhook requests refused because their signature or token did not verify, by source and reason.",
    ),
    (
        "herald_events_total",
        Kind::Counter,
        "Events received and verified, by source and outcome (stored, or a duplicate of one stored).",
    ),
    (
        "herald_filter_errors_total",
        Kind::Counter,
        "Rule filters that failed to evaluate (the event does not match that rule), by rule.",
    ),
    (
        "herald_deliveries_total",
        Kind::Counter,
        "Delivery attempts, by action and outcome (success, retry, dead).",
    ),
    (
        "herald_delivery_duration_seconds",
        Kind::Histogram,
        "Time of one delivery attempt, every step of the action included, by action.",
    ),
    (
        "herald_delivery_end_to_end_seconds",
        Kind::Histogram,
        "Time from an event's arrival to its successful delivery, retries included, by action.",
    ),
    (
        "herald_queue_pending",
        Kind::Gauge,
        "Deliveries pending: waiting for their time, due, or being attempted.",
    ),
    (
        "herald_queue_due",
        Kind::Gauge,
        "Pending deliveries due now (not waiting for a retry time).",
    ),
    (
        "herald_queue_dead",
        Kind::Gauge,
        "Deliveries that failed for good and wait for a replay or a prune.",
    ),
    (
        "herald_queue_oldest_due_age_seconds",
        Kind::Gauge,
        "How long the oldest due delivery nobody holds has waited to be claimed; 0 when none waits.",
    ),
    (
        "herald_deliveries_leased_total",
        Kind::Counter,
        "Deliveries this process's worker took on, by action and how they were leased: by a claim, or stored leased by ingest (handoff).",
    ),
    (
        "herald_writer_batch_jobs",
        Kind::Histogram,
        "Jobs (event appends, attempt records, claims) written together in one transaction by this process.",
    ),
    (
        "herald_writer_commit_duration_seconds",
        Kind::Histogram,
        "Time to write one batch of jobs in its transaction, commit included, in this process.",
    ),
    (
        "herald_windows_open",
        Kind::Gauge,
        "Aggregation windows gathering events, not yet flushed, by rule.",
    ),
    (
        "herald_alerts_open",
        Kind::Gauge,
        "Subjects a monitor has alerted about and not yet seen recover, by monitor.",
    ),
    (
        "herald_destination_failure_streak",
        Kind::Gauge,
        "Failed attempts in a row since the action's last success, by action.",
    ),
    (
        "herald_destination_dead",
        Kind::Gauge,
        "Dead deliveries of the action, by action.",
    ),
    (
        "herald_destination_last_success_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the action's last successful attempt, by action.",
    ),
    (
        "herald_destination_last_failure_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the action's last failed attempt, by action.",
    ),
    (
        "herald_source_last_event_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the source's newest stored event, by source.",
    ),
    (
        "herald_poller_polls_total",
        Kind::Counter,
        "Polls of a poller source, by source and how they ended.",
    ),
    (
        "herald_poller_pages_total",
        Kind::Counter,
        "Pages a poller stored, by source.",
    ),
    (
        "herald_poller_items_total",
        Kind::Counter,
        "Items read by a poller, by source.",
    ),
    (
        "herald_poller_items_stored_total",
        Kind::Counter,
        "Items read by a poller and stored as new events, by source.",
    ),
    (
        "herald_poller_last_items",
        Kind::Gauge,
        "Items the poller's last poll read, by source.",
    ),
    (
        "herald_poller_failures",
        Kind::Gauge,
        "Failed polls since the poller's last success, by source.",
    ),
    (
        "herald_poller_last_poll_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the poller's last poll, by source.",
    ),
    (
        "herald_poller_last_success_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the poller's last poll that read every page, by source.",
    ),
    (
        "herald_poller_newest_item_timestamp_seconds",
        Kind::Gauge,
        "The poller's newest item's own time, as Unix time, by source.",
    ),
    (
        "herald_poller_lag_seconds",
        Kind::Gauge,
        "Seconds since the poller's last poll that read every page: how far behind the API herald may be, by source.",
    ),
    (
        "herald_trace_spans_total",
        Kind::Counter,
        "Spans sent to the trace collector, by outcome (exported, failed).",
    ),
];

/// The name of every metric herald exports (histograms without their `_bucket`, `_sum`
/// and `_count` suffixes), for the documentation's tests.
pub fn metric_names() -> impl Iterator<Item = &'static str> {
    METRICS.iter().map(|(name, _, _)| *name)
}

/// Whether `name` is a histogram's (its series add `_bucket`, `_sum`, `_count`).
pub fn is_histogram(name: &str) -> bool {
    (METRICS.iter()).any(|(known, kind, _)| *known == name && matches!(kind, Kind::Histogram))
}

/// Give every metric its `# HELP` line, and set `herald_build_info`.
fn describe() {
    for (name, kind, help) in METRICS {
        match kind {
            Kind::Counter => describe_counter!(*name, *help),
            Kind::Gauge => describe_gauge!(*name, *help),
            Kind::Histogram => describe_histogram!(*name, *help),
        }
    }
    let version = env!("CARGO_PKG_VERSION");
    // The commit comes from build.rs (`herald --version` says it too), "unknown" outside a
    // git checkout.
    match option_env!("HERALD_COMMIT") {
        Some(commit) => {
            gauge!("herald_build_info", "version" => version, "commit" => commit).set(1.0);
        }
        None => gauge!("herald_build_info", "version" => version).set(1.0),
    }
}

/// The process-wide recorder; installed once, shared by every app in the process (tests).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("herald_delivery_end_to_end_seconds".into()),
                        END_TO_END_BUCKETS,
                    )
                })
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("herald_writer_commit_duration_seconds".into()),
                        COMMIT_BUCKETS,
                    )
                })
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("herald_writer_batch_jobs".into()),
                        BATCH_BUCKETS,
                    )
                })
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then ours still renders nothing.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("A metrics recorder was already installed; /metrics will be empty");
            }
            describe();
            handle
        })
        .clone()
}

pub fn ingress_request(source: &str, status: u16, elapsed: Duration) {
    let status = status.to_string();
    counter!("herald_ingress_requests_total", "source" => source.to_string(), "status" => status)
        .increment(1);
    histogram!("herald_ingress_duration_seconds", "source" => source.to_string())
        .record(elapsed.as_secs_f64());
}

pub fn signature_failure(source: &str, error: &VerifyError) {
    let reason = match error {
        VerifyError::MissingHeader(_) => "missing_header",
        VerifyError::MalformedHeader(_) => "malformed_header",
        VerifyError::StaleTimestamp => "stale_timestamp",
        VerifyError::SignatureMismatch => "signature_mismatch",
        VerifyError::CredentialMismatch => "credential_mismatch",
    };
    counter!("herald_signature_failures_total", "source" => source.to_string(), "reason" => reason)
        .increment(1);
}

pub fn event_stored(source: &str, duplicate: bool) {
    let outcome = if duplicate { "duplicate" } else { "stored" };
    counter!("herald_events_total", "source" => source.to_string(), "outcome" => outcome)
        .increment(1);
}

pub fn filter_error(rule: &str) {
    counter!("herald_filter_errors_total", "rule" => rule.to_string()).increment(1);
}

/// One attempt at a delivery: `outcome` is success, retry or dead.
pub fn delivery_attempt(action: &str, outcome: &'static str, elapsed: Duration) {
    counter!("herald_deliveries_total", "action" => action.to_string(), "outcome" => outcome)
        .increment(1);
    histogram!("herald_delivery_duration_seconds", "action" => action.to_string())
        .record(elapsed.as_secs_f64());
}

/// The worker took on `deliveries`, leased `via` a claim or the handoff.
pub fn deliveries_leased<'a>(via: &'static str, deliveries: impl IntoIterator<Item = &'a str>) {
    for action in deliveries {
        counter!("herald_deliveries_leased_total", "action" => action.to_string(), "via" => via)
            .increment(1);
    }
}

/// A delivery succeeded `since_event` after its event arrived.
pub fn delivered(action: &str, since_event: Duration) {
    histogram!("herald_delivery_end_to_end_seconds", "action" => action.to_string())
        .record(since_event.as_secs_f64());
}

pub fn queue_depth(depth: &QueueDepth) {
    gauge!("herald_queue_pending").set(depth.pending as f64);
    gauge!("herald_queue_due").set(depth.due as f64);
    gauge!("herald_queue_dead").set(depth.dead as f64);
}

/// `next_due`: when the next pending delivery can be claimed (`Store::next_due_at`); in the
/// past, the oldest due delivery has waited since then.
pub fn oldest_due(next_due: Option<Timestamp>, now: Timestamp) {
    let waited = next_due.map_or(0.0, |due| {
        (now - due).to_std().map_or(0.0, |age| age.as_secs_f64())
    });
    gauge!("herald_queue_oldest_due_age_seconds").set(waited);
}

/// One batch the writer wrote (its observer, on the writer's thread).
pub fn write_batch(batch: BatchWritten) {
    histogram!("herald_writer_batch_jobs").record(batch.jobs as f64);
    histogram!("herald_writer_commit_duration_seconds").record(batch.elapsed.as_secs_f64());
}

/// Open windows per windowed rule (`open`, from the store; a rule missing there has none).
pub fn open_windows<'a>(rules: impl IntoIterator<Item = &'a str>, open: &[(String, i64)]) {
    for rule in rules {
        let count = open
            .iter()
            .find(|(name, _)| name == rule)
            .map_or(0, |(_, count)| *count);
        gauge!("herald_windows_open", "rule" => rule.to_string()).set(count as f64);
    }
}

/// Open alerts per configured monitor.
pub fn open_alerts<'a>(
    monitors: impl IntoIterator<Item = &'a str>,
    alerts: &[crate::services::status::OpenAlert],
) {
    for monitor in monitors {
        let count = alerts.iter().filter(|a| a.monitor == monitor).count();
        gauge!("herald_alerts_open", "monitor" => monitor.to_string()).set(count as f64);
    }
}

/// One poll of a poller ended: `outcome` is success, or why it stopped.
pub fn poll(source: &str, outcome: &'static str) {
    counter!("herald_poller_polls_total", "source" => source.to_string(), "outcome" => outcome)
        .increment(1);
}

/// A poller stored a page of `items`, `stored` of them new.
pub fn poller_page(source: &str, items: u64, stored: u64) {
    counter!("herald_poller_pages_total", "source" => source.to_string()).increment(1);
    counter!("herald_poller_items_total", "source" => source.to_string()).increment(items);
    counter!("herald_poller_items_stored_total", "source" => source.to_string()).increment(stored);
}

/// Each poller's health as gauges, from the store (so every replica shows the same).
pub fn pollers(pollers: &[crate::polling::health::PollerHealth]) {
    for poller in pollers {
        let source = poller.source.clone();
        gauge!("herald_poller_last_items", "source" => source.clone())
            .set(poller.last_items as f64);
        gauge!("herald_poller_failures", "source" => source.clone()).set(poller.failures as f64);
        let times = [
            (
                "herald_poller_last_poll_timestamp_seconds",
                poller.last_poll_at,
            ),
            (
                "herald_poller_last_success_timestamp_seconds",
                poller.last_success_at,
            ),
            (
                "herald_poller_newest_item_timestamp_seconds",
                poller.newest_item_at,
            ),
        ];
        for (name, at) in times {
            if let Some(at) = at {
                gauge!(name, "source" => source.clone()).set(at.timestamp() as f64);
            }
        }
        if let Some(lag) = poller.lag_seconds {
            gauge!("herald_poller_lag_seconds", "source" => source).set(lag as f64);
        }
    }
}

/// Spans sent to the trace collector, or lost with a failed export.
pub fn trace_export(exported: bool, spans: u64) {
    let outcome = if exported { "exported" } else { "failed" };
    counter!("herald_trace_spans_total", "outcome" => outcome).increment(spans);
}

/// Logs to stderr: human lines, or JSON with `HERALD_LOG_FORMAT=json`. `RUST_LOG` filters.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let json = std::env::var("HERALD_LOG_FORMAT").is_ok_and(|format| format == "json");
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(error) = result {
        eprintln!("logging was already set up: {error}");
    }
}

/// Health per destination and source, refreshed by each monitor check.
pub fn health(health: &herald_store::model::Health) {
    for action in &health.actions {
        let label = action.action.clone();
        gauge!("herald_destination_failure_streak", "action" => label.clone())
            .set(action.failure_streak as f64);
        gauge!("herald_destination_dead", "action" => label.clone()).set(action.dead as f64);
        if let Some(at) = action.last_success_at {
            gauge!("herald_destination_last_success_timestamp_seconds", "action" => label.clone())
                .set(at.timestamp() as f64);
        }
        if let Some(at) = action.last_failure_at {
            gauge!("herald_destination_last_failure_timestamp_seconds", "action" => label)
                .set(at.timestamp() as f64);
        }
    }
    for source in &health.sources {
        if let Some(at) = source.last_event_at {
            gauge!("herald_source_last_event_timestamp_seconds", "source" => source.source.clone())
                .set(at.timestamp() as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::METRICS;

    /// Every `"herald_…"` name written in this file has a `# HELP` text, and each once.
    #[test]
    fn every_metric_is_described() {
        let source = include_str!("telemetry.rs");
        let described: Vec<&str> = METRICS.iter().map(|(name, _, _)| *name).collect();
        let mut used = std::collections::BTreeSet::new();
        for (start, _) in source.match_indices("\"herald_") {
            let rest = &source[start + 1..];
            let name = &rest[..rest.find('"').unwrap_or(0)];
            let plain = name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            if plain && name.len() > "herald_".len() {
                used.insert(name);
            }
        }
        assert!(used.len() > 30, "{used:?}");
        for name in &used {
            assert!(described.contains(name), "{name} has no description");
        }
        let unique: std::collections::BTreeSet<_> = described.iter().collect();
        assert_eq!(unique.len(), described.len(), "a name described twice");
    }
}
