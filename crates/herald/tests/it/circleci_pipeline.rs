//! The `circleci-pipeline` action against a fake CircleCI API v2: the documented request,
//! the pipeline remembered by key, credential failures, a missing project, rate limits
//! and server errors.

use crate::fakes::circleci::{FakeCircleci, Scripted};
use crate::support::*;
use herald_store::model::{DeliveryStatus, FailureKind};
use serde_json::{Value, json};

const TOKEN: &str = "circle-test-token";
const PROJECT: &str = "gh/acme/app";

const CONFIG: &str = r#"
[secrets]
github = "It's a Secret to Everybody"
circle = "{TOKEN}"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.deploy]
sources = ["github"]
events = ["push"]
actions = ["pipeline"]

[rules.release]
sources = ["github"]
events = ["release.published"]
actions = ["release_pipeline"]

[actions.pipeline]
kind = "circleci-pipeline"
token = "circle"
api_url = "{SINK}"
project_slug = "gh/{{ event.repository.full_name }}"
branch = "{{ event.ref | replace('refs/heads/', '') }}"
parameters = '{"deploy": true, "sha": {{ event.after }}}'
key = "deploy:{{ event.after }}"
retry = { schedule = ["10s"], jitter = 0 }

[actions.release_pipeline]
kind = "circleci-pipeline"
token = "circle"
api_url = "{SINK}"
project_slug = "gh/acme/app"
tag = "{{ event.release.tag_name }}"

[storage]
path = "herald.db"
"#;

async fn app_with(circleci: &FakeCircleci, token: &str) -> TestApp {
    spawn_app(&CONFIG.replace("{TOKEN}", token), &circleci.url).await
}

async fn push(app: &TestApp, delivery: &str, repository: &str) {
    let body = json!({
        "ref": "refs/heads/main",
        "after": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "repository": {"full_name": repository}
    });
    let response = app
        .github("push", delivery, &body.to_string(), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
}

fn header(call: &crate::fakes::circleci::Call, name: &str) -> String {
    call.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_pipeline_is_triggered_as_documented_and_remembered_under_its_key() {
    let circleci = FakeCircleci::start(TOKEN, PROJECT).await;
    let app = app_with(&circleci, TOKEN).await;
    push(&app, "p-1", "acme/app").await;
    assert_eq!(app.deliver().await, 1);
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);

    let calls = circleci.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.path, "/api/v2/project/gh/acme/app/pipeline");
    assert_eq!(call.status, 201);
    assert_eq!(header(call, "circle-token"), TOKEN);
    assert!(header(call, "content-type").starts_with("application/json"));
    assert!(header(call, "user-agent").starts_with("herald/"));
    assert_eq!(
        call.body,
        json!({
            "branch": "main",
            "parameters": {"deploy": true, "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"}
        })
    );

    let remembered = app
        .store
        .get_ref(
            "circleci-pipeline",
            "deploy:6dcb09b5b57875f334f61aebed695e2e4193db5e",
        )
        .await
        .unwrap()
        .expect("the pipeline is remembered under its key");
    assert_eq!(
        remembered.data,
        json!({
            "id": "5034460f-c7c4-4c43-9457-de07e2000001",
            "number": 101,
            "project_slug": "gh/acme/app"
        })
    );
}

#[tokio::test]
async fn a_tag_pipeline_sends_the_tag_and_no_branch() {
    let circleci = FakeCircleci::start(TOKEN, PROJECT).await;
    let app = app_with(&circleci, TOKEN).await;
    let body = json!({"action": "published", "release": {"tag_name": "v1.4.0"}});
    let response = app
        .github("release", "r-1", &body.to_string(), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.deliver().await, 1);
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
    assert_eq!(circleci.calls()[0].body, json!({"tag": "v1.4.0"}));
}

#[tokio::test]
async fn a_refused_token_is_a_credential_failure() {
    let circleci = FakeCircleci::start(TOKEN, PROJECT).await;
    let app = app_with(&circleci, "revoked-token").await;
    push(&app, "p-1", "acme/app").await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!(delivery.failure_kind, Some(FailureKind::Credential));
    assert_eq!(delivery.last_status_code, Some(401));
    let error = delivery.last_error.unwrap();
    assert!(error.contains("You must log in first."), "{error}");

    let forbidden = FakeCircleci::start(TOKEN, PROJECT).await;
    forbidden.script([Scripted {
        status: 403,
        headers: vec![],
        body: json!({"message": "Permission denied"}),
    }]);
    let app = app_with(&forbidden, TOKEN).await;
    push(&app, "p-2", "acme/app").await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.failure_kind, Some(FailureKind::Credential));
    assert_eq!(delivery.last_status_code, Some(403));
}

#[tokio::test]
async fn an_unknown_project_fails_for_good_without_a_retry() {
    let circleci = FakeCircleci::start(TOKEN, PROJECT).await;
    let app = app_with(&circleci, TOKEN).await;
    push(&app, "p-1", "acme/gone").await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!(delivery.failure_kind, None);
    let error = delivery.last_error.unwrap();
    assert!(error.contains("HTTP 404"), "{error}");
    assert!(error.contains("Project not found"), "{error}");
    assert_eq!(circleci.calls().len(), 1);
}

#[tokio::test]
async fn a_429_waits_for_retry_after_without_using_up_the_schedule() {
    let circleci = FakeCircleci::start(TOKEN, PROJECT).await;
    circleci.script([Scripted {
        status: 429,
        headers: vec![("retry-after", "30".into())],
        body: json!({"message": "Rate limit exceeded"}),
    }]);
    let app = app_with(&circleci, TOKEN).await;
    push(&app, "p-1", "acme/app").await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert_eq!(delivery.retries_used, 0);
    let wait = delivery.next_attempt_at - app.clock_now();
    assert_eq!(wait.num_seconds(), 30);
    app.advance(29.0);
    assert_eq!(app.deliver().await, 0);
    app.advance(1.0);
    assert_eq!(app.deliver().await, 1);
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
}

#[tokio::test]
async fn a_server_error_is_retried_on_the_schedule() {
    let circleci = FakeCircleci::start(TOKEN, PROJECT).await;
    circleci.script([Scripted {
        status: 503,
        headers: vec![],
        body: Value::Null,
    }]);
    let app = app_with(&circleci, TOKEN).await;
    push(&app, "p-1", "acme/app").await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert_eq!(delivery.retries_used, 1);
    assert!(delivery.last_error.unwrap().contains("HTTP 503"));
    app.advance(10.0);
    assert_eq!(app.deliver().await, 1);
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
    assert_eq!(circleci.calls().len(), 2);
}

#[test]
fn branch_and_tag_together_are_a_load_error() {
    let text = CONFIG
        .replace("{TOKEN}", TOKEN)
        .replace("{SINK}", "http://127.0.0.1:1")
        .replace(
            "tag = \"{{ event.release.tag_name }}\"",
            "tag = \"{{ event.release.tag_name }}\"\nbranch = \"main\"",
        );
    let report = herald::config::from_text(
        std::path::Path::new("herald.toml"),
        &text,
        std::sync::Arc::new(|_| None),
        &herald::integrations::catalog(),
    )
    .err()
    .expect("branch and tag together do not load")
    .to_string();
    assert!(
        report.contains("give `branch` or `tag`, not both"),
        "{report}"
    );
}
