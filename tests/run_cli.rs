//! End-to-end tests of `collector run` (and `export --format netcdf`): the
//! built binary on the example sweep files and on sweep files written
//! here, each in a temporary directory.

mod common;

use std::path::{Path, PathBuf};

use common::{collector, files_under, ok, one_error, s, stderr, stdout};
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join("sweeps")
        .join(name)
}

/// Writes a sweep file `name` into `dir`.
fn sweep_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write the sweep file");
    p
}

#[test]
fn a_real_program_over_a_grid_with_history_then_a_cache_hit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let dd = example("dd.toml");

    let first = ok(collector(&cache, &["run", s(&dd), "--label", "v1"]));
    assert!(first.contains("ran 18 jobs"), "{first}");
    assert!(first.contains("(0 failed)"), "{first}");
    assert!(first.contains("wall_time"), "{first}");
    assert!(first.contains("history: 1 event "), "{first}");
    let report = cache.join("reports").join("dd.html");
    assert!(
        first.contains(&format!("report: {}", report.display())),
        "{first}"
    );
    assert!(report.is_file());

    let second = ok(collector(
        &cache,
        &["run", s(&dd), "--label", "v2", "--code-version", "c2"],
    ));
    assert!(second.contains("ran 18 jobs"), "{second}");
    assert!(second.contains("history: 2 events "), "{second}");

    // A second run of the same code with --use-cache is a hit: no job runs.
    let t0 = Instant::now();
    let hit = ok(collector(
        &cache,
        &[
            "run",
            s(&dd),
            "--label",
            "v3",
            "--code-version",
            "c2",
            "--use-cache",
        ],
    ));
    assert!(hit.contains("cache hit: result"), "{hit}");
    assert!(!hit.contains("ran 18 jobs"), "{hit}");
    assert!(hit.contains("history: 2 events "), "{hit}");
    assert!(hit.contains("none added"), "{hit}");
    assert!(t0.elapsed() < Duration::from_secs(20));

    let history = ok(collector(&cache, &["history", "dd"]));
    assert!(history.contains("code version"), "{history}");
    assert!(history.contains("c2"), "{history}");
    assert!(history.contains("mean wall_time [s]"), "{history}");

    // The history exports as netCDF.
    let nc = dir.path().join("dd.nc");
    let export = collector(
        &cache,
        &[
            "export",
            "dd",
            "--history",
            "--format",
            "netcdf",
            "-o",
            s(&nc),
        ],
    );
    if cfg!(feature = "netcdf") {
        ok(export);
        let bytes = std::fs::read(&nc).expect("the netCDF file");
        assert!(
            bytes.starts_with(b"\x89HDF") || bytes.starts_with(b"CDF"),
            "not netCDF"
        );
    } else {
        one_error(&export, &["without the `netcdf` feature"]);
    }
    one_error(
        &collector(&cache, &["export", "dd", "--format", "netcdf"]),
        &["-o FILE"],
    );
}

#[test]
fn images_are_adopted_into_the_media_root_and_aged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let shapes = example("shapes.toml");
    let plots = cache.join("media").join("image").join("plot");

    let mut counts = Vec::new();
    for label in ["v1", "v2", "v3"] {
        let out = ok(collector(
            &cache,
            &["run", s(&shapes), "--label", label, "--threads", "2"],
        ));
        assert!(out.contains("ran 6 jobs"), "{out}");
        assert!(out.contains("(0 failed)"), "{out}");
        counts.push(files_under(&plots).len());
    }
    // Six images a run; max_time_events = 2 keeps those of the newest two.
    assert_eq!(counts, [6, 12, 12]);
    for f in files_under(&plots) {
        let text = std::fs::read_to_string(&f).expect("an image");
        assert!(text.starts_with("<svg"), "{}: {text}", f.display());
        // media/image/plot/<job key>/shape[-N].svg
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(
            name.starts_with("shape") && name.ends_with(".svg"),
            "{name}"
        );
    }
    // The jobs' own folders are gone.
    assert!(!cache.join("media").join(".tmp-jobs").exists());
    // Every file is named by a stored record: nothing for GC.
    let gc = ok(collector(&cache, &["gc"]));
    assert!(gc.contains("0 orphan files"), "{gc}");
    // The stored cells name the adopted files.
    let csv = ok(collector(&cache, &["export", "shapes", "--format", "csv"]));
    assert!(csv.contains("image/plot/"), "{csv}");
    assert!(csv.contains(",2500.0,"), "{csv}");
}

#[test]
fn a_failing_job_is_recorded_with_its_stderr_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let file = sweep_file(
        dir.path(),
        "fails.toml",
        r#"
name = "fails"
[[input]]
name = "n"
values = [1, 2, 3, 4]
[[result]]
name = "t"
[command]
argv = ["sh", "-c", "if [ $RC_N = 2 ]; then echo warming up >&2; echo boom: n is {n} >&2; exit 3; fi; if [ $RC_N = 3 ]; then echo t=oops; exit 0; fi; echo t=$RC_N"]
output = "key-value"
"#,
    );
    let out = ok(collector(&cache, &["run", s(&file)]));
    assert!(out.contains("ran 4 jobs"), "{out}");
    assert!(out.contains("(2 failed)"), "{out}");
    assert!(out.contains("exit code 3"), "{out}");
    assert!(out.contains("boom: n is 2"), "{out}");
    assert!(out.contains("warming up"), "{out}");
    assert!(out.contains(r#"result `t` (float) got "oops""#), "{out}");
    // Stored with the result.
    let shown = ok(collector(&cache, &["show", "fails"]));
    assert!(
        shown.contains("incomplete: 4 jobs attempted, 2 failed"),
        "{shown}"
    );
    assert!(shown.contains("boom: n is 2"), "{shown}");
    let csv = ok(collector(&cache, &["export", "fails", "--format", "csv"]));
    assert!(csv.contains("4,1,4"), "{csv}");

    // Over the failure threshold, the run fails after storing.
    let strict = sweep_file(
        dir.path(),
        "strict.toml",
        &std::fs::read_to_string(&file).expect("read").replace(
            "name = \"fails\"",
            "name = \"fails\"\nfail_on_sample_error = \"any\"",
        ),
    );
    one_error(
        &collector(&cache, &["run", s(&strict)]),
        &["2 of 4 jobs failed", "collector show fails"],
    );
}

#[test]
fn a_timeout_is_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let file = sweep_file(
        dir.path(),
        "slow.toml",
        r#"
name = "slow"
[[input]]
name = "secs"
values = [0, 30]
[command]
argv = ["echo started >&2; sleep {secs}; echo finished >&2"]
shell = true
output = "none"
timeout = 0.5
"#,
    );
    let t0 = Instant::now();
    let out = ok(collector(&cache, &["run", s(&file)]));
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(out.contains("(1 failed)"), "{out}");
    assert!(
        out.contains("timed out after 0.5 s and was killed"),
        "{out}"
    );
    assert!(
        out.contains("started") && !out.contains("finished"),
        "{out}"
    );
}

#[test]
fn bad_sweep_files_give_the_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let cases = [
        (
            "name = \"a\"\nrepeats = 2\n[command]\nargv = [\"true\"]\noutput = \"none\"\nbogus = 1\n",
            ":6:1: unknown field `bogus`",
        ),
        (
            "name = \"a\"\n[[input]]\nname = \"x\"\nvalues = [1, \"two\"]\n[command]\nargv = [\"true\"]\noutput = \"none\"\n",
            ":4:14: `values` mixes kinds",
        ),
        (
            "name = \"a\"\n[[input]]\nname = \"x\"\nvalues = [1]\n[command]\nargv = [\"echo\", \"--n={y}\"]\noutput = \"none\"\n",
            ":6:17: placeholder `{y}` names no input or constant",
        ),
        (
            "name = \"a\"\n[[result]]\nname = \"time\"\n[command]\nargv = [\"true\"]\noutput = \"none\"\n",
            ":3:8: result `time` cannot be filled",
        ),
        (
            "name = \"a\"\n[command\nargv = [\"true\"]\n",
            ":2:9: unclosed table",
        ),
        (
            "name = \"a\"\nover_time = \"yes\"\n[command]\nargv = [\"true\"]\noutput = \"none\"\n",
            ":2:13: invalid type",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let file = sweep_file(dir.path(), &format!("bad{i}.toml"), text);
        one_error(
            &collector(&cache, &["run", s(&file)]),
            &[&format!("bad{i}.toml{needle}")],
        );
    }
    one_error(
        &collector(&cache, &["run", s(&dir.path().join("none.toml"))]),
        &["none.toml: cannot read the sweep file"],
    );
    // Refused before the cache was touched.
    assert!(!cache.exists());
}

#[test]
fn a_missing_program_is_refused_before_any_job_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let marker = dir.path().join("ran");
    for (name, argv) in [
        (
            "missing.toml",
            "[\"no-such-program-for-rc\", \"{n}\"]".to_string(),
        ),
        ("relative.toml", "[\"./bin/absent.sh\"]".to_string()),
    ] {
        let file = sweep_file(
            dir.path(),
            name,
            &format!(
                "name = \"m\"\n[[input]]\nname = \"n\"\nbounds = [1, 10000]\n[command]\nargv = {argv}\noutput = \"none\"\n"
            ),
        );
        let t0 = Instant::now();
        let err = one_error(
            &collector(&cache, &["run", s(&file)]),
            &[&format!("{name}:6:9: program")],
        );
        assert!(
            err.contains("not found in PATH") || err.contains("does not exist"),
            "{err}"
        );
        assert!(t0.elapsed() < Duration::from_secs(10));
    }
    // Not executable.
    let script = dir.path().join("plain.sh");
    std::fs::write(&script, format!("#!/bin/sh\ntouch {}\n", marker.display())).expect("write");
    let file = sweep_file(
        dir.path(),
        "plain.toml",
        "name = \"m\"\n[command]\nargv = [\"./plain.sh\"]\noutput = \"none\"\n",
    );
    one_error(
        &collector(&cache, &["run", s(&file)]),
        &["plain.toml:3:9", "not executable"],
    );
    assert!(!marker.exists());
    assert!(!cache.exists(), "nothing ran, nothing was stored");
}

#[test]
fn inputs_and_constants_reach_the_command_by_placeholder_and_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let file = sweep_file(
        dir.path(),
        "env.toml",
        r#"
name = "env"
repeats = 2
[[input]]
name = "chunk-size"
values = [4, 16]
[[input]]
name = "algo"
values = ["heap sort", "it's"]
[[constant]]
name = "mode"
value = "fast"
[[result]]
name = "seen"
kind = "string"
[[result]]
name = "arg"
kind = "string"
[[result]]
name = "wall_time"
[command]
argv = ["printf 'seen=%s/%s/%s/%s/%s\\narg=%s\\n' \"$RC_CHUNK_SIZE\" \"$RC_ALGO\" \"$RC_MODE\" \"$RC_REPEAT\" \"$EXTRA\" {algo}; test -d \"$RC_JOB_DIR\"", "{chunk-size}"]
shell = true
output = "key-value"
env = { EXTRA = "x{chunk-size}" }
"#,
    );
    let out = ok(collector(&cache, &["run", s(&file), "--threads", "3"]));
    assert!(out.contains("ran 8 jobs"), "{out}");
    assert!(out.contains("(0 failed)"), "{out}");
    let csv = ok(collector(&cache, &["export", "env", "--format", "csv"]));
    assert!(csv.contains("16/it's/fast/2/x16"), "{csv}");
    assert!(csv.contains("4/heap sort/fast/1/x4"), "{csv}");
    // A placeholder in a shell script is one quoted word.
    assert!(csv.contains(",it's,"), "{csv}");
    assert!(csv.contains(",heap sort,"), "{csv}");
}

#[test]
fn threads_run_jobs_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let file = sweep_file(
        dir.path(),
        "sleep.toml",
        "name = \"sleep\"\nrepeats = 4\n[command]\nargv = [\"sleep\", \"0.5\"]\noutput = \"none\"\n",
    );
    let t0 = Instant::now();
    ok(collector(&cache, &["run", s(&file), "--threads", "4"]));
    let four = t0.elapsed();
    // One thread would take 2 s of sleeping.
    assert!(four < Duration::from_millis(1900), "{four:?}");
}

#[test]
fn regression_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let body = |value: f64| {
        format!(
            "name = \"reg\"\nover_time = true\nrepeats = 3\n[[result]]\nname = \"time\"\ndirection = \"minimize\"\n[command]\nargv = [\"echo\", \"time={value}\"]\noutput = \"key-value\"\n"
        )
    };
    let file = sweep_file(dir.path(), "reg.toml", &body(1.0));
    for label in ["a", "b", "c"] {
        ok(collector(&cache, &["run", s(&file), "--label", label]));
    }
    let fine = ok(collector(
        &cache,
        &["run", s(&file), "--label", "d", "--check"],
    ));
    assert!(fine.contains("No regressions detected"), "{fine}");
    std::fs::write(&file, body(10.0)).expect("write");
    let o = collector(
        &cache,
        &[
            "run",
            s(&file),
            "--label",
            "e",
            "--fail-on-regression",
            "--method",
            "percentage:10",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("time") && out.contains("flagged"), "{out}");
    assert!(out.contains("report: "), "{out}");
}

#[test]
fn run_help_documents_the_sweep_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let help = ok(collector(dir.path(), &["run", "--help"]));
    for needle in [
        "[[input]]",
        "[[constant]]",
        "[[result]]",
        "[command]",
        "max_time_events",
        "fail_on_sample_error",
        "RC_JOB_DIR",
        "RC_CHUNK_SIZE",
        "wall_time",
        "key-value",
        "--threads",
        "--fail-on-regression",
        "--use-cache",
    ] {
        assert!(help.contains(needle), "`{needle}` missing from run --help");
    }
}

#[test]
fn files_named_twice_or_outside_the_job_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let outside = dir.path().join("kept.txt");
    std::fs::write(&outside, "mine").expect("write");
    let file = sweep_file(
        dir.path(),
        "files.toml",
        &format!(
            r#"
name = "files"
[[result]]
name = "img"
kind = "image"
[[result]]
name = "same"
kind = "path"
[[result]]
name = "blob"
kind = "blob"
[[result]]
name = "mine"
kind = "path"
[[result]]
name = "gone"
kind = "path"
[command]
argv = ["echo '<svg/>' > \"$RC_JOB_DIR/out.svg\"; echo img=out.svg; echo same=./out.svg; echo blob=out.svg; echo mine=$1; echo gone=nothing.txt", "{{source}}"]
shell = true
output = "key-value"
[[constant]]
name = "source"
value = "{}"
"#,
            outside.display()
        ),
    );
    let out = ok(collector(&cache, &["run", s(&file)]));
    // `gone` names a file the command never wrote: the job fails, and says so.
    assert!(out.contains("(1 failed)"), "{out}");
    assert!(out.contains("nothing.txt"), "{out}");
    assert!(out.contains("does not exist"), "{out}");
    // A file outside RC_JOB_DIR is copied, not moved.
    assert_eq!(std::fs::read_to_string(&outside).expect("kept"), "mine");

    // Without `gone`, the file named three times lands three times.
    let text = std::fs::read_to_string(&file)
        .expect("read")
        .replace("[[result]]\nname = \"gone\"\nkind = \"path\"\n", "");
    std::fs::write(&file, text).expect("write");
    let out = ok(collector(&cache, &["run", s(&file)]));
    assert!(out.contains("(0 failed)"), "{out}");
    let media = cache.join("media");
    let svg = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default() == "<svg/>\n";
    let images = files_under(&media.join("image").join("img"));
    let paths = files_under(&media.join("path").join("same"));
    let blobs = files_under(&media.join("blob"));
    assert_eq!(images.len(), 1, "{images:?}");
    assert!(images.iter().all(svg) && paths.iter().all(svg) && blobs.iter().all(svg));
    assert_eq!(paths.len(), 1);
    assert!(paths[0].ends_with("out.svg"), "{paths:?}");
    assert_eq!(blobs.len(), 1);
    let mine = files_under(&media.join("path").join("mine"));
    assert_eq!(mine.len(), 1);
    assert_eq!(std::fs::read_to_string(&mine[0]).expect("copy"), "mine");
}

#[test]
fn history_flags_of_a_run_and_what_it_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let base = r#"
name = "hist"
over_time = true
[[input]]
name = "n"
values = [1, 2]
[[result]]
name = "t"
[command]
argv = ["sh", "-c", "echo t=$RC_N"]
output = "key-value"
"#;
    let file = sweep_file(dir.path(), "hist.toml", base);
    let with_u = sweep_file(
        dir.path(),
        "hist_u.toml",
        &base
            .replace("echo t=$RC_N", "echo t=$RC_N; echo u=1")
            .replace("name = \"t\"\n", "name = \"t\"\n[[result]]\nname = \"u\"\n"),
    );
    let grown = sweep_file(
        dir.path(),
        "hist3.toml",
        &std::fs::read_to_string(&with_u)
            .expect("read")
            .replace("values = [1, 2]", "values = [1, 2, 3]"),
    );
    let first = ok(collector(&cache, &["run", s(&file), "--label", "a"]));
    assert!(first.contains("history: 1 event "), "{first}");

    // A resume under a new label says that its numbers are not new.
    let resumed = ok(collector(
        &cache,
        &["run", s(&file), "--label", "b", "--resume"],
    ));
    assert!(
        resumed.contains("jobs: 2 reused, 0 rerun, 0 new"),
        "{resumed}"
    );
    assert!(
        resumed.contains("note: 2 of this event's jobs were taken from job records"),
        "{resumed}"
    );

    // A new column is named; older events hold its sentinel.
    let born = ok(collector(&cache, &["run", s(&with_u), "--label", "c"]));
    assert!(
        born.contains("new columns (empty in the older events): `u`"),
        "{born}"
    );
    assert!(born.contains("history: 3 events "), "{born}");

    // --max-time-events trims, and says so.
    let trimmed = ok(collector(
        &cache,
        &["run", s(&with_u), "--label", "d", "--max-time-events", "2"],
    ));
    assert!(
        trimmed.contains("trimmed: 2 older events removed (max_time_events)"),
        "{trimmed}"
    );
    assert!(trimmed.contains("history: 2 events "), "{trimmed}");

    // --clear-history starts over.
    let cleared = ok(collector(
        &cache,
        &["run", s(&with_u), "--label", "e", "--clear-history"],
    ));
    assert!(
        cleared.contains("history was reset: clear_history was asked for"),
        "{cleared}"
    );
    assert!(cleared.contains("history: 1 event "), "{cleared}");

    // An input change under --reset-policy error writes nothing.
    let ls_before = ok(collector(&cache, &["ls"]));
    one_error(
        &collector(
            &cache,
            &["run", s(&grown), "--label", "f", "--reset-policy", "error"],
        ),
        &[
            "starts a new history",
            "input `n`: [1, 2] -> [1, 2, 3]",
            "nothing was written or deleted",
        ],
    );
    assert_eq!(ok(collector(&cache, &["ls"])), ls_before);

    // Under ignore it starts the new history; the old one is superseded.
    let ignored = ok(collector(
        &cache,
        &["run", s(&grown), "--label", "f", "--reset-policy", "ignore"],
    ));
    assert!(ignored.contains("history: 1 event "), "{ignored}");
    let ls = ok(collector(&cache, &["ls"]));
    assert!(
        ls.contains("superseded") && ls.contains("input `n`: [1, 2] -> [1, 2, 3]"),
        "{ls}"
    );
}
