//! `herald init --preset`: the written file passes `herald check`, nothing is overwritten
//! without `--force`, unknown presets are refused, the `pact-github` preset carries a
//! Pact Broker webhook to GitHub's repository_dispatch end to end, and the `deploybot`
//! preset answers `/cimon` and deploys a push.

use crate::cli::{herald, stdout};
use crate::fakes::github::FakeGithub;
use crate::fakes::slack::FakeSlack;
use crate::support::*;
use herald_store::model::{DeliveryQuery, DeliveryStatus};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

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
        .env_remove("HERALD_ADMIN_TOKEN");
    for (name, _) in DEPLOYBOT_ENV {
        command.env_remove(name);
    }
    command.env("RUST_LOG", "warn");
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
            "unknown preset `pact-gitlab` (known: deploybot, jira-release, pact-github, pact-slack, workos-sync)"
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

/// Each preset's "next" lines link to its guide online, and `--docs` prints the guide as
/// built into the binary, writing nothing.
#[test]
fn init_links_each_presets_guide_and_prints_it_with_docs() {
    let dir = tempfile::tempdir().unwrap();
    let repository = env!("CARGO_PKG_REPOSITORY");
    assert!(repository.starts_with("https://"), "{repository}");
    for (name, doc) in [
        ("deploybot", "docs/deploybot.md"),
        ("jira-release", "docs/jira.md"),
        ("pact-github", "docs/pact-github.md"),
        ("pact-slack", "docs/pact-slack.md"),
        ("workos-sync", "docs/pollers.md"),
    ] {
        let output = format!("{name}.toml");
        let init = herald(dir.path(), &["init", "--preset", name, "--output", &output]);
        assert!(init.status.success(), "{name}: {}", stderr(&init));
        let next = stdout(&init);
        let link = format!(
            "read the guide: {repository}/blob/main/{doc} (or herald init --preset {name} --docs)"
        );
        assert!(next.contains(&link), "{name}: {link} missing from:\n{next}");

        let docs = herald(dir.path(), &["init", "--preset", name, "--docs"]);
        assert!(docs.status.success(), "{name}: {}", stderr(&docs));
        let file = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(doc),
        )
        .unwrap();
        assert_eq!(stdout(&docs).trim_end(), file.trim_end(), "{name}");
    }
    assert!(
        !dir.path().join("herald.toml").exists(),
        "--docs writes nothing"
    );

    let without = herald(dir.path(), &["init", "--docs"]);
    assert_eq!(without.status.code(), Some(2), "--docs needs a preset");
    assert!(
        stderr(&without).contains("--preset"),
        "{}",
        stderr(&without)
    );
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
            && next.contains("export SLACK_BOT_TOKEN=...")
            && next.contains("export HERALD_ADMIN_TOKEN=..."),
        "{next}"
    );
    let env = [
        ("PACT_WEBHOOK_TOKEN", PACT_TOKEN),
        ("SLACK_BOT_TOKEN", "xoxb-preset"),
        ("HERALD_ADMIN_TOKEN", "admin-token-for-tests"),
    ];
    let check = herald_with_env(dir.path(), &["check"], &env);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("herald.toml: ok (1 sources, 6 rules, 6 actions)"),
        "{}",
        stdout(&check)
    );
    assert!(
        !stderr(&check).contains("warning"),
        "the preset loads without warnings: {}",
        stderr(&check)
    );
}

/// The pact-slack preset watches its Slack token and opens the admin API with the token
/// in HERALD_ADMIN_TOKEN: `/api/windows`, the aggregator's /debug, answers with it.
#[tokio::test]
async fn the_pact_slack_preset_watches_its_slack_token_and_opens_the_admin_api() {
    let text = herald::presets::find("pact-slack")
        .unwrap()
        .text
        .replace("${env:PACT_WEBHOOK_TOKEN}", PACT_TOKEN)
        .replace("${env:SLACK_BOT_TOKEN}", "xoxb-preset")
        .replace("${env:HERALD_ADMIN_TOKEN}", ADMIN_TOKEN);
    let app = spawn_app(&text, "http://127.0.0.1:9").await;
    let config = &app.app.config;
    let Some(herald::config::monitors::MonitorCheck::Credential { actions, sources }) = config
        .monitors
        .get("slack-token")
        .map(|monitor| &monitor.check)
    else {
        panic!("a credential monitor `slack-token`");
    };
    assert!(sources.is_empty());
    // Every action that posts the broker's news (the alert itself cannot tell of its own
    // token: `herald status` does).
    let mut posting: Vec<&str> = config
        .actions
        .values()
        .filter(|action| action.kind.starts_with("slack") && action.name != "alert-slack")
        .map(|action| action.name.as_str())
        .collect();
    posting.sort();
    let mut watched: Vec<&str> = actions.iter().map(String::as_str).collect();
    watched.sort();
    assert_eq!(watched, posting);

    let refused = app
        .http
        .get(app.url("/api/windows"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let windows = app.admin_get("/api/windows").await;
    assert!(windows.is_array() || windows.is_object(), "{windows}");
}

/// The variables the `deploybot` preset reads, with values for tests.
const DEPLOYBOT_ENV: &[(&str, &str)] = &[
    ("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5"),
    ("SLACK_BOT_TOKEN", "xoxb-deploybot-preset"),
    ("GITHUB_WEBHOOK_SECRET", "deploybot-github-webhook-secret"),
    ("GITHUB_TOKEN", "ghp_deploybot_preset"),
    (
        "CIRCLECI_WEBHOOK_SECRET",
        "deploybot-circleci-webhook-secret",
    ),
    ("CIRCLECI_TOKEN", "circleci-deploybot-preset"),
];

fn deploybot_env(name: &str) -> &'static str {
    DEPLOYBOT_ENV
        .iter()
        .find(|(variable, _)| *variable == name)
        .map(|(_, value)| *value)
        .unwrap()
}

#[test]
fn init_writes_the_deploybot_preset_and_check_accepts_it_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let init = herald(dir.path(), &["init", "--preset", "deploybot"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let written = std::fs::read_to_string(dir.path().join("herald.toml")).unwrap();
    assert_eq!(written, herald::presets::find("deploybot").unwrap().text);
    let next = stdout(&init);
    for (name, _) in DEPLOYBOT_ENV {
        assert!(
            next.contains(&format!("export {name}=...")),
            "{name}:\n{next}"
        );
    }

    let check = herald_with_env(dir.path(), &["check"], DEPLOYBOT_ENV);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(
        stdout(&check).contains("herald.toml: ok (3 sources, 1 rules, 1 actions)"),
        "{}",
        stdout(&check)
    );
    assert!(
        !stderr(&check).contains("warning"),
        "the preset loads without warnings: {}",
        stderr(&check)
    );

    // Without one of its variables the same file fails, naming it.
    let some: Vec<(&str, &str)> = DEPLOYBOT_ENV
        .iter()
        .copied()
        .filter(|(name, _)| *name != "CIRCLECI_TOKEN")
        .collect();
    let missing = herald_with_env(dir.path(), &["check"], &some);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("environment variable CIRCLECI_TOKEN is not set"),
        "{}",
        stderr(&missing)
    );
}

/// The `deploybot` preset as `herald init` writes it, with literal secrets instead of the
/// environment and the fakes as Slack's and GitHub's APIs.
fn deploybot_for_fakes(dir: &Path, slack: &str, github: &str) -> String {
    let init = herald(dir, &["init", "--preset", "deploybot"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let mut rewritten = std::fs::read_to_string(dir.join("herald.toml")).unwrap();
    let mut replacements: Vec<(String, String)> = DEPLOYBOT_ENV
        .iter()
        .map(|(name, value)| (format!("\"${{env:{name}}}\""), format!("\"{value}\"")))
        .collect();
    replacements.push((
        "token = \"slack_bot\"\n".into(),
        format!("token = \"slack_bot\"\napi_url = \"{slack}\"\n"),
    ));
    replacements.push((
        "token = \"github_token\"\n".into(),
        format!("token = \"github_token\"\napi_url = \"{github}\"\n"),
    ));
    for (from, to) in replacements {
        assert_eq!(rewritten.matches(&from).count(), 1, "{from} in the preset");
        rewritten = rewritten.replace(&from, &to);
    }
    rewritten
}

/// `/cimon <text>` from U1 in C1 (#web-dev), signed as Slack signs it: (status, body).
async fn cimon(app: &TestApp, text: &str) -> (u16, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("team_id", "T1")
        .append_pair("channel_id", "C1")
        .append_pair("channel_name", "web-dev")
        .append_pair("user_id", "U1")
        .append_pair("user_name", "alice")
        .append_pair("command", "/cimon")
        .append_pair("text", text)
        .append_pair("trigger_id", &format!("trigger-{}", uuid::Uuid::now_v7()))
        .finish();
    let at = app.clock_now().timestamp();
    let signed = format!("v0:{at}:{body}");
    let secret = deploybot_env("SLACK_SIGNING_SECRET");
    let signature = hex::encode(hmac_sha256(secret.as_bytes(), signed.as_bytes()));
    let response = app
        .http
        .post(app.url("/hooks/slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", at.to_string())
        .header("x-slack-signature", format!("v0={signature}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_deploybot_preset_answers_cimon_and_deploys_a_push_to_main_to_preview() {
    let github = FakeGithub::start(deploybot_env("GITHUB_TOKEN")).await;
    github.set_collaborators(&["alice"]);
    let slack = FakeSlack::start(deploybot_env("SLACK_BOT_TOKEN"), Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app(
        &deploybot_for_fakes(dir.path(), &slack.url, &github.url),
        "",
    )
    .await;

    let (status, help) = cimon(&app, "help").await;
    assert_eq!(status, 200, "{help}");
    assert_eq!(help["response_type"], "ephemeral");
    assert!(
        help["text"]
            .as_str()
            .unwrap()
            .contains("`/cimon setup owner/repo`"),
        "{help}"
    );

    let (status, setup) = cimon(&app, "setup acme/web").await;
    assert_eq!(status, 200, "{setup}");
    assert!(
        setup["text"]
            .as_str()
            .unwrap()
            .starts_with("Setting up `acme/web` in this channel"),
        "{setup}"
    );
    assert_eq!(
        setup["attachments"][0]["actions"][0]["value"], "alice",
        "{setup}"
    );
    let (_, set) = cimon(&app, "set basedomain example.com").await;
    assert_eq!(
        set["text"], "Great, I've set basedomain to example.com.",
        "{set}"
    );

    // A push to main deploys to preview (the preset's first push rule), and the deployment
    // gets its Slack message in the channel.
    let push = json!({
        "ref": "refs/heads/main",
        "after": "0123456789abcdef0123456789abcdef01234567",
        "head_commit": {"id": "0123456789abcdef0123456789abcdef01234567", "author": {"name": "Alice", "username": "alice"}},
        "repository": {"full_name": "acme/web"},
    });
    let secret = deploybot_env("GITHUB_WEBHOOK_SECRET");
    let pushed = app
        .github("push", "push-1", &push.to_string(), secret)
        .await;
    assert_eq!(pushed.status(), 202);
    app.deliver_all().await;
    let created: Vec<Value> = github
        .calls()
        .into_iter()
        .filter(|call| call.method == "POST" && call.path == "/repos/acme/web/deployments")
        .map(|call| call.body)
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["ref"], "main");
    assert_eq!(created[0]["environment"], "preview");
    assert_eq!(created[0]["payload"]["url"], "https://preview.example.com/");
    let roots = slack.roots("C1");
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert!(
        roots[0].1.contains("Deployment of `main` to *preview*"),
        "{}",
        roots[0].1
    );
}
