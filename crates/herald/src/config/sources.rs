//! `[sources.NAME]`: the options every source kind shares; the kind's own options go
//! to the kind the catalog names.

use super::model::SourceConfig;
use crate::core::context::INBOUND_VARIABLES;
use crate::kit::Catalog;
use crate::kit::build::Builder;
use crate::kit::document::{self, Item};
use crate::kit::units::{self, RawSize};
use serde::Deserialize;
use toml::Spanned;

pub const SHARED_KEYS: &[&str] = &["kind", "secrets", "max_body", "event_type", "dedup_key"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedOptions {
    #[allow(dead_code)]
    kind: String,
    secrets: Spanned<Vec<Spanned<String>>>,
    max_body: Option<Spanned<RawSize>>,
    event_type: Option<Spanned<String>>,
    dedup_key: Option<Spanned<String>>,
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
    let Some(kind) = catalog.source(kind_name.get_ref()) else {
        let known: Vec<_> = catalog.sources().map(|k| k.name).collect();
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
    let (shared, own) = document::split(&table, item.span(), SHARED_KEYS);
    let shared: SharedOptions = builder.options(shared)?;
    let secrets = builder.secret_list(&shared.secrets);
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
    let source = (kind.build)(own, secrets.clone().unwrap_or_default(), builder);
    Some(SourceConfig {
        name: name.get_ref().clone(),
        kind: kind.name,
        source: source.filter(|_| secrets.is_some())?,
        max_body: max_body?,
        event_type: event_type.map(|e| e.ok_or(())).transpose().ok()?,
        dedup_key: dedup_key.map(|e| e.ok_or(())).transpose().ok()?,
    })
}

/// The keys every source kind shares (for the reference check).
pub(super) fn shared_keys() -> Vec<String> {
    crate::kit::keys::keys_of::<SharedOptions>()
}
