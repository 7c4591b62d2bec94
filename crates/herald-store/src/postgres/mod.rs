//! The PostgreSQL backend, for several replicas sharing one database. Claims lock rows with
//! `FOR UPDATE SKIP LOCKED`, so replicas never lease the same delivery.

mod append;
mod complete;
mod connection;
mod dictionaries;
mod health;
mod hooks;
mod maintain;
mod monitors;
mod one_statement;
mod pollers;
mod read;
mod rows;
mod windows;
mod write;

/// The completion round's statement, for the test of the plan PostgreSQL caches for it.
#[doc(hidden)]
pub use complete::COMPLETE as COMPLETE_STATEMENT;
/// The statement that writes a batch of appends and completions alone, for the same test.
#[doc(hidden)]
pub use one_statement::STATEMENT as BATCH_STATEMENT;

use crate::dictionaries::Dictionaries;
use crate::model::*;
use crate::{Result, Store, StoreError};
use async_trait::async_trait;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::sync::Arc;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Write batches in flight at once. On two cores two lanes took ingest from 2,100 to
/// 2,500–2,800 req/s with p99 under 30 ms; three or four added nothing but latency (their
/// batches queue on the same CPU and locks; docs/benchmarks.md).
const MAX_WRITE_LANES: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    pub max_connections: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 10,
        }
    }
}

/// `$read`, and once more after registering the store's zstd dictionaries if it met a
/// payload compressed against one this process has not loaded (`dictionaries::reading!`).
macro_rules! reading {
    ($store:expr, $read:expr) => {
        crate::dictionaries::reading!(dictionaries::register_kept(&$store.pool), $read)
    };
}

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The writer's connections (`connection.rs`); it runs `lanes` batches at once.
    writes: Arc<connection::WriteConnections>,
    lanes: usize,
    dictionaries: Arc<Dictionaries>,
}

impl PgStore {
    /// Connect to `postgres://...`. Does not migrate.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self> {
        let connect: PgConnectOptions = url.parse()?;
        Self::connect_with(connect, options).await
    }

    /// Connect once first, so a server that is down or refuses the login is reported at
    /// once with its cause, not as the pool's timeout 30 s later.
    pub async fn connect_with(connect: PgConnectOptions, options: PgOptions) -> Result<Self> {
        check_reachable(&connect).await?;
        let lanes = write_lanes(options.max_connections);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.saturating_sub(lanes as u32).max(1))
            .connect_with(connect.clone())
            .await?;
        let writes = Arc::new(connection::WriteConnections::new(connect));
        let dictionaries = Dictionaries::of(dictionaries::register_kept(&pool).await?);
        Ok(PgStore {
            pool,
            writes,
            lanes,
            dictionaries: Arc::new(dictionaries),
        })
    }

    /// Train `source` a dictionary in the background; appends go on meanwhile.
    fn train_dictionary(&self, source: &str) {
        let (pool, owned) = (self.pool.clone(), source.to_string());
        let training = async move { dictionaries::train(&pool, &owned).await };
        self.dictionaries.train_in_background(source, training);
    }

    /// The pool, e.g. for session advisory locks held on a detached connection.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// How long the first connection may take before the server counts as unreachable.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn check_reachable(connect: &PgConnectOptions) -> Result<()> {
    let address = format!("{}:{}", connect.get_host(), connect.get_port());
    let cause = match tokio::time::timeout(CONNECT_TIMEOUT, connect.connect()).await {
        Ok(Ok(connection)) => {
            let _ = sqlx::Connection::close(connection).await;
            return Ok(());
        }
        Ok(Err(sqlx::Error::Io(error))) => io_cause(&error),
        Ok(Err(sqlx::Error::Database(error))) => error.message().to_string(),
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
    };
    Err(StoreError::Connect { address, cause })
}

/// `connection refused`, `host unreachable`, …: the kind in words, then the OS's text.
fn io_cause(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        _ => error.to_string(),
    }
}

/// Of `connections` in all, how many the writer keeps: half, at most `MAX_WRITE_LANES`;
/// the rest are the pool that serves reads and claims by id.
fn write_lanes(connections: u32) -> usize {
    (connections as usize / 2).clamp(1, MAX_WRITE_LANES)
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn close(&self) {
        self.writes.close().await;
        self.pool.close().await;
    }

    /// sqlx holds a session advisory lock (keyed by database name) while it migrates, so
    /// replicas starting together apply each migration once.
    async fn migrate(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        // `run_direct` is what `Migrator::run` calls; `run` itself trips rustc's "Acquire is
        // not general enough" inside `async_trait`, as sqlx's own comment on it says.
        match MIGRATOR.run_direct(None, &mut *conn, false).await {
            Ok(()) => Ok(()),
            Err(err) => {
                // On error sqlx skips the unlock; closing the session frees the lock.
                let _ = conn.close().await;
                Err(err.into())
            }
        }
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn write_lanes(&self) -> usize {
        self.lanes
    }

    async fn write(&self, batch: &WriteBatch<'_>) -> Result<WriteResults> {
        if batch.is_empty() {
            return Ok(WriteResults::default());
        }
        if one_statement::fits(batch) {
            return one_statement::write(&self.writes, batch).await;
        }
        self.writes
            .in_transaction(async |conn| write::write(conn, batch).await)
            .await
    }

    async fn get_event(&self, id: Uuid) -> Result<Option<Event>> {
        reading!(self, read::get_event(&self.pool, id))
    }

    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        reading!(self, read::list_events(&self.pool, query))
    }

    async fn events_by_dedup_key(&self, dedup_key: &str) -> Result<Vec<Event>> {
        reading!(self, read::events_by_dedup_key(&self.pool, dedup_key))
    }

    async fn claim_ids(
        &self,
        ids: &[Uuid],
        request: &ClaimRequest,
    ) -> Result<Vec<ClaimedDelivery>> {
        write::claim_ids(&self.pool, ids, request).await
    }

    async fn release_leases(&self, lease_tokens: &[Uuid]) -> Result<u64> {
        write::release_leases(&self.pool, lease_tokens).await
    }

    async fn heartbeat(&self, owner: &str, now: Timestamp, stale_before: Timestamp) -> Result<u64> {
        write::heartbeat(&self.pool, owner, now, stale_before).await
    }

    async fn get_delivery(&self, id: Uuid) -> Result<Option<Delivery>> {
        read::get_delivery(&self.pool, id).await
    }

    async fn event_payloads(&self, query: &EventQuery) -> Result<Vec<(Uuid, String)>> {
        reading!(self, read::event_payloads(&self.pool, query))
    }

    async fn activity_since(&self, since: Timestamp, limit: u32) -> Result<Activity> {
        read::activity_since(&self.pool, since, limit).await
    }

    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>> {
        read::list_deliveries(&self.pool, query).await
    }

    async fn list_attempts(&self, delivery_id: Uuid) -> Result<Vec<Attempt>> {
        reading!(self, read::list_attempts(&self.pool, delivery_id))
    }

    async fn get_ref(&self, kind: &str, key: &str) -> Result<Option<Ref>> {
        read::get_ref(&self.pool, kind, key).await
    }

    async fn list_refs(&self, kind: &str, group: &str) -> Result<Vec<Ref>> {
        read::list_refs(&self.pool, kind, group).await
    }

    async fn list_refs_of_kind(&self, kind: &str) -> Result<Vec<Ref>> {
        read::list_refs_of_kind(&self.pool, kind).await
    }

    async fn change_refs(&self, change: &RefChange) -> Result<bool> {
        complete::change_refs(&self.pool, change).await
    }

    async fn replay(&self, selector: &ReplaySelector, now: Timestamp) -> Result<Vec<Uuid>> {
        maintain::replay(&self.pool, selector, now).await
    }

    async fn queue_depth(&self, now: Timestamp) -> Result<QueueDepth> {
        read::queue_depth(&self.pool, now).await
    }

    async fn next_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>> {
        read::next_due_at(&self.pool, now).await
    }

    async fn prune(&self, policy: &PrunePolicy) -> Result<PruneReport> {
        maintain::prune(&self.pool, policy).await
    }

    async fn health(&self) -> Result<Health> {
        health::health(&self.pool).await
    }

    /// Compress a large payload now, on the caller's task (migration 0018), against its
    /// source's trained dictionary once it has one (0020): the writer only copies it, and
    /// the database neither parses it into `jsonb` nor compresses it.
    fn prepare_append(&self, item: &EventWithDeliveries) {
        if self.dictionaries.compress_payload(item) {
            self.train_dictionary(&item.event.source);
        }
    }

    /// Compress a large request now, on the outbox's task (migrations 0018, 0019).
    fn prepare_complete(&self, record: &AttemptRecord) {
        crate::common::request_frame(record);
    }

    async fn monitor_states(&self, monitor: &str) -> Result<Vec<MonitorState>> {
        monitors::monitor_states(&self.pool, monitor).await
    }

    async fn put_monitor_states(&self, states: &[MonitorState]) -> Result<()> {
        monitors::put_monitor_states(&self.pool, states).await
    }

    async fn delete_monitor_states(&self, monitor: &str, subjects: &[String]) -> Result<u64> {
        monitors::delete_monitor_states(&self.pool, monitor, subjects).await
    }

    async fn create_hook(&self, hook: &Hook) -> Result<()> {
        hooks::create_hook(&self.pool, hook).await
    }

    async fn get_hook(&self, source: &str, id: &str) -> Result<Option<Hook>> {
        hooks::get_hook(&self.pool, source, id).await
    }

    async fn list_hooks(&self, source: Option<&str>) -> Result<Vec<Hook>> {
        hooks::list_hooks(&self.pool, source).await
    }

    async fn rotate_hook_secret(
        &self,
        source: &str,
        id: &str,
        secret: &SealedSecret,
        previous_valid_until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hook>> {
        hooks::rotate_hook_secret(&self.pool, (source, id), secret, previous_valid_until, now).await
    }

    async fn import_hook(&self, hook: &Hook) -> Result<bool> {
        hooks::import_hook(&self.pool, hook).await
    }

    async fn delete_hook(&self, source: &str, id: &str) -> Result<bool> {
        hooks::delete_hook(&self.pool, source, id).await
    }

    async fn claim_poller(&self, claim: &PollerClaim<'_>) -> Result<Option<PollerState>> {
        pollers::claim_poller(&self.pool, claim).await
    }

    async fn store_poll_page(&self, page: &PollPage<'_>) -> Result<PageOutcome> {
        pollers::store_poll_page(&self.pool, page).await
    }

    async fn finish_poll(&self, end: &PollEnd<'_>) -> Result<bool> {
        pollers::finish_poll(&self.pool, end).await
    }

    async fn poller_states(&self) -> Result<Vec<PollerState>> {
        pollers::poller_states(&self.pool).await
    }

    async fn add_deliveries(&self, deliveries: &[NewDelivery]) -> Result<u64> {
        pollers::add_deliveries(&self.pool, deliveries).await
    }

    async fn claim_due_windows(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedWindow>> {
        windows::claim_due_windows(&self.pool, now, lease_until, limit).await
    }

    async fn get_window(&self, id: Uuid) -> Result<Option<Window>> {
        windows::get_window(&self.pool, id).await
    }

    async fn window_events(&self, window_id: Uuid) -> Result<Vec<Event>> {
        reading!(self, windows::window_events(&self.pool, window_id))
    }

    async fn flush_window(
        &self,
        window_id: Uuid,
        lease_token: Uuid,
        deliveries: &[NewDelivery],
        now: Timestamp,
    ) -> Result<bool> {
        windows::flush_window(&self.pool, window_id, lease_token, deliveries, now).await
    }

    async fn defer_window(
        &self,
        window_id: Uuid,
        lease_token: Uuid,
        due_at: Timestamp,
    ) -> Result<bool> {
        windows::defer_window(&self.pool, window_id, lease_token, due_at).await
    }

    async fn list_windows(&self, query: &WindowQuery) -> Result<Vec<Window>> {
        windows::list_windows(&self.pool, query).await
    }

    async fn flush_now(
        &self,
        rule: Option<&str>,
        group_key: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<Uuid>> {
        windows::flush_now(&self.pool, rule, group_key, now).await
    }

    async fn next_window_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>> {
        windows::next_window_due_at(&self.pool, now).await
    }

    async fn open_window_counts(&self) -> Result<Vec<(String, i64)>> {
        windows::open_window_counts(&self.pool).await
    }
}
