//! The worker loop: claim what is due, run it with bounded concurrency, sleep until
//! woken, and on shutdown let in-flight deliveries finish or give their leases back.
//! Claims go through the `Writer`, so they share transactions with ingest and completions.

use super::executor::Executor;
use crate::clock::{self, SharedClock};
use herald_store::model::{ClaimRequest, ClaimedDelivery};
use herald_store::{SharedStore, StoreError, Writer};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub concurrency: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    /// Names this process in the lease columns.
    pub owner: String,
}

pub struct Worker {
    /// Reads the next due time and gives leases back at shutdown.
    store: SharedStore,
    writer: Writer,
    executor: Arc<Executor>,
    clock: SharedClock,
    settings: WorkerSettings,
    wake: Arc<Notify>,
    /// Deliveries running per action, so one action takes at most its share of the slots.
    running: Running,
}

/// Deliveries running per action.
type Running = Arc<Mutex<HashMap<String, usize>>>;

/// One running delivery of an action, counted while it holds its slot.
struct ActionTurn {
    running: Running,
    action: String,
}

impl ActionTurn {
    fn start(running: &Running, action: &str) -> Self {
        *lock(running).entry(action.to_string()).or_default() += 1;
        ActionTurn {
            running: running.clone(),
            action: action.to_string(),
        }
    }
}

impl Drop for ActionTurn {
    fn drop(&mut self) {
        let mut running = lock(&self.running);
        if let Some(count) = running.get_mut(&self.action) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.action);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The lease token of each delivery being worked on (by id: a claim's deliveries share
/// one token), to give back if shutdown cuts them short.
type InFlight = Arc<Mutex<HashMap<Uuid, Uuid>>>;

impl Worker {
    pub fn new(
        store: SharedStore,
        writer: Writer,
        executor: Arc<Executor>,
        clock: SharedClock,
        settings: WorkerSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Worker {
            store,
            writer,
            executor,
            clock,
            settings,
            wake,
            running: Arc::default(),
        }
    }

    /// The most deliveries of one action run at once: half the slots, so a destination
    /// that hangs until its timeout leaves the other half to the rest.
    fn action_share(&self) -> usize {
        self.settings.concurrency.div_ceil(2).max(1)
    }

    /// Claim what is due now (up to the concurrency) and run it all to completion.
    /// Returns how many deliveries were attempted. Used by tests.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let request = self.request(self.settings.concurrency);
        let claimed = self.writer.claim(request).await?;
        let count = claimed.len();
        let mut tasks = JoinSet::new();
        for delivery in claimed {
            let executor = self.executor.clone();
            let ticket = executor.ticket(&delivery);
            tasks.spawn(async move {
                let record = executor.attempt(&delivery, ticket).await?;
                executor.record(record).await
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.expect("delivery task panicked")?;
        }
        Ok(count)
    }

    /// Run until `shutdown`, then wait up to `grace` for in-flight deliveries.
    pub async fn run(self, shutdown: CancellationToken, grace: Duration) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency));
        let in_flight: InFlight = Arc::default();
        let mut tasks = JoinSet::new();
        // Claims waiting for their commit, each holding the slots it claims for. Several
        // may wait at once, so slots freed meanwhile need not wait for the first one.
        let mut claims = JoinSet::new();
        // Set when a claim came back short: nothing more is due until this, or a wake-up.
        let mut idle_until: Option<Instant> = None;
        loop {
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(done) = claims.join_next() => {
                    let (claimed, free) = done.expect("claim task panicked");
                    idle_until = if self.start(claimed, free, &mut tasks, &in_flight) {
                        None
                    } else {
                        Some(Instant::now() + self.idle_time().await)
                    };
                }
                free = self.free_slots(&slots), if idle_until.is_none() => {
                    claims.spawn(self.claim_for(free));
                }
                // Only an idle loop listens: busy, it claims again as slots free anyway.
                () = self.wake.notified(), if idle_until.is_some() => idle_until = None,
                () = sleep_until(idle_until), if idle_until.is_some() => idle_until = None,
            }
        }
        let unstarted = self.cancel_claims(claims).await;
        self.drain(tasks, in_flight, unstarted, grace).await;
    }

    /// Wait until a quarter of the slots are free, then take every free one: a claim per
    /// freed slot would cost a write per delivery, and waiting for more would let a slow
    /// destination holding its share of the slots hold up everything else.
    async fn free_slots(&self, slots: &Arc<Semaphore>) -> OwnedSemaphorePermit {
        let quarter = u32::try_from(self.settings.concurrency.div_ceil(4)).unwrap_or(u32::MAX);
        let mut free = slots
            .clone()
            .acquire_many_owned(quarter)
            .await
            .expect("the slots are never closed");
        let rest = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX);
        if let Ok(more) = slots.clone().try_acquire_many_owned(rest) {
            free.merge(more);
        }
        free
    }

    /// A claim for as many deliveries as `free` holds slots; the slots come back with it.
    fn claim_for(&self, free: OwnedSemaphorePermit) -> impl Future<Output = Claimed> + use<> {
        let writer = self.writer.clone();
        let request = self.request(free.num_permits());
        async move { (writer.claim(request).await, free) }
    }

    /// Start what a claim returned, each delivery with one of its slots; the unused slots
    /// go back. Returns whether the claim was full (more may be due).
    fn start(
        &self,
        claimed: Result<Vec<ClaimedDelivery>, StoreError>,
        mut free: OwnedSemaphorePermit,
        tasks: &mut JoinSet<()>,
        in_flight: &InFlight,
    ) -> bool {
        let claimed = match claimed {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::error!(error = %error, "Cannot claim deliveries; retrying");
                return false;
            }
        };
        let full = claimed.len() == free.num_permits();
        for delivery in claimed {
            let slot = free.split(1).expect("a slot per claimed delivery");
            self.spawn(tasks, in_flight, delivery, slot);
        }
        full
    }

    /// Run one delivery. Its slot bounds the actions running at once, so it is given back
    /// when the attempt ends; recording the attempt waits for a commit without holding it.
    fn spawn(
        &self,
        tasks: &mut JoinSet<()>,
        in_flight: &InFlight,
        delivery: ClaimedDelivery,
        slot: OwnedSemaphorePermit,
    ) {
        let executor = self.executor.clone();
        let in_flight = in_flight.clone();
        let id = delivery.delivery.id;
        let turn = ActionTurn::start(&self.running, &delivery.delivery.action);
        let ticket = executor.ticket(&delivery);
        in_flight
            .lock()
            .expect("in-flight set poisoned")
            .insert(id, delivery.lease_token);
        tasks.spawn(async move {
            let recorded = match executor.attempt(&delivery, ticket).await {
                Ok(record) => {
                    drop((slot, turn));
                    executor.record(record).await
                }
                Err(error) => Err(error),
            };
            if let Err(error) = recorded {
                // The lease expires and the delivery is claimed again.
                tracing::error!(delivery_id = %id, error = %error, "Cannot record the attempt");
            }
            in_flight
                .lock()
                .expect("in-flight set poisoned")
                .remove(&id);
        });
    }

    fn request(&self, limit: usize) -> ClaimRequest {
        let now = self.clock.now();
        ClaimRequest {
            now,
            lease_until: clock::add(now, self.settings.lease),
            owner: self.settings.owner.clone(),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            skip_actions: lock(&self.running)
                .iter()
                .filter(|(_, running)| **running >= self.action_share())
                .map(|(action, _)| action.clone())
                .collect(),
        }
    }

    /// How long to sleep when nothing is due: until the next retry, at most the poll interval.
    async fn idle_time(&self) -> Duration {
        let poll = self.settings.poll_interval;
        let now = self.clock.now();
        match self.store.next_due_at(now).await {
            Ok(Some(at)) => (at - now).to_std().unwrap_or(Duration::ZERO).min(poll),
            Ok(None) => poll,
            Err(_) => poll,
        }
        .max(Duration::from_millis(5))
    }

    /// Wait for the claims still queued (they commit anyway) and return their tokens: their
    /// deliveries never start.
    async fn cancel_claims(&self, mut claims: JoinSet<Claimed>) -> HashSet<Uuid> {
        let mut tokens = HashSet::new();
        while let Some(done) = claims.join_next().await {
            if let Ok((Ok(claimed), _)) = done {
                tokens.extend(claimed.iter().map(|delivery| delivery.lease_token));
            }
        }
        tokens
    }

    /// Wait up to `grace` for the deliveries running, then give back the leases of those cut
    /// short and of those never started.
    async fn drain(
        &self,
        mut tasks: JoinSet<()>,
        in_flight: InFlight,
        mut tokens: HashSet<Uuid>,
        grace: Duration,
    ) {
        let finished =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if finished.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            // Every delivery still leased under these tokens was cut short: the finished
            // ones no longer hold a token.
            let cut_short = in_flight.lock().expect("in-flight set poisoned");
            tokens.extend(cut_short.values().copied());
        }
        if tokens.is_empty() {
            return;
        }
        let tokens: Vec<Uuid> = tokens.into_iter().collect();
        match self.store.release_leases(&tokens).await {
            Ok(released) => tracing::warn!(
                released,
                "Shutdown cut deliveries short; their leases were given back"
            ),
            Err(error) => {
                tracing::error!(error = %error, "Cannot give leases back; they will expire")
            }
        }
    }
}

/// What a claim returned, with the slots it was made for.
type Claimed = (
    Result<Vec<ClaimedDelivery>, StoreError>,
    OwnedSemaphorePermit,
);

/// Resolves at `deadline`, or never without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
