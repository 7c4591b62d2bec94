//! The write pipeline: one thread takes every queued append, completion and claim and runs
//! them in one transaction, so durability costs one commit (an fsync on SQLite) per round
//! rather than per request, and the outbox does not queue ingest behind its own commits.
//! On PostgreSQL a few such batches are in flight at once (`Store::write_lanes`).

use crate::model::*;
use crate::{Result, SharedStore, StoreError};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Jobs waiting for the writer; senders wait when it is full (backpressure).
const QUEUE_CAPACITY: usize = 4096;

type Reply<T> = oneshot::Sender<Result<T>>;

enum Job {
    Append(EventWithDeliveries, Reply<AppendOutcome>),
    Complete(AttemptRecord, Reply<bool>),
    Claim(ClaimRequest, Reply<Vec<ClaimedDelivery>>),
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Batches written with a single `write` call (including failed ones).
    pub batches: u64,
    /// Jobs taken from the queue.
    pub jobs: u64,
    /// The largest batch so far, in jobs.
    pub largest_batch: u64,
}

/// One batch the writer wrote, told to the observer given to [`Writer::spawn_observed`]
/// (herald turns it into metrics; this crate records none itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchWritten {
    /// Jobs in the batch: appends, completions and claims.
    pub jobs: u64,
    /// From its `BEGIN` to its `COMMIT` (and, if it failed, the job-by-job retries).
    pub elapsed: Duration,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    jobs: AtomicU64,
    largest_batch: AtomicU64,
}

/// A handle to the writer task. Clones share the task; it exits once every clone is
/// dropped and the queued jobs are written.
#[derive(Clone)]
pub struct Writer {
    store: SharedStore,
    sender: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Start the writer task. `max_batch` bounds how many jobs share a transaction.
    pub fn spawn(store: SharedStore, max_batch: usize) -> (Writer, JoinHandle<()>) {
        Writer::spawn_observed(store, max_batch, |_| {})
    }

    /// [`Writer::spawn`], calling `observe` on the writer's thread after each batch.
    pub fn spawn_observed(
        store: SharedStore,
        max_batch: usize,
        observe: impl Fn(BatchWritten) + Send + 'static,
    ) -> (Writer, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let shared = Shared {
            receiver: tokio::sync::Mutex::new(receiver),
            store: store.clone(),
            max_batch: max_batch.max(1),
            counters: counters.clone(),
            observe: Box::new(observe),
        };
        // The writer gets a thread of its own: on the shared runtime, each wake-up by
        // SQLite's thread waited behind the request tasks queued there, three times a batch.
        let (finished, done) = oneshot::channel::<()>();
        // Dropped with the task below: aborting the task stops the writer, as it would a
        // writer spawned on the runtime.
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("herald-writer".to_string())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(async {
                        tokio::select! {
                            () = run_lanes(shared) => {}
                            _ = stopped => {}
                        }
                    }),
                    Err(err) => tracing::error!(%err, "cannot start the writer's runtime"),
                }
                drop(finished);
            });
        if let Err(err) = thread {
            tracing::error!(%err, "cannot start the writer's thread");
        }
        let task = tokio::spawn(async move {
            let _stop = stop;
            // Resolves once the thread has written everything queued and stopped.
            let _ = done.await;
        });
        (
            Writer {
                store,
                sender,
                counters,
            },
            task,
        )
    }

    /// Append one event with its deliveries; resolves once its batch has committed.
    pub async fn append(&self, item: EventWithDeliveries) -> Result<AppendOutcome> {
        self.store.prepare_append(&item);
        self.submit(|reply| Job::Append(item, reply)).await
    }

    /// Record an attempt; false if the lease token no longer holds the delivery.
    pub async fn complete(&self, record: AttemptRecord) -> Result<bool> {
        self.store.prepare_complete(&record);
        self.submit(|reply| Job::Complete(record, reply)).await
    }

    /// Lease due deliveries; resolves with them once the lease has committed.
    pub async fn claim(&self, request: ClaimRequest) -> Result<Vec<ClaimedDelivery>> {
        self.submit(|reply| Job::Claim(request, reply)).await
    }

    async fn submit<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(job(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Jobs queued and not yet taken by the writer.
    pub fn queue_len(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            jobs: self.counters.jobs.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
        }
    }
}

/// What the writer's lanes share: each lane takes a batch from the queue in turn and
/// commits it while the next lane takes the next (`Store::write_lanes` of them).
struct Shared {
    receiver: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    store: SharedStore,
    max_batch: usize,
    counters: Arc<Counters>,
    observe: Box<dyn Fn(BatchWritten) + Send>,
}

/// Run every lane on the writer's thread until the queue is closed and empty.
async fn run_lanes(shared: Shared) {
    let lanes = shared.store.write_lanes().max(1);
    let shared = Rc::new(shared);
    let local = tokio::task::LocalSet::new();
    for _ in 0..lanes {
        local.spawn_local(lane(shared.clone()));
    }
    local.await;
}

async fn lane(shared: Rc<Shared>) {
    while let Some(batch) = shared.next_batch().await {
        let size = batch.len() as u64;
        let counters = &shared.counters;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters.jobs.fetch_add(size, Ordering::Relaxed);
        counters.largest_batch.fetch_max(size, Ordering::Relaxed);
        let (appends, completions, claims) = (
            batch.appends.len(),
            batch.completions.len(),
            batch.claims.len(),
        );
        let started = Instant::now();
        batch.commit(shared.store.as_ref()).await;
        let elapsed = started.elapsed();
        tracing::debug!(
            batch_size = size,
            appends,
            completions,
            claims,
            elapsed_us = elapsed.as_micros() as u64,
            "write batch"
        );
        (shared.observe)(BatchWritten {
            jobs: size,
            elapsed,
        });
    }
}

impl Shared {
    /// The next job and what is already queued behind it, up to `max_batch`; no delay, so
    /// a lone job commits at once. None once every sender is gone and the queue is empty.
    async fn next_batch(&self) -> Option<Batch> {
        let mut receiver = self.receiver.lock().await;
        let mut batch = Batch::default();
        batch.push(receiver.recv().await?);
        while batch.len() < self.max_batch {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        Some(batch)
    }
}

/// The jobs of one transaction, split by kind, with the replies in the same order.
#[derive(Default)]
struct Batch {
    appends: Vec<EventWithDeliveries>,
    append_replies: Vec<Reply<AppendOutcome>>,
    completions: Vec<AttemptRecord>,
    completion_replies: Vec<Reply<bool>>,
    claims: Vec<ClaimRequest>,
    claim_replies: Vec<Reply<Vec<ClaimedDelivery>>>,
}

impl Batch {
    fn push(&mut self, job: Job) {
        match job {
            Job::Append(item, reply) => {
                self.appends.push(item);
                self.append_replies.push(reply);
            }
            Job::Complete(record, reply) => {
                self.completions.push(record);
                self.completion_replies.push(reply);
            }
            Job::Claim(request, reply) => {
                self.claims.push(request);
                self.claim_replies.push(reply);
            }
        }
    }

    fn len(&self) -> usize {
        self.appends.len() + self.completions.len() + self.claims.len()
    }

    fn as_write(&self) -> WriteBatch<'_> {
        WriteBatch {
            appends: &self.appends,
            completions: &self.completions,
            claims: &self.claims,
        }
    }

    async fn commit(self, store: &dyn crate::Store) {
        let err = match store.write(&self.as_write()).await {
            Ok(results) if self.matches(&results) => return self.answer(results),
            // Committed, but the answers do not fit the jobs: retrying would write twice.
            Ok(_) => return self.fail(crate::wrong_count),
            Err(err) => err,
        };
        tracing::warn!(%err, batch_size = self.len(), "write batch failed");
        if self.len() == 1 {
            let mut err = Some(err);
            return self.fail(|| err.take().unwrap_or(StoreError::Closed));
        }
        // Without a connection every retry would fail too, each after a pool timeout.
        if connection_error(&err).is_some() {
            return self.fail(|| connection_error(&err).unwrap_or(StoreError::Closed));
        }
        // The batch rolled back: write each job alone so one bad job fails alone.
        self.retry_alone(store).await;
    }

    fn matches(&self, results: &WriteResults) -> bool {
        results.appended.len() == self.appends.len()
            && results.completed.len() == self.completions.len()
            && results.claimed.len() == self.claims.len()
    }

    fn answer(self, results: WriteResults) {
        // A caller may have given up waiting; nothing to do then.
        for (reply, outcome) in self.append_replies.into_iter().zip(results.appended) {
            let _ = reply.send(Ok(outcome));
        }
        for (reply, kept) in self.completion_replies.into_iter().zip(results.completed) {
            let _ = reply.send(Ok(kept));
        }
        for (reply, claimed) in self.claim_replies.into_iter().zip(results.claimed) {
            let _ = reply.send(Ok(claimed));
        }
    }

    /// Answer every job with an error made by `error` (called once per job).
    fn fail(self, mut error: impl FnMut() -> StoreError) {
        for reply in self.append_replies {
            let _ = reply.send(Err(error()));
        }
        for reply in self.completion_replies {
            let _ = reply.send(Err(error()));
        }
        for reply in self.claim_replies {
            let _ = reply.send(Err(error()));
        }
    }

    async fn retry_alone(self, store: &dyn crate::Store) {
        for (item, reply) in self.appends.iter().zip(self.append_replies) {
            let outcome = store.append_events(std::slice::from_ref(item)).await;
            let _ = reply.send(outcome.and_then(crate::only));
        }
        for (record, reply) in self.completions.iter().zip(self.completion_replies) {
            let _ = reply.send(store.complete_attempt(record).await);
        }
        for (request, reply) in self.claims.iter().zip(self.claim_replies) {
            let _ = reply.send(store.claim_due(request).await);
        }
    }
}

/// A copy of `err` if it says the database could not be reached, which no job causes.
fn connection_error(err: &StoreError) -> Option<StoreError> {
    let copy = match err {
        StoreError::Closed => return Some(StoreError::Closed),
        StoreError::Database(sqlx::Error::PoolTimedOut) => sqlx::Error::PoolTimedOut,
        StoreError::Database(sqlx::Error::PoolClosed) => sqlx::Error::PoolClosed,
        StoreError::Database(sqlx::Error::WorkerCrashed) => sqlx::Error::WorkerCrashed,
        StoreError::Database(sqlx::Error::Io(io)) => {
            sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string()))
        }
        _ => return None,
    };
    Some(StoreError::Database(copy))
}
