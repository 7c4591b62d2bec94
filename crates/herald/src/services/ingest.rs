//! Accepting an event: verify, parse, route, and store it with its deliveries in one
//! transaction (shared with concurrent writes by the `Writer`). The caller answers only
//! after this returns.

use crate::action::{Responder, Responding};
use crate::clock::SharedClock;
use crate::config::{Config, SharedConfig, SourceConfig};
use crate::core::context::{inbound_context, new_event_context};
use crate::core::rules::{HERALD_SOURCE, route};
use crate::core::window::WindowSpec;
use crate::ingress::signatures::SignatureFailures;
use crate::ingress::source::{
    HTTP_CREDENTIAL_HEADERS, ParseError, Parsed, RawRequest, Reply, VerifyError,
};
use crate::outbox::Handoff;
use crate::outbox::recent::{self, RecentEvents};
use crate::services::hooks::{HookError, Hooks};
use crate::services::write_health::WriteHealth;
use crate::telemetry;
use crate::traces::{EventTrace, IngestTiming, Stored, Traces};
use herald_store::model::{
    AppendOutcome, Document, EventHook, EventWithDeliveries, JsonText, NewDelivery, NewEvent,
    WindowEntry,
};
use herald_store::{SharedStore, StoreError, Writer};
use http::HeaderMap;
use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::Notify;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown source `{0}`")]
    UnknownSource(String),
    /// A delivery to `/hooks/{source}` of a registry, whose hooks each have their own URL.
    #[error(
        "source `{0}` is a registry: deliveries go to /hooks/{0}/{{id}}, the URL of a registered hook"
    )]
    RegistryNeedsHook(String),
    /// A delivery to `/hooks/{source}/{id}` of a source that is not a registry.
    #[error("source `{0}` has no registered hooks: deliveries go to /hooks/{0}")]
    NotARegistry(String),
    /// A push to a source herald pulls.
    #[error(
        "source `{name}` is a poller: herald pulls its events from {from}, so nothing is accepted at /hooks/{name}"
    )]
    Poller { name: String, from: String },
    #[error("no hook `{id}` is registered under source `{registry}`")]
    UnknownHook { registry: String, id: String },
    #[error(transparent)]
    Hook(HookError),
    #[error("{0}")]
    Unverified(VerifyError),
    #[error("malformed request: {0}")]
    Malformed(ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq)]
pub enum IngestOutcome {
    /// Stored now; `deliveries` were queued.
    Accepted { event_id: Uuid, deliveries: usize },
    /// Seen before (same dedup key): nothing was stored or queued again.
    Duplicate { event_id: Uuid },
    /// A protocol exchange answered directly and not stored.
    Reply(Reply),
}

/// An event ready to store, with the deliveries its rules create.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub item: EventWithDeliveries,
    /// The event's payload, parsed when something reads into it.
    pub payload: Arc<Document>,
    /// Rules whose filter failed on this event: (rule, error).
    pub filter_errors: Vec<(String, String)>,
}

impl Prepared {
    /// Log and count the rules whose filter failed on the event (they did not match).
    pub fn report_filter_errors(&self) {
        for (rule, error) in &self.filter_errors {
            tracing::warn!(rule = %rule, error = %error, "Rule filter failed; the rule does not match");
            telemetry::filter_error(rule);
        }
    }
}

pub struct Ingest {
    config: SharedConfig,
    writer: Writer,
    clock: SharedClock,
    /// Wakes this process's workers as soon as deliveries are committed.
    wake: Arc<Notify>,
    /// Rejected signatures, for the signature-failures monitor.
    signature_failures: Arc<SignatureFailures>,
    /// Whether appends succeed, for `/readyz`.
    write_health: Arc<WriteHealth>,
    /// Registered hooks, for deliveries to `/hooks/{source}/{id}`.
    hooks: Option<Arc<Hooks>>,
    /// Where each event's trace starts (off by default).
    traces: Traces,
    /// What responders (`respond_with`) read and ask with; none: requests get the usual 202.
    responses: Option<(SharedStore, reqwest::Client)>,
    /// Where stored events wait for this process's workers (none: they read the store).
    recent: Option<Arc<RecentEvents>>,
    /// Where deliveries stored leased to this process's worker go (none: all are claimed).
    handoff: Option<Arc<Handoff>>,
}

impl Ingest {
    pub fn new(
        config: SharedConfig,
        writer: Writer,
        clock: SharedClock,
        wake: Arc<Notify>,
    ) -> Self {
        Ingest {
            config,
            writer,
            clock,
            wake,
            signature_failures: Arc::default(),
            write_health: Arc::default(),
            hooks: None,
            traces: Traces::off(),
            responses: None,
            recent: None,
            handoff: None,
        }
    }

    /// Let sources with `respond_with` answer their requests, reading `store` and asking
    /// with `http`.
    pub fn with_responses(mut self, store: SharedStore, http: reqwest::Client) -> Self {
        self.responses = Some((store, http));
        self
    }

    /// Accept deliveries to the hooks registered in `hooks`.
    pub fn with_hooks(mut self, hooks: Arc<Hooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// Keep each stored event in `recent` for the deliveries about to run it.
    pub fn with_recent_events(mut self, recent: Arc<RecentEvents>) -> Self {
        self.recent = Some(recent);
        self
    }

    /// Store what this process's worker has room for leased to it, and hand it over once
    /// committed, rather than have the worker claim it.
    pub fn with_handoff(mut self, handoff: Arc<Handoff>) -> Self {
        self.handoff = Some(handoff);
        self
    }

    /// Start each event's trace in `traces`.
    pub fn with_traces(mut self, traces: Traces) -> Self {
        self.traces = traces;
        self
    }

    /// Record whether appends succeed in `health` (shared with `/readyz`).
    pub fn with_write_health(mut self, health: Arc<WriteHealth>) -> Self {
        self.write_health = health;
        self
    }

    /// Record rejected signatures in `log` (shared with the monitors).
    pub fn with_signature_log(mut self, log: Arc<SignatureFailures>) -> Self {
        self.signature_failures = log;
        self
    }

    /// The body size limit of a source, checked before the body is read.
    pub fn body_limit(&self, source: &str) -> Result<u64, IngestError> {
        Ok(self.source(source)?.max_body)
    }

    /// Verify, parse and store a webhook request.
    pub async fn receive(
        &self,
        source: &str,
        headers: &HeaderMap,
        body: &[u8],
        query: &str,
    ) -> Result<IngestOutcome, IngestError> {
        let started = SystemTime::now();
        let request = RawRequest {
            headers,
            body,
            query,
        };
        let source_config = self.source(source)?;
        if let Some(poller) = &source_config.poller {
            return Err(IngestError::Poller {
                name: source.to_string(),
                from: poller.describe(),
            });
        }
        if source_config.registry {
            return Err(IngestError::RegistryNeedsHook(source.to_string()));
        }
        self.accept(source, request, true, ("webhook", started))
            .await
    }

    /// Verify, parse and store a delivery to the registered hook `id` of registry `source`:
    /// verified with the hook's own secret(s), stored with the hook in its `meta`. An
    /// unknown hook stores nothing.
    pub async fn receive_hook(
        &self,
        (source, id): (&str, &str),
        headers: &HeaderMap,
        body: &[u8],
        query: &str,
    ) -> Result<IngestOutcome, IngestError> {
        let started = SystemTime::now();
        let source_config = self.source(source)?;
        let unknown = || IngestError::UnknownHook {
            registry: source.to_string(),
            id: id.to_string(),
        };
        if !source_config.registry {
            return Err(IngestError::NotARegistry(source.to_string()));
        }
        let hooks = self.hooks.as_ref().ok_or_else(unknown)?;
        let verifier = hooks
            .verifier(source_config, id)
            .await
            .map_err(|error| match error {
                HookError::Store(store) => IngestError::Store(store),
                other => IngestError::Hook(other),
            })?
            .ok_or_else(unknown)?;
        let request = RawRequest {
            headers,
            body,
            query,
        };
        if let Err(error) = verifier.source.verify(&request, self.clock.now()) {
            telemetry::signature_failure(source, &error);
            self.signature_failures.record(source, self.clock.now());
            return Err(IngestError::Unverified(error));
        }
        let hook = Some(verifier.hook);
        match prepare_hooked(&self.config, source_config, &request, &self.clock, hook)? {
            Preparation::Reply(reply) => Ok(IngestOutcome::Reply(reply)),
            Preparation::Event(prepared) => self.store(prepared, ("hook", started)).await,
        }
    }

    /// Store an event without verifying it (`herald send`: the operator is trusted).
    pub async fn inject(
        &self,
        source: &str,
        headers: &HeaderMap,
        body: &[u8],
        query: &str,
    ) -> Result<IngestOutcome, IngestError> {
        let request = RawRequest {
            headers,
            body,
            query,
        };
        self.accept(source, request, false, ("send", SystemTime::now()))
            .await
    }

    async fn accept(
        &self,
        source: &str,
        request: RawRequest<'_>,
        verify: bool,
        ingress: Ingress,
    ) -> Result<IngestOutcome, IngestError> {
        let source_config = self.source(source)?;
        if verify && let Err(error) = source_config.source.verify(&request, self.clock.now()) {
            telemetry::signature_failure(source, &error);
            self.signature_failures.record(source, self.clock.now());
            return Err(IngestError::Unverified(error));
        }
        match prepare(&self.config, source_config, &request, &self.clock)? {
            Preparation::Reply(reply) => Ok(IngestOutcome::Reply(reply)),
            Preparation::Event(prepared) => {
                let responding = self.responder_for(source_config).map(|responder| {
                    let event = &prepared.item.event;
                    (responder, event.event_type.clone(), event.payload.decode())
                });
                let outcome = self.store(prepared, ingress).await?;
                match responding {
                    Some((responder, event_type, payload)) => {
                        self.respond(responder, outcome, &event_type, &payload)
                            .await
                    }
                    None => Ok(outcome),
                }
            }
        }
    }

    /// What answers `source`'s requests, when it names an action that can and responses
    /// are on.
    fn responder_for(&self, source: &SourceConfig) -> Option<&dyn Responder> {
        self.responses.as_ref()?;
        let action = self.config.action(source.respond_with.as_deref()?)?;
        action.action.responder()
    }

    /// The stored event's answer from its responder, in place of the usual one.
    async fn respond(
        &self,
        responder: &dyn Responder,
        stored: IngestOutcome,
        event_type: &str,
        payload: &serde_json::Value,
    ) -> Result<IngestOutcome, IngestError> {
        let (
            Some((store, http)),
            IngestOutcome::Accepted { event_id, .. } | IngestOutcome::Duplicate { event_id },
        ) = (&self.responses, &stored)
        else {
            return Ok(stored);
        };
        let request = Responding {
            event_id: *event_id,
            event_type,
            payload,
            store,
            http,
            now: self.clock.now(),
        };
        Ok(match responder.respond(&request).await {
            Some(reply) => IngestOutcome::Reply(reply),
            None => stored,
        })
    }

    /// Store one of herald's own events (a monitor alert) and route it like any other.
    /// A repeated dedup key stores nothing: that is what makes an alert go out once.
    pub async fn emit(
        &self,
        event_type: &str,
        dedup_key: String,
        payload: serde_json::Value,
    ) -> Result<IngestOutcome, IngestError> {
        let started = SystemTime::now();
        let event = NewEvent {
            id: Uuid::now_v7(),
            source: HERALD_SOURCE.to_string(),
            event_type: event_type.to_string(),
            dedup_key: Some(dedup_key),
            received_at: self.clock.now(),
            headers: BTreeMap::new(),
            payload: JsonText::encode(&payload),
            hook: None,
        };
        let prepared = route_event(&self.config, event, Arc::new(Document::from_value(payload)));
        self.store(prepared, ("herald", started)).await
    }

    async fn store(
        &self,
        mut prepared: Prepared,
        (ingress, started): Ingress,
    ) -> Result<IngestOutcome, IngestError> {
        prepared.report_filter_errors();
        let source = prepared.item.event.source.clone();
        let deliveries = prepared.item.deliveries.len();
        let trace = self
            .traces
            .is_on()
            .then(|| EventTrace::of(&prepared.item, &prepared.filter_errors));
        let routed = SystemTime::now();
        // Kept only once stored; the event's fields are copied before the writer takes it.
        let recent = self
            .recent
            .as_ref()
            .filter(|_| deliveries > 0)
            .map(|recent| {
                let event = &prepared.item.event;
                let bytes = event.payload.as_str().len();
                (
                    recent,
                    recent::stored_form(event),
                    prepared.payload.clone(),
                    bytes,
                )
            });
        let leased = self.handoff.as_ref().map(|handoff| {
            let deliveries = &mut prepared.item.deliveries;
            let reservation = handoff.lease(deliveries, self.clock.now());
            let handed: Vec<_> = deliveries.iter().filter_map(|d| d.born_claimed()).collect();
            (reservation, handed)
        });
        let outcome = self.writer.append(prepared.item).await;
        self.write_health.record(outcome.as_ref().map(|_| ()));
        if let Some(trace) = trace {
            let timing = IngestTiming {
                ingress,
                started,
                routed,
                ended: SystemTime::now(),
            };
            self.traces
                .ingested(trace, Stored::of(outcome.as_ref()), timing);
        }
        let outcome = outcome?;
        telemetry::event_stored(&source, matches!(outcome, AppendOutcome::Duplicate { .. }));
        Ok(match outcome {
            AppendOutcome::Stored { event_id } => {
                if let Some((recent, event, payload, bytes)) = recent {
                    recent.keep(event, payload, deliveries, bytes);
                }
                let handed = match leased {
                    Some((reservation, handed)) => {
                        let count = handed.len();
                        reservation.hand_over(handed);
                        count
                    }
                    None => 0,
                };
                // The worker claims the rest.
                if deliveries > handed {
                    self.wake.notify_one();
                }
                IngestOutcome::Accepted {
                    event_id,
                    deliveries,
                }
            }
            AppendOutcome::Duplicate { event_id } => IngestOutcome::Duplicate { event_id },
        })
    }

    fn source(&self, name: &str) -> Result<&SourceConfig, IngestError> {
        self.config
            .source(name)
            .ok_or_else(|| IngestError::UnknownSource(name.to_string()))
    }
}

/// How a request came in (webhook, hook, send, herald) and when it arrived, for its trace.
type Ingress = (&'static str, SystemTime);

/// Parse a verified request into an event and route it. Pure apart from reading the clock.
pub fn prepare(
    config: &Config,
    source: &SourceConfig,
    request: &RawRequest<'_>,
    clock: &SharedClock,
) -> Result<Preparation, IngestError> {
    prepare_hooked(config, source, request, clock, None)
}

/// `prepare` for a delivery to a registered hook, which the event keeps (`meta.hook`).
pub fn prepare_hooked(
    config: &Config,
    source: &SourceConfig,
    request: &RawRequest<'_>,
    clock: &SharedClock,
    hook: Option<EventHook>,
) -> Result<Preparation, IngestError> {
    let inbound = match source
        .source
        .parse(request)
        .map_err(IngestError::Malformed)?
    {
        Parsed::Reply(reply) => return Ok(Preparation::Reply(reply)),
        Parsed::Event(inbound) => inbound,
    };
    let headers = stored_headers(request.headers, source);
    let context = || inbound_context(&inbound.payload, &headers);
    let event_type =
        override_text(config, source.event_type.as_ref(), &context)?.unwrap_or(inbound.event_type);
    let dedup_key = match override_text(config, source.dedup_key.as_ref(), &context)? {
        Some(key) => Some(key),
        None => inbound.dedup_key,
    };
    let event = NewEvent {
        id: Uuid::now_v7(),
        source: source.name.clone(),
        event_type,
        dedup_key,
        received_at: clock.now(),
        headers,
        // As it came (or encoded here, in the request's task, rather than on the single
        // writer's path).
        payload: inbound.payload.text().clone(),
        hook,
    };
    Ok(Preparation::Event(route_event(
        config,
        event,
        Arc::new(inbound.payload),
    )))
}

/// Match an event whose payload is `payload` against the rules: the deliveries it creates.
/// Pure.
pub fn route_event(config: &Config, event: NewEvent, payload: Arc<Document>) -> Prepared {
    // Built at most once, for filters, ordering keys and window groups alike.
    let context = OnceCell::new();
    let event_context = || context.get_or_init(|| new_event_context(&event, &payload));
    let routing = route(
        &config.rules,
        &config.templates,
        &event.source,
        &event.event_type,
        || event_context().clone(),
    );
    let mut filter_errors: Vec<(String, String)> = routing
        .errors
        .into_iter()
        .map(|(rule, error)| (rule.to_string(), error.to_string()))
        .collect();
    let mut deliveries = Vec::new();
    let mut windows: Vec<WindowEntry> = Vec::new();
    for m in &routing.matches {
        let window = config.rule(m.rule).and_then(|rule| rule.window.as_ref());
        let Some(window) = window else {
            let ordering_key = config.ordering_key(m.action, event_context);
            deliveries.push(event_delivery(&event, m.rule, m.action, ordering_key));
            continue;
        };
        // A windowed rule gathers the event once, whatever its number of actions.
        if windows.iter().any(|entry| entry.rule == m.rule) {
            continue;
        }
        match window_group(config, window, event_context()) {
            Ok(group_key) => windows.push(WindowEntry {
                rule: m.rule.to_string(),
                group_key,
                timing: window.timing.clone(),
            }),
            Err(error) => filter_errors.push((m.rule.to_string(), error)),
        }
    }
    Prepared {
        item: EventWithDeliveries {
            event,
            deliveries,
            windows,
        },
        payload,
        filter_errors,
    }
}

fn event_delivery(
    event: &NewEvent,
    rule: &str,
    action: &str,
    ordering_key: Option<String>,
) -> NewDelivery {
    NewDelivery {
        id: Uuid::now_v7(),
        event_id: Some(event.id),
        rule: rule.to_string(),
        action: action.to_string(),
        idempotency_key: format!("{}/{rule}/{action}", event.id),
        created_at: event.received_at,
        next_attempt_at: event.received_at,
        ordering_key,
        window_id: None,
        lease: None,
    }
}

/// The window group an event belongs to: the rendered `group`, or one group for all.
fn window_group(
    config: &Config,
    window: &WindowSpec,
    context: &minijinja::Value,
) -> Result<String, String> {
    match &window.group {
        Some(template) => config
            .templates
            .render(template, context)
            .map(|group| group.trim().to_string())
            .map_err(|error| format!("window group: {error}")),
        None => Ok(String::new()),
    }
}

/// What a verified request becomes: an event to store or an immediate reply. Made once per
/// request and moved straight on: boxing the event would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Preparation {
    Event(Prepared),
    Reply(Reply),
}

/// A source's `event_type` / `dedup_key` expression, if configured and not empty.
fn override_text(
    config: &Config,
    expr: Option<&crate::core::template::ExprRef>,
    context: &impl Fn() -> minijinja::Value,
) -> Result<Option<String>, IngestError> {
    let Some(expr) = expr else { return Ok(None) };
    let text = config
        .templates
        .eval_text(expr, &context())
        .map_err(|error| IngestError::Malformed(ParseError::new(error.to_string())))?;
    Ok(Some(text).filter(|text| !text.is_empty()))
}

/// Headers worth keeping with the event: lowercase names, credentials removed.
fn stored_headers(headers: &HeaderMap, source: &SourceConfig) -> BTreeMap<String, String> {
    let credential = source.source.credential_headers();
    let mut stored: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        if HTTP_CREDENTIAL_HEADERS.contains(&name.as_str()) || credential.contains(name) {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        stored
            .entry(name.as_str().to_string())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(value);
            })
            .or_insert_with(|| value.to_string());
    }
    stored
}
