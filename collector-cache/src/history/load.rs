//! Reading a history back, and deleting one.

use std::collections::BTreeSet;

use collector_core::Dataset;
use tracing::warn;

use super::media_paths;
use super::meta::HistoryRec;
use crate::codec::Corrupt;
use crate::db::{CacheDb, Decoded, lock};
use crate::error::Result;
use crate::schema::{self, EventKey, HistoryEvents, HistoryMeta, Lineages};

impl CacheDb {
    /// Reads one event and its stored size; `Err(Corrupt)` when it is
    /// missing, cannot be decoded or holds another sequence number.
    pub(super) fn read_event(&self, key: &EventKey) -> Result<Decoded<(Dataset, u64)>> {
        Ok(match self.get_sized::<HistoryEvents>(key)? {
            None => Err(Corrupt("the event record is missing".into())),
            Some((Ok(ev), _)) if ev.seq != key.seq => Err(Corrupt(format!(
                "the record holds sequence number {}",
                ev.seq
            ))),
            Some((Ok(ev), size)) => Ok((ev.dataset, size)),
            Some((Err(e), _)) => Err(e),
        })
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
        let (parts, bad) = self.read_live_events(history_key, &meta)?;
        if !bad.is_empty() {
            self.remove_corrupt_events(history_key, &mut meta, &bad)?;
        }
        if parts.is_empty() {
            return Ok(None);
        }
        let joined = Dataset::concat_over_time(&parts)?;
        Ok(Some(in_birth_order(&meta, joined)?))
    }

    /// The live events that read back and fit the history's schema, in
    /// order, each with its columns named as the history names them; and
    /// the sequence numbers of those that do not read back or fit.
    fn read_live_events(
        &self,
        history_key: &str,
        meta: &HistoryRec,
    ) -> Result<(Vec<Dataset>, Vec<u64>)> {
        let schema = meta.schema_dataset().ok();
        let mut parts = Vec::with_capacity(meta.events.len());
        let mut bad = Vec::new();
        for e in &meta.events {
            let s = e.seq;
            let ev = self
                .read_event(&EventKey::new(history_key, s))?
                .and_then(|(ds, _)| {
                    let schema = schema
                        .as_ref()
                        .ok_or_else(|| Corrupt("stored schema unreadable".into()))?;
                    schema.history_compatible(&ds).map_err(Corrupt)?;
                    Ok(ds)
                });
            match ev {
                Ok(ds) => parts.push(named_as_history(history_key, meta, s, ds)?),
                Err(e) => {
                    warn!(history = history_key, seq = s, error = %e,
                        "corrupt history event; removing it");
                    bad.push(s);
                }
            }
        }
        Ok((parts, bad))
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
            if let Some(size) = self.stored_size::<HistoryEvents>(&key)? {
                meta.bytes = meta.bytes.saturating_sub(size);
            }
            b.delete::<HistoryEvents>(&key)?;
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
        b.commit(format!("deleting history {history_key}"))
    }

    /// Adds the media paths named by every readable stored event of
    /// `history_key` to `out`.
    pub(super) fn history_media(&self, history_key: &str, out: &mut Vec<String>) -> Result<()> {
        for entry in self.scan_prefix::<HistoryEvents>(history_key)? {
            if let Ok(ev) = entry?.value {
                out.extend(media_paths(&ev.dataset));
            }
        }
        Ok(())
    }
}

/// Names the columns of event `seq` as the history does: each belongs to
/// the column that held its name at that event (a retired one is renamed);
/// a column the history does not know, or holds with another kind, is
/// logged and left out.
fn named_as_history(history_key: &str, meta: &HistoryRec, seq: u64, ds: Dataset) -> Result<Dataset> {
    let target = |c: &collector_core::Column| {
        meta.columns
            .iter()
            .find(|r| r.holds(&c.name, seq))
            .filter(|r| r.kind == c.kind)
    };
    let untouched = ds
        .columns()
        .iter()
        .all(|c| target(c).is_some_and(|r| r.name == c.name));
    if untouched {
        return Ok(ds);
    }
    let (dims, columns, attrs) = ds.into_parts();
    let mut kept = Vec::with_capacity(columns.len());
    for mut c in columns {
        match target(&c) {
            Some(r) => {
                c.name.clone_from(&r.name);
                kept.push(c);
            }
            None => warn!(history = history_key, seq, column = %c.name, kind = %c.kind,
                "an event column the history does not record with this kind; leaving it out"),
        }
    }
    Ok(Dataset::from_parts(dims, kept, attrs)?)
}

/// The columns of `ds` in the history's order of birth.
fn in_birth_order(meta: &HistoryRec, ds: Dataset) -> Result<Dataset> {
    let rank = |name: &str| meta.columns.iter().position(|r| r.name == name);
    let ordered = ds
        .columns()
        .windows(2)
        .all(|w| rank(&w[0].name) <= rank(&w[1].name));
    if ordered {
        return Ok(ds);
    }
    let (dims, mut columns, attrs) = ds.into_parts();
    columns.sort_by_key(|c| rank(&c.name));
    Ok(Dataset::from_parts(dims, columns, attrs)?)
}
