//! GitHub REST API facts: headers every call carries, and how answers classify.

use crate::action::Outcome;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::Deserialize;
use std::time::Duration;

pub const DEFAULT_API_URL: &str = "https://api.github.com";
pub const DEFAULT_API_VERSION: &str = "2022-11-28";
pub const ACCEPT: &str = "application/vnd.github+json";

/// GitHub's error body: `{"message": ..., "errors": [...], "documentation_url": ...}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    message: Option<String>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// Classify an answer. `now` turns `x-ratelimit-reset` (epoch seconds) into a wait.
pub fn classify(status: u16, headers: &HeaderMap, body: &str, now: DateTime<Utc>) -> Outcome {
    let permanent = |what: &str| Outcome::permanent(describe(status, what, body));
    match status {
        200..=299 => Outcome::done(),
        401 => Outcome::Credential {
            error: describe(status, "bad credentials", body),
        },
        403 | 429 => match rate_limit_wait(headers, now) {
            Some(wait) => rate_limited(wait),
            None if status == 429 => rate_limited(Duration::from_secs(60)),
            None => permanent("forbidden"),
        },
        404 => permanent("not found (or the token cannot see it)"),
        409 => permanent("conflict"),
        422 => permanent("validation failed"),
        500..=599 => Outcome::transient(describe(status, "GitHub server error", body)),
        _ => permanent("unexpected answer"),
    }
}

fn rate_limited(wait: Duration) -> Outcome {
    Outcome::RateLimited {
        wait,
        error: "rate limited by GitHub".into(),
    }
}

/// Primary limits say when they reset; secondary limits send `Retry-After`.
fn rate_limit_wait(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(seconds) = header("retry-after").and_then(|value| value.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(seconds));
    }
    if header("x-ratelimit-remaining").map(str::trim) == Some("0") {
        let reset = header("x-ratelimit-reset")?.trim().parse::<i64>().ok()?;
        let wait = (reset - now.timestamp()).max(1);
        return Some(Duration::from_secs(wait as u64));
    }
    None
}

/// `HTTP 422 validation failed: <GitHub's message> (<errors>)`.
pub(super) fn describe(status: u16, what: &str, body: &str) -> String {
    let parsed: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let mut text = format!("HTTP {status} {what}");
    if let Some(message) = parsed.message {
        text.push_str(&format!(": {message}"));
    }
    if !parsed.errors.is_empty() {
        let errors: Vec<String> = parsed.errors.iter().map(|e| e.to_string()).collect();
        text.push_str(&format!(" ({})", errors.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn answers_classify_as_github_documents() {
        let none = HeaderMap::new();
        assert_eq!(classify(204, &none, "", now()), Outcome::done());
        assert_eq!(classify(201, &none, "{}", now()), Outcome::done());
        assert_eq!(
            classify(
                401,
                &none,
                r#"{"message":"Bad credentials","documentation_url":"x"}"#,
                now()
            ),
            Outcome::Credential {
                error: "HTTP 401 bad credentials: Bad credentials".into(),
            }
        );
        let limited = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000042"),
        ]);
        assert_eq!(
            classify(403, &limited, "{}", now()),
            rate_limited(Duration::from_secs(42))
        );
        let secondary = headers(&[("retry-after", "30")]);
        assert_eq!(
            classify(429, &secondary, "{}", now()),
            rate_limited(Duration::from_secs(30))
        );
        assert!(matches!(
            classify(
                403,
                &none,
                r#"{"message":"Resource not accessible by integration"}"#,
                now()
            ),
            Outcome::Permanent { .. }
        ));
        let invalid = r#"{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","message":"too many"}]}"#;
        let Outcome::Permanent { error, .. } = classify(422, &none, invalid, now()) else {
            panic!("422 is permanent")
        };
        assert!(
            error.starts_with("HTTP 422 validation failed: Validation Failed ("),
            "{error}"
        );
        assert!(error.contains("too many"), "{error}");
        assert!(matches!(
            classify(502, &none, "", now()),
            Outcome::Transient { .. }
        ));
        assert!(matches!(
            classify(404, &none, "", now()),
            Outcome::Permanent { .. }
        ));
    }
}
