//! Dotted paths into JSON (`list_metadata.after`, `data.0.id`): where a poller finds the
//! items of a page, the next cursor, and each item's id, type and time.

use serde_json::Value;

/// A path as configured, split once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    text: String,
    parts: Vec<String>,
}

impl Path {
    /// None for an empty path or an empty part (`a..b`).
    pub fn parse(text: &str) -> Option<Path> {
        let parts: Vec<String> = text.split('.').map(str::to_string).collect();
        if parts.iter().any(String::is_empty) {
            return None;
        }
        Some(Path {
            text: text.to_string(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path; an array is indexed by a number part.
    pub fn get<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.parts
            .iter()
            .try_fold(value, |value, part| match value {
                Value::Object(map) => map.get(part),
                Value::Array(items) => items.get(part.parse::<usize>().ok()?),
                _ => None,
            })
    }

    /// The value as text: a string, or a number written out. Null, absent, empty or any
    /// other type is None.
    pub fn text(&self, value: &Value) -> Option<String> {
        match self.get(value)? {
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_walk_objects_and_arrays() {
        let answer =
            json!({"list_metadata": {"after": "event_2", "before": null}, "data": [{"id": 7}]});
        let after = Path::parse("list_metadata.after").unwrap();
        assert_eq!(after.text(&answer).as_deref(), Some("event_2"));
        let before = Path::parse("list_metadata.before").unwrap();
        assert_eq!(before.text(&answer), None, "null is no cursor");
        let id = Path::parse("data.0.id").unwrap();
        assert_eq!(id.text(&answer).as_deref(), Some("7"));
        assert_eq!(Path::parse("data.1.id").unwrap().get(&answer), None);
        assert_eq!(Path::parse("missing.after").unwrap().text(&answer), None);
        assert_eq!(Path::parse("data").unwrap().text(&answer), None);
    }

    #[test]
    fn empty_parts_are_refused() {
        for bad in ["", ".", "a..b", "a."] {
            assert_eq!(Path::parse(bad), None, "{bad}");
        }
    }
}
