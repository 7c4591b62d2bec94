//! Aggregation windows, the pure part: how a rule's window is specified, and when a
//! calendar allows a flush. The store keeps the windows; `outbox/flusher.rs` flushes them.

use super::template::TemplateRef;
use chrono::{DateTime, Datelike, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use herald_store::model::WindowTiming;

/// A rule's `window`: events of one group are gathered and its actions run once per flush.
#[derive(Debug, Clone)]
pub struct WindowSpec {
    /// The group an event belongs to; one group when absent.
    pub group: Option<TemplateRef>,
    pub timing: WindowTiming,
    pub calendar: Option<Calendar>,
}

/// When flushes may happen: within `hours` on `days` in `zone`, and at the `also` times
/// (cron patterns, in the same zone) outside them.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub zone: Tz,
    /// Monday first.
    pub days: [bool; 7],
    /// From (inclusive) to (exclusive); all day when absent.
    pub hours: Option<(NaiveTime, NaiveTime)>,
    pub also: Vec<Cron>,
}

/// How far ahead `next_allowed` looks before giving up: a week and a day covers any
/// calendar of days and hours.
const LOOKAHEAD_MINUTES: i64 = 8 * 24 * 60;

impl Calendar {
    pub fn allows(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone);
        let day = local.weekday().num_days_from_monday() as usize;
        let in_hours = self.hours.is_none_or(|(from, to)| {
            let time = local.time();
            if from <= to {
                time >= from && time < to
            } else {
                // Over midnight, e.g. 22:00-06:00.
                time >= from || time < to
            }
        });
        (self.days[day] && in_hours) || self.also.iter().any(|cron| matches_minute(cron, &local))
    }

    /// The first minute at or after `at` when a flush is allowed.
    pub fn next_allowed(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.allows(at) {
            return at;
        }
        let start = at
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(at);
        (1..=LOOKAHEAD_MINUTES)
            .map(|minutes| start + chrono::Duration::minutes(minutes))
            .find(|candidate| self.allows(*candidate))
            // A calendar that never allows anything was refused at load; be safe anyway.
            .unwrap_or(at + chrono::Duration::days(1))
    }
}

fn matches_minute(cron: &Cron, at: &DateTime<Tz>) -> bool {
    let minute = at
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(*at);
    cron.is_time_matching(&minute).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// The original aggregator's gate: weekdays 08–21 always; weekdays otherwise on the
    /// hour; weekends on the hour every 4 hours.
    fn working_hours() -> Calendar {
        Calendar {
            zone: Tz::Europe__Athens,
            days: [true, true, true, true, true, false, false],
            hours: Some((
                NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
            )),
            also: vec![
                Cron::from_str("0 * * * 1-5").unwrap(),
                Cron::from_str("0 */4 * * 6,0").unwrap(),
            ],
        }
    }

    fn athens(text: &str) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        naive
            .and_local_timezone(Tz::Europe__Athens)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn working_hours_allow_any_minute_and_off_hours_only_listed_times() {
        let calendar = working_hours();
        // 2026-11-23 is a Monday.
        assert!(calendar.allows(athens("2026-11-23 08:00")));
        assert!(calendar.allows(athens("2026-11-23 20:59")));
        assert!(!calendar.allows(athens("2026-11-23 21:01")));
        assert!(calendar.allows(athens("2026-11-23 22:00")));
        assert!(
            !calendar.allows(athens("2026-11-28 09:00")),
            "Saturday 09:00"
        );
        assert!(
            calendar.allows(athens("2026-11-28 08:00")),
            "Saturday 08:00"
        );
        assert!(!calendar.allows(athens("2026-11-28 08:30")));
    }

    #[test]
    fn next_allowed_finds_the_next_slot() {
        let calendar = working_hours();
        assert_eq!(
            calendar.next_allowed(athens("2026-11-23 21:17")),
            athens("2026-11-23 22:00")
        );
        assert_eq!(
            calendar.next_allowed(athens("2026-11-28 09:10")),
            athens("2026-11-28 12:00")
        );
        let open = athens("2026-11-24 10:31");
        assert_eq!(calendar.next_allowed(open), open);
    }
}
