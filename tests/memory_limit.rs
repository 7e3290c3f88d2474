//! The memory limit and the build-time limits through the `collector`
//! program: a sweep too large to store is refused when its file is read,
//! one too large for `--memory-limit` before the cache is created, and
//! neither runs its command.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;

use common::{collector, ok, stderr};

/// A sweep file whose every job would create `marker` next to it.
fn sweep_file(dir: &Path, name: &str, inputs: &str) -> std::path::PathBuf {
    let text = format!(
        "name = \"{name}\"\n{inputs}\n[command]\nargv = [\"sh\", \"-c\", \"touch marker\"]\noutput = \"none\"\n"
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn int_inputs(names: &[&str], hi: u64) -> String {
    names
        .iter()
        .map(|n| format!("[[input]]\nname = \"{n}\"\nbounds = [1, {hi}]\n"))
        .collect()
}

fn refused(o: &std::process::Output) -> String {
    assert!(!o.status.success(), "{}", stderr(o));
    stderr(o)
}

/// The sweep of issue 15, four inputs of 2,000 values (one float result:
/// the command's wall time): 1.28e14 bytes of cells, refused when the
/// file is read, naming the bytes and the limit; no job runs and no cache
/// is created.
#[test]
fn four_inputs_of_two_thousand_values_are_refused_before_any_job() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let file = sweep_file(dir.path(), "four", &int_inputs(&["a", "b", "c", "d"], 2000));
    let err = refused(&collector(&cache, &["run", file.to_str().unwrap()]));
    assert!(
        err.contains("128000000064008 bytes") && err.contains("4294967295 bytes"),
        "{err}"
    );
    assert!(!dir.path().join("marker").exists(), "a job ran");
    assert!(!cache.exists(), "the cache was created");
}

/// Under `--memory-limit`, a sweep the cache could store but the limit
/// refuses: the error names the bytes and the limit; no job runs, nothing
/// is created. Under a larger limit it runs.
#[test]
fn a_sweep_over_the_memory_limit_is_refused_by_run_and_demo() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let file = sweep_file(dir.path(), "wide", &int_inputs(&["n"], 100_000));
    let path = file.to_str().unwrap();
    let err = refused(&collector(&cache, &["run", path, "--memory-limit", "1M"]));
    assert!(
        err.contains("`wide`") && err.contains("memory limit of 1048576 bytes (1.0 MiB)"),
        "{err}"
    );
    // 100,000 cells of 8 bytes and their encoded copy, at least.
    let bytes: u64 = err
        .split("needs about ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {err}"));
    assert!(bytes >= 1_600_000, "{err}");
    assert!(!dir.path().join("marker").exists(), "a job ran");
    assert!(!cache.exists(), "the cache was created");
    // From the environment too.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_collector"))
        .args(["--cache-dir", cache.to_str().unwrap(), "run", path])
        .env("RESULT_COLLECTOR_MEMORY_LIMIT", "1500K")
        .output()
        .unwrap();
    assert!(refused(&o).contains("1536000 bytes"), "{}", stderr(&o));
    // The demo's sweep does not fit a kibibyte.
    let err = refused(&collector(&cache, &["demo", "--memory-limit", "1K"]));
    assert!(err.contains("memory limit of 1024 bytes"), "{err}");
    assert!(!cache.exists(), "the cache was created");
    // A bad size is a usage error.
    let o = collector(&cache, &["run", path, "--memory-limit", "1X"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("unknown unit"), "{}", stderr(&o));
    // A small sweep under a limit runs.
    let small = sweep_file(dir.path(), "small", &int_inputs(&["n"], 3));
    let out = ok(collector(
        &cache,
        &["run", small.to_str().unwrap(), "--memory-limit", "64MiB"],
    ));
    assert!(out.contains("ran 3 jobs"), "{out}");
    assert!(dir.path().join("marker").exists());
}

/// Inspection under `--memory-limit`: a history too large to load is an
/// error, not an allocation.
#[test]
fn a_history_over_the_memory_limit_is_refused_by_inspection() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let file = sweep_file(
        dir.path(),
        "hist",
        &format!("over_time = true\n{}", int_inputs(&["n"], 1000)),
    );
    let path = file.to_str().unwrap();
    for label in ["a", "b", "c"] {
        ok(collector(
            &cache,
            &["run", path, "--label", label, "--threads", "2"],
        ));
    }
    // Three events of 1000 cells of 8 bytes: 24,000 bytes.
    let err = refused(&collector(
        &cache,
        &["history", "hist", "--memory-limit", "20000"],
    ));
    assert!(
        err.contains("24000 bytes") && err.contains("20000 bytes") && err.contains("history"),
        "{err}"
    );
    ok(collector(
        &cache,
        &["history", "hist", "--memory-limit", "30000"],
    ));
}
