//! `herald poll SOURCE --once` and `--since/--until` through the binary, and each poller's
//! health in `herald status`, `/api/status` and `/metrics`.

use super::*;
use crate::cli::{herald, stdout};
use crate::fakes::workos::FakeWorkos;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// Run `herald ARGS` in `dir` off the runtime, so the fake keeps answering.
async fn run(dir: &Path, args: &[&str]) -> Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        herald(&dir, &args)
    })
    .await
    .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn status(dir: &Path) -> Value {
    let output = run(dir, &["status", "--json"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_once_and_a_backfill_from_the_command_line() {
    let workos = FakeWorkos::start(KEY).await;
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    workos.set_clock(at("2024-09-06T18:03:05Z"));
    let old = workos.publish_entity("user.created", "user_1");
    workos.set_clock(at("2024-09-06T19:00:00Z"));
    let first = workos.publish_entity("organization.created", "org_1");
    let second = workos.publish_entity("organization.updated", "org_1");
    let dir = tempfile::tempdir().unwrap();
    let text = config(&workos, "2024-09-06T18:30:00Z").replace("{SINK}", "http://127.0.0.1:9");
    std::fs::write(dir.path().join("herald.toml"), text).unwrap();

    let once = run(dir.path(), &["poll", "workos", "--once"]).await;
    assert!(once.status.success(), "{}", stderr(&once));
    assert_eq!(
        stdout(&once).trim(),
        format!("polled `workos`: 1 page(s), 2 item(s) (2 new); cursor {second}")
    );
    assert_eq!(
        status(dir.path()).await["pollers"][0]["cursor"],
        second.as_str()
    );

    // The hour before the start, from A.6 3: range_start and range_end, no after.
    let backfill = run(
        dir.path(),
        &[
            "poll",
            "workos",
            "--since",
            "2024-09-06T18:03:00Z",
            "--until",
            "2024-09-06T18:04:00Z",
        ],
    )
    .await;
    assert!(backfill.status.success(), "{}", stderr(&backfill));
    let said = stdout(&backfill);
    assert!(
        said.starts_with("`workos` from 2024-09-06T18:03:00.000Z to 2024-09-06T18:04:00.000Z: 1 page(s), 1 item(s): 1 new, 0 already stored"),
        "{said}"
    );
    assert!(said.contains("the live cursor is unchanged"), "{said}");
    let call = workos.calls().last().unwrap().clone();
    assert_eq!(
        call.param("range_start").as_deref(),
        Some("2024-09-06T18:03:00.000Z")
    );
    assert_eq!(
        call.param("range_end").as_deref(),
        Some("2024-09-06T18:04:00.000Z")
    );
    assert!(!call.has("after"));
    let report = status(dir.path()).await;
    assert_eq!(report["pollers"][0]["cursor"], second.as_str());
    assert_eq!(report["pollers"][0]["last_items"], 2);

    // Everything again, as JSON: all stored already; nothing is processed twice.
    let again = run(
        dir.path(),
        &[
            "poll",
            "workos",
            "--since",
            "2024-09-06T00:00:00Z",
            "--json",
        ],
    )
    .await;
    assert!(again.status.success(), "{}", stderr(&again));
    let again: Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(again["progress"]["items"], 3);
    assert_eq!(again["progress"]["duplicates"], 3);
    assert_eq!(again["progress"]["stored"], 0);
    let events = run(
        dir.path(),
        &["events", "list", "--source", "workos", "--json"],
    )
    .await;
    let events: Value = serde_json::from_str(&stdout(&events)).unwrap();
    let mut ids: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["dedup_key"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![old.as_str(), first.as_str(), second.as_str()]);

    // The table, and a refused key said plainly with the cursor kept.
    let table = run(dir.path(), &["status"]).await;
    let table = stdout(&table);
    assert!(table.contains("pollers"), "{table}");
    assert!(table.contains("workos"), "{table}");
    workos.rotate_key("sk_other");
    let refused = run(dir.path(), &["poll", "workos", "--once"]).await;
    assert_eq!(refused.status.code(), Some(1));
    let said = stdout(&refused);
    assert!(
        said.contains("polling `workos` failed after 0 page(s)") && said.contains("HTTP 401"),
        "{said}"
    );
    assert!(
        said.contains(&format!("the cursor stays at {second}")),
        "{said}"
    );

    let wrong = run(dir.path(), &["poll", "apply", "--once"]).await;
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("unknown source `apply`"),
        "{}",
        stderr(&wrong)
    );
    let neither = run(dir.path(), &["poll", "workos"]).await;
    assert!(!neither.status.success());
}

/// `/api/status` and `/metrics` show each poller's last poll, last success, lag, items
/// and last error.
#[tokio::test]
async fn status_and_metrics_show_the_pollers_health() {
    let workos = FakeWorkos::start(KEY).await;
    let (app, _sink) = spawn(&workos, "now").await;
    workos.publish_entity("user.created", "user_1");
    poll_now(&app).await;
    app.advance(90.0);
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
    let poller = &status["pollers"][0];
    assert_eq!(poller["source"], "workos");
    assert_eq!(poller["url"], format!("{}/events", workos.url));
    assert_eq!(poller["last_items"], 1);
    assert_eq!(poller["lag_seconds"], 90);
    assert_eq!(poller["failures"], 0);
    assert_eq!(poller["polling"], false);
    assert_eq!(poller["last_success_at"], "2026-11-22T10:00:00Z");
    assert_eq!(poller["next_poll_at"], "2026-11-22T10:01:00Z");
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "herald_poller_lag_seconds{source=\"workos\"} 90",
        "herald_poller_last_items{source=\"workos\"} 1",
        "herald_poller_last_success_timestamp_seconds{source=\"workos\"}",
        "herald_poller_items_total{source=\"workos\"}",
        "# HELP herald_poller_lag_seconds ",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}
