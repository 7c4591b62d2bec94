//! `kind = "slack"`: `tolerance` (default 5 minutes) bounds the request timestamp's age.

use super::SlackSource;
use crate::ingress::source::Source;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::secret::Secret;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    tolerance: Option<Spanned<String>>,
}

pub fn build(
    options: Item<'_>,
    secrets: Vec<Secret>,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Source>> {
    let options: Options = builder.options(options)?;
    let tolerance = builder.duration_or(&options.tolerance, DEFAULT_TOLERANCE)?;
    Some(Arc::new(SlackSource::new(secrets, tolerance)))
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}
