//! Monitor states on SQLite: reads on the read pool, writes in one `BEGIN IMMEDIATE`
//! transaction on the write connection.

use super::connection::{WriteConnection, begin};
use super::rows::{self, ms, to_json};
use super::write::MAX_PARAMS;
use crate::Result;
use crate::common::{monitor_columns, monitor_rows};
use crate::model::*;
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite};

const STATE_PARAMS: usize = 4;

pub(super) async fn monitor_states(pool: &SqlitePool, monitor: &str) -> Result<Vec<MonitorState>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        monitor_columns!(),
        " FROM monitor_states WHERE monitor = ?1 ORDER BY subject"
    ))
    .bind(monitor)
    .fetch_all(pool)
    .await?;
    found.iter().map(rows::monitor_state).collect()
}

pub(super) async fn put_monitor_states(
    write: &WriteConnection,
    states: &[MonitorState],
) -> Result<()> {
    if states.is_empty() {
        return Ok(());
    }
    let rows = monitor_rows(states)
        .into_iter()
        .map(|state| Ok((to_json(&state.data)?, state)))
        .collect::<Result<Vec<_>>>()?;
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    for chunk in rows.chunks(MAX_PARAMS / STATE_PARAMS) {
        // The text depends on the row count: caching it would only evict other statements.
        let mut query = upsert(chunk);
        query.build().persistent(false).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

fn upsert(rows: &[(String, &MonitorState)]) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::new(concat!(
        "INSERT INTO monitor_states (",
        monitor_columns!(),
        ") "
    ));
    query.push_values(rows, |mut row, (data, state)| {
        row.push_bind(state.monitor.clone())
            .push_bind(state.subject.clone())
            .push_bind(data.clone())
            .push_bind(ms(state.updated_at));
    });
    query.push(
        " ON CONFLICT (monitor, subject) DO UPDATE SET data = excluded.data,
             updated_at = excluded.updated_at",
    );
    query
}

pub(super) async fn delete_monitor_states(
    write: &WriteConnection,
    monitor: &str,
    subjects: &[String],
) -> Result<u64> {
    if subjects.is_empty() {
        return Ok(0);
    }
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let deleted = sqlx::query(
        "DELETE FROM monitor_states
         WHERE monitor = ?1 AND subject IN (SELECT value FROM json_each(?2))",
    )
    .bind(monitor)
    .bind(to_json(subjects)?)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}
