//! Large values written in parts: a value whose encoding is over
//! [`PART_BYTES`] is written as the encoder makes it, in parts of that
//! size, a write batch per part, before the batch that commits the small
//! record naming them. Written whole, a value was in memory three times
//! at once (the caller's, the write batch's copy, the memtable's); in
//! parts, a few parts at a time.
//!
//! Used by results (`results` + `result_parts`) and history events
//! (`history_events` + `event_parts`); each says how its parts are keyed
//! and what the first part's batch also does.

use crate::codec::Corrupt;
use crate::db::{Batch, CacheDb, Decoded, View};
use crate::error::{Error, Result};
use crate::schema::{Family, Prefixed, StoredAsWritten};

/// A value whose encoding is longer than this is stored in parts of this
/// many bytes (the last one shorter).
pub(crate) const PART_BYTES: usize = 4 << 20;

/// Whether a value of `len` encoded bytes is stored in parts.
pub(crate) fn in_parts(len: u64) -> bool {
    len > PART_BYTES as u64
}

/// Writes bytes in parts of family `F`, a write batch per part, as they
/// are written to it. `key(n)` is the key of part `n`; `first` adds what
/// the first part's batch also does (clearing what a cut-off write left
/// under the same keys).
pub(crate) struct PartWriter<'a, F: Family> {
    db: &'a CacheDb,
    /// What the parts are of, for errors.
    what: &'a str,
    key: &'a dyn Fn(u32) -> F::Key,
    first: &'a dyn Fn(&mut Batch<'_>) -> Result<()>,
    buf: Vec<u8>,
    written: u32,
    /// The database error that stopped the writing, kept whole.
    failed: Option<Error>,
}

impl<'a, F: StoredAsWritten> PartWriter<'a, F>
where
    F::Key: Sized,
{
    pub(crate) fn new(
        db: &'a CacheDb,
        what: &'a str,
        key: &'a dyn Fn(u32) -> F::Key,
        first: &'a dyn Fn(&mut Batch<'_>) -> Result<()>,
    ) -> Self {
        PartWriter {
            db,
            what,
            key,
            first,
            buf: Vec::with_capacity(PART_BYTES),
            written: 0,
            failed: None,
        }
    }

    /// Writes what `encode` writes to it, then the last part; returns the
    /// number of parts and of bytes. The error of a write of a part is
    /// returned as it is (not as the encoder's).
    pub(crate) fn write_all(
        mut self,
        encode: impl FnOnce(&mut Self) -> Result<u64>,
    ) -> Result<(u32, u64)> {
        let bytes = encode(&mut self).map_err(|e| self.failed.take().unwrap_or(e))?;
        self.commit_part()?;
        Ok((self.written, bytes))
    }

    /// Commits the bytes buffered as the next part.
    fn commit_part(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut b = self.db.batch_with_room(self.buf.len() as u64);
        if self.written == 0 {
            (self.first)(&mut b)?;
        }
        b.put_as_written::<F>(&(self.key)(self.written), &self.buf)?;
        b.commit(format!("storing part {} of {}", self.written, self.what))?;
        self.written += 1;
        self.buf.clear();
        Ok(())
    }
}

impl<F: StoredAsWritten> std::io::Write for PartWriter<'_, F>
where
    F::Key: Sized,
{
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let take = (PART_BYTES - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        if self.buf.len() == PART_BYTES
            && let Err(e) = self.commit_part()
        {
            let message = e.to_string();
            self.failed = Some(e);
            return Err(std::io::Error::other(message));
        }
        Ok(take)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CacheDb {
    /// The bytes of the `parts` parts under `prefix` (`bytes` of them, as
    /// their record says), joined, read in `view` when one is given;
    /// why they cannot be, when a part is missing or extra or a length is
    /// wrong. `part_of` gives a stored key's part number.
    pub(crate) fn join_parts<F: Prefixed>(
        &self,
        view: Option<&View<'_>>,
        prefix: &F::Prefix,
        parts: u32,
        bytes: u64,
        part_of: impl Fn(&[u8]) -> Option<u32>,
    ) -> Result<Decoded<Vec<u8>>> {
        let bad = |m: String| Ok(Err(Corrupt(format!("stored in parts: {m}"))));
        // The length is checked against what is read; reserved up front,
        // a large value is not copied again as it grows.
        let room = bytes.min(u64::from(parts) * PART_BYTES as u64);
        let mut out = Vec::new();
        if out
            .try_reserve_exact(usize::try_from(room).unwrap_or(usize::MAX))
            .is_err()
        {
            return bad(format!("cannot reserve {room} bytes"));
        }
        let mut next = 0u32;
        for item in self.scan_raw_prefix_in::<F>(view, prefix)? {
            let (k, v) = item?;
            if part_of(&k) != Some(next) {
                return bad(format!("part {next} of {parts} is missing"));
            }
            if out.len() as u64 + v.len() as u64 > bytes {
                return bad(format!("the parts hold more than {bytes} bytes"));
            }
            out.extend_from_slice(&v);
            next += 1;
        }
        if next != parts || out.len() as u64 != bytes {
            return bad(format!(
                "{next} parts of {} bytes, the record says {parts} of {bytes}",
                out.len()
            ));
        }
        Ok(Ok(out))
    }
}
