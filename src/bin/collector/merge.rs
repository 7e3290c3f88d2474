//! `collector merge`: shard runs into one result and one history event.

use anyhow::{Context, Result, anyhow, bail};
use result_collector::{
    CacheDir, MergeOptions, ReportOptions, ResultCollector, RunOptions, TimeSrc,
};

use crate::cli::MergeArgs;
use crate::fmt::{plural, short};

pub fn merge(dir: &CacheDir, a: &MergeArgs, _quiet: bool, limit: Option<u64>) -> Result<Vec<u8>> {
    let into = a.into.as_ref().map_or_else(|| dir.clone(), CacheDir::new);
    let time_src = match (&a.label, &a.timestamp) {
        (Some(l), _) if l.trim().is_empty() => bail!("--label must not be empty"),
        (Some(l), _) => TimeSrc::Label(l.clone()),
        (None, Some(t)) => TimeSrc::parse_rfc3339(t).map_err(|e| anyhow!("--timestamp: {e}"))?,
        (None, None) => TimeSrc::now(),
    };
    let collector = crate::with_limit(ResultCollector::on(into), limit);
    let opts = MergeOptions {
        sweep: a.sweep.clone(),
        partial: a.partial,
        time_src,
        run: RunOptions {
            history: a.history.options(),
            regressions: a
                .check
                .then(result_collector::model::regress::Options::default),
            fail_on_regression: a.fail_on_regression,
            ..RunOptions::default()
        },
    };
    let merged = collector
        .merge(&a.dirs, &opts)
        .with_context(|| format!("merging into {}", collector.cache_dir().root().display()))?;
    let run = &merged.run;
    let mut out = result_collector::report::summary(&run.result.dataset);
    if !run.result.failures.is_empty() {
        out.push_str(&result_collector::report::failures_table(
            &run.result.failures,
        ));
    }
    out.push('\n');
    for (k, d) in &merged.shards {
        out.push_str(&format!("shard {k}: {}\n", d.display()));
    }
    if !merged.missing_shards.is_empty() {
        let missing: Vec<String> = merged.missing_shards.iter().map(u32::to_string).collect();
        out.push_str(&format!(
            "missing shard{}: {}\n",
            plural(missing.len()),
            missing.join(", "),
        ));
    }
    out.push_str(&empty_cells(run.result.sweep(), &merged.empty_jobs));
    out.push_str(&format!(
        "imported {} job record{} and {} file{}; stored result {} ({} failed)\n",
        merged.imported,
        plural(merged.imported),
        merged.copied_files,
        plural(merged.copied_files),
        short(&run.cache_key),
        run.result.stats.failed
    ));
    let history = match run.history.as_ref().and_then(|h| h.dataset.clone()) {
        Some(h) => Some(h),
        None => collector.history_of(&opts_sweep(&merged)?)?,
    };
    if let Some(update) = &run.history {
        out.push_str(&crate::fmt::append_notes(&update.append));
    }
    if let Some(report) = &run.regressions {
        out.push_str(&report.to_text());
    }
    if let Some(history) = history {
        let name = run.result.sweep().name().to_string();
        let report_path = a
            .report
            .clone()
            .unwrap_or_else(|| collector.cache_dir().report_path(&name));
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
                "collector merge",
                &page,
            )
            .with_context(|| format!("writing the report {}", report_path.display()))?;
        out.push_str(&format!(
            "history: {} event{} (history key {})\nreport: {}\n",
            history.shape().last().copied().unwrap_or(0),
            plural(history.shape().last().copied().unwrap_or(0)),
            short(&run.history_key),
            report_path.display()
        ));
    }
    Ok(out.into_bytes())
}

/// The merged sweep (for reading its history back).
fn opts_sweep(m: &result_collector::MergeReport) -> Result<result_collector::Sweep> {
    Ok(m.run.result.sweep().clone())
}

/// The most empty cells a merge lists by their inputs.
const LISTED_EMPTY: usize = 10;

/// The cells a partial merge left empty: how many, and the first ones by
/// their inputs.
fn empty_cells(sweep: &result_collector::Sweep, jobs: &[usize]) -> String {
    if jobs.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{} job{} left empty (no shard recorded {}):\n",
        jobs.len(),
        plural(jobs.len()),
        if jobs.len() == 1 { "it" } else { "them" }
    );
    for &j in jobs.iter().take(LISTED_EMPTY) {
        let inputs = result_collector::Sample::new(sweep, j).inputs();
        out.push_str(&format!(
            "  job {j}: {}\n",
            result_collector::model::format_inputs(&inputs)
        ));
    }
    if jobs.len() > LISTED_EMPTY {
        out.push_str(&format!("  … and {} more\n", jobs.len() - LISTED_EMPTY));
    }
    out
}
