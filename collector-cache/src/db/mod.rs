//! Opening and closing the database, and its format version.

mod typed;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType};
use tracing::{debug, warn};

pub(crate) use self::typed::{Batch, Decoded, RawPair, Room, Scanned, View, touched_room_for};
use crate::error::{Error, Result, VersionFound};
use crate::results::ResultBook;
use crate::schema::{
    EventParts, FAMILY_NAMES, FORMAT_VERSION, Family, HistoryEvents, HistoryMeta, Index,
    JobRecords, Meta, MetaKey, ResultParts, Results, UPGRADABLE_FROM,
};

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
    /// Bytes of stored blocks kept in memory for reads, shared by every
    /// family; `None`: [`DEFAULT_BLOCK_CACHE_BYTES`]. Memory is taken only
    /// as blocks are read. A history read back often (a report, a
    /// regression check) is served from it when it fits: one event is one
    /// block, and a history larger than the cache is read from the table
    /// files on every load.
    pub block_cache_bytes: Option<usize>,
}

/// The default bound of the block cache: 256 MiB (a history of 1,000
/// events of 40 KB fits six times over).
pub const DEFAULT_BLOCK_CACHE_BYTES: usize = 256 << 20;

/// The memtable size of the job-record family.
const JOB_RECORDS_WRITE_BUFFER: usize = 8 << 20;

/// The memtables of a family past which [`CacheDb::settle`] flushes them:
/// a small run's few values stay in memory (a flush per run would leave a
/// table file per run). Memtables are measured by their arena, which
/// grows a megabyte at a time: one small value takes a megabyte.
pub const SETTLE_BYTES: u64 = 2 << 20;

/// The memtable size of the families of parts (of results and of history
/// events): a large value is written a part at a time, and at most about
/// two memtables of its parts are in memory at once (RocksDB stalls the
/// writes while they flush).
const PARTS_WRITE_BUFFER: usize = 8 << 20;

/// A stored result or history event at least this large goes to a blob
/// file when its memtable is flushed, not into a table block (see
/// [`CacheDb::open`]).
const MIN_BLOB_BYTES: u64 = 1 << 20;

/// Bound on the write-ahead log's total size (see [`CacheDb::open`]).
const MAX_TOTAL_WAL_BYTES: u64 = 64 << 20;

/// The cache database: results by cache key, their per-sweep index, the
/// history of each history key and the format version, in one RocksDB
/// database.
///
/// `CacheDb` is `Send + Sync`: share it with `&` or an `Arc`. Appends to
/// one history are serialised inside; dropping it closes the database.
pub struct CacheDb {
    db: DB,
    /// The database directory.
    dir: PathBuf,
    options: CacheOptions,
    pub(crate) book: Mutex<ResultBook>,
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
            warn!(dir = %self.dir.display(), error = %e,
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
    } else if lower.contains("permission denied") || lower.contains("read-only file system") {
        // RocksDB writes at every open (its log, options and manifest),
        // even to read.
        Error::Open {
            dir: dir.to_path_buf(),
            message: format!(
                "{message} (the cache is written at every open, even to read: its directory and files must be writable by this user)"
            ),
        }
    } else {
        Error::Open {
            dir: dir.to_path_buf(),
            message,
        }
    }
}

/// The options of the database and of each family.
fn db_options() -> rocksdb::Options {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_compression_type(DBCompressionType::None);
    opts.set_keep_log_file_num(4);
    opts.set_max_open_files(256);
    // A write-ahead-log file is freed only once every family with data in
    // it has been flushed. The small families (index, history metadata)
    // rarely fill a memtable, so without a bound the log kept every large
    // result ever written, and each new write went to a file that grew
    // without end and got slower for it. Past this size RocksDB flushes
    // the families holding the oldest log instead.
    opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
    opts
}

impl CacheDb {
    /// Opens (creating if needed) the cache database in the directory
    /// `db_dir` (the RocksDB directory itself; the caller decides where it
    /// lives).
    ///
    /// Fails with [`Error::Locked`] when another process (or another open
    /// `CacheDb`) holds it, and with [`Error::FormatVersion`] when it was
    /// written by another format version; nothing is deleted then.
    pub fn open(db_dir: &Path, options: CacheOptions) -> Result<CacheDb> {
        // A cache directory given where its database directory is meant
        // would silently start a second, empty database beside it.
        if !Self::exists(db_dir) && Self::exists(&db_dir.join("db")) {
            return Err(Error::Open {
                dir: db_dir.to_path_buf(),
                message: format!(
                    "this is a cache directory: its database is {}; pass that directory",
                    db_dir.join("db").display()
                ),
            });
        }
        std::fs::create_dir_all(db_dir).map_err(|e| Error::Open {
            dir: db_dir.to_path_buf(),
            message: format!("cannot create the directory: {e}"),
        })?;
        let opts = db_options();
        let mut table = rocksdb::BlockBasedOptions::default();
        let block_cache = rocksdb::Cache::new_lru_cache(
            options
                .block_cache_bytes
                .unwrap_or(DEFAULT_BLOCK_CACHE_BYTES),
        );
        table.set_block_cache(&block_cache);
        // RocksDB must open every family that exists; a newer build may
        // have added some. The version check below then refuses it.
        let existing = DB::list_cf(&opts, db_dir).unwrap_or_default();
        let foreign: Vec<String> = existing
            .into_iter()
            .filter(|n| n != "default" && !FAMILY_NAMES.contains(&n.as_str()))
            .collect();
        let names = FAMILY_NAMES.iter().map(|n| n.to_string());
        let cfs = names.chain(foreign.iter().cloned()).map(|n| {
            let mut o = rocksdb::Options::default();
            o.set_compression_type(DBCompressionType::None);
            o.set_block_based_table_factory(&table);
            if n == Results::NAME
                || n == HistoryEvents::NAME
                || n == ResultParts::NAME
                || n == EventParts::NAME
            {
                // A large value flushed into a table block was held there
                // in whole, twice over (the block's buffer doubles as it
                // grows): a 80 MB result took 240 MB more at its flush.
                // Written to a blob file instead, it streams; the blob
                // cache is the block cache, so reads stay in memory.
                // Garbage collection rewrites blob files whose values
                // were mostly deleted (evicted or replaced results).
                o.set_enable_blob_files(true);
                o.set_min_blob_size(MIN_BLOB_BYTES);
                o.set_enable_blob_gc(true);
                o.set_blob_cache(&block_cache);
            }
            if n == ResultParts::NAME || n == EventParts::NAME {
                o.set_write_buffer_size(PARTS_WRITE_BUFFER);
            }
            if n == JobRecords::NAME {
                // Many small records: smaller memtables bound the memory a
                // long run holds (a flush every 8 MB of records; at 16 MB,
                // a 10 M-job run's peak came within a few MB of its bound
                // once the next batch's keys were computed during a write).
                o.set_write_buffer_size(JOB_RECORDS_WRITE_BUFFER);
            }
            ColumnFamilyDescriptor::new(n, o)
        });
        let db = DB::open_cf_descriptors(&opts, db_dir, cfs).map_err(|e| open_error(db_dir, &e))?;
        let cache = CacheDb {
            db,
            dir: db_dir.to_path_buf(),
            options,
            book: Mutex::new(ResultBook::default()),
            history_locks: Mutex::new(HashMap::new()),
            closed: false,
        };
        cache.check_version(!foreign.is_empty())?;
        cache.load_book()?;
        cache.drop_parts_in_flight()?;
        debug!(dir = %cache.dir.display(), "cache opened");
        Ok(cache)
    }

    /// Whether a database is present in `db_dir` (without opening it):
    /// for a caller that must not create one.
    pub fn exists(db_dir: &Path) -> bool {
        // RocksDB names the current manifest in this file; every database
        // has one from its creation on.
        db_dir.join("CURRENT").is_file()
    }

    /// Closes the database. Every write is already durable in the
    /// write-ahead log; closing also flushes the memtables to table files,
    /// so that the next [`open`](Self::open) need not replay the log
    /// (replaying a log that holds a few large results costs more than the
    /// rest of an open). Dropping a `CacheDb` does the same; this form
    /// reports a failure.
    pub fn close(mut self) -> Result<()> {
        self.closed = true;
        self.persist()
    }

    /// Flushes every column family's memtable and then the log.
    fn persist(&self) -> Result<()> {
        let families = FAMILY_NAMES
            .iter()
            .map(|n| self.handle(n))
            .collect::<Result<Vec<_>>>()?;
        let mut fo = rocksdb::FlushOptions::default();
        fo.set_wait(true);
        self.db
            .flush_cfs_opt(&families, &fo)
            .map_err(|e| self.db_err("flushing the memtables", &e))?;
        self.db
            .flush_wal(true)
            .map_err(|e| self.db_err("flushing the write-ahead log", &e))
    }

    /// Writes the memtables of the large families (job records, results,
    /// history events and their parts) that hold more than
    /// [`SETTLE_BYTES`] to table files, and waits for it. The facade calls
    /// it when a run's loop ends and once its result is stored: a large
    /// run's last job records, or its result's last parts (up to two
    /// memtables of each), would otherwise sit in memory beside the next
    /// large write. What they hold is safe either way (in the write-ahead
    /// log); this only frees memory.
    pub fn settle(&self) -> Result<()> {
        let mut full = Vec::new();
        for name in [
            JobRecords::NAME,
            Results::NAME,
            ResultParts::NAME,
            HistoryEvents::NAME,
            EventParts::NAME,
        ] {
            let cf = self.handle(name)?;
            let held = self
                .db
                .property_int_value_cf(cf, "rocksdb.cur-size-all-mem-tables")
                .map_err(|e| self.db_err(format!("reading the memtable size of `{name}`"), &e))?
                .unwrap_or(0);
            if held > SETTLE_BYTES {
                full.push(cf);
            }
        }
        if full.is_empty() {
            return Ok(());
        }
        let mut fo = rocksdb::FlushOptions::default();
        fo.set_wait(true);
        self.db
            .flush_cfs_opt(&full, &fo)
            .map_err(|e| self.db_err("flushing the memtables", &e))
    }

    /// The database directory given to [`open`](Self::open).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options given to [`open`](Self::open).
    pub fn options(&self) -> &CacheOptions {
        &self.options
    }

    fn handle(&self, name: &str) -> Result<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| Error::Db {
            dir: self.dir.clone(),
            op: format!("opening column family `{name}`"),
            message: "missing".into(),
        })
    }

    fn db_err(&self, op: impl Into<String>, e: &rocksdb::Error) -> Error {
        Error::Db {
            dir: self.dir.clone(),
            op: op.into(),
            message: e.to_string(),
        }
    }

    /// Refuses a database of another format version, or one holding data
    /// but no version; writes the version into a new one.
    fn check_version(&self, has_foreign_families: bool) -> Result<()> {
        let found = match self.get::<Meta>(&MetaKey::FormatVersion)? {
            Some(Ok(v)) => VersionFound::Version(v),
            Some(Err(_)) => VersionFound::Missing,
            None => {
                let empty = !has_foreign_families
                    && self.is_empty::<Results>()?
                    && self.is_empty::<Index>()?
                    && self.is_empty::<HistoryMeta>()?
                    && self.is_empty::<HistoryEvents>()?;
                if !empty {
                    return Err(self.refuse(VersionFound::Missing));
                }
                let mut b = self.batch();
                b.put::<Meta>(&MetaKey::FormatVersion, &FORMAT_VERSION)?;
                return b.commit("writing the format version");
            }
        };
        match found {
            VersionFound::Version(v) if v == FORMAT_VERSION => Ok(()),
            VersionFound::Version(v) if UPGRADABLE_FROM.contains(&v) => {
                // The families version 3 added were created empty at
                // open; version 4 moved job records into chunks.
                if v == 3 {
                    let moved = self.upgrade_job_records_from_v3()?;
                    tracing::info!(dir = %self.dir.display(), records = moved,
                        "job records moved into chunks");
                }
                let mut b = self.batch();
                b.put::<Meta>(&MetaKey::FormatVersion, &FORMAT_VERSION)?;
                b.commit(format!(
                    "upgrading the format version from {v} to {FORMAT_VERSION}"
                ))?;
                tracing::info!(dir = %self.dir.display(), from = v, to = FORMAT_VERSION,
                    "cache format upgraded in place");
                Ok(())
            }
            found => Err(self.refuse(found)),
        }
    }

    fn refuse(&self, found: VersionFound) -> Error {
        Error::FormatVersion {
            dir: self.dir.clone(),
            found,
            expected: FORMAT_VERSION,
        }
    }

    pub(crate) fn history_lock(&self, history_key: &str) -> Arc<Mutex<()>> {
        let mut m = lock(&self.history_locks);
        Arc::clone(m.entry(history_key.to_string()).or_default())
    }
}
