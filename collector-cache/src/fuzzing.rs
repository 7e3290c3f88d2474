//! Entry points for the fuzz targets (`fuzz/` in the repository) and for
//! the stable test that replays their corpus. **Not part of the API**:
//! hidden from the docs, no stability promise, may change in any release.
//!
//! Each function hands untrusted bytes to the real decoder of one stored
//! format, exactly as a read from the database would (through the
//! column family's declared codec, `schema.rs`), and returns its
//! outcome. None duplicates a decoder; a decoder that panics, aborts or
//! allocates without bound on junk is a bug of that decoder.

use collector_core::{Dataset, JobRecord};

use crate::codec::{Assembler, ColumnPlan, Corrupt, ResultValue, event_attrs};
use crate::schema::FAMILY_NAMES;
use crate::schema::{
    EventParts, Family, HistoryEvents, HistoryMeta, Index, JobRecords, JobSets, Lineages, Meta,
    PartsInFlight, ResultParts, Results, Shards,
};
use crate::{CacheDb, StoredResult};

fn text(e: Corrupt) -> String {
    e.0
}

/// Decodes a value of the `results` family: a whole stored result, or
/// (`None`) the record of a result stored in parts.
pub fn decode_result(bytes: &[u8]) -> Result<Option<StoredResult>, String> {
    match Results::decode(bytes).map_err(text)? {
        ResultValue::Whole(r) => Ok(Some(r)),
        ResultValue::Parts(_) => Ok(None),
    }
}

/// Decodes a value of the `history_events` family twice, as the cache
/// does: whole (one event as a dataset), and in place into a history
/// whose schema and columns are the event's own (the path of a history
/// load, `codec/assemble.rs`). Returns the whole decode, or the error of
/// either (the in-place read checks more: a last dim `over_time` with one
/// coordinate).
pub fn decode_event(bytes: &[u8]) -> Result<(u64, Dataset), String> {
    let ev = HistoryEvents::decode(bytes).map_err(text)?;
    let ds = ev.dataset;
    let dims = ds.dims();
    let schema = dims.split_last().map_or(&[][..], |(_, rest)| rest).to_vec();
    let plans: Vec<ColumnPlan> = ds
        .columns()
        .iter()
        .map(|c| ColumnPlan {
            name: c.name.clone(),
            var: c.var.clone(),
            kind: c.kind,
        })
        .collect();
    let mut asm = Assembler::new(schema, plans.clone(), 1).map_err(text)?;
    let (reader, mut slots) = asm.parts();
    let mut skipped = Vec::new();
    let column_of = |name: &str, kind| plans.iter().position(|p| p.name == name && p.kind == kind);
    let read = match slots.first_mut() {
        Some(slots) => reader
            .read(bytes, ev.seq, slots, column_of, &mut skipped)
            .map_err(|e| format!("in place: {}", e.0))?,
        None => return Err("no slot for the event".to_string()),
    };
    let assembled = asm
        .finish(vec![Some(read)], |_| event_attrs(bytes, column_of))
        .map_err(text)?;
    if !skipped.is_empty() || assembled.is_none() {
        return Err(format!("in place: skipped columns {skipped:?}"));
    }
    Ok((ev.seq, ds))
}

/// Decodes a value of the `job_records` family (an `RC` chunk of `RJ`
/// job records): each entry's job and its record, or why it cannot be read.
pub fn decode_job_chunk(bytes: &[u8]) -> Result<JobChunkEntries, String> {
    JobRecords::decode(bytes)
        .map(|c| c.0.into_iter().map(|(j, r)| (j, r.map_err(text))).collect())
        .map_err(text)
}

/// The entries of a decoded chunk of job records.
pub type JobChunkEntries = Vec<([u8; 16], Result<JobRecord, String>)>;

/// Decodes one `RJ` job record (an entry of a chunk).
pub fn decode_job(bytes: &[u8]) -> Result<JobRecord, String> {
    crate::codec::decode_job(bytes).map_err(text)
}

/// Decodes `bytes` as the value of every small-record family (index
/// entries, history metadata (and the schema and column plan a history
/// load builds from it), lineages, job sets, shard manifests, the format
/// version, the id of a result in flight, the record of an event's
/// parts) and as the key of every family. Returns, per family, whether
/// the value decoded (key parses return `Ok` when they succeed too).
pub fn decode_records(bytes: &[u8]) -> Vec<(&'static str, Result<(), String>)> {
    fn ok<T>(r: Result<T, Corrupt>) -> Result<(), String> {
        r.map(|_| ()).map_err(text)
    }
    fn key<T>(k: Option<T>) -> Result<(), String> {
        k.map(|_| ()).ok_or_else(|| "not a key".to_string())
    }
    let history = HistoryMeta::decode(bytes).and_then(|m| {
        let schema = m.schema_dims()?;
        let plans = m.columns.iter().map(|c| c.plan()).collect();
        Assembler::new(schema, plans, m.events.len()).map(|_| ())
    });
    vec![
        (Index::NAME, ok(Index::decode(bytes))),
        (HistoryMeta::NAME, ok(history)),
        (Lineages::NAME, ok(Lineages::decode(bytes))),
        (JobSets::NAME, ok(JobSets::decode(bytes))),
        (Shards::NAME, ok(Shards::decode(bytes))),
        (Meta::NAME, ok(Meta::decode(bytes))),
        ("result parts in flight", ok(PartsInFlight::decode(bytes))),
        (
            "event parts record",
            crate::codec::event_parts_rec(bytes)
                .map_or_else(|| Err("not a record of parts".to_string()), ok),
        ),
        ("key results", key(Results::parse_key(bytes))),
        ("key result_parts", key(ResultParts::parse_key(bytes))),
        ("key event_parts", key(EventParts::parse_key(bytes))),
        ("key index", key(Index::parse_key(bytes))),
        ("key history_meta", key(HistoryMeta::parse_key(bytes))),
        ("key history_events", key(HistoryEvents::parse_key(bytes))),
        ("key lineage", key(Lineages::parse_key(bytes))),
        ("key job_records", key(JobRecords::parse_key(bytes))),
        ("key job_sets", key(JobSets::parse_key(bytes))),
        ("key shards", key(Shards::parse_key(bytes))),
        ("key meta", key(Meta::parse_key(bytes))),
    ]
}

/// One stored record: its family's name, its key and its value, as bytes.
pub type RawRecord = (&'static str, Vec<u8>, Vec<u8>);

/// Every record of every family of `cache` as stored. The seed corpus of
/// the fuzz targets is written from these, so that it holds the current
/// format.
pub fn raw_records(cache: &CacheDb) -> crate::Result<Vec<RawRecord>> {
    let mut out = Vec::new();
    for name in FAMILY_NAMES {
        for (k, v) in cache.raw_records(name)? {
            out.push((name, k, v));
        }
    }
    Ok(out)
}
