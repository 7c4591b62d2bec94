//! Aggregation windows on SQLite. There is one writer, so what a write transaction reads
//! stays true until it commits: no locking beyond `BEGIN IMMEDIATE`.

use super::connection::{WriteConnection, begin};
use super::rows::{self, ms, time, to_json, uuid};
use super::write::Command;
use crate::Result;
use crate::common::{
    flushed_columns, open_window_columns, page_limit, sqlite_event_columns, window_columns,
};
use crate::model::*;
use crate::windows::{
    Flushed, Member, OpenWindow, Split, WindowWrite, carried_window, late_events_missing,
    plan_append, stored_entries, window_keys,
};
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

const WINDOW_PARAMS: usize = 12;
const UPDATE_PARAMS: usize = 8;
const MEMBER_PARAMS: usize = 3;
const DELIVERY_PARAMS: usize = 11;

/// Add the stored events of an append to their windows, in the append's transaction.
pub(super) async fn append(
    conn: &mut SqliteConnection,
    items: &[EventWithDeliveries],
    outcomes: &[AppendOutcome],
) -> Result<()> {
    let entries = stored_entries(items, outcomes);
    if entries.is_empty() {
        return Ok(());
    }
    let open = open_windows(conn, &window_keys(&entries)).await?;
    let plan = plan_append(&entries, &open);
    let mut command = Command::default();
    let inserted: Vec<_> = plan.inserted().collect();
    push_inserts(&mut command, &inserted);
    let updated: Vec<_> = plan.updated().collect();
    push_updates(&mut command, &updated);
    push_members(&mut command, &plan.members);
    command.run(conn).await?;
    Ok(())
}

async fn open_windows(
    conn: &mut SqliteConnection,
    keys: &[(&str, &str)],
) -> Result<Vec<OpenWindow>> {
    // The keys as one JSON array of pairs: no bound-parameter limit to split under.
    let found = sqlx::query(concat!(
        "SELECT ",
        open_window_columns!(),
        " FROM json_each(?1) k JOIN windows w
              ON w.rule = json_extract(k.value, '$[0]')
             AND w.group_key = json_extract(k.value, '$[1]')
          WHERE w.status = 'open'"
    ))
    .bind(to_json(keys)?)
    .fetch_all(conn)
    .await?;
    found.iter().map(rows::open_window).collect()
}

fn push_inserts(command: &mut Command, windows: &[&WindowWrite<'_>]) {
    command.rows(
        "INSERT INTO windows (id, rule, group_key, status, opened_at, last_event_at, due_at,
             count, quiet_ms, bucket_ms, max_wait_ms, max_count)
         SELECT * FROM (",
        windows,
        WINDOW_PARAMS,
        ") WHERE column1 IS NOT NULL",
        |row, window| {
            row.push_bind(window.id.to_string())
                .push_bind(window.rule.to_string())
                .push_bind(window.group_key.to_string())
                .push_bind("open")
                .push_bind(ms(window.opened_at))
                .push_bind(ms(window.last_event_at))
                .push_bind(ms(window.due_at))
                .push_bind(window.count)
                .push_bind(window.timing.quiet_ms)
                .push_bind(window.timing.bucket_ms)
                .push_bind(window.timing.max_wait_ms)
                .push_bind(window.timing.max_count);
        },
    );
}

fn push_updates(command: &mut Command, windows: &[&WindowWrite<'_>]) {
    command.rows(
        "WITH u (id, last_event_at, due_at, count, quiet_ms, bucket_ms, max_wait_ms, max_count)
         AS (",
        windows,
        UPDATE_PARAMS,
        ") UPDATE windows SET last_event_at = u.last_event_at, due_at = u.due_at,
             count = u.count, quiet_ms = u.quiet_ms, bucket_ms = u.bucket_ms,
             max_wait_ms = u.max_wait_ms, max_count = u.max_count
         FROM u WHERE windows.id = u.id",
        |row, window| {
            row.push_bind(window.id.to_string())
                .push_bind(ms(window.last_event_at))
                .push_bind(ms(window.due_at))
                .push_bind(window.count)
                .push_bind(window.timing.quiet_ms)
                .push_bind(window.timing.bucket_ms)
                .push_bind(window.timing.max_wait_ms)
                .push_bind(window.timing.max_count);
        },
    );
}

fn push_members(command: &mut Command, members: &[Member]) {
    command.rows(
        "INSERT INTO window_events (window_id, event_id, position) SELECT * FROM (",
        members,
        MEMBER_PARAMS,
        ") WHERE column1 IS NOT NULL",
        |row, member| {
            row.push_bind(member.window_id.to_string())
                .push_bind(member.event_id.to_string())
                .push_bind(member.position);
        },
    );
}

pub(super) async fn claim_due_windows(
    write: &WriteConnection,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
) -> Result<Vec<ClaimedWindow>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let lease_token = Uuid::now_v7();
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let found = sqlx::query(concat!(
        "UPDATE windows SET lease_token = ?1, lease_until = ?2, claimed_count = count
         WHERE id IN (SELECT id FROM windows
             WHERE status = 'open' AND due_at <= ?3
               AND (lease_until IS NULL OR lease_until <= ?3)
             ORDER BY due_at, id LIMIT ?4)
         RETURNING ",
        window_columns!()
    ))
    .bind(lease_token.to_string())
    .bind(ms(lease_until))
    .bind(ms(now))
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
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

pub(super) async fn get_window(pool: &SqlitePool, id: Uuid) -> Result<Option<Window>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        window_columns!(),
        " FROM windows WHERE id = ?1"
    ))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(rows::window).transpose()
}

pub(super) async fn window_events(pool: &SqlitePool, window_id: Uuid) -> Result<Vec<Event>> {
    // Up to the count at the claim, if claimed: later events belong to the next window.
    let found = sqlx::query(concat!(
        "SELECT ",
        sqlite_event_columns!(),
        " FROM events e JOIN (
             SELECT we.event_id, we.position FROM window_events we
             JOIN windows w ON w.id = we.window_id
             WHERE we.window_id = ?1 AND we.position <= COALESCE(w.claimed_count, w.count)
         ) m ON m.event_id = e.id
         ORDER BY m.position"
    ))
    .bind(window_id.to_string())
    .fetch_all(pool)
    .await?;
    found.iter().map(rows::event).collect()
}

pub(super) async fn flush_window(
    write: &WriteConnection,
    window_id: Uuid,
    lease_token: Uuid,
    deliveries: &[NewDelivery],
    now: Timestamp,
) -> Result<bool> {
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let closed = sqlx::query(concat!(
        "UPDATE windows SET status = 'flushed', flushed_at = ?3, lease_token = NULL,
             lease_until = NULL
         WHERE id = ?1 AND status = 'open' AND lease_token = ?2
         RETURNING ",
        flushed_columns!()
    ))
    .bind(window_id.to_string())
    .bind(lease_token.to_string())
    .bind(ms(now))
    .fetch_optional(&mut *tx)
    .await?;
    // Dropping the transaction rolls it back: nothing was written.
    let Some(closed) = closed else {
        return Ok(false);
    };
    let flushed = rows::flushed(&closed)?;
    let mut command = Command::default();
    if let Some(fence) = flushed.fence() {
        let split = split(&mut tx, window_id, fence).await?;
        push_carry(&mut command, window_id, &flushed, fence, &split);
    }
    push_deliveries(&mut command, window_id, deliveries);
    command.run(&mut tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// The received times of the events at and before `fence`, and after it.
async fn split(conn: &mut SqliteConnection, window_id: Uuid, fence: i64) -> Result<Split> {
    let (kept_last, late_first, late_last): (Option<i64>, Option<i64>, Option<i64>) =
        sqlx::query_as(
            "SELECT MAX(CASE WHEN we.position <= ?2 THEN e.received_at END),
                 MIN(CASE WHEN we.position > ?2 THEN e.received_at END),
                 MAX(CASE WHEN we.position > ?2 THEN e.received_at END)
             FROM window_events we JOIN events e ON e.id = we.event_id
             WHERE we.window_id = ?1",
        )
        .bind(window_id.to_string())
        .bind(fence)
        .fetch_one(conn)
        .await?;
    let (Some(first), Some(last)) = (late_first, late_last) else {
        return Err(late_events_missing(window_id));
    };
    Ok(Split {
        kept_last: rows::opt_time(kept_last)?,
        late_first: time(first)?,
        late_last: time(last)?,
    })
}

/// Move the events after `fence` to a new open window, numbered from 1, and leave the
/// flushed window with those it had at the claim.
fn push_carry(
    command: &mut Command,
    window_id: Uuid,
    flushed: &Flushed,
    fence: i64,
    split: &Split,
) {
    let carried = carried_window(flushed, fence, split);
    push_inserts(command, &[&carried]);
    let query = command.statement("UPDATE window_events SET window_id = ");
    query.push_bind(carried.id.to_string());
    query.push(", position = position - ").push_bind(fence);
    query
        .push(" WHERE window_id = ")
        .push_bind(window_id.to_string());
    query.push(" AND position > ").push_bind(fence);
    let query = command.statement("UPDATE windows SET count = ");
    query.push_bind(fence);
    query
        .push(", last_event_at = COALESCE(")
        .push_bind(split.kept_last.map(ms))
        .push(", last_event_at) WHERE id = ")
        .push_bind(window_id.to_string());
}

/// Insert a flush's deliveries, each naming the window.
fn push_deliveries(command: &mut Command, window_id: Uuid, deliveries: &[NewDelivery]) {
    command.rows(
        "INSERT INTO deliveries (id, event_id, rule, action, idempotency_key, next_attempt_at,
             created_at, updated_at, ordering_key, window_id, status)
         SELECT * FROM (",
        deliveries,
        DELIVERY_PARAMS,
        ") WHERE column1 IS NOT NULL ON CONFLICT (idempotency_key) DO NOTHING",
        |row, delivery| {
            row.push_bind(delivery.id.to_string())
                .push_bind(delivery.event_id.map(|id| id.to_string()))
                .push_bind(delivery.rule.clone())
                .push_bind(delivery.action.clone())
                .push_bind(delivery.idempotency_key.clone())
                .push_bind(ms(delivery.next_attempt_at))
                .push_bind(ms(delivery.created_at))
                .push_bind(ms(delivery.created_at))
                .push_bind(delivery.ordering_key.clone())
                .push_bind(window_id.to_string())
                .push_bind("pending");
        },
    );
}

pub(super) async fn defer_window(
    write: &WriteConnection,
    window_id: Uuid,
    lease_token: Uuid,
    due_at: Timestamp,
) -> Result<bool> {
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    // A forced window was asked for now: a calendar does not postpone it.
    let deferred = sqlx::query(
        "UPDATE windows SET lease_token = NULL, lease_until = NULL, claimed_count = NULL,
             due_at = CASE WHEN forced = 1 THEN due_at ELSE ?3 END,
             not_before = CASE WHEN forced = 1 THEN not_before ELSE ?3 END
         WHERE id = ?1 AND status = 'open' AND lease_token = ?2",
    )
    .bind(window_id.to_string())
    .bind(lease_token.to_string())
    .bind(ms(due_at))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(deferred == 1)
}

pub(super) async fn list_windows(pool: &SqlitePool, filter: &WindowQuery) -> Result<Vec<Window>> {
    let mut query = QueryBuilder::<Sqlite>::new(concat!(
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

pub(super) async fn flush_now(
    write: &WriteConnection,
    rule: Option<&str>,
    group_key: Option<&str>,
    now: Timestamp,
) -> Result<Vec<Uuid>> {
    let mut query = QueryBuilder::<Sqlite>::new("UPDATE windows SET forced = 1, due_at = ");
    query.push_bind(ms(now));
    query.push(" WHERE status = 'open'");
    if let Some(rule) = rule {
        query.push(" AND rule = ").push_bind(rule.to_string());
    }
    if let Some(group_key) = group_key {
        query
            .push(" AND group_key = ")
            .push_bind(group_key.to_string());
    }
    query.push(" RETURNING id");
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let forced: Vec<String> = query.build_query_scalar().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let mut ids = forced
        .iter()
        .map(|id| uuid(id))
        .collect::<Result<Vec<_>>>()?;
    ids.sort_unstable();
    Ok(ids)
}

pub(super) async fn next_window_due_at(
    pool: &SqlitePool,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    let earliest: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(due_at) FROM windows
         WHERE status = 'open' AND (lease_until IS NULL OR lease_until <= ?1)",
    )
    .bind(ms(now))
    .fetch_one(pool)
    .await?;
    earliest.map(time).transpose()
}

/// Read from the partial index of open windows (`windows_open_key_idx`).
pub(super) async fn open_window_counts(pool: &SqlitePool) -> Result<Vec<(String, i64)>> {
    let counts = sqlx::query_as(
        "SELECT rule, COUNT(*) FROM windows WHERE status = 'open' GROUP BY rule ORDER BY rule",
    )
    .fetch_all(pool)
    .await?;
    Ok(counts)
}
