//! `kind = "token"`: `scheme = "header"` (default; `header`, default `Authorization`, and
//! `prefix`, default `Bearer ` for Authorization) or `scheme = "basic"` (optional
//! `username`; the password is the secret). `query_params = true` takes event fields from
//! the URL's query string too.

use super::{TokenParams, TokenSource};
use crate::ingress::source::Source;
use crate::integrations::generic_hmac::config::header_name;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::secret::Secret;
use http::header::AUTHORIZATION;
use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;

#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Scheme {
    #[default]
    Header,
    Basic,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    scheme: Scheme,
    header: Option<Spanned<String>>,
    prefix: Option<String>,
    username: Option<String>,
    #[serde(default)]
    query_params: bool,
}

pub fn build(
    options: Item<'_>,
    secrets: Vec<Secret>,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Source>> {
    let span = options.span();
    let options: Options = builder.options(options)?;
    let params = match options.scheme {
        Scheme::Basic => {
            if options.header.is_some() || options.prefix.is_some() {
                builder.error(
                    span,
                    "`header` and `prefix` do not apply to scheme = \"basic\"",
                );
                return None;
            }
            TokenParams::Basic {
                username: options.username,
            }
        }
        Scheme::Header => {
            if options.username.is_some() {
                builder.error(span, "`username` applies only to scheme = \"basic\"");
                return None;
            }
            let header = match &options.header {
                Some(name) => header_name(name, builder)?,
                None => AUTHORIZATION,
            };
            let default_prefix = if header == AUTHORIZATION {
                "Bearer "
            } else {
                ""
            };
            let prefix = options.prefix.unwrap_or_else(|| default_prefix.to_string());
            TokenParams::Header { header, prefix }
        }
    };
    Some(Arc::new(
        TokenSource::new(params, secrets).with_query_params(options.query_params),
    ))
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}
