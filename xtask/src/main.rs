//! Project automation, run as `cargo xtask <task>`:
//!
//! - `ci`: the whole check CI runs (set-up, fmt, clippy, layering, tests,
//!   clippy and tests again with `--no-default-features`, rustdoc);
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
mod layering;
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
        "layering" => layering::layering(),
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
                "usage: cargo xtask <task>\n\n  ci        set-up, fmt, clippy -D warnings, layering, tests, clippy and tests with --no-default-features, rustdoc -D warnings\n  demo      set-up, then `collector demo` on ./cachedir (extra args go to the demo)\n  bench     criterion benches (extra args go to cargo bench)\n  setup     install libclang-dev when missing (needed to build RocksDB)\n  layering  check the crate layering rules of ARCHITECTURE.md\n  xarray-check  write a netCDF fixture and compare it through Python's xarray (skipped without Python)\n  screenshot    render the demo HTML reports with headless Chromium into target/screenshots/"
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
