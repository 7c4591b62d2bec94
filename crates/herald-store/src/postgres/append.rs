//! Appending events with their deliveries on PostgreSQL: one statement for both tables, the
//! rows passed as arrays and expanded with `unnest`, so the SQL is the same for any batch
//! size.

use super::rows::{PgQuery, column};
use super::windows;
use crate::Result;
use crate::common::{Holders, append_outcomes, keys_not_in};
use crate::model::*;
use serde_json::value::RawValue;
use sqlx::Row;
use sqlx::postgres::PgConnection;
use sqlx::types::Json;
use std::collections::HashSet;
use std::sync::LazyLock;
use uuid::Uuid;

/// Insert the events and the deliveries of those inserted, in one statement (a repeated
/// key, stored or earlier in the batch, inserts nothing), then find the ids holding the
/// keys of those not inserted.
pub(super) async fn append(
    conn: &mut PgConnection,
    items: &[EventWithDeliveries],
) -> Result<Vec<AppendOutcome>> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let inserted = insert_events_and_deliveries(conn, items).await?;
    let outcomes = outcomes(conn, items, inserted).await?;
    windows::append(conn, items, &outcomes).await?;
    Ok(outcomes)
}

/// Each item's outcome, from the (id, source, dedup key) of the events the insert stored:
/// the holders of the other keys are looked up by a new statement, which sees what a
/// concurrent insert the insert waited for committed.
pub(super) async fn outcomes(
    conn: &mut PgConnection,
    items: &[EventWithDeliveries],
    inserted: Vec<(Uuid, String, Option<String>)>,
) -> Result<Vec<AppendOutcome>> {
    let mut holders = Holders::new();
    let mut ids = HashSet::new();
    for (id, source, key) in inserted {
        ids.insert(id);
        if let Some(key) = key {
            holders.insert((source, key), id);
        }
    }
    let keys = keys_not_in(items, &ids);
    if !keys.is_empty() {
        holders.extend(find_events(conn, &keys).await?);
    }
    append_outcomes(items, &holders)
}

/// The events' insert, arguments `$1` to `$11`. Rows go in in key order (ORDER BY n), so
/// two replicas appending the same keys wait for each other instead of deadlocking; the
/// sort is stable, so of two events with one key the first is stored. A concurrent insert
/// of the same key makes this wait for that transaction, then do nothing if it committed;
/// the lookup then sees the committed row.
const INSERT_EVENTS: &str = "
    INSERT INTO events (id, source, event_type, dedup_key, received_at, headers, payload,
        payload_text, payload_zstd, hook_id, hook_repository)
    SELECT id, source, event_type, dedup_key, received_at, headers, payload, payload_text,
        payload_zstd, hook_id, hook_repository
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],
        $5::timestamptz[], $6::jsonb[], $7::jsonb[], $8::text[], $9::bytea[], $10::text[],
        $11::text[])
        WITH ORDINALITY AS e(id, source, event_type, dedup_key, received_at, headers,
            payload, payload_text, payload_zstd, hook_id, hook_repository, n)
    ORDER BY n
    ON CONFLICT (source, dedup_key) DO NOTHING
    RETURNING id, source, dedup_key";

/// Pending deliveries inserted, skipping taken idempotency keys, their twelve arguments
/// numbered from `first`. A delivery with a lease is inserted leased (claimed once), as a
/// claim would leave it. `of_inserted`: a thirteenth argument gives each delivery's event
/// (its `event_id` may be empty), and only those of events in `inserted` go in.
fn insert_deliveries_sql(first: usize, of_inserted: bool) -> String {
    let mut types = vec![
        "uuid",
        "uuid",
        "text",
        "text",
        "text",
        "timestamptz",
        "timestamptz",
        "text",
        "uuid",
        "text",
        "uuid",
        "timestamptz",
    ];
    let (mut owner, mut filter) = ("", "");
    if of_inserted {
        types.push("uuid");
        (owner, filter) = (", owner", "WHERE d.owner IN (SELECT id FROM inserted)");
    }
    let arguments: Vec<String> = (first..)
        .zip(types)
        .map(|(number, kind)| format!("${number}::{kind}[]"))
        .collect();
    format!(
        "INSERT INTO deliveries (id, event_id, rule, action, idempotency_key, status, attempts,
             retries_used, next_attempt_at, created_at, updated_at, ordering_key, window_id,
             lease_owner, lease_token, lease_until, claims)
         SELECT id, event_id, rule, action, idempotency_key, 'pending', 0, 0, next_attempt_at,
             created_at, created_at, ordering_key, window_id, lease_owner, lease_token,
             lease_until, CASE WHEN lease_token IS NULL THEN 0 ELSE 1 END
         FROM unnest({})
             WITH ORDINALITY AS d(id, event_id, rule, action, idempotency_key,
                 next_attempt_at, created_at, ordering_key, window_id, lease_owner,
                 lease_token, lease_until{owner}, n)
         {filter}
         ORDER BY n
         ON CONFLICT (idempotency_key) DO NOTHING",
        arguments.join(", ")
    )
}

static INSERT_DELIVERIES: LazyLock<String> = LazyLock::new(|| insert_deliveries_sql(1, false));

/// The events, then the deliveries of the events inserted: one round trip for both. The
/// deliveries' foreign key is checked at the statement's end, when the events are in.
static APPEND: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {} SELECT id, source, dedup_key FROM inserted",
        append_ctes()
    )
});

/// `inserted`, the events stored (their id, source and dedup key), and `delivered`, the
/// deliveries of those: `APPEND_PARAMS` arguments, bound by `bind_append`.
pub(super) fn append_ctes() -> String {
    format!(
        "inserted AS ({INSERT_EVENTS}), delivered AS ({})",
        insert_deliveries_sql(12, true)
    )
}

/// The arguments of `append_ctes`.
pub(super) const APPEND_PARAMS: usize = 24;

/// The id, source and dedup key of each event inserted.
async fn insert_events_and_deliveries(
    conn: &mut PgConnection,
    items: &[EventWithDeliveries],
) -> Result<Vec<(Uuid, String, Option<String>)>> {
    let rows = bind_append(sqlx::query(APPEND.as_str()), items)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("id")?,
                row.try_get("source")?,
                row.try_get("dedup_key")?,
            ))
        })
        .collect()
}

/// Bind `append_ctes`'s arguments: the events in key order (see `INSERT_EVENTS`), their
/// deliveries, and each delivery's event.
pub(super) fn bind_append<'q>(query: PgQuery<'q>, items: &'q [EventWithDeliveries]) -> PgQuery<'q> {
    let mut events: Vec<&NewEvent> = items.iter().map(|item| &item.event).collect();
    events.sort_by(|a, b| (&a.source, &a.dedup_key).cmp(&(&b.source, &b.dedup_key)));
    let (owners, deliveries): (Vec<Uuid>, Vec<&NewDelivery>) = items
        .iter()
        .flat_map(|item| item.deliveries.iter().map(|d| (item.event.id, d)))
        .unzip();
    bind_deliveries(bind_events(query, &events), &deliveries, None).bind(owners)
}

/// Bind the events' columns, in `INSERT_EVENTS`'s order.
fn bind_events<'q>(query: PgQuery<'q>, events: &[&NewEvent]) -> PgQuery<'q> {
    let payloads: Vec<StoredPayload<'_>> = events.iter().map(|e| stored(&e.payload)).collect();
    query
        .bind(column(events, |e| e.id))
        .bind(column(events, |e| e.source.as_str()))
        .bind(column(events, |e| e.event_type.as_str()))
        .bind(column(events, |e| e.dedup_key.as_deref()))
        .bind(column(events, |e| e.received_at))
        .bind(column(events, |e| Json(&e.headers)))
        .bind(payload_column(&payloads, |p| match p {
            StoredPayload::Json(raw) => Some(Json(*raw)),
            _ => None,
        }))
        .bind(payload_column(&payloads, |p| match p {
            StoredPayload::Text(text) => Some(*text),
            _ => None,
        }))
        .bind(payload_column(&payloads, |p| match p {
            StoredPayload::Frame(frame) => Some(*frame),
            _ => None,
        }))
        .bind(column(events, |e| {
            e.hook.as_ref().map(|hook| hook.id.as_str())
        }))
        .bind(column(events, |e| {
            e.hook.as_ref().map(|hook| hook.repository.as_str())
        }))
}

/// Bind the deliveries' columns, in `insert_deliveries_sql`'s order; `window_id`, if
/// given, replaces theirs.
fn bind_deliveries<'q>(
    query: PgQuery<'q>,
    deliveries: &[&NewDelivery],
    window_id: Option<Uuid>,
) -> PgQuery<'q> {
    query
        .bind(column(deliveries, |d| d.id))
        .bind(column(deliveries, |d| d.event_id))
        .bind(column(deliveries, |d| d.rule.as_str()))
        .bind(column(deliveries, |d| d.action.as_str()))
        .bind(column(deliveries, |d| d.idempotency_key.as_str()))
        .bind(column(deliveries, |d| d.next_attempt_at))
        .bind(column(deliveries, |d| d.created_at))
        .bind(column(deliveries, |d| d.ordering_key.as_deref()))
        .bind(column(deliveries, |d| window_id.or(d.window_id)))
        .bind(column(deliveries, |d| {
            d.lease.as_ref().map(|lease| lease.owner.as_str())
        }))
        .bind(column(deliveries, |d| {
            d.lease.as_ref().map(|lease| lease.token)
        }))
        .bind(column(deliveries, |d| {
            d.lease.as_ref().map(|lease| lease.until)
        }))
}

/// A payload as its columns hold it: `payload` (`jsonb`), `payload_text` or
/// `payload_zstd`, the other two NULL.
enum StoredPayload<'a> {
    Json(&'a RawValue),
    Text(&'a str),
    Frame(&'a [u8]),
}

/// A large payload goes in as the zstd frame `prepare_append` made (migration 0018): the
/// database then neither parses it into `jsonb` nor compresses it. Else as `jsonb`, or as
/// text when `jsonb` cannot hold it (migration 0007).
fn stored(payload: &JsonText) -> StoredPayload<'_> {
    let raw = payload.as_raw();
    match payload.compressed() {
        Some(frame) => StoredPayload::Frame(frame),
        None if holds_nul(raw.get()) => StoredPayload::Text(raw.get()),
        None => StoredPayload::Json(raw),
    }
}

/// One column's values of `payloads`.
fn payload_column<'a, T>(
    payloads: &'a [StoredPayload<'a>],
    value: impl Fn(&'a StoredPayload<'a>) -> Option<T>,
) -> Vec<Option<T>> {
    payloads.iter().map(value).collect()
}

/// The id of the event holding each (source, dedup key).
async fn find_events(conn: &mut PgConnection, keys: &[(&str, &str)]) -> Result<Holders> {
    let found: Vec<(String, String, Uuid)> = sqlx::query_as(
        "SELECT e.source, e.dedup_key, e.id
         FROM unnest($1::text[], $2::text[]) AS w(source, dedup_key)
         JOIN events e ON e.source = w.source AND e.dedup_key = w.dedup_key",
    )
    .bind(keys.iter().map(|(source, _)| *source).collect::<Vec<_>>())
    .bind(keys.iter().map(|(_, key)| *key).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    Ok(found
        .into_iter()
        .map(|(source, key, id)| ((source, key), id))
        .collect())
}

/// Insert pending deliveries (see `insert_deliveries_sql`); `window_id`, if given,
/// replaces theirs (a flush names its window).
pub(super) async fn insert_deliveries(
    conn: &mut PgConnection,
    deliveries: &[&NewDelivery],
    window_id: Option<Uuid>,
) -> Result<()> {
    bind_deliveries(
        sqlx::query(INSERT_DELIVERIES.as_str()),
        deliveries,
        window_id,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether JSON text holds `\u0000`, which `jsonb` refuses. (An escaped backslash before
/// `u0000` matches too: such a payload is kept as text, which round-trips just as well.)
fn holds_nul(text: &str) -> bool {
    text.contains("\\u0000")
}
