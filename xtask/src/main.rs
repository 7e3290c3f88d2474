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

fn libclang_present() -> bool {
    if std::env::var_os("LIBCLANG_PATH").is_some() {
        return true;
    }
    let dirs = [
        "/usr/lib",
        "/usr/lib64",
        "/usr/local/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
    ];
    let found_in = |d: &Path| -> bool {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten().any(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if n.starts_with("libclang.so")
                        || n.starts_with("libclang-") && n.contains(".so")
                    {
                        return true;
                    }
                    // Debian keeps it under /usr/lib/llvm-N/lib.
                    n.starts_with("llvm-")
                        && e.path()
                            .join("lib")
                            .read_dir()
                            .map(|r| {
                                r.flatten().any(|f| {
                                    f.file_name().to_string_lossy().starts_with("libclang.so")
                                })
                            })
                            .unwrap_or(false)
                })
            })
            .unwrap_or(false)
    };
    dirs.iter().any(|d| found_in(Path::new(d)))
}

fn netcdf_present() -> bool {
    ["/usr/include/netcdf.h", "/usr/local/include/netcdf.h"]
        .iter()
        .any(|p| Path::new(p).exists())
}

/// Installs the system libraries the build needs when they are missing:
/// libclang-dev (RocksDB's bindings) and libnetcdf-dev (the netCDF export).
fn setup() -> Result<()> {
    let mut missing = Vec::new();
    if !libclang_present() {
        missing.push("libclang-dev");
    }
    if !netcdf_present() {
        missing.push("libnetcdf-dev");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let cmd = format!("apt-get update && apt-get install -y {}", missing.join(" "));
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    if !is_root || Command::new("apt-get").arg("--version").output().is_err() {
        bail!("missing system libraries {missing:?}; run as root: {cmd}");
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {}",
        missing.join(" ")
    ));
    run(c, "install system libraries").with_context(|| format!("run by hand: {cmd}"))
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
