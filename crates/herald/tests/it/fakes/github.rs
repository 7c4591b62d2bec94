//! A fake GitHub REST API: repository dispatches, commit statuses, deployments and
//! deployment statuses, validating and answering as GitHub documents.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub status: u16,
}

/// A scripted answer for the next call.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

pub fn bad_credentials() -> Scripted {
    Scripted {
        status: 401,
        headers: vec![],
        body: json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
    }
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    script: VecDeque<Scripted>,
    next_deployment: u64,
}

#[derive(Clone)]
pub struct FakeGithub {
    pub url: String,
    pub token: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeGithub {
    pub async fn start(token: &str) -> FakeGithub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeGithub {
            url: format!("http://{}", listener.local_addr().unwrap()),
            token: token.to_string(),
            inner: Arc::default(),
        };
        let router = axum::Router::new()
            .route(
                "/repos/{owner}/{repo}/dispatches",
                axum::routing::post(dispatch),
            )
            .route(
                "/repos/{owner}/{repo}/statuses/{sha}",
                axum::routing::post(status),
            )
            .route(
                "/repos/{owner}/{repo}/deployments",
                axum::routing::post(deployment),
            )
            .route(
                "/repos/{owner}/{repo}/deployments/{id}/statuses",
                axum::routing::post(deployment_status),
            )
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        fake
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }
}

type Answer = (u16, Value);

/// Authentication and headers first, then a scripted answer, then the route's own logic.
fn answer(
    fake: &FakeGithub,
    method: &str,
    path: String,
    headers: HeaderMap,
    body: &str,
    route: impl FnOnce(&mut Inner, &Value) -> Answer,
) -> Response {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut inner = fake.inner.lock().unwrap();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let (status, reply, extra) = if auth != Some(&format!("Bearer {}", fake.token)) {
        (401, json!({"message": "Bad credentials"}), vec![])
    } else if let Some(scripted) = inner.script.pop_front() {
        (scripted.status, scripted.body, scripted.headers)
    } else if headers.get("user-agent").is_none() {
        (
            403,
            json!({"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"}),
            vec![],
        )
    } else {
        let (status, reply) = route(&mut inner, &body);
        (status, reply, vec![])
    };
    inner.calls.push(Call {
        method: method.to_string(),
        path,
        headers,
        body,
        status,
    });
    let mut response = if status == 204 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (StatusCode::from_u16(status).unwrap(), Json(reply)).into_response()
    };
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn invalid(message: &str) -> Answer {
    (
        422,
        json!({"message": "Validation Failed", "errors": [{"message": message}]}),
    )
}

async fn dispatch(
    State(fake): State<FakeGithub>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    answer(
        &fake,
        "POST",
        format!("/repos/{owner}/{repo}/dispatches"),
        headers,
        &body,
        |_, body| {
            let event_type = body["event_type"].as_str().unwrap_or_default();
            if event_type.is_empty() || event_type.chars().count() > 100 {
                return invalid("event_type must be 1 to 100 characters");
            }
            if body
                .get("client_payload")
                .and_then(Value::as_object)
                .is_some_and(|payload| payload.len() > 10)
            {
                return invalid("client_payload can have at most 10 top-level properties");
            }
            (204, Value::Null)
        },
    )
}

async fn status(
    State(fake): State<FakeGithub>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    answer(
        &fake,
        "POST",
        format!("/repos/{owner}/{repo}/statuses/{sha}"),
        headers,
        &body,
        |_, body| match body["state"].as_str() {
            Some("error" | "failure" | "pending" | "success") => (
                201,
                json!({"id": 1, "state": body["state"], "context": body["context"]}),
            ),
            _ => invalid("state is not included in the list"),
        },
    )
}

async fn deployment(
    State(fake): State<FakeGithub>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    answer(
        &fake,
        "POST",
        format!("/repos/{owner}/{repo}/deployments"),
        headers,
        &body,
        |inner, body| {
            if body["ref"].as_str().unwrap_or_default().is_empty() {
                return invalid("ref is required");
            }
            inner.next_deployment += 1;
            let id = 1000 + inner.next_deployment;
            (
                201,
                json!({"id": id, "ref": body["ref"], "environment": body.get("environment").cloned().unwrap_or(json!("production"))}),
            )
        },
    )
}

async fn deployment_status(
    State(fake): State<FakeGithub>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    answer(
        &fake,
        "POST",
        format!("/repos/{owner}/{repo}/deployments/{id}/statuses"),
        headers,
        &body,
        |_, body| match body["state"].as_str() {
            Some(
                "error" | "failure" | "inactive" | "in_progress" | "queued" | "pending" | "success",
            ) => (201, json!({"id": 1, "state": body["state"]})),
            _ => invalid("state is not included in the list"),
        },
    )
}
