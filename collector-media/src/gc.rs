//! Orphan GC: media and blob files that no stored record references.

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use collector_core::{Dataset, ResultKind};

use crate::blob::is_blob_name;
use crate::deletion::prune_empty_dirs;
use crate::error::{Error, Result};
use crate::root::{BLOB_DIR, MEDIA_KINDS, MediaRoot, TMP_PREFIX};

/// The default grace period: files younger than this are never collected,
/// so a file being written by a run that has not committed yet survives.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60 * 60);

/// Deepest directory level GC descends to below a kind directory (media
/// files sit at depth 3: variable, job key, file).
const MAX_DEPTH: usize = 16;

/// Every file reference held by the stored records, gathered by the layer
/// that reads them (the cache), plus the records it could not read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReferences {
    media: HashSet<String>,
    blobs: HashSet<String>,
    unreadable: Vec<String>,
}

impl GcReferences {
    /// No references yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every media and blob cell of a stored dataset
    /// ([`Dataset::named_files`]).
    pub fn add_dataset(&mut self, dataset: &Dataset) {
        for f in dataset.named_files() {
            let set = if f.kind == ResultKind::Blob {
                &mut self.blobs
            } else {
                &mut self.media
            };
            set.insert(f.path.to_string());
        }
    }

    /// Adds one media cell (a path, relative to the root or absolute).
    pub fn add_media(&mut self, cell: impl Into<String>) {
        self.media.insert(cell.into());
    }

    /// Adds one blob name.
    pub fn add_blob(&mut self, name: impl Into<String>) {
        self.blobs.insert(name.into());
    }

    /// Records that a stored record could not be read (`what` says which
    /// and why). Any such record makes [`gc`] delete nothing.
    pub fn mark_unreadable(&mut self, what: impl Into<String>) {
        self.unreadable.push(what.into());
    }

    /// Whether every stored record was read.
    pub fn is_complete(&self) -> bool {
        self.unreadable.is_empty()
    }

    /// The root-relative keys of every reference.
    fn keys(&self, root: &MediaRoot) -> HashSet<PathBuf> {
        let media = self.media.iter().filter_map(|s| root.relative_key(s));
        let blobs = self.blobs.iter().filter_map(|n| {
            if is_blob_name(n) {
                Some(Path::new(BLOB_DIR).join(n))
            } else {
                root.relative_key(n)
            }
        });
        media.chain(blobs).collect()
    }
}

/// How [`gc`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// Delete the orphans; `false` (the default) only reports them.
    pub delete: bool,
    /// Files modified more recently than this are left alone.
    pub grace: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            delete: false,
            grace: DEFAULT_GRACE,
        }
    }
}

/// An unreferenced file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanFile {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What [`gc`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Whether this was a dry run (nothing deleted).
    pub dry_run: bool,
    /// Media and blob files examined.
    pub scanned: usize,
    /// Files some record references.
    pub referenced: usize,
    /// Unreferenced files older than the grace period: deleted, or would be.
    pub orphans: Vec<OrphanFile>,
    /// Total size of `orphans`.
    pub orphan_bytes: u64,
    /// Files deleted (0 in a dry run).
    pub deleted: usize,
    /// Bytes deleted (0 in a dry run).
    pub deleted_bytes: u64,
    /// Unreferenced files spared because they are younger than the grace period.
    pub too_young: usize,
    /// Temporary files (`.tmp…`) left alone: being written (younger than
    /// the grace period), or not plain files. Older ones, left by a killed
    /// writer, are among `orphans`.
    pub temporary: usize,
    /// Foreign entries inside the media and blob directories (symlinks,
    /// files that are not blobs, …) left alone.
    pub foreign: usize,
    /// Files or directories that could not be examined or deleted.
    pub failed: Vec<(PathBuf, String)>,
}

/// Finds the media and blob files under `root` that no stored record
/// references, and deletes them when `opts.delete` is set.
///
/// Only `<root>/path|image|video|recording/…` and `<root>/blob/` are
/// examined; temporary files (`.tmp…`) being written, symlinks and
/// anything else are left alone, and files younger than `opts.grace` are
/// spared. A temporary file older than the grace period was left by a
/// killed writer (no write takes that long): it is an orphan. With a zero
/// grace period, one being written goes too: zero grace says that no other
/// writer is at work.
///
/// Fails closed: when `refs` records any unreadable record, nothing is
/// scanned or deleted and [`Error::UnreadableRecords`] says why.
pub fn gc(root: &MediaRoot, refs: &GcReferences, opts: GcOptions) -> Result<GcReport> {
    if let Some(first) = refs.unreadable.first() {
        tracing::warn!(count = refs.unreadable.len(), first = %first, "orphan GC refused: unreadable records");
        return Err(Error::UnreadableRecords {
            count: refs.unreadable.len(),
            first: first.clone(),
        });
    }
    let mut walk = Walk {
        refs: refs.keys(root),
        opts,
        now: SystemTime::now(),
        report: GcReport {
            dry_run: !opts.delete,
            ..GcReport::default()
        },
    };
    for kind in MEDIA_KINDS {
        let name = kind.name();
        let dir = root.path().join(&name);
        if walk.real_dir(&dir) {
            walk.media_dir(&dir, Path::new(&name), &dir, 0);
        }
    }
    let blob_dir = root.blob_dir();
    if walk.real_dir(&blob_dir) {
        walk.blob_dir(&blob_dir);
    }
    Ok(walk.report)
}

struct Walk {
    refs: HashSet<PathBuf>,
    opts: GcOptions,
    now: SystemTime,
    report: GcReport,
}

impl Walk {
    /// Whether `dir` is a directory and not a symlink (a symlinked kind
    /// directory leads outside the root and is left alone).
    fn real_dir(&mut self, dir: &Path) -> bool {
        match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => true,
            Ok(_) => {
                tracing::warn!(path = %dir.display(), "orphan GC skips a media directory that is not a plain directory");
                self.report.foreign += 1;
                false
            }
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => {
                self.report.failed.push((dir.to_path_buf(), e.to_string()));
                false
            }
        }
    }

    fn entries(&mut self, dir: &Path) -> Vec<fs::DirEntry> {
        match fs::read_dir(dir) {
            Ok(it) => it
                .filter_map(|e| match e {
                    Ok(e) => Some(e),
                    Err(err) => {
                        self.report
                            .failed
                            .push((dir.to_path_buf(), err.to_string()));
                        None
                    }
                })
                .collect(),
            Err(e) => {
                self.report.failed.push((dir.to_path_buf(), e.to_string()));
                Vec::new()
            }
        }
    }

    fn media_dir(&mut self, dir: &Path, key: &Path, kind_dir: &Path, depth: usize) {
        if depth > MAX_DEPTH {
            self.report.foreign += 1;
            return;
        }
        let mut deleted_any = false;
        for entry in self.entries(dir) {
            let name = entry.file_name();
            let path = entry.path();
            let key = key.join(&name);
            if name.to_string_lossy().starts_with(TMP_PREFIX) {
                deleted_any |= self.temporary(&entry, &path, &key);
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => self.media_dir(&path, &key, kind_dir, depth + 1),
                Ok(t) if t.is_file() => deleted_any |= self.candidate(&path, &key),
                Ok(_) => self.report.foreign += 1,
                Err(e) => self.report.failed.push((path, e.to_string())),
            }
        }
        if deleted_any && depth > 0 {
            prune_empty_dirs(dir, kind_dir);
        }
    }

    fn blob_dir(&mut self, dir: &Path) {
        for entry in self.entries(dir) {
            let name = entry.file_name();
            let path = entry.path();
            let name = name.to_string_lossy();
            if name.starts_with(TMP_PREFIX) {
                self.temporary(&entry, &path, &Path::new(BLOB_DIR).join(name.as_ref()));
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_file() && is_blob_name(&name) => {
                    self.candidate(&path, &Path::new(BLOB_DIR).join(name.as_ref()));
                }
                Ok(_) => self.report.foreign += 1,
                Err(e) => self.report.failed.push((path, e.to_string())),
            }
        }
    }

    /// A temporary entry: a plain file older than the grace period is a
    /// candidate; anything else is left alone.
    /// Returns whether it was deleted.
    fn temporary(&mut self, entry: &fs::DirEntry, path: &Path, key: &Path) -> bool {
        let stale = entry.file_type().is_ok_and(|t| t.is_file())
            && fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| self.now.duration_since(m).ok())
                .is_some_and(|age| age >= self.opts.grace);
        if stale {
            self.candidate(path, key)
        } else {
            self.report.temporary += 1;
            false
        }
    }

    /// Examines one file; returns whether it was deleted.
    fn candidate(&mut self, path: &Path, key: &Path) -> bool {
        self.report.scanned += 1;
        if self.refs.contains(key) {
            self.report.referenced += 1;
            return false;
        }
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return false,
            Err(e) => {
                self.report.failed.push((path.to_path_buf(), e.to_string()));
                return false;
            }
        };
        // An unreadable or future mtime counts as young: when in doubt, keep.
        let old_enough = meta
            .modified()
            .ok()
            .and_then(|m| self.now.duration_since(m).ok())
            .is_some_and(|age| age >= self.opts.grace);
        if !old_enough {
            self.report.too_young += 1;
            return false;
        }
        let bytes = meta.len();
        self.report.orphans.push(OrphanFile {
            path: path.to_path_buf(),
            bytes,
        });
        self.report.orphan_bytes += bytes;
        if !self.opts.delete {
            return false;
        }
        match fs::remove_file(path) {
            Ok(()) => {
                tracing::debug!(path = %path.display(), bytes, "GC deleted an orphan file");
                self.report.deleted += 1;
                self.report.deleted_bytes += bytes;
                true
            }
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => {
                self.report.failed.push((path.to_path_buf(), e.to_string()));
                false
            }
        }
    }
}
