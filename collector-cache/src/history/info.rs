//! What a history holds, from its metadata alone: events, columns with
//! their birth, dormancy and retirement, and whether a newer history of
//! the same sweep name supersedes it.

use collector_core::{HistoryIdentity, ResultKind, TimeKind};

use super::meta::{ColumnRec, HistoryRec};
use crate::db::CacheDb;
use crate::error::Result;
use crate::schema::{self, HistoryMeta, Lineages};

/// One live event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInfo {
    /// Its record's sequence number (the order of appends).
    pub seq: u64,
    /// Its `over_time` coordinate, as text.
    pub at: String,
    /// The code version that produced it ("" when none was declared).
    pub version: String,
}

/// Where a column stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnState {
    /// The newest event holds it.
    Live,
    /// The newest event does not hold it; it resumes when a run holds it
    /// again with the same identity.
    Dormant {
        /// The sequence number of the newest event that held it.
        last_seq: u64,
    },
    /// Its identity changed: its values stay under [`ColumnInfo::name`],
    /// and a fresh column holds the name it had.
    Retired {
        /// The sequence number of the first event of its successor.
        at_seq: u64,
        /// The column name the successor holds.
        successor: String,
    },
}

/// One column of a history, with its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Its name in the loaded history.
    pub name: String,
    /// Its result variable.
    pub var: String,
    /// Its kind.
    pub kind: ResultKind,
    /// Its units.
    pub units: String,
    /// Its meaning version.
    pub meaning_version: u32,
    /// The sequence number of its first event.
    pub born_seq: u64,
    /// Where it stands.
    pub state: ColumnState,
    /// Its dormant spans that ended, oldest first: the sequence numbers of
    /// the last event that held it before each span and of the event that
    /// held it again (the events appended in between lack it).
    pub dormant_spans: Vec<(u64, u64)>,
}

/// A newer history of the same sweep name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseded {
    /// The history the sweep name appends to now.
    pub by: String,
    /// What changed, one phrase each (empty when this history recorded no
    /// identity).
    pub changes: Vec<String>,
}

/// What a history holds.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryInfo {
    /// The history key.
    pub key: String,
    /// The sweep name.
    pub sweep: String,
    /// The kind of `over_time`.
    pub time_kind: TimeKind,
    /// The live events, in time order.
    pub events: Vec<EventInfo>,
    /// Every column it has held, in order of birth.
    pub columns: Vec<ColumnInfo>,
    /// What its key is made of, when recorded.
    pub identity: Option<HistoryIdentity>,
    /// Set when the sweep name now appends to another history.
    pub superseded: Option<Superseded>,
}

impl HistoryInfo {
    /// The coordinate text of the live event `seq`, if it is live.
    pub fn event_at(&self, seq: u64) -> Option<&str> {
        self.events
            .iter()
            .find(|e| e.seq == seq)
            .map(|e| e.at.as_str())
    }
}

fn column_info(m: &HistoryRec, c: &ColumnRec) -> ColumnInfo {
    let newest = m.next_seq.checked_sub(1);
    let state = match c.retired {
        Some(at_seq) => ColumnState::Retired {
            at_seq,
            successor: c.stored.clone(),
        },
        None if Some(c.last) != newest => ColumnState::Dormant { last_seq: c.last },
        None => ColumnState::Live,
    };
    ColumnInfo {
        name: c.name.clone(),
        var: c.var.clone(),
        kind: c.kind,
        units: c.units.clone(),
        meaning_version: c.meaning,
        born_seq: c.born,
        state,
        dormant_spans: c.gaps.clone(),
    }
}

impl CacheDb {
    /// What the history `history_key` holds, from its metadata (no event
    /// is read); `None` when there is none or its metadata is corrupt.
    pub fn history_info(&self, history_key: &str) -> Result<Option<HistoryInfo>> {
        schema::check_key("history", history_key)?;
        let Some(Ok(m)) = self.get::<HistoryMeta>(history_key)? else {
            return Ok(None);
        };
        let superseded = self.superseded(history_key, &m)?;
        Ok(Some(HistoryInfo {
            key: history_key.to_string(),
            sweep: m.sweep.clone(),
            time_kind: m.time_kind,
            events: m
                .events
                .iter()
                .map(|e| EventInfo {
                    seq: e.seq,
                    at: e.at.to_owned().text(),
                    version: e.version.to_string(),
                })
                .collect(),
            columns: m.columns.iter().map(|c| column_info(&m, c)).collect(),
            identity: m.identity.clone(),
            superseded,
        }))
    }

    /// Whether the sweep name of `m` now appends to another history.
    pub(crate) fn superseded(
        &self,
        history_key: &str,
        m: &HistoryRec,
    ) -> Result<Option<Superseded>> {
        if m.sweep.is_empty() {
            return Ok(None);
        }
        let Some(Ok(l)) = self.get::<Lineages>(&m.sweep)? else {
            return Ok(None);
        };
        Ok((l.history_key != history_key).then(|| Superseded {
            changes: m
                .identity
                .as_ref()
                .map(|old| l.identity.changes_from(old))
                .unwrap_or_default(),
            by: l.history_key,
        }))
    }
}
