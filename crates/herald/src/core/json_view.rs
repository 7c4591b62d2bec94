//! A JSON document as templates see it, read where a template looks rather than copied:
//! `Value::from(Serde(&payload))` rebuilt every object, key and string of a payload as
//! template values for each delivery, though most templates read a few fields of it.
//! A node that is iterated or serialized (`{{ event }}`, a loop) is copied then, once:
//! every field of it is read anyway, and reading them from a copy is twice as fast.

use herald_store::model::Document;
use minijinja::value::{Enumerator, Object, ObjectRepr, Serde, Value};
use serde_json::Value as Json;
use std::sync::{Arc, OnceLock};

/// `document` as a template value: a scalar as it is, an object or array as a view of it.
/// It behaves as the copy did (a map in key order, a sequence, the same scalars). A
/// document still unparsed stays so until a template reads into it.
pub fn json_value(document: Arc<Document>) -> Value {
    let view = JsonView::new(document, Vec::new());
    if !view.document.is_parsed() && opens_container(view.document.text().as_str()) {
        return Value::from_object(view);
    }
    view.into_value()
}

/// Whether JSON text is an object or an array, from its first character.
fn opens_container(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['))
}

/// An object or array inside a shared document, found by the keys and indices leading to
/// it.
#[derive(Debug)]
struct JsonView {
    document: Arc<Document>,
    path: Vec<Step>,
    /// The node as template values, once it has been iterated.
    copy: OnceLock<Value>,
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// What a step that finds nothing reads (paths are made from nodes that exist, and the
/// document never changes, so this is not reached).
static MISSING: Json = Json::Null;

impl JsonView {
    fn new(document: Arc<Document>, path: Vec<Step>) -> JsonView {
        JsonView {
            document,
            path,
            copy: OnceLock::new(),
        }
    }

    fn node(&self) -> &Json {
        self.path.iter().fold(self.document.value(), |node, step| {
            let next = match step {
                Step::Key(key) => node.get(key.as_str()),
                Step::Index(index) => node.get(*index),
            };
            next.unwrap_or(&MISSING)
        })
    }

    fn into_value(self) -> Value {
        match self.node() {
            Json::Object(_) | Json::Array(_) => Value::from_object(self),
            scalar => scalar_value(scalar),
        }
    }

    /// The child `node` of this view, reached by `step`.
    fn child(&self, node: &Json, step: impl FnOnce() -> Step) -> Value {
        match node {
            Json::Object(_) | Json::Array(_) => {
                let mut path = Vec::with_capacity(self.path.len() + 1);
                path.extend(self.path.iter().cloned());
                path.push(step());
                Value::from_object(JsonView::new(self.document.clone(), path))
            }
            scalar => scalar_value(scalar),
        }
    }

    fn field(&self, key: &str) -> Option<Value> {
        if let Some(copy) = self.copy.get() {
            return item(copy, &Value::from(key));
        }
        let Json::Object(map) = self.node() else {
            return None;
        };
        let node = map.get(key)?;
        Some(self.child(node, || Step::Key(key.to_string())))
    }
}

/// `key` of a copied node; None where it has none.
fn item(copy: &Value, key: &Value) -> Option<Value> {
    copy.get_item(key)
        .ok()
        .filter(|value| !value.is_undefined())
}

/// A scalar as serde would have made it: integers keep their sign, others are floats.
fn scalar_value(scalar: &Json) -> Value {
    match scalar {
        Json::Bool(flag) => Value::from(*flag),
        Json::Number(number) => match (number.as_u64(), number.as_i64()) {
            (Some(unsigned), _) => Value::from(unsigned),
            (None, Some(signed)) => Value::from(signed),
            (None, None) => Value::from(number.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(text) => Value::from(text.as_str()),
        Json::Null | Json::Object(_) | Json::Array(_) => Value::from(()),
    }
}

impl Object for JsonView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.node() {
            Json::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.node() {
            Json::Object(_) => self.field(key.as_str()?),
            Json::Array(items) => {
                let index = key.as_usize()?;
                match self.copy.get() {
                    Some(copy) => item(copy, &Value::from(index)),
                    None => Some(self.child(items.get(index)?, || Step::Index(index))),
                }
            }
            _ => None,
        }
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.field(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let node = self.node();
        // Every item is read next: read them from a copy (see the module's note).
        self.copy.get_or_init(|| Value::from(Serde(node)));
        match node {
            Json::Object(map) => {
                Enumerator::Values(map.keys().map(|key| Value::from(key.as_str())).collect())
            }
            Json::Array(items) => Enumerator::Seq(items.len()),
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.node() {
            Json::Object(map) => Some(map.len()),
            Json::Array(items) => Some(items.len()),
            _ => Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::Environment;
    use minijinja::value::Serde;
    use serde_json::json;

    /// Each template renders the same against the view as against a copy of the document.
    #[test]
    fn templates_see_the_view_as_they_saw_the_copy() {
        let document = json!({
            "ref": "refs/heads/main",
            "after": "a9f3",
            "forced": false,
            "size": 3,
            "delta": -2,
            "ratio": 0.5,
            "huge": u64::MAX,
            "none": null,
            "commits": [
                {"id": "c1", "message": "fix", "added": ["a.rs"], "author": {"name": "Ada"}},
                {"id": "c2", "message": "test", "added": [], "author": {"name": "Bo"}},
            ],
            "repository": {"full_name": "acme/api", "private": true, "topics": []},
            "zeta": {"b": 1, "a": 2},
        });
        let templates = [
            "{{ event.ref }} {{ event.after }} {{ event.forced }} {{ event.size + 1 }}",
            "{{ event.delta }} {{ event.ratio * 2 }} {{ event.huge }} {{ event.none }}",
            "{{ event.commits | length }} {{ event.commits[0].id }} {{ event.commits[-1].id }}",
            "{% for c in event.commits %}{{ loop.index }}:{{ c.author.name }};{% endfor %}",
            "{{ event.commits | map(attribute='id') | join(',') }}",
            "{{ event.commits[:1] | map(attribute='message') | list }}",
            "{{ event.commits | selectattr('added') | map(attribute='id') | list }}",
            "{{ event | tojson }}",
            "{{ event.repository }} {{ event.zeta | tojson }} {{ event.commits[1] }}",
            "{{ event.repository.topics | length }} {{ 'topics' in event.repository }}",
            "{{ event.missing is undefined }} {{ event.commits[5] is undefined }}",
            "{{ event.repository is mapping }} {{ event.commits is sequence }}",
            "{% if event.repository.topics %}yes{% else %}no{% endif %}",
            "{% for k, v in event.zeta | items %}{{ k }}={{ v }} {% endfor %}",
            "{{ event.zeta | dictsort | list }} {{ event.commits | first | tojson }}",
            "{{ event['repository']['full_name'] }} {{ event.repository == event.repository }}",
            "{{ event.size == 3 }} {{ event.huge > 1 }} {{ event.ratio is float }}",
        ];
        let env = Environment::new();
        let view = json_value(parsed(document.clone()));
        let unparsed = json_value(as_text(&document));
        let copy = Value::from(Serde(&document));
        for template in templates {
            let render = |event: &Value| {
                env.render_str(template, minijinja::context! { event => event.clone() })
                    .unwrap()
            };
            assert_eq!(render(&view), render(&copy), "{template}");
            assert_eq!(render(&unparsed), render(&copy), "{template}");
        }
    }

    /// Once a node has been iterated (and copied), field and index reads come from the
    /// copy and still find what the document holds, and nothing it does not.
    #[test]
    fn reads_after_an_iteration_come_from_the_copy() {
        let document = json!({"commits": [{"id": "c1"}, {"id": "c2"}], "ref": "main"});
        let env = Environment::new();
        let template = "{% for k in event %}{{ k }},{% endfor %}{{ event.ref }} \
            {{ event.missing is undefined }} {% for c in event.commits %}{{ c.id }}{% endfor %} \
            {{ event.commits[1].id }} {{ event.commits[-1].id }} {{ event.commits[2] is undefined }}";
        let rendered = env
            .render_str(
                template,
                minijinja::context! { event => json_value(parsed(document)) },
            )
            .unwrap();
        assert_eq!(rendered, "commits,ref,main True c1c2 c2 c2 True");
    }

    #[test]
    fn a_scalar_document_is_a_plain_value() {
        assert_eq!(json_value(parsed(json!("text"))), Value::from("text"));
        assert_eq!(json_value(parsed(json!(7))), Value::from(7u64));
        assert!(json_value(parsed(json!(null))).is_none());
    }

    /// A document kept as text is parsed when a template reads into it, not before.
    #[test]
    fn a_text_document_is_parsed_only_when_read_into() {
        let document = as_text(&json!({"ref": "main", "size": 3}));
        let env = Environment::new();
        let context = minijinja::context! { event => json_value(document.clone()), id => 7 };
        assert_eq!(env.render_str("{{ id }}", context.clone()).unwrap(), "7");
        assert!(!document.is_parsed());
        assert_eq!(env.render_str("{{ event.ref }}", context).unwrap(), "main");
        assert!(document.is_parsed());
        assert_eq!(json_value(as_text(&json!("text"))), Value::from("text"));
        assert_eq!(json_value(as_text(&json!([1]))).len(), Some(1));
    }

    fn parsed(value: Json) -> Arc<Document> {
        Arc::new(Document::from_value(value))
    }

    fn as_text(value: &Json) -> Arc<Document> {
        let text = serde_json::value::RawValue::from_string(value.to_string()).unwrap();
        Arc::new(Document::from_text(
            herald_store::model::JsonText::from_raw(text),
        ))
    }
}
