use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderName;
use serde_json::{Map, Value, json};

use crate::ingress::source::{ParseError, Parsed, RawRequest, Reply, Source, VerifyError};
use crate::integrations::signature::{
    Body, HmacAlgorithm, SignatureEncoding, check_timestamp, embedded_payload, event,
    required_header, secret_keys, str_field, strip_prefix_ignore_case, verify_any,
};
use crate::secret::Secret;

/// The configuration `kind` of this source.
pub const KIND: &str = "slack";

const SIGNATURE: &str = "X-Slack-Signature";
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

/// Receives Slack Events API callbacks, interactivity payloads and slash commands.
#[derive(Debug, Clone)]
pub struct SlackSource {
    secrets: Vec<Secret>,
    tolerance: Duration,
}

impl SlackSource {
    /// `tolerance` bounds clock skew and replays; Slack recommends 300 s.
    pub fn new(secrets: Vec<Secret>, tolerance: Duration) -> SlackSource {
        SlackSource { secrets, tolerance }
    }
}

impl Source for SlackSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn verify(&self, request: &RawRequest<'_>, now: DateTime<Utc>) -> Result<(), VerifyError> {
        let timestamp = required_header(request, TIMESTAMP)?;
        let header = required_header(request, SIGNATURE)?;
        check_timestamp(timestamp, TIMESTAMP, now, self.tolerance)?;
        let tag = strip_prefix_ignore_case(header, "v0=")
            .and_then(|hex| SignatureEncoding::Hex.decode(hex))
            .ok_or(VerifyError::MalformedHeader(SIGNATURE.into()))?;
        let parts = [b"v0:", timestamp.as_bytes(), b":", request.body];
        verify_any(
            secret_keys(&self.secrets),
            HmacAlgorithm::Sha256,
            &parts,
            &[tag],
        )
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Parsed, ParseError> {
        match Body::read(request)? {
            Body::Json(document) => events_api(document.into_value()),
            Body::Form(fields) => match embedded_payload(&fields) {
                Some(payload) => interactivity(payload?),
                None => slash_command(fields),
            },
            Body::Empty => Err(ParseError::new("body is empty")),
        }
    }

    fn credential_headers(&self) -> Vec<HeaderName> {
        vec![HeaderName::from_static("x-slack-signature")]
    }
}

/// Events API: answers the URL handshake, and types callbacks by their inner event.
fn events_api(value: Value) -> Result<Parsed, ParseError> {
    let kind =
        str_field(&value, "type").ok_or_else(|| ParseError::new("Slack payload has no type"))?;
    match kind {
        "url_verification" => {
            let challenge = str_field(&value, "challenge")
                .ok_or_else(|| ParseError::new("url_verification has no challenge"))?;
            Ok(Parsed::Reply(Reply {
                status: 200,
                body: json!({ "challenge": challenge }),
            }))
        }
        "event_callback" => {
            let inner = value
                .get("event")
                .and_then(|inner| str_field(inner, "type"))
                .ok_or_else(|| ParseError::new("event_callback has no event.type"))?
                .to_owned();
            let dedup = str_field(&value, "event_id").map(str::to_owned);
            Ok(event(inner, dedup, value))
        }
        other => Ok(event(other.to_owned(), None, value)),
    }
}

/// Interactivity (`block_actions`, `view_submission`, …): typed by the payload's `type`.
fn interactivity(payload: Value) -> Result<Parsed, ParseError> {
    let kind = str_field(&payload, "type")
        .ok_or_else(|| ParseError::new("interactivity payload has no type"))?
        .to_owned();
    let dedup = str_field(&payload, "trigger_id").map(str::to_owned);
    Ok(event(kind, dedup, payload))
}

/// Slash commands are plain form fields; `command` tells them apart from junk forms.
fn slash_command(fields: Map<String, Value>) -> Result<Parsed, ParseError> {
    let payload = Value::Object(fields);
    if str_field(&payload, "command").is_none() {
        return Err(ParseError::new(
            "form body is neither a slash command nor a payload",
        ));
    }
    let dedup = str_field(&payload, "trigger_id").map(str::to_owned);
    Ok(event("slash_command", dedup, payload))
}
