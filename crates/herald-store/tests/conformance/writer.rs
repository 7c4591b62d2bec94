//! The writer over each backend: batching, isolation of a failing job, shutdown.

use crate::events::fresh_delivery;
use crate::fixtures::*;
use crate::gate::{GatedStore, until};
use herald_store::model::*;
use herald_store::{BatchWritten, SharedStore, StoreError, Writer, WriterStats};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

type Append = JoinHandle<herald_store::Result<AppendOutcome>>;

fn spawn_append(writer: &Writer, item: EventWithDeliveries) -> Append {
    let writer = writer.clone();
    tokio::spawn(async move { writer.append(item).await })
}

fn spawn_complete(
    writer: &Writer,
    record: AttemptRecord,
) -> JoinHandle<herald_store::Result<bool>> {
    let writer = writer.clone();
    tokio::spawn(async move { writer.complete(record).await })
}

fn spawn_claim(
    writer: &Writer,
    request: ClaimRequest,
) -> JoinHandle<herald_store::Result<Vec<ClaimedDelivery>>> {
    let writer = writer.clone();
    tokio::spawn(async move { writer.claim(request).await })
}

/// A writer over a gated store, already holding one warm-up append at the gate, so the
/// next jobs queue up behind it.
async fn held_writer(
    store: SharedStore,
    max_batch: usize,
) -> (Arc<GatedStore>, Writer, JoinHandle<()>, Append) {
    let gated = Arc::new(GatedStore::new(store));
    let (writer, task) = Writer::spawn(gated.clone(), max_batch);
    let warmup = spawn_append(&writer, item(event("warmup", None), vec![]));
    until(|| gated.entered() == 1).await;
    (gated, writer, task, warmup)
}

fn keyed(key: &str) -> EventWithDeliveries {
    let new = event("github", Some(key));
    let delivery = delivery(&new, "r", "slack");
    item(new, vec![delivery])
}

pub async fn writer_batches_concurrent_appends(store: SharedStore) {
    let (gated, writer, task, warmup) = held_writer(store.clone(), 64).await;
    // 150 distinct keys; the last 50 items repeat the first 50 keys.
    let items: Vec<_> = (0..200).map(|i| keyed(&format!("k{}", i % 150))).collect();
    let appends: Vec<_> = items
        .iter()
        .map(|item| spawn_append(&writer, item.clone()))
        .collect();
    until(|| writer.queue_len() == 200).await;
    gated.open();
    assert!(matches!(
        warmup.await.unwrap(),
        Ok(AppendOutcome::Stored { .. })
    ));
    let mut outcomes = Vec::new();
    for append in appends {
        outcomes.push(append.await.unwrap().expect("append"));
    }
    assert_eq!(gated.batch_sizes(), vec![1, 64, 64, 64, 8]);
    let stats = WriterStats {
        batches: 5,
        jobs: 201,
        largest_batch: 64,
    };
    assert_eq!(writer.stats(), stats);

    let mut stored = HashMap::new();
    for (item, outcome) in items.iter().zip(&outcomes) {
        if let AppendOutcome::Stored { event_id } = outcome {
            assert_eq!(*event_id, item.event.id);
            assert!(
                stored
                    .insert(item.event.dedup_key.clone(), *event_id)
                    .is_none()
            );
        }
    }
    assert_eq!(stored.len(), 150);
    for (item, outcome) in items.iter().zip(&outcomes) {
        assert_eq!(outcome.event_id(), stored[&item.event.dedup_key]);
        let delivery = store.get_delivery(item.deliveries[0].id).await.unwrap();
        let is_stored = matches!(outcome, AppendOutcome::Stored { .. });
        assert_eq!(delivery.is_some(), is_stored);
    }
    let query = EventQuery {
        source: Some("github".into()),
        limit: 1000,
        ..Default::default()
    };
    assert_eq!(store.list_events(&query).await.unwrap().len(), 150);
    drop(writer);
    task.await.unwrap();
}

pub async fn writer_tells_the_observer_each_batch(store: SharedStore) {
    let gated = Arc::new(GatedStore::new(store));
    let seen: Arc<Mutex<Vec<BatchWritten>>> = Arc::default();
    let observed = seen.clone();
    let (writer, task) = Writer::spawn_observed(gated.clone(), 64, move |batch| {
        observed.lock().unwrap().push(batch);
    });
    let warmup = spawn_append(&writer, item(event("warmup", None), vec![]));
    until(|| gated.entered() == 1).await;
    let appends: Vec<_> = (0..3)
        .map(|i| spawn_append(&writer, keyed(&format!("observed-{i}"))))
        .collect();
    until(|| writer.queue_len() == 3).await;
    gated.open();
    warmup.await.unwrap().unwrap();
    for append in appends {
        append.await.unwrap().unwrap();
    }
    drop(writer);
    task.await.unwrap();
    let seen = seen.lock().unwrap();
    let jobs: Vec<u64> = seen.iter().map(|batch| batch.jobs).collect();
    assert_eq!(jobs, vec![1, 3]);
    // The first batch waited at the gate until the others were queued.
    assert!(seen[0].elapsed > std::time::Duration::ZERO);
}

pub async fn writer_isolates_a_failing_job(store: SharedStore) {
    let existing = event("github", None);
    append(&store, item(existing.clone(), vec![])).await;
    let due = seed_due(&store, &[at(0), at(1)]).await;
    let held = store.claim_due(&claim(at(2), 1)).await.unwrap().remove(0);
    let (gated, writer, task, warmup) = held_writer(store.clone(), 16).await;
    let good = [keyed("good-1"), keyed("good-2")];
    // Reusing a stored event id breaks the primary key: that insert fails on any backend.
    let mut bad = keyed("bad");
    bad.event.id = existing.id;
    let appends = [
        spawn_append(&writer, good[0].clone()),
        spawn_append(&writer, bad.clone()),
        spawn_append(&writer, good[1].clone()),
    ];
    let completed = spawn_complete(&writer, record(&held, NextStep::Succeeded, at(3)));
    let claimed = spawn_claim(&writer, claim(at(3), 10));
    until(|| writer.queue_len() == 5).await;
    gated.open();
    warmup.await.unwrap().unwrap();
    let [first, failed, second] = appends;
    for (append, item) in [(first, &good[0]), (second, &good[1])] {
        let stored = AppendOutcome::Stored {
            event_id: item.event.id,
        };
        assert_eq!(append.await.unwrap().unwrap(), stored);
    }
    assert!(matches!(
        failed.await.unwrap(),
        Err(StoreError::Database(_))
    ));
    assert!(completed.await.unwrap().unwrap());
    // Written alone after the appends and the completion, the claim sees their rows.
    let mut claimed: Vec<_> = claimed.await.unwrap().unwrap();
    claimed.sort_by_key(|c| c.delivery.id);
    let mut expected = vec![due[1], good[0].deliveries[0].id, good[1].deliveries[0].id];
    expected.sort();
    assert_eq!(
        claimed.iter().map(|c| c.delivery.id).collect::<Vec<_>>(),
        expected
    );
    // The batch of five failed as a whole, then each job was written alone.
    assert_eq!(gated.batch_sizes(), vec![1, 5, 1, 1, 1, 1, 1]);
    assert_eq!(
        delivery_of(&store, due[0]).await.status,
        DeliveryStatus::Succeeded
    );
    assert_eq!(
        store.get_delivery(bad.deliveries[0].id).await.unwrap(),
        None
    );
    drop(writer);
    task.await.unwrap();
}

pub async fn writer_fails_fast_without_a_connection(store: SharedStore) {
    let (gated, writer, task, warmup) = held_writer(store.clone(), 16).await;
    let items: Vec<_> = (0..3).map(|i| keyed(&format!("lost-{i}"))).collect();
    let appends: Vec<_> = items
        .iter()
        .map(|item| spawn_append(&writer, item.clone()))
        .collect();
    let claimed = spawn_claim(&writer, claim(at(0), 5));
    let fake = ClaimedDelivery {
        delivery: fresh_delivery(&items[0].deliveries[0]),
        lease_token: uuid::Uuid::now_v7(),
    };
    let completed = spawn_complete(&writer, record(&fake, NextStep::Succeeded, at(1)));
    until(|| writer.queue_len() == 5).await;
    gated.lose_connection();
    gated.open();
    let lost = |err: StoreError| matches!(err, StoreError::Database(sqlx::Error::PoolTimedOut));
    assert!(lost(warmup.await.unwrap().unwrap_err()));
    for append in appends {
        assert!(lost(append.await.unwrap().unwrap_err()));
    }
    assert!(lost(claimed.await.unwrap().unwrap_err()));
    assert!(lost(completed.await.unwrap().unwrap_err()));
    // No job was retried alone: it could not have helped.
    assert_eq!(gated.batch_sizes(), vec![1, 5]);
    drop(writer);
    task.await.unwrap();
}

pub async fn writer_finishes_queue_after_last_handle_drops(store: SharedStore) {
    let (gated, writer, task, warmup) = held_writer(store.clone(), 4).await;
    let items: Vec<_> = (0..10).map(|i| keyed(&format!("late-{i}"))).collect();
    let appends: Vec<_> = items
        .iter()
        .map(|item| spawn_append(&writer, item.clone()))
        .collect();
    until(|| writer.queue_len() == 10).await;
    // Every caller gives up and every handle goes: the queued items must still be written.
    for append in appends {
        append.abort();
        assert!(append.await.unwrap_err().is_cancelled());
    }
    drop(writer);
    gated.open();
    warmup.await.unwrap().unwrap();
    task.await.unwrap();
    assert_eq!(gated.batch_sizes(), vec![1, 4, 4, 2]);
    for item in &items {
        assert!(store.get_event(item.event.id).await.unwrap().is_some());
    }

    // With the task gone, appends fail fast.
    let (writer, task) = Writer::spawn(store, 8);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let closed = writer.append(keyed("after-close")).await;
    assert!(matches!(closed, Err(StoreError::Closed)));
    let closed = writer.claim(claim(at(0), 1)).await;
    assert!(matches!(closed, Err(StoreError::Closed)));
}

pub async fn writer_completes_before_it_claims(store: SharedStore) {
    let id = seed_due(&store, &[at(0)]).await[0];
    let held = store.claim_due(&claim(at(1), 1)).await.unwrap().remove(0);
    let (gated, writer, task, warmup) = held_writer(store.clone(), 16).await;
    // Queued before the completion, yet run after it in the same transaction.
    let claimed = spawn_claim(&writer, claim(at(5), 10));
    until(|| writer.queue_len() == 1).await;
    let retry = NextStep::Retry {
        at: at(5),
        counts_against_schedule: true,
    };
    let completed = spawn_complete(&writer, record(&held, retry, at(2)));
    until(|| writer.queue_len() == 2).await;
    gated.open();
    warmup.await.unwrap().unwrap();
    assert!(completed.await.unwrap().unwrap());
    let claimed = claimed.await.unwrap().unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].delivery.id, id);
    assert_eq!(claimed[0].delivery.attempts, 1);
    assert_eq!(gated.batch_sizes(), vec![1, 2]);
    drop(writer);
    task.await.unwrap();
}

/// Producers append while workers claim and complete, all through one writer: every
/// delivery is claimed once and completed once.
pub async fn writer_runs_a_job_mix_under_concurrency(store: SharedStore) {
    const PRODUCERS: usize = 4;
    const EVENTS: usize = 100;
    const SHARED: usize = 10;
    let total = (PRODUCERS * EVENTS + SHARED) * 2;
    let (writer, task) = Writer::spawn(store.clone(), 64);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let keys = (0..EVENTS).map(|i| format!("p{p}-{i}"));
                // Every producer also sends the shared keys: one of each is stored.
                let shared = (0..SHARED).map(|i| format!("shared-{i}"));
                let mut stored = 0;
                for key in keys.chain(shared) {
                    let new = event("github", Some(&key));
                    let deliveries = vec![delivery(&new, "r", "a"), delivery(&new, "r", "b")];
                    let outcome = writer.append(item(new, deliveries)).await.unwrap();
                    stored += usize::from(matches!(outcome, AppendOutcome::Stored { .. }));
                }
                stored
            })
        })
        .collect();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|w| tokio::spawn(work(writer.clone(), done.clone(), total, w)))
        .collect();
    let mut stored = 0;
    for producer in producers {
        stored += producer.await.unwrap();
    }
    assert_eq!(stored, PRODUCERS * EVENTS + SHARED);
    let mut claimed = Vec::new();
    for worker in workers {
        claimed.extend(
            tokio::time::timeout(std::time::Duration::from_secs(60), worker)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let unique: std::collections::HashSet<_> = claimed.iter().collect();
    assert_eq!(
        (claimed.len(), unique.len()),
        (total, total),
        "a delivery was claimed twice"
    );
    let depth = store.queue_depth(at(100)).await.unwrap();
    assert_eq!((depth.pending, depth.dead), (0, 0));
    for id in claimed.iter().step_by(97) {
        assert_eq!(store.list_attempts(*id).await.unwrap().len(), 1);
    }
    drop(writer);
    task.await.unwrap();
}

/// Claim up to 8 at a time and complete each concurrently, until `total` are done.
async fn work(
    writer: Writer,
    done: Arc<std::sync::atomic::AtomicUsize>,
    total: usize,
    worker: usize,
) -> Vec<uuid::Uuid> {
    use std::sync::atomic::Ordering;
    let mut mine = Vec::new();
    while done.load(Ordering::SeqCst) < total {
        let mut request = claim(at(60), 8);
        request.owner = format!("worker-{worker}");
        let claimed = writer.claim(request).await.unwrap();
        if claimed.is_empty() {
            tokio::task::yield_now().await;
            continue;
        }
        let completions: Vec<_> = claimed
            .iter()
            .map(|c| spawn_complete(&writer, record(c, NextStep::Succeeded, at(61))))
            .collect();
        for completion in completions {
            assert!(completion.await.unwrap().unwrap(), "lease lost");
        }
        done.fetch_add(claimed.len(), Ordering::SeqCst);
        mine.extend(claimed.iter().map(|c| c.delivery.id));
    }
    mine
}
