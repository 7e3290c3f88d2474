//! `cargo xtask regression-check`: our single-series regression detector
//! ([`collector_core::regress::check_series`]) against the seed's
//! (`detect_percentage`, `detect_adaptive`, `detect_delta` and
//! `detect_absolute` of bencher's `regression.py`, from the holobench venv)
//! on a few hundred deterministic histories.
//!
//! - [`generate`] makes the histories: one series each (the per-variable
//!   grain), in the categories of `CATEGORIES`, for every method (two
//!   parameter sets each) and both directions.
//! - [`SEED_DRIVER`] judges every case with the seed, in one Python run:
//!   the cases as a JSON array on stdin, one JSON verdict per line out. It
//!   applies the gating of the seed's `detect_regressions` for a single
//!   series: no result without a current value, nor, for a method that
//!   needs history, without a non-NaN historical point.
//! - [`compare`] sets the two verdicts side by side: regressed or not, no
//!   result (seed) against `NotEnoughHistory` (ours), and the baseline
//!   where both give one, to a relative 1e-9.
//!
//! A disagreement fails the command unless an entry of [`ALLOW_LIST`]
//! covers the case; each entry names the item of "Where this differs from
//! the seed" in the `regress` module docs that explains it. The generator
//! stays clear of those inputs except in its `documented` category, so
//! that the agreement count measures the shared behaviour.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use collector_core::Direction;
use collector_core::regress::{Method, Status, Verdict, check_series};
use serde_json::{Value, json};

use crate::checks::{fresh_dir, python_importing};

/// The categories of [`generate`], each present at least once.
#[cfg(test)]
pub(crate) const CATEGORIES: &[&str] = &[
    "step_up",
    "step_down",
    "drift_up",
    "drift_down",
    "spike",
    "noise",
    "constant",
    "nan_gaps",
    "short",
    "ties",
    "boundary",
    "negative",
    "no_direction",
    "documented",
];

/// The relative tolerance of the baseline comparison.
const BASELINE_RTOL: f64 = 1e-9;

/// One history to judge.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Case {
    /// Unique, stable: `category/method/direction/variant`.
    pub(crate) name: String,
    /// One of `CATEGORIES`.
    pub(crate) category: &'static str,
    pub(crate) method: Method,
    pub(crate) direction: Direction,
    /// Older values, oldest first (may hold NaN).
    pub(crate) history: Vec<f64>,
    pub(crate) current: f64,
}

// ------------------------------------------------------------ generator

/// SplitMix64: small, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    /// Seeded by the FNV-1a hash of `name`, so a case's values depend on
    /// its name only, not on its position.
    fn for_name(name: &str) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A method with its parameters relative to the series' level (`delta`
/// and `absolute` limits are in the variable's units).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Percentage(f64),
    Adaptive(f64, f64),
    /// The delta limit, as a fraction of `|level|`.
    Delta(f64),
    /// How far past the level the limit sits, as a fraction of `|level|`,
    /// on the good side (a ceiling above under minimize, a floor below
    /// under maximize).
    Absolute(f64),
}

impl Kind {
    fn tag(self) -> String {
        match self {
            Kind::Percentage(t) => format!("percentage{t}"),
            Kind::Adaptive(s, p) => format!("adaptive{s}_{p}"),
            Kind::Delta(f) => format!("delta{f}"),
            Kind::Absolute(f) => format!("absolute{f}"),
        }
    }

    fn method(self, level: f64, direction: Direction) -> Method {
        let scale = if level == 0.0 { 1.0 } else { level.abs() };
        match self {
            Kind::Percentage(threshold_pct) => Method::Percentage { threshold_pct },
            Kind::Adaptive(sigmas, floor_pct) => Method::Adaptive { sigmas, floor_pct },
            Kind::Delta(f) => Method::Delta { limit: f * scale },
            Kind::Absolute(f) => Method::Absolute {
                limit: match direction {
                    Direction::Maximize => level - f * scale,
                    _ => level + f * scale,
                },
            },
        }
    }
}

const KINDS: [Kind; 8] = [
    Kind::Percentage(10.0),
    Kind::Percentage(5.0),
    Kind::Adaptive(3.5, 10.0),
    Kind::Adaptive(3.0, 5.0),
    Kind::Delta(0.1),
    Kind::Delta(0.03),
    Kind::Absolute(0.1),
    Kind::Absolute(0.02),
];

/// The positive levels a series is drawn around (several magnitudes).
const LEVELS: [f64; 4] = [1.0, 100.0, 0.0025, 3.0e4];

fn dir_name(d: Direction) -> &'static str {
    match d {
        Direction::Minimize => "minimize",
        Direction::Maximize => "maximize",
        Direction::None => "none",
    }
}

/// +1 when larger is worse, -1 when smaller is (+1 without a direction).
fn bad_sign(d: Direction) -> f64 {
    if d == Direction::Maximize { -1.0 } else { 1.0 }
}

/// A series shape: fills the history and the current value.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// Noise `sigma` (relative), then the current value moved by `by`
    /// (relative, signed: + is up).
    Step { n: usize, sigma: f64, by: f64 },
    /// A linear trend of `slope` (relative per event) with noise; the
    /// current value continues it, moved by `by`.
    Drift { n: usize, slope: f64, by: f64 },
    /// Noise with one point at 3x the level; the current value moved by `by`.
    Spike { n: usize, by: f64 },
    /// Noise only, the current value from the same distribution.
    Noise { n: usize, sigma: f64 },
    /// Every point at the level; the current value moved by `by` toward the
    /// bad side.
    Constant { n: usize, by: f64 },
    /// Noise with a quarter of the points NaN (`all_nan`: every point);
    /// the current value moved by `by` toward the bad side.
    NanGaps { n: usize, by: f64, all_nan: bool },
    /// `n` (0 to 3) points; the current value 20 % toward the bad side.
    Short { n: usize },
    /// A trend of `slope` with noise, every value rounded to 1 % of the
    /// level (many ties for the Mann-Kendall test); the current value
    /// continues the trend, moved by `by`.
    Ties { n: usize, slope: f64, by: f64 },
}

fn fill(shape: Shape, level: f64, direction: Direction, rng: &mut Rng) -> (Vec<f64>, f64) {
    let noisy = |rng: &mut Rng, sigma: f64, rel: f64| level * (1.0 + rel + sigma * rng.normal());
    let bad = bad_sign(direction);
    match shape {
        Shape::Step { n, sigma, by } => {
            let h = (0..n).map(|_| noisy(rng, sigma, 0.0)).collect();
            (h, noisy(rng, sigma, by))
        }
        Shape::Drift { n, slope, by } => {
            let h = (0..n)
                .map(|i| noisy(rng, 0.003, slope * i as f64))
                .collect();
            (h, noisy(rng, 0.003, slope * n as f64 + by))
        }
        Shape::Spike { n, by } => {
            let mut h: Vec<f64> = (0..n).map(|_| noisy(rng, 0.01, 0.0)).collect();
            let at = 2 + rng.below(n - 4);
            h[at] = 3.0 * level;
            (h, noisy(rng, 0.01, by))
        }
        Shape::Noise { n, sigma } => {
            let h = (0..n).map(|_| noisy(rng, sigma, 0.0)).collect();
            (h, noisy(rng, sigma, 0.0))
        }
        Shape::Constant { n, by } => (vec![level; n], level * (1.0 + bad * by)),
        Shape::NanGaps { n, by, all_nan } => {
            let h = (0..n)
                .map(|_| {
                    let v = noisy(rng, 0.01, 0.0);
                    if all_nan || rng.uniform() < 0.25 {
                        f64::NAN
                    } else {
                        v
                    }
                })
                .collect();
            (h, noisy(rng, 0.01, bad * by))
        }
        Shape::Short { n } => {
            let h = (0..n).map(|_| noisy(rng, 0.01, 0.0)).collect();
            (h, noisy(rng, 0.01, bad * 0.2))
        }
        Shape::Ties { n, slope, by } => {
            let q = 0.01 * level;
            let round = |v: f64| (v / q).round() * q;
            let h = (0..n)
                .map(|i| round(noisy(rng, 0.01, slope * i as f64)))
                .collect();
            (h, round(noisy(rng, 0.01, slope * n as f64 + by)))
        }
    }
}

/// The shapes of each category (but `no_direction` and `documented`).
fn shapes() -> Vec<(&'static str, &'static str, Shape)> {
    vec![
        (
            "step_up",
            "small",
            Shape::Step {
                n: 20,
                sigma: 0.01,
                by: 0.04,
            },
        ),
        (
            "step_up",
            "large",
            Shape::Step {
                n: 20,
                sigma: 0.01,
                by: 0.3,
            },
        ),
        (
            "step_down",
            "small",
            Shape::Step {
                n: 20,
                sigma: 0.01,
                by: -0.04,
            },
        ),
        (
            "step_down",
            "large",
            Shape::Step {
                n: 20,
                sigma: 0.01,
                by: -0.3,
            },
        ),
        (
            "drift_up",
            "n30",
            Shape::Drift {
                n: 30,
                slope: 0.01,
                by: 0.0,
            },
        ),
        (
            "drift_up",
            "n200",
            Shape::Drift {
                n: 200,
                slope: 0.002,
                by: 0.0,
            },
        ),
        (
            "drift_up",
            "n30_jump",
            Shape::Drift {
                n: 30,
                slope: 0.01,
                by: 0.5,
            },
        ),
        (
            "drift_down",
            "n30",
            Shape::Drift {
                n: 30,
                slope: -0.01,
                by: 0.0,
            },
        ),
        (
            "drift_down",
            "n200",
            Shape::Drift {
                n: 200,
                slope: -0.002,
                by: 0.0,
            },
        ),
        (
            "drift_down",
            "n30_jump",
            Shape::Drift {
                n: 30,
                slope: -0.01,
                by: -0.5,
            },
        ),
        ("spike", "flat", Shape::Spike { n: 20, by: 0.0 }),
        ("spike", "up", Shape::Spike { n: 20, by: 0.2 }),
        (
            "noise",
            "s0.001",
            Shape::Noise {
                n: 15,
                sigma: 0.001,
            },
        ),
        ("noise", "s0.01", Shape::Noise { n: 15, sigma: 0.01 }),
        ("noise", "s0.05", Shape::Noise { n: 15, sigma: 0.05 }),
        ("noise", "s0.2", Shape::Noise { n: 15, sigma: 0.2 }),
        ("constant", "same", Shape::Constant { n: 10, by: 0.0 }),
        ("constant", "worse", Shape::Constant { n: 10, by: 0.25 }),
        (
            "nan_gaps",
            "flat",
            Shape::NanGaps {
                n: 25,
                by: 0.0,
                all_nan: false,
            },
        ),
        (
            "nan_gaps",
            "worse",
            Shape::NanGaps {
                n: 25,
                by: 0.3,
                all_nan: false,
            },
        ),
        (
            "nan_gaps",
            "all_nan",
            Shape::NanGaps {
                n: 5,
                by: 0.3,
                all_nan: true,
            },
        ),
        (
            "ties",
            "trend",
            Shape::Ties {
                n: 40,
                slope: 0.004,
                by: 0.0,
            },
        ),
        (
            "ties",
            "flat_long",
            Shape::Ties {
                n: 300,
                slope: 0.0,
                by: 0.15,
            },
        ),
        (
            "ties",
            "drift_long",
            Shape::Ties {
                n: 300,
                slope: 0.0008,
                by: 0.0,
            },
        ),
        ("short", "n0", Shape::Short { n: 0 }),
        ("short", "n1", Shape::Short { n: 1 }),
        ("short", "n2", Shape::Short { n: 2 }),
        ("short", "n3", Shape::Short { n: 3 }),
    ]
}

fn make_case(
    category: &'static str,
    variant: &str,
    kind: Kind,
    direction: Direction,
    shape: Shape,
    level: Option<f64>,
) -> Case {
    let name = format!(
        "{category}/{}/{}/{variant}",
        kind.tag(),
        dir_name(direction)
    );
    let mut rng = Rng::for_name(&name);
    let level = level.unwrap_or_else(|| LEVELS[rng.below(LEVELS.len())]);
    let (history, current) = fill(shape, level, direction, &mut rng);
    Case {
        name,
        category,
        method: kind.method(level, direction),
        direction,
        history,
        current,
    }
}

/// A constant history and the current value exactly on the method's
/// threshold or limit, on the bad side: not beyond it, for both (computed
/// with the same arithmetic as the detectors', so it lands on it exactly
/// or within a rounding of it, the same way for both).
fn boundary_case(kind: Kind, direction: Direction) -> Case {
    let flat = Shape::Constant { n: 8, by: 0.0 };
    let mut c = make_case("boundary", "on_threshold", kind, direction, flat, None);
    let level = c.history[0];
    let bad = bad_sign(direction);
    c.current = match c.method {
        Method::Percentage { threshold_pct: t } | Method::Adaptive { floor_pct: t, .. } => {
            level * (1.0 + bad * t / 100.0)
        }
        Method::Delta { limit } => level + bad * limit,
        Method::Absolute { limit } => limit,
        Method::T { .. } | Method::Iqr { .. } => level,
    };
    c
}

/// Every case, in a fixed order; the same on every call.
pub(crate) fn generate() -> Vec<Case> {
    let mut cases = Vec::new();
    let directions = [Direction::Minimize, Direction::Maximize];
    for kind in KINDS {
        for direction in directions {
            for (category, variant, shape) in shapes() {
                cases.push(make_case(category, variant, kind, direction, shape, None));
            }
            cases.push(boundary_case(kind, direction));
            // A zero constant: every change is infinite in percent.
            let zero = Shape::Constant { n: 10, by: 0.5 };
            let mut c = make_case("constant", "zero", kind, direction, zero, Some(0.0));
            c.current = 0.5 * bad_sign(direction);
            cases.push(c);
            // Negative levels: percent changes relative to |baseline|.
            for (variant, by) in [("worse", 0.3), ("better", -0.3), ("slight", 0.02)] {
                let shape = Shape::Step {
                    n: 20,
                    sigma: 0.01,
                    by: by * bad_sign(direction),
                };
                cases.push(make_case(
                    "negative",
                    variant,
                    kind,
                    direction,
                    shape,
                    Some(-50.0),
                ));
            }
        }
    }
    // No direction: either side is bad (not `absolute`, see `documented`).
    for kind in [KINDS[0], KINDS[2], KINDS[4]] {
        for (variant, shape) in [
            (
                "up",
                Shape::Step {
                    n: 20,
                    sigma: 0.01,
                    by: 0.3,
                },
            ),
            (
                "down",
                Shape::Step {
                    n: 20,
                    sigma: 0.01,
                    by: -0.3,
                },
            ),
            (
                "small",
                Shape::Step {
                    n: 20,
                    sigma: 0.01,
                    by: 0.02,
                },
            ),
            ("noise", Shape::Noise { n: 20, sigma: 0.05 }),
        ] {
            cases.push(make_case(
                "no_direction",
                variant,
                kind,
                Direction::None,
                shape,
                None,
            ));
        }
    }
    // The inputs where the two differ on purpose (module docs, items 1, 2, 6).
    let flat = Shape::Step {
        n: 12,
        sigma: 0.01,
        by: 0.3,
    };
    for kind in [KINDS[6], KINDS[7]] {
        cases.push(make_case(
            "documented",
            "absolute_no_direction",
            kind,
            Direction::None,
            flat,
            None,
        ));
    }
    for kind in [KINDS[0], KINDS[2], KINDS[4]] {
        let mut c = make_case(
            "documented",
            "inf_in_history",
            kind,
            Direction::Minimize,
            flat,
            None,
        );
        c.history[5] = f64::INFINITY;
        cases.push(c);
        let mut c = make_case(
            "documented",
            "inf_current",
            kind,
            Direction::Minimize,
            flat,
            None,
        );
        c.current = f64::INFINITY;
        cases.push(c);
        let mut c = make_case(
            "documented",
            "nan_current",
            kind,
            Direction::Minimize,
            flat,
            None,
        );
        c.current = f64::NAN;
        cases.push(c);
    }
    cases
}

// ------------------------------------------------------------ verdicts

/// What one detector concluded, reduced to what is compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Judged {
    /// The seed returned no result; ours said `NotEnoughHistory`.
    Absent,
    /// A verdict, with the baseline when there is a finite one.
    Verdict {
        regressed: bool,
        baseline: Option<f64>,
    },
}

impl Judged {
    pub(crate) fn of_ours(v: &Verdict) -> Judged {
        match v.status {
            Status::NotEnoughHistory => Judged::Absent,
            Status::Ok | Status::Regressed => Judged::Verdict {
                regressed: v.regressed(),
                baseline: v.baseline.filter(|b| b.is_finite()),
            },
        }
    }

    /// One line of the seed driver's output, as `(case name, verdict)`.
    pub(crate) fn parse_seed(line: &str) -> Result<(String, Judged)> {
        let v: Value = serde_json::from_str(line).with_context(|| format!("bad line {line:?}"))?;
        let name = v["name"]
            .as_str()
            .with_context(|| format!("no name in {line:?}"))?
            .to_string();
        if v["result"].is_null() {
            return Ok((name, Judged::Absent));
        }
        let regressed = v["result"]["regressed"]
            .as_bool()
            .with_context(|| format!("no `regressed` in {line:?}"))?;
        let baseline = v["result"]["baseline"].as_f64().filter(|b| b.is_finite());
        Ok((
            name,
            Judged::Verdict {
                regressed,
                baseline,
            },
        ))
    }
}

impl fmt::Display for Judged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Judged::Absent => f.write_str("no result / not enough history"),
            Judged::Verdict {
                regressed,
                baseline,
            } => {
                f.write_str(if *regressed { "regressed" } else { "ok" })?;
                match baseline {
                    Some(b) => write!(f, ", baseline {b:e}"),
                    None => f.write_str(", no baseline"),
                }
            }
        }
    }
}

/// `None` when the seed's and our verdicts agree, else what differs.
pub(crate) fn compare(seed: Judged, ours: Judged) -> Option<String> {
    match (seed, ours) {
        (Judged::Absent, Judged::Absent) => None,
        (Judged::Absent, Judged::Verdict { .. }) => {
            Some("the seed gives no result, ours a verdict".into())
        }
        (Judged::Verdict { .. }, Judged::Absent) => {
            Some("ours says not enough history, the seed gives a verdict".into())
        }
        (
            Judged::Verdict {
                regressed: rs,
                baseline: bs,
            },
            Judged::Verdict {
                regressed: ro,
                baseline: bo,
            },
        ) => {
            if rs != ro {
                return Some(format!("regressed: seed {rs}, ours {ro}"));
            }
            match (bs, bo) {
                (Some(a), Some(b)) if !close(a, b) => Some(format!(
                    "baseline: seed {a:e}, ours {b:e} (relative difference {:e})",
                    (a - b).abs() / a.abs().max(b.abs())
                )),
                _ => None,
            }
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= BASELINE_RTOL * a.abs().max(b.abs())
}

/// A documented difference that excuses a disagreement.
pub(crate) struct Allowed {
    /// The item of "Where this differs from the seed" in
    /// `collector-core/src/regress/mod.rs`.
    pub(crate) item: u8,
    pub(crate) reason: &'static str,
    /// Whether the case's input is one the item is about.
    pub(crate) applies: fn(&Case) -> bool,
}

fn has_inf_history(c: &Case) -> bool {
    c.history.iter().any(|v| v.is_infinite())
}

fn non_finite_current(c: &Case) -> bool {
    !c.current.is_finite()
}

fn absolute_without_direction(c: &Case) -> bool {
    matches!(c.method, Method::Absolute { .. }) && c.direction == Direction::None
}

/// The documented differences (items 3 and 4 change reported numbers,
/// not verdicts; item 5 is how [`compare`] pairs no result with
/// `NotEnoughHistory`; items 7 to 9 concern `detect`, not one series).
pub(crate) const ALLOW_LIST: &[Allowed] = &[
    Allowed {
        item: 1,
        reason: "infinities: ±inf in the history are skipped like NaN (the seed keeps them and they poison its mean or median)",
        applies: has_inf_history,
    },
    Allowed {
        item: 2,
        reason: "a missing current value: a NaN or ±inf current is NotEnoughHistory (the seed judges an infinite mean)",
        applies: non_finite_current,
    },
    Allowed {
        item: 6,
        reason: "absolute without a direction is Ok with no band (the seed logs a warning and returns nothing)",
        applies: absolute_without_direction,
    },
];

/// The allow-list entry that covers `case`, if any.
pub(crate) fn allowed(case: &Case) -> Option<&'static Allowed> {
    ALLOW_LIST.iter().find(|a| (a.applies)(case))
}

/// One disagreement.
pub(crate) struct Disagreement<'a> {
    pub(crate) case: &'a Case,
    pub(crate) seed: Judged,
    pub(crate) ours: Judged,
    pub(crate) what: String,
    pub(crate) allowed: Option<&'static Allowed>,
}

/// Compares every case; the seed's verdicts by case name.
pub(crate) fn compare_all<'a>(
    cases: &'a [Case],
    seed: &BTreeMap<String, Judged>,
    ours: &[Judged],
) -> Result<Vec<Disagreement<'a>>> {
    let mut out = Vec::new();
    for (case, &ours) in cases.iter().zip(ours) {
        let Some(&s) = seed.get(&case.name) else {
            bail!("the seed driver gave no verdict for {}", case.name);
        };
        if let Some(what) = compare(s, ours) {
            out.push(Disagreement {
                case,
                seed: s,
                ours,
                what,
                allowed: allowed(case),
            });
        }
    }
    Ok(out)
}

// ------------------------------------------------------------ the seed

/// Reads the cases (a JSON array) on stdin, prints one JSON line per case:
/// `{"name": …, "result": null}` or `{"name": …, "result": {"regressed": …,
/// "baseline": …}}` (a non-finite baseline is null). Numbers may come as
/// the strings "nan", "inf", "-inf".
const SEED_DRIVER: &str = r#"import json, math, sys, warnings

import numpy as np

warnings.filterwarnings("ignore")
np.seterr(all="ignore")
import logging

logging.disable(logging.CRITICAL)

from bencher.regression import detect_absolute, detect_adaptive, detect_delta, detect_percentage
from bencher.variables.results import OptDir


def judge(c):
    hist = np.array([float(v) for v in c["history"]], dtype=float)
    cur = float(c["current"])
    direction = OptDir[c["direction"]]
    m = c["method"]
    name = m["name"]
    # detect_regressions: a variable without a current value is skipped,
    # and so is a history-needing check without any history.
    if math.isnan(cur):
        return None
    if name != "absolute" and (len(hist) == 0 or bool(np.all(np.isnan(hist)))):
        return None
    cur_arr = np.array([cur])
    if name == "percentage":
        return detect_percentage("v", hist, cur_arr, m["threshold_pct"], direction)
    if name == "adaptive":
        return detect_adaptive(
            "v",
            hist,
            cur_arr,
            regression_mad=m["sigmas"],
            direction=direction,
            historical_samples=hist,
            regression_percentage=m["floor_pct"],
            sparse_fallback=True,
        )
    if name == "delta":
        return detect_delta("v", hist, cur_arr, max_delta=m["limit"], direction=direction)
    if name == "absolute":
        return detect_absolute("v", cur_arr, limit=m["limit"], direction=direction)
    raise ValueError(f"unknown method {name}")


def main():
    cases = json.load(sys.stdin)
    for c in cases:
        r = judge(c)
        if r is None:
            out = None
        else:
            b = float(r.baseline_value)
            out = {"regressed": bool(r.regressed), "baseline": b if math.isfinite(b) else None}
        print(json.dumps({"name": c["name"], "result": out}))


main()
"#;

fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("nan")
    } else if v > 0.0 {
        json!("inf")
    } else {
        json!("-inf")
    }
}

/// The cases as the driver reads them.
pub(crate) fn cases_json(cases: &[Case]) -> Result<String> {
    let arr: Vec<Value> = cases
        .iter()
        .map(|c| {
            Ok(json!({
                "name": c.name,
                "method": serde_json::to_value(c.method)?,
                "direction": dir_name(c.direction),
                "history": c.history.iter().map(|&v| num(v)).collect::<Vec<_>>(),
                "current": num(c.current),
            }))
        })
        .collect::<Result<_, serde_json::Error>>()?;
    Ok(serde_json::to_string(&Value::Array(arr))?)
}

/// Runs the seed on every case, once.
fn run_seed(py: &str, cases: &[Case]) -> Result<BTreeMap<String, Judged>> {
    let dir = fresh_dir("regression-check")?;
    let script = dir.join("seed_driver.py");
    std::fs::write(&script, SEED_DRIVER).with_context(|| format!("write {}", script.display()))?;
    let input = cases_json(cases)?;
    let mut child = Command::new(py)
        .arg(&script)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("could not start {py}"))?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    // Written from a thread: the driver prints while it reads.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().context("the seed driver")?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?
        .context("write the cases to the seed driver")?;
    if !out.status.success() {
        bail!(
            "the seed driver failed ({}); it is kept in {}",
            out.status,
            script.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8(out.stdout).context("the seed driver's output")?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(Judged::parse_seed)
        .collect()
}

/// Per method, how the seed judged the cases (so that the agreement count
/// can be read: both outcomes are exercised), and which of our adaptive
/// tests fired.
fn breakdown(
    cases: &[Case],
    seed: &BTreeMap<String, Judged>,
    ours_tests: &[Option<&str>],
) -> Vec<String> {
    let mut lines = Vec::new();
    for name in ["percentage", "adaptive", "delta", "absolute"] {
        let (mut reg, mut ok, mut absent) = (0, 0, 0);
        for c in cases.iter().filter(|c| c.method.name() == name) {
            match seed.get(&c.name) {
                Some(Judged::Verdict {
                    regressed: true, ..
                }) => reg += 1,
                Some(Judged::Verdict { .. }) => ok += 1,
                _ => absent += 1,
            }
        }
        lines.push(format!(
            "{name}: the seed says {reg} regressed, {ok} ok, {absent} no result"
        ));
    }
    let mut tests: BTreeMap<&str, usize> = BTreeMap::new();
    for (c, t) in cases.iter().zip(ours_tests) {
        if let (Method::Adaptive { .. }, Some(t)) = (c.method, t) {
            *tests.entry(t).or_default() += 1;
        }
    }
    lines.push(format!("adaptive regressions by our test: {tests:?}"));
    lines
}

fn series_text(c: &Case) -> String {
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:e}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let h = &c.history;
    let history = if h.len() <= 40 {
        show(h)
    } else {
        format!(
            "{}, … ({} more) …, {}",
            show(&h[..20]),
            h.len() - 40,
            show(&h[h.len() - 20..])
        )
    };
    format!("history [{history}] current {:e}", c.current)
}

/// The task: generate, judge both ways, compare, report.
pub(crate) fn regression_check() -> Result<()> {
    let Some(py) = python_importing("scipy, bencher.regression") else {
        eprintln!(
            "xtask: regression check skipped: no Python with bencher and scipy (the holobench venv at ~/.cache/holobench-venv)"
        );
        return Ok(());
    };
    let cases = generate();
    eprintln!("xtask: judging {} cases with the seed ({py})", cases.len());
    let seed = run_seed(&py, &cases)?;
    let verdicts: Vec<Verdict> = cases
        .iter()
        .map(|c| check_series(&c.history, c.current, c.direction, &c.method))
        .collect();
    let ours: Vec<Judged> = verdicts.iter().map(Judged::of_ours).collect();
    let ours_tests: Vec<Option<&str>> = verdicts.iter().map(|v| v.test.as_deref()).collect();
    let dis = compare_all(&cases, &seed, &ours)?;
    for line in breakdown(&cases, &seed, &ours_tests) {
        eprintln!("xtask: {line}");
    }
    println!(
        "regression-check: {} cases, {} agree, {} disagree",
        cases.len(),
        cases.len() - dis.len(),
        dis.len()
    );
    let mut unexplained = 0;
    for d in &dis {
        println!(
            "  {} ({} {}): {}\n    seed: {}\n    ours: {}\n    {}",
            d.case.name,
            d.case.method,
            dir_name(d.case.direction),
            d.what,
            d.seed,
            d.ours,
            series_text(d.case)
        );
        match d.allowed {
            Some(a) => println!("    allowed (regress docs, item {}): {}", a.item, a.reason),
            None => {
                unexplained += 1;
                println!("    NOT in the allow-list");
            }
        }
    }
    if unexplained > 0 {
        bail!("regression-check: {unexplained} disagreement(s) not in the allow-list");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_generator_makes_200_or_more_unique_cases_in_every_category() {
        let cases = generate();
        assert!(cases.len() >= 200, "{} cases", cases.len());
        for cat in CATEGORIES {
            assert!(cases.iter().any(|c| c.category == *cat), "no case in {cat}");
        }
        let names: std::collections::BTreeSet<_> = cases.iter().map(|c| &c.name).collect();
        assert_eq!(names.len(), cases.len(), "names are unique");
        for name in ["percentage", "adaptive", "delta", "absolute"] {
            for d in [Direction::Minimize, Direction::Maximize] {
                assert!(
                    cases
                        .iter()
                        .any(|c| c.method.name() == name && c.direction == d),
                    "no {name} {d:?}"
                );
            }
        }
        for n in 0..=3 {
            assert!(
                cases
                    .iter()
                    .any(|c| c.category == "short" && c.history.len() == n)
            );
        }
        assert!(cases.iter().any(|c| c.history.iter().any(|v| v.is_nan())));
        assert!(cases.iter().any(|c| c.history.len() >= 200));
    }

    #[test]
    fn the_generator_is_deterministic() {
        let bits = |cases: Vec<Case>| -> Vec<(String, Vec<u64>, u64)> {
            cases
                .into_iter()
                .map(|c| {
                    (
                        c.name,
                        c.history.iter().map(|v| v.to_bits()).collect(),
                        c.current.to_bits(),
                    )
                })
                .collect()
        };
        assert_eq!(bits(generate()), bits(generate()));
    }

    #[test]
    fn only_the_documented_category_touches_the_documented_differences() {
        for c in generate() {
            if c.category != "documented" {
                assert!(allowed(&c).is_none(), "{} hits an allow-list entry", c.name);
                assert!(c.history.iter().all(|v| !v.is_infinite()), "{}", c.name);
            } else {
                assert!(allowed(&c).is_some(), "{} is not documented", c.name);
            }
        }
    }

    #[test]
    fn our_detector_judges_every_case() {
        for c in generate() {
            let v = check_series(&c.history, c.current, c.direction, &c.method);
            if c.category == "short" && c.history.is_empty() && c.method.needs_history() {
                assert_eq!(v.status, Status::NotEnoughHistory, "{}", c.name);
            }
        }
    }

    fn v(regressed: bool, baseline: Option<f64>) -> Judged {
        Judged::Verdict {
            regressed,
            baseline,
        }
    }

    #[test]
    fn verdicts_that_agree() {
        assert_eq!(compare(Judged::Absent, Judged::Absent), None);
        assert_eq!(compare(v(true, Some(10.0)), v(true, Some(10.0))), None);
        // Within a relative 1e-9.
        assert_eq!(
            compare(v(false, Some(1.0)), v(false, Some(1.0 + 1e-12))),
            None
        );
        // A baseline only one side gives is not compared.
        assert_eq!(compare(v(false, Some(5.0)), v(false, None)), None);
    }

    #[test]
    fn verdicts_that_disagree() {
        assert!(
            compare(v(true, Some(1.0)), v(false, Some(1.0)))
                .unwrap()
                .contains("regressed")
        );
        assert!(
            compare(v(true, Some(1.0)), v(true, Some(1.0 + 1e-6)))
                .unwrap()
                .contains("baseline")
        );
        assert!(compare(Judged::Absent, v(false, None)).is_some());
        assert!(compare(v(false, Some(2.0)), Judged::Absent).is_some());
    }

    fn case(method: Method, direction: Direction, history: Vec<f64>, current: f64) -> Case {
        Case {
            name: "hand".into(),
            category: "documented",
            method,
            direction,
            history,
            current,
        }
    }

    #[test]
    fn the_allow_list_covers_the_documented_inputs_only() {
        let abs = Method::Absolute { limit: 5.0 };
        let pct = Method::Percentage {
            threshold_pct: 10.0,
        };
        let c = case(abs, Direction::None, vec![1.0], 9.0);
        // The seed returns nothing, ours Ok: a disagreement, allowed by item 6.
        let ours = Judged::of_ours(&check_series(&c.history, c.current, c.direction, &c.method));
        assert_eq!(ours, v(false, None));
        assert!(compare(Judged::Absent, ours).is_some());
        assert_eq!(allowed(&c).unwrap().item, 6);

        let c = case(pct, Direction::Minimize, vec![1.0, f64::INFINITY, 1.0], 2.0);
        assert_eq!(allowed(&c).unwrap().item, 1);
        let c = case(pct, Direction::Minimize, vec![1.0, 1.0], f64::NEG_INFINITY);
        assert_eq!(allowed(&c).unwrap().item, 2);

        // Plain inputs are not covered, whatever the verdicts.
        assert!(allowed(&case(abs, Direction::Minimize, vec![], 9.0)).is_none());
        assert!(allowed(&case(pct, Direction::None, vec![1.0, f64::NAN], 1.5)).is_none());
    }

    #[test]
    fn compare_all_lists_each_disagreement_with_its_allowance() {
        let pct = Method::Percentage {
            threshold_pct: 10.0,
        };
        let mut a = case(pct, Direction::Minimize, vec![1.0, 1.0], 1.5);
        a.name = "a".into();
        let mut b = case(pct, Direction::Minimize, vec![1.0, f64::INFINITY], 1.5);
        b.name = "b".into();
        let mut c = case(pct, Direction::Minimize, vec![1.0], 1.0);
        c.name = "c".into();
        let cases = vec![a, b, c];
        let seed = BTreeMap::from([
            ("a".to_string(), v(false, Some(1.0))),
            ("b".to_string(), v(false, None)),
            ("c".to_string(), v(false, Some(1.0))),
        ]);
        let ours = [v(true, Some(1.0)), v(true, Some(1.0)), v(false, Some(1.0))];
        let dis = compare_all(&cases, &seed, &ours).unwrap();
        assert_eq!(dis.len(), 2);
        assert_eq!(dis[0].case.name, "a");
        assert!(dis[0].allowed.is_none());
        assert_eq!(dis[1].case.name, "b");
        assert_eq!(dis[1].allowed.unwrap().item, 1);
        // A case the seed did not answer is an error, not an agreement.
        let seed = BTreeMap::from([("a".to_string(), v(false, Some(1.0)))]);
        assert!(compare_all(&cases, &seed, &ours).is_err());
    }

    #[test]
    fn seed_lines_parse() {
        let (n, j) = Judged::parse_seed(r#"{"name": "x", "result": null}"#).unwrap();
        assert_eq!((n.as_str(), j), ("x", Judged::Absent));
        let (_, j) =
            Judged::parse_seed(r#"{"name": "y", "result": {"regressed": true, "baseline": 2.5}}"#)
                .unwrap();
        assert_eq!(j, v(true, Some(2.5)));
        let (_, j) = Judged::parse_seed(
            r#"{"name": "z", "result": {"regressed": false, "baseline": null}}"#,
        )
        .unwrap();
        assert_eq!(j, v(false, None));
        assert!(Judged::parse_seed("not json").is_err());
    }

    #[test]
    fn the_cases_json_spells_non_finite_numbers_as_strings() {
        let pct = Method::Percentage {
            threshold_pct: 10.0,
        };
        let c = case(
            pct,
            Direction::Maximize,
            vec![f64::NAN, 1.0, f64::NEG_INFINITY],
            f64::INFINITY,
        );
        let v: Value = serde_json::from_str(&cases_json(&[c]).unwrap()).unwrap();
        assert_eq!(v[0]["history"], json!(["nan", 1.0, "-inf"]));
        assert_eq!(v[0]["current"], json!("inf"));
        assert_eq!(v[0]["direction"], json!("maximize"));
        assert_eq!(v[0]["method"]["name"], json!("percentage"));
        assert_eq!(v[0]["method"]["threshold_pct"], json!(10.0));
    }
}
