//! Monitor states on PostgreSQL. A put is one statement, so one transaction, for any
//! number of states.

use super::rows::{self, column};
use crate::Result;
use crate::common::{monitor_columns, monitor_rows};
use crate::model::*;
use sqlx::postgres::PgPool;
use sqlx::types::Json;

pub(super) async fn monitor_states(pool: &PgPool, monitor: &str) -> Result<Vec<MonitorState>> {
    // The columns collate bytewise (see the migration), so this walks the primary key.
    let found = sqlx::query(concat!(
        "SELECT ",
        monitor_columns!(),
        " FROM monitor_states WHERE monitor = $1 ORDER BY subject"
    ))
    .bind(monitor)
    .fetch_all(pool)
    .await?;
    found.iter().map(rows::monitor_state).collect()
}

/// Rows go in in key order (see `monitor_rows`), so two replicas putting the same states
/// wait for each other instead of deadlocking.
pub(super) async fn put_monitor_states(pool: &PgPool, states: &[MonitorState]) -> Result<()> {
    if states.is_empty() {
        return Ok(());
    }
    let rows = monitor_rows(states);
    sqlx::query(concat!(
        "INSERT INTO monitor_states (",
        monitor_columns!(),
        ") SELECT ",
        monitor_columns!(),
        " FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[])
             WITH ORDINALITY AS s(monitor, subject, data, updated_at, n)
         ORDER BY n
         ON CONFLICT (monitor, subject) DO UPDATE SET data = excluded.data,
             updated_at = excluded.updated_at"
    ))
    .bind(column(&rows, |s| s.monitor.as_str()))
    .bind(column(&rows, |s| s.subject.as_str()))
    .bind(column(&rows, |s| Json(&s.data)))
    .bind(column(&rows, |s| s.updated_at))
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn delete_monitor_states(
    pool: &PgPool,
    monitor: &str,
    subjects: &[String],
) -> Result<u64> {
    if subjects.is_empty() {
        return Ok(0);
    }
    let deleted =
        sqlx::query("DELETE FROM monitor_states WHERE monitor = $1 AND subject = ANY($2)")
            .bind(monitor)
            .bind(subjects)
            .execute(pool)
            .await?
            .rows_affected();
    Ok(deleted)
}
