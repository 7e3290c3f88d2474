//! Job records: one per finished job, grouped by job set (a sweep's
//! identity without its grid) and stored a chunk per write (the jobs of one
//! stored batch), with a summary per set for eviction, stats and removal;
//! and the manifests that shard runs write.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use collector_core::{BoxError, JobBatch, JobKey, JobLog, JobRecord, Sweep, SweepSpec, job_set};
use rayon::prelude::*;
use rustc_hash::{FxBuildHasher, FxHashMap};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::codec::{
    ChunkWriter, JobChunk, chunk_jobs, chunk_spans, decode_job, encode_job, encode_record,
};
use crate::db::{Batch, CacheDb, RawPair, Room, Scanned, lock, now_ms, touched_room_for};
use crate::error::{Error, Result};
use crate::results::{JobSetEntry, ResultBook, delete_evicted};
use crate::schema::{self, ChunkKey, Family, JobRecords, JobSets, ShardKey, Shards, hex16};

/// The job of a key: its second half (the first is its job set).
fn job_of(key: &JobKey) -> [u8; 16] {
    let mut j = [0; 16];
    j.copy_from_slice(&key.0[16..]);
    j
}

/// The key of `job` in job set `set`.
fn key_of(set: &[u8; 16], job: &[u8; 16]) -> JobKey {
    let mut k = [0; 32];
    k[..16].copy_from_slice(set);
    k[16..].copy_from_slice(job);
    JobKey(k)
}

/// The summary of one job set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobSetRec {
    pub(crate) sweep: String,
    /// Distinct jobs recorded.
    pub(crate) records: u64,
    /// Stored size of its chunks (keys and values).
    pub(crate) bytes: u64,
    pub(crate) stored_seq: u64,
    pub(crate) updated_at_ms: u64,
    /// Entries in its chunks, superseded ones included.
    #[serde(default)]
    pub(crate) entries: u64,
    /// The number of its next chunk.
    #[serde(default)]
    pub(crate) next_chunk: u64,
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
    /// What lookups read from, made at the first one.
    found: RwLock<Option<Found>>,
    /// The jobs of the set that hold a record: read at the first write
    /// that cannot tell whether its jobs replace records (a run that did
    /// not look them up), then kept up to date.
    known: Mutex<Option<HashSet<[u8; 16], FxBuildHasher>>>,
    /// Records in the set at the start, from its summary.
    records_at_start: u64,
    /// The write batch of the next record, made by `prepare`.
    prepared: Mutex<Option<Room>>,
    /// The stored bytes of a job's record in the last batch: what
    /// `prepare` makes room for.
    bytes_per_job: AtomicU64,
}

/// The recorded jobs lookups take from.
#[derive(Debug)]
enum Found {
    /// Every chunk of the set, read in one scan, and where each job's
    /// newest record lies in them; a record is decoded when looked up.
    Records(RawRecords),
    /// For a set of more than [`SCAN_LIMIT`] records: the chunk that holds
    /// each job's newest record; a lookup reads the chunks it needs.
    Chunks(FxHashMap<[u8; 16], u64>),
}

/// The chunks of a job set as stored, and the place of each job's newest
/// record in them.
#[derive(Debug, Default)]
struct RawRecords {
    chunks: Vec<Box<[u8]>>,
    /// Each job's chunk (an index into `chunks`) and record bytes.
    at: FxHashMap<[u8; 16], (usize, Range<usize>)>,
}

impl RawRecords {
    /// The newest record of `job`, decoded; `None` when it has none or
    /// when its record cannot be read (logged: the job runs again).
    fn get(&self, log: &CacheJobLog<'_>, key: &JobKey) -> Option<JobRecord> {
        let (chunk, span) = self.at.get(&job_of(key))?;
        match decode_job(&self.chunks[*chunk][span.clone()]) {
            Ok(r) => Some(r),
            Err(e) => {
                warn!(dir = %log.db.dir().display(), key = %key.hex(), sweep = %log.sweep,
                    error = %e, "corrupt job record; the job runs again");
                None
            }
        }
    }
}

/// A chunk as a scan of its set meets it: its number, its jobs (`None`:
/// its framing is unreadable) and its stored size, key included.
type StoredChunk = (u64, Option<Vec<[u8; 16]>>, u64);

/// The stored bytes of a chunk's key (counted in a set's size).
const CHUNK_KEY_BYTES: u64 = 24;

/// For each job of `chunks` (in write order), the chunk of its newest
/// entry; unreadable chunks are left out.
fn newest_chunks(chunks: &[StoredChunk]) -> FxHashMap<[u8; 16], u64> {
    let mut out = FxHashMap::default();
    for (n, jobs, _) in chunks {
        out.extend(jobs.iter().flatten().map(|j| (*j, *n)));
    }
    out
}

/// Reads `l`; a panic while it was held left no half-written state (each
/// change is one assignment).
fn read_lock<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Writes `l` (see [`read_lock`]).
fn write_lock<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// A set with at most this many records is held whole in memory on
/// resume; a larger one through an index of its chunks (bounded memory).
const SCAN_LIMIT: u64 = 1 << 20;

/// Entries per chunk in an import and a compaction.
const CHUNK_ENTRIES: usize = 8192;

/// A set is compacted (each job's superseded records dropped) once at
/// least this many of its entries are superseded and they are at least as
/// many as its records.
const COMPACT_MIN: u64 = 256;

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
            found: RwLock::new(None),
            known: Mutex::new(None),
            records_at_start,
            prepared: Mutex::new(None),
            bytes_per_job: AtomicU64::new(0),
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
    /// job set it wrote, whatever its version or constants), and the
    /// shard manifests of those sets. Returns the records removed.
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
            // A manifest without its records would merge as empty cells.
            b.delete_prefix::<Shards>(set)?;
        }
        b.commit(format!("removing the job records of sweep `{sweep_name}`"))?;
        for (set, _) in &sets {
            if let Some(e) = book.job_sets.remove(set) {
                book.total_bytes = book.total_bytes.saturating_sub(e.bytes);
            }
        }
        Ok(sets.iter().map(|(_, n)| n).sum())
    }

    /// The newest record of each job of `set` (a job recorded again
    /// supersedes its older records), in chunk order; unreadable chunks
    /// and records are logged and left out.
    fn newest_records(&self, set: &[u8; 16]) -> Result<FxHashMap<[u8; 16], JobRecord>> {
        let mut out = FxHashMap::default();
        for entry in self.scan_prefix::<JobRecords>(set)? {
            let Scanned { key, value } = entry?;
            match value {
                Ok(JobChunk(entries)) => {
                    for (job, rec) in entries {
                        match rec {
                            Ok(r) => {
                                out.insert(job, r);
                            }
                            Err(e) => {
                                warn!(dir = %self.dir().display(), key = %key_of(set, &job).hex(),
                                    error = %e, "skipping a corrupt job record; the job runs again");
                                // An older record of it is superseded too.
                                out.remove(&job);
                            }
                        }
                    }
                }
                Err(e) => {
                    warn!(dir = %self.dir().display(), key = %key.text(), error = %e,
                        "skipping a corrupt chunk of job records; its jobs run again");
                }
            }
        }
        Ok(out)
    }

    /// Every record of the job set `set` (the newest of each job), in key
    /// order; unreadable records are logged and left out.
    pub fn job_records(&self, set: &[u8; 16]) -> Result<Vec<(JobKey, JobRecord)>> {
        let mut out: Vec<(JobKey, JobRecord)> = self
            .newest_records(set)?
            .into_iter()
            .map(|(job, r)| (key_of(set, &job), r))
            .collect();
        out.sort_unstable_by_key(|(k, _)| *k);
        Ok(out)
    }

    /// Writes `records` (encoded as a run would) into the job set `set`
    /// under `sweep_name`, in chunks: what a merge imports.
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
            found: RwLock::new(None),
            known: Mutex::new(None),
            records_at_start: 0,
            prepared: Mutex::new(None),
            bytes_per_job: AtomicU64::new(0),
        };
        for part in records.chunks(CHUNK_ENTRIES) {
            let mut chunk = ChunkWriter::with_capacity(part.len() * 64);
            let mut jobs = Vec::with_capacity(part.len());
            for (k, r) in part {
                let job = job_of(k);
                chunk.push(&job, |buf| encode_record(buf, r));
                jobs.push((job, None));
            }
            let room = chunk.bytes() as u64;
            log.write(&jobs, room, |b, first| {
                put_chunk_at(b, &log.set, first, chunk).map(|size| (1, size))
            })?;
        }
        Ok(())
    }

    /// Calls `visit` with every file the newest record of a job names
    /// (a superseded record names nothing): each media cell (`true`: a path
    /// under the media root) and blob cell (`false`: a blob name). Returns
    /// the records and chunks that could not be read. Reads every chunk:
    /// for garbage collection and deletion checks, not the run path.
    pub fn visit_job_record_files(&self, mut visit: impl FnMut(&str, bool)) -> Result<Vec<String>> {
        let mut unreadable = Vec::new();
        // Chunks come set by set, each set's in write order: the newest
        // record of each job of the set being read. A superseded record
        // names nothing (its job's newest record is what a resume reads).
        let mut set: Option<[u8; 16]> = None;
        let mut newest: FxHashMap<[u8; 16], Result<JobRecord, String>> = FxHashMap::default();
        let visit_set = |set: &[u8; 16],
                         newest: &mut FxHashMap<[u8; 16], Result<JobRecord, String>>,
                         visit: &mut dyn FnMut(&str, bool),
                         unreadable: &mut Vec<String>| {
            for (job, rec) in newest.drain() {
                match rec {
                    Ok(r) => visit_files(&r, visit),
                    Err(_) => unreadable.push(format!("job record {}", key_of(set, &job).hex())),
                }
            }
        };
        for entry in self.scan::<JobRecords>()? {
            let Scanned { key, value } = entry?;
            let Some(ck) = key.parse() else {
                unreadable.push(format!("job-record chunk {}", key.text()));
                continue;
            };
            if let Some(s) = set.filter(|s| *s != ck.set) {
                visit_set(&s, &mut newest, &mut visit, &mut unreadable);
            }
            set = Some(ck.set);
            match value {
                Ok(JobChunk(entries)) => {
                    newest.extend(entries.into_iter().map(|(j, r)| (j, r.map_err(|e| e.0))));
                }
                // Which jobs it held is unknown: it is reported, and the
                // older records of the set still count.
                Err(_) => unreadable.push(JobRecords::describe(&ck)),
            }
        }
        if let Some(s) = set {
            visit_set(&s, &mut newest, &mut visit, &mut unreadable);
        }
        Ok(unreadable)
    }

    /// Stores the manifest of a shard run, replacing one of the same
    /// shard. A new sharding plan supersedes the old one: the manifests
    /// of the same job set with another grid or shard count are removed,
    /// and so are those of the same sweep name with another job set
    /// (another version, constants, inputs or results), so that a
    /// directory shards run into again after a change merges the new
    /// plan. Their job records stay (a resume reuses them).
    pub fn put_shard_manifest(&self, m: &ShardManifest) -> Result<()> {
        let key = shard_key(m)?;
        let mut b = self.batch();
        for entry in self.scan::<Shards>()? {
            let Scanned { key: old, value } = entry?;
            let Some(k) = old.parse() else { continue };
            let superseded = if k.set == key.set {
                k.grid != key.grid || k.n != key.n
            } else {
                value.is_ok_and(|o| o.sweep.name == m.sweep.name)
            };
            if superseded {
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

/// Calls `visit` with each file a record names: media cells (`true`) and
/// blob cells (`false`).
fn visit_files(r: &JobRecord, visit: &mut dyn FnMut(&str, bool)) {
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

impl CacheDb {
    /// The jobs of `set` that hold a record (superseded or not); jobs of
    /// unreadable chunks are left out.
    fn recorded_jobs(&self, set: &[u8; 16]) -> Result<HashSet<[u8; 16], FxBuildHasher>> {
        let mut out = HashSet::default();
        for entry in self.scan_raw_prefix::<JobRecords>(set)? {
            let (_, v) = entry?;
            if let Ok(jobs) = chunk_jobs(&v) {
                out.extend(jobs);
            }
        }
        Ok(out)
    }

    /// Every chunk of `set` as stored, and where each job's newest record
    /// lies in them (`records`: the set's record count, to size the map).
    /// A chunk whose framing is corrupt is logged and left out: its jobs
    /// run again.
    fn stored_chunks(&self, set: &[u8; 16], records: u64) -> Result<RawRecords> {
        let cap = usize::try_from(records.min(SCAN_LIMIT)).unwrap_or(0);
        let mut out = RawRecords {
            chunks: Vec::new(),
            at: FxHashMap::with_capacity_and_hasher(cap, FxBuildHasher),
        };
        for entry in self.scan_raw_prefix::<JobRecords>(set)? {
            let (k, v) = entry?;
            match chunk_spans(&v) {
                Ok(spans) => {
                    let c = out.chunks.len();
                    out.at
                        .extend(spans.into_iter().map(|(job, span)| (job, (c, span))));
                    out.chunks.push(v);
                }
                Err(e) => {
                    let chunk = JobRecords::parse_key(&k).map_or_else(
                        || format!("a chunk of job set {}", hex16(set)),
                        |ck| JobRecords::describe(&ck),
                    );
                    warn!(dir = %self.dir().display(), %chunk, error = %e,
                        "skipping a corrupt chunk of job records; its jobs run again");
                }
            }
        }
        Ok(out)
    }

    /// Every chunk of `set` whose key parses, in write order: its number,
    /// its jobs (`None`: its framing is unreadable) and its stored size
    /// (key included). Records are not decoded.
    fn set_chunks(&self, set: &[u8; 16]) -> Result<Vec<StoredChunk>> {
        let mut out = Vec::new();
        for entry in self.scan_raw_prefix::<JobRecords>(set)? {
            let (k, v) = entry?;
            if let Some(ck) = JobRecords::parse_key(&k) {
                out.push((ck.n, chunk_jobs(&v).ok(), v.len() as u64 + CHUNK_KEY_BYTES));
            }
        }
        Ok(out)
    }

    /// For each job of `set`, the number of the chunk that holds its
    /// newest record; jobs of unreadable chunks are left out.
    fn chunk_index(&self, set: &[u8; 16]) -> Result<FxHashMap<[u8; 16], u64>> {
        Ok(newest_chunks(&self.set_chunks(set)?))
    }

    /// Drops the superseded entries of `set`. First, cheaply, the chunks
    /// none of whose entries is a job's newest (a rerun supersedes whole
    /// chunks) and the chunks whose framing is unreadable, without
    /// decoding a record; then, when superseded entries still outnumber
    /// the records, the set is rewritten whole ([`rewrite_job_set`]).
    /// Returns the set's new summary. The caller holds the book's lock.
    ///
    /// [`rewrite_job_set`]: Self::rewrite_job_set
    fn compact_job_set(&self, set: &[u8; 16], rec: &JobSetRec) -> Result<JobSetRec> {
        let chunks = self.set_chunks(set)?;
        let newest = newest_chunks(&chunks);
        let mut b = self.batch();
        let mut out = JobSetRec {
            records: newest.len() as u64,
            entries: 0,
            bytes: 0,
            ..rec.clone()
        };
        // Dead chunks are deleted by ranges: a run of them (a rerun's
        // predecessors) is one range tombstone, which scans skip at once;
        // point tombstones would each be stepped over until a flush.
        let mut dead_from: Option<u64> = None;
        for (n, jobs, size) in &chunks {
            let live = jobs
                .as_ref()
                .is_some_and(|jobs| jobs.iter().any(|j| newest.get(j) == Some(n)));
            if live {
                out.entries += jobs.as_ref().map_or(0, |j| j.len() as u64);
                out.bytes += size;
                if let Some(from) = dead_from.take() {
                    b.delete_range::<JobRecords>(
                        &ChunkKey { set: *set, n: from },
                        &ChunkKey { set: *set, n: *n },
                    )?;
                }
            } else if dead_from.is_none() {
                dead_from = Some(*n);
            }
        }
        if let Some(from) = dead_from {
            b.delete_range::<JobRecords>(
                &ChunkKey { set: *set, n: from },
                &ChunkKey {
                    set: *set,
                    n: rec.next_chunk.max(from + 1),
                },
            )?;
        }
        let superseded = out.entries.saturating_sub(out.records);
        if superseded >= COMPACT_MIN && superseded >= out.records {
            drop(b);
            return self.rewrite_job_set(set, rec);
        }
        b.put::<JobSets>(set, &out)?;
        b.commit(format!(
            "dropping superseded job-record chunks of sweep `{}` (job set {})",
            rec.sweep,
            hex16(set)
        ))?;
        Ok(out)
    }

    /// Rewrites the chunks of `set` with the newest record of each job
    /// only, in one batch (unreadable records are dropped: their jobs run
    /// again anyway). Returns the set's new summary. The caller holds the
    /// book's lock.
    fn rewrite_job_set(&self, set: &[u8; 16], rec: &JobSetRec) -> Result<JobSetRec> {
        let newest = self.newest_records(set)?;
        let mut b = self.batch();
        b.delete_range::<JobRecords>(
            &ChunkKey { set: *set, n: 0 },
            &ChunkKey {
                set: *set,
                n: rec.next_chunk,
            },
        )?;
        let mut out = JobSetRec {
            records: newest.len() as u64,
            entries: newest.len() as u64,
            bytes: 0,
            ..rec.clone()
        };
        let mut jobs: Vec<_> = newest.into_iter().collect();
        jobs.sort_unstable_by_key(|(j, _)| *j);
        for part in jobs.chunks(CHUNK_ENTRIES) {
            let mut chunk = ChunkWriter::with_capacity(part.len() * 64);
            for (job, r) in part {
                chunk.push(job, |buf| encode_record(buf, r));
            }
            put_chunk(&mut b, set, &mut out, chunk)?;
        }
        b.put::<JobSets>(set, &out)?;
        b.commit(format!(
            "compacting the job records of sweep `{}` (job set {})",
            rec.sweep,
            hex16(set)
        ))?;
        Ok(out)
    }
}

/// Adds `chunk` to `b` as the next chunk of `set`, counted in `rec`.
fn put_chunk(
    b: &mut Batch<'_>,
    set: &[u8; 16],
    rec: &mut JobSetRec,
    chunk: ChunkWriter,
) -> Result<()> {
    let key = ChunkKey {
        set: *set,
        n: rec.next_chunk,
    };
    rec.bytes += b.put_as_written::<JobRecords>(&key, &chunk.finish())? + CHUNK_KEY_BYTES;
    rec.next_chunk += 1;
    Ok(())
}

impl CacheDb {
    /// Rewrites the job records of a format-3 cache (one value per job,
    /// under its 32-byte job key) as chunks, set by set, each set in one
    /// batch with its summary. The records' bytes are kept as they are.
    /// Returns the records moved.
    pub(crate) fn upgrade_job_records_from_v3(&self) -> Result<u64> {
        let mut moved = 0;
        let mut set: Option<[u8; 16]> = None;
        let mut part: Vec<RawPair> = Vec::new();
        let mut flush = |set: &[u8; 16], part: &mut Vec<RawPair>| -> Result<()> {
            moved += part.len() as u64;
            self.upgrade_job_set(set, std::mem::take(part))
        };
        for entry in self.scan_raw::<JobRecords>()? {
            let (k, v) = entry?;
            let Ok(key) = <[u8; 32]>::try_from(&*k) else {
                continue;
            };
            let this: [u8; 16] = key[..16].try_into().unwrap_or_default();
            if let Some(s) = set.filter(|s| *s != this) {
                flush(&s, &mut part)?;
            }
            set = Some(this);
            part.push((k, v));
        }
        if let Some(s) = set {
            flush(&s, &mut part)?;
        }
        Ok(moved)
    }

    fn upgrade_job_set(&self, set: &[u8; 16], old: Vec<RawPair>) -> Result<()> {
        let mut b = self.batch();
        let summary = self.get::<JobSets>(set)?.and_then(|r| r.ok());
        let mut rec = JobSetRec {
            sweep: summary
                .as_ref()
                .map_or_else(String::new, |r| r.sweep.clone()),
            records: old.len() as u64,
            bytes: 0,
            stored_seq: summary.as_ref().map_or(0, |r| r.stored_seq),
            updated_at_ms: summary.as_ref().map_or_else(now_ms, |r| r.updated_at_ms),
            entries: old.len() as u64,
            next_chunk: 0,
        };
        for part in old.chunks(CHUNK_ENTRIES) {
            let mut chunk =
                ChunkWriter::with_capacity(part.iter().map(|(_, v)| v.len() + 20).sum());
            for (k, v) in part {
                b.delete_raw::<JobRecords>(k)?;
                let mut job = [0; 16];
                job.copy_from_slice(&k[16..]);
                chunk.push(&job, |buf| buf.extend_from_slice(v));
            }
            put_chunk(&mut b, set, &mut rec, chunk)?;
        }
        b.put::<JobSets>(set, &rec)?;
        b.commit(format!(
            "upgrading the job records of job set {} to chunks",
            hex16(set)
        ))
    }
}

impl CacheJobLog<'_> {
    /// Writes a chunk of records (`jobs`: each entry's job, and whether it
    /// replaces a record, when the run knows) in one batch with the set's
    /// summary, and evicts other results and job sets past `cache_size`.
    /// A job recorded again is counted once; once superseded entries
    /// outnumber the records, the set is compacted.
    fn write(
        &self,
        jobs: &[([u8; 16], Option<bool>)],
        room: u64,
        fill: impl FnOnce(&mut Batch<'_>, u64) -> Result<(u64, u64)>,
    ) -> Result<()> {
        let n = jobs.len() as u64;
        if n == 0 {
            return Ok(());
        }
        let db = self.db;
        let mut book = lock(&db.book);
        let old = match book.job_sets.contains_key(&self.set) {
            true => db.get::<JobSets>(&self.set)?.and_then(|r| r.ok()),
            false => None,
        };
        // Only a set that held records before this run can hold some of
        // these jobs already; the run says which it knows of, and the
        // others are looked up in the set's jobs, read once.
        let mut known = lock(&self.known);
        if old.is_some() && !self.fresh && known.is_none() && jobs.iter().any(|(_, r)| r.is_none())
        {
            *known = Some(db.recorded_jobs(&self.set)?);
        }
        let mut added = 0u64;
        for (job, replaces) in jobs {
            let new = match (&mut *known, replaces) {
                (Some(k), _) => k.insert(*job) && *replaces != Some(true),
                (None, Some(r)) => !r,
                (None, None) => old.is_none() || self.fresh,
            };
            added += u64::from(new);
        }
        let old_rec = old.as_ref();
        let first = old_rec.map_or(0, |o| o.next_chunk);
        let mut b = match lock(&self.prepared).take() {
            Some(prepared) => db.batch_in(prepared),
            None => db.batch_with_room(room),
        };
        let (chunks, size) = fill(&mut b, first)?;
        let next_chunk = first + chunks;
        let seq = book.next_store_seq;
        let mut rec = JobSetRec {
            sweep: self.sweep.clone(),
            records: old_rec.map_or(0, |o| o.records) + added,
            bytes: old_rec.map_or(0, |o| o.bytes) + size,
            stored_seq: seq,
            updated_at_ms: now_ms(),
            entries: old_rec.map_or(0, |o| o.entries) + n,
            next_chunk,
        };
        b.put::<JobSets>(&self.set, &rec)?;
        let old_bytes = book.job_sets.get(&self.set).map_or(0, |e| e.bytes);
        let mut total = book.total_bytes.saturating_sub(old_bytes) + rec.bytes;
        let evict = book.plan_evict(&mut total, db.options().cache_size, None, Some(&self.set));
        for e in &evict {
            delete_evicted(&mut b, e)?;
        }
        b.commit(format!(
            "recording {n} jobs of sweep `{}` (job set {})",
            self.sweep,
            hex16(&self.set)
        ))?;
        book.forget(&evict);
        let superseded = rec.entries.saturating_sub(rec.records);
        if superseded >= COMPACT_MIN && superseded >= rec.records {
            let before = rec.bytes;
            rec = db.compact_job_set(&self.set, &rec)?;
            total = total.saturating_sub(before) + rec.bytes;
            // The chunk index of a large set's lookups names chunks that
            // are gone now.
            let mut found = write_lock(&self.found);
            if matches!(*found, Some(Found::Chunks(_))) {
                *found = Some(Found::Chunks(db.chunk_index(&self.set)?));
            }
        }
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

    /// The newest records of `keys` read through a chunk index: each
    /// chunk needed is read once.
    fn lookup_chunks(
        &self,
        index: &FxHashMap<[u8; 16], u64>,
        keys: &[JobKey],
    ) -> Result<Vec<Option<JobRecord>>> {
        let mut wanted: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
        for (i, k) in keys.iter().enumerate() {
            if let Some(&n) = index.get(&job_of(k)) {
                wanted.entry(n).or_default().push(i);
            }
        }
        let mut out: Vec<Option<JobRecord>> = vec![None; keys.len()];
        for (n, at) in wanted {
            let key = ChunkKey { set: self.set, n };
            let entries = match self.db.get::<JobRecords>(&key)? {
                Some(Ok(JobChunk(e))) => e,
                Some(Err(e)) => {
                    warn!(dir = %self.db.dir().display(), chunk = %JobRecords::describe(&key),
                        sweep = %self.sweep, error = %e, "corrupt chunk of job records; its jobs run again");
                    continue;
                }
                None => continue,
            };
            let mut by_job: FxHashMap<_, _> = entries.into_iter().collect();
            for i in at {
                match by_job.remove(&job_of(&keys[i])) {
                    Some(Ok(r)) => out[i] = Some(r),
                    Some(Err(e)) => {
                        warn!(dir = %self.db.dir().display(), key = %keys[i].hex(), sweep = %self.sweep,
                            error = %e, "corrupt job record; the job runs again");
                    }
                    None => {}
                }
            }
        }
        Ok(out)
    }
}

impl JobLog for CacheJobLog<'_> {
    fn lookup(&self, keys: &[JobKey]) -> std::result::Result<Vec<Option<JobRecord>>, BoxError> {
        if self.fresh {
            return Ok(vec![None; keys.len()]);
        }
        if read_lock(&self.found).is_none() {
            // The first lookup reads the set; later ones share it (readers
            // of several threads at once).
            let mut found = write_lock(&self.found);
            if found.is_none() {
                *found = Some(if self.records_at_start <= SCAN_LIMIT {
                    Found::Records(self.db.stored_chunks(&self.set, self.records_at_start)?)
                } else {
                    Found::Chunks(self.db.chunk_index(&self.set)?)
                });
            }
        }
        match read_lock(&self.found).as_ref() {
            // Looked up and decoded by the pool: a batch of a warm resume
            // is tens of thousands of random reads of the map.
            Some(Found::Records(raw)) => Ok(keys
                .par_iter()
                .with_min_len(1024)
                .map(|k| raw.get(self, k))
                .collect()),
            Some(Found::Chunks(index)) => Ok(self.lookup_chunks(index, keys)?),
            None => Ok(vec![None; keys.len()]),
        }
    }

    fn prepare(&self, jobs: usize) {
        // Room for the batch at the last batch's size a job, and a
        // sixteenth more; a larger batch grows it.
        let per_job = self.bytes_per_job.load(Ordering::Relaxed);
        if per_job > 0 {
            let bytes = (per_job + per_job / 16) * jobs as u64;
            *lock(&self.prepared) = Some(touched_room_for(bytes));
        }
    }

    fn record(&self, batch: &JobBatch<'_>) -> std::result::Result<(), BoxError> {
        // A large batch is encoded by the pool, a chunk per part: the
        // chunks go in the one write, so the batch still commits whole.
        let n = batch.len();
        let (parts, per) = split(n);
        let chunks: Vec<ChunkWriter> = (0..parts)
            .into_par_iter()
            .map(|p| encode_part(batch, p * per..((p + 1) * per).min(n)))
            .collect();
        let jobs: Vec<([u8; 16], Option<bool>)> = (0..n)
            .map(|i| (job_of(batch.key(i)), batch.replaces(i)))
            .collect();
        let room: u64 = chunks
            .iter()
            .map(|c| c.bytes() as u64 + CHUNK_KEY_BYTES)
            .sum();
        self.bytes_per_job
            .store(room / n.max(1) as u64, Ordering::Relaxed);
        self.write(&jobs, room, |b, first| {
            let mut size = 0;
            for (i, chunk) in chunks.into_iter().enumerate() {
                size += put_chunk_at(b, &self.set, first + i as u64, chunk)?;
            }
            Ok((parts as u64, size))
        })?;
        Ok(())
    }
}

/// The fewest entries of a chunk that a batch is split for (a chunk per
/// thread of the pool): smaller batches are encoded whole.
const MIN_CHUNK_ENTRIES: usize = 4096;

/// The parts a batch of `n` records is encoded in, and the records of each
/// (the last may have fewer).
fn split(n: usize) -> (usize, usize) {
    let parts = rayon::current_num_threads()
        .min(n.div_ceil(MIN_CHUNK_ENTRIES))
        .max(1);
    (parts, n.div_ceil(parts))
}

/// Adds `chunk` to `b` as chunk `n` of `set`; returns its stored size,
/// key included.
fn put_chunk_at(b: &mut Batch<'_>, set: &[u8; 16], n: u64, chunk: ChunkWriter) -> Result<u64> {
    let key = ChunkKey { set: *set, n };
    Ok(b.put_as_written::<JobRecords>(&key, &chunk.finish())? + CHUNK_KEY_BYTES)
}

/// The chunk of the jobs `part` of `batch`.
fn encode_part(batch: &JobBatch<'_>, part: Range<usize>) -> ChunkWriter {
    let mut chunk = ChunkWriter::with_capacity(0);
    let len = part.len();
    for (n, i) in part.enumerate() {
        chunk.push(&job_of(batch.key(i)), |buf| {
            encode_job(buf, batch.duration_ns(i), batch.outcome(i), batch.cells(i));
        });
        if n == 0 {
            // Records of one sweep are about the same size: room for the
            // others at the first one's size (a chunk of a large batch is
            // megabytes: growing it would copy it).
            chunk.reserve_like_last(len - 1);
        }
    }
    chunk
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use collector_core::{
        InputVar, JobKeyer, ResultVar, Reuse, RunOptions, TimeSrc, run_sweep_logged, setup_dataset,
    };

    fn sweep() -> Sweep {
        Sweep::builder("chunks")
            .input(InputVar::int_values("n", [1, 2, 3]))
            .result(ResultVar::float("v"))
            .repeats(2)
            .build()
            .unwrap()
    }

    /// Runs the sweep without reuse, each job giving `n * scale`.
    fn run(db: &CacheDb, s: &Sweep, scale: f64) {
        let mut r = setup_dataset(s, &TimeSrc::Label("t".into()))
            .unwrap()
            .result;
        let log = db.job_log(s).unwrap();
        let opts = RunOptions {
            threads: Some(1),
            batch: 4,
            reuse: Reuse::Off,
            ..RunOptions::default()
        };
        run_sweep_logged(&mut r, &opts, Some(&log), |x| {
            #[allow(clippy::cast_precision_loss, reason = "small")]
            let v = x.get::<i64>("n")? as f64 * scale;
            Ok::<_, collector_core::Error>(x.outputs().with("v", v))
        })
        .unwrap();
    }

    fn value(r: &JobRecord) -> f64 {
        match &r.outcome {
            collector_core::RecordedOutcome::Done(c) => match c[0] {
                collector_core::RecordedCell::F64(x) => x,
                _ => f64::NAN,
            },
            _ => f64::NAN,
        }
    }

    /// A set past the scan limit is read through its chunk index: each
    /// lookup gives the newest record of each job, as a whole scan does.
    #[test]
    fn lookups_through_the_chunk_index_give_the_newest_records() {
        let dir = tempfile::tempdir().unwrap();
        let db = CacheDb::open(dir.path(), crate::CacheOptions::default()).unwrap();
        let s = sweep();
        run(&db, &s, 1.0);
        run(&db, &s, 10.0);
        let keyer = JobKeyer::new(&s);
        let keys: Vec<JobKey> = (0..6).map(|j| keyer.key(&s, j)).collect();
        let mut log = db.job_log(&s).unwrap();
        assert!(!log.fresh);
        log.records_at_start = SCAN_LIMIT + 1;
        // Two lookups, as two batches make them.
        let mut got = log.lookup(&keys[..3]).unwrap();
        got.extend(log.lookup(&keys[3..]).unwrap());
        assert!(matches!(*read_lock(&log.found), Some(Found::Chunks(_))));
        let values: Vec<f64> = got.iter().map(|r| value(r.as_ref().unwrap())).collect();
        assert_eq!(values, [10.0, 10.0, 20.0, 20.0, 30.0, 30.0]);
        // The same through a whole scan.
        let whole = db.job_log(&s).unwrap();
        let scanned: Vec<f64> = whole
            .lookup(&keys)
            .unwrap()
            .iter()
            .map(|r| value(r.as_ref().unwrap()))
            .collect();
        assert_eq!(scanned, values);
    }
}
