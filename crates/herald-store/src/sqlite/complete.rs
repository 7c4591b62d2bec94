//! Completing attempts on SQLite: one INSERT records the attempts of the deliveries whose
//! lease token still holds, then one `UPDATE … FROM` moves those deliveries to their next
//! step, and a delete and an upsert write every record's refs, all in the batch's one
//! command.

use super::rows::{ms, to_json, uuid};
use super::write::Command;
use crate::Result;
use crate::common::{RefRow, completion_rounds, next_state, ref_rows};
use crate::compress::{self, Effort};
use crate::model::*;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::collections::HashSet;
use uuid::Uuid;

const ATTEMPT_PARAMS: usize = 11;
const UPDATE_PARAMS: usize = 10;
const REF_PARAMS: usize = 6;
const REF_KEY_PARAMS: usize = 2;

/// Push the statements of every round (see `completion_rounds`); the deliveries updated
/// come back as rows of kind `completed`. Returns the rounds.
pub(super) fn push(command: &mut Command, records: &[AttemptRecord]) -> Result<Vec<Vec<usize>>> {
    let rounds = completion_rounds(records);
    for (round, indices) in rounds.iter().enumerate() {
        let picked: Vec<&AttemptRecord> = indices.iter().map(|&i| &records[i]).collect();
        push_attempts(command, &picked);
        push_update(command, &picked, round);
    }
    // One writer at a time on SQLite: deletes first (the deleted refs, and those written
    // anew after a delete in this batch), then the upserts.
    let rows = ref_rows(records);
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
    Ok(rounds)
}

/// A `completed` row: the round and the delivery it updated.
pub(super) fn completed(row: &SqliteRow) -> Result<(usize, Uuid)> {
    let round: i64 = row.try_get("n")?;
    Ok((round as usize, uuid(row.try_get("id")?)?))
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
/// request is stored as the frame `prepare_complete` made, a large response body as one
/// made here (migration 0013).
fn push_attempts(command: &mut Command, records: &[&AttemptRecord]) {
    let rows: Vec<_> = records
        .iter()
        .map(|record| {
            let request = record
                .request
                .as_ref()
                .map(|r| (r.as_str(), r.compressed_with(Effort::Small)));
            let (request, request_zstd) = match request {
                Some((_, Some(frame))) => (None, Some(frame.to_vec())),
                Some((text, None)) => (Some(text.to_string()), None),
                None => (None, None),
            };
            let (response, response_zstd) = match record.response_body.as_deref() {
                Some(body) => {
                    let (text, frame) = compress::split(body, Effort::Small);
                    (text.map(str::to_string), frame.map(Vec::from))
                }
                None => (None, None),
            };
            (*record, [request, response], [request_zstd, response_zstd])
        })
        .collect();
    command.rows(
        "WITH done (delivery_id, token, started_at, duration_ms, outcome, status_code, error,
             request, response_body, request_zstd, response_zstd) AS (",
        &rows,
        ATTEMPT_PARAMS,
        ") INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome,
             status_code, error, request, response_body, request_zstd, response_zstd, action)
         SELECT d.id, d.attempts + 1, done.started_at, done.duration_ms, done.outcome,
             done.status_code, done.error, done.request, done.response_body,
             done.request_zstd, done.response_zstd, d.action
         FROM done JOIN deliveries d ON d.id = done.delivery_id
         WHERE d.status = 'pending' AND d.lease_token = done.token",
        |row, (record, [request, response], [request_zstd, response_zstd])| {
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
                .push_bind(response_zstd.clone());
        },
    );
}

/// Move each delivery still leased under the record's token to its next step.
fn push_update(command: &mut Command, records: &[&AttemptRecord], round: usize) {
    command.rows(
        "WITH done (delivery_id, token, new_status, counts, retry_at, code, error, done_at,
             new_progress, new_failure_kind)
         AS (",
        records,
        UPDATE_PARAMS,
        &format!(
            ") UPDATE deliveries SET
                 status = new_status, attempts = attempts + 1,
                 retries_used = retries_used + counts,
                 next_attempt_at = COALESCE(retry_at, next_attempt_at),
                 last_status_code = code, last_error = error, updated_at = done_at,
                 progress = new_progress, failure_kind = new_failure_kind, claims = 0,
                 lease_owner = NULL, lease_token = NULL, lease_until = NULL
             FROM done
             WHERE id = done.delivery_id AND status = 'pending' AND lease_token = done.token
             RETURNING 'completed' AS kind, {round} AS n, id"
        ),
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
