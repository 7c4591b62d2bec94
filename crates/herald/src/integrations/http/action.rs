//! Rendering the `http` action's request; the step runner sends it as plain HTTP.

use super::allow::HostPattern;
use crate::action::{Action, ActionInput, Plan, PlanError, PlannedRequest};
use crate::core::template::TemplateRef;
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    /// Printed values are JSON-escaped and the body must be valid JSON.
    Json,
    /// The body is sent as rendered.
    Text,
}

#[derive(Debug)]
pub struct HttpAction {
    pub method: Method,
    pub url: TemplateRef,
    pub allowed_hosts: Vec<HostPattern>,
    pub headers: Vec<(HeaderName, TemplateRef)>,
    pub body: Option<TemplateRef>,
    pub format: BodyFormat,
    pub timeout: Duration,
}

#[async_trait]
impl Action for HttpAction {
    fn kind(&self) -> &'static str {
        super::KIND
    }

    async fn plan(&self, input: &ActionInput<'_>) -> Result<Plan, PlanError> {
        let (url, shown_url) = self.url(input)?;
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        let mut shown_headers = Vec::with_capacity(self.headers.len() + 1);
        if self.format == BodyFormat::Json && !self.has_header(&http::header::CONTENT_TYPE) {
            headers.push((
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ));
            shown_headers.push(("content-type".to_string(), "application/json".to_string()));
        }
        for (name, template) in &self.headers {
            let value = input.templates.render(template, input.context)?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| {
                PlanError::Invalid(format!(
                    "header {name} renders to a value HTTP cannot carry"
                ))
            })?;
            headers.push((name.clone(), value));
            let shown = input.templates.render_redacted(template, input.context)?;
            shown_headers.push((name.to_string(), shown.trim().to_string()));
        }
        let (body, shown_body) = self.body(input)?;
        let mut request = PlannedRequest::new(self.method.clone(), url, shown_url, self.timeout);
        request.headers = headers;
        request.shown_headers = shown_headers;
        request.body = body;
        request.shown_body = shown_body;
        Ok(Plan::of(vec![request]))
    }
}

impl HttpAction {
    fn has_header(&self, wanted: &HeaderName) -> bool {
        self.headers.iter().any(|(name, _)| name == wanted)
    }

    fn url(&self, input: &ActionInput<'_>) -> Result<(Url, String), PlanError> {
        let shown = input.templates.render_redacted(&self.url, input.context)?;
        let text = input.templates.render(&self.url, input.context)?;
        let url = Url::parse(text.trim()).map_err(|error| {
            PlanError::Invalid(format!("URL {:?} is not valid: {error}", shown.trim()))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PlanError::Invalid(format!(
                "URL scheme {:?} is not http or https",
                url.scheme()
            )));
        }
        if !self
            .allowed_hosts
            .iter()
            .any(|pattern| pattern.allows(&url))
        {
            let host = url.host_str().unwrap_or_default();
            return Err(PlanError::Invalid(format!(
                "host {host:?} is not in this action's allowed_hosts"
            )));
        }
        Ok((url, shown.trim().to_string()))
    }

    fn body(&self, input: &ActionInput<'_>) -> Result<(Option<Bytes>, Option<String>), PlanError> {
        let Some(template) = &self.body else {
            return Ok((None, None));
        };
        let body = input.templates.render(template, input.context)?;
        if self.format == BodyFormat::Json
            && let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(&body)
        {
            return Err(PlanError::Invalid(format!(
                "the body is not valid JSON: {error}"
            )));
        }
        let shown = input.templates.render_redacted(template, input.context)?;
        Ok((Some(Bytes::from(body)), Some(shown)))
    }
}
