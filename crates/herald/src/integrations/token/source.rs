use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use http::HeaderName;
use http::header::AUTHORIZATION;

use crate::ingress::source::{ParseError, Parsed, RawRequest, Source, VerifyError};
use crate::integrations::signature::{
    credential_eq, generic_event, matches_any_secret, required_header, strip_prefix_ignore_case,
};
use crate::secret::Secret;

/// The configuration `kind` of this source.
pub const KIND: &str = "token";

const AUTHORIZATION_LABEL: &str = "Authorization";

/// Where the shared token is presented.
#[derive(Debug, Clone)]
pub enum TokenParams {
    /// `header` must equal `prefix` + a secret. The prefix (e.g. `Bearer `) is matched
    /// ignoring ASCII case; the secret part is compared in constant time.
    Header { header: HeaderName, prefix: String },
    /// `Authorization: Basic base64(user:password)` where the password is a secret and,
    /// when configured, the user name must match too.
    Basic { username: Option<String> },
}

/// Accepts requests that present one of the configured secrets.
#[derive(Debug, Clone)]
pub struct TokenSource {
    params: TokenParams,
    /// The URL's query parameters are event fields too (over the body's): a sender that
    /// cannot escape JSON (the Pact Broker) can put its values in the URL, which it escapes.
    query_params: bool,
    /// The header name as reported in errors.
    label: String,
    secrets: Vec<Secret>,
}

impl TokenSource {
    pub fn new(params: TokenParams, secrets: Vec<Secret>) -> TokenSource {
        let label = match &params {
            TokenParams::Header { header, .. } => header.as_str().to_owned(),
            TokenParams::Basic { .. } => AUTHORIZATION_LABEL.to_owned(),
        };
        TokenSource {
            params,
            query_params: false,
            label,
            secrets,
        }
    }

    /// Take event fields from the query string too.
    pub fn with_query_params(mut self, query_params: bool) -> Self {
        self.query_params = query_params;
        self
    }

    fn verify_header(&self, value: &str, prefix: &str) -> Result<(), VerifyError> {
        let token =
            strip_prefix_ignore_case(value, prefix).ok_or(VerifyError::CredentialMismatch)?;
        if matches_any_secret(&self.secrets, token.as_bytes()) {
            Ok(())
        } else {
            Err(VerifyError::CredentialMismatch)
        }
    }

    fn verify_basic(&self, value: &str, username: Option<&str>) -> Result<(), VerifyError> {
        let malformed = VerifyError::MalformedHeader(AUTHORIZATION_LABEL.into());
        let encoded = strip_prefix_ignore_case(value, "Basic ").ok_or(malformed.clone())?;
        let decoded = BASE64
            .decode(encoded.trim())
            .map_err(|_| malformed.clone())?;
        let colon = decoded
            .iter()
            .position(|byte| *byte == b':')
            .ok_or(malformed)?;
        let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
        // Both checks always run, so a wrong user name takes as long as a wrong password.
        let user_ok = username.is_none_or(|expected| credential_eq(user, expected.as_bytes()));
        let password_ok = matches_any_secret(&self.secrets, password);
        if user_ok & password_ok {
            Ok(())
        } else {
            Err(VerifyError::CredentialMismatch)
        }
    }
}

impl Source for TokenSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn verify(&self, request: &RawRequest<'_>, _now: DateTime<Utc>) -> Result<(), VerifyError> {
        let value = required_header(request, &self.label)?;
        match &self.params {
            TokenParams::Header { prefix, .. } => self.verify_header(value, prefix),
            TokenParams::Basic { username } => self.verify_basic(value, username.as_deref()),
        }
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Parsed, ParseError> {
        let parsed = generic_event(request)?;
        if !self.query_params || request.query.is_empty() {
            return Ok(parsed);
        }
        let Parsed::Event(mut inbound) = parsed else {
            return Ok(parsed);
        };
        let mut fields = match inbound.payload.into_value() {
            serde_json::Value::Object(fields) => fields,
            serde_json::Value::Null => serde_json::Map::new(),
            _ => {
                return Err(ParseError::new(
                    "with query_params the body must be a JSON object, a form, or empty",
                ));
            }
        };
        fields.extend(query_fields(request.query));
        inbound.payload = serde_json::Value::Object(fields).into();
        Ok(Parsed::Event(inbound))
    }

    fn credential_headers(&self) -> Vec<HeaderName> {
        match &self.params {
            TokenParams::Header { header, .. } => vec![header.clone()],
            TokenParams::Basic { .. } => vec![AUTHORIZATION],
        }
    }
}

/// Query parameters as JSON strings; a repeated one keeps its last value.
fn query_fields(query: &str) -> serde_json::Map<String, serde_json::Value> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| {
            (
                key.into_owned(),
                serde_json::Value::String(value.into_owned()),
            )
        })
        .collect()
}
