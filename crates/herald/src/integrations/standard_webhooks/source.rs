use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use http::HeaderName;
use secrecy::{ExposeSecret, SecretSlice};

use crate::ingress::source::{ParseError, Parsed, RawRequest, Source, VerifyError};
use crate::integrations::signature::{
    HmacAlgorithm, check_timestamp, event, parse_json, required_header, str_field, verify_any,
};
use crate::secret::Secret;

/// The configuration `kind` of this source.
pub const KIND: &str = "standard-webhooks";

const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";
const KEY_PREFIX: &str = "whsec_";

/// Receives webhooks signed per the Standard Webhooks specification (Svix and others).
#[derive(Debug, Clone)]
pub struct StandardWebhooksSource {
    /// Secrets decoded once at load; the raw text is never the key.
    keys: Vec<SecretSlice<u8>>,
    tolerance: Duration,
}

impl StandardWebhooksSource {
    /// Decodes each secret (base64, optionally prefixed `whsec_`). The error names the
    /// secret that is not a valid key, never its value.
    pub fn new(secrets: Vec<Secret>, tolerance: Duration) -> Result<Self, String> {
        let keys = secrets.iter().map(decode_key).collect::<Result<_, _>>()?;
        Ok(StandardWebhooksSource { keys, tolerance })
    }
}

fn decode_key(secret: &Secret) -> Result<SecretSlice<u8>, String> {
    let text = secret.expose();
    let text = text.strip_prefix(KEY_PREFIX).unwrap_or(text);
    match BASE64.decode(text) {
        Ok(key) if !key.is_empty() => Ok(SecretSlice::from(key)),
        _ => Err(format!(
            "secret `{}` is not a Standard Webhooks key: expected base64, optionally prefixed with `{KEY_PREFIX}`",
            secret.name()
        )),
    }
}

impl Source for StandardWebhooksSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn verify(&self, request: &RawRequest<'_>, now: DateTime<Utc>) -> Result<(), VerifyError> {
        let id = required_header(request, ID)?;
        let timestamp = required_header(request, TIMESTAMP)?;
        let header = required_header(request, SIGNATURE)?;
        check_timestamp(timestamp, TIMESTAMP, now, self.tolerance)?;
        let parts = [
            id.as_bytes(),
            b".",
            timestamp.as_bytes(),
            b".",
            request.body,
        ];
        let keys = self.keys.iter().map(|key| key.expose_secret());
        verify_any(keys, HmacAlgorithm::Sha256, &parts, &v1_signatures(header))
    }

    /// Typed by the payload's `type` (the spec's convention), deduplicated on `webhook-id`.
    fn parse(&self, request: &RawRequest<'_>) -> Result<Parsed, ParseError> {
        let payload = parse_json(request.body)?;
        let event_type = str_field(&payload, "type").unwrap_or("webhook").to_owned();
        Ok(event(
            event_type,
            request.header(ID).map(str::to_owned),
            payload,
        ))
    }

    fn credential_headers(&self) -> Vec<HeaderName> {
        vec![HeaderName::from_static(SIGNATURE)]
    }
}

/// The `v1` signatures in a space-separated list. Other versions and undecodable entries
/// are skipped, as the spec lets senders add schemes we do not know.
fn v1_signatures(header: &str) -> Vec<Vec<u8>> {
    header
        .split_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, value)| BASE64.decode(value).ok())
        .collect()
}
