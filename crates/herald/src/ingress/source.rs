//! The contract every webhook source kind implements (one per integration folder).
//!
//! Verification runs on the raw body bytes before anything is parsed, as a pure function
//! of the request, the configured secrets and the current time.

use crate::secret::Secret;
use chrono::{DateTime, Utc};
use herald_store::model::Document;
use http::{HeaderMap, HeaderName};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// A request as it arrived: headers and the raw body, untouched.
#[derive(Debug, Clone, Copy)]
pub struct RawRequest<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The URL's query string, without `?` (empty when there is none).
    pub query: &'a str,
}

impl<'a> RawRequest<'a> {
    /// A header as UTF-8 text, if present and valid.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The media type of the body, lowercased, without parameters.
    pub fn content_type(&self) -> Option<String> {
        let value = self.header("content-type")?;
        let media_type = value.split(';').next().unwrap_or_default();
        Some(media_type.trim().to_ascii_lowercase())
    }
}

/// Why a request was not accepted as authentic. Messages name what was wrong, never the
/// expected value. Header names are borrowed when static, owned when configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing {0} header")]
    MissingHeader(Cow<'static, str>),
    #[error("malformed {0} header")]
    MalformedHeader(Cow<'static, str>),
    #[error("request timestamp is outside the allowed window")]
    StaleTimestamp,
    #[error("signature does not match")]
    SignatureMismatch,
    #[error("credentials do not match")]
    CredentialMismatch,
}

/// A verified request whose body cannot be turned into an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        ParseError(message.into())
    }
}

/// What a verified request turns into.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// An event to store and route.
    Event(Inbound),
    /// A protocol exchange answered at once and never stored (GitHub `ping`, Slack
    /// `url_verification`).
    Reply(Reply),
}

/// The parts of an event a source kind determines from the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub event_type: String,
    /// The sender's delivery id, used to drop retries of the same delivery.
    pub dedup_key: Option<String>,
    /// As it came; parsed when read into.
    pub payload: Document,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// Request headers never stored, whatever the source kind: HTTP's own credentials.
pub const HTTP_CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// A webhook source kind: how its requests are authenticated and read.
pub trait Source: Send + Sync + 'static {
    /// The configuration `kind` this implements, e.g. `github`.
    fn kind(&self) -> &'static str;

    /// Check the request is authentic. Compares in constant time; any of the configured
    /// secrets may match, so a secret can be rotated without downtime.
    fn verify(&self, request: &RawRequest<'_>, now: DateTime<Utc>) -> Result<(), VerifyError>;

    /// Read a verified request.
    fn parse(&self, request: &RawRequest<'_>) -> Result<Parsed, ParseError>;

    /// Headers that carry credentials for this source (its signature, its token) and must
    /// not be stored with the event. HTTP's own (`HTTP_CREDENTIAL_HEADERS`) are dropped
    /// anyway.
    fn credential_headers(&self) -> Vec<HeaderName> {
        Vec::new()
    }

    /// This source verifying with `secrets` instead of its configured ones, the rest of its
    /// options kept: a registered hook's verifier. None for a kind that cannot be a
    /// registry (`registry = true`).
    fn with_secrets(&self, _secrets: Vec<Secret>) -> Option<Arc<dyn Source>> {
        None
    }
}
