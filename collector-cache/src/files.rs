//! Which files the stored records name: for an orphan-file GC, and for the
//! caller deciding whether a released file may go.

use std::collections::BTreeSet;

use collector_core::FileRef;

use crate::db::{CacheDb, Scanned};
use crate::error::Result;
use crate::schema::{Family, HistoryEvents, Results};

/// Every media path named by a stored record, for an orphan-file GC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaReferences {
    /// The text of every media-kind cell (never a missing value) of every
    /// stored result and history event.
    pub paths: BTreeSet<String>,
    /// Keys of records that could not be read. A GC must delete nothing
    /// when this is not empty: an unreadable record may name any file.
    pub unreadable: Vec<String>,
}

/// Which of some candidate files the stored records still name (see
/// [`CacheDb::files_still_named`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StillNamed {
    /// The candidates named by a cell of a stored result, history event
    /// or job record.
    pub named: BTreeSet<String>,
    /// Keys of records that could not be read. When this is not empty the
    /// caller must keep every candidate: an unreadable record may name
    /// any file.
    pub unreadable: Vec<String>,
}

impl CacheDb {
    /// Scans every stored result and history event for the media paths
    /// they name. Reads the whole cache: meant for garbage collection, not
    /// for the run path. Unreadable records are listed, not removed.
    pub fn media_references(&self) -> Result<MediaReferences> {
        let mut paths = BTreeSet::new();
        let mut unreadable = self.visit_named_files(|f| {
            if f.kind.is_media() {
                paths.insert(f.path.to_string());
            }
        })?;
        // A job record may name a file too (a resumed run reuses it).
        unreadable.extend(self.visit_job_record_files(|t, media| {
            if media {
                paths.insert(t.to_string());
            }
        })?);
        Ok(MediaReferences { paths, unreadable })
    }

    /// Which of `candidates` (file paths, such as
    /// [`AppendOutcome::released_files`](crate::AppendOutcome::released_files))
    /// a cell of any stored result or history event still names
    /// (`Dataset::named_files`): those must stay; the others may be
    /// deleted, unless a record could not be read. Unreadable records are
    /// listed, not removed.
    ///
    /// Reads the whole cache when `candidates` is not empty; returns at
    /// once when it is.
    pub fn files_still_named(&self, candidates: &BTreeSet<String>) -> Result<StillNamed> {
        if candidates.is_empty() {
            return Ok(StillNamed::default());
        }
        let mut named = BTreeSet::new();
        let mut unreadable = self.visit_named_files(|f| {
            if candidates.contains(f.path) {
                named.insert(f.path.to_string());
            }
        })?;
        // A job record may name a file too (a resumed run reuses it).
        unreadable.extend(self.visit_job_record_files(|t, _| {
            if candidates.contains(t) {
                named.insert(t.to_string());
            }
        })?);
        Ok(StillNamed { named, unreadable })
    }

    /// Calls `visit` with every file named by a stored result or history
    /// event; returns the records that could not be read.
    fn visit_named_files(&self, mut visit: impl FnMut(FileRef<'_>)) -> Result<Vec<String>> {
        let mut unreadable = Vec::new();
        for entry in self.scan::<Results>()? {
            let Scanned { key, value } = entry?;
            match self.whole_result(None, value)? {
                Ok(r) => r.dataset.named_files().for_each(&mut visit),
                Err(_) => unreadable.push(format!("result {}", key.text())),
            }
        }
        for entry in self.scan_raw::<HistoryEvents>()? {
            let (key, value) = entry?;
            match self.scanned_event(&key, &value)? {
                Ok(ev) => ev.dataset.named_files().for_each(&mut visit),
                Err(_) => unreadable.push(match HistoryEvents::parse_key(&key) {
                    Some(k) => format!("event {} of history {}", k.seq, k.history),
                    None => format!("event {}", String::from_utf8_lossy(&key)),
                }),
            }
        }
        Ok(unreadable)
    }
}
