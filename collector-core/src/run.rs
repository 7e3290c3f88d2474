//! The parallel store loop: run a worker over every job on a rayon pool and
//! store the results, deterministically.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::jobs::{Sample, format_inputs, job_inputs};
use crate::lineage::ResetPolicy;
use crate::result::{FailureKind, Outputs, RunStats, SweepResult};
use crate::sweep::{CatchPolicy, Sweep};

/// Progress of a run, reported after each batch of stored jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Jobs stored so far.
    pub done: usize,
    /// Jobs in the run.
    pub total: usize,
    /// Failures so far.
    pub failed: usize,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Options of the parallel store loop.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Worker threads; `None` uses rayon's global pool.
    pub threads: Option<usize>,
    /// Jobs per batch: a batch is computed in parallel, then stored in job
    /// order. `0` picks a size from the job count.
    pub batch: usize,
    /// The fewest jobs one pool task runs before another thread may take
    /// the rest of its share of a batch. `0` picks 128, which keeps jobs of
    /// microseconds cheap to schedule but leaves a batch of fewer than 256
    /// jobs to one thread. Set 1 when a job takes milliseconds or more (a
    /// child process, I/O): then every thread stays busy to the last job of
    /// a batch.
    pub min_jobs_per_task: usize,
    /// Called after each stored batch.
    pub progress: Option<ProgressFn>,
    /// What the run does to the sweep's history (used where a run is
    /// recorded: the facade's `ResultCollector::run`).
    pub history: HistoryOptions,
    /// Run regression detection ([`crate::regress::detect`]) over the
    /// sweep's history once this run's event has committed (used where a
    /// run is recorded: the facade's `ResultCollector::run`); `None` (the
    /// default) runs no check. The report does not fail the run: the
    /// caller decides what a blocking regression means. A run that fails,
    /// or adds no event, gets no check.
    pub regressions: Option<crate::regress::Options>,
}

/// What one run does to its sweep's history.
///
/// ```
/// use collector_core::{HistoryOptions, ResetPolicy, RunOptions};
/// let opts = RunOptions {
///     history: HistoryOptions {
///         max_time_events: Some(100),
///         reset_policy: Some(ResetPolicy::Error),
///         return_history: false,
///         ..HistoryOptions::default()
///     },
///     ..RunOptions::default()
/// };
/// assert!(!opts.history.clear_history);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryOptions {
    /// Keep at most N events: this run's, and the newest N - 1 others (by
    /// time order); the rest are deleted with the append. This run's event
    /// is always kept, even when its timestamp is older than the others'.
    /// `None` keeps every event.
    pub max_time_events: Option<usize>,
    /// Drop every stored event of this history first (a reported reset).
    pub clear_history: bool,
    /// The reset policy for this run; `None` uses the collector's.
    pub reset_policy: Option<ResetPolicy>,
    /// Whether the run report holds the whole history after the run. Off,
    /// a run costs the size of the run, not of its history; read the
    /// history on demand instead. Default on.
    pub return_history: bool,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions {
            max_time_events: None,
            clear_history: false,
            reset_policy: None,
            return_history: true,
        }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("threads", &self.threads)
            .field("batch", &self.batch)
            .field("min_jobs_per_task", &self.min_jobs_per_task)
            .field("progress", &self.progress.is_some())
            .field("history", &self.history)
            .field("regressions", &self.regressions)
            .finish()
    }
}

impl RunOptions {
    /// Options with a fixed number of threads.
    pub fn threads(n: usize) -> Self {
        RunOptions {
            threads: Some(n),
            ..RunOptions::default()
        }
    }
}

/// The fewest jobs per pool task when [`RunOptions::min_jobs_per_task`] is 0.
const DEFAULT_MIN_JOBS_PER_TASK: usize = 128;

#[allow(
    clippy::large_enum_variant,
    reason = "outputs are inline so that numeric results never allocate; boxing would add one allocation per job"
)]
enum Outcome {
    Done(Outputs),
    Failed(FailureKind, String),
}

/// Runs `worker` over every job of `result`'s sweep in parallel and stores
/// each result into `result`.
///
/// Jobs are computed in batches on the pool and stored in job order by one
/// thread, so the dataset (reference indices included) is the same for any
/// thread count. A worker error or panic is recorded under
/// [`CatchPolicy::Record`]; under [`CatchPolicy::FailFast`] the run stops
/// with [`Error::JobFailed`] after storing the rest of that batch, so no
/// finished result is lost. Contract violations are always recorded.
///
/// ```
/// use collector_core::{run_sweep, setup_dataset, InputVar, ResultVar, RunOptions, Sweep, TimeSrc};
/// let sweep = Sweep::builder("square")
///     .input(InputVar::int_range("n", 0, 9))
///     .result(ResultVar::float("sq"))
///     .build()?;
/// let mut result = setup_dataset(&sweep, &TimeSrc::now())?.result;
/// let stats = run_sweep(&mut result, &RunOptions::threads(2), |s| {
///     let n = s.get::<i64>("n")?;
///     Ok::<_, collector_core::Error>(s.outputs().with("sq", (n * n) as f64))
/// })?;
/// assert_eq!(stats.failed, 0);
/// let sq = result.dataset.column("sq")?.f64().unwrap();
/// assert_eq!(sq[[3, 0]], 9.0);
/// # Ok::<(), collector_core::Error>(())
/// ```
pub fn run_sweep<W, E>(result: &mut SweepResult, opts: &RunOptions, worker: W) -> Result<RunStats>
where
    W: Fn(&Sample<'_>) -> std::result::Result<Outputs, E> + Sync,
    E: Display,
{
    match opts.threads {
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| Error::ThreadPool(e.to_string()))?;
            pool.install(|| run_inner(result, opts, &worker))
        }
        None => run_inner(result, opts, &worker),
    }
}

fn run_inner<W, E>(result: &mut SweepResult, opts: &RunOptions, worker: &W) -> Result<RunStats>
where
    W: Fn(&Sample<'_>) -> std::result::Result<Outputs, E> + Sync,
    E: Display,
{
    let sweep: Arc<Sweep> = result.sweep_arc();
    let total = sweep.job_count();
    let batch = if opts.batch == 0 {
        (rayon::current_num_threads() * 64).clamp(64, 8192)
    } else {
        opts.batch
    };
    let min_len = if opts.min_jobs_per_task == 0 {
        DEFAULT_MIN_JOBS_PER_TASK
    } else {
        opts.min_jobs_per_task
    };
    let policy = sweep.catch_policy();
    let mut start = 0;
    while start < total {
        let end = start.saturating_add(batch).min(total);
        let outcomes: Vec<Outcome> = (start..end)
            .into_par_iter()
            // Jobs are often tiny: hand rayon runs of them, not single jobs.
            .with_min_len(min_len)
            .map(|job| {
                let sample = Sample::new(&sweep, job);
                match catch_unwind(AssertUnwindSafe(|| worker(&sample))) {
                    Ok(Ok(out)) => Outcome::Done(out),
                    Ok(Err(e)) => Outcome::Failed(FailureKind::Error, e.to_string()),
                    Err(payload) => Outcome::Failed(FailureKind::Panic, panic_message(&*payload)),
                }
            })
            .collect();
        let mut first_fatal: Option<(usize, String)> = None;
        {
            let mut w = result.writer();
            for (job, outcome) in (start..end).zip(outcomes) {
                match outcome {
                    Outcome::Done(out) => {
                        w.store(job, out);
                    }
                    Outcome::Failed(kind, msg) => {
                        if policy == CatchPolicy::FailFast && first_fatal.is_none() {
                            first_fatal = Some((job, format!("{kind:?}: {msg}")));
                        }
                        w.fail(job, kind, msg);
                    }
                }
            }
        }
        if let Some(p) = &opts.progress {
            p(Progress {
                done: end,
                total,
                failed: result.stats.failed,
            });
        }
        if let Some((job, message)) = first_fatal {
            return Err(Error::JobFailed {
                sweep: sweep.name().to_string(),
                job,
                inputs: format_inputs(&job_inputs(
                    &sweep,
                    &crate::jobs::unravel(job, sweep.shape()),
                )),
                message,
            });
        }
        start = end;
    }
    Ok(result.stats)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}
