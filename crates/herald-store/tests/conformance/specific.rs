//! Behaviour that depends on the backend: opening, URLs, concurrent first migrations, and
//! corrupt rows.

use crate::events::stored_event;
use crate::fixtures::*;
use crate::harness::{PgDb, pg_url};
use herald_store::model::EventQuery;
use herald_store::postgres::{PgOptions, PgStore};
use herald_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use herald_store::{SharedStore, Store, StoreError};
use sqlx::{Connection, Executor, SqliteConnection};
use std::path::Path;
use std::sync::Arc;

#[test]
fn sqlite_url_forms() {
    let path = SqliteStore::path_from_url;
    assert_eq!(
        path("sqlite:///var/lib/herald.db"),
        Path::new("/var/lib/herald.db")
    );
    assert_eq!(path("sqlite://data/herald.db"), Path::new("data/herald.db"));
    assert_eq!(path("sqlite:herald.db"), Path::new("herald.db"));
    assert_eq!(path("/tmp/herald.db"), Path::new("/tmp/herald.db"));
}

#[tokio::test]
async fn sqlite_connect_creates_file_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested/dir/herald.db");
    let store = herald_store::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    assert_eq!(store.backend(), "sqlite");
    store.migrate().await.unwrap();
    assert!(file.exists());
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_close_folds_the_log_into_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.db");
    let sidecar = |suffix: &str| dir.path().join(format!("herald.db{suffix}"));
    let store: SharedStore = Arc::new(
        SqliteStore::open(&file, SqliteOptions::default())
            .await
            .unwrap(),
    );
    store.migrate().await.unwrap();
    let stored = append(&store, item(event("github", Some("k")), vec![])).await;
    assert!(sidecar("-wal").exists(), "WAL mode keeps a log while open");
    store.close().await;
    assert!(
        !sidecar("-wal").exists(),
        "the log is folded in and removed"
    );
    assert!(!sidecar("-shm").exists());
    let reopened = SqliteStore::open(&file, SqliteOptions::default())
        .await
        .unwrap();
    let event = reopened.get_event(stored.event_id()).await.unwrap();
    assert_eq!(event.map(|event| event.id), Some(stored.event_id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_first_migrations_race() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.db");
    let options = SqliteOptions {
        synchronous: Synchronous::Normal,
        read_connections: 1,
    };
    let mut stores: Vec<SharedStore> = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(SqliteStore::open(&file, options).await.unwrap()));
    }
    assert_all_migrate(&stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_first_migrations_race() {
    let Some(db) = PgDb::empty("postgres_first_migrations_race").await else {
        return;
    };
    let mut stores: Vec<SharedStore> = vec![db.store.clone()];
    for _ in 0..3 {
        let options = PgOptions { max_connections: 2 };
        stores.push(Arc::new(
            PgStore::connect_with(db.options.clone(), options)
                .await
                .unwrap(),
        ));
    }
    assert_all_migrate(&stores).await;
}

/// Every store migrates the same fresh database at once; all succeed and the schema works.
async fn assert_all_migrate(stores: &[SharedStore]) {
    let runs: Vec<_> = stores
        .iter()
        .map(|store| {
            let store = store.clone();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    for run in runs {
        run.await.unwrap().expect("concurrent migrate");
    }
    let ids = seed_due(&stores[0], &[at(0)]).await;
    assert_eq!(claim_ids(&stores[1], at(1), 5).await, ids);
}

#[tokio::test]
async fn postgres_connect_by_url() {
    let Some(db) = PgDb::new("postgres_connect_by_url").await else {
        return;
    };
    let (base, _) = pg_url()
        .rsplit_once('/')
        .map(|(b, d)| (b.to_string(), d.to_string()))
        .unwrap();
    let name = db.options.get_database().unwrap();
    let store = herald_store::connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    assert_eq!(store.backend(), "postgres");
    store.ping().await.unwrap();
    store.migrate().await.unwrap();
}

#[tokio::test]
async fn sqlite_bad_status_is_corrupt() {
    let db = crate::harness::SqliteDb::new().await;
    let id = seed_due(&db.store, &[at(0)]).await[0];
    let file = db.dir.path().join("data/herald.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    conn.execute("PRAGMA ignore_check_constraints = ON")
        .await
        .unwrap();
    sqlx::query("UPDATE deliveries SET status = 'queued' WHERE id = ?1")
        .bind(id.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        db.store.get_delivery(id).await,
        Err(StoreError::Corrupt(_))
    ));
}

/// On a server built with lz4 (PostgreSQL 14 or later), TOAST compresses the payloads
/// kept as `jsonb` or text and attempts' bodies with it (migration 0017).
#[tokio::test]
async fn postgres_compresses_large_values_with_lz4() {
    let Some(db) = PgDb::new("postgres_compresses_large_values_with_lz4").await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let (lz4,): (bool,) = sqlx::query_as(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let methods: Vec<(String, String)> = sqlx::query_as(
        "SELECT attname::text, attcompression::text FROM pg_attribute
         WHERE attrelid IN ('events'::regclass, 'attempts'::regclass)
           AND attname IN ('payload', 'payload_text', 'request', 'response_body')
         ORDER BY attname",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let expected = if lz4 { "l" } else { "" };
    assert_eq!(methods.len(), 4);
    assert!(
        methods.iter().all(|(_, method)| method == expected),
        "{methods:?}"
    );
}

/// A large payload is stored as herald's zstd frame, not as `jsonb` (migration 0018), is
/// not compressed again by TOAST, and reads back as it went in; a small one stays `jsonb`.
#[tokio::test]
async fn postgres_stores_large_payloads_as_zstd_frames() {
    let Some(db) = PgDb::new("postgres_stores_large_payloads_as_zstd_frames").await else {
        return;
    };
    let mut large = event("github", Some("large"));
    large.payload = serde_json::json!({ "body": "a9f3 fix the retry ".repeat(400) }).into();
    let small = event("github", Some("small"));
    append(&db.store, item(large.clone(), vec![])).await;
    append(&db.store, item(small.clone(), vec![])).await;
    let stored = async |id| -> (bool, Option<i32>, Option<String>) {
        sqlx::query_as(
            "SELECT payload IS NULL, length(payload_zstd), pg_column_compression(payload_zstd)
             FROM events WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut sqlx::PgConnection::connect_with(&db.options).await.unwrap())
        .await
        .unwrap()
    };
    let (no_json, frame_bytes, recompressed) = stored(large.id).await;
    assert!(no_json);
    let text_bytes = large.payload.as_str().len() as i32;
    assert!(
        frame_bytes.is_some_and(|bytes| bytes * 10 < text_bytes),
        "{frame_bytes:?} bytes for {text_bytes}"
    );
    assert_eq!(recompressed, None);
    assert_eq!(stored(small.id).await, (false, None, None));
    for stored_one in [&large, &small] {
        assert_eq!(
            db.store.get_event(stored_one.id).await.unwrap(),
            Some(stored_event(stored_one))
        );
    }
    // What the payload search reads: the text, whichever column holds it.
    let payloads = db
        .store
        .event_payloads(&EventQuery::default())
        .await
        .unwrap();
    assert_eq!(payloads.len(), 2);
    for (id, text) in payloads {
        let expected = if id == large.id { &large } else { &small };
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, expected.payload.decode());
    }
}

#[tokio::test]
async fn postgres_bad_status_is_corrupt() {
    let Some(db) = PgDb::new("postgres_bad_status_is_corrupt").await else {
        return;
    };
    let id = seed_due(&db.store, &[at(0)]).await[0];
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    conn.execute("ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check")
        .await
        .unwrap();
    sqlx::query("UPDATE deliveries SET status = 'queued' WHERE id = $1")
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        db.store.get_delivery(id).await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn postgres_claim_skips_rows_locked_by_another_claimer() {
    let Some(db) = PgDb::new("postgres_claim_skips_rows_locked_by_another_claimer").await else {
        return;
    };
    let ids = seed_due(&db.store, &[at(1), at(2), at(3), at(4)]).await;
    // Another replica's claim transaction, still open, holding the two oldest rows.
    let mut other = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let mut tx = other.begin().await.unwrap();
    sqlx::query("SELECT id FROM deliveries WHERE id = ANY($1) FOR UPDATE")
        .bind(&ids[..2])
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    let claim = claim_ids(&db.store, at(10), 2);
    let claimed = tokio::time::timeout(std::time::Duration::from_secs(10), claim)
        .await
        .expect("claim waited for locked rows instead of skipping them");
    assert_eq!(claimed, ids[2..].to_vec());
    tx.rollback().await.unwrap();
}

/// The migrations of one backend as files, to stop short of the newest.
pub(crate) async fn migrator(backend: &str) -> sqlx::migrate::Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    sqlx::migrate::Migrator::new(dir).await.unwrap()
}

/// A SQLite store whose file is migrated up to `version` only, and a pool on that file to
/// write rows as that schema had them. The directory must outlive the test's use of both.
pub(crate) async fn sqlite_at_schema(
    version: i64,
) -> (tempfile::TempDir, SqliteStore, sqlx::SqlitePool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.db");
    let store = SqliteStore::open(&file, SqliteOptions::default())
        .await
        .unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    migrator("sqlite")
        .await
        .run_to(version, &pool)
        .await
        .unwrap();
    (dir, store, pool)
}

/// A delivery written under the first schema reads back with the defaults of the second,
/// and runs.
async fn assert_upgraded(store: &SharedStore, id: uuid::Uuid) {
    store.migrate().await.unwrap();
    let delivery = delivery_of(store, id).await;
    assert_eq!(delivery.ordering_key, None);
    assert_eq!((delivery.progress, delivery.failure_kind), (0, None));
    assert_eq!(delivery.window_id, None);
    assert_eq!(claim_ids(store, at(1), 5).await, vec![id]);
}

#[tokio::test]
async fn sqlite_upgrade_keeps_existing_deliveries() {
    let (_dir, store, pool) = sqlite_at_schema(1).await;
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO deliveries (id, rule, action, idempotency_key, status, next_attempt_at,
             created_at, updated_at)
         VALUES (?1, 'r', 'slack', 'old', 'pending', ?2, ?2, ?2)",
    )
    .bind(id.to_string())
    .bind(at(0).timestamp_millis())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_upgraded(&(Arc::new(store) as SharedStore), id).await;
}

#[tokio::test]
async fn postgres_upgrade_keeps_existing_deliveries() {
    let Some(db) = PgDb::empty("postgres_upgrade_keeps_existing_deliveries").await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    migrator("postgres")
        .await
        .run_to(1, &mut conn)
        .await
        .unwrap();
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO deliveries (id, rule, action, idempotency_key, status, next_attempt_at,
             created_at, updated_at)
         VALUES ($1, 'r', 'slack', 'old', 'pending', $2, $2, $2)",
    )
    .bind(id)
    .bind(at(0))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert_upgraded(&db.store, id).await;
}

/// A ref written under schema 0004 reads back with no group, and takes one when written.
async fn assert_refs_upgraded(store: &SharedStore) {
    store.migrate().await.unwrap();
    let old = store
        .get_ref("slack_message", "C1:1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (old.data, old.group),
        (serde_json::json!({ "ts": "1" }), None)
    );
    assert_eq!((old.created_at, old.updated_at), (at(0), at(1)));
    assert!(
        store
            .list_refs("slack_message", "g")
            .await
            .unwrap()
            .is_empty()
    );
    let id = seed_due(store, &[at(2)]).await[0];
    let claimed = store.claim_ids(&[id], &claim(at(2), 1)).await.unwrap();
    let mut done = record(&claimed[0], herald_store::model::NextStep::Succeeded, at(3));
    done.refs = vec![grouped_ref_write(
        "slack_message",
        "C1:1",
        "g",
        serde_json::json!(2),
    )];
    assert!(store.complete_attempt(&done).await.unwrap());
    let listed = store.list_refs("slack_message", "g").await.unwrap();
    let times: Vec<_> = listed
        .iter()
        .map(|r| (r.created_at, r.updated_at))
        .collect();
    assert_eq!(times, vec![(at(0), at(3))]);
}

#[tokio::test]
async fn sqlite_upgrade_gives_existing_refs_no_group() {
    let (_dir, store, pool) = sqlite_at_schema(4).await;
    sqlx::query(
        "INSERT INTO refs (kind, key, data, created_at, updated_at)
         VALUES ('slack_message', 'C1:1', '{\"ts\":\"1\"}', ?1, ?2)",
    )
    .bind(at(0).timestamp_millis())
    .bind(at(1).timestamp_millis())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_refs_upgraded(&(Arc::new(store) as SharedStore)).await;
}

#[tokio::test]
async fn postgres_upgrade_gives_existing_refs_no_group() {
    let Some(db) = PgDb::empty("postgres_upgrade_gives_existing_refs_no_group").await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    migrator("postgres")
        .await
        .run_to(4, &mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO refs (kind, key, data, created_at, updated_at)
         VALUES ('slack_message', 'C1:1', '{\"ts\":\"1\"}', $1, $2)",
    )
    .bind(at(0))
    .bind(at(1))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert_refs_upgraded(&db.store).await;
}

/// An attempt written under schema 0005 names no action; the upgrade fills it in, so
/// health still sees the action's failure and streak.
async fn assert_attempts_upgraded(store: &SharedStore) {
    store.migrate().await.unwrap();
    let health = store.health().await.unwrap();
    let [old] = health.actions.as_slice() else {
        panic!("one action expected: {health:?}");
    };
    assert_eq!(old.action, "slack");
    assert_eq!(old.last_failure_at, Some(at(1)));
    assert_eq!(old.last_failure_status, Some(500));
    assert_eq!((old.failure_streak, old.dead), (1, 1));
}

#[tokio::test]
async fn sqlite_upgrade_names_the_action_of_existing_attempts() {
    let (_dir, store, pool) = sqlite_at_schema(5).await;
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO deliveries (id, rule, action, idempotency_key, status, next_attempt_at,
             created_at, updated_at, attempts)
         VALUES (?1, 'r', 'slack', 'old', 'dead', ?2, ?2, ?2, 1);
         INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome,
             status_code)
         VALUES (?1, 1, ?3, 5, 'failed', 500)",
    )
    .bind(&id)
    .bind(at(0).timestamp_millis())
    .bind(at(1).timestamp_millis())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_attempts_upgraded(&(Arc::new(store) as SharedStore)).await;
}

/// SQLite keeps a large payload as a zstd frame and a small one as text; an event stored
/// as text before migration 0007 still reads back.
#[tokio::test]
async fn sqlite_compresses_large_payloads_and_reads_older_text() {
    let (_dir, store, pool) = sqlite_at_schema(6).await;
    let old = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO events (id, source, event_type, received_at, headers, payload)
         VALUES (?1, 'github', 'push', ?2, '{}', ?3)",
    )
    .bind(old.to_string())
    .bind(at(0).timestamp_millis())
    .bind(format!(r#"{{"old": "{}"}}"#, "x".repeat(4096)))
    .execute(&pool)
    .await
    .unwrap();
    let store: SharedStore = Arc::new(store);
    store.migrate().await.unwrap();
    let old_event = store.get_event(old).await.unwrap().unwrap();
    assert_eq!(old_event.payload["old"].as_str().map(str::len), Some(4096));

    let mut large = event("github", Some("large"));
    large.payload = serde_json::json!({ "body": "y".repeat(4096) }).into();
    let small = event("github", Some("small"));
    append(&store, item(large.clone(), vec![])).await;
    append(&store, item(small.clone(), vec![])).await;
    let stored = |id: uuid::Uuid| {
        sqlx::query_as::<_, (String, Option<Vec<u8>>)>(
            "SELECT payload, payload_zstd FROM events WHERE id = ?1",
        )
        .bind(id.to_string())
        .fetch_one(&pool)
    };
    let (text, frame) = stored(large.id).await.unwrap();
    assert_eq!(text, "");
    assert!(frame.unwrap().len() < 200);
    let (text, frame) = stored(small.id).await.unwrap();
    assert_eq!((text.as_str(), frame), (small.payload.as_str(), None));
    assert_eq!(
        store.get_event(large.id).await.unwrap(),
        Some(stored_event(&large))
    );
    pool.close().await;
}

#[tokio::test]
async fn postgres_upgrade_names_the_action_of_existing_attempts() {
    let Some(db) = PgDb::empty("postgres_upgrade_names_the_action_of_existing_attempts").await
    else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    migrator("postgres")
        .await
        .run_to(5, &mut conn)
        .await
        .unwrap();
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO deliveries (id, rule, action, idempotency_key, status, next_attempt_at,
             created_at, updated_at, attempts)
         VALUES ($1, 'r', 'slack', 'old', 'dead', $2, $2, $2, 1)",
    )
    .bind(id)
    .bind(at(0))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome,
             status_code)
         VALUES ($1, 1, $2, 5, 'failed', 500)",
    )
    .bind(id)
    .bind(at(1))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert_attempts_upgraded(&db.store).await;
}

#[tokio::test]
async fn sqlite_bad_failure_kind_is_corrupt() {
    let db = crate::harness::SqliteDb::new().await;
    let id = seed_due(&db.store, &[at(0)]).await[0];
    let file = db.dir.path().join("data/herald.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    // The schema refuses unknown kinds; only with checks off can one be stored.
    let set = "UPDATE deliveries SET failure_kind = 'timeout' WHERE id = ?1";
    let refused = sqlx::query(set)
        .bind(id.to_string())
        .execute(&mut conn)
        .await;
    assert!(refused.is_err());
    conn.execute("PRAGMA ignore_check_constraints = ON")
        .await
        .unwrap();
    sqlx::query(set)
        .bind(id.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        db.store.get_delivery(id).await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn postgres_refuses_unknown_failure_kind() {
    let Some(db) = PgDb::new("postgres_refuses_unknown_failure_kind").await else {
        return;
    };
    let id = seed_due(&db.store, &[at(0)]).await[0];
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let refused = sqlx::query("UPDATE deliveries SET failure_kind = 'timeout' WHERE id = $1")
        .bind(id)
        .execute(&mut conn)
        .await;
    assert!(refused.is_err());
}

/// The advisory lock a PostgreSQL claim takes on an ordering key (`KEY_LOCK_CLASS` in
/// `postgres/write.rs` is 0x6865_7264).
const KEY_LOCK: &str = "SELECT pg_advisory_xact_lock(1751478884, hashtext($1))";

#[tokio::test]
async fn postgres_claim_skips_a_key_another_claimer_holds() {
    let Some(db) = PgDb::new("postgres_claim_skips_a_key_another_claimer_holds").await else {
        return;
    };
    let keyed = [(Some("k"), at(1), at(1)), (Some("k"), at(2), at(1))];
    let ids = seed_keyed(&db.store, &keyed).await;
    let (older, newer) = (ids[0], ids[1]);
    let dead = herald_store::model::NextStep::Dead;
    assert_eq!(claim_and_complete(&db.store, at(5), dead).await, older);
    let replay = herald_store::model::ReplaySelector::Ids(vec![older]);
    // Another replica's claim, not yet committed, leasing the newer delivery: it holds the
    // key's lock, and its lease is invisible to other transactions.
    let mut other = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let mut tx = other.begin().await.unwrap();
    sqlx::query(KEY_LOCK)
        .bind("k")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE deliveries SET lease_owner = 'other', lease_token = $2, lease_until = $3
         WHERE id = $1",
    )
    .bind(newer)
    .bind(uuid::Uuid::now_v7())
    .bind(at(100))
    .execute(&mut *tx)
    .await
    .unwrap();
    // The older delivery, replayed meanwhile, looks like the free head of the key; the
    // claim must not take it while the key is locked.
    assert_eq!(db.store.replay(&replay, at(7)).await.unwrap(), vec![older]);
    let claim = claim_ids(&db.store, at(8), 5);
    let claimed = tokio::time::timeout(std::time::Duration::from_secs(10), claim)
        .await
        .expect("claim waited for the key lock instead of skipping the key");
    assert!(
        claimed.is_empty(),
        "claimed {claimed:?} while the key was held"
    );
    tx.commit().await.unwrap();
    // Now the lease is seen, and it blocks the key until it ends.
    assert!(claim_ids(&db.store, at(9), 5).await.is_empty());
    assert_eq!(claim_ids(&db.store, at(100), 5).await, vec![older]);
}

/// Every connection to PostgreSQL must have Nagle's algorithm off, or a small statement
/// waits up to 40 ms for the previous packet's ACK (a batch insert alternated between 50 ms
/// and 3 ms). sqlx-core sets `TCP_NODELAY` from 0.9.1 on (sqlx issue #4335, fix #4336);
/// 0.9.0 did not. Reading the option off the socket would take `unsafe` (forbidden here),
/// so the lock file is held to a release that sets it.
#[test]
fn postgres_connections_are_made_by_an_sqlx_that_turns_nagle_off() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
        .expect("Cargo.lock at the workspace root");
    let version = lock
        .split("[[package]]")
        .find(|package| package.contains("name = \"sqlx-core\""))
        .and_then(|package| package.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_string())
        .expect("sqlx-core in Cargo.lock");
    let parts: Vec<u64> = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    assert!(
        parts >= vec![0, 9, 1],
        "sqlx-core {version} leaves Nagle's algorithm on for PostgreSQL connections"
    );
}

/// A completion round is a prepared statement, so after five runs PostgreSQL keeps one
/// generic plan for it. Made in a new database, that plan must still look each delivery
/// up by an index, or every round scans the whole table once it has grown. The same holds
/// for the statement that writes appends and completions together.
#[tokio::test]
async fn postgres_completion_plan_cached_in_a_new_database_uses_an_index() {
    let Some(db) = PgDb::new("postgres_completion_plan_cached_in_a_new_database").await else {
        return;
    };
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    conn.execute("SET plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    let statements = [
        ("complete", herald_store::postgres::COMPLETE_STATEMENT, 18),
        (
            "batch",
            herald_store::postgres::BATCH_STATEMENT.as_str(),
            42,
        ),
    ];
    for (name, statement, arguments) in statements {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "PREPARE {name} AS {statement}"
        )))
        .await
        .unwrap();
        let parameters = vec!["NULL"; arguments].join(", ");
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN EXECUTE {name}({parameters})"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let plan = plan.join("\n");
        assert!(
            !plan.contains("Seq Scan on deliveries"),
            "the cached plan of {name} scans every delivery:\n{plan}"
        );
        assert!(
            plan.contains("Index Scan using deliveries_"),
            "the cached plan of {name} looks no delivery up by an index:\n{plan}"
        );
    }
}

/// Write one batch of an event under `key` and `claims` (none: one statement; some: a
/// transaction); what the append came to.
async fn append_one(
    store: &SharedStore,
    key: String,
    claims: &[herald_store::model::ClaimRequest],
) -> Result<Vec<herald_store::model::AppendOutcome>, StoreError> {
    let appends = [item(event("github", Some(&key)), vec![])];
    let batch = herald_store::model::WriteBatch {
        appends: &appends,
        claims,
        ..Default::default()
    };
    Ok(store.write(&batch).await?.appended)
}

/// The writer keeps its PostgreSQL connections between batches. One the server has closed
/// meanwhile (a restart, an idle timeout) is replaced: the next batch is written, not failed.
/// Both ways of writing a batch: one statement (an append alone; the statement finds the
/// connection closed and the batch is written again), and a transaction (an append with a
/// claim; its `BEGIN` finds it closed).
#[tokio::test]
async fn postgres_write_after_the_server_closed_the_writers_connection() {
    use herald_store::model::AppendOutcome;
    let Some(db) = PgDb::new("postgres_write_after_the_server_closed_the_writers_connection").await
    else {
        return;
    };
    let mut admin = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let claims = [claim(at(0), 1)];
    for (claims, path) in [(&[][..], "one statement"), (&claims[..], "transaction")] {
        let write = |key: String| append_one(&db.store, key, claims);
        write(format!("before {path}")).await.unwrap();
        let closed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert!(
            !closed.is_empty(),
            "{path}: no connection of the store to close"
        );
        let written = write(format!("after {path}")).await;
        assert!(
            matches!(written.as_deref(), Ok([AppendOutcome::Stored { .. }])),
            "{path}: {written:?}"
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(stored, 4);
}

/// A batch that fails rolls back and leaves its connection fit for the next: nothing of it
/// is stored, and the next batch on the kept connection commits. Both ways of writing a
/// batch: one statement (appends alone), and a transaction (an append with a claim).
#[tokio::test]
async fn postgres_writers_connection_serves_the_batch_after_a_failed_one() {
    let Some(db) = PgDb::new("postgres_writers_connection_serves_the_batch_after_a_failed").await
    else {
        return;
    };
    let mut admin = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let claims = [claim(at(0), 1)];
    for (claims, path) in [(&[][..], "one statement"), (&claims[..], "transaction")] {
        let write = |key: &str| append_one(&db.store, key.to_string(), claims);
        // Every insert into events fails until the constraint is dropped.
        admin
            .execute("ALTER TABLE events ADD CONSTRAINT no_events CHECK (false) NOT VALID")
            .await
            .unwrap();
        assert!(write(&format!("refused {path}")).await.is_err(), "{path}");
        admin
            .execute("ALTER TABLE events DROP CONSTRAINT no_events")
            .await
            .unwrap();
        write(&format!("accepted {path}")).await.unwrap();
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        assert_eq!(open, 0, "{path}: a connection was left in a transaction");
    }
    let keys: Vec<String> = sqlx::query_scalar("SELECT dedup_key FROM events ORDER BY dedup_key")
        .fetch_all(&mut admin)
        .await
        .unwrap();
    assert_eq!(keys, ["accepted one statement", "accepted transaction"]);
}

/// A batch of appends and completions is one statement that commits by itself; if the
/// connection is lost before its answer arrives, the writer cannot tell whether it
/// committed and writes it again. Written again after it did commit, it stores nothing
/// twice: an event with a key counts as stored, no delivery or attempt is added, and the
/// completion, its lease token gone, answers false. An event without a key conflicts with
/// itself by id: that batch fails and changes nothing.
#[tokio::test]
async fn postgres_batch_written_again_after_it_committed_stores_nothing_twice() {
    use herald_store::model::{AppendOutcome, NextStep, WriteBatch, WriteResults};
    let Some(db) = PgDb::new("postgres_batch_written_again_after_it_committed").await else {
        return;
    };
    let first = event("github", Some("first"));
    let to_complete = delivery(&first, "rule", "log");
    db.store
        .append_events(&[item(first, vec![to_complete])])
        .await
        .unwrap();
    let claimed = db.store.claim_due(&claim(at(0), 10)).await.unwrap();
    let keyed = event("github", Some("keyed"));
    let appends = [item(keyed.clone(), vec![delivery(&keyed, "rule", "log")])];
    let completions = [record(&claimed[0], NextStep::Succeeded, at(1))];
    let batch = WriteBatch {
        appends: &appends,
        completions: &completions,
        ..WriteBatch::default()
    };
    let outcomes = |results: WriteResults| {
        let stored = matches!(results.appended[..], [AppendOutcome::Stored { event_id }]
            if event_id == keyed.id);
        (stored, results.completed)
    };
    let once = db.store.write(&batch).await.unwrap();
    assert_eq!(outcomes(once), (true, vec![true]));
    let again = db.store.write(&batch).await.unwrap();
    assert_eq!(outcomes(again), (true, vec![false]));
    let unkeyed = [item(event("github", None), vec![])];
    let unkeyed = WriteBatch {
        appends: &unkeyed,
        ..WriteBatch::default()
    };
    db.store.write(&unkeyed).await.unwrap();
    let refused = db.store.write(&unkeyed).await;
    assert!(
        matches!(refused, Err(StoreError::Database(_))),
        "{refused:?}"
    );
    let mut admin = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deliveries),
             (SELECT count(*) FROM attempts)",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(counts, (3, 2, 1));
}

/// Until a session of this test's database waits on a lock (10 s at most).
async fn wait_for_a_writer_on_a_lock(options: &sqlx::postgres::PgConnectOptions) {
    use std::time::Duration;
    let mut watcher = sqlx::PgConnection::connect_with(options).await.unwrap();
    for _ in 0..200 {
        // Each query is its own transaction, so each reads the activity afresh.
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no write waited on the held key within 10 s");
}

/// On PostgreSQL the writer keeps several batches in flight: an append waiting on another
/// transaction's lock holds up its own batch only, not every write queued behind it.
#[tokio::test]
async fn postgres_writer_commits_past_a_batch_waiting_on_a_lock() {
    use herald_store::Writer;
    use herald_store::model::AppendOutcome;
    use std::time::Duration;
    let Some(db) = PgDb::new("postgres_writer_commits_past_a_batch_waiting_on_a_lock").await else {
        return;
    };
    assert!(db.store.write_lanes() > 1, "one lane on PostgreSQL");
    // Another transaction, still open, has stored an event under the key `held`.
    let mut other = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    let mut tx = other.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events (id, source, event_type, dedup_key, received_at, headers, payload)
         VALUES ($1, 'github', 'push', 'held', now(), '{}', '{}')",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(&mut *tx)
    .await
    .unwrap();
    let (writer, task) = Writer::spawn(db.store.clone(), 8);
    let waiting = tokio::spawn({
        let writer = writer.clone();
        async move {
            writer
                .append(item(event("github", Some("held")), vec![]))
                .await
        }
    });
    // Its batch is taken and waits on the key the open transaction holds. Waited for, not
    // slept on: under load the writer may take longer than any fixed pause to reach it, and
    // an append sent before then would share its batch.
    wait_for_a_writer_on_a_lock(&db.options).await;
    assert!(
        !waiting.is_finished(),
        "the held key did not make the append wait"
    );
    let free = writer.append(item(event("github", Some("free")), vec![]));
    let free = tokio::time::timeout(Duration::from_secs(10), free)
        .await
        .expect("an append queued behind a waiting batch waited with it")
        .unwrap();
    assert!(matches!(free, AppendOutcome::Stored { .. }));
    tx.rollback().await.unwrap();
    let held = waiting.await.unwrap().unwrap();
    assert!(matches!(held, AppendOutcome::Stored { .. }), "{held:?}");
    drop(writer);
    task.await.unwrap();
}

#[tokio::test]
async fn sqlite_writes_one_batch_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("herald.db"), SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(store.write_lanes(), 1);
}
