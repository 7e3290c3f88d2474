//! Crash consistency: a child process appends events in a loop and is
//! killed with SIGKILL at random moments; every event whose append returned
//! must survive, and no event may be partial.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use collector_cache::{AppendOptions, CacheDb, CacheOptions};
use util::*;

const CHILD_DIR_ENV: &str = "COLLECTOR_CACHE_CRASH_CHILD_DIR";
const CHILD_RUN_ENV: &str = "COLLECTOR_CACHE_CRASH_CHILD_RUN";
const HISTORY: &str = "crash-history";
const GRID: usize = 16;

/// The child mode: does nothing unless the parent test set the variables.
#[test]
fn crash_child() {
    let (Some(dir), Some(run)) = (
        std::env::var_os(CHILD_DIR_ENV),
        std::env::var_os(CHILD_RUN_ENV),
    ) else {
        return;
    };
    let run: u64 = run.to_str().unwrap().parse().unwrap();
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
        // Printed only once the append has returned.
        println!("appended {label}");
    }
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
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_RUN_ENV, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let out = child.stdout.take().unwrap();
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Some(label) = l.strip_prefix("appended ") {
                        lines.lock().unwrap().push(label.to_string());
                    }
                }
            })
        };
        // Kill at a random moment: sometimes during start-up, mostly
        // in the middle of the appends.
        let delay = Duration::from_millis(20 + rng.next() % 250);
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        kills += 1;
        reader.join().unwrap();
        reported_total.extend(lines.lock().unwrap().drain(..));

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
        // At most one more per run: an append that committed before the
        // kill but had not printed yet.
        assert!(got.len() <= reported_total.len() + kills, "run {run}");
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
