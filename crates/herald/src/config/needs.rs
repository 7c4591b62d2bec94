//! What a command needs of its configuration. The commands that send (`serve`, `send`,
//! `test`) need every secret. Those that read and write the store (`events`,
//! `deliveries`, `windows`, `status`, `replay`, `send --dry-run`) need none: loaded with
//! [`Needs::Store`], a secret that cannot be read (an unset `${env:…}`, a missing
//! `${file:…}`) is *absent* instead of an error, and so is an unset `${env:…}` anywhere
//! else but `[storage]` (an action's URL). Whatever uses them is built with a stand-in
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
use crate::kit::interpolate::{EnvLookup, Interpolator};
use crate::secret::Secret;
use async_trait::async_trait;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
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
    /// The unset environment variables read outside `[secrets]` (an action's URL).
    pub variables: BTreeSet<String>,
    /// The actions kept as stand-ins (`actions.deploy`): built, they would have needed an
    /// absent secret's real value.
    pub stand_ins: BTreeSet<String>,
}

impl Absent {
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty() && self.variables.is_empty()
    }

    /// `` `slack_bot` (environment variable SLACK_BOT_TOKEN is not set), environment
    /// variable HERALD_SINK_URL (not set), … ``
    pub fn describe(&self) -> String {
        let secrets = self
            .secrets
            .iter()
            .map(|(name, why)| format!("`{name}` ({why})"));
        let variables = self
            .variables
            .iter()
            .map(|name| format!("environment variable {name} (not set)"));
        secrets.chain(variables).collect::<Vec<_>>().join(", ")
    }
}

/// How a load stands in for what it cannot read: nothing for [`Needs::Everything`].
pub(super) struct Lenience {
    needs: Needs,
    absent: RefCell<Absent>,
    /// For `Needs::Store`: references resolved with a stand-in for an unset variable.
    interpolator: Option<Interpolator>,
    /// The variables it stood in for.
    unset: Arc<Mutex<BTreeSet<String>>>,
}

impl Lenience {
    pub(super) fn new(needs: Needs, base_dir: &Path, env: EnvLookup) -> Self {
        let unset = Arc::new(Mutex::new(BTreeSet::new()));
        let interpolator = (needs == Needs::Store).then(|| {
            let noted = unset.clone();
            let lenient: EnvLookup = Arc::new(move |name: &str| {
                env(name).or_else(|| {
                    lock(&noted).insert(name.to_string());
                    Some(Secret::absent(name).expose().to_string())
                })
            });
            Interpolator::new(base_dir, lenient)
        });
        Lenience {
            needs,
            absent: RefCell::new(Absent::default()),
            interpolator,
            unset,
        }
    }

    /// What `[secrets]` notes its absent secrets in, for `Needs::Store`.
    pub(super) fn secrets(&self) -> Option<&RefCell<Absent>> {
        (self.needs == Needs::Store).then_some(&self.absent)
    }

    /// The interpolator that stands in for unset variables, for `Needs::Store`.
    pub(super) fn interpolator(&self) -> Option<&Interpolator> {
        self.interpolator.as_ref()
    }

    pub(super) fn into_absent(self) -> Absent {
        let mut absent = self.absent.into_inner();
        absent.variables = std::mem::take(&mut *lock(&self.unset));
        absent
    }
}

fn lock(unset: &Mutex<BTreeSet<String>>) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
    unset.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An action whose kind could not be built without the real value of an absent secret
/// or variable. Only a process that sends nothing has one; planning it fails, naming them.
struct StandIn {
    kind: &'static str,
    missing: Vec<String>,
}

#[async_trait]
impl Action for StandIn {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn plan(&self, _input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        Err(PlanError::Invalid(format!(
            "cannot be built without {}, which could not be read",
            self.missing.join(", ")
        )))
    }
}

/// `build_action`, or with absent secrets or variables, a [`StandIn`] for an action that
/// could not be built from their stand-ins (its messages, about those values, are dropped).
pub(super) fn action_or_stand_in(
    name: &Spanned<String>,
    item: &Item<'_>,
    default_retry: &RetryPolicy,
    catalog: &Catalog,
    builder: &mut Builder<'_>,
    lenience: &Lenience,
) -> Option<ActionConfig> {
    let missing = match without_absent(builder, lenience, |b| {
        build_action(name, item, default_retry, catalog, b)
    }) {
        Ok(action) => return action,
        Err(missing) => missing,
    };
    let kind = document::table(item, "an action")
        .and_then(|table| document::kind(&table, name.span(), "action"))
        .ok()
        .and_then(|kind| catalog.action(kind.get_ref()))
        .map_or("unknown", |kind| kind.name);
    lenience
        .absent
        .borrow_mut()
        .stand_ins
        .insert(format!("actions.{}", name.get_ref()));
    Some(ActionConfig {
        name: name.get_ref().clone(),
        kind,
        action: Arc::new(StandIn { kind, missing }),
        retry: default_retry.clone(),
        timeout: DEFAULT_TIMEOUT,
    })
}

/// Build one entry. When it reads an absent secret or variable and fails, `Err` names
/// what it went without and its messages are dropped; otherwise they are kept.
fn without_absent<T>(
    builder: &mut Builder<'_>,
    lenience: &Lenience,
    build: impl FnOnce(&mut Builder<'_>) -> Option<T>,
) -> Result<Option<T>, Vec<String>> {
    if lenience.needs == Needs::Everything {
        return Ok(build(builder));
    }
    let earlier = std::mem::take(&mut *builder.diagnostics);
    let used_earlier = std::mem::take(&mut *builder.used_secrets);
    let unset_earlier = std::mem::take(&mut *lock(&lenience.unset));
    let built = build(builder);
    let own = std::mem::replace(&mut *builder.diagnostics, earlier);
    let used = std::mem::replace(&mut *builder.used_secrets, used_earlier);
    builder.used_secrets.extend(used.iter().cloned());
    let unset = std::mem::replace(&mut *lock(&lenience.unset), unset_earlier);
    lock(&lenience.unset).extend(unset.iter().cloned());
    let secrets = used
        .into_iter()
        .filter(|name| builder.secrets.get(name).is_some_and(Secret::is_absent))
        .map(|name| format!("the secret `{name}`"));
    let variables = unset
        .into_iter()
        .map(|name| format!("environment variable {name}"));
    let missing: Vec<String> = secrets.chain(variables).collect();
    if !missing.is_empty() && (built.is_none() || own.has_errors()) {
        return Err(missing);
    }
    keep(builder.diagnostics, own);
    Ok(built)
}

fn keep(into: &mut Diagnostics, own: Diagnostics) {
    for diagnostic in own.into_vec() {
        into.push(diagnostic);
    }
}
