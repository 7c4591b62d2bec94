//! A rule's `window = { group, quiet, bucket, max_wait, max_count, calendar }`.

use crate::core::template::Escape;
use crate::core::window::{Calendar, WindowSpec};
use crate::kit::build::Builder;
use crate::kit::units;
use chrono::NaiveTime;
use croner::Cron;
use herald_store::model::WindowTiming;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// Events are never held longer than this unless the rule says otherwise.
const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    group: Option<Spanned<String>>,
    quiet: Option<Spanned<String>>,
    bucket: Option<Spanned<String>>,
    max_wait: Option<Spanned<String>>,
    max_count: Option<Spanned<i64>>,
    calendar: Option<Spanned<RawCalendar>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    timezone: Option<Spanned<String>>,
    days: Option<Spanned<String>>,
    hours: Option<Spanned<String>>,
    #[serde(default)]
    also: Vec<Spanned<String>>,
}

pub fn build_window(raw: &Spanned<RawWindow>, builder: &mut Builder<'_>) -> Option<WindowSpec> {
    let window = raw.get_ref();
    let group = window
        .group
        .as_ref()
        .map(|g| builder.template("window.group", g, Escape::None));
    let quiet = optional_ms(&window.quiet, builder);
    let bucket = optional_ms(&window.bucket, builder);
    if bucket == Some(Some(0)) {
        builder.error(raw.span(), "`bucket` must be longer than zero");
        return None;
    }
    let max_wait = builder
        .duration_or(&window.max_wait, DEFAULT_MAX_WAIT)
        .map(millis);
    let max_count = match &window.max_count {
        Some(count) if *count.get_ref() < 1 => {
            builder.error(count.span(), "`max_count` must be at least 1");
            None
        }
        Some(count) => Some(Some(*count.get_ref())),
        None => Some(None),
    };
    let calendar = window
        .calendar
        .as_ref()
        .map(|calendar| build_calendar(calendar, builder));
    Some(WindowSpec {
        group: group.map(|g| g.ok_or(())).transpose().ok()?,
        timing: WindowTiming {
            quiet_ms: quiet?,
            bucket_ms: bucket?,
            max_wait_ms: max_wait?,
            max_count: max_count?,
        },
        calendar: calendar.map(|c| c.ok_or(())).transpose().ok()?,
    })
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn optional_ms(value: &Option<Spanned<String>>, builder: &mut Builder<'_>) -> Option<Option<i64>> {
    match value {
        Some(text) => builder.duration(text).map(|d| Some(millis(d))),
        None => Some(None),
    }
}

fn build_calendar(raw: &Spanned<RawCalendar>, builder: &mut Builder<'_>) -> Option<Calendar> {
    let calendar = raw.get_ref();
    let zone = builder
        .diagnostics
        .take(units::time_zone(calendar.timezone.as_ref()));
    let days = match &calendar.days {
        Some(days) => parse_days(days.get_ref())
            .map_err(|message| builder.error(days.span(), message))
            .ok(),
        None => Some([true; 7]),
    };
    let hours = match &calendar.hours {
        Some(hours) => parse_hours(hours.get_ref())
            .map(Some)
            .map_err(|message| builder.error(hours.span(), message))
            .ok(),
        None => Some(None),
    };
    let also: Vec<Option<Cron>> = calendar
        .also
        .iter()
        .map(|pattern| builder.diagnostics.take(units::cron(pattern)))
        .collect();
    Some(Calendar {
        zone: zone?,
        days: days?,
        hours: hours?,
        also: also.into_iter().collect::<Option<_>>()?,
    })
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `mon-fri`, `sat,sun`, `mon-wed,fri`.
fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let index = |name: &str| {
        DAY_NAMES
            .iter()
            .position(|day| day.eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| format!("unknown day {name:?}: use mon, tue, wed, thu, fri, sat, sun"))
    };
    let mut days = [false; 7];
    for part in text.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (index(from)?, index(to)?);
                let mut day = from;
                loop {
                    days[day] = true;
                    if day == to {
                        break;
                    }
                    day = (day + 1) % 7;
                }
            }
            None => days[index(part)?] = true,
        }
    }
    Ok(days)
}

/// `08:00-21:00` (the end is exclusive; `22:00-06:00` goes over midnight).
fn parse_hours(text: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let bad = || format!("hours {text:?} should look like \"08:00-21:00\"");
    let (from, to) = text.split_once('-').ok_or_else(bad)?;
    let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
    Ok((time(from)?, time(to)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_hours_parse() {
        assert_eq!(
            parse_days("mon-fri").unwrap(),
            [true, true, true, true, true, false, false]
        );
        assert_eq!(
            parse_days("sat,sun").unwrap(),
            [false, false, false, false, false, true, true]
        );
        assert_eq!(
            parse_days("fri-mon").unwrap(),
            [true, false, false, false, true, true, true]
        );
        assert!(parse_days("someday").unwrap_err().contains("unknown day"));
        let (from, to) = parse_hours("08:00-21:00").unwrap();
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("08:00:00".into(), "21:00:00".into())
        );
        assert!(parse_hours("8am").is_err());
    }
}
