//! Spacing out calls to destinations that rate-limit per target: any step may ask to be
//! paced under a key at a quota (Slack: about one message per second per channel). Limits
//! are per process; the destination's 429 with `Retry-After` stays the hard signal.
//!
//! Calls under one key go first come, first served: a fair gate per key lets one caller at
//! a time wait for the limiter, so the order they asked in is the order they are sent in
//! (the limiter alone wakes its waiters in no particular order).

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

/// A key's turn: `tokio::sync::Mutex` queues its waiters fairly, in the order they came.
type Gate = Arc<tokio::sync::Mutex<()>>;

/// One keyed limiter per quota asked for, and one gate per key.
#[derive(Default)]
pub struct Pacer {
    limiters: Mutex<HashMap<(Duration, u32), Arc<Limiter>>>,
    gates: Mutex<HashMap<String, Gate>>,
    waits: AtomicU64,
}

impl Pacer {
    /// Wait until a call under `pace` is within its quota, after every call that asked
    /// earlier under the same key.
    pub async fn wait(&self, pace: &Pace) {
        let limiter = self.limiter(pace.every, pace.burst);
        if self.waits.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            limiter.retain_recent();
            self.forget_idle_gates();
        }
        let gate = self.gate(&pace.key);
        let _turn = gate.lock().await;
        limiter.until_key_ready(&pace.key).await;
    }

    fn gate(&self, key: &str) -> Gate {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(key.to_string()).or_default().clone()
    }

    /// Gates nobody holds or waits on (only the map refers to them).
    fn forget_idle_gates(&self) {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.retain(|_, gate| Arc::strong_count(gate) > 1);
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
    async fn calls_under_one_key_go_in_the_order_they_asked() {
        let pacer = Arc::new(Pacer::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for n in 0..12 {
            let (pacer, order) = (pacer.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                pacer.wait(&pace("C1", Duration::from_millis(15), 1)).await;
                order.lock().unwrap().push(n);
            }));
            // Each asks after the one before, as deliveries claimed one by one do.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..12).collect::<Vec<_>>());
        assert_eq!(pacer.gates.lock().unwrap().len(), 1);
        pacer.forget_idle_gates();
        assert!(pacer.gates.lock().unwrap().is_empty());
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
