//! Pollers on PostgreSQL: the lease, a page stored with its cursor in one transaction, how
//! a poll ended, and deliveries added to stored events. Row locks serialise two processes
//! on one poller: the second `UPDATE` waits for the first to commit, then sees its cursor
//! (READ COMMITTED re-checks the row), so its compare-and-set fails.

use super::append;
use super::rows::column;
use crate::Result;
use crate::model::*;
use crate::pollers::{failure_kind, poller_columns};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

fn state(row: &PgRow) -> Result<PollerState> {
    Ok(PollerState {
        source: row.try_get("source")?,
        cursor: row.try_get("cursor")?,
        start_at: row.try_get("start_at")?,
        last_poll_at: row.try_get("last_poll_at")?,
        last_success_at: row.try_get("last_success_at")?,
        last_error: row.try_get("last_error")?,
        last_error_at: row.try_get("last_error_at")?,
        last_error_kind: failure_kind(row.try_get("last_error_kind")?)?,
        failures: row.try_get("failures")?,
        last_items: row.try_get("last_items")?,
        newest_item_at: row.try_get("newest_item_at")?,
        next_poll_at: row.try_get("next_poll_at")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: row.try_get("lease_until")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) async fn claim_poller(
    pool: &PgPool,
    claim: &PollerClaim<'_>,
) -> Result<Option<PollerState>> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO pollers (source, start_at, updated_at) VALUES ($1, $2, $2)
         ON CONFLICT (source) DO NOTHING",
    )
    .bind(claim.source)
    .bind(claim.now)
    .execute(&mut *tx)
    .await?;
    let claimed = sqlx::query(concat!(
        "UPDATE pollers SET lease_owner = $2, lease_until = $3, updated_at = $4
         WHERE source = $1
           AND (lease_until IS NULL OR lease_until <= $4 OR lease_owner = $2)
           AND ($5 OR next_poll_at IS NULL OR next_poll_at <= $4)
         RETURNING ",
        poller_columns!()
    ))
    .bind(claim.source)
    .bind(claim.owner)
    .bind(claim.lease_until)
    .bind(claim.now)
    .bind(claim.force)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    claimed.as_ref().map(state).transpose()
}

pub(super) async fn store_poll_page(pool: &PgPool, page: &PollPage<'_>) -> Result<PageOutcome> {
    let mut tx = pool.begin().await?;
    let moved = sqlx::query(
        "UPDATE pollers SET cursor = $3,
             newest_item_at = CASE WHEN $4::timestamptz IS NOT NULL
                 AND (newest_item_at IS NULL OR newest_item_at < $4) THEN $4
                 ELSE newest_item_at END,
             lease_until = CASE WHEN lease_owner = $5 THEN $6 ELSE lease_until END,
             updated_at = $7
         WHERE source = $1 AND cursor IS NOT DISTINCT FROM $2",
    )
    .bind(page.source)
    .bind(page.after)
    .bind(page.cursor)
    .bind(page.newest_item_at)
    .bind(page.owner)
    .bind(page.lease_until)
    .bind(page.now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        let cursor: Option<Option<String>> =
            sqlx::query_scalar("SELECT cursor FROM pollers WHERE source = $1")
                .bind(page.source)
                .fetch_optional(&mut *tx)
                .await?;
        tx.rollback().await?;
        return Ok(PageOutcome::CursorMoved {
            cursor: cursor.flatten(),
        });
    }
    let outcomes = append::append(&mut tx, page.items).await?;
    tx.commit().await?;
    Ok(PageOutcome::Stored(outcomes))
}

pub(super) async fn finish_poll(pool: &PgPool, end: &PollEnd<'_>) -> Result<bool> {
    let (kind, error) = match end.failure {
        Some((kind, error)) => (Some(kind.as_str()), Some(error)),
        None => (None, None),
    };
    let updated = sqlx::query(
        "UPDATE pollers SET last_poll_at = $3,
             last_success_at = CASE WHEN $4::text IS NULL THEN $3 ELSE last_success_at END,
             last_error = coalesce($5, last_error),
             last_error_at = CASE WHEN $4::text IS NULL THEN last_error_at ELSE $3 END,
             last_error_kind = coalesce($4, last_error_kind),
             failures = CASE WHEN $4::text IS NULL THEN 0 ELSE failures + 1 END,
             last_items = $6, next_poll_at = $7,
             lease_owner = NULL, lease_until = NULL, updated_at = $3
         WHERE source = $1 AND lease_owner = $2",
    )
    .bind(end.source)
    .bind(end.owner)
    .bind(end.now)
    .bind(kind)
    .bind(error)
    .bind(end.items)
    .bind(end.next_poll_at)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

pub(super) async fn poller_states(pool: &PgPool) -> Result<Vec<PollerState>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        poller_columns!(),
        " FROM pollers ORDER BY source"
    ))
    .fetch_all(pool)
    .await?;
    found.iter().map(state).collect()
}

pub(super) async fn add_deliveries(pool: &PgPool, deliveries: &[NewDelivery]) -> Result<u64> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    let deliveries: Vec<&NewDelivery> = deliveries.iter().collect();
    let added = sqlx::query(
        "INSERT INTO deliveries (id, event_id, rule, action, idempotency_key, status, attempts,
             retries_used, next_attempt_at, created_at, updated_at, ordering_key, window_id)
         SELECT id, event_id, rule, action, idempotency_key, 'pending', 0, 0, next_attempt_at,
             created_at, created_at, ordering_key, window_id
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
             $6::timestamptz[], $7::timestamptz[], $8::text[], $9::uuid[])
             WITH ORDINALITY AS d(id, event_id, rule, action, idempotency_key,
                 next_attempt_at, created_at, ordering_key, window_id, n)
         WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id)
         ORDER BY n
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(column(&deliveries, |d| d.id))
    .bind(column(&deliveries, |d| d.event_id))
    .bind(column(&deliveries, |d| d.rule.as_str()))
    .bind(column(&deliveries, |d| d.action.as_str()))
    .bind(column(&deliveries, |d| d.idempotency_key.as_str()))
    .bind(column(&deliveries, |d| d.next_attempt_at))
    .bind(column(&deliveries, |d| d.created_at))
    .bind(column(&deliveries, |d| d.ordering_key.as_deref()))
    .bind(column(&deliveries, |d| d.window_id))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(added)
}
