//! Writes netCDF fixtures and their expected contents as JSON into the
//! directory given as the first argument, for `cargo xtask xarray-check`:
//!
//! - `fixture.nc` / `fixture.json`: x (floats, m) × algo (labels) ×
//!   repeat × over_time (three timestamps), with float, vec, text and
//!   reference results, failed samples (missing cells) and attributes;
//! - `fixture_labels.nc` / `fixture_labels.json`: a bool input and a
//!   labelled over_time.

use std::error::Error;
use std::path::PathBuf;

use collector_core::{
    AttrValue, Dataset, InputVar, ResultValue, ResultVar, RunOptions, Sweep, TimeSrc, run_sweep,
    setup_dataset,
};
use collector_report::{write_json, write_netcdf};

fn run(sweep: &Sweep, time: TimeSrc, shift: f64) -> Result<Dataset, Box<dyn Error>> {
    let mut r = setup_dataset(sweep, &time)?.result;
    run_sweep(&mut r, &RunOptions::default(), |s| {
        let x = s.get::<f64>("x").unwrap_or(0.25);
        let algo = s.get::<String>("algo").unwrap_or_else(|_| "none".into());
        let fast = s.get::<bool>("fast").unwrap_or(true);
        let rep = s.repeat();
        if x > 0.6 && rep == 1 && algo == "heap" {
            return Err(format!("diverged at x={x}"));
        }
        #[allow(clippy::cast_precision_loss, reason = "fixture values")]
        let t = (x * 3.0).sin() + 0.1 * rep as f64 + algo.len() as f64 * 0.01 + shift;
        let t = if fast { t } else { 2.0 * t };
        let mut out = s.outputs();
        for r in sweep.results() {
            let v: ResultValue = match r.name() {
                "time" => t.into(),
                "pos" => [x, -t / 3.0].into(),
                // Some cells stay missing even in successful samples.
                "note" if rep == 1 => format!("{algo} at x={x:.3} ✓").into(),
                "obj" => ResultValue::Object(Box::new(t)),
                _ => continue,
            };
            out.set(r.name(), v);
        }
        Ok(out)
    })?;
    Ok(r.dataset)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/netcdf-fixture".into()),
    );
    std::fs::create_dir_all(&dir)?;

    let sweep = Sweep::builder("fixture")
        .title("netCDF fixture")
        .input(
            InputVar::float_samples("x", 0.0, 1.0, 4)
                .units("m")
                .description("distance"),
        )
        .input(InputVar::labels("algo", ["quick", "heap", "mérge"]))
        .result(ResultVar::float("time").units("s").description("wall time"))
        .result(ResultVar::vector("pos", 2).units("m"))
        .result(ResultVar::string("note"))
        .result(ResultVar::reference("obj"))
        .repeats(2)
        .over_time(true)
        .build()?;
    let parts = (0..3)
        .map(|k| {
            let t = chrono::DateTime::from_timestamp(1_700_000_000 + 86_400 * k, 123_456_789)
                .ok_or("bad timestamp")?;
            #[allow(clippy::cast_precision_loss, reason = "fixture values")]
            run(&sweep, TimeSrc::Timestamp(t), k as f64 * 0.5)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut ds = Dataset::concat_over_time(&parts)?;
    ds.attrs.insert("seed".into(), AttrValue::Int(42));
    ds.attrs.insert("scale".into(), AttrValue::Float(0.1));
    ds.attrs.insert(
        "comment".into(),
        AttrValue::Str("written by netcdf_fixture".into()),
    );
    write_netcdf(&ds, dir.join("fixture.nc"))?;
    write_json(&ds, &[], dir.join("fixture.json"))?;

    let sweep = Sweep::builder("fixture_labels")
        .input(InputVar::boolean("fast", true))
        .result(ResultVar::float("time").units("s"))
        .repeats(2)
        .over_time(true)
        .build()?;
    let parts = ["v1", "v2"]
        .iter()
        .map(|l| run(&sweep, TimeSrc::Label((*l).into()), 0.0))
        .collect::<Result<Vec<_>, _>>()?;
    let ds = Dataset::concat_over_time(&parts)?;
    write_netcdf(&ds, dir.join("fixture_labels.nc"))?;
    write_json(&ds, &[], dir.join("fixture_labels.json"))?;
    println!("wrote {}", dir.display());
    Ok(())
}
