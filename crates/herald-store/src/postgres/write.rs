//! The delivery lifecycle on PostgreSQL: one transaction per write batch (append, complete,
//! claim), and releasing leases.

use super::rows;
use super::{append, complete};
use crate::Result;
use crate::common::delivery_columns;
use crate::model::*;
use sqlx::postgres::{PgConnection, PgPool};
use uuid::Uuid;

/// One transaction for the whole batch: appends, then completions, then claims.
pub(super) async fn write(pool: &PgPool, batch: &WriteBatch<'_>) -> Result<WriteResults> {
    if batch.is_empty() {
        return Ok(WriteResults::default());
    }
    let mut tx = pool.begin().await?;
    let appended = append::append(&mut tx, batch.appends).await?;
    let completed = complete::complete(&mut tx, batch.completions).await?;
    let mut claimed = Vec::with_capacity(batch.claims.len());
    for request in batch.claims {
        claimed.push(claim(&mut tx, request).await?);
    }
    tx.commit().await?;
    Ok(WriteResults {
        appended,
        completed,
        claimed,
    })
}

/// Lease the due rows with one statement and one token for them all. Rows another
/// transaction holds are skipped, so replicas never wait on each other's claims.
async fn claim(conn: &mut PgConnection, request: &ClaimRequest) -> Result<Vec<ClaimedDelivery>> {
    if request.limit == 0 {
        return Ok(Vec::new());
    }
    let lease_token = Uuid::now_v7();
    // MATERIALIZED keeps the locking subquery to one evaluation, so LIMIT holds.
    let found = sqlx::query(concat!(
        "WITH due AS MATERIALIZED (
             SELECT id FROM deliveries
             WHERE status = 'pending' AND next_attempt_at <= $1
               AND (lease_until IS NULL OR lease_until <= $1)
             ORDER BY next_attempt_at, id
             LIMIT $2
             FOR UPDATE SKIP LOCKED
         )
         UPDATE deliveries
         SET lease_owner = $3, lease_token = $4, lease_until = $5
         WHERE id IN (SELECT id FROM due)
         RETURNING ",
        delivery_columns!()
    ))
    .bind(request.now)
    .bind(i64::from(request.limit))
    .bind(&request.owner)
    .bind(lease_token)
    .bind(request.lease_until)
    .fetch_all(&mut *conn)
    .await?;
    let mut claimed = found
        .iter()
        .map(|row| {
            Ok(ClaimedDelivery {
                delivery: rows::delivery(row)?,
                lease_token,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // RETURNING has no order; callers expect oldest due first.
    claimed.sort_by_key(|claim| (claim.delivery.next_attempt_at, claim.delivery.id));
    Ok(claimed)
}

pub(super) async fn release_leases(pool: &PgPool, lease_tokens: &[Uuid]) -> Result<u64> {
    if lease_tokens.is_empty() {
        return Ok(0);
    }
    let released = sqlx::query(
        "UPDATE deliveries SET lease_owner = NULL, lease_token = NULL, lease_until = NULL
         WHERE lease_token = ANY($1)",
    )
    .bind(lease_tokens)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(released)
}
