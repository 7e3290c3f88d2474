//! The step methods of bencher's Python `ResultCollector`, for code ported
//! from it. New code calls [`ResultCollector::run`], which does all of
//! these in the right order.
//!
//! | bencher (Python) | here |
//! |---|---|
//! | `setup_dataset` | [`BencherSteps::setup_dataset`] |
//! | `store_results` | [`BencherSteps::store_results`] |
//! | `cache_results` | [`BencherSteps::cache_results`] |
//! | `load_history_cache` | [`BencherSteps::load_history_cache`] |
//! | `add_metadata_to_dataset` | [`BencherSteps::add_metadata_to_dataset`] |
//! | `report_results(print_xarray, print_pandas)` | [`BencherSteps::report_results`] |
//!
//! ```
//! use result_collector::bencher_compat::BencherSteps;
//! use result_collector::{InputVar, ResultCollector, ResultVar, Sweep, TimeSrc, cache_key};
//!
//! let dir = tempfile::tempdir()?;
//! let collector = ResultCollector::new(Some(dir.path()));
//! let sweep = Sweep::builder("steps")
//!     .input(InputVar::int_range("n", 1, 2))
//!     .result(ResultVar::float("y"))
//!     .build()?;
//! let mut setup = collector.setup_dataset(&sweep, &TimeSrc::Label("v1".into()))?;
//! for job in setup.jobs.by_ref() {
//!     let outputs = result_collector::model::Outputs::for_sweep(&sweep).with("y", job.linear as f64);
//!     collector.store_results(&mut setup.result, job.linear, outputs);
//! }
//! let keys = collector.cache_results(&setup.result, &cache_key(&sweep))?;
//! assert_eq!(keys.len(), 1);
//! println!("{}", collector.report_results(&setup.result, true, false));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use collector_cache::AppendOptions;
use collector_core::{Dataset, Outputs, Setup, Sweep, SweepResult, TimeSrc};

use crate::{HistoryUpdate, Result, ResultCollector};

/// bencher's step methods on a [`ResultCollector`].
pub trait BencherSteps {
    /// Builds the empty dataset and the lazy job iterator of a run
    /// (bencher's `setup_dataset`).
    fn setup_dataset<'s>(&self, sweep: &'s Sweep, time_src: &TimeSrc) -> Result<Setup<'s>>;

    /// Stores one job's outputs (bencher's `store_results`); a contract
    /// violation is recorded in `result.failures`.
    fn store_results(&self, result: &mut SweepResult, job: usize, outputs: Outputs);

    /// Caches `result` under `key` and returns the keys stored, as
    /// bencher's `cache_results` appends them to its list. A result with
    /// failures is stored as incomplete, never as a cache hit.
    fn cache_results(&self, result: &SweepResult, key: &str) -> Result<Vec<String>>;

    /// Appends `dataset` (one run, `over_time` last) to the history `key`
    /// and returns the whole history (bencher's `load_history_cache`).
    /// `max_time_events` trims to the newest events; each result
    /// variable's own limit ages its older cells. The media files that
    /// stop being named are deleted after the commit, only inside the
    /// media root.
    fn load_history_cache(
        &self,
        dataset: &Dataset,
        key: &str,
        clear_history: bool,
        max_time_events: Option<usize>,
        sweep: &Sweep,
    ) -> Result<HistoryUpdate>;

    /// Writes the declared units, long names and descriptions into the
    /// dataset (bencher's `add_metadata_to_dataset`). `setup_dataset`
    /// already does; call it again after changing a declaration's display
    /// fields.
    fn add_metadata_to_dataset(&self, result: &mut SweepResult);

    /// The dataset summary (`print_xarray`, like xarray's repr) and/or its
    /// tidy table (`print_pandas`, like pandas' `to_dataframe()`), with the
    /// failed samples (bencher's `report_results`). The text is returned
    /// and logged at info level.
    fn report_results(
        &self,
        result: &SweepResult,
        print_xarray: bool,
        print_pandas: bool,
    ) -> String;
}

impl BencherSteps for ResultCollector {
    fn setup_dataset<'s>(&self, sweep: &'s Sweep, time_src: &TimeSrc) -> Result<Setup<'s>> {
        sweep.check_memory(self.memory_limit_bytes())?;
        Ok(collector_core::setup_dataset(sweep, time_src)?)
    }

    fn store_results(&self, result: &mut SweepResult, job: usize, outputs: Outputs) {
        result.store_results(job, outputs);
    }

    fn cache_results(&self, result: &SweepResult, key: &str) -> Result<Vec<String>> {
        self.cache()?
            .put_result(key, result.sweep().name(), result)?;
        Ok(vec![key.to_string()])
    }

    fn load_history_cache(
        &self,
        dataset: &Dataset,
        key: &str,
        clear_history: bool,
        max_time_events: Option<usize>,
        sweep: &Sweep,
    ) -> Result<HistoryUpdate> {
        let declared = AppendOptions::for_sweep(sweep);
        let options = AppendOptions {
            clear_history,
            max_time_events,
            reset_policy: self.reset_policy,
            // A key of the caller's choosing is no part of the sweep
            // name's lineage.
            lineage: declared
                .lineage
                .clone()
                .filter(|_| key == collector_core::history_key(sweep)),
            ..declared
        };
        let db = self.cache()?;
        // The whole history is loaded back after the append.
        self.check_history_memory(&db, key, 1, max_time_events, self.memory_limit_bytes())?;
        self.append_history(&db, key, dataset, &options, true)
    }

    fn add_metadata_to_dataset(&self, result: &mut SweepResult) {
        let sweep = result.sweep().clone();
        collector_core::apply_declared_attrs(&mut result.dataset, &sweep);
    }

    fn report_results(
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
}
