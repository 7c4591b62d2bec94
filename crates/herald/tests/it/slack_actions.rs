//! The `slack` action against a fake Slack Web API: keyed messages threaded and updated
//! across restarts, one root under concurrency, pacing, rate limits and permanent errors.

use crate::fakes::slack::{FakeSlack, Fault};
use crate::support::*;
use herald_store::model::DeliveryStatus;
use serde_json::json;
use std::time::Duration;

const TOKEN: &str = "xoxb-test-token";

/// A keyed thread per pull request: the first event posts the root, later ones reply in its
/// thread and re-render the root.
fn config(pace: &str, burst: u32) -> String {
    format!(
        r##"
[secrets]
github = "It's a Secret to Everybody"
slack_bot = "{TOKEN}"

[slack]
pace = "{pace}"
burst = {burst}

[sources.github]
kind = "github"
secrets = ["github"]

[rules.pr_thread]
sources = ["github"]
events = ["pull_request.*"]
actions = ["thread"]

[rules.announce]
sources = ["github"]
events = ["push"]
actions = ["announce"]

[actions.thread]
kind = "slack"
token = "slack_bot"
api_url = "{{SINK}}"
channel = "#deploys"
key = "pr:{{{{ event.number }}}}"
text = "PR {{{{ event.number }}}} is {{{{ event.action }}}}"
reply_text = "{{{{ event.action }}}} by {{{{ event.sender.login }}}}"
update = true
retry = {{ schedule = ["1s", "1s"], jitter = 0 }}

[actions.announce]
kind = "slack"
token = "slack_bot"
api_url = "{{SINK}}"
channel = "#builds"
text = "push {{{{ event.n }}}}"
retry = {{ schedule = ["1s"], jitter = 0 }}

[storage]
path = "herald.db"
"##
    )
}

fn pr_event(number: u64, action: &str) -> String {
    json!({"action": action, "number": number, "sender": {"login": "octocat"}}).to_string()
}

async fn send_pr(app: &TestApp, number: u64, action: &str, delivery: &str) {
    let response = app
        .github(
            "pull_request",
            delivery,
            &pr_event(number, action),
            GITHUB_SECRET,
        )
        .await;
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn a_keyed_message_is_posted_once_then_threaded_and_updated_across_restarts() {
    let slack = FakeSlack::start(TOKEN, Duration::ZERO).await;
    let app = spawn_app(&config("10ms", 10), &slack.url).await;
    send_pr(&app, 7, "opened", "d-1").await;
    assert_eq!(app.deliver().await, 1);

    let app = app.restart().await;
    send_pr(&app, 7, "synchronize", "d-2").await;
    assert_eq!(app.deliver().await, 1);

    let app = app.restart().await;
    send_pr(&app, 7, "closed", "d-3").await;
    assert_eq!(app.deliver().await, 1);

    let calls = slack.calls();
    let summary: Vec<_> = calls
        .iter()
        .map(|call| {
            (
                call.method.as_str(),
                call.body["thread_ts"].as_str().is_some(),
                call.body["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("chat.postMessage", false, "PR 7 is opened".to_string()),
            (
                "chat.postMessage",
                true,
                "synchronize by octocat".to_string()
            ),
            ("chat.update", false, "PR 7 is synchronize".to_string()),
            ("chat.postMessage", true, "closed by octocat".to_string()),
            ("chat.update", false, "PR 7 is closed".to_string()),
        ]
    );
    let root_ts = calls[0].answered.clone().unwrap();
    for call in &calls[1..] {
        // Replies and updates go to the root by its channel id and ts, as Slack requires.
        assert_eq!(call.body["channel"], "CDEPLOYS");
        let target = call.body["thread_ts"].as_str().or(call.body["ts"].as_str());
        assert_eq!(target, Some(root_ts.as_str()), "{call:?}");
    }
    assert_eq!(slack.text_of(&root_ts).as_deref(), Some("PR 7 is closed"));
    assert!(
        app.deliveries()
            .await
            .iter()
            .all(|d| d.status == DeliveryStatus::Succeeded)
    );
}

#[tokio::test]
async fn two_events_for_one_new_key_at_once_make_one_root() {
    let slack = FakeSlack::start(TOKEN, Duration::ZERO).await;
    let app = spawn_app(&config("10ms", 10), &slack.url).await;
    let second = app.replica().await;
    let (opened, reopened) = (pr_event(9, "opened"), pr_event(9, "reopened"));
    let (a, b) = tokio::join!(
        app.github("pull_request", "c-1", &opened, GITHUB_SECRET),
        second.github("pull_request", "c-2", &reopened, GITHUB_SECRET),
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (202, 202));
    // Two replicas and two workers each try at the same moment, until nothing is left.
    let mut attempted = 0;
    for _ in 0..4 {
        let (x, y, z) = tokio::join!(app.deliver(), app.deliver(), second.deliver());
        attempted += x + y + z;
    }
    assert_eq!(attempted, 2);
    let roots: Vec<_> = slack
        .calls()
        .into_iter()
        .filter(|call| call.method == "chat.postMessage" && call.body.get("thread_ts").is_none())
        .collect();
    assert_eq!(roots.len(), 1, "{roots:?}");
    let replies = slack
        .calls()
        .into_iter()
        .filter(|call| call.body.get("thread_ts").is_some())
        .count();
    assert_eq!(replies, 1);
}

#[tokio::test]
async fn fifty_posts_to_one_channel_arrive_in_order_paced_without_429() {
    // The fake rate-limits like Slack: posts to one channel closer than 80 ms get a 429.
    let slack = FakeSlack::start(TOKEN, Duration::from_millis(80)).await;
    let app = spawn_app(&config("100ms", 1), &slack.url).await;
    for n in 0..50 {
        let body = json!({"ref": "refs/heads/main", "n": n}).to_string();
        let response = app
            .github("push", &format!("p-{n}"), &body, GITHUB_SECRET)
            .await;
        assert_eq!(response.status(), 202);
    }
    let mut attempted = 0;
    while attempted < 50 {
        let now = app.deliver().await;
        assert!(now <= 1, "one channel is worked one message at a time");
        attempted += now;
    }
    let calls = slack.calls();
    let texts: Vec<_> = calls.iter().map(|c| c.body["text"].clone()).collect();
    let expected: Vec<_> = (0..50).map(|n| json!(format!("push {n}"))).collect();
    assert_eq!(texts, expected);
    assert!(
        calls.iter().all(|c| c.answered.is_ok()),
        "no call was answered 429"
    );
    for pair in calls.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(90));
    }
}

#[tokio::test]
async fn a_429_waits_for_retry_after_without_using_up_the_schedule() {
    let slack = FakeSlack::start(TOKEN, Duration::ZERO).await;
    slack.fail_next([Fault::RateLimited { retry_after: 3 }]);
    let app = spawn_app(&config("10ms", 10), &slack.url).await;
    let body = json!({"n": 1}).to_string();
    assert_eq!(
        app.github("push", "r-1", &body, GITHUB_SECRET)
            .await
            .status(),
        202
    );
    assert_eq!(app.deliver().await, 1);
    let delivery = app.deliveries().await.remove(0);
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert_eq!(delivery.retries_used, 0);
    assert_eq!(delivery.last_status_code, Some(429));
    assert_eq!(
        delivery.next_attempt_at,
        app.clock_now() + chrono::Duration::seconds(3)
    );
    app.advance(2.9);
    assert_eq!(app.deliver().await, 0, "not before Retry-After");
    assert_eq!(slack.calls().len(), 1);
    app.advance(0.1);
    assert_eq!(app.deliver().await, 1);
    let calls = slack.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[1].answered.is_ok());
    let delivery = app.deliveries().await.remove(0);
    assert_eq!(delivery.status, DeliveryStatus::Succeeded);
}

#[tokio::test]
async fn channel_not_found_is_dead_and_shown_by_deliveries_show() {
    let slack = FakeSlack::start(TOKEN, Duration::ZERO).await;
    slack.fail_next([Fault::Error("channel_not_found")]);
    let app = spawn_app(&config("10ms", 10), &slack.url).await;
    let body = json!({"n": 1}).to_string();
    app.github("push", "x-1", &body, GITHUB_SECRET).await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.deliveries().await.remove(0);
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!(slack.calls().len(), 1, "a permanent error is not retried");

    let output = crate::cli::herald(app.dir(), &["deliveries", "show", &delivery.id.to_string()]);
    let shown = crate::cli::stdout(&output);
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("dead"), "{shown}");
    assert!(shown.contains("channel_not_found"), "{shown}");
}

#[tokio::test]
async fn an_invalid_token_is_a_credential_failure() {
    let slack = FakeSlack::start("xoxb-another-token", Duration::ZERO).await;
    let app = spawn_app(&config("10ms", 10), &slack.url).await;
    app.github("push", "t-1", &json!({"n": 1}).to_string(), GITHUB_SECRET)
        .await;
    assert_eq!(app.deliver().await, 1);
    let delivery = app.deliveries().await.remove(0);
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert_eq!(
        delivery.failure_kind,
        Some(herald_store::model::FailureKind::Credential)
    );
    assert!(delivery.last_error.unwrap().contains("not_authed"));
}

#[tokio::test]
async fn a_dry_run_says_whether_a_keyed_message_would_be_posted_or_threaded() {
    let slack = FakeSlack::start(TOKEN, Duration::ZERO).await;
    let app = spawn_app(&config("10ms", 10), &slack.url).await;
    let payload = app.dir().join("pr.json");
    std::fs::write(&payload, pr_event(5, "synchronize")).unwrap();
    let dry_run = |app: &TestApp| {
        let output = crate::cli::herald(
            app.dir(),
            &[
                "send",
                "--source",
                "github",
                "--file",
                payload.to_str().unwrap(),
                "-H",
                "X-GitHub-Event: pull_request",
                "--dry-run",
            ],
        );
        assert!(output.status.success());
        crate::cli::stdout(&output)
    };
    let before = dry_run(&app);
    assert!(
        before.contains("would post the root message for key \"pr:5\""),
        "{before}"
    );
    assert!(
        before.contains("authorization: Bearer [redacted]"),
        "{before}"
    );
    assert!(!before.contains(TOKEN), "{before}");

    send_pr(&app, 5, "opened", "k-1").await;
    assert_eq!(app.deliver().await, 1);
    let after = dry_run(&app);
    assert!(
        after.contains("would reply in the thread of key \"pr:5\""),
        "{after}"
    );
    assert!(
        after.contains("would update the message of key \"pr:5\""),
        "{after}"
    );
    assert!(after.contains("/chat.update"), "{after}");
    assert_eq!(slack.calls().len(), 1, "dry runs send nothing");
}
