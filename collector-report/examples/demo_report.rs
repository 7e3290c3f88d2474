//! Writes demo HTML reports (one numeric input, two numeric inputs, a
//! categorical input, extra inputs, a labelled history, a timestamped
//! history with a regression, and image results as thumbnails) into the
//! directory given as the first argument, for looking at them in a
//! browser (`cargo xtask screenshot`).

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use collector_core::regress::{Options, detect};
use collector_core::{
    Dataset, Direction, InputVar, ResultValue, ResultVar, RunOptions, Sweep, TimeSrc, run_sweep,
    setup_dataset,
};
use collector_report::{HtmlOptions, line_svg, write_html};

fn run(
    sweep: &Sweep,
    label: &str,
    shift: f64,
) -> Result<collector_core::SweepResult, Box<dyn Error>> {
    run_at(sweep, &TimeSrc::Label(label.into()), shift)
}

fn run_at(
    sweep: &Sweep,
    at: &TimeSrc,
    shift: f64,
) -> Result<collector_core::SweepResult, Box<dyn Error>> {
    let mut r = setup_dataset(sweep, at)?.result;
    run_sweep(&mut r, &RunOptions::default(), |s| {
        let mut out = s.outputs();
        #[allow(clippy::cast_precision_loss, reason = "demo values")]
        let rep = s.repeat() as f64;
        let x = s.get::<f64>("x").unwrap_or(0.5);
        let n = s.get::<i64>("n").unwrap_or(1);
        let algo = s.get::<String>("algo").unwrap_or_default();
        if x > 0.85 && rep == 2.0 && algo != "heap" {
            return Err("solver diverged".to_string());
        }
        #[allow(clippy::cast_precision_loss, reason = "demo values")]
        let t = (x * 3.0).sin()
            + 0.3 * n as f64
            + algo.len() as f64 * 0.2
            + 0.08 * (rep * 1.7).sin()
            + shift;
        for r in sweep.results() {
            let v: ResultValue = match r.name() {
                "time" => t.into(),
                "error" => (x * x / (n as f64)).into(),
                "pos" => [x, t].into(),
                "plot" => format!("/tmp/plots/x{x:.2}_r{rep}.png").into(),
                _ => 0.0.into(),
            };
            out.set(r.name(), v);
        }
        Ok(out)
    })?;
    Ok(r)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/demo-report".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let opts = HtmlOptions::default().max_rows(40);

    let one = Sweep::builder("one_input")
        .title("Solver time against tolerance")
        .input(InputVar::float_samples("x", 0.0, 1.0, 12).units("m"))
        .result(ResultVar::float("time").units("s"))
        .result(ResultVar::vector("pos", 2).units("m"))
        .result(ResultVar::path("plot"))
        .repeats(5)
        .build()?;
    let r = run(&one, "v1", 0.0)?;
    write_html(&r.dataset, &r.failures, dir.join("one.html"), &opts)?;

    let two = Sweep::builder("two_inputs")
        .input(InputVar::float_samples("x", 0.0, 1.0, 15).units("m"))
        .input(InputVar::int_range("n", 1, 8).units("threads"))
        .result(ResultVar::float("time").units("s"))
        .repeats(2)
        .build()?;
    let r = run(&two, "v1", 0.0)?;
    write_html(&r.dataset, &r.failures, dir.join("two.html"), &opts)?;

    let cat = Sweep::builder("categorical")
        .input(InputVar::labels(
            "algo",
            ["quicksort", "mergesort", "heap", "timsort-with-a-long-name"],
        ))
        .result(ResultVar::float("time").units("µs"))
        .result(ResultVar::float("error").units("1"))
        .repeats(6)
        .build()?;
    let r = run(&cat, "v1", 0.0)?;
    write_html(&r.dataset, &r.failures, dir.join("cat.html"), &opts)?;

    let many = Sweep::builder("many_inputs")
        .input(InputVar::float_samples("x", 0.0, 1.0, 8).units("m"))
        .input(InputVar::labels("algo", ["quick", "merge", "heap"]))
        .input(InputVar::int_range("n", 1, 5).units("threads"))
        .result(ResultVar::float("time").units("s"))
        .repeats(3)
        .build()?;
    let r = run(&many, "v1", 0.0)?;
    write_html(&r.dataset, &r.failures, dir.join("many.html"), &opts)?;

    let hist = Sweep::builder("history")
        .input(InputVar::int_range("n", 1, 4).units("threads"))
        .result(ResultVar::float("time").units("s"))
        .repeats(3)
        .over_time(true)
        .build()?;
    let parts = (1..=7)
        .map(|k| run(&hist, &format!("v0.{k}"), f64::from(k) * 0.1).map(|r| r.dataset))
        .collect::<Result<Vec<Dataset>, _>>()?;
    let ds = Dataset::concat_over_time(&parts)?;
    write_html(&ds, &[], dir.join("history.html"), &opts)?;

    timed(&dir, &opts)?;
    images(&dir, &opts)?;
    println!("wrote {}", dir.display());
    Ok(())
}

/// Six runs on one day, timestamped, where the newest run of n=3 got 40%
/// slower: the page marks it (red point, shaded band) and lists it.
fn timed(dir: &Path, opts: &HtmlOptions) -> Result<(), Box<dyn Error>> {
    let sweep = Sweep::builder("timed")
        .title("Nightly timings, one day")
        .input(InputVar::int_range("n", 1, 4).units("threads"))
        .result(
            ResultVar::float("time")
                .units("s")
                .direction(Direction::Minimize),
        )
        .repeats(3)
        .over_time(true)
        .build()?;
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-28T09:00:00Z")?.to_utc();
    let mut parts = Vec::new();
    for k in 0..6_i32 {
        let at = start + chrono::TimeDelta::seconds(i64::from(k) * 2_230);
        let wobble = [0.0, 0.02, -0.01, 0.015, -0.02, 0.0][usize::try_from(k)?];
        let mut ds = run_at(&sweep, &TimeSrc::Timestamp(at), wobble)?.dataset;
        if k == 5 {
            // The newest event: n=3 regressed.
            let n_at = ds.dim("n")?.coords.len();
            let col = ds.column_mut("time")?;
            if let Some(mut a) = col.f64_mut() {
                for (idx, v) in a.indexed_iter_mut() {
                    if n_at > 2 && idx[0] == 2 {
                        *v *= 1.4;
                    }
                }
            }
        }
        parts.push(ds);
    }
    let ds = Dataset::concat_over_time(&parts)?;
    let dirs = BTreeMap::from([("time".to_string(), Direction::Minimize)]);
    let report = detect(&ds, &dirs, &BTreeMap::new(), &Options::default());
    let opts = opts.clone().regressions(report);
    write_html(&ds, &[], dir.join("timed.html"), &opts)?;
    Ok(())
}

/// A sweep with an image result: one SVG per job in `<dir>/media`, one
/// job failed (no image), one file missing and one that is no image, each
/// shown as a note in its cell.
fn images(dir: &Path, opts: &HtmlOptions) -> Result<(), Box<dyn Error>> {
    let media = dir.join("media");
    let sweep = Sweep::builder("images")
        .title("Rendered responses")
        .input(InputVar::float_samples("gain", 0.5, 2.0, 3))
        .input(InputVar::int_values("order", [1, 2, 3, 4]))
        .input(InputVar::labels("filter", ["lowpass", "notch"]))
        .result(ResultVar::float("overshoot").units("%"))
        .result(ResultVar::image("response"))
        .repeats(2)
        .build()?;
    let mut r = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))?.result;
    run_sweep(&mut r, &RunOptions::default(), |s| {
        let gain = s.get::<f64>("gain").map_err(|e| e.to_string())?;
        let order = s.get::<i64>("order").map_err(|e| e.to_string())?;
        let filter = s.get::<String>("filter").map_err(|e| e.to_string())?;
        if gain > 1.9 && order == 4 && filter == "notch" {
            return Err("unstable".to_string());
        }
        #[allow(clippy::cast_precision_loss, reason = "demo values")]
        let (o, rep) = (order as f64, s.repeat() as f64);
        let damping = if filter == "notch" { 0.25 } else { 0.5 } / o.sqrt();
        let curve: Vec<f64> = (0..80)
            .map(|i| {
                let t = f64::from(i) * 0.15;
                gain * (1.0 - (-damping * t).exp() * (t * (1.0 + 0.1 * rep)).cos())
            })
            .collect();
        let rel = format!("image/response/{filter}_g{gain}_o{order}_r{rep}.svg");
        let file = media.join(&rel);
        let title = format!("{filter}, gain {gain}, order {order}");
        let cell = match (gain < 0.6, order, filter.as_str()) {
            // A file the media folder lost.
            (true, 4, "lowpass") => "image/response/lost.svg".to_string(),
            // A cell that names something that is no image.
            (true, 3, "notch") => {
                let txt = media.join("image/response/notes.txt");
                std::fs::create_dir_all(media.join("image/response")).map_err(|e| e.to_string())?;
                std::fs::write(&txt, "not an image").map_err(|e| e.to_string())?;
                "image/response/notes.txt".to_string()
            }
            _ => {
                let svg = line_svg(&curve, &title, 240, 150).map_err(|e| e.to_string())?;
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(&file, svg).map_err(|e| e.to_string())?;
                rel
            }
        };
        let overshoot = curve.iter().copied().fold(f64::NAN, f64::max) / gain * 100.0 - 100.0;
        Ok(s.outputs()
            .with("overshoot", overshoot)
            .with("response", cell))
    })?;
    let opts = opts.clone().media_root(&media);
    write_html(&r.dataset, &r.failures, dir.join("images.html"), &opts)?;
    write_html(
        &r.dataset,
        &r.failures,
        dir.join("images-linked.html"),
        &opts.link_media(true),
    )?;
    Ok(())
}
