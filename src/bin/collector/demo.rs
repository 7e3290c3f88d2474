//! `collector demo`: the built-in sweep, with a progress bar.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use result_collector::model::Progress;
use result_collector::{CacheDir, ResultCollector, demo};

use crate::cli::DemoArgs;
use crate::run::{Done, account, progress_bar, run_options, time_src};

pub fn demo(
    dir: CacheDir,
    a: &DemoArgs,
    quiet: bool,
    limit: Option<u64>,
) -> Result<(Vec<u8>, ExitCode)> {
    let sweep = demo::sweep_at(a.event.code_version.as_deref().unwrap_or(""))
        .context("declaring the demo sweep")?;
    let time_src = time_src(&a.event)?;
    let collector = crate::with_limit(ResultCollector::on(dir), limit).use_cache(a.event.use_cache);
    sweep.check_memory(collector.memory_limit_bytes())?;
    let media = collector.media_root()?;

    let bar = progress_bar(sweep.name(), sweep.job_count(), quiet)?;
    let progress_bar = bar.clone();
    let mut opts = run_options(&a.event, a.threads.map(|n| n as usize), &a.check, &a.jobs);
    opts.progress = Some(Arc::new(move |p: Progress| {
        progress_bar.set_length(p.total as u64);
        progress_bar.set_position(p.done as u64);
        progress_bar.set_message(format!("{} failed", p.failed));
    }));
    let started = Instant::now();
    let run = collector.run(&sweep, &time_src, &opts, |s| demo::job(&sweep, &media, s));
    bar.finish_and_clear();
    let run = run.context("running the demo sweep")?;
    let done = Done {
        shard: opts.shard,
        reuse: opts.reuse,
        collector: &collector,
        sweep: &sweep,
        time_src: &time_src,
        run: &run,
        elapsed: started.elapsed(),
        title: "collector demo",
    };
    account(&done, &a.event, &a.check)
}
