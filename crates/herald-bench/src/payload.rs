//! What the load generator sends: a GitHub `push` delivery of about 5 KB, signed as GitHub
//! signs it (`X-Hub-Signature-256`), over a client that holds exactly one connection.

use bytes::Bytes;
use hmac::{KeyInit, Mac};
use serde_json::json;
use std::time::Duration;

/// The webhook secret of the benchmark's GitHub source.
pub const SECRET: &str = "herald-bench-secret";
/// The headers of every push delivery besides its id and signature, as GitHub sends them.
pub const PUSH_HEADERS: [(&str, &str); 4] = [
    ("content-type", "application/json"),
    ("user-agent", "GitHub-Hookshot/herald-bench"),
    ("x-github-event", "push"),
    ("x-github-hook-id", "1"),
];
/// Smallest body size we aim for.
const TARGET_BYTES: usize = 5 * 1024;

/// A push of a few commits, as GitHub sends it (abridged fields), of about 5 KB.
pub fn push_body() -> Bytes {
    let mut commits = Vec::new();
    loop {
        let body = push_event(&commits);
        if body.len() >= TARGET_BYTES {
            return Bytes::from(body);
        }
        commits.push(commit(commits.len()));
    }
}

fn push_event(commits: &[serde_json::Value]) -> String {
    let user = json!({
        "login": "octocat", "id": 583231, "type": "User", "site_admin": false,
        "html_url": "https://github.com/octocat",
    });
    json!({
        "ref": "refs/heads/main",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": format!("{:040x}", commits.len() + 1),
        "created": false, "deleted": false, "forced": false,
        "compare": "https://github.com/example/herald/compare/0000000...1111111",
        "repository": {
            "id": 1296269, "name": "herald", "full_name": "example/herald", "private": false,
            "owner": user, "html_url": "https://github.com/example/herald",
            "default_branch": "main", "pushed_at": 1795340000,
        },
        "pusher": {"name": "octocat", "email": "octocat@example.com"},
        "sender": user,
        "commits": commits,
        "head_commit": commits.last(),
    })
    .to_string()
}

fn commit(n: usize) -> serde_json::Value {
    let person = json!({"name": "Mona Lisa", "email": "mona@example.com", "username": "mona"});
    json!({
        "id": format!("{:040x}", n + 1),
        "tree_id": format!("{:040x}", n + 1000),
        "distinct": true,
        "message": format!("Fix delivery retries when the destination answers 429 (#{n})\n\nThe Retry-After header is now honoured."),
        "timestamp": "2026-11-22T10:00:00Z",
        "url": format!("https://github.com/example/herald/commit/{:040x}", n + 1),
        "author": person, "committer": person,
        "added": [format!("crates/herald/src/outbox/retry_{n}.rs")],
        "removed": [],
        "modified": ["crates/herald/src/outbox/worker.rs", "CHANGELOG.md"],
    })
}

/// `X-Hub-Signature-256` for `body`, with the benchmark's secret.
pub fn signature(body: &[u8]) -> String {
    sign(SECRET, body)
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A client limited to one keep-alive connection: one per load task.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a plain HTTP client builds")
}

/// POST one push delivery signed with `signature`; true on a 2xx answer (the answer is
/// read whole so the connection is reused).
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    delivery: &str,
    signature: String,
    body: Bytes,
) -> Result<bool, reqwest::Error> {
    let mut request = client.post(url);
    for (name, value) in PUSH_HEADERS {
        request = request.header(name, value);
    }
    let response = request
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await?;
    let ok = response.status().is_success();
    response.bytes().await?;
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_push_body_is_about_5_kb_of_json() {
        let body = push_body();
        eprintln!("push body: {} bytes", body.len());
        assert!((TARGET_BYTES..TARGET_BYTES + 1024).contains(&body.len()));
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["ref"], "refs/heads/main");
    }

    #[test]
    fn signature_matches_githubs_documented_example() {
        // From GitHub's "Validating webhook deliveries" page.
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
