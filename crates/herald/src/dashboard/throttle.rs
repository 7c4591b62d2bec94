//! Failed sign-ins, limited per client address: guessing the admin token through the form
//! gets a few tries, then one every few seconds. Behind a proxy every browser shares the
//! proxy's address, and so one allowance: a limit on all guessing rather than per person.
//!
//! A token bucket per address: `BURST` failures at once, refilled one per `REFILL`. An
//! address over it answers 429 without its token being compared, so a guess made then
//! tells nothing. A success empties the address's record.

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failed sign-ins an address may make at once.
const BURST: f64 = 5.0;

/// One more failed sign-in allowed per this long (12 a minute).
const REFILL: Duration = Duration::seconds(5);

/// Addresses remembered at most; past it, the fullest buckets (the least suspect) are
/// forgotten first.
const MAX_ADDRESSES: usize = 10_000;

/// Failed sign-ins per client address.
#[derive(Default)]
pub struct SignInThrottle {
    by_address: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Failures still allowed, as of `at`.
    tokens: f64,
    at: DateTime<Utc>,
}

impl Bucket {
    fn full(at: DateTime<Utc>) -> Bucket {
        Bucket { tokens: BURST, at }
    }

    /// The bucket refilled up to `now`.
    fn at(self, now: DateTime<Utc>) -> Bucket {
        let elapsed = (now - self.at).num_milliseconds().max(0) as f64;
        let refilled = elapsed / REFILL.num_milliseconds() as f64;
        Bucket {
            tokens: (self.tokens + refilled).min(BURST),
            at: now.max(self.at),
        }
    }
}

impl SignInThrottle {
    /// `Err(wait)` when `address` has used its allowance: how long until its next try.
    pub fn check(&self, address: Option<IpAddr>, now: DateTime<Utc>) -> Result<(), Duration> {
        let buckets = self.lock();
        let Some(bucket) = buckets.get(&address).map(|bucket| bucket.at(now)) else {
            return Ok(());
        };
        match bucket.tokens >= 1.0 {
            true => Ok(()),
            false => {
                let missing = (1.0 - bucket.tokens) * REFILL.num_milliseconds() as f64;
                Err(Duration::milliseconds(missing.ceil() as i64))
            }
        }
    }

    /// A wrong token from `address`.
    pub fn failed(&self, address: Option<IpAddr>, now: DateTime<Utc>) {
        let mut buckets = self.lock();
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(&address) {
            forget_the_least_suspect(&mut buckets, now);
        }
        let bucket = buckets
            .get(&address)
            .map_or(Bucket::full(now), |bucket| bucket.at(now));
        buckets.insert(
            address,
            Bucket {
                tokens: (bucket.tokens - 1.0).max(0.0),
                ..bucket
            },
        );
    }

    /// The right token from `address`: its failures are forgotten.
    pub fn succeeded(&self, address: Option<IpAddr>) {
        self.lock().remove(&address);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Option<IpAddr>, Bucket>> {
        self.by_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Drop the buckets refilled by now, or else the half fullest.
fn forget_the_least_suspect(buckets: &mut HashMap<Option<IpAddr>, Bucket>, now: DateTime<Utc>) {
    buckets.retain(|_, bucket| bucket.at(now).tokens < BURST);
    if buckets.len() >= MAX_ADDRESSES {
        let mut tokens: Vec<f64> = buckets.values().map(|b| b.at(now).tokens).collect();
        tokens.sort_by(f64::total_cmp);
        let median = tokens[tokens.len() / 2];
        buckets.retain(|_, bucket| bucket.at(now).tokens < median);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn address(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn an_address_gets_five_failures_then_one_every_five_seconds() {
        let throttle = SignInThrottle::default();
        for _ in 0..5 {
            assert_eq!(throttle.check(address(1), now()), Ok(()));
            throttle.failed(address(1), now());
        }
        assert_eq!(throttle.check(address(1), now()), Err(Duration::seconds(5)));
        assert_eq!(
            throttle.check(address(1), now() + Duration::seconds(3)),
            Err(Duration::seconds(2))
        );
        let later = now() + Duration::seconds(5);
        assert_eq!(throttle.check(address(1), later), Ok(()));
        throttle.failed(address(1), later);
        assert!(throttle.check(address(1), later).is_err());
        // Another address is not held back by the first one's guesses.
        assert_eq!(throttle.check(address(2), later), Ok(()));
    }

    #[test]
    fn a_success_forgets_the_failures() {
        let throttle = SignInThrottle::default();
        for _ in 0..5 {
            throttle.failed(None, now());
        }
        assert!(throttle.check(None, now()).is_err());
        throttle.succeeded(None);
        assert_eq!(throttle.check(None, now()), Ok(()));
    }

    #[test]
    fn the_addresses_remembered_are_bounded() {
        let throttle = SignInThrottle::default();
        for n in 0..MAX_ADDRESSES as u32 + 10 {
            let [a, b, c, d] = n.to_be_bytes();
            let address = Some(IpAddr::from([10 + a, b, c, d]));
            throttle.failed(address, now());
        }
        assert!(throttle.lock().len() <= MAX_ADDRESSES);
        // A suspect that used its whole allowance is still held back.
        for _ in 0..5 {
            throttle.failed(address(9), now());
        }
        for n in 0..MAX_ADDRESSES as u32 {
            let [a, b, c, d] = n.to_be_bytes();
            throttle.failed(Some(IpAddr::from([100 + a, b, c, d])), now());
        }
        assert!(throttle.check(address(9), now()).is_err());
    }
}
