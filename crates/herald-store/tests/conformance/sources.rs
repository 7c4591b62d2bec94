//! A source's events at scale: the counts health reports, kept as events are written and
//! pruned (migration 0012), its newest event, and its events of one type paged newest
//! first.

use crate::fixtures::*;
use crate::harness::PgDb;
use crate::specific::{migrator, sqlite_at_schema};
use herald_store::model::*;
use herald_store::{SharedStore, Store};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// An event of `source` and `event_type` received at second `second`.
fn event_at(source: &str, event_type: &str, second: i64, key: Option<&str>) -> NewEvent {
    NewEvent {
        event_type: event_type.to_string(),
        received_at: at(second),
        ..event(source, key)
    }
}

/// Health's sources as (source, events, newest event's second).
async fn sources(store: &SharedStore) -> Vec<(String, i64, Option<i64>)> {
    let health = store.health().await.unwrap();
    health
        .sources
        .into_iter()
        .map(|s| {
            let newest = s.last_event_at.map(|t| (t - at(0)).num_seconds());
            (s.source, s.events, newest)
        })
        .collect()
}

fn expected(rows: &[(&str, i64, i64)]) -> Vec<(String, i64, Option<i64>)> {
    rows.iter()
        .map(|&(source, events, newest)| (source.to_string(), events, Some(newest)))
        .collect()
}

pub async fn source_counts_follow_appends_and_skip_duplicates(store: SharedStore) {
    assert!(sources(&store).await.is_empty());
    // One batch holding a repeated key, then a batch repeating a stored key.
    let first = vec![
        item(event_at("github", "push", 10, Some("a")), vec![]),
        item(event_at("stripe", "invoice.paid", 30, Some("a")), vec![]),
        item(event_at("github", "push", 20, Some("b")), vec![]),
        item(event_at("github", "pr", 40, Some("a")), vec![]),
        item(event_at("github", "issues", 5, None), vec![]),
    ];
    store.append_events(&first).await.unwrap();
    let second = vec![
        item(event_at("github", "push", 50, Some("b")), vec![]),
        item(event_at("Stripe", "invoice.paid", 60, None), vec![]),
    ];
    store.append_events(&second).await.unwrap();
    assert_eq!(
        sources(&store).await,
        expected(&[("Stripe", 1, 60), ("github", 3, 20), ("stripe", 1, 30)])
    );
}

pub async fn source_counts_and_newest_stay_right_under_pruning(store: SharedStore) {
    // github: an old event a pending delivery keeps, and two newer ones nothing keeps;
    // slack: old events only; stripe: one recent event.
    let kept = event_at("github", "push", 10, None);
    let pending = delivery(&kept, "notify", "slack");
    let batch = vec![
        item(kept, vec![pending]),
        item(event_at("github", "push", 20, None), vec![]),
        item(event_at("github", "pr", 30, None), vec![]),
        item(event_at("slack", "message", 15, None), vec![]),
        item(event_at("slack", "message", 25, None), vec![]),
        item(event_at("stripe", "invoice.paid", 1_000, None), vec![]),
    ];
    store.append_events(&batch).await.unwrap();
    assert_eq!(
        sources(&store).await,
        expected(&[("github", 3, 30), ("slack", 2, 25), ("stripe", 1, 1_000)])
    );
    let policy = PrunePolicy {
        events_before: Some(at(500)),
        ..PrunePolicy::default()
    };
    assert_eq!(store.prune(&policy).await.unwrap().events, 4);
    // github's newest went while an older one stays; slack has no events left.
    assert_eq!(
        sources(&store).await,
        expected(&[("github", 1, 10), ("stripe", 1, 1_000)])
    );
    store
        .append_events(&[item(event_at("slack", "message", 2_000, None), vec![])])
        .await
        .unwrap();
    assert_eq!(
        sources(&store).await,
        expected(&[("github", 1, 10), ("slack", 1, 2_000), ("stripe", 1, 1_000)])
    );
}

/// Many writers at once, each appending batches of events of several sources in its own
/// order (on PostgreSQL, concurrent transactions): every event counted, none twice.
pub async fn concurrent_appends_count_every_event(store: SharedStore) {
    const WRITERS: usize = 8;
    const BATCHES: usize = 5;
    let names = ["a", "b", "c", "d"];
    let mut runs = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        runs.push(tokio::spawn(async move {
            for round in 0..BATCHES {
                // Sources in a different order for each writer and round.
                let batch: Vec<_> = (0..names.len())
                    .map(|n| names[(n + writer + round) % names.len()])
                    .flat_map(|source| {
                        let second = (writer * 100 + round) as i64;
                        [(source, second), (source, second + 1)]
                    })
                    .map(|(source, second)| item(event_at(source, "t", second, None), vec![]))
                    .collect();
                store.append_events(&batch).await.unwrap();
            }
        }));
    }
    for run in runs {
        run.await.unwrap();
    }
    let counted: BTreeMap<String, i64> = sources(&store)
        .await
        .into_iter()
        .map(|(source, events, _)| (source, events))
        .collect();
    let each = (WRITERS * BATCHES * 2) as i64;
    let want: BTreeMap<String, i64> = names.iter().map(|s| (s.to_string(), each)).collect();
    assert_eq!(counted, want);
}

/// A source's events of one type come newest id first, a page at a time, whatever other
/// types and sources lie between them.
pub async fn events_of_a_source_and_type_page_newest_first(store: SharedStore) {
    let kinds = [("github", "push"), ("github", "pr"), ("slack", "push")];
    let mut pushes: Vec<Uuid> = Vec::new();
    let batch: Vec<_> = (0..30)
        .map(|n| {
            let (source, event_type) = kinds[n % kinds.len()];
            // Received out of id order: the list follows ids.
            let new = event_at(source, event_type, (30 - n) as i64, None);
            if (source, event_type) == ("github", "push") {
                pushes.push(new.id);
            }
            item(new, vec![])
        })
        .collect();
    store.append_events(&batch).await.unwrap();
    pushes.reverse();
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let query = event_query(|q| {
            (q.source, q.event_type) = (Some("github".into()), Some("push".into()));
            (q.limit, q.before) = (4, before);
        });
        let page: Vec<Uuid> = store
            .list_events(&query)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        let Some(&last) = page.last() else { break };
        before = Some(last);
        pages.extend(page);
    }
    assert_eq!(pages, pushes);
}

// Backend-specific: the upgrade counts the events stored before it, and SQLite's plans.

async fn assert_counted_after_upgrade(store: &SharedStore) {
    store.migrate().await.unwrap();
    store
        .append_events(&[item(event_at("github", "push", 50, None), vec![])])
        .await
        .unwrap();
    assert_eq!(
        sources(store).await,
        expected(&[("github", 3, 50), ("slack", 1, 7)])
    );
}

const OLD_EVENTS: [(&str, i64); 3] = [("github", 10), ("github", 20), ("slack", 7)];

#[tokio::test]
async fn sqlite_upgrade_counts_the_events_stored_before() {
    let (_dir, store, pool) = sqlite_at_schema(11).await;
    for (source, second) in OLD_EVENTS {
        sqlx::query(
            "INSERT INTO events (id, source, event_type, received_at, headers, payload)
             VALUES (?1, ?2, 'push', ?3, '{}', '{}')",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(source)
        .bind(at(second).timestamp_millis())
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    assert_counted_after_upgrade(&(Arc::new(store) as SharedStore)).await;
}

#[tokio::test]
async fn postgres_upgrade_counts_the_events_stored_before() {
    let Some(db) = PgDb::empty("postgres_upgrade_counts_the_events_stored_before").await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    migrator("postgres")
        .await
        .run_to(11, &mut conn)
        .await
        .unwrap();
    for (source, second) in OLD_EVENTS {
        sqlx::query(
            "INSERT INTO events (id, source, event_type, received_at, headers, payload)
             VALUES ($1, $2, 'push', $3, '{}', '{}')",
        )
        .bind(Uuid::now_v7())
        .bind(source)
        .bind(at(second))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();
    assert_counted_after_upgrade(&db.store).await;
}

/// The plans SQLite picks without statistics (herald never runs ANALYZE): a source's
/// events of one type read in id order from their index, no sort; health's newest event
/// per source one search of `events_source_received_idx`.
#[tokio::test]
async fn sqlite_source_queries_read_their_indexes() {
    let (_dir, store, pool) = sqlite_at_schema(i64::MAX).await;
    store.migrate().await.unwrap();
    let plan = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            rows.into_iter()
                .map(|(.., detail)| detail)
                .collect::<Vec<_>>()
        }
    };
    let list = plan(
        "SELECT * FROM events WHERE source = 'github' AND event_type = 'push'
         AND id < 'x' ORDER BY id DESC LIMIT 50",
    )
    .await;
    assert_eq!(
        list,
        [
            "SEARCH events USING INDEX events_source_type_id_idx (source=? AND event_type=? AND id<?)"
        ]
    );
    // The dashboard's lists (migration 0014): a source's events in id order from their
    // index, the chart's times from an index on the time alone; succeeded deliveries (most
    // of them) newest first by id, dead ones (few) from the status index, then sorted.
    let cases: [(&str, &[&str]); 6] = [
        (
            "SELECT * FROM deliveries WHERE rule = 'r' AND id < 'x' ORDER BY id DESC LIMIT 50",
            &["SEARCH deliveries USING INDEX deliveries_rule_id_idx (rule=? AND id<?)"],
        ),
        (
            "SELECT * FROM events WHERE source = 'github' AND id < 'x' ORDER BY id DESC LIMIT 50",
            &["SEARCH events USING INDEX events_source_id_idx (source=? AND id<?)"],
        ),
        (
            "SELECT * FROM deliveries WHERE +status = 'succeeded' AND action = 'a' AND id < 'x'
             ORDER BY id DESC LIMIT 50",
            &["SEARCH deliveries USING INDEX sqlite_autoindex_deliveries_1 (id<?)"],
        ),
        (
            "SELECT * FROM deliveries WHERE status = 'dead' ORDER BY id DESC LIMIT 50",
            &[
                "SEARCH deliveries USING INDEX deliveries_status_next_attempt_idx (status=?)",
                "USE TEMP B-TREE FOR ORDER BY",
            ],
        ),
        (
            "SELECT received_at FROM events WHERE received_at >= 5 ORDER BY received_at DESC LIMIT 9",
            &["SEARCH events USING COVERING INDEX events_received_at_idx (received_at>?)"],
        ),
        (
            "SELECT created_at FROM deliveries WHERE created_at >= 5 ORDER BY created_at DESC LIMIT 9",
            &["SEARCH deliveries USING COVERING INDEX deliveries_created_idx (created_at>?)"],
        ),
    ];
    for (sql, expected) in cases {
        assert_eq!(plan(sql).await, expected, "{sql}");
    }
    let health = plan(
        "SELECT c.source, CAST(SUM(c.events) AS BIGINT) AS events,
             (SELECT MAX(e.received_at) FROM events e WHERE e.source = c.source)
         FROM event_counts c GROUP BY c.source HAVING SUM(c.events) > 0",
    )
    .await;
    assert!(
        health
            .iter()
            .any(|step| step
                == "SEARCH e USING COVERING INDEX events_source_received_idx (source=?)"),
        "{health:?}"
    );
    assert!(
        !health.iter().any(|step| step.contains("SCAN e")),
        "{health:?}"
    );
}
