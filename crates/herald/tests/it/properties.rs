//! Properties of every source kind's entry points (`Source::verify`, `Source::parse`, then
//! ingest's `prepare`) and of configuration loading, over generated requests and files.
//! The fuzz targets in `fuzz/` drive the same harness (`properties/harness.rs`) for as long
//! as they are left to run; here a modest number of cases runs in every `cargo test`, and
//! `PROPTEST_CASES` raises it.

mod harness;

use harness::{
    HEADER_NAMES, Harness, Message, NOW, Request, SENDERS, Scheme, Sender, TOLERANCE, change_byte,
    check_config, config_text,
};
use herald::ingress::source::{Parsed, VerifyError};
use http::HeaderName;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Value};
use std::sync::LazyLock;

static HARNESS: LazyLock<Harness> = LazyLock::new(Harness::load);

/// `cases`, unless `PROPTEST_CASES` sets the count (`with_cases` alone would ignore it).
fn cases(cases: u32) -> ProptestConfig {
    let from_env = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        from_env
    } else {
        ProptestConfig::with_cases(cases)
    }
}

fn sender() -> impl Strategy<Value = Sender> {
    select(SENDERS)
}

fn senders_where(keep: fn(&Sender) -> bool) -> impl Strategy<Value = Sender> {
    select(SENDERS.iter().copied().filter(keep).collect::<Vec<_>>())
}

/// What a sender chooses besides the body: its ids and names are valid header values.
#[derive(Debug, Clone)]
struct Sent {
    body: Vec<u8>,
    id: String,
    event: String,
    timestamp: i64,
}

impl Sent {
    fn message(&self) -> Message<'_> {
        Message {
            body: &self.body,
            id: &self.id,
            event: &self.event,
            timestamp: self.timestamp,
        }
    }
}

/// A body and ids as a sender would send them, stamped within the tolerance.
fn sent(body: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Sent> {
    let event = "[a-z_]{1,20}".prop_filter("ping is answered, not stored", |e| e != "ping");
    (body, "[A-Za-z0-9_.-]{1,36}", event, -TOLERANCE..=TOLERANCE).prop_map(
        |(body, id, event, skew)| Sent {
            body,
            id,
            event,
            timestamp: NOW + skew,
        },
    )
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

/// Any JSON value: every finite float, every string.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            object(inner).prop_map(Value::Object),
        ]
    })
}

fn object(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![any::<String>(), "[a-z_]{1,10}"];
    prop::collection::btree_map(key, values, 0..6).prop_map(|map| map.into_iter().collect())
}

/// Bodies that reach each parser: raw bytes, JSON, forms, a form carrying JSON.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        bytes(),
        json().prop_map(|value| value.to_string().into_bytes()),
        "([a-z_]{1,8}=[ -~]{0,12}&?){0,4}".prop_map(String::into_bytes),
        json().prop_map(|value| {
            let encoded: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", &value.to_string())
                .finish();
            encoded.into_bytes()
        }),
    ]
}

/// Header names the sources read, and others.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        select(HEADER_NAMES).prop_map(str::to_owned),
        "[A-Za-z0-9-]{1,16}",
        ".{0,8}",
    ]
}

/// Header values in the shapes the sources parse (prefixed hex and base64, timestamps
/// near now, basic credentials), and arbitrary bytes.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    let prefixes = select(
        &[
            "",
            "sha256=",
            "SHA256=",
            "sha1=",
            "v0=",
            "v1=",
            "v1,",
            "v1=00,v2=",
            "Bearer ",
            "Basic ",
        ][..],
    );
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        "[ -~]{0,40}".prop_map(String::into_bytes),
        (prefixes.clone(), "[0-9a-fA-F]{0,130}")
            .prop_map(|(prefix, hex)| format!("{prefix}{hex}").into_bytes()),
        (prefixes, "[A-Za-z0-9+/]{0,88}={0,2}")
            .prop_map(|(prefix, b64)| format!("{prefix}{b64}").into_bytes()),
        (NOW - 1_000..NOW + 1_000).prop_map(|t| t.to_string().into_bytes()),
        Just(b"application/x-www-form-urlencoded".to_vec()),
        Just(b"application/json".to_vec()),
    ]
}

/// A request from someone without the secret: any headers and body, or one shaped like
/// the sender's (its headers, made with the wrong key) with some header values replaced,
/// some headers removed and others added, which gets past the header checks to the
/// signature and to parse.
fn unsigned_request() -> impl Strategy<Value = (Sender, Request)> {
    let changes = prop::collection::vec((any::<Index>(), prop::option::of(header_value())), 0..4);
    let query = "[ -~]{0,24}";
    let any_request =
        (sender(), headers(), body(), query).prop_map(|(sender, extra, body, query)| {
            let mut request = Request::new(&body);
            add_headers(&mut request, extra);
            request.query = query;
            (sender, request)
        });
    let shaped = (sender(), sent(body()), changes, headers(), query).prop_map(
        |(sender, sent, changes, extra, query)| {
            let mut request = sender.request(&sent.message(), b"not the secret");
            let names: Vec<HeaderName> = request.headers.keys().cloned().collect();
            for (index, value) in changes {
                let name = index.get(&names);
                match value {
                    Some(value) => request.set(name.as_str(), &value),
                    None => drop(request.headers.remove(name)),
                }
            }
            add_headers(&mut request, extra);
            request.query = query;
            (sender, request)
        },
    );
    prop_oneof![any_request, shaped]
}

fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec((header_name(), header_value()), 0..8)
}

fn add_headers(request: &mut Request, headers: Vec<(String, Vec<u8>)>) {
    for (name, value) in headers {
        request.append(&name, &value);
    }
}

/// The event type each kind gives a JSON object with a `type` field.
fn expected_event_type(sender: &Sender, sent: &Sent, object: &Map<String, Value>) -> String {
    let field = |key: &str| object.get(key).and_then(Value::as_str);
    match sender.scheme {
        Scheme::Github => match field("action") {
            Some(action) => format!("{}.{action}", sent.event),
            None => sent.event.clone(),
        },
        Scheme::Slack | Scheme::Circleci | Scheme::StandardWebhooks => {
            field("type").unwrap_or_default().to_owned()
        }
        Scheme::Hmac { .. } | Scheme::Token { .. } | Scheme::Basic { .. } => "webhook".to_owned(),
    }
}

proptest! {
    #![proptest_config(cases(128))]

    /// Whatever arrives, verify and parse answer with a result and never accept a request
    /// nobody signed: a panic would drop the connection, an acceptance would store a
    /// forgery. `exercise` also checks that no error shows a secret and that no credential
    /// header is stored.
    #[test]
    fn unsigned_requests_never_panic_and_never_verify(
        (sender, request) in unsigned_request(),
    ) {
        let outcome = HARNESS.exercise(&sender, &request.raw(), harness::now());
        prop_assert!(outcome.verified.is_err(), "{} accepted {request:?}", sender.name);
    }

    /// A request signed as the provider documents, with a timestamp within the tolerance,
    /// always verifies, whatever its body.
    #[test]
    fn signed_requests_always_verify(sender in sender(), sent in sent(bytes())) {
        let request = sender.request(&sent.message(), &sender.key());
        let outcome = HARNESS.exercise(&sender, &request.raw(), harness::now());
        prop_assert_eq!(outcome.verified, Ok(()), "{}", sender.name);
    }

    /// One changed body byte fails every sender whose signature covers the body; a token
    /// does not cover it, so a token source still accepts.
    #[test]
    fn a_changed_body_byte_fails_exactly_the_senders_that_sign_it(
        sender in sender(),
        sent in sent(prop::collection::vec(any::<u8>(), 1..256)),
        at in any::<usize>(),
        delta in any::<u8>(),
    ) {
        let mut request = sender.request(&sent.message(), &sender.key());
        request.body = change_byte(&sent.body, at, delta);
        let outcome = HARNESS.exercise(&sender, &request.raw(), harness::now());
        let expected = if sender.signs_body() {
            Err(VerifyError::SignatureMismatch)
        } else {
            Ok(())
        };
        prop_assert_eq!(outcome.verified, expected, "{}", sender.name);
    }

    /// A signature made with a key one byte off (a wrong or stale secret), or a token one
    /// byte off, never verifies.
    #[test]
    fn a_key_one_byte_off_never_verifies(
        sender in sender(),
        sent in sent(bytes()),
        at in any::<usize>(),
        delta in any::<u8>(),
    ) {
        let key = change_byte(&sender.key(), at, delta);
        let request = sender.request(&sent.message(), &key);
        let outcome = HARNESS.exercise(&sender, &request.raw(), harness::now());
        prop_assert!(
            matches!(
                outcome.verified,
                Err(VerifyError::SignatureMismatch | VerifyError::CredentialMismatch)
            ),
            "{}: {:?}", sender.name, outcome.verified
        );
    }

    /// A signed timestamp is accepted exactly within the tolerance, either way, so a
    /// captured request cannot be replayed later.
    #[test]
    fn signed_timestamps_verify_exactly_within_the_tolerance(
        sender in senders_where(Sender::signs_timestamp),
        sent in sent(bytes()),
        skew in -3 * TOLERANCE..=3 * TOLERANCE,
    ) {
        let sent = Sent { timestamp: NOW + skew, ..sent };
        let request = sender.request(&sent.message(), &sender.key());
        let outcome = HARNESS.exercise(&sender, &request.raw(), harness::now());
        let expected = if skew.abs() <= TOLERANCE {
            Ok(())
        } else {
            Err(VerifyError::StaleTimestamp)
        };
        prop_assert_eq!(outcome.verified, expected, "{}", sender.name);
    }

    /// A signed JSON object becomes an event whose payload is that object, unchanged down
    /// to its text, typed as the kind documents (GitHub's delivery id and Standard
    /// Webhooks' message id are its dedup key).
    #[test]
    fn signed_json_objects_parse_to_their_payload(
        sender in sender(),
        object in object(json()),
        event_type in "[a-z_.]{1,24}".prop_filter(
            "Slack answers these itself",
            |t| t != "url_verification" && t != "event_callback",
        ),
        sent in sent(Just(Vec::new())),
    ) {
        let mut object = object;
        object.insert("type".to_owned(), Value::String(event_type));
        let body = serde_json::to_vec(&object).expect("JSON encodes");
        let sent = Sent { body, ..sent };
        let request = sender.request(&sent.message(), &sender.key());
        let outcome = HARNESS.exercise(&sender, &request.raw(), harness::now());
        prop_assert_eq!(outcome.verified, Ok(()));
        let Ok(Parsed::Event(inbound)) = outcome.parsed else {
            let parsed = format!("{}: {:?}", sender.name, outcome.parsed);
            return Err(TestCaseError::fail(parsed));
        };
        let text = serde_json::to_vec(inbound.payload.value()).expect("JSON encodes");
        prop_assert_eq!(text, sent.body.clone());
        prop_assert_eq!(&inbound.payload, &Value::Object(object.clone()));
        prop_assert_eq!(inbound.event_type, expected_event_type(&sender, &sent, &object));
        if matches!(sender.scheme, Scheme::Github | Scheme::StandardWebhooks) {
            prop_assert_eq!(inbound.dedup_key, Some(sent.id.clone()));
        }
    }
}

/// Found by the fuzz targets: without serde_json's `float_roundtrip` these numbers were
/// parsed one unit in the last place off, so the payload stored and read back differed
/// from the one the rules saw. `exercise` compares the two; the parsed number must be the
/// correctly rounded one.
#[test]
fn payload_floats_are_read_exactly_and_stored_unchanged() {
    let numbers = [
        "1.3373050212352959e-307",
        "5.0758813934474077e-116",
        "-3.777275820986895e+304",
    ];
    for number in numbers {
        let expected: f64 = number.parse().expect("a float");
        let sent = Sent {
            body: format!(r#"{{"type": "build", "n": {number}}}"#).into_bytes(),
            id: "delivery-1".to_owned(),
            event: "push".to_owned(),
            timestamp: NOW,
        };
        for sender in SENDERS {
            let request = sender.request(&sent.message(), &sender.key());
            let outcome = HARNESS.exercise(sender, &request.raw(), harness::now());
            let Ok(Parsed::Event(inbound)) = outcome.parsed else {
                panic!("{}: {:?}", sender.name, outcome.parsed);
            };
            assert_eq!(
                inbound.payload["n"].as_f64(),
                Some(expected),
                "{}",
                sender.name
            );
        }
    }
}

/// One change to a line of a valid file: most such files are nearly valid, so loading
/// them reaches the checks of every section and kind.
#[derive(Debug, Clone)]
enum Edit {
    /// `key = value` on this line gets another value.
    Value(usize, String),
    /// A `key = value` line is inserted before this one.
    Insert(usize, String, String),
    Delete(usize),
    Duplicate(usize),
}

impl Edit {
    fn apply(&self, lines: &mut Vec<String>) {
        let len = lines.len().max(1);
        let at = |index: &usize| index % len;
        match self {
            Edit::Value(index, value) => {
                let line = &mut lines[at(index)];
                if let Some((key, _)) = line.split_once(" = ") {
                    *line = format!("{key} = {value}");
                }
            }
            Edit::Insert(index, key, value) => {
                let index = at(index);
                lines.insert(index, format!("{key} = {value}"));
            }
            Edit::Delete(index) => {
                let index = at(index);
                lines.remove(index);
            }
            Edit::Duplicate(index) => {
                let index = at(index);
                let line = lines[index].clone();
                lines.insert(index, line);
            }
        }
    }
}

/// Values of every type the configuration reads, valid and not.
fn toml_value() -> impl Strategy<Value = String> {
    let known = select(
        &[
            "\"github\"",
            "\"slack\"",
            "\"hmac\"",
            "\"token\"",
            "\"standard-webhooks\"",
            "\"circleci\"",
            "\"http\"",
            "\"log\"",
            "\"basic\"",
            "\"sha512\"",
            "\"base64\"",
            "\"0s\"",
            "\"1ms\"",
            "\"5m\"",
            "\"-1s\"",
            "\"99999999999999999d\"",
            "\"1 KiB\"",
            "\"0 B\"",
            "\"18446744073709551615 GiB\"",
            "\"{{ event }}\"",
            "\"{% for x in event %}\"",
            "\"{{ secret('shared') }}\"",
            "\"{{ secret('nope') }}\"",
            "\"${env:X}\"",
            "\"${nope}\"",
            "\"$${\"",
            "\"*/0 * * * *\"",
            "\"0 0 31 2 *\"",
            "\"Europe/Athens\"",
            "\"Mars/Olympus\"",
            "\"http://127.0.0.1:1/x\"",
            "\"{timestamp}{body}\"",
            "\"x-\u{e9}\"",
            "[]",
            "[\"shared\"]",
            "[\"nope\"]",
            "[\"github\", \"github\"]",
            "{}",
            "{ group = \"\" }",
            "true",
            "0",
            "-1",
            "9223372036854775807",
            "1e308",
            "nan",
            "\"\"",
        ][..],
    )
    .prop_map(str::to_owned);
    prop_oneof![
        3 => known,
        1 => "[a-zA-Z0-9 {}%$:./*'|()=-]{0,24}".prop_map(|text| format!("{text:?}")),
        1 => any::<i64>().prop_map(|n| n.to_string()),
    ]
}

fn toml_key() -> impl Strategy<Value = String> {
    let known = select(
        &[
            "kind",
            "secrets",
            "max_body",
            "event_type",
            "dedup_key",
            "header",
            "prefix",
            "algorithm",
            "encoding",
            "timestamp_header",
            "tolerance",
            "signed_payload",
            "scheme",
            "username",
            "query_params",
            "require_delivery",
            "sources",
            "events",
            "filter",
            "actions",
            "window",
            "url",
            "body",
            "retry",
            "timeout",
            "message",
            "listen",
            "admin_secret",
            "path",
            "every",
            "cron",
            "timezone",
        ][..],
    )
    .prop_map(str::to_owned);
    prop_oneof![4 => known, 1 => "[a-z_]{1,12}"]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), toml_value()).prop_map(|(at, value)| Edit::Value(at, value)),
        2 => (any::<usize>(), toml_key(), toml_value())
            .prop_map(|(at, key, value)| Edit::Insert(at, key, value)),
        1 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Duplicate),
    ]
}

proptest! {
    #![proptest_config(cases(64))]

    /// Any text loads or is refused with errors that point inside the file: a typo must
    /// never crash `herald check` or a start.
    #[test]
    fn arbitrary_text_loads_or_says_where_it_is_wrong(text in any::<String>()) {
        let loaded = check_config(&text);
        prop_assert!(loaded.is_ok() || !text.trim().is_empty(), "an empty file is refused");
    }

    /// A valid file with a few lines changed loads or is refused with errors that point
    /// inside it; the unchanged file loads.
    #[test]
    fn edited_files_load_or_say_where_they_are_wrong(edits in prop::collection::vec(edit(), 0..4)) {
        let mut lines: Vec<String> = config_text().lines().map(str::to_owned).collect();
        for edit in &edits {
            edit.apply(&mut lines);
        }
        let loaded = check_config(&lines.join("\n"));
        prop_assert!(loaded.is_ok() || !edits.is_empty(), "the valid file is refused");
    }
}
