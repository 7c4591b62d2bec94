//! `[monitors.NAME]`: what herald watches in itself, and `[monitoring] interval`.

use crate::core::context::EVENT_VARIABLES;
use crate::core::template::{Escape, ExprRef, TemplateRef};
use crate::kit::build::Builder;
use crate::kit::document::{self, Item};
use crate::kit::keys::keys_of;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_STREAK: u32 = 5;
const DEFAULT_SIGNATURE_THRESHOLD: u32 = 10;
const DEFAULT_SIGNATURE_WINDOW: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct MonitorConfig {
    pub name: String,
    pub check: MonitorCheck,
}

#[derive(Debug, Clone)]
pub enum MonitorCheck {
    /// A delivery of one of `actions`, or a poll of one of the poller `sources`, failed on
    /// its credentials. With neither listed, every action and every poller.
    Credential {
        actions: Vec<String>,
        sources: Vec<String>,
    },
    /// `threshold` failed attempts in a row for one of `actions` (all when empty).
    FailureStreak {
        actions: Vec<String>,
        threshold: u32,
    },
    /// At least one matching event per group every `every`.
    Staleness(Staleness),
    /// `threshold` rejected signatures within `window` on one of `sources` (all when empty).
    SignatureFailures {
        sources: Vec<String>,
        threshold: u32,
        window: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct Staleness {
    pub source: String,
    pub events: Vec<glob::Pattern>,
    pub filter: Option<ExprRef>,
    /// The group an event counts for, e.g. `{{ event.consumer }} → {{ event.provider }}`.
    pub group: Option<TemplateRef>,
    pub every: Duration,
}

impl MonitorCheck {
    pub fn kind(&self) -> &'static str {
        match self {
            MonitorCheck::Credential { .. } => "credential",
            MonitorCheck::FailureStreak { .. } => "failure-streak",
            MonitorCheck::Staleness(_) => "staleness",
            MonitorCheck::SignatureFailures { .. } => "signature-failures",
        }
    }
}

const KINDS: &[&str] = &[
    "credential",
    "failure-streak",
    "staleness",
    "signature-failures",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionsOptions {
    #[serde(default)]
    actions: Vec<Spanned<String>>,
    threshold: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialOptions {
    #[serde(default)]
    actions: Vec<Spanned<String>>,
    /// Poller sources, whose API may refuse herald's credential too.
    #[serde(default)]
    sources: Vec<Spanned<String>>,
    threshold: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StalenessOptions {
    source: Spanned<String>,
    events: Option<Vec<Spanned<String>>>,
    filter: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
    every: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureOptions {
    #[serde(default)]
    sources: Vec<Spanned<String>>,
    threshold: Option<Spanned<u32>>,
    window: Option<Spanned<String>>,
}

/// What a monitor may refer to, checked at load.
pub struct Known<'a> {
    pub sources: &'a dyn Fn(&str) -> bool,
    /// Sources herald pulls.
    pub pollers: &'a dyn Fn(&str) -> bool,
    pub actions: &'a dyn Fn(&str) -> bool,
}

pub fn build_monitor(
    name: &Spanned<String>,
    item: &Item<'_>,
    known: &Known<'_>,
    builder: &mut Builder<'_>,
) -> Option<MonitorConfig> {
    let table = builder
        .diagnostics
        .take(document::table(item, "a monitor"))?;
    let kind = builder
        .diagnostics
        .take(document::kind(&table, name.span(), "monitor"))?;
    let (_, own) = document::split(&table, item.span(), &["kind"]);
    builder.shared_keys = &["kind"];
    let check = check(&kind, own, known, builder);
    builder.shared_keys = &[];
    Some(MonitorConfig {
        name: name.get_ref().clone(),
        check: check?,
    })
}

fn check(
    kind: &Spanned<String>,
    own: Item<'_>,
    known: &Known<'_>,
    builder: &mut Builder<'_>,
) -> Option<MonitorCheck> {
    let check = match kind.get_ref().as_str() {
        "credential" => {
            let options: CredentialOptions = builder.options(own)?;
            if let Some(threshold) = &options.threshold {
                builder.error(threshold.span(), "a credential monitor alerts on the first failure; `threshold` is for `failure-streak`");
                return None;
            }
            let actions = names(&options.actions, known.actions, "action", builder);
            let sources = names(&options.sources, known.pollers, "poller source", builder);
            MonitorCheck::Credential {
                actions: actions?,
                sources: sources?,
            }
        }
        "failure-streak" => {
            let options: ActionsOptions = builder.options(own)?;
            MonitorCheck::FailureStreak {
                actions: names(&options.actions, known.actions, "action", builder)?,
                threshold: at_least_one(options.threshold, DEFAULT_STREAK, builder)?,
            }
        }
        "staleness" => MonitorCheck::Staleness(staleness(builder.options(own)?, known, builder)?),
        "signature-failures" => {
            let options: SignatureOptions = builder.options(own)?;
            MonitorCheck::SignatureFailures {
                sources: names(&options.sources, known.sources, "source", builder)?,
                threshold: at_least_one(options.threshold, DEFAULT_SIGNATURE_THRESHOLD, builder)?,
                window: builder.duration_or(&options.window, DEFAULT_SIGNATURE_WINDOW)?,
            }
        }
        other => {
            builder.error(
                kind.span(),
                format!(
                    "unknown monitor kind `{other}` (known: {})",
                    KINDS.join(", ")
                ),
            );
            return None;
        }
    };
    Some(check)
}

fn staleness(
    options: StalenessOptions,
    known: &Known<'_>,
    builder: &mut Builder<'_>,
) -> Option<Staleness> {
    let StalenessOptions {
        source,
        events,
        filter,
        group,
        every,
    } = options;
    let source_known = (known.sources)(source.get_ref());
    if !source_known && !builder.failed.entry("sources", source.get_ref()) {
        builder.error(
            source.span(),
            format!("undefined source `{}`", source.get_ref()),
        );
    }
    let events = super::rules::event_globs(events.as_deref(), builder);
    let filter = filter
        .as_ref()
        .map(|f| builder.expression("filter", f, EVENT_VARIABLES));
    let group = group
        .as_ref()
        .map(|g| builder.template("group", g, Escape::None));
    let every = builder.duration(&every);
    if !source_known {
        return None;
    }
    Some(Staleness {
        source: source.into_inner(),
        events: events?,
        filter: filter.map(|f| f.ok_or(())).transpose().ok()?,
        group: group.map(|g| g.ok_or(())).transpose().ok()?,
        every: every?,
    })
}

fn names(
    raw: &[Spanned<String>],
    known: &dyn Fn(&str) -> bool,
    what: &str,
    builder: &mut Builder<'_>,
) -> Option<Vec<String>> {
    let mut ok = true;
    // A source or an action that failed to build has said why already.
    let section = if what == "action" {
        "actions"
    } else {
        "sources"
    };
    for name in raw {
        if !known(name.get_ref()) {
            if !builder.failed.entry(section, name.get_ref()) {
                builder.error(
                    name.span(),
                    format!("undefined {what} `{}`", name.get_ref()),
                );
            }
            ok = false;
        }
    }
    ok.then(|| raw.iter().map(|name| name.get_ref().clone()).collect())
}

fn at_least_one(
    value: Option<Spanned<u32>>,
    default: u32,
    builder: &mut Builder<'_>,
) -> Option<u32> {
    match value {
        Some(value) if *value.get_ref() == 0 => {
            builder.error(value.span(), "must be at least 1");
            None
        }
        Some(value) => Some(*value.get_ref()),
        None => Some(default),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMonitoring {
    interval: Option<Spanned<String>>,
}

/// `[monitoring] interval`: how often monitors check.
pub fn interval(item: Option<Item<'_>>, builder: &mut Builder<'_>) -> Option<Duration> {
    let raw: RawMonitoring = match item {
        Some(item) => builder.options(item)?,
        None => RawMonitoring::default(),
    };
    builder.duration_or(&raw.interval, DEFAULT_INTERVAL)
}

/// Monitors by name.
pub type Monitors = BTreeMap<String, MonitorConfig>;

/// Each monitor kind and the keys it accepts, and `[monitoring]`'s (for the reference
/// check).
pub(super) fn reference_keys() -> (Vec<(&'static str, Vec<String>)>, Vec<String>) {
    let with_kind = |mut keys: Vec<String>| {
        keys.push("kind".to_string());
        keys
    };
    let kinds = KINDS
        .iter()
        .map(|&kind| {
            let own = match kind {
                "staleness" => keys_of::<StalenessOptions>(),
                "signature-failures" => keys_of::<SignatureOptions>(),
                // A credential monitor alerts on the first failure: no threshold.
                "credential" => vec!["actions".to_string(), "sources".to_string()],
                _ => keys_of::<ActionsOptions>(),
            };
            (kind, with_kind(own))
        })
        .collect();
    (kinds, keys_of::<RawMonitoring>())
}
