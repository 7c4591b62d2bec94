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

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match state.queries.queue_depth(state.clock.now()).await {
        Ok(depth) => telemetry::queue_depth(&depth),
        Err(error) => tracing::warn!(error = %error, "Cannot read the queue depth for /metrics"),
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
