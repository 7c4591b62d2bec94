//! One page request: sent through the shared HTTP client, the answer read up to the
//! poller's limit, and every failure classified. A failure says only how long to wait:
//! the cursor stays where it was whatever went wrong.

use crate::core::classify::parse_retry_after;
use crate::ingress::poller::{Page, PageAt, Poller};
use chrono::{DateTime, Utc};
use herald_store::model::PollFailureKind;
use std::time::Duration;

/// Characters of an error answer kept in messages.
const ERROR_BODY_CHARS: usize = 200;

/// Why a page could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: PollFailureKind,
    /// What went wrong, without credentials.
    pub error: String,
    /// The wait the API asked for (429 with `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl Failure {
    fn new(kind: PollFailureKind, error: impl Into<String>) -> Failure {
        Failure {
            kind,
            error: error.into(),
            retry_after: None,
        }
    }
}

/// Ask for the page at `at` and read it.
pub async fn fetch(
    http: &reqwest::Client,
    poller: &dyn Poller,
    at: PageAt<'_>,
    now: DateTime<Utc>,
) -> Result<Page, Failure> {
    let request = poller.request(at);
    let sent = http
        .get(request.url)
        .headers(request.headers)
        .timeout(request.timeout)
        .send()
        .await;
    let mut response = sent.map_err(|error| {
        let what = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        Failure::new(PollFailureKind::Transient, describe(what, &error))
    })?;
    let status = response.status().as_u16();
    let limit = poller.settings().max_page;
    let body = read_limited(&mut response, limit).await?;
    if (200..300).contains(&status) {
        return poller
            .read(&body)
            .map_err(|error| Failure::new(PollFailureKind::Permanent, error.to_string()));
    }
    let text = String::from_utf8_lossy(&body);
    let text: String = text.chars().take(ERROR_BODY_CHARS).collect();
    let error = format!("HTTP {status}: {}", text.trim());
    let kind = match status {
        401 | 403 => PollFailureKind::Credential,
        429 => PollFailureKind::RateLimited,
        408 | 500..=599 => PollFailureKind::Transient,
        _ => PollFailureKind::Permanent,
    };
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, now));
    Err(Failure {
        kind,
        error,
        retry_after,
    })
}

/// The whole body, or a failure once it passes `limit` bytes.
async fn read_limited(response: &mut reqwest::Response, limit: usize) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(Failure::new(
                        PollFailureKind::Permanent,
                        format!("the page is larger than max_page ({limit} bytes)"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(error) => {
                return Err(Failure::new(
                    PollFailureKind::Transient,
                    describe("reading the answer failed", &error),
                ));
            }
        }
    }
}

/// A transport error as one line with its causes. reqwest's own text names the URL, which
/// holds no credentials (they travel in headers).
fn describe(what: &str, error: &reqwest::Error) -> String {
    let mut message = what.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// The wait before trying again after `failures` failed polls in a row (the first is 1):
/// 5 s doubling, at most the interval or 5 minutes, whichever is longer. A 429 waits what
/// it asked for; a refused credential or an unreadable answer waits the interval.
pub fn retry_wait(failure: &Failure, failures: i64, interval: Duration) -> Duration {
    let cap = interval.max(Duration::from_secs(300));
    let exponent = u32::try_from(failures.clamp(1, 16) - 1).unwrap_or(0);
    let backoff = Duration::from_secs(5)
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(cap);
    match failure.kind {
        PollFailureKind::RateLimited => failure.retry_after.unwrap_or(backoff),
        PollFailureKind::Transient => backoff,
        PollFailureKind::Credential | PollFailureKind::Permanent => interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_back_off_and_honour_retry_after() {
        let minute = Duration::from_secs(60);
        let transient = Failure::new(PollFailureKind::Transient, "HTTP 503");
        let waits: Vec<u64> = (1..=8)
            .map(|n| retry_wait(&transient, n, minute).as_secs())
            .collect();
        assert_eq!(waits, vec![5, 10, 20, 40, 80, 160, 300, 300]);
        let limited = Failure {
            retry_after: Some(Duration::from_secs(7)),
            ..Failure::new(PollFailureKind::RateLimited, "HTTP 429")
        };
        assert_eq!(retry_wait(&limited, 3, minute), Duration::from_secs(7));
        let refused = Failure::new(PollFailureKind::Credential, "HTTP 401");
        assert_eq!(retry_wait(&refused, 9, minute), minute);
    }
}
