//! The database's errors, read into the shared `Outcome`: what the event's data or the
//! statements got wrong (a constraint, a type, the SQL itself) fails for good with the
//! database's own words; what the database's state or reach got wrong (a lost connection,
//! a pool that timed out, a locked file, a server shutting down) is retried on the
//! schedule; a refused password is a credential failure the monitors alert on.

use super::target::Backend;
use crate::action::Outcome;

/// A constraint a statement may violate, as `retry_on` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constraint {
    Unique,
    ForeignKey,
    NotNull,
    Check,
}

/// The constraint a database error reports violated, if any.
pub fn constraint(error: &sqlx::Error) -> Option<Constraint> {
    let sqlx::Error::Database(database) = error else {
        return None;
    };
    match database.kind() {
        sqlx::error::ErrorKind::UniqueViolation => Some(Constraint::Unique),
        sqlx::error::ErrorKind::ForeignKeyViolation => Some(Constraint::ForeignKey),
        sqlx::error::ErrorKind::NotNullViolation => Some(Constraint::NotNull),
        sqlx::error::ErrorKind::CheckViolation => Some(Constraint::Check),
        _ => None,
    }
}

/// What retrying can do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Transient,
    Permanent,
    Credential,
}

impl Class {
    pub fn outcome(self, error: String) -> Outcome {
        match self {
            Class::Transient => Outcome::transient(error),
            Class::Permanent => Outcome::permanent(error),
            Class::Credential => Outcome::Credential { error },
        }
    }
}

/// An error from sqlx, classified, in words.
pub fn read(error: &sqlx::Error, backend: Backend) -> (Class, String) {
    match error {
        sqlx::Error::Database(database) => {
            let code = database.code().unwrap_or_default();
            let class = match backend {
                Backend::Postgres => postgres_class(&code),
                Backend::Sqlite => code.parse().map_or(Class::Permanent, sqlite_class),
            };
            let mut message = database.message().to_string();
            if let Some(postgres) = database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                if let Some(detail) = postgres.detail() {
                    message.push_str(&format!(" ({detail})"));
                }
                message.push_str(&format!(" [SQLSTATE {code}]"));
            }
            (class, message)
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => (Class::Transient, error.to_string()),
        _ => (Class::Permanent, error.to_string()),
    }
}

/// PostgreSQL's SQLSTATE, by class (the first two characters).
pub fn postgres_class(sqlstate: &str) -> Class {
    match sqlstate.get(..2).unwrap_or_default() {
        // invalid authorization: a wrong password, a user that may not log in
        "28" => Class::Credential,
        // connection exception; invalid transaction state (a read-only standby after a
        // failover); database does not exist (yet); rollback (serialization failure,
        // deadlock); insufficient resources; object in use or lock not available; operator
        // intervention (shutdown, cancelled); system and internal errors
        "08" | "25" | "3D" | "40" | "53" | "55" | "57" | "58" | "XX" => Class::Transient,
        // integrity constraints (23), data (22), syntax and access (42), limits (54),
        // raised by a trigger (P0), and anything else: the same statement fails again
        _ => Class::Permanent,
    }
}

/// SQLite's (extended) result code, by its primary code.
pub fn sqlite_class(code: i32) -> Class {
    match code & 0xff {
        // BUSY, LOCKED, NOMEM, READONLY, INTERRUPT, IOERR, CORRUPT, FULL, CANTOPEN,
        // PROTOCOL, SCHEMA (changed meanwhile), NOTADB: the file, not the event
        5 | 6 | 7 | 8 | 9 | 10 | 11 | 13 | 14 | 15 | 17 | 26 => Class::Transient,
        // AUTH
        23 => Class::Credential,
        // ERROR (syntax, no such table), CONSTRAINT, MISMATCH, TOOBIG, RANGE, …
        _ => Class::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_errors_by_sqlstate() {
        for permanent in [
            "23505", "23503", "23502", "23514", "22P02", "42601", "42P01", "P0001",
        ] {
            assert_eq!(postgres_class(permanent), Class::Permanent, "{permanent}");
        }
        for transient in [
            "08006", "57P01", "40001", "40P01", "53300", "55P03", "25006", "3D000",
        ] {
            assert_eq!(postgres_class(transient), Class::Transient, "{transient}");
        }
        assert_eq!(postgres_class("28P01"), Class::Credential);
        assert_eq!(postgres_class(""), Class::Permanent);
    }

    #[test]
    fn sqlite_errors_by_primary_code() {
        // SQLITE_CONSTRAINT_UNIQUE, _FOREIGNKEY, _NOTNULL, _CHECK; ERROR; MISMATCH
        for permanent in [2067, 787, 1299, 275, 1, 20] {
            assert_eq!(sqlite_class(permanent), Class::Permanent, "{permanent}");
        }
        // BUSY, BUSY_SNAPSHOT, LOCKED, CANTOPEN, IOERR_WRITE, FULL
        for transient in [5, 517, 6, 14, 778, 13] {
            assert_eq!(sqlite_class(transient), Class::Transient, "{transient}");
        }
    }

    #[test]
    fn lost_connections_and_pool_timeouts_are_retried() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for error in [sqlx::Error::Io(refused), sqlx::Error::PoolTimedOut] {
            assert_eq!(read(&error, Backend::Postgres).0, Class::Transient);
        }
        let encode = sqlx::Error::Encode("bad".into());
        assert_eq!(read(&encode, Backend::Sqlite).0, Class::Permanent);
    }
}
