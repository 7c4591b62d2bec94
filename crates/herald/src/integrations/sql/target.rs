//! Where a `sql` action's secret says its database is: `sqlite://PATH` (relative to the
//! configuration file) or `postgres://…`, read when the configuration loads. Nothing here
//! ever shows the URL.

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Target {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

impl Target {
    /// How to reach the database `url` names. Errors never show it.
    pub fn parse(url: &str, config_dir: &Path) -> Result<Target, String> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() || path.starts_with(":memory:") || path.contains("mode=memory") {
                return Err("an in-memory SQLite database would be lost: name a file".into());
            }
            if path.contains('?') {
                return Err("a sqlite URL takes no options here: `sqlite://PATH`".into());
            }
            let options = SqliteConnectOptions::new()
                .filename(config_dir.join(path))
                .create_if_missing(true)
                .foreign_keys(true);
            return Ok(Target::Sqlite(options));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options: PgConnectOptions = url
                .parse()
                .map_err(|error| format!("not a PostgreSQL URL herald can use: {error}"))?;
            return Ok(Target::Postgres(options));
        }
        Err(
            "the secret must hold `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DATABASE`"
                .into(),
        )
    }

    pub fn backend(&self) -> Backend {
        match self {
            Target::Sqlite(_) => Backend::Sqlite,
            Target::Postgres(_) => Backend::Postgres,
        }
    }

    /// Open one connection outside any pool, and close it: what a pool's timeout hides.
    pub async fn connect_once(&self) -> Result<(), sqlx::Error> {
        match self {
            Target::Sqlite(options) => options.connect().await?.close().await,
            Target::Postgres(options) => options.connect().await?.close().await,
        }
    }
}

/// What of `url` must never be shown: itself, and its password as written and as sent.
/// Parts under 4 characters would blank out too much text around them, and are left.
pub fn hidden_parts(url: &str) -> Vec<String> {
    let mut hidden = vec![url.to_string()];
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(password) = parsed.password()
    {
        hidden.push(password.to_string());
        if let Ok(decoded) = percent_decode(password) {
            hidden.push(decoded);
        }
    }
    hidden.retain(|value| value.chars().count() >= 4);
    hidden.sort_by_key(|value| std::cmp::Reverse(value.len()));
    hidden
}

/// `%40` → `@`: a password as PostgreSQL receives it.
fn percent_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        });
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Target, String> {
        Target::parse(url, Path::new("/etc/herald"))
    }

    #[test]
    fn urls_name_the_backend_and_relative_sqlite_paths_follow_the_config() {
        let Ok(Target::Sqlite(options)) = parse("sqlite://data/app.db") else {
            panic!()
        };
        assert_eq!(options.get_filename(), Path::new("/etc/herald/data/app.db"));
        let Ok(Target::Sqlite(options)) = parse("sqlite:///var/app.db") else {
            panic!()
        };
        assert_eq!(options.get_filename(), Path::new("/var/app.db"));
        let postgres = parse("postgres://app:s3cr%40t@db.internal:5433/app").unwrap();
        assert_eq!(postgres.backend(), Backend::Postgres);
    }

    #[test]
    fn bad_urls_are_refused_without_showing_them() {
        for url in [
            "mysql://root:hunter22@x/db",
            "sqlite::memory:",
            "sqlite://a.db?mode=ro",
        ] {
            let error = parse(url).err().unwrap();
            assert!(
                !error.contains("hunter22") && !error.contains(url),
                "{error}"
            );
        }
    }

    #[test]
    fn the_url_and_its_password_are_hidden_as_written_and_as_sent() {
        let url = "postgres://app:s3cr%40t@db.internal/app";
        assert_eq!(hidden_parts(url), [url, "s3cr%40t", "s3cr@t"]);
        assert_eq!(
            hidden_parts("postgres://app:pw@h/db"),
            ["postgres://app:pw@h/db"]
        );
    }
}
