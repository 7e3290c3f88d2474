//! Reading a whole history back in one pass: each event record is decoded
//! in place (its numeric cells stay the stored bytes, its strings are
//! borrowed) and copied straight into the history's arrays, which are laid
//! out time-major so that each event fills one contiguous run per column.
//! No per-event dataset is built, and events are read in parallel (each
//! writes its own runs).

use std::collections::BTreeMap;

use collector_core::{
    AttrValue, Column, ColumnData, Coords, Dataset, Dim, OVER_TIME_DIM, ResultKind, Sentinel,
    VarAttrs, time_major_array, time_major_array_at,
};

use super::dataset::{DataRec, copy_f64s, copy_i64s};
use super::envelope::{Corrupt, corrupt, payload, unseal};
use super::{EventReadRec, EventRec, KIND_EVENT};
use crate::pages::Zeroed;

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

/// The cells of one column, time-major.
enum Buf {
    F64(Zeroed<f64>),
    I64(Zeroed<i64>),
    Text(Vec<String>),
}

/// The run of one column that one event fills.
pub(crate) enum Slot<'b> {
    F64(&'b mut [f64]),
    I64(&'b mut [i64]),
    Text(&'b mut [String]),
}

/// What reading one event gave, besides its cells: its `over_time`
/// coordinate and the history columns it held. Its attributes are read
/// only where the history takes them ([`event_attrs`]).
pub(crate) struct EventMeta {
    coords: Coords,
    held: Vec<usize>,
}

/// The attributes one event record carries: of its `over_time` dim, of
/// the dataset, and of each history column it holds.
pub(crate) struct EventAttrs {
    time: VarAttrs,
    attrs: BTreeMap<String, AttrValue>,
    columns: Vec<(usize, VarAttrs)>,
}

/// The attributes of the event record `bytes`, read by a
/// [`Reader::read`] before (which checked it); `column_of` as there.
pub(crate) fn event_attrs(
    bytes: &[u8],
    column_of: impl Fn(&str, ResultKind) -> Option<usize>,
) -> Result<EventAttrs, Corrupt> {
    let p = unseal(KIND_EVENT, bytes)?;
    let r: EventRec<'_> = payload(KIND_EVENT, &p)?;
    let ds = &r.dataset;
    let time = ds
        .dims
        .last()
        .ok_or_else(|| corrupt("the event has no dims".to_string()))?;
    Ok(EventAttrs {
        time: time.attrs(),
        attrs: ds.attrs.clone().into_owned(),
        columns: ds
            .columns
            .iter()
            .filter_map(|c| column_of(&c.name, c.kind).map(|i| (i, c.attrs.to_attrs())))
            .collect(),
    })
}

/// A history being read: its schema, columns and the arrays its events
/// are read into.
pub(crate) struct Assembler {
    schema: Vec<Dim>,
    inner: usize,
    events: usize,
    plans: Vec<ColumnPlan>,
    bufs: Vec<Buf>,
}

impl Assembler {
    /// A reader of `events` events of `schema` (the non-time dims) with
    /// `plans` as its columns.
    pub(crate) fn new(
        schema: Vec<Dim>,
        plans: Vec<ColumnPlan>,
        events: usize,
    ) -> Result<Self, Corrupt> {
        let overflow = || corrupt("the history's shape overflows".to_string());
        let inner = schema
            .iter()
            .try_fold(1usize, |a, d| a.checked_mul(d.len()))
            .ok_or_else(overflow)?;
        let cells = inner.checked_mul(events).ok_or_else(overflow)?;
        let bufs = plans
            .iter()
            .map(|p| match p.kind.sentinel() {
                // Zeroed allocations: fresh pages are not written twice.
                Sentinel::F64(_) => Buf::F64(crate::pages::zeroed_f64(cells)),
                Sentinel::I64(_) => Buf::I64(crate::pages::zeroed_i64(cells)),
                Sentinel::Text(_) => Buf::Text(vec![String::new(); cells]),
            })
            .collect();
        Ok(Assembler {
            schema,
            inner,
            events,
            plans,
            bufs,
        })
    }

    /// A reader of event records, and for each event, in order, the runs
    /// of every column it fills.
    pub(crate) fn parts(&mut self) -> (Reader<'_>, Vec<Vec<Slot<'_>>>) {
        let mut per_event: Vec<Vec<Slot<'_>>> = (0..self.events)
            .map(|_| Vec::with_capacity(self.bufs.len()))
            .collect();
        let inner = self.inner;
        for buf in &mut self.bufs {
            // `chunks_mut` needs a positive size; an empty grid has empty runs.
            match buf {
                Buf::F64(b) if inner > 0 => {
                    for (e, c) in per_event.iter_mut().zip(b.cells().chunks_mut(inner)) {
                        e.push(Slot::F64(c));
                    }
                }
                Buf::I64(b) if inner > 0 => {
                    for (e, c) in per_event.iter_mut().zip(b.cells().chunks_mut(inner)) {
                        e.push(Slot::I64(c));
                    }
                }
                Buf::Text(b) if inner > 0 => {
                    for (e, c) in per_event.iter_mut().zip(b.chunks_mut(inner)) {
                        e.push(Slot::Text(c));
                    }
                }
                Buf::F64(_) => per_event
                    .iter_mut()
                    .for_each(|e| e.push(Slot::F64(&mut []))),
                Buf::I64(_) => per_event
                    .iter_mut()
                    .for_each(|e| e.push(Slot::I64(&mut []))),
                Buf::Text(_) => per_event
                    .iter_mut()
                    .for_each(|e| e.push(Slot::Text(&mut []))),
            }
        }
        let reader = Reader {
            schema: &self.schema,
            inner,
            plans: &self.plans,
        };
        (reader, per_event)
    }

    /// The history read, from each event's outcome in order (`None`: the
    /// event could not be read; its cells are dropped). `None` when no
    /// event was read. Columns no event held are left out.
    ///
    /// `attrs_of(t)` reads the attributes of event `t` (its index in
    /// `read`): asked of the last event read (the history's dataset and
    /// `over_time` attributes) and of the last event holding each column
    /// (its attributes), once each.
    pub(crate) fn finish(
        self,
        read: Vec<Option<EventMeta>>,
        mut attrs_of: impl FnMut(usize) -> Result<EventAttrs, Corrupt>,
    ) -> Result<Option<Dataset>, Corrupt> {
        let good: Vec<usize> = (0..read.len()).filter(|&t| read[t].is_some()).collect();
        let events = good.len();
        let Some(&last) = good.last() else {
            return Ok(None);
        };
        // The last event holding each column.
        let mut holder: Vec<Option<usize>> = vec![None; self.plans.len()];
        let mut coords: Option<Coords> = None;
        for (t, m) in read.into_iter().enumerate() {
            let Some(m) = m else { continue };
            for i in m.held {
                holder[i] = Some(t);
            }
            match (&mut coords, m.coords) {
                (None, c) => coords = Some(c),
                (Some(Coords::Label(a)), Coords::Label(b)) => a.extend(b),
                (Some(Coords::Time(a)), Coords::Time(b)) => a.extend(b),
                _ => return Err(corrupt("events hold different kinds of `over_time`")),
            }
        }
        let coords = coords.ok_or_else(|| corrupt("no event was read"))?;
        let mut read_attrs: BTreeMap<usize, EventAttrs> = BTreeMap::new();
        for t in std::iter::once(last).chain(holder.iter().flatten().copied()) {
            if let std::collections::btree_map::Entry::Vacant(e) = read_attrs.entry(t) {
                e.insert(attrs_of(t)?);
            }
        }
        let mut col_attrs: Vec<Option<VarAttrs>> = vec![None; self.plans.len()];
        for (i, t) in holder.iter().enumerate() {
            let Some(t) = t else { continue };
            let found = read_attrs
                .get(t)
                .and_then(|a| a.columns.iter().find(|(j, _)| *j == i));
            col_attrs[i] = Some(found.map(|(_, a)| a.clone()).ok_or_else(|| {
                corrupt(format!(
                    "column `{}`: its event no longer holds it",
                    self.plans[i].name
                ))
            })?);
        }
        let EventAttrs {
            time: time_attrs,
            attrs,
            ..
        } = read_attrs
            .remove(&last)
            .ok_or_else(|| corrupt("the last event's attributes were not read"))?;
        let mut dims = self.schema;
        dims.push(Dim {
            name: OVER_TIME_DIM.to_string(),
            coords,
            attrs: time_attrs,
        });
        let shape: Vec<usize> = dims.iter().map(Dim::len).collect();
        let all = events == self.events;
        let inner = self.inner;
        let mut columns = Vec::with_capacity(self.plans.len());
        for ((plan, buf), attrs) in self.plans.into_iter().zip(self.bufs).zip(col_attrs) {
            let Some(attrs) = attrs else {
                continue;
            };
            let bad = |e: collector_core::Error| corrupt(format!("column `{}`: {e}", plan.name));
            let data = match buf {
                Buf::F64(b) => {
                    let (b, at) = keep_zeroed(b, all, &good, inner);
                    ColumnData::F64(time_major_array_at(&shape, b, at).map_err(bad)?)
                }
                Buf::I64(b) => {
                    let (b, at) = keep_zeroed(b, all, &good, inner);
                    ColumnData::I64(time_major_array_at(&shape, b, at).map_err(bad)?)
                }
                Buf::Text(b) => ColumnData::Text(
                    time_major_array(&shape, keep(b, all, &good, inner)).map_err(bad)?,
                ),
            };
            columns.push(Column {
                name: plan.name,
                var: plan.var,
                kind: plan.kind,
                attrs,
                data,
            });
        }
        Dataset::from_parts(dims, columns, attrs)
            .map(Some)
            .map_err(|e| corrupt(format!("inconsistent history: {e}")))
    }
}

/// The runs of the events in `good` (all of them when `all`): the buffer
/// and where its cells start.
fn keep_zeroed<T: Clone>(
    mut b: Zeroed<T>,
    all: bool,
    good: &[usize],
    inner: usize,
) -> (Vec<T>, usize) {
    if all {
        return (b.buf, b.at);
    }
    let cells = b.cells();
    let mut out = Vec::with_capacity(good.len() * inner);
    for &t in good {
        out.extend_from_slice(&cells[t * inner..(t + 1) * inner]);
    }
    (out, 0)
}

/// The runs of the events in `good` (all of them when `all`).
fn keep<T: Clone>(b: Vec<T>, all: bool, good: &[usize], inner: usize) -> Vec<T> {
    if all {
        return b;
    }
    let mut out = Vec::with_capacity(good.len() * inner);
    for &t in good {
        out.extend_from_slice(&b[t * inner..(t + 1) * inner]);
    }
    out
}

/// Reads event records into their runs; shared by the threads reading.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    schema: &'a [Dim],
    inner: usize,
    plans: &'a [ColumnPlan],
}

impl Reader<'_> {
    /// Reads the event record `bytes` (sequence number `seq`) into `slots`
    /// (its runs, one per history column). `column_of` gives the history
    /// column of each of its columns by stored name and kind; `None`
    /// leaves the column out (`skipped` gets its name). Columns it does
    /// not hold get their sentinel. On an error its runs are unspecified
    /// and must be dropped.
    pub(crate) fn read(
        &self,
        bytes: &[u8],
        seq: u64,
        slots: &mut [Slot<'_>],
        column_of: impl Fn(&str, ResultKind) -> Option<usize>,
        skipped: &mut Vec<String>,
    ) -> Result<EventMeta, Corrupt> {
        let p = unseal(KIND_EVENT, bytes)?;
        let r: EventReadRec<'_> = payload(KIND_EVENT, &p)?;
        if r.seq != seq {
            return Err(corrupt(format!(
                "the record holds sequence number {}",
                r.seq
            )));
        }
        let ds = &r.dataset;
        let n = self.schema.len();
        let leading_ok =
            ds.dims.len() == n + 1 && ds.dims[..n].iter().zip(self.schema).all(|(a, b)| a.is(b));
        if !leading_ok {
            return Err(corrupt(
                "its dims or coordinates are not the history's".to_string(),
            ));
        }
        let time = &ds.dims[n];
        let coords = time.coords()?;
        if time.name() != OVER_TIME_DIM
            || coords.len() != 1
            || !matches!(coords, Coords::Label(_) | Coords::Time(_))
        {
            return Err(corrupt(format!(
                "its last dim is `{}` with {} {} coordinates, not one `over_time` label or timestamp",
                time.name(),
                coords.len(),
                coords.kind_name()
            )));
        }
        let mut held: Vec<usize> = Vec::with_capacity(ds.columns.len());
        let mut filled = vec![false; self.plans.len()];
        for c in &ds.columns {
            let Some(i) = column_of(&c.name, c.kind).filter(|&i| i < slots.len()) else {
                skipped.push(c.name.to_string());
                continue;
            };
            if filled[i] {
                return Err(corrupt(format!("column `{}` is held twice", c.name)));
            }
            let ok = match (&mut slots[i], &c.data) {
                (Slot::F64(s), DataRec::F64(b)) => copy_f64s(s, b),
                (Slot::I64(s), DataRec::I64(b)) => copy_i64s(s, b),
                (Slot::Text(s), DataRec::Text(v)) if v.len() == s.len() => {
                    for (o, x) in s.iter_mut().zip(v) {
                        o.clear();
                        o.push_str(x);
                    }
                    true
                }
                _ => false,
            };
            if !ok {
                return Err(corrupt(format!(
                    "column `{}` does not fit the history ({} cells per event)",
                    c.name, self.inner
                )));
            }
            filled[i] = true;
            held.push(i);
        }
        for (i, slot) in slots.iter_mut().enumerate() {
            if filled[i] {
                continue;
            }
            match (slot, self.plans[i].kind.sentinel()) {
                (Slot::F64(s), Sentinel::F64(x)) => s.fill(x),
                (Slot::I64(s), Sentinel::I64(x)) => s.fill(x),
                (Slot::Text(s), Sentinel::Text(x)) => s.iter_mut().for_each(|o| x.clone_into(o)),
                // Slots are made from their plan's sentinel: never reached.
                _ => {}
            }
        }
        Ok(EventMeta { coords, held })
    }
}
