//! `[circleci]`: the API's base URL (a proxy, a test fake) every `circleci-pipeline`
//! action — and deploybot's `circleci` — uses unless it sets its own.

use super::pipeline::DEFAULT_API_URL;
use crate::kit::diagnostic::Diagnostics;
use crate::kit::document::{self, Item};
use crate::kit::{SectionContext, Sections, keys};
use serde::Deserialize;
use std::any::Any;
use std::sync::Arc;
use toml::Spanned;

pub const SECTION: &str = "circleci";

/// `[circleci]` as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CircleciConfig {
    /// The API's base URL for actions without their own `api_url`.
    pub api_url: Option<String>,
}

impl CircleciConfig {
    /// The section as read, or its defaults.
    pub fn of(sections: &Sections) -> CircleciConfig {
        sections.get_or_default(SECTION)
    }

    /// The API's base URL: the section's, else CircleCI's.
    pub fn api_url(&self) -> &str {
        self.api_url.as_deref().unwrap_or(DEFAULT_API_URL)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCircleci {
    /// The API's base URL for CircleCI actions without their own `api_url`.
    api_url: Option<Spanned<String>>,
}

pub fn build(
    item: Option<Item<'_>>,
    context: &SectionContext<'_>,
    diagnostics: &mut Diagnostics,
) -> Arc<dyn Any + Send + Sync> {
    let raw: RawCircleci = document::section(item, diagnostics);
    Arc::new(CircleciConfig {
        api_url: context.resolve(&raw.api_url, diagnostics),
    })
}

pub fn options() -> Vec<String> {
    keys::keys_of::<RawCircleci>()
}

#[cfg(test)]
mod tests {
    use crate::action::NoRefs;
    use crate::config::Config;
    use crate::integrations::test_support::{load_config, plan_event};
    use serde_json::json;

    fn config(section: &str) -> String {
        format!(
            r#"
[secrets]
circle = "cci"

[circleci]
{section}

[actions.pipeline]
kind = "circleci-pipeline"
token = "circle"
project_slug = "gh/acme/app"
branch = "main"

[actions.own]
kind = "circleci-pipeline"
token = "circle"
project_slug = "gh/acme/app"
branch = "main"
api_url = "http://own.test"
"#
        )
    }

    async fn triggered_at(config: &Config, action: &str) -> String {
        let plan = plan_event(config, action, &NoRefs, ("github", "push"), &json!({})).await;
        plan.requests[0].url.to_string()
    }

    #[tokio::test]
    async fn the_sections_api_url_serves_every_action_without_its_own() {
        let config = load_config(&config(r#"api_url = "http://proxy.test""#)).unwrap();
        assert_eq!(
            triggered_at(&config, "pipeline").await,
            "http://proxy.test/api/v2/project/gh/acme/app/pipeline"
        );
        let checks = config.actions["pipeline"].action.credential_checks();
        assert_eq!(
            checks[0].request.url.as_str(),
            "http://proxy.test/api/v2/me"
        );
        // The action's own wins.
        assert_eq!(
            triggered_at(&config, "own").await,
            "http://own.test/api/v2/project/gh/acme/app/pipeline"
        );
    }

    #[tokio::test]
    async fn without_either_circleci_is_called() {
        let config = load_config(&config("")).unwrap();
        assert_eq!(
            triggered_at(&config, "pipeline").await,
            "https://circleci.com/api/v2/project/gh/acme/app/pipeline"
        );
    }
}
