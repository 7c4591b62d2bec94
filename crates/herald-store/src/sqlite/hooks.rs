//! Registered hooks on SQLite: reads on the read pool, each write one statement (an import,
//! two in one `BEGIN IMMEDIATE` transaction) on the write connection.

use super::connection::{WriteConnection, begin};
use super::rows::{ms, opt_time, time};
use crate::Result;
use crate::common::{hook_columns, hook_taken, previous_secret};
use crate::model::*;
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};

fn hook(row: &SqliteRow) -> Result<Hook> {
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
            opt_time(row.try_get("previous_valid_until")?)?,
        )?,
        created_at: time(row.try_get("created_at")?)?,
        updated_at: time(row.try_get("updated_at")?)?,
    })
}

pub(super) async fn create_hook(write: &WriteConnection, new: &Hook) -> Result<()> {
    let mut conn = write.lock().await?;
    let inserted = sqlx::query(concat!(
        "INSERT INTO hooks (",
        hook_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (source, id) DO NOTHING"
    ))
    .bind(&new.source)
    .bind(&new.id)
    .bind(&new.repository)
    .bind(&new.secret.ciphertext)
    .bind(&new.secret.nonce)
    .bind(new.previous.as_ref().map(|p| p.secret.ciphertext.clone()))
    .bind(new.previous.as_ref().map(|p| p.secret.nonce.clone()))
    .bind(new.previous.as_ref().map(|p| ms(p.valid_until)))
    .bind(ms(new.created_at))
    .bind(ms(new.updated_at))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(hook_taken(new));
    }
    Ok(())
}

pub(super) async fn get_hook(pool: &SqlitePool, source: &str, id: &str) -> Result<Option<Hook>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        hook_columns!(),
        " FROM hooks WHERE source = ?1 AND id = ?2"
    ))
    .bind(source)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(hook).transpose()
}

pub(super) async fn list_hooks(pool: &SqlitePool, source: Option<&str>) -> Result<Vec<Hook>> {
    let found = sqlx::query(concat!(
        "SELECT ",
        hook_columns!(),
        " FROM hooks WHERE ?1 IS NULL OR source = ?1 ORDER BY source, id"
    ))
    .bind(source)
    .fetch_all(pool)
    .await?;
    found.iter().map(hook).collect()
}

pub(super) async fn rotate_hook_secret(
    write: &WriteConnection,
    (source, id): (&str, &str),
    secret: &SealedSecret,
    previous_valid_until: Timestamp,
    now: Timestamp,
) -> Result<Option<Hook>> {
    let mut conn = write.lock().await?;
    let row = sqlx::query(concat!(
        "UPDATE hooks SET previous_secret = secret, previous_nonce = secret_nonce,
             previous_valid_until = ?3, secret = ?4, secret_nonce = ?5, updated_at = ?6
         WHERE source = ?1 AND id = ?2
         RETURNING ",
        hook_columns!()
    ))
    .bind(source)
    .bind(id)
    .bind(ms(previous_valid_until))
    .bind(&secret.ciphertext)
    .bind(&secret.nonce)
    .bind(ms(now))
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(hook).transpose()
}

pub(super) async fn import_hook(write: &WriteConnection, new: &Hook) -> Result<bool> {
    let mut conn = write.lock().await?;
    let mut tx = begin(&mut conn).await?;
    let existed = sqlx::query("SELECT 1 FROM hooks WHERE source = ?1 AND id = ?2")
        .bind(&new.source)
        .bind(&new.id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    sqlx::query(concat!(
        "INSERT INTO hooks (",
        hook_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, NULL, ?6, ?7)
         ON CONFLICT (source, id) DO UPDATE SET repository = excluded.repository,
             secret = excluded.secret, secret_nonce = excluded.secret_nonce,
             previous_secret = NULL, previous_nonce = NULL, previous_valid_until = NULL,
             updated_at = excluded.updated_at"
    ))
    .bind(&new.source)
    .bind(&new.id)
    .bind(&new.repository)
    .bind(&new.secret.ciphertext)
    .bind(&new.secret.nonce)
    .bind(ms(new.created_at))
    .bind(ms(new.updated_at))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(!existed)
}

pub(super) async fn delete_hook(write: &WriteConnection, source: &str, id: &str) -> Result<bool> {
    let mut conn = write.lock().await?;
    let deleted = sqlx::query("DELETE FROM hooks WHERE source = ?1 AND id = ?2")
        .bind(source)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}
