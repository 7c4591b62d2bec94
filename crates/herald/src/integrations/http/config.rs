//! `kind = "http"` options: `method` (default POST), `url`, `headers`, `body`, `format`
//! (json, the default, or text), `allowed_hosts` (required when the URL is a template).

use super::action::{BodyFormat, HttpAction};
use super::allow::HostPattern;
use crate::action::Action;
use crate::core::template::Escape;
use crate::kit::ActionCommon;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use http::{HeaderName, Method};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use toml::Spanned;

/// With no `body`, a JSON action sends the event payload.
const DEFAULT_JSON_BODY: &str = "{{ event }}";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    method: Option<Spanned<String>>,
    url: Spanned<String>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    body: Option<Spanned<String>>,
    #[serde(default = "default_format")]
    format: BodyFormat,
    allowed_hosts: Option<Vec<Spanned<String>>>,
}

fn default_format() -> BodyFormat {
    BodyFormat::Json
}

pub fn build(
    options: Item<'_>,
    common: &ActionCommon,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Action>> {
    let span = options.span();
    let options: Options = builder.options(options)?;
    let method = method(options.method.as_ref(), builder);
    let url_text = builder
        .interpolate_with_values(&options.url)
        .map(|(text, values)| (Spanned::new(options.url.span(), text), values));
    let allowed_hosts = url_text
        .as_ref()
        .and_then(|(url, _)| allowed_hosts(url, options.allowed_hosts.as_deref(), builder));
    let url = url_text
        .and_then(|(url, values)| builder.template_redacting("url", &url, Escape::None, values));
    let headers = headers(&options.headers, builder);
    let escape = match options.format {
        BodyFormat::Json => Escape::Json,
        BodyFormat::Text => Escape::None,
    };
    let body = match (&options.body, options.format) {
        (Some(body), _) => Some(builder.template("body", body, escape)),
        (None, BodyFormat::Json) => {
            let default = Spanned::new(span, DEFAULT_JSON_BODY.to_string());
            Some(builder.template_text("body", &default, escape))
        }
        (None, BodyFormat::Text) => None,
    };
    Some(Arc::new(HttpAction {
        method: method?,
        url: url?,
        allowed_hosts: allowed_hosts?,
        headers: headers?,
        body: body.map(|b| b.ok_or(())).transpose().ok()?,
        format: options.format,
        timeout: common.timeout,
    }))
}

fn method(value: Option<&Spanned<String>>, builder: &mut Builder<'_>) -> Option<Method> {
    let Some(value) = value else {
        return Some(Method::POST);
    };
    match Method::from_bytes(value.get_ref().to_ascii_uppercase().as_bytes()) {
        Ok(method) => Some(method),
        Err(_) => {
            builder.error(
                value.span(),
                format!("invalid HTTP method {:?}", value.get_ref()),
            );
            None
        }
    }
}

fn headers(
    raw: &BTreeMap<String, Spanned<String>>,
    builder: &mut Builder<'_>,
) -> Option<Vec<(HeaderName, crate::core::template::TemplateRef)>> {
    let mut headers = Vec::new();
    let mut ok = true;
    for (name, value) in raw {
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            builder.error(value.span(), format!("invalid header name {name:?}"));
            ok = false;
            continue;
        };
        match builder.template(&format!("headers.{header}"), value, Escape::None) {
            Some(template) => headers.push((header, template)),
            None => ok = false,
        }
    }
    ok.then_some(headers)
}

/// The hosts the URL may reach: the listed ones, or the host of a URL that is not a template.
fn allowed_hosts(
    url: &Spanned<String>,
    listed: Option<&[Spanned<String>]>,
    builder: &mut Builder<'_>,
) -> Option<Vec<HostPattern>> {
    let is_template = url.get_ref().contains("{{") || url.get_ref().contains("{%");
    let literal = if is_template {
        None
    } else {
        match url::Url::parse(url.get_ref().trim()) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Some(parsed),
            Ok(parsed) => {
                builder.error(
                    url.span(),
                    format!("URL scheme {:?} is not http or https", parsed.scheme()),
                );
                return None;
            }
            Err(error) => {
                builder.error(url.span(), format!("invalid URL: {error}"));
                return None;
            }
        }
    };
    let Some(listed) = listed else {
        return match literal.as_ref().and_then(HostPattern::of_url) {
            Some(pattern) => Some(vec![pattern]),
            None => {
                builder.error(
                    url.span(),
                    "the URL is a template: list the hosts it may reach in `allowed_hosts`",
                );
                None
            }
        };
    };
    let mut patterns = Vec::new();
    for host in listed {
        match HostPattern::parse(host.get_ref()) {
            Ok(pattern) => patterns.push(pattern),
            Err(message) => builder.error(host.span(), message),
        }
    }
    if patterns.len() != listed.len() {
        return None;
    }
    if let Some(literal) = literal
        && !patterns.iter().any(|pattern| pattern.allows(&literal))
    {
        builder.error(url.span(), "the URL's host is not in `allowed_hosts`");
        return None;
    }
    Some(patterns)
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}
