//! End-to-end tests of the `collector` binary for job records (`demo
//! --resume`, `collector jobs`, `collector stats`), sharded runs (`demo
//! --shard K/N`) and their merge (`collector merge`), each in its own
//! temporary directory.
//!
//! The sizes (the demo's job count, a shard's share of it) come from the
//! library, so the tests follow the demo sweep if it changes.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;
use std::process::Output;

use common::{ok, stderr, stdout};
use result_collector::{Shard, ShardAssign, Sweep, demo, shard_size};

/// Runs the binary in `cwd` with `--cache-dir cache` and `args`.
fn collector(cwd: &Path, cache: &Path, args: &[&str]) -> Output {
    common::collector_in(Some(cwd), cache, args)
}

/// Checks a failure: the exit code, one `error: …` line on stderr naming
/// every one of `needles`, and no panic.
fn fails(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{err}",
        stdout(o)
    );
    assert!(err.starts_with("error: "), "stderr:\n{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected:\n{err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` expected in:\n{err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// The demo sweep without a code version (what `collector demo` runs).
fn demo_sweep() -> Sweep {
    demo::sweep().expect("the demo sweep builds")
}

/// The jobs of the demo's hash-dealt shard `k` of `n`.
fn shard_jobs(sweep: &Sweep, k: u32, n: u32) -> usize {
    shard_size(sweep, Shard::new(k, n).expect("a valid shard"))
}

/// The one line of `out` that starts with `prefix`.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    let found: Vec<&str> = out.lines().filter(|l| l.starts_with(prefix)).collect();
    assert_eq!(found.len(), 1, "one line `{prefix}…` expected in:\n{out}");
    found[0]
}

/// The first number on `line` after `prefix`.
fn number_after(line: &str, prefix: &str) -> usize {
    line.strip_prefix(prefix)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number after `{prefix}` expected in `{line}`"))
}

/// Runs shard `shard` ("K/N") of the demo in `cache` and checks what it
/// prints: its share of the jobs, that it ran them all, and no history.
fn run_shard(cwd: &Path, cache: &Path, shard: &str, extra: &[&str], expected: usize) -> String {
    let mut args = vec!["demo", "--shard", shard, "--label", "s", "--threads", "2"];
    args.extend_from_slice(extra);
    let out = ok(collector(cwd, cache, &args));
    let total = demo_sweep().job_count();
    assert_eq!(
        line(&out, "shard "),
        format!("shard {shard} holds {expected} of the {total} jobs"),
        "{out}"
    );
    assert!(out.contains(&format!("ran {expected} jobs in ")), "{out}");
    assert!(
        out.contains(&format!(
            "0 reused, 0 rerun, {expected} new, {} skipped",
            total - expected
        )),
        "{out}"
    );
    assert!(
        !out.lines().any(|l| l.starts_with("history:")),
        "a shard appends no history event:\n{out}"
    );
    assert!(out.contains("no history event: merge the shards"), "{out}");
    out
}

#[test]
fn resume_reuses_every_recorded_job_until_the_records_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let cache = cwd.join("cache");
    let sweep = demo_sweep();
    let total = sweep.job_count();
    let name = sweep.name();

    let first = ok(collector(cwd, &cache, &["demo", "--label", "a"]));
    assert!(first.contains(&format!("ran {total} jobs in ")), "{first}");
    // A plain run reuses nothing and prints no `jobs:` line.
    assert!(!first.lines().any(|l| l.starts_with("jobs:")), "{first}");

    let second = ok(collector(
        cwd,
        &cache,
        &["demo", "--label", "b", "--resume", "--threads", "2"],
    ));
    assert_eq!(
        line(&second, "jobs:"),
        format!("jobs: {total} reused, 0 rerun, 0 new"),
        "{second}"
    );
    assert!(second.contains("ran 0 jobs in "), "{second}");
    // Resumed or not, the run is one history event.
    assert!(
        line(&second, "history:").starts_with("history: 2 events "),
        "{second}"
    );

    // stats: one record per job, in one job set.
    let stats = ok(collector(cwd, &cache, &["stats"]));
    assert_eq!(
        number_after(line(&stats, "jobs:"), "jobs:"),
        total,
        "{stats}"
    );
    // jobs: the demo's job set, with every job.
    let jobs = ok(collector(cwd, &cache, &["jobs"]));
    let header: Vec<&str> = line(&jobs, "sweep").split_whitespace().collect();
    assert_eq!(
        header,
        ["sweep", "job", "set", "records", "bytes"],
        "{jobs}"
    );
    let row: Vec<&str> = line(&jobs, &format!("{name} "))
        .split_whitespace()
        .collect();
    assert_eq!(row.get(2), Some(&total.to_string().as_str()), "{jobs}");
    assert_eq!(jobs.lines().count(), 2, "one job set:\n{jobs}");

    // --resume and --force contradict each other.
    let o = collector(cwd, &cache, &["demo", "--resume", "--force"]);
    fails(&o, 2, &["--resume", "--force"]);

    // Removing another sweep's records removes none of these.
    let none = ok(collector(
        cwd,
        &cache,
        &["jobs", "--remove", "no-such-sweep"],
    ));
    assert_eq!(
        none.trim_end(),
        "removed 0 job records of sweep `no-such-sweep`"
    );
    let removed = ok(collector(cwd, &cache, &["jobs", "--remove", name]));
    assert_eq!(
        removed.trim_end(),
        format!("removed {total} job records of sweep `{name}`")
    );
    let jobs = ok(collector(cwd, &cache, &["jobs"]));
    assert_eq!(jobs.trim_end(), "no job records");
    let stats = ok(collector(cwd, &cache, &["stats"]));
    assert_eq!(number_after(line(&stats, "jobs:"), "jobs:"), 0, "{stats}");

    // With no records, --resume runs every job again (and records them).
    let third = ok(collector(
        cwd,
        &cache,
        &["demo", "--label", "c", "--resume", "--threads", "2"],
    ));
    assert!(third.contains(&format!("ran {total} jobs in ")), "{third}");
    assert_eq!(
        line(&third, "jobs:"),
        format!("jobs: 0 reused, 0 rerun, {total} new"),
        "{third}"
    );
    assert!(
        line(&third, "history:").starts_with("history: 3 events "),
        "{third}"
    );
    let stats = ok(collector(cwd, &cache, &["stats"]));
    assert_eq!(
        number_after(line(&stats, "jobs:"), "jobs:"),
        total,
        "{stats}"
    );
}

#[test]
fn two_shards_merge_into_one_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let (a, b, c) = (cwd.join("A"), cwd.join("B"), cwd.join("C"));
    let sweep = demo_sweep();
    let total = sweep.job_count();
    let (n1, n2) = (shard_jobs(&sweep, 1, 2), shard_jobs(&sweep, 2, 2));
    assert_eq!(n1 + n2, total);
    assert!(n1 > 0 && n2 > 0, "both shards hold jobs: {n1} and {n2}");

    run_shard(cwd, &a, "1/2", &[], n1);
    run_shard(cwd, &b, "2/2", &[], n2);
    // A shard stores no result and no history.
    let ls = ok(collector(cwd, &a, &["ls"]));
    assert!(ls.starts_with("no sweeps stored"), "{ls}");
    let o = collector(cwd, &a, &["history", sweep.name()]);
    fails(&o, 1, &["unknown sweep name or key"]);
    // But it holds its job records.
    let jobs = ok(collector(cwd, &a, &["jobs"]));
    let row: Vec<&str> = line(&jobs, &format!("{} ", sweep.name()))
        .split_whitespace()
        .collect();
    assert_eq!(row.get(2), Some(&n1.to_string().as_str()), "{jobs}");

    let merged = ok(collector(
        cwd,
        &c,
        &[
            "merge",
            path(&a),
            path(&b),
            "--into",
            path(&c),
            "--label",
            "m",
        ],
    ));
    assert_eq!(
        line(&merged, "shard 1:"),
        format!("shard 1: {}", a.display())
    );
    assert_eq!(
        line(&merged, "shard 2:"),
        format!("shard 2: {}", b.display())
    );
    assert!(
        line(&merged, "imported ").starts_with(&format!("imported {total} job records and ")),
        "{merged}"
    );
    assert!(
        line(&merged, "imported ").ends_with("(0 failed)"),
        "{merged}"
    );
    assert!(!merged.contains("missing shard"), "{merged}");
    assert!(
        line(&merged, "history:").starts_with("history: 1 event "),
        "{merged}"
    );
    assert!(c.join("reports").join("demo.html").is_file());

    // The merged directory: one complete result and one event, labelled m.
    let ls = ok(collector(cwd, &c, &["ls"]));
    assert!(
        ls.lines()
            .any(|l| l.starts_with("demo") && l.contains("result") && l.contains("yes")),
        "{ls}"
    );
    assert!(
        ls.lines()
            .any(|l| l.contains("history (label)") && l.contains(" 1 ")),
        "{ls}"
    );
    let hist = ok(collector(cwd, &c, &["history", sweep.name()]));
    assert!(hist.contains(": 1 event "), "{hist}");
    let event: Vec<&str> = line(&hist, "1  ").split_whitespace().take(2).collect();
    assert_eq!(event, ["1", "m"], "{hist}");
    // Every cell came from a shard.
    assert!(
        hist.contains(&format!("{total}/{total}")),
        "every plot cell filled:\n{hist}"
    );
    let stats = ok(collector(cwd, &c, &["stats"]));
    assert_eq!(
        number_after(line(&stats, "jobs:"), "jobs:"),
        total,
        "{stats}"
    );
    // The imported records are resumable like the directory's own.
    let resumed = ok(collector(
        cwd,
        &c,
        &["demo", "--label", "r", "--resume", "--threads", "2"],
    ));
    assert_eq!(
        line(&resumed, "jobs:"),
        format!("jobs: {total} reused, 0 rerun, 0 new"),
        "{resumed}"
    );
    assert!(
        line(&resumed, "history:").starts_with("history: 2 events "),
        "{resumed}"
    );

    // A shard directory resumed without --shard runs only the other jobs.
    let rest = ok(collector(
        cwd,
        &a,
        &["demo", "--label", "rest", "--resume", "--threads", "2"],
    ));
    assert_eq!(
        line(&rest, "jobs:"),
        format!("jobs: {n1} reused, 0 rerun, {n2} new"),
        "{rest}"
    );
}

#[test]
fn shards_in_one_shared_directory_merge_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let shared = cwd.join("shared");
    let sweep = demo_sweep();
    let total = sweep.job_count();
    run_shard(cwd, &shared, "1/2", &[], shard_jobs(&sweep, 1, 2));
    run_shard(cwd, &shared, "2/2", &[], shard_jobs(&sweep, 2, 2));
    // Without --into, the merge goes into --cache-dir.
    let merged = ok(collector(
        cwd,
        &shared,
        &["merge", path(&shared), "--label", "all"],
    ));
    for k in [1, 2] {
        assert_eq!(
            line(&merged, &format!("shard {k}:")),
            format!("shard {k}: {}", shared.display())
        );
    }
    assert!(
        merged.contains(&format!("imported {total} job records and ")),
        "{merged}"
    );
    assert!(
        line(&merged, "history:").starts_with("history: 1 event "),
        "{merged}"
    );
    // The same directory sharded again for another code version merges
    // the new plan, and the merge keeps the history to the newest event.
    for k in ["1/2", "2/2"] {
        let out = ok(collector(
            cwd,
            &shared,
            &[
                "demo",
                "--shard",
                k,
                "--label",
                "s",
                "--threads",
                "2",
                "--code-version",
                "v2",
            ],
        ));
        assert!(out.contains("no history event: merge the shards"), "{out}");
    }
    let again = ok(collector(
        cwd,
        &shared,
        &[
            "merge",
            path(&shared),
            "--label",
            "v2",
            "--max-time-events",
            "1",
        ],
    ));
    assert!(
        again.contains(&format!("imported {total} job records and ")),
        "{again}"
    );
    assert_eq!(
        line(&again, "trimmed:"),
        "trimmed: 1 older event removed (max_time_events)",
        "{again}"
    );
    assert!(
        line(&again, "history:").starts_with("history: 1 event "),
        "{again}"
    );
}

#[test]
fn bad_shard_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let cache = cwd.join("cache");
    for (shard, bound) in [
        ("0/2", "between 1 and 2"),
        ("3/2", "between 1 and 2"),
        ("1/0", "at least 1"),
        ("x", "expected K/N"),
        ("a/2", "not a number"),
    ] {
        let o = collector(cwd, &cache, &["demo", "--shard", shard]);
        fails(&o, 2, &["--shard", shard, bound]);
    }
    // --round-robin needs --shard.
    let o = collector(cwd, &cache, &["demo", "--round-robin"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
    // Nothing ran, so nothing was created.
    assert!(!cache.exists(), "a usage error created the cache");
}

#[test]
fn a_merge_refuses_missing_shards_unless_partial() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let (a, c2) = (cwd.join("A"), cwd.join("C2"));
    let sweep = demo_sweep();
    let total = sweep.job_count();
    let n1 = shard_jobs(&sweep, 1, 2);
    run_shard(cwd, &a, "1/2", &[], n1);

    let o = collector(cwd, &c2, &["merge", path(&a), "--into", path(&c2)]);
    fails(
        &o,
        1,
        &[
            "shard(s) 2 of 2",
            "missing",
            "--partial",
            &a.display().to_string(),
        ],
    );
    assert!(!c2.exists(), "a refused merge created its target");

    let partial = ok(collector(
        cwd,
        &c2,
        &[
            "merge",
            path(&a),
            "--into",
            path(&c2),
            "--partial",
            "--label",
            "p",
        ],
    ));
    assert_eq!(
        line(&partial, "missing shard"),
        "missing shard: 2",
        "{partial}"
    );
    // The empty cells: how many, then the first ten by their inputs.
    let empty = total - n1;
    assert_eq!(
        line(&partial, &format!("{empty} jobs left empty")),
        format!("{empty} jobs left empty (no shard recorded them):"),
        "{partial}"
    );
    let listed: Vec<&str> = partial
        .lines()
        .filter(|l| l.starts_with("  job "))
        .collect();
    assert_eq!(listed.len(), empty.min(10), "{partial}");
    assert!(listed.iter().all(|l| l.contains("repeat=")), "{partial}");
    if empty > 10 {
        assert_eq!(
            line(&partial, "  … and"),
            format!("  … and {} more", empty - 10)
        );
    }
    assert!(
        partial.contains(&format!("imported {n1} job records and ")),
        "{partial}"
    );
    assert!(
        line(&partial, "history:").starts_with("history: 1 event "),
        "{partial}"
    );
    // The stored result is incomplete.
    let ls = ok(collector(cwd, &c2, &["ls"]));
    assert!(
        ls.lines()
            .any(|l| l.starts_with("demo") && l.contains("result") && l.contains(" no ")),
        "{ls}"
    );
}

#[test]
fn a_merge_refuses_shards_that_do_not_belong_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let (a, v2, rr) = (cwd.join("A"), cwd.join("V2"), cwd.join("RR"));
    let sweep = demo_sweep();
    run_shard(cwd, &a, "1/2", &[], shard_jobs(&sweep, 1, 2));
    // Shard 2 of another code version: another job set, dealt otherwise.
    let other = demo::sweep_at("v2").expect("the demo sweep builds");
    run_shard(
        cwd,
        &v2,
        "2/2",
        &["--code-version", "v2"],
        shard_jobs(&other, 2, 2),
    );
    let into = cwd.join("C");
    let o = collector(
        cwd,
        &into,
        &["merge", path(&a), path(&v2), "--into", path(&into)],
    );
    fails(
        &o,
        1,
        &[
            "code version `v2`",
            "does not belong with",
            &v2.display().to_string(),
        ],
    );
    assert!(!into.exists(), "a refused merge created its target");

    // Shard 2 dealt round-robin does not complete a hash-dealt shard 1.
    let rr_jobs = shard_size(
        &sweep,
        Shard::new(2, 2).unwrap().assign(ShardAssign::RoundRobin),
    );
    run_shard(cwd, &rr, "2/2", &["--round-robin"], rr_jobs);
    let o = collector(
        cwd,
        &into,
        &["merge", path(&a), path(&rr), "--into", path(&into)],
    );
    fails(&o, 1, &["assignment `round-robin` against `hash`"]);
    assert!(!into.exists(), "a refused merge created its target");
}

#[test]
fn a_merge_of_a_directory_without_shards_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let into = cwd.join("into");

    // No directory at all, and an empty one: no cache there.
    let nowhere = cwd.join("nowhere");
    let empty = cwd.join("empty");
    std::fs::create_dir(&empty).unwrap();
    for d in [&nowhere, &empty] {
        let o = collector(cwd, &into, &["merge", path(d), "--into", path(&into)]);
        fails(&o, 1, &["no cache at", &d.display().to_string()]);
    }
    assert!(!nowhere.exists(), "a merge created a shard directory");
    // A cache of a plain run: no shard manifest.
    let plain = cwd.join("plain");
    ok(collector(
        cwd,
        &plain,
        &["demo", "--label", "x", "--threads", "2", "-q"],
    ));
    let o = collector(cwd, &into, &["merge", path(&plain), "--into", path(&into)]);
    fails(
        &o,
        1,
        &["holds no shard manifest", &plain.display().to_string()],
    );
    assert!(!into.exists(), "a refused merge created its target");
    // merge needs a directory.
    let o = collector(cwd, &into, &["merge", "--into", path(&into)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A merge copies the files the shards' records name into the merged
/// cache: every image cell of the merged result names a file there.
#[test]
fn a_merge_brings_the_shards_media_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let (a, b, c) = (cwd.join("A"), cwd.join("B"), cwd.join("C"));
    let sweep = demo_sweep();
    run_shard(cwd, &a, "1/2", &[], shard_jobs(&sweep, 1, 2));
    run_shard(cwd, &b, "2/2", &[], shard_jobs(&sweep, 2, 2));
    ok(collector(
        cwd,
        &c,
        &[
            "merge",
            path(&a),
            path(&b),
            "--into",
            path(&c),
            "--label",
            "m",
        ],
    ));
    let csv = ok(collector(cwd, &c, &["export", "demo", "--format", "csv"]));
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().expect("a header").split(',').collect();
    let plot = header
        .iter()
        .position(|h| *h == "plot")
        .expect("a plot column");
    let mut files = 0;
    for row in rows {
        let cell = row.split(',').nth(plot).expect("a plot cell");
        assert!(
            c.join("media").join(cell).is_file(),
            "{cell} is not in the merged cache"
        );
        files += 1;
    }
    assert_eq!(files, sweep.job_count());
}

/// A usage error for a missing required argument names the argument.
#[test]
fn a_missing_required_argument_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let cache = cwd.join("cache");
    let o = collector(cwd, &cache, &["demo", "--round-robin"]);
    fails(&o, 2, &["--shard"]);
    let o = collector(cwd, &cache, &["merge", "--into", path(&cache)]);
    fails(&o, 2, &["DIR"]);
}
