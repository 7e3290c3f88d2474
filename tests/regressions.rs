//! Regression checks through `ResultCollector::run` (`RunOptions::regressions`):
//! the run's event is judged against the history before it.
#![allow(clippy::unwrap_used, reason = "tests")]

use result_collector::model::regress::{Grain, Options, RegressionReport};
use result_collector::model::{Error as ModelError, Outputs, Sample};
use result_collector::{
    Direction, InputVar, ResultCollector, ResultVar, RunOptions, Sweep, TimeSrc,
};

fn label(i: usize) -> TimeSrc {
    TimeSrc::Label(format!("r{i}"))
}

/// A small deterministic wobble (under 0.5 %) so the history has noise.
fn wobble(run: usize, x: i64) -> f64 {
    1.0 + 0.001 * (((run * 7) as i64 + x * 3) % 5) as f64
}

fn checked(opts: Options) -> RunOptions {
    RunOptions {
        regressions: Some(opts),
        ..RunOptions::default()
    }
}

fn per_cell() -> Options {
    Options {
        grain: Some(Grain::PerCell),
        ..Options::default()
    }
}

/// Runs `sweep` 8 times with stable values of `var` (`base * (x + 1)`),
/// then once more with the cell `x == 1` multiplied by `factor`; returns
/// the last run's report.
fn stable_then(var: &str, direction: Direction, factor: f64) -> RegressionReport {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let sweep = Sweep::builder("bench")
        .input(InputVar::int_range("x", 0, 2))
        .result(ResultVar::float(var).direction(direction))
        .over_time(true)
        .build()
        .unwrap();
    let worker = |run: usize, f: f64| {
        move |s: &Sample<'_>| -> Result<Outputs, ModelError> {
            let x = s.get::<i64>("x")?;
            let mult = if x == 1 { f } else { 1.0 };
            Ok(s.outputs()
                .with(var, 10.0 * (x + 1) as f64 * wobble(run, x) * mult))
        }
    };
    for run in 0..8 {
        let r = c
            .run(&sweep, &label(run), &checked(per_cell()), worker(run, 1.0))
            .unwrap();
        let report = r.regressions.unwrap();
        assert!(!report.has_blocking(), "run {run}: {}", report.to_text());
    }
    let r = c
        .run(&sweep, &label(8), &checked(per_cell()), worker(8, factor))
        .unwrap();
    assert_eq!(r.history.as_ref().unwrap().append.seq, 8);
    r.regressions.unwrap()
}

fn flagged_cells(report: &RegressionReport) -> Vec<(String, String)> {
    report
        .series
        .iter()
        .map(|f| {
            let cell: Vec<String> = f.cell.iter().map(|(d, v)| format!("{d}={v}")).collect();
            (f.variable.clone(), cell.join(","))
        })
        .collect()
}

#[test]
fn a_minimize_cell_fifty_percent_worse_is_flagged_and_blocks() {
    let report = stable_then("time", Direction::Minimize, 1.5);
    assert_eq!(report.grain, Grain::PerCell);
    assert_eq!(report.cells_tested, 3);
    assert_eq!(
        flagged_cells(&report),
        vec![("time".to_string(), "x=1".to_string())]
    );
    assert!(!report.series[0].young);
    assert!(report.has_blocking(), "{}", report.to_text());
}

#[test]
fn a_minimize_cell_fifty_percent_better_is_not_flagged() {
    let report = stable_then("time", Direction::Minimize, 0.5);
    assert!(!report.has_regressions(), "{}", report.to_text());
}

#[test]
fn a_maximize_cell_is_flagged_when_it_drops_not_when_it_rises() {
    let dropped = stable_then("throughput", Direction::Maximize, 0.5);
    assert_eq!(
        flagged_cells(&dropped),
        vec![("throughput".to_string(), "x=1".to_string())]
    );
    assert!(dropped.has_blocking());
    let rose = stable_then("throughput", Direction::Maximize, 1.5);
    assert!(!rose.has_regressions(), "{}", rose.to_text());
}

#[test]
fn a_column_born_in_the_last_two_events_is_young_and_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let base = || {
        Sweep::builder("bench")
            .input(InputVar::int_range("x", 0, 2))
            .result(ResultVar::float("time").direction(Direction::Minimize))
            .over_time(true)
    };
    let old = base().build().unwrap();
    let new = base()
        .result(ResultVar::float("mem").direction(Direction::Minimize))
        .build()
        .unwrap();
    let opts = checked(Options {
        min_history: 5,
        ..per_cell()
    });
    for run in 0..7 {
        c.run(&old, &label(run), &opts, |s: &Sample<'_>| {
            let x = s.get::<i64>("x")?;
            Ok::<_, ModelError>(s.outputs().with("time", (x + 1) as f64 * wobble(run, x)))
        })
        .unwrap();
    }
    // `mem` is born at event 7; event 8 makes it 50 % worse in every cell.
    for (run, mem) in [(7, 100.0), (8, 150.0)] {
        let r = c
            .run(&new, &label(run), &opts, |s: &Sample<'_>| {
                let x = s.get::<i64>("x")?;
                Ok::<_, ModelError>(
                    s.outputs()
                        .with("time", (x + 1) as f64 * wobble(run, x))
                        .with("mem", mem),
                )
            })
            .unwrap();
        let report = r.regressions.unwrap();
        if run == 8 {
            assert_eq!(report.series.len(), 3, "{}", report.to_text());
            assert!(report.series.iter().all(|f| f.variable == "mem" && f.young));
            assert!(report.has_regressions());
            assert!(!report.has_blocking(), "{}", report.to_text());
            assert!(report.to_text().contains("young baseline"));
        }
    }
}

#[test]
fn no_check_without_options() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let sweep = Sweep::builder("bench")
        .input(InputVar::int_range("x", 0, 2))
        .result(ResultVar::float("time").direction(Direction::Minimize))
        .over_time(true)
        .build()
        .unwrap();
    for (run, v) in [(0, 1.0), (1, 1.0), (2, 5.0)] {
        let r = c
            .run(
                &sweep,
                &label(run),
                &RunOptions::default(),
                |s: &Sample<'_>| Ok::<_, ModelError>(s.outputs().with("time", v)),
            )
            .unwrap();
        assert!(r.regressions.is_none());
        assert!(r.history.is_some());
    }
}

#[test]
fn the_check_loads_the_history_when_the_run_does_not_return_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let sweep = Sweep::builder("bench")
        .input(InputVar::int_range("x", 0, 2))
        .result(ResultVar::float("time").direction(Direction::Minimize))
        .over_time(true)
        .build()
        .unwrap();
    let mut opts = checked(per_cell());
    opts.history.return_history = false;
    let mut last = None;
    for run in 0..9 {
        let f = if run == 8 { 2.0 } else { 1.0 };
        let r = c
            .run(&sweep, &label(run), &opts, |s: &Sample<'_>| {
                let x = s.get::<i64>("x")?;
                Ok::<_, ModelError>(
                    s.outputs()
                        .with("time", f * (x + 1) as f64 * wobble(run, x)),
                )
            })
            .unwrap();
        assert!(r.history.as_ref().unwrap().dataset.is_none());
        last = r.regressions;
    }
    let report = last.unwrap();
    assert_eq!(report.cells_flagged, 3, "{}", report.to_text());
    assert!(report.has_blocking());
}

#[test]
fn a_sweep_without_history_gets_no_check() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let sweep = Sweep::builder("once")
        .input(InputVar::int_range("x", 0, 2))
        .result(ResultVar::float("time").direction(Direction::Minimize))
        .build()
        .unwrap();
    let r = c
        .run(&sweep, &label(0), &checked(per_cell()), |s: &Sample<'_>| {
            Ok::<_, ModelError>(s.outputs().with("time", 1.0))
        })
        .unwrap();
    assert!(r.regressions.is_none());
    assert!(r.no_event.is_some());
}

#[test]
fn check_history_judges_a_stored_history_with_given_directions() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let sweep = Sweep::builder("bench")
        .input(InputVar::int_range("x", 0, 2))
        .result(ResultVar::float("time").direction(Direction::Minimize))
        .over_time(true)
        .build()
        .unwrap();
    for run in 0..9 {
        let f = if run == 8 { 0.5 } else { 1.0 };
        c.run(
            &sweep,
            &label(run),
            &RunOptions::default(),
            |s: &Sample<'_>| {
                let x = s.get::<i64>("x")?;
                Ok::<_, ModelError>(
                    s.outputs()
                        .with("time", f * (x + 1) as f64 * wobble(run, x)),
                )
            },
        )
        .unwrap();
    }
    let t = c.resolve("bench").unwrap();
    // The stored history keeps no directions: without one, halving is a change.
    let none = c
        .check_history(&t, &Default::default(), &per_cell())
        .unwrap();
    assert_eq!(none.cells_flagged, 3, "{}", none.to_text());
    let dirs = [("time".to_string(), Direction::Minimize)].into();
    let min = c.check_history(&t, &dirs, &per_cell()).unwrap();
    assert!(!min.has_regressions(), "{}", min.to_text());
    let dirs = [("time".to_string(), Direction::Maximize)].into();
    let max = c.check_history(&t, &dirs, &per_cell()).unwrap();
    assert!(max.has_blocking(), "{}", max.to_text());

    // A sweep without history: an error naming it.
    let once = Sweep::builder("once")
        .input(InputVar::int_range("x", 0, 2))
        .result(ResultVar::float("time"))
        .build()
        .unwrap();
    c.run(
        &once,
        &label(0),
        &RunOptions::default(),
        |s: &Sample<'_>| Ok::<_, ModelError>(s.outputs().with("time", 1.0)),
    )
    .unwrap();
    let t = c.resolve("once").unwrap();
    let err = c
        .check_history(&t, &Default::default(), &per_cell())
        .unwrap_err();
    assert!(
        matches!(err, result_collector::Error::NoHistory { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("sweep `once`"), "{err}");
}
