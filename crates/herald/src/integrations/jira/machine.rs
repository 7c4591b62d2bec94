//! A Jira project's state machine: states, the events that move a ticket from one to
//! another (`next`, `prev`, any name), `<end>` as terminal, and each state's Jira status
//! name (its alias). Written in the TOML config or read from unotify's HCL file; either
//! way it is checked here, with the place of each problem.

use std::collections::BTreeMap;

/// The terminal target: a state whose event leads here does not move.
pub const END: &str = "<end>";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    State(String),
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// State → Jira status name.
    pub aliases: BTreeMap<String, String>,
    /// (state, event) → target.
    pub steps: BTreeMap<(String, String), Target>,
}

/// Where a ticket goes on an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// To this Jira status.
    Move(String),
    /// Nowhere, for this reason.
    Stay(String),
}

impl Machine {
    /// Where a ticket in Jira status `status` goes on `event`. Statuses compare without
    /// regard to case, as Jira's do.
    pub fn goal(&self, status: &str, event: &str) -> Goal {
        let Some(state) = self
            .aliases
            .iter()
            .find(|(_, alias)| alias.eq_ignore_ascii_case(status))
            .map(|(state, _)| state)
        else {
            return Goal::Stay(format!("status {status:?} is no state of the machine"));
        };
        match self.steps.get(&(state.clone(), event.to_string())) {
            None => Goal::Stay(format!("state `{state}` has no `{event}`")),
            Some(Target::End) => Goal::Stay(format!("state `{state}` is the end on `{event}`")),
            Some(Target::State(target)) => match self.aliases.get(target) {
                Some(alias) => Goal::Move(alias.clone()),
                None => Goal::Stay(format!("state `{target}` has no alias")),
            },
        }
    }
}

/// A machine as written, each part with its place `P` (a span, a line), to be checked.
#[derive(Debug, Clone)]
pub struct Draft<P> {
    /// State → (Jira status name, place).
    pub aliases: Vec<(String, String, P)>,
    /// (state, event, target, place).
    pub steps: Vec<(String, String, String, P)>,
}

impl<P: Clone> Default for Draft<P> {
    fn default() -> Self {
        Draft {
            aliases: Vec::new(),
            steps: Vec::new(),
        }
    }
}

impl<P: Clone> Draft<P> {
    /// The machine, or every problem with its place: a (state, event) given twice, a
    /// target with no state of its own, a state without an alias.
    pub fn check(self) -> Result<Machine, Vec<(P, String)>> {
        let mut problems = Vec::new();
        let aliases: BTreeMap<String, String> = self
            .aliases
            .iter()
            .map(|(state, alias, _)| (state.clone(), alias.clone()))
            .collect();
        let mut steps = BTreeMap::new();
        for (state, event, target, place) in &self.steps {
            let key = (state.clone(), event.clone());
            if steps.contains_key(&key) {
                problems.push((
                    place.clone(),
                    format!(
                        "state `{state}` has `{event}` twice: one transition per (state, event)"
                    ),
                ));
                continue;
            }
            let target = if target == END {
                Target::End
            } else {
                if !self.steps.iter().any(|(source, ..)| source == target) {
                    problems.push((
                        place.clone(),
                        format!("`{state}` on `{event}` goes to `{target}`, which has no state of its own"),
                    ));
                }
                Target::State(target.clone())
            };
            if !aliases.contains_key(state) {
                problems.push((
                    place.clone(),
                    format!("state `{state}` has no alias (its Jira status name)"),
                ));
            }
            steps.insert(key, target);
        }
        if problems.is_empty() {
            Ok(Machine { aliases, steps })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(steps: &[(&str, &str, &str)]) -> Draft<usize> {
        Draft {
            aliases: [
                ("to_do", "To Do"),
                ("in_progress", "In Progress"),
                ("done", "Done"),
            ]
            .iter()
            .enumerate()
            .map(|(n, (s, a))| (s.to_string(), a.to_string(), n))
            .collect(),
            steps: steps
                .iter()
                .enumerate()
                .map(|(n, (s, e, t))| (s.to_string(), e.to_string(), t.to_string(), 10 + n))
                .collect(),
        }
    }

    #[test]
    fn a_ticket_moves_one_step_on_its_event_and_stays_at_the_end() {
        let machine = draft(&[
            ("to_do", "next", "in_progress"),
            ("in_progress", "next", "done"),
            ("in_progress", "prev", "to_do"),
            ("done", "next", "<end>"),
        ])
        .check()
        .unwrap();
        assert_eq!(
            machine.goal("To Do", "next"),
            Goal::Move("In Progress".into())
        );
        assert_eq!(
            machine.goal("in progress", "next"),
            Goal::Move("Done".into())
        );
        assert_eq!(
            machine.goal("In Progress", "prev"),
            Goal::Move("To Do".into())
        );
        assert!(matches!(machine.goal("Done", "next"), Goal::Stay(_)));
        assert!(matches!(machine.goal("In Review", "next"), Goal::Stay(_)));
        assert!(matches!(machine.goal("To Do", "prev"), Goal::Stay(_)));
    }

    #[test]
    fn each_broken_machine_is_refused_at_its_place() {
        let problems = draft(&[("to_do", "next", "in_qa")]).check().unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, 10);
        assert!(
            problems[0]
                .1
                .contains("`in_qa`, which has no state of its own")
        );

        let problems = draft(&[
            ("to_do", "next", "done"),
            ("done", "next", "<end>"),
            ("to_do", "next", "done"),
        ])
        .check()
        .unwrap_err();
        assert_eq!(problems[0].0, 12);
        assert!(problems[0].1.contains("twice"));

        let problems = draft(&[("review", "next", "<end>")]).check().unwrap_err();
        assert!(problems[0].1.contains("state `review` has no alias"));
    }
}
