//! The `herald` binary: check, send (dry run and real), events, deliveries, replay.

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
