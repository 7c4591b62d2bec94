//! Filling a store through the `Store` trait in big batches: each write appends a batch of
//! events with their deliveries, records the attempts of the batch before, and claims the
//! new batch's deliveries, in one transaction (as herald's writer does, only bigger).

use super::data::{self, Rng};
use herald_store::SharedStore;
use herald_store::model::*;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

pub struct FillPlan {
    pub events: u64,
    pub batch: usize,
    pub seed: u64,
}

/// One generated batch: the appends, and each event's payload for its attempt (as the
/// executor has it: read back from the store).
struct Batch {
    items: Vec<EventWithDeliveries>,
    payloads: Vec<serde_json::Value>,
    last_received_at: Timestamp,
}

pub struct Filled {
    pub elapsed: Duration,
    /// Events written per source.
    pub per_source: BTreeMap<String, i64>,
}

/// Fill `store` (migrated, empty) with `plan.events` events.
pub async fn fill(store: &SharedStore, plan: &FillPlan) -> anyhow::Result<Filled> {
    let started = Instant::now();
    let start = data::start();
    // Batches are made (and compressed, by `prepare_append`) on a blocking thread while the
    // one before is written.
    let (send, mut batches) = mpsc::channel::<Batch>(2);
    let producer = {
        let store = store.clone();
        let (events, size, seed) = (plan.events, plan.batch as u64, plan.seed);
        tokio::task::spawn_blocking(move || {
            let mut rng = Rng::new(seed);
            let mut per_source: BTreeMap<String, i64> = BTreeMap::new();
            let mut n = 0;
            while n < events {
                let count = size.min(events - n);
                let items: Vec<_> = (n..n + count)
                    .map(|i| data::event(&mut rng, i, start))
                    .collect();
                for item in &items {
                    store.prepare_append(item);
                    *per_source.entry(item.event.source.clone()).or_default() += 1;
                }
                let payloads = items
                    .iter()
                    .map(|item| item.event.payload.decode())
                    .collect();
                let last_received_at = items.last().map_or(start, |i| i.event.received_at);
                n += count;
                let batch = Batch {
                    items,
                    payloads,
                    last_received_at,
                };
                if send.blocking_send(batch).is_err() {
                    break;
                }
            }
            per_source
        })
    };
    let mut done: Vec<AttemptRecord> = Vec::new();
    let mut written = 0u64;
    let mut reported = Instant::now();
    while let Some(batch) = batches.recv().await {
        let now = batch.last_received_at + chrono::Duration::seconds(1);
        let claim = ClaimRequest {
            now,
            lease_until: now + chrono::Duration::seconds(60),
            owner: "herald-bench".to_string(),
            limit: u32::try_from(batch.items.len())?,
            skip_actions: Vec::new(),
        };
        let results = store
            .write(&WriteBatch {
                appends: &batch.items,
                completions: &done,
                claims: std::slice::from_ref(&claim),
            })
            .await?;
        anyhow::ensure!(
            results.completed.iter().all(|&ok| ok),
            "an attempt of the fill was not recorded"
        );
        let claimed = results.claimed.into_iter().next().unwrap_or_default();
        anyhow::ensure!(
            claimed.len() == batch.items.len(),
            "claimed {} deliveries of a batch of {}",
            claimed.len(),
            batch.items.len()
        );
        let payloads: HashMap<Uuid, &serde_json::Value> = batch
            .items
            .iter()
            .zip(&batch.payloads)
            .map(|(item, payload)| (item.event.id, payload))
            .collect();
        done = claimed
            .iter()
            .map(|claim| {
                let payload = claim.delivery.event_id.and_then(|id| payloads.get(&id));
                data::success(
                    claim,
                    payload.copied().unwrap_or(&serde_json::Value::Null),
                    now,
                )
            })
            .collect();
        written += batch.items.len() as u64;
        if reported.elapsed() >= Duration::from_secs(10) {
            let rate = written as f64 / started.elapsed().as_secs_f64();
            eprintln!("  … {written} events ({rate:.0}/s)");
            reported = Instant::now();
        }
    }
    let per_source = producer.await?;
    if !done.is_empty() {
        store
            .write(&WriteBatch {
                completions: &done,
                ..WriteBatch::default()
            })
            .await?;
    }
    Ok(Filled {
        elapsed: started.elapsed(),
        per_source,
    })
}
