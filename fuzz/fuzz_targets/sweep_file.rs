//! Fuzz target `sweep_file`: its body is `targets::sweep_file` (shared with the
//! stable test `tests/fuzz_corpus.rs`).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::sweep_file(data));
