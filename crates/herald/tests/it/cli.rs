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
