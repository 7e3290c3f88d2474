//! Media files of result-collector: where they live, how history aging
//! writes sentinels over old cells, how the files those cells named are
//! deleted (only after the commit, only inside the media root), blobs, and
//! an orphan GC.
//!
//! - [`MediaRoot`] lays files out as `<root>/<kind>/<variable>/<job key>/<name>`
//!   so parallel jobs never collide; cells store paths relative to the root.
//! - [`null_old_entries`] writes a variable's sentinel into its cells older
//!   than its limit (core's
//!   [`Dataset::age_var`](collector_core::Dataset::age_var)) and returns
//!   the files they named as a [`PendingDeletion`]: nothing is deleted
//!   until [`PendingDeletion::execute`] is called after the write that stops
//!   referencing the files has committed. If the commit fails, drop it.
//! - [`gc`] finds files no stored record references: dry run by default,
//!   a grace period for young files, and nothing deleted if any record
//!   could not be read.
//! - [`MediaRoot::write_blob`] stores content-addressed blobs atomically.
//!
//! ```
//! use std::collections::BTreeMap;
//! use collector_core::{Cell, Column, Coords, Dataset, Dim, ResultKind, OVER_TIME_DIM};
//! use collector_media::{MediaRoot, null_old_entries};
//!
//! let dir = tempfile::tempdir()?;
//! let root = MediaRoot::new(dir.path())?;
//!
//! // Three runs of one job, each writing an image.
//! let mut img = Column::new_missing("img", "img", ResultKind::Image, &[3]);
//! let mut files = Vec::new();
//! for t in 0..3 {
//!     let f = root.new_file(ResultKind::Image, "img", "job-0", "plot.png")?;
//!     img.set(&[t], Cell::Text(f.cell.clone()))?;
//!     files.push(f.path);
//! }
//! let time = Dim::new(OVER_TIME_DIM, Coords::Label(vec!["v1".into(), "v2".into(), "v3".into()]));
//! let mut ds = Dataset::from_parts(vec![time], vec![img], BTreeMap::new())?;
//!
//! // Keep the newest event of `img`.
//! let pending = null_old_entries(&mut ds, "img", 1)?;
//! assert_eq!(pending.len(), 2);
//! assert_eq!(ds.column("img")?.text().unwrap()[[0]], "NAN");
//!
//! // The write that stops referencing the files commits first…
//! let commit = |_: &Dataset| -> Result<(), String> { Ok(()) };
//! if commit(&ds).is_ok() {
//!     // …then the files go. On a failed commit, `pending` is simply dropped.
//!     let report = pending.execute_against(&root, &ds);
//!     assert_eq!(report.deleted.len(), 2);
//! }
//! assert!(!files[0].exists() && !files[1].exists() && files[2].exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aging;
mod blob;
mod deletion;
mod error;
mod gc;
mod root;

pub use aging::{null_old_entries, sentinel_for_result_var};
pub use blob::{blob_name, is_blob_name};
pub use deletion::{DeletionReport, PendingDeletion, Refusal, live_media_paths};
pub use error::{Error, Result};
pub use gc::{DEFAULT_GRACE, GcOptions, GcReferences, GcReport, OrphanFile, gc};
pub use root::{BLOB_DIR, MEDIA_KINDS, MediaFile, MediaRoot, PlacedFile, TMP_PREFIX};
