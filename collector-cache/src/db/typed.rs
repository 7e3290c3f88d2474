//! Typed access to the database: reads, scans and write batches that take
//! a [`Family`] as a type parameter, so keys and values are always built
//! and read by the schema. RocksDB's errors become [`Error::Db`](crate::Error::Db) here.

use std::borrow::Cow;
use std::marker::PhantomData;

use rocksdb::{ColumnFamily, Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions};

use super::CacheDb;
use crate::codec::Corrupt;
use crate::error::Result;
use crate::schema::{Family, Prefixed, Sealed, StoredAsWritten};

/// A stored value: decoded, or why it could not be.
pub(crate) type Decoded<T> = std::result::Result<T, Corrupt>;

/// A key and value as RocksDB's iterators give them.
type RawItem = std::result::Result<RawPair, rocksdb::Error>;

/// A key and value as stored.
pub(crate) type RawPair = (Box<[u8]>, Box<[u8]>);

/// One record met by a scan of family `F`.
pub(crate) struct Scanned<F: Family> {
    /// Its key as stored.
    pub(crate) key: ScannedKey<F>,
    /// Its value.
    pub(crate) value: Decoded<F::Value>,
}

/// A key as stored, met by a scan (kept as bytes: a corrupt record is
/// deleted by the key it was found under, parsable or not).
pub(crate) struct ScannedKey<F> {
    bytes: Box<[u8]>,
    family: PhantomData<fn() -> F>,
}

impl<F: Family> ScannedKey<F> {
    /// The key, when the bytes are one of `F`'s.
    pub(crate) fn parse(&self) -> Option<<F::Key as ToOwned>::Owned> {
        F::parse_key(&self.bytes)
    }

    /// The key as text, for messages.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

/// The database as it was when the view was taken: reads through it see
/// every write committed before, and none after (a value and the records
/// it names are read from one state).
pub(crate) struct View<'db>(rocksdb::Snapshot<'db>);

impl View<'_> {
    fn read_options(&self) -> ReadOptions {
        let mut o = ReadOptions::default();
        o.set_snapshot(&self.0);
        o
    }
}

impl CacheDb {
    fn family<F: Family>(&self) -> Result<&ColumnFamily> {
        self.handle(F::NAME)
    }

    /// A consistent view of the database, for reads that must agree.
    pub(crate) fn view(&self) -> View<'_> {
        View(self.db.snapshot())
    }

    /// Calls `read` with the stored bytes of `key` (pinned, not copied):
    /// `None` when absent. For readers that decode in place (a history
    /// load); everything else goes through [`get`](Self::get).
    pub(crate) fn get_raw<F: Family, T>(
        &self,
        key: &F::Key,
        read: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>> {
        self.get_raw_in::<F, T>(None, key, read)
    }

    /// [`get_raw`](Self::get_raw), in `view` when one is given.
    fn get_raw_in<F: Family, T>(
        &self,
        view: Option<&View<'_>>,
        key: &F::Key,
        read: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>> {
        let opts = view.map_or_else(ReadOptions::default, View::read_options);
        let v = self
            .db
            .get_pinned_cf_opt(self.family::<F>()?, F::key_bytes(key), &opts)
            .map_err(|e| self.db_err(format!("reading {}", F::describe(key)), &e))?;
        Ok(v.map(|v| read(&v)))
    }

    /// [`get`](Self::get), in `view`.
    pub(crate) fn get_in<F: Family>(
        &self,
        view: &View<'_>,
        key: &F::Key,
    ) -> Result<Option<Decoded<F::Value>>> {
        self.get_raw_in::<F, _>(Some(view), key, F::decode)
    }

    /// The value stored under `key`: `None` when absent.
    pub(crate) fn get<F: Family>(&self, key: &F::Key) -> Result<Option<Decoded<F::Value>>> {
        self.get_raw::<F, _>(key, F::decode)
    }

    /// Whether a value is stored under `key`.
    pub(crate) fn contains<F: Family>(&self, key: &F::Key) -> Result<bool> {
        Ok(self.get_raw::<F, _>(key, |_| ())?.is_some())
    }

    /// Whether the family holds no record (a record that cannot be read
    /// counts as one).
    pub(crate) fn is_empty<F: Family>(&self) -> Result<bool> {
        let h = self.family::<F>()?;
        Ok(self.db.iterator_cf(h, IteratorMode::Start).next().is_none())
    }

    /// Every record of the family named `name` as stored, undecoded, in
    /// key order (for the seed corpus of the fuzz targets).
    pub(crate) fn raw_records(&self, name: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let h = self.handle(name)?;
        self.db
            .iterator_cf(h, IteratorMode::Start)
            .map(|item| {
                item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                    .map_err(|e| self.db_err(format!("scanning `{name}`"), &e))
            })
            .collect()
    }

    /// Every record of the family, in key order, each decoded as it is
    /// reached.
    pub(crate) fn scan<F: Family>(&self) -> Result<impl Iterator<Item = Result<Scanned<F>>> + '_> {
        let h = self.family::<F>()?;
        Ok(self
            .db
            .iterator_cf(h, IteratorMode::Start)
            .map(move |item| self.scanned::<F>(item)))
    }

    /// The stored items of the family under `prefix`, in key order (in
    /// `view` when one is given).
    fn prefix_items<F: Prefixed>(
        &self,
        view: Option<&View<'_>>,
        prefix: &F::Prefix,
    ) -> Result<impl Iterator<Item = RawItem> + '_> {
        let h = self.family::<F>()?;
        let (start, end) = F::prefix_range(prefix);
        let opts = view.map_or_else(ReadOptions::default, View::read_options);
        Ok(self
            .db
            .iterator_cf_opt(h, opts, IteratorMode::From(&start, Direction::Forward))
            .take_while(move |item| item.as_ref().map_or(true, |(k, _)| **k < *end)))
    }

    /// Every record of the family under `prefix`, in key order.
    pub(crate) fn scan_prefix<F: Prefixed>(
        &self,
        prefix: &F::Prefix,
    ) -> Result<impl Iterator<Item = Result<Scanned<F>>> + '_> {
        Ok(self
            .prefix_items::<F>(None, prefix)?
            .map(move |item| self.scanned::<F>(item)))
    }

    /// Every record of the family, in key order, as stored (for an
    /// upgrade that reads an older layout).
    pub(crate) fn scan_raw<F: Family>(&self) -> Result<impl Iterator<Item = Result<RawPair>> + '_> {
        let h = self.family::<F>()?;
        Ok(self
            .db
            .iterator_cf(h, IteratorMode::Start)
            .map(move |item| item.map_err(|e| self.db_err(format!("scanning `{}`", F::NAME), &e))))
    }

    /// Every record of the family under `prefix`, in key order, as
    /// stored (for readers that decode part of a value).
    pub(crate) fn scan_raw_prefix<F: Prefixed>(
        &self,
        prefix: &F::Prefix,
    ) -> Result<impl Iterator<Item = Result<RawPair>> + '_> {
        self.scan_raw_prefix_in::<F>(None, prefix)
    }

    /// [`scan_raw_prefix`](Self::scan_raw_prefix), in `view` when one is
    /// given.
    pub(crate) fn scan_raw_prefix_in<'a, F: Prefixed>(
        &'a self,
        view: Option<&View<'_>>,
        prefix: &F::Prefix,
    ) -> Result<impl Iterator<Item = Result<RawPair>> + 'a> {
        Ok(self
            .prefix_items::<F>(view, prefix)?
            .map(move |item| item.map_err(|e| self.db_err(format!("scanning `{}`", F::NAME), &e))))
    }

    fn scanned<F: Family>(&self, item: RawItem) -> Result<Scanned<F>> {
        let (k, v) = item.map_err(|e| self.db_err(format!("scanning `{}`", F::NAME), &e))?;
        Ok(Scanned {
            value: F::decode(&v),
            key: ScannedKey {
                bytes: k,
                family: PhantomData,
            },
        })
    }

    /// An empty write batch.
    pub(crate) fn batch(&self) -> Batch<'_> {
        Batch {
            db: self,
            inner: WriteBatch::default(),
        }
    }

    /// An empty write batch with room for `bytes` of values up front:
    /// growing a batch would copy a large value again.
    pub(crate) fn batch_with_room(&self, bytes: u64) -> Batch<'_> {
        Batch {
            db: self,
            inner: room_for(bytes),
        }
    }

    /// An empty write batch in the room made by [`touched_room_for`].
    pub(crate) fn batch_in(&self, room: Room) -> Batch<'_> {
        Batch {
            db: self,
            inner: room.0,
        }
    }
}

/// An empty write batch with room for `bytes` of values, its memory
/// touched: a large batch's fresh pages are otherwise faulted in one by one
/// as values are copied in, on the writing thread (a third of the time of a
/// batch of job records). Made on an idle thread, it saves that thread the
/// faults.
pub(crate) fn touched_room_for(bytes: u64) -> Room {
    static ZEROS: [u8; 1 << 16] = [0; 1 << 16];
    let mut b = room_for(bytes);
    // Values of zeros up to the room made (each put adds a few bytes of
    // its own: stopping short of the room, the batch never grows).
    let room = usize::try_from(bytes).unwrap_or(usize::MAX);
    loop {
        let left = room.saturating_sub(b.size_in_bytes() + 16);
        if left == 0 {
            break;
        }
        b.put(b"", &ZEROS[..left.min(ZEROS.len())]);
    }
    // Clearing keeps the memory.
    b.clear();
    Room(b)
}

/// An empty write batch whose memory is touched already.
pub(crate) struct Room(WriteBatch);

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Room")
    }
}

/// An empty write batch with room for `bytes` of values.
fn room_for(bytes: u64) -> WriteBatch {
    let room = usize::try_from(bytes).unwrap_or(usize::MAX);
    WriteBatch::with_capacity_bytes(room.saturating_add(4096))
}

/// Writes that commit together, or not at all.
pub(crate) struct Batch<'db> {
    db: &'db CacheDb,
    inner: WriteBatch,
}

impl Batch<'_> {
    /// Stores `value` under `key`; returns its encoded size in bytes.
    pub(crate) fn put<F: Family>(&mut self, key: &F::Key, value: &F::Write) -> Result<u64> {
        let sealed = Sealed::<F>::new(key, value)?;
        self.put_sealed(key, &sealed)?;
        Ok(sealed.len())
    }

    /// Stores `value` of a family whose values are stored as written,
    /// straight from the caller's bytes (no copy before RocksDB's own).
    /// Returns the stored size.
    pub(crate) fn put_as_written<F: StoredAsWritten>(
        &mut self,
        key: &F::Key,
        value: &[u8],
    ) -> Result<u64> {
        let h = self.db.family::<F>()?;
        self.inner.put_cf(h, F::key_bytes(key), value);
        Ok(value.len() as u64)
    }

    /// Stores a value encoded already.
    pub(crate) fn put_sealed<F: Family>(&mut self, key: &F::Key, value: &Sealed<F>) -> Result<()> {
        let h = self.db.family::<F>()?;
        self.inner.put_cf(h, F::key_bytes(key), value.as_bytes());
        Ok(())
    }

    /// Deletes the value under `key`.
    pub(crate) fn delete<F: Family>(&mut self, key: &F::Key) -> Result<()> {
        let h = self.db.family::<F>()?;
        self.inner.delete_cf(h, F::key_bytes(key));
        Ok(())
    }

    /// Deletes the record stored under the key bytes `key` (a key of an
    /// older layout, met by an upgrade).
    pub(crate) fn delete_raw<F: Family>(&mut self, key: &[u8]) -> Result<()> {
        let h = self.db.family::<F>()?;
        self.inner.delete_cf(h, key);
        Ok(())
    }

    /// Deletes a record met by a scan.
    pub(crate) fn delete_scanned<F: Family>(&mut self, key: &ScannedKey<F>) -> Result<()> {
        let h = self.db.family::<F>()?;
        self.inner.delete_cf(h, &key.bytes);
        Ok(())
    }

    /// Deletes every record from `from` up to, not including, `to`.
    pub(crate) fn delete_range<F: Family>(&mut self, from: &F::Key, to: &F::Key) -> Result<()> {
        let h = self.db.family::<F>()?;
        self.inner
            .delete_range_cf(h, F::key_bytes(from), F::key_bytes(to));
        Ok(())
    }

    /// Deletes every record whose key is in the half-open range `range`
    /// (as a family's own range function gives it).
    pub(crate) fn delete_key_range<F: Family>(&mut self, range: (Vec<u8>, Vec<u8>)) -> Result<()> {
        let h = self.db.family::<F>()?;
        self.inner.delete_range_cf(h, range.0, range.1);
        Ok(())
    }

    /// Deletes every record under `prefix`.
    pub(crate) fn delete_prefix<F: Prefixed>(&mut self, prefix: &F::Prefix) -> Result<()> {
        let h = self.db.family::<F>()?;
        let (start, end) = F::prefix_range(prefix);
        self.inner.delete_range_cf(h, start, end);
        Ok(())
    }

    /// Writes the batch (through the write-ahead log; synced when the
    /// options ask for it). `op` says what it does, for the error.
    pub(crate) fn commit(self, op: impl Into<String>) -> Result<()> {
        let db = self.db;
        let mut wo = WriteOptions::default();
        wo.set_sync(db.options.sync_writes);
        db.db
            .write_opt(self.inner, &wo)
            .map_err(|e| db.db_err(op, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touched_room_is_an_empty_batch() {
        for bytes in [0, 1, 100, 70_000, 3 << 20] {
            let Room(b) = touched_room_for(bytes);
            assert_eq!(b.len(), 0, "{bytes} bytes");
            // A batch's header alone: nothing left of the zeros.
            assert_eq!(b.size_in_bytes(), WriteBatch::default().size_in_bytes());
        }
    }
}
