//! One self-contained HTML page: the summary, plots as inline SVG, the
//! failed samples and the tidy table. No network fetches, no JavaScript.
//!
//! The plots follow the dataset's shape (the inputs are the dims other
//! than `repeat` and `over_time`):
//! - history (`over_time` with more than one event): each result's mean
//!   over repeats against the events, one line per input point up to
//!   [`HtmlOptions::max_series`];
//! - two or more numeric inputs: a heatmap of the mean over the first two;
//! - one numeric input: the mean as a line, shaded ± 1 std over repeats;
//! - only categorical (text, bool) inputs: bars of the mean with ± 1 std
//!   error bars over the first one;
//! - any further inputs: one small plot per combination of their values,
//!   up to [`HtmlOptions::max_panels`], with a note on what was left out.
//!
//! Float columns (float, bool and vec results) are plotted; text columns
//! (strings, paths, media, blobs) are shown in the table only, and
//! reference columns (in-memory indices) are skipped. When the dataset has
//! several events, the shape plots show the latest one.

use std::fmt::Write as _;
use std::path::Path;

use collector_core::reduce::Reduction;
use collector_core::{
    AttrValue, ColumnData, Coords, Dataset, OVER_TIME_DIM, REPEAT_DIM, ResultKind, SampleFailure,
    Storage,
};

use crate::error::Result;
use crate::plot::{self, Band, LARGE, SMALL, Size};
use crate::table::{
    TidyTable, coord_labels, failure_input_names, failure_row, header, more_rows, tick_labels,
};

/// What goes into the page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HtmlOptions {
    /// The page title; the dataset's `title` or `sweep` attribute when
    /// `None`.
    pub title: Option<String>,
    /// Rows of the tidy table shown (the rest is counted, not shown).
    pub max_rows: usize,
    /// Small plots per result for the combinations of extra inputs.
    pub max_panels: usize,
    /// Lines per history plot.
    pub max_series: usize,
    /// Notes shown at the top of the page, under the title (e.g. that a
    /// history is superseded, and what changed).
    pub notes: Vec<String>,
    /// A table of the dataset's columns shown as given (e.g. a history's
    /// columns with their birth, dormancy and retirement); none when
    /// `None`.
    pub columns: Option<TextSection>,
}

/// A section of text cells, shown in the page as given: a title, notes
/// and a table. The caller fills it (this crate reads no cache).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextSection {
    /// The section heading.
    pub title: String,
    /// Notes shown above the table.
    pub notes: Vec<String>,
    /// The table's header.
    pub header: Vec<String>,
    /// The table's rows (a row shorter than the header leaves cells empty).
    pub rows: Vec<Vec<String>>,
}

impl Default for HtmlOptions {
    fn default() -> Self {
        HtmlOptions {
            title: None,
            max_rows: 200,
            max_panels: 12,
            max_series: 8,
            notes: Vec::new(),
            columns: None,
        }
    }
}

impl HtmlOptions {
    /// Sets the title.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// Sets how many rows of the tidy table are shown.
    #[must_use]
    pub fn max_rows(mut self, n: usize) -> Self {
        self.max_rows = n;
        self
    }
    /// Sets how many small plots a result gets at most.
    #[must_use]
    pub fn max_panels(mut self, n: usize) -> Self {
        self.max_panels = n.max(1);
        self
    }
    /// Sets how many lines a history plot holds at most.
    #[must_use]
    pub fn max_series(mut self, n: usize) -> Self {
        self.max_series = n.max(1);
        self
    }
    /// Adds a note shown at the top of the page.
    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    /// Sets the columns section.
    #[must_use]
    pub fn columns(mut self, section: TextSection) -> Self {
        self.columns = Some(section);
        self
    }
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px auto;max-width:1400px;padding:0 16px;color:#222}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin-top:0}
.grid{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;border:1px solid #e4e4e4;border-radius:6px;padding:6px;background:#fff}
figcaption{font-size:13px;color:#555;max-width:640px;padding:4px 2px 0}
.note{background:#fff8e1;border-left:4px solid #f0c000;padding:6px 10px;font-size:14px}
table{border-collapse:collapse;font-size:13px;margin-top:8px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafafa}
pre{background:#f7f7f7;padding:10px;overflow-x:auto;font-size:13px}
";

/// The page title: the option, else the `title` or `sweep` attribute.
fn page_title(ds: &Dataset, opts: &HtmlOptions) -> String {
    if let Some(t) = &opts.title {
        return t.clone();
    }
    for key in ["title", "sweep"] {
        if let Some(AttrValue::Str(s)) = ds.attrs.get(key)
            && !s.is_empty()
        {
            return s.clone();
        }
    }
    "Sweep report".into()
}

/// A plot with what it shows.
struct Figure {
    svg: String,
    caption: String,
}

/// A group of figures under one heading, with notes.
#[derive(Default)]
struct Section {
    title: String,
    figures: Vec<Figure>,
    notes: Vec<String>,
}

/// The dims that are inputs (not `repeat` or `over_time`).
fn inputs(ds: &Dataset) -> Vec<usize> {
    (0..ds.dims().len())
        .filter(|&k| {
            let n = &ds.dims()[k].name;
            n != REPEAT_DIM && n != OVER_TIME_DIM
        })
        .collect()
}

fn is_numeric(c: &Coords) -> bool {
    matches!(c, Coords::Float(_) | Coords::Int(_) | Coords::Time(_))
}

fn numeric_coords(c: &Coords) -> Vec<f64> {
    match c {
        Coords::Float(v) => v.clone(),
        #[allow(clippy::cast_precision_loss, reason = "plot positions")]
        Coords::Int(v) | Coords::Time(v) => v.iter().map(|x| *x as f64).collect(),
        _ => Vec::new(),
    }
}

/// Mean, and mean ± std, over `repeat` (the dataset itself and no spread
/// when there is no `repeat` dim).
struct Stats {
    mean: Dataset,
    std: Option<Dataset>,
    repeats: usize,
}

fn stats(ds: &Dataset) -> Result<Stats> {
    if ds.dim_index(REPEAT_DIM).is_err() {
        return Ok(Stats {
            mean: ds.clone(),
            std: None,
            repeats: 1,
        });
    }
    Ok(Stats {
        mean: ds.reduce(REPEAT_DIM, Reduction::Mean)?,
        std: Some(ds.reduce(REPEAT_DIM, Reduction::Std)?),
        repeats: ds.dim(REPEAT_DIM)?.len(),
    })
}

fn f64_values(ds: &Dataset, col: &str) -> Vec<f64> {
    ds.column(col)
        .ok()
        .and_then(|c| c.f64())
        .map(|a| a.iter().copied().collect())
        .unwrap_or_default()
}

/// Every combination of positions of the dims `axes` (sizes `sizes`), in
/// row-major order, up to `cap`.
fn combos(sizes: &[usize], cap: usize) -> Vec<Vec<usize>> {
    let total: usize = sizes.iter().product();
    (0..total.min(cap))
        .map(|mut lin| {
            let mut idx = vec![0; sizes.len()];
            for k in (0..sizes.len()).rev() {
                idx[k] = lin % sizes[k];
                lin /= sizes[k];
            }
            idx
        })
        .collect()
}

/// Selects position `idx[k]` of dim `names[k]` for every k.
fn isel_all(ds: &Dataset, names: &[String], idx: &[usize]) -> Result<Dataset> {
    let mut out = ds.clone();
    for (n, i) in names.iter().zip(idx) {
        out = out.isel(n, *i)?;
    }
    Ok(out)
}

fn combo_label(ds: &Dataset, names: &[String], idx: &[usize]) -> String {
    names
        .iter()
        .zip(idx)
        .map(|(n, i)| {
            let v = ds
                .dim(n)
                .ok()
                .and_then(|d| d.coords.get(*i))
                .map(|v| v.to_string())
                .unwrap_or_default();
            format!("{n}={v}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns that are plotted, and notes on those that are not.
fn plotted_columns(ds: &Dataset, notes: &mut Vec<String>) -> Vec<String> {
    let text: Vec<&str> = ds
        .columns()
        .iter()
        .filter(|c| c.data.storage() == Storage::Text)
        .map(|c| c.name.as_str())
        .collect();
    if !text.is_empty() {
        notes.push(format!(
            "Text columns are listed in the table, not plotted: {}.",
            text.join(", ")
        ));
    }
    let refs: Vec<&str> = ds
        .columns()
        .iter()
        .filter(|c| c.kind == ResultKind::Reference)
        .map(|c| c.name.as_str())
        .collect();
    if !refs.is_empty() {
        notes.push(format!(
            "Reference columns index in-memory objects and are not plotted: {}.",
            refs.join(", ")
        ));
    }
    ds.columns()
        .iter()
        .filter(|c| matches!(c.data, ColumnData::F64(_)))
        .map(|c| c.name.clone())
        .collect()
}

fn history_section(ds: &Dataset, cols: &[String], opts: &HtmlOptions) -> Result<Option<Section>> {
    let Ok(t) = ds.dim(OVER_TIME_DIM) else {
        return Ok(None);
    };
    if t.len() < 2 {
        return Ok(None);
    }
    let mut sec = Section {
        title: format!("History over {} events", t.len()),
        ..Section::default()
    };
    let events = coord_labels(&t.coords);
    let st = stats(ds)?;
    let extra: Vec<String> = inputs(&st.mean)
        .iter()
        .map(|&k| st.mean.dims()[k].name.clone())
        .collect();
    let sizes: Vec<usize> = extra
        .iter()
        .map(|n| st.mean.dim(n).map_or(0, |d| d.len()))
        .collect();
    let total: usize = sizes.iter().product();
    let points = combos(&sizes, opts.max_series);
    if total > points.len() {
        sec.notes.push(format!(
            "Each history plot shows the first {} of {total} input points ({}); {} left out.",
            points.len(),
            extra.join(", "),
            total - points.len()
        ));
    }
    let x_label = header(OVER_TIME_DIM, &t.attrs.units);
    for name in cols {
        let col = ds.column(name)?;
        let mut series = Vec::new();
        for p in &points {
            let sub = isel_all(&st.mean, &extra, p)?;
            let name = if extra.is_empty() {
                col.name.clone()
            } else {
                combo_label(&st.mean, &extra, p)
            };
            series.push((name, f64_values(&sub, &col.name)));
        }
        let y_label = header(&col.name, &col.attrs.units);
        let title = format!("{} over time", col.name);
        match plot::history(&title, &events, &x_label, &series, &y_label, LARGE)? {
            Some(svg) => sec.figures.push(Figure {
                svg,
                caption: format!(
                    "{y_label}: mean over {} repeat(s) at each event.",
                    st.repeats
                ),
            }),
            None => sec
                .notes
                .push(format!("`{}` has no values to plot.", col.name)),
        }
    }
    Ok(Some(sec))
}

/// The plot of one column over the primary inputs of one panel.
fn panel(
    mean: &Dataset,
    std: Option<&Dataset>,
    col: &str,
    primary: &[String],
    title: &str,
    size: Size,
) -> Result<Option<(String, &'static str)>> {
    let c = mean.column(col)?;
    let y_label = header(&c.name, &c.attrs.units);
    let y = f64_values(mean, col);
    let sd = std
        .map(|s| f64_values(s, col))
        .unwrap_or_else(|| vec![f64::NAN; y.len()]);
    let lo: Vec<f64> = y.iter().zip(&sd).map(|(m, s)| m - s).collect();
    let hi: Vec<f64> = y.iter().zip(&sd).map(|(m, s)| m + s).collect();
    let band = Band {
        y: &y,
        lo: &lo,
        hi: &hi,
    };
    match primary {
        [x] => {
            let d = mean.dim(x)?;
            let x_label = header(&d.name, &d.attrs.units);
            if is_numeric(&d.coords) {
                let xs = numeric_coords(&d.coords);
                Ok(plot::line(title, &xs, &x_label, &band, &y_label, size)?.map(|s| (s, "line")))
            } else {
                let cats = coord_labels(&d.coords);
                Ok(plot::bars(title, &cats, &x_label, &band, &y_label, size)?.map(|s| (s, "bars")))
            }
        }
        [x, yd] => {
            let (dx, dy) = (mean.dim(x)?, mean.dim(yd)?);
            Ok(plot::heatmap(
                title,
                &tick_labels(&dx.coords),
                &header(&dx.name, &dx.attrs.units),
                &tick_labels(&dy.coords),
                &header(&dy.name, &dy.attrs.units),
                &y,
                &format!("mean {y_label}"),
                size,
            )?
            .map(|s| (s, "heatmap")))
        }
        _ => Ok(None),
    }
}

fn results_section(
    ds: &Dataset,
    cols: &[String],
    opts: &HtmlOptions,
    notes: Vec<String>,
) -> Result<Section> {
    let mut sec = Section {
        title: "Results".into(),
        notes,
        ..Section::default()
    };
    // The shape plots show the latest event.
    let ds = match ds.dim(OVER_TIME_DIM) {
        Ok(t) if !t.is_empty() => {
            if t.len() > 1 {
                let last = coord_labels(&t.coords).pop().unwrap_or_default();
                sec.notes
                    .push(format!("Plots below show the latest event, {last}."));
            }
            ds.isel(OVER_TIME_DIM, t.len() - 1)?
        }
        _ => ds.clone(),
    };
    let st = stats(&ds)?;
    let ins = inputs(&st.mean);
    let (num, cat): (Vec<usize>, Vec<usize>) = ins
        .iter()
        .partition(|&&k| is_numeric(&st.mean.dims()[k].coords));
    let primary: Vec<usize> = if num.len() >= 2 {
        num[..2].to_vec()
    } else if num.len() == 1 {
        num.clone()
    } else {
        cat.iter().take(1).copied().collect()
    };
    if primary.is_empty() {
        sec.notes
            .push("The sweep has no inputs: see the statistics over repeats below.".into());
        return Ok(sec);
    }
    let name = |k: &usize| st.mean.dims()[*k].name.clone();
    let primary_names: Vec<String> = primary.iter().map(name).collect();
    let extra: Vec<String> = ins
        .iter()
        .filter(|k| !primary.contains(k))
        .map(name)
        .collect();
    let sizes: Vec<usize> = extra
        .iter()
        .map(|n| st.mean.dim(n).map_or(0, |d| d.len()))
        .collect();
    let total: usize = sizes.iter().product();
    let panels = combos(&sizes, opts.max_panels);
    if total > panels.len() {
        sec.notes.push(format!(
            "One plot per combination of {}: the first {} of {total} are shown, {} left out.",
            extra.join(", "),
            panels.len(),
            total - panels.len()
        ));
    }
    let size = if panels.len() > 1 { SMALL } else { LARGE };
    let spread = if st.std.is_some() && st.repeats > 1 {
        format!(" Spread: ± 1 std (population) over {} repeats.", st.repeats)
    } else {
        String::new()
    };
    for col_name in cols {
        for p in &panels {
            let mean = isel_all(&st.mean, &extra, p)?;
            let std = st
                .std
                .as_ref()
                .map(|s| isel_all(s, &extra, p))
                .transpose()?;
            let label = combo_label(&st.mean, &extra, p);
            let title = if label.is_empty() {
                col_name.clone()
            } else {
                format!("{col_name} | {label}")
            };
            match panel(&mean, std.as_ref(), col_name, &primary_names, &title, size)? {
                Some((svg, kind)) => {
                    let what = match kind {
                        "heatmap" => format!(
                            "Heatmap of the mean of {col_name} over {} and {}.",
                            primary_names[0], primary_names[1]
                        ),
                        "bars" => format!("Mean of {col_name} per {}.", primary_names[0]),
                        _ => format!("Mean of {col_name} against {}.", primary_names[0]),
                    };
                    let spread = if kind == "heatmap" {
                        ""
                    } else {
                        spread.as_str()
                    };
                    sec.figures.push(Figure {
                        svg,
                        caption: format!("{what}{spread}"),
                    });
                }
                None => sec.notes.push(format!("{title}: no values to plot.")),
            }
        }
    }
    Ok(sec)
}

fn write_section(out: &mut String, sec: &Section) {
    let _ = writeln!(out, "<h2>{}</h2>", escape(&sec.title));
    for n in &sec.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(n));
    }
    out.push_str("<div class=\"grid\">\n");
    for f in &sec.figures {
        let _ = writeln!(
            out,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            f.svg,
            escape(&f.caption)
        );
    }
    out.push_str("</div>\n");
}

fn text_section_html(sec: &TextSection, out: &mut String) {
    let _ = writeln!(out, "<h2>{}</h2>", escape(&sec.title));
    for n in &sec.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(n));
    }
    if sec.header.is_empty() && sec.rows.is_empty() {
        return;
    }
    out.push_str("<table><tr>");
    for h in &sec.header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    let width = sec
        .rows
        .iter()
        .map(Vec::len)
        .chain([sec.header.len()])
        .max()
        .unwrap_or(0);
    for row in &sec.rows {
        out.push_str("<tr>");
        for k in 0..width {
            let cell = row.get(k).map_or("", String::as_str);
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn stats_table(ds: &Dataset, out: &mut String) -> Result<()> {
    if ds.dim_index(REPEAT_DIM).is_err() || !inputs(ds).is_empty() {
        return Ok(());
    }
    let ds = match ds.dim(OVER_TIME_DIM) {
        Ok(t) if !t.is_empty() => ds.isel(OVER_TIME_DIM, t.len() - 1)?,
        _ => ds.clone(),
    };
    let reduced: Vec<Dataset> = Reduction::ALL
        .iter()
        .map(|r| ds.reduce(REPEAT_DIM, *r))
        .collect::<collector_core::Result<_>>()?;
    out.push_str("<table><tr><th>column</th>");
    for r in Reduction::ALL {
        let _ = write!(out, "<th>{r}</th>");
    }
    out.push_str("</tr>\n");
    for c in reduced[0].columns() {
        let _ = write!(
            out,
            "<tr><td>{}</td>",
            escape(&header(&c.name, &c.attrs.units))
        );
        for r in &reduced {
            let v = f64_values(r, &c.name).first().copied().unwrap_or(f64::NAN);
            let _ = write!(out, "<td class=\"num\">{}</td>", crate::table::fmt_num(v));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    Ok(())
}

fn failures_html(failures: &[SampleFailure], out: &mut String) {
    let _ = writeln!(out, "<h2>Failed samples ({})</h2>", failures.len());
    if failures.is_empty() {
        out.push_str("<p>None.</p>\n");
        return;
    }
    let names = failure_input_names(failures);
    out.push_str("<table><tr><th>job</th>");
    for n in &names {
        let _ = write!(out, "<th>{}</th>", escape(n));
    }
    out.push_str("<th>kind</th><th>message</th></tr>\n");
    for f in failures {
        out.push_str("<tr>");
        for cell in failure_row(f, &names) {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn tidy_html(ds: &Dataset, max_rows: usize, out: &mut String) {
    let t = TidyTable::from_dataset(ds);
    let shown = t.rows().min(max_rows);
    let _ = writeln!(out, "<h2>Data ({} rows)</h2>", t.rows());
    out.push_str("<table><tr>");
    for c in &t.columns {
        let _ = write!(out, "<th>{}</th>", escape(&c.header()));
    }
    out.push_str("</tr>\n");
    for r in 0..shown {
        out.push_str("<tr>");
        for cell in t.row(r) {
            let class = if cell.as_f64().is_some() {
                " class=\"num\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(&cell.to_string()));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    if shown < t.rows() {
        let _ = writeln!(out, "<p>{}</p>", escape(&more_rows(t.rows() - shown)));
    }
}

/// The HTML page of `ds` and its `failures`.
pub fn html_report(ds: &Dataset, failures: &[SampleFailure], opts: &HtmlOptions) -> Result<String> {
    let title = page_title(ds, opts);
    let mut notes = Vec::new();
    let cols = plotted_columns(ds, &mut notes);
    let history = history_section(ds, &cols, opts)?;
    let results = results_section(ds, &cols, opts, notes)?;

    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(out, "<title>{}</title>", escape(&title));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(out, "<h1>{}</h1>", escape(&title));
    let dims: Vec<String> = ds
        .dims()
        .iter()
        .map(|d| format!("{}: {}", d.name, d.len()))
        .collect();
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} cells per column · dims ({}) · {} result columns · {} failed samples</p>",
        ds.cell_count(),
        escape(&dims.join(", ")),
        ds.columns().len(),
        failures.len()
    );
    let _ = writeln!(
        out,
        "<details><summary>Dataset summary</summary><pre>{}</pre></details>",
        escape(&ds.to_string())
    );
    for n in &opts.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(n));
    }
    if let Some(h) = &history {
        write_section(&mut out, h);
    }
    if let Some(c) = &opts.columns {
        text_section_html(c, &mut out);
    }
    write_section(&mut out, &results);
    stats_table(ds, &mut out)?;
    failures_html(failures, &mut out);
    tidy_html(ds, opts.max_rows, &mut out);
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// Writes the HTML page of `ds` and its `failures` to the file `path`.
pub fn write_html(
    ds: &Dataset,
    failures: &[SampleFailure],
    path: impl AsRef<Path>,
    opts: &HtmlOptions,
) -> Result<()> {
    let path = path.as_ref();
    let page = html_report(ds, failures, opts)?;
    std::fs::write(path, page).map_err(crate::error::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn text_sections_are_escaped_and_padded() {
        let sec = TextSection {
            title: "Columns <3".into(),
            notes: vec!["a & b".into()],
            header: vec!["NAME".into(), "STATE".into()],
            rows: vec![vec!["t".into(), "live".into()], vec!["u".into()]],
        };
        let mut out = String::new();
        text_section_html(&sec, &mut out);
        assert!(out.contains("<h2>Columns &lt;3</h2>"), "{out}");
        assert!(out.contains("<p class=\"note\">a &amp; b</p>"), "{out}");
        assert!(out.contains("<th>NAME</th><th>STATE</th>"), "{out}");
        assert!(out.contains("<tr><td>u</td><td></td></tr>"), "{out}");
    }

    #[test]
    fn combos_are_row_major_and_capped() {
        assert_eq!(
            combos(&[2, 2], 10),
            [vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]
        );
        assert_eq!(combos(&[3, 4], 2).len(), 2);
        assert_eq!(combos(&[], 5), [Vec::<usize>::new()]);
    }
}
