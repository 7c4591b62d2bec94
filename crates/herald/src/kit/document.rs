//! The TOML document as a spanned tree, and typed views of its parts.
//!
//! Each entry (a source, a rule, an action) is deserialized on its own, so one run reports
//! a problem in every entry instead of stopping at the first, and every value keeps its
//! place in the file for error messages.

use super::diagnostic::Diagnostic;
use serde::de::{DeserializeOwned, IntoDeserializer};
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub type Table<'i> = DeTable<'i>;
pub type Item<'i> = Spanned<DeValue<'i>>;

/// Parse the file into a spanned tree, with every syntax error found.
pub fn parse(text: &str) -> (Spanned<Table<'_>>, Vec<Diagnostic>) {
    let (root, errors) = DeTable::parse_recoverable(text);
    let diagnostics = errors.into_iter().map(toml_error).collect();
    (root, diagnostics)
}

pub fn toml_error(error: toml::de::Error) -> Diagnostic {
    Diagnostic::error(error.span(), error.message().trim().to_string())
}

/// Deserialize one value into `T`; errors point at the offending key or value.
pub fn typed<T: DeserializeOwned>(item: Item<'_>) -> Result<T, Diagnostic> {
    T::deserialize(item.into_deserializer()).map_err(toml_error)
}

/// The entries of a table, in file order.
pub fn entries<'i>(table: &Table<'i>) -> Vec<(Spanned<String>, Item<'i>)> {
    let mut entries: Vec<_> = table
        .iter()
        .map(|(key, value)| {
            let name = Spanned::new(key.span(), key.get_ref().to_string());
            (name, value.clone())
        })
        .collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// A value that must be a table, e.g. `[sources.github]`.
pub fn table<'i>(item: &Item<'i>, what: &str) -> Result<Table<'i>, Diagnostic> {
    match item.get_ref() {
        DeValue::Table(table) => Ok(table.clone()),
        other => Err(Diagnostic::error(
            item.span(),
            format!("{what} must be a table, found {}", other.type_str()),
        )),
    }
}

/// Split a table into the keys every kind shares and the kind's own keys.
pub fn split<'i>(
    table: &Table<'i>,
    span: Range<usize>,
    shared_keys: &[&str],
) -> (Item<'i>, Item<'i>) {
    let mut shared = Table::new();
    let mut own = Table::new();
    for (key, value) in table.iter() {
        if shared_keys.contains(&key.get_ref().as_ref()) {
            shared.insert(key.clone(), value.clone());
        } else {
            own.insert(key.clone(), value.clone());
        }
    }
    (
        Spanned::new(span.clone(), DeValue::Table(shared)),
        Spanned::new(span, DeValue::Table(own)),
    )
}

/// The `kind` of an entry, required.
pub fn kind(
    table: &Table<'_>,
    span: Range<usize>,
    what: &str,
) -> Result<Spanned<String>, Diagnostic> {
    let (_, value) = table
        .iter()
        .find(|(key, _)| key.get_ref() == "kind")
        .ok_or_else(|| Diagnostic::error(span, format!("{what} has no `kind`")))?;
    match value.get_ref().as_str() {
        Some(kind) => Ok(Spanned::new(value.span(), kind.to_string())),
        None => Err(Diagnostic::error(value.span(), "`kind` must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Server {
        listen: Spanned<String>,
    }

    #[test]
    fn typed_values_keep_spans_and_unknown_keys_point_at_the_key() {
        let text = "[server]\nlisten = \"x\"\nlisen = 1\n";
        let (root, errors) = parse(text);
        assert!(errors.is_empty());
        let (_, server) = entries(root.get_ref()).remove(0);
        let error = typed::<Server>(server).unwrap_err();
        assert!(
            error.message.contains("unknown field `lisen`"),
            "{}",
            error.message
        );
        let span = error.span.unwrap();
        assert_eq!(&text[span], "lisen");
    }

    #[test]
    fn syntax_errors_are_all_reported() {
        let (_, errors) = parse("a = \nb = [1,\n");
        assert!(!errors.is_empty());
        assert!(errors.iter().all(|e| e.span.is_some()));
    }
}
