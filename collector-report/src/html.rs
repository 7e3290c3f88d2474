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
//! Float columns (float, bool and vec results) are plotted; image columns
//! are shown as grids of thumbnails (see [`ImageOptions`]); other text
//! columns (strings, paths, videos, blobs) are shown in the table only,
//! and reference columns (in-memory indices) are skipped. When the
//! dataset has several events, the shape plots and the thumbnails show
//! the latest one.
//!
//! The history plots put their legend beside the plot area, label the
//! events by their labels or by the part of their timestamps that tells
//! them apart, and, with [`HtmlOptions::regressions`], mark each
//! regressed series: its current point in red and its accepted band
//! shaded, with a summary of the findings at the top of the page.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use collector_core::reduce::Reduction;
use collector_core::regress::{Flagged, Grain, RegressionReport};
use collector_core::{
    AttrValue, ColumnData, Coords, Dataset, OVER_TIME_DIM, REPEAT_DIM, ResultKind, SampleFailure,
    Storage, Value, unravel,
};

use crate::error::Result;
use crate::images::{ImageOptions, images_html};
use crate::plot::{self, Band, HistorySeries, LARGE, Mark, SMALL, Size};
use crate::table::{
    TidyTable, coord_labels, event_labels, failure_input_names, failure_row, fmt_num, header,
    more_rows, tick_labels,
};

/// What goes into the page.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HtmlOptions {
    /// The page title; the dataset's `title` or `sweep` attribute when
    /// `None`.
    pub title: Option<String>,
    /// Rows of the tidy table shown (the rest is counted, not shown).
    pub max_rows: usize,
    /// Small plots per result for the combinations of extra inputs (and
    /// thumbnail grids per image result).
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
    /// How image results are shown as thumbnails (where their files are,
    /// inlined or linked, which repeat and event).
    pub images: ImageOptions,
    /// A regression check of this history
    /// ([`detect`](collector_core::regress::detect) on the same dataset):
    /// a summary at the top of the page, and on the history plots each
    /// regressed series' current point in red with its accepted band.
    pub regressions: Option<RegressionReport>,
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
            images: ImageOptions::default(),
            regressions: None,
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
    /// Sets the directory image cells are relative to (the cache
    /// directory's `media/`).
    #[must_use]
    pub fn media_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.images.media_root = Some(dir.into());
        self
    }
    /// Links image files by their path relative to the page instead of
    /// inlining them.
    #[must_use]
    pub fn link_media(mut self, link: bool) -> Self {
        self.images.link = link;
        self
    }
    /// Sets the repeat whose images are shown (its coordinate, 1 for the
    /// first).
    #[must_use]
    pub fn image_repeat(mut self, repeat: i64) -> Self {
        self.images.repeat = Some(repeat);
        self
    }
    /// Sets the event whose images are shown (its position in
    /// `over_time`, 0 for the oldest; default the newest).
    #[must_use]
    pub fn image_event(mut self, event: usize) -> Self {
        self.images.event = Some(event);
        self
    }
    /// Sets the regression check whose findings the page shows: a
    /// summary at the top, and on the history plot of each flagged
    /// series its current point in red and its accepted band.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use collector_core::{Column, ColumnData, Coords, Dataset, Dim, ResultKind};
    /// use collector_core::regress::{Options, detect};
    /// use collector_report::{HtmlOptions, html_report};
    /// use ndarray::{ArrayD, IxDyn};
    ///
    /// // One series over 6 events that jumps at the newest.
    /// let dims = vec![Dim::new("over_time", Coords::Label((1..=6).map(|k| format!("v{k}")).collect()))];
    /// let mut c = Column::new_missing("time", "time", ResultKind::Float, &[6]);
    /// let v = vec![1.0, 1.01, 0.99, 1.0, 1.02, 2.0];
    /// c.data = ColumnData::F64(ArrayD::from_shape_vec(IxDyn(&[6]), v)?);
    /// let ds = Dataset::from_parts(dims, vec![c], Default::default())?;
    /// let report = detect(&ds, &BTreeMap::new(), &BTreeMap::new(), &Options::default());
    /// assert_eq!(report.series.len(), 1);
    ///
    /// let page = html_report(&ds, &[], &HtmlOptions::default().regressions(report))?;
    /// assert!(page.contains("Regressions</h2>"));
    /// assert!(page.contains("fill=\"#DC0000\""), "the current point in red");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn regressions(mut self, report: RegressionReport) -> Self {
        self.regressions = Some(report);
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
.alert{background:#fdecea;border-left:4px solid #dc0000;padding:6px 10px;font-size:14px}
h3{margin:20px 0 4px}h4{margin:14px 0 2px;font-weight:normal;color:#444}
table.thumbs td,table.thumbs th{text-align:center;vertical-align:middle;padding:4px}
table.thumbs td{background:#fff}
table.thumbs img{display:block;margin:auto;max-width:200px;max-height:150px}
table.thumbs .miss{color:#a01010;font-size:12px;max-width:200px;word-break:break-all}
table.thumbs .miss span{color:#777;font-size:11px}
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
    /// The element id, for links from the regression summary.
    id: Option<String>,
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
pub(crate) fn combos(sizes: &[usize], cap: usize) -> Vec<Vec<usize>> {
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
pub(crate) fn isel_all(ds: &Dataset, names: &[String], idx: &[usize]) -> Result<Dataset> {
    let mut out = ds.clone();
    for (n, i) in names.iter().zip(idx) {
        out = out.isel(n, *i)?;
    }
    Ok(out)
}

pub(crate) fn combo_label(ds: &Dataset, names: &[String], idx: &[usize]) -> String {
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
        .filter(|c| c.data.storage() == Storage::Text && c.kind != ResultKind::Image)
        .map(|c| c.name.as_str())
        .collect();
    let images: Vec<&str> = ds
        .columns()
        .iter()
        .filter(|c| c.data.storage() == Storage::Text && c.kind == ResultKind::Image)
        .map(|c| c.name.as_str())
        .collect();
    if !images.is_empty() {
        notes.push(format!(
            "Image columns are shown as thumbnails under Images: {}.",
            images.join(", ")
        ));
    }
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

/// The linear index (row-major over `dims` of `ds`) of the input point
/// `cell` names, or `None` when it names another grid.
fn point_of(ds: &Dataset, dims: &[String], cell: &[(String, Value)]) -> Option<usize> {
    if cell.len() != dims.len() {
        return None;
    }
    let mut lin = 0;
    for name in dims {
        let (_, v) = cell.iter().find(|(d, _)| d == name)?;
        let d = ds.dim(name).ok()?;
        let at = (0..d.len()).find(|&i| {
            d.coords
                .get(i)
                .is_some_and(|c| c == *v || c.to_string() == v.to_string())
        })?;
        lin = lin * d.len() + at;
    }
    Some(lin)
}

/// The mean of the finite values of column `col` at each of `events`
/// events: the series a per-variable check judges.
fn overall_means(ds: &Dataset, col: &str, events: usize) -> Result<Vec<f64>> {
    (0..events)
        .map(|t| {
            let ev = ds.isel(OVER_TIME_DIM, t)?;
            let (sum, n) = f64_values(&ev, col)
                .iter()
                .filter(|v| v.is_finite())
                .fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
            Ok(if n == 0 { f64::NAN } else { sum / f64::from(n) })
        })
        .collect()
}

/// The mark of a flagged series whose plotted values are `values`.
fn mark_of(f: &Flagged, newest: usize, values: &[f64]) -> Mark {
    Mark {
        at: newest,
        current: f
            .current
            .or_else(|| values.get(newest).copied())
            .unwrap_or(f64::NAN),
        band: f.band,
        young: f.young,
    }
}

/// `≤ 1.5`, `≥ 0.2` or `[0.2, 1.5]`.
fn band_text(band: Option<(f64, f64)>) -> String {
    match band {
        None => "—".into(),
        Some((lo, hi)) if lo == f64::NEG_INFINITY => format!("≤ {}", fmt_num(hi)),
        Some((lo, hi)) if hi == f64::INFINITY => format!("≥ {}", fmt_num(lo)),
        Some((lo, hi)) => format!("[{}, {}]", fmt_num(lo), fmt_num(hi)),
    }
}

fn change_text(c: Option<f64>) -> String {
    c.map_or_else(|| "—".into(), |c| format!("{c:+.1}%"))
}

/// The id of a column's first history plot, for links from the summary.
fn history_id(col: &str) -> String {
    let safe: String = col
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("history-{safe}")
}

/// The input points of a column's history plots: the first plot holds
/// the regressed points, then the first others in input order, up to
/// `per_plot`; further plots hold the regressed points left, up to
/// `max_plots` plots in all. Each plot's points are in input order.
fn plot_points(
    total: usize,
    flagged: &[usize],
    per_plot: usize,
    max_plots: usize,
) -> Vec<Vec<usize>> {
    let per_plot = per_plot.max(1);
    let mut first: Vec<usize> = flagged.iter().copied().take(per_plot).collect();
    for p in 0..total {
        if first.len() >= per_plot {
            break;
        }
        if !first.contains(&p) {
            first.push(p);
        }
    }
    first.sort_unstable();
    let mut plots = vec![first];
    for chunk in flagged.get(per_plot..).unwrap_or_default().chunks(per_plot) {
        if plots.len() >= max_plots.max(1) {
            break;
        }
        plots.push(chunk.to_vec());
    }
    plots
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
    let (events, axis_note) = event_labels(&t.coords);
    let newest = t.len() - 1;
    let newest_label = coord_labels(&t.coords).pop().unwrap_or_default();
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
    let per_plot = opts.max_series.max(1);
    if total > per_plot {
        sec.notes.push(format!(
            "Each history plot shows {per_plot} of {total} input points ({}): the regressed ones, then the first in input order; {} left out.",
            extra.join(", "),
            total - per_plot
        ));
    }
    let x_label = match axis_note {
        Some(n) => format!("{} ({n})", header(OVER_TIME_DIM, &t.attrs.units)),
        None => header(OVER_TIME_DIM, &t.attrs.units),
    };
    let flagged: Vec<&Flagged> = opts
        .regressions
        .iter()
        .flat_map(|r| r.series.iter())
        .collect();
    for name in cols {
        let col = ds.column(name)?;
        let mine: Vec<&Flagged> = flagged
            .iter()
            .filter(|f| f.variable == *name)
            .copied()
            .collect();
        // A finding without a cell is the variable's (per variable), or
        // the only series' when the sweep has no inputs.
        let mut overall = None;
        let mut marks: std::collections::BTreeMap<usize, &Flagged> = Default::default();
        for f in &mine {
            if f.cell.is_empty() && !extra.is_empty() {
                overall = Some(*f);
            } else if f.cell.is_empty() {
                marks.insert(0, f);
            } else {
                match point_of(&st.mean, &extra, &f.cell) {
                    Some(lin) => {
                        marks.insert(lin, f);
                    }
                    None => sec.notes.push(format!(
                        "The regression of {} names no input point of this history: it is listed under Regressions only.",
                        f.label()
                    )),
                }
            }
        }
        let flagged_points: Vec<usize> = marks.keys().copied().collect();
        let plots = plot_points(total, &flagged_points, per_plot, opts.max_panels);
        let plotted: usize = plots
            .iter()
            .map(|p| p.iter().filter(|lin| marks.contains_key(lin)).count())
            .sum();
        if plotted < flagged_points.len() {
            sec.notes.push(format!(
                "`{name}` has {} regressed series; {plotted} are plotted (see Regressions for the rest).",
                flagged_points.len()
            ));
        }
        let y_label = header(&col.name, &col.attrs.units);
        for (k, points) in plots.iter().enumerate() {
            let mut series = Vec::with_capacity(points.len() + 1);
            let mut regressed = Vec::new();
            for &lin in points {
                let p = unravel(lin, &sizes);
                let sub = isel_all(&st.mean, &extra, &p)?;
                let label = if extra.is_empty() {
                    col.name.clone()
                } else {
                    combo_label(&st.mean, &extra, &p)
                };
                let values = f64_values(&sub, &col.name);
                let mark = marks.get(&lin).map(|f| {
                    regressed.push(*f);
                    mark_of(f, newest, &values)
                });
                series.push(HistorySeries {
                    name: label,
                    values,
                    overall: false,
                    mark,
                });
            }
            if k == 0
                && let Some(f) = overall
            {
                let values = overall_means(ds, name, t.len())?;
                regressed.push(f);
                series.push(HistorySeries {
                    name: "mean over every cell".into(),
                    mark: Some(mark_of(f, newest, &values)),
                    values,
                    overall: true,
                });
            }
            let title = if plots.len() > 1 {
                format!("{} over time ({}/{})", col.name, k + 1, plots.len())
            } else {
                format!("{} over time", col.name)
            };
            let mut caption = format!(
                "{y_label}: mean over {} repeat(s) at each event.",
                st.repeats
            );
            if regressed.len() > 3 {
                let young = regressed.iter().filter(|f| f.young).count();
                let _ = write!(
                    caption,
                    " {} series regressed at the newest event ({newest_label}){}: current values in red, accepted bands shaded; each is listed under Regressions.",
                    regressed.len(),
                    if young > 0 {
                        format!(", {young} of them with young baselines (hollow)")
                    } else {
                        String::new()
                    }
                );
            } else if !regressed.is_empty() {
                let _ = write!(
                    caption,
                    " Regressed at the newest event ({newest_label}), current value in red, accepted band shaded:"
                );
                for (i, f) in regressed.iter().enumerate() {
                    let who = if f.cell.is_empty() {
                        "the mean over every cell".to_string()
                    } else {
                        f.cell
                            .iter()
                            .map(|(d, v)| format!("{d}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let young = if f.young { ", young baseline" } else { "" };
                    let _ = write!(
                        caption,
                        "{} {who}: {} ({}), band {}{young}",
                        if i == 0 { "" } else { ";" },
                        f.current.map_or_else(|| "—".into(), fmt_num),
                        change_text(f.change_pct),
                        band_text(f.band),
                    );
                }
                caption.push('.');
            }
            match plot::history(&title, &events, &x_label, &series, &y_label, LARGE)? {
                Some(svg) => sec.figures.push(Figure {
                    svg,
                    caption,
                    id: (k == 0).then(|| history_id(name)),
                }),
                None => sec
                    .notes
                    .push(format!("`{}` has no values to plot.", col.name)),
            }
        }
    }
    Ok(Some(sec))
}

/// The regression summary: the headline, one row per flagged series and
/// the footnotes of `r`.
fn regressions_html(r: &RegressionReport, out: &mut String) {
    let blocking = r.series.iter().filter(|f| !f.young).count();
    let young = r.series.len() - blocking;
    let _ = writeln!(out, "<h2 id=\"regressions\">Regressions</h2>");
    let unit = match r.grain {
        Grain::PerCell => "cells",
        Grain::PerVariable => "variables",
    };
    let mut head = format!(
        "{} {unit} tested, {} flagged ({})",
        r.cells_tested,
        r.cells_flagged,
        r.grain.name().replace('_', " ")
    );
    if let Some(fdr) = r.fdr {
        let _ = write!(
            head,
            "; Benjamini-Hochberg FDR {}: {} suppressed",
            fmt_num(fdr),
            r.suppressed_by_fdr
        );
    }
    let class = if blocking > 0 { "alert" } else { "note" };
    let verdict = match (blocking, young) {
        (0, 0) => "No regressions detected".to_string(),
        (b, 0) => format!("{b} regression(s)"),
        (0, y) => format!("{y} regression(s), all with young baselines (they do not block)"),
        (b, y) => format!("{b} regression(s), and {y} with young baselines (they do not block)"),
    };
    let _ = writeln!(
        out,
        "<p class=\"{class}\">{}: {}.</p>",
        escape(&verdict),
        escape(&head)
    );
    if !r.series.is_empty() {
        out.push_str(
            "<table><tr><th>variable</th><th>cell</th><th>method</th><th>test</th><th>baseline</th>\
             <th>current</th><th>change</th><th>band</th><th>young</th></tr>\n",
        );
        for f in &r.series {
            let cell = f
                .cell
                .iter()
                .map(|(d, v)| format!("{d}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&history_id(&f.variable)),
                escape(&f.variable),
                escape(if cell.is_empty() {
                    "(every cell)"
                } else {
                    &cell
                }),
                escape(&f.method.to_string()),
                escape(&f.test),
                f.baseline.map_or_else(|| "—".into(), fmt_num),
                f.current.map_or_else(|| "—".into(), fmt_num),
                escape(&change_text(f.change_pct)),
                escape(&band_text(f.band)),
                if f.young { "yes: notify only" } else { "no" }
            );
        }
        out.push_str("</table>\n");
    }
    let mut notes = Vec::new();
    if !r.not_enough_history.is_empty() {
        notes.push(format!(
            "Not enough history: {} ({} series).",
            r.not_enough_history.join(", "),
            r.series_not_enough_history
        ));
    }
    if r.cells_without_current > 0 {
        notes.push(format!(
            "No current value: {} series.",
            r.cells_without_current
        ));
    }
    if r.skipped_non_finite > 0 {
        notes.push(format!(
            "Skipped non-finite values: {}.",
            r.skipped_non_finite
        ));
    }
    for n in notes {
        let _ = writeln!(out, "<p class=\"meta\">{}</p>", escape(&n));
    }
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
                        id: None,
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
        let id =
            f.id.as_ref()
                .map_or_else(String::new, |id| format!(" id=\"{}\"", escape(id)));
        let _ = writeln!(
            out,
            "<figure{id}>{}<figcaption>{}</figcaption></figure>",
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
    let images = images_html(ds, &opts.images, opts.max_panels)?;
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
    if let Some(r) = &opts.regressions {
        regressions_html(r, &mut out);
    }
    if let Some(h) = &history {
        write_section(&mut out, h);
    }
    if let Some(c) = &opts.columns {
        text_section_html(c, &mut out);
    }
    if let Some(i) = &images {
        out.push_str(i);
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
    let page = if opts.images.link && opts.images.page_dir.is_none() {
        let mut opts = opts.clone();
        opts.images.page_dir = Some(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf(),
        );
        html_report(ds, failures, &opts)?
    } else {
        html_report(ds, failures, opts)?
    };
    crate::atomic::write_whole(path, |path| {
        std::fs::write(path, page).map_err(crate::error::io(path))
    })
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
    fn regressed_points_are_plotted_first_then_in_extra_plots() {
        // 20 points, 3 per plot: the regressed 7 and 15 join 0.
        assert_eq!(plot_points(20, &[7, 15], 3, 4), [vec![0, 7, 15]]);
        // More regressed points than a plot holds: further plots, capped.
        assert_eq!(
            plot_points(20, &[1, 4, 9, 12, 17], 2, 2),
            [vec![1, 4], vec![9, 12]]
        );
        assert_eq!(plot_points(2, &[], 8, 4), [vec![0, 1]]);
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
