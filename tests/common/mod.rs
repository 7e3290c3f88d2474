//! What the end-to-end tests of the `collector` binary share: running it
//! on a cache directory, and reading its output.
#![allow(dead_code, reason = "each test file uses a part")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary with `--cache-dir cache` and `args`, in `cwd` when
/// given (so a default cache directory never lands in the repository),
/// without the environment's log or cache settings.
pub fn collector_in(cwd: Option<&Path>, cache: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_collector"));
    if let Some(cwd) = cwd {
        c.current_dir(cwd);
    }
    c.arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("RESULT_COLLECTOR_CACHE_DIR")
        .output()
        .expect("the collector binary runs")
}

/// [`collector_in`] in the test's working directory.
pub fn collector(cache: &Path, args: &[&str]) -> Output {
    collector_in(None, cache, args)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Checks a success and returns its stdout.
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// `p` as text (the tests' paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Every file under `dir` (hidden ones too), recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Checks a clean failure: exit code 1 and no panic. Returns stderr.
pub fn failed(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "stderr:\n{err}\nstdout:\n{}",
        stdout(o)
    );
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
    err
}

/// One clear error: exit 1, stderr is one `error: …` line holding every
/// needle, no panic.
pub fn one_error(o: &Output, needles: &[&str]) -> String {
    let err = failed(o);
    assert!(err.starts_with("error: "), "stderr:\n{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected:\n{err}"
    );
    for n in needles {
        assert!(err.contains(n), "`{n}` expected in:\n{err}");
    }
    err
}
