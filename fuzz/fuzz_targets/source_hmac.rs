//! The generic `hmac` kind: a prefixed hex signature (SHA-256), base64 (SHA-1), and a signed
//! timestamp template (SHA-512); JSON, form or empty bodies.
#![no_main]

use herald_fuzz::{Input, run};

libfuzzer_sys::fuzz_target!(|input: Input| run("hmac", &input));
