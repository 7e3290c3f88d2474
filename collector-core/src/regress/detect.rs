//! Detection over a history dataset: series per variable or per cell,
//! young baselines, and the Benjamini-Hochberg correction across cells.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use ndarray::IxDyn;
use rayon::prelude::*;

use super::report::{Flagged, REPORT_SCHEMA_VERSION, RegressionReport};
use super::series::judge;
use super::stats::{Scratch, bh_qvalues, np_sum};
use super::{Grain, Method, Options, PER_CELL_MAX_CELLS, Status, Verdict};
use crate::dataset::{Column, Dataset};
use crate::jobs::unravel;
use crate::sweep::{Direction, OVER_TIME_DIM, REPEAT_DIM};
use crate::value::Value;

/// Samples of one event that a rayon task reads in one run (4 KB): each
/// task takes this many samples' worth of neighbouring cells, so that it
/// reads the time-major history in page-sized runs.
const CHUNK_SAMPLES: usize = 512;

/// Runs regression detection over every float column of `history` (text
/// and reference columns are skipped). The last event of `over_time` is
/// the current one, the events before it the history (a dataset without
/// `over_time` is one event: only `absolute` can judge it).
///
/// - `directions`: by column name, or by result variable name for every
///   column of a vec result; missing means [`Direction::None`].
/// - `births`: by column (or variable) name, the position in `over_time`
///   of the event the column was born at (added, or restarted by a
///   meaning change); missing means its first event with a non-missing
///   cell. Events before the birth are not history.
/// - `opts`: the method, grain, young-baseline limit, BH rate and
///   per-variable overrides.
///
/// ```
/// use std::collections::BTreeMap;
/// use collector_core::{Column, ColumnData, Coords, Dataset, Dim, Direction, ResultKind};
/// use collector_core::regress::{Options, detect};
/// use ndarray::{ArrayD, IxDyn};
///
/// // 2 grid points x 6 events; point 1 jumps at the last event.
/// let dims = vec![
///     Dim::new("x", Coords::Int(vec![0, 1])),
///     Dim::new("over_time", Coords::Int((0..6).collect())),
/// ];
/// let mut c = Column::new_missing("time", "time", ResultKind::Float, &[2, 6]);
/// let v = vec![
///     1.0, 1.01, 0.99, 1.0, 1.02, 1.0, //
///     2.0, 2.02, 1.98, 2.0, 2.01, 9.0,
/// ];
/// c.data = ColumnData::F64(ArrayD::from_shape_vec(IxDyn(&[2, 6]), v).unwrap());
/// let ds = Dataset::from_parts(dims, vec![c], Default::default())?;
/// let dirs = BTreeMap::from([("time".to_string(), Direction::Minimize)]);
/// let report = detect(&ds, &dirs, &BTreeMap::new(), &Options::default());
/// assert_eq!(report.cells_tested, 2);
/// assert_eq!(report.series.len(), 1);
/// assert_eq!(report.series[0].cell[0].1.to_string(), "1");
/// assert!(report.has_blocking());
/// # Ok::<(), collector_core::Error>(())
/// ```
pub fn detect(
    history: &Dataset,
    directions: &BTreeMap<String, Direction>,
    births: &BTreeMap<String, usize>,
    opts: &Options,
) -> RegressionReport {
    let layout = Layout::of(history);
    let grain = opts.grain.unwrap_or(if layout.cells < PER_CELL_MAX_CELLS {
        Grain::PerCell
    } else {
        Grain::PerVariable
    });
    let mut acc = Acc::default();
    for col in history.columns() {
        let Some((method, min_history)) = resolve(col, opts) else {
            continue;
        };
        let direction = lookup(directions, col).copied().unwrap_or_default();
        let birth = lookup(births, col).copied();
        let plan = Plan {
            method,
            min_history,
            direction,
        };
        detect_column(col, &layout, grain, birth, &plan, &mut acc);
    }
    acc.finish(history, &layout, grain, opts.fdr)
}

/// The run's method and young limit for `col` after its override; `None`
/// when it is off.
fn resolve(col: &Column, opts: &Options) -> Option<(Method, usize)> {
    let ov = opts
        .overrides
        .get(&col.name)
        .or_else(|| opts.overrides.get(&col.var));
    match ov {
        Some(o) => o.apply(opts.method, opts.min_history),
        None => Some((opts.method, opts.min_history)),
    }
}

fn lookup<'a, T>(map: &'a BTreeMap<String, T>, col: &Column) -> Option<&'a T> {
    map.get(&col.name).or_else(|| map.get(&col.var))
}

/// Where the time, grid and repeat axes are.
struct Layout {
    /// `[time, grid..., repeat]`, existing axes only.
    perm: Vec<usize>,
    /// The grid axes, in dataset order.
    grid_axes: Vec<usize>,
    /// The grid's shape.
    grid_shape: Vec<usize>,
    events: usize,
    cells: usize,
    repeats: usize,
}

impl Layout {
    fn of(ds: &Dataset) -> Layout {
        let dims = ds.dims();
        let time = dims.iter().position(|d| d.name == OVER_TIME_DIM);
        let repeat = dims.iter().position(|d| d.name == REPEAT_DIM);
        let grid_axes: Vec<usize> = (0..dims.len())
            .filter(|&a| Some(a) != time && Some(a) != repeat)
            .collect();
        let grid_shape: Vec<usize> = grid_axes.iter().map(|&a| dims[a].len()).collect();
        let mut perm = Vec::with_capacity(dims.len());
        perm.extend(time);
        perm.extend(&grid_axes);
        perm.extend(repeat);
        Layout {
            events: time.map_or(1, |a| dims[a].len()),
            cells: grid_shape.iter().product(),
            repeats: repeat.map_or(1, |a| dims[a].len()),
            perm,
            grid_axes,
            grid_shape,
        }
    }
}

/// How one column is judged.
struct Plan {
    method: Method,
    min_history: usize,
    direction: Direction,
}

/// What one series gave.
enum Outcome {
    /// No usable current value: not tested.
    NoCurrent,
    /// Tested, not enough history.
    NotEnough,
    /// Tested: the p-value, and the verdict when regressed.
    Tested {
        p: Option<f64>,
        regressed: Option<Box<Verdict>>,
        young: bool,
        history_points: usize,
    },
}

/// A regression before the correction.
struct Candidate {
    variable: String,
    cell: Option<usize>,
    method: Method,
    direction: Direction,
    verdict: Verdict,
    young: bool,
    history_points: usize,
    p_index: Option<usize>,
}

#[derive(Default)]
struct Acc {
    tested: usize,
    p_values: Vec<f64>,
    candidates: Vec<Candidate>,
    not_enough: Vec<String>,
    series_not_enough: usize,
    without_current: usize,
    skipped: usize,
}

impl Acc {
    fn record(&mut self, col: &Column, plan: &Plan, cell: Option<usize>, outcome: Outcome) {
        match outcome {
            Outcome::NoCurrent => self.without_current += 1,
            Outcome::NotEnough => {
                self.series_not_enough += 1;
                if self.not_enough.last() != Some(&col.name) {
                    self.not_enough.push(col.name.clone());
                }
            }
            Outcome::Tested {
                p,
                regressed,
                young,
                history_points,
            } => {
                self.tested += 1;
                let p_index = p.map(|p| {
                    self.p_values.push(p);
                    self.p_values.len() - 1
                });
                if let Some(v) = regressed {
                    self.candidates.push(Candidate {
                        variable: col.name.clone(),
                        cell,
                        method: plan.method,
                        direction: plan.direction,
                        verdict: *v,
                        young,
                        history_points,
                        p_index,
                    });
                }
            }
        }
    }

    fn finish(self, ds: &Dataset, layout: &Layout, grain: Grain, fdr: f64) -> RegressionReport {
        let corrected = grain == Grain::PerCell;
        let q = if corrected {
            bh_qvalues(&self.p_values)
        } else {
            Vec::new()
        };
        let mut series = Vec::new();
        let mut suppressed = 0;
        for c in self.candidates {
            let q_value = c.p_index.and_then(|i| q.get(i).copied());
            // Per cell, a statistical test must also survive BH: q at most
            // the rate (a NaN rate lets nothing through).
            let survives =
                |q: f64| matches!(q.partial_cmp(&fdr), Some(Ordering::Less | Ordering::Equal));
            if corrected && q_value.is_some_and(|q| !survives(q)) {
                suppressed += 1;
                continue;
            }
            let cell = c
                .cell
                .map(|g| cell_coords(ds, layout, g))
                .unwrap_or_default();
            series.push(Flagged {
                variable: c.variable,
                cell,
                method: c.method,
                direction: c.direction,
                baseline: c.verdict.baseline,
                current: c.verdict.current,
                change_pct: c.verdict.change_pct,
                band: c.verdict.band,
                test: c.verdict.test.unwrap_or_default(),
                young: c.young,
                history_points: c.history_points,
                p_value: c.verdict.p_value,
                q_value,
            });
        }
        RegressionReport {
            schema_version: REPORT_SCHEMA_VERSION,
            grain,
            fdr: corrected.then_some(fdr),
            cells_tested: self.tested,
            cells_flagged: series.len(),
            suppressed_by_fdr: suppressed,
            series,
            not_enough_history: self.not_enough,
            series_not_enough_history: self.series_not_enough,
            cells_without_current: self.without_current,
            skipped_non_finite: self.skipped,
        }
    }
}

/// The labels of grid cell `g`, dim by dim.
fn cell_coords(ds: &Dataset, layout: &Layout, g: usize) -> Vec<(String, Value)> {
    let idx = unravel(g, &layout.grid_shape);
    layout
        .grid_axes
        .iter()
        .zip(idx.iter())
        .filter_map(|(&a, &i)| {
            let d = &ds.dims()[a];
            d.coords.get(i).map(|v| (d.name.clone(), v))
        })
        .collect()
}

/// The mean of the finite values of `a` (non-finite ones count as zero in
/// the pairwise sum, as NumPy's `nanmean` does with NaN), the number of
/// finite values and of ±inf.
fn finite_mean(a: &[f64], buf: &mut Vec<f64>) -> (f64, usize, usize) {
    let mut n = 0;
    let mut inf = 0;
    if a.len() < 8 {
        // NumPy sums fewer than 8 values one after the other from 0.
        let mut sum = 0.0;
        for &v in a {
            let finite = v.is_finite();
            sum += if finite { v } else { 0.0 };
            n += usize::from(finite);
            inf += usize::from(v.is_infinite());
        }
        let mean = if n == 0 { f64::NAN } else { sum / n as f64 };
        return (mean, n, inf);
    }
    buf.clear();
    buf.extend(a.iter().map(|&v| {
        if v.is_finite() {
            n += 1;
            v
        } else {
            if v.is_infinite() {
                inf += 1;
            }
            0.0
        }
    }));
    let mean = if n == 0 {
        f64::NAN
    } else {
        np_sum(buf) / n as f64
    };
    (mean, n, inf)
}

fn detect_column(
    col: &Column,
    layout: &Layout,
    grain: Grain,
    birth: Option<usize>,
    plan: &Plan,
    acc: &mut Acc,
) {
    let Some(view) = col.f64() else {
        return;
    };
    let (t_len, g_len, r_len) = (layout.events, layout.cells, layout.repeats);
    if t_len == 0 {
        acc.series_not_enough += 1;
        acc.not_enough.push(col.name.clone());
        return;
    }
    if g_len == 0 || r_len == 0 {
        return;
    }
    let arranged = view.permuted_axes(IxDyn(&layout.perm));
    let arranged = arranged.as_standard_layout();
    let Some(data) = arranged.as_slice() else {
        return;
    };
    let event = g_len * r_len;
    // The birth: stated, or the first event with a non-missing cell.
    let found = (0..t_len).find(|&t| data[t * event..(t + 1) * event].iter().any(|v| !v.is_nan()));
    let Some(first) = found else {
        // Never measured: nothing to judge.
        acc.without_current += match grain {
            Grain::PerVariable => 1,
            Grain::PerCell => g_len,
        };
        return;
    };
    let start = birth.unwrap_or(first).min(t_len - 1);
    match grain {
        Grain::PerVariable => per_variable(col, data, layout, start, plan, acc),
        Grain::PerCell => per_cell(col, data, layout, start, plan, acc),
    }
}

fn per_variable(
    col: &Column,
    data: &[f64],
    layout: &Layout,
    start: usize,
    plan: &Plan,
    acc: &mut Acc,
) {
    let t_len = layout.events;
    let event = layout.cells * layout.repeats;
    let cur = t_len - 1;
    // Each event's mean, events in parallel: (mean, ±inf skipped).
    let first = if plan.method.needs_history() {
        start
    } else {
        cur
    };
    let per_event: Vec<(Option<f64>, usize)> = (first..t_len)
        .into_par_iter()
        .map_init(Vec::new, |buf, t| {
            let (m, n, inf) = finite_mean(&data[t * event..(t + 1) * event], buf);
            // A mean that overflowed counts as one more skipped value.
            let overflow = usize::from(n > 0 && !m.is_finite());
            (Some(m).filter(|m| m.is_finite()), inf + overflow)
        })
        .collect();
    acc.skipped += per_event.iter().map(|e| e.1).sum::<usize>();
    let hist: Vec<f64> = per_event[..per_event.len() - 1]
        .iter()
        .filter_map(|e| e.0)
        .collect();
    let Some(current) = per_event[per_event.len() - 1].0 else {
        acc.record(col, plan, None, Outcome::NoCurrent);
        return;
    };
    // The adaptive fallback averages every historical sample (the seed's).
    let fallback: Option<Vec<f64>> = match plan.method {
        Method::Adaptive { .. } if hist.len() < 4 => Some(
            data[start * event..cur * event]
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect(),
        ),
        _ => None,
    };
    let v = judge(
        &hist,
        fallback.as_deref(),
        current,
        plan.direction,
        &plan.method,
        &mut Scratch::default(),
    );
    let history_points = cur - start;
    acc.record(col, plan, None, outcome(v, plan, history_points));
}

/// The outcome of a verdict on a series with `history_points` events
/// since its birth.
fn outcome(v: Verdict, plan: &Plan, history_points: usize) -> Outcome {
    match v.status {
        Status::NotEnoughHistory => Outcome::NotEnough,
        Status::Ok | Status::Regressed => Outcome::Tested {
            p: v.p_value,
            young: plan.method.needs_history() && history_points < plan.min_history,
            history_points,
            regressed: v.regressed().then(|| Box::new(v)),
        },
    }
}

fn per_cell(col: &Column, data: &[f64], layout: &Layout, start: usize, plan: &Plan, acc: &mut Acc) {
    let (t_len, g_len, r_len) = (layout.events, layout.cells, layout.repeats);
    let cur = t_len - 1;
    let span = t_len - start;
    let chunk = (CHUNK_SAMPLES / r_len).clamp(8, 512);
    let chunks: Vec<(usize, usize)> = (0..g_len)
        .step_by(chunk)
        .map(|g0| (g0, (g0 + chunk).min(g_len)))
        .collect();
    let results: Vec<(Vec<Outcome>, usize)> = chunks
        .par_iter()
        .map_init(
            || (Scratch::default(), Vec::new()),
            |(s, means), &(g0, g1)| {
                let width = g1 - g0;
                // means[c * span + (t - start)]: each cell's per-event mean.
                // means[c * span + (t - start)]: each cell's series. (The 4 KB
                // rows of `data` are read in order; the writes go to one cache
                // line per cell at a time, which stay in L1.)
                means.clear();
                means.resize(width * span, f64::NAN);
                let mut skipped = 0;
                let mut buf = Vec::with_capacity(r_len);
                for t in start..t_len {
                    if !plan.method.needs_history() && t != cur {
                        continue;
                    }
                    let base = (t * g_len + g0) * r_len;
                    let row = &data[base..base + width * r_len];
                    for (c, samples) in row.chunks_exact(r_len).enumerate() {
                        let (mean, n, inf) = finite_mean(samples, &mut buf);
                        skipped += inf;
                        if n > 0 && !mean.is_finite() {
                            skipped += 1;
                        }
                        means[c * span + (t - start)] = mean;
                    }
                }
                let mut out = Vec::with_capacity(width);
                let mut hist = Vec::with_capacity(span);
                for c in 0..width {
                    let series = &means[c * span..(c + 1) * span];
                    let current = series[span - 1];
                    if !current.is_finite() {
                        out.push(Outcome::NoCurrent);
                        continue;
                    }
                    hist.clear();
                    hist.extend(series[..span - 1].iter().copied().filter(|m| m.is_finite()));
                    let cell_first = series[..span - 1].iter().position(|m| m.is_finite());
                    let fallback: Option<Vec<f64>> = match plan.method {
                        Method::Adaptive { .. } if hist.len() < 4 => {
                            let g = g0 + c;
                            let mut f = Vec::new();
                            for t in start..cur {
                                let base = (t * g_len + g) * r_len;
                                f.extend(
                                    data[base..base + r_len]
                                        .iter()
                                        .copied()
                                        .filter(|v| v.is_finite()),
                                );
                            }
                            Some(f)
                        }
                        _ => None,
                    };
                    let v = judge(
                        &hist,
                        fallback.as_deref(),
                        current,
                        plan.direction,
                        &plan.method,
                        s,
                    );
                    // The cell is born at its first value, if after the column.
                    let history_points = cell_first.map_or(0, |f| span - 1 - f);
                    out.push(outcome(v, plan, history_points));
                }
                (out, skipped)
            },
        )
        .collect();
    for ((g0, _), (outs, skipped)) in chunks.iter().zip(results) {
        acc.skipped += skipped;
        for (c, o) in outs.into_iter().enumerate() {
            acc.record(col, plan, Some(g0 + c), o);
        }
    }
}
