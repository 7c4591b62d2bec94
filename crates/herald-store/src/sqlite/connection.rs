//! SQLite's one write connection, which writers take turns on. A pool of one connection
//! would do the same, but a pool pings a connection each time it comes back: one more
//! round trip to SQLite's thread for every write.

use crate::{Result, StoreError};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Sqlite, Transaction};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

pub(super) struct WriteConnection(Mutex<Option<Slot>>);

struct Slot {
    conn: SqliteConnection,
    /// A write that began its own transaction was abandoned before it ended it: the next
    /// user rolls it back first.
    unfinished: bool,
}

impl WriteConnection {
    pub(super) fn new(conn: SqliteConnection) -> WriteConnection {
        WriteConnection(Mutex::new(Some(Slot {
            conn,
            unfinished: false,
        })))
    }

    /// Wait for the connection; `Closed` once `close` has run.
    pub(super) async fn lock(&self) -> Result<MappedMutexGuard<'_, SqliteConnection>> {
        let slot = self.slot().await?;
        Ok(MappedMutexGuard::map(slot, |slot| &mut slot.conn))
    }

    /// Run `work`, which begins a transaction with its first statement and ends it; if it
    /// fails, or is dropped before it ends, whatever it left open is rolled back. This lets
    /// a write begin, run and commit in one round trip, where sqlx's `Transaction` takes
    /// one for each.
    pub(super) async fn in_transaction<T>(
        &self,
        work: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T>,
    ) -> Result<T> {
        let mut slot = self.slot().await?;
        slot.unfinished = true;
        let outcome = work(&mut slot.conn).await;
        slot.unfinished = outcome.is_err() && !rollback(&mut slot.conn).await;
        outcome
    }

    async fn slot(&self) -> Result<MappedMutexGuard<'_, Slot>> {
        let mut slot = MutexGuard::try_map(self.0.lock().await, Option::as_mut)
            .map_err(|_| StoreError::Closed)?;
        if slot.unfinished {
            slot.unfinished = !rollback(&mut slot.conn).await;
            if slot.unfinished {
                return Err(StoreError::Corrupt(
                    "a write left a transaction open that cannot be rolled back".to_string(),
                ));
            }
        }
        Ok(slot)
    }

    /// Close the connection once the writer using it is done.
    pub(super) async fn close(&self) -> Result<()> {
        if let Some(slot) = self.0.lock().await.take() {
            slot.conn.close().await?;
        }
        Ok(())
    }
}

pub(super) async fn begin(conn: &mut SqliteConnection) -> Result<Transaction<'_, Sqlite>> {
    Ok(conn.begin_with("BEGIN IMMEDIATE").await?)
}

/// End whatever transaction a failed or abandoned write left open; false if the
/// connection may still be in one.
async fn rollback(conn: &mut SqliteConnection) -> bool {
    match sqlx::query("ROLLBACK").execute(conn).await {
        Ok(_) => true,
        // The write failed before its BEGIN, or its failure ended the transaction.
        Err(err) if err.to_string().contains("no transaction is active") => true,
        Err(err) => {
            tracing::warn!(%err, "rolling back a failed write failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::ConnectOptions;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    use std::time::Duration;

    async fn connection(dir: &tempfile::TempDir) -> WriteConnection {
        let conn = SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .connect()
            .await
            .unwrap();
        let write = WriteConnection::new(conn);
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut *write.lock().await.unwrap())
            .await
            .unwrap();
        write
    }

    async fn insert(write: &WriteConnection, x: i64) -> Result<()> {
        write
            .in_transaction(async |conn| {
                sqlx::query("BEGIN IMMEDIATE; INSERT INTO t VALUES (?1); COMMIT")
                    .bind(x)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
            .await
    }

    async fn rows(write: &WriteConnection) -> Vec<i64> {
        sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(&mut *write.lock().await.unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_failed_write_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let write = connection(&dir).await;
        let failed = write
            .in_transaction(async |conn| {
                sqlx::query("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
                    .execute(&mut *conn)
                    .await?;
                Err::<(), _>(StoreError::Closed)
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Closed)));
        // A BEGIN inside the transaction left open would fail.
        insert(&write, 2).await.unwrap();
        assert_eq!(rows(&write).await, vec![2]);
    }

    #[tokio::test]
    async fn an_abandoned_write_is_rolled_back_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let write = connection(&dir).await;
        let abandoned = write.in_transaction(async |conn| {
            sqlx::query("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
                .execute(&mut *conn)
                .await?;
            std::future::pending::<Result<()>>().await
        });
        let waited = tokio::time::timeout(Duration::from_millis(100), abandoned).await;
        assert!(waited.is_err(), "the write never ends by itself");
        insert(&write, 2).await.unwrap();
        assert_eq!(rows(&write).await, vec![2]);
    }
}
