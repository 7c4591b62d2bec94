//! A fake Slack Web API: `chat.postMessage`, `chat.update`, `conversations.history` and
//! `auth.test`,
//! answering as Slack does (HTTP 200 with `ok: false` for most errors, 429 with
//! `Retry-After` when rate limited). Messages keep their metadata; history lists a
//! channel's messages newest first and shows metadata only with `include_all_metadata`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One Web API call as the fake received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub at: Instant,
    /// What the fake answered: the ts it gave, or the error.
    pub answered: Result<String, String>,
}

/// A scripted answer for the next call: an `ok:false` error, or HTTP 429 with Retry-After.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this call normally (to fail a later one).
    Pass,
    Error(&'static str),
    RateLimited {
        retry_after: u64,
    },
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    faults: VecDeque<Fault>,
    /// ts → every message posted.
    messages: BTreeMap<String, Message>,
    /// Answers to these methods are held this long after the call took effect (a process
    /// killed while waiting never hears that its post worked).
    held: BTreeMap<String, Duration>,
    /// Last post per channel, to rate-limit like Slack (about one per second per channel).
    last_post: BTreeMap<String, Instant>,
    next_ts: u64,
}

#[derive(Debug, Clone)]
struct Message {
    channel: String,
    text: String,
    thread_ts: Option<String>,
    metadata: Option<Value>,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub url: String,
    pub token: String,
    /// Posts to one channel closer together than this are answered 429.
    pub min_interval: Duration,
    inner: Arc<Mutex<Inner>>,
}

impl FakeSlack {
    pub async fn start(token: &str, min_interval: Duration) -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeSlack {
            url: format!("http://{}/api", listener.local_addr().unwrap()),
            token: token.to_string(),
            min_interval,
            inner: Arc::default(),
        };
        let router = axum::Router::new()
            .route("/api/{method}", axum::routing::post(call).get(read))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        fake
    }

    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().unwrap().faults.extend(faults);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// The current text of a message.
    pub fn text_of(&self, ts: &str) -> Option<String> {
        self.inner
            .lock()
            .unwrap()
            .messages
            .get(ts)
            .map(|message| message.text.clone())
    }

    /// Hold every answer to `method` for `delay` after the call took effect.
    pub fn hold_answers(&self, method: &str, delay: Duration) {
        self.inner
            .lock()
            .unwrap()
            .held
            .insert(method.to_string(), delay);
    }

    /// The messages of `channel` (an id) that start a thread or stand alone, oldest first,
    /// as (ts, text).
    pub fn roots(&self, channel: &str) -> Vec<(String, String)> {
        let inner = self.inner.lock().unwrap();
        inner
            .messages
            .iter()
            .filter(|(_, m)| m.channel == channel && m.thread_ts.is_none())
            .map(|(ts, m)| (ts.clone(), m.text.clone()))
            .collect()
    }

    /// The replies in the thread of `ts`, oldest first, as their texts.
    pub fn replies(&self, ts: &str) -> Vec<String> {
        let inner = self.inner.lock().unwrap();
        inner
            .messages
            .values()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .map(|m| m.text.clone())
            .collect()
    }
}

/// `GET /api/conversations.history?channel=…&oldest=…&limit=…&include_all_metadata=…`.
async fn read(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<BTreeMap<String, String>>,
) -> Response {
    if method == "auth.test" {
        return auth_test(&fake, &headers);
    }
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {}", fake.token));
    let mut inner = fake.inner.lock().unwrap();
    let body = json!(query);
    let answer = if !authorized {
        Err("not_authed".to_string())
    } else if method != "conversations.history" {
        Err("unknown_method".to_string())
    } else {
        history(&inner, &query)
    };
    record(
        &mut inner,
        &method,
        &body,
        answer.as_ref().map(|_| String::new()).map_err(Clone::clone),
    );
    match answer {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => Json(json!({"ok": false, "error": error})).into_response(),
    }
}

/// `auth.test` (GET or POST, no arguments): who the token is, as Slack documents it;
/// `not_authed` without a token, `invalid_auth` with another one.
fn auth_test(fake: &FakeSlack, headers: &HeaderMap) -> Response {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let answer = match given {
        None => Err("not_authed".to_string()),
        Some(token) if token != fake.token => Err("invalid_auth".to_string()),
        Some(_) => Ok(String::new()),
    };
    let mut inner = fake.inner.lock().unwrap();
    record(&mut inner, "auth.test", &Value::Null, answer.clone());
    match answer {
        Ok(_) => Json(json!({
            "ok": true,
            "url": "https://herald-tests.slack.com/",
            "team": "Herald Tests",
            "user": "herald",
            "team_id": "T0HERALD",
            "user_id": "U0HERALD",
            "bot_id": "B0HERALD",
            "is_enterprise_install": false,
        }))
        .into_response(),
        Err(error) => Json(json!({"ok": false, "error": error})).into_response(),
    }
}

/// A channel's history, newest first: only messages not in a thread, as Slack lists them.
fn history(inner: &Inner, query: &BTreeMap<String, String>) -> Result<Value, String> {
    let channel = query.get("channel").ok_or("channel_not_found")?;
    // conversations.history takes ids only.
    if !channel.starts_with('C') {
        return Err("channel_not_found".into());
    }
    let oldest: f64 = query
        .get("oldest")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let limit: usize = query
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let with_metadata = query.get("include_all_metadata").map(String::as_str) == Some("true");
    let messages: Vec<Value> = inner
        .messages
        .iter()
        .rev()
        .filter(|(ts, m)| {
            m.channel == *channel
                && m.thread_ts.is_none()
                && ts.parse::<f64>().unwrap_or(0.0) > oldest
        })
        .take(limit)
        .map(|(ts, m)| {
            let mut message =
                json!({"type": "message", "bot_id": "B0HERALD", "text": m.text, "ts": ts});
            if let (true, Some(metadata)) = (with_metadata, &m.metadata) {
                message["metadata"] = metadata.clone();
            }
            message
        })
        .collect();
    Ok(json!({"ok": true, "messages": messages, "has_more": false, "pin_count": 0}))
}

/// Channel names become stable ids, as Slack resolves them.
pub fn channel_id(channel: &str) -> String {
    if channel.starts_with('C') && !channel.starts_with('#') {
        return channel.to_string();
    }
    let name = channel.trim_start_matches('#');
    format!("C{}", name.to_ascii_uppercase().replace(['-', '_'], ""))
}

async fn call(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {}", fake.token));
    if method == "auth.test" {
        return auth_test(&fake, &headers);
    }
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let (answer, held) = answer(&fake, &method, &body, authorized, json_body);
    if let Some(delay) = held {
        tokio::time::sleep(delay).await;
    }
    answer
}

/// The answer to one call, and how long to hold it.
fn answer(
    fake: &FakeSlack,
    method: &str,
    body: &Value,
    authorized: bool,
    json_body: bool,
) -> (Response, Option<Duration>) {
    let mut inner = fake.inner.lock().unwrap();
    let held = inner.held.get(method).copied();
    let response = respond(fake, &mut inner, method, body, authorized, json_body);
    (response, held)
}

fn respond(
    fake: &FakeSlack,
    inner: &mut Inner,
    method: &str,
    body: &Value,
    authorized: bool,
    json_body: bool,
) -> Response {
    let answer = if !authorized {
        Err("not_authed".to_string())
    } else if !json_body {
        Err("invalid_arguments".to_string())
    } else {
        match inner.faults.pop_front() {
            Some(Fault::RateLimited { retry_after }) => {
                record(inner, method, body, Err("ratelimited".into()));
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"ok": false, "error": "ratelimited"})),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert("retry-after", retry_after.into());
                return response;
            }
            Some(Fault::Error(error)) => Err(error.to_string()),
            Some(Fault::Pass) | None => handle(fake, inner, method, body),
        }
    };
    let rate_limited = answer.as_ref().err().is_some_and(|e| e == "ratelimited");
    record(inner, method, body, answer.clone());
    match answer {
        Ok(ts) => Json(json!({"ok": true, "channel": channel_id(body["channel"].as_str().unwrap_or_default()), "ts": ts, "message": {"text": body["text"]}})).into_response(),
        Err(error) if rate_limited => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(json!({"ok": false, "error": error}))).into_response();
            response.headers_mut().insert("retry-after", 1.into());
            response
        }
        Err(error) => Json(json!({"ok": false, "error": error})).into_response(),
    }
}

fn record(inner: &mut Inner, method: &str, body: &Value, answered: Result<String, String>) {
    inner.calls.push(Call {
        method: method.to_string(),
        body: body.clone(),
        at: Instant::now(),
        answered,
    });
}

fn handle(
    fake: &FakeSlack,
    inner: &mut Inner,
    method: &str,
    body: &Value,
) -> Result<String, String> {
    let channel = body["channel"].as_str().ok_or("channel_not_found")?;
    let text = body["text"].as_str().unwrap_or_default();
    if text.is_empty() && body.get("blocks").is_none() {
        return Err("no_text".into());
    }
    if text.chars().count() > 40_000 {
        return Err("msg_too_long".into());
    }
    match method {
        "chat.postMessage" => {
            let id = channel_id(channel);
            if id == "CMISSING" {
                return Err("channel_not_found".into());
            }
            let now = Instant::now();
            if inner
                .last_post
                .get(&id)
                .is_some_and(|last| now.duration_since(*last) < fake.min_interval)
            {
                return Err("ratelimited".into());
            }
            inner.last_post.insert(id.clone(), now);
            inner.next_ts += 1;
            // Slack's ts is the post's time in seconds, unique within the channel.
            let seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let ts = format!("{seconds}.{:06}", inner.next_ts);
            let message = Message {
                channel: id,
                text: text.to_string(),
                thread_ts: body["thread_ts"].as_str().map(str::to_string),
                metadata: body.get("metadata").cloned(),
            };
            inner.messages.insert(ts.clone(), message);
            Ok(ts)
        }
        "chat.update" => {
            // chat.update needs the channel id, not its name.
            if channel.starts_with('#') {
                return Err("channel_not_found".into());
            }
            let ts = body["ts"].as_str().ok_or("message_not_found")?;
            match inner.messages.get_mut(ts) {
                Some(message) if message.channel == channel => {
                    message.text = text.to_string();
                    Ok(ts.to_string())
                }
                _ => Err("message_not_found".into()),
            }
        }
        _ => Err("unknown_method".into()),
    }
}
