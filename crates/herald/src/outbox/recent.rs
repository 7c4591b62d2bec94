//! Events this process stored a moment ago, kept for the deliveries it is about to run: a
//! delivery of a fresh event then renders from the payload ingest already parsed, instead
//! of reading the event back from the store and parsing it again.
//!
//! Only a shortcut: an event not found here (another replica stored it, a retry, an entry
//! pushed out) is read from the store as before. Stored events never change, so an entry is
//! never stale.

use herald_store::model::{Document, Event, NewEvent};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Entries kept at most. At the benchmark's peak the outbox runs an event's deliveries a
/// few milliseconds after it is stored: a few hundred entries cover that many times over,
/// and a backlog (where entries would wait too long anyway) pushes the oldest out.
pub const CAPACITY: usize = 512;

/// Payload text kept at most, all entries together: sources accept bodies of up to 5 MiB
/// by default, and a parsed payload takes a few times its text. 512 pushes of 4 KB fit.
pub const BUDGET_BYTES: usize = 4 << 20;

/// A payload longer than this is not kept: reading it back costs little next to its size,
/// and it would push out many small ones.
pub const LARGEST_BYTES: usize = 256 << 10;

/// A stored event, its payload parsed, and how many of its deliveries have yet to load it.
pub struct RecentEvent {
    /// The event; its `payload` field is empty (`null`): the payload is `payload`.
    pub event: Event,
    pub payload: Arc<Document>,
    loads_left: usize,
    /// The payload's text length, counted against `BUDGET_BYTES`.
    bytes: usize,
}

#[derive(Default)]
pub struct RecentEvents {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_id: HashMap<Uuid, RecentEvent>,
    /// Ids in the order they were kept, to push out the oldest.
    order: VecDeque<Uuid>,
    /// The payload text of the entries kept, in bytes.
    bytes: usize,
}

impl Entries {
    fn remove(&mut self, id: Uuid) -> Option<RecentEvent> {
        let recent = self.by_id.remove(&id)?;
        self.bytes -= recent.bytes;
        Some(recent)
    }
}

impl RecentEvents {
    /// Keep `event` (in its `stored_form`), just committed with `deliveries` deliveries
    /// to run; `bytes` is its payload's text length.
    pub fn keep(&self, event: Event, payload: Arc<Document>, deliveries: usize, bytes: usize) {
        if deliveries == 0 || bytes > LARGEST_BYTES {
            return;
        }
        let id = event.id;
        let recent = RecentEvent {
            event,
            payload,
            loads_left: deliveries,
            bytes,
        };
        let mut entries = lock(&self.entries);
        while entries.order.len() >= CAPACITY || entries.bytes + bytes > BUDGET_BYTES {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.remove(oldest);
        }
        entries.order.push_back(id);
        entries.bytes += bytes;
        entries.by_id.insert(id, recent);
    }

    /// The event and its payload for one of its deliveries; the entry goes once each
    /// delivery has had it. None if it is not kept here.
    pub fn load(&self, id: Uuid) -> Option<(Event, Arc<Document>)> {
        let mut entries = lock(&self.entries);
        let recent = entries.by_id.get_mut(&id)?;
        recent.loads_left = recent.loads_left.saturating_sub(1);
        let found = (recent.event.clone(), recent.payload.clone());
        if recent.loads_left == 0 {
            entries.remove(id);
            // Deliveries mostly run in the order their events came: near the front.
            if let Some(at) = entries.order.iter().position(|kept| *kept == id) {
                entries.order.remove(at);
            }
        }
        Some(found)
    }

    /// Entries kept now.
    pub fn len(&self) -> usize {
        lock(&self.entries).by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The event as the store gives it back, without its payload.
pub fn stored_form(event: &NewEvent) -> Event {
    Event {
        id: event.id,
        source: event.source.clone(),
        event_type: event.event_type.clone(),
        dedup_key: event.dedup_key.clone(),
        received_at: event.received_at,
        headers: event.headers.clone(),
        payload: serde_json::Value::Null,
        hook: event.hook.clone(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_store::model::JsonText;
    use serde_json::json;

    fn new_event(n: u32) -> NewEvent {
        NewEvent {
            id: Uuid::now_v7(),
            source: "github".to_string(),
            event_type: "push".to_string(),
            dedup_key: Some(format!("d-{n}")),
            received_at: chrono::Utc::now(),
            headers: [("x-github-event".to_string(), "push".to_string())].into(),
            payload: JsonText::encode(&json!({"n": n})),
            hook: None,
        }
    }

    #[test]
    fn each_delivery_loads_the_event_once_then_it_is_gone() {
        let recent = RecentEvents::default();
        let event = new_event(1);
        recent.keep(stored_form(&event), Arc::new(json!({"n": 1}).into()), 2, 8);
        let (stored, payload) = recent.load(event.id).expect("kept");
        assert_eq!(stored.id, event.id);
        assert_eq!(stored.dedup_key.as_deref(), Some("d-1"));
        assert_eq!(stored.headers, event.headers);
        assert_eq!(*payload, json!({"n": 1}));
        assert!(
            recent.load(event.id).is_some(),
            "the second delivery finds it too"
        );
        assert!(
            recent.load(event.id).is_none(),
            "gone after its two deliveries"
        );
        assert!(recent.is_empty());
    }

    #[test]
    fn an_event_without_deliveries_is_not_kept() {
        let recent = RecentEvents::default();
        let event = new_event(1);
        recent.keep(stored_form(&event), Arc::new(json!({}).into()), 0, 2);
        assert!(recent.load(event.id).is_none());
    }

    #[test]
    fn the_oldest_entries_are_pushed_out_past_capacity() {
        let recent = RecentEvents::default();
        let events: Vec<NewEvent> = (0..CAPACITY as u32 + 3).map(new_event).collect();
        for event in &events {
            recent.keep(stored_form(event), Arc::new(json!({}).into()), 1, 2);
        }
        assert_eq!(recent.len(), CAPACITY);
        assert!(recent.load(events[0].id).is_none());
        assert!(recent.load(events[2].id).is_none());
        assert!(recent.load(events[3].id).is_some());
        assert!(recent.load(events[CAPACITY + 2].id).is_some());
    }

    #[test]
    fn payload_text_is_kept_within_its_budget() {
        let recent = RecentEvents::default();
        let large = LARGEST_BYTES;
        let events: Vec<NewEvent> = (0..(BUDGET_BYTES / large) as u32 + 1)
            .map(new_event)
            .collect();
        for event in &events {
            recent.keep(stored_form(event), Arc::new(json!({}).into()), 1, large);
        }
        assert_eq!(recent.len(), BUDGET_BYTES / large, "the oldest pushed out");
        assert!(recent.load(events[0].id).is_none());
        assert!(recent.load(events[events.len() - 1].id).is_some());
        let huge = new_event(99);
        recent.keep(
            stored_form(&huge),
            Arc::new(json!({}).into()),
            1,
            LARGEST_BYTES + 1,
        );
        assert!(recent.load(huge.id).is_none(), "too large to keep");
        // Entries that have been loaded give their bytes back to the budget.
        for event in &events {
            recent.load(event.id);
        }
        assert!(recent.is_empty());
        assert_eq!(lock(&recent.entries).bytes, 0);
    }
}
