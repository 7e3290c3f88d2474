//! Appending one event to a history: every change in one write batch.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use collector_core::{AttrValue, Dataset, OVER_TIME_DIM, TimeKind};
use tracing::warn;

use super::meta::{At, ColumnRec, HistoryRec, identity_text};
use super::{
    AppendOptions, AppendOutcome, ColumnChanges, LineageChange, LineageRec, ResetPolicy,
    ResetReason, Retirement, check_event, media_paths,
};
use crate::codec::{self, Corrupt, EventPartsRec};
use crate::db::{Batch, CacheDb, lock, now_ms};
use crate::error::{Error, Result};
use crate::parts::{PartWriter, in_parts};
use crate::schema::{
    self, EventKey, EventPartKey, EventParts, Family, HistoryEvents, HistoryEventsInParts,
    HistoryMeta, Lineages, Sealed,
};

/// What an append decided before writing anything.
struct Plan {
    stored: Option<HistoryRec>,
    reset: Option<ResetReason>,
    lineage: Option<LineageChange>,
    /// Whether the sweep name's lineage record must be (re)written: it is
    /// missing, unreadable or names another history.
    write_lineage: bool,
}

impl CacheDb {
    /// Appends one run's dataset to the history `history_key`.
    ///
    /// `event`'s last dim must be `over_time` with exactly one coordinate.
    /// The event record, the updated metadata and the sweep name's lineage
    /// are one write batch, together with the deletion of the event it
    /// replaces (same label or timestamp), of events trimmed by
    /// `max_time_events`, and the rewrite of events aged by a per-variable
    /// limit. Events are kept in time order: a timestamp older than the
    /// newest goes to its place.
    ///
    /// Reported resets follow `options.reset_policy`: the run does not fit
    /// the history, a column changed identity (it is retired under another
    /// name and a fresh one starts), or the sweep name last appended to
    /// another history. Under [`ResetPolicy::Error`] each is an error and
    /// nothing is written or deleted.
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
        let (kind, at) = check_append_input(history_key, event, options)?;
        let guard = self.history_lock(history_key);
        let _guard = lock(&guard);
        let plan = self.plan_append(history_key, event, options)?;

        let mut append = Append::new(self, history_key);
        let mut meta = match (plan.stored, plan.reset.is_some()) {
            (stored, true) => append.drop_events(stored, kind)?,
            (Some(m), false) => m,
            (None, false) => HistoryRec::fresh(0, kind),
        };
        meta.start_series_if_empty(event, kind)?;
        if let Some(l) = &options.lineage {
            meta.identity = Some(l.identity.clone());
        }
        let seq = meta.next_event(event);
        let columns = update_columns(history_key, &mut meta, event, seq, options);
        let replaced = append.replace(&mut meta, &at)?;
        let pos = match replaced {
            Some((pos, _)) => pos,
            None => meta.insert_position(&at),
        };
        meta.insert(pos, seq, at, version_of(event));
        append.trim(&mut meta, seq, options.max_time_events)?;
        let event = append.age(&mut meta, event, seq, &options.var_max_time_events)?;
        append.write_event(&mut meta, seq, &event)?;
        if let Some(l) = options.lineage.as_ref().filter(|_| plan.write_lineage) {
            append
                .batch
                .put::<Lineages>(&l.sweep, &LineageRec::new(history_key, l))?;
        }
        let mut outcome = append.commit(&meta, seq, &event, plan.reset)?;
        outcome.replaced = replaced.map(|(_, s)| s);
        outcome.lineage = plan.lineage;
        outcome.columns = columns;
        Ok(outcome)
    }

    /// Whether [`append_event`](Self::append_event) with these arguments
    /// would be refused, without writing anything: an invalid event, or a
    /// reported reset under [`ResetPolicy::Error`]. A caller that must
    /// write nothing when the history refuses (the result included) checks
    /// first. `event` may be the run's empty dataset: only its dims,
    /// columns and attributes are looked at.
    pub fn check_append(
        &self,
        history_key: &str,
        event: &Dataset,
        options: &AppendOptions,
    ) -> Result<()> {
        check_append_input(history_key, event, options)?;
        let guard = self.history_lock(history_key);
        let _guard = lock(&guard);
        self.plan_append(history_key, event, options).map(|_| ())
    }

    /// Reads what the append depends on and decides every reported reset;
    /// under [`ResetPolicy::Error`] a reset is an error here, before
    /// anything is written.
    fn plan_append(
        &self,
        history_key: &str,
        event: &Dataset,
        options: &AppendOptions,
    ) -> Result<Plan> {
        let (stored, corrupt) = match self.read_meta_for_append(history_key)? {
            Ok(m) => (m, None),
            Err(reason) => (None, Some(reason)),
        };
        let (lineage, write_lineage) = self.lineage_change(history_key, options)?;
        let reset = match corrupt {
            Some(reason) => Some(reason),
            None => decide_reset(history_key, stored.as_ref(), event, options)?,
        };
        if reset.is_none()
            && let Some(m) = &stored
        {
            check_columns(history_key, m, event, options)?;
        }
        Ok(Plan {
            stored,
            reset,
            lineage,
            write_lineage,
        })
    }

    /// The lineage change when the sweep name last appended to another
    /// history (an error under [`ResetPolicy::Error`]), and whether its
    /// lineage record must be written (it is missing, unreadable or names
    /// another history; one naming this history already holds its
    /// identity, which the history key is made of).
    fn lineage_change(
        &self,
        history_key: &str,
        options: &AppendOptions,
    ) -> Result<(Option<LineageChange>, bool)> {
        let Some(l) = &options.lineage else {
            return Ok((None, false));
        };
        let change = match self.get::<Lineages>(&l.sweep)? {
            None => return Ok((None, true)),
            Some(Ok(rec)) => rec.change_to(history_key, &l.identity),
            Some(Err(e)) => {
                warn!(sweep = %l.sweep, error = %e, "corrupt lineage record; replacing it");
                return Ok((None, true));
            }
        };
        let Some(change) = change else {
            return Ok((None, false));
        };
        match options.reset_policy {
            ResetPolicy::Error => {
                return Err(Error::LineageChanged {
                    sweep: l.sweep.clone(),
                    previous_key: change.previous_key,
                    history_key: history_key.to_string(),
                    changes: change.changes,
                });
            }
            ResetPolicy::Warn => warn!(sweep = %l.sweep, previous = %change.previous_key,
                history = history_key, changes = %change.changes.join("; "),
                "the sweep's history key changed; starting a new history (the old one is kept)"),
            ResetPolicy::Ignore => {}
        }
        Ok((Some(change), true))
    }

    /// The stored metadata (`None`: a new history); when it cannot be
    /// read, the reason to start the history afresh.
    fn read_meta_for_append(
        &self,
        history_key: &str,
    ) -> Result<Result<Option<HistoryRec>, ResetReason>> {
        Ok(match self.get::<HistoryMeta>(history_key)? {
            None => Ok(None),
            Some(Ok(m)) => Ok(Some(m)),
            Some(Err(e)) => {
                warn!(history = history_key, error = %e,
                    "corrupt history metadata; starting the history afresh");
                Err(ResetReason::CorruptMetadata(e.0))
            }
        })
    }
}

/// Checks the keys and the event; returns its time kind and coordinate.
fn check_append_input(
    history_key: &str,
    event: &Dataset,
    options: &AppendOptions,
) -> Result<(TimeKind, At)> {
    schema::check_key("history", history_key)?;
    if let Some(l) = &options.lineage {
        schema::check_key("sweep name", &l.sweep)?;
    }
    let kind = check_event(history_key, event)?;
    let at = event
        .dim(OVER_TIME_DIM)
        .ok()
        .and_then(|d| At::of(&d.coords))
        .ok_or_else(|| Error::InvalidEvent {
            history_key: history_key.to_string(),
            message: "`over_time` does not hold one timestamp or label".into(),
        })?;
    Ok((kind, at))
}

/// The code version an event records (its `version` attribute).
fn version_of(event: &Dataset) -> String {
    match event.attrs.get("version") {
        Some(AttrValue::Str(v)) => v.clone(),
        _ => String::new(),
    }
}

/// The identity `options` and `event` give column `c`: its units and
/// meaning version.
fn meaning(options: &AppendOptions, var: &str) -> u32 {
    options.meanings.get(var).copied().unwrap_or(0)
}

/// Under [`ResetPolicy::Error`], refuses an event that changes a column's
/// identity.
fn check_columns(
    history_key: &str,
    m: &HistoryRec,
    event: &Dataset,
    options: &AppendOptions,
) -> Result<()> {
    if options.reset_policy != ResetPolicy::Error {
        return Ok(());
    }
    for c in event.columns() {
        let m_v = meaning(options, &c.var);
        if let Some(i) = m.current_column(&c.name)
            && !m.columns[i].same_identity(c.kind, &c.attrs.units, m_v)
        {
            return Err(Error::ColumnChanged {
                history_key: history_key.to_string(),
                column: c.name.clone(),
                was: m.columns[i].identity_text(),
                now: identity_text(c.kind, &c.attrs.units, m_v),
            });
        }
    }
    Ok(())
}

/// Records `event`'s columns in the history: births, resumptions,
/// dormancy and retirements (a changed identity; warned about under
/// [`ResetPolicy::Warn`]).
fn update_columns(
    history_key: &str,
    meta: &mut HistoryRec,
    event: &Dataset,
    seq: u64,
    options: &AppendOptions,
) -> ColumnChanges {
    let mut ch = ColumnChanges::default();
    let mut held = BTreeSet::new();
    for c in event.columns() {
        let m_v = meaning(options, &c.var);
        let fresh = ColumnRec {
            name: c.name.clone(),
            stored: c.name.clone(),
            var: c.var.clone(),
            kind: c.kind,
            units: c.attrs.units.clone(),
            meaning: m_v,
            born: seq,
            last: seq,
            retired: None,
            gaps: Vec::new(),
        };
        match meta.current_column(&c.name) {
            None => {
                // A retired column shown under this name gives it up.
                if let Some(i) = meta.columns.iter().position(|r| r.name == c.name) {
                    let renamed = meta.retired_name(&meta.columns[i].stored);
                    warn!(history = history_key, column = %c.name, %renamed,
                        "a new column takes the name of a retired one; renaming the retired one");
                    meta.columns[i].name = renamed;
                }
                ch.born.push(c.name.clone());
                meta.columns.push(fresh);
            }
            Some(i) if meta.columns[i].same_identity(c.kind, &c.attrs.units, m_v) => {
                if meta.columns[i].last + 1 != seq && meta.event_count() > 0 {
                    ch.resumed.push(c.name.clone());
                    let last = meta.columns[i].last;
                    meta.columns[i].gaps.push((last, seq));
                }
                meta.columns[i].last = seq;
            }
            Some(i) => {
                let retired_as = meta.retired_name(&c.name);
                let was = meta.columns[i].identity_text();
                let now = identity_text(c.kind, &c.attrs.units, m_v);
                if options.reset_policy == ResetPolicy::Warn {
                    warn!(history = history_key, column = %c.name, %was, %now, %retired_as,
                        "a result column changed identity; retiring the old one and starting afresh");
                }
                meta.columns[i].name.clone_from(&retired_as);
                meta.columns[i].retired = Some(seq);
                meta.columns.push(fresh);
                ch.retired.push(Retirement {
                    column: c.name.clone(),
                    retired_as,
                    was,
                    now,
                });
            }
        }
        held.insert(c.name.as_str());
    }
    for c in &meta.columns {
        if c.retired.is_none() && c.last + 1 == seq && !held.contains(c.stored.as_str()) {
            ch.dormant.push(c.name.clone());
        }
    }
    ch
}

/// Whether the stored events must be dropped before `event` joins them,
/// and why. Under [`ResetPolicy::Error`] a mismatch is an error, before
/// anything is written.
fn decide_reset(
    history_key: &str,
    stored: Option<&HistoryRec>,
    event: &Dataset,
    options: &AppendOptions,
) -> Result<Option<ResetReason>> {
    // A history whose events were all removed takes this run's schema.
    let Some(m) = stored.filter(|m| m.event_count() > 0) else {
        return Ok(None);
    };
    if options.clear_history {
        return Ok(Some(ResetReason::Cleared));
    }
    let Err(why) = m.fits(event) else {
        return Ok(None);
    };
    match options.reset_policy {
        ResetPolicy::Error => {
            return Err(Error::HistoryMismatch {
                history_key: history_key.to_string(),
                reason: why,
            });
        }
        ResetPolicy::Warn => warn!(history = history_key, reason = %why,
            "the run does not match the stored history; starting the history afresh"),
        ResetPolicy::Ignore => {}
    }
    Ok(Some(ResetReason::Incompatible(why)))
}

/// Ages `vars` in one event (a single `over_time` position: every cell of
/// them). Returns the media paths overwritten, or `None` when the event
/// has no column of any of them (nothing changed).
fn age_vars(event: &mut Dataset, vars: &[String]) -> collector_core::Result<Option<Vec<String>>> {
    let mut released = None;
    for var in vars {
        if event.columns().iter().any(|c| c.var == *var) {
            let paths = event.age_var(var, 0)?;
            released.get_or_insert_with(Vec::new).extend(paths);
        }
    }
    Ok(released)
}

/// One append in progress: its batch, and what it has done so far.
struct Append<'a> {
    db: &'a CacheDb,
    history_key: &'a str,
    batch: Batch<'a>,
    /// Media paths of the cells deleted or overwritten, in the order met.
    released: Vec<String>,
    removed_events: u64,
    aged_events: u64,
}

impl<'a> Append<'a> {
    fn new(db: &'a CacheDb, history_key: &'a str) -> Self {
        Append {
            db,
            history_key,
            batch: db.batch(),
            released: Vec::new(),
            removed_events: 0,
            aged_events: 0,
        }
    }

    fn key(&self, seq: u64) -> EventKey {
        EventKey::new(self.history_key, seq)
    }

    /// A reset: deletes every stored event and returns the metadata of a
    /// new series that goes on numbering after the old one.
    fn drop_events(&mut self, stored: Option<HistoryRec>, kind: TimeKind) -> Result<HistoryRec> {
        self.removed_events = stored.as_ref().map_or(0, HistoryRec::event_count);
        // Unknown columns (corrupt metadata) mean looking at every record.
        if stored.as_ref().is_none_or(HistoryRec::has_media) {
            self.db
                .history_media(self.history_key, &mut self.released)?;
        }
        self.batch
            .delete_prefix::<HistoryEvents>(self.history_key)?;
        let next_seq = stored.as_ref().map_or(0, |m| m.next_seq);
        // The parts of the events before the new series only: the new
        // event's are written (committed) before this batch.
        let (start, _) = EventParts::history_range(self.history_key);
        let end = HistoryEvents::key_bytes(&self.key(next_seq));
        self.batch.delete_key_range::<EventParts>((start, end))?;
        let mut fresh = HistoryRec::fresh(next_seq, kind);
        if let Some(m) = stored {
            fresh.identity = m.identity;
        }
        Ok(fresh)
    }

    /// Deletes the live event at `at`, which the new event replaces;
    /// returns its position and sequence number.
    fn replace(&mut self, meta: &mut HistoryRec, at: &At) -> Result<Option<(usize, u64)>> {
        let Some(pos) = meta.position_of(at) else {
            return Ok(None);
        };
        let old = meta.events.remove(pos);
        self.delete_event(meta, old.seq)?;
        Ok(Some((pos, old.seq)))
    }

    /// Deletes the oldest events past `max_events` (the new one, `seq`,
    /// counts and is never the one deleted).
    fn trim(&mut self, meta: &mut HistoryRec, seq: u64, max_events: Option<usize>) -> Result<()> {
        let Some(n) = max_events else {
            return Ok(());
        };
        let keep = n.max(1);
        while meta.events.len() > keep {
            let i = usize::from(meta.events.get(0).seq == seq);
            let old = meta.events.remove(i);
            self.delete_event(meta, old.seq)?;
        }
        Ok(())
    }

    /// Deletes the record of event `s` (no longer in `meta.events`) and
    /// releases the files it names.
    fn delete_event(&mut self, meta: &mut HistoryRec, s: u64) -> Result<()> {
        let key = self.key(s);
        let size = self.release_deleted(&key, meta.has_media())?;
        meta.bytes = meta.bytes.saturating_sub(size);
        self.batch.delete::<HistoryEvents>(&key)?;
        self.batch.delete_prefix::<EventParts>(&key)?;
        self.removed_events += 1;
        Ok(())
    }

    /// The stored size of a deleted event. When the history has media
    /// columns the event is read, and the files it names are released.
    fn release_deleted(&mut self, key: &EventKey, media: bool) -> Result<u64> {
        if !media {
            return Ok(self.db.event_size(key)?.unwrap_or(0));
        }
        Ok(match self.db.read_event(key)? {
            Ok((ds, size)) => {
                self.released.extend(media_paths(&ds));
                size
            }
            Err(_) => 0,
        })
    }

    /// Per-variable limits: writes the sentinel into the cells of the
    /// events newly past each limit (the new event's own cells when its
    /// limit is 0). Returns the event to write.
    fn age<'e>(
        &mut self,
        meta: &mut HistoryRec,
        event: &'e Dataset,
        seq: u64,
        limits: &BTreeMap<String, usize>,
    ) -> Result<Cow<'e, Dataset>> {
        let mut event = Cow::Borrowed(event);
        for (s, vars) in meta.plan_aging(limits) {
            if s == seq {
                let paths = age_vars(event.to_mut(), &vars)?;
                self.released.extend(paths.into_iter().flatten());
            } else {
                self.age_stored(meta, s, &vars)?;
            }
        }
        Ok(event)
    }

    /// Rewrites stored event `s` with `vars` at the sentinel. An event
    /// that cannot be read is removed instead.
    fn age_stored(&mut self, meta: &mut HistoryRec, s: u64, vars: &[String]) -> Result<()> {
        let key = self.key(s);
        let aged = self.db.read_event(&key)?.and_then(|(mut ds, size)| {
            let paths = age_vars(&mut ds, vars).map_err(|e| Corrupt(e.to_string()))?;
            Ok(paths.map(|p| (ds, size, p)))
        });
        match aged {
            Ok(None) => {}
            Ok(Some((ds, size, paths))) => {
                self.released.extend(paths);
                // Rewritten whole: the parts it may have been in go.
                self.batch.delete_prefix::<EventParts>(&key)?;
                let written = self.batch.put::<HistoryEvents>(&key, &ds)?;
                meta.bytes = meta.bytes.saturating_sub(size) + written;
                self.aged_events += 1;
            }
            Err(e) => {
                warn!(history = self.history_key, seq = s, error = %e,
                    "corrupt history event; removing it");
                self.batch.delete::<HistoryEvents>(&key)?;
                self.batch.delete_prefix::<EventParts>(&key)?;
                meta.events.retain(|e| e.seq != s);
            }
        }
        Ok(())
    }

    /// Puts the new event, and the metadata that counts it, in the batch.
    /// A large event is written in parts first (each committed on its
    /// own, under a sequence number no committed event holds), and the
    /// batch gets the record of its parts.
    fn write_event(&mut self, meta: &mut HistoryRec, seq: u64, event: &Dataset) -> Result<()> {
        let key = self.key(seq);
        // An event that looks small is encoded once, whole; one found
        // larger than a part after all, and one that looks large, are
        // streamed into parts.
        let whole = if in_parts(codec::event_size_hint(event) as u64) {
            None
        } else {
            Some(Sealed::<HistoryEvents>::new(&key, event)?).filter(|v| !in_parts(v.len()))
        };
        if let Some(v) = whole {
            self.batch.put_sealed::<HistoryEvents>(&key, &v)?;
            meta.bytes += v.len();
        } else {
            let what = format!("event {seq} of history {}", self.history_key);
            let part = |n| EventPartKey {
                event: key.clone(),
                n,
            };
            // What a cut-off write of this sequence number left.
            let first = |b: &mut Batch<'_>| b.delete_prefix::<EventParts>(&key);
            let (parts, bytes) = PartWriter::<EventParts>::new(self.db, &what, &part, &first)
                .write_all(|w| codec::write_event(seq, event, w))?;
            self.batch
                .put::<HistoryEventsInParts>(&key, &EventPartsRec { parts, bytes })?;
            meta.bytes += bytes;
        }
        meta.updated_at_ms = now_ms();
        self.batch.put::<HistoryMeta>(self.history_key, meta)?;
        Ok(())
    }

    /// Commits the batch; only then are files released. A path the new
    /// event (as written) still names was not released by this batch.
    fn commit(
        self,
        meta: &HistoryRec,
        seq: u64,
        event: &Dataset,
        reset: Option<ResetReason>,
    ) -> Result<AppendOutcome> {
        let mut released = self.released;
        // Most appends release nothing: the new event's cells are read only
        // when there is something to filter.
        if !released.is_empty() {
            let still: BTreeSet<&str> = event
                .named_files()
                .filter(|f| f.kind.is_media())
                .map(|f| f.path)
                .collect();
            let mut seen = BTreeSet::new();
            released.retain(|p| !still.contains(p.as_str()) && seen.insert(p.clone()));
        }
        self.batch.commit(format!(
            "appending event {seq} to history {}",
            self.history_key
        ))?;
        Ok(AppendOutcome {
            seq,
            events: meta.event_count(),
            reset,
            removed_events: self.removed_events,
            replaced: None,
            lineage: None,
            columns: ColumnChanges::default(),
            aged_events: self.aged_events,
            released_files: released,
        })
    }
}
