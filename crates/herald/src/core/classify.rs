//! Classifying a destination's answer: success, try again, or give up.

use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Worth trying again, after `retry_after` if the destination said when.
    Retry {
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help (bad request, not found, forbidden, ...).
    Permanent,
}

/// The default HTTP classification: 2xx succeed; 408, 429 and 5xx are retried; every
/// other status (other 4xx, unexpected 1xx/3xx) is permanent.
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> Verdict {
    match status {
        200..=299 => Verdict::Success,
        408 | 429 | 500..=599 => Verdict::Retry { retry_after },
        _ => Verdict::Permanent,
    }
}

/// A `Retry-After` value: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify_as_documented() {
        let cases = [
            (200, Verdict::Success),
            (204, Verdict::Success),
            (301, Verdict::Permanent),
            (400, Verdict::Permanent),
            (401, Verdict::Permanent),
            (404, Verdict::Permanent),
            (408, Verdict::Retry { retry_after: None }),
            (422, Verdict::Permanent),
            (429, Verdict::Retry { retry_after: None }),
            (500, Verdict::Retry { retry_after: None }),
            (503, Verdict::Retry { retry_after: None }),
        ];
        for (status, verdict) in cases {
            assert_eq!(classify_status(status, None), verdict, "{status}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
