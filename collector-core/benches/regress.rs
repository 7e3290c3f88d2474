//! Regression detection over a history: a 50 x 50 grid, 2 repeats, 1000
//! events (5 million samples), one float result to minimise, the default
//! (adaptive) method. The last event regresses by 50 % in one corner
//! cell; every other cell is Gaussian noise (1 % of its level).
//!
//! - `regress_per_cell_50x50x2_h1000`: every one of the 2500 cells tested
//!   (target: at most 100 ms);
//! - `regress_per_variable_50x50x2_h1000`: the seed's grain, one series.

use std::collections::BTreeMap;
use std::hint::black_box;

use collector_core::regress::{Grain, Options, detect};
use collector_core::{
    Column, ColumnData, Coords, Dataset, Dim, Direction, ResultKind, time_major_array,
};
use criterion::{Criterion, criterion_group, criterion_main};

const SIDE: usize = 50;
const REPEATS: usize = 2;
const EVENTS: usize = 1000;

/// SplitMix64 and Box-Muller: deterministic Gaussian noise.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// The history, laid out time-major as a history read from the cache is.
fn history() -> Dataset {
    let dims = vec![
        Dim::new(
            "x",
            Coords::Float((0..SIDE).map(|i| i as f64 / SIDE as f64).collect()),
        ),
        Dim::new("y", Coords::Int((0..SIDE as i64).collect())),
        Dim::new("repeat", Coords::Int((1..=REPEATS as i64).collect())),
        Dim::new("over_time", Coords::Int((0..EVENTS as i64).collect())),
    ];
    let shape = [SIDE, SIDE, REPEATS, EVENTS];
    let per_event = SIDE * SIDE * REPEATS;
    let mut noise = Noise(42);
    let mut buf = Vec::with_capacity(per_event * EVENTS);
    for t in 0..EVENTS {
        for cell in 0..SIDE * SIDE {
            let level = 1.0 + 0.01 * cell as f64;
            for _ in 0..REPEATS {
                let mut v = level * (1.0 + 0.01 * noise.gauss());
                if t == EVENTS - 1 && cell == 0 {
                    v *= 1.5;
                }
                buf.push(v);
            }
        }
    }
    let mut col = Column::new_missing("time", "time", ResultKind::Float, &shape);
    col.data = ColumnData::F64(time_major_array(&shape, buf).expect("shape"));
    Dataset::from_parts(dims, vec![col], BTreeMap::new()).expect("dataset")
}

fn benches(c: &mut Criterion) {
    let ds = history();
    let dirs = BTreeMap::from([("time".to_string(), Direction::Minimize)]);
    let births = BTreeMap::new();
    let per_cell = Options {
        grain: Some(Grain::PerCell),
        ..Options::default()
    };
    let per_variable = Options {
        grain: Some(Grain::PerVariable),
        ..Options::default()
    };

    let report = detect(&ds, &dirs, &births, &per_cell);
    assert_eq!(report.cells_tested, SIDE * SIDE);
    assert_eq!(report.series.len(), 1, "{}", report.to_text());
    assert!(
        report.series[0]
            .cell
            .iter()
            .all(|(_, v)| v.to_string() == "0")
    );
    let report = detect(&ds, &dirs, &births, &per_variable);
    assert_eq!(report.cells_tested, 1);
    assert!(report.series.is_empty(), "one corner is diluted away");

    let mut g = c.benchmark_group("regress");
    g.sample_size(20);
    g.bench_function("regress_per_cell_50x50x2_h1000", |b| {
        b.iter(|| detect(black_box(&ds), &dirs, &births, &per_cell))
    });
    g.bench_function("regress_per_variable_50x50x2_h1000", |b| {
        b.iter(|| detect(black_box(&ds), &dirs, &births, &per_variable))
    });
    g.finish();
}

criterion_group!(regress, benches);
criterion_main!(regress);
