//! The dataset as JSON, with its failures, and a reader for it.
//!
//! ```text
//! { "schema_version": 2,
//!   "dims":     [{ "name", "size", "kind", "units", "long_name", "description", "coords": [...] }],
//!   "columns":  [{ "name", "var", "kind", "dtype", "units", "long_name", "description",
//!                  "missing", "data": [...] }],
//!   "failures": [{ "job", "kind", "message", "inputs": [{ "name", "kind", "value" }] }],
//!   "attributes": { "name": value } }
//! ```
//!
//! `data` is the column flattened row-major (the last dim varies fastest)
//! over the dims in their listed order.
//!
//! The export is lossless: reading it back gives the dataset and the
//! failures that were written, every name and text as it was (JSON
//! escapes control characters and quotes) and every float bit for bit,
//! with one exception: JSON has no NaN, so a NaN is written as `null` and
//! reads back as the canonical NaN (`f64::NAN`) whatever its sign and
//! payload bits. In float cells, coordinates and values:
//!
//! - a finite float is a JSON number (shortest form that parses back to
//!   the same bits; `-0.0` stays `-0.0`);
//! - NaN, which is also the missing value of float results, is `null`;
//! - the infinities are the strings `"Infinity"` and `"-Infinity"` (what
//!   Python's `float()` and JavaScript's `Number()` parse).
//!
//! A float attribute is a JSON number with a fraction or an exponent (an
//! integer attribute has neither), `null` for NaN, and
//! `{"float": "Infinity"}` or `{"float": "-Infinity"}` for the infinities,
//! so that it cannot be read back as the text `"Infinity"`.
//!
//! Missing text cells (the sentinel `"NAN"`) and missing references (-1)
//! are `null` too; any other reference, negative or not, is a number.
//! Timestamps are ISO-8601 UTC strings; `kind` says how to read them back.
//!
//! Version 1 wrote the infinities as `null` (so they read back as NaN) and
//! every negative reference as `null`; this reader reads both versions.

use std::collections::BTreeMap;
use std::path::Path;

use collector_core::{
    AttrValue, Column, ColumnData, Coords, Dataset, Dim, FailureKind, ResultKind, SampleFailure,
    TEXT_SENTINEL, Value, VarAttrs, format_time_ns,
};
use ndarray::{ArrayD, IxDyn};
use serde_json::{Map, Value as J, json};

use crate::error::{Error, Result, format_err};

/// The version of the JSON layout. Bump it when a reader of the previous
/// version would misread a file of the new one (a renamed or retyped
/// field); adding a field does not need a bump. Version 2 (lossless
/// floats) writes the infinities as strings where version 1 wrote `null`.
pub const SCHEMA_VERSION: u64 = 2;

/// The oldest version [`from_json`] reads.
const OLDEST_VERSION: u64 = 1;

/// How `+inf` and `-inf` are written in float positions.
const POS_INF: &str = "Infinity";
const NEG_INF: &str = "-Infinity";

/// What a JSON export holds.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonExport {
    /// The dataset.
    pub dataset: Dataset,
    /// The failed samples.
    pub failures: Vec<SampleFailure>,
}

/// A float in a cell, a coordinate or a value: see the module doc.
fn num(x: f64) -> J {
    match serde_json::Number::from_f64(x) {
        Some(n) => J::Number(n),
        None if x == f64::INFINITY => J::from(POS_INF),
        None if x == f64::NEG_INFINITY => J::from(NEG_INF),
        None => J::Null,
    }
}

/// A float attribute: like [`num`], but the infinities in an object, so
/// that they do not read back as text.
fn attr_num(x: f64) -> J {
    if x.is_infinite() {
        json!({ "float": num(x) })
    } else {
        num(x)
    }
}

fn value_json(v: &Value) -> J {
    match v {
        Value::Float(x) => num(*x),
        Value::Int(x) => json!(x),
        Value::Str(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::Time(t) => json!(format_time_ns(*t)),
    }
}

fn coords_json(c: &Coords) -> J {
    match c {
        Coords::Float(v) => v.iter().map(|x| num(*x)).collect(),
        Coords::Int(v) => json!(v),
        Coords::Str(v) | Coords::Label(v) => json!(v),
        Coords::Bool(v) => json!(v),
        Coords::Time(v) => v.iter().map(|t| json!(format_time_ns(*t))).collect(),
    }
}

fn column_json(c: &Column) -> J {
    let (dtype, data): (&str, J) = match &c.data {
        ColumnData::F64(a) => ("float64", a.iter().map(|x| num(*x)).collect()),
        ColumnData::I64(a) => (
            "int64",
            a.iter()
                .map(|x| {
                    if *x == collector_core::REFERENCE_SENTINEL {
                        J::Null
                    } else {
                        json!(x)
                    }
                })
                .collect(),
        ),
        // Only the sentinel is missing here: an empty string is a value of
        // a string result (what `count_missing` counts, too), so it is kept.
        ColumnData::Text(a) => (
            "string",
            a.iter()
                .map(|s| {
                    if s == TEXT_SENTINEL {
                        J::Null
                    } else {
                        json!(s)
                    }
                })
                .collect(),
        ),
    };
    json!({
        "name": c.name,
        "var": c.var,
        "kind": c.kind.name(),
        "dtype": dtype,
        "units": c.attrs.units,
        "long_name": c.attrs.long_name,
        "description": c.attrs.description,
        "missing": c.data.count_missing(),
        "data": data,
    })
}

fn failure_json(f: &SampleFailure) -> J {
    let inputs: Vec<J> = f
        .inputs
        .iter()
        .map(|(n, v)| json!({ "name": n, "kind": v.kind_name(), "value": value_json(v) }))
        .collect();
    json!({
        "job": f.job,
        "kind": failure_kind_name(f.kind),
        "message": f.message,
        "inputs": inputs,
    })
}

fn failure_kind_name(k: FailureKind) -> &'static str {
    match k {
        FailureKind::Error => "error",
        FailureKind::Panic => "panic",
        // FailureKind is not non_exhaustive today; a new variant will show
        // up here as a compile error, which is the point.
        FailureKind::Contract => "contract",
    }
}

/// The JSON document of `ds` and its `failures`.
pub fn to_json(ds: &Dataset, failures: &[SampleFailure]) -> J {
    let dims: Vec<J> = ds
        .dims()
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "size": d.len(),
                "kind": d.coords.kind_name(),
                "units": d.attrs.units,
                "long_name": d.attrs.long_name,
                "description": d.attrs.description,
                "coords": coords_json(&d.coords),
            })
        })
        .collect();
    let attrs: Map<String, J> = ds
        .attrs
        .iter()
        .map(|(k, v)| {
            let j = match v {
                AttrValue::Str(s) => json!(s),
                AttrValue::Int(i) => json!(i),
                AttrValue::Float(x) => attr_num(*x),
            };
            (k.clone(), j)
        })
        .collect();
    json!({
        "schema_version": SCHEMA_VERSION,
        "dims": dims,
        "columns": ds.columns().iter().map(column_json).collect::<Vec<_>>(),
        "failures": failures.iter().map(failure_json).collect::<Vec<_>>(),
        "attributes": attrs,
    })
}

/// Writes the JSON document of `ds` and `failures` to the file `path`.
pub fn write_json(ds: &Dataset, failures: &[SampleFailure], path: impl AsRef<Path>) -> Result<()> {
    crate::atomic::write_whole(path.as_ref(), |path| {
        let f = std::fs::File::create(path).map_err(crate::error::io(path))?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer_pretty(&mut w, &to_json(ds, failures)).map_err(|source| {
            Error::Json {
                path: path.to_path_buf(),
                source,
            }
        })?;
        std::io::Write::flush(&mut w).map_err(crate::error::io(path))?;
        Ok(())
    })
}

/// Reads a file written by [`write_json`].
pub fn read_json(path: impl AsRef<Path>) -> Result<JsonExport> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(crate::error::io(path))?;
    let doc: J = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    from_json(&doc).map_err(|e| match e {
        Error::Format { what, message } => Error::Format {
            what: format!("{}: {what}", path.display()),
            message,
        },
        e => e,
    })
}

/// Parses an ISO-8601 / RFC 3339 time into nanoseconds since the epoch.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    if !(s.contains('T') && (s.ends_with('Z') || s.contains('+'))) {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()?
        .timestamp_nanos_opt()
}

struct Obj<'a> {
    what: String,
    map: &'a Map<String, J>,
}

impl<'a> Obj<'a> {
    fn new(what: impl Into<String>, v: &'a J) -> Result<Self> {
        let what = what.into();
        let map = v
            .as_object()
            .ok_or_else(|| format_err(&what, "not an object"))?;
        Ok(Obj { what, map })
    }
    fn get(&self, key: &str) -> Result<&'a J> {
        self.map
            .get(key)
            .ok_or_else(|| format_err(&self.what, format!("no field `{key}`")))
    }
    fn str(&self, key: &str) -> Result<&'a str> {
        self.get(key)?
            .as_str()
            .ok_or_else(|| format_err(&self.what, format!("`{key}` is not a string")))
    }
    /// A string field that older or hand-written files may leave out.
    fn str_or_empty(&self, key: &str) -> String {
        self.map
            .get(key)
            .and_then(J::as_str)
            .unwrap_or_default()
            .to_string()
    }
    fn usize(&self, key: &str) -> Result<usize> {
        self.get(key)?
            .as_u64()
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| format_err(&self.what, format!("`{key}` is not a count")))
    }
    fn array(&self, key: &str) -> Result<&'a Vec<J>> {
        self.get(key)?
            .as_array()
            .ok_or_else(|| format_err(&self.what, format!("`{key}` is not an array")))
    }
    fn bad(&self, message: impl Into<String>) -> Error {
        format_err(&self.what, message)
    }
}

/// The float that [`num`] wrote (`"NaN"` is read too, for hand-written
/// files).
fn f64_of(v: &J) -> Option<f64> {
    match v {
        J::Null => Some(f64::NAN),
        J::Number(n) => n.as_f64(),
        J::String(s) => match s.as_str() {
            POS_INF => Some(f64::INFINITY),
            NEG_INF => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    }
}

fn collect<T>(o: &Obj<'_>, items: &[J], what: &str, f: impl Fn(&J) -> Option<T>) -> Result<Vec<T>> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| f(v).ok_or_else(|| o.bad(format!("{what} {i} is not valid: {v}"))))
        .collect()
}

fn parse_coords(o: &Obj<'_>, kind: &str, items: &[J]) -> Result<Coords> {
    let s = |v: &J| v.as_str().map(str::to_string);
    Ok(match kind {
        "float" => Coords::Float(collect(o, items, "coordinate", f64_of)?),
        "int" => Coords::Int(collect(o, items, "coordinate", J::as_i64)?),
        "string" => Coords::Str(collect(o, items, "coordinate", s)?),
        "label" => Coords::Label(collect(o, items, "coordinate", s)?),
        "bool" => Coords::Bool(collect(o, items, "coordinate", J::as_bool)?),
        "timestamp" => Coords::Time(collect(o, items, "coordinate", |v| {
            parse_time(v.as_str()?)
        })?),
        other => return Err(o.bad(format!("unknown coordinate kind `{other}`"))),
    })
}

fn parse_value(o: &Obj<'_>, kind: &str, v: &J) -> Result<Value> {
    let bad = || o.bad(format!("value {v} is not a {kind}"));
    Ok(match kind {
        "float" => Value::Float(f64_of(v).ok_or_else(bad)?),
        "int" => Value::Int(v.as_i64().ok_or_else(bad)?),
        "string" => Value::Str(v.as_str().ok_or_else(bad)?.to_string()),
        "bool" => Value::Bool(v.as_bool().ok_or_else(bad)?),
        "timestamp" => Value::Time(v.as_str().and_then(parse_time).ok_or_else(bad)?),
        other => return Err(o.bad(format!("unknown value kind `{other}`"))),
    })
}

fn parse_column(v: &J, i: usize, shape: &[usize]) -> Result<Column> {
    let o = Obj::new(format!("column {i}"), v)?;
    let name = o.str("name")?.to_string();
    let o = Obj::new(format!("column `{name}`"), v)?;
    let kind_s = o.str("kind")?;
    let kind = kind_s
        .parse::<ResultKind>()
        .map_err(|_| o.bad(format!("unknown kind `{kind_s}`")))?;
    let items = o.array("data")?;
    let n: usize = shape.iter().product();
    if items.len() != n {
        return Err(o.bad(format!("{} cells for dims of shape {shape:?}", items.len())));
    }
    let sh = IxDyn(shape);
    let shape_err = |e: ndarray::ShapeError| o.bad(e.to_string());
    let data = match kind.storage() {
        collector_core::Storage::F64 => ColumnData::F64(
            ArrayD::from_shape_vec(sh, collect(&o, items, "cell", f64_of)?).map_err(shape_err)?,
        ),
        collector_core::Storage::I64 => {
            let cells = collect(&o, items, "cell", |v| {
                if v.is_null() {
                    Some(collector_core::REFERENCE_SENTINEL)
                } else {
                    v.as_i64()
                }
            })?;
            ColumnData::I64(ArrayD::from_shape_vec(sh, cells).map_err(shape_err)?)
        }
        collector_core::Storage::Text => {
            let cells = collect(&o, items, "cell", |v| {
                if v.is_null() {
                    Some(TEXT_SENTINEL.to_string())
                } else {
                    v.as_str().map(str::to_string)
                }
            })?;
            ColumnData::Text(ArrayD::from_shape_vec(sh, cells).map_err(shape_err)?)
        }
    };
    Ok(Column {
        var: o
            .map
            .get("var")
            .and_then(J::as_str)
            .unwrap_or(&name)
            .to_string(),
        kind,
        attrs: VarAttrs {
            long_name: o.str_or_empty("long_name"),
            units: o.str_or_empty("units"),
            description: o.str_or_empty("description"),
        },
        data,
        name,
    })
}

/// Parses a JSON document made by [`to_json`].
pub fn from_json(doc: &J) -> Result<JsonExport> {
    let root = Obj::new("document", doc)?;
    let version = root
        .get("schema_version")?
        .as_u64()
        .ok_or_else(|| root.bad("`schema_version` is not a number"))?;
    if !(OLDEST_VERSION..=SCHEMA_VERSION).contains(&version) {
        return Err(root.bad(format!(
            "schema_version {version}; this reader knows {OLDEST_VERSION} to {SCHEMA_VERSION}"
        )));
    }
    let mut dims = Vec::new();
    for (i, d) in root.array("dims")?.iter().enumerate() {
        let o = Obj::new(format!("dim {i}"), d)?;
        let name = o.str("name")?.to_string();
        let o = Obj::new(format!("dim `{name}`"), d)?;
        let coords = parse_coords(&o, o.str("kind")?, o.array("coords")?)?;
        if coords.len() != o.usize("size")? {
            return Err(o.bad(format!(
                "size {} but {} coordinates",
                o.usize("size")?,
                coords.len()
            )));
        }
        dims.push(Dim {
            attrs: VarAttrs {
                long_name: o.str_or_empty("long_name"),
                units: o.str_or_empty("units"),
                description: o.str_or_empty("description"),
            },
            name,
            coords,
        });
    }
    let shape: Vec<usize> = dims.iter().map(Dim::len).collect();
    let columns = root
        .array("columns")?
        .iter()
        .enumerate()
        .map(|(i, c)| parse_column(c, i, &shape))
        .collect::<Result<Vec<_>>>()?;
    let mut attrs = BTreeMap::new();
    if let Some(a) = doc.get("attributes") {
        let o = Obj::new("attributes", a)?;
        for (k, v) in o.map {
            let a = match v {
                J::String(s) => AttrValue::Str(s.clone()),
                J::Null => AttrValue::Float(f64::NAN),
                J::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => AttrValue::Int(i),
                    (None, Some(x)) => AttrValue::Float(x),
                    (None, None) => {
                        return Err(o.bad(format!("`{k}` is not an i64 or an f64: {n}")));
                    }
                },
                J::Object(m) if m.len() == 1 && m.contains_key("float") => {
                    match m.get("float").and_then(f64_of) {
                        Some(x) => AttrValue::Float(x),
                        None => return Err(o.bad(format!("`{k}` is not a float: {v}"))),
                    }
                }
                other => return Err(o.bad(format!("`{k}` is not a string or a number: {other}"))),
            };
            attrs.insert(k.clone(), a);
        }
    }
    let mut failures = Vec::new();
    for (i, f) in root.array("failures")?.iter().enumerate() {
        let o = Obj::new(format!("failure {i}"), f)?;
        let kind = match o.str("kind")? {
            "error" => FailureKind::Error,
            "panic" => FailureKind::Panic,
            "contract" => FailureKind::Contract,
            other => return Err(o.bad(format!("unknown failure kind `{other}`"))),
        };
        let mut inputs = Vec::new();
        for inp in o.array("inputs")? {
            let io = Obj::new(format!("failure {i} input"), inp)?;
            let v = parse_value(&io, io.str("kind")?, io.get("value")?)?;
            inputs.push((io.str("name")?.to_string(), v));
        }
        failures.push(SampleFailure {
            job: o.usize("job")?,
            inputs,
            kind,
            message: o.str("message")?.to_string(),
        });
    }
    Ok(JsonExport {
        dataset: Dataset::from_parts(dims, columns, attrs)?,
        failures,
    })
}
