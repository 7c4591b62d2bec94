//! Giving memory freed under a load back to the system once herald is at rest.
//!
//! mimalloc returns a freed page to the system a second after the free
//! (`MIMALLOC_PURGE_DELAY`), but it checks for expired pages only inside its own slow
//! paths: when a thread frees a whole page or makes many slow-path allocations. A server at
//! rest does neither, so after a load it kept 7–10 MB it no longer used
//! (docs/benchmarks.md). Every few seconds this task makes enough slow-path allocations for
//! mimalloc to run its periodic collection, which returns the expired pages.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often `serve` nudges the allocator: a load's freed memory is back within about
/// twice this long.
const NUDGE_INTERVAL: Duration = Duration::from_secs(10);

/// mimalloc collects every 10,000 slow-path allocations of a thread (its
/// `generic_collect` option); a few more than that, in case some take the fast path.
const SLOW_ALLOCATIONS: usize = 12_000;

/// A block this size is the only free block of its page after each free, so the next
/// allocation of the size takes mimalloc's slow path.
const BLOCK: usize = 8 * 1024;

/// Nudge the allocator every `NUDGE_INTERVAL` until `shutdown`.
pub async fn run(shutdown: CancellationToken) {
    nudge_every(NUDGE_INTERVAL, shutdown).await
}

/// Nudge the allocator now and every `interval` until `shutdown`.
pub async fn nudge_every(interval: Duration, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => nudge_allocator(),
        }
    }
}

/// Allocate and free one block, many times over: about 0.3 ms of CPU in a release build.
pub fn nudge_allocator() {
    for _ in 0..SLOW_ALLOCATIONS {
        // black_box keeps the compiler from eliding the allocation.
        drop(std::hint::black_box(Vec::<u8>::with_capacity(BLOCK)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_nudging_stops_at_shutdown() {
        let shutdown = CancellationToken::new();
        let nudging = tokio::spawn(run(shutdown.clone()));
        tokio::task::yield_now().await;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), nudging)
            .await
            .expect("the task ends once shut down")
            .expect("the task does not panic");
    }
}
