//! Aggregation windows end to end: quiet period, buckets, the maximum wait under a steady
//! stream, groups, duplicates, restarts, concurrent flushers, calendars and manual flushes.

use crate::fakes::slack::{FakeSlack, Fault};
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Pushes gathered per repository; each flush posts one JSON digest to the sink.
fn config(window: &str) -> String {
    format!(
        r#"
[server]
admin_secret = "admin"

[secrets]
github = "It's a Secret to Everybody"
admin = "admin-token-for-tests"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.digest]
sources = ["github"]
events = ["push"]
actions = ["digest"]
window = {window}

[actions.digest]
kind = "http"
url = "{{SINK}}/digest"
body = '{{"key": {{{{ window.key }}}}, "count": {{{{ window.count }}}}, "shas": [{{% for e in window.events %}}{{{{ e.event.after }}}}{{% if not loop.last %}},{{% endif %}}{{% endfor %}}], "last": {{{{ event.after }}}}}}'
retry = {{ schedule = ["1s"], jitter = 0 }}

[storage]
path = "herald.db"
"#
    )
}

const QUIET_BUCKET_CAP: &str =
    r#"{ group = "{{ event.repository.name }}", quiet = "10s", bucket = "1m", max_wait = "5m" }"#;

async fn push(app: &TestApp, repo: &str, n: u32) {
    push_with_id(app, repo, n, &format!("{repo}-{n}")).await;
}

async fn push_with_id(app: &TestApp, repo: &str, n: u32, delivery: &str) {
    let body = json!({"after": format!("{repo}-{n}"), "repository": {"name": repo}}).to_string();
    let response = app.github("push", delivery, &body, GITHUB_SECRET).await;
    assert!(response.status().is_success(), "{}", response.status());
}

/// Flush what is due, then deliver it; returns the digests the sink received so far.
async fn step(app: &TestApp, sink: &Sink) -> Vec<Value> {
    app.app.flusher.run_once().await.unwrap();
    app.deliver().await;
    digests(sink)
}

fn digests(sink: &Sink) -> Vec<Value> {
    sink.received()
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn events_of_a_group_flush_together_after_the_quiet_period_and_bucket() {
    let sink = Sink::start().await;
    let app = spawn_app(&config(QUIET_BUCKET_CAP), &sink.url).await;
    // 10:00:00 and 10:00:40: one bucket.
    push(&app, "api", 1).await;
    app.advance(40.0);
    push(&app, "api", 2).await;
    app.advance(19.9);
    assert!(
        step(&app, &sink).await.is_empty(),
        "the bucket has not ended"
    );
    app.advance(0.1);
    // 10:01:00: the bucket ended, but 10:00:40 + 10 s of quiet is past too.
    let sent = step(&app, &sink).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["key"], "api");
    assert_eq!(sent[0]["count"], 2);
    assert_eq!(sent[0]["shas"], json!(["api-1", "api-2"]));
    assert_eq!(sent[0]["last"], "api-2");
    assert!(step(&app, &sink).await.len() == 1, "flushed once");
}

#[tokio::test]
async fn the_quiet_period_holds_a_window_across_the_bucket_boundary() {
    let sink = Sink::start().await;
    let app = spawn_app(&config(QUIET_BUCKET_CAP), &sink.url).await;
    app.advance(55.0);
    push(&app, "api", 1).await; // 10:00:55: quiet until 10:01:05
    app.advance(5.0);
    assert!(step(&app, &sink).await.is_empty(), "10:01:00: still active");
    app.advance(4.9);
    assert!(
        step(&app, &sink).await.is_empty(),
        "10:01:04.9: still active"
    );
    app.advance(0.1);
    // 10:01:05: quiet for 10 s, and its bucket (10:00) has ended.
    assert_eq!(step(&app, &sink).await.len(), 1);
}

#[tokio::test]
async fn a_steady_stream_is_never_held_longer_than_the_maximum_wait() {
    let sink = Sink::start().await;
    let window = r#"{ group = "{{ event.repository.name }}", quiet = "10s", max_wait = "5m" }"#;
    let app = spawn_app(&config(window), &sink.url).await;
    // An event every 5 s for 7 minutes: the quiet period never passes.
    for n in 0..84 {
        push(&app, "api", n).await;
        step(&app, &sink).await;
        app.advance(5.0);
    }
    let sent = digests(&sink);
    assert_eq!(sent.len(), 1, "one flush at the 5-minute cap");
    // Events at 0 s … 300 s went into the first window (61 of them).
    assert_eq!(sent[0]["count"], 61);
    assert_eq!(sent[0]["shas"][0], "api-0");
    assert_eq!(sent[0]["last"], "api-60");
    // The rest went to a new window, flushed once the stream stops.
    app.advance(10.0);
    let sent = step(&app, &sink).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["shas"][0], "api-61");
    assert_eq!(sent[1]["count"], 84 - 61);
}

#[tokio::test]
async fn groups_flush_apart_duplicates_count_once_and_windows_survive_a_restart() {
    let sink = Sink::start().await;
    let app = spawn_app(&config(QUIET_BUCKET_CAP), &sink.url).await;
    push(&app, "api", 1).await;
    push(&app, "web", 1).await;
    // The sender retries a delivery: same X-GitHub-Delivery, stored once, counted once.
    push_with_id(&app, "api", 2, "retried").await;
    push_with_id(&app, "api", 2, "retried").await;
    let listed = app.admin_get("/api/windows").await;
    let mut open: Vec<(String, i64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["group_key"].as_str().unwrap().to_string(),
                w["count"].as_i64().unwrap(),
            )
        })
        .collect();
    open.sort();
    assert_eq!(open, [("api".to_string(), 2), ("web".to_string(), 1)]);
    let output = crate::cli::herald(app.dir(), &["windows", "list"]);
    let shown = crate::cli::stdout(&output);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains("digest") && shown.contains("api") && shown.contains("web"),
        "{shown}"
    );
    let app = app.restart().await;
    app.advance(60.0);
    let mut sent = step(&app, &sink).await;
    sent.sort_by_key(|d| d["key"].as_str().unwrap().to_string());
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[0]["key"].clone(), sent[0]["count"].clone()),
        (json!("api"), json!(2))
    );
    assert_eq!(
        (sent[1]["key"].clone(), sent[1]["count"].clone()),
        (json!("web"), json!(1))
    );
}

#[tokio::test]
async fn two_flushers_at_once_flush_a_window_once() {
    let sink = Sink::start().await;
    let app = spawn_app(&config(QUIET_BUCKET_CAP), &sink.url).await;
    let replica = app.replica().await;
    for n in 0..5 {
        push(&app, &format!("repo{n}"), n).await;
    }
    app.advance(60.0);
    replica.advance(60.0);
    let (a, b) = tokio::join!(app.app.flusher.run_once(), replica.app.flusher.run_once());
    assert_eq!(a.unwrap() + b.unwrap(), 5);
    app.deliver().await;
    replica.deliver().await;
    assert_eq!(digests(&sink).len(), 5);
}

#[tokio::test]
async fn a_calendar_defers_flushes_and_a_manual_flush_overrides_it() {
    let sink = Sink::start().await;
    // The tests start at 10:00 UTC on a Sunday: weekdays only, on the hour otherwise never.
    let window = r#"{ group = "{{ event.repository.name }}", quiet = "10s", max_wait = "5m", calendar = { timezone = "UTC", days = "mon-fri", hours = "08:00-21:00" } }"#;
    let app = spawn_app(&config(window), &sink.url).await;
    push(&app, "api", 1).await;
    // Listed as due when the calendar lets it flush, not when the quiet period ends.
    let listed = app.admin_get("/api/windows").await;
    assert_eq!(listed[0]["due_at"], "2026-11-23T08:00:00Z", "{listed}");
    app.advance(20.0);
    assert!(step(&app, &sink).await.is_empty(), "Sunday: deferred");
    // Deferred to Monday 08:00.
    app.advance(21.0 * 3600.0);
    assert!(step(&app, &sink).await.is_empty(), "Monday 07:00");
    app.advance(3600.0);
    assert_eq!(step(&app, &sink).await.len(), 1, "Monday 08:00");

    // A manual flush does not wait for the calendar.
    app.advance(14.0 * 3600.0); // Monday 22:00
    push(&app, "web", 2).await;
    let flushed: Value = app
        .http
        .post(app.url("/api/windows/flush"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"rule": "digest", "key": "web"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(flushed["flushing"].as_array().unwrap().len(), 1);
    let sent = step(&app, &sink).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["key"], "web");
}

#[tokio::test]
async fn max_count_flushes_a_full_window_at_once() {
    let sink = Sink::start().await;
    let window = r#"{ quiet = "1m", max_wait = "10m", max_count = 3 }"#;
    let app = spawn_app(&config(window), &sink.url).await;
    for n in 0..3 {
        push(&app, "api", n).await;
    }
    let sent = step(&app, &sink).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["count"], 3);
    assert_eq!(sent[0]["key"], "");
}

/// Three groups flushed at once post three Slack messages; the third fails. Each group is
/// its own delivery, so the retry posts exactly the missing one.
#[tokio::test]
async fn a_slack_failure_mid_flush_reposts_only_what_is_missing() {
    let slack = FakeSlack::start("xoxb-digest", Duration::ZERO).await;
    let text = format!(
        r##"
[secrets]
github = "It's a Secret to Everybody"
bot = "xoxb-digest"

[slack]
pace = "1ms"
burst = 100

[sources.github]
kind = "github"
secrets = ["github"]

[rules.digest]
sources = ["github"]
events = ["push"]
actions = ["post"]
window = {QUIET_BUCKET_CAP}

[actions.post]
kind = "slack"
token = "bot"
api_url = "{}"
channel = "#digest"
text = "{{{{ window.key }}}}: {{{{ window.count }}}} pushes"
retry = {{ schedule = ["1s"], jitter = 0 }}

[storage]
path = "herald.db"
"##,
        slack.url
    );
    let app = spawn_app(&text, "").await;
    for repo in ["a", "b", "c"] {
        push(&app, repo, 1).await;
    }
    app.advance(60.0);
    slack.fail_next([Fault::Pass, Fault::Pass, Fault::Error("internal_error")]);
    assert_eq!(app.app.flusher.run_once().await.unwrap(), 3);
    // Posts to one channel go one at a time, in order.
    assert_eq!(app.deliver_all().await, 3);
    let calls = slack.calls();
    assert_eq!(calls.len(), 3);
    let failed = calls[2].body["text"].clone();
    assert!(calls[2].answered.is_err());

    // The next round: the flush is not repeated, and only the failed post is retried.
    app.advance(1.0);
    assert_eq!(app.app.flusher.run_once().await.unwrap(), 0);
    assert_eq!(app.deliver_all().await, 1);
    let calls = slack.calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[3].body["text"], failed);
    let mut posted: Vec<String> = calls
        .iter()
        .filter(|c| c.answered.is_ok())
        .map(|c| c.body["text"].as_str().unwrap().to_string())
        .collect();
    posted.sort();
    assert_eq!(posted, ["a: 1 pushes", "b: 1 pushes", "c: 1 pushes"]);
}
