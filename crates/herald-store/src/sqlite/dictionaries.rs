//! SQLite's trained dictionaries (migration 0017): registering those kept, and training new
//! ones from a source's newest payloads (`crate::dictionaries` decides when).

use super::connection::WriteConnection;
use super::rows;
use crate::Result;
use crate::dictionaries::{register_rows, train_on};
use crate::trained::{self, SAMPLES, Trained};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;
use std::sync::Arc;

/// Register every dictionary the store keeps, oldest first, with its source: those of this
/// process, and those another process (a `herald poll` beside the server) trained since.
pub(super) async fn register_kept(read: &SqlitePool) -> Result<Vec<(String, Arc<Trained>)>> {
    // A store that migration 0017 has not reached yet has none.
    let table: Option<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'zstd_dictionaries'",
    )
    .fetch_optional(read)
    .await?;
    if table.is_none() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query_as(
        "SELECT source, content FROM zstd_dictionaries ORDER BY trained_through, id",
    )
    .fetch_all(read)
    .await?;
    register_rows(rows)
}

/// A source's newest payloads. Ids are UUIDv7, in the order events arrived, so
/// `events_source_id_idx` hands them over newest first (by rowid, SQLite read every event
/// of the source and sorted them: 1.9 s at 1 M events).
const NEWEST_PAYLOADS: &str = "SELECT payload, payload_zstd, received_at FROM events
    WHERE source = ?1 ORDER BY id DESC LIMIT ?2";

/// Train a dictionary on the newest `SAMPLES` payloads of `source`, keep it, and register
/// it. Training runs on a blocking thread (a few hundred milliseconds of CPU).
pub(super) async fn train(
    read: &SqlitePool,
    write: &WriteConnection,
    source: &str,
) -> Result<Arc<Trained>> {
    let found = sqlx::query(NEWEST_PAYLOADS)
        .bind(source)
        .bind(SAMPLES)
        .fetch_all(read)
        .await?;
    let samples = found
        .iter()
        .map(rows::payload_text)
        .collect::<Result<Vec<_>>>()?;
    let newest = found
        .iter()
        .map(|row| row.try_get::<i64, _>("received_at"))
        .try_fold(0, |newest, at| at.map(|at| newest.max(at)))?;
    let trained = train_on(samples).await?;
    let mut conn = write.lock().await?;
    sqlx::query(
        "INSERT INTO zstd_dictionaries (id, source, trained_through, samples, content)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(i64::from(trained.id.get()))
    .bind(source)
    .bind(newest)
    .bind(found.len() as i64)
    .bind(&trained.content)
    .execute(&mut *conn)
    .await?;
    Ok(trained::register(trained))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::sqlite::{SqliteOptions, SqliteStore};

    /// Training reads the newest payloads straight from an index, not by sorting every
    /// event of the source.
    #[tokio::test]
    async fn the_newest_payloads_come_from_an_index_without_a_sort() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("herald.db"), SqliteOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {NEWEST_PAYLOADS}"
        )))
        .bind("github")
        .bind(SAMPLES)
        .fetch_all(&store.read)
        .await
        .unwrap();
        let steps: Vec<&str> = plan.iter().map(|step| step.3.as_str()).collect();
        assert_eq!(
            steps,
            ["SEARCH events USING INDEX events_source_id_idx (source=?)"]
        );
        store.close().await;
    }
}
