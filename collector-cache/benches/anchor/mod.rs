//! The result of the core store workload (../shared/anchor/README.md),
//! shared by the cache bench and the `cold_write` example: a (float, 100
//! values) x b (int 0..=99) x repeats 10, 3 floats + vec(3) = 6 f64
//! columns, 600,000 cells, 4.8 MB, every job attempted.

use collector_core::{ColumnData, InputVar, ResultVar, Sweep, SweepResult, TimeSrc, setup_dataset};

pub fn anchor_result() -> SweepResult {
    let sweep = Sweep::builder("anchor_store")
        .input(InputVar::float_samples("a", 0.0, 1.0, 100))
        .input(InputVar::int_range("b", 0, 99))
        .result(ResultVar::float("r0"))
        .result(ResultVar::float("r1"))
        .result(ResultVar::float("r2"))
        .result(ResultVar::vector("v", 3))
        .repeats(10)
        .build()
        .expect("the anchor sweep is valid");
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
