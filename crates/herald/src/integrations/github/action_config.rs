//! Options of the GitHub actions. Every one takes `token` (a secret name) or `app` (a
//! GitHub App: `{ id, installation, private_key }`), `repository` (`owner/name`, a
//! template), `api_url` (GitHub Enterprise) and `api_version` — each, when unset, from
//! `[github]`, else GitHub's.

use super::action::{Client, DEPLOYMENT_REF_KIND, Field, FieldKind, GithubAction, Operation};
use super::auth::AppOptions;
use super::endpoint::{Endpoint, EndpointOptions};
use crate::action::{Action, OrderingKey};
use crate::core::template::Escape;
use crate::kit::ActionCommon;
use crate::kit::build::Builder;
use crate::kit::document::{self, Item};
use crate::kit::keys::keys_of;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;
use toml::Spanned;

pub const DISPATCH: &str = "github-dispatch";
pub const COMMIT_STATUS: &str = "github-status";
pub const DEPLOYMENT: &str = "github-deployment";
pub const DEPLOYMENT_STATUS: &str = "github-deployment-status";

const CLIENT_KEYS: &[&str] = &["token", "app", "repository", "api_url", "api_version"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientOptions {
    token: Option<Spanned<String>>,
    app: Option<Spanned<AppOptions>>,
    repository: Spanned<String>,
    api_url: Option<Spanned<String>>,
    api_version: Option<String>,
}

/// `event_type` and `client_payload` (a JSON template).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DispatchOptions {
    event_type: Spanned<String>,
    client_payload: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusOptions {
    sha: Spanned<String>,
    state: Spanned<String>,
    target_url: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    context: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentOptions {
    #[serde(rename = "ref")]
    git_ref: Spanned<String>,
    key: Option<Spanned<String>>,
    environment: Option<Spanned<String>>,
    task: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    payload: Option<Spanned<String>>,
    auto_merge: Option<bool>,
    required_contexts: Option<Vec<String>>,
    transient_environment: Option<bool>,
    production_environment: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentStatusOptions {
    key: Spanned<String>,
    state: Spanned<String>,
    target_url: Option<Spanned<String>>,
    log_url: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    environment: Option<Spanned<String>>,
    environment_url: Option<Spanned<String>>,
    auto_inactive: Option<bool>,
}

pub fn build_dispatch(
    item: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let (client, own) = client(item, common, builder)?;
    let options: DispatchOptions = builder.options(own)?;
    let mut fields = Fields::default();
    fields.text(builder, "event_type", Some(&options.event_type));
    fields.json(builder, "client_payload", options.client_payload.as_ref());
    fields.finish(DISPATCH, client, Operation::Dispatch, Map::new())
}

pub fn build_status(
    item: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let (client, own) = client(item, common, builder)?;
    let options: StatusOptions = builder.options(own)?;
    let sha = builder.template("sha", &options.sha, Escape::None);
    let mut fields = Fields::default();
    fields.text(builder, "state", Some(&options.state));
    fields.text(builder, "target_url", options.target_url.as_ref());
    fields.text(builder, "description", options.description.as_ref());
    fields.text(builder, "context", options.context.as_ref());
    fields.finish(
        COMMIT_STATUS,
        client,
        Operation::CommitStatus { sha: sha? },
        Map::new(),
    )
}

pub fn build_deployment(
    item: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let (client, own) = client(item, common, builder)?;
    let options: DeploymentOptions = builder.options(own)?;
    let key = options
        .key
        .as_ref()
        .map(|key| builder.template("key", key, Escape::None));
    let mut fields = Fields::default();
    fields.text(builder, "ref", Some(&options.git_ref));
    fields.text(builder, "environment", options.environment.as_ref());
    fields.text(builder, "task", options.task.as_ref());
    fields.text(builder, "description", options.description.as_ref());
    fields.json(builder, "payload", options.payload.as_ref());
    let mut fixed = Map::new();
    insert(
        &mut fixed,
        "auto_merge",
        options.auto_merge.map(Value::from),
    );
    insert(
        &mut fixed,
        "required_contexts",
        options.required_contexts.map(Value::from),
    );
    insert(
        &mut fixed,
        "transient_environment",
        options.transient_environment.map(Value::from),
    );
    insert(
        &mut fixed,
        "production_environment",
        options.production_environment.map(Value::from),
    );
    let key = key.map(|k| k.ok_or(())).transpose().ok()?;
    fields.finish(DEPLOYMENT, client, Operation::Deployment { key }, fixed)
}

pub fn build_deployment_status(
    item: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let (client, own) = client(item, common, builder)?;
    let options: DeploymentStatusOptions = builder.options(own)?;
    let key = builder.template("key", &options.key, Escape::None);
    let mut fields = Fields::default();
    fields.text(builder, "state", Some(&options.state));
    fields.text(builder, "target_url", options.target_url.as_ref());
    fields.text(builder, "log_url", options.log_url.as_ref());
    fields.text(builder, "description", options.description.as_ref());
    fields.text(builder, "environment", options.environment.as_ref());
    fields.text(builder, "environment_url", options.environment_url.as_ref());
    let mut fixed = Map::new();
    insert(
        &mut fixed,
        "auto_inactive",
        options.auto_inactive.map(Value::from),
    );
    fields.finish(
        DEPLOYMENT_STATUS,
        client,
        Operation::DeploymentStatus { key: key? },
        fixed,
    )
}

/// The shared client options, and the rest of the table for the operation's own options.
fn client<'i>(
    item: Item<'i>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<(Client, Item<'i>)> {
    let span = item.span();
    let table = builder
        .diagnostics
        .take(document::table(&item, "an action"))?;
    let (shared, own) = document::split(&table, span.clone(), CLIENT_KEYS);
    let options: ClientOptions = builder.options(shared)?;
    let repository = builder.template("repository", &options.repository, Escape::None);
    let endpoint = Endpoint::build(
        builder,
        span,
        EndpointOptions {
            token: options.token.as_ref(),
            app: options.app.as_ref(),
            api_url: options.api_url.as_ref(),
            api_version: options.api_version.as_ref(),
        },
    );
    let client = Client {
        endpoint: endpoint?,
        repository: repository?,
        timeout: common.timeout,
    };
    Some((client, own))
}

/// Body fields collected while building; a failed template leaves the action unbuilt.
#[derive(Default)]
struct Fields {
    fields: Vec<Field>,
    failed: bool,
}

impl Fields {
    fn text(
        &mut self,
        builder: &mut Builder<'_>,
        name: &'static str,
        source: Option<&Spanned<String>>,
    ) {
        self.add(builder, name, source, FieldKind::Text, Escape::None);
    }

    /// A JSON template: printed values are JSON-escaped.
    fn json(
        &mut self,
        builder: &mut Builder<'_>,
        name: &'static str,
        source: Option<&Spanned<String>>,
    ) {
        self.add(builder, name, source, FieldKind::Json, Escape::Json);
    }

    fn add(
        &mut self,
        builder: &mut Builder<'_>,
        name: &'static str,
        source: Option<&Spanned<String>>,
        kind: FieldKind,
        escape: Escape,
    ) {
        let Some(source) = source else { return };
        match builder.template(name, source, escape) {
            Some(template) => self.fields.push(Field {
                name,
                template,
                kind,
            }),
            None => self.failed = true,
        }
    }

    fn finish(
        self,
        kind: &'static str,
        client: Client,
        operation: Operation,
        fixed: Map<String, Value>,
    ) -> Option<Arc<dyn Action>> {
        if self.failed {
            return None;
        }
        let ordering = operation.deployment_key().map(|key| OrderingKey {
            prefix: format!("{DEPLOYMENT_REF_KIND}:"),
            template: key.clone(),
        });
        Some(Arc::new(GithubAction {
            kind,
            client,
            operation,
            fixed,
            fields: self.fields,
            ordering,
        }))
    }
}

fn insert(map: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    if let Some(value) = value {
        map.insert(name.to_string(), value);
    }
}

fn with_client(own: Vec<String>) -> Vec<String> {
    let mut keys = keys_of::<ClientOptions>();
    keys.extend(own);
    keys
}

pub fn dispatch_options() -> Vec<String> {
    with_client(keys_of::<DispatchOptions>())
}

pub fn status_options() -> Vec<String> {
    with_client(keys_of::<StatusOptions>())
}

pub fn deployment_options() -> Vec<String> {
    with_client(keys_of::<DeploymentOptions>())
}

pub fn deployment_status_options() -> Vec<String> {
    with_client(keys_of::<DeploymentStatusOptions>())
}

#[cfg(test)]
mod tests {
    use crate::action::{NoRefs, Plan};
    use crate::config::Config;
    use crate::integrations::test_support::{config_problems, load_config, plan_event};
    use serde_json::json;
    use std::sync::Arc;

    const KEY: &str =
        include_str!("../../../tests/it/testdata/github-app/test-only-private-key.pem");

    /// A configuration with `auth` as the status action's credential lines.
    fn config(auth: &str) -> String {
        format!(
            r#"
[secrets]
gh = "ghp_token"
app_key = '''{KEY}'''
not_a_key = "ghp_not_a_pem_at_all"

[actions.status]
kind = "github-status"
{auth}
repository = "acme/app"
api_url = "https://github.example.com/api/v3"
sha = "abc"
state = "pending"

[actions.deployment]
kind = "github-deployment"
app = {{ id = 123, installation = 456, private_key = "app_key" }}
repository = "acme/app"
api_url = "https://github.example.com/api/v3"
ref = "main"
"#
        )
    }

    fn load(text: &str) -> Result<Config, String> {
        load_config(text)
    }

    async fn plan(config: &Config, action: &str) -> Plan {
        plan_event(config, action, &NoRefs, ("github", "push"), &json!({})).await
    }

    #[test]
    fn token_and_app_are_one_or_the_other() {
        let both = config(
            r#"token = "gh"
app = { id = 123, installation = 456, private_key = "app_key" }"#,
        );
        let error = config_problems(&both);
        assert!(error.contains("set `token` or `app`, not both"), "{error}");
        // The diagnostic points at the action's table.
        let table = both.lines().position(|line| line == "[actions.status]");
        let at = format!("herald.toml:{}:1: error", table.unwrap() + 1);
        assert!(error.contains(&at), "{error}");

        let error = config_problems(&config(""));
        assert!(error.contains("needs `token` or `app`"), "{error}");
    }

    #[test]
    fn an_app_key_that_is_not_a_pem_is_named_but_never_shown() {
        let text = config(r#"app = { id = 1, installation = 2, private_key = "not_a_key" }"#);
        let error = config_problems(&text);
        assert!(
            error.contains("`not_a_key` is not an RSA private key"),
            "{error}"
        );
        assert!(!error.contains("ghp_not_a_pem_at_all"), "{error}");

        let text = config(r#"app = { id = 1, installation = 2, private_key = "missing" }"#);
        let error = config_problems(&text);
        assert!(error.contains("undefined secret `missing`"), "{error}");

        let text = config(r#"app = { id = 1, installation = 2, key = "app_key" }"#);
        assert!(
            config_problems(&text).contains("unknown key `key`"),
            "{}",
            config_problems(&text)
        );
    }

    #[tokio::test]
    async fn actions_of_one_installation_share_its_token_and_show_it_redacted() {
        let config = load(&config(
            r#"app = { id = 123, installation = 456, private_key = "app_key" }"#,
        ))
        .unwrap();
        let status = plan(&config, "status").await;
        let deployment = plan(&config, "deployment").await;
        let shared = |plan: &Plan| {
            let authorize = plan.requests[0].authorize.as_ref().expect("authorized");
            Arc::as_ptr(authorize).cast::<()>()
        };
        assert_eq!(shared(&status), shared(&deployment));
        assert!(
            !status.requests[0]
                .headers
                .iter()
                .any(|(name, _)| name == http::header::AUTHORIZATION),
            "the header is set when the request is sent"
        );
        let shown = status.describe();
        assert_eq!(
            shown["requests"][0]["headers"]["authorization"],
            "Bearer [installation token]"
        );
        assert!(!shown.to_string().contains("PRIVATE KEY"));
        let action = &config.actions["status"].action;
        assert_eq!(action.credential_secrets(), ["app_key"]);
        assert!(action.credential_runbook().before[1].contains("Private keys"));
    }

    #[test]
    fn a_token_is_still_a_bearer() {
        let config = load(&config(r#"token = "gh""#)).unwrap();
        let action = &config.actions["status"].action;
        assert_eq!(action.credential_secrets(), ["gh"]);
        assert!(action.credential_runbook().before[0].contains("machine user"));
    }
}
