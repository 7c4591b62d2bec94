//! Replay and prune on SQLite.

use super::connection::{WriteConnection, begin};
use super::rows::{ms, to_json, uuid};
use crate::Result;
use crate::common::PRUNE_CHUNK;
use crate::model::*;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

pub(super) async fn replay(
    write: &WriteConnection,
    selector: &ReplaySelector,
    now: Timestamp,
) -> Result<Vec<Uuid>> {
    if matches!(selector, ReplaySelector::Ids(ids) if ids.is_empty()) {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::<Sqlite>::new("UPDATE deliveries SET status = 'pending', ");
    query.push("next_attempt_at = ").push_bind(ms(now));
    query.push(", updated_at = ").push_bind(ms(now));
    query.push(", retries_used = 0, lease_owner = NULL, lease_token = NULL, lease_until = NULL");
    // A dead delivery resumes after the steps it did; a succeeded one runs again in full.
    query.push(
        ", failure_kind = NULL, progress = CASE WHEN status = 'succeeded' THEN 0 ELSE progress END",
    );
    match selector {
        ReplaySelector::Ids(ids) => {
            query.push(" WHERE id IN (SELECT value FROM json_each(");
            query.push_bind(to_json(ids)?).push("))");
            query
                .push(" AND NOT (status = 'pending' AND lease_until IS NOT NULL AND lease_until > ")
                .push_bind(ms(now))
                .push(")");
        }
        ReplaySelector::Filter(filter) => push_filter(&mut query, filter),
    }
    query.push(" RETURNING id");
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let replayed: Vec<String> = query.build_query_scalar().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let mut ids = replayed
        .iter()
        .map(|id| uuid(id))
        .collect::<Result<Vec<_>>>()?;
    ids.sort_unstable();
    Ok(ids)
}

fn push_filter(query: &mut QueryBuilder<Sqlite>, filter: &ReplayFilter) {
    // Pending deliveries will run anyway; replaying them would reset their schedule.
    query.push(" WHERE status <> 'pending'");
    if let Some(rule) = &filter.rule {
        query.push(" AND rule = ").push_bind(rule.clone());
    }
    if let Some(action) = &filter.action {
        query.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(since) = filter.since {
        query.push(" AND created_at >= ").push_bind(ms(since));
    }
    if let Some(until) = filter.until {
        query.push(" AND created_at < ").push_bind(ms(until));
    }
}

pub(super) async fn prune(write: &WriteConnection, policy: &PrunePolicy) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    if let Some(before) = policy.succeeded_before {
        report.deliveries += delete_in_chunks(
            write,
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries
                 WHERE status = 'succeeded' AND updated_at < ?1 LIMIT ?2)",
            before,
        )
        .await?;
    }
    if let Some(before) = policy.dead_before {
        report.deliveries += delete_in_chunks(
            write,
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries
                 WHERE status = 'dead' AND updated_at < ?1 LIMIT ?2)",
            before,
        )
        .await?;
    }
    if let Some(before) = policy.events_before {
        // Windows first: the events of those deleted may go with this same cutoff. Their
        // window_events rows go with them (ON DELETE CASCADE).
        report.windows += delete_in_chunks(
            write,
            "DELETE FROM windows WHERE id IN (SELECT w.id FROM windows w
                 WHERE w.status = 'flushed' AND w.flushed_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.window_id = w.id)
                 LIMIT ?2)",
            before,
        )
        .await?;
        report.events += delete_in_chunks(
            write,
            "DELETE FROM events WHERE id IN (SELECT e.id FROM events e
                 WHERE e.received_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
                   AND NOT EXISTS (SELECT 1 FROM window_events we WHERE we.event_id = e.id)
                 LIMIT ?2)",
            before,
        )
        .await?;
    }
    if let Some(before) = policy.refs_before {
        report.refs += delete_in_chunks(
            write,
            // Durable refs (`model::DURABLE_REF_PREFIX`) are kept.
            "DELETE FROM refs WHERE rowid IN (SELECT rowid FROM refs
                 WHERE updated_at < ?1 AND kind NOT LIKE 'durable:%' LIMIT ?2)",
            before,
        )
        .await?;
    }
    Ok(report)
}

/// Runs `sql` (binding the cutoff and the chunk size) in short transactions until it
/// deletes less than a full chunk, so other writers get their turn in between.
async fn delete_in_chunks(
    write: &WriteConnection,
    sql: &'static str,
    before: Timestamp,
) -> Result<u64> {
    let mut total = 0;
    loop {
        let mut conn = write.lock().await?;
        let mut tx = begin(&mut conn).await?;
        let deleted = sqlx::query(sql)
            .bind(ms(before))
            .bind(PRUNE_CHUNK)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        total += deleted;
        if deleted < PRUNE_CHUNK as u64 {
            return Ok(total);
        }
    }
}
