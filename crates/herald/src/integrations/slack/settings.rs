//! `[slack]`: GitHub login → Slack user id for the `slack_mention` filter, how Slack
//! messages are paced per token and channel, and the Web API's base URL every Slack
//! action uses unless it sets its own (`api_url`: a proxy, a test fake).

use crate::action::Pace;
use crate::kit::diagnostic::{Diagnostic, Diagnostics};
use crate::kit::document::{self, Item};
use crate::kit::{SectionContext, Sections, keys, units};
use serde::Deserialize;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

pub const SECTION: &str = "slack";

/// `[slack]` as read.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    /// At most one message per this period per token and channel, after a burst.
    pub pace: Duration,
    pub burst: u32,
    /// GitHub login → Slack user id.
    pub users: BTreeMap<String, String>,
    /// The Web API's base URL for every Slack action without its own `api_url`.
    pub api_url: Option<String>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            pace: Duration::from_secs(1),
            burst: 3,
            users: BTreeMap::new(),
            api_url: None,
        }
    }
}

impl SlackConfig {
    /// The section as read, or its defaults.
    pub fn of(sections: &Sections) -> SlackConfig {
        sections.get_or_default(SECTION)
    }

    /// The Web API's base URL: the section's, else Slack's.
    pub fn api_url(&self) -> &str {
        self.api_url
            .as_deref()
            .unwrap_or(super::api::DEFAULT_API_URL)
    }

    /// Pace calls under `key` (a token and channel) as configured.
    pub fn pace(&self, key: String) -> Pace {
        Pace {
            key,
            every: self.pace,
            burst: self.burst,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    /// GitHub login → Slack user id, for the `slack_mention` filter.
    #[serde(default)]
    users: BTreeMap<String, String>,
    /// At most one message per this period per token and channel, after a burst.
    pace: Option<Spanned<String>>,
    burst: Option<Spanned<u32>>,
    /// The Web API's base URL for Slack actions without their own `api_url`.
    api_url: Option<Spanned<String>>,
}

pub fn build(
    item: Option<Item<'_>>,
    context: &SectionContext<'_>,
    diagnostics: &mut Diagnostics,
) -> Arc<dyn Any + Send + Sync> {
    let raw: RawSlack = document::section(item, diagnostics);
    let defaults = SlackConfig::default();
    let pace = diagnostics
        .take(units::optional_duration(&raw.pace, defaults.pace))
        .unwrap_or(defaults.pace);
    let burst = match &raw.burst {
        Some(burst) if *burst.get_ref() == 0 => {
            diagnostics.push(Diagnostic::error(
                burst.span(),
                "`burst` must be at least 1",
            ));
            defaults.burst
        }
        Some(burst) => *burst.get_ref(),
        None => defaults.burst,
    };
    let api_url = context.resolve(&raw.api_url, diagnostics);
    Arc::new(SlackConfig {
        pace,
        burst,
        users: raw.users,
        api_url,
    })
}

pub fn options() -> Vec<String> {
    keys::keys_of::<RawSlack>()
}

#[cfg(test)]
mod tests {
    use crate::action::NoRefs;
    use crate::config::Config;
    use crate::integrations::test_support::{config_problems, load_config, plan_event};
    use serde_json::json;

    /// `[slack]` with `section`, a Slack action of each kind without its own `api_url`, and
    /// one with it.
    fn config(section: &str) -> String {
        format!(
            r#"
[secrets]
bot = "xoxb-1"

[slack]
{section}

[actions.post]
kind = "slack"
token = "bot"
channel = "C1"
text = "hello"

[actions.own]
kind = "slack"
token = "bot"
channel = "C1"
text = "hello"
api_url = "http://own.test/api"

[actions.retire]
kind = "slack-retire"
token = "bot"
"#
        )
    }

    async fn posted_to(config: &Config, action: &str) -> String {
        let plan = plan_event(config, action, &NoRefs, ("github", "push"), &json!({})).await;
        plan.requests[0].url.to_string()
    }

    /// Where `herald check --online` asks about the action's token.
    fn checked_at(config: &Config, action: &str) -> String {
        let checks = config.actions[action].action.credential_checks();
        checks[0].request.url.to_string()
    }

    #[tokio::test]
    async fn the_sections_api_url_serves_every_action_without_its_own() {
        let config = load_config(&config(r#"api_url = "http://proxy.test/api/""#)).unwrap();
        assert_eq!(
            posted_to(&config, "post").await,
            "http://proxy.test/api/chat.postMessage"
        );
        assert_eq!(
            checked_at(&config, "retire"),
            "http://proxy.test/api/auth.test"
        );
        // The action's own wins.
        assert_eq!(
            posted_to(&config, "own").await,
            "http://own.test/api/chat.postMessage"
        );
        assert_eq!(checked_at(&config, "own"), "http://own.test/api/auth.test");
    }

    #[tokio::test]
    async fn without_either_slack_is_called() {
        let config = load_config(&config("")).unwrap();
        assert_eq!(
            posted_to(&config, "post").await,
            "https://slack.com/api/chat.postMessage"
        );
        assert_eq!(
            checked_at(&config, "retire"),
            "https://slack.com/api/auth.test"
        );
    }

    #[test]
    fn an_unset_variable_in_the_sections_url_is_one_error() {
        let problems = config_problems(&config(r#"api_url = "${env:SLACK_PROXY}""#));
        let errors = problems.lines().filter(|line| line.contains(": error:"));
        assert_eq!(errors.count(), 1, "{problems}");
        assert!(
            problems.contains("environment variable SLACK_PROXY is not set"),
            "{problems}"
        );
    }
}
