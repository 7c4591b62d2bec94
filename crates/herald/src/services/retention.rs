//! Pruning on a schedule: old events and succeeded deliveries go; dead letters stay until
//! replayed or pruned explicitly (`herald prune --dead`).

use crate::clock::SharedClock;
use crate::config::RetentionConfig;
use chrono::{DateTime, Utc};
use herald_store::model::{PrunePolicy, PruneReport};
use herald_store::{SharedStore, StoreError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The policy for a scheduled pass at `now`.
pub fn scheduled_policy(config: &RetentionConfig, now: DateTime<Utc>) -> PrunePolicy {
    PrunePolicy {
        succeeded_before: config.deliveries.map(|age| before(now, age)),
        dead_before: None,
        events_before: config.events.map(|age| before(now, age)),
        refs_before: config.refs.map(|age| before(now, age)),
    }
}

fn before(now: DateTime<Utc>, age: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub async fn prune(store: &SharedStore, policy: &PrunePolicy) -> Result<PruneReport, StoreError> {
    let report = store.prune(policy).await?;
    if report.events + report.deliveries + report.refs > 0 {
        tracing::info!(
            events = report.events,
            deliveries = report.deliveries,
            refs = report.refs,
            "Pruned old records"
        );
    }
    Ok(report)
}

/// Prune every `interval` until shut down.
pub async fn run(
    store: SharedStore,
    clock: SharedClock,
    config: RetentionConfig,
    shutdown: CancellationToken,
) {
    if config.events.is_none() && config.deliveries.is_none() {
        return;
    }
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(config.interval) => {}
        }
        let policy = scheduled_policy(&config, clock.now());
        if let Err(error) = prune(&store, &policy).await {
            tracing::error!(error = %error, "Pruning failed; will try again at the next interval");
        }
    }
}
