//! `[slack]`: GitHub login → Slack user id for the `slack_mention` filter, and how Slack
//! messages are paced per token and channel.

use crate::action::Pace;
use crate::kit::diagnostic::{Diagnostic, Diagnostics};
use crate::kit::document::{self, Item};
use crate::kit::{SectionContext, Sections, keys, units};
use serde::Deserialize;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

pub const SECTION: &str = "slack";

/// `[slack]` as read.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    /// At most one message per this period per token and channel, after a burst.
    pub pace: Duration,
    pub burst: u32,
    /// GitHub login → Slack user id.
    pub users: BTreeMap<String, String>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            pace: Duration::from_secs(1),
            burst: 3,
            users: BTreeMap::new(),
        }
    }
}

impl SlackConfig {
    /// The section as read, or its defaults.
    pub fn of(sections: &Sections) -> SlackConfig {
        sections
            .get::<SlackConfig>(SECTION)
            .cloned()
            .unwrap_or_default()
    }

    /// Pace calls under `key` (a token and channel) as configured.
    pub fn pace(&self, key: String) -> Pace {
        Pace {
            key,
            every: self.pace,
            burst: self.burst,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    /// GitHub login → Slack user id, for the `slack_mention` filter.
    #[serde(default)]
    users: BTreeMap<String, String>,
    /// At most one message per this period per token and channel, after a burst.
    pace: Option<Spanned<String>>,
    burst: Option<Spanned<u32>>,
}

pub fn build(
    item: Option<Item<'_>>,
    _context: &SectionContext<'_>,
    diagnostics: &mut Diagnostics,
) -> Arc<dyn Any + Send + Sync> {
    let raw: RawSlack = match item {
        Some(item) => diagnostics.take(document::typed(item)).unwrap_or_default(),
        None => RawSlack::default(),
    };
    let defaults = SlackConfig::default();
    let pace = diagnostics
        .take(units::optional_duration(&raw.pace, defaults.pace))
        .unwrap_or(defaults.pace);
    let burst = match &raw.burst {
        Some(burst) if *burst.get_ref() == 0 => {
            diagnostics.push(Diagnostic::error(
                burst.span(),
                "`burst` must be at least 1",
            ));
            defaults.burst
        }
        Some(burst) => *burst.get_ref(),
        None => defaults.burst,
    };
    Arc::new(SlackConfig {
        pace,
        burst,
        users: raw.users,
    })
}

pub fn options() -> Vec<String> {
    keys::keys_of::<RawSlack>()
}
