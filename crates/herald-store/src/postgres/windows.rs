//! Aggregation windows on PostgreSQL. Appends, flushes, deferrals and manual flushes of
//! one (rule, group key) take a transaction lock on it first, so each reads the key's open
//! window as the last of them left it: no two open one window each, no position is taken
//! twice, and no append undoes a deferral. Claims touch only leases, under row locks.

use super::append::insert_deliveries;
use super::rows::{self, column};
use crate::Result;
use crate::common::{
    flushed_columns, open_window_columns, page_limit, postgres_event_columns, window_columns,
};
use crate::model::*;
use crate::windows::{
    Flushed, Member, OpenWindow, Split, WindowWrite, carried_window, late_events_missing,
    plan_append, stored_entries, window_keys,
};
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// The first key of the transaction locks on (rule, group key); the second is the hash
/// of `lock_key!`. Apart from claims' ordering-key locks and sqlx's migration lock.
const WINDOW_LOCK_CLASS: i32 = 0x6877_696e;

/// The hash a window's key is locked under, from columns `rule` and `group_key`.
macro_rules! lock_key {
    () => {
        "hashtext(rule || chr(10) || group_key)"
    };
}

/// Lock the keys in hash order, so two appends sharing keys wait instead of deadlocking
/// (the subquery's order is the order the locks are taken in).
const LOCK_KEYS: &str = concat!(
    "SELECT pg_advisory_xact_lock($1, h) FROM (
         SELECT DISTINCT ",
    lock_key!(),
    " AS h FROM unnest($2::text[], $3::text[]) AS k(rule, group_key) ORDER BY h) keys"
);

/// Add the stored events of an append to their windows, in the append's transaction.
pub(super) async fn append(
    conn: &mut PgConnection,
    items: &[EventWithDeliveries],
    outcomes: &[AppendOutcome],
) -> Result<()> {
    let entries = stored_entries(items, outcomes);
    if entries.is_empty() {
        return Ok(());
    }
    let keys = window_keys(&entries);
    let rules: Vec<&str> = keys.iter().map(|key| key.0).collect();
    let groups: Vec<&str> = keys.iter().map(|key| key.1).collect();
    sqlx::query(LOCK_KEYS)
        .bind(WINDOW_LOCK_CLASS)
        .bind(&rules)
        .bind(&groups)
        .execute(&mut *conn)
        .await?;
    // A new statement, so a new snapshot: it sees what the last holder of each lock wrote.
    let open = open_windows(conn, &rules, &groups).await?;
    let plan = plan_append(&entries, &open);
    let inserted: Vec<_> = plan.inserted().collect();
    if !inserted.is_empty() {
        insert_windows(conn, &inserted).await?;
    }
    let updated: Vec<_> = plan.updated().collect();
    if !updated.is_empty() {
        update_windows(conn, &updated).await?;
    }
    insert_members(conn, &plan.members).await
}

async fn open_windows(
    conn: &mut PgConnection,
    rules: &[&str],
    groups: &[&str],
) -> Result<Vec<OpenWindow>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        open_window_columns!(),
        " FROM unnest($1::text[], $2::text[]) AS k(rule, group_key)
          JOIN windows w ON w.rule = k.rule AND w.group_key = k.group_key
          WHERE w.status = 'open'"
    ))
    .bind(rules)
    .bind(groups)
    .fetch_all(&mut *conn)
    .await?;
    found.iter().map(rows::open_window).collect()
}

async fn insert_windows(conn: &mut PgConnection, windows: &[&WindowWrite<'_>]) -> Result<()> {
    sqlx::query(
        "INSERT INTO windows (id, rule, group_key, status, opened_at, last_event_at, due_at,
             count, quiet_ms, bucket_ms, max_wait_ms, max_count)
         SELECT id, rule, group_key, 'open', opened_at, last_event_at, due_at, count,
             quiet_ms, bucket_ms, max_wait_ms, max_count
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
             $5::timestamptz[], $6::timestamptz[], $7::int8[], $8::int8[], $9::int8[],
             $10::int8[], $11::int8[])
             AS w(id, rule, group_key, opened_at, last_event_at, due_at, count, quiet_ms,
                 bucket_ms, max_wait_ms, max_count)",
    )
    .bind(column(windows, |w| w.id))
    .bind(column(windows, |w| w.rule))
    .bind(column(windows, |w| w.group_key))
    .bind(column(windows, |w| w.opened_at))
    .bind(column(windows, |w| w.last_event_at))
    .bind(column(windows, |w| w.due_at))
    .bind(column(windows, |w| w.count))
    .bind(column(windows, |w| w.timing.quiet_ms))
    .bind(column(windows, |w| w.timing.bucket_ms))
    .bind(column(windows, |w| w.timing.max_wait_ms))
    .bind(column(windows, |w| w.timing.max_count))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn update_windows(conn: &mut PgConnection, windows: &[&WindowWrite<'_>]) -> Result<()> {
    sqlx::query(
        "UPDATE windows w SET last_event_at = u.last_event_at, due_at = u.due_at,
             count = u.count, quiet_ms = u.quiet_ms, bucket_ms = u.bucket_ms,
             max_wait_ms = u.max_wait_ms, max_count = u.max_count
         FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::int8[], $5::int8[],
             $6::int8[], $7::int8[], $8::int8[])
             AS u(id, last_event_at, due_at, count, quiet_ms, bucket_ms, max_wait_ms,
                 max_count)
         WHERE w.id = u.id",
    )
    .bind(column(windows, |w| w.id))
    .bind(column(windows, |w| w.last_event_at))
    .bind(column(windows, |w| w.due_at))
    .bind(column(windows, |w| w.count))
    .bind(column(windows, |w| w.timing.quiet_ms))
    .bind(column(windows, |w| w.timing.bucket_ms))
    .bind(column(windows, |w| w.timing.max_wait_ms))
    .bind(column(windows, |w| w.timing.max_count))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_members(conn: &mut PgConnection, members: &[Member]) -> Result<()> {
    let members: Vec<&Member> = members.iter().collect();
    sqlx::query(
        "INSERT INTO window_events (window_id, event_id, position)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int8[])",
    )
    .bind(column(&members, |m| m.window_id))
    .bind(column(&members, |m| m.event_id))
    .bind(column(&members, |m| m.position))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Lease due windows, skipping rows another transaction holds (a claim, an append) so
/// replicas never wait on each other. MATERIALIZED keeps LIMIT to one evaluation.
const CLAIM: &str = concat!(
    "WITH due AS MATERIALIZED (
         SELECT id AS due_id FROM windows
         WHERE status = 'open' AND due_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
         ORDER BY due_at, id
         LIMIT $2
         FOR UPDATE SKIP LOCKED
     )
     UPDATE windows SET lease_token = $3, lease_until = $4, claimed_count = count
     FROM due WHERE id = due_id
     RETURNING ",
    window_columns!()
);

pub(super) async fn claim_due_windows(
    pool: &PgPool,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Vec<ClaimedWindow>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let lease_token = Uuid::now_v7();
    let found = sqlx::query(CLAIM)
        .bind(now)
        .bind(i64::from(limit))
        .bind(lease_token)
        .bind(lease_until)
        .fetch_all(pool)
        .await?;
    let mut claimed = found
        .iter()
        .map(|row| {
            Ok(ClaimedWindow {
                window: rows::window(row)?,
                lease_token,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // RETURNING has no order; callers expect oldest due first.
    claimed.sort_by_key(|claim| (claim.window.due_at, claim.window.id));
    Ok(claimed)
}

pub(super) async fn get_window(pool: &PgPool, id: Uuid) -> Result<Option<Window>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        window_columns!(),
        " FROM windows WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(rows::window).transpose()
}

pub(super) async fn window_events(pool: &PgPool, window_id: Uuid) -> Result<Vec<Event>> {
    // Up to the count at the claim, if claimed: later events belong to the next window.
    let found = sqlx::query(concat!(
        "SELECT ",
        postgres_event_columns!(),
        " FROM events e JOIN (
             SELECT we.event_id, we.position FROM window_events we
             JOIN windows w ON w.id = we.window_id
             WHERE we.window_id = $1 AND we.position <= COALESCE(w.claimed_count, w.count)
         ) m ON m.event_id = e.id
         ORDER BY m.position"
    ))
    .bind(window_id)
    .fetch_all(pool)
    .await?;
    found.iter().map(rows::event).collect()
}

const LOCK_WINDOW: &str = concat!(
    "SELECT pg_advisory_xact_lock($2, ",
    lock_key!(),
    ") FROM windows WHERE id = $1"
);

const CLOSE: &str = concat!(
    "UPDATE windows SET status = 'flushed', flushed_at = $3, lease_token = NULL,
         lease_until = NULL
     WHERE id = $1 AND status = 'open' AND lease_token = $2
     RETURNING ",
    flushed_columns!()
);

pub(super) async fn flush_window(
    pool: &PgPool,
    window_id: Uuid,
    lease_token: Uuid,
    deliveries: &[NewDelivery],
    now: Timestamp,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    // Appends to the key wait until the flush commits, then see it flushed.
    let locked = sqlx::query(LOCK_WINDOW)
        .bind(window_id)
        .bind(WINDOW_LOCK_CLASS)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if locked == 0 {
        return Ok(false);
    }
    let closed = sqlx::query(CLOSE)
        .bind(window_id)
        .bind(lease_token)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    // Dropping the transaction rolls it back: nothing was written.
    let Some(closed) = closed else {
        return Ok(false);
    };
    let flushed = rows::flushed(&closed)?;
    if let Some(fence) = flushed.fence() {
        carry(&mut tx, window_id, &flushed, fence).await?;
    }
    if !deliveries.is_empty() {
        let deliveries: Vec<&NewDelivery> = deliveries.iter().collect();
        insert_deliveries(&mut tx, &deliveries, Some(window_id)).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Move the events after `fence` to a new open window, numbered from 1, and leave the
/// flushed window with those it had at the claim.
async fn carry(
    conn: &mut PgConnection,
    window_id: Uuid,
    flushed: &Flushed,
    fence: i64,
) -> Result<()> {
    let split = split(conn, window_id, fence).await?;
    let carried = carried_window(flushed, fence, &split);
    insert_windows(conn, &[&carried]).await?;
    sqlx::query(
        "UPDATE window_events SET window_id = $2, position = position - $3
         WHERE window_id = $1 AND position > $3",
    )
    .bind(window_id)
    .bind(carried.id)
    .bind(fence)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE windows SET count = $2, last_event_at = COALESCE($3, last_event_at)
         WHERE id = $1",
    )
    .bind(window_id)
    .bind(fence)
    .bind(split.kept_last)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The received times of the events at and before `fence`, and after it.
async fn split(conn: &mut PgConnection, window_id: Uuid, fence: i64) -> Result<Split> {
    let (kept_last, late_first, late_last): (
        Option<Timestamp>,
        Option<Timestamp>,
        Option<Timestamp>,
    ) = sqlx::query_as(
        "SELECT MAX(CASE WHEN we.position <= $2 THEN e.received_at END),
             MIN(CASE WHEN we.position > $2 THEN e.received_at END),
             MAX(CASE WHEN we.position > $2 THEN e.received_at END)
         FROM window_events we JOIN events e ON e.id = we.event_id
         WHERE we.window_id = $1",
    )
    .bind(window_id)
    .bind(fence)
    .fetch_one(&mut *conn)
    .await?;
    let (Some(late_first), Some(late_last)) = (late_first, late_last) else {
        return Err(late_events_missing(window_id));
    };
    Ok(Split {
        kept_last,
        late_first,
        late_last,
    })
}

pub(super) async fn defer_window(
    pool: &PgPool,
    window_id: Uuid,
    lease_token: Uuid,
    due_at: Timestamp,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    // An append that read the window before the deferral would otherwise overwrite it.
    sqlx::query(LOCK_WINDOW)
        .bind(window_id)
        .bind(WINDOW_LOCK_CLASS)
        .execute(&mut *tx)
        .await?;
    // A forced window was asked for now: a calendar does not postpone it.
    let deferred = sqlx::query(
        "UPDATE windows SET lease_token = NULL, lease_until = NULL, claimed_count = NULL,
             due_at = CASE WHEN forced THEN due_at ELSE $3 END,
             not_before = CASE WHEN forced THEN not_before ELSE $3 END
         WHERE id = $1 AND status = 'open' AND lease_token = $2",
    )
    .bind(window_id)
    .bind(lease_token)
    .bind(due_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(deferred == 1)
}

pub(super) async fn list_windows(pool: &PgPool, filter: &WindowQuery) -> Result<Vec<Window>> {
    let mut query = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        window_columns!(),
        " FROM windows WHERE 1 = 1"
    ));
    if let Some(rule) = &filter.rule {
        query.push(" AND rule = ").push_bind(rule.clone());
    }
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    query
        .push(" ORDER BY opened_at DESC, id DESC LIMIT ")
        .push_bind(page_limit(filter.limit));
    let found = query.build().fetch_all(pool).await?;
    found.iter().map(rows::window).collect()
}

/// Lock the keys of the open windows to force, in hash order as appends do, then force
/// them: an append holding a key while it updates several windows cannot deadlock with
/// this.
pub(super) async fn flush_now(
    pool: &PgPool,
    rule: Option<&str>,
    group_key: Option<&str>,
    now: Timestamp,
) -> Result<Vec<Uuid>> {
    let mut lock = QueryBuilder::<Postgres>::new("SELECT pg_advisory_xact_lock(");
    lock.push_bind(WINDOW_LOCK_CLASS);
    lock.push(concat!(
        ", h) FROM (SELECT DISTINCT ",
        lock_key!(),
        " AS h FROM windows WHERE status = 'open'"
    ));
    push_key_filter(&mut lock, rule, group_key);
    lock.push(" ORDER BY h) keys");
    let mut force = QueryBuilder::<Postgres>::new("UPDATE windows SET forced = true, due_at = ");
    force.push_bind(now).push(" WHERE status = 'open'");
    push_key_filter(&mut force, rule, group_key);
    force.push(" RETURNING id");
    let mut tx = pool.begin().await?;
    lock.build().execute(&mut *tx).await?;
    let mut ids: Vec<Uuid> = force.build_query_scalar().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    ids.sort_unstable();
    Ok(ids)
}

fn push_key_filter(
    query: &mut QueryBuilder<Postgres>,
    rule: Option<&str>,
    group_key: Option<&str>,
) {
    if let Some(rule) = rule {
        query.push(" AND rule = ").push_bind(rule.to_string());
    }
    if let Some(group_key) = group_key {
        query
            .push(" AND group_key = ")
            .push_bind(group_key.to_string());
    }
}

pub(super) async fn next_window_due_at(pool: &PgPool, now: Timestamp) -> Result<Option<Timestamp>> {
    let earliest: Option<Timestamp> = sqlx::query_scalar(
        "SELECT MIN(due_at) FROM windows
         WHERE status = 'open' AND (lease_until IS NULL OR lease_until <= $1)",
    )
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(earliest)
}

/// Read from the partial index of open windows (`windows_open_key_idx`).
pub(super) async fn open_window_counts(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    let counts = sqlx::query_as(
        "SELECT rule, COUNT(*) FROM windows WHERE status = 'open' GROUP BY rule ORDER BY rule",
    )
    .fetch_all(pool)
    .await?;
    Ok(counts)
}
