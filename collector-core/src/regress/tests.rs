//! Tests of the regression detector: golden verdicts (hand-computed, or
//! computed by the seed's `bencher.regression` where noted), each method
//! in both directions, bad input, young baselines, the Benjamini-Hochberg
//! correction, grains, overrides, the report, and proptest invariants.

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

use super::stats::{self, Scratch};
use super::*;
use crate::dataset::{Column, ColumnData, Dataset, Dim};
use crate::sweep::{Direction, ResultKind};
use crate::value::Coords;
use crate::{Value, time_major_array};

const MIN: Direction = Direction::Minimize;
const MAX: Direction = Direction::Maximize;
const NONE: Direction = Direction::None;

fn pct(t: f64) -> Method {
    Method::Percentage { threshold_pct: t }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
}

fn check(h: &[f64], c: f64, d: Direction, m: Method) -> Verdict {
    check_series(h, c, d, &m)
}

// ---------------------------------------------------------------- methods

#[test]
fn percentage_golden_both_directions() {
    let h = [10.0, 10.0, 10.0, 10.0];
    let v = check(&h, 11.5, MIN, pct(10.0));
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(v.test.as_deref(), Some("percentage"));
    assert_eq!(v.baseline, Some(10.0));
    assert!(close(v.change_pct, 15.0));
    assert_eq!(v.band, Some((9.0, 11.0)));
    assert_eq!(v.p_value, None);
    // The same rise is an improvement when larger is better.
    assert_eq!(check(&h, 11.5, MAX, pct(10.0)).status, Status::Ok);
    assert_eq!(check(&h, 8.5, MAX, pct(10.0)).status, Status::Regressed);
    assert_eq!(check(&h, 8.5, MIN, pct(10.0)).status, Status::Ok);
    // No direction: either side.
    assert_eq!(check(&h, 11.5, NONE, pct(10.0)).status, Status::Regressed);
    assert_eq!(check(&h, 8.5, NONE, pct(10.0)).status, Status::Regressed);
    // Inside the threshold, and exactly on it (not beyond).
    assert_eq!(check(&h, 10.5, MIN, pct(10.0)).status, Status::Ok);
    assert_eq!(check(&h, 11.0, MIN, pct(10.0)).status, Status::Ok);
    // The mean of the history, not its last value.
    let v = check(&[8.0, 12.0], 11.5, MIN, pct(10.0));
    assert_eq!((v.baseline, v.status), (Some(10.0), Status::Regressed));
}

#[test]
fn delta_golden_both_directions() {
    let h = [100.0, 102.0, 98.0];
    let m = Method::Delta { limit: 5.0 };
    let v = check(&h, 106.0, MIN, m);
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(v.test.as_deref(), Some("delta"));
    assert_eq!(v.baseline, Some(100.0));
    assert_eq!(v.band, Some((95.0, 105.0)));
    assert!(close(v.change_pct, 6.0));
    assert_eq!(check(&h, 105.0, MIN, m).status, Status::Ok);
    assert_eq!(check(&h, 94.0, MIN, m).status, Status::Ok);
    assert_eq!(check(&h, 94.0, MAX, m).status, Status::Regressed);
    assert_eq!(check(&h, 106.0, MAX, m).status, Status::Ok);
    assert_eq!(check(&h, 94.0, NONE, m).status, Status::Regressed);
    assert_eq!(check(&h, 106.0, NONE, m).status, Status::Regressed);
}

#[test]
fn absolute_needs_no_history() {
    let m = Method::Absolute { limit: 10.0 };
    let v = check(&[], 12.0, MIN, m);
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(v.test.as_deref(), Some("absolute"));
    assert_eq!(v.baseline, None);
    assert_eq!(v.change_pct, None);
    assert_eq!(v.band, Some((f64::NEG_INFINITY, 10.0)));
    assert_eq!(check(&[], 9.0, MIN, m).status, Status::Ok);
    let v = check(&[], 9.0, MAX, m);
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(v.band, Some((10.0, f64::INFINITY)));
    assert_eq!(check(&[], 11.0, MAX, m).status, Status::Ok);
    // The limit itself is allowed.
    assert_eq!(check(&[], 10.0, MIN, m).status, Status::Ok);
    // No direction: no check (the seed skips it).
    let v = check(&[], 1e9, NONE, m);
    assert_eq!((v.status, v.band), (Status::Ok, None));
}

/// Golden values from the seed: `detect_adaptive(h, [c], regression_mad=3.5,
/// regression_percentage=P)` reports z_step = +13.49, +3.37, +4.05 and a
/// noise floor of 0.1483 around a median of 10.
#[test]
fn adaptive_step_golden() {
    let h = [10.0, 10.2, 9.9, 10.1, 10.0, 9.8];
    let v = check(&h, 12.0, MIN, Method::default());
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(v.test.as_deref(), Some("step"));
    assert_eq!(v.baseline, Some(10.0));
    assert!(close(v.change_pct, 20.0));
    assert!(v.p_value.is_some_and(|p| p < 1e-4));
    // z = 3.37: inside.
    assert_eq!(check(&h, 10.5, MIN, Method::default()).status, Status::Ok);
    // z = 4.05 but only +6 %: the 10 % floor holds it back (dual band) ...
    assert_eq!(check(&h, 10.6, MIN, Method::default()).status, Status::Ok);
    // ... and without a floor it fires.
    let no_floor = Method::Adaptive {
        sigmas: 3.5,
        floor_pct: 0.0,
    };
    let v = check(&h, 10.6, MIN, no_floor);
    assert_eq!(v.test.as_deref(), Some("step"));
    // The band is the union of the MAD band (10 ± 3.5 x 0.148) and the
    // percent band (9, 11): the step fires only outside both.
    let v = check(&h, 10.5, MIN, Method::default());
    let (lo, hi) = v.band.expect("band");
    assert!(
        (lo - 9.0).abs() < 1e-12 && (hi - 11.0).abs() < 1e-12,
        "{lo} {hi}"
    );
    let v = check(&h, 10.5, MIN, no_floor);
    let (lo, hi) = v.band.expect("band");
    assert!(
        (hi - (10.0 + 3.5 * 0.148_26 * 1.0)).abs() < 1e-3 && lo < 10.0,
        "{lo} {hi}"
    );
    // Direction: a drop is what hurts a maximised value.
    assert_eq!(check(&h, 12.0, MAX, Method::default()).status, Status::Ok);
    assert_eq!(
        check(&h, 8.0, MAX, Method::default()).status,
        Status::Regressed
    );
    assert_eq!(
        check(&h, 8.0, NONE, Method::default()).status,
        Status::Regressed
    );
}

/// Golden values from the seed: a rising series fires the drift test
/// (mk_p = 8.2e-19) under minimize and none, not under maximize.
#[test]
fn adaptive_drift_golden() {
    let y: Vec<f64> = (0..20)
        .map(|i| 10.0 + 0.1 * i as f64 + if i % 2 == 1 { 0.01 } else { -0.01 })
        .collect();
    let c = y[19];
    let v = check(&y, c, MIN, Method::default());
    assert_eq!(v.test.as_deref(), Some("drift"));
    assert_eq!(v.baseline, Some(10.95));
    assert_eq!(
        check(&y, c, NONE, Method::default()).test.as_deref(),
        Some("drift")
    );
    assert_eq!(check(&y, c, MAX, Method::default()).status, Status::Ok);
}

/// A 200-point history takes the fast Theil-Sen path (and the counting
/// pre-check); the seed gives slope 0.019995745446028234, baseline
/// 12.00061497031187, a drift under minimize and nothing under maximize.
#[test]
fn adaptive_long_drift_golden() {
    let up: Vec<f64> = (0..200)
        .map(|i| 10.0 + 0.02 * i as f64 + 0.05 * (i as f64 * 1.7).sin())
        .collect();
    let mut s = Scratch::default();
    let slope = stats::theil_sen(&up, &mut s);
    assert!((slope - 0.019995745446028234).abs() < 1e-15, "{slope}");
    let v = check(&up, up[199], MIN, Method::default());
    assert_eq!(v.test.as_deref(), Some("drift"));
    assert!(close(v.baseline, 12.00061497031187));
    assert_eq!(
        check(&up, up[199], MAX, Method::default()).status,
        Status::Ok
    );
    let down: Vec<f64> = (0..200)
        .map(|i| 10.0 - 0.02 * i as f64 + 0.05 * (i as f64 * 1.7).sin())
        .collect();
    let v = check(&down, down[199], MAX, Method::default());
    assert_eq!(v.test.as_deref(), Some("drift"));
    assert!(close(v.baseline, 8.02080404924429));
    assert_eq!(
        check(&down, down[199], MIN, Method::default()).status,
        Status::Ok
    );
}

#[test]
fn adaptive_falls_back_to_percentage_below_four_points() {
    let h = [10.0, 10.0, 10.0];
    let v = check(&h, 11.5, MIN, Method::default());
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(v.test.as_deref(), Some("percentage"));
    assert_eq!(v.p_value, None);
    // The fallback threshold is the floor.
    let m = Method::Adaptive {
        sigmas: 3.5,
        floor_pct: 20.0,
    };
    assert_eq!(check(&h, 11.5, MIN, m).status, Status::Ok);
    // One point is enough for the fallback.
    assert_eq!(
        check(&[10.0], 12.0, MIN, Method::default()).status,
        Status::Regressed
    );
}

/// Golden values from SciPy: mean 11, sd 1.5811, t(0.99, 4) = 3.74695,
/// limits 4.5101 and 17.4899; t.sf for 17.6 is 0.0094659.
#[test]
fn t_interval_golden() {
    let h = [10.0, 12.0, 11.0, 9.0, 13.0];
    let m = Method::T { q: 0.99 };
    let v = check(&h, 17.6, MIN, m);
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(v.test.as_deref(), Some("t"));
    assert_eq!(v.baseline, Some(11.0));
    let (lo, hi) = v.band.expect("band");
    assert!((lo - 4.510096750732538).abs() < 1e-9, "{lo}");
    assert!((hi - 17.489903249267464).abs() < 1e-9, "{hi}");
    assert!((v.p_value.expect("p") - 0.009465908775635575).abs() < 1e-9);
    assert_eq!(check(&h, 17.4, MIN, m).status, Status::Ok);
    assert_eq!(check(&h, 17.6, MAX, m).status, Status::Ok);
    assert_eq!(check(&h, 4.4, MAX, m).status, Status::Regressed);
    assert_eq!(check(&h, 4.4, NONE, m).status, Status::Regressed);
    // A tighter q widens nothing: 0.9 fires sooner.
    assert_eq!(
        check(&h, 15.0, MIN, Method::T { q: 0.9 }).status,
        Status::Regressed
    );
    // Needs two points.
    assert_eq!(
        check(&[10.0], 20.0, MIN, m).status,
        Status::NotEnoughHistory
    );
}

#[test]
fn iqr_golden() {
    // 1..=8: quartiles 2.75 and 6.25 (numpy), median 4.5, IQR 3.5.
    let h: Vec<f64> = (1..=8).map(f64::from).collect();
    let m = Method::Iqr { k: 2.0 };
    let v = check(&h, 12.0, MIN, m);
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(v.test.as_deref(), Some("iqr"));
    assert_eq!(v.baseline, Some(4.5));
    assert_eq!(v.band, Some((-2.5, 11.5)));
    assert_eq!(check(&h, 11.0, MIN, m).status, Status::Ok);
    assert_eq!(check(&h, -3.0, MAX, m).status, Status::Regressed);
    assert_eq!(check(&h, -3.0, MIN, m).status, Status::Ok);
    assert_eq!(check(&h, -3.0, NONE, m).status, Status::Regressed);
    assert_eq!(
        check(&h[..3], 100.0, MIN, m).status,
        Status::NotEnoughHistory
    );
}

// ---------------------------------------------------------------- bad input

#[test]
fn non_finite_history_is_skipped_and_counted() {
    let h = [10.0, f64::NAN, 10.0, f64::INFINITY, 10.0, f64::NEG_INFINITY];
    let v = check(&h, 11.5, MIN, pct(10.0));
    assert_eq!(v.skipped_non_finite, 3);
    assert_eq!(v.baseline, Some(10.0));
    assert_eq!(v.status, Status::Regressed);
    // The seed would take the +inf into the mean (and call nothing a
    // regression): here it is ignored.
    let v = check(&[10.0, 10.0, f64::INFINITY], 11.5, MIN, pct(10.0));
    assert_eq!((v.status, v.skipped_non_finite), (Status::Regressed, 1));
    // Adaptive: the infinities never reach the median.
    let v = check(
        &[10.0, 10.2, f64::INFINITY, 9.9, 10.1, 10.0, 9.8],
        12.0,
        MIN,
        Method::default(),
    );
    assert_eq!((v.baseline, v.skipped_non_finite), (Some(10.0), 1));
}

#[test]
fn non_finite_current_is_not_judged() {
    for c in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let v = check(&[1.0, f64::NAN], c, MIN, pct(10.0));
        assert_eq!(v.status, Status::NotEnoughHistory);
        assert_eq!(v.current, None);
        assert_eq!(v.skipped_non_finite, 2);
        assert_eq!(v.test, None);
    }
}

#[test]
fn zero_and_negative_baselines_report_no_percent() {
    // 0 -> 1 under minimize: the seed's infinite change, kept as a verdict.
    let v = check(&[0.0, 0.0, 0.0], 1.0, MIN, pct(10.0));
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(v.change_pct, None);
    assert_eq!(check(&[0.0, 0.0], 0.0, MIN, pct(10.0)).status, Status::Ok);
    assert_eq!(
        check(&[0.0, 0.0], -1.0, MAX, pct(10.0)).status,
        Status::Regressed
    );
    assert_eq!(check(&[0.0, 0.0], 1.0, MAX, pct(10.0)).status, Status::Ok);
    // A negative baseline: judged against its magnitude, no percent shown,
    // and the band in order (the seed's is upside down).
    let v = check(&[-10.0, -10.0], -12.0, MAX, pct(10.0));
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(v.change_pct, None);
    assert_eq!(v.band, Some((-11.0, -9.0)));
    assert_eq!(
        check(&[-10.0, -10.0], -8.0, MAX, pct(10.0)).status,
        Status::Ok
    );
    // Adaptive on a zero history: the floor uses the infinite change.
    let v = check(&[0.0; 6], 1.0, MIN, Method::default());
    assert_eq!((v.status, v.change_pct), (Status::Regressed, None));
    // Delta reports no percent either, and still judges.
    let v = check(&[0.0, 0.0], 6.0, MIN, Method::Delta { limit: 5.0 });
    assert_eq!((v.status, v.change_pct), (Status::Regressed, None));
}

#[test]
fn empty_history_is_not_enough() {
    for m in [
        pct(10.0),
        Method::default(),
        Method::Delta { limit: 1.0 },
        Method::T { q: 0.99 },
        Method::Iqr { k: 2.0 },
    ] {
        let v = check(&[], 5.0, MIN, m);
        assert_eq!(v.status, Status::NotEnoughHistory, "{m}");
        assert_eq!(v.current, Some(5.0));
        let v = check(&[f64::NAN, f64::INFINITY], 5.0, MIN, m);
        assert_eq!(v.status, Status::NotEnoughHistory, "{m}");
        assert_eq!(v.skipped_non_finite, 2);
    }
}

#[test]
fn bad_parameters_never_fire_or_panic() {
    let h = [1.0, 2.0, 3.0, 4.0, 5.0];
    for q in [0.0, 1.0, -1.0, 2.0, f64::NAN] {
        let v = check(&h, 1e9, MIN, Method::T { q });
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.band, None);
    }
    let v = check(&h, 1e9, MIN, pct(f64::NAN));
    assert_eq!(v.status, Status::Ok);
}

// ---------------------------------------------------------------- parsing

#[test]
fn method_spellings_round_trip() {
    for s in [
        "percentage:15",
        "adaptive:4,5",
        "delta:5",
        "absolute:100",
        "t:0.995",
        "iqr:3",
    ] {
        let m: Method = s.parse().expect(s);
        assert_eq!(m.to_string(), s);
        assert_eq!(m.to_string().parse::<Method>(), Ok(m));
    }
    assert_eq!("adaptive".parse(), Ok(Method::default()));
    assert_eq!(
        " Percentage ".parse(),
        Ok(Method::Percentage {
            threshold_pct: 10.0
        })
    );
    assert_eq!(
        "adaptive:2".parse(),
        Ok(Method::Adaptive {
            sigmas: 2.0,
            floor_pct: 10.0
        })
    );
    assert_eq!("t".parse(), Ok(Method::T { q: 0.99 }));
    assert_eq!("iqr".parse(), Ok(Method::Iqr { k: 2.0 }));
    assert_eq!(
        "delta".parse::<Method>(),
        Err(ParseMethodError::MissingValue("delta".into()))
    );
    assert!(matches!(
        "mad".parse::<Method>(),
        Err(ParseMethodError::Unknown(_))
    ));
    assert!("t:1.5".parse::<Method>().is_err());
    assert!("t:abc".parse::<Method>().is_err());
    assert!("percentage:nan".parse::<Method>().is_err());
    assert!("percentage:1,2".parse::<Method>().is_err());
    assert!("adaptive:1,2,3".parse::<Method>().is_err());
    assert_eq!(Method::default_for("delta"), None);
    assert_eq!(Method::default_for("absolute"), None);
    assert_eq!(Method::default_for("adaptive"), Some(Method::default()));
    assert_eq!("per-cell".parse(), Ok(Grain::PerCell));
    assert_eq!("per_variable".parse(), Ok(Grain::PerVariable));
    assert!("per_row".parse::<Grain>().is_err());
    assert_eq!("off".parse(), Ok(VarOverride::Off));
    assert_eq!("min_history:5".parse(), Ok(VarOverride::MinHistory(5)));
    assert_eq!("threshold:2.5".parse(), Ok(VarOverride::Threshold(2.5)));
    assert_eq!(
        "delta:3".parse(),
        Ok(VarOverride::Method(Method::Delta { limit: 3.0 }))
    );
}

#[test]
fn method_serde_is_tagged() {
    let j = serde_json::to_string(&Method::default()).expect("json");
    assert_eq!(j, r#"{"name":"adaptive","sigmas":3.5,"floor_pct":10.0}"#);
    let back: Method = serde_json::from_str(&j).expect("back");
    assert_eq!(back, Method::default());
}

#[test]
fn overrides_apply() {
    let base = Method::default();
    assert_eq!(VarOverride::Off.apply(base, 1), None);
    assert_eq!(
        VarOverride::Threshold(5.0).apply(base, 1),
        Some((
            Method::Adaptive {
                sigmas: 5.0,
                floor_pct: 10.0
            },
            1
        ))
    );
    assert_eq!(VarOverride::MinHistory(7).apply(base, 1), Some((base, 7)));
    let w = VarOverride::With {
        method: Some(pct(1.0)),
        threshold: Some(3.0),
        min_history: Some(2),
    };
    assert_eq!(w.apply(base, 1), Some((pct(3.0), 2)));
}

// ---------------------------------------------------------------- datasets

/// A history dataset: dims `x` (nx ints), `repeat` (r), `over_time` (t);
/// one float column `c` filled by `f(x, repeat, t)`, laid out time-major
/// as a history read back from the cache is.
fn history(nx: usize, r: usize, t: usize, f: impl Fn(usize, usize, usize) -> f64) -> Dataset {
    let dims = vec![
        Dim::new("x", Coords::Int((0..nx as i64).collect())),
        Dim::new("repeat", Coords::Int((1..=r as i64).collect())),
        Dim::new("over_time", Coords::Int((0..t as i64).collect())),
    ];
    let shape = [nx, r, t];
    let mut buf = Vec::with_capacity(nx * r * t);
    for ti in 0..t {
        for xi in 0..nx {
            for ri in 0..r {
                buf.push(f(xi, ri, ti));
            }
        }
    }
    let mut c = Column::new_missing("c", "c", ResultKind::Float, &shape);
    c.data = ColumnData::F64(time_major_array(&shape, buf).expect("shape"));
    Dataset::from_parts(dims, vec![c], BTreeMap::new()).expect("dataset")
}

/// Deterministic noise in [-1, 1].
fn noise(a: usize, b: usize, c: usize) -> f64 {
    let mut z = (a as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((b as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add((c as u64).wrapping_mul(0x94D0_49BB_1331_11EB));
    z ^= z >> 31;
    z = z.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    z ^= z >> 32;
    (z % 2_000_001) as f64 / 1_000_000.0 - 1.0
}

fn dirs(d: Direction) -> BTreeMap<String, Direction> {
    BTreeMap::from([("c".to_string(), d)])
}

fn opts(grain: Grain) -> Options {
    Options {
        grain: Some(grain),
        ..Options::default()
    }
}

fn none() -> BTreeMap<String, usize> {
    BTreeMap::new()
}

#[test]
fn per_cell_finds_the_corner_per_variable_dilutes() {
    // 100 cells at level 10 + 1 % noise; cell 0 jumps 50 % in the last event.
    let ds = history(100, 2, 30, |x, r, t| {
        let v = 10.0 * (1.0 + 0.01 * noise(x, r, t));
        if x == 0 && t == 29 { v * 1.5 } else { v }
    });
    let cell = detect(&ds, &dirs(MIN), &none(), &opts(Grain::PerCell));
    assert_eq!(cell.grain, Grain::PerCell);
    assert_eq!(cell.cells_tested, 100);
    assert_eq!(cell.cells_flagged, 1);
    let f = &cell.series[0];
    assert_eq!(f.variable, "c");
    assert_eq!(f.cell, vec![("x".to_string(), Value::Int(0))]);
    assert_eq!(f.test, "step");
    assert!(close(f.change_pct, 50.0) || f.change_pct.is_some_and(|c| c > 45.0));
    assert!(f.q_value.is_some_and(|q| q <= 0.05));
    assert!(!f.young);
    assert!(cell.has_blocking());
    // The mean over the grid moves by 0.5 %: nothing per variable.
    let var = detect(&ds, &dirs(MIN), &none(), &opts(Grain::PerVariable));
    assert_eq!(var.grain, Grain::PerVariable);
    assert_eq!(var.cells_tested, 1);
    assert!(var.series.is_empty());
    assert_eq!(var.fdr, None);
    // The default grain for 100 cells is per cell.
    let auto = detect(&ds, &dirs(MIN), &none(), &Options::default());
    assert_eq!(auto.grain, Grain::PerCell);
    // Under maximize the jump is an improvement.
    let up = detect(&ds, &dirs(MAX), &none(), &opts(Grain::PerCell));
    assert!(up.series.is_empty());
}

#[test]
fn per_variable_matches_check_series_on_the_means() {
    let ds = history(4, 3, 12, |x, r, t| {
        5.0 + x as f64 + 0.1 * noise(x, r, t) + if t == 11 { 3.0 } else { 0.0 }
    });
    let report = detect(&ds, &dirs(MIN), &none(), &opts(Grain::PerVariable));
    let a = ds.column("c").expect("c").f64().expect("f64");
    let means: Vec<f64> = (0..12)
        .map(|t| {
            let v: Vec<f64> = (0..4)
                .flat_map(|x| (0..3).map(move |r| (x, r)))
                .map(|(x, r)| a[[x, r, t]])
                .collect();
            stats::np_mean(&v)
        })
        .collect();
    let v = check_series(&means[..11], means[11], MIN, &Method::default());
    assert_eq!(v.status, Status::Regressed);
    assert_eq!(report.series.len(), 1);
    assert_eq!(report.series[0].baseline, v.baseline);
    assert_eq!(report.series[0].current, v.current);
    assert!(report.series[0].cell.is_empty());
}

#[test]
fn benjamini_hochberg_suppresses_a_lone_borderline_cell() {
    // 400 noisy cells; cell 7 moves 4.2 robust sigmas (its own step test
    // fires, p ~ 1e-4), which does not survive BH over 400 cells; cell 3
    // moves 40 sigmas, which does. Floor 0 so that the percent gate
    // does not decide.
    let ds = history(400, 1, 40, |x, _, t| {
        let v = 100.0 + noise(x, 0, t);
        match (x, t) {
            (7, 39) => 100.0 + 4.2 * 1.4826 * 0.5,
            (3, 39) => 100.0 + 40.0,
            _ => v,
        }
    });
    let mut o = opts(Grain::PerCell);
    o.method = Method::Adaptive {
        sigmas: 3.5,
        floor_pct: 0.0,
    };
    let report = detect(&ds, &dirs(MIN), &none(), &o);
    let flagged: Vec<String> = report
        .series
        .iter()
        .map(|f| f.cell[0].1.to_string())
        .collect();
    assert!(flagged.contains(&"3".to_string()), "{}", report.to_text());
    assert!(!flagged.contains(&"7".to_string()), "{}", report.to_text());
    assert!(report.suppressed_by_fdr >= 1);
    assert_eq!(report.fdr, Some(0.05));
    // Without the correction (rate 1) the borderline cell is flagged.
    o.fdr = 1.0;
    let loose = detect(&ds, &dirs(MIN), &none(), &o);
    let flagged: Vec<String> = loose
        .series
        .iter()
        .map(|f| f.cell[0].1.to_string())
        .collect();
    assert!(flagged.contains(&"7".to_string()));
    assert_eq!(loose.suppressed_by_fdr, 0);
    // A threshold method is never corrected.
    o.fdr = 0.05;
    o.method = pct(1.0);
    let p = detect(&ds, &dirs(MIN), &none(), &o);
    assert!(
        p.series
            .iter()
            .all(|f| f.p_value.is_none() && f.q_value.is_none())
    );
    assert!(!p.series.is_empty());
}

#[test]
fn young_baselines_never_block() {
    let ds = history(
        2,
        1,
        6,
        |x, _, t| if t == 5 { 20.0 } else { 10.0 + x as f64 },
    );
    let mut o = opts(Grain::PerVariable);
    o.method = pct(10.0);
    // Born at event 3: two events of history, fewer than 3.
    o.min_history = 3;
    let births = BTreeMap::from([("c".to_string(), 3usize)]);
    let r = detect(&ds, &dirs(MIN), &births, &o);
    assert_eq!(r.series.len(), 1);
    assert!(r.series[0].young);
    assert_eq!(r.series[0].history_points, 2);
    assert!(r.has_regressions());
    assert!(!r.has_blocking());
    assert!(r.to_markdown().contains('†'));
    // Mature with the whole history.
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert!(!r.series[0].young);
    assert!(r.has_blocking());
    // A per-variable override of min_history.
    o.overrides.insert("c".into(), VarOverride::MinHistory(10));
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert!(r.series[0].young);
    // An absolute limit needs no history and is never young.
    o.overrides.insert(
        "c".into(),
        VarOverride::Method(Method::Absolute { limit: 15.0 }),
    );
    let r = detect(&ds, &dirs(MIN), &births, &o);
    assert_eq!(r.series.len(), 1);
    assert!(!r.series[0].young);
}

#[test]
fn default_birth_is_the_first_measured_event() {
    // Missing (NaN) for the first 4 events: a column added later.
    let ds = history(1, 1, 7, |_, _, t| match t {
        0..=3 => f64::NAN,
        6 => 20.0,
        _ => 10.0,
    });
    let mut o = opts(Grain::PerVariable);
    o.method = pct(10.0);
    o.min_history = 3;
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert_eq!(r.series.len(), 1);
    assert_eq!(r.series[0].history_points, 2);
    assert!(r.series[0].young);
    // Per cell, the same.
    o.grain = Some(Grain::PerCell);
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert_eq!(r.series[0].history_points, 2);
    assert!(r.series[0].young);
}

#[test]
fn births_exclude_older_events() {
    // Before event 3 the column meant something else (values near 100).
    let ds = history(1, 1, 8, |_, _, t| if t < 3 { 100.0 } else { 10.0 });
    let mut o = opts(Grain::PerVariable);
    o.method = pct(10.0);
    let births = BTreeMap::from([("c".to_string(), 3usize)]);
    let r = detect(&ds, &dirs(MAX), &births, &o);
    assert!(r.series.is_empty(), "{}", r.to_text());
    let r = detect(&ds, &dirs(MAX), &none(), &o);
    assert_eq!(r.series.len(), 1);
}

#[test]
fn single_event_and_empty_history_are_not_enough() {
    let ds = history(3, 2, 1, |x, _, _| x as f64);
    for g in [Grain::PerCell, Grain::PerVariable] {
        let r = detect(&ds, &dirs(MIN), &none(), &opts(g));
        assert_eq!(r.cells_tested, 0);
        assert_eq!(r.not_enough_history, vec!["c".to_string()]);
        assert!(r.series_not_enough_history >= 1);
        assert!(!r.has_blocking());
        assert!(r.to_text().contains("Not enough history: c"));
    }
    let empty = history(3, 2, 0, |_, _, _| 0.0);
    let r = detect(&empty, &dirs(MIN), &none(), &Options::default());
    assert_eq!(r.not_enough_history, vec!["c".to_string()]);
    // An absolute limit judges a single event.
    let mut o = opts(Grain::PerCell);
    o.method = Method::Absolute { limit: 1.5 };
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert_eq!(r.cells_tested, 3);
    assert_eq!(r.series.len(), 1);
}

#[test]
fn infinities_in_a_dataset_are_skipped_and_counted() {
    let ds = history(2, 2, 8, |x, r, t| match (x, r, t) {
        (0, 0, 2) => f64::INFINITY,
        (1, 1, 4) => f64::NEG_INFINITY,
        (_, _, 7) => 20.0,
        _ => 10.0,
    });
    let mut o = opts(Grain::PerCell);
    o.method = pct(10.0);
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert_eq!(r.skipped_non_finite, 2);
    assert_eq!(r.series.len(), 2);
    assert!(r.series.iter().all(|f| f.baseline == Some(10.0)));
    o.grain = Some(Grain::PerVariable);
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert_eq!(r.skipped_non_finite, 2);
    assert_eq!(r.series[0].baseline, Some(10.0));
}

#[test]
fn missing_current_cells_are_not_tested() {
    let ds = history(
        3,
        1,
        6,
        |x, _, t| if t == 5 && x == 1 { f64::NAN } else { 1.0 },
    );
    let r = detect(&ds, &dirs(MIN), &none(), &opts(Grain::PerCell));
    assert_eq!(r.cells_tested, 2);
    assert_eq!(r.cells_without_current, 1);
}

#[test]
fn overrides_by_column_and_variable() {
    let ds = history(1, 1, 6, |_, _, t| if t == 5 { 11.5 } else { 10.0 });
    let mut o = opts(Grain::PerVariable);
    o.method = pct(10.0);
    assert_eq!(detect(&ds, &dirs(MIN), &none(), &o).series.len(), 1);
    o.overrides.insert("c".into(), VarOverride::Off);
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert_eq!((r.cells_tested, r.series.len()), (0, 0));
    o.overrides.insert("c".into(), VarOverride::Threshold(20.0));
    assert!(detect(&ds, &dirs(MIN), &none(), &o).series.is_empty());
    o.overrides.insert(
        "c".into(),
        VarOverride::Method(Method::Delta { limit: 1.0 }),
    );
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert_eq!(r.series[0].test, "delta");
    assert_eq!(r.series[0].method, Method::Delta { limit: 1.0 });
}

#[test]
fn vec_and_text_columns() {
    // A vec result `p` (columns p_x, p_y) and a text column.
    let dims = vec![
        Dim::new("x", Coords::Int(vec![0, 1])),
        Dim::new("over_time", Coords::Int((0..5).collect())),
    ];
    let vals = |jump: f64| {
        let mut v = vec![1.0; 10];
        v[4] = jump; // x = 0, last event
        ColumnData::F64(ArrayD::from_shape_vec(IxDyn(&[2, 5]), v).expect("shape"))
    };
    let mut px = Column::new_missing("p_x", "p", ResultKind::Vec(2), &[2, 5]);
    px.data = vals(2.0);
    let mut py = Column::new_missing("p_y", "p", ResultKind::Vec(2), &[2, 5]);
    py.data = vals(1.0);
    let txt = Column::new_missing("note", "note", ResultKind::String, &[2, 5]);
    let ds = Dataset::from_parts(dims, vec![px, py, txt], BTreeMap::new()).expect("ds");
    // The direction is given for the variable `p`.
    let d = BTreeMap::from([("p".to_string(), MIN)]);
    let mut o = opts(Grain::PerCell);
    o.method = pct(10.0);
    let r = detect(&ds, &d, &none(), &o);
    assert_eq!(r.cells_tested, 4);
    assert_eq!(r.series.len(), 1);
    assert_eq!(r.series[0].variable, "p_x");
    assert_eq!(r.series[0].direction, MIN);
}

#[test]
fn layouts_give_the_same_report() {
    // The same history, time-major (as read from the cache) and standard.
    let tm = history(6, 2, 9, |x, r, t| {
        3.0 + noise(x, r, t) + if t == 8 && x == 2 { 9.0 } else { 0.0 }
    });
    let mut std_ds = tm.clone();
    for c in std_ds.columns_mut() {
        if let ColumnData::F64(a) = &mut c.data {
            *a = a.as_standard_layout().into_owned();
        }
    }
    for g in [Grain::PerCell, Grain::PerVariable] {
        let a = detect(&tm, &dirs(NONE), &none(), &opts(g));
        let b = detect(&std_ds, &dirs(NONE), &none(), &opts(g));
        assert_eq!(a, b);
    }
}

#[test]
fn dataset_without_over_time_is_one_event() {
    let dims = vec![Dim::new("x", Coords::Int(vec![0, 1, 2]))];
    let mut c = Column::new_missing("c", "c", ResultKind::Float, &[3]);
    c.data = ColumnData::F64(ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0, 5.0, 2.0]).expect("s"));
    let ds = Dataset::from_parts(dims, vec![c], BTreeMap::new()).expect("ds");
    let mut o = opts(Grain::PerCell);
    o.method = Method::Absolute { limit: 3.0 };
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert_eq!(r.series.len(), 1);
    assert_eq!(r.series[0].cell, vec![("x".to_string(), Value::Int(1))]);
    let r = detect(&ds, &dirs(MIN), &none(), &opts(Grain::PerCell));
    assert_eq!(r.series_not_enough_history, 3);
}

// ---------------------------------------------------------------- report

#[test]
fn report_renders_text_markdown_and_json() {
    let ds = history(3, 1, 10, |x, _, t| {
        if t == 9 && x == 1 {
            30.0
        } else {
            10.0 + 0.1 * noise(x, 0, t)
        }
    });
    let mut o = opts(Grain::PerCell);
    o.method = Method::default();
    o.overrides.clear();
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    assert_eq!(r.series.len(), 1);
    let text = r.to_text();
    assert!(text.contains("3 cells tested, 1 flagged"), "{text}");
    assert!(text.contains("variable"), "{text}");
    assert!(text.contains("x=1"), "{text}");
    assert!(text.contains("adaptive:3.5,10"), "{text}");
    assert!(text.contains("step"), "{text}");
    let md = r.to_markdown();
    assert!(md.contains("**1 regression(s) detected**"), "{md}");
    assert!(md.contains("| variable | cell |"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
    assert_eq!(json["schema_version"], REPORT_SCHEMA_VERSION);
    assert_eq!(json["grain"], "per_cell");
    assert_eq!(json["has_blocking"], true);
    assert_eq!(json["cells_tested"], 3);
    assert_eq!(json["series"][0]["cell"]["x"], 1);
    assert_eq!(json["series"][0]["test"], "step");
    assert_eq!(json["series"][0]["direction"], "minimize");
    assert_eq!(json["series"][0]["method"], "adaptive:3.5,10");
    // Non-finite numbers become null: an absolute ceiling's open side.
    o.method = Method::Absolute { limit: 20.0 };
    let r = detect(&ds, &dirs(MIN), &none(), &o);
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("json");
    assert!(json["series"][0]["band"][0].is_null());
    assert_eq!(json["series"][0]["band"][1], 20.0);
    assert!(json["series"][0]["baseline"].is_null());
    assert!(r.to_text().contains("≤ 20"));
    // Nothing flagged.
    let quiet = detect(
        &history(2, 1, 5, |_, _, _| 1.0),
        &dirs(MIN),
        &none(),
        &Options::default(),
    );
    assert!(quiet.to_text().contains("No regressions detected."));
    assert!(quiet.to_markdown().contains("**No regressions detected**"));
    assert!(!quiet.has_blocking());
}

#[test]
fn report_json_turns_every_non_finite_into_null() {
    let f = Flagged {
        variable: "v".into(),
        cell: vec![
            ("x".into(), Value::Float(f64::NAN)),
            ("t".into(), Value::Time(0)),
        ],
        method: Method::default(),
        direction: NONE,
        baseline: Some(f64::NAN),
        current: Some(f64::INFINITY),
        change_pct: Some(f64::NEG_INFINITY),
        band: Some((f64::NAN, 1.0)),
        test: "step".into(),
        young: false,
        history_points: 3,
        p_value: Some(f64::NAN),
        q_value: None,
    };
    let r = RegressionReport {
        schema_version: REPORT_SCHEMA_VERSION,
        grain: Grain::PerCell,
        fdr: Some(f64::NAN),
        cells_tested: 1,
        cells_flagged: 1,
        suppressed_by_fdr: 0,
        series: vec![f],
        not_enough_history: vec![],
        series_not_enough_history: 0,
        cells_without_current: 0,
        skipped_non_finite: 0,
    };
    let text = r.to_json();
    assert!(!text.contains("NaN") && !text.contains("inf"), "{text}");
    let j: serde_json::Value = serde_json::from_str(&text).expect("json");
    let s = &j["series"][0];
    for k in ["baseline", "current", "change_pct", "p_value", "q_value"] {
        assert!(s[k].is_null(), "{k}");
    }
    assert!(s["cell"]["x"].is_null());
    assert_eq!(s["cell"]["t"], "1970-01-01T00:00:00Z");
    assert!(s["band"][0].is_null());
    assert!(j["fdr"].is_null());
    // The text forms do not panic on them either.
    assert!(r.to_text().contains("nan"));
    let _ = r.to_markdown();
}

// ---------------------------------------------------------------- properties

fn any_direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(MIN), Just(MAX), Just(NONE)]
}

fn history_method() -> impl Strategy<Value = Method> {
    prop_oneof![
        (0.0..50.0f64).prop_map(|t| Method::Percentage { threshold_pct: t }),
        ((0.5..6.0f64), (0.0..30.0f64)).prop_map(|(s, f)| Method::Adaptive {
            sigmas: s,
            floor_pct: f
        }),
        (0.0..10.0f64).prop_map(|l| Method::Delta { limit: l }),
        (0.5..0.999f64).prop_map(|q| Method::T { q }),
        (0.5..4.0f64).prop_map(|k| Method::Iqr { k }),
    ]
}

fn any_method() -> impl Strategy<Value = Method> {
    prop_oneof![
        history_method(),
        any::<f64>().prop_map(|l| Method::Absolute { limit: l }),
        any::<f64>().prop_map(|q| Method::T { q }),
        any::<f64>().prop_map(|t| Method::Percentage { threshold_pct: t }),
        (any::<f64>(), any::<f64>()).prop_map(|(s, f)| Method::Adaptive {
            sigmas: s,
            floor_pct: f
        }),
    ]
}

/// Any f64 at all, with the special values made common.
fn wild_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        -10.0..10.0f64,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn constant_history_never_regresses(
        v in prop_oneof![-1e6..1e6f64, Just(0.0)],
        n in 0usize..40,
        d in any_direction(),
        m in history_method(),
    ) {
        let h = vec![v; n];
        let verdict = check_series(&h, v, d, &m);
        prop_assert_ne!(verdict.status, Status::Regressed);
    }

    #[test]
    fn scaling_by_powers_of_two_keeps_the_verdict(
        h in prop::collection::vec(1.0..1000.0f64, 0..60),
        c in 1.0..1000.0f64,
        k in -8i32..8,
        d in any_direction(),
        m in prop_oneof![
            (0.0..50.0f64).prop_map(|t| Method::Percentage { threshold_pct: t }),
            ((0.5..6.0f64), (0.0..30.0f64)).prop_map(|(s, f)| Method::Adaptive { sigmas: s, floor_pct: f }),
        ],
    ) {
        let s = 2f64.powi(k);
        let scaled: Vec<f64> = h.iter().map(|v| v * s).collect();
        let a = check_series(&h, c, d, &m);
        let b = check_series(&scaled, c * s, d, &m);
        prop_assert_eq!(a.status, b.status);
        prop_assert_eq!(a.test, b.test);
    }

    #[test]
    fn negating_the_series_swaps_the_direction(
        h in prop::collection::vec(-100.0..100.0f64, 0..40),
        c in -100.0..100.0f64,
        m in prop_oneof![
            (0.0..50.0f64).prop_map(|t| Method::Percentage { threshold_pct: t }),
            ((0.5..6.0f64), (0.0..30.0f64)).prop_map(|(s, f)| Method::Adaptive { sigmas: s, floor_pct: f }),
            (0.0..10.0f64).prop_map(|l| Method::Delta { limit: l }),
        ],
    ) {
        let neg: Vec<f64> = h.iter().map(|v| -v).collect();
        let a = check_series(&h, c, MIN, &m);
        let b = check_series(&neg, -c, MAX, &m);
        prop_assert_eq!(a.status, b.status);
        prop_assert_eq!(a.test, b.test);
    }

    #[test]
    fn never_panics_and_stays_consistent(
        h in prop::collection::vec(wild_f64(), 0..80),
        c in wild_f64(),
        d in any_direction(),
        m in any_method(),
    ) {
        let v = check_series(&h, c, d, &m);
        let bad = h.iter().filter(|x| !x.is_finite()).count() + usize::from(!c.is_finite());
        prop_assert_eq!(v.skipped_non_finite, bad);
        prop_assert_eq!(v.test.is_some(), v.status == Status::Regressed);
        if v.status == Status::NotEnoughHistory {
            prop_assert!(v.baseline.is_none());
        }
        if let Some(p) = v.p_value {
            prop_assert!((0.0..=1.0).contains(&p) || p.is_nan());
        }
        if let Some(b) = v.baseline.filter(|b| *b <= 0.0) {
            prop_assert!(v.change_pct.is_none(), "baseline {}", b);
        }
        if let Some((lo, hi)) = v.band {
            prop_assert!(lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Greater));
        }
    }

    #[test]
    fn detect_never_panics(
        vals in prop::collection::vec(wild_f64(), 24),
        t in 0usize..4,
        d in any_direction(),
        m in any_method(),
        grain in prop_oneof![Just(Grain::PerCell), Just(Grain::PerVariable)],
    ) {
        // 3 cells x 2 repeats x t events, cycling through `vals`.
        let ds = history(3, 2, t, |x, r, e| vals[(e * 6 + x * 2 + r) % vals.len()]);
        let o = Options { method: m, grain: Some(grain), ..Options::default() };
        let r = detect(&ds, &dirs(d), &none(), &o);
        prop_assert_eq!(r.cells_flagged, r.series.len());
        let _ = (r.to_text(), r.to_markdown(), r.to_json());
    }

    #[test]
    fn inversion_count_matches_pairs(v in prop::collection::vec(-5i32..5, 0..300)) {
        let v: Vec<f64> = v.into_iter().map(f64::from).collect();
        let mut want = 0u64;
        for i in 0..v.len() {
            for j in i + 1..v.len() {
                want += u64::from(v[i] > v[j]);
            }
        }
        let (mut a, mut b) = (v.clone(), Vec::new());
        prop_assert_eq!(stats::sort_count_inversions(&mut a, &mut b), want);
        let mut sorted = v.clone();
        sorted.sort_by(f64::total_cmp);
        prop_assert_eq!(a, sorted);
    }

    #[test]
    fn theil_sen_equals_the_median_of_all_slopes(
        y in prop::collection::vec(prop_oneof![-100.0..100.0f64, (-20i32..20).prop_map(f64::from)], 2..260),
        trend in -1.0..1.0f64,
    ) {
        let y: Vec<f64> = y.iter().enumerate().map(|(i, v)| v + trend * i as f64).collect();
        let mut all = Vec::new();
        for j in 1..y.len() {
            for i in 0..j {
                all.push((y[j] - y[i]) / (j - i) as f64);
            }
        }
        let want = stats::median(&mut all);
        let got = stats::theil_sen(&y, &mut Scratch::default());
        prop_assert_eq!(got, want);
    }

    #[test]
    fn bh_qvalues_are_monotone_and_above_p(p in prop::collection::vec(0.0..1.0f64, 0..50)) {
        let q = stats::bh_qvalues(&p);
        for i in 0..p.len() {
            prop_assert!(q[i] >= p[i] - 1e-15 && q[i] <= 1.0);
            for j in 0..p.len() {
                if p[i] < p[j] {
                    prop_assert!(q[i] <= q[j]);
                }
            }
        }
    }
}
