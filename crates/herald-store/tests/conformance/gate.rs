//! A store wrapper whose `write` waits for the test to open a gate, so tests can line up
//! writer batches deterministically.

use async_trait::async_trait;
use herald_store::model::*;
use herald_store::{Result, SharedStore, Store};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::Semaphore;
use uuid::Uuid;

pub struct GatedStore {
    inner: SharedStore,
    gate: Semaphore,
    entered: AtomicUsize,
    batch_sizes: Mutex<Vec<usize>>,
    unreachable: AtomicBool,
}

impl GatedStore {
    pub fn new(inner: SharedStore) -> GatedStore {
        GatedStore {
            inner,
            gate: Semaphore::new(0),
            entered: AtomicUsize::new(0),
            batch_sizes: Mutex::new(Vec::new()),
            unreachable: AtomicBool::new(false),
        }
    }

    /// Calls to `write` so far, waiting or not.
    pub fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }

    pub fn open(&self) {
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    /// From now on, writes fail as if no connection could be had.
    pub fn lose_connection(&self) {
        self.unreachable.store(true, Ordering::SeqCst);
    }

    /// The size of every `write` batch in jobs, in call order.
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.batch_sizes.lock().unwrap().clone()
    }
}

#[async_trait]
impl Store for GatedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn migrate(&self) -> Result<()> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn close(&self) {
        self.inner.close().await
    }
    fn prepare_append(&self, item: &EventWithDeliveries) {
        self.inner.prepare_append(item)
    }
    async fn write(&self, batch: &WriteBatch<'_>) -> Result<WriteResults> {
        self.batch_sizes.lock().unwrap().push(batch.len());
        self.entered.fetch_add(1, Ordering::SeqCst);
        self.gate.acquire().await.expect("gate").forget();
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(sqlx::Error::PoolTimedOut.into());
        }
        self.inner.write(batch).await
    }
    async fn get_event(&self, id: Uuid) -> Result<Option<Event>> {
        self.inner.get_event(id).await
    }
    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        self.inner.list_events(query).await
    }
    async fn event_payloads(&self, query: &EventQuery) -> Result<Vec<(Uuid, String)>> {
        self.inner.event_payloads(query).await
    }
    async fn activity_since(&self, since: Timestamp, limit: u32) -> Result<Activity> {
        self.inner.activity_since(since, limit).await
    }
    async fn events_by_dedup_key(&self, dedup_key: &str) -> Result<Vec<Event>> {
        self.inner.events_by_dedup_key(dedup_key).await
    }
    async fn claim_ids(
        &self,
        ids: &[Uuid],
        request: &ClaimRequest,
    ) -> Result<Vec<ClaimedDelivery>> {
        self.inner.claim_ids(ids, request).await
    }
    async fn release_leases(&self, lease_tokens: &[Uuid]) -> Result<u64> {
        self.inner.release_leases(lease_tokens).await
    }
    async fn heartbeat(&self, owner: &str, now: Timestamp, stale: Timestamp) -> Result<u64> {
        self.inner.heartbeat(owner, now, stale).await
    }
    async fn get_delivery(&self, id: Uuid) -> Result<Option<Delivery>> {
        self.inner.get_delivery(id).await
    }
    async fn list_deliveries(&self, query: &DeliveryQuery) -> Result<Vec<Delivery>> {
        self.inner.list_deliveries(query).await
    }
    async fn list_attempts(&self, delivery_id: Uuid) -> Result<Vec<Attempt>> {
        self.inner.list_attempts(delivery_id).await
    }
    async fn get_ref(&self, kind: &str, key: &str) -> Result<Option<Ref>> {
        self.inner.get_ref(kind, key).await
    }
    async fn list_refs(&self, kind: &str, group: &str) -> Result<Vec<Ref>> {
        self.inner.list_refs(kind, group).await
    }
    async fn list_refs_of_kind(&self, kind: &str) -> Result<Vec<Ref>> {
        self.inner.list_refs_of_kind(kind).await
    }
    async fn change_refs(&self, change: &RefChange) -> Result<bool> {
        self.inner.change_refs(change).await
    }
    async fn replay(&self, selector: &ReplaySelector, now: Timestamp) -> Result<Vec<Uuid>> {
        self.inner.replay(selector, now).await
    }
    async fn queue_depth(&self, now: Timestamp) -> Result<QueueDepth> {
        self.inner.queue_depth(now).await
    }
    async fn next_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>> {
        self.inner.next_due_at(now).await
    }
    async fn prune(&self, policy: &PrunePolicy) -> Result<PruneReport> {
        self.inner.prune(policy).await
    }
    async fn health(&self) -> Result<Health> {
        self.inner.health().await
    }
    async fn monitor_states(&self, monitor: &str) -> Result<Vec<MonitorState>> {
        self.inner.monitor_states(monitor).await
    }
    async fn put_monitor_states(&self, states: &[MonitorState]) -> Result<()> {
        self.inner.put_monitor_states(states).await
    }
    async fn delete_monitor_states(&self, monitor: &str, subjects: &[String]) -> Result<u64> {
        self.inner.delete_monitor_states(monitor, subjects).await
    }
    async fn create_hook(&self, hook: &Hook) -> Result<()> {
        self.inner.create_hook(hook).await
    }
    async fn get_hook(&self, source: &str, id: &str) -> Result<Option<Hook>> {
        self.inner.get_hook(source, id).await
    }
    async fn list_hooks(&self, source: Option<&str>) -> Result<Vec<Hook>> {
        self.inner.list_hooks(source).await
    }
    async fn rotate_hook_secret(
        &self,
        source: &str,
        id: &str,
        secret: &SealedSecret,
        previous_valid_until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Hook>> {
        self.inner
            .rotate_hook_secret(source, id, secret, previous_valid_until, now)
            .await
    }
    async fn import_hook(&self, hook: &Hook) -> Result<bool> {
        self.inner.import_hook(hook).await
    }
    async fn delete_hook(&self, source: &str, id: &str) -> Result<bool> {
        self.inner.delete_hook(source, id).await
    }
    async fn claim_due_windows(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedWindow>> {
        self.inner.claim_due_windows(now, lease_until, limit).await
    }
    async fn get_window(&self, id: Uuid) -> Result<Option<Window>> {
        self.inner.get_window(id).await
    }
    async fn window_events(&self, window_id: Uuid) -> Result<Vec<Event>> {
        self.inner.window_events(window_id).await
    }
    async fn flush_window(
        &self,
        window_id: Uuid,
        lease_token: Uuid,
        deliveries: &[NewDelivery],
        now: Timestamp,
    ) -> Result<bool> {
        let inner = &self.inner;
        inner
            .flush_window(window_id, lease_token, deliveries, now)
            .await
    }
    async fn defer_window(
        &self,
        window_id: Uuid,
        lease_token: Uuid,
        due_at: Timestamp,
    ) -> Result<bool> {
        self.inner
            .defer_window(window_id, lease_token, due_at)
            .await
    }
    async fn list_windows(&self, query: &WindowQuery) -> Result<Vec<Window>> {
        self.inner.list_windows(query).await
    }
    async fn flush_now(
        &self,
        rule: Option<&str>,
        group_key: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<Uuid>> {
        self.inner.flush_now(rule, group_key, now).await
    }
    async fn next_window_due_at(&self, now: Timestamp) -> Result<Option<Timestamp>> {
        self.inner.next_window_due_at(now).await
    }
    async fn open_window_counts(&self) -> Result<Vec<(String, i64)>> {
        self.inner.open_window_counts().await
    }
    async fn claim_poller(&self, claim: &PollerClaim<'_>) -> Result<Option<PollerState>> {
        self.inner.claim_poller(claim).await
    }
    async fn store_poll_page(&self, page: &PollPage<'_>) -> Result<PageOutcome> {
        self.inner.store_poll_page(page).await
    }
    async fn finish_poll(&self, end: &PollEnd<'_>) -> Result<bool> {
        self.inner.finish_poll(end).await
    }
    async fn poller_states(&self) -> Result<Vec<PollerState>> {
        self.inner.poller_states().await
    }
    async fn add_deliveries(&self, deliveries: &[NewDelivery]) -> Result<u64> {
        self.inner.add_deliveries(deliveries).await
    }
}

/// Yields until `ready` holds: the tests wait for queued work this way, not for a timer.
/// The timeout only turns a bug into a failure instead of a hang.
pub async fn until(mut ready: impl FnMut() -> bool) {
    let wait = async {
        while !ready() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .expect("condition never held");
}
