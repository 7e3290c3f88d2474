//! Job records through the facade: resume, a grown grid, shards and their
//! merge (equal to one machine's run), the merge's refusals, and
//! `fail_on_regression`.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use result_collector::model::{Error as ModelError, Outputs, Sample};
use result_collector::report::to_json;
use result_collector::{
    Error, HistoryOptions, InputVar, MergeOptions, NoEvent, ResultCollector, ResultVar, Reuse,
    RunOptions, Shard, Sweep, TimeSrc, shard_size,
};

fn sweep(ns: &[i64], version: &str) -> Sweep {
    Sweep::builder("sharded")
        .input(InputVar::int_values("n", ns.to_vec()))
        .input(InputVar::float_samples("x", 0.0, 1.0, 3))
        .result(ResultVar::float("y").units("s"))
        .result(ResultVar::vector("v", 2))
        .result(ResultVar::string("note"))
        .repeats(2)
        .version(version)
        .over_time(true)
        .build()
        .unwrap()
}

/// A deterministic worker; fails for n in `failing`; counts calls.
fn worker<'a>(
    calls: &'a AtomicUsize,
    failing: &'a [i64],
) -> impl Fn(&Sample<'_>) -> Result<Outputs, String> + Sync + 'a {
    move |s| {
        calls.fetch_add(1, Ordering::Relaxed);
        let n = s.get::<i64>("n").unwrap();
        if failing.contains(&n) {
            return Err(format!("n={n} failed"));
        }
        let x = s.get::<f64>("x").unwrap();
        #[allow(clippy::cast_precision_loss, reason = "small")]
        let y = n as f64 * x + s.repeat() as f64;
        Ok(s.outputs()
            .with("y", y)
            .with("v", [y, -y])
            .with("note", format!("n{n}")))
    }
}

fn opts() -> RunOptions {
    RunOptions {
        threads: Some(2),
        batch: 7,
        ..RunOptions::default()
    }
}

fn label(l: &str) -> TimeSrc {
    TimeSrc::Label(l.into())
}

#[test]
fn resume_reruns_only_failed_and_missing_jobs_and_reports_counts() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let s = sweep(&[1, 2, 3], "v1");
    let calls = AtomicUsize::new(0);
    let first = c
        .run(&s, &label("a"), &opts(), worker(&calls, &[2]))
        .unwrap();
    assert_eq!(first.jobs.new, 18);
    assert_eq!(first.result.stats.failed, 6);
    let again = AtomicUsize::new(0);
    let resumed = c
        .run(
            &s,
            &label("b"),
            &RunOptions {
                reuse: Reuse::Resume,
                ..opts()
            },
            worker(&again, &[]),
        )
        .unwrap();
    assert_eq!(again.load(Ordering::Relaxed), 6);
    assert_eq!(
        (resumed.jobs.reused, resumed.jobs.rerun, resumed.jobs.new),
        (12, 6, 0)
    );
    assert!(resumed.result.is_complete());
    // A grown grid reuses everything recorded.
    let grown = sweep(&[1, 2, 3, 4], "v1");
    let more = AtomicUsize::new(0);
    let g = c
        .run(
            &grown,
            &label("c"),
            &RunOptions {
                reuse: Reuse::Resume,
                ..opts()
            },
            worker(&more, &[]),
        )
        .unwrap();
    assert_eq!(more.load(Ordering::Relaxed), 6);
    assert_eq!((g.jobs.reused, g.jobs.new), (18, 6));
    // Another code version is another job set: nothing is reused.
    let other = AtomicUsize::new(0);
    let v2 = c
        .run(
            &sweep(&[1, 2, 3], "v2"),
            &label("d"),
            &RunOptions {
                reuse: Reuse::Resume,
                ..opts()
            },
            worker(&other, &[]),
        )
        .unwrap();
    assert_eq!(v2.jobs.reused, 0);
    assert_eq!(other.load(Ordering::Relaxed), 18);
}

fn run_shard(dir: &Path, s: &Sweep, k: u32, n: u32, failing: &[i64]) -> usize {
    let c = ResultCollector::new(Some(dir));
    let calls = AtomicUsize::new(0);
    let r = c
        .run(
            s,
            &label("shard"),
            &RunOptions {
                shard: Some(Shard::new(k, n).unwrap()),
                ..opts()
            },
            worker(&calls, failing),
        )
        .unwrap();
    assert_eq!(r.no_event, Some(NoEvent::Shard));
    assert!(r.history.is_none());
    assert_eq!(r.jobs.new, shard_size(s, Shard::new(k, n).unwrap()));
    calls.into_inner()
}

fn merge_opts(partial: bool) -> MergeOptions {
    MergeOptions {
        sweep: None,
        partial,
        time_src: label("L"),
        run: RunOptions {
            history: HistoryOptions::default(),
            ..opts()
        },
    }
}

#[test]
fn merged_shards_equal_one_machine_byte_for_byte() {
    let s = sweep(&[1, 2, 3, 4, 5], "v1");
    // One machine.
    let one = tempfile::tempdir().unwrap();
    let calls = AtomicUsize::new(0);
    let single = ResultCollector::new(Some(one.path()))
        .run(&s, &label("L"), &opts(), worker(&calls, &[4]))
        .unwrap();
    // Three machines, then the merge in a fourth directory.
    let shards: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut ran = 0;
    for (i, d) in shards.iter().enumerate() {
        ran += run_shard(d.path(), &s, i as u32 + 1, 3, &[4]);
        // A shard stores no result and appends no event.
        let c = ResultCollector::new(Some(d.path()));
        assert!(c.history_of(&s).unwrap().is_none());
        assert!(c.list().unwrap().iter().all(|l| l.results.is_empty()));
    }
    assert_eq!(
        ran,
        s.job_count(),
        "every job ran exactly once over the shards"
    );
    let into = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = shards.iter().map(|d| d.path().to_path_buf()).collect();
    let merger = ResultCollector::new(Some(into.path()));
    let merged = merger.merge(&dirs, &merge_opts(false)).unwrap();
    assert_eq!(merged.imported, s.job_count());
    assert!(merged.missing_shards.is_empty());
    let a = to_json(&single.result.dataset, &single.result.failures).to_string();
    let b = to_json(&merged.run.result.dataset, &merged.run.result.failures).to_string();
    assert_eq!(a, b);
    // One history event, like the single run's.
    let h = merger.history_of(&s).unwrap().unwrap();
    assert_eq!(h.shape().last(), Some(&1));
    let single_h = ResultCollector::new(Some(one.path()))
        .history_of(&s)
        .unwrap()
        .unwrap();
    assert_eq!(
        to_json(&h, &[]).to_string(),
        to_json(&single_h, &[]).to_string()
    );
}

#[test]
fn a_merge_refuses_another_version_another_n_and_missing_shards() {
    let s = sweep(&[1, 2, 3], "v1");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    run_shard(a.path(), &s, 1, 2, &[]);
    run_shard(b.path(), &sweep(&[1, 2, 3], "v2"), 2, 2, &[]);
    let into = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(into.path()));
    let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
    let e = c.merge(&dirs, &merge_opts(false)).unwrap_err().to_string();
    assert!(e.contains("code version `v2` against `v1`"), "{e}");
    assert!(e.contains(&b.path().display().to_string()), "{e}");
    // The version alone differs: no other difference is claimed.
    assert!(!e.contains("another sweep identity"), "{e}");

    // Another shard count.
    let b3 = tempfile::tempdir().unwrap();
    run_shard(b3.path(), &s, 2, 3, &[]);
    let e = c
        .merge(
            &[a.path().to_path_buf(), b3.path().to_path_buf()],
            &merge_opts(false),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 shards against 2"), "{e}");

    // A missing shard: refused, then merged with --partial.
    let e = c
        .merge(&[a.path().to_path_buf()], &merge_opts(false))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("shard(s) 2 of 2") && e.contains("--partial"),
        "{e}"
    );
    let partial = c
        .merge(&[a.path().to_path_buf()], &merge_opts(true))
        .unwrap();
    assert_eq!(partial.missing_shards, [2]);
    assert_eq!(
        partial.run.jobs.skipped,
        s.job_count() - shard_size(&s, Shard::new(1, 2).unwrap())
    );
    assert_eq!(partial.empty_jobs, shard_jobs(&s, 2, 2));
    assert!(!partial.run.result.is_complete());
}

/// The jobs (linear indices) of hash-dealt shard `k` of `n`.
fn shard_jobs(s: &Sweep, k: u32, n: u32) -> Vec<usize> {
    let shard = Shard::new(k, n).unwrap();
    let keyer = result_collector::model::JobKeyer::new(s);
    (0..s.job_count())
        .filter(|&j| shard.takes(j, &keyer.key(s, j)))
        .collect()
}

#[test]
fn a_merge_refuses_a_shard_whose_job_records_are_gone() {
    let s = sweep(&[1, 2, 3], "v1");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_shard(a.path(), &s, 1, 2, &[]);
    run_shard(b.path(), &s, 2, 2, &[]);
    // Shard 2's manifest without its records (copied alone, or its
    // records unreadable).
    let only_manifest = tempfile::tempdir().unwrap();
    let manifest = ResultCollector::new(Some(b.path()))
        .cache()
        .unwrap()
        .shard_manifests()
        .unwrap();
    let bare = ResultCollector::new(Some(only_manifest.path()));
    bare.cache()
        .unwrap()
        .put_shard_manifest(&manifest[0])
        .unwrap();
    drop(bare);
    let into = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(into.path()));
    let dirs = [a.path().to_path_buf(), only_manifest.path().to_path_buf()];
    let lost = shard_jobs(&s, 2, 2);
    let e = c.merge(&dirs, &merge_opts(false)).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "{} jobs of shard(s) 2 of sweep `sharded` have no record",
            lost.len()
        )) && e.contains(&format!("the first is job {}", lost[0]))
            && e.contains("--partial"),
        "{e}"
    );
    // Nothing was stored by the refused merge.
    assert!(c.list().unwrap().iter().all(|l| l.results.is_empty()));
    // --partial merges the rest and names the empty jobs.
    let partial = c.merge(&dirs, &merge_opts(true)).unwrap();
    assert!(partial.missing_shards.is_empty());
    assert_eq!(partial.empty_jobs, lost);
    assert!(!partial.run.result.is_complete());
    // With the records, the same shards merge whole.
    let whole = c
        .merge(
            &[a.path().to_path_buf(), b.path().to_path_buf()],
            &merge_opts(false),
        )
        .unwrap();
    assert!(whole.empty_jobs.is_empty());
    assert!(whole.run.result.is_complete());
}

#[test]
fn a_directory_sharded_again_after_a_new_version_merges_the_new_shards() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = sweep(&[1, 2, 3], "v1");
    let v2 = sweep(&[1, 2, 3], "v2");
    let here = [dir.path().to_path_buf()];
    for s in [&v1, &v2] {
        run_shard(dir.path(), s, 1, 2, &[]);
        run_shard(dir.path(), s, 2, 2, &[]);
        // Merged in place: v1's manifests no longer count once v2's shards ran.
        let merged = ResultCollector::new(Some(dir.path()))
            .merge(&here, &merge_opts(false))
            .unwrap();
        assert_eq!(merged.run.result.sweep().version(), s.version());
        assert!(merged.run.result.is_complete());
    }
}

#[test]
fn a_job_with_two_different_results_is_refused() {
    let s = sweep(&[1, 2, 3], "v1");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    // Both directories run every job (one as shard 1/2 after a full run
    // with other numbers): shard 2's directory holds job records that
    // differ from shard 1's.
    run_shard(a.path(), &s, 1, 2, &[]);
    {
        let c = ResultCollector::new(Some(b.path()));
        let calls = AtomicUsize::new(0);
        c.run(&s, &label("x"), &opts(), |smp: &Sample<'_>| {
            calls.fetch_add(1, Ordering::Relaxed);
            Ok::<_, ModelError>(
                smp.outputs()
                    .with("y", -1.0)
                    .with("v", [0.0, 0.0])
                    .with("note", "other"),
            )
        })
        .unwrap();
    }
    run_shard(b.path(), &s, 2, 2, &[]);
    let into = tempfile::tempdir().unwrap();
    let e = ResultCollector::new(Some(into.path()))
        .merge(
            &[a.path().to_path_buf(), b.path().to_path_buf()],
            &merge_opts(false),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("two different results"), "{e}");
}

#[test]
fn fail_on_regression_errors_after_saving() {
    let dir = tempfile::tempdir().unwrap();
    let c = ResultCollector::new(Some(dir.path()));
    let s = Sweep::builder("reg")
        .input(InputVar::int_values("n", [1]))
        .result(ResultVar::float("t").direction(result_collector::Direction::Minimize))
        .over_time(true)
        .build()
        .unwrap();
    let o = RunOptions {
        regressions: Some(result_collector::model::regress::Options::default()),
        fail_on_regression: true,
        ..opts()
    };
    for (i, v) in [1.0, 1.01, 0.99, 1.0, 1.02, 0.98].iter().enumerate() {
        c.run(&s, &label(&format!("e{i}")), &o, |smp: &Sample<'_>| {
            Ok::<_, ModelError>(smp.outputs().with("t", *v))
        })
        .unwrap();
    }
    let e = c
        .run(&s, &label("slow"), &o, |smp: &Sample<'_>| {
            Ok::<_, ModelError>(smp.outputs().with("t", 5.0))
        })
        .unwrap_err();
    assert!(matches!(e, Error::Regression { count: 1, .. }), "{e}");
    // Saved: the event is in the history.
    assert_eq!(c.history_of(&s).unwrap().unwrap().shape(), vec![1, 1, 7]);
}
