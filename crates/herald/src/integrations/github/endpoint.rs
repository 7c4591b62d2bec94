//! Where and as whom one action calls GitHub: its `token` or `app`, its `api_url` and
//! `api_version` (else `[github]`'s, else GitHub's), and the JSON requests it sends there.
//! Shared by the `github-*` actions and deploybot.

use super::api;
use super::auth::{Api, AppOptions, GithubAuth};
use super::settings::GithubConfig;
use crate::action::PlannedRequest;
use crate::kit::build::Builder;
use serde_json::Value;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

#[derive(Debug)]
pub struct Endpoint {
    /// A token, or a GitHub App's installation.
    pub auth: GithubAuth,
    pub api_url: String,
    pub api_version: String,
}

/// The options an action gives its endpoint, as read from its table.
pub struct EndpointOptions<'a> {
    pub token: Option<&'a Spanned<String>>,
    pub app: Option<&'a Spanned<AppOptions>>,
    pub api_url: Option<&'a Spanned<String>>,
    pub api_version: Option<&'a String>,
}

impl Endpoint {
    /// Read `options` for the table at `span`; every problem is reported.
    pub fn build(
        builder: &mut Builder<'_>,
        span: Range<usize>,
        options: EndpointOptions<'_>,
    ) -> Option<Endpoint> {
        let section = GithubConfig::of(builder.sections);
        let api_url = builder.url_or(options.api_url, section.api_url());
        let api_version = section.api_version(options.api_version);
        let api = Api {
            url: api_url.as_deref().unwrap_or(section.api_url()),
            version: &api_version,
        };
        let auth = GithubAuth::build(builder, span, options.token, options.app, api);
        Some(Endpoint {
            auth: auth?,
            api_url: api_url?,
            api_version,
        })
    }

    pub fn api(&self) -> Api<'_> {
        Api {
            url: &self.api_url,
            version: &self.api_version,
        }
    }

    /// `POST {api_url}/{path}` of `body`, with GitHub's headers and this credential.
    pub fn post(
        &self,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<PlannedRequest, String> {
        let text = format!("{}/{path}", self.api_url.trim_end_matches('/'));
        let url = url::Url::parse(&text).map_err(|error| format!("bad URL {text:?}: {error}"))?;
        let request = PlannedRequest::json(url, body, body, timeout)
            .header("accept", api::ACCEPT)
            .header("x-github-api-version", &self.api_version);
        Ok(self.auth.apply(request))
    }
}
