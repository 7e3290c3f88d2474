//! Reading a history back, and deleting one.

use std::collections::BTreeSet;

use collector_core::Dataset;
use tracing::warn;

use super::media_paths;
use super::meta::HistoryRec;
use rayon::prelude::*;

use crate::codec::{Assembler, Corrupt, EventMeta, event_attrs};
use crate::db::{CacheDb, Decoded, lock};
use crate::error::Result;
use crate::schema::{self, EventKey, EventParts, Family, HistoryEvents, HistoryMeta, Lineages};

/// One event read: what it gave (or why it could not be read), and the
/// columns it held that the history does not record with that kind.
type EventRead = (Result<EventMeta, Corrupt>, Vec<String>);

impl CacheDb {
    /// Reads one event and its stored size; `Err(Corrupt)` when it is
    /// missing, cannot be decoded or holds another sequence number.
    pub(super) fn read_event(&self, key: &EventKey) -> Result<Decoded<(Dataset, u64)>> {
        let read = self.with_event(key, |b| {
            let ev = HistoryEvents::decode(b)?;
            if ev.seq != key.seq {
                return Err(Corrupt(format!(
                    "the record holds sequence number {}",
                    ev.seq
                )));
            }
            Ok((ev.dataset, b.len() as u64))
        })?;
        Ok(read.unwrap_or_else(|| Err(Corrupt("the event record is missing".into()))))
    }

    /// The whole history of `history_key`: every live event, in time
    /// order, joined along `over_time` (the last dim). Columns are in order
    /// of birth; a column is filled with its sentinel in the events that
    /// do not hold it (born later, dormant, or aged). A retired column
    /// keeps its values under the name it was retired as. `None` when
    /// there is no history.
    ///
    /// An event record that cannot be decoded is logged, removed and
    /// skipped; a column an event holds with another kind than the
    /// history recorded is logged and left out. A changed column never
    /// makes loading fail.
    pub fn load_history(&self, history_key: &str) -> Result<Option<Dataset>> {
        schema::check_key("history", history_key)?;
        let guard = self.history_lock(history_key);
        let _guard = lock(&guard);
        let mut meta = match self.get::<HistoryMeta>(history_key)? {
            None => return Ok(None),
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                warn!(history = history_key, error = %e,
                    "corrupt history metadata; removing the history");
                self.drop_history(history_key)?;
                return Ok(None);
            }
        };
        let schema = match meta.schema_dims() {
            Ok(dims) => dims,
            Err(e) => {
                warn!(history = history_key, error = %e,
                    "unreadable history schema; removing the history");
                self.drop_history(history_key)?;
                return Ok(None);
            }
        };
        let (history, bad) = self.read_live_events(history_key, &meta, schema)?;
        if !bad.is_empty() {
            self.remove_corrupt_events(history_key, &mut meta, &bad)?;
        }
        Ok(history)
    }

    /// Reads every live event, in time order, into one dataset, each
    /// column named as the history names it (a retired one under its
    /// retired name); returns it with the sequence numbers of the events
    /// that could not be read or do not fit the schema (left out).
    fn read_live_events(
        &self,
        history_key: &str,
        meta: &HistoryRec,
        schema: Vec<collector_core::Dim>,
    ) -> Result<(Option<Dataset>, Vec<u64>)> {
        let plans = meta.columns.iter().map(|c| c.plan()).collect();
        let mut asm = Assembler::new(schema, plans, meta.events.len())
            .map_err(|e| self.corrupt_history(history_key, &e))?;
        let (reader, slots) = asm.parts();
        let seqs: Vec<u64> = meta.events.iter().map(|e| e.seq).collect();
        // The column of the history that each stored column of event `s`
        // belongs to; a column with another kind than recorded is left
        // out.
        let column_of = |stored: &str, kind, s| {
            meta.columns
                .iter()
                .position(|c| c.holds(stored, s) && c.kind == kind)
        };
        // Events are read in parallel, each into its own runs.
        let outcomes: Vec<Result<EventRead>> = slots
            .into_par_iter()
            .zip(seqs.par_iter())
            .map(|(mut slots, &s)| {
                let column_of = |stored: &str, kind| column_of(stored, kind, s);
                let mut skipped = Vec::new();
                // Event records are decoded in place here, in the
                // `HistoryEvents` format (`codec::encode_event`).
                let read = self.with_event(&EventKey::new(history_key, s), |b| {
                    reader.read(b, s, &mut slots, column_of, &mut skipped)
                })?;
                let read =
                    read.unwrap_or_else(|| Err(Corrupt("the event record is missing".into())));
                Ok((read, skipped))
            })
            .collect();
        let mut read = Vec::with_capacity(outcomes.len());
        let mut bad = Vec::new();
        for (&seq, outcome) in seqs.iter().zip(outcomes) {
            let (r, skipped) = outcome?;
            for column in skipped {
                warn!(history = history_key, seq, %column,
                    "an event column the history does not record with this kind; leaving it out");
            }
            match r {
                Ok(m) => read.push(Some(m)),
                Err(err) => {
                    warn!(history = history_key, seq, error = %err,
                        "corrupt history event; removing it");
                    bad.push(seq);
                    read.push(None);
                }
            }
        }
        // Attributes come from the few events the history takes them
        // from, read again (a cached block) rather than kept for every
        // event.
        let attrs_of = |t: usize| {
            let s = seqs[t];
            let key = EventKey::new(history_key, s);
            match self.with_event(&key, |b| {
                event_attrs(b, |stored, kind| column_of(stored, kind, s))
            }) {
                Ok(Some(a)) => a,
                Ok(None) => Err(Corrupt(format!("event {s} vanished while loading"))),
                Err(e) => Err(Corrupt(format!("event {s}: {e}"))),
            }
        };
        let history = asm
            .finish(read, attrs_of)
            .map_err(|e| self.corrupt_history(history_key, &e))?;
        Ok((history, bad))
    }

    fn corrupt_history(&self, history_key: &str, e: &Corrupt) -> crate::Error {
        crate::Error::Core(collector_core::Error::Shape {
            what: format!("history {history_key}"),
            message: e.0.clone(),
        })
    }

    /// Deletes the events `bad` and updates the metadata, in one batch.
    fn remove_corrupt_events(
        &self,
        history_key: &str,
        meta: &mut HistoryRec,
        bad: &[u64],
    ) -> Result<()> {
        let mut b = self.batch();
        for &s in bad {
            let key = EventKey::new(history_key, s);
            if let Some(size) = self.event_size(&key)? {
                meta.bytes = meta.bytes.saturating_sub(size);
            }
            b.delete::<HistoryEvents>(&key)?;
            b.delete_prefix::<EventParts>(&key)?;
        }
        meta.events.retain(|e| !bad.contains(&e.seq));
        b.put::<HistoryMeta>(history_key, meta)?;
        b.commit(format!("removing corrupt events of history {history_key}"))
    }

    /// The number of live events of `history_key` (0 when none), from its
    /// metadata alone.
    pub fn history_len(&self, history_key: &str) -> Result<u64> {
        schema::check_key("history", history_key)?;
        Ok(match self.get::<HistoryMeta>(history_key)? {
            Some(Ok(m)) => m.event_count(),
            _ => 0,
        })
    }

    /// Deletes the whole history of `history_key` in one batch. Returns the
    /// media paths its events named (each once), for the caller to delete
    /// now that the batch has committed.
    ///
    /// When its sweep name's lineage points at it, the lineage goes too:
    /// the next run of that sweep starts a history without a reported
    /// reset.
    pub fn delete_history(&self, history_key: &str) -> Result<Vec<String>> {
        schema::check_key("history", history_key)?;
        let guard = self.history_lock(history_key);
        let _guard = lock(&guard);
        let mut released = Vec::new();
        self.history_media(history_key, &mut released)?;
        let sweep = match self.get::<HistoryMeta>(history_key)? {
            Some(Ok(m)) if !m.sweep.is_empty() => Some(m.sweep),
            _ => None,
        };
        if let Some(sweep) = sweep
            && let Some(Ok(l)) = self.get::<Lineages>(&sweep)?
            && l.history_key == history_key
        {
            let mut b = self.batch();
            b.delete::<Lineages>(&sweep)?;
            b.commit(format!("deleting the lineage of sweep `{sweep}`"))?;
        }
        self.drop_history(history_key)?;
        let mut seen = BTreeSet::new();
        released.retain(|p| seen.insert(p.clone()));
        Ok(released)
    }

    fn drop_history(&self, history_key: &str) -> Result<()> {
        let mut b = self.batch();
        b.delete::<HistoryMeta>(history_key)?;
        b.delete_prefix::<HistoryEvents>(history_key)?;
        b.delete_key_range::<EventParts>(EventParts::history_range(history_key))?;
        b.commit(format!("deleting history {history_key}"))
    }

    /// Adds the media paths named by every readable stored event of
    /// `history_key` to `out`.
    pub(super) fn history_media(&self, history_key: &str, out: &mut Vec<String>) -> Result<()> {
        for entry in self.scan_raw_prefix::<HistoryEvents>(history_key)? {
            let (k, v) = entry?;
            if let Ok(ev) = self.scanned_event(&k, &v)? {
                out.extend(media_paths(&ev.dataset));
            }
        }
        Ok(())
    }
}
