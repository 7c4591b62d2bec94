//! `kill -9` in the middle of a load loses nothing that was acknowledged; a clean stop
//! leaves only the database file.

use crate::support::*;
use herald_store::Store;
use herald_store::model::{DeliveryQuery, EventQuery};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[secrets]
github = "It's a Secret to Everybody"

[sources.github]
kind = "github"
secrets = ["github"]

[rules.forward]
sources = ["github"]
actions = ["sink"]

[actions.sink]
kind = "http"
url = "{SINK}/hook"
body = '{"delivery": {{ meta.dedup_key }}}'
timeout = "1s"
retry = { schedule = ["100ms", "200ms", "500ms", "1s", "1s", "1s", "1s", "1s"], jitter = 0 }

[delivery]
lease = "2m"
poll_interval = "100ms"
"#;

/// A child process killed when dropped, so a failing test leaves no server behind.
pub(crate) struct Herald(Child);

impl Herald {
    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM, as a service manager stops it; its exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(signalled.success(), "kill -TERM failed");
        self.0.wait().unwrap()
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Start `herald serve` on a free port and wait until it listens.
pub(crate) fn start(dir: &Path) -> (Herald, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "serve",
            "--config",
            "herald.toml",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env("HERALD_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("herald exited before listening")
            .unwrap();
        let log: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if log["fields"]["message"] == "herald is listening" {
            break log["fields"]["address"].as_str().unwrap().to_string();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Herald(child), address)
}

/// A temp dir holding `CONFIG` for `sink`, and herald serving from it.
fn start_with_sink(sink: &Sink) -> (tempfile::TempDir, Herald, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("herald.toml"),
        CONFIG.replace("{SINK}", &sink.url),
    )
    .unwrap();
    let (child, address) = start(dir.path());
    (dir, child, address)
}

/// The store herald wrote in `dir`, opened after it stopped.
async fn reopen(dir: &Path) -> herald_store::sqlite::SqliteStore {
    herald_store::sqlite::SqliteStore::open(&dir.join("herald.db"), Default::default())
        .await
        .unwrap()
}

/// A delivery in flight when its process is killed is sent again by the restarted process
/// within seconds: the dead process stopped beating, so its 2-minute lease is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_process_in_flight_delivery_is_taken_over_within_seconds() {
    let sink = Sink::start().await;
    // The first request hangs past the kill; the one after the takeover is answered.
    sink.script([Answer {
        delay: Duration::from_secs(60),
        ..answer(200)
    }]);
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG
        .replace("{SINK}", &sink.url)
        .replace("timeout = \"1s\"", "timeout = \"90s\"");
    std::fs::write(dir.path().join("herald.toml"), config).unwrap();
    let (mut child, address) = start(dir.path());
    let body = serde_json::json!({"ref": "refs/heads/main"}).to_string();
    let response = post_github(
        &client(),
        &format!("http://{address}"),
        ("push", "takeover-1"),
        &body,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(response.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.count() == 0 {
        assert!(Instant::now() < deadline, "the delivery never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill();
    let killed_at = Instant::now();
    let (mut child, _) = start(dir.path());
    while sink.count() < 2 {
        assert!(
            killed_at.elapsed() < Duration::from_secs(15),
            "the delivery was not taken over within 15 s of the kill"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = killed_at.elapsed();
    eprintln!("takeover: the delivery was sent again {took:?} after the kill");
    // Released because the dead process stopped beating, not at once.
    assert!(took >= Duration::from_secs(5), "{took:?}");
    child.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_load_loses_nothing_acknowledged() {
    let sink = Sink::start().await;
    // A destination slower than ingest, so the kill finds deliveries still to do: with a
    // fast one the outbox kept up and nothing was left to interrupt.
    sink.answer_after(Duration::from_millis(50));
    let (dir, mut child, address) = start_with_sink(&sink);

    let acknowledged: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let client = client();
    let mut load = Vec::new();
    for worker in 0..16 {
        let (client, address, acknowledged) =
            (client.clone(), address.clone(), acknowledged.clone());
        load.push(tokio::spawn(async move {
            for n in 0.. {
                let delivery = format!("w{worker}-{n}");
                let body =
                    serde_json::json!({"ref": "refs/heads/main", "n": n, "pad": "x".repeat(2000)})
                        .to_string();
                let sent = client
                    .post(format!("http://{address}/hooks/github"))
                    .header("x-github-event", "push")
                    .header("x-github-delivery", &delivery)
                    .header(
                        "x-hub-signature-256",
                        github_signature(GITHUB_SECRET, body.as_bytes()),
                    )
                    .body(body)
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                if response.status().is_success() {
                    let answer: serde_json::Value = response.json().await.unwrap();
                    let event_id = answer["event_id"].as_str().unwrap().to_string();
                    acknowledged.lock().unwrap().insert(delivery, event_id);
                }
            }
        }));
    }
    // Kill while requests and deliveries are in flight.
    while acknowledged.lock().unwrap().len() < 400 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill();
    let killed_at = Instant::now();
    for task in load {
        task.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let delivered_before_restart = sink.count();
    assert!(
        delivered_before_restart < acknowledged.len(),
        "the kill should interrupt deliveries too"
    );

    let (mut child, _) = start(dir.path());
    // The default 2-minute lease: the dead process's deliveries come back because it stopped
    // beating (10 s), not because their leases ran out.
    let deadline = killed_at + Duration::from_secs(15);
    let wanted: BTreeSet<&String> = acknowledged.keys().collect();
    loop {
        let seen: BTreeSet<String> = sink
            .received()
            .iter()
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["delivery"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let missing = wanted.iter().filter(|id| !seen.contains(**id)).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged deliveries had not reached the sink 15 s after the kill"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill();

    let store = reopen(dir.path()).await;
    let events = store
        .list_events(&EventQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut all_events = events.clone();
    let mut before = events.last().map(|e| e.id);
    while let Some(cursor) = before {
        let page = store
            .list_events(&EventQuery {
                limit: 1000,
                before: Some(cursor),
                ..Default::default()
            })
            .await
            .unwrap();
        before = page.last().map(|e| e.id);
        all_events.extend(page);
    }
    let stored: HashMap<String, String> = all_events
        .iter()
        .map(|e| (e.dedup_key.clone().unwrap(), e.id.to_string()))
        .collect();
    for (delivery, event_id) in &acknowledged {
        assert_eq!(
            stored.get(delivery),
            Some(event_id),
            "acknowledged {delivery} is not in the event log"
        );
    }
    // One delivery row per event: none duplicated by the restart.
    for event in &all_events {
        let rows = store
            .list_deliveries(&DeliveryQuery {
                event_id: Some(event.id),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            rows.len(),
            1,
            "event {} has {} delivery rows",
            event.id,
            rows.len()
        );
    }
    eprintln!(
        "crash test: {} acknowledged, {} stored, {} reached the sink before the kill, {} sink requests in all",
        acknowledged.len(),
        all_events.len(),
        delivered_before_restart,
        sink.count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_leaves_only_the_database_file() {
    let sink = Sink::start().await;
    let (dir, mut child, address) = start_with_sink(&sink);
    let body = serde_json::json!({"ref": "refs/heads/main"}).to_string();
    let response = post_github(
        &client(),
        &format!("http://{address}"),
        ("push", "clean-stop"),
        &body,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(response.status(), 202);
    let sidecar = |suffix: &str| dir.path().join(format!("herald.db{suffix}"));
    assert!(sidecar("-wal").exists(), "the log exists while serving");

    assert!(child.terminate().success());
    assert!(!sidecar("-wal").exists(), "the log was folded in on stop");
    assert!(!sidecar("-shm").exists());
    let events = reopen(dir.path())
        .await
        .list_events(&EventQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "the acknowledged event is in the file");
}
