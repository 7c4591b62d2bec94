//! The worker loop: claim what is due, run it with bounded concurrency, sleep until
//! woken, and on shutdown let in-flight deliveries finish or give their leases back.
//! Claims go through the `Writer`, so they share transactions with ingest and completions.

use super::executor::Executor;
use super::handoff::Handoff;
use crate::clock::{self, SharedClock};
use crate::telemetry;
use herald_store::model::{ClaimRequest, ClaimedDelivery};
use herald_store::{SharedStore, StoreError, Writer};
use std::collections::{HashMap, HashSet, VecDeque};
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
    /// Deliveries ingest stored leased to this worker.
    handoff: Arc<Handoff>,
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
        handoff: Arc<Handoff>,
    ) -> Self {
        Worker {
            store,
            writer,
            executor,
            clock,
            settings,
            wake,
            running: Arc::default(),
            handoff,
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
        let at_share = lock(&self.running)
            .iter()
            .filter(|(_, running)| **running >= self.action_share())
            .map(|(action, _)| action.clone())
            .collect();
        let request = self.request(self.settings.concurrency, at_share);
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
    ///
    /// Claims run ahead of the slots: a claim is a round through the writer, which under
    /// ingest waits behind batches of appends and their fsync (about 10 ms each on a
    /// 2-core machine), and slots held for that wait stood idle. Deliveries claimed ahead
    /// wait in `ahead` and start the moment a slot frees, as do the deliveries ingest
    /// stored leased to this worker (`Handoff`) in the room it leaves them.
    pub async fn run(self, shutdown: CancellationToken, grace: Duration) {
        let slots = Arc::new(Semaphore::new(self.settings.concurrency));
        let in_flight: InFlight = Arc::default();
        let mut tasks = JoinSet::new();
        // The claim waiting for its commit: one at a time, so deliveries are queued, and
        // take their pacer tickets, in the order they were claimed (two claims answered in
        // one writer batch could come back in either order, and a channel's Slack posts
        // with them). Each asks for all the room there is, so one is enough.
        let mut claims = JoinSet::new();
        let mut ahead = Ahead::default();
        // Rung when a delivery gives its slot back.
        let freed = Arc::new(Notify::new());
        // Set when a claim came back short: nothing more is due until this, or a wake-up.
        let mut idle_until: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            while tasks.try_join_next().is_some() {}
            ahead.receive(self.handoff.take());
            self.start_ready(&mut ahead, &slots, &mut tasks, &in_flight, &freed);
            let may_claim = idle_until.is_none() && claims.is_empty();
            let room = self.handoff.split(
                self.room(&ahead, &slots),
                may_claim.then(|| self.min_claim()),
            );
            if room > 0 {
                ahead.claiming += room;
                claims.spawn(self.claim_for(room, &ahead));
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(done) = claims.join_next() => {
                    let (claimed, asked) = done.expect("claim task panicked");
                    ahead.claiming -= asked;
                    idle_until = if ahead.take(claimed, asked) {
                        None
                    } else {
                        Some(Instant::now() + self.idle_time().await)
                    };
                }
                () = self.handoff.arrived() => {}
                () = freed.notified() => {}
                // Only an idle loop listens: busy, it claims again as room frees anyway.
                () = self.wake.notified(), if idle_until.is_some() => idle_until = None,
                () = sleep_until(idle_until), if idle_until.is_some() => idle_until = None,
            }
        }
        let mut unstarted = self.cancel_claims(claims).await;
        unstarted.extend(self.handoff.close());
        unstarted.extend(ahead.ready.iter().map(|ready| ready.delivery.lease_token));
        self.drain(tasks, in_flight, unstarted, grace).await;
    }

    /// Deliveries claimed or being claimed, and not started, at most: enough to keep the
    /// slots busy through a claim's round behind ingest's batches.
    fn lookahead(&self) -> usize {
        self.settings.concurrency * LOOKAHEAD_PER_SLOT
    }

    /// The fewest deliveries worth a claim: a quarter of the slots, as a claim per freed
    /// slot would cost a write per delivery.
    fn min_claim(&self) -> usize {
        self.settings.concurrency.div_ceil(4)
    }

    /// How many more deliveries may be claimed (or handed over) now.
    fn room(&self, ahead: &Ahead, slots: &Semaphore) -> usize {
        let running = self.settings.concurrency - slots.available_permits();
        (self.settings.concurrency + self.lookahead())
            .saturating_sub(running + ahead.ready.len() + ahead.claiming)
    }

    /// A claim for `limit` deliveries, and that limit back with what it returned.
    fn claim_for(&self, limit: usize, ahead: &Ahead) -> impl Future<Output = Claimed> + use<> {
        let writer = self.writer.clone();
        let request = self.request_ahead(limit, ahead);
        async move { (writer.claim(request).await, limit) }
    }

    /// Start what waits ahead while slots are free, oldest claimed first, skipping the
    /// deliveries of an action that holds its share of the slots.
    fn start_ready(
        &self,
        ahead: &mut Ahead,
        slots: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
        in_flight: &InFlight,
        freed: &Arc<Notify>,
    ) {
        let stale_after = self.settings.lease / 2;
        // An action found at its share stays skipped for the rest of the pass: its running
        // count drops as other tasks finish, and a later delivery of it started now would
        // take its pacer ticket before the earlier one skipped (Slack posts out of order).
        let mut held: HashSet<String> = HashSet::new();
        let mut index = 0;
        while index < ahead.ready.len() && slots.available_permits() > 0 {
            let ready = &ahead.ready[index];
            if ready.claimed_at.elapsed() > stale_after {
                // Started now, it could outlive its lease and run twice; left alone, its
                // lease lapses and it is claimed again.
                let stale = ahead.ready.remove(index).expect("the index is in range");
                self.done_waiting(&stale);
                tracing::warn!(delivery_id = %stale.delivery.delivery.id, "Claimed delivery waited half its lease; leaving it to be claimed again");
                continue;
            }
            let action = &ready.delivery.delivery.action;
            if held.contains(action) || self.running_of(action) >= self.action_share() {
                held.insert(action.clone());
                index += 1;
                continue;
            }
            let ready = ahead.ready.remove(index).expect("the index is in range");
            self.done_waiting(&ready);
            let slot = slots
                .clone()
                .try_acquire_owned()
                .expect("a permit is available");
            self.spawn(tasks, in_flight, ready.delivery, slot, freed.clone());
        }
    }

    /// A delivery ingest handed over no longer waits (its action may be handed more).
    fn done_waiting(&self, ready: &Ready) {
        if ready.handed {
            self.handoff.started(&ready.delivery.delivery.action);
        }
    }

    fn running_of(&self, action: &str) -> usize {
        lock(&self.running).get(action).copied().unwrap_or(0)
    }

    /// Run one delivery. Its slot bounds the actions running at once, so it is given back
    /// when the attempt ends; recording the attempt waits for a commit without holding it.
    fn spawn(
        &self,
        tasks: &mut JoinSet<()>,
        in_flight: &InFlight,
        delivery: ClaimedDelivery,
        slot: OwnedSemaphorePermit,
        freed: Arc<Notify>,
    ) {
        let executor = self.executor.clone();
        let wake = self.wake.clone();
        let in_flight = in_flight.clone();
        let id = delivery.delivery.id;
        let turn = ActionTurn::start(&self.running, &delivery.delivery.action);
        let ticket = executor.ticket(&delivery);
        let keyed = delivery.delivery.ordering_key.is_some();
        in_flight
            .lock()
            .expect("in-flight set poisoned")
            .insert(id, delivery.lease_token);
        tasks.spawn(async move {
            let recorded = match executor.attempt(&delivery, ticket).await {
                Ok(record) => {
                    drop((slot, turn));
                    freed.notify_one();
                    let recorded = executor.record(record).await;
                    // A recorded attempt of a keyed delivery makes the next of its key due
                    // (actions run one at a time have a key too). Without this, an idle
                    // worker found it only after `poll_interval`; an unkeyed one makes
                    // nothing due, and waking for it cost a claim per delivery.
                    if keyed {
                        wake.notify_one();
                    }
                    recorded
                }
                Err(error) => {
                    drop((slot, turn));
                    freed.notify_one();
                    Err(error)
                }
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

    fn request(&self, limit: usize, skip_actions: Vec<String>) -> ClaimRequest {
        let now = self.clock.now();
        ClaimRequest {
            now,
            lease_until: clock::add(now, self.settings.lease),
            owner: self.settings.owner.clone(),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            skip_actions,
        }
    }

    /// A claim that also skips the actions holding half of everything claimed or running,
    /// so one slow destination cannot fill what waits ahead.
    fn request_ahead(&self, limit: usize, ahead: &Ahead) -> ClaimRequest {
        let share = ahead_share(self.settings.concurrency);
        let mut queued: HashMap<&str, usize> = HashMap::new();
        for ready in &ahead.ready {
            *queued.entry(&ready.delivery.delivery.action).or_default() += 1;
        }
        let running = lock(&self.running);
        for (action, count) in running.iter() {
            *queued.entry(action).or_default() += count;
        }
        let skip_actions = queued
            .into_iter()
            .filter(|(_, count)| *count >= share)
            .map(|(action, _)| action.to_string())
            .collect();
        drop(running);
        self.request(limit, skip_actions)
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

/// What a claim returned, with how many it asked for.
type Claimed = (Result<Vec<ClaimedDelivery>, StoreError>, usize);

/// Deliveries claimed at most ahead of the slots, per slot. A claim's round behind ingest
/// took about two writer batches (20-30 ms on a 2-core machine) while a delivery to a fast
/// destination took a few ms: four per slot covers that.
const LOOKAHEAD_PER_SLOT: usize = 4;

/// The most deliveries of one action claimed (or handed over) and not finished: half of
/// what the slots and the lookahead hold, so one slow destination cannot fill it.
pub fn ahead_share(concurrency: usize) -> usize {
    (concurrency * (1 + LOOKAHEAD_PER_SLOT)).div_ceil(2).max(1)
}

/// A delivery claimed and not started yet.
struct Ready {
    delivery: ClaimedDelivery,
    /// Its lease runs from about then.
    claimed_at: Instant,
    /// Leased by ingest and handed over, rather than claimed.
    handed: bool,
}

/// What the worker has claimed ahead of its slots.
#[derive(Default)]
struct Ahead {
    ready: VecDeque<Ready>,
    /// Deliveries asked for by the claims not answered yet.
    claiming: usize,
}

impl Ahead {
    /// Queue what a claim for `asked` returned. Returns whether it was full (more may be
    /// due).
    fn take(&mut self, claimed: Result<Vec<ClaimedDelivery>, StoreError>, asked: usize) -> bool {
        let claimed = match claimed {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::error!(error = %error, "Cannot claim deliveries; retrying");
                return false;
            }
        };
        let full = claimed.len() == asked;
        telemetry::deliveries_leased("claim", actions(&claimed));
        let claimed_at = Instant::now();
        self.ready.extend(claimed.into_iter().map(|delivery| Ready {
            delivery,
            claimed_at,
            handed: false,
        }));
        full
    }

    /// Queue what ingest handed over.
    fn receive(&mut self, handed: Vec<ClaimedDelivery>) {
        telemetry::deliveries_leased("handoff", actions(&handed));
        let claimed_at = Instant::now();
        self.ready.extend(handed.into_iter().map(|delivery| Ready {
            delivery,
            claimed_at,
            handed: true,
        }));
    }
}

fn actions(deliveries: &[ClaimedDelivery]) -> impl Iterator<Item = &str> {
    deliveries
        .iter()
        .map(|claimed| claimed.delivery.action.as_str())
}

/// Resolves at `deadline`, or never without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
