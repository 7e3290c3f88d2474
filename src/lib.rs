//! result-collector: run a function over a grid of parameters, store every
//! result in an N-d labelled dataset, cache whole results in an embedded
//! RocksDB, keep each sweep's history across runs, manage the media files
//! results name, and report.
//!
//! [`ResultCollector`] is the front door: [`ResultCollector::run`] does a
//! whole run (cache check, parallel jobs, store, history, media deletion)
//! in the right order. The same collector inspects a cache
//! ([`ResultCollector::list`], [`resolve`](ResultCollector::resolve),
//! [`gc`](ResultCollector::gc), [`stats`](ResultCollector::stats)), which
//! is all the `collector` program does. [`CacheDir`] owns the layout of a
//! cache directory.
//!
//! [`SweepFile`] reads a sweep and the command that runs each of its jobs
//! from a TOML file, and [`command::CommandRunner`] is that command as a
//! worker of [`ResultCollector::run`]: any program over a grid, which is
//! what `collector run` does.
//!
//! The layers are re-exported as modules: [`model`] (sweeps, the dataset,
//! jobs, keys, the store loop; no I/O), [`cache`] (RocksDB), [`media`]
//! (files, deletion, GC) and [`report`] (text, tables, exports, HTML).
//! [`bencher_compat`] has the step methods of the Python tool bencher's
//! `ResultCollector`, for ported code.
//!
//! Cargo features: `cli` (default) builds the `collector` program and its
//! dependencies (clap, indicatif, tracing-subscriber); `netcdf` (default)
//! enables the netCDF export, which needs the system libnetcdf. A library
//! user who needs neither depends with `default-features = false`.
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
//! let collector = ResultCollector::new(Some(dir.path()));
//! let run = collector.run(&sweep, &TimeSrc::Label("v1".into()), &RunOptions::default(), |s| {
//!     let x = s.get::<f64>("x")?;
//!     let area = if s.get::<String>("shape")? == "square" { x * x } else { 3.14159 * x * x / 4.0 };
//!     Ok::<_, result_collector::model::Error>(s.outputs().with("area", area))
//! })?;
//! assert!(!run.cache_hit);
//! println!("{}", run.result.dataset);
//! assert_eq!(run.history.as_ref().and_then(|h| h.dataset.as_ref()).map(|d| d.shape()), Some(vec![3, 2, 2, 1]));
//!
//! // Reading the cache is opt-in: a hit runs nothing and adds no event.
//! drop(collector); // one open handle per cache directory
//! let cached = ResultCollector::new(Some(dir.path())).use_cache(true);
//! let again = cached.run(&sweep, &TimeSrc::Label("v2".into()), &RunOptions::default(), |_s| {
//!     Err::<result_collector::model::Outputs, _>("not called on a cache hit")
//! })?;
//! assert!(again.cache_hit);
//! assert_eq!(again.no_event, Some(result_collector::NoEvent::CacheHit));
//! assert_eq!(cached.history_of(&sweep)?.map(|h| h.shape()), Some(vec![3, 2, 2, 1]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bencher_compat;
mod cache_dir;
mod collector;
pub mod command;
pub mod demo;
mod error;
mod inspect;
mod maintenance;
mod memory;
mod shards;
pub mod sweep_file;

pub use collector_cache as cache;
pub use collector_core as model;
pub use collector_media as media;
pub use collector_report as report;

pub use cache_dir::CacheDir;
pub use collector::{HistoryUpdate, NoEvent, ResultCollector, RunReport};
pub use error::{Error, Result};
pub use inspect::{ReportOf, ReportOptions, Target, WrittenReport, history_table, write_html};
pub use maintenance::{DiskUsage, GcSummary, Stats, disk_usage};
pub use memory::{
    DEFAULT_MEMORY_FRACTION, FALLBACK_MEMORY_LIMIT, default_memory_limit, physical_memory,
};
pub use shards::{MergeOptions, MergeReport, shard_size};
pub use sweep_file::{SweepFile, SweepFileError};

pub use collector_cache::{
    AppendOptions, AppendOutcome, CacheOptions, JobSetInfo, ResetPolicy, StoredResult, SweepListing,
};
pub use collector_core::{
    CatchPolicy, ConstVar, Dataset, Direction, FailThreshold, HistoryOptions, InputVar, JobCounts,
    Outputs, ResultKind, ResultVar, Reuse, RunOptions, Sample, Shard, ShardAssign, Sweep,
    SweepResult, TimeSrc, cache_key, history_key,
};
pub use collector_media::{DeletionReport, GcOptions, MediaRoot};
