//! The embedded backend: one SQLite file in WAL mode, a single-connection write pool (SQLite
//! has one writer anyway) and a small read pool.

mod append;
mod complete;
mod connection;
mod dictionaries;
mod health;
mod hooks;
mod maintain;
mod monitors;
mod pollers;
mod read;
mod rows;
mod windows;
mod write;

use crate::dictionaries::Dictionaries;
use crate::model::*;
use crate::{Result, Store};
use async_trait::async_trait;
use sqlx::ConnectOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Migration attempts. Another process migrating the same file at once makes ours fail
/// where it applied a migration first; the retry then sees that one as applied. Each
/// failure so means one more migration applied, and one attempt per migration, plus one,
/// always suffices.
fn migrate_attempts() -> usize {
    MIGRATOR.iter().count() + 1
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How hard SQLite works to make a commit durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit survives power loss.
    #[default]
    Full,
    /// Commits survive a crash of herald; power loss may drop the last ones (WAL keeps the
    /// file consistent).
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// Size of the read pool (the write pool always has one connection).
    pub read_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            read_connections: 4,
        }
    }
}

/// Commands the write connection keeps compiled; sqlx's default is 100. A cached statement
/// keeps the values last bound to it (up to 32 rows of payloads and attempt bodies, copied
/// into SQLite's memory) until it runs again, and a writer's batches make many commands
/// (see `write::Command`): a hundred of them held about 20 MB that the C allocator kept
/// after a burst. 16 hold the commands a steady load repeats; 8 measured the same
/// (docs/benchmarks.md).
const WRITE_STATEMENTS: usize = 16;

/// A read connection unused this long is closed, and with it its page cache (up to 2 MB
/// each): at rest herald keeps the write connection only. The pool opens a new one on
/// demand (about a millisecond); under load none is idle this long.
const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// `$read`, and once more after registering the store's zstd dictionaries if it met a
/// payload compressed against one this process has not loaded (`dictionaries::reading!`).
macro_rules! reading {
    ($store:expr, $read:expr) => {
        crate::dictionaries::reading!(dictionaries::register_kept(&$store.read), $read)
    };
}

pub struct SqliteStore {
    write: Arc<connection::WriteConnection>,
    read: SqlitePool,
    dictionaries: Arc<Dictionaries>,
}

impl SqliteStore {
    /// Open (creating the file and its directory if missing) the database at `path`.
    /// Does not migrate.
    pub async fn open(path: &Path, options: SqliteOptions) -> Result<Self> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(sqlx::Error::Io)?;
        }
        let synchronous = match options.synchronous {
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Normal => SqliteSynchronous::Normal,
        };
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(synchronous)
            // A multi-row statement keeps a journal to undo itself alone: in memory, not in
            // a temporary file opened and written for each batch.
            .pragma("temp_store", "memory");
        // The writer connects first so the file exists and is in WAL mode before readers open.
        // No ping before each use: it is one more round trip to the connection's thread, and
        // a dead thread fails the next statement anyway.
        let write = connect
            .clone()
            .journal_mode(SqliteJournalMode::Wal)
            .statement_cache_capacity(WRITE_STATEMENTS)
            .connect()
            .await?;
        let write = Arc::new(connection::WriteConnection::new(write));
        let read = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .test_before_acquire(false)
            .idle_timeout(READ_IDLE_TIMEOUT)
            .connect_with(connect.pragma("query_only", "ON"))
            .await?;
        let dictionaries = Dictionaries::of(dictionaries::register_kept(&read).await?);
        Ok(SqliteStore {
            write,
            read,
            dictionaries: Arc::new(dictionaries),
        })
    }

    /// Open `sqlite://PATH`, `sqlite:PATH` or a bare path with default options.
    pub async fn open_url(url: &str) -> Result<Self> {
        Self::open(&Self::path_from_url(url), SqliteOptions::default()).await
    }

    /// Train `source` a dictionary in the background; appends go on meanwhile.
    fn train_dictionary(&self, source: &str) {
        let (read, write) = (self.read.clone(), self.write.clone());
        let owned = source.to_string();
        let training = async move { dictionaries::train(&read, &write, &owned).await };
        self.dictionaries.train_in_background(source, training);
    }

    /// The file a `sqlite://PATH`, `sqlite:PATH` or bare-path URL names.
    pub fn path_from_url(url: &str) -> PathBuf {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        PathBuf::from(path)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// Compress the payload now, so the writer only copies it: against its source's
    /// dictionary once it has one, which is trained after the source's first
    /// `trained::TRAIN_AFTER` events.
    fn prepare_append(&self, item: &EventWithDeliveries) {
        if self.dictionaries.compress_payload(item) {
            self.train_dictionary(&item.event.source);
        }
    }

    /// Compress a large request now, so the writer only copies it.
    fn prepare_complete(&self, record: &AttemptRecord) {
        crate::common::request_frame(record);
    }

    /// Close the read pool, then the write connection once the write in progress is done.
    async fn close(&self) {
        self.read.close().await;
        if let Err(err) = self.write.close().await {
            tracing::warn!(%err, "closing the SQLite write connection failed");
        }
    }

    async fn migrate(&self) -> Result<()> {
        let mut attempt = 1;
        loop {
            let outcome = MIGRATOR
                .run_direct(None, &mut *self.write.lock().await?, false)
                .await;
            match outcome {
                Ok(()) => return Ok(()),
                Err(err) if attempt < migrate_attempts() => {
                    tracing::warn!(%err, attempt, "sqlite migration failed; retrying");
                    attempt += 1;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn write(&self, batch: &WriteBatch<'_>) -> Result<WriteResults> {
        write::write(&self.write, batch).await
    }

    async fn get_event(&self, id: Uuid) -> Result<Option<Event>> {
        reading!(self, read::get_event(&self.read, id))
    }

    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        reading!(self, read::list_events(&self.read, query))
    }

    async fn events_by_dedup_key(&self, dedup_key: &str) -> Result<Vec<Event>> {
        reading!(self, read::events_by_dedup_key(&self.read, dedup_key))
    }

    async fn claim_ids(
        &self,
        ids: &[Uuid],
        request: &ClaimRequest,
    ) -> Result<Vec<ClaimedDelivery>> {
        write::claim_ids(&self.write, ids, request).await
    }

    async fn release_leases(&self, lease_tokens: &[Uuid]) -> Result<u64> {
        write::release_leases(&self.write, lease_tokens).await
    }

    async fn heartbeat(&self, owner: &str, now: Timestamp, stale_before: Timestamp) -> Result<u64> {
        write::heartbeat(&self.write, owner, now, stale_before).await
    }

    async fn get_delivery(&self, id: Uuid) -> Result<Option<Delivery>> {
        read::get_delivery(&self.read, id).await
    }

    async fn event_payloads(&self, query: &EventQuery) -> Result<Vec<(Uuid, String)>> {
        reading!(self, read::event_payloads(&self.read, query))
    }

    async fn activity_since(&self, since: Timestamp, limit: u32) -> Result<Activity> {
        read::activity_since(&self.read, since, limit).await
    }

    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>> {
        read::list_deliveries(&self.read, query).await
    }

    async fn list_attempts(&self, delivery_id: Uuid) -> Result<Vec<Attempt>> {
        reading!(self, read::list_attempts(&self.read, delivery_id))
    }

    async fn get_ref(&self, kind: &str, key: &str) -> Result<Option<Ref>> {
        read::get_ref(&self.read, kind, key).await
    }

    async fn list_refs(&self, kind: &str, group: &str) -> Result<Vec<Ref>> {
        read::list_refs(&self.read, kind, group).await
    }

    async fn list_refs_of_kind(&self, kind: &str) -> Result<Vec<Ref>> {
        read::list_refs_of_kind(&self.read, kind).await
    }

    async fn change_refs(&self, change: &RefChange) -> Result<bool> {
        complete::change_refs(&self.write, change).await
    }

    async fn replay(&self, selector: &ReplaySelector, now: Timestamp) -> Result<Vec<Uuid>> {
        maintain::replay(&self.write, selector, now).await
    }

    async fn queue_depth(&self, now: Timestamp) -> Result<QueueDepth> {
        read::queue_depth(&self.read, now).await
    }

    async fn next_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>> {
        read::next_due_at(&self.read, now).await
    }

    async fn prune(&self, policy: &PrunePolicy) -> Result<PruneReport> {
        maintain::prune(&self.write, policy).await
    }

    async fn health(&self) -> Result<Health> {
        health::health(&self.read).await
    }

    async fn monitor_states(&self, monitor: &str) -> Result<Vec<MonitorState>> {
        monitors::monitor_states(&self.read, monitor).await
    }

    async fn put_monitor_states(&self, states: &[MonitorState]) -> Result<()> {
        monitors::put_monitor_states(&self.write, states).await
    }

    async fn delete_monitor_states(&self, monitor: &str, subjects: &[String]) -> Result<u64> {
        monitors::delete_monitor_states(&self.write, monitor, subjects).await
    }

    async fn create_hook(&self, hook: &Hook) -> Result<()> {
        hooks::create_hook(&self.write, hook).await
    }

    async fn get_hook(&self, source: &str, id: &str) -> Result<Option<Hook>> {
        hooks::get_hook(&self.read, source, id).await
    }

    async fn list_hooks(&self, source: Option<&str>) -> Result<Vec<Hook>> {
        hooks::list_hooks(&self.read, source).await
    }

    async fn rotate_hook_secret(
        &self,
        source: &str,
        id: &str,
        secret: &SealedSecret,
        previous_valid_until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hook>> {
        hooks::rotate_hook_secret(&self.write, (source, id), secret, previous_valid_until, now)
            .await
    }

    async fn import_hook(&self, hook: &Hook) -> Result<bool> {
        hooks::import_hook(&self.write, hook).await
    }

    async fn delete_hook(&self, source: &str, id: &str) -> Result<bool> {
        hooks::delete_hook(&self.write, source, id).await
    }

    async fn claim_poller(&self, claim: &PollerClaim<'_>) -> Result<Option<PollerState>> {
        pollers::claim_poller(&self.write, claim).await
    }

    async fn store_poll_page(&self, page: &PollPage<'_>) -> Result<PageOutcome> {
        pollers::store_poll_page(&self.write, page).await
    }

    async fn finish_poll(&self, end: &PollEnd<'_>) -> Result<bool> {
        pollers::finish_poll(&self.write, end).await
    }

    async fn poller_states(&self) -> Result<Vec<PollerState>> {
        pollers::poller_states(&self.read).await
    }

    async fn add_deliveries(&self, deliveries: &[NewDelivery]) -> Result<u64> {
        pollers::add_deliveries(&self.write, deliveries).await
    }

    async fn claim_due_windows(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedWindow>> {
        windows::claim_due_windows(&self.write, now, lease_until, limit).await
    }

    async fn get_window(&self, id: Uuid) -> Result<Option<Window>> {
        windows::get_window(&self.read, id).await
    }

    async fn window_events(&self, window_id: Uuid) -> Result<Vec<Event>> {
        reading!(self, windows::window_events(&self.read, window_id))
    }

    async fn flush_window(
        &self,
        window_id: Uuid,
        lease_token: Uuid,
        deliveries: &[NewDelivery],
        now: Timestamp,
    ) -> Result<bool> {
        windows::flush_window(&self.write, window_id, lease_token, deliveries, now).await
    }

    async fn defer_window(
        &self,
        window_id: Uuid,
        lease_token: Uuid,
        due_at: Timestamp,
    ) -> Result<bool> {
        windows::defer_window(&self.write, window_id, lease_token, due_at).await
    }

    async fn list_windows(&self, query: &WindowQuery) -> Result<Vec<Window>> {
        windows::list_windows(&self.read, query).await
    }

    async fn flush_now(
        &self,
        rule: Option<&str>,
        group_key: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<Uuid>> {
        windows::flush_now(&self.write, rule, group_key, now).await
    }

    async fn next_window_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>> {
        windows::next_window_due_at(&self.read, now).await
    }

    async fn open_window_counts(&self) -> Result<Vec<(String, i64)>> {
        windows::open_window_counts(&self.read).await
    }
}
