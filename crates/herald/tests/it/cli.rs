//! The `herald` binary: check, send (dry run and real), events, deliveries, replay; what
//! needs secrets and what does not; completions, manual pages and the version.

use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

pub fn herald(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .current_dir(dir)
        .env("HERALD_CONFIG", dir.join("herald.toml"))
        .env("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
        .env("HERALD_SINK_URL", "http://127.0.0.1:9/sink")
        .env("HERALD_ADMIN_TOKEN", "dev-admin-token")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn quickstart_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.toml");
    std::fs::copy(example, dir.path().join("herald.toml")).unwrap();
    dir
}

#[test]
fn check_accepts_the_quickstart_and_locates_errors() {
    let dir = quickstart_dir();
    let ok = herald(dir.path(), &["check"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("ok (1 sources, 1 rules, 1 actions)"));

    std::fs::write(
        dir.path().join("bad.toml"),
        "[sources.github]\nkind = \"github\"\nsecrets = [\"nope\"]\n",
    )
    .unwrap();
    let bad = herald(dir.path(), &["check", "--config", "bad.toml"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("bad.toml:3:12: error: undefined secret `nope`"),
        "{}",
        stderr(&bad)
    );

    let missing = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["check", "--config", "quickstart.toml"])
        .current_dir(dir.path())
        .env_remove("GITHUB_WEBHOOK_SECRET")
        .env_remove("HERALD_CONFIG")
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

#[test]
fn check_prints_each_problem_once() {
    let dir = quickstart_dir();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[sources.github]\nkind = \"github\"\nsecrets = [\"nope\"]\ncolour = 1\n",
    )
    .unwrap();
    let bad = herald(dir.path(), &["check", "--config", "bad.toml"]);
    assert_eq!(bad.status.code(), Some(1));
    let shown = stderr(&bad);
    for message in ["undefined secret `nope`", "unknown key `colour`"] {
        assert_eq!(
            shown.matches(message).count(),
            1,
            "{message} once in:\n{shown}"
        );
    }
    // With its place and its help.
    for part in [
        "bad.toml:3:12: error: undefined secret `nope`",
        "secrets = [\"nope\"]",
        "help: define it under [secrets]",
        "bad.toml:4:1: error: unknown key `colour`",
        "bad.toml: 2 error(s)",
    ] {
        assert!(shown.contains(part), "{part} in:\n{shown}");
    }
}

/// Every kind with a credential check, each at its fake (`{SLACK}`, …), its tokens read
/// from the environment.
const ONLINE: &str = r##"
[secrets]
github_webhook = "It's a Secret to Everybody"
slack_bot = "${env:SLACK_BOT_TOKEN}"
github_token = "${env:GITHUB_TOKEN}"
jira_token = "${env:JIRA_TOKEN}"
circleci_token = "${env:CIRCLECI_TOKEN}"

[sources.github]
kind = "github"
secrets = ["github_webhook"]

[rules.all]
sources = ["github"]
actions = ["notify", "status", "comment", "pipeline", "deploybot", "audit"]

[actions.notify]
kind = "slack"
token = "slack_bot"
api_url = "{SLACK}"
channel = "#ci"
text = "{{ event.action }}"

[actions.status]
kind = "github-status"
token = "github_token"
api_url = "{GITHUB}"
repository = "acme/app"
sha = "{{ event.after }}"
state = "success"

[actions.comment]
kind = "jira-comment"
url = "{JIRA}"
email = "herald@example.com"
token = "jira_token"
body = "released"

[actions.pipeline]
kind = "circleci-pipeline"
token = "circleci_token"
api_url = "{CIRCLECI}"
project_slug = "gh/acme/app"
branch = "main"

[actions.deploybot]
kind = "deploybot"
slack = { token = "slack_bot", api_url = "{SLACK}" }
github = { token = "github_token", api_url = "{GITHUB}", web_url = "https://github.com" }
circleci = { token = "circleci_token", api_url = "{CIRCLECI}" }

[actions.audit]
kind = "log"
"##;

/// `herald check --online` in `dir` with these variables, run off the test's runtime (the
/// fakes answer on it).
async fn check_online(dir: &Path, variables: Vec<(&'static str, &'static str)>) -> Output {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["check", "--online"])
            .current_dir(&dir)
            .env("HERALD_CONFIG", dir.join("herald.toml"))
            .env("RUST_LOG", "warn")
            .envs(variables)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_online_asks_each_destination_whether_its_credential_works() {
    use crate::fakes::{
        circleci::FakeCircleci, github::FakeGithub, jira::FakeJira, slack::FakeSlack,
    };
    let slack = FakeSlack::start("xoxb-good", std::time::Duration::ZERO).await;
    let github = FakeGithub::start("ghp-good").await;
    let jira = FakeJira::start("herald@example.com", "jira-good").await;
    let circleci = FakeCircleci::start("circle-good", "gh/acme/app").await;
    let dir = tempfile::tempdir().unwrap();
    let config = ONLINE
        .replace("{SLACK}", &slack.url)
        .replace("{GITHUB}", &github.url)
        .replace("{JIRA}", &jira.url)
        .replace("{CIRCLECI}", &circleci.url);
    std::fs::write(dir.path().join("herald.toml"), config).unwrap();
    let good = vec![
        ("SLACK_BOT_TOKEN", "xoxb-good"),
        ("GITHUB_TOKEN", "ghp-good"),
        ("JIRA_TOKEN", "jira-good"),
        ("CIRCLECI_TOKEN", "circle-good"),
    ];

    let ok = check_online(dir.path(), good.clone()).await;
    let shown = stdout(&ok);
    assert!(ok.status.success(), "{shown}{}", stderr(&ok));
    for line in [
        "action `comment`: Jira token `jira_token` of herald@example.com: ok",
        "action `deploybot`: Slack token `slack_bot`: ok",
        "action `deploybot`: GitHub token `github_token`: ok",
        "action `deploybot`: CircleCI token `circleci_token`: ok",
        "action `notify`: Slack token `slack_bot`: ok",
        "action `pipeline`: CircleCI token `circleci_token`: ok",
        "action `status`: GitHub token `github_token`: ok",
    ] {
        assert!(shown.contains(line), "{line} in:\n{shown}");
    }
    assert!(!shown.contains("action `audit`"), "a log has no credential");
    // Nothing that shows: each API was only asked about the credential, once.
    let slack_calls: Vec<String> = slack.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(slack_calls, ["auth.test"]);
    let github_calls: Vec<String> = github.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(github_calls, ["/rate_limit"]);
    let jira_calls: Vec<String> = jira.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(jira_calls, ["/rest/api/2/myself"]);
    let circleci_calls: Vec<String> = circleci.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(circleci_calls, ["/api/v2/me"]);

    // Refused: in the provider's words, and the command fails.
    let refused = check_online(
        dir.path(),
        vec![
            ("SLACK_BOT_TOKEN", "xoxb-revoked"),
            ("GITHUB_TOKEN", "ghp-revoked"),
            ("JIRA_TOKEN", "jira-good"),
            ("CIRCLECI_TOKEN", "circle-revoked"),
        ],
    )
    .await;
    let shown = stdout(&refused);
    assert_eq!(refused.status.code(), Some(1), "{shown}");
    for line in [
        "action `notify`: Slack token `slack_bot`: refused: invalid_auth",
        "action `status`: GitHub token `github_token`: refused: HTTP 401 bad credentials: Bad credentials",
        "action `pipeline`: CircleCI token `circleci_token`: refused: HTTP 401",
        "action `comment`: Jira token `jira_token` of herald@example.com: ok",
    ] {
        assert!(shown.contains(line), "{line} in:\n{shown}");
    }

    // Unreachable: said, but not a refusal.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let config = ONLINE
        .replace("{SLACK}", &slack.url)
        .replace("{GITHUB}", &github.url)
        .replace("{JIRA}", &nowhere)
        .replace("{CIRCLECI}", &circleci.url);
    std::fs::write(dir.path().join("herald.toml"), config).unwrap();
    let unreachable = check_online(dir.path(), good).await;
    let shown = stdout(&unreachable);
    assert!(unreachable.status.success(), "{shown}");
    assert!(
        shown.contains(
            "action `comment`: Jira token `jira_token` of herald@example.com: unreachable: connection failed"
        ),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_online_fetches_a_github_apps_installation_token() {
    use crate::fakes::github::FakeGithub;
    const KEY: &str = include_str!("testdata/github-app/test-only-private-key.pem");
    let github = FakeGithub::start("ghp-unused").await;
    github.app(424242, 5151);
    let dir = tempfile::tempdir().unwrap();
    let config = |installation: u64| {
        format!(
            r#"
[secrets]
webhook = "It's a Secret to Everybody"
app_key = '''
{KEY}'''

[sources.github]
kind = "github"
secrets = ["webhook"]

[rules.r]
sources = ["github"]
actions = ["status"]

[actions.status]
kind = "github-status"
app = {{ id = 424242, installation = {installation}, private_key = "app_key" }}
api_url = "{}"
repository = "acme/app"
sha = "{{{{ event.after }}}}"
state = "success"
"#,
            github.url
        )
    };
    std::fs::write(dir.path().join("herald.toml"), config(5151)).unwrap();
    let ok = check_online(dir.path(), vec![]).await;
    let shown = stdout(&ok);
    assert!(ok.status.success(), "{shown}{}", stderr(&ok));
    assert!(
        shown.contains("action `status`: GitHub App 424242 installation 5151 (key `app_key`): ok"),
        "{shown}"
    );
    assert_eq!(github.token_requests(), 1);

    std::fs::write(dir.path().join("herald.toml"), config(9999)).unwrap();
    let refused = check_online(dir.path(), vec![]).await;
    let shown = stdout(&refused);
    assert_eq!(refused.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains(
            "action `status`: GitHub App 424242 installation 9999 (key `app_key`): refused:"
        ),
        "{shown}"
    );
}

#[test]
fn dry_run_prints_the_matched_rules_and_exact_requests() {
    let dir = quickstart_dir();
    std::fs::write(dir.path().join("pr.json"), pull_request(5)).unwrap();
    let output = herald(
        dir.path(),
        &[
            "send",
            "--source",
            "github",
            "--file",
            "pr.json",
            "-H",
            "X-GitHub-Event: pull_request",
            "-H",
            "X-GitHub-Delivery: abc",
            "--dry-run",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("pull_request.opened"), "{text}");
    assert!(
        text.contains("forward-pull-requests → sink (http)"),
        "{text}"
    );
    // The URL comes from ${env:HERALD_SINK_URL}: its path may be a credential.
    assert!(
        text.contains("POST http://127.0.0.1:9/[redacted]"),
        "{text}"
    );
    assert!(text.contains("content-type: application/json"), "{text}");
    assert!(text.contains(r#""delivery": "abc""#), "{text}");
    assert!(
        !dir.path().join("herald.db").exists(),
        "a dry run stores nothing"
    );

    let json = herald(
        dir.path(),
        &[
            "send",
            "--source",
            "github",
            "--file",
            "pr.json",
            "-H",
            "X-GitHub-Event: issues",
            "--dry-run",
            "--json",
        ],
    );
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["event"]["type"], "issues.opened");
    assert_eq!(report["deliveries"], serde_json::json!([]));
}

#[test]
fn send_stores_and_the_log_commands_show_it() {
    let dir = quickstart_dir();
    std::fs::write(dir.path().join("pr.json"), pull_request(9)).unwrap();
    let sent = herald(
        dir.path(),
        &[
            "send",
            "--source",
            "github",
            "--file",
            "pr.json",
            "-H",
            "X-GitHub-Event: pull_request",
            "--json",
        ],
    );
    assert!(sent.status.success(), "{}", stderr(&sent));
    let sent: Value = serde_json::from_slice(&sent.stdout).unwrap();
    assert_eq!(sent["deliveries"], 1);
    let event_id = sent["event_id"].as_str().unwrap();

    let events: Value =
        serde_json::from_slice(&herald(dir.path(), &["events", "list", "--json"]).stdout).unwrap();
    assert_eq!(events[0]["id"], event_id);
    let shown = stdout(&herald(dir.path(), &["events", "show", event_id]));
    assert!(
        shown.contains("pull_request.opened") && shown.contains("\"number\": 9"),
        "{shown}"
    );

    let table = stdout(&herald(dir.path(), &["deliveries", "list"]));
    assert!(
        table.contains("forward-pull-requests") && table.contains("pending"),
        "{table}"
    );
    let deliveries: Value =
        serde_json::from_slice(&herald(dir.path(), &["deliveries", "list", "--json"]).stdout)
            .unwrap();
    let delivery_id = deliveries[0]["id"].as_str().unwrap();
    let replayed = stdout(&herald(dir.path(), &["replay", delivery_id]));
    assert!(replayed.contains("1 deliveries re-queued"), "{replayed}");
    let refused = herald(dir.path(), &["replay"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("say which deliveries to replay"));
    // Each command closed the store it opened, so SQLite folded its log in.
    for leftover in ["herald.db-wal", "herald.db-shm"] {
        assert!(
            !dir.path().join(leftover).exists(),
            "{leftover} left behind"
        );
    }
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let dir = quickstart_dir();
    // The reader is gone before herald writes, as after `| head -1` has its line.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["init", "--list"])
        .current_dir(dir.path())
        .stdout(writer)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "", "no panic, no message");
}

/// The binary in `dir` with `vars` set, and the pact presets' secrets unset (the test's
/// environment may have them).
fn herald_env(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .args(args)
        .current_dir(dir)
        .env("HERALD_CONFIG", dir.join("herald.toml"))
        .env("GITHUB_WEBHOOK_SECRET", GITHUB_SECRET)
        .env("HERALD_SINK_URL", "http://127.0.0.1:9/sink")
        .env("RUST_LOG", "warn")
        .env_remove("PACT_WEBHOOK_TOKEN")
        .env_remove("SLACK_BOT_TOKEN")
        .env_remove("HERALD_ADMIN_TOKEN");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().unwrap()
}

const PACT_SECRETS: &[(&str, &str)] = &[
    ("PACT_WEBHOOK_TOKEN", "pact-token-for-tests"),
    ("SLACK_BOT_TOKEN", "xoxb-for-tests"),
    ("HERALD_ADMIN_TOKEN", "admin-token-for-tests"),
];

fn pact_slack_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let init = herald_env(dir.path(), &["init", "--preset", "pact-slack"], &[]);
    assert!(init.status.success(), "{}", stderr(&init));
    dir
}

/// A verification as the broker's query-string webhook sends it (docs/pact-slack.md, "Try
/// it without the broker").
const VERIFICATION_QUERY: &str = "eventType=provider_verification_published&providerName=Billing&consumerName=Web&githubVerificationStatus=success&verificationResultUrl=https%3A%2F%2Fbroker.example.com%2Fpacts%2Fprovider%2FBilling%2Fconsumer%2FWeb%2Fpact-version%2F5a0b2f8c%2Fverification-results%2F1&consumerVersionBranch=feat%2Finvoices&providerVersionBranch=main&consumerVersionNumber=1.4.2&providerVersionNumber=9f86d08";

#[test]
fn the_store_commands_need_no_secret_and_the_sending_ones_name_each_missing_one() {
    let dir = pact_slack_dir();
    // An event stored while the secrets were there, read back without them.
    let sent = herald_env(
        dir.path(),
        &[
            "send",
            "--source",
            "pact",
            "--query",
            VERIFICATION_QUERY,
            "--json",
        ],
        PACT_SECRETS,
    );
    assert!(sent.status.success(), "{}", stderr(&sent));
    let sent: Value = serde_json::from_slice(&sent.stdout).unwrap();
    let event_id = sent["event_id"].as_str().unwrap();

    let listed = herald_env(dir.path(), &["events", "list"], &[]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stdout(&listed).contains(event_id), "{}", stdout(&listed));
    assert!(!stderr(&listed).contains("error"), "{}", stderr(&listed));
    for args in [
        &["events", "show", event_id][..],
        &["deliveries", "list"],
        &["deliveries", "list", "--event", event_id],
        &["windows", "list"],
        &["status"],
        &["replay", "--rule", "digest"],
        &["windows", "flush", "--rule", "digest"],
        &["prune", "--dead-older-than", "30d"],
        &["migrate"],
    ] {
        let output = herald_env(dir.path(), args, &[]);
        assert!(
            output.status.success(),
            "herald {args:?} without secrets: {}",
            stderr(&output)
        );
    }
    let windows = stdout(&herald_env(
        dir.path(),
        &["windows", "list", "--status", "all"],
        &[],
    ));
    assert!(windows.contains("Billing:9f86d08"), "{windows}");

    for args in [
        &["serve"][..],
        &["send", "--source", "pact", "--query", VERIFICATION_QUERY],
        &["test", "contract-verified"],
    ] {
        let refused = herald_env(dir.path(), args, &[]);
        assert_eq!(refused.status.code(), Some(1), "herald {args:?}");
        let shown = stderr(&refused);
        for variable in ["PACT_WEBHOOK_TOKEN", "SLACK_BOT_TOKEN"] {
            assert!(
                shown.contains(&format!("environment variable {variable} is not set")),
                "herald {args:?} names {variable}:\n{shown}"
            );
        }
        assert!(shown.contains("this command sends"), "{shown}");
    }
}

#[test]
fn an_unset_variable_outside_the_secrets_does_not_stop_the_store_commands_either() {
    let dir = quickstart_dir();
    std::fs::write(dir.path().join("pr.json"), pull_request(4)).unwrap();
    // The quickstart reads its secret and its sink's URL from the environment: neither set.
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .current_dir(dir.path())
            .env("HERALD_CONFIG", dir.path().join("herald.toml"))
            .env("RUST_LOG", "warn")
            .env_remove("GITHUB_WEBHOOK_SECRET")
            .env_remove("HERALD_SINK_URL")
            .output()
            .unwrap()
    };
    let listed = run(&["events", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(stdout(&listed).trim(), "(none)");
    let dry = run(&[
        "send",
        "--source",
        "github",
        "--file",
        "pr.json",
        "-H",
        "X-GitHub-Event: pull_request",
        "--dry-run",
    ]);
    assert_eq!(dry.status.code(), Some(1), "{}", stderr(&dry));
    assert!(
        stdout(&dry)
            .contains("would fail: cannot be built without environment variable HERALD_SINK_URL"),
        "{}",
        stdout(&dry)
    );
    let serve = run(&["serve"]);
    assert_eq!(serve.status.code(), Some(1));
    for variable in ["GITHUB_WEBHOOK_SECRET", "HERALD_SINK_URL"] {
        assert!(
            stderr(&serve).contains(&format!("environment variable {variable} is not set")),
            "{}",
            stderr(&serve)
        );
    }
}

#[test]
fn a_dry_run_needs_no_secret_and_an_action_it_cannot_build_would_fail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.toml"),
        r#"
[secrets]
github_webhook = "${env:GITHUB_WEBHOOK_SECRET}"
app_key = "${env:GITHUB_APP_KEY}"

[sources.github]
kind = "github"
secrets = ["github_webhook"]

[rules.digest]
sources = ["github"]
events = ["pull_request.*"]
actions = ["dispatch"]
window = { quiet = "1m" }

[rules.verify]
sources = ["github"]
events = ["pull_request.*"]
actions = ["dispatch"]

[actions.dispatch]
kind = "github-dispatch"
app = { id = 1, installation = 2, private_key = "app_key" }
repository = "acme/app"
event_type = "verify"
"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("pr.json"), pull_request(3)).unwrap();
    let send = [
        "send",
        "--source",
        "github",
        "--file",
        "pr.json",
        "-H",
        "X-GitHub-Event: pull_request",
    ];
    let dry = herald_env(dir.path(), &[&send[..], &["--dry-run"]].concat(), &[]);
    assert_eq!(dry.status.code(), Some(1), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("would fail: cannot be built without the secret `app_key`"),
        "{}",
        stdout(&dry)
    );
    assert!(
        stderr(&dry).contains("GITHUB_APP_KEY is not set"),
        "{}",
        stderr(&dry)
    );
    let stored = herald_env(dir.path(), &send, &[("GITHUB_APP_KEY", "not read")]);
    assert_eq!(stored.status.code(), Some(1), "the key is not a PEM key");
    // Flushing writes the window's deliveries with their actions' ordering keys: not with
    // an action that could not be built.
    let flush = herald_env(dir.path(), &["windows", "flush"], &[]);
    assert_eq!(flush.status.code(), Some(1));
    assert!(
        stderr(&flush).contains("cannot flush: action(s) `dispatch` need secrets"),
        "{}",
        stderr(&flush)
    );
}

#[test]
fn send_feeds_a_query_string_and_headers_as_the_brokers_webhooks_send_them() {
    let dir = pact_slack_dir();
    let dry = herald_env(
        dir.path(),
        &[
            "send",
            "--source",
            "pact",
            "--query",
            VERIFICATION_QUERY,
            "--dry-run",
            "--json",
        ],
        &[],
    );
    assert!(dry.status.success(), "{}", stderr(&dry));
    let report: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(report["event"]["type"], "provider_verification_published");
    let windows = report["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{report:#}");
    assert_eq!(windows[0]["rule"], "digest");
    assert_eq!(windows[0]["group"], "Billing:9f86d08");
    assert_eq!(windows[0]["joins"], Value::Null);
    let text = report.to_string();
    assert!(text.contains("#pact-Billing"), "{report:#}");
    assert!(text.contains("feat/invoices"), "{report:#}");

    let sent = herald_env(
        dir.path(),
        &[
            "send",
            "--source",
            "pact",
            "--query",
            &format!("?{VERIFICATION_QUERY}"),
            "--header",
            "X-Request-Id: broker-42",
            "-H",
            "User-Agent: Pact Broker",
            "--json",
        ],
        PACT_SECRETS,
    );
    assert!(sent.status.success(), "{}", stderr(&sent));
    let sent: Value = serde_json::from_slice(&sent.stdout).unwrap();
    let event_id = sent["event_id"].as_str().unwrap();
    let shown = herald_env(dir.path(), &["events", "show", event_id, "--json"], &[]);
    let event: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(event["payload"]["providerName"], "Billing");
    assert_eq!(
        event["payload"]["verificationResultUrl"],
        "https://broker.example.com/pacts/provider/Billing/consumer/Web/pact-version/5a0b2f8c/verification-results/1"
    );
    assert_eq!(event["headers"]["x-request-id"], "broker-42");
    assert_eq!(event["headers"]["user-agent"], "Pact Broker");

    // The window it opened is the one the next verification of that version would join.
    let again = herald_env(
        dir.path(),
        &[
            "send",
            "--source",
            "pact",
            "--query",
            VERIFICATION_QUERY,
            "--dry-run",
        ],
        &[],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("would join the open window"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn a_dry_run_prints_warnings_once_lists_windows_and_fails_when_a_delivery_would() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.toml"),
        r#"
[secrets]
github_webhook = "${env:GITHUB_WEBHOOK_SECRET}"

[sources.github]
kind = "github"
secrets = ["github_webhook"]

[rules.digest]
sources = ["github"]
events = ["pull_request.*"]
actions = ["note"]
window = { group = "pr-{{ event.number }}", quiet = "1m" }

[rules.broken]
sources = ["github"]
events = ["pull_request.*"]
actions = ["broken"]

[actions.note]
kind = "log"
message = "{{ window.events | length }} events"

[actions.broken]
kind = "http"
url = "http://127.0.0.1:9/broken"
body = '{"title": {{ event.pull_request.nope.deeper }}}'

[actions.unused]
kind = "log"
message = "never"
"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("pr.json"), pull_request(7)).unwrap();
    let send = [
        "send",
        "--source",
        "github",
        "--file",
        "pr.json",
        "-H",
        "X-GitHub-Event: pull_request",
    ];
    let dry = herald(dir.path(), &[&send[..], &["--dry-run"]].concat());
    assert_eq!(dry.status.code(), Some(1), "{}", stderr(&dry));
    let (text, errors) = (stdout(&dry), stderr(&dry));
    assert_eq!(
        errors
            .matches("action `unused` is not used by any rule")
            .count(),
        1,
        "{errors}"
    );
    assert!(text.contains("digest → note (windowed)"), "{text}");
    assert!(
        text.contains("would open a new window for group \"pr-7\""),
        "{text}"
    );
    assert!(text.contains("broken → broken (http)"), "{text}");
    assert!(
        text.contains("would fail: template error: `.nope.deeper` is undefined"),
        "{text}"
    );
    assert!(
        errors.contains("error: 1 deliveries would fail"),
        "{errors}"
    );

    let stored = herald(dir.path(), &send);
    assert!(stored.status.success(), "{}", stderr(&stored));
    let json = herald(dir.path(), &[&send[..], &["--dry-run", "--json"]].concat());
    assert_eq!(json.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["windows"][0]["group"], "pr-7");
    assert_eq!(report["windows"][0]["joins"]["events"], 1);
    let again = stdout(&herald(dir.path(), &[&send[..], &["--dry-run"]].concat()));
    assert!(
        again.contains("would join the open window") && again.contains("(1 events"),
        "{again}"
    );
}

#[test]
fn deliveries_show_is_readable_and_events_are_found_by_the_senders_delivery_id() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sink = runtime.block_on(Sink::start());
    let mut ok = answer(200);
    ok.headers.push(("content-type", "application/json".into()));
    ok.body = r#"{"ok":true,"received":{"count":1}}"#.into();
    sink.script([ok]);
    let dir = quickstart_dir();
    let sink_url = format!("{}/hook", sink.url);
    let vars = [
        ("HERALD_SINK_URL", sink_url.as_str()),
        ("HERALD_ADMIN_TOKEN", "dev-admin-token"),
    ];
    std::fs::write(dir.path().join("pr.json"), pull_request(12)).unwrap();
    let delivery_id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let sent = herald_env(
        dir.path(),
        &[
            "send",
            "--source",
            "github",
            "--file",
            "pr.json",
            "-H",
            "X-GitHub-Event: pull_request",
            "-H",
            &format!("X-GitHub-Delivery: {delivery_id}"),
            "--json",
        ],
        &vars,
    );
    assert!(sent.status.success(), "{}", stderr(&sent));
    let sent: Value = serde_json::from_slice(&sent.stdout).unwrap();
    let event_id = sent["event_id"].as_str().unwrap();

    let shown = herald_env(dir.path(), &["events", "show", delivery_id], &vars);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = stdout(&shown);
    assert!(text.contains(&format!("id         {event_id}")), "{text}");
    assert!(
        text.contains("\ndeliveries\n") && text.contains("forward-pull-requests → sink  pending"),
        "{text}"
    );
    let json: Value = serde_json::from_slice(
        &herald_env(
            dir.path(),
            &[
                "events",
                "show",
                delivery_id,
                "--json",
                "--source",
                "github",
            ],
            &vars,
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(json["id"], event_id);
    let of_event: Value = serde_json::from_slice(
        &herald_env(
            dir.path(),
            &["deliveries", "list", "--event", delivery_id, "--json"],
            &vars,
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(of_event.as_array().unwrap().len(), 1, "{of_event}");
    assert_eq!(of_event[0]["event_id"], event_id);
    let missing = herald_env(dir.path(), &["events", "show", "no-such-delivery"], &vars);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("no event no-such-delivery"),
        "{}",
        stderr(&missing)
    );

    // One real request, so the delivery has an attempt to show.
    let tested = herald_env(
        dir.path(),
        &["test", "forward-pull-requests", "--json"],
        &vars,
    );
    assert!(tested.status.success(), "{}", stderr(&tested));
    let tested: Value = serde_json::from_slice(&tested.stdout).unwrap();
    let delivery = tested["results"][0]["delivery_id"].as_str().unwrap();
    let detail = herald_env(dir.path(), &["deliveries", "show", delivery], &vars);
    assert!(detail.status.success(), "{}", stderr(&detail));
    let text = stdout(&detail);
    let port = sink.url.rsplit(':').next().unwrap();
    for part in [
        // The request: method and URL, one header a line, the JSON body pretty-printed.
        &format!(
            "  request:\n    POST http://127.0.0.1:{port}/[redacted]\n    content-type: application/json\n\n    {{\n"
        ),
        "\n      \"type\": \"pull_request.opened\"\n",
        "\n        \"number\": 12,\n",
        // The answer, pretty-printed too.
        "  response:\n    {\n      \"ok\": true,\n      \"received\": {\n        \"count\": 1\n      }\n    }",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
    drop(runtime);
}

#[test]
fn completions_source_in_bash_and_the_manual_renders() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_herald");
    let sourced = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; source <('{bin}' completions bash); complete -p herald"
        ))
        .output()
        .unwrap();
    assert!(sourced.status.success(), "{}", stderr(&sourced));
    assert!(
        stdout(&sourced).contains("_herald herald"),
        "{}",
        stdout(&sourced)
    );
    assert_eq!(stderr(&sourced), "");
    for (shell, check) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        let script = herald(dir.path(), &["completions", shell]);
        assert!(script.status.success(), "{}", stderr(&script));
        let text = stdout(&script);
        assert!(
            text.contains("herald") && text.contains("deliveries"),
            "{shell}"
        );
        // A syntax check with the shell itself, where it is installed.
        let file = dir.path().join(format!("herald.{shell}"));
        std::fs::write(&file, &script.stdout).unwrap();
        if let Ok(checked) = Command::new(check).arg("-n").arg(&file).output() {
            assert!(checked.status.success(), "{shell}: {}", stderr(&checked));
        }
    }

    let page = herald(dir.path(), &["man"]);
    assert!(page.status.success(), "{}", stderr(&page));
    let roff = stdout(&page);
    assert!(
        roff.lines().any(|line| line.starts_with(".TH herald 1 ")),
        "{roff}"
    );
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
        ".SH VERSION",
    ] {
        assert!(roff.contains(section), "{section} in:\n{roff}");
    }
    assert!(roff.contains("herald\\-completions(1)"), "{roff}");
    let sub = stdout(&herald(dir.path(), &["man", "events", "list"]));
    assert!(sub.contains(".TH herald-events-list 1 "), "{sub}");
    let written = herald(dir.path(), &["man", "--dir", "pages"]);
    assert!(written.status.success(), "{}", stderr(&written));
    for name in [
        "herald.1",
        "herald-send.1",
        "herald-events-show.1",
        "herald-windows-flush.1",
    ] {
        assert!(dir.path().join("pages").join(name).is_file(), "{name}");
    }
    // `man` itself renders it, where it is installed.
    let rendered = Command::new("man")
        .args(["-l", "-"])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .stdin(std::fs::File::open(dir.path().join("pages/herald.1")).unwrap())
        .output();
    if let Ok(rendered) = rendered {
        assert!(rendered.status.success(), "{}", stderr(&rendered));
        let text = stdout(&rendered);
        assert!(
            text.contains("SYNOPSIS") && text.contains("herald-serve(1)"),
            "{text}"
        );
    }

    let version = stdout(&herald(dir.path(), &["--version"]));
    let rest = version
        .strip_prefix(&format!("herald {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("{version:?}"));
    let (commit, date) = rest.split_once(' ').unwrap();
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{version}"
    );
    assert!(
        date.len() == 10 && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
        "{version}"
    );
}
