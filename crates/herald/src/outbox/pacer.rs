//! Spacing out calls to destinations that rate-limit per target: any step may ask to be
//! paced under a key at a quota (Slack: about one message per second per channel). Limits
//! are per process; the destination's 429 with `Retry-After` stays the hard signal.

use crate::action::Pace;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every this many waits, keys back at a full burst are forgotten, so the state does not
/// grow with every channel ever paced.
const FORGET_EVERY: u64 = 1024;

type Limiter = DefaultKeyedRateLimiter<String>;

/// One keyed limiter per quota asked for.
#[derive(Default)]
pub struct Pacer {
    limiters: Mutex<HashMap<(Duration, u32), Arc<Limiter>>>,
    waits: AtomicU64,
}

impl Pacer {
    /// Wait until a call under `pace` is within its quota.
    pub async fn wait(&self, pace: &Pace) {
        let limiter = self.limiter(pace.every, pace.burst);
        if self.waits.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter.until_key_ready(&pace.key).await;
    }

    fn limiter(&self, every: Duration, burst: u32) -> Arc<Limiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        limiters
            .entry((every, burst))
            .or_insert_with(|| {
                let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
                let quota = Quota::with_period(every.max(Duration::from_millis(1)))
                    .expect("the period is at least 1 ms")
                    .allow_burst(burst);
                Arc::new(RateLimiter::keyed(quota))
            })
            .clone()
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

    fn pace(key: &str, every: Duration, burst: u32) -> Pace {
        Pace {
            key: key.into(),
            every,
            burst,
        }
    }

    #[tokio::test]
    async fn a_burst_passes_then_calls_are_spaced() {
        let pacer = Pacer::default();
        let c1 = pace("C1", Duration::from_millis(50), 2);
        let started = Instant::now();
        for _ in 0..2 {
            pacer.wait(&c1).await;
        }
        assert!(started.elapsed() < Duration::from_millis(40));
        for _ in 0..3 {
            pacer.wait(&c1).await;
        }
        // Three calls past the burst: at least three periods, less a little for rounding.
        assert!(started.elapsed() >= Duration::from_millis(140));
    }

    #[tokio::test]
    async fn keys_are_paced_apart() {
        let pacer = Pacer::default();
        let started = Instant::now();
        pacer.wait(&pace("C1", Duration::from_secs(10), 1)).await;
        pacer.wait(&pace("C2", Duration::from_secs(10), 1)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn quotas_are_paced_apart() {
        let pacer = Pacer::default();
        let started = Instant::now();
        pacer.wait(&pace("C1", Duration::from_secs(10), 1)).await;
        pacer.wait(&pace("C1", Duration::from_secs(20), 1)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
