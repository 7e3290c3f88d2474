//! A run's result, what a worker returns, and storing it into the dataset.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::dataset::{ColumnData, Dataset};
use crate::error::{Error, Result};
use crate::jobrec::{JobRecord, RecordedCell, RecordedOutcome};
use crate::jobs::{format_inputs, job_inputs, unravel};
use crate::sweep::{FailThreshold, ResultKind, Sweep};
use crate::value::Value;

/// One result value returned by a worker.
pub enum ResultValue {
    /// A float.
    Float(f64),
    /// An integer; accepted by float results when exactly representable.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A vector (inline up to 4 components: no allocation for vec(3)).
    Vec(SmallVec<[f64; 4]>),
    /// Text: a string, a media path or a blob name.
    Text(String),
    /// An in-memory object, for reference results.
    Object(Box<dyn Any + Send + Sync>),
}

impl ResultValue {
    fn kind_name(&self) -> String {
        match self {
            ResultValue::Float(_) => "float".into(),
            ResultValue::Int(_) => "int".into(),
            ResultValue::Bool(_) => "bool".into(),
            ResultValue::Vec(v) => format!("vec({})", v.len()),
            ResultValue::Text(_) => "text".into(),
            ResultValue::Object(_) => "object".into(),
        }
    }
}

impl fmt::Debug for ResultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultValue::Float(v) => write!(f, "Float({v})"),
            ResultValue::Int(v) => write!(f, "Int({v})"),
            ResultValue::Bool(v) => write!(f, "Bool({v})"),
            ResultValue::Vec(v) => write!(f, "Vec({:?})", v.as_slice()),
            ResultValue::Text(v) => write!(f, "Text({v:?})"),
            ResultValue::Object(_) => write!(f, "Object(..)"),
        }
    }
}

impl From<f64> for ResultValue {
    fn from(v: f64) -> Self {
        ResultValue::Float(v)
    }
}
impl From<f32> for ResultValue {
    fn from(v: f32) -> Self {
        ResultValue::Float(v.into())
    }
}
impl From<i64> for ResultValue {
    fn from(v: i64) -> Self {
        ResultValue::Int(v)
    }
}
impl From<bool> for ResultValue {
    fn from(v: bool) -> Self {
        ResultValue::Bool(v)
    }
}
impl From<&[f64]> for ResultValue {
    fn from(v: &[f64]) -> Self {
        ResultValue::Vec(SmallVec::from_slice(v))
    }
}
impl<const N: usize> From<[f64; N]> for ResultValue {
    fn from(v: [f64; N]) -> Self {
        ResultValue::Vec(SmallVec::from_slice(&v))
    }
}
impl From<Vec<f64>> for ResultValue {
    fn from(v: Vec<f64>) -> Self {
        ResultValue::Vec(SmallVec::from_vec(v))
    }
}
impl From<String> for ResultValue {
    fn from(v: String) -> Self {
        ResultValue::Text(v)
    }
}
impl From<&str> for ResultValue {
    fn from(v: &str) -> Self {
        ResultValue::Text(v.to_string())
    }
}
impl From<std::path::PathBuf> for ResultValue {
    fn from(v: std::path::PathBuf) -> Self {
        ResultValue::Text(v.to_string_lossy().into_owned())
    }
}
impl From<&std::path::Path> for ResultValue {
    fn from(v: &std::path::Path) -> Self {
        ResultValue::Text(v.to_string_lossy().into_owned())
    }
}

/// What one job produced: one optional value per result variable, by
/// position. Set values by name or, on hot paths, by slot
/// ([`Sweep::result_slot`]).
///
/// Setting an undeclared name does not fail the worker: it is recorded and
/// the job is reported as a contract violation when stored.
#[derive(Debug)]
pub struct Outputs {
    names: &'static [String],
    // Numbers live inline in the slots and vec components in `nums`, so a
    // job of numeric results never allocates and moves few bytes.
    slots: SmallVec<[Slot; 6]>,
    nums: SmallVec<[f64; 4]>,
    // Text, objects and contract violations: boxed, so that purely numeric
    // outputs stay small and never allocate.
    extra: Option<Box<Extra>>,
}

#[derive(Debug, Default)]
struct Extra {
    heap: Vec<ResultValue>,
    unknown: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Unset,
    Float(f64),
    Int(i64),
    Bool(bool),
    Vec { off: u32, len: u32 },
    Heap(u32),
}

impl Outputs {
    /// Empty outputs for `sweep`. Prefer [`crate::Sample::outputs`] in a worker.
    pub fn for_sweep(sweep: &Sweep) -> Self {
        let names = sweep.result_names();
        let n = names.len();
        Outputs {
            names,
            slots: SmallVec::from_elem(Slot::Unset, n),
            nums: SmallVec::new(),
            extra: None,
        }
    }

    /// Sets result `name`. An undeclared name is kept as a violation.
    pub fn set(&mut self, name: &str, value: impl Into<ResultValue>) -> &mut Self {
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.put(i, value.into()),
            None => self.extra().unknown.push(name.to_string()),
        }
        self
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Sets the result at position `slot` (see [`Sweep::result_slot`]).
    pub fn set_slot(&mut self, slot: usize, value: impl Into<ResultValue>) -> &mut Self {
        if slot < self.slots.len() {
            self.put(slot, value.into());
        } else {
            self.extra().unknown.push(format!("#{slot}"));
        }
        self
    }

    #[inline]
    fn put(&mut self, i: usize, value: ResultValue) {
        self.slots[i] = match value {
            ResultValue::Float(x) => Slot::Float(x),
            ResultValue::Int(x) => Slot::Int(x),
            ResultValue::Bool(x) => Slot::Bool(x),
            ResultValue::Vec(v) => {
                let (Ok(off), Ok(len)) = (u32::try_from(self.nums.len()), u32::try_from(v.len()))
                else {
                    let msg = format!("{} (vec too long)", self.names[i]);
                    self.extra().unknown.push(msg);
                    return;
                };
                self.nums.extend_from_slice(&v);
                Slot::Vec { off, len }
            }
            other => {
                let extra = self.extra.get_or_insert_with(Box::default);
                let Ok(at) = u32::try_from(extra.heap.len()) else {
                    extra
                        .unknown
                        .push(format!("{} (too many values)", self.names[i]));
                    return;
                };
                extra.heap.push(other);
                Slot::Heap(at)
            }
        };
    }

    /// Builder form of [`set`](Self::set).
    pub fn with(mut self, name: &str, value: impl Into<ResultValue>) -> Self {
        self.set(name, value);
        self
    }

    /// Whether the result at `slot` was set.
    pub fn is_set(&self, slot: usize) -> bool {
        self.slots
            .get(slot)
            .is_some_and(|s| !matches!(s, Slot::Unset))
    }
}

/// How a job failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FailureKind {
    /// The worker returned an error.
    Error,
    /// The worker panicked.
    Panic,
    /// The worker broke the result contract (missing result, wrong kind,
    /// wrong vec length, undeclared name).
    Contract,
}

/// One failed job, kept with the result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleFailure {
    /// The job's linear index.
    pub job: usize,
    /// The job's inputs and repeat.
    pub inputs: Vec<(String, Value)>,
    /// How it failed.
    pub kind: FailureKind,
    /// What happened.
    pub message: String,
}

impl fmt::Display for SampleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "job {} ({}): {:?}: {}",
            self.job,
            format_inputs(&self.inputs),
            self.kind,
            self.message
        )
    }
}

/// Counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunStats {
    /// Jobs whose worker ran (or whose result was stored).
    pub attempted: usize,
    /// Jobs that failed.
    pub failed: usize,
}

impl RunStats {
    /// `failed / attempted`, 0 when nothing ran.
    pub fn failed_fraction(&self) -> f64 {
        if self.attempted == 0 {
            0.0
        } else {
            #[allow(clippy::cast_precision_loss, reason = "a ratio")]
            let f = self.failed as f64 / self.attempted as f64;
            f
        }
    }

    /// Whether these counters cross `threshold`.
    pub fn crosses(&self, threshold: FailThreshold) -> bool {
        match threshold {
            FailThreshold::Any => self.failed > 0,
            FailThreshold::Fraction(f) => self.failed_fraction() > f,
        }
    }
}

/// A run's dataset with its failures, counters and in-memory objects.
pub struct SweepResult {
    /// The dataset.
    pub dataset: Dataset,
    /// Failed jobs, in job order.
    pub failures: Vec<SampleFailure>,
    /// Counters.
    pub stats: RunStats,
    /// Objects of reference results; reference cells index into this list.
    /// Never persisted.
    pub objects: Vec<Box<dyn Any + Send + Sync>>,
    sweep: Arc<Sweep>,
    layout: Arc<[VarLayout]>,
}

impl fmt::Debug for SweepResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SweepResult")
            .field("dataset", &self.dataset)
            .field("failures", &self.failures)
            .field("stats", &self.stats)
            .field("objects", &self.objects.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
struct VarLayout {
    kind: ResultKind,
    first_col: usize,
}

impl SweepResult {
    /// A result over `dataset`, whose columns must be those of `sweep`'s
    /// results, in order.
    pub fn new(sweep: &Sweep, dataset: Dataset) -> Self {
        let mut layout = Vec::with_capacity(sweep.results().len());
        let mut col = 0;
        for r in sweep.results() {
            layout.push(VarLayout {
                kind: r.kind(),
                first_col: col,
            });
            col += r.kind().width();
        }
        SweepResult {
            dataset,
            failures: Vec::new(),
            stats: RunStats::default(),
            objects: Vec::new(),
            sweep: Arc::new(sweep.clone()),
            layout: layout.into(),
        }
    }

    /// The sweep this result belongs to.
    pub fn sweep(&self) -> &Sweep {
        &self.sweep
    }

    pub(crate) fn sweep_arc(&self) -> Arc<Sweep> {
        Arc::clone(&self.sweep)
    }

    /// Whether every attempted job succeeded and every job was attempted.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty() && self.stats.attempted == self.sweep.job_count()
    }

    /// Checks the sweep's `fail_on_sample_error` threshold.
    pub fn check_failures(&self) -> Result<()> {
        match self.sweep.fail_threshold() {
            Some(t) if self.stats.crosses(t) => Err(Error::TooManyFailures {
                sweep: self.sweep.name().to_string(),
                failed: self.stats.failed,
                attempted: self.stats.attempted,
                threshold: match t {
                    FailThreshold::Any => "fail_on_sample_error: any".into(),
                    FailThreshold::Fraction(f) => format!("fail_on_sample_error: fraction > {f}"),
                },
            }),
            _ => Ok(()),
        }
    }

    /// Stores one job's outputs (bencher's `store_results`). Returns the
    /// contract violation recorded for it, if any.
    pub fn store_results(&mut self, job: usize, outputs: Outputs) -> Option<&SampleFailure> {
        let failed = self.writer().store(job, outputs);
        if failed { self.failures.last() } else { None }
    }

    /// Records a failed job: its cells stay at their sentinels.
    pub fn record_failure(&mut self, job: usize, kind: FailureKind, message: String) {
        self.writer().fail(job, kind, message);
    }

    /// Whether a job record fits this result: a success holds one cell
    /// per column, each of the column's storage (a sweep with a reference
    /// result never fits: its objects are not recorded); a failure always
    /// fits.
    pub fn record_fits(&self, record: &JobRecord) -> bool {
        match &record.outcome {
            RecordedOutcome::Failed { .. } => true,
            RecordedOutcome::Done(cells) => {
                let cols = self.dataset.columns();
                cols.len() == cells.len()
                    && cols.iter().zip(cells).all(|(c, x)| {
                        matches!(
                            (&c.data, x),
                            (ColumnData::F64(_), RecordedCell::F64(_))
                                | (
                                    ColumnData::Text(_),
                                    RecordedCell::Text(_)
                                        | RecordedCell::Media(_)
                                        | RecordedCell::Blob(_)
                                )
                        )
                    })
            }
        }
    }

    /// A writer that holds every column as a plain slice, for storing many
    /// jobs with no per-job lookups (like bencher's `precompute_result_arrays`).
    pub fn writer(&mut self) -> Writer<'_> {
        let (_, columns) = self.dataset.split_mut();
        let cols = columns
            .iter_mut()
            .map(|c| match &mut c.data {
                ColumnData::F64(a) => a.as_slice_mut().map(ColSlice::F64),
                ColumnData::I64(a) => a.as_slice_mut().map(ColSlice::I64),
                ColumnData::Text(a) => a.as_slice_mut().map(ColSlice::Text),
            })
            .map(|s| s.unwrap_or(ColSlice::Unavailable))
            .collect();
        Writer {
            total: self.sweep.job_count(),
            cols,
            layout: &self.layout,
            sweep: &self.sweep,
            failures: &mut self.failures,
            stats: &mut self.stats,
            objects: &mut self.objects,
        }
    }
}

/// Whether recorded `cells` fit `cols`: one per column, of its storage.
fn cells_fit(cols: &[ColSlice<'_>], cells: &[RecordedCell]) -> bool {
    cols.len() == cells.len()
        && cols.iter().zip(cells).all(|(c, x)| {
            matches!(
                (c, x),
                (ColSlice::F64(_), RecordedCell::F64(_))
                    | (
                        ColSlice::Text(_),
                        RecordedCell::Text(_) | RecordedCell::Media(_) | RecordedCell::Blob(_)
                    )
            )
        })
}

enum ColSlice<'a> {
    F64(&'a mut [f64]),
    I64(&'a mut [i64]),
    Text(&'a mut [String]),
    /// A column not in standard layout (never for datasets built here).
    Unavailable,
}

/// Stores job outputs straight into the column arrays. See
/// [`SweepResult::writer`].
pub struct Writer<'a> {
    total: usize,
    cols: Vec<ColSlice<'a>>,
    layout: &'a [VarLayout],
    sweep: &'a Sweep,
    failures: &'a mut Vec<SampleFailure>,
    stats: &'a mut RunStats,
    objects: &'a mut Vec<Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer<'_> {
    /// Stores job `job`'s outputs into its cells. Every valid value is
    /// written; violations (a missing result, a wrong kind, a vec of the
    /// wrong length, an undeclared name, a job outside the grid) are
    /// recorded as one failure of that job. Returns whether it failed.
    #[inline]
    pub fn store(&mut self, job: usize, outputs: Outputs) -> bool {
        self.stats.attempted += 1;
        if job >= self.total {
            let msg = format!("job index {job} is outside the grid of {} jobs", self.total);
            return self.finish_failure(job, vec![msg]);
        }
        let Outputs {
            slots, nums, extra, ..
        } = outputs;
        let (mut heap, mut problems) = match extra {
            None => (Vec::new(), Vec::new()),
            Some(e) => {
                let Extra { heap, unknown } = *e;
                let problems = unknown
                    .into_iter()
                    .map(|name| format!("result `{name}` is not declared"))
                    .collect();
                (heap, problems)
            }
        };
        for (i, (slot, lay)) in slots.iter().zip(self.layout).enumerate() {
            let value = match *slot {
                Slot::Float(x) if lay.kind == ResultKind::Float => {
                    if let Err(m) = self.put_f64(lay.first_col, job, x) {
                        problems.push(format!("result `{}`: {m}", self.sweep.results()[i].name()));
                    }
                    continue;
                }
                Slot::Vec { off, len } if lay.kind == ResultKind::Vec(len as usize) => {
                    let (off, len) = (off as usize, len as usize);
                    for (k, x) in nums[off..off + len].iter().enumerate() {
                        if let Err(m) = self.put_f64(lay.first_col + k, job, *x) {
                            problems
                                .push(format!("result `{}`: {m}", self.sweep.results()[i].name()));
                        }
                    }
                    continue;
                }
                Slot::Unset => {
                    problems.push(format!(
                        "result `{}` was not set",
                        self.sweep.results()[i].name()
                    ));
                    continue;
                }
                Slot::Float(x) => ResultValue::Float(x),
                Slot::Int(x) => ResultValue::Int(x),
                Slot::Bool(x) => ResultValue::Bool(x),
                Slot::Vec { off, len } => ResultValue::Vec(SmallVec::from_slice(
                    &nums[off as usize..(off + len) as usize],
                )),
                Slot::Heap(at) => {
                    std::mem::replace(&mut heap[at as usize], ResultValue::Bool(false))
                }
            };
            if let Err(msg) = self.put(*lay, job, value) {
                problems.push(format!(
                    "result `{}`: {msg}",
                    self.sweep.results()[i].name()
                ));
            }
        }
        if problems.is_empty() {
            false
        } else {
            self.finish_failure(job, problems)
        }
    }

    fn put(
        &mut self,
        lay: VarLayout,
        job: usize,
        value: ResultValue,
    ) -> std::result::Result<(), String> {
        let wrong =
            |v: &ResultValue| format!("expected {}, got {}", lay.kind.name(), v.kind_name());
        match (lay.kind, value) {
            (ResultKind::Float, ResultValue::Float(x)) => self.put_f64(lay.first_col, job, x),
            (ResultKind::Float, ResultValue::Int(x)) => {
                #[allow(clippy::cast_precision_loss, reason = "checked to round-trip below")]
                let f = x as f64;
                #[allow(clippy::cast_possible_truncation, reason = "round-trip check")]
                if f as i64 != x || f.abs() > 9_007_199_254_740_992.0 {
                    return Err(format!("int {x} is not exactly representable as a float"));
                }
                self.put_f64(lay.first_col, job, f)
            }
            (ResultKind::Bool, ResultValue::Bool(b)) => {
                self.put_f64(lay.first_col, job, if b { 1.0 } else { 0.0 })
            }
            (ResultKind::Vec(n), ResultValue::Vec(v)) => {
                if v.len() != n {
                    return Err(format!("expected {n} components, got {}", v.len()));
                }
                for (k, x) in v.iter().enumerate() {
                    self.put_f64(lay.first_col + k, job, *x)?;
                }
                Ok(())
            }
            (
                ResultKind::String
                | ResultKind::Path
                | ResultKind::Image
                | ResultKind::Video
                | ResultKind::Recording
                | ResultKind::Blob,
                ResultValue::Text(s),
            ) => match self.cols.get_mut(lay.first_col) {
                Some(ColSlice::Text(c)) => match c.get_mut(job) {
                    Some(cell) => {
                        *cell = s;
                        Ok(())
                    }
                    None => Err(format!("job {job} is outside the column")),
                },
                _ => Err("column is not text".into()),
            },
            (ResultKind::Reference, ResultValue::Object(o)) => match self
                .cols
                .get_mut(lay.first_col)
            {
                Some(ColSlice::I64(c)) => match c.get_mut(job) {
                    Some(cell) => {
                        #[allow(clippy::cast_possible_wrap, reason = "object count < isize::MAX")]
                        let idx = self.objects.len() as i64;
                        self.objects.push(o);
                        *cell = idx;
                        Ok(())
                    }
                    None => Err(format!("job {job} is outside the column")),
                },
                _ => Err("column is not an index column".into()),
            },
            (_, v) => Err(wrong(&v)),
        }
    }

    #[inline(always)]
    fn put_f64(&mut self, col: usize, job: usize, x: f64) -> std::result::Result<(), String> {
        match self.cols.get_mut(col) {
            Some(ColSlice::F64(c)) => match c.get_mut(job) {
                Some(cell) => {
                    *cell = x;
                    Ok(())
                }
                None => Err(format!("job {job} is outside the column")),
            },
            _ => Err("column is not a float column".into()),
        }
    }

    /// Stores a recorded job's cells (one per column, in column order)
    /// into its cells. Returns `false`, storing nothing, when they do not
    /// fit the columns (see [`SweepResult::record_fits`]).
    pub fn restore(&mut self, job: usize, cells: &[RecordedCell]) -> bool {
        if job >= self.total || !cells_fit(&self.cols, cells) {
            return false;
        }
        self.stats.attempted += 1;
        for (col, cell) in self.cols.iter_mut().zip(cells) {
            match (col, cell) {
                (ColSlice::F64(c), RecordedCell::F64(x)) => c[job] = *x,
                (ColSlice::Text(c), cell) => {
                    if let Some(t) = cell.text() {
                        c[job].clear();
                        c[job].push_str(t);
                    }
                }
                _ => {}
            }
        }
        true
    }

    /// Records job `job` as failed without storing anything.
    pub fn fail(&mut self, job: usize, kind: FailureKind, message: String) {
        self.stats.attempted += 1;
        self.push_failure(job, kind, message);
    }

    fn finish_failure(&mut self, job: usize, problems: Vec<String>) -> bool {
        self.push_failure(job, FailureKind::Contract, problems.join("; "));
        true
    }

    fn push_failure(&mut self, job: usize, kind: FailureKind, message: String) {
        self.stats.failed += 1;
        let inputs = if job < self.sweep.job_count() {
            job_inputs(self.sweep, &unravel(job, self.sweep.shape()))
        } else {
            Vec::new()
        };
        self.failures.push(SampleFailure {
            job,
            inputs,
            kind,
            message,
        });
    }
}
