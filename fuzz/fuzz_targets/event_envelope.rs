//! Fuzz target `event_envelope`: its body is `targets::event_envelope` (shared with the
//! stable test `tests/fuzz_corpus.rs`).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::event_envelope(data));
