//! Datasets as MessagePack records: numeric arrays (f64 and i64 columns,
//! numeric coordinates) as raw little-endian bytes, one MessagePack `bin`
//! each, never element by element; text columns as a list of strings.
//! Decoding borrows those bytes straight from the stored value.
//!
//! Reference cells are written as -1: the objects they index live only in
//! the memory of the run that made them (SPEC §3).

use std::borrow::Cow;
use std::collections::BTreeMap;

use collector_core::{
    AttrValue, Column, ColumnData, Coords, Dataset, Dim, REFERENCE_SENTINEL, ResultKind, VarAttrs,
};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use super::envelope::{Corrupt, corrupt};

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

/// Checks that `b` holds whole 8-byte values.
fn whole_words(b: &[u8], what: &str) -> Result<(), Corrupt> {
    if b.len().is_multiple_of(8) {
        Ok(())
    } else {
        Err(corrupt(format!(
            "{what}: {} bytes is not a whole number of 8-byte values",
            b.len()
        )))
    }
}

fn f64s(b: &[u8], what: &str) -> Result<Vec<f64>, Corrupt> {
    whole_words(b, what)?;
    let mut v = vec![0.0; b.len() / 8];
    copy_f64s(&mut v, b);
    Ok(v)
}

fn i64s(b: &[u8], what: &str) -> Result<Vec<i64>, Corrupt> {
    whole_words(b, what)?;
    let mut v = vec![0; b.len() / 8];
    copy_i64s(&mut v, b);
    Ok(v)
}

// ---- records ----

#[derive(Serialize, Deserialize)]
pub(crate) enum CoordsRec<'a> {
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

/// [`VarAttrs`] as stored: the same fields, borrowed from the stored bytes
/// when read.
#[derive(Serialize, Deserialize)]
pub(crate) struct AttrsRec<'a> {
    #[serde(borrow)]
    long_name: Cow<'a, str>,
    #[serde(borrow)]
    units: Cow<'a, str>,
    #[serde(borrow)]
    description: Cow<'a, str>,
}

impl<'a> AttrsRec<'a> {
    fn encode(a: &'a VarAttrs) -> Self {
        AttrsRec {
            long_name: Cow::Borrowed(&a.long_name),
            units: Cow::Borrowed(&a.units),
            description: Cow::Borrowed(&a.description),
        }
    }

    /// The attributes, owned.
    pub(crate) fn to_attrs(&self) -> VarAttrs {
        VarAttrs {
            long_name: self.long_name.to_string(),
            units: self.units.to_string(),
            description: self.description.to_string(),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct DimRec<'a> {
    name: Cow<'a, str>,
    #[serde(borrow)]
    coords: CoordsRec<'a>,
    #[serde(borrow)]
    attrs: AttrsRec<'a>,
}

impl DimRec<'_> {
    /// The attributes.
    pub(crate) fn attrs(&self) -> VarAttrs {
        self.attrs.to_attrs()
    }
}

/// A dim as reading a history event needs it: its attributes are
/// skipped (parsed, not kept).
#[derive(Deserialize)]
pub(crate) struct DimReadRec<'a> {
    name: Cow<'a, str>,
    #[serde(borrow)]
    coords: CoordsRec<'a>,
}

impl DimReadRec<'_> {
    /// Whether it is `d`: the same name and coordinates (floats by bits,
    /// as `Coords::same_as`); attributes are not compared.
    pub(crate) fn is(&self, d: &Dim) -> bool {
        self.name == d.name && self.coords.is(&d.coords)
    }

    /// The name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The coordinates, decoded.
    pub(crate) fn coords(&self) -> Result<Coords, Corrupt> {
        self.coords.to_coords(&self.name)
    }
}

impl CoordsRec<'_> {
    fn is(&self, c: &Coords) -> bool {
        match (self, c) {
            (CoordsRec::Float(b), Coords::Float(v)) => **b == *f64_le(v),
            (CoordsRec::Int(b), Coords::Int(v)) | (CoordsRec::Time(b), Coords::Time(v)) => {
                **b == *i64_le(v)
            }
            (CoordsRec::Str(a), Coords::Str(v)) | (CoordsRec::Label(a), Coords::Label(v)) => {
                a.len() == v.len() && a.iter().zip(v).all(|(x, y)| x == y)
            }
            (CoordsRec::Bool(a), Coords::Bool(v)) => a == v,
            _ => false,
        }
    }

    fn to_coords(&self, dim: &str) -> Result<Coords, Corrupt> {
        let what = format!("coordinates of dim `{dim}`");
        let strings = |v: &[Cow<'_, str>]| v.iter().map(|s| s.to_string()).collect();
        Ok(match self {
            CoordsRec::Float(b) => Coords::Float(f64s(b, &what)?),
            CoordsRec::Int(b) => Coords::Int(i64s(b, &what)?),
            CoordsRec::Str(v) => Coords::Str(strings(v)),
            CoordsRec::Bool(v) => Coords::Bool(v.clone()),
            CoordsRec::Time(b) => Coords::Time(i64s(b, &what)?),
            CoordsRec::Label(v) => Coords::Label(strings(v)),
        })
    }
}

/// Copies little-endian `bytes` into `out` (of `bytes.len() / 8`
/// values); `false` when the lengths disagree.
pub(crate) fn copy_f64s(out: &mut [f64], bytes: &[u8]) -> bool {
    if out.len().checked_mul(8) != Some(bytes.len()) {
        return false;
    }
    #[cfg(target_endian = "little")]
    bytemuck::cast_slice_mut::<f64, u8>(out).copy_from_slice(bytes);
    #[cfg(not(target_endian = "little"))]
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        *o = f64::from_le_bytes(w);
    }
    true
}

/// [`copy_f64s`] for i64 values.
pub(crate) fn copy_i64s(out: &mut [i64], bytes: &[u8]) -> bool {
    if out.len().checked_mul(8) != Some(bytes.len()) {
        return false;
    }
    #[cfg(target_endian = "little")]
    bytemuck::cast_slice_mut::<i64, u8>(out).copy_from_slice(bytes);
    #[cfg(not(target_endian = "little"))]
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        *o = i64::from_le_bytes(w);
    }
    true
}

impl<'a> DimRec<'a> {
    pub(super) fn encode(d: &'a Dim) -> Self {
        DimRec {
            name: Cow::Borrowed(&d.name),
            coords: CoordsRec::encode(&d.coords),
            attrs: AttrsRec::encode(&d.attrs),
        }
    }

    pub(super) fn decode(self) -> Result<Dim, Corrupt> {
        let what = format!("coordinates of dim `{}`", self.name);
        Ok(Dim {
            coords: self.coords.decode(&what)?,
            attrs: self.attrs.to_attrs(),
            name: self.name.into_owned(),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) enum DataRec<'a> {
    F64(#[serde(borrow, with = "serde_bytes")] Cow<'a, [u8]>),
    I64(#[serde(borrow, with = "serde_bytes")] Cow<'a, [u8]>),
    Text(Vec<Cow<'a, str>>),
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ColumnRec<'a> {
    pub(crate) name: Cow<'a, str>,
    pub(crate) var: Cow<'a, str>,
    pub(crate) kind: ResultKind,
    #[serde(borrow)]
    pub(crate) attrs: AttrsRec<'a>,
    #[serde(borrow)]
    pub(crate) data: DataRec<'a>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct DatasetRec<'a> {
    #[serde(borrow)]
    pub(crate) dims: Vec<DimRec<'a>>,
    #[serde(borrow)]
    pub(crate) columns: Vec<ColumnRec<'a>>,
    pub(crate) attrs: Cow<'a, BTreeMap<String, AttrValue>>,
}

/// A column as reading a history event needs it: its variable and
/// attributes are skipped.
#[derive(Deserialize)]
pub(crate) struct ColumnReadRec<'a> {
    #[serde(borrow)]
    pub(crate) name: Cow<'a, str>,
    pub(crate) kind: ResultKind,
    #[serde(borrow)]
    pub(crate) data: DataRec<'a>,
}

/// A dataset as reading a history event needs it: each event's attributes
/// (of the dataset, its dims and columns) are skipped, parsed but not
/// kept; the history takes them from the few events they come from.
#[derive(Deserialize)]
pub(crate) struct DatasetReadRec<'a> {
    #[serde(borrow)]
    pub(crate) dims: Vec<DimReadRec<'a>>,
    #[serde(borrow)]
    pub(crate) columns: Vec<ColumnReadRec<'a>>,
}

/// About how many bytes a dataset encodes to: its numeric data exactly,
/// text and small parts roughly. Only sizes a buffer.
pub(super) fn encoded_size_hint(ds: &Dataset) -> usize {
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
    pub(super) fn encode(ds: &'a Dataset) -> Self {
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
                    attrs: AttrsRec::encode(&c.attrs),
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

    pub(super) fn decode(self) -> Result<Dataset, Corrupt> {
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
                attrs: c.attrs.to_attrs(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_endian = "little")]
    #[test]
    fn borrowed_numeric_bytes_equal_the_element_wise_encoding() {
        let f = [0.0, -0.0, 1.5, f64::NAN, f64::INFINITY, -2.25e-300];
        assert_eq!(&*f64_le(&f), &f64_bytes(f.iter())[..]);
        let i = [0i64, -1, i64::MAX, i64::MIN, 42];
        assert_eq!(&*i64_le(&i), &i64_bytes(i.iter())[..]);
    }
}
