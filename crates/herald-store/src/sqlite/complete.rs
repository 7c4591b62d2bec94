//! Completing attempts on SQLite: one INSERT records the attempts of the deliveries whose
//! lease token still holds, then one `UPDATE … FROM` moves those deliveries to their next
//! step, and a delete and an upsert write every record's refs, all in the batch's one
//! command. `change_refs` writes refs with the same statements, on conditions.

use super::connection::{WriteConnection, begin};
use super::rows::{from_json, ms, to_json, uuid};
use super::write::{Command, MAX_PARAMS};
use crate::Result;
use crate::common::{
    RefRow, StoredRequest, change_conditions, change_rows, completion_rounds, conditions_hold,
    next_state, ref_rows,
};
use crate::compress::{self, Effort};
use crate::model::*;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::HashSet;
use uuid::Uuid;

const ATTEMPT_PARAMS: usize = 12;
const UPDATE_PARAMS: usize = 10;
const LEASE_PARAMS: usize = 2;
const REF_PARAMS: usize = 6;
const REF_KEY_PARAMS: usize = 2;
const CONDITION_PARAMS: usize = 3;

/// Push the statements of every round (see `completion_rounds`); the deliveries updated
/// come back as rows of kind `completed`. Returns the rounds.
pub(super) fn push(command: &mut Command, records: &[AttemptRecord]) -> Result<Vec<Vec<usize>>> {
    let rounds = completion_rounds(records);
    for (round, indices) in rounds.iter().enumerate() {
        let picked: Vec<&AttemptRecord> = indices.iter().map(|&i| &records[i]).collect();
        push_still_leased(command, &picked, round);
        push_attempts(command, &picked);
        push_update(command, &picked);
    }
    push_ref_rows(command, &ref_rows(records))?;
    Ok(rounds)
}

/// Write the refs: one writer at a time on SQLite, so deletes first (the deleted refs, and
/// those written anew after a delete in the same batch or change), then the upserts.
fn push_ref_rows(command: &mut Command, rows: &[RefRow<'_>]) -> Result<()> {
    let cleared: Vec<&RefRow<'_>> = rows
        .iter()
        .filter(|row| row.write.delete || row.recreated)
        .collect();
    push_ref_deletes(command, &cleared);
    let refs = rows
        .iter()
        .filter(|row| !row.write.delete)
        .map(|row| Ok((to_json(&row.write.data)?, row)))
        .collect::<Result<Vec<_>>>()?;
    push_refs(command, &refs);
    Ok(())
}

/// `Store::change_refs`: in one `BEGIN IMMEDIATE` transaction on the write connection, count
/// the refs of the conditions and, if they hold, write the refs with the statements a
/// completion uses. The write connection is held throughout, so no other write (of this
/// process or, with the database locked, of another) comes between.
pub(super) async fn change_refs(write: &WriteConnection, change: &RefChange) -> Result<bool> {
    let conditions = change_conditions(change);
    let mut command = Command::default();
    push_ref_rows(&mut command, &change_rows(change))?;
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let mut found = (0, 0);
    for chunk in conditions.chunks(MAX_PARAMS / CONDITION_PARAMS) {
        let (absent, present) = found_refs(&mut tx, chunk).await?;
        found = (found.0 + absent, found.1 + present);
    }
    if !conditions_hold(&conditions, found) {
        tx.rollback().await?;
        return Ok(false);
    }
    command.run(&mut tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// How many refs exist of the conditions that want them absent, and of those that want
/// them present.
async fn found_refs(
    conn: &mut SqliteConnection,
    conditions: &[(&str, &str, bool)],
) -> Result<(i64, i64)> {
    let mut query = QueryBuilder::<Sqlite>::new("WITH c (kind, key, absent) AS (");
    query.push_values(conditions, |mut row, &(kind, key, absent)| {
        row.push_bind(kind.to_string())
            .push_bind(key.to_string())
            .push_bind(absent);
    });
    query.push(
        ") SELECT coalesce(sum(c.absent), 0), coalesce(sum(NOT c.absent), 0)
         FROM c JOIN refs r ON r.kind = c.kind AND r.key = c.key",
    );
    let row = query.build().fetch_one(conn).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// A `completed` row: the round and the deliveries it updates.
pub(super) fn completed(row: &SqliteRow) -> Result<Vec<(usize, Uuid)>> {
    let round = row.try_get::<i64, _>("n")? as usize;
    let ids: Vec<String> = from_json(row.try_get("ids")?, "ids")?;
    ids.iter().map(|id| Ok((round, uuid(id)?))).collect()
}

/// Whether each record was written (false: its token no longer held the delivery).
pub(super) fn outcomes(
    records: &[AttemptRecord],
    rounds: &[Vec<usize>],
    completed: &HashSet<(usize, Uuid)>,
) -> Vec<bool> {
    let mut done = vec![false; records.len()];
    for (round, indices) in rounds.iter().enumerate() {
        for &index in indices {
            done[index] = completed.contains(&(round, records[index].delivery_id));
        }
    }
    done
}

/// Record the attempts of the deliveries still leased under each record's token, numbered
/// after the attempts made so far. Runs before the update, which changes both. A large
/// request is stored as the frame `prepare_complete` made (`request_frame`), a large
/// response body as one made here (migration 0013).
fn push_attempts(command: &mut Command, records: &[&AttemptRecord]) {
    let rows: Vec<_> = records
        .iter()
        .map(|record| {
            let stored = StoredRequest::of(record);
            let request = stored.text().map(|text| text.as_str().to_string());
            let request_zstd = stored.frame().map(Vec::from);
            let request_against = stored.against().map(Vec::from);
            let (response, response_zstd) = match record.response_body.as_deref() {
                Some(body) => {
                    let (text, frame) = compress::split(body, Effort::Small);
                    (text.map(str::to_string), frame.map(Vec::from))
                }
                None => (None, None),
            };
            let frames = [request_zstd, response_zstd, request_against];
            (*record, [request, response], frames)
        })
        .collect();
    command.rows(
        "WITH done (delivery_id, token, started_at, duration_ms, outcome, status_code, error,
             request, response_body, request_zstd, response_zstd, request_against) AS (",
        &rows,
        ATTEMPT_PARAMS,
        ") INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome,
             status_code, error, request, response_body, request_zstd, response_zstd,
             request_against, action)
         SELECT d.id, d.attempts + 1, done.started_at, done.duration_ms, done.outcome,
             done.status_code, done.error, done.request, done.response_body,
             done.request_zstd, done.response_zstd, done.request_against, d.action
         FROM done JOIN deliveries d ON d.id = done.delivery_id
         WHERE d.status = 'pending' AND d.lease_token = done.token",
        |row, (record, [request, response], [request_zstd, response_zstd, request_against])| {
            row.push_bind(record.delivery_id.to_string())
                .push_bind(record.lease_token.to_string())
                .push_bind(ms(record.started_at))
                .push_bind(record.duration_ms)
                .push_bind(record.next.outcome().as_str())
                .push_bind(record.status_code)
                .push_bind(record.error.clone())
                .push_bind(request.clone())
                .push_bind(response.clone())
                .push_bind(request_zstd.clone())
                .push_bind(response_zstd.clone())
                .push_bind(request_against.clone());
        },
    );
}

/// One `completed` row per statement: the deliveries still leased under their record's
/// token, which the round's attempt and update statements then write. Read before them,
/// in the same transaction, as one row rather than the update's `RETURNING` row by row:
/// each row is a hand-off between SQLite's thread and the writer's (see `Command`).
fn push_still_leased(command: &mut Command, records: &[&AttemptRecord], round: usize) {
    command.rows(
        "WITH done (delivery_id, token) AS (",
        records,
        LEASE_PARAMS,
        &format!(
            ") SELECT 'completed' AS kind, {round} AS n, json_group_array(d.id) AS ids
             FROM done JOIN deliveries d ON d.id = done.delivery_id
             WHERE d.status = 'pending' AND d.lease_token = done.token"
        ),
        |row, record| {
            row.push_bind(record.delivery_id.to_string())
                .push_bind(record.lease_token.to_string());
        },
    );
}

/// Move each delivery still leased under the record's token to its next step.
fn push_update(command: &mut Command, records: &[&AttemptRecord]) {
    command.rows(
        "WITH done (delivery_id, token, new_status, counts, retry_at, code, error, done_at,
             new_progress, new_failure_kind)
         AS (",
        records,
        UPDATE_PARAMS,
        ") UPDATE deliveries SET
                 status = new_status, attempts = attempts + 1,
                 retries_used = retries_used + counts,
                 next_attempt_at = COALESCE(retry_at, next_attempt_at),
                 last_status_code = code, last_error = error, updated_at = done_at,
                 progress = new_progress, failure_kind = new_failure_kind, claims = 0,
                 lease_owner = NULL, lease_token = NULL, lease_until = NULL
             FROM done
             WHERE id = done.delivery_id AND status = 'pending' AND lease_token = done.token",
        |row, record| {
            let (status, retry_at, counts) = next_state(record.next);
            row.push_bind(record.delivery_id.to_string())
                .push_bind(record.lease_token.to_string())
                .push_bind(status.as_str())
                .push_bind(i64::from(counts))
                .push_bind(retry_at.map(ms))
                .push_bind(record.status_code)
                .push_bind(record.error.clone())
                .push_bind(ms(record.now))
                .push_bind(record.progress)
                .push_bind(record.failure_kind.map(FailureKind::as_str));
        },
    );
}

/// Delete these refs, whether or not their record's token still held.
fn push_ref_deletes(command: &mut Command, refs: &[&RefRow<'_>]) {
    command.rows(
        "DELETE FROM refs WHERE (kind, key) IN (",
        refs,
        REF_KEY_PARAMS,
        ")",
        |row, to_delete| {
            row.push_bind(to_delete.write.kind.clone())
                .push_bind(to_delete.write.key.clone());
        },
    );
}

/// Insert or replace the refs, whether or not their record's token still held: the external
/// system did the work, so what it returned must be remembered.
fn push_refs(command: &mut Command, refs: &[(String, &RefRow<'_>)]) {
    command.rows(
        "INSERT INTO refs (kind, key, data, ref_group, created_at, updated_at)
         SELECT * FROM (",
        refs,
        REF_PARAMS,
        ") WHERE column1 IS NOT NULL
         ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data,
             ref_group = excluded.ref_group, updated_at = excluded.updated_at",
        |row, (data, to_write)| {
            row.push_bind(to_write.write.kind.clone())
                .push_bind(to_write.write.key.clone())
                .push_bind(data.clone())
                .push_bind(to_write.write.group.clone())
                .push_bind(ms(to_write.created_at))
                .push_bind(ms(to_write.updated_at));
        },
    );
}
