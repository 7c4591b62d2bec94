//! unotify's state-machine file (`config/statemachines/jira.hcl`), read unchanged:
//! `provisioner "<project>"` blocks, each with an `aliasmapper` (its `aliases` object maps
//! state → Jira status; `:` or `=`) and a `statemachine "<project>"` of
//! `state "<state>" "<event>" { transition = "<state>" | "<end>" }` blocks. Problems carry
//! their byte offset in the file (`kit::diagnostic::line_column` turns it into a place).

use super::machine::Draft;
use hcl::edit::Span;
use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::structure::{Block, Body, Structure};
use std::collections::BTreeMap;

/// A problem at a byte offset of the file.
pub type Problem = (usize, String);

/// The machines of the file by project (lowercase, as written), or its problems.
pub fn parse(text: &str) -> Result<BTreeMap<String, Draft<usize>>, Vec<Problem>> {
    let body = hcl::edit::parser::parse_body(text).map_err(|error| {
        let offset = error.location().offset();
        vec![(offset, format!("not valid HCL: {}", error.message()))]
    })?;
    let mut machines = BTreeMap::new();
    let mut problems = Vec::new();
    for block in blocks(&body, "provisioner") {
        let Some(project) = label(block, 0) else {
            problems.push((
                start(block),
                "a `provisioner` needs its project as a label".into(),
            ));
            continue;
        };
        let mut draft = Draft::default();
        aliases(block, &mut draft, &mut problems);
        machine(block, &project, &mut draft, &mut problems);
        machines.insert(project, draft);
    }
    if problems.is_empty() {
        Ok(machines)
    } else {
        Err(problems)
    }
}

/// `aliasmapper "<p>" { aliases = { state: "Status", … } }`.
fn aliases(provisioner: &Block, draft: &mut Draft<usize>, problems: &mut Vec<Problem>) {
    let Some(mapper) = blocks(&provisioner.body, "aliasmapper").next() else {
        problems.push((
            start(provisioner),
            "the provisioner has no `aliasmapper` block".into(),
        ));
        return;
    };
    let Some(Expression::Object(object)) = attribute(&mapper.body, "aliases") else {
        problems.push((
            start(mapper),
            "`aliasmapper` needs an `aliases` object".into(),
        ));
        return;
    };
    for (key, value) in object.iter() {
        let state = match key {
            ObjectKey::Ident(ident) => ident.as_str().to_string(),
            ObjectKey::Expression(Expression::String(text)) => text.as_str().to_string(),
            ObjectKey::Expression(other) => {
                problems.push((
                    span_start(other.span()),
                    "an alias's state must be a name".into(),
                ));
                continue;
            }
        };
        match value.expr() {
            Expression::String(status) => {
                let place = span_start(value.expr().span());
                draft
                    .aliases
                    .push((state, status.as_str().to_string(), place));
            }
            other => problems.push((
                span_start(other.span()),
                format!("the alias of `{state}` must be a string (its Jira status name)"),
            )),
        }
    }
}

/// `statemachine "<p>" { state "<s>" "<e>" { transition = "<t>" } … }`.
fn machine(
    provisioner: &Block,
    project: &str,
    draft: &mut Draft<usize>,
    problems: &mut Vec<Problem>,
) {
    let Some(machine) = blocks(&provisioner.body, "statemachine").next() else {
        problems.push((
            start(provisioner),
            "the provisioner has no `statemachine` block".into(),
        ));
        return;
    };
    if label(machine, 0).as_deref() != Some(project) {
        problems.push((
            start(machine),
            format!("the statemachine of provisioner `{project}` must be labelled \"{project}\""),
        ));
    }
    for state in blocks(&machine.body, "state") {
        let (Some(name), Some(event)) = (label(state, 0), label(state, 1)) else {
            problems.push((
                start(state),
                "a `state` needs two labels: the state and the event".into(),
            ));
            continue;
        };
        match attribute(&state.body, "transition") {
            Some(Expression::String(target)) => {
                draft
                    .steps
                    .push((name, event, target.as_str().to_string(), start(state)))
            }
            _ => problems.push((
                start(state),
                format!("state `{name}` `{event}` needs `transition = \"<state>\"` or \"<end>\""),
            )),
        }
    }
}

fn blocks<'b>(body: &'b Body, ident: &'b str) -> impl Iterator<Item = &'b Block> {
    body.iter().filter_map(move |structure| match structure {
        Structure::Block(block) if block.ident.as_str() == ident => Some(block),
        _ => None,
    })
}

fn attribute<'b>(body: &'b Body, key: &str) -> Option<&'b Expression> {
    body.iter().find_map(|structure| match structure {
        Structure::Attribute(attribute) if attribute.key.as_str() == key => Some(&attribute.value),
        _ => None,
    })
}

fn label(block: &Block, index: usize) -> Option<String> {
    block
        .labels
        .get(index)
        .map(|label| label.as_str().to_string())
}

fn start(block: &Block) -> usize {
    span_start(block.span())
}

fn span_start(span: Option<std::ops::Range<usize>>) -> usize {
    span.map_or(0, |span| span.start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::diagnostic::line_column;

    /// unotify's `config/statemachines/jira.hcl`, verbatim (trailing space included).
    pub const UNOTIFY: &str = include_str!("testdata/unotify_jira.hcl");

    #[test]
    fn unotify_s_file_loads_unchanged() {
        let machines = parse(UNOTIFY).unwrap();
        assert_eq!(machines.keys().collect::<Vec<_>>(), ["devhop", "soc"]);
        let soc = machines["soc"].clone().check().unwrap();
        assert_eq!(soc.aliases["in_progress"], "In Progress");
        assert_eq!(soc.steps.len(), 4);
        assert_eq!(machines["devhop"].clone().check().unwrap().steps.len(), 3);
    }

    #[test]
    fn problems_have_lines_and_columns() {
        let text = "provisioner \"soc\" {\n  statemachine \"soc\" {\n    state \"a\" \"next\" {\n      transition = \"<end>\"\n    }\n  }\n}\n";
        let problems = parse(text).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(line_column(text, problems[0].0), (1, 1));
        assert!(problems[0].1.contains("aliasmapper"));
        let broken = "provisioner \"soc\" {\n  aliasmapper {\n";
        let problems = parse(broken).unwrap_err();
        assert!(problems[0].1.starts_with("not valid HCL"), "{problems:?}");
        assert_eq!(line_column(broken, problems[0].0).0, 2);
    }
}
