//! A full disk, met by the `collector` program at many points.
//!
//! The disk fills in a child process whose `RLIMIT_FSIZE` is set (with
//! `SIGXFSZ` ignored, so that a write past the limit fails with `EFBIG`,
//! "File too large", instead of killing the process): any file it writes
//! stops growing at the limit, the way a full disk stops every file. Each
//! scenario tries several limits, so that the failure lands at different
//! bytes of a job-record batch, a result, a history event, a media file, an
//! export or the cache's own files, and checks:
//! - the command ends in one clear error naming the path (exit 1, no panic);
//! - afterwards, without the limit, the cache opens, every record
//!   acknowledged before the failing command is intact, no half-written
//!   record is visible (the failed command's records are either absent or
//!   whole), and no temporary or partial file is left in the media root or
//!   beside an export.
//!
//! Run with `cargo test --test disk_full -- --nocapture` to see the points.
#![cfg(target_os = "linux")]
// `pre_exec` (set the file-size limit and ignore SIGXFSZ in the child
// between fork and exec) is unsafe: it runs in the forked child, where only
// async-signal-safe calls are allowed (`signal` and `setrlimit` are).
#![allow(unsafe_code)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{failed, files_under, s};

/// Runs the collector on `cache` with `args`, with the file-size limit
/// `limit` (bytes) when given.
fn collector(cache: &Path, args: &[&str], limit: Option<u64>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_collector"));
    c.arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("RESULT_COLLECTOR_CACHE_DIR");
    if let Some(limit) = limit {
        // SAFETY: only async-signal-safe libc calls, on values copied in.
        unsafe {
            c.pre_exec(move || {
                if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
                let r = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    c.output().expect("the collector binary runs")
}

/// A success, unlimited: its stdout.
fn ok(cache: &Path, args: &[&str]) -> String {
    common::ok(collector(cache, args, None))
}

/// A failure at a full disk: exit 1, the last line of stderr one
/// `error: …` naming a path under `under` and saying the file is too
/// large, no panic. Returns that line.
fn full_disk_error(o: &Output, under: &Path) -> String {
    let err = failed(o);
    let line = err
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(line.starts_with("error: "), "stderr:\n{err}");
    assert!(line.contains("File too large"), "{line}");
    assert!(
        line.contains(s(under)),
        "`{}` expected in: {line}",
        s(under)
    );
    line
}

/// Which step a full-disk error line is about.
fn step_of(line: &str) -> &'static str {
    // Order matters: a failed job-record write is followed by the
    // result's, and the line names both.
    if line.contains("cannot open the cache") {
        "the cache's open"
    } else if line.contains("job records") {
        "job records"
    } else if line.contains("storing result") {
        "result write"
    } else if line.contains("appending event") {
        "history append"
    } else if line.contains("media file") {
        "media file"
    } else if line.contains("blob") {
        "blob"
    } else if line.contains("report") {
        "report"
    } else {
        "other"
    }
}

/// Copies the directory `from` to `to` (files and directories).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// Every entry under `dir` whose name starts with `.tmp` (temporary files
/// and folders of the media root).
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with(".tmp") {
            out.push(p.clone());
        }
        if p.is_dir() {
            out.extend(temporaries(&p));
        }
    }
    out
}

/// Deterministic pseudo-random lowercase text.
fn text(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'a' + ((x >> 33) % 26) as u8)
        })
        .collect()
}

/// The export of `target` (`--history` when `history`) as JSON text.
fn export_json(cache: &Path, target: &str, history: bool) -> String {
    let out = cache.with_extension(if history { "h.json" } else { "r.json" });
    let mut args = vec!["export", target, "--format", "json", "-o", s(&out)];
    if history {
        args.push("--history");
    }
    ok(cache, &args);
    let text = std::fs::read_to_string(&out).expect("read the export");
    std::fs::remove_file(&out).expect("remove the export");
    text
}

/// The non-missing cells of every column of kind `kind` in a JSON export.
fn cells_of_kind(json: &str, kind: &str) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let mut out = Vec::new();
    for c in doc["columns"].as_array().expect("columns") {
        if c["kind"] == kind {
            for v in c["data"].as_array().expect("data") {
                if let Some(t) = v.as_str() {
                    out.push(t.to_string());
                }
            }
        }
    }
    out
}

/// A point whose command fit under its limit and succeeded.
const PASSED: &str = "succeeded (everything fit under the limit)";

/// The points tried, by the step each failed in.
#[derive(Default)]
struct Points {
    by_step: BTreeMap<&'static str, usize>,
    tried: usize,
}

impl Points {
    fn failed(&mut self, step: &'static str) {
        self.tried += 1;
        *self.by_step.entry(step).or_default() += 1;
    }

    fn passed(&mut self) {
        self.tried += 1;
        *self.by_step.entry(PASSED).or_default() += 1;
    }

    fn print(&self, what: &str) {
        println!("disk-full points ({what}): {} tried", self.tried);
        for (step, n) in &self.by_step {
            if *step == PASSED {
                println!("  {n:>3} {step}");
            } else {
                println!("  {n:>3} failed at: {step}");
            }
        }
    }

    /// The points that failed.
    fn failures(&self) -> usize {
        self.tried - self.hit(PASSED)
    }

    fn hit(&self, step: &str) -> usize {
        self.by_step.get(step).copied().unwrap_or(0)
    }
}

/// The OPTIONS file RocksDB writes at every open is about 66 kB (ten
/// column families): a limit below it fails every command at the open,
/// so the points that reach a command's own writes start above it.
const ABOVE_OPEN: u64 = 72 * 1024;

const BIG_JOBS: u64 = 16;
/// Bytes of each job's string result: the run writes about
/// `BIG_JOBS * BIG_CHARS` bytes three times (job records, result, event).
const BIG_CHARS: usize = 8_000;

/// A sweep of 16 jobs, each giving a string of 8,000 characters and a
/// float read from `data/out_{i}.json`, with history.
fn big_sweep(dir: &Path) -> PathBuf {
    let values: Vec<String> = (0..BIG_JOBS).map(|i| i.to_string()).collect();
    let toml = format!(
        "name = \"big\"\nover_time = true\n\n[[input]]\nname = \"i\"\nvalues = [{}]\n\n\
         [[result]]\nname = \"s\"\nkind = \"string\"\n\n[[result]]\nname = \"x\"\n\n\
         [command]\nargv = [\"cat\", \"data/out_{{i}}.json\"]\n",
        values.join(", ")
    );
    let p = dir.join("big.toml");
    std::fs::write(&p, toml).expect("write the sweep file");
    p
}

/// The outputs of the big sweep's jobs: `variant` changes every value.
fn big_data(dir: &Path, variant: u64) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    for i in 0..BIG_JOBS {
        let out = serde_json::json!({
            "s": text(variant * 1000 + i, BIG_CHARS),
            "x": (variant * 100 + i) as f64 * 0.5,
        });
        std::fs::write(data.join(format!("out_{i}.json")), out.to_string()).expect("write");
    }
}

/// A cache with two acknowledged runs of the big sweep (`v1`, `v2`), the
/// sweep file, and the data of a third run (`v3`) in place.
struct BigBase {
    _dir: tempfile::TempDir,
    work: PathBuf,
    sweep: PathBuf,
    cache: PathBuf,
    /// The exports of the acknowledged state: result, history.
    before: (String, String),
    /// The exports after an unlimited `v3`.
    after: (String, String),
    /// The key of the acknowledged result (`c1`).
    old_key: String,
}

/// The failing run: another code version, so that its job records and its
/// result are records of their own (a resume reuses only what this run
/// recorded), the same history, which it trims to two events.
const BIG_RUN: [&str; 6] = [
    "--label",
    "v3",
    "--code-version",
    "c3",
    "--max-time-events",
    "2",
];

fn big_base() -> BigBase {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().to_path_buf();
    let sweep = big_sweep(&work);
    let cache = work.join("base");
    big_data(&work, 1);
    for label in ["v1", "v2"] {
        ok(
            &cache,
            &[
                "run",
                s(&sweep),
                "--label",
                label,
                "--code-version",
                "c1",
                "--max-time-events",
                "2",
            ],
        );
    }
    big_data(&work, 2);
    // The key of the acknowledged result, which the third run (another
    // code version) leaves as it is.
    let listing = ok(&cache, &["ls"]);
    let old_key = listing
        .lines()
        .find(|l| l.starts_with("big") && l.contains(" result "))
        .and_then(|l| l.split_whitespace().nth(2))
        .expect("the result's key in `ls`")
        .to_string();
    let before = (
        export_json(&cache, "big", false),
        export_json(&cache, "big", true),
    );
    let reference = work.join("reference");
    copy_dir(&cache, &reference);
    let mut args = vec!["run", s(&sweep)];
    args.extend(BIG_RUN);
    ok(&reference, &args);
    let after = (
        export_json(&reference, "big", false),
        export_json(&reference, "big", true),
    );
    assert_ne!(
        before, after,
        "the third run changes the result and history"
    );
    BigBase {
        _dir: dir,
        work,
        sweep,
        cache,
        before,
        after,
        old_key,
    }
}

/// A run (v3 of the big sweep) meets a full disk at limits from just above
/// the cache's open to past the whole run: the failure lands in a batch of
/// job records, in the result, in the history append (which trims an
/// event) or in the report. Then a GC meets the disk still full, at half
/// the limit, while the cache replays the failed run's log.
#[test]
fn a_run_meets_a_full_disk_and_loses_nothing_acknowledged() {
    let base = big_base();
    let payload = BIG_JOBS * BIG_CHARS as u64;
    // From just above the open to past the run's three copies (job
    // records, result, event), at uneven steps.
    let limits: Vec<u64> = (0..11)
        .map(|k| ABOVE_OPEN + k * (3 * payload + payload / 3) / 11 + 7 * k * k)
        .collect();
    // Two points at a time: each has its own copy of the cache.
    let outcomes: Vec<(Option<&'static str>, Option<&'static str>)> = std::thread::scope(|sc| {
        let handles: Vec<_> = [0, 1]
            .map(|lane| {
                let (base, limits) = (&base, &limits);
                sc.spawn(move || {
                    limits
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| k % 2 == lane)
                        .map(|(k, &limit)| run_point(base, k, limit))
                        .collect::<Vec<_>>()
                })
            })
            .into_iter()
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a point panicked"))
            .collect()
    });
    let mut run_points = Points::default();
    let mut gc_points = Points::default();
    for (run, gc) in outcomes {
        match run {
            Some(step) => run_points.failed(step),
            None => run_points.passed(),
        }
        match gc {
            Some(step) => gc_points.failed(step),
            None => gc_points.passed(),
        }
    }
    run_points.print("run");
    gc_points.print("GC after the failed run, the disk still full");
    for step in ["job records", "result write", "history append"] {
        assert!(
            run_points.hit(step) > 0,
            "no limit failed the run at: {step}"
        );
    }
    assert!(run_points.failures() >= 8);
    assert!(gc_points.failures() > 0);
}

/// One point of the run scenario: the step the run failed at (`None`: it
/// fit), then the step a GC failed at on the disk still full.
fn run_point(base: &BigBase, k: usize, limit: u64) -> (Option<&'static str>, Option<&'static str>) {
    let t = base.work.join(format!("t{k}"));
    copy_dir(&base.cache, &t);
    let mut args = vec!["run", s(&base.sweep)];
    args.extend(BIG_RUN);
    let o = collector(&t, &args, Some(limit));
    let step = (!o.status.success()).then(|| step_of(&full_disk_error(&o, &t)));

    // The disk is still full: a GC (half the limit) replays the failed
    // run's write-ahead log at its open.
    let g = collector(
        &t,
        &["gc", "--delete", "--grace-secs", "0"],
        Some(limit / 2),
    );
    let gc = (!g.status.success()).then(|| step_of(&full_disk_error(&g, &t)));

    // The disk has room again: whatever was acknowledged is there, and
    // what the failed run wrote is absent or whole.
    let result = export_json(&t, "big", false);
    let history = export_json(&t, "big", true);
    let (r0, h0) = &base.before;
    let (r1, h1) = &base.after;
    match step {
        Some("the cache's open" | "job records" | "result write") => {
            assert!(&result == r0, "limit {limit}: the result changed");
            assert!(&history == h0, "limit {limit}: the history changed");
        }
        Some("history append") => {
            assert!(
                &result == r1,
                "limit {limit}: the stored result is not whole"
            );
            assert!(&history == h0, "limit {limit}: the history changed");
        }
        // It succeeded, or failed after the append (the report).
        _ => {
            assert!(&result == r1, "limit {limit}: the result is not the run's");
            assert!(
                &history == h1,
                "limit {limit}: the history is not the run's"
            );
        }
    }
    // The acknowledged result, by its key, whatever the failed run did.
    assert!(
        export_json(&t, &base.old_key, false) == *r0,
        "limit {limit}: the acknowledged result changed"
    );
    // Every record reads (a GC refuses to run on an unreadable one).
    ok(&t, &["gc"]);
    // The job records written before the failure are whole: a resumed
    // run reuses them and ends where an unfailed run ends.
    let mut args = vec!["run", s(&base.sweep), "--resume"];
    args.extend(BIG_RUN);
    ok(&t, &args);
    assert!(
        export_json(&t, "big", false) == *r1 && export_json(&t, "big", true) == *h1,
        "limit {limit}: the resumed run differs from an unfailed one"
    );
    assert!(temporaries(&t.join("media")).is_empty());
    std::fs::remove_dir_all(&t).expect("rm");
    (step, gc)
}

const MEDIA_JOBS: u64 = 4;
const IMG_BYTES: usize = 100_000;
const BLOB_BYTES: usize = 200_000;

/// A sweep whose jobs name an image (100 kB) and a blob (200 kB) by
/// absolute path, which the collector copies into its media root.
fn media_sweep(dir: &Path) -> PathBuf {
    let toml = "name = \"media\"\nover_time = true\ncatch = \"fail-fast\"\n\n\
         [[input]]\nname = \"i\"\nvalues = [0, 1, 2, 3]\n\n\
         [[result]]\nname = \"img\"\nkind = \"image\"\n\n[[result]]\nname = \"data\"\nkind = \"blob\"\n\n\
         [command]\nargv = [\"cat\", \"files/m_{i}.json\"]\n";
    let p = dir.join("media.toml");
    std::fs::write(&p, toml).expect("write the sweep file");
    p
}

/// The files of the media sweep's jobs (`variant` changes their content),
/// and every source file written so far.
fn media_files(dir: &Path, variant: u64, sources: &mut Vec<Vec<u8>>) {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    for i in 0..MEDIA_JOBS {
        let seed = variant * 1000 + i;
        let svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"4\" height=\"4\"><!-- {} --></svg>\n",
            text(seed, IMG_BYTES)
        );
        let blob = text(seed + 500, BLOB_BYTES);
        let img = files.join(format!("img_{variant}_{i}.svg"));
        let data = files.join(format!("data_{variant}_{i}.bin"));
        std::fs::write(&img, &svg).expect("write");
        std::fs::write(&data, &blob).expect("write");
        sources.push(svg.into_bytes());
        sources.push(blob.into_bytes());
        let out = serde_json::json!({"img": s(&img), "data": s(&data)});
        std::fs::write(files.join(format!("m_{i}.json")), out.to_string()).expect("write");
    }
}

/// Checks the media root of `cache`: no temporary file, every file whole
/// (equal to a source file), and every file `history` names is there.
fn media_whole(cache: &Path, sources: &[Vec<u8>], history: &str, at: &str) {
    let media = cache.join("media");
    assert_eq!(temporaries(&media), Vec::<PathBuf>::new(), "{at}");
    for f in files_under(&media) {
        let bytes = std::fs::read(&f).expect("read a media file");
        assert!(
            sources.contains(&bytes),
            "{at}: {} is not a whole file ({} bytes)",
            f.display(),
            bytes.len()
        );
    }
    let named = cells_of_kind(history, "image").into_iter().chain(
        cells_of_kind(history, "blob")
            .into_iter()
            .map(|b| format!("blob/{b}")),
    );
    for cell in named {
        assert!(media.join(&cell).is_file(), "{at}: {cell} is gone");
    }
}

/// A run copies media files (an image, then a blob, per job) into the
/// media root and meets a full disk inside one of them.
#[test]
fn a_media_write_meets_a_full_disk_and_leaves_no_partial_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path();
    let sweep = media_sweep(work);
    let cache = work.join("base");
    let mut sources = Vec::new();
    media_files(work, 1, &mut sources);
    ok(&cache, &["run", s(&sweep), "--label", "v1"]);
    media_files(work, 2, &mut sources);
    let history0 = export_json(&cache, "media", true);
    let mut points = Points::default();
    let limits: Vec<u64> = (0..6)
        .map(|k| ABOVE_OPEN + k * (BLOB_BYTES as u64 - ABOVE_OPEN) / 6 + 1009 * k)
        .collect();
    for (k, &limit) in limits.iter().enumerate() {
        let t = work.join(format!("t{k}"));
        copy_dir(&cache, &t);
        let o = collector(&t, &["run", s(&sweep), "--label", "v2"], Some(limit));
        let line = full_disk_error(&o, &t.join("media"));
        points.failed(step_of(&line));
        let at = format!("limit {limit}");
        // No event was added, and the event before names whole files.
        let history = export_json(&t, "media", true);
        assert!(history == history0, "{at}: the history changed");
        media_whole(&t, &sources, &history, &at);
        // The incomplete result the failed run stored reads back, and
        // names only whole files.
        let result = export_json(&t, "media", false);
        media_whole(&t, &sources, &result, &at);
        // A GC with room deletes the orphans, never a named file.
        ok(&t, &["gc", "--delete", "--grace-secs", "0"]);
        media_whole(&t, &sources, &history, &at);
        // The run completes with room again.
        ok(&t, &["run", s(&sweep), "--label", "v2", "--resume"]);
        let history = export_json(&t, "media", true);
        assert_eq!(cells_of_kind(&history, "image").len(), 8, "{at}");
        media_whole(&t, &sources, &history, &at);
        std::fs::remove_dir_all(&t).expect("rm");
    }
    points.print("media write");
    assert!(
        points.hit("media file") > 0,
        "no limit failed an image copy"
    );
    assert!(points.hit("blob") > 0, "no limit failed a blob write");

    // GC on a full disk: the cache's open (its manifest, its options file)
    // fails before anything is deleted.
    let orphan_dir = cache.join("media/image/img/orphan-job");
    std::fs::create_dir_all(&orphan_dir).expect("mkdir");
    let orphan = orphan_dir.join("old.svg");
    std::fs::write(&orphan, "<svg/>").expect("write");
    sources.push(b"<svg/>".to_vec());
    let mut gc_points = Points::default();
    for limit in [700, 2_500, 20_000, 45_000, 60_000] {
        let g = collector(
            &cache,
            &["gc", "--delete", "--grace-secs", "0"],
            Some(limit),
        );
        let line = full_disk_error(&g, &cache);
        gc_points.failed(step_of(&line));
        assert!(
            orphan.is_file(),
            "limit {limit}: a failed GC deleted a file"
        );
        media_whole(&cache, &sources, &history0, &format!("GC at limit {limit}"));
        assert!(export_json(&cache, "media", true) == history0);
    }
    gc_points.print("GC");
    let gc = ok(&cache, &["gc", "--delete", "--grace-secs", "0"]);
    assert!(gc.contains("deleted 1 orphan file"), "{gc}");
    assert!(!orphan.exists());
    media_whole(&cache, &sources, &history0, "GC with room");
}

/// Exports (JSON, CSV, netCDF) and the HTML report meet a full disk: each
/// fails naming its file, leaves no partial file (an older export of the
/// same name stays as it was) and changes nothing in the cache.
#[test]
fn an_export_meets_a_full_disk_and_leaves_no_partial_file() {
    let base = big_base();
    let out_dir = base.work.join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let mut points = Points::default();
    let formats: &[(&str, &[&str])] = &[
        ("json", &["export", "big", "--format", "json", "--history"]),
        ("csv", &["export", "big", "--format", "csv", "--history"]),
        ("nc", &["export", "big", "--format", "netcdf", "--history"]),
        ("html", &["report", "big", "--no-check"]),
    ];
    for &(ext, cmd) in formats {
        let out = out_dir.join(format!("big.{ext}"));
        // The size of the whole file, with room.
        let mut args = cmd.to_vec();
        args.extend(["-o", s(&out)]);
        ok(&base.cache, &args);
        let whole = std::fs::read(&out).expect("read the export");
        assert!(
            whole.len() as u64 > ABOVE_OPEN + 40_000,
            "{ext}: {}",
            whole.len()
        );
        for (k, limit) in [ABOVE_OPEN + 333, (ABOVE_OPEN + whole.len() as u64) / 2]
            .into_iter()
            .enumerate()
        {
            // First with no file there, then over an older one.
            if k == 0 {
                std::fs::remove_file(&out).expect("rm");
            } else {
                std::fs::write(&out, b"an older export").expect("write");
            }
            let o = collector(&base.cache, &args, Some(limit));
            full_disk_error(&o, &out);
            points.failed(match ext {
                "json" => "JSON export",
                "csv" => "CSV export",
                "nc" => "netCDF export",
                _ => "HTML report",
            });
            if k == 0 {
                assert!(!out.exists(), "{ext} at {limit}: a partial file is left");
            } else {
                assert_eq!(std::fs::read(&out).expect("read"), b"an older export");
            }
            let left: Vec<PathBuf> = files_under(&out_dir)
                .into_iter()
                .filter(|p| p != &out && !p.ends_with(format!("big.{ext}")))
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            assert!(left.is_empty(), "{ext} at {limit}: left {left:?}");
        }
        // With room, the export is whole again.
        ok(&base.cache, &args);
        assert!(std::fs::read(&out).expect("read") == whole, "{ext}");
    }
    points.print("export");
    assert!(export_json(&base.cache, "big", false) == base.before.0);
    assert!(export_json(&base.cache, "big", true) == base.before.1);
}
