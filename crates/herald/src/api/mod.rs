//! HTTP: routes and thin handlers. Each handler extracts, calls one service, and maps the
//! result; no SQL and no business logic here.

pub mod admin;
pub mod error;
pub mod hooks;
pub mod ops;
pub mod registry;

use crate::clock::SharedClock;
use crate::config::SharedConfig;
use crate::outbox::Executor;
use crate::services::{Hooks, Ingest, Queries};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use tokio::sync::Notify;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub config: SharedConfig,
    pub ingest: Arc<Ingest>,
    /// Registered hooks (`/api/hooks`).
    pub hooks: Arc<Hooks>,
    pub queries: Queries,
    /// Runs `POST /api/rules/{rule}/test` deliveries at once.
    pub executor: Arc<Executor>,
    pub clock: SharedClock,
    pub metrics: PrometheusHandle,
    /// Wakes the workers (after a replay).
    pub wake: Arc<Notify>,
    /// Whether writes to the store succeed, for `/readyz`.
    pub write_health: Arc<crate::services::write_health::WriteHealth>,
    /// Cancelled when `serve` starts to shut down: responses that last (the dashboard's
    /// live tail) end, so graceful shutdown does not wait for them.
    pub stopping: tokio_util::sync::CancellationToken,
}

/// Admin request bodies are small; webhook bodies are limited per source instead.
const ADMIN_BODY_LIMIT: usize = 1 << 20;

/// Request headers, names and values together, are limited like bodies: no provider sends
/// more than a few KiB.
pub const HEADERS_LIMIT: usize = 32 << 10;

/// Refuse a request whose headers exceed `HEADERS_LIMIT` with 431, before any handler.
async fn limit_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, error::ApiError> {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > HEADERS_LIMIT {
        return Err(error::ApiError::HeadersTooLarge(format!(
            "request headers of {size} bytes exceed the limit of {HEADERS_LIMIT}"
        )));
    }
    Ok(next.run(request).await)
}

pub fn router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/events", get(admin::list_events))
        .route("/events/{id}", get(admin::show_event))
        .route("/events/{id}/explain", get(admin::explain_event))
        .route("/deliveries", get(admin::list_deliveries))
        .route("/deliveries/{id}", get(admin::show_delivery))
        .route("/replay", post(admin::replay))
        .route("/status", get(admin::status))
        .route("/windows", get(admin::list_windows))
        .route("/windows/flush", post(admin::flush_windows))
        .route("/rules/{rule}/test", post(admin::test_rule))
        .route("/hooks", get(registry::list).post(registry::register))
        .route(
            "/hooks/{source}/{id}",
            get(registry::show)
                .put(registry::import)
                .delete(registry::delete),
        )
        .route("/hooks/{source}/{id}/rotate", post(registry::rotate))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::require_token,
        ));
    Router::new()
        .route(
            "/hooks/{source}",
            post(hooks::receive).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/hooks/{source}/{id}",
            post(hooks::receive_hook).layer(DefaultBodyLimit::disable()),
        )
        .nest("/api", admin)
        // The dashboard: its own sessions and CSRF tokens (see `dashboard`).
        .nest("/ui", crate::dashboard::router(state.clone()))
        .route(
            "/ui/",
            get(|| async { axum::response::Redirect::permanent("/ui") }),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        // A slow sender cannot hold a connection open (GitHub itself gives up after 10 s).
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.config.server.request_timeout,
        ))
        .layer(axum::middleware::from_fn(limit_headers))
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
