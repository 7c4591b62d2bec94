//! Aggregation windows: events joining them on append, claims, flushes (and the events that
//! arrive meanwhile), deferrals, manual flushes, listing and retention.

use crate::events::stored_event;
use crate::fixtures::*;
use herald_store::SharedStore;
use herald_store::model::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

const RULE: &str = "digest";

/// Due 10 s after the last event, and at most 5 minutes after the first.
fn quiet_10s() -> WindowTiming {
    WindowTiming {
        quiet_ms: Some(10_000),
        bucket_ms: None,
        max_wait_ms: 300_000,
        max_count: None,
    }
}

fn entry(rule: &str, group: &str, timing: WindowTiming) -> WindowEntry {
    WindowEntry {
        rule: rule.to_string(),
        group_key: group.to_string(),
        timing,
    }
}

/// An event received at `second`, without deliveries, joining the window of (RULE, group).
fn joining(group: &str, second: i64, dedup_key: Option<&str>) -> EventWithDeliveries {
    let mut new = event("github", dedup_key);
    new.received_at = at(second);
    EventWithDeliveries {
        windows: vec![entry(RULE, group, quiet_10s())],
        ..item(new, vec![])
    }
}

/// Appends an event joining (RULE, group) at `second`; returns its id.
async fn join(store: &SharedStore, group: &str, second: i64) -> Uuid {
    let item = joining(group, second, None);
    let id = item.event.id;
    append(store, item).await;
    id
}

fn window_query(set: impl FnOnce(&mut WindowQuery)) -> WindowQuery {
    with(set)
}

/// The one open window of (RULE, group).
async fn open_window(store: &SharedStore, group: &str) -> Window {
    let query =
        window_query(|q| (q.rule, q.status) = (Some(RULE.into()), Some(WindowStatus::Open)));
    let mut found: Vec<_> = store
        .list_windows(&query)
        .await
        .unwrap()
        .into_iter()
        .filter(|w| w.group_key == group)
        .collect();
    assert_eq!(found.len(), 1, "open windows of {group}: {found:?}");
    found.remove(0)
}

async fn window_of(store: &SharedStore, id: Uuid) -> Window {
    store.get_window(id).await.unwrap().expect("window exists")
}

async fn event_ids(store: &SharedStore, window_id: Uuid) -> Vec<Uuid> {
    let events = store.window_events(window_id).await.unwrap();
    events.iter().map(|event| event.id).collect()
}

/// Claims with a 60-second lease.
async fn claim_windows(store: &SharedStore, now: i64, limit: u32) -> Vec<ClaimedWindow> {
    let lease_until = at(now + 60);
    store
        .claim_due_windows(at(now), lease_until, limit)
        .await
        .unwrap()
}

fn groups(claimed: &[ClaimedWindow]) -> Vec<&str> {
    claimed
        .iter()
        .map(|c| c.window.group_key.as_str())
        .collect()
}

/// A delivery a flush of `window` makes for `action` (its window id left for the flush to
/// set).
fn flush_delivery(window: &Window, action: &str, event_id: Option<Uuid>, now: i64) -> NewDelivery {
    NewDelivery {
        id: Uuid::now_v7(),
        event_id,
        rule: window.rule.clone(),
        action: action.to_string(),
        idempotency_key: format!("window/{}/{action}", window.id),
        created_at: at(now),
        next_attempt_at: at(now),
        ordering_key: None,
        window_id: None,
        lease: None,
    }
}

async fn flush(store: &SharedStore, claimed: &ClaimedWindow, now: i64) -> bool {
    let window = claimed.window.id;
    store
        .flush_window(window, claimed.lease_token, &[], at(now))
        .await
        .unwrap()
}

async fn window_deliveries(store: &SharedStore) -> Vec<Delivery> {
    let query = delivery_query(|q| q.rule = Some(RULE.into()));
    store.list_deliveries(&query).await.unwrap()
}

pub async fn events_of_one_group_join_one_window_in_order(store: SharedStore) {
    let first = joining("a", 0, None);
    let (second, third) = (joining("a", 4, None), joining("a", 7, None));
    append(&store, first.clone()).await;
    let batch = [second.clone(), third.clone()];
    store.append_events(&batch).await.unwrap();

    let all = store.list_windows(&WindowQuery::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    let window = &all[0];
    assert_eq!(
        (window.rule.as_str(), window.group_key.as_str()),
        (RULE, "a")
    );
    assert_eq!((window.status, window.count), (WindowStatus::Open, 3));
    assert_eq!(
        (window.opened_at, window.last_event_at, window.due_at),
        (at(0), at(7), at(17))
    );
    assert_eq!((window.flushed_at, window.forced), (None, false));
    assert_eq!(window_of(&store, window.id).await, *window);
    let events = store.window_events(window.id).await.unwrap();
    let expected: Vec<_> = [&first, &second, &third]
        .iter()
        .map(|item| stored_event(&item.event))
        .collect();
    assert_eq!(events, expected);

    // Joining order, not receiving order; the last event time never goes back.
    let early = join(&store, "a", 2).await;
    let window = open_window(&store, "a").await;
    assert_eq!((window.count, window.last_event_at), (4, at(7)));
    assert_eq!(event_ids(&store, window.id).await.last(), Some(&early));
    assert_eq!(store.get_window(Uuid::now_v7()).await.unwrap(), None);
    assert!(
        store
            .window_events(Uuid::now_v7())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn another_group_or_rule_opens_its_own_window(store: SharedStore) {
    let a = join(&store, "a", 0).await;
    let b = join(&store, "b", 1).await;
    // One event joining two windows, and the same one twice (it joins once).
    let mut both = joining("a", 2, None);
    both.windows.push(entry("other", "a", quiet_10s()));
    both.windows.push(entry("other", "a", quiet_10s()));
    let both_id = both.event.id;
    append(&store, both).await;

    let (window_a, window_b) = (
        open_window(&store, "a").await,
        open_window(&store, "b").await,
    );
    assert_ne!(window_a.id, window_b.id);
    assert_eq!(event_ids(&store, window_a.id).await, vec![a, both_id]);
    assert_eq!(event_ids(&store, window_b.id).await, vec![b]);
    assert_eq!(window_b.opened_at, at(1));
    let other = store
        .list_windows(&window_query(|q| q.rule = Some("other".into())))
        .await
        .unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!((other[0].group_key.as_str(), other[0].count), ("a", 1));
    assert_eq!(event_ids(&store, other[0].id).await, vec![both_id]);
}

pub async fn duplicate_event_joins_no_window(store: SharedStore) {
    let original = joining("a", 0, Some("delivery-1"));
    append(&store, original.clone()).await;
    let repeat = joining("a", 5, Some("delivery-1"));
    let outcome = append(&store, repeat).await;
    assert_eq!(
        outcome,
        AppendOutcome::Duplicate {
            event_id: original.event.id
        }
    );
    // Twice in one batch: the first is stored and joins, the second does not.
    let (x, y) = (joining("a", 6, Some("d-2")), joining("a", 7, Some("d-2")));
    store.append_events(&[x.clone(), y]).await.unwrap();

    let window = open_window(&store, "a").await;
    assert_eq!((window.count, window.last_event_at), (2, at(6)));
    assert_eq!(
        event_ids(&store, window.id).await,
        vec![original.event.id, x.event.id]
    );
}

pub async fn after_a_flush_a_new_event_opens_a_new_window(store: SharedStore) {
    let first = join(&store, "a", 0).await;
    let claimed = claim_windows(&store, 10, 5).await;
    assert_eq!(groups(&claimed), vec!["a"]);
    assert!(flush(&store, &claimed[0], 11).await);
    let second = join(&store, "a", 20).await;

    let old = window_of(&store, claimed[0].window.id).await;
    assert_eq!(old.status, WindowStatus::Flushed);
    assert_eq!((old.flushed_at, old.count), (Some(at(11)), 1));
    assert_eq!(event_ids(&store, old.id).await, vec![first]);
    let new = open_window(&store, "a").await;
    assert_ne!(new.id, old.id);
    assert_eq!((new.opened_at, new.count, new.due_at), (at(20), 1, at(30)));
    assert_eq!(event_ids(&store, new.id).await, vec![second]);
}

pub async fn claim_takes_due_windows_oldest_first(store: SharedStore) {
    // Due at 15, 10 and 40.
    join(&store, "a", 5).await;
    join(&store, "b", 0).await;
    join(&store, "c", 30).await;
    assert!(claim_windows(&store, 9, 5).await.is_empty());
    assert!(claim_windows(&store, 20, 0).await.is_empty());

    let first = claim_windows(&store, 20, 1).await;
    assert_eq!(groups(&first), vec!["b"]);
    assert_eq!(first[0].window, window_of(&store, first[0].window.id).await);
    let second = claim_windows(&store, 20, 5).await;
    assert_eq!(groups(&second), vec!["a"]);
    assert_ne!(first[0].lease_token, second[0].lease_token);
    assert!(claim_windows(&store, 20, 5).await.is_empty());
    assert_eq!(groups(&claim_windows(&store, 40, 5).await), vec!["c"]);

    // Both leases ran until 80: at that instant they have expired; one token for the claim.
    let again = claim_windows(&store, 80, 5).await;
    assert_eq!(groups(&again), vec!["b", "a"]);
    assert_eq!(again[0].lease_token, again[1].lease_token);
    assert!(![first[0].lease_token, second[0].lease_token].contains(&again[0].lease_token));
}

pub async fn flush_writes_deliveries_with_the_window(store: SharedStore) {
    join(&store, "a", 0).await;
    let last = join(&store, "a", 3).await;
    let claimed = claim_windows(&store, 20, 5).await.remove(0);
    let window = &claimed.window;
    assert_eq!(event_ids(&store, window.id).await.len(), 2);
    // A flush's deliveries may name the last event, or none.
    let deliveries = [
        flush_delivery(window, "slack", Some(last), 21),
        flush_delivery(window, "jira", None, 21),
    ];
    let (token, now) = (claimed.lease_token, at(21));
    let flushed = store.flush_window(window.id, token, &deliveries, now).await;
    assert!(flushed.unwrap());

    let after = window_of(&store, window.id).await;
    assert_eq!(after.status, WindowStatus::Flushed);
    assert_eq!((after.flushed_at, after.count), (Some(at(21)), 2));
    let mut written = window_deliveries(&store).await;
    written.sort_by_key(|d| d.action.clone());
    let found: Vec<_> = written
        .iter()
        .map(|d| (d.action.as_str(), d.event_id, d.window_id, d.status))
        .collect();
    let pending = DeliveryStatus::Pending;
    assert_eq!(
        found,
        vec![
            ("jira", None, Some(window.id), pending),
            ("slack", Some(last), Some(window.id), pending),
        ]
    );
    // They run like any delivery.
    assert_eq!(claim_ids(&store, at(21), 10).await.len(), 2);

    // Flushed once: the same token, or a flush of a window never claimed, writes nothing.
    let again = [flush_delivery(window, "pager", None, 22)];
    let repeat = store.flush_window(window.id, token, &again, at(22)).await;
    assert!(!repeat.unwrap());
    let unknown = store
        .flush_window(Uuid::now_v7(), token, &again, at(22))
        .await;
    assert!(!unknown.unwrap());
    assert_eq!(window_deliveries(&store).await.len(), 2);
    assert!(claim_windows(&store, 500, 5).await.is_empty());
}

pub async fn lost_lease_flushes_and_defers_nothing(store: SharedStore) {
    join(&store, "a", 0).await;
    let stale = claim_windows(&store, 20, 5).await.remove(0);
    // The lease ran until 80; another flusher takes the window then.
    let current = claim_windows(&store, 80, 5).await.remove(0);
    assert_eq!(current.window.id, stale.window.id);

    let deliveries = [flush_delivery(&stale.window, "slack", None, 81)];
    let id = stale.window.id;
    let late = store
        .flush_window(id, stale.lease_token, &deliveries, at(81))
        .await;
    assert!(!late.unwrap());
    let deferred = store.defer_window(id, stale.lease_token, at(500)).await;
    assert!(!deferred.unwrap());
    let forged = store
        .flush_window(id, Uuid::now_v7(), &deliveries, at(81))
        .await;
    assert!(!forged.unwrap());
    let window = window_of(&store, id).await;
    assert_eq!((window.status, window.due_at), (WindowStatus::Open, at(10)));
    assert!(window_deliveries(&store).await.is_empty());

    let token = current.lease_token;
    let kept = store.flush_window(id, token, &deliveries, at(82)).await;
    assert!(kept.unwrap());
    assert_eq!(window_deliveries(&store).await.len(), 1);
}

pub async fn defer_releases_the_lease_and_postpones(store: SharedStore) {
    join(&store, "a", 0).await;
    let claimed = claim_windows(&store, 20, 5).await.remove(0);
    let (id, token) = (claimed.window.id, claimed.lease_token);
    assert!(store.defer_window(id, token, at(100)).await.unwrap());
    assert!(!store.defer_window(id, token, at(200)).await.unwrap());
    let window = window_of(&store, id).await;
    assert_eq!(
        (window.status, window.due_at),
        (WindowStatus::Open, at(100))
    );
    // Released, but not due before 100, even when an event would make it due sooner.
    assert!(claim_windows(&store, 50, 5).await.is_empty());
    assert_eq!(
        store.next_window_due_at(at(50)).await.unwrap(),
        Some(at(100))
    );
    join(&store, "a", 60).await;
    assert_eq!(window_of(&store, id).await.due_at, at(100));
    assert!(!flush(&store, &claimed, 61).await);
    // Past the deferral, events place it again.
    join(&store, "a", 95).await;
    assert_eq!(window_of(&store, id).await.due_at, at(105));

    let second = claim_windows(&store, 105, 5).await.remove(0);
    assert_eq!((second.window.id, second.window.count), (id, 3));
    // A forced window stays due: a calendar does not postpone a manual flush.
    assert_eq!(
        store.flush_now(None, None, at(106)).await.unwrap(),
        vec![id]
    );
    let token = second.lease_token;
    assert!(store.defer_window(id, token, at(900)).await.unwrap());
    let forced = window_of(&store, id).await;
    assert_eq!((forced.due_at, forced.forced), (at(106), true));
    let third = claim_windows(&store, 106, 5).await;
    assert_eq!(third.len(), 1);
    assert!(third[0].window.forced);
    assert!(flush(&store, &third[0], 107).await);
}

pub async fn events_after_the_claim_move_to_a_new_window(store: SharedStore) {
    let early = [join(&store, "a", 0).await, join(&store, "a", 2).await];
    let claimed = claim_windows(&store, 20, 5).await.remove(0);
    let id = claimed.window.id;
    let late = [join(&store, "a", 25).await, join(&store, "a", 27).await];
    // The window counts them, but the flusher renders only what it claimed.
    assert_eq!(window_of(&store, id).await.count, 4);
    assert_eq!(event_ids(&store, id).await, early.to_vec());
    assert!(flush(&store, &claimed, 30).await);

    let flushed = window_of(&store, id).await;
    assert_eq!(flushed.status, WindowStatus::Flushed);
    assert_eq!((flushed.count, flushed.last_event_at), (2, at(2)));
    assert_eq!(event_ids(&store, id).await, early.to_vec());
    let next = open_window(&store, "a").await;
    assert_eq!(
        (next.count, next.opened_at, next.last_event_at, next.due_at),
        (2, at(25), at(27), at(37))
    );
    assert_eq!(event_ids(&store, next.id).await, late.to_vec());
    // The moved events keep their order, and the next joins after them.
    let later = join(&store, "a", 40).await;
    assert_eq!(
        event_ids(&store, next.id).await,
        vec![late[0], late[1], later]
    );

    // Deferred instead, the window keeps every event for its next claim.
    let claimed = claim_windows(&store, 60, 5).await.remove(0);
    let extra = join(&store, "a", 61).await;
    assert_eq!(event_ids(&store, next.id).await.len(), 3);
    let token = claimed.lease_token;
    assert!(store.defer_window(next.id, token, at(62)).await.unwrap());
    assert_eq!(
        event_ids(&store, next.id).await,
        vec![late[0], late[1], later, extra]
    );
}

pub async fn concurrent_flushes_have_one_winner(store: SharedStore) {
    for group in 0..8 {
        join(&store, &format!("g{group}"), group).await;
    }
    let claimed = claim_windows(&store, 100, 10).await;
    assert_eq!(claimed.len(), 8);
    let mut flushers = Vec::new();
    for claim in &claimed {
        for flusher in 0..4 {
            let (store, claim) = (store.clone(), claim.clone());
            flushers.push(tokio::spawn(async move {
                let action = format!("action-{flusher}");
                let delivery = flush_delivery(&claim.window, &action, None, 101);
                let (id, token) = (claim.window.id, claim.lease_token);
                let kept = store.flush_window(id, token, &[delivery], at(101)).await;
                (id, kept.expect("flush"))
            }));
        }
    }
    let mut winners: HashMap<Uuid, usize> = HashMap::new();
    for flusher in flushers {
        let (id, kept) = flusher.await.unwrap();
        *winners.entry(id).or_default() += usize::from(kept);
    }
    assert_eq!(winners.len(), 8);
    assert!(winners.values().all(|&n| n == 1), "winners: {winners:?}");
    // Only each winner's delivery was written.
    let written = window_deliveries(&store).await;
    assert_eq!(written.len(), 8);
    let windows: HashSet<_> = written.iter().map(|d| d.window_id).collect();
    assert_eq!(windows.len(), 8);
}

pub async fn concurrent_appends_share_one_window(store: SharedStore) {
    let appenders = (0..8).map(|task| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            for n in 0..25 {
                // Every other event also joins a group of its own appender.
                let mut item = joining("shared", task * 100 + n, None);
                if n % 2 == 0 {
                    item.windows
                        .push(entry(RULE, &format!("t{task}"), quiet_10s()));
                }
                mine.push(item.event.id);
                append(&store, item).await;
            }
            mine
        })
    });
    let mut all = HashSet::new();
    for appender in appenders.collect::<Vec<_>>() {
        all.extend(appender.await.unwrap());
    }
    let shared = open_window(&store, "shared").await;
    assert_eq!(shared.count, 200);
    let joined = event_ids(&store, shared.id).await;
    assert_eq!(joined.len(), 200);
    assert_eq!(joined.into_iter().collect::<HashSet<_>>(), all);
    for task in 0..8 {
        assert_eq!(open_window(&store, &format!("t{task}")).await.count, 13);
    }
}

/// Windows due at their last event, flushed as fast as events arrive: every event is
/// rendered by exactly one flush, and what each flush rendered is what its window holds.
pub async fn appends_racing_flushes_lose_no_event(store: SharedStore) {
    let at_once = WindowTiming {
        quiet_ms: None,
        bucket_ms: None,
        max_wait_ms: 0,
        max_count: None,
    };
    let done = Arc::new(AtomicBool::new(false));
    let flushers: Vec<_> = (0..2)
        .map(|_| {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let mut rendered: Vec<(Uuid, Vec<Uuid>)> = Vec::new();
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let claimed = claim_windows(&store, 1_000, 4).await;
                    if claimed.is_empty() && finished {
                        return rendered;
                    }
                    for claim in claimed {
                        let seen = event_ids(&store, claim.window.id).await;
                        assert!(flush(&store, &claim, 1_000).await, "lease lost");
                        rendered.push((claim.window.id, seen));
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let appenders: Vec<_> = (0..4)
        .map(|task| {
            let (store, timing) = (store.clone(), at_once.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for n in 0..50 {
                    let mut new = event("github", None);
                    new.received_at = at(task * 100 + n);
                    let windows = vec![entry(RULE, "a", timing.clone())];
                    mine.push(new.id);
                    append(
                        &store,
                        EventWithDeliveries {
                            windows,
                            ..item(new, vec![])
                        },
                    )
                    .await;
                }
                mine
            })
        })
        .collect();
    let mut appended = HashSet::new();
    for appender in appenders {
        appended.extend(appender.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let mut rendered = Vec::new();
    for flusher in flushers {
        rendered.extend(flusher.await.unwrap());
    }
    let mut seen = HashSet::new();
    for (window, events) in &rendered {
        assert_eq!(&event_ids(&store, *window).await, events);
        for event in events {
            assert!(seen.insert(*event), "event {event} rendered twice");
        }
    }
    assert_eq!(seen, appended);
    let open = window_query(|q| q.status = Some(WindowStatus::Open));
    assert!(store.list_windows(&open).await.unwrap().is_empty());
}

pub async fn list_windows_filters_and_orders(store: SharedStore) {
    let mut first = joining("a", 0, None);
    first.windows = vec![entry("r1", "a", quiet_10s())];
    let mut second = joining("a", 5, None);
    second.windows = vec![entry("r2", "a", quiet_10s())];
    let mut third = joining("b", 10, None);
    third.windows = vec![entry("r1", "b", quiet_10s())];
    for item in [first, second, third] {
        append(&store, item).await;
    }
    // r1/b is flushed; the others stay open.
    let claimed = claim_windows(&store, 20, 5).await;
    let r1_b = claimed.iter().find(|c| c.window.group_key == "b").unwrap();
    assert!(flush(&store, r1_b, 21).await);
    let open_r1 = |q: &mut WindowQuery| {
        q.rule = Some("r1".into());
        q.status = Some(WindowStatus::Open);
    };
    let cases: [(WindowQuery, Vec<(&str, &str)>); 6] = [
        (
            window_query(|_| {}),
            vec![("r1", "b"), ("r2", "a"), ("r1", "a")],
        ),
        (
            window_query(|q| q.rule = Some("r1".into())),
            vec![("r1", "b"), ("r1", "a")],
        ),
        (
            window_query(|q| q.status = Some(WindowStatus::Open)),
            vec![("r2", "a"), ("r1", "a")],
        ),
        (
            window_query(|q| q.status = Some(WindowStatus::Flushed)),
            vec![("r1", "b")],
        ),
        (window_query(|q| q.limit = 1), vec![("r1", "b")]),
        (window_query(open_r1), vec![("r1", "a")]),
    ];
    for (query, expected) in cases {
        let found = store.list_windows(&query).await.unwrap();
        let found: Vec<_> = found
            .iter()
            .map(|w| (w.rule.as_str(), w.group_key.as_str()))
            .collect();
        assert_eq!(found, expected, "{query:?}");
    }
    // Counted per rule, open ones only: r1/a and r2/a.
    let open = store.open_window_counts().await.unwrap();
    assert_eq!(open, vec![("r1".to_string(), 1), ("r2".to_string(), 1)]);
}

pub async fn flush_now_forces_matching_windows(store: SharedStore) {
    let mut other = joining("a", 20, None);
    other.windows = vec![entry("other", "a", quiet_10s())];
    append(&store, other).await;
    join(&store, "a", 0).await;
    join(&store, "b", 10).await;
    join(&store, "done", -5).await;
    let done = claim_windows(&store, 5, 1).await.remove(0);
    assert_eq!(done.window.group_key, "done");
    assert!(flush(&store, &done, 5).await);
    let (a, b) = (
        open_window(&store, "a").await,
        open_window(&store, "b").await,
    );
    let other_id = store
        .list_windows(&window_query(|q| q.rule = Some("other".into())))
        .await
        .unwrap()[0]
        .id;

    let sorted = |mut ids: Vec<Uuid>| {
        ids.sort_unstable();
        ids
    };
    let one = store.flush_now(Some(RULE), Some("a"), at(1)).await.unwrap();
    assert_eq!(one, vec![a.id]);
    let forced = window_of(&store, a.id).await;
    assert_eq!((forced.due_at, forced.forced), (at(1), true));
    assert!(!window_of(&store, b.id).await.forced);
    let rule = store.flush_now(Some(RULE), None, at(2)).await.unwrap();
    assert_eq!(rule, sorted(vec![a.id, b.id]));
    let every = store.flush_now(None, None, at(3)).await.unwrap();
    assert_eq!(every, sorted(vec![a.id, b.id, other_id]));
    let none = store.flush_now(Some("missing"), None, at(3)).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(window_of(&store, done.window.id).await.due_at, at(5));

    // A forced window stays due when more events join it.
    join(&store, "a", 4).await;
    let a_now = window_of(&store, a.id).await;
    assert_eq!((a_now.count, a_now.due_at), (2, at(3)));
    assert_eq!(store.next_window_due_at(at(3)).await.unwrap(), Some(at(3)));
    let claimed = claim_windows(&store, 3, 10).await;
    assert_eq!(claimed.len(), 3);
    assert!(claimed.iter().all(|c| c.window.forced));
}

pub async fn next_window_due_at_skips_leased_windows(store: SharedStore) {
    assert_eq!(store.next_window_due_at(at(0)).await.unwrap(), None);
    join(&store, "a", 0).await;
    join(&store, "b", 10).await;
    assert_eq!(store.next_window_due_at(at(0)).await.unwrap(), Some(at(10)));
    let claimed = claim_windows(&store, 10, 1).await.remove(0);
    assert_eq!(claimed.window.group_key, "a");
    assert_eq!(
        store.next_window_due_at(at(10)).await.unwrap(),
        Some(at(20))
    );
    // Once the lease has run out the window counts again.
    assert_eq!(
        store.next_window_due_at(at(70)).await.unwrap(),
        Some(at(10))
    );
    assert!(flush(&store, &claimed, 11).await);
    assert_eq!(
        store.next_window_due_at(at(70)).await.unwrap(),
        Some(at(20))
    );
}

/// Appends one event at 0 s joining `group`, then (if `deliveries`) claims and flushes
/// its window at 100 s with one delivery per action. Returns (event id, window id).
async fn seed_window(store: &SharedStore, group: &str, actions: &[&str]) -> (Uuid, Uuid) {
    let event_id = join(store, group, 0).await;
    let window = open_window(store, group).await;
    if !actions.is_empty() {
        let claimed = claim_windows(store, 100, 10).await;
        let claim = claimed.iter().find(|c| c.window.id == window.id).unwrap();
        let deliveries: Vec<_> = actions
            .iter()
            .map(|action| flush_delivery(&window, action, Some(event_id), 100))
            .collect();
        let token = claim.lease_token;
        let kept = store
            .flush_window(window.id, token, &deliveries, at(100))
            .await;
        assert!(kept.unwrap());
    }
    (event_id, window.id)
}

pub async fn prune_keeps_open_windows_and_their_events(store: SharedStore) {
    let open = seed_window(&store, "open", &[]).await;
    let referenced = seed_window(&store, "referenced", &["keep"]).await;
    let succeeded = seed_window(&store, "succeeded", &["done"]).await;
    let flushed_empty = seed_window(&store, "empty", &[]).await;
    let claimed = claim_windows(&store, 100, 10).await;
    let empty = claimed.iter().find(|c| c.window.id == flushed_empty.1);
    assert!(flush(&store, empty.unwrap(), 100).await);
    let done_id = window_deliveries(&store)
        .await
        .into_iter()
        .find(|d| d.action == "done")
        .unwrap()
        .id;
    complete_due(
        &store,
        at(200),
        &HashMap::from([(done_id, NextStep::Succeeded)]),
    )
    .await;
    // Claimed along with another window but never flushed: still open.
    assert_eq!(window_of(&store, open.1).await.status, WindowStatus::Open);

    let cutoff = Some(at(500));
    let policy =
        with(|p: &mut PrunePolicy| (p.succeeded_before, p.events_before) = (cutoff, cutoff));
    let report = store.prune(&policy).await.unwrap();
    let expected = PruneReport {
        events: 2,
        deliveries: 1,
        windows: 2,
        refs: 0,
    };
    assert_eq!(report, expected);
    for gone in [succeeded, flushed_empty] {
        assert_eq!(store.get_window(gone.1).await.unwrap(), None);
        assert_eq!(store.get_event(gone.0).await.unwrap(), None);
        assert!(store.window_events(gone.1).await.unwrap().is_empty());
    }
    // A flushed window goes only once no delivery refers to it, and an open one not at all,
    // with their events.
    for kept in [open, referenced] {
        assert!(store.get_event(kept.0).await.unwrap().is_some());
        assert_eq!(event_ids(&store, kept.1).await, vec![kept.0]);
    }
    // Still fenced at its last claim; the next claim moves the fence.
    let later = join(&store, "open", 600).await;
    assert_eq!(event_ids(&store, open.1).await, vec![open.0]);
    let reclaimed = claim_windows(&store, 700, 10).await;
    assert_eq!(groups(&reclaimed), vec!["open"]);
    assert_eq!(event_ids(&store, open.1).await, vec![open.0, later]);
    // Nothing more to prune with the same policy.
    assert_eq!(store.prune(&policy).await.unwrap(), PruneReport::default());
}
