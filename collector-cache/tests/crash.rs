//! Crash consistency: a child process appends events in a loop and is
//! killed with SIGKILL at random moments; every event whose append returned
//! must survive, and no event may be partial.
//!
//! The child acknowledges each returned append in a file of its own (one
//! `write` of a whole `ACK <label>` line, unbuffered), never on stdout:
//! libtest writes its own `test crash_child ... ` prefix to stdout without a
//! newline, which once swallowed the first acknowledgement of every run.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use collector_cache::{AppendOptions, CacheDb, CacheOptions};
use util::*;

const CHILD_DIR_ENV: &str = "COLLECTOR_CACHE_CRASH_CHILD_DIR";
const CHILD_RUN_ENV: &str = "COLLECTOR_CACHE_CRASH_CHILD_RUN";
const CHILD_ACK_ENV: &str = "COLLECTOR_CACHE_CRASH_CHILD_ACKS";
/// Starts every acknowledgement line of the child's file.
const ACK: &str = "ACK ";
const HISTORY: &str = "crash-history";
const GRID: usize = 16;

/// The child mode: does nothing unless the parent test set the variables.
#[test]
fn crash_child() {
    let (Some(dir), Some(run), Some(acks)) = (
        std::env::var_os(CHILD_DIR_ENV),
        std::env::var_os(CHILD_RUN_ENV),
        std::env::var_os(CHILD_ACK_ENV),
    ) else {
        return;
    };
    let run: u64 = run.to_str().unwrap().parse().unwrap();
    // Unbuffered: each acknowledgement is one `write` system call, so a kill
    // leaves whole lines (and at most a cut last line, which the parent
    // ignores).
    let mut acks = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(acks)
        .unwrap();
    let cache = CacheDb::open(std::path::Path::new(&dir), CacheOptions::default()).unwrap();
    let s = history_sweep(GRID, 1.0, true);
    for i in 0u64.. {
        let label = format!("r{run}-{i}");
        let value = (run * 100_000 + i) as f64;
        cache
            .append_event(
                HISTORY,
                &label_event(&s, &label, value),
                &AppendOptions::default(),
            )
            .unwrap();
        // Acknowledged only once the append has returned.
        acks.write_all(format!("{ACK}{label}\n").as_bytes())
            .unwrap();
    }
}

/// The labels the child acknowledged: whole `ACK <label>` lines only.
fn read_acks(path: &Path) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("reading {}: {e}", path.display()),
    };
    // A line cut by the kill has no newline: it is not an acknowledgement.
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    whole
        .lines()
        .map(|l| {
            l.strip_prefix(ACK)
                .unwrap_or_else(|| panic!("unexpected line {l:?} in {}", path.display()))
                .to_string()
        })
        .collect()
}

fn value_of(label: &str) -> f64 {
    let (run, i) = label.trim_start_matches('r').split_once('-').unwrap();
    (run.parse::<u64>().unwrap() * 100_000 + i.parse::<u64>().unwrap()) as f64
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_during_appends_loses_no_returned_event() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ack_dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = XorShift(seed);
    let exe = std::env::current_exe().unwrap();
    let mut reported_total: Vec<String> = Vec::new();
    let mut kills = 0;
    let xs: Vec<f64> = (0..GRID).map(|i| i as f64 / (GRID - 1) as f64).collect();
    for run in 0..24u64 {
        if kills >= 20 {
            break;
        }
        let ack_file = ack_dir.path().join(format!("acks-{run}"));
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_RUN_ENV, run.to_string())
            .env(CHILD_ACK_ENV, &ack_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a random moment: sometimes during start-up, mostly
        // in the middle of the appends.
        let delay = Duration::from_millis(20 + rng.next() % 250);
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        kills += 1;
        let committed_before = reported_total.len();
        reported_total.extend(read_acks(&ack_file));

        let cache = CacheDb::open(dir.path(), CacheOptions::default()).unwrap();
        let len_before = cache.history_len(HISTORY).unwrap();
        let Some(h) = cache.load_history(HISTORY).unwrap() else {
            assert!(reported_total.is_empty(), "run {run}: history lost");
            continue;
        };
        // Nothing was found corrupt and removed while loading.
        assert_eq!(cache.history_len(HISTORY).unwrap(), len_before, "run {run}");
        let got = labels(&h);
        assert_eq!(got.len() as u64, len_before);
        // Every returned append is there, in order.
        let mut it = got.iter();
        for r in &reported_total {
            assert!(
                it.any(|g| g == r),
                "run {run}: event {r} was reported but is missing or out of order"
            );
        }
        // At most one more than acknowledged in this run: an append that
        // committed before the kill but was not acknowledged yet.
        assert!(
            got.len() <= reported_total.len() + 1,
            "run {run}: {} events loaded, {committed_before} before this run, {} acknowledged in it",
            got.len(),
            reported_total.len() - committed_before
        );
        // No partial event: every cell of every event is the one written.
        let (y, img) = (f64s(&h, "y"), texts(&h, "img"));
        let t = got.len();
        for (ti, label) in got.iter().enumerate() {
            let v = value_of(label);
            for (xi, x) in xs.iter().enumerate() {
                assert_eq!(y[xi * t + ti], x + v, "run {run}: event {label}, x {x}");
                assert_eq!(
                    img[xi * t + ti],
                    format!("{label}/{xi}.png"),
                    "run {run}: event {label}"
                );
            }
        }
        // Keep what is loaded as the reference for the next runs (an
        // unreported but committed event is kept too).
        reported_total = got;
    }
    assert!(kills >= 20, "only {kills} kills");
    assert!(
        !reported_total.is_empty(),
        "the child never appended anything"
    );
}
