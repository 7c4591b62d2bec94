//! `[github]`: the REST API's base URL (GitHub Enterprise: `https://HOST/api/v3`, a proxy,
//! a test fake) and version every GitHub action — and deploybot's `github` — uses unless it
//! sets its own.

use super::api::{DEFAULT_API_URL, DEFAULT_API_VERSION};
use crate::kit::diagnostic::Diagnostics;
use crate::kit::document::{self, Item};
use crate::kit::{SectionContext, Sections, keys};
use serde::Deserialize;
use std::any::Any;
use std::sync::Arc;
use toml::Spanned;

pub const SECTION: &str = "github";

/// `[github]` as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GithubConfig {
    /// The REST API's base URL for actions without their own `api_url`.
    pub api_url: Option<String>,
    /// `X-GitHub-Api-Version` for actions without their own `api_version`.
    pub api_version: Option<String>,
}

impl GithubConfig {
    /// The section as read, or its defaults.
    pub fn of(sections: &Sections) -> GithubConfig {
        sections.get_or_default(SECTION)
    }

    /// The API's base URL: the section's, else GitHub's.
    pub fn api_url(&self) -> &str {
        self.api_url.as_deref().unwrap_or(DEFAULT_API_URL)
    }

    /// An action's `api_version` if it sets one, else the section's, else the default.
    pub fn api_version(&self, own: Option<&String>) -> String {
        own.or(self.api_version.as_ref())
            .map_or(DEFAULT_API_VERSION, String::as_str)
            .to_string()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGithub {
    /// The REST API's base URL for GitHub actions without their own `api_url`.
    api_url: Option<Spanned<String>>,
    /// `X-GitHub-Api-Version` for GitHub actions without their own `api_version`.
    api_version: Option<String>,
}

pub fn build(
    item: Option<Item<'_>>,
    context: &SectionContext<'_>,
    diagnostics: &mut Diagnostics,
) -> Arc<dyn Any + Send + Sync> {
    let raw: RawGithub = document::section(item, diagnostics);
    Arc::new(GithubConfig {
        api_url: context.resolve(&raw.api_url, diagnostics),
        api_version: raw.api_version,
    })
}

pub fn options() -> Vec<String> {
    keys::keys_of::<RawGithub>()
}

#[cfg(test)]
mod tests {
    use crate::action::NoRefs;
    use crate::config::Config;
    use crate::integrations::test_support::{load_config, plan_event};
    use serde_json::json;

    /// `[github]` with `section`, each GitHub action kind without its own `api_url`, and a
    /// status with its own URL and version.
    fn config(section: &str) -> String {
        format!(
            r#"
[secrets]
gh = "ghp_token"

[github]
{section}

[actions.dispatch]
kind = "github-dispatch"
token = "gh"
repository = "acme/app"
event_type = "go"

[actions.status]
kind = "github-status"
token = "gh"
repository = "acme/app"
sha = "abc"
state = "pending"

[actions.deployment]
kind = "github-deployment"
token = "gh"
repository = "acme/app"
ref = "main"

[actions.deployment_status]
kind = "github-deployment-status"
token = "gh"
repository = "acme/app"
key = "k"
state = "success"

[actions.own]
kind = "github-status"
token = "gh"
repository = "acme/app"
api_url = "https://own.test/api/v3"
api_version = "2026-01-01"
sha = "abc"
state = "pending"
"#
        )
    }

    /// Where `herald check --online` asks about the action's token, and with which version.
    fn checked_at(config: &Config, action: &str) -> (String, String) {
        let checks = config.actions[action].action.credential_checks();
        let request = &checks[0].request;
        let version = request
            .headers
            .iter()
            .find(|(name, _)| name == "x-github-api-version")
            .map(|(_, value)| value.to_str().unwrap().to_string());
        (request.url.to_string(), version.unwrap_or_default())
    }

    #[tokio::test]
    async fn the_sections_api_url_and_version_serve_every_action_without_their_own() {
        let section = r#"api_url = "https://ghe.test/api/v3"
api_version = "2025-01-01""#;
        let config = load_config(&config(section)).unwrap();
        for action in ["dispatch", "status", "deployment", "deployment_status"] {
            assert_eq!(
                checked_at(&config, action),
                (
                    "https://ghe.test/api/v3/rate_limit".to_string(),
                    "2025-01-01".to_string()
                ),
                "{action}"
            );
        }
        let plan = plan_event(&config, "dispatch", &NoRefs, ("github", "push"), &json!({})).await;
        assert_eq!(
            plan.requests[0].url.as_str(),
            "https://ghe.test/api/v3/repos/acme/app/dispatches"
        );
        // The action's own win.
        assert_eq!(
            checked_at(&config, "own"),
            (
                "https://own.test/api/v3/rate_limit".to_string(),
                "2026-01-01".to_string()
            )
        );
    }

    #[test]
    fn without_either_github_is_called() {
        let config = load_config(&config("")).unwrap();
        assert_eq!(
            checked_at(&config, "status"),
            (
                "https://api.github.com/rate_limit".to_string(),
                super::DEFAULT_API_VERSION.to_string()
            )
        );
    }
}
