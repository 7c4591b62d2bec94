//! The database a `sql` action writes to: read from its secret when the configuration
//! loads, a pool made on first use with the action's `schema` applied once, each
//! delivery's statements run in one transaction.

use super::errors::{self, Class, Constraint};
use super::param::Param;
use super::target::{self, Backend, Target};
use crate::action::Outcome;
use crate::secret::Secret;
use serde_json::json;
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Connections to one PostgreSQL database per action and process.
const POSTGRES_CONNECTIONS: u32 = 4;

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// One statement with its values.
#[derive(Debug, Clone)]
pub struct Bound {
    pub sql: Arc<str>,
    pub values: Vec<Param>,
}

pub struct Database {
    /// The secret's name: what is shown of the database.
    name: String,
    target: Target,
    schema: Option<Arc<str>>,
    timeout: Duration,
    pool: OnceCell<Pool>,
    /// Violations retried on the schedule rather than failing for good (a row that
    /// references one not written yet).
    retry_on: Vec<Constraint>,
    /// The URL and its password, taken out of any error text before it is shown.
    hidden: Vec<String>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({:?}, {})", self.name, self.backend().name())
    }
}

impl Database {
    /// The database `secret` names: `sqlite://PATH` (relative to `config_dir`) or
    /// `postgres://…`. Errors never show the secret's value.
    pub fn new(
        secret: &Secret,
        config_dir: &Path,
        schema: Option<String>,
        timeout: Duration,
    ) -> Result<Database, String> {
        let url = secret.expose().trim();
        Ok(Database {
            name: secret.name().to_string(),
            target: Target::parse(url, config_dir)?,
            schema: schema.map(Arc::from),
            timeout,
            pool: OnceCell::new(),
            retry_on: Vec::new(),
            hidden: target::hidden_parts(url),
        })
    }

    /// Retry violations of these constraints instead of failing for good.
    pub fn retrying(self, retry_on: Vec<Constraint>) -> Self {
        Database { retry_on, ..self }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn backend(&self) -> Backend {
        self.target.backend()
    }

    /// Run `statements` in one transaction: all of them, or none. Done with the rows each
    /// changed; a failure is classified (see `errors`). Everything, connecting included,
    /// ends within the action's timeout.
    pub async fn run(&self, statements: &[Bound]) -> Outcome {
        let (class, error) =
            match tokio::time::timeout(self.timeout, self.transaction(statements)).await {
                Ok(Ok(rows)) => {
                    return Outcome::Done {
                        facts: json!({ "rows_affected": rows }),
                    };
                }
                Ok(Err(failure)) => failure.read(self.backend(), &self.retry_on),
                Err(_) => (
                    Class::Transient,
                    format!(
                        "no answer from the database within {} (the action's timeout)",
                        humantime::format_duration(self.timeout)
                    ),
                ),
            };
        class.outcome(self.hide(error))
    }

    async fn transaction(&self, statements: &[Bound]) -> Result<Vec<u64>, Failure> {
        let mut rows = Vec::with_capacity(statements.len());
        match self.pool().await? {
            Pool::Sqlite(pool) => {
                // IMMEDIATE takes the write lock now, waiting for it (busy_timeout) rather
                // than failing when a read transaction has to become a write.
                let begun = pool.begin_with("BEGIN IMMEDIATE").await;
                let mut tx = self.explained(begun, During::Begin).await?;
                for (n, statement) in statements.iter().enumerate() {
                    let query = sqlx::query(AssertSqlSafe(statement.sql.clone()));
                    let query = statement
                        .values
                        .iter()
                        .fold(query, |query, value| value.bind_sqlite(query));
                    let done = query
                        .execute(&mut *tx)
                        .await
                        .map_err(Failure::at(During::Statement(n)))?;
                    rows.push(done.rows_affected());
                }
                tx.commit().await.map_err(Failure::at(During::Commit))?;
            }
            Pool::Postgres(pool) => {
                let mut tx = self.explained(pool.begin().await, During::Begin).await?;
                for (n, statement) in statements.iter().enumerate() {
                    // Prepared afresh with each call's value types (sqlx would otherwise
                    // reuse the types of the first call: a NULL, then a number).
                    let query = sqlx::query(AssertSqlSafe(statement.sql.clone())).persistent(false);
                    let query = statement
                        .values
                        .iter()
                        .fold(query, |query, value| value.bind_postgres(query));
                    let done = query
                        .execute(&mut *tx)
                        .await
                        .map_err(Failure::at(During::Statement(n)))?;
                    rows.push(done.rows_affected());
                }
                tx.commit().await.map_err(Failure::at(During::Commit))?;
            }
        }
        Ok(rows)
    }

    /// The pool, made on first use; the schema is applied before it is first used, once
    /// per process (again after a failure).
    async fn pool(&self) -> Result<&Pool, Failure> {
        self.pool
            .get_or_try_init(|| async {
                let pool = match &self.target {
                    // One connection: SQLite has one writer anyway, and deliveries wait
                    // their turn in the pool rather than on the file's lock.
                    Target::Sqlite(options) => Pool::Sqlite(
                        SqlitePoolOptions::new()
                            .max_connections(1)
                            .acquire_timeout(self.timeout / 2)
                            .connect_lazy_with(options.clone()),
                    ),
                    Target::Postgres(options) => Pool::Postgres(
                        PgPoolOptions::new()
                            .max_connections(POSTGRES_CONNECTIONS)
                            .acquire_timeout(self.timeout / 2)
                            .connect_lazy_with(options.clone()),
                    ),
                };
                if let Some(schema) = &self.schema {
                    let schema = sqlx::raw_sql(AssertSqlSafe(schema.clone()));
                    let applied = match &pool {
                        Pool::Sqlite(pool) => schema.execute(pool).await.map(drop),
                        Pool::Postgres(pool) => schema.execute(pool).await.map(drop),
                    };
                    self.explained(applied, During::Schema).await?;
                    tracing::info!(database = %self.name, "Applied the sql action's schema");
                }
                Ok(pool)
            })
            .await
    }

    /// `result`, its error at `during`. A pool that timed out waiting for a connection
    /// does not say why (sqlx retries a refused connection until then): one direct
    /// attempt, within a quarter of the timeout, finds the cause.
    async fn explained<T>(
        &self,
        result: Result<T, sqlx::Error>,
        during: During,
    ) -> Result<T, Failure> {
        let error = match result {
            Ok(value) => return Ok(value),
            Err(sqlx::Error::PoolTimedOut) => {
                let connect = self.target.connect_once();
                match tokio::time::timeout(self.timeout / 4, connect).await {
                    Ok(Err(cause)) => cause,
                    _ => sqlx::Error::PoolTimedOut,
                }
            }
            Err(error) => error,
        };
        Err(Failure { during, error })
    }

    fn hide(&self, mut text: String) -> String {
        for value in &self.hidden {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), "[redacted]");
            }
        }
        text
    }
}

/// Where a transaction failed.
#[derive(Debug, Clone, Copy)]
enum During {
    Schema,
    Begin,
    Statement(usize),
    Commit,
}

struct Failure {
    during: During,
    error: sqlx::Error,
}

impl Failure {
    fn at(during: During) -> impl FnOnce(sqlx::Error) -> Failure {
        move |error| Failure { during, error }
    }

    fn read(&self, backend: Backend, retry_on: &[Constraint]) -> (Class, String) {
        let (mut class, mut message) = errors::read(&self.error, backend);
        if let Some(constraint) = errors::constraint(&self.error)
            && retry_on.contains(&constraint)
        {
            class = Class::Transient;
            message.push_str(" (retried: `retry_on`)");
        }
        match self.during {
            // The schema is configuration, not the event: whatever fails it is retried
            // (after the fix), unless the credential was refused.
            During::Schema if class == Class::Credential => {
                (class, format!("applying the schema: {message}"))
            }
            During::Schema => (Class::Transient, format!("applying the schema: {message}")),
            During::Begin => (class, format!("beginning the transaction: {message}")),
            During::Statement(n) => (class, format!("statement {}: {message}", n + 1)),
            During::Commit => (class, format!("committing: {message}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_show_the_url_or_its_password() {
        let secret = Secret::new("app_db", "postgres://app:s3cr%40t@db.internal/app");
        let db = Database::new(&secret, Path::new("/"), None, Duration::from_secs(5)).unwrap();
        let shown = db
            .hide("password s3cr@t and s3cr%40t at postgres://app:s3cr%40t@db.internal/app".into());
        assert_eq!(shown, "password [redacted] and [redacted] at [redacted]");
        assert_eq!(format!("{db:?}"), r#"Database("app_db", postgres)"#);
    }
}
