//! `[schedules.NAME]`: herald's own timed events (`cron`, `timezone`), e.g. a daily
//! retention pass. Each tick is an event of the `herald` source with type
//! `schedule.NAME`, routed by rules like any other.

use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::kit::units;
use chrono_tz::Tz;
use croner::Cron;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub cron: Cron,
    pub zone: Tz,
}

impl Schedule {
    /// The event type of this schedule's ticks.
    pub fn event_type(&self) -> String {
        format!("schedule.{}", self.name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    cron: Spanned<String>,
    timezone: Option<Spanned<String>>,
}

pub fn build_schedule(
    name: &Spanned<String>,
    item: Item<'_>,
    builder: &mut Builder<'_>,
) -> Option<Schedule> {
    let raw: RawSchedule = builder.options(item)?;
    let cron = builder.diagnostics.take(units::cron(&raw.cron));
    let zone = builder
        .diagnostics
        .take(units::time_zone(raw.timezone.as_ref()));
    Some(Schedule {
        name: name.get_ref().clone(),
        cron: cron?,
        zone: zone?,
    })
}

/// The keys a schedule accepts (for the reference check).
pub(super) fn reference_keys() -> Vec<String> {
    crate::kit::keys::keys_of::<RawSchedule>()
}
