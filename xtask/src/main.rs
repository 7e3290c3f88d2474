//! Project automation, run as `cargo xtask <task>`:
//!
//! - `ci`: the whole check CI runs (set-up, fmt, clippy, layering, tests,
//!   clippy and tests again with `--no-default-features`, rustdoc);
//! - `demo`: set-up, then the main job (`collector demo`) on `./cachedir`;
//! - `bench`: the criterion benches of the anchor workloads;
//! - `setup`: installs what a fresh machine lacks (libclang-dev for RocksDB's
//!   bindings, libnetcdf-dev for the netCDF export);
//! - `xarray-check`: the netCDF export read back by Python's xarray;
//! - `screenshot`: the HTML reports rendered by headless Chromium;
//! - `regression-check`: our regression detector against the seed's
//!   (bencher's `regression.py`) on generated histories;
//! - `soak [KILLS]`: the SIGKILL soak (`tests/soak.rs`), 100 kills by default;
//! - `fuzz [SECS]`: every cargo-fuzz target of `fuzz/`, SECS seconds each.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod checks;
mod fuzz;
mod layering;
mod regression;
mod setup;
mod soak;

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
        "layering" => layering::layering(),
        "xarray-check" => {
            setup()?;
            checks::xarray_check(&root())
        }
        "regression-check" => regression::regression_check(),
        "soak" => soak::soak(rest),
        "fuzz" => fuzz::fuzz(rest),
        "screenshot" => {
            setup()?;
            checks::screenshot(&root())
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n  ci        set-up, fmt, clippy -D warnings, layering, tests, clippy and tests with --no-default-features, rustdoc -D warnings\n  demo      set-up, then `collector demo` on ./cachedir (extra args go to the demo)\n  bench     criterion benches (extra args go to cargo bench)\n  setup     install libclang-dev when missing (needed to build RocksDB)\n  layering  check the crate layering rules of ARCHITECTURE.md\n  xarray-check  write a netCDF fixture and compare it through Python's xarray (skipped without Python)\n  screenshot    render the demo HTML reports with headless Chromium into target/screenshots/\n  regression-check  our regression detector against the seed's on generated histories (skipped without the holobench venv)\n  soak [KILLS]  the SIGKILL soak of tests/soak.rs with KILLS kills (default 100; COLLECTOR_SOAK_SEED replays)\n  fuzz [SECS] [TARGET..]  every fuzz target (nightly, cargo-fuzz) for SECS seconds each (default 600); `fuzz seeds` writes the seed corpus"
            );
            if task == "help" {
                Ok(())
            } else {
                bail!("unknown task `{task}`")
            }
        }
    }
}

/// The workspace root: found from the current directory at run time, not
/// baked in at compile time. One target directory serves several checkouts
/// (CI clones this repository and keeps `CARGO_TARGET_DIR`), and cargo may
/// run an `xtask` binary last built for another checkout: a baked-in path
/// would then check that other tree.
fn root() -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| root_from(&cwd))
        .or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The nearest ancestor of `dir` (itself included) holding this
/// workspace: a `Cargo.toml` beside an `xtask/Cargo.toml`.
fn root_from(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join("Cargo.toml").is_file() && d.join("xtask").join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
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

/// `cargo <args>`, printed as `cargo <args>`.
fn cargo_step(args: &[&str]) -> Result<()> {
    let mut c = cargo();
    c.args(args);
    run(c, &format!("cargo {}", args.join(" ")))
}

/// Set-up, fmt, clippy, layering and tests with the default features, then
/// clippy and tests again without them (the library alone, no `cli`), then
/// rustdoc.
fn ci() -> Result<()> {
    setup()?;
    cargo_step(&["fmt", "--all", "--check"])?;
    cargo_step(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    layering::layering()?;
    cargo_step(&["test", "--workspace"])?;
    cargo_step(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--no-default-features",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo_step(&["test", "--workspace", "--no-default-features"])?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_root_is_found_from_any_directory_of_the_checkout() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("checkout");
        std::fs::create_dir_all(root.join("xtask")).unwrap();
        std::fs::create_dir_all(root.join("collector-core/src")).unwrap();
        std::fs::write(root.join("Cargo.toml"), "[workspace]").unwrap();
        std::fs::write(root.join("xtask/Cargo.toml"), "[package]").unwrap();
        // A crate's own manifest is not the root.
        std::fs::write(root.join("collector-core/Cargo.toml"), "[package]").unwrap();
        assert_eq!(root_from(&root), Some(root.clone()));
        assert_eq!(
            root_from(&root.join("collector-core/src")),
            Some(root.clone())
        );
        assert_eq!(root_from(t.path()), None);
    }
}
