//! Declaring a sweep: input, result and constant variables, repeats, tag,
//! history and failure policies.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, invalid_var};
use crate::value::{Coords, Value};

/// The names of the two meta dims, reserved for every sweep.
pub const REPEAT_DIM: &str = "repeat";
/// See [`REPEAT_DIM`].
pub const OVER_TIME_DIM: &str = "over_time";

/// How the sample values of an input variable are given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum InputSpec {
    FloatValues(Vec<f64>),
    FloatSamples {
        lo: f64,
        hi: f64,
        samples: usize,
    },
    FloatStep {
        lo: f64,
        hi: f64,
        step: f64,
    },
    IntValues(Vec<i64>),
    IntRange {
        lo: i64,
        hi: i64,
        samples: Option<usize>,
    },
    Labels {
        labels: Vec<String>,
        samples: Option<usize>,
    },
    Bool {
        default: bool,
    },
}

/// An input variable: one dim of the sweep.
///
/// ```
/// use collector_core::InputVar;
/// let a = InputVar::float_samples("a", 0.0, 1.0, 5).units("s");
/// assert_eq!(a.resolve().unwrap().len(), 5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputVar {
    name: String,
    units: String,
    description: String,
    spec: InputSpec,
}

impl InputVar {
    fn new(name: impl Into<String>, spec: InputSpec) -> Self {
        InputVar {
            name: name.into(),
            units: String::new(),
            description: String::new(),
            spec,
        }
    }

    /// A float input with explicit values.
    pub fn float_values(name: impl Into<String>, values: impl Into<Vec<f64>>) -> Self {
        Self::new(name, InputSpec::FloatValues(values.into()))
    }

    /// A float input with `samples` evenly spaced values from `lo` to `hi`,
    /// both ends included (`lo == hi` gives `[lo]`).
    pub fn float_samples(name: impl Into<String>, lo: f64, hi: f64, samples: usize) -> Self {
        Self::new(name, InputSpec::FloatSamples { lo, hi, samples })
    }

    /// A float input `lo, lo + step, …` strictly below `hi`.
    pub fn float_step(name: impl Into<String>, lo: f64, hi: f64, step: f64) -> Self {
        Self::new(name, InputSpec::FloatStep { lo, hi, step })
    }

    /// An int input with explicit values.
    pub fn int_values(name: impl Into<String>, values: impl Into<Vec<i64>>) -> Self {
        Self::new(name, InputSpec::IntValues(values.into()))
    }

    /// An int input taking every integer in `lo..=hi`.
    pub fn int_range(name: impl Into<String>, lo: i64, hi: i64) -> Self {
        Self::new(
            name,
            InputSpec::IntRange {
                lo,
                hi,
                samples: None,
            },
        )
    }

    /// An int input over `lo..=hi` sub-sampled to `samples` values, taking
    /// indices `floor(linspace(0, len - 1, samples))`. A `samples` larger
    /// than the range takes every integer once.
    pub fn int_samples(name: impl Into<String>, lo: i64, hi: i64, samples: usize) -> Self {
        Self::new(
            name,
            InputSpec::IntRange {
                lo,
                hi,
                samples: Some(samples),
            },
        )
    }

    /// An enum or string input with the given labels.
    pub fn labels<S: Into<String>>(
        name: impl Into<String>,
        labels: impl IntoIterator<Item = S>,
    ) -> Self {
        Self::new(
            name,
            InputSpec::Labels {
                labels: labels.into_iter().map(Into::into).collect(),
                samples: None,
            },
        )
    }

    /// A bool input: `[false, true]`, or `[true, false]` when `default` is true.
    pub fn boolean(name: impl Into<String>, default: bool) -> Self {
        Self::new(name, InputSpec::Bool { default })
    }

    /// Sub-samples an int range or a label list to `samples` values.
    /// Ignored by other kinds (float bounds take their count at construction).
    pub fn samples(mut self, n: usize) -> Self {
        match &mut self.spec {
            InputSpec::IntRange { samples, .. } | InputSpec::Labels { samples, .. } => {
                *samples = Some(n)
            }
            InputSpec::FloatSamples { samples, .. } => *samples = n,
            _ => {}
        }
        self
    }

    /// Sets the units.
    pub fn units(mut self, units: impl Into<String>) -> Self {
        self.units = units.into();
        self
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// The variable's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The variable's units ("" when none).
    pub fn units_str(&self) -> &str {
        &self.units
    }

    /// The variable's description ("" when none).
    pub fn description_str(&self) -> &str {
        &self.description
    }

    /// The concrete sample values, or a clear error for a bad declaration.
    pub fn resolve(&self) -> Result<Coords> {
        let name = self.name.as_str();
        let coords = match &self.spec {
            InputSpec::FloatValues(v) => {
                if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                    return Err(invalid_var(name, format!("value {x} is not finite")));
                }
                Coords::Float(v.clone())
            }
            InputSpec::FloatSamples { lo, hi, samples } => {
                check_bounds(name, *lo, *hi)?;
                if *samples == 0 {
                    return Err(invalid_var(name, "samples must be at least 1"));
                }
                // Checked before `linspace` allocates them.
                if *samples > MAX_STEP_VALUES && lo != hi {
                    return Err(invalid_var(
                        name,
                        format!("{samples} samples is more than {MAX_STEP_VALUES} values"),
                    ));
                }
                Coords::Float(linspace(*lo, *hi, *samples))
            }
            InputSpec::FloatStep { lo, hi, step } => {
                check_bounds(name, *lo, *hi)?;
                if !(step.is_finite() && *step > 0.0) {
                    return Err(invalid_var(
                        name,
                        format!("step {step} must be finite and > 0"),
                    ));
                }
                // Refused before a value is pushed, not after 100 M of them.
                #[allow(clippy::cast_precision_loss, reason = "a bound")]
                if (hi - lo) / step > MAX_STEP_VALUES as f64 {
                    return Err(invalid_var(
                        name,
                        format!(
                            "step {step} over [{lo}, {hi}] gives more than {MAX_STEP_VALUES} values"
                        ),
                    ));
                }
                let mut v = Vec::new();
                for i in 0usize.. {
                    #[allow(clippy::cast_precision_loss, reason = "index of a float grid")]
                    let x = lo + step * i as f64;
                    if x >= *hi && !(i == 0 && lo == hi) {
                        break;
                    }
                    v.push(x);
                    if v.len() > MAX_STEP_VALUES {
                        return Err(invalid_var(
                            name,
                            format!(
                                "step {step} over [{lo}, {hi}] gives more than {MAX_STEP_VALUES} values"
                            ),
                        ));
                    }
                }
                Coords::Float(v)
            }
            InputSpec::IntValues(v) => Coords::Int(v.clone()),
            InputSpec::IntRange { lo, hi, samples } => {
                if lo > hi {
                    return Err(invalid_var(
                        name,
                        format!("bounds [{lo}, {hi}] are inverted"),
                    ));
                }
                // Up to 2^64 values (the whole i64 range): u128.
                let len = u128::from(hi.abs_diff(*lo)) + 1;
                if len > MAX_STEP_VALUES as u128 && samples.is_none_or(|s| s > MAX_STEP_VALUES) {
                    return Err(invalid_var(
                        name,
                        format!("range [{lo}, {hi}] is too large; give `samples`"),
                    ));
                }
                let idx = subsample(name, len, *samples)?;
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_possible_wrap,
                    reason = "idx < len: lo + idx is in the range, taken modulo 2^64"
                )]
                Coords::Int(
                    idx.into_iter()
                        .map(|i| lo.wrapping_add(i as u64 as i64))
                        .collect(),
                )
            }
            InputSpec::Labels { labels, samples } => {
                let idx = subsample(name, labels.len() as u128, *samples)?;
                #[allow(clippy::cast_possible_truncation, reason = "idx < labels.len()")]
                Coords::Str(
                    idx.into_iter()
                        .map(|i| labels[i as usize].clone())
                        .collect(),
                )
            }
            InputSpec::Bool { default } => Coords::Bool(vec![*default, !*default]),
        };
        if coords.is_empty() {
            return Err(invalid_var(name, "has no values"));
        }
        check_unique(name, &coords)?;
        Ok(coords)
    }
}

/// Upper bound on the values a step, a range or a sample count may
/// expand to, so that a typo (`step: 1e-12`, `samples: 1e12`) is an error
/// instead of an out-of-memory while the sweep is built.
pub const MAX_STEP_VALUES: usize = 100_000_000;

fn check_bounds(name: &str, lo: f64, hi: f64) -> Result<()> {
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(invalid_var(
            name,
            format!("bounds [{lo}, {hi}] are not finite"),
        ));
    }
    if lo > hi {
        return Err(invalid_var(
            name,
            format!("bounds [{lo}, {hi}] are inverted"),
        ));
    }
    Ok(())
}

/// `n` evenly spaced values, both ends included; `[lo]` when `lo == hi`.
fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if n == 1 || lo == hi {
        return vec![lo];
    }
    #[allow(clippy::cast_precision_loss, reason = "grid indices are small")]
    let step = (hi - lo) / (n - 1) as f64;
    #[allow(clippy::cast_precision_loss, reason = "grid indices are small")]
    let mut v: Vec<f64> = (0..n).map(|i| lo + step * i as f64).collect();
    v[n - 1] = hi;
    v
}

/// Indices `floor(linspace(0, len - 1, samples))`, deduplicated when
/// `samples > len`.
/// `len` is at most 2^64 (a whole i64 range); the caller has checked that
/// the indices it gets (`len`, or `samples` when smaller) are few.
fn subsample(name: &str, len: u128, samples: Option<usize>) -> Result<Vec<u128>> {
    if len == 0 {
        return Err(invalid_var(name, "has no values"));
    }
    let Some(s) = samples else {
        return Ok((0..len).collect());
    };
    if s == 0 {
        return Err(invalid_var(name, "samples must be at least 1"));
    }
    let s = s as u128;
    if s >= len {
        return Ok((0..len).collect());
    }
    if s == 1 {
        return Ok(vec![0]);
    }
    // Integer form of floor(i * (len-1) / (s-1)): exact, no float rounding
    // (i < 2^64 and len - 1 < 2^64: the product fits a u128).
    let (l, s1) = (len - 1, s - 1);
    Ok((0..s).map(|i| i * l / s1).collect())
}

fn check_unique(name: &str, coords: &Coords) -> Result<()> {
    fn first_dup<T: PartialEq + std::fmt::Debug>(v: &[T]) -> Option<String> {
        // Sweeps have few values per dim; O(n log n) via sort would need Ord
        // for f64, so compare sorted bit patterns instead where it matters.
        for (i, x) in v.iter().enumerate() {
            if v[..i].contains(x) {
                return Some(format!("{x:?}"));
            }
        }
        None
    }
    let dup = match coords {
        Coords::Float(v) => {
            let mut bits: Vec<u64> = v.iter().map(|x| (x + 0.0).to_bits()).collect();
            bits.sort_unstable();
            bits.windows(2)
                .find(|w| w[0] == w[1])
                .map(|w| format!("{}", f64::from_bits(w[0])))
        }
        Coords::Int(v) | Coords::Time(v) => {
            let mut s = v.clone();
            s.sort_unstable();
            s.windows(2)
                .find(|w| w[0] == w[1])
                .map(|w| w[0].to_string())
        }
        Coords::Str(v) | Coords::Label(v) => {
            let mut s: Vec<&String> = v.iter().collect();
            s.sort_unstable();
            s.windows(2)
                .find(|w| w[0] == w[1])
                .map(|w| format!("{:?}", w[0]))
        }
        Coords::Bool(v) => first_dup(v),
    };
    match dup {
        Some(d) => Err(invalid_var(name, format!("value {d} appears twice"))),
        None => Ok(()),
    }
}

/// The kind of a result variable: how it is stored and what its missing
/// value is (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResultKind {
    /// f64, NaN when missing.
    Float,
    /// f64 1.0 / 0.0, NaN when missing.
    Bool,
    /// n f64 columns `name_x`, `name_y`, `name_z`, `name_3`, …
    Vec(usize),
    /// Text, `"NAN"` when missing.
    String,
    /// A file path (media).
    Path,
    /// An image file path (media).
    Image,
    /// A video file path (media).
    Video,
    /// A recording (`.rrd`) file path (media).
    Recording,
    /// The name of a content-addressed blob file.
    Blob,
    /// An i64 index into the in-memory object list, -1 when missing.
    Reference,
}

impl ResultKind {
    /// Whether cells of this kind name media files that aging deletes.
    pub fn is_media(self) -> bool {
        matches!(
            self,
            ResultKind::Path | ResultKind::Image | ResultKind::Video | ResultKind::Recording
        )
    }

    /// Whether cells of this kind name a file: a media kind, or a blob.
    pub fn names_file(self) -> bool {
        self.is_media() || self == ResultKind::Blob
    }

    /// How many columns a variable of this kind spans.
    pub fn width(self) -> usize {
        match self {
            ResultKind::Vec(n) => n,
            _ => 1,
        }
    }

    /// The storage class of its columns.
    pub fn storage(self) -> Storage {
        match self {
            ResultKind::Float | ResultKind::Bool | ResultKind::Vec(_) => Storage::F64,
            ResultKind::Reference => Storage::I64,
            _ => Storage::Text,
        }
    }

    /// The missing value of this kind: the one place sentinels are defined.
    pub fn sentinel(self) -> Sentinel {
        match self.storage() {
            Storage::F64 => Sentinel::F64(f64::NAN),
            Storage::I64 => Sentinel::I64(REFERENCE_SENTINEL),
            Storage::Text => Sentinel::Text(TEXT_SENTINEL),
        }
    }

    /// A short name, for messages, summaries and stored files; parsed back
    /// by [`str::parse`] (`"float"`, `"vec(3)"`, …).
    pub fn name(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ResultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultKind::Float => f.write_str("float"),
            ResultKind::Bool => f.write_str("bool"),
            ResultKind::Vec(n) => write!(f, "vec({n})"),
            ResultKind::String => f.write_str("string"),
            ResultKind::Path => f.write_str("path"),
            ResultKind::Image => f.write_str("image"),
            ResultKind::Video => f.write_str("video"),
            ResultKind::Recording => f.write_str("recording"),
            ResultKind::Blob => f.write_str("blob"),
            ResultKind::Reference => f.write_str("reference"),
        }
    }
}

/// A text that names no [`ResultKind`] or [`TimeKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{text}` (known: {known})")]
pub struct UnknownKind {
    /// What was parsed: "result kind" or "over_time kind".
    pub what: &'static str,
    /// The text given.
    pub text: String,
    /// The accepted spellings.
    pub known: &'static str,
}

impl FromStr for ResultKind {
    type Err = UnknownKind;

    /// The inverse of [`ResultKind::name`].
    ///
    /// ```
    /// use collector_core::ResultKind;
    /// assert_eq!("vec(3)".parse::<ResultKind>(), Ok(ResultKind::Vec(3)));
    /// assert_eq!(ResultKind::Image.name().parse::<ResultKind>(), Ok(ResultKind::Image));
    /// assert!("pixel".parse::<ResultKind>().is_err());
    /// ```
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s {
            "float" => ResultKind::Float,
            "bool" => ResultKind::Bool,
            "string" => ResultKind::String,
            "path" => ResultKind::Path,
            "image" => ResultKind::Image,
            "video" => ResultKind::Video,
            "recording" => ResultKind::Recording,
            "blob" => ResultKind::Blob,
            "reference" => ResultKind::Reference,
            _ => {
                let n = s
                    .strip_prefix("vec(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n > 0);
                match n {
                    Some(n) => ResultKind::Vec(n),
                    None => {
                        return Err(UnknownKind {
                            what: "result kind",
                            text: s.to_string(),
                            known: "float, bool, vec(N), string, path, image, video, recording, blob, reference",
                        });
                    }
                }
            }
        })
    }
}

/// The kind of the `over_time` coordinate of a history: every event of
/// one history has the same kind. Stored by its [`name`](TimeKind::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeKind {
    /// UTC timestamps ([`TimeSrc::Timestamp`]).
    Timestamp,
    /// Labels of any length ([`TimeSrc::Label`]).
    Label,
}

impl TimeKind {
    /// The kind of `coords`, when they are `over_time` coordinates.
    pub fn of(coords: &Coords) -> Option<TimeKind> {
        match coords {
            Coords::Time(_) => Some(TimeKind::Timestamp),
            Coords::Label(_) => Some(TimeKind::Label),
            _ => None,
        }
    }

    /// Empty coordinates of this kind.
    pub fn empty_coords(self) -> Coords {
        match self {
            TimeKind::Timestamp => Coords::Time(Vec::new()),
            TimeKind::Label => Coords::Label(Vec::new()),
        }
    }

    /// `"timestamp"` or `"label"` (the name of its coordinates' kind).
    pub fn name(self) -> &'static str {
        match self {
            TimeKind::Timestamp => "timestamp",
            TimeKind::Label => "label",
        }
    }
}

impl fmt::Display for TimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TimeKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "timestamp" => Ok(TimeKind::Timestamp),
            "label" => Ok(TimeKind::Label),
            _ => Err(UnknownKind {
                what: "over_time kind",
                text: s.to_string(),
                known: "timestamp, label",
            }),
        }
    }
}

/// The missing value of text columns.
pub const TEXT_SENTINEL: &str = "NAN";
/// The missing value of reference columns.
pub const REFERENCE_SENTINEL: i64 = -1;

/// The element type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Storage {
    /// 64-bit floats.
    F64,
    /// 64-bit integers.
    I64,
    /// Strings.
    Text,
}

/// The missing value of one result kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sentinel {
    /// NaN.
    F64(f64),
    /// -1.
    I64(i64),
    /// `"NAN"`.
    Text(&'static str),
}

/// Whether smaller or larger values of a result are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Direction {
    /// Smaller is better.
    Minimize,
    /// Larger is better.
    Maximize,
    /// No preference.
    #[default]
    None,
}

/// A result variable: what a job produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultVar {
    name: String,
    units: String,
    description: String,
    kind: ResultKind,
    direction: Direction,
    max_time_events: Option<usize>,
    meaning_version: u32,
}

impl ResultVar {
    /// A result variable of the given kind.
    pub fn new(name: impl Into<String>, kind: ResultKind) -> Self {
        ResultVar {
            name: name.into(),
            units: String::new(),
            description: String::new(),
            kind,
            direction: Direction::None,
            max_time_events: None,
            meaning_version: 0,
        }
    }
    /// A float result.
    pub fn float(name: impl Into<String>) -> Self {
        Self::new(name, ResultKind::Float)
    }
    /// A bool result.
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::new(name, ResultKind::Bool)
    }
    /// A vector result of `n` components.
    pub fn vector(name: impl Into<String>, n: usize) -> Self {
        Self::new(name, ResultKind::Vec(n))
    }
    /// A string result.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, ResultKind::String)
    }
    /// A path result (a media file).
    pub fn path(name: impl Into<String>) -> Self {
        Self::new(name, ResultKind::Path)
    }
    /// An image result (a media file).
    pub fn image(name: impl Into<String>) -> Self {
        Self::new(name, ResultKind::Image)
    }
    /// A video result (a media file).
    pub fn video(name: impl Into<String>) -> Self {
        Self::new(name, ResultKind::Video)
    }
    /// A recording (`.rrd`) result (a media file).
    pub fn recording(name: impl Into<String>) -> Self {
        Self::new(name, ResultKind::Recording)
    }
    /// A blob result (a content-addressed file name).
    pub fn blob(name: impl Into<String>) -> Self {
        Self::new(name, ResultKind::Blob)
    }
    /// A reference result (an in-memory object).
    pub fn reference(name: impl Into<String>) -> Self {
        Self::new(name, ResultKind::Reference)
    }
    /// Sets the units.
    pub fn units(mut self, units: impl Into<String>) -> Self {
        self.units = units.into();
        self
    }
    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
    /// Sets the optimisation direction.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }
    /// Keeps only this many newest events of this variable in the history;
    /// older cells are set to the sentinel (and their media deleted).
    pub fn max_time_events(mut self, n: usize) -> Self {
        self.max_time_events = Some(n);
        self
    }
    /// Marks a change of what the variable measures while its name, kind
    /// and units stay (a new timer, another workload): the history retires
    /// the old column and starts a fresh one. Default 0.
    pub fn meaning_version(mut self, v: u32) -> Self {
        self.meaning_version = v;
        self
    }
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The units ("" when none).
    pub fn units_str(&self) -> &str {
        &self.units
    }
    /// The description ("" when none).
    pub fn description_str(&self) -> &str {
        &self.description
    }
    /// The meaning version (see [`ResultVar::meaning_version`]).
    pub fn meaning_version_value(&self) -> u32 {
        self.meaning_version
    }
    /// The kind.
    pub fn kind(&self) -> ResultKind {
        self.kind
    }
    /// The optimisation direction.
    pub fn direction_value(&self) -> Direction {
        self.direction
    }
    /// The per-variable history limit.
    pub fn max_time_events_value(&self) -> Option<usize> {
        self.max_time_events
    }
    /// The names of the columns this variable spans.
    pub fn column_names(&self) -> Vec<String> {
        match self.kind {
            ResultKind::Vec(n) => (0..n).map(|i| vec_component_name(&self.name, i)).collect(),
            _ => vec![self.name.clone()],
        }
    }
}

/// The column name of component `i` of vector result `name`.
pub fn vec_component_name(name: &str, i: usize) -> String {
    match i {
        0 => format!("{name}_x"),
        1 => format!("{name}_y"),
        2 => format!("{name}_z"),
        _ => format!("{name}_{i}"),
    }
}

/// A constant input: a fixed value passed to every job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstVar {
    /// The name.
    pub name: String,
    /// The value.
    pub value: Value,
    /// The units ("" when none).
    pub units: String,
}

impl ConstVar {
    /// A constant with no units.
    pub fn new(name: impl Into<String>, value: impl Into<Value>) -> Self {
        ConstVar {
            name: name.into(),
            value: value.into(),
            units: String::new(),
        }
    }
    /// Sets the units.
    pub fn units(mut self, units: impl Into<String>) -> Self {
        self.units = units.into();
        self
    }
}

/// What a failing worker (an error or a panic) does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CatchPolicy {
    /// Record the failure, leave the job's cells at their sentinels, go on.
    #[default]
    Record,
    /// Stop the run with an error naming the job. Results stored before it
    /// are kept.
    FailFast,
}

/// When a run with sample failures must end in an error (after saving).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum FailThreshold {
    /// Any failure.
    Any,
    /// A failed fraction strictly above this value (0.0..=1.0).
    Fraction(f64),
}

/// The source of the `over_time` coordinate of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeSrc {
    /// A UTC timestamp.
    Timestamp(chrono::DateTime<chrono::Utc>),
    /// An event label: a git hash, a PR number, "v1.2", …
    Label(String),
}

impl TimeSrc {
    /// The current time.
    pub fn now() -> Self {
        TimeSrc::Timestamp(chrono::Utc::now())
    }

    /// A timestamp written in RFC 3339 (`2026-11-28T12:00:00Z`, any
    /// offset); the message names the text when it is not one.
    ///
    /// ```
    /// use collector_core::TimeSrc;
    /// assert!(TimeSrc::parse_rfc3339("2026-11-28T12:00:00+01:00").is_ok());
    /// assert!(TimeSrc::parse_rfc3339("yesterday").unwrap_err().contains("yesterday"));
    /// ```
    pub fn parse_rfc3339(text: &str) -> std::result::Result<Self, String> {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| TimeSrc::Timestamp(t.to_utc()))
            .map_err(|e| format!("{text:?} is not an RFC 3339 timestamp ({e})"))
    }

    /// The `over_time` coordinate this source gives.
    pub fn coords(&self) -> Coords {
        match self {
            TimeSrc::Timestamp(t) => Coords::Time(vec![timestamp_ns(t)]),
            TimeSrc::Label(l) => Coords::Label(vec![l.clone()]),
        }
    }

    /// The kind of the coordinate this source gives.
    pub fn kind(&self) -> TimeKind {
        match self {
            TimeSrc::Timestamp(_) => TimeKind::Timestamp,
            TimeSrc::Label(_) => TimeKind::Label,
        }
    }
}

/// Nanoseconds since the epoch, saturating outside ±292 years.
pub fn timestamp_ns(t: &chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

impl From<&str> for TimeSrc {
    fn from(s: &str) -> Self {
        TimeSrc::Label(s.to_string())
    }
}
impl From<String> for TimeSrc {
    fn from(s: String) -> Self {
        TimeSrc::Label(s)
    }
}
impl From<chrono::DateTime<chrono::Utc>> for TimeSrc {
    fn from(t: chrono::DateTime<chrono::Utc>) -> Self {
        TimeSrc::Timestamp(t)
    }
}

/// An input variable with its concrete values.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedInput {
    /// The declaration.
    pub var: InputVar,
    /// The sample values.
    pub values: Coords,
}

/// A validated sweep. Build one with [`Sweep::builder`].
///
/// ```
/// use collector_core::{InputVar, ResultVar, Sweep};
/// let sweep = Sweep::builder("demo")
///     .input(InputVar::float_samples("x", 0.0, 1.0, 3))
///     .input(InputVar::labels("algo", ["fast", "slow"]))
///     .result(ResultVar::float("time").units("s"))
///     .repeats(2)
///     .build()
///     .unwrap();
/// assert_eq!(sweep.job_count(), 3 * 2 * 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    name: String,
    title: String,
    description: String,
    tag: String,
    version: String,
    inputs: Vec<ResolvedInput>,
    results: Vec<ResultVar>,
    consts: Vec<ConstVar>,
    repeats: usize,
    over_time: bool,
    catch: CatchPolicy,
    fail_on: Option<FailThreshold>,
    shape_no_time: Vec<usize>,
    jobs: usize,
    result_names: &'static [String],
}

/// Builds a [`Sweep`]; every check happens in [`SweepBuilder::build`].
#[derive(Debug, Clone)]
pub struct SweepBuilder {
    name: String,
    title: String,
    description: String,
    tag: String,
    version: String,
    inputs: Vec<InputVar>,
    results: Vec<ResultVar>,
    consts: Vec<ConstVar>,
    repeats: usize,
    over_time: bool,
    catch: CatchPolicy,
    fail_on: Option<FailThreshold>,
}

impl SweepBuilder {
    /// Adds an input variable (a dim, in declaration order).
    pub fn input(mut self, var: InputVar) -> Self {
        self.inputs.push(var);
        self
    }
    /// Adds a result variable.
    pub fn result(mut self, var: ResultVar) -> Self {
        self.results.push(var);
        self
    }
    /// Adds a constant input.
    pub fn constant(mut self, var: ConstVar) -> Self {
        self.consts.push(var);
        self
    }
    /// Sets the number of repeats (at least 1; default 1).
    pub fn repeats(mut self, repeats: usize) -> Self {
        self.repeats = repeats;
        self
    }
    /// Sets the tag, part of every identity key.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }
    /// Sets the code version: a fingerprint of the code that produces the
    /// results (a commit, a release). It is part of the result and job
    /// identity (another version is another result) but not of the history
    /// key: runs of successive versions are events of one history, and
    /// each event records its version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }
    /// Sets the title (display only).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }
    /// Sets the description (display only).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
    /// Keeps history: adds the `over_time` dim.
    pub fn over_time(mut self, on: bool) -> Self {
        self.over_time = on;
        self
    }
    /// Sets what a failing worker does (default: record and go on).
    pub fn catch(mut self, policy: CatchPolicy) -> Self {
        self.catch = policy;
        self
    }
    /// Makes the run fail after saving when failures cross `threshold`.
    pub fn fail_on_sample_error(mut self, threshold: FailThreshold) -> Self {
        self.fail_on = Some(threshold);
        self
    }

    /// Validates the declaration.
    pub fn build(self) -> Result<Sweep> {
        let sweep_err = |message: String| Error::InvalidSweep {
            sweep: self.name.clone(),
            message,
        };
        if self.name.is_empty() {
            return Err(sweep_err("the sweep name is empty".into()));
        }
        // Refused here rather than by the cache's keys after every job ran.
        if self.name.contains('\0') {
            return Err(sweep_err(
                "the sweep name contains a NUL byte, which the cache cannot store".into(),
            ));
        }
        if self.repeats == 0 {
            return Err(sweep_err("repeats must be at least 1".into()));
        }
        if let Some(FailThreshold::Fraction(f)) = self.fail_on
            && !(0.0..=1.0).contains(&f)
        {
            return Err(sweep_err(format!(
                "fail_on_sample_error fraction {f} is not in [0, 1]"
            )));
        }
        let mut seen: HashSet<&str> = HashSet::new();
        for v in &self.inputs {
            claim(&self.name, &mut seen, &v.name, "input")?;
        }
        for c in &self.consts {
            claim(&self.name, &mut seen, &c.name, "constant")?;
            if let Value::Float(x) = c.value
                && x.is_nan()
            {
                return Err(invalid_var(&c.name, "a constant cannot be NaN"));
            }
        }
        for r in &self.results {
            if r.kind == ResultKind::Vec(0) {
                return Err(invalid_var(
                    &r.name,
                    "a vec result needs at least 1 component",
                ));
            }
            claim(&self.name, &mut seen, &r.name, "result")?;
        }
        // The column names of vec results (`v_x`, `v_y`, `v_z`, `v_3`, ...)
        // must not clash with any other name. They are not listed (a
        // vec(10^9) would allocate 10^9 names here): a name clashes when it
        // is `<vec name>_<suffix>` with a suffix of one of its components.
        // Two vec results never clash with each other: a suffix holds no
        // `_`, so the last `_` splits a column name into one vec name.
        let vec_widths: HashMap<&str, usize> = self
            .results
            .iter()
            .filter_map(|r| match r.kind {
                ResultKind::Vec(n) => Some((r.name.as_str(), n)),
                _ => None,
            })
            .collect();
        if !vec_widths.is_empty() {
            let names = self
                .inputs
                .iter()
                .map(|v| v.name.as_str())
                .chain(self.consts.iter().map(|c| c.name.as_str()))
                .chain(self.results.iter().map(|r| r.name.as_str()));
            for name in names {
                if let Some((var, suffix)) = name.rsplit_once('_')
                    && let Some(&n) = vec_widths.get(var)
                    && component_index(suffix).is_some_and(|i| i < n)
                {
                    return Err(Error::DuplicateName {
                        sweep: self.name.clone(),
                        name: name.to_string(),
                        message: format!("is used twice (again as a column of vec result `{var}`)"),
                    });
                }
            }
        }
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for var in self.inputs {
            let values = var.resolve()?;
            inputs.push(ResolvedInput { var, values });
        }
        let mut shape_no_time: Vec<usize> = inputs.iter().map(|i| i.values.len()).collect();
        shape_no_time.push(self.repeats);
        let jobs = shape_no_time
            .iter()
            .try_fold(1usize, |acc, &n| acc.checked_mul(n))
            .ok_or_else(|| Error::TooManyJobs {
                sweep: self.name.clone(),
                dims: shape_no_time.clone(),
            })?;
        // Every column holds one 8-byte cell per job: the product must fit
        // an allocation (isize::MAX bytes), or the run would abort.
        let columns = self
            .results
            .iter()
            .try_fold(0usize, |acc, r| acc.checked_add(r.kind.width()));
        if columns
            .and_then(|c| jobs.checked_mul(c.max(1)))
            .and_then(|c| c.checked_mul(8))
            .is_none_or(|b| b > isize::MAX as usize)
        {
            return Err(Error::TooManyJobs {
                sweep: self.name.clone(),
                dims: shape_no_time.clone(),
            });
        }
        let result_names = intern_names(self.results.iter().map(|r| r.name.clone()).collect());
        let sweep = Sweep {
            result_names,
            name: self.name,
            title: self.title,
            description: self.description,
            tag: self.tag,
            version: self.version,
            inputs,
            results: self.results,
            consts: self.consts,
            repeats: self.repeats,
            over_time: self.over_time,
            catch: self.catch,
            fail_on: self.fail_on,
            shape_no_time,
            jobs,
        };
        sweep.check_storable()?;
        Ok(sweep)
    }
}

/// The component index a vec column suffix names: `x`, `y`, `z` are 0, 1,
/// 2; a decimal `k >= 3` written as [`vec_component_name`] writes it (no
/// sign, no leading zero) is `k`.
fn component_index(suffix: &str) -> Option<usize> {
    match suffix {
        "x" => Some(0),
        "y" => Some(1),
        "z" => Some(2),
        _ if suffix.starts_with('0') || !suffix.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => suffix.parse::<usize>().ok().filter(|k| *k >= 3),
    }
}

/// Result-name lists are interned once per distinct list for the life of
/// the process, so that every job's `Outputs` can refer to them without a
/// reference count: an atomic operation per job on the hot path otherwise.
/// The table holds one copy of each distinct list, so it stays small.
fn intern_names(names: Vec<String>) -> &'static [String] {
    static TABLE: OnceLock<Mutex<HashSet<&'static [String]>>> = OnceLock::new();
    let mut table = TABLE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = table.get(names.as_slice()) {
        return found;
    }
    let leaked: &'static [String] = Box::leak(names.into_boxed_slice());
    table.insert(leaked);
    leaked
}

fn claim<'a>(sweep: &str, seen: &mut HashSet<&'a str>, name: &'a str, role: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidSweep {
            sweep: sweep.to_string(),
            message: format!("a {role} has an empty name"),
        });
    }
    if name == REPEAT_DIM || name == OVER_TIME_DIM {
        return Err(Error::DuplicateName {
            sweep: sweep.to_string(),
            name: name.to_string(),
            message: format!("is reserved for a meta dim and cannot name a {role}"),
        });
    }
    if !seen.insert(name) {
        return Err(Error::DuplicateName {
            sweep: sweep.to_string(),
            name: name.to_string(),
            message: format!("is used twice (again as a {role})"),
        });
    }
    Ok(())
}

impl Sweep {
    /// Starts declaring a sweep called `name`.
    pub fn builder(name: impl Into<String>) -> SweepBuilder {
        SweepBuilder {
            name: name.into(),
            title: String::new(),
            description: String::new(),
            tag: String::new(),
            version: String::new(),
            inputs: Vec::new(),
            results: Vec::new(),
            consts: Vec::new(),
            repeats: 1,
            over_time: false,
            catch: CatchPolicy::default(),
            fail_on: None,
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The title ("" when none).
    pub fn title(&self) -> &str {
        &self.title
    }
    /// The description ("" when none).
    pub fn description(&self) -> &str {
        &self.description
    }
    /// The tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }
    /// The code version ("" when none; see [`SweepBuilder::version`]).
    pub fn version(&self) -> &str {
        &self.version
    }
    /// The inputs with their sample values, in declaration order.
    pub fn inputs(&self) -> &[ResolvedInput] {
        &self.inputs
    }
    /// The result variables, in declaration order.
    pub fn results(&self) -> &[ResultVar] {
        &self.results
    }
    /// The constant inputs.
    pub fn constants(&self) -> &[ConstVar] {
        &self.consts
    }
    /// The number of repeats.
    pub fn repeats(&self) -> usize {
        self.repeats
    }
    /// Whether the sweep keeps history (`over_time`).
    pub fn over_time(&self) -> bool {
        self.over_time
    }
    /// The catch policy.
    pub fn catch_policy(&self) -> CatchPolicy {
        self.catch
    }
    /// The failure threshold, if any.
    pub fn fail_threshold(&self) -> Option<FailThreshold> {
        self.fail_on
    }
    /// The number of jobs: the product of the input sizes and `repeats`.
    pub fn job_count(&self) -> usize {
        self.jobs
    }
    /// Sizes of the input dims then `repeat` (without `over_time`).
    pub fn shape(&self) -> &[usize] {
        &self.shape_no_time
    }
    /// The result names in order, shared by every `Outputs` of the sweep.
    pub(crate) fn result_names(&self) -> &'static [String] {
        self.result_names
    }

    /// The position of result variable `name`.
    pub fn result_slot(&self, name: &str) -> Result<usize> {
        self.results
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.results.iter().map(|r| r.name.as_str()).collect();
                crate::error::unknown("result", name, &known)
            })
    }
}

/// A sweep's declaration as plain data: what [`Sweep::spec`] gives and
/// [`SweepSpec::build`] validates back into the same sweep. It is
/// serializable (serde), for a record that must rebuild the sweep later,
/// such as a shard manifest.
///
/// ```
/// use collector_core::{cache_key, InputVar, ResultVar, Sweep, SweepSpec};
/// let sweep = Sweep::builder("s")
///     .input(InputVar::float_samples("x", 0.0, 1.0, 3).units("m"))
///     .result(ResultVar::float("t").units("s"))
///     .repeats(2)
///     .version("abc123")
///     .build()?;
/// let json = serde_json::to_string(&sweep.spec())?;
/// let back: SweepSpec = serde_json::from_str(&json)?;
/// assert_eq!(cache_key(&back.build()?), cache_key(&sweep));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The name.
    pub name: String,
    /// The title.
    pub title: String,
    /// The description.
    pub description: String,
    /// The tag.
    pub tag: String,
    /// The code version.
    pub version: String,
    /// The inputs, as declared.
    pub inputs: Vec<InputVar>,
    /// The result variables.
    pub results: Vec<ResultVar>,
    /// The constants.
    pub constants: Vec<ConstVar>,
    /// The number of repeats.
    pub repeats: usize,
    /// Whether history is kept.
    pub over_time: bool,
    /// The catch policy.
    pub catch: CatchPolicy,
    /// The failure threshold.
    pub fail_on: Option<FailThreshold>,
}

impl SweepSpec {
    /// Validates the declaration, as [`SweepBuilder::build`] does.
    pub fn build(self) -> Result<Sweep> {
        SweepBuilder {
            name: self.name,
            title: self.title,
            description: self.description,
            tag: self.tag,
            version: self.version,
            inputs: self.inputs,
            results: self.results,
            consts: self.constants,
            repeats: self.repeats,
            over_time: self.over_time,
            catch: self.catch,
            fail_on: self.fail_on,
        }
        .build()
    }
}

impl Sweep {
    /// The declaration this sweep was built from.
    pub fn spec(&self) -> SweepSpec {
        SweepSpec {
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            tag: self.tag.clone(),
            version: self.version.clone(),
            inputs: self.inputs.iter().map(|i| i.var.clone()).collect(),
            results: self.results.clone(),
            constants: self.consts.clone(),
            repeats: self.repeats,
            over_time: self.over_time,
            catch: self.catch,
            fail_on: self.fail_on,
        }
    }
}

// ------------------------------------------------------------------ limits

/// The most bytes one stored value can hold. The cache writes each record
/// (a result, a history event, a history's metadata, a shard manifest) as
/// one MessagePack value, whose lengths are 32-bit, and each job record as
/// one RocksDB value, whose length is 32-bit too. [`SweepBuilder::build`]
/// refuses a sweep one of whose records would be larger, so that it is
/// never refused after its jobs have run.
pub const MAX_STORED_VALUE_BYTES: u64 = u32::MAX as u64;

/// Bytes the heap gives a string of `len` bytes: nothing when empty, else
/// a malloc chunk (16-byte granularity, 32 at least, 8 of header).
fn heap_bytes(len: usize) -> u128 {
    if len == 0 {
        0
    } else {
        (((len as u128) + 8).div_ceil(16) * 16).max(32)
    }
}

/// Bytes of one in-memory cell of a column of `storage`: a text cell is a
/// `String` (24 bytes) holding the 3-byte sentinel `"NAN"` until a job
/// writes it (one malloc chunk).
fn cell_memory(storage: Storage) -> u128 {
    match storage {
        Storage::F64 | Storage::I64 => 8,
        Storage::Text => std::mem::size_of::<String>() as u128 + heap_bytes(TEXT_SENTINEL.len()),
    }
}

/// Bytes of `coords` in memory.
fn coords_memory(c: &Coords) -> u128 {
    let strings = |v: &[String]| {
        v.iter()
            .map(|s| std::mem::size_of::<String>() as u128 + heap_bytes(s.len()))
            .sum()
    };
    match c {
        Coords::Float(v) => v.len() as u128 * 8,
        Coords::Int(v) | Coords::Time(v) => v.len() as u128 * 8,
        Coords::Str(v) | Coords::Label(v) => strings(v),
        Coords::Bool(v) => v.len() as u128,
    }
}

/// Fewest bytes `coords` take stored as raw little-endian arrays (numbers)
/// or MessagePack strings (at least a 1-byte header each).
fn coords_stored_raw(c: &Coords) -> u128 {
    match c {
        Coords::Float(v) => v.len() as u128 * 8,
        Coords::Int(v) | Coords::Time(v) => v.len() as u128 * 8,
        Coords::Str(v) | Coords::Label(v) => v.iter().map(|s| 1 + s.len() as u128).sum(),
        Coords::Bool(v) => v.len() as u128,
    }
}

/// Fewest bytes `coords` take as MessagePack values one by one (a float 9
/// bytes, an integer at least 1, a string its bytes and a header).
fn coords_stored_msgpack(c: &Coords) -> u128 {
    match c {
        Coords::Float(v) => v.len() as u128 * 9,
        Coords::Int(v) | Coords::Time(v) => v.len() as u128,
        Coords::Str(v) | Coords::Label(v) => v.iter().map(|s| 1 + s.len() as u128).sum(),
        Coords::Bool(v) => v.len() as u128,
    }
}

fn saturate(b: u128) -> u64 {
    u64::try_from(b).unwrap_or(u64::MAX)
}

/// Bytes `cells` cells of columns of the given storages take in memory
/// (the cells alone: for a history loaded from the cache, `cells` is the
/// events times the cells of one event).
///
/// ```
/// use collector_core::{Storage, cells_memory_bytes};
/// assert_eq!(cells_memory_bytes(1000, [Storage::F64, Storage::F64]), 16_000);
/// assert!(cells_memory_bytes(1000, [Storage::Text]) >= 24_000);
/// ```
pub fn cells_memory_bytes(cells: u64, columns: impl IntoIterator<Item = Storage>) -> u64 {
    let per_cell: u128 = columns.into_iter().map(cell_memory).sum();
    saturate(per_cell * u128::from(cells))
}

impl Sweep {
    /// An estimate of the memory one run of this sweep needs at its peak:
    /// its dataset (every cell of every column, at its sentinel until a
    /// job writes it; the coordinates) and the encoded copy the cache
    /// writes when it stores the result (8 bytes a number, 4 a text
    /// sentinel). It is checked against a memory limit before the dataset
    /// is allocated ([`Sweep::check_memory`]).
    ///
    /// ```
    /// use collector_core::{InputVar, ResultVar, Sweep};
    /// let s = Sweep::builder("s")
    ///     .input(InputVar::int_range("n", 1, 1000))
    ///     .result(ResultVar::float("t"))
    ///     .build()?;
    /// // 1000 cells of 8 bytes, and their encoded copy.
    /// assert!(s.memory_bytes() >= 16_000 && s.memory_bytes() < 64_000);
    /// # Ok::<(), collector_core::Error>(())
    /// ```
    pub fn memory_bytes(&self) -> u64 {
        let cells = self.jobs as u128;
        let mut bytes: u128 = 0;
        for r in &self.results {
            let storage = r.kind.storage();
            let encoded = match storage {
                Storage::F64 | Storage::I64 => 8,
                Storage::Text => 1 + TEXT_SENTINEL.len() as u128,
            };
            // Per column: its cells, their encoded copy, and the column's
            // own record (name, attributes).
            let per_column = cells * (cell_memory(storage) + encoded) + 256;
            bytes = bytes.saturating_add(per_column.saturating_mul(r.kind.width() as u128));
        }
        for i in &self.inputs {
            bytes = bytes.saturating_add(coords_memory(&i.values) * 2);
        }
        bytes = bytes.saturating_add(self.repeats as u128 * 16);
        saturate(bytes)
    }

    /// Refuses a run whose [`memory_bytes`](Sweep::memory_bytes) is over
    /// `limit` bytes, with [`Error::OverMemoryLimit`] naming both, before
    /// anything is allocated.
    pub fn check_memory(&self, limit: u64) -> Result<()> {
        let bytes = self.memory_bytes();
        if bytes > limit {
            return Err(Error::OverMemoryLimit {
                sweep: self.name.clone(),
                what: format!("a run of its {} jobs", self.jobs),
                bytes,
                limit,
            });
        }
        Ok(())
    }

    /// The fewest bytes each record storing this sweep writes would take,
    /// whatever its jobs return, with what the record is.
    fn stored_floors(&self) -> [(&'static str, u128); 4] {
        let cells = self.jobs as u128;
        let coords_raw: u128 = self
            .inputs
            .iter()
            .map(|i| coords_stored_raw(&i.values))
            .sum();
        let repeat_coords = self.repeats as u128 * 8;
        let mut result = coords_raw + repeat_coords;
        let mut job_record: u128 = 16;
        for r in &self.results {
            let (cell, recorded) = match r.kind.storage() {
                Storage::F64 => (8, 9),
                Storage::I64 => (8, 0),
                Storage::Text => (1, 5),
            };
            let width = r.kind.width() as u128;
            result = result.saturating_add(cells.saturating_mul(cell * width));
            job_record = job_record.saturating_add(recorded * width);
        }
        // The history's metadata holds the inputs twice: its identity (one
        // MessagePack value each) and its schema (raw arrays).
        let meta = if self.over_time {
            self.inputs
                .iter()
                .map(|i| coords_stored_msgpack(&i.values))
                .sum::<u128>()
                + coords_raw
        } else {
            0
        };
        // A shard manifest holds the declaration: the listed values.
        let manifest: u128 = self
            .inputs
            .iter()
            .map(|i| match &i.var.spec {
                InputSpec::FloatValues(v) => v.len() as u128 * 9,
                InputSpec::IntValues(v) => v.len() as u128,
                InputSpec::Labels { labels, .. } => {
                    labels.iter().map(|s| 1 + s.len() as u128).sum()
                }
                _ => 0,
            })
            .sum();
        [
            ("its stored result (and each history event)", result),
            ("its history's metadata (every input value, twice)", meta),
            ("a shard manifest (every listed input value)", manifest),
            ("one job record", job_record),
        ]
    }

    /// Refuses a sweep one of whose records could not be stored.
    fn check_storable(&self) -> Result<()> {
        self.check_storable_within(MAX_STORED_VALUE_BYTES)
    }

    /// [`check_storable`](Self::check_storable) against `limit` bytes.
    fn check_storable_within(&self, limit: u64) -> Result<()> {
        for (what, floor) in self.stored_floors() {
            if floor > u128::from(limit) {
                return Err(Error::TooLargeToStore {
                    sweep: self.name.clone(),
                    what: what.to_string(),
                    bytes: saturate(floor),
                    limit,
                });
            }
        }
        Ok(())
    }
}

/// `bytes` for a message: `1234567 bytes (1.2 MiB)`.
pub(crate) fn human_bytes(bytes: &u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if *bytes < 1024 {
        return format!("{bytes} bytes");
    }
    #[allow(clippy::cast_precision_loss, reason = "a rounded display")]
    let mut v = *bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{bytes} bytes ({v:.1} {})", UNITS[unit])
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    fn refused_record(sweep: &Sweep, limit: u64) -> Option<String> {
        match sweep.check_storable_within(limit) {
            Err(Error::TooLargeToStore { what, bytes, .. }) => {
                assert!(bytes > limit);
                Some(what)
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(()) => None,
        }
    }

    #[test]
    fn each_record_has_its_floor() {
        // 1000 labels of 100 bytes: 101 KB of coordinates in the result,
        // twice that in the history's metadata, as listed in a manifest.
        let labels: Vec<String> = (0..1000).map(|i| format!("{i:0100}")).collect();
        let base = || {
            Sweep::builder("s")
                .input(InputVar::labels("l", labels.clone()))
                .result(ResultVar::string("t"))
        };
        let plain = base().build().unwrap_or_else(|e| panic!("{e}"));
        // Result: 101_000 of coordinates, 1000 text cells, 8 of repeat.
        assert_eq!(refused_record(&plain, 102_008), None);
        assert_eq!(
            refused_record(&plain, 102_007).as_deref(),
            Some("its stored result (and each history event)")
        );
        // With history, the metadata holds them twice.
        let timed = base()
            .over_time(true)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            refused_record(&timed, 150_000).as_deref(),
            Some("its history's metadata (every input value, twice)")
        );
        // A manifest lists the declared labels, before sub-sampling.
        let sub = Sweep::builder("s")
            .input(InputVar::labels("l", labels.clone()).samples(2))
            .result(ResultVar::float("t"))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            refused_record(&sub, 50_000).as_deref(),
            Some("a shard manifest (every listed input value)")
        );
        // A job record: 9 bytes a number.
        let wide = Sweep::builder("s")
            .result(ResultVar::vector("v", 1000))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            refused_record(&wide, 8_500).as_deref(),
            Some("one job record")
        );
        assert_eq!(refused_record(&wide, 9_016), None);
    }

    #[test]
    fn component_suffixes_are_read_as_written() {
        for i in [0, 1, 2, 3, 10, 12345] {
            let name = vec_component_name("v", i);
            let (_, suffix) = name.rsplit_once('_').unwrap_or_default();
            assert_eq!(component_index(suffix), Some(i), "{name}");
        }
        for s in ["", "0", "1", "2", "03", "+3", "w", "3a", "x1"] {
            assert_eq!(component_index(s), None, "{s:?}");
        }
    }
}
