//! A fake CircleCI: API v2 `POST /api/v2/project/{vcs}/{org}/{repo}/pipeline`, checking
//! the `Circle-Token` header and the body, and answering as CircleCI documents
//! (201 with `{id, state, number, created_at}`); API v1.1 `POST
//! /api/v1.1/project/{vcs}/{org}/{repo}?circle-token=…` (a job with `build_parameters`,
//! answered with the build's `build_num` and `build_url`); and the webhooks CircleCI sends
//! (`workflow-completed`, `job-completed`) signed with `circleci-signature`; and API v2
//! `GET /api/v2/me` (the token's user).

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
            .route(
                "/api/v1.1/project/{vcs}/{org}/{repo}",
                axum::routing::post(trigger_job),
            )
            .route("/api/v2/me", axum::routing::get(me))
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

/// `GET /api/v2/me`: the user the token belongs to.
async fn me(State(fake): State<FakeCircleci>, headers: HeaderMap) -> Response {
    let token = headers.get("circle-token").and_then(|v| v.to_str().ok());
    let (status, reply) = if token != Some(fake.token.as_str()) {
        (401, json!({"message": "You must log in first."}))
    } else {
        (
            200,
            json!({"id": "6aa9bd2b-1d1a-4b7e-9d1a-1c2b3c4d5e6f", "login": "herald", "name": "herald"}),
        )
    };
    fake.inner.lock().unwrap().calls.push(Call {
        path: "/api/v2/me".into(),
        headers,
        body: Value::Null,
        status,
    });
    (StatusCode::from_u16(status).unwrap(), Json(reply)).into_response()
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

/// API v1.1: trigger a build of the project's `build` job. The token is the
/// `circle-token` query parameter; `revision` and `tag` are exclusive; `build_parameters`
/// must be a map of strings.
async fn trigger_job(
    State(fake): State<FakeCircleci>,
    Path((vcs, org, repo)): Path<(String, String, String)>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
    body: String,
) -> Response {
    let slug = format!("{}/{org}/{repo}", if vcs == "github" { "gh" } else { &vcs });
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let token = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "circle-token")
        .map(|(_, value)| value.into_owned());
    let mut inner = fake.inner.lock().unwrap();
    let (status, reply) = if token.as_deref() != Some(fake.token.as_str()) {
        (401, json!({"message": "You must log in first."}))
    } else if let Some(scripted) = inner.script.pop_front() {
        (scripted.status, scripted.body)
    } else if slug != fake.project {
        (404, json!({"message": "Project not found"}))
    } else if parsed.get("revision").is_some() && parsed.get("tag").is_some() {
        (
            400,
            json!({"message": "Cannot specify both tag and revision"}),
        )
    } else if parsed["build_parameters"]
        .as_object()
        .is_none_or(|parameters| parameters.values().any(|v| !v.is_string()))
    {
        (
            400,
            json!({"message": "build_parameters must be a map of strings"}),
        )
    } else {
        inner.next_number += 1;
        let number = 170 + inner.next_number;
        (
            201,
            json!({
                "build_num": number,
                "build_url": format!("https://circleci.com/gh/{org}/{repo}/{number}"),
                "status": "not_running",
                "vcs_revision": parsed["revision"],
            }),
        )
    };
    inner.calls.push(Call {
        path: format!("/api/v1.1/project/{vcs}/{org}/{repo}"),
        headers,
        body: parsed,
        status,
    });
    (StatusCode::from_u16(status).unwrap(), Json(reply)).into_response()
}

/// A `workflow-completed` webhook for `pipeline_id` of project `slug`, as CircleCI sends it.
pub fn workflow_completed(slug: &str, pipeline_id: &str, number: u64, status: &str) -> Value {
    json!({
        "type": "workflow-completed",
        "id": format!("3888f21b-eaa7-38e3-8f3d-75a63bba8895-{pipeline_id}-{status}"),
        "happened_at": "2026-11-22T10:05:00.000Z",
        "webhook": {"id": "cf8c4fdd-0587-4da1-b4ca-4846e9640af9", "name": "herald"},
        "workflow": {
            "id": "fda08377-fe7e-46b1-8992-3a7aaecac9c3",
            "name": "deploy",
            "created_at": "2026-11-22T10:01:00.000Z",
            "stopped_at": "2026-11-22T10:05:00.000Z",
            "url": format!("https://app.circleci.com/pipelines/github/{}/{number}/workflows/fda08377-fe7e-46b1-8992-3a7aaecac9c3", slug.trim_start_matches("gh/")),
            "status": status,
        },
        "pipeline": {
            "id": pipeline_id,
            "number": number,
            "created_at": "2026-11-22T10:01:00.000Z",
            "trigger": {"type": "api"},
            "vcs": {"provider_name": "github", "origin_repository_url": "https://github.com/acme/web", "revision": "0123456789abcdef0123456789abcdef01234567"},
        },
        "project": {"id": "84996744-a854-4f5e-aea3-04e2851dc1d2", "name": "web", "slug": slug},
        "organization": {"id": "f22b6566-597d-46d5-ba74-99ef5bb3d85c", "name": "acme"},
    })
}

/// A `job-completed` webhook for build `number` of project `slug`.
pub fn job_completed(slug: &str, number: u64, status: &str) -> Value {
    json!({
        "type": "job-completed",
        "id": format!("8bd26246-2d0e-4f2b-a2ac-3d9b4b0a1c7d-{number}-{status}"),
        "happened_at": "2026-11-22T10:05:00.000Z",
        "webhook": {"id": "cf8c4fdd-0587-4da1-b4ca-4846e9640af9", "name": "herald"},
        "job": {"id": "c71e1ac8-8a05-4d32-a2d5-e6f8b3a5c1f1", "name": "build", "number": number, "status": status, "started_at": "2026-11-22T10:01:00.000Z", "stopped_at": "2026-11-22T10:05:00.000Z"},
        "workflow": {"id": "fda08377-fe7e-46b1-8992-3a7aaecac9c3", "name": "build", "status": status, "url": "https://app.circleci.com/pipelines/github/acme/web/1/workflows/fda08377-fe7e-46b1-8992-3a7aaecac9c3"},
        "pipeline": {"id": "5034460f-c7c4-4c43-9457-de07e2000000", "number": 1, "created_at": "2026-11-22T10:01:00.000Z"},
        "project": {"id": "84996744-a854-4f5e-aea3-04e2851dc1d2", "name": "web", "slug": slug},
        "organization": {"id": "f22b6566-597d-46d5-ba74-99ef5bb3d85c", "name": "acme"},
    })
}

/// `circleci-signature: v1=<hex HMAC-SHA256 of the body>`, as CircleCI signs webhooks.
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!(
        "v1={}",
        hex::encode(crate::support::hmac_sha256(secret.as_bytes(), body))
    )
}
