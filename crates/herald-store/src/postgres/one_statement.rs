//! The writer's usual batch under load, appends and completions and nothing else, written
//! by one statement that commits by itself: one round trip to the server, where the
//! general path (`write.rs`) takes four (`BEGIN`, the append, the completion, `COMMIT`)
//! and each cost as much as the database's own work on the batch.
//!
//! The statement's parts see one snapshot, taken before any of them runs: a completion
//! cannot see an event or delivery appended by the same statement. None needs to: a
//! delivery is completed only after the append that stored it has committed.

use super::append::{self, APPEND_PARAMS};
use super::complete::{self, complete_ctes, insert_attempts};
use super::connection::{WriteConnections, lost};
use crate::common::completion_rounds;
use crate::model::*;
use crate::{Result, StoreError};
use sqlx::Row;
use sqlx::postgres::PgConnection;
use std::collections::HashSet;
use std::sync::LazyLock;
use uuid::Uuid;

/// Whether one statement can write `batch`: no claims (each takes a statement or two of its
/// own), no event joining a window (a window's append locks its key first), no ref to
/// write, and no delivery completed twice (a second record of one delivery must see the
/// first's update, a second statement).
pub(super) fn fits(batch: &WriteBatch<'_>) -> bool {
    batch.claims.is_empty()
        && batch.appends.iter().all(|item| item.windows.is_empty())
        && batch
            .completions
            .iter()
            .all(|record| record.refs.is_empty())
        && completion_rounds(batch.completions).len() <= 1
}

/// Appends (`append_ctes`, arguments from `$1`) and completions (`complete_ctes`, numbered
/// after them); rows of kind `stored` are the events inserted, of kind `completed` the
/// deliveries whose attempt was recorded.
pub static STATEMENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {}, {}, attempted AS ({} RETURNING delivery_id)
         SELECT 'stored' AS kind, id, source, dedup_key FROM inserted
         UNION ALL
         SELECT 'completed', delivery_id, NULL, NULL FROM attempted",
        append::append_ctes(),
        shifted(complete_ctes!(), APPEND_PARAMS),
        insert_attempts!(),
    )
});

/// Write `batch`, which `fits`, on one of the writer's connections. If a kept connection
/// turns out to have been lost (the server closed it while it was idle), the batch is
/// written again on a new one. The loss cannot tell whether the statement had committed
/// first (the server failing just then); if it had, writing again stores nothing twice:
/// an event with a key finds itself holding it and counts as stored, its deliveries are
/// in, and a completion finds its lease token gone and answers false (lost lease) though
/// its attempt was recorded. An event without a key conflicts with itself by id, which
/// fails the batch, as a failure during `COMMIT` does on the general path.
pub(super) async fn write(
    writes: &WriteConnections,
    batch: &WriteBatch<'_>,
) -> Result<WriteResults> {
    let (mut conn, kept) = writes.take().await?;
    let mut outcome = write_on(&mut conn, batch).await;
    if kept
        && let Err(err) = &outcome
        && lost(err)
    {
        tracing::warn!(%err, "a kept write connection failed; writing on another");
        conn = writes.open().await?;
        outcome = write_on(&mut conn, batch).await;
    }
    writes.keep(conn, &outcome);
    outcome
}

/// The batch's statement outside any transaction: it is its own.
async fn write_on(conn: &mut PgConnection, batch: &WriteBatch<'_>) -> Result<WriteResults> {
    let records: Vec<&AttemptRecord> = batch.completions.iter().collect();
    let query = append::bind_append(sqlx::query(STATEMENT.as_str()), batch.appends);
    let rows = complete::bind_records(query, &records)
        .fetch_all(&mut *conn)
        .await?;
    let mut inserted = Vec::new();
    let mut completed = HashSet::new();
    for row in &rows {
        let id: Uuid = row.try_get("id")?;
        match row.try_get::<&str, _>("kind")? {
            "stored" => inserted.push((id, row.try_get("source")?, row.try_get("dedup_key")?)),
            "completed" => {
                completed.insert(id);
            }
            kind => return Err(StoreError::Corrupt(format!("unknown row kind {kind:?}"))),
        }
    }
    // Committed already: a key's holder is looked up in what is committed now.
    let appended = append::outcomes(conn, batch.appends, inserted).await?;
    let completed = batch
        .completions
        .iter()
        .map(|record| completed.contains(&record.delivery_id))
        .collect();
    Ok(WriteResults {
        appended,
        completed,
        claimed: Vec::new(),
    })
}

/// `sql` with each argument `$n` renumbered `$(n + by)`.
fn shifted(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(number) = rest[..digits].parse::<usize>() {
            out.push_str(&(number + by).to_string());
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_renumbers_every_argument_and_nothing_else() {
        assert_eq!(
            shifted("unnest($1::uuid[], $12::text[]) LIMIT $18 -- $x", 24),
            "unnest($25::uuid[], $36::text[]) LIMIT $42 -- $x"
        );
    }

    #[test]
    fn the_statement_numbers_its_arguments_without_gaps() {
        let mut numbers: Vec<usize> = STATEMENT
            .split('$')
            .skip(1)
            .filter_map(|part| {
                let digits = part.bytes().take_while(u8::is_ascii_digit).count();
                part[..digits].parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers, (1..=APPEND_PARAMS + 18).collect::<Vec<_>>());
    }
}
