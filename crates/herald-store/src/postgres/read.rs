//! Reads on PostgreSQL.

use super::rows;
use crate::Result;
use crate::common::{
    delivery_columns, page_limit, postgres_attempt_columns, postgres_event_columns, ref_columns,
};
use crate::model::*;
use sqlx::postgres::PgPool;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

pub(super) async fn get_event(pool: &PgPool, id: Uuid) -> Result<Option<Event>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        postgres_event_columns!(),
        " FROM events WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(rows::event).transpose()
}

pub(super) async fn events_by_dedup_key(pool: &PgPool, dedup_key: &str) -> Result<Vec<Event>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        postgres_event_columns!(),
        " FROM events WHERE source IN (SELECT DISTINCT source FROM event_counts)",
        " AND dedup_key = $1 ORDER BY id DESC"
    ))
    .bind(dedup_key)
    .fetch_all(pool)
    .await?;
    found.iter().map(rows::event).collect()
}

pub(super) async fn list_events(pool: &PgPool, filter: &EventQuery) -> Result<Vec<Event>> {
    let found = events_query(concat!("SELECT ", postgres_event_columns!()), filter)
        .build()
        .fetch_all(pool)
        .await?;
    found.iter().map(rows::event).collect()
}

pub(super) async fn event_payloads(
    pool: &PgPool,
    filter: &EventQuery,
) -> Result<Vec<(Uuid, String)>> {
    // `payload_text` holds what `jsonb` refused (migration 0007), `payload_zstd` a large
    // payload (migration 0018).
    let found = events_query(
        "SELECT id, payload_text, payload_zstd, payload::text AS payload",
        filter,
    )
    .build()
    .fetch_all(pool)
    .await?;
    found.iter().map(rows::event_payload).collect()
}

/// `select` from the events `filter` lists, newest first.
fn events_query(select: &str, filter: &EventQuery) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::<Postgres>::new(select);
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
        query.push(" AND received_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        query.push(" AND received_at < ").push_bind(until);
    }
    if let Some(before) = filter.before {
        query.push(" AND id < ").push_bind(before);
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(page_limit(filter.limit));
    query
}

pub(super) async fn activity_since(
    pool: &PgPool,
    since: Timestamp,
    limit: u32,
) -> Result<Activity> {
    let limit = i64::from(limit);
    let events: Vec<Timestamp> = sqlx::query_scalar(
        "SELECT received_at FROM events WHERE received_at >= $1
         ORDER BY received_at DESC LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let deliveries: Vec<Timestamp> = sqlx::query_scalar(
        "SELECT created_at FROM deliveries WHERE created_at >= $1
         ORDER BY created_at DESC LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(Activity { events, deliveries })
}

pub(super) async fn get_delivery(pool: &PgPool, id: Uuid) -> Result<Option<Delivery>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(rows::delivery).transpose()
}

pub(super) async fn list_deliveries(
    pool: &PgPool,
    filter: &DeliveryQuery,
) -> Result<Vec<Delivery>> {
    let mut query = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE 1 = 1"
    ));
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(rule) = &filter.rule {
        query.push(" AND rule = ").push_bind(rule.clone());
    }
    if let Some(action) = &filter.action {
        query.push(" AND action = ").push_bind(action.clone());
    }
    if let Some(event_id) = filter.event_id {
        query.push(" AND event_id = ").push_bind(event_id);
    }
    if let Some(since) = filter.since {
        query.push(" AND created_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        query.push(" AND created_at < ").push_bind(until);
    }
    if let Some(before) = filter.before {
        query.push(" AND id < ").push_bind(before);
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(page_limit(filter.limit));
    let found = query.build().fetch_all(pool).await?;
    found.iter().map(rows::delivery).collect()
}

pub(super) async fn list_attempts(pool: &PgPool, delivery_id: Uuid) -> Result<Vec<Attempt>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        postgres_attempt_columns!(),
        " FROM attempts WHERE delivery_id = $1 ORDER BY number"
    ))
    .bind(delivery_id)
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
/// event while a delivery of it is kept). Printed anew from the parsed payload, as the text
/// `jsonb` gives back is not that print.
async fn delivery_payload(pool: &PgPool, delivery_id: Uuid) -> Result<Option<String>> {
    let found = sqlx::query(
        "SELECT e.id, e.payload_text, e.payload_zstd, e.payload::text AS payload
         FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = $1",
    )
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = found else {
        return Ok(None);
    };
    let (_, text) = rows::event_payload(&row)?;
    Ok(Some(rows::parse(&text, "event payload")?.to_string()))
}

pub(super) async fn queue_depth(pool: &PgPool, now: Timestamp) -> Result<QueueDepth> {
    // Three subqueries so each count uses the (status, next_attempt_at) index.
    let (pending, due, dead): (i64, i64, i64) = sqlx::query_as(
        "SELECT
             (SELECT COUNT(*) FROM deliveries WHERE status = 'pending'),
             (SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1),
             (SELECT COUNT(*) FROM deliveries WHERE status = 'dead')",
    )
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(QueueDepth { pending, due, dead })
}

pub(super) async fn get_ref(pool: &PgPool, kind: &str, key: &str) -> Result<Option<Ref>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        ref_columns!(),
        " FROM refs WHERE kind = $1 AND key = $2"
    ))
    .bind(kind)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(rows::reference).transpose()
}

pub(super) async fn list_refs(pool: &PgPool, kind: &str, group: &str) -> Result<Vec<Ref>> {
    // Keys in byte order, as on SQLite, whatever the database's collation.
    let rows = sqlx::query(concat!(
        "SELECT ",
        ref_columns!(),
        " FROM refs WHERE kind = $1 AND ref_group = $2
         ORDER BY updated_at DESC, key COLLATE \"C\""
    ))
    .bind(kind)
    .bind(group)
    .fetch_all(pool)
    .await?;
    rows.iter().map(rows::reference).collect()
}

pub(super) async fn list_refs_of_kind(pool: &PgPool, kind: &str) -> Result<Vec<Ref>> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        ref_columns!(),
        " FROM refs WHERE kind = $1 ORDER BY updated_at DESC, key COLLATE \"C\""
    ))
    .bind(kind)
    .fetch_all(pool)
    .await?;
    rows.iter().map(rows::reference).collect()
}

/// The earliest time a delivery may be due, `$1` being now: a lease's end, the next
/// attempt of the oldest unkeyed delivery not leased, or a key's head's unless another
/// delivery of its key is leased (that lease's end counts instead). A delivery behind its
/// key's head waits for the head, whose time counts, so nothing due is missed. Each part
/// reads a few rows of an index, so a backlog of any size costs it the same. Only a
/// pending delivery holds a lease, so the leased rows are read by their token's index.
const NEXT_DUE_AT: &str = concat!(
    "WITH RECURSIVE ",
    crate::common::ordering_heads!(""),
    " SELECT MIN(t) FROM (
         SELECT MIN(d.lease_until) AS t FROM deliveries d
         WHERE d.lease_token IS NOT NULL AND d.lease_until > $1
         UNION ALL
         (SELECT d.next_attempt_at FROM deliveries d
          WHERE d.status = 'pending' AND d.ordering_key IS NULL
            AND (d.lease_until IS NULL OR d.lease_until <= $1)
          ORDER BY d.next_attempt_at LIMIT 1)
         UNION ALL
         SELECT MIN(d.next_attempt_at) FROM deliveries d
         WHERE d.id = ANY(ARRAY(SELECT id FROM heads)) AND NOT EXISTS (SELECT 1 FROM deliveries o
             WHERE o.ordering_key = d.ordering_key AND o.status = 'pending'
               AND o.lease_until > $1)
     ) AS earliest"
);

pub(super) async fn next_due_at(pool: &PgPool, now: Timestamp) -> Result<Option<Timestamp>> {
    let earliest: Option<Timestamp> = sqlx::query_scalar(NEXT_DUE_AT)
        .bind(now)
        .fetch_one(pool)
        .await?;
    Ok(earliest)
}
