use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderName;

use crate::ingress::source::{ParseError, Parsed, RawRequest, Source, VerifyError};
use crate::integrations::signature::{
    HmacAlgorithm, SignatureEncoding, check_timestamp, generic_event, required_header, secret_keys,
    strip_prefix_ignore_case, verify_any,
};
use crate::secret::Secret;

/// The configuration `kind` of this source.
pub const KIND: &str = "hmac";

const TIMESTAMP_PLACEHOLDER: &str = "{timestamp}";
const BODY_PLACEHOLDER: &str = "{body}";

/// How a generic HMAC signature is carried and computed.
#[derive(Debug, Clone)]
pub struct HmacParams {
    pub header: HeaderName,
    /// Text before the signature, e.g. `sha256=`; empty for none. Matched ignoring case.
    pub prefix: String,
    pub algorithm: HmacAlgorithm,
    pub encoding: SignatureEncoding,
    pub timestamp: Option<TimestampParams>,
}

/// A signed unix-seconds timestamp header, which bounds replays.
#[derive(Debug, Clone)]
pub struct TimestampParams {
    pub header: HeaderName,
    pub tolerance: Duration,
    /// What is signed, with `{timestamp}` and `{body}` placeholders, e.g.
    /// `{timestamp}.{body}`.
    pub signed_payload: String,
}

impl HmacParams {
    /// Checks the parameters before a source is built; the loader reports the error.
    pub fn validate(&self) -> Result<(), String> {
        self.timestamp
            .as_ref()
            .map_or(Ok(()), TimestampParams::validate)
    }
}

impl TimestampParams {
    /// `signed_payload` must contain `{body}` and `{timestamp}` exactly once each: without
    /// them the body or the timestamp would not be authenticated.
    pub fn validate(&self) -> Result<(), String> {
        for placeholder in [BODY_PLACEHOLDER, TIMESTAMP_PLACEHOLDER] {
            if self.signed_payload.matches(placeholder).count() != 1 {
                return Err(format!(
                    "signed_payload `{}` must contain {placeholder} exactly once",
                    self.signed_payload
                ));
            }
        }
        Ok(())
    }
}

/// One piece of the signed payload template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Timestamp,
    Body,
}

/// The timestamp check, prepared once at construction.
#[derive(Debug, Clone)]
struct TimestampCheck {
    header: String,
    tolerance: Duration,
    /// `None` when the template is invalid: verification then always fails (closed).
    template: Option<Vec<Piece>>,
}

/// Verifies a configurable HMAC signature over the raw body (or a template of timestamp
/// and body).
#[derive(Debug, Clone)]
pub struct HmacSource {
    params: HmacParams,
    header: String,
    timestamp: Option<TimestampCheck>,
    secrets: Vec<Secret>,
}

impl HmacSource {
    /// Expects parameters that passed [`HmacParams::validate`]; an invalid template makes
    /// every request fail verification rather than accept unsigned parts.
    pub fn new(params: HmacParams, secrets: Vec<Secret>) -> HmacSource {
        let timestamp = params.timestamp.as_ref().map(|ts| TimestampCheck {
            header: ts.header.as_str().to_owned(),
            tolerance: ts.tolerance,
            template: ts.validate().ok().map(|()| compile(&ts.signed_payload)),
        });
        HmacSource {
            header: params.header.as_str().to_owned(),
            params,
            timestamp,
            secrets,
        }
    }

    fn signature(&self, request: &RawRequest<'_>) -> Result<Vec<u8>, VerifyError> {
        let value = required_header(request, &self.header)?;
        strip_prefix_ignore_case(value, &self.params.prefix)
            .and_then(|encoded| self.params.encoding.decode(encoded.trim()))
            .ok_or_else(|| VerifyError::MalformedHeader(self.header.clone().into()))
    }
}

impl Source for HmacSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn verify(&self, request: &RawRequest<'_>, now: DateTime<Utc>) -> Result<(), VerifyError> {
        let tag = self.signature(request)?;
        let keys = secret_keys(&self.secrets);
        let Some(check) = &self.timestamp else {
            return verify_any(keys, self.params.algorithm, &[request.body], &[tag]);
        };
        let raw = required_header(request, &check.header)?;
        check_timestamp(raw, &check.header, now, check.tolerance)?;
        let template = check
            .template
            .as_ref()
            .ok_or(VerifyError::SignatureMismatch)?;
        let parts: Vec<&[u8]> = template
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.as_bytes(),
                Piece::Timestamp => raw.as_bytes(),
                Piece::Body => request.body,
            })
            .collect();
        verify_any(keys, self.params.algorithm, &parts, &[tag])
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Parsed, ParseError> {
        generic_event(request)
    }

    fn credential_headers(&self) -> Vec<HeaderName> {
        let timestamp = self.params.timestamp.as_ref().map(|ts| ts.header.clone());
        std::iter::once(self.params.header.clone())
            .chain(timestamp)
            .collect()
    }
}

/// Splits a template into literal text and placeholders.
fn compile(template: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let next = [
            (TIMESTAMP_PLACEHOLDER, Piece::Timestamp),
            (BODY_PLACEHOLDER, Piece::Body),
        ]
        .into_iter()
        .filter_map(|(placeholder, piece)| {
            rest.find(placeholder).map(|at| (at, placeholder, piece))
        })
        .min_by_key(|(at, _, _)| *at);
        let Some((at, placeholder, piece)) = next else {
            pieces.push(Piece::Text(rest.to_owned()));
            break;
        };
        if at > 0 {
            pieces.push(Piece::Text(rest[..at].to_owned()));
        }
        pieces.push(piece);
        rest = &rest[at + placeholder.len()..];
    }
    pieces
}
