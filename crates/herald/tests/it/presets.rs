//! `herald init --preset`: the written file passes `herald check`, nothing is overwritten
//! without `--force`, unknown presets are refused, and the `pact-github` preset carries a
//! Pact Broker webhook to GitHub's repository_dispatch end to end.

use crate::cli::{herald, stdout};
use crate::fakes::github::FakeGithub;
use crate::support::*;
use herald_store::model::{DeliveryQuery, DeliveryStatus};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

const PACT_TOKEN: &str = "pact-webhook-token-for-tests";
const GITHUB_TOKEN: &str = "ghp_pact_github_preset";

fn preset_text() -> &'static str {
    herald::presets::find("pact-github").unwrap().text
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The binary with exactly the preset's variables set (none inherited from the test's
/// environment, where GITHUB_TOKEN may well exist).
fn herald_with_env(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("HERALD_CONFIG")
        .env_remove("PACT_WEBHOOK_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .env_remove("SLACK_BOT_TOKEN")
        .env("RUST_LOG", "warn");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().unwrap()
}

const PRESET_ENV: &[(&str, &str)] = &[
    ("PACT_WEBHOOK_TOKEN", PACT_TOKEN),
    ("GITHUB_TOKEN", GITHUB_TOKEN),
    ("SLACK_BOT_TOKEN", "xoxb-preset-alerts"),
];

#[test]
fn init_writes_the_pact_github_preset_and_check_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let init = herald(dir.path(), &["init", "--preset", "pact-github"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let written = std::fs::read_to_string(dir.path().join("herald.toml")).unwrap();
    assert_eq!(written, preset_text());
    let next = stdout(&init);
    for expected in [
        "wrote herald.toml",
        "export PACT_WEBHOOK_TOKEN=...",
        "export GITHUB_TOKEN=...",
        "herald check --config herald.toml",
        "herald serve --config herald.toml",
    ] {
        assert!(
            next.contains(expected),
            "{expected:?} missing from:\n{next}"
        );
    }

    let check = herald_with_env(dir.path(), &["check"], PRESET_ENV);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("herald.toml: ok (1 sources, 2 rules, 2 actions)"),
        "{}",
        stdout(&check)
    );
    assert!(
        !stderr(&check).contains("warning"),
        "the preset loads without warnings: {}",
        stderr(&check)
    );

    // Without its variables the same file fails, naming what to set.
    let missing = herald_with_env(dir.path(), &["check"], &[("GITHUB_TOKEN", GITHUB_TOKEN)]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("environment variable PACT_WEBHOOK_TOKEN is not set"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herald.toml");
    std::fs::write(&path, "# my own configuration\n").unwrap();

    let refused = herald(dir.path(), &["init", "--preset", "pact-github"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("herald.toml already exists; pass --force"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "# my own configuration\n"
    );

    let elsewhere = herald(
        dir.path(),
        &["init", "--preset", "pact-github", "--output", "pact.toml"],
    );
    assert!(elsewhere.status.success(), "{}", stderr(&elsewhere));
    assert!(stdout(&elsewhere).contains("herald check --config pact.toml"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("pact.toml")).unwrap(),
        preset_text()
    );

    let forced = herald(dir.path(), &["init", "--preset", "pact-github", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), preset_text());
}

#[test]
fn init_rejects_an_unknown_preset_and_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = herald(dir.path(), &["init", "--preset", "pact-gitlab"]);
    assert_eq!(unknown.status.code(), Some(1));
    let message = stderr(&unknown);
    assert!(
        message.contains(
            "unknown preset `pact-gitlab` (known: jira-release, pact-github, pact-slack, workos-sync)"
        ),
        "{message}"
    );
    assert!(!dir.path().join("herald.toml").exists());

    for args in [&["init", "--list"][..], &["init"][..]] {
        let list = herald(dir.path(), args);
        assert!(list.status.success(), "{args:?}: {}", stderr(&list));
        let listed = stdout(&list);
        let line = listed
            .lines()
            .find(|line| line.trim_start().starts_with("pact-github "))
            .unwrap_or_else(|| panic!("{args:?}:\n{listed}"));
        assert!(line.contains("repository_dispatch"), "{line}");
    }
    assert!(!dir.path().join("herald.toml").exists());
}

/// The body the broker sends for the webhook in docs/pact-github.md.
const WEBHOOK_BODY: &str = r#"{
  "eventType": "${pactbroker.eventName}",
  "pactUrl": "${pactbroker.pactUrl}",
  "providerName": "${pactbroker.providerName}",
  "providerVersionNumber": "${pactbroker.providerVersionNumber}",
  "providerVersionBranch": "${pactbroker.providerVersionBranch}",
  "consumerName": "${pactbroker.consumerName}",
  "consumerVersionNumber": "${pactbroker.consumerVersionNumber}",
  "consumerVersionBranch": "${pactbroker.consumerVersionBranch}"
}"#;

const PACT_URL: &str = "https://pact.example.com/pacts/provider/billing-api/consumer/web-app/pact-version/5a0b2f8c9e1d4a7b3c6f0e2d8a9b1c4e7f3a5d0b/metadata/Y3ZuPTEuNC4yJmN2PTQy";

/// Substitute the broker's variables. Each value is JSON-escaped so the body stays valid
/// JSON when a value holds a double quote; the others come out exactly as the broker's.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |body, (name, value)| {
            let escaped = serde_json::to_string(value).unwrap();
            body.replace(
                &format!("${{pactbroker.{name}}}"),
                &escaped[1..escaped.len() - 1],
            )
        })
}

fn broker_body(event_name: &str) -> String {
    render(
        WEBHOOK_BODY,
        &[
            ("eventName", event_name),
            ("pactUrl", PACT_URL),
            ("providerName", "billing-api"),
            (
                "providerVersionNumber",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
            ),
            ("providerVersionBranch", "main"),
            ("consumerName", "web-app"),
            ("consumerVersionNumber", "1.4.2+e4c01b7"),
            ("consumerVersionBranch", r#"feat/say-"hello""#),
        ],
    )
}

/// The preset as `herald init` writes it, with literal secrets instead of the environment
/// and the fake GitHub as its API.
fn preset_for_fake(dir: &Path) -> String {
    let init = herald(dir, &["init", "--preset", "pact-github"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let mut rewritten = std::fs::read_to_string(dir.join("herald.toml")).unwrap();
    for (from, to) in [
        ("\"${env:PACT_WEBHOOK_TOKEN}\"", format!("\"{PACT_TOKEN}\"")),
        ("\"${env:GITHUB_TOKEN}\"", format!("\"{GITHUB_TOKEN}\"")),
        (
            "\"${env:SLACK_BOT_TOKEN}\"",
            "\"xoxb-preset-alerts\"".to_string(),
        ),
        (
            "kind = \"github-dispatch\"\n",
            "kind = \"github-dispatch\"\napi_url = \"{SINK}\"\n".to_string(),
        ),
    ] {
        assert_eq!(rewritten.matches(from).count(), 1, "{from} in the preset");
        rewritten = rewritten.replace(from, &to);
    }
    rewritten
}

async fn post_pact(app: &TestApp, token: &str, body: String) -> reqwest::Response {
    app.http
        .post(app.url("/hooks/pact"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_pact_github_preset_dispatches_the_brokers_event_to_the_provider() {
    let github = FakeGithub::start(GITHUB_TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(&preset_for_fake(dir.path()), &github.url).await;

    let event = "contract_requiring_verification_published";
    let wrong = post_pact(&app, "not-the-token", broker_body(event)).await;
    assert_eq!(wrong.status(), 401);

    let accepted = post_pact(&app, PACT_TOKEN, broker_body(event)).await;
    assert_eq!(accepted.status(), 202);
    let answer: Value = accepted.json().await.unwrap();
    assert_eq!(answer["deliveries"], 1, "{answer}");

    // The broker's other events are stored, and start nothing.
    let other = post_pact(&app, PACT_TOKEN, broker_body("contract_published")).await;
    assert_eq!(other.status(), 202);
    assert_eq!(other.json::<Value>().await.unwrap()["deliveries"], 0);

    assert_eq!(app.deliver().await, 1);
    let deliveries = app
        .store
        .list_deliveries(&DeliveryQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].status, DeliveryStatus::Succeeded);

    let calls = github.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str(), call.status),
        ("POST", "/repos/acme/billing-api/dispatches", 204)
    );
    let header = |name: &str| call.headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(header("authorization"), format!("Bearer {GITHUB_TOKEN}"));
    assert_eq!(header("accept"), "application/vnd.github+json");
    assert_eq!(header("x-github-api-version"), "2022-11-28");
    assert!(header("user-agent").starts_with("herald/"));
    assert!(header("content-type").starts_with("application/json"));
    assert_eq!(
        call.body,
        json!({
            "event_type": "contract_requiring_verification_published",
            "client_payload": {
                "pact_url": PACT_URL,
                "sha": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
                "branch": "main",
                "consumer_name": "web-app",
                "consumer_version_number": "1.4.2+e4c01b7",
                "consumer_version_branch": "feat/say-\"hello\"",
            }
        })
    );
}

// `herald test` runs in a child process while the fake answers on this runtime's other thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_test_shows_the_presets_dispatch_and_githubs_204() {
    let github = FakeGithub::start(GITHUB_TOKEN).await;
    let dir = tempfile::tempdir().unwrap();
    let text = preset_for_fake(dir.path()).replace("{SINK}", &github.url);
    std::fs::write(dir.path().join("herald.toml"), text).unwrap();
    let payload = dir.path().join("broker.json");
    std::fs::write(
        &payload,
        broker_body("contract_requiring_verification_published"),
    )
    .unwrap();
    let output = herald(
        dir.path(),
        &[
            "test",
            "verify-changed-pacts",
            "--payload",
            payload.to_str().unwrap(),
        ],
    );
    let shown = stdout(&output);
    assert!(output.status.success(), "{shown}\n{}", stderr(&output));
    assert!(
        shown.contains("/repos/acme/billing-api/dispatches"),
        "{shown}"
    );
    assert!(shown.contains("Bearer [redacted]"), "{shown}");
    assert!(!shown.contains(GITHUB_TOKEN), "{shown}");
    assert!(shown.contains("answer: HTTP 204"), "{shown}");
    assert!(shown.contains("verdict: success"), "{shown}");
    let calls = github.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["client_payload"]["pact_url"], PACT_URL);
}

#[test]
fn init_writes_the_pact_slack_preset_and_check_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let init = herald(dir.path(), &["init", "--preset", "pact-slack"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let next = stdout(&init);
    assert!(
        next.contains("export PACT_WEBHOOK_TOKEN=...")
            && next.contains("export SLACK_BOT_TOKEN=..."),
        "{next}"
    );
    let env = [
        ("PACT_WEBHOOK_TOKEN", PACT_TOKEN),
        ("SLACK_BOT_TOKEN", "xoxb-preset"),
    ];
    let check = herald_with_env(dir.path(), &["check"], &env);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("herald.toml: ok (1 sources, 5 rules, 5 actions)"),
        "{}",
        stdout(&check)
    );
}
