//! Fuzz target `csv_reader`: its body is `targets::csv_reader` (shared with the
//! stable test `tests/fuzz_corpus.rs`).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::csv_reader(data));
