//! The delivery lifecycle on PostgreSQL: one transaction per write batch (append, complete,
//! claim), and releasing leases.

use super::rows;
use super::{append, complete};
use crate::common::{delivery_columns, leased};
use crate::model::*;
use crate::{Result, StoreError};
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool};
use uuid::Uuid;

/// The whole batch, in the transaction `conn` is in: appends, then completions, then
/// claims.
pub(super) async fn write(conn: &mut PgConnection, batch: &WriteBatch<'_>) -> Result<WriteResults> {
    let appended = append::append(conn, batch.appends).await?;
    let completed = complete::complete(conn, batch.completions).await?;
    let mut claimed = Vec::with_capacity(batch.claims.len());
    for request in batch.claims {
        claimed.push(claim(conn, request).await?);
    }
    Ok(WriteResults {
        appended,
        completed,
        claimed,
    })
}

/// The first key of the transaction-level advisory locks claims take on ordering keys (the
/// second is the key's hash), apart from the single-key lock sqlx takes while migrating.
const KEY_LOCK_CLASS: i32 = 0x6865_7264;

/// Whether the delivery `d` may run as far as its ordering key goes: it has none, or it is
/// the head of its key ((created_at, id) order) and no other delivery of the key is leased
/// at `$1`.
macro_rules! key_is_free {
    () => {
        "(d.ordering_key IS NULL OR (
             NOT EXISTS (SELECT 1 FROM deliveries o
                 WHERE o.ordering_key = d.ordering_key AND o.status = 'pending'
                   AND (o.created_at, o.id) < (d.created_at, d.id))
             AND NOT EXISTS (SELECT 1 FROM deliveries o
                 WHERE o.ordering_key = d.ordering_key AND o.status = 'pending'
                   AND o.lease_until > $1 AND o.id <> d.id)))"
    };
}

/// Lock the due rows, skipping rows another transaction holds so replicas never wait on
/// each other's claims; lease those without an ordering key at once, and of the others
/// try to take their key's advisory lock. Rows of kind `leased` are leased; `keyed` rows
/// hold their key's lock and are still to be checked (see `claim`). A keyed row whose key
/// another claim holds is not returned: it stays locked, untouched, until commit.
/// The rows considered are the due unkeyed ones (at most the limit) and each key's head
/// (`ordering_heads`), so a long backlog of one key costs a claim no more than a short
/// one. Heads are looked up with `= ANY(ARRAY(…))`, not `IN`: expecting a hundred of them,
/// the planner hashed the whole table to join them. Of the rows locked, the oldest up to
/// the limit are taken; the others stay locked, untouched, until commit. MATERIALIZED
/// keeps each locking step to one evaluation, so LIMIT holds and no key is locked
/// needlessly.
const CLAIM: &str = concat!(
    "WITH RECURSIVE ",
    crate::common::ordering_heads!(""),
    ", unkeyed AS MATERIALIZED (
         SELECT d.id, d.ordering_key, d.next_attempt_at FROM deliveries d
         WHERE d.status = 'pending' AND d.ordering_key IS NULL AND d.next_attempt_at <= $1
           AND (d.lease_until IS NULL OR d.lease_until <= $1)
           AND d.action <> ALL($7)
         ORDER BY d.next_attempt_at, d.id
         LIMIT $2
         FOR UPDATE SKIP LOCKED
     ), keyed_heads AS MATERIALIZED (
         SELECT d.id, d.ordering_key, d.next_attempt_at FROM deliveries d
         WHERE d.id = ANY(ARRAY(SELECT id FROM heads))
           AND d.status = 'pending' AND d.next_attempt_at <= $1
           AND (d.lease_until IS NULL OR d.lease_until <= $1)
           AND d.action <> ALL($7)
           AND ",
    key_is_free!(),
    "
         FOR UPDATE SKIP LOCKED
     ), due AS MATERIALIZED (
         SELECT id, ordering_key FROM (
             SELECT * FROM unkeyed UNION ALL SELECT * FROM keyed_heads
         ) AS candidates
         ORDER BY next_attempt_at, id
         LIMIT $2
     ), leased AS (
         UPDATE deliveries
         SET claims = claims + 1, lease_owner = $3, lease_token = $4, lease_until = $5
         WHERE id IN (SELECT id FROM due WHERE ordering_key IS NULL)
         RETURNING ",
    delivery_columns!(),
    "
     ), keyed AS MATERIALIZED (
         SELECT id FROM due
         WHERE ordering_key IS NOT NULL
           AND pg_try_advisory_xact_lock($6, hashtext(ordering_key))
     )
     SELECT 'leased' AS kind, ",
    delivery_columns!(),
    " FROM leased
     UNION ALL
     SELECT 'keyed' AS kind, ",
    delivery_columns!(),
    " FROM deliveries WHERE id IN (SELECT id FROM keyed)"
);

/// Lease the locked keyed rows still free to run. This statement's snapshot is taken after
/// their keys' locks: any claim that leased a row of one of these keys has committed by
/// now (its lock is gone), so its lease is seen here.
const CLAIM_KEYED: &str = concat!(
    "UPDATE deliveries d SET claims = claims + 1, lease_owner = $3, lease_token = $4,
         lease_until = $5
     WHERE d.id = ANY($2) AND ",
    key_is_free!(),
    " RETURNING ",
    delivery_columns!()
);

/// Lease due rows with one token for them all. Unkeyed rows take one statement. A keyed row
/// takes a second: two claimers each reading a snapshot taken before the other's lease
/// committed could both see their row as the head of the key (a replay or a late append
/// can make an older row pending), so claims hold a transaction lock per key and check
/// again once they hold it. Relies on READ COMMITTED (a new snapshot per statement).
async fn claim(conn: &mut PgConnection, request: &ClaimRequest) -> Result<Vec<ClaimedDelivery>> {
    if request.limit == 0 {
        return Ok(Vec::new());
    }
    let lease_token = Uuid::now_v7();
    let found = sqlx::query(CLAIM)
        .bind(request.now)
        .bind(i64::from(request.limit))
        .bind(&request.owner)
        .bind(lease_token)
        .bind(request.lease_until)
        .bind(KEY_LOCK_CLASS)
        .bind(&request.skip_actions)
        .fetch_all(&mut *conn)
        .await?;
    let mut leased = Vec::with_capacity(found.len());
    let mut keyed = Vec::new();
    for row in &found {
        match row.try_get::<&str, _>("kind")? {
            "leased" => leased.push(rows::delivery(row)?),
            "keyed" => keyed.push(row.try_get::<Uuid, _>("id")?),
            kind => return Err(StoreError::Corrupt(format!("unknown row kind {kind:?}"))),
        }
    }
    if !keyed.is_empty() {
        let found = sqlx::query(CLAIM_KEYED)
            .bind(request.now)
            .bind(&keyed)
            .bind(&request.owner)
            .bind(lease_token)
            .bind(request.lease_until)
            .fetch_all(&mut *conn)
            .await?;
        for row in &found {
            leased.push(rows::delivery(row)?);
        }
    }
    let mut claimed: Vec<_> = leased
        .into_iter()
        .map(|delivery| ClaimedDelivery {
            delivery,
            lease_token,
        })
        .collect();
    // RETURNING has no order; callers expect oldest due first.
    claimed.sort_by_key(|claim| (claim.delivery.next_attempt_at, claim.delivery.id));
    Ok(claimed)
}

/// Lease the named deliveries that are pending and not leased at `$5`, due or not and
/// whatever their ordering key, with one new token. A row another transaction is changing
/// (a claim, a completion) is waited for, then checked again as it was committed, so a
/// lease taken meanwhile is never stolen.
const CLAIM_IDS: &str = concat!(
    "UPDATE deliveries SET claims = claims + 1, lease_owner = $1, lease_token = $2,
         lease_until = $3
     WHERE id = ANY($4) AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $5)
     RETURNING ",
    delivery_columns!()
);

pub(super) async fn claim_ids(
    pool: &PgPool,
    ids: &[Uuid],
    request: &ClaimRequest,
) -> Result<Vec<ClaimedDelivery>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lease_token = Uuid::now_v7();
    let found = sqlx::query(CLAIM_IDS)
        .bind(&request.owner)
        .bind(lease_token)
        .bind(request.lease_until)
        .bind(ids)
        .bind(request.now)
        .fetch_all(pool)
        .await?;
    let deliveries = found.iter().map(rows::delivery).collect::<Result<_>>()?;
    Ok(leased(deliveries, lease_token))
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

pub(super) async fn heartbeat(
    pool: &PgPool,
    owner: &str,
    now: Timestamp,
    stale_before: Timestamp,
) -> Result<u64> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO instances (owner, heartbeat_at) VALUES ($1, $2)
         ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
    )
    .bind(owner)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // The stale rows are taken (and locked) first, so two processes releasing at once
    // each release a dead process's leases once.
    let released = sqlx::query(
        "WITH gone AS (
             DELETE FROM instances WHERE heartbeat_at < $1 AND owner <> $2 RETURNING owner
         ), pollers_released AS (
             UPDATE pollers SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner IN (SELECT owner FROM gone)
         )
         UPDATE deliveries SET lease_owner = NULL, lease_token = NULL, lease_until = NULL
         WHERE lease_token IS NOT NULL AND lease_owner IN (SELECT owner FROM gone)",
    )
    .bind(stale_before)
    .bind(owner)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(released)
}
