#![no_main]
//! cargo-fuzz target: see `fuzz/harness.rs` (hl7_parse).

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::hl7_parse(data));
