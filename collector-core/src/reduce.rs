//! Reductions over a dim: mean, std, min, max and the count of non-missing
//! cells, like xarray's `Dataset.mean(dim)` with `skipna=True`.
//!
//! Missing cells are skipped, never counted as zero: the mean of
//! `[1, NaN, 3]` is 2. A lane with no value at all reduces to NaN (its
//! count is 0).
//!
//! Which columns survive:
//! - float columns (float, bool and vec results) are reduced by every
//!   [`Reduction`];
//! - text and reference columns are **dropped** by mean, std, min and max
//!   (as xarray drops non-numeric variables with `numeric_only`): a mean
//!   of file paths has no meaning, and keeping them unreduced would give
//!   them a dim the dataset no longer has;
//! - [`Reduction::Count`] keeps every column, counting the cells that are
//!   not at their kind's sentinel (how many images a point produced is
//!   worth reporting).
//!
//! ```
//! use collector_core::reduce::Reduction;
//! use collector_core::{Column, ColumnData, Coords, Dataset, Dim, ResultKind};
//! use ndarray::{ArrayD, IxDyn};
//!
//! let dims = vec![
//!     Dim::new("x", Coords::Float(vec![0.0, 1.0])),
//!     Dim::new("repeat", Coords::Int(vec![1, 2, 3])),
//! ];
//! let mut t = Column::new_missing("t", "t", ResultKind::Float, &[2, 3]);
//! let values = vec![1.0, f64::NAN, 3.0, f64::NAN, f64::NAN, f64::NAN];
//! t.data = ColumnData::F64(ArrayD::from_shape_vec(IxDyn(&[2, 3]), values).unwrap());
//! let ds = Dataset::from_parts(dims, vec![t], Default::default())?;
//!
//! let mean = ds.reduce("repeat", Reduction::Mean)?;
//! assert_eq!(mean.dim_names(), ["x"]);
//! let m = mean.column("t")?.f64().unwrap();
//! assert_eq!(m[[0]], 2.0); // the NaN is skipped, not counted as zero
//! assert!(m[[1]].is_nan()); // nothing to average
//! let n = ds.reduce("repeat", Reduction::Count)?;
//! assert_eq!(n.column("t")?.f64().unwrap().iter().collect::<Vec<_>>(), [&2.0, &0.0]);
//! # Ok::<(), collector_core::Error>(())
//! ```

use std::fmt;

use ndarray::{ArrayD, ArrayView1, ArrayViewD, Axis};

use crate::dataset::{Column, ColumnData, Dataset};
use crate::error::Result;
use crate::sweep::{ResultKind, TEXT_SENTINEL};

/// A reduction over one dim. Missing cells are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reduction {
    /// The mean of the non-missing cells.
    Mean,
    /// The population standard deviation (ddof = 0, xarray's default) of
    /// the non-missing cells.
    Std,
    /// The smallest non-missing cell.
    Min,
    /// The largest non-missing cell.
    Max,
    /// How many cells are not missing, as a float column without units.
    Count,
}

impl Reduction {
    /// Every reduction, in a fixed order.
    pub const ALL: [Reduction; 5] = [
        Reduction::Mean,
        Reduction::Std,
        Reduction::Min,
        Reduction::Max,
        Reduction::Count,
    ];

    /// The lower-case name (`"mean"`, `"std"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Reduction::Mean => "mean",
            Reduction::Std => "std",
            Reduction::Min => "min",
            Reduction::Max => "max",
            Reduction::Count => "count",
        }
    }

    /// Reduces one lane of floats, skipping NaN.
    pub fn apply(self, lane: ArrayView1<'_, f64>) -> f64 {
        let values = lane.iter().copied().filter(|v| !v.is_nan());
        match self {
            Reduction::Count => count_f64(values.count()),
            Reduction::Min => values.fold(f64::NAN, f64::min),
            Reduction::Max => values.fold(f64::NAN, f64::max),
            Reduction::Mean => mean(values).0,
            Reduction::Std => {
                let (m, n) = mean(values.clone());
                if n == 0 {
                    return f64::NAN;
                }
                let ss: f64 = values.map(|v| (v - m) * (v - m)).sum();
                (ss / count_f64(n)).sqrt()
            }
        }
    }
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn count_f64(n: usize) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "a cell count far below 2^53")]
    let f = n as f64;
    f
}

/// The mean of `values` and their count; NaN when there are none.
fn mean(values: impl Iterator<Item = f64>) -> (f64, usize) {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        (f64::NAN, 0)
    } else {
        (sum / count_f64(n), n)
    }
}

fn reduce_f64(a: &ArrayD<f64>, axis: usize, how: Reduction) -> ArrayD<f64> {
    a.map_axis(Axis(axis), |lane| how.apply(lane))
}

fn count_where<T>(a: &ArrayViewD<'_, T>, axis: usize, present: impl Fn(&T) -> bool) -> ArrayD<f64> {
    a.map_axis(Axis(axis), |lane| {
        count_f64(lane.iter().filter(|v| present(v)).count())
    })
}

impl Dataset {
    /// Reduces every column over dim `dim`, which is removed. See the
    /// [module docs](crate::reduce) for which columns survive. Dataset
    /// attributes are kept; column attributes are kept too, except that a
    /// count has no units.
    ///
    /// Errors when `dim` is not a dim of the dataset.
    pub fn reduce(&self, dim: &str, how: Reduction) -> Result<Dataset> {
        let axis = self.dim_index(dim)?;
        let dims = self
            .dims()
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != axis)
            .map(|(_, d)| d.clone())
            .collect();
        let mut columns = Vec::with_capacity(self.columns().len());
        for c in self.columns() {
            let data = match (&c.data, how) {
                (ColumnData::F64(a), _) => reduce_f64(a, axis, how),
                (ColumnData::I64(a), Reduction::Count) => count_where(&a.view(), axis, |v| *v >= 0),
                (ColumnData::Text(a), Reduction::Count) => {
                    count_where(&a.view(), axis, |v| v != TEXT_SENTINEL)
                }
                _ => continue,
            };
            let mut attrs = c.attrs.clone();
            // A mean of booleans is a fraction, a count is a count: both
            // are plain floats. Min and max keep the column's kind.
            let kind = match (how, c.kind) {
                (Reduction::Count, _) => {
                    attrs.units.clear();
                    ResultKind::Float
                }
                (Reduction::Mean | Reduction::Std, ResultKind::Bool) => ResultKind::Float,
                (_, k) => k,
            };
            columns.push(Column {
                name: c.name.clone(),
                var: c.var.clone(),
                kind,
                attrs,
                data: ColumnData::F64(data),
            });
        }
        Dataset::from_parts(dims, columns, self.attrs.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use ndarray::IxDyn;
    use proptest::prelude::*;

    use super::*;
    use crate::dataset::{Cell, Dim};
    use crate::value::Coords;

    fn ds(values: Vec<f64>, rows: usize, cols: usize) -> Dataset {
        let dims = vec![
            Dim::new("x", Coords::Int((0..rows as i64).collect())),
            Dim::new("repeat", Coords::Int((1..=cols as i64).collect())),
        ];
        let mut t = Column::new_missing("t", "t", ResultKind::Float, &[rows, cols]);
        t.attrs.units = "s".into();
        t.data = ColumnData::F64(ArrayD::from_shape_vec(IxDyn(&[rows, cols]), values).unwrap());
        let mut p = Column::new_missing("p", "p", ResultKind::Path, &[rows, cols]);
        if rows * cols > 0 {
            p.set(&[0, 0], Cell::Text("a.png".into())).unwrap();
        }
        let r = Column::new_missing("r", "r", ResultKind::Reference, &[rows, cols]);
        Dataset::from_parts(dims, vec![t, p, r], Default::default()).unwrap()
    }

    fn col(d: &Dataset, name: &str) -> Vec<f64> {
        d.column(name)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn skips_missing_cells() {
        let nan = f64::NAN;
        let d = ds(vec![1.0, nan, 3.0, nan, nan, nan], 2, 3);
        let mean = col(&d.reduce("repeat", Reduction::Mean).unwrap(), "t");
        assert_eq!(mean[0], 2.0);
        assert!(mean[1].is_nan());
        let std = col(&d.reduce("repeat", Reduction::Std).unwrap(), "t");
        assert_eq!(std[0], 1.0);
        assert!(std[1].is_nan());
        let min = col(&d.reduce("repeat", Reduction::Min).unwrap(), "t");
        assert_eq!(min[0], 1.0);
        assert!(min[1].is_nan());
        let max = col(&d.reduce("repeat", Reduction::Max).unwrap(), "t");
        assert_eq!(max[0], 3.0);
        assert!(max[1].is_nan());
        let n = d.reduce("repeat", Reduction::Count).unwrap();
        assert_eq!(col(&n, "t"), [2.0, 0.0]);
    }

    #[test]
    fn std_is_population() {
        let d = ds(vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], 1, 8);
        assert_eq!(
            col(&d.reduce("repeat", Reduction::Std).unwrap(), "t"),
            [2.0]
        );
    }

    #[test]
    fn reduces_the_named_dim() {
        let d = ds(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
        let over_x = d.reduce("x", Reduction::Mean).unwrap();
        assert_eq!(over_x.dim_names(), ["repeat"]);
        assert_eq!(col(&over_x, "t"), [2.5, 3.5, 4.5]);
        assert_eq!(over_x.column("t").unwrap().attrs.units, "s");
    }

    #[test]
    fn non_numeric_columns_are_dropped_except_by_count() {
        let d = ds(vec![1.0; 6], 2, 3);
        let mean = d.reduce("repeat", Reduction::Mean).unwrap();
        let names: Vec<&str> = mean.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["t"]);
        let n = d.reduce("repeat", Reduction::Count).unwrap();
        assert_eq!(col(&n, "p"), [1.0, 0.0]);
        assert_eq!(col(&n, "r"), [0.0, 0.0]);
        assert_eq!(n.column("t").unwrap().attrs.units, "");
    }

    #[test]
    fn bool_mean_is_a_float_fraction() {
        let dims = vec![Dim::new("repeat", Coords::Int(vec![1, 2, 3, 4]))];
        let mut b = Column::new_missing("ok", "ok", ResultKind::Bool, &[4]);
        b.data = ColumnData::F64(
            ArrayD::from_shape_vec(IxDyn(&[4]), vec![1.0, 0.0, 1.0, f64::NAN]).unwrap(),
        );
        let d = Dataset::from_parts(dims, vec![b], Default::default()).unwrap();
        let m = d.reduce("repeat", Reduction::Mean).unwrap();
        assert_eq!(m.column("ok").unwrap().kind, ResultKind::Float);
        assert!((col(&m, "ok")[0] - 2.0 / 3.0).abs() < 1e-12);
        assert!(m.dims().is_empty());
    }

    #[test]
    fn unknown_dim_is_an_error() {
        let d = ds(vec![1.0; 6], 2, 3);
        let e = d.reduce("nope", Reduction::Mean).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn empty_dim_reduces_to_nan() {
        let d = ds(vec![], 2, 0);
        assert!(
            col(&d.reduce("repeat", Reduction::Mean).unwrap(), "t")
                .iter()
                .all(|v| v.is_nan())
        );
        assert_eq!(
            col(&d.reduce("repeat", Reduction::Count).unwrap(), "t"),
            [0.0, 0.0]
        );
    }

    fn cell() -> impl Strategy<Value = f64> {
        prop_oneof![3 => -1e6..1e6f64, 1 => Just(f64::NAN)]
    }

    proptest! {
        #[test]
        fn reductions_agree_with_a_plain_loop(
            (rows, cols, values) in (1usize..5, 0usize..6)
                .prop_flat_map(|(r, c)| (Just(r), Just(c), proptest::collection::vec(cell(), r * c)))
        ) {
            let d = ds(values.clone(), rows, cols);
            let mean = col(&d.reduce("repeat", Reduction::Mean).unwrap(), "t");
            let std = col(&d.reduce("repeat", Reduction::Std).unwrap(), "t");
            let min = col(&d.reduce("repeat", Reduction::Min).unwrap(), "t");
            let max = col(&d.reduce("repeat", Reduction::Max).unwrap(), "t");
            let n = col(&d.reduce("repeat", Reduction::Count).unwrap(), "t");
            for r in 0..rows {
                let present: Vec<f64> =
                    values[r * cols..(r + 1) * cols].iter().copied().filter(|v| !v.is_nan()).collect();
                prop_assert_eq!(n[r], present.len() as f64);
                if present.is_empty() {
                    prop_assert!(mean[r].is_nan() && std[r].is_nan());
                    prop_assert!(min[r].is_nan() && max[r].is_nan());
                    continue;
                }
                let m = present.iter().sum::<f64>() / present.len() as f64;
                prop_assert!((mean[r] - m).abs() <= 1e-9 * m.abs().max(1.0));
                prop_assert!(min[r] <= mean[r] + 1e-9 && mean[r] <= max[r] + 1e-9);
                prop_assert!(std[r] >= 0.0);
                prop_assert!(std[r] <= (max[r] - min[r]) + 1e-9);
                prop_assert!(present.contains(&min[r]) && present.contains(&max[r]));
            }
        }
    }
}
