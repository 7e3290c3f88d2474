//! The bodies of the fuzz targets, one function per decoder of stored or
//! imported bytes. Included by `#[path]` both in the cargo-fuzz binaries
//! (`fuzz/fuzz_targets/*.rs`, nightly) and in the stable test
//! `tests/fuzz_corpus.rs`, which replays the saved corpus and every past
//! crash: a body must never panic, whatever the bytes; a decoder's `Err`
//! is a success.

#![allow(dead_code, reason = "each fuzz binary uses one target")]

use std::path::Path;

use result_collector::{SweepFile, cache::fuzzing, report};

/// The body of a target.
pub type Body = fn(&[u8]);

/// Every target: its name (the directory of its corpus) and its body.
pub const TARGETS: [(&str, Body); 8] = [
    ("result_envelope", result_envelope),
    ("event_envelope", event_envelope),
    ("records", records),
    ("job_record", job_record),
    ("json_reader", json_reader),
    ("csv_reader", csv_reader),
    ("netcdf_reader", netcdf_reader),
    ("sweep_file", sweep_file),
];

/// A stored result (`results` family): envelope, MessagePack payload,
/// dataset with raw numeric columns, failures and counters.
pub fn result_envelope(data: &[u8]) {
    if let Ok(Some(r)) = fuzzing::decode_result(data) {
        // A decoded dataset is usable: printing walks every cell.
        let _ = r.dataset.to_string();
    }
}

/// One history event (`history_events` family), decoded whole and in
/// place (the path of a history load).
pub fn event_envelope(data: &[u8]) {
    if let Ok((_, ds)) = fuzzing::decode_event(data) {
        let _ = ds.to_string();
    }
}

/// Index entries, history metadata, lineages, job sets, shard manifests,
/// the format version, and every family's keys.
pub fn records(data: &[u8]) {
    let _ = fuzzing::decode_records(data);
}

/// A chunk of job records (`RC`, the `job_records` family), and the same
/// bytes as one job record (`RJ`, an entry of a chunk).
pub fn job_record(data: &[u8]) {
    let _ = fuzzing::decode_job_chunk(data);
    let _ = fuzzing::decode_job(data);
}

/// The JSON export reader: what `report::read_json` does after reading
/// the file.
pub fn json_reader(data: &[u8]) {
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = report::from_json(&doc);
    }
}

/// The CSV export reader.
pub fn csv_reader(data: &[u8]) {
    let _ = report::read_csv_from(data, Path::new("fuzz.csv"));
}

/// The netCDF reader (libnetcdf and HDF5 underneath), through a file.
pub fn netcdf_reader(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let path = dir.path().join("fuzz.nc");
    if std::fs::write(&path, data).is_ok() {
        let _ = report::read_netcdf(&path);
    }
}

/// For the `netcdf_reader` fuzz binary: libfuzzer-sys's panic hook
/// aborts on every panic, caught or not. The `netcdf` crate panics on some
/// library errors (its iterators unwrap them) and `read_netcdf` catches
/// those panics and returns an error: this hook lets exactly those pass
/// (a panic of the `netcdf` crate) and hands every other
/// panic to the fuzzer's hook, which aborts. An uncaught panic aborts
/// anyway (libfuzzer-sys checks the target's outcome).
pub fn tolerate_netcdf_crate_panics() {
    let fuzzer_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Located in its sources, or (for its `.map(Result::unwrap)`, whose
        // location is core's) the unwrap of one of its errors.
        let in_netcdf_crate = info
            .location()
            .is_some_and(|l| l.file().contains("/netcdf-0."))
            || {
                let p = info.payload();
                p.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .is_some_and(|m| m.contains("on an `Err` value: Netcdf("))
            };
        if !in_netcdf_crate {
            fuzzer_hook(info);
        }
    }));
}

/// A sweep file (`collector run`'s TOML).
pub fn sweep_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = SweepFile::parse(text, Path::new("fuzz.toml"));
    }
}
