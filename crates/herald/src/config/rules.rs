//! `[rules.NAME]`: sources, event type globs, an optional filter, and actions.

use super::window::RawWindow;
use crate::core::context::EVENT_VARIABLES;
use crate::core::rules::{HERALD_SOURCE, Rule};
use crate::kit::build::Builder;
use crate::kit::document::Item;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    sources: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    events: Option<Vec<Spanned<String>>>,
    filter: Option<Spanned<String>>,
    actions: Spanned<Vec<Spanned<String>>>,
    window: Option<Spanned<RawWindow>>,
}

/// Build a rule, checking that its sources and actions exist.
pub fn build_rule<S, A>(
    name: &Spanned<String>,
    item: Item<'_>,
    sources: &BTreeMap<String, S>,
    actions: &BTreeMap<String, A>,
    builder: &mut Builder<'_>,
) -> Option<Rule> {
    let raw: RawRule = builder.options(item)?;
    let mut ok = true;
    if raw.sources.get_ref().is_empty() {
        builder.error(
            raw.sources.span(),
            "list at least one source (or \"*\" for all)",
        );
        ok = false;
    }
    for source in raw.sources.get_ref() {
        let known = source.get_ref() == "*"
            || source.get_ref() == HERALD_SOURCE
            || sources.contains_key(source.get_ref());
        if !known {
            // A source that failed to build has said why already.
            if !builder.failed.entry("sources", source.get_ref()) {
                builder.error(
                    source.span(),
                    format!("undefined source `{}`", source.get_ref()),
                );
            }
            ok = false;
        }
    }
    if raw.actions.get_ref().is_empty() {
        builder.error(raw.actions.span(), "list at least one action");
        ok = false;
    }
    for action in raw.actions.get_ref() {
        if !actions.contains_key(action.get_ref()) {
            if !builder.failed.entry("actions", action.get_ref()) {
                builder.error(
                    action.span(),
                    format!("undefined action `{}`", action.get_ref()),
                );
            }
            ok = false;
        }
    }
    let events = event_globs(raw.events.as_deref(), builder);
    let filter = raw
        .filter
        .as_ref()
        .map(|filter| builder.expression("filter", filter, EVENT_VARIABLES));
    let window = raw
        .window
        .as_ref()
        .map(|window| super::window::build_window(window, builder));
    Some(Rule {
        name: name.get_ref().clone(),
        sources: raw
            .sources
            .get_ref()
            .iter()
            .map(|s| s.get_ref().clone())
            .collect(),
        events: events?,
        filter: filter.map(|f| f.ok_or(())).transpose().ok()?,
        actions: raw
            .actions
            .get_ref()
            .iter()
            .map(|a| a.get_ref().clone())
            .collect(),
        window: window.map(|w| w.ok_or(())).transpose().ok()?,
    })
    .filter(|_| ok)
}

pub(super) fn event_globs(
    raw: Option<&[Spanned<String>]>,
    builder: &mut Builder<'_>,
) -> Option<Vec<glob::Pattern>> {
    let Some(raw) = raw else {
        return Some(vec![glob::Pattern::new("*").expect("valid glob")]);
    };
    builder.event_globs(raw)
}

/// The keys a rule accepts, its window's included (for the reference check).
pub(super) fn reference_keys() -> Vec<String> {
    crate::kit::keys::keys_of::<RawRule>()
}
