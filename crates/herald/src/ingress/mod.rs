//! The way in: source kinds verify and read requests; the ingest service stores them.

pub mod signatures;
pub mod source;
