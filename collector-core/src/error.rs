//! The error type of collector-core.

use thiserror::Error;

use crate::sweep::human_bytes;

/// Everything that can go wrong while declaring a sweep, building a dataset
/// or running jobs. Every message names the sweep, variable, dim or job it
/// is about.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A sweep declaration is invalid.
    #[error("sweep `{sweep}`: {message}")]
    InvalidSweep {
        /// The sweep's name.
        sweep: String,
        /// What is wrong.
        message: String,
    },
    /// An input, result or constant variable is invalid.
    #[error("variable `{var}`: {message}")]
    InvalidVariable {
        /// The variable's name.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A name is used twice, or a reserved name is used.
    #[error("sweep `{sweep}`: name `{name}` {message}")]
    DuplicateName {
        /// The sweep's name.
        sweep: String,
        /// The offending name.
        name: String,
        /// Why the name is refused.
        message: String,
    },
    /// The product of the dimension sizes, or the bytes of its cells,
    /// does not fit (`usize`, or one allocation of `isize::MAX` bytes).
    #[error(
        "sweep `{sweep}`: too many jobs: the product of the dims {dims:?} (inputs, then repeats), times 8 bytes a cell for each column, overflows what one allocation can hold"
    )]
    TooManyJobs {
        /// The sweep's name.
        sweep: String,
        /// The dimension sizes.
        dims: Vec<usize>,
    },
    /// A record that storing the sweep writes would be larger than one
    /// stored value can be ([`crate::MAX_STORED_VALUE_BYTES`]), whatever
    /// its jobs return. Refused when the sweep is built.
    #[error(
        "sweep `{sweep}`: {what} would take at least {}, over the {} one stored value can hold; declare fewer values or split the sweep",
        human_bytes(.bytes),
        human_bytes(.limit)
    )]
    TooLargeToStore {
        /// The sweep's name.
        sweep: String,
        /// The record.
        what: String,
        /// The fewest bytes it would take.
        bytes: u64,
        /// The most one stored value holds.
        limit: u64,
    },
    /// A run, or a history to load, would need more memory than the limit
    /// allows. Refused before anything is allocated.
    #[error(
        "sweep `{sweep}`: {what} needs about {} of memory, over the memory limit of {}; raise the limit (RunOptions::memory_limit, ResultCollector::memory_limit, `--memory-limit`) or declare fewer values",
        human_bytes(.bytes),
        human_bytes(.limit)
    )]
    OverMemoryLimit {
        /// The sweep's name.
        sweep: String,
        /// What needs the memory.
        what: String,
        /// The bytes it needs (an estimate).
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A name is not a variable of the sweep or dataset.
    #[error("unknown {what} `{name}`{hint}")]
    UnknownName {
        /// What was looked up: "input", "result", "dim", "column", ...
        what: &'static str,
        /// The name that was not found.
        name: String,
        /// A hint listing what exists.
        hint: String,
    },
    /// A value had another kind than the one asked for.
    #[error("`{name}`: expected {expected}, found {found}")]
    WrongKind {
        /// The variable or column.
        name: String,
        /// The expected kind.
        expected: String,
        /// The kind found.
        found: String,
    },
    /// An index tuple or shape does not fit the dataset.
    #[error("{what}: {message}")]
    Shape {
        /// The column, dim or dataset.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// The run stopped at a job that failed, under the fail-fast policy.
    /// Results stored before it are kept in the result.
    #[error("sweep `{sweep}`: job {job} ({inputs}) failed: {message}")]
    JobFailed {
        /// The sweep's name.
        sweep: String,
        /// The job's linear index.
        job: usize,
        /// The job's inputs, as `name=value` pairs.
        inputs: String,
        /// The worker's message.
        message: String,
    },
    /// More jobs failed than `fail_on_sample_error` allows.
    #[error("sweep `{sweep}`: {failed} of {attempted} jobs failed ({threshold})")]
    TooManyFailures {
        /// The sweep's name.
        sweep: String,
        /// Jobs that failed.
        failed: usize,
        /// Jobs attempted.
        attempted: usize,
        /// The threshold that was crossed.
        threshold: String,
    },
    /// The worker thread pool could not be built.
    #[error("thread pool: {0}")]
    ThreadPool(String),
    /// The job records could not be read or written. Jobs stored and
    /// recorded before it are kept.
    #[error("sweep `{sweep}`: job records: {message}")]
    JobRecords {
        /// The sweep's name.
        sweep: String,
        /// What failed.
        message: String,
    },
    /// Run options that cannot work together.
    #[error("sweep `{sweep}`: {message}")]
    RunOptions {
        /// The sweep's name.
        sweep: String,
        /// What is wrong.
        message: String,
    },
}

/// The result type of collector-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid_var(var: &str, message: impl Into<String>) -> Error {
    Error::InvalidVariable {
        var: var.to_string(),
        message: message.into(),
    }
}

pub(crate) fn unknown(what: &'static str, name: &str, known: &[&str]) -> Error {
    let hint = if known.is_empty() {
        String::new()
    } else {
        format!(" (known: {})", known.join(", "))
    };
    Error::UnknownName {
        what,
        name: name.to_string(),
        hint,
    }
}
