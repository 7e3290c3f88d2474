//! Opening the database, the format version, results with their index,
//! size-based eviction and listings.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use collector_core::SweepResult;
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, IteratorMode, WriteBatch,
    WriteOptions,
};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::codec::{self, KIND_INDEX, StoredResult};
use crate::error::{Error, Result, VersionFound};
use crate::history::HistoryMeta;
use crate::schema::{self, Cf, FORMAT_VERSION, VERSION_KEY};

/// The default cache directory, relative to the working directory.
pub const DEFAULT_CACHE_DIR: &str = "cachedir";
/// The environment variable that overrides [`DEFAULT_CACHE_DIR`].
pub const CACHE_DIR_ENV: &str = "RESULT_COLLECTOR_CACHE_DIR";
/// The sub-directory of the cache directory that holds the RocksDB
/// database (media files live in other sub-directories).
pub const DB_SUBDIR: &str = "db";

/// The cache directory to use: `explicit` if given, else the value of
/// [`CACHE_DIR_ENV`] if set and non-empty, else `./cachedir`.
pub fn resolve_cache_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    match std::env::var_os(CACHE_DIR_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_CACHE_DIR),
    }
}

/// How a [`CacheDb`] behaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheOptions {
    /// Upper bound, in bytes, of the stored results (encoded). Past it the
    /// least recently stored results are evicted. History is never
    /// evicted. `None`: unbounded.
    pub cache_size: Option<u64>,
    /// Sync the write-ahead log on every write. Without it a committed
    /// write survives a crash of the process but not of the machine.
    pub sync_writes: bool,
}

/// Bound on the write-ahead log's total size (see [`CacheDb::open`]).
const MAX_TOTAL_WAL_BYTES: u64 = 64 << 20;

/// A raw key and value read from a column family.
pub(crate) type KeyValue = (Box<[u8]>, Box<[u8]>);

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
}

#[derive(Debug, Clone)]
struct BookEntry {
    sweep: String,
    bytes: u64,
    stored_seq: u64,
}

/// In-memory view of the index, built at open: only one process can hold
/// the database, so it stays exact.
#[derive(Debug, Default)]
struct ResultBook {
    entries: HashMap<String, BookEntry>,
    total_bytes: u64,
    next_store_seq: u64,
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
}

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

/// One history, as listed by [`CacheDb::list_sweeps`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The history key.
    pub key: String,
    /// Number of live events.
    pub events: u64,
    /// Encoded size of the live events, in bytes.
    pub bytes: u64,
    /// Kind of the `over_time` coordinate: "timestamp" or "label".
    pub over_time_kind: String,
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
}

/// The cache database: results by cache key, their per-sweep index, the
/// history of each history key and the format version, in one RocksDB
/// database under `<cache dir>/db`.
///
/// `CacheDb` is `Send + Sync`: share it with `&` or an `Arc`. Appends to
/// one history are serialised inside; dropping it closes the database.
pub struct CacheDb {
    pub(crate) db: DB,
    pub(crate) dir: PathBuf,
    pub(crate) db_dir: PathBuf,
    options: CacheOptions,
    book: Mutex<ResultBook>,
    history_locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Set by [`CacheDb::close`], which has flushed already: the drop that
    /// follows need not flush again.
    closed: bool,
}

impl std::fmt::Debug for CacheDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheDb")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Drop for CacheDb {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // Nothing is lost if this fails: the write-ahead log holds every
        // committed write and the next open replays it.
        if let Err(e) = self.persist() {
            warn!(dir = %self.db_dir.display(), error = %e,
                "could not flush the cache on close; the next open will replay its log");
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves no half-written state here: every
    // change is one write batch, so the data behind a poisoned lock is fine.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn open_error(dir: &Path, e: &rocksdb::Error) -> Error {
    let message = e.to_string();
    let lower = message.to_lowercase();
    if e.kind() == rocksdb::ErrorKind::IOError && lower.contains("lock") {
        Error::Locked {
            dir: dir.to_path_buf(),
            message,
        }
    } else {
        Error::Open {
            dir: dir.to_path_buf(),
            message,
        }
    }
}

impl CacheDb {
    /// Opens (creating if needed) the cache database under `dir`.
    ///
    /// Fails with [`Error::Locked`] when another process (or another open
    /// `CacheDb`) holds it, and with [`Error::FormatVersion`] when it was
    /// written by another format version; nothing is deleted then.
    pub fn open(dir: &Path, options: CacheOptions) -> Result<CacheDb> {
        let db_dir = dir.join(DB_SUBDIR);
        std::fs::create_dir_all(&db_dir).map_err(|e| Error::Open {
            dir: db_dir.clone(),
            message: format!("cannot create the directory: {e}"),
        })?;
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(DBCompressionType::None);
        opts.set_keep_log_file_num(4);
        opts.set_max_open_files(256);
        // A write-ahead-log file is freed only once every family with data
        // in it has been flushed. The small families (index, history
        // metadata) rarely fill a memtable, so without a bound the log
        // kept every large result ever written and each new write went to
        // a file that grew without end (a 4.8 MB write took 11 ms instead
        // of 7.5, both before the hardware CRC). Past this size RocksDB
        // flushes the families holding the oldest log instead.
        opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);

        // RocksDB must open every family that exists; a newer build may
        // have added some. The version check below then refuses it.
        let existing = DB::list_cf(&opts, &db_dir).unwrap_or_default();
        let mut names: Vec<String> = Cf::ALL.iter().map(|c| c.name().to_string()).collect();
        let foreign: Vec<String> = existing
            .iter()
            .filter(|n| n.as_str() != "default" && !names.contains(n))
            .cloned()
            .collect();
        names.extend(foreign.iter().cloned());
        let cfs = names.iter().map(|n| {
            let mut o = rocksdb::Options::default();
            o.set_compression_type(DBCompressionType::None);
            ColumnFamilyDescriptor::new(n, o)
        });
        let db =
            DB::open_cf_descriptors(&opts, &db_dir, cfs).map_err(|e| open_error(&db_dir, &e))?;
        let mut cache = CacheDb {
            db,
            dir: dir.to_path_buf(),
            db_dir,
            options,
            book: Mutex::new(ResultBook::default()),
            history_locks: Mutex::new(HashMap::new()),
            closed: false,
        };
        cache.check_version(!foreign.is_empty())?;
        cache.load_book()?;
        debug!(dir = %cache.db_dir.display(), "cache opened");
        Ok(cache)
    }

    /// Closes the database. Every write is already durable in the
    /// write-ahead log; closing also flushes the memtables to table files,
    /// so that the next [`open`](Self::open) need not replay the log (a
    /// log holding a few large results took 70–80 ms to replay). Dropping
    /// a `CacheDb` does the same; this form reports a failure.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        self.persist()
    }

    /// Flushes every column family's memtable and then the log.
    fn persist(&self) -> Result<()> {
        let mut families = Vec::new();
        for cf in Cf::ALL {
            families.push(self.cf(cf)?);
        }
        let mut fo = rocksdb::FlushOptions::default();
        fo.set_wait(true);
        self.db
            .flush_cfs_opt(&families, &fo)
            .map_err(|e| self.db_err("flushing the memtables", &e))?;
        self.db
            .flush_wal(true)
            .map_err(|e| self.db_err("flushing the write-ahead log", &e))
    }

    /// The cache directory given to [`open`](Self::open).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options given to [`open`](Self::open).
    pub fn options(&self) -> &CacheOptions {
        &self.options
    }

    pub(crate) fn cf(&self, cf: Cf) -> Result<&ColumnFamily> {
        self.db.cf_handle(cf.name()).ok_or_else(|| Error::Db {
            dir: self.db_dir.clone(),
            op: format!("opening column family `{}`", cf.name()),
            message: "missing".into(),
        })
    }

    pub(crate) fn db_err(&self, op: impl Into<String>, e: &rocksdb::Error) -> Error {
        Error::Db {
            dir: self.db_dir.clone(),
            op: op.into(),
            message: e.to_string(),
        }
    }

    pub(crate) fn write(&self, batch: WriteBatch, op: impl Into<String>) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(self.options.sync_writes);
        self.db
            .write_opt(batch, &wo)
            .map_err(|e| self.db_err(op, &e))
    }

    pub(crate) fn get(
        &self,
        cf: Cf,
        key: &[u8],
        what: &str,
    ) -> Result<Option<rocksdb::DBPinnableSlice<'_>>> {
        let h = self.cf(cf)?;
        self.db
            .get_pinned_cf(h, key)
            .map_err(|e| self.db_err(format!("reading {what}"), &e))
    }

    fn check_version(&mut self, has_foreign_families: bool) -> Result<()> {
        let refuse = |found| Error::FormatVersion {
            dir: self.db_dir.clone(),
            found,
            expected: FORMAT_VERSION,
        };
        match self.get(Cf::Meta, VERSION_KEY, "the format version")? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(&v[..])
                    .map(u32::from_le_bytes)
                    .map_or(VersionFound::Missing, VersionFound::Version);
                if found != VersionFound::Version(FORMAT_VERSION) {
                    return Err(refuse(found));
                }
                Ok(())
            }
            None => {
                let mut empty = !has_foreign_families;
                for cf in [Cf::Results, Cf::Index, Cf::HistoryMeta, Cf::HistoryEvents] {
                    let h = self.cf(cf)?;
                    if self.db.iterator_cf(h, IteratorMode::Start).next().is_some() {
                        empty = false;
                    }
                }
                if !empty {
                    return Err(refuse(VersionFound::Missing));
                }
                let mut b = WriteBatch::default();
                b.put_cf(
                    self.cf(Cf::Meta)?,
                    VERSION_KEY,
                    FORMAT_VERSION.to_le_bytes(),
                );
                self.write(b, "writing the format version")
            }
        }
    }

    fn load_book(&mut self) -> Result<()> {
        let mut book = ResultBook::default();
        let mut bad = Vec::new();
        for (k, v) in self.scan(Cf::Index)? {
            match codec::decode_record::<IndexRec>(KIND_INDEX, &v) {
                Ok(r) => {
                    book.total_bytes += r.bytes;
                    book.next_store_seq = book.next_store_seq.max(r.stored_seq + 1);
                    book.entries.insert(
                        r.cache_key,
                        BookEntry {
                            sweep: r.sweep,
                            bytes: r.bytes,
                            stored_seq: r.stored_seq,
                        },
                    );
                }
                Err(e) => {
                    warn!(dir = %self.db_dir.display(), key = %String::from_utf8_lossy(&k), error = %e,
                        "corrupt cache index entry; removing it");
                    bad.push(k);
                }
            }
        }
        if !bad.is_empty() {
            let mut b = WriteBatch::default();
            let h = self.cf(Cf::Index)?;
            for k in &bad {
                b.delete_cf(h, k);
                // The result's key follows the last NUL of the index key.
                if let Some(pos) = k.iter().rposition(|&c| c == 0) {
                    b.delete_cf(self.cf(Cf::Results)?, &k[pos + 1..]);
                }
            }
            self.write(b, "removing corrupt index entries")?;
        }
        *lock(&self.book) = book;
        Ok(())
    }

    pub(crate) fn scan(&self, cf: Cf) -> Result<Vec<KeyValue>> {
        let h = self.cf(cf)?;
        self.db
            .iterator_cf(h, IteratorMode::Start)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.db_err(format!("scanning `{}`", cf.name()), &e))
    }

    // ---------------------------------------------------------------- results

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
        let value = codec::encode_result(result)?;
        let bytes = value.len() as u64;
        let complete = result.is_complete();
        let ds = &result.dataset;

        let mut book = lock(&self.book);
        let stored_seq = book.next_store_seq;
        let index = IndexRec {
            cache_key: cache_key.to_string(),
            sweep: sweep_name.to_string(),
            complete,
            cells: (ds.cell_count() as u64).saturating_mul(ds.columns().len() as u64),
            bytes,
            stored_seq,
            stored_at_ms: now_ms(),
            attempted: result.stats.attempted as u64,
            failed: result.stats.failed as u64,
        };
        let (results, idx) = (self.cf(Cf::Results)?, self.cf(Cf::Index)?);
        // Sized up front: growing the batch would copy a large value again.
        let mut b = WriteBatch::with_capacity_bytes(value.len().saturating_add(4096));
        b.put_cf(results, schema::result_key(cache_key), &value);
        b.put_cf(
            idx,
            schema::index_key(sweep_name, cache_key),
            codec::encode_record(KIND_INDEX, &index)?,
        );
        let mut total = book.total_bytes + bytes;
        if let Some(old) = book.entries.get(cache_key) {
            total -= old.bytes;
            if old.sweep != sweep_name {
                b.delete_cf(idx, schema::index_key(&old.sweep, cache_key));
            }
        }
        let mut evicted = Vec::new();
        if let Some(limit) = self.options.cache_size {
            let mut order: Vec<(&String, &BookEntry)> = book
                .entries
                .iter()
                .filter(|(k, _)| k.as_str() != cache_key)
                .collect();
            order.sort_by_key(|(_, e)| e.stored_seq);
            for (k, e) in order {
                if total <= limit {
                    break;
                }
                b.delete_cf(results, schema::result_key(k));
                b.delete_cf(idx, schema::index_key(&e.sweep, k));
                total -= e.bytes;
                evicted.push(k.clone());
            }
            if total > limit {
                warn!(dir = %self.db_dir.display(), key = cache_key, bytes, limit,
                    "a single result is larger than cache_size; keeping it anyway");
            }
        }
        self.write(
            b,
            format!("storing result {cache_key} of sweep `{sweep_name}`"),
        )?;
        for k in &evicted {
            book.entries.remove(k);
            debug!(key = %k, "evicted result (cache_size)");
        }
        book.entries.insert(
            cache_key.to_string(),
            BookEntry {
                sweep: sweep_name.to_string(),
                bytes,
                stored_seq,
            },
        );
        book.total_bytes = total;
        book.next_store_seq += 1;
        Ok(PutOutcome {
            bytes,
            complete,
            evicted,
        })
    }

    /// The result stored under `cache_key`, complete or not; `None` when
    /// absent. A value that cannot be decoded is logged, removed and
    /// reported as absent.
    pub fn get_result(&self, cache_key: &str) -> Result<Option<StoredResult>> {
        schema::check_key("cache", cache_key)?;
        let decoded = match self.get(
            Cf::Results,
            &schema::result_key(cache_key),
            &format!("result {cache_key}"),
        )? {
            None => return Ok(None),
            Some(v) => codec::decode_result(&v),
        };
        match decoded {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                warn!(dir = %self.db_dir.display(), key = cache_key, error = %e,
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
        let present = self
            .get(Cf::Results, &schema::result_key(cache_key), "a result")?
            .is_some();
        let entry = book.entries.get(cache_key).cloned();
        if !present && entry.is_none() {
            return Ok(false);
        }
        let mut b = WriteBatch::default();
        b.delete_cf(self.cf(Cf::Results)?, schema::result_key(cache_key));
        if let Some(e) = &entry {
            b.delete_cf(self.cf(Cf::Index)?, schema::index_key(&e.sweep, cache_key));
        }
        self.write(b, format!("removing result {cache_key}"))?;
        if let Some(e) = book.entries.remove(cache_key) {
            book.total_bytes -= e.bytes;
        }
        Ok(true)
    }

    /// Everything stored, grouped by sweep name (sorted by name).
    pub fn list_sweeps(&self) -> Result<Vec<SweepListing>> {
        let mut by_name: BTreeMap<String, SweepListing> = BTreeMap::new();
        let mut results: Vec<IndexRec> = Vec::new();
        for (k, v) in self.scan(Cf::Index)? {
            match codec::decode_record::<IndexRec>(KIND_INDEX, &v) {
                Ok(r) => results.push(r),
                Err(e) => {
                    warn!(key = %String::from_utf8_lossy(&k), error = %e, "skipping a corrupt index entry")
                }
            }
        }
        results.sort_by_key(|r| r.stored_seq);
        for r in results {
            let l = by_name.entry(r.sweep.clone()).or_default();
            l.results.push(ResultEntry {
                key: r.cache_key,
                complete: r.complete,
                cells: r.cells,
                bytes: r.bytes,
                stored_at: UNIX_EPOCH + Duration::from_millis(r.stored_at_ms),
                attempted: r.attempted,
                failed: r.failed,
            });
        }
        for (k, v) in self.scan(Cf::HistoryMeta)? {
            let key = String::from_utf8_lossy(&k).into_owned();
            match HistoryMeta::decode(&v) {
                Ok(m) => by_name
                    .entry(m.sweep.clone())
                    .or_default()
                    .histories
                    .push(HistoryEntry {
                        key,
                        events: m.event_count(),
                        bytes: m.bytes,
                        over_time_kind: m.time_kind.clone(),
                    }),
                Err(e) => warn!(key = %key, error = %e, "skipping corrupt history metadata"),
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
        let (results, result_bytes) = {
            let book = lock(&self.book);
            (book.entries.len() as u64, book.total_bytes)
        };
        let (mut histories, mut history_events, mut history_bytes) = (0, 0, 0);
        for (_, v) in self.scan(Cf::HistoryMeta)? {
            if let Ok(m) = HistoryMeta::decode(&v) {
                histories += 1;
                history_events += m.event_count();
                history_bytes += m.bytes;
            }
        }
        Ok(CacheStats {
            db_dir: self.db_dir.clone(),
            results,
            result_bytes,
            cache_size: self.options.cache_size,
            histories,
            history_events,
            history_bytes,
        })
    }

    pub(crate) fn history_lock(&self, history_key: &str) -> Arc<Mutex<()>> {
        let mut m = lock(&self.history_locks);
        Arc::clone(m.entry(history_key.to_string()).or_default())
    }
}
