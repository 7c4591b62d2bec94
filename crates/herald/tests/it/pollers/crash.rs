//! `kill -9` in the middle of a poll, then a restart: every item is stored exactly once,
//! with one delivery, and none is skipped; each is applied exactly once in the target
//! database (an SQLite file written by a `sql` action). The killed process's lease is
//! released by the new one's heartbeat once the dead one has been silent for 10 s.

use super::live::{applied_rows, apply_into_sqlite};
use super::*;
use crate::crash::start;
use crate::fakes::workos::FakeWorkos;
use herald_store::Store;
use herald_store::model::DeliveryQuery;
use serde_json::Value;
use std::time::{Duration, Instant};

const EVENTS: usize = 300;

/// The poller's cursor as `/api/status` shows it.
async fn cursor(http: &reqwest::Client, address: &str) -> Option<String> {
    let status: Value = http
        .get(format!("http://{address}/api/status"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    status["pollers"][0]["cursor"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poll_killed_midway_stores_every_item_once_after_a_restart() {
    let workos = FakeWorkos::start(KEY).await;
    let published: Vec<String> = (0..EVENTS)
        .map(|n| workos.publish_entity(TYPES[n % 9], &format!("entity_{n}")))
        .collect();
    // Pages of 50, each held 400 ms: a poll of 6 pages takes a few seconds.
    workos.hold(Duration::from_millis(400));
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = apply_into_sqlite(&config(&workos, "2000-01-01T00:00:00Z"))
        .replace("limit = \"100\"", "limit = \"50\"")
        .replace("interval = \"1m\"", "interval = \"1s\"")
        .replace("{SINK}", &sink.url);
    std::fs::write(dir.path().join("herald.toml"), text).unwrap();
    // The target's write lock is held while the first process runs, so the kill lands in
    // the poll and in no write of the target's own: a write cut between its commit and
    // herald recording it would be applied again (a delivery is at least once).
    let target = hold_write_lock(dir.path()).await;

    let (mut herald, _) = start(dir.path());
    let deadline = Instant::now() + Duration::from_secs(30);
    // Killed while its third page is on the way: two pages stored (or being stored).
    while workos.calls().len() < 3 {
        assert!(Instant::now() < deadline, "no poll started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    herald.kill();
    let before_restart = workos.calls().len();
    release(target).await;

    let (_herald, address) = start(dir.path());
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    while cursor(&http, &address).await.as_ref() != published.last() {
        assert!(
            Instant::now() < deadline,
            "the restarted process never caught up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The restart asked from a stored page's end: the id ending some page of 50.
    let calls = workos.calls();
    let resumed = &calls[before_restart];
    let after = resumed
        .param("after")
        .expect("a cursor was stored before the kill");
    let position = published.iter().position(|id| *id == after).unwrap();
    assert_eq!((position + 1) % 50, 0, "{after} ends a page");
    // Every item reaches the target (the first after the dead process's lease is
    // released), each applied once, in the API's order.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut applied = applied_rows(dir.path()).await;
    while applied.len() < EVENTS {
        assert!(
            Instant::now() < deadline,
            "{} of {EVENTS} items applied",
            applied.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        applied = applied_rows(dir.path()).await;
    }
    // One at a time, in order: with the last applied, every delivery before it is done.
    drop(_herald);
    let twice: Vec<_> = applied.iter().filter(|(_, n)| *n != 1).collect();
    assert_eq!(
        twice,
        Vec::<&(String, i64)>::new(),
        "applied more than once"
    );
    let ids: Vec<&String> = applied.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, published.iter().collect::<Vec<_>>(), "none skipped");

    let store =
        herald_store::sqlite::SqliteStore::open(&dir.path().join("herald.db"), Default::default())
            .await
            .unwrap();
    let mut stored = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_events(&herald_store::model::EventQuery {
                source: Some("workos".into()),
                before,
                limit: 500,
                ..Default::default()
            })
            .await
            .unwrap();
        let done = page.len() < 500;
        before = page.last().map(|e| e.id);
        stored.extend(page.into_iter().map(|e| e.dedup_key.unwrap()));
        if done {
            break;
        }
    }
    stored.reverse();
    assert_eq!(stored, published, "every item once, in order, none skipped");
    let deliveries = store
        .list_deliveries(&DeliveryQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(deliveries.len(), EVENTS, "one delivery per item");
    store.close().await;
}

/// A connection to `dir`'s `app.db` (made empty) holding its write lock: the action's
/// schema and writes wait on it.
async fn hold_write_lock(dir: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::{Connection, Executor};
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("app.db"))
        .create_if_missing(true);
    let mut connection = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    connection.execute("BEGIN IMMEDIATE").await.unwrap();
    connection
}

async fn release(mut connection: sqlx::SqliteConnection) {
    use sqlx::{Connection, Executor};
    connection.execute("ROLLBACK").await.unwrap();
    connection.close().await.unwrap();
}
