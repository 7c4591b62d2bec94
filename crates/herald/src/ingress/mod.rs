//! The way in: source kinds verify and read requests, poller kinds ask for and read
//! pages; the ingest service and the pollers store them.

pub mod poller;
pub mod signatures;
pub mod source;
