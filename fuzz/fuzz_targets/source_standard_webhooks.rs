//! Standard Webhooks: `webhook-id`, `webhook-timestamp`, `v1,<base64>` signature lists;
//! JSON bodies.
#![no_main]

use herald_fuzz::{Input, run};

libfuzzer_sys::fuzz_target!(|input: Input| run("standard-webhooks", &input));
