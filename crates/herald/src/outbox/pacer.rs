//! Spacing out calls to destinations that rate-limit per target: any step may ask to be
//! paced under a key at a quota (Slack: about one message per second per channel). Limits
//! are per process; the destination's 429 with `Retry-After` stays the hard signal.
//!
//! Calls under one key go one at a time, in the order their deliveries were claimed:
//! - each delivery takes a [`Ticket`] when it starts, in claim order; its first paced step
//!   joins its key's queue only after every earlier ticket of the same action has joined
//!   one (or finished), so planning at different speeds cannot reorder them;
//! - a key's queue lets its front call wait for the limiter and send, and the next one
//!   goes once that call was answered ([`Turn`] is dropped), so neither the limiter's
//!   wake-up order nor the network can reorder them.

use crate::action::Pace;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Every this many waits, keys back at a full burst are forgotten, so the state does not
/// grow with every channel ever paced.
const FORGET_EVERY: u64 = 1024;

type Limiter = DefaultKeyedRateLimiter<String>;

/// One keyed limiter per quota asked for, a queue per key, the tickets per action.
#[derive(Default)]
pub struct Pacer {
    limiters: Mutex<HashMap<(Duration, u32), Arc<Limiter>>>,
    queues: Arc<Lines>,
    tickets: Arc<Lines>,
    next: AtomicU64,
    waits: AtomicU64,
}

/// Named lines of numbered places: each name's places are served smallest first.
#[derive(Default)]
struct Lines {
    lines: Mutex<HashMap<String, Line>>,
}

#[derive(Default)]
struct Line {
    places: BTreeSet<u64>,
    moved: Arc<Notify>,
}

impl Lines {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Line>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn join(&self, name: &str, place: u64) {
        self.lock()
            .entry(name.to_string())
            .or_default()
            .places
            .insert(place);
    }

    fn leave(&self, name: &str, place: u64) {
        let mut lines = self.lock();
        if let Some(line) = lines.get_mut(name) {
            line.places.remove(&place);
            line.moved.notify_waiters();
            if line.places.is_empty() {
                lines.remove(name);
            }
        }
    }

    /// Resolves once `place` is the smallest in its line.
    async fn front(&self, name: &str, place: u64) {
        loop {
            let moved = {
                let lines = self.lock();
                let Some(line) = lines.get(name) else { return };
                if line.places.first().is_none_or(|first| *first >= place) {
                    return;
                }
                line.moved.clone()
            };
            let notified = moved.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Checked again now that a move cannot be missed.
            if self.is_front(name, place) {
                return;
            }
            notified.await;
        }
    }

    fn is_front(&self, name: &str, place: u64) -> bool {
        self.lock()
            .get(name)
            .and_then(|line| line.places.first())
            .is_none_or(|first| *first >= place)
    }
}

/// A delivery's place among its action's deliveries, taken when it starts. Until its
/// first paced call joins a queue (or it ends), later deliveries of the action wait.
pub struct Ticket {
    tickets: Arc<Lines>,
    action: String,
    place: u64,
    passed: std::sync::atomic::AtomicBool,
}

impl Ticket {
    fn pass(&self) {
        if !self.passed.swap(true, Ordering::AcqRel) {
            self.tickets.leave(&self.action, self.place);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pass();
    }
}

/// A call's turn under its key: the next call of the key waits until this is dropped,
/// once the call was answered.
pub struct Turn {
    queues: Arc<Lines>,
    key: String,
    place: u64,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.queues.leave(&self.key, self.place);
    }
}

impl Pacer {
    /// A place for a delivery of `action` starting now.
    pub fn ticket(&self, action: &str) -> Ticket {
        let place = self.next.fetch_add(1, Ordering::Relaxed);
        self.tickets.join(action, place);
        Ticket {
            tickets: self.tickets.clone(),
            action: action.to_string(),
            place,
            passed: Default::default(),
        }
    }

    /// Wait until a call under `pace` may be sent: after the earlier deliveries of the
    /// ticket's action joined their queues, after every earlier call under the key was
    /// answered, and within the quota. Hold the turn until the answer is in.
    pub async fn wait(&self, pace: &Pace, ticket: Option<&Ticket>) -> Turn {
        let limiter = self.limiter(pace.every, pace.burst);
        if self.waits.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            limiter.retain_recent();
        }
        if let Some(ticket) = ticket {
            self.tickets.front(&ticket.action, ticket.place).await;
        }
        let place = self.next.fetch_add(1, Ordering::Relaxed);
        self.queues.join(&pace.key, place);
        let turn = Turn {
            queues: self.queues.clone(),
            key: pace.key.clone(),
            place,
        };
        if let Some(ticket) = ticket {
            ticket.pass();
        }
        self.queues.front(&pace.key, place).await;
        limiter.until_key_ready(&pace.key).await;
        turn
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
        // A long period, so a loaded machine's scheduling delays stay well under it.
        let c1 = pace("C1", Duration::from_millis(200), 2);
        let started = Instant::now();
        for _ in 0..2 {
            drop(pacer.wait(&c1, None).await);
        }
        assert!(
            started.elapsed() < Duration::from_millis(150),
            "the burst waited"
        );
        for _ in 0..3 {
            drop(pacer.wait(&c1, None).await);
        }
        // Three calls past the burst: at least three periods, less a little for rounding.
        assert!(started.elapsed() >= Duration::from_millis(580));
    }

    #[tokio::test]
    async fn calls_under_one_key_go_in_the_order_they_asked() {
        let pacer = Arc::new(Pacer::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for n in 0..12 {
            let (pacer, order) = (pacer.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = pacer
                    .wait(&pace("C1", Duration::from_millis(15), 1), None)
                    .await;
                order.lock().unwrap().push(n);
            }));
            // Each asks after the one before.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..12).collect::<Vec<_>>());
        assert!(
            pacer.queues.lock().is_empty(),
            "an empty queue is forgotten"
        );
    }

    /// Deliveries that reach their paced call in a different order than they started (one
    /// plans slower) still go in the order they started.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tickets_keep_the_order_deliveries_started_in() {
        let pacer = Arc::new(Pacer::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for n in 0..8u64 {
            let ticket = pacer.ticket("notify");
            let (pacer, order) = (pacer.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                // The earlier ones plan slower.
                tokio::time::sleep(Duration::from_millis(40 - 5 * n)).await;
                let _turn = pacer
                    .wait(&pace("C1", Duration::from_millis(1), 100), Some(&ticket))
                    .await;
                order.lock().unwrap().push(n);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
        assert!(pacer.tickets.lock().is_empty());
    }

    /// A delivery that ends without a paced call (it failed to plan) does not hold up the
    /// ones after it; other actions never wait for it.
    #[tokio::test]
    async fn a_ticket_dropped_unused_lets_the_next_go() {
        let pacer = Pacer::default();
        let first = pacer.ticket("notify");
        let other_action = pacer.ticket("page");
        let second = pacer.ticket("notify");
        let quick = pace("C1", Duration::from_millis(1), 100);
        let started = std::time::Instant::now();
        drop(pacer.wait(&quick, Some(&other_action)).await);
        drop(first);
        drop(pacer.wait(&quick, Some(&second)).await);
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn keys_are_paced_apart() {
        let pacer = Pacer::default();
        let started = Instant::now();
        drop(
            pacer
                .wait(&pace("C1", Duration::from_secs(10), 1), None)
                .await,
        );
        drop(
            pacer
                .wait(&pace("C2", Duration::from_secs(10), 1), None)
                .await,
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn quotas_are_paced_apart() {
        let pacer = Pacer::default();
        let started = Instant::now();
        drop(
            pacer
                .wait(&pace("C1", Duration::from_secs(10), 1), None)
                .await,
        );
        drop(
            pacer
                .wait(&pace("C1", Duration::from_secs(20), 1), None)
                .await,
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
