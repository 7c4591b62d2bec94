//! Converting between the model and SQLite's storage types: times as unix milliseconds,
//! ids as hyphenated text, JSON as text.

use crate::common::{
    event_hook, parse_failure_kind, parse_outcome, parse_status, parse_window_status, to_i32,
};
use crate::model::{
    ActionHealth, Attempt, Delivery, Event, MonitorState, Ref, RuleHealth, SourceHealth, Timestamp,
    Window, WindowTiming,
};
use crate::windows::{Flushed, OpenWindow};
use crate::{Result, StoreError};
use chrono::DateTime;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

pub(super) fn ms(time: Timestamp) -> i64 {
    time.timestamp_millis()
}

pub(super) fn time(ms: i64) -> Result<Timestamp> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} ms is out of range")))
}

pub(super) fn opt_time(ms: Option<i64>) -> Result<Option<Timestamp>> {
    ms.map(time).transpose()
}

pub(super) fn uuid(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|err| StoreError::Corrupt(format!("bad uuid {text:?}: {err}")))
}

pub(super) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|err| StoreError::Corrupt(format!("cannot encode JSON: {err}")))
}

pub(super) fn from_json<T: DeserializeOwned>(text: &str, column: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|err| StoreError::Corrupt(format!("bad JSON in {column}: {err}")))
}

fn int(row: &SqliteRow, column: &str) -> Result<i32> {
    to_i32(row.try_get(column)?, column)
}

fn opt_int(row: &SqliteRow, column: &str) -> Result<Option<i32>> {
    let value: Option<i64> = row.try_get(column)?;
    value.map(|value| to_i32(value, column)).transpose()
}

pub(super) fn event(row: &SqliteRow) -> Result<Event> {
    Ok(Event {
        id: uuid(row.try_get("id")?)?,
        source: row.try_get("source")?,
        event_type: row.try_get("event_type")?,
        dedup_key: row.try_get("dedup_key")?,
        received_at: time(row.try_get("received_at")?)?,
        headers: from_json(row.try_get("headers")?, "headers")?,
        payload: payload(row)?,
        hook: event_hook(row.try_get("hook_id")?, row.try_get("hook_repository")?)?,
    })
}

/// An event's id and its payload's JSON text, not parsed.
pub(super) fn event_payload(row: &SqliteRow) -> Result<(Uuid, String)> {
    Ok((uuid(row.try_get("id")?)?, payload_text(row)?))
}

/// The payload's JSON text, from its columns `payload` and `payload_zstd`.
pub(super) fn payload_text(row: &SqliteRow) -> Result<String> {
    let compressed: Option<&[u8]> = row.try_get("payload_zstd")?;
    match compressed {
        Some(frame) => decompress(frame, "payload"),
        None => Ok(row.try_get("payload")?),
    }
}

/// The payload's text, decompressed when it was stored compressed.
fn payload(row: &SqliteRow) -> Result<Value> {
    from_json(&payload_text(row)?, "payload")
}

pub(super) fn delivery(row: &SqliteRow) -> Result<Delivery> {
    let failure_kind: Option<&str> = row.try_get("failure_kind")?;
    Ok(Delivery {
        id: uuid(row.try_get("id")?)?,
        event_id: opt_uuid(row, "event_id")?,
        rule: row.try_get("rule")?,
        action: row.try_get("action")?,
        idempotency_key: row.try_get("idempotency_key")?,
        status: parse_status(row.try_get("status")?)?,
        attempts: int(row, "attempts")?,
        retries_used: int(row, "retries_used")?,
        next_attempt_at: time(row.try_get("next_attempt_at")?)?,
        lease_until: opt_time(row.try_get("lease_until")?)?,
        created_at: time(row.try_get("created_at")?)?,
        updated_at: time(row.try_get("updated_at")?)?,
        last_status_code: opt_int(row, "last_status_code")?,
        last_error: row.try_get("last_error")?,
        ordering_key: row.try_get("ordering_key")?,
        progress: int(row, "progress")?,
        claims: int(row, "claims")?,
        failure_kind: failure_kind.map(parse_failure_kind).transpose()?,
        window_id: opt_uuid(row, "window_id")?,
    })
}

fn opt_uuid(row: &SqliteRow, column: &str) -> Result<Option<Uuid>> {
    let id: Option<&str> = row.try_get(column)?;
    id.map(uuid).transpose()
}

pub(super) fn window(row: &SqliteRow) -> Result<Window> {
    Ok(Window {
        id: uuid(row.try_get("id")?)?,
        rule: row.try_get("rule")?,
        group_key: row.try_get("group_key")?,
        status: parse_window_status(row.try_get("status")?)?,
        opened_at: time(row.try_get("opened_at")?)?,
        last_event_at: time(row.try_get("last_event_at")?)?,
        due_at: time(row.try_get("due_at")?)?,
        count: row.try_get("count")?,
        flushed_at: opt_time(row.try_get("flushed_at")?)?,
        forced: row.try_get("forced")?,
    })
}

pub(super) fn open_window(row: &SqliteRow) -> Result<OpenWindow> {
    Ok(OpenWindow {
        id: uuid(row.try_get("id")?)?,
        rule: row.try_get("rule")?,
        group_key: row.try_get("group_key")?,
        opened_at: time(row.try_get("opened_at")?)?,
        last_event_at: time(row.try_get("last_event_at")?)?,
        due_at: time(row.try_get("due_at")?)?,
        count: row.try_get("count")?,
        forced: row.try_get("forced")?,
        not_before: opt_time(row.try_get("not_before")?)?,
    })
}

pub(super) fn flushed(row: &SqliteRow) -> Result<Flushed> {
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

/// An attempt; `dictionary` is its event's payload's (`compress::payload_dictionary`), for
/// a request kept against it.
pub(super) fn attempt(row: &SqliteRow, dictionary: Option<&[u8]>) -> Result<Attempt> {
    Ok(Attempt {
        delivery_id: uuid(row.try_get("delivery_id")?)?,
        number: int(row, "number")?,
        started_at: time(row.try_get("started_at")?)?,
        duration_ms: row.try_get("duration_ms")?,
        outcome: parse_outcome(row.try_get("outcome")?)?,
        status_code: opt_int(row, "status_code")?,
        error: row.try_get("error")?,
        request: request(row, dictionary)?,
        response_body: text_or_frame(row, "response_body", "response_zstd")?,
    })
}

/// Whether any of these attempts keeps its request against its event's payload.
pub(super) fn any_request_against(rows: &[SqliteRow]) -> Result<bool> {
    for row in rows {
        let frame: Option<&[u8]> = row.try_get("request_against")?;
        if frame.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// An attempt's request: text, a frame (migration 0013) or a frame against its event's
/// payload (0015; see `common::request_against`).
fn request(row: &SqliteRow, dictionary: Option<&[u8]>) -> Result<Option<Value>> {
    let against: Option<&[u8]> = row.try_get("request_against")?;
    let Some(frame) = against else {
        let text = text_or_frame(row, "request", "request_zstd")?;
        return text.map(|text| from_json(&text, "request")).transpose();
    };
    let delivery: &str = row.try_get("delivery_id").unwrap_or_default();
    crate::common::request_against(frame, dictionary, delivery).map(Some)
}

/// A value kept as text in `column`, or compressed in `frame_column` (migration 0013).
fn text_or_frame(row: &SqliteRow, column: &str, frame_column: &str) -> Result<Option<String>> {
    let frame: Option<&[u8]> = row.try_get(frame_column)?;
    match frame {
        Some(frame) => decompress(frame, column).map(Some),
        None => Ok(row.try_get(column)?),
    }
}

fn decompress(frame: &[u8], column: &str) -> Result<String> {
    crate::dictionaries::check_known(frame)?;
    crate::compress::decompress(frame)
        .map_err(|err| StoreError::Corrupt(format!("bad zstd frame in {column}: {err}")))
}

pub(super) fn reference(row: &SqliteRow) -> Result<Ref> {
    Ok(Ref {
        kind: row.try_get("kind")?,
        key: row.try_get("key")?,
        data: from_json(row.try_get("data")?, "data")?,
        group: row.try_get("ref_group")?,
        created_at: time(row.try_get("created_at")?)?,
        updated_at: time(row.try_get("updated_at")?)?,
    })
}

pub(super) fn monitor_state(row: &SqliteRow) -> Result<MonitorState> {
    Ok(MonitorState {
        monitor: row.try_get("monitor")?,
        subject: row.try_get("subject")?,
        data: from_json(row.try_get("data")?, "data")?,
        updated_at: time(row.try_get("updated_at")?)?,
    })
}

pub(super) fn action_health(row: &SqliteRow) -> Result<ActionHealth> {
    let kind: Option<&str> = row.try_get("last_failure_kind")?;
    Ok(ActionHealth {
        action: row.try_get("action")?,
        last_success_at: opt_time(row.try_get("last_success_at")?)?,
        last_failure_at: opt_time(row.try_get("last_failure_at")?)?,
        last_failure_status: opt_int(row, "last_failure_status")?,
        last_failure_error: row.try_get("last_failure_error")?,
        last_failure_kind: kind.map(parse_failure_kind).transpose()?,
        failure_streak: row.try_get("failure_streak")?,
        pending: row.try_get("pending")?,
        dead: row.try_get("dead")?,
    })
}

pub(super) fn source_health(row: &SqliteRow) -> Result<SourceHealth> {
    Ok(SourceHealth {
        source: row.try_get("source")?,
        last_event_at: opt_time(row.try_get("last_event_at")?)?,
        events: row.try_get("events")?,
    })
}

pub(super) fn rule_health(row: &SqliteRow) -> Result<RuleHealth> {
    Ok(RuleHealth {
        rule: row.try_get("rule")?,
        last_delivery_at: opt_time(row.try_get("last_delivery_at")?)?,
        dead: row.try_get("dead")?,
    })
}
