//! Ordering keys: deliveries of one key run one at a time, in (created_at, id) order.

use crate::fixtures::*;
use herald_store::SharedStore;
use herald_store::model::*;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

pub async fn ordering_key_runs_one_at_a_time_in_creation_order(store: SharedStore) {
    // Due in the reverse of creation order within "k", so due order gives no hint.
    let ids = seed_keyed(
        &store,
        &[
            (Some("k"), at(1), at(3)),
            (Some("k"), at(2), at(2)),
            (Some("k"), at(3), at(1)),
            (None, at(4), at(1)),
            (None, at(5), at(2)),
            (Some("other"), at(6), at(1)),
        ],
    )
    .await;
    let (first, second, third) = (ids[0], ids[1], ids[2]);
    let (free, free_too, other) = (ids[3], ids[4], ids[5]);

    // Of "k" only its head; deliveries without a key and other keys are unaffected.
    let claimed = store.claim_due(&claim(at(10), 10)).await.unwrap();
    let got: Vec<Uuid> = claimed.iter().map(|c| c.delivery.id).collect();
    assert_eq!(got, vec![free, other, free_too, first]);
    assert_eq!(claimed[3].delivery.ordering_key.as_deref(), Some("k"));
    // The head holds its key while leased.
    assert!(claim_ids(&store, at(10), 10).await.is_empty());
    assert_eq!(store.next_due_at(at(10)).await.unwrap(), Some(at(40)));

    for claim in &claimed {
        let next = if claim.delivery.id == first {
            retry_at(at(100))
        } else {
            NextStep::Succeeded
        };
        let done = store.complete_attempt(&record(claim, next, at(11))).await;
        assert!(done.unwrap());
    }
    // The head waits for its retry time and the others wait behind it: in-order delivery.
    assert!(claim_ids(&store, at(50), 10).await.is_empty());
    assert_eq!(store.next_due_at(at(50)).await.unwrap(), Some(at(100)));

    assert_eq!(
        claim_and_complete(&store, at(100), NextStep::Succeeded).await,
        first
    );
    // A dead predecessor does not block the rest.
    assert_eq!(
        claim_and_complete(&store, at(101), NextStep::Dead).await,
        second
    );
    assert_eq!(
        claim_and_complete(&store, at(102), NextStep::Succeeded).await,
        third
    );
    assert!(claim_ids(&store, at(103), 10).await.is_empty());
    assert_eq!(store.next_due_at(at(103)).await.unwrap(), None);
}

pub async fn same_created_at_orders_by_id(store: SharedStore) {
    let ids = seed_keyed(
        &store,
        &[(Some("k"), at(1), at(2)), (Some("k"), at(1), at(1))],
    )
    .await;
    assert_eq!(
        claim_and_complete(&store, at(5), NextStep::Succeeded).await,
        ids[0]
    );
    assert_eq!(
        claim_and_complete(&store, at(5), NextStep::Succeeded).await,
        ids[1]
    );
}

pub async fn live_lease_of_a_later_delivery_blocks_the_head(store: SharedStore) {
    let ids = seed_keyed(
        &store,
        &[(Some("k"), at(1), at(1)), (Some("k"), at(2), at(1))],
    )
    .await;
    let (older, newer) = (ids[0], ids[1]);
    assert_eq!(
        claim_and_complete(&store, at(5), NextStep::Dead).await,
        older
    );
    let held = store.claim_due(&claim(at(6), 10)).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].delivery.id, newer);

    // Replayed, the older delivery is the head again, but the newer one is being sent.
    let replay = ReplaySelector::Ids(vec![older]);
    assert_eq!(store.replay(&replay, at(7)).await.unwrap(), vec![older]);
    assert!(claim_ids(&store, at(8), 10).await.is_empty());
    // Both are left out; the lease's end is when something may be claimed.
    assert_eq!(store.next_due_at(at(8)).await.unwrap(), Some(at(36)));
    // Once that lease has expired, the head goes, and the newer one waits behind it.
    assert_eq!(claim_ids(&store, at(36), 10).await, vec![older]);
    assert!(claim_ids(&store, at(37), 10).await.is_empty());
}

pub async fn completion_frees_the_next_of_the_key(store: SharedStore) {
    let ids = seed_keyed(
        &store,
        &[(Some("k"), at(1), at(1)), (Some("k"), at(2), at(1))],
    )
    .await;
    let held = store.claim_due(&claim(at(5), 10)).await.unwrap();
    assert_eq!(held.len(), 1);
    let done = store
        .complete_attempt(&record(&held[0], NextStep::Succeeded, at(6)))
        .await;
    assert!(done.unwrap());
    assert_eq!(store.next_due_at(at(6)).await.unwrap(), Some(at(1)));
    assert_eq!(claim_ids(&store, at(6), 10).await, vec![ids[1]]);
}

pub async fn expired_lease_of_the_head_is_claimed_again(store: SharedStore) {
    let ids = seed_keyed(
        &store,
        &[(Some("k"), at(1), at(1)), (Some("k"), at(2), at(1))],
    )
    .await;
    let first = store.claim_due(&claim(at(1), 10)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(claim_ids(&store, at(30), 10).await.is_empty());
    // Its own expired lease does not block the head.
    let again = store.claim_due(&claim(at(31), 10)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.id, ids[0]);
    assert_ne!(again[0].lease_token, first[0].lease_token);
}

pub async fn one_batch_leases_one_delivery_per_key(store: SharedStore) {
    let ids = seed_keyed(
        &store,
        &[
            (Some("k"), at(1), at(1)),
            (Some("k"), at(2), at(1)),
            (None, at(3), at(1)),
        ],
    )
    .await;
    let claims = [claim(at(5), 1), claim(at(5), 10)];
    let batch = WriteBatch {
        claims: &claims,
        ..WriteBatch::default()
    };
    let results = store.write(&batch).await.unwrap();
    let claimed: Vec<Vec<Uuid>> = results
        .claimed
        .iter()
        .map(|claims| claims.iter().map(|c| c.delivery.id).collect())
        .collect();
    // The second claim sees the first one's lease on "k".
    assert_eq!(claimed, vec![vec![ids[0]], vec![ids[2]]]);

    // A completion runs before the claims of its batch, so they see the key free.
    let done = [record(&results.claimed[0][0], NextStep::Succeeded, at(6))];
    let claims = [claim(at(6), 10)];
    let batch = WriteBatch {
        completions: &done,
        claims: &claims,
        ..WriteBatch::default()
    };
    let results = store.write(&batch).await.unwrap();
    assert_eq!(results.completed, vec![true]);
    assert_eq!(results.claimed[0].len(), 1);
    assert_eq!(results.claimed[0][0].delivery.id, ids[1]);
}

/// Which keys are leased right now, as the claimers saw them, and in what order each key's
/// deliveries were claimed.
#[derive(Default)]
struct Observed {
    held: HashSet<String>,
    order: HashMap<String, Vec<Uuid>>,
}

pub async fn concurrent_claims_keep_each_key_in_order(store: SharedStore) {
    // Four keys and some unkeyed deliveries, interleaved, created 10 ms apart and due in
    // the reverse of that order.
    let keys = ["k0", "k1", "k2", "k3"];
    let specs: Vec<_> = (0..160)
        .map(|i: i64| {
            let key = (i % 5 != 4).then(|| keys[(i % 4) as usize]);
            (key, at_ms(i * 10), at_ms(10_000 - i * 10))
        })
        .collect();
    let ids = seed_keyed(&store, &specs).await;
    let total = ids.len();
    let observed = Arc::new(Mutex::new(Observed::default()));
    let completed = Arc::new(AtomicUsize::new(0));
    let mut claimers = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (store, observed, completed) = (store.clone(), observed.clone(), completed.clone());
        claimers.spawn(async move {
            let mut mine = Vec::new();
            while completed.load(Ordering::SeqCst) < total {
                let mut request = claim(at(60), 3);
                request.owner = format!("worker-{worker}");
                let batch = store.claim_due(&request).await.expect("claim");
                if batch.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    continue;
                }
                for claimed in &batch {
                    let Some(key) = claimed.delivery.ordering_key.clone() else {
                        continue;
                    };
                    let mut observed = observed.lock().unwrap();
                    assert!(
                        observed.held.insert(key.clone()),
                        "two deliveries of {key} leased at once"
                    );
                    observed
                        .order
                        .entry(key)
                        .or_default()
                        .push(claimed.delivery.id);
                }
                // Hold the leases a moment, so an overlapping claim would be seen.
                tokio::task::yield_now().await;
                for claimed in batch {
                    // Let go of the key before the completion commits: once it has, the
                    // next delivery of the key may be claimed.
                    if let Some(key) = &claimed.delivery.ordering_key {
                        observed.lock().unwrap().held.remove(key);
                    }
                    let done = record(&claimed, NextStep::Succeeded, at(60));
                    assert!(store.complete_attempt(&done).await.expect("complete"));
                    completed.fetch_add(1, Ordering::SeqCst);
                    mine.push(claimed.delivery.id);
                }
            }
            mine
        });
    }
    let mut all = Vec::new();
    // In completion order, so one failed claimer fails the test (dropping the set stops the
    // others) instead of leaving them waiting for work that never completes.
    while let Some(claimer) = claimers.join_next().await {
        all.extend(claimer.unwrap());
    }
    assert_eq!(
        all.len(),
        total,
        "a delivery was claimed twice or not at all"
    );
    assert_eq!(
        all.into_iter().collect::<HashSet<_>>(),
        ids.iter().copied().collect::<HashSet<_>>()
    );
    let observed = observed.lock().unwrap();
    for key in keys {
        let created: Vec<Uuid> = specs
            .iter()
            .zip(&ids)
            .filter(|((k, _, _), _)| *k == Some(key))
            .map(|(_, &id)| id)
            .collect();
        assert_eq!(observed.order[key], created, "{key} ran out of order");
    }
}
