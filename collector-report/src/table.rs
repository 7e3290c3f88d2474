//! The tidy ("long") table of a dataset and the failures table, like
//! pandas' `to_dataframe()`: one row per cell position, one column per dim
//! and per result column.

use std::fmt;

use collector_core::{Coords, Dataset, SampleFailure, TEXT_SENTINEL, Value, format_time_ns};
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};

/// One cell of a tidy table.
#[derive(Debug, Clone, PartialEq)]
pub enum TidyCell {
    /// A float (float, bool and vec results; float coordinates).
    Float(f64),
    /// An integer (int coordinates, `repeat`, reference indices).
    Int(i64),
    /// A boolean coordinate.
    Bool(bool),
    /// A UTC timestamp in nanoseconds since the epoch.
    Time(i64),
    /// Text: labels, strings, paths, blob names.
    Text(String),
    /// A missing cell: NaN, the text sentinel `"NAN"` or a reference of -1.
    Missing,
}

impl TidyCell {
    /// The cell of a coordinate value.
    pub fn from_value(v: &Value) -> Self {
        match v {
            Value::Float(x) if x.is_nan() => TidyCell::Missing,
            Value::Float(x) => TidyCell::Float(*x),
            Value::Int(x) => TidyCell::Int(*x),
            Value::Str(s) => TidyCell::Text(s.clone()),
            Value::Bool(b) => TidyCell::Bool(*b),
            Value::Time(t) => TidyCell::Time(*t),
        }
    }

    /// Whether the cell is missing.
    pub fn is_missing(&self) -> bool {
        matches!(self, TidyCell::Missing)
    }

    /// The value as a float, when it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            TidyCell::Float(x) => Some(*x),
            #[allow(clippy::cast_precision_loss, reason = "for display and plotting")]
            TidyCell::Int(x) => Some(*x as f64),
            _ => None,
        }
    }

    /// Whether the cell reads best right-aligned.
    fn is_numeric(&self) -> bool {
        matches!(self, TidyCell::Float(_) | TidyCell::Int(_))
    }
}

/// Human-readable: floats with 6 significant digits, missing as `NaN`.
/// Exports use their own exact formats.
impl fmt::Display for TidyCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TidyCell::Float(x) => f.write_str(&fmt_num(*x)),
            TidyCell::Int(x) => write!(f, "{x}"),
            TidyCell::Bool(b) => write!(f, "{b}"),
            TidyCell::Time(t) => f.write_str(&format_time_ns(*t)),
            TidyCell::Text(s) => f.write_str(s),
            TidyCell::Missing => f.write_str("NaN"),
        }
    }
}

/// A float with about 6 significant digits, trailing zeros trimmed:
/// `0.1 + 0.2` shows as `0.3`, `1e-9` as `1e-9`.
pub fn fmt_num(x: f64) -> String {
    fmt_sig(x, 6)
}

/// A float with about `digits` significant digits, trailing zeros trimmed.
pub(crate) fn fmt_sig(x: f64, digits: i32) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (1e-4..1e6).contains(&a) {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "log10 of a value in 1e-4..1e6"
        )]
        let int_digits = a.log10().floor() as i32 + 1;
        let decimals = usize::try_from((digits - int_digits).max(0)).unwrap_or(0);
        let s = format!("{x:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let prec = usize::try_from(digits - 1).unwrap_or(0);
        let s = format!("{x:.prec$e}");
        match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        }
    }
}

/// Whether a column of the tidy table is a dim or a result column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A dim: its cells are coordinates.
    Dim,
    /// A result column.
    Result,
}

/// One column of a tidy table.
#[derive(Debug, Clone, PartialEq)]
pub struct TidyColumn {
    /// The dim's or result column's name.
    pub name: String,
    /// Its units ("" when none).
    pub units: String,
    /// Dim or result.
    pub role: Role,
    /// One cell per row.
    pub cells: Vec<TidyCell>,
}

impl TidyColumn {
    /// The header: `name [units]`, or `name` without units.
    pub fn header(&self) -> String {
        header(&self.name, &self.units)
    }
}

pub(crate) fn header(name: &str, units: &str) -> String {
    if units.is_empty() {
        name.to_string()
    } else {
        format!("{name} [{units}]")
    }
}

/// The long form of a dataset: one row per cell position (row-major, the
/// last dim varies fastest), a column per dim and per result column.
#[derive(Debug, Clone, PartialEq)]
pub struct TidyTable {
    /// The dim columns, in dim order, then the result columns.
    pub columns: Vec<TidyColumn>,
}

impl TidyTable {
    /// The tidy table of `ds`.
    pub fn from_dataset(ds: &Dataset) -> Self {
        let n = ds.cell_count();
        let shape = ds.shape();
        let mut columns = Vec::with_capacity(ds.dims().len() + ds.columns().len());
        // The coordinate of dim k at row r repeats every `inner` rows, where
        // `inner` is the product of the sizes of the dims after k.
        for (k, d) in ds.dims().iter().enumerate() {
            let inner: usize = shape[k + 1..].iter().product();
            let coords: Vec<TidyCell> = (0..d.len())
                .map(|i| {
                    d.coords
                        .get(i)
                        .map_or(TidyCell::Missing, |v| TidyCell::from_value(&v))
                })
                .collect();
            let cells = (0..n)
                .map(|r| coords[(r / inner.max(1)) % d.len()].clone())
                .collect();
            columns.push(TidyColumn {
                name: d.name.clone(),
                units: d.attrs.units.clone(),
                role: Role::Dim,
                cells,
            });
        }
        for c in ds.columns() {
            let cells = match &c.data {
                collector_core::ColumnData::F64(a) => a
                    .iter()
                    .map(|x| {
                        if x.is_nan() {
                            TidyCell::Missing
                        } else {
                            TidyCell::Float(*x)
                        }
                    })
                    .collect(),
                collector_core::ColumnData::I64(a) => a
                    .iter()
                    .map(|x| {
                        if *x < 0 {
                            TidyCell::Missing
                        } else {
                            TidyCell::Int(*x)
                        }
                    })
                    .collect(),
                // Only the sentinel is missing: an empty string is a value.
                collector_core::ColumnData::Text(a) => a
                    .iter()
                    .map(|s| {
                        if s == TEXT_SENTINEL {
                            TidyCell::Missing
                        } else {
                            TidyCell::Text(s.clone())
                        }
                    })
                    .collect(),
            };
            columns.push(TidyColumn {
                name: c.name.clone(),
                units: c.attrs.units.clone(),
                role: Role::Result,
                cells,
            });
        }
        TidyTable { columns }
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.cells.len())
    }

    /// Column `name`.
    pub fn column(&self, name: &str) -> Option<&TidyColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Row `r`, one cell per column.
    pub fn row(&self, r: usize) -> Vec<&TidyCell> {
        self.columns.iter().filter_map(|c| c.cells.get(r)).collect()
    }

    /// The first `max_rows` rows as a text table, followed by a
    /// `… N more rows` line when rows were left out.
    pub fn render(&self, max_rows: usize) -> String {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(self.columns.iter().map(TidyColumn::header));
        let shown = self.rows().min(max_rows);
        for r in 0..shown {
            t.add_row(self.row(r).iter().map(ToString::to_string));
        }
        for (i, c) in self.columns.iter().enumerate() {
            let numeric = c.cells.iter().take(shown).any(TidyCell::is_numeric);
            if let (true, Some(col)) = (numeric, t.column_mut(i)) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        let mut s = t.to_string();
        s.push('\n');
        if shown < self.rows() {
            s.push_str(&more_rows(self.rows() - shown));
            s.push('\n');
        }
        s
    }
}

pub(crate) fn more_rows(n: usize) -> String {
    format!("… {n} more row{}", if n == 1 { "" } else { "s" })
}

/// All rows of the table (see [`TidyTable::render`] to cut it).
impl fmt::Display for TidyTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(usize::MAX))
    }
}

/// The tidy table of `ds` as text, cut after `max_rows` rows.
pub fn tidy_table(ds: &Dataset, max_rows: usize) -> String {
    TidyTable::from_dataset(ds).render(max_rows)
}

/// The input names of a list of failures, in first-seen order.
pub(crate) fn failure_input_names(failures: &[SampleFailure]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for f in failures {
        for (n, _) in &f.inputs {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
    }
    names
}

/// The row of one failure: job, one cell per input name, kind, message.
pub(crate) fn failure_row(f: &SampleFailure, names: &[&str]) -> Vec<String> {
    let mut row = vec![f.job.to_string()];
    for n in names {
        row.push(
            f.inputs
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| TidyCell::from_value(v).to_string())
                .unwrap_or_default(),
        );
    }
    row.push(format!("{:?}", f.kind).to_lowercase());
    row.push(f.message.clone());
    row
}

/// The failed samples as a text table: the job, its inputs (one column
/// each), how it failed and the message. "No failed samples." when empty.
pub fn failures_table(failures: &[SampleFailure]) -> String {
    if failures.is_empty() {
        return "No failed samples.\n".into();
    }
    let names = failure_input_names(failures);
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    let mut head = vec!["job".to_string()];
    head.extend(names.iter().map(ToString::to_string));
    head.push("kind".into());
    head.push("message".into());
    t.set_header(head);
    for f in failures {
        t.add_row(failure_row(f, &names));
    }
    let mut s = t.to_string();
    s.push('\n');
    s
}

/// A plain text table for listings: the header line, then one line per
/// row; no borders, columns left-aligned and separated by two spaces,
/// widths counted in display columns (one per character for all but wide
/// characters such as CJK), no trailing spaces, every line ending in
/// `'\n'`. Nothing is wrapped or cut, whatever the terminal (or none).
///
/// ```
/// let rows = vec![vec!["demo".to_string(), "result".into(), "407ab308eadf".into(), "yes".into()]];
/// let t = collector_report::text_table(&["SWEEP", "RECORD", "KEY", "COMPLETE"], &rows);
/// assert_eq!(t, "\
/// SWEEP  RECORD  KEY           COMPLETE
/// demo   result  407ab308eadf  yes
/// ");
/// ```
pub fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty()
        .set_header(header.iter().copied());
    for r in rows {
        t.add_row(r.iter().map(String::as_str));
    }
    let n = t.column_count();
    for (i, col) in t.column_iter_mut().enumerate() {
        col.set_padding((0, if i + 1 < n { 2 } else { 0 }));
    }
    let mut out = String::new();
    for line in t.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The coordinates of a dim as display strings.
pub(crate) fn coord_labels(c: &Coords) -> Vec<String> {
    (0..c.len())
        .map(|i| {
            c.get(i)
                .map(|v| TidyCell::from_value(&v).to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// The labels of the events of an `over_time` axis, and what the axis
/// description should add (`UTC, 2026-11-28`).
///
/// Labelled events keep their labels. Timestamps drop what they share:
/// the date when every event is on one day (`12:00`, `12:05`), the year
/// when they are in one year (`11-27 12:00`); the time of day is shown to
/// the minute, or to the second, millisecond, microsecond or nanosecond
/// when a coarser one would give two events the same label; events all at
/// midnight on different days show their dates alone.
pub(crate) fn event_labels(c: &Coords) -> (Vec<String>, Option<String>) {
    let Coords::Time(ns) = c else {
        return (coord_labels(c), None);
    };
    let times: Vec<chrono::DateTime<chrono::Utc>> = ns
        .iter()
        .map(|n| chrono::DateTime::from_timestamp_nanos(*n))
        .collect();
    let Some(first) = times.first() else {
        return (Vec::new(), None);
    };
    let same = |f: &str| {
        times
            .iter()
            .all(|t| t.format(f).to_string() == first.format(f).to_string())
    };
    let (date, suffix) = if same("%Y-%m-%d") {
        ("", format!("UTC, {}", first.format("%Y-%m-%d")))
    } else if same("%Y") {
        ("%m-%d ", format!("UTC, {}", first.format("%Y")))
    } else {
        ("%Y-%m-%d ", "UTC".to_string())
    };
    let distinct = |labels: &[String]| {
        let mut seen = std::collections::HashSet::new();
        labels.iter().all(|l| seen.insert(l.as_str()))
    };
    let format = |f: &str| -> Vec<String> {
        times
            .iter()
            .map(|t| t.format(f).to_string().trim_end().to_string())
            .collect()
    };
    if !date.is_empty()
        && same("%H:%M:%S%.9f")
        && first.format("%H:%M:%S%.9f").to_string() == "00:00:00.000000000"
    {
        let labels = format(date);
        if distinct(&labels) {
            return (labels, Some(suffix));
        }
    }
    let mut labels = Vec::new();
    for clock in [
        "%H:%M",
        "%H:%M:%S",
        "%H:%M:%S%.3f",
        "%H:%M:%S%.6f",
        "%H:%M:%S%.9f",
    ] {
        labels = format(&format!("{date}{clock}"));
        if distinct(&labels) {
            break;
        }
    }
    (labels, Some(suffix))
}

/// The coordinates of a dim as short tick labels (4 significant digits).
pub(crate) fn tick_labels(c: &Coords) -> Vec<String> {
    match c {
        Coords::Float(v) => v.iter().map(|x| fmt_sig(*x, 4)).collect(),
        _ => coord_labels(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(texts: &[&str]) -> Coords {
        Coords::Time(
            texts
                .iter()
                .map(|t| {
                    chrono::DateTime::parse_from_rfc3339(t)
                        .ok()
                        .and_then(|d| d.timestamp_nanos_opt())
                        .unwrap_or_default()
                })
                .collect(),
        )
    }

    #[test]
    fn event_labels_tell_events_apart() {
        let (l, note) = event_labels(&at(&["2026-11-28T12:00:00Z", "2026-11-28T12:05:00Z"]));
        assert_eq!(l, ["12:00", "12:05"]);
        assert_eq!(note.as_deref(), Some("UTC, 2026-11-28"));
        // Seconds only when minutes do not tell them apart, then ms.
        let (l, _) = event_labels(&at(&["2026-11-28T12:00:01Z", "2026-11-28T12:00:02Z"]));
        assert_eq!(l, ["12:00:01", "12:00:02"]);
        let (l, _) = event_labels(&at(&[
            "2026-11-28T12:00:01.250Z",
            "2026-11-28T12:00:01.500Z",
        ]));
        assert_eq!(l, ["12:00:01.250", "12:00:01.500"]);
        // Other days of one year: month and day; other years: the date.
        let (l, note) = event_labels(&at(&["2026-11-27T23:59:00Z", "2026-11-28T00:01:00Z"]));
        assert_eq!(l, ["11-27 23:59", "11-28 00:01"]);
        assert_eq!(note.as_deref(), Some("UTC, 2026"));
        let (l, note) = event_labels(&at(&["2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z"]));
        assert_eq!(l, ["2025-12-31", "2026-01-01"], "midnights: dates alone");
        assert_eq!(note.as_deref(), Some("UTC"));
        // Labels are kept as they are.
        let (l, note) = event_labels(&Coords::Label(vec!["v1".into(), "abc123".into()]));
        assert_eq!(l, ["v1", "abc123"]);
        assert_eq!(note, None);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_num(0.1 + 0.2), "0.3");
        assert_eq!(fmt_num(1.0), "1");
        assert_eq!(fmt_num(-2.5), "-2.5");
        assert_eq!(fmt_num(123_456.7), "123457");
        assert_eq!(fmt_num(1e-9), "1e-9");
        assert_eq!(fmt_num(2.5e10), "2.5e10");
        assert_eq!(fmt_num(f64::NAN), "NaN");
        assert_eq!(fmt_num(0.000_123_456_78), "0.000123457");
    }

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|r| r.iter().map(ToString::to_string).collect())
            .collect()
    }

    #[test]
    fn text_table_golden() {
        let t = text_table(
            &["SWEEP", "RECORD", "KEY", "COMPLETE"],
            &rows(&[
                &["demo", "result", "407ab308eadf", "yes"],
                &["demo", "history (label)", "1c0ffee00000", "-"],
            ]),
        );
        assert_eq!(
            t,
            "\
SWEEP  RECORD           KEY           COMPLETE
demo   result           407ab308eadf  yes
demo   history (label)  1c0ffee00000  -
"
        );
    }

    #[test]
    fn text_table_counts_characters_not_bytes() {
        // Multi-byte characters of one column each pad like ASCII.
        let t = text_table(
            &["algo", "unit", "ok"],
            &rows(&[&["mérge", "µs", "✓"], &["quick", "s", "✓✓"]]),
        );
        assert_eq!(
            t,
            "\
algo   unit  ok
mérge  µs    ✓
quick  s     ✓✓
"
        );
    }

    #[test]
    fn text_table_without_rows_has_the_header_only() {
        assert_eq!(text_table(&["A", "BB"], &[]), "A  BB\n");
    }

    #[test]
    fn text_table_has_no_trailing_spaces_and_never_wraps() {
        let long = "x".repeat(500);
        let t = text_table(
            &["NAME", "NOTE"],
            &rows(&[&["a", ""], &["b", &long], &["", "c"]]),
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(t.ends_with('\n'));
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{t:?}");
        assert_eq!(lines[1], "a");
        assert_eq!(lines[2], format!("b     {long}"));
        assert_eq!(lines[3], "      c");
    }
}
