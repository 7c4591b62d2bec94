//! Jira REST API v2 facts (Cloud and Data Center): authentication, and how answers
//! classify. Errors come as `{"errorMessages": [...], "errors": {field: message}}`.

use crate::action::{Outcome, PlannedRequest};
use crate::secret::Secret;
use base64::Engine;
use serde_json::{Value, json};
use std::time::Duration;

/// How long to wait on a 429 that names no `Retry-After`.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(10);

/// How herald signs in to Jira.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Jira Cloud: `email:api_token`, HTTP Basic.
    Basic { email: String, token: Secret },
    /// A personal access token (Jira Data Center) or an OAuth token.
    Bearer(Secret),
}

impl Auth {
    /// `request` with its `Authorization` header, shown redacted.
    pub fn sign(&self, request: PlannedRequest) -> PlannedRequest {
        match self {
            Auth::Basic { email, token } => {
                let pair = format!("{email}:{}", token.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                request.secret_header(
                    http::header::AUTHORIZATION,
                    &format!("Basic {encoded}"),
                    "Basic [redacted]",
                )
            }
            Auth::Bearer(token) => request.bearer(token),
        }
    }

    pub fn secret(&self) -> &Secret {
        match self {
            Auth::Basic { token, .. } | Auth::Bearer(token) => token,
        }
    }
}

/// Classify an answer. A 2xx's facts are what it identifies: an issue's status and
/// project, the transitions offered, a comment's id.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> Outcome {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let describe = |what: &str| match messages(&parsed) {
        Some(messages) => format!("HTTP {status} {what}: {messages}"),
        None => format!("HTTP {status} {what}"),
    };
    match status {
        200..=299 => Outcome::Done {
            facts: facts(&parsed),
        },
        401 | 403 => Outcome::Credential {
            error: describe("Jira refused the credential"),
        },
        404 => Outcome::permanent(describe("not found (or the account cannot see it)")),
        429 => Outcome::RateLimited {
            wait: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
            error: describe("rate limited by Jira"),
        },
        500..=599 => Outcome::Transient {
            error: describe("Jira server error"),
            retry_after,
        },
        _ => Outcome::permanent(describe("refused")),
    }
}

/// What a 2xx answer identifies.
fn facts(parsed: &Value) -> Value {
    if let Some(status) = parsed["fields"]["status"]["name"].as_str() {
        return json!({
            "status": status,
            "project": parsed["fields"]["project"]["key"],
        });
    }
    if let Some(transitions) = parsed["transitions"].as_array() {
        let offered: Vec<Value> = transitions
            .iter()
            .map(|t| json!({ "id": t["id"], "name": t["name"], "to": t["to"]["name"] }))
            .collect();
        return json!({ "transitions": offered });
    }
    match parsed["id"].as_str() {
        Some(id) => json!({ "id": id }),
        None => Value::Null,
    }
}

/// Jira's error messages, joined.
fn messages(parsed: &Value) -> Option<String> {
    let mut all: Vec<String> = parsed["errorMessages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    if let Some(errors) = parsed["errors"].as_object() {
        all.extend(
            errors
                .iter()
                .map(|(field, m)| format!("{field}: {}", m.as_str().unwrap_or_default())),
        );
    }
    (!all.is_empty()).then(|| all.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_classify_as_jira_documents_them() {
        let issue =
            r#"{"key":"SOC-1","fields":{"status":{"name":"To Do"},"project":{"key":"SOC"}}}"#;
        assert_eq!(
            classify(200, None, issue),
            Outcome::Done {
                facts: json!({"status": "To Do", "project": "SOC"})
            }
        );
        let offered = r#"{"expand":"transitions","transitions":[{"id":"21","name":"Start","to":{"name":"In Progress"}}]}"#;
        assert_eq!(
            classify(200, None, offered),
            Outcome::Done {
                facts: json!({"transitions": [{"id": "21", "name": "Start", "to": "In Progress"}]})
            }
        );
        assert_eq!(
            classify(204, None, ""),
            Outcome::Done { facts: Value::Null }
        );
        let missing = r#"{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}"#;
        let Outcome::Permanent { error } = classify(404, None, missing) else {
            panic!("404 is permanent");
        };
        assert!(error.contains("Issue does not exist"), "{error}");
        assert!(matches!(
            classify(401, None, ""),
            Outcome::Credential { .. }
        ));
        assert!(matches!(
            classify(403, None, ""),
            Outcome::Credential { .. }
        ));
        assert_eq!(
            classify(429, Some(Duration::from_secs(3)), ""),
            Outcome::RateLimited {
                wait: Duration::from_secs(3),
                error: "HTTP 429 rate limited by Jira".into()
            }
        );
        assert!(matches!(classify(503, None, ""), Outcome::Transient { .. }));
        let bad = r#"{"errorMessages":[],"errors":{"transition":"Transition id '99' is not valid for this issue."}}"#;
        let Outcome::Permanent { error } = classify(400, None, bad) else {
            panic!("400 is permanent");
        };
        assert!(error.contains("transition: Transition id '99'"), "{error}");
    }
}
