//! result-collector: run a function over a grid of parameters, store every
//! result in an N-d labelled dataset, cache whole results in an embedded
//! RocksDB, keep each sweep's history across runs, manage the media files
//! results name, and report.
//!
//! The layers are re-exported as modules: [`model`] (sweeps, the dataset,
//! jobs, keys, the store loop), [`cache`] (RocksDB), [`media`] (files,
//! aging, deletion, GC) and [`report`] (text, tables, exports, HTML).
//! [`ResultCollector`] composes them.
//!
//! ```
//! use result_collector::{InputVar, ResultCollector, ResultVar, RunOptions, Sweep, TimeSrc};
//!
//! let dir = tempfile::tempdir()?;
//! let sweep = Sweep::builder("square")
//!     .input(InputVar::float_samples("x", 0.0, 2.0, 3).units("m"))
//!     .input(InputVar::labels("shape", ["square", "circle"]))
//!     .result(ResultVar::float("area").units("m^2"))
//!     .repeats(2)
//!     .over_time(true)
//!     .build()?;
//! let mut collector = ResultCollector::new(Some(dir.path()));
//! let run = collector.run(&sweep, &TimeSrc::Label("v1".into()), &RunOptions::default(), |s| {
//!     let x = s.get::<f64>("x")?;
//!     let area = if s.get::<String>("shape")? == "square" { x * x } else { 3.14159 * x * x / 4.0 };
//!     Ok::<_, result_collector::model::Error>(s.outputs().with("area", area))
//! })?;
//! assert!(!run.cache_hit);
//! println!("{}", run.result.dataset);
//! assert_eq!(run.history.as_ref().map(|h| h.shape()), Some(vec![3, 2, 2, 1]));
//!
//! // The same sweep again: a cache hit, and a second history event.
//! let again = collector.run(&sweep, &TimeSrc::Label("v2".into()), &RunOptions::default(), |_s| {
//!     Err::<result_collector::model::Outputs, _>("not called on a cache hit")
//! })?;
//! assert!(again.cache_hit);
//! assert_eq!(again.history.map(|h| h.shape()), Some(vec![3, 2, 2, 2]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use collector_cache as cache;
pub use collector_core as model;
pub use collector_media as media;
pub use collector_report as report;

pub use collector_cache::{AppendOptions, AppendOutcome, CacheDb, CacheOptions, ResetPolicy};
pub use collector_core::{
    CatchPolicy, ConstVar, Dataset, Direction, FailThreshold, InputVar, Outputs, ResultKind,
    ResultVar, RunOptions, Sample, Sweep, SweepResult, TimeSrc, cache_key, history_key,
};
pub use collector_media::{DeletionReport, MediaRoot};

/// The subfolder of the cache directory that holds media files.
pub const MEDIA_SUBDIR: &str = "media";

/// Everything that can go wrong in the composed collector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the array model (declarations, runs, fail-fast, thresholds).
    #[error(transparent)]
    Model(#[from] collector_core::Error),
    /// From the cache.
    #[error(transparent)]
    Cache(#[from] collector_cache::Error),
    /// From media handling.
    #[error(transparent)]
    Media(#[from] collector_media::Error),
    /// From reporting.
    #[error(transparent)]
    Report(#[from] collector_report::Error),
}

/// The result type of the facade.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    /// The whole history, `over_time` last, when the sweep keeps history.
    pub history: Option<Dataset>,
    /// What the history append did.
    pub append: Option<AppendOutcome>,
    /// Media files deleted after the history commit.
    pub deletion: Option<DeletionReport>,
    /// Where the cache lives.
    pub cache_dir: PathBuf,
}

/// The composed collector (the seed's `ResultCollector`): the array model,
/// the RocksDB cache, history and media deletion, in the right order.
///
/// Caches open lazily on first use and are reused; [`close_caches`]
/// closes them (idempotent) and a later call reopens; dropping the
/// collector closes them.
///
/// [`close_caches`]: ResultCollector::close_caches
#[derive(Debug)]
pub struct ResultCollector {
    cache_dir: PathBuf,
    options: CacheOptions,
    reset_policy: ResetPolicy,
    use_cache: bool,
    db: Option<Arc<CacheDb>>,
}

impl ResultCollector {
    /// A collector on `cache_dir`, or on `$RESULT_COLLECTOR_CACHE_DIR`, or
    /// on `./cachedir`. Nothing is opened yet.
    pub fn new(cache_dir: Option<&Path>) -> Self {
        ResultCollector {
            cache_dir: collector_cache::resolve_cache_dir(cache_dir),
            options: CacheOptions::default(),
            reset_policy: ResetPolicy::Warn,
            use_cache: true,
            db: None,
        }
    }

    /// Bounds the stored results to `bytes` (least recently stored evicted
    /// first; history is never evicted).
    pub fn cache_size(mut self, bytes: u64) -> Self {
        self.options.cache_size = Some(bytes);
        self
    }

    /// What to do when a run does not fit its stored history.
    pub fn reset_policy(mut self, policy: ResetPolicy) -> Self {
        self.reset_policy = policy;
        self
    }

    /// Whether [`run`](Self::run) takes a complete cached result as a hit
    /// (default: yes). Results are stored either way.
    pub fn use_cache(mut self, on: bool) -> Self {
        self.use_cache = on;
        self
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The cache database, opened on first use and reused (the seed's
    /// `get_benchmark_cache` and `get_history_cache`: one database holds both).
    pub fn cache(&mut self) -> Result<Arc<CacheDb>> {
        if let Some(db) = &self.db {
            return Ok(Arc::clone(db));
        }
        let db = Arc::new(CacheDb::open(&self.cache_dir, self.options.clone())?);
        self.db = Some(Arc::clone(&db));
        Ok(db)
    }

    /// Closes the caches. Safe to call any number of times; the next use
    /// reopens them.
    pub fn close_caches(&mut self) {
        self.db = None;
    }

    /// The media root, `<cache dir>/media`, created when missing.
    pub fn media_root(&self) -> Result<MediaRoot> {
        Ok(MediaRoot::new(self.cache_dir.join(MEDIA_SUBDIR))?)
    }

    /// Builds the empty dataset and the lazy job iterator of a run (the
    /// seed's `setup_dataset`).
    pub fn setup_dataset<'s>(
        &self,
        sweep: &'s Sweep,
        time_src: &TimeSrc,
    ) -> Result<collector_core::Setup<'s>> {
        Ok(collector_core::setup_dataset(sweep, time_src)?)
    }

    /// Stores one job's outputs (the seed's `store_results`); a contract
    /// violation is recorded in `result.failures`.
    pub fn store_results(&self, result: &mut SweepResult, job: usize, outputs: Outputs) {
        result.store_results(job, outputs);
    }

    /// Caches `result` under `key` and appends `key` to `keys` (the seed's
    /// `cache_results`). A result with failures is stored as incomplete,
    /// never as a cache hit.
    pub fn cache_results(
        &mut self,
        result: &SweepResult,
        key: &str,
        keys: &mut Vec<String>,
    ) -> Result<collector_cache::PutOutcome> {
        let db = self.cache()?;
        let out = db.put_result(key, result.sweep().name(), result)?;
        keys.push(key.to_string());
        Ok(out)
    }

    /// Appends `dataset` (one run, `over_time` last) to the history under
    /// `key` and returns the whole history (the seed's
    /// `load_history_cache`). Trimming (`max_time_events`) and per-variable
    /// aging (from `result_vars`) are committed first; the media files they
    /// stop referencing are deleted after the commit, and only inside the
    /// media root.
    pub fn load_history_cache(
        &mut self,
        dataset: &Dataset,
        key: &str,
        clear_history: bool,
        max_time_events: Option<usize>,
        result_vars: &[ResultVar],
    ) -> Result<(Dataset, AppendOutcome, DeletionReport)> {
        let db = self.cache()?;
        let options = AppendOptions {
            clear_history,
            max_time_events,
            var_max_time_events: AppendOptions::var_limits(result_vars),
            reset_policy: self.reset_policy,
        };
        let outcome = db.append_event(key, dataset, &options)?;
        // The batch has committed: only now may files go.
        let history = db.load_history(key)?.unwrap_or_else(|| dataset.clone());
        let pending = collector_media::PendingDeletion::from_paths(outcome.released_files.clone());
        let report = pending.execute_against(&self.media_root()?, &history);
        Ok((history, outcome, report))
    }

    /// Writes `units`, `long_name` and `description` of the sweep's
    /// variables into the dataset's metadata (the seed's
    /// `add_metadata_to_dataset`). `setup_dataset` already does this; call
    /// it again after changing a declaration's display fields.
    pub fn add_metadata_to_dataset(&self, result: &mut SweepResult) {
        let sweep = result.sweep().clone();
        let ds = &mut result.dataset;
        for i in sweep.inputs() {
            if let Ok(a) = ds.dim_attrs_mut(i.var.name()) {
                a.long_name = i.var.name().to_string();
                a.units = i.var.units_str().to_string();
                a.description = i.var.description_str().to_string();
            }
        }
        for r in sweep.results() {
            for name in r.column_names() {
                if let Ok(c) = ds.column_mut(&name) {
                    c.attrs.long_name = name.clone();
                    c.attrs.units = r.units_str().to_string();
                    c.attrs.description = r.description_str().to_string();
                }
            }
        }
    }

    /// The dataset summary (like xarray's repr) and/or its tidy table (like
    /// pandas' `to_dataframe()`), with the failed samples (the seed's
    /// `report_results`). The text is returned and logged at info level.
    pub fn report_results(
        &self,
        result: &SweepResult,
        print_xarray: bool,
        print_pandas: bool,
    ) -> String {
        let mut out = String::new();
        if print_xarray {
            out.push_str(&collector_report::summary(&result.dataset));
        }
        if print_pandas {
            out.push_str(&collector_report::tidy_table(&result.dataset, 50));
            out.push('\n');
        }
        if !result.failures.is_empty() {
            out.push_str(&collector_report::failures_table(&result.failures));
            out.push('\n');
        }
        tracing::info!("{out}");
        out
    }

    /// Runs a whole sweep: a complete cached result is a hit (the worker
    /// is not called); otherwise the worker runs over every job in
    /// parallel and the result is cached (as incomplete when jobs failed).
    /// With history on, the run becomes a new event. The sweep's
    /// `fail_on_sample_error` is checked last, after everything is saved;
    /// a fail-fast stop also saves what was stored before it.
    pub fn run<W, E>(
        &mut self,
        sweep: &Sweep,
        time_src: &TimeSrc,
        opts: &RunOptions,
        worker: W,
    ) -> Result<RunReport>
    where
        W: Fn(&Sample<'_>) -> std::result::Result<Outputs, E> + Sync,
        E: Display,
    {
        let key = cache_key(sweep);
        let hkey = history_key(sweep);
        let db = self.cache()?;
        let cached = if self.use_cache {
            db.get_complete_result(&key)?
        } else {
            None
        };
        let (result, cache_hit, run_error) = match cached {
            Some(stored) => {
                let mut dataset = stored.dataset;
                if sweep.over_time() {
                    dataset.set_coords(collector_core::OVER_TIME_DIM, time_src.coords())?;
                }
                let mut result = SweepResult::new(sweep, dataset);
                result.failures = stored.failures;
                result.stats = stored.stats;
                tracing::info!(sweep = sweep.name(), key = %key, "cache hit");
                (result, true, None)
            }
            None => {
                let mut result = collector_core::setup_dataset(sweep, time_src)?.result;
                let run_error = collector_core::run_sweep(&mut result, opts, worker).err();
                // Saved even when the run stopped early: nothing is lost,
                // and an incomplete result is never taken for a hit.
                db.put_result(&key, sweep.name(), &result)?;
                (result, false, run_error)
            }
        };
        let (history, append, deletion) = if sweep.over_time() {
            let (h, a, d) =
                self.load_history_cache(&result.dataset, &hkey, false, None, sweep.results())?;
            (Some(h), Some(a), Some(d))
        } else {
            (None, None, None)
        };
        if let Some(e) = run_error {
            return Err(e.into());
        }
        result.check_failures()?;
        Ok(RunReport {
            result,
            cache_hit,
            cache_key: key,
            history_key: hkey,
            history,
            append,
            deletion,
            cache_dir: self.cache_dir.clone(),
        })
    }
}
