//! History over time (SPEC §7): one record per event, plus one metadata
//! record per history key, changed together in one write batch.
//!
//! An append writes the new event and the metadata, and touches older
//! events only to delete the few that fall out of `max_time_events` or to
//! rewrite the few whose cells of a variable newly fall out of that
//! variable's limit (tracked by a per-variable watermark). It never reads
//! or rewrites the rest of the history.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use collector_core::{
    AttrValue, ColumnData, Coords, Dataset, Dim, OVER_TIME_DIM, ResultKind, ResultVar,
    TEXT_SENTINEL,
};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::codec::{self, Corrupt, KIND_HISTORY_META};
use crate::db::{CacheDb, lock, now_ms};
use crate::error::{Error, Result};
use crate::schema::{self, Cf};

/// What to do when a run does not fit the stored history (other non-time
/// dims or coordinates, or another kind of `over_time` coordinate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResetPolicy {
    /// Log a warning, drop the old events and start afresh with this run.
    #[default]
    Warn,
    /// Return [`Error::HistoryMismatch`]; nothing is written or deleted.
    Error,
    /// Like `Warn`, without the warning.
    Ignore,
}

/// Options of [`CacheDb::append_event`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOptions {
    /// Drop every stored event first and start the series afresh.
    pub clear_history: bool,
    /// Keep only the newest N events (the new one included); older event
    /// records are deleted in the same batch. `Some(0)` keeps the new one.
    pub max_time_events: Option<usize>,
    /// Per result variable (by variable name, see
    /// `ResultVar::max_time_events_value`): keep that variable's cells only
    /// in its newest N events; older cells are set to the sentinel while
    /// the events stay.
    pub var_max_time_events: BTreeMap<String, usize>,
    /// What to do when the run does not fit the stored history.
    pub reset_policy: ResetPolicy,
}

impl AppendOptions {
    /// The per-variable limits declared by `results`
    /// (`ResultVar::max_time_events_value`), for
    /// [`var_max_time_events`](Self::var_max_time_events).
    pub fn var_limits(results: &[ResultVar]) -> BTreeMap<String, usize> {
        results
            .iter()
            .filter_map(|r| r.max_time_events_value().map(|n| (r.name().to_string(), n)))
            .collect()
    }
}

/// Why a history was started afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetReason {
    /// `clear_history` was asked for.
    Cleared,
    /// The run does not fit the stored history: what differs.
    Incompatible(String),
    /// The stored metadata could not be decoded.
    CorruptMetadata(String),
}

impl std::fmt::Display for ResetReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResetReason::Cleared => f.write_str("clear_history was asked for"),
            ResetReason::Incompatible(m) => write!(f, "the run does not match the history: {m}"),
            ResetReason::CorruptMetadata(m) => write!(f, "the history metadata was corrupt: {m}"),
        }
    }
}

/// What [`CacheDb::append_event`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The sequence number given to the new event.
    pub seq: u64,
    /// The number of live events after the append.
    pub events: u64,
    /// Set when the old events were dropped; the reason says why.
    pub reset: Option<ResetReason>,
    /// Number of older events deleted (trimmed or reset).
    pub removed_events: u64,
    /// Number of older events rewritten with sentinels (per-variable aging).
    pub aged_events: u64,
    /// Media file paths (text of media-kind cells, never `"NAN"`) that the
    /// committed batch stopped referencing: cells of deleted or aged
    /// events, minus the paths the new event still names. The caller may
    /// delete these files now; the batch has committed.
    pub released_files: Vec<String>,
}

/// The metadata of one history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HistoryMeta {
    /// The sweep name (dataset attribute `sweep`), for listings.
    pub(crate) sweep: String,
    /// `Coords::kind_name` of `over_time`: "timestamp" or "label".
    pub(crate) time_kind: String,
    /// The non-time dims (names, coordinates, attrs), encoded.
    #[serde(with = "serde_bytes")]
    schema: Vec<u8>,
    /// Every column seen: name, variable, kind.
    columns: Vec<(String, String, ResultKind)>,
    /// Live events are `first_seq..next_seq` minus `holes`.
    first_seq: u64,
    next_seq: u64,
    /// Sequence numbers in `first_seq..next_seq` whose record was removed
    /// (found corrupt). Sorted.
    holes: Vec<u64>,
    /// Encoded size of the live events.
    pub(crate) bytes: u64,
    /// Per variable: every live event with a smaller sequence number has
    /// that variable's cells at the sentinel.
    aged: BTreeMap<String, u64>,
    updated_at_ms: u64,
}

impl HistoryMeta {
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Corrupt> {
        let m: HistoryMeta = codec::decode_record(KIND_HISTORY_META, bytes)?;
        if m.first_seq > m.next_seq {
            return Err(Corrupt(format!(
                "first sequence {} > next {}",
                m.first_seq, m.next_seq
            )));
        }
        Ok(m)
    }

    fn fresh(next_seq: u64) -> Self {
        HistoryMeta {
            sweep: String::new(),
            time_kind: String::new(),
            schema: Vec::new(),
            columns: Vec::new(),
            first_seq: next_seq,
            next_seq,
            holes: Vec::new(),
            bytes: 0,
            aged: BTreeMap::new(),
            updated_at_ms: 0,
        }
    }

    pub(crate) fn event_count(&self) -> u64 {
        self.next_seq - self.first_seq - self.holes.len() as u64
    }

    fn is_live(&self, s: u64) -> bool {
        s >= self.first_seq && s < self.next_seq && self.holes.binary_search(&s).is_err()
    }

    fn live(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        (self.first_seq..self.next_seq).filter(|s| self.holes.binary_search(s).is_err())
    }

    fn has_media(&self) -> bool {
        self.columns.iter().any(|(_, _, k)| k.is_media())
    }

    /// The stored schema as a dataset without columns, for
    /// `Dataset::history_compatible`.
    fn schema_dataset(&self) -> Result<Dataset, Corrupt> {
        let mut dims = codec::decode_dims(&self.schema)?;
        let time = match self.time_kind.as_str() {
            "timestamp" => Coords::Time(Vec::new()),
            "label" => Coords::Label(Vec::new()),
            k => return Err(Corrupt(format!("unknown over_time kind `{k}`"))),
        };
        dims.push(Dim::new(OVER_TIME_DIM, time));
        Dataset::from_parts(dims, Vec::new(), BTreeMap::new()).map_err(|e| Corrupt(e.to_string()))
    }

    fn remove(&mut self, s: u64) {
        if let Err(i) = self.holes.binary_search(&s) {
            self.holes.insert(i, s);
        }
        self.normalise();
    }

    fn normalise(&mut self) {
        while self.first_seq < self.next_seq && self.holes.first() == Some(&self.first_seq) {
            self.holes.remove(0);
            self.first_seq += 1;
        }
        let first = self.first_seq;
        self.holes.retain(|&h| h >= first);
    }
}

/// Text of the media cells of the columns `pick` selects, without sentinels.
fn media_cells(
    ds: &Dataset,
    pick: impl Fn(&collector_core::Column) -> bool,
    out: &mut Vec<String>,
) {
    for c in ds.columns() {
        if c.kind.is_media()
            && pick(c)
            && let ColumnData::Text(a) = &c.data
        {
            out.extend(a.iter().filter(|s| s.as_str() != TEXT_SENTINEL).cloned());
        }
    }
}

/// Sets the cells of every column of `vars` to the sentinel.
fn age_columns(ds: &mut Dataset, vars: &[String]) -> bool {
    let mut changed = false;
    let shape = ds.shape();
    for c in ds.columns_mut() {
        if vars.contains(&c.var) {
            c.data = ColumnData::filled(&shape, c.kind.sentinel());
            changed = true;
        }
    }
    changed
}

fn check_event(history_key: &str, event: &Dataset) -> Result<()> {
    let bad = |message: String| Error::InvalidEvent {
        history_key: history_key.to_string(),
        message,
    };
    match event.dims().last() {
        Some(d) if d.name == OVER_TIME_DIM => {
            if d.len() != 1 {
                return Err(bad(format!(
                    "`over_time` has {} coordinates, expected 1",
                    d.len()
                )));
            }
            if !matches!(d.coords, Coords::Time(_) | Coords::Label(_)) {
                return Err(bad(format!(
                    "`over_time` holds {} values, expected timestamps or labels",
                    d.coords.kind_name()
                )));
            }
            Ok(())
        }
        _ => Err(bad(format!(
            "the last dim is not `over_time` (dims {:?})",
            event.dim_names()
        ))),
    }
}

impl CacheDb {
    fn read_meta(&self, history_key: &str) -> Result<Option<Result<HistoryMeta, Corrupt>>> {
        let v = self.get(
            Cf::HistoryMeta,
            &schema::history_meta_key(history_key),
            &format!("history {history_key}"),
        )?;
        Ok(v.map(|v| HistoryMeta::decode(&v)))
    }

    /// Reads one event; `Err(Corrupt)` when it is missing or cannot be
    /// decoded. Also returns its encoded size.
    fn read_event(&self, history_key: &str, seq: u64) -> Result<Result<(Dataset, u64), Corrupt>> {
        let v = self.get(
            Cf::HistoryEvents,
            &schema::event_key(history_key, seq),
            &format!("event {seq} of history {history_key}"),
        )?;
        let Some(v) = v else {
            return Ok(Err(Corrupt("the event record is missing".into())));
        };
        Ok(match codec::decode_event(&v) {
            Ok((s, _)) if s != seq => Err(Corrupt(format!("the record holds sequence number {s}"))),
            Ok((_, ds)) => Ok((ds, v.len() as u64)),
            Err(e) => Err(e),
        })
    }

    /// Appends one run's dataset to the history `history_key`.
    ///
    /// `event`'s last dim must be `over_time` with exactly one coordinate.
    /// The event record and the updated metadata are one write batch,
    /// together with the deletion of events trimmed by `max_time_events`
    /// and the rewrite of events aged by a per-variable limit. When the
    /// run does not fit the history, `options.reset_policy` decides; under
    /// [`ResetPolicy::Error`] nothing is written or deleted.
    ///
    /// Appends to one history key are serialised, so concurrent appends
    /// lose nothing. If the write fails, an error is returned and no file
    /// is released.
    pub fn append_event(
        &self,
        history_key: &str,
        event: &Dataset,
        options: &AppendOptions,
    ) -> Result<AppendOutcome> {
        schema::check_key("history", history_key)?;
        check_event(history_key, event)?;
        let guard = self.history_lock(history_key);
        let _guard = lock(&guard);

        let mut reset = None;
        let mut meta = match self.read_meta(history_key)? {
            None => None,
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                warn!(history = history_key, error = %e, "corrupt history metadata; starting the history afresh");
                reset = Some(ResetReason::CorruptMetadata(e.0));
                None
            }
        };
        // A history whose events were all removed takes this run's schema.
        if let Some(m) = meta.as_ref().filter(|m| m.event_count() > 0) {
            if options.clear_history {
                reset = Some(ResetReason::Cleared);
            } else {
                let fits = m
                    .schema_dataset()
                    .map_err(|e| format!("stored schema unreadable: {e}"))
                    .and_then(|s| s.history_compatible(event));
                if let Err(why) = fits {
                    match options.reset_policy {
                        ResetPolicy::Error => {
                            return Err(Error::HistoryMismatch {
                                history_key: history_key.to_string(),
                                reason: why,
                            });
                        }
                        ResetPolicy::Warn => warn!(
                            history = history_key,
                            reason = %why,
                            "the run does not match the stored history; starting the history afresh"
                        ),
                        ResetPolicy::Ignore => {}
                    }
                    reset = Some(ResetReason::Incompatible(why));
                }
            }
        }

        let events_cf = self.cf(Cf::HistoryEvents)?;
        let mut batch = WriteBatch::default();
        let mut released = Vec::new();
        let mut removed_events = 0u64;
        if reset.is_some() {
            removed_events = meta.as_ref().map_or(0, HistoryMeta::event_count);
            // Media of the dropped events; unknown columns (corrupt
            // metadata) mean looking at every record.
            if meta.as_ref().is_none_or(HistoryMeta::has_media) {
                self.collect_all_media(history_key, &mut released)?;
            }
            batch.delete_range_cf(
                events_cf,
                schema::event_prefix(history_key),
                schema::event_prefix_end(history_key),
            );
            let next = meta.as_ref().map_or(0, |m| m.next_seq);
            meta = Some(HistoryMeta::fresh(next));
        }
        let mut meta = match meta {
            Some(m) => m,
            None => HistoryMeta::fresh(0),
        };
        if meta.event_count() == 0 {
            // A new series: its schema is this run's.
            let (time_kind, dims) = match event.dims().split_last() {
                Some((t, rest)) => (t.coords.kind_name().to_string(), rest),
                None => (String::new(), &[][..]),
            };
            meta.time_kind = time_kind;
            meta.schema = codec::encode_dims(dims)?;
            meta.aged.clear();
        }
        if let Some(AttrValue::Str(s)) = event.attrs.get("sweep") {
            meta.sweep.clone_from(s);
        }
        for c in event.columns() {
            if !meta.columns.iter().any(|(n, _, _)| *n == c.name) {
                meta.columns.push((c.name.clone(), c.var.clone(), c.kind));
            }
        }
        let seq = meta.next_seq;
        meta.next_seq += 1;

        // Trim to the newest N events.
        if let Some(n) = options.max_time_events {
            let keep = n.max(1) as u64;
            let media = meta.has_media();
            while meta.event_count() > keep {
                let old = meta.first_seq;
                let key = schema::event_key(history_key, old);
                // Reading the trimmed record: its size, and its media when
                // the history has media columns.
                let size = if media {
                    match self.read_event(history_key, old)? {
                        Ok((ds, size)) => {
                            media_cells(&ds, |_| true, &mut released);
                            size
                        }
                        Err(_) => 0,
                    }
                } else {
                    self.get(Cf::HistoryEvents, &key, "an event")?
                        .map_or(0, |v| v.len() as u64)
                };
                meta.bytes = meta.bytes.saturating_sub(size);
                batch.delete_cf(events_cf, key);
                meta.first_seq += 1;
                meta.normalise();
                removed_events += 1;
            }
        }

        // Per-variable aging: only the events newly past each limit.
        let mut to_age: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (var, &limit) in &options.var_max_time_events {
            let boundary = if limit == 0 {
                meta.next_seq
            } else {
                match meta.live().rev().nth(limit - 1) {
                    Some(b) => b,
                    None => continue,
                }
            };
            let from = meta.aged.get(var).copied().unwrap_or(0).max(meta.first_seq);
            for s in (from..boundary).filter(|&s| meta.is_live(s)) {
                to_age.entry(s).or_default().push(var.clone());
            }
            let w = meta.aged.entry(var.clone()).or_insert(0);
            *w = (*w).max(boundary);
        }
        let mut event = Cow::Borrowed(event);
        let mut aged_events = 0u64;
        for (s, vars) in to_age {
            if s == seq {
                let ev = event.to_mut();
                media_cells(ev, |c| vars.contains(&c.var), &mut released);
                age_columns(ev, &vars);
                continue;
            }
            match self.read_event(history_key, s)? {
                Ok((mut ds, size)) => {
                    media_cells(&ds, |c| vars.contains(&c.var), &mut released);
                    if age_columns(&mut ds, &vars) {
                        let v = codec::encode_event(s, &ds)?;
                        meta.bytes = meta.bytes.saturating_sub(size) + v.len() as u64;
                        batch.put_cf(events_cf, schema::event_key(history_key, s), v);
                        aged_events += 1;
                    }
                }
                Err(e) => {
                    warn!(history = history_key, seq = s, error = %e, "corrupt history event; removing it");
                    batch.delete_cf(events_cf, schema::event_key(history_key, s));
                    meta.remove(s);
                }
            }
        }

        let value = codec::encode_event(seq, &event)?;
        meta.bytes += value.len() as u64;
        meta.updated_at_ms = now_ms();
        batch.put_cf(events_cf, schema::event_key(history_key, seq), value);
        batch.put_cf(
            self.cf(Cf::HistoryMeta)?,
            schema::history_meta_key(history_key),
            codec::encode_record(KIND_HISTORY_META, &meta)?,
        );

        // A file the new event still names stays.
        let mut still = Vec::new();
        media_cells(&event, |_| true, &mut still);
        let still: BTreeSet<String> = still.into_iter().collect();
        let mut seen = BTreeSet::new();
        released.retain(|p| !still.contains(p) && seen.insert(p.clone()));

        self.write(
            batch,
            format!("appending event {seq} to history {history_key}"),
        )?;
        Ok(AppendOutcome {
            seq,
            events: meta.event_count(),
            reset,
            removed_events,
            aged_events,
            released_files: released,
        })
    }

    fn collect_all_media(&self, history_key: &str, out: &mut Vec<String>) -> Result<()> {
        let prefix = schema::event_prefix(history_key);
        let h = self.cf(Cf::HistoryEvents)?;
        for item in self.db.prefix_iterator_cf(h, &prefix) {
            let (k, v) =
                item.map_err(|e| self.db_err(format!("scanning history {history_key}"), &e))?;
            if !k.starts_with(&prefix) {
                break;
            }
            if let Ok((_, ds)) = codec::decode_event(&v) {
                media_cells(&ds, |_| true, out);
            }
        }
        Ok(())
    }

    /// The whole history of `history_key`: every live event, in append
    /// order, joined along `over_time` (the last dim). Columns added by
    /// later runs are filled with their sentinel in older events. `None`
    /// when there is no history.
    ///
    /// An event record that cannot be decoded is logged, removed and
    /// skipped.
    pub fn load_history(&self, history_key: &str) -> Result<Option<Dataset>> {
        schema::check_key("history", history_key)?;
        let guard = self.history_lock(history_key);
        let _guard = lock(&guard);
        let mut meta = match self.read_meta(history_key)? {
            None => return Ok(None),
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                warn!(history = history_key, error = %e, "corrupt history metadata; removing the history");
                self.drop_history(history_key)?;
                return Ok(None);
            }
        };
        let schema_ds = meta.schema_dataset().ok();
        let mut parts = Vec::with_capacity(meta.event_count() as usize);
        let mut bad = Vec::new();
        for s in meta.live() {
            let ev = self.read_event(history_key, s)?.and_then(|(ds, size)| {
                match &schema_ds {
                    Some(sd) => sd.history_compatible(&ds).map_err(Corrupt)?,
                    None => return Err(Corrupt("stored schema unreadable".into())),
                }
                Ok((ds, size))
            });
            match ev {
                Ok((ds, _)) => parts.push(ds),
                Err(e) => {
                    warn!(history = history_key, seq = s, error = %e, "corrupt history event; removing it");
                    bad.push(s);
                }
            }
        }
        if !bad.is_empty() {
            let mut b = WriteBatch::default();
            for &s in &bad {
                if let Some(v) = self.get(
                    Cf::HistoryEvents,
                    &schema::event_key(history_key, s),
                    "an event",
                )? {
                    meta.bytes = meta.bytes.saturating_sub(v.len() as u64);
                }
                b.delete_cf(
                    self.cf(Cf::HistoryEvents)?,
                    schema::event_key(history_key, s),
                );
                meta.remove(s);
            }
            b.put_cf(
                self.cf(Cf::HistoryMeta)?,
                schema::history_meta_key(history_key),
                codec::encode_record(KIND_HISTORY_META, &meta)?,
            );
            self.write(
                b,
                format!("removing corrupt events of history {history_key}"),
            )?;
        }
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(Dataset::concat_over_time(&parts)?))
    }

    /// The number of live events of `history_key` (0 when none), from its
    /// metadata alone.
    pub fn history_len(&self, history_key: &str) -> Result<u64> {
        schema::check_key("history", history_key)?;
        Ok(match self.read_meta(history_key)? {
            Some(Ok(m)) => m.event_count(),
            _ => 0,
        })
    }

    /// Deletes the whole history of `history_key` in one batch. Returns the
    /// media paths its events named, for the caller to delete now that the
    /// batch has committed.
    pub fn delete_history(&self, history_key: &str) -> Result<Vec<String>> {
        schema::check_key("history", history_key)?;
        let guard = self.history_lock(history_key);
        let _guard = lock(&guard);
        let mut released = Vec::new();
        self.collect_all_media(history_key, &mut released)?;
        self.drop_history(history_key)?;
        let mut seen = BTreeSet::new();
        released.retain(|p| seen.insert(p.clone()));
        Ok(released)
    }

    fn drop_history(&self, history_key: &str) -> Result<()> {
        let mut b = WriteBatch::default();
        b.delete_cf(
            self.cf(Cf::HistoryMeta)?,
            schema::history_meta_key(history_key),
        );
        b.delete_range_cf(
            self.cf(Cf::HistoryEvents)?,
            schema::event_prefix(history_key),
            schema::event_prefix_end(history_key),
        );
        self.write(b, format!("deleting history {history_key}"))
    }
}

/// Every media path named by a stored record, for an orphan-file GC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaReferences {
    /// The text of every media-kind cell (never `"NAN"`) of every stored
    /// result and history event.
    pub paths: BTreeSet<String>,
    /// Keys of records that could not be read. A GC must delete nothing
    /// when this is not empty: an unreadable record may name any file.
    pub unreadable: Vec<String>,
}

impl CacheDb {
    /// Scans every stored result and history event for the media paths
    /// they name. Reads the whole cache: meant for garbage collection, not
    /// for the run path. Unreadable records are listed, not removed.
    pub fn media_references(&self) -> Result<MediaReferences> {
        let mut refs = MediaReferences::default();
        let mut paths = Vec::new();
        for (k, v) in self.scan(Cf::Results)? {
            match codec::decode_result(&v) {
                Ok(r) => media_cells(&r.dataset, |_| true, &mut paths),
                Err(_) => refs
                    .unreadable
                    .push(format!("result {}", String::from_utf8_lossy(&k))),
            }
        }
        for (k, v) in self.scan(Cf::HistoryEvents)? {
            match codec::decode_event(&v) {
                Ok((_, ds)) => media_cells(&ds, |_| true, &mut paths),
                Err(_) => refs.unreadable.push(match schema::parse_event_key(&k) {
                    Some((h, seq)) => format!("event {seq} of history {h}"),
                    None => format!("event {}", String::from_utf8_lossy(&k)),
                }),
            }
        }
        refs.paths.extend(paths);
        Ok(refs)
    }
}
