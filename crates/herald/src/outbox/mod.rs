//! Workers carry out deliveries from the outbox: claim with a lease, plan, execute,
//! classify, record the attempt and schedule the next one.

pub mod executor;
pub mod flusher;
pub mod pacer;
pub mod worker;

pub use executor::Executor;
pub use worker::{Worker, WorkerSettings};
