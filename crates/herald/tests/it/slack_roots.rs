//! A keyed Slack root is posted once even when herald never hears that its post worked (the
//! answer timed out, the process was killed): each root carries metadata naming its
//! delivery, and a retry reads the channel's history and adopts the root it finds there.

use crate::crash;
use crate::fakes::slack::{Call, FakeSlack};
use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

const TOKEN: &str = "xoxb-test-token";
const CHANNEL: &str = "C0DEPLOYS";

fn config(slack_url: &str, timeout: &str) -> String {
    format!(
        r##"
[secrets]
github = "It's a Secret to Everybody"
slack_bot = "{TOKEN}"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.pr_thread]
sources = ["github"]
events = ["pull_request.*"]
actions = ["thread"]

[actions.thread]
kind = "slack"
token = "slack_bot"
api_url = "{slack_url}"
channel = "{CHANNEL}"
key = "pr:{{{{ event.number }}}}"
text = "PR {{{{ event.number }}}} is {{{{ event.action }}}}"
reply_text = "{{{{ event.action }}}} by {{{{ event.sender.login }}}}"
timeout = "{timeout}"
retry = {{ schedule = ["1s", "1s", "1s"], jitter = 0 }}

[delivery]
lease = "2m"
poll_interval = "100ms"

[storage]
path = "herald.db"
"##
    )
}

fn pr_event(number: u64, action: &str) -> String {
    json!({"action": action, "number": number, "sender": {"login": "octocat"}}).to_string()
}

fn calls_of<'a>(calls: &'a [Call], method: &str) -> Vec<&'a Call> {
    calls.iter().filter(|call| call.method == method).collect()
}

/// Exactly one root in the channel, tagged with its delivery, and the reply in its thread.
fn assert_one_root_with_the_reply_in_its_thread(slack: &FakeSlack) {
    let roots = slack.roots(CHANNEL);
    assert_eq!(roots.len(), 1, "{roots:?}");
    let (root_ts, text) = &roots[0];
    assert_eq!(text, "PR 7 is opened");
    assert_eq!(
        slack.replies(root_ts),
        vec!["closed by octocat".to_string()]
    );
    let calls = slack.calls();
    let posts = calls_of(&calls, "chat.postMessage");
    assert_eq!(posts[0].body["metadata"]["event_type"], "herald_root");
    assert!(posts[0].body["metadata"]["event_payload"]["delivery"].is_string());
    let lookups = calls_of(&calls, "conversations.history");
    assert_eq!(lookups.len(), 1, "{calls:?}");
    assert_eq!(lookups[0].body["channel"], CHANNEL);
    assert_eq!(lookups[0].body["include_all_metadata"], "true");
}

#[tokio::test]
async fn a_root_post_whose_answer_timed_out_is_adopted_not_posted_again() {
    let slack = FakeSlack::start(TOKEN, Duration::ZERO).await;
    // Slack posts the root, but its answer comes after herald's 1 s timeout.
    slack.hold_answers("chat.postMessage", Duration::from_secs(2));
    let app = spawn_app(&config(&slack.url, "1s"), "").await;
    let response = app
        .github("pull_request", "d-1", &pr_event(7, "opened"), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.deliver().await, 1);
    let delivery = app.only_delivery().await;
    assert_eq!((delivery.attempts, delivery.last_status_code), (1, None));
    assert!(delivery.outcome_unknown(), "{delivery:?}");

    slack.hold_answers("chat.postMessage", Duration::ZERO);
    app.advance(2.0);
    assert_eq!(app.deliver().await, 1);
    let response = app
        .github("pull_request", "d-2", &pr_event(7, "closed"), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.deliver_all().await, 1);
    assert_one_root_with_the_reply_in_its_thread(&slack);
}

#[tokio::test]
async fn a_root_post_known_to_have_failed_is_posted_again_without_a_lookup() {
    let slack = FakeSlack::start(TOKEN, Duration::ZERO).await;
    slack.fail_next([crate::fakes::slack::Fault::Error("internal_error")]);
    let app = spawn_app(&config(&slack.url, "5s"), "").await;
    let response = app
        .github("pull_request", "d-1", &pr_event(7, "opened"), GITHUB_SECRET)
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.deliver().await, 1);
    app.advance(2.0);
    assert_eq!(app.deliver().await, 1);
    let calls = slack.calls();
    assert!(
        calls_of(&calls, "conversations.history").is_empty(),
        "{calls:?}"
    );
    assert_eq!(calls_of(&calls, "chat.postMessage").len(), 2);
    assert_eq!(slack.roots(CHANNEL).len(), 1);
}

/// The real binary killed with `kill -9` while Slack has posted the root but not yet
/// answered: the restarted process takes the delivery over, finds the root in the channel's
/// history, and the next event's reply goes to its thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_root_post_cut_by_kill_9_is_adopted_by_the_restarted_process() {
    let slack = FakeSlack::start(TOKEN, Duration::ZERO).await;
    slack.hold_answers("chat.postMessage", Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("herald.toml"), config(&slack.url, "90s")).unwrap();
    let (mut herald, address) = crash::start(dir.path());
    let base = format!("http://{address}");
    let opened = pr_event(7, "opened");
    let response = post_github(
        &client(),
        &base,
        ("pull_request", "d-1"),
        &opened,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(response.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    while slack.roots(CHANNEL).is_empty() {
        assert!(Instant::now() < deadline, "the root was never posted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    herald.kill();
    slack.hold_answers("chat.postMessage", Duration::ZERO);

    let (mut herald, address) = crash::start(dir.path());
    let base = format!("http://{address}");
    let closed = pr_event(7, "closed");
    let response = post_github(
        &client(),
        &base,
        ("pull_request", "d-2"),
        &closed,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(response.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let roots = slack.roots(CHANNEL);
        if let Some((ts, _)) = roots.first()
            && !slack.replies(ts).is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reply after the takeover: {:?}",
            slack.calls()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    herald.kill();
    assert_one_root_with_the_reply_in_its_thread(&slack);
}

/// Keyed posts (one new key each) to one channel, each sent after the one before was
/// acknowledged, reach Slack in the order they were sent: ten rounds of twelve, through the
/// real binary's worker and the `[slack]` pacer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyed_posts_to_one_channel_arrive_in_the_order_they_were_sent() {
    let slack = FakeSlack::start(TOKEN, Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&slack.url, "5s").replace(
        "[delivery]",
        "[slack]\npace = \"20ms\"\nburst = 3\n\n[delivery]",
    );
    std::fs::write(dir.path().join("herald.toml"), config).unwrap();
    let (mut herald, address) = crash::start(dir.path());
    let base = format!("http://{address}");
    let http = client();
    const ROUNDS: u64 = 10;
    const POSTS: u64 = 12;
    for round in 0..ROUNDS {
        for n in 0..POSTS {
            let number = round * 100 + n;
            let body = pr_event(number, "opened");
            let delivery = format!("order-{number}");
            let response = post_github(
                &http,
                &base,
                ("pull_request", &delivery),
                &body,
                GITHUB_SECRET,
            )
            .await;
            assert_eq!(response.status(), 202);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while slack.roots(CHANNEL).len() < (ROUNDS * POSTS) as usize {
        assert!(
            Instant::now() < deadline,
            "only {} posts arrived",
            slack.roots(CHANNEL).len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    herald.kill();
    let arrived: Vec<u64> = slack
        .roots(CHANNEL)
        .iter()
        .map(|(_, text)| text.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    let sent: Vec<u64> = (0..ROUNDS)
        .flat_map(|r| (0..POSTS).map(move |n| r * 100 + n))
        .collect();
    assert_eq!(arrived, sent);
}
