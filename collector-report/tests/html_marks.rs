//! What the HTML page shows beyond the plots: image results as thumbnails
//! (inlined or linked, with a note for every file that cannot be shown),
//! regression marks on the history plots, the legend beside the plot and
//! the event labels of the time axis.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;
use std::path::Path;

use collector_core::regress::{Method, Options, detect};
use collector_core::{
    Column, ColumnData, Coords, Dataset, Dim, Direction, InputVar, ResultKind, ResultVar,
    RunOptions, Sweep, TimeSrc, run_sweep, setup_dataset,
};
use collector_report::{HtmlOptions, html_report, write_html};
use ndarray::{ArrayD, IxDyn};

/// A valid 1 x 1 PNG.
const PNG: [u8; 69] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xb8, 0xc3, 0xc0, 0x00,
    0x00, 0x02, 0x98, 0x00, 0xdd, 0xeb, 0xc4, 0xff, 0x95, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// x (2) x n (3) x repeat 2 with an image result `render`: every cell
/// names `image/render/x<x>_n<n>_r<repeat>.png`, written into `media`
/// except for the names in `skip`.
fn image_sweep(media: &Path, skip: &[&str]) -> Dataset {
    let sweep = Sweep::builder("img")
        .input(InputVar::float_values("x", [0.5, 1.5]))
        .input(InputVar::int_values("n", [1, 2, 3]))
        .result(ResultVar::float("t").units("s"))
        .result(ResultVar::image("render"))
        .repeats(2)
        .build()
        .unwrap();
    let mut r = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))
        .unwrap()
        .result;
    run_sweep(&mut r, &RunOptions::default(), |s| {
        let x = s.get::<f64>("x")?;
        let n = s.get::<i64>("n")?;
        let cell = format!("image/render/x{x}_n{n}_r{}.png", s.repeat());
        if !skip.contains(&cell.as_str()) {
            let file = media.join(&cell);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, PNG).unwrap();
        }
        Ok::<_, collector_core::Error>(s.outputs().with("t", x).with("render", cell))
    })
    .unwrap();
    r.dataset
}

/// The `<td>` cells of the thumbnail tables.
fn thumb_cells(page: &str) -> Vec<&str> {
    page.split("<table class=\"thumbs\">")
        .skip(1)
        .flat_map(|t| {
            t.split("</table>")
                .next()
                .unwrap_or("")
                .split("<td>")
                .skip(1)
        })
        .collect()
}

#[test]
fn image_results_are_inlined_thumbnails_one_per_cell() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    let ds = image_sweep(&media, &[]);
    let page = html_report(&ds, &[], &HtmlOptions::default().media_root(&media)).unwrap();
    assert!(page.contains("<h2>Images</h2>"), "an Images section");
    let cells = thumb_cells(&page);
    assert_eq!(cells.len(), 6, "one cell per input point (x 2 x n 3)");
    let data_uri = format!(
        "data:image/png;base64,{}",
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1Pe"
    );
    for c in &cells {
        assert!(c.starts_with("<img src=\"data:image/png;base64,"), "{c}");
        assert!(c.contains(&data_uri), "the file's bytes, base64: {c}");
    }
    assert_eq!(page.matches("<img ").count(), 6);
    // Rows by the first input, columns by the second; repeat 1 by default.
    assert!(page.contains("<th>x \\ n</th><th>n=1</th><th>n=2</th><th>n=3</th>"));
    assert!(page.contains("<th>x=0.5</th>") && page.contains("<th>x=1.5</th>"));
    assert!(page.contains("title=\"image/render/x1.5_n3_r1.png\""));
    assert!(!page.contains("_r2.png\" alt"), "repeat 2 is not shown");
    assert!(page.contains("Repeat 1 of 2 is shown."));
    // Still self-contained: nothing fetched, no script.
    assert!(!page.contains("<script") && !page.contains("src=\"image/"));

    let page = html_report(
        &ds,
        &[],
        &HtmlOptions::default().media_root(&media).image_repeat(2),
    )
    .unwrap();
    assert!(page.contains("title=\"image/render/x0.5_n1_r2.png\""));
    assert!(page.contains("Repeat 2 of 2 is shown."));
    let page = html_report(
        &ds,
        &[],
        &HtmlOptions::default().media_root(&media).image_repeat(7),
    )
    .unwrap();
    assert!(page.contains("There is no repeat 7 (repeats 1 to 2): repeat 1 is shown."));
}

#[test]
fn a_file_that_cannot_be_shown_gets_a_note_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    let ds = image_sweep(&media, &["image/render/x0.5_n2_r1.png"]);
    // One file too big, one a directory, one not an image.
    std::fs::write(
        media.join("image/render/x1.5_n1_r1.png"),
        vec![0u8; 300 * 1024],
    )
    .unwrap();
    let opts = HtmlOptions::default().media_root(&media);
    let mut small_cap = opts.clone();
    small_cap.images.max_inline_bytes = 200 * 1024;
    std::fs::remove_file(media.join("image/render/x1.5_n2_r1.png")).unwrap();
    std::fs::create_dir(media.join("image/render/x1.5_n2_r1.png")).unwrap();
    std::fs::write(media.join("image/render/x1.5_n3_r1.png"), "plain text").unwrap();
    let mut ds = ds;
    // The last one is renamed to a name with no image extension.
    std::fs::rename(
        media.join("image/render/x1.5_n3_r1.png"),
        media.join("image/render/x1.5_n3_r1.dat"),
    )
    .unwrap();
    if let Some(mut a) = ds.column_mut("render").unwrap().text_mut() {
        for v in a.iter_mut() {
            if v == "image/render/x1.5_n3_r1.png" {
                *v = "image/render/x1.5_n3_r1.dat".into();
            }
        }
    }
    let page = html_report(&ds, &[], &small_cap).unwrap();
    let cells = thumb_cells(&page);
    assert_eq!(cells.len(), 6);
    assert_eq!(page.matches("<img ").count(), 2, "two files are fine");
    assert!(page.contains("file missing<br><span>image/render/x0.5_n2_r1.png</span>"));
    assert!(page.contains("too big to inline (300 KiB)"));
    assert!(page.contains("not a file<br>"));
    assert!(page.contains("not a known image format<br>"));
    assert!(page.contains(
        "4 of 6 images of render are not shown: 1 file missing, 1 not a file, 1 too big to inline, 1 not a known image format."
    ));

    // Without a media root, relative cells cannot be found: a note each.
    let page = html_report(&ds, &[], &HtmlOptions::default()).unwrap();
    assert_eq!(page.matches("<img ").count(), 0);
    assert_eq!(page.matches("no media root given<br>").count(), 6);

    // A cell climbing out of the media root is refused, not read.
    if let Some(mut a) = ds.column_mut("render").unwrap().text_mut() {
        a.iter_mut()
            .for_each(|v| *v = "../../etc/passwd".to_string());
    }
    let page = html_report(&ds, &[], &opts).unwrap();
    assert_eq!(page.matches("path leaves the media root<br>").count(), 6);
}

#[test]
fn the_page_budget_caps_what_is_inlined() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    let ds = image_sweep(&media, &[]);
    let mut opts = HtmlOptions::default().media_root(&media);
    opts.images.max_page_bytes = 3 * PNG.len() as u64;
    let page = html_report(&ds, &[], &opts).unwrap();
    assert_eq!(page.matches("<img ").count(), 3);
    assert_eq!(page.matches("left out: page image budget used").count(), 3);
}

#[test]
fn linked_images_point_at_the_media_folder_beside_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    let ds = image_sweep(&media, &["image/render/x0.5_n1_r1.png"]);
    let path = dir.path().join("reports").join("img.html");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_html(
        &ds,
        &[],
        &path,
        &HtmlOptions::default().media_root(&media).link_media(true),
    )
    .unwrap();
    let page = std::fs::read_to_string(&path).unwrap();
    assert!(!page.contains("data:image"), "nothing inlined");
    assert!(page.contains(
        "<a href=\"../media/image/render/x1.5_n3_r1.png\"><img src=\"../media/image/render/x1.5_n3_r1.png\""
    ));
    assert_eq!(page.matches("<img ").count(), 5);
    assert!(
        page.contains("file missing"),
        "a missing file is still noted"
    );
}

/// Two inputs points (n = 1, 2) x 6 events x 2 repeats, timestamped on one
/// day; `time` of n=2 jumps at the newest event, `mem` stays flat.
fn regressed_history() -> Dataset {
    let times: Vec<i64> = (0..6)
        .map(|k| 1_795_856_400_000_000_000 + k * 1_500_000_000_000)
        .collect();
    let dims = vec![
        Dim::new("n", Coords::Int(vec![1, 2])),
        Dim::new("repeat", Coords::Int(vec![1, 2])),
        Dim::new("over_time", Coords::Time(times)),
    ];
    let mut time = Column::new_missing("time", "time", ResultKind::Float, &[2, 2, 6]);
    time.attrs.units = "s".into();
    let mut mem = Column::new_missing("mem", "mem", ResultKind::Float, &[2, 2, 6]);
    let (mut tv, mut mv) = (Vec::new(), Vec::new());
    for n in 0..2 {
        for r in 0..2 {
            for t in 0..6 {
                let wobble = [0.0, 0.01, -0.01, 0.02, -0.02, 0.0][t] + 0.001 * f64::from(r);
                let base = 1.0 + f64::from(n);
                let jump = if n == 1 && t == 5 { 1.5 } else { 1.0 };
                tv.push(base * (1.0 + wobble) * jump);
                mv.push(10.0 * base * (1.0 + wobble));
            }
        }
    }
    time.data = ColumnData::F64(ArrayD::from_shape_vec(IxDyn(&[2, 2, 6]), tv).unwrap());
    mem.data = ColumnData::F64(ArrayD::from_shape_vec(IxDyn(&[2, 2, 6]), mv).unwrap());
    Dataset::from_parts(dims, vec![time, mem], BTreeMap::default()).unwrap()
}

/// The `<figure>` elements of a page whose caption starts with `y_label`.
fn figures_of<'a>(page: &'a str, y_label: &str) -> Vec<&'a str> {
    page.split("<figure")
        .skip(1)
        .filter_map(|f| f.split("</figure>").next())
        .filter(|f| f.contains(&format!("<figcaption>{y_label}: mean over")))
        .collect()
}

const RED: &str = "fill=\"#DC0000\"";
const BAND: &str = "opacity=\"0.13\"";

#[test]
fn a_regressed_series_has_a_red_current_point_and_its_band_and_a_quiet_one_has_neither() {
    let ds = regressed_history();
    let dirs = BTreeMap::from([
        ("time".to_string(), Direction::Minimize),
        ("mem".to_string(), Direction::Minimize),
    ]);
    let report = detect(&ds, &dirs, &BTreeMap::new(), &Options::default());
    assert_eq!(report.series.len(), 1, "{}", report.to_text());
    assert_eq!(report.series[0].variable, "time");

    let page = html_report(&ds, &[], &HtmlOptions::default().regressions(report)).unwrap();
    // The summary at the top, before the plots.
    let summary = page
        .find("<h2 id=\"regressions\">Regressions</h2>")
        .unwrap();
    assert!(summary < page.find("History over 6 events").unwrap());
    assert!(
        page.contains("<p class=\"alert\">1 regression(s): 4 cells tested, 1 flagged (per cell)"),
        "{}",
        &page[summary..summary + 400]
    );
    assert!(page.contains("<td><a href=\"#history-time\">time</a></td><td>n=2</td>"));
    assert!(page.contains("<td>no</td></tr>"), "not young");

    let time = figures_of(&page, "time [s]");
    assert_eq!(time.len(), 1);
    assert!(time[0].starts_with(" id=\"history-time\""));
    assert_eq!(
        time[0].matches(RED).count(),
        2,
        "one red current point, and its legend icon"
    );
    assert!(time[0].contains(BAND), "the band is shaded");
    assert!(
        time[0].contains("regressed: current value"),
        "and in the legend"
    );
    assert!(time[0].contains("n=2: 3.0"), "the caption names the cell");

    let mem = figures_of(&page, "mem");
    assert_eq!(mem.len(), 1);
    assert!(!mem[0].contains(RED) && !mem[0].contains(BAND), "quiet");
    assert!(!mem[0].contains("regressed"));

    // Without a report, nothing is marked.
    let page = html_report(&ds, &[], &HtmlOptions::default()).unwrap();
    assert!(!page.contains(RED) && !page.contains(BAND));
    assert!(!page.contains("Regressions</h2>"));
}

#[test]
fn a_quiet_report_says_so_and_marks_nothing() {
    let ds = regressed_history();
    let opts = Options {
        method: "percentage:80".parse::<Method>().unwrap(),
        ..Options::default()
    };
    let report = detect(&ds, &BTreeMap::new(), &BTreeMap::new(), &opts);
    assert!(report.series.is_empty());
    let page = html_report(&ds, &[], &HtmlOptions::default().regressions(report)).unwrap();
    assert!(page.contains("<p class=\"note\">No regressions detected: 4 cells tested, 0 flagged"));
    assert!(!page.contains(RED) && !page.contains(BAND));
}

#[test]
fn a_per_variable_regression_marks_the_mean_over_every_cell() {
    let ds = regressed_history();
    let opts = Options {
        grain: Some(collector_core::regress::Grain::PerVariable),
        method: "percentage:10".parse::<Method>().unwrap(),
        ..Options::default()
    };
    let report = detect(&ds, &BTreeMap::new(), &BTreeMap::new(), &opts);
    assert_eq!(report.series.len(), 1, "{}", report.to_text());
    let page = html_report(&ds, &[], &HtmlOptions::default().regressions(report)).unwrap();
    let time = figures_of(&page, "time [s]");
    assert!(time[0].contains("mean over every cell"));
    assert_eq!(
        time[0].matches(RED).count(),
        2,
        "the point and its legend icon"
    );
    assert!(page.contains("<td><a href=\"#history-time\">time</a></td><td>(every cell)</td>"));
    // The input points' own lines are not marked: one marked series.
    assert_eq!(time[0].matches(BAND).count(), 1);
}

/// `(x, text)` of every `<text>` element of an SVG.
fn texts_at(svg: &str) -> Vec<(f64, String)> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let x = t.split("x=\"").nth(1)?.split('"').next()?.parse().ok()?;
            let body = t.split_once('>')?.1.split_once("</text>")?.0.trim();
            Some((x, body.to_string()))
        })
        .collect()
}

#[test]
fn the_legend_is_beside_the_plot_and_same_day_events_read_as_times() {
    let ds = regressed_history();
    let page = html_report(&ds, &[], &HtmlOptions::default()).unwrap();
    let time = figures_of(&page, "time [s]")[0];
    let texts = texts_at(time);
    // The plot area is 640 px wide; the legend starts right of it.
    for name in ["n=1", "n=2"] {
        let (x, _) = texts.iter().find(|(_, t)| t == name).unwrap();
        assert!(*x > 640.0, "{name} at x={x}");
    }
    // One day: the date goes to the axis title, the ticks show the time.
    let ticks: Vec<&str> = texts
        .iter()
        .map(|(_, t)| t.as_str())
        .filter(|t| t.len() == 5 && t.as_bytes()[2] == b':')
        .collect();
    assert_eq!(
        ticks,
        ["09:00", "09:25", "09:50", "10:15", "10:40", "11:05"]
    );
    assert!(time.contains("over_time (UTC, 2026-11-28)"));
    assert!(
        !time.contains("2026-11-28T"),
        "no cut timestamps on the axis"
    );
}
