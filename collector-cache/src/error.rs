//! The error type of collector-cache.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong with the cache. Every message names the
/// cache directory, the key or the history it is about. RocksDB's own error
/// type is never exposed: its message is kept as text.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The database directory is locked by another process (or by another
    /// open [`CacheDb`](crate::CacheDb) in this process).
    #[error(
        "cache directory {} is in use by another process (RocksDB lock held): {message}; \
         close the other run or choose another cache directory",
        dir.display()
    )]
    Locked {
        /// The database directory.
        dir: PathBuf,
        /// RocksDB's message.
        message: String,
    },
    /// The database could not be opened.
    #[error("cannot open the cache in {}: {message}", dir.display())]
    Open {
        /// The database directory.
        dir: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The database was written by another format version. Nothing was
    /// deleted.
    #[error(
        "cache in {} has format version {found}, this build reads version {expected}; \
         nothing was changed. Delete {} (or move it away) to start a fresh cache, \
         or run with the release that wrote it",
        dir.display(), dir.display()
    )]
    FormatVersion {
        /// The database directory.
        dir: PathBuf,
        /// The version found on disk (`None`: not a result-collector cache).
        found: VersionFound,
        /// The version this build reads and writes.
        expected: u32,
    },
    /// A read or write of the database failed.
    #[error("cache {}: {op} failed: {message}", dir.display())]
    Db {
        /// The database directory.
        dir: PathBuf,
        /// What was being done, with the key.
        op: String,
        /// RocksDB's message.
        message: String,
    },
    /// A value could not be encoded.
    #[error("cannot encode {what}: {message}")]
    Encode {
        /// What was being encoded, with its key.
        what: String,
        /// What went wrong.
        message: String,
    },
    /// A key is empty or contains a NUL byte (reserved as a separator).
    #[error("invalid {what} key {key:?}: {message}")]
    InvalidKey {
        /// "cache", "history" or "sweep name".
        what: &'static str,
        /// The key.
        key: String,
        /// What is wrong.
        message: &'static str,
    },
    /// An event to append does not have `over_time` as its last dim with
    /// exactly one coordinate.
    #[error("history {history_key}: invalid event: {message}")]
    InvalidEvent {
        /// The history key.
        history_key: String,
        /// What is wrong.
        message: String,
    },
    /// The event does not fit the stored history and the reset policy is
    /// [`ResetPolicy::Error`](crate::ResetPolicy::Error). Nothing was
    /// written or deleted.
    #[error(
        "history {history_key}: the run does not match the stored history ({reason}); \
         nothing was written or deleted. Run with clear_history (CLI --clear-history) or \
         the warn/ignore reset policy (--reset-policy) to start a new history"
    )]
    HistoryMismatch {
        /// The history key.
        history_key: String,
        /// What differs.
        reason: String,
    },
    /// The sweep's inputs, constants, tag or repeats changed, so its runs
    /// now go to another history, and the reset policy is
    /// [`ResetPolicy::Error`](crate::ResetPolicy::Error). Nothing was
    /// written or deleted; the old history is intact.
    #[error(
        "sweep `{sweep}`: this run starts a new history ({history_key}) instead of continuing \
         {previous_key}, because {}; nothing was written or deleted. Restore the old \
         declaration, or run with the warn/ignore reset policy (--reset-policy) to start \
         the new history (the old one stays readable)",
        changes_text(changes)
    )]
    LineageChanged {
        /// The sweep name.
        sweep: String,
        /// The history the sweep name last appended to.
        previous_key: String,
        /// The history this run belongs to.
        history_key: String,
        /// What changed, one phrase each.
        changes: Vec<String>,
    },
    /// A result column keeps its name but changed kind, units or meaning
    /// version, and the reset policy is
    /// [`ResetPolicy::Error`](crate::ResetPolicy::Error). Nothing was
    /// written or deleted.
    #[error(
        "history {history_key}: result column `{column}` changed identity ({was} -> {now}); \
         nothing was written or deleted. Restore the column, rename it, or run with the \
         warn/ignore reset policy (--reset-policy) to retire the old column (its values \
         stay, under a new name) and start a fresh one"
    )]
    ColumnChanged {
        /// The history key.
        history_key: String,
        /// The column name.
        column: String,
        /// The stored identity.
        was: String,
        /// This run's identity.
        now: String,
    },
    /// An error from the array model (building a dataset back from records).
    #[error(transparent)]
    Core(#[from] collector_core::Error),
}

fn changes_text(changes: &[String]) -> String {
    if changes.is_empty() {
        "its history key changed".to_string()
    } else {
        changes.join("; ")
    }
}

/// The format version found in a refused cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionFound {
    /// A known version number.
    Version(u32),
    /// The database holds data but no version record: not written by
    /// result-collector, or damaged.
    Missing,
}

impl std::fmt::Display for VersionFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionFound::Version(v) => write!(f, "{v}"),
            VersionFound::Missing => write!(f, "<none>"),
        }
    }
}

/// The result type of collector-cache.
pub type Result<T, E = Error> = std::result::Result<T, E>;
