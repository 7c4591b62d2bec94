//! Durations (`"10s"`, `"1h 30m"`), sizes (`"25 MiB"`, `1048576`), time zones and cron
//! patterns as written in the configuration.

use super::diagnostic::Diagnostic;
use chrono_tz::Tz;
use croner::Cron;
use serde::Deserialize;
use std::str::FromStr;
use std::time::Duration;
use toml::Spanned;

/// A time zone name such as `Europe/Athens`; UTC when absent.
pub fn time_zone(value: Option<&Spanned<String>>) -> Result<Tz, Diagnostic> {
    let Some(value) = value else {
        return Ok(Tz::UTC);
    };
    Tz::from_str(value.get_ref().trim()).map_err(|_| {
        Diagnostic::error(
            value.span(),
            format!(
                "unknown time zone {:?} (e.g. \"Europe/Athens\", \"UTC\")",
                value.get_ref()
            ),
        )
    })
}

/// A 5-field cron pattern such as `0 3 * * *`.
pub fn cron(value: &Spanned<String>) -> Result<Cron, Diagnostic> {
    Cron::from_str(value.get_ref())
        .map_err(|error| Diagnostic::error(value.span(), format!("bad cron pattern: {error}")))
}

/// Parse a human duration such as `500ms`, `10s`, `5m`, `2h`, `30d`.
pub fn duration(value: &Spanned<String>) -> Result<Duration, Diagnostic> {
    humantime::parse_duration(value.get_ref().trim()).map_err(|error| {
        Diagnostic::error(
            value.span(),
            format!("bad duration {:?}: {error}", value.get_ref()),
        )
        .with_help("write a number with a unit, e.g. \"500ms\", \"10s\", \"5m\", \"2h\", \"30d\"")
    })
}

pub fn optional_duration(
    value: &Option<Spanned<String>>,
    default: Duration,
) -> Result<Duration, Diagnostic> {
    value.as_ref().map_or(Ok(default), duration)
}

/// A byte size: an integer, or a number with a unit (B, KB, KiB, MB, MiB, GB, GiB).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(u64),
    Text(String),
}

pub fn size(value: &Spanned<RawSize>) -> Result<u64, Diagnostic> {
    match value.get_ref() {
        RawSize::Bytes(bytes) => Ok(*bytes),
        RawSize::Text(text) => parse_size(text).ok_or_else(|| {
            Diagnostic::error(value.span(), format!("bad size {text:?}"))
                .with_help("write bytes as a number, or with a unit, e.g. \"512 KiB\", \"25MB\"")
        }),
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "kib" => 1 << 10,
        "mb" | "m" => 1_000_000,
        "mib" => 1 << 20,
        "gb" | "g" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    let bytes = number * multiplier as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes <= u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_decimal_and_binary_units() {
        for (text, bytes) in [
            ("1024", 1024),
            ("25MB", 25_000_000),
            ("25 MiB", 25 << 20),
            ("512kib", 512 << 10),
            ("1.5 KB", 1_500),
        ] {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
        }
        for text in ["", "MB", "12 parsecs", "-1"] {
            assert_eq!(parse_size(text), None, "{text}");
        }
    }

    #[test]
    fn durations_report_their_span() {
        let spanned = Spanned::new(10..15, "10 parsecs".to_string());
        let error = duration(&spanned).unwrap_err();
        assert_eq!(error.span, Some(10..15));
        assert!(error.message.contains("bad duration"));
        let ok = Spanned::new(0..1, "1h 30m".to_string());
        assert_eq!(duration(&ok).unwrap(), Duration::from_secs(5400));
    }
}
