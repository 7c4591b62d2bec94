//! Writes on SQLite. Each runs in a `BEGIN IMMEDIATE` transaction on the single write
//! connection: a deferred transaction that later upgrades to a write would fail with
//! SQLITE_BUSY instead of waiting for another process's writer.

use super::connection::{WriteConnection, begin};
use super::rows::{self, ms, to_json};
use super::{append, complete, windows};
use crate::common::{Holders, append_outcomes, delivery_columns, leased, ordering_heads};
use crate::model::*;
use crate::{Result, StoreError};
use sqlx::query_builder::Separated;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::HashSet;
use uuid::Uuid;

/// Bound parameters one statement may hold: SQLite's default limit since 3.32.
pub(super) const MAX_PARAMS: usize = 32766;

/// The rows of every multi-row statement of a `Command`. Unused rows are NULL and skipped,
/// so a statement's text does not depend on how many rows it writes: SQLite compiles a
/// command once and sqlx keeps it, where compiling every batch's statements anew took a
/// third of the writer's time.
pub(super) const ROWS: usize = 32;

/// Statements sent to SQLite's thread as one command. Each command is a round trip to that
/// thread, and waking it costs more than most of these statements. sqlx runs every
/// statement of the text in order, binding the `?` parameters in order (its docs call
/// this SQLite-only behaviour deprecated; the conformance suite would catch its removal).
/// Rows are told apart by their first column, `kind`.
///
/// The text of a command depends only on which statements it holds, never on the values
/// or the number of rows (see `ROWS`), so sqlx's statement cache keeps it compiled.
#[derive(Default)]
pub(super) struct Command {
    query: Option<QueryBuilder<Sqlite>>,
    /// More rows than a writer's batch has: a one-off text, kept out of the cache.
    oversized: bool,
}

/// Rows a multi-row statement of a cached command may have in all (the writer's batches
/// hold at most 256 jobs).
const CACHED_ROWS: usize = 8 * ROWS;

impl Command {
    /// Start the next statement with `sql`; bind its values on the builder returned.
    pub(super) fn statement(&mut self, sql: &str) -> &mut QueryBuilder<Sqlite> {
        let started = self.query.is_some();
        let query = self.query.get_or_insert_with(|| QueryBuilder::new(""));
        if started {
            query.push(";\n");
        }
        query.push(sql);
        query
    }

    /// One statement per `ROWS` of `rows`: `head`, a `VALUES` list of `ROWS` rows of
    /// `width` values (`bind` binds a row's), then `tail`. The rows left over are all NULL,
    /// and the statement must skip them, e.g. with `WHERE column1 IS NOT NULL`.
    pub(super) fn rows<T>(
        &mut self,
        head: &str,
        rows: &[T],
        width: usize,
        tail: &str,
        mut bind: impl FnMut(&mut Separated<'_, Sqlite, &'static str>, &T),
    ) {
        self.oversized |= rows.len() > CACHED_ROWS;
        for chunk in rows.chunks(ROWS) {
            let padded = chunk
                .iter()
                .map(Some)
                .chain(std::iter::repeat_n(None, ROWS - chunk.len()));
            let query = self.statement(head);
            query.push_values(padded, |mut row, item| match item {
                Some(item) => bind(&mut row, item),
                None => {
                    for _ in 0..width {
                        row.push_bind(None::<i64>);
                    }
                }
            });
            query.push(tail);
        }
    }

    /// Run the statements in order; the rows they return, in order.
    pub(super) async fn run(self, conn: &mut SqliteConnection) -> Result<Vec<SqliteRow>> {
        let Some(mut query) = self.query else {
            return Ok(Vec::new());
        };
        Ok(query
            .build()
            .persistent(!self.oversized)
            .fetch_all(conn)
            .await?)
    }
}

/// One transaction for the whole batch: appends, then completions, then claims. The
/// transaction begins and, unless events join windows, commits in the batch's command:
/// one round trip to SQLite's thread for the whole write.
pub(super) async fn write(write: &WriteConnection, batch: &WriteBatch<'_>) -> Result<WriteResults> {
    if batch.is_empty() {
        return Ok(WriteResults::default());
    }
    // Which events join windows depends on which were stored: known only after the command.
    let joins_windows = batch.appends.iter().any(|item| !item.windows.is_empty());
    let Plan {
        mut command,
        rounds,
        tokens,
    } = Plan::new(batch)?;
    if !joins_windows {
        command.statement("COMMIT");
    }
    write
        .in_transaction(async |conn| {
            let rows = command.run(conn).await?;
            let results = Plan::results(batch, &rounds, &tokens, &rows)?;
            if joins_windows {
                windows::append(conn, batch.appends, &results.appended).await?;
                sqlx::query("COMMIT").execute(&mut *conn).await?;
            }
            Ok(results)
        })
        .await
}

/// A batch's command, and what it takes to read the results back.
struct Plan {
    command: Command,
    /// Completion rounds (see `completion_rounds`).
    rounds: Vec<Vec<usize>>,
    /// The lease token of each claim.
    tokens: Vec<Uuid>,
}

impl Plan {
    /// The batch's statements, after the `BEGIN` of its transaction.
    fn new(batch: &WriteBatch<'_>) -> Result<Plan> {
        let mut command = Command::default();
        command.statement("BEGIN IMMEDIATE");
        append::push(&mut command, batch.appends)?;
        let rounds = complete::push(&mut command, batch.completions)?;
        let tokens = batch
            .claims
            .iter()
            .enumerate()
            .map(|(index, request)| push_claim(&mut command, index, request))
            .collect();
        Ok(Plan {
            command,
            rounds,
            tokens,
        })
    }

    fn results(
        batch: &WriteBatch<'_>,
        rounds: &[Vec<usize>],
        tokens: &[Uuid],
        rows: &[SqliteRow],
    ) -> Result<WriteResults> {
        let mut holders = Holders::new();
        let mut completed = HashSet::new();
        let mut claimed = vec![Vec::new(); batch.claims.len()];
        for row in rows {
            match row.try_get::<&str, _>("kind")? {
                "holders" => holders.extend(append::holders(row)?),
                "completed" => completed.extend(complete::completed(row)?),
                "claim" => {
                    let (index, delivery) = claimed_row(row)?;
                    let (Some(claims), Some(&lease_token)) =
                        (claimed.get_mut(index), tokens.get(index))
                    else {
                        return Err(StoreError::Corrupt(format!("no claim {index}")));
                    };
                    claims.push(ClaimedDelivery {
                        delivery,
                        lease_token,
                    });
                }
                kind => return Err(StoreError::Corrupt(format!("unknown row kind {kind:?}"))),
            }
        }
        for claims in &mut claimed {
            // RETURNING has no order; callers expect oldest due first.
            claims.sort_by_key(|claim| (claim.delivery.next_attempt_at, claim.delivery.id));
        }
        Ok(WriteResults {
            appended: append_outcomes(batch.appends, &holders)?,
            completed: complete::outcomes(batch.completions, rounds, &completed),
            claimed,
        })
    }
}

/// Lease the due rows with one statement and one token for them all; returns the token.
fn push_claim(command: &mut Command, index: usize, request: &ClaimRequest) -> Uuid {
    let lease_token = Uuid::now_v7();
    if request.limit == 0 {
        return lease_token;
    }
    let now = ms(request.now);
    let query = command.statement("UPDATE deliveries SET claims = claims + 1, lease_owner = ");
    query.push_bind(request.owner.clone());
    query
        .push(", lease_token = ")
        .push_bind(lease_token.to_string());
    query
        .push(", lease_until = ")
        .push_bind(ms(request.lease_until));
    // Due deliveries without a key (oldest first, at most the limit), and each key's head
    // if it is due and no other delivery of its key is leased; of those, the oldest. SQLite
    // has one writer, so the rows this sees are the rows it leases, and a later claim sees
    // the lease.
    let skip = serde_json::to_string(&request.skip_actions).unwrap_or_else(|_| "[]".into());
    query.push(concat!(
        " WHERE id IN (WITH RECURSIVE ",
        ordering_heads!("INDEXED BY deliveries_ordering_idx"),
        ", candidates(id, next_attempt_at) AS (
             SELECT id, next_attempt_at FROM (
                 SELECT d.id, d.next_attempt_at
                 FROM deliveries d INDEXED BY deliveries_unkeyed_due_idx
                 WHERE d.status = 'pending' AND d.ordering_key IS NULL AND d.next_attempt_at <= "
    ));
    push_free_to_run(query, now, &skip);
    // A bare `LIMIT ?` would have SQLite compile the statement again for each new limit.
    query.push(" ORDER BY d.next_attempt_at, d.id LIMIT (SELECT ");
    query.push_bind(i64::from(request.limit));
    query.push(
        "))
             UNION ALL
             SELECT d.id, d.next_attempt_at FROM heads JOIN deliveries d ON d.id = heads.id
             WHERE d.next_attempt_at <= ",
    );
    push_free_to_run(query, now, &skip);
    query.push(
        " AND NOT EXISTS (SELECT 1 FROM deliveries o
                 WHERE o.ordering_key = d.ordering_key AND o.status = 'pending'
                   AND o.lease_until > ",
    );
    query.push_bind(now);
    query.push(" AND o.id <> d.id))");
    query.push(" SELECT id FROM candidates ORDER BY next_attempt_at, id LIMIT (SELECT ");
    query.push_bind(i64::from(request.limit));
    query.push(format!(
        ")) RETURNING 'claim' AS kind, {index} AS n, {}",
        delivery_columns!()
    ));
    lease_token
}

/// The rest of "`d` is due at `now`, not leased, and of an action not skipped", after
/// `d.next_attempt_at <= `.
fn push_free_to_run(query: &mut QueryBuilder<Sqlite>, now: i64, skip: &str) {
    query.push_bind(now);
    query
        .push(" AND (d.lease_until IS NULL OR d.lease_until <= ")
        .push_bind(now);
    query.push(") AND d.action NOT IN (SELECT value FROM json_each(");
    query.push_bind(skip.to_string());
    query.push("))");
}

/// A `claim` row: the claim's index and the delivery it leased.
fn claimed_row(row: &SqliteRow) -> Result<(usize, Delivery)> {
    let index: i64 = row.try_get("n")?;
    let index = usize::try_from(index)
        .map_err(|_| StoreError::Corrupt(format!("bad claim index {index}")))?;
    Ok((index, rows::delivery(row)?))
}

/// Lease the named deliveries that are pending and not leased at `now`, due or not and
/// whatever their ordering key, with one new token.
pub(super) async fn claim_ids(
    write: &WriteConnection,
    ids: &[Uuid],
    request: &ClaimRequest,
) -> Result<Vec<ClaimedDelivery>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lease_token = Uuid::now_v7();
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let found = sqlx::query(concat!(
        "UPDATE deliveries SET claims = claims + 1, lease_owner = ?1, lease_token = ?2,
             lease_until = ?3
         WHERE id IN (SELECT value FROM json_each(?4)) AND status = 'pending'
           AND (lease_until IS NULL OR lease_until <= ?5)
         RETURNING ",
        delivery_columns!()
    ))
    .bind(&request.owner)
    .bind(lease_token.to_string())
    .bind(ms(request.lease_until))
    .bind(to_json(ids)?)
    .bind(ms(request.now))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let deliveries = found.iter().map(rows::delivery).collect::<Result<_>>()?;
    Ok(leased(deliveries, lease_token))
}

pub(super) async fn release_leases(write: &WriteConnection, lease_tokens: &[Uuid]) -> Result<u64> {
    if lease_tokens.is_empty() {
        return Ok(0);
    }
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let released = sqlx::query(
        "UPDATE deliveries SET lease_owner = NULL, lease_token = NULL, lease_until = NULL
         WHERE lease_token IN (SELECT value FROM json_each(?1))",
    )
    .bind(to_json(lease_tokens)?)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(released)
}

pub(super) async fn heartbeat(
    write: &WriteConnection,
    owner: &str,
    now: Timestamp,
    stale_before: Timestamp,
) -> Result<u64> {
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    sqlx::query(
        "INSERT INTO instances (owner, heartbeat_at) VALUES (?1, ?2)
         ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
    )
    .bind(owner)
    .bind(ms(now))
    .execute(&mut *tx)
    .await?;
    let released = sqlx::query(
        "UPDATE deliveries SET lease_owner = NULL, lease_token = NULL, lease_until = NULL
         WHERE lease_token IS NOT NULL AND lease_owner IN
             (SELECT owner FROM instances WHERE heartbeat_at < ?1 AND owner <> ?2)",
    )
    .bind(ms(stale_before))
    .bind(owner)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE pollers SET lease_owner = NULL, lease_until = NULL
         WHERE lease_owner IN
             (SELECT owner FROM instances WHERE heartbeat_at < ?1 AND owner <> ?2)",
    )
    .bind(ms(stale_before))
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM instances WHERE heartbeat_at < ?1 AND owner <> ?2")
        .bind(ms(stale_before))
        .bind(owner)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(released)
}
