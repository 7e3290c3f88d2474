//! The N-dimensional labelled dataset: dims with coordinates, typed result
//! columns on ndarray, and attributes. The Rust counterpart of an xarray
//! `Dataset`.

use std::collections::BTreeMap;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, IxDyn};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, unknown};
use crate::sweep::{OVER_TIME_DIM, ResultKind, Sentinel, Storage, TEXT_SENTINEL};
use crate::value::{Coords, Value};

/// Descriptive metadata of a dim or column (xarray `attrs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VarAttrs {
    /// A human-readable name.
    pub long_name: String,
    /// Units ("" when none).
    pub units: String,
    /// A description ("" when none).
    pub description: String,
}

/// A dataset-level attribute value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AttrValue {
    /// Text.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl std::fmt::Display for AttrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttrValue::Str(s) => write!(f, "{s}"),
            AttrValue::Int(v) => write!(f, "{v}"),
            AttrValue::Float(v) => write!(f, "{v}"),
        }
    }
}

/// One dim: a name, its coordinates and their metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dim {
    /// The name.
    pub name: String,
    /// The coordinates; their count is the dim's size.
    pub coords: Coords,
    /// Metadata.
    pub attrs: VarAttrs,
}

impl Dim {
    /// A dim with empty metadata.
    pub fn new(name: impl Into<String>, coords: Coords) -> Self {
        Dim {
            name: name.into(),
            coords,
            attrs: VarAttrs::default(),
        }
    }
    /// The size.
    pub fn len(&self) -> usize {
        self.coords.len()
    }
    /// Whether the dim has no coordinates.
    pub fn is_empty(&self) -> bool {
        self.coords.is_empty()
    }
}

/// The values of one column.
///
/// Equality is bitwise for floats: two columns are equal when they would
/// serialise to the same bytes, so NaN sentinels compare equal.
#[derive(Debug, Clone)]
pub enum ColumnData {
    /// Floats (float, bool and vec results).
    F64(ArrayD<f64>),
    /// Integers (reference results).
    I64(ArrayD<i64>),
    /// Text (string, media and blob results).
    Text(ArrayD<String>),
}

impl PartialEq for ColumnData {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ColumnData::F64(a), ColumnData::F64(b)) => {
                a.shape() == b.shape()
                    && a.iter()
                        .zip(b.iter())
                        .all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (ColumnData::I64(a), ColumnData::I64(b)) => a == b,
            (ColumnData::Text(a), ColumnData::Text(b)) => a == b,
            _ => false,
        }
    }
}

impl ColumnData {
    /// A column of `shape` filled with `sentinel`.
    pub fn filled(shape: &[usize], sentinel: Sentinel) -> Self {
        let shape = IxDyn(shape);
        match sentinel {
            Sentinel::F64(v) => ColumnData::F64(ArrayD::from_elem(shape, v)),
            Sentinel::I64(v) => ColumnData::I64(ArrayD::from_elem(shape, v)),
            Sentinel::Text(v) => ColumnData::Text(ArrayD::from_elem(shape, v.to_string())),
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            ColumnData::F64(a) => a.shape(),
            ColumnData::I64(a) => a.shape(),
            ColumnData::Text(a) => a.shape(),
        }
    }

    /// The storage class.
    pub fn storage(&self) -> Storage {
        match self {
            ColumnData::F64(_) => Storage::F64,
            ColumnData::I64(_) => Storage::I64,
            ColumnData::Text(_) => Storage::Text,
        }
    }

    fn index_axis(&self, axis: usize, i: usize) -> ColumnData {
        match self {
            ColumnData::F64(a) => ColumnData::F64(a.index_axis(Axis(axis), i).to_owned()),
            ColumnData::I64(a) => ColumnData::I64(a.index_axis(Axis(axis), i).to_owned()),
            ColumnData::Text(a) => ColumnData::Text(a.index_axis(Axis(axis), i).to_owned()),
        }
    }

    fn select(&self, axis: usize, idx: &[usize]) -> ColumnData {
        match self {
            ColumnData::F64(a) => ColumnData::F64(a.select(Axis(axis), idx)),
            ColumnData::I64(a) => ColumnData::I64(a.select(Axis(axis), idx)),
            ColumnData::Text(a) => ColumnData::Text(a.select(Axis(axis), idx)),
        }
    }

    /// Number of cells holding the missing value of `kind`.
    pub fn count_missing(&self) -> usize {
        match self {
            ColumnData::F64(a) => a.iter().filter(|v| v.is_nan()).count(),
            ColumnData::I64(a) => a.iter().filter(|v| **v < 0).count(),
            ColumnData::Text(a) => a.iter().filter(|v| v.as_str() == TEXT_SENTINEL).count(),
        }
    }
}

/// One cell's value, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellRef<'a> {
    /// A float cell.
    F64(f64),
    /// An integer cell.
    I64(i64),
    /// A text cell.
    Text(&'a str),
}

/// One cell's value, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A float cell.
    F64(f64),
    /// An integer cell.
    I64(i64),
    /// A text cell.
    Text(String),
}

impl From<Sentinel> for Cell {
    fn from(s: Sentinel) -> Self {
        match s {
            Sentinel::F64(v) => Cell::F64(v),
            Sentinel::I64(v) => Cell::I64(v),
            Sentinel::Text(v) => Cell::Text(v.to_string()),
        }
    }
}

/// One result column: an N-d array over all dims of the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column's name (`name_x` etc. for vec components).
    pub name: String,
    /// The result variable it belongs to.
    pub var: String,
    /// The result variable's kind.
    pub kind: ResultKind,
    /// Metadata (`units`, `long_name`).
    pub attrs: VarAttrs,
    /// The values.
    pub data: ColumnData,
}

impl Column {
    /// A column of `shape` filled with the sentinel of `kind`.
    pub fn new_missing(
        name: impl Into<String>,
        var: impl Into<String>,
        kind: ResultKind,
        shape: &[usize],
    ) -> Self {
        Column {
            name: name.into(),
            var: var.into(),
            kind,
            attrs: VarAttrs::default(),
            data: ColumnData::filled(shape, kind.sentinel()),
        }
    }

    /// The float values, if this is a float column.
    pub fn f64(&self) -> Option<ArrayViewD<'_, f64>> {
        match &self.data {
            ColumnData::F64(a) => Some(a.view()),
            _ => None,
        }
    }
    /// The float values, mutably.
    pub fn f64_mut(&mut self) -> Option<ArrayViewMutD<'_, f64>> {
        match &mut self.data {
            ColumnData::F64(a) => Some(a.view_mut()),
            _ => None,
        }
    }
    /// The integer values, if this is an integer column.
    pub fn i64(&self) -> Option<ArrayViewD<'_, i64>> {
        match &self.data {
            ColumnData::I64(a) => Some(a.view()),
            _ => None,
        }
    }
    /// The text values, if this is a text column.
    pub fn text(&self) -> Option<ArrayViewD<'_, String>> {
        match &self.data {
            ColumnData::Text(a) => Some(a.view()),
            _ => None,
        }
    }
    /// The text values, mutably.
    pub fn text_mut(&mut self) -> Option<ArrayViewMutD<'_, String>> {
        match &mut self.data {
            ColumnData::Text(a) => Some(a.view_mut()),
            _ => None,
        }
    }

    /// The cell at `idx`, or an error naming the column when `idx` does not fit.
    pub fn get(&self, idx: &[usize]) -> Result<CellRef<'_>> {
        let bad = || self.bad_index(idx);
        let ix = IxDyn(idx);
        Ok(match &self.data {
            ColumnData::F64(a) => CellRef::F64(*a.get(ix).ok_or_else(bad)?),
            ColumnData::I64(a) => CellRef::I64(*a.get(ix).ok_or_else(bad)?),
            ColumnData::Text(a) => CellRef::Text(a.get(ix).ok_or_else(bad)?.as_str()),
        })
    }

    /// Sets the cell at `idx`; the value must match the column's storage.
    pub fn set(&mut self, idx: &[usize], value: Cell) -> Result<()> {
        let err = self.bad_index(idx);
        let ix = IxDyn(idx);
        let name = self.name.clone();
        match (&mut self.data, value) {
            (ColumnData::F64(a), Cell::F64(v)) => *a.get_mut(ix).ok_or(err)? = v,
            (ColumnData::I64(a), Cell::I64(v)) => *a.get_mut(ix).ok_or(err)? = v,
            (ColumnData::Text(a), Cell::Text(v)) => *a.get_mut(ix).ok_or(err)? = v,
            (data, v) => {
                return Err(Error::WrongKind {
                    name,
                    expected: format!("{:?}", data.storage()),
                    found: format!("{v:?}"),
                });
            }
        }
        Ok(())
    }

    fn bad_index(&self, idx: &[usize]) -> Error {
        Error::Shape {
            what: format!("column `{}`", self.name),
            message: format!("index {idx:?} is outside shape {:?}", self.data.shape()),
        }
    }
}

/// Dims, result columns and attributes. Every column spans every dim, in
/// dim order, row-major (the last dim varies fastest).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    dims: Vec<Dim>,
    columns: Vec<Column>,
    /// Dataset-level attributes.
    pub attrs: BTreeMap<String, AttrValue>,
}

impl Dataset {
    /// Builds a dataset, checking that names are unique and that every
    /// column has the shape of the dims.
    pub fn from_parts(
        dims: Vec<Dim>,
        columns: Vec<Column>,
        attrs: BTreeMap<String, AttrValue>,
    ) -> Result<Self> {
        let shape: Vec<usize> = dims.iter().map(Dim::len).collect();
        let mut names: Vec<&str> = Vec::new();
        for n in dims
            .iter()
            .map(|d| d.name.as_str())
            .chain(columns.iter().map(|c| c.name.as_str()))
        {
            if names.contains(&n) {
                return Err(Error::Shape {
                    what: "dataset".into(),
                    message: format!("name `{n}` is used twice"),
                });
            }
            names.push(n);
        }
        for c in &columns {
            if c.data.shape() != shape.as_slice() {
                return Err(Error::Shape {
                    what: format!("column `{}`", c.name),
                    message: format!(
                        "shape {:?} does not match the dims {shape:?}",
                        c.data.shape()
                    ),
                });
            }
            if c.data.storage() != c.kind.storage() {
                return Err(Error::WrongKind {
                    name: c.name.clone(),
                    expected: format!(
                        "{:?} storage for a {} result",
                        c.kind.storage(),
                        c.kind.name()
                    ),
                    found: format!("{:?}", c.data.storage()),
                });
            }
        }
        Ok(Dataset {
            dims,
            columns,
            attrs,
        })
    }

    /// The dims, in order.
    pub fn dims(&self) -> &[Dim] {
        &self.dims
    }
    /// Mutable access to the dims' metadata (not their sizes).
    pub fn dim_attrs_mut(&mut self, name: &str) -> Result<&mut VarAttrs> {
        let i = self.dim_index(name)?;
        Ok(&mut self.dims[i].attrs)
    }
    /// Replaces the coordinates of dim `name` with `coords` of the same
    /// length (for instance a cached run's `over_time` label by this run's).
    pub fn set_coords(&mut self, name: &str, coords: Coords) -> Result<()> {
        let i = self.dim_index(name)?;
        if coords.len() != self.dims[i].len() {
            return Err(Error::Shape {
                what: format!("dim `{name}`"),
                message: format!(
                    "{} coordinates for a dim of size {}",
                    coords.len(),
                    self.dims[i].len()
                ),
            });
        }
        self.dims[i].coords = coords;
        Ok(())
    }

    /// The dim names, in order.
    pub fn dim_names(&self) -> Vec<&str> {
        self.dims.iter().map(|d| d.name.as_str()).collect()
    }
    /// The shape: one size per dim.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().map(Dim::len).collect()
    }
    /// The number of cells of each column.
    pub fn cell_count(&self) -> usize {
        self.dims.iter().map(Dim::len).product()
    }
    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }
    /// The columns, mutably. Shapes must not be changed.
    pub fn columns_mut(&mut self) -> &mut [Column] {
        &mut self.columns
    }
    /// Splits into dims (shared) and columns (mutable).
    pub fn split_mut(&mut self) -> (&[Dim], &mut [Column]) {
        (&self.dims, &mut self.columns)
    }
    /// Takes the dataset apart.
    pub fn into_parts(self) -> (Vec<Dim>, Vec<Column>, BTreeMap<String, AttrValue>) {
        (self.dims, self.columns, self.attrs)
    }

    /// The position of dim `name`.
    pub fn dim_index(&self, name: &str) -> Result<usize> {
        self.dims
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| unknown("dim", name, &self.dim_names()))
    }
    /// Dim `name`.
    pub fn dim(&self, name: &str) -> Result<&Dim> {
        Ok(&self.dims[self.dim_index(name)?])
    }
    /// Column `name`.
    pub fn column(&self, name: &str) -> Result<&Column> {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| self.unknown_column(name))
    }
    /// Column `name`, mutably.
    pub fn column_mut(&mut self, name: &str) -> Result<&mut Column> {
        let i = self
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| self.unknown_column(name))?;
        Ok(&mut self.columns[i])
    }
    fn unknown_column(&self, name: &str) -> Error {
        let known: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        unknown("column", name, &known)
    }

    /// The cell of column `name` at coordinate labels `labels` (one per dim,
    /// in dim order).
    pub fn get_by_labels(&self, name: &str, labels: &[Value]) -> Result<CellRef<'_>> {
        if labels.len() != self.dims.len() {
            return Err(Error::Shape {
                what: format!("column `{name}`"),
                message: format!("{} labels for {} dims", labels.len(), self.dims.len()),
            });
        }
        let mut idx = Vec::with_capacity(labels.len());
        for (d, l) in self.dims.iter().zip(labels) {
            idx.push(position_of(d, l)?);
        }
        self.column(name)?.get(&idx)
    }

    /// Selects position `i` of dim `name` and drops that dim (xarray `isel`).
    pub fn isel(&self, name: &str, i: usize) -> Result<Dataset> {
        let axis = self.dim_index(name)?;
        let len = self.dims[axis].len();
        if i >= len {
            return Err(Error::Shape {
                what: format!("dim `{name}`"),
                message: format!("position {i} is outside 0..{len}"),
            });
        }
        let dims = self
            .dims
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != axis)
            .map(|(_, d)| d.clone())
            .collect();
        let columns = self
            .columns
            .iter()
            .map(|c| Column {
                data: c.data.index_axis(axis, i),
                ..c.clone_meta()
            })
            .collect();
        Ok(Dataset {
            dims,
            columns,
            attrs: self.attrs.clone(),
        })
    }

    /// Selects the coordinate `label` of dim `name` and drops that dim
    /// (xarray `sel` with a scalar).
    pub fn sel(&self, name: &str, label: impl Into<Value>) -> Result<Dataset> {
        let label = label.into();
        let d = self.dim(name)?;
        let i = position_of(d, &label)?;
        self.isel(name, i)
    }

    /// Keeps positions `idx` of dim `name`, in that order.
    pub fn take(&self, name: &str, idx: &[usize]) -> Result<Dataset> {
        let axis = self.dim_index(name)?;
        let len = self.dims[axis].len();
        if let Some(bad) = idx.iter().find(|&&i| i >= len) {
            return Err(Error::Shape {
                what: format!("dim `{name}`"),
                message: format!("position {bad} is outside 0..{len}"),
            });
        }
        let mut dims = self.dims.clone();
        dims[axis].coords = dims[axis].coords.take(idx);
        let columns = self
            .columns
            .iter()
            .map(|c| Column {
                data: c.data.select(axis, idx),
                ..c.clone_meta()
            })
            .collect();
        Ok(Dataset {
            dims,
            columns,
            attrs: self.attrs.clone(),
        })
    }

    /// Whether `other` can be joined with this dataset along `over_time`:
    /// same non-time dims (names and coordinate values) and the same kind
    /// of `over_time` coordinate. `Err` says what differs.
    pub fn history_compatible(&self, other: &Dataset) -> std::result::Result<(), String> {
        let a: Vec<&Dim> = self
            .dims
            .iter()
            .filter(|d| d.name != OVER_TIME_DIM)
            .collect();
        let b: Vec<&Dim> = other
            .dims
            .iter()
            .filter(|d| d.name != OVER_TIME_DIM)
            .collect();
        let names = |v: &[&Dim]| v.iter().map(|d| d.name.clone()).collect::<Vec<_>>();
        if names(&a) != names(&b) {
            return Err(format!("dims differ: {:?} vs {:?}", names(&a), names(&b)));
        }
        for (x, y) in a.iter().zip(&b) {
            if !x.coords.same_as(&y.coords) {
                return Err(format!(
                    "coordinates of dim `{}` differ ({} {} values vs {} {} values)",
                    x.name,
                    x.coords.len(),
                    x.coords.kind_name(),
                    y.coords.len(),
                    y.coords.kind_name()
                ));
            }
        }
        let tk = |d: &Dataset| {
            d.dims
                .iter()
                .find(|d| d.name == OVER_TIME_DIM)
                .map(|d| d.coords.kind_name())
        };
        if tk(self) != tk(other) {
            let name =
                |k: Option<&str>| k.map_or_else(|| "no over_time".to_string(), |k| format!("{k}s"));
            return Err(format!(
                "over_time kinds differ: the history holds {}, the run {}",
                name(tk(self)),
                name(tk(other))
            ));
        }
        Ok(())
    }

    /// Concatenates datasets along their last dim, `over_time`. All parts
    /// must be [`history_compatible`](Self::history_compatible). Columns
    /// missing from some parts (a result added later) are filled with
    /// their sentinel there; column order follows first appearance.
    pub fn concat_over_time(parts: &[Dataset]) -> Result<Dataset> {
        let Some(first) = parts.first() else {
            return Err(Error::Shape {
                what: "over_time".into(),
                message: "nothing to concatenate".into(),
            });
        };
        let last = first.dims.last().map(|d| d.name.as_str());
        if last != Some(OVER_TIME_DIM) {
            return Err(Error::Shape {
                what: "over_time".into(),
                message: format!("the last dim is {last:?}, not `over_time`"),
            });
        }
        for p in &parts[1..] {
            first.history_compatible(p).map_err(|m| Error::Shape {
                what: "over_time".into(),
                message: m,
            })?;
        }
        let n = first.dims.len();
        let time = concat_coords(parts.iter().map(|p| &p.dims[n - 1].coords)).ok_or_else(|| {
            Error::Shape {
                what: "over_time".into(),
                message: "over_time kinds differ".into(),
            }
        })?;
        let mut dims = first.dims.clone();
        dims[n - 1].coords = time;
        let shape: Vec<usize> = dims.iter().map(Dim::len).collect();

        // Column order: first appearance.
        let mut metas: Vec<&Column> = Vec::new();
        for p in parts {
            for c in &p.columns {
                if !metas.iter().any(|m| m.name == c.name) {
                    metas.push(c);
                }
            }
        }
        let mut columns = Vec::with_capacity(metas.len());
        for m in metas {
            let blocks: Vec<(usize, Option<&ColumnData>)> = parts
                .iter()
                .map(|p| {
                    let data = p.columns.iter().find(|c| c.name == m.name).map(|c| &c.data);
                    (p.dims[n - 1].len(), data)
                })
                .collect();
            if let Some(bad) = blocks
                .iter()
                .filter_map(|(_, d)| *d)
                .find(|d| d.storage() != m.data.storage())
            {
                return Err(Error::WrongKind {
                    name: m.name.clone(),
                    expected: format!("{:?}", m.data.storage()),
                    found: format!("{:?}", bad.storage()),
                });
            }
            columns.push(Column {
                data: time_major(&shape, m.kind.sentinel(), &blocks),
                ..m.clone_meta()
            });
        }
        Ok(Dataset {
            dims,
            columns,
            attrs: parts[parts.len() - 1].attrs.clone(),
        })
    }
}

/// The coordinates of `parts` one after another, in one allocation;
/// `None` when their kinds differ.
fn concat_coords<'a>(mut parts: impl Iterator<Item = &'a Coords> + Clone) -> Option<Coords> {
    fn cat<'a, T: Clone + 'a>(
        parts: impl Iterator<Item = &'a Coords>,
        get: impl Fn(&'a Coords) -> Option<&'a Vec<T>>,
    ) -> Option<Vec<T>> {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(get(p)?);
        }
        Some(out)
    }
    let all = parts.clone();
    Some(match parts.next()? {
        Coords::Float(_) => Coords::Float(cat(all, |c| match c {
            Coords::Float(v) => Some(v),
            _ => None,
        })?),
        Coords::Int(_) => Coords::Int(cat(all, |c| match c {
            Coords::Int(v) => Some(v),
            _ => None,
        })?),
        Coords::Str(_) => Coords::Str(cat(all, |c| match c {
            Coords::Str(v) => Some(v),
            _ => None,
        })?),
        Coords::Bool(_) => Coords::Bool(cat(all, |c| match c {
            Coords::Bool(v) => Some(v),
            _ => None,
        })?),
        Coords::Time(_) => Coords::Time(cat(all, |c| match c {
            Coords::Time(v) => Some(v),
            _ => None,
        })?),
        Coords::Label(_) => Coords::Label(cat(all, |c| match c {
            Coords::Label(v) => Some(v),
            _ => None,
        })?),
    })
}

/// An array of `shape` (its last axis `over_time`) over `buf` laid out
/// time-major: all cells of the first time position in row-major order,
/// then those of the second, and so on. No copy: the array's memory order
/// is not the standard one (a reader that needs a contiguous slice calls
/// `as_standard_layout`). This is how a history is read: each event fills
/// one contiguous run.
///
/// ```
/// use collector_core::time_major_array;
/// // 2 cells x 3 times; time 0 holds [1, 2], time 1 [3, 4], time 2 [5, 6].
/// let a = time_major_array(&[2, 3], vec![1, 2, 3, 4, 5, 6])?;
/// assert_eq!(a[[0, 2]], 5);
/// assert_eq!(a[[1, 0]], 2);
/// # Ok::<(), collector_core::Error>(())
/// ```
pub fn time_major_array<T>(shape: &[usize], buf: Vec<T>) -> Result<ArrayD<T>> {
    time_major_array_at(shape, buf, 0)
}

/// [`time_major_array`] over the cells of `buf` from `at` on (as many as
/// `shape` holds; the others are kept, unread, with the array's memory).
/// No copy: the array's data starts at `buf[at]`. A reader lays out a
/// large buffer so that its cells start on a huge-page boundary.
///
/// ```
/// use collector_core::time_major_array_at;
/// // One padding value, then 2 cells x 2 times.
/// let buf = vec![9, 1, 2, 3, 4, 8];
/// let start = buf[1..].as_ptr();
/// let a = time_major_array_at(&[2, 2], buf, 1)?;
/// assert_eq!(a[[1, 1]], 4);
/// assert_eq!(a.as_ptr(), start);
/// assert!(time_major_array_at(&[2, 2], vec![1, 2, 3], 0).is_err());
/// # Ok::<(), collector_core::Error>(())
/// ```
pub fn time_major_array_at<T>(shape: &[usize], buf: Vec<T>, at: usize) -> Result<ArrayD<T>> {
    let Some((&t, inner)) = shape.split_last() else {
        return Err(Error::Shape {
            what: "over_time".into(),
            message: "a time-major array needs at least one axis".into(),
        });
    };
    let n = shape.len();
    let mut tm_shape = vec![t];
    tm_shape.extend_from_slice(inner);
    let mut back: Vec<usize> = (1..n).collect();
    back.push(0);
    let len = buf.len();
    let bad = |e: String| Error::Shape {
        what: "over_time".into(),
        message: format!("{len} values from {at} for shape {shape:?}: {e}"),
    };
    let cells = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad("the shape overflows".into()))?;
    let end = at
        .checked_add(cells)
        .filter(|&e| e <= len)
        .ok_or_else(|| bad(format!("{cells} cells do not fit")))?;
    let cells = if at == 0 && end == len {
        ndarray::Array1::from_vec(buf)
    } else {
        ndarray::Array1::from_vec(buf).slice_move(ndarray::s![at..end])
    };
    cells
        .into_shape_with_order(IxDyn(&tm_shape))
        .map(|a| a.permuted_axes(IxDyn(&back)))
        .map_err(|e| bad(e.to_string()))
}

/// One column of a history: each block's cells (a part's `tp` time
/// positions, or its sentinel when the part lacks the column) laid out
/// time-major in memory (all cells of time 0, then of time 1, ...), so a
/// part is copied in whole runs instead of one cell every `over_time`
/// length; the array is then viewed with `over_time` as its last axis.
/// Its memory order is not the standard one: readers that need a slice
/// ask for `as_standard_layout`.
fn time_major(
    shape: &[usize],
    sentinel: Sentinel,
    blocks: &[(usize, Option<&ColumnData>)],
) -> ColumnData {
    fn go<T: Clone>(
        shape: &[usize],
        fill: &T,
        blocks: &[(usize, Option<&ArrayD<T>>)],
    ) -> ArrayD<T> {
        let n = shape.len();
        let inner: usize = shape[..n - 1].iter().product();
        let mut buf: Vec<T> = Vec::with_capacity(inner * shape[n - 1]);
        for (tp, src) in blocks {
            match src {
                None => buf.extend(std::iter::repeat_n(fill, inner * tp).cloned()),
                // One time position: the part's cells in their order.
                Some(a) if *tp == 1 && a.is_standard_layout() => {
                    buf.extend_from_slice(a.as_slice().unwrap_or_default());
                }
                // Several: time-major order of the part.
                Some(a) => {
                    let mut order: Vec<usize> = vec![n - 1];
                    order.extend(0..n - 1);
                    buf.extend(a.view().permuted_axes(IxDyn(&order)).iter().cloned());
                }
            }
        }
        match time_major_array(shape, buf) {
            Ok(a) => a,
            // The blocks were sized from the same dims: never reached.
            Err(_) => ArrayD::from_elem(IxDyn(shape), fill.clone()),
        }
    }
    fn of<'a, T>(
        blocks: &[(usize, Option<&'a ColumnData>)],
        pick: impl Fn(&'a ColumnData) -> Option<&'a ArrayD<T>>,
    ) -> Vec<(usize, Option<&'a ArrayD<T>>)> {
        blocks
            .iter()
            .map(|(tp, d)| (*tp, d.and_then(&pick)))
            .collect()
    }
    match sentinel {
        Sentinel::F64(v) => ColumnData::F64(go(
            shape,
            &v,
            &of(blocks, |d| match d {
                ColumnData::F64(a) => Some(a),
                _ => None,
            }),
        )),
        Sentinel::I64(v) => ColumnData::I64(go(
            shape,
            &v,
            &of(blocks, |d| match d {
                ColumnData::I64(a) => Some(a),
                _ => None,
            }),
        )),
        Sentinel::Text(v) => ColumnData::Text(go(
            shape,
            &v.to_string(),
            &of(blocks, |d| match d {
                ColumnData::Text(a) => Some(a),
                _ => None,
            }),
        )),
    }
}

impl Column {
    fn clone_meta(&self) -> Column {
        Column {
            name: self.name.clone(),
            var: self.var.clone(),
            kind: self.kind,
            attrs: self.attrs.clone(),
            data: ColumnData::F64(ArrayD::zeros(IxDyn(&[0]))),
        }
    }
}

fn position_of(d: &Dim, label: &Value) -> Result<usize> {
    d.coords.position(label).ok_or_else(|| Error::UnknownName {
        what: "coordinate",
        name: label.to_string(),
        hint: format!(
            " in dim `{}` ({} {} values)",
            d.name,
            d.len(),
            d.coords.kind_name()
        ),
    })
}
