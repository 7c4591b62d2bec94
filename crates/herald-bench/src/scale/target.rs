//! The store under test: a new SQLite file or a new PostgreSQL database, or one given by
//! URL; reopening it, its size, and dropping it afterwards.

use herald_store::SharedStore;
use herald_store::postgres::{PgOptions, PgStore};
use herald_store::sqlite::{SqliteOptions, SqliteStore};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, Row};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub enum Where {
    Sqlite {
        path: PathBuf,
        /// The temp dir holding a new file, removed with it.
        temp: Option<TempDir>,
    },
    Postgres {
        options: Box<PgConnectOptions>,
        /// The server's own database, to drop a new one from; None for a given database.
        admin: Option<Box<PgConnectOptions>>,
        name: String,
    },
}

pub struct Target {
    pub store: SharedStore,
    pub place: Where,
}

/// A store's size: in all, and per table with its indexes (and, on PostgreSQL, its TOAST).
pub struct Size {
    pub total: u64,
    /// (table, bytes of the table, bytes of its indexes)
    pub tables: Vec<(String, u64, u64)>,
}

impl Target {
    /// A new SQLite file in `dir` (a temp dir if None), migrated.
    pub async fn new_sqlite(dir: Option<PathBuf>) -> anyhow::Result<Target> {
        let (path, temp) = match dir {
            Some(dir) => (dir.join("herald-scale.db"), None),
            None => {
                let temp = tempfile::Builder::new().prefix("herald-scale").tempdir()?;
                (temp.path().join("herald-scale.db"), Some(temp))
            }
        };
        anyhow::ensure!(!path.exists(), "{} exists already", path.display());
        let place = Where::Sqlite { path, temp };
        let store = open(&place).await?;
        store.migrate().await?;
        Ok(Target { store, place })
    }

    /// A new database on the PostgreSQL server of `url`, migrated.
    pub async fn new_postgres(url: &str) -> anyhow::Result<Target> {
        let admin = PgConnectOptions::from_str(url)?;
        let name = format!("herald_scale_{}", uuid::Uuid::now_v7().simple());
        let mut conn = admin.connect().await?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await?;
        conn.close().await?;
        let place = Where::Postgres {
            options: Box::new(admin.clone().database(&name)),
            admin: Some(Box::new(admin)),
            name,
        };
        let store = open(&place).await?;
        store.migrate().await?;
        Ok(Target { store, place })
    }

    /// A new PostgreSQL database's URL for a herald configuration: `server_url`, the URL
    /// it was made from, with the new database's name as its path.
    pub fn postgres_url(&self, server_url: &str) -> anyhow::Result<String> {
        let Where::Postgres { name, .. } = &self.place else {
            anyhow::bail!("the store is not on PostgreSQL");
        };
        with_database(server_url, name)
    }

    /// Have PostgreSQL write a checkpoint now, so none falls due in a run that follows:
    /// one writes every page changed since the last, and page images to the log after.
    /// It needs a superuser or the `pg_checkpoint` role.
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        let Where::Postgres { options, .. } = &self.place else {
            return Ok(());
        };
        let mut conn = options.connect().await?;
        conn.execute("CHECKPOINT").await?;
        conn.close().await?;
        Ok(())
    }

    /// The store at `url` (SQLite path or PostgreSQL URL), kept afterwards.
    pub async fn existing(url: &str) -> anyhow::Result<Target> {
        let place = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let name = options.get_database().unwrap_or("postgres").to_string();
            Where::Postgres {
                options: Box::new(options),
                admin: None,
                name,
            }
        } else {
            Where::Sqlite {
                path: SqliteStore::path_from_url(url),
                temp: None,
            }
        };
        let store = open(&place).await?;
        Ok(Target { store, place })
    }

    pub fn backend(&self) -> &'static str {
        match self.place {
            Where::Sqlite { .. } => "sqlite",
            Where::Postgres { .. } => "postgres",
        }
    }

    pub fn describe(&self) -> String {
        match &self.place {
            Where::Sqlite { path, .. } => path.display().to_string(),
            Where::Postgres { name, .. } => format!("PostgreSQL database {name}"),
        }
    }

    /// Close every connection and open the store again, so the queries timed next start
    /// from herald's side cold (the operating system's cache stays as it is). On
    /// PostgreSQL, `VACUUM ANALYZE` first, as autovacuum would have done by then.
    /// Returns how long applying the migrations took.
    pub async fn reopen(&mut self) -> anyhow::Result<Duration> {
        self.store.close().await;
        if let Where::Postgres { options, .. } = &self.place {
            let mut conn = options.connect().await?;
            conn.execute("VACUUM ANALYZE").await?;
            conn.close().await?;
        }
        self.store = open(&self.place).await?;
        let started = Instant::now();
        self.store.migrate().await?;
        Ok(started.elapsed())
    }

    /// The store's size once compacted: SQLite after `VACUUM` (page_count × page_size, per
    /// table from `dbstat`), PostgreSQL after `VACUUM FULL` (`pg_table_size`, which counts
    /// TOAST, and `pg_indexes_size`). Closes the store.
    pub async fn size(&self) -> anyhow::Result<Size> {
        self.store.close().await;
        match &self.place {
            Where::Sqlite { path, .. } => sqlite_size(path).await,
            Where::Postgres { options, .. } => postgres_size(options).await,
        }
    }

    /// Drop a database the benchmark made, unless asked to keep it.
    pub async fn finish(self, keep: bool) -> anyhow::Result<()> {
        self.store.close().await;
        match self.place {
            Where::Sqlite {
                temp: Some(temp), ..
            } if keep => {
                let kept = temp.keep();
                eprintln!("kept {}", kept.join("herald-scale.db").display());
            }
            Where::Sqlite { .. } => {}
            Where::Postgres {
                admin: Some(admin),
                name,
                ..
            } => {
                if keep {
                    eprintln!("kept PostgreSQL database {name}");
                } else {
                    let mut conn = admin.connect().await?;
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    conn.execute(sqlx::AssertSqlSafe(sql)).await?;
                    conn.close().await?;
                }
            }
            Where::Postgres { admin: None, .. } => {}
        }
        Ok(())
    }
}

/// `server_url` naming the database `name` instead of its own, its options kept.
fn with_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(server_url)?;
    url.set_path(name);
    Ok(url.to_string())
}

async fn open(place: &Where) -> anyhow::Result<SharedStore> {
    Ok(match place {
        Where::Sqlite { path, .. } => {
            Arc::new(SqliteStore::open(path, SqliteOptions::default()).await?)
        }
        Where::Postgres { options, .. } => {
            Arc::new(PgStore::connect_with((**options).clone(), PgOptions::default()).await?)
        }
    })
}

async fn sqlite_size(path: &std::path::Path) -> anyhow::Result<Size> {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await?;
    conn.execute("VACUUM").await?;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&mut conn)
        .await?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut conn)
        .await?;
    let rows = sqlx::query(
        "SELECT m.tbl_name AS tbl, SUM(CASE WHEN m.type = 'table' THEN s.pgsize ELSE 0 END) AS t,
             SUM(CASE WHEN m.type = 'index' THEN s.pgsize ELSE 0 END) AS i
         FROM dbstat s JOIN sqlite_master m ON m.name = s.name
         GROUP BY m.tbl_name ORDER BY t + i DESC",
    )
    .fetch_all(&mut conn)
    .await?;
    conn.close().await?;
    let tables = rows
        .iter()
        .map(|row| {
            let (t, i): (i64, i64) = (row.try_get("t")?, row.try_get("i")?);
            Ok((row.try_get("tbl")?, t as u64, i as u64))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Size {
        total: (pages * page_size) as u64,
        tables,
    })
}

async fn postgres_size(options: &PgConnectOptions) -> anyhow::Result<Size> {
    let mut conn = options.connect().await?;
    conn.execute("VACUUM FULL").await?;
    let rows = sqlx::query(
        "SELECT c.relname::text AS tbl, pg_table_size(c.oid) AS t, pg_indexes_size(c.oid) AS i
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'
         ORDER BY pg_total_relation_size(c.oid) DESC",
    )
    .fetch_all(&mut conn)
    .await?;
    conn.close().await?;
    let tables: Vec<(String, u64, u64)> = rows
        .iter()
        .map(|row| {
            let (t, i): (i64, i64) = (row.try_get("t")?, row.try_get("i")?);
            Ok((row.try_get("tbl")?, t as u64, i as u64))
        })
        .collect::<anyhow::Result<_>>()?;
    let total = tables.iter().map(|(_, t, i)| t + i).sum();
    Ok(Size { total, tables })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_databases_url_keeps_the_servers_options() {
        let url = with_database("postgres://u:p@db.local:6543/test?sslmode=require", "fresh");
        assert_eq!(
            url.unwrap(),
            "postgres://u:p@db.local:6543/fresh?sslmode=require"
        );
        let bare = with_database("postgres://root@127.0.0.1:5432", "fresh").unwrap();
        assert_eq!(bare, "postgres://root@127.0.0.1:5432/fresh");
        assert!(with_database("not a url", "fresh").is_err());
    }
}
