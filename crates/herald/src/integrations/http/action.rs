//! Rendering and sending the `http` action's request.

use super::allow::HostPattern;
use super::send;
use crate::action::{
    Action, ActionDeps, ActionInput, AttemptReport, Plan, PlanError, PlannedRequest,
};
use crate::core::classify::{Verdict, classify_status};
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
        Ok(Plan {
            requests: vec![PlannedRequest {
                method: self.method.clone(),
                url,
                headers,
                body,
                timeout: self.timeout,
                shown_url,
                shown_headers,
                shown_body,
                purpose: None,
                remember: None,
                step: 0,
                pace_key: None,
                follow_previous: None,
            }],
            message: None,
        })
    }

    async fn execute(&self, plan: &Plan, deps: &ActionDeps, _done: usize) -> AttemptReport {
        let Some(request) = plan.requests.first() else {
            return AttemptReport::permanent("nothing to send");
        };
        match send::send(request, deps).await {
            Ok(answer) => {
                let verdict = classify_status(answer.status, answer.retry_after(deps));
                let error = (verdict != Verdict::Success).then(|| {
                    let reason = http::StatusCode::from_u16(answer.status)
                        .ok()
                        .and_then(|status| status.canonical_reason())
                        .unwrap_or("");
                    format!("HTTP {} {reason}", answer.status)
                        .trim_end()
                        .to_string()
                });
                AttemptReport {
                    verdict,
                    status_code: Some(answer.status),
                    error,
                    response_body: Some(answer.body),
                    done: usize::from(verdict == Verdict::Success),
                    ..AttemptReport::success(None, None)
                }
            }
            Err(error) => AttemptReport::success(None, None).failed(
                Verdict::Retry { retry_after: None },
                None,
                error,
            ),
        }
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
