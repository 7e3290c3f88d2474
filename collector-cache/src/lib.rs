//! The persistent cache of result-collector: whole results by cache key,
//! a per-sweep index of them, and an append-only history over time, in one
//! embedded RocksDB database (SPEC §6, §7). The caller chooses the
//! database directory ([`CacheDb::open`]); this crate knows nothing of the
//! rest of a cache directory.
//!
//! - Values are MessagePack inside a versioned envelope; numeric columns
//!   are raw little-endian bytes. Each column family is declared once
//!   with its key and value types, so a read and a write cannot disagree.
//! - A result and its index entry, or a history event and its metadata,
//!   are written in one write batch.
//! - A result with sample failures is stored as incomplete and is not a
//!   cache hit ([`CacheDb::get_complete_result`]).
//! - A value that cannot be decoded is logged, removed and treated as
//!   absent.
//! - History appends cost the size of the run, not of the history. The
//!   media files named by the cells that trimming or aging removed are
//!   returned as candidates ([`AppendOutcome::released_files`]);
//!   [`CacheDb::files_still_named`] tells which of them a stored record
//!   still names. This crate never deletes files: the caller does, after
//!   the commit.
//!
//! Speed: RocksDB checksums each write-ahead-log record with CRC32C, which
//! is only fast when its C++ is built with SSE4.2 and PCLMULQDQ on
//! x86-64. librocksdb-sys enables them when Rust's target features do:
//! this workspace sets `-C target-feature=+sse4.2,+pclmulqdq` in
//! `.cargo/config.toml`; a project depending on this crate should do the
//! same (or use `-C target-cpu=native`), or every large result write pays
//! for a software CRC.
//!
//! ```
//! use collector_cache::{CacheDb, CacheOptions};
//! use collector_core::{cache_key, run_sweep, setup_dataset, InputVar, ResultVar, RunOptions, Sweep, TimeSrc};
//!
//! let dir = tempfile::tempdir()?;
//! let sweep = Sweep::builder("demo")
//!     .input(InputVar::int_range("n", 1, 3))
//!     .result(ResultVar::float("square"))
//!     .build()?;
//! let mut result = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))?.result;
//! run_sweep(&mut result, &RunOptions::default(), |s| {
//!     let n = s.get::<i64>("n")? as f64;
//!     Ok::<_, collector_core::Error>(s.outputs().with("square", n * n))
//! })?;
//!
//! let db_dir = dir.path().join("db");
//! assert!(!CacheDb::exists(&db_dir));
//! let cache = CacheDb::open(&db_dir, CacheOptions::default())?;
//! let key = cache_key(&sweep);
//! cache.put_result(&key, sweep.name(), &result)?;
//! let hit = cache.get_complete_result(&key)?.expect("stored and complete");
//! assert_eq!(hit.dataset, result.dataset);
//! cache.close()?;
//! assert!(CacheDb::exists(&db_dir));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod db;
mod error;
mod files;
#[doc(hidden)]
pub mod fuzzing;
mod history;
mod jobs;
mod listing;
mod pages;
mod parts;
mod results;
mod schema;

pub use codec::StoredResult;
pub use db::{CacheDb, CacheOptions, DEFAULT_BLOCK_CACHE_BYTES, SETTLE_BYTES};
pub use error::{Error, Result, VersionFound};
pub use files::{MediaReferences, StillNamed};
pub use history::{
    AppendOptions, AppendOutcome, ColumnChanges, ColumnInfo, ColumnState, EventInfo, HistoryInfo,
    Lineage, LineageChange, ResetPolicy, ResetReason, Retirement, Superseded,
};
pub use jobs::{CacheJobLog, JobSetInfo, JobTotals, ShardManifest};
pub use listing::{CacheStats, HistoryEntry, ResultEntry, SweepListing};
pub use results::{PutOutcome, encoded_result_size};
pub use schema::{ENVELOPE_FORMAT, FORMAT_VERSION};

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn cache_db_is_send_and_sync() {
        assert_send_sync::<super::CacheDb>();
    }
}
