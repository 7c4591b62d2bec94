//! Behaviour that depends on the backend: opening, URLs, concurrent first migrations, and
//! corrupt rows.

use crate::fixtures::*;
use crate::harness::{PgDb, pg_url};
use herald_store::postgres::{PgOptions, PgStore};
use herald_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use herald_store::{SharedStore, StoreError};
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
