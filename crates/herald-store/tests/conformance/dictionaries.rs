//! Both backends train a zstd dictionary on each source's own payloads once the source has
//! stored enough of them, compress its later payloads against it, read every frame back,
//! and find their dictionaries again when the store is opened anew.

use crate::fixtures::*;
use crate::harness::PgDb;
use herald_store::Store;
use herald_store::model::NewEvent;
use herald_store::postgres::{PgOptions, PgStore};
use herald_store::sqlite::{SqliteOptions, SqliteStore};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Events a source stores before it gets a dictionary (`trained::TRAIN_AFTER`).
const TRAIN_AFTER: usize = 1_000;

/// A push like GitHub's: the same repository object each time, its own commit id and
/// number.
fn push(n: usize) -> serde_json::Value {
    json!({
        "ref": "refs/heads/main",
        "after": format!("{:040x}", (n as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c)),
        "number": n,
        "repository": {
            "full_name": "example/herald",
            "html_url": "https://github.com/example/herald",
            "description": "Signed webhooks in, durable rules and retried actions out",
            "hooks_url": "https://api.github.com/repos/example/herald/hooks",
            "issues_url": "https://api.github.com/repos/example/herald/issues{/number}",
            "pulls_url": "https://api.github.com/repos/example/herald/pulls{/number}",
            "topics": ["webhooks", "rust", "outbox"],
        },
        "pusher": { "name": "mona", "email": "mona@example.com" },
    })
}

fn event_of(source: &str, n: usize) -> NewEvent {
    let mut event = event(source, None);
    event.payload = push(n).into();
    event
}

/// Prepare and append `events` as the `Writer` does, 100 to a batch.
async fn store_all(store: &dyn Store, events: &[NewEvent]) {
    let items: Vec<_> = events.iter().map(|e| item(e.clone(), vec![])).collect();
    for batch in items.chunks(100) {
        batch.iter().for_each(|item| store.prepare_append(item));
        store.append_events(batch).await.expect("append");
    }
}

/// The payload frame of event `id` as stored, and the dictionary id its header names.
async fn frame_of(pool: &sqlx::SqlitePool, id: uuid::Uuid) -> (Vec<u8>, Option<u32>) {
    let (frame,): (Vec<u8>,) = sqlx::query_as("SELECT payload_zstd FROM events WHERE id = ?1")
        .bind(id.to_string())
        .fetch_one(pool)
        .await
        .unwrap();
    let dictionary = zstd::zstd_safe::get_dict_id_from_frame(&frame).map(|id| id.get());
    (frame, dictionary)
}

async fn open(file: &Path) -> SqliteStore {
    SqliteStore::open(file, SqliteOptions::default())
        .await
        .unwrap()
}

/// A migrated store in a new file, and a pool of its own on the file to look at the rows.
async fn new_store() -> (tempfile::TempDir, PathBuf, SqliteStore, sqlx::SqlitePool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("herald.db");
    let store = open(&file).await;
    store.migrate().await.unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    (dir, file, store, pool)
}

/// What the dictionary scenario reads of a backend's own rows.
trait Rows {
    /// The payload frame of event `id` (empty if the payload is not a frame), and the
    /// dictionary its header names.
    async fn frame_of(&mut self, id: uuid::Uuid) -> (Vec<u8>, Option<u32>);
    /// The source `github`'s dictionary: (id, samples, bytes).
    async fn dictionary(&mut self) -> Option<(i64, i64, i64)>;
}

struct SqliteRows(sqlx::SqlitePool);

impl Rows for SqliteRows {
    async fn frame_of(&mut self, id: uuid::Uuid) -> (Vec<u8>, Option<u32>) {
        frame_of(&self.0, id).await
    }

    async fn dictionary(&mut self) -> Option<(i64, i64, i64)> {
        sqlx::query_as(
            "SELECT id, samples, length(content) FROM zstd_dictionaries WHERE source = 'github'",
        )
        .fetch_optional(&self.0)
        .await
        .unwrap()
    }
}

struct PgRows(sqlx::PgConnection);

impl Rows for PgRows {
    async fn frame_of(&mut self, id: uuid::Uuid) -> (Vec<u8>, Option<u32>) {
        let frame: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT payload_zstd FROM events WHERE id = $1")
                .bind(id)
                .fetch_one(&mut self.0)
                .await
                .unwrap();
        let frame = frame.unwrap_or_default();
        let dictionary = zstd::zstd_safe::get_dict_id_from_frame(&frame).map(|id| id.get());
        (frame, dictionary)
    }

    async fn dictionary(&mut self) -> Option<(i64, i64, i64)> {
        sqlx::query_as(
            "SELECT id, samples::int8, length(content)::int8 FROM zstd_dictionaries
             WHERE source = 'github'",
        )
        .fetch_optional(&mut self.0)
        .await
        .unwrap()
    }
}

/// A source gets a dictionary after its first 1,000 events and its later payloads are
/// compressed against it, other sources' not; every frame reads back; and the store,
/// opened again (`reopen`), compresses against the dictionary it kept.
async fn trains_a_dictionary_per_source_and_reads_its_frames_back<S: Store>(
    store: S,
    rows: &mut impl Rows,
    reopen: impl AsyncFnOnce() -> S,
) {
    let first = event_of("github", 0);
    let rest: Vec<_> = (1..TRAIN_AFTER).map(|n| event_of("github", n)).collect();
    store_all(&store, &rest).await;
    store_all(&store, std::slice::from_ref(&first)).await;
    let (_, before) = rows.frame_of(first.id).await;
    assert_eq!(before, None, "no dictionary before the source has one");

    // The dictionary is trained in the background after the 1,000th event.
    let mut trained = None;
    for _ in 0..200 {
        trained = rows.dictionary().await;
        if trained.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (dictionary, samples, size) = trained.expect("a dictionary within 10 s");
    // Trained on what was stored when the 1,000th event was prepared: it may be written yet.
    let stored = TRAIN_AFTER as i64;
    assert!(
        (stored - 1..=stored).contains(&samples),
        "{samples} samples"
    );
    assert!(size > 1_000 && size <= 16 * 1024, "{size} bytes");

    let later = event_of("github", 5_000);
    let other = event_of("stripe", 5_001);
    store_all(&store, &[later.clone(), other.clone()]).await;
    let (frame, named) = rows.frame_of(later.id).await;
    assert_eq!(named, Some(dictionary as u32));
    let alone = zstd::bulk::compress(later.payload.as_str().as_bytes(), 1).unwrap();
    assert!(
        frame.len() * 3 < alone.len(),
        "{} bytes against {} without the dictionary",
        frame.len(),
        alone.len()
    );
    assert_eq!(
        rows.frame_of(other.id).await.1,
        None,
        "one dictionary per source"
    );

    // Both kinds of frame read back.
    for event in [&first, &later, &other] {
        let stored = store.get_event(event.id).await.unwrap().expect("stored");
        assert_eq!(stored.payload, event.payload.decode());
    }

    // Opened again, the store compresses against the dictionary it kept.
    store.close().await;
    let store = reopen().await;
    let again = event_of("github", 6_000);
    store_all(&store, std::slice::from_ref(&again)).await;
    assert_eq!(rows.frame_of(again.id).await.1, Some(dictionary as u32));
    let stored = store.get_event(again.id).await.unwrap().expect("stored");
    assert_eq!(stored.payload, again.payload.decode());
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_trains_a_dictionary_per_source_and_reads_its_frames_back() {
    let (_dir, file, store, pool) = new_store().await;
    let mut rows = SqliteRows(pool);
    trains_a_dictionary_per_source_and_reads_its_frames_back(store, &mut rows, async || {
        open(&file).await
    })
    .await;
    rows.0.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_trains_a_dictionary_per_source_and_reads_its_frames_back() {
    use sqlx::Connection;
    let test = "postgres_trains_a_dictionary_per_source_and_reads_its_frames_back";
    let Some(db) = PgDb::new(test).await else {
        return;
    };
    let connect = async || {
        PgStore::connect_with(db.options.clone(), PgOptions::default())
            .await
            .unwrap()
    };
    let store = connect().await;
    let conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    trains_a_dictionary_per_source_and_reads_its_frames_back(store, &mut PgRows(conn), connect)
        .await;
}

/// What another process did: train a dictionary on its payloads and compress an event's
/// payload against it, which this process has not registered.
struct Foreign {
    event: NewEvent,
    dictionary: Vec<u8>,
    id: std::num::NonZeroU32,
    frame: Vec<u8>,
}

fn foreign() -> Foreign {
    let samples: Vec<String> = (0..500).map(|n| push(n).to_string()).collect();
    let dictionary = zstd::dict::from_samples(&samples, 16 * 1024).unwrap();
    let id = zstd::zstd_safe::get_dict_id_from_dict(&dictionary).unwrap();
    let event = event_of("github", 9_000);
    let mut compressor = zstd::bulk::Compressor::with_dictionary(1, &dictionary).unwrap();
    let frame = compressor
        .compress(event.payload.as_str().as_bytes())
        .unwrap();
    Foreign {
        event,
        dictionary,
        id,
        frame,
    }
}

/// A payload compressed against a dictionary another process trained after this store
/// opened (as a `herald poll` beside the server may): the read loads the dictionary from
/// the file and reads the payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_a_payload_against_a_dictionary_another_process_trained() {
    let (_dir, _file, store, pool) = new_store().await;

    // What the other process did: train on its payloads, keep the dictionary, store an
    // event compressed against it.
    let Foreign {
        event,
        dictionary,
        id,
        frame,
    } = foreign();
    sqlx::query(
        "INSERT INTO zstd_dictionaries (id, source, trained_through, samples, content)
         VALUES (?1, 'github', 0, 500, ?2);
         INSERT INTO events (id, source, event_type, received_at, headers, payload,
             payload_zstd)
         VALUES (?3, 'github', 'push', 0, '{}', '', ?4)",
    )
    .bind(i64::from(id.get()))
    .bind(&dictionary)
    .bind(event.id.to_string())
    .bind(&frame)
    .execute(&pool)
    .await
    .unwrap();

    let stored = store.get_event(event.id).await.unwrap().expect("stored");
    assert_eq!(stored.payload, event.payload.decode());
    store.close().await;
    pool.close().await;
}

/// A payload compressed against a dictionary another replica trained after this one
/// connected: the read loads the dictionary from the database and reads the payload.
#[tokio::test]
async fn postgres_reads_a_payload_against_a_dictionary_another_replica_trained() {
    use sqlx::Connection;
    let test = "postgres_reads_a_payload_against_a_dictionary_another_replica_trained";
    let Some(db) = PgDb::new(test).await else {
        return;
    };
    let Foreign {
        event,
        dictionary,
        id,
        frame,
    } = foreign();
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    sqlx::query(
        "INSERT INTO zstd_dictionaries (id, source, trained_through, samples, content)
         VALUES ($1, 'github', now(), 500, $2)",
    )
    .bind(i64::from(id.get()))
    .bind(&dictionary)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO events (id, source, event_type, received_at, headers, payload_zstd)
         VALUES ($1, 'github', 'push', now(), '{}', $2)",
    )
    .bind(event.id)
    .bind(&frame)
    .execute(&mut conn)
    .await
    .unwrap();

    let stored = db.store.get_event(event.id).await.unwrap().expect("stored");
    assert_eq!(stored.payload, event.payload.decode());
}
