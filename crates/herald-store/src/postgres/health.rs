//! Health on PostgreSQL: three aggregate queries, run at once on their own connections.

use super::rows;
use crate::Result;
use crate::common::{ACTION_HEALTH, RULE_HEALTH, SOURCE_HEALTH, sorted};
use crate::model::*;
use sqlx::postgres::{PgPool, PgRow};

pub(super) async fn health(pool: &PgPool) -> Result<Health> {
    let (actions, sources, rules) = tokio::try_join!(
        fetch(pool, ACTION_HEALTH, rows::action_health),
        fetch(pool, SOURCE_HEALTH, rows::source_health),
        fetch(pool, RULE_HEALTH, rows::rule_health),
    )?;
    Ok(Health {
        actions: sorted(actions, |a| &a.action),
        sources: sorted(sources, |s| &s.source),
        rules: sorted(rules, |r| &r.rule),
    })
}

async fn fetch<T>(
    pool: &PgPool,
    sql: &'static str,
    decode: fn(&PgRow) -> Result<T>,
) -> Result<Vec<T>> {
    let found = sqlx::query(sql).fetch_all(pool).await?;
    found.iter().map(decode).collect()
}
