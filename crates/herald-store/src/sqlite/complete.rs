//! Completing attempts on SQLite: one INSERT records the attempts of the deliveries whose
//! lease token still holds, then one `UPDATE … FROM` moves those deliveries to their next
//! step, both in the batch's one command.

use super::rows::{ms, to_json, uuid};
use super::write::{Command, MAX_PARAMS};
use crate::Result;
use crate::common::{completion_rounds, next_state};
use crate::model::*;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::collections::HashSet;
use uuid::Uuid;

/// Parameters per row of the attempts INSERT, the wider of the two statements.
const ATTEMPT_PARAMS: usize = 10;

/// Push the statements of every round (see `completion_rounds`); the deliveries updated
/// come back as rows of kind `completed`. Returns the rounds.
pub(super) fn push(command: &mut Command, records: &[AttemptRecord]) -> Result<Vec<Vec<usize>>> {
    let rounds = completion_rounds(records);
    for (round, indices) in rounds.iter().enumerate() {
        for chunk in indices.chunks(MAX_PARAMS / ATTEMPT_PARAMS) {
            let picked: Vec<&AttemptRecord> = chunk.iter().map(|&i| &records[i]).collect();
            push_attempts(command, &picked)?;
            push_update(command, &picked, round);
        }
    }
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
/// after the attempts made so far. Runs before the update, which changes both.
fn push_attempts(command: &mut Command, records: &[&AttemptRecord]) -> Result<()> {
    let requests = records
        .iter()
        .map(|record| record.request.as_ref().map(to_json).transpose())
        .collect::<Result<Vec<_>>>()?;
    let query = command.statement(
        "WITH done (delivery_id, token, started_at, duration_ms, outcome, status_code, error,
             request, response_body) AS (",
    );
    query.push_values(
        records.iter().zip(requests),
        |mut row, (record, request)| {
            row.push_bind(record.delivery_id.to_string())
                .push_bind(record.lease_token.to_string())
                .push_bind(ms(record.started_at))
                .push_bind(record.duration_ms)
                .push_bind(record.next.outcome().as_str())
                .push_bind(record.status_code)
                .push_bind(record.error.clone())
                .push_bind(request)
                .push_bind(record.response_body.clone());
        },
    );
    query.push(
        ") INSERT INTO attempts (delivery_id, number, started_at, duration_ms, outcome,
             status_code, error, request, response_body)
         SELECT d.id, d.attempts + 1, done.started_at, done.duration_ms, done.outcome,
             done.status_code, done.error, done.request, done.response_body
         FROM done JOIN deliveries d ON d.id = done.delivery_id
         WHERE d.status = 'pending' AND d.lease_token = done.token",
    );
    Ok(())
}

/// Move each delivery still leased under the record's token to its next step.
fn push_update(command: &mut Command, records: &[&AttemptRecord], round: usize) {
    let query = command.statement(
        "WITH done (delivery_id, token, new_status, counts, retry_at, code, error, done_at)
         AS (",
    );
    query.push_values(records, |mut row, record| {
        let (status, retry_at, counts) = next_state(record.next);
        row.push_bind(record.delivery_id.to_string())
            .push_bind(record.lease_token.to_string())
            .push_bind(status.as_str())
            .push_bind(i64::from(counts))
            .push_bind(retry_at.map(ms))
            .push_bind(record.status_code)
            .push_bind(record.error.clone())
            .push_bind(ms(record.now));
    });
    query.push(format!(
        ") UPDATE deliveries SET
             status = new_status, attempts = attempts + 1, retries_used = retries_used + counts,
             next_attempt_at = COALESCE(retry_at, next_attempt_at),
             last_status_code = code, last_error = error, updated_at = done_at,
             lease_owner = NULL, lease_token = NULL, lease_until = NULL
         FROM done
         WHERE id = done.delivery_id AND status = 'pending' AND lease_token = done.token
         RETURNING 'completed' AS kind, {round} AS n, id"
    ));
}
