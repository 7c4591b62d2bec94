//! `Store::write`: appends, completions and claims sharing one transaction, and batches big
//! enough to be split under the backends' bound-parameter limits.

use crate::fixtures::*;
use herald_store::SharedStore;
use herald_store::model::*;
use std::collections::HashSet;
use uuid::Uuid;

fn retry_at(seconds: i64) -> NextStep {
    NextStep::Retry {
        at: at(seconds),
        counts_against_schedule: true,
    }
}

/// Three deliveries due at 0, each leased by its own claim at 1.
async fn three_leases(store: &SharedStore) -> [ClaimedDelivery; 3] {
    seed_due(store, &[at(0), at(0), at(0)]).await;
    let mut leased = Vec::new();
    for _ in 0..3 {
        leased.extend(store.claim_due(&claim(at(1), 1)).await.unwrap());
    }
    leased.try_into().expect("three leases")
}

/// A retry of the first lease, a completion of the second under a token it never had, a
/// success of the third, all at 2.
fn three_completions([retried, stale, done]: [&ClaimedDelivery; 3]) -> Vec<AttemptRecord> {
    let mut forged = record(stale, NextStep::Dead, at(2));
    forged.lease_token = Uuid::now_v7();
    vec![
        record(retried, retry_at(5), at(2)),
        forged,
        record(done, NextStep::Succeeded, at(2)),
    ]
}

/// After `three_completions` were written: the first and third leases have an attempt
/// each, the third succeeded, and the second, whose token was forged, is as it was.
async fn assert_three_completed(
    store: &SharedStore,
    [retried, stale, done]: [&ClaimedDelivery; 3],
    stale_before: &Delivery,
) {
    let after = delivery_of(store, done.delivery.id).await;
    assert_eq!(
        (after.status, after.attempts),
        (DeliveryStatus::Succeeded, 1)
    );
    assert_eq!(&delivery_of(store, stale.delivery.id).await, stale_before);
    for (leased, attempts) in [(retried, 1), (stale, 0), (done, 1)] {
        let recorded = store.list_attempts(leased.delivery.id).await.unwrap();
        assert_eq!(recorded.len(), attempts);
    }
}

/// `fresh` stored, then a repeat of its key and one of `stored`'s.
fn fresh_then_two_duplicates(fresh: &NewEvent, stored: &NewEvent) -> Vec<AppendOutcome> {
    let duplicate = |event_id| AppendOutcome::Duplicate { event_id };
    vec![
        AppendOutcome::Stored { event_id: fresh.id },
        duplicate(fresh.id),
        duplicate(stored.id),
    ]
}

pub async fn write_mixes_jobs_in_one_transaction(store: SharedStore) {
    let stored = event("github", Some("seen"));
    append(&store, item(stored.clone(), vec![])).await;
    let [retried, stale, done] = three_leases(&store).await;
    let stale_before = delivery_of(&store, stale.delivery.id).await;
    let fresh = event("github", Some("fresh"));
    let fresh_deliveries = vec![delivery(&fresh, "r", "a"), delivery(&fresh, "r", "b")];
    let repeat = event("github", Some("fresh"));
    let appends = [
        item(fresh.clone(), fresh_deliveries.clone()),
        item(repeat.clone(), vec![delivery(&repeat, "r", "a")]),
        item(event("github", Some("seen")), vec![]),
    ];
    let mut completions = three_completions([&retried, &stale, &done]);
    // The same lease again: the first completion released it.
    completions.push(record(&done, NextStep::Dead, at(2)));
    let claims = [claim(at(5), 10), claim(at(5), 10)];
    let batch = WriteBatch {
        appends: &appends,
        completions: &completions,
        claims: &claims,
    };
    let results = store.write(&batch).await.unwrap();

    assert_eq!(results.appended, fresh_then_two_duplicates(&fresh, &stored));
    assert_eq!(store.get_event(repeat.id).await.unwrap(), None);
    assert_eq!(results.completed, vec![true, false, true, false]);
    // The first claim sees the retry just scheduled and the deliveries just appended.
    let first: HashSet<Uuid> = results.claimed[0].iter().map(|c| c.delivery.id).collect();
    let expected = [
        retried.delivery.id,
        fresh_deliveries[0].id,
        fresh_deliveries[1].id,
    ];
    assert_eq!(first, HashSet::from(expected));
    assert!(results.claimed[1].is_empty());
    let tokens: HashSet<Uuid> = results.claimed[0].iter().map(|c| c.lease_token).collect();
    assert_eq!(tokens.len(), 1, "one token per claim");

    let after = delivery_of(&store, retried.delivery.id).await;
    assert_eq!((after.attempts, after.retries_used), (1, 1));
    assert_eq!(after.lease_until, Some(at(35)));
    assert_three_completed(&store, [&retried, &stale, &done], &stale_before).await;
}

/// Appends and completions without claims, the batch a busy writer makes most: duplicates
/// found, a stale token refused, the deliveries of a duplicate and nothing else left out
/// (an unlinked delivery is stored), a completed lease released.
pub async fn write_appends_and_completions_alone(store: SharedStore) {
    let stored = event("github", Some("seen"));
    append(&store, item(stored.clone(), vec![])).await;
    let [retried, stale, done] = three_leases(&store).await;
    let stale_before = delivery_of(&store, stale.delivery.id).await;
    let fresh = event("github", Some("fresh"));
    let mut unlinked = delivery(&fresh, "r", "b");
    unlinked.event_id = None;
    let fresh_deliveries = vec![delivery(&fresh, "r", "a"), unlinked];
    let repeat = event("github", Some("fresh"));
    let repeat_delivery = delivery(&repeat, "r", "a");
    let appends = [
        item(fresh.clone(), fresh_deliveries.clone()),
        item(repeat.clone(), vec![repeat_delivery.clone()]),
        item(event("github", Some("seen")), vec![]),
    ];
    let completions = three_completions([&retried, &stale, &done]);
    let batch = WriteBatch {
        appends: &appends,
        completions: &completions,
        ..WriteBatch::default()
    };
    let results = store.write(&batch).await.unwrap();

    assert_eq!(results.appended, fresh_then_two_duplicates(&fresh, &stored));
    assert_eq!(results.completed, vec![true, false, true]);
    assert!(results.claimed.is_empty());
    for new in &fresh_deliveries {
        assert_eq!(delivery_of(&store, new.id).await.event_id, new.event_id);
    }
    assert_eq!(store.get_delivery(repeat_delivery.id).await.unwrap(), None);
    let after = delivery_of(&store, retried.delivery.id).await;
    assert_eq!((after.attempts, after.retries_used), (1, 1));
    assert_eq!(after.lease_until, None);
    assert_three_completed(&store, [&retried, &stale, &done], &stale_before).await;
}

pub async fn write_empty_batch_does_nothing(store: SharedStore) {
    let results = store.write(&WriteBatch::default()).await.unwrap();
    assert_eq!(results, WriteResults::default());
    let nothing = WriteBatch {
        claims: &[claim(at(0), 0)],
        ..WriteBatch::default()
    };
    assert_eq!(store.write(&nothing).await.unwrap().claimed, vec![vec![]]);
}

/// Enough rows that SQLite must split every multi-row statement.
const LARGE: usize = 5_000;

fn large_batch() -> Vec<EventWithDeliveries> {
    let mut items: Vec<_> = (0..LARGE)
        .map(|i| {
            let new = event("github", Some(&format!("k{i}")));
            let deliveries = vec![delivery(&new, "r", "a"), delivery(&new, "r", "b")];
            item(new, deliveries)
        })
        .collect();
    // Repeats of keys stored in other chunks of the same batch.
    for key in ["k0", &format!("k{}", LARGE - 1)] {
        let new = event("github", Some(key));
        let deliveries = vec![delivery(&new, "r", "a")];
        items.push(item(new, deliveries));
    }
    items
}

pub async fn write_large_batches(store: SharedStore) {
    let items = large_batch();
    let outcomes = store.append_events(&items).await.unwrap();
    for (item, outcome) in items.iter().zip(&outcomes).take(LARGE) {
        let stored = AppendOutcome::Stored {
            event_id: item.event.id,
        };
        assert_eq!(*outcome, stored);
    }
    let repeats = [items[0].event.id, items[LARGE - 1].event.id];
    let repeated: Vec<_> = outcomes[LARGE..].iter().map(|o| o.event_id()).collect();
    assert_eq!(repeated, repeats);
    assert!(is_duplicate(&outcomes[LARGE..]));
    let depth = store.queue_depth(at(0)).await.unwrap();
    assert_eq!(depth.pending, 2 * LARGE as i64);

    complete_all(&store, 2 * LARGE).await;

    // The whole batch again: every event is a duplicate of the first with its key.
    let again = store.append_events(&large_batch()).await.unwrap();
    let originals: Vec<Uuid> = outcomes.iter().map(|o| o.event_id()).collect();
    assert_eq!(
        again.iter().map(|o| o.event_id()).collect::<Vec<_>>(),
        originals
    );
    assert!(is_duplicate(&again));
}

fn is_duplicate(outcomes: &[AppendOutcome]) -> bool {
    outcomes
        .iter()
        .all(|o| matches!(o, AppendOutcome::Duplicate { .. }))
}

/// Claim `count` deliveries with one claim and complete them all with one write.
async fn complete_all(store: &SharedStore, count: usize) {
    let claimed = store.claim_due(&claim(at(1), count as u32)).await.unwrap();
    assert_eq!(claimed.len(), count);
    let records: Vec<_> = claimed
        .iter()
        .map(|c| record(c, NextStep::Succeeded, at(2)))
        .collect();
    let batch = WriteBatch {
        completions: &records,
        ..WriteBatch::default()
    };
    let completed = store.write(&batch).await.unwrap().completed;
    assert_eq!(completed, vec![true; count]);
    assert_eq!(store.queue_depth(at(3)).await.unwrap().pending, 0);
    for claimed in [&claimed[0], &claimed[count / 2], &claimed[count - 1]] {
        let attempts = store.list_attempts(claimed.delivery.id).await.unwrap();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].outcome, AttemptOutcome::Success);
    }
}
