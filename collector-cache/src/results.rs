//! Results by cache key, their per-sweep index, and size-based eviction.

use std::collections::HashMap;

use collector_core::SweepResult;
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::codec::{self, PartsRec, ResultValue, StoredResult};
use crate::db::{CacheDb, Decoded, Scanned, View, lock, now_ms};
use crate::error::Result;
use crate::parts::{PartWriter, in_parts};
use crate::schema::{
    self, Family, Index, IndexKey, PartKey, PartsInFlight, ResultParts, Results, ResultsInParts,
    Sealed,
};

/// An index entry: one stored result of one sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexRec {
    pub(crate) cache_key: String,
    pub(crate) sweep: String,
    pub(crate) complete: bool,
    pub(crate) cells: u64,
    pub(crate) bytes: u64,
    /// Store order, for least-recently-stored eviction.
    pub(crate) stored_seq: u64,
    pub(crate) stored_at_ms: u64,
    pub(crate) attempted: u64,
    pub(crate) failed: u64,
    /// The id of the parts the result is stored in; `None`: stored whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parts: Option<u64>,
}

impl IndexRec {
    fn new(
        cache_key: &str,
        sweep: &str,
        result: &SweepResult,
        bytes: u64,
        seq: u64,
        parts: Option<u64>,
    ) -> Self {
        let ds = &result.dataset;
        IndexRec {
            cache_key: cache_key.to_string(),
            sweep: sweep.to_string(),
            complete: result.is_complete(),
            cells: (ds.cell_count() as u64).saturating_mul(ds.columns().len() as u64),
            bytes,
            stored_seq: seq,
            stored_at_ms: now_ms(),
            attempted: result.stats.attempted as u64,
            failed: result.stats.failed as u64,
            parts,
        }
    }

    fn key(&self) -> IndexKey {
        IndexKey::new(&self.sweep, &self.cache_key)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BookEntry {
    sweep: String,
    bytes: u64,
    stored_seq: u64,
    parts: Option<u64>,
}

/// One job set in the book: its records' bytes count against
/// `cache_size` like a result's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobSetEntry {
    pub(crate) sweep: String,
    pub(crate) bytes: u64,
    pub(crate) stored_seq: u64,
}

/// What eviction removes: a result (with its index entry) or a whole job
/// set (its records and its entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Evict {
    /// A result, and the id of its parts when it is stored in parts.
    Result(IndexKey, Option<u64>),
    Jobs([u8; 16], String),
}

/// In-memory view of the index and of the job sets, built at open: only
/// one process can hold the database, so it stays exact.
#[derive(Debug, Default)]
pub(crate) struct ResultBook {
    entries: HashMap<String, BookEntry>,
    pub(crate) job_sets: HashMap<[u8; 16], JobSetEntry>,
    pub(crate) total_bytes: u64,
    pub(crate) next_store_seq: u64,
}

/// What storing one result changes besides writing it: decided before the
/// write from the book alone, applied to the book once it has committed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StorePlan {
    /// The index entry of the same cache key under another sweep name.
    moved_from: Option<IndexKey>,
    /// The parts of the result the store replaces, when it was stored in
    /// parts.
    replaced_parts: Option<u64>,
    /// What to evict, least recently stored first.
    evict: Vec<Evict>,
    /// The stored bytes once the batch has committed.
    total_bytes: u64,
    /// Set when the result alone is larger than the limit (it is kept).
    over_limit: bool,
}

impl ResultBook {
    /// Adds an index entry read at open.
    fn insert_loaded(&mut self, r: IndexRec) {
        self.total_bytes += r.bytes;
        self.next_store_seq = self.next_store_seq.max(r.stored_seq + 1);
        self.entries.insert(
            r.cache_key,
            BookEntry {
                sweep: r.sweep,
                bytes: r.bytes,
                stored_seq: r.stored_seq,
                parts: r.parts,
            },
        );
    }

    /// What storing `rec` does: the old index entry it replaces, and the
    /// least recently stored other results to evict to stay under `limit`.
    fn plan_store(&self, rec: &IndexRec, limit: Option<u64>) -> StorePlan {
        let mut total = self.total_bytes + rec.bytes;
        let mut moved_from = None;
        let mut replaced_parts = None;
        if let Some(old) = self.entries.get(&rec.cache_key) {
            total -= old.bytes;
            replaced_parts = old.parts;
            if old.sweep != rec.sweep {
                moved_from = Some(IndexKey::new(&old.sweep, &rec.cache_key));
            }
        }
        let evict = self.plan_evict(&mut total, limit, Some(&rec.cache_key), None);
        StorePlan {
            moved_from,
            replaced_parts,
            evict,
            total_bytes: total,
            over_limit: limit.is_some_and(|l| total > l),
        }
    }

    /// The least recently stored results and job sets to evict so that
    /// `total` fits `limit` (lowered as they go), keeping the result
    /// `keep_result` and the job set `keep_set`.
    pub(crate) fn plan_evict(
        &self,
        total: &mut u64,
        limit: Option<u64>,
        keep_result: Option<&str>,
        keep_set: Option<&[u8; 16]>,
    ) -> Vec<Evict> {
        let mut evict = Vec::new();
        let Some(limit) = limit else {
            return evict;
        };
        if *total <= limit {
            return evict;
        }
        let mut order: Vec<(u64, u64, Evict)> = self
            .entries
            .iter()
            .filter(|(k, _)| Some(k.as_str()) != keep_result)
            .map(|(k, e)| {
                (
                    e.stored_seq,
                    e.bytes,
                    Evict::Result(IndexKey::new(&e.sweep, k), e.parts),
                )
            })
            .chain(
                self.job_sets
                    .iter()
                    .filter(|(s, _)| Some(*s) != keep_set)
                    .map(|(s, e)| (e.stored_seq, e.bytes, Evict::Jobs(*s, e.sweep.clone()))),
            )
            .collect();
        order.sort_by_key(|(seq, _, _)| *seq);
        for (_, bytes, e) in order {
            if *total <= limit {
                break;
            }
            *total -= bytes;
            evict.push(e);
        }
        evict
    }

    /// Drops evicted entries from the book (their bytes are already out of
    /// the total the plan computed).
    pub(crate) fn forget(&mut self, evicted: &[Evict]) {
        for e in evicted {
            match e {
                Evict::Result(k, _) => {
                    self.entries.remove(&k.cache_key);
                    debug!(key = %k.cache_key, "evicted result (cache_size)");
                }
                Evict::Jobs(set, sweep) => {
                    self.job_sets.remove(set);
                    debug!(set = %schema::hex16(set), sweep = %sweep, "evicted job records (cache_size)");
                }
            }
        }
    }

    /// Records a committed store.
    fn apply(&mut self, plan: &StorePlan, rec: &IndexRec) {
        self.forget(&plan.evict);
        self.entries.insert(
            rec.cache_key.clone(),
            BookEntry {
                sweep: rec.sweep.clone(),
                bytes: rec.bytes,
                stored_seq: rec.stored_seq,
                parts: rec.parts,
            },
        );
        self.total_bytes = plan.total_bytes;
        self.next_store_seq += 1;
    }
}

/// What [`CacheDb::put_result`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// Size of the stored value, in bytes.
    pub bytes: u64,
    /// Whether the result was stored as complete (a cache hit for later runs).
    pub complete: bool,
    /// Cache keys evicted to stay under `cache_size`.
    pub evicted: Vec<String>,
    /// Sweep names whose job records were evicted to stay under
    /// `cache_size`.
    pub evicted_job_records: Vec<String>,
}

/// Adds the deletion of an evicted result or job set to `b`.
pub(crate) fn delete_evicted(b: &mut crate::db::Batch<'_>, e: &Evict) -> Result<()> {
    match e {
        Evict::Result(k, parts) => {
            b.delete::<Results>(&k.cache_key)?;
            if let Some(id) = parts {
                b.delete_prefix::<ResultParts>(id)?;
            }
            b.delete::<Index>(k)
        }
        Evict::Jobs(set, _) => {
            b.delete_prefix::<schema::JobRecords>(set)?;
            // Its shard manifests go with the records they describe.
            b.delete_prefix::<schema::Shards>(set)?;
            b.delete::<schema::JobSets>(set)
        }
    }
}

/// The size in bytes of `result` once encoded: what
/// [`CacheDb::put_result`] would store (and report as
/// [`PutOutcome::bytes`]). It counts them by encoding the result into
/// nothing: the numeric columns are counted, not copied.
pub fn encoded_result_size(result: &SweepResult) -> Result<u64> {
    codec::encoded_result_len(result)
}

/// A result ready to be committed: encoded whole, or written in parts
/// already.
enum ToStore {
    Whole(Sealed<Results>),
    Parts(PartsRec),
}

impl CacheDb {
    /// Builds the book from the index; removes the entries that cannot be
    /// read, with their results.
    pub(crate) fn load_book(&self) -> Result<()> {
        let mut book = ResultBook::default();
        let mut removal = self.batch();
        let mut corrupt = 0;
        for entry in self.scan::<Index>()? {
            let Scanned { key, value } = entry?;
            match value {
                Ok(r) => book.insert_loaded(r),
                Err(e) => {
                    warn!(dir = %self.dir().display(), key = %key.text(), error = %e,
                        "corrupt cache index entry; removing it");
                    removal.delete_scanned(&key)?;
                    if let Some(k) = key.parse() {
                        removal.delete::<Results>(&k.cache_key)?;
                        // The index entry named its parts; the result's
                        // record names them too.
                        if let Some(Ok(ResultValue::Parts(p))) =
                            self.get::<Results>(&k.cache_key)?
                        {
                            removal.delete_prefix::<ResultParts>(&p.id)?;
                        }
                    }
                    corrupt += 1;
                }
            }
        }
        if corrupt > 0 {
            removal.commit("removing corrupt index entries")?;
        }
        self.load_job_sets(&mut book)?;
        *lock(&self.book) = book;
        Ok(())
    }

    /// Stores `result` under `cache_key`, with its index entry under
    /// `sweep_name`, in one write batch. A result with sample failures, or
    /// whose jobs were not all attempted, is stored as incomplete: see
    /// [`get_complete_result`](Self::get_complete_result). Past
    /// `cache_size`, the least recently stored other results are evicted
    /// in the same batch.
    pub fn put_result(
        &self,
        cache_key: &str,
        sweep_name: &str,
        result: &SweepResult,
    ) -> Result<PutOutcome> {
        schema::check_key("cache", cache_key)?;
        schema::check_key("sweep name", sweep_name)?;
        let mut book = lock(&self.book);
        let seq = book.next_store_seq;
        // A result that looks small is encoded once, whole; one found
        // larger than a part after all, and one that looks large, are
        // streamed into parts.
        let whole = if in_parts(codec::result_size_hint(result) as u64) {
            None
        } else {
            Some(Sealed::<Results>::new(cache_key, result)?).filter(|v| !in_parts(v.len()))
        };
        let (value, parts, len) = match whole {
            Some(v) => {
                let len = v.len();
                (ToStore::Whole(v), None, len)
            }
            None => {
                let p = self.write_parts(cache_key, seq, result)?;
                (ToStore::Parts(p), Some(seq), p.bytes)
            }
        };
        let rec = IndexRec::new(cache_key, sweep_name, result, len, seq, parts);
        let plan = book.plan_store(&rec, self.options().cache_size);
        if let Some(limit) = self.options().cache_size.filter(|_| plan.over_limit) {
            warn!(dir = %self.dir().display(), key = cache_key, bytes = rec.bytes, limit,
                "a single result is larger than cache_size; keeping it anyway");
        }
        if let Err(e) = self.write_store(value, &rec, &plan) {
            if let Some(id) = parts {
                self.drop_parts(id);
            }
            return Err(e);
        }
        book.apply(&plan, &rec);
        Ok(PutOutcome {
            bytes: rec.bytes,
            complete: rec.complete,
            evicted: plan
                .evict
                .iter()
                .filter_map(|e| match e {
                    Evict::Result(k, _) => Some(k.cache_key.clone()),
                    Evict::Jobs(..) => None,
                })
                .collect(),
            evicted_job_records: plan
                .evict
                .iter()
                .filter_map(|e| match e {
                    Evict::Jobs(_, sweep) => Some(sweep.clone()),
                    Evict::Result(..) => None,
                })
                .collect(),
        })
    }

    /// Writes `result`'s encoding in parts under the id `id`; returns
    /// the record that finds them. The first part's batch clears whatever
    /// a failed write left under the same id, and records the id as in
    /// flight ([`PartsInFlight`]). On an error, the parts written are
    /// deleted.
    fn write_parts(&self, cache_key: &str, id: u64, result: &SweepResult) -> Result<PartsRec> {
        let what = format!("result {cache_key}");
        let key = |n| PartKey { id, n };
        let first = |b: &mut crate::db::Batch<'_>| {
            b.delete_prefix::<ResultParts>(&id)?;
            b.put::<PartsInFlight>(&(), &id).map(|_| ())
        };
        let written = PartWriter::<ResultParts>::new(self, &what, &key, &first)
            .write_all(|w| codec::write_result(result, w));
        match written {
            Ok((parts, bytes)) => Ok(PartsRec { id, parts, bytes }),
            Err(e) => {
                self.drop_parts(id);
                Err(e)
            }
        }
    }

    /// Deletes the parts of id `id` after a failed store (they are
    /// deleted at the next open otherwise).
    fn drop_parts(&self, id: u64) {
        let mut b = self.batch();
        let dropped = b
            .delete_prefix::<ResultParts>(&id)
            .and_then(|()| b.delete::<PartsInFlight>(&()))
            .and_then(|()| b.commit(format!("deleting the parts of failed store {id}")));
        if let Err(e) = dropped {
            warn!(dir = %self.dir().display(), id, error = %e,
                "could not delete the parts of a failed store; the next open will");
        }
    }

    /// At open: deletes the parts of a store that was cut off (a crash
    /// between its first part and its record).
    pub(crate) fn drop_parts_in_flight(&self) -> Result<()> {
        let Some(found) = self.get::<PartsInFlight>(&())? else {
            return Ok(());
        };
        let mut b = self.batch();
        match found {
            Ok(id)
                if lock(&self.book)
                    .entries
                    .values()
                    .all(|e| e.parts != Some(id)) =>
            {
                b.delete_prefix::<ResultParts>(&id)?;
                warn!(dir = %self.dir().display(), id,
                    "a result's write was cut off; deleting the parts it had written");
            }
            Ok(_) => {}
            Err(e) => {
                warn!(dir = %self.dir().display(), error = %e,
                    "unreadable record of a result being written in parts; removing it");
            }
        }
        b.delete::<PartsInFlight>(&())?;
        b.commit("deleting the parts of a cut-off store")
    }

    /// The result a value of the `results` family holds: itself, or the
    /// result its parts hold (read in `view`, the state the value was read
    /// in, when one is given: a store that replaces the result meanwhile
    /// deletes the parts the value names).
    pub(crate) fn whole_result(
        &self,
        view: Option<&View<'_>>,
        value: Decoded<ResultValue>,
    ) -> Result<Decoded<StoredResult>> {
        Ok(match value {
            Ok(ResultValue::Whole(r)) => Ok(r),
            Ok(ResultValue::Parts(p)) => {
                match self.join_parts::<ResultParts>(view, &p.id, p.parts, p.bytes, |k| {
                    ResultParts::parse_key(k).map(|k| k.n)
                })? {
                    Ok(bytes) => codec::decode_result(&bytes),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        })
    }

    /// The one batch of a store: the result (or the record of its parts),
    /// its index entry, and the deletions the plan asks for.
    fn write_store(&self, value: ToStore, rec: &IndexRec, plan: &StorePlan) -> Result<()> {
        let mut b = match &value {
            ToStore::Whole(v) => self.batch_with_room(v.len()),
            ToStore::Parts(_) => self.batch(),
        };
        if let Some(old) = plan.replaced_parts {
            b.delete_prefix::<ResultParts>(&old)?;
        }
        match value {
            ToStore::Whole(v) => {
                b.put_sealed::<Results>(&rec.cache_key, &v)?;
                // The batch holds its own copy: free the encoded one
                // before the write makes a third (the memtable's).
                drop(v);
            }
            ToStore::Parts(p) => {
                b.put::<ResultsInParts>(&rec.cache_key, &p)?;
                b.delete::<PartsInFlight>(&())?;
            }
        }
        b.put::<Index>(&rec.key(), rec)?;
        if let Some(old) = &plan.moved_from {
            b.delete::<Index>(old)?;
        }
        for e in &plan.evict {
            delete_evicted(&mut b, e)?;
        }
        b.commit(format!(
            "storing result {} of sweep `{}`",
            rec.cache_key, rec.sweep
        ))
    }

    /// The result stored under `cache_key`, complete or not; `None` when
    /// absent. A value that cannot be decoded is logged, removed and
    /// reported as absent.
    pub fn get_result(&self, cache_key: &str) -> Result<Option<StoredResult>> {
        schema::check_key("cache", cache_key)?;
        // The record and its parts from one state of the database.
        let view = self.view();
        let Some(value) = self.get_in::<Results>(&view, cache_key)? else {
            return Ok(None);
        };
        match self.whole_result(Some(&view), value)? {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                warn!(dir = %self.dir().display(), key = cache_key, error = %e,
                    "corrupt cached result; removing it and treating it as absent");
                self.remove_result(cache_key)?;
                Ok(None)
            }
        }
    }

    /// The result stored under `cache_key` if it is complete: a cache hit.
    /// An incomplete result (failures, or jobs not attempted) gives `None`.
    pub fn get_complete_result(&self, cache_key: &str) -> Result<Option<StoredResult>> {
        Ok(self.get_result(cache_key)?.filter(|r| r.complete))
    }

    /// Removes the result stored under `cache_key` and its index entry.
    /// Returns whether anything was removed.
    pub fn remove_result(&self, cache_key: &str) -> Result<bool> {
        schema::check_key("cache", cache_key)?;
        let mut book = lock(&self.book);
        let present = self.contains::<Results>(cache_key)?;
        let entry = book.entries.get(cache_key).cloned();
        if !present && entry.is_none() {
            return Ok(false);
        }
        let mut b = self.batch();
        b.delete::<Results>(cache_key)?;
        if let Some(e) = &entry {
            b.delete::<Index>(&IndexKey::new(&e.sweep, cache_key))?;
            if let Some(id) = e.parts {
                b.delete_prefix::<ResultParts>(&id)?;
            }
        }
        b.commit(format!("removing result {cache_key}"))?;
        if let Some(e) = book.entries.remove(cache_key) {
            book.total_bytes -= e.bytes;
        }
        Ok(true)
    }

    /// The number of stored results and their encoded size in bytes.
    pub(crate) fn result_totals(&self) -> (u64, u64) {
        let book = lock(&self.book);
        let bytes = book.entries.values().map(|e| e.bytes).sum();
        (book.entries.len() as u64, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, sweep: &str, bytes: u64, seq: u64) -> IndexRec {
        IndexRec {
            cache_key: key.into(),
            sweep: sweep.into(),
            complete: true,
            cells: 1,
            bytes,
            stored_seq: seq,
            stored_at_ms: 0,
            attempted: 1,
            failed: 0,
            parts: None,
        }
    }

    fn book(entries: &[(&str, u64, u64)]) -> ResultBook {
        let mut b = ResultBook::default();
        for &(k, bytes, seq) in entries {
            b.insert_loaded(rec(k, "s", bytes, seq));
        }
        b
    }

    fn keys(e: &[Evict]) -> Vec<String> {
        e.iter()
            .map(|e| match e {
                Evict::Result(k, _) => k.cache_key.clone(),
                Evict::Jobs(_, sweep) => format!("jobs of {sweep}"),
            })
            .collect()
    }

    #[test]
    fn job_sets_are_evicted_with_results_in_store_order() {
        let mut b = book(&[("a", 10, 0), ("c", 10, 2)]);
        b.job_sets.insert(
            [7; 16],
            JobSetEntry {
                sweep: "js".into(),
                bytes: 10,
                stored_seq: 1,
            },
        );
        b.total_bytes += 10;
        b.next_store_seq = 3;
        let plan = b.plan_store(&rec("d", "s", 10, 3), Some(25));
        assert_eq!(keys(&plan.evict), ["a", "jobs of js"]);
        // The set being written is never its own victim.
        let mut total = 40;
        let e = b.plan_evict(&mut total, Some(15), None, Some(&[7; 16]));
        assert_eq!(keys(&e), ["a", "c"]);
        b.forget(&e);
        assert!(b.job_sets.contains_key(&[7; 16]));
    }

    #[test]
    fn eviction_takes_the_least_recently_stored_first() {
        let b = book(&[("c", 10, 2), ("a", 10, 0), ("b", 10, 1)]);
        assert_eq!(b.next_store_seq, 3);
        let plan = b.plan_store(&rec("d", "s", 10, 3), Some(25));
        assert_eq!(keys(&plan.evict), ["a", "b"]);
        assert_eq!(plan.total_bytes, 20);
        assert!(!plan.over_limit);
        // Unbounded: nothing goes.
        let plan = b.plan_store(&rec("d", "s", 10, 3), None);
        assert!(plan.evict.is_empty());
        assert_eq!(plan.total_bytes, 40);
    }

    #[test]
    fn storing_a_key_again_replaces_its_size_and_never_evicts_it() {
        let b = book(&[("a", 10, 0), ("b", 10, 1)]);
        let plan = b.plan_store(&rec("a", "other", 30, 2), Some(35));
        assert_eq!(keys(&plan.evict), ["b"]);
        assert_eq!(plan.total_bytes, 30);
        // Under another sweep name, its old index entry goes.
        assert_eq!(plan.moved_from, Some(IndexKey::new("s", "a")));
    }

    #[test]
    fn a_result_larger_than_the_limit_is_kept_and_flagged() {
        let b = book(&[("a", 10, 0)]);
        let plan = b.plan_store(&rec("big", "s", 100, 1), Some(50));
        assert_eq!(plan.evict, [Evict::Result(IndexKey::new("s", "a"), None)]);
        assert_eq!(plan.total_bytes, 100);
        assert!(plan.over_limit);
        let mut b = b;
        b.apply(&plan, &rec("big", "s", 100, 1));
        assert_eq!(b.total_bytes, 100);
        assert_eq!(b.entries.len(), 1);
        assert_eq!(b.next_store_seq, 2);
    }
}
