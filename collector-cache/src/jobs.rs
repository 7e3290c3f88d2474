//! Job records: one per finished job, grouped by job set (a sweep's
//! identity without its grid), with a summary per set for eviction, stats
//! and removal; and the manifests that shard runs write.

use collector_core::{BoxError, JobBatch, JobKey, JobLog, JobRecord, Sweep, SweepSpec, job_set};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::codec::{encode_job, encode_record};
use crate::db::{CacheDb, Scanned, lock, now_ms};
use crate::error::{Error, Result};
use crate::results::{JobSetEntry, ResultBook, delete_evicted};
use crate::schema::{self, JobRecords, JobSets, ShardKey, Shards, hex16};

/// The summary of one job set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobSetRec {
    pub(crate) sweep: String,
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    pub(crate) stored_seq: u64,
    pub(crate) updated_at_ms: u64,
}

/// One job set, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSetInfo {
    /// The job set, as 32 hex digits.
    pub set: String,
    /// The sweep name that last wrote to it.
    pub sweep: String,
    /// Its records.
    pub records: u64,
    /// Their stored size (keys and values), in bytes.
    pub bytes: u64,
    /// When a record was last written (ms since the Unix epoch).
    pub updated_at_ms: u64,
}

/// Job records over the whole cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobTotals {
    /// Job sets.
    pub sets: u64,
    /// Records.
    pub records: u64,
    /// Their stored size in bytes.
    pub bytes: u64,
}

/// What a shard run wrote beside its job records: enough to check that
/// shards belong together and to rebuild the sweep for the merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardManifest {
    /// The sweep's declaration.
    pub sweep: SweepSpec,
    /// The job set (the sweep's identity without its grid), 32 hex digits.
    pub job_set: String,
    /// The grid's hash ([`collector_core::grid_hash`]).
    pub grid_hash: String,
    /// The code version.
    pub version: String,
    /// The shard number, 1-based.
    pub k: u32,
    /// The number of shards.
    pub n: u32,
    /// How jobs were dealt: `hash` or `round-robin`.
    pub assign: String,
    /// The machine that ran it.
    pub host: String,
    /// When it finished (ms since the Unix epoch).
    pub time_ms: u64,
    /// Jobs in this shard.
    pub jobs: u64,
    /// Of those, jobs that failed.
    pub failed: u64,
}

/// The job log of one sweep in a cache: what
/// [`collector_core::run_sweep_logged`] records into and reuses from.
#[derive(Debug)]
pub struct CacheJobLog<'a> {
    db: &'a CacheDb,
    set: [u8; 16],
    sweep: String,
    /// The set held no record when the log was made (the run's start): no
    /// key the run writes can replace a record.
    fresh: bool,
    /// The set's records, read in one scan at the first lookup when there
    /// are at most [`SCAN_LIMIT`] of them (a scan in key order is several
    /// times faster than point reads of random keys); each is handed out
    /// once. `None`: not scanned (point reads).
    scanned: std::sync::Mutex<Option<std::collections::HashMap<JobKey, JobRecord>>>,
    /// Records in the set at the start, from its summary.
    records_at_start: u64,
}

/// A set with at most this many records is read in one scan on resume;
/// a larger one by point reads (bounded memory).
const SCAN_LIMIT: u64 = 1 << 20;

impl CacheDb {
    /// The job log of `sweep` (its job set, [`collector_core::job_set`]).
    pub fn job_log(&self, sweep: &Sweep) -> Result<CacheJobLog<'_>> {
        schema::check_key("sweep name", sweep.name())?;
        let set = job_set(sweep);
        let fresh = !lock(&self.book).job_sets.contains_key(&set);
        let records_at_start = match fresh {
            true => 0,
            false => self
                .get::<JobSets>(&set)?
                .and_then(|r| r.ok())
                .map_or(0, |r| r.records),
        };
        Ok(CacheJobLog {
            db: self,
            set,
            sweep: sweep.name().to_string(),
            fresh,
            scanned: std::sync::Mutex::new(None),
            records_at_start,
        })
    }

    /// Adds the job sets to the book at open; removes unreadable
    /// summaries with their records.
    pub(crate) fn load_job_sets(&self, book: &mut ResultBook) -> Result<()> {
        let mut removal = self.batch();
        let mut corrupt = 0;
        for entry in self.scan::<JobSets>()? {
            let Scanned { key, value } = entry?;
            match (key.parse(), value) {
                (Some(set), Ok(r)) => {
                    book.total_bytes += r.bytes;
                    book.next_store_seq = book.next_store_seq.max(r.stored_seq + 1);
                    book.job_sets.insert(
                        set,
                        JobSetEntry {
                            sweep: r.sweep,
                            bytes: r.bytes,
                            stored_seq: r.stored_seq,
                        },
                    );
                }
                (set, value) => {
                    warn!(dir = %self.dir().display(), key = %key.text(),
                        error = ?value.err(), "corrupt job-set summary; removing it and its job records");
                    removal.delete_scanned(&key)?;
                    if let Some(set) = set {
                        removal.delete_prefix::<JobRecords>(&set)?;
                    }
                    corrupt += 1;
                }
            }
        }
        if corrupt > 0 {
            removal.commit("removing corrupt job-set summaries")?;
        }
        Ok(())
    }

    /// Every job set, by sweep name then set.
    pub fn job_sets(&self) -> Result<Vec<JobSetInfo>> {
        let mut out = Vec::new();
        for entry in self.scan::<JobSets>()? {
            let Scanned { key, value } = entry?;
            if let (Some(set), Ok(r)) = (key.parse(), value) {
                out.push(JobSetInfo {
                    set: hex16(&set),
                    sweep: r.sweep,
                    records: r.records,
                    bytes: r.bytes,
                    updated_at_ms: r.updated_at_ms,
                });
            }
        }
        out.sort_by(|a, b| (&a.sweep, &a.set).cmp(&(&b.sweep, &b.set)));
        Ok(out)
    }

    /// The totals of [`job_sets`](Self::job_sets).
    pub fn job_totals(&self) -> Result<JobTotals> {
        let mut t = JobTotals::default();
        for s in self.job_sets()? {
            t.sets += 1;
            t.records += s.records;
            t.bytes += s.bytes;
        }
        Ok(t)
    }

    /// Removes every job record of the sweep called `sweep_name` (every
    /// job set it wrote, whatever its version or constants). Returns the
    /// records removed.
    pub fn remove_job_records(&self, sweep_name: &str) -> Result<u64> {
        let sets: Vec<([u8; 16], u64)> = self
            .scan::<JobSets>()?
            .filter_map(|e| e.ok())
            .filter_map(|Scanned { key, value }| match (key.parse(), value) {
                (Some(set), Ok(r)) if r.sweep == sweep_name => Some((set, r.records)),
                _ => None,
            })
            .collect();
        if sets.is_empty() {
            return Ok(0);
        }
        let mut book = lock(&self.book);
        let mut b = self.batch();
        for (set, _) in &sets {
            b.delete_prefix::<JobRecords>(set)?;
            b.delete::<JobSets>(set)?;
        }
        b.commit(format!("removing the job records of sweep `{sweep_name}`"))?;
        for (set, _) in &sets {
            if let Some(e) = book.job_sets.remove(set) {
                book.total_bytes = book.total_bytes.saturating_sub(e.bytes);
            }
        }
        Ok(sets.iter().map(|(_, n)| n).sum())
    }

    /// Every record of the job set `set`, in key order; unreadable records
    /// are logged and left out.
    pub fn job_records(&self, set: &[u8; 16]) -> Result<Vec<(JobKey, JobRecord)>> {
        let mut out = Vec::new();
        for entry in self.scan_prefix::<JobRecords>(set)? {
            let Scanned { key, value } = entry?;
            match (key.parse(), value) {
                (Some(k), Ok(r)) => out.push((k, r)),
                (_, value) => {
                    warn!(dir = %self.dir().display(), key = %key.text(), error = ?value.err(),
                        "skipping a corrupt job record");
                }
            }
        }
        Ok(out)
    }

    /// Writes `records` (encoded as a run would) into the job set `set`
    /// under `sweep_name`, in batches: what a merge imports.
    pub fn import_job_records(
        &self,
        sweep_name: &str,
        set: &[u8; 16],
        records: &[(JobKey, JobRecord)],
    ) -> Result<()> {
        let log = CacheJobLog {
            db: self,
            set: *set,
            sweep: sweep_name.to_string(),
            fresh: false,
            scanned: std::sync::Mutex::new(None),
            records_at_start: 0,
        };
        for chunk in records.chunks(8192) {
            let encoded: Vec<(JobKey, Vec<u8>)> = chunk
                .iter()
                .map(|(k, r)| {
                    let mut buf = Vec::new();
                    encode_record(&mut buf, r);
                    (*k, buf)
                })
                .collect();
            let refs: Vec<(&JobKey, &[u8], Option<bool>)> = encoded
                .iter()
                .map(|(k, v)| (k, v.as_slice(), None))
                .collect();
            log.write(&refs)?;
        }
        Ok(())
    }

    /// Calls `visit` with every file a job record names: each media cell
    /// (`true`: a path under the media root) and blob cell (`false`: a blob
    /// name). Returns the records that could not be read. Reads every
    /// record: for garbage collection and deletion checks, not the run
    /// path.
    pub fn visit_job_record_files(&self, mut visit: impl FnMut(&str, bool)) -> Result<Vec<String>> {
        let mut unreadable = Vec::new();
        for entry in self.scan::<JobRecords>()? {
            let Scanned { key, value } = entry?;
            match value {
                Ok(r) => {
                    if let collector_core::RecordedOutcome::Done(cells) = &r.outcome {
                        for c in cells {
                            let (t, media) = match c {
                                collector_core::RecordedCell::Media(t) => (t, true),
                                collector_core::RecordedCell::Blob(t) => (t, false),
                                _ => continue,
                            };
                            if !collector_core::is_missing_text(t) {
                                visit(t, media);
                            }
                        }
                    }
                }
                Err(_) => unreadable.push(match key.parse() {
                    Some(k) => format!("job record {}", k.hex()),
                    None => format!("job record {}", key.text()),
                }),
            }
        }
        Ok(unreadable)
    }

    /// Stores the manifest of a shard run, replacing one of the same
    /// shard. Manifests of the same job set with another grid or shard
    /// count are removed: a new sharding plan supersedes the old one.
    pub fn put_shard_manifest(&self, m: &ShardManifest) -> Result<()> {
        let key = shard_key(m)?;
        let mut b = self.batch();
        for entry in self.scan::<Shards>()? {
            let Scanned { key: old, .. } = entry?;
            if let Some(k) = old.parse()
                && k.set == key.set
                && (k.grid != key.grid || k.n != key.n)
            {
                b.delete_scanned(&old)?;
            }
        }
        b.put::<Shards>(&key, m)?;
        b.commit(format!("storing the manifest of shard {}/{}", m.k, m.n))
    }

    /// Every shard manifest stored; unreadable ones are logged and left
    /// out.
    pub fn shard_manifests(&self) -> Result<Vec<ShardManifest>> {
        let mut out = Vec::new();
        for entry in self.scan::<Shards>()? {
            let Scanned { key, value } = entry?;
            match value {
                Ok(m) => out.push(m),
                Err(e) => warn!(dir = %self.dir().display(), key = %key.text(), error = %e,
                    "skipping a corrupt shard manifest"),
            }
        }
        Ok(out)
    }
}

fn shard_key(m: &ShardManifest) -> Result<ShardKey> {
    let bad = |message: &'static str| Error::InvalidKey {
        what: "shard manifest",
        key: m.job_set.clone(),
        message,
    };
    let mut set = [0u8; 16];
    if m.job_set.len() != 32 || !m.job_set.is_ascii() {
        return Err(bad("the job set is not 32 hex digits"));
    }
    for (i, b) in set.iter_mut().enumerate() {
        *b = u8::from_str_radix(&m.job_set[2 * i..2 * i + 2], 16)
            .map_err(|_| bad("the job set is not 32 hex digits"))?;
    }
    schema::check_key("grid hash", &m.grid_hash)?;
    Ok(ShardKey {
        set,
        grid: m.grid_hash.clone(),
        n: m.n,
        k: m.k,
    })
}

impl CacheJobLog<'_> {
    /// Writes encoded records in one batch, with the set's summary, and
    /// evicts other results and job sets past `cache_size`. A record that
    /// replaces one (a job run again) is counted once.
    fn write(&self, records: &[(&JobKey, &[u8], Option<bool>)]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let db = self.db;
        let mut book = lock(&db.book);
        let old = match book.job_sets.contains_key(&self.set) {
            true => db.get::<JobSets>(&self.set)?.and_then(|r| r.ok()),
            false => None,
        };
        // Only a set that held records before this run can hold some of
        // these keys already; the run says which it knows of, and the
        // others are looked up.
        let unknown: Vec<JobKey> = if old.is_some() && !self.fresh {
            records
                .iter()
                .filter(|(_, _, r)| *r != Some(false))
                .map(|(k, _, _)| **k)
                .collect()
        } else {
            Vec::new()
        };
        let mut sizes = db.stored_sizes::<JobRecords>(&unknown)?.into_iter();
        let room: u64 = records.iter().map(|(_, v, _)| 48 + v.len() as u64).sum();
        let mut b = db.batch_with_room(room);
        b.put_job_records(records.iter().map(|(k, v, _)| (*k, *v)))?;
        let (mut added, mut bytes) = (0u64, old.as_ref().map_or(0, |o| o.bytes));
        for (_, v, known) in records {
            let was = if unknown.is_empty() || *known == Some(false) {
                None
            } else {
                sizes.next().flatten()
            };
            match was {
                Some(was) => bytes = bytes.saturating_sub(32 + was),
                None => added += 1,
            }
            bytes += 32 + v.len() as u64;
        }
        let seq = book.next_store_seq;
        let rec = JobSetRec {
            sweep: self.sweep.clone(),
            records: old.as_ref().map_or(0, |o| o.records) + added,
            bytes,
            stored_seq: seq,
            updated_at_ms: now_ms(),
        };
        b.put::<JobSets>(&self.set, &rec)?;
        let old_bytes = book.job_sets.get(&self.set).map_or(0, |e| e.bytes);
        let mut total = book.total_bytes.saturating_sub(old_bytes) + rec.bytes;
        let evict = book.plan_evict(&mut total, db.options().cache_size, None, Some(&self.set));
        for e in &evict {
            delete_evicted(&mut b, e)?;
        }
        b.commit(format!(
            "recording {} jobs of sweep `{}` (job set {})",
            records.len(),
            self.sweep,
            hex16(&self.set)
        ))?;
        book.forget(&evict);
        book.job_sets.insert(
            self.set,
            JobSetEntry {
                sweep: rec.sweep,
                bytes: rec.bytes,
                stored_seq: seq,
            },
        );
        book.total_bytes = total;
        book.next_store_seq = seq + 1;
        Ok(())
    }
}

impl JobLog for CacheJobLog<'_> {
    fn lookup(&self, keys: &[JobKey]) -> std::result::Result<Vec<Option<JobRecord>>, BoxError> {
        if self.fresh {
            return Ok(vec![None; keys.len()]);
        }
        if self.records_at_start <= SCAN_LIMIT {
            let mut slot = lock(&self.scanned);
            if slot.is_none() {
                *slot = Some(self.db.job_records(&self.set)?.into_iter().collect());
            }
            if let Some(map) = slot.as_mut() {
                return Ok(keys.iter().map(|k| map.remove(k)).collect());
            }
        }
        let found = self.db.get_many::<JobRecords>(keys)?;
        Ok(found
            .into_iter()
            .zip(keys)
            .map(|(v, k)| match v {
                None => None,
                Some(Ok(r)) => Some(r),
                Some(Err(e)) => {
                    warn!(dir = %self.db.dir().display(), key = %k.hex(), sweep = %self.sweep,
                        error = %e, "corrupt job record; the job runs again");
                    None
                }
            })
            .collect())
    }

    fn record(&self, batch: &JobBatch<'_>) -> std::result::Result<(), BoxError> {
        // One buffer for every record of the batch; offsets into it.
        let mut buf = Vec::with_capacity(batch.len() * 48);
        let mut ends = Vec::with_capacity(batch.len());
        for i in 0..batch.len() {
            encode_job(
                &mut buf,
                batch.duration_ns(i),
                batch.outcome(i),
                batch.cells(i),
            );
            ends.push(buf.len());
        }
        let mut start = 0;
        let mut records: Vec<(&JobKey, &[u8], Option<bool>)> = (0..batch.len())
            .map(|i| {
                let v = &buf[start..ends[i]];
                start = ends[i];
                (batch.key(i), v, batch.replaces(i))
            })
            .collect();
        // In key order: RocksDB's memtable inserts sorted keys several
        // times faster than random ones (each starts from the last one's
        // place in the skip list).
        records.sort_unstable_by_key(|(k, _, _)| **k);
        self.write(&records)?;
        Ok(())
    }
}
