//! The TOML document as a spanned tree, and typed views of its parts.
//!
//! Each entry (a source, a rule, an action) is deserialized on its own, so one run reports
//! a problem in every entry instead of stopping at the first, and every value keeps its
//! place in the file for error messages.

use super::diagnostic::Diagnostic;
use crate::core::suggest::nearest;
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
    typed_among(item, &[])
}

/// An integration's section, typed: its defaults when the file has none or it has
/// problems (reported in `diagnostics`).
pub fn section<T: DeserializeOwned + Default>(
    item: Option<Item<'_>>,
    diagnostics: &mut super::diagnostic::Diagnostics,
) -> T {
    match item {
        Some(item) => diagnostics.take(typed(item)).unwrap_or_default(),
        None => T::default(),
    }
}

/// As [`typed`], for the part of a table a kind reads: an unknown key is also compared
/// with `others`, the keys the rest of the table takes (`timeout` for `tiemout`).
pub fn typed_among<T: DeserializeOwned>(item: Item<'_>, others: &[&str]) -> Result<T, Diagnostic> {
    let tree = item.clone();
    T::deserialize(item.into_deserializer())
        .map_err(|error| explain(error, &tree, others, super::keys::keys_of::<T>))
}

/// serde's message, made to say what to do: an unknown key (never "there are no fields")
/// with the nearest valid one; a missing key with the key that looks meant for it; an
/// unknown choice with the nearest one.
fn explain(
    error: toml::de::Error,
    tree: &Item<'_>,
    others: &[&str],
    keys: impl FnOnce() -> Vec<String>,
) -> Diagnostic {
    let message = error.message().trim();
    let span = error.span();
    let quoted = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((key, expected)) = rest.split_once('`')
    {
        let mut valid = quoted(expected);
        valid.extend(others.iter().map(|key| key.to_string()));
        valid.dedup();
        let help = match nearest(key, valid.iter().map(String::as_str)) {
            Some(near) => format!("did you mean `{near}`?"),
            None if valid.is_empty() => "this table takes no keys".to_string(),
            None => format!("valid keys: {}", valid.join(", ")),
        };
        return Diagnostic::error(span, format!("unknown key `{key}`")).with_help(help);
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        let span = span.unwrap_or_else(|| tree.span());
        let near = table_at(tree, &span, "").and_then(|(table, path)| {
            let valid = keys_under(&keys(), &path);
            near_miss(&table, field, &valid)
        });
        return match near {
            Some(near) => Diagnostic::error(
                span,
                format!(
                    "missing `{field}`; `{}` looks like it was meant",
                    near.get_ref()
                ),
            )
            .with_help(format!("rename `{}` to `{field}`", near.get_ref())),
            None => Diagnostic::error(span, format!("missing `{field}`")),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((choice, expected)) = rest.split_once('`')
    {
        let valid = quoted(expected);
        let mut diagnostic = Diagnostic::error(span, message.to_string());
        if let Some(near) = nearest(choice, valid.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_help(format!("did you mean `{near}`?"));
        }
        return diagnostic;
    }
    toml_error(error)
}

/// The table of `item` at `span`, and its dotted path (tables in lists have their list's).
fn table_at<'i>(item: &Item<'i>, span: &Range<usize>, path: &str) -> Option<(Table<'i>, String)> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match item.get_ref() {
        DeValue::Table(table) if item.span() == *span => Some((table.clone(), path.to_string())),
        DeValue::Table(table) => table
            .iter()
            .find_map(|(key, value)| table_at(value, span, &join(key.get_ref()))),
        DeValue::Array(values) => values.iter().find_map(|value| table_at(value, span, path)),
        _ => None,
    }
}

/// The keys directly under `path` among dotted `keys`.
fn keys_under(keys: &[String], path: &str) -> Vec<String> {
    keys.iter()
        .filter_map(|key| match path {
            "" => Some(key.as_str()),
            _ => key.strip_prefix(path)?.strip_prefix('.'),
        })
        .filter(|key| !key.contains('.'))
        .map(str::to_string)
        .collect()
}

/// The key of `table` that looks like a misspelling of `wanted`: none of `valid`, and the
/// nearest to it.
pub fn near_miss(table: &Table<'_>, wanted: &str, valid: &[String]) -> Option<Spanned<String>> {
    let unknown: Vec<_> = table
        .iter()
        .map(|(key, _)| key)
        .filter(|key| !valid.iter().any(|valid| valid == key.get_ref().as_ref()))
        .collect();
    let near = nearest(wanted, unknown.iter().map(|key| key.get_ref().as_ref()))?;
    unknown
        .into_iter()
        .find(|key| key.get_ref() == near)
        .map(|key| Spanned::new(key.span(), key.get_ref().to_string()))
}

/// `table` without `key`.
pub fn without<'i>(item: &Item<'i>, key: &str) -> Item<'i> {
    match item.get_ref() {
        DeValue::Table(table) => {
            let mut rest = Table::new();
            for (name, value) in table.iter().filter(|(name, _)| name.get_ref() != key) {
                rest.insert(name.clone(), value.clone());
            }
            Spanned::new(item.span(), DeValue::Table(rest))
        }
        _ => item.clone(),
    }
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
        .ok_or_else(|| match near_miss(table, "kind", &[]) {
            Some(near) => Diagnostic::error(
                span,
                format!(
                    "{what} has no `kind`; `{}` looks like it was meant",
                    near.get_ref()
                ),
            )
            .with_help(format!("rename `{}` to `kind`", near.get_ref())),
            None => Diagnostic::error(span, format!("{what} has no `kind`")),
        })?;
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
        assert_eq!(error.message, "unknown key `lisen`");
        assert_eq!(error.help.as_deref(), Some("did you mean `listen`?"));
        let span = error.span.unwrap();
        assert_eq!(&text[span], "lisen");
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Loose {
        secrets: Vec<String>,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Empty {}

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        channel: String,
    }

    fn first<T: DeserializeOwned + std::fmt::Debug>(text: &str, others: &[&str]) -> Diagnostic {
        let (root, errors) = parse(text);
        assert!(errors.is_empty());
        let (_, item) = entries(root.get_ref()).remove(0);
        typed_among::<T>(item, others).unwrap_err()
    }

    #[test]
    fn keys_are_explained_with_what_was_probably_meant() {
        // No "there are no fields": the keys the rest of the table takes are suggested.
        let error = first::<Empty>("[a]\ntiemout = \"1s\"\n", &["kind", "timeout"]);
        assert_eq!(error.message, "unknown key `tiemout`");
        assert_eq!(error.help.as_deref(), Some("did you mean `timeout`?"));
        let error = first::<Empty>("[a]\ncolour = 1\n", &[]);
        assert_eq!(error.help.as_deref(), Some("this table takes no keys"));

        // A missing key is reported at its table, naming the key that looks meant for it.
        let text = "[a]\nsecret = [\"x\"]\n";
        let error = first::<Loose>(text, &[]);
        assert_eq!(
            error.message,
            "missing `secrets`; `secret` looks like it was meant"
        );
        assert_eq!(&text[error.span.unwrap()], "[a]");
        let text = "[a]\nsecrets = []\nnested = { chanel = \"#c\" }\n";
        let error = first::<Loose>(text, &[]);
        assert_eq!(
            error.message,
            "missing `channel`; `chanel` looks like it was meant"
        );
        assert_eq!(&text[error.span.unwrap()], "{ chanel = \"#c\" }");
        let error = first::<Loose>("[a]\nother = 1\n", &[]);
        assert_eq!(error.message, "missing `secrets`");
    }

    #[test]
    fn syntax_errors_are_all_reported() {
        let (_, errors) = parse("a = \nb = [1,\n");
        assert!(!errors.is_empty());
        assert!(errors.iter().all(|e| e.span.is_some()));
    }
}
