//! Helpers for the integration tests: building requests, clocks and secrets.

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::ingress::source::{Inbound, ParseError, Parsed, RawRequest, Reply, Source, VerifyError};
use crate::secret::Secret;

/// An owned request that lends a [`RawRequest`].
#[derive(Debug, Clone, Default)]
pub(crate) struct TestRequest {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub query: String,
}

impl TestRequest {
    pub(crate) fn new(body: impl AsRef<[u8]>) -> Self {
        TestRequest {
            headers: HeaderMap::new(),
            body: body.as_ref().to_vec(),
            query: String::new(),
        }
    }

    /// Sets a header, replacing an earlier value.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::try_from(name).expect("valid header name");
        let value = HeaderValue::try_from(value).expect("valid header value");
        self.headers.insert(name, value);
        self
    }

    pub(crate) fn without(mut self, name: &str) -> Self {
        self.headers.remove(name);
        self
    }

    pub(crate) fn json(self) -> Self {
        self.header("content-type", "application/json")
    }

    pub(crate) fn form(self) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
    }

    pub(crate) fn raw(&self) -> RawRequest<'_> {
        RawRequest {
            headers: &self.headers,
            body: &self.body,
            query: &self.query,
        }
    }

    pub(crate) fn verify(
        &self,
        source: &dyn Source,
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        source.verify(&self.raw(), now)
    }

    pub(crate) fn parse(&self, source: &dyn Source) -> Result<Parsed, ParseError> {
        source.parse(&self.raw())
    }

    /// Parses and expects an event.
    pub(crate) fn event(&self, source: &dyn Source) -> Inbound {
        match self.parse(source) {
            Ok(Parsed::Event(inbound)) => inbound,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Parses and expects an immediate reply.
    pub(crate) fn reply(&self, source: &dyn Source) -> Reply {
        match self.parse(source) {
            Ok(Parsed::Reply(reply)) => reply,
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}

/// A clock reading at a unix time in seconds.
pub(crate) fn at(unix_seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix_seconds, 0).expect("in range")
}

/// Named secrets `s0`, `s1`, … with the given values.
pub(crate) fn secrets(values: &[&str]) -> Vec<Secret> {
    values
        .iter()
        .enumerate()
        .map(|(index, value)| Secret::new(format!("s{index}"), *value))
        .collect()
}

/// Fails when an error's text shows any of the given secret or expected values.
pub(crate) fn assert_no_leak(error: &VerifyError, forbidden: &[&str]) {
    let text = format!("{error} {error:?}");
    for value in forbidden {
        assert!(!text.contains(value), "{text:?} reveals {value:?}");
    }
}
