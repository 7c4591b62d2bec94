//! herald's durable store.
//!
//! One [`Store`] trait, two backends: [`sqlite::SqliteStore`] (the embedded default) and
//! [`postgres::PgStore`] (several replicas on one database). Both pass the same
//! conformance suite (`tests/conformance`). Callers hold an `Arc<dyn Store>`.

mod common;
mod compress;
mod dictionaries;
pub mod model;
mod pollers;
pub mod postgres;
pub mod sqlite;
mod trained;
mod windows;
pub mod writer;

use async_trait::async_trait;
use model::*;
use std::sync::Arc;
use uuid::Uuid;

pub use writer::{BatchWritten, Writer, WriterStats};

/// The driver's error is part of the message, not a separate source, so a report that
/// prints the causes shows it once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// The database server could not be reached or refused the login, said at once.
    #[error("cannot connect to PostgreSQL at {address}: {cause}")]
    Connect { address: String, cause: String },
    /// A record with this key exists already; nothing was written.
    #[error("{0} already exists")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A payload was compressed against a zstd dictionary this process has not loaded
    /// (another process trained it after this one opened the store); reads load it then.
    #[error("a payload needs zstd dictionary {0}, which is not in the store")]
    MissingDictionary(u32),
    /// A zstd dictionary could not be trained (SQLite keeps compressing without it).
    #[error("training a zstd dictionary failed: {0}")]
    Training(String),
    #[error("the store is shutting down")]
    Closed,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Database(error)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(error)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything herald reads and writes. Implementations never read the database clock:
/// every time comes in as an argument.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Apply pending migrations. Safe to run concurrently from several processes.
    async fn migrate(&self) -> Result<()>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<()>;

    /// Close every connection once the write in progress is done; later calls fail. On
    /// SQLite, closing the last connection folds the log into the database file and
    /// removes the -wal and -shm files.
    async fn close(&self);

    /// What can be done for an append before the single writer takes it, on the caller's
    /// task: both backends compress a large payload here (`JsonText::compressed`).
    fn prepare_append(&self, _item: &EventWithDeliveries) {}

    /// The same for a completion: both backends compress a large request here.
    fn prepare_complete(&self, _record: &AttemptRecord) {}

    /// How many write batches the writer may have in flight at once. SQLite takes one
    /// writer at a time; PostgreSQL takes several transactions at once (as it does from
    /// replicas), so batches overlap their round trips and commits.
    fn write_lanes(&self) -> usize {
        1
    }

    /// Run appends, then completions, then claims in one transaction. Results come back
    /// in input order; an error means nothing was written.
    async fn write(&self, batch: &WriteBatch<'_>) -> Result<WriteResults>;

    /// Write a batch of events with their deliveries in one transaction.
    /// An event whose (source, dedup key) is already stored, in the database or earlier in
    /// the same batch, is reported as a duplicate and its deliveries are not written.
    /// A stored event joins its windows in the same transaction (see [`WindowEntry`]): the
    /// open window of each (rule, group key), or a new one opened at its `received_at`.
    /// Joining sets the window's `count`, `last_event_at` and `due_at`
    /// ([`WindowTiming::due_at`]), except that a forced window stays due and a deferred one
    /// is not due before its deferral ends.
    async fn append_events(&self, batch: &[EventWithDeliveries]) -> Result<Vec<AppendOutcome>> {
        let appends = WriteBatch {
            appends: batch,
            ..WriteBatch::default()
        };
        Ok(self.write(&appends).await?.appended)
    }

    async fn get_event(&self, id: Uuid) -> Result<Option<Event>>;

    /// Newest first.
    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>>;

    /// The ids and payloads (their JSON text, not parsed) of the events `query` lists,
    /// newest first: a text search reads these, parsing no JSON. The text is the payload
    /// as stored: on PostgreSQL as `jsonb` prints it (a space after each `:` and `,`).
    async fn event_payloads(&self, query: &EventQuery) -> Result<Vec<(Uuid, String)>>;

    /// When events were received and deliveries created at or after `since`, newest first,
    /// at most `limit` of each: the dashboard's chart of the last hour. Each list is read
    /// from an index on its time alone, no row and no payload.
    async fn activity_since(&self, since: Timestamp, limit: u32) -> Result<Activity>;

    /// The events whose sender gave them this dedup key (GitHub's `X-GitHub-Delivery`), at
    /// most one per source, newest first. One seek per source in the (source, dedup_key)
    /// index: the sources are read from `event_counts`.
    async fn events_by_dedup_key(&self, dedup_key: &str) -> Result<Vec<Event>>;

    /// Lease up to `limit` pending deliveries that are due and not leased (or whose lease
    /// expired), oldest due first. They share one new lease token. A delivery with an
    /// ordering key is leased only at the head of its key: no other pending delivery of
    /// the key is older in (created_at, id) order or holds a live lease.
    async fn claim_due(&self, request: &ClaimRequest) -> Result<Vec<ClaimedDelivery>> {
        let claims = WriteBatch {
            claims: std::slice::from_ref(request),
            ..WriteBatch::default()
        };
        only(self.write(&claims).await?.claimed)
    }

    /// Lease exactly these deliveries, those of them that are pending and not under a live
    /// lease at `request.now`, whether due or not and whatever their ordering key says
    /// (`herald test` runs a delivery it has just created). They share one new lease token,
    /// as in a claim, and come back oldest due first. The ids bound the claim:
    /// `request.limit` is not used.
    async fn claim_ids(&self, ids: &[Uuid], request: &ClaimRequest)
    -> Result<Vec<ClaimedDelivery>>;

    /// Record an attempt and move the delivery to its next step, in one transaction.
    /// Returns false, and writes nothing but the record's refs, if the lease token no
    /// longer holds the delivery.
    async fn complete_attempt(&self, record: &AttemptRecord) -> Result<bool> {
        let completions = WriteBatch {
            completions: std::slice::from_ref(record),
            ..WriteBatch::default()
        };
        only(self.write(&completions).await?.completed)
    }

    /// Give back every lease held under these tokens, without recording an attempt
    /// (graceful shutdown).
    async fn release_leases(&self, lease_tokens: &[Uuid]) -> Result<u64>;

    /// Record that process `owner` is alive at `now`, and give back the delivery and poller
    /// leases of every other process whose last beat is older than `stale_before` (it was
    /// killed), forgetting it. Returns how many leases were given back. A released delivery's old
    /// lease token no longer holds it, so a process thought dead that still answers
    /// records nothing.
    async fn heartbeat(&self, owner: &str, now: Timestamp, stale_before: Timestamp) -> Result<u64>;

    async fn get_delivery(&self, id: Uuid) -> Result<Option<Delivery>>;

    /// Newest first.
    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>>;

    /// Oldest first.
    async fn list_attempts(&self, delivery_id: Uuid) -> Result<Vec<Attempt>>;

    /// The ref last written for (kind, key) by an attempt record, if any.
    async fn get_ref(&self, kind: &str, key: &str) -> Result<Option<Ref>>;

    /// The refs of `kind` last written with this group, newest `updated_at` first (ties by
    /// key, in byte order).
    async fn list_refs(&self, kind: &str, group: &str) -> Result<Vec<Ref>>;

    /// Every ref of a kind, newest `updated_at` first (ties by key): for retention passes.
    async fn list_refs_of_kind(&self, kind: &str) -> Result<Vec<Ref>>;

    /// Apply `change.writes` (upserts and deletes of refs, as attempt records write them) in
    /// one transaction, only if none of `change.absent` exists and every `change.present`
    /// does; otherwise write nothing and answer false. Changes sharing a key run one after
    /// the other, so of two racing changes that need the same key absent and write it, one
    /// answers false.
    async fn change_refs(&self, change: &RefChange) -> Result<bool>;

    /// Make the selected deliveries due now with a fresh retry schedule; returns their ids.
    /// Selecting by id re-queues any status except a delivery a worker holds a live lease
    /// on (taking it would send twice); a filter never touches pending deliveries. Clears
    /// the failure kind; progress restarts from 0 only for a delivery that had succeeded
    /// (any other resumes after the steps it already did).
    async fn replay(&self, selector: &ReplaySelector, now: Timestamp) -> Result<Vec<Uuid>>;

    async fn queue_depth(&self, now: Timestamp) -> Result<QueueDepth>;

    /// When the next pending delivery can be claimed: its `next_attempt_at`, or the end of
    /// its lease if it is leased at `now`. Deliveries blocked behind another of their
    /// ordering key are left out (the blocker's own time counts). Idle workers sleep until
    /// then.
    async fn next_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>>;

    async fn prune(&self, policy: &PrunePolicy) -> Result<PruneReport>;

    /// Per action, source and rule: the latest successes and failures, failure streaks and
    /// counts (see [`Health`]), from a few aggregate queries.
    async fn health(&self) -> Result<Health>;

    /// The states a monitor keeps, ordered by subject (byte order).
    async fn monitor_states(&self, monitor: &str) -> Result<Vec<MonitorState>>;

    /// Insert each state, or replace the data and `updated_at` of the one stored for its
    /// (monitor, subject), all in one transaction. Of states sharing a (monitor, subject),
    /// the last wins.
    async fn put_monitor_states(&self, states: &[MonitorState]) -> Result<()>;

    /// Delete the states of these subjects of a monitor; returns how many there were.
    async fn delete_monitor_states(&self, monitor: &str, subjects: &[String]) -> Result<u64>;

    /// Register a hook. Fails with [`StoreError::Conflict`], writing nothing, when its
    /// (source, id) is taken.
    async fn create_hook(&self, hook: &Hook) -> Result<()>;

    async fn get_hook(&self, source: &str, id: &str) -> Result<Option<Hook>>;

    /// The hooks of `source` (every source if None), by source then id (byte order).
    async fn list_hooks(&self, source: Option<&str>) -> Result<Vec<Hook>>;

    /// Rotate a hook's secret: the current one becomes the previous one, accepted until
    /// `previous_valid_until` (replacing any earlier previous one), and `secret` the current
    /// one. Returns the hook as it now is, or None if there is no such hook.
    async fn rotate_hook_secret(
        &self,
        source: &str,
        id: &str,
        secret: &SealedSecret,
        previous_valid_until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hook>>;

    /// Store a hook with a secret given from elsewhere: insert it, or replace the stored
    /// one's repository and secret (forgetting any previous secret; `created_at` is kept,
    /// `updated_at` is the hook's). Returns true if it was inserted.
    async fn import_hook(&self, hook: &Hook) -> Result<bool>;

    /// Returns whether there was such a hook.
    async fn delete_hook(&self, source: &str, id: &str) -> Result<bool>;

    /// The poller of `claim.source`, created (with `start_at` = `now`) if it has no row
    /// yet, then leased to `claim.owner` until `claim.lease_until` if no other process
    /// holds a live lease and its next poll is due (or `claim.force`). Its state once
    /// leased; None when it is not (nothing is leased then).
    async fn claim_poller(&self, claim: &PollerClaim<'_>) -> Result<Option<PollerState>>;

    /// In one transaction: append the page's events with their deliveries and windows (as
    /// `append_events` does) and set the poller's cursor to `page.cursor`, only if its
    /// stored cursor is still `page.after`; else write nothing
    /// ([`PageOutcome::CursorMoved`]). The newest item time only moves forward; a lease
    /// `page.owner` holds is extended to `page.lease_until`.
    async fn store_poll_page(&self, page: &PollPage<'_>) -> Result<PageOutcome>;

    /// Record how a poll ended (its time, success or error, items, the next poll) and
    /// release the lease. Returns false, writing nothing, if `end.owner` does not hold it.
    async fn finish_poll(&self, end: &PollEnd<'_>) -> Result<bool>;

    /// Every poller's state, by source (byte order).
    async fn poller_states(&self) -> Result<Vec<PollerState>>;

    /// Insert pending deliveries of stored events (reprocessing them), skipping those whose
    /// idempotency key is taken or whose event is not stored; returns how many were
    /// inserted.
    async fn add_deliveries(&self, deliveries: &[NewDelivery]) -> Result<u64>;

    /// Lease up to `limit` open windows that are due at `now` and not under a live lease,
    /// oldest due first, under one new token. The claim fences the window's events at its
    /// `count`: see [`Store::window_events`] and [`Store::flush_window`].
    async fn claim_due_windows(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedWindow>>;

    async fn get_window(&self, id: Uuid) -> Result<Option<Window>>;

    /// The window's events in the order they joined. Once claimed, only the events it held
    /// at its last claim, which are those a flush covers; a deferral lifts the fence.
    async fn window_events(&self, window_id: Uuid) -> Result<Vec<Event>>;

    /// In one transaction: close the window leased under `lease_token` (flushed at `now`,
    /// lease cleared) and insert `deliveries` with its id as `window_id`, ignoring any whose
    /// idempotency key is taken. Events that joined after the claim move, in order, to a new
    /// open window of the same rule and group. Returns false, writing nothing, if the token
    /// no longer holds the window or it is already flushed.
    async fn flush_window(
        &self,
        window_id: Uuid,
        lease_token: Uuid,
        deliveries: &[NewDelivery],
        now: Timestamp,
    ) -> Result<bool>;

    /// Give back the lease and make the window due at `due_at` (a calendar postpones the
    /// flush); appends do not make it due earlier. A forced window stays due as it is.
    /// Returns false, writing nothing, if the token no longer holds the window.
    async fn defer_window(
        &self,
        window_id: Uuid,
        lease_token: Uuid,
        due_at: Timestamp,
    ) -> Result<bool>;

    /// Newest opened first.
    async fn list_windows(&self, query: &WindowQuery) -> Result<Vec<Window>>;

    /// Make the open windows of `rule` (all rules if None) and `group_key` (all groups if
    /// None) due at `now` and forced (their calendar no longer defers them); returns their
    /// ids, sorted.
    async fn flush_now(
        &self,
        rule: Option<&str>,
        group_key: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<Uuid>>;

    /// The earliest `due_at` of the open windows not under a live lease at `now`. A leased
    /// window is left out though it can be claimed again once its lease ends: sleep no
    /// longer than a lease.
    async fn next_window_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>>;

    /// How many windows are open per rule (rules without one left out), ordered by rule.
    async fn open_window_counts(&self) -> Result<Vec<(String, i64)>>;
}

pub type SharedStore = Arc<dyn Store>;

/// The one result of a single-job write.
pub(crate) fn only<T>(results: Vec<T>) -> Result<T> {
    let mut results = results.into_iter();
    match (results.next(), results.next()) {
        (Some(result), None) => Ok(result),
        _ => Err(wrong_count()),
    }
}

pub(crate) fn wrong_count() -> StoreError {
    StoreError::Corrupt("a write returned the wrong number of results".into())
}

/// Open the store named by a URL, with default options: `sqlite://PATH`, `sqlite:PATH` or a
/// bare path (created if missing), or `postgres://...`. Does not migrate.
pub async fn connect(url: &str) -> Result<SharedStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = postgres::PgOptions::default();
        Ok(Arc::new(postgres::PgStore::connect(url, options).await?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::open_url(url).await?))
    }
}
