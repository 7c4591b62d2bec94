//! A fake CircleCI API v2: `POST /api/v2/project/{vcs}/{org}/{repo}/pipeline`, checking
//! the `Circle-Token` header and the body, and answering as CircleCI documents
//! (201 with `{id, state, number, created_at}`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub status: u16,
}

/// A scripted answer for the next call (after authentication).
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    script: VecDeque<Scripted>,
    next_number: u64,
}

#[derive(Clone)]
pub struct FakeCircleci {
    pub url: String,
    pub token: String,
    /// The one project that exists, e.g. `gh/acme/app`.
    pub project: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeCircleci {
    pub async fn start(token: &str, project: &str) -> FakeCircleci {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeCircleci {
            url: format!("http://{}", listener.local_addr().unwrap()),
            token: token.to_string(),
            project: project.to_string(),
            inner: Arc::default(),
        };
        let router = axum::Router::new()
            .route(
                "/api/v2/project/{vcs}/{org}/{repo}/pipeline",
                axum::routing::post(trigger),
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

async fn trigger(
    State(fake): State<FakeCircleci>,
    Path((vcs, org, repo)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let slug = format!("{vcs}/{org}/{repo}");
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut inner = fake.inner.lock().unwrap();
    let token = headers.get("circle-token").and_then(|v| v.to_str().ok());
    let (status, reply, extra) = if token != Some(fake.token.as_str()) {
        (401, json!({"message": "You must log in first."}), vec![])
    } else if let Some(scripted) = inner.script.pop_front() {
        (scripted.status, scripted.body, scripted.headers)
    } else if slug != fake.project {
        (404, json!({"message": "Project not found"}), vec![])
    } else {
        let (status, reply) = validate(&mut inner, &parsed);
        (status, reply, vec![])
    };
    inner.calls.push(Call {
        path: format!("/api/v2/project/{slug}/pipeline"),
        headers,
        body: parsed,
        status,
    });
    let mut response = (StatusCode::from_u16(status).unwrap(), Json(reply)).into_response();
    for (name, value) in extra {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// A body CircleCI accepts: an object with at most one of `branch` and `tag` (strings)
/// and `parameters` an object.
fn validate(inner: &mut Inner, body: &Value) -> (u16, Value) {
    let Some(fields) = body.as_object() else {
        return (
            400,
            json!({"message": "Request body must be a JSON object"}),
        );
    };
    if fields.contains_key("branch") && fields.contains_key("tag") {
        return (
            400,
            json!({"message": "You may only specify one of branch or tag."}),
        );
    }
    if let Some(unknown) = fields
        .keys()
        .find(|key| !["branch", "tag", "parameters"].contains(&key.as_str()))
    {
        return (
            400,
            json!({"message": format!("Unexpected argument(s): {unknown}")}),
        );
    }
    if fields.get("parameters").is_some_and(|p| !p.is_object()) {
        return (400, json!({"message": "parameters must be a map"}));
    }
    inner.next_number += 1;
    (
        201,
        json!({
            "id": format!("5034460f-c7c4-4c43-9457-de07e20{:05}", inner.next_number),
            "state": "created",
            "number": 100 + inner.next_number,
            "created_at": "2026-11-22T10:00:00.000Z"
        }),
    )
}
