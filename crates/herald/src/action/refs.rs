//! Refs: what an external system returned for a key (a Slack message, a GitHub
//! deployment), kept in the store, read while planning and written with the attempt.

use async_trait::async_trait;
use herald_store::SharedStore;
use serde_json::{Map, Value};

/// Reads refs.
#[async_trait]
pub trait RefLookup: Send + Sync {
    async fn get(&self, kind: &str, key: &str) -> Result<Option<Value>, String>;

    /// Refs of a kind in one group, newest first: (key, data).
    async fn group(&self, kind: &str, group: &str) -> Result<Vec<(String, Value)>, String>;

    /// Every ref of a kind, newest first: (key, data, last written).
    async fn all(&self, kind: &str) -> Result<Vec<StoredRef>, String>;
}

/// A ref as a retention pass sees it.
pub type StoredRef = (String, Value, chrono::DateTime<chrono::Utc>);

/// No refs at all: for routing, and dry runs without a store.
pub struct NoRefs;

#[async_trait]
impl RefLookup for NoRefs {
    async fn get(&self, _kind: &str, _key: &str) -> Result<Option<Value>, String> {
        Ok(None)
    }

    async fn group(&self, _kind: &str, _group: &str) -> Result<Vec<(String, Value)>, String> {
        Ok(Vec::new())
    }

    async fn all(&self, _kind: &str) -> Result<Vec<StoredRef>, String> {
        Ok(Vec::new())
    }
}

/// Refs as the store holds them.
pub struct StoreRefs(pub SharedStore);

#[async_trait]
impl RefLookup for StoreRefs {
    async fn get(&self, kind: &str, key: &str) -> Result<Option<Value>, String> {
        match self.0.get_ref(kind, key).await {
            Ok(found) => Ok(found.map(|r| r.data)),
            Err(error) => Err(format!("cannot read ref {kind}/{key}: {error}")),
        }
    }

    async fn group(&self, kind: &str, group: &str) -> Result<Vec<(String, Value)>, String> {
        match self.0.list_refs(kind, group).await {
            Ok(found) => Ok(found.into_iter().map(|r| (r.key, r.data)).collect()),
            Err(error) => Err(format!("cannot read refs {kind} of {group}: {error}")),
        }
    }

    async fn all(&self, kind: &str) -> Result<Vec<StoredRef>, String> {
        match self.0.list_refs_of_kind(kind).await {
            Ok(found) => Ok(found
                .into_iter()
                .map(|r| (r.key, r.data, r.updated_at))
                .collect()),
            Err(error) => Err(format!("cannot read refs {kind}: {error}")),
        }
    }
}

/// Names a ref: its kind (shared by the actions that read it) and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefKey {
    pub kind: &'static str,
    pub key: String,
}

/// A ref to remember, written with the attempt record.
pub type RefWrite = herald_store::model::RefWrite;

/// What to remember for `key`, in `group`.
pub fn ref_write(key: &RefKey, data: Value, group: Option<&str>) -> RefWrite {
    RefWrite {
        kind: key.kind.to_string(),
        key: key.key.clone(),
        data,
        group: group.map(str::to_string),
        delete: false,
    }
}

/// Forget `key`.
pub fn ref_delete(key: &RefKey) -> RefWrite {
    RefWrite {
        kind: key.kind.to_string(),
        key: key.key.clone(),
        data: Value::Null,
        group: None,
        delete: true,
    }
}

/// What a step's success changes in the refs. The step runner applies it, so one attempt
/// may change the same ref in several steps, each from the state the previous one left.
#[derive(Debug, Clone, PartialEq)]
pub enum Remember {
    /// `extra` and what the answer identified (its facts: Slack's channel and ts, GitHub's
    /// deployment id), under `key` in `group`.
    Answer {
        key: RefKey,
        extra: Value,
        group: Option<String>,
    },
    /// The remembered data with the fields of `set` replaced and the number in `count` (if
    /// any) one higher. `known`: the data as planned, unless an earlier step of the same
    /// attempt changed it.
    Update {
        key: RefKey,
        known: Option<Value>,
        set: Map<String, Value>,
        count: Option<&'static str>,
        group: Option<String>,
    },
    /// The remembered data (`known` as planned, unless an earlier step of the same attempt
    /// changed it) with the fields of `set` and then the answer's facts replaced: a record
    /// several steps add to (a deployment, then its Slack message).
    Merge {
        key: RefKey,
        known: Option<Value>,
        set: Map<String, Value>,
        group: Option<String>,
    },
    /// Forget the key.
    Forget(RefKey),
}
