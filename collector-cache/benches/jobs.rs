//! Job records on the anchor store workload (../shared/anchor/README.md:
//! a 100 x 100 x 10 repeats = 100,000-job sweep, 6 f64 columns) with a
//! trivial worker, two threads:
//! - `store_loop_without_job_records_100k`: the parallel store loop alone;
//! - `store_loop_with_job_records_100k`: the same loop recording every
//!   job into a fresh cache (one write batch per stored batch);
//! - `store_loop_with_job_records_100k_rerun`: the same, into a cache
//!   that holds the sweep's records already (each is replaced and counted
//!   once);
//! - `resume_100k_half_done`: a resume with half the jobs recorded (the
//!   other half run and recorded); compare with the fresh loop;
//! - `resume_100k_all_done`: a resume with every job recorded (no worker
//!   runs: the warm case).
#![allow(clippy::unwrap_used, missing_docs, reason = "benchmarks")]

use std::hint::black_box;

use collector_cache::{CacheDb, CacheOptions};
use collector_core::{
    Outputs, Reuse, RunOptions, Sample, Shard, ShardAssign, Sweep, SweepResult, TimeSrc,
    run_sweep_logged, setup_dataset,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

#[path = "../../collector-core/benches/anchor.rs"]
mod anchor;
use anchor::anchor_sweep;

fn fresh(s: &Sweep) -> SweepResult {
    setup_dataset(s, &TimeSrc::Label("bench".into()))
        .unwrap()
        .result
}

fn worker(s: &Sample<'_>) -> Result<Outputs, std::convert::Infallible> {
    let mut o = s.outputs();
    let j = s.job();
    o.set_slot(0, (j / 1000) as f64)
        .set_slot(1, ((j / 10) % 100) as f64)
        .set_slot(2, 1.0)
        .set_slot(3, [1.0, 2.0, 3.0]);
    Ok(o)
}

fn opts(reuse: Reuse) -> RunOptions {
    RunOptions {
        threads: Some(2),
        reuse,
        ..RunOptions::default()
    }
}

fn open() -> (tempfile::TempDir, CacheDb) {
    let dir = tempfile::tempdir().unwrap();
    let db = CacheDb::open(&dir.path().join("db"), CacheOptions::default()).unwrap();
    (dir, db)
}

fn benches(c: &mut Criterion) {
    let sweep = anchor_sweep();
    let total = sweep.job_count();
    let mut g = c.benchmark_group("jobs");
    g.throughput(Throughput::Elements(total as u64));
    g.sample_size(10);

    g.bench_function("store_loop_without_job_records_100k", |b| {
        b.iter_batched(
            || fresh(&sweep),
            |mut r| {
                run_sweep_logged(&mut r, &opts(Reuse::Off), None, worker).unwrap();
                black_box(r)
            },
            BatchSize::LargeInput,
        );
    });

    g.bench_function("store_loop_with_job_records_100k", |b| {
        b.iter_batched(
            || (open(), fresh(&sweep)),
            |((dir, db), mut r)| {
                let log = db.job_log(&sweep).unwrap();
                run_sweep_logged(&mut r, &opts(Reuse::Off), Some(&log), worker).unwrap();
                black_box(&r);
                (dir, db, r)
            },
            BatchSize::PerIteration,
        );
    });

    let (_keep, db) = open();
    {
        let log = db.job_log(&sweep).unwrap();
        run_sweep_logged(&mut fresh(&sweep), &opts(Reuse::Off), Some(&log), worker).unwrap();
    }
    g.bench_function("store_loop_with_job_records_100k_rerun", |b| {
        b.iter_batched(
            || fresh(&sweep),
            |mut r| {
                let log = db.job_log(&sweep).unwrap();
                run_sweep_logged(&mut r, &opts(Reuse::Off), Some(&log), worker).unwrap();
                black_box(r)
            },
            BatchSize::LargeInput,
        );
    });

    g.bench_function("resume_100k_half_done", |b| {
        b.iter_batched(
            || {
                let (dir, db) = open();
                {
                    // Half the jobs recorded: shard 1 of 2, round-robin.
                    let log = db.job_log(&sweep).unwrap();
                    let half = RunOptions {
                        shard: Some(Shard::new(1, 2).unwrap().assign(ShardAssign::RoundRobin)),
                        ..opts(Reuse::Off)
                    };
                    run_sweep_logged(&mut fresh(&sweep), &half, Some(&log), worker).unwrap();
                }
                ((dir, db), fresh(&sweep))
            },
            |((dir, db), mut r)| {
                let log = db.job_log(&sweep).unwrap();
                let c = run_sweep_logged(&mut r, &opts(Reuse::Resume), Some(&log), worker).unwrap();
                assert_eq!((c.reused, c.new), (total / 2, total / 2));
                black_box(&r);
                (dir, db, r)
            },
            BatchSize::PerIteration,
        );
    });
    // Everything recorded: a warm resume takes every record, calls no
    // worker.
    g.bench_function("resume_100k_all_done", |b| {
        b.iter_batched(
            || fresh(&sweep),
            |mut r| {
                let log = db.job_log(&sweep).unwrap();
                let c = run_sweep_logged(&mut r, &opts(Reuse::Resume), Some(&log), worker).unwrap();
                assert_eq!(c.reused, total);
                black_box(r)
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(jobs, benches);
criterion_main!(jobs);
