//! The plots of the HTML report, drawn with plotters into SVG strings.
//!
//! Every function returns a complete `<svg>` element. Categorical axes
//! (labels, booleans, events, heatmap cells) put value `i` at position `i`
//! with a tick there, so that each value gets its own slot whatever its
//! spacing.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::error::{Error, Result};

/// A plot's pixel size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Size {
    pub w: u32,
    pub h: u32,
}

pub(crate) const LARGE: Size = Size { w: 640, h: 400 };
pub(crate) const SMALL: Size = Size { w: 420, h: 300 };

/// Tableau 10: distinguishable, and readable for most colour-blind readers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn plot_err<E: std::fmt::Display>(title: &str) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Plot {
        plot: title.to_string(),
        message: e.to_string(),
    }
}

/// The padded range of the finite values, or `None` when there are none.
fn value_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo > hi {
        return None;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.06
    } else {
        lo.abs().max(1.0) * 0.1
    };
    Some((lo - pad, hi + pad))
}

/// Shortens a tick label so neighbours do not overlap.
fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn caption_font(size: Size) -> (&'static str, u32) {
    ("sans-serif", if size.w >= LARGE.w { 18 } else { 15 })
}

/// How many slot labels fit along an axis of `pixels` with `chars`-wide labels.
fn label_budget(pixels: u32, chars: usize) -> usize {
    let per = u32::try_from(chars.clamp(2, 24)).unwrap_or(24) * 7 + 10;
    usize::try_from((pixels / per).max(2)).unwrap_or(2)
}

fn draw<F>(title: &str, size: Size, f: F) -> Result<String>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.w, size.h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err(title))?;
        f(&root)?;
        root.present().map_err(plot_err(title))?;
    }
    Ok(svg)
}

/// One series of a line plot: `y` against the shared `x`, with an optional
/// band `lo..hi` (same length; NaN where unknown).
pub(crate) struct Band<'a> {
    pub y: &'a [f64],
    pub lo: &'a [f64],
    pub hi: &'a [f64],
}

/// Runs of consecutive positions where `ok` holds.
fn runs(n: usize, ok: impl Fn(usize) -> bool) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for i in 0..=n {
        match (i < n && ok(i), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A line of `band.y` over numeric `x`, with a shaded band for the spread.
pub(crate) fn line(
    title: &str,
    x: &[f64],
    x_label: &str,
    band: &Band<'_>,
    y_label: &str,
    size: Size,
) -> Result<Option<String>> {
    let Some((y0, y1)) = value_range(band.y.iter().chain(band.lo).chain(band.hi).copied()) else {
        return Ok(None);
    };
    let Some((x0, x1)) = value_range(x.iter().copied()) else {
        return Ok(None);
    };
    let svg = draw(title, size, |root| {
        let e = plot_err(title);
        let mut chart = ChartBuilder::on(root)
            .caption(title, caption_font(size))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .label_style(TICK_FONT)
            .axis_desc_style(DESC_FONT)
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(8)
            .y_labels(7)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(&e)?;
        let c = color(0);
        let has_band =
            |i: usize| band.lo[i].is_finite() && band.hi[i].is_finite() && x[i].is_finite();
        for r in runs(x.len(), has_band) {
            if r.len() < 2 {
                let i = r.start;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x[i], band.lo[i]), (x[i], band.hi[i])],
                        c.mix(0.5).stroke_width(2),
                    )))
                    .map_err(&e)?;
                continue;
            }
            let mut pts: Vec<(f64, f64)> = r.clone().map(|i| (x[i], band.hi[i])).collect();
            pts.extend(r.rev().map(|i| (x[i], band.lo[i])));
            chart
                .draw_series(std::iter::once(Polygon::new(pts, c.mix(0.22).filled())))
                .map_err(&e)?;
        }
        let has_y = |i: usize| band.y[i].is_finite() && x[i].is_finite();
        for r in runs(x.len(), has_y) {
            chart
                .draw_series(LineSeries::new(
                    r.map(|i| (x[i], band.y[i])),
                    c.stroke_width(2),
                ))
                .map_err(&e)?;
        }
        chart
            .draw_series(
                (0..x.len())
                    .filter(|&i| has_y(i))
                    .map(|i| Circle::new((x[i], band.y[i]), 3, c.filled())),
            )
            .map_err(&e)?;
        Ok(())
    })?;
    Ok(Some(svg))
}

/// A line of `values` over their index (0, 1, 2, …) under the caption
/// `title`, as one complete `<svg>` element of `width` × `height` pixels:
/// the per-job image of the demo, say.
///
/// Values that are not finite (NaN, ±inf) are skipped: the line joins the
/// finite values on either side. With no finite value the image holds the
/// title only. Text is escaped, so any title is safe to embed in HTML.
///
/// ```
/// let svg = collector_report::line_svg(&[1.0, f64::NAN, 3.0, 2.0], "loss", 320, 200)?;
/// assert!(svg.starts_with("<svg") && svg.contains("loss"));
/// # Ok::<(), collector_report::Error>(())
/// ```
pub fn line_svg(values: &[f64], title: &str, width: u32, height: u32) -> Result<String> {
    if width == 0 || height == 0 {
        return Err(Error::Plot {
            plot: title.to_string(),
            message: format!("an image of {width} x {height} pixels is empty"),
        });
    }
    let size = Size {
        w: width,
        h: height,
    };
    // Fonts shrink with small images (a per-job thumbnail) so that a
    // sentence-long title still fits across.
    let caption = ("sans-serif", (width / 20).clamp(10, 18));
    let ticks = ("sans-serif", (width / 24).clamp(9, 13));
    let points: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| (pos(i), *v))
        .collect();
    let ranges =
        value_range(points.iter().map(|p| p.0)).zip(value_range(points.iter().map(|p| p.1)));
    draw(title, size, |root| {
        let e = plot_err(title);
        let Some(((x0, x1), (y0, y1))) = ranges else {
            root.titled(title, caption).map_err(&e)?;
            return Ok(());
        };
        let mut chart = ChartBuilder::on(root)
            .caption(title, caption)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .label_style(ticks)
            .x_labels(6)
            .y_labels(5)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(&e)?;
        let c = color(0);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))
            .map_err(&e)?;
        if let [p] = points.as_slice() {
            chart
                .draw_series(std::iter::once(Circle::new(*p, 3, c.filled())))
                .map_err(&e)?;
        }
        Ok(())
    })
}

/// An axis of `n` slots: slot `i` is centred on position `i`, the axis
/// spans `-0.5..n - 0.5`, and every `step`-th slot has a tick. Plotters'
/// own float axes place ticks at "nice" numbers, not on the slots.
#[derive(Debug, Clone)]
struct SlotAxis {
    n: usize,
    step: usize,
}

fn slot_axis(n: usize, fit: usize) -> SlotAxis {
    SlotAxis {
        n: n.max(1),
        step: n.div_ceil(fit.max(1)).max(1),
    }
}

impl Ranged for SlotAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let r = self.range();
        let t = (value - r.start) / (r.end - r.start);
        let span = f64::from(limit.1 - limit.0);
        #[allow(clippy::cast_possible_truncation, reason = "pixel positions")]
        let px = (f64::from(limit.0) + t * span).round() as i32;
        px
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        (0..self.n).step_by(self.step).map(pos).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        -0.5..pos(self.n) - 0.5
    }
}

/// The label of the slot at position `v`, cut to `max` characters.
fn slot_formatter(labels: &[String], max: usize) -> impl Fn(&f64) -> String + '_ {
    move |v| {
        let r = v.round();
        if (v - r).abs() > 1e-6 || r < 0.0 {
            return String::new();
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked >= 0"
        )]
        let i = r as usize;
        labels.get(i).map(|s| short(s, max)).unwrap_or_default()
    }
}

#[allow(clippy::cast_precision_loss, reason = "slot positions")]
fn pos(i: usize) -> f64 {
    i as f64
}

const TICK_FONT: (&str, u32) = ("sans-serif", 13);
const DESC_FONT: (&str, u32) = ("sans-serif", 15);

/// Bars of `band.y` per category, with error bars `lo..hi`.
pub(crate) fn bars(
    title: &str,
    cats: &[String],
    x_label: &str,
    band: &Band<'_>,
    y_label: &str,
    size: Size,
) -> Result<Option<String>> {
    let Some((y0, y1)) = value_range(
        band.y
            .iter()
            .chain(band.lo)
            .chain(band.hi)
            .copied()
            .chain([0.0]),
    ) else {
        return Ok(None);
    };
    let n = cats.len();
    let max_chars = cats.iter().map(|c| c.chars().count()).max().unwrap_or(1);
    // Cut long labels before dropping any: every bar should be named.
    let cut = if label_budget(size.w - 90, max_chars) >= n {
        24
    } else {
        10
    };
    let fit = label_budget(size.w - 90, max_chars.min(cut));
    let svg = draw(title, size, |root| {
        let e = plot_err(title);
        let mut chart = ChartBuilder::on(root)
            .caption(title, caption_font(size))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(slot_axis(n, fit), y0.min(0.0)..y1)
            .map_err(&e)?;
        let fmt = slot_formatter(cats, cut);
        chart
            .configure_mesh()
            .label_style(TICK_FONT)
            .axis_desc_style(DESC_FONT)
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(n)
            .y_labels(7)
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_label_formatter(&fmt)
            .draw()
            .map_err(&e)?;
        let c = color(0);
        chart
            .draw_series((0..n).filter(|&i| band.y[i].is_finite()).map(|i| {
                Rectangle::new(
                    [(pos(i) - 0.38, 0.0), (pos(i) + 0.38, band.y[i])],
                    c.mix(0.8).filled(),
                )
            }))
            .map_err(&e)?;
        let whisker = BLACK.stroke_width(1);
        for i in (0..n).filter(|&i| {
            band.lo[i].is_finite() && band.hi[i].is_finite() && band.hi[i] > band.lo[i]
        }) {
            let x = || pos(i);
            chart
                .draw_series([PathElement::new(
                    vec![(x(), band.lo[i]), (x(), band.hi[i])],
                    whisker,
                )])
                .map_err(&e)?;
            for y in [band.lo[i], band.hi[i]] {
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((x(), y))
                            + PathElement::new(vec![(-5, 0), (5, 0)], whisker),
                    ))
                    .map_err(&e)?;
            }
        }
        Ok(())
    })?;
    Ok(Some(svg))
}

/// Viridis, by linear interpolation between 6 of its anchors.
fn viridis(t: f64) -> RGBColor {
    const A: [(f64, f64, f64); 6] = [
        (68.0, 1.0, 84.0),
        (65.0, 68.0, 135.0),
        (42.0, 120.0, 142.0),
        (34.0, 168.0, 132.0),
        (122.0, 209.0, 81.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * 5.0;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "t is in 0..=5"
    )]
    let k = (t.floor() as usize).min(4);
    #[allow(clippy::cast_precision_loss, reason = "k <= 4")]
    let f = t - k as f64;
    let (a, b) = (A[k], A[k + 1]);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "channels in 0..=255"
    )]
    let mix = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A heatmap of `z[i * ys.len() + j]` over the grid `xs × ys`, with a
/// colour bar labelled `z_label`. Missing cells are light grey.
#[allow(clippy::too_many_arguments, reason = "three labelled axes and a title")]
pub(crate) fn heatmap(
    title: &str,
    xs: &[String],
    x_label: &str,
    ys: &[String],
    y_label: &str,
    z: &[f64],
    z_label: &str,
    size: Size,
) -> Result<Option<String>> {
    let Some((z0, z1)) = value_range(z.iter().copied()) else {
        return Ok(None);
    };
    let (nx, ny) = (xs.len(), ys.len());
    let bar_w = 150;
    let x_chars = xs.iter().map(|c| c.chars().count()).max().unwrap_or(1);
    let x_fit = label_budget(size.w - bar_w - 90, x_chars);
    let y_fit = usize::try_from((size.h - 110) / 18).unwrap_or(2).max(2);
    let svg = draw(title, size, |root| {
        let e = plot_err(title);
        let titled = root.titled(title, caption_font(size)).map_err(&e)?;
        let (main, side) = titled.split_horizontally(size.w - bar_w);
        let mut chart = ChartBuilder::on(&main)
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(slot_axis(nx, x_fit), slot_axis(ny, y_fit))
            .map_err(&e)?;
        let fx = slot_formatter(xs, if nx <= x_fit { 12 } else { 7 });
        let fy = slot_formatter(ys, 9);
        chart
            .configure_mesh()
            .label_style(TICK_FONT)
            .axis_desc_style(DESC_FONT)
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(nx)
            .y_labels(ny)
            .disable_mesh()
            .x_label_formatter(&fx)
            .y_label_formatter(&fy)
            .draw()
            .map_err(&e)?;
        let cells = (0..nx).flat_map(|i| (0..ny).map(move |j| (i, j)));
        chart
            .draw_series(cells.map(|(i, j)| {
                let v = z[i * ny + j];
                let fill = if v.is_finite() {
                    viridis((v - z0) / (z1 - z0)).filled()
                } else {
                    RGBColor(220, 220, 220).filled()
                };
                Rectangle::new(
                    [(pos(i) - 0.5, pos(j) - 0.5), (pos(i) + 0.5, pos(j) + 0.5)],
                    fill,
                )
            }))
            .map_err(&e)?;

        let mut bar = ChartBuilder::on(&side)
            .margin_top(12)
            .margin_bottom(60)
            .margin_right(8)
            .y_label_area_size(0)
            .right_y_label_area_size(92)
            .build_cartesian_2d(0.0..1.0, z0..z1)
            .map_err(&e)?;
        bar.configure_mesh()
            .label_style(TICK_FONT)
            .axis_desc_style(DESC_FONT)
            .disable_mesh()
            .disable_x_axis()
            .y_desc(z_label)
            .y_labels(6)
            .draw()
            .map_err(&e)?;
        let steps = 64;
        #[allow(clippy::cast_precision_loss, reason = "small step counts")]
        bar.draw_series((0..steps).map(|k| {
            let a = z0 + (z1 - z0) * k as f64 / steps as f64;
            let b = z0 + (z1 - z0) * (k + 1) as f64 / steps as f64;
            Rectangle::new(
                [(0.0, a), (1.0, b)],
                viridis((k as f64 + 0.5) / steps as f64).filled(),
            )
        }))
        .map_err(&e)?;
        Ok(())
    })?;
    Ok(Some(svg))
}

/// The red of a regressed series' current point.
pub(crate) const REGRESSED: RGBColor = RGBColor(220, 0, 0);
/// The opacity of a regression's accepted band.
pub(crate) const BAND_OPACITY: f64 = 0.13;

/// The colour of history series `k`: the palette without its red, which
/// marks regressions.
fn series_color(k: usize) -> RGBColor {
    const NO_RED: [usize; 9] = [0, 1, 2, 4, 5, 6, 7, 8, 9];
    PALETTE[NO_RED[k % NO_RED.len()]]
}

/// The colour of the mean over every cell in a history plot.
const MEAN_COLOR: RGBColor = RGBColor(40, 40, 40);

/// A regression found on one series of a history plot: its current value
/// at event `at`, and the range it was allowed (one side may be infinite).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    pub at: usize,
    pub current: f64,
    pub band: Option<(f64, f64)>,
    pub young: bool,
}

/// One line of a history plot.
pub(crate) struct HistorySeries {
    pub name: String,
    pub values: Vec<f64>,
    /// The mean over every cell (drawn dark), not one input point.
    pub overall: bool,
    pub mark: Option<Mark>,
}

/// The entries of a history plot's legend: one per series (when there
/// are several), then what the regression marks mean.
fn legend_entries(series: &[HistorySeries]) -> Vec<(String, LegendIcon)> {
    let mut out = Vec::new();
    let named = series.len() > 1 || series.iter().any(|s| s.overall);
    if named {
        for (k, s) in series.iter().enumerate() {
            let c = if s.overall {
                MEAN_COLOR
            } else {
                series_color(k)
            };
            out.push((s.name.clone(), LegendIcon::Line(c)));
        }
    }
    if series.iter().any(|s| s.mark.is_some_and(|m| !m.young)) {
        out.push(("regressed: current value".into(), LegendIcon::Regressed));
    }
    if series.iter().any(|s| s.mark.is_some_and(|m| m.young)) {
        out.push((
            "regressed, young baseline (does not block)".into(),
            LegendIcon::Young,
        ));
    }
    if series
        .iter()
        .any(|s| s.mark.is_some_and(|m| m.band.is_some()))
    {
        out.push(("accepted band (limits dashed)".into(), LegendIcon::Band));
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum LegendIcon {
    Line(RGBColor),
    Regressed,
    Young,
    Band,
}

/// Characters of a legend entry shown before it is cut.
const LEGEND_CHARS: usize = 40;

/// One line per series of values over the events (`over_time`), the
/// legend beside the plot area (never over the lines), and, for each
/// series with a [`Mark`], its current point in red and its accepted band
/// shaded between dashed limits.
pub(crate) fn history(
    title: &str,
    events: &[String],
    x_label: &str,
    series: &[HistorySeries],
    y_label: &str,
    size: Size,
) -> Result<Option<String>> {
    let marks = series.iter().filter_map(|s| s.mark);
    let band_limits = marks
        .clone()
        .filter_map(|m| m.band)
        .flat_map(|(lo, hi)| [lo, hi]);
    let Some((y0, y1)) = value_range(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .chain(marks.map(|m| m.current))
            .chain(band_limits),
    ) else {
        return Ok(None);
    };
    let n = events.len();
    let max_chars = events.iter().map(|c| c.chars().count()).max().unwrap_or(1);
    let fit = label_budget(size.w - 90, max_chars.min(EVENT_CHARS));
    let legend = legend_entries(series);
    let legend_w = if legend.is_empty() {
        0
    } else {
        let chars = legend
            .iter()
            .map(|(s, _)| s.chars().count().min(LEGEND_CHARS))
            .max()
            .unwrap_or(1);
        u32::try_from(chars).unwrap_or(40) * 7 + 48
    };
    // A long legend makes the image taller, never overlaps the plot.
    let legend_h = u32::try_from(legend.len()).unwrap_or(u32::MAX / 32) * LEGEND_STEP + 56;
    let total = Size {
        w: size.w + legend_w,
        h: size.h.max(legend_h),
    };
    let svg = draw(title, total, |root| {
        let e = plot_err(title);
        let (plot_area, legend_area) = root.split_horizontally(size.w);
        let plot_area = plot_area.shrink((0, 0), (size.w, size.h));
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, caption_font(size))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(slot_axis(n, fit), y0..y1)
            .map_err(&e)?;
        let fmt = slot_formatter(events, EVENT_CHARS);
        chart
            .configure_mesh()
            .label_style(TICK_FONT)
            .axis_desc_style(DESC_FONT)
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(n)
            .y_labels(7)
            .light_line_style(WHITE.mix(0.0))
            .x_label_formatter(&fmt)
            .draw()
            .map_err(&e)?;
        let (xa, xb) = (-0.5, pos(n) - 0.5);
        // Bands first, under every line.
        for (k, s) in series.iter().enumerate() {
            let Some((lo, hi)) = s.mark.and_then(|m| m.band) else {
                continue;
            };
            let c = if s.overall {
                MEAN_COLOR
            } else {
                series_color(k)
            };
            let (blo, bhi) = (lo.max(y0), hi.min(y1));
            if blo < bhi {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(xa, blo), (xb, bhi)],
                        c.mix(BAND_OPACITY).filled(),
                    )))
                    .map_err(&e)?;
            }
            for limit in [lo, hi].into_iter().filter(|v| v.is_finite()) {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(xa, limit), (xb, limit)],
                        6,
                        4,
                        c.stroke_width(1),
                    ))
                    .map_err(&e)?;
            }
        }
        for (k, s) in series.iter().enumerate() {
            let c = if s.overall {
                MEAN_COLOR
            } else {
                series_color(k)
            };
            let ys = &s.values;
            let ok = |i: usize| ys.get(i).is_some_and(|v| v.is_finite());
            for r in runs(n, ok) {
                chart
                    .draw_series(LineSeries::new(
                        r.map(|i| (pos(i), ys[i])),
                        c.stroke_width(2),
                    ))
                    .map_err(&e)?;
            }
            chart
                .draw_series(
                    (0..n)
                        .filter(|&i| ok(i))
                        .map(|i| Circle::new((pos(i), ys[i]), 3, c.filled())),
                )
                .map_err(&e)?;
        }
        // The regressed points last, over everything.
        for m in series.iter().filter_map(|s| s.mark) {
            if !m.current.is_finite() || m.at >= n {
                continue;
            }
            let p = (pos(m.at), m.current);
            let style = if m.young {
                REGRESSED.stroke_width(3)
            } else {
                REGRESSED.filled()
            };
            chart
                .draw_series([Circle::new(p, 8, WHITE.filled()), Circle::new(p, 6, style)])
                .map_err(&e)?;
        }
        draw_legend(&legend_area, &legend).map_err(&e)?;
        Ok(())
    })?;
    Ok(Some(svg))
}

/// Pixels between two legend entries.
const LEGEND_STEP: u32 = 22;

/// Characters of an event label on the time axis before it is cut.
const EVENT_CHARS: usize = 16;

/// The legend, top-down in its own area at the right of the plot.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    entries: &[(String, LegendIcon)],
) -> std::result::Result<(), DrawingAreaErrorKind<std::io::Error>> {
    if entries.is_empty() {
        return Ok(());
    }
    let font = ("sans-serif", 13).into_font();
    let (x, mut y) = (8, 44);
    for (label, icon) in entries {
        match *icon {
            LegendIcon::Line(c) => {
                area.draw(&PathElement::new(
                    vec![(x, y), (x + 22, y)],
                    c.stroke_width(2),
                ))?;
                area.draw(&Circle::new((x + 11, y), 3, c.filled()))?;
            }
            LegendIcon::Regressed => {
                area.draw(&Circle::new((x + 11, y), 6, REGRESSED.filled()))?;
            }
            LegendIcon::Young => {
                area.draw(&Circle::new((x + 11, y), 6, REGRESSED.stroke_width(3)))?;
            }
            LegendIcon::Band => {
                let c = RGBColor(90, 90, 90);
                area.draw(&Rectangle::new(
                    [(x, y - 6), (x + 22, y + 6)],
                    c.mix(BAND_OPACITY * 2.0).filled(),
                ))?;
                for dy in [-6, 6] {
                    area.draw(&PathElement::new(
                        vec![(x, y + dy), (x + 22, y + dy)],
                        c.stroke_width(1),
                    ))?;
                }
            }
        }
        area.draw(&Text::new(
            short(label, LEGEND_CHARS),
            (x + 30, y - 7),
            font.clone(),
        ))?;
        y += i32::try_from(LEGEND_STEP).unwrap_or(22);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_skip_non_finite() {
        assert_eq!(value_range([f64::NAN]), None);
        let (a, b) = value_range([1.0, f64::NAN, 3.0]).unwrap_or_default();
        assert!(a < 1.0 && b > 3.0);
        let (a, b) = value_range([2.0]).unwrap_or_default();
        assert!(a < 2.0 && b > 2.0);
    }

    #[test]
    fn runs_split_at_gaps() {
        let v = [1.0, f64::NAN, 2.0, 3.0];
        assert_eq!(runs(4, |i| v[i].is_finite()), vec![0..1, 2..4]);
    }

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
    }
}
