//! Fuzz target `job_record`: its body is `targets::job_record` (shared with the
//! stable test `tests/fuzz_corpus.rs`).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::job_record(data));
