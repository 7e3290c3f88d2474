//! `collector demo`: the built-in sweep, with a progress bar.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use result_collector::model::HistoryOptions;
use result_collector::model::{OVER_TIME_DIM, Progress};
use result_collector::{CacheDir, ReportOptions, ResultCollector, RunOptions, TimeSrc, demo};

use crate::cli::DemoArgs;
use crate::fmt::{plural, short};

/// A progress bar on stderr when it is a terminal (hidden otherwise).
fn progress_bar(name: &str, total: usize, quiet: bool) -> Result<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return Ok(indicatif::ProgressBar::hidden());
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} jobs, {per_sec}, {msg}",
        )
        .map_err(|e| anyhow!("progress bar template: {e}"))?,
    );
    bar.set_prefix(name.to_string());
    bar.set_message("0 failed");
    bar.enable_steady_tick(Duration::from_millis(120));
    Ok(bar)
}

pub fn demo(dir: CacheDir, a: &DemoArgs, quiet: bool) -> Result<Vec<u8>> {
    let sweep = demo::sweep_at(a.code_version.as_deref().unwrap_or(""))
        .context("declaring the demo sweep")?;
    let time_src = match (&a.label, &a.timestamp) {
        (Some(l), _) if l.trim().is_empty() => bail!("--label must not be empty"),
        (Some(l), _) => TimeSrc::Label(l.clone()),
        (None, Some(t)) => TimeSrc::parse_rfc3339(t).map_err(|e| anyhow!("--timestamp: {e}"))?,
        (None, None) => TimeSrc::now(),
    };
    let collector = ResultCollector::on(dir).use_cache(a.use_cache);
    let media = collector.media_root()?;

    let bar = progress_bar(sweep.name(), sweep.job_count(), quiet)?;
    let progress_bar = bar.clone();
    let opts = RunOptions {
        threads: a.threads.map(|n| n as usize),
        batch: 0,
        progress: Some(Arc::new(move |p: Progress| {
            progress_bar.set_length(p.total as u64);
            progress_bar.set_position(p.done as u64);
            progress_bar.set_message(format!("{} failed", p.failed));
        })),
        history: HistoryOptions {
            max_time_events: a.max_time_events.map(|n| n as usize),
            clear_history: a.clear_history,
            reset_policy: Some(a.reset_policy),
            // The report below needs the whole history.
            return_history: true,
        },
        regressions: a
            .check
            .then(result_collector::model::regress::Options::default),
        fail_on_regression: a.fail_on_regression,
        reuse: a.jobs.reuse(),
        shard: a.jobs.shard(),
        ..RunOptions::default()
    };
    let shard_note = opts.shard.map(|s| {
        format!(
            "shard {s} holds {} of the {} jobs\n",
            result_collector::shard_size(&sweep, s),
            sweep.job_count()
        )
    });
    let started = Instant::now();
    let run = collector.run(&sweep, &time_src, &opts, |s| demo::job(&sweep, &media, s));
    bar.finish_and_clear();
    let run = run.context("running the demo sweep")?;
    let elapsed = started.elapsed();

    if run.no_event == Some(result_collector::NoEvent::Shard) {
        let mut out = shard_note.unwrap_or_default();
        out.push_str(&format!(
            "ran {} jobs in {:.2} s ({} failed; {}); wrote their job records and the shard manifest in {}\n",
            run.jobs.ran(),
            elapsed.as_secs_f64(),
            run.result.stats.failed,
            run.jobs,
            collector.cache_dir().root().display()
        ));
        out.push_str(
            "no history event: merge the shards with `collector merge DIR... --into DIR`\n",
        );
        return Ok(out.into_bytes());
    }
    let mut out = result_collector::report::summary(&run.result.dataset);
    if !run.result.failures.is_empty() {
        out.push_str(&result_collector::report::failures_table(
            &run.result.failures,
        ));
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
        if run.jobs.reused > 0 || run.jobs.skipped > 0 || a.jobs.resume || a.jobs.retry_failed {
            out.push_str(&format!("jobs: {}\n", run.jobs));
        }
    }
    let stored = match &run.history {
        Some(update) => {
            out.push_str(&crate::fmt::append_notes(&update.append));
            update.dataset.clone()
        }
        None => None,
    };
    let history = match stored {
        Some(h) => h,
        None => collector
            .history_of(&sweep)?
            .ok_or_else(|| anyhow!("the demo sweep keeps history, but none is stored"))?,
    };
    let events = history.dim(OVER_TIME_DIM).map(|d| d.len()).unwrap_or(0);
    let replaced = run.history.as_ref().and_then(|h| h.append.replaced);
    let at = match &time_src {
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
    if a.check {
        match &run.regressions {
            Some(report) => out.push_str(&report.to_text()),
            None => out.push_str("regression check: not run (this run added no history event)\n"),
        }
    }
    let report_path = a
        .report
        .clone()
        .unwrap_or_else(|| collector.cache_dir().report_path(sweep.name()));
    // With --check, the page marks what the check found.
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
            "collector demo",
            &page,
        )
        .with_context(|| format!("writing the report {}", report_path.display()))?;
    out.push_str(&format!("report: {}\n", report_path.display()));
    Ok(out.into_bytes())
}
