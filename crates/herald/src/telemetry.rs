//! Prometheus metrics (`/metrics`) and log setup. Metric names are defined here only.

use crate::ingress::source::VerifyError;
use herald_store::model::QueueDepth;
use metrics::{counter, gauge, histogram};
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
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; then ours still renders nothing.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("A metrics recorder was already installed; /metrics will be empty");
            }
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
