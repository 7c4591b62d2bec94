//! `[server]`, `[storage]`, `[retention]`, `[delivery]` and `[hooks]`.

use super::actions::{RawRetry, retry_policy};
use super::model::{
    DEFAULT_LISTEN, DeliveryConfig, HooksConfig, RetentionConfig, ServerConfig, StorageConfig,
};
use crate::core::retry::RetryPolicy;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::kit::keys::keys_of;
use crate::kit::units::{self, RawSize};
use crate::registry::HookKey;
use crate::secret::Secret;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

const DAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    admin_secret: Option<Spanned<String>>,
    dashboard_secret: Option<Spanned<String>>,
    shutdown_grace: Option<Spanned<String>>,
    request_timeout: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
}

pub fn server(item: Option<Item<'_>>, builder: &mut Builder<'_>) -> Option<ServerConfig> {
    let raw: RawServer = section(item, builder)?;
    let listen = match &raw.listen {
        Some(listen) => {
            let text = builder.interpolate(listen)?;
            match text.parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    builder.error(
                        listen.span(),
                        format!("`listen` must be an address like {DEFAULT_LISTEN}"),
                    );
                    None
                }
            }
        }
        None => Some(DEFAULT_LISTEN.parse().expect("valid default")),
    };
    let admin_token = raw.admin_secret.as_ref().map(|name| builder.secret(name));
    let dashboard_token = raw
        .dashboard_secret
        .as_ref()
        .map(|name| builder.secret(name));
    let shutdown_grace = builder.duration_or(&raw.shutdown_grace, Duration::from_secs(25));
    let request_timeout = builder.duration_or(&raw.request_timeout, Duration::from_secs(30));
    let public_url = raw
        .public_url
        .as_ref()
        .map(|url| public_url(url, builder).ok_or(()))
        .transpose();
    Some(ServerConfig {
        listen: listen?,
        admin_token: admin_token.map(|t| t.ok_or(())).transpose().ok()?,
        dashboard_token: dashboard_token.map(|t| t.ok_or(())).transpose().ok()?,
        shutdown_grace: shutdown_grace?,
        request_timeout: request_timeout?,
        public_url: public_url.ok()?,
    })
}

/// An `http(s)://host[:port][/prefix]` address, kept without its trailing slash.
fn public_url(value: &Spanned<String>, builder: &mut Builder<'_>) -> Option<String> {
    let text = builder.interpolate(value)?;
    let parsed = url::Url::parse(&text).ok().filter(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.query().is_none()
            && url.fragment().is_none()
    });
    if parsed.is_none() {
        builder.error(
            value.span(),
            "`public_url` must be an http(s) address like https://herald.example.com",
        );
        return None;
    }
    Some(text.trim_end_matches('/').to_string())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHooks {
    key: Option<Spanned<String>>,
}

/// `[hooks]`: the key registered hooks' secrets are sealed with.
pub fn hooks(item: Option<Item<'_>>, builder: &mut Builder<'_>) -> Option<HooksConfig> {
    let raw: RawHooks = section(item, builder)?;
    let Some(name) = &raw.key else {
        return Some(HooksConfig::default());
    };
    let secret = builder.secret(name)?;
    match HookKey::from_secret(&secret) {
        Ok(key) => Some(HooksConfig { key: Some(key) }),
        Err(message) => {
            builder.error(name.span(), message);
            None
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    backend: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    synchronous: Option<Spanned<String>>,
    max_connections: Option<u32>,
}

/// SQLite by default, in `herald.db` next to the configuration file.
pub fn storage(
    item: Option<Item<'_>>,
    config_dir: &Path,
    builder: &mut Builder<'_>,
) -> Option<StorageConfig> {
    let raw: RawStorage = section(item, builder)?;
    let backend = raw
        .backend
        .as_ref()
        .map_or("sqlite", |b| b.get_ref().as_str());
    match backend {
        "sqlite" => {
            let path = match &raw.path {
                Some(path) => config_dir.join(builder.interpolate(path)?),
                None => config_dir.join("herald.db"),
            };
            let fsync_every_commit =
                match raw.synchronous.as_ref().map(|s| (s, s.get_ref().as_str())) {
                    None | Some((_, "full")) => true,
                    Some((_, "normal")) => false,
                    Some((value, _)) => {
                        builder.error(value.span(), "`synchronous` must be \"full\" or \"normal\"");
                        return None;
                    }
                };
            Some(StorageConfig::Sqlite {
                path,
                fsync_every_commit,
            })
        }
        "postgres" => {
            let Some(url) = &raw.url else {
                builder.error(
                    raw.backend.as_ref().map(|b| b.span()),
                    "backend = \"postgres\" needs `url`",
                );
                return None;
            };
            let url = Secret::new("storage.url", builder.interpolate(url)?);
            Some(StorageConfig::Postgres {
                url,
                max_connections: raw.max_connections.unwrap_or(10),
            })
        }
        other => {
            builder.error(
                raw.backend.as_ref().map(|b| b.span()),
                format!("unknown backend `{other}` (sqlite or postgres)"),
            );
            None
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    events: Option<Spanned<String>>,
    deliveries: Option<Spanned<String>>,
    refs: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
}

pub fn retention(item: Option<Item<'_>>, builder: &mut Builder<'_>) -> Option<RetentionConfig> {
    let raw: RawRetention = section(item, builder)?;
    let events = age_or_never(&raw.events, 30 * DAY, builder);
    let deliveries = age_or_never(&raw.deliveries, 30 * DAY, builder);
    let refs = age_or_never(&raw.refs, 90 * DAY, builder);
    let interval = builder.duration_or(&raw.interval, Duration::from_secs(3600));
    Some(RetentionConfig {
        events: events?,
        deliveries: deliveries?,
        refs: refs?,
        interval: interval?,
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    concurrency: Option<Spanned<usize>>,
    lease: Option<Spanned<String>>,
    poll_interval: Option<Spanned<String>>,
    response_body_limit: Option<Spanned<RawSize>>,
    retry: Option<Spanned<RawRetry>>,
}

/// `[delivery] concurrency` when not set. 32, not 16: with 16, deliveries into a fast
/// destination fell behind peak ingest on SQLite (87% of it, the backlog growing all the
/// while); with 32 they kept pace, the backlog a few hundred (docs/benchmarks.md).
const DEFAULT_CONCURRENCY: usize = 32;

/// The delivery settings, and the retry policy of actions that give none.
pub fn delivery(
    item: Option<Item<'_>>,
    builder: &mut Builder<'_>,
) -> Option<(DeliveryConfig, Option<Spanned<()>>, RetryPolicy)> {
    let raw: RawDelivery = section(item, builder)?;
    let concurrency = match &raw.concurrency {
        Some(n) if *n.get_ref() == 0 => {
            builder.error(n.span(), "`concurrency` must be at least 1");
            None
        }
        Some(n) => Some(*n.get_ref()),
        None => Some(DEFAULT_CONCURRENCY),
    };
    let lease = builder.duration_or(&raw.lease, Duration::from_secs(120));
    let poll_interval = builder.duration_or(&raw.poll_interval, Duration::from_secs(1));
    let response_body_limit = match &raw.response_body_limit {
        Some(size) => builder
            .diagnostics
            .take(units::size(size))
            .map(|n| n as usize),
        None => Some(4096),
    };
    let retry = match &raw.retry {
        Some(retry) => retry_policy(retry, builder),
        None => Some(RetryPolicy::default()),
    };
    let lease_span = raw
        .lease
        .as_ref()
        .map(|lease| Spanned::new(lease.span(), ()));
    let config = DeliveryConfig {
        concurrency: concurrency?,
        lease: lease?,
        poll_interval: poll_interval?,
        response_body_limit: response_body_limit?,
    };
    Some((config, lease_span, retry?))
}

fn section<T: serde::de::DeserializeOwned + Default>(
    item: Option<Item<'_>>,
    builder: &mut Builder<'_>,
) -> Option<T> {
    match item {
        Some(item) => builder.options(item),
        None => Some(T::default()),
    }
}

/// A retention age, or `"never"` to keep forever.
fn age_or_never(
    value: &Option<Spanned<String>>,
    default: Duration,
    builder: &mut Builder<'_>,
) -> Option<Option<Duration>> {
    match value {
        Some(text) if text.get_ref() == "never" => Some(None),
        Some(text) => builder.duration(text).map(Some),
        None => Some(Some(default)),
    }
}

/// herald's own sections and the keys each accepts (for the reference check).
pub(super) fn reference_keys() -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("server", keys_of::<RawServer>()),
        ("storage", keys_of::<RawStorage>()),
        ("retention", keys_of::<RawRetention>()),
        ("delivery", keys_of::<RawDelivery>()),
        ("hooks", keys_of::<RawHooks>()),
    ]
}
