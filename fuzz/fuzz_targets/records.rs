//! Fuzz target `records`: its body is `targets::records` (shared with the
//! stable test `tests/fuzz_corpus.rs`).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::records(data));
