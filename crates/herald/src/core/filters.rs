//! Template filters herald adds to minijinja for every integration: truncation, short
//! SHAs, dates in a time zone, and URL and name helpers. Integrations add their own
//! (Slack's in `integrations/slack/filters.rs`).

use super::template::Filters;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::value::{Kwargs, Value};
use minijinja::{Error, ErrorKind};
use std::fmt::Write as _;

pub fn register(env: &mut Filters<'_>) {
    env.add_filter("truncate", truncate);
    env.add_filter("short_sha", short_sha);
    env.add_filter("datetime", datetime);
    env.add_filter("dash_lower", dash_lower);
    env.add_filter("before", before);
    env.add_filter("path_after", path_after);
}

/// Every uppercase ASCII letter becomes `-` and its lowercase, and one leading `-` is
/// dropped: `ProductsAPI` → `products-a-p-i` (the pact-slack-aggregator's repository names).
pub fn dash_lower(text: String) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if c.is_ascii_uppercase() {
            out.push('-');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    match out.strip_prefix('-') {
        Some(rest) => rest.to_string(),
        None => out,
    }
}

/// The text before the first `separator` (all of it when absent):
/// `{{ url | before("/pacts/") }}` is a Pact Broker's base URL.
pub fn before(text: String, separator: String) -> String {
    match text.find(&separator) {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The path segment after `/<name>/`: `{{ url | path_after("pact-version") }}`. Empty
/// when the URL has no such segment.
pub fn path_after(text: String, name: String) -> String {
    let marker = format!("/{name}/");
    match text.find(&marker) {
        Some(at) => text[at + marker.len()..]
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .to_string(),
        None => String::new(),
    }
}

/// At most `length` characters (default 255), ending with `end` (default `…`) when cut.
pub fn truncate(text: String, length: Option<usize>, end: Option<String>) -> String {
    let length = length.unwrap_or(255);
    let end = end.unwrap_or_else(|| "…".to_string());
    if text.chars().count() <= length {
        return text;
    }
    let keep = length.saturating_sub(end.chars().count());
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(&end);
    cut
}

/// The first `length` (default 7) characters of a commit SHA.
pub fn short_sha(sha: String, length: Option<usize>) -> String {
    sha.chars().take(length.unwrap_or(7)).collect()
}

/// A time (RFC 3339 text or unix seconds) formatted in a time zone:
/// `{{ meta.received_at | datetime("%a %d %b %H:%M", tz="Europe/Athens") }}`.
pub fn datetime(value: Value, format: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let tz: Option<String> = kwargs.get("tz")?;
    kwargs.assert_all_used()?;
    let at = parse_time(&value)?;
    let format = format.unwrap_or_else(|| "%Y-%m-%d %H:%M %Z".to_string());
    let zone: Tz = tz
        .as_deref()
        .unwrap_or("UTC")
        .parse()
        .map_err(|_| invalid(format!("unknown time zone {:?}", tz.unwrap_or_default())))?;
    // chrono reads the format while writing it: `to_string` would panic on a bad one.
    let mut text = String::new();
    write!(text, "{}", at.with_timezone(&zone).format(&format))
        .map_err(|_| invalid(format!("{format:?} is not a valid datetime format")))?;
    Ok(text)
}

fn parse_time(value: &Value) -> Result<DateTime<Utc>, Error> {
    if let Some(seconds) = value.as_i64() {
        return DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| invalid("timestamp out of range"));
    }
    let text = value
        .as_str()
        .ok_or_else(|| invalid("datetime needs an RFC 3339 time or unix seconds"))?;
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| invalid(format!("{text:?} is not an RFC 3339 time: {error}")))
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert_eq!(dash_lower("ProductsAPI".into()), "products-a-p-i");
        assert_eq!(dash_lower("engine".into()), "engine");
        assert_eq!(dash_lower("ServiceA".into()), "service-a");
        let url = "https://b/pacts/provider/P/consumer/C/pact-version/aaa111/metadata/x";
        assert_eq!(before(url.into(), "/pacts/".into()), "https://b");
        assert_eq!(before("no-sep".into(), "/pacts/".into()), "no-sep");
        assert_eq!(path_after(url.into(), "pact-version".into()), "aaa111");
        let result =
            "https://b/pacts/provider/P/consumer/C/pact-version/bbb/verification-results/42";
        assert_eq!(
            path_after(result.into(), "verification-results".into()),
            "42"
        );
        assert_eq!(path_after("https://b/x".into(), "pact-version".into()), "");
    }

    fn render(template: &str) -> Result<String, Error> {
        let mut env = minijinja::Environment::new();
        register(&mut Filters::on(&mut env));
        env.render_str(template, minijinja::context! {})
    }

    #[test]
    fn text_helpers() {
        let cases = [
            (r#"{{ "abcdefghij" | truncate(5) }}"#, "abcd…"),
            (r#"{{ "abc" | truncate(5) }}"#, "abc"),
            (r#"{{ "abcdefghij" | truncate(6, "...") }}"#, "abc..."),
            (r#"{{ "1dc6aa69f0e0c3a2" | short_sha }}"#, "1dc6aa6"),
            (r#"{{ "1dc6aa69f0e0c3a2" | short_sha(10) }}"#, "1dc6aa69f0"),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template).unwrap(), expected, "{template}");
        }
    }

    #[test]
    fn dates_in_a_time_zone() {
        let cases = [
            (
                r#"{{ "2024-01-01T10:00:00Z" | datetime }}"#,
                "2024-01-01 10:00 UTC",
            ),
            (
                r#"{{ "2024-01-01T10:00:00Z" | datetime("%H:%M %Z", tz="Europe/Athens") }}"#,
                "12:00 EET",
            ),
            (
                r#"{{ 1704103200 | datetime("%a %b %d %Y", tz="America/New_York") }}"#,
                "Mon Jan 01 2024",
            ),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template).unwrap(), expected, "{template}");
        }
        let bad_zone =
            render(r#"{{ "2024-01-01T10:00:00Z" | datetime(tz="Mars/Olympus") }}"#).unwrap_err();
        assert!(
            bad_zone.to_string().contains("unknown time zone"),
            "{bad_zone}"
        );
        assert!(render(r#"{{ "yesterday" | datetime }}"#).is_err());
    }

    /// chrono checks a format only while writing it, and `to_string` panics on the error:
    /// a typo in a template's format must fail that render, not the worker.
    #[test]
    fn an_invalid_format_is_an_error() {
        for format in ["%Q", "%", "%-"] {
            let template = format!(r#"{{{{ 0 | datetime("{format}") }}}}"#);
            let error = render(&template).unwrap_err();
            assert!(error.to_string().contains("format"), "{format}: {error}");
        }
    }
}
