use chrono::{DateTime, Utc};
use http::HeaderName;
use serde_json::{Value, json};

use crate::ingress::source::{ParseError, Parsed, RawRequest, Reply, Source, VerifyError};
use crate::integrations::signature::{
    Body, HmacAlgorithm, SignatureEncoding, event, required_header, secret_keys,
    strip_prefix_ignore_case, top_str_field, verify_any,
};
use crate::secret::Secret;
use std::sync::Arc;

/// The configuration `kind` of this source.
pub const KIND: &str = "github";

const SIGNATURE: &str = "X-Hub-Signature-256";
const EVENT: &str = "X-GitHub-Event";
const DELIVERY: &str = "X-GitHub-Delivery";

/// Receives GitHub webhook deliveries. Only the SHA-256 signature is accepted; the legacy
/// SHA-1 `X-Hub-Signature` alone never verifies. A request without `X-GitHub-Delivery`
/// does not verify either, unless configured otherwise: without it, a captured body
/// replayed would be stored again. (`herald send` skips verification, so needs none.)
#[derive(Debug, Clone)]
pub struct GithubSource {
    secrets: Vec<Secret>,
    require_delivery: bool,
}

impl GithubSource {
    pub fn new(secrets: Vec<Secret>) -> GithubSource {
        GithubSource {
            secrets,
            require_delivery: true,
        }
    }

    /// Whether a request without `X-GitHub-Delivery` is refused (the default).
    pub fn requiring_delivery(mut self, required: bool) -> Self {
        self.require_delivery = required;
        self
    }
}

impl Source for GithubSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn verify(&self, request: &RawRequest<'_>, _now: DateTime<Utc>) -> Result<(), VerifyError> {
        let header = required_header(request, SIGNATURE)?;
        // GitHub always sends it; without it a captured body could be stored again.
        if self.require_delivery {
            required_header(request, DELIVERY)?;
        }
        let tag = strip_prefix_ignore_case(header, "sha256=")
            .and_then(|hex| SignatureEncoding::Hex.decode(hex))
            .ok_or(VerifyError::MalformedHeader(SIGNATURE.into()))?;
        verify_any(
            secret_keys(&self.secrets),
            HmacAlgorithm::Sha256,
            &[request.body],
            &[tag],
        )
    }

    /// Event type is `X-GitHub-Event`, plus `.action` when the payload has one.
    fn parse(&self, request: &RawRequest<'_>) -> Result<Parsed, ParseError> {
        let name = request
            .header(EVENT)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| ParseError::new(format!("missing {EVENT} header")))?;
        let delivery = request.header(DELIVERY).filter(|id| !id.is_empty());
        let payload = Body::read(request)?.into_document()?;
        if name == "ping" {
            return Ok(Parsed::Reply(ping_reply(&payload)));
        }
        let event_type = match top_str_field(&payload, "action") {
            Some(action) => format!("{name}.{action}"),
            None => name.to_owned(),
        };
        Ok(event(event_type, delivery.map(str::to_owned), payload))
    }

    fn credential_headers(&self) -> Vec<HeaderName> {
        vec![
            HeaderName::from_static("x-hub-signature-256"),
            HeaderName::from_static("x-hub-signature"),
        ]
    }

    /// A registered hook's verifier: its own secrets, this source's options.
    fn with_secrets(&self, secrets: Vec<Secret>) -> Option<Arc<dyn Source>> {
        Some(Arc::new(GithubSource {
            secrets,
            ..self.clone()
        }))
    }
}

/// GitHub sends `ping` when a hook is created; answering it proves the endpoint works.
fn ping_reply(payload: &Value) -> Reply {
    let field = |key: &str| payload.get(key).cloned().unwrap_or(Value::Null);
    Reply {
        status: 200,
        body: json!({ "ok": true, "zen": field("zen"), "hook_id": field("hook_id") }),
    }
}
