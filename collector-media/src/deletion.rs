//! Deferred, confined deletion of media files.

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use collector_core::{Dataset, is_missing_text};

use crate::root::{BLOB_DIR, MEDIA_KINDS, MediaRoot};

/// Media files waiting to be deleted once the write that stops referencing
/// them has committed.
///
/// Nothing is deleted until [`execute`](Self::execute) is called; dropping
/// a `PendingDeletion` deletes nothing (the files become orphans for
/// [`gc`](crate::gc) to collect), which is what a failed commit must do.
#[must_use = "files are deleted only by `execute`, after the commit that stops referencing them"]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingDeletion {
    /// In the order first pushed.
    paths: Vec<String>,
    /// The same paths, for deduplication.
    seen: HashSet<String>,
}

/// A path that deletion refused to touch, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The path as the cell or caller gave it.
    pub path: String,
    /// Why it was refused.
    pub reason: &'static str,
}

/// What [`PendingDeletion::execute`] did with each path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeletionReport {
    /// Files deleted.
    pub deleted: Vec<PathBuf>,
    /// Files that were already gone (not an error).
    pub already_gone: Vec<PathBuf>,
    /// Files kept because a live cell still names them.
    pub kept_live: Vec<PathBuf>,
    /// Paths refused because they lead outside the media directories.
    pub refused: Vec<Refusal>,
    /// Files whose deletion failed, with the error.
    pub failed: Vec<(PathBuf, String)>,
}

impl DeletionReport {
    /// Whether every path was deleted, already gone or kept live.
    pub fn is_clean(&self) -> bool {
        self.refused.is_empty() && self.failed.is_empty()
    }
}

enum Outcome {
    Deleted(PathBuf),
    Gone(PathBuf),
    Live(PathBuf),
    Refused(&'static str),
    Failed(PathBuf, String),
}

impl PendingDeletion {
    /// Nothing to delete.
    pub fn new() -> Self {
        Self::default()
    }

    /// Files released by another layer, e.g. the media paths of history
    /// events the cache trimmed in a write batch that has committed.
    /// Missing values (`"NAN"`, empty) are ignored.
    pub fn from_paths<S: Into<String>>(paths: impl IntoIterator<Item = S>) -> Self {
        let mut p = PendingDeletion::new();
        for s in paths {
            p.push(s.into());
        }
        p
    }

    /// Adds one path (ignored when it is a missing value or already listed).
    pub fn push(&mut self, path: String) {
        if !is_missing_text(&path) && self.seen.insert(path.clone()) {
            self.paths.push(path);
        }
    }

    /// Adds the paths of `other` (aging several variables for one commit).
    pub fn merge(&mut self, other: PendingDeletion) {
        for p in other.paths {
            self.push(p);
        }
    }

    /// The pending paths, as the cells named them.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// Number of pending paths.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Deletes the pending files. Call it only after the write that stops
    /// referencing them has committed.
    ///
    /// `live` holds the cells of the record just committed (see
    /// [`live_media_paths`]); a file any of them names is kept. Relative
    /// paths are resolved against the root. Only files inside the media
    /// kind directories (`<root>/path|image|video|recording/…`) are ever
    /// deleted: a path that is absolute elsewhere, has a `..` component,
    /// goes through a symlinked directory out of them, is itself a symlink
    /// pointing out, or lies in the blob directory (blobs are shared; only
    /// GC removes them) is refused with a warning. A file already gone is
    /// not an error. Job directories left empty are removed.
    ///
    /// The checks and the removal are separate file-system calls: the media
    /// root is assumed not to be writable by an adversary who could swap a
    /// directory for a symlink in between.
    pub fn execute(self, root: &MediaRoot, live: &HashSet<String>) -> DeletionReport {
        let live_keys: HashSet<PathBuf> =
            live.iter().filter_map(|s| root.relative_key(s)).collect();
        let mut report = DeletionReport::default();
        for cell in &self.paths {
            match delete_one(root, &live_keys, cell) {
                Outcome::Deleted(p) => {
                    tracing::debug!(path = %p.display(), "deleted media file");
                    report.deleted.push(p);
                }
                Outcome::Gone(p) => report.already_gone.push(p),
                Outcome::Live(p) => report.kept_live.push(p),
                Outcome::Refused(reason) => {
                    tracing::warn!(path = %cell, reason, "refused to delete a media file");
                    report.refused.push(Refusal {
                        path: cell.clone(),
                        reason,
                    });
                }
                Outcome::Failed(p, e) => {
                    tracing::warn!(path = %p.display(), error = %e, "could not delete a media file");
                    report.failed.push((p, e));
                }
            }
        }
        report
    }

    /// [`execute`](Self::execute) keeping every file named by a live cell
    /// of `committed`, the dataset whose write just committed.
    pub fn execute_against(self, root: &MediaRoot, committed: &Dataset) -> DeletionReport {
        self.execute(root, &live_media_paths(committed))
    }
}

/// The text of every non-missing media and blob cell of `dataset`: the
/// files it still names ([`Dataset::named_files`]).
pub fn live_media_paths(dataset: &Dataset) -> HashSet<String> {
    dataset.named_files().map(|f| f.path.to_string()).collect()
}

/// Whether `key` (root-relative) lies in a media kind directory; the kind
/// directory's name is returned.
pub(crate) fn media_dir_of(key: &Path) -> Option<String> {
    let mut comps = key.components();
    let first = match comps.next() {
        Some(Component::Normal(s)) => s.to_str()?.to_string(),
        _ => return None,
    };
    comps.next()?;
    MEDIA_KINDS
        .iter()
        .any(|k| k.name() == first)
        .then_some(first)
}

fn delete_one(root: &MediaRoot, live: &HashSet<PathBuf>, cell: &str) -> Outcome {
    if Path::new(cell)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Outcome::Refused("the path has a `..` component");
    }
    let Some(key) = root.relative_key(cell) else {
        return Outcome::Refused("the path is outside the media root");
    };
    if key.starts_with(BLOB_DIR) {
        return Outcome::Refused("blobs are shared and only removed by GC");
    }
    let Some(kind_dir) = media_dir_of(&key) else {
        return Outcome::Refused(
            "the path is not inside a media directory (path, image, video, recording)",
        );
    };
    let lexical = root.path().join(&key);
    let (Some(parent), Some(file_name)) = (lexical.parent(), lexical.file_name()) else {
        return Outcome::Refused("the path names no file");
    };
    let canon_kind_dir = root.canonical_path().join(&kind_dir);
    let canon_parent = match fs::canonicalize(parent) {
        Ok(p) => p,
        Err(e) if e.kind() == ErrorKind::NotFound => return Outcome::Gone(lexical),
        Err(e) => return Outcome::Failed(lexical, e.to_string()),
    };
    if !canon_parent.starts_with(&canon_kind_dir) {
        return Outcome::Refused(
            "a directory on the path is a symlink leading out of the media root",
        );
    }
    let target = canon_parent.join(file_name);
    let meta = match fs::symlink_metadata(&target) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Outcome::Gone(lexical),
        Err(e) => return Outcome::Failed(lexical, e.to_string()),
    };
    if meta.is_dir() {
        return Outcome::Refused("the path is a directory");
    }
    if meta.file_type().is_symlink() {
        match fs::canonicalize(&target) {
            Ok(t)
                if MEDIA_KINDS
                    .iter()
                    .any(|k| t.starts_with(root.canonical_path().join(k.name()))) => {}
            Ok(_) => {
                return Outcome::Refused("the file is a symlink pointing out of the media root");
            }
            Err(_) => return Outcome::Refused("the file is a dangling symlink"),
        }
    }
    let canon_key = target.strip_prefix(root.canonical_path()).ok();
    if live.contains(&key) || canon_key.is_some_and(|k| live.contains(k)) {
        return Outcome::Live(lexical);
    }
    match fs::remove_file(&target) {
        Ok(()) => {
            prune_empty_dirs(&canon_parent, &canon_kind_dir);
            Outcome::Deleted(lexical)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Outcome::Gone(lexical),
        Err(e) => Outcome::Failed(lexical, e.to_string()),
    }
}

/// Removes `dir` and its parents while they are empty, stopping at `stop`
/// (a kind directory, which is kept). `remove_dir` fails on a non-empty
/// directory, so a file created meanwhile is never lost.
pub(crate) fn prune_empty_dirs(dir: &Path, stop: &Path) {
    let mut d = dir;
    while d != stop && d.starts_with(stop) {
        if fs::remove_dir(d).is_err() {
            break;
        }
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
}
