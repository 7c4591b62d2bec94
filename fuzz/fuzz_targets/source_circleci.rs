//! CircleCI: `circleci-signature` lists of `version=hex` entries; JSON typed by `type` or
//! the event-type header.
#![no_main]

use herald_fuzz::{Input, run};

libfuzzer_sys::fuzz_target!(|input: Input| run("circleci", &input));
