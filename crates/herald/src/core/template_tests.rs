use super::*;
use minijinja::context;
use serde_json::json;

const VARS: &[&str] = &["event", "meta", "headers"];

fn engine() -> TemplateEngine {
    let secrets = BTreeMap::from([("sink".to_string(), Secret::new("sink", "tok-123"))]);
    TemplateEngine::new(Arc::new(secrets))
}

fn ctx(payload: serde_json::Value) -> Value {
    context! { event => Value::from(minijinja::value::Serde(payload)), meta => context!{ type => "push" } }
}

#[test]
fn filters_are_true_false_and_tolerate_missing_fields() {
    let mut engine = engine();
    let opened = engine
        .add_expression(
            "r1",
            "event.action == 'opened' and 'p1' in event.labels",
            VARS,
        )
        .unwrap();
    let draft = engine
        .add_expression("r2", "event.pull_request.draft == false", VARS)
        .unwrap();
    let hit = ctx(json!({"action": "opened", "labels": ["p1", "p2"]}));
    let miss = ctx(json!({"action": "closed", "labels": []}));
    assert!(engine.is_true(&opened, &hit).unwrap());
    assert!(!engine.is_true(&opened, &miss).unwrap());
    // A push has no pull_request: the filter is false, not an error.
    assert!(
        !engine
            .is_true(&draft, &ctx(json!({"ref": "main"})))
            .unwrap()
    );
}

#[test]
fn expressions_reject_syntax_errors_and_unknown_variables() {
    let mut engine = engine();
    let syntax = engine
        .add_expression("bad", "event.action ==", VARS)
        .unwrap_err();
    assert!(syntax.contains("syntax error"), "{syntax}");
    let unknown = engine
        .add_expression("typo", "evnt.action == 'x'", VARS)
        .unwrap_err();
    assert!(unknown.contains("unknown variable evnt"), "{unknown}");
    // Expression text cannot break out of its wrapper template.
    assert!(
        engine
            .add_expression("inject", "1 %}{% for x in range(9) %}", VARS)
            .is_err()
    );
}

#[test]
fn eval_text_prints_values_and_empties_undefined() {
    let mut engine = engine();
    let kind = engine.add_expression("k", "event.eventType", VARS).unwrap();
    let payload = ctx(json!({"eventType": "contract_published"}));
    assert_eq!(
        engine.eval_text(&kind, &payload).unwrap(),
        "contract_published"
    );
    assert_eq!(engine.eval_text(&kind, &ctx(json!({}))).unwrap(), "");
    assert_eq!(
        engine
            .eval_text(&kind, &ctx(json!({"eventType": null})))
            .unwrap(),
        ""
    );
}

#[test]
fn json_templates_escape_values() {
    let mut engine = engine();
    let body = engine
        .add_template(
            "a/body",
            r#"{"text": {{ event.title }}, "all": {{ event }}}"#,
            Escape::Json,
            VARS,
        )
        .unwrap();
    let rendered = engine
        .render(&body, &ctx(json!({"title": "say \"hi\" <now>"})))
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&rendered).unwrap();
    assert_eq!(parsed["text"], "say \"hi\" <now>");
    assert_eq!(parsed["all"]["title"], "say \"hi\" <now>");
}

#[test]
fn templates_fail_on_missing_fields_but_allow_checks() {
    let mut engine = engine();
    let typo = engine
        .add_template("t1", "{{ event.titel }}", Escape::None, VARS)
        .unwrap();
    let error = engine
        .render(&typo, &ctx(json!({"title": "x"})))
        .unwrap_err();
    assert!(error.0.contains("undefined"), "{error}");
    let guarded = engine
        .add_template(
            "t2",
            "{% if event.titel %}yes{% else %}no{% endif %}",
            Escape::None,
            VARS,
        )
        .unwrap();
    assert_eq!(engine.render(&guarded, &ctx(json!({}))).unwrap(), "no");
}

#[test]
fn secrets_render_for_sending_and_redact_for_showing() {
    let mut engine = engine();
    let header = engine
        .add_template("h", "Bearer {{ secret('sink') }}", Escape::None, VARS)
        .unwrap();
    let context = ctx(json!({}));
    assert_eq!(engine.render(&header, &context).unwrap(), "Bearer tok-123");
    assert_eq!(
        engine.render_redacted(&header, &context).unwrap(),
        "Bearer [redacted]"
    );
    let unknown = engine
        .add_template("h2", "{{ secret('nope') }}", Escape::None, VARS)
        .unwrap();
    let error = engine.render(&unknown, &context).unwrap_err();
    assert!(error.0.contains("unknown secret \"nope\""), "{error}");
}

#[test]
fn runaway_templates_run_out_of_fuel() {
    let mut engine = engine();
    let spin = engine
        .add_template(
            "spin",
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            Escape::None,
            VARS,
        )
        .unwrap();
    let error = engine.render(&spin, &ctx(json!({}))).unwrap_err();
    assert!(error.0.contains("fuel"), "{error}");
}

#[test]
fn finds_secret_references() {
    assert_eq!(
        secret_references(r#"Bearer {{ secret('a') }} {{ secret( "b" ) }} {{ secret(x) }}"#),
        vec!["a".to_string(), "b".to_string()]
    );
}
