//! PostgreSQL's trained dictionaries (migration 0020): registering those kept, and training
//! new ones from a source's newest payloads (`crate::dictionaries` decides when).

use super::rows;
use crate::Result;
use crate::dictionaries::{register_rows, train_on};
use crate::trained::{self, SAMPLES, Trained};
use sqlx::Row;
use sqlx::postgres::PgPool;
use std::sync::Arc;

/// Register every dictionary the store keeps, oldest first, with its source: those of this
/// process, and those another (a replica, a `herald poll`) trained since.
pub(super) async fn register_kept(pool: &PgPool) -> Result<Vec<(String, Arc<Trained>)>> {
    // A database that migration 0020 has not reached yet has none.
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('zstd_dictionaries')::text")
        .fetch_one(pool)
        .await?;
    if table.is_none() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query_as(
        "SELECT source, content FROM zstd_dictionaries ORDER BY trained_through, id",
    )
    .fetch_all(pool)
    .await?;
    register_rows(rows)
}

/// A source's newest payloads, from `events_source_id_idx` (ids are UUIDv7, in the order
/// events arrived).
const NEWEST_PAYLOADS: &str = "SELECT id, payload_text, payload_zstd, payload::text AS payload,
        received_at
    FROM events WHERE source = $1 ORDER BY id DESC LIMIT $2";

/// Train a dictionary on the newest `SAMPLES` payloads of `source`, keep it, and register
/// it. Training runs on a blocking thread (a few hundred milliseconds of CPU).
pub(super) async fn train(pool: &PgPool, source: &str) -> Result<Arc<Trained>> {
    let found = sqlx::query(NEWEST_PAYLOADS)
        .bind(source)
        .bind(SAMPLES)
        .fetch_all(pool)
        .await?;
    // Printed anew, as payloads are compressed: the text `jsonb` gives back (a small
    // payload's column) spaces and orders keys otherwise, and would train on that.
    let samples = found
        .iter()
        .map(|row| {
            let (_, text) = rows::event_payload(row)?;
            Ok(rows::parse(&text, "event payload")?.to_string())
        })
        .collect::<Result<Vec<_>>>()?;
    let newest = found
        .iter()
        .map(|row| row.try_get::<crate::model::Timestamp, _>("received_at"))
        .collect::<std::result::Result<Vec<_>, _>>()?
        .into_iter()
        .max()
        .unwrap_or_default();
    let trained = train_on(samples).await?;
    sqlx::query(
        "INSERT INTO zstd_dictionaries (id, source, trained_through, samples, content)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(i64::from(trained.id.get()))
    .bind(source)
    .bind(newest)
    .bind(found.len() as i32)
    .bind(&trained.content)
    .execute(pool)
    .await?;
    Ok(trained::register(trained))
}
