//! Registered hooks: endpoints created at run time under a registry source
//! (`[sources.NAME] registry = true`), one per repository, each verified with its own
//! secret. This module is the pure part — the names people give (`names.rs`) and the
//! sealing of secrets at rest (`seal.rs`); `services/hooks.rs` keeps them in the store.

pub mod names;
pub mod seal;

pub use names::{HookId, Repository};
pub use seal::{HookKey, SealError, fresh_secret};
