//! Whole runs with history, through `ResultCollector::run`:
//! `run_with_history_h{H}` runs the anchor history grid (50 x 50, repeat 1,
//! 2 float columns; a worker that only returns its two values), stores the
//! result and appends the event to a history kept at H events
//! (`max_time_events`), without returning the history
//! (`HistoryOptions::return_history` off): a run should cost the size of
//! the run, not of its history.
#![allow(clippy::unwrap_used, missing_docs, reason = "benchmarks")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use result_collector::model::{Error, HistoryOptions};
use result_collector::{InputVar, ResultCollector, ResultVar, RunOptions, Sweep, TimeSrc};

fn grid() -> Sweep {
    Sweep::builder("anchor_history")
        .input(InputVar::float_samples("a", 0.0, 1.0, 50))
        .input(InputVar::int_samples("b", 0, 99, 50))
        .result(ResultVar::float("r0"))
        .result(ResultVar::float("r1"))
        .over_time(true)
        .build()
        .unwrap()
}

fn run_with_history(c: &mut Criterion) {
    let sweep = grid();
    let mut g = c.benchmark_group("run");
    g.sample_size(30);
    for h in [1usize, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let collector = ResultCollector::new(Some(dir.path()));
        let opts = RunOptions {
            threads: Some(1),
            history: HistoryOptions {
                max_time_events: Some(h),
                return_history: false,
                ..HistoryOptions::default()
            },
            ..RunOptions::default()
        };
        let mut i = 0usize;
        let mut run = || {
            let label = TimeSrc::Label(format!("e{i}"));
            i += 1;
            collector
                .run(&sweep, &label, &opts, |s| {
                    let j = s.job() as f64;
                    Ok::<_, Error>(s.outputs().with("r0", j).with("r1", -j))
                })
                .unwrap()
        };
        for _ in 0..h {
            run();
        }
        g.bench_function(format!("run_with_history_h{h}"), |b| {
            b.iter(|| black_box(run().history.unwrap().append.events));
        });
    }
    g.finish();
}

criterion_group!(benches, run_with_history);
criterion_main!(benches);
