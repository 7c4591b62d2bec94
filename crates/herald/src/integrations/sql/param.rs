//! A statement's parameters: each a template rendered as JSON, bound by its JSON type —
//! never written into the statement's text.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, Postgres};
use sqlx::sqlite::Sqlite;
use sqlx::{Database, Encode, Type};

/// One bound value.
#[derive(Clone, PartialEq)]
pub enum Param {
    /// `NULL`. On PostgreSQL it has no type of its own and takes the one the statement
    /// gives its place (a column's, a cast's).
    Null,
    /// SQLite stores 1 or 0; PostgreSQL `boolean`.
    Bool(bool),
    /// `bigint` (SQLite `INTEGER`).
    Int(i64),
    /// `double precision` (SQLite `REAL`).
    Float(f64),
    /// `text`; objects and arrays are bound as their JSON text.
    Text(String),
}

impl Param {
    /// The value a parameter's template rendered (`rendered` is JSON).
    pub fn from_rendered(rendered: &str) -> Result<Param, String> {
        let value: serde_json::Value = serde_json::from_str(rendered.trim()).map_err(|error| {
            format!(
                "it renders {:?}, which is not one JSON value ({error}); \
                 `{{{{ x }}}}` prints x as JSON: join text inside the braces, `{{{{ a ~ '-' ~ b }}}}`",
                cut(rendered, 60)
            )
        })?;
        Self::from_json(value)
    }

    pub fn from_json(value: serde_json::Value) -> Result<Param, String> {
        use serde_json::Value as Json;
        Ok(match value {
            Json::Null => Param::Null,
            Json::Bool(value) => Param::Bool(value),
            Json::Number(number) => match (number.as_i64(), number.as_f64()) {
                (Some(value), _) => Param::Int(value),
                (None, Some(_)) if number.is_u64() => {
                    return Err(format!(
                        "{number} does not fit a 64-bit integer: bind it as text, `{{{{ x | string }}}}`"
                    ));
                }
                (None, Some(value)) => Param::Float(value),
                (None, None) => return Err(format!("{number} is not a number SQL can hold")),
            },
            Json::String(text) => Param::Text(text),
            json @ (Json::Array(_) | Json::Object(_)) => Param::Text(json.to_string()),
        })
    }

    pub fn bind_sqlite<'q>(
        &self,
        query: sqlx::query::Query<'q, Sqlite, <Sqlite as Database>::Arguments>,
    ) -> sqlx::query::Query<'q, Sqlite, <Sqlite as Database>::Arguments> {
        match self {
            Param::Null => query.bind(None::<i64>),
            Param::Bool(value) => query.bind(*value),
            Param::Int(value) => query.bind(*value),
            Param::Float(value) => query.bind(*value),
            Param::Text(value) => query.bind(value.clone()),
        }
    }

    pub fn bind_postgres<'q>(
        &self,
        query: sqlx::query::Query<'q, Postgres, <Postgres as Database>::Arguments>,
    ) -> sqlx::query::Query<'q, Postgres, <Postgres as Database>::Arguments> {
        match self {
            Param::Null => query.bind(UntypedNull),
            Param::Bool(value) => query.bind(*value),
            Param::Int(value) => query.bind(*value),
            Param::Float(value) => query.bind(*value),
            Param::Text(value) => query.bind(value.clone()),
        }
    }
}

/// A NULL declared with no type (OID 0), so PostgreSQL gives it the type of its place: a
/// NULL bound as `text` would not go into an `integer` column.
struct UntypedNull;

impl Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(&self, _buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Ok(IsNull::Yes)
    }
}

/// How a value is shown: the JSON it was rendered from.
impl std::fmt::Debug for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may hold what `secret()` returned: only the shown twin is ever printed.
        f.write_str("Param([not shown])")
    }
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_types_become_sql_types() {
        let read = |text: &str| Param::from_rendered(text).unwrap();
        assert_eq!(read("null"), Param::Null);
        assert_eq!(read(" true "), Param::Bool(true));
        assert_eq!(read("-42"), Param::Int(-42));
        assert_eq!(read("1.5"), Param::Float(1.5));
        assert_eq!(
            read(r#""'); DROP TABLE users; --""#),
            Param::Text("'); DROP TABLE users; --".into())
        );
        assert_eq!(
            read(r#"{"a": [1, "b"]}"#),
            Param::Text(r#"{"a":[1,"b"]}"#.into())
        );
        assert_eq!(read("[]"), Param::Text("[]".into()));
    }

    #[test]
    fn what_is_not_one_json_value_is_refused_with_a_hint() {
        let error = Param::from_rendered(r#""user_1"-suffix"#).unwrap_err();
        assert!(error.contains("not one JSON value"), "{error}");
        assert!(error.contains("{{ a ~ '-' ~ b }}"), "{error}");
        let error = Param::from_rendered("18446744073709551615").unwrap_err();
        assert!(error.contains("64-bit"), "{error}");
        assert_eq!(
            format!("{:?}", Param::Text("hunter2".into())),
            "Param([not shown])"
        );
    }
}
