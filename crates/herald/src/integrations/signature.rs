//! Pieces shared by the source kinds: HMAC, constant-time comparison, header and timestamp
//! checks, and body decoding.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::{Choice, ConstantTimeEq};

use crate::ingress::source::{Inbound, ParseError, Parsed, RawRequest, VerifyError};
use crate::secret::Secret;
pub(crate) use crate::secret::credential_eq;
use herald_store::model::{Document, JsonText};
use serde_json::value::RawValue;

/// The hash behind an HMAC signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Hexadecimal, either case.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

impl HmacAlgorithm {
    /// HMAC of the concatenated `parts`; parts avoid copying the body into a new buffer.
    pub(crate) fn mac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            HmacAlgorithm::Sha1 => compute::<Hmac<sha1::Sha1>>(key, parts),
            HmacAlgorithm::Sha256 => compute::<Hmac<sha2::Sha256>>(key, parts),
            HmacAlgorithm::Sha512 => compute::<Hmac<sha2::Sha512>>(key, parts),
        }
    }
}

fn compute<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

impl SignatureEncoding {
    /// The signature bytes, or `None` when the text is not in this encoding.
    pub(crate) fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            SignatureEncoding::Hex => hex::decode(text).ok(),
            SignatureEncoding::Base64 => BASE64.decode(text).ok(),
        }
    }
}

/// The raw bytes of each configured secret, used as HMAC keys or tokens.
pub(crate) fn secret_keys(secrets: &[Secret]) -> impl Iterator<Item = &[u8]> {
    secrets.iter().map(|secret| secret.expose().as_bytes())
}

/// Accepts when any key signs `parts` to any of `tags`. Every pair is compared, so the
/// timing does not tell which secret or tag matched.
pub(crate) fn verify_any<'k>(
    keys: impl IntoIterator<Item = &'k [u8]>,
    algorithm: HmacAlgorithm,
    parts: &[&[u8]],
    tags: &[Vec<u8>],
) -> Result<(), VerifyError> {
    let mut matched = Choice::from(0);
    for key in keys {
        let expected = algorithm.mac(key, parts);
        for tag in tags {
            matched |= expected.as_slice().ct_eq(tag.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

/// True when `given` equals any secret; all secrets are compared.
pub(crate) fn matches_any_secret(secrets: &[Secret], given: &[u8]) -> bool {
    secret_keys(secrets).fold(false, |found, key| credential_eq(given, key) | found)
}

/// A header's text: missing, or present but not UTF-8, are different errors.
pub(crate) fn required_header<'a>(
    request: &RawRequest<'a>,
    name: &str,
) -> Result<&'a str, VerifyError> {
    let value = request
        .headers
        .get(name)
        .ok_or_else(|| VerifyError::MissingHeader(name.to_owned().into()))?;
    value
        .to_str()
        .map_err(|_| VerifyError::MalformedHeader(name.to_owned().into()))
}

/// Checks a unix-seconds timestamp header is within `tolerance` of `now`, either way.
pub(crate) fn check_timestamp(
    raw: &str,
    header: &str,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let timestamp: i64 = raw
        .parse()
        .map_err(|_| VerifyError::MalformedHeader(header.to_owned().into()))?;
    if now.timestamp().abs_diff(timestamp) > tolerance.as_secs() {
        return Err(VerifyError::StaleTimestamp);
    }
    Ok(())
}

/// `value` without `prefix`, comparing the prefix ASCII case-insensitively (`Bearer `,
/// `sha256=` are not secret, and senders differ in case).
pub(crate) fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// A string field of a JSON object.
pub(crate) fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// A string field of a document's top-level object, read without parsing the rest of it
/// into values when it is still text: a source that needs one field to name the event
/// leaves the payload unparsed for rules and templates that never read it.
pub(crate) fn top_str_field(document: &Document, key: &str) -> Option<String> {
    if document.is_parsed() {
        return str_field(document.value(), key).map(str::to_owned);
    }
    let mut reader = serde_json::Deserializer::from_str(document.text().as_str());
    serde::de::DeserializeSeed::deserialize(TopField(key), &mut reader)
        .ok()
        .flatten()
}

/// Finds one string field of an object, skipping the others unread.
struct TopField<'k>(&'k str);

impl<'de> serde::de::DeserializeSeed<'de> for TopField<'_> {
    type Value = Option<String>;

    fn deserialize<D: serde::Deserializer<'de>>(self, reader: D) -> Result<Self::Value, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TopField<'_> {
    type Value = Option<String>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON document")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.0 {
                // As a parsed object: the last of repeated keys counts.
                found = map.next_value::<Value>()?.as_str().map(str::to_owned);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A stored event built from its parts.
pub(crate) fn event(
    event_type: impl Into<String>,
    dedup_key: Option<String>,
    payload: impl Into<Document>,
) -> Parsed {
    Parsed::Event(Inbound {
        event_type: event_type.into(),
        dedup_key,
        payload: payload.into(),
    })
}

/// Parsing for kinds with no fixed payload shape (generic HMAC, token): the ingress
/// overrides the event type and dedup key from configuration.
pub(crate) fn generic_event(request: &RawRequest<'_>) -> Result<Parsed, ParseError> {
    Ok(event("webhook", None, Body::read(request)?.into_payload()))
}

const FORM: &str = "application/x-www-form-urlencoded";

/// A request body read according to its content type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// No bytes, or only whitespace.
    Empty,
    /// The body as it came, parsed only when read into.
    Json(Document),
    /// Form fields as JSON strings; a repeated field keeps its last value.
    Form(Map<String, Value>),
}

impl Body {
    /// Form-encoded when the content type says so; anything else must be JSON.
    pub(crate) fn read(request: &RawRequest<'_>) -> Result<Body, ParseError> {
        if request.body.trim_ascii().is_empty() {
            return Ok(Body::Empty);
        }
        if request.content_type().as_deref() == Some(FORM) {
            return Ok(Body::Form(form_fields(request.body)));
        }
        read_json(request.body).map(Body::Json)
    }

    /// The body as one value: form fields become an object, no body becomes `null`.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Body::Empty => Value::Null,
            Body::Json(document) => document.into_value(),
            Body::Form(fields) => Value::Object(fields),
        }
    }

    /// The body as one document, a JSON body left as its text: form fields become an
    /// object, no body becomes `null`.
    pub(crate) fn into_payload(self) -> Document {
        match self {
            Body::Json(document) => document,
            other => Document::from_value(other.into_value()),
        }
    }

    /// A JSON document, sent either as the body or in a form's `payload` field.
    pub(crate) fn into_document(self) -> Result<Document, ParseError> {
        match self {
            Body::Json(document) => Ok(document),
            Body::Form(fields) => embedded_payload(&fields)
                .unwrap_or_else(|| Err(ParseError::new("form body has no payload field")))
                .map(Document::from_value),
            Body::Empty => Err(ParseError::new("body is empty")),
        }
    }
}

/// The JSON in a form's `payload` field (GitHub form deliveries, Slack interactivity).
pub(crate) fn embedded_payload(fields: &Map<String, Value>) -> Option<Result<Value, ParseError>> {
    let text = fields.get("payload")?.as_str()?;
    Some(
        parse_json(text.as_bytes())
            .map_err(|error| ParseError::new(format!("payload field: {error}"))),
    )
}

/// A JSON body checked and kept as its text, to be parsed when something reads into it;
/// whitespace between tokens is dropped (a pretty-printed body is stored compact).
pub(crate) fn read_json(bytes: &[u8]) -> Result<Document, ParseError> {
    let invalid =
        |error: serde_json::Error| ParseError::new(format!("body is not valid JSON: {error}"));
    let text = serde_json::from_slice::<Box<RawValue>>(bytes).map_err(invalid)?;
    let text = match compact(text.get()) {
        Some(compacted) => RawValue::from_string(compacted).map_err(invalid)?,
        None => text,
    };
    Ok(Document::from_text(JsonText::from_raw(text)))
}

/// Valid JSON text without the whitespace between its tokens; None if it has none. Only
/// ASCII whitespace outside strings is dropped, so the rest stays valid UTF-8.
fn compact(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut kept: Option<Vec<u8>> = None;
    // `bytes[copied..index]` is kept but not yet copied (only once something is dropped).
    let (mut index, mut copied) = (0, 0);
    while index < bytes.len() {
        match bytes[index] {
            b'"' => index = string_end(bytes, index + 1),
            b' ' | b'\n' | b'\r' | b'\t' => {
                let out = kept.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                out.extend_from_slice(&bytes[copied..index]);
                index += 1;
                copied = index;
            }
            _ => index += 1,
        }
    }
    let mut out = kept?;
    out.extend_from_slice(&bytes[copied..]);
    String::from_utf8(out).ok()
}

/// The index just past a string's closing quote, `at` just past its opening one: the
/// string's bytes are skipped a run at a time (most of a payload is in its strings).
fn string_end(bytes: &[u8], mut at: usize) -> usize {
    while let Some(found) = bytes
        .get(at..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        let index = at + found;
        if bytes[index] == b'"' {
            return index + 1;
        }
        at = index + 2;
    }
    bytes.len()
}

pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(bytes)
        .map_err(|error| ParseError::new(format!("body is not valid JSON: {error}")))
}

fn form_fields(bytes: &[u8]) -> Map<String, Value> {
    url::form_urlencoded::parse(bytes)
        .map(|(key, value)| (key.into_owned(), Value::String(value.into_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::integrations::test_support::{TestRequest, at};

    #[test]
    fn timestamp_window_is_inclusive_and_symmetric() {
        let window = Duration::from_secs(300);
        let cases = [
            ("1000", 1300, Ok(())),
            ("1000", 700, Ok(())),
            ("1000", 1301, Err(VerifyError::StaleTimestamp)),
            ("1000", 699, Err(VerifyError::StaleTimestamp)),
            (
                "-9223372036854775808",
                1000,
                Err(VerifyError::StaleTimestamp),
            ),
            (
                "1000.0",
                1000,
                Err(VerifyError::MalformedHeader("t".into())),
            ),
            ("", 1000, Err(VerifyError::MalformedHeader("t".into()))),
        ];
        for (raw, now, expected) in cases {
            assert_eq!(
                check_timestamp(raw, "t", at(now), window),
                expected,
                "{raw} at {now}"
            );
        }
    }

    #[test]
    fn prefixes_match_ignoring_ascii_case() {
        assert_eq!(
            strip_prefix_ignore_case("Bearer abc", "bearer "),
            Some("abc")
        );
        assert_eq!(strip_prefix_ignore_case("sha256=ab", ""), Some("sha256=ab"));
        assert_eq!(strip_prefix_ignore_case("sha1=ab", "sha256="), None);
        // A multi-byte character across the prefix boundary must not panic.
        assert_eq!(strip_prefix_ignore_case("é", "x"), None);
    }

    #[test]
    fn credentials_compare_whole_values() {
        assert!(credential_eq(b"token", b"token"));
        assert!(!credential_eq(b"token", b"tokens"));
        assert!(!credential_eq(b"", b"token"));
    }

    #[test]
    fn mixed_case_header_lookup_and_non_utf8_values() {
        let request = TestRequest::new("").header("x-hub-signature-256", "a");
        assert_eq!(
            required_header(&request.raw(), "X-Hub-Signature-256"),
            Ok("a")
        );
        let mut binary = TestRequest::new("");
        let value = http::HeaderValue::from_bytes(&[0xff]).expect("opaque bytes");
        binary.headers.insert("x-sig", value);
        assert_eq!(
            required_header(&binary.raw(), "x-sig"),
            Err(VerifyError::MalformedHeader("x-sig".into()))
        );
    }

    #[test]
    fn bodies_by_content_type() {
        let cases = [
            (TestRequest::new(" \n"), Body::Empty),
            (TestRequest::new("[1]"), Body::Json(json!([1]).into())),
            (
                TestRequest::new("[1]").json(),
                Body::Json(json!([1]).into()),
            ),
            (
                TestRequest::new("a=1&b=%C3%A9").header(
                    "content-type",
                    "Application/X-WWW-Form-Urlencoded; charset=utf-8",
                ),
                Body::Form(
                    json!({"a": "1", "b": "é"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                ),
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(Body::read(&request.raw()), Ok(expected));
        }
        assert!(Body::read(&TestRequest::new("a=1").raw()).is_err());
    }

    #[test]
    fn documents_come_from_json_or_a_payload_field() {
        let form = |body: &str| Body::read(&TestRequest::new(body).form().raw()).expect("form");
        assert_eq!(
            form("payload=%7B%22a%22%3A1%7D").into_document(),
            Ok(json!({"a": 1}).into())
        );
        assert!(form("payload=%7B").into_document().is_err());
        assert!(form("other=1").into_document().is_err());
        assert!(Body::Empty.into_document().is_err());
    }

    /// A JSON body is kept as it came and read into only when asked: one top-level field
    /// is found without parsing the rest, as a parsed object would give it.
    #[test]
    fn a_json_body_stays_text_and_one_field_is_read_from_it() {
        let body = r#" {"zen": {"action": "nested"}, "act\u0069on": "first", "action": "closed", "n": [1, {"a": 2}]} "#;
        let Ok(Body::Json(document)) = Body::read(&TestRequest::new(body).json().raw()) else {
            panic!("a JSON body");
        };
        assert_eq!(
            top_str_field(&document, "action").as_deref(),
            Some("closed")
        );
        assert_eq!(top_str_field(&document, "n"), None, "not a string");
        assert_eq!(top_str_field(&document, "missing"), None);
        assert!(!document.is_parsed(), "nothing parsed into values yet");
        assert_eq!(
            document.text().as_str(),
            r#"{"zen":{"action":"nested"},"act\u0069on":"first","action":"closed","n":[1,{"a":2}]}"#,
            "kept as it came, without the whitespace between tokens"
        );
        assert_eq!(
            document["action"],
            json!("closed"),
            "the last repeated key counts"
        );
        assert_eq!(
            top_str_field(&document, "action").as_deref(),
            Some("closed")
        );
        for other in ["[1, 2]", "\"text\"", "7", "null"] {
            let Ok(Body::Json(document)) = Body::read(&TestRequest::new(other).json().raw()) else {
                panic!("{other} is JSON");
            };
            assert_eq!(top_str_field(&document, "action"), None, "{other}");
        }
    }

    #[test]
    fn compacting_keeps_strings_whole() {
        let text = "{ \"a b\" : [ 1 ,\t\"x \\\" y\\\\\" , \"é \" ] ,\r\n \"c\":null }";
        let compacted = compact(text).expect("has whitespace");
        assert_eq!(compacted, r#"{"a b":[1,"x \" y\\","é "],"c":null}"#);
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&compacted).unwrap(), value);
        assert_eq!(compact(&compacted), None);
        assert_eq!(compact(r#""  spaced  ""#), None);
    }

    #[test]
    fn compacting_a_pretty_print_gives_the_compact_print() {
        let values = [
            json!({"empty": "", "slash": "\\", "quote": "\"", "both": "\\\"", "tab": "\t x"}),
            json!([[], {}, [{"a": [1, 2.5, -3e10, true, false, null]}], "é 🚀 \u{1}"]),
            json!({"nested": {"deep": {"deeper": ["  ", " \\ ", "\\\\"]}}}),
            json!(["a string ending in a backslash \\", "and \\\""]),
        ];
        for value in values {
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            let compacted = compact(&pretty).expect("a pretty print has whitespace");
            assert_eq!(
                compacted,
                serde_json::to_string(&value).unwrap(),
                "{pretty}"
            );
            assert_eq!(compact(&compacted), None, "{compacted}");
        }
    }
}
