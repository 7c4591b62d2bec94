//! The HTTP transport every action's requests go through: one client, one way to send a
//! planned request and read the answer. Redirects are never followed: a redirect could
//! leave the allowed hosts.

use crate::action::PlannedRequest;
use crate::core::classify::parse_retry_after;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use std::time::Duration;

/// An answer, with its body cut to the configured limit.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The `Retry-After` the destination asked for, if any.
    pub fn retry_after(&self, now: DateTime<Utc>) -> Option<Duration> {
        let value = self.headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
        parse_retry_after(value, now)
    }
}

/// Build the shared client: rustls with ring, no redirects, herald's user agent.
pub fn client() -> reqwest::Client {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is static and valid")
}

/// Send once, keeping at most `body_limit` bytes of the answer. `Err` carries a transport
/// error (connect, timeout, reset) as text.
pub async fn send(
    http: &reqwest::Client,
    request: &PlannedRequest,
    body_limit: usize,
) -> Result<Answer, String> {
    let mut builder = http
        .request(request.method.clone(), request.url.clone())
        .timeout(request.timeout);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let mut response = builder.send().await.map_err(describe_error)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = read_limited(&mut response, body_limit).await;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

async fn read_limited(response: &mut reqwest::Response, limit: usize) -> String {
    let mut bytes = Vec::new();
    let mut truncated = false;
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            truncated = true;
            break;
        }
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if truncated {
        text.push_str(" …[truncated]");
    }
    text
}

/// A transport error as one line, with its causes.
fn describe_error(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut message = kind.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}
