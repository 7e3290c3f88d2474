//! Checks that need tools outside Rust: `xarray_check` (the netCDF export
//! opened by Python's xarray) and `screenshot` (the HTML report rendered by
//! headless Chromium). Both skip with a message, and succeed, when the tool
//! is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::run;

/// A fresh, empty directory under the system temp dir.
pub(crate) fn fresh_dir(what: &str) -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("collector-{what}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

fn cargo(root: &Path) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root);
    c
}

/// Whether `program args…` starts and exits with success, quietly.
pub(crate) fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The first Python that runs `import <modules>`: the holobench venv,
/// then python3.
pub(crate) fn python_importing(modules: &str) -> Option<String> {
    let mut candidates = Vec::new();
    if let Some(home) = std::env::var_os("HOME") {
        let venv = Path::new(&home).join(".cache/holobench-venv/bin/python");
        candidates.push(venv.to_string_lossy().into_owned());
    }
    candidates.push("python3".into());
    candidates
        .into_iter()
        .find(|py| works(py, &["-c", &format!("import {modules}")]))
}

/// Exit code of [`XARRAY_SCRIPT`] when xarray has no netCDF-4 backend.
const NO_BACKEND: i32 = 3;

/// Opens every `*.nc` of the directory `argv[1]` with `xarray.open_dataset`
/// and compares dims (names, sizes, order), coords, values (NaN-aware;
/// JSON `null` is NaN, or the text sentinel "NAN" for strings), the
/// `units`/`long_name`/`description` attributes and the global attributes
/// with the `.json` of the same name, written by `write_json`.
const XARRAY_SCRIPT: &str = r#"import glob, json, math, os, sys

import numpy as np
import xarray as xr

FAILS = []


def fail(msg):
    FAILS.append(msg)


def num(v):
    return math.nan if v is None else float(v)


def same_floats(a, b):
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True)) and bool(
        np.array_equal(np.isnan(a), np.isnan(b))
    )


def check_attrs(what, attrs, exp, skip_units=False):
    for k in ("units", "long_name", "description"):
        if skip_units and k == "units":
            continue
        got = attrs.get(k, "")
        if got != exp.get(k, ""):
            fail(f"{what}: attribute {k} = {got!r}, expected {exp.get(k, '')!r}")


def check(nc, js):
    exp = json.load(open(js))
    ds = xr.open_dataset(nc)
    try:
        dims = [(d["name"], d["size"]) for d in exp["dims"]]
        got = list(ds.sizes.items())
        if got != dims:
            fail(f"{nc}: dims {got}, expected {dims}")
        names = tuple(d["name"] for d in exp["dims"])
        for d in exp["dims"]:
            name, kind = d["name"], d["kind"]
            if name not in ds.coords:
                fail(f"{nc}: no coordinate `{name}`")
                continue
            c = ds.coords[name]
            v = c.values
            if c.dims != (name,):
                fail(f"{nc}: coordinate `{name}` has dims {c.dims}")
            if kind == "float":
                ok = v.dtype == np.float64 and same_floats(v, [num(x) for x in d["coords"]])
            elif kind == "int":
                ok = v.dtype == np.int64 and v.tolist() == d["coords"]
            elif kind == "bool":
                ok = v.dtype == np.bool_ and v.tolist() == d["coords"]
            elif kind in ("string", "label"):
                ok = [str(x) for x in v.tolist()] == d["coords"]
            elif kind == "timestamp":
                want = np.array([np.datetime64(s.rstrip("Z"), "ns") for s in d["coords"]])
                ok = np.issubdtype(v.dtype, np.datetime64) and bool(
                    np.array_equal(v.astype("datetime64[ns]"), want)
                )
            else:
                ok = False
                fail(f"{nc}: unknown coordinate kind {kind}")
            if not ok:
                fail(f"{nc}: coordinate `{name}` ({kind}) = {v!r}, expected {d['coords']!r}")
            check_attrs(f"{nc}: coordinate `{name}`", c.attrs, d, skip_units=kind == "timestamp")
        for col in exp["columns"]:
            name = col["name"]
            if name not in ds.data_vars:
                fail(f"{nc}: no data variable `{name}`")
                continue
            var = ds[name]
            if var.dims != names:
                fail(f"{nc}: `{name}` has dims {var.dims}, expected {names}")
            v = var.values.ravel(order="C")
            data = col["data"]
            if col["dtype"] in ("float64", "int64"):
                # References decode to float64 with NaN where _FillValue -1 was.
                got = [float(x) for x in v.tolist()]
                want = [num(x) for x in data]
                same = lambda a, b: (math.isnan(a) and math.isnan(b)) or a == b
            else:
                got = [str(x) for x in v.tolist()]
                want = ["NAN" if x is None else x for x in data]
                same = lambda a, b: a == b
            if len(got) != len(want):
                fail(f"{nc}: `{name}` has {len(got)} cells, expected {len(want)}")
            else:
                bad = [i for i, (a, b) in enumerate(zip(got, want)) if not same(a, b)]
                if bad:
                    shown = ", ".join(f"cell {i}: {got[i]!r} vs {want[i]!r}" for i in bad[:5])
                    fail(f"{nc}: {len(bad)} cells of `{name}` differ ({shown})")
            check_attrs(f"{nc}: `{name}`", var.attrs, col)
            if var.attrs.get("result_kind") != col["kind"]:
                fail(f"{nc}: `{name}` result_kind {var.attrs.get('result_kind')!r}, expected {col['kind']!r}")
        extra = sorted(set(ds.data_vars) - {c["name"] for c in exp["columns"]})
        if extra:
            fail(f"{nc}: unexpected data variables {extra}")
        for k, want in exp["attributes"].items():
            got = ds.attrs.get(k)
            if isinstance(want, str) or isinstance(got, str):
                ok = got == want
            else:
                ok = got is not None and same_floats([got], [num(want)])
            if not ok:
                fail(f"{nc}: global attribute {k} = {got!r}, expected {want!r}")
        extra = sorted(set(ds.attrs) - set(exp["attributes"]))
        if extra:
            fail(f"{nc}: unexpected global attributes {extra}")
        print(f"{os.path.basename(nc)}: dims {dict(ds.sizes)}, {len(exp['columns'])} data variables")
    finally:
        ds.close()


def main():
    engines = xr.backends.list_engines()
    if not ({"netcdf4", "h5netcdf"} & set(engines)):
        print("no netCDF-4 backend (netCDF4 or h5netcdf) for xarray")
        sys.exit(3)
    files = sorted(glob.glob(os.path.join(sys.argv[1], "*.nc")))
    if not files:
        print(f"no .nc files in {sys.argv[1]}")
        sys.exit(1)
    for nc in files:
        check(nc, nc[:-3] + ".json")
    if FAILS:
        print("\n".join(FAILS))
        sys.exit(1)
    print(f"xarray {xr.__version__}: {len(files)} files match their JSON")
    print("xarray check passed")


main()
"#;

/// Writes the netCDF fixtures (`collector-report`'s `netcdf_fixture`
/// example) and, when a Python with xarray and a netCDF-4 backend is
/// present, checks that xarray reads them as their JSON twins say.
pub fn xarray_check(root: &Path) -> Result<()> {
    let dir = fresh_dir("xarray")?;
    let mut c = cargo(root);
    c.args([
        "run",
        "--quiet",
        "-p",
        "collector-report",
        "--example",
        "netcdf_fixture",
        "--",
    ])
    .arg(&dir);
    run(c, "cargo run -p collector-report --example netcdf_fixture")?;

    let Some(py) = python_importing("xarray") else {
        eprintln!(
            "xtask: xarray check skipped: no Python with xarray (pip install xarray netCDF4)"
        );
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    };
    eprintln!("xtask: checking {} with {py}", dir.display());
    let status = Command::new(&py)
        .arg("-c")
        .arg(XARRAY_SCRIPT)
        .arg(&dir)
        .status()
        .with_context(|| format!("could not start {py}"))?;
    match status.code() {
        Some(0) => {
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }
        Some(NO_BACKEND) => {
            eprintln!(
                "xtask: xarray check skipped: no netCDF backend for xarray (pip install netCDF4 or h5netcdf into {py}'s environment)"
            );
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }
        _ => bail!(
            "xarray check failed ({status}); the fixtures are kept in {}",
            dir.display()
        ),
    }
}

/// The pages rendered, with the window height of each: those of
/// `collector-report`'s `demo_report` example, then `demo`, the report of
/// `collector demo` after three timestamped runs of one day with
/// `--check` (image thumbnails, time labels, the legend beside the plots
/// and whatever regressions the measured times show).
const PAGES: [(&str, u32); 8] = [
    ("one", 2400),
    ("two", 2400),
    ("cat", 2400),
    ("many", 2400),
    ("history", 2400),
    ("timed", 2400),
    ("images", 2400),
    ("demo", 4400),
];

/// The timestamps of the `collector demo` runs behind the `demo` page.
const DEMO_RUNS: [&str; 3] = [
    "2026-11-28T09:00:00Z",
    "2026-11-28T09:20:30Z",
    "2026-11-28T09:41:10Z",
];

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| works(b, &["--version"]))
}

/// Waits for `child` at most `limit`, killing it past that.
fn wait_with_limit(mut child: std::process::Child, limit: Duration) -> Result<bool> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.success());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out after {}s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Renders the demo HTML reports with headless Chromium and saves one PNG
/// per page under `target/screenshots/`.
pub fn screenshot(root: &Path) -> Result<()> {
    let Some(browser) = chromium() else {
        eprintln!(
            "xtask: screenshot skipped: install Debian's chromium (apt-get install -y chromium)"
        );
        return Ok(());
    };
    let pages = fresh_dir("demo-report")?;
    let mut c = cargo(root);
    c.args([
        "run",
        "--quiet",
        "-p",
        "collector-report",
        "--example",
        "demo_report",
        "--",
    ])
    .arg(&pages);
    run(c, "cargo run -p collector-report --example demo_report")?;
    let cache = fresh_dir("screenshot-cache")?;
    for at in DEMO_RUNS {
        let mut c = cargo(root);
        c.args(["run", "--quiet", "--bin", "collector", "--", "--cache-dir"])
            .arg(&cache)
            .args(["-q", "demo", "--check", "--timestamp", at, "--report"])
            .arg(pages.join("demo.html"))
            .stdout(Stdio::null());
        run(c, &format!("collector demo --check --timestamp {at}"))?;
    }
    let _ = std::fs::remove_dir_all(&cache);

    let out_dir = root.join("target/screenshots");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("create {}", out_dir.display()))?;
    for (page, height) in PAGES {
        let html = pages.join(format!("{page}.html"));
        if !html.is_file() {
            bail!("demo_report wrote no {}", html.display());
        }
        let png = out_dir.join(format!("{page}.png"));
        let _ = std::fs::remove_file(&png);
        let profile = fresh_dir("chromium-profile")?;
        let child = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size=1280,{height}"))
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("file://{}", html.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {browser}"))?;
        let ok = wait_with_limit(child, Duration::from_secs(90))
            .with_context(|| format!("{browser} on {}", html.display()))?;
        let _ = std::fs::remove_dir_all(&profile);
        let bytes = std::fs::read(&png).unwrap_or_default();
        if !ok || !bytes.starts_with(b"\x89PNG") {
            bail!(
                "{browser} did not save a PNG of {} (run it by hand without --headless output redirection to see why)",
                html.display()
            );
        }
        println!("{}", png.display());
    }
    let _ = std::fs::remove_dir_all(&pages);
    eprintln!("xtask: screenshots saved in {}", out_dir.display());
    Ok(())
}
