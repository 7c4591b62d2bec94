//! `/api/...`: the admin API, behind the bearer token named by `server.admin_secret`.
//! It serves the same services as the CLI.

use super::AppState;
use super::error::ApiError;
use crate::secret::credential_eq;
use crate::services::explain::{self, EventExplanation};
use crate::services::query::{
    DeliveryDetail, DeliveryFilter, EventFilter, FindError, ReplayRequest,
};
use crate::services::status::StatusReport;
use crate::services::trial::{TrialError, TrialInput, TrialReport, run_trial};
use crate::services::windows::{self, FlushRequest, WindowFilter};
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use herald_store::model::{Delivery, Event, Window};
use serde_json::{Value, json};
use uuid::Uuid;

pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = &state.config.server.admin_token else {
        return Err(ApiError::Forbidden(
            "the admin API is off: set server.admin_secret".into(),
        ));
    };
    let given = bearer(request.headers())
        .ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))?;
    // Hashed first, so the time taken does not tell the token's length.
    if !credential_eq(given.as_bytes(), expected.expose().as_bytes()) {
        return Err(ApiError::Unauthorized(
            "the bearer token is not valid".into(),
        ));
    }
    Ok(next.run(request).await)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

pub async fn list_events(
    State(state): State<AppState>,
    Query(filter): Query<EventFilter>,
) -> Result<Json<Vec<Event>>, ApiError> {
    let query = filter
        .to_query(state.clock.now())
        .map_err(ApiError::BadRequest)?;
    Ok(Json(state.queries.events(&query).await?))
}

/// `?source=`: which source's event a sender's delivery id names, when several have it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSource {
    source: Option<String>,
}

/// `/api/events/{id}`: by herald's id, or by the sender's delivery id (the dedup key).
pub async fn show_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(EventSource { source }): Query<EventSource>,
) -> Result<Json<Event>, ApiError> {
    match state.queries.find_event(&id, source.as_deref()).await? {
        Ok(event) => Ok(Json(event)),
        Err(FindError::Missing(message)) => Err(ApiError::NotFound(message)),
        Err(FindError::Ambiguous(message)) => Err(ApiError::BadRequest(message)),
    }
}

/// `/api/events/{id}/explain`: why each rule did or did not match the event.
pub async fn explain_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(EventSource { source }): Query<EventSource>,
) -> Result<Json<EventExplanation>, ApiError> {
    let event = match state.queries.find_event(&id, source.as_deref()).await? {
        Ok(event) => event,
        Err(FindError::Missing(message)) => return Err(ApiError::NotFound(message)),
        Err(FindError::Ambiguous(message)) => return Err(ApiError::BadRequest(message)),
    };
    let explained = explain::explain(&state.config, state.queries.store(), &event).await?;
    Ok(Json(explained))
}

pub async fn list_deliveries(
    State(state): State<AppState>,
    Query(filter): Query<DeliveryFilter>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    let query = state
        .queries
        .delivery_query(&filter, state.clock.now())
        .await?
        .map_err(ApiError::BadRequest)?;
    Ok(Json(state.queries.deliveries(&query).await?))
}

pub async fn show_delivery(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let delivery = state.queries.delivery(id).await?;
    delivery
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no delivery {id}")))
}

pub async fn status(State(state): State<AppState>) -> Result<Json<StatusReport>, ApiError> {
    Ok(Json(
        crate::services::status::status(&state.config, state.queries.store(), state.clock.now())
            .await?,
    ))
}

/// `{"payload": {...}, "type": "...", "source": "..."}`, all optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    payload: Option<Value>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    source: Option<String>,
}

pub async fn test_rule(
    State(state): State<AppState>,
    Path(rule): Path<String>,
    body: Option<Json<TestRequest>>,
) -> Result<Json<TrialReport>, ApiError> {
    let request = body.map(|Json(body)| body).unwrap_or_default();
    let input = TrialInput {
        payload: request.payload,
        event_type: request.event_type,
        source: request.source,
    };
    let report = run_trial(
        &state.config,
        state.queries.store(),
        &state.executor,
        &state.clock,
        &rule,
        input,
    )
    .await
    .map_err(|error| match error {
        TrialError::Store(error) => ApiError::from(error),
        TrialError::UnknownRule(_) => ApiError::NotFound(error.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    Ok(Json(report))
}

pub async fn list_windows(
    State(state): State<AppState>,
    Query(filter): Query<WindowFilter>,
) -> Result<Json<Vec<Window>>, ApiError> {
    let windows = windows::list(&state.config, state.queries.store(), &filter)
        .await?
        .map_err(ApiError::BadRequest)?;
    Ok(Json(windows))
}

pub async fn flush_windows(
    State(state): State<AppState>,
    body: Option<Json<FlushRequest>>,
) -> Result<Json<Value>, ApiError> {
    let request = body.map(|Json(body)| body).unwrap_or_default();
    let ids = windows::flush_now(state.queries.store(), &state.clock, &request).await?;
    Ok(Json(json!({ "flushing": ids })))
}

pub async fn replay(
    State(state): State<AppState>,
    Json(request): Json<ReplayRequest>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let selector = request.to_selector(now).map_err(ApiError::BadRequest)?;
    let ids = state.queries.replay(&selector, now).await?;
    state.wake.notify_one();
    Ok(Json(json!({ "replayed": ids })))
}
