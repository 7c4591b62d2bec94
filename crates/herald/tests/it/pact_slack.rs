//! The `pact-slack` preset against a fake Slack: the old aggregator's scenarios (reference
//! §8) with the fixes it lacked — retries counted once, no double roots, no re-posts.

use crate::fakes::slack::{Call, FakeSlack, Fault, channel_id};
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "pact-webhook-token";
const BOT: &str = "xoxb-pact";
const B: &str = "https://broker.example";
const G: &str = "https://github.com/acme";

/// The preset as `herald init` writes it, with literal secrets, the fake Slack, and the
/// scenario's organisation and repository map.
fn preset(slack: &str) -> String {
    let mut text = herald::presets::find("pact-slack")
        .unwrap()
        .text
        .to_string();
    for (from, to) in [
        ("\"${env:PACT_WEBHOOK_TOKEN}\"", format!("\"{TOKEN}\"")),
        ("\"${env:SLACK_BOT_TOKEN}\"", format!("\"{BOT}\"")),
        (
            "\"${env:HERALD_ADMIN_TOKEN}\"",
            "\"admin-token\"".to_string(),
        ),
        ("https://github.com/your-org", G.to_string()),
        (
            "{ SomeService = \"some-service-repo\" }",
            "{ Engine = \"engine-repo\" }".to_string(),
        ),
        ("[slack]", "[slack]".to_string()),
    ] {
        text = text.replace(from, &to);
    }
    text = text.replace(
        "kind = \"slack\"\n",
        &format!("kind = \"slack\"\napi_url = \"{slack}\"\n"),
    );
    text + "\n[slack]\npace = \"1ms\"\nburst = 1000\n"
}

fn publication() -> Value {
    json!({
        "eventType": "contract_requiring_verification_published",
        "providerName": "ProductsAPI", "consumerName": "Engine",
        "pactUrl": format!("{B}/pacts/provider/ProductsAPI/consumer/Engine/pact-version/aaa111/metadata/Y3Y9MQ"),
        "consumerVersionBranch": "feature/x", "providerVersionBranch": "master",
        "consumerVersionNumber": "c0ffee1234567890", "providerVersionNumber": "beef5678901234",
        "providerVersionDescriptions": "latest from main branch"
    })
}

fn verification(n: u32) -> Value {
    json!({
        "eventType": "provider_verification_published",
        "providerName": "ProductsAPI", "consumerName": "Engine",
        "githubVerificationStatus": "success",
        "verificationResultUrl": format!("{B}/pacts/provider/ProductsAPI/consumer/Engine/pact-version/aaa111/verification-results/{n}"),
        "consumerVersionBranch": "feature/x", "providerVersionBranch": "feature/p",
        "consumerVersionNumber": "c0ffee1234567890", "providerVersionNumber": "beef5678901234"
    })
}

fn with(mut base: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().unwrap() {
        base[key] = value.clone();
    }
    base
}

async fn start() -> (FakeSlack, TestApp) {
    let slack = FakeSlack::start(BOT, Duration::ZERO).await;
    let app = spawn_app(&preset(&slack.url), "").await;
    // The tests' clock starts on a Sunday at 10:00 UTC; move to Monday 10:00, inside the
    // digest's working hours.
    app.advance(24.0 * 3600.0);
    (slack, app)
}

async fn post(app: &TestApp, body: &Value) {
    let response = app
        .http
        .post(app.url("/hooks/pact"))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// Deliver everything due, flushing due windows first.
async fn settle(app: &TestApp) {
    app.app.flusher.run_once().await.unwrap();
    app.deliver_all().await;
}

fn text(call: &Call) -> &str {
    call.body["text"].as_str().unwrap()
}

fn channel_calls(slack: &FakeSlack, channel: &str) -> Vec<Call> {
    slack
        .calls()
        .into_iter()
        .filter(|c| {
            c.body["channel"] == channel || c.body["channel"] == channel_id(channel).as_str()
        })
        .collect()
}

const RSP: &str = "<https://broker.example/pacts/provider/ProductsAPI/consumer/Engine/pact-version/aaa111/metadata/Y3Y9MQ|Contract> by consumer *Engine*. First published at <https://github.com/acme/engine-repo/tree/feature/x|feature/x> <https://github.com/acme/engine-repo/commit/c0ffee1234567890|c0ffee1>. <https://broker.example/pacts/provider/ProductsAPI/consumer/Engine/version/c0ffee1234567890/diff/previous-distinct|Diff> with previous distinct version of this pact.";

#[tokio::test]
async fn a2_a_publication_makes_a_provider_thread_and_a_digest() {
    let (slack, app) = start().await;
    app.advance(5.0);
    post(&app, &publication()).await;
    settle(&app).await;
    let calls = slack.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["channel"], "#pact-ProductsAPI");
    assert_eq!(text(&calls[0]), RSP);

    app.advance(25.0);
    settle(&app).await;
    assert_eq!(slack.calls().len(), 1, "10:00:30: the bucket is still open");
    app.advance(30.0);
    settle(&app).await;
    let digest = channel_calls(&slack, "#ci");
    assert_eq!(digest.len(), 2, "{digest:?}");
    assert_eq!(
        text(&digest[0]),
        "*Engine* <https://github.com/acme/engine-repo/tree/feature/x|feature/x> <https://github.com/acme/engine-repo/commit/c0ffee1234567890|c0ffee1>\nPact publications: 1 "
    );
    assert_eq!(
        digest[1].body["thread_ts"],
        digest[0].answered.clone().unwrap()
    );
    assert_eq!(
        text(&digest[1]),
        "Published <https://broker.example/pacts/provider/ProductsAPI/consumer/Engine/pact-version/aaa111/metadata/Y3Y9MQ|contract> to be verified from provider *ProductsAPI* <https://github.com/acme/products-a-p-i/tree/master|master> <https://github.com/acme/products-a-p-i/commit/beef5678901234|beef567> - latest from main branch. <https://broker.example/pacts/provider/ProductsAPI/consumer/Engine/version/c0ffee1234567890/diff/previous-distinct|Diff> with previous distinct version of this pact."
    );
}

#[tokio::test]
async fn a3_a_verification_without_a_publication_finds_the_contract_and_replies() {
    let (slack, app) = start().await;
    post(&app, &verification(101)).await;
    settle(&app).await;
    let calls = slack.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(text(&calls[0]).starts_with("<https://broker.example/pacts/provider/ProductsAPI/consumer/Engine/version/c0ffee1234567890|Contract> by consumer *Engine*. (Unknown first publication) Found at <https://github.com/acme/engine-repo/tree/feature/x|feature/x>"), "{}", text(&calls[0]));
    assert_eq!(
        calls[1].body["thread_ts"],
        calls[0].answered.clone().unwrap()
    );
    assert_eq!(
        text(&calls[1]),
        "- ✅ <https://broker.example/pacts/provider/ProductsAPI/consumer/Engine/pact-version/aaa111/verification-results/101|Results> *ProductsAPI* <https://github.com/acme/products-a-p-i/tree/feature/p|feature/p> <https://github.com/acme/products-a-p-i/commit/beef5678901234|beef567>\nVerified Engine <https://github.com/acme/engine-repo/tree/feature/x|feature/x> <https://github.com/acme/engine-repo/commit/c0ffee1234567890|c0ffee1>"
    );
    app.advance(70.0);
    settle(&app).await;
    let digest = channel_calls(&slack, "#ci");
    assert_eq!(
        text(&digest[0]),
        "*ProductsAPI* <https://github.com/acme/products-a-p-i/tree/feature/p|feature/p> <https://github.com/acme/products-a-p-i/commit/beef5678901234|beef567>\nPact verifications: ✅1 "
    );
    assert_eq!(
        text(&digest[1]),
        "Verified consumers:\n- ✅ <https://broker.example/pacts/provider/ProductsAPI/consumer/Engine/pact-version/aaa111/verification-results/101|Results> | <https://broker.example/pacts/provider/ProductsAPI/consumer/Engine/pact-version/aaa111|Pact> *Engine* <https://github.com/acme/engine-repo/tree/feature/x|feature/x> <https://github.com/acme/engine-repo/commit/c0ffee1234567890|c0ffee1>"
    );
}

#[tokio::test]
async fn a4_a_verification_on_main_updates_the_root_and_replies() {
    let (slack, app) = start().await;
    post(&app, &publication()).await;
    settle(&app).await;
    let root = slack.calls()[0].answered.clone().unwrap();
    post(
        &app,
        &with(
            verification(101),
            json!({"providerVersionBranch": "master"}),
        ),
    )
    .await;
    settle(&app).await;
    let failed = with(
        verification(102),
        json!({"providerVersionBranch": "master", "githubVerificationStatus": "failure", "providerVersionNumber": "dead000011112222"}),
    );
    post(&app, &failed).await;
    settle(&app).await;
    let calls = slack.calls();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "chat.postMessage",
            "chat.postMessage",
            "chat.update",
            "chat.postMessage",
            "chat.update"
        ]
    );
    assert_eq!(calls[2].body["ts"], root);
    assert!(text(&calls[2]).contains("Last verification on (ProductsAPI) *<https://github.com/acme/products-a-p-i/tree/master|master>* <https://github.com/acme/products-a-p-i/commit/beef5678901234|beef567> on Mon Nov 23 2026: ✅ <https://broker.example/pacts/provider/ProductsAPI/consumer/Engine/pact-version/aaa111/verification-results/101|Results>"), "{}", text(&calls[2]));
    assert!(
        text(&calls[4]).contains("|dead000> on Mon Nov 23 2026: 😢 <"),
        "{}",
        text(&calls[4])
    );
    assert!(text(&calls[3]).starts_with("- 😢 <"));
    assert_eq!(calls[3].body["thread_ts"], root);
    assert_eq!(slack.text_of(&root).unwrap(), text(&calls[4]));
}

#[tokio::test]
async fn a5_verifications_of_one_version_aggregate_sorted_by_consumer() {
    let (slack, app) = start().await;
    app.advance(10.0);
    let web = |n: u32, status: &str, version: &str| {
        with(
            verification(n),
            json!({"consumerName": "WebApp", "githubVerificationStatus": status, "consumerVersionBranch": "main", "consumerVersionNumber": version, "verificationResultUrl": format!("{B}/pacts/provider/ProductsAPI/consumer/WebApp/pact-version/bbb222/verification-results/{n}")}),
        )
    };
    post(&app, &web(205, "failure", "1111111aaaa")).await;
    app.advance(10.0);
    post(&app, &verification(204)).await;
    app.advance(5.0);
    post(&app, &web(203, "success", "2222222bbbb")).await;
    app.advance(37.0);
    settle(&app).await;
    let digest = channel_calls(&slack, "#ci");
    assert_eq!(digest.len(), 2);
    assert!(
        text(&digest[0]).ends_with("\nPact verifications: ✅2 😢1"),
        "{}",
        text(&digest[0])
    );
    let lines: Vec<&str> = text(&digest[1]).lines().collect();
    assert_eq!(lines[0], "Verified consumers:");
    assert!(
        lines[1].contains("/204|Results>") && lines[1].contains("*Engine*"),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("- 😢") && lines[2].contains("/205|Results>"),
        "{lines:?}"
    );
    assert!(
        lines[3].starts_with("- ✅") && lines[3].contains("/203|Results>"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_broker_retry_is_counted_once_and_two_first_events_make_one_root() {
    let (slack, app) = start().await;
    // The publication and a verification of a new contract arrive together; the broker
    // then retries the verification.
    let (publication, verification) = (publication(), verification(7));
    tokio::join!(post(&app, &publication), post(&app, &verification));
    post(&app, &verification).await;
    settle(&app).await;
    let thread = channel_calls(&slack, "#pact-ProductsAPI");
    let roots = thread
        .iter()
        .filter(|c| c.body.get("thread_ts").is_none() && c.method == "chat.postMessage")
        .count();
    assert_eq!(roots, 1, "{thread:?}");
    let replies = thread
        .iter()
        .filter(|c| c.body.get("thread_ts").is_some())
        .count();
    assert_eq!(replies, 1);
    app.advance(70.0);
    settle(&app).await;
    let digest = channel_calls(&slack, "#ci");
    let summaries: Vec<&str> = digest
        .iter()
        .filter(|c| c.body.get("thread_ts").is_none())
        .map(text)
        .collect();
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    assert!(
        summaries
            .iter()
            .any(|s| s.ends_with("Pact verifications: ✅1 ")),
        "{summaries:?}"
    );
}

#[tokio::test]
async fn a9_a_slack_failure_mid_flush_never_reposts_what_was_posted() {
    let (slack, app) = start().await;
    app.advance(5.0);
    post(
        &app,
        &with(verification(1), json!({"providerVersionNumber": "pv1"})),
    )
    .await;
    app.advance(1.0);
    post(
        &app,
        &with(verification(2), json!({"providerVersionNumber": "pv2"})),
    )
    .await;
    settle(&app).await;
    let before = slack.calls().len();
    app.advance(55.0);
    // The third digest post (pv2's summary) is rate-limited.
    slack.fail_next([Fault::Pass, Fault::Pass, Fault::Error("ratelimited")]);
    settle(&app).await;
    app.advance(120.0);
    settle(&app).await;
    let digest: Vec<Call> = slack.calls()[before..].to_vec();
    let posted: Vec<String> = digest
        .iter()
        .filter(|c| c.answered.is_ok())
        .map(|c| text(c).to_string())
        .collect();
    assert_eq!(posted.len(), 4, "{posted:?}");
    let summaries = posted
        .iter()
        .filter(|t| t.starts_with("*ProductsAPI*"))
        .count();
    assert_eq!(summaries, 2, "each summary posted once: {posted:?}");
}

#[tokio::test]
async fn a6_a8_the_quiet_period_boundary_and_the_five_minute_cap() {
    let (slack, app) = start().await;
    // A6 boundary: one event at 10:00:50 is published once its bucket ends and it has been
    // quiet for 10 s: at 10:01:00.
    app.advance(50.0);
    post(&app, &verification(1)).await;
    settle(&app).await;
    app.advance(9.9);
    settle(&app).await;
    assert!(channel_calls(&slack, "#ci").is_empty());
    app.advance(0.1);
    settle(&app).await;
    assert_eq!(channel_calls(&slack, "#ci").len(), 2);

    // A8: one version, an event at 30 s past every minute and a flush attempt 1 s later
    // (the aggregator's triggers). Each event keeps the window active, so nothing is
    // published until the 5-minute cap: then the window goes out with every event so far.
    // (The aggregator published the oldest event alone and kept the rest; herald flushes
    // the window — no event is held longer than 5 minutes either way.)
    let (slack, app) = start().await;
    for i in 0..7u32 {
        app.advance(if i == 0 { 30.0 } else { 59.0 });
        let v = with(
            verification(100 + i),
            json!({"consumerName": format!("C{i}")}),
        );
        post(&app, &v).await;
        app.advance(1.0);
        settle(&app).await;
        let summaries = channel_calls(&slack, "#ci")
            .into_iter()
            .filter(|c| c.body.get("thread_ts").is_none())
            .count();
        let expected = if i < 5 { 0 } else { 1 };
        assert_eq!(summaries, expected, "after the event of minute {i}");
    }
    let digest = channel_calls(&slack, "#ci");
    let details = text(&digest[1]);
    assert!(
        details.contains("*C0*") && details.contains("*C5*") && !details.contains("*C6*"),
        "{details}"
    );
    assert!(
        text(&digest[0]).ends_with("Pact verifications: ✅6 "),
        "{}",
        text(&digest[0])
    );
}

#[tokio::test]
async fn a7_a12_groups_are_per_pacticipant_and_a_republication_adds_no_root() {
    let (slack, app) = start().await;
    // A12: the same contract published for a second provider version: one root only.
    post(&app, &publication()).await;
    let again = with(
        publication(),
        json!({"providerVersionBranch": "", "providerVersionNumber": "prod1234567890", "providerVersionDescriptions": "deployed in production"}),
    );
    post(&app, &again).await;
    // A7: another pacticipant's verification with the same version string.
    post(
        &app,
        &with(
            verification(9),
            json!({"providerName": "Other", "providerVersionNumber": "c0ffee1234567890"}),
        ),
    )
    .await;
    settle(&app).await;
    let roots = channel_calls(&slack, "#pact-ProductsAPI")
        .into_iter()
        .filter(|c| c.body.get("thread_ts").is_none())
        .count();
    assert_eq!(roots, 1);
    app.advance(60.0);
    settle(&app).await;
    let summaries: Vec<String> = channel_calls(&slack, "#ci")
        .iter()
        .filter(|c| c.body.get("thread_ts").is_none())
        .map(|c| text(c).to_string())
        .collect();
    assert_eq!(summaries.len(), 2, "{summaries:?}");
    assert!(
        summaries
            .iter()
            .any(|s| s.starts_with("*Engine*") && s.ends_with("Pact publications: 2 ")),
        "{summaries:?}"
    );
    assert!(
        summaries.iter().any(|s| s.starts_with("*Other* ")
            && s.contains("<https://github.com/acme/other/commit/c0ffee1234567890|c0ffee1>")),
        "{summaries:?}"
    );
    let engine_details = channel_calls(&slack, "#ci")
        .into_iter()
        .map(|c| text(&c).to_string())
        .find(|t| t.contains("deployed in production"))
        .unwrap();
    assert!(engine_details.contains("*ProductsAPI*  <https://github.com/acme/products-a-p-i/commit/prod1234567890|prod123> - deployed in production."), "{engine_details}");
}

#[test]
fn a14_the_digest_calendar_is_the_aggregators_working_hours() {
    let text = herald::presets::find("pact-slack").unwrap().text;
    let env = std::sync::Arc::new(|_: &str| Some("x".to_string()));
    let loaded = herald::config::from_text(
        std::path::Path::new("herald.toml"),
        text,
        env,
        &herald::integrations::catalog(),
    )
    .unwrap();
    let rule = loaded
        .config
        .rules
        .iter()
        .find(|r| r.name == "digest")
        .unwrap();
    let calendar = rule.window.as_ref().unwrap().calendar.as_ref().unwrap();
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    // 2024-01-01 is a Monday, 2024-01-06 a Saturday.
    for (time, allowed) in [
        ("2024-01-01T10:02:00Z", true),
        ("2024-01-01T07:58:00Z", false),
        ("2024-01-01T08:00:00Z", true),
        ("2024-01-01T20:58:00Z", true),
        ("2024-01-01T21:00:00Z", true),
        ("2024-01-01T21:02:00Z", false),
        ("2024-01-06T10:00:00Z", false),
        ("2024-01-06T10:02:00Z", false),
        ("2024-01-06T12:00:00Z", true),
        ("2024-01-06T00:00:00Z", true),
        ("2024-01-07T20:00:00Z", true),
    ] {
        assert_eq!(calendar.allows(at(time)), allowed, "{time}");
    }
}

fn contract(version: &str, pact: &str, branch: &str) -> Value {
    with(
        publication(),
        json!({
            "consumerVersionBranch": branch,
            "consumerVersionNumber": version,
            "pactUrl": format!("{B}/pacts/provider/ProductsAPI/consumer/Engine/pact-version/{pact}/metadata/x"),
        }),
    )
}

#[tokio::test]
async fn a10_a_new_contract_on_a_feature_branch_supersedes_the_old_one() {
    let (slack, app) = start().await;
    post(&app, &contract("v1aaaaaaaa", "p1", "feature/y")).await;
    settle(&app).await;
    let r1 = slack.calls()[0].answered.clone().unwrap();
    app.advance(1.0);
    post(&app, &contract("v2bbbbbbbb", "p2", "feature/y")).await;
    settle(&app).await;
    let calls = slack.calls();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(text(&calls[1]).contains("pact-version/p2"));
    assert_eq!(calls[2].method, "chat.postMessage");
    assert_eq!(calls[2].body["thread_ts"], r1.as_str());
    assert_eq!(
        text(&calls[2]),
        "🧹 *Deprecated pact!*\nThis thread will stop receiving updates!"
    );
    assert_eq!(calls[3].method, "chat.update");
    assert_eq!(calls[3].body["ts"], r1.as_str());
    assert!(
        text(&calls[3]).contains("pact-version/p1")
            && text(&calls[3])
                .ends_with("\n🧹 *Deprecated pact!*\nThis thread will stop receiving updates!")
    );
    // p1 is forgotten: a later verification of it opens a new, "found" root.
    let late = with(
        verification(5),
        json!({"verificationResultUrl": format!("{B}/pacts/provider/ProductsAPI/consumer/Engine/pact-version/p1/verification-results/5"), "consumerVersionBranch": "feature/y"}),
    );
    post(&app, &late).await;
    settle(&app).await;
    let calls = slack.calls();
    assert!(
        text(&calls[4]).contains("(Unknown first publication) Found at"),
        "{}",
        text(&calls[4])
    );
    assert_ne!(calls[4].answered.clone().unwrap(), r1);
}

#[tokio::test]
async fn a11_the_main_branch_keeps_two_contracts() {
    let (slack, app) = start().await;
    for (n, pact) in ["p1", "p2", "p3"].iter().enumerate() {
        post(&app, &contract(&format!("v{n}aaaaaaa"), pact, "master")).await;
        settle(&app).await;
        app.advance(1.0);
    }
    let calls = slack.calls();
    let roots: Vec<String> = calls
        .iter()
        .filter(|c| c.method == "chat.postMessage" && c.body.get("thread_ts").is_none())
        .map(|c| c.answered.clone().unwrap())
        .collect();
    assert_eq!(roots.len(), 3);
    let notices: Vec<&Call> = calls
        .iter()
        .filter(|c| text(c).contains("Deprecated pact"))
        .collect();
    assert_eq!(
        notices.len(),
        2,
        "a reply and an update, for p1 only: {calls:?}"
    );
    assert_eq!(notices[0].body["thread_ts"], roots[0].as_str());
    assert_eq!(notices[1].body["ts"], roots[0].as_str());
}

#[tokio::test]
async fn a13_a_full_thread_continues_under_a_new_root() {
    let slack = FakeSlack::start(BOT, Duration::ZERO).await;
    let text_config = preset(&slack.url).replace("max_replies = 100", "max_replies = 2");
    let app = spawn_app(&text_config, "").await;
    app.advance(24.0 * 3600.0);
    post(&app, &publication()).await;
    settle(&app).await;
    let first_root = slack.calls()[0].answered.clone().unwrap();
    post(
        &app,
        &with(verification(1), json!({"providerVersionBranch": "master"})),
    )
    .await;
    settle(&app).await;
    post(&app, &verification(2)).await;
    settle(&app).await;
    let before = slack.calls().len();
    post(&app, &verification(3)).await;
    settle(&app).await;
    let calls = slack.calls()[before..].to_vec();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        methods,
        ["chat.update", "chat.postMessage", "chat.postMessage"],
        "{calls:?}"
    );
    assert_eq!(calls[0].body["ts"], first_root.as_str());
    assert!(
        text(&calls[0]).contains("Last verification on (ProductsAPI)"),
        "the master line stays: {}",
        text(&calls[0])
    );
    assert!(text(&calls[0]).ends_with("🧵 *Thread discontinued*\nThis thread will stop receiving updates due to many replies. A new thread has been opened for new updates for this contract."));
    assert!(calls[1].body.get("thread_ts").is_none());
    assert!(
        text(&calls[1]).contains("Last verification on (ProductsAPI)")
            && !text(&calls[1]).contains("discontinued")
    );
    let new_root = calls[1].answered.clone().unwrap();
    assert_eq!(calls[2].body["thread_ts"], new_root.as_str());
    assert!(text(&calls[2]).contains("/verification-results/3|Results>"));
    // The next verification replies in the new thread.
    post(&app, &verification(4)).await;
    settle(&app).await;
    let last = slack.calls().last().unwrap().clone();
    assert_eq!(last.body["thread_ts"], new_root.as_str());
}

#[tokio::test]
async fn a_failed_first_reply_is_retried_alone_in_the_thread_already_posted() {
    let (slack, app) = start().await;
    slack.fail_next([Fault::Pass, Fault::Error("internal_error")]);
    post(&app, &verification(11)).await;
    settle(&app).await;
    let calls = slack.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[1].answered.is_err());
    let root = calls[0].answered.clone().unwrap();
    // The default retry policy waits at most 5 s before the first retry.
    app.advance(5.0);
    settle(&app).await;
    let calls = slack.calls();
    assert_eq!(calls.len(), 3, "only the reply again: {calls:?}");
    assert_eq!(calls[2].body["thread_ts"], root.as_str());
    assert!(calls[2].answered.is_ok());
}

#[tokio::test]
async fn a15_the_daily_pass_retires_old_threads_and_keeps_ten() {
    let slack = FakeSlack::start(BOT, Duration::ZERO).await;
    let text_config = preset(&slack.url).replace(
        "kind = \"slack-retire\"\n",
        &format!("kind = \"slack-retire\"\napi_url = \"{}\"\n", slack.url),
    );
    let app = spawn_app(&text_config, "").await;
    app.advance(24.0 * 3600.0);
    // The first check starts the schedule's clock; it sends nothing from the past.
    assert_eq!(app.app.scheduler.run_once().await.unwrap(), 0);
    for i in 0..12 {
        post(&app, &contract(&format!("cv{i}"), &format!("q{i}"), "")).await;
        settle(&app).await;
        app.advance(24.0 * 3600.0);
    }
    let roots: Vec<String> = channel_calls(&slack, "#pact-ProductsAPI")
        .iter()
        .map(|c| c.answered.clone().unwrap())
        .collect();
    assert_eq!(roots.len(), 12);
    // Day 102: the 03:00 tick has passed.
    app.advance(90.0 * 24.0 * 3600.0);
    let before = slack.calls().len();
    assert_eq!(app.app.scheduler.run_once().await.unwrap(), 1);
    assert_eq!(
        app.app.scheduler.run_once().await.unwrap(),
        0,
        "one tick per occurrence"
    );
    settle(&app).await;
    // The digest of the last day goes out too; the retention pass is in the provider channel.
    let provider = channel_id("#pact-ProductsAPI");
    let calls: Vec<Call> = slack.calls()[before..]
        .iter()
        .filter(|c| c.body["channel"] == provider.as_str())
        .cloned()
        .collect();
    let summary: Vec<(&str, String)> = calls
        .iter()
        .map(|c| {
            let target = c.body["thread_ts"]
                .as_str()
                .or(c.body["ts"].as_str())
                .unwrap();
            (c.method.as_str(), target.to_string())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("chat.postMessage", roots[1].clone()),
            ("chat.update", roots[1].clone()),
            ("chat.postMessage", roots[0].clone()),
            ("chat.update", roots[0].clone()),
        ]
    );
    assert_eq!(
        text(&calls[0]),
        "🦕 *Old pact!*\nThis thread will stop receiving updates!"
    );
    assert!(
        text(&calls[1]).contains("pact-version/q1")
            && text(&calls[1]).contains(
                "First published at  <https://github.com/acme/engine-repo/commit/cv1|cv1>"
            ),
        "{}",
        text(&calls[1])
    );
    assert!(
        text(&calls[1]).ends_with("\n🦕 *Old pact!*\nThis thread will stop receiving updates!")
    );
    let remembered = app.store.list_refs_of_kind("slack").await.unwrap();
    let threads = remembered
        .iter()
        .filter(|r| r.key.starts_with("pact:"))
        .count();
    assert_eq!(threads, 10);
}

#[tokio::test]
async fn a_quote_in_a_broker_variable_breaks_nothing_when_sent_in_the_url() {
    let (slack, app) = start().await;
    // What the broker sends for the documented webhook: no body, every value escaped in
    // the URL.
    let v = with(
        verification(21),
        json!({"consumerVersionBranch": "feat/say-\"hello\""}),
    );
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            v.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())),
        )
        .finish();
    let response = app
        .http
        .post(app.url(&format!("/hooks/pact?{query}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    settle(&app).await;
    let calls = slack.calls();
    assert_eq!(calls.len(), 2);
    assert!(
        text(&calls[1]).contains("|feat/say-\"hello\">"),
        "{}",
        text(&calls[1])
    );
}

/// Every `<…>` of a Slack text: (URL, text), checking the link ends where it should — no
/// `<` inside, and no `|` in its URL.
fn links(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("a link is closed") + start;
        let inner = &rest[start + 1..end];
        assert!(!inner.contains('<'), "a link inside a link: {text}");
        let (url, label) = inner.split_once('|').unwrap_or((inner, ""));
        found.push((url.to_string(), label.to_string()));
        rest = &rest[end + 1..];
    }
    found
}

#[tokio::test]
async fn a_branch_with_slacks_control_characters_keeps_its_links_whole() {
    let (slack, app) = start().await;
    let branch = "feat/a|b<c>&d";
    // Its link: `|`, `<`, `>` percent-encoded in the URL; `&`, `<`, `>` escaped in the text.
    let link =
        "<https://github.com/acme/engine-repo/tree/feat/a%7Cb%3Cc%3E&d|feat/a|b&lt;c&gt;&amp;d>";
    app.advance(5.0);
    post(
        &app,
        &with(publication(), json!({"consumerVersionBranch": branch})),
    )
    .await;
    post(
        &app,
        &with(verification(21), json!({"consumerVersionBranch": branch})),
    )
    .await;
    settle(&app).await;
    app.advance(60.0);
    settle(&app).await;

    let calls = slack.calls();
    let root = text(&calls[0]);
    assert_eq!(
        root,
        RSP.replace(
            "<https://github.com/acme/engine-repo/tree/feature/x|feature/x>",
            link
        )
    );
    let reply = text(&calls[1]);
    assert!(
        reply.contains(&format!("Verified Engine {link} ")),
        "{reply}"
    );
    let digest = channel_calls(&slack, "#ci");
    assert!(
        digest
            .iter()
            .any(|call| text(call).starts_with(&format!("*Engine* {link} "))),
        "{digest:?}"
    );
    for call in &calls {
        for (url, label) in links(text(call)) {
            assert!(url.starts_with("https://"), "{url} in {}", text(call));
            assert!(!url.contains(['|', '<', '>']), "{url}");
            assert!(!label.contains(['<', '>']), "{label}");
            if url.contains("/tree/feat/") {
                assert_eq!(label, "feat/a|b&lt;c&gt;&amp;d");
            }
        }
    }
}
