//! Retry schedules as data, and the delay before the next attempt as a pure function.

use std::time::Duration;

/// The longest wait a destination may ask for with `Retry-After`.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq)]
pub enum Backoff {
    /// Wait `delays[n]` before retry n+1; the schedule ends after the last delay.
    Schedule(Vec<Duration>),
    /// `initial * multiplier^n`, capped at `max_delay`, for `max_attempts` attempts in all.
    Exponential {
        initial: Duration,
        multiplier: f64,
        max_delay: Duration,
        max_attempts: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub backoff: Backoff,
    /// Each delay is shortened by up to this fraction at random, so retries of many
    /// deliveries failing together spread out (0 = exact delays).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// About 1 h 40 m of retries over 10 attempts.
    fn default() -> Self {
        RetryPolicy {
            backoff: Backoff::Exponential {
                initial: Duration::from_secs(5),
                multiplier: 2.0,
                max_delay: Duration::from_secs(30 * 60),
                max_attempts: 10,
            },
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        match &self.backoff {
            Backoff::Schedule(delays) => delays.len() as u32 + 1,
            Backoff::Exponential { max_attempts, .. } => *max_attempts,
        }
    }

    /// The wait before the next attempt, after `failures` failed attempts that count
    /// against the schedule (this one included); `None` when the schedule is over.
    /// `sample` is a uniform random number in [0, 1) used for jitter.
    pub fn next_delay(&self, failures: u32, sample: f64) -> Option<Duration> {
        if failures == 0 || failures >= self.max_attempts() {
            return None;
        }
        let base = match &self.backoff {
            Backoff::Schedule(delays) => delays[failures as usize - 1],
            Backoff::Exponential {
                initial,
                multiplier,
                max_delay,
                ..
            } => {
                let factor = multiplier.powi(failures as i32 - 1);
                let seconds = (initial.as_secs_f64() * factor).min(max_delay.as_secs_f64());
                Duration::from_secs_f64(seconds)
            }
        };
        let shortening = self.jitter.clamp(0.0, 1.0) * sample.clamp(0.0, 1.0);
        Some(base.mul_f64(1.0 - shortening))
    }

    /// The wait after a failure: what the destination asked for if it said so, otherwise
    /// the schedule's. `None` means the delivery is dead.
    pub fn delay_after_failure(
        &self,
        failures: u32,
        retry_after: Option<Duration>,
        sample: f64,
    ) -> Option<Duration> {
        let scheduled = self.next_delay(failures, sample)?;
        Some(retry_after.map_or(scheduled, |asked| asked.min(MAX_RETRY_AFTER)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn schedule_gives_each_delay_then_ends() {
        let policy = RetryPolicy {
            backoff: Backoff::Schedule(vec![secs(10), secs(60), secs(120)]),
            jitter: 0.0,
        };
        assert_eq!(policy.max_attempts(), 4);
        let delays: Vec<_> = (1..=4).map(|n| policy.next_delay(n, 0.5)).collect();
        assert_eq!(
            delays,
            vec![Some(secs(10)), Some(secs(60)), Some(secs(120)), None]
        );
    }

    #[test]
    fn exponential_doubles_and_caps() {
        let policy = RetryPolicy {
            backoff: Backoff::Exponential {
                initial: secs(1),
                multiplier: 2.0,
                max_delay: secs(5),
                max_attempts: 6,
            },
            jitter: 0.0,
        };
        let delays: Vec<_> = (1..=6).map(|n| policy.next_delay(n, 0.0)).collect();
        assert_eq!(
            delays,
            vec![
                Some(secs(1)),
                Some(secs(2)),
                Some(secs(4)),
                Some(secs(5)),
                Some(secs(5)),
                None
            ]
        );
    }

    #[test]
    fn retry_after_replaces_the_scheduled_delay() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay_after_failure(1, Some(secs(2)), 0.3),
            Some(secs(2))
        );
        assert_eq!(
            policy.delay_after_failure(1, Some(secs(10 * 24 * 3600)), 0.3),
            Some(MAX_RETRY_AFTER)
        );
        // The schedule still decides when to give up.
        assert_eq!(policy.delay_after_failure(10, Some(secs(2)), 0.3), None);
    }

    proptest! {
        #[test]
        fn jitter_only_shortens_within_its_fraction(failures in 1u32..10, sample in 0.0f64..1.0, jitter in 0.0f64..1.0) {
            let exact = RetryPolicy { jitter: 0.0, ..RetryPolicy::default() };
            let jittered = RetryPolicy { jitter, ..RetryPolicy::default() };
            let base = exact.next_delay(failures, sample).unwrap();
            let delay = jittered.next_delay(failures, sample).unwrap();
            prop_assert!(delay <= base);
            prop_assert!(delay.as_secs_f64() >= base.as_secs_f64() * (1.0 - jitter) - 1e-9);
        }
    }
}
