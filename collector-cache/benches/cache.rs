//! Anchor workloads (../shared/anchor/README.md):
//! - `cache_*_4_8mb`: write and read back the whole result of the core
//!   store workload (declared in `collector-core/benches/anchor.rs`):
//!   a (float, 100 values) x b (int 0..=99) x repeats 10, 3 floats +
//!   vec(3) = 6 f64 columns, 600,000 cells, 4.8 MB. The write
//!   is timed both as the anchor does it (once, into a cache just opened)
//!   and back to back into one cache; `cache_encode_4_8mb` is the encoding
//!   alone.
//! - `history_append_50x50x2_h{H}`: append one event (50 x 50 grid,
//!   repeat 1, 2 float columns) to a history of H events.
//! - `history_load_50x50x2_h{H}`: read back a history of H such events
//!   (`load_history`: every event record read, decoded and joined along
//!   `over_time`).
#![allow(clippy::unwrap_used, missing_docs, reason = "benchmarks")]

use std::hint::black_box;

use collector_cache::{AppendOptions, CacheDb, CacheOptions};
use collector_core::{
    ColumnData, Coords, Dataset, InputVar, OVER_TIME_DIM, ResultVar, Sweep, TimeSrc, setup_dataset,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

#[path = "../../collector-core/benches/anchor.rs"]
mod anchor;
use anchor::anchor_result;

fn cache_roundtrip(c: &mut Criterion) {
    let r = anchor_result();
    let dir = tempfile::tempdir().unwrap();
    let cache = CacheDb::open(&dir.path().join("db"), CacheOptions::default()).unwrap();
    let mut g = c.benchmark_group("cache");
    g.sample_size(20);
    g.bench_function("cache_roundtrip_4_8mb", |b| {
        b.iter(|| {
            cache.put_result("anchor", "anchor_store", &r).unwrap();
            black_box(cache.get_complete_result("anchor").unwrap().unwrap());
        });
    });
    // The anchor's workload: one result written into a cache just opened
    // (the anchor's upstream_bench.py times one `cache_results` call on a
    // new cache). Opening and closing are outside the timing.
    g.bench_function("cache_write_4_8mb", |b| {
        b.iter_batched_ref(
            || {
                let dir = tempfile::tempdir().unwrap();
                let cache = CacheDb::open(&dir.path().join("db"), CacheOptions::default()).unwrap();
                (cache, dir)
            },
            |(cache, _)| black_box(cache.put_result("anchor", "anchor_store", &r).unwrap()),
            BatchSize::PerIteration,
        );
    });
    // Sustained: the same result written again and again into one cache,
    // so each write also pays its share of RocksDB's background flushes.
    g.bench_function("cache_write_4_8mb_back_to_back", |b| {
        b.iter(|| black_box(cache.put_result("anchor", "anchor_store", &r).unwrap()));
    });
    g.bench_function("cache_encode_4_8mb", |b| {
        b.iter(|| black_box(collector_cache::encoded_result_size(&r).unwrap()));
    });
    g.bench_function("cache_read_4_8mb", |b| {
        b.iter(|| black_box(cache.get_complete_result("anchor").unwrap().unwrap()));
    });
    g.finish();
}

fn grid_event() -> Dataset {
    let sweep = Sweep::builder("anchor_history")
        .input(InputVar::float_samples("a", 0.0, 1.0, 50))
        .input(InputVar::int_samples("b", 0, 99, 50))
        .result(ResultVar::float("r0"))
        .result(ResultVar::float("r1"))
        .over_time(true)
        .build()
        .unwrap();
    let mut ds = setup_dataset(&sweep, &TimeSrc::Label("event".into()))
        .unwrap()
        .result
        .dataset;
    for c in ds.columns_mut() {
        if let ColumnData::F64(a) = &mut c.data {
            a.iter_mut().enumerate().for_each(|(i, x)| *x = i as f64);
        }
    }
    ds
}

/// Gives `event` the label `e<i>`: one event per label, so each append
/// adds an event (an equal label would replace one).
fn relabel(event: &mut Dataset, i: usize) {
    event
        .set_coords(OVER_TIME_DIM, Coords::Label(vec![format!("e{i}")]))
        .unwrap();
}

fn history_append(c: &mut Criterion) {
    let mut event = grid_event();
    let mut g = c.benchmark_group("history");
    for h in [1usize, 10, 100, 300, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDb::open(&dir.path().join("db"), CacheOptions::default()).unwrap();
        // The history stays at H events: each append trims the oldest.
        let opts = AppendOptions {
            max_time_events: Some(h),
            ..Default::default()
        };
        let mut i = 0;
        for _ in 0..h {
            relabel(&mut event, i);
            i += 1;
            cache.append_event("anchor", &event, &opts).unwrap();
        }
        g.bench_function(format!("history_append_50x50x2_h{h}"), |b| {
            b.iter(|| {
                relabel(&mut event, i);
                i += 1;
                black_box(cache.append_event("anchor", &event, &opts).unwrap())
            });
        });
    }
    g.finish();
}

/// Reading back a whole history of H events of the anchor grid (the
/// upstream comparison is `bench/upstream_history_load.py`).
fn history_load(c: &mut Criterion) {
    let mut event = grid_event();
    let mut g = c.benchmark_group("history");
    g.sample_size(20);
    for h in [1usize, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDb::open(&dir.path().join("db"), CacheOptions::default()).unwrap();
        for i in 0..h {
            relabel(&mut event, i);
            cache
                .append_event("anchor", &event, &AppendOptions::default())
                .unwrap();
        }
        // As a history is read in practice: written by earlier runs, so
        // flushed to table files (closing flushes), not in the memtable.
        cache.close().unwrap();
        let cache = CacheDb::open(&dir.path().join("db"), CacheOptions::default()).unwrap();
        g.bench_function(format!("history_load_50x50x2_h{h}"), |b| {
            b.iter(|| black_box(cache.load_history("anchor").unwrap().unwrap()));
        });
    }
    g.finish();
}

criterion_group!(benches, cache_roundtrip, history_append, history_load);
criterion_main!(benches);
