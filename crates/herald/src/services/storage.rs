//! Opening the configured store and bringing its schema up to date.

use crate::config::StorageConfig;
use herald_store::SharedStore;
use herald_store::postgres::{PgOptions, PgStore};
use herald_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use std::sync::Arc;

pub async fn open(config: &StorageConfig) -> Result<SharedStore, herald_store::StoreError> {
    let store: SharedStore = match config {
        StorageConfig::Sqlite {
            path,
            fsync_every_commit,
        } => {
            let synchronous = if *fsync_every_commit {
                Synchronous::Full
            } else {
                Synchronous::Normal
            };
            let options = SqliteOptions {
                synchronous,
                ..SqliteOptions::default()
            };
            Arc::new(SqliteStore::open(path, options).await?)
        }
        StorageConfig::Postgres {
            url,
            max_connections,
        } => {
            crate::tls::install_crypto_provider();
            let options = PgOptions {
                max_connections: *max_connections,
            };
            Arc::new(PgStore::connect(url.expose(), options).await?)
        }
    };
    Ok(store)
}

/// Open and migrate: what `serve` and every CLI command do before touching data.
pub async fn open_migrated(
    config: &StorageConfig,
) -> Result<SharedStore, herald_store::StoreError> {
    let store = open(config).await?;
    store.migrate().await?;
    Ok(store)
}
