//! Listing deliveries, queue depth, the next due time, pruning and migrations.

use crate::fixtures::*;
use herald_store::SharedStore;
use herald_store::model::*;
use std::collections::HashMap;
use uuid::Uuid;

/// Four deliveries, oldest id first: three of one event (created at 1, 2 and 3 s, the
/// second dead) and one of another event. Returns (first event id, delivery ids).
async fn seed_for_listing(store: &SharedStore) -> (Uuid, Vec<Uuid>) {
    let first = event("github", None);
    let specs = [("r1", "slack", 1), ("r1", "jira", 2), ("r2", "slack", 3)];
    let mut deliveries: Vec<_> = specs
        .iter()
        .map(|&(rule, action, second)| NewDelivery {
            created_at: at(second),
            ..delivery(&first, rule, action)
        })
        .collect();
    let second = event("github", None);
    let other = delivery(&second, "r2", "jira");
    let ids = [&deliveries[0], &deliveries[1], &deliveries[2], &other].map(|d| d.id);
    append(store, item(first.clone(), std::mem::take(&mut deliveries))).await;
    append(store, item(second, vec![other])).await;
    complete_due(store, at(10), &HashMap::from([(ids[1], NextStep::Dead)])).await;
    (first.id, ids.to_vec())
}

pub async fn list_deliveries_filters_and_pages(store: SharedStore) {
    let (event_id, ids) = seed_for_listing(&store).await;
    let cases: [(DeliveryQuery, Vec<Uuid>); 9] = [
        (delivery_query(|_| {}), vec![ids[3], ids[2], ids[1], ids[0]]),
        (
            delivery_query(|q| q.status = Some(DeliveryStatus::Dead)),
            vec![ids[1]],
        ),
        (
            delivery_query(|q| q.rule = Some("r1".into())),
            vec![ids[1], ids[0]],
        ),
        (
            delivery_query(|q| q.action = Some("slack".into())),
            vec![ids[2], ids[0]],
        ),
        (
            delivery_query(|q| q.event_id = Some(event_id)),
            vec![ids[2], ids[1], ids[0]],
        ),
        // `since` is inclusive, `until` exclusive.
        (
            delivery_query(|q| (q.since, q.until) = (Some(at(2)), Some(at(3)))),
            vec![ids[1]],
        ),
        (
            delivery_query(|q| q.limit = 3),
            vec![ids[3], ids[2], ids[1]],
        ),
        (
            delivery_query(|q| (q.limit, q.before) = (3, Some(ids[1]))),
            vec![ids[0]],
        ),
        (delivery_query(|q| q.before = Some(ids[0])), vec![]),
    ];
    for (query, expected) in cases {
        let found = store.list_deliveries(&query).await.unwrap();
        let found: Vec<Uuid> = found.iter().map(|d| d.id).collect();
        assert_eq!(found, expected, "{query:?}");
    }
}

pub async fn queue_depth_counts(store: SharedStore) {
    assert_eq!(
        store.queue_depth(at(0)).await.unwrap(),
        QueueDepth::default()
    );
    let ids = seed_due(&store, &[at(1), at(2), at(3), at(4), at(100)]).await;
    let steps = HashMap::from([(ids[2], NextStep::Dead), (ids[3], NextStep::Succeeded)]);
    complete_due(&store, at(10), &steps).await;
    let expected = QueueDepth {
        pending: 3,
        due: 2,
        dead: 1,
    };
    assert_eq!(store.queue_depth(at(50)).await.unwrap(), expected);
    // Leased deliveries still wait in the queue.
    assert_eq!(claim_ids(&store, at(50), 1).await, vec![ids[0]]);
    assert_eq!(store.queue_depth(at(50)).await.unwrap(), expected);
    let later = QueueDepth {
        pending: 3,
        due: 3,
        dead: 1,
    };
    assert_eq!(store.queue_depth(at(100)).await.unwrap(), later);
}

pub async fn next_due_at_is_earliest_pending(store: SharedStore) {
    assert_eq!(store.next_due_at(at(0)).await.unwrap(), None);
    let ids = seed_due(&store, &[at_ms(5_500), at(3), at(9)]).await;
    assert_eq!(store.next_due_at(at(0)).await.unwrap(), Some(at(3)));
    complete_due(
        &store,
        at(4),
        &HashMap::from([(ids[1], NextStep::Succeeded)]),
    )
    .await;
    assert_eq!(store.next_due_at(at(0)).await.unwrap(), Some(at_ms(5_500)));
    let retry = NextStep::Retry {
        at: at(20),
        counts_against_schedule: true,
    };
    complete_due(&store, at(6), &HashMap::from([(ids[0], retry)])).await;
    assert_eq!(store.next_due_at(at(0)).await.unwrap(), Some(at(9)));
    complete_due(&store, at(9), &HashMap::from([(ids[2], NextStep::Dead)])).await;
    assert_eq!(store.next_due_at(at(0)).await.unwrap(), Some(at(20)));
}

pub async fn next_due_at_waits_for_leases(store: SharedStore) {
    let ids = seed_due(&store, &[at(1), at(50)]).await;
    let claimed = store.claim_due(&claim(at(2), 1)).await.unwrap();
    assert_eq!(claimed[0].delivery.id, ids[0]);
    // The leased row is due but held until at(32): nothing is claimable before then.
    assert_eq!(store.next_due_at(at(3)).await.unwrap(), Some(at(32)));
    // Once the lease has expired it counts as due again.
    assert_eq!(store.next_due_at(at(40)).await.unwrap(), Some(at(1)));
}

/// One event received at `received` with a delivery finished by `step` at `finished`
/// (None: left pending). Returns (event id, delivery id).
async fn seed_finished(
    store: &SharedStore,
    received: i64,
    step: Option<(NextStep, i64)>,
) -> (Uuid, Uuid) {
    let mut new = event("github", None);
    new.received_at = at(received);
    let delivery = delivery(&new, "r", "slack");
    let ids = (new.id, delivery.id);
    append(store, item(new, vec![delivery])).await;
    if let Some((next, finished)) = step {
        complete_due(store, at(finished), &HashMap::from([(ids.1, next)])).await;
    }
    ids
}

/// (events, deliveries) pruned.
async fn prune(store: &SharedStore, set: impl FnOnce(&mut PrunePolicy)) -> (u64, u64) {
    let report = store.prune(&with(set)).await.unwrap();
    (report.events, report.deliveries)
}

pub async fn prune_keeps_pending_and_referenced(store: SharedStore) {
    let old_done = seed_finished(&store, 0, Some((NextStep::Succeeded, 10))).await;
    let old_dead = seed_finished(&store, 0, Some((NextStep::Dead, 10))).await;
    let old_pending = seed_finished(&store, 0, None).await;
    let recent_done = seed_finished(&store, 1_000, Some((NextStep::Succeeded, 1_000))).await;
    let orphan = event("github", None);
    let orphan_id = orphan.id;
    append(&store, item(orphan, vec![])).await;
    assert_eq!(prune(&store, |_| {}).await, (0, 0));

    let cutoff = Some(at(500));
    let done_and_events =
        |p: &mut PrunePolicy| (p.succeeded_before, p.events_before) = (cutoff, cutoff);
    assert_eq!(prune(&store, done_and_events).await, (2, 1));
    assert_eq!(store.get_delivery(old_done.1).await.unwrap(), None);
    assert!(store.list_attempts(old_done.1).await.unwrap().is_empty());
    for gone in [old_done.0, orphan_id] {
        assert_eq!(store.get_event(gone).await.unwrap(), None);
    }
    // Dead deliveries go only when asked, and their event stays while they do.
    assert!(store.get_delivery(old_dead.1).await.unwrap().is_some());
    assert!(store.get_event(old_dead.0).await.unwrap().is_some());
    let dead_too = |p: &mut PrunePolicy| {
        done_and_events(p);
        p.dead_before = cutoff;
    };
    assert_eq!(prune(&store, dead_too).await, (1, 1));
    assert_eq!(store.get_event(old_dead.0).await.unwrap(), None);

    let far = Some(at(1_000_000));
    let everything = |p: &mut PrunePolicy| {
        *p = PrunePolicy {
            succeeded_before: far,
            dead_before: far,
            events_before: far,
            refs_before: None,
        }
    };
    assert_eq!(prune(&store, everything).await, (1, 1));
    assert_eq!(store.get_event(recent_done.0).await.unwrap(), None);
    // Pending deliveries, and the events they need, are never pruned.
    let pending = delivery_of(&store, old_pending.1).await;
    assert_eq!(pending.status, DeliveryStatus::Pending);
    assert!(store.get_event(old_pending.0).await.unwrap().is_some());
}

pub async fn migrate_again_is_harmless(store: SharedStore) {
    let ids = seed_due(&store, &[at(0)]).await;
    let (first, second) = tokio::join!(store.migrate(), store.migrate());
    first.unwrap();
    second.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(claim_ids(&store, at(1), 5).await, ids);
}

pub async fn prune_refs_by_last_write(store: SharedStore) {
    let ids = seed_due(&store, &[at(0), at(1)]).await;
    let claimed = store.claim_due(&claim(at(5), 2)).await.unwrap();
    // "old" and "renewed" are written at 10 s; "renewed" again at 1000 s.
    let writes = [
        (&claimed[0], 10, vec!["old", "renewed"]),
        (&claimed[1], 1_000, vec!["renewed", "new"]),
    ];
    for (claimed, second, keys) in writes {
        let mut done = record(claimed, NextStep::Succeeded, at(second));
        done.refs = keys
            .into_iter()
            .map(|key| ref_write("slack_message", key, serde_json::json!({ "key": key })))
            .collect();
        assert!(store.complete_attempt(&done).await.unwrap());
    }
    let report = store.prune(&PrunePolicy::default()).await.unwrap();
    assert_eq!(report, PruneReport::default());
    // Refs go by their own cutoff only.
    let policy = with(|p: &mut PrunePolicy| p.refs_before = Some(at(500)));
    let report = store.prune(&policy).await.unwrap();
    let expected = PruneReport {
        refs: 1,
        ..PruneReport::default()
    };
    assert_eq!(report, expected);
    assert_eq!(store.get_ref("slack_message", "old").await.unwrap(), None);
    for key in ["renewed", "new"] {
        assert!(store.get_ref("slack_message", key).await.unwrap().is_some());
    }
    assert!(store.get_delivery(ids[0]).await.unwrap().is_some());
    let policy = with(|p: &mut PrunePolicy| p.refs_before = Some(at(1_001)));
    assert_eq!(store.prune(&policy).await.unwrap().refs, 2);
}

pub async fn prune_keeps_durable_refs(store: SharedStore) {
    let durable = format!("{DURABLE_REF_PREFIX}channel");
    let write = |kind: &str, key: &str| RefWrite {
        kind: kind.to_string(),
        key: key.to_string(),
        data: serde_json::json!({"repository": "acme/web"}),
        group: None,
        delete: false,
    };
    let change = RefChange {
        writes: vec![write(&durable, "C1"), write("slack_message", "old")],
        now: at(10),
        ..RefChange::default()
    };
    assert!(store.change_refs(&change).await.unwrap());
    let policy = with(|p: &mut PrunePolicy| p.refs_before = Some(at(1_000)));
    assert_eq!(store.prune(&policy).await.unwrap().refs, 1);
    assert_eq!(store.get_ref("slack_message", "old").await.unwrap(), None);
    let kept = store.get_ref(&durable, "C1").await.unwrap().unwrap();
    assert_eq!(kept.data["repository"], "acme/web");
}

pub async fn a_closed_store_refuses_work(store: SharedStore) {
    append(&store, item(event("github", Some("before")), vec![])).await;
    store.close().await;
    assert!(store.ping().await.is_err(), "ping after close");
    let late = store
        .append_events(&[item(event("github", Some("after")), vec![])])
        .await;
    assert!(late.is_err(), "append after close: {late:?}");
    // Closing twice is harmless.
    store.close().await;
}
