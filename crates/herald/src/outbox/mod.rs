//! Workers carry out deliveries from the outbox: claim with a lease, plan, run the steps
//! (classifying each answer), record the attempt and schedule the next one.

pub mod executor;
pub mod flusher;
pub mod handoff;
pub mod heartbeat;
pub mod pacer;
pub mod recent;
pub mod runner;
pub mod worker;

pub use executor::Executor;
pub use handoff::Handoff;
pub use worker::{Worker, WorkerSettings};
