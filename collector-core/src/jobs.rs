//! Setting up a run: the empty dataset, and the lazy, row-major job iterator.

use smallvec::SmallVec;

use crate::dataset::{Column, Dataset, Dim, VarAttrs};
use crate::error::{Error, Result, unknown};
use crate::result::{Outputs, SweepResult};
use crate::sweep::{InputVar, OVER_TIME_DIM, REPEAT_DIM, ResultVar, Sweep, TimeSrc};
use crate::value::{Coords, Value};

/// An index tuple, one position per dim. Inline up to 8 dims.
pub type Index = SmallVec<[usize; 8]>;

/// What [`setup_dataset`] returns.
#[derive(Debug)]
pub struct Setup<'s> {
    /// The result with its dataset, every cell at its sentinel.
    pub result: SweepResult,
    /// The jobs, lazily, in row-major order.
    pub jobs: JobIter<'s>,
    /// The dim names: inputs, `repeat`, then `over_time` when history is kept.
    pub dims: Vec<String>,
    /// The number of jobs.
    pub total: usize,
}

/// Builds the empty dataset of a run and the lazy iterator over its jobs.
///
/// Dims are the inputs in declared order, then `repeat` (coordinates
/// `1..=repeats`), then `over_time` with the single coordinate of
/// `time_src` when the sweep keeps history. Every column starts at its
/// sentinel, with `units` and `long_name` metadata.
///
/// ```
/// use collector_core::{setup_dataset, InputVar, ResultVar, Sweep, TimeSrc};
/// let sweep = Sweep::builder("s")
///     .input(InputVar::int_range("n", 1, 3))
///     .result(ResultVar::float("t"))
///     .repeats(2)
///     .build()?;
/// let setup = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))?;
/// assert_eq!(setup.dims, ["n", "repeat"]);
/// assert_eq!(setup.total, 6);
/// let first: Vec<_> = setup.jobs.take(3).map(|j| j.index.to_vec()).collect();
/// assert_eq!(first, [vec![0, 0], vec![0, 1], vec![1, 0]]);
/// # Ok::<(), collector_core::Error>(())
/// ```
pub fn setup_dataset<'s>(sweep: &'s Sweep, time_src: &TimeSrc) -> Result<Setup<'s>> {
    let dataset = empty_dataset(sweep, time_src)?;
    let dims: Vec<String> = dataset.dims().iter().map(|d| d.name.clone()).collect();
    let shape = dataset.shape();
    let total = sweep.job_count();
    let result = SweepResult::new(sweep, dataset);
    Ok(Setup {
        result,
        jobs: JobIter::new(sweep, shape, total),
        dims,
        total,
    })
}

/// The metadata of an input's dim: its name, units and description.
fn input_attrs(var: &InputVar) -> VarAttrs {
    VarAttrs {
        long_name: var.name().to_string(),
        units: var.units_str().to_string(),
        description: var.description_str().to_string(),
    }
}

/// The metadata of one column of a result variable.
fn result_attrs(var: &ResultVar, column: &str) -> VarAttrs {
    VarAttrs {
        long_name: column.to_string(),
        units: var.units_str().to_string(),
        description: var.description_str().to_string(),
    }
}

/// Writes the declared `units`, `long_name` and `description` of the
/// sweep's inputs and results into the dataset's dims and columns, as
/// [`empty_dataset`] does (dims and columns the sweep does not declare are
/// left alone). For a dataset built elsewhere, or after a declaration's
/// display fields changed.
pub fn apply_declared_attrs(dataset: &mut Dataset, sweep: &Sweep) {
    for i in sweep.inputs() {
        if let Ok(a) = dataset.dim_attrs_mut(i.var.name()) {
            *a = input_attrs(&i.var);
        }
    }
    for r in sweep.results() {
        for name in r.column_names() {
            if let Ok(c) = dataset.column_mut(&name) {
                c.attrs = result_attrs(r, &name);
            }
        }
    }
}

/// The dataset of one run of `sweep`, every cell at its sentinel.
pub fn empty_dataset(sweep: &Sweep, time_src: &TimeSrc) -> Result<Dataset> {
    let mut dims: Vec<Dim> = sweep
        .inputs()
        .iter()
        .map(|i| Dim {
            name: i.var.name().to_string(),
            coords: i.values.clone(),
            attrs: input_attrs(&i.var),
        })
        .collect();
    #[allow(clippy::cast_possible_wrap, reason = "repeats fit the job count")]
    dims.push(Dim {
        name: REPEAT_DIM.into(),
        coords: Coords::Int((1..=sweep.repeats() as i64).collect()),
        attrs: VarAttrs {
            long_name: REPEAT_DIM.into(),
            units: String::new(),
            description: "repeat number, 1-based".into(),
        },
    });
    if sweep.over_time() {
        dims.push(Dim {
            name: OVER_TIME_DIM.into(),
            coords: time_src.coords(),
            attrs: VarAttrs {
                long_name: OVER_TIME_DIM.into(),
                units: String::new(),
                description: match time_src {
                    TimeSrc::Timestamp(_) => "run time, UTC".into(),
                    TimeSrc::Label(_) => "run event label".into(),
                },
            },
        });
    }
    let shape: Vec<usize> = dims.iter().map(Dim::len).collect();
    let mut columns = Vec::new();
    for r in sweep.results() {
        for name in r.column_names() {
            let mut c = Column::new_missing(name.clone(), r.name(), r.kind(), &shape);
            c.attrs = result_attrs(r, &name);
            columns.push(c);
        }
    }
    let mut attrs = std::collections::BTreeMap::new();
    attrs.insert(
        "sweep".into(),
        crate::dataset::AttrValue::Str(sweep.name().into()),
    );
    if !sweep.title().is_empty() {
        attrs.insert(
            "title".into(),
            crate::dataset::AttrValue::Str(sweep.title().into()),
        );
    }
    if !sweep.tag().is_empty() {
        attrs.insert(
            "tag".into(),
            crate::dataset::AttrValue::Str(sweep.tag().into()),
        );
    }
    if !sweep.version().is_empty() {
        attrs.insert(
            "version".into(),
            crate::dataset::AttrValue::Str(sweep.version().into()),
        );
    }
    Dataset::from_parts(dims, columns, attrs)
}

/// One job: its linear index, its index tuple and the values of every dim.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Position in row-major order; also the flat offset of its cells.
    pub linear: usize,
    /// One position per dim.
    pub index: Index,
    /// One value per input, then the repeat number (1-based).
    pub values: Vec<Value>,
}

/// The lazy iterator over the jobs of a run, row-major with the last dim
/// fastest. It holds one index tuple, never the product.
#[derive(Debug, Clone)]
pub struct JobIter<'s> {
    sweep: &'s Sweep,
    shape: Vec<usize>,
    next: usize,
    total: usize,
    index: Index,
}

impl<'s> JobIter<'s> {
    fn new(sweep: &'s Sweep, shape: Vec<usize>, total: usize) -> Self {
        let index = shape.iter().map(|_| 0).collect();
        JobIter {
            sweep,
            shape,
            next: 0,
            total,
            index,
        }
    }
}

impl Iterator for JobIter<'_> {
    type Item = Job;

    fn next(&mut self) -> Option<Job> {
        if self.next >= self.total {
            return None;
        }
        let index = self.index.clone();
        let values = index_values(self.sweep, &index);
        let job = Job {
            linear: self.next,
            index,
            values,
        };
        self.next += 1;
        // Odometer step: the last dim is the fastest.
        for d in (0..self.shape.len()).rev() {
            self.index[d] += 1;
            if self.index[d] < self.shape[d] {
                break;
            }
            self.index[d] = 0;
        }
        Some(job)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.total - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for JobIter<'_> {}

fn index_values(sweep: &Sweep, index: &[usize]) -> Vec<Value> {
    let mut v = Vec::with_capacity(index.len());
    for (i, inp) in sweep.inputs().iter().enumerate() {
        if let Some(x) = inp.values.get(index[i]) {
            v.push(x);
        }
    }
    let n = sweep.inputs().len();
    if let Some(r) = index.get(n) {
        #[allow(clippy::cast_possible_wrap, reason = "repeat < job count")]
        v.push(Value::Int(*r as i64 + 1));
    }
    v
}

/// Splits a linear job index into an index tuple over `shape`.
pub fn unravel(mut linear: usize, shape: &[usize]) -> Index {
    let mut idx: Index = shape.iter().map(|_| 0).collect();
    for d in (0..shape.len()).rev() {
        let n = shape[d].max(1);
        idx[d] = linear % n;
        linear /= n;
    }
    idx
}

/// Steps `idx` to the next index in row-major order over `shape` (the
/// last axis fastest), as [`unravel`] of the next linear index would give;
/// past the last index it wraps to all zeros.
///
/// ```
/// use collector_core::{step, unravel};
/// let shape = [3, 1, 4, 2];
/// let mut idx = unravel(0, &shape);
/// for linear in 1..=24 {
///     step(&mut idx, &shape);
///     assert_eq!(idx, unravel(linear % 24, &shape));
/// }
/// ```
pub fn step(idx: &mut [usize], shape: &[usize]) {
    for (i, &n) in idx.iter_mut().zip(shape).rev() {
        *i += 1;
        if *i < n.max(1) {
            return;
        }
        *i = 0;
    }
}

/// What a worker sees of one job: typed access to its inputs and constants.
///
/// ```
/// use collector_core::{setup_dataset, InputVar, ResultVar, Sweep, TimeSrc, Sample, ConstVar};
/// let sweep = Sweep::builder("s")
///     .input(InputVar::float_values("theta", [0.5]))
///     .constant(ConstVar::new("mode", "fast"))
///     .result(ResultVar::float("t"))
///     .build()?;
/// let sample = Sample::new(&sweep, 0);
/// assert_eq!(sample.get::<f64>("theta")?, 0.5);
/// assert_eq!(sample.get::<String>("mode")?, "fast");
/// assert_eq!(sample.repeat(), 1);
/// assert!(sample.get::<i64>("theta").is_err());
/// # Ok::<(), collector_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Sample<'s> {
    sweep: &'s Sweep,
    linear: usize,
    index: Index,
}

impl<'s> Sample<'s> {
    /// The sample of job `linear` of `sweep`.
    pub fn new(sweep: &'s Sweep, linear: usize) -> Self {
        Sample {
            sweep,
            linear,
            index: unravel(linear, sweep.shape()),
        }
    }

    /// The job's linear index.
    pub fn job(&self) -> usize {
        self.linear
    }

    /// The job's index tuple over the inputs and `repeat`.
    pub fn index(&self) -> &[usize] {
        &self.index
    }

    /// The repeat number, 1-based.
    pub fn repeat(&self) -> usize {
        self.index
            .get(self.sweep.inputs().len())
            .map_or(1, |r| r + 1)
    }

    /// The sweep this job belongs to.
    pub fn sweep(&self) -> &'s Sweep {
        self.sweep
    }

    /// The value of input or constant `name`, of type `T` (`f64`, `i64`,
    /// `bool`, `String`). A wrong name or kind is an error that names it.
    pub fn get<T: FromValue>(&self, name: &str) -> Result<T> {
        let v = self.value(name)?;
        T::from_value(&v).ok_or_else(|| Error::WrongKind {
            name: name.to_string(),
            expected: T::KIND.to_string(),
            found: v.kind_name().to_string(),
        })
    }

    /// The value of input or constant `name`.
    pub fn value(&self, name: &str) -> Result<Value> {
        if let Some(p) = self
            .sweep
            .inputs()
            .iter()
            .position(|i| i.var.name() == name)
            && let Some(v) = self.sweep.inputs()[p].values.get(self.index[p])
        {
            return Ok(v);
        }
        if let Some(c) = self.sweep.constants().iter().find(|c| c.name == name) {
            return Ok(c.value.clone());
        }
        if name == REPEAT_DIM {
            #[allow(clippy::cast_possible_wrap, reason = "repeat < job count")]
            return Ok(Value::Int(self.repeat() as i64));
        }
        let known: Vec<&str> = self
            .sweep
            .inputs()
            .iter()
            .map(|i| i.var.name())
            .chain(self.sweep.constants().iter().map(|c| c.name.as_str()))
            .collect();
        Err(unknown("input", name, &known))
    }

    /// The inputs of this job (and `repeat`), as `(name, value)` pairs.
    pub fn inputs(&self) -> Vec<(String, Value)> {
        job_inputs(self.sweep, &self.index)
    }

    /// An empty set of outputs for this job's sweep.
    pub fn outputs(&self) -> Outputs {
        Outputs::for_sweep(self.sweep)
    }
}

pub(crate) fn job_inputs(sweep: &Sweep, index: &[usize]) -> Vec<(String, Value)> {
    let mut names: Vec<String> = sweep
        .inputs()
        .iter()
        .map(|i| i.var.name().to_string())
        .collect();
    names.push(REPEAT_DIM.into());
    names.into_iter().zip(index_values(sweep, index)).collect()
}

/// Conversion from a [`Value`] for [`Sample::get`].
pub trait FromValue: Sized {
    /// The kind's name, for messages.
    const KIND: &'static str;
    /// The converted value, or `None` for another kind.
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for f64 {
    const KIND: &'static str = "float";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }
}
impl FromValue for i64 {
    const KIND: &'static str = "int";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(x) => Some(*x),
            _ => None,
        }
    }
}
impl FromValue for bool {
    const KIND: &'static str = "bool";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Bool(x) => Some(*x),
            _ => None,
        }
    }
}
impl FromValue for String {
    const KIND: &'static str = "string";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Str(x) => Some(x.clone()),
            _ => None,
        }
    }
}
impl FromValue for Value {
    const KIND: &'static str = "any";
    fn from_value(v: &Value) -> Option<Self> {
        Some(v.clone())
    }
}

/// Formats inputs as `a=0.5, b=3, repeat=1`.
pub fn format_inputs(inputs: &[(String, Value)]) -> String {
    inputs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
