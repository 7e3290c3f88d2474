//! Appending one event to a history: every change in one write batch.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use collector_core::{Dataset, TimeKind};
use tracing::warn;

use super::meta::HistoryRec;
use super::{AppendOptions, AppendOutcome, ResetPolicy, ResetReason, check_event, media_paths};
use crate::codec::Corrupt;
use crate::db::{Batch, CacheDb, lock, now_ms};
use crate::error::{Error, Result};
use crate::schema::{self, EventKey, HistoryEvents, HistoryMeta};

impl CacheDb {
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
        let kind = check_event(history_key, event)?;
        let guard = self.history_lock(history_key);
        let _guard = lock(&guard);

        let (stored, reset) = match self.read_meta_for_append(history_key)? {
            Ok(stored) => {
                let reset = decide_reset(history_key, stored.as_ref(), event, options)?;
                (stored, reset)
            }
            Err(corrupt) => (None, Some(corrupt)),
        };
        let mut append = Append::new(self, history_key);
        let mut meta = match (stored, reset.is_some()) {
            (stored, true) => append.drop_events(stored, kind)?,
            (Some(m), false) => m,
            (None, false) => HistoryRec::fresh(0, kind),
        };
        meta.start_series_if_empty(event, kind)?;
        let seq = meta.add_event(event);
        append.trim(&mut meta, options.max_time_events)?;
        let event = append.age(&mut meta, event, seq, &options.var_max_time_events)?;
        append.write_event(&mut meta, seq, &event)?;
        append.commit(&meta, seq, &event, reset)
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
        Ok(HistoryRec::fresh(stored.map_or(0, |m| m.next_seq), kind))
    }

    /// Deletes the oldest events past `max_events` (the new one counts).
    fn trim(&mut self, meta: &mut HistoryRec, max_events: Option<usize>) -> Result<()> {
        let Some(n) = max_events else {
            return Ok(());
        };
        let keep = n.max(1) as u64;
        let media = meta.has_media();
        while meta.event_count() > keep {
            let key = self.key(meta.first_seq);
            let size = self.release_trimmed(&key, media)?;
            meta.bytes = meta.bytes.saturating_sub(size);
            self.batch.delete::<HistoryEvents>(&key)?;
            meta.drop_oldest();
            self.removed_events += 1;
        }
        Ok(())
    }

    /// The stored size of a trimmed event. When the history has media
    /// columns the event is read, and the files it names are released.
    fn release_trimmed(&mut self, key: &EventKey, media: bool) -> Result<u64> {
        if !media {
            return Ok(self.db.stored_size::<HistoryEvents>(key)?.unwrap_or(0));
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
                let written = self.batch.put::<HistoryEvents>(&key, &ds)?;
                meta.bytes = meta.bytes.saturating_sub(size) + written;
                self.aged_events += 1;
            }
            Err(e) => {
                warn!(history = self.history_key, seq = s, error = %e,
                    "corrupt history event; removing it");
                self.batch.delete::<HistoryEvents>(&key)?;
                meta.remove(s);
            }
        }
        Ok(())
    }

    /// Puts the new event, and the metadata that counts it, in the batch.
    fn write_event(&mut self, meta: &mut HistoryRec, seq: u64, event: &Dataset) -> Result<()> {
        meta.bytes += self.batch.put::<HistoryEvents>(&self.key(seq), event)?;
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
            aged_events: self.aged_events,
            released_files: released,
        })
    }
}
