//! The entry points the property tests and the fuzz targets drive, and how a sender signs
//! for each source kind. One file serves both: `properties.rs` uses it as a module and
//! `fuzz/src/lib.rs` includes it with `#[path]`, so a fuzz crash and a failing property
//! are the same request through the same code.
//!
//! Every kind is loaded from configuration text, as herald loads it. A request then goes
//! through `Source::verify`, `Source::parse` and, for an event, `ingest::prepare` (the
//! `event_type` / `dedup_key` overrides, the rules' filters and window groups), which is
//! what `/hooks/<source>` does before storing. Signatures are computed here from each
//! provider's documented scheme, not with herald's own helpers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use herald::clock::{ManualClock, SharedClock};
use herald::config::{Loaded, SourceConfig};
use herald::ingress::source::{
    HTTP_CREDENTIAL_HEADERS, ParseError, Parsed, RawRequest, VerifyError,
};
use herald::kit::diagnostic::Report;
use herald::services::ingest::{IngestError, Preparation, prepare};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::path::Path;
use std::sync::Arc;

/// The secret every source but Standard Webhooks is configured with.
pub const SECRET: &str = "It's a Secret to Everybody";
/// The Standard Webhooks reference libraries' example key (base64 after `whsec_`).
pub const STANDARD_KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The user name the basic-auth token source requires.
pub const USERNAME: &str = "pact";
/// The clock herald reads while verifying, in unix seconds.
pub const NOW: i64 = 1_700_000_000;
/// The timestamp tolerance of every timestamped source (Slack's default, 5 minutes).
pub const TOLERANCE: i64 = 300;

/// The configuration file the harness loads; the sources are named in [`SENDERS`].
const CONFIG_PATH: &str = "/etc/herald/herald.toml";

/// The hash behind an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha512,
}

/// How a MAC is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

/// How a sender authenticates its requests, as its provider documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `X-Hub-Signature-256: sha256=<hex>` over the body; event and delivery in headers.
    Github,
    /// `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`.
    Slack,
    /// `circleci-signature: v1=<hex>` over the body.
    Circleci,
    /// `webhook-signature: v1,<base64>` over `{id}.{timestamp}.{body}`, with a base64 key.
    StandardWebhooks,
    /// A configured HMAC: its header, prefix, hash and encoding, and optionally a signed
    /// timestamp header with the template of what is signed.
    Hmac {
        header: &'static str,
        prefix: &'static str,
        hash: Hash,
        encoding: Encoding,
        timestamp: Option<(&'static str, &'static str)>,
    },
    /// The secret itself in a header, after a prefix.
    Token {
        header: &'static str,
        prefix: &'static str,
    },
    /// HTTP basic auth whose password is the secret.
    Basic { username: Option<&'static str> },
}

/// One configured source and the sender that posts to it.
#[derive(Debug, Clone, Copy)]
pub struct Sender {
    /// The source's name in the configuration (`/hooks/<name>`).
    pub name: &'static str,
    pub kind: &'static str,
    /// Its options beyond `kind` and `secrets`, as TOML lines.
    options: &'static str,
    pub scheme: Scheme,
}

/// Every source kind herald ships, with the option combinations that change how a request
/// is verified or read.
pub const SENDERS: &[Sender] = &[
    Sender {
        name: "github",
        kind: "github",
        options: "",
        scheme: Scheme::Github,
    },
    Sender {
        name: "github-without-delivery",
        kind: "github",
        options: "require_delivery = false",
        scheme: Scheme::Github,
    },
    Sender {
        name: "slack",
        kind: "slack",
        options: "",
        scheme: Scheme::Slack,
    },
    Sender {
        name: "circleci",
        kind: "circleci",
        options: "",
        scheme: Scheme::Circleci,
    },
    Sender {
        name: "billing",
        kind: "standard-webhooks",
        options: "",
        scheme: Scheme::StandardWebhooks,
    },
    Sender {
        name: "partner",
        kind: "hmac",
        options: "header = \"x-signature\"\nprefix = \"sha256=\"",
        scheme: Scheme::Hmac {
            header: "x-signature",
            prefix: "sha256=",
            hash: Hash::Sha256,
            encoding: Encoding::Hex,
            timestamp: None,
        },
    },
    Sender {
        name: "legacy",
        kind: "hmac",
        options: "header = \"x-hub-signature\"\nalgorithm = \"sha1\"\nencoding = \"base64\"",
        scheme: Scheme::Hmac {
            header: "x-hub-signature",
            prefix: "",
            hash: Hash::Sha1,
            encoding: Encoding::Base64,
            timestamp: None,
        },
    },
    Sender {
        name: "timestamped",
        kind: "hmac",
        options: "header = \"x-signature\"\nalgorithm = \"sha512\"\n\
                  timestamp_header = \"x-timestamp\"\nsigned_payload = \"v1:{timestamp}:{body}\"",
        scheme: Scheme::Hmac {
            header: "x-signature",
            prefix: "",
            hash: Hash::Sha512,
            encoding: Encoding::Hex,
            timestamp: Some(("x-timestamp", "v1:{timestamp}:{body}")),
        },
    },
    Sender {
        name: "bearer",
        kind: "token",
        options: "",
        scheme: Scheme::Token {
            header: "authorization",
            prefix: "Bearer ",
        },
    },
    Sender {
        name: "pact",
        kind: "token",
        options: "header = \"x-pact-token\"\nquery_params = true\n\
                  event_type = \"event.eventType\"\ndedup_key = \"event.id\"",
        scheme: Scheme::Token {
            header: "x-pact-token",
            prefix: "",
        },
    },
    Sender {
        name: "basic",
        kind: "token",
        options: "scheme = \"basic\"\nusername = \"pact\"",
        scheme: Scheme::Basic {
            username: Some(USERNAME),
        },
    },
    Sender {
        name: "basic-any-user",
        kind: "token",
        options: "scheme = \"basic\"",
        scheme: Scheme::Basic { username: None },
    },
];

/// Every header name a sender above reads, so generated requests can hit them.
pub const HEADER_NAMES: &[&str] = &[
    "content-type",
    "authorization",
    "x-hub-signature-256",
    "x-hub-signature",
    "x-github-event",
    "x-github-delivery",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "circleci-signature",
    "circleci-event-type",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-signature",
    "x-timestamp",
    "x-pact-token",
];

/// What a sender decides about a request besides its body.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub body: &'a [u8],
    /// The delivery or message id (GitHub, Standard Webhooks); a valid header value.
    pub id: &'a str,
    /// The event name, for senders that send it in a header (GitHub); a valid header value.
    pub event: &'a str,
    /// Unix seconds, for senders that sign a timestamp.
    pub timestamp: i64,
}

impl Sender {
    /// The key the sender signs with (or the token it presents).
    pub fn key(&self) -> Vec<u8> {
        match self.scheme {
            Scheme::StandardWebhooks => BASE64
                .decode(STANDARD_KEY.trim_start_matches("whsec_"))
                .expect("the example key is base64"),
            _ => SECRET.as_bytes().to_vec(),
        }
    }

    /// Whether the credential covers the body: a changed body byte must then fail.
    pub fn signs_body(&self) -> bool {
        !matches!(self.scheme, Scheme::Token { .. } | Scheme::Basic { .. })
    }

    /// Whether the sender signs a timestamp, which must be within [`TOLERANCE`] of now.
    pub fn signs_timestamp(&self) -> bool {
        matches!(
            self.scheme,
            Scheme::Slack
                | Scheme::StandardWebhooks
                | Scheme::Hmac {
                    timestamp: Some(_),
                    ..
                }
        )
    }

    /// The request the sender posts: `message` as a JSON body, authenticated with `key`.
    pub fn request(&self, message: &Message<'_>, key: &[u8]) -> Request {
        let mut request = Request::new(message.body);
        request.set("content-type", b"application/json");
        for (name, value) in self.headers(message, key) {
            request.set(name, &value);
        }
        request
    }

    /// The headers that carry the message's credentials and metadata.
    fn headers(&self, message: &Message<'_>, key: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        let timestamp = message.timestamp.to_string();
        match self.scheme {
            Scheme::Github => vec![
                ("x-github-event", message.event.into()),
                ("x-github-delivery", message.id.into()),
                (
                    "x-hub-signature-256",
                    format!(
                        "sha256={}",
                        hex::encode(mac(Hash::Sha256, key, &[message.body]))
                    )
                    .into(),
                ),
            ],
            Scheme::Slack => {
                let parts: [&[u8]; 4] = [b"v0:", timestamp.as_bytes(), b":", message.body];
                let signature = hex::encode(mac(Hash::Sha256, key, &parts));
                vec![
                    ("x-slack-request-timestamp", timestamp.into()),
                    ("x-slack-signature", format!("v0={signature}").into()),
                ]
            }
            Scheme::Circleci => {
                let signature = hex::encode(mac(Hash::Sha256, key, &[message.body]));
                vec![("circleci-signature", format!("v1={signature}").into())]
            }
            Scheme::StandardWebhooks => {
                let parts: [&[u8]; 5] = [
                    message.id.as_bytes(),
                    b".",
                    timestamp.as_bytes(),
                    b".",
                    message.body,
                ];
                let signature = BASE64.encode(mac(Hash::Sha256, key, &parts));
                vec![
                    ("webhook-id", message.id.into()),
                    ("webhook-timestamp", timestamp.into()),
                    ("webhook-signature", format!("v1,{signature}").into()),
                ]
            }
            Scheme::Hmac {
                header,
                prefix,
                hash,
                encoding,
                timestamp: signed_timestamp,
            } => {
                let signed = match signed_timestamp {
                    Some((_, template)) => fill(template, &timestamp, message.body),
                    None => message.body.to_vec(),
                };
                let tag = mac(hash, key, &[&signed]);
                let encoded = match encoding {
                    Encoding::Hex => hex::encode(tag),
                    Encoding::Base64 => BASE64.encode(tag),
                };
                let mut headers = vec![(header, format!("{prefix}{encoded}").into())];
                if let Some((timestamp_header, _)) = signed_timestamp {
                    headers.push((timestamp_header, timestamp.into()));
                }
                headers
            }
            Scheme::Token { header, prefix } => vec![(header, [prefix.as_bytes(), key].concat())],
            Scheme::Basic { username } => {
                let credentials = [username.unwrap_or("anyone").as_bytes(), b":", key].concat();
                let value = format!("Basic {}", BASE64.encode(credentials));
                vec![("authorization", value.into())]
            }
        }
    }

    /// Its `[sources.NAME]` table.
    fn table(&self) -> String {
        let secret = match self.scheme {
            Scheme::StandardWebhooks => "standard",
            _ => "shared",
        };
        format!(
            "[sources.{}]\nkind = \"{}\"\nsecrets = [\"{secret}\"]\n{}\n",
            self.name, self.kind, self.options
        )
    }
}

/// `template` with `{timestamp}` and `{body}` filled in.
fn fill(template: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let (before, after) = template
        .split_once("{body}")
        .expect("the template holds {body}");
    [
        before.replace("{timestamp}", timestamp).as_bytes(),
        body,
        after.replace("{timestamp}", timestamp).as_bytes(),
    ]
    .concat()
}

/// HMAC of the concatenated `parts`.
fn mac(hash: Hash, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match hash {
        Hash::Sha1 => mac_with::<Hmac<sha1::Sha1>>(key, parts),
        Hash::Sha256 => mac_with::<Hmac<sha2::Sha256>>(key, parts),
        Hash::Sha512 => mac_with::<Hmac<sha2::Sha512>>(key, parts),
    }
}

fn mac_with<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// `bytes` with the byte at `index` (modulo the length) changed: printable ASCII stays
/// printable (so a token still fits in a header), anything else is flipped. `delta` is
/// taken modulo 94 and is never zero, so the byte always differs.
pub fn change_byte(bytes: &[u8], index: usize, delta: u8) -> Vec<u8> {
    let mut changed = bytes.to_vec();
    if changed.is_empty() {
        return changed;
    }
    let at = index % changed.len();
    let step = delta % 94 + 1;
    changed[at] = match changed[at] {
        printable @ b' '..=b'~' => b' ' + (printable - b' ' + step) % 95,
        other => other ^ step,
    };
    changed
}

/// An owned request that lends a [`RawRequest`].
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub query: String,
}

impl Request {
    pub fn new(body: &[u8]) -> Request {
        Request {
            body: body.to_vec(),
            ..Request::default()
        }
    }

    /// Sets a header, replacing earlier values. A name or value HTTP cannot carry is
    /// skipped: no such request reaches herald.
    pub fn set(&mut self, name: &str, value: &[u8]) {
        if let Some((name, value)) = header(name, value) {
            self.headers.insert(name, value);
        }
    }

    /// Adds a header after any earlier values; skipped as in [`Request::set`].
    pub fn append(&mut self, name: &str, value: &[u8]) {
        if let Some((name, value)) = header(name, value) {
            self.headers.append(name, value);
        }
    }

    pub fn raw(&self) -> RawRequest<'_> {
        RawRequest {
            headers: &self.headers,
            body: &self.body,
            query: &self.query,
        }
    }
}

fn header(name: &str, value: &[u8]) -> Option<(HeaderName, HeaderValue)> {
    let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
    let value = HeaderValue::from_bytes(value).ok()?;
    Some((name, value))
}

/// What verify and parse made of a request.
#[derive(Debug)]
pub struct Outcome {
    pub verified: Result<(), VerifyError>,
    pub parsed: Result<Parsed, ParseError>,
}

/// Every sender's source, loaded from one configuration file.
pub struct Harness {
    loaded: Loaded,
    clock: SharedClock,
}

impl Harness {
    /// Loads [`config_text`]; it is valid, so a failure is a bug in this file.
    pub fn load() -> Harness {
        let loaded = load_config(&config_text()).unwrap_or_else(|report| panic!("{report}"));
        Harness {
            loaded,
            clock: ManualClock::new(now()),
        }
    }

    /// The source `sender` posts to.
    pub fn source(&self, sender: &Sender) -> &SourceConfig {
        self.loaded
            .config
            .source(sender.name)
            .unwrap_or_else(|| panic!("no source {}", sender.name))
    }

    /// Verifies and parses `request` as `sender`'s source would, at `now`; an event also
    /// goes through `ingest::prepare`. Parse runs even when verify fails: `herald send`
    /// parses without verifying, and a fuzzer cannot forge signatures. Panics, as the
    /// entry points themselves must not, when a request breaks what herald promises:
    /// an error that shows a secret, a stored credential header, a stored payload other
    /// than the parsed one.
    pub fn exercise(
        &self,
        sender: &Sender,
        request: &RawRequest<'_>,
        now: DateTime<Utc>,
    ) -> Outcome {
        let source = self.source(sender);
        let verified = source.source.verify(request, now);
        if let Err(error) = &verified {
            assert_no_secret(&format!("{error} {error:?}"));
        }
        let parsed = source.source.parse(request);
        if let Ok(Parsed::Event(inbound)) = &parsed {
            self.check_prepared(source, request, &inbound.payload);
        }
        Outcome { verified, parsed }
    }

    fn check_prepared(
        &self,
        source: &SourceConfig,
        request: &RawRequest<'_>,
        payload: &serde_json::Value,
    ) {
        let prepared = match prepare(&self.loaded.config, source, request, &self.clock) {
            Ok(Preparation::Event(prepared)) => prepared,
            Ok(Preparation::Reply(reply)) => panic!("parsed an event, prepared a reply {reply:?}"),
            // An `event_type` or `dedup_key` expression that fails on this payload.
            Err(IngestError::Malformed(error)) => return assert_no_secret(&error.to_string()),
            Err(error) => panic!("prepare failed with {error:?}"),
        };
        let event = &prepared.item.event;
        assert_eq!(&event.payload.decode(), payload, "stored payload");
        let credentials = source.source.credential_headers();
        for name in event.headers.keys() {
            assert!(
                !HTTP_CREDENTIAL_HEADERS.contains(&name.as_str())
                    && !credentials
                        .iter()
                        .any(|credential| credential.as_str() == name),
                "credential header {name} stored"
            );
        }
    }
}

/// herald's clock while verifying.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("in range")
}

/// Fails when `text` shows a configured secret.
fn assert_no_secret(text: &str) {
    let standard = STANDARD_KEY.trim_start_matches("whsec_");
    assert!(
        !text.contains(SECRET) && !text.contains(standard),
        "{text:?} shows a secret"
    );
}

/// The windowed rule's group: herald's filters over payload fields a sender controls (the
/// date format too, which no real file would take from the payload, so that fuzzing tries
/// formats as well).
const WINDOW_GROUP: &str = "\
    {{ event.repository.full_name | default('none') | truncate(20) }}:\
    {{ event.pactUrl | default('') | path_after('pact-version') }}:\
    {{ event.after | default('') | short_sha }}:\
    {{ event.created_at | default(0) | datetime(event.format | default('%F %T')) }}";

/// The configuration: every sender's source, a rule with a filter for all of them and a
/// windowed rule whose group template reads the payload with herald's filters, so
/// `prepare` evaluates expressions and templates over whatever the sender sent.
pub fn config_text() -> String {
    let names: Vec<String> = SENDERS.iter().map(|s| format!("{:?}", s.name)).collect();
    let sources = names.join(", ");
    let tables: String = SENDERS.iter().map(Sender::table).collect();
    format!(
        r#"[secrets]
shared = "{SECRET}"
standard = "{STANDARD_KEY}"

{tables}
[rules.filtered]
sources = [{sources}]
filter = "event.action != 'deleted' and (event.number | default(0)) > 0"
actions = ["audit"]

[rules.windowed]
sources = [{sources}]
actions = ["audit"]
window = {{ group = {WINDOW_GROUP:?}, quiet = "10s" }}

[actions.audit]
kind = "log"
"#
    )
}

/// Loads configuration text as herald does, with an environment that has every variable
/// (`value-of-NAME`).
pub fn load_config(text: &str) -> Result<Loaded, Report> {
    herald::config::from_text(
        Path::new(CONFIG_PATH),
        text,
        Arc::new(|name| Some(format!("value-of-{name}"))),
        &herald::integrations::catalog(),
    )
}

/// Loads arbitrary text and checks the answer: a file is refused only with an error, every
/// problem points inside the file, and the report renders. `${file:…}` references become
/// `${env:…}`: reading whatever path a fuzzer guesses (`/dev/zero`) tests the machine, not
/// herald.
pub fn check_config(text: &str) -> Result<(), Report> {
    let text = text.replace("${file:", "${env:");
    match load_config(&text) {
        Ok(loaded) => {
            assert!(
                loaded.warnings.errors().next().is_none(),
                "loaded with errors"
            );
            check_report(&loaded.warnings);
            Ok(())
        }
        Err(report) => {
            assert!(report.errors().next().is_some(), "refused without an error");
            check_report(&report);
            Err(report)
        }
    }
}

/// Every problem's place is within the file, and the report renders for people. Only the
/// first few problems are rendered: each rendering reads the whole file, and a fuzzed file
/// can hold hundreds of problems.
fn check_report(report: &Report) {
    for diagnostic in &report.diagnostics {
        if let Some(span) = &diagnostic.span {
            assert!(
                span.start <= span.end && span.end <= report.text.len(),
                "{span:?} is outside the file: {}",
                diagnostic.message
            );
        }
    }
    let first = Report {
        diagnostics: report.diagnostics.iter().take(4).cloned().collect(),
        ..report.clone()
    };
    assert!(first.diagnostics.is_empty() || !first.render(false).is_empty());
}
