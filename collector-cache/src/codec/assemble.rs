//! Reading a whole history back in one pass: each event record is decoded
//! in place (its numeric cells stay the stored bytes) and copied straight
//! into the history's arrays, which are laid out time-major so that each
//! event fills one contiguous run per column. No per-event dataset is
//! built.

use std::collections::BTreeMap;

use collector_core::{
    AttrValue, Column, ColumnData, Coords, Dataset, Dim, OVER_TIME_DIM, ResultKind, Sentinel,
    VarAttrs, time_major_array,
};

use super::dataset::{DataRec, copy_f64s, copy_i64s};
use super::envelope::{Corrupt, corrupt, payload, unseal};
use super::{EventRec, KIND_EVENT};

/// One column of the history being read: what the history calls it.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPlan {
    /// Its name in the history.
    pub(crate) name: String,
    /// Its result variable.
    pub(crate) var: String,
    /// Its kind (events holding it with another kind are not read into it).
    pub(crate) kind: ResultKind,
}

enum Buf {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Text(Vec<String>),
}

struct Out {
    plan: ColumnPlan,
    /// The attributes of the newest event holding it.
    attrs: Option<VarAttrs>,
    buf: Buf,
}

/// A history being read, event by event in time order.
pub(crate) struct Assembler {
    schema: Vec<Dim>,
    inner: usize,
    columns: Vec<Out>,
    /// The `over_time` coordinates so far (their kind is the first
    /// event's).
    times: Option<Coords>,
    events: usize,
    time_attrs: VarAttrs,
    attrs: BTreeMap<String, AttrValue>,
}

impl Assembler {
    /// A reader for up to `events` events of `schema` (the non-time dims)
    /// with `plans` as its columns.
    pub(crate) fn new(
        schema: Vec<Dim>,
        plans: Vec<ColumnPlan>,
        events: usize,
    ) -> Result<Self, Corrupt> {
        let inner = schema
            .iter()
            .try_fold(1usize, |a, d| a.checked_mul(d.len()))
            .ok_or_else(|| corrupt("the history's shape overflows".to_string()))?;
        let cells = inner
            .checked_mul(events)
            .ok_or_else(|| corrupt("the history's shape overflows".to_string()))?;
        let columns = plans
            .into_iter()
            .map(|plan| {
                // Zeroed allocations: pages are touched only when written.
                let buf = match plan.kind.sentinel() {
                    Sentinel::F64(_) => Buf::F64(vec![0.0; cells]),
                    Sentinel::I64(_) => Buf::I64(vec![0; cells]),
                    Sentinel::Text(_) => Buf::Text(Vec::with_capacity(cells)),
                };
                Out {
                    plan,
                    attrs: None,
                    buf,
                }
            })
            .collect();
        Ok(Assembler {
            schema,
            inner,
            columns,
            times: None,
            events: 0,
            time_attrs: VarAttrs::default(),
            attrs: BTreeMap::new(),
        })
    }

    /// Reads the event record `bytes` (sequence number `seq`) as the next
    /// event. `column_of` gives the history column (an index into the
    /// plans) of each of its columns by stored name and kind; `None` leaves
    /// the column out (`skipped` gets its name). On an error nothing was
    /// added.
    pub(crate) fn push(
        &mut self,
        bytes: &[u8],
        seq: u64,
        column_of: impl Fn(&str, ResultKind) -> Option<usize>,
        skipped: &mut Vec<String>,
    ) -> Result<(), Corrupt> {
        let p = unseal(KIND_EVENT, bytes)?;
        let r: EventRec<'_> = payload(KIND_EVENT, &p)?;
        if r.seq != seq {
            return Err(corrupt(format!(
                "the record holds sequence number {}",
                r.seq
            )));
        }
        let ds = &r.dataset;
        let n = self.schema.len();
        let leading_ok =
            ds.dims.len() == n + 1 && ds.dims[..n].iter().zip(&self.schema).all(|(a, b)| a.is(b));
        if !leading_ok {
            return Err(corrupt(
                "its dims or coordinates are not the history's".to_string(),
            ));
        }
        let time = &ds.dims[n];
        let coords = time.coords()?;
        if time.name() != OVER_TIME_DIM || coords.len() != 1 {
            return Err(corrupt(format!(
                "its last dim is `{}` with {} coordinates, not one `over_time` coordinate",
                time.name(),
                coords.len()
            )));
        }
        let same_kind = self
            .times
            .as_ref()
            .is_none_or(|t| std::mem::discriminant(t) == std::mem::discriminant(&coords));
        if !same_kind {
            return Err(corrupt(format!(
                "its `over_time` holds a {}, the history's earlier events another kind",
                coords.kind_name()
            )));
        }
        // Check every column before copying any.
        let mut take: Vec<(usize, usize)> = Vec::with_capacity(ds.columns.len());
        for (j, c) in ds.columns.iter().enumerate() {
            let Some(i) = column_of(&c.name, c.kind) else {
                skipped.push(c.name.to_string());
                continue;
            };
            let len = match &c.data {
                DataRec::F64(b) | DataRec::I64(b) => b.len() / 8,
                DataRec::Text(v) => v.len(),
            };
            let storage_ok = matches!(
                (&c.data, &self.columns[i].buf),
                (DataRec::F64(_), Buf::F64(_))
                    | (DataRec::I64(_), Buf::I64(_))
                    | (DataRec::Text(_), Buf::Text(_))
            );
            if !storage_ok || len != self.inner || take.iter().any(|(k, _)| *k == i) {
                return Err(corrupt(format!(
                    "column `{}` does not fit the history ({len} cells, {} per event)",
                    c.name, self.inner
                )));
            }
            take.push((i, j));
        }
        let t = self.events;
        let range = t * self.inner..(t + 1) * self.inner;
        for (i, out) in self.columns.iter_mut().enumerate() {
            let src = take
                .iter()
                .find(|(k, _)| *k == i)
                .map(|(_, j)| &ds.columns[*j]);
            let fill = out.plan.kind.sentinel();
            match (&mut out.buf, src.map(|c| &c.data), fill) {
                (Buf::F64(b), Some(DataRec::F64(bytes)), _) => {
                    copy_f64s(&mut b[range.clone()], bytes);
                }
                (Buf::I64(b), Some(DataRec::I64(bytes)), _) => {
                    copy_i64s(&mut b[range.clone()], bytes);
                }
                (Buf::Text(b), Some(DataRec::Text(v)), _) => {
                    b.extend(v.iter().map(|s| s.to_string()));
                }
                (Buf::F64(b), _, Sentinel::F64(x)) => b[range.clone()].fill(x),
                (Buf::I64(b), _, Sentinel::I64(x)) => b[range.clone()].fill(x),
                (Buf::Text(b), _, Sentinel::Text(x)) => {
                    b.extend(std::iter::repeat_n(x, self.inner).map(str::to_string));
                }
                // A buffer is made from its plan's sentinel: never reached.
                _ => {}
            }
            if let Some(c) = src {
                out.attrs = Some(c.attrs.clone().into_owned());
            }
        }
        match (&mut self.times, coords) {
            (None, c) => self.times = Some(c),
            (Some(Coords::Label(a)), Coords::Label(b)) => a.extend(b),
            (Some(Coords::Time(a)), Coords::Time(b)) => a.extend(b),
            // Checked above, and only labels and timestamps pass
            // `TimeKind`: other kinds are refused when appended.
            (Some(_), _) => {}
        }
        self.events += 1;
        self.time_attrs = time.attrs().clone();
        self.attrs = ds.attrs.clone().into_owned();
        Ok(())
    }

    /// The history read: `None` when no event was added. Columns no event
    /// held are left out.
    pub(crate) fn finish(self) -> Result<Option<Dataset>, Corrupt> {
        let events = self.events;
        let Some(coords) = self.times else {
            return Ok(None);
        };
        let mut dims = self.schema;
        dims.push(Dim {
            name: OVER_TIME_DIM.to_string(),
            coords,
            attrs: self.time_attrs,
        });
        let shape: Vec<usize> = dims.iter().map(Dim::len).collect();
        let cells = self.inner * events;
        let mut columns = Vec::with_capacity(self.columns.len());
        for out in self.columns {
            let Some(attrs) = out.attrs else {
                continue;
            };
            let bad =
                |e: collector_core::Error| corrupt(format!("column `{}`: {e}", out.plan.name));
            let data = match out.buf {
                Buf::F64(mut b) => {
                    b.truncate(cells);
                    ColumnData::F64(time_major_array(&shape, b).map_err(bad)?)
                }
                Buf::I64(mut b) => {
                    b.truncate(cells);
                    ColumnData::I64(time_major_array(&shape, b).map_err(bad)?)
                }
                Buf::Text(b) => ColumnData::Text(time_major_array(&shape, b).map_err(bad)?),
            };
            columns.push(Column {
                name: out.plan.name,
                var: out.plan.var,
                kind: out.plan.kind,
                attrs,
                data,
            });
        }
        Dataset::from_parts(dims, columns, self.attrs)
            .map(Some)
            .map_err(|e| corrupt(format!("inconsistent history: {e}")))
    }
}
