//! Replaying deliveries by id and by filter.

use crate::fixtures::*;
use herald_store::SharedStore;
use herald_store::model::*;
use std::collections::HashMap;
use uuid::Uuid;

fn retry(at_second: i64) -> NextStep {
    NextStep::Retry {
        at: at(at_second),
        counts_against_schedule: true,
    }
}

pub async fn replay_by_ids_requeues_any_status(store: SharedStore) {
    let ids = seed_due(&store, &[at(0), at(1), at(2), at(3)]).await;
    let (done, dead, leased, untouched) = (ids[0], ids[1], ids[2], ids[3]);
    complete_due(&store, at(10), &HashMap::from([(dead, retry(20))])).await;
    let steps = HashMap::from([(done, NextStep::Succeeded), (dead, NextStep::Dead)]);
    complete_due(&store, at(20), &steps).await;
    assert_eq!(delivery_of(&store, dead).await.retries_used, 1);
    let holder = store.claim_due(&claim(at(30), 10)).await.unwrap();
    let holder = holder
        .into_iter()
        .find(|c| c.delivery.id == leased)
        .unwrap();

    // While the lease is live, replaying the delivery would send it twice: it is left alone.
    let live = ReplaySelector::Ids(vec![leased]);
    assert!(store.replay(&live, at(40)).await.unwrap().is_empty());
    assert_eq!(delivery_of(&store, leased).await.lease_until, Some(at(60)));

    let unknown = Uuid::now_v7();
    let selector = ReplaySelector::Ids(vec![done, dead, leased, unknown]);
    let mut expected = vec![done, dead, leased];
    expected.sort();
    assert_eq!(store.replay(&selector, at(500)).await.unwrap(), expected);
    for id in [done, dead, leased] {
        let delivery = delivery_of(&store, id).await;
        assert_eq!(delivery.status, DeliveryStatus::Pending);
        assert_eq!(
            (delivery.next_attempt_at, delivery.updated_at),
            (at(500), at(500))
        );
        assert_eq!((delivery.retries_used, delivery.lease_until), (0, None));
    }
    // History is kept: the attempt count and log survive a replay.
    assert_eq!(delivery_of(&store, dead).await.attempts, 2);
    assert_eq!(store.list_attempts(dead).await.unwrap().len(), 2);
    assert_eq!(delivery_of(&store, untouched).await.next_attempt_at, at(3));
    // The replay took the lease away from its holder.
    let late = record(&holder, NextStep::Succeeded, at(31));
    assert!(!store.complete_attempt(&late).await.unwrap());
    // Only the untouched delivery (its lease from at(30) long expired) is due before now.
    assert_eq!(claim_ids(&store, at(499), 10).await, vec![untouched]);
    assert_eq!(claim_ids(&store, at(500), 10).await, expected);
    assert!(
        store
            .replay(&ReplaySelector::Ids(vec![]), at(600))
            .await
            .unwrap()
            .is_empty()
    );
    // A pending delivery never claimed (no lease at all) can be replayed by id: made due now.
    let waiting = seed_due(&store, &[at(900)]).await[0];
    let unleased = ReplaySelector::Ids(vec![waiting]);
    assert_eq!(
        store.replay(&unleased, at(600)).await.unwrap(),
        vec![waiting]
    );
    assert_eq!(delivery_of(&store, waiting).await.next_attempt_at, at(600));
}

/// Deliveries created at 1..=5 s: (rule, action, final step or None for pending).
async fn seed_for_filters(store: &SharedStore) -> Vec<Uuid> {
    let specs = [
        ("r1", "a1", Some(NextStep::Succeeded)),
        ("r1", "a1", Some(NextStep::Dead)),
        ("r1", "a2", Some(NextStep::Dead)),
        ("r2", "a1", Some(NextStep::Dead)),
        ("r1", "a1", None),
    ];
    let mut steps = HashMap::new();
    let mut ids = Vec::new();
    for (second, (rule, action, step)) in (1..).zip(specs) {
        let mut new = event("github", None);
        new.received_at = at(second);
        let delivery = delivery(&new, rule, action);
        if let Some(step) = step {
            steps.insert(delivery.id, step);
        }
        ids.push(delivery.id);
        append(store, item(new, vec![delivery])).await;
    }
    complete_due(store, at(10), &steps).await;
    ids
}

pub async fn replay_by_filter_never_touches_pending(store: SharedStore) {
    let ids = seed_for_filters(&store).await;
    let replay = |filter: ReplayFilter| {
        let store = store.clone();
        async move {
            let selector = ReplaySelector::Filter(filter);
            store.replay(&selector, at(100)).await.unwrap()
        }
    };
    let sorted = |mut ids: Vec<Uuid>| {
        ids.sort();
        ids
    };
    assert!(
        replay(ReplayFilter {
            status: Some(DeliveryStatus::Pending),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    // `since` is inclusive and `until` exclusive, on created_at.
    let window = ReplayFilter {
        since: Some(at(4)),
        until: Some(at(5)),
        ..Default::default()
    };
    assert_eq!(replay(window).await, vec![ids[3]]);
    let dead_r1 = ReplayFilter {
        rule: Some("r1".into()),
        status: Some(DeliveryStatus::Dead),
        ..Default::default()
    };
    assert_eq!(replay(dead_r1).await, sorted(vec![ids[1], ids[2]]));
    let replayed = delivery_of(&store, ids[1]).await;
    assert_eq!(
        (replayed.status, replayed.next_attempt_at),
        (DeliveryStatus::Pending, at(100))
    );
    assert_eq!(replayed.retries_used, 0);
    let by_action = ReplayFilter {
        rule: Some("r1".into()),
        action: Some("a1".into()),
        ..Default::default()
    };
    assert_eq!(replay(by_action).await, vec![ids[0]]);
    // Everything is pending now, including the never-finished one, whose schedule stays.
    assert!(replay(ReplayFilter::default()).await.is_empty());
    assert_eq!(delivery_of(&store, ids[4]).await.next_attempt_at, at(5));
}

pub async fn replay_clears_failure_kind_and_restarts_only_succeeded(store: SharedStore) {
    let ids = seed_due(&store, &[at(0), at(1), at(2)]).await;
    let (succeeded, dead, waiting) = (ids[0], ids[1], ids[2]);
    let claimed = store.claim_due(&claim(at(5), 3)).await.unwrap();
    let steps = [NextStep::Succeeded, NextStep::Dead, retry(900)];
    for (claimed, next) in claimed.iter().zip(steps) {
        let mut done = record(claimed, next, at(6));
        done.progress = 2;
        done.failure_kind = Some(FailureKind::Credential);
        assert!(store.complete_attempt(&done).await.unwrap());
    }
    let selector = ReplaySelector::Ids(ids.clone());
    assert_eq!(store.replay(&selector, at(10)).await.unwrap(), ids);
    let state = |delivery: Delivery| (delivery.progress, delivery.failure_kind);
    // A succeeded delivery runs again in full; the others resume after the steps done.
    assert_eq!(state(delivery_of(&store, succeeded).await), (0, None));
    assert_eq!(state(delivery_of(&store, dead).await), (2, None));
    assert_eq!(state(delivery_of(&store, waiting).await), (2, None));

    // By filter too.
    let claimed = store.claim_due(&claim(at(10), 1)).await.unwrap().remove(0);
    let mut done = record(&claimed, NextStep::Dead, at(11));
    (done.progress, done.failure_kind) = (1, Some(FailureKind::Credential));
    assert!(store.complete_attempt(&done).await.unwrap());
    let filter = ReplaySelector::Filter(ReplayFilter::default());
    assert_eq!(
        store.replay(&filter, at(12)).await.unwrap(),
        vec![claimed.delivery.id]
    );
    assert_eq!(
        state(delivery_of(&store, claimed.delivery.id).await),
        (1, None)
    );
}
