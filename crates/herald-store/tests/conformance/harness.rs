//! Fresh databases for each test: a temp SQLite file, or a new PostgreSQL database that is
//! dropped afterwards.

use herald_store::postgres::{PgOptions, PgStore};
use herald_store::sqlite::{SqliteOptions, SqliteStore};
use herald_store::{SharedStore, Store};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;
use tempfile::TempDir;
use uuid::Uuid;

const DEFAULT_PG_URL: &str = "postgres://root@127.0.0.1:5432/test";

pub struct SqliteDb {
    pub store: SharedStore,
    pub dir: TempDir,
}

impl SqliteDb {
    pub async fn new() -> SqliteDb {
        let dir = tempfile::tempdir().expect("temp dir");
        // A missing parent directory must be created by `open`.
        let store = SqliteStore::open(&dir.path().join("data/herald.db"), SqliteOptions::default())
            .await
            .expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        SqliteDb {
            store: Arc::new(store),
            dir,
        }
    }
}

pub fn pg_url() -> String {
    std::env::var("HERALD_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

/// A fresh PostgreSQL database, or None (after saying so on stderr) when PostgreSQL is not
/// reachable outside CI.
pub struct PgDb {
    pub store: SharedStore,
    pub options: PgConnectOptions,
    admin: PgConnectOptions,
    name: String,
}

impl PgDb {
    pub async fn new(test: &str) -> Option<PgDb> {
        Self::create(test, true).await
    }

    /// Like `new`, but leaves the schema unmigrated.
    pub async fn empty(test: &str) -> Option<PgDb> {
        Self::create(test, false).await
    }

    async fn create(test: &str, migrate: bool) -> Option<PgDb> {
        let url = pg_url();
        let admin = PgConnectOptions::from_str(&url).expect("HERALD_TEST_DATABASE_URL");
        let mut conn = match PgConnection::connect_with(&admin).await {
            Ok(conn) => conn,
            Err(err) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("PostgreSQL not reachable at {url} in CI: {err}")
            }
            Err(err) => {
                // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
                let notice =
                    format!("SKIPPED (PostgreSQL not reachable at {url}): {test} ({err})\n");
                let _ = std::io::stderr().write_all(notice.as_bytes());
                return None;
            }
        };
        let name = format!("herald_t_{}", Uuid::now_v7().simple());
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let options = admin.clone().database(&name);
        let store = PgStore::connect_with(options.clone(), PgOptions::default())
            .await
            .expect("connect to test database");
        if migrate {
            store.migrate().await.expect("migrate postgres");
        }
        Some(PgDb {
            store: Arc::new(store),
            options,
            admin,
            name,
        })
    }
}

impl Drop for PgDb {
    /// Best effort, on a thread of its own because Drop cannot await (and may run while the
    /// test panics).
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut conn = PgConnection::connect_with(&admin).await.ok()?;
                conn.execute(sqlx::AssertSqlSafe(sql)).await.ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}
