//! Assembling a running herald: store, writer, ingest, workers, retention and the HTTP
//! router. `serve(listener, shutdown)` takes a bound listener so tests bind port 0.

use crate::api::{self, AppState};
use crate::clock::SharedClock;
use crate::config::{Config, SharedConfig};
use crate::ingress::signatures::SignatureFailures;
use crate::monitors::Monitors;
use crate::outbox::executor::action_deps;
use crate::outbox::flusher::Flusher;
use crate::outbox::heartbeat::Heartbeat;
use crate::outbox::recent::RecentEvents;
use crate::outbox::{Executor, Handoff, Worker, WorkerSettings};
use crate::polling::Pollers;
use crate::services::scheduler::Scheduler;
use crate::services::write_health::WriteHealth;
use crate::services::{Hooks, Ingest, Queries, retention};
use crate::telemetry;
use crate::traces::Traces;
use crate::transport;
use herald_store::{SharedStore, Writer};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Jobs (appends, completions, claims) written per transaction at most.
const MAX_WRITE_BATCH: usize = 256;

pub struct App {
    pub config: SharedConfig,
    pub store: SharedStore,
    pub state: AppState,
    pub worker: Worker,
    pub monitors: Arc<Monitors>,
    pub flusher: Arc<Flusher>,
    pub scheduler: Arc<Scheduler>,
    /// Sources herald pulls; `serve` polls them when due.
    pub pollers: Arc<Pollers>,
    pub heartbeat: Heartbeat,
    /// Where spans go: off unless `[telemetry] endpoint` is set.
    pub traces: Traces,
    writer: JoinHandle<()>,
}

impl App {
    /// Wire everything on an open, migrated store. Nothing runs until `serve`.
    pub fn new(config: Config, store: SharedStore, clock: SharedClock) -> App {
        let config: SharedConfig = Arc::new(config);
        // Nothing is started (no thread, no client) without an endpoint.
        let traces = Traces::start_or_off(&config.telemetry);
        let wake = Arc::new(Notify::new());
        let write_health = Arc::new(WriteHealth::default());
        let (writer, writer_task) =
            Writer::spawn_observed(store.clone(), MAX_WRITE_BATCH, telemetry::write_batch);
        let signatures = Arc::new(SignatureFailures::default());
        // Events ingest stored, handed to this process's deliveries without a read.
        let recent = Arc::new(RecentEvents::default());
        let hooks = Arc::new(Hooks::new(config.clone(), store.clone(), clock.clone()));
        let owner = worker_owner();
        // Fresh deliveries stored leased to this process's worker, which then needs no claim.
        let handoff = Arc::new(Handoff::new(
            config.delivery.lease,
            owner.clone(),
            config.delivery.concurrency,
        ));
        let ingest = Arc::new(
            Ingest::new(config.clone(), writer.clone(), clock.clone(), wake.clone())
                .with_signature_log(signatures.clone())
                .with_write_health(write_health.clone())
                .with_hooks(hooks.clone())
                .with_responses(store.clone(), transport::client())
                .with_recent_events(recent.clone())
                .with_handoff(handoff.clone())
                .with_traces(traces.clone()),
        );
        let deps = action_deps(&config, clock.clone());
        let monitor_wake = Arc::new(Notify::new());
        let executor = Arc::new(
            Executor::new(config.clone(), store.clone(), writer.clone(), deps)
                .with_failure_wake(monitor_wake.clone())
                .with_recent_events(recent)
                .with_traces(traces.clone()),
        );
        let flusher = Arc::new(
            Flusher::new(config.clone(), store.clone(), clock.clone(), wake.clone())
                .with_traces(traces.clone()),
        );
        let scheduler = Arc::new(Scheduler::new(
            config.clone(),
            store.clone(),
            ingest.clone(),
            clock.clone(),
        ));
        let monitors = Arc::new(Monitors::new(
            config.clone(),
            store.clone(),
            ingest.clone(),
            clock.clone(),
            signatures,
            monitor_wake.clone(),
        ));
        // Under the heartbeat's name: a killed process's poller lease is released with its
        // deliveries'.
        let pollers = Arc::new(
            Pollers::new(config.clone(), store.clone(), clock.clone(), owner.clone())
                .with_wake(wake.clone())
                .with_failure_wake(monitor_wake.clone())
                .with_traces(traces.clone()),
        );
        let heartbeat = Heartbeat {
            store: store.clone(),
            clock: clock.clone(),
            owner: owner.clone(),
            wake: wake.clone(),
            write_health: write_health.clone(),
        };
        let settings = WorkerSettings {
            concurrency: config.delivery.concurrency,
            lease: config.delivery.lease,
            poll_interval: config.delivery.poll_interval,
            owner,
        };
        let worker = Worker::new(
            store.clone(),
            writer,
            executor.clone(),
            clock.clone(),
            settings,
            wake.clone(),
            handoff,
        );
        let state = AppState {
            config: config.clone(),
            ingest,
            hooks,
            queries: Queries::new(store.clone()),
            executor,
            clock,
            metrics: telemetry::prometheus(),
            wake,
            write_health,
            stopping: CancellationToken::new(),
        };
        App {
            config,
            store,
            state,
            worker,
            monitors,
            flusher,
            scheduler,
            pollers,
            heartbeat,
            traces,
            writer: writer_task,
        }
    }

    pub fn router(&self) -> axum::Router {
        api::router(self.state.clone())
    }

    /// Serve until `shutdown`: then stop accepting, finish in-flight requests, give workers
    /// `server.shutdown_grace` to finish their deliveries, and commit everything queued.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let App {
            config,
            store,
            state,
            worker,
            monitors,
            flusher,
            scheduler,
            pollers,
            heartbeat,
            traces,
            writer,
        } = self;
        // A store that cannot take a write (a read-only file, a full disk) is refused now,
        // not discovered by the first sender.
        heartbeat
            .first_beat()
            .await
            .map_err(|error| anyhow::anyhow!("cannot write to the store: {error}"))?;
        let router = api::router(state.clone());
        let clock = state.clock.clone();
        let stopping = state.stopping.clone();
        drop(state);
        let workers_stop = CancellationToken::new();
        // Beats until the workers have finished or given their leases back.
        let beating_stop = CancellationToken::new();
        let beating = tokio::spawn(heartbeat.run(beating_stop.clone()));
        let workers = tokio::spawn(worker.run(workers_stop.clone(), config.server.shutdown_grace));
        let pruning = tokio::spawn(retention::run(
            store,
            clock,
            config.retention.clone(),
            shutdown.clone(),
        ));
        let monitoring = tokio::spawn(monitors.run(shutdown.clone()));
        let ticking = tokio::spawn(scheduler.run(shutdown.clone()));
        let polling = tokio::spawn(pollers.run(shutdown.clone()));
        let flushing = tokio::spawn(flusher.run(shutdown.clone(), config.delivery.poll_interval));
        let nudging = tokio::spawn(crate::services::memory::run(shutdown.clone()));
        tracing::info!(address = %listener.local_addr()?, "herald is listening");
        // The peer's address, for the dashboard's limit on failed sign-ins.
        let router = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(listener, router)
            .with_graceful_shutdown({
                let shutdown = shutdown.clone();
                async move {
                    shutdown.cancelled().await;
                    stopping.cancel();
                }
            })
            .await;
        tracing::info!("Stopped accepting requests; finishing in-flight work");
        // The writer keeps running while workers finish: they record attempts through it.
        workers_stop.cancel();
        let _ = workers.await;
        beating_stop.cancel();
        let _ = beating.await;
        // Monitors emit through the writer too: stop them before it drains.
        shutdown.cancel();
        let _ = monitoring.await;
        let _ = ticking.await;
        let _ = polling.await;
        // The router and the workers held the last handles on the writer: it now drains
        // and exits.
        if let Err(error) = writer.await {
            tracing::error!(error = %error, "The writer stopped abnormally");
        }
        let _ = pruning.await;
        let _ = flushing.await;
        let _ = nudging.await;
        // Every span is ended now: send what is queued (`[telemetry] timeout` at most).
        traces.shutdown().await;
        tracing::info!("herald stopped");
        Ok(served?)
    }
}

/// Names this process in lease columns: host and pid, plus a random suffix so two apps in
/// one process (tests) differ.
fn worker_owner() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "herald".to_string());
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &suffix[24..])
}
