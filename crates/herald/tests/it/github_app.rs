//! The GitHub actions authenticated as a GitHub App, against the fake GitHub: one
//! installation token serves every call (and every action) while it lives, a new one is
//! fetched once it expires or is refused, and a key or installation GitHub does not know
//! is a credential failure.

use crate::fakes::github::FakeGithub;
use crate::support::*;
use herald::integrations::github::auth::{Api, AppInstallation, GithubAuth};
use herald::secret::Secret;
use herald_store::model::{DeliveryStatus, FailureKind};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const APP_ID: u64 = 123456;
const INSTALLATION: u64 = 7890123;
const KEY: &str = include_str!("testdata/github-app/test-only-private-key.pem");
const UNKNOWN_KEY: &str = include_str!("testdata/github-app/test-only-unknown-private-key.pem");

/// Commit statuses for check suites and deployments for new branches, both as the App.
const CONFIG: &str = r#"
[secrets]
github = "It's a Secret to Everybody"
app_key = '''
{APP_KEY}'''

[sources.github]
kind = "github"
secrets = ["github"]

[rules.checks]
sources = ["github"]
events = ["check_suite.*"]
actions = ["status"]

[rules.deploy]
sources = ["github"]
events = ["create"]
actions = ["deployment"]

[actions.status]
kind = "github-status"
app = { id = {APP_ID}, installation = {INSTALLATION}, private_key = "app_key" }
repository = "acme/api"
api_url = "{SINK}"
sha = "{{ event.check_suite.head_sha }}"
state = "pending"
context = "herald/contracts"

[actions.deployment]
kind = "github-deployment"
app = { id = {APP_ID}, installation = {INSTALLATION}, private_key = "app_key" }
repository = "acme/app"
api_url = "{SINK}"
ref = "{{ event.ref }}"
environment = "staging"

[storage]
path = "herald.db"
"#;

fn config(key: &str, installation: u64) -> String {
    CONFIG
        .replace("{APP_KEY}", key)
        .replace("{APP_ID}", &APP_ID.to_string())
        .replace("{INSTALLATION}", &installation.to_string())
}

/// Herald with the App's credentials against a fake GitHub that knows the App and tells
/// time by herald's clock.
async fn start(key: &str, installation: u64) -> (FakeGithub, TestApp) {
    let github = FakeGithub::start("ghp_not_used").await;
    github.app(APP_ID, INSTALLATION);
    let app = spawn_app(&config(key, installation), &github.url).await;
    github.use_clock(app.clock.clone());
    (github, app)
}

async fn check_suite(app: &TestApp, n: usize) {
    let sha = format!("{n:0>40}");
    let body = json!({"action": "requested", "check_suite": {"head_sha": sha}});
    let response = app
        .github(
            "check_suite",
            &format!("s-{n}"),
            &body.to_string(),
            GITHUB_SECRET,
        )
        .await;
    assert_eq!(response.status(), 202);
}

fn authorization(call: &crate::fakes::github::Call) -> String {
    let value = call.headers.get("authorization").unwrap().to_str().unwrap();
    value.to_string()
}

fn authorizations(github: &FakeGithub) -> Vec<String> {
    github.calls().iter().map(authorization).collect()
}

fn all(status: DeliveryStatus, deliveries: &[herald_store::model::Delivery]) -> bool {
    deliveries.iter().all(|delivery| delivery.status == status)
}

#[tokio::test]
async fn one_installation_token_serves_every_call_and_action_while_it_lives() {
    let (github, app) = start(KEY, INSTALLATION).await;
    for n in 1..=3 {
        check_suite(&app, n).await;
    }
    let branch = json!({"ref": "release-2.0", "ref_type": "branch"});
    let response = app
        .github("create", "c-1", &branch.to_string(), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.deliver_all().await, 4);

    assert!(all(DeliveryStatus::Succeeded, &app.deliveries().await));
    assert_eq!(github.token_requests(), 1);
    assert_eq!(authorizations(&github), vec!["Bearer ghs_1"; 4]);
    let request = &github.token_calls()[0];
    assert_eq!(
        request.path,
        format!("/app/installations/{INSTALLATION}/access_tokens")
    );
    assert_eq!(request.status, 201);
    let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(header("accept"), "application/vnd.github+json");
    assert_eq!(header("x-github-api-version"), "2022-11-28");
    assert!(header("user-agent").starts_with("herald/"));
    assert!(header("authorization").starts_with("Bearer ey"), "a JWT");

    // The deployment's answer, as GitHub gives it.
    let deployment = github
        .calls()
        .into_iter()
        .find(|call| call.path == "/repos/acme/app/deployments")
        .unwrap();
    assert_eq!(deployment.status, 201);
}

#[tokio::test]
async fn a_new_token_is_fetched_once_the_old_one_expires() {
    let (github, app) = start(KEY, INSTALLATION).await;
    check_suite(&app, 1).await;
    assert_eq!(app.deliver().await, 1);
    // Within the hour (and more than a minute before it ends), the token is reused.
    app.advance(58.0 * 60.0);
    check_suite(&app, 2).await;
    assert_eq!(app.deliver().await, 1);
    assert_eq!(github.token_requests(), 1);

    app.advance(2.0 * 60.0 + 1.0);
    check_suite(&app, 3).await;
    assert_eq!(app.deliver().await, 1);
    check_suite(&app, 4).await;
    assert_eq!(app.deliver().await, 1);
    assert_eq!(github.token_requests(), 2);
    assert_eq!(
        authorizations(&github),
        [
            "Bearer ghs_1",
            "Bearer ghs_1",
            "Bearer ghs_2",
            "Bearer ghs_2"
        ]
    );
    assert!(all(DeliveryStatus::Succeeded, &app.deliveries().await));
}

#[tokio::test]
async fn a_short_lived_token_is_not_used_within_its_last_minute() {
    let (github, app) = start(KEY, INSTALLATION).await;
    github.token_lifetime(Duration::from_secs(10 * 60));
    check_suite(&app, 1).await;
    assert_eq!(app.deliver().await, 1);
    app.advance(9.0 * 60.0);
    check_suite(&app, 2).await;
    assert_eq!(app.deliver().await, 1);
    assert_eq!(github.token_requests(), 2);
    assert_eq!(authorizations(&github), ["Bearer ghs_1", "Bearer ghs_2"]);
}

#[tokio::test]
async fn a_revoked_token_is_replaced_and_the_call_sent_again_in_the_same_attempt() {
    let (github, app) = start(KEY, INSTALLATION).await;
    check_suite(&app, 1).await;
    assert_eq!(app.deliver().await, 1);
    github.revoke_tokens();

    check_suite(&app, 2).await;
    assert_eq!(app.deliver().await, 1);
    let calls = github.calls();
    let seen: Vec<(String, u16)> = calls
        .iter()
        .map(|call| (authorization(call), call.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("Bearer ghs_1".to_string(), 201),
            ("Bearer ghs_1".to_string(), 401),
            ("Bearer ghs_2".to_string(), 201),
        ]
    );
    assert_eq!(github.token_requests(), 2);
    let deliveries = app.deliveries().await;
    assert!(all(DeliveryStatus::Succeeded, &deliveries));
    assert!(deliveries.iter().all(|delivery| delivery.attempts == 1));
}

#[tokio::test]
async fn a_token_refused_again_after_a_fresh_one_is_a_credential_failure() {
    let (github, app) = start(KEY, INSTALLATION).await;
    check_suite(&app, 1).await;
    // Every call refused: the fresh token does not help, and herald stops after one more.
    github.script([
        crate::fakes::github::bad_credentials(),
        crate::fakes::github::bad_credentials(),
    ]);
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!(delivery.failure_kind, Some(FailureKind::Credential));
    assert_eq!(delivery.last_status_code, Some(401));
    assert_eq!(github.calls().len(), 2);
    assert_eq!(github.token_requests(), 2);
}

async fn refused(key: &str, installation: u64, expected: &str) {
    let (github, app) = start(key, installation).await;
    check_suite(&app, 1).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!(delivery.failure_kind, Some(FailureKind::Credential));
    let error = delivery.last_error.unwrap();
    assert!(
        error.contains(&format!("installation token of GitHub App {APP_ID}")),
        "{error}"
    );
    assert!(error.contains(expected), "{error}");
    assert!(!error.contains("PRIVATE KEY"), "{error}");
    assert!(github.calls().is_empty(), "no API call without a token");
    assert_eq!(github.token_requests(), 1);
}

#[tokio::test]
async fn a_key_github_does_not_know_is_a_credential_failure() {
    refused(
        UNKNOWN_KEY,
        INSTALLATION,
        "A JSON web token could not be decoded",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_installation_is_a_credential_failure() {
    refused(KEY, INSTALLATION + 1, "HTTP 404").await;
}

/// A read outside the step runner (a bot's collaborators) takes its header from
/// `GithubAuth::header`: the same cached token, refreshed after `refused`.
#[tokio::test]
async fn a_read_outside_the_runner_lists_collaborators_page_by_page_with_the_token() {
    let github = FakeGithub::start("ghp_not_used").await;
    github.app(APP_ID, INSTALLATION);
    let logins: Vec<String> = (1..=5).map(|n| format!("dev{n}")).collect();
    let logins: Vec<&str> = logins.iter().map(String::as_str).collect();
    github.set_collaborators_with_roles(&[("octocat", "admin")]);
    github.set_collaborators(&logins);
    let api = Api {
        url: &github.url,
        version: "2022-11-28",
    };
    let installation = AppInstallation::new(api, APP_ID, INSTALLATION, Secret::new("app_key", KEY));
    let auth = GithubAuth::App(Arc::new(installation));
    let http = herald::transport::client();
    let now = start_time();

    let mut url = format!("{}/repos/acme/app/collaborators?per_page=2", github.url);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let header = auth.header(&http, now).await.unwrap();
        let response = http
            .get(&url)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let next = response
            .headers()
            .get("link")
            .map(|link| link.to_str().unwrap().to_string());
        let page: Value = response.json().await.unwrap();
        for user in page.as_array().unwrap() {
            assert_eq!(user["type"], "User");
            assert_eq!(user["permissions"]["push"], true);
            assert_eq!(user["permissions"]["admin"], false);
            seen.push(user["login"].as_str().unwrap().to_string());
        }
        pages += 1;
        let next = next.as_deref().and_then(|link| {
            link.split(", ")
                .find(|part| part.ends_with("rel=\"next\""))
                .map(|part| part[1..part.find('>').unwrap()].to_string())
        });
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(seen, logins);
    assert_eq!(pages, 3);
    assert_eq!(github.token_requests(), 1);

    github.revoke_tokens();
    auth.refused();
    assert_eq!(auth.header(&http, now).await.unwrap(), "Bearer ghs_2");
}
