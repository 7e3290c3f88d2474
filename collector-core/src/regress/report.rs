//! The report of a detection run: the flagged series and the counts, as a
//! text table, a markdown table and JSON.

use std::fmt::Write as _;

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};

use super::{Grain, Method, direction_name};
use crate::sweep::Direction;
use crate::value::{Value, format_time_ns};

/// The version of the JSON form of [`RegressionReport`]; it changes when
/// a field changes meaning or goes away (not when one is added).
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// Marks a young baseline's row in the tables.
const YOUNG_MARKER: &str = "†";

/// One flagged series: a variable, or one grid cell of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Flagged {
    /// The column.
    pub variable: String,
    /// The cell's coordinates, dim by dim (empty per variable).
    pub cell: Vec<(String, Value)>,
    /// The method that judged it.
    pub method: Method,
    /// The variable's direction.
    pub direction: Direction,
    /// What the current value was compared with.
    pub baseline: Option<f64>,
    /// The current value.
    pub current: Option<f64>,
    /// The change against the baseline in %; `None` against a baseline
    /// that is not positive.
    pub change_pct: Option<f64>,
    /// The accepted range, or the limit (one side infinite).
    pub band: Option<(f64, f64)>,
    /// The test that fired (`percentage`, `step`, `drift`, `step+drift`,
    /// `delta`, `absolute`, `t`, `iqr`).
    pub test: String,
    /// Whether the baseline is younger than `min_history` events: reported,
    /// never blocking.
    pub young: bool,
    /// Events in the history since the series' birth.
    pub history_points: usize,
    /// The test's p-value, for statistical methods.
    pub p_value: Option<f64>,
    /// The Benjamini-Hochberg adjusted p-value across the cells tested
    /// (per cell only).
    pub q_value: Option<f64>,
}

impl Flagged {
    /// `variable` or `variable[x=1, y=a]`.
    pub fn label(&self) -> String {
        if self.cell.is_empty() {
            self.variable.clone()
        } else {
            format!("{}[{}]", self.variable, self.cell_text())
        }
    }

    fn cell_text(&self) -> String {
        self.cell
            .iter()
            .map(|(d, v)| format!("{d}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Everything [`detect`](super::detect) found.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionReport {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The grain the run used.
    pub grain: Grain,
    /// The Benjamini-Hochberg rate applied (per cell), or `None` (per
    /// variable: no correction).
    pub fdr: Option<f64>,
    /// Series judged (cells per cell, variables per variable), not
    /// counting those without enough history or without a current value.
    pub cells_tested: usize,
    /// Series flagged: `series.len()`.
    pub cells_flagged: usize,
    /// Series whose own test fired but whose q-value exceeded the rate.
    pub suppressed_by_fdr: usize,
    /// The flagged series, by column then cell.
    pub series: Vec<Flagged>,
    /// The columns with at least one series short of history.
    pub not_enough_history: Vec<String>,
    /// How many series were short of history.
    pub series_not_enough_history: usize,
    /// Series without a usable value in the newest event (not tested).
    pub cells_without_current: usize,
    /// ±inf samples skipped (and event means that overflowed). NaN is the
    /// dataset's missing value and is skipped without counting.
    pub skipped_non_finite: usize,
}

impl RegressionReport {
    /// Whether any regression has a mature baseline: the run should fail.
    pub fn has_blocking(&self) -> bool {
        self.series.iter().any(|f| !f.young)
    }

    /// Whether anything was flagged, young or not.
    pub fn has_regressions(&self) -> bool {
        !self.series.is_empty()
    }

    fn headline(&self) -> String {
        let unit = match self.grain {
            Grain::PerCell => "cells",
            Grain::PerVariable => "variables",
        };
        let mut s = format!(
            "{} {unit} tested, {} flagged ({})",
            self.cells_tested,
            self.cells_flagged,
            self.grain.name().replace('_', " "),
        );
        if let Some(fdr) = self.fdr {
            let _ = write!(
                s,
                "; Benjamini-Hochberg FDR {}: {} suppressed",
                fmt_g(fdr),
                self.suppressed_by_fdr
            );
        }
        s
    }

    fn footnotes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.not_enough_history.is_empty() {
            out.push(format!(
                "Not enough history: {} ({} series)",
                self.not_enough_history.join(", "),
                self.series_not_enough_history
            ));
        }
        if self.cells_without_current > 0 {
            out.push(format!(
                "No current value: {} series",
                self.cells_without_current
            ));
        }
        if self.skipped_non_finite > 0 {
            out.push(format!(
                "Skipped non-finite values: {}",
                self.skipped_non_finite
            ));
        }
        out
    }

    fn rows(&self) -> Vec<[String; 10]> {
        self.series
            .iter()
            .map(|f| {
                [
                    if f.young {
                        format!("{} {YOUNG_MARKER}", f.variable)
                    } else {
                        f.variable.clone()
                    },
                    f.cell_text(),
                    f.method.to_string(),
                    f.test.clone(),
                    opt(f.baseline),
                    opt(f.current),
                    f.change_pct
                        .map_or_else(|| "—".to_string(), |c| format!("{c:+.1}%")),
                    band_text(f),
                    opt_p(f.p_value),
                    opt_p(f.q_value),
                ]
            })
            .collect()
    }

    /// A plain-text table of the flagged series, with the counts.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Regression check: {}", self.headline());
        if self.series.is_empty() {
            out.push_str("No regressions detected.\n");
        } else {
            let rows = self.rows();
            let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.chars().count()).collect();
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |cells: &[&str]| -> String {
                let mut l = String::new();
                for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                    if i > 0 {
                        l.push_str("  ");
                    }
                    let pad = w - c.chars().count();
                    if RIGHT[i] {
                        l.push_str(&" ".repeat(pad));
                        l.push_str(c);
                    } else {
                        l.push_str(c);
                        l.push_str(&" ".repeat(pad));
                    }
                }
                l.trim_end().to_string()
            };
            out.push_str(&line(&HEADERS));
            out.push('\n');
            for r in &rows {
                let cells: Vec<&str> = r.iter().map(String::as_str).collect();
                out.push_str(&line(&cells));
                out.push('\n');
            }
            if self.series.iter().any(|f| f.young) {
                let _ = writeln!(
                    out,
                    "{YOUNG_MARKER} young baseline: notify only, does not block"
                );
            }
        }
        for f in self.footnotes() {
            out.push_str(&f);
            out.push('\n');
        }
        out
    }

    /// A markdown summary: a headline and a table of the flagged series.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        if self.series.is_empty() {
            out.push_str("**No regressions detected**\n\n");
        } else {
            let _ = writeln!(out, "**{} regression(s) detected**\n", self.series.len());
        }
        let _ = writeln!(out, "*{}*\n", self.headline());
        if !self.series.is_empty() {
            out.push('|');
            for h in HEADERS {
                let _ = write!(out, " {h} |");
            }
            out.push_str("\n|");
            for right in RIGHT {
                out.push_str(if right { "--:|" } else { "---|" });
            }
            out.push('\n');
            for r in self.rows() {
                out.push('|');
                for c in r {
                    let _ = write!(out, " {} |", c.replace('|', "\\|"));
                }
                out.push('\n');
            }
            if self.series.iter().any(|f| f.young) {
                let _ = writeln!(
                    out,
                    "\n*{YOUNG_MARKER} young baseline — notify only, does not block*"
                );
            }
        }
        let notes = self.footnotes();
        if !notes.is_empty() {
            out.push('\n');
            for n in notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }

    /// The JSON form ([`Serialize`]): non-finite numbers are `null`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

const HEADERS: [&str; 10] = [
    "variable", "cell", "method", "test", "baseline", "current", "change", "band", "p", "q",
];
const RIGHT: [bool; 10] = [
    false, false, false, false, true, true, true, false, true, true,
];

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), fmt_g)
}

fn opt_p(v: Option<f64>) -> String {
    v.map_or_else(String::new, |p| {
        if p < 1e-3 && p > 0.0 {
            format!("{p:.1e}")
        } else {
            fmt_g(p)
        }
    })
}

fn band_text(f: &Flagged) -> String {
    match f.band {
        None => "—".to_string(),
        Some((lo, hi)) if lo == f64::NEG_INFINITY => format!("≤ {}", fmt_g(hi)),
        Some((lo, hi)) if hi == f64::INFINITY => format!("≥ {}", fmt_g(lo)),
        Some((lo, hi)) => format!("[{}, {}]", fmt_g(lo), fmt_g(hi)),
    }
}

/// Python's `format(x, '.4g')`.
pub(crate) fn fmt_g(x: f64) -> String {
    const P: i32 = 4;
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    let e_form = format!("{:.*e}", (P - 1) as usize, x);
    let (mant, exp) = e_form.split_once('e').unwrap_or((&e_form, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if (-4..P).contains(&exp) {
        let decimals = (P - 1 - exp).max(0) as usize;
        trim(&format!("{x:.decimals$}"))
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    }
}

/// A float for JSON: `None` (null) when not finite.
fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

struct CellMap<'a>(&'a [(String, Value)]);

impl Serialize for CellMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (dim, v) in self.0 {
            match v {
                Value::Float(x) => m.serialize_entry(dim, &finite(Some(*x)))?,
                Value::Int(x) => m.serialize_entry(dim, x)?,
                Value::Str(x) => m.serialize_entry(dim, x)?,
                Value::Bool(x) => m.serialize_entry(dim, x)?,
                Value::Time(ns) => m.serialize_entry(dim, &format_time_ns(*ns))?,
            }
        }
        m.end()
    }
}

impl Serialize for Flagged {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Flagged", 14)?;
        st.serialize_field("variable", &self.variable)?;
        st.serialize_field("cell", &CellMap(&self.cell))?;
        st.serialize_field("method", &self.method.to_string())?;
        st.serialize_field("direction", direction_name(self.direction))?;
        st.serialize_field("test", &self.test)?;
        st.serialize_field("baseline", &finite(self.baseline))?;
        st.serialize_field("current", &finite(self.current))?;
        st.serialize_field("change_pct", &finite(self.change_pct))?;
        st.serialize_field(
            "band",
            &self
                .band
                .map(|(lo, hi)| [finite(Some(lo)), finite(Some(hi))]),
        )?;
        st.serialize_field("young", &self.young)?;
        st.serialize_field("history_points", &self.history_points)?;
        st.serialize_field("p_value", &finite(self.p_value))?;
        st.serialize_field("q_value", &finite(self.q_value))?;
        st.end()
    }
}

impl Serialize for RegressionReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("RegressionReport", 12)?;
        st.serialize_field("schema_version", &self.schema_version)?;
        st.serialize_field("grain", &self.grain)?;
        st.serialize_field("fdr", &finite(self.fdr))?;
        st.serialize_field("has_blocking", &self.has_blocking())?;
        st.serialize_field("cells_tested", &self.cells_tested)?;
        st.serialize_field("cells_flagged", &self.cells_flagged)?;
        st.serialize_field("suppressed_by_fdr", &self.suppressed_by_fdr)?;
        st.serialize_field("series", &self.series)?;
        st.serialize_field("not_enough_history", &self.not_enough_history)?;
        st.serialize_field("series_not_enough_history", &self.series_not_enough_history)?;
        st.serialize_field("cells_without_current", &self.cells_without_current)?;
        st.serialize_field("skipped_non_finite", &self.skipped_non_finite)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_g_matches_python() {
        // format(x, '.4g') in Python.
        let cases = [
            (10.0, "10"),
            (9.48109, "9.481"),
            (0.000123456, "0.0001235"),
            (0.0000123456, "1.235e-05"),
            (123456.0, "1.235e+05"),
            (1234.0, "1234"),
            (9999.9, "1e+04"),
            (-2.5, "-2.5"),
            (0.0, "0"),
        ];
        for (x, want) in cases {
            assert_eq!(fmt_g(x), want, "{x}");
        }
    }
}
