//! `kind = "github"`: no options beyond the shared ones.

use super::GithubSource;
use crate::ingress::source::Source;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::secret::Secret;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {}

pub fn build(
    options: Item<'_>,
    secrets: Vec<Secret>,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Source>> {
    let Options {} = builder.options(options)?;
    Some(Arc::new(GithubSource::new(secrets)))
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}
