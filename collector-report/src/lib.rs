//! Reports of result-collector: a text summary of a dataset, its tidy
//! table, the failed samples, CSV, JSON and netCDF exports (with readers;
//! the netCDF file opens natively in xarray) and one self-contained HTML
//! page with plots, image thumbnails and regression marks. Two small helpers serve the command-line program:
//! [`text_table`], a borderless table for listings, and [`line_svg`], one
//! line plot as SVG.
//!
//! Everything takes a [`Dataset`](collector_core::Dataset) and, where it
//! matters, the run's [`SampleFailure`](collector_core::SampleFailure)s;
//! nothing here runs sweeps or touches a cache.
//!
//! # Features
//!
//! - `netcdf` (default): `write_netcdf` and `read_netcdf`, through the
//!   `netcdf` crate over the system's libnetcdf (with HDF5). Without it
//!   the crate builds with no C library, and every other report (text,
//!   CSV, JSON, HTML, SVG) is the same.
//!
//! ```
//! use collector_core::{run_sweep, setup_dataset, InputVar, ResultVar, RunOptions, Sweep, TimeSrc};
//! use collector_report::{HtmlOptions, failures_table, html_report, summary, tidy_table};
//!
//! let sweep = Sweep::builder("demo")
//!     .input(InputVar::float_samples("x", 0.0, 1.0, 3).units("m"))
//!     .result(ResultVar::float("cost").units("s"))
//!     .repeats(2)
//!     .build()?;
//! let mut result = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))?.result;
//! run_sweep(&mut result, &RunOptions::default(), |s| {
//!     let x = s.get::<f64>("x")?;
//!     Ok::<_, collector_core::Error>(s.outputs().with("cost", 2.0 * x))
//! })?;
//! let ds = &result.dataset;
//!
//! assert!(summary(ds).contains("x: 3"));
//! let table = tidy_table(ds, 4);
//! assert!(table.contains("cost [s]") && table.contains("… 2 more rows"));
//! assert_eq!(failures_table(&result.failures), "No failed samples.\n");
//!
//! let page = html_report(ds, &result.failures, &HtmlOptions::default())?;
//! assert!(page.contains("<svg") && page.contains("x [m]") && page.contains("cost [s]"));
//!
//! let dir = tempfile::tempdir().map_err(|e| collector_report::Error::Io { path: "tmp".into(), source: e })?;
//! collector_report::write_json(ds, &result.failures, dir.path().join("demo.json"))?;
//! let back = collector_report::read_json(dir.path().join("demo.json"))?;
//! assert_eq!(back.dataset.dim_names(), ["x", "repeat"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod atomic;
mod csv_file;
mod error;
#[cfg(feature = "netcdf")]
mod hdf5;
mod html;
mod images;
mod json_file;
#[cfg(feature = "netcdf")]
mod netcdf_file;
mod plot;
mod table;

pub use csv_file::{read_csv, read_csv_from, write_csv, write_csv_to};
pub use error::{Error, Result};
pub use html::{HtmlOptions, TextSection, escape, html_report, write_html};
pub use images::ImageOptions;
pub use json_file::{JsonExport, SCHEMA_VERSION, from_json, read_json, to_json, write_json};
#[cfg(feature = "netcdf")]
pub use netcdf_file::{read_netcdf, write_netcdf};
pub use plot::line_svg;
pub use table::{
    Role, TidyCell, TidyColumn, TidyTable, failures_table, fmt_num, text_table, tidy_table,
};

/// The text summary of `ds`, like xarray's repr: dims with sizes, coords
/// with their first values, each column with its kind, units and missing
/// cells, and the attributes. The same as `ds.to_string()`.
pub fn summary(ds: &collector_core::Dataset) -> String {
    ds.to_string()
}
