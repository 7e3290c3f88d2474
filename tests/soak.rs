//! SIGKILL soak: child processes write to one cache directory (and to
//! shard directories) and are killed with SIGKILL at random moments; after
//! each kill the parent checks every cache directory.
//!
//! Five kinds of work, dealt round-robin in a shuffled order so that any
//! count covers them all evenly ([`Kind`]):
//! - `result`: whole results written by runs without history (a float, an
//!   image file and a blob per job);
//! - `history`: runs appending events, trimmed (`max_time_events`), aged
//!   (per-variable `max_time_events` on an image and a float column) and
//!   sometimes replacing the newest event (same label);
//! - `gc`: an orphan file, a trimmed append that releases files, then a GC
//!   with delete (grace zero);
//! - `resume`: a slow sweep of many jobs resumed (`Reuse::Resume`) across
//!   kills, a new code version (a new job set) per round;
//! - `merge`: two shard runs into their own cache directories, then
//!   `ResultCollector::merge` into the main one.
//!
//! Each child does the steps of its kind in a fixed plan (a step's work is
//! a function of its number) and acknowledges each step after its call
//! returned: one unbuffered `write` of `ACK <step>\n` to its kind's file.
//! A child starts at the first unacknowledged step, so the step in flight at
//! a kill is redone by the next child of that kind.
//!
//! After each kill, in every cache directory:
//! - every stored result, history and job record loads (no record is
//!   partial or corrupt: a corrupt one would be removed on read, so the
//!   listing is compared with what loaded);
//! - every acknowledged step is there, with the exact values the plan
//!   gives (the step in flight may have committed too, as a whole);
//! - every media and blob file a result, history event or job record
//!   names exists, with the content its job wrote;
//! - then a GC with delete (grace zero) runs, and every file left under
//!   the media root is named by some record: no orphan survives it.
//!
//! At the end, one child of each kind runs a step to its end, unkilled, and
//! the resumed rounds are checked (this kind replaces the former
//! `tests/resume_kill.rs`): every job of a finished round ran; a job ran
//! again only after a kill of the child that ran it, and no more than one
//! batch (the one in flight) per kill did (a resumed child does not start
//! over);
//! some round ran across a kill; every cell of every round holds what an
//! uninterrupted run gives, and the newest round's JSON export equals that
//! of the same round run once, unkilled, in another directory. The column-identity model
//! of history appends under kills stays in collector-cache's `crash.rs`.
//!
//! Tried first, this soak found that a blob write killed between its
//! temporary file and the rename left a `.tmp…` file in the blob directory
//! that no GC would ever remove; GC now collects one older than the grace
//! period.
//!
//! The kill count is `COLLECTOR_SOAK_KILLS` (default [`QUICK_KILLS`], the
//! CI count; `cargo xtask soak` sets 100), dealt over the kinds; resume
//! kills are then added until the resumed sweep has been killed at least
//! [`MIN_RESUME_KILLS`] (20) times. The seed is printed; set
//! `COLLECTOR_SOAK_SEED` to replay a failing schedule (the kill moments
//! replay only approximately: they are times).
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use result_collector::cache::CacheDb;
use result_collector::model::is_missing_text as is_missing;
use result_collector::model::{Coords, Dataset, sample_key};
use result_collector::{
    GcOptions, InputVar, MediaRoot, MergeOptions, ResultCollector, ResultKind, ResultVar, Reuse,
    RunOptions, Sample, Shard, Sweep, TimeSrc, cache_key, history_key, shard_size,
};

/// Kills in the CI run (about 0.6 s each in the debug build), dealt over
/// the kinds; then resume kills are added up to [`MIN_RESUME_KILLS`].
const QUICK_KILLS: usize = 15;
/// The resumed sweep is killed at least this many times in any run (the
/// count issue 12 asks of its kill -9 test).
const MIN_RESUME_KILLS: usize = 20;
const KILLS_ENV: &str = "COLLECTOR_SOAK_KILLS";
const SEED_ENV: &str = "COLLECTOR_SOAK_SEED";
/// The child's kind; its presence makes the test binary a child.
const ROLE_ENV: &str = "RC_SOAK_ROLE";
/// The work directory: `main/`, `shards/`, `acks/`, `calls`.
const WORK_ENV: &str = "RC_SOAK_WORK";
/// Where the child writes that it has opened the cache.
const READY_ENV: &str = "RC_SOAK_READY";
/// Set: the child does one step and exits.
const FINISH_ENV: &str = "RC_SOAK_FINISH";
const ACK: &str = "ACK ";

const RESULT_JOBS: i64 = 4;
const HISTORY_JOBS: i64 = 3;
/// `max_time_events` of the history kind's runs.
const HISTORY_KEEP: usize = 5;
/// The per-variable limits of the history kind's `img` and `t`.
const IMG_KEEP: usize = 2;
const T_KEEP: usize = 3;
/// Every this many history steps, the step re-appends the label before.
const REPLACE_EVERY: u64 = 4;
const GC_JOBS: i64 = 3;
const GC_KEEP: usize = 2;
const RESUME_JOBS: i64 = 120;
const RESUME_BATCH: usize = 8;
const MERGE_JOBS: i64 = 24;

/// One kind of work of the children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Result,
    History,
    Gc,
    Resume,
    Merge,
}

const KINDS: [Kind; 5] = [
    Kind::Result,
    Kind::History,
    Kind::Gc,
    Kind::Resume,
    Kind::Merge,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Result => "result",
            Kind::History => "history",
            Kind::Gc => "gc",
            Kind::Resume => "resume",
            Kind::Merge => "merge",
        }
    }

    fn parse(s: &str) -> Kind {
        *KINDS
            .iter()
            .find(|k| k.name() == s)
            .unwrap_or_else(|| panic!("unknown kind {s}"))
    }

    /// The kill moment is drawn in `0..window` ms after the child made
    /// progress: about two steps of the kind in the debug build.
    fn window_ms(self) -> u64 {
        match self {
            Kind::Result | Kind::History => 150,
            Kind::Gc => 250,
            Kind::Resume => 150,
            Kind::Merge => 400,
        }
    }
}

// ---------------------------------------------------------------------
// The plan: what each step writes.
// ---------------------------------------------------------------------

fn result_sweep(i: u64) -> Sweep {
    Sweep::builder(format!("soak-result-{i}"))
        .input(InputVar::int_values(
            "n",
            (0..RESULT_JOBS).collect::<Vec<_>>(),
        ))
        .result(ResultVar::float("y"))
        .result(ResultVar::image("img"))
        .result(ResultVar::blob("b"))
        .build()
        .unwrap()
}

fn result_y(i: u64, n: i64) -> f64 {
    (i * 1000) as f64 + n as f64
}

fn result_blob(i: u64, n: i64) -> String {
    // Two jobs share each blob: a blob named twice.
    format!("blob of result {i}, {}", n % 2)
}

fn history_sweep() -> Sweep {
    Sweep::builder("soak-history")
        .input(InputVar::int_values(
            "n",
            (0..HISTORY_JOBS).collect::<Vec<_>>(),
        ))
        .result(ResultVar::float("y"))
        .result(ResultVar::float("t").max_time_events(T_KEEP))
        .result(ResultVar::image("img").max_time_events(IMG_KEEP))
        .over_time(true)
        .build()
        .unwrap()
}

/// The label of history step `e`: every [`REPLACE_EVERY`]th step
/// re-appends the one before (a replacement of the newest event).
fn history_label(e: u64) -> String {
    let e = if e % REPLACE_EVERY == REPLACE_EVERY - 1 {
        e - 1
    } else {
        e
    };
    format!("e{e:05}")
}

fn history_y(e: u64, n: i64) -> f64 {
    (e * 10) as f64 + n as f64
}

/// The live events after history steps `0..c`: label and step, in time
/// order.
fn history_model(c: u64) -> Vec<(String, u64)> {
    let mut ev: Vec<(String, u64)> = Vec::new();
    for e in 0..c {
        let l = history_label(e);
        match ev.iter().position(|(x, _)| *x == l) {
            Some(p) => ev[p].1 = e,
            None => {
                ev.push((l, e));
                if ev.len() > HISTORY_KEEP {
                    ev.remove(0);
                }
            }
        }
    }
    ev
}

fn gc_sweep() -> Sweep {
    Sweep::builder("soak-gc")
        .input(InputVar::int_values("n", (0..GC_JOBS).collect::<Vec<_>>()))
        .result(ResultVar::float("y"))
        .result(ResultVar::image("img"))
        .over_time(true)
        .build()
        .unwrap()
}

/// The folder of the orphan file of GC append `i`, under the media root.
fn gc_orphan_dir(i: u64) -> String {
    format!("image/orphan/g{i:05}")
}

fn resume_sweep(r: u64) -> Sweep {
    Sweep::builder("soak-resume")
        .input(InputVar::int_values(
            "n",
            (0..RESUME_JOBS).collect::<Vec<_>>(),
        ))
        .result(ResultVar::float("y"))
        .result(ResultVar::string("tag"))
        .result(ResultVar::image("img").max_time_events(1))
        .over_time(true)
        .version(format!("r{r}"))
        .build()
        .unwrap()
}

fn resume_y(r: u64, n: i64) -> f64 {
    (n as f64).sqrt() * 3.5 + r as f64
}

fn merge_sweep(m: u64) -> Sweep {
    Sweep::builder("soak-merge")
        .input(InputVar::int_values(
            "n",
            (0..MERGE_JOBS).collect::<Vec<_>>(),
        ))
        .result(ResultVar::float("y"))
        .result(ResultVar::image("img"))
        .over_time(true)
        .version(format!("m{m}"))
        .build()
        .unwrap()
}

fn merge_y(m: u64, n: i64) -> f64 {
    (m * 100) as f64 + n as f64
}

/// The cache directory of shard `k` (of 2) of merge `m`.
fn shard_dir(work: &Path, m: u64, k: u32) -> PathBuf {
    work.join("shards")
        .join(format!("m{m:04}"))
        .join(format!("s{k}"))
}

/// The content of the media file of a job, by kind, step and job.
fn content(kind: Kind, step: u64, n: i64) -> String {
    format!("{} {step} {n}", kind.name())
}

/// Writes a new media file for the job `smp` under `root` and returns
/// its cell.
fn media_file(root: &MediaRoot, smp: &Sample<'_>, var: &str, text: &str) -> Result<String, String> {
    let key = sample_key(smp.sweep(), &smp.inputs());
    let mut f = root
        .new_file(ResultKind::Image, var, &key, "f.txt")
        .map_err(|e| e.to_string())?;
    f.file
        .write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", f.path.display()))?;
    Ok(f.cell)
}

// ---------------------------------------------------------------------
// The child.
// ---------------------------------------------------------------------

/// The child mode: does nothing unless the parent test set the variables.
#[test]
fn soak_child() {
    let (Some(role), Some(work), Some(ready)) = (
        std::env::var_os(ROLE_ENV),
        std::env::var_os(WORK_ENV),
        std::env::var_os(READY_ENV),
    ) else {
        return;
    };
    let kind = Kind::parse(role.to_str().unwrap());
    let work = PathBuf::from(work);
    let finish = std::env::var_os(FINISH_ENV).is_some();
    let ack_path = work.join("acks").join(kind.name());
    let first = read_acks(&ack_path).len() as u64;
    // Unbuffered: each acknowledgement is one `write`, so a kill leaves
    // whole lines and at most one cut last line, which the parent ignores
    // and this child drops before appending.
    let mut acks = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&ack_path)
        .unwrap();
    drop_cut_line(&acks, &ack_path);
    if kind == Kind::Resume {
        let calls = work.join("calls");
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&calls)
            .unwrap();
        drop_cut_line(&f, &calls);
    }
    let main = ResultCollector::new(Some(&work.join("main")));
    main.cache().unwrap();
    let root = main.media_root().unwrap();
    std::fs::write(&ready, b"ready\n").unwrap();
    for step in first.. {
        match kind {
            Kind::Result => result_step(&main, &root, step),
            Kind::History => history_step(&main, &root, step),
            Kind::Gc => gc_step(&main, &root, step),
            Kind::Resume => resume_step(&main, &root, &work, step),
            Kind::Merge => merge_step(&main, &work, step),
        }
        // Acknowledged only once the step has returned.
        acks.write_all(format!("{ACK}{step}\n").as_bytes()).unwrap();
        if finish {
            break;
        }
    }
}

/// Truncates `file` (at `path`) after its last newline: a line cut by a
/// kill would run into the next child's first.
fn drop_cut_line(file: &std::fs::File, path: &Path) {
    let text = std::fs::read(path).unwrap();
    let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    file.set_len(whole as u64).unwrap();
}

fn result_step(c: &ResultCollector, root: &MediaRoot, i: u64) {
    let sweep = result_sweep(i);
    c.run(&sweep, &TimeSrc::now(), &RunOptions::threads(1), |smp| {
        let n = smp.get::<i64>("n").map_err(|e| e.to_string())?;
        let img = media_file(root, smp, "img", &content(Kind::Result, i, n))?;
        let b = root
            .write_blob(result_blob(i, n).as_bytes(), "bin")
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(
            smp.outputs()
                .with("y", result_y(i, n))
                .with("img", img)
                .with("b", b),
        )
    })
    .unwrap();
}

fn history_step(c: &ResultCollector, root: &MediaRoot, e: u64) {
    let mut opts = RunOptions::threads(1);
    opts.history.max_time_events = Some(HISTORY_KEEP);
    c.run(
        &history_sweep(),
        &TimeSrc::Label(history_label(e)),
        &opts,
        |smp| {
            let n = smp.get::<i64>("n").map_err(|e| e.to_string())?;
            let img = media_file(root, smp, "img", &content(Kind::History, e, n))?;
            let y = history_y(e, n);
            Ok::<_, String>(
                smp.outputs()
                    .with("y", y)
                    .with("t", y + 0.5)
                    .with("img", img),
            )
        },
    )
    .unwrap();
}

/// GC step `2i`: an orphan file, then append `i`; step `2i + 1`: a GC
/// with delete.
fn gc_step(c: &ResultCollector, root: &MediaRoot, step: u64) {
    let i = step / 2;
    if step % 2 == 1 {
        let summary = c
            .gc(GcOptions {
                delete: true,
                grace: Duration::ZERO,
            })
            .unwrap();
        let report = summary.report.unwrap();
        assert!(report.failed.is_empty(), "{report:?}");
        return;
    }
    let orphan = root
        .new_file(
            ResultKind::Image,
            "orphan",
            &format!("g{i:05}"),
            "orphan.txt",
        )
        .unwrap();
    drop(orphan);
    let mut opts = RunOptions::threads(1);
    opts.history.max_time_events = Some(GC_KEEP);
    c.run(
        &gc_sweep(),
        &TimeSrc::Label(format!("g{i:05}")),
        &opts,
        |smp| {
            let n = smp.get::<i64>("n").map_err(|e| e.to_string())?;
            let img = media_file(root, smp, "img", &content(Kind::Gc, i, n))?;
            Ok::<_, String>(
                smp.outputs()
                    .with("y", (i * 10) as f64 + n as f64)
                    .with("img", img),
            )
        },
    )
    .unwrap();
}

fn resume_opts() -> RunOptions {
    RunOptions {
        threads: Some(2),
        batch: RESUME_BATCH,
        reuse: Reuse::Resume,
        ..RunOptions::default()
    }
}

/// Round `r` of the resumed sweep: slow jobs, each logging its call.
fn resume_step(c: &ResultCollector, root: &MediaRoot, work: &Path, r: u64) {
    let calls = OpenOptions::new()
        .create(true)
        .append(true)
        .open(work.join("calls"))
        .unwrap();
    c.run(
        &resume_sweep(r),
        &TimeSrc::Label(format!("r{r:04}")),
        &resume_opts(),
        |smp| {
            std::thread::sleep(Duration::from_millis(2));
            let n = smp.get::<i64>("n").map_err(|e| e.to_string())?;
            let img = media_file(root, smp, "img", &content(Kind::Resume, r, n))?;
            // One write per call: the kill cuts a line, never mixes two.
            (&calls)
                .write_all(format!("{r} {n}\n").as_bytes())
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(
                smp.outputs()
                    .with("y", resume_y(r, n))
                    .with("tag", format!("n{n}"))
                    .with("img", img),
            )
        },
    )
    .unwrap();
}

/// Merge step `3m + k - 1` (k = 1, 2): shard k of 2 of merge `m`, in its
/// own cache directory; step `3m + 2`: the merge of both into the main one.
fn merge_step(main: &ResultCollector, work: &Path, step: u64) {
    let (m, part) = (step / 3, step % 3);
    let dirs = [shard_dir(work, m, 1), shard_dir(work, m, 2)];
    if part == 2 {
        main.merge(
            &dirs,
            &MergeOptions {
                sweep: None,
                partial: false,
                time_src: TimeSrc::Label(format!("m{m:04}")),
                run: RunOptions::threads(1),
            },
        )
        .unwrap();
        return;
    }
    let k = part as u32 + 1;
    let shard = ResultCollector::new(Some(&dirs[part as usize]));
    let root = shard.media_root().unwrap();
    shard
        .run(
            &merge_sweep(m),
            &TimeSrc::Label(format!("m{m:04}")),
            &RunOptions {
                threads: Some(1),
                reuse: Reuse::Resume,
                shard: Some(Shard::new(k, 2).unwrap()),
                ..RunOptions::default()
            },
            |smp| {
                let n = smp.get::<i64>("n").map_err(|e| e.to_string())?;
                let img = media_file(&root, smp, "img", &content(Kind::Merge, m, n))?;
                Ok::<_, String>(smp.outputs().with("y", merge_y(m, n)).with("img", img))
            },
        )
        .unwrap();
}

// ---------------------------------------------------------------------
// The parent's checks.
// ---------------------------------------------------------------------

/// The acknowledged steps in an acknowledgement file: whole lines only,
/// which must be `0, 1, 2, ...`.
fn read_acks(path: &Path) -> Vec<u64> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("reading {}: {e}", path.display()),
    };
    let whole = text.rfind('\n').map_or("", |end| &text[..=end]);
    let steps: Vec<u64> = whole
        .lines()
        .map(|l| {
            l.strip_prefix(ACK)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {l:?} in {}", path.display()))
        })
        .collect();
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(*s, i as u64, "{}: steps out of order", path.display());
    }
    steps
}

/// What the checks counted.
#[derive(Debug, Default)]
struct Tally {
    /// Acknowledged steps found, summed over every check.
    acked_checked: u64,
    /// Steps in flight at a kill found committed (unacknowledged).
    in_flight_landed: BTreeSet<(Kind, u64)>,
    /// Named files found present, summed over every check.
    files_checked: u64,
    /// Orphans the parent's GC deleted after a kill.
    orphans_deleted: u64,
}

/// A cache directory opened for checking: every record loaded.
struct Opened {
    c: ResultCollector,
    db: std::sync::Arc<CacheDb>,
    root: MediaRoot,
    /// Every file some record names: root-relative paths.
    named: BTreeSet<PathBuf>,
}

/// Opens the cache directory `dir`, loads every record (none may be
/// partial or corrupt) and checks that every file one names exists.
fn open_and_check(dir: &Path, what: &str, tally: &mut Tally) -> Option<Opened> {
    let c = ResultCollector::new(Some(dir));
    if !c.cache_dir().has_cache() {
        return None;
    }
    let db = c
        .cache()
        .unwrap_or_else(|e| panic!("{what}: the cache does not open: {e}"));
    let root = c.media_root().unwrap();
    let mut cells: Vec<(String, bool)> = Vec::new();
    let add = |cells: &mut Vec<(String, bool)>, ds: &Dataset| {
        for f in ds.named_files() {
            cells.push((f.path.to_string(), f.kind != ResultKind::Blob));
        }
    };
    let listing = db.list_sweeps().unwrap();
    for l in &listing {
        for r in &l.results {
            match db.get_result(&r.key) {
                Ok(Some(stored)) => add(&mut cells, &stored.dataset),
                Ok(None) => panic!(
                    "{what}: result {} of `{}` is corrupt (removed)",
                    r.key, l.name
                ),
                Err(e) => panic!("{what}: result {} of `{}`: {e}", r.key, l.name),
            }
        }
        for h in &l.histories {
            match db.load_history(&h.key) {
                Ok(Some(ds)) => {
                    // Its metadata agrees with its events.
                    let info = db.history_info(&h.key).unwrap().unwrap();
                    assert_eq!(
                        ds.shape().last().copied(),
                        Some(info.events.len()),
                        "{what}: history {} of `{}`",
                        h.key,
                        l.name
                    );
                    add(&mut cells, &ds);
                }
                Ok(None) => panic!(
                    "{what}: history {} of `{}` is corrupt (removed)",
                    h.key, l.name
                ),
                Err(e) => panic!("{what}: history {} of `{}`: {e}", h.key, l.name),
            }
        }
    }
    // Nothing was found corrupt and removed while loading.
    let again = db.list_sweeps().unwrap();
    let count = |ls: &[result_collector::SweepListing]| {
        ls.iter()
            .map(|l| (l.results.len(), l.histories.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        count(&listing),
        count(&again),
        "{what}: records removed while loading"
    );
    let unreadable = db
        .visit_job_record_files(|t, media| cells.push((t.to_string(), media)))
        .unwrap();
    assert!(
        unreadable.is_empty(),
        "{what}: unreadable job records {unreadable:?}"
    );
    let mut named = BTreeSet::new();
    for (cell, media) in cells {
        let path = if media {
            root.resolve(&cell)
        } else {
            root.blob_path(&cell).ok()
        }
        .unwrap_or_else(|| panic!("{what}: a record names {cell:?}, outside the media root"));
        assert!(
            path.is_file(),
            "{what}: a record names {cell:?}, but {} is gone",
            path.display()
        );
        tally.files_checked += 1;
        named.insert(path.strip_prefix(root.path()).unwrap().to_path_buf());
    }
    Some(Opened { c, db, root, named })
}

/// Runs a GC with delete on `o`, then checks that every file under the
/// media root is named by some record.
fn gc_and_check_orphans(o: &Opened, what: &str, tally: &mut Tally) {
    let summary =
        o.c.gc(GcOptions {
            delete: true,
            grace: Duration::ZERO,
        })
        .unwrap_or_else(|e| panic!("{what}: the GC failed: {e}"));
    if let Some(r) = summary.report {
        assert!(r.failed.is_empty(), "{what}: GC failures {:?}", r.failed);
        tally.orphans_deleted += r.deleted as u64;
    }
    for e in walkdir::WalkDir::new(o.root.path()) {
        let e = e.unwrap();
        if e.file_type().is_dir() {
            continue;
        }
        let rel = e.path().strip_prefix(o.root.path()).unwrap();
        assert!(
            o.named.contains(rel),
            "{what}: {} survived the GC, but no record names it",
            e.path().display()
        );
    }
}

fn labels(h: &Dataset) -> Vec<String> {
    match &h.dim("over_time").unwrap().coords {
        Coords::Label(v) => v.clone(),
        c => panic!("not labels: {c:?}"),
    }
}

fn f64s(ds: &Dataset, name: &str) -> Vec<f64> {
    ds.column(name)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

fn texts(ds: &Dataset, name: &str) -> Vec<String> {
    ds.column(name)
        .unwrap()
        .text()
        .unwrap()
        .iter()
        .cloned()
        .collect()
}

/// Checks that the media cell `cell` names a file holding `want`.
fn check_file(root: &MediaRoot, cell: &str, want: &str, what: &str) {
    let path = root.resolve(cell).unwrap();
    let got = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{what}: reading {}: {e}", path.display()));
    assert_eq!(got, want, "{what}: {}", path.display());
}

/// Checks the stored result of `sweep`: complete, and each job's cells as
/// `expect(n)` gives them: floats, then the content of each media file.
fn check_result(
    o: &Opened,
    sweep: &Sweep,
    expect: impl Fn(i64) -> (Vec<(&'static str, f64)>, Vec<(&'static str, String)>),
    what: &str,
) {
    let stored =
        o.db.get_result(&cache_key(sweep))
            .unwrap()
            .unwrap_or_else(|| panic!("{what}: acknowledged but missing"));
    assert!(stored.complete, "{what}: stored incomplete");
    let ds = &stored.dataset;
    // Every job's cells: the jobs, the repeats (one), then `over_time` of
    // one with history.
    let mut shape = vec![sweep.job_count(), 1];
    if sweep.over_time() {
        shape.push(1);
    }
    assert_eq!(ds.shape(), shape, "{what}: shape");
    for n in 0..sweep.job_count() as i64 {
        let (floats, files) = expect(n);
        for (col, want) in floats {
            // Jobs are the first dim; an `over_time` dim of one comes last.
            assert_eq!(f64s(ds, col)[n as usize], want, "{what}: {col} of job {n}");
        }
        for (col, want) in files {
            check_file(
                &o.root,
                &texts(ds, col)[n as usize],
                &want,
                &format!("{what}: {col} of job {n}"),
            );
        }
    }
}

/// The committed steps of a kind: the acknowledged ones, or one more when
/// the step in flight committed (`landed` tells from what was loaded).
fn committed(kind: Kind, acked: u64, landed: bool, tally: &mut Tally) -> u64 {
    if landed {
        tally.in_flight_landed.insert((kind, acked));
        acked + 1
    } else {
        acked
    }
}

fn check_results_kind(o: &Opened, acked: u64, tally: &mut Tally) {
    let landed =
        o.db.get_result(&cache_key(&result_sweep(acked)))
            .unwrap()
            .is_some();
    let c = committed(Kind::Result, acked, landed, tally);
    for i in 0..c {
        check_result(
            o,
            &result_sweep(i),
            |n| {
                (
                    vec![("y", result_y(i, n))],
                    vec![("img", content(Kind::Result, i, n))],
                )
            },
            &format!("result step {i}"),
        );
        // The blob holds its bytes.
        let stored =
            o.db.get_result(&cache_key(&result_sweep(i)))
                .unwrap()
                .unwrap();
        for (n, b) in texts(&stored.dataset, "b").iter().enumerate() {
            let bytes = std::fs::read(o.root.blob_path(b).unwrap()).unwrap();
            assert_eq!(
                bytes,
                result_blob(i, n as i64).as_bytes(),
                "result step {i}: blob {b}"
            );
        }
    }
    assert!(
        o.db.get_result(&cache_key(&result_sweep(c)))
            .unwrap()
            .is_none(),
        "result step {c} stored, neither acknowledged nor in flight"
    );
    tally.acked_checked += acked;
}

/// Checks a loaded history against the events `model` gives (label and
/// step): labels, `y` of every event, and the aged columns.
fn check_history_events(o: &Opened, h: &Dataset, model: &[(String, u64)], acked: u64) {
    let t = model.len();
    assert_eq!(
        h.shape(),
        vec![HISTORY_JOBS as usize, 1, t],
        "history shape (jobs, repeats, events)"
    );
    let f = |n: i64, ti: usize| n as usize * t + ti;
    let y = f64s(h, "y");
    let tcol = f64s(h, "t");
    let img = texts(h, "img");
    for (ti, (label, e)) in model.iter().enumerate() {
        let what = format!("history event {label} (step {e}, {acked} acknowledged)");
        for n in 0..HISTORY_JOBS {
            let want = history_y(*e, n);
            assert_eq!(y[f(n, ti)], want, "{what}: y of job {n}");
            // Aged: `t` in the newest T_KEEP events, `img` in the newest
            // IMG_KEEP; older cells hold the sentinel.
            let t_cell = tcol[f(n, ti)];
            if ti + T_KEEP >= t {
                assert_eq!(t_cell, want + 0.5, "{what}: t of job {n}");
            } else {
                assert!(t_cell.is_nan(), "{what}: t of job {n} not aged: {t_cell}");
            }
            let cell = &img[f(n, ti)];
            if ti + IMG_KEEP >= t {
                check_file(&o.root, cell, &content(Kind::History, *e, n), &what);
            } else {
                assert!(is_missing(cell), "{what}: img of job {n} not aged: {cell}");
            }
        }
    }
}

fn check_history_kind(o: &Opened, acked: u64, tally: &mut Tally) {
    let sweep = history_sweep();
    let Some(h) = o.db.load_history(&history_key(&sweep)).unwrap() else {
        assert_eq!(acked, 0, "history lost after {acked} acknowledged appends");
        return;
    };
    let got = labels(&h);
    let want_labels = |m: &[(String, u64)]| m.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
    // The step in flight committed when the history is the model with it
    // (a replacement keeps the labels: the values of `y` tell).
    let y = f64s(&h, "y");
    let matches = |m: &[(String, u64)]| {
        got == want_labels(m)
            && m.iter()
                .enumerate()
                .all(|(ti, (_, e))| y[ti] == history_y(*e, 0))
    };
    let (model, next) = (history_model(acked), history_model(acked + 1));
    let landed = !matches(&model) && matches(&next);
    let model = if committed(Kind::History, acked, landed, tally) > acked {
        next
    } else {
        model
    };
    assert_eq!(
        got,
        want_labels(&model),
        "history labels after {acked} acknowledged appends"
    );
    check_history_events(o, &h, &model, acked);
    // The stored result is the newest run's: the acknowledged one, or the
    // one in flight (its result is stored before its event).
    let newest_steps: Vec<u64> = [acked.checked_sub(1), Some(acked)]
        .into_iter()
        .flatten()
        .collect();
    let stored = o.db.get_result(&cache_key(&sweep)).unwrap().unwrap();
    let y0 = f64s(&stored.dataset, "y")[0];
    assert!(
        newest_steps.iter().any(|&e| history_y(e, 0) == y0),
        "the stored result of soak-history holds y {y0}, from none of steps {newest_steps:?}"
    );
    tally.acked_checked += acked;
}

fn check_gc_kind(o: &Opened, acked: u64, tally: &mut Tally) {
    // Appends are the even steps; GCs the odd ones.
    let appends = acked.div_ceil(2);
    let sweep = gc_sweep();
    let h = o.db.load_history(&history_key(&sweep)).unwrap();
    let model = |c: u64| -> Vec<String> {
        (c.saturating_sub(GC_KEEP as u64)..c)
            .map(|i| format!("g{i:05}"))
            .collect()
    };
    let got = h.as_ref().map(labels).unwrap_or_default();
    let in_flight_append = acked.is_multiple_of(2);
    let landed = in_flight_append && got == model(appends + 1) && got != model(appends);
    let c = committed(Kind::Gc, appends, landed, tally);
    assert_eq!(got, model(c), "gc history after {acked} acknowledged steps");
    if let Some(h) = &h {
        let img = texts(h, "img");
        let y = f64s(h, "y");
        let t = got.len();
        assert_eq!(
            h.shape(),
            vec![GC_JOBS as usize, 1, t],
            "history shape (jobs, repeats, events)"
        );
        for (ti, i) in (c - t as u64..c).enumerate() {
            for n in 0..GC_JOBS {
                let k = n as usize * t + ti;
                assert_eq!(y[k], (i * 10) as f64 + n as f64, "gc append {i}, job {n}");
                check_file(
                    &o.root,
                    &img[k],
                    &content(Kind::Gc, i, n),
                    &format!("gc append {i}"),
                );
            }
        }
    }
    // Each acknowledged GC deleted the orphans made before it.
    for i in 0..acked / 2 {
        let dir = o.root.path().join(gc_orphan_dir(i));
        for e in walkdir::WalkDir::new(&dir).into_iter().flatten() {
            assert!(
                e.file_type().is_dir(),
                "{} survived the acknowledged GC {}",
                e.path().display(),
                2 * i + 1
            );
        }
    }
    tally.acked_checked += acked;
}

fn check_resume_kind(o: &Opened, acked: u64, tally: &mut Tally) {
    let h = o.db.load_history(&history_key(&resume_sweep(0))).unwrap();
    let got = h.as_ref().map(labels).unwrap_or_default();
    let model = |c: u64| -> Vec<String> { (0..c).map(|r| format!("r{r:04}")).collect() };
    let landed = got == model(acked + 1);
    let c = committed(Kind::Resume, acked, landed, tally);
    assert_eq!(
        got,
        model(c),
        "resume history after {acked} acknowledged rounds"
    );
    if let Some(h) = &h {
        let t = c as usize;
        assert_eq!(
            h.shape(),
            vec![RESUME_JOBS as usize, 1, t],
            "history shape (jobs, repeats, events)"
        );
        let (y, tag, img) = (f64s(h, "y"), texts(h, "tag"), texts(h, "img"));
        for r in 0..c {
            for n in 0..RESUME_JOBS {
                let k = n as usize * t + r as usize;
                let what = format!("resume round {r}, job {n}");
                assert_eq!(y[k], resume_y(r, n), "{what}");
                assert_eq!(tag[k], format!("n{n}"), "{what}");
                if r + 1 == c {
                    check_file(&o.root, &img[k], &content(Kind::Resume, r, n), &what);
                } else {
                    assert!(is_missing(&img[k]), "{what}: img not aged");
                }
            }
        }
    }
    for r in 0..c {
        check_result(
            o,
            &resume_sweep(r),
            |n| {
                (
                    vec![("y", resume_y(r, n))],
                    vec![("img", content(Kind::Resume, r, n))],
                )
            },
            &format!("resume round {r}"),
        );
    }
    tally.acked_checked += acked;
}

fn check_merge_kind(o: &Opened, work: &Path, acked: u64, tally: &mut Tally) {
    // Merges are the steps 3m + 2.
    let merges = acked / 3;
    let h = o.db.load_history(&history_key(&merge_sweep(0))).unwrap();
    let got = h.as_ref().map(labels).unwrap_or_default();
    let model = |c: u64| -> Vec<String> { (0..c).map(|m| format!("m{m:04}")).collect() };
    let in_flight_merge = acked % 3 == 2;
    let landed = in_flight_merge && got == model(merges + 1);
    let c = committed(Kind::Merge, merges, landed, tally);
    assert_eq!(
        got,
        model(c),
        "merge history after {acked} acknowledged steps"
    );
    for m in 0..c {
        check_result(
            o,
            &merge_sweep(m),
            |n| {
                (
                    vec![("y", merge_y(m, n))],
                    vec![("img", content(Kind::Merge, m, n))],
                )
            },
            &format!("merge {m}"),
        );
    }
    if let Some(h) = &h {
        let y = f64s(h, "y");
        let t = c as usize;
        assert_eq!(
            h.shape(),
            vec![MERGE_JOBS as usize, 1, t],
            "history shape (jobs, repeats, events)"
        );
        for m in 0..c {
            for n in 0..MERGE_JOBS {
                assert_eq!(
                    y[n as usize * t + m as usize],
                    merge_y(m, n),
                    "merge {m}, job {n}"
                );
            }
        }
    }
    // Each acknowledged shard run left its manifest and records.
    for step in 0..acked {
        let (m, part) = (step / 3, step % 3);
        if part == 2 {
            continue;
        }
        let k = part as u32 + 1;
        let dir = shard_dir(work, m, k);
        let shard = ResultCollector::new(Some(&dir));
        let manifests = shard.cache().unwrap().shard_manifests().unwrap();
        let want = shard_size(&merge_sweep(m), Shard::new(k, 2).unwrap()) as u64;
        assert!(
            manifests
                .iter()
                .any(|s| s.k == k && s.n == 2 && s.jobs == want && s.failed == 0),
            "shard {k} of merge {m}: acknowledged, but its manifest is {manifests:?}"
        );
    }
    tally.acked_checked += acked;
}

/// Every check, on every cache directory.
fn check_all(work: &Path, tally: &mut Tally) {
    let acked: BTreeMap<Kind, u64> = KINDS
        .iter()
        .map(|&k| (k, read_acks(&work.join("acks").join(k.name())).len() as u64))
        .collect();
    if let Some(o) = open_and_check(&work.join("main"), "main", tally) {
        check_results_kind(&o, acked[&Kind::Result], tally);
        check_history_kind(&o, acked[&Kind::History], tally);
        check_gc_kind(&o, acked[&Kind::Gc], tally);
        check_resume_kind(&o, acked[&Kind::Resume], tally);
        check_merge_kind(&o, work, acked[&Kind::Merge], tally);
        gc_and_check_orphans(&o, "main", tally);
    } else {
        assert!(
            acked.values().all(|&a| a == 0),
            "the main cache is gone: {acked:?}"
        );
    }
    let shards = work.join("shards");
    let mut dirs: Vec<PathBuf> = Vec::new();
    if shards.is_dir() {
        for m in std::fs::read_dir(&shards).unwrap() {
            for s in std::fs::read_dir(m.unwrap().path()).unwrap() {
                dirs.push(s.unwrap().path());
            }
        }
    }
    dirs.sort();
    for d in dirs {
        let what = d.display().to_string();
        if let Some(o) = open_and_check(&d, &what, tally) {
            gc_and_check_orphans(&o, &what, tally);
        }
    }
}

// ---------------------------------------------------------------------
// The parent.
// ---------------------------------------------------------------------

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path)
        .map(|t| t.iter().filter(|&&b| b == b'\n').count())
        .unwrap_or(0)
}

fn spawn(exe: &Path, work: &Path, kind: Kind, n: usize, finish: bool) -> (Child, PathBuf, PathBuf) {
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join(format!("child-{n}-{}.log", kind.name()));
    let ready = logs.join(format!("ready-{n}"));
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "soak_child", "--test-threads=1", "--nocapture"])
        .env(ROLE_ENV, kind.name())
        .env(WORK_ENV, work)
        .env(READY_ENV, &ready)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out));
    if finish {
        cmd.env(FINISH_ENV, "1");
    }
    (cmd.spawn().unwrap(), log, ready)
}

/// Waits until `done` holds, failing when the child exits first or after
/// a minute.
fn wait_for(child: &mut Child, log: &Path, what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the child exited by itself ({status}) waiting for {what}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no {what} in a minute"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn sigkill_soak_loses_no_acknowledged_write() {
    if std::env::var_os(ROLE_ENV).is_some() {
        return;
    }
    let started = Instant::now();
    let kills: usize = std::env::var(KILLS_ENV).ok().map_or(QUICK_KILLS, |v| {
        v.parse().unwrap_or_else(|_| panic!("{KILLS_ENV}={v}"))
    });
    let seed: u64 = std::env::var(SEED_ENV).ok().map_or_else(
        || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        },
        |v| v.parse().unwrap_or_else(|_| panic!("{SEED_ENV}={v}")),
    );
    eprintln!(
        "soak: {kills} kills over the kinds, then resume kills up to {MIN_RESUME_KILLS}; seed {seed} \
         (replay with {SEED_ENV}={seed})"
    );
    let mut rng = XorShift(seed);
    let work_dir = tempfile::tempdir().unwrap();
    let work = work_dir.path();
    std::fs::create_dir_all(work.join("acks")).unwrap();
    let exe = std::env::current_exe().unwrap();
    let calls = work.join("calls");

    // Kinds dealt in rounds of five, each round in a shuffled order.
    let mut schedule: Vec<Kind> = Vec::new();
    while schedule.len() < kills {
        let mut round = KINDS;
        for i in (1..round.len()).rev() {
            round.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        schedule.extend(round);
    }
    schedule.truncate(kills);
    // Issue 12's count of kills of the resumed sweep, whatever the total:
    // the missing ones go in at random places.
    let mut resumes = schedule.iter().filter(|&&k| k == Kind::Resume).count();
    while resumes < MIN_RESUME_KILLS {
        let at = (rng.next() % (schedule.len() as u64 + 1)) as usize;
        schedule.insert(at, Kind::Resume);
        resumes += 1;
    }

    let mut tally = Tally::default();
    let mut per_kind: BTreeMap<Kind, usize> = BTreeMap::new();
    // Resume: the children that called each round's jobs, and each job's
    // callers in order.
    let mut callers: HashMap<u64, BTreeSet<usize>> = HashMap::new();
    let mut job_callers: BTreeMap<(u64, i64), Vec<usize>> = BTreeMap::new();
    let mut calls_seen = 0usize;
    let mut note_calls =
        |child: usize,
         callers: &mut HashMap<u64, BTreeSet<usize>>,
         job_callers: &mut BTreeMap<(u64, i64), Vec<usize>>| {
            let text = std::fs::read_to_string(&calls).unwrap_or_default();
            let whole: Vec<&str> = text
                .split_inclusive('\n')
                .filter(|l| l.ends_with('\n'))
                .collect();
            for l in &whole[calls_seen..] {
                let (r, j) = l.trim().split_once(' ').unwrap();
                let r: u64 = r.parse().unwrap();
                callers.entry(r).or_default().insert(child);
                job_callers
                    .entry((r, j.parse().unwrap()))
                    .or_default()
                    .push(child);
            }
            calls_seen = whole.len();
        };
    for (n, &kind) in schedule.iter().enumerate() {
        let ack_file = work.join("acks").join(kind.name());
        let acks_before = line_count(&ack_file);
        let calls_before = line_count(&calls);
        let (mut child, log, ready) = spawn(&exe, work, kind, n, false);
        wait_for(&mut child, &log, "the cache to open", || ready.exists());
        // Progress before the kill: a job's call for a resumed run; for
        // the others, every other time, a whole step.
        if kind == Kind::Resume {
            wait_for(&mut child, &log, "a call", || {
                line_count(&calls) > calls_before
            });
        } else if rng.next().is_multiple_of(2) {
            wait_for(&mut child, &log, "a step", || {
                line_count(&ack_file) > acks_before
            });
        }
        std::thread::sleep(Duration::from_millis(rng.next() % kind.window_ms()));
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "kill {n} ({}): the child exited by itself ({status}):\n{}",
                kind.name(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        *per_kind.entry(kind).or_default() += 1;
        note_calls(n, &mut callers, &mut job_callers);
        check_all(work, &mut tally);
    }

    // One step of each kind to its end, unkilled: the cache goes on after
    // every kill (the resumed round finishes).
    for (i, &kind) in KINDS.iter().enumerate() {
        let n = schedule.len() + i;
        let (mut child, log, _) = spawn(&exe, work, kind, n, true);
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "the last {} child failed:\n{}",
            kind.name(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        note_calls(n, &mut callers, &mut job_callers);
    }
    check_all(work, &mut tally);

    // Resume: every job of every finished round ran; no more than one
    // batch per kill of a resumed run ran twice.
    let rounds = read_acks(&work.join("acks").join(Kind::Resume.name())).len() as u64;
    let text = std::fs::read_to_string(&calls).unwrap_or_default();
    let mut per_job: BTreeMap<(u64, i64), usize> = BTreeMap::new();
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let (r, n) = line.trim().split_once(' ').unwrap();
        *per_job
            .entry((r.parse().unwrap(), n.parse().unwrap()))
            .or_default() += 1;
    }
    for r in 0..rounds {
        for n in 0..RESUME_JOBS {
            assert!(
                per_job.contains_key(&(r, n)),
                "resume round {r}: job {n} never ran"
            );
        }
    }
    let resume_kills = per_kind.get(&Kind::Resume).copied().unwrap_or(0);
    let extra: usize = per_job.values().map(|c| c - 1).sum();
    assert!(
        extra <= resume_kills * RESUME_BATCH,
        "{extra} calls beyond one per job, more than one batch of {RESUME_BATCH} per kill ({resume_kills} kills)"
    );
    // Per kill: a job runs again only after the child that ran it was
    // killed (in a later child: the next one may be killed before it gets
    // there), and at most one batch of jobs (the batch in flight) does so
    // per kill.
    let mut redone: BTreeMap<usize, usize> = BTreeMap::new();
    for (&(r, n), by) in &job_callers {
        for pair in by.windows(2) {
            let (killed, again) = (pair[0], pair[1]);
            assert!(
                killed < schedule.len() && killed < again,
                "resume round {r}: job {n} ran in children {by:?}: child {killed} was not \
                 killed before child {again} ran it again"
            );
            *redone.entry(killed).or_default() += 1;
        }
    }
    for (child, count) in &redone {
        assert!(
            *count <= RESUME_BATCH,
            "{count} jobs of killed child {child} ran again, more than its batch in flight ({RESUME_BATCH})"
        );
    }
    assert!(
        resume_kills >= MIN_RESUME_KILLS,
        "the resumed sweep was killed {resume_kills} times, fewer than {MIN_RESUME_KILLS}"
    );
    let resumed = callers.values().filter(|c| c.len() > 1).count();
    assert!(
        resumed > 0,
        "no round of the resumed sweep ran in two children"
    );
    // The newest round, resumed across kills, equals the same round run
    // once without a kill: its JSON export, byte for byte.
    {
        let last = rounds.checked_sub(1).expect("a resumed round finished");
        let once = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(once.path().join("work")).unwrap();
        let c = ResultCollector::new(Some(&once.path().join("cache")));
        resume_step(
            &c,
            &c.media_root().unwrap(),
            &once.path().join("work"),
            last,
        );
        let json = |c: &ResultCollector| {
            let stored = c
                .cache()
                .unwrap()
                .get_result(&cache_key(&resume_sweep(last)))
                .unwrap()
                .unwrap();
            result_collector::report::to_json(&stored.dataset, &[]).to_string()
        };
        let main = ResultCollector::new(Some(&work.join("main")));
        assert_eq!(
            json(&main),
            json(&c),
            "resume round {last}: the resumed result differs from an uninterrupted run's"
        );
    }

    let acked: u64 = KINDS
        .iter()
        .map(|k| read_acks(&work.join("acks").join(k.name())).len() as u64)
        .sum();
    let kinds: Vec<String> = per_kind
        .iter()
        .map(|(k, c)| format!("{} {c}", k.name()))
        .collect();
    eprintln!(
        "soak: {} kills survived ({}), seed {seed}; {acked} acknowledged steps, {} acknowledged \
         step checks, 0 lost; {} in-flight steps found committed; {} named files checked; {} orphans \
         deleted by the GC after a kill, 0 surviving it; resume: {rounds} rounds, {resumed} resumed \
         across a kill, {extra} repeated calls; {:.1?}",
        schedule.len(),
        kinds.join(", "),
        tally.acked_checked,
        tally.in_flight_landed.len(),
        tally.files_checked,
        tally.orphans_deleted,
        started.elapsed()
    );
}
