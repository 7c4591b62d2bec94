//! Converting PostgreSQL rows to the model. Times, ids and JSON decode natively; only the
//! status, outcome and failure kind text need checking.

use crate::common::{
    event_hook, parse_failure_kind, parse_outcome, parse_status, parse_window_status,
    request_against,
};
use crate::model::{
    ActionHealth, Attempt, Delivery, Event, JsonText, MonitorState, Ref, RuleHealth, SourceHealth,
    Window, WindowTiming,
};
use crate::windows::{Flushed, OpenWindow};
use crate::{Result, StoreError};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use std::collections::BTreeMap;
use uuid::Uuid;

pub(super) fn event(row: &PgRow) -> Result<Event> {
    let Json(headers): Json<BTreeMap<String, String>> = row.try_get("headers")?;
    let payload = match stored_payload_text(row)? {
        Some(text) => parse(&text, "event payload")?,
        None => row.try_get::<Json<Value>, _>("payload")?.0,
    };
    Ok(Event {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        event_type: row.try_get("event_type")?,
        dedup_key: row.try_get("dedup_key")?,
        received_at: row.try_get("received_at")?,
        headers,
        payload,
        hook: event_hook(row.try_get("hook_id")?, row.try_get("hook_repository")?)?,
    })
}

/// The payload's text when it is not kept as `jsonb`: compressed (migration 0018), or as
/// text because `jsonb` cannot hold it (migration 0007).
fn stored_payload_text(row: &PgRow) -> Result<Option<String>> {
    if let Some(frame) = row.try_get::<Option<&[u8]>, _>("payload_zstd")? {
        return frame_text(frame, "event payload_zstd").map(Some);
    }
    Ok(row.try_get::<Option<String>, _>("payload_text")?)
}

/// The text of a zstd frame herald made (migration 0018), read from `column`.
fn frame_text(frame: &[u8], column: &str) -> Result<String> {
    crate::dictionaries::check_known(frame)?;
    JsonText::decompress(frame).map_err(|error| StoreError::Corrupt(format!("{column}: {error}")))
}

/// JSON text read from `column`, parsed.
pub(super) fn parse(text: &str, column: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(format!("{column}: {error}")))
}

/// An event's id and its payload's JSON text, from `payload_text`, `payload_zstd` and the
/// `jsonb` as text (`payload`).
pub(super) fn event_payload(row: &PgRow) -> Result<(Uuid, String)> {
    let text = match stored_payload_text(row)? {
        Some(text) => text,
        None => row.try_get("payload")?,
    };
    Ok((row.try_get("id")?, text))
}

pub(super) fn delivery(row: &PgRow) -> Result<Delivery> {
    let failure_kind: Option<&str> = row.try_get("failure_kind")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        rule: row.try_get("rule")?,
        action: row.try_get("action")?,
        idempotency_key: row.try_get("idempotency_key")?,
        status: parse_status(row.try_get("status")?)?,
        attempts: row.try_get("attempts")?,
        retries_used: row.try_get("retries_used")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        lease_until: row.try_get("lease_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_status_code: row.try_get("last_status_code")?,
        last_error: row.try_get("last_error")?,
        ordering_key: row.try_get("ordering_key")?,
        progress: row.try_get("progress")?,
        claims: row.try_get("claims")?,
        failure_kind: failure_kind.map(parse_failure_kind).transpose()?,
        window_id: row.try_get("window_id")?,
    })
}

pub(super) fn window(row: &PgRow) -> Result<Window> {
    Ok(Window {
        id: row.try_get("id")?,
        rule: row.try_get("rule")?,
        group_key: row.try_get("group_key")?,
        status: parse_window_status(row.try_get("status")?)?,
        opened_at: row.try_get("opened_at")?,
        last_event_at: row.try_get("last_event_at")?,
        due_at: row.try_get("due_at")?,
        count: row.try_get("count")?,
        flushed_at: row.try_get("flushed_at")?,
        forced: row.try_get("forced")?,
    })
}

pub(super) fn open_window(row: &PgRow) -> Result<OpenWindow> {
    Ok(OpenWindow {
        id: row.try_get("id")?,
        rule: row.try_get("rule")?,
        group_key: row.try_get("group_key")?,
        opened_at: row.try_get("opened_at")?,
        last_event_at: row.try_get("last_event_at")?,
        due_at: row.try_get("due_at")?,
        count: row.try_get("count")?,
        forced: row.try_get("forced")?,
        not_before: row.try_get("not_before")?,
    })
}

pub(super) fn flushed(row: &PgRow) -> Result<Flushed> {
    Ok(Flushed {
        rule: row.try_get("rule")?,
        group_key: row.try_get("group_key")?,
        count: row.try_get("count")?,
        claimed_count: row.try_get("claimed_count")?,
        timing: WindowTiming {
            quiet_ms: row.try_get("quiet_ms")?,
            bucket_ms: row.try_get("bucket_ms")?,
            max_wait_ms: row.try_get("max_wait_ms")?,
            max_count: row.try_get("max_count")?,
        },
    })
}

/// Whether any of these attempts keeps its request against its event's payload.
pub(super) fn any_request_against(rows: &[PgRow]) -> Result<bool> {
    for row in rows {
        if row
            .try_get::<Option<&[u8]>, _>("request_against")?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// An attempt; `dictionary` reads a request kept against its event's payload (migration
/// 0019; see `common::request_against`).
pub(super) fn attempt(row: &PgRow, dictionary: Option<&[u8]>) -> Result<Attempt> {
    let request = if let Some(frame) = row.try_get::<Option<&[u8]>, _>("request_against")? {
        let delivery: Uuid = row.try_get("delivery_id")?;
        Some(request_against(frame, dictionary, &delivery.to_string())?)
    } else if let Some(frame) = row.try_get::<Option<&[u8]>, _>("request_zstd")? {
        let column = "attempt request_zstd";
        Some(parse(&frame_text(frame, column)?, column)?)
    } else {
        row.try_get::<Option<Json<Value>>, _>("request")?
            .map(|Json(value)| value)
    };
    Ok(Attempt {
        delivery_id: row.try_get("delivery_id")?,
        number: row.try_get("number")?,
        started_at: row.try_get("started_at")?,
        duration_ms: row.try_get("duration_ms")?,
        outcome: parse_outcome(row.try_get("outcome")?)?,
        status_code: row.try_get("status_code")?,
        error: row.try_get("error")?,
        request,
        response_body: row.try_get("response_body")?,
    })
}

pub(super) fn reference(row: &PgRow) -> Result<Ref> {
    let Json(data): Json<Value> = row.try_get("data")?;
    Ok(Ref {
        kind: row.try_get("kind")?,
        key: row.try_get("key")?,
        data,
        group: row.try_get("ref_group")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) fn monitor_state(row: &PgRow) -> Result<MonitorState> {
    let Json(data): Json<Value> = row.try_get("data")?;
    Ok(MonitorState {
        monitor: row.try_get("monitor")?,
        subject: row.try_get("subject")?,
        data,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) fn action_health(row: &PgRow) -> Result<ActionHealth> {
    let kind: Option<&str> = row.try_get("last_failure_kind")?;
    Ok(ActionHealth {
        action: row.try_get("action")?,
        last_success_at: row.try_get("last_success_at")?,
        last_failure_at: row.try_get("last_failure_at")?,
        last_failure_status: row.try_get("last_failure_status")?,
        last_failure_error: row.try_get("last_failure_error")?,
        last_failure_kind: kind.map(parse_failure_kind).transpose()?,
        failure_streak: row.try_get("failure_streak")?,
        pending: row.try_get("pending")?,
        dead: row.try_get("dead")?,
    })
}

pub(super) fn source_health(row: &PgRow) -> Result<SourceHealth> {
    Ok(SourceHealth {
        source: row.try_get("source")?,
        last_event_at: row.try_get("last_event_at")?,
        events: row.try_get("events")?,
    })
}

pub(super) fn rule_health(row: &PgRow) -> Result<RuleHealth> {
    Ok(RuleHealth {
        rule: row.try_get("rule")?,
        last_delivery_at: row.try_get("last_delivery_at")?,
        dead: row.try_get("dead")?,
    })
}

/// A statement being bound.
pub(super) type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// One field of every row of a batch: an array parameter for `unnest`.
pub(super) fn column<'a, R, T>(rows: &[&'a R], field: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(|&row| field(row)).collect()
}
