//! `[jira]`: the state machine of each Jira project — written here under
//! `[jira.machines.<project>]`, or read unchanged from unotify's HCL file named by
//! `state_machines` — the projects that move (`projects`, like unotify's workers.yaml), and
//! how long transitions are cached per (project, status).

use super::hcl;
use super::machine::{Draft, Machine};
use crate::kit::diagnostic::{Diagnostic, Diagnostics, line_column};
use crate::kit::document::{self, Item};
use crate::kit::{SectionContext, Sections, keys, units};
use serde::Deserialize;
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

pub const SECTION: &str = "jira";

/// `[jira]` as read.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraConfig {
    /// Project key (uppercase, as in ticket keys) → its machine.
    pub machines: BTreeMap<String, Machine>,
    /// How long the transitions of a (project, status) are reused.
    pub transitions_ttl: Duration,
    /// The Jira site for actions without their own `url`.
    pub url: Option<String>,
}

impl Default for JiraConfig {
    fn default() -> Self {
        JiraConfig {
            machines: BTreeMap::new(),
            transitions_ttl: Duration::from_secs(3600),
            url: None,
        }
    }
}

impl JiraConfig {
    /// The section as read, or its defaults.
    pub fn of(sections: &Sections) -> JiraConfig {
        sections.get_or_default(SECTION)
    }

    /// The project keys tickets may belong to.
    pub fn projects(&self) -> BTreeSet<String> {
        self.machines.keys().cloned().collect()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawJira {
    /// unotify's HCL file, relative to the config file.
    state_machines: Option<Spanned<String>>,
    /// The projects that move; each needs a machine. Default: every machine's.
    projects: Option<Vec<Spanned<String>>>,
    /// How long transitions are cached per (project, status).
    transitions_cache: Option<Spanned<String>>,
    #[serde(default)]
    machines: BTreeMap<String, Spanned<RawMachine>>,
    /// The Jira site (`https://acme.atlassian.net`) for actions without their own `url`.
    url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    /// State → Jira status name.
    aliases: BTreeMap<String, Spanned<String>>,
    /// State → event → target state (or `<end>`).
    states: BTreeMap<String, Spanned<BTreeMap<String, Spanned<String>>>>,
}

pub fn build(
    item: Option<Item<'_>>,
    context: &SectionContext<'_>,
    diagnostics: &mut Diagnostics,
) -> Arc<dyn Any + Send + Sync> {
    let raw: RawJira = document::section(item, diagnostics);
    let defaults = JiraConfig::default();
    let transitions_ttl = diagnostics
        .take(units::optional_duration(
            &raw.transitions_cache,
            defaults.transitions_ttl,
        ))
        .unwrap_or(defaults.transitions_ttl);
    let mut machines = BTreeMap::new();
    // Projects whose machine was refused: reported once, not again as "no machine".
    let mut broken = BTreeSet::new();
    for (project, machine) in &raw.machines {
        let key = project.to_ascii_uppercase();
        match native(machine, diagnostics) {
            Some(machine) => {
                machines.insert(key, machine);
            }
            None => {
                broken.insert(key);
            }
        }
    }
    if let Some(path) = &raw.state_machines {
        for (project, machine) in from_file(path, context, diagnostics, &mut broken) {
            machines.insert(project.to_ascii_uppercase(), machine);
        }
    }
    if let Some(projects) = &raw.projects {
        machines = enabled(machines, projects, &broken, diagnostics);
    }
    Arc::new(JiraConfig {
        machines,
        transitions_ttl,
        url: context.resolve(&raw.url, diagnostics),
    })
}

/// A machine written in the config, checked at its spans.
fn native(machine: &Spanned<RawMachine>, diagnostics: &mut Diagnostics) -> Option<Machine> {
    let raw = machine.get_ref();
    let mut draft: Draft<Range<usize>> = Draft::default();
    for (state, alias) in &raw.aliases {
        draft
            .aliases
            .push((state.clone(), alias.get_ref().clone(), alias.span()));
    }
    for (state, events) in &raw.states {
        for (event, target) in events.get_ref() {
            draft.steps.push((
                state.clone(),
                event.clone(),
                target.get_ref().clone(),
                target.span(),
            ));
        }
    }
    match draft.check() {
        Ok(machine) => Some(machine),
        Err(problems) => {
            for (span, message) in problems {
                diagnostics.error(span, message);
            }
            None
        }
    }
}

/// The machines of unotify's HCL file; its problems are reported at `state_machines` with
/// the file, line and column.
fn from_file(
    path: &Spanned<String>,
    context: &SectionContext<'_>,
    diagnostics: &mut Diagnostics,
    broken: &mut BTreeSet<String>,
) -> BTreeMap<String, Machine> {
    let file = context.config_dir.join(path.get_ref());
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(error) => {
            diagnostics.error(
                path.span(),
                format!("cannot read {}: {error}", file.display()),
            );
            return BTreeMap::new();
        }
    };
    let report = |diagnostics: &mut Diagnostics, offset: usize, message: String| {
        let (line, column) = line_column(&text, offset);
        let place = format!("{}:{line}:{column}", path.get_ref());
        diagnostics.error(path.span(), format!("{place}: {message}"));
    };
    let drafts = match hcl::parse(&text) {
        Ok(drafts) => drafts,
        Err(problems) => {
            problems
                .into_iter()
                .for_each(|(offset, message)| report(diagnostics, offset, message));
            return BTreeMap::new();
        }
    };
    let mut machines = BTreeMap::new();
    for (project, draft) in drafts {
        match draft.check() {
            Ok(machine) => {
                machines.insert(project, machine);
            }
            Err(problems) => {
                broken.insert(project.to_ascii_uppercase());
                problems
                    .into_iter()
                    .for_each(|(offset, message)| report(diagnostics, offset, message));
            }
        }
    }
    machines
}

/// Only the listed projects' machines; a listed project without one is an error.
fn enabled(
    machines: BTreeMap<String, Machine>,
    projects: &[Spanned<String>],
    broken: &BTreeSet<String>,
    diagnostics: &mut Diagnostics,
) -> BTreeMap<String, Machine> {
    let mut kept = BTreeMap::new();
    for project in projects {
        let key = project.get_ref().to_ascii_uppercase();
        match machines.get(&key) {
            Some(machine) => {
                kept.insert(key, machine.clone());
            }
            None if broken.contains(&key) => {}
            None => diagnostics.push(
                Diagnostic::error(
                    project.span(),
                    format!("project `{}` has no state machine", project.get_ref()),
                )
                .with_help("add `[jira.machines.<project>]`, or a `provisioner` in the `state_machines` file"),
            ),
        }
    }
    kept
}

pub fn options() -> Vec<String> {
    keys::keys_of::<RawJira>()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::integrations::test_support::{config_problems, load_config};

    /// `[jira]` with `section`, both Jira kinds without their own `url`, and a comment with
    /// its own.
    fn config(section: &str) -> String {
        format!(
            r#"
[secrets]
jira = "t"

[jira]
{section}

[jira.machines.soc]
aliases = {{ to_do = "To Do", done = "Done" }}
states = {{ to_do = {{ next = "done" }}, done = {{ next = "<end>" }} }}

[actions.move]
kind = "jira-transition"
token = "jira"

[actions.comment]
kind = "jira-comment"
token = "jira"
body = "Released"

[actions.own]
kind = "jira-comment"
url = "https://own.atlassian.net"
token = "jira"
body = "Released"
"#
        )
    }

    /// Where `herald check --online` asks about the action's sign-in.
    fn checked_at(config: &Config, action: &str) -> String {
        let checks = config.actions[action].action.credential_checks();
        checks[0].request.url.to_string()
    }

    #[test]
    fn the_sections_site_serves_every_action_without_its_own() {
        let config = load_config(&config(r#"url = "https://acme.atlassian.net/""#)).unwrap();
        for action in ["move", "comment"] {
            assert_eq!(
                checked_at(&config, action),
                "https://acme.atlassian.net/rest/api/2/myself",
                "{action}"
            );
        }
        // The action's own wins.
        assert_eq!(
            checked_at(&config, "own"),
            "https://own.atlassian.net/rest/api/2/myself"
        );
    }

    #[test]
    fn without_either_the_action_names_both_places() {
        let problems = config_problems(&config(""));
        let errors = problems.lines().filter(|line| line.contains(": error:"));
        assert_eq!(errors.count(), 2, "{problems}");
        assert!(
            problems
                .contains("`jira-transition` needs the Jira site: set `url` here, or `[jira] url`"),
            "{problems}"
        );
        assert!(
            problems.contains("`jira-comment` needs the Jira site"),
            "{problems}"
        );
    }
}
