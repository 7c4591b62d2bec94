//! Rejected signatures per source, kept in memory for the signature-failures monitor.
//! Each process counts the requests it rejected; the alert itself is deduplicated in the
//! store, so several replicas raise it once.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// Failures older than this are forgotten whatever the monitors' windows.
const KEEP: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Default)]
pub struct SignatureFailures {
    by_source: Mutex<BTreeMap<String, VecDeque<DateTime<Utc>>>>,
}

impl SignatureFailures {
    pub fn record(&self, source: &str, at: DateTime<Utc>) {
        let mut by_source = self.by_source.lock().unwrap_or_else(|e| e.into_inner());
        let times = by_source.entry(source.to_string()).or_default();
        times.push_back(at);
        forget_before(times, at - keep());
    }

    /// Failures on `source` at or after `since`.
    pub fn count_since(&self, source: &str, since: DateTime<Utc>) -> usize {
        let by_source = self.by_source.lock().unwrap_or_else(|e| e.into_inner());
        by_source
            .get(source)
            .map_or(0, |times| times.iter().filter(|at| **at >= since).count())
    }
}

fn keep() -> chrono::Duration {
    chrono::Duration::from_std(KEEP).unwrap_or(chrono::Duration::MAX)
}

fn forget_before(times: &mut VecDeque<DateTime<Utc>>, before: DateTime<Utc>) {
    while times.front().is_some_and(|at| *at < before) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_source_within_the_window() {
        let log = SignatureFailures::default();
        let t0 = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .to_utc();
        for seconds in [0, 10, 20] {
            log.record("pact", t0 + chrono::Duration::seconds(seconds));
        }
        log.record("github", t0);
        assert_eq!(log.count_since("pact", t0), 3);
        assert_eq!(
            log.count_since("pact", t0 + chrono::Duration::seconds(10)),
            2
        );
        assert_eq!(log.count_since("github", t0), 1);
        assert_eq!(log.count_since("slack", t0), 0);
    }
}
