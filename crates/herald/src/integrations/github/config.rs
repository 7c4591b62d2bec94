//! `kind = "github"`: `require_delivery` (default true) refuses a request without
//! `X-GitHub-Delivery`, the id a repeated delivery is recognised by.

use super::GithubSource;
use crate::ingress::source::Source;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::secret::Secret;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    require_delivery: Option<bool>,
}

pub fn build(
    options: Item<'_>,
    secrets: Vec<Secret>,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Source>> {
    let options: Options = builder.options(options)?;
    let source =
        GithubSource::new(secrets).requiring_delivery(options.require_delivery.unwrap_or(true));
    Some(Arc::new(source))
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}
