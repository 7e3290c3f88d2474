//! Writes demo HTML reports (one numeric input, two numeric inputs, a
//! categorical input, extra inputs, history) into the directory given as
//! the first argument, for looking at them in a browser.

use std::error::Error;
use std::path::PathBuf;

use collector_core::{
    Dataset, InputVar, ResultValue, ResultVar, RunOptions, Sweep, TimeSrc, run_sweep, setup_dataset,
};
use collector_report::{HtmlOptions, write_html};

fn run(
    sweep: &Sweep,
    label: &str,
    shift: f64,
) -> Result<collector_core::SweepResult, Box<dyn Error>> {
    let mut r = setup_dataset(sweep, &TimeSrc::Label(label.into()))?.result;
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
    println!("wrote {}", dir.display());
    Ok(())
}
