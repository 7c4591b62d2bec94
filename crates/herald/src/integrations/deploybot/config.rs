//! `kind = "deploybot"` options: the command, the Slack, GitHub and CircleCI credentials
//! (secret names), the environments `deploy` accepts and which pushes deploy where. Each
//! table's `api_url` (and `github`'s `api_version`), when unset, is its integration's
//! section's (`[slack]`, `[github]`, `[circleci]`), else the provider's.

use super::DeployBot;
use super::clients::{CircleciClient, GithubClient, SlackClient, Trigger};
use super::routing::{Environment, PushRule, Routing};
use crate::action::{Action, OrderingKey};
use crate::core::template::Escape;
use crate::integrations::circleci::settings::CircleciConfig;
use crate::integrations::github::api::DEFAULT_API_URL as GITHUB_API_URL;
use crate::integrations::github::auth::AppOptions;
use crate::integrations::github::endpoint::{Endpoint, EndpointOptions};
use crate::integrations::slack::settings::SlackConfig;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::kit::{ActionCommon, keys};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use toml::Spanned;

pub const KIND: &str = "deploybot";
pub const DEFAULT_COMMAND: &str = "/cimon";
pub const DEFAULT_DESCRIPTION: &str = "Automatically created by herald";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// The slash command answered (`/deploy X` is always read as `deploy X`).
    command: Option<Spanned<String>>,
    /// The description of deployments made for GitHub events.
    description: Option<String>,
    slack: Spanned<SlackOptions>,
    github: Spanned<GithubOptions>,
    circleci: Spanned<CircleciOptions>,
    /// The environments `deploy` accepts; deploybot's four when unset.
    environments: Option<BTreeMap<String, EnvironmentOptions>>,
    /// Which pushes deploy where, the first match deciding; deploybot's mapping when unset.
    push: Option<Vec<PushOptions>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlackOptions {
    token: Spanned<String>,
    api_url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GithubOptions {
    token: Option<Spanned<String>>,
    app: Option<Spanned<AppOptions>>,
    api_url: Option<Spanned<String>>,
    api_version: Option<String>,
    /// Where commits are linked to; `https://github.com` with the default API.
    web_url: Option<Spanned<String>>,
    /// Status contexts a deployment needs; GitHub checks them all when unset.
    required_contexts: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CircleciOptions {
    token: Spanned<String>,
    api_url: Option<Spanned<String>>,
    /// `pipeline` (API v2, default) or `job` (API v1.1 `build_parameters`).
    trigger: Option<Spanned<String>>,
    /// Only this workflow's completion reports the result.
    workflow: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentOptions {
    default_ref: Option<String>,
    #[serde(default)]
    tags: bool,
    refs: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushOptions {
    #[serde(rename = "ref")]
    git_ref: Spanned<String>,
    environment: String,
}

pub fn build(
    item: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let span = item.span();
    let options: Options = builder.options(item)?;
    let command = match &options.command {
        Some(command) if !command.get_ref().starts_with('/') => {
            builder.error(
                command.span(),
                "`command` is a slash command and starts with `/`, e.g. \"/cimon\"",
            );
            None
        }
        Some(command) => Some(command.get_ref().clone()),
        None => Some(DEFAULT_COMMAND.to_string()),
    };
    let slack = slack(&options.slack, builder);
    let github = github(&options.github, builder);
    let circleci = circleci(&options.circleci, builder);
    let routing = routing(&options, builder);
    let ordering = ordering(builder, span);
    let web_url = web_url(&options.github, github.as_ref(), builder);
    Some(Arc::new(DeployBot {
        command: command?,
        description: options
            .description
            .clone()
            .unwrap_or_else(|| DEFAULT_DESCRIPTION.to_string()),
        routing: routing?,
        slack: slack?,
        github: github?,
        circleci: circleci?,
        web_url: web_url?,
        ordering: ordering?,
        timeout: common.timeout,
    }))
}

/// Deliveries of one repository (GitHub and CircleCI events) run one at a time, as do the
/// commands of one channel: a deployment's steps read what the earlier ones remembered.
/// Other repositories' deployments go on meanwhile.
const ORDERING: &str = "{% if event.repository %}{{ event.repository.full_name }}\
{% elif event.project %}{{ event.project.slug | replace('github/', '') | replace('gh/', '') }}\
{% else %}{{ event.channel_id }}{% endif %}";

fn ordering(builder: &mut Builder<'_>, span: std::ops::Range<usize>) -> Option<OrderingKey> {
    let text = Spanned::new(span, ORDERING.to_string());
    let template = builder.template_text("ordering", &text, Escape::None)?;
    Some(OrderingKey {
        prefix: format!("{KIND}:{}:", builder.scope),
        template,
    })
}

fn slack(options: &Spanned<SlackOptions>, builder: &mut Builder<'_>) -> Option<SlackClient> {
    let options = options.get_ref();
    let token = builder.secret(&options.token);
    let settings = SlackConfig::of(builder.sections);
    let api_url = builder.url_or(options.api_url.as_ref(), settings.api_url());
    Some(SlackClient {
        token: token?,
        api_url: api_url?,
        settings,
    })
}

fn github(options: &Spanned<GithubOptions>, builder: &mut Builder<'_>) -> Option<GithubClient> {
    let span = options.span();
    let options = options.get_ref();
    let endpoint = Endpoint::build(
        builder,
        span,
        EndpointOptions {
            token: options.token.as_ref(),
            app: options.app.as_ref(),
            api_url: options.api_url.as_ref(),
            api_version: options.api_version.as_ref(),
        },
    )?;
    Some(GithubClient {
        endpoint,
        required_contexts: options.required_contexts.clone(),
    })
}

/// Commit links: the configured web URL, else github.com for the default API, else the
/// API's host (GitHub Enterprise serves its API under `/api/v3`).
fn web_url(
    options: &Spanned<GithubOptions>,
    github: Option<&GithubClient>,
    builder: &mut Builder<'_>,
) -> Option<String> {
    let options = options.get_ref();
    if let Some(web) = &options.web_url {
        return builder.interpolate(web);
    }
    // The API URL as the client resolved it (a problem with it is reported there).
    let api = &github?.endpoint.api_url;
    Some(match api.trim_end_matches('/') {
        GITHUB_API_URL => "https://github.com".to_string(),
        other => other.trim_end_matches("/api/v3").to_string(),
    })
}

fn circleci(
    options: &Spanned<CircleciOptions>,
    builder: &mut Builder<'_>,
) -> Option<CircleciClient> {
    let options = options.get_ref();
    let token = builder.secret(&options.token);
    let section = CircleciConfig::of(builder.sections);
    let api_url = builder.url_or(options.api_url.as_ref(), section.api_url());
    let trigger = match options
        .trigger
        .as_ref()
        .map(|t| (t.get_ref().as_str(), t.span()))
    {
        None | Some(("pipeline", _)) => Some(Trigger::Pipeline),
        Some(("job", _)) => Some(Trigger::Job),
        Some((other, span)) => {
            builder.error(
                span,
                format!("unknown `trigger` {other:?}: `pipeline` (API v2) or `job` (API v1.1)"),
            );
            None
        }
    };
    Some(CircleciClient {
        token: token?,
        api_url: api_url?,
        trigger: trigger?,
        workflow: options.workflow.clone(),
    })
}

fn routing(options: &Options, builder: &mut Builder<'_>) -> Option<Routing> {
    let defaults = Routing::default();
    let mut failed = false;
    let mut pattern = |builder: &mut Builder<'_>, text: &Spanned<String>| match glob::Pattern::new(
        text.get_ref(),
    ) {
        Ok(pattern) => Some(pattern),
        Err(error) => {
            builder.error(text.span(), format!("bad pattern: {error}"));
            failed = true;
            None
        }
    };
    let environments = match &options.environments {
        None => defaults.environments,
        Some(environments) => environments
            .iter()
            .map(|(name, options)| {
                let refs = options
                    .refs
                    .as_ref()
                    .and_then(|refs| pattern(builder, refs));
                let environment = Environment {
                    default_ref: options.default_ref.clone(),
                    tags: options.tags,
                    refs,
                };
                (name.clone(), environment)
            })
            .collect(),
    };
    let push = match &options.push {
        None => defaults.push,
        Some(rules) => rules
            .iter()
            .filter_map(|rule| {
                Some(PushRule {
                    pattern: pattern(builder, &rule.git_ref)?,
                    environment: rule.environment.clone(),
                })
            })
            .collect(),
    };
    (!failed).then_some(Routing { environments, push })
}

pub fn options() -> Vec<String> {
    keys::keys_of::<Options>()
}
