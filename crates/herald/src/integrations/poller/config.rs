//! `[sources.NAME] kind = "poller"`: the API (`url`, one of `bearer`, `basic`, `header`
//! naming its credential), when to poll (`interval`, `timeout`), the cursor
//! (`cursor_param`, `next_cursor`), where things are in a page (`items`, `id`, `type`,
//! `time`), extra `query` parameters, and where to start without a cursor (`start`,
//! `range_start_param`, `range_end_param`).

use super::api::CursorPoller;
use super::path::Path;
use crate::ingress::poller::{PollCron, PollSettings, Poller, Start};
use crate::integrations::generic_hmac::config::header_name;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::kit::units::{self, RawSize};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_PAGE: u64 = 16 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    url: Spanned<String>,
    /// The secret sent as `Authorization: Bearer <secret>`.
    bearer: Option<Spanned<String>>,
    basic: Option<Spanned<Basic>>,
    header: Option<Spanned<Header>>,
    interval: Option<Spanned<String>>,
    /// Poll at these times (5 fields) instead of every `interval`.
    cron: Option<Spanned<String>>,
    /// The time zone `cron` is read in (UTC).
    timezone: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    cursor_param: Option<Spanned<String>>,
    next_cursor: Option<Spanned<String>>,
    items: Option<Spanned<String>>,
    id: Option<Spanned<String>>,
    #[serde(rename = "type")]
    event_type: Option<Spanned<String>>,
    time: Option<Spanned<String>>,
    #[serde(default)]
    query: BTreeMap<String, Spanned<QueryValue>>,
    start: Option<Spanned<String>>,
    range_start_param: Option<Spanned<String>>,
    range_end_param: Option<Spanned<String>>,
    max_page: Option<Spanned<RawSize>>,
}

/// `basic = { username = "…", password = "<secret name>" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Basic {
    username: Spanned<String>,
    password: Spanned<String>,
}

/// `header = { name = "X-Api-Key", secret = "<secret name>" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: Spanned<String>,
    secret: Spanned<String>,
}

/// A query value: text, or a list sent as one comma-joined value (`events=a,b`).
#[derive(Deserialize)]
#[serde(untagged)]
enum QueryValue {
    One(String),
    Many(Vec<String>),
}

pub fn build(item: Item<'_>, builder: &mut Builder<'_>) -> Option<Arc<dyn Poller>> {
    let span = item.span();
    let options: Options = builder.options(item)?;
    let url = url(&options.url, builder);
    let credentials = credentials(&options, span.clone(), builder);
    let interval = builder.duration_or(&options.interval, DEFAULT_INTERVAL);
    let cron = schedule(&options, builder);
    let timeout = builder.duration_or(&options.timeout, DEFAULT_TIMEOUT);
    let start = start(options.start.as_ref(), builder);
    let max_page = match &options.max_page {
        Some(size) => builder.diagnostics.take(units::size(size)),
        None => Some(DEFAULT_MAX_PAGE),
    };
    let path = |value: &Option<Spanned<String>>, default: &str, b: &mut Builder<'_>| {
        let text = value
            .as_ref()
            .map_or(default.to_string(), |v| v.get_ref().clone());
        let parsed = Path::parse(&text);
        if parsed.is_none() {
            let span = value.as_ref().map_or(span.clone(), Spanned::span);
            b.error(
                span,
                format!(
                    "bad path {text:?}: write keys joined by dots, e.g. \"list_metadata.after\""
                ),
            );
        }
        parsed
    };
    let id = path(&options.id, "id", builder);
    let event_type = path(&options.event_type, "type", builder);
    let time = options
        .time
        .as_ref()
        .map(|_| path(&options.time, "", builder));
    let next_cursor = options
        .next_cursor
        .as_ref()
        .map(|_| path(&options.next_cursor, "", builder));
    // An empty `items` means the answer itself is the list.
    let items = match options.items.as_ref().map(|i| i.get_ref().as_str()) {
        Some("") => Some(None),
        _ => path(&options.items, "data", builder).map(Some),
    };
    let query: Vec<(String, String)> = options
        .query
        .into_iter()
        .map(|(name, value)| {
            let value = match value.into_inner() {
                QueryValue::One(text) => text,
                QueryValue::Many(list) => list.join(","),
            };
            (name, value)
        })
        .collect();
    let name = |value: Option<Spanned<String>>| value.map(Spanned::into_inner);
    let (headers, secrets) = credentials?;
    Some(Arc::new(CursorPoller {
        url: url?,
        headers,
        secrets,
        query,
        cursor_param: name(options.cursor_param).unwrap_or_else(|| "after".to_string()),
        next_cursor: next_cursor.map(|p| p.ok_or(())).transpose().ok()?,
        items: items?,
        id: id?,
        event_type: event_type?,
        time: time.map(|p| p.ok_or(())).transpose().ok()?,
        range_start_param: name(options.range_start_param),
        range_end_param: name(options.range_end_param),
        settings: PollSettings {
            interval: interval?,
            cron: cron?,
            timeout: timeout?,
            start: start?,
            max_page: usize::try_from(max_page?).unwrap_or(usize::MAX),
        },
    }))
}

/// `cron` (with its `timezone`), or none to poll every `interval`; not both.
fn schedule(options: &Options, builder: &mut Builder<'_>) -> Option<Option<PollCron>> {
    let Some(pattern) = &options.cron else {
        if let Some(zone) = &options.timezone {
            builder.error(
                zone.span(),
                "`timezone` is the time zone of `cron`, which is not set",
            );
            return None;
        }
        return Some(None);
    };
    if let Some(interval) = &options.interval {
        builder.error(
            interval.span(),
            "set `interval` or `cron`, not both: `cron` says when to poll",
        );
        return None;
    }
    let cron = builder.diagnostics.take(units::cron(pattern));
    let zone = builder
        .diagnostics
        .take(units::time_zone(options.timezone.as_ref()));
    Some(Some(PollCron {
        cron: cron?,
        zone: zone?,
    }))
}

fn url(value: &Spanned<String>, builder: &mut Builder<'_>) -> Option<url::Url> {
    let text = builder.interpolate(value)?;
    match url::Url::parse(&text) {
        Ok(url) if ["http", "https"].contains(&url.scheme()) => Some(url),
        Ok(_) => {
            builder.error(value.span(), "the url must be http:// or https://");
            None
        }
        Err(error) => {
            builder.error(value.span(), format!("bad url: {error}"));
            None
        }
    }
}

/// The credential headers (sensitive) and the names of their secrets.
fn credentials(
    options: &Options,
    span: std::ops::Range<usize>,
    builder: &mut Builder<'_>,
) -> Option<(HeaderMap, Vec<String>)> {
    let given = [
        options.bearer.is_some(),
        options.basic.is_some(),
        options.header.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        builder.error(
            span,
            "give at most one of `bearer`, `basic` and `header`: the credential the API takes",
        );
        return None;
    }
    let mut headers = HeaderMap::new();
    let mut add = |name: HeaderName, value: String, secret: &str, b: &mut Builder<'_>| {
        match HeaderValue::from_str(&value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                headers.insert(name, value);
                Some(vec![secret.to_string()])
            }
            Err(_) => {
                b.error(
                    span.clone(),
                    format!("the secret `{secret}` cannot be sent in a header"),
                );
                None
            }
        }
    };
    let secrets = if let Some(name) = &options.bearer {
        let secret = builder.secret(name)?;
        let value = format!("Bearer {}", secret.expose());
        add(AUTHORIZATION, value, name.get_ref(), builder)?
    } else if let Some(basic) = &options.basic {
        let basic = basic.get_ref();
        let username = builder.interpolate(&basic.username);
        let password = builder.secret(&basic.password)?;
        let pair = format!("{}:{}", username?, password.expose());
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        );
        add(AUTHORIZATION, value, basic.password.get_ref(), builder)?
    } else if let Some(header) = &options.header {
        let header = header.get_ref();
        let name = header_name(&header.name, builder);
        let secret = builder.secret(&header.secret)?;
        let value = secret.expose().to_string();
        add(name?, value, header.secret.get_ref(), builder)?
    } else {
        Vec::new()
    };
    Some((headers, secrets))
}

/// `"now"` (the default) or an RFC 3339 time.
fn start(value: Option<&Spanned<String>>, builder: &mut Builder<'_>) -> Option<Start> {
    let Some(value) = value else {
        return Some(Start::Now);
    };
    let text = value.get_ref().trim();
    if text == "now" {
        return Some(Start::Now);
    }
    match DateTime::parse_from_rfc3339(text) {
        Ok(at) => Some(Start::At(at.with_timezone(&Utc))),
        Err(_) => {
            builder.error(
                value.span(),
                format!("bad start {text:?}: write \"now\" or an RFC 3339 time such as \"2024-09-06T18:03:00Z\""),
            );
            None
        }
    }
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}

#[cfg(test)]
mod tests {
    use crate::integrations::test_support::{config_problems, load_config};

    const POLLER: &str = r#"
[secrets]
key = "k"

[sources.events]
kind = "poller"
url = "https://api.example.com/events"
bearer = "key"
WHEN
"#;

    fn with(when: &str) -> String {
        POLLER.replace("WHEN", when)
    }

    #[test]
    fn a_poller_polls_every_interval_or_at_its_cron_times() {
        let config = load_config(&with(
            "cron = \"*/5 * * * *\"\ntimezone = \"Europe/Athens\"",
        ))
        .unwrap();
        let poller = config.sources["events"].poller.clone().unwrap();
        let settings = poller.settings();
        let end = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:01:30Z").unwrap();
        let next = settings.next_poll(end.with_timezone(&chrono::Utc));
        assert_eq!(next.to_rfc3339(), "2026-11-22T10:05:00+00:00");
        let every = load_config(&with("interval = \"90s\"")).unwrap();
        let settings = every.sources["events"].poller.clone().unwrap();
        let next = settings
            .settings()
            .next_poll(end.with_timezone(&chrono::Utc));
        assert_eq!(next.to_rfc3339(), "2026-11-22T10:03:00+00:00");
    }

    #[test]
    fn cron_and_interval_are_one_or_the_other() {
        let both = config_problems(&with("interval = \"1m\"\ncron = \"* * * * *\""));
        assert!(
            both.contains("set `interval` or `cron`, not both"),
            "{both}"
        );
        let zone = config_problems(&with("timezone = \"UTC\""));
        assert!(
            zone.contains("`timezone` is the time zone of `cron`"),
            "{zone}"
        );
        let bad = config_problems(&with("cron = \"every day\""));
        assert!(bad.contains("bad cron pattern"), "{bad}");
    }
}
