//! Value encoding: MessagePack (rmp-serde, named fields) inside a
//! versioned envelope `{format, kind, payload}`.
//!
//! Numeric arrays (f64 and i64 columns, numeric coordinates) are raw
//! little-endian bytes, one MessagePack `bin` each, never element by
//! element; text columns are a list of strings. Decoding borrows those
//! bytes straight from the stored value.
//!
//! Reference cells are written as -1: the objects they index live only in
//! the memory of the run that made them (SPEC §3).
//!
//! Every decode error is a [`Corrupt`] value; callers log it, remove the
//! entry and treat it as absent.

use std::borrow::Cow;
use std::collections::BTreeMap;

use collector_core::{
    AttrValue, Column, ColumnData, Coords, Dataset, Dim, REFERENCE_SENTINEL, ResultKind, RunStats,
    SampleFailure, SweepResult, VarAttrs,
};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::FORMAT_VERSION;

/// Envelope kind of a stored result.
pub const KIND_RESULT: &str = "result";
/// Envelope kind of one history event.
pub const KIND_EVENT: &str = "event";
pub(crate) const KIND_INDEX: &str = "index";
pub(crate) const KIND_HISTORY_META: &str = "history-meta";

/// Why a stored value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt(pub String);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Corrupt {}

fn corrupt(m: impl std::fmt::Display) -> Corrupt {
    Corrupt(m.to_string())
}

#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    format: u32,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, with = "serde_bytes")]
    payload: Cow<'a, [u8]>,
}

fn to_msgpack<T: Serialize>(what: &str, v: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(v).map_err(|e| Error::Encode {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// An encoded value: an envelope and its payload, ready to store.
///
/// It dereferences to the bytes. The payload is written once, straight
/// after room left for the envelope's header, so sealing a large value
/// copies nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Encoded {
    buf: Vec<u8>,
    start: usize,
}

impl Encoded {
    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The encoded bytes as a vector of their own (moves them to the front
    /// of the buffer when there is room left before them).
    pub fn into_vec(mut self) -> Vec<u8> {
        self.buf.drain(..self.start);
        self.buf
    }
}

impl std::ops::Deref for Encoded {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Encoded {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encoded({} bytes)", self.len())
    }
}

/// The envelope's header, exactly as rmp-serde writes the map
/// `{format, kind, payload}` (the [`Envelope`] struct) before the payload's
/// bytes. A unit test below checks both agree for every `bin` length
/// class; the golden tests pin the bytes.
fn envelope_header(kind: &str, payload_len: u32) -> Vec<u8> {
    use rmp::encode;
    let mut h = Vec::with_capacity(32 + kind.len());
    // Writing to a Vec cannot fail.
    let _ = encode::write_map_len(&mut h, 3);
    let _ = encode::write_str(&mut h, "format");
    let _ = encode::write_uint(&mut h, u64::from(FORMAT_VERSION));
    let _ = encode::write_str(&mut h, "kind");
    let _ = encode::write_str(&mut h, kind);
    let _ = encode::write_str(&mut h, "payload");
    let _ = encode::write_bin_len(&mut h, payload_len);
    h
}

pub(crate) fn seal<T: Serialize>(kind: &str, payload: &T) -> Result<Encoded> {
    seal_sized(kind, payload, 0)
}

/// [`seal`], with room reserved for `size_hint` bytes of payload up front,
/// so that a large value is written into its buffer without regrowing it.
fn seal_sized<T: Serialize>(kind: &str, payload: &T, size_hint: usize) -> Result<Encoded> {
    let encode_err = |message: String| Error::Encode {
        what: kind.to_string(),
        message,
    };
    // Room for the longest header: the real one is at most this long.
    let room = envelope_header(kind, u32::MAX).len();
    let mut buf = Vec::with_capacity(room.saturating_add(size_hint));
    buf.resize(room, 0);
    rmp_serde::encode::write_named(&mut buf, payload).map_err(|e| encode_err(e.to_string()))?;
    let len = u32::try_from(buf.len() - room).map_err(|_| {
        encode_err(format!(
            "{} bytes is over the 4 GiB a MessagePack value can hold",
            buf.len() - room
        ))
    })?;
    let header = envelope_header(kind, len);
    let start = room - header.len();
    buf[start..room].copy_from_slice(&header);
    Ok(Encoded { buf, start })
}

/// Checks the envelope and returns its payload.
pub(crate) fn unseal<'a>(kind: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, Corrupt> {
    let env: Envelope<'a> =
        rmp_serde::from_slice(bytes).map_err(|e| corrupt(format!("bad envelope: {e}")))?;
    if env.format != FORMAT_VERSION {
        return Err(corrupt(format!(
            "envelope format {} (this build reads {FORMAT_VERSION})",
            env.format
        )));
    }
    if env.kind != kind {
        return Err(corrupt(format!(
            "envelope holds a `{}`, expected a `{kind}`",
            env.kind
        )));
    }
    Ok(env.payload)
}

fn payload<'a, T: Deserialize<'a>>(kind: &str, bytes: &'a [u8]) -> Result<T, Corrupt> {
    rmp_serde::from_slice(bytes).map_err(|e| corrupt(format!("bad {kind} payload: {e}")))
}

// ---- numeric arrays as raw little-endian bytes ----

/// The little-endian bytes of `s`: on a little-endian machine the slice's
/// own memory, no copy.
#[cfg(target_endian = "little")]
fn f64_le(s: &[f64]) -> Cow<'_, [u8]> {
    Cow::Borrowed(bytemuck::cast_slice(s))
}

#[cfg(not(target_endian = "little"))]
fn f64_le(s: &[f64]) -> Cow<'_, [u8]> {
    Cow::Owned(f64_bytes(s.iter()))
}

#[cfg(target_endian = "little")]
fn i64_le(s: &[i64]) -> Cow<'_, [u8]> {
    Cow::Borrowed(bytemuck::cast_slice(s))
}

#[cfg(not(target_endian = "little"))]
fn i64_le(s: &[i64]) -> Cow<'_, [u8]> {
    Cow::Owned(i64_bytes(s.iter()))
}

fn f64_bytes<'x>(it: impl ExactSizeIterator<Item = &'x f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(it.len() * 8);
    for x in it {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn i64_bytes<'x>(it: impl ExactSizeIterator<Item = &'x i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(it.len() * 8);
    for x in it {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn words(b: &[u8], what: &str) -> Result<impl Iterator<Item = [u8; 8]>, Corrupt> {
    if !b.len().is_multiple_of(8) {
        return Err(corrupt(format!(
            "{what}: {} bytes is not a whole number of 8-byte values",
            b.len()
        )));
    }
    Ok(b.chunks_exact(8).map(|c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        w
    }))
}

fn f64s(b: &[u8], what: &str) -> Result<Vec<f64>, Corrupt> {
    Ok(words(b, what)?.map(f64::from_le_bytes).collect())
}

fn i64s(b: &[u8], what: &str) -> Result<Vec<i64>, Corrupt> {
    Ok(words(b, what)?.map(i64::from_le_bytes).collect())
}

// ---- records ----

#[derive(Serialize, Deserialize)]
enum CoordsRec<'a> {
    Float(#[serde(borrow, with = "serde_bytes")] Cow<'a, [u8]>),
    Int(#[serde(borrow, with = "serde_bytes")] Cow<'a, [u8]>),
    Str(Vec<Cow<'a, str>>),
    Bool(Vec<bool>),
    Time(#[serde(borrow, with = "serde_bytes")] Cow<'a, [u8]>),
    Label(Vec<Cow<'a, str>>),
}

impl<'a> CoordsRec<'a> {
    fn encode(c: &'a Coords) -> Self {
        let strs = |v: &'a [String]| v.iter().map(|s| Cow::Borrowed(s.as_str())).collect();
        match c {
            Coords::Float(v) => CoordsRec::Float(f64_le(v)),
            Coords::Int(v) => CoordsRec::Int(i64_le(v)),
            Coords::Str(v) => CoordsRec::Str(strs(v)),
            Coords::Bool(v) => CoordsRec::Bool(v.clone()),
            Coords::Time(v) => CoordsRec::Time(i64_le(v)),
            Coords::Label(v) => CoordsRec::Label(strs(v)),
        }
    }

    fn decode(self, what: &str) -> Result<Coords, Corrupt> {
        let strings = |v: Vec<Cow<'a, str>>| v.into_iter().map(Cow::into_owned).collect();
        Ok(match self {
            CoordsRec::Float(b) => Coords::Float(f64s(&b, what)?),
            CoordsRec::Int(b) => Coords::Int(i64s(&b, what)?),
            CoordsRec::Str(v) => Coords::Str(strings(v)),
            CoordsRec::Bool(v) => Coords::Bool(v),
            CoordsRec::Time(b) => Coords::Time(i64s(&b, what)?),
            CoordsRec::Label(v) => Coords::Label(strings(v)),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct DimRec<'a> {
    name: Cow<'a, str>,
    #[serde(borrow)]
    coords: CoordsRec<'a>,
    attrs: Cow<'a, VarAttrs>,
}

impl<'a> DimRec<'a> {
    pub(crate) fn encode(d: &'a Dim) -> Self {
        DimRec {
            name: Cow::Borrowed(&d.name),
            coords: CoordsRec::encode(&d.coords),
            attrs: Cow::Borrowed(&d.attrs),
        }
    }

    pub(crate) fn decode(self) -> Result<Dim, Corrupt> {
        let what = format!("coordinates of dim `{}`", self.name);
        Ok(Dim {
            coords: self.coords.decode(&what)?,
            name: self.name.into_owned(),
            attrs: self.attrs.into_owned(),
        })
    }
}

#[derive(Serialize, Deserialize)]
enum DataRec<'a> {
    F64(#[serde(borrow, with = "serde_bytes")] Cow<'a, [u8]>),
    I64(#[serde(borrow, with = "serde_bytes")] Cow<'a, [u8]>),
    Text(Vec<Cow<'a, str>>),
}

#[derive(Serialize, Deserialize)]
struct ColumnRec<'a> {
    name: Cow<'a, str>,
    var: Cow<'a, str>,
    kind: ResultKind,
    attrs: Cow<'a, VarAttrs>,
    #[serde(borrow)]
    data: DataRec<'a>,
}

#[derive(Serialize, Deserialize)]
struct DatasetRec<'a> {
    #[serde(borrow)]
    dims: Vec<DimRec<'a>>,
    #[serde(borrow)]
    columns: Vec<ColumnRec<'a>>,
    attrs: Cow<'a, BTreeMap<String, AttrValue>>,
}

/// About how many bytes a dataset encodes to: its numeric data exactly,
/// text and small parts roughly. Only sizes a buffer.
fn encoded_size_hint(ds: &Dataset) -> usize {
    let mut n = 4096usize;
    for c in ds.columns() {
        n = n.saturating_add(match &c.data {
            ColumnData::F64(a) => a.len() * 8,
            ColumnData::I64(a) => a.len() * 8,
            ColumnData::Text(a) => a.iter().map(|s| s.len() + 5).sum(),
        });
    }
    n.saturating_add(ds.dims().iter().map(|d| d.len() * 9).sum())
}

impl<'a> DatasetRec<'a> {
    fn encode(ds: &'a Dataset) -> Self {
        let columns = ds
            .columns()
            .iter()
            .map(|c| {
                let data = match (&c.data, c.kind) {
                    // Indices into this run's objects mean nothing to a reader.
                    (ColumnData::I64(a), ResultKind::Reference) => DataRec::I64(Cow::Owned(
                        i64_bytes(std::iter::repeat_n(&REFERENCE_SENTINEL, a.len())),
                    )),
                    (ColumnData::F64(a), _) => DataRec::F64(match a.as_slice() {
                        Some(s) => f64_le(s),
                        None => Cow::Owned(f64_bytes(a.iter())),
                    }),
                    (ColumnData::I64(a), _) => DataRec::I64(match a.as_slice() {
                        Some(s) => i64_le(s),
                        None => Cow::Owned(i64_bytes(a.iter())),
                    }),
                    (ColumnData::Text(a), _) => {
                        DataRec::Text(a.iter().map(|s| Cow::Borrowed(s.as_str())).collect())
                    }
                };
                ColumnRec {
                    name: Cow::Borrowed(&c.name),
                    var: Cow::Borrowed(&c.var),
                    kind: c.kind,
                    attrs: Cow::Borrowed(&c.attrs),
                    data,
                }
            })
            .collect();
        DatasetRec {
            dims: ds.dims().iter().map(DimRec::encode).collect(),
            columns,
            attrs: Cow::Borrowed(&ds.attrs),
        }
    }

    fn decode(self) -> Result<Dataset, Corrupt> {
        let dims = self
            .dims
            .into_iter()
            .map(DimRec::decode)
            .collect::<Result<Vec<_>, _>>()?;
        let shape: Vec<usize> = dims.iter().map(Dim::len).collect();
        let cells = shape
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .ok_or_else(|| corrupt(format!("shape {shape:?} overflows")))?;
        let mut columns = Vec::with_capacity(self.columns.len());
        for c in self.columns {
            let what = format!("column `{}`", c.name);
            let data = match c.data {
                DataRec::F64(b) => ColumnData::F64(array(&shape, cells, f64s(&b, &what)?, &what)?),
                DataRec::I64(b) => ColumnData::I64(array(&shape, cells, i64s(&b, &what)?, &what)?),
                DataRec::Text(v) => ColumnData::Text(array(
                    &shape,
                    cells,
                    v.into_iter().map(Cow::into_owned).collect(),
                    &what,
                )?),
            };
            columns.push(Column {
                name: c.name.into_owned(),
                var: c.var.into_owned(),
                kind: c.kind,
                attrs: c.attrs.into_owned(),
                data,
            });
        }
        Dataset::from_parts(dims, columns, self.attrs.into_owned())
            .map_err(|e| corrupt(format!("inconsistent dataset: {e}")))
    }
}

fn array<T>(shape: &[usize], cells: usize, v: Vec<T>, what: &str) -> Result<ArrayD<T>, Corrupt> {
    if v.len() != cells {
        return Err(corrupt(format!(
            "{what}: {} values for shape {shape:?} ({cells} cells)",
            v.len()
        )));
    }
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| corrupt(format!("{what}: {e}")))
}

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
/// its envelope.
pub fn encode_result(result: &SweepResult) -> Result<Encoded> {
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
pub fn decode_result(bytes: &[u8]) -> Result<StoredResult, Corrupt> {
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
    seq: u64,
    #[serde(borrow)]
    dataset: DatasetRec<'a>,
}

/// Encodes one history event: its sequence number and its dataset (with
/// `over_time` last, one coordinate).
pub fn encode_event(seq: u64, event: &Dataset) -> Result<Encoded> {
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
pub fn decode_event(bytes: &[u8]) -> Result<(u64, Dataset), Corrupt> {
    let p = unseal(KIND_EVENT, bytes)?;
    let r: EventRec<'_> = payload(KIND_EVENT, &p)?;
    Ok((r.seq, r.dataset.decode()?))
}

// ---- small records: index entries and history metadata ----

pub(crate) fn encode_record<T: Serialize>(kind: &str, v: &T) -> Result<Encoded> {
    seal(kind, v)
}

pub(crate) fn decode_record<T: serde::de::DeserializeOwned>(
    kind: &str,
    bytes: &[u8],
) -> Result<T, Corrupt> {
    let p = unseal(kind, bytes)?;
    payload(kind, &p)
}

/// Sequence of decode of a [`DimRec`] list stored in metadata.
pub(crate) fn encode_dims(dims: &[Dim]) -> Result<Vec<u8>> {
    let recs: Vec<DimRec<'_>> = dims.iter().map(DimRec::encode).collect();
    to_msgpack("history schema", &recs)
}

pub(crate) fn decode_dims(bytes: &[u8]) -> Result<Vec<Dim>, Corrupt> {
    let recs: Vec<DimRec<'_>> = payload("history schema", bytes)?;
    recs.into_iter().map(DimRec::decode).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    /// The hand-written header plus the payload are byte for byte what
    /// rmp-serde writes for the [`Envelope`] struct, for each size class of
    /// MessagePack `bin` (8, 16 and 32-bit lengths) and a few kinds.
    #[test]
    fn sealed_bytes_equal_the_serialized_envelope() {
        for kind in [KIND_RESULT, KIND_EVENT, KIND_INDEX, KIND_HISTORY_META] {
            for n in [0usize, 1, 200, 253, 254, 300, 65_532, 65_540, 200_000] {
                let payload = serde_bytes::ByteBuf::from(vec![0xa5u8; n]);
                let sealed = seal(kind, &payload).unwrap();
                let whole = to_msgpack(
                    kind,
                    &Envelope {
                        format: FORMAT_VERSION,
                        kind: Cow::Borrowed(kind),
                        payload: Cow::Owned(to_msgpack(kind, &payload).unwrap()),
                    },
                )
                .unwrap();
                assert_eq!(sealed.as_bytes(), &whole[..], "kind {kind}, {n} bytes");
                let inner = to_msgpack(kind, &payload).unwrap();
                assert_eq!(&*unseal(kind, &sealed).unwrap(), &inner[..]);
                assert_eq!(sealed.clone().into_vec(), whole);
            }
        }
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn borrowed_numeric_bytes_equal_the_element_wise_encoding() {
        let f = [0.0, -0.0, 1.5, f64::NAN, f64::INFINITY, -2.25e-300];
        assert_eq!(&*f64_le(&f), &f64_bytes(f.iter())[..]);
        let i = [0i64, -1, i64::MAX, i64::MIN, 42];
        assert_eq!(&*i64_le(&i), &i64_bytes(i.iter())[..]);
    }
}
