//! History lineage: what a sweep's history key is made of, in a form that
//! can say what changed between two histories of one sweep name, and the
//! policy for a history that must start afresh.

use serde::{Deserialize, Serialize};

use crate::sweep::Sweep;
use crate::value::{Coords, Value};

/// What to do when a run cannot continue the history it belongs to: the
/// sweep's inputs changed (a new history key under the same sweep name),
/// a result column changed identity, or the run does not fit the stored
/// events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ResetPolicy {
    /// Log a warning and go on (start the new history, or retire the
    /// changed column); the old history stays readable.
    #[default]
    Warn,
    /// Refuse the run before anything is written or deleted.
    Error,
    /// Like `Warn`, without the warning.
    Ignore,
}

impl ResetPolicy {
    /// The policy's name: `warn`, `error` or `ignore`.
    pub fn name(self) -> &'static str {
        match self {
            ResetPolicy::Warn => "warn",
            ResetPolicy::Error => "error",
            ResetPolicy::Ignore => "ignore",
        }
    }
}

impl std::fmt::Display for ResetPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ResetPolicy {
    type Err = String;

    /// ```
    /// use collector_core::ResetPolicy;
    /// assert_eq!("error".parse::<ResetPolicy>(), Ok(ResetPolicy::Error));
    /// assert!("strict".parse::<ResetPolicy>().unwrap_err().contains("warn, error, ignore"));
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "warn" => Ok(ResetPolicy::Warn),
            "error" => Ok(ResetPolicy::Error),
            "ignore" => Ok(ResetPolicy::Ignore),
            other => Err(format!(
                "unknown reset policy `{other}` (expected one of warn, error, ignore)"
            )),
        }
    }
}

/// One input as the history key sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputIdentity {
    /// The name.
    pub name: String,
    /// The units.
    pub units: String,
    /// The sample values.
    pub values: Coords,
}

/// One constant as the history key sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstIdentity {
    /// The name.
    pub name: String,
    /// The value.
    pub value: Value,
    /// The units.
    pub units: String,
}

/// What a sweep's history key is made of, readable: two histories of one
/// sweep name can say which input, constant, tag or repeat count differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryIdentity {
    /// The tag.
    pub tag: String,
    /// The number of repeats.
    pub repeats: u64,
    /// The inputs, in dim order.
    pub inputs: Vec<InputIdentity>,
    /// The constants, in declaration order.
    pub constants: Vec<ConstIdentity>,
}

impl HistoryIdentity {
    /// The identity of `sweep`'s history.
    pub fn of(sweep: &Sweep) -> Self {
        HistoryIdentity {
            tag: sweep.tag().to_string(),
            repeats: sweep.repeats() as u64,
            inputs: sweep
                .inputs()
                .iter()
                .map(|i| InputIdentity {
                    name: i.var.name().to_string(),
                    units: i.var.units_str().to_string(),
                    values: i.values.clone(),
                })
                .collect(),
            constants: sweep
                .constants()
                .iter()
                .map(|c| ConstIdentity {
                    name: c.name.clone(),
                    value: c.value.clone(),
                    units: c.units.clone(),
                })
                .collect(),
        }
    }

    /// What differs from `old`, one phrase per difference; empty when
    /// nothing readable does.
    ///
    /// ```
    /// use collector_core::{ConstVar, HistoryIdentity, InputVar, ResultVar, Sweep};
    /// let s = |n: i64, k: i64| Sweep::builder("s")
    ///     .input(InputVar::int_range("n", 0, n))
    ///     .constant(ConstVar::new("k", k))
    ///     .result(ResultVar::float("t"))
    ///     .build().unwrap();
    /// let changes = HistoryIdentity::of(&s(3, 2)).changes_from(&HistoryIdentity::of(&s(2, 1)));
    /// assert_eq!(changes, ["input `n`: [0, 1, 2] -> [0, 1, 2, 3]", "constant `k`: 1 -> 2"]);
    /// ```
    pub fn changes_from(&self, old: &HistoryIdentity) -> Vec<String> {
        let mut out = Vec::new();
        if self.tag != old.tag {
            out.push(format!("tag: {:?} -> {:?}", old.tag, self.tag));
        }
        if self.repeats != old.repeats {
            out.push(format!("repeats: {} -> {}", old.repeats, self.repeats));
        }
        for o in &old.inputs {
            match self.inputs.iter().find(|n| n.name == o.name) {
                None => out.push(format!("input `{}` removed", o.name)),
                Some(n) if n.units != o.units => out.push(format!(
                    "input `{}`: units {:?} -> {:?}",
                    o.name, o.units, n.units
                )),
                Some(n) if !n.values.same_as(&o.values) => out.push(format!(
                    "input `{}`: {} -> {}",
                    o.name,
                    describe(&o.values),
                    describe(&n.values)
                )),
                Some(_) => {}
            }
        }
        for n in &self.inputs {
            if !old.inputs.iter().any(|o| o.name == n.name) {
                out.push(format!("input `{}` added", n.name));
            }
        }
        let names = |v: &[InputIdentity]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        if out.is_empty() && names(&self.inputs) != names(&old.inputs) {
            out.push(format!(
                "input order: {:?} -> {:?}",
                names(&old.inputs),
                names(&self.inputs)
            ));
        }
        for o in &old.constants {
            match self.constants.iter().find(|n| n.name == o.name) {
                None => out.push(format!("constant `{}` removed", o.name)),
                Some(n) if n.value != o.value || n.units != o.units => out.push(format!(
                    "constant `{}`: {}{} -> {}{}",
                    o.name,
                    o.value,
                    units(&o.units),
                    n.value,
                    units(&n.units)
                )),
                Some(_) => {}
            }
        }
        for n in &self.constants {
            if !old.constants.iter().any(|o| o.name == n.name) {
                out.push(format!("constant `{}` added", n.name));
            }
        }
        out
    }
}

fn units(u: &str) -> String {
    if u.is_empty() {
        String::new()
    } else {
        format!(" {u}")
    }
}

/// A few values in full; more as their count and end points.
fn describe(c: &Coords) -> String {
    let n = c.len();
    let at = |i: usize| c.get(i).map_or_else(String::new, |v| v.to_string());
    if n <= 4 {
        let shown: Vec<String> = (0..n).map(at).collect();
        format!("[{}]", shown.join(", "))
    } else {
        format!(
            "{n} {} values from {} to {}",
            c.kind_name(),
            at(0),
            at(n - 1)
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::sweep::{InputVar, ResultVar};

    fn sweep(f: impl FnOnce(crate::SweepBuilder) -> crate::SweepBuilder) -> Sweep {
        f(Sweep::builder("s")
            .input(InputVar::float_samples("x", 0.0, 1.0, 5))
            .result(ResultVar::float("t")))
        .build()
        .unwrap()
    }

    #[test]
    fn each_part_of_the_history_key_is_named_when_it_changes() {
        let base = HistoryIdentity::of(&sweep(|b| b));
        let other = HistoryIdentity::of(&sweep(|b| b.tag("ci").repeats(3)));
        assert_eq!(
            other.changes_from(&base),
            ["tag: \"\" -> \"ci\"", "repeats: 1 -> 3"]
        );
        let bounds = HistoryIdentity::of(
            &Sweep::builder("s")
                .input(InputVar::float_samples("x", 0.0, 2.0, 5))
                .result(ResultVar::float("t"))
                .build()
                .unwrap(),
        );
        assert_eq!(
            bounds.changes_from(&base),
            ["input `x`: 5 float values from 0 to 1 -> 5 float values from 0 to 2"]
        );
        let added = HistoryIdentity::of(&sweep(|b| b.input(InputVar::boolean("b", true))));
        assert_eq!(added.changes_from(&base), ["input `b` added"]);
        assert!(base.changes_from(&base).is_empty());
    }

    #[test]
    fn policies_parse_from_their_names() {
        for p in [ResetPolicy::Warn, ResetPolicy::Error, ResetPolicy::Ignore] {
            assert_eq!(p.name().parse::<ResetPolicy>(), Ok(p));
        }
    }
}
