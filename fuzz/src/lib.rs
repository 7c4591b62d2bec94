//! What the fuzz targets share: the harness of the property tests, included from the test
//! suite so both drive the same entry points the same way, and the structured input a
//! source target decodes the fuzzer's bytes into.

#[path = "../../crates/herald/tests/it/properties/harness.rs"]
pub mod harness;

use arbitrary::Arbitrary;
use harness::{Harness, Message, NOW, Request, SENDERS, Sender, TOLERANCE};
use herald::ingress::source::VerifyError;
use serde_json::{Map, Number, Value};
use std::sync::LazyLock;

static HARNESS: LazyLock<Harness> = LazyLock::new(Harness::load);

/// One request to a source of the target's kind.
#[derive(Debug, Arbitrary)]
pub struct Input {
    /// Which of the kind's configurations receives it (modulo their number).
    setup: u8,
    /// Signed as its sender would sign it: verification must then pass (within the
    /// timestamp tolerance), and parse sees what a real sender sends.
    signed: bool,
    /// The delivery or message id and the event name, for senders that send them.
    id: String,
    event: String,
    /// Signed timestamp minus herald's clock, in 1/64 s: about ±8.5 minutes.
    skew: i16,
    content_type: ContentType,
    /// Added to the request; when signed, only names the sender did not set.
    headers: Vec<(String, Vec<u8>)>,
    query: String,
    body: Body,
}

#[derive(Debug, Arbitrary)]
enum ContentType {
    Json,
    Form,
    Absent,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Body {
    Raw(Vec<u8>),
    Json(Json),
    /// Form fields, as Slack's slash commands send them.
    Form(Vec<(String, String)>),
    /// A form whose `payload` field holds JSON (GitHub form deliveries, Slack buttons).
    FormPayload(Json),
}

/// A JSON document the fuzzer can build directly, rather than find byte by byte.
#[derive(Debug, Arbitrary)]
enum Json {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(value) => Value::Bool(*value),
            Json::Integer(value) => Value::from(*value),
            Json::Float(value) => Number::from_f64(*value).map_or(Value::Null, Value::Number),
            Json::Text(text) => Value::String(text.clone()),
            Json::Array(items) => Value::Array(items.iter().map(Json::value).collect()),
            Json::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.clone(), value.value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

impl Body {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Body::Raw(bytes) => bytes.clone(),
            Body::Json(json) => json.value().to_string().into_bytes(),
            Body::Form(fields) => form(fields.iter().map(|(k, v)| (k.as_str(), v.clone()))),
            Body::FormPayload(json) => form([("payload", json.value().to_string())].into_iter()),
        }
    }
}

fn form<'a>(fields: impl Iterator<Item = (&'a str, String)>) -> Vec<u8> {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        serializer.append_pair(key, &value);
    }
    serializer.finish().into_bytes()
}

/// `text` as a header value a sender would send: visible ASCII, never empty.
fn header_text(text: &str, fallback: &str) -> String {
    let visible: String = text.chars().filter(|c| c.is_ascii_graphic()).collect();
    if visible.is_empty() {
        fallback.to_owned()
    } else {
        visible
    }
}

impl Input {
    fn skew(&self) -> i64 {
        i64::from(self.skew) / 64
    }

    fn request(&self, sender: &Sender) -> Request {
        let body = self.body.bytes();
        let mut request = if self.signed {
            let id = header_text(&self.id, "delivery-1");
            let event = header_text(&self.event, "push");
            let message = Message {
                body: &body,
                id: &id,
                event: &event,
                timestamp: NOW + self.skew(),
            };
            sender.request(&message, &sender.key())
        } else {
            Request::new(&body)
        };
        match &self.content_type {
            ContentType::Json => request.set("content-type", b"application/json"),
            ContentType::Form => request.set("content-type", b"application/x-www-form-urlencoded"),
            ContentType::Absent => drop(request.headers.remove("content-type")),
            ContentType::Other(value) => request.set("content-type", value.as_bytes()),
        }
        for (name, value) in &self.headers {
            if !(self.signed && request.headers.contains_key(name.as_str())) {
                request.append(name, value);
            }
        }
        request.query = self.query.clone();
        request
    }

    /// What verify must answer for a signed request.
    fn expected(&self, sender: &Sender) -> Result<(), VerifyError> {
        if sender.signs_timestamp() && self.skew().abs() > TOLERANCE {
            Err(VerifyError::StaleTimestamp)
        } else {
            Ok(())
        }
    }
}

/// Sends `input` to a source of `kind` through verify, parse and prepare. The harness
/// panics on a broken promise (a secret in an error, a stored credential); a signed
/// request must verify.
pub fn run(kind: &str, input: &Input) {
    let senders: Vec<&Sender> = SENDERS.iter().filter(|s| s.kind == kind).collect();
    let sender = senders[usize::from(input.setup) % senders.len()];
    let request = input.request(sender);
    let outcome = HARNESS.exercise(sender, &request.raw(), harness::now());
    if input.signed {
        assert_eq!(outcome.verified, input.expected(sender), "{}", sender.name);
    }
}

/// Loads `data` as a configuration file, when it is UTF-8 (as herald reads it); the
/// harness checks the answer.
pub fn load_config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        // Loaded or refused are both fine; `check_config` panics on a bad answer.
        drop(harness::check_config(text));
    }
}
