//! What the scale fill stores: events shaped like herald's own (a GitHub push of about
//! 4 KB, its kept headers, a dedup key), one `http` delivery each, and one successful
//! attempt recording the request as the `http` action's default body (`{{ event }}`)
//! renders it. Deterministic: the same seed gives the same store, whatever the backend.

use herald_store::model::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The sources and event types, with their shares of the events (in thousandths): a
/// store's mix where one (source, type) pair holds a third of the events and another a
/// few percent.
pub const MIX: &[(&str, &str, u32)] = &[
    ("github", "push", 350),
    ("github", "pull_request", 210),
    ("github", "issues", 105),
    ("github", "release", 35),
    ("circleci", "workflow-completed", 100),
    ("circleci", "job-completed", 50),
    ("stripe", "invoice.paid", 70),
    ("stripe", "customer.updated", 30),
    ("slack", "app_mention", 50),
];

/// The rule and action every event's one delivery goes to.
pub const RULE: &str = "forward";
pub const ACTION: &str = "sink";
const SINK_URL: &str = "https://hooks.example.com/herald/forward";
/// The payload grows by commits until it is at least this long.
const PAYLOAD_BYTES: usize = 4 * 1024;
/// Events are this far apart (1,000,000 events span 23 days).
pub const EVENT_SPACING_MS: i64 = 2_000;

/// When the first event was received.
pub fn start() -> Timestamp {
    chrono::DateTime::from_timestamp_millis(1_767_225_600_000).expect("a valid start time")
}

/// A small deterministic generator (xorshift64*): no dependency, same sequence everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// A git object id: 40 random hex digits, as incompressible as real ones.
    fn sha(&mut self) -> String {
        format!(
            "{:016x}{:016x}{:08x}",
            self.next(),
            self.next(),
            self.next() as u32
        )
    }
}

/// The (source, type) of the `n`-th event, following `MIX`.
pub fn kind(rng: &mut Rng) -> (&'static str, &'static str) {
    let mut roll = rng.below(1000) as u32;
    for &(source, event_type, share) in MIX {
        if roll < share {
            return (source, event_type);
        }
        roll -= share;
    }
    let (source, event_type, _) = MIX[0];
    (source, event_type)
}

const WORDS: &[&str] = &[
    "fix",
    "retry",
    "delivery",
    "when",
    "the",
    "destination",
    "answers",
    "429",
    "honour",
    "Retry-After",
    "header",
    "add",
    "window",
    "flush",
    "calendar",
    "skip",
    "pending",
    "lease",
    "claim",
    "ordering",
    "key",
    "slack",
    "thread",
    "reply",
    "update",
    "jira",
    "transition",
    "docs",
    "config",
    "reference",
    "test",
    "bench",
    "store",
    "index",
    "query",
    "prune",
];
const PEOPLE: &[(&str, &str)] = &[
    ("Mona Lisa", "mona"),
    ("Hubot", "hubot"),
    ("Octo Cat", "octocat"),
    ("Ada Lovelace", "ada"),
    ("Grace Hopper", "grace"),
];
const FILES: &[&str] = &[
    "crates/herald/src/outbox/worker.rs",
    "crates/herald/src/outbox/runner.rs",
    "crates/herald-store/src/sqlite/read.rs",
    "crates/herald/src/integrations/slack/plan.rs",
    "docs/config.md",
    "CHANGELOG.md",
    "README.md",
];

fn sentence(rng: &mut Rng, words: u64) -> String {
    let count = 4 + rng.below(words);
    (0..count)
        .map(|_| rng.pick(WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

fn commit(rng: &mut Rng, repo: &str, minute: u64) -> Value {
    let (name, login) = PEOPLE[rng.below(PEOPLE.len() as u64) as usize];
    let person = json!({"name": name, "email": format!("{login}@example.com"), "username": login});
    let id = rng.sha();
    json!({
        "id": id,
        "tree_id": rng.sha(),
        "distinct": true,
        "message": format!("{}\n\n{}.", sentence(rng, 6), sentence(rng, 14)),
        "timestamp": format!("2026-01-{:02}T{:02}:{:02}:00Z", 1 + minute / 1440 % 28,
            minute / 60 % 24, minute % 60),
        "url": format!("https://github.com/{repo}/commit/{id}"),
        "author": person,
        "committer": person,
        "added": [],
        "removed": [],
        "modified": [rng.pick(FILES), rng.pick(FILES)],
    })
}

/// A user as GitHub shows one in a payload (`owner`, `sender`).
fn user(login: &str, id: u64) -> Value {
    let api = format!("https://api.github.com/users/{login}");
    json!({
        "name": login, "email": format!("{login}@example.com"),
        "login": login, "id": id, "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "", "url": api, "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"), "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": "User", "user_view_type": "public", "site_admin": false,
    })
}

/// A repository as a push shows it, with GitHub's API URLs.
fn repository(rng: &mut Rng, full_name: &str, owner: Value, pushed_at: u64) -> Value {
    let api = format!("https://api.github.com/repos/{full_name}");
    let mut repo = json!({
        "id": 1_296_269 + rng.below(100), "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": full_name.split('/').nth(1), "full_name": full_name, "private": false,
        "owner": owner, "html_url": format!("https://github.com/{full_name}"),
        "description": "Signed webhooks in, durable rules and retried actions out",
        "fork": false, "url": format!("https://github.com/{full_name}"),
        "created_at": 1_700_000_000, "updated_at": "2026-01-01T00:00:00Z",
        "pushed_at": pushed_at, "git_url": format!("git://github.com/{full_name}.git"),
        "ssh_url": format!("git@github.com:{full_name}.git"),
        "clone_url": format!("https://github.com/{full_name}.git"),
        "size": 4_000 + rng.below(1000), "stargazers_count": rng.below(500),
        "watchers_count": rng.below(500), "language": "Rust", "has_issues": true,
        "forks_count": rng.below(50), "open_issues_count": rng.below(40),
        "default_branch": "main", "master_branch": "main", "visibility": "public",
    });
    for name in [
        "forks",
        "hooks",
        "events",
        "branches{/branch}",
        "tags",
        "git/refs{/sha}",
        "statuses/{sha}",
        "languages",
        "contributors",
        "commits{/sha}",
        "comments{/number}",
        "contents/{+path}",
        "compare/{base}...{head}",
        "issues{/number}",
        "pulls{/number}",
        "releases{/id}",
        "deployments",
    ] {
        let key = name
            .split(['/', '{'])
            .find(|part| !part.is_empty())
            .unwrap_or("archive");
        repo[format!("{key}_url")] = json!(format!("{api}/{name}"));
    }
    repo
}

/// A GitHub `push` of at least `PAYLOAD_BYTES` of JSON, shaped as GitHub sends one, with
/// random object ids and messages (every event's payload is this shape, whatever its
/// source: its size is what counts here).
pub fn payload(rng: &mut Rng, n: u64) -> Value {
    let full_name = format!(
        "example/{}",
        rng.pick(&["herald", "unotify", "website", "infra"])
    );
    let (_, login) = PEOPLE[rng.below(PEOPLE.len() as u64) as usize];
    let sender = user(login, 583_231 + rng.below(1000));
    let owner = user("example", 9_919);
    let (before, after) = (rng.sha(), rng.sha());
    let mut body = json!({
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": repository(rng, &full_name, owner, 1_767_225_600 + n * 2),
        "pusher": {"name": login, "email": format!("{login}@example.com")},
        "sender": sender,
        "created": false, "deleted": false, "forced": false, "base_ref": null,
        "compare": format!("https://github.com/{full_name}/compare/{}...{}", &before[..12], &after[..12]),
        "commits": [],
        "head_commit": null,
    });
    // The length as serialized: the document's so far, each commit's (and a comma), and
    // the head commit's in place of `null`.
    let empty = body.to_string().len();
    let mut commits: Vec<Value> = Vec::new();
    let mut listed = 0;
    while empty + listed + commits.last().map_or(0, |c| c.to_string().len()) < PAYLOAD_BYTES {
        let next = commit(rng, &full_name, n / 30);
        listed += next.to_string().len() + 1;
        commits.push(next);
    }
    body["head_commit"] = commits.last().cloned().unwrap_or(Value::Null);
    body["commits"] = Value::Array(commits);
    body
}

/// The headers herald keeps of a GitHub delivery (signatures are never stored).
fn headers(event_type: &str, delivery: &str) -> BTreeMap<String, String> {
    [
        ("accept", "*/*"),
        ("content-type", "application/json"),
        ("user-agent", "GitHub-Hookshot/a1b2c3d"),
        ("x-github-delivery", delivery),
        ("x-github-event", event_type),
        ("x-github-hook-id", "512345678"),
        ("x-github-hook-installation-target-id", "1296269"),
        ("x-github-hook-installation-target-type", "repository"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect()
}

/// The `n`-th event, received `EVENT_SPACING_MS` after the one before it from `start`,
/// with its one pending delivery.
pub fn event(rng: &mut Rng, n: u64, start: Timestamp) -> EventWithDeliveries {
    let (source, event_type) = kind(rng);
    let delivery = Uuid::from_u64_pair(rng.next(), rng.next()).to_string();
    let received_at = start + chrono::Duration::milliseconds(n as i64 * EVENT_SPACING_MS);
    let id = Uuid::now_v7();
    let event = NewEvent {
        id,
        source: source.to_string(),
        event_type: event_type.to_string(),
        dedup_key: Some(delivery.clone()),
        received_at,
        headers: headers(event_type, &delivery),
        payload: JsonText::encode(&payload(rng, n)),
        hook: None,
    };
    let delivery = NewDelivery {
        id: Uuid::now_v7(),
        event_id: Some(id),
        rule: RULE.to_string(),
        action: ACTION.to_string(),
        idempotency_key: format!("{id}/{RULE}/{ACTION}"),
        created_at: received_at,
        next_attempt_at: received_at,
        ordering_key: None,
        window_id: None,
        lease: None,
    };
    EventWithDeliveries {
        event,
        deliveries: vec![delivery],
        windows: Vec::new(),
    }
}

/// What the `http` action's attempt log keeps for a delivery of `payload` with the default
/// body (`Plan::describe`: the request with its body as sent, as a string).
pub fn attempt_request(payload: &str) -> Value {
    json!({
        "requests": [{
            "method": "POST",
            "url": SINK_URL,
            "headers": {"content-type": "application/json"},
            "body": payload,
        }]
    })
}

/// A successful attempt of a claimed delivery of an event with `payload`, started at
/// `started_at`. Its request is `payload`'s text as the body, as the executor renders it.
pub fn success(claimed: &ClaimedDelivery, payload: &Value, started_at: Timestamp) -> AttemptRecord {
    let duration_ms = 12;
    AttemptRecord {
        delivery_id: claimed.delivery.id,
        lease_token: claimed.lease_token,
        started_at,
        duration_ms,
        status_code: Some(200),
        error: None,
        request: Some(attempt_request(&payload.to_string()).into()),
        payload: Some(std::sync::Arc::new(payload.clone().into())),
        response_body: Some(r#"{"ok":true}"#.to_string()),
        next: NextStep::Succeeded,
        now: started_at + chrono::Duration::milliseconds(duration_ms),
        progress: 1,
        failure_kind: None,
        refs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_adds_up_to_one() {
        assert_eq!(MIX.iter().map(|(_, _, share)| share).sum::<u32>(), 1000);
    }

    #[test]
    fn payloads_are_about_four_kilobytes_and_differ() {
        let mut rng = Rng::new(7);
        let a = payload(&mut rng, 1).to_string();
        let b = payload(&mut rng, 2).to_string();
        assert!((4096..6000).contains(&a.len()), "{}", a.len());
        assert_ne!(a, b);
    }
}
