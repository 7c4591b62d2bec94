//! A fake Jira REST API v2, answering as Jira Cloud documents: `GET issue/{key}` (status
//! and project), `GET issue/{key}/transitions`, `POST issue/{key}/transitions` (204, the
//! issue moves to the transition's target), `POST issue/{key}/comment` (201), `GET myself`
//! (the signed-in account); HTTP Basic
//! `email:api_token`; error bodies `{"errorMessages": [...], "errors": {...}}`; scripted
//! 429 with `Retry-After` and 5xx.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// One call as the fake received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// A scripted answer to the next call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this call normally (to fail a later one).
    Pass,
    RateLimited {
        retry_after: u64,
    },
    ServerError,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    statuses: BTreeMap<String, String>,
    faults: VecDeque<Fault>,
}

#[derive(Clone)]
pub struct FakeJira {
    pub url: String,
    authorization: String,
    inner: Arc<Mutex<Inner>>,
}

/// Each transition's id, its name and the status it leads to. As in Jira, a transition's
/// name is not its status's ("Start progress" leads to "In Progress"), and one is named
/// after a status it does not lead to: a client that picks by name lands in "Blocked".
const TRANSITIONS: &[(&str, &str, &str)] = &[
    ("11", "Back to the backlog", "To Do"),
    ("21", "Start progress", "In Progress"),
    ("31", "Resolve", "Done"),
    ("41", "In Progress", "Blocked"),
];

impl FakeJira {
    /// Jira Cloud: HTTP Basic with the account's email and an API token.
    pub async fn start(email: &str, token: &str) -> FakeJira {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"));
        FakeJira::start_with(format!("Basic {pair}")).await
    }

    /// Jira Data Center: a personal access token as a bearer token.
    pub async fn start_bearer(token: &str) -> FakeJira {
        FakeJira::start_with(format!("Bearer {token}")).await
    }

    /// A fake that answers only requests with this `Authorization` header.
    async fn start_with(authorization: String) -> FakeJira {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeJira {
            url: format!("http://{}", listener.local_addr().unwrap()),
            authorization,
            inner: Arc::default(),
        };
        let router = axum::Router::new()
            .route("/rest/api/2/issue/{key}", axum::routing::get(issue))
            .route(
                "/rest/api/2/issue/{key}/transitions",
                axum::routing::get(transitions).post(transition),
            )
            .route(
                "/rest/api/2/issue/{key}/comment",
                axum::routing::post(comment),
            )
            .route("/rest/api/2/myself", axum::routing::get(myself))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        fake
    }

    /// An issue in `status`.
    pub fn issue(&self, key: &str, status: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner.statuses.insert(key.to_string(), status.to_string());
    }

    pub fn status_of(&self, key: &str) -> Option<String> {
        self.inner.lock().unwrap().statuses.get(key).cloned()
    }

    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().unwrap().faults.extend(faults);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// The transition ids POSTed to `key`, in order.
    pub fn moves_of(&self, key: &str) -> Vec<String> {
        let path = format!("/rest/api/2/issue/{key}/transitions");
        self.calls()
            .iter()
            .filter(|call| call.method == "POST" && call.path == path)
            .map(|call| {
                call.body["transition"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// Every POST of a transition, as (key, id).
    pub fn all_moves(&self) -> Vec<(String, String)> {
        self.calls()
            .iter()
            .filter(|call| call.method == "POST" && call.path.ends_with("/transitions"))
            .map(|call| {
                let key = call.path.split('/').nth(5).unwrap_or_default().to_string();
                let id = call.body["transition"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                (key, id)
            })
            .collect()
    }

    /// Record the call, then the scripted fault or the credential check, if any.
    fn receive(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Value,
    ) -> Option<Response> {
        let mut inner = self.inner.lock().unwrap();
        inner.calls.push(Call {
            method: method.to_string(),
            path: uri.path().to_string(),
            body,
        });
        let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(self.authorization.as_str());
        if !authorized {
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "Client must be authenticated to access this resource.",
            ));
        }
        match inner.faults.pop_front()? {
            Fault::RateLimited { retry_after } => {
                let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded.");
                response
                    .headers_mut()
                    .insert("retry-after", retry_after.into());
                Some(response)
            }
            Fault::ServerError => Some(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
            )),
            Fault::Pass => None,
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"errorMessages": [message], "errors": {}})),
    )
        .into_response()
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Issue does not exist or you do not have permission to see it.",
    )
}

async fn issue(
    State(fake): State<FakeJira>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = fake.receive(&method, &uri, &headers, Value::Null) {
        return refused;
    }
    let Some(status) = fake.status_of(&key) else {
        return not_found();
    };
    let project = key.rsplit_once('-').map_or("", |(p, _)| p);
    Json(json!({
        "id": "10001",
        "key": key,
        "fields": {"status": {"name": status, "id": "3"}, "project": {"key": project}},
    }))
    .into_response()
}

async fn transitions(
    State(fake): State<FakeJira>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = fake.receive(&method, &uri, &headers, Value::Null) {
        return refused;
    }
    if fake.status_of(&key).is_none() {
        return not_found();
    }
    let offered: Vec<Value> = TRANSITIONS
        .iter()
        .map(|(id, name, to)| json!({"id": id, "name": name, "to": {"name": to, "id": format!("1{id}")}, "hasScreen": false}))
        .collect();
    Json(json!({"expand": "transitions", "transitions": offered})).into_response()
}

async fn transition(
    State(fake): State<FakeJira>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = fake.receive(&method, &uri, &headers, body.clone()) {
        return refused;
    }
    if fake.status_of(&key).is_none() {
        return not_found();
    }
    let id = body["transition"]["id"].as_str().unwrap_or_default();
    let Some((_, _, target)) = TRANSITIONS.iter().find(|(tid, _, _)| *tid == id) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errorMessages": [], "errors": {"transition": format!("Transition id '{id}' is not valid for this issue.")}})),
        )
            .into_response();
    };
    fake.issue(&key, target);
    StatusCode::NO_CONTENT.into_response()
}

async fn comment(
    State(fake): State<FakeJira>,
    Path(key): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = fake.receive(&method, &uri, &headers, body.clone()) {
        return refused;
    }
    if fake.status_of(&key).is_none() {
        return not_found();
    }
    (
        StatusCode::CREATED,
        Json(json!({"id": "10000", "body": body["body"]})),
    )
        .into_response()
}

/// `GET myself`: the account the credential signs in as.
async fn myself(
    State(fake): State<FakeJira>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = fake.receive(&method, &uri, &headers, Value::Null) {
        return refused;
    }
    Json(json!({
        "self": format!("{}/rest/api/2/user?accountId=5b10a2844c20165700ede21g", fake.url),
        "accountId": "5b10a2844c20165700ede21g",
        "accountType": "atlassian",
        "emailAddress": "herald@example.com",
        "displayName": "herald",
        "active": true,
        "timeZone": "UTC",
    }))
    .into_response()
}
