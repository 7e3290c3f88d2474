//! Job records in the cache: recorded by the store loop, reused across
//! opens, corrupt ones rerun, counted once, removable, evicted with
//! results, and named files kept.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use collector_cache::{CacheDb, CacheOptions, ShardManifest};
use collector_core::{
    InputVar, JobKeyer, ResultVar, Reuse, RunOptions, Sweep, SweepResult, TimeSrc, grid_hash,
    job_set, run_sweep_logged, setup_dataset,
};
use util::{open, peek, poke};

fn sweep(values: &[i64]) -> Sweep {
    Sweep::builder("jobs")
        .input(InputVar::int_values("n", values.to_vec()))
        .result(ResultVar::float("sq"))
        .result(ResultVar::image("img"))
        .repeats(2)
        .build()
        .unwrap()
}

fn fresh(s: &Sweep) -> SweepResult {
    setup_dataset(s, &TimeSrc::Label("t".into()))
        .unwrap()
        .result
}

/// Runs `s` with reuse `reuse` on `db`; returns the worker's calls.
fn run(db: &CacheDb, s: &Sweep, reuse: Reuse) -> (SweepResult, usize) {
    let calls = AtomicUsize::new(0);
    let mut r = fresh(s);
    let log = db.job_log(s).unwrap();
    let opts = RunOptions {
        threads: Some(2),
        batch: 4,
        reuse,
        ..RunOptions::default()
    };
    run_sweep_logged(&mut r, &opts, Some(&log), |x| {
        calls.fetch_add(1, Ordering::Relaxed);
        let n = x.get::<i64>("n")?;
        #[allow(clippy::cast_precision_loss, reason = "small")]
        let v = (n * n) as f64 + x.repeat() as f64;
        Ok::<_, collector_core::Error>(
            x.outputs()
                .with("sq", v)
                .with("img", format!("image/img/{n}-{}.png", x.repeat())),
        )
    })
    .unwrap();
    (r, calls.into_inner())
}

#[test]
fn records_survive_a_reopen_and_a_resume_calls_no_worker() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2, 3]);
    let db = open(dir.path());
    let (first, calls) = run(&db, &s, Reuse::Off);
    assert_eq!(calls, 6);
    drop(db);
    let db = open(dir.path());
    let (again, calls) = run(&db, &s, Reuse::Resume);
    assert_eq!(calls, 0);
    assert_eq!(again.dataset, first.dataset);
    let t = db.job_totals().unwrap();
    assert_eq!((t.sets, t.records), (1, 6));
}

#[test]
fn a_rerun_replaces_records_and_counts_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2, 3]);
    let db = open(dir.path());
    run(&db, &s, Reuse::Off);
    let once = db.job_totals().unwrap();
    run(&db, &s, Reuse::Off);
    let twice = db.job_totals().unwrap();
    assert_eq!(once, twice);
    assert!(once.bytes > 6 * 32, "{once:?}");
    // A grown grid adds only its new jobs.
    run(&db, &sweep(&[1, 2, 3, 4]), Reuse::Resume);
    assert_eq!(db.job_totals().unwrap().records, 8);
}

#[test]
fn a_corrupt_record_is_a_warning_and_its_job_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2]);
    let db = open(dir.path());
    let (first, _) = run(&db, &s, Reuse::Off);
    drop(db);
    let key = JobKeyer::new(&s).key(&s, 1);
    assert!(peek(dir.path(), "job_records", &key.0).is_some());
    poke(
        dir.path(),
        "job_records",
        &key.0,
        Some(b"RJ\x01garbage".to_vec()),
    );
    let db = open(dir.path());
    let (again, calls) = run(&db, &s, Reuse::Resume);
    assert_eq!(calls, 1);
    assert_eq!(again.dataset, first.dataset);
}

#[test]
fn records_are_removable_per_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2]);
    let other = Sweep::builder("other")
        .input(InputVar::int_values("n", [1]))
        .result(ResultVar::float("sq"))
        .result(ResultVar::image("img"))
        .build()
        .unwrap();
    let db = open(dir.path());
    run(&db, &s, Reuse::Off);
    run(&db, &other, Reuse::Off);
    assert_eq!(db.remove_job_records("jobs").unwrap(), 4);
    assert_eq!(db.remove_job_records("jobs").unwrap(), 0);
    let sets = db.job_sets().unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].sweep, "other");
    assert!(db.job_records(&job_set(&s)).unwrap().is_empty());
    let (_, calls) = run(&db, &s, Reuse::Resume);
    assert_eq!(calls, 4);
}

#[test]
fn job_records_count_against_cache_size_and_are_evicted_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = CacheDb::open(
        dir.path(),
        CacheOptions {
            cache_size: Some(1500),
            ..CacheOptions::default()
        },
    )
    .unwrap();
    let a = sweep(&(0..10).collect::<Vec<_>>());
    run(&db, &a, Reuse::Off);
    let before = db.job_totals().unwrap();
    assert_eq!(before.records, 20);
    // A second sweep's records push the total past the limit: the first
    // set (the least recently written) goes.
    let b = Sweep::builder("b")
        .input(InputVar::int_values("n", (0..10).collect::<Vec<_>>()))
        .result(ResultVar::float("sq"))
        .result(ResultVar::image("img"))
        .repeats(2)
        .build()
        .unwrap();
    run(&db, &b, Reuse::Off);
    let sets = db.job_sets().unwrap();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].sweep, "b");
    assert!(db.job_records(&job_set(&a)).unwrap().is_empty());
}

#[test]
fn files_named_by_job_records_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1]);
    let db = open(dir.path());
    run(&db, &s, Reuse::Off);
    let candidates: BTreeSet<String> = ["image/img/1-1.png", "image/img/9-9.png"]
        .into_iter()
        .map(String::from)
        .collect();
    let still = db.files_still_named(&candidates).unwrap();
    assert_eq!(
        still.named.into_iter().collect::<Vec<_>>(),
        ["image/img/1-1.png"]
    );
    assert!(
        db.media_references()
            .unwrap()
            .paths
            .contains("image/img/1-2.png")
    );
}

#[test]
fn shard_manifests_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2]);
    let db = open(dir.path());
    let set: String = job_set(&s).iter().map(|b| format!("{b:02x}")).collect();
    let m = ShardManifest {
        sweep: s.spec(),
        job_set: set,
        grid_hash: grid_hash(&s),
        version: String::new(),
        k: 2,
        n: 3,
        assign: "hash".into(),
        host: "h".into(),
        time_ms: 5,
        jobs: 2,
        failed: 0,
    };
    db.put_shard_manifest(&m).unwrap();
    db.put_shard_manifest(&m).unwrap();
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.shard_manifests().unwrap(), std::slice::from_ref(&m));
    let bad = ShardManifest {
        job_set: "xyz".into(),
        ..m
    };
    assert!(db.put_shard_manifest(&bad).is_err());
}
