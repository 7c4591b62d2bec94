//! The transitions Jira offers, cached per (project, status) for a while: what a ticket
//! may do depends on its status, so the cache is never per project alone, and a failed
//! read (a 404) is never cached.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TransitionCache {
    ttl: Duration,
    entries: Mutex<HashMap<(String, String), (Instant, Value)>>,
}

impl TransitionCache {
    pub fn new(ttl: Duration) -> Self {
        TransitionCache {
            ttl,
            entries: Mutex::default(),
        }
    }

    /// The transitions offered in `status` of `project`, if read less than the TTL ago.
    pub fn get(&self, project: &str, status: &str) -> Option<Value> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (read_at, offered) = entries.get(&key(project, status))?;
        (read_at.elapsed() < self.ttl).then(|| offered.clone())
    }

    /// Remember what a successful read offered.
    pub fn put(&self, project: &str, status: &str, offered: &Value) {
        if !offered["transitions"].is_array() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (read_at, _)| read_at.elapsed() < self.ttl);
        entries.insert(key(project, status), (Instant::now(), offered.clone()));
    }
}

/// Statuses compare without regard to case, as Jira's do.
fn key(project: &str, status: &str) -> (String, String) {
    (project.to_string(), status.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_are_per_project_and_status_and_expire() {
        let cache = TransitionCache::new(Duration::from_secs(60));
        let offered = json!({"transitions": [{"id": "21"}]});
        cache.put("SOC", "To Do", &offered);
        assert_eq!(cache.get("SOC", "to do"), Some(offered.clone()));
        assert_eq!(cache.get("SOC", "In Progress"), None);
        assert_eq!(cache.get("DEVHOP", "To Do"), None);
        cache.put("SOC", "Done", &json!(null));
        assert_eq!(
            cache.get("SOC", "Done"),
            None,
            "a failed read is not cached"
        );
        let expired = TransitionCache::new(Duration::ZERO);
        expired.put("SOC", "To Do", &offered);
        assert_eq!(expired.get("SOC", "To Do"), None);
    }
}
