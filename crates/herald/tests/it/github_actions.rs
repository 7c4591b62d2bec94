//! The GitHub actions against a fake GitHub REST API: repository dispatch limits, headers,
//! credential failures, rate limits, commit statuses, and deployments remembered by key.
//! The fake's URL is set once, in `[github] api_url`, for every action.

use crate::fakes::github::{FakeGithub, Scripted, bad_credentials};
use crate::support::*;
use herald_store::model::{DeliveryStatus, FailureKind};
use serde_json::{Value, json};

const TOKEN: &str = "ghp_test_token";

const CONFIG: &str = r#"
[secrets]
github = "It's a Secret to Everybody"
gh = "ghp_test_token"

# One line for every GitHub action (GitHub Enterprise, a proxy, this fake).
[github]
api_url = "{SINK}"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.contracts]
sources = ["github"]
events = ["push"]
actions = ["dispatch"]

[rules.deploy]
sources = ["github"]
events = ["create"]
actions = ["deployment"]

[rules.deployed]
sources = ["github"]
events = ["workflow_run.completed"]
actions = ["deployment_status"]

[rules.checks]
sources = ["github"]
events = ["check_suite.*"]
actions = ["status"]

[actions.dispatch]
kind = "github-dispatch"
token = "gh"
repository = "acme/app"
event_type = "contract_published"
client_payload = '{{ event.payload }}'
retry = { schedule = ["1s"], jitter = 0 }

[actions.deployment]
kind = "github-deployment"
token = "gh"
repository = "acme/app"
key = "release:{{ event.ref }}"
ref = "{{ event.ref }}"
environment = "staging"
description = "Deploy {{ event.ref }}"
auto_merge = false
required_contexts = []

[actions.deployment_status]
kind = "github-deployment-status"
token = "gh"
repository = "acme/app"
key = "release:{{ event.workflow_run.head_branch }}"
state = "{{ event.workflow_run.conclusion }}"
environment_url = "https://staging.example.com"

[actions.status]
kind = "github-status"
token = "gh"
repository = "{{ event.repository.full_name }}"
sha = "{{ event.check_suite.head_sha }}"
state = "pending"
context = "herald/contracts"
description = "Waiting for contract verification"

[storage]
path = "herald.db"
"#;

async fn send(app: &TestApp, event: &str, delivery: &str, body: Value) {
    let response = app
        .github(event, delivery, &body.to_string(), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
}

fn payload_with_keys(count: usize) -> Value {
    let payload: serde_json::Map<_, _> =
        (0..count).map(|n| (format!("key{n}"), json!(n))).collect();
    json!({ "ref": "refs/heads/main", "payload": payload })
}

#[tokio::test]
async fn a_dispatch_with_eleven_payload_keys_fails_before_any_request() {
    let github = FakeGithub::start(TOKEN).await;
    let app = spawn_app(CONFIG, &github.url).await;
    send(&app, "push", "p-1", payload_with_keys(11)).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    let error = delivery.last_error.unwrap();
    assert!(
        error.contains("client_payload has 11 top-level keys"),
        "{error}"
    );
    assert!(error.contains("at most 10"), "{error}");
    assert!(github.calls().is_empty(), "no request was made");
}

#[tokio::test]
async fn a_valid_dispatch_reaches_github_with_the_documented_request() {
    let github = FakeGithub::start(TOKEN).await;
    let app = spawn_app(CONFIG, &github.url).await;
    send(&app, "push", "p-1", payload_with_keys(10)).await;
    assert_eq!(app.deliver().await, 1);
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
    let calls = github.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/repos/acme/app/dispatches")
    );
    assert_eq!(call.status, 204);
    let header = |name: &str| {
        call.headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(header("accept"), "application/vnd.github+json");
    assert_eq!(header("x-github-api-version"), "2022-11-28");
    assert_eq!(header("authorization"), format!("Bearer {TOKEN}"));
    assert!(header("user-agent").starts_with("herald/"));
    assert!(header("content-type").starts_with("application/json"));
    assert_eq!(call.body["event_type"], "contract_published");
    assert_eq!(
        call.body["client_payload"],
        payload_with_keys(10)["payload"]
    );
}

#[tokio::test]
async fn bad_credentials_mark_the_delivery_as_a_credential_failure() {
    let github = FakeGithub::start(TOKEN).await;
    github.script([bad_credentials()]);
    let app = spawn_app(CONFIG, &github.url).await;
    send(&app, "push", "p-1", payload_with_keys(1)).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!(delivery.failure_kind, Some(FailureKind::Credential));
    assert_eq!(delivery.last_status_code, Some(401));
    assert!(delivery.last_error.unwrap().contains("Bad credentials"));
}

#[tokio::test]
async fn a_rate_limit_waits_until_the_reset_without_using_up_the_schedule() {
    let github = FakeGithub::start(TOKEN).await;
    let reset = start_time().timestamp() + 60;
    github.script([Scripted {
        status: 403,
        headers: vec![
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", reset.to_string()),
        ],
        body: json!({"message": "API rate limit exceeded for installation ID 1."}),
    }]);
    let app = spawn_app(CONFIG, &github.url).await;
    send(&app, "push", "p-1", payload_with_keys(1)).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert_eq!(delivery.retries_used, 0);
    assert_eq!(delivery.next_attempt_at.timestamp(), reset);
    app.advance(59.0);
    assert_eq!(app.deliver().await, 0);
    app.advance(1.0);
    assert_eq!(app.deliver().await, 1);
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
}

#[tokio::test]
async fn a_validation_error_is_permanent_with_githubs_message() {
    let github = FakeGithub::start(TOKEN).await;
    github.script([Scripted {
        status: 422,
        headers: vec![],
        body: json!({"message": "Validation Failed", "errors": [{"message": "No ref found for: nope"}]}),
    }]);
    let app = spawn_app(CONFIG, &github.url).await;
    send(&app, "create", "c-1", json!({"ref": "nope"})).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    let error = delivery.last_error.unwrap();
    assert!(error.contains("No ref found for: nope"), "{error}");
}

#[tokio::test]
async fn a_deployment_is_created_for_a_key_and_another_rule_posts_its_status() {
    let github = FakeGithub::start(TOKEN).await;
    let app = spawn_app(CONFIG, &github.url).await;
    send(&app, "create", "c-1", json!({"ref": "release-1.4"})).await;
    assert_eq!(app.deliver().await, 1);
    let app = app.restart().await;
    let run = json!({"action": "completed", "workflow_run": {"head_branch": "release-1.4", "conclusion": "success"}});
    send(&app, "workflow_run", "w-1", run).await;
    assert_eq!(app.deliver().await, 1);

    let calls = github.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].path, "/repos/acme/app/deployments");
    assert_eq!(calls[0].body["ref"], "release-1.4");
    assert_eq!(calls[0].body["environment"], "staging");
    assert_eq!(calls[0].body["auto_merge"], false);
    assert_eq!(calls[0].body["required_contexts"], json!([]));
    assert_eq!(calls[1].path, "/repos/acme/app/deployments/1001/statuses");
    assert_eq!(calls[1].body["state"], "success");
    assert_eq!(
        calls[1].body["environment_url"],
        "https://staging.example.com"
    );
    assert!(
        app.deliveries()
            .await
            .iter()
            .all(|d| d.status == DeliveryStatus::Succeeded)
    );
}

#[tokio::test]
async fn a_status_for_an_unknown_deployment_key_fails_clearly() {
    let github = FakeGithub::start(TOKEN).await;
    let app = spawn_app(CONFIG, &github.url).await;
    let run = json!({"action": "completed", "workflow_run": {"head_branch": "never-deployed", "conclusion": "failure"}});
    send(&app, "workflow_run", "w-1", run).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert!(
        delivery
            .last_error
            .unwrap()
            .contains("no deployment recorded for key \"release:never-deployed\"")
    );
    assert!(github.calls().is_empty());
}

#[tokio::test]
async fn a_commit_status_goes_to_the_sha_of_the_event() {
    let github = FakeGithub::start(TOKEN).await;
    let app = spawn_app(CONFIG, &github.url).await;
    let suite = json!({
        "action": "requested",
        "repository": {"full_name": "acme/api"},
        "check_suite": {"head_sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"}
    });
    send(&app, "check_suite", "s-1", suite).await;
    assert_eq!(app.deliver().await, 1);
    let calls = github.calls();
    assert_eq!(
        calls[0].path,
        "/repos/acme/api/statuses/6dcb09b5b57875f334f61aebed695e2e4193db5e"
    );
    assert_eq!(calls[0].body["state"], "pending");
    assert_eq!(calls[0].body["context"], "herald/contracts");
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);
}

#[tokio::test]
async fn a_merged_branch_202_is_retried_and_a_409_is_a_permanent_conflict() {
    let github = FakeGithub::start(TOKEN).await;
    github.script([Scripted {
        status: 202,
        headers: vec![],
        body: json!({"message": "Auto-merged main into topic-branch on deployment."}),
    }]);
    let app = spawn_app(CONFIG, &github.url).await;
    send(&app, "create", "c-1", json!({"ref": "topic-branch"})).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert!(delivery.last_error.unwrap().contains("merged branch"));
    // The default policy's first delay: 5 s, shortened by up to 20% of jitter.
    app.advance(5.0);
    assert_eq!(app.deliver().await, 1);
    assert_eq!(app.only_delivery().await.status, DeliveryStatus::Succeeded);

    github.script([Scripted {
        status: 409,
        headers: vec![],
        body: json!({"message": "Conflict: Commit status checks failed for main."}),
    }]);
    send(&app, "create", "c-2", json!({"ref": "main"})).await;
    assert_eq!(app.deliver().await, 1);
    let dead: Vec<_> = app
        .deliveries()
        .await
        .into_iter()
        .filter(|d| d.status == DeliveryStatus::Dead)
        .collect();
    assert_eq!(dead.len(), 1);
    let error = dead[0].last_error.as_deref().unwrap();
    assert!(error.contains("HTTP 409 conflict"), "{error}");
    assert!(error.contains("Commit status checks failed"), "{error}");
}
