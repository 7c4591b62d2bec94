//! `kind = "circleci-pipeline"`: trigger a pipeline with CircleCI API v2
//! (`POST {api_url}/api/v2/project/{project_slug}/pipeline`, `branch` or `tag` and
//! `parameters`), and with a `key`, remember the pipeline's id and number.

use crate::action::{
    Action, ActionInput, CredentialCheck, Outcome, Plan, PlanError, PlannedRequest, RefKey,
    Remember, Runbook,
};
use crate::core::template::TemplateRef;
use crate::secret::Secret;
use crate::transport::Answer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::time::Duration;

pub const KIND: &str = "circleci-pipeline";
pub const DEFAULT_API_URL: &str = "https://circleci.com";
/// Pipelines remembered by key live under this ref kind.
pub const REF_KIND: &str = "circleci-pipeline";

/// How long to wait on a 429 that names no `Retry-After`.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Which commit the pipeline runs: a branch or a tag, never both (CircleCI refuses both).
#[derive(Debug)]
pub enum Revision {
    Branch(TemplateRef),
    Tag(TemplateRef),
}

#[derive(Debug)]
pub struct PipelineAction {
    pub token: Secret,
    pub api_url: String,
    /// `gh/org/repo`, `bb/org/repo` or `circleci/<org id>/<project id>`.
    pub project_slug: TemplateRef,
    pub revision: Option<Revision>,
    /// A JSON object template: the pipeline parameters.
    pub parameters: Option<TemplateRef>,
    pub key: Option<TemplateRef>,
    pub timeout: Duration,
}

#[async_trait]
impl Action for PipelineAction {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn credential_secrets(&self) -> Vec<&str> {
        vec![self.token.name()]
    }

    fn credential_runbook(&self) -> Runbook {
        RUNBOOK
    }

    fn credential_checks(&self) -> Vec<CredentialCheck> {
        credential_check(&self.api_url, &self.token, self.timeout)
            .into_iter()
            .collect()
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        let slug = render(input, &self.project_slug)?;
        check_slug(&slug)?;
        let body = self.body(input)?;
        let url = format!(
            "{}/api/v2/project/{slug}/pipeline",
            self.api_url.trim_end_matches('/')
        );
        let url = url::Url::parse(&url)
            .map_err(|error| PlanError::Invalid(format!("bad URL {url:?}: {error}")))?;
        let key = self
            .key
            .as_ref()
            .map(|key| render(input, key))
            .transpose()?;
        let purpose = match &key {
            Some(key) => format!("trigger a pipeline of {slug} for key {key:?}"),
            None => format!("trigger a pipeline of {slug}"),
        };
        let token = self.token.expose().to_string();
        let mut request = PlannedRequest::json(url, &body, &body, self.timeout)
            .secret_header(
                http::HeaderName::from_static("circle-token"),
                &token,
                "[redacted]",
            )
            .header("accept", "application/json")
            .purpose(purpose);
        if let Some(key) = key {
            request = request.remember(Remember::Answer {
                key: RefKey {
                    kind: REF_KIND,
                    key,
                },
                extra: json!({ "project_slug": slug }),
                group: None,
            });
        }
        Ok(Plan::of(vec![request]))
    }

    fn classify(&self, _request: &PlannedRequest, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        classify(answer.status, answer.retry_after(now), &answer.body)
    }
}

impl PipelineAction {
    /// `{"branch" | "tag": …, "parameters": {…}}`; empty parts are left out.
    fn body(&self, input: &ActionInput<'_>) -> Result<Value, PlanError> {
        let mut body = Map::new();
        match &self.revision {
            Some(Revision::Branch(branch)) => insert_text(&mut body, "branch", input, branch)?,
            Some(Revision::Tag(tag)) => insert_text(&mut body, "tag", input, tag)?,
            None => {}
        }
        if let Some(parameters) = &self.parameters {
            let text = input.templates.render(parameters, input.context)?;
            let parsed: Value = serde_json::from_str(&text).map_err(|error| {
                PlanError::Invalid(format!("`parameters` is not valid JSON: {error}"))
            })?;
            if !parsed.is_object() {
                return Err(PlanError::Invalid(
                    "`parameters` must render to a JSON object".into(),
                ));
            }
            body.insert("parameters".into(), parsed);
        }
        Ok(Value::Object(body))
    }
}

/// `GET {api_url}/api/v2/me`: whether CircleCI takes `token`, reading only its user.
pub fn credential_check(
    api_url: &str,
    token: &Secret,
    timeout: Duration,
) -> Option<CredentialCheck> {
    let text = format!("{}/api/v2/me", api_url.trim_end_matches('/'));
    let url = url::Url::parse(&text).ok()?;
    let request = PlannedRequest::new(http::Method::GET, url, text, timeout).secret_header(
        http::HeaderName::from_static("circle-token"),
        token.expose(),
        "[redacted]",
    );
    Some(CredentialCheck {
        credential: format!("CircleCI token `{}`", token.name()),
        request,
        // Any 2xx: the user's fields are not a pipeline's.
        read: |answer, now| match answer.status {
            200..=299 => Outcome::done(),
            status => classify(status, answer.retry_after(now), &answer.body),
        },
    })
}

fn render(input: &ActionInput<'_>, template: &TemplateRef) -> Result<String, PlanError> {
    Ok(input
        .templates
        .render(template, input.context)?
        .trim()
        .to_string())
}

fn insert_text(
    body: &mut Map<String, Value>,
    name: &str,
    input: &ActionInput<'_>,
    template: &TemplateRef,
) -> Result<(), PlanError> {
    let text = render(input, template)?;
    if !text.is_empty() {
        body.insert(name.into(), json!(text));
    }
    Ok(())
}

/// Three parts of letters, digits, `-`, `_` and `.`, so the slug cannot reach another path.
fn check_slug(slug: &str) -> Result<(), PlanError> {
    let parts: Vec<&str> = slug.split('/').collect();
    let valid = |part: &&str| {
        !part.is_empty()
            && *part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    if parts.len() == 3 && parts.iter().all(valid) {
        Ok(())
    } else {
        Err(PlanError::Invalid(format!(
            "project_slug {slug:?} is not vcs/org/repo (e.g. gh/acme/app)"
        )))
    }
}

/// CircleCI's answers: 201 with `{id, state, number, created_at}`; 401 and 403 refuse the
/// token; 404 names a project that does not exist or the token cannot see; 429 asks to
/// wait; 5xx is worth retrying; other 4xx (a bad parameter) fail for good.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> Outcome {
    let parsed: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let describe = |what: &str| match parsed["message"].as_str() {
        Some(message) => format!("HTTP {status} {what}: {message}"),
        None => format!("HTTP {status} {what}"),
    };
    match status {
        200..=299 => match (parsed["id"].as_str(), parsed["number"].as_u64()) {
            (Some(id), Some(number)) => Outcome::Done {
                facts: json!({ "id": id, "number": number }),
            },
            _ => Outcome::permanent(format!(
                "HTTP {status}: the answer names no pipeline id and number"
            )),
        },
        401 | 403 => Outcome::Credential {
            error: describe("the token was refused"),
        },
        404 => Outcome::permanent(describe("project not found (or the token cannot see it)")),
        429 => Outcome::RateLimited {
            wait: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
            error: describe("rate limited by CircleCI"),
        },
        500..=599 => Outcome::Transient {
            error: describe("CircleCI server error"),
            retry_after,
        },
        _ => Outcome::permanent(describe("refused")),
    }
}

/// Replacing a CircleCI API token.
const RUNBOOK: Runbook = Runbook {
    before: &[
        "Log in to CircleCI as the machine user herald triggers pipelines as (it needs write access to the project), then User Settings → Personal API Tokens → Create New Token. Project API tokens cannot trigger pipelines.",
    ],
    after: &["Delete the old token on the same page so a leaked copy cannot be reused."],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_classify_as_circleci_documents() {
        let created = r#"{"id":"5034460f-c7c4-4c43-9457-de07e2029e7b","state":"created","number":25,"created_at":"2026-12-05T10:00:00Z"}"#;
        assert_eq!(
            classify(201, None, created),
            Outcome::Done {
                facts: json!({"id": "5034460f-c7c4-4c43-9457-de07e2029e7b", "number": 25})
            }
        );
        assert!(matches!(
            classify(201, None, "{}"),
            Outcome::Permanent { .. }
        ));
        for status in [401, 403] {
            let outcome = classify(status, None, r#"{"message":"Permission denied"}"#);
            assert_eq!(
                outcome,
                Outcome::Credential {
                    error: format!("HTTP {status} the token was refused: Permission denied")
                }
            );
        }
        let Outcome::Permanent { error } =
            classify(404, None, r#"{"message":"Project not found"}"#)
        else {
            panic!("404 is permanent")
        };
        assert!(error.contains("Project not found"), "{error}");
        assert_eq!(
            classify(429, Some(Duration::from_secs(7)), ""),
            Outcome::RateLimited {
                wait: Duration::from_secs(7),
                error: "HTTP 429 rate limited by CircleCI".into()
            }
        );
        assert!(matches!(
            classify(429, None, ""),
            Outcome::RateLimited { wait, .. } if wait == DEFAULT_RATE_LIMIT_WAIT
        ));
        assert!(matches!(classify(502, None, ""), Outcome::Transient { .. }));
        assert!(matches!(
            classify(400, None, r#"{"message":"Unexpected argument(s): nope"}"#),
            Outcome::Permanent { .. }
        ));
    }

    #[test]
    fn slugs_are_three_safe_parts() {
        for good in ["gh/acme/app", "bb/acme/app.web", "circleci/1a2b/3c-4d"] {
            assert!(check_slug(good).is_ok(), "{good}");
        }
        for bad in [
            "acme/app",
            "gh/acme/app/extra",
            "gh/../app",
            "gh/acme/a?b",
            "gh//app",
        ] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
