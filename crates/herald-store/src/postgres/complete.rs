//! Completing attempts on PostgreSQL: one statement per round updates every delivery whose
//! lease token still holds and inserts the attempts of exactly those; one more upserts the
//! refs of every record, and another, if any are deleted, deletes them. `change_refs`
//! writes refs with the same statements, on conditions.

use super::rows::{PgQuery, column};
use crate::Result;
use crate::common::{
    RefRow, StoredRequest, change_conditions, change_keys, change_rows, completion_rounds,
    conditions_hold, next_state, ref_rows,
};
use crate::model::*;
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::types::Json;
use std::collections::HashSet;
use uuid::Uuid;

/// Whether each record was written (false: its token no longer held the delivery).
pub(super) async fn complete(
    conn: &mut PgConnection,
    records: &[AttemptRecord],
) -> Result<Vec<bool>> {
    let mut done = vec![false; records.len()];
    for round in completion_rounds(records) {
        let picked: Vec<&AttemptRecord> = round.iter().map(|&i| &records[i]).collect();
        let written = complete_round(conn, &picked).await?;
        for index in round {
            done[index] = written.contains(&records[index].delivery_id);
        }
    }
    upsert_refs(conn, &ref_rows(records)).await?;
    Ok(done)
}

/// `done`, the records (arguments `$1` to `$18`, see `bind_records`), and `updated`, the
/// deliveries their tokens still held, moved to their next step.
macro_rules! complete_ctes {
    () => {
        "done AS (
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int4[],
            $5::timestamptz[], $6::int4[], $7::text[], $8::timestamptz[],
            $9::timestamptz[], $10::int8[], $11::text[], $12::jsonb[], $13::text[],
            $14::int4[], $15::text[], $16::bytea[], $17::bytea[])
            AS t(id, token, status, counts, retry_at, code, error, done_at, started_at,
                duration_ms, outcome, request, response_body, progress, failure_kind,
                request_zstd, request_against)
        LIMIT $18
    ), updated AS (
        UPDATE deliveries d SET
            status = done.status, attempts = d.attempts + 1,
            retries_used = d.retries_used + done.counts,
            next_attempt_at = COALESCE(done.retry_at, d.next_attempt_at),
            last_status_code = done.code, last_error = done.error, updated_at = done.done_at,
            progress = done.progress, failure_kind = done.failure_kind, claims = 0,
            lease_owner = NULL, lease_token = NULL, lease_until = NULL
        FROM done
        WHERE d.id = done.id AND d.lease_token = done.token
        RETURNING d.id, d.attempts, d.action
    )"
    };
}
pub(super) use complete_ctes;

/// The attempts of the deliveries `updated`, numbered after their attempts so far.
macro_rules! insert_attempts {
    () => {
        "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome,
        status_code, error, request, response_body, action, request_zstd, request_against)
    SELECT u.id, u.attempts, done.started_at, done.duration_ms, done.outcome, done.code,
        done.error, done.request, done.response_body, u.action, done.request_zstd,
        done.request_against
    FROM updated u JOIN done ON done.id = u.id"
    };
}
pub(super) use insert_attempts;

/// Update every delivery still leased under its record's token, and insert the attempts of
/// exactly those: the update matches only while the token holds the lease. Only a pending
/// delivery holds a token (whatever changes its status clears it), so the rows are found
/// by id alone: with `status = 'pending'` also asked, the planner walked the status index
/// over every pending row version not yet vacuumed (12k entries for 140 rows).
///
/// `LIMIT $18` (the number of records, so it drops nothing) is for the plan PostgreSQL
/// caches: not knowing the arrays, it takes an unknown limit to keep a tenth of the
/// rows, so it expects one record and looks each delivery up by an index even while the
/// table is new and small. Without it, the plan cached in a new database scanned the
/// whole table for every round (2-4 ms each) until an `ANALYZE`, and planning the
/// statement anew each time instead cost 0.9 ms a batch.
pub const COMPLETE: &str = concat!(
    "WITH ",
    complete_ctes!(),
    " ",
    insert_attempts!(),
    " RETURNING delivery_id"
);

/// The ids of the deliveries completed. No delivery appears twice in `records`.
async fn complete_round(
    conn: &mut PgConnection,
    records: &[&AttemptRecord],
) -> Result<HashSet<Uuid>> {
    let written = bind_records(sqlx::query(COMPLETE), records)
        .fetch_all(&mut *conn)
        .await?;
    written.iter().map(|row| Ok(row.try_get(0)?)).collect()
}

/// Bind the records' columns, in `complete_ctes`'s order, then their number (see
/// `COMPLETE` for why the statement has a limit).
pub(super) fn bind_records<'q>(query: PgQuery<'q>, records: &[&'q AttemptRecord]) -> PgQuery<'q> {
    let states: Vec<_> = column(records, |r| next_state(r.next));
    query
        .bind(column(records, |r| r.delivery_id))
        .bind(column(records, |r| r.lease_token))
        .bind(states.iter().map(|s| s.0.as_str()).collect::<Vec<_>>())
        .bind(states.iter().map(|s| i32::from(s.2)).collect::<Vec<_>>())
        .bind(states.iter().map(|s| s.1).collect::<Vec<_>>())
        .bind(column(records, |r| r.status_code))
        .bind(column(records, |r| r.error.as_deref()))
        .bind(column(records, |r| r.now))
        .bind(column(records, |r| r.started_at))
        .bind(column(records, |r| r.duration_ms))
        .bind(column(records, |r| r.next.outcome().as_str()))
        .bind(column(records, |r| {
            StoredRequest::of(r).text().map(|text| Json(text.as_raw()))
        }))
        .bind(column(records, |r| r.response_body.as_deref()))
        .bind(column(records, |r| r.progress))
        .bind(column(records, |r| r.failure_kind.map(FailureKind::as_str)))
        .bind(column(records, |r| StoredRequest::of(r).frame()))
        .bind(column(records, |r| StoredRequest::of(r).against()))
        .bind(records.len() as i64)
}

/// Write the records' refs, whether or not their token still held: the external system did
/// the work, so what it returned must be remembered. One upsert takes every row in key
/// order (see `ref_rows`), deleted ones too, so two replicas writing the same refs wait
/// instead of deadlocking; then, on rows this transaction already holds, the deletes go
/// and the refs written anew after a delete take their new creation time.
async fn upsert_refs(conn: &mut PgConnection, refs: &[RefRow<'_>]) -> Result<()> {
    if refs.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = refs.iter().collect();
    sqlx::query(
        "INSERT INTO refs (kind, key, data, ref_group, created_at, updated_at)
         SELECT kind, key, data, ref_group, created_at, updated_at
         FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::timestamptz[],
             $6::timestamptz[])
             WITH ORDINALITY AS r(kind, key, data, ref_group, created_at, updated_at, n)
         ORDER BY n
         ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data,
             ref_group = excluded.ref_group, updated_at = excluded.updated_at",
    )
    .bind(column(&rows, |r| r.write.kind.as_str()))
    .bind(column(&rows, |r| r.write.key.as_str()))
    .bind(column(&rows, |r| Json(&r.write.data)))
    .bind(column(&rows, |r| r.write.group.as_deref()))
    .bind(column(&rows, |r| r.created_at))
    .bind(column(&rows, |r| r.updated_at))
    .execute(&mut *conn)
    .await?;
    let cleared: Vec<_> = refs
        .iter()
        .filter(|r| r.write.delete || r.recreated)
        .collect();
    if cleared.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH r AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::timestamptz[])
                 AS t(kind, key, gone, created_at)
         ), deleted AS (
             DELETE FROM refs USING r
             WHERE refs.kind = r.kind AND refs.key = r.key AND r.gone
         )
         UPDATE refs SET created_at = r.created_at FROM r
         WHERE refs.kind = r.kind AND refs.key = r.key AND NOT r.gone",
    )
    .bind(column(&cleared, |r| r.write.kind.as_str()))
    .bind(column(&cleared, |r| r.write.key.as_str()))
    .bind(column(&cleared, |r| r.write.delete))
    .bind(column(&cleared, |r| r.created_at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The first key of the transaction locks `change_refs` takes on (kind, key); the second is
/// `hashtext(kind || chr(10) || key)`. Apart from the windows' and claims' lock classes.
const REF_LOCK_CLASS: i32 = 0x6872_6566;

/// Lock the keys in hash order, so two changes sharing keys wait instead of deadlocking
/// (the subquery's order is the order the locks are taken in).
const LOCK_REFS: &str = "
    SELECT pg_advisory_xact_lock($1, h) FROM (
        SELECT DISTINCT hashtext(kind || chr(10) || key) AS h
        FROM unnest($2::text[], $3::text[]) AS k(kind, key) ORDER BY h) keys";

/// How many refs exist of the conditions that want them absent, and of those that want
/// them present.
const FOUND_REFS: &str = "
    SELECT count(*) FILTER (WHERE c.absent), count(*) FILTER (WHERE NOT c.absent)
    FROM unnest($1::text[], $2::text[], $3::bool[]) AS c(kind, key, absent)
    JOIN refs r ON r.kind = c.kind AND r.key = c.key";

/// `Store::change_refs`: in one transaction, lock every key the change reads or writes,
/// count the refs of the conditions and, if they hold, write the refs as completions do.
/// Changes sharing a key run one after the other: the count, a statement begun once the
/// locks are held, sees what the last holder committed, so of two changes needing the same
/// key absent and writing it, the second answers false. (Completions take no such lock:
/// one writing a key a change needs absent is not ordered with it.)
pub(super) async fn change_refs(pool: &PgPool, change: &RefChange) -> Result<bool> {
    let keys: Vec<_> = change_keys(change).into_iter().collect();
    let conditions = change_conditions(change);
    let rows = change_rows(change);
    let mut tx = pool.begin().await?;
    sqlx::query(LOCK_REFS)
        .bind(REF_LOCK_CLASS)
        .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    let found: (i64, i64) = sqlx::query_as(FOUND_REFS)
        .bind(conditions.iter().map(|c| c.0).collect::<Vec<_>>())
        .bind(conditions.iter().map(|c| c.1).collect::<Vec<_>>())
        .bind(conditions.iter().map(|c| c.2).collect::<Vec<_>>())
        .fetch_one(&mut *tx)
        .await?;
    if !conditions_hold(&conditions, found) {
        tx.rollback().await?;
        return Ok(false);
    }
    upsert_refs(&mut tx, &rows).await?;
    tx.commit().await?;
    Ok(true)
}
