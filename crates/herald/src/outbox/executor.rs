//! One attempt at one delivery, from the claimed row to the record of what happened.

use super::pacer::Ticket;
use super::runner::{self, ActionDeps};
use crate::action::{ActionInput, AttemptReport, Attempting, PlanError, StoreRefs};
use crate::clock::{self, SharedClock};
use crate::config::SharedConfig;
use crate::core::classify::Verdict;
use crate::core::context::{shared_event_context, taken_event_context, window_context};
use crate::outbox::recent::RecentEvents;
use crate::telemetry;
use crate::traces::{AttemptTrace, Traces};
use herald_store::model::{AttemptRecord, ClaimedDelivery, Delivery, Document, NextStep};
use herald_store::{SharedStore, StoreError, Writer};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;
use uuid::Uuid;

/// Rate-limit waits do not use up the retry schedule, but a delivery is given up after
/// this many attempts in all, so a destination that always says "later" cannot keep it
/// forever.
const MAX_TOTAL_ATTEMPTS: i32 = 100;

/// What the step runner sends with, as configured.
pub fn action_deps(config: &crate::config::Config, clock: SharedClock) -> ActionDeps {
    ActionDeps::new(clock, config.delivery.response_body_limit)
}

pub struct Executor {
    config: SharedConfig,
    /// Reads the delivery's event.
    store: SharedStore,
    /// Records the attempt, in a transaction shared with other writes.
    writer: Writer,
    deps: ActionDeps,
    clock: SharedClock,
    /// Rung after a credential failure, so monitors alert at once.
    failure_wake: Option<Arc<Notify>>,
    /// Each attempt's span, in its event's trace.
    traces: Traces,
    /// Events this process just stored, read here before the store.
    recent: Option<Arc<RecentEvents>>,
}

/// What a delivery's templates see (or why it cannot run), and what its span tells.
struct Loaded {
    context: Result<minijinja::Value, String>,
    /// The event's source and type.
    event: Option<(String, String)>,
    /// A window's events.
    window_events: Vec<Uuid>,
    /// The event's payload: the store may keep the request against it.
    payload: Option<std::sync::Arc<Document>>,
}

impl Loaded {
    fn failed(message: String) -> Self {
        Loaded {
            context: Err(message),
            event: None,
            window_events: Vec::new(),
            payload: None,
        }
    }
}

impl Executor {
    pub fn new(config: SharedConfig, store: SharedStore, writer: Writer, deps: ActionDeps) -> Self {
        let clock = deps.clock.clone();
        Executor {
            config,
            store,
            writer,
            deps,
            clock,
            failure_wake: None,
            traces: Traces::off(),
            recent: None,
        }
    }

    /// Record each attempt's span in `traces`.
    pub fn with_traces(mut self, traces: Traces) -> Self {
        self.traces = traces;
        self
    }

    /// Look for a delivery's event in `recent` (what ingest kept) before the store.
    pub fn with_recent_events(mut self, recent: Arc<RecentEvents>) -> Self {
        self.recent = Some(recent);
        self
    }

    /// Ring `wake` after an attempt that failed on its credentials.
    pub fn with_failure_wake(mut self, wake: Arc<Notify>) -> Self {
        self.failure_wake = Some(wake);
        self
    }

    /// Attempt the delivery and record the outcome. Returns false if the lease was lost
    /// meanwhile (someone else owns the delivery now; our result is dropped).
    pub async fn run(&self, claimed: &ClaimedDelivery) -> Result<bool, StoreError> {
        let record = self.attempt(claimed, self.ticket(claimed)).await?;
        self.record(record).await
    }

    /// Record an attempt; resolves once it is committed. False if the lease was lost.
    pub async fn record(&self, record: AttemptRecord) -> Result<bool, StoreError> {
        let delivery_id = record.delivery_id;
        let kept = self.writer.complete(record).await?;
        if !kept {
            tracing::warn!(%delivery_id, "Lease lost before the attempt was recorded");
        }
        Ok(kept)
    }

    /// The delivery's place among its action's deliveries: take it when it starts, in the
    /// order claimed, so paced calls keep that order (see `outbox::pacer`).
    pub fn ticket(&self, claimed: &ClaimedDelivery) -> Ticket {
        self.deps.pacer.ticket(&claimed.delivery.action)
    }

    /// Plan and execute once, and decide the next step. Does not write.
    pub async fn attempt(
        &self,
        claimed: &ClaimedDelivery,
        ticket: Ticket,
    ) -> Result<AttemptRecord, StoreError> {
        let delivery = &claimed.delivery;
        let started_at = self.clock.now();
        let started = SystemTime::now();
        let timer = Instant::now();
        let loaded = self.load(delivery).await?;
        let (report, request) = match &loaded.context {
            Err(message) => (self.unchanged(delivery, message.clone()), None),
            Ok(context) => self.plan_and_execute(delivery, context, &ticket).await,
        };
        let elapsed = timer.elapsed();
        let next = self.next_step(delivery, &report);
        if report.failure_kind.is_some()
            && let Some(wake) = &self.failure_wake
        {
            wake.notify_one();
        }
        self.observe(delivery, &report, next, elapsed);
        self.trace(delivery, &loaded, &report, next, started);
        Ok(AttemptRecord {
            delivery_id: delivery.id,
            lease_token: claimed.lease_token,
            started_at,
            duration_ms: elapsed.as_millis() as i64,
            status_code: report.status_code.map(i32::from),
            error: report.error,
            // Encoded here, not by the writer (which only copies it).
            request: request.map(herald_store::model::JsonText::from),
            payload: loaded.payload,
            response_body: report.response_body,
            next,
            now: self.clock.now(),
            progress: i32::try_from(report.done).unwrap_or(i32::MAX),
            failure_kind: report.failure_kind,
            refs: report.refs,
        })
    }

    /// What the delivery's templates see (its event, or its window), or why it cannot run.
    async fn load(&self, delivery: &Delivery) -> Result<Loaded, StoreError> {
        if self.config.action(&delivery.action).is_none() {
            return Ok(Loaded::failed(format!(
                "action `{}` is no longer in the configuration",
                delivery.action
            )));
        }
        if let Some(window_id) = delivery.window_id {
            let Some(window) = self.store.get_window(window_id).await? else {
                return Ok(Loaded::failed(format!(
                    "window {window_id} is no longer stored"
                )));
            };
            let events = self.store.window_events(window_id).await?;
            return Ok(Loaded {
                context: Ok(window_context(&window, &events)),
                event: None,
                window_events: events.iter().map(|event| event.id).collect(),
                payload: None,
            });
        }
        let Some(event_id) = delivery.event_id else {
            return Ok(Loaded::failed("the delivery has no event".to_string()));
        };
        let recent = self
            .recent
            .as_ref()
            .and_then(|recent| recent.load(event_id));
        let found = match recent {
            Some((event, payload)) => {
                let context = shared_event_context(&event, payload.clone());
                Some((context, payload, (event.source, event.event_type)))
            }
            None => self.store.get_event(event_id).await?.map(|event| {
                let described = (event.source.clone(), event.event_type.clone());
                let (context, payload) = taken_event_context(event);
                (context, payload, described)
            }),
        };
        Ok(match found {
            Some((context, payload, described)) => Loaded {
                context: Ok(context),
                event: Some(described),
                window_events: Vec::new(),
                payload: Some(payload),
            },
            None => Loaded::failed(format!("event {event_id} is no longer stored")),
        })
    }

    async fn plan_and_execute(
        &self,
        delivery: &Delivery,
        context: &minijinja::Value,
        ticket: &Ticket,
    ) -> (AttemptReport, Option<serde_json::Value>) {
        let action = &self.config.actions[&delivery.action];
        let refs = StoreRefs(self.store.clone());
        let done = usize::try_from(delivery.progress).unwrap_or(0);
        let input = ActionInput {
            templates: &self.config.templates,
            context,
            refs: &refs,
            now: self.clock.now(),
            done,
            delivery: Some(Attempting {
                id: delivery.id,
                created_at: delivery.created_at,
                outcome_unknown: delivery.outcome_unknown(),
            }),
        };
        match action.action.plan(&input).await {
            Err(PlanError::NotYet(error)) => {
                tracing::info!(delivery_id = %delivery.id, error = %error, "Delivery cannot be planned yet");
                let done = usize::try_from(delivery.progress).unwrap_or(0);
                let report = AttemptReport::resuming(done).failed(
                    Verdict::Retry { retry_after: None },
                    None,
                    error,
                );
                (report, None)
            }
            Err(error) => {
                tracing::warn!(delivery_id = %delivery.id, error = %error, "Delivery cannot be rendered");
                (self.unchanged(delivery, error.to_string()), None)
            }
            Ok(plan) => {
                let report = runner::run(
                    action.action.as_ref(),
                    &plan,
                    &self.deps,
                    done,
                    Some(ticket),
                )
                .await;
                (report, Some(plan.describe()))
            }
        }
    }

    /// A permanent failure before anything was sent: the progress stays as it was.
    fn unchanged(&self, delivery: &Delivery, error: String) -> AttemptReport {
        let done = usize::try_from(delivery.progress).unwrap_or(0);
        AttemptReport::resuming(done).failed(Verdict::Permanent, None, error)
    }

    fn next_step(&self, delivery: &Delivery, report: &AttemptReport) -> NextStep {
        let retry_after = match report.verdict {
            Verdict::Success => return NextStep::Succeeded,
            Verdict::Permanent => return NextStep::Dead,
            Verdict::Retry { retry_after } => retry_after,
        };
        if delivery.attempts + 1 >= MAX_TOTAL_ATTEMPTS {
            return NextStep::Dead;
        }
        let Some(action) = self.config.action(&delivery.action) else {
            return NextStep::Dead;
        };
        let counts = report.counts_against_schedule;
        let failures = delivery.retries_used.max(0) as u32 + u32::from(counts);
        let delay = if counts {
            action
                .retry
                .delay_after_failure(failures, retry_after, rand::random())
        } else {
            // A wait the destination imposed: honour it, without spending the schedule.
            Some(retry_after.unwrap_or(Duration::from_secs(1)))
        };
        match delay {
            Some(delay) => NextStep::Retry {
                at: clock::add(self.clock.now(), delay),
                counts_against_schedule: counts,
            },
            None => NextStep::Dead,
        }
    }

    /// The attempt's span, child of the span of the rule (or window) that made the
    /// delivery, in its event's trace.
    fn trace(
        &self,
        delivery: &Delivery,
        loaded: &Loaded,
        report: &AttemptReport,
        next: NextStep,
        started: SystemTime,
    ) {
        if !self.traces.is_on() {
            return;
        }
        let (outcome, retry_at) = match next {
            NextStep::Succeeded => ("success", None),
            NextStep::Retry { at, .. } => ("retry", Some(at)),
            NextStep::Dead => ("dead", None),
        };
        self.traces.attempted(&AttemptTrace {
            delivery_id: delivery.id,
            event_id: delivery.event_id,
            event: loaded
                .event
                .as_ref()
                .map(|(source, event_type)| (source.as_str(), event_type.as_str())),
            window_id: delivery.window_id,
            linked_events: &loaded.window_events,
            rule: &delivery.rule,
            action: &delivery.action,
            action_kind: self
                .config
                .action(&delivery.action)
                .map(|action| action.kind),
            attempt: i64::from(delivery.attempts) + 1,
            outcome,
            status_code: report.status_code,
            failure_kind: report.failure_kind.map(|kind| kind.as_str()),
            steps_done: report.done,
            retry_at,
            started,
            ended: SystemTime::now(),
        });
    }

    fn observe(
        &self,
        delivery: &Delivery,
        report: &AttemptReport,
        next: NextStep,
        elapsed: Duration,
    ) {
        let outcome = match next {
            NextStep::Succeeded => "success",
            NextStep::Retry { .. } => "retry",
            NextStep::Dead => "dead",
        };
        telemetry::delivery_attempt(&delivery.action, outcome, elapsed);
        if next == NextStep::Succeeded {
            let since = (self.clock.now() - delivery.created_at)
                .to_std()
                .unwrap_or_default();
            telemetry::delivered(&delivery.action, since);
        }
        let error = report.error.as_deref().unwrap_or("");
        match next {
            NextStep::Succeeded => {
                tracing::debug!(delivery_id = %delivery.id, action = %delivery.action, "Delivered")
            }
            NextStep::Retry { at, .. } => tracing::warn!(
                delivery_id = %delivery.id, action = %delivery.action, status = ?report.status_code,
                error, retry_at = %at, "Delivery failed, will retry"
            ),
            NextStep::Dead => tracing::error!(
                delivery_id = %delivery.id, action = %delivery.action, status = ?report.status_code,
                error, "Delivery failed permanently; it is dead until replayed"
            ),
        }
    }
}
