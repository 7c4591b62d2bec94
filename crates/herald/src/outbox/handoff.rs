//! Deliveries ingest stores already leased to this process, handed straight to its worker:
//! a fresh delivery then costs no claim (an `UPDATE` of every row, a round through the
//! writer). Ingest may lease only what the worker has room for, so a handed delivery
//! starts about as soon as a claimed one would; the rest are claimed as before.

use super::worker::ahead_share;
use crate::clock;
use herald_store::model::{ClaimedDelivery, NewDelivery, NewLease, Timestamp};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

pub struct Handoff {
    state: Mutex<State>,
    /// Rung when deliveries are handed over.
    arrived: Notify,
    lease: Duration,
    owner: String,
    /// The most deliveries of one action leased here and not started yet.
    waiting_share: usize,
}

#[derive(Default)]
struct State {
    /// Leases ingest may still promise: room the worker has left to the handoff. None
    /// until a worker runs, and again once it stops.
    free: usize,
    /// Leases promised to appends not committed yet.
    reserved: usize,
    /// Handed over, not taken by the worker yet.
    queue: Vec<ClaimedDelivery>,
    /// Per action, deliveries leased here and not started yet (their commit included):
    /// an action whose destination is slow gets no more than a claim would give it, and
    /// its deliveries beyond that are claimed, as claims skip an action holding its share.
    waiting: HashMap<String, usize>,
}

impl Handoff {
    pub fn new(lease: Duration, owner: String, concurrency: usize) -> Self {
        Handoff {
            state: Mutex::default(),
            arrived: Notify::new(),
            lease,
            owner,
            waiting_share: ahead_share(concurrency),
        }
    }

    /// Lease the deliveries of a fresh event that can run at once (no ordering key, due
    /// now, their action below its share of what waits here) while there is room, one
    /// token for them all. The reservation holds that room until `hand_over`, or until
    /// dropped.
    pub fn lease(&self, deliveries: &mut [NewDelivery], now: Timestamp) -> Reservation<'_> {
        let mut reservation = Reservation {
            handoff: self,
            actions: Vec::new(),
        };
        let mut state = self.lock();
        let mut lease: Option<NewLease> = None;
        for delivery in deliveries.iter_mut() {
            if state.free == 0 {
                break;
            }
            let waiting = state.waiting.get(&delivery.action).copied().unwrap_or(0);
            if delivery.ordering_key.is_some()
                || delivery.next_attempt_at > now
                || waiting >= self.waiting_share
            {
                continue;
            }
            let lease = lease.get_or_insert_with(|| NewLease {
                token: Uuid::now_v7(),
                until: clock::add(now, self.lease),
                owner: self.owner.clone(),
            });
            delivery.lease = Some(lease.clone());
            state.free -= 1;
            state.reserved += 1;
            *state.waiting.entry(delivery.action.clone()).or_default() += 1;
            reservation.actions.push(delivery.action.clone());
        }
        reservation
    }

    /// The worker started (or gave up) a delivery it was handed.
    pub fn started(&self, action: &str) {
        State::done_waiting(&mut self.lock().waiting, action);
    }

    /// The worker's side: of `available` room (what it holds not counted), less what
    /// promised and handed deliveries hold, return the part the worker claims now and
    /// leave the rest to the handoff. A claim (given its `min_claim`) takes half the room,
    /// at least `min_claim`: taking it all, claims kept for deliveries that must wait their
    /// turn would leave fresh ones none while each is in flight.
    pub fn split(&self, available: usize, min_claim: Option<usize>) -> usize {
        let mut state = self.lock();
        let room = available.saturating_sub(state.reserved + state.queue.len());
        let claim = match min_claim {
            Some(min) if room >= min => (room / 2).max(min),
            _ => 0,
        };
        state.free = room - claim;
        claim
    }

    /// What was handed over since the last call, oldest first.
    pub fn take(&self) -> Vec<ClaimedDelivery> {
        std::mem::take(&mut self.lock().queue)
    }

    /// Resolves when deliveries are handed over.
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// The worker stopped: promise nothing more. Returns the tokens of what it never took.
    pub fn close(&self) -> Vec<Uuid> {
        let mut state = self.lock();
        state.free = 0;
        let never_taken = std::mem::take(&mut state.queue);
        for delivery in &never_taken {
            State::done_waiting(&mut state.waiting, &delivery.delivery.action);
        }
        never_taken.iter().map(|d| d.lease_token).collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn done_waiting(waiting: &mut HashMap<String, usize>, action: &str) {
        if let Some(count) = waiting.get_mut(action) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                waiting.remove(action);
            }
        }
    }
}

/// Room promised to one append's leased deliveries.
#[must_use = "dropping a reservation gives its room back"]
pub struct Reservation<'a> {
    handoff: &'a Handoff,
    /// The action of each delivery leased.
    actions: Vec<String>,
}

impl Reservation<'_> {
    /// How many deliveries it leased.
    pub fn count(&self) -> usize {
        self.actions.len()
    }

    /// The append committed: hand its leased deliveries to the worker.
    pub fn hand_over(mut self, deliveries: impl IntoIterator<Item = ClaimedDelivery>) {
        if self.actions.is_empty() {
            return;
        }
        let mut state = self.handoff.lock();
        state.reserved -= self.actions.len();
        state.queue.extend(deliveries);
        // Still waiting, now in the queue.
        self.actions.clear();
        drop(state);
        self.handoff.arrived.notify_one();
    }
}

impl Drop for Reservation<'_> {
    /// Nothing was stored (a duplicate, a failed write): the room is free again. Leases
    /// a failed write may still have committed expire and are claimed as usual.
    fn drop(&mut self) {
        if self.actions.is_empty() {
            return;
        }
        let mut state = self.handoff.lock();
        state.reserved -= self.actions.len();
        state.free += self.actions.len();
        for action in &self.actions {
            State::done_waiting(&mut state.waiting, action);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono::Utc;

    fn now() -> Timestamp {
        Utc.timestamp_millis_opt(1_700_000_000_000).unwrap()
    }

    fn delivery(action: &str, ordering_key: Option<&str>) -> NewDelivery {
        NewDelivery {
            id: Uuid::now_v7(),
            event_id: Some(Uuid::now_v7()),
            rule: "rule".into(),
            action: action.into(),
            idempotency_key: Uuid::now_v7().to_string(),
            created_at: now(),
            next_attempt_at: now(),
            ordering_key: ordering_key.map(str::to_string),
            window_id: None,
            lease: None,
        }
    }

    fn handoff(concurrency: usize) -> Handoff {
        Handoff::new(Duration::from_secs(120), "me".into(), concurrency)
    }

    #[test]
    fn nothing_is_leased_until_a_worker_leaves_room() {
        let handoff = handoff(4);
        let mut deliveries = vec![delivery("log", None)];
        assert_eq!(handoff.lease(&mut deliveries, now()).count(), 0);
        assert_eq!(deliveries[0].lease, None);
    }

    #[test]
    fn leases_what_can_run_now_within_the_room_with_one_token() {
        let handoff = handoff(4);
        assert_eq!(
            handoff.split(3, None),
            0,
            "no claim: all room to the handoff"
        );
        let mut later = delivery("log", None);
        later.next_attempt_at = now() + chrono::Duration::seconds(5);
        let mut deliveries = vec![
            delivery("a", None),
            delivery("keyed", Some("k")),
            later,
            delivery("b", None),
            delivery("c", None),
            delivery("d", None),
        ];
        let reservation = handoff.lease(&mut deliveries, now());
        assert_eq!(reservation.count(), 3);
        let leased: Vec<_> = deliveries.iter().filter_map(|d| d.lease.clone()).collect();
        assert_eq!(leased.len(), 3);
        assert!(leased.iter().all(|lease| lease.token == leased[0].token));
        assert_eq!(leased[0].until, now() + chrono::Duration::seconds(120));
        assert_eq!(leased[0].owner, "me");
        assert!(deliveries[1].lease.is_none() && deliveries[2].lease.is_none());
        assert!(deliveries[5].lease.is_none(), "no room left for d");
        // Promised room is not the worker's to claim.
        assert_eq!(handoff.split(3, Some(1)), 0);
        let claimed: Vec<_> = deliveries.iter().filter_map(|d| d.born_claimed()).collect();
        reservation.hand_over(claimed.clone());
        assert_eq!(handoff.take(), claimed);
        assert!(handoff.take().is_empty());
    }

    #[test]
    fn a_dropped_reservation_gives_its_room_back() {
        let handoff = handoff(4);
        handoff.split(2, None);
        let mut deliveries = vec![delivery("a", None), delivery("b", None)];
        drop(handoff.lease(&mut deliveries, now()));
        let mut again = vec![delivery("a", None), delivery("b", None)];
        assert_eq!(handoff.lease(&mut again, now()).count(), 2);
    }

    #[test]
    fn the_worker_claims_its_room_when_it_is_worth_a_claim() {
        let handoff = handoff(4);
        assert_eq!(handoff.split(8, Some(2)), 4, "half the room");
        let mut deliveries: Vec<_> = ["a", "b", "c", "d", "e"]
            .into_iter()
            .map(|action| delivery(action, None))
            .collect();
        assert_eq!(
            handoff.lease(&mut deliveries, now()).count(),
            4,
            "the other half"
        );
        assert_eq!(handoff.split(2, Some(2)), 2, "at least the smallest claim");
        assert_eq!(handoff.lease(&mut deliveries, now()).count(), 0);
        assert_eq!(handoff.split(1, Some(2)), 0, "too little to claim");
        assert_eq!(handoff.lease(&mut deliveries, now()).count(), 1);
    }

    #[test]
    fn an_action_waiting_its_share_is_left_to_claims_until_one_starts() {
        let handoff = handoff(4);
        let share = ahead_share(4);
        handoff.split(100, None);
        let mut first: Vec<_> = (0..share).map(|_| delivery("slow", None)).collect();
        handoff
            .lease(&mut first, now())
            .hand_over(first.iter().filter_map(|d| d.born_claimed()));
        let mut next = vec![delivery("slow", None), delivery("fast", None)];
        let reservation = handoff.lease(&mut next, now());
        assert_eq!(reservation.count(), 1);
        assert!(next[0].lease.is_none() && next[1].lease.is_some());
        drop(reservation);
        // One started: the action is below its share again.
        handoff.started("slow");
        let mut again = vec![delivery("slow", None), delivery("slow", None)];
        assert_eq!(handoff.lease(&mut again, now()).count(), 1);
    }

    #[test]
    fn a_closed_handoff_promises_nothing_and_returns_what_was_never_taken() {
        let handoff = handoff(4);
        handoff.split(2, None);
        let mut deliveries = vec![delivery("a", None)];
        let reservation = handoff.lease(&mut deliveries, now());
        let token = deliveries[0].lease.as_ref().unwrap().token;
        reservation.hand_over(deliveries[0].born_claimed());
        assert_eq!(handoff.close(), vec![token]);
        let mut more = vec![delivery("b", None)];
        assert_eq!(handoff.lease(&mut more, now()).count(), 0);
    }
}
