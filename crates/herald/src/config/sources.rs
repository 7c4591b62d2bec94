//! `[sources.NAME]`: the options every source kind shares; the kind's own options go
//! to the kind the catalog names.

use super::model::{ActionConfig, SourceConfig};
use crate::core::context::INBOUND_VARIABLES;
use crate::ingress::poller::PolledSource;
use crate::kit::Catalog;
use crate::kit::build::{Builder, Failed};
use crate::kit::diagnostic::{Diagnostic, Diagnostics};
use crate::kit::document::{self, Item};
use crate::kit::units::{self, RawSize};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use toml::Spanned;

pub const SHARED_KEYS: &[&str] = &[
    "kind",
    "secrets",
    "registry",
    "max_body",
    "event_type",
    "dedup_key",
    "respond_with",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedOptions {
    #[allow(dead_code)]
    kind: String,
    /// Required, unless the source is a registry (whose hooks have their own).
    secrets: Option<Spanned<Vec<Spanned<String>>>>,
    /// Hooks registered at run time (`/hooks/NAME/ID`), each with its own secret.
    registry: Option<Spanned<bool>>,
    max_body: Option<Spanned<RawSize>>,
    event_type: Option<Spanned<String>>,
    dedup_key: Option<Spanned<String>>,
    /// An action that answers this source's requests in the HTTP response (chat commands).
    respond_with: Option<Spanned<String>>,
}

pub fn build_source(
    name: &Spanned<String>,
    item: &Item<'_>,
    catalog: &Catalog,
    builder: &mut Builder<'_>,
) -> Option<SourceConfig> {
    if name.get_ref() == crate::core::rules::HERALD_SOURCE {
        builder.error(
            name.span(),
            "`herald` is the source of herald's own alerts; give this source another name",
        );
        return None;
    }
    let table = builder
        .diagnostics
        .take(document::table(item, "a source"))?;
    let kind_name = builder
        .diagnostics
        .take(document::kind(&table, name.span(), "source"))?;
    if let Some(kind) = catalog.poller(kind_name.get_ref()) {
        return build_poller(name, item, &table, kind, builder);
    }
    let Some(kind) = catalog.source(kind_name.get_ref()) else {
        let known: Vec<_> = catalog
            .sources()
            .map(|k| k.name)
            .chain(catalog.pollers().map(|k| k.name))
            .collect();
        builder.error(
            kind_name.span(),
            format!(
                "unknown source kind `{}` (known: {})",
                kind_name.get_ref(),
                known.join(", ")
            ),
        );
        return None;
    };
    let (shared, mut own) = document::split(&table, item.span(), SHARED_KEYS);
    let shared: SharedOptions = builder.options(shared)?;
    let registry = shared.registry.as_ref().is_some_and(|r| *r.get_ref());
    let secrets = match (&shared.secrets, registry) {
        (Some(names), false) => builder.secret_list(names),
        (None, true) => Some(Vec::new()),
        (Some(names), true) => {
            builder.error(
                names.span(),
                "a registry source has no `secrets` of its own: each registered hook has its own",
            );
            None
        }
        (None, false) => {
            let valid: Vec<String> = SHARED_KEYS
                .iter()
                .map(|key| key.to_string())
                .chain((kind.options)())
                .collect();
            let message = "missing `secrets`: the names of the secrets requests are verified with";
            match document::table(&own, "a source")
                .ok()
                .and_then(|table| document::near_miss(&table, "secrets", &valid))
            {
                Some(near) => {
                    builder.diagnostics.push(
                        Diagnostic::error(
                            item.span(),
                            format!(
                                "missing `secrets`; `{}` looks like it was meant",
                                near.get_ref()
                            ),
                        )
                        .with_help(format!(
                            "rename `{}` to `secrets`: the names of the secrets requests are verified with",
                            near.get_ref()
                        )),
                    );
                    // Said once: the kind is not told about the key again.
                    own = document::without(&own, near.get_ref());
                }
                None => builder.error(item.span(), message),
            }
            None
        }
    };
    let max_body = match &shared.max_body {
        Some(size) => builder.diagnostics.take(units::size(size)),
        None => Some(kind.default_max_body),
    };
    let event_type = shared
        .event_type
        .as_ref()
        .map(|expr| builder.expression("event_type", expr, INBOUND_VARIABLES));
    let dedup_key = shared
        .dedup_key
        .as_ref()
        .map(|expr| builder.expression("dedup_key", expr, INBOUND_VARIABLES));
    builder.shared_keys = SHARED_KEYS;
    let source = (kind.build)(own, secrets.clone().unwrap_or_default(), builder);
    builder.shared_keys = &[];
    if let (Some(flag), Some(built)) = (&shared.registry, &source)
        && registry
        && built.with_secrets(Vec::new()).is_none()
    {
        builder.error(
            flag.span(),
            format!(
                "a `{}` source cannot be a registry: its kind cannot verify with per-hook secrets",
                kind.name
            ),
        );
        return None;
    }
    Some(SourceConfig {
        name: name.get_ref().clone(),
        kind: kind.name,
        registry,
        source: source.filter(|_| secrets.is_some())?,
        poller: None,
        max_body: max_body?,
        event_type: event_type.map(|e| e.ok_or(())).transpose().ok()?,
        dedup_key: dedup_key.map(|e| e.ok_or(())).transpose().ok()?,
        respond_with: shared.respond_with.map(Spanned::into_inner),
    })
}

/// A source herald pulls: every option but `kind` is its poller kind's. The options of
/// pushed sources have no meaning for it and are refused with the reason.
fn build_poller(
    name: &Spanned<String>,
    item: &Item<'_>,
    table: &document::Table<'_>,
    kind: &'static crate::kit::PollerKind,
    builder: &mut Builder<'_>,
) -> Option<SourceConfig> {
    let mut refused = false;
    for (key, _) in table.iter() {
        let key_name = key.get_ref().as_ref();
        if key_name == "kind" || !SHARED_KEYS.contains(&key_name) {
            continue;
        }
        refused = true;
        let reason = match key_name {
            "secrets" => {
                "a poller verifies no pushes: name the API's credential in `bearer`, `basic` or `header`"
            }
            "registry" => "a poller cannot be a registry: it pulls, nothing is pushed to it",
            "max_body" => "a poller's pages are limited by `max_page`",
            _ => "a poller reads each item's type and id at the paths `type` and `id`",
        };
        builder.error(
            key.span(),
            format!("`{key_name}` does not apply to a poller: {reason}"),
        );
    }
    let (_, own) = document::split(table, item.span(), &["kind"]);
    builder.shared_keys = &["kind"];
    let poller = (kind.build)(own, builder);
    builder.shared_keys = &[];
    let poller = poller?;
    if refused {
        return None;
    }
    Some(SourceConfig {
        name: name.get_ref().clone(),
        kind: kind.name,
        registry: false,
        source: Arc::new(PolledSource(poller.clone())),
        max_body: u64::try_from(poller.settings().max_page).unwrap_or(u64::MAX),
        poller: Some(poller),
        event_type: None,
        dedup_key: None,
        respond_with: None,
    })
}

/// A registry keeps its hooks' secrets sealed under `[hooks] key`: without it, none could be
/// registered or verified.
pub fn check_registries(
    sources: &BTreeMap<String, (Spanned<String>, SourceConfig)>,
    has_key: bool,
    diagnostics: &mut Diagnostics,
) {
    if has_key {
        return;
    }
    for (name, (span, source)) in sources {
        if source.registry {
            diagnostics.error(
                span.span(),
                format!(
                    "source `{name}` is a registry, which needs `[hooks] key`: the name of a secret of 32 bytes (64 hex characters or base64) that encrypts the hooks' secrets"
                ),
            );
        }
    }
}

/// A source's `respond_with` names an action that exists and can answer requests (or
/// one that failed to build, which said why).
pub fn check_responders(
    sources: &BTreeMap<String, (Spanned<String>, SourceConfig)>,
    actions: &BTreeMap<String, (Spanned<String>, ActionConfig)>,
    failed: &Failed,
    diagnostics: &mut Diagnostics,
) {
    for (name, (span, source)) in sources {
        let Some(responder) = &source.respond_with else {
            continue;
        };
        let problem = match actions.get(responder) {
            None if failed.entry("actions", responder) => continue,
            None => format!("`respond_with` names `{responder}`, which is not an action"),
            Some((_, action)) if action.action.responder().is_none() => format!(
                "`respond_with` names `{responder}`, a `{}` action, which cannot answer requests (a `deploybot` action can)",
                action.kind
            ),
            Some(_) => continue,
        };
        diagnostics.error(span.span(), format!("source `{name}`: {problem}"));
    }
}

/// The keys every source kind shares (for the reference check).
pub(super) fn shared_keys() -> Vec<String> {
    crate::kit::keys::keys_of::<SharedOptions>()
}
