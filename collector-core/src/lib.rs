//! The array model of result-collector: sweeps, the N-d labelled dataset,
//! jobs, identity keys and the parallel store loop. No I/O happens here.
//!
//! A [`Sweep`] declares input variables (the dims), result variables (the
//! columns) and a number of repeats. [`setup_dataset`] builds the empty
//! [`Dataset`] (every cell at its kind's sentinel) and a lazy iterator over
//! the jobs; [`run_sweep`] runs a worker over every job on rayon and stores
//! each result straight into the arrays.
//!
//! ```
//! use collector_core::{run_sweep, setup_dataset, InputVar, ResultVar, RunOptions, Sweep, TimeSrc};
//!
//! let sweep = Sweep::builder("demo")
//!     .input(InputVar::float_samples("x", 0.0, 1.0, 5).units("m"))
//!     .input(InputVar::labels("algo", ["fast", "slow"]))
//!     .result(ResultVar::float("cost").units("s"))
//!     .result(ResultVar::vector("pos", 2))
//!     .repeats(3)
//!     .build()?;
//! let setup = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))?;
//! assert_eq!(setup.dims, ["x", "algo", "repeat"]);
//! let mut result = setup.result;
//! run_sweep(&mut result, &RunOptions::default(), |s| {
//!     let x = s.get::<f64>("x")?;
//!     let slow = s.get::<String>("algo")? == "slow";
//!     let cost = if slow { 2.0 * x } else { x };
//!     Ok::<_, collector_core::Error>(s.outputs().with("cost", cost).with("pos", [x, -x]))
//! })?;
//! assert_eq!(result.stats.failed, 0);
//! let cost = result.dataset.sel("algo", "slow")?.sel("x", 1.0)?;
//! assert_eq!(cost.column("cost")?.f64().unwrap()[[0]], 2.0);
//! # Ok::<(), collector_core::Error>(())
//! ```

mod dataset;
mod display;
mod error;
mod files;
mod jobrec;
mod jobs;
mod keys;
mod lineage;
pub mod reduce;
pub mod regress;
mod result;
mod run;
mod sweep;
mod value;

pub use dataset::{
    AttrValue, Cell, CellRef, Column, ColumnData, Dataset, Dim, VarAttrs, time_major_array,
    time_major_array_at,
};
pub use error::{Error, Result};
pub use files::{FileRef, is_missing_text};
pub use jobrec::{
    BoxError, CellRef as JobCellRef, JobBatch, JobCounts, JobLog, JobRecord, OutcomeRef,
    RecordedCell, RecordedOutcome, Reuse, Shard, ShardAssign,
};
pub use jobs::{
    FromValue, Index, Job, JobIter, Sample, Setup, apply_declared_attrs, empty_dataset,
    format_inputs, setup_dataset, step, unravel,
};
pub use keys::{
    Canon, JOB_KEY_VERSION, JobKey, JobKeyer, KEY_FORMAT_VERSION, cache_key, grid_hash,
    history_key, job_set, sample_key, to_hex,
};
pub use lineage::{ConstIdentity, HistoryIdentity, InputIdentity, ResetPolicy};
pub use result::{FailureKind, Outputs, ResultValue, RunStats, SampleFailure, SweepResult, Writer};
pub use run::{HistoryOptions, Progress, ProgressFn, RunOptions, run_sweep, run_sweep_logged};
pub use sweep::{
    CatchPolicy, ConstVar, Direction, FailThreshold, InputVar, MAX_STEP_VALUES,
    MAX_STORED_VALUE_BYTES, OVER_TIME_DIM, REFERENCE_SENTINEL, REPEAT_DIM, ResolvedInput,
    ResultKind, ResultVar, Sentinel, Storage, Sweep, SweepBuilder, SweepSpec, TEXT_SENTINEL,
    TimeKind, TimeSrc, UnknownKind, cells_memory_bytes, timestamp_ns, vec_component_name,
};
pub use value::{Coords, Value, format_time_ns};
