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
use self::envelope::{payload, seal_sized, to_msgpack, unseal};
pub(crate) use self::jobs::{
    ChunkWriter, JobChunk, chunk_jobs, chunk_spans, decode_chunk, decode_job, encode_job,
    encode_record,
};
use crate::error::Result;

/// Envelope kind of a stored result.
pub(crate) const KIND_RESULT: &str = "result";
/// Envelope kind of one history event.
pub(crate) const KIND_EVENT: &str = "event";
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
    let hint = encoded_size_hint(&result.dataset)
        .saturating_add(result.failures.len().saturating_mul(256));
    seal_sized(
        KIND_RESULT,
        &ResultRec {
            complete: result.is_complete(),
            dataset: DatasetRec::encode(&result.dataset),
            failures: Cow::Borrowed(&result.failures),
            stats: result.stats,
        },
        hint,
    )
}

/// Decodes a value written by [`encode_result`].
pub(crate) fn decode_result(bytes: &[u8]) -> Result<StoredResult, Corrupt> {
    let p = unseal(KIND_RESULT, bytes)?;
    let r: ResultRec<'_> = payload(KIND_RESULT, &p)?;
    Ok(StoredResult {
        dataset: r.dataset.decode()?,
        failures: r.failures.into_owned(),
        stats: r.stats,
        complete: r.complete,
    })
}

// ---- history events ----

#[derive(Serialize, Deserialize)]
struct EventRec<'a> {
    pub(super) seq: u64,
    #[serde(borrow)]
    pub(super) dataset: DatasetRec<'a>,
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
