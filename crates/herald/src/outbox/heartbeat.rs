//! Takeover in seconds: each process beats in the store every `EVERY`, and each beat gives
//! back the delivery leases of processes whose last beat is older than `STALE_AFTER` — a
//! process killed mid-delivery — so their work is claimed again within seconds, not after
//! the full lease. A live but slow delivery keeps its lease: its process still beats.

use crate::clock::SharedClock;
use crate::services::write_health::WriteHealth;
use herald_store::{SharedStore, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often a process beats.
pub const EVERY: Duration = Duration::from_secs(2);
/// A process not heard from for this long is taken for dead. Five beats: a process busy
/// for a moment is not mistaken for a dead one.
pub const STALE_AFTER: Duration = Duration::from_secs(10);

pub struct Heartbeat {
    pub store: SharedStore,
    pub clock: SharedClock,
    /// The lease owner name this process claims under.
    pub owner: String,
    /// Wakes the workers when leases were given back.
    pub wake: Arc<Notify>,
    /// Each beat is a write: its outcome tells `/readyz` whether writes succeed.
    pub write_health: Arc<WriteHealth>,
}

impl Heartbeat {
    /// Beat until `stop`. A failed beat is logged and tried again at the next one.
    pub async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => self.beat().await,
            }
        }
    }

    /// One beat, whose failure is returned: `serve` refuses to start on a store it cannot
    /// write.
    pub async fn first_beat(&self) -> Result<(), StoreError> {
        self.write().await.map(|_| ())
    }

    /// One beat: say this process is alive, and release the leases of dead ones.
    pub async fn beat(&self) {
        let outcome = self.write().await;
        self.write_health.record(outcome.as_ref().map(|_| ()));
        match outcome {
            Ok(0) => {}
            Ok(released) => {
                tracing::info!(
                    released,
                    "Released the leases of a process that stopped beating; their deliveries are claimed again"
                );
                self.wake.notify_one();
            }
            Err(error) => tracing::warn!(error = %error, "Heartbeat failed"),
        }
    }

    /// This process's row, and the leases of silent ones released: how many.
    async fn write(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let stale_before = now - chrono::Duration::from_std(STALE_AFTER).unwrap_or_default();
        self.store.heartbeat(&self.owner, now, stale_before).await
    }
}
