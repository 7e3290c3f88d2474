//! Project automation, run as `cargo xtask <task>`:
//!
//! - `ci`: the whole check CI runs (set-up, fmt, clippy, tests, rustdoc, layering);
//! - `demo`: set-up, then the main job (`collector demo`) on `./cachedir`;
//! - `bench`: the criterion benches of the anchor workloads;
//! - `setup`: installs what a fresh machine lacks (libclang-dev for RocksDB's
//!   bindings, libnetcdf-dev for the netCDF export);
//! - `xarray-check`: the netCDF export read back by Python's xarray;
//! - `screenshot`: the HTML reports rendered by headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod checks;
mod setup;

use setup::setup;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    match task {
        "ci" => ci(),
        "demo" => demo(rest),
        "bench" => bench(rest),
        "setup" => setup(),
        "layering" => layering(),
        "xarray-check" => {
            setup()?;
            checks::xarray_check(&root())
        }
        "screenshot" => {
            setup()?;
            checks::screenshot(&root())
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n  ci        set-up, fmt, clippy -D warnings, tests, rustdoc -D warnings, layering\n  demo      set-up, then `collector demo` on ./cachedir (extra args go to the demo)\n  bench     criterion benches (extra args go to cargo bench)\n  setup     install libclang-dev when missing (needed to build RocksDB)\n  layering  check the crate layering rules of ARCHITECTURE.md\n  xarray-check  write a netCDF fixture and compare it through Python's xarray (skipped without Python)\n  screenshot    render the demo HTML reports with headless Chromium into target/screenshots/"
            );
            if task == "help" {
                Ok(())
            } else {
                bail!("unknown task `{task}`")
            }
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(mut cmd: Command, what: &str) -> Result<()> {
    eprintln!("xtask: {what}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start: {what}"))?;
    if !status.success() {
        bail!("failed: {what} ({status})");
    }
    Ok(())
}

fn ci() -> Result<()> {
    setup()?;
    let mut c = cargo();
    c.args(["fmt", "--all", "--check"]);
    run(c, "cargo fmt --all --check")?;
    let mut c = cargo();
    c.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(c, "cargo clippy --workspace --all-targets -- -D warnings")?;
    layering()?;
    let mut c = cargo();
    c.args(["test", "--workspace"]);
    run(c, "cargo test --workspace")?;
    let mut c = cargo();
    c.args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    run(
        c,
        "RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps",
    )?;
    eprintln!("xtask: ci passed");
    Ok(())
}

/// The layering rules of ARCHITECTURE.md, checked on `cargo tree`.
fn layering() -> Result<()> {
    let deps = |pkg: &str| -> Result<Vec<String>> {
        let out = cargo()
            .args([
                "tree",
                "-p",
                pkg,
                "--edges",
                "normal,build",
                "--prefix",
                "none",
                "--format",
                "{p}",
            ])
            .output()
            .with_context(|| format!("cargo tree -p {pkg}"))?;
        if !out.status.success() {
            bail!(
                "cargo tree -p {pkg} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect())
    };
    let core = deps("collector-core")?;
    for bad in [
        "rocksdb",
        "librocksdb-sys",
        "collector-cache",
        "collector-media",
        "collector-report",
    ] {
        if core.iter().any(|d| d == bad) {
            bail!("layering: collector-core depends on {bad}");
        }
    }
    for (pkg, others) in [
        ("collector-cache", ["collector-media", "collector-report"]),
        ("collector-media", ["collector-cache", "collector-report"]),
        ("collector-report", ["collector-cache", "collector-media"]),
    ] {
        let d = deps(pkg)?;
        for o in others {
            if d.iter().any(|x| x == o) {
                bail!("layering: {pkg} depends on {o}");
            }
        }
        if pkg != "collector-cache" && d.iter().any(|x| x == "rocksdb") {
            bail!("layering: {pkg} depends on rocksdb");
        }
    }
    eprintln!("xtask: layering ok (core has no rocksdb; cache, media and report are independent)");
    Ok(())
}

fn demo(rest: &[String]) -> Result<()> {
    setup()?;
    let mut c = cargo();
    c.args(["run", "--quiet", "--bin", "collector", "--", "demo"])
        .args(rest);
    run(c, "collector demo")
}

fn bench(rest: &[String]) -> Result<()> {
    setup()?;
    let mut c = cargo();
    c.args(["bench", "--workspace"]).args(rest);
    run(c, "cargo bench")
}
