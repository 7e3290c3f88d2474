//! The store loop with a job log: recording, reuse (resume, retry-failed,
//! replay), a grown grid, and shards. The log is an in-memory map.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use collector_core::{
    BoxError, FailureKind, InputVar, JobBatch, JobCellRef, JobKey, JobKeyer, JobLog, JobRecord,
    OutcomeRef, RecordedCell, RecordedOutcome, ResultVar, Reuse, RunOptions, Sample, Shard,
    ShardAssign, Sweep, SweepResult, TimeSrc, run_sweep_logged, setup_dataset,
};
use proptest::prelude::*;

#[derive(Default)]
struct MemLog {
    records: Mutex<HashMap<JobKey, JobRecord>>,
    writes: AtomicUsize,
}

impl JobLog for MemLog {
    fn lookup(&self, keys: &[JobKey]) -> Result<Vec<Option<JobRecord>>, BoxError> {
        let m = self.records.lock().unwrap();
        Ok(keys.iter().map(|k| m.get(k).cloned()).collect())
    }
    fn record(&self, batch: &JobBatch<'_>) -> Result<(), BoxError> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut m = self.records.lock().unwrap();
        for i in 0..batch.len() {
            let outcome = match batch.outcome(i) {
                OutcomeRef::Done => {
                    RecordedOutcome::Done(batch.cells(i).map(JobCellRef::to_owned).collect())
                }
                OutcomeRef::Failed { kind, message } => RecordedOutcome::Failed {
                    kind,
                    message: message.to_string(),
                },
            };
            m.insert(
                *batch.key(i),
                JobRecord {
                    duration_ns: batch.duration_ns(i),
                    outcome,
                },
            );
        }
        Ok(())
    }
}

fn sweep(ns: &[i64], repeats: usize) -> Sweep {
    Sweep::builder("jobs")
        .input(InputVar::int_values("n", ns.to_vec()))
        .input(InputVar::labels("algo", ["a", "b"]))
        .result(ResultVar::float("sq"))
        .result(ResultVar::string("note"))
        .result(ResultVar::vector("v", 2))
        .repeats(repeats)
        .build()
        .unwrap()
}

fn fresh(s: &Sweep) -> SweepResult {
    setup_dataset(s, &TimeSrc::Label("t".into()))
        .unwrap()
        .result
}

/// A worker that counts its calls per (n, algo, repeat) and fails for
/// the inputs in `failing`.
struct Worker {
    calls: Mutex<HashMap<(i64, String, usize), usize>>,
    failing: HashSet<i64>,
}

impl Worker {
    fn new(failing: &[i64]) -> Self {
        Worker {
            calls: Mutex::new(HashMap::new()),
            failing: failing.iter().copied().collect(),
        }
    }
    fn call(&self, s: &Sample<'_>) -> Result<collector_core::Outputs, String> {
        let n = s.get::<i64>("n").unwrap();
        let algo = s.get::<String>("algo").unwrap();
        *self
            .calls
            .lock()
            .unwrap()
            .entry((n, algo.clone(), s.repeat()))
            .or_default() += 1;
        if self.failing.contains(&n) {
            return Err(format!("n={n} is flaky"));
        }
        #[allow(clippy::cast_precision_loss, reason = "small")]
        let x = (n * n) as f64 + s.repeat() as f64 / 10.0;
        Ok(s.outputs()
            .with("sq", x)
            .with("note", format!("{algo}{n}"))
            .with("v", [x, -x]))
    }
    fn total(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }
}

fn opts(reuse: Reuse) -> RunOptions {
    RunOptions {
        threads: Some(2),
        batch: 5,
        reuse,
        ..RunOptions::default()
    }
}

#[test]
fn every_finished_job_is_recorded_once_per_batch() {
    let s = sweep(&[1, 2, 3], 2);
    let log = MemLog::default();
    let w = Worker::new(&[2]);
    let mut r = fresh(&s);
    let counts = run_sweep_logged(&mut r, &opts(Reuse::Off), Some(&log), |x| w.call(x)).unwrap();
    assert_eq!(counts.new, 12);
    assert_eq!(counts.recorded, 12);
    // 12 jobs in batches of 5: three writes.
    assert_eq!(log.writes.load(Ordering::Relaxed), 3);
    let m = log.records.lock().unwrap();
    assert_eq!(m.len(), 12);
    let keyer = JobKeyer::new(&s);
    // Job 0: n=1, algo a, repeat 1.
    match &m[&keyer.key(&s, 0)].outcome {
        RecordedOutcome::Done(cells) => assert_eq!(
            cells,
            &[
                RecordedCell::F64(1.1),
                RecordedCell::Text("a1".into()),
                RecordedCell::F64(1.1),
                RecordedCell::F64(-1.1)
            ]
        ),
        other => panic!("expected a success, got {other:?}"),
    }
    // Job 4: n=2: a recorded failure with the worker's message.
    match &m[&keyer.key(&s, 4)].outcome {
        RecordedOutcome::Failed { kind, message } => {
            assert_eq!(*kind, FailureKind::Error);
            assert!(message.contains("n=2 is flaky"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn resume_reuses_successes_and_reruns_failures_and_missing_jobs() {
    let s = sweep(&[1, 2, 3], 2);
    let log = MemLog::default();
    // First run: n=2 fails.
    let first = Worker::new(&[2]);
    let mut r = fresh(&s);
    run_sweep_logged(&mut r, &opts(Reuse::Off), Some(&log), |x| first.call(x)).unwrap();
    // Forget n=3's records, as a crash before their batch would.
    let keyer = JobKeyer::new(&s);
    {
        let mut m = log.records.lock().unwrap();
        for j in 8..12 {
            m.remove(&keyer.key(&s, j));
        }
    }
    let second = Worker::new(&[]);
    let mut resumed = fresh(&s);
    let counts = run_sweep_logged(&mut resumed, &opts(Reuse::Resume), Some(&log), |x| {
        second.call(x)
    })
    .unwrap();
    assert_eq!((counts.reused, counts.rerun, counts.new), (4, 4, 4));
    // Only n=2 (rerun) and n=3 (missing) were called, once each.
    let calls = second.calls.lock().unwrap();
    assert!(calls.keys().all(|(n, _, _)| *n != 1), "{calls:?}");
    assert!(calls.values().all(|c| *c == 1));
    assert_eq!(calls.len(), 8);
    // The result equals an uninterrupted, failure-free run's.
    let mut whole = fresh(&s);
    let clean = Worker::new(&[]);
    run_sweep_logged(&mut whole, &opts(Reuse::Off), None, |x| clean.call(x)).unwrap();
    assert_eq!(resumed.dataset, whole.dataset);
    assert!(resumed.is_complete());
}

#[test]
fn a_grown_grid_reuses_every_recorded_job() {
    let small = sweep(&[1, 2], 1);
    let log = MemLog::default();
    let w = Worker::new(&[]);
    let mut r = fresh(&small);
    run_sweep_logged(&mut r, &opts(Reuse::Off), Some(&log), |x| w.call(x)).unwrap();
    // A value added in front, and a second repeat.
    let grown = sweep(&[0, 1, 2], 2);
    let w2 = Worker::new(&[]);
    let mut g = fresh(&grown);
    let counts =
        run_sweep_logged(&mut g, &opts(Reuse::Resume), Some(&log), |x| w2.call(x)).unwrap();
    assert_eq!(counts.reused, 4);
    assert_eq!(counts.new, 12 - 4);
    let calls = w2.calls.lock().unwrap();
    for n in [1, 2] {
        for algo in ["a", "b"] {
            assert!(!calls.contains_key(&(n, algo.to_string(), 1)));
        }
    }
    let mut whole = fresh(&grown);
    run_sweep_logged(&mut whole, &opts(Reuse::Off), None, |x| w.call(x)).unwrap();
    assert_eq!(g.dataset, whole.dataset);
}

#[test]
fn retry_failed_reruns_failures_only_and_replay_runs_nothing() {
    let s = sweep(&[1, 2, 3], 1);
    let log = MemLog::default();
    let w = Worker::new(&[2]);
    let mut r = fresh(&s);
    run_sweep_logged(&mut r, &opts(Reuse::Off), Some(&log), |x| w.call(x)).unwrap();
    let keyer = JobKeyer::new(&s);
    log.records.lock().unwrap().remove(&keyer.key(&s, 5)); // n=3, algo b
    let w2 = Worker::new(&[]);
    let mut retried = fresh(&s);
    let counts = run_sweep_logged(&mut retried, &opts(Reuse::RetryFailed), Some(&log), |x| {
        w2.call(x)
    })
    .unwrap();
    assert_eq!(
        (counts.reused, counts.rerun, counts.new, counts.skipped),
        (3, 2, 0, 1)
    );
    assert_eq!(w2.total(), 2);
    assert_eq!(retried.stats.attempted, 5);
    assert!(!retried.is_complete());

    // Replay: the records as they are, failures included; nothing runs.
    let w3 = Worker::new(&[]);
    let mut replayed = fresh(&s);
    let before = log.records.lock().unwrap().clone();
    // The retry above recorded n=2's successes; put a failure back.
    log.records.lock().unwrap().insert(
        keyer.key(&s, 2),
        JobRecord {
            duration_ns: 1,
            outcome: RecordedOutcome::Failed {
                kind: FailureKind::Panic,
                message: "boom".into(),
            },
        },
    );
    let counts = run_sweep_logged(&mut replayed, &opts(Reuse::Replay), Some(&log), |x| {
        w3.call(x)
    })
    .unwrap();
    assert_eq!(w3.total(), 0);
    assert_eq!((counts.reused, counts.skipped), (5, 1));
    assert_eq!(replayed.failures.len(), 1);
    assert_eq!(replayed.failures[0].job, 2);
    assert_eq!(replayed.failures[0].kind, FailureKind::Panic);
    assert_eq!(before.len(), 5);
}

#[test]
fn a_record_that_does_not_fit_the_columns_is_run_again() {
    let s = sweep(&[1], 1);
    let log = MemLog::default();
    let keyer = JobKeyer::new(&s);
    log.records.lock().unwrap().insert(
        keyer.key(&s, 0),
        JobRecord {
            duration_ns: 0,
            outcome: RecordedOutcome::Done(vec![RecordedCell::Text("wrong".into())]),
        },
    );
    let w = Worker::new(&[]);
    let mut r = fresh(&s);
    let counts = run_sweep_logged(&mut r, &opts(Reuse::Resume), Some(&log), |x| w.call(x)).unwrap();
    assert_eq!((counts.reused, counts.rerun, counts.new), (0, 1, 1));
    assert!(r.is_complete());
}

#[test]
fn reuse_without_a_log_is_refused_before_any_job() {
    let s = sweep(&[1], 1);
    let w = Worker::new(&[]);
    let mut r = fresh(&s);
    let e = run_sweep_logged(&mut r, &opts(Reuse::Resume), None, |x| w.call(x)).unwrap_err();
    assert!(e.to_string().contains("needs job records"), "{e}");
    assert_eq!(w.total(), 0);
}

#[test]
fn shards_split_the_jobs_and_their_union_is_the_whole_run() {
    let s = sweep(&[1, 2, 3, 4, 5, 6, 7], 3);
    for assign in [ShardAssign::Hash, ShardAssign::RoundRobin] {
        let log = MemLog::default();
        let mut seen = 0;
        for k in 1..=3 {
            let w = Worker::new(&[]);
            let mut r = fresh(&s);
            let o = RunOptions {
                shard: Some(Shard::new(k, 3).unwrap().assign(assign)),
                ..opts(Reuse::Off)
            };
            let c = run_sweep_logged(&mut r, &o, Some(&log), |x| w.call(x)).unwrap();
            assert_eq!(c.new + c.skipped, s.job_count());
            assert_eq!(w.total(), c.new);
            assert_eq!(r.stats.attempted, c.new);
            seen += c.new;
        }
        assert_eq!(seen, s.job_count(), "{assign:?}");
        // Every job recorded exactly once: a replay assembles the whole run.
        assert_eq!(log.records.lock().unwrap().len(), s.job_count());
        let mut merged = fresh(&s);
        let none = Worker::new(&[]);
        run_sweep_logged(&mut merged, &opts(Reuse::Replay), Some(&log), |x| {
            none.call(x)
        })
        .unwrap();
        let mut whole = fresh(&s);
        run_sweep_logged(&mut whole, &opts(Reuse::Off), None, |x| none.call(x)).unwrap();
        assert_eq!(merged.dataset, whole.dataset);
        assert!(merged.is_complete());
    }
}

#[test]
fn round_robin_is_even() {
    let s = sweep(&[1, 2, 3, 4, 5], 2); // 20 jobs
    let keyer = JobKeyer::new(&s);
    let shard = |k| Shard::new(k, 3).unwrap().assign(ShardAssign::RoundRobin);
    let sizes: Vec<usize> = (1..=3)
        .map(|k| {
            (0..20)
                .filter(|&j| shard(k).takes(j, &keyer.key(&s, j)))
                .count()
        })
        .collect();
    assert_eq!(sizes, [7, 7, 6]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every job is in exactly one shard, and a hash shard keeps its jobs
    /// when the grid grows.
    #[test]
    fn each_job_is_in_exactly_one_shard(n in 1u32..9, values in 1usize..12, extra in 1usize..4) {
        let ns: Vec<i64> = (0..values as i64).collect();
        let s = sweep(&ns, 1);
        let keyer = JobKeyer::new(&s);
        let mut grown_ns = ns.clone();
        grown_ns.extend(100..100 + extra as i64);
        let g = sweep(&grown_ns, 1);
        let gkeyer = JobKeyer::new(&g);
        for j in 0..s.job_count() {
            let key = keyer.key(&s, j);
            let owners: Vec<u32> = (1..=n)
                .filter(|&k| Shard::new(k, n).unwrap().takes(j, &key))
                .collect();
            prop_assert_eq!(owners.len(), 1);
            // The same job in the grown grid: same key, same shard.
            let gkey = gkeyer.key(&g, j);
            prop_assert_eq!(gkey, key);
            prop_assert_eq!(Shard::new(1, n).unwrap().shard_of(j, &gkey), owners[0]);
        }
    }
}
