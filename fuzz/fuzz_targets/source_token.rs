//! The `token` kind (the Pact Broker's): a bearer token, a custom header with query
//! parameters and `event_type` / `dedup_key` expressions, and basic auth with and without
//! a user name.
#![no_main]

use herald_fuzz::{Input, run};

libfuzzer_sys::fuzz_target!(|input: Input| run("token", &input));
