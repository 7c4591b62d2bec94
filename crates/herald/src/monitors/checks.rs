//! What each monitor kind observes, from the store's health summary, the recorded states
//! and the clock. Pure: the runtime in `mod.rs` does the reading and writing.

use super::runbook::{credential_runbook, poller_runbook};
use crate::action::Runbook;
use crate::config::Config;
use crate::config::monitors::Staleness;
use crate::core::decide::{Notice, Observation, SubjectState};
use chrono::{DateTime, Utc};
use herald_store::model::{ActionHealth, FailureKind, PollFailureKind, PollerState};
use serde_json::json;
use std::time::Duration;

/// Timestamps as episode names: stable text, unique per outage.
fn stamp(at: Option<DateTime<Utc>>) -> String {
    at.map_or("never".to_string(), |at| at.timestamp_millis().to_string())
}

/// The action's health entries this monitor watches (all actions when `names` is empty).
pub fn watched<'a>(health: &'a [ActionHealth], names: &[String]) -> Vec<&'a ActionHealth> {
    health
        .iter()
        .filter(|a| names.is_empty() || names.contains(&a.action))
        .collect()
}

/// A success is newer than any failure (or there was no failure).
fn succeeded_last(action: &ActionHealth) -> bool {
    action.last_success_at.is_some() && action.last_success_at >= action.last_failure_at
}

pub fn credential(config: &Config, action: &ActionHealth) -> Observation {
    let failing = action.last_failure_kind == Some(FailureKind::Credential)
        && action.last_failure_at > action.last_success_at;
    if failing {
        return Observation::Failing {
            // The outage lasts until the next success, so the last success names it.
            episode: stamp(action.last_success_at),
            notice: credential_notice(config, action),
        };
    }
    if succeeded_last(action) {
        return Observation::Healthy {
            notice: Notice {
                text: format!(
                    ":white_check_mark: *Recovered*: action `{}` delivered again; its credentials work.",
                    action.action
                ),
                details: json!({ "action": action.action }),
            },
        };
    }
    Observation::Unclear
}

fn credential_notice(config: &Config, action: &ActionHealth) -> Notice {
    let configured = config.action(&action.action);
    let kind = configured.map_or("unknown", |a| a.kind);
    let secrets: Vec<String> = configured
        .map(|a| {
            a.action
                .credential_secrets()
                .into_iter()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let secret = secrets.first().cloned().unwrap_or_else(|| "?".into());
    let origin = config
        .secret_origins
        .get(&secret)
        .cloned()
        .unwrap_or_else(|| "its configured source".into());
    let steps = configured.map_or(Runbook::GENERIC, |a| a.action.credential_runbook());
    let runbook = credential_runbook(steps, &secret, &origin, &action.action);
    let error = action.last_failure_error.clone().unwrap_or_default();
    Notice {
        text: format!(
            ":rotating_light: *Credential failure*: action `{}` ({kind}) was refused: {error}\nThe secret `{secret}` (from {origin}) is no longer accepted. Deliveries will fail until it is replaced.\n*Runbook*\n{runbook}",
            action.action
        ),
        details: json!({
            "action": action.action,
            "action_kind": kind,
            "secret": secret,
            "secret_origin": origin,
            "status": action.last_failure_status,
            "error": error,
            "failed_at": action.last_failure_at,
            "runbook": runbook,
        }),
    }
}

/// The monitors' subject for a poller: its own names cannot clash with an action's.
pub fn poller_subject(source: &str) -> String {
    format!("poller:{source}")
}

/// A poller whose API refused its credential on the last poll: failing until a poll
/// succeeds again.
pub fn poller_credential(config: &Config, poller: &PollerState) -> Observation {
    if poller.failing() && poller.last_error_kind == Some(PollFailureKind::Credential) {
        return Observation::Failing {
            // The outage lasts until the next success, so the last success names it.
            episode: stamp(poller.last_success_at),
            notice: poller_credential_notice(config, poller),
        };
    }
    if poller.last_success_at.is_some() && !poller.failing() {
        return Observation::Healthy {
            notice: Notice {
                text: format!(
                    ":white_check_mark: *Recovered*: poller `{}` reads its API again; its credentials work.",
                    poller.source
                ),
                details: json!({ "source": poller.source }),
            },
        };
    }
    Observation::Unclear
}

fn poller_credential_notice(config: &Config, poller: &PollerState) -> Notice {
    let configured = config
        .source(&poller.source)
        .and_then(|s| s.poller.as_ref());
    let from = configured.map_or("its API".to_string(), |p| p.describe());
    let secret = configured
        .and_then(|p| p.credential_secrets().first().map(|s| s.to_string()))
        .unwrap_or_else(|| "?".into());
    let origin = config
        .secret_origins
        .get(&secret)
        .cloned()
        .unwrap_or_else(|| "its configured source".into());
    let steps = configured.map_or(Runbook::GENERIC, |p| p.credential_runbook());
    let runbook = poller_runbook(steps, &secret, &origin, &poller.source);
    let error = poller.last_error.clone().unwrap_or_default();
    let cursor = poller.cursor.as_deref().unwrap_or("none yet");
    Notice {
        text: format!(
            ":rotating_light: *Credential failure*: poller `{}` ({from}) was refused: {error}\nThe secret `{secret}` (from {origin}) is no longer accepted. Polling stays at cursor `{cursor}`: nothing is skipped, and it resumes from there once the secret is replaced.\n*Runbook*\n{runbook}",
            poller.source
        ),
        details: json!({
            "source": poller.source,
            "url": from,
            "secret": secret,
            "secret_origin": origin,
            "error": error,
            "cursor": poller.cursor,
            "failed_at": poller.last_error_at,
            "runbook": runbook,
        }),
    }
}

pub fn failure_streak(action: &ActionHealth, threshold: u32) -> Observation {
    // A refused credential is the credential monitor's to report, with its runbook.
    let credential = action.last_failure_kind == Some(FailureKind::Credential);
    if action.failure_streak >= i64::from(threshold) && !credential {
        let error = action.last_failure_error.clone().unwrap_or_default();
        return Observation::Failing {
            episode: stamp(action.last_success_at),
            notice: Notice {
                text: format!(
                    ":warning: *Failing destination*: action `{}` failed {} times in a row; last: {}",
                    action.action, action.failure_streak, error
                ),
                details: json!({
                    "action": action.action,
                    "failures": action.failure_streak,
                    "status": action.last_failure_status,
                    "error": error,
                }),
            },
        };
    }
    if action.failure_streak == 0 && succeeded_last(action) {
        return Observation::Healthy {
            notice: Notice {
                text: format!(
                    ":white_check_mark: *Recovered*: action `{}` delivers again.",
                    action.action
                ),
                details: json!({ "action": action.action }),
            },
        };
    }
    Observation::Unclear
}

/// A group of a staleness monitor: overdue when nothing matched for longer than `every`.
pub fn staleness(
    monitor: &Staleness,
    group: &str,
    state: &SubjectState,
    now: DateTime<Utc>,
) -> Observation {
    let Some(last_seen) = state.last_seen.and_then(DateTime::from_timestamp_millis) else {
        return Observation::Unclear;
    };
    let every = chrono::Duration::from_std(monitor.every).unwrap_or(chrono::Duration::MAX);
    let what = describe_events(monitor);
    if now - last_seen > every {
        return Observation::Failing {
            // Overdue since this sighting: the next sighting ends it.
            episode: last_seen.timestamp_millis().to_string(),
            notice: Notice {
                text: format!(
                    ":hourglass: *Overdue*: no {what}{} since {} (expected at least every {}).",
                    group_words(group),
                    last_seen.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    humantime::format_duration(monitor.every)
                ),
                details: json!({ "source": monitor.source, "group": group, "last_seen": last_seen, "every_seconds": monitor.every.as_secs() }),
            },
        };
    }
    Observation::Healthy {
        notice: Notice {
            text: format!(
                ":white_check_mark: *Recovered*: {what}{} seen again.",
                group_words(group)
            ),
            details: json!({ "source": monitor.source, "group": group, "last_seen": last_seen }),
        },
    }
}

fn describe_events(monitor: &Staleness) -> String {
    let types: Vec<_> = monitor
        .events
        .iter()
        .map(|g| g.as_str().to_string())
        .collect();
    format!("`{}` event from `{}`", types.join("`/`"), monitor.source)
}

fn group_words(group: &str) -> String {
    if group.is_empty() {
        String::new()
    } else {
        format!(" for `{group}`")
    }
}

pub fn signature_failures(
    source: &str,
    count: usize,
    threshold: u32,
    window: Duration,
    now: DateTime<Utc>,
) -> Observation {
    let window_text = humantime::format_duration(window).to_string();
    if count >= threshold as usize {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
        return Observation::Failing {
            // Replicas seeing the same spike in the same window name it alike.
            episode: (now.timestamp_millis() / window_ms * window_ms).to_string(),
            notice: Notice {
                text: format!(
                    ":shield: *Rejected signatures*: {count} requests to source `{source}` failed verification in the last {window_text}. A secret was probably rotated on one side only: compare the sender's secret with herald's."
                ),
                details: json!({ "source": source, "rejected": count, "window_seconds": window.as_secs() }),
            },
        };
    }
    if count == 0 {
        return Observation::Healthy {
            notice: Notice {
                text: format!(
                    ":white_check_mark: *Recovered*: no rejected signatures on source `{source}` in the last {window_text}."
                ),
                details: json!({ "source": source }),
            },
        };
    }
    Observation::Unclear
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minutes * 60, 0).unwrap()
    }

    fn action(success: Option<i64>, failure: Option<i64>, streak: i64) -> ActionHealth {
        ActionHealth {
            action: "dispatch".into(),
            last_success_at: success.map(at),
            last_failure_at: failure.map(at),
            last_failure_status: failure.map(|_| 502),
            last_failure_error: failure.map(|_| "HTTP 502".into()),
            last_failure_kind: None,
            failure_streak: streak,
            pending: 0,
            dead: 0,
        }
    }

    #[test]
    fn a_streak_alerts_at_the_threshold_and_recovers_on_success() {
        assert_eq!(
            failure_streak(&action(Some(0), Some(5), 2), 3),
            Observation::Unclear
        );
        let Observation::Failing { episode, notice } =
            failure_streak(&action(Some(0), Some(5), 3), 3)
        else {
            panic!("a streak of 3 fails");
        };
        assert_eq!(episode, at(0).timestamp_millis().to_string());
        assert!(notice.text.contains("failed 3 times in a row"));
        assert!(matches!(
            failure_streak(&action(Some(9), Some(5), 0), 3),
            Observation::Healthy { .. }
        ));
        let mut refused = action(Some(0), Some(5), 9);
        refused.last_failure_kind = Some(FailureKind::Credential);
        assert_eq!(failure_streak(&refused, 3), Observation::Unclear);
    }

    #[test]
    fn staleness_is_measured_from_the_last_sighting() {
        let monitor = Staleness {
            source: "pact".into(),
            events: vec![glob::Pattern::new("provider_verification_published").unwrap()],
            filter: None,
            group: None,
            every: Duration::from_secs(7200),
        };
        let seen = SubjectState {
            last_seen: Some(at(0).timestamp_millis()),
            ..SubjectState::default()
        };
        assert!(matches!(
            staleness(&monitor, "a/b", &seen, at(120)),
            Observation::Healthy { .. }
        ));
        let Observation::Failing { episode, notice } = staleness(&monitor, "a/b", &seen, at(121))
        else {
            panic!("overdue after 2 h");
        };
        assert_eq!(episode, at(0).timestamp_millis().to_string());
        assert!(notice.text.contains("for `a/b`"));
        assert_eq!(
            staleness(&monitor, "a/b", &SubjectState::default(), at(500)),
            Observation::Unclear,
            "a group never seen is not overdue"
        );
    }

    #[test]
    fn signature_spikes_name_their_window() {
        let window = Duration::from_secs(300);
        assert_eq!(
            signature_failures("pact", 2, 3, window, at(1)),
            Observation::Unclear
        );
        let Observation::Failing { episode, .. } = signature_failures("pact", 3, 3, window, at(1))
        else {
            panic!("3 of 3 fails");
        };
        let Observation::Failing { episode: later, .. } =
            signature_failures("pact", 4, 3, window, at(2))
        else {
            panic!("4 of 3 fails");
        };
        assert_eq!(episode, later, "one window, one episode");
        assert!(matches!(
            signature_failures("pact", 0, 3, window, at(9)),
            Observation::Healthy { .. }
        ));
    }
}
