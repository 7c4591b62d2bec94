//! What the HTTP handlers, the CLI and the workers call: one service per concern, over
//! the store. No HTTP and no terminal formatting here.

pub mod explain;
pub mod hooks;
pub mod ingest;
pub mod memory;
pub mod query;
pub mod retention;
pub mod scheduler;
pub mod status;
pub mod storage;
pub mod time;
pub mod trial;
pub mod windows;
pub mod write_health;

pub use hooks::{HookError, Hooks};
pub use ingest::{Ingest, IngestError, IngestOutcome};
pub use query::Queries;
