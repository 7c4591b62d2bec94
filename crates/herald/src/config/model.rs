//! The configuration once loaded: resolved, validated, ready to use.

use crate::action::Action;
use crate::core::retry::RetryPolicy;
use crate::core::rules::Rule;
use crate::core::template::{ExprRef, TemplateEngine};
use crate::ingress::poller::Poller;
use crate::ingress::source::Source;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

pub struct Config {
    /// The file it was loaded from.
    pub path: PathBuf,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub retention: RetentionConfig,
    pub delivery: DeliveryConfig,
    pub hooks: HooksConfig,
    pub sources: BTreeMap<String, SourceConfig>,
    pub rules: Vec<Rule>,
    pub actions: BTreeMap<String, ActionConfig>,
    pub templates: TemplateEngine,
    /// The integrations' own sections (`[slack]`), as each reads them.
    pub sections: crate::kit::Sections,
    pub monitors: super::monitors::Monitors,
    /// How often monitors check.
    pub monitoring_interval: Duration,
    /// Where each secret is read from, e.g. `${env:GITHUB_TOKEN}` (never its value).
    pub secret_origins: BTreeMap<String, String>,
    /// Timed events of the `herald` source.
    pub schedules: Vec<super::schedules::Schedule>,
    /// `[telemetry]`: where traces go, if anywhere.
    pub telemetry: TelemetryConfig,
}

/// `[telemetry]`: OpenTelemetry traces over OTLP/HTTP, off without an endpoint.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// The collector's traces URL (ending in `/v1/traces`); none: traces are off.
    pub endpoint: Option<String>,
    /// `service.name` of the spans.
    pub service_name: String,
    /// Sent with each export (a collector's token), as named secrets.
    pub headers: Vec<(http::HeaderName, Secret)>,
    /// How long one export may take; shutdown waits this long at most for the last one.
    pub timeout: Duration,
    /// Spans waiting to be sent at most; more are dropped, so ingest never waits.
    pub max_queue: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            endpoint: None,
            service_name: "herald".to_string(),
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
            max_queue: 4096,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Bearer token of the admin API; the API is off without one.
    pub admin_token: Option<Secret>,
    /// A token that signs in to the dashboard (besides the admin token) and opens nothing
    /// else: for people who look and replay, not for scripts.
    pub dashboard_token: Option<Secret>,
    /// How long in-flight deliveries may take to finish on shutdown.
    pub shutdown_grace: Duration,
    /// A request taking longer (a slow sender) is answered 408.
    pub request_timeout: Duration,
    /// The address senders reach herald at (`https://herald.example.com`, no trailing
    /// slash), for the payload URLs of registered hooks.
    pub public_url: Option<String>,
}

/// `[hooks]`: registered hooks.
#[derive(Debug, Clone, Default)]
pub struct HooksConfig {
    /// Seals the hooks' secrets at rest; required when a source is a registry.
    pub key: Option<crate::registry::HookKey>,
}

#[derive(Debug, Clone)]
pub enum StorageConfig {
    Sqlite {
        path: PathBuf,
        /// `synchronous = FULL`: a commit survives power loss, not only a crash.
        fsync_every_commit: bool,
    },
    Postgres {
        url: Secret,
        max_connections: u32,
    },
}

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Events older than this are pruned (those still referenced by a delivery are kept).
    pub events: Option<Duration>,
    /// Succeeded deliveries older than this are pruned. Dead ones are kept.
    pub deliveries: Option<Duration>,
    /// Remembered messages and deployments not touched for this long are forgotten.
    pub refs: Option<Duration>,
    /// How often pruning runs.
    pub interval: Duration,
}

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Deliveries carried out at once by this process.
    pub concurrency: usize,
    /// How long a claimed delivery stays leased; must exceed any action's timeout.
    pub lease: Duration,
    /// How often idle workers look for due deliveries written by other processes.
    pub poll_interval: Duration,
    /// Bytes of each response body kept in the attempt log.
    pub response_body_limit: usize,
}

pub struct SourceConfig {
    pub name: String,
    pub kind: &'static str,
    /// Hooks are registered under it at run time (`/hooks/NAME/ID`), each verified with its
    /// own secret; `source` (built without secrets) parses their requests.
    pub registry: bool,
    pub source: Arc<dyn Source>,
    /// For a source herald pulls (`kind = "poller"`): how. Its `source` then refuses
    /// pushes and reads an item as `herald send` gives it.
    pub poller: Option<Arc<dyn Poller>>,
    pub max_body: u64,
    /// Overrides of the kind's event type and dedup key, as expressions.
    pub event_type: Option<ExprRef>,
    pub dedup_key: Option<ExprRef>,
    /// The action that answers this source's requests in the HTTP response, once stored.
    pub respond_with: Option<String>,
}

pub struct ActionConfig {
    pub name: String,
    pub kind: &'static str,
    pub action: Arc<dyn Action>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
}

impl Config {
    pub fn action(&self, name: &str) -> Option<&ActionConfig> {
        self.actions.get(name)
    }

    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.name == name)
    }

    /// The ordering key `action` gives an event (or window) with this context, if it
    /// orders its deliveries. The context is built only when it is needed. A key that
    /// cannot be rendered is left out: the delivery then fails on its own when it is
    /// planned, with the same error.
    pub fn ordering_key<'c>(
        &self,
        action: &str,
        context: impl FnOnce() -> &'c minijinja::Value,
    ) -> Option<String> {
        let key = self.action(action)?.action.ordering_key()?;
        key.render(&self.templates, context()).ok()
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.get(name)
    }
}

pub type SharedConfig = Arc<Config>;
