//! The sweep of the anchor store workload (../shared/anchor/README.md),
//! declared once for every bench and example that runs it: inputs a (100
//! floats in [0, 1]) x b (ints 0..=99) x 10 repeats = 100,000 jobs, results
//! 3 floats + vec(3) = 6 f64 columns, 600,000 cells, 4.8 MB of data.
//!
//! The store bench of this crate includes it as `mod anchor;`; the cache
//! bench and the `cold_write` example of collector-cache include it with
//! `#[path = "../../collector-core/benches/anchor.rs"] mod anchor;`.
#![allow(dead_code, reason = "each includer uses a part")]

use collector_core::{ColumnData, InputVar, ResultVar, Sweep, SweepResult, TimeSrc, setup_dataset};

/// The anchor sweep.
pub fn anchor_sweep() -> Sweep {
    Sweep::builder("anchor")
        .input(InputVar::float_samples("a", 0.0, 1.0, 100).units("s"))
        .input(InputVar::int_range("b", 0, 99))
        .result(ResultVar::float("r0").units("s"))
        .result(ResultVar::float("r1").units("s"))
        .result(ResultVar::float("r2").units("s"))
        .result(ResultVar::vector("v", 3).units("m"))
        .repeats(10)
        .build()
        .expect("the anchor sweep is valid")
}

/// A complete result of [`anchor_sweep`]: every job attempted, every cell
/// of every column set (to a value that varies along the column).
pub fn anchor_result() -> SweepResult {
    let sweep = anchor_sweep();
    let setup =
        setup_dataset(&sweep, &TimeSrc::Label("anchor".into())).expect("the anchor sweep sets up");
    let mut r = setup.result;
    for (k, c) in r.dataset.columns_mut().iter_mut().enumerate() {
        if let ColumnData::F64(a) = &mut c.data {
            for (i, x) in a.iter_mut().enumerate() {
                *x = (i * (k + 1)) as f64 * 1e-3;
            }
        }
    }
    r.stats.attempted = setup.total;
    r
}
