//! The parallel store loop: run a worker over every job on a rayon pool and
//! store the results, deterministically.

use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::jobrec::{JobBatch, JobCounts, JobLog, RecordedOutcome, Reuse, Shard};
use crate::jobs::{Sample, format_inputs, job_inputs};
use crate::keys::{JobKey, JobKeyer};
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
#[derive(Clone)]
pub struct RunOptions {
    /// Worker threads; `None` uses rayon's global pool.
    pub threads: Option<usize>,
    /// Jobs per batch: a batch is computed in parallel, then stored in job
    /// order (and its jobs recorded in one write). `0` (the default)
    /// sizes batches by time: they start at two jobs a thread, grow while
    /// a batch takes under 20 ms and shrink past 80 ms, so a kill loses
    /// little work either way.
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
    /// Turn a blocking regression (not young) into an error
    /// (`Error::Regression` of the facade), after the result and the
    /// event are saved. Needs [`regressions`](Self::regressions).
    pub fail_on_regression: bool,
    /// Which recorded jobs the run takes instead of calling the worker
    /// (see [`Reuse`]; needs a job log: the facade's `ResultCollector::run`
    /// has one). Default [`Reuse::Off`].
    pub reuse: Reuse,
    /// Record every finished job (success with its cells, failure with
    /// its message, and the worker's wall time) where the run has a job
    /// log, one write per stored batch. Default on.
    pub record_jobs: bool,
    /// Run only this shard's jobs (see [`Shard`]); the others are left
    /// unattempted.
    pub shard: Option<Shard>,
    /// The most memory, in bytes, a run may need
    /// ([`Sweep::memory_bytes`]): a run over it is refused with
    /// [`Error::OverMemoryLimit`] before its dataset is allocated (use
    /// [`Sweep::check_memory`] before [`crate::setup_dataset`]). `None`
    /// (the default) leaves it to the caller: the facade's collector then
    /// applies its own limit, a fraction of physical memory. [`run_sweep`]
    /// is handed a dataset already allocated and checks nothing.
    pub memory_limit: Option<u64>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            threads: None,
            batch: 0,
            min_jobs_per_task: 0,
            progress: None,
            history: HistoryOptions::default(),
            regressions: None,
            fail_on_regression: false,
            reuse: Reuse::Off,
            record_jobs: true,
            shard: None,
            memory_limit: None,
        }
    }
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
            .field("fail_on_regression", &self.fail_on_regression)
            .field("reuse", &self.reuse)
            .field("record_jobs", &self.record_jobs)
            .field("shard", &self.shard)
            .field("memory_limit", &self.memory_limit)
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

    /// Options that run shard `k` of `n` (1-based: 1 ≤ k ≤ n, checked;
    /// dealt by the job key's hash, see [`Shard`]). The error names the
    /// bound that failed.
    ///
    /// ```
    /// use collector_core::{RunOptions, Reuse};
    /// let opts = RunOptions { reuse: Reuse::Resume, ..RunOptions::shard(2, 4)? };
    /// assert_eq!(opts.shard.map(|s| (s.k(), s.n())), Some((2, 4)));
    /// assert!(RunOptions::shard(0, 4).unwrap_err().contains("1-based"));
    /// assert!(RunOptions::shard(5, 4).is_err());
    /// # Ok::<(), String>(())
    /// ```
    pub fn shard(k: u32, n: u32) -> std::result::Result<Self, String> {
        Ok(RunOptions {
            shard: Some(Shard::new(k, n)?),
            ..RunOptions::default()
        })
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
    run_sweep_logged(result, opts, None, worker)?;
    Ok(result.stats)
}

/// [`run_sweep`] with a job log: every job that runs is recorded in
/// `log` (one [`JobLog::record`] per stored batch, after the batch is
/// stored; with `opts.record_jobs`), and `opts.reuse` takes recorded jobs
/// from it instead of calling the worker. `opts.shard` runs one shard's
/// jobs only. Returns what happened to the jobs.
///
/// A recorded success whose cells do not fit the result (another column
/// layout) is run again; a record that cannot be read is the log's to
/// report as absent.
pub fn run_sweep_logged<W, E>(
    result: &mut SweepResult,
    opts: &RunOptions,
    log: Option<&dyn JobLog>,
    worker: W,
) -> Result<JobCounts>
where
    W: Fn(&Sample<'_>) -> std::result::Result<Outputs, E> + Sync,
    E: Display,
{
    if log.is_none() && opts.reuse != Reuse::Off {
        return Err(Error::RunOptions {
            sweep: result.sweep().name().to_string(),
            message: format!(
                "reuse `{}` needs job records; run through a collector with a cache",
                opts.reuse.name()
            ),
        });
    }
    match opts.threads {
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| Error::ThreadPool(e.to_string()))?;
            pool.install(|| run_inner(result, opts, log, &worker))
        }
        None => run_inner(result, opts, log, &worker),
    }
}

/// The time an adaptive batch aims at (see `run_inner`).
const BATCH_TARGET: std::time::Duration = std::time::Duration::from_millis(20);
/// The largest adaptive batch.
const MAX_BATCH: usize = 65_536;

/// What the loop does with one job of a batch.
enum Plan {
    /// Call the worker (`true`: a recorded job run again).
    Run(bool),
    /// Take its record.
    Reuse(crate::jobrec::JobRecord),
    /// Leave it unattempted.
    Skip,
}

fn run_inner<W, E>(
    result: &mut SweepResult,
    opts: &RunOptions,
    log: Option<&dyn JobLog>,
    worker: &W,
) -> Result<JobCounts>
where
    W: Fn(&Sample<'_>) -> std::result::Result<Outputs, E> + Sync,
    E: Display,
{
    let sweep: Arc<Sweep> = result.sweep_arc();
    let total = sweep.job_count();
    // A fixed batch, or one sized by time: it starts at two jobs a thread
    // and doubles while a batch takes under BATCH_TARGET, halves past four
    // times it. A batch's time is its period: from the start of the
    // previous batch's record to the end of its own store, so that the
    // record of each batch counts in the size. Tiny jobs then go in large
    // batches (few writes of job records), and slow ones in small batches
    // (a kill loses at most a batch: a few jobs when each takes seconds).
    let adaptive = opts.batch == 0;
    let mut batch = if adaptive {
        (rayon::current_num_threads() * 2).clamp(2, MAX_BATCH)
    } else {
        opts.batch
    };
    let min_len = if opts.min_jobs_per_task == 0 {
        DEFAULT_MIN_JOBS_PER_TASK
    } else {
        opts.min_jobs_per_task
    };
    let policy = sweep.catch_policy();
    let record = log.filter(|_| opts.record_jobs);
    let keyer = (log.is_some() || opts.shard.is_some()).then(|| JobKeyer::new(&sweep));
    let timed = record.is_some();
    let log_err = |e: crate::jobrec::BoxError| Error::JobRecords {
        sweep: sweep.name().to_string(),
        message: e.to_string(),
    };
    // The keys of jobs `from..to`, into `out` (a buffer kept from batch
    // to batch).
    let key_batch = |from: usize, to: usize, out: &mut Vec<JobKey>| match &keyer {
        Some(k) => k.keys_into(&sweep, from..to, out),
        None => out.clear(),
    };
    let mut counts = JobCounts::default();
    let mut start = 0;
    // The keys of this batch, and of the next when they were computed
    // while this one's records were written (the write keeps one thread
    // busy; the keys take the others). Keys call no worker: a kill during
    // the write still loses at most the batch in flight.
    let mut keys: Vec<JobKey> = Vec::new();
    let mut next_keys: Vec<JobKey> = Vec::new();
    let mut next_range: Option<(usize, usize)> = None;
    // A batch's period: from the start of the previous batch's record to
    // the end of its own store.
    let mut period_started = std::time::Instant::now();
    // For the log, reused from batch to batch: the jobs that ran, their
    // keys and durations, the index of their failure in
    // `result.failures`, if any, and whether they replace a record.
    let mut ran_keys: Vec<JobKey> = Vec::new();
    let mut ran_jobs: Vec<usize> = Vec::new();
    let mut ran_ns: Vec<u64> = Vec::new();
    let mut ran_failure: Vec<Option<usize>> = Vec::new();
    let mut ran_replaces: Vec<Option<bool>> = Vec::new();
    // The batch's outcomes. This buffer, and those above, are kept from
    // batch to batch at the size of the largest (reserved once: growing
    // them as batches double copied them, and each batch's fresh buffers
    // were faulted in again, page by page).
    let mut outcomes: Vec<(Outcome, u64)> = Vec::new();
    let most = if adaptive { MAX_BATCH } else { batch }.min(total);
    outcomes.reserve_exact(most);
    if record.is_some() {
        ran_keys.reserve_exact(most);
        ran_jobs.reserve_exact(most);
        ran_ns.reserve_exact(most);
        ran_failure.reserve_exact(most);
        ran_replaces.reserve_exact(most);
    }
    while start < total {
        let end = start.saturating_add(batch).min(total);
        if next_range.take() == Some((start, end)) {
            std::mem::swap(&mut keys, &mut next_keys);
        } else {
            key_batch(start, end, &mut keys);
        }
        let mut plans = plan_batch(result, opts, log, start, end, &keys).map_err(log_err)?;
        let to_run: Vec<usize> = plans
            .iter()
            .enumerate()
            .filter_map(|(i, p)| matches!(p, Plan::Run(_)).then_some(start + i))
            .collect();
        to_run
            .par_iter()
            // Jobs are often tiny: hand rayon runs of them, not single jobs.
            .with_min_len(min_len)
            // A job's duration runs from the end of the job before it in
            // the same run of jobs (or the run's start) to its own end:
            // one clock read per job, not two (a clock read costs as much
            // as a trivial job). It includes the loop's own work between
            // two jobs, tens of nanoseconds.
            .map_init(
                || timed.then(std::time::Instant::now),
                |last, &job| {
                    let sample = Sample::new(&sweep, job);
                    let out = match catch_unwind(AssertUnwindSafe(|| worker(&sample))) {
                        Ok(Ok(out)) => Outcome::Done(out),
                        Ok(Err(e)) => Outcome::Failed(FailureKind::Error, e.to_string()),
                        Err(payload) => {
                            Outcome::Failed(FailureKind::Panic, panic_message(&*payload))
                        }
                    };
                    let ns = last.as_mut().map_or(0, |t| {
                        let now = std::time::Instant::now();
                        let ns = now.duration_since(*t).as_nanos();
                        *t = now;
                        u64::try_from(ns).unwrap_or(u64::MAX)
                    });
                    (out, ns)
                },
            )
            .collect_into_vec(&mut outcomes);
        let mut first_fatal: Option<(usize, String)> = None;
        ran_keys.clear();
        ran_jobs.clear();
        ran_ns.clear();
        ran_failure.clear();
        ran_replaces.clear();
        let looked = log.is_some() && opts.reuse != Reuse::Off;
        let ran = to_run.len();
        // While this thread stores the batch, another lets the log get
        // ready for its records (an idle core otherwise: the store is
        // serial).
        let mut store = || {
            let mut outcomes = outcomes.drain(..);
            let failures_before = result.failures.len();
            let mut w = result.writer();
            let mut n_failures = failures_before;
            for (i, plan) in plans.iter_mut().enumerate() {
                let job = start + i;
                // Whether the job failed, and the message that stops a
                // fail-fast run (a contract violation is recorded, never
                // fatal).
                let (failed, fatal) = match std::mem::replace(plan, Plan::Skip) {
                    Plan::Skip => {
                        counts.skipped += 1;
                        continue;
                    }
                    Plan::Reuse(rec) => {
                        counts.reused += 1;
                        match rec.outcome {
                            RecordedOutcome::Done(cells) => {
                                if w.restore(job, &cells) {
                                    continue;
                                }
                                // The plan checked the fit: not reached.
                                let m = "the job record does not fit the result".to_string();
                                w.fail(job, FailureKind::Contract, m);
                                (true, None)
                            }
                            RecordedOutcome::Failed { kind, message } => {
                                let m = format!("{kind:?}: {message}");
                                w.fail(job, kind, message);
                                (true, Some(m))
                            }
                        }
                    }
                    Plan::Run(again) => {
                        if again {
                            counts.rerun += 1;
                        } else {
                            counts.new += 1;
                        }
                        let Some((outcome, ns)) = outcomes.next() else {
                            continue;
                        };
                        let (failed, fatal) = match outcome {
                            Outcome::Done(out) => (w.store(job, out), None),
                            Outcome::Failed(kind, msg) => {
                                let m = format!("{kind:?}: {msg}");
                                w.fail(job, kind, msg);
                                (true, Some(m))
                            }
                        };
                        if record.is_some() {
                            if let Some(k) = keys.get(i) {
                                ran_keys.push(*k);
                            }
                            ran_jobs.push(job);
                            ran_ns.push(ns);
                            ran_failure.push(failed.then_some(n_failures));
                            ran_replaces.push(looked.then_some(again));
                        }
                        (failed, fatal)
                    }
                };
                if failed {
                    n_failures += 1;
                }
                if let Some(m) = fatal
                    && policy == CatchPolicy::FailFast
                    && first_fatal.is_none()
                {
                    first_fatal = Some((job, m));
                }
            }
        };
        match record {
            Some(log) if ran > 0 => {
                rayon::join(store, || log.prepare(ran));
            }
            _ => store(),
        }
        // The next batch, sized by this one's period.
        if adaptive {
            let took = period_started.elapsed();
            if took < BATCH_TARGET {
                batch = (batch * 2).min(MAX_BATCH);
            } else if took > BATCH_TARGET * 4 {
                batch = (batch / 2).max(1);
            }
        }
        period_started = std::time::Instant::now();
        if let Some(log) = record
            && !ran_jobs.is_empty()
        {
            let failures: Vec<_> = ran_failure
                .iter()
                .map(|f| {
                    f.and_then(|at| result.failures.get(at))
                        .map(|x| (x.kind, x.message.as_str()))
                })
                .collect();
            let ran = JobBatch {
                keys: &ran_keys,
                jobs: &ran_jobs,
                durations: &ran_ns,
                failures: &failures,
                replaces: &ran_replaces,
                columns: crate::jobrec::BatchColumn::of(&result.dataset),
            };
            let next = (end, end.saturating_add(batch).min(total));
            if next.0 < next.1 && keyer.is_some() {
                let (recorded, ()) = rayon::join(
                    || log.record(&ran),
                    || key_batch(next.0, next.1, &mut next_keys),
                );
                next_range = Some(next);
                recorded.map_err(log_err)?;
            } else {
                log.record(&ran).map_err(log_err)?;
            }
            counts.recorded += ran_jobs.len();
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
    Ok(counts)
}

/// Decides what happens to each job of the batch `start..end`: the
/// shard's jobs, and under reuse the log's records.
fn plan_batch(
    result: &SweepResult,
    opts: &RunOptions,
    log: Option<&dyn JobLog>,
    start: usize,
    end: usize,
    keys: &[JobKey],
) -> std::result::Result<Vec<Plan>, crate::jobrec::BoxError> {
    let in_shard = |i: usize| match (opts.shard, keys.get(i)) {
        (Some(s), Some(k)) => s.takes(start + i, k),
        _ => true,
    };
    let mut plans: Vec<Plan> = (0..end - start)
        .map(|i| {
            if in_shard(i) {
                Plan::Run(false)
            } else {
                Plan::Skip
            }
        })
        .collect();
    let Some(log) = log.filter(|_| opts.reuse != Reuse::Off) else {
        return Ok(plans);
    };
    let asked: Vec<usize> = (0..plans.len())
        .filter(|&i| matches!(plans[i], Plan::Run(_)))
        .collect();
    let wanted: Vec<JobKey> = asked.iter().filter_map(|&i| keys.get(i).copied()).collect();
    let found = log.lookup(&wanted)?;
    for (&i, rec) in asked.iter().zip(found) {
        plans[i] = match (opts.reuse, rec) {
            (Reuse::Off, _) => Plan::Run(false),
            (Reuse::Replay, Some(r)) if result.record_fits(&r) => Plan::Reuse(r),
            (Reuse::Replay, _) => Plan::Skip,
            (_, Some(r)) if r.is_done() && result.record_fits(&r) => Plan::Reuse(r),
            (_, Some(_)) => Plan::Run(true),
            (Reuse::Resume, None) => Plan::Run(false),
            (_, None) => Plan::Skip,
        };
    }
    Ok(plans)
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
