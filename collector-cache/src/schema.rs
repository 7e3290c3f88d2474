//! The on-disk layout, declared once: every column family with its name,
//! its key type and the layout of its keys, its value type and the
//! encoding (and envelope kind) of its values.
//!
//! Everything that reads or writes the database goes through a [`Family`]
//! (the typed helpers of `db/typed.rs` take one as a type parameter), so a
//! read and a write of the same family cannot disagree, and no other
//! module builds or parses a key or picks an envelope kind.

use std::marker::PhantomData;

use collector_core::{Dataset, SweepResult};

use crate::codec::{
    self, Corrupt, Encoded, EventPartsRec, JobChunk, PartsRec, ResultValue, StoredEvent,
};
use crate::error::{Error, Result};
use crate::history::{HistoryRec, LineageRec};
use crate::jobs::{JobSetRec, ShardManifest};
use crate::results::IndexRec;

/// Version of the whole on-disk format: column families, key layouts and
/// the envelope payloads. Bump it when a change makes a database written
/// by an older build unreadable, or makes this build write something an
/// older build would misread (a renamed family, a new key layout, a
/// changed payload field). Adding an optional payload field that old
/// readers ignore does not need a bump. A cache with another version is
/// refused at open, never deleted.
///
/// 3: adds the job-record families (`job_records`, `job_sets`,
/// `shards`). A version-2 database is upgraded in place at open: its
/// families and values are unchanged, the new families start empty.
///
/// 4: job records are stored a chunk per write (`job_records` keyed by
/// job set and chunk number) instead of one value per job. A version-3
/// database is upgraded in place at open: its records are moved into
/// chunks, their bytes unchanged.
///
/// 5: a large result is stored in parts (`result_parts`), with a
/// `result-parts` record under its cache key in `results`; an index entry
/// may name its parts. A large history event likewise (`event_parts`,
/// with an `event-parts` record under its key in `history_events`). A
/// version-4 database is upgraded in place at open: its values are
/// unchanged, the new families start empty.
///
/// 6: job records are written in chunk version 2 (LEB128 lengths, compact
/// records; see `codec::jobs`), which version-5 builds cannot read; job
/// keys are hashed with XXH3 (`collector_core::JOB_KEY_VERSION` 2), so
/// job sets get new names. A version-5 database is upgraded in place at
/// open: its values are unchanged (version-1 chunks are still read); its
/// job records stay, under the old job sets, until evicted or removed,
/// and no run takes them.
pub const FORMAT_VERSION: u32 = 6;

/// The versions an open upgrades in place to [`FORMAT_VERSION`].
pub(crate) const UPGRADABLE_FROM: [u32; 4] = [2, 3, 4, 5];

/// Version of the value envelope and of the MessagePack payloads in it
/// (written in every envelope). Version 3 of the database changed no
/// payload, so it stays 2; bump it when a payload changes.
pub const ENVELOPE_FORMAT: u32 = 2;

/// One column family: its name, its keys and its values.
pub(crate) trait Family {
    /// The family's name in RocksDB.
    const NAME: &'static str;
    /// The key, as callers hold it.
    type Key: ?Sized + ToOwned;
    /// What a write takes (borrowed: a large value is encoded from where
    /// it lies).
    type Write: ?Sized;
    /// What a read gives back.
    type Value;

    /// The stored bytes of `key`.
    fn key_bytes(key: &Self::Key) -> Vec<u8>;
    /// The key of stored key bytes; `None` when they are not a key of this
    /// family.
    fn parse_key(bytes: &[u8]) -> Option<<Self::Key as ToOwned>::Owned>;
    /// What the key names, for error messages.
    fn describe(key: &Self::Key) -> String;
    /// Encodes the value stored under `key` (a record may repeat part of
    /// its key: an event holds its sequence number).
    fn encode(key: &Self::Key, value: &Self::Write) -> Result<Encoded>;
    /// Decodes a stored value.
    fn decode(bytes: &[u8]) -> Result<Self::Value, Corrupt>;
}

/// A family whose keys group under a prefix, scanned and deleted together.
pub(crate) trait Prefixed: Family {
    /// What the prefix is made of.
    type Prefix: ?Sized;
    /// The half-open range of stored keys that start with `prefix`.
    fn prefix_range(prefix: &Self::Prefix) -> (Vec<u8>, Vec<u8>);
}

/// A family whose values are stored exactly as written: a write hands
/// RocksDB the caller's bytes, with no encoded copy in between.
pub(crate) trait StoredAsWritten: Family<Write = [u8]> {}

/// A value encoded by family `F`: it can only be stored in `F`.
pub(crate) struct Sealed<F> {
    bytes: Encoded,
    family: PhantomData<fn() -> F>,
}

impl<F: Family> Sealed<F> {
    /// Encodes `value`, to be stored under `key`.
    pub(crate) fn new(key: &F::Key, value: &F::Write) -> Result<Self> {
        Ok(Sealed {
            bytes: F::encode(key, value)?,
            family: PhantomData,
        })
    }

    /// The encoded bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Their number.
    pub(crate) fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// Separates the parts of a key; refused in every key part.
const SEP: u8 = 0;

/// Refuses a key part that is empty or holds the separator.
pub(crate) fn check_key(what: &'static str, key: &str) -> Result<()> {
    let message = if key.is_empty() {
        "it is empty"
    } else if key.as_bytes().contains(&SEP) {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKey {
        what,
        key: key.to_string(),
        message,
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The names of every family this build uses.
pub(crate) const FAMILY_NAMES: [&str; 11] = [
    Results::NAME,
    ResultParts::NAME,
    EventParts::NAME,
    Index::NAME,
    HistoryMeta::NAME,
    HistoryEvents::NAME,
    Lineages::NAME,
    Meta::NAME,
    JobRecords::NAME,
    JobSets::NAME,
    Shards::NAME,
];

// ---------------------------------------------------------------- results

/// cache key → a whole result (envelope kind `result`), or the record of
/// a result stored in parts (envelope kind `result-parts`, written through
/// [`ResultsInParts`]).
pub(crate) struct Results;

impl Family for Results {
    const NAME: &'static str = "results";
    type Key = str;
    type Write = SweepResult;
    type Value = ResultValue;

    fn key_bytes(cache_key: &str) -> Vec<u8> {
        cache_key.as_bytes().to_vec()
    }
    fn parse_key(bytes: &[u8]) -> Option<String> {
        Some(text(bytes))
    }
    fn describe(cache_key: &str) -> String {
        format!("result {cache_key}")
    }
    fn encode(_: &str, result: &SweepResult) -> Result<Encoded> {
        codec::encode_result(result)
    }
    fn decode(bytes: &[u8]) -> Result<ResultValue, Corrupt> {
        codec::decode_result_value(bytes)
    }
}

/// The `results` family again, for the record of a result stored in
/// parts: the same keys and values, another write.
pub(crate) struct ResultsInParts;

impl Family for ResultsInParts {
    const NAME: &'static str = Results::NAME;
    type Key = str;
    type Write = PartsRec;
    type Value = ResultValue;

    fn key_bytes(cache_key: &str) -> Vec<u8> {
        Results::key_bytes(cache_key)
    }
    fn parse_key(bytes: &[u8]) -> Option<String> {
        Results::parse_key(bytes)
    }
    fn describe(cache_key: &str) -> String {
        Results::describe(cache_key)
    }
    fn encode(_: &str, rec: &PartsRec) -> Result<Encoded> {
        codec::encode_parts_rec(rec)
    }
    fn decode(bytes: &[u8]) -> Result<ResultValue, Corrupt> {
        Results::decode(bytes)
    }
}

/// One part of a result stored in parts: the parts' id (the store's
/// sequence number) and the part's number, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PartKey {
    pub(crate) id: u64,
    pub(crate) n: u32,
}

/// part key (id, u64 big-endian, then the part's number, u32 big-endian)
/// → the part's bytes, as they are: the parts of one id, in key order,
/// are the bytes of one stored result (a `result` envelope). A result
/// larger than one part is written this way, a part per write, so that
/// it is never whole in memory twice (a write batch and a memtable each
/// held a copy of the whole value).
pub(crate) struct ResultParts;

impl Family for ResultParts {
    const NAME: &'static str = "result_parts";
    type Key = PartKey;
    type Write = [u8];
    type Value = Vec<u8>;

    fn key_bytes(k: &PartKey) -> Vec<u8> {
        let mut b = Vec::with_capacity(12);
        b.extend_from_slice(&k.id.to_be_bytes());
        b.extend_from_slice(&k.n.to_be_bytes());
        b
    }
    fn parse_key(bytes: &[u8]) -> Option<PartKey> {
        let (id, n) = bytes.split_at_checked(8)?;
        Some(PartKey {
            id: u64::from_be_bytes(id.try_into().ok()?),
            n: u32::from_be_bytes(n.try_into().ok()?),
        })
    }
    fn describe(k: &PartKey) -> String {
        format!("part {} of stored result {}", k.n, k.id)
    }
    fn encode(_: &PartKey, bytes: &[u8]) -> Result<Encoded> {
        Ok(Encoded::raw(bytes.to_vec()))
    }
    fn decode(bytes: &[u8]) -> Result<Vec<u8>, Corrupt> {
        Ok(bytes.to_vec())
    }
}

/// A part is stored as written.
impl StoredAsWritten for ResultParts {}

impl Prefixed for ResultParts {
    /// The parts' id.
    type Prefix = u64;

    fn prefix_range(id: &u64) -> (Vec<u8>, Vec<u8>) {
        let start = id.to_be_bytes().to_vec();
        let end = match id.checked_add(1) {
            Some(next) => next.to_be_bytes().to_vec(),
            // Every 12-byte key of id u64::MAX sorts before this.
            None => vec![u8::MAX; 13],
        };
        (start, end)
    }
}

// ------------------------------------------------------------------ index

/// sweep name NUL cache key → index entry (envelope kind `index`).
pub(crate) struct Index;

/// The key of an index entry: one stored result of one sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexKey {
    pub(crate) sweep: String,
    pub(crate) cache_key: String,
}

impl IndexKey {
    pub(crate) fn new(sweep: &str, cache_key: &str) -> Self {
        IndexKey {
            sweep: sweep.to_string(),
            cache_key: cache_key.to_string(),
        }
    }
}

impl Family for Index {
    const NAME: &'static str = "index";
    type Key = IndexKey;
    type Write = IndexRec;
    type Value = IndexRec;

    fn key_bytes(k: &IndexKey) -> Vec<u8> {
        let mut b = Vec::with_capacity(k.sweep.len() + 1 + k.cache_key.len());
        b.extend_from_slice(k.sweep.as_bytes());
        b.push(SEP);
        b.extend_from_slice(k.cache_key.as_bytes());
        b
    }
    fn parse_key(bytes: &[u8]) -> Option<IndexKey> {
        // The cache key follows the last separator.
        let pos = bytes.iter().rposition(|&c| c == SEP)?;
        Some(IndexKey {
            sweep: text(&bytes[..pos]),
            cache_key: text(&bytes[pos + 1..]),
        })
    }
    fn describe(k: &IndexKey) -> String {
        format!(
            "index entry of result {} of sweep `{}`",
            k.cache_key, k.sweep
        )
    }
    fn encode(_: &IndexKey, rec: &IndexRec) -> Result<Encoded> {
        codec::seal(codec::KIND_INDEX, rec)
    }
    fn decode(bytes: &[u8]) -> Result<IndexRec, Corrupt> {
        codec::decode_record(codec::KIND_INDEX, bytes)
    }
}

// ---------------------------------------------------------------- history

/// history key → the metadata of one history (envelope kind
/// `history-meta`).
pub(crate) struct HistoryMeta;

impl Family for HistoryMeta {
    const NAME: &'static str = "history_meta";
    type Key = str;
    type Write = HistoryRec;
    type Value = HistoryRec;

    fn key_bytes(history_key: &str) -> Vec<u8> {
        history_key.as_bytes().to_vec()
    }
    fn parse_key(bytes: &[u8]) -> Option<String> {
        Some(text(bytes))
    }
    fn describe(history_key: &str) -> String {
        format!("history {history_key}")
    }
    fn encode(_: &str, rec: &HistoryRec) -> Result<Encoded> {
        codec::seal(codec::KIND_HISTORY_META, rec)
    }
    fn decode(bytes: &[u8]) -> Result<HistoryRec, Corrupt> {
        codec::decode_record::<HistoryRec>(codec::KIND_HISTORY_META, bytes)?.checked()
    }
}

/// history key NUL big-endian sequence number → one event (envelope kind
/// `event`), so a prefix scan returns a history's events in order.
pub(crate) struct HistoryEvents;

/// The key of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventKey {
    pub(crate) history: String,
    pub(crate) seq: u64,
}

impl EventKey {
    pub(crate) fn new(history: &str, seq: u64) -> Self {
        EventKey {
            history: history.to_string(),
            seq,
        }
    }
}

fn event_prefix(history_key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(history_key.len() + 9);
    k.extend_from_slice(history_key.as_bytes());
    k.push(SEP);
    k
}

impl Family for HistoryEvents {
    const NAME: &'static str = "history_events";
    type Key = EventKey;
    type Write = Dataset;
    type Value = StoredEvent;

    fn key_bytes(k: &EventKey) -> Vec<u8> {
        let mut b = event_prefix(&k.history);
        b.extend_from_slice(&k.seq.to_be_bytes());
        b
    }
    fn parse_key(bytes: &[u8]) -> Option<EventKey> {
        let n = bytes.len().checked_sub(9)?;
        if bytes[n] != SEP {
            return None;
        }
        let seq = u64::from_be_bytes(bytes[n + 1..].try_into().ok()?);
        Some(EventKey {
            history: text(&bytes[..n]),
            seq,
        })
    }
    fn describe(k: &EventKey) -> String {
        format!("event {} of history {}", k.seq, k.history)
    }
    fn encode(k: &EventKey, event: &Dataset) -> Result<Encoded> {
        codec::encode_event(k.seq, event)
    }
    fn decode(bytes: &[u8]) -> Result<StoredEvent, Corrupt> {
        codec::decode_event(bytes)
    }
}

impl Prefixed for HistoryEvents {
    /// The history key.
    type Prefix = str;

    fn prefix_range(history_key: &str) -> (Vec<u8>, Vec<u8>) {
        let start = event_prefix(history_key);
        let mut end = start.clone();
        if let Some(last) = end.last_mut() {
            *last = SEP + 1;
        }
        (start, end)
    }
}

/// The `history_events` family again, for the record of an event stored
/// in parts: the same keys, another write. Its value is not an event:
/// readers ask `codec::event_parts_rec` first.
pub(crate) struct HistoryEventsInParts;

impl Family for HistoryEventsInParts {
    const NAME: &'static str = HistoryEvents::NAME;
    type Key = EventKey;
    type Write = EventPartsRec;
    type Value = StoredEvent;

    fn key_bytes(k: &EventKey) -> Vec<u8> {
        HistoryEvents::key_bytes(k)
    }
    fn parse_key(bytes: &[u8]) -> Option<EventKey> {
        HistoryEvents::parse_key(bytes)
    }
    fn describe(k: &EventKey) -> String {
        HistoryEvents::describe(k)
    }
    fn encode(_: &EventKey, rec: &EventPartsRec) -> Result<Encoded> {
        codec::encode_event_parts_rec(rec)
    }
    fn decode(bytes: &[u8]) -> Result<StoredEvent, Corrupt> {
        HistoryEvents::decode(bytes)
    }
}

/// One part of a history event stored in parts: the event's key and the
/// part's number, from 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventPartKey {
    pub(crate) event: EventKey,
    pub(crate) n: u32,
}

/// event key (history key NUL big-endian sequence number) then the part's
/// number (u32 big-endian) → the part's bytes, as they are: the parts of
/// one event, in key order, are the bytes of its `event` envelope. Only a
/// new event is written in parts (a sequence number no committed event
/// holds), so a write cut off leaves parts no record names; they go when
/// that sequence number's event is deleted, or when its next write
/// starts.
pub(crate) struct EventParts;

impl EventParts {
    /// The half-open range of the parts of every event of `history_key`.
    pub(crate) fn history_range(history_key: &str) -> (Vec<u8>, Vec<u8>) {
        HistoryEvents::prefix_range(history_key)
    }
}

impl Family for EventParts {
    const NAME: &'static str = "event_parts";
    type Key = EventPartKey;
    type Write = [u8];
    type Value = Vec<u8>;

    fn key_bytes(k: &EventPartKey) -> Vec<u8> {
        let mut b = HistoryEvents::key_bytes(&k.event);
        b.extend_from_slice(&k.n.to_be_bytes());
        b
    }
    fn parse_key(bytes: &[u8]) -> Option<EventPartKey> {
        let at = bytes.len().checked_sub(4)?;
        Some(EventPartKey {
            event: HistoryEvents::parse_key(&bytes[..at])?,
            n: u32::from_be_bytes(bytes[at..].try_into().ok()?),
        })
    }
    fn describe(k: &EventPartKey) -> String {
        format!(
            "part {} of event {} of history {}",
            k.n, k.event.seq, k.event.history
        )
    }
    fn encode(_: &EventPartKey, bytes: &[u8]) -> Result<Encoded> {
        Ok(Encoded::raw(bytes.to_vec()))
    }
    fn decode(bytes: &[u8]) -> Result<Vec<u8>, Corrupt> {
        Ok(bytes.to_vec())
    }
}

/// A part is stored as written.
impl StoredAsWritten for EventParts {}

impl Prefixed for EventParts {
    /// The event.
    type Prefix = EventKey;

    fn prefix_range(event: &EventKey) -> (Vec<u8>, Vec<u8>) {
        let start = HistoryEvents::key_bytes(event);
        let mut end = start.clone();
        // Every part key of the event is its key and 4 more bytes.
        end.extend_from_slice(&[u8::MAX; 5]);
        (start, end)
    }
}

// ---------------------------------------------------------------- lineage

/// sweep name → the history it appended to last, and that history's
/// identity (envelope kind `lineage`).
pub(crate) struct Lineages;

impl Family for Lineages {
    const NAME: &'static str = "lineage";
    type Key = str;
    type Write = LineageRec;
    type Value = LineageRec;

    fn key_bytes(sweep: &str) -> Vec<u8> {
        sweep.as_bytes().to_vec()
    }
    fn parse_key(bytes: &[u8]) -> Option<String> {
        Some(text(bytes))
    }
    fn describe(sweep: &str) -> String {
        format!("lineage of sweep `{sweep}`")
    }
    fn encode(_: &str, rec: &LineageRec) -> Result<Encoded> {
        codec::seal(codec::KIND_LINEAGE, rec)
    }
    fn decode(bytes: &[u8]) -> Result<LineageRec, Corrupt> {
        codec::decode_record(codec::KIND_LINEAGE, bytes)
    }
}

// ------------------------------------------------------------------- jobs

/// A chunk of job records: its job set and its number in the set (chunks
/// are numbered in write order, from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ChunkKey {
    pub(crate) set: [u8; 16],
    pub(crate) n: u64,
}

/// chunk key (job set, 16 bytes, then the chunk number, u64 big-endian)
/// → the records of the jobs of one stored batch (a compact binary
/// encoding of its own: see `codec/jobs.rs`; not a MessagePack envelope,
/// so that recording a job costs a fraction of a microsecond). A prefix
/// scan by job set returns one sweep's chunks in write order.
pub(crate) struct JobRecords;

impl Family for JobRecords {
    const NAME: &'static str = "job_records";
    type Key = ChunkKey;
    /// A chunk encoded already (by `codec::ChunkWriter`, straight from
    /// the batch that ran).
    type Write = [u8];
    type Value = JobChunk;

    fn key_bytes(k: &ChunkKey) -> Vec<u8> {
        let mut b = Vec::with_capacity(24);
        b.extend_from_slice(&k.set);
        b.extend_from_slice(&k.n.to_be_bytes());
        b
    }
    fn parse_key(bytes: &[u8]) -> Option<ChunkKey> {
        let (set, n) = bytes.split_at_checked(16)?;
        Some(ChunkKey {
            set: set.try_into().ok()?,
            n: u64::from_be_bytes(n.try_into().ok()?),
        })
    }
    fn describe(k: &ChunkKey) -> String {
        format!("job-record chunk {} of job set {}", k.n, hex16(&k.set))
    }
    fn encode(_: &ChunkKey, bytes: &[u8]) -> Result<Encoded> {
        Ok(Encoded::raw(bytes.to_vec()))
    }
    fn decode(bytes: &[u8]) -> Result<JobChunk, Corrupt> {
        codec::decode_chunk(bytes)
    }
}

/// A chunk is stored as its writer built it (`Batch::put_as_written`
/// skips `encode`'s copy).
impl StoredAsWritten for JobRecords {}

impl Prefixed for JobRecords {
    /// The job set.
    type Prefix = [u8; 16];

    fn prefix_range(set: &[u8; 16]) -> (Vec<u8>, Vec<u8>) {
        set_range(set)
    }
}

/// The keys that start with job set `set`: from the set to the next one.
fn set_range(set: &[u8; 16]) -> (Vec<u8>, Vec<u8>) {
    let start = set.to_vec();
    let mut end = set.to_vec();
    // The next prefix: increment from the last byte, carrying.
    let mut i = end.len();
    while i > 0 {
        i -= 1;
        if end[i] == u8::MAX {
            end[i] = 0;
        } else {
            end[i] += 1;
            return (start, end);
        }
    }
    // All 0xff: a chunk key (16 + 8 bytes) and a shard key (16 bytes, a
    // grid hash of hex digits, 9 more) sort before this.
    (start, vec![u8::MAX; 33])
}

/// job set → what the set holds (sweep name, record count and bytes),
/// for eviction, stats and removal (envelope kind `job-set`).
pub(crate) struct JobSets;

impl Family for JobSets {
    const NAME: &'static str = "job_sets";
    type Key = [u8; 16];
    type Write = JobSetRec;
    type Value = JobSetRec;

    fn key_bytes(set: &[u8; 16]) -> Vec<u8> {
        set.to_vec()
    }
    fn parse_key(bytes: &[u8]) -> Option<[u8; 16]> {
        <[u8; 16]>::try_from(bytes).ok()
    }
    fn describe(set: &[u8; 16]) -> String {
        format!("job set {}", hex16(set))
    }
    fn encode(_: &[u8; 16], rec: &JobSetRec) -> Result<Encoded> {
        codec::seal(codec::KIND_JOB_SET, rec)
    }
    fn decode(bytes: &[u8]) -> Result<JobSetRec, Corrupt> {
        codec::decode_record(codec::KIND_JOB_SET, bytes)
    }
}

/// The job set as 32 hex digits.
pub(crate) fn hex16(set: &[u8; 16]) -> String {
    collector_core::to_hex(set)
}

/// job set, grid hash (text), NUL, shard count and shard number (4 bytes
/// each, big-endian) → the manifest a shard run wrote (envelope kind
/// `shard`).
pub(crate) struct Shards;

/// The key of one shard manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardKey {
    pub(crate) set: [u8; 16],
    pub(crate) grid: String,
    pub(crate) n: u32,
    pub(crate) k: u32,
}

impl Family for Shards {
    const NAME: &'static str = "shards";
    type Key = ShardKey;
    type Write = ShardManifest;
    type Value = ShardManifest;

    fn key_bytes(k: &ShardKey) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + k.grid.len() + 9);
        b.extend_from_slice(&k.set);
        b.extend_from_slice(k.grid.as_bytes());
        b.push(SEP);
        b.extend_from_slice(&k.n.to_be_bytes());
        b.extend_from_slice(&k.k.to_be_bytes());
        b
    }
    fn parse_key(bytes: &[u8]) -> Option<ShardKey> {
        let set = <[u8; 16]>::try_from(bytes.get(..16)?).ok()?;
        let rest = bytes.get(16..)?;
        let n_at = rest.len().checked_sub(9)?;
        if rest[n_at] != SEP {
            return None;
        }
        let n = u32::from_be_bytes(rest[n_at + 1..n_at + 5].try_into().ok()?);
        let k = u32::from_be_bytes(rest[n_at + 5..].try_into().ok()?);
        Some(ShardKey {
            set,
            grid: text(&rest[..n_at]),
            n,
            k,
        })
    }
    fn describe(k: &ShardKey) -> String {
        format!(
            "manifest of shard {}/{} of job set {}",
            k.k,
            k.n,
            hex16(&k.set)
        )
    }
    fn encode(_: &ShardKey, m: &ShardManifest) -> Result<Encoded> {
        codec::seal(codec::KIND_SHARD, m)
    }
    fn decode(bytes: &[u8]) -> Result<ShardManifest, Corrupt> {
        codec::decode_record(codec::KIND_SHARD, bytes)
    }
}

impl Prefixed for Shards {
    /// The job set.
    type Prefix = [u8; 16];

    fn prefix_range(set: &[u8; 16]) -> (Vec<u8>, Vec<u8>) {
        set_range(set)
    }
}

// ------------------------------------------------------------------- meta

/// fixed names → small records, stored without an envelope.
pub(crate) struct Meta;

/// The records of [`Meta`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetaKey {
    /// The format version: 4 bytes, little-endian.
    FormatVersion,
}

impl MetaKey {
    const FORMAT_VERSION: &'static [u8] = b"format_version";
}

/// The `meta` family again, for its one 8-byte record: the id of the
/// result whose parts are being written (see [`ResultParts`]). It is
/// written with the first part and deleted with the result's record, in
/// the same batches; found at open, the write was cut off and its parts
/// are deleted.
pub(crate) struct PartsInFlight;

impl PartsInFlight {
    const KEY: &'static [u8] = b"result_parts_in_flight";
}

impl Family for PartsInFlight {
    const NAME: &'static str = Meta::NAME;
    type Key = ();
    type Write = u64;
    type Value = u64;

    fn key_bytes((): &()) -> Vec<u8> {
        Self::KEY.to_vec()
    }
    fn parse_key(bytes: &[u8]) -> Option<()> {
        (bytes == Self::KEY).then_some(())
    }
    fn describe((): &()) -> String {
        "the result being written in parts".to_string()
    }
    fn encode((): &(), id: &u64) -> Result<Encoded> {
        Ok(Encoded::raw(id.to_le_bytes().to_vec()))
    }
    fn decode(bytes: &[u8]) -> Result<u64, Corrupt> {
        <[u8; 8]>::try_from(bytes)
            .map(u64::from_le_bytes)
            .map_err(|_| Corrupt(format!("{} bytes, expected 8", bytes.len())))
    }
}

impl Family for Meta {
    const NAME: &'static str = "meta";
    type Key = MetaKey;
    type Write = u32;
    type Value = u32;

    fn key_bytes(k: &MetaKey) -> Vec<u8> {
        match k {
            MetaKey::FormatVersion => MetaKey::FORMAT_VERSION.to_vec(),
        }
    }
    fn parse_key(bytes: &[u8]) -> Option<MetaKey> {
        (bytes == MetaKey::FORMAT_VERSION).then_some(MetaKey::FormatVersion)
    }
    fn describe(k: &MetaKey) -> String {
        match k {
            MetaKey::FormatVersion => "the format version".to_string(),
        }
    }
    fn encode(_: &MetaKey, v: &u32) -> Result<Encoded> {
        Ok(Encoded::raw(v.to_le_bytes().to_vec()))
    }
    fn decode(bytes: &[u8]) -> Result<u32, Corrupt> {
        <[u8; 4]>::try_from(bytes)
            .map(u32::from_le_bytes)
            .map_err(|_| Corrupt(format!("{} bytes, expected 4", bytes.len())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn event_key(h: &str, seq: u64) -> Vec<u8> {
        HistoryEvents::key_bytes(&EventKey::new(h, seq))
    }

    #[test]
    fn event_keys_sort_by_sequence_and_stay_in_prefix() {
        let (start, end) = HistoryEvents::prefix_range("h");
        let a = event_key("h", 1);
        let b = event_key("h", 256);
        assert!(a < b);
        assert!(a.starts_with(&start));
        assert!(b < end);
        assert!(event_key("h", u64::MAX) < end);
        // A longer key that starts with the same text is another history.
        assert!(!event_key("hx", 0).starts_with(&start));
        assert_eq!(
            HistoryEvents::parse_key(&event_key("h", 7)),
            Some(EventKey::new("h", 7))
        );
        assert_eq!(HistoryEvents::parse_key(b"short"), None);
    }

    #[test]
    fn job_record_chunk_keys_are_golden_and_sort_in_write_order() {
        let k = ChunkKey {
            set: [7; 16],
            n: 258,
        };
        let mut golden = vec![7u8; 16];
        golden.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(JobRecords::key_bytes(&k), golden);
        assert_eq!(JobRecords::parse_key(&golden), Some(k));
        // A key of format 3 (a 32-byte job key) is not a chunk key.
        assert_eq!(JobRecords::parse_key(&[7; 32]), None);
        let next = ChunkKey {
            set: [7; 16],
            n: 259,
        };
        assert!(JobRecords::key_bytes(&k) < JobRecords::key_bytes(&next));
        let (start, end) = JobRecords::prefix_range(&[7; 16]);
        for n in [0, 1, u64::MAX] {
            let b = JobRecords::key_bytes(&ChunkKey { set: [7; 16], n });
            assert!(start <= b && b < end);
        }
        let (_, end) = JobRecords::prefix_range(&[0xff; 16]);
        assert!(
            JobRecords::key_bytes(&ChunkKey {
                set: [0xff; 16],
                n: u64::MAX
            }) < end
        );
    }

    #[test]
    fn part_keys_are_golden_and_stay_in_their_id() {
        let k = PartKey { id: 258, n: 3 };
        let golden = [0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 3];
        assert_eq!(ResultParts::key_bytes(&k), golden);
        assert_eq!(ResultParts::parse_key(&golden), Some(k));
        assert_eq!(ResultParts::parse_key(&golden[..11]), None);
        for id in [0, 258, u64::MAX] {
            let (start, end) = ResultParts::prefix_range(&id);
            for n in [0, 1, u32::MAX] {
                let b = ResultParts::key_bytes(&PartKey { id, n });
                assert!(start <= b && b < end, "id {id} part {n}");
            }
            if let Some(next) = id.checked_add(1) {
                assert!(ResultParts::key_bytes(&PartKey { id: next, n: 0 }) >= end);
            }
        }
    }

    #[test]
    fn index_keys_round_trip() {
        let k = IndexKey::new("sweep", "key");
        assert_eq!(Index::key_bytes(&k), b"sweep\0key");
        assert_eq!(Index::parse_key(&Index::key_bytes(&k)), Some(k));
        assert_eq!(Index::parse_key(b"no separator"), None);
    }

    #[test]
    fn the_format_version_is_four_little_endian_bytes() {
        let v = Sealed::<Meta>::new(&MetaKey::FormatVersion, &FORMAT_VERSION).unwrap();
        assert_eq!(v.as_bytes(), FORMAT_VERSION.to_le_bytes());
        assert_eq!(Meta::decode(v.as_bytes()), Ok(FORMAT_VERSION));
        assert!(Meta::decode(b"12345").is_err());
        assert_eq!(Meta::key_bytes(&MetaKey::FormatVersion), b"format_version");
        assert_eq!(
            Meta::parse_key(b"format_version"),
            Some(MetaKey::FormatVersion)
        );
    }

    #[test]
    fn keys_with_nul_are_refused() {
        assert!(check_key("cache", "a\0b").is_err());
        assert!(check_key("cache", "").is_err());
        assert!(check_key("cache", "abc").is_ok());
    }
}
