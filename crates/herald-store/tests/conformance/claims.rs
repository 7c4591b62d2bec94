//! Leasing due deliveries: order, limits, expiry, release, and concurrent claimers.

use crate::fixtures::*;
use chrono::Duration;
use herald_store::SharedStore;
use herald_store::model::*;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

pub async fn claim_respects_due_time_limit_and_order(store: SharedStore) {
    // Seeded in id order; `tie` is due with `one` but has the larger id.
    let ids = seed_due(&store, &[at(3), at(1), at(2), at(10), at(1)]).await;
    let (three, one, two, ten, tie) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let now = at(5);
    assert!(store.claim_due(&claim(now, 0)).await.unwrap().is_empty());

    let first = store.claim_due(&claim(now, 2)).await.unwrap();
    assert_eq!(
        first.iter().map(|c| c.delivery.id).collect::<Vec<_>>(),
        vec![one, tie]
    );
    for claimed in &first {
        assert_eq!(
            claimed.delivery.lease_until,
            Some(now + Duration::seconds(30))
        );
        assert_eq!(claimed.delivery.status, DeliveryStatus::Pending);
        assert!(!claimed.lease_token.is_nil());
        let stored = delivery_of(&store, claimed.delivery.id).await;
        assert_eq!(stored, claimed.delivery);
    }
    // One token per claim; the lease is fenced by (id, token).
    assert_eq!(first[0].lease_token, first[1].lease_token);
    let done = record(&first[0], NextStep::Succeeded, now);
    assert!(store.complete_attempt(&done).await.unwrap());
    assert_eq!(delivery_of(&store, tie).await, first[1].delivery);
    let second = record(&first[1], NextStep::Succeeded, now);
    assert!(store.complete_attempt(&second).await.unwrap());

    assert_eq!(claim_ids(&store, now, 10).await, vec![two, three]);
    assert!(claim_ids(&store, now, 10).await.is_empty());
    // Due now, while the others are still leased.
    assert_eq!(claim_ids(&store, at(10), 10).await, vec![ten]);
}

pub async fn expired_lease_is_claimed_again(store: SharedStore) {
    let id = seed_due(&store, &[at(0)]).await[0];
    let first = store.claim_due(&claim(at(0), 5)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(claim_ids(&store, at(29), 5).await.is_empty());

    // The lease ran until at(30); at that instant it has expired.
    let mut request = claim(at(30), 5);
    request.owner = "worker-2".to_string();
    let second = store.claim_due(&request).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].delivery.id, id);
    assert_eq!(second[0].delivery.lease_until, Some(at(60)));
    assert_ne!(second[0].lease_token, first[0].lease_token);

    let stale = record(&first[0], NextStep::Succeeded, at(31));
    assert!(!store.complete_attempt(&stale).await.unwrap());
    let current = record(&second[0], NextStep::Succeeded, at(31));
    assert!(store.complete_attempt(&current).await.unwrap());
}

pub async fn stale_token_changes_nothing(store: SharedStore) {
    seed_due(&store, &[at(0)]).await;
    let claimed = store.claim_due(&claim(at(1), 1)).await.unwrap().remove(0);
    let before = delivery_of(&store, claimed.delivery.id).await;

    let mut forged = record(&claimed, NextStep::Dead, at(2));
    forged.lease_token = Uuid::now_v7();
    assert!(!store.complete_attempt(&forged).await.unwrap());
    assert_eq!(delivery_of(&store, claimed.delivery.id).await, before);
    assert!(
        store
            .list_attempts(claimed.delivery.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Once completed, the same token no longer holds the delivery.
    let retry = NextStep::Retry {
        at: at(100),
        counts_against_schedule: true,
    };
    assert!(
        store
            .complete_attempt(&record(&claimed, retry, at(3)))
            .await
            .unwrap()
    );
    let after = delivery_of(&store, claimed.delivery.id).await;
    assert!(
        !store
            .complete_attempt(&record(&claimed, NextStep::Dead, at(4)))
            .await
            .unwrap()
    );
    assert_eq!(delivery_of(&store, claimed.delivery.id).await, after);
    assert_eq!(
        store
            .list_attempts(claimed.delivery.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn release_leases_makes_rows_claimable(store: SharedStore) {
    seed_due(&store, &[at(0), at(1), at(2)]).await;
    let mut claimed = Vec::new();
    for _ in 0..3 {
        claimed.extend(store.claim_due(&claim(at(5), 1)).await.unwrap());
    }
    assert_eq!(claimed.len(), 3);
    assert_eq!(store.release_leases(&[]).await.unwrap(), 0);

    let tokens = [
        claimed[0].lease_token,
        claimed[2].lease_token,
        Uuid::now_v7(),
    ];
    assert_eq!(store.release_leases(&tokens).await.unwrap(), 2);
    let released = delivery_of(&store, claimed[0].delivery.id).await;
    assert_eq!(released.lease_until, None);
    assert_eq!(released.attempts, 0);
    assert!(
        delivery_of(&store, claimed[1].delivery.id)
            .await
            .lease_until
            .is_some()
    );

    let again = claim_ids(&store, at(5), 10).await;
    assert_eq!(again, vec![claimed[0].delivery.id, claimed[2].delivery.id]);
    // Released tokens are dead.
    let old = record(&claimed[0], NextStep::Succeeded, at(6));
    assert!(!store.complete_attempt(&old).await.unwrap());
}

/// Leases are counted until an attempt is recorded. A claim that ended without an attempt recorded (its process
/// died or stopped) or an attempt that got no answer leaves the outcome unknown, so an
/// action that must not repeat a step looks before sending it again.
pub async fn claims_are_counted_and_an_unrecorded_one_leaves_the_outcome_unknown(
    store: SharedStore,
) {
    seed_due(&store, &[at(0)]).await;
    let first = store.claim_due(&claim(at(1), 1)).await.unwrap().remove(0);
    assert_eq!(first.delivery.claims, 1);
    assert!(!first.delivery.outcome_unknown());
    store.release_leases(&[first.lease_token]).await.unwrap();
    let second = store.claim_due(&claim(at(2), 1)).await.unwrap().remove(0);
    assert_eq!(second.delivery.claims, 2);
    assert!(second.delivery.outcome_unknown(), "{:?}", second.delivery);

    // An answered attempt settles it; one with no answer (a timeout) does not.
    let answered = record(&second, retry_at(at(3)), at(2));
    assert!(store.complete_attempt(&answered).await.unwrap());
    let third = store.claim_due(&claim(at(3), 1)).await.unwrap().remove(0);
    assert_eq!((third.delivery.claims, third.delivery.attempts), (1, 1));
    assert!(!third.delivery.outcome_unknown(), "{:?}", third.delivery);
    let mut timed_out = record(&third, retry_at(at(4)), at(3));
    timed_out.status_code = None;
    assert!(store.complete_attempt(&timed_out).await.unwrap());
    let fourth = store
        .claim_ids(&[third.delivery.id], &claim(at(4), 1))
        .await
        .unwrap();
    assert_eq!(fourth[0].delivery.claims, 1);
    assert!(
        fourth[0].delivery.outcome_unknown(),
        "{:?}",
        fourth[0].delivery
    );
}

/// A claim may leave an action's deliveries for later (its claimer runs its share of them
/// already); the other actions' deliveries are claimed past them.
pub async fn claims_skip_the_actions_asked_to(store: SharedStore) {
    let slow = seed_due(&store, &[at(0), at(1)]).await;
    let mut event = event("github", None);
    event.received_at = at(2);
    let fast = delivery(&event, "notify", "fast");
    append(&store, item(event, vec![fast.clone()])).await;
    let mut request = claim(at(5), 10);
    request.skip_actions = vec!["slack".to_string()];
    let claimed = store.claim_due(&request).await.unwrap();
    let ids: Vec<Uuid> = claimed.iter().map(|c| c.delivery.id).collect();
    assert_eq!(ids, vec![fast.id]);
    assert_eq!(claim_ids(&store, at(5), 10).await, slow);
}

/// A process that stops beating (killed) has its leases released by the next live one's
/// beat, long before the leases would expire; a live process keeps its leases.
pub async fn a_dead_process_leases_are_released_by_a_live_ones_heartbeat(store: SharedStore) {
    seed_due(&store, &[at(0), at(1)]).await;
    let stale = |now: Timestamp| now - Duration::seconds(10);
    assert_eq!(
        store
            .heartbeat("worker-1", at(2), stale(at(2)))
            .await
            .unwrap(),
        0
    );
    let dead = store.claim_due(&claim(at(2), 1)).await.unwrap();
    assert_eq!(dead.len(), 1);
    let mut alive = claim(at(3), 1);
    alive.owner = "worker-2".to_string();
    let kept = store.claim_due(&alive).await.unwrap();
    assert_eq!(kept.len(), 1);
    // worker-2 beats on; worker-1 beat last at 2 s.
    assert_eq!(
        store
            .heartbeat("worker-2", at(5), stale(at(5)))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .heartbeat("worker-2", at(13), stale(at(13)))
            .await
            .unwrap(),
        1
    );
    let released = delivery_of(&store, dead[0].delivery.id).await;
    assert_eq!(released.lease_until, None);
    assert!(
        delivery_of(&store, kept[0].delivery.id)
            .await
            .lease_until
            .is_some()
    );
    // Claimable at once, well within the 30 s lease; the dead holder's token is void.
    assert_eq!(
        claim_ids(&store, at(13), 10).await,
        vec![dead[0].delivery.id]
    );
    let late = record(&dead[0], NextStep::Succeeded, at(14));
    assert!(!store.complete_attempt(&late).await.unwrap());
    // The dead process is forgotten: nothing more to release.
    assert_eq!(
        store
            .heartbeat("worker-2", at(15), stale(at(15)))
            .await
            .unwrap(),
        0
    );
}

pub async fn release_leases_frees_every_row_of_a_claim(store: SharedStore) {
    seed_due(&store, &[at(0), at(1), at(2)]).await;
    let claimed = store.claim_due(&claim(at(5), 10)).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let done = record(&claimed[1], NextStep::Succeeded, at(6));
    assert!(store.complete_attempt(&done).await.unwrap());
    // The token the three share now holds only the two not completed.
    let released = store
        .release_leases(&[claimed[0].lease_token])
        .await
        .unwrap();
    assert_eq!(released, 2);
    let again = claim_ids(&store, at(6), 10).await;
    assert_eq!(again, vec![claimed[0].delivery.id, claimed[2].delivery.id]);
}

pub async fn concurrent_claims_never_overlap(store: SharedStore) {
    let times: Vec<_> = (0..400).map(|i| at_ms(i * 10)).collect();
    let seeded: HashSet<Uuid> = seed_due(&store, &times).await.into_iter().collect();
    let claimers = (0..8).map(|worker| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let mut request = claim(at(60), 7);
                request.owner = format!("worker-{worker}");
                let batch = store.claim_due(&request).await.expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                assert!(batch.len() <= 7);
                mine.extend(batch.into_iter().map(|claimed| claimed.delivery.id));
            }
        })
    });
    let mut all = Vec::new();
    for claimer in claimers.collect::<Vec<_>>() {
        all.extend(claimer.await.unwrap());
    }
    assert_eq!(all.len(), 400, "a delivery was claimed twice or not at all");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), seeded);
}

pub async fn claim_ids_leases_only_the_named_pending_ones(store: SharedStore) {
    // `behind` waits behind `head` on key k; `later` is not due for a while.
    let specs = [
        (None, at(0), at(0)),
        (None, at(0), at(0)),
        (None, at(0), at(0)),
        (None, at(0), at(100)),
        (Some("k"), at(0), at(0)),
        (Some("k"), at(1), at(1)),
        (None, at(0), at(0)),
        (None, at(0), at(0)),
    ];
    let ids = seed_keyed(&store, &specs).await;
    let [held, done, dead, later, head, behind, unnamed, expired] = ids[..] else {
        unreachable!()
    };
    assert!(
        store
            .claim_ids(&[], &claim(at(1), 5))
            .await
            .unwrap()
            .is_empty()
    );
    let steps = HashMap::from([(done, NextStep::Succeeded), (dead, NextStep::Dead)]);
    complete_due(&store, at(2), &steps).await;
    // A lease that has run out by at(50), and one a worker holds until at(70).
    let stale = store.claim_ids(&[expired], &claim(at(3), 1)).await.unwrap();
    assert_eq!(stale.len(), 1);
    let live = store.claim_due(&claim(at(40), 1)).await.unwrap();
    assert_eq!(live[0].delivery.id, held);

    // The ids bound the claim, not the limit.
    let mut request = claim(at(50), 0);
    request.owner = "herald-test".to_string();
    let named = [
        held,
        done,
        dead,
        later,
        behind,
        expired,
        Uuid::now_v7(),
        later,
    ];
    let claimed = store.claim_ids(&named, &request).await.unwrap();
    let found: Vec<Uuid> = claimed.iter().map(|c| c.delivery.id).collect();
    // Oldest due first, due or not, ordering key or not.
    assert_eq!(found, vec![expired, behind, later]);
    let token = claimed[0].lease_token;
    for claim in &claimed {
        assert_eq!(claim.lease_token, token);
        assert_eq!(claim.delivery.lease_until, Some(at(80)));
        assert_eq!(delivery_of(&store, claim.delivery.id).await, claim.delivery);
    }
    assert!(![stale[0].lease_token, live[0].lease_token].contains(&token));
    assert!(store.claim_ids(&named, &request).await.unwrap().is_empty());

    // The stale lease is fenced off; the live one still holds.
    let late = record(&stale[0], NextStep::Succeeded, at(51));
    assert!(!store.complete_attempt(&late).await.unwrap());
    let held_done = record(&live[0], NextStep::Succeeded, at(51));
    assert!(store.complete_attempt(&held_done).await.unwrap());
    // The lease on `behind` blocks its key as any lease does.
    assert_eq!(claim_ids(&store, at(52), 10).await, vec![unnamed]);
    let behind_done = record(&claimed[1], NextStep::Succeeded, at(53));
    assert!(store.complete_attempt(&behind_done).await.unwrap());
    assert_eq!(claim_ids(&store, at(54), 10).await, vec![head]);
}

pub async fn claim_ids_and_claims_never_overlap(store: SharedStore) {
    let times: Vec<_> = (0..200).map(|i| at_ms(i * 10)).collect();
    let ids = seed_due(&store, &times).await;
    let seeded: HashSet<Uuid> = ids.iter().copied().collect();
    let chunks: Vec<Vec<Uuid>> = ids.chunks(10).map(<[Uuid]>::to_vec).collect();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_due(&claim(at(60), 5)).await.expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|claimed| claimed.delivery.id));
            }
        }));
    }
    for runner in 0..4 {
        let (store, mut chunks) = (store.clone(), chunks.clone());
        // Each runner walks the chunks from its own starting point, so they collide.
        chunks.rotate_left(runner * 5);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for chunk in chunks {
                let batch = store.claim_ids(&chunk, &claim(at(60), 0)).await;
                mine.extend(batch.expect("claim ids").into_iter().map(|c| c.delivery.id));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert_eq!(all.len(), 200, "a delivery was leased twice or not at all");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), seeded);
}

/// A delivery appended with a lease is stored as `born_claimed` says (leased, counted as
/// claimed once) and no claim takes it while the lease lasts; its token completes it, and
/// once the lease lapses it is claimed as usual, its outcome then unknown.
pub async fn a_delivery_born_leased_is_held_until_its_lease_lapses(store: SharedStore) {
    let event = event("github", None);
    let lease = NewLease {
        token: Uuid::now_v7(),
        until: at(30),
        owner: "worker-1".to_string(),
    };
    let born = |action: &str| NewDelivery {
        lease: Some(lease.clone()),
        ..delivery(&event, "notify", action)
    };
    let (done, lapsed) = (born("slack"), born("http"));
    let plain = delivery(&event, "notify", "log");
    let deliveries = vec![done.clone(), lapsed.clone(), plain.clone()];
    store
        .append_events(&[item(event.clone(), deliveries)])
        .await
        .unwrap();

    let done = done.born_claimed().expect("leased");
    assert_eq!(delivery_of(&store, done.delivery.id).await, done.delivery);
    assert_eq!(done.lease_token, lease.token);
    assert!(plain.born_claimed().is_none());
    let unleased = delivery_of(&store, plain.id).await;
    assert_eq!((unleased.lease_until, unleased.claims), (None, 0));

    assert_eq!(claim_ids(&store, at(5), 10).await, vec![plain.id]);
    let record = record(&done, NextStep::Succeeded, at(6));
    assert!(store.complete_attempt(&record).await.unwrap());
    let again = store.claim_due(&claim(at(31), 10)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.id, lapsed.id);
    assert_eq!(again[0].delivery.claims, 2);
    assert!(again[0].delivery.outcome_unknown());
}
