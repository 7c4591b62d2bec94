//! `kind = "hmac"`: `header` (required), `prefix`, `algorithm` (sha1, sha256, sha512),
//! `encoding` (hex, base64), and optionally a signed timestamp: `timestamp_header`,
//! `tolerance`, `signed_payload` (e.g. "{timestamp}.{body}").

use super::{HmacAlgorithm, HmacParams, HmacSource, SignatureEncoding, TimestampParams};
use crate::ingress::source::Source;
use crate::integrations::slack::config::DEFAULT_TOLERANCE;
use crate::kit::build::Builder;
use crate::kit::document::Item;
use crate::secret::Secret;
use http::HeaderName;
use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    header: Spanned<String>,
    #[serde(default)]
    prefix: String,
    #[serde(default = "default_algorithm")]
    algorithm: HmacAlgorithm,
    #[serde(default = "default_encoding")]
    encoding: SignatureEncoding,
    timestamp_header: Option<Spanned<String>>,
    tolerance: Option<Spanned<String>>,
    signed_payload: Option<Spanned<String>>,
}

fn default_algorithm() -> HmacAlgorithm {
    HmacAlgorithm::Sha256
}

fn default_encoding() -> SignatureEncoding {
    SignatureEncoding::Hex
}

pub fn build(
    options: Item<'_>,
    secrets: Vec<Secret>,
    builder: &mut Builder<'_>,
) -> Option<Arc<dyn Source>> {
    let options: Options = builder.options(options)?;
    let header = header_name(&options.header, builder)?;
    let timestamp = match &options.timestamp_header {
        Some(name) => Some(timestamp_params(name, &options, builder)?),
        None => {
            if let Some(extra) = options
                .tolerance
                .as_ref()
                .or(options.signed_payload.as_ref())
            {
                builder.error(
                    extra.span(),
                    "`tolerance` and `signed_payload` need `timestamp_header`",
                );
                return None;
            }
            None
        }
    };
    let params = HmacParams {
        header,
        prefix: options.prefix,
        algorithm: options.algorithm,
        encoding: options.encoding,
        timestamp,
    };
    Some(Arc::new(HmacSource::new(params, secrets)))
}

fn timestamp_params(
    name: &Spanned<String>,
    options: &Options,
    builder: &mut Builder<'_>,
) -> Option<TimestampParams> {
    let header = header_name(name, builder)?;
    let tolerance = builder.duration_or(&options.tolerance, DEFAULT_TOLERANCE)?;
    let signed_payload = match &options.signed_payload {
        Some(format) if !format.get_ref().contains("{body}") => {
            builder.error(format.span(), "`signed_payload` must contain {body}");
            return None;
        }
        Some(format) => format.get_ref().clone(),
        None => "{timestamp}.{body}".to_string(),
    };
    Some(TimestampParams {
        header,
        tolerance,
        signed_payload,
    })
}

pub fn header_name(name: &Spanned<String>, builder: &mut Builder<'_>) -> Option<HeaderName> {
    match HeaderName::from_bytes(name.get_ref().trim().as_bytes()) {
        Ok(header) => Some(header),
        Err(_) => {
            builder.error(
                name.span(),
                format!("invalid header name {:?}", name.get_ref()),
            );
            None
        }
    }
}

pub fn options() -> Vec<String> {
    crate::kit::keys::keys_of::<Options>()
}
