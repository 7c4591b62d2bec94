//! Human tables and JSON for scripts.

use chrono::{DateTime, SecondsFormat, Utc};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde::Serialize;
use std::io::Write;
use uuid::Uuid;

/// `println!` for a command's output (see `line`).
macro_rules! say {
    () => {
        $crate::cli::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Print one line of output. When the reader has gone away, as `head` does after its lines,
/// the command ends quietly with success: `println!` would panic with a backtrace.
pub fn line(text: std::fmt::Arguments<'_>) {
    let written = writeln!(std::io::stdout().lock(), "{text}");
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("error: cannot write the output: {error}");
            std::process::exit(1)
        }
    }
}

/// Bytes as they are (a completion script, a man page), ending quietly as `line` does.
pub fn raw(bytes: &[u8]) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        written => Ok(written?),
    }
}

pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    say!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        say!("(none)");
        return;
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_BORDERS_ONLY)
        .set_header(headers.to_vec());
    for row in rows {
        table.add_row(row);
    }
    say!("{table}");
}

/// `key  value` lines, aligned.
pub fn fields(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, value) in pairs {
        say!("{key:width$}  {value}");
    }
}

pub fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn optional<T: ToString>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "-".to_string(), ToString::to_string)
}

/// A plan as `Plan::describe` gives it — a dry run's, or the request an attempt logged —
/// under `indent`: each request's method and URL, one header a line, and its body, JSON
/// pretty-printed. `would` says "would" before each purpose (a dry run).
pub fn plan(plan: &serde_json::Value, indent: &str, would: bool) {
    let would = if would { "would " } else { "" };
    if let Some(message) = plan["log"].as_str() {
        say!("{indent}log: {message}");
    }
    if let Some(effect) = plan["effect"].as_object() {
        let mut shown = effect.clone();
        if let Some(purpose) = shown.remove("purpose") {
            say!("{indent}{would}{}:", purpose.as_str().unwrap_or_default());
        }
        let shown = serde_json::to_string_pretty(&shown).unwrap_or_default();
        lines(&shown, indent);
    }
    for request in plan["requests"].as_array().into_iter().flatten() {
        if let Some(purpose) = request["purpose"].as_str() {
            say!("{indent}{would}{purpose}:");
        }
        say!(
            "{indent}{} {}",
            request["method"].as_str().unwrap_or_default(),
            request["url"].as_str().unwrap_or_default()
        );
        for (name, value) in request["headers"].as_object().into_iter().flatten() {
            say!("{indent}{name}: {}", value.as_str().unwrap_or_default());
        }
        if let Some(body) = request["body"].as_str().filter(|body| !body.is_empty()) {
            say!();
            lines(&readable(body), indent);
        }
    }
}

/// A body as people read it: JSON pretty-printed, anything else as it is.
pub fn readable(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(json) if body.trim_start().starts_with(['{', '[']) => {
            serde_json::to_string_pretty(&json).unwrap_or_else(|_| body.to_string())
        }
        _ => body.to_string(),
    }
}

/// Each line of `text` under `indent`.
pub fn lines(text: &str, indent: &str) {
    for line in text.lines() {
        say!("{indent}{line}");
    }
}

/// Cut long text for a table cell.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let kept: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// The time window and paging every `list` command takes.
#[derive(Debug, clap::Args)]
pub struct Page {
    /// A time (2026-11-22T10:00:00Z) or an age (2h).
    #[arg(long)]
    pub since: Option<String>,
    /// Before this time (or age).
    #[arg(long)]
    pub until: Option<String>,
    /// Only records older than this id (the last id of the previous page).
    #[arg(long)]
    pub before: Option<Uuid>,
    /// At most this many (up to 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn json_bodies_are_pretty_printed_and_others_left_as_they_are() {
        assert_eq!(
            readable(r#"{"ok":true,"list":[1]}"#),
            "{\n  \"list\": [\n    1\n  ],\n  \"ok\": true\n}"
        );
        assert_eq!(readable("[]"), "[]");
        // Text that happens to be JSON, but not an object or array, is shown as sent.
        assert_eq!(readable("42"), "42");
        assert_eq!(readable("\"quoted\""), "\"quoted\"");
        assert_eq!(readable("ok=true&n=1"), "ok=true&n=1");
        assert_eq!(readable("{not json"), "{not json");
    }
}
