//! Pollers at run time: sources herald pulls (`ingress/poller.rs` is the contract, a kind
//! such as `integrations/poller/` says how to ask and read). For each poller, one process
//! at a time (a lease in the store) polls: from the stored cursor it fetches a page, stores
//! its events with the cursor that follows them in one transaction, and follows the pages
//! to the end; then it waits the interval. A failure never moves the cursor: a refused
//! credential is recorded for the credential monitors, a 429 waits its `Retry-After`,
//! 5xx and timeouts back off. `herald serve` runs the loop; `herald poll` runs one poll
//! or a backfill through the same code.

pub mod backfill;
mod cycle;
mod events;
mod fetch;
pub mod health;

pub use cycle::Cycle;
pub use fetch::Failure;

use crate::clock::{self, SharedClock};
use crate::config::SharedConfig;
use crate::ingress::poller::Poller;
use crate::telemetry;
use crate::traces::Traces;
use chrono::{DateTime, Utc};
use cycle::Context;
use herald_store::model::{PollEnd, PollFailureKind, PollerClaim};
use herald_store::{SharedStore, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A poller's lease lasts this much longer than one page request may take; each stored
/// page renews it.
const LEASE_MARGIN: Duration = Duration::from_secs(60);
/// The longest sleep between two looks at a poller, so a changed clock is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// The wait after the store failed to answer.
const STORE_RETRY: Duration = Duration::from_secs(5);
/// How often a process looks again while another holds the lease: the holder may have
/// died, and the heartbeat then releases its lease within seconds.
const BUSY_RECHECK: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("unknown source `{0}`")]
    UnknownSource(String),
    #[error("source `{0}` is not a poller (its kind is `{1}`): herald does not pull it")]
    NotAPoller(String, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What asking to poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// Polled: to the end, or until the failure it holds.
    Polled {
        cycle: Cycle,
        next_poll_at: DateTime<Utc>,
    },
    /// Another process is polling it; its lease ends at `until`.
    Busy {
        owner: Option<String>,
        until: Option<DateTime<Utc>>,
    },
    /// Not due before `at` (another process polled it lately).
    NotDue { at: Option<DateTime<Utc>> },
}

pub struct Pollers {
    config: SharedConfig,
    store: SharedStore,
    clock: SharedClock,
    http: reqwest::Client,
    /// Names this process in leases (the heartbeat's name, so a killed process's lease is
    /// released with its deliveries').
    owner: String,
    /// Wakes the workers once a page's deliveries are committed.
    wake: Arc<Notify>,
    /// Wakes the monitors after a refused credential, so its alert goes out at once.
    failure_wake: Arc<Notify>,
    /// Where each polled event's trace starts (off by default).
    traces: Traces,
}

impl Pollers {
    pub fn new(
        config: SharedConfig,
        store: SharedStore,
        clock: SharedClock,
        owner: String,
    ) -> Self {
        Pollers {
            config,
            store,
            clock,
            http: crate::transport::client(),
            owner,
            wake: Arc::default(),
            failure_wake: Arc::default(),
            traces: Traces::off(),
        }
    }

    /// Start each polled event's trace in `traces`.
    pub fn with_traces(mut self, traces: Traces) -> Self {
        self.traces = traces;
        self
    }

    pub fn with_wake(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    pub fn with_failure_wake(mut self, wake: Arc<Notify>) -> Self {
        self.failure_wake = wake;
        self
    }

    /// The sources herald pulls, by name.
    pub fn sources(&self) -> Vec<String> {
        self.config
            .sources
            .values()
            .filter(|source| source.poller.is_some())
            .map(|source| source.name.clone())
            .collect()
    }

    fn poller(&self, source: &str) -> Result<&Arc<dyn Poller>, PollError> {
        let config = self
            .config
            .source(source)
            .ok_or_else(|| PollError::UnknownSource(source.to_string()))?;
        config
            .poller
            .as_ref()
            .ok_or_else(|| PollError::NotAPoller(source.to_string(), config.kind))
    }

    fn context<'a>(&'a self, stop: &'a CancellationToken, poller: &dyn Poller) -> Context<'a> {
        Context {
            config: &self.config,
            store: &self.store,
            http: &self.http,
            clock: &self.clock,
            owner: &self.owner,
            lease: poller.settings().timeout + LEASE_MARGIN,
            stop,
            wake: &self.wake,
            traces: &self.traces,
        }
    }

    /// Poll `source` now if no other process is and it is due (`force`: even if not due),
    /// to the end of its pages or the first failure.
    pub async fn poll(
        &self,
        source: &str,
        force: bool,
        stop: &CancellationToken,
    ) -> Result<PollOutcome, PollError> {
        let poller = self.poller(source)?;
        let context = self.context(stop, poller.as_ref());
        let now = self.clock.now();
        let claim = PollerClaim {
            source,
            owner: &self.owner,
            now,
            lease_until: clock::add(now, context.lease),
            force,
        };
        let Some(state) = self.store.claim_poller(&claim).await? else {
            return self.refused(source, now).await;
        };
        let cycle = cycle::run(&context, source, poller.as_ref(), &state).await;
        let settings = poller.settings();
        let end_at = self.clock.now();
        let (failure, next_poll_at) = match (&cycle.failure, cycle.interrupted) {
            // A refused credential or request waits for the next scheduled poll.
            (Some(failure), _)
                if matches!(
                    failure.kind,
                    PollFailureKind::Credential | PollFailureKind::Permanent
                ) =>
            {
                (
                    Some((failure.kind, failure.error.as_str())),
                    settings.next_poll(end_at),
                )
            }
            (Some(failure), _) => (
                Some((failure.kind, failure.error.as_str())),
                clock::add(
                    end_at,
                    fetch::retry_wait(failure, state.failures + 1, settings.interval),
                ),
            ),
            // Stopped before the end: another process may go on at once.
            (None, true) => (
                Some((PollFailureKind::Transient, "stopped before the end")),
                end_at,
            ),
            (None, false) => (None, settings.next_poll(end_at)),
        };
        let end = PollEnd {
            source,
            owner: &self.owner,
            now: end_at,
            items: i64::try_from(cycle.items).unwrap_or(i64::MAX),
            failure,
            next_poll_at,
        };
        if !self.store.finish_poll(&end).await? {
            tracing::warn!(
                source,
                "The poller's lease ended during the poll; another process has it"
            );
        }
        self.report(source, &cycle, poller.as_ref());
        Ok(PollOutcome::Polled {
            cycle,
            next_poll_at,
        })
    }

    /// Why a claim was refused.
    async fn refused(&self, source: &str, now: DateTime<Utc>) -> Result<PollOutcome, PollError> {
        let states = self.store.poller_states().await?;
        let state = states.into_iter().find(|state| state.source == source);
        Ok(match state {
            Some(state) if state.lease_until.is_some_and(|until| until > now) => {
                PollOutcome::Busy {
                    owner: state.lease_owner,
                    until: state.lease_until,
                }
            }
            state => PollOutcome::NotDue {
                at: state.and_then(|state| state.next_poll_at),
            },
        })
    }

    fn report(&self, source: &str, cycle: &Cycle, poller: &dyn Poller) {
        let outcome = match &cycle.failure {
            Some(failure) => failure.kind.as_str(),
            None if cycle.overtaken => "overtaken",
            None if cycle.interrupted => "interrupted",
            None => "success",
        };
        telemetry::poll(source, outcome);
        match &cycle.failure {
            Some(failure) => {
                tracing::warn!(
                    source, from = %poller.describe(), kind = failure.kind.as_str(),
                    error = %failure.error, pages = cycle.pages, items = cycle.items,
                    "Poll failed; the cursor stays and the next poll starts from it"
                );
                if failure.kind == PollFailureKind::Credential {
                    self.failure_wake.notify_one();
                }
            }
            None => tracing::info!(
                source,
                pages = cycle.pages,
                items = cycle.items,
                stored = cycle.stored,
                "Polled"
            ),
        }
    }

    /// Read `range` of `source`'s items into the store without moving its live cursor.
    pub async fn backfill(
        &self,
        source: &str,
        range: backfill::Range,
        on_page: &mut (dyn FnMut(&backfill::Progress) + Send),
        stop: &CancellationToken,
    ) -> Result<(backfill::Progress, Option<Failure>), PollError> {
        let poller = self.poller(source)?;
        let context = self.context(stop, poller.as_ref());
        Ok(backfill::run(&context, source, poller.as_ref(), range, on_page).await)
    }

    /// Poll every poller when due, until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let tasks: Vec<_> = self
            .sources()
            .into_iter()
            .map(|source| {
                let this = self.clone();
                let stop = stop.clone();
                tokio::spawn(async move { this.run_one(&source, stop).await })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    async fn run_one(&self, source: &str, stop: CancellationToken) {
        loop {
            let until = match self.poll(source, false, &stop).await {
                Ok(PollOutcome::Polled { next_poll_at, .. }) => Some(next_poll_at),
                Ok(PollOutcome::Busy { until, .. }) => {
                    let recheck = clock::add(self.clock.now(), BUSY_RECHECK);
                    Some(until.map_or(recheck, |until| until.min(recheck)))
                }
                Ok(PollOutcome::NotDue { at }) => at,
                Err(error) => {
                    tracing::warn!(source, %error, "The poller's state could not be read; trying again");
                    Some(clock::add(self.clock.now(), STORE_RETRY))
                }
            };
            let wait = until
                .and_then(|at| (at - self.clock.now()).to_std().ok())
                .unwrap_or_default()
                .clamp(Duration::from_millis(50), MAX_SLEEP);
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
