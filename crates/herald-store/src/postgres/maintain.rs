//! Replay and prune on PostgreSQL.

use crate::Result;
use crate::common::PRUNE_CHUNK;
use crate::model::*;
use sqlx::postgres::PgPool;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

pub(super) async fn replay(
    pool: &PgPool,
    selector: &ReplaySelector,
    now: Timestamp,
) -> Result<Vec<Uuid>> {
    if matches!(selector, ReplaySelector::Ids(ids) if ids.is_empty()) {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::<Postgres>::new("UPDATE deliveries SET status = 'pending', ");
    query.push("next_attempt_at = ").push_bind(now);
    query.push(", updated_at = ").push_bind(now);
    query.push(", retries_used = 0, lease_owner = NULL, lease_token = NULL, lease_until = NULL");
    // A dead delivery resumes after the steps it did; a succeeded one runs again in full.
    query.push(
        ", failure_kind = NULL, progress = CASE WHEN status = 'succeeded' THEN 0 ELSE progress END",
    );
    match selector {
        ReplaySelector::Ids(ids) => {
            query
                .push(" WHERE id = ANY(")
                .push_bind(ids.clone())
                .push(")")
                .push(" AND NOT (status = 'pending' AND lease_until IS NOT NULL AND lease_until > ")
                .push_bind(now)
                .push(")");
        }
        ReplaySelector::Filter(filter) => push_filter(&mut query, filter),
    }
    query.push(" RETURNING id");
    let mut ids: Vec<Uuid> = query.build_query_scalar().fetch_all(pool).await?;
    ids.sort_unstable();
    Ok(ids)
}

fn push_filter(query: &mut QueryBuilder<Postgres>, filter: &ReplayFilter) {
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
        query.push(" AND created_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        query.push(" AND created_at < ").push_bind(until);
    }
}

// The outer WHERE repeats the subquery's conditions: PostgreSQL rechecks only the outer
// conditions on rows changed concurrently, so a row replayed meanwhile is left alone.
const PRUNE_SUCCEEDED: &str = "DELETE FROM deliveries
    WHERE status = 'succeeded' AND updated_at < $1
      AND id IN (SELECT id FROM deliveries
                 WHERE status = 'succeeded' AND updated_at < $1 LIMIT $2)";

const PRUNE_DEAD: &str = "DELETE FROM deliveries
    WHERE status = 'dead' AND updated_at < $1
      AND id IN (SELECT id FROM deliveries WHERE status = 'dead' AND updated_at < $1 LIMIT $2)";

/// Their window_events rows go with them (ON DELETE CASCADE). A flushed window never gains
/// a delivery, so the check cannot go stale.
const PRUNE_WINDOWS: &str = "DELETE FROM windows w
    WHERE w.id IN (SELECT o.id FROM windows o
                   WHERE o.status = 'flushed' AND o.flushed_at < $1
                     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.window_id = o.id)
                   LIMIT $2)";

const PRUNE_EVENTS: &str = "DELETE FROM events e
    WHERE e.received_at < $1
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
      AND NOT EXISTS (SELECT 1 FROM window_events we WHERE we.event_id = e.id)
      AND e.id IN (SELECT o.id FROM events o
                   WHERE o.received_at < $1
                     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = o.id)
                     AND NOT EXISTS (SELECT 1 FROM window_events we WHERE we.event_id = o.id)
                   LIMIT $2)";

// Durable refs (`model::DURABLE_REF_PREFIX`) are kept.
const PRUNE_REFS: &str = "DELETE FROM refs
    WHERE updated_at < $1
      AND (kind, key) IN (SELECT kind, key FROM refs
                          WHERE updated_at < $1 AND kind NOT LIKE 'durable:%' LIMIT $2)";

pub(super) async fn prune(pool: &PgPool, policy: &PrunePolicy) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    if let Some(before) = policy.succeeded_before {
        report.deliveries += delete_in_chunks(pool, PRUNE_SUCCEEDED, before).await?;
    }
    if let Some(before) = policy.dead_before {
        report.deliveries += delete_in_chunks(pool, PRUNE_DEAD, before).await?;
    }
    if let Some(before) = policy.events_before {
        // Windows first: the events of those deleted may go with this same cutoff.
        report.windows += delete_in_chunks(pool, PRUNE_WINDOWS, before).await?;
        report.events += delete_in_chunks(pool, PRUNE_EVENTS, before).await?;
    }
    if let Some(before) = policy.refs_before {
        report.refs += delete_in_chunks(pool, PRUNE_REFS, before).await?;
    }
    Ok(report)
}

/// Runs `sql` (binding the cutoff and the chunk size) until it deletes less than a full
/// chunk, so no single statement holds locks on a huge number of rows.
async fn delete_in_chunks(pool: &PgPool, sql: &'static str, before: Timestamp) -> Result<u64> {
    let mut total = 0;
    loop {
        let deleted = sqlx::query(sql)
            .bind(before)
            .bind(PRUNE_CHUNK)
            .execute(pool)
            .await?
            .rows_affected();
        total += deleted;
        if deleted < PRUNE_CHUNK as u64 {
            return Ok(total);
        }
    }
}
