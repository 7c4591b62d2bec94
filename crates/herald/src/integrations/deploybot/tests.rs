//! The `deploybot` kind's options as `check` reads them, and plans made from refs without a
//! store (the end-to-end workflow is in tests/it/deploybot.rs).

use super::state;
use crate::action::{Plan, RefLookup, StoredRef};
use crate::config::Config;
use crate::integrations::test_support::{config_problems, load_config, plan_event};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CONFIG: &str = r#"
[secrets]
signing = "s"
slack = "xoxb"
github = "ghp"
circle = "cci"

[sources.slack]
kind = "slack"
secrets = ["signing"]
respond_with = "bot"

[rules.all]
sources = ["slack"]
actions = ["bot"]

[actions.bot]
kind = "deploybot"
slack = { token = "slack", api_url = "http://slack.test/api" }
github = { token = "github", api_url = "http://github.test" }
circleci = { token = "circle", api_url = "http://circleci.test"EXTRA }
"#;

fn config(extra: &str) -> Result<Config, String> {
    load_config(&CONFIG.replace("EXTRA", extra))
}

#[test]
fn a_full_configuration_loads() {
    let config = config(", trigger = \"job\", workflow = \"deploy\"").unwrap();
    let bot = &config.actions["bot"];
    assert_eq!(bot.kind, "deploybot");
    assert!(bot.action.responder().is_some());
    assert_eq!(config.sources["slack"].respond_with.as_deref(), Some("bot"));
    let mut secrets = bot.action.credential_secrets();
    secrets.sort();
    assert_eq!(secrets, ["circle", "github", "slack"]);
}

#[test]
fn mistakes_are_named_where_they_are() {
    let error = config_problems(&CONFIG.replace("EXTRA", ", trigger = \"webhook\""));
    assert!(error.contains("unknown `trigger` \"webhook\""), "{error}");
    let error = config_problems(
        &CONFIG
            .replace("EXTRA", "")
            .replace("[actions.bot]", "[actions.bot]\ncommand = \"cimon\""),
    );
    assert!(error.contains("starts with `/`"), "{error}");
    let error = config_problems(
        &CONFIG
            .replace("EXTRA", "")
            .replace("token = \"github\", ", ""),
    );
    assert!(error.contains("needs `token` or `app`"), "{error}");
    let error = config_problems(&CONFIG.replace("EXTRA", "").replace(
        "[actions.bot]",
        "[actions.bot]\npush = [{ ref = \"refs/heads/[main\", environment = \"preview\" }]",
    ));
    assert!(error.contains("bad pattern"), "{error}");
    let error = config_problems(
        &CONFIG
            .replace("EXTRA", "")
            .replace("respond_with = \"bot\"", "respond_with = \"nobody\""),
    );
    assert!(
        error.contains("`respond_with` names `nobody`, which is not an action"),
        "{error}"
    );
}

#[test]
fn only_an_action_that_can_answer_may_respond() {
    let text = CONFIG
        .replace("EXTRA", "")
        .replace("respond_with = \"bot\"", "respond_with = \"audit\"")
        + "\n[actions.audit]\nkind = \"log\"\n";
    let error = config_problems(&text);
    assert!(
        error.contains("a `log` action, which cannot answer requests"),
        "{error}"
    );
}

/// Refs held in memory.
#[derive(Default)]
struct Refs(BTreeMap<(String, String), (Option<String>, Value)>);

impl Refs {
    fn with(mut self, kind: &str, key: &str, group: Option<&str>, data: Value) -> Self {
        self.0.insert(
            (kind.to_string(), key.to_string()),
            (group.map(str::to_string), data),
        );
        self
    }
}

#[async_trait]
impl RefLookup for Refs {
    async fn get(&self, kind: &str, key: &str) -> Result<Option<Value>, String> {
        Ok(self
            .0
            .get(&(kind.to_string(), key.to_string()))
            .map(|(_, data)| data.clone()))
    }

    async fn group(&self, kind: &str, group: &str) -> Result<Vec<(String, Value)>, String> {
        Ok(self
            .0
            .iter()
            .filter(|((k, _), (g, _))| k == kind && g.as_deref() == Some(group))
            .map(|((_, key), (_, data))| (key.clone(), data.clone()))
            .collect())
    }

    async fn all(&self, _kind: &str) -> Result<Vec<StoredRef>, String> {
        Ok(Vec::new())
    }
}

async fn plan(
    config: &Config,
    refs: &Refs,
    source: &str,
    event_type: &str,
    payload: Value,
) -> Plan {
    plan_event(config, "bot", refs, (source, event_type), &payload).await
}

fn set_up() -> Refs {
    Refs::default()
        .with(
            state::REPOSITORY,
            "acme/web",
            None,
            json!({"channel": "C1"}),
        )
        .with(
            state::CHANNEL,
            "C1",
            None,
            json!({"repository": "acme/web", "settings": {"basedomain": "example.com"}}),
        )
}

#[tokio::test]
async fn a_deploy_command_plans_the_deployment_then_its_message() {
    let config = config("").unwrap();
    let command = json!({"command": "/cimon", "text": "deploy main to staging", "channel_id": "C1", "user_id": "U1"});
    let planned = plan(&config, &set_up(), "slack", "slash_command", command).await;
    let shown = planned.describe();
    let requests = shown["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2, "{shown}");
    assert_eq!(
        requests[0]["url"],
        "http://github.test/repos/acme/web/deployments"
    );
    assert_eq!(requests[0]["headers"]["authorization"], "Bearer [redacted]");
    let body: Value = serde_json::from_str(requests[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["environment"], "staging");
    assert_eq!(body["payload"]["url"], "https://staging.example.com/");
    assert_eq!(requests[1]["url"], "http://slack.test/api/chat.postMessage");

    // Other commands, and a channel not set up, send nothing.
    let help = json!({"command": "/cimon", "text": "help", "channel_id": "C1", "user_id": "U1"});
    assert!(
        plan(&config, &set_up(), "slack", "slash_command", help)
            .await
            .requests
            .is_empty()
    );
    let elsewhere = json!({"command": "/cimon", "text": "deploy main to staging", "channel_id": "C9", "user_id": "U1"});
    let nothing = plan(&config, &set_up(), "slack", "slash_command", elsewhere).await;
    assert!(nothing.requests.is_empty());
    assert_eq!(
        nothing.message.as_deref(),
        Some("channel C9 was not set up when the command came")
    );
}

#[tokio::test]
async fn a_job_trigger_shows_its_token_redacted() {
    let config = config(", trigger = \"job\"").unwrap();
    let refs = set_up().with(
        state::DEPLOYMENT,
        "acme/web#1",
        Some("acme/web"),
        json!({"repository": "acme/web", "environment": "staging", "git_ref": "refs/heads/main", "deployment_id": 7, "channel": "C1", "ts": "1.2"}),
    );
    let event = json!({
        "action": "created",
        "deployment": {"id": 7, "sha": "0123456789abcdef", "ref": "main", "environment": "staging", "payload": {"herald": "acme/web#1"}},
        "repository": {"full_name": "acme/web"},
    });
    let shown = plan(&config, &refs, "github", "deployment", event)
        .await
        .describe();
    let requests = shown["requests"].as_array().unwrap();
    assert_eq!(
        requests[0]["url"],
        "http://circleci.test/api/v1.1/project/github/acme/web?circle-token=[redacted]"
    );
    assert!(!shown.to_string().contains("cci"), "{shown}");
    assert_eq!(requests[1]["url"], "http://slack.test/api/chat.update");
}

/// Where `herald check --online` asks about each of the bot's credentials.
fn checked_at(config: &Config) -> Vec<String> {
    let checks = config.actions["bot"].action.credential_checks();
    checks.iter().map(|c| c.request.url.to_string()).collect()
}

#[tokio::test]
async fn the_integrations_sections_give_the_urls_a_table_leaves_out() {
    let sections = r#"
[slack]
api_url = "http://slack.proxy/api"

[github]
api_url = "https://ghe.test/api/v3"

[circleci]
api_url = "http://circleci.proxy"
"#;
    let bare = CONFIG
        .replace(", api_url = \"http://slack.test/api\"", "")
        .replace(", api_url = \"http://github.test\"", "")
        .replace(", api_url = \"http://circleci.test\"", "");
    let config = load_config(&format!("{sections}{}", bare.replace("EXTRA", ""))).unwrap();
    assert_eq!(
        checked_at(&config),
        [
            "http://slack.proxy/api/auth.test",
            "https://ghe.test/api/v3/rate_limit",
            "http://circleci.proxy/api/v2/me"
        ]
    );
    let command = json!({"command": "/cimon", "text": "deploy main to staging", "channel_id": "C1", "user_id": "U1"});
    let shown = plan(&config, &set_up(), "slack", "slash_command", command)
        .await
        .describe();
    assert_eq!(
        shown["requests"][0]["url"],
        "https://ghe.test/api/v3/repos/acme/web/deployments"
    );
    assert_eq!(
        shown["requests"][1]["url"],
        "http://slack.proxy/api/chat.postMessage"
    );

    // A table's own URL wins over its section's.
    let config = load_config(&format!("{sections}{}", CONFIG.replace("EXTRA", ""))).unwrap();
    assert_eq!(
        checked_at(&config),
        [
            "http://slack.test/api/auth.test",
            "http://github.test/rate_limit",
            "http://circleci.test/api/v2/me"
        ]
    );
}
