use chrono::{DateTime, Utc};
use http::HeaderName;

use crate::ingress::source::{ParseError, Parsed, RawRequest, Source, VerifyError};
use crate::integrations::signature::{
    HmacAlgorithm, SignatureEncoding, event, parse_json, required_header, secret_keys, str_field,
    verify_any,
};
use crate::secret::Secret;

/// The configuration `kind` of this source.
pub const KIND: &str = "circleci";

const SIGNATURE: &str = "circleci-signature";
const EVENT_TYPE: &str = "circleci-event-type";

/// Receives CircleCI outbound webhooks.
///
/// Only `v1` signatures are checked, as CircleCI advises, so a newer version cannot be
/// used to downgrade. A header without any `v1` entry fails with `SignatureMismatch`: it
/// is well formed, it just carries no signature we accept. Entries that are not
/// `version=value`, or a `v1` value that is not hex, give `MalformedHeader`.
#[derive(Debug, Clone)]
pub struct CircleciSource {
    secrets: Vec<Secret>,
}

impl CircleciSource {
    pub fn new(secrets: Vec<Secret>) -> CircleciSource {
        CircleciSource { secrets }
    }
}

impl Source for CircleciSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn verify(&self, request: &RawRequest<'_>, _now: DateTime<Utc>) -> Result<(), VerifyError> {
        let tags = v1_signatures(required_header(request, SIGNATURE)?)?;
        verify_any(
            secret_keys(&self.secrets),
            HmacAlgorithm::Sha256,
            &[request.body],
            &tags,
        )
    }

    /// Typed by the payload's `type`, or the `circleci-event-type` header; deduplicated on
    /// the payload `id`, since CircleCI retries deliveries.
    fn parse(&self, request: &RawRequest<'_>) -> Result<Parsed, ParseError> {
        let payload = parse_json(request.body)?;
        let event_type = str_field(&payload, "type")
            .or_else(|| request.header(EVENT_TYPE))
            .ok_or_else(|| ParseError::new("CircleCI payload has no type"))?
            .to_owned();
        let dedup = str_field(&payload, "id").map(str::to_owned);
        Ok(event(event_type, dedup, payload))
    }

    fn credential_headers(&self) -> Vec<HeaderName> {
        vec![HeaderName::from_static(SIGNATURE)]
    }
}

/// The decoded `v1` values of a comma-separated `version=value` list.
fn v1_signatures(header: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
    let malformed = VerifyError::MalformedHeader(SIGNATURE.into());
    let mut tags = Vec::new();
    for entry in header
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let (version, value) = entry.split_once('=').ok_or(malformed.clone())?;
        if version.trim() == "v1" {
            tags.push(
                SignatureEncoding::Hex
                    .decode(value.trim())
                    .ok_or(malformed.clone())?,
            );
        }
    }
    if tags.is_empty() {
        return Err(VerifyError::SignatureMismatch);
    }
    Ok(tags)
}
