//! `cargo xtask fuzz [SECS] [TARGET…]`: runs every fuzz target of `fuzz/`
//! (or the ones named) for SECS seconds each (default 600), one after the
//! other, and prints per target the inputs executed, the seconds and the
//! crashes found. `cargo xtask fuzz seeds` writes the seed corpus again.
//!
//! - Needs the nightly toolchain and cargo-fuzz; cargo-fuzz is installed
//!   (`cargo install cargo-fuzz`) when missing.
//! - The fuzz build (nightly, sanitizers: RocksDB's C++ is compiled again,
//!   about 20 minutes on 2 cores the first time) goes to the target dir
//!   `$CARGO_TARGET_DIR/fuzz` (`target/fuzz` without it), which later runs
//!   reuse.
//! - Each target fuzzes from the committed corpus (`fuzz/corpus/<target>`,
//!   read only) and a scratch corpus in that target dir that keeps what
//!   the fuzzer learnt between runs. Crashes are written to
//!   `fuzz/artifacts/<target>/`; once fixed, move each to
//!   `fuzz/regressions/<target>/`, which the stable test
//!   `tests/fuzz_corpus.rs` replays in CI (it replays local artifacts too).

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
    /// The crash inputs it wrote (crash, leak, OOM or timeout).
    pub(crate) crashes: Vec<PathBuf>,
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
    let mut build = nightly();
    build.args(["fuzz", "build", "--target-dir", &td]);
    run(
        build,
        &format!("cargo +nightly fuzz build --target-dir {td} (the first build compiles RocksDB's C++ again: ~20 min on 2 cores)"),
    )?;
    let mut rows = Vec::new();
    for t in &targets {
        let start = Instant::now();
        let outcome = run_target(&root, &target_dir, t, secs)?;
        rows.push((t.clone(), outcome, start.elapsed().as_secs_f64()));
    }
    println!("\n{:<16} {:>14} {:>9}  crashes", "target", "inputs", "seconds");
    let mut open = 0;
    for (t, o, s) in &rows {
        let execs = o.execs.map_or("?".to_string(), |n| n.to_string());
        println!("{t:<16} {execs:>14} {s:>9.0}  {}", o.crashes.len());
        for c in &o.crashes {
            println!("    {}", c.display());
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
fn run_target(root: &Path, target_dir: &Path, target: &str, secs: u64) -> Result<Outcome> {
    let seeds = root.join("fuzz/corpus").join(target);
    let scratch = target_dir.join("corpus").join(target);
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("creating {}", scratch.display()))?;
    let artifacts = root.join("fuzz/artifacts").join(target);
    let before = crash_files(&artifacts);
    let mut c = nightly();
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
    eprintln!("xtask: cargo +nightly fuzz run {target} ({secs} s)");
    let out = c
        .output()
        .with_context(|| format!("could not start cargo fuzz run {target}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    let crashes: Vec<PathBuf> = crash_files(&artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    if !out.status.success() && crashes.is_empty() {
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
    })
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

/// libFuzzer's count of executed inputs, from its final stats.
pub(crate) fn executed(log: &str) -> Option<u64> {
    log.lines()
        .filter_map(|l| l.trim().strip_prefix("stat::number_of_executed_units:"))
        .filter_map(|n| n.trim().parse().ok())
        .next_back()
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
    }

    /// The list here is the one of `fuzz/Cargo.toml`.
    #[test]
    fn every_target_is_a_binary_of_the_fuzz_crate() {
        let manifest =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/Cargo.toml"))
                .unwrap();
        let bins = manifest.matches("[[bin]]").count();
        assert_eq!(bins, TARGETS.len());
        for t in TARGETS {
            assert!(manifest.contains(&format!("name = \"{t}\"")), "{t}");
        }
    }
}
