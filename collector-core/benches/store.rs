//! The anchor store workload (../shared/anchor/README.md): inputs
//! a (100 floats in [0, 1]) x b (ints 0..=99) x 10 repeats = 100,000 jobs,
//! results 3 floats + vec(3) = 6 columns, 600,000 cells. The sweep is
//! declared in `anchor.rs`, shared with the cache bench.

use std::hint::black_box;

use collector_core::{
    Outputs, RunOptions, Sample, Sweep, SweepResult, TimeSrc, run_sweep, setup_dataset,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod anchor;
use anchor::anchor_sweep;

fn fresh(s: &Sweep) -> SweepResult {
    setup_dataset(s, &TimeSrc::Label("bench".into()))
        .expect("setup")
        .result
}

fn outputs(s: &Sweep, job: usize) -> Outputs {
    let (r0, r1, r2, v) = (0, 1, 2, 3);
    let mut o = Outputs::for_sweep(s);
    o.set_slot(r0, (job / 1000) as f64)
        .set_slot(r1, ((job / 10) % 100) as f64)
        .set_slot(r2, 1.0)
        .set_slot(v, [1.0, 2.0, 3.0]);
    o
}

fn benches(c: &mut Criterion) {
    let sweep = anchor_sweep();
    let total = sweep.job_count();
    assert_eq!(total, 100_000);
    let mut g = c.benchmark_group("store_100k_jobs_6_cols");
    g.throughput(Throughput::Elements(total as u64));
    g.sample_size(20);

    // Storing precomputed results (the figure of the anchor's
    // upstream_bench.py times this loop).
    g.bench_function("store_precomputed", |b| {
        b.iter_batched(
            || {
                let outs: Vec<Outputs> = (0..total).map(|j| outputs(&sweep, j)).collect();
                (fresh(&sweep), outs)
            },
            |(mut r, outs)| {
                {
                    let mut w = r.writer();
                    for (j, o) in outs.into_iter().enumerate() {
                        w.store(j, o);
                    }
                }
                black_box(r)
            },
            criterion::BatchSize::LargeInput,
        );
    });

    // The whole parallel loop with a trivial worker, setup included.
    g.bench_function("parallel_loop_trivial_worker", |b| {
        b.iter(|| {
            let mut r = fresh(&sweep);
            run_sweep(&mut r, &RunOptions::default(), |s: &Sample<'_>| {
                let mut o = s.outputs();
                let j = s.job();
                o.set_slot(0, (j / 1000) as f64)
                    .set_slot(1, ((j / 10) % 100) as f64)
                    .set_slot(2, 1.0)
                    .set_slot(3, [1.0, 2.0, 3.0]);
                Ok::<_, std::convert::Infallible>(o)
            })
            .expect("trivial worker");
            black_box(r)
        });
    });

    // Baseline: the same 600,000 f64 writes into a plain Vec.
    g.bench_function("baseline_raw_vec_600k_f64", |b| {
        b.iter_batched(
            || vec![f64::NAN; total * 6],
            |mut v| {
                for j in 0..total {
                    let o = j * 6;
                    v[o] = (j / 1000) as f64;
                    v[o + 1] = ((j / 10) % 100) as f64;
                    v[o + 2] = 1.0;
                    v[o + 3] = 1.0;
                    v[o + 4] = 2.0;
                    v[o + 5] = 3.0;
                }
                black_box(v)
            },
            criterion::BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(store, benches);
criterion_main!(store);
