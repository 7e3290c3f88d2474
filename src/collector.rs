//! [`ResultCollector`]: the array model, the cache, history and media, in
//! the right order.

use std::fmt::Display;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use std::collections::{BTreeMap, BTreeSet, HashSet};

use collector_cache::{AppendOptions, AppendOutcome, CacheDb, CacheOptions, ResetPolicy};
use collector_core::regress::RegressionReport;
use collector_core::{
    Dataset, Direction, HistoryOptions, JobCounts, OVER_TIME_DIM, Outputs, RunOptions, Sample,
    Sweep, SweepResult, TimeSrc, cache_key, history_key,
};
use collector_media::{DeletionReport, MediaRoot, PendingDeletion};

use crate::{CacheDir, Result};

/// What one run did to the sweep's history.
#[derive(Debug)]
pub struct HistoryUpdate {
    /// The whole history after the run, `over_time` last; `None` when the
    /// run was asked not to return it (`HistoryOptions::return_history`):
    /// read it on demand with [`ResultCollector::history_of`].
    pub dataset: Option<Dataset>,
    /// What the append did (new event, trimming, aging, a reset).
    pub append: AppendOutcome,
    /// The media files deleted after the append committed.
    pub deletion: DeletionReport,
}

/// The outcome of [`ResultCollector::run`].
#[derive(Debug)]
pub struct RunReport {
    /// This run's result (from the cache on a hit; reference cells are -1 then).
    pub result: SweepResult,
    /// Whether the result came from the cache.
    pub cache_hit: bool,
    /// The cache key of the sweep.
    pub cache_key: String,
    /// The history key of the sweep.
    pub history_key: String,
    /// The history after this run, when this run added an event.
    pub history: Option<HistoryUpdate>,
    /// Why this run added no history event, when it did not.
    pub no_event: Option<NoEvent>,
    /// The regression check of this run's event against the history
    /// before it, when `RunOptions::regressions` asked for one and
    /// this run added an event. A blocking regression
    /// ([`RegressionReport::has_blocking`]) does not fail the run: the
    /// caller decides.
    pub regressions: Option<RegressionReport>,
    /// What the run did with each job: reused from its record, rerun,
    /// new, or skipped (another shard's; no record under a replay).
    pub jobs: JobCounts,
}

/// Why a run added no history event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoEvent {
    /// The sweep does not keep history (`over_time` is off).
    NoHistory,
    /// The result came from the cache: no job ran, so there is nothing new
    /// to record (an event of the cached values under a new label would
    /// pass old numbers off as new ones).
    CacheHit,
    /// The run was one shard of a sharded run: it wrote job records and a
    /// shard manifest; the merge adds the event.
    Shard,
}

impl std::fmt::Display for NoEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoEvent::NoHistory => "the sweep keeps no history (over_time is off)",
            NoEvent::CacheHit => {
                "the result came from the cache and no job ran; run without use_cache (CLI --use-cache) to record a new event"
            }
            NoEvent::Shard => {
                "this run was one shard: it wrote job records and a shard manifest; `collector merge` adds the event"
            }
        })
    }
}

/// The composed collector: runs sweeps, caches their results, keeps their
/// history and deletes the media files history stops naming, in the right
/// order (a file goes only after the write that stops naming it has
/// committed).
///
/// All methods take `&self`: a collector can be shared across threads.
/// The cache database opens on first use and stays open;
/// [`close_caches`](Self::close_caches) closes it (idempotent) and a later
/// call reopens it; dropping the collector closes it.
#[derive(Debug)]
pub struct ResultCollector {
    pub(crate) dir: CacheDir,
    options: CacheOptions,
    pub(crate) reset_policy: ResetPolicy,
    use_cache: bool,
    memory_limit: Option<u64>,
    db: Mutex<Option<Arc<CacheDb>>>,
}

impl ResultCollector {
    /// A collector on `cache_dir`, or on `$RESULT_COLLECTOR_CACHE_DIR`, or
    /// on `./cachedir` (see [`CacheDir::resolve`]). Nothing is opened yet.
    pub fn new(cache_dir: Option<&Path>) -> Self {
        Self::on(CacheDir::resolve(cache_dir))
    }

    /// A collector on `dir`. Nothing is opened yet.
    pub fn on(dir: CacheDir) -> Self {
        ResultCollector {
            dir,
            options: CacheOptions::default(),
            reset_policy: ResetPolicy::Warn,
            use_cache: false,
            memory_limit: None,
            db: Mutex::new(None),
        }
    }

    /// A collector on an existing cache: [`Error::NoCache`](crate::Error::NoCache)
    /// when `dir` holds none. For inspection, which must never create a cache.
    pub fn open_existing(dir: CacheDir) -> Result<Self> {
        if !dir.has_cache() {
            return Err(crate::Error::NoCache {
                dir: dir.root().to_path_buf(),
            });
        }
        let c = Self::on(dir);
        c.cache()?;
        Ok(c)
    }

    /// Bounds the stored results to `bytes` (least recently stored evicted
    /// first; history is never evicted).
    pub fn cache_size(mut self, bytes: u64) -> Self {
        self.options.cache_size = Some(bytes);
        self
    }

    /// Bytes of stored blocks the cache keeps in memory for reads
    /// (default [`collector_cache::DEFAULT_BLOCK_CACHE_BYTES`]); a history
    /// read often should fit.
    pub fn block_cache_bytes(mut self, bytes: usize) -> Self {
        self.options.block_cache_bytes = Some(bytes);
        self
    }

    /// What to do when a run does not fit its stored history.
    pub fn reset_policy(mut self, policy: ResetPolicy) -> Self {
        self.reset_policy = policy;
        self
    }

    /// Whether [`run`](Self::run) takes a complete cached result as a hit
    /// instead of running the jobs. Off by default: a benchmark tracked over
    /// time must measure every run. Results are stored either way, and a
    /// hit adds no history event ([`RunReport::no_event`] says so).
    pub fn use_cache(mut self, on: bool) -> Self {
        self.use_cache = on;
        self
    }

    /// The most memory, in bytes, a run or a history load may need: a
    /// run whose dataset would need more ([`Sweep::memory_bytes`]), or a
    /// history whose events would, is refused before anything is
    /// allocated ([`collector_core::Error::OverMemoryLimit`]).
    /// [`RunOptions::memory_limit`] overrides it for one run. Default:
    /// [`default_memory_limit`](crate::default_memory_limit), a half of
    /// physical memory.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// The memory limit in force (see [`memory_limit`](Self::memory_limit)).
    pub fn memory_limit_bytes(&self) -> u64 {
        self.memory_limit
            .unwrap_or_else(crate::memory::default_memory_limit)
    }

    /// Refuses to load the history `key` when its events would need more
    /// memory than `limit` (`extra` more events: the one a run appends;
    /// at most `max_events` when a run trims it). A history whose
    /// metadata holds no identity (its grid is unknown) passes.
    pub(crate) fn check_history_memory(
        &self,
        db: &CacheDb,
        key: &str,
        extra: u64,
        max_events: Option<usize>,
        limit: u64,
    ) -> Result<()> {
        let Some(info) = db.history_info(key)? else {
            return Ok(());
        };
        let Some(identity) = &info.identity else {
            return Ok(());
        };
        let per_event = identity
            .inputs
            .iter()
            .try_fold(identity.repeats, |acc, i| {
                acc.checked_mul(i.values.len() as u64)
            })
            .unwrap_or(u64::MAX);
        let events = (info.events.len() as u64)
            .saturating_add(extra)
            .min(max_events.map_or(u64::MAX, |m| m as u64));
        let bytes = collector_core::cells_memory_bytes(
            per_event.saturating_mul(events),
            info.columns.iter().map(|c| c.kind.storage()),
        );
        if bytes > limit {
            return Err(collector_core::Error::OverMemoryLimit {
                sweep: info.sweep.clone(),
                what: format!(
                    "loading its history {key} ({events} events of {per_event} cells, {} columns)",
                    info.columns.len()
                ),
                bytes,
                limit,
            }
            .into());
        }
        Ok(())
    }

    /// The cache directory and its layout.
    pub fn cache_dir(&self) -> &CacheDir {
        &self.dir
    }

    /// The cache database, opened on first use and reused; refused when
    /// the cache directory, `db/` or `media/` is a symbolic link
    /// ([`CacheDir::check_links`]).
    pub fn cache(&self) -> Result<Arc<CacheDb>> {
        let mut slot = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(db) = slot.as_ref() {
            return Ok(Arc::clone(db));
        }
        self.dir.check_links()?;
        let db = Arc::new(CacheDb::open(&self.dir.db(), self.options.clone())?);
        *slot = Some(Arc::clone(&db));
        Ok(db)
    }

    /// Closes the cache database. Safe to call any number of times; the
    /// next use reopens it. A handle returned by [`cache`](Self::cache) and
    /// still held elsewhere keeps the database open until it is dropped.
    pub fn close_caches(&self) {
        self.db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// The media root, `<cache dir>/media`, created when missing; refused
    /// when the cache directory or `media/` is a symbolic link
    /// ([`CacheDir::check_links`]).
    pub fn media_root(&self) -> Result<MediaRoot> {
        self.dir.check_links()?;
        Ok(MediaRoot::new(self.dir.media())?)
    }

    /// Runs a whole sweep: the worker runs over every job in parallel and
    /// the result is cached (as incomplete when jobs failed); with history
    /// on, the run becomes a new event. With [`use_cache`](Self::use_cache),
    /// a complete cached result is a hit instead: the worker is not called
    /// and no event is added.
    ///
    /// History (`opts.history`, see [`HistoryOptions`]):
    /// - Before any job runs, the history is asked whether it would refuse
    ///   the event under [`ResetPolicy::Error`] (the sweep's inputs,
    ///   constants, tag or repeats changed since its last run; a result
    ///   column changed kind, units or meaning version; the event does
    ///   not fit). Then nothing at all is written or deleted.
    /// - A run that stops early (fail-fast) or crosses its
    ///   `fail_on_sample_error` threshold adds no event; its result is
    ///   stored as incomplete and [`Error::RunFailed`](crate::Error::RunFailed)
    ///   says so.
    /// - An event whose label or timestamp equals a stored one replaces it
    ///   (rerunning a commit updates its point); events stay in time order.
    /// - `max_time_events` and `clear_history` trim or clear in the same
    ///   write as the new event.
    ///
    /// Regressions (`opts.regressions`, see
    /// [`collector_core::regress::Options`]): once the event has committed,
    /// the history (this run's event the current one) goes through
    /// [`collector_core::regress::detect`] with the directions of the
    /// sweep's result variables and each column's birth from the history's
    /// metadata; the report is [`RunReport::regressions`]. A blocking
    /// regression does **not** fail the run: the caller decides (for
    /// example with [`RegressionReport::has_blocking`]). A run that fails,
    /// or adds no event (a cache hit, no `over_time`), gets no check.
    pub fn run<W, E>(
        &self,
        sweep: &Sweep,
        time_src: &TimeSrc,
        opts: &RunOptions,
        worker: W,
    ) -> Result<RunReport>
    where
        W: Fn(&Sample<'_>) -> std::result::Result<Outputs, E> + Sync,
        E: Display,
    {
        self.run_with(sweep, time_src, opts, self.use_cache, worker)
    }

    /// [`run`](Self::run), reading the cache or not whatever the
    /// collector's setting (a merge never takes a hit).
    pub(crate) fn run_with<W, E>(
        &self,
        sweep: &Sweep,
        time_src: &TimeSrc,
        opts: &RunOptions,
        use_cache: bool,
        worker: W,
    ) -> Result<RunReport>
    where
        W: Fn(&Sample<'_>) -> std::result::Result<Outputs, E> + Sync,
        E: Display,
    {
        // Before anything is opened or allocated: a run too large for
        // memory is an error, never an allocation abort.
        let limit = opts
            .memory_limit
            .unwrap_or_else(|| self.memory_limit_bytes());
        sweep.check_memory(limit)?;
        let key = cache_key(sweep);
        let hkey = history_key(sweep);
        let db = self.cache()?;
        // A run that returns (or checks) its history loads it after the
        // append: refused now, before any job runs, when it cannot.
        if opts.shard.is_none()
            && sweep.over_time()
            && (opts.history.return_history || opts.regressions.is_some())
            && !opts.history.clear_history
        {
            self.check_history_memory(&db, &hkey, 1, opts.history.max_time_events, limit)?;
        }
        if let Some(shard) = opts.shard {
            return self.run_shard(&db, sweep, time_src, opts, shard, key, hkey, worker);
        }
        if use_cache && let Some(stored) = db.get_complete_result(&key)? {
            tracing::info!(sweep = sweep.name(), key = %key, "cache hit");
            return Ok(RunReport {
                result: from_stored(sweep, time_src, stored)?,
                cache_hit: true,
                cache_key: key,
                history_key: hkey,
                history: None,
                no_event: Some(if sweep.over_time() {
                    NoEvent::CacheHit
                } else {
                    NoEvent::NoHistory
                }),
                regressions: None,
                jobs: JobCounts::default(),
            });
        }
        let mut result = collector_core::setup_dataset(sweep, time_src)?.result;
        let append = self.append_options(sweep, &opts.history);
        // Only the error policy refuses an append: then it is asked first,
        // so that a refusal writes nothing (not even the result).
        if sweep.over_time() && append.reset_policy == ResetPolicy::Error {
            db.check_append(&hkey, &result.dataset, &append)?;
        }
        let log = db.job_log(sweep)?;
        let ran = collector_core::run_sweep_logged(&mut result, opts, Some(&log), worker);
        // The last records out of memory before the result is stored, and
        // the result's before the history event is (they are safe in the
        // log either way: a failure only keeps them in memory).
        let settle = || {
            if let Err(e) = db.settle() {
                tracing::warn!(sweep = sweep.name(), error = %e, "memtables not flushed");
            }
        };
        settle();
        let (jobs, stopped) = match ran {
            Ok(c) => (c, None),
            Err(e) => (JobCounts::default(), Some(e)),
        };
        // Saved even when the run failed: nothing is lost, and an
        // incomplete result is never taken for a hit.
        if let Err(store) = db.put_result(&key, sweep.name(), &result) {
            return Err(match stopped {
                Some(stopped) => crate::Error::NotStored {
                    stopped: Box::new(stopped),
                    store: Box::new(store),
                },
                None => store.into(),
            });
        }
        if let Some(source) = stopped.or_else(|| result.check_failures().err()) {
            return Err(crate::Error::RunFailed {
                source,
                cache_key: key,
                over_time: sweep.over_time(),
            });
        }
        let history = if sweep.over_time() {
            settle();
            Some(self.append_history(
                &db,
                &hkey,
                &result.dataset,
                &append,
                opts.history.return_history,
            )?)
        } else {
            None
        };
        let regressions = match (&opts.regressions, &history) {
            (Some(ropts), Some(update)) => {
                Some(self.check_regressions(&db, sweep, &hkey, update, ropts)?)
            }
            _ => None,
        };
        if opts.fail_on_regression
            && let Some(r) = regressions.as_ref().filter(|r| r.has_blocking())
        {
            return Err(crate::Error::Regression {
                sweep: sweep.name().to_string(),
                count: r.series.iter().filter(|f| !f.young).count(),
                report: r.to_text(),
            });
        }
        Ok(RunReport {
            result,
            cache_hit: false,
            cache_key: key,
            history_key: hkey,
            no_event: history.is_none().then_some(NoEvent::NoHistory),
            history,
            regressions,
            jobs,
        })
    }

    /// One shard of a run: its jobs, recorded, and the shard's manifest.
    /// No result is stored and no event appended: the merge does both.
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of run() a shard needs"
    )]
    fn run_shard<W, E>(
        &self,
        db: &CacheDb,
        sweep: &Sweep,
        time_src: &TimeSrc,
        opts: &RunOptions,
        shard: collector_core::Shard,
        key: String,
        hkey: String,
        worker: W,
    ) -> Result<RunReport>
    where
        W: Fn(&Sample<'_>) -> std::result::Result<Outputs, E> + Sync,
        E: Display,
    {
        if !opts.record_jobs {
            return Err(crate::Error::Model(collector_core::Error::RunOptions {
                sweep: sweep.name().to_string(),
                message: format!("shard {shard} needs job records: record_jobs is off"),
            }));
        }
        let mut result = collector_core::setup_dataset(sweep, time_src)?.result;
        let log = db.job_log(sweep)?;
        let jobs = collector_core::run_sweep_logged(&mut result, opts, Some(&log), worker)?;
        db.put_shard_manifest(&crate::shards::manifest(sweep, shard, &jobs, &result))?;
        // The records and the manifest are saved: a crossed threshold
        // fails the shard now, and the merge sees its failures.
        result.check_failures()?;
        Ok(RunReport {
            result,
            cache_hit: false,
            cache_key: key,
            history_key: hkey,
            history: None,
            no_event: Some(NoEvent::Shard),
            regressions: None,
            jobs,
        })
    }

    /// Runs the regression detector over the history `key` just appended
    /// to: the directions of `sweep`'s result variables, the births of the
    /// history's columns.
    fn check_regressions(
        &self,
        db: &CacheDb,
        sweep: &Sweep,
        key: &str,
        update: &HistoryUpdate,
        opts: &collector_core::regress::Options,
    ) -> Result<RegressionReport> {
        let loaded;
        let history = match &update.dataset {
            Some(ds) => ds,
            None => {
                loaded = db.load_history(key)?;
                match &loaded {
                    Some(ds) => ds,
                    // Not reachable after a committed append; an empty
                    // history has nothing to judge.
                    None => {
                        return Ok(collector_core::regress::detect(
                            &Dataset::default(),
                            &BTreeMap::new(),
                            &BTreeMap::new(),
                            opts,
                        ));
                    }
                }
            }
        };
        let directions = directions_of(sweep);
        let births = match db.history_info(key)? {
            Some(info) => births_of(&info),
            None => BTreeMap::new(),
        };
        Ok(collector_core::regress::detect(
            history,
            &directions,
            &births,
            opts,
        ))
    }

    /// The append options of one run of `sweep`: what the sweep declares,
    /// with this run's history options.
    fn append_options(&self, sweep: &Sweep, h: &HistoryOptions) -> AppendOptions {
        AppendOptions {
            clear_history: h.clear_history,
            max_time_events: h.max_time_events,
            reset_policy: h.reset_policy.unwrap_or(self.reset_policy),
            ..AppendOptions::for_sweep(sweep)
        }
    }

    /// The stored history of `sweep`, `over_time` last; `None` when it has
    /// none.
    pub fn history_of(&self, sweep: &Sweep) -> Result<Option<Dataset>> {
        let db = self.cache()?;
        let key = history_key(sweep);
        self.check_history_memory(&db, &key, 0, None, self.memory_limit_bytes())?;
        Ok(db.load_history(&key)?)
    }

    /// Appends `event` (one run, `over_time` last) to the history `key`,
    /// then deletes the media files the committed batch stopped naming and
    /// no stored record names any more. Loads the whole history back when
    /// `load` is set.
    pub(crate) fn append_history(
        &self,
        db: &CacheDb,
        key: &str,
        event: &Dataset,
        options: &AppendOptions,
        load: bool,
    ) -> Result<HistoryUpdate> {
        let append = db.append_event(key, event, options)?;
        // The batch has committed: only now may files go.
        let deletion = self.delete_released(db, &append.released_files)?;
        let dataset = if load { db.load_history(key)? } else { None };
        Ok(HistoryUpdate {
            dataset,
            append,
            deletion,
        })
    }

    /// Deletes the files in `released` that no stored record (history
    /// event or result, of any sweep) names any more. The one place that
    /// decides whether a file may go: call it only after the write that
    /// stopped naming them has committed. When a record cannot be read,
    /// nothing is deleted (it may name any file). Deletion is confined to
    /// the media root.
    pub(crate) fn delete_released(
        &self,
        db: &CacheDb,
        released: &[String],
    ) -> Result<DeletionReport> {
        // The media root is created on every history append, files or not.
        let root = self.media_root()?;
        if released.is_empty() {
            return Ok(DeletionReport::default());
        }
        let candidates: BTreeSet<String> = released.iter().cloned().collect();
        let still = db.files_still_named(&candidates)?;
        if !still.unreadable.is_empty() {
            tracing::warn!(unreadable = ?still.unreadable,
                "records could not be read; keeping every released file");
            return Ok(DeletionReport::default());
        }
        let live: HashSet<String> = still.named.into_iter().collect();
        Ok(PendingDeletion::from_paths(released.iter().cloned()).execute(&root, &live))
    }
}

/// The direction of each of `sweep`'s result variables, by variable name
/// (the detector applies it to every column of a vec result).
pub(crate) fn directions_of(sweep: &Sweep) -> BTreeMap<String, Direction> {
    sweep
        .results()
        .iter()
        .map(|r| (r.name().to_string(), r.direction_value()))
        .collect()
}

/// Each column's birth as an index into the history's live events (time
/// order), when its born event is still live; a column born at an event
/// since trimmed away is left to the detector (its first value).
pub(crate) fn births_of(info: &collector_cache::HistoryInfo) -> BTreeMap<String, usize> {
    info.columns
        .iter()
        .filter_map(|c| {
            info.events
                .iter()
                .position(|e| e.seq == c.born_seq)
                .map(|i| (c.name.clone(), i))
        })
        .collect()
}

/// A cached result as this run's result: the `over_time` coordinate is
/// this run's.
fn from_stored(
    sweep: &Sweep,
    time_src: &TimeSrc,
    stored: collector_cache::StoredResult,
) -> Result<SweepResult> {
    let mut dataset = stored.dataset;
    if sweep.over_time() {
        dataset.set_coords(OVER_TIME_DIM, time_src.coords())?;
    }
    let mut result = SweepResult::new(sweep, dataset);
    result.failures = stored.failures;
    result.stats = stored.stats;
    Ok(result)
}
