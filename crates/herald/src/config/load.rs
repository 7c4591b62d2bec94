//! Loading a configuration file: parse, resolve every reference, validate everything,
//! and report every problem with its line and column.

use super::model::{ActionConfig, Config, SourceConfig};
use super::monitors::{self, Known, build_monitor};
use super::needs::{Absent, Lenience, Needs, action_or_stand_in};
use super::rules::build_rule;
use super::schedules::build_schedule;
use super::sections;
use super::sources::{build_source, check_registries, check_responders};
use crate::core::rules::Rule;
use crate::core::suggest::nearest;
use crate::core::template::TemplateEngine;
use crate::kit::build::{Builder, Failed};
use crate::kit::diagnostic::{Diagnostic, Diagnostics, Report, unreadable};
use crate::kit::document::{self, Item, Table};
use crate::kit::interpolate::{EnvLookup, Interpolator, has_reference, process_env};
use crate::kit::{Catalog, SectionContext};
use crate::secret::Secret;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use toml::Spanned;

/// herald's own sections; each integration adds its own (`[slack]`).
pub(super) const SECTIONS: &[&str] = &[
    "server",
    "storage",
    "retention",
    "delivery",
    "hooks",
    "secrets",
    "sources",
    "rules",
    "actions",
    "monitors",
    "monitoring",
    "schedules",
    "telemetry",
    "vars",
];

/// A loaded configuration and the warnings found on the way.
pub struct Loaded {
    pub config: Config,
    pub warnings: Report,
    /// What a `Needs::Store` load went without (always empty for `Needs::Everything`).
    pub absent: Absent,
}

/// Load from a file, resolving `${env:...}` from the process environment.
pub fn load(path: &Path, catalog: &Catalog) -> Result<Loaded, Report> {
    load_with_env(path, process_env(), catalog)
}

/// `load` for a command that needs only `needs` (secrets that cannot be read are absent
/// rather than errors for `Needs::Store`).
pub fn load_needing(path: &Path, catalog: &Catalog, needs: Needs) -> Result<Loaded, Report> {
    let text = std::fs::read_to_string(path).map_err(|error| unreadable(path, &error))?;
    from_text_needing(path, &text, process_env(), catalog, needs)
}

pub fn load_with_env(path: &Path, env: EnvLookup, catalog: &Catalog) -> Result<Loaded, Report> {
    let text = std::fs::read_to_string(path).map_err(|error| unreadable(path, &error))?;
    from_text(path, &text, env, catalog)
}

/// Load from text; `path` names the file in messages and anchors relative paths.
pub fn from_text(
    path: &Path,
    text: &str,
    env: EnvLookup,
    catalog: &Catalog,
) -> Result<Loaded, Report> {
    from_text_needing(path, text, env, catalog, Needs::Everything)
}

/// `from_text` for a command that needs only `needs`.
pub fn from_text_needing(
    path: &Path,
    text: &str,
    env: EnvLookup,
    catalog: &Catalog,
    needs: Needs,
) -> Result<Loaded, Report> {
    let config_dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut diagnostics = Diagnostics::default();
    let lenience = Lenience::new(needs, config_dir, env.clone());
    let (root, syntax) = document::parse(text);
    syntax.into_iter().for_each(|d| diagnostics.push(d));
    let config = if diagnostics.has_errors() {
        None
    } else {
        let interpolator = Interpolator::new(config_dir, env);
        build(
            path,
            text,
            root.get_ref(),
            &interpolator,
            catalog,
            &mut diagnostics,
            &lenience,
        )
    };
    let mut items = diagnostics.into_vec();
    items.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
    let report = Report {
        path: path.to_path_buf(),
        text: Arc::from(text),
        diagnostics: items,
    };
    match config {
        Some(config) if report.errors().next().is_none() => Ok(Loaded {
            config,
            warnings: report,
            absent: lenience.into_absent(),
        }),
        _ => Err(report),
    }
}

fn build(
    path: &Path,
    text: &str,
    root: &Table<'_>,
    interpolator: &Interpolator,
    catalog: &Catalog,
    diagnostics: &mut Diagnostics,
    lenience: &Lenience,
) -> Option<Config> {
    // `[secrets]` and `[storage]` read their references as they are; past them, a store
    // command (`Needs::Store`) stands in for an unset variable.
    let strict = interpolator;
    let interpolator = lenience.interpolator().unwrap_or(strict);
    let config_dir = interpolator.base_dir();
    let sections = top_level(root, catalog, diagnostics);
    let get = |name: &str| sections.get(name).cloned();
    let (secrets, failed_secrets) =
        resolve_secrets(get("secrets"), strict, diagnostics, lenience.secrets());
    let secret_origins = secret_origins(get("secrets"));
    // Integration sections come first: their filters and kinds read them.
    let context = SectionContext {
        config_dir,
        interpolator,
    };
    let integration_sections = catalog.read_sections(get, &context, diagnostics);
    let vars = template_vars(get("vars"), diagnostics);
    let mut templates = TemplateEngine::with_vars(Arc::new(secrets.clone()), vars, |env| {
        catalog.register_filters(env, &integration_sections)
    });
    let mut used_secrets = BTreeSet::new();
    let mut builder = Builder {
        text,
        diagnostics: &mut *diagnostics,
        templates: &mut templates,
        interpolator,
        secrets: &secrets,
        used_secrets: &mut used_secrets,
        scope: "server".to_string(),
        sections: &integration_sections,
        failed: Failed {
            secrets: failed_secrets,
            ..Failed::default()
        },
        shared_keys: &[],
    };
    let server = sections::server(get("server"), &mut builder);
    builder.interpolator = strict;
    let storage = sections::storage(get("storage"), config_dir, &mut builder);
    builder.interpolator = interpolator;
    let retention = sections::retention(get("retention"), &mut builder);
    let delivery = sections::delivery(get("delivery"), &mut builder);
    let hooks = sections::hooks(get("hooks"), &mut builder);
    let telemetry = super::telemetry::telemetry(get("telemetry"), &mut builder);
    let default_retry = delivery
        .as_ref()
        .map(|(_, _, retry)| retry.clone())
        .unwrap_or_default();
    let sources = named(get("sources"), "sources", &mut builder, |name, item, b| {
        build_source(name, item, catalog, b)
    });
    if let Some(hooks) = &hooks {
        check_registries(&sources, hooks.key.is_some(), builder.diagnostics);
    }
    let actions = named(get("actions"), "actions", &mut builder, |name, item, b| {
        action_or_stand_in(name, item, &default_retry, catalog, b, lenience)
    });
    check_responders(&sources, &actions, &builder.failed, builder.diagnostics);
    let rules = build_rules(get("rules"), &sources, &actions, &mut builder);
    let known = Known {
        sources: &|name| sources.contains_key(name),
        pollers: &|name| sources.get(name).is_some_and(|(_, s)| s.poller.is_some()),
        actions: &|name| actions.contains_key(name),
    };
    let monitors = named(
        get("monitors"),
        "monitors",
        &mut builder,
        |name, item, b| build_monitor(name, item, &known, b),
    );
    let schedules = named(
        get("schedules"),
        "schedules",
        &mut builder,
        |name, item, b| build_schedule(name, item.clone(), b),
    );
    builder.scope = "server".to_string();
    let monitoring_interval = monitors::interval(get("monitoring"), &mut builder);
    if let Some((delivery, lease_span, _)) = &delivery {
        check_lease(
            delivery.lease,
            lease_span.as_ref().map(|s| s.span()),
            &actions,
            builder.diagnostics,
        );
    }
    let failed = std::mem::take(&mut builder.failed);
    if !failed.any() {
        warn_unused(
            &sections,
            &sources,
            &actions,
            &rules,
            &secrets,
            &used_secrets,
            diagnostics,
        );
    }
    Some(Config {
        path: path.to_path_buf(),
        server: server?,
        storage: storage?,
        retention: retention?,
        delivery: delivery?.0,
        hooks: hooks?,
        sources: sources
            .into_iter()
            .map(|(name, (_, source))| (name, source))
            .collect(),
        rules: rules.into_values().map(|(_, rule)| rule).collect(),
        actions: actions
            .into_iter()
            .map(|(name, (_, action))| (name, action))
            .collect(),
        templates,
        sections: integration_sections.clone(),
        monitors: monitors
            .into_iter()
            .map(|(name, (_, monitor))| (name, monitor))
            .collect(),
        monitoring_interval: monitoring_interval?,
        secret_origins,
        schedules: schedules
            .into_values()
            .map(|(_, schedule)| schedule)
            .collect(),
        telemetry: telemetry?,
    })
}

/// The top-level sections, each a table; unknown keys are errors.
fn top_level<'i>(
    root: &Table<'i>,
    catalog: &Catalog,
    diagnostics: &mut Diagnostics,
) -> BTreeMap<String, Item<'i>> {
    let known: Vec<&str> = SECTIONS
        .iter()
        .copied()
        .chain(catalog.sections().map(|section| section.name))
        .collect();
    let mut sections = BTreeMap::new();
    for (key, value) in document::entries(root) {
        if !known.contains(&key.get_ref().as_str()) {
            let help = match nearest(key.get_ref(), known.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("known sections: {}", known.join(", ")),
            };
            diagnostics.push(
                Diagnostic::error(key.span(), format!("unknown section `{}`", key.get_ref()))
                    .with_help(help),
            );
            continue;
        }
        if diagnostics
            .take(document::table(&value, &format!("`{}`", key.get_ref())))
            .is_some()
        {
            sections.insert(key.get_ref().clone(), value);
        }
    }
    sections
}

/// The secrets, and the names of those whose value could not be read. With `lenient`
/// (`Needs::Store`), such a secret is absent instead: a stand-in, and no error.
fn resolve_secrets(
    item: Option<Item<'_>>,
    interpolator: &Interpolator,
    diagnostics: &mut Diagnostics,
    lenient: Option<&RefCell<Absent>>,
) -> (BTreeMap<String, Secret>, BTreeSet<String>) {
    let mut secrets = BTreeMap::new();
    let mut failed = BTreeSet::new();
    let Some(table) = item.and_then(|item| diagnostics.take(document::table(&item, "`secrets`")))
    else {
        return (secrets, failed);
    };
    for (name, value) in document::entries(&table) {
        let Some(text) = value.get_ref().as_str() else {
            diagnostics.error(
                value.span(),
                format!("secret `{}` must be a string", name.get_ref()),
            );
            failed.insert(name.get_ref().clone());
            continue;
        };
        let spanned = Spanned::new(value.span(), text.to_string());
        if !has_reference(text) {
            diagnostics.push(
                Diagnostic::warning(
                    value.span(),
                    format!("secret `{}` is written in the file", name.get_ref()),
                )
                .with_help(
                    "prefer \"${env:NAME}\" or \"${file:PATH}\" so the file can be committed",
                ),
            );
        }
        let resolved = match (interpolator.resolve(&spanned), lenient) {
            (Ok(resolved), _) => resolved,
            (Err(why), Some(absent)) => {
                let name = name.get_ref();
                absent
                    .borrow_mut()
                    .secrets
                    .insert(name.clone(), why.message);
                secrets.insert(name.clone(), Secret::absent(name.as_str()));
                continue;
            }
            (Err(why), None) => {
                diagnostics.push(why);
                failed.insert(name.get_ref().clone());
                continue;
            }
        };
        if resolved.is_empty() {
            diagnostics.error(
                value.span(),
                format!("secret `{}` is empty", name.get_ref()),
            );
        }
        secrets.insert(
            name.get_ref().clone(),
            Secret::new(name.get_ref().as_str(), resolved),
        );
    }
    (secrets, failed)
}

/// `[vars]`: constants for templates (`vars.repos[name]`), any TOML values.
fn template_vars(item: Option<Item<'_>>, diagnostics: &mut Diagnostics) -> minijinja::Value {
    let Some(item) = item else {
        return minijinja::Value::from(());
    };
    let vars: Option<serde_json::Value> = diagnostics.take(document::typed(item));
    vars.map_or(minijinja::Value::from(()), |vars| {
        minijinja::Value::from(minijinja::value::Serde(vars))
    })
}

/// Where each secret is read from (`${env:GITHUB_TOKEN}`), for runbooks; never the value.
fn secret_origins(item: Option<Item<'_>>) -> BTreeMap<String, String> {
    let Some(table) = item.and_then(|item| document::table(&item, "`secrets`").ok()) else {
        return BTreeMap::new();
    };
    document::entries(&table)
        .into_iter()
        .filter_map(|(name, value)| {
            let text = value.get_ref().as_str()?;
            let origin = if has_reference(text) {
                text.to_string()
            } else {
                "the configuration file (inline)".to_string()
            };
            Some((name.get_ref().clone(), origin))
        })
        .collect()
}

/// Build each entry of a `[section.NAME]` table; failed entries are left out (and reported).
fn named<T>(
    item: Option<Item<'_>>,
    section: &str,
    builder: &mut Builder<'_>,
    build_one: impl Fn(&Spanned<String>, &Item<'_>, &mut Builder<'_>) -> Option<T>,
) -> BTreeMap<String, (Spanned<String>, T)> {
    let mut built = BTreeMap::new();
    let Some(table) =
        item.and_then(|item| builder.diagnostics.take(document::table(&item, section)))
    else {
        return built;
    };
    for (name, value) in document::entries(&table) {
        builder.scope = format!("{section}.{}", name.get_ref());
        match build_one(&name, &value, builder) {
            Some(entry) => {
                built.insert(name.get_ref().clone(), (name, entry));
            }
            None => {
                builder
                    .failed
                    .entries
                    .insert((section.to_string(), name.get_ref().clone()));
            }
        }
    }
    built
}

fn build_rules(
    item: Option<Item<'_>>,
    sources: &BTreeMap<String, (Spanned<String>, SourceConfig)>,
    actions: &BTreeMap<String, (Spanned<String>, ActionConfig)>,
    builder: &mut Builder<'_>,
) -> BTreeMap<String, (Spanned<String>, Rule)> {
    named(item, "rules", builder, |name, value, b| {
        build_rule(name, value.clone(), sources, actions, b)
    })
}

/// A lease shorter than an action's timeout would let a second worker start the same
/// delivery while the first is still waiting for an answer.
fn check_lease(
    lease: std::time::Duration,
    lease_span: Option<std::ops::Range<usize>>,
    actions: &BTreeMap<String, (Spanned<String>, ActionConfig)>,
    diagnostics: &mut Diagnostics,
) {
    for (name, (span, action)) in actions {
        if action.timeout + std::time::Duration::from_secs(5) > lease {
            diagnostics.push(Diagnostic::error(
                lease_span.clone().or(Some(span.span())),
                format!(
                    "delivery.lease ({}) must exceed action `{name}`'s timeout ({}) by at least 5s",
                    humantime::format_duration(lease),
                    humantime::format_duration(action.timeout)
                ),
            ));
        }
    }
}

fn warn_unused(
    sections: &BTreeMap<String, Item<'_>>,
    sources: &BTreeMap<String, (Spanned<String>, SourceConfig)>,
    actions: &BTreeMap<String, (Spanned<String>, ActionConfig)>,
    rules: &BTreeMap<String, (Spanned<String>, Rule)>,
    secrets: &BTreeMap<String, Secret>,
    used_secrets: &BTreeSet<String>,
    diagnostics: &mut Diagnostics,
) {
    let rule_list: Vec<&Rule> = rules.values().map(|(_, rule)| rule).collect();
    for (name, (span, _)) in actions {
        if !rule_list.iter().any(|rule| rule.actions.contains(name)) {
            diagnostics.push(Diagnostic::warning(
                span.span(),
                format!("action `{name}` is not used by any rule"),
            ));
        }
    }
    for (name, (span, _)) in sources {
        if !rule_list
            .iter()
            .any(|rule| rule.sources.iter().any(|s| s == name || s == "*"))
        {
            diagnostics.push(Diagnostic::warning(
                span.span(),
                format!("source `{name}` matches no rule: its events are stored but do nothing"),
            ));
        }
    }
    let secret_spans = sections
        .get("secrets")
        .and_then(|item| document::table(item, "").ok());
    for name in secrets.keys().filter(|name| !used_secrets.contains(*name)) {
        let span = secret_spans.as_ref().and_then(|table| {
            document::entries(table)
                .into_iter()
                .find(|(key, _)| key.get_ref() == name)
                .map(|(key, _)| key.span())
        });
        diagnostics.push(Diagnostic::warning(
            span,
            format!("secret `{name}` is not used"),
        ));
    }
}
