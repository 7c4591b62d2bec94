//! Aggregation windows, the part both backends share: which windows an append's events
//! join and where each lands, and the window a flush splits off for events that arrived
//! after the claim. The backends read the rows these start from and write what they return,
//! inside the transaction.

use crate::StoreError;
use crate::model::*;
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// An open window as an append found it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenWindow {
    pub id: Uuid,
    pub rule: String,
    pub group_key: String,
    pub opened_at: Timestamp,
    pub last_event_at: Timestamp,
    pub due_at: Timestamp,
    pub count: i64,
    pub forced: bool,
    pub not_before: Option<Timestamp>,
}

/// A window row as an append leaves it: inserted if `new`, else updated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WindowWrite<'a> {
    pub id: Uuid,
    pub rule: &'a str,
    pub group_key: &'a str,
    pub new: bool,
    pub opened_at: Timestamp,
    pub last_event_at: Timestamp,
    pub due_at: Timestamp,
    pub count: i64,
    pub timing: &'a WindowTiming,
}

/// A `window_events` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    pub window_id: Uuid,
    pub event_id: Uuid,
    pub position: i64,
}

/// What an append writes to windows.
#[derive(Debug, Default)]
pub(crate) struct AppendPlan<'a> {
    pub windows: Vec<WindowWrite<'a>>,
    pub members: Vec<Member>,
}

impl AppendPlan<'_> {
    pub fn inserted(&self) -> impl Iterator<Item = &WindowWrite<'_>> {
        self.windows.iter().filter(|w| w.new)
    }

    pub fn updated(&self) -> impl Iterator<Item = &WindowWrite<'_>> {
        self.windows.iter().filter(|w| !w.new)
    }
}

/// One event joining one window.
pub(crate) type Entry<'a> = (&'a NewEvent, &'a WindowEntry);

/// The window entries of the events an append stored, in batch order. A duplicate joins
/// nothing; an event joins each (rule, group key) once.
pub(crate) fn stored_entries<'a>(
    items: &'a [EventWithDeliveries],
    outcomes: &[AppendOutcome],
) -> Vec<Entry<'a>> {
    let mut entries = Vec::new();
    for (item, outcome) in items.iter().zip(outcomes) {
        if *outcome
            != (AppendOutcome::Stored {
                event_id: item.event.id,
            })
        {
            continue;
        }
        let mut seen = HashSet::new();
        for entry in &item.windows {
            if seen.insert((entry.rule.as_str(), entry.group_key.as_str())) {
                entries.push((&item.event, entry));
            }
        }
    }
    entries
}

/// The (rule, group key) pairs of `entries`, each once, sorted.
pub(crate) fn window_keys<'a>(entries: &[Entry<'a>]) -> Vec<(&'a str, &'a str)> {
    let mut keys: Vec<_> = entries
        .iter()
        .map(|(_, entry)| (entry.rule.as_str(), entry.group_key.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A window while the plan adds to it.
struct Growing<'a> {
    write: WindowWrite<'a>,
    forced: bool,
    not_before: Option<Timestamp>,
}

/// Add each entry's event to the open window of its key (`open`, as read under the
/// transaction), or to a new one opened at the event. Windows come out in key order.
pub(crate) fn plan_append<'a>(entries: &[Entry<'a>], open: &[OpenWindow]) -> AppendPlan<'a> {
    let mut windows: BTreeMap<(&'a str, &'a str), Growing<'a>> = BTreeMap::new();
    let mut members = Vec::with_capacity(entries.len());
    for &(event, entry) in entries {
        let key = (entry.rule.as_str(), entry.group_key.as_str());
        let window = windows
            .entry(key)
            .or_insert_with(|| growing(key, event, entry, open));
        let write = &mut window.write;
        write.count += 1;
        write.last_event_at = write.last_event_at.max(event.received_at);
        write.timing = &entry.timing;
        // A forced window stays due when it was forced; a deferral is a floor.
        if !window.forced {
            let due = entry
                .timing
                .due_at(write.opened_at, write.last_event_at, write.count);
            write.due_at = due.max(window.not_before.unwrap_or(due));
        }
        members.push(Member {
            window_id: write.id,
            event_id: event.id,
            position: write.count,
        });
    }
    AppendPlan {
        windows: windows.into_values().map(|window| window.write).collect(),
        members,
    }
}

/// The open window of `key` as found, or a new empty one opened at `event`.
fn growing<'a>(
    key: (&'a str, &'a str),
    event: &NewEvent,
    entry: &'a WindowEntry,
    open: &[OpenWindow],
) -> Growing<'a> {
    let found = open
        .iter()
        .find(|w| (w.rule.as_str(), w.group_key.as_str()) == key);
    let write = |id, new, opened_at, last_event_at, due_at, count| WindowWrite {
        id,
        rule: key.0,
        group_key: key.1,
        new,
        opened_at,
        last_event_at,
        due_at,
        count,
        timing: &entry.timing,
    };
    match found {
        Some(w) => Growing {
            write: write(w.id, false, w.opened_at, w.last_event_at, w.due_at, w.count),
            forced: w.forced,
            not_before: w.not_before,
        },
        None => {
            let at = event.received_at;
            Growing {
                write: write(Uuid::now_v7(), true, at, at, at, 0),
                forced: false,
                not_before: None,
            }
        }
    }
}

/// A window a flush closed, as its UPDATE returned it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Flushed {
    pub rule: String,
    pub group_key: String,
    pub count: i64,
    pub claimed_count: Option<i64>,
    pub timing: WindowTiming,
}

impl Flushed {
    /// Events appended after the claim, which the flusher did not see: they move to a new
    /// window. None when there are none.
    pub fn fence(&self) -> Option<i64> {
        self.claimed_count.filter(|&claimed| claimed < self.count)
    }
}

/// The received times of the events a flush keeps and of those it moves on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Split {
    pub kept_last: Option<Timestamp>,
    pub late_first: Timestamp,
    pub late_last: Timestamp,
}

/// The open window the late events of a flush move to: opened at the earliest of them, and
/// due as their own window would be.
pub(crate) fn carried_window<'a>(
    flushed: &'a Flushed,
    fence: i64,
    split: &Split,
) -> WindowWrite<'a> {
    let count = flushed.count - fence;
    WindowWrite {
        id: Uuid::now_v7(),
        rule: &flushed.rule,
        group_key: &flushed.group_key,
        new: true,
        opened_at: split.late_first,
        last_event_at: split.late_last,
        due_at: flushed
            .timing
            .due_at(split.late_first, split.late_last, count),
        count,
        timing: &flushed.timing,
    }
}

/// A flush found fewer events after its fence than the window counts.
pub(crate) fn late_events_missing(window_id: Uuid) -> StoreError {
    StoreError::Corrupt(format!("window {window_id} counts events it does not hold"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};
    use std::collections::BTreeMap;

    fn at(seconds: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    fn quiet(seconds: i64) -> WindowTiming {
        WindowTiming {
            quiet_ms: Some(seconds * 1000),
            bucket_ms: None,
            max_wait_ms: 300_000,
            max_count: None,
        }
    }

    fn item(second: i64, keys: &[(&str, &str)]) -> EventWithDeliveries {
        EventWithDeliveries {
            event: NewEvent {
                id: Uuid::now_v7(),
                source: "s".into(),
                event_type: "t".into(),
                dedup_key: None,
                received_at: at(second),
                headers: BTreeMap::new(),
                payload: JsonText::encode(&serde_json::Value::Null),
                hook: None,
            },
            deliveries: Vec::new(),
            windows: keys
                .iter()
                .map(|&(rule, group_key)| WindowEntry {
                    rule: rule.into(),
                    group_key: group_key.into(),
                    timing: quiet(10),
                })
                .collect(),
        }
    }

    fn stored(items: &[EventWithDeliveries]) -> Vec<AppendOutcome> {
        items
            .iter()
            .map(|item| AppendOutcome::Stored {
                event_id: item.event.id,
            })
            .collect()
    }

    #[test]
    fn duplicates_and_repeated_keys_join_nothing() {
        let items = [
            item(0, &[("r", "a"), ("r", "a"), ("r", "b")]),
            item(1, &[("r", "a")]),
        ];
        let mut outcomes = stored(&items);
        outcomes[1] = AppendOutcome::Duplicate {
            event_id: items[0].event.id,
        };
        let entries = stored_entries(&items, &outcomes);
        let keys: Vec<_> = entries
            .iter()
            .map(|(event, entry)| (event.id, entry.group_key.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![(items[0].event.id, "a"), (items[0].event.id, "b")]
        );
        assert_eq!(window_keys(&entries), vec![("r", "a"), ("r", "b")]);
    }

    #[test]
    fn events_extend_an_open_window_and_open_new_ones() {
        let open = OpenWindow {
            id: Uuid::now_v7(),
            rule: "r".into(),
            group_key: "a".into(),
            opened_at: at(0),
            last_event_at: at(3),
            due_at: at(13),
            count: 2,
            forced: false,
            not_before: None,
        };
        let items = [item(5, &[("r", "a"), ("r", "b")]), item(4, &[("r", "a")])];
        let entries = stored_entries(&items, &stored(&items));
        let plan = plan_append(&entries, std::slice::from_ref(&open));
        let a = &plan.windows[0];
        assert_eq!((a.id, a.new, a.count), (open.id, false, 4));
        // An event received out of order does not move the last event back.
        assert_eq!(
            (a.opened_at, a.last_event_at, a.due_at),
            (at(0), at(5), at(15))
        );
        let b = &plan.windows[1];
        assert_eq!(
            (b.new, b.count, b.opened_at, b.due_at),
            (true, 1, at(5), at(15))
        );
        let positions: Vec<_> = plan
            .members
            .iter()
            .map(|m| (m.window_id, m.event_id, m.position))
            .collect();
        assert_eq!(
            positions,
            vec![
                (open.id, items[0].event.id, 3),
                (b.id, items[0].event.id, 1),
                (open.id, items[1].event.id, 4),
            ]
        );
    }

    #[test]
    fn forced_windows_stay_due_and_deferrals_are_a_floor() {
        let window = |forced, not_before| OpenWindow {
            id: Uuid::now_v7(),
            rule: "r".into(),
            group_key: "a".into(),
            opened_at: at(0),
            last_event_at: at(0),
            due_at: at(1),
            count: 1,
            forced,
            not_before,
        };
        let items = [item(5, &[("r", "a")])];
        let entries = stored_entries(&items, &stored(&items));
        let forced = plan_append(&entries, &[window(true, None)]);
        assert_eq!(forced.windows[0].due_at, at(1));
        let deferred = plan_append(&entries, &[window(false, Some(at(100)))]);
        assert_eq!(deferred.windows[0].due_at, at(100));
        let passed = plan_append(&entries, &[window(false, Some(at(2)))]);
        assert_eq!(passed.windows[0].due_at, at(15));
    }

    #[test]
    fn a_flush_carries_late_events_to_a_window_of_their_own() {
        let flushed = Flushed {
            rule: "r".into(),
            group_key: "a".into(),
            count: 5,
            claimed_count: Some(3),
            timing: quiet(10),
        };
        assert_eq!(flushed.fence(), Some(3));
        let split = Split {
            kept_last: Some(at(2)),
            late_first: at(7),
            late_last: at(9),
        };
        let carried = carried_window(&flushed, 3, &split);
        assert_eq!(
            (
                carried.count,
                carried.opened_at,
                carried.last_event_at,
                carried.due_at
            ),
            (2, at(7), at(9), at(19))
        );
        let on_time = Flushed {
            claimed_count: Some(5),
            ..flushed
        };
        assert_eq!(on_time.fence(), None);
    }
}
