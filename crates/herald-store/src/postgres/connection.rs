//! The writer's connections to PostgreSQL, kept apart from the pool. A pooled connection
//! is pinged when it is taken and again when it is given back: two more round trips for
//! every write batch. One the pool opened on the request runtime also had each answer
//! woken through that runtime's I/O driver, behind the request tasks queued there. These
//! are opened where a write first needs one (the writer's thread) and kept while they
//! work; one that fails is dropped, and the next write opens another.

use super::CONNECT_TIMEOUT;
use crate::{Result, StoreError};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor};
use std::sync::Mutex;

pub(super) struct WriteConnections {
    connect: PgConnectOptions,
    /// None once `close` has run: writes answer `Closed` then.
    idle: Mutex<Option<Vec<PgConnection>>>,
}

impl WriteConnections {
    pub(super) fn new(connect: PgConnectOptions) -> WriteConnections {
        WriteConnections {
            connect,
            idle: Mutex::new(Some(Vec::new())),
        }
    }

    /// Run `work` in a transaction on a kept connection, and commit if it succeeds; roll
    /// back if anything fails. A connection that cannot roll back is dropped.
    pub(super) async fn in_transaction<T>(
        &self,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.begun().await?;
        let outcome = match work(&mut conn).await {
            Ok(value) => conn
                .execute("COMMIT")
                .await
                .map(|_| value)
                .map_err(StoreError::from),
            Err(err) => Err(err),
        };
        // A failed COMMIT has ended the transaction too; the ROLLBACK only warns then.
        if (outcome.is_ok() || conn.execute("ROLLBACK").await.is_ok())
            && let Some(idle) = self.lock().as_mut()
        {
            idle.push(conn);
        }
        outcome
    }

    /// A kept connection (and true), or a new one if none is idle, outside any
    /// transaction. Give it back with `keep`.
    pub(super) async fn take(&self) -> Result<(PgConnection, bool)> {
        let kept = self.lock().as_mut().ok_or(StoreError::Closed)?.pop();
        match kept {
            Some(conn) => Ok((conn, true)),
            None => Ok((self.open().await?, false)),
        }
    }

    /// Keep `conn` for the next write unless `outcome` says it was lost.
    pub(super) fn keep<T>(&self, conn: PgConnection, outcome: &Result<T>) {
        let lost = matches!(outcome, Err(err) if lost(err));
        if !lost && let Some(idle) = self.lock().as_mut() {
            idle.push(conn);
        }
    }

    /// Close every kept connection, and refuse writes from now on.
    pub(super) async fn close(&self) {
        let idle = self.lock().take().unwrap_or_default();
        for conn in idle {
            let _ = conn.close().await;
        }
    }

    /// A connection in a new transaction: a kept one, or a new one if none is idle or the
    /// kept one cannot begin (the server closed it while it was idle; nothing was written
    /// on it, so opening another is safe).
    async fn begun(&self) -> Result<PgConnection> {
        let (mut conn, kept) = self.take().await?;
        match conn.execute("BEGIN").await {
            Ok(_) => return Ok(conn),
            Err(err) if kept => {
                tracing::warn!(%err, "a kept write connection failed; opening another");
            }
            Err(err) => return Err(err.into()),
        }
        let mut conn = self.open().await?;
        conn.execute("BEGIN").await?;
        Ok(conn)
    }

    /// A new connection, or a timeout as an I/O error (the writer then fails the batch
    /// as it does when the server cannot be reached) rather than waiting on TCP's own.
    pub(super) async fn open(&self) -> Result<PgConnection> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.connect.connect()).await {
            Ok(conn) => Ok(conn?),
            Err(_) => Err(StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no connection to PostgreSQL within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ),
            )))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<PgConnection>>> {
        // The vector is whole whatever panicked while it was held.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether `err` says the connection itself failed, not the statement: an I/O or protocol
/// error, or the server ending the session (SQLSTATE classes 08, connection exception,
/// and 57P, the server shutting down or terminating it).
pub(super) fn lost(err: &StoreError) -> bool {
    match err {
        StoreError::Database(sqlx::Error::Io(_) | sqlx::Error::Protocol(_)) => true,
        StoreError::Database(sqlx::Error::Database(db)) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}
