//! Configuration loading: `herald::config::from_text` over arbitrary text (UTF-8, as herald
//! reads files), with every source, action, rule, window, monitor and schedule check.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| herald_fuzz::load_config(data));
