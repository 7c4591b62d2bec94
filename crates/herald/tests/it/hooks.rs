//! Registered hooks (issue 13, item 1): unotify's scenarios U1–U6 with herald's answers,
//! rotation with its grace period, import, delete, the CLI, and PostgreSQL. The shared
//! configuration and helpers are here; the tests, by what they exercise, below.

mod api;
mod cli;
mod dashboard;
mod delivery;
mod postgres;

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The key hook secrets are sealed with in these tests (32 bytes, hex).
const HOOKS_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A GitHub registry `repos`, a plain GitHub source, and a rule that forwards the releases
/// of one repository's hook with what `meta.hook` says.
const REGISTRY: &str = r#"
[server]
admin_secret = "admin"

[secrets]
admin = "admin-token-for-tests"
hooks_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
plain = "It's a Secret to Everybody"

[hooks]
key = "hooks_key"

[sources.repos]
kind = "github"
registry = true

[sources.plain]
kind = "github"
secrets = ["plain"]

[rules.releases]
sources = ["repos"]
events = ["release.published"]
filter = "meta.hook.repository == 'go-batteries/webhook-test-repo'"
actions = ["sink"]

[actions.sink]
kind = "http"
url = "{SINK}/release"
body = '{"hook": {{ meta.hook.id }}, "repository": {{ meta.hook.repository }}, "tag": {{ event.release.tag_name }}}'

[storage]
path = "herald.db"
"#;

/// U5's release.
const RELEASE: &str = r#"{"action":"published","release":{"tag_name":"v1.0.1","body":"* SOC-1 login\n* DEVHOP-7 infra"},"repository":{"full_name":"go-batteries/webhook-test-repo","commits_url":"https://api.github.com/repos/go-batteries/webhook-test-repo/commits{/sha}"}}"#;

const REPO: &str = "go-batteries/webhook-test-repo";

async fn api(app: &TestApp, method: Method, path: &str, body: Option<&str>) -> reqwest::Response {
    let mut request = app
        .http
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.unwrap()
}

async fn register(app: &TestApp, body: Value) -> reqwest::Response {
    api(app, Method::POST, "/api/hooks", Some(&body.to_string())).await
}

/// Register `repo` under `repos` and return its secret.
async fn registered(app: &TestApp, repo: &str) -> String {
    let response = register(app, json!({ "source": "repos", "repo": repo })).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["secret"].as_str().unwrap().to_string()
}

/// POST a GitHub delivery to the registered hook `id`, signed with `secret`.
async fn deliver_to(
    app: &TestApp,
    path: &str,
    (event, delivery): (&str, &str),
    body: &str,
    secret: &str,
) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header(
            "x-hub-signature-256",
            github_signature(secret, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn release_to(app: &TestApp, id: &str, delivery: &str, secret: &str) -> u16 {
    let path = format!("/hooks/repos/{id}");
    let response = deliver_to(app, &path, ("release", delivery), RELEASE, secret).await;
    response.status().as_u16()
}

async fn event_count(app: &TestApp) -> usize {
    let query = herald_store::model::EventQuery {
        limit: 1000,
        ..Default::default()
    };
    app.store.list_events(&query).await.unwrap().len()
}

fn is_secret(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
