//! Pollers on SQLite: the lease, a page stored with its cursor in one `BEGIN IMMEDIATE`
//! transaction, how a poll ended, and deliveries added to stored events.

use super::append;
use super::connection::{WriteConnection, begin};
use super::rows::{ms, opt_time, time};
use super::windows;
use super::write::Command;
use crate::Result;
use crate::common::{Holders, append_outcomes};
use crate::model::*;
use crate::pollers::{failure_kind, poller_columns};
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};

fn state(row: &SqliteRow) -> Result<PollerState> {
    Ok(PollerState {
        source: row.try_get("source")?,
        cursor: row.try_get("cursor")?,
        start_at: opt_time(row.try_get("start_at")?)?,
        last_poll_at: opt_time(row.try_get("last_poll_at")?)?,
        last_success_at: opt_time(row.try_get("last_success_at")?)?,
        last_error: row.try_get("last_error")?,
        last_error_at: opt_time(row.try_get("last_error_at")?)?,
        last_error_kind: failure_kind(row.try_get("last_error_kind")?)?,
        failures: row.try_get("failures")?,
        last_items: row.try_get("last_items")?,
        newest_item_at: opt_time(row.try_get("newest_item_at")?)?,
        next_poll_at: opt_time(row.try_get("next_poll_at")?)?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: opt_time(row.try_get("lease_until")?)?,
        updated_at: time(row.try_get("updated_at")?)?,
    })
}

pub(super) async fn claim_poller(
    write: &WriteConnection,
    claim: &PollerClaim<'_>,
) -> Result<Option<PollerState>> {
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let now = ms(claim.now);
    sqlx::query(
        "INSERT INTO pollers (source, start_at, updated_at) VALUES (?1, ?2, ?2)
         ON CONFLICT (source) DO NOTHING",
    )
    .bind(claim.source)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let claimed = sqlx::query(concat!(
        "UPDATE pollers SET lease_owner = ?2, lease_until = ?3, updated_at = ?4
         WHERE source = ?1
           AND (lease_until IS NULL OR lease_until <= ?4 OR lease_owner = ?2)
           AND (?5 OR next_poll_at IS NULL OR next_poll_at <= ?4)
         RETURNING ",
        poller_columns!()
    ))
    .bind(claim.source)
    .bind(claim.owner)
    .bind(ms(claim.lease_until))
    .bind(now)
    .bind(claim.force)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    claimed.as_ref().map(state).transpose()
}

pub(super) async fn store_poll_page(
    write: &WriteConnection,
    page: &PollPage<'_>,
) -> Result<PageOutcome> {
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let moved = sqlx::query(
        "UPDATE pollers SET cursor = ?3,
             newest_item_at = CASE WHEN ?4 IS NOT NULL
                 AND (newest_item_at IS NULL OR newest_item_at < ?4) THEN ?4
                 ELSE newest_item_at END,
             lease_until = CASE WHEN lease_owner = ?5 THEN ?6 ELSE lease_until END,
             updated_at = ?7
         WHERE source = ?1 AND cursor IS ?2",
    )
    .bind(page.source)
    .bind(page.after)
    .bind(page.cursor)
    .bind(page.newest_item_at.map(ms))
    .bind(page.owner)
    .bind(ms(page.lease_until))
    .bind(ms(page.now))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        let cursor: Option<Option<String>> =
            sqlx::query_scalar("SELECT cursor FROM pollers WHERE source = ?1")
                .bind(page.source)
                .fetch_optional(&mut *tx)
                .await?;
        tx.rollback().await?;
        return Ok(PageOutcome::CursorMoved {
            cursor: cursor.flatten(),
        });
    }
    let mut command = Command::default();
    append::push(&mut command, page.items)?;
    let rows = command.run(&mut tx).await?;
    let mut holders = Holders::new();
    for row in &rows {
        holders.extend(append::holders(row)?);
    }
    let outcomes = append_outcomes(page.items, &holders)?;
    windows::append(&mut tx, page.items, &outcomes).await?;
    tx.commit().await?;
    Ok(PageOutcome::Stored(outcomes))
}

pub(super) async fn finish_poll(write: &WriteConnection, end: &PollEnd<'_>) -> Result<bool> {
    let mut conn = write.lock().await?;
    let (kind, error) = match end.failure {
        Some((kind, error)) => (Some(kind.as_str()), Some(error)),
        None => (None, None),
    };
    let updated = sqlx::query(
        "UPDATE pollers SET last_poll_at = ?3,
             last_success_at = CASE WHEN ?4 IS NULL THEN ?3 ELSE last_success_at END,
             last_error = coalesce(?5, last_error),
             last_error_at = CASE WHEN ?4 IS NULL THEN last_error_at ELSE ?3 END,
             last_error_kind = coalesce(?4, last_error_kind),
             failures = CASE WHEN ?4 IS NULL THEN 0 ELSE failures + 1 END,
             last_items = ?6, next_poll_at = ?7,
             lease_owner = NULL, lease_until = NULL, updated_at = ?3
         WHERE source = ?1 AND lease_owner = ?2",
    )
    .bind(end.source)
    .bind(end.owner)
    .bind(ms(end.now))
    .bind(kind)
    .bind(error)
    .bind(end.items)
    .bind(ms(end.next_poll_at))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

pub(super) async fn poller_states(pool: &SqlitePool) -> Result<Vec<PollerState>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        poller_columns!(),
        " FROM pollers ORDER BY source"
    ))
    .fetch_all(pool)
    .await?;
    found.iter().map(state).collect()
}

pub(super) async fn add_deliveries(
    write: &WriteConnection,
    deliveries: &[NewDelivery],
) -> Result<u64> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let mut added = 0;
    for delivery in deliveries {
        let Some(event_id) = delivery.event_id else {
            continue;
        };
        added += sqlx::query(
            "INSERT INTO deliveries (id, event_id, rule, action, idempotency_key,
                 next_attempt_at, created_at, updated_at, ordering_key, window_id, status,
                 attempts, retries_used)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, 'pending', 0, 0
             WHERE EXISTS (SELECT 1 FROM events WHERE id = ?2)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(delivery.id.to_string())
        .bind(event_id.to_string())
        .bind(&delivery.rule)
        .bind(&delivery.action)
        .bind(&delivery.idempotency_key)
        .bind(ms(delivery.next_attempt_at))
        .bind(ms(delivery.created_at))
        .bind(&delivery.ordering_key)
        .bind(delivery.window_id.map(|id| id.to_string()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(added)
}
