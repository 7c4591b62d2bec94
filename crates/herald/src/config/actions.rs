//! `[actions.NAME]`: the options every action kind shares; the kind's own options go
//! to the kind the catalog names.

use super::model::ActionConfig;
use crate::core::retry::{Backoff, RetryPolicy};
use crate::kit::build::Builder;
use crate::kit::document::{self, Item};
use crate::kit::{ActionCommon, Catalog};
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub const SHARED_KEYS: &[&str] = &["kind", "retry", "timeout"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedOptions {
    #[allow(dead_code)]
    kind: String,
    retry: Option<Spanned<RawRetry>>,
    timeout: Option<Spanned<String>>,
}

/// `retry = { schedule = ["10s", "1m"] }` or `{ initial, multiplier, max_delay, max_attempts }`,
/// each with an optional `jitter` fraction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    schedule: Option<Vec<Spanned<String>>>,
    initial: Option<Spanned<String>>,
    multiplier: Option<f64>,
    max_delay: Option<Spanned<String>>,
    max_attempts: Option<u32>,
    jitter: Option<f64>,
}

pub fn build_action(
    name: &Spanned<String>,
    item: &Item<'_>,
    default_retry: &RetryPolicy,
    catalog: &Catalog,
    builder: &mut Builder<'_>,
) -> Option<ActionConfig> {
    let table = builder
        .diagnostics
        .take(document::table(item, "an action"))?;
    let kind_name = builder
        .diagnostics
        .take(document::kind(&table, name.span(), "action"))?;
    let Some(kind) = catalog.action(kind_name.get_ref()) else {
        let known: Vec<_> = catalog.actions().map(|k| k.name).collect();
        builder.error(
            kind_name.span(),
            format!(
                "unknown action kind `{}` (known: {})",
                kind_name.get_ref(),
                known.join(", ")
            ),
        );
        return None;
    };
    let (shared, own) = document::split(&table, item.span(), SHARED_KEYS);
    let shared: SharedOptions = builder.options(shared)?;
    let timeout = match &shared.timeout {
        Some(value) => builder.duration(value),
        None => Some(DEFAULT_TIMEOUT),
    };
    let retry = match &shared.retry {
        Some(raw) => retry_policy(raw, builder),
        None => Some(default_retry.clone()),
    };
    builder.shared_keys = SHARED_KEYS;
    let action = (kind.build)(
        own,
        &ActionCommon {
            timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
        },
        builder,
    );
    builder.shared_keys = &[];
    Some(ActionConfig {
        name: name.get_ref().clone(),
        kind: kind.name,
        action: action?,
        retry: retry?,
        timeout: timeout?,
    })
}

pub fn retry_policy(raw: &Spanned<RawRetry>, builder: &mut Builder<'_>) -> Option<RetryPolicy> {
    let retry = raw.get_ref();
    let jitter = retry.jitter.unwrap_or(0.2);
    if !(0.0..=1.0).contains(&jitter) {
        builder.error(raw.span(), "`jitter` must be between 0 and 1");
        return None;
    }
    let exponential_keys = retry.initial.is_some()
        || retry.multiplier.is_some()
        || retry.max_delay.is_some()
        || retry.max_attempts.is_some();
    let backoff = match &retry.schedule {
        Some(_) if exponential_keys => {
            builder.error(raw.span(), "give either `schedule` or `initial`/`multiplier`/`max_delay`/`max_attempts`, not both");
            return None;
        }
        Some(schedule) => {
            let delays: Vec<_> = schedule.iter().map(|d| builder.duration(d)).collect();
            Backoff::Schedule(delays.into_iter().collect::<Option<_>>()?)
        }
        None => exponential(raw, builder)?,
    };
    Some(RetryPolicy { backoff, jitter })
}

fn exponential(raw: &Spanned<RawRetry>, builder: &mut Builder<'_>) -> Option<Backoff> {
    let Backoff::Exponential {
        initial,
        multiplier,
        max_delay,
        max_attempts,
    } = RetryPolicy::default().backoff
    else {
        unreachable!("the default policy is exponential");
    };
    let retry = raw.get_ref();
    let initial = retry
        .initial
        .as_ref()
        .map_or(Some(initial), |d| builder.duration(d))?;
    let max_delay = retry
        .max_delay
        .as_ref()
        .map_or(Some(max_delay), |d| builder.duration(d))?;
    let multiplier = retry.multiplier.unwrap_or(multiplier);
    let max_attempts = retry.max_attempts.unwrap_or(max_attempts);
    if multiplier < 1.0 || max_attempts == 0 {
        builder.error(
            raw.span(),
            "`multiplier` must be at least 1 and `max_attempts` at least 1",
        );
        return None;
    }
    Some(Backoff::Exponential {
        initial,
        multiplier,
        max_delay,
        max_attempts,
    })
}

/// The keys every action kind shares (for the reference check).
pub(super) fn shared_keys() -> Vec<String> {
    crate::kit::keys::keys_of::<SharedOptions>()
}
