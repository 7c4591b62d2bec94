//! The state machine every monitor shares, pure: an observation of a subject against what
//! was last recorded decides whether an alert or a recovery goes out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What is recorded per (monitor, subject) in the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubjectState {
    pub alerting: bool,
    /// The outage the open alert is about; stable while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<String>,
    /// Staleness: when a matching event was last seen (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
}

/// What a check found about one subject.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// Something is wrong. `episode` names this outage: the same value on every check until
    /// it ends, so an alert goes out once however often it is seen and by however many
    /// processes.
    Failing { episode: String, notice: Notice },
    /// Back to normal.
    Healthy { notice: Notice },
    /// Not enough to say either way (e.g. a failure, but not yet a streak).
    Unclear,
}

/// The words and facts of an alert or recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub details: Value,
}

/// An alert or recovery to emit, and the state to record after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub recovered: bool,
    pub episode: String,
    pub notice: Notice,
    pub next: SubjectState,
}

pub fn decide(previous: &SubjectState, observation: Observation) -> Option<Transition> {
    match observation {
        Observation::Failing { episode, notice } if !previous.alerting => Some(Transition {
            recovered: false,
            next: SubjectState {
                alerting: true,
                episode: Some(episode.clone()),
                ..previous.clone()
            },
            episode,
            notice,
        }),
        Observation::Healthy { notice } if previous.alerting => Some(Transition {
            recovered: true,
            episode: previous.episode.clone().unwrap_or_default(),
            notice,
            next: SubjectState {
                alerting: false,
                episode: None,
                ..previous.clone()
            },
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn notice(text: &str) -> Notice {
        Notice {
            text: text.into(),
            details: json!({}),
        }
    }

    fn failing(episode: &str) -> Observation {
        Observation::Failing {
            episode: episode.into(),
            notice: notice("down"),
        }
    }

    #[test]
    fn alerts_once_then_stays_silent_then_recovers_once() {
        let start = SubjectState::default();
        let alert = decide(&start, failing("e1")).unwrap();
        assert!(!alert.recovered);
        assert_eq!(alert.episode, "e1");
        let open = alert.next;
        assert!(open.alerting);
        assert_eq!(decide(&open, failing("e1")), None);
        assert_eq!(
            decide(&open, failing("e2")),
            None,
            "still down: no new alert"
        );
        assert_eq!(decide(&open, Observation::Unclear), None);
        let recovery = decide(
            &open,
            Observation::Healthy {
                notice: notice("up"),
            },
        )
        .unwrap();
        assert!(recovery.recovered);
        assert_eq!(recovery.episode, "e1");
        assert!(!recovery.next.alerting);
        assert_eq!(
            decide(
                &recovery.next,
                Observation::Healthy {
                    notice: notice("up")
                }
            ),
            None
        );
    }

    #[test]
    fn keeps_what_else_the_state_holds() {
        let seen = SubjectState {
            last_seen: Some(42),
            ..SubjectState::default()
        };
        let alert = decide(&seen, failing("42")).unwrap();
        assert_eq!(alert.next.last_seen, Some(42));
    }
}
