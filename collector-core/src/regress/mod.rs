//! Regression detection over a history: does the newest event of a
//! history dataset move a number beyond what its past allows?
//!
//! Two entry points:
//! - [`check_series`] judges one series: the older values (oldest first)
//!   and the newest one, with one [`Method`] and the variable's
//!   [`Direction`]. It is the seed's `detect_*` functions (bencher's
//!   `regression.py`) on a per-event series.
//! - [`detect`] runs over every float column of a history dataset
//!   (`over_time` the last dim, the newest event the current one) at a
//!   [`Grain`]: one series per variable (the seed's), or one per grid cell.
//!   It returns a [`RegressionReport`].
//!
//! # Methods
//!
//! | spelling | rule | needs |
//! |---|---|---|
//! | `percentage[:T]` (T = 10) | the current value against the mean of the history, more than T % in the bad direction | 1 point |
//! | `adaptive[:S[,P]]` (S = 3.5, P = 10), the default | a **step** test: more than S robust sigmas (MAD x 1.4826) from the historical median; a **drift** test: the Theil-Sen slope of the history (fitted without the points more than 5 MAD from the median, the Hampel filter, when 4 or more remain) projected over it, more than 0.85 S residual sigmas, with a Mann-Kendall trend p-value under 0.1. Either fires only when the change (step: current against median; drift: projected end against median) also exceeds P % in the bad direction (the dual band). With fewer than 4 points: `percentage:P` | 1 point |
//! | `delta:L` | the current value more than L (in the variable's units) from the mean of the history in the bad direction | 1 point |
//! | `absolute:L` | the current value above L (minimize) or below L (maximize); with no direction it is not a check | nothing |
//! | `t[:Q]` (Q = 0.99) | outside the Student-t prediction interval of one new observation, `mean ± t(Q, n-1) sd sqrt(1 + 1/n)` (as bencher.dev does; each side at Q) | 2 points |
//! | `iqr[:K]` (K = 2) | outside `median ± K IQR` (K = 2 puts the fences where Tukey's 1.5-IQR fences sit on symmetric data) | 4 points |
//!
//! Directions: [`Direction::Minimize`] regresses when the value grows,
//! [`Direction::Maximize`] when it shrinks, [`Direction::None`] on either side.
//! A value exactly on a threshold or limit is not beyond it.
//!
//! `t` and `iqr` (which the seed does not have) floor their scale like the
//! adaptive noise floor, at `max(scale, 1e-6 |centre|, 1e-12)`, so that a
//! constant history does not flag the last bit of rounding.
//!
//! # Grains and the false-alarm control across cells
//!
//! [`Grain::PerVariable`] is the seed's: one series per column, each
//! event's value the mean over every non-time dim (missing cells skipped).
//! [`Grain::PerCell`] makes one series per grid point (every non-time
//! index except `repeat`); an event's repeats are its samples and their
//! mean its value. Per cell is the default while the grid has fewer than
//! [`PER_CELL_MAX_CELLS`] cells.
//!
//! Per cell, thousands of series are tested at once, so the statistical
//! methods go through a Benjamini-Hochberg correction at the rate
//! [`Options::fdr`] (0.05): a cell is flagged when its own test fires
//! *and* its BH-adjusted p-value (q-value, over every series tested with
//! a p-value in the run, all variables together) is at most the rate. The
//! correction only ever removes alarms. The p-values:
//! - `t`: the t statistic `(current - mean) / (sd sqrt(1 + 1/n))` against
//!   Student t with n-1 degrees of freedom (one-sided in the bad direction,
//!   two-sided without a direction): exact under normality.
//! - `adaptive`: the step test's robust z (deviation / noise floor)
//!   read against Student t with n-1 degrees of freedom (the Gaussian
//!   equivalent, widened for a scale estimated from n points); the drift
//!   test's p-value is the Mann-Kendall p-value it already uses; the cell's
//!   p-value is the Bonferroni combination `min(1, 2 min(p_step, p_drift))`.
//!   When the adaptive method falls back to a percentage check (fewer than
//!   4 points) there is no p-value.
//! - `iqr`: the deviation in IQR-sigmas (`IQR / 1.349` estimates a Gaussian
//!   sigma) read the same way as the step test.
//! - `percentage`, `delta` and `absolute` are thresholds, not tests: they
//!   have no p-value and are never corrected.
//!
//! Per variable there is no correction (the seed's behaviour).
//!
//! The BH procedure: with the m p-values of a run sorted,
//! `q_(i) = min_{j >= i} p_(j) m / j`; a series is rejected when its
//! q-value is at most the rate, which is the step-up rule. [`Flagged`]
//! carries both the p-value and the q-value.
//!
//! # Cost
//!
//! Per series the adaptive method sorts its history once (a merge sort
//! that also counts the inversions the Mann-Kendall test needs; the
//! median and the MAD come from the sorted values), and only when the
//! Mann-Kendall p-value is under 0.1 does it go on to the residual noise,
//! a count of the pairwise slopes beyond the drift threshold (O(n log n))
//! and, when that count leaves the verdict open, the Theil-Sen slope
//! itself. `cargo bench -p collector-core --bench regress` judges a
//! 50 x 50 grid with 2 repeats and 1000 events cell by cell (2500 series
//! of 999 points) in about 90 ms on two cores; the cost is dominated by
//! the 2500 exact Mann-Kendall statistics.
//!
//! # Young baselines, bad input
//!
//! A series with fewer than `min_history` events since its birth (the
//! column's birth event, from `births` or else its first event with a
//! non-missing cell; per cell, the later of that and the cell's own first
//! value) reports its regressions marked young; they never block
//! ([`RegressionReport::has_blocking`]). Events before the birth are not
//! part of the history. NaN and ±inf are skipped and counted, never used.
//! Percent changes against a zero or negative baseline are reported as
//! `None`. An empty history gives [`Status::NotEnoughHistory`], never an
//! error.
//!
//! # Where this differs from the seed
//!
//! [`check_series`] gives the seed's verdict for `percentage`, `adaptive`,
//! `delta` and `absolute` on any finite series (the same NumPy/SciPy
//! arithmetic: pairwise sums, `np.median`, SciPy's Kendall p-value and
//! Theil-Sen slope). It differs, on purpose, in:
//! 1. **Infinities.** The seed drops NaN but keeps ±inf, which then poisons
//!    the mean or median (a `+inf` in a minimize history makes every
//!    current value pass, an `inf` current makes every history fail). Here
//!    ±inf are skipped like NaN and counted in `skipped_non_finite`.
//! 2. **A missing current value** (NaN or ±inf) is
//!    [`Status::NotEnoughHistory`] with `current: None`; the seed skips the
//!    variable (no result at all) for NaN and judges an infinite mean.
//! 3. **Percent changes are `None` against a baseline ≤ 0.** The seed
//!    reports ±inf for a zero baseline and a change relative to `|baseline|`
//!    for a negative one. The verdicts are kept: a zero baseline still
//!    counts as an infinite change in the direction of the current value
//!    (0 → 1 errors is a regression under minimize), and a negative
//!    baseline is still judged relative to its magnitude.
//! 4. **Bands.** The seed's percentage band `baseline × (1 ± T/100)` is
//!    upside down for a negative baseline; here a band is always
//!    `(lower, upper)`. The adaptive band is the region the step test
//!    accepts: the union of the MAD band and the percent band (a value
//!    regresses only outside both), where the seed reports them apart.
//! 5. **Too little history is a status, not an absence.** The seed returns
//!    no result; here `NotEnoughHistory` (and `delta` with no history is
//!    `NotEnoughHistory`, not a comparison with NaN).
//! 6. **`absolute` without a direction** is `Ok` with no band (the seed
//!    logs a warning and returns nothing).
//! 7. **Overrides of `adaptive`** keep the sparse-history fallback to a
//!    percentage check: an override carries its own percent floor, so the
//!    seed's reason to drop it (judging a listed variable by a benchmark-wide
//!    threshold) does not arise.
//! 8. **Births** exclude older events from the history (the seed relies on
//!    them being NaN), and a column without a stated birth is born at its
//!    first non-missing event (the seed counts the whole window).
//! 9. In [`detect`] per variable, the current value and each event's value
//!    are NaN-skipping means like the seed's; an inf sample is skipped
//!    rather than making the mean infinite.

mod detect;
mod report;
mod series;
pub(crate) mod stats;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use detect::detect;
pub use report::{Flagged, REPORT_SCHEMA_VERSION, RegressionReport};
pub use series::check_series;

use crate::sweep::Direction;

/// Below this many grid cells, [`detect`] works per cell unless told.
pub const PER_CELL_MAX_CELLS: usize = 10_000;

/// How a series is judged. [`Default`] is `adaptive` with the seed's
/// thresholds (3.5 sigmas, a 10 % floor).
///
/// Spelled (by [`FromStr`] and [`Display`](fmt::Display)) as the name,
/// optionally followed by `:` and its parameters: `percentage:15`,
/// `adaptive:4,5` (sigmas, floor %), `delta:5`, `absolute:100`,
/// `t:0.995`, `iqr:3`. `delta` and `absolute` have no default and need
/// their value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Method {
    /// Change of the current value against the historical mean, in %.
    Percentage {
        /// The largest acceptable change in the bad direction, in %.
        threshold_pct: f64,
    },
    /// The robust step and drift tests with a percent floor.
    Adaptive {
        /// The step threshold in robust sigmas (the drift threshold is 0.85 x this).
        sigmas: f64,
        /// The percent change both tests must also exceed (the dual band),
        /// and the threshold of the sparse-history percentage fallback.
        floor_pct: f64,
    },
    /// Absolute change against the historical mean, in the variable's units.
    Delta {
        /// The largest acceptable change in the bad direction.
        limit: f64,
    },
    /// A hard limit on the current value: a ceiling under minimize, a
    /// floor under maximize. Needs no history.
    Absolute {
        /// The limit.
        limit: f64,
    },
    /// The Student-t prediction interval of one new observation.
    T {
        /// The cumulative probability of each limit, in (0, 1).
        q: f64,
    },
    /// Outside `median ± k IQR`.
    Iqr {
        /// The multiple of the interquartile range.
        k: f64,
    },
}

impl Default for Method {
    fn default() -> Self {
        Method::Adaptive {
            sigmas: 3.5,
            floor_pct: 10.0,
        }
    }
}

/// Why a method, grain or override spelling was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseMethodError {
    /// Not one of the names.
    #[error(
        "unknown regression method `{0}` (expected percentage, adaptive, delta:L, absolute:L, t or iqr)"
    )]
    Unknown(String),
    /// `delta` and `absolute` need a value.
    #[error("regression method `{0}` needs a value, as in `{0}:5`")]
    MissingValue(String),
    /// A parameter is not a number, or out of range.
    #[error("regression method `{method}`: bad value `{value}` ({why})")]
    BadValue {
        /// The method.
        method: String,
        /// The offending text.
        value: String,
        /// What is expected.
        why: &'static str,
    },
    /// Not a grain name.
    #[error("unknown grain `{0}` (expected per_variable or per_cell)")]
    UnknownGrain(String),
}

impl Method {
    /// The method named `name` with its default parameters; `None` for an
    /// unknown name and for `delta` and `absolute`, which have no default.
    pub fn default_for(name: &str) -> Option<Method> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "percentage" => Method::Percentage {
                threshold_pct: 10.0,
            },
            "adaptive" => Method::default(),
            "t" => Method::T { q: 0.99 },
            "iqr" => Method::Iqr { k: 2.0 },
            _ => return None,
        })
    }

    /// The method's name: `percentage`, `adaptive`, `delta`, `absolute`,
    /// `t` or `iqr`.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Percentage { .. } => "percentage",
            Method::Adaptive { .. } => "adaptive",
            Method::Delta { .. } => "delta",
            Method::Absolute { .. } => "absolute",
            Method::T { .. } => "t",
            Method::Iqr { .. } => "iqr",
        }
    }

    /// Whether the method judges the current value against a history
    /// (all but `absolute`).
    pub fn needs_history(&self) -> bool {
        !matches!(self, Method::Absolute { .. })
    }

    /// Whether the method is a statistical test with a p-value, corrected
    /// across cells (`adaptive`, `t`, `iqr`).
    pub fn is_statistical(&self) -> bool {
        matches!(
            self,
            Method::Adaptive { .. } | Method::T { .. } | Method::Iqr { .. }
        )
    }

    /// The same method with its main parameter replaced: the percentage
    /// threshold, the adaptive sigmas (the floor is kept), the delta or
    /// absolute limit, `q` or `k`.
    pub fn with_threshold(self, value: f64) -> Method {
        match self {
            Method::Percentage { .. } => Method::Percentage {
                threshold_pct: value,
            },
            Method::Adaptive { floor_pct, .. } => Method::Adaptive {
                sigmas: value,
                floor_pct,
            },
            Method::Delta { .. } => Method::Delta { limit: value },
            Method::Absolute { .. } => Method::Absolute { limit: value },
            Method::T { .. } => Method::T { q: value },
            Method::Iqr { .. } => Method::Iqr { k: value },
        }
    }

    /// Checks the parameters: finite, `q` in (0, 1), `k` and `sigmas` not
    /// negative. (A method with bad parameters never panics; it may never
    /// fire.)
    pub fn validate(&self) -> Result<(), ParseMethodError> {
        let bad = |value: f64, why: &'static str| ParseMethodError::BadValue {
            method: self.name().to_string(),
            value: value.to_string(),
            why,
        };
        let params: &[f64] = match self {
            Method::Percentage { threshold_pct } => &[*threshold_pct],
            Method::Adaptive { sigmas, floor_pct } => &[*sigmas, *floor_pct],
            Method::Delta { limit } | Method::Absolute { limit } => &[*limit],
            Method::T { q } => &[*q],
            Method::Iqr { k } => &[*k],
        };
        if let Some(v) = params.iter().find(|v| !v.is_finite()) {
            return Err(bad(*v, "a finite number"));
        }
        match *self {
            Method::T { q } if !(q > 0.0 && q < 1.0) => Err(bad(q, "a probability in (0, 1)")),
            Method::Iqr { k } if k < 0.0 => Err(bad(k, "k >= 0")),
            Method::Adaptive { sigmas, .. } if sigmas < 0.0 => Err(bad(sigmas, "sigmas >= 0")),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::Percentage { threshold_pct } => write!(f, "percentage:{threshold_pct}"),
            Method::Adaptive { sigmas, floor_pct } => write!(f, "adaptive:{sigmas},{floor_pct}"),
            Method::Delta { limit } => write!(f, "delta:{limit}"),
            Method::Absolute { limit } => write!(f, "absolute:{limit}"),
            Method::T { q } => write!(f, "t:{q}"),
            Method::Iqr { k } => write!(f, "iqr:{k}"),
        }
    }
}

impl FromStr for Method {
    type Err = ParseMethodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (name, args) = match s.split_once(':') {
            Some((n, a)) => (n.trim().to_ascii_lowercase(), Some(a)),
            None => (s.to_ascii_lowercase(), None),
        };
        let num = |text: &str| -> Result<f64, ParseMethodError> {
            let t = text.trim();
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| ParseMethodError::BadValue {
                    method: name.clone(),
                    value: t.to_string(),
                    why: "a finite number",
                })
        };
        let values: Vec<f64> = match args {
            None => Vec::new(),
            Some(a) => a.split(',').map(num).collect::<Result<_, _>>()?,
        };
        let too_many = |max: usize| -> Result<(), ParseMethodError> {
            if values.len() > max {
                Err(ParseMethodError::BadValue {
                    method: name.clone(),
                    value: args.unwrap_or_default().to_string(),
                    why: if max == 1 {
                        "one value"
                    } else {
                        "at most two values"
                    },
                })
            } else {
                Ok(())
            }
        };
        let method = match name.as_str() {
            "percentage" | "adaptive" | "t" | "iqr" => {
                let mut m = Method::default_for(&name)
                    .ok_or_else(|| ParseMethodError::Unknown(name.clone()))?;
                if let Method::Adaptive { sigmas, floor_pct } = &mut m {
                    too_many(2)?;
                    if let Some(v) = values.first() {
                        *sigmas = *v;
                    }
                    if let Some(v) = values.get(1) {
                        *floor_pct = *v;
                    }
                } else {
                    too_many(1)?;
                    if let Some(v) = values.first() {
                        m = m.with_threshold(*v);
                    }
                }
                m
            }
            "delta" | "absolute" => {
                too_many(1)?;
                let limit = *values
                    .first()
                    .ok_or_else(|| ParseMethodError::MissingValue(name.clone()))?;
                if name == "delta" {
                    Method::Delta { limit }
                } else {
                    Method::Absolute { limit }
                }
            }
            _ => return Err(ParseMethodError::Unknown(s.to_string())),
        };
        method.validate()?;
        Ok(method)
    }
}

/// The verdict on one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Within what the history allows.
    Ok,
    /// Beyond it in the bad direction.
    Regressed,
    /// Too few usable historical points for the method (or no usable
    /// current value).
    NotEnoughHistory,
}

/// What [`check_series`] concludes about one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Ok, regressed, or not enough history.
    pub status: Status,
    /// What the current value is compared with: the historical mean
    /// (percentage, delta, t, the adaptive fallback) or median (adaptive,
    /// iqr); `None` for absolute and without history.
    pub baseline: Option<f64>,
    /// The current value; `None` when it is NaN or infinite.
    pub current: Option<f64>,
    /// `(current - baseline) / baseline` in %; `None` when the baseline is
    /// not positive or there is none.
    pub change_pct: Option<f64>,
    /// The accepted `(lower, upper)` range of the current value, or the
    /// limit (one side infinite) for absolute.
    pub band: Option<(f64, f64)>,
    /// When regressed, the test that fired: `percentage`, `step`, `drift`,
    /// `step+drift`, `delta`, `absolute`, `t` or `iqr`.
    pub test: Option<String>,
    /// The p-value of a statistical method (see the module docs).
    pub p_value: Option<f64>,
    /// NaN or ±inf values of the input that were skipped.
    pub skipped_non_finite: usize,
}

impl Verdict {
    /// Whether the status is [`Status::Regressed`].
    pub fn regressed(&self) -> bool {
        self.status == Status::Regressed
    }
}

/// One series per variable, or one per grid cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    /// The seed's: per event, the mean over every non-time dim.
    PerVariable,
    /// One series per grid point (every non-time index but `repeat`).
    PerCell,
}

impl Grain {
    /// `per_variable` or `per_cell`.
    pub fn name(self) -> &'static str {
        match self {
            Grain::PerVariable => "per_variable",
            Grain::PerCell => "per_cell",
        }
    }
}

impl fmt::Display for Grain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Grain {
    type Err = ParseMethodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "per_variable" | "variable" => Ok(Grain::PerVariable),
            "per_cell" | "cell" => Ok(Grain::PerCell),
            _ => Err(ParseMethodError::UnknownGrain(s.to_string())),
        }
    }
}

/// A per-variable change to [`Options`], keyed by column name (or by the
/// result variable's name, for every column of a vec result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarOverride {
    /// Not checked at all.
    Off,
    /// Checked by this method instead.
    Method(Method),
    /// The run's method with its main parameter replaced
    /// ([`Method::with_threshold`]).
    Threshold(f64),
    /// Young until this many events since birth.
    MinHistory(usize),
    /// Several changes at once (each `None` keeps the run's setting; a
    /// threshold applies to the method chosen here or else the run's).
    With {
        /// The method.
        method: Option<Method>,
        /// The main parameter.
        threshold: Option<f64>,
        /// The young-baseline limit.
        min_history: Option<usize>,
    },
}

impl VarOverride {
    /// The method and `min_history` for a variable under this override;
    /// `None` when it is off.
    pub fn apply(&self, method: Method, min_history: usize) -> Option<(Method, usize)> {
        Some(match self {
            VarOverride::Off => return None,
            VarOverride::Method(m) => (*m, min_history),
            VarOverride::Threshold(t) => (method.with_threshold(*t), min_history),
            VarOverride::MinHistory(n) => (method, *n),
            VarOverride::With {
                method: m,
                threshold,
                min_history: mh,
            } => {
                let mut m = m.unwrap_or(method);
                if let Some(t) = threshold {
                    m = m.with_threshold(*t);
                }
                (m, mh.unwrap_or(min_history))
            }
        })
    }
}

impl FromStr for VarOverride {
    type Err = ParseMethodError;
    /// `off`, `threshold:X`, `min_history:N`, or a method spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        if lower == "off" {
            return Ok(VarOverride::Off);
        }
        let bad = |v: &str, why| ParseMethodError::BadValue {
            method: lower.split(':').next().unwrap_or_default().to_string(),
            value: v.to_string(),
            why,
        };
        if let Some(v) = lower.strip_prefix("threshold:") {
            let x: f64 = v.trim().parse().map_err(|_| bad(v, "a finite number"))?;
            if !x.is_finite() {
                return Err(bad(v, "a finite number"));
            }
            return Ok(VarOverride::Threshold(x));
        }
        if let Some(v) = lower.strip_prefix("min_history:") {
            let n: usize = v.trim().parse().map_err(|_| bad(v, "a count"))?;
            return Ok(VarOverride::MinHistory(n));
        }
        t.parse().map(VarOverride::Method)
    }
}

/// How [`detect`] runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The method of every variable without an override.
    pub method: Method,
    /// The grain; `None`: per cell under [`PER_CELL_MAX_CELLS`] grid cells,
    /// else per variable.
    pub grain: Option<Grain>,
    /// Series with fewer events since birth report young regressions,
    /// which never block (the seed's `regression_min_history`, 1).
    pub min_history: usize,
    /// The Benjamini-Hochberg false discovery rate of the per-cell
    /// statistical tests (0.05).
    pub fdr: f64,
    /// Per-variable changes, by column or result variable name.
    pub overrides: BTreeMap<String, VarOverride>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::default(),
            grain: None,
            min_history: 1,
            fdr: 0.05,
            overrides: BTreeMap::new(),
        }
    }
}

/// `minimize`, `maximize` or `none`.
pub(crate) fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Minimize => "minimize",
        Direction::Maximize => "maximize",
        Direction::None => "none",
    }
}

#[cfg(test)]
mod tests;
