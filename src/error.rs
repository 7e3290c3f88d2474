//! The errors of the composed collector.

use std::path::PathBuf;

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
    /// A run stopped early (fail-fast) or crossed its failure threshold.
    /// What it computed was stored as an incomplete result; it added no
    /// history event.
    #[error(
        "{source}; the run's result was stored as incomplete (cache key {cache_key}) \
         and {}",
        if *over_time { "no history event was added" } else { "the sweep keeps no history" }
    )]
    RunFailed {
        /// Why the run failed.
        source: collector_core::Error,
        /// The cache key its incomplete result is stored under.
        cache_key: String,
        /// Whether the sweep keeps history (no event was added).
        over_time: bool,
    },
    /// A run stopped (its job records could not be written, a job failed
    /// under fail-fast, …) and then its result could not be stored either:
    /// the first error is the cause (a full disk fails the job records
    /// before the result).
    #[error("{stopped}; the run's result could not be stored either: {store}")]
    NotStored {
        /// Why the run stopped.
        stopped: Box<collector_core::Error>,
        /// Why its result could not be stored.
        store: Box<collector_cache::Error>,
    },
    /// A blocking regression under `RunOptions::fail_on_regression`,
    /// found after the result and the event were saved.
    #[error(
        "sweep `{sweep}`: {count} blocking regression(s) (the result and its history event are saved):\n{report}"
    )]
    Regression {
        /// The sweep name.
        sweep: String,
        /// The flagged series that are not young.
        count: usize,
        /// The regression report, as text.
        report: String,
    },
    /// Shards that cannot be merged: another sweep, version, grid or
    /// shard count, missing shards, or a job with two results.
    #[error("{message}")]
    Merge {
        /// What is wrong, naming the shards and directories.
        message: String,
    },
    /// From media handling.
    #[error(transparent)]
    Media(#[from] collector_media::Error),
    /// From reporting.
    #[error(transparent)]
    Report(#[from] collector_report::Error),
    /// An inspection found no cache database in the directory.
    #[error("no cache at {} (run `collector demo` to create one, or pass --cache-dir / set {})", dir.display(), crate::CacheDir::ENV)]
    NoCache {
        /// The cache directory.
        dir: PathBuf,
    },
    /// A name or key prefix names nothing stored.
    #[error("unknown sweep name or key `{target}` in {} (see `collector ls`)", dir.display())]
    UnknownTarget {
        /// What was asked for.
        target: String,
        /// The cache directory.
        dir: PathBuf,
    },
    /// A key prefix names more than one record.
    #[error("`{target}` is ambiguous: it prefixes {matches} keys; give more characters")]
    AmbiguousTarget {
        /// What was asked for.
        target: String,
        /// How many keys it prefixes.
        matches: usize,
    },
    /// The sweep has no stored result.
    #[error("sweep `{sweep}` has no stored result")]
    NoResult {
        /// The sweep name.
        sweep: String,
    },
    /// The stored result was corrupt (and has been removed).
    #[error(
        "result {key} of sweep `{sweep}` could not be read (it was corrupt and has been removed)"
    )]
    UnreadableResult {
        /// The sweep name.
        sweep: String,
        /// The cache key.
        key: String,
    },
    /// The sweep keeps no history.
    #[error("sweep `{sweep}` keeps no history (it was not run with over_time)")]
    NoHistory {
        /// The sweep name.
        sweep: String,
    },
    /// A sweep file could not be read, parsed or checked (it names the
    /// file, the line and the column).
    #[error(transparent)]
    SweepFile(#[from] crate::sweep_file::SweepFileError),
    /// A command was paired with a sweep other than the one it was read
    /// with.
    #[error(
        "the command was read for a sweep with inputs and constants [{expected}], \
         but sweep `{sweep}` has [{found}]"
    )]
    CommandMismatch {
        /// The sweep given.
        sweep: String,
        /// The input and constant names the command was read with.
        expected: String,
        /// Those of the sweep given.
        found: String,
    },
    /// A directory of the cache directory's layout (the cache directory,
    /// its `db/` or its `media/`, or the jobs' folder of `collector run`)
    /// is a symbolic link. Refused: a link
    /// would let a run, a history trim or a GC write and delete files
    /// outside the directory the user named.
    #[error(
        "{what} {} is a symbolic link (to {}): refused, so that no file outside it is written \
         or deleted through the link; pass the real directory instead",
        path.display(), target.display()
    )]
    SymlinkedDir {
        /// Which directory ("cache directory", "database directory", "media
        /// directory", "jobs' folder").
        what: &'static str,
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A file-system operation of the facade failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("creating the directory", …).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The result type of the facade.
pub type Result<T, E = Error> = std::result::Result<T, E>;
