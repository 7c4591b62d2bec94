//! Appending events with their deliveries on SQLite: multi-row statements (see
//! `Command::rows`), all in the batch's one command.

use super::rows::{from_json, ms, to_json, uuid};
use super::write::Command;
use crate::Result;
use crate::common::keys_not_in;
use crate::model::*;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use std::collections::HashSet;
use uuid::Uuid;

const EVENT_PARAMS: usize = 10;
const DELIVERY_PARAMS: usize = 13;
const KEY_PARAMS: usize = 2;

/// Insert the events (a repeated key, stored or earlier in the batch, inserts nothing),
/// then the deliveries of the events stored, then read which event holds each key: the
/// rows of kind `holder`.
pub(super) fn push(command: &mut Command, items: &[EventWithDeliveries]) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let headers = items
        .iter()
        .map(|item| to_json(&item.event.headers))
        .collect::<Result<Vec<_>>>()?;
    let events: Vec<_> = items.iter().zip(headers).collect();
    push_events(command, &events);
    let deliveries: Vec<_> = items
        .iter()
        .flat_map(|item| item.deliveries.iter().map(|d| (d, item.event.id)))
        .collect();
    push_deliveries(command, &deliveries);
    push_holders(command, &keys_not_in(items, &HashSet::new()));
    Ok(())
}

/// A `holders` row: which event holds each (source, dedup key) of a statement's keys.
pub(super) fn holders(row: &SqliteRow) -> Result<Vec<((String, String), Uuid)>> {
    let held: Vec<(String, String, String)> = from_json(row.try_get("holders")?, "holders")?;
    held.into_iter()
        .map(|(source, key, id)| Ok(((source, key), uuid(&id)?)))
        .collect()
}

fn push_events(command: &mut Command, rows: &[(&EventWithDeliveries, String)]) {
    command.rows(
        "INSERT INTO events (id, source, event_type, dedup_key, received_at, headers, payload,
             payload_zstd, hook_id, hook_repository)
         SELECT * FROM (",
        rows,
        EVENT_PARAMS,
        ") WHERE column1 IS NOT NULL ON CONFLICT (source, dedup_key) DO NOTHING",
        |row, (item, headers)| {
            let event = &item.event;
            // A compressed payload leaves the text column empty (migration 0007).
            let compressed = event.payload.compressed();
            let text = if compressed.is_some() {
                ""
            } else {
                event.payload.as_str()
            };
            row.push_bind(event.id.to_string())
                .push_bind(event.source.clone())
                .push_bind(event.event_type.clone())
                .push_bind(event.dedup_key.clone())
                .push_bind(ms(event.received_at))
                .push_bind(headers.clone())
                .push_bind(text.to_string())
                .push_bind(compressed.map(<[u8]>::to_vec))
                .push_bind(event.hook.as_ref().map(|hook| hook.id.clone()))
                .push_bind(event.hook.as_ref().map(|hook| hook.repository.clone()));
        },
    );
}

/// Insert the deliveries whose event was stored: event ids are new, so an event exists
/// only if this batch inserted it. A delivery with a lease is inserted leased (claimed
/// once), as a claim would leave it.
fn push_deliveries(command: &mut Command, deliveries: &[(&NewDelivery, Uuid)]) {
    command.rows(
        "INSERT INTO deliveries (id, event_id, rule, action, idempotency_key, next_attempt_at,
             created_at, updated_at, ordering_key, window_id, status, attempts, retries_used,
             lease_owner, lease_token, lease_until, claims)
         SELECT column1, column2, column3, column4, column5, column6, column7, column7,
             column9, column10, 'pending', 0, 0, column11, column12, column13,
             column12 IS NOT NULL
         FROM (",
        deliveries,
        DELIVERY_PARAMS,
        ") WHERE column1 IS NOT NULL
             AND EXISTS (SELECT 1 FROM events WHERE events.id = column8)
         ON CONFLICT (idempotency_key) DO NOTHING",
        |row, (delivery, event_id)| {
            let lease = delivery.lease.as_ref();
            row.push_bind(delivery.id.to_string())
                .push_bind(delivery.event_id.map(|id| id.to_string()))
                .push_bind(delivery.rule.clone())
                .push_bind(delivery.action.clone())
                .push_bind(delivery.idempotency_key.clone())
                .push_bind(ms(delivery.next_attempt_at))
                .push_bind(ms(delivery.created_at))
                .push_bind(event_id.to_string())
                .push_bind(delivery.ordering_key.clone())
                .push_bind(delivery.window_id.map(|id| id.to_string()))
                .push_bind(lease.map(|lease| lease.owner.clone()))
                .push_bind(lease.map(|lease| lease.token.to_string()))
                .push_bind(lease.map(|lease| ms(lease.until)));
        },
    );
}

fn push_holders(command: &mut Command, keys: &[(&str, &str)]) {
    // Joining from the keys lets SQLite look each one up in the unique index; the NULL
    // rows join nothing. One row for them all: every row is a hand-off between SQLite's
    // thread and the writer's (see `Command`).
    command.rows(
        "WITH wanted (source, dedup_key) AS (",
        keys,
        KEY_PARAMS,
        ") SELECT 'holders' AS kind,
               json_group_array(json_array(e.source, e.dedup_key, e.id)) AS holders
           FROM wanted w JOIN events e ON e.source = w.source AND e.dedup_key = w.dedup_key",
        |row, (source, key)| {
            row.push_bind(source.to_string()).push_bind(key.to_string());
        },
    );
}
