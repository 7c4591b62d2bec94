//! What a command needs of its configuration. The commands that send (`serve`, `send`,
//! `test`) need every secret. Those that read and write the store (`events`,
//! `deliveries`, `windows`, `status`, `replay`, `send --dry-run`) need none: loaded with
//! [`Needs::Store`], a secret that cannot be read (an unset `${env:…}`, a missing
//! `${file:…}`) is *absent* instead of an error. Whatever uses it is built with a stand-in
//! value (`Secret::absent`) that such a process never sends; an action that cannot be
//! built from the stand-in (a GitHub App key, a database URL) is kept as a [`StandIn`]
//! whose every plan fails, so the rules and windows that name it keep their shape.

use super::actions::{DEFAULT_TIMEOUT, build_action};
use super::model::ActionConfig;
use crate::action::{Action, ActionInput, Plan, PlanError};
use crate::core::retry::RetryPolicy;
use crate::kit::Catalog;
use crate::kit::build::Builder;
use crate::kit::diagnostic::Diagnostics;
use crate::kit::document::{self, Item};
use crate::secret::Secret;
use async_trait::async_trait;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use toml::Spanned;

/// What a command needs of its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Needs {
    /// Every secret: the commands that send, and `check`.
    #[default]
    Everything,
    /// The store and the routing, not the credentials.
    Store,
}

/// What a [`Needs::Store`] load went without.
#[derive(Debug, Clone, Default)]
pub struct Absent {
    /// Each absent secret, with why it could not be read ("environment variable
    /// SLACK_BOT_TOKEN is not set").
    pub secrets: BTreeMap<String, String>,
    /// The actions kept as stand-ins (`actions.deploy`): built, they would have needed an
    /// absent secret's real value.
    pub stand_ins: BTreeSet<String>,
}

impl Absent {
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `` `slack_bot` (environment variable SLACK_BOT_TOKEN is not set), … ``
    pub fn describe(&self) -> String {
        self.secrets
            .iter()
            .map(|(name, why)| format!("`{name}` ({why})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An action whose kind could not be built without the real value of an absent secret.
/// Only a process that sends nothing has one; planning it fails, naming the secrets.
struct StandIn {
    kind: &'static str,
    secrets: Vec<String>,
}

#[async_trait]
impl Action for StandIn {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn plan(&self, _input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        Err(PlanError::Invalid(format!(
            "needs the secret(s) {}, which could not be read",
            self.secrets
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// `build_action`, or with absent secrets, a [`StandIn`] for an action that could not be
/// built from them (its messages, about the stand-in value, are dropped).
pub(super) fn action_or_stand_in(
    name: &Spanned<String>,
    item: &Item<'_>,
    default_retry: &RetryPolicy,
    catalog: &Catalog,
    builder: &mut Builder<'_>,
    absent: &RefCell<Absent>,
) -> Option<ActionConfig> {
    let secrets = match without_absent(builder, |b| {
        build_action(name, item, default_retry, catalog, b)
    }) {
        Ok(action) => return action,
        Err(secrets) => secrets,
    };
    let kind = document::table(item, "an action")
        .and_then(|table| document::kind(&table, name.span(), "action"))
        .ok()
        .and_then(|kind| catalog.action(kind.get_ref()))
        .map_or("unknown", |kind| kind.name);
    absent
        .borrow_mut()
        .stand_ins
        .insert(format!("actions.{}", name.get_ref()));
    Some(ActionConfig {
        name: name.get_ref().clone(),
        kind,
        action: Arc::new(StandIn { kind, secrets }),
        retry: default_retry.clone(),
        timeout: DEFAULT_TIMEOUT,
    })
}

/// Build one entry. When it uses an absent secret and fails, `Err` names the absent
/// secrets it used and its messages are dropped; otherwise its messages are kept.
fn without_absent<T>(
    builder: &mut Builder<'_>,
    build: impl FnOnce(&mut Builder<'_>) -> Option<T>,
) -> Result<Option<T>, Vec<String>> {
    if !builder.secrets.values().any(Secret::is_absent) {
        return Ok(build(builder));
    }
    let earlier = std::mem::take(&mut *builder.diagnostics);
    let used_earlier = std::mem::take(&mut *builder.used_secrets);
    let built = build(builder);
    let own = std::mem::replace(&mut *builder.diagnostics, earlier);
    let used = std::mem::replace(&mut *builder.used_secrets, used_earlier);
    builder.used_secrets.extend(used.iter().cloned());
    let absent: Vec<String> = used
        .into_iter()
        .filter(|name| builder.secrets.get(name).is_some_and(Secret::is_absent))
        .collect();
    if !absent.is_empty() && (built.is_none() || own.has_errors()) {
        return Err(absent);
    }
    keep(builder.diagnostics, own);
    Ok(built)
}

fn keep(into: &mut Diagnostics, own: Diagnostics) {
    for diagnostic in own.into_vec() {
        into.push(diagnostic);
    }
}

#[cfg(test)]
mod tests {
    use super::Needs;
    use crate::action::{ActionInput, NoRefs};
    use crate::config::from_text_needing;
    use std::path::Path;
    use std::sync::Arc;

    /// A Slack token and a GitHub App key from the environment, neither set.
    const CONFIG: &str = r##"
[secrets]
pact = "${env:PACT_TOKEN}"
slack = "${env:SLACK_TOKEN}"
github_key = "${file:missing-app-key.pem}"

[sources.pact]
kind = "token"
secrets = ["pact"]

[rules.digest]
sources = ["pact"]
actions = ["post", "dispatch"]
window = { quiet = "10s" }

[actions.post]
kind = "slack"
token = "slack"
channel = "#ci"
text = "{{ window.events | length }} events"

[actions.dispatch]
kind = "github-dispatch"
app = { id = 1, installation = 2, private_key = "github_key" }
repository = "acme/app"
event_type = "verify"
"##;

    fn load(needs: Needs) -> Result<crate::config::Loaded, crate::kit::diagnostic::Report> {
        from_text_needing(
            Path::new("herald.toml"),
            CONFIG,
            Arc::new(|_| None),
            &crate::integrations::catalog(),
            needs,
        )
    }

    #[test]
    fn everything_names_each_secret_that_cannot_be_read() {
        let report = load(Needs::Everything).err().expect("errors");
        let errors: Vec<_> = report.errors().map(|d| d.message.clone()).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors.iter().any(|e| e.contains("PACT_TOKEN")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("SLACK_TOKEN")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("missing-app-key.pem")),
            "{errors:?}"
        );
    }

    #[tokio::test]
    async fn store_goes_without_them_and_keeps_every_action_and_rule() {
        let loaded = load(Needs::Store).unwrap_or_else(|report| panic!("{report}"));
        let absent = &loaded.absent;
        assert_eq!(
            absent.secrets.keys().collect::<Vec<_>>(),
            ["github_key", "pact", "slack"]
        );
        assert!(absent.secrets["slack"].contains("SLACK_TOKEN is not set"));
        assert!(
            absent
                .describe()
                .contains("`pact` (environment variable PACT_TOKEN")
        );
        // The Slack action is built from its stand-in token; the App key must be a real
        // PEM, so that action is a stand-in whose plans fail.
        assert_eq!(
            absent.stand_ins.iter().collect::<Vec<_>>(),
            ["actions.dispatch"]
        );
        let config = &loaded.config;
        assert_eq!(config.actions["post"].kind, "slack");
        assert_eq!(config.actions["dispatch"].kind, "github-dispatch");
        assert_eq!(config.rules[0].actions, ["post", "dispatch"]);
        assert!(config.source("pact").is_some());
        let context = minijinja::Value::from(());
        let input = ActionInput {
            templates: &config.templates,
            context: &context,
            refs: &NoRefs,
            now: chrono::Utc::now(),
            done: 0,
            delivery: None,
        };
        let Err(error) = config.actions["dispatch"].action.plan(&input).await else {
            panic!("a stand-in cannot plan");
        };
        assert!(error.to_string().contains("`github_key`"), "{error}");
        // The warnings are the file's, not the absent secrets'.
        assert_eq!(loaded.warnings.errors().count(), 0);
    }
}
