//! What the cache holds: listings by sweep name and sizes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use collector_core::TimeKind;
use tracing::warn;

use crate::db::{CacheDb, Scanned};
use crate::error::Result;
use crate::history::Superseded;
use crate::results::IndexRec;
use crate::schema::{HistoryMeta, Index};

/// One stored result, as listed by [`CacheDb::list_sweeps`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultEntry {
    /// The cache key.
    pub key: String,
    /// Whether it is a complete result (a cache hit).
    pub complete: bool,
    /// Number of cells over all columns.
    pub cells: u64,
    /// Encoded size in bytes.
    pub bytes: u64,
    /// When it was stored.
    pub stored_at: SystemTime,
    /// Jobs attempted by the run that stored it.
    pub attempted: u64,
    /// Jobs that failed in that run.
    pub failed: u64,
}

impl From<IndexRec> for ResultEntry {
    fn from(r: IndexRec) -> Self {
        ResultEntry {
            key: r.cache_key,
            complete: r.complete,
            cells: r.cells,
            bytes: r.bytes,
            stored_at: UNIX_EPOCH + Duration::from_millis(r.stored_at_ms),
            attempted: r.attempted,
            failed: r.failed,
        }
    }
}

/// One history, as listed by [`CacheDb::list_sweeps`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The history key.
    pub key: String,
    /// Number of live events.
    pub events: u64,
    /// Encoded size of the live events, in bytes.
    pub bytes: u64,
    /// Kind of the `over_time` coordinate.
    pub over_time_kind: TimeKind,
    /// Set when the sweep name now appends to another history (its
    /// inputs, constants, tag or repeats changed): what changed.
    pub superseded: Option<Superseded>,
}

/// Everything stored for one sweep name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepListing {
    /// The sweep name.
    pub name: String,
    /// Its stored results, oldest stored first.
    pub results: Vec<ResultEntry>,
    /// Its histories.
    pub histories: Vec<HistoryEntry>,
}

/// Sizes of the whole cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStats {
    /// The database directory.
    pub db_dir: PathBuf,
    /// Number of stored results.
    pub results: u64,
    /// Their encoded size in bytes.
    pub result_bytes: u64,
    /// The configured bound on `result_bytes`.
    pub cache_size: Option<u64>,
    /// Number of histories.
    pub histories: u64,
    /// Number of live events over all histories.
    pub history_events: u64,
    /// Encoded size of those events, in bytes.
    pub history_bytes: u64,
    /// Job sets (one per sweep identity and code version).
    pub job_sets: u64,
    /// Job records in them.
    pub job_records: u64,
    /// Their stored size in bytes (counted against `cache_size`).
    pub job_record_bytes: u64,
}

impl CacheDb {
    /// Everything stored, grouped by sweep name (sorted by name).
    pub fn list_sweeps(&self) -> Result<Vec<SweepListing>> {
        let mut by_name: BTreeMap<String, SweepListing> = BTreeMap::new();
        let mut results: Vec<IndexRec> = Vec::new();
        for entry in self.scan::<Index>()? {
            let Scanned { key, value } = entry?;
            match value {
                Ok(r) => results.push(r),
                Err(e) => {
                    warn!(key = %key.text(), error = %e, "skipping a corrupt index entry");
                }
            }
        }
        results.sort_by_key(|r| r.stored_seq);
        for r in results {
            let l = by_name.entry(r.sweep.clone()).or_default();
            l.results.push(r.into());
        }
        for entry in self.scan::<HistoryMeta>()? {
            let Scanned { key, value } = entry?;
            match value {
                Ok(m) => {
                    let key = key.text().into_owned();
                    let superseded = self.superseded(&key, &m)?;
                    by_name
                        .entry(m.sweep.clone())
                        .or_default()
                        .histories
                        .push(HistoryEntry {
                            key,
                            events: m.event_count(),
                            bytes: m.bytes,
                            over_time_kind: m.time_kind,
                            superseded,
                        });
                }
                Err(e) => {
                    warn!(key = %key.text(), error = %e, "skipping corrupt history metadata");
                }
            }
        }
        Ok(by_name
            .into_iter()
            .map(|(name, mut l)| {
                l.name = name;
                l
            })
            .collect())
    }

    /// Sizes of the whole cache.
    pub fn stats(&self) -> Result<CacheStats> {
        let (results, result_bytes) = self.result_totals();
        let (mut histories, mut history_events, mut history_bytes) = (0, 0, 0);
        for entry in self.scan::<HistoryMeta>()? {
            if let Ok(m) = entry?.value {
                histories += 1;
                history_events += m.event_count();
                history_bytes += m.bytes;
            }
        }
        let jobs = self.job_totals()?;
        Ok(CacheStats {
            job_sets: jobs.sets,
            job_records: jobs.records,
            job_record_bytes: jobs.bytes,
            db_dir: self.dir().to_path_buf(),
            results,
            result_bytes,
            cache_size: self.options().cache_size,
            histories,
            history_events,
            history_bytes,
        })
    }
}
