//! End-to-end tests of the `collector` binary, each in a temporary cache
//! directory.

use std::path::Path;
use std::process::{Command, Output};

fn collector(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_collector"))
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("RESULT_COLLECTOR_CACHE_DIR")
        .output()
        .expect("the collector binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Checks a failure: the exit code, one `error: …` line on stderr naming
/// `needle`, and no panic.
fn fails(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr:\n{err}");
    assert!(err.starts_with("error: "), "stderr:\n{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected:\n{err}"
    );
    assert!(err.contains(needle), "`{needle}` expected in:\n{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

#[test]
fn demo_twice_then_inspect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");

    let first = ok(collector(&cache, &["demo", "--label", "v1"]));
    assert!(first.contains("ran 54 jobs"), "{first}");
    assert!(first.contains("history: 1 event "), "{first}");
    assert!(first.contains("quantiles_x"), "{first}");
    let report = cache.join("reports").join("demo.html");
    assert!(first.contains(&report.display().to_string()), "{first}");
    assert!(report.is_file());

    // The image results are real files under media/image/plot/<job key>/.
    let plots = cache.join("media").join("image").join("plot");
    let jobs: Vec<_> = std::fs::read_dir(&plots).expect("plot dir").collect();
    assert_eq!(jobs.len(), 54);

    // The cache is read only on request: a second run measures again.
    let second = ok(collector(&cache, &["demo", "--label", "v2"]));
    assert!(second.contains("ran 54 jobs"), "{second}");
    assert!(second.contains("history: 2 events "), "{second}");
    assert!(second.contains("one added by this run"), "{second}");
    // With --use-cache: a hit, and no event.
    let third = ok(collector(&cache, &["demo", "--label", "v3", "--use-cache"]));
    assert!(third.contains("cache hit:"), "{third}");
    assert!(!third.contains("ran 54 jobs"), "{third}");
    assert!(third.contains("history: 2 events "), "{third}");
    assert!(
        third.contains("none added: the result came from the cache"),
        "{third}"
    );
    let html = std::fs::read_to_string(&report).expect("report");
    assert!(html.contains("<svg") && html.contains("v2"));

    // ls: one result and one history of sweep `demo`.
    let ls = ok(collector(&cache, &["ls"]));
    assert!(ls.contains("SWEEP") && ls.contains("demo"), "{ls}");
    assert!(
        ls.lines()
            .any(|l| l.starts_with("demo") && l.contains("result") && l.contains("yes")),
        "{ls}"
    );
    assert!(
        ls.lines()
            .any(|l| l.contains("history (label)") && l.contains(" 2 ")),
        "{ls}"
    );

    // show by name, then by a key prefix taken from ls.
    let show = ok(collector(
        &cache,
        &["show", "demo", "--table", "--rows", "5"],
    ));
    assert!(show.contains("complete") && show.contains("time"), "{show}");
    assert!(show.contains("more rows"), "{show}");
    let key = ls
        .lines()
        .find(|l| l.contains("result"))
        .and_then(|l| l.split_whitespace().nth(2))
        .expect("a result key")
        .to_string();
    let by_key = ok(collector(&cache, &["show", &key[..8]]));
    assert!(by_key.contains(&key), "{by_key}");

    // history: two events with their labels.
    let hist = ok(collector(&cache, &["history", "demo"]));
    assert!(hist.contains("2 events"), "{hist}");
    assert!(
        hist.contains("v1") && hist.contains("v2") && hist.contains("mean time [s]"),
        "{hist}"
    );

    // export: CSV and JSON, to a file and to stdout.
    let csv_path = dir.path().join("demo.csv");
    ok(collector(
        &cache,
        &[
            "export",
            "demo",
            "--format",
            "csv",
            "-o",
            csv_path.to_str().expect("utf-8"),
        ],
    ));
    let csv = std::fs::read_to_string(&csv_path).expect("csv");
    let header = csv.lines().next().expect("header");
    assert!(
        header.contains("size") && header.contains("algo") && header.contains("time"),
        "{header}"
    );
    // 54 jobs × 1 event, plus the header.
    assert_eq!(csv.lines().count(), 55, "{csv}");
    let csv_out = ok(collector(&cache, &["export", "demo", "--format", "csv"]));
    assert_eq!(csv_out, csv);

    let json_path = dir.path().join("demo.json");
    ok(collector(
        &cache,
        &[
            "export",
            "demo",
            "--format",
            "json",
            "-o",
            json_path.to_str().expect("utf-8"),
        ],
    ));
    let back = result_collector::report::read_json(&json_path).expect("json reads back");
    assert_eq!(
        back.dataset.dim_names(),
        ["size", "chunks", "algo", "repeat", "over_time"]
    );
    let json_out = ok(collector(&cache, &["export", "demo", "--format", "json"]));
    assert!(json_out.trim_start().starts_with('{') && json_out.contains("\"schema_version\""));

    // report, stats and a dry-run gc that finds no orphans.
    let page = dir.path().join("r.html");
    let rep = ok(collector(
        &cache,
        &["report", "demo", "-o", page.to_str().expect("utf-8")],
    ));
    assert!(rep.contains("history report") && page.is_file(), "{rep}");
    let stats = ok(collector(&cache, &["stats"]));
    assert!(
        stats.contains("histories: 1 with 2 events") && stats.contains("108 files"),
        "{stats}"
    );
    let gc = ok(collector(&cache, &["gc", "--grace-secs", "0"]));
    assert!(gc.contains("dry run: 0 orphan files"), "{gc}");
}

#[test]
fn missing_cache_is_an_error_and_is_not_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("nothing-here");
    for args in [
        &["ls"][..],
        &["show", "demo"],
        &["stats"],
        &["gc"],
        &["history", "demo"],
    ] {
        let o = collector(&cache, args);
        fails(&o, 1, "no cache at");
        assert!(stderr(&o).contains("nothing-here"));
    }
    assert!(!cache.exists(), "a read-only command created the cache");
}

#[test]
fn unknown_name_and_bad_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    // An empty but real cache.
    let empty = result_collector::ResultCollector::new(Some(&cache));
    empty.cache().expect("open");
    empty.close_caches();
    let o = collector(&cache, &["show", "no-such-sweep"]);
    fails(&o, 1, "unknown sweep name or key `no-such-sweep`");
    let o = collector(&cache, &["export", "zzzz", "--format", "json"]);
    fails(&o, 1, "unknown sweep name or key");

    let o = collector(&cache, &["ls", "--bogus"]);
    fails(&o, 2, "--bogus");
    let o = collector(&cache, &["export", "demo", "--format", "xml"]);
    fails(&o, 2, "xml");
    let o = collector(&cache, &["frobnicate"]);
    fails(&o, 2, "frobnicate");
}

#[test]
fn locked_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let held = result_collector::ResultCollector::new(Some(&cache));
    held.cache().expect("open");
    for args in [&["ls"][..], &["demo"]] {
        let o = collector(&cache, args);
        fails(&o, 1, "in use by another process");
    }
    drop(held);
    ok(collector(&cache, &["ls"]));
}
