//! Times given by people: RFC 3339 (`2026-11-22T10:00:00Z`) or an age (`2h` = two hours ago).

use chrono::{DateTime, Utc};

pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let age = humantime::parse_duration(text).map_err(|_| {
        format!("{text:?} is neither a time (2026-11-22T10:00:00Z) nor an age (2h)")
    })?;
    let age = chrono::Duration::from_std(age).map_err(|_| format!("{text:?} is too far back"))?;
    Ok(now - age)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_times_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_time("2h", now).unwrap().to_rfc3339(),
            "2026-11-22T10:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-11-01T00:00:00+01:00", now)
                .unwrap()
                .to_rfc3339(),
            "2026-10-31T23:00:00+00:00"
        );
        assert!(parse_time("yesterday-ish", now).is_err());
    }
}
