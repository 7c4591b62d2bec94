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
        .unwrap_err()
        .to_string();
    assert!(syntax.contains("syntax error"), "{syntax}");
    let unknown = engine
        .add_expression("typo", "evnt.action == 'x'", VARS)
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("unknown variable evnt"), "{unknown}");
    // Expression text cannot break out of its wrapper template.
    assert!(
        engine
            .add_expression("inject", "1 %}{% for x in range(9) %}", VARS)
            .is_err()
    );
}

/// The problems of a template or an expression that does not compile, as (message, the
/// source's bytes they point at, help).
fn problems(error: CompileError, source: &str) -> Vec<(String, Option<String>, Option<String>)> {
    error
        .0
        .into_iter()
        .map(|p| (p.message, p.at.map(|at| source[at].to_string()), p.help))
        .collect()
}

#[test]
fn unknown_filters_tests_and_functions_are_compile_errors_with_the_nearest_name() {
    let mut engine = TemplateEngine::with_vars(Arc::default(), Value::from(()), |filters| {
        filters.add_filter("slack_escape", |text: String| text)
    });
    let source =
        "{{ event.sha | short_sah }} {{ event.x | slack_escpe }} {{ event.y | short_sah }}";
    let error = engine
        .add_template("t", source, Escape::None, VARS)
        .unwrap_err();
    assert_eq!(
        problems(error, source),
        [
            (
                "unknown filter `short_sah`".to_string(),
                Some("short_sah".to_string()),
                Some("did you mean `short_sha`?".to_string())
            ),
            (
                "unknown filter `slack_escpe`".to_string(),
                Some("slack_escpe".to_string()),
                Some("did you mean `slack_escape`?".to_string())
            ),
        ],
        "each name once, at its first use"
    );

    let source =
        "{% if event.n is evn %}{{ secrte('x') }}{% endif %}{% filter uper %}a{% endfilter %}";
    let error = engine
        .add_template("t2", source, Escape::None, VARS)
        .unwrap_err();
    let found = problems(error, source);
    assert!(
        found.contains(&(
            "unknown test `evn`".to_string(),
            Some("evn".to_string()),
            Some("did you mean `even`?".to_string())
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "unknown function `secrte`".to_string(),
            Some("secrte".to_string()),
            Some("did you mean `secret`?".to_string())
        )),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(m, _, h)| m == "unknown filter `uper`"
            && h.as_deref() == Some("did you mean `upper`?")),
        "{found:?}"
    );
    assert!(
        !found.iter().any(|(m, ..)| m.contains("variable")),
        "a function is not also an unknown variable: {found:?}"
    );

    // A rule filter: the place is in the expression as written.
    let source = "event.branch | lowr == 'main'";
    let error = engine.add_expression("f", source, VARS).unwrap_err();
    assert_eq!(
        problems(error, source),
        [(
            "unknown filter `lowr`".to_string(),
            Some("lowr".to_string()),
            Some("did you mean `lower`?".to_string())
        )]
    );

    // Known names: minijinja's, herald's, macros and the template's own variables.
    let fine = "{% macro m(x) %}{{ x | upper }}{% endmacro %}{{ m(event.a) | short_sha | slack_escape }}{% if event is defined and event.n is even %}{{ range(2) | join(',') }}{% endif %}";
    engine
        .add_template("ok", fine, Escape::None, VARS)
        .unwrap_or_else(|error| panic!("{error}"));
    engine
        .add_expression("ok", "event.a | default('x') | lower is string", VARS)
        .unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn builtin_names_offered_as_suggestions_exist() {
    let env = Environment::new();
    let mut state = env.empty_state();
    for name in BUILTIN_FILTERS {
        assert!(
            !matches!(state.apply_filter(name, &[]), Err(e) if e.kind() == ErrorKind::UnknownFilter),
            "{name}"
        );
    }
    for name in BUILTIN_TESTS {
        assert!(
            !matches!(state.perform_test(name, &[]), Err(e) if e.kind() == ErrorKind::UnknownTest),
            "{name}"
        );
    }
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
    assert_eq!(error.0, "`event.titel` is undefined (line 1)");
    let nested = engine
        .add_template(
            "t3",
            "branch:\n{{ event.pr.head.titel | upper }}",
            Escape::None,
            VARS,
        )
        .unwrap();
    let error = engine
        .render(&nested, &ctx(json!({"pr": {"head": {}}})))
        .unwrap_err();
    assert_eq!(error.0, "the value given to `upper` is undefined (line 2)");
    let bare = engine
        .add_template("t4", "{{ titel }}", Escape::None, &["titel"])
        .unwrap();
    let error = engine.render(&bare, &ctx(json!({}))).unwrap_err();
    assert_eq!(error.0, "`titel` is undefined (line 1)");
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
