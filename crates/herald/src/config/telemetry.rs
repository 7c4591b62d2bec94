//! `[telemetry]`: where OpenTelemetry traces go. Off unless `endpoint` is set.

use super::model::TelemetryConfig;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::kit::keys::keys_of;
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// The path OTLP/HTTP receives traces at, under a collector's base URL.
pub const TRACES_PATH: &str = "/v1/traces";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTelemetry {
    endpoint: Option<Spanned<String>>,
    service_name: Option<Spanned<String>>,
    /// Header name -> the name of the secret sent as its value.
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    timeout: Option<Spanned<String>>,
    max_queue: Option<Spanned<usize>>,
}

pub fn telemetry(item: Option<Item<'_>>, builder: &mut Builder<'_>) -> Option<TelemetryConfig> {
    let raw: RawTelemetry = match item {
        Some(item) => builder.options(item)?,
        None => RawTelemetry::default(),
    };
    let defaults = TelemetryConfig::default();
    let endpoint = raw
        .endpoint
        .as_ref()
        .map(|endpoint| traces_url(endpoint, builder));
    let service_name = match &raw.service_name {
        Some(name) if name.get_ref().trim().is_empty() => {
            builder.error(name.span(), "`service_name` must not be empty");
            None
        }
        Some(name) => builder.interpolate(name),
        None => Some(defaults.service_name),
    };
    let headers = headers(&raw.headers, builder);
    let timeout = match builder.duration_or(&raw.timeout, defaults.timeout) {
        Some(Duration::ZERO) => {
            builder.error(
                raw.timeout.as_ref().map(|t| t.span()),
                "`timeout` must be more than 0s",
            );
            None
        }
        timeout => timeout,
    };
    let max_queue = match &raw.max_queue {
        Some(n) if *n.get_ref() == 0 => {
            builder.error(n.span(), "`max_queue` must be at least 1");
            None
        }
        Some(n) => Some(*n.get_ref()),
        None => Some(defaults.max_queue),
    };
    Some(TelemetryConfig {
        endpoint: endpoint.transpose().ok()?,
        service_name: service_name?,
        headers: headers?,
        timeout: timeout?,
        max_queue: max_queue?,
    })
}

/// The collector's traces URL: `endpoint` plus `/v1/traces`, unless it already ends so.
/// Credentials belong in `headers`, never in the URL (which herald logs).
fn traces_url(value: &Spanned<String>, builder: &mut Builder<'_>) -> Result<String, ()> {
    if !cfg!(feature = "otel") {
        builder.error(
            value.span(),
            "this herald was built without the `otel` feature: it cannot export traces",
        );
        return Err(());
    }
    let text = builder.interpolate(value).ok_or(())?;
    let url = match url::Url::parse(&text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => url,
        _ => {
            builder.error(
                value.span(),
                "`endpoint` must be an http(s) address like http://localhost:4318",
            );
            return Err(());
        }
    };
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        builder.error(
            value.span(),
            "`endpoint` must not carry credentials (a user, a password or a query): send a \
             collector's token with `headers`, as a named secret",
        );
        return Err(());
    }
    let base = text.trim_end_matches('/');
    Ok(if base.ends_with(TRACES_PATH) {
        base.to_string()
    } else {
        format!("{base}{TRACES_PATH}")
    })
}

/// `headers = { "x-api-key" = "collector_token" }`: each value names a secret.
fn headers(
    raw: &BTreeMap<String, Spanned<String>>,
    builder: &mut Builder<'_>,
) -> Option<Vec<(HeaderName, crate::secret::Secret)>> {
    let mut headers = Vec::new();
    let mut ok = true;
    for (name, secret_name) in raw {
        let Ok(header) = HeaderName::from_bytes(name.trim().as_bytes()) else {
            builder.error(
                secret_name.span(),
                format!("invalid header name {name:?} in `headers`"),
            );
            ok = false;
            continue;
        };
        let Some(secret) = builder.secret(secret_name) else {
            ok = false;
            continue;
        };
        // Checked now, so a bad value is a load error; the message never shows it.
        if HeaderValue::from_str(secret.expose()).is_err() {
            builder.error(
                secret_name.span(),
                format!(
                    "secret `{}` cannot be sent as a header value (control characters)",
                    secret.name()
                ),
            );
            ok = false;
            continue;
        }
        headers.push((header, secret));
    }
    ok.then_some(headers)
}

pub(super) fn reference_keys() -> Vec<String> {
    keys_of::<RawTelemetry>()
}
