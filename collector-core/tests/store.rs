//! The store loop: results land in the right cells, every failure case of
//! SPEC §4 is recorded (or stops the run under fail-fast), and the dataset
//! does not depend on the thread count.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use collector_core::{
    CatchPolicy, Error, FailThreshold, FailureKind, InputVar, Outputs, ResultVar, RunOptions,
    Sample, Sweep, SweepResult, TimeSrc, run_sweep, setup_dataset,
};
use proptest::prelude::*;

fn sweep(policy: CatchPolicy) -> Sweep {
    Sweep::builder("store")
        .input(InputVar::int_range("a", 0, 3))
        .input(InputVar::labels("b", ["x", "y"]))
        .result(ResultVar::float("f").units("s"))
        .result(ResultVar::vector("v", 3))
        .result(ResultVar::string("s"))
        .result(ResultVar::boolean("ok"))
        .repeats(2)
        .catch(policy)
        .build()
        .unwrap()
}

fn fresh(s: &Sweep) -> SweepResult {
    setup_dataset(s, &TimeSrc::Label("t".into()))
        .unwrap()
        .result
}

fn good(s: &Sample<'_>) -> Outputs {
    let a = s.get::<i64>("a").unwrap() as f64;
    let b = s.get::<String>("b").unwrap();
    s.outputs()
        .with("f", a * 10.0 + s.repeat() as f64)
        .with("v", [a, 1.0, 2.0])
        .with("s", format!("{b}{a}"))
        .with("ok", a > 1.0)
}

fn f_at(r: &SweepResult, idx: [usize; 3]) -> f64 {
    r.dataset.column("f").unwrap().f64().unwrap()[idx]
}

#[test]
fn results_land_in_their_cells() {
    let s = sweep(CatchPolicy::Record);
    let mut r = fresh(&s);
    let stats = run_sweep(&mut r, &RunOptions::threads(2), |smp| {
        Ok::<_, Error>(good(smp))
    })
    .unwrap();
    assert_eq!((stats.attempted, stats.failed), (16, 0));
    assert!(r.is_complete());
    assert_eq!(f_at(&r, [3, 1, 1]), 32.0);
    let ds = &r.dataset;
    assert_eq!(ds.column("v_x").unwrap().f64().unwrap()[[2, 0, 0]], 2.0);
    assert_eq!(ds.column("v_z").unwrap().f64().unwrap()[[2, 0, 0]], 2.0);
    assert_eq!(ds.column("s").unwrap().text().unwrap()[[1, 1, 0]], "y1");
    assert_eq!(ds.column("ok").unwrap().f64().unwrap()[[0, 0, 0]], 0.0);
    assert_eq!(ds.column("ok").unwrap().f64().unwrap()[[3, 0, 0]], 1.0);
    // Selection by label agrees with the index.
    let sel = ds
        .sel("a", 3i64)
        .unwrap()
        .sel("b", "y")
        .unwrap()
        .sel("repeat", 2i64)
        .unwrap();
    assert_eq!(sel.column("f").unwrap().f64().unwrap()[[]], 32.0);
}

#[test]
fn worker_error_is_recorded_with_inputs_and_message() {
    let s = sweep(CatchPolicy::Record);
    let mut r = fresh(&s);
    let stats = run_sweep(&mut r, &RunOptions::threads(2), |smp| {
        if smp.get::<i64>("a")? == 2 && smp.get::<String>("b")? == "x" {
            return Err(Error::InvalidSweep {
                sweep: "w".into(),
                message: "boom".into(),
            });
        }
        Ok(good(smp))
    })
    .unwrap();
    assert_eq!((stats.attempted, stats.failed), (16, 2));
    assert_eq!(r.failures.len(), 2);
    let f = &r.failures[0];
    assert_eq!(f.kind, FailureKind::Error);
    assert!(f.message.contains("boom"));
    assert_eq!(f.inputs[0], ("a".to_string(), 2i64.into()));
    assert_eq!(f.inputs[1], ("b".to_string(), "x".into()));
    assert_eq!(f.inputs[2], ("repeat".to_string(), 1i64.into()));
    // The failed cells keep their sentinels, the others are set.
    assert!(f_at(&r, [2, 0, 0]).is_nan());
    assert_eq!(
        r.dataset.column("s").unwrap().text().unwrap()[[2, 0, 1]],
        "NAN"
    );
    assert_eq!(f_at(&r, [2, 1, 0]), 21.0);
    assert!(!r.is_complete());
    assert!((stats.failed_fraction() - 0.125).abs() < 1e-12);
}

#[test]
fn panicking_worker_is_recorded() {
    let s = sweep(CatchPolicy::Record);
    let mut r = fresh(&s);
    let stats = run_sweep(&mut r, &RunOptions::threads(2), |smp| {
        if smp.job() == 5 {
            panic!("worker exploded at job 5");
        }
        Ok::<_, Error>(good(smp))
    })
    .unwrap();
    assert_eq!(stats.failed, 1);
    assert_eq!(r.failures[0].job, 5);
    assert_eq!(r.failures[0].kind, FailureKind::Panic);
    assert!(r.failures[0].message.contains("worker exploded at job 5"));
    assert_eq!(stats.attempted, 16);
}

#[test]
fn fail_fast_stops_with_the_job_and_keeps_earlier_results() {
    let s = sweep(CatchPolicy::FailFast);
    let mut r = fresh(&s);
    let opts = RunOptions {
        threads: Some(2),
        batch: 4,
        ..RunOptions::default()
    };
    let e = run_sweep(&mut r, &opts, |smp| {
        if smp.job() == 9 {
            panic!("bad job");
        }
        Ok::<_, Error>(good(smp))
    })
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::JobFailed { job: 9, .. }), "{msg}");
    assert!(
        msg.contains("a=2") && msg.contains("b=x") && msg.contains("bad job"),
        "{msg}"
    );
    // Jobs 0..=8 and the rest of the batch (10, 11) are stored; 12.. never ran.
    assert_eq!(f_at(&r, [0, 0, 0]), 1.0);
    assert_eq!(f_at(&r, [2, 0, 0]), 21.0); // job 8
    assert_eq!(f_at(&r, [2, 1, 1]), 22.0); // job 11, same batch
    assert!(f_at(&r, [3, 0, 0]).is_nan()); // job 12, never ran
    assert_eq!(r.stats.attempted, 12);
    assert_eq!(r.failures.len(), 1);
}

#[test]
fn contract_violations_are_always_recorded_never_fatal() {
    // Even under fail-fast, a broken contract is recorded and the run goes on.
    let s = sweep(CatchPolicy::FailFast);
    let mut r = fresh(&s);
    let stats = run_sweep(&mut r, &RunOptions::threads(2), |smp| {
        let mut out = good(smp);
        match smp.job() {
            0 => {
                out = smp
                    .outputs()
                    .with("f", 1.5)
                    .with("v", [1.0, 2.0, 3.0])
                    .with("ok", true);
            } // missing `s`
            1 => {
                out.set("v", [1.0, 2.0]);
            } // wrong vec length
            2 => {
                out.set("f", "not a number");
            } // wrong kind (upstream bug 4)
            3 => {
                out.set("nope", 1.0);
            } // undeclared
            4 => {
                out.set("ok", 3.5);
            } // float for a bool
            _ => {}
        }
        Ok::<_, Error>(out)
    })
    .unwrap();
    assert_eq!(stats.failed, 5);
    assert_eq!(stats.attempted, 16);
    let msgs: Vec<&str> = r.failures.iter().map(|f| f.message.as_str()).collect();
    assert!(r.failures.iter().all(|f| f.kind == FailureKind::Contract));
    assert!(msgs[0].contains("`s` was not set"), "{}", msgs[0]);
    assert!(
        msgs[1].contains("`v`") && msgs[1].contains("3 components"),
        "{}",
        msgs[1]
    );
    assert!(
        msgs[2].contains("`f`") && msgs[2].contains("expected float"),
        "{}",
        msgs[2]
    );
    assert!(msgs[3].contains("`nope` is not declared"), "{}", msgs[3]);
    assert!(
        msgs[4].contains("`ok`") && msgs[4].contains("expected bool"),
        "{}",
        msgs[4]
    );
    // Valid columns of a violating job keep their values; the bad cell
    // stays at its sentinel.
    assert_eq!(f_at(&r, [0, 0, 0]), 1.5);
    assert_eq!(
        r.dataset.column("s").unwrap().text().unwrap()[[0, 0, 0]],
        "NAN"
    );
    assert!(r.dataset.column("v_x").unwrap().f64().unwrap()[[0, 0, 1]].is_nan());
    assert!(f_at(&r, [0, 1, 0]).is_nan());
    assert_eq!(
        r.dataset.column("v_x").unwrap().f64().unwrap()[[0, 1, 0]],
        0.0
    );
    // Other jobs are untouched.
    assert_eq!(f_at(&r, [3, 1, 1]), 32.0);
}

#[test]
fn store_results_by_hand_and_bad_job_index() {
    let s = sweep(CatchPolicy::Record);
    let mut r = fresh(&s);
    let smp = Sample::new(&s, 3);
    assert!(r.store_results(3, good(&smp)).is_none());
    let f = r.store_results(1000, good(&smp)).unwrap();
    assert!(f.message.contains("outside the grid"), "{}", f.message);
    assert_eq!(r.stats.failed, 1);
}

#[test]
fn fail_on_sample_error_thresholds() {
    let build = |t: FailThreshold| {
        Sweep::builder("thr")
            .input(InputVar::int_range("a", 0, 9))
            .result(ResultVar::float("f"))
            .fail_on_sample_error(t)
            .build()
            .unwrap()
    };
    let run = |s: &Sweep| {
        let mut r = fresh(s);
        run_sweep(&mut r, &RunOptions::threads(1), |smp| {
            if smp.get::<i64>("a")? < 2 {
                return Err(Error::InvalidSweep {
                    sweep: "x".into(),
                    message: "fail".into(),
                });
            }
            Ok(smp.outputs().with("f", 1.0))
        })
        .unwrap();
        r
    };
    let r = run(&build(FailThreshold::Any));
    let e = r.check_failures().unwrap_err().to_string();
    assert!(e.contains("2 of 10"), "{e}");
    assert!(
        run(&build(FailThreshold::Fraction(0.25)))
            .check_failures()
            .is_ok()
    );
    assert!(
        run(&build(FailThreshold::Fraction(0.1)))
            .check_failures()
            .is_err()
    );
}

#[test]
fn reference_indices_follow_job_order_for_any_thread_count() {
    let s = Sweep::builder("refs")
        .input(InputVar::int_range("a", 0, 99))
        .result(ResultVar::reference("obj"))
        .build()
        .unwrap();
    for threads in [1, 4] {
        let mut r = fresh(&s);
        run_sweep(
            &mut r,
            &RunOptions {
                threads: Some(threads),
                batch: 7,
                ..RunOptions::default()
            },
            |smp| {
                let a = smp.get::<i64>("a")?;
                Ok::<_, Error>(
                    smp.outputs()
                        .with("obj", collector_core::ResultValue::Object(Box::new(a))),
                )
            },
        )
        .unwrap();
        let col = r.dataset.column("obj").unwrap().i64().unwrap().to_owned();
        for (i, idx) in col.iter().enumerate() {
            assert_eq!(*idx, i as i64);
            assert_eq!(
                r.objects[*idx as usize].downcast_ref::<i64>(),
                Some(&(i as i64))
            );
        }
    }
}

#[test]
fn progress_reports_every_job() {
    let s = sweep(CatchPolicy::Record);
    let mut r = fresh(&s);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (seen2, calls2) = (Arc::clone(&seen), Arc::clone(&calls));
    let opts = RunOptions {
        threads: Some(2),
        batch: 5,
        progress: Some(Arc::new(move |p| {
            calls2.fetch_add(1, Ordering::Relaxed);
            seen2.lock().unwrap().push(p.done);
        })),
        ..RunOptions::default()
    };
    run_sweep(&mut r, &opts, |smp| Ok::<_, Error>(good(smp))).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![5, 10, 15, 16]);
    assert_eq!(calls.load(Ordering::Relaxed), 4);
}

fn flaky_worker(smp: &Sample<'_>) -> Result<Outputs, String> {
    let j = smp.job();
    if j % 7 == 3 {
        return Err(format!("job {j} refused"));
    }
    if j % 11 == 5 {
        panic!("job {j} panicked");
    }
    let mut out = smp.outputs();
    out.set("f", j as f64 * 0.5)
        .set("v", [j as f64, 0.0, -(j as f64)])
        .set("s", format!("s{j}"))
        .set("ok", j.is_multiple_of(2));
    if j % 13 == 1 {
        out.set("v", [1.0]);
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn same_dataset_at_1_and_4_threads(na in 1usize..6, nb in 1usize..4, reps in 1usize..4, batch in 1usize..20) {
        let s = Sweep::builder("det")
            .input(InputVar::int_range("a", 0, na as i64 - 1))
            .input(InputVar::labels("b", ["x", "y", "z"]).samples(nb))
            .result(ResultVar::float("f"))
            .result(ResultVar::vector("v", 3))
            .result(ResultVar::string("s"))
            .result(ResultVar::boolean("ok"))
            .repeats(reps)
            .build()
            .unwrap();
        let run = |threads| {
            let mut r = fresh(&s);
            run_sweep(&mut r, &RunOptions { threads: Some(threads), batch, ..RunOptions::default() }, flaky_worker).unwrap();
            r
        };
        let (one, four) = (run(1), run(4));
        prop_assert_eq!(&one.dataset, &four.dataset);
        prop_assert_eq!(&one.failures, &four.failures);
        prop_assert_eq!(one.stats, four.stats);
    }
}

/// With one job per task, a batch smaller than the default task size is
/// still shared by every thread: the first two jobs wait for each other,
/// which only two threads running at once can satisfy.
#[test]
fn one_job_per_task_spreads_a_small_batch_over_the_threads() {
    let s = Sweep::builder("spread")
        .input(InputVar::int_range("a", 0, 3))
        .result(ResultVar::float("f"))
        .build()
        .unwrap();
    let mut r = fresh(&s);
    let arrived = AtomicUsize::new(0);
    let opts = RunOptions {
        threads: Some(2),
        batch: 4,
        min_jobs_per_task: 1,
        ..RunOptions::default()
    };
    let stats = run_sweep(&mut r, &opts, |smp| {
        if smp.job() < 2 {
            arrived.fetch_add(1, Ordering::SeqCst);
            let t0 = std::time::Instant::now();
            while arrived.load(Ordering::SeqCst) < 2 {
                if t0.elapsed() > std::time::Duration::from_secs(10) {
                    return Err("the other thread never took a job of this batch");
                }
                std::thread::yield_now();
            }
        }
        Ok(smp.outputs().with("f", 1.0))
    })
    .unwrap();
    assert_eq!((stats.attempted, stats.failed), (4, 0), "{:?}", r.failures);
}
