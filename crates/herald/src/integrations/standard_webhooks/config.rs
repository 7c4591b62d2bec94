//! `kind = "standard-webhooks"`: `tolerance` (default 5 minutes); secrets are `whsec_`
//! base64 keys.

use super::StandardWebhooksSource;
use crate::ingress::source::Source;
use crate::integrations::slack::config::DEFAULT_TOLERANCE;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::secret::Secret;
use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;

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
    let span = options.span();
    let options: Options = builder.options(options)?;
    let tolerance = builder.duration_or(&options.tolerance, DEFAULT_TOLERANCE)?;
    match StandardWebhooksSource::new(secrets, tolerance) {
        Ok(source) => Some(Arc::new(source)),
        Err(message) => {
            builder.error(span, message);
            None
        }
    }
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}
