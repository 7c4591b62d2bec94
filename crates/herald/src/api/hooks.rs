//! `POST /hooks/{source}` and `POST /hooks/{source}/{id}` (a registered hook): the ingress.
//! Answers 202 only once the event is committed.

use super::AppState;
use super::error::ApiError;
use crate::services::IngestOutcome;
use crate::telemetry;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Instant;

pub async fn receive(
    State(state): State<AppState>,
    Path(source): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(&state, (&source, None), query, &headers, body).await
}

/// A delivery to a registered hook: verified with that hook's secret.
pub async fn receive_hook(
    State(state): State<AppState>,
    Path((source, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(&state, (&source, Some(&id)), query, &headers, body).await
}

async fn respond(
    state: &AppState,
    (source, hook): (&str, Option<&str>),
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let query = query.unwrap_or_default();
    let response = match accept(state, source, hook, headers, body, &query).await {
        Ok(outcome) => answer(outcome),
        Err(error) => error.into_response(),
    };
    // Unknown names are folded into one label so scanners cannot grow the metric set.
    let label = if state.config.source(source).is_some() {
        source
    } else {
        "_unknown"
    };
    telemetry::ingress_request(label, response.status().as_u16(), started.elapsed());
    response
}

async fn accept(
    state: &AppState,
    source: &str,
    hook: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    query: &str,
) -> Result<IngestOutcome, ApiError> {
    let limit = state.ingest.body_limit(source)?;
    let body = read_limited(body, headers, limit).await?;
    let outcome = match hook {
        Some(id) => {
            state
                .ingest
                .receive_hook((source, id), headers, &body, query)
                .await?
        }
        None => state.ingest.receive(source, headers, &body, query).await?,
    };
    Ok(outcome)
}

/// Read the whole body, refusing it as soon as it exceeds the source's limit.
async fn read_limited(body: Body, headers: &HeaderMap, limit: u64) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the body exceeds this source's limit of {limit} bytes"
        ))
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let over_limit = std::error::Error::source(&error)
            .is_some_and(|cause| cause.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large()
        } else {
            ApiError::BadRequest(format!("cannot read the body: {error}"))
        }
    })
}

fn answer(outcome: IngestOutcome) -> Response {
    match outcome {
        IngestOutcome::Accepted {
            event_id,
            deliveries,
        } => (
            StatusCode::ACCEPTED,
            Json(json!({ "event_id": event_id, "duplicate": false, "deliveries": deliveries })),
        )
            .into_response(),
        IngestOutcome::Duplicate { event_id } => (
            StatusCode::OK,
            Json(json!({ "event_id": event_id, "duplicate": true })),
        )
            .into_response(),
        IngestOutcome::Reply(reply) => {
            let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            (status, Json(reply.body)).into_response()
        }
    }
}
