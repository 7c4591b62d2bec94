//! Which rules an event matches, and so which deliveries it creates.

use super::template::{ExprRef, RenderError, TemplateEngine};
use minijinja::value::Value;

/// The source of herald's own events (monitor alerts). `*` does not include it, so a
/// catch-all rule cannot feed alerts back into the destinations they are about.
pub const HERALD_SOURCE: &str = "herald";

/// A validated rule: sources, event type globs, an optional filter, and its actions.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// Source names; `*` matches every source.
    pub sources: Vec<String>,
    pub events: Vec<glob::Pattern>,
    pub filter: Option<ExprRef>,
    pub actions: Vec<String>,
    /// Gather matching events and run the actions once per flush, instead of per event.
    pub window: Option<super::window::WindowSpec>,
}

impl Rule {
    fn accepts(&self, source: &str, event_type: &str) -> bool {
        self.sources
            .iter()
            .any(|s| s == source || (s == "*" && source != HERALD_SOURCE))
            && self.events.iter().any(|glob| glob.matches(event_type))
    }
}

/// One (rule, action) pair an event must be delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'a> {
    pub rule: &'a str,
    pub action: &'a str,
}

#[derive(Debug, Default)]
pub struct Routing<'a> {
    pub matches: Vec<Match<'a>>,
    /// Rules whose filter failed on this event; they do not match.
    pub errors: Vec<(&'a str, RenderError)>,
}

/// Match an event against every rule. `context` is built only if a filter needs it.
pub fn route<'a>(
    rules: &'a [Rule],
    engine: &TemplateEngine,
    source: &str,
    event_type: &str,
    context: impl FnOnce() -> Value,
) -> Routing<'a> {
    let mut routing = Routing::default();
    let mut context = LazyContext::new(context);
    for rule in rules.iter().filter(|rule| rule.accepts(source, event_type)) {
        if let Some(filter) = &rule.filter {
            match engine.is_true(filter, context.get()) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => {
                    routing.errors.push((&rule.name, error));
                    continue;
                }
            }
        }
        routing
            .matches
            .extend(rule.actions.iter().map(|action| Match {
                rule: &rule.name,
                action,
            }));
    }
    routing
}

/// Why a rule did or did not match one event: "Why didn't this rule fire?".
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Explanation {
    pub rule: String,
    pub matched: bool,
    /// In words: the first reason it did not match, or what made it match.
    pub reason: String,
    /// The filter's value on this event, or its error; none without a filter or when the
    /// source or type already ruled the rule out.
    pub filter: Option<FilterValue>,
    pub actions: Vec<String>,
}

/// What a rule's filter said of an event: `{"value": false}` or `{"error": "…"}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterValue {
    Value(bool),
    Error(String),
}

/// Every rule, with why it did or did not match an event of `source` and `event_type`:
/// the same decisions `route` makes, explained.
pub fn explain(
    rules: &[Rule],
    engine: &TemplateEngine,
    source: &str,
    event_type: &str,
    context: &Value,
) -> Vec<Explanation> {
    rules
        .iter()
        .map(|rule| {
            let (matched, reason, filter) = judge(rule, engine, source, event_type, context);
            Explanation {
                rule: rule.name.clone(),
                matched,
                reason,
                filter,
                actions: rule.actions.clone(),
            }
        })
        .collect()
}

type Judgement = (bool, String, Option<FilterValue>);

fn judge(
    rule: &Rule,
    engine: &TemplateEngine,
    source: &str,
    event_type: &str,
    context: &Value,
) -> Judgement {
    let sources = rule.sources.join(", ");
    if !rule
        .sources
        .iter()
        .any(|s| s == source || (s == "*" && source != HERALD_SOURCE))
    {
        let reason = match source == HERALD_SOURCE && rule.sources.iter().any(|s| s == "*") {
            true => "`*` does not include herald's own source: name `herald`".to_string(),
            false => format!("source `{source}` is not one of its sources ({sources})"),
        };
        return (false, reason, None);
    }
    let Some(pattern) = rule.events.iter().find(|glob| glob.matches(event_type)) else {
        let patterns: Vec<&str> = rule.events.iter().map(glob::Pattern::as_str).collect();
        let reason = format!(
            "type `{event_type}` matches none of its events ({})",
            patterns.join(", ")
        );
        return (false, reason, None);
    };
    let matched_by = format!("source `{source}` and type `{event_type}` (`{pattern}`)");
    let Some(filter) = &rule.filter else {
        return (true, format!("{matched_by}; no filter"), None);
    };
    match engine.is_true(filter, context) {
        Ok(true) => (
            true,
            format!("{matched_by}; its filter is true"),
            Some(FilterValue::Value(true)),
        ),
        Ok(false) => (
            false,
            format!("{matched_by}, but its filter is false"),
            Some(FilterValue::Value(false)),
        ),
        Err(error) => (
            false,
            format!("{matched_by}, but its filter failed: {error}"),
            Some(FilterValue::Error(error.to_string())),
        ),
    }
}

struct LazyContext<F> {
    build: Option<F>,
    value: Option<Value>,
}

impl<F: FnOnce() -> Value> LazyContext<F> {
    fn new(build: F) -> Self {
        LazyContext {
            build: Some(build),
            value: None,
        }
    }

    fn get(&mut self) -> &Value {
        if self.value.is_none() {
            let build = self.build.take().expect("built once");
            self.value = Some(build());
        }
        self.value.as_ref().expect("just built")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::context::{EVENT_VARIABLES, inbound_context};
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn rule(name: &str, sources: &[&str], events: &[&str], actions: &[&str]) -> Rule {
        Rule {
            name: name.into(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            events: events
                .iter()
                .map(|e| glob::Pattern::new(e).unwrap())
                .collect(),
            filter: None,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            window: None,
        }
    }

    #[test]
    fn matches_by_source_and_type_glob_and_fans_out() {
        let engine = TemplateEngine::new(Arc::default());
        let rules = vec![
            rule(
                "prs",
                &["github"],
                &["pull_request.*", "push"],
                &["sink", "audit"],
            ),
            rule("all", &["*"], &["*"], &["audit"]),
            rule("slack", &["slack"], &["*"], &["sink"]),
        ];
        let ctx = || inbound_context(&json!({}), &BTreeMap::new());
        let routed = route(&rules, &engine, "github", "pull_request.opened", ctx);
        let pairs: Vec<_> = routed.matches.iter().map(|m| (m.rule, m.action)).collect();
        assert_eq!(
            pairs,
            vec![("prs", "sink"), ("prs", "audit"), ("all", "audit")]
        );
        let push = route(&rules, &engine, "github", "push", ctx);
        assert_eq!(push.matches.len(), 3);
        // `pull_request.*` does not match the bare type.
        let bare = route(&rules, &engine, "github", "pull_request", ctx);
        assert_eq!(bare.matches.len(), 1);
    }

    #[test]
    fn filters_select_and_errors_do_not_match() {
        let mut engine = TemplateEngine::new(Arc::default());
        let mut opened = rule("opened", &["github"], &["*"], &["sink"]);
        opened.filter = Some(
            engine
                .add_expression("opened", "event.action == 'opened'", EVENT_VARIABLES)
                .unwrap(),
        );
        let mut broken = rule("broken", &["github"], &["*"], &["sink"]);
        broken.filter = Some(
            engine
                .add_expression("broken", "event.count / 0 > 1", EVENT_VARIABLES)
                .unwrap(),
        );
        let rules = vec![opened, broken];
        let payload = json!({"action": "opened", "count": 3});
        let ctx = || inbound_context(&payload, &BTreeMap::new());
        let routed = route(&rules, &engine, "github", "pull_request.opened", ctx);
        assert_eq!(
            routed.matches,
            vec![Match {
                rule: "opened",
                action: "sink"
            }]
        );
        assert_eq!(routed.errors.len(), 1);
        assert_eq!(routed.errors[0].0, "broken");
        let closed = json!({"action": "closed", "count": 3});
        let none = route(&rules, &engine, "github", "x", || {
            inbound_context(&closed, &BTreeMap::new())
        });
        assert!(none.matches.is_empty());
    }

    #[test]
    fn every_rule_says_why_it_did_or_did_not_match() {
        let mut engine = TemplateEngine::new(Arc::default());
        let mut opened = rule("opened", &["github"], &["pull_request.*"], &["sink"]);
        opened.filter = Some(
            engine
                .add_expression("opened", "event.action == 'opened'", EVENT_VARIABLES)
                .unwrap(),
        );
        let rules = vec![
            opened,
            rule("pushes", &["github"], &["push"], &["sink"]),
            rule("slack", &["slack"], &["*"], &["sink"]),
            rule("all", &["*"], &["*"], &["audit"]),
        ];
        let closed = inbound_context(&json!({"action": "closed"}), &BTreeMap::new());
        let explained = explain(&rules, &engine, "github", "pull_request.closed", &closed);
        let reasons: Vec<(&str, bool, &str)> = explained
            .iter()
            .map(|e| (e.rule.as_str(), e.matched, e.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (
                    "opened",
                    false,
                    "source `github` and type `pull_request.closed` (`pull_request.*`), but its filter is false"
                ),
                (
                    "pushes",
                    false,
                    "type `pull_request.closed` matches none of its events (push)"
                ),
                (
                    "slack",
                    false,
                    "source `github` is not one of its sources (slack)"
                ),
                (
                    "all",
                    true,
                    "source `github` and type `pull_request.closed` (`*`); no filter"
                ),
            ]
        );
        assert_eq!(explained[0].filter, Some(FilterValue::Value(false)));
        let alert = explain(&rules, &engine, HERALD_SOURCE, "monitor.alert", &closed);
        assert!(
            alert[3]
                .reason
                .contains("`*` does not include herald's own source")
        );
        // The same decisions `route` makes.
        let routed = route(&rules, &engine, "github", "pull_request.closed", || {
            closed.clone()
        });
        let matched: Vec<&str> = routed.matches.iter().map(|m| m.rule).collect();
        assert_eq!(matched, vec!["all"]);
    }
}
