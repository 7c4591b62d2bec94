//! What templates and filters see: `event` (the payload), `meta` (id, source, type,
//! received_at, dedup_key, and `hook` — `{id, repository}` of the registered hook the event
//! came through, none otherwise) and `headers` (the stored request headers, lowercase names).

use super::json_view::json_value;
use chrono::{DateTime, SecondsFormat, Utc};
use herald_store::model::Document;
use minijinja::context;
use minijinja::value::{Serde, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// Variables of rule filters.
pub const EVENT_VARIABLES: &[&str] = &["event", "meta", "headers"];

/// Variables of templates: an event's, and `window` for the deliveries of a window flush
/// (where `event`, `meta` and `headers` are those of its last event).
pub const TEMPLATE_VARIABLES: &[&str] = &["event", "meta", "headers", "window"];

/// Variables of a source's `event_type` / `dedup_key` expressions (no id or type yet).
pub const INBOUND_VARIABLES: &[&str] = &["event", "headers"];

#[derive(Debug, Clone, Copy)]
pub struct EventMeta<'a> {
    pub id: Uuid,
    pub source: &'a str,
    pub event_type: &'a str,
    pub received_at: DateTime<Utc>,
    pub dedup_key: Option<&'a str>,
    pub hook: Option<&'a herald_store::model::EventHook>,
}

/// `payload` is shared, not copied: templates read it where they look (`json_view`).
pub fn event_context(
    meta: &EventMeta<'_>,
    payload: Arc<Document>,
    headers: &BTreeMap<String, String>,
) -> Value {
    context! {
        event => json_value(payload),
        headers => Value::from(Serde(headers)),
        meta => context! {
            id => meta.id.to_string(),
            source => meta.source,
            type => meta.event_type,
            received_at => meta.received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            dedup_key => meta.dedup_key,
            hook => meta.hook.map(|hook| context! {
                id => hook.id.as_str(),
                repository => hook.repository.as_str(),
            }),
        },
    }
}

/// The context of a window's flush: its events in order, counts, and the last event as
/// `event` / `meta` / `headers`, so an action written for single events also works.
pub fn window_context(
    window: &herald_store::model::Window,
    events: &[herald_store::model::Event],
) -> Value {
    let entries: Vec<Value> = events.iter().map(stored_event_context).collect();
    let mut types: BTreeMap<&str, usize> = BTreeMap::new();
    for event in events {
        *types.entry(event.event_type.as_str()).or_default() += 1;
    }
    let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let window_value = context! {
        id => window.id.to_string(),
        rule => window.rule.clone(),
        key => window.group_key.clone(),
        count => events.len(),
        types => types,
        opened_at => time(window.opened_at),
        first_at => events.first().map(|e| time(e.received_at)),
        last_at => events.last().map(|e| time(e.received_at)),
        events => entries,
    };
    let last = events.last().map(stored_event_context);
    match last {
        Some(last) => context! { window => window_value, ..last },
        None => context! { window => window_value },
    }
}

/// The context of a stored event (workers, dry runs).
pub fn stored_event_context(event: &herald_store::model::Event) -> Value {
    shared_event_context(event, Arc::new(Document::from_value(event.payload.clone())))
}

/// The context of a stored event that is not needed after, and its payload, taken rather
/// than copied (the outbox: one for each delivery).
pub fn taken_event_context(mut event: herald_store::model::Event) -> (Value, Arc<Document>) {
    let payload = Arc::new(Document::from_value(std::mem::take(&mut event.payload)));
    (shared_event_context(&event, payload.clone()), payload)
}

/// The context of a stored event whose payload, already parsed, is `payload` (its own
/// `payload` field is not read).
pub fn shared_event_context(event: &herald_store::model::Event, payload: Arc<Document>) -> Value {
    event_context(&stored_meta(event), payload, &event.headers)
}

fn stored_meta(event: &herald_store::model::Event) -> EventMeta<'_> {
    EventMeta {
        id: event.id,
        source: &event.source,
        event_type: &event.event_type,
        received_at: event.received_at,
        dedup_key: event.dedup_key.as_deref(),
        hook: event.hook.as_ref(),
    }
}

/// The context of an event about to be stored (routing), whose payload is `payload`.
pub fn new_event_context(event: &herald_store::model::NewEvent, payload: &Arc<Document>) -> Value {
    let meta = EventMeta {
        id: event.id,
        source: &event.source,
        event_type: &event.event_type,
        received_at: event.received_at,
        dedup_key: event.dedup_key.as_deref(),
        hook: event.hook.as_ref(),
    };
    event_context(&meta, payload.clone(), &event.headers)
}

pub fn inbound_context(payload: &serde_json::Value, headers: &BTreeMap<String, String>) -> Value {
    context! {
        event => json_value(Arc::new(Document::from_value(payload.clone()))),
        headers => Value::from(Serde(headers)),
    }
}
