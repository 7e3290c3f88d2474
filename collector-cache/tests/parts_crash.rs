//! Crash consistency of results stored in parts, under SIGKILL and at a
//! full disk.
//!
//! SIGKILL: a child process stores
//! large results (each written in several parts) under three cache keys
//! in turn, and is killed with SIGKILL at random moments, mostly while
//! parts are being written. After each kill the parent reopens the cache
//! and checks:
//! - every key whose store returned holds a whole result, every cell the
//!   value of its last returned store, or of the store in flight at the
//!   kill (the only one that may have committed unacknowledged);
//! - no part outlives its result: once the cache is closed again, the
//!   parts stored are exactly those of the results stored (one id per
//!   result, each with all its parts), and no store is left in flight.
//!
//! The child acknowledges each returned store with one unbuffered `write`
//! of an `ACK <i> <key> <value>` line to a file of its own.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use collector_cache::{CacheDb, CacheOptions};
use util::*;

const CHILD_DIR_ENV: &str = "COLLECTOR_CACHE_PARTS_CHILD_DIR";
const CHILD_RUN_ENV: &str = "COLLECTOR_CACHE_PARTS_CHILD_RUN";
const CHILD_ACK_ENV: &str = "COLLECTOR_CACHE_PARTS_CHILD_ACKS";
/// Cells of each result: 4.8 MB of floats and as much of coordinates,
/// three parts of at most 4 MiB.
const CELLS: i64 = 600_000;
const KEYS: u64 = 3;

/// Store `i` of the child of `run`: its key and the value of every cell.
fn plan(run: u64, i: u64) -> (String, f64) {
    (format!("k{}", i % KEYS), (run * 100_000 + i) as f64)
}

#[test]
fn parts_crash_child() {
    let (Some(dir), Some(run), Some(acks)) = (
        std::env::var_os(CHILD_DIR_ENV),
        std::env::var_os(CHILD_RUN_ENV),
        std::env::var_os(CHILD_ACK_ENV),
    ) else {
        return;
    };
    let run: u64 = run.to_str().unwrap().parse().unwrap();
    let mut acks = ack_file(&acks);
    let cache = CacheDb::open(std::path::Path::new(&dir), CacheOptions::default()).unwrap();
    let mut r = float_result(CELLS, 0.0);
    for i in 0u64.. {
        let (key, value) = plan(run, i);
        set_floats(&mut r, value);
        cache.put_result(&key, "parts", &r).unwrap();
        acks.write_all(format!("{ACK}{i} {key} {value}\n").as_bytes())
            .unwrap();
    }
}

#[test]
fn sigkill_while_parts_are_written_leaves_whole_results_and_no_stray_part() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let ack_dir = tempfile::tempdir().unwrap();
    let seed = clock_seed();
    let mut rng = XorShift(seed);
    // The value each key holds after the acknowledged stores.
    let mut model: BTreeMap<String, f64> = BTreeMap::new();
    let mut acknowledged = 0;
    let mut in_flight_landed = 0;
    for run in 0..12u64 {
        let ack_file = ack_dir.path().join(format!("acks-{run}"));
        let run_text = run.to_string();
        run_then_kill(
            "parts_crash_child",
            &[
                (CHILD_DIR_ENV, dir.path().as_os_str()),
                (CHILD_RUN_ENV, run_text.as_ref()),
                (CHILD_ACK_ENV, ack_file.as_os_str()),
            ],
            &ack_dir.path().join(format!("child-{run}.log")),
            Duration::from_millis(100 + rng.next() % 700),
            &format!("seed {seed}, run {run}"),
        );
        let acks = read_acks(&ack_file);
        for (i, line) in acks.iter().enumerate() {
            let (key, value) = plan(run, i as u64);
            assert_eq!(*line, format!("{i} {key} {value}"), "run {run}");
            model.insert(key, value);
        }
        acknowledged += acks.len();
        let (in_flight_key, in_flight_value) = plan(run, acks.len() as u64);

        let cache = CacheDb::open(dir.path(), CacheOptions::default()).unwrap();
        for k in 0..KEYS {
            let key = format!("k{k}");
            let got = cache.get_complete_result(&key).unwrap();
            let want = model.get(&key).copied();
            let Some(got) = got else {
                assert!(
                    want.is_none(),
                    "seed {seed}, run {run}: {key} is lost (it held {want:?})"
                );
                continue;
            };
            let ys = f64s(&got.dataset, "y");
            assert_eq!(ys.len(), CELLS as usize, "run {run}: {key}");
            let v = ys[0];
            assert!(
                ys.iter().all(|&y| y == v),
                "seed {seed}, run {run}: {key} mixes two stores"
            );
            if Some(v) == want {
                continue;
            }
            assert!(
                key == in_flight_key && v == in_flight_value,
                "seed {seed}, run {run}: {key} holds {v}, expected {want:?} \
                 (or {in_flight_value} under {in_flight_key}, in flight)"
            );
            model.insert(key, v);
            in_flight_landed += 1;
        }
        drop(cache);
        let ids = part_ids(dir.path());
        let parts_each = (encoded_bytes() as usize).div_ceil(4 << 20);
        assert_eq!(
            ids.len(),
            model.len(),
            "seed {seed}, run {run}: one id of parts per stored result: {ids:?}"
        );
        assert!(
            ids.iter().all(|&(_, n)| n == parts_each),
            "seed {seed}, run {run}: {parts_each} parts each: {ids:?}"
        );
        assert_eq!(peek(dir.path(), "meta", b"result_parts_in_flight"), None);
    }
    assert!(acknowledged > 12, "only {acknowledged} stores returned");
    eprintln!(
        "12 kills, {acknowledged} stores acknowledged, {in_flight_landed} in flight landed, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The encoded size of each stored result.
fn encoded_bytes() -> u64 {
    collector_cache::encoded_result_size(&float_result(CELLS, 0.0)).unwrap()
}

const FULL_DIR_ENV: &str = "COLLECTOR_CACHE_PARTS_FULL_DIR";

/// The child of the full-disk test: stores a new value under `k` (every
/// cell 2.0) and prints what the store gave.
#[test]
fn parts_full_disk_child() {
    let Some(dir) = std::env::var_os(FULL_DIR_ENV) else {
        return;
    };
    let cache = CacheDb::open(std::path::Path::new(&dir), CacheOptions::default()).unwrap();
    let put = cache.put_result("k", "parts", &float_result(CELLS * 2, 2.0));
    match put {
        Ok(_) => println!("STORED"),
        Err(e) => println!("FAILED {e}"),
    }
}

/// A store in parts that meets a full disk (a file-size limit on the
/// child: the write-ahead log cannot take the next part) fails with an
/// error naming the result, and loses nothing: the result stored before
/// reads back whole, and no part of the failed store is left once the
/// cache is opened again.
#[test]
fn a_full_disk_while_parts_are_written_loses_the_old_result_nowhere() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(FULL_DIR_ENV).is_some() || std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let mut failed = 0;
    for limit_mb in [2u64, 6, 10, 14] {
        let dir = tempfile::tempdir().unwrap();
        let old = float_result(CELLS * 2, 1.0);
        let cache = CacheDb::open(dir.path(), CacheOptions::default()).unwrap();
        cache.put_result("k", "parts", &old).unwrap();
        drop(cache);
        let old_ids = part_ids(dir.path());
        let limit = limit_mb << 20;
        let mut c = std::process::Command::new(std::env::current_exe().unwrap());
        c.args(["--exact", "parts_full_disk_child", "--nocapture"])
            .env(FULL_DIR_ENV, dir.path());
        // SAFETY: only async-signal-safe libc calls, on values copied in.
        #[allow(unsafe_code)]
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
        let out = c.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "limit {limit_mb} MB: the child crashed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find(|l| l.starts_with("STORED") || l.starts_with("FAILED"))
            .unwrap_or_else(|| panic!("limit {limit_mb} MB: no outcome:\n{stdout}"));
        eprintln!("limit {limit_mb} MB: {line}");
        let cache = CacheDb::open(dir.path(), CacheOptions::default()).unwrap();
        let back = cache.get_complete_result("k").unwrap().unwrap();
        let ys = f64s(&back.dataset, "y");
        if line.starts_with("FAILED") {
            failed += 1;
            assert!(line.contains("result k"), "limit {limit_mb} MB: {line}");
            assert!(
                line.contains("File too large"),
                "limit {limit_mb} MB: {line}"
            );
            assert!(
                ys.iter().all(|&y| y == 1.0),
                "limit {limit_mb} MB: the old result"
            );
        } else {
            assert!(
                ys.iter().all(|&y| y == 2.0),
                "limit {limit_mb} MB: the new result"
            );
        }
        drop(cache);
        let ids = part_ids(dir.path());
        assert_eq!(ids.len(), 1, "limit {limit_mb} MB: {line}: {ids:?}");
        if line.starts_with("FAILED") {
            assert_eq!(ids, old_ids, "limit {limit_mb} MB: the old parts only");
        }
        assert_eq!(peek(dir.path(), "meta", b"result_parts_in_flight"), None);
    }
    assert!(failed >= 2, "only {failed} limits failed the store");
}
