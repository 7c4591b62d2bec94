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

/// A configuration as `check` loads it (at /etc/herald/herald.toml, no environment); Err:
/// its problems, one a line.
pub(crate) fn load_config(text: &str) -> Result<crate::config::Config, String> {
    crate::config::from_text(
        std::path::Path::new("/etc/herald/herald.toml"),
        text,
        std::sync::Arc::new(|_| None),
        &crate::integrations::catalog(),
    )
    .map(|loaded| loaded.config)
    .map_err(|report| report.short())
}

/// The problems of a configuration that must not load.
pub(crate) fn config_problems(text: &str) -> String {
    match load_config(text) {
        Ok(_) => panic!("the configuration loaded"),
        Err(problems) => problems,
    }
}

/// What `action` of `config` plans for an event of `source` and `event_type` with
/// `payload`, reading `refs`; a dry run's plan (no delivery).
pub(crate) async fn plan_event(
    config: &crate::config::Config,
    action: &str,
    refs: &dyn crate::action::RefLookup,
    (source, event_type): (&str, &str),
    payload: &serde_json::Value,
) -> crate::action::Plan {
    let meta = crate::core::context::EventMeta {
        id: uuid::Uuid::nil(),
        source,
        event_type,
        received_at: Utc::now(),
        dedup_key: None,
        hook: None,
    };
    let context = crate::core::context::event_context(
        &meta,
        std::sync::Arc::new(payload.clone().into()),
        &std::collections::BTreeMap::new(),
    );
    let input = crate::action::ActionInput {
        templates: &config.templates,
        context: &context,
        refs,
        now: Utc::now(),
        done: 0,
        delivery: None,
    };
    config.actions[action].action.plan(&input).await.unwrap()
}
