//! The binary encoding of job records. Records are many and small (one
//! per job), so they skip the MessagePack envelope, and the records of one
//! stored batch go in one write as one or a few values, chunks (one
//! database write per batch, not one per job):
//!
//! ```text
//! chunk:  "RC" (2 bytes)  chunk version (1 byte: 2; 1 is still read)
//!         entry count (u32 LE)
//!         then per entry: the job (16 bytes: the second half of its job
//!         key; the first half, the job set, is in the chunk's key)
//!         record length (LEB128; a u32 LE in version 1)  record
//! record: status (1 byte: 2 done with float cells only, 3 done, 4 failed)
//!         duration in ns (LEB128)
//!         2: cell count (LEB128), then each cell an f64 LE (8 bytes)
//!         3: cell count (LEB128), then per cell a tag (0: f64 LE, 8 bytes;
//!            1: text, 2: a media file's path, 3: a blob's name, each a
//!            LEB128 length then UTF-8 bytes)
//!         4: kind (1 byte: 0 error, 1 panic, 2 contract), message (LEB128
//!            length then UTF-8 bytes)
//! record version 1 (in chunks of either version; still read):
//!         "RJ" (2 bytes)  record version (1 byte, 1)  status (1 byte: 0 done, 1 failed)
//!         duration in ns (u64 LE)
//!         done:   cell count (u32 LE), then per cell a tag (as above, each
//!                 length a u32 LE)
//!         failed: kind (1 byte), message (u32 LE length then UTF-8 bytes)
//! ```
//!
//! A record's first byte tells its version: "R" starts version 1, a
//! status byte version 2. Version 2 took a job's record of six floats from
//! 90 bytes to 69: every byte is copied three times on its way into the
//! database (its write batch, its log, its memtable).
//!
//! Nothing may follow a record or the last entry of a chunk. A job recorded
//! again (a failure rerun, a run without reuse) gets a new entry in a later
//! chunk: the entry in the chunk with the highest number wins. Golden tests
//! pin the bytes.

use collector_core::{
    FailureKind, JobCellRef, JobRecord, OutcomeRef, RecordedCell, RecordedOutcome,
};

use super::envelope::{Corrupt, corrupt};

/// The magic of a version-1 record.
const MAGIC_V1: &[u8; 2] = b"RJ";
const RECORD_VERSION_V1: u8 = 1;
const CHUNK_MAGIC: &[u8; 2] = b"RC";
/// The version of the chunks written.
const CHUNK_VERSION: u8 = 2;
/// The bytes of a chunk's header.
const CHUNK_HEADER: usize = 7;
/// Statuses of a version-1 record.
const DONE_V1: u8 = 0;
const FAILED_V1: u8 = 1;
/// Statuses of a version-2 record.
const DONE_FLOATS: u8 = 2;
const DONE: u8 = 3;
const FAILED: u8 = 4;
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

/// Appends `v` as a LEB128 varint.
fn put_varint(buf: &mut Vec<u8>, v: u64) {
    // Writing to a Vec cannot fail.
    let _ = leb128::write::unsigned(buf, v);
}

/// Writes `v` as a LEB128 varint at `at`, where one byte was left for it
/// (enough below 128); a longer varint moves the bytes after it up.
fn put_varint_at(buf: &mut Vec<u8>, at: usize, v: u64) {
    if v < 0x80 {
        buf[at] = v as u8;
        return;
    }
    let mut varint = Vec::with_capacity(10);
    put_varint(&mut varint, v);
    buf[at] = varint[0];
    buf.splice(at + 1..at + 1, varint[1..].iter().copied());
}

fn put_text(buf: &mut Vec<u8>, t: &str) {
    // A text longer than 4 GiB is cut at the limit (on a char boundary):
    // no cell of a real run is that long.
    let mut end = t.len().min(u32::MAX as usize);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    put_varint(buf, end as u64);
    buf.extend_from_slice(&t.as_bytes()[..end]);
}

/// Appends the record of a job that just ran to `buf`.
pub(crate) fn encode_job<'a>(
    buf: &mut Vec<u8>,
    duration_ns: u64,
    outcome: OutcomeRef<'_>,
    cells: impl Iterator<Item = JobCellRef<'a>> + Clone,
) {
    match outcome {
        OutcomeRef::Done => {
            // Float cells are written untagged; at the first other cell
            // the record is written again, every cell tagged.
            let start = buf.len();
            buf.push(DONE_FLOATS);
            put_varint(buf, duration_ns);
            let count_at = buf.len();
            buf.push(0);
            let mut n: u64 = 0;
            let mut floats = true;
            for c in cells.clone() {
                match c {
                    JobCellRef::F64(x) => buf.extend_from_slice(&x.to_le_bytes()),
                    _ => {
                        floats = false;
                        break;
                    }
                }
                n += 1;
            }
            if floats {
                put_varint_at(buf, count_at, n);
                return;
            }
            buf.truncate(start);
            buf.push(DONE);
            put_varint(buf, duration_ns);
            let count_at = buf.len();
            buf.push(0);
            n = 0;
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
                n += 1;
            }
            put_varint_at(buf, count_at, n);
        }
        OutcomeRef::Failed { kind, message } => {
            buf.push(FAILED);
            put_varint(buf, duration_ns);
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
        // A byte for the length, which fits a record under 128 bytes; a
        // longer record is moved up to make room for its length.
        let len_at = self.buf.len();
        self.buf.push(0);
        write(&mut self.buf);
        let len = self.buf.len() - len_at - 1;
        put_varint_at(&mut self.buf, len_at, len as u64);
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

    /// The chunk's size so far, in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// The entries added.
    #[cfg(test)]
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
    if version != 1 && version != CHUNK_VERSION {
        return Err(corrupt(format!(
            "job-record chunk version {version} (this build reads 1 and {CHUNK_VERSION})"
        )));
    }
    // Each entry takes at least 17 bytes.
    let n = r.count("the entry count", 17, "job records", "entries")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut job = [0; 16];
        job.copy_from_slice(r.take(16, "an entry's job")?);
        let len = match version {
            1 => r.u32("an entry's length")? as usize,
            _ => r.len("an entry's length")?,
        };
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
    /// A LEB128 varint.
    fn varint(&mut self, what: &str) -> Result<u64, Corrupt> {
        let mut rest = &self.bytes[self.at..];
        let before = rest.len();
        let v = leb128::read::unsigned(&mut rest).map_err(|e| {
            corrupt(format!(
                "job record: {what} is not a LEB128 number ({e}; {before} bytes left)"
            ))
        })?;
        self.at += before - rest.len();
        Ok(v)
    }
    /// A LEB128 length, of at most the bytes left.
    fn len(&mut self, what: &str) -> Result<usize, Corrupt> {
        let n = self.varint(what)?;
        let left = self.bytes.len() - self.at;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= left)
            .ok_or_else(|| {
                corrupt(format!(
                    "job record: {what} {n} runs past the end ({left} bytes left)"
                ))
            })
    }
    /// A LEB128 count (`what`) of `items` of at least `each` bytes, as
    /// [`Self::count`] checks it.
    fn varint_count(
        &mut self,
        what: &str,
        each: usize,
        record: &str,
        items: &str,
    ) -> Result<usize, Corrupt> {
        let n = self.varint(what)?;
        let left = self.bytes.len() - self.at;
        match usize::try_from(n) {
            Ok(n) if n <= left / each => Ok(n),
            _ => Err(corrupt(format!(
                "{record}: {n} {items} cannot fit in {left} bytes"
            ))),
        }
    }
    /// A text of a version-2 record: a LEB128 length, then UTF-8 bytes.
    fn text(&mut self, what: &str) -> Result<String, Corrupt> {
        let n = self.len(what)?;
        let b = self.take(n, what)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|e| corrupt(format!("job record: {what} is not UTF-8: {e}")))
    }
    /// A text of a version-1 record: a u32 LE length, then UTF-8 bytes.
    fn text_v1(&mut self, what: &str) -> Result<String, Corrupt> {
        let n = self.u32(what)? as usize;
        let b = self.take(n, what)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|e| corrupt(format!("job record: {what} is not UTF-8: {e}")))
    }
}

fn failure_kind(k: u8) -> Result<FailureKind, Corrupt> {
    match k {
        0 => Ok(FailureKind::Error),
        1 => Ok(FailureKind::Panic),
        2 => Ok(FailureKind::Contract),
        k => Err(corrupt(format!("job record: unknown failure kind {k}"))),
    }
}

/// Decodes a record written by [`encode_job`], of either version.
pub(crate) fn decode_job(bytes: &[u8]) -> Result<JobRecord, Corrupt> {
    let mut r = Reader { bytes, at: 0 };
    let (duration_ns, outcome) = match bytes.first() {
        Some(&b'R') => decode_v1(&mut r)?,
        Some(_) => {
            let status = r.u8("the status")?;
            let duration_ns = r.varint("the duration")?;
            let outcome = match status {
                DONE_FLOATS => {
                    let n = r.varint_count("the cell count", 8, "job record", "cells")?;
                    let mut cells = Vec::with_capacity(n);
                    for _ in 0..n {
                        cells.push(RecordedCell::F64(f64::from_le_bytes(
                            r.u64("a float cell")?.to_le_bytes(),
                        )));
                    }
                    RecordedOutcome::Done(cells)
                }
                DONE => {
                    // Each cell takes at least 2 bytes.
                    let n = r.varint_count("the cell count", 2, "job record", "cells")?;
                    let cells = (0..n)
                        .map(|_| tagged_cell(&mut r, Reader::text))
                        .collect::<Result<_, _>>()?;
                    RecordedOutcome::Done(cells)
                }
                FAILED => RecordedOutcome::Failed {
                    kind: failure_kind(r.u8("the failure kind")?)?,
                    message: r.text("the message")?,
                },
                s => return Err(corrupt(format!("job record: unknown status {s}"))),
            };
            (duration_ns, outcome)
        }
        None => return Err(corrupt("job record: empty")),
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

/// A tagged cell; `text` reads a text as the record's version writes it.
fn tagged_cell<'a>(
    r: &mut Reader<'a>,
    text: impl Fn(&mut Reader<'a>, &str) -> Result<String, Corrupt>,
) -> Result<RecordedCell, Corrupt> {
    Ok(match r.u8("a cell tag")? {
        CELL_F64 => RecordedCell::F64(f64::from_le_bytes(r.u64("a float cell")?.to_le_bytes())),
        CELL_TEXT => RecordedCell::Text(text(r, "a text cell")?),
        CELL_MEDIA => RecordedCell::Media(text(r, "a media cell")?),
        CELL_BLOB => RecordedCell::Blob(text(r, "a blob cell")?),
        t => return Err(corrupt(format!("job record: unknown cell tag {t}"))),
    })
}

/// The duration and outcome of a version-1 record.
fn decode_v1(r: &mut Reader<'_>) -> Result<(u64, RecordedOutcome), Corrupt> {
    if r.take(2, "the magic")? != MAGIC_V1 {
        return Err(corrupt("job record: bad magic"));
    }
    let version = r.u8("the version")?;
    if version != RECORD_VERSION_V1 {
        return Err(corrupt(format!(
            "job record version {version} (this build reads 1 and 2)"
        )));
    }
    let status = r.u8("the status")?;
    let duration_ns = r.u64("the duration")?;
    let outcome = match status {
        DONE_V1 => {
            // Each cell takes at least 5 bytes.
            let n = r.count("the cell count", 5, "job record", "cells")?;
            let cells = (0..n)
                .map(|_| tagged_cell(r, Reader::text_v1))
                .collect::<Result<_, _>>()?;
            RecordedOutcome::Done(cells)
        }
        FAILED_V1 => RecordedOutcome::Failed {
            kind: failure_kind(r.u8("the failure kind")?)?,
            message: r.text_v1("the message")?,
        },
        s => return Err(corrupt(format!("job record: unknown status {s}"))),
    };
    Ok((duration_ns, outcome))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use proptest::prelude::*;

    fn failed(ns: u64, kind: FailureKind, message: &str) -> JobRecord {
        JobRecord {
            duration_ns: ns,
            outcome: RecordedOutcome::Failed {
                kind,
                message: message.into(),
            },
        }
    }

    /// The record of the golden tests with a cell of each kind.
    fn mixed() -> JobRecord {
        JobRecord {
            duration_ns: 1000,
            outcome: RecordedOutcome::Done(vec![
                RecordedCell::F64(1.5),
                RecordedCell::Text("ab".into()),
                RecordedCell::Media("m".into()),
                RecordedCell::Blob("b".into()),
            ]),
        }
    }

    #[test]
    fn golden_records() {
        // Mixed cells: each tagged.
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
                3, 0xe8, 0x07, // done, duration 1000
                4,    // four cells
                0, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // 1.5
                1, 2, b'a', b'b', // text
                2, 1, b'm', // media
                3, 1, b'b', // blob
            ]
        );
        assert_eq!(decode_job(&b).unwrap(), mixed());
        // Float cells only: untagged.
        let mut f = Vec::new();
        encode_job(
            &mut f,
            7,
            OutcomeRef::Done,
            [JobCellRef::F64(1.5), JobCellRef::F64(-2.0)].into_iter(),
        );
        assert_eq!(
            f,
            [
                2, 7, 2, // done (floats), duration 7, two cells
                0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // 1.5
                0, 0, 0, 0, 0, 0, 0, 0xc0, // -2.0
            ]
        );
        assert_eq!(
            decode_job(&f).unwrap(),
            JobRecord {
                duration_ns: 7,
                outcome: RecordedOutcome::Done(vec![
                    RecordedCell::F64(1.5),
                    RecordedCell::F64(-2.0)
                ]),
            }
        );
        let mut x = Vec::new();
        encode_job(
            &mut x,
            7,
            OutcomeRef::Failed {
                kind: FailureKind::Panic,
                message: "x",
            },
            std::iter::empty(),
        );
        assert_eq!(x, [4, 7, 1, 1, b'x']);
        assert_eq!(decode_job(&x).unwrap(), failed(7, FailureKind::Panic, "x"));
    }

    #[test]
    fn version_1_records_still_read() {
        let done = [
            b'R', b'J', 1, 0, 0xe8, 3, 0, 0, 0, 0, 0, 0, // duration 1000
            4, 0, 0, 0, // four cells
            0, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // 1.5
            1, 2, 0, 0, 0, b'a', b'b', // text
            2, 1, 0, 0, 0, b'm', // media
            3, 1, 0, 0, 0, b'b', // blob
        ];
        assert_eq!(decode_job(&done).unwrap(), mixed());
        let fail = [
            b'R', b'J', 1, 1, 7, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, b'x',
        ];
        assert_eq!(
            decode_job(&fail).unwrap(),
            failed(7, FailureKind::Panic, "x")
        );
        for n in 0..done.len() {
            assert!(decode_job(&done[..n]).is_err(), "{n} bytes");
        }
        // A version-1 chunk: u32 lengths.
        let mut chunk = vec![b'R', b'C', 1, 1, 0, 0, 0];
        chunk.extend_from_slice(&[5; 16]);
        chunk.extend_from_slice(&(fail.len() as u32).to_le_bytes());
        chunk.extend_from_slice(&fail);
        let JobChunk(entries) = decode_chunk(&chunk).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, [5; 16]);
        assert_eq!(
            entries[0].1.as_ref().unwrap(),
            &failed(7, FailureKind::Panic, "x")
        );
    }

    #[test]
    fn truncated_padded_and_overflowing_records_are_corrupt() {
        let mut b = Vec::new();
        encode_job(
            &mut b,
            300,
            OutcomeRef::Done,
            [JobCellRef::Text("hello"), JobCellRef::F64(1.0)].into_iter(),
        );
        for n in 0..b.len() {
            assert!(decode_job(&b[..n]).is_err(), "{n} bytes");
        }
        let mut padded = b.clone();
        padded.push(0);
        assert!(decode_job(&padded).is_err());
        // A huge cell count does not allocate.
        for status in [DONE, DONE_FLOATS] {
            let huge = [status, 1, 0xff, 0xff, 0xff, 0xff, 0x0f];
            assert!(decode_job(&huge).is_err());
        }
        // A varint longer than a u64, a text longer than what is left, an
        // unknown status, tag or kind.
        let mut long = vec![DONE_FLOATS];
        long.extend_from_slice(&[0xff; 11]);
        assert!(decode_job(&long).is_err());
        assert!(decode_job(&[DONE, 1, 1, CELL_TEXT, 9, b'a']).is_err());
        assert!(decode_job(&[9, 1]).is_err());
        assert!(decode_job(&[DONE, 1, 1, 7]).is_err());
        assert!(decode_job(&[FAILED, 1, 5, 0]).is_err());
        assert!(decode_job(&[]).is_err());
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
        let mut golden = vec![b'R', b'C', 2, 2, 0, 0, 0];
        golden.extend_from_slice(&[1; 16]);
        golden.extend_from_slice(&[5, 4, 7, 1, 1, b'x']);
        golden.extend_from_slice(&[2; 16]);
        golden.extend_from_slice(&[2, b'R', b'J']);
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
    fn a_record_of_128_bytes_or_more_takes_a_longer_length() {
        let message = "m".repeat(200);
        let mut c = ChunkWriter::with_capacity(0);
        c.push(&[1; 16], |b| {
            encode_job(
                b,
                1,
                OutcomeRef::Failed {
                    kind: FailureKind::Error,
                    message: &message,
                },
                std::iter::empty(),
            );
        });
        c.push(&[2; 16], |b| {
            encode_job(b, 2, OutcomeRef::Done, [JobCellRef::F64(3.0)].into_iter());
        });
        let bytes = c.finish();
        // 1 status + 1 duration + 1 kind + 2 length + 200 = 205 bytes:
        // LEB128 0xcd 0x01.
        assert_eq!(&bytes[7 + 16..7 + 18], &[0xcd, 0x01]);
        let JobChunk(entries) = decode_chunk(&bytes).unwrap();
        assert_eq!(
            entries[0].1.as_ref().unwrap(),
            &failed(1, FailureKind::Error, &message)
        );
        assert_eq!(entries[1].0, [2; 16]);
        assert!(entries[1].1.as_ref().is_ok_and(|r| r.duration_ns == 2));
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
        version[2] = 3;
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
                    ".{0,200}".prop_map(RecordedCell::Media),
                    ".{0,12}".prop_map(RecordedCell::Blob),
                ],
                0..8),
            fail in proptest::option::of(".{0,300}"),
            junk in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let record = match fail {
                Some(m) => failed(ns, FailureKind::Contract, &m),
                None => JobRecord { duration_ns: ns, outcome: RecordedOutcome::Done(cells.clone()) },
            };
            let mut b = Vec::new();
            encode_record(&mut b, &record);
            let back = decode_job(&b).unwrap();
            prop_assert_eq!(back.duration_ns, ns);
            match (&back.outcome, &record.outcome) {
                (RecordedOutcome::Done(got), RecordedOutcome::Done(want)) => {
                    prop_assert_eq!(got.len(), want.len());
                    for (g, c) in got.iter().zip(want) {
                        match (g, c) {
                            (RecordedCell::F64(a), RecordedCell::F64(b)) => prop_assert_eq!(a.to_bits(), b.to_bits()),
                            (a, b) => prop_assert_eq!(a, b),
                        }
                    }
                }
                (a, b) => prop_assert_eq!(a, b),
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
