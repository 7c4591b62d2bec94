//! Slack Web API facts: how its answers classify. Slack answers most errors with HTTP 200
//! and `{"ok": false, "error": "..."}`, so the body decides, not the status.

use crate::action::{CredentialCheck, Outcome, PlannedRequest};
use crate::secret::Secret;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// Errors that mean the token itself is bad: alert, do not retry.
const CREDENTIAL_ERRORS: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "ekm_access_denied",
];

/// Errors Slack documents as transient.
const TRANSIENT_ERRORS: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
];

/// How long to wait when Slack rate-limits without saying for how long.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// The fields herald reads from `chat.postMessage` and `chat.update` answers.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Answer {
    pub ok: bool,
    pub error: Option<String>,
    pub channel: Option<String>,
    pub ts: Option<String>,
}

/// `POST {api_url}/auth.test`: whether Slack takes `token`, posting nothing.
pub fn credential_check(
    api_url: &str,
    token: &Secret,
    timeout: Duration,
) -> Option<CredentialCheck> {
    let text = format!("{}/auth.test", api_url.trim_end_matches('/'));
    let url = url::Url::parse(&text).ok()?;
    let request = PlannedRequest::new(http::Method::POST, url, text, timeout).bearer(token);
    Some(CredentialCheck {
        credential: format!("Slack token `{}`", token.name()),
        request,
        read: |answer, now| classify(answer.status, answer.retry_after(now), &answer.body),
    })
}

/// Classify an answer from its HTTP status, `Retry-After` and body. A posted or updated
/// message's facts are its `channel` (the id) and `ts`.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> Outcome {
    let rate_limited = || Outcome::RateLimited {
        wait: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
        error: "ratelimited".into(),
    };
    if status == 429 {
        return rate_limited();
    }
    if status >= 500 {
        return Outcome::transient(format!("HTTP {status} from Slack"));
    }
    let answer: Answer = match serde_json::from_str(body) {
        Ok(answer) => answer,
        Err(_) if status == 200 => {
            return Outcome::transient("Slack answered with something other than JSON");
        }
        Err(_) if status == 401 => {
            return Outcome::Credential {
                error: format!("HTTP {status} from Slack"),
            };
        }
        Err(_) => return Outcome::permanent(format!("HTTP {status} from Slack")),
    };
    if answer.ok {
        let facts = match (answer.channel, answer.ts) {
            (Some(channel), Some(ts)) => json!({ "channel": channel, "ts": ts }),
            _ => serde_json::Value::Null,
        };
        return Outcome::Done { facts };
    }
    let error = answer.error.unwrap_or_else(|| "unknown_error".to_string());
    match error.as_str() {
        "ratelimited" | "rate_limited" => rate_limited(),
        e if TRANSIENT_ERRORS.contains(&e) => Outcome::transient(error),
        e if CREDENTIAL_ERRORS.contains(&e) => Outcome::Credential { error },
        _ => Outcome::permanent(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    #[test]
    fn answers_classify_as_slack_documents() {
        let ok = r#"{"ok":true,"channel":"C1","ts":"111.222","message":{}}"#;
        assert_eq!(
            classify(200, None, ok),
            Outcome::Done {
                facts: json!({"channel": "C1", "ts": "111.222"})
            }
        );
        let permanent = |error: &str, credential: bool| match credential {
            true => Outcome::Credential {
                error: error.into(),
            },
            false => Outcome::permanent(error),
        };
        for (error, credential) in [
            ("channel_not_found", false),
            ("not_in_channel", false),
            ("msg_too_long", false),
            ("message_not_found", false),
            ("is_archived", false),
            ("invalid_auth", true),
            ("token_revoked", true),
        ] {
            let body = format!(r#"{{"ok":false,"error":"{error}"}}"#);
            assert_eq!(
                classify(200, None, &body),
                permanent(error, credential),
                "{error}"
            );
        }
        let limited = r#"{"ok":false,"error":"ratelimited"}"#;
        assert_eq!(
            classify(429, secs(3), limited),
            Outcome::RateLimited {
                wait: Duration::from_secs(3),
                error: "ratelimited".into()
            }
        );
        assert_eq!(
            classify(200, None, limited),
            Outcome::RateLimited {
                wait: Duration::from_secs(1),
                error: "ratelimited".into()
            }
        );
        assert_eq!(
            classify(200, None, r#"{"ok":false,"error":"internal_error"}"#),
            Outcome::transient("internal_error")
        );
        assert!(matches!(classify(503, None, ""), Outcome::Transient { .. }));
        assert!(matches!(
            classify(200, None, "<html>"),
            Outcome::Transient { .. }
        ));
        assert_eq!(
            classify(401, None, "nope"),
            permanent("HTTP 401 from Slack", true)
        );
    }
}
