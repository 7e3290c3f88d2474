//! The binary encoding of job records. Records are many and small (one
//! per job), so they skip the MessagePack envelope, and the records of one
//! stored batch go in one value, a chunk (one database write per batch,
//! not one per job):
//!
//! ```text
//! chunk:  "RC" (2 bytes)  chunk version (1 byte, 1)  entry count (u32 LE)
//!         then per entry: the job (16 bytes: the second half of its job
//!         key; the first half, the job set, is in the chunk's key)
//!         record length (u32 LE)  record
//! record: "RJ" (2 bytes)  record version (1 byte, 1)  status (1 byte: 0 done, 1 failed)
//!         duration in ns (u64 LE)
//!         done:   cell count (u32 LE), then per cell a tag (0: f64 LE, 8 bytes;
//!                 1: text, 2: a media file's path, 3: a blob's name, each a
//!                 u32 LE length then UTF-8 bytes)
//!         failed: kind (1 byte: 0 error, 1 panic, 2 contract), message (u32 LE
//!                 length then UTF-8 bytes)
//! ```
//!
//! Nothing may follow a record or the last entry of a chunk. A job recorded
//! again (a failure rerun, a run without reuse) gets a new entry in a later
//! chunk: the entry in the chunk with the highest number wins. Golden tests
//! pin the bytes.

use collector_core::{
    FailureKind, JobCellRef, JobRecord, OutcomeRef, RecordedCell, RecordedOutcome,
};

use super::envelope::{Corrupt, corrupt};

const MAGIC: &[u8; 2] = b"RJ";
const RECORD_VERSION: u8 = 1;
const CHUNK_MAGIC: &[u8; 2] = b"RC";
const CHUNK_VERSION: u8 = 1;
/// The bytes of a chunk's header.
const CHUNK_HEADER: usize = 7;
const DONE: u8 = 0;
const FAILED: u8 = 1;
const CELL_F64: u8 = 0;
const CELL_TEXT: u8 = 1;
const CELL_MEDIA: u8 = 2;
const CELL_BLOB: u8 = 3;

fn kind_code(k: FailureKind) -> u8 {
    match k {
        FailureKind::Error => 0,
        FailureKind::Panic => 1,
        FailureKind::Contract => 2,
    }
}

fn put_text(buf: &mut Vec<u8>, t: &str) {
    // A text longer than 4 GiB is cut at the limit (on a char boundary):
    // no cell of a real run is that long.
    let mut end = t.len().min(u32::MAX as usize);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    buf.extend_from_slice(&(end as u32).to_le_bytes());
    buf.extend_from_slice(&t.as_bytes()[..end]);
}

/// Appends the record of a job that just ran to `buf`.
pub(crate) fn encode_job<'a>(
    buf: &mut Vec<u8>,
    duration_ns: u64,
    outcome: OutcomeRef<'_>,
    cells: impl Iterator<Item = JobCellRef<'a>>,
) {
    buf.extend_from_slice(MAGIC);
    buf.push(RECORD_VERSION);
    match outcome {
        OutcomeRef::Done => {
            buf.push(DONE);
            buf.extend_from_slice(&duration_ns.to_le_bytes());
            let count_at = buf.len();
            buf.extend_from_slice(&[0; 4]);
            let mut n: u32 = 0;
            for c in cells {
                match c {
                    JobCellRef::F64(x) => {
                        buf.push(CELL_F64);
                        buf.extend_from_slice(&x.to_le_bytes());
                    }
                    JobCellRef::Text(t) => {
                        buf.push(CELL_TEXT);
                        put_text(buf, t);
                    }
                    JobCellRef::Media(t) => {
                        buf.push(CELL_MEDIA);
                        put_text(buf, t);
                    }
                    JobCellRef::Blob(t) => {
                        buf.push(CELL_BLOB);
                        put_text(buf, t);
                    }
                }
                n = n.saturating_add(1);
            }
            buf[count_at..count_at + 4].copy_from_slice(&n.to_le_bytes());
        }
        OutcomeRef::Failed { kind, message } => {
            buf.push(FAILED);
            buf.extend_from_slice(&duration_ns.to_le_bytes());
            buf.push(kind_code(kind));
            put_text(buf, message);
        }
    }
}

/// Appends the encoding of a decoded record to `buf` (an import writes
/// the same bytes as the run that recorded it).
pub(crate) fn encode_record(buf: &mut Vec<u8>, r: &JobRecord) {
    match &r.outcome {
        RecordedOutcome::Done(cells) => encode_job(
            buf,
            r.duration_ns,
            OutcomeRef::Done,
            cells.iter().map(RecordedCell::as_ref),
        ),
        RecordedOutcome::Failed { kind, message } => encode_job(
            buf,
            r.duration_ns,
            OutcomeRef::Failed {
                kind: *kind,
                message,
            },
            std::iter::empty(),
        ),
    }
}

/// The records of one write, as one chunk.
pub(crate) struct ChunkWriter {
    buf: Vec<u8>,
    count: u32,
    /// Where the last entry starts.
    last_at: usize,
}

impl ChunkWriter {
    /// An empty chunk with room for `bytes` of entries.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(CHUNK_HEADER.saturating_add(bytes));
        buf.extend_from_slice(CHUNK_MAGIC);
        buf.push(CHUNK_VERSION);
        buf.extend_from_slice(&[0; 4]);
        ChunkWriter {
            buf,
            count: 0,
            last_at: CHUNK_HEADER,
        }
    }

    /// Adds the entry of `job` (the second half of its key); `write`
    /// appends its record to the buffer it is given.
    pub(crate) fn push(&mut self, job: &[u8; 16], write: impl FnOnce(&mut Vec<u8>)) {
        self.last_at = self.buf.len();
        self.buf.extend_from_slice(job);
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        write(&mut self.buf);
        // A record is far under 4 GiB: the sweep's limits bound its cells.
        let len = u32::try_from(self.buf.len() - len_at - 4).unwrap_or(u32::MAX);
        self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        self.count = self.count.saturating_add(1);
    }

    /// Room for `n` more entries the size of the last one added.
    pub(crate) fn reserve_like_last(&mut self, n: usize) {
        if self.count == 0 {
            return;
        }
        let last = self.buf.len() - self.last_at;
        self.buf.reserve(last.saturating_mul(n));
    }

    /// The entries added.
    pub(crate) fn len(&self) -> u32 {
        self.count
    }

    /// The chunk's bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf[3..7].copy_from_slice(&self.count.to_le_bytes());
        self.buf
    }
}

/// One entry of a chunk: its job and its record's bytes.
pub(crate) type ChunkEntry<'a> = ([u8; 16], &'a [u8]);

/// The entries of a chunk, in order: each job (the second half of its
/// key) with its record's bytes. `Err` when the chunk's framing is
/// corrupt: then none of its entries can be trusted.
pub(crate) fn chunk_entries(bytes: &[u8]) -> Result<Vec<ChunkEntry<'_>>, Corrupt> {
    Ok(chunk_spans(bytes)?
        .into_iter()
        .map(|(job, span)| (job, &bytes[span]))
        .collect())
}

/// One entry of a chunk: its job and where its record's bytes lie in the
/// chunk.
pub(crate) type ChunkSpan = ([u8; 16], std::ops::Range<usize>);

/// The entries of a chunk, in order, as [`chunk_entries`] reads them,
/// each record given by its place in `bytes` (for a reader that keeps the
/// chunk and decodes its records later).
pub(crate) fn chunk_spans(bytes: &[u8]) -> Result<Vec<ChunkSpan>, Corrupt> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(2, "the chunk's magic")? != CHUNK_MAGIC {
        return Err(corrupt("job records: bad chunk magic"));
    }
    let version = r.u8("the chunk version")?;
    if version != CHUNK_VERSION {
        return Err(corrupt(format!(
            "job-record chunk version {version} (this build reads {CHUNK_VERSION})"
        )));
    }
    // Each entry takes at least 20 bytes.
    let n = r.count("the entry count", 20, "job records", "entries")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut job = [0; 16];
        job.copy_from_slice(r.take(16, "an entry's job")?);
        let len = r.u32("an entry's length")? as usize;
        let start = r.at;
        r.take(len, "an entry's record")?;
        out.push((job, start..r.at));
    }
    if r.at != bytes.len() {
        return Err(corrupt(format!(
            "job records: {} bytes after the chunk's last entry",
            bytes.len() - r.at
        )));
    }
    Ok(out)
}

/// The job (second half of the key) of each entry of a chunk, without
/// decoding the records.
pub(crate) fn chunk_jobs(bytes: &[u8]) -> Result<Vec<[u8; 16]>, Corrupt> {
    Ok(chunk_entries(bytes)?.into_iter().map(|(j, _)| j).collect())
}

/// A decoded chunk: each entry's job (the second half of its key) and its
/// record, or why that record cannot be read.
pub(crate) fn decode_chunk(bytes: &[u8]) -> Result<JobChunk, Corrupt> {
    Ok(JobChunk(
        chunk_entries(bytes)?
            .into_iter()
            .map(|(job, rec)| (job, decode_job(rec)))
            .collect(),
    ))
}

/// The entries of one chunk of job records, decoded.
#[derive(Debug)]
pub(crate) struct JobChunk(pub(crate) Vec<DecodedEntry>);

/// One decoded entry of a chunk: its job and its record, or why it cannot
/// be read.
pub(crate) type DecodedEntry = ([u8; 16], Result<JobRecord, Corrupt>);

/// Reads the bytes of a record, never past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Corrupt> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "job record: {what} runs past the end ({} bytes)",
                    self.bytes.len()
                ))
            })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8, Corrupt> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32, Corrupt> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A u32 count (`what`) of `items` of at least `each` bytes: a count
    /// larger than the bytes left is corrupt (and must not allocate);
    /// `record` names what holds them.
    fn count(
        &mut self,
        what: &str,
        each: usize,
        record: &str,
        items: &str,
    ) -> Result<usize, Corrupt> {
        let n = self.u32(what)? as usize;
        let left = self.bytes.len() - self.at;
        if n > left / each {
            return Err(corrupt(format!(
                "{record}: {n} {items} cannot fit in {left} bytes"
            )));
        }
        Ok(n)
    }
    fn u64(&mut self, what: &str) -> Result<u64, Corrupt> {
        let mut a = [0; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(a))
    }
    fn text(&mut self, what: &str) -> Result<String, Corrupt> {
        let n = self.u32(what)? as usize;
        let b = self.take(n, what)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|e| corrupt(format!("job record: {what} is not UTF-8: {e}")))
    }
}

/// Decodes a record written by [`encode_job`].
pub(crate) fn decode_job(bytes: &[u8]) -> Result<JobRecord, Corrupt> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(2, "the magic")? != MAGIC {
        return Err(corrupt("job record: bad magic"));
    }
    let version = r.u8("the version")?;
    if version != RECORD_VERSION {
        return Err(corrupt(format!(
            "job record version {version} (this build reads {RECORD_VERSION})"
        )));
    }
    let status = r.u8("the status")?;
    let duration_ns = r.u64("the duration")?;
    let outcome = match status {
        DONE => {
            // Each cell takes at least 5 bytes.
            let n = r.count("the cell count", 5, "job record", "cells")?;
            let mut cells = Vec::with_capacity(n);
            for _ in 0..n {
                cells.push(match r.u8("a cell tag")? {
                    CELL_F64 => {
                        RecordedCell::F64(f64::from_le_bytes(r.u64("a float cell")?.to_le_bytes()))
                    }
                    CELL_TEXT => RecordedCell::Text(r.text("a text cell")?),
                    CELL_MEDIA => RecordedCell::Media(r.text("a media cell")?),
                    CELL_BLOB => RecordedCell::Blob(r.text("a blob cell")?),
                    t => return Err(corrupt(format!("job record: unknown cell tag {t}"))),
                });
            }
            RecordedOutcome::Done(cells)
        }
        FAILED => {
            let kind = match r.u8("the failure kind")? {
                0 => FailureKind::Error,
                1 => FailureKind::Panic,
                2 => FailureKind::Contract,
                k => return Err(corrupt(format!("job record: unknown failure kind {k}"))),
            };
            RecordedOutcome::Failed {
                kind,
                message: r.text("the message")?,
            }
        }
        s => return Err(corrupt(format!("job record: unknown status {s}"))),
    };
    if r.at != bytes.len() {
        return Err(corrupt(format!(
            "job record: {} bytes after its end",
            bytes.len() - r.at
        )));
    }
    Ok(JobRecord {
        duration_ns,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_done_and_failed_records() {
        let mut b = Vec::new();
        encode_job(
            &mut b,
            1000,
            OutcomeRef::Done,
            [
                JobCellRef::F64(1.5),
                JobCellRef::Text("ab"),
                JobCellRef::Media("m"),
                JobCellRef::Blob("b"),
            ]
            .into_iter(),
        );
        assert_eq!(
            b,
            [
                b'R', b'J', 1, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0, // duration 1000
                4, 0, 0, 0, // four cells
                0, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // 1.5
                1, 2, 0, 0, 0, b'a', b'b', // text
                2, 1, 0, 0, 0, b'm', // media
                3, 1, 0, 0, 0, b'b', // blob
            ]
        );
        let mut f = Vec::new();
        encode_job(
            &mut f,
            7,
            OutcomeRef::Failed {
                kind: FailureKind::Panic,
                message: "x",
            },
            std::iter::empty(),
        );
        assert_eq!(
            f,
            [
                b'R', b'J', 1, 1, 7, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, b'x'
            ]
        );
        assert_eq!(
            decode_job(&f).unwrap(),
            JobRecord {
                duration_ns: 7,
                outcome: RecordedOutcome::Failed {
                    kind: FailureKind::Panic,
                    message: "x".into()
                }
            }
        );
    }

    #[test]
    fn truncated_and_padded_records_are_corrupt() {
        let mut b = Vec::new();
        encode_job(
            &mut b,
            1,
            OutcomeRef::Done,
            [JobCellRef::Text("hello")].into_iter(),
        );
        for n in 0..b.len() {
            assert!(decode_job(&b[..n]).is_err(), "{n} bytes");
        }
        let mut padded = b.clone();
        padded.push(0);
        assert!(decode_job(&padded).is_err());
        // A huge cell count does not allocate.
        let mut huge = b[..12].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_job(&huge).is_err());
    }

    #[test]
    fn golden_chunk() {
        let mut c = ChunkWriter::with_capacity(0);
        c.push(&[1; 16], |b| {
            encode_job(
                b,
                7,
                OutcomeRef::Failed {
                    kind: FailureKind::Panic,
                    message: "x",
                },
                std::iter::empty(),
            );
        });
        c.push(&[2; 16], |b| b.extend_from_slice(b"RJ"));
        assert_eq!(c.len(), 2);
        let bytes = c.finish();
        let mut golden = vec![b'R', b'C', 1, 2, 0, 0, 0];
        golden.extend_from_slice(&[1; 16]);
        golden.extend_from_slice(&[18, 0, 0, 0]);
        golden.extend_from_slice(&[
            b'R', b'J', 1, 1, 7, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, b'x',
        ]);
        golden.extend_from_slice(&[2; 16]);
        golden.extend_from_slice(&[2, 0, 0, 0, b'R', b'J']);
        assert_eq!(bytes, golden);
        let JobChunk(entries) = decode_chunk(&bytes).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].0, [1; 16]);
        assert!(entries[0].1.as_ref().is_ok_and(|r| !r.is_done()));
        // The second record is corrupt alone: the chunk still reads.
        assert_eq!(entries[1].0, [2; 16]);
        assert!(entries[1].1.is_err());
        assert_eq!(chunk_jobs(&bytes).unwrap(), vec![[1; 16], [2; 16]]);
    }

    #[test]
    fn truncated_padded_and_oversized_chunks_are_corrupt() {
        let mut c = ChunkWriter::with_capacity(0);
        c.push(&[3; 16], |b| {
            encode_job(b, 1, OutcomeRef::Done, [JobCellRef::F64(2.0)].into_iter());
        });
        let bytes = c.finish();
        for n in 0..bytes.len() {
            assert!(decode_chunk(&bytes[..n]).is_err(), "{n} bytes");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(decode_chunk(&padded).is_err());
        // A huge entry count does not allocate.
        let mut huge = bytes.clone();
        huge[3..7].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_chunk(&huge).is_err());
        let mut version = bytes;
        version[2] = 2;
        assert!(decode_chunk(&version).is_err());
    }

    proptest! {
        #[test]
        fn records_round_trip(
            ns in any::<u64>(),
            cells in proptest::collection::vec(
                prop_oneof![
                    any::<f64>().prop_map(RecordedCell::F64),
                    ".{0,12}".prop_map(RecordedCell::Text),
                    ".{0,12}".prop_map(RecordedCell::Media),
                    ".{0,12}".prop_map(RecordedCell::Blob),
                ],
                0..8),
            junk in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut b = Vec::new();
            encode_job(&mut b, ns, OutcomeRef::Done, cells.iter().map(RecordedCell::as_ref));
            let back = decode_job(&b).unwrap();
            prop_assert_eq!(back.duration_ns, ns);
            match back.outcome {
                RecordedOutcome::Done(got) => {
                    prop_assert_eq!(got.len(), cells.len());
                    for (g, c) in got.iter().zip(&cells) {
                        match (g, c) {
                            (RecordedCell::F64(a), RecordedCell::F64(b)) => prop_assert_eq!(a.to_bits(), b.to_bits()),
                            (a, b) => prop_assert_eq!(a, b),
                        }
                    }
                }
                other => prop_assert!(false, "{other:?}"),
            }
            // In a chunk, between two other entries, it reads back the same.
            let mut c = ChunkWriter::with_capacity(0);
            c.push(&[0; 16], |buf| buf.extend_from_slice(&b));
            c.push(&[9; 16], |buf| buf.extend_from_slice(&b));
            c.push(&[0; 16], |buf| buf.extend_from_slice(&junk));
            let chunk = c.finish();
            let JobChunk(entries) = decode_chunk(&chunk).unwrap();
            prop_assert_eq!(entries.len(), 3);
            prop_assert_eq!(entries[1].0, [9; 16]);
            prop_assert!(entries[1].1.as_ref().is_ok_and(|r| r.duration_ns == ns));
            // Arbitrary bytes never panic.
            let _ = decode_job(&junk);
            let _ = decode_chunk(&junk);
        }
    }
}
