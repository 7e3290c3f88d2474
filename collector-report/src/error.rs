//! The error type of collector-report.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while rendering, exporting or reading a
/// report. Every message names the file or the thing it is about.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The dataset refused an operation (an unknown dim, a bad shape).
    #[error(transparent)]
    Core(#[from] collector_core::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A CSV file could not be written or parsed.
    #[error("CSV {}: {source}", path.display())]
    Csv {
        /// The file, or `<memory>` for in-memory buffers.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// A JSON document could not be written or parsed.
    #[error("JSON {}: {source}", path.display())]
    Json {
        /// The file, or `<memory>` for in-memory buffers.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A netCDF file could not be written or read.
    #[cfg(feature = "netcdf")]
    #[error("netCDF {}: {source}", path.display())]
    Netcdf {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: netcdf::Error,
    },
    /// The netCDF writer could not write one dim, variable or attribute.
    #[cfg(feature = "netcdf")]
    #[error("netCDF {}: {item}: {action}: {source}", path.display())]
    NetcdfItem {
        /// The file.
        path: PathBuf,
        /// What it was writing: "variable `x/y` (netCDF name `x_y`)", a
        /// dim, a global attribute.
        item: String,
        /// What failed ("cannot write cell 3").
        action: String,
        /// Why, as libnetcdf says it.
        source: netcdf::Error,
    },
    /// A file parsed but does not hold what a report export holds.
    #[error("{what}: {message}")]
    Format {
        /// The file or the part of it.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A plot could not be drawn.
    #[error("plot `{plot}`: {message}")]
    Plot {
        /// The plot's title.
        plot: String,
        /// The drawing backend's message.
        message: String,
    },
}

/// The result type of collector-report.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

pub(crate) fn format_err(what: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Format {
        what: what.into(),
        message: message.into(),
    }
}
