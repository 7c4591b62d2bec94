//! The three APIs deploybot calls — GitHub REST (deployments, statuses, collaborators),
//! CircleCI (API v2 pipelines, or API v1.1 jobs) and the Slack Web API — as planned
//! requests, and how their answers classify into facts the deployment record keeps.

use super::routing::{self, short_ref};
use super::state::{Deployment, Status};
use crate::action::{Outcome, Pace, PlannedRequest};
use crate::integrations::circleci::pipeline;
use crate::integrations::github::api as github_api;
use crate::integrations::github::endpoint::Endpoint;
use crate::integrations::slack::api as slack_api;
use crate::integrations::slack::settings::SlackConfig;
use crate::secret::Secret;
use crate::transport::Answer;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::time::Duration;

pub struct GithubClient {
    pub endpoint: Endpoint,
    /// `required_contexts` of new deployments; GitHub checks every status when unset.
    pub required_contexts: Option<Vec<String>>,
}

/// How CircleCI is asked to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// API v2: `POST /api/v2/project/gh/{repo}/pipeline` with pipeline parameters.
    Pipeline,
    /// API v1.1: `POST /api/v1.1/project/github/{repo}` with `build_parameters`, for
    /// projects not yet migrated (deploybot's way).
    Job,
}

pub struct CircleciClient {
    pub token: Secret,
    pub api_url: String,
    pub trigger: Trigger,
    /// Only this workflow's completion reports the deployment's result (any when unset).
    pub workflow: Option<String>,
}

pub struct SlackClient {
    pub token: Secret,
    pub api_url: String,
    pub settings: SlackConfig,
}

/// Whether `request` goes to the API at `base` (`http://h:80` is not `http://h:8080`).
fn is_under(request: &PlannedRequest, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    request
        .url
        .as_str()
        .strip_prefix(base)
        .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?') || rest.is_empty())
}

fn url(text: String) -> Result<url::Url, String> {
    url::Url::parse(&text).map_err(|error| format!("bad URL {text:?}: {error}"))
}

impl GithubClient {
    /// `POST /repos/{repo}/deployments` for the record.
    pub fn create_deployment(
        &self,
        record: &Deployment,
        key: &str,
        timeout: Duration,
    ) -> Result<PlannedRequest, String> {
        let mut payload = Map::new();
        if let Some(number) = record.pull_request {
            payload.insert("prNumber".into(), json!(number));
        }
        if let Some(url) = &record.url {
            payload.insert("url".into(), json!(url));
        }
        payload.insert("herald".into(), json!(key));
        let mut body = json!({
            "ref": short_ref(&record.git_ref),
            "environment": record.environment,
            "description": record.description,
            "auto_merge": false,
            "payload": payload,
            "transient_environment": record.pull_request.is_some(),
            "production_environment": record.environment == "production",
        });
        if let Some(contexts) = &self.required_contexts {
            body["required_contexts"] = json!(contexts);
        }
        let purpose = format!(
            "create a GitHub deployment of {} to {}",
            short_ref(&record.git_ref),
            record.environment
        );
        let path = format!("repos/{}/deployments", record.repository);
        Ok(self.endpoint.post(&path, &body, timeout)?.purpose(purpose))
    }

    /// `POST /repos/{repo}/deployments/{id}/statuses` with the record's result.
    pub fn report_status(
        &self,
        record: &Deployment,
        deployment_id: u64,
        timeout: Duration,
    ) -> Result<PlannedRequest, String> {
        let mut body = json!({
            "state": record.status.github_state(),
            "description": format!("CircleCI: {}", record.status.word()),
        });
        if let Some(log) = record.build_link() {
            body["log_url"] = json!(log);
        }
        if let Some(url) = &record.url {
            body["environment_url"] = json!(url);
        }
        let path = format!(
            "repos/{}/deployments/{deployment_id}/statuses",
            record.repository
        );
        let purpose = format!(
            "report deployment {deployment_id} as {}",
            record.status.github_state()
        );
        Ok(self.endpoint.post(&path, &body, timeout)?.purpose(purpose))
    }

    pub fn is_its(&self, request: &PlannedRequest) -> bool {
        is_under(request, &self.endpoint.api_url)
    }

    /// A deployment's answer: its id and sha; GitHub's 409 for failing status checks is
    /// not a failure but a wait.
    pub fn classify(&self, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or_default();
        if answer.status == 409 && message.to_lowercase().contains("status check") {
            return Outcome::Done {
                facts: json!({ "status": Status::Waiting }),
            };
        }
        match github_api::classify(answer.status, &answer.headers, &answer.body, now) {
            Outcome::Done { .. } => match body["id"].as_u64() {
                Some(id) if body.get("environment").is_some() => Outcome::Done {
                    facts: json!({
                        "deployment_id": id,
                        "sha": body["sha"],
                        "status": Status::Created,
                    }),
                },
                _ => Outcome::done(),
            },
            other => other,
        }
    }
}

impl CircleciClient {
    /// Ask CircleCI to build the record's deployment.
    pub fn trigger(
        &self,
        record: &Deployment,
        timeout: Duration,
    ) -> Result<PlannedRequest, String> {
        let base = self.api_url.trim_end_matches('/');
        let sha = record.sha.as_deref().unwrap_or_default();
        let version = routing::version(&record.environment, &record.git_ref, sha);
        let tag = routing::is_tag(&record.git_ref);
        let revision = short_ref(&record.git_ref);
        let token = self.token.expose();
        match self.trigger {
            Trigger::Pipeline => {
                let mut body = json!({
                    "parameters": {
                        "deploy_environment": record.environment,
                        "deploy_version": version,
                        "deploy_subdomain": if tag { "" } else { record.environment.as_str() },
                        "deploy_url": record.url.clone().unwrap_or_default(),
                        "deploy_id": record.deployment_id.map(|id| id.to_string()).unwrap_or_default(),
                    }
                });
                body[if tag { "tag" } else { "branch" }] = json!(revision);
                let url = url(format!(
                    "{base}/api/v2/project/gh/{}/pipeline",
                    record.repository
                ))?;
                Ok(PlannedRequest::json(url, &body, &body, timeout)
                    .secret_header(
                        http::HeaderName::from_static("circle-token"),
                        token,
                        "[redacted]",
                    )
                    .header("accept", "application/json")
                    .purpose(format!("trigger a CircleCI pipeline for {version}")))
            }
            Trigger::Job => {
                let mut parameters = json!({
                    "ENVIRONMENT": record.environment,
                    "VERSION": version,
                });
                if !tag {
                    parameters["SUBDOMAIN"] = json!(record.environment);
                }
                if let Some(url) = &record.url {
                    parameters["URL"] = json!(url);
                }
                let mut body = json!({ "build_parameters": parameters });
                match tag {
                    true => body["tag"] = json!(revision),
                    false => body["revision"] = json!(sha),
                }
                let path = format!("{base}/api/v1.1/project/github/{}", record.repository);
                let mut sent = url(path.clone())?;
                sent.query_pairs_mut().append_pair("circle-token", token);
                let mut request = PlannedRequest::json(sent, &body, &body, timeout)
                    .header("accept", "application/json")
                    .purpose(format!("trigger a CircleCI build for {version}"));
                request.shown_url = format!("{path}?circle-token=[redacted]");
                Ok(request)
            }
        }
    }

    pub fn is_its(&self, request: &PlannedRequest) -> bool {
        is_under(request, &self.api_url)
    }

    /// A trigger's answer: the pipeline (v2) or build (v1.1) it started.
    pub fn classify(&self, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        if !(200..300).contains(&answer.status) {
            return pipeline::classify(answer.status, answer.retry_after(now), &answer.body);
        }
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        let facts = match self.trigger {
            Trigger::Pipeline => json!({
                "pipeline_id": body["id"],
                "pipeline_number": body["number"],
                "status": Status::Building,
            }),
            Trigger::Job => json!({
                "build_number": body["build_num"],
                "build_url": body["build_url"],
                "status": Status::Building,
            }),
        };
        Outcome::Done { facts }
    }
}

impl SlackClient {
    /// Post the deployment's message (`ts` none) or update it in place.
    pub fn message(
        &self,
        channel: &str,
        ts: Option<&str>,
        text: &str,
        timeout: Duration,
    ) -> Result<PlannedRequest, String> {
        let base = self.api_url.trim_end_matches('/');
        let (method, body, purpose) = match ts {
            Some(ts) => (
                "chat.update",
                json!({ "channel": channel, "ts": ts, "text": text }),
                format!("update the deployment's message {ts} in {channel}"),
            ),
            None => (
                "chat.postMessage",
                json!({
                    "channel": channel,
                    "text": text,
                    "unfurl_links": false,
                    "unfurl_media": false,
                }),
                format!("post the deployment's message in {channel}"),
            ),
        };
        let url = url(format!("{base}/{method}"))?;
        Ok(PlannedRequest::json(url, &body, &body, timeout)
            .bearer(&self.token)
            .paced(self.pace(channel))
            .purpose(purpose))
    }

    /// Paced with every other Slack call of the same token and channel (as the `slack`
    /// action's are).
    fn pace(&self, channel: &str) -> Pace {
        self.settings
            .pace(format!("{}:{channel}", self.token.name()))
    }

    pub fn classify(&self, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        slack_api::classify(answer.status, answer.retry_after(now), &answer.body)
    }
}
