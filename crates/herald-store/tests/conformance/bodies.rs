//! Large attempt bodies: a rendered request and a response of several KiB read back as
//! they were written; SQLite keeps them as zstd frames (migration 0013) and still reads
//! the text of attempts stored before.

use crate::fixtures::*;
use crate::specific::sqlite_at_schema;
use herald_store::SharedStore;
use herald_store::model::*;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// A request as the `http` action records it: the body as sent, a forwarded payload.
fn large_request() -> serde_json::Value {
    let commits: Vec<String> = (0..120)
        .map(|n| format!("commit {n}: fix the retry of a \"429\" answer 🚀\n\\ done"))
        .collect();
    let body = json!({ "commits": commits, "nul": "\u{0}" }).to_string();
    json!({ "requests": [{
        "method": "POST",
        "url": "https://hooks.example/x",
        "headers": { "content-type": "application/json" },
        "body": body,
    }]})
}

fn large_response() -> String {
    format!("{{\"ok\":true,\"echo\":\"{}\"}}", "é and ü, ".repeat(500))
}

/// Records one attempt with `request` and `response`; returns the delivery's attempts'
/// (request, response).
async fn round_trip(
    store: &SharedStore,
    request: Option<serde_json::Value>,
    response: Option<String>,
) -> Vec<(Option<serde_json::Value>, Option<String>)> {
    let id = seed_due(store, &[at(0)]).await[0];
    let claimed = store.claim_ids(&[id], &claim(at(1), 1)).await.unwrap();
    let mut done = record(&claimed[0], NextStep::Succeeded, at(2));
    done.request = request.map(JsonText::from);
    done.response_body = response;
    assert!(store.complete_attempt(&done).await.unwrap());
    let attempts = store.list_attempts(id).await.unwrap();
    attempts
        .into_iter()
        .map(|a| (a.request, a.response_body))
        .collect()
}

pub async fn large_attempt_bodies_round_trip(store: SharedStore) {
    let (request, response) = (large_request(), large_response());
    assert!(request.to_string().len() > 4096 && response.len() > 4096);
    let cases = [
        (Some(request.clone()), Some(response.clone())),
        (Some(request), None),
        (None, Some(response)),
        (Some(json!({ "log": "short" })), Some("ok".to_string())),
        (None, None),
    ];
    for (request, response) in cases {
        let read = round_trip(&store, request.clone(), response.clone()).await;
        assert_eq!(read, vec![(request, response)]);
    }
}

/// The columns a SQLite attempt is kept in: (request text, request frame, response text,
/// response frame), each as present or not.
async fn sqlite_columns(pool: &sqlx::SqlitePool, id: &str) -> (bool, bool, bool, bool) {
    sqlx::query_as(
        "SELECT request IS NOT NULL, request_zstd IS NOT NULL,
             response_body IS NOT NULL, response_zstd IS NOT NULL
         FROM attempts WHERE delivery_id = ?1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn sqlite_compresses_large_attempt_bodies_and_reads_older_text() {
    let (_dir, store, pool) = sqlite_at_schema(12).await;
    // An attempt stored as text before migration 0013.
    let old = Uuid::now_v7().to_string();
    let old_request = large_request().to_string();
    sqlx::query(
        "INSERT INTO deliveries (id, rule, action, idempotency_key, status, next_attempt_at,
             created_at, updated_at, attempts)
         VALUES (?1, 'r', 'http', 'old', 'succeeded', 0, 0, 0, 1);
         INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome,
             status_code, request, response_body, action)
         VALUES (?1, 1, 0, 5, 'success', 200, ?2, ?3, 'http')",
    )
    .bind(&old)
    .bind(&old_request)
    .bind(large_response())
    .execute(&pool)
    .await
    .unwrap();
    let store: SharedStore = Arc::new(store);
    store.migrate().await.unwrap();
    let attempts = store.list_attempts(old.parse().unwrap()).await.unwrap();
    assert_eq!(attempts[0].request, Some(large_request()));
    assert_eq!(attempts[0].response_body, Some(large_response()));

    let large = round_trip(&store, Some(large_request()), Some(large_response())).await;
    assert_eq!(large, vec![(Some(large_request()), Some(large_response()))]);
    let short = round_trip(&store, Some(json!({ "log": "x" })), Some("ok".into())).await;
    assert_eq!(short[0].1.as_deref(), Some("ok"));
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT delivery_id FROM attempts WHERE delivery_id <> ?1 ORDER BY started_at, delivery_id",
    )
    .bind(&old)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut kept = Vec::new();
    for (id,) in &rows {
        kept.push(sqlite_columns(&pool, id).await);
    }
    kept.sort();
    // The short attempt as text; the large one as frames only.
    assert_eq!(
        kept,
        vec![(false, true, false, true), (true, false, true, false)]
    );
    assert_eq!(
        sqlite_columns(&pool, &old).await,
        (true, false, true, false)
    );
}
