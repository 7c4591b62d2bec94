//! `kind = "slack-retire"`: a retention pass over remembered Slack threads. Per retention
//! group (`retire_group` of the action that posted them), the newest `keep` threads and
//! those written within `newer_than` stay; each other one gets `notice` in its thread and
//! on its root, and is forgotten. Run it from a schedule (`[schedules.NAME]`).

use super::action::REF_KIND;
use crate::action::{
    Action, ActionInput, CredentialCheck, Outcome, Plan, PlanError, PlannedRequest, Runbook,
    StoredRef,
};
use crate::kit::ActionCommon;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::secret::Secret;
use crate::transport::Answer;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

pub const KIND: &str = "slack-retire";

const DEFAULT_KEEP: usize = 10;
const DEFAULT_NEWER_THAN: Duration = Duration::from_secs(90 * 24 * 3600);
const DEFAULT_NOTICE: &str = "🦕 *Old thread!*\nThis thread will stop receiving updates!";

#[derive(Debug)]
pub struct SlackRetire {
    /// Posts the notices; any Slack action with the same token would do.
    pub poster: super::action::SlackAction,
    pub keep: usize,
    pub newer_than: Duration,
    pub notice: String,
}

#[async_trait]
impl Action for SlackRetire {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn credential_secrets(&self) -> Vec<&str> {
        vec![self.poster.token.name()]
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        let all = input.refs.all(REF_KIND).await.map_err(PlanError::Invalid)?;
        let cutoff = input.now - chrono::Duration::from_std(self.newer_than).unwrap_or_default();
        let mut requests = Vec::new();
        for (index, (key, data)) in retired(all, self.keep, cutoff).into_iter().enumerate() {
            let notice = &self.notice;
            requests.extend(super::plan::retire(
                &self.poster,
                &key,
                &data,
                notice,
                "retired",
                // Retired threads are forgotten, so a new plan lists only what is left:
                // numbered from the steps done, it always runs whole.
                input.done + 2 * index,
            )?);
        }
        if requests.is_empty() {
            return Ok(Plan::note("no thread to retire"));
        }
        Ok(Plan::stepped(requests))
    }

    fn credential_runbook(&self) -> Runbook {
        self.poster.credential_runbook()
    }

    fn credential_checks(&self) -> Vec<CredentialCheck> {
        self.poster.credential_checks()
    }

    fn classify(&self, request: &PlannedRequest, answer: &Answer, now: DateTime<Utc>) -> Outcome {
        self.poster.classify(request, answer, now)
    }
}

/// The threads to retire: per retention group (refs come newest first), those beyond the
/// newest `keep` and written before `cutoff`.
fn retired(
    all: Vec<StoredRef>,
    keep: usize,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, Value)> {
    let mut groups: BTreeMap<String, Vec<StoredRef>> = BTreeMap::new();
    for stored in all {
        if let Some(group) = stored.1["retire_group"].as_str() {
            groups.entry(group.to_string()).or_default().push(stored);
        }
    }
    groups
        .into_values()
        .flat_map(|threads| threads.into_iter().skip(keep))
        .filter(|(_, _, updated_at)| *updated_at < cutoff)
        .map(|(key, data, _)| (key, data))
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    token: Spanned<String>,
    keep: Option<usize>,
    newer_than: Option<Spanned<String>>,
    notice: Option<String>,
    api_url: Option<Spanned<String>>,
}

pub fn build(
    options: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let options: Options = builder.options(options)?;
    let token: Option<Secret> = builder.secret(&options.token);
    let newer_than = builder.duration_or(&options.newer_than, DEFAULT_NEWER_THAN);
    let settings = super::settings::SlackConfig::of(builder.sections);
    let api_url = builder.url_or(options.api_url.as_ref(), settings.api_url());
    let token = token?;
    let poster = super::action_config::poster(token, api_url?, common.timeout, settings);
    Some(Arc::new(SlackRetire {
        poster,
        keep: options.keep.unwrap_or(DEFAULT_KEEP),
        newer_than: newer_than?,
        notice: options.notice.unwrap_or_else(|| DEFAULT_NOTICE.to_string()),
    }))
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_newest_and_the_recent_per_group() {
        let day = |d: i64| chrono::DateTime::from_timestamp(1_700_000_000 + d * 86_400, 0).unwrap();
        // Newest first, as the store lists them: twelve threads of one pair, one a day.
        let mut all: Vec<StoredRef> = (0..12)
            .rev()
            .map(|d| (format!("q{d}"), json!({ "retire_group": "P|C" }), day(d)))
            .collect();
        all.push(("other".into(), json!({ "retire_group": "X|Y" }), day(0)));
        all.push(("loose".into(), json!({}), day(0)));
        let gone: Vec<String> = retired(all, 10, day(102) - chrono::Duration::days(90))
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        assert_eq!(gone, ["q1", "q0"]);
    }
}
