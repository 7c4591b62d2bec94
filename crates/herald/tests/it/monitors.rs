//! Monitors end to end: alerts go through rules to a fake Slack once per outage, survive
//! restarts, and recover once; `herald status`, `/api/status` and `herald test`.

use crate::fakes::github::{FakeGithub, bad_credentials};
use crate::fakes::slack::FakeSlack;
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

const SLACK_TOKEN: &str = "xoxb-alerts";
const GITHUB_TOKEN: &str = "ghp_machine_user";

/// A dispatch on every push, a credential monitor and a staleness monitor, alerts to Slack.
fn config(github: &str, slack: &str) -> String {
    format!(
        r##"
[server]
admin_secret = "admin"

[secrets]
github = "It's a Secret to Everybody"
admin = "admin-token-for-tests"
gh_token = "{GITHUB_TOKEN}"
slack_bot = "{SLACK_TOKEN}"

[slack]
pace = "1ms"
burst = 100

[sources.github]
kind = "github"
secrets = ["github"]

[rules.contracts]
sources = ["github"]
events = ["push"]
actions = ["dispatch"]

[actions.dispatch]
kind = "github-dispatch"
token = "gh_token"
repository = "acme/provider"
api_url = "{github}"
event_type = "contract_requiring_verification_published"
client_payload = '{{"sha": {{{{ event.after }}}}}}'
retry = {{ schedule = ["1s"], jitter = 0 }}

[rules.alerts]
sources = ["herald"]
events = ["monitor.*"]
actions = ["alert_slack"]

[actions.alert_slack]
kind = "slack"
token = "slack_bot"
api_url = "{slack}"
channel = "#herald-alerts"
text = "{{{{ event.text }}}}"

[monitors.github_token]
kind = "credential"
actions = ["dispatch"]

[monitors.verifications]
kind = "staleness"
source = "github"
events = ["workflow_run.completed"]
filter = "event.workflow_run.name == 'verify'"
group = "{{{{ event.repository.name }}}}"
every = "2h"

[monitors.streak]
kind = "failure-streak"
actions = ["dispatch"]
threshold = 3

[monitors.signatures]
kind = "signature-failures"
sources = ["github"]
threshold = 3
window = "5m"

[storage]
path = "herald.db"
"##
    )
}

async fn push(app: &TestApp, n: u32) {
    let body = json!({"ref": "refs/heads/main", "after": format!("sha{n}")}).to_string();
    let response = app
        .github("push", &format!("push-{n}"), &body, GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
}

async fn verified(app: &TestApp, id: &str, repo: &str) {
    let body = json!({"action": "completed", "workflow_run": {"name": "verify"}, "repository": {"name": repo}}).to_string();
    let response = app.github("workflow_run", id, &body, GITHUB_SECRET).await;
    assert_eq!(response.status(), 202);
}

/// Run the monitors, then deliver what they raised.
async fn check(app: &TestApp) -> usize {
    let emitted = app.app.monitors.run_once().await.unwrap().len();
    app.deliver().await;
    emitted
}

fn alert_texts(slack: &FakeSlack) -> Vec<String> {
    slack
        .calls()
        .iter()
        .map(|call| call.body["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_revoked_token_alerts_once_names_the_secret_and_recovers_once() {
    let github = FakeGithub::start(GITHUB_TOKEN).await;
    let slack = FakeSlack::start(SLACK_TOKEN, Duration::ZERO).await;
    github.script(std::iter::repeat_n(bad_credentials(), 11));
    let app = spawn_app(&config(&github.url, &slack.url), "").await;

    push(&app, 0).await;
    assert_eq!(app.deliver().await, 1);
    assert_eq!(check(&app).await, 1);
    let texts = alert_texts(&slack);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("Credential failure"), "{}", texts[0]);
    assert!(
        texts[0].contains("`gh_token`"),
        "names the secret: {}",
        texts[0]
    );
    assert!(
        texts[0].contains("`dispatch`"),
        "names the destination: {}",
        texts[0]
    );
    assert!(
        texts[0].contains("Tokens (classic)"),
        "carries the runbook: {}",
        texts[0]
    );
    assert!(!texts[0].contains(GITHUB_TOKEN), "never the token itself");

    // Ten more failing deliveries: silence.
    for n in 1..=10 {
        push(&app, n).await;
        app.deliver().await;
        check(&app).await;
    }
    assert_eq!(github.calls().len(), 11);
    assert_eq!(alert_texts(&slack).len(), 1, "no alert storm");

    // A restart does not repeat the open alert.
    let app = app.restart().await;
    assert_eq!(check(&app).await, 0);

    // GitHub accepts the token again: one recovery notice.
    push(&app, 11).await;
    app.deliver().await;
    assert_eq!(github.calls().last().unwrap().status, 204);
    assert_eq!(check(&app).await, 1);
    assert_eq!(check(&app).await, 0);
    let texts = alert_texts(&slack);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[1].contains("Recovered"), "{}", texts[1]);
    assert!(texts[1].contains("`dispatch`"));
}

#[tokio::test]
async fn a_silent_pair_alerts_once_across_a_restart_and_recovers_once() {
    let github = FakeGithub::start(GITHUB_TOKEN).await;
    let slack = FakeSlack::start(SLACK_TOKEN, Duration::ZERO).await;
    let app = spawn_app(&config(&github.url, &slack.url), "").await;
    verified(&app, "v-1", "provider-a").await;
    // Not a verification: does not count.
    let other = json!({"action": "completed", "workflow_run": {"name": "lint"}, "repository": {"name": "provider-a"}});
    app.github("workflow_run", "l-1", &other.to_string(), GITHUB_SECRET)
        .await;
    assert_eq!(check(&app).await, 0);

    app.advance(3600.0);
    assert_eq!(check(&app).await, 0, "1 h: not overdue");
    app.advance(3600.0);
    assert_eq!(check(&app).await, 0, "exactly 2 h: not overdue yet");
    app.advance(60.0);
    assert_eq!(check(&app).await, 1, "first check after 2 h");
    let texts = alert_texts(&slack);
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains("Overdue"), "{}", texts[0]);
    assert!(texts[0].contains("`provider-a`"), "{}", texts[0]);

    app.advance(3540.0);
    assert_eq!(check(&app).await, 0, "3 h: no second alert");
    app.advance(1800.0);
    let app = app.restart().await;
    assert_eq!(
        check(&app).await,
        0,
        "3 h 30 after a restart: no second alert"
    );
    assert_eq!(alert_texts(&slack).len(), 1);

    verified(&app, "v-2", "provider-a").await;
    assert_eq!(check(&app).await, 1);
    assert_eq!(check(&app).await, 0);
    let texts = alert_texts(&slack);
    assert_eq!(texts.len(), 2);
    assert!(texts[1].contains("Recovered"), "{}", texts[1]);
}

#[tokio::test]
async fn rejected_signatures_and_failure_streaks_alert_once_each() {
    let github = FakeGithub::start(GITHUB_TOKEN).await;
    let slack = FakeSlack::start(SLACK_TOKEN, Duration::ZERO).await;
    github.script(std::iter::repeat_n(
        crate::fakes::github::Scripted {
            status: 502,
            headers: vec![],
            body: json!({"message": "Server Error"}),
        },
        3,
    ));
    let app = spawn_app(&config(&github.url, &slack.url), "").await;
    for n in 0..3 {
        let response = app
            .github("push", &format!("bad-{n}"), "{}", "a rotated secret")
            .await;
        assert_eq!(response.status(), 401);
    }
    push(&app, 0).await;
    app.deliver().await;
    app.advance(1.0);
    app.deliver().await;
    push(&app, 1).await;
    app.deliver().await;
    assert_eq!(check(&app).await, 2);
    assert_eq!(check(&app).await, 0);
    let texts = alert_texts(&slack).join("\n");
    assert!(texts.contains("Rejected signatures"), "{texts}");
    assert!(texts.contains("3 requests to source `github`"), "{texts}");
    assert!(texts.contains("failed 3 times in a row"), "{texts}");
}

#[tokio::test]
async fn status_shows_health_and_open_alerts() {
    let github = FakeGithub::start(GITHUB_TOKEN).await;
    let slack = FakeSlack::start(SLACK_TOKEN, Duration::ZERO).await;
    github.script([bad_credentials()]);
    let app = spawn_app(&config(&github.url, &slack.url), "").await;
    push(&app, 0).await;
    app.deliver().await;
    check(&app).await;

    let status: Value = app
        .http
        .get(app.url("/api/status"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dispatch = status["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "dispatch")
        .unwrap()
        .clone();
    assert_eq!(dispatch["last_failure_status"], 401);
    assert_eq!(dispatch["last_failure_kind"], "credential");
    assert_eq!(dispatch["failure_streak"], 1);
    assert_eq!(dispatch["dead"], 1);
    assert_eq!(status["alerts"][0]["monitor"], "github_token");
    assert_eq!(status["alerts"][0]["subject"], "dispatch");
    assert!(
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["source"] == "github")
    );

    let output = crate::cli::herald(app.dir(), &["status"]);
    let shown = crate::cli::stdout(&output);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("dispatch"), "{shown}");
    assert!(shown.contains("credential"), "{shown}");
    assert!(
        shown.contains("github_token (credential) on dispatch"),
        "{shown}"
    );
}

// The CLI runs in a child process while the fake answers on this runtime's other thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_test_sends_one_real_request_and_marks_it() {
    let github = FakeGithub::start(GITHUB_TOKEN).await;
    let slack = FakeSlack::start(SLACK_TOKEN, Duration::ZERO).await;
    let app = spawn_app(&config(&github.url, &slack.url), "").await;
    let payload = app.dir().join("push.json");
    std::fs::write(
        &payload,
        json!({"ref": "refs/heads/main", "after": "abc123"}).to_string(),
    )
    .unwrap();
    let output = crate::cli::herald(
        app.dir(),
        &["test", "contracts", "--payload", payload.to_str().unwrap()],
    );
    let shown = crate::cli::stdout(&output);
    assert!(
        output.status.success(),
        "{shown}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(shown.contains("/repos/acme/provider/dispatches"), "{shown}");
    assert!(shown.contains("Bearer [redacted]"), "{shown}");
    assert!(shown.contains("answer: HTTP 204"), "{shown}");
    assert!(shown.contains("verdict: success"), "{shown}");
    assert!(shown.contains("marked as a test"), "{shown}");
    let calls = github.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["client_payload"]["sha"], "abc123");

    // The delivery is in the log, marked; without --payload the newest real event is used.
    let deliveries = app
        .store
        .list_deliveries(&Default::default())
        .await
        .unwrap();
    assert!(deliveries[0].idempotency_key.starts_with("test/"));
    push(&app, 7).await;
    let again = crate::cli::herald(app.dir(), &["test", "contracts", "--json"]);
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["results"][0]["verdict"], "success");
    assert_eq!(report["results"][0]["status_code"], 204);
    assert_eq!(github.calls()[1].body["client_payload"]["sha"], "sha7");
}

#[tokio::test]
async fn two_replicas_checking_at_once_send_one_alert() {
    let github = FakeGithub::start(GITHUB_TOKEN).await;
    let slack = FakeSlack::start(SLACK_TOKEN, Duration::ZERO).await;
    github.script([bad_credentials()]);
    let app = spawn_app(&config(&github.url, &slack.url), "").await;
    let replica = app.replica().await;
    push(&app, 0).await;
    app.deliver().await;
    let (a, b) = tokio::join!(app.app.monitors.run_once(), replica.app.monitors.run_once());
    // Both may decide to alert; the alert's dedup key stores it once.
    assert!(a.unwrap().len() + b.unwrap().len() >= 1);
    app.deliver().await;
    replica.deliver().await;
    assert_eq!(alert_texts(&slack).len(), 1);
}
