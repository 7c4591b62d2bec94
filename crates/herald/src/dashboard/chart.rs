//! A small inline SVG bar chart, made on the server: per minute over the last hour, events
//! and deliveries side by side.

use chrono::{DateTime, Utc};
use std::fmt::Write as _;

pub const MINUTES: usize = 60;

/// Counts per minute, oldest first, of the `times` within the `MINUTES` minutes up to `now`.
pub fn per_minute(now: DateTime<Utc>, times: impl IntoIterator<Item = DateTime<Utc>>) -> Vec<u64> {
    let mut counts = vec![0u64; MINUTES];
    for time in times {
        let age = (now - time).num_seconds();
        if (0..(MINUTES as i64 * 60)).contains(&age) {
            counts[MINUTES - 1 - (age / 60) as usize] += 1;
        }
    }
    counts
}

const WIDTH: usize = 8;
const HEIGHT: u64 = 80;

/// Bars for `events` and `deliveries` (equal lengths), each minute one pair, scaled to the
/// largest count. Only numbers go into the markup.
pub fn svg(events: &[u64], deliveries: &[u64]) -> String {
    let max = events
        .iter()
        .chain(deliveries)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let width = events.len() * WIDTH;
    let mut out = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {width} {h}\" width=\"{width}\" height=\"{h}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>Events and deliveries per minute, last hour</title>",
        h = HEIGHT + 1,
    );
    for (minute, (events, deliveries)) in events.iter().zip(deliveries).enumerate() {
        let x = minute * WIDTH;
        let ago = MINUTES - 1 - minute;
        for (offset, count, class) in [
            (0, *events, "events"),
            (WIDTH / 2, *deliveries, "deliveries"),
        ] {
            let height = count * HEIGHT / max;
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{height}\">\
                 <title>{count} {class}, {ago}–{next} min ago</title></rect>",
                x = x + offset,
                next = ago + 1,
                y = HEIGHT - height,
                w = WIDTH / 2 - 1,
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_in_their_minute() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let counts = per_minute(
            now,
            [
                now,
                now - chrono::Duration::seconds(59),
                now - chrono::Duration::seconds(61),
                now - chrono::Duration::minutes(59),
                now - chrono::Duration::minutes(60),
            ],
        );
        assert_eq!(counts.len(), MINUTES);
        assert_eq!(counts[MINUTES - 1], 2);
        assert_eq!(counts[MINUTES - 2], 1);
        assert_eq!(counts[0], 1);
        assert_eq!(counts.iter().sum::<u64>(), 4);
        let svg = svg(&counts, &vec![0; MINUTES]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 2 * MINUTES);
    }
}
