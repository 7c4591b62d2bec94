//! Reads on SQLite, served by the read pool.

use super::rows::{self, ms, time};
use crate::Result;
use crate::common::{
    delivery_columns, ordering_heads, page_limit, ref_columns, sqlite_attempt_columns,
    sqlite_event_columns,
};
use crate::model::*;
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

pub(super) async fn get_event(pool: &SqlitePool, id: Uuid) -> Result<Option<Event>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        sqlite_event_columns!(),
        " FROM events WHERE id = ?1"
    ))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(rows::event).transpose()
}

pub(super) async fn events_by_dedup_key(pool: &SqlitePool, dedup_key: &str) -> Result<Vec<Event>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        sqlite_event_columns!(),
        " FROM events WHERE source IN (SELECT DISTINCT source FROM event_counts)",
        " AND dedup_key = ?1 ORDER BY id DESC"
    ))
    .bind(dedup_key)
    .fetch_all(pool)
    .await?;
    found.iter().map(rows::event).collect()
}

pub(super) async fn list_events(pool: &SqlitePool, filter: &EventQuery) -> Result<Vec<Event>> {
    let found = events_query(concat!("SELECT ", sqlite_event_columns!()), filter)
        .build()
        .fetch_all(pool)
        .await?;
    found.iter().map(rows::event).collect()
}

pub(super) async fn event_payloads(
    pool: &SqlitePool,
    filter: &EventQuery,
) -> Result<Vec<(Uuid, String)>> {
    let found = events_query("SELECT id, payload, payload_zstd", filter)
        .build()
        .fetch_all(pool)
        .await?;
    found.iter().map(rows::event_payload).collect()
}

/// `select` from the events `filter` lists, newest first.
fn events_query(select: &str, filter: &EventQuery) -> QueryBuilder<Sqlite> {
    let mut query = QueryBuilder::<Sqlite>::new(select);
    query.push(" FROM events WHERE 1 = 1");
    if let Some(source) = &filter.source {
        query.push(" AND source = ").push_bind(source.clone());
    }
    if let Some(event_type) = &filter.event_type {
        query
            .push(" AND event_type = ")
            .push_bind(event_type.clone());
    }
    if let Some(since) = filter.since {
        query.push(" AND received_at >= ").push_bind(ms(since));
    }
    if let Some(until) = filter.until {
        query.push(" AND received_at < ").push_bind(ms(until));
    }
    if let Some(before) = filter.before {
        query.push(" AND id < ").push_bind(before.to_string());
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(page_limit(filter.limit));
    query
}

pub(super) async fn activity_since(
    pool: &SqlitePool,
    since: Timestamp,
    limit: u32,
) -> Result<Activity> {
    let limit = i64::from(limit);
    let events: Vec<i64> = sqlx::query_scalar(
        "SELECT received_at FROM events WHERE received_at >= ?1
         ORDER BY received_at DESC LIMIT ?2",
    )
    .bind(ms(since))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let deliveries: Vec<i64> = sqlx::query_scalar(
        "SELECT created_at FROM deliveries WHERE created_at >= ?1
         ORDER BY created_at DESC LIMIT ?2",
    )
    .bind(ms(since))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(Activity {
        events: events.into_iter().map(time).collect::<Result<_>>()?,
        deliveries: deliveries.into_iter().map(time).collect::<Result<_>>()?,
    })
}

pub(super) async fn get_delivery(pool: &SqlitePool, id: Uuid) -> Result<Option<Delivery>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE id = ?1"
    ))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(rows::delivery).transpose()
}

pub(super) async fn list_deliveries(
    pool: &SqlitePool,
    filter: &DeliveryQuery,
) -> Result<Vec<Delivery>> {
    let mut query = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE 1 = 1"
    ));
    if let Some(status) = filter.status {
        // Pending and dead deliveries are few: found in the status index, then sorted.
        // Succeeded ones are most of the table: read newest first by id and filtered (`+`
        // keeps SQLite, which has no statistics, off the index and a sort of them all).
        let term = match status {
            DeliveryStatus::Succeeded => " AND +status = ",
            DeliveryStatus::Pending | DeliveryStatus::Dead => " AND status = ",
        };
        query.push(term).push_bind(status.as_str());
    }
    if let Some(rule) = &filter.rule {
        query.push(" AND rule = ").push_bind(rule.clone());
    }
    if let Some(action) = &filter.action {
        query.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(event_id) = filter.event_id {
        query
            .push(" AND event_id = ")
            .push_bind(event_id.to_string());
    }
    if let Some(since) = filter.since {
        query.push(" AND created_at >= ").push_bind(ms(since));
    }
    if let Some(until) = filter.until {
        query.push(" AND created_at < ").push_bind(ms(until));
    }
    if let Some(before) = filter.before {
        query.push(" AND id < ").push_bind(before.to_string());
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(page_limit(filter.limit));
    let found = query.build().fetch_all(pool).await?;
    found.iter().map(rows::delivery).collect()
}

pub(super) async fn list_attempts(pool: &SqlitePool, delivery_id: Uuid) -> Result<Vec<Attempt>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        sqlite_attempt_columns!(),
        " FROM attempts WHERE delivery_id = ?1 ORDER BY number"
    ))
    .bind(delivery_id.to_string())
    .fetch_all(pool)
    .await?;
    let dictionary = if rows::any_request_against(&found)? {
        delivery_payload(pool, delivery_id)
            .await?
            .map(|payload| crate::compress::payload_dictionary(&payload))
    } else {
        None
    };
    found
        .iter()
        .map(|row| rows::attempt(row, dictionary.as_deref()))
        .collect()
}

/// The payload of the delivery's event as the outbox printed it when it compressed a
/// request against it (`common::request_frame`); None if either is gone (retention keeps an
/// event while a delivery of it is kept). Printed anew from the parsed payload: a payload
/// is stored as it came, which need not be that print.
async fn delivery_payload(pool: &SqlitePool, delivery_id: Uuid) -> Result<Option<String>> {
    let found = sqlx::query(
        "SELECT e.id, e.payload, e.payload_zstd
         FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?1",
    )
    .bind(delivery_id.to_string())
    .fetch_optional(pool)
    .await?;
    let payload = found.as_ref().map(rows::event_payload).transpose()?;
    payload
        .map(|(_, text)| {
            Ok(rows::from_json::<serde_json::Value>(&text, "event payload")?.to_string())
        })
        .transpose()
}

pub(super) async fn queue_depth(pool: &SqlitePool, now: Timestamp) -> Result<QueueDepth> {
    // Three subqueries so each count walks the (status, next_attempt_at) index.
    let (pending, due, dead): (i64, i64, i64) = sqlx::query_as(
        "SELECT
             (SELECT COUNT(*) FROM deliveries WHERE status = 'pending'),
             (SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?1),
             (SELECT COUNT(*) FROM deliveries WHERE status = 'dead')",
    )
    .bind(ms(now))
    .fetch_one(pool)
    .await?;
    Ok(QueueDepth { pending, due, dead })
}

pub(super) async fn get_ref(pool: &SqlitePool, kind: &str, key: &str) -> Result<Option<Ref>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        ref_columns!(),
        " FROM refs WHERE kind = ?1 AND key = ?2"
    ))
    .bind(kind)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(rows::reference).transpose()
}

pub(super) async fn list_refs(pool: &SqlitePool, kind: &str, group: &str) -> Result<Vec<Ref>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        ref_columns!(),
        " FROM refs WHERE kind = ?1 AND ref_group = ?2 ORDER BY updated_at DESC, key"
    ))
    .bind(kind)
    .bind(group)
    .fetch_all(pool)
    .await?;
    rows.iter().map(rows::reference).collect()
}

pub(super) async fn list_refs_of_kind(pool: &SqlitePool, kind: &str) -> Result<Vec<Ref>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        ref_columns!(),
        " FROM refs WHERE kind = ?1 ORDER BY updated_at DESC, key"
    ))
    .bind(kind)
    .fetch_all(pool)
    .await?;
    rows.iter().map(rows::reference).collect()
}

/// The earliest time a delivery may be due, `?1` being now: a lease's end, the next
/// attempt of the oldest unkeyed delivery not leased, or a key's head's unless another
/// delivery of its key is leased (that lease's end counts instead). A delivery behind its
/// key's head waits for the head, whose time counts, so nothing due is missed. Each part
/// reads a few rows of an index — the leased ones, the first unleased, one per key — so a
/// backlog of any size costs it the same; a `MIN` over every pending row took the worker
/// loop a read of the whole backlog each time a claim came back short. Only a pending
/// delivery holds a lease (an attempt's record and a replay clear it), so the leased
/// rows are read by `deliveries_lease_token_idx` alone.
const NEXT_DUE_AT: &str = concat!(
    "WITH RECURSIVE ",
    ordering_heads!("INDEXED BY deliveries_ordering_idx"),
    " SELECT MIN(t) FROM (
         SELECT MIN(d.lease_until) AS t FROM deliveries d INDEXED BY deliveries_lease_token_idx
         WHERE d.lease_token IS NOT NULL AND d.lease_until > ?1
         UNION ALL
         SELECT t FROM (
             SELECT d.next_attempt_at AS t FROM deliveries d INDEXED BY deliveries_unkeyed_due_idx
             WHERE d.status = 'pending' AND d.ordering_key IS NULL
               AND (d.lease_until IS NULL OR d.lease_until <= ?1)
             ORDER BY d.next_attempt_at LIMIT 1
         )
         UNION ALL
         SELECT MIN(d.next_attempt_at) FROM heads JOIN deliveries d ON d.id = heads.id
         WHERE NOT EXISTS (SELECT 1 FROM deliveries o
             WHERE o.ordering_key = d.ordering_key AND o.status = 'pending'
               AND o.lease_until > ?1)
     )"
);

pub(super) async fn next_due_at(pool: &SqlitePool, now: Timestamp) -> Result<Option<Timestamp>> {
    let now = ms(now);
    let earliest: Option<i64> = sqlx::query_scalar(NEXT_DUE_AT)
        .bind(now)
        .fetch_one(pool)
        .await?;
    earliest.map(time).transpose()
}
