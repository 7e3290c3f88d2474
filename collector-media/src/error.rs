//! The error type of collector-media.

use std::path::PathBuf;

/// Everything that can go wrong in collector-media. Every message names the
/// path, variable or file name it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What was attempted ("create directory", "write blob", …).
        action: &'static str,
        /// The path it was attempted on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A name used as one path component (variable, job key, file name,
    /// blob name, extension) is not acceptable.
    #[error("invalid {what} `{name}`: {reason}")]
    InvalidName {
        /// What the name is ("variable", "job key", "file name", "blob name", …).
        what: &'static str,
        /// The offending name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A media file was asked for a result kind that is not a media kind.
    #[error(
        "result kind `{kind}` has no media directory (media kinds: path, image, video, recording)"
    )]
    NotMedia {
        /// The kind's name.
        kind: String,
    },
    /// The dataset refused an operation: aging a result variable it has no
    /// column of, or aging without an `over_time` dim. The message names
    /// the variable.
    #[error(transparent)]
    Core(#[from] collector_core::Error),
    /// Orphan GC refused to run because some stored records could not be
    /// read: any file could belong to them, so nothing was deleted.
    #[error(
        "orphan GC deleted nothing: {count} stored record(s) could not be read, so their files are unknown (fail closed); first: {first}"
    )]
    UnreadableRecords {
        /// How many records could not be read.
        count: usize,
        /// The first such record and why.
        first: String,
    },
    /// Every deduplicated variant of a file name is taken.
    #[error("no free file name for `{name}` in `{}` after {tries} tries", dir.display())]
    NamesExhausted {
        /// The requested file name.
        name: String,
        /// The job directory.
        dir: PathBuf,
        /// How many names were tried.
        tries: usize,
    },
}

/// The result type of collector-media.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A closure turning an `io::Error` into [`Error::Io`] for `path`.
pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
