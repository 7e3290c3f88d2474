//! The composed collector: cache hits, incomplete results, history, media
//! deletion after commit, and failure thresholds after saving.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::atomic::{AtomicUsize, Ordering};

use result_collector::bencher_compat::BencherSteps;
use result_collector::model::{Coords, Error as ModelError, ResultValue};
use result_collector::{
    CatchPolicy, Error, FailThreshold, InputVar, Outputs, ResetPolicy, ResultCollector, ResultKind,
    ResultVar, RunOptions, Sample, Sweep, TimeSrc,
};

fn sweep(over_time: bool) -> Sweep {
    Sweep::builder("facade")
        .input(InputVar::int_range("n", 0, 3))
        .result(ResultVar::float("t").units("s"))
        .repeats(2)
        .over_time(over_time)
        .build()
        .unwrap()
}

#[test]
fn a_complete_result_is_a_hit_an_incomplete_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path())).use_cache(true);
    let s = sweep(false);
    let calls = AtomicUsize::new(0);
    let flaky = |smp: &Sample<'_>| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        if smp.job() == 3 && n < 8 {
            return Err("flaky".to_string());
        }
        Ok(smp.outputs().with("t", smp.job() as f64))
    };
    let first = c
        .run(&s, &TimeSrc::now(), &RunOptions::threads(1), flaky)
        .unwrap();
    assert!(!first.cache_hit);
    assert_eq!(first.result.failures.len(), 1);
    // Upstream bug 6: the flaky job must not become a permanent hole.
    let second = c
        .run(&s, &TimeSrc::now(), &RunOptions::threads(1), flaky)
        .unwrap();
    assert!(!second.cache_hit, "an incomplete result is not a hit");
    assert!(second.result.failures.is_empty());
    assert_eq!(calls.load(Ordering::Relaxed), 16);
    let third = c
        .run(
            &s,
            &TimeSrc::now(),
            &RunOptions::threads(1),
            |_s: &Sample<'_>| Err::<Outputs, _>("the worker must not run on a hit"),
        )
        .unwrap();
    assert!(third.cache_hit);
    assert_eq!(third.result.dataset, second.result.dataset);
}

#[test]
fn every_run_records_what_it_measured_and_a_hit_adds_no_event() {
    // Issue 11, item 1: with the cache read by default, reruns of an
    // unchanged sweep were hits and recorded the first run's numbers under
    // every later label.
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let s = sweep(true);
    let labels = ["9", "10", "11"];
    for (i, label) in labels.iter().enumerate() {
        let r = c
            .run(
                &s,
                &TimeSrc::Label((*label).into()),
                &RunOptions::default(),
                |smp| Ok::<_, ModelError>(smp.outputs().with("t", i as f64)),
            )
            .unwrap();
        assert!(!r.cache_hit, "run {i}: the cache is read only on request");
        assert_eq!(r.no_event, None);
        let h = r.history.unwrap().dataset.unwrap();
        assert_eq!(h.shape(), vec![4, 2, i + 1]);
        // SPEC §9.1: labels of another length continue the history.
        let want: Vec<String> = labels[..=i].iter().map(|s| s.to_string()).collect();
        assert_eq!(h.dim("over_time").unwrap().coords, Coords::Label(want));
        // Each event holds the values its own run measured.
        for e in 0..=i {
            let event = h.isel("over_time", e).unwrap();
            let t = event.column("t").unwrap().f64().unwrap();
            assert!(t.iter().all(|v| *v == e as f64), "event {e} after run {i}");
        }
    }
    drop(c);
    // With the cache read, a hit runs nothing and appends nothing.
    let c = ResultCollector::new(Some(dir.path())).use_cache(true);
    let r = c
        .run(
            &s,
            &TimeSrc::Label("12".into()),
            &RunOptions::default(),
            |_s: &Sample<'_>| Err::<Outputs, _>("the worker must not run on a hit"),
        )
        .unwrap();
    assert!(r.cache_hit);
    assert!(r.history.is_none());
    assert_eq!(r.no_event, Some(result_collector::NoEvent::CacheHit));
    assert!(r.no_event.unwrap().to_string().contains("from the cache"));
    let h = c.history_of(&s).unwrap().unwrap();
    assert_eq!(h.shape(), vec![4, 2, 3], "no event was added");
    // A sweep without history says so.
    let flat = c
        .run(
            &sweep(false),
            &TimeSrc::now(),
            &RunOptions::default(),
            |smp| Ok::<_, ModelError>(smp.outputs().with("t", 1.0)),
        )
        .unwrap();
    assert_eq!(flat.no_event, Some(result_collector::NoEvent::NoHistory));
}

#[test]
fn references_read_back_from_the_cache_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path())).use_cache(true);
    let s = Sweep::builder("refs")
        .input(InputVar::int_range("n", 0, 2))
        .result(ResultVar::reference("obj"))
        .build()
        .unwrap();
    let work = |smp: &Sample<'_>| {
        Ok::<_, ModelError>(
            smp.outputs()
                .with("obj", ResultValue::Object(Box::new(smp.job()))),
        )
    };
    let first = c
        .run(&s, &TimeSrc::now(), &RunOptions::default(), work)
        .unwrap();
    assert_eq!(first.result.objects.len(), 3);
    assert_eq!(
        first.result.dataset.column("obj").unwrap().i64().unwrap()[[2, 0]],
        2
    );
    let hit = c
        .run(&s, &TimeSrc::now(), &RunOptions::default(), work)
        .unwrap();
    assert!(hit.cache_hit);
    // Upstream bug 7: never an index into another run's objects.
    assert!(hit.result.objects.is_empty());
    assert!(
        hit.result
            .dataset
            .column("obj")
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .all(|v| *v == -1)
    );
}

#[test]
fn trimming_deletes_the_media_of_trimmed_events_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path())).use_cache(false);
    let s = Sweep::builder("media")
        .input(InputVar::int_range("n", 0, 1))
        .result(ResultVar::image("img"))
        .result(ResultVar::float("t").max_time_events(1))
        .over_time(true)
        .build()
        .unwrap();
    let root = c.media_root().unwrap();
    let mut files: Vec<Vec<String>> = Vec::new();
    for run in 0..3 {
        let r = c
            .run(
                &s,
                &TimeSrc::Label(format!("run{run}")),
                &RunOptions::threads(1),
                |smp| {
                    let key = result_collector::model::sample_key(smp.sweep(), &smp.inputs());
                    let f = root
                        .new_file(ResultKind::Image, "img", &key, &format!("r{run}.txt"))
                        .map_err(|e| e.to_string())?;
                    std::fs::write(&f.path, b"x").map_err(|e| e.to_string())?;
                    Ok::<_, String>(smp.outputs().with("img", f.cell).with("t", run as f64))
                },
            )
            .unwrap();
        files.push(
            r.result
                .dataset
                .column("img")
                .unwrap()
                .text()
                .unwrap()
                .iter()
                .cloned()
                .collect(),
        );
        let h = r.history.unwrap().dataset.unwrap();
        // Per-variable aging: `t` keeps only its newest event.
        let t = h.column("t").unwrap().f64().unwrap();
        let events = h.dims().last().unwrap().len();
        assert_eq!(events, run + 1);
        for e in 0..events {
            assert_eq!(
                t[[0, 0, e]].is_nan(),
                e + 1 < events,
                "event {e} of {events}"
            );
        }
    }
    for cells in &files {
        for cell in cells {
            assert!(
                root.resolve(cell).unwrap().exists(),
                "{cell} exists before trimming"
            );
        }
    }
    // A last event that names one file of run 2 again, trimmed to 1 event:
    // the media of the trimmed events go, except what a record still
    // names: the new event names one file of run 2, and the stored result
    // (run 2's, stored under the sweep's cache key) names every file of
    // run 2.
    let mut setup =
        result_collector::model::setup_dataset(&s, &TimeSrc::Label("last".into())).unwrap();
    let kept = files[2][0].clone();
    setup.result.store_results(
        0,
        Outputs::for_sweep(&s)
            .with("img", kept.clone())
            .with("t", 9.0),
    );
    let update = c
        .load_history_cache(
            &setup.result.dataset,
            &result_collector::history_key(&s),
            false,
            Some(1),
            &s,
        )
        .unwrap();
    let (h, outcome, report) = (update.dataset.unwrap(), update.append, update.deletion);
    assert_eq!(h.dims().last().unwrap().len(), 1);
    assert_eq!(outcome.removed_events, 3);
    assert!(files[2].contains(&kept));
    for (run, cells) in files.iter().enumerate() {
        for cell in cells {
            let p = root.resolve(cell).unwrap();
            assert_eq!(p.exists(), run == 2, "{cell} of run {run}");
        }
    }
    assert!(report.refused.is_empty());
}

#[test]
fn error_policy_writes_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path())).reset_policy(ResetPolicy::Error);
    let s = sweep(true);
    let ok = |smp: &Sample<'_>| Ok::<_, ModelError>(smp.outputs().with("t", 1.0));
    c.run(&s, &TimeSrc::Label("a".into()), &RunOptions::default(), ok)
        .unwrap();
    // Same history key, another over_time kind: incompatible.
    let e = c
        .run(&s, &TimeSrc::now(), &RunOptions::default(), ok)
        .unwrap_err();
    assert!(matches!(e, Error::Cache(_)), "{e}");
    let h = c
        .cache()
        .unwrap()
        .load_history(&result_collector::history_key(&s))
        .unwrap()
        .unwrap();
    assert_eq!(
        h.dims().last().unwrap().len(),
        1,
        "the old history is intact"
    );
}

#[test]
fn fail_fast_and_thresholds_save_before_failing() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let s = Sweep::builder("ff")
        .input(InputVar::int_range("n", 0, 9))
        .result(ResultVar::float("t"))
        .catch(CatchPolicy::FailFast)
        .build()
        .unwrap();
    let opts = RunOptions {
        threads: Some(1),
        batch: 4,
        ..RunOptions::default()
    };
    let e = c
        .run(&s, &TimeSrc::now(), &opts, |smp| {
            if smp.job() == 5 {
                return Err("job five fails");
            }
            Ok(smp.outputs().with("t", 1.0))
        })
        .unwrap_err();
    assert!(e.to_string().contains("job 5"), "{e}");
    let stored = c
        .cache()
        .unwrap()
        .get_result(&result_collector::cache_key(&s))
        .unwrap()
        .unwrap();
    assert!(!stored.complete);
    assert_eq!(
        stored.dataset.column("t").unwrap().f64().unwrap()[[4, 0]],
        1.0
    );

    let s = Sweep::builder("thr")
        .input(InputVar::int_range("n", 0, 9))
        .result(ResultVar::float("t"))
        .fail_on_sample_error(FailThreshold::Any)
        .build()
        .unwrap();
    let e = c
        .run(&s, &TimeSrc::now(), &RunOptions::default(), |smp| {
            if smp.job() == 2 {
                return Err("no");
            }
            Ok(smp.outputs().with("t", 1.0))
        })
        .unwrap_err();
    assert!(e.to_string().contains("1 of 10"), "{e}");
    assert!(
        c.cache()
            .unwrap()
            .get_result(&result_collector::cache_key(&s))
            .unwrap()
            .is_some()
    );
}

#[test]
fn close_is_idempotent_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    c.cache().unwrap();
    c.close_caches();
    c.close_caches();
    let again = c.cache().unwrap();
    assert!(again.stats().is_ok());
}

#[test]
fn one_collector_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ResultCollector>();
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path())).use_cache(false);
    let sweeps: Vec<Sweep> = (0..3)
        .map(|i| {
            Sweep::builder(format!("shared{i}"))
                .input(InputVar::int_range("n", 0, 3))
                .result(ResultVar::float("t"))
                .over_time(true)
                .build()
                .unwrap()
        })
        .collect();
    std::thread::scope(|scope| {
        for (i, s) in sweeps.iter().enumerate() {
            let c = &c;
            scope.spawn(move || {
                let r = c
                    .run(
                        s,
                        &TimeSrc::Label("v1".into()),
                        &RunOptions::threads(1),
                        |smp| {
                            Ok::<_, ModelError>(
                                smp.outputs().with("t", (i * 10 + smp.job()) as f64),
                            )
                        },
                    )
                    .unwrap();
                assert_eq!(r.result.stats.attempted, 4);
            });
        }
    });
    let names: Vec<String> = c.list().unwrap().into_iter().map(|l| l.name).collect();
    assert_eq!(names, ["shared0", "shared1", "shared2"]);
    for (i, s) in sweeps.iter().enumerate() {
        let t = c.resolve(s.name()).unwrap();
        let stored = c.load_result(&t).unwrap();
        let col = stored
            .dataset
            .column("t")
            .unwrap()
            .f64()
            .unwrap()
            .to_owned();
        assert_eq!(
            col.iter().copied().collect::<Vec<f64>>(),
            (0..4).map(|j| (i * 10 + j) as f64).collect::<Vec<f64>>()
        );
        let (_, h) = c.load_history(&t).unwrap().unwrap();
        assert_eq!(h.dims().last().unwrap().len(), 1);
    }
}

#[test]
fn gc_finds_orphans_and_spares_named_files() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let s = Sweep::builder("gcs")
        .input(InputVar::int_range("n", 0, 1))
        .result(ResultVar::image("img"))
        .build()
        .unwrap();
    let root = c.media_root().unwrap();
    let run = c
        .run(&s, &TimeSrc::now(), &RunOptions::threads(1), |smp| {
            let f = root
                .new_file(
                    ResultKind::Image,
                    "img",
                    &format!("job{}", smp.job()),
                    "a.txt",
                )
                .map_err(|e| e.to_string())?;
            std::fs::write(&f.path, b"x").map_err(|e| e.to_string())?;
            Ok::<_, String>(smp.outputs().with("img", f.cell))
        })
        .unwrap();
    let orphan = root
        .new_file(ResultKind::Image, "img", "nobody", "orphan.txt")
        .unwrap();
    std::fs::write(&orphan.path, b"o").unwrap();
    let dry = c
        .gc(result_collector::GcOptions {
            delete: false,
            grace: std::time::Duration::ZERO,
        })
        .unwrap();
    assert_eq!(dry.records, 1);
    let rep = dry.report.unwrap();
    assert_eq!((rep.scanned, rep.referenced, rep.orphans.len()), (3, 2, 1));
    assert!(orphan.path.exists(), "a dry run deletes nothing");
    let del = c
        .gc(result_collector::GcOptions {
            delete: true,
            grace: std::time::Duration::ZERO,
        })
        .unwrap();
    assert_eq!(del.report.unwrap().deleted, 1);
    assert!(!orphan.path.exists());
    for cell in run.result.dataset.column("img").unwrap().text().unwrap() {
        assert!(
            root.resolve(cell).unwrap().exists(),
            "{cell} is named and stays"
        );
    }
    let stats = c.stats().unwrap();
    assert_eq!(stats.cache.results, 1);
    assert_eq!(stats.media_disk.files, 2);
    assert_eq!(
        stats.media_by_kind,
        [("image".to_string(), stats.media_disk)]
    );
}
