//! Scalar values and coordinate vectors.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One scalar value: an input's sample value, a constant, or a coordinate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// A float.
    Float(f64),
    /// An integer.
    Int(i64),
    /// A string or enum label.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A UTC timestamp, in nanoseconds since the Unix epoch.
    Time(i64),
}

impl Value {
    /// The kind's name, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Float(_) => "float",
            Value::Int(_) => "int",
            Value::Str(_) => "string",
            Value::Bool(_) => "bool",
            Value::Time(_) => "timestamp",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Float(v) => write!(f, "{v}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Str(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Time(ns) => write!(f, "{}", format_time_ns(*ns)),
        }
    }
}

/// Formats nanoseconds since the epoch as an ISO-8601 UTC timestamp.
pub fn format_time_ns(ns: i64) -> String {
    let dt = chrono::DateTime::from_timestamp_nanos(ns);
    dt.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

/// The coordinate values of one dim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Coords {
    /// Float samples.
    Float(Vec<f64>),
    /// Integer samples (also the `repeat` dim).
    Int(Vec<i64>),
    /// String or enum labels.
    Str(Vec<String>),
    /// Booleans.
    Bool(Vec<bool>),
    /// UTC timestamps in nanoseconds (the `over_time` dim of timestamped runs).
    Time(Vec<i64>),
    /// Event labels (the `over_time` dim of labelled runs).
    Label(Vec<String>),
}

impl Coords {
    /// Number of coordinates.
    pub fn len(&self) -> usize {
        match self {
            Coords::Float(v) => v.len(),
            Coords::Int(v) | Coords::Time(v) => v.len(),
            Coords::Str(v) | Coords::Label(v) => v.len(),
            Coords::Bool(v) => v.len(),
        }
    }

    /// Whether there are no coordinates.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind's name, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Coords::Float(_) => "float",
            Coords::Int(_) => "int",
            Coords::Str(_) => "string",
            Coords::Bool(_) => "bool",
            Coords::Time(_) => "timestamp",
            Coords::Label(_) => "label",
        }
    }

    /// The `i`-th coordinate as a [`Value`], or `None` past the end.
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Coords::Float(v) => Value::Float(*v.get(i)?),
            Coords::Int(v) => Value::Int(*v.get(i)?),
            Coords::Str(v) | Coords::Label(v) => Value::Str(v.get(i)?.clone()),
            Coords::Bool(v) => Value::Bool(*v.get(i)?),
            Coords::Time(v) => Value::Time(*v.get(i)?),
        })
    }

    /// The position of the coordinate equal to `value`. Floats compare by
    /// value, with `-0.0 == 0.0`; an int value matches a float coordinate.
    pub fn position(&self, value: &Value) -> Option<usize> {
        match (self, value) {
            (Coords::Float(v), Value::Float(x)) => v.iter().position(|c| c == x),
            #[allow(
                clippy::cast_precision_loss,
                reason = "looking up an int label among floats"
            )]
            (Coords::Float(v), Value::Int(x)) => v.iter().position(|c| *c == *x as f64),
            (Coords::Int(v), Value::Int(x)) | (Coords::Time(v), Value::Time(x)) => {
                v.iter().position(|c| c == x)
            }
            (Coords::Str(v) | Coords::Label(v), Value::Str(x)) => v.iter().position(|c| c == x),
            (Coords::Bool(v), Value::Bool(x)) => v.iter().position(|c| c == x),
            _ => None,
        }
    }

    /// Exact equality, comparing floats by bits so that a NaN-free grid
    /// and itself always match.
    pub fn same_as(&self, other: &Coords) -> bool {
        match (self, other) {
            (Coords::Float(a), Coords::Float(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            _ => self == other,
        }
    }

    /// A new `Coords` holding the coordinates at `positions`, in that order.
    pub fn take(&self, positions: &[usize]) -> Coords {
        fn pick<T: Clone>(v: &[T], p: &[usize]) -> Vec<T> {
            p.iter().map(|&i| v[i].clone()).collect()
        }
        match self {
            Coords::Float(v) => Coords::Float(pick(v, positions)),
            Coords::Int(v) => Coords::Int(pick(v, positions)),
            Coords::Str(v) => Coords::Str(pick(v, positions)),
            Coords::Bool(v) => Coords::Bool(pick(v, positions)),
            Coords::Time(v) => Coords::Time(pick(v, positions)),
            Coords::Label(v) => Coords::Label(pick(v, positions)),
        }
    }

    /// Appends `other`'s coordinates; `None` when the kinds differ.
    pub fn concat(&self, other: &Coords) -> Option<Coords> {
        fn cat<T: Clone>(a: &[T], b: &[T]) -> Vec<T> {
            let mut v = Vec::with_capacity(a.len() + b.len());
            v.extend_from_slice(a);
            v.extend_from_slice(b);
            v
        }
        Some(match (self, other) {
            (Coords::Float(a), Coords::Float(b)) => Coords::Float(cat(a, b)),
            (Coords::Int(a), Coords::Int(b)) => Coords::Int(cat(a, b)),
            (Coords::Str(a), Coords::Str(b)) => Coords::Str(cat(a, b)),
            (Coords::Bool(a), Coords::Bool(b)) => Coords::Bool(cat(a, b)),
            (Coords::Time(a), Coords::Time(b)) => Coords::Time(cat(a, b)),
            (Coords::Label(a), Coords::Label(b)) => Coords::Label(cat(a, b)),
            _ => return None,
        })
    }
}
