//! Keeping a cache directory tidy: the orphan-file GC and sizes.

use std::path::{Path, PathBuf};

use collector_cache::CacheStats;
use collector_media::{BLOB_DIR, GcOptions, GcReferences, GcReport, MEDIA_KINDS};

use crate::{Result, ResultCollector};

/// What [`ResultCollector::gc`] did.
#[derive(Debug)]
pub struct GcSummary {
    /// Stored records (results and histories) read for references (0 when
    /// there is no media directory: nothing is read then).
    pub records: usize,
    /// What the media GC found and did; `None` when there is no media
    /// directory.
    pub report: Option<GcReport>,
}

/// Files and bytes under one directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Regular files (symlinks are not followed).
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
}

/// Sizes of a whole cache directory.
#[derive(Debug, Clone)]
pub struct Stats {
    /// The cache directory.
    pub dir: PathBuf,
    /// What the database holds, by its own count.
    pub cache: CacheStats,
    /// The database directory on disk.
    pub db_disk: DiskUsage,
    /// The media directory on disk.
    pub media_disk: DiskUsage,
    /// Per media kind folder (and `blob`), those that hold files.
    pub media_by_kind: Vec<(String, DiskUsage)>,
}

/// Files and bytes under `dir` (symlinks not followed; unreadable entries
/// skipped; a missing directory is empty).
pub fn disk_usage(dir: &Path) -> DiskUsage {
    let mut u = DiskUsage::default();
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if e.file_type().is_file() {
            u.files += 1;
            u.bytes += e.metadata().map_or(0, |m| m.len());
        }
    }
    u
}

impl ResultCollector {
    /// Finds the media files that no stored result or history names, and
    /// deletes them when `opts.delete` is set. Every record (results,
    /// histories, job records) is read first;
    /// if any cannot be read, nothing is deleted (an unreadable record may
    /// name any file).
    pub fn gc(&self, opts: GcOptions) -> Result<GcSummary> {
        if !self.dir.media().is_dir() {
            return Ok(GcSummary {
                records: 0,
                report: None,
            });
        }
        let db = self.cache()?;
        let mut refs = GcReferences::new();
        let mut records = 0usize;
        for l in db.list_sweeps()? {
            for r in &l.results {
                match db.get_result(&r.key) {
                    Ok(Some(stored)) => refs.add_dataset(&stored.dataset),
                    Ok(None) => refs.mark_unreadable(format!(
                        "result {} of `{}` (corrupt, removed)",
                        r.key, l.name
                    )),
                    Err(e) => {
                        refs.mark_unreadable(format!("result {} of `{}`: {e}", r.key, l.name));
                    }
                }
                records += 1;
            }
            for h in &l.histories {
                // A history too large to load is unread: then nothing is
                // deleted, as for any record that cannot be read.
                let limit = self.memory_limit_bytes();
                if let Err(e) = self.check_history_memory(&db, &h.key, 0, None, limit) {
                    refs.mark_unreadable(format!("history {} of `{}`: {e}", h.key, l.name));
                    records += 1;
                    continue;
                }
                match db.load_history(&h.key) {
                    Ok(Some(ds)) => refs.add_dataset(&ds),
                    Ok(None) => refs.mark_unreadable(format!(
                        "history {} of `{}` (corrupt, removed)",
                        h.key, l.name
                    )),
                    Err(e) => {
                        refs.mark_unreadable(format!("history {} of `{}`: {e}", h.key, l.name));
                    }
                }
                records += 1;
            }
        }
        // Job records may name files too: a resumed run reuses them.
        let unreadable = db.visit_job_record_files(|t, media| {
            if media {
                refs.add_media(t);
            } else {
                refs.add_blob(t);
            }
        })?;
        for u in unreadable {
            refs.mark_unreadable(u);
        }
        let report = collector_media::gc(&self.media_root()?, &refs, opts)?;
        Ok(GcSummary {
            records,
            report: Some(report),
        })
    }

    /// The job sets stored (one per sweep identity and code version): their
    /// sweep, record count and bytes.
    pub fn job_sets(&self) -> Result<Vec<collector_cache::JobSetInfo>> {
        Ok(self.cache()?.job_sets()?)
    }

    /// Removes every job record of the sweep called `sweep_name`; returns
    /// how many there were. Later runs with reuse run those jobs again.
    pub fn remove_job_records(&self, sweep_name: &str) -> Result<u64> {
        Ok(self.cache()?.remove_job_records(sweep_name)?)
    }

    /// Sizes of the database and of the media directory.
    pub fn stats(&self) -> Result<Stats> {
        let cache = self.cache()?.stats()?;
        let media = self.dir.media();
        let media_by_kind = MEDIA_KINDS
            .iter()
            .map(|k| k.name())
            .chain(std::iter::once(BLOB_DIR.to_string()))
            .map(|name| {
                let u = disk_usage(&media.join(&name));
                (name, u)
            })
            .filter(|(_, u)| u.files > 0)
            .collect();
        Ok(Stats {
            dir: self.dir.root().to_path_buf(),
            db_disk: disk_usage(&self.dir.db()),
            media_disk: disk_usage(&media),
            media_by_kind,
            cache,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_usage_counts_files_below() {
        let t = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(t.path().join("a/b")).expect("mkdir");
        std::fs::write(t.path().join("a/b/f"), b"abc").expect("write");
        std::fs::write(t.path().join("g"), b"de").expect("write");
        assert_eq!(disk_usage(t.path()), DiskUsage { files: 2, bytes: 5 });
        assert_eq!(disk_usage(&t.path().join("none")), DiskUsage::default());
    }
}
