//! Reports of small datasets: the golden summary, the tidy and failures
//! tables, CSV and JSON round trips, and the plots of the HTML page.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;

use collector_core::{
    AttrValue, Column, ColumnData, Coords, Dataset, Dim, InputVar, ResultKind, ResultVar,
    RunOptions, Sweep, SweepResult, TimeSrc, run_sweep, setup_dataset,
};
use collector_report::{
    HtmlOptions, TidyCell, TidyTable, failures_table, html_report, read_csv, read_json, summary,
    tidy_table, to_json, write_csv, write_html, write_json,
};
use ndarray::{ArrayD, IxDyn};

/// x (5 floats, m) × repeat 3; cost [s], pos vec(2) [m], a path, a
/// reference. Job x=0.5, repeat 2 fails.
fn one_input() -> SweepResult {
    let sweep = Sweep::builder("one")
        .title("One input")
        .input(InputVar::float_samples("x", 0.0, 1.0, 5).units("m"))
        .result(ResultVar::float("cost").units("s"))
        .result(ResultVar::vector("pos", 2).units("m"))
        .result(ResultVar::path("plot"))
        .result(ResultVar::reference("obj"))
        .repeats(3)
        .build()
        .unwrap();
    let mut result = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))
        .unwrap()
        .result;
    run_sweep(&mut result, &RunOptions::default(), |s| {
        let x = s.get::<f64>("x").map_err(|e| e.to_string())?;
        if x == 0.5 && s.repeat() == 2 {
            return Err(format!("diverged at x={x}"));
        }
        #[allow(clippy::cast_precision_loss, reason = "small repeat")]
        let r = s.repeat() as f64;
        Ok(s.outputs()
            .with("cost", x * x + 0.05 * r)
            .with("pos", [x, -x])
            .with("plot", format!("/tmp/plot_{x}.png"))
            .with("obj", collector_core::ResultValue::Object(Box::new(x))))
    })
    .unwrap();
    result
}

fn two_input() -> SweepResult {
    let sweep = Sweep::builder("two")
        .input(InputVar::float_samples("x", 0.0, 1.0, 4).units("m"))
        .input(InputVar::int_range("n", 1, 3).units("threads"))
        .result(ResultVar::float("time").units("ms"))
        .repeats(2)
        .build()
        .unwrap();
    let mut result = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))
        .unwrap()
        .result;
    run_sweep(&mut result, &RunOptions::default(), |s| {
        let x = s.get::<f64>("x")?;
        let n = s.get::<i64>("n")?;
        #[allow(clippy::cast_precision_loss, reason = "small ints")]
        Ok::<_, collector_core::Error>(s.outputs().with("time", x / n as f64))
    })
    .unwrap();
    result
}

fn categorical() -> SweepResult {
    let sweep = Sweep::builder("cat")
        .input(InputVar::labels("algo", ["quick", "merge", "heap"]))
        .result(ResultVar::float("time").units("µs"))
        .result(ResultVar::string("note"))
        .repeats(4)
        .build()
        .unwrap();
    let mut result = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))
        .unwrap()
        .result;
    run_sweep(&mut result, &RunOptions::default(), |s| {
        let a = s.get::<String>("algo")?;
        #[allow(clippy::cast_precision_loss, reason = "small repeat")]
        let t = a.len() as f64 + s.repeat() as f64 * 0.1;
        Ok::<_, collector_core::Error>(s.outputs().with("time", t).with("note", format!("{a} ok")))
    })
    .unwrap();
    result
}

fn over_time() -> Dataset {
    let sweep = Sweep::builder("hist")
        .input(InputVar::int_values("size", vec![10, 100, 1000]).units("items"))
        .result(ResultVar::float("latency").units("ms"))
        .repeats(2)
        .over_time(true)
        .build()
        .unwrap();
    let parts: Vec<Dataset> = ["v1", "v2", "v10"]
        .iter()
        .enumerate()
        .map(|(k, label)| {
            let mut result = setup_dataset(&sweep, &TimeSrc::Label((*label).into()))
                .unwrap()
                .result;
            run_sweep(&mut result, &RunOptions::default(), |s| {
                let n = s.get::<i64>("size")?;
                #[allow(clippy::cast_precision_loss, reason = "small ints")]
                Ok::<_, collector_core::Error>(
                    s.outputs().with("latency", (n as f64).ln() + k as f64),
                )
            })
            .unwrap();
            result.dataset
        })
        .collect();
    Dataset::concat_over_time(&parts).unwrap()
}

/// A hand-built dataset with every kind of cell, for the golden summary.
fn small() -> Dataset {
    let mut x = Dim::new("x", Coords::Float(vec![0.5, 1.5]));
    x.attrs.units = "m".into();
    let dims = vec![x, Dim::new("repeat", Coords::Int(vec![1, 2]))];
    let mut t = Column::new_missing("t", "t", ResultKind::Float, &[2, 2]);
    t.attrs.units = "s".into();
    t.data = ColumnData::F64(
        ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, f64::NAN, 3.25, 4.0]).unwrap(),
    );
    let mut p = Column::new_missing("img", "img", ResultKind::Image, &[2, 2]);
    p.data = ColumnData::Text(
        ArrayD::from_shape_vec(
            IxDyn(&[2, 2]),
            ["a.png", "NAN", "c.png", "d.png"]
                .map(String::from)
                .to_vec(),
        )
        .unwrap(),
    );
    let mut attrs = BTreeMap::new();
    attrs.insert("sweep".into(), AttrValue::Str("small".into()));
    attrs.insert("runs".into(), AttrValue::Int(2));
    Dataset::from_parts(dims, vec![t, p], attrs).unwrap()
}

#[test]
fn golden_summary() {
    let got = summary(&small());
    let want = "\
<Dataset>
Dimensions:  (x: 2, repeat: 2)
Coordinates:
  * x       (x) float [m] 0.5 1.5
  * repeat  (repeat) int 1 2
Data variables:
    t       (x, repeat) float64 float [s], 1 missing of 4
    img     (x, repeat) text image, 1 missing of 4
Attributes:
    runs: 2
    sweep: small
";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn tidy_table_has_a_row_per_cell_and_is_cut() {
    let ds = small();
    let t = TidyTable::from_dataset(&ds);
    assert_eq!(t.rows(), 4);
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["x", "repeat", "t", "img"]);
    // Row-major: the last dim varies fastest.
    assert_eq!(t.column("x").unwrap().cells[1], TidyCell::Float(0.5));
    assert_eq!(t.column("repeat").unwrap().cells[1], TidyCell::Int(2));
    assert_eq!(t.column("t").unwrap().cells[1], TidyCell::Missing);
    assert_eq!(t.column("img").unwrap().cells[1], TidyCell::Missing);

    let text = tidy_table(&ds, 3);
    assert!(text.contains("t [s]"), "{text}");
    assert!(text.contains("3.25") && text.contains("NaN"), "{text}");
    assert!(!text.contains("d.png"), "{text}");
    assert!(text.ends_with("… 1 more row\n"), "{text}");
    assert!(!tidy_table(&ds, 10).contains("more row"));
}

#[test]
fn failures_table_lists_inputs_and_message() {
    let r = one_input();
    assert_eq!(r.failures.len(), 1);
    let t = failures_table(&r.failures);
    assert!(t.contains("diverged at x=0.5"), "{t}");
    assert!(
        t.contains("repeat") && t.contains("0.5") && t.contains("error"),
        "{t}"
    );
    assert_eq!(failures_table(&[]), "No failed samples.\n");
}

#[test]
fn csv_round_trip_keeps_values_missing_cells_and_units() {
    let dir = tempfile::tempdir().unwrap();
    for ds in [
        small(),
        one_input().dataset,
        categorical().dataset,
        over_time(),
    ] {
        let path = dir.path().join("t.csv");
        write_csv(&ds, &path).unwrap();
        let back = read_csv(&path).unwrap();
        let mut want = TidyTable::from_dataset(&ds);
        if ds.dim_index("repeat").is_err() {
            for c in &mut want.columns {
                c.role = collector_report::Role::Result;
            }
        }
        assert_eq!(back, want);
    }
    let text = std::fs::read_to_string(dir.path().join("t.csv")).unwrap();
    assert!(
        text.starts_with("size [items],repeat,over_time,latency [ms]\n"),
        "{text}"
    );
    write_csv(&small(), dir.path().join("s.csv")).unwrap();
    let text = std::fs::read_to_string(dir.path().join("s.csv")).unwrap();
    assert_eq!(
        text,
        "x [m],repeat,t [s],img\n0.5,1,1.0,a.png\n0.5,2,,\n1.5,1,3.25,c.png\n1.5,2,4.0,d.png\n"
    );
}

fn assert_same(a: &Dataset, b: &Dataset) {
    assert_eq!(a.dims(), b.dims());
    assert_eq!(a.attrs, b.attrs);
    assert_eq!(a.columns().len(), b.columns().len());
    for (x, y) in a.columns().iter().zip(b.columns()) {
        assert_eq!(
            (&x.name, &x.var, x.kind, &x.attrs),
            (&y.name, &y.var, y.kind, &y.attrs)
        );
        assert_eq!(x.data.count_missing(), y.data.count_missing(), "{}", x.name);
        match (&x.data, &y.data) {
            (ColumnData::F64(p), ColumnData::F64(q)) => {
                assert!(
                    p.iter()
                        .zip(q)
                        .all(|(u, v)| u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan()))
                );
            }
            (p, q) => assert_eq!(p, q),
        }
    }
}

#[test]
fn json_round_trip_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let r = one_input();
    let path = dir.path().join("one.json");
    write_json(&r.dataset, &r.failures, &path).unwrap();
    let back = read_json(&path).unwrap();
    assert_same(&r.dataset, &back.dataset);
    assert_eq!(back.failures, r.failures);
    assert_eq!(
        to_json(&back.dataset, &back.failures),
        to_json(&r.dataset, &r.failures)
    );

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["schema_version"], collector_report::SCHEMA_VERSION);
    let cost = doc["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cost")
        .unwrap();
    assert_eq!(cost["units"], "s");
    assert_eq!(cost["missing"], 1);
    assert!(
        cost["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(serde_json::Value::is_null),
        "NaN is written as null"
    );
    assert_eq!(doc["dims"][0]["units"], "m");
    assert_eq!(doc["attributes"]["title"], "One input");

    for ds in [small(), over_time(), categorical().dataset] {
        write_json(&ds, &[], &path).unwrap();
        assert_same(&ds, &read_json(&path).unwrap().dataset);
    }
}

#[test]
fn json_reader_rejects_other_versions_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"schema_version": 99, "dims": [], "columns": [], "failures": []}"#,
    )
    .unwrap();
    let e = read_json(&path).unwrap_err().to_string();
    assert!(e.contains("bad.json") && e.contains("99"), "{e}");
}

fn svg_count(page: &str) -> usize {
    page.matches("<svg").count()
}

#[test]
fn html_one_numeric_input_has_a_line_per_float_column() {
    let r = one_input();
    let page = html_report(&r.dataset, &r.failures, &HtmlOptions::default()).unwrap();
    // cost, pos_x, pos_y; the path and the reference are not plotted.
    assert_eq!(svg_count(&page), 3);
    for label in ["x [m]", "cost [s]", "pos_x [m]", "pos_y [m]"] {
        assert!(page.contains(label), "{label}");
    }
    assert!(
        page.contains("not plotted: plot."),
        "text columns get a note"
    );
    assert!(page.contains("Failed samples (1)") && page.contains("diverged at x=0.5"));
    assert!(
        page.contains("/tmp/plot_0.25.png"),
        "paths are shown in the table"
    );
    // Self-contained: no scripts, nothing fetched (the SVG namespace URI is no fetch).
    assert!(!page.contains("<script") && !page.contains("<link") && !page.contains("<img"));
    assert!(!page.contains("src=") && !page.contains("href=") && !page.contains("url("));
}

#[test]
fn html_two_numeric_inputs_have_a_heatmap() {
    let r = two_input();
    let page = html_report(&r.dataset, &r.failures, &HtmlOptions::default()).unwrap();
    assert_eq!(svg_count(&page), 1);
    for label in ["x [m]", "n [threads]", "mean time [ms]"] {
        assert!(page.contains(label), "{label}");
    }
    assert!(page.contains("Heatmap"));
}

#[test]
fn html_categorical_input_has_bars() {
    let r = categorical();
    let page = html_report(&r.dataset, &r.failures, &HtmlOptions::default()).unwrap();
    assert_eq!(svg_count(&page), 1);
    for label in ["algo", "time [µs]", "quick", "merge", "heap"] {
        assert!(page.contains(label), "{label}");
    }
    assert!(page.contains("per algo"));
}

#[test]
fn html_over_time_has_history_and_latest_plots() {
    let ds = over_time();
    let page = html_report(&ds, &[], &HtmlOptions::default()).unwrap();
    // The history of latency, then latency against size at the latest event.
    assert_eq!(svg_count(&page), 2);
    for label in [
        "over_time",
        "latency [ms]",
        "size [items]",
        "v10",
        "History over 3 events",
    ] {
        assert!(page.contains(label), "{label}");
    }
}

#[test]
fn html_extra_inputs_get_capped_small_multiples() {
    let sweep = Sweep::builder("many")
        .input(InputVar::float_samples("x", 0.0, 1.0, 3).units("m"))
        .input(InputVar::labels("algo", ["a", "b", "c"]))
        .input(InputVar::boolean("warm", false))
        .result(ResultVar::float("t").units("s"))
        .build()
        .unwrap();
    let mut r = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))
        .unwrap()
        .result;
    run_sweep(&mut r, &RunOptions::default(), |s| {
        Ok::<_, collector_core::Error>(s.outputs().with("t", s.get::<f64>("x")?))
    })
    .unwrap();
    let page = html_report(&r.dataset, &[], &HtmlOptions::default().max_panels(4)).unwrap();
    assert_eq!(svg_count(&page), 4);
    assert!(
        page.contains("the first 4 of 6 are shown, 2 left out"),
        "note on what was left out"
    );
    assert!(page.contains("algo=a, warm=false"));
}

#[test]
fn html_escapes_names_units_and_cells() {
    let mut ds = small();
    ds.dim_attrs_mut("x").unwrap().units = "<m&m>".into();
    ds.attrs.insert(
        "title".into(),
        AttrValue::Str("<script>alert(1)</script>".into()),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.html");
    write_html(&ds, &[], &path, &HtmlOptions::default()).unwrap();
    let page = std::fs::read_to_string(&path).unwrap();
    assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"));
    assert!(!page.contains("<m&m>") && page.contains("&lt;m&amp;m&gt;"));
    assert_eq!(svg_count(&page), 1);
}

#[test]
fn html_without_inputs_shows_statistics() {
    let sweep = Sweep::builder("none")
        .result(ResultVar::float("t").units("s"))
        .repeats(4)
        .build()
        .unwrap();
    let mut r = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))
        .unwrap()
        .result;
    run_sweep(&mut r, &RunOptions::default(), |s| {
        #[allow(clippy::cast_precision_loss, reason = "small repeat")]
        Ok::<_, collector_core::Error>(s.outputs().with("t", s.repeat() as f64))
    })
    .unwrap();
    let page = html_report(&r.dataset, &[], &HtmlOptions::default()).unwrap();
    assert_eq!(svg_count(&page), 0);
    assert!(
        page.contains("<th>mean</th>") && page.contains(">2.5<"),
        "mean of 1..=4"
    );
}

#[test]
fn tidy_table_truncates_in_html() {
    let r = one_input();
    let page = html_report(&r.dataset, &r.failures, &HtmlOptions::default().max_rows(5)).unwrap();
    assert!(page.contains("… 10 more rows"));
}

/// The trimmed contents of the `<text>` elements of an SVG.
fn svg_texts(svg: &str) -> Vec<&str> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
        .collect()
}

/// The number of points of each `<polyline>` of an SVG.
fn polyline_points(svg: &str) -> Vec<usize> {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|p| {
            let pts = p.split_once("points=\"")?.1.split_once('"')?.0;
            Some(pts.split_whitespace().count())
        })
        .collect()
}

#[test]
fn line_svg_draws_one_line_under_its_title() {
    let svg =
        collector_report::line_svg(&[1.0, 4.0, f64::NAN, 2.0, 3.0], "cost", 320, 200).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    assert_eq!(
        svg_texts(&svg)[0],
        "cost",
        "the title is the caption: {svg}"
    );
    // Axes and ticks are 2-point polylines; the data is one line through
    // the four finite values, the NaN skipped.
    let lines: Vec<usize> = polyline_points(&svg)
        .into_iter()
        .filter(|&n| n > 2)
        .collect();
    assert_eq!(lines, [4], "{svg}");
}

#[test]
fn line_svg_escapes_the_title() {
    let svg = collector_report::line_svg(&[1.0, 2.0], "a<b & c>d", 320, 200).unwrap();
    assert_eq!(svg_texts(&svg)[0], "a&lt;b &amp; c&gt;d", "{svg}");
    assert!(!svg.contains("a<b"), "{svg}");
}

#[test]
fn line_svg_without_values_holds_the_title_only() {
    for values in [&[][..], &[f64::NAN, f64::INFINITY][..]] {
        let svg = collector_report::line_svg(values, "<empty>", 200, 120).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg_texts(&svg), ["&lt;empty&gt;"], "{svg}");
        assert!(polyline_points(&svg).is_empty(), "{svg}");
    }
    let svg = collector_report::line_svg(&[5.0], "one", 200, 120).unwrap();
    assert!(svg.contains("<circle"), "a single value shows as a point");
    assert!(collector_report::line_svg(&[1.0], "zero", 0, 10).is_err());
    // Tiny images do not panic: they draw what fits or say why not.
    for (w, h) in [(1, 1), (24, 16), (80, 40)] {
        let _ = collector_report::line_svg(&[1.0, 2.0, 3.0], "tiny", w, h);
    }
}
