//! `collector run SWEEP.toml`: any program over the grid of a sweep file;
//! and what `run` and `demo` share: the event's time, the progress bar,
//! the run's options and the account of a run.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use result_collector::command::CommandRunner;
use result_collector::model::OVER_TIME_DIM;
use result_collector::{
    CacheDir, ReportOptions, ResultCollector, RunOptions, RunReport, Sweep, SweepFile, TimeSrc,
    write_html,
};

use crate::cli::{EventArgs, JobArgs, RunArgs, RunCheckArgs};
use crate::fmt::{plural, short};

/// The sweep-file format, after `collector run --help`.
pub const FORMAT_HELP: &str = r#"SWEEP FILE (TOML; unknown keys are errors, reported with line and column):
  name = "sort"               required: the sweep (and its history)
  title, description          display only
  tag = "ci"                  part of every identity key
  version = "1a2b3c"          the code version (--code-version overrides it)
  repeats = 3                 default 1
  over_time = true            keep a history of runs (default false)
  catch = "record"            a failed job is recorded and the run goes on; "fail-fast" stops it
  fail_on_sample_error = 0.1  the run fails above this failed fraction; "any": on any failure

  [[input]]                   one table per dim, in order: name, units, description and
  name = "size"               values = [1, 2, 4]        ints: an int input; floats: float;
                                                        strings: labels; [false, true]: bool
                              bounds = [0.0, 1.0] and samples = 5 (both ends included)
                                               or step = 0.25 (low, low + step, ... below high)
                              bounds = [1, 8]  every integer (or samples = N of them, or step)
                              kind = "float" | "int" | "labels" | "bool" when values don't say
                              default = true   a bool input's first value
                              samples = N      also sub-samples a labels input

  [[constant]]                name, value (string, int, float or bool), units

  [[result]]                  name, units, description and
                              kind = "float" (default) | "bool" | "vec(N)" | "string" | "path"
                                     | "image" | "video" | "recording" | "blob" | "reference"
                              direction = "minimize" | "maximize" | "none" (default)
                              max_time_events = N   keep it in the newest N events (older
                                                    files are deleted)
                              meaning_version = N   bump it when what it measures changes
                              name = "wall_time"    the wall clock around the command, in s

  [command]
  argv = ["./bench", "--size={size}"]   run without a shell; {name} is an input or constant,
                              {repeat} the repeat number, {job_dir} the job's folder;
                              {{ and }} are literal braces
  shell = false               true: argv[0] is a sh script (placeholders quoted for sh),
                              argv[1..] its $1, $2, ...
  output = "json"             stdout is a JSON object {"time": 0.2} (or its last line is);
                              "key-value": lines time=0.2 (other lines are ignored);
                              "none": discarded, the only result is wall_time (the default
                              result when no [[result]] is declared)
  timeout = 60                seconds per job; a job past it is killed and recorded as failed
  cwd = "."                   working directory, relative to the sweep file's directory
                              (the default)
  env = { OMP_NUM_THREADS = "1" }   more environment ({placeholders} allowed)

ENVIRONMENT OF EACH JOB: the collector's, the [command] env, and RC_<NAME> for every input
and constant (NAME upper-cased, any character but A-Z, 0-9 and _ written as _: chunk-size
-> RC_CHUNK_SIZE), RC_REPEAT, and RC_JOB_DIR: an empty folder of the job's own. A path, image,
video, recording or blob result names a file the command wrote there (or an absolute path):
the collector moves it into CACHE_DIR/media.

FAILURES: a job that cannot start, exits non-zero, outlives its timeout, prints output that
cannot be read, or lacks a result or gives one of the wrong kind is recorded as failed with
its exit status and the last lines of its stderr (`collector show SWEEP` lists them). Before
any job runs, a missing program, a placeholder that names nothing and a result no output can
fill are refused."#;

/// The `over_time` source of a run from its flags.
pub fn time_src(a: &EventArgs) -> Result<TimeSrc> {
    Ok(match (&a.label, &a.timestamp) {
        (Some(l), _) if l.trim().is_empty() => bail!("--label must not be empty"),
        (Some(l), _) => TimeSrc::Label(l.clone()),
        (None, Some(t)) => TimeSrc::parse_rfc3339(t).map_err(|e| anyhow!("--timestamp: {e}"))?,
        (None, None) => TimeSrc::now(),
    })
}

/// A progress bar on stderr when it is a terminal (hidden otherwise):
/// jobs done, failed, and the time left.
pub fn progress_bar(name: &str, total: usize, quiet: bool) -> Result<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return Ok(indicatif::ProgressBar::hidden());
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} jobs, {msg}, {eta} left",
        )
        .map_err(|e| anyhow!("progress bar template: {e}"))?,
    );
    bar.set_prefix(name.to_string());
    bar.set_message("0 failed");
    bar.enable_steady_tick(Duration::from_millis(120));
    Ok(bar)
}

/// The options of a run from its flags (no progress callback).
pub fn run_options(
    a: &EventArgs,
    threads: Option<usize>,
    check: &RunCheckArgs,
    jobs: &JobArgs,
) -> RunOptions {
    RunOptions {
        threads,
        reuse: jobs.reuse(),
        shard: jobs.shard(),
        history: a.history.options(),
        regressions: check.wanted().then(|| check.detector.options()),
        ..RunOptions::default()
    }
}

/// Most failures a run prints (all are stored: `collector show`).
const FAILURES_SHOWN: usize = 20;

/// A finished run, to give an account of.
pub struct Done<'a> {
    pub collector: &'a ResultCollector,
    pub sweep: &'a Sweep,
    pub time_src: &'a TimeSrc,
    pub run: &'a RunReport,
    pub elapsed: Duration,
    /// The report's title.
    pub title: &'a str,
    /// The shard this run was, if any.
    pub shard: Option<result_collector::Shard>,
    /// What the run reused.
    pub reuse: result_collector::Reuse,
}

/// The account of a finished run (its summary, failures, what it did to
/// the cache and the history, the regression check) and the path of its
/// HTML report, which this writes; exit code 1 when `--fail-on-regression`
/// finds a blocking regression.
pub fn account(d: &Done<'_>, a: &EventArgs, check: &RunCheckArgs) -> Result<(Vec<u8>, ExitCode)> {
    let Done {
        collector,
        sweep,
        time_src,
        run,
        elapsed,
        title,
        shard: _,
        reuse,
    } = *d;
    if run.no_event == Some(result_collector::NoEvent::Shard) {
        return Ok((shard_account(d), ExitCode::SUCCESS));
    }
    let mut out = result_collector::report::summary(&run.result.dataset);
    let failures = &run.result.failures;
    if !failures.is_empty() {
        let shown = &failures[..failures.len().min(FAILURES_SHOWN)];
        out.push_str(&result_collector::report::failures_table(shown));
        if failures.len() > shown.len() {
            out.push_str(&format!(
                "… and {} more failed jobs (collector show {} lists them all)\n",
                failures.len() - shown.len(),
                sweep.name()
            ));
        }
    }
    out.push('\n');
    if run.cache_hit {
        out.push_str(&format!(
            "cache hit: result {} loaded from the cache, no job ran ({} jobs stored; run without --use-cache to run them again)\n",
            short(&run.cache_key),
            run.result.stats.attempted
        ));
    } else {
        out.push_str(&format!(
            "ran {} jobs in {:.2} s ({} failed) and cached result {}\n",
            run.jobs.ran(),
            elapsed.as_secs_f64(),
            run.result.stats.failed,
            short(&run.cache_key)
        ));
        if reuse != result_collector::Reuse::Off || run.jobs.reused > 0 || run.jobs.skipped > 0 {
            out.push_str(&format!("jobs: {}\n", run.jobs));
        }
    }
    let report_path = a
        .report
        .clone()
        .unwrap_or_else(|| collector.cache_dir().report_path(sweep.name()));
    if sweep.over_time() {
        let stored = match &run.history {
            Some(update) => {
                out.push_str(&crate::fmt::append_notes(&update.append));
                update.dataset.clone()
            }
            None => None,
        };
        let history = match stored {
            Some(h) => h,
            None => collector.history_of(sweep)?.ok_or_else(|| {
                anyhow!("sweep `{}` keeps history, but none is stored", sweep.name())
            })?,
        };
        let events = history.dim(OVER_TIME_DIM).map(|d| d.len()).unwrap_or(0);
        let replaced = run.history.as_ref().and_then(|h| h.append.replaced);
        let at = match time_src {
            TimeSrc::Label(l) => format!("label `{l}`"),
            TimeSrc::Timestamp(t) => format!("timestamp {}", t.to_rfc3339()),
        };
        let added = match (&run.no_event, replaced) {
            (None, Some(seq)) => {
                format!("this run's event replaced event {seq}, which had the same {at}")
            }
            (None, None) => "one added by this run".to_string(),
            (Some(why), _) => format!("none added: {why}"),
        };
        out.push_str(&format!(
            "history: {events} event{} (history key {}; {added})\n",
            plural(events),
            short(&run.history_key)
        ));
        if run.no_event.is_none() && run.jobs.reused > 0 {
            // A resume under a new label: say that some numbers are old.
            out.push_str(&format!(
                "note: {} of this event's jobs were taken from job records of earlier runs, not \
                 measured now (--force runs every job)\n",
                run.jobs.reused
            ));
        }
        // With a check, the page marks what it found.
        let mut page = ReportOptions::default();
        if let Some(r) = &run.regressions {
            page = page.regressions(r.clone());
        }
        collector
            .write_history_html(
                &run.history_key,
                &history,
                &run.result.failures,
                &report_path,
                title,
                &page,
            )
            .with_context(|| {
                format!(
                    "the run and its history event are saved, but writing the report {} failed",
                    report_path.display()
                )
            })?;
    } else {
        out.push_str("history: none (the sweep keeps no history; set over_time = true)\n");
        write_html(
            &run.result.dataset,
            &run.result.failures,
            &report_path,
            title,
        )
        .with_context(|| {
            format!(
                "the run is saved, but writing the report {} failed",
                report_path.display()
            )
        })?;
    }
    let mut code = ExitCode::SUCCESS;
    if check.wanted() {
        match &run.regressions {
            Some(report) => {
                out.push_str(&report.to_text());
                if !out.ends_with('\n') {
                    out.push('\n');
                }
                if check.fail_on_regression && report.has_blocking() {
                    code = ExitCode::FAILURE;
                }
            }
            None => out.push_str("regression check: not run (this run added no history event)\n"),
        }
    }
    out.push_str(&format!("report: {}\n", report_path.display()));
    Ok((out.into_bytes(), code))
}

/// The account of a shard run: what it ran and where its records are.
fn shard_account(d: &Done<'_>) -> Vec<u8> {
    let run = d.run;
    let mut out = String::new();
    if let Some(shard) = d.shard {
        out.push_str(&format!(
            "shard {shard} holds {} of the {} jobs\n",
            result_collector::shard_size(d.sweep, shard),
            d.sweep.job_count()
        ));
    }
    out.push_str(&format!(
        "ran {} jobs in {:.2} s ({} failed; {}); wrote their job records and the shard manifest in {}\n",
        run.jobs.ran(),
        d.elapsed.as_secs_f64(),
        run.result.stats.failed,
        run.jobs,
        d.collector.cache_dir().root().display()
    ));
    out.push_str("no history event: merge the shards with `collector merge DIR... --into DIR`\n");
    out.into_bytes()
}

/// `collector run SWEEP.toml`.
pub fn run(
    dir: CacheDir,
    a: &RunArgs,
    quiet: bool,
    limit: Option<u64>,
) -> Result<(Vec<u8>, ExitCode)> {
    // Everything that can be refused is refused before the cache is touched.
    let file = SweepFile::load(&a.file)?;
    let sweep = match &a.event.code_version {
        Some(v) => file.sweep_at(v)?,
        None => file.sweep().clone(),
    };
    let time_src = time_src(&a.event)?;
    let collector = crate::with_limit(ResultCollector::on(dir), limit).use_cache(a.event.use_cache);
    // Before the cache or the media root is touched.
    sweep.check_memory(collector.memory_limit_bytes())?;
    let runner = CommandRunner::new(file.command(), &sweep, collector.media_root()?)?;

    let bar = progress_bar(sweep.name(), sweep.job_count(), quiet)?;
    let failed = AtomicUsize::new(0);
    let mut opts = run_options(&a.event, Some(a.threads as usize), &a.check, &a.jobs);
    // Each job is a child process: one job per task keeps every thread busy.
    opts.min_jobs_per_task = 1;
    let started = Instant::now();
    let outcome = collector.run(&sweep, &time_src, &opts, |s| {
        let r = runner.run(s);
        if r.is_err() {
            let n = failed.fetch_add(1, Ordering::Relaxed) + 1;
            bar.set_message(format!("{n} failed"));
        }
        bar.inc(1);
        r
    });
    bar.finish_and_clear();
    drop(runner);
    let run = outcome.map_err(|e| {
        let hint = match &e {
            result_collector::Error::RunFailed { .. } => {
                format!(" (`collector show {}` lists the failed jobs)", sweep.name())
            }
            _ => String::new(),
        };
        anyhow::Error::new(e).context(format!("running sweep `{}`{hint}", sweep.name()))
    })?;
    let elapsed = started.elapsed();
    let title = if sweep.title().is_empty() {
        format!("collector run: {}", sweep.name())
    } else {
        sweep.title().to_string()
    };
    let done = Done {
        shard: opts.shard,
        reuse: opts.reuse,
        collector: &collector,
        sweep: &sweep,
        time_src: &time_src,
        run: &run,
        elapsed,
        title: &title,
    };
    account(&done, &a.event, &a.check)
}
