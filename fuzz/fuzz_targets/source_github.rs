//! GitHub webhooks: `X-Hub-Signature-256`, `X-GitHub-Event`, JSON or form bodies, `ping`;
//! with and without `require_delivery`.
#![no_main]

use herald_fuzz::{Input, run};

libfuzzer_sys::fuzz_target!(|input: Input| run("github", &input));
