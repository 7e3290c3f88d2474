//! End-to-end tests of the `collector` binary, each in a temporary cache
//! directory.

mod common;

use std::process::Output;

use common::{collector, ok, stderr, stdout};

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

/// The lines of `out` that start with `prefix` (after trimming).
fn lines_starting<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn history_shows_code_versions_and_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    ok(collector(&cache, &["demo", "--label", "a"]));
    ok(collector(
        &cache,
        &["demo", "--label", "b", "--code-version", "v2"],
    ));

    let hist = ok(collector(&cache, &["history", "demo"]));
    assert!(hist.contains("2 events"), "{hist}");
    assert!(!hist.contains("superseded"), "{hist}");
    // The events table: a code version column, `-` for the run without one.
    let events_header = lines_starting(&hist, "#  over_time");
    assert!(
        events_header.len() == 1 && events_header[0].contains("code version"),
        "{hist}"
    );
    let versions: Vec<Vec<&str>> = ["1  ", "2  "]
        .iter()
        .map(|p| {
            lines_starting(&hist, p)
                .first()
                .map(|l| l.split_whitespace().take(3).collect())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        versions,
        [vec!["1", "a", "-"], vec!["2", "b", "v2"]],
        "{hist}"
    );
    // The columns table: every demo column, born with the first run, live.
    assert!(hist.contains("columns of history"), "{hist}");
    assert_eq!(
        lines_starting(&hist, "NAME")
            .first()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["NAME", "KIND", "UNITS", "MEANING", "BORN", "STATE"]),
        "{hist}"
    );
    for col in ["time", "quantiles_x", "plot"] {
        let row = lines_starting(&hist, &format!("{col} "));
        assert!(
            row.len() == 1 && row[0].contains(" a ") && row[0].ends_with("live"),
            "`{col}`:\n{hist}"
        );
    }
    assert!(
        lines_starting(&hist, "time ")
            .first()
            .is_some_and(|l| l.contains("float") && l.contains(" s ")),
        "{hist}"
    );

    // The demo's HTML report holds the same columns table.
    let html = std::fs::read_to_string(cache.join("reports").join("demo.html")).expect("report");
    assert!(
        html.contains("<h2>Columns of the history (5)</h2>"),
        "no columns section"
    );
    assert!(html.contains("<td>quantiles_x</td><td>vec(3)</td>"));
    // And so does `collector report`.
    let page = dir.path().join("r.html");
    ok(collector(
        &cache,
        &["report", "demo", "-o", page.to_str().expect("utf-8")],
    ));
    let html = std::fs::read_to_string(&page).expect("report");
    assert!(
        html.contains("<h2>Columns of the history (5)</h2>"),
        "no columns section"
    );
}

#[test]
fn a_rerun_of_a_label_replaces_its_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let first = ok(collector(&cache, &["demo", "--label", "a"]));
    assert!(!first.contains("replaced event"), "{first}");
    let second = ok(collector(&cache, &["demo", "--label", "a"]));
    assert!(second.contains("history: 1 event "), "{second}");
    assert!(
        second.contains("this run's event replaced event 0, which had the same label `a`"),
        "{second}"
    );
    let hist = ok(collector(&cache, &["history", "demo"]));
    assert!(hist.contains(": 1 event "), "{hist}");
    // The columns were born with the replaced event, which is gone: shown
    // born at the event that replaced it.
    assert!(
        lines_starting(&hist, "time ").first().is_some_and(|l| l
            .contains(" a (its first event, 0, was replaced or trimmed) ")
            && l.ends_with("live")),
        "{hist}"
    );
}

#[test]
fn timestamped_events_stay_in_time_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    ok(collector(
        &cache,
        &["demo", "--timestamp", "2026-01-02T00:00:00Z"],
    ));
    let second = ok(collector(
        &cache,
        &["demo", "--timestamp", "2026-01-01T00:00:00Z"],
    ));
    assert!(second.contains("history: 2 events "), "{second}");
    let hist = ok(collector(&cache, &["history", "demo"]));
    assert!(hist.contains("(timestamp coordinates)"), "{hist}");
    let first_row = lines_starting(&hist, "1  ");
    let second_row = lines_starting(&hist, "2  ");
    assert!(
        first_row.len() == 1 && first_row[0].contains("2026-01-01T00:00:00"),
        "{hist}"
    );
    assert!(
        second_row.len() == 1 && second_row[0].contains("2026-01-02T00:00:00"),
        "{hist}"
    );
    // Born with the first run appended, which is now the second event.
    assert!(
        lines_starting(&hist, "time ")
            .first()
            .is_some_and(|l| l.contains("2026-01-02T00:00:00")),
        "{hist}"
    );
}

#[test]
fn max_time_events_keeps_the_newest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    ok(collector(&cache, &["demo", "--label", "a"]));
    let second = ok(collector(
        &cache,
        &["demo", "--label", "b", "--max-time-events", "1"],
    ));
    assert!(second.contains("history: 1 event "), "{second}");
    let hist = ok(collector(&cache, &["history", "demo"]));
    assert!(hist.contains(": 1 event "), "{hist}");
    assert_eq!(
        lines_starting(&hist, "1  ")
            .first()
            .and_then(|l| l.split_whitespace().nth(1)),
        Some("b"),
        "{hist}"
    );
    assert!(lines_starting(&hist, "2  ").is_empty(), "{hist}");
    let ls = ok(collector(&cache, &["ls"]));
    assert!(
        ls.lines()
            .any(|l| l.contains("history (label)") && l.contains(" 1 ")),
        "{ls}"
    );
}

/// Two sweeps named `lineage` that differ in an input (`n` 0..3, then
/// 0..4), through the library: the first history is superseded, and `ls`
/// and `history` say so and name the change. Column identity changes
/// (units, a result dropped) show in the columns table.
#[test]
fn a_changed_input_supersedes_the_history() {
    use result_collector::model::Error as ModelError;
    use result_collector::{
        InputVar, ResetPolicy, ResultCollector, ResultVar, RunOptions, Sweep, TimeSrc, history_key,
    };

    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let sweep = |hi: i64, t_units: &str, with_u: bool| {
        let mut b = Sweep::builder("lineage")
            .input(InputVar::int_range("n", 0, hi))
            .result(ResultVar::float("t").units(t_units));
        if with_u {
            b = b.result(ResultVar::float("u"));
        }
        b.repeats(2).over_time(true).build().expect("sweep")
    };
    let (old, new) = (sweep(3, "s", true), sweep(4, "s", true));
    let c = ResultCollector::new(Some(&cache));
    let run = |c: &ResultCollector, s: &Sweep, label: &str, with_u: bool| {
        c.run(
            s,
            &TimeSrc::Label(label.into()),
            &RunOptions::default(),
            |smp| {
                let out = smp.outputs().with("t", 1.0);
                Ok::<_, ModelError>(if with_u { out.with("u", 2.0) } else { out })
            },
        )
    };
    run(&c, &old, "a", true).expect("first run");
    let r = run(&c, &new, "b", true).expect("second run");
    let lineage = r
        .history
        .as_ref()
        .and_then(|h| h.append.lineage.clone())
        .expect("the name moved to another history");
    assert_eq!(lineage.previous_key, history_key(&old));
    // `t` changes units (retired), `u` is not measured (dormant).
    run(&c, &sweep(4, "ms", false), "c", false).expect("third run");
    // Under the error policy, another change of inputs writes nothing.
    let strict = ResultCollector::new(Some(&cache)).reset_policy(ResetPolicy::Error);
    drop(c);
    let e = run(&strict, &sweep(5, "ms", false), "d", false)
        .expect_err("the error policy refuses a new history");
    assert!(e.to_string().contains("lineage"), "{e}");
    drop(strict);

    let (old_key, new_key) = (history_key(&old), history_key(&new));
    let ls = ok(collector(&cache, &["ls"]));
    let rows: Vec<&str> = ls.lines().filter(|l| l.contains("history (")).collect();
    assert_eq!(rows.len(), 2, "no history for the refused run:\n{ls}");
    assert!(
        rows.iter()
            .any(|l| l.contains("history (label), superseded") && l.contains(&old_key[..12])),
        "{ls}"
    );
    assert!(
        rows.iter()
            .any(|l| l.contains(&new_key[..12]) && !l.contains("superseded")),
        "{ls}"
    );
    let note = format!(
        "history {} of sweep `lineage` superseded by {}: input `n`: ",
        &old_key[..12],
        &new_key[..12]
    );
    assert!(
        ls.lines().any(|l| l.starts_with(&note) && l.contains("->")),
        "`{note}` expected in:\n{ls}"
    );

    // The superseded history, by a key prefix: says so first.
    let hist = ok(collector(&cache, &["history", &old_key[..10]]));
    assert!(
        hist.lines().nth(2).is_some_and(|l| l.starts_with(&format!(
            "superseded: runs of sweep `lineage` now append to history {}",
            &new_key[..12]
        )) && l.contains("input `n`")),
        "{hist}"
    );
    // Its HTML report says so too, with the full keys.
    let page = dir.path().join("old.html");
    ok(collector(
        &cache,
        &[
            "report",
            &old_key[..10],
            "-o",
            page.to_str().expect("utf-8"),
        ],
    ));
    let html = std::fs::read_to_string(&page).expect("report");
    assert!(
        html.contains(&format!(
            "History {old_key} of sweep `lineage` is superseded: runs of the sweep now append to history {new_key} (input `n`: "
        )),
        "no superseded note in the report"
    );

    // The sweep name means the current one.
    let hist = ok(collector(&cache, &["history", "lineage"]));
    assert!(hist.contains(&new_key[..12]), "{hist}");
    assert!(!hist.contains("superseded"), "{hist}");
    let row = |name: &str| {
        lines_starting(&hist, &format!("{name} "))
            .first()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert_eq!(
        row("t__retired1"),
        "t__retired1 float s 0 b retired at c, now `t`",
        "{hist}"
    );
    assert_eq!(row("u"), "u float - 0 b dormant since c", "{hist}");
    assert_eq!(row("t"), "t float ms 0 c live", "{hist}");
}

#[test]
fn check_reports_regressions_and_fails_only_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    for l in ["l1", "l2", "l3"] {
        ok(collector(&cache, &["demo", "--label", l, "-q"]));
    }

    let json = ok(collector(&cache, &["check", "demo", "--json"]));
    assert!(json.contains("\"schema_version\": 1"), "{json}");
    assert!(json.contains("\"grain\": \"per_cell\""), "{json}");

    let text = ok(collector(
        &cache,
        &[
            "check",
            "demo",
            "--grain",
            "per-variable",
            "--minimize",
            "time",
        ],
    ));
    assert!(text.starts_with("Regression check: "), "{text}");
    assert!(text.contains("(per variable)"), "{text}");

    // Deterministic verdicts whatever the timings: a ceiling no time
    // reaches, then one every time exceeds.
    let o = collector(
        &cache,
        &[
            "check",
            "demo",
            "--method",
            "absolute:1e9",
            "--minimize",
            "time",
            "--fail",
        ],
    );
    let text = ok(o);
    assert!(text.contains("No regressions detected."), "{text}");
    let o = collector(
        &cache,
        &[
            "check",
            "demo",
            "--method",
            "absolute:0",
            "--minimize",
            "time",
            "--fail",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "stderr:\n{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    assert!(stdout(&o).contains("18 flagged"), "{}", stdout(&o));
    // Without --fail the same report exits 0.
    ok(collector(
        &cache,
        &[
            "check",
            "demo",
            "--method",
            "absolute:0",
            "--minimize",
            "time",
        ],
    ));

    let o = collector(&cache, &["check", "nosuch"]);
    fails(
        &o,
        1,
        "checking sweep `nosuch`: unknown sweep name or key `nosuch`",
    );
    let o = collector(
        &cache,
        &["check", "demo", "--minimize", "time", "--maximize", "time"],
    );
    fails(&o, 1, "`time` is given both --minimize and --maximize");
    let o = collector(&cache, &["check", "demo", "--method", "delta"]);
    fails(&o, 2, "needs a value");
    let o = collector(&cache, &["check", "demo", "--fdr", "0"]);
    fails(&o, 2, "--fdr");
    let o = collector(&cache, &["check", "demo", "--grain", "per-row"]);
    fails(&o, 2, "per-row");
}

#[test]
fn demo_check_prints_the_report_under_the_history_line_and_never_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let first = ok(collector(
        &cache,
        &["demo", "--label", "v1", "--check", "-q"],
    ));
    let history = first
        .lines()
        .position(|l| l.starts_with("history: 1 event"))
        .expect("a history line");
    let lines: Vec<&str> = first.lines().collect();
    assert!(
        lines[history + 1].starts_with("Regression check: 0 cells tested"),
        "{first}"
    );
    assert!(first.contains("Not enough history: time"), "{first}");
    // Timings are noisy: whatever is flagged, the run succeeds.
    let second = ok(collector(
        &cache,
        &["demo", "--label", "v2", "--check", "-q"],
    ));
    assert!(second.contains("Regression check: "), "{second}");
    let hit = ok(collector(
        &cache,
        &["demo", "--label", "v3", "--check", "--use-cache", "-q"],
    ));
    assert!(
        hit.contains("regression check: not run (this run added no history event)"),
        "{hit}"
    );
    // Without --check, no report.
    let plain = ok(collector(&cache, &["demo", "--label", "v4", "-q"]));
    assert!(!plain.contains("egression check"), "{plain}");
}

#[test]
fn report_marks_regressions_and_shows_the_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    for l in ["r1", "r2", "r3"] {
        ok(collector(&cache, &["demo", "--label", l, "-q"]));
    }
    // The demo's own page marks nothing without --check.
    let demo_page = cache.join("reports").join("demo.html");
    let html = std::fs::read_to_string(&demo_page).expect("report");
    assert!(!html.contains("Regressions</h2>"));
    let with_check = ok(collector(
        &cache,
        &["demo", "--label", "r4", "--check", "-q"],
    ));
    assert!(with_check.contains("Regression check: "), "{with_check}");
    let html = std::fs::read_to_string(&demo_page).expect("report");
    assert!(html.contains("<h2 id=\"regressions\">Regressions</h2>"));

    // Every time exceeds a ceiling of 0: 18 regressed cells, all marked.
    let page = dir.path().join("page.html");
    let page_arg = page.to_str().expect("utf-8");
    let out = ok(collector(
        &cache,
        &[
            "report",
            "demo",
            "-o",
            page_arg,
            "--method",
            "absolute:0",
            "--minimize",
            "time",
        ],
    ));
    assert!(
        out.contains("regression check: 72 series tested, 18 flagged (18 blocking)"),
        "{out}"
    );
    let html = std::fs::read_to_string(&page).expect("report");
    assert_eq!(
        html.matches("<td><a href=\"#history-time\">time</a>")
            .count(),
        18
    );
    // 8 series a plot: the 18 regressed ones over three plots.
    for k in 1..=3 {
        assert!(
            html.contains(&format!("time over time ({k}/3)")),
            "plot {k}"
        );
    }
    assert!(html.contains("fill=\"#DC0000\""), "red current points");
    // The demo's SVG plots, inlined: one per input point of repeat 1.
    assert_eq!(
        html.matches("<img src=\"data:image/svg+xml;base64,")
            .count(),
        18
    );

    // A ceiling no time reaches: nothing marked. --no-check: no section.
    let out = ok(collector(
        &cache,
        &["report", "demo", "-o", page_arg, "--method", "absolute:1e9"],
    ));
    assert!(out.contains(", 0 flagged (0 blocking)"), "{out}");
    let html = std::fs::read_to_string(&page).expect("report");
    assert!(html.contains("No regressions detected") && !html.contains("#DC0000"));
    let out = ok(collector(
        &cache,
        &["report", "demo", "-o", page_arg, "--no-check"],
    ));
    assert!(!out.contains("regression check"), "{out}");
    let html = std::fs::read_to_string(&page).expect("report");
    assert!(!html.contains("Regressions</h2>"));

    // Linked media: paths from the page beside the media folder.
    ok(collector(
        &cache,
        &[
            "report",
            "demo",
            "--link-media",
            "--image-repeat",
            "2",
            "--no-check",
        ],
    ));
    let html = std::fs::read_to_string(&demo_page).expect("report");
    assert!(!html.contains("data:image"));
    assert_eq!(html.matches("<img src=\"../media/image/plot/").count(), 18);
    assert!(html.contains("Repeat 2 of 3 is shown."));
    let o = collector(&cache, &["report", "demo", "--image-repeat", "0"]);
    fails(&o, 2, "--image-repeat");
}
