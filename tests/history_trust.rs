//! A history users can trust (issue 11): one test per defect found in the
//! old behaviour, each through `ResultCollector::run`. Item 1 (stale
//! events from cache hits) is `every_run_records_what_it_measured_and_a_hit_adds_no_event`
//! in tests/facade.rs.
#![allow(clippy::unwrap_used, reason = "tests")]

use result_collector::cache::{ColumnState, ResetPolicy};
use result_collector::model::{
    Coords, Error as ModelError, HistoryOptions, OVER_TIME_DIM, Outputs, Sample,
};
use result_collector::{
    CatchPolicy, ConstVar, Error, FailThreshold, InputVar, ResultCollector, ResultKind, ResultVar,
    RunOptions, Sweep, TimeSrc, cache_key, history_key,
};

fn label(l: &str) -> TimeSrc {
    TimeSrc::Label(l.into())
}

fn builder(n: i64) -> result_collector::model::SweepBuilder {
    Sweep::builder("trust")
        .input(InputVar::int_range("n", 0, n))
        .over_time(true)
}

/// Every cell of float column `t` gets `v`.
fn fill(v: f64) -> impl Fn(&Sample<'_>) -> Result<Outputs, ModelError> + Sync {
    move |s| Ok(s.outputs().with("t", v))
}

fn opts(h: HistoryOptions) -> RunOptions {
    RunOptions {
        history: h,
        ..RunOptions::default()
    }
}

/// The values of float column `name` at each event (cell 0).
fn series(h: &result_collector::Dataset, name: &str) -> Vec<f64> {
    let c = h.column(name).unwrap().f64().unwrap();
    let events = h.dim(OVER_TIME_DIM).unwrap().len();
    (0..events).map(|e| c[[0, 0, e]]).collect()
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

#[test]
fn item2_a_column_that_changes_units_or_kind_is_retired_and_loading_never_fails() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let secs = builder(1)
        .result(ResultVar::float("t").units("s"))
        .build()
        .unwrap();
    c.run(&secs, &label("a"), &RunOptions::default(), fill(1.5))
        .unwrap();
    // Units change: s -> ms. Before, the history merged both under `t`,
    // shown in seconds.
    let ms = builder(1)
        .result(ResultVar::float("t").units("ms"))
        .build()
        .unwrap();
    let r = c
        .run(&ms, &label("b"), &RunOptions::default(), fill(1500.0))
        .unwrap();
    assert_eq!(history_key(&ms), history_key(&secs));
    let append = &r.history.as_ref().unwrap().append;
    assert_eq!(append.columns.retired.len(), 1);
    assert_eq!(append.columns.retired[0].retired_as, "t__retired1");
    let h = r.history.unwrap().dataset.unwrap();
    assert!(same(&series(&h, "t__retired1"), &[1.5, f64::NAN]));
    assert!(same(&series(&h, "t"), &[f64::NAN, 1500.0]));
    assert_eq!(h.column("t").unwrap().attrs.units, "ms");
    assert_eq!(h.column("t__retired1").unwrap().attrs.units, "s");

    // Kind change under the same name: float -> string. Before, every
    // later load failed on the concatenation.
    let text = builder(1).result(ResultVar::string("t")).build().unwrap();
    c.run(&text, &label("c"), &RunOptions::default(), |s| {
        Ok::<_, ModelError>(s.outputs().with("t", "fast"))
    })
    .unwrap();
    let h = c.history_of(&text).unwrap().unwrap();
    assert_eq!(h.dim(OVER_TIME_DIM).unwrap().len(), 3);
    assert!(same(&series(&h, "t__retired1"), &[1.5, f64::NAN, f64::NAN]));
    assert!(same(
        &series(&h, "t__retired2"),
        &[f64::NAN, 1500.0, f64::NAN]
    ));
    assert_eq!(h.column("t").unwrap().kind, ResultKind::String);
    assert_eq!(h.column("t").unwrap().text().unwrap()[[0, 0, 2]], "fast");

    // The columns' story is recorded.
    let info = c
        .cache()
        .unwrap()
        .history_info(&history_key(&text))
        .unwrap()
        .unwrap();
    let states: Vec<(&str, &ColumnState)> = info
        .columns
        .iter()
        .map(|c| (c.name.as_str(), &c.state))
        .collect();
    assert!(matches!(
        states[0],
        ("t__retired1", ColumnState::Retired { .. })
    ));
    assert!(matches!(
        states[1],
        ("t__retired2", ColumnState::Retired { .. })
    ));
    assert!(matches!(states[2], ("t", ColumnState::Live)));

    // A meaning change under the Error policy is refused, and nothing is
    // written: neither the result nor an event.
    let meaning = builder(1)
        .result(ResultVar::string("t").meaning_version(1))
        .build()
        .unwrap();
    let strict = opts(HistoryOptions {
        reset_policy: Some(ResetPolicy::Error),
        ..HistoryOptions::default()
    });
    let e = c
        .run(&meaning, &label("d"), &strict, |s| {
            Ok::<_, ModelError>(s.outputs().with("t", "x"))
        })
        .unwrap_err();
    assert!(e.to_string().contains("`t` changed identity"), "{e}");
    assert!(e.to_string().contains("nothing was written"), "{e}");
    let db = c.cache().unwrap();
    assert!(db.get_result(&cache_key(&meaning)).unwrap().is_none());
    assert_eq!(db.history_len(&history_key(&meaning)).unwrap(), 3);
}

#[test]
fn item2_a_column_left_out_goes_dormant_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let both = builder(1)
        .result(ResultVar::float("t"))
        .result(ResultVar::float("u"))
        .build()
        .unwrap();
    let only_t = builder(1).result(ResultVar::float("t")).build().unwrap();
    let both_worker =
        |v: f64| move |s: &Sample<'_>| Ok::<_, ModelError>(s.outputs().with("t", v).with("u", -v));
    c.run(&both, &label("a"), &RunOptions::default(), both_worker(1.0))
        .unwrap();
    let r = c
        .run(&only_t, &label("b"), &RunOptions::default(), fill(2.0))
        .unwrap();
    assert_eq!(r.history.as_ref().unwrap().append.columns.dormant, ["u"]);
    let r = c
        .run(&both, &label("c"), &RunOptions::default(), both_worker(3.0))
        .unwrap();
    assert_eq!(r.history.as_ref().unwrap().append.columns.resumed, ["u"]);
    let h = r.history.unwrap().dataset.unwrap();
    assert!(same(&series(&h, "t"), &[1.0, 2.0, 3.0]));
    assert!(same(&series(&h, "u"), &[-1.0, f64::NAN, -3.0]));
    // Its dormancy stays on record once it has ended, and is shown.
    let info = c
        .cache()
        .unwrap()
        .history_info(&history_key(&both))
        .unwrap()
        .unwrap();
    let u = info.columns.iter().find(|col| col.name == "u").unwrap();
    assert_eq!(u.dormant_spans, [(0, 2)]);
    let (_, rows) = ResultCollector::columns_table(&info);
    let row = rows.iter().find(|r| r[0] == "u").unwrap();
    assert_eq!(row[5], "live; was dormant from b until c");
}

#[test]
fn item3_an_input_change_is_a_reported_reset_and_error_protects_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let old = builder(1).result(ResultVar::float("t")).build().unwrap();
    c.run(&old, &label("a"), &RunOptions::default(), fill(1.0))
        .unwrap();
    // New bounds, a new constant, new repeats: another history key.
    let new = builder(2)
        .constant(ConstVar::new("k", 3))
        .repeats(2)
        .result(ResultVar::float("t"))
        .build()
        .unwrap();
    assert_ne!(history_key(&new), history_key(&old));
    let strict = opts(HistoryOptions {
        reset_policy: Some(ResetPolicy::Error),
        ..HistoryOptions::default()
    });
    let e = c.run(&new, &label("b"), &strict, fill(2.0)).unwrap_err();
    let msg = e.to_string();
    for part in [
        "sweep `trust`",
        "input `n`: [0, 1] -> [0, 1, 2]",
        "repeats: 1 -> 2",
        "constant `k` added",
        "nothing was written",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    let db = c.cache().unwrap();
    assert!(db.get_result(&cache_key(&new)).unwrap().is_none());
    assert_eq!(db.history_len(&history_key(&new)).unwrap(), 0);
    drop(db);

    // Under warn: a new history, reported, and the old one stays readable
    // and is listed as superseded, naming what changed.
    let r = c
        .run(&new, &label("b"), &RunOptions::default(), fill(2.0))
        .unwrap();
    let lineage = r.history.as_ref().unwrap().append.lineage.clone().unwrap();
    assert_eq!(lineage.previous_key, history_key(&old));
    assert!(lineage.changes.iter().any(|c| c.starts_with("input `n`")));
    assert_eq!(c.history_of(&old).unwrap().unwrap().shape(), vec![2, 1, 1]);
    let listing = c.list().unwrap();
    let histories = &listing[0].histories;
    let old_entry = histories
        .iter()
        .find(|h| h.key == history_key(&old))
        .unwrap();
    let sup = old_entry.superseded.as_ref().unwrap();
    assert_eq!(sup.by, history_key(&new));
    assert!(sup.changes.contains(&"repeats: 1 -> 2".to_string()));
    let new_entry = histories
        .iter()
        .find(|h| h.key == history_key(&new))
        .unwrap();
    assert!(new_entry.superseded.is_none());
}

#[test]
fn item4_run_trims_and_clears_history() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let s = builder(1).result(ResultVar::float("t")).build().unwrap();
    let keep2 = opts(HistoryOptions {
        max_time_events: Some(2),
        ..HistoryOptions::default()
    });
    for (i, l) in ["a", "b", "c"].iter().enumerate() {
        c.run(&s, &label(l), &keep2, fill(i as f64)).unwrap();
    }
    let h = c.history_of(&s).unwrap().unwrap();
    assert_eq!(
        h.dim(OVER_TIME_DIM).unwrap().coords,
        Coords::Label(vec!["b".into(), "c".into()])
    );
    let clear = opts(HistoryOptions {
        clear_history: true,
        ..HistoryOptions::default()
    });
    let r = c.run(&s, &label("d"), &clear, fill(9.0)).unwrap();
    assert!(r.history.as_ref().unwrap().append.reset.is_some());
    let h = c.history_of(&s).unwrap().unwrap();
    assert!(same(&series(&h, "t"), &[9.0]));
}

#[test]
fn item5_a_failed_run_appends_no_event_and_stores_its_result_as_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let keep2 = opts(HistoryOptions {
        max_time_events: Some(2),
        ..HistoryOptions::default()
    });
    let good = builder(9)
        .result(ResultVar::float("t"))
        .catch(CatchPolicy::FailFast)
        .build()
        .unwrap();
    for (i, l) in ["a", "b"].iter().enumerate() {
        c.run(&good, &label(l), &keep2, fill(i as f64)).unwrap();
    }
    // Fail-fast stop at job 5.
    let e = c
        .run(&good, &label("stopped"), &keep2, |s| {
            if s.job() == 5 {
                return Err("job five fails".to_string());
            }
            Ok(s.outputs().with("t", 7.0))
        })
        .unwrap_err();
    assert!(matches!(e, Error::RunFailed { .. }), "{e}");
    assert!(e.to_string().contains("no history event was added"), "{e}");
    let stored = c
        .cache()
        .unwrap()
        .get_result(&cache_key(&good))
        .unwrap()
        .unwrap();
    assert!(!stored.complete);
    // Crossing the failure threshold: no event either.
    let thr = builder(9)
        .result(ResultVar::float("t"))
        .fail_on_sample_error(FailThreshold::Any)
        .build()
        .unwrap();
    let e = c
        .run(&thr, &label("threshold"), &keep2, |s| {
            if s.job() == 0 {
                return Err("one failure".to_string());
            }
            Ok(s.outputs().with("t", 8.0))
        })
        .unwrap_err();
    assert!(matches!(e, Error::RunFailed { .. }), "{e}");
    // The good events were not pushed out.
    let h = c.history_of(&good).unwrap().unwrap();
    assert!(same(&series(&h, "t"), &[0.0, 1.0]));
}

#[test]
fn item6_under_error_the_result_is_not_written_and_nothing_is_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let s = builder(1).result(ResultVar::float("t")).build().unwrap();
    let other = Sweep::builder("other")
        .input(InputVar::int_range("n", 0, 1))
        .result(ResultVar::float("t"))
        .build()
        .unwrap();
    {
        let c = ResultCollector::new(Some(dir.path()));
        c.run(&other, &label("x"), &RunOptions::default(), fill(5.0))
            .unwrap();
        c.run(&s, &label("a"), &RunOptions::default(), fill(1.0))
            .unwrap();
    }
    // A bound that holds only one result: storing another would evict.
    let c = ResultCollector::new(Some(dir.path()))
        .cache_size(1)
        .reset_policy(ResetPolicy::Error);
    // Same history key, another over_time kind: the history refuses.
    let e = c
        .run(&s, &TimeSrc::now(), &RunOptions::default(), fill(2.0))
        .unwrap_err();
    assert!(e.to_string().contains("nothing was written"), "{e}");
    let db = c.cache().unwrap();
    let stored = db.get_result(&cache_key(&s)).unwrap().unwrap();
    assert_eq!(
        stored.dataset.column("t").unwrap().f64().unwrap()[[0, 0, 0]],
        1.0,
        "the stored result is the first run's"
    );
    assert!(db.get_result(&cache_key(&other)).unwrap().is_some());
    assert_eq!(db.history_len(&history_key(&s)).unwrap(), 1);
}

#[test]
fn item7_a_file_named_by_a_stored_result_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let root = c.media_root().unwrap();
    // Two sweeps that differ only in their result variables share a
    // history key, not a cache key.
    let a = builder(0).result(ResultVar::image("img")).build().unwrap();
    let b = builder(0)
        .result(ResultVar::image("img"))
        .result(ResultVar::float("t"))
        .build()
        .unwrap();
    assert_eq!(history_key(&a), history_key(&b));
    let write = |tag: &'static str| {
        let root = root.clone();
        move |s: &Sample<'_>| {
            let f = root
                .new_file(ResultKind::Image, "img", tag, "x.txt")
                .map_err(|e| e.to_string())?;
            std::fs::write(&f.path, tag).map_err(|e| e.to_string())?;
            Ok::<_, String>(s.outputs().with("img", f.cell).with("t", 1.0))
        }
    };
    let ra = c
        .run(&a, &label("a"), &RunOptions::default(), write("a"))
        .unwrap();
    let file_a = ra.result.dataset.column("img").unwrap().text().unwrap()[[0, 0, 0]].clone();
    let keep1 = opts(HistoryOptions {
        max_time_events: Some(1),
        ..HistoryOptions::default()
    });
    let rb = c.run(&b, &label("b"), &keep1, write("b")).unwrap();
    let update = rb.history.unwrap();
    // Trimming event `a` released its file, but result `a` still names it.
    assert_eq!(update.append.removed_events, 1);
    assert!(update.append.released_files.contains(&file_a));
    assert!(root.resolve(&file_a).unwrap().exists());
    assert!(update.deletion.deleted.is_empty());
}

#[test]
fn item8_events_are_kept_in_time_order_and_one_per_label() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let s = builder(1).result(ResultVar::float("t")).build().unwrap();
    let at = |t: &str| TimeSrc::parse_rfc3339(t).unwrap();
    for (t, v) in [
        ("2026-01-02T00:00:00Z", 2.0),
        ("2026-01-03T00:00:00Z", 3.0),
        ("2026-01-01T00:00:00Z", 1.0),
    ] {
        c.run(&s, &at(t), &RunOptions::default(), fill(v)).unwrap();
    }
    let h = c.history_of(&s).unwrap().unwrap();
    assert!(same(&series(&h, "t"), &[1.0, 2.0, 3.0]));
    let Coords::Time(ts) = &h.dim(OVER_TIME_DIM).unwrap().coords else {
        panic!("timestamps expected")
    };
    assert!(ts.windows(2).all(|w| w[0] < w[1]));
    // The same timestamp again replaces its event, in place.
    let r = c
        .run(
            &s,
            &at("2026-01-02T00:00:00Z"),
            &RunOptions::default(),
            fill(20.0),
        )
        .unwrap();
    assert!(r.history.as_ref().unwrap().append.replaced.is_some());
    let h = r.history.unwrap().dataset.unwrap();
    assert!(same(&series(&h, "t"), &[1.0, 20.0, 3.0]));

    // Labels: rerunning a commit updates its point instead of adding one.
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    for (l, v) in [("c1", 1.0), ("c2", 2.0), ("c1", 10.0)] {
        c.run(&s, &label(l), &RunOptions::default(), fill(v))
            .unwrap();
    }
    let h = c.history_of(&s).unwrap().unwrap();
    assert_eq!(
        h.dim(OVER_TIME_DIM).unwrap().coords,
        Coords::Label(vec!["c1".into(), "c2".into()])
    );
    assert!(same(&series(&h, "t"), &[10.0, 2.0]));
}

#[test]
fn the_code_version_is_in_the_result_identity_and_recorded_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let v = |version: &str| {
        builder(1)
            .version(version)
            .result(ResultVar::float("t"))
            .build()
            .unwrap()
    };
    let (v1, v2) = (v("abc123"), v("def456"));
    assert_ne!(cache_key(&v1), cache_key(&v2));
    assert_eq!(history_key(&v1), history_key(&v2));
    c.run(&v1, &label("1"), &RunOptions::default(), fill(1.0))
        .unwrap();
    let r = c
        .run(&v2, &label("2"), &RunOptions::default(), fill(2.0))
        .unwrap();
    assert!(r.history.as_ref().unwrap().append.lineage.is_none());
    let info = c
        .cache()
        .unwrap()
        .history_info(&history_key(&v2))
        .unwrap()
        .unwrap();
    let versions: Vec<&str> = info.events.iter().map(|e| e.version.as_str()).collect();
    assert_eq!(versions, ["abc123", "def456"]);
}

#[test]
fn a_run_can_skip_returning_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let s = builder(1).result(ResultVar::float("t")).build().unwrap();
    let lean = opts(HistoryOptions {
        return_history: false,
        ..HistoryOptions::default()
    });
    for (i, l) in ["a", "b"].iter().enumerate() {
        let r = c.run(&s, &label(l), &lean, fill(i as f64)).unwrap();
        let update = r.history.unwrap();
        assert!(update.dataset.is_none());
        assert_eq!(update.append.events, i as u64 + 1);
    }
    let h = c.history_of(&s).unwrap().unwrap();
    assert!(same(&series(&h, "t"), &[0.0, 1.0]));
}

#[test]
fn a_new_column_named_like_a_retired_one_keeps_both_apart() {
    // Found by the crash test: `t` retired as `t__retired1`, then a result
    // literally named `t__retired1` was born; both were loaded as one.
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let s = builder(1)
        .result(ResultVar::float("t").units("s"))
        .build()
        .unwrap();
    c.run(&s, &label("a"), &RunOptions::default(), fill(1.0))
        .unwrap();
    let ms = builder(1)
        .result(ResultVar::float("t").units("ms"))
        .build()
        .unwrap();
    c.run(&ms, &label("b"), &RunOptions::default(), fill(2.0))
        .unwrap();
    let clash = builder(1)
        .result(ResultVar::float("t").units("ms"))
        .result(ResultVar::string("t__retired1"))
        .build()
        .unwrap();
    c.run(&clash, &label("c"), &RunOptions::default(), |s| {
        Ok::<_, ModelError>(s.outputs().with("t", 3.0).with("t__retired1", "new"))
    })
    .unwrap();
    let h = c.history_of(&clash).unwrap().unwrap();
    assert!(same(&series(&h, "t__retired2"), &[1.0, f64::NAN, f64::NAN]));
    assert!(same(&series(&h, "t"), &[f64::NAN, 2.0, 3.0]));
    let text = h.column("t__retired1").unwrap().text().unwrap();
    assert_eq!(text[[0, 0, 2]], "new");
}
