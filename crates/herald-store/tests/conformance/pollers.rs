//! Pollers: one process at a time holds a poller's lease; a page's events and the cursor
//! that follows them are written together, only from the cursor the page was fetched
//! after; how a poll ended; deliveries added to stored events.

use crate::fixtures::*;
use chrono::Duration;
use herald_store::SharedStore;
use herald_store::model::*;
use std::sync::Arc;

const SOURCE: &str = "workos";

fn claim<'a>(owner: &'a str, now: Timestamp, force: bool) -> PollerClaim<'a> {
    PollerClaim {
        source: SOURCE,
        owner,
        now,
        lease_until: now + Duration::seconds(60),
        force,
    }
}

/// An event of the poller for item `id`, with one delivery.
fn polled(id: &str) -> EventWithDeliveries {
    let new = event(SOURCE, Some(id));
    let delivery = delivery(&new, "apply", "sql");
    item(new, vec![delivery])
}

fn page<'a>(
    after: Option<&'a str>,
    cursor: &'a str,
    items: &'a [EventWithDeliveries],
    now: Timestamp,
) -> PollPage<'a> {
    PollPage {
        source: SOURCE,
        owner: "a",
        after,
        cursor,
        items,
        newest_item_at: None,
        now,
        lease_until: now + Duration::seconds(60),
    }
}

fn end<'a>(
    owner: &'a str,
    now: Timestamp,
    failure: Option<(PollFailureKind, &'a str)>,
) -> PollEnd<'a> {
    PollEnd {
        source: SOURCE,
        owner,
        now,
        items: 3,
        failure,
        next_poll_at: now + Duration::seconds(60),
    }
}

async fn state(store: &SharedStore) -> PollerState {
    let states = store.poller_states().await.unwrap();
    states
        .into_iter()
        .find(|s| s.source == SOURCE)
        .expect("the poller has a row")
}

async fn events_of(store: &SharedStore) -> Vec<Event> {
    store
        .list_events(&EventQuery {
            source: Some(SOURCE.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn deliveries(store: &SharedStore) -> Vec<Delivery> {
    store
        .list_deliveries(&DeliveryQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// The first claim makes the row (starting now); a live lease refuses every other
/// process until it ends or is released; its holder may claim again.
pub async fn one_process_holds_a_poller_lease(store: SharedStore) {
    assert!(store.poller_states().await.unwrap().is_empty());
    let first = store.claim_poller(&claim("a", at(0), false)).await.unwrap();
    let first = first.expect("a new poller is free and due");
    assert_eq!(first.source, SOURCE);
    assert_eq!(first.cursor, None);
    assert_eq!(first.start_at, Some(at(0)));
    assert_eq!(first.lease_owner.as_deref(), Some("a"));
    assert_eq!(first.lease_until, Some(at(60)));
    assert_eq!((first.failures, first.last_items), (0, 0));
    assert_eq!(first.last_success_at, None);
    for force in [false, true] {
        let refused = store.claim_poller(&claim("b", at(30), force)).await;
        assert_eq!(refused.unwrap(), None, "a live lease, force = {force}");
    }
    let again = store
        .claim_poller(&claim("a", at(30), false))
        .await
        .unwrap();
    assert_eq!(again.unwrap().lease_until, Some(at(90)));
    // The start is kept: it is where `start = "now"` began.
    let taken = store
        .claim_poller(&claim("b", at(90), false))
        .await
        .unwrap();
    let taken = taken.expect("an expired lease is free");
    assert_eq!(taken.lease_owner.as_deref(), Some("b"));
    assert_eq!(taken.start_at, Some(at(0)));
    assert!(!store.finish_poll(&end("a", at(91), None)).await.unwrap());
    assert!(store.finish_poll(&end("b", at(91), None)).await.unwrap());
    let done = state(&store).await;
    assert_eq!((done.lease_owner, done.lease_until), (None, None));
}

/// A poll that ended sets the next one: until then only a forced claim (`--once`) leases.
pub async fn the_next_poll_waits_unless_forced(store: SharedStore) {
    store.claim_poller(&claim("a", at(0), false)).await.unwrap();
    assert!(store.finish_poll(&end("a", at(1), None)).await.unwrap());
    assert_eq!(state(&store).await.next_poll_at, Some(at(61)));
    let early = store
        .claim_poller(&claim("b", at(30), false))
        .await
        .unwrap();
    assert_eq!(early, None);
    let forced = store.claim_poller(&claim("b", at(30), true)).await.unwrap();
    assert_eq!(forced.unwrap().lease_owner.as_deref(), Some("b"));
    assert!(store.finish_poll(&end("b", at(31), None)).await.unwrap());
    let due = store
        .claim_poller(&claim("a", at(91), false))
        .await
        .unwrap();
    assert!(due.is_some());
}

/// A page and its cursor are written together: a page fetched after a cursor that is no
/// longer the stored one writes nothing at all.
pub async fn a_page_moves_the_cursor_with_its_events(store: SharedStore) {
    store.claim_poller(&claim("a", at(0), false)).await.unwrap();
    let first = [polled("event_1"), polled("event_2")];
    let mut written = page(None, "event_2", &first, at(1));
    written.newest_item_at = Some(at(-10));
    let outcome = store.store_poll_page(&written).await.unwrap();
    let ids: Vec<_> = first.iter().map(|i| i.event.id).collect();
    assert_eq!(
        outcome,
        PageOutcome::Stored(vec![
            AppendOutcome::Stored { event_id: ids[0] },
            AppendOutcome::Stored { event_id: ids[1] },
        ])
    );
    let stored = state(&store).await;
    assert_eq!(stored.cursor.as_deref(), Some("event_2"));
    assert_eq!(stored.newest_item_at, Some(at(-10)));
    assert_eq!(
        stored.lease_until,
        Some(at(61)),
        "the holder's lease is extended"
    );
    assert_eq!(events_of(&store).await.len(), 2);
    assert_eq!(deliveries(&store).await.len(), 2);

    // Another process fetched from the start too: its page is refused whole.
    let stale = [polled("event_1"), polled("event_2"), polled("event_3")];
    let refused = store
        .store_poll_page(&page(None, "event_3", &stale, at(2)))
        .await
        .unwrap();
    assert_eq!(
        refused,
        PageOutcome::CursorMoved {
            cursor: Some("event_2".into())
        }
    );
    assert_eq!(events_of(&store).await.len(), 2, "nothing was written");
    assert_eq!(deliveries(&store).await.len(), 2);
    assert_eq!(state(&store).await.cursor.as_deref(), Some("event_2"));

    // After the stored cursor: a replayed item is a duplicate, without deliveries; the
    // newest item time never moves back.
    let next = [polled("event_2"), polled("event_3")];
    let mut written = page(Some("event_2"), "event_3", &next, at(3));
    written.newest_item_at = Some(at(-20));
    let outcome = store.store_poll_page(&written).await.unwrap();
    assert_eq!(
        outcome,
        PageOutcome::Stored(vec![
            AppendOutcome::Duplicate { event_id: ids[1] },
            AppendOutcome::Stored {
                event_id: next[1].event.id
            },
        ])
    );
    let stored = state(&store).await;
    assert_eq!(stored.cursor.as_deref(), Some("event_3"));
    assert_eq!(stored.newest_item_at, Some(at(-10)));
    assert_eq!(events_of(&store).await.len(), 3);
    assert_eq!(deliveries(&store).await.len(), 3);
}

/// A page of a poller that has no row (never claimed) is refused too.
pub async fn a_page_of_an_unknown_poller_writes_nothing(store: SharedStore) {
    let items = [polled("event_1")];
    let outcome = store
        .store_poll_page(&page(None, "event_1", &items, at(1)))
        .await
        .unwrap();
    assert_eq!(outcome, PageOutcome::CursorMoved { cursor: None });
    assert!(events_of(&store).await.is_empty());
    assert!(store.poller_states().await.unwrap().is_empty());
}

/// Polled events join their rules' windows in the page's transaction, as appends do.
pub async fn polled_events_join_their_windows(store: SharedStore) {
    store.claim_poller(&claim("a", at(0), false)).await.unwrap();
    let timing = WindowTiming {
        quiet_ms: Some(10_000),
        bucket_ms: None,
        max_wait_ms: 300_000,
        max_count: None,
    };
    let items: Vec<_> = ["event_1", "event_2"]
        .into_iter()
        .map(|id| EventWithDeliveries {
            windows: vec![WindowEntry {
                rule: "digest".into(),
                group_key: "org_1".into(),
                timing: timing.clone(),
            }],
            ..item(event(SOURCE, Some(id)), vec![])
        })
        .collect();
    store
        .store_poll_page(&page(None, "event_2", &items, at(1)))
        .await
        .unwrap();
    let windows = store
        .list_windows(&WindowQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(windows.len(), 1);
    let members = store.window_events(windows[0].id).await.unwrap();
    let ids: Vec<_> = members.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![items[0].event.id, items[1].event.id]);
}

/// Two processes storing pages fetched after the same cursor: one wins, the other writes
/// nothing.
pub async fn concurrent_pages_from_one_cursor_have_one_winner(store: SharedStore) {
    store.claim_poller(&claim("a", at(0), false)).await.unwrap();
    let racers: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let items: Vec<_> = (0..3).map(|i| polled(&format!("event_{n}_{i}"))).collect();
                let cursor = format!("cursor_{n}");
                store
                    .store_poll_page(&page(None, &cursor, &items, at(1)))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        if matches!(racer.await.unwrap(), PageOutcome::Stored(_)) {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert_eq!(events_of(&store).await.len(), 3);
    assert_eq!(deliveries(&store).await.len(), 3);
}

/// Several processes claiming at once: one lease.
pub async fn concurrent_claims_lease_one_process(store: SharedStore) {
    let store = Arc::new(store);
    let claimers: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let owner = format!("process-{n}");
                store
                    .claim_poller(&claim(&owner, at(0), false))
                    .await
                    .unwrap()
                    .is_some()
            })
        })
        .collect();
    let mut leased = 0;
    for claimer in claimers {
        leased += usize::from(claimer.await.unwrap());
    }
    assert_eq!(leased, 1);
}

/// Failures keep the last success and count up; a success resets the count and keeps the
/// last error for the record.
pub async fn finish_poll_records_successes_and_failures(store: SharedStore) {
    store.claim_poller(&claim("a", at(0), false)).await.unwrap();
    assert!(store.finish_poll(&end("a", at(1), None)).await.unwrap());
    let ok = state(&store).await;
    assert_eq!(ok.last_poll_at, Some(at(1)));
    assert_eq!(ok.last_success_at, Some(at(1)));
    assert_eq!(ok.last_items, 3);
    assert!(!ok.failing());

    for (n, second) in [(1, 100), (2, 200)] {
        store
            .claim_poller(&claim("a", at(second), true))
            .await
            .unwrap();
        let failure = Some((PollFailureKind::Credential, "HTTP 401: Unauthorized"));
        let failed = PollEnd {
            items: 0,
            ..end("a", at(second + 1), failure)
        };
        assert!(store.finish_poll(&failed).await.unwrap());
        let state = state(&store).await;
        assert_eq!(state.failures, n);
        assert_eq!(state.last_success_at, Some(at(1)));
        assert_eq!(state.last_error_at, Some(at(second + 1)));
        assert_eq!(state.last_error_kind, Some(PollFailureKind::Credential));
        assert_eq!(state.last_error.as_deref(), Some("HTTP 401: Unauthorized"));
        assert_eq!(state.last_items, 0);
        assert!(state.failing());
    }
    store
        .claim_poller(&claim("a", at(300), true))
        .await
        .unwrap();
    assert!(store.finish_poll(&end("a", at(301), None)).await.unwrap());
    let recovered = state(&store).await;
    assert_eq!(recovered.failures, 0);
    assert_eq!(recovered.last_success_at, Some(at(301)));
    assert_eq!(
        recovered.last_error_at,
        Some(at(201)),
        "kept for the record"
    );
    assert!(!recovered.failing());
}

/// A process that stops beating (killed mid-poll) has its poller lease released by a live
/// one's beat; a live process keeps its own.
pub async fn a_dead_process_poller_lease_is_released_by_a_heartbeat(store: SharedStore) {
    let stale = |now: Timestamp| now - Duration::seconds(10);
    store.heartbeat("a", at(0), stale(at(0))).await.unwrap();
    store.claim_poller(&claim("a", at(1), false)).await.unwrap();
    store.heartbeat("b", at(5), stale(at(5))).await.unwrap();
    assert_eq!(state(&store).await.lease_owner.as_deref(), Some("a"));
    store.heartbeat("b", at(12), stale(at(12))).await.unwrap();
    let released = state(&store).await;
    assert_eq!((released.lease_owner, released.lease_until), (None, None));
    let taken = store
        .claim_poller(&claim("b", at(12), false))
        .await
        .unwrap();
    assert!(taken.is_some(), "well within the dead process's 60 s lease");
}

/// Deliveries added to stored events (reprocessing them): taken idempotency keys and
/// events that are not stored are skipped.
pub async fn add_deliveries_skips_taken_keys_and_unknown_events(store: SharedStore) {
    assert_eq!(store.add_deliveries(&[]).await.unwrap(), 0);
    let stored = polled("event_1");
    let original = stored.deliveries[0].clone();
    append(&store, stored.clone()).await;
    let again = NewDelivery {
        idempotency_key: format!("{}/reprocess/1", original.idempotency_key),
        ..delivery(&stored.event, "apply", "sql")
    };
    let unknown = delivery(&event(SOURCE, Some("nowhere")).clone(), "apply", "sql");
    let taken = NewDelivery {
        id: uuid::Uuid::now_v7(),
        ..original.clone()
    };
    let added = store
        .add_deliveries(&[again.clone(), unknown, taken])
        .await
        .unwrap();
    assert_eq!(added, 1);
    let all = deliveries(&store).await;
    assert_eq!(all.len(), 2);
    let added = all.iter().find(|d| d.id == again.id).expect("added");
    assert_eq!(added.status, DeliveryStatus::Pending);
    assert_eq!(added.event_id, Some(stored.event.id));
    assert_eq!(
        store.add_deliveries(&[again]).await.unwrap(),
        0,
        "added once"
    );
}

/// Every poller, by source in byte order.
pub async fn poller_states_are_listed_by_source(store: SharedStore) {
    for source in ["workos", "Stripe", "github-events"] {
        let claim = PollerClaim {
            source,
            ..claim("a", at(0), false)
        };
        store.claim_poller(&claim).await.unwrap();
    }
    let sources: Vec<_> = store
        .poller_states()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.source)
        .collect();
    assert_eq!(sources, vec!["Stripe", "github-events", "workos"]);
}
