//! Spacing out calls to destinations that rate-limit per target (about one Slack message
//! per second per channel). Limits are per process; the destination's 429 with
//! `Retry-After` stays the hard signal.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Every this many waits, keys back at a full burst are forgotten, so the state does not
/// grow with every channel ever paced.
const FORGET_EVERY: u64 = 1024;

pub struct Pacer {
    limiter: DefaultKeyedRateLimiter<String>,
    waits: AtomicU64,
}

impl Pacer {
    /// One call per `period` per key, after a burst of `burst` calls.
    pub fn new(period: Duration, burst: u32) -> Pacer {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period.max(Duration::from_millis(1)))
            .expect("the period is at least 1 ms")
            .allow_burst(burst);
        Pacer {
            limiter: RateLimiter::keyed(quota),
            waits: AtomicU64::new(0),
        }
    }

    /// Wait until a call for `key` is within the pace.
    pub async fn wait(&self, key: &str) {
        if self.waits.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.until_key_ready(&key.to_string()).await;
    }
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_burst_passes_then_calls_are_spaced() {
        let pacer = Pacer::new(Duration::from_millis(50), 2);
        let started = Instant::now();
        for _ in 0..2 {
            pacer.wait("C1").await;
        }
        assert!(started.elapsed() < Duration::from_millis(40));
        for _ in 0..3 {
            pacer.wait("C1").await;
        }
        // Three calls past the burst: at least three periods, less a little for rounding.
        assert!(started.elapsed() >= Duration::from_millis(140));
    }

    #[tokio::test]
    async fn keys_are_paced_apart() {
        let pacer = Pacer::new(Duration::from_secs(10), 1);
        let started = Instant::now();
        pacer.wait("C1").await;
        pacer.wait("C2").await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
