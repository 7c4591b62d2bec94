//! The one error type at the HTTP boundary: 4xx with a clear message, 5xx opaque and
//! logged once.

use crate::services::{HookError, IngestError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald_store::StoreError;
use serde_json::json;

/// Seconds a sender is asked to wait when the store cannot write.
const STORAGE_RETRY_AFTER: &str = "5";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// A missing or wrong bearer token (the admin API): 401 with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(String),
    /// A webhook whose signature or credential did not verify: 401, with no
    /// `WWW-Authenticate` (no challenge a sender could answer by logging in).
    #[error("{0}")]
    Unverified(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    HeadersTooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    /// The store cannot take writes now: the sender should retry (503 + `Retry-After`).
    #[error("storage is unavailable; retry later")]
    StorageUnavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::Unverified(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unavailable(_) | ApiError::StorageUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) => tracing::error!(error = %detail, "Request failed"),
            ApiError::StorageUnavailable(detail) => {
                tracing::warn!(error = %detail, "Request refused: the store cannot write")
            }
            _ => {}
        }
        let mut response =
            (self.status(), Json(json!({ "error": self.to_string() }))).into_response();
        if matches!(self, ApiError::StorageUnavailable(_)) {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static(STORAGE_RETRY_AFTER),
            );
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::UnknownSource(_)
            | IngestError::RegistryNeedsHook(_)
            | IngestError::NotARegistry(_)
            | IngestError::Poller { .. }
            | IngestError::UnknownHook { .. } => ApiError::NotFound(error.to_string()),
            IngestError::Hook(hook) => ApiError::from(hook),
            IngestError::Unverified(_) => {
                ApiError::Unverified(format!("request not verified: {error}"))
            }
            IngestError::Malformed(_) => ApiError::BadRequest(error.to_string()),
            // Nothing was acknowledged: the sender's retry is stored once the store writes.
            IngestError::Store(store) => ApiError::StorageUnavailable(store.to_string()),
        }
    }
}

impl From<HookError> for ApiError {
    fn from(error: HookError) -> Self {
        match error {
            HookError::Invalid { .. } => ApiError::BadRequest(error.to_string()),
            HookError::NotFound(_) => ApiError::NotFound(error.to_string()),
            HookError::Taken { .. } => ApiError::Conflict(error.to_string()),
            HookError::NoKey => ApiError::Forbidden(error.to_string()),
            HookError::Seal(_) | HookError::Store(_) => ApiError::Internal(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_admin_token_is_challenged_for_a_bearer() {
        let unverified =
            IngestError::Unverified(crate::ingress::source::VerifyError::SignatureMismatch);
        let response = ApiError::from(unverified).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response
                .headers()
                .get(http::header::WWW_AUTHENTICATE)
                .is_none()
        );
        let admin = ApiError::Unauthorized("a bearer token is required".into()).into_response();
        assert_eq!(admin.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(admin.headers()[http::header::WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn a_store_that_cannot_write_asks_the_sender_to_retry() {
        let error = IngestError::Store(StoreError::Corrupt("database or disk is full".into()));
        let response = ApiError::from(error).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(http::header::RETRY_AFTER).unwrap(),
            STORAGE_RETRY_AFTER
        );
    }
}
