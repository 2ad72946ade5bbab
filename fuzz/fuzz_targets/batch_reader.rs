#![no_main]
//! cargo-fuzz target: see `fuzz/harness.rs` (batch_reader).

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::batch_reader(data));
