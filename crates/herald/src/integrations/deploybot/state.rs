//! What deploybot keeps, as refs in herald's store (both backends): a channel's repository
//! and settings, the repository's channel, GitHub ↔ Slack users, and deployments. The
//! pairs (channel ↔ repository, login ↔ Slack user) are written together with
//! `Store::change_refs`, on the condition that neither side is taken. Links and settings
//! are durable (retention never prunes them); deployments go with `[retention] refs`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Channel id → [`Channel`].
pub const CHANNEL: &str = "durable:deploybot-channel";
/// `owner/name` → [`Project`].
pub const REPOSITORY: &str = "durable:deploybot-repository";
/// GitHub login → [`UserLink`].
pub const USER: &str = "durable:deploybot-user";
/// Slack user id → [`SlackLink`].
pub const SLACK_USER: &str = "durable:deploybot-slack-user";
/// `owner/name#<event id>` → [`Deployment`], grouped by repository.
pub const DEPLOYMENT: &str = "deploybot-deployment";

/// A channel's settings (`set`, `unset`, `config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub basedomain: Option<String>,
    pub urlpattern: Option<String>,
    pub urlseparator: Option<String>,
    /// Environment → domain, overriding the pattern.
    pub url: BTreeMap<String, String>,
}

impl Settings {
    pub const DEFAULT_URL_PATTERN: &str = "https://{environment}{urlseparator}{basedomain}/";
}

/// A channel set up for a repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Channel {
    pub repository: String,
    pub channel_name: Option<String>,
    pub settings: Settings,
    /// When `setup` linked it (RFC 3339).
    pub set_up_at: Option<String>,
}

impl Channel {
    /// Whether it was set up after `time` (RFC 3339): a command sent before did not see it.
    pub fn set_up_after(&self, time: &str) -> bool {
        let parse = |text: &str| chrono::DateTime::parse_from_rfc3339(text).ok();
        match (self.set_up_at.as_deref().and_then(parse), parse(time)) {
            (Some(set_up), Some(time)) => set_up > time,
            _ => false,
        }
    }
}

/// A repository's channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Project {
    pub channel: String,
    pub channel_name: Option<String>,
}

/// Who a GitHub login is in Slack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserLink {
    pub slack_user: String,
    pub slack_name: Option<String>,
}

/// Who a Slack user is at GitHub.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlackLink {
    pub login: String,
}

/// Where a deployment is: each step's answer merges its facts into the record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// GitHub refused it for failing status checks: created again on a `success` status.
    Waiting,
    #[default]
    Created,
    Building,
    Success,
    Failure,
    Error,
}

impl Status {
    /// CircleCI's outcome as a deployment state: deploybot's mapping.
    pub fn of_outcome(outcome: &str) -> Status {
        match outcome {
            "success" => Status::Success,
            "failed" | "canceled" | "cancelled" | "timedout" | "infrastructure_fail" => {
                Status::Failure
            }
            _ => Status::Error,
        }
    }

    /// The GitHub deployment state this status reports.
    pub fn github_state(self) -> &'static str {
        match self {
            Status::Waiting | Status::Created => "pending",
            Status::Building => "in_progress",
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Error => "error",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Status::Success | Status::Failure | Status::Error)
    }

    pub fn word(self) -> &'static str {
        match self {
            Status::Waiting => "waiting for status checks",
            Status::Created => "created",
            Status::Building => "building",
            Status::Success => "succeeded",
            Status::Failure => "failed",
            Status::Error => "errored",
        }
    }
}

/// A deployment as deploybot follows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Deployment {
    pub repository: String,
    /// The environment as GitHub names it (`pr12`, `staging`).
    pub environment: String,
    /// Fully qualified: `refs/heads/main`, `refs/tags/v1.2.0`.
    pub git_ref: String,
    pub sha: Option<String>,
    pub pull_request: Option<u64>,
    /// `slack_command` or `gh_event`.
    pub trigger: String,
    pub description: Option<String>,
    /// The Slack user who ran `deploy`.
    pub requested_by: Option<String>,
    /// The commit's author, by GitHub login.
    pub author: Option<String>,
    pub url: Option<String>,
    pub status: Status,
    pub deployment_id: Option<u64>,
    /// The Slack message: its channel and ts.
    pub channel: Option<String>,
    pub ts: Option<String>,
    /// CircleCI API v2.
    pub pipeline_id: Option<String>,
    pub pipeline_number: Option<u64>,
    /// CircleCI API v1.1.
    pub build_number: Option<u64>,
    pub build_url: Option<String>,
    /// The finished build's page.
    pub log_url: Option<String>,
    pub created_at: Option<String>,
}

impl Deployment {
    /// The CircleCI build's page, as far as known.
    pub fn build_link(&self) -> Option<String> {
        self.log_url.clone().or_else(|| self.build_url.clone())
    }
}

/// A record read from a ref's data; none when it is unreadable.
pub fn read<T: for<'de> Deserialize<'de>>(data: &Value) -> Option<T> {
    serde_json::from_value(data.clone()).ok()
}

/// A record as a ref's data.
pub fn value<T: Serialize>(record: &T) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
}

/// The repository of a CircleCI project slug (`gh/acme/web`, `github/acme/web`).
pub fn repository_of_slug(slug: &str) -> Option<String> {
    let mut parts = slug.splitn(3, '/');
    let vcs = parts.next()?;
    if !matches!(vcs, "gh" | "github") {
        return None;
    }
    Some(format!("{}/{}", parts.next()?, parts.next()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_survive_partial_and_merged_data() {
        let mut data =
            json!({"repository": "acme/web", "environment": "staging", "status": "created"});
        data["deployment_id"] = json!(7);
        data["ts"] = json!("111.222");
        let record = read::<Deployment>(&data).unwrap();
        assert_eq!(record.deployment_id, Some(7));
        assert_eq!(record.ts.as_deref(), Some("111.222"));
        assert_eq!(record.status, Status::Created);
        assert_eq!(read::<Deployment>(&value(&record)), Some(record));
    }

    #[test]
    fn outcomes_map_as_deploybot_did() {
        assert_eq!(Status::of_outcome("success"), Status::Success);
        assert_eq!(Status::of_outcome("failed"), Status::Failure);
        assert_eq!(Status::of_outcome("canceled"), Status::Failure);
        assert_eq!(Status::of_outcome("no_tests"), Status::Error);
        assert_eq!(Status::Failure.github_state(), "failure");
    }

    #[test]
    fn slugs_name_their_repository() {
        assert_eq!(
            repository_of_slug("gh/acme/web").as_deref(),
            Some("acme/web")
        );
        assert_eq!(
            repository_of_slug("github/acme/web").as_deref(),
            Some("acme/web")
        );
        assert_eq!(repository_of_slug("bb/acme/web"), None);
    }
}
