//! `/api/hooks`: registered hooks, behind the admin token. A secret appears only in the
//! answer that creates it (register, rotate); nothing else ever shows one.

use super::AppState;
use super::error::ApiError;
use crate::secret::Secret;
use crate::services::hooks::{HookView, ImportRequest, RegisterRequest, parse_grace};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `POST /api/hooks` `{"source", "repo", "id"?}` → 201 with the secret, once.
pub async fn register(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: RegisterRequest = json_body(&body)?;
    let created = state.hooks.register(&request).await?;
    Ok((StatusCode::CREATED, Json(created.to_json())).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    source: Option<String>,
}

/// `GET /api/hooks[?source=]`
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<HookView>>, ApiError> {
    Ok(Json(state.hooks.list(query.source.as_deref()).await?))
}

/// `GET /api/hooks/{source}/{id}`
pub async fn show(
    State(state): State<AppState>,
    Path((source, id)): Path<(String, String)>,
) -> Result<Json<HookView>, ApiError> {
    Ok(Json(state.hooks.show(&source, &id).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// How long the replaced secret stays valid (`24h` unless given).
    grace: Option<String>,
}

/// `POST /api/hooks/{source}/{id}/rotate` `{"grace"?}` → the new secret, once.
pub async fn rotate(
    State(state): State<AppState>,
    Path((source, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        json_body(&body)?
    };
    let grace = parse_grace(request.grace.as_deref())?;
    let rotated = state.hooks.rotate(&source, &id, grace).await?;
    Ok(Json(rotated.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    #[serde(alias = "repository")]
    repo: String,
    secret: String,
}

/// `PUT /api/hooks/{source}/{id}` `{"repo", "secret"}`: a hook keeping a secret it already
/// has. 201 when created, 200 when it replaced the stored one; the secret is not echoed.
pub async fn import(
    State(state): State<AppState>,
    Path((source, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ImportBody = json_body(&body)?;
    let request = ImportRequest {
        source,
        repo: body.repo,
        id: Some(id),
        secret: Secret::new("imported hook secret", body.secret),
    };
    let (hook, created) = state.hooks.import(&request).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(hook)).into_response())
}

/// `DELETE /api/hooks/{source}/{id}` → 204.
pub async fn delete(
    State(state): State<AppState>,
    Path((source, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.hooks.delete(&source, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A JSON body; a missing field, a wrong type or text that is not JSON is a 400 naming
/// what was wrong.
fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("invalid request body: {error}")))
}
