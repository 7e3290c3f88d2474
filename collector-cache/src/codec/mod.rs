//! Value encoding: MessagePack (rmp-serde, named fields) inside a
//! versioned envelope `{format, kind, payload}` ([`envelope`]), datasets
//! with their numeric arrays as raw little-endian bytes ([`dataset`]).
//!
//! Only [`crate::schema`] calls these: it pairs each column family with
//! its encoding and envelope kind, once.
//!
//! Every decode error is a [`Corrupt`] value; callers log it, remove the
//! entry and treat it as absent.

mod assemble;
mod dataset;
mod envelope;
mod jobs;

use std::borrow::Cow;

use collector_core::{Dataset, Dim, RunStats, SampleFailure, SweepResult};
use serde::{Deserialize, Serialize};

pub(crate) use self::assemble::{Assembler, ColumnPlan, EventMeta, event_attrs};
use self::dataset::{DatasetRec, DimRec, encoded_size_hint};
pub(crate) use self::envelope::{Corrupt, Encoded, seal};
use self::envelope::{envelope_header, payload, seal_sized, to_msgpack, unseal, unseal_any};
pub(crate) use self::jobs::{
    ChunkWriter, JobChunk, chunk_jobs, chunk_spans, decode_chunk, decode_job, encode_job,
    encode_record,
};
use crate::error::Result;

/// Envelope kind of a stored result.
pub(crate) const KIND_RESULT: &str = "result";
/// Envelope kind of one history event.
pub(crate) const KIND_EVENT: &str = "event";
/// Envelope kind of the record of a result stored in parts.
pub(crate) const KIND_RESULT_PARTS: &str = "result-parts";
/// Envelope kind of the record of a history event stored in parts.
pub(crate) const KIND_EVENT_PARTS: &str = "event-parts";
/// Envelope kind of an index entry.
pub(crate) const KIND_INDEX: &str = "index";
/// Envelope kind of the metadata of one history.
pub(crate) const KIND_HISTORY_META: &str = "history-meta";
/// Envelope kind of the lineage of one sweep name.
pub(crate) const KIND_LINEAGE: &str = "lineage";
/// Envelope kind of the summary of one job set.
pub(crate) const KIND_JOB_SET: &str = "job-set";
/// Envelope kind of a shard manifest.
pub(crate) const KIND_SHARD: &str = "shard";

// ---- results ----

#[derive(Serialize, Deserialize)]
struct ResultRec<'a> {
    complete: bool,
    #[serde(borrow)]
    dataset: DatasetRec<'a>,
    failures: Cow<'a, [SampleFailure]>,
    stats: RunStats,
}

/// A result read back from the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResult {
    /// The dataset (reference cells are -1).
    pub dataset: Dataset,
    /// The failed jobs of the run that stored it.
    pub failures: Vec<SampleFailure>,
    /// The counters of the run that stored it.
    pub stats: RunStats,
    /// Whether every job was attempted and none failed. An incomplete
    /// result is not a cache hit: the run must be redone.
    pub complete: bool,
}

/// Encodes a whole result (dataset, failures, counters, completeness) in
/// its envelope, in one buffer sized for it up front.
pub(crate) fn encode_result(result: &SweepResult) -> Result<Encoded> {
    seal_sized(
        KIND_RESULT,
        &ResultRec::encode(result),
        result_size_hint(result),
    )
}

/// About how many bytes [`encode_result`] gives (numeric data exactly).
pub(crate) fn result_size_hint(result: &SweepResult) -> usize {
    encoded_size_hint(&result.dataset).saturating_add(result.failures.len().saturating_mul(256))
}

/// About how many bytes [`encode_event`] gives (numeric data exactly).
pub(crate) fn event_size_hint(event: &Dataset) -> usize {
    encoded_size_hint(event)
}

impl<'a> ResultRec<'a> {
    fn encode(result: &'a SweepResult) -> Self {
        ResultRec {
            complete: result.is_complete(),
            dataset: DatasetRec::encode(&result.dataset),
            failures: Cow::Borrowed(&result.failures),
            stats: result.stats,
        }
    }

    fn decode(self) -> Result<StoredResult, Corrupt> {
        Ok(StoredResult {
            dataset: self.dataset.decode()?,
            failures: self.failures.into_owned(),
            stats: self.stats,
            complete: self.complete,
        })
    }
}

/// Counts the bytes written to it, and keeps none.
#[derive(Default)]
struct Counter(u64);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The envelope header of `payload` sealed in an envelope of `kind`, and
/// the payload's length: counted by encoding it into nothing (its numeric
/// arrays are counted, not copied).
fn sealed_header<T: Serialize>(kind: &str, payload: &T) -> Result<(Vec<u8>, u64)> {
    let mut n = Counter::default();
    rmp_serde::encode::write_named(&mut n, payload).map_err(|e| encode_err(kind, e))?;
    let len = u32::try_from(n.0).map_err(|_| {
        encode_err(
            kind,
            format!(
                "{} bytes is over the 4 GiB a MessagePack value can hold",
                n.0
            ),
        )
    })?;
    Ok((envelope_header(kind, len), n.0))
}

fn encode_err(kind: &str, message: impl std::fmt::Display) -> crate::error::Error {
    crate::error::Error::Encode {
        what: kind.to_string(),
        message: message.to_string(),
    }
}

/// The length of `payload` sealed in an envelope of `kind`, counted
/// without building it.
fn sealed_len<T: Serialize>(kind: &str, payload: &T) -> Result<u64> {
    let (header, len) = sealed_header(kind, payload)?;
    Ok(header.len() as u64 + len)
}

/// Writes the bytes [`seal`] gives for `payload`, byte for byte, to `out`,
/// as they are made: a large value is never whole in memory a second
/// time. Returns their number. An error of `out` is returned as an
/// encoding error that names it.
fn write_sealed<T: Serialize>(
    kind: &str,
    payload: &T,
    out: &mut impl std::io::Write,
) -> Result<u64> {
    let (header, len) = sealed_header(kind, payload)?;
    out.write_all(&header).map_err(|e| encode_err(kind, e))?;
    rmp_serde::encode::write_named(out, payload).map_err(|e| encode_err(kind, e))?;
    Ok(header.len() as u64 + len)
}

/// The size in bytes of `result` encoded by [`encode_result`], counted
/// without building the encoding.
pub(crate) fn encoded_result_len(result: &SweepResult) -> Result<u64> {
    sealed_len(KIND_RESULT, &ResultRec::encode(result))
}

/// Writes the bytes [`encode_result`] gives to `out`, as they are made
/// (see [`write_sealed`]).
pub(crate) fn write_result(result: &SweepResult, out: &mut impl std::io::Write) -> Result<u64> {
    write_sealed(KIND_RESULT, &ResultRec::encode(result), out)
}

/// Decodes a value written by [`encode_result`] (or by [`write_result`]).
pub(crate) fn decode_result(bytes: &[u8]) -> Result<StoredResult, Corrupt> {
    let p = unseal(KIND_RESULT, bytes)?;
    payload::<ResultRec<'_>>(KIND_RESULT, &p)?.decode()
}

/// The record of a result stored in parts: which parts, how many, and
/// their length together. The parts, in order, are the bytes of
/// [`encode_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartsRec {
    /// The parts' key prefix (the store's sequence number).
    pub(crate) id: u64,
    /// Their number.
    pub(crate) parts: u32,
    /// Their bytes together.
    pub(crate) bytes: u64,
}

/// A value of the `results` family: a whole result, or the record of one
/// stored in parts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResultValue {
    /// The result itself.
    Whole(StoredResult),
    /// Where its parts are.
    Parts(PartsRec),
}

/// Encodes the record of a result stored in parts.
pub(crate) fn encode_parts_rec(rec: &PartsRec) -> Result<Encoded> {
    seal(KIND_RESULT_PARTS, rec)
}

/// Decodes a value of the `results` family: a result, or a parts record.
pub(crate) fn decode_result_value(bytes: &[u8]) -> Result<ResultValue, Corrupt> {
    let (kind, p) = unseal_any(bytes)?;
    match &*kind {
        KIND_RESULT => Ok(ResultValue::Whole(
            payload::<ResultRec<'_>>(KIND_RESULT, &p)?.decode()?,
        )),
        KIND_RESULT_PARTS => Ok(ResultValue::Parts(payload(KIND_RESULT_PARTS, &p)?)),
        other => Err(envelope::corrupt(format!(
            "envelope holds a `{other}`, expected a `{KIND_RESULT}` or a `{KIND_RESULT_PARTS}`"
        ))),
    }
}

// ---- history events ----

#[derive(Serialize, Deserialize)]
struct EventRec<'a> {
    pub(super) seq: u64,
    #[serde(borrow)]
    pub(super) dataset: DatasetRec<'a>,
}

/// An event record as reading a history needs it ([`DatasetReadRec`]).
#[derive(Deserialize)]
struct EventReadRec<'a> {
    pub(super) seq: u64,
    #[serde(borrow)]
    pub(super) dataset: dataset::DatasetReadRec<'a>,
}

/// One history event read back: the sequence number its record holds and
/// its dataset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEvent {
    /// The sequence number written in the record (its key holds it too).
    pub(crate) seq: u64,
    /// The event (`over_time` last, one coordinate).
    pub(crate) dataset: Dataset,
}

/// Encodes one history event: its sequence number and its dataset (with
/// `over_time` last, one coordinate).
pub(crate) fn encode_event(seq: u64, event: &Dataset) -> Result<Encoded> {
    seal_sized(
        KIND_EVENT,
        &EventRec {
            seq,
            dataset: DatasetRec::encode(event),
        },
        encoded_size_hint(event),
    )
}

/// Writes the bytes [`encode_event`] gives to `out`, as they are made
/// (see [`write_sealed`]).
pub(crate) fn write_event(seq: u64, event: &Dataset, out: &mut impl std::io::Write) -> Result<u64> {
    write_sealed(
        KIND_EVENT,
        &EventRec {
            seq,
            dataset: DatasetRec::encode(event),
        },
        out,
    )
}

/// The record of an event stored in parts: their number, and their length
/// together. The parts, in order, are the bytes of [`encode_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventPartsRec {
    /// Their number.
    pub(crate) parts: u32,
    /// Their bytes together.
    pub(crate) bytes: u64,
}

/// Encodes the record of an event stored in parts.
pub(crate) fn encode_event_parts_rec(rec: &EventPartsRec) -> Result<Encoded> {
    seal(KIND_EVENT_PARTS, rec)
}

/// The record of the parts an event is stored in, when `bytes` hold one
/// (`None`: they hold the event itself, or cannot be read as a record of
/// parts).
pub(crate) fn event_parts_rec(bytes: &[u8]) -> Option<Result<EventPartsRec, Corrupt>> {
    match unseal_any(bytes) {
        Ok((kind, p)) if kind == KIND_EVENT_PARTS => Some(payload(KIND_EVENT_PARTS, &p)),
        _ => None,
    }
}

/// Decodes a value written by [`encode_event`].
pub(crate) fn decode_event(bytes: &[u8]) -> Result<StoredEvent, Corrupt> {
    let p = unseal(KIND_EVENT, bytes)?;
    let r: EventRec<'_> = payload(KIND_EVENT, &p)?;
    Ok(StoredEvent {
        seq: r.seq,
        dataset: r.dataset.decode()?,
    })
}

// ---- small records: index entries and history metadata ----

/// Decodes a small record sealed by [`seal`] in an envelope of `kind`.
pub(crate) fn decode_record<T: serde::de::DeserializeOwned>(
    kind: &str,
    bytes: &[u8],
) -> Result<T, Corrupt> {
    let p = unseal(kind, bytes)?;
    payload(kind, &p)
}

/// Encodes the non-time dims of a history (its schema), for its metadata.
pub(crate) fn encode_dims(dims: &[Dim]) -> Result<Vec<u8>> {
    let recs: Vec<DimRec<'_>> = dims.iter().map(DimRec::encode).collect();
    to_msgpack("history schema", &recs)
}

/// Decodes dims written by [`encode_dims`].
pub(crate) fn decode_dims(bytes: &[u8]) -> Result<Vec<Dim>, Corrupt> {
    let recs: Vec<DimRec<'_>> = payload("history schema", bytes)?;
    recs.into_iter().map(DimRec::decode).collect()
}

#[cfg(test)]
mod roundtrip;
