//! A fake WorkOS Events API: `GET /events` as WorkOS documents it
//! (../shared/reference/seed1_4_apis.md, A.2). Bearer authentication (401 for an unknown
//! key, 403 for a key without permission); `events` as one comma-joined value (the Node
//! SDK) or repeated `events[]=` (the Rust crate); `after`/`before` event ids;
//! `range_start`/`range_end` (ISO 8601, not with `after`); `limit` 1..100, default 10;
//! `order` asc, desc or normal, default desc. Answers
//! `{"object":"list","data":[…],"list_metadata":{"before":…,"after":…}}`, where `after` is
//! the last event's id when more follow and null at the end. Scripted answers (429 with
//! `Retry-After`, 5xx), answers held back to widen a crash window, a credential taken from
//! another header than a bearer token's, and a log of every request.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The raw query string.
    pub query: String,
    pub authorization: Option<String>,
    /// Every header of the request.
    pub headers: HeaderMap,
    pub status: u16,
}

impl Call {
    /// The query's pairs in order, decoded.
    pub fn pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// The one value of `name`, if sent.
    pub fn param(&self, name: &str) -> Option<String> {
        self.pairs()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    pub fn has(&self, name: &str) -> bool {
        self.param(name).is_some()
    }
}

/// A scripted answer for the next request (after authentication).
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

pub fn rate_limited(retry_after: u64) -> Scripted {
    Scripted {
        status: 429,
        headers: vec![("retry-after", retry_after.to_string())],
        body: json!({"message": "Too many requests"}),
    }
}

pub fn unavailable() -> Scripted {
    Scripted {
        status: 503,
        headers: vec![],
        body: json!({"message": "Service Unavailable"}),
    }
}

#[derive(Default)]
struct Inner {
    /// Every event, in the order WorkOS created them (oldest first).
    events: Vec<Value>,
    calls: Vec<Call>,
    script: VecDeque<Scripted>,
    /// Keys that authenticate but may not read events (403).
    forbidden: HashSet<String>,
    /// Held answers wait this long (see `hold`).
    hold: Duration,
    /// The key accepted.
    key: String,
    /// Set: the key is presented as this header with this value, not as a bearer token.
    credential: Option<(String, String)>,
    /// The time the next published event is created at, unless given.
    clock: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct FakeWorkos {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeWorkos {
    pub async fn start(key: &str) -> FakeWorkos {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeWorkos {
            url: format!("http://{}", listener.local_addr().unwrap()),
            inner: Arc::new(Mutex::new(Inner {
                key: key.to_string(),
                ..Inner::default()
            })),
        };
        let router = axum::Router::new()
            .route("/events", axum::routing::get(list))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        fake
    }

    /// Publish an event created at `at`; returns its id. Ids sort like WorkOS's ULIDs.
    pub fn publish_at(&self, event: &str, data: Value, at: DateTime<Utc>) -> String {
        let mut inner = self.inner.lock().unwrap();
        let id = format!("event_01J7{:022}", inner.events.len() + 1);
        inner.events.push(json!({
            "object": "event",
            "id": id,
            "event": event,
            "data": data,
            "created_at": at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "context": {}
        }));
        id
    }

    /// Publish an event a millisecond after the previous one (the first at `start`, see
    /// `set_clock`).
    pub fn publish(&self, event: &str, data: Value) -> String {
        let at = {
            let mut inner = self.inner.lock().unwrap();
            let at = inner.clock.unwrap_or_else(default_start);
            inner.clock = Some(at + chrono::Duration::milliseconds(1));
            at
        };
        self.publish_at(event, data, at)
    }

    /// Where `publish` takes its next time from.
    pub fn set_clock(&self, at: DateTime<Utc>) {
        self.inner.lock().unwrap().clock = Some(at);
    }

    /// Publish an event whose `data` is a plausible entity of its type (`user.created`:
    /// a user whose id is `id`).
    pub fn publish_entity(&self, event: &str, id: &str) -> String {
        self.publish(event, entity(event, id))
    }

    /// Event `id` as the API serves it.
    pub fn event(&self, id: &str) -> Value {
        let inner = self.inner.lock().unwrap();
        let found = inner.events.iter().find(|e| e["id"] == id);
        found.cloned().expect("a published event")
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    /// Authenticate, from now on, a request whose header `name` is `value` (as an API that
    /// takes HTTP basic, or its key in a header of its own), and no other.
    pub fn expect_header(&self, name: &str, value: &str) {
        self.inner.lock().unwrap().credential = Some((name.to_string(), value.to_string()));
    }

    /// Accept `key`, from now on, instead of the one given at start.
    pub fn rotate_key(&self, key: &str) {
        self.inner.lock().unwrap().key = key.to_string();
    }

    pub fn forbid(&self, key: &str) {
        self.inner.lock().unwrap().forbidden.insert(key.to_string());
    }

    pub fn allow(&self, key: &str) {
        self.inner.lock().unwrap().forbidden.remove(key);
    }

    /// Hold every unscripted answer back this long (a slow API; a window to crash in).
    pub fn hold(&self, delay: Duration) {
        self.inner.lock().unwrap().hold = delay;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }
}

fn default_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The `data` of an event of the nine entity types.
pub fn entity(event: &str, id: &str) -> Value {
    let at = "2026-11-22T10:00:00.000Z";
    match event.split('.').next().unwrap_or_default() {
        "user" => json!({
            "object": "user", "id": id, "email": format!("{id}@example.com"),
            "email_verified": true, "first_name": "Ada", "last_name": null,
            "profile_picture_url": null, "last_sign_in_at": null,
            "created_at": at, "updated_at": at
        }),
        "organization" => json!({
            "object": "organization", "id": id, "name": format!("Org {id}"), "domains": [],
            "allow_profiles_outside_organization": false, "created_at": at, "updated_at": at
        }),
        _ => json!({
            "object": "organization_membership", "id": id, "user_id": "user_1",
            "organization_id": "org_1", "status": "active", "role": {"slug": "admin"},
            "created_at": at, "updated_at": at
        }),
    }
}

fn error(status: u16, message: &str) -> (u16, Value, Vec<(&'static str, String)>) {
    (status, json!({ "message": message }), vec![])
}

async fn list(
    State(fake): State<FakeWorkos>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (status, body, extra, hold) = {
        let mut inner = fake.inner.lock().unwrap();
        let key = match &inner.credential {
            None => authorization
                .as_deref()
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::to_string),
            Some((name, value)) => {
                let presented = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
                (presented == Some(value.as_str())).then(|| inner.key.clone())
            }
        };
        let (status, body, extra) = match key.as_deref() {
            Some(key) if inner.forbidden.contains(key) => error(403, "Forbidden"),
            Some(key) if key == inner.key => match inner.script.pop_front() {
                Some(scripted) => (scripted.status, scripted.body, scripted.headers),
                None => page(&inner.events, &query),
            },
            _ => error(401, "Unauthorized"),
        };
        inner.calls.push(Call {
            query: query.clone(),
            authorization: authorization.clone(),
            headers: headers.clone(),
            status,
        });
        (status, body, extra, inner.hold)
    };
    if status == 200 {
        tokio::time::sleep(hold).await;
    }
    let mut response = (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// One page of `events` for the query, or the error WorkOS would answer.
fn page(events: &[Value], query: &str) -> (u16, Value, Vec<(&'static str, String)>) {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let one = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut types: Vec<String> = Vec::new();
    for (name, value) in &pairs {
        match name.as_str() {
            "events" => types.extend(value.split(',').map(str::to_string)),
            "events[]" => types.push(value.clone()),
            _ => {}
        }
    }
    let limit = match one("limit").map(|l| l.parse::<usize>()) {
        None => 10,
        Some(Ok(limit)) if (1..=100).contains(&limit) => limit,
        Some(_) => return error(422, "limit must be between 1 and 100"),
    };
    let descending = match one("order").as_deref() {
        None | Some("desc") | Some("normal") => true,
        Some("asc") => false,
        Some(_) => return error(422, "order must be one of asc, desc, normal"),
    };
    let (after, before) = (one("after"), one("before"));
    let range_start = one("range_start");
    if after.is_some() && range_start.is_some() {
        return error(422, "range_start cannot be combined with after");
    }
    let bound = |text: Option<String>| match text {
        None => Ok(None),
        Some(text) => time(&text).map(Some).ok_or(text),
    };
    let (Ok(start), Ok(end)) = (bound(range_start), bound(one("range_end"))) else {
        return error(422, "range_start and range_end must be ISO 8601 times");
    };
    let position = |id: &Option<String>| match id {
        None => Ok(None),
        Some(id) => events
            .iter()
            .position(|e| e["id"] == id.as_str())
            .map(Some)
            .ok_or(()),
    };
    let (Ok(after_at), Ok(before_at)) = (position(&after), position(&before)) else {
        return error(400, "Invalid cursor");
    };
    // The stream in the order asked for, with each event's place in WorkOS's order.
    let mut stream: Vec<(usize, &Value)> = events.iter().enumerate().collect();
    if descending {
        stream.reverse();
    }
    let follows = |index: usize, cursor: usize| {
        if descending {
            index < cursor
        } else {
            index > cursor
        }
    };
    let matching: Vec<&Value> = stream
        .into_iter()
        .filter(|(index, _)| after_at.is_none_or(|cursor| follows(*index, cursor)))
        .filter(|(index, _)| before_at.is_none_or(|cursor| follows(cursor, *index)))
        .map(|(_, event)| event)
        .filter(|e| types.is_empty() || types.iter().any(|t| e["event"] == t.as_str()))
        .filter(|e| {
            let at = time(e["created_at"].as_str().unwrap()).unwrap();
            start.is_none_or(|start| at >= start) && end.is_none_or(|end| at < end)
        })
        .collect();
    let data: Vec<Value> = matching.iter().take(limit).map(|e| (*e).clone()).collect();
    let more = matching.len() > data.len();
    let after = data.last().filter(|_| more).map(|e| e["id"].clone());
    let before = data.first().map(|e| e["id"].clone());
    (
        200,
        json!({
            "object": "list",
            "data": data,
            "list_metadata": { "before": before, "after": after }
        }),
        vec![],
    )
}
