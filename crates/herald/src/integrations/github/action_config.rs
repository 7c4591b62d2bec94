//! Options of the GitHub actions. Every one takes `token` (a secret name), `repository`
//! (`owner/name`, a template), `api_url` (GitHub Enterprise) and `api_version`.

use super::action::{Client, DEPLOYMENT_REF_KIND, Field, FieldKind, GithubAction, Operation};
use super::api::{DEFAULT_API_URL, DEFAULT_API_VERSION};
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

const CLIENT_KEYS: &[&str] = &["token", "repository", "api_url", "api_version"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientOptions {
    token: Spanned<String>,
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
    let (shared, own) = document::split(&table, span, CLIENT_KEYS);
    let options: ClientOptions = builder.options(shared)?;
    let token = builder.secret(&options.token);
    let repository = builder.template("repository", &options.repository, Escape::None);
    let api_url = match &options.api_url {
        Some(url) => builder.interpolate(url),
        None => Some(DEFAULT_API_URL.to_string()),
    };
    let client = Client {
        token: token?,
        api_url: api_url?,
        api_version: options
            .api_version
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_string()),
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
