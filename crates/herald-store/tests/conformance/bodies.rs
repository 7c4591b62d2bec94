//! Large attempt bodies: a rendered request and a response of several KiB read back as
//! they were written; SQLite keeps them as zstd frames (migration 0013), a request made
//! from an event against the event's payload (0015), and still reads the text of attempts
//! stored before. PostgreSQL keeps a large request as a frame (0018), against the event's
//! payload when made from one (0019).

use crate::fixtures::*;
use crate::specific::sqlite_at_schema;
use herald_store::SharedStore;
use herald_store::model::*;
use serde_json::json;
use sqlx::Connection;
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

/// PostgreSQL keeps a large request as a zstd frame, not `jsonb` (migration 0018), and a
/// short one as `jsonb`; both read back.
#[tokio::test]
async fn postgres_compresses_large_requests() {
    let Some(db) = crate::harness::PgDb::new("postgres_compresses_large_requests").await else {
        return;
    };
    let large = round_trip(&db.store, Some(large_request()), Some(large_response())).await;
    assert_eq!(large, vec![(Some(large_request()), Some(large_response()))]);
    let short = round_trip(&db.store, Some(json!({ "log": "x" })), None).await;
    assert_eq!(short, vec![(Some(json!({ "log": "x" })), None)]);
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let kept: Vec<(bool, Option<i32>)> = sqlx::query_as(
        "SELECT request IS NOT NULL, length(request_zstd) FROM attempts ORDER BY started_at,
             length(request_zstd) NULLS FIRST",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let text_bytes = large_request().to_string().len() as i32;
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.contains(&(true, None)), "{kept:?}");
    assert!(
        kept.iter()
            .any(|&(json, frame)| !json && frame.is_some_and(|bytes| bytes * 3 < text_bytes)),
        "{kept:?} for {text_bytes} bytes of request"
    );
}

/// A payload of several KiB with what JSON text can hold: escapes, non-ASCII text, floats,
/// large integers.
fn large_payload() -> serde_json::Value {
    let commits: Vec<_> = (0..40)
        .map(|n| {
            json!({
                "id": format!("{:040x}", 0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(n + 1)),
                "message": format!("fix {n}: \"quoted\", tab\t, é 🚀 \\ done"),
                "score": 1.0 / (n as f64 + 3.0),
                "big": u64::MAX - n,
            })
        })
        .collect();
    json!({ "ref": "refs/heads/main", "commits": commits, "tiny": 1.3373050212352959e-307 })
}

/// An event with `payload` and one delivery, claimed; the attempt's record, made as the
/// executor makes it: the payload read back from the store, the request its text as sent.
async fn claimed_with_payload(
    store: &SharedStore,
    payload: serde_json::Value,
) -> (Uuid, AttemptRecord) {
    let mut event = event("github", None);
    event.payload = payload.into();
    let delivery = delivery(&event, "forward", "http");
    let ids = (event.id, delivery.id);
    store
        .append_events(&[item(event, vec![delivery])])
        .await
        .unwrap();
    let claimed = store.claim_ids(&[ids.1], &claim(at(1), 1)).await.unwrap();
    let mut done = record(&claimed[0], NextStep::Succeeded, at(2));
    let read = store.get_event(ids.0).await.unwrap().unwrap().payload;
    done.request = Some(forwarded(&read.to_string()).into());
    done.payload = Some(Arc::new(read.into()));
    (ids.1, done)
}

/// The `http` action's request for a body.
fn forwarded(body: &str) -> serde_json::Value {
    json!({ "requests": [{
        "method": "POST",
        "url": "https://hooks.example/x",
        "headers": { "content-type": "application/json" },
        "body": body,
    }]})
}

pub async fn requests_made_from_payloads_round_trip(store: SharedStore) {
    let small = json!({ "ref": "main", "n": 0.1 });
    for payload in [large_payload(), small] {
        let (id, done) = claimed_with_payload(&store, payload).await;
        let expected = done.request.as_ref().map(JsonText::decode);
        assert!(store.complete_attempt(&done).await.unwrap());
        let attempts = store.list_attempts(id).await.unwrap();
        assert_eq!(attempts[0].request, expected);
    }
    // A request that does not repeat its event's payload.
    let (id, mut done) = claimed_with_payload(&store, large_payload()).await;
    done.request = Some(large_request().into());
    assert!(store.complete_attempt(&done).await.unwrap());
    let attempts = store.list_attempts(id).await.unwrap();
    assert_eq!(attempts[0].request, Some(large_request()));
}

#[tokio::test]
async fn sqlite_keeps_a_forwarded_payload_once() {
    let (_dir, store, pool) = sqlite_at_schema(15).await;
    let store: SharedStore = Arc::new(store);
    store.migrate().await.unwrap();
    let (id, done) = claimed_with_payload(&store, large_payload()).await;
    let request = done.request.clone().unwrap();
    assert!(store.complete_attempt(&done).await.unwrap());
    let (text, frame, against): (Option<String>, Option<Vec<u8>>, Vec<u8>) = sqlx::query_as(
        "SELECT request, request_zstd, request_against FROM attempts WHERE delivery_id = ?1",
    )
    .bind(id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((text, frame), (None, None));
    // The request alone compresses to several times this.
    assert!(
        against.len() < 300,
        "{} bytes for a request of {}",
        against.len(),
        request.as_str().len()
    );
    let attempts = store.list_attempts(id).await.unwrap();
    assert_eq!(attempts[0].request, Some(request.decode()));
}

/// A request kept against a payload the store no longer reads back as it was (here: the
/// record named another payload) reads as a note; the attempt's other fields as they were.
pub async fn a_request_against_another_payload_reads_as_a_note(store: SharedStore) {
    let (id, mut done) = claimed_with_payload(&store, large_payload()).await;
    done.payload = Some(Arc::new(json!({ "other": large_payload() }).into()));
    assert!(store.complete_attempt(&done).await.unwrap());
    let attempts = store.list_attempts(id).await.unwrap();
    let note = attempts[0].request.as_ref().unwrap()["unreadable"]
        .as_str()
        .unwrap();
    assert!(note.contains("event's payload"), "{note}");
    assert_eq!(attempts[0].status_code, Some(200));
    assert_eq!(attempts[0].response_body.as_deref(), Some("ok"));
}

/// PostgreSQL keeps a forwarded payload once too (migration 0019): the request is a frame
/// against the event's payload, neither `jsonb` nor a frame of its own.
#[tokio::test]
async fn postgres_keeps_a_forwarded_payload_once() {
    let Some(db) = crate::harness::PgDb::new("postgres_keeps_a_forwarded_payload_once").await
    else {
        return;
    };
    let (id, done) = claimed_with_payload(&db.store, large_payload()).await;
    let request = done.request.clone().unwrap();
    assert!(db.store.complete_attempt(&done).await.unwrap());
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let (text, frame, against): (bool, Option<Vec<u8>>, Vec<u8>) = sqlx::query_as(
        "SELECT request IS NOT NULL, request_zstd, request_against FROM attempts
         WHERE delivery_id = $1",
    )
    .bind(id)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((text, frame), (false, None));
    // The request alone compresses to several times this.
    assert!(
        against.len() < 300,
        "{} bytes for a request of {}",
        against.len(),
        request.as_str().len()
    );
    let attempts = db.store.list_attempts(id).await.unwrap();
    assert_eq!(attempts[0].request, Some(request.decode()));
}
