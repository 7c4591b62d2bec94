//! Small helpers both backends share.

use crate::compress::{self, Effort};
use crate::model::*;
use crate::{Result, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// Page size when a query asks for 0 rows.
const DEFAULT_PAGE: u32 = 50;
/// The most rows one list call returns.
const MAX_PAGE: u32 = 1000;

/// Rows deleted per prune transaction, so a big prune never holds the writer for long.
pub(crate) const PRUNE_CHUNK: i64 = 5000;

/// The effective LIMIT of a list query.
pub(crate) fn page_limit(limit: u32) -> i64 {
    let limit = if limit == 0 { DEFAULT_PAGE } else { limit };
    i64::from(limit.min(MAX_PAGE))
}

/// An event's hook, from its two columns (both set, or neither).
pub(crate) fn event_hook(
    id: Option<String>,
    repository: Option<String>,
) -> Result<Option<EventHook>> {
    match (id, repository) {
        (Some(id), Some(repository)) => Ok(Some(EventHook { id, repository })),
        (None, None) => Ok(None),
        _ => Err(StoreError::Corrupt(
            "an event has a hook id or repository without the other".to_string(),
        )),
    }
}

/// What `create_hook` fails with when the hook's (source, id) is taken.
pub(crate) fn hook_taken(hook: &Hook) -> StoreError {
    StoreError::Conflict(format!("hook `{}` of source `{}`", hook.id, hook.source))
}

/// A hook's previous secret, from its three columns (all set, or none).
pub(crate) fn previous_secret(
    ciphertext: Option<Vec<u8>>,
    nonce: Option<Vec<u8>>,
    valid_until: Option<Timestamp>,
) -> Result<Option<PreviousSecret>> {
    match (ciphertext, nonce, valid_until) {
        (Some(ciphertext), Some(nonce), Some(valid_until)) => Ok(Some(PreviousSecret {
            secret: SealedSecret { ciphertext, nonce },
            valid_until,
        })),
        (None, None, None) => Ok(None),
        _ => Err(StoreError::Corrupt(
            "a hook's previous secret is incomplete".to_string(),
        )),
    }
}

pub(crate) fn parse_status(value: &str) -> Result<DeliveryStatus> {
    value.parse().map_err(StoreError::Corrupt)
}

pub(crate) fn parse_window_status(value: &str) -> Result<WindowStatus> {
    value.parse().map_err(StoreError::Corrupt)
}

pub(crate) fn parse_outcome(value: &str) -> Result<AttemptOutcome> {
    AttemptOutcome::parse(value)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown attempt outcome {value:?}")))
}

pub(crate) fn parse_failure_kind(value: &str) -> Result<FailureKind> {
    FailureKind::parse(value)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown failure kind {value:?}")))
}

pub(crate) fn to_i32(value: i64, column: &str) -> Result<i32> {
    i32::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("{column} {value} does not fit in 32 bits")))
}

/// Deliveries leased under one token, oldest due first (RETURNING has no order).
pub(crate) fn leased(deliveries: Vec<Delivery>, lease_token: Uuid) -> Vec<ClaimedDelivery> {
    let mut claimed: Vec<_> = deliveries
        .into_iter()
        .map(|delivery| ClaimedDelivery {
            delivery,
            lease_token,
        })
        .collect();
    claimed.sort_by_key(|claim| (claim.delivery.next_attempt_at, claim.delivery.id));
    claimed
}

/// What a completion writes to its delivery: status, retry time, and whether the attempt
/// counts against the retry schedule.
pub(crate) fn next_state(next: NextStep) -> (DeliveryStatus, Option<Timestamp>, bool) {
    match next {
        NextStep::Succeeded => (DeliveryStatus::Succeeded, None, false),
        NextStep::Dead => (DeliveryStatus::Dead, None, false),
        NextStep::Retry {
            at,
            counts_against_schedule,
        } => (DeliveryStatus::Pending, Some(at), counts_against_schedule),
    }
}

/// Indices of `records` in rounds where no delivery appears twice: round k holds each
/// delivery's k-th completion. One statement per round keeps the batch's answers those of
/// running the completions one after another.
pub(crate) fn completion_rounds(records: &[AttemptRecord]) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashMap<Uuid, usize> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        let round = seen.entry(record.delivery_id).or_insert(0);
        if *round == rounds.len() {
            rounds.push(Vec::new());
        }
        rounds[*round].push(index);
        *round += 1;
    }
    rounds
}

/// One row of the refs a batch (or a `RefChange`) writes: the last write of a (kind, key)
/// in the batch, as if the records had run one after another. An upsert is created at the time of the first
/// write since the key was last deleted in the batch, or since the batch began.
pub(crate) struct RefRow<'a> {
    pub write: &'a RefWrite,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// An upsert after a delete of its key in this batch: the stored row, if any, is gone,
    /// so its creation time is `created_at` rather than the stored one.
    pub recreated: bool,
}

/// The refs a batch of completions writes, one row per (kind, key) since an upsert may not
/// touch a row twice; in key order, so concurrent batches lock the same rows in the same
/// order.
pub(crate) fn ref_rows(records: &[AttemptRecord]) -> Vec<RefRow<'_>> {
    let writes = records
        .iter()
        .flat_map(|record| record.refs.iter().map(|write| (write, record.now)));
    rows_of_writes(writes)
}

/// The refs a [`RefChange`] writes, as one attempt record at `change.now` would.
pub(crate) fn change_rows(change: &RefChange) -> Vec<RefRow<'_>> {
    rows_of_writes(change.writes.iter().map(|write| (write, change.now)))
}

/// The rows of writes made one after another, each at its time (see `ref_rows`).
fn rows_of_writes<'a>(writes: impl Iterator<Item = (&'a RefWrite, Timestamp)>) -> Vec<RefRow<'a>> {
    let mut rows: BTreeMap<(&str, &str), RefRow<'_>> = BTreeMap::new();
    for (write, now) in writes {
        let key = (write.kind.as_str(), write.key.as_str());
        let row = rows.entry(key).or_insert(RefRow {
            write,
            created_at: now,
            updated_at: now,
            recreated: false,
        });
        if row.write.delete && !write.delete {
            (row.created_at, row.recreated) = (now, true);
        }
        (row.write, row.updated_at) = (write, now);
    }
    rows.into_values().collect()
}

/// The conditions of a change, each (kind, key) once, in key order: whether it must be
/// absent (else present). A key both absent and present comes twice, and cannot hold.
pub(crate) fn change_conditions(change: &RefChange) -> Vec<(&str, &str, bool)> {
    let absent = distinct(&change.absent)
        .into_iter()
        .map(|(k, v)| (k, v, true));
    let present = distinct(&change.present)
        .into_iter()
        .map(|(k, v)| (k, v, false));
    absent.chain(present).collect()
}

fn distinct(pairs: &[(String, String)]) -> BTreeSet<(&str, &str)> {
    pairs
        .iter()
        .map(|(kind, key)| (kind.as_str(), key.as_str()))
        .collect()
}

/// Whether the stored refs meet a change's conditions, from the number of refs found of
/// those that must be absent and of those that must be present.
pub(crate) fn conditions_hold(conditions: &[(&str, &str, bool)], found: (i64, i64)) -> bool {
    let present = conditions.iter().filter(|(_, _, absent)| !absent).count();
    found.0 == 0 && usize::try_from(found.1) == Ok(present)
}

/// Every (kind, key) a change reads or writes, each once, in key order.
pub(crate) fn change_keys(change: &RefChange) -> BTreeSet<(&str, &str)> {
    let conditions = change.absent.iter().chain(&change.present);
    let conditions = conditions.map(|(kind, key)| (kind.as_str(), key.as_str()));
    let writes = change.writes.iter();
    conditions
        .chain(writes.map(|write| (write.kind.as_str(), write.key.as_str())))
        .collect()
}

/// The states a put writes, one per (monitor, subject) since an upsert may not touch a row
/// twice: the last of each in the input. In key order, so concurrent puts lock the same rows
/// in the same order.
pub(crate) fn monitor_rows(states: &[MonitorState]) -> Vec<&MonitorState> {
    let mut rows: BTreeMap<(&str, &str), &MonitorState> = BTreeMap::new();
    for state in states {
        rows.insert((state.monitor.as_str(), state.subject.as_str()), state);
    }
    rows.into_values().collect()
}

/// Health per action: pending and dead deliveries, and what the action's attempts say.
/// Each step seeks in `attempts_action_latest_idx`, so the cost follows the number of
/// actions and of recent failures, not of attempts: the actions are found by skipping from
/// one to the next, and each action's newest attempt of each outcome by reading the index
/// backwards. The failure streak counts the failures newer than the newest success, in
/// (started_at, delivery_id, number) order. Both backends run this text as is; the order
/// by name is left to `sorted`.
pub(crate) const ACTION_HEALTH: &str = "
    WITH RECURSIVE attempted (action) AS (
        SELECT MIN(action) FROM attempts
        UNION ALL
        SELECT (SELECT MIN(a.action) FROM attempts a WHERE a.action > t.action)
        FROM attempted t WHERE t.action IS NOT NULL
    ), counts AS (
        SELECT action,
            SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending,
            SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead
        FROM deliveries WHERE status IN ('pending', 'dead') GROUP BY action
    ), actions (action) AS (
        SELECT action FROM attempted WHERE action IS NOT NULL
        UNION
        SELECT action FROM counts
    ), outcomes (outcome) AS (
        VALUES ('success'), ('retry'), ('failed')
    ), newest AS (
        SELECT n.action, o.outcome,
            (SELECT a.delivery_id FROM attempts a
             WHERE a.action = n.action AND a.outcome = o.outcome
             ORDER BY a.started_at DESC, a.delivery_id DESC, a.number DESC LIMIT 1) AS delivery_id,
            (SELECT a.number FROM attempts a
             WHERE a.action = n.action AND a.outcome = o.outcome
             ORDER BY a.started_at DESC, a.delivery_id DESC, a.number DESC LIMIT 1) AS number
        FROM actions n CROSS JOIN outcomes o
    ), latest AS (
        SELECT n.action, n.outcome, a.started_at, a.delivery_id, a.number, a.status_code,
            a.error,
            ROW_NUMBER() OVER (PARTITION BY n.action, n.outcome = 'success'
                ORDER BY a.started_at DESC, a.delivery_id DESC, a.number DESC) AS rank
        FROM newest n JOIN attempts a ON a.delivery_id = n.delivery_id AND a.number = n.number
    )
    SELECT n.action, s.started_at AS last_success_at, f.started_at AS last_failure_at,
        f.status_code AS last_failure_status, f.error AS last_failure_error,
        d.failure_kind AS last_failure_kind,
        -- Two counts rather than one with an OR, so each reads one range of the index.
        CASE WHEN s.action IS NULL THEN
            (SELECT COUNT(*) FROM attempts a
             WHERE a.action = n.action AND a.outcome IN ('retry', 'failed'))
        ELSE
            (SELECT COUNT(*) FROM attempts a
             WHERE a.action = n.action AND a.outcome IN ('retry', 'failed')
               AND (a.started_at, a.delivery_id, a.number)
                   > (s.started_at, s.delivery_id, s.number))
        END AS failure_streak,
        COALESCE(c.pending, 0) AS pending, COALESCE(c.dead, 0) AS dead
    FROM actions n
    LEFT JOIN counts c ON c.action = n.action
    LEFT JOIN latest s ON s.action = n.action AND s.outcome = 'success'
    LEFT JOIN latest f ON f.action = n.action AND f.outcome <> 'success' AND f.rank = 1
    LEFT JOIN deliveries d ON d.id = f.delivery_id";

/// Health per source: the counts the triggers of migration 0012 keep in `event_counts`
/// (a source's rows summed), and its newest event, one seek in `events_source_received_idx`.
/// A source whose events were all pruned is left out, as it has none.
pub(crate) const SOURCE_HEALTH: &str = "
    SELECT c.source, CAST(SUM(c.events) AS BIGINT) AS events,
        (SELECT MAX(e.received_at) FROM events e WHERE e.source = c.source) AS last_event_at
    FROM event_counts c GROUP BY c.source HAVING SUM(c.events) > 0";

/// Health per rule. Like `ACTION_HEALTH`, it seeks rather than reads every delivery: the
/// rules by skipping along `deliveries_rule_created_idx`, each one's newest delivery at the
/// end of its range there, and the dead ones by status.
pub(crate) const RULE_HEALTH: &str = "
    WITH RECURSIVE rules (rule) AS (
        SELECT MIN(rule) FROM deliveries
        UNION ALL
        SELECT (SELECT MIN(d.rule) FROM deliveries d WHERE d.rule > r.rule)
        FROM rules r WHERE r.rule IS NOT NULL
    ), dead AS (
        SELECT rule, COUNT(*) AS dead FROM deliveries WHERE status = 'dead' GROUP BY rule
    )
    SELECT r.rule,
        (SELECT MAX(d.created_at) FROM deliveries d WHERE d.rule = r.rule) AS last_delivery_at,
        COALESCE(x.dead, 0) AS dead
    FROM rules r LEFT JOIN dead x ON x.rule = r.rule
    WHERE r.rule IS NOT NULL";

/// `rows` ordered by `name`, in byte order: SQL would sort by the database's collation,
/// which on PostgreSQL need not be bytewise.
pub(crate) fn sorted<T>(mut rows: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
    rows.sort_by(|a, b| name(a).cmp(name(b)));
    rows
}

/// The id of the event holding each (source, dedup key) after an append.
pub(crate) type Holders = HashMap<(String, String), Uuid>;

/// The (source, dedup key) pairs of the events not in `inserted`, each once.
pub(crate) fn keys_not_in<'a>(
    items: &'a [EventWithDeliveries],
    inserted: &HashSet<Uuid>,
) -> Vec<(&'a str, &'a str)> {
    let mut keys: Vec<_> = items
        .iter()
        .filter(|item| !inserted.contains(&item.event.id))
        .filter_map(|item| Some((item.event.source.as_str(), item.event.dedup_key.as_deref()?)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Each event's outcome: stored, or a duplicate of the event holding its key.
pub(crate) fn append_outcomes(
    items: &[EventWithDeliveries],
    holders: &Holders,
) -> Result<Vec<AppendOutcome>> {
    items
        .iter()
        .map(|item| {
            let event = &item.event;
            let Some(key) = &event.dedup_key else {
                return Ok(AppendOutcome::Stored { event_id: event.id });
            };
            match holders.get(&(event.source.clone(), key.clone())) {
                Some(&event_id) if event_id == event.id => Ok(AppendOutcome::Stored { event_id }),
                Some(&event_id) => Ok(AppendOutcome::Duplicate { event_id }),
                None => Err(StoreError::Corrupt(format!(
                    "event {} conflicted with no stored event",
                    event.id
                ))),
            }
        })
        .collect()
}

/// Column lists shared by both backends' SELECTs, as literals so `concat!` keeps the SQL
/// static.
macro_rules! event_columns {
    () => {
        "id, source, event_type, dedup_key, received_at, headers, payload, hook_id, \
         hook_repository"
    };
}

/// PostgreSQL's events keep a payload `jsonb` cannot hold as text (migration 0007), and a
/// large one compressed (migration 0018).
macro_rules! postgres_event_columns {
    () => {
        concat!(
            $crate::common::event_columns!(),
            ", payload_text, payload_zstd"
        )
    };
}

/// SQLite's events also keep a large payload compressed (migration 0007).
macro_rules! sqlite_event_columns {
    () => {
        concat!($crate::common::event_columns!(), ", payload_zstd")
    };
}

macro_rules! delivery_columns {
    () => {
        "id, event_id, rule, action, idempotency_key, status, attempts, retries_used, \
         next_attempt_at, lease_until, created_at, updated_at, last_status_code, last_error, \
         ordering_key, progress, failure_kind, window_id, claims"
    };
}

macro_rules! ref_columns {
    () => {
        "kind, key, data, ref_group, created_at, updated_at"
    };
}

macro_rules! attempt_columns {
    () => {
        "delivery_id, number, started_at, duration_ms, outcome, status_code, error, request, \
         response_body"
    };
}

/// PostgreSQL's attempts also keep a large request compressed (migration 0018), alone or
/// against its event's payload (0019).
macro_rules! postgres_attempt_columns {
    () => {
        concat!(
            $crate::common::attempt_columns!(),
            ", request_zstd, request_against"
        )
    };
}

/// SQLite's attempts also keep a large request or response compressed (migration 0013),
/// or a large request compressed against its event's payload (migration 0015).
macro_rules! sqlite_attempt_columns {
    () => {
        concat!(
            $crate::common::attempt_columns!(),
            ", request_zstd, response_zstd, request_against"
        )
    };
}

macro_rules! hook_columns {
    () => {
        "source, id, repository, secret, secret_nonce, previous_secret, previous_nonce, \
         previous_valid_until, created_at, updated_at"
    };
}

macro_rules! monitor_columns {
    () => {
        "monitor, subject, data, updated_at"
    };
}

macro_rules! window_columns {
    () => {
        "id, rule, group_key, status, opened_at, last_event_at, due_at, count, flushed_at, forced"
    };
}

/// What an append reads of each open window it adds to (see `windows::OpenWindow`).
macro_rules! open_window_columns {
    () => {
        "w.id, w.rule, w.group_key, w.opened_at, w.last_event_at, w.due_at, w.count, w.forced, \
         w.not_before"
    };
}

/// What a flush's UPDATE returns (see `windows::Flushed`).
macro_rules! flushed_columns {
    () => {
        "rule, group_key, count, claimed_count, quiet_ms, bucket_ms, max_wait_ms, max_count"
    };
}

/// Two common table expressions (under `WITH RECURSIVE`), the same text on both backends:
/// `keys(k)`, each ordering key with a pending delivery, and `heads(id)`, the oldest
/// pending delivery of each ((created_at, id) order). Both walk `deliveries_ordering_idx`
/// key by key (a skip scan): as many lookups as there are keys, however long each key's
/// backlog, where testing every pending row for "is it its key's head?" cost a claim time
/// in proportion to the backlog. `$index` is SQLite's `INDEXED BY deliveries_ordering_idx`
/// (without statistics its planner walked the pending rows by `next_attempt_at` instead),
/// empty on PostgreSQL, whose planner finds the index.
macro_rules! ordering_heads {
    ($index:literal) => {
        concat!(
            "keys(k) AS (
                 SELECT (SELECT MIN(ordering_key) FROM deliveries ",
            $index,
            " WHERE status = 'pending' AND ordering_key IS NOT NULL)
                 UNION ALL
                 SELECT (SELECT MIN(ordering_key) FROM deliveries ",
            $index,
            " WHERE status = 'pending' AND ordering_key IS NOT NULL
                           AND ordering_key > keys.k)
                 FROM keys WHERE keys.k IS NOT NULL
             ), heads(id) AS (
                 SELECT (SELECT h.id FROM deliveries h ",
            $index,
            " WHERE h.status = 'pending' AND h.ordering_key = keys.k
                         ORDER BY h.created_at, h.id LIMIT 1)
                 FROM keys WHERE keys.k IS NOT NULL
             )"
        )
    };
}

pub(crate) use {
    attempt_columns, delivery_columns, event_columns, flushed_columns, hook_columns,
    monitor_columns, open_window_columns, ordering_heads, postgres_attempt_columns,
    postgres_event_columns, ref_columns, sqlite_attempt_columns, sqlite_event_columns,
    window_columns,
};

/// A large request as a zstd frame: against its event's payload when the record has it
/// (the `request_against` column), else alone (`request_zstd`). Made once, by whichever of
/// `prepare_complete` and the write asks first.
pub(crate) fn request_frame(record: &AttemptRecord) -> Option<&[u8]> {
    let request = record.request.as_ref()?;
    match &record.payload {
        Some(payload) => request.compressed_against(Effort::Small, || {
            compress::payload_dictionary(&payload.canonical())
        }),
        None => request.compressed_with(Effort::Small),
    }
}

/// Where an attempt's request is kept: one column, or none without a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StoredRequest<'a> {
    None,
    /// As JSON text.
    Text(&'a JsonText),
    /// As a frame of its own.
    Frame(&'a [u8]),
    /// As a frame against its event's payload.
    Against(&'a [u8]),
}

impl<'a> StoredRequest<'a> {
    pub(crate) fn of(record: &'a AttemptRecord) -> Self {
        let Some(request) = &record.request else {
            return StoredRequest::None;
        };
        match request_frame(record) {
            None => StoredRequest::Text(request),
            Some(frame) if record.payload.is_some() => StoredRequest::Against(frame),
            Some(frame) => StoredRequest::Frame(frame),
        }
    }

    pub(crate) fn text(self) -> Option<&'a JsonText> {
        match self {
            StoredRequest::Text(text) => Some(text),
            _ => None,
        }
    }

    pub(crate) fn frame(self) -> Option<&'a [u8]> {
        match self {
            StoredRequest::Frame(frame) => Some(frame),
            _ => None,
        }
    }

    pub(crate) fn against(self) -> Option<&'a [u8]> {
        match self {
            StoredRequest::Against(frame) => Some(frame),
            _ => None,
        }
    }
}

/// A request kept against its event's payload, read back with `dictionary` (that
/// payload's `payload_dictionary`; None: the payload is gone). Should it not read back, the
/// attempt still reads, with a note in place of its request: the rest of the attempt log
/// stays useful. `delivery` names the attempt's delivery in the warning.
pub(crate) fn request_against(
    frame: &[u8],
    dictionary: Option<&[u8]>,
    delivery: &str,
) -> Result<serde_json::Value> {
    let text = match dictionary {
        Some(dictionary) => compress::decompress_against(frame, dictionary)
            .map_err(|err| format!("does not read back against it ({err})")),
        None => Err("is no longer stored".to_string()),
    };
    let why = match text {
        Ok(text) => {
            return serde_json::from_str(&text)
                .map_err(|err| StoreError::Corrupt(format!("bad JSON in request: {err}")));
        }
        Err(why) => why,
    };
    tracing::warn!(
        delivery,
        "an attempt's request is kept against its event's payload, which {why}"
    );
    Ok(serde_json::json!({
        "unreadable": format!("the request is kept against its event's payload, which {why}")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limit_defaults_and_caps() {
        assert_eq!(page_limit(0), 50);
        assert_eq!(page_limit(7), 7);
        assert_eq!(page_limit(1000), 1000);
        assert_eq!(page_limit(5000), 1000);
    }

    #[test]
    fn bad_status_is_corrupt() {
        assert!(matches!(
            parse_status("queued"),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(parse_status("dead").unwrap(), DeliveryStatus::Dead);
    }

    #[test]
    fn failure_kind_round_trips() {
        for kind in FailureKind::ALL {
            assert_eq!(parse_failure_kind(kind.as_str()).unwrap(), kind);
        }
        assert!(matches!(
            parse_failure_kind("timeout"),
            Err(StoreError::Corrupt(_))
        ));
        let json = serde_json::to_string(&FailureKind::Credential).unwrap();
        assert_eq!(json, "\"credential\"");
    }

    fn record_writing(now_ms: i64, refs: &[(&str, &str, i64)]) -> AttemptRecord {
        let now = chrono::DateTime::from_timestamp_millis(now_ms).unwrap();
        AttemptRecord {
            delivery_id: Uuid::now_v7(),
            lease_token: Uuid::now_v7(),
            started_at: now,
            duration_ms: 0,
            status_code: None,
            error: None,
            request: None,
            payload: None,
            response_body: None,
            next: NextStep::Succeeded,
            now,
            progress: 0,
            failure_kind: None,
            refs: refs
                .iter()
                .map(|&(kind, key, n)| RefWrite {
                    kind: kind.into(),
                    key: key.into(),
                    data: n.into(),
                    ..RefWrite::default()
                })
                .collect(),
        }
    }

    fn state(monitor: &str, subject: &str, data: i64) -> MonitorState {
        MonitorState {
            monitor: monitor.into(),
            subject: subject.into(),
            data: data.into(),
            updated_at: chrono::DateTime::from_timestamp_millis(data).unwrap(),
        }
    }

    #[test]
    fn monitor_rows_keep_the_last_state_of_each_key_in_key_order() {
        let states = [
            state("m", "b", 1),
            state("a", "z", 2),
            state("m", "b", 3),
            state("m", "a", 4),
        ];
        let rows: Vec<_> = monitor_rows(&states)
            .into_iter()
            .map(|s| (s.monitor.as_str(), s.subject.as_str(), s.data.clone()))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("a", "z", 2.into()),
                ("m", "a", 4.into()),
                ("m", "b", 3.into())
            ]
        );
    }

    #[test]
    fn sorted_is_bytewise() {
        let names = sorted(vec!["b", "B", "a", "_"], |name| name);
        assert_eq!(names, vec!["B", "_", "a", "b"]);
    }

    #[test]
    fn ref_rows_keep_the_last_write_of_each_key_in_key_order() {
        let records = [
            record_writing(1, &[("slack", "b", 1), ("github", "z", 2)]),
            record_writing(2, &[("slack", "b", 3), ("slack", "a", 4)]),
        ];
        let rows: Vec<_> = ref_rows(&records)
            .into_iter()
            .map(|row| {
                let write = row.write;
                let (created, updated) = (row.created_at, row.updated_at);
                let times = (created.timestamp_millis(), updated.timestamp_millis());
                (
                    write.kind.as_str(),
                    write.key.as_str(),
                    write.data.clone(),
                    times,
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("github", "z", 2.into(), (1, 1)),
                ("slack", "a", 4.into(), (2, 2)),
                ("slack", "b", 3.into(), (1, 2)),
            ]
        );
    }

    #[test]
    fn ref_rows_apply_deletes_in_order() {
        let mut records = [
            record_writing(1, &[("k", "a", 1), ("k", "b", 2), ("k", "c", 3)]),
            record_writing(2, &[("k", "a", 0), ("k", "b", 0), ("k", "b", 5)]),
            record_writing(3, &[("k", "c", 0), ("k", "d", 0)]),
        ];
        // Data 0 marks a delete.
        for write in records.iter_mut().flat_map(|r| r.refs.iter_mut()) {
            write.delete = write.data == 0;
        }
        let rows: Vec<_> = ref_rows(&records)
            .into_iter()
            .map(|row| {
                let times = (
                    row.created_at.timestamp_millis(),
                    row.updated_at.timestamp_millis(),
                );
                let write = row.write;
                (write.key.as_str(), write.delete, row.recreated, times)
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("a", true, false, (1, 2)),
                ("b", false, true, (2, 2)),
                ("c", true, false, (1, 3)),
                ("d", true, false, (3, 3)),
            ]
        );
    }
}
