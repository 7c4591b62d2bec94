//! `/healthz`, `/readyz` and `/metrics`.

use super::AppState;
use super::error::ApiError;
use crate::telemetry;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The store answers and takes writes: traffic can be sent here.
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state
        .queries
        .ping()
        .await
        .map_err(|error| ApiError::Unavailable(format!("store unreachable: {error}")))?;
    if let Some(failure) = state.write_health.failure() {
        return Err(ApiError::Unavailable(format!(
            "writes to the store fail: {failure}"
        )));
    }
    Ok("ready\n")
}

/// Prometheus metrics. The gauges read from the store are sampled here, at each scrape, so
/// every replica shows the same.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let now = state.clock.now();
    let store = state.queries.store();
    match state.queries.queue_depth(now).await {
        Ok(depth) => telemetry::queue_depth(&depth),
        Err(error) => tracing::warn!(error = %error, "Cannot read the queue depth for /metrics"),
    }
    match store.next_due_at(now).await {
        Ok(next_due) => telemetry::oldest_due(next_due, now),
        Err(error) => tracing::warn!(error = %error, "Cannot read the next due time for /metrics"),
    }
    let windowed: Vec<&str> = (state.config.rules.iter())
        .filter(|rule| rule.window.is_some())
        .map(|rule| rule.name.as_str())
        .collect();
    if !windowed.is_empty() {
        match store.open_window_counts().await {
            Ok(open) => telemetry::open_windows(windowed, &open),
            Err(error) => tracing::warn!(error = %error, "Cannot read the windows for /metrics"),
        }
    }
    if !state.config.monitors.is_empty() {
        match crate::services::status::open_alerts(&state.config, store).await {
            Ok(alerts) => telemetry::open_alerts(
                state.config.monitors.values().map(|m| m.name.as_str()),
                &alerts,
            ),
            Err(error) => tracing::warn!(error = %error, "Cannot read the alerts for /metrics"),
        }
    }
    if state.config.sources.values().any(|s| s.poller.is_some()) {
        match state.queries.store().poller_states().await {
            Ok(states) => telemetry::pollers(&crate::polling::health::pollers(
                &state.config,
                &states,
                state.clock.now(),
            )),
            Err(error) => tracing::warn!(error = %error, "Cannot read the pollers for /metrics"),
        }
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
