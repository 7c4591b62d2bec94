//! Checking a reference configuration against the code: every section, every kind (of
//! source, action and monitor) and every key each accepts must appear in it, so
//! `examples/reference.toml` cannot fall behind what herald reads.
//!
//! The check reads the text, not the TOML: a key counts when it is written or shown
//! commented out (`# url = "postgres://…"`), as alternatives are.

use super::{actions, load, monitors, rules, schedules, sections, sources, telemetry};
use crate::kit::Catalog;
use std::collections::BTreeMap;

/// What the reference must show: the keys of tables of `family` (`server`, `sources`),
/// or of those whose `kind` is `kind`.
#[derive(Debug, Clone)]
pub struct Expected {
    pub family: String,
    pub kind: Option<String>,
    pub keys: Vec<String>,
}

impl Expected {
    fn new(family: &str, kind: Option<&str>, keys: Vec<String>) -> Self {
        Expected {
            family: family.to_string(),
            kind: kind.map(str::to_string),
            keys,
        }
    }

    fn describe(&self) -> String {
        match &self.kind {
            Some(kind) => format!("[{}.*] of kind {kind:?}", self.family),
            None => format!("[{}]", self.family),
        }
    }
}

/// Everything herald built with `catalog` reads.
pub fn expected(catalog: &Catalog) -> Vec<Expected> {
    let mut all = Vec::new();
    for name in load::SECTIONS {
        all.push(Expected::new(name, None, Vec::new()));
    }
    for (name, keys) in sections::reference_keys() {
        all.push(Expected::new(name, None, keys));
    }
    all.push(Expected::new(
        "telemetry",
        None,
        telemetry::reference_keys(),
    ));
    for section in catalog.sections() {
        all.push(Expected::new(section.name, None, (section.options)()));
    }
    all.push(Expected::new("sources", None, sources::shared_keys()));
    for kind in catalog.sources() {
        all.push(Expected::new("sources", Some(kind.name), (kind.options)()));
    }
    for kind in catalog.pollers() {
        all.push(Expected::new("sources", Some(kind.name), (kind.options)()));
    }
    all.push(Expected::new("actions", None, actions::shared_keys()));
    for kind in catalog.actions() {
        all.push(Expected::new("actions", Some(kind.name), (kind.options)()));
    }
    all.push(Expected::new("rules", None, rules::reference_keys()));
    let (monitor_kinds, monitoring) = monitors::reference_keys();
    for (kind, keys) in monitor_kinds {
        all.push(Expected::new("monitors", Some(kind), keys));
    }
    all.push(Expected::new("monitoring", None, monitoring));
    all.push(Expected::new(
        "schedules",
        None,
        schedules::reference_keys(),
    ));
    all
}

/// What `reference` (the text of a configuration file) leaves out, one line each.
pub fn missing(reference: &str, catalog: &Catalog) -> Vec<String> {
    let tables = tables(reference);
    let mut missing = Vec::new();
    for expected in expected(catalog) {
        let text: String = tables
            .iter()
            .filter(|table| table.family == expected.family)
            .filter(|table| {
                expected
                    .kind
                    .as_ref()
                    .is_none_or(|kind| table.kind.as_ref() == Some(kind))
            })
            .map(|table| table.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        if text.is_empty() {
            missing.push(format!("no {} table", expected.describe()));
            continue;
        }
        for key in &expected.keys {
            if !mentions(&text, key) {
                missing.push(format!("{} does not show `{key}`", expected.describe()));
            }
        }
    }
    // A section with its own keys is listed twice; say so once.
    let mut seen = std::collections::BTreeSet::new();
    missing.retain(|line| seen.insert(line.clone()));
    missing
}

/// One table of the file (`[actions.post]` with its sub-tables), headers commented out
/// or not.
struct Table {
    family: String,
    kind: Option<String>,
    text: String,
}

fn tables(reference: &str) -> Vec<Table> {
    // Keyed by the first two parts of the header: `[rules.r.window]` belongs to `rules.r`.
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in reference.lines() {
        if let Some(header) = header(line) {
            let parts: Vec<&str> = header.split('.').collect();
            let id = parts.iter().take(2).copied().collect::<Vec<_>>().join(".");
            tables.entry(id.clone()).or_insert_with(|| Table {
                family: parts[0].to_string(),
                kind: None,
                text: String::new(),
            });
            current = Some(id);
        }
        let Some(table) = current.as_ref().and_then(|id| tables.get_mut(id)) else {
            continue;
        };
        if table.kind.is_none() {
            table.kind = kind(line);
        }
        table.text.push_str(line);
        table.text.push('\n');
    }
    tables.into_values().collect()
}

/// `[name]` or `# [name]`, without the brackets.
fn header(line: &str) -> Option<&str> {
    let line = line.trim_start().trim_start_matches('#').trim();
    let inner = line.strip_prefix('[')?.split(']').next()?;
    let is_name = !inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    is_name.then_some(inner)
}

/// `kind = "slack"` (not commented out) names the table's kind.
fn kind(line: &str) -> Option<String> {
    let (key, value) = line.split_once('=')?;
    if key.trim() != "kind" {
        return None;
    }
    let value = value.trim_start().strip_prefix('"')?;
    Some(value.split('"').next()?.to_string())
}

/// Whether `text` sets `key` (its last part, for a nested key): `key =` after a line
/// start, space, `{`, `,` or `#`, or `.key]` in a header.
fn mentions(text: &str, key: &str) -> bool {
    let name = key.rsplit('.').next().unwrap_or(key);
    let quoted = format!("\"{name}\"");
    text.lines().any(|line| {
        line.contains(&format!(".{name}]"))
            || [name, quoted.as_str()].iter().any(|name| {
                line.match_indices(name).any(|(at, _)| {
                    let before = line[..at].chars().next_back();
                    let after = line[at + name.len()..].trim_start();
                    before.is_none_or(|c| " \t{,#".contains(c)) && after.starts_with('=')
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_count_when_set_commented_or_inline() {
        let text =
            "[a]\nplain = 1\n# shown = 2\nretry = { schedule = [], jitter = 0.1 }\n[a.window]\n";
        for key in ["plain", "shown", "retry.schedule", "retry.jitter", "window"] {
            assert!(mentions(text, key), "{key}");
        }
        for key in ["absent", "lain", "schedul"] {
            assert!(!mentions(text, key), "{key}");
        }
    }

    #[test]
    fn sub_tables_belong_to_their_table_and_kinds_are_read() {
        let text = "[actions.post]\nkind = \"slack\"\n[actions.post.retry]\nschedule = []\n# [storage]\n# url = \"x\"\n";
        let tables = tables(text);
        assert_eq!(tables.len(), 2);
        let post = tables.iter().find(|t| t.family == "actions").unwrap();
        assert_eq!(post.kind.as_deref(), Some("slack"));
        assert!(mentions(&post.text, "schedule"));
        let storage = tables.iter().find(|t| t.family == "storage").unwrap();
        assert!(mentions(&storage.text, "url"));
    }
}
