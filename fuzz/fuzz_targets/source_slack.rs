//! Slack: `v0=` signatures over a timestamp and the body; Events API JSON, interactivity
//! payloads, slash-command forms.
#![no_main]

use herald_fuzz::{Input, run};

libfuzzer_sys::fuzz_target!(|input: Input| run("slack", &input));
