//! A fake GitHub REST API: repository dispatches, commit statuses, deployments and
//! deployment statuses, repository collaborators, a GitHub App's installation tokens and
//! the rate limit (`GET /rate_limit`), validating and answering as GitHub documents.
//!
//! Calls authenticate with the fixed `token`, or with an installation token the fake issued
//! (not revoked, not expired by the fake's clock: a test's `ManualClock`, or the tests'
//! start time when none is given).

use crate::support::start_time;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use herald::clock::{Clock, ManualClock};
use serde_json::{Value, json};
use sha1::Digest;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The public half of the test App's key (`testdata/github-app/`).
const APP_PUBLIC_KEY: &str = include_str!("../testdata/github-app/test-only-public-key.pem");

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
    /// The GitHub App (id, installation id) whose installation tokens are issued.
    app: Option<(u64, u64)>,
    /// How long an installation token lives (GitHub's: one hour).
    token_lifetime: Option<Duration>,
    /// Installation token requests, in order.
    token_calls: Vec<Call>,
    issued: Vec<Issued>,
    /// The fake's notion of now; the tests' start time when none.
    clock: Option<Arc<ManualClock>>,
    /// `GET /repos/{owner}/{repo}/collaborators`: (login, role name), in order.
    collaborators: Vec<(String, String)>,
}

struct Issued {
    token: String,
    expires_at: DateTime<Utc>,
    revoked: bool,
}

impl Inner {
    fn now(&self) -> DateTime<Utc> {
        self.clock
            .as_ref()
            .map_or_else(start_time, |clock| clock.now())
    }

    /// Whether `authorization` is the fixed token or a live installation token.
    fn accepts(&self, fixed: &str, authorization: Option<&str>) -> bool {
        let Some(token) = authorization.and_then(|value| value.strip_prefix("Bearer ")) else {
            return false;
        };
        let now = self.now();
        token == fixed
            || self
                .issued
                .iter()
                .any(|issued| issued.token == token && !issued.revoked && now < issued.expires_at)
    }
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
            .route(
                "/repos/{owner}/{repo}/collaborators",
                axum::routing::get(collaborators),
            )
            .route(
                "/app/installations/{id}/access_tokens",
                axum::routing::post(access_token),
            )
            .route("/rate_limit", axum::routing::get(rate_limit))
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

    /// Issue installation tokens for this App's installation, to JWTs signed with the
    /// test key (`testdata/github-app/test-only-private-key.pem`).
    pub fn app(&self, app_id: u64, installation_id: u64) {
        self.inner.lock().unwrap().app = Some((app_id, installation_id));
    }

    /// How long the installation tokens issued from now on live (default one hour).
    pub fn token_lifetime(&self, lifetime: Duration) {
        self.inner.lock().unwrap().token_lifetime = Some(lifetime);
    }

    /// Tell time by `clock` (herald's, in tests) instead of the tests' start time.
    pub fn use_clock(&self, clock: Arc<ManualClock>) {
        self.inner.lock().unwrap().clock = Some(clock);
    }

    /// Every installation token request, refused ones too.
    pub fn token_calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().token_calls.clone()
    }

    /// How many installation token requests were made.
    pub fn token_requests(&self) -> usize {
        self.inner.lock().unwrap().token_calls.len()
    }

    /// Revoke every installation token issued so far (as `DELETE /installation/token` or
    /// suspending the App would): calls with them get 401.
    pub fn revoke_tokens(&self) {
        for issued in &mut self.inner.lock().unwrap().issued {
            issued.revoked = true;
        }
    }

    /// The repository collaborators every repository lists, each with the `write` role.
    pub fn set_collaborators(&self, logins: &[&str]) {
        let roles: Vec<(&str, &str)> = logins.iter().map(|login| (*login, "write")).collect();
        self.set_collaborators_with_roles(&roles);
    }

    /// The collaborators with their role names (`read`, `triage`, `write`, `maintain`,
    /// `admin`).
    pub fn set_collaborators_with_roles(&self, collaborators: &[(&str, &str)]) {
        self.inner.lock().unwrap().collaborators = collaborators
            .iter()
            .map(|(login, role)| (login.to_string(), role.to_string()))
            .collect();
    }
}

type Answer = (u16, Value);

/// An answer with headers of its own (`Link`).
type Reply = (u16, Value, Vec<(&'static str, String)>);

/// Authentication and headers first, then a scripted answer, then the route's own logic.
fn answer(
    fake: &FakeGithub,
    method: &str,
    path: String,
    headers: HeaderMap,
    body: &str,
    route: impl FnOnce(&mut Inner, &Value) -> Answer,
) -> Response {
    answer_with_headers(fake, method, path, headers, body, |inner, body| {
        let (status, reply) = route(inner, body);
        (status, reply, vec![])
    })
}

fn answer_with_headers(
    fake: &FakeGithub,
    method: &str,
    path: String,
    headers: HeaderMap,
    body: &str,
    route: impl FnOnce(&mut Inner, &Value) -> Reply,
) -> Response {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut inner = fake.inner.lock().unwrap();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let (status, reply, extra) = if !inner.accepts(&fake.token, auth) {
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
        route(&mut inner, &body)
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
            let git_ref = body["ref"].as_str().unwrap_or_default();
            // The commit the ref points at: 40 hex characters, the same for the same ref.
            let sha = hex::encode(sha1::Sha1::digest(git_ref.as_bytes()));
            let field = |name: &str, default: Value| body.get(name).cloned().unwrap_or(default);
            let created_at = inner
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            (
                201,
                json!({
                    "url": format!("{}/repos/{owner}/{repo}/deployments/{id}", fake.url),
                    "id": id,
                    "node_id": format!("DE_{id}"),
                    "sha": sha,
                    "ref": git_ref,
                    "task": field("task", json!("deploy")),
                    "payload": field("payload", json!({})),
                    "original_environment": field("environment", json!("production")),
                    "environment": field("environment", json!("production")),
                    "description": field("description", Value::Null),
                    "creator": {"login": "herald[bot]", "id": 1, "type": "Bot"},
                    "created_at": created_at,
                    "updated_at": created_at,
                    "statuses_url": format!("{}/repos/{owner}/{repo}/deployments/{id}/statuses", fake.url),
                    "repository_url": format!("{}/repos/{owner}/{repo}", fake.url),
                    "transient_environment": field("transient_environment", json!(false)),
                    "production_environment": field("production_environment", json!(false)),
                }),
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

/// `GET /rate_limit`: the credential's limits (a call that does not count against them).
async fn rate_limit(State(fake): State<FakeGithub>, headers: HeaderMap) -> Response {
    answer(
        &fake,
        "GET",
        "/rate_limit".into(),
        headers,
        "",
        |inner, _| {
            let reset = inner.now().timestamp() + 3600;
            let core = json!({"limit": 5000, "used": 0, "remaining": 5000, "reset": reset});
            (
                200,
                json!({"resources": {"core": core, "search": {"limit": 30, "used": 0, "remaining": 30, "reset": reset}}, "rate": core}),
            )
        },
    )
}

/// `GET /repos/{owner}/{repo}/collaborators`: the collaborators set, `per_page` (default
/// 30, at most 100) from `page` (default 1), with a `Link` header while more pages follow.
async fn collaborators(
    State(fake): State<FakeGithub>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let number = |name: &str, default: usize| {
        query
            .get(name)
            .and_then(|value| value.parse::<usize>().ok())
            .unwrap_or(default)
    };
    let per_page = number("per_page", 30).clamp(1, 100);
    let page = number("page", 1).max(1);
    let path = format!("/repos/{owner}/{repo}/collaborators");
    let base = format!("{}{path}", fake.url);
    answer_with_headers(&fake, "GET", path, headers, "", |inner, _| {
        let all = &inner.collaborators;
        let listed: Vec<Value> = all
            .iter()
            .enumerate()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|(n, (login, role))| collaborator(n, login, role))
            .collect();
        let last = all.len().div_ceil(per_page).max(1);
        let link = |page: usize, rel: &str| {
            format!("<{base}?per_page={per_page}&page={page}>; rel=\"{rel}\"")
        };
        let mut links = Vec::new();
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
            links.push(link(page - 1, "prev"));
        }
        let headers = if links.is_empty() {
            vec![]
        } else {
            vec![("link", links.join(", "))]
        };
        (200, Value::Array(listed), headers)
    })
}

/// A collaborator as GitHub lists one: a user with the permissions its role grants.
fn collaborator(n: usize, login: &str, role: &str) -> Value {
    let rank = ["read", "triage", "write", "maintain", "admin"]
        .iter()
        .position(|known| *known == role)
        .unwrap_or(0);
    let id = 10_000 + n as u64;
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "html_url": format!("https://github.com/{login}"),
        "type": "User",
        "site_admin": false,
        "permissions": {
            "pull": true,
            "triage": rank >= 1,
            "push": rank >= 2,
            "maintain": rank >= 3,
            "admin": rank >= 4,
        },
        "role_name": role,
    })
}

/// What herald's JWT must hold.
#[derive(serde::Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

/// `POST /app/installations/{id}/access_tokens`: a JWT of the App (RS256 with its key,
/// `iss` its id, at most ten minutes from `iat` to `exp`) buys an installation token.
/// `exp` is not held against the wall clock: herald's clock is a test's.
async fn access_token(
    State(fake): State<FakeGithub>,
    Path(installation): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut inner = fake.inner.lock().unwrap();
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let jwt = auth.and_then(|value| value.strip_prefix("Bearer "));
    let app = inner.app;
    let claims = jwt.and_then(|jwt| {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(APP_PUBLIC_KEY.as_bytes()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iat", "exp", "iss"]);
        jsonwebtoken::decode::<Claims>(jwt, &key, &validation)
            .ok()
            .map(|data| data.claims)
    });
    let documented =
        "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app";
    let (status, reply) = match (claims, app) {
        _ if headers.get("user-agent").is_none() => (
            403,
            json!({"message": "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"}),
        ),
        (Some(claims), Some((app_id, installation_id)))
            if claims.iss == app_id.to_string() && claims.exp - claims.iat <= 600 =>
        {
            if installation != installation_id.to_string() {
                (
                    404,
                    json!({"message": "Not Found", "documentation_url": documented}),
                )
            } else {
                let lifetime = inner.token_lifetime.unwrap_or(Duration::from_secs(3600));
                let expires_at = inner.now() + chrono::Duration::from_std(lifetime).unwrap();
                let token = format!("ghs_{}", inner.issued.len() + 1);
                inner.issued.push(Issued {
                    token: token.clone(),
                    expires_at,
                    revoked: false,
                });
                let expires_at = expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                (
                    201,
                    json!({
                        "token": token,
                        "expires_at": expires_at,
                        "permissions": {"deployments": "write", "statuses": "write", "contents": "write", "metadata": "read"},
                        "repository_selection": "all",
                    }),
                )
            }
        }
        _ => (
            401,
            json!({"message": "A JSON web token could not be decoded", "documentation_url": documented}),
        ),
    };
    inner.token_calls.push(Call {
        method: "POST".into(),
        path: format!("/app/installations/{installation}/access_tokens"),
        headers,
        body: Value::Null,
        status,
    });
    (StatusCode::from_u16(status).unwrap(), Json(reply)).into_response()
}
