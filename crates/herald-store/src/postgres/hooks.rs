//! Registered hooks on PostgreSQL: each read and write is one statement.

use crate::Result;
use crate::common::{hook_columns, hook_taken, previous_secret};
use crate::model::*;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

fn hook(row: &PgRow) -> Result<Hook> {
    Ok(Hook {
        source: row.try_get("source")?,
        id: row.try_get("id")?,
        repository: row.try_get("repository")?,
        secret: SealedSecret {
            ciphertext: row.try_get("secret")?,
            nonce: row.try_get("secret_nonce")?,
        },
        previous: previous_secret(
            row.try_get("previous_secret")?,
            row.try_get("previous_nonce")?,
            row.try_get("previous_valid_until")?,
        )?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) async fn create_hook(pool: &PgPool, new: &Hook) -> Result<()> {
    let inserted = sqlx::query(concat!(
        "INSERT INTO hooks (",
        hook_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (source, id) DO NOTHING"
    ))
    .bind(&new.source)
    .bind(&new.id)
    .bind(&new.repository)
    .bind(&new.secret.ciphertext)
    .bind(&new.secret.nonce)
    .bind(new.previous.as_ref().map(|p| p.secret.ciphertext.clone()))
    .bind(new.previous.as_ref().map(|p| p.secret.nonce.clone()))
    .bind(new.previous.as_ref().map(|p| p.valid_until))
    .bind(new.created_at)
    .bind(new.updated_at)
    .execute(pool)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(hook_taken(new));
    }
    Ok(())
}

pub(super) async fn get_hook(pool: &PgPool, source: &str, id: &str) -> Result<Option<Hook>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        hook_columns!(),
        " FROM hooks WHERE source = $1 AND id = $2"
    ))
    .bind(source)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(hook).transpose()
}

pub(super) async fn list_hooks(pool: &PgPool, source: Option<&str>) -> Result<Vec<Hook>> {
    // The columns collate bytewise (see the migration), as on SQLite.
    let found = sqlx::query(concat!(
        "SELECT ",
        hook_columns!(),
        " FROM hooks WHERE $1::text IS NULL OR source = $1 ORDER BY source, id"
    ))
    .bind(source)
    .fetch_all(pool)
    .await?;
    found.iter().map(hook).collect()
}

pub(super) async fn rotate_hook_secret(
    pool: &PgPool,
    (source, id): (&str, &str),
    secret: &SealedSecret,
    previous_valid_until: Timestamp,
    now: Timestamp,
) -> Result<Option<Hook>> {
    // Each SET reads the row as it was, so the old secret moves to the previous one.
    let row = sqlx::query(concat!(
        "UPDATE hooks SET previous_secret = secret, previous_nonce = secret_nonce,
             previous_valid_until = $3, secret = $4, secret_nonce = $5, updated_at = $6
         WHERE source = $1 AND id = $2
         RETURNING ",
        hook_columns!()
    ))
    .bind(source)
    .bind(id)
    .bind(previous_valid_until)
    .bind(&secret.ciphertext)
    .bind(&secret.nonce)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(hook).transpose()
}

pub(super) async fn import_hook(pool: &PgPool, new: &Hook) -> Result<bool> {
    // `before` sees the table as the statement began: whether the hook was there.
    let inserted: bool = sqlx::query_scalar(concat!(
        "WITH before AS (SELECT 1 FROM hooks WHERE source = $1 AND id = $2)
         INSERT INTO hooks (",
        hook_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL, $6, $7)
         ON CONFLICT (source, id) DO UPDATE SET repository = excluded.repository,
             secret = excluded.secret, secret_nonce = excluded.secret_nonce,
             previous_secret = NULL, previous_nonce = NULL, previous_valid_until = NULL,
             updated_at = excluded.updated_at
         RETURNING NOT EXISTS (SELECT 1 FROM before)"
    ))
    .bind(&new.source)
    .bind(&new.id)
    .bind(&new.repository)
    .bind(&new.secret.ciphertext)
    .bind(&new.secret.nonce)
    .bind(new.created_at)
    .bind(new.updated_at)
    .fetch_one(pool)
    .await?;
    Ok(inserted)
}

pub(super) async fn delete_hook(pool: &PgPool, source: &str, id: &str) -> Result<bool> {
    let deleted = sqlx::query("DELETE FROM hooks WHERE source = $1 AND id = $2")
        .bind(source)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}
