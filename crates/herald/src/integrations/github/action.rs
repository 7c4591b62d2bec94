//! GitHub REST actions: repository dispatch, commit status, deployment, deployment status.

use super::api;
use super::endpoint::Endpoint;
use crate::action::{
    Action, ActionInput, CredentialCheck, OrderingKey, Outcome, Plan, PlanError, PlannedRequest,
    RefKey, Remember, Runbook,
};
use crate::core::filters::truncate;
use crate::core::template::TemplateRef;
use crate::transport::Answer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Deployment ids live under this ref kind, shared by the deployment and status actions.
pub const DEPLOYMENT_REF_KIND: &str = "github-deployment";

/// `event_type` of a repository dispatch: 1 to 100 characters.
const MAX_EVENT_TYPE: usize = 100;
/// `client_payload` of a repository dispatch: at most 10 top-level properties.
const MAX_PAYLOAD_KEYS: usize = 10;
/// Deployment status descriptions are cut to 140 characters, as GitHub requires.
const MAX_DESCRIPTION: usize = 140;

const COMMIT_STATES: &[&str] = &["error", "failure", "pending", "success"];
const DEPLOYMENT_STATES: &[&str] = &[
    "error",
    "failure",
    "inactive",
    "in_progress",
    "queued",
    "pending",
    "success",
];

/// Where and as whom every GitHub call goes.
#[derive(Debug)]
pub struct Client {
    pub endpoint: Endpoint,
    pub repository: TemplateRef,
    pub timeout: Duration,
}

/// One rendered field: a template and how its text goes into the body.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub template: TemplateRef,
    pub kind: FieldKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// A JSON value (an object, a list, `true`).
    Json,
}

#[derive(Debug)]
pub enum Operation {
    Dispatch,
    CommitStatus {
        sha: TemplateRef,
    },
    /// Creates a deployment; with a key, its id is remembered for status updates.
    Deployment {
        key: Option<TemplateRef>,
    },
    /// Posts a status to the deployment a key remembers.
    DeploymentStatus {
        key: TemplateRef,
    },
}

#[derive(Debug)]
pub struct GithubAction {
    pub kind: &'static str,
    pub client: Client,
    pub operation: Operation,
    /// Body fields given as plain values in the configuration (flags, lists).
    pub fixed: Map<String, Value>,
    /// Body fields rendered from templates, in order.
    pub fields: Vec<Field>,
    /// A deployment and the statuses of one key run one at a time, in order.
    pub ordering: Option<OrderingKey>,
}

impl Operation {
    /// The key whose deployment this operation creates or moves on.
    pub fn deployment_key(&self) -> Option<&TemplateRef> {
        match self {
            Operation::Deployment { key: Some(key) } | Operation::DeploymentStatus { key } => {
                Some(key)
            }
            _ => None,
        }
    }
}

#[async_trait]
impl Action for GithubAction {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn ordering_key(&self) -> Option<&OrderingKey> {
        self.ordering.as_ref()
    }

    fn credential_secrets(&self) -> Vec<&str> {
        self.client.endpoint.auth.secret_names()
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        let repository = self.repository(input)?;
        let body = self.body(input)?;
        let (path, remember, purpose) = match &self.operation {
            Operation::Dispatch => {
                check_dispatch(&body)?;
                (
                    format!("repos/{repository}/dispatches"),
                    None,
                    "repository dispatch".to_string(),
                )
            }
            Operation::CommitStatus { sha } => {
                let sha = input
                    .templates
                    .render(sha, input.context)?
                    .trim()
                    .to_string();
                check_state(&body, COMMIT_STATES)?;
                (
                    format!("repos/{repository}/statuses/{sha}"),
                    None,
                    format!("commit status on {sha}"),
                )
            }
            Operation::Deployment { key } => {
                let remember = key
                    .as_ref()
                    .map(|key| input.templates.render(key, input.context))
                    .transpose()?
                    .map(|key| RefKey {
                        kind: DEPLOYMENT_REF_KIND,
                        key: key.trim().to_string(),
                    });
                let purpose = match &remember {
                    Some(remember) => format!("create a deployment for key {:?}", remember.key),
                    None => "create a deployment".to_string(),
                };
                (format!("repos/{repository}/deployments"), remember, purpose)
            }
            Operation::DeploymentStatus { key } => {
                check_state(&body, DEPLOYMENT_STATES)?;
                let key = input
                    .templates
                    .render(key, input.context)?
                    .trim()
                    .to_string();
                let id = deployment_id(input, &key).await?;
                let path = format!("repos/{repository}/deployments/{id}/statuses");
                (
                    path,
                    None,
                    format!("status of deployment {id} (key {key:?})"),
                )
            }
        };
        let mut request = self
            .client
            .endpoint
            .post(&path, &body, self.client.timeout)
            .map_err(PlanError::Invalid)?
            .purpose(purpose);
        request.remember = remember.map(|key| Remember::Answer {
            key,
            extra: json!({}),
            group: None,
        });
        Ok(Plan::of(vec![request]))
    }

    fn credential_runbook(&self) -> Runbook {
        self.client.endpoint.auth.runbook()
    }

    fn credential_checks(&self) -> Vec<CredentialCheck> {
        let endpoint = &self.client.endpoint;
        endpoint
            .auth
            .credential_check(endpoint.api(), self.client.timeout)
            .into_iter()
            .collect()
    }

    fn classify(&self, request: &PlannedRequest, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        if matches!(self.operation, Operation::Deployment { .. }) && answer.status == 202 {
            // GitHub merged the default branch into the ref instead of deploying; a retry
            // deploys the merged ref.
            return Outcome::transient(
                "HTTP 202 merged branch: GitHub merged the default branch into the ref; no deployment yet",
            );
        }
        match api::classify(answer.status, &answer.headers, &answer.body, now) {
            Outcome::Done { .. } if request.remember.is_some() => {
                let id = serde_json::from_str::<Value>(&answer.body)
                    .ok()
                    .and_then(|body| body["id"].as_u64());
                match id {
                    Some(id) => Outcome::Done {
                        facts: json!({ "id": id }),
                    },
                    None => Outcome::permanent("the deployment answer has no id"),
                }
            }
            outcome => outcome,
        }
    }
}

impl GithubAction {
    /// `owner/repo`, checked so it cannot reach another API path.
    fn repository(&self, input: &ActionInput<'_>) -> Result<String, PlanError> {
        let repository = input
            .templates
            .render(&self.client.repository, input.context)?
            .trim()
            .to_string();
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        match repository.split_once('/') {
            Some((owner, repo)) if valid(owner) && valid(repo) && repo != ".." => Ok(repository),
            _ => Err(PlanError::Invalid(format!(
                "repository {repository:?} is not owner/name"
            ))),
        }
    }

    fn body(&self, input: &ActionInput<'_>) -> Result<Value, PlanError> {
        let mut body = self.fixed.clone();
        for field in &self.fields {
            let text = input.templates.render(&field.template, input.context)?;
            let value = match field.kind {
                FieldKind::Text if field.name == "description" => {
                    json!(truncate(text, Some(MAX_DESCRIPTION), None))
                }
                FieldKind::Text => json!(text),
                FieldKind::Json => serde_json::from_str(&text).map_err(|error| {
                    PlanError::Invalid(format!("`{}` is not valid JSON: {error}", field.name))
                })?,
            };
            body.insert(field.name.to_string(), value);
        }
        Ok(Value::Object(body))
    }
}

/// GitHub refuses these with 422; refusing before sending keeps the error clear.
fn check_dispatch(body: &Value) -> Result<(), PlanError> {
    let event_type = body["event_type"].as_str().unwrap_or_default();
    let length = event_type.chars().count();
    if length == 0 || length > MAX_EVENT_TYPE {
        return Err(PlanError::Invalid(format!(
            "event_type must be 1 to {MAX_EVENT_TYPE} characters, not {length}"
        )));
    }
    match body.get("client_payload") {
        None => Ok(()),
        Some(Value::Object(payload)) if payload.len() <= MAX_PAYLOAD_KEYS => Ok(()),
        Some(Value::Object(payload)) => Err(PlanError::Invalid(format!(
            "client_payload has {} top-level keys; GitHub allows at most {MAX_PAYLOAD_KEYS}",
            payload.len()
        ))),
        Some(_) => Err(PlanError::Invalid(
            "client_payload must be a JSON object".into(),
        )),
    }
}

fn check_state(body: &Value, allowed: &[&str]) -> Result<(), PlanError> {
    let state = body["state"].as_str().unwrap_or_default();
    if allowed.contains(&state) {
        Ok(())
    } else {
        Err(PlanError::Invalid(format!(
            "state {state:?} is not one of {}",
            allowed.join(", ")
        )))
    }
}

async fn deployment_id(input: &ActionInput<'_>, key: &str) -> Result<u64, PlanError> {
    let known = input
        .refs
        .get(DEPLOYMENT_REF_KIND, key)
        .await
        .map_err(PlanError::Invalid)?;
    known
        .and_then(|data| data["id"].as_u64())
        .ok_or_else(|| PlanError::Invalid(format!("no deployment recorded for key {key:?}")))
}
