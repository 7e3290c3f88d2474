//! Fuzz target `netcdf_reader`: its body is `targets::netcdf_reader`
//! (shared with the stable test `tests/fuzz_corpus.rs`).
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(
    init: targets::tolerate_netcdf_crate_panics(),
    |data: &[u8]| targets::netcdf_reader(data)
);
