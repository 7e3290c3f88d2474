//! `cargo xtask fuzz [SECS] [TARGET…]`: runs every fuzz target of `fuzz/`
//! (or the ones named) for SECS seconds each (default 600), one after the
//! other, and prints per target the inputs executed, the seconds and the
//! crashes found. `cargo xtask fuzz seeds` writes the seed corpus again.
//!
//! - Needs the nightly toolchain and cargo-fuzz; cargo-fuzz is installed
//!   (`cargo install cargo-fuzz`) when missing.
//! - The fuzz build (nightly, sanitizers) goes to the target dir
//!   `$CARGO_TARGET_DIR/fuzz` (`target/fuzz` without it), which later runs
//!   reuse. It links the `librocksdb.a` a stable build of this workspace
//!   made already (found under `$CARGO_TARGET_DIR/{debug,release}/build`,
//!   copied to `<fuzz target dir>/prebuilt-rocksdb/`, passed as
//!   `ROCKSDB_LIB_DIR`): the fuzz targets decode bytes and never open a
//!   database, and compiling RocksDB's C++ again took over 40 minutes on
//!   2 busy cores. Without a prebuilt library (or with `ROCKSDB_LIB_DIR`
//!   set by the caller) the build does what librocksdb-sys does.
//! - Each target fuzzes from the committed corpus (`fuzz/corpus/<target>`,
//!   read only) and a scratch corpus in that target dir that keeps what
//!   the fuzzer learnt between runs. Crashes are written to
//!   `fuzz/artifacts/<target>/`; once fixed, move each to
//!   `fuzz/regressions/<target>/`, which the stable test
//!   `tests/fuzz_corpus.rs` replays in CI.
//! - `netcdf_reader` runs in libFuzzer's fork mode, going on past crashes:
//!   libnetcdf and HDF5 (C) crash on some corrupt files (see
//!   `fuzz/known-crashes/README.md`). Each crash input is replayed and
//!   counted as the C libraries' when its stack reaches libnetcdf or HDF5
//!   before any Rust frame of ours; only the others fail the task.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cargo_step, root, run, setup::setup};

/// The fuzz targets, as `fuzz/Cargo.toml` names them (and as
/// `fuzz/targets.rs` lists them).
pub(crate) const TARGETS: [&str; 8] = [
    "result_envelope",
    "event_envelope",
    "records",
    "job_record",
    "json_reader",
    "csv_reader",
    "netcdf_reader",
    "sweep_file",
];

/// Default seconds per target.
const DEFAULT_SECS: u64 = 600;

/// What one target's run gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Inputs executed (libFuzzer's `stat::number_of_executed_units`).
    pub(crate) execs: Option<u64>,
    /// The crash inputs it wrote (crash, leak, OOM or timeout) that are
    /// ours to fix.
    pub(crate) crashes: Vec<PathBuf>,
    /// Those that crashed inside libnetcdf or HDF5 (C code).
    pub(crate) in_c_libraries: Vec<PathBuf>,
}

/// `cargo xtask fuzz …`.
pub(crate) fn fuzz(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("seeds") {
        return cargo_step(&[
            "test",
            "--test",
            "fuzz_corpus",
            "--",
            "--ignored",
            "write_seeds",
        ]);
    }
    let (secs, targets) = parse_args(args)?;
    setup()?;
    ensure_cargo_fuzz()?;
    let root = root();
    let target_dir = fuzz_target_dir(&root);
    let td = target_dir.to_string_lossy().to_string();
    let rocksdb = prebuilt_rocksdb(&target_dir)?;
    match &rocksdb {
        Some(d) => eprintln!("xtask: linking the prebuilt RocksDB in {}", d.display()),
        None => eprintln!(
            "xtask: no prebuilt librocksdb.a found: the fuzz build compiles RocksDB's C++ (20+ minutes)"
        ),
    }
    let mut build = nightly();
    with_rocksdb(&mut build, rocksdb.as_deref());
    build.args(["fuzz", "build", "--target-dir", &td]);
    run(
        build,
        &format!("cargo +nightly fuzz build --target-dir {td}"),
    )?;
    let mut rows = Vec::new();
    for t in &targets {
        let start = Instant::now();
        let outcome = run_target(&root, &target_dir, rocksdb.as_deref(), t, secs)?;
        rows.push((t.clone(), outcome, start.elapsed().as_secs_f64()));
    }
    println!(
        "\n{:<16} {:>14} {:>9}  crashes (in libnetcdf/HDF5)",
        "target", "inputs", "seconds"
    );
    let mut open = 0;
    for (t, o, s) in &rows {
        let execs = o.execs.map_or("?".to_string(), |n| n.to_string());
        println!(
            "{t:<16} {execs:>14} {s:>9.0}  {} ({})",
            o.crashes.len(),
            o.in_c_libraries.len()
        );
        for c in &o.crashes {
            println!("    {}", c.display());
        }
        for c in &o.in_c_libraries {
            println!("    in libnetcdf/HDF5: {}", c.display());
        }
        open += o.crashes.len();
    }
    if open > 0 {
        bail!(
            "{open} crash input(s) found: fix the decoder, then move each file to \
             fuzz/regressions/<target>/ (replayed by `cargo test --test fuzz_corpus`)"
        );
    }
    println!("no crash in {} target(s), {secs} s each", rows.len());
    Ok(())
}

/// `[SECS] [TARGET…]`: the seconds per target and the targets to run.
pub(crate) fn parse_args(args: &[String]) -> Result<(u64, Vec<String>)> {
    let mut secs = DEFAULT_SECS;
    let mut targets = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i == 0
            && let Ok(n) = a.parse::<u64>()
        {
            if n == 0 {
                bail!("SECS must be at least 1");
            }
            secs = n;
        } else if TARGETS.contains(&a.as_str()) {
            targets.push(a.clone());
        } else {
            bail!(
                "`{a}` is neither a number of seconds (first) nor a fuzz target; targets: {}",
                TARGETS.join(", ")
            );
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    Ok((secs, targets))
}

/// `$CARGO_TARGET_DIR/fuzz`, or `<root>/target/fuzz`.
pub(crate) fn fuzz_target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("fuzz")
}

/// The directory of a prebuilt `librocksdb.a` to link (see the module
/// doc): `<fuzz target dir>/prebuilt-rocksdb/`, filled from the newest one
/// a stable build left under the cargo target dir. `None` when the caller
/// set `ROCKSDB_LIB_DIR` (theirs is used) or when there is none.
fn prebuilt_rocksdb(fuzz_target_dir: &Path) -> Result<Option<PathBuf>> {
    if std::env::var_os("ROCKSDB_LIB_DIR").is_some() {
        return Ok(None);
    }
    let dir = fuzz_target_dir.join("prebuilt-rocksdb");
    let lib = dir.join("librocksdb.a");
    if lib.is_file() {
        return Ok(Some(dir));
    }
    let Some(cargo_target) = fuzz_target_dir.parent() else {
        return Ok(None);
    };
    let newest = ["debug", "release"]
        .iter()
        .filter_map(|p| std::fs::read_dir(cargo_target.join(p).join("build")).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("librocksdb-sys-"))
        })
        .map(|p| p.join("out/librocksdb.a"))
        .filter_map(|a| Some((a.metadata().ok()?.modified().ok()?, a)))
        .max();
    let Some((_, found)) = newest else {
        return Ok(None);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // A hard link when the file system allows it (the library is ~1 GB).
    if std::fs::hard_link(&found, &lib).is_err() {
        std::fs::copy(&found, &lib)
            .with_context(|| format!("copying {} to {}", found.display(), lib.display()))?;
    }
    Ok(Some(dir))
}

/// Links RocksDB from `dir` when given.
fn with_rocksdb(c: &mut Command, dir: Option<&Path>) {
    if let Some(d) = dir {
        c.env("ROCKSDB_LIB_DIR", d).env("ROCKSDB_STATIC", "1");
    }
}

/// `cargo +nightly` through rustup's proxy, in the repository root,
/// without the toolchain choice of the `cargo xtask` that runs it.
fn nightly() -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly").current_dir(root());
    for v in ["RUSTUP_TOOLCHAIN", "CARGO", "RUSTC", "RUSTDOC"] {
        c.env_remove(v);
    }
    c
}

/// Checks the nightly toolchain, and installs cargo-fuzz when missing.
fn ensure_cargo_fuzz() -> Result<()> {
    let ok = |mut c: Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut v = nightly();
    v.arg("--version");
    if !ok(v) {
        bail!("the nightly toolchain is missing: run `rustup toolchain install nightly`");
    }
    let mut f = nightly();
    f.args(["fuzz", "--version"]);
    if ok(f) {
        return Ok(());
    }
    let mut install = Command::new("cargo");
    install.args(["install", "cargo-fuzz"]);
    run(install, "cargo install cargo-fuzz (cargo-fuzz is missing)")
        .context("could not install cargo-fuzz: run `cargo install cargo-fuzz` by hand")
}

/// Runs one target for `secs` seconds.
fn run_target(
    root: &Path,
    target_dir: &Path,
    rocksdb: Option<&Path>,
    target: &str,
    secs: u64,
) -> Result<Outcome> {
    let seeds = root.join("fuzz/corpus").join(target);
    let scratch = target_dir.join("corpus").join(target);
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let artifacts = root.join("fuzz/artifacts").join(target);
    let before = crash_files(&artifacts);
    let mut c = nightly();
    with_rocksdb(&mut c, rocksdb);
    // Leaks inside libnetcdf and HDF5 are theirs (see the file).
    let supp = root.join("fuzz/lsan.supp");
    c.env("LSAN_OPTIONS", format!("suppressions={}", supp.display()));
    c.args(["fuzz", "run", target, "--target-dir"])
        .arg(target_dir)
        // New inputs go to the first corpus directory: the scratch one.
        .arg(&scratch)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={secs}"))
        // A hang is a crash; one allocation past 2 GB is one too.
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1")
        .stderr(Stdio::piped());
    let fork = target == "netcdf_reader";
    if fork {
        c.args([
            "-fork=1",
            "-ignore_crashes=1",
            "-ignore_ooms=1",
            "-ignore_timeouts=1",
        ]);
    }
    eprintln!("xtask: cargo +nightly fuzz run {target} ({secs} s)");
    let out = c
        .output()
        .with_context(|| format!("could not start cargo fuzz run {target}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    let new: Vec<PathBuf> = crash_files(&artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let (mut crashes, mut in_c_libraries) = (Vec::new(), Vec::new());
    for p in new {
        if fork && crashed_in_c_library(target_dir, target, &supp, &p) {
            in_c_libraries.push(p);
        } else {
            crashes.push(p);
        }
    }
    if !out.status.success() && crashes.is_empty() && in_c_libraries.is_empty() {
        // Not a crash the fuzzer saved: a build or start failure.
        eprintln!("{}", tail(&log, 40));
        bail!("cargo fuzz run {target} failed ({})", out.status);
    }
    if !crashes.is_empty() {
        eprintln!("{}", tail(&log, 60));
    }
    Ok(Outcome {
        execs: executed(&log),
        crashes,
        in_c_libraries,
    })
}

/// Replays one crash input and tells whether its stack reaches libnetcdf
/// or HDF5 before any frame of our Rust code (`collector_report`, the
/// `netcdf` crate): the C libraries crashed, hung or allocated on their
/// own.
fn crashed_in_c_library(target_dir: &Path, target: &str, supp: &Path, input: &Path) -> bool {
    let bin = target_dir
        .join("x86_64-unknown-linux-gnu/release")
        .join(target);
    let Ok(out) = Command::new(bin)
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg(input)
        .env("LSAN_OPTIONS", format!("suppressions={}", supp.display()))
        .output()
    else {
        return false;
    };
    c_frames_first(&String::from_utf8_lossy(&out.stderr))
}

/// Whether the first stack of a sanitizer or libFuzzer report has a frame
/// in libnetcdf or HDF5 before any frame of our Rust code.
pub(crate) fn c_frames_first(report: &str) -> bool {
    for l in report.lines().map(str::trim_start) {
        if !l.starts_with('#') {
            continue;
        }
        if l.contains("libhdf5") || l.contains("libnetcdf") {
            return true;
        }
        if l.contains("collector_report") || l.contains("netcdf-0.") || l.contains("targets::") {
            return false;
        }
    }
    false
}

/// The crash inputs under `dir` (libFuzzer's `crash-`, `leak-`, `oom-`,
/// `timeout-` and `slow-unit-` files).
fn crash_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                ["crash-", "leak-", "oom-", "timeout-"]
                    .iter()
                    .any(|k| n.starts_with(k))
            })
        })
        .collect();
    v.sort();
    v
}

/// libFuzzer's count of executed inputs: from its final stats, or (fork
/// mode prints none) its last status line `#N: cov: …`.
pub(crate) fn executed(log: &str) -> Option<u64> {
    let stats = log
        .lines()
        .filter_map(|l| l.trim().strip_prefix("stat::number_of_executed_units:"))
        .filter_map(|n| n.trim().parse().ok())
        .next_back();
    stats.or_else(|| {
        log.lines()
            .filter_map(|l| l.strip_prefix('#')?.split(':').next()?.parse().ok())
            .next_back()
    })
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn seconds_come_first_and_default_to_600_over_every_target() {
        let (s, t) = parse_args(&[]).unwrap();
        assert_eq!((s, t.len()), (600, TARGETS.len()));
        let (s, t) = parse_args(&args(&["60", "records", "csv_reader"])).unwrap();
        assert_eq!((s, t), (60, args(&["records", "csv_reader"])));
        let (s, t) = parse_args(&args(&["sweep_file"])).unwrap();
        assert_eq!((s, t), (600, args(&["sweep_file"])));
        assert!(parse_args(&args(&["0"])).is_err());
        let e = parse_args(&args(&["60", "nope"])).unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("sweep_file"), "{e}");
    }

    #[test]
    fn the_executed_count_is_read_from_the_final_stats() {
        let log = "INFO: seed\n#2\tINITED\nDone 1234 runs in 3 second(s)\n\
                   stat::number_of_executed_units: 1234\nstat::peak_rss_mb: 80\n";
        assert_eq!(executed(log), Some(1234));
        assert_eq!(executed("no stats"), None);
        let fork =
            "#100: cov: 5 ft: 9 corp: 3\n#67899: cov: 1541 ft: 3208 corp: 19\nINFO: exiting: 0";
        assert_eq!(executed(fork), Some(67899));
    }

    #[test]
    fn a_crash_is_the_c_libraries_when_their_frames_come_first() {
        let hdf5 = "==1==ERROR: AddressSanitizer: SEGV\n    #0 0x1 in free asan_malloc_linux.cpp\n    \
                    #4 0x2 in H5MM_xfree (/lib/x86_64-linux-gnu/libhdf5_serial.so.103+0x1)\n    \
                    #20 0x3 in collector_report::netcdf_file::read_netcdf\n";
        assert!(c_frames_first(hdf5));
        let ours = "==1==ERROR: AddressSanitizer: SEGV\n    #0 0x1 in core::panicking\n    \
                    #3 0x2 in collector_report::netcdf_file::read_dim\n    \
                    #9 0x3 in nc_open (/lib/x86_64-linux-gnu/libnetcdf.so.19+0x1)\n";
        assert!(!c_frames_first(ours));
        assert!(!c_frames_first("no stack"));
    }

    /// The list here is the one of `fuzz/Cargo.toml`.
    #[test]
    fn every_target_is_a_binary_of_the_fuzz_crate() {
        // From the workspace found at run time: this test binary may have
        // been built for another checkout (see `root`).
        let manifest = std::fs::read_to_string(crate::root().join("fuzz/Cargo.toml")).unwrap();
        let bins = manifest.matches("[[bin]]").count();
        assert_eq!(bins, TARGETS.len());
        for t in TARGETS {
            assert!(manifest.contains(&format!("name = \"{t}\"")), "{t}");
        }
    }
}
