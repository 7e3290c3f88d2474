//! History over time (SPEC §7): one record per event, plus one metadata
//! record per history key and one lineage record per sweep name, changed
//! together in one write batch.
//!
//! An append writes the new event and the metadata, and touches older
//! events only to delete the few that fall out of `max_time_events` or
//! that it replaces (same label or timestamp), or to rewrite the few whose
//! cells of a variable newly fall out of that variable's limit. It never
//! reads or rewrites the rest of the history.
//!
//! The metadata keeps the live events in time order and every column's
//! identity (name, kind, units, meaning version): a column that changes
//! identity is retired under another name (its values stay) and a fresh
//! one starts, so loading never fails because a column changed.

mod append;
mod events;
mod info;
mod lineage;
mod load;
mod meta;
mod stored;

use std::collections::BTreeMap;

pub use collector_core::ResetPolicy;
use collector_core::{Dataset, HistoryIdentity, OVER_TIME_DIM, ResultVar, Sweep, TimeKind};

pub use self::info::{ColumnInfo, ColumnState, EventInfo, HistoryInfo, Superseded};
pub(crate) use self::lineage::LineageRec;
pub(crate) use self::meta::HistoryRec;
use crate::error::{Error, Result};

/// Options of [`CacheDb::append_event`](crate::CacheDb::append_event).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendOptions {
    /// Drop every stored event first and start the series afresh.
    pub clear_history: bool,
    /// Keep at most N events: the new one, and the newest N - 1 others in
    /// time order (the new one is kept even when it is the oldest); the
    /// other records are deleted in the same batch. `Some(0)` keeps the new
    /// one.
    pub max_time_events: Option<usize>,
    /// Per result variable (by variable name, see
    /// `ResultVar::max_time_events_value`): keep that variable's cells only
    /// in its newest N events; older cells are set to the sentinel while
    /// the events stay.
    pub var_max_time_events: BTreeMap<String, usize>,
    /// Per result variable (by name): its meaning version, part of its
    /// columns' identity (see `ResultVar::meaning_version`); 0 when absent.
    pub meanings: BTreeMap<String, u32>,
    /// The sweep name and what the history key is made of. When given,
    /// the append records this history as the sweep name's current one,
    /// and an append to another history than the one the name last used
    /// is a reported reset under `reset_policy`
    /// ([`AppendOutcome::lineage`]).
    pub lineage: Option<Lineage>,
    /// What to do when the run does not fit the stored history, changes a
    /// column's identity, or moves its sweep name to another history.
    pub reset_policy: ResetPolicy,
}

/// A sweep name and what its history key is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Lineage {
    /// The sweep name.
    pub sweep: String,
    /// The identity of the history key.
    pub identity: HistoryIdentity,
}

/// A sweep name moved to another history: its inputs, constants, tag or
/// repeats changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageChange {
    /// The history the name used before.
    pub previous_key: String,
    /// What changed, one phrase each (empty when the old history recorded
    /// no identity).
    pub changes: Vec<String>,
}

/// A column whose identity changed: kept under another name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    /// The column name (the fresh column keeps it).
    pub column: String,
    /// The name the old column's values keep in the loaded history.
    pub retired_as: String,
    /// The old identity.
    pub was: String,
    /// The new identity.
    pub now: String,
}

/// What an append did to the history's columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnChanges {
    /// Columns this event holds for the first time (their sentinel fills
    /// the older events).
    pub born: Vec<String>,
    /// Dormant columns this event holds again.
    pub resumed: Vec<String>,
    /// Columns held by the previous event and not by this one: kept, and
    /// dormant until a run holds them again.
    pub dormant: Vec<String>,
    /// Columns whose identity changed (a reported reset).
    pub retired: Vec<Retirement>,
}

impl AppendOptions {
    /// The options `sweep` declares: its per-variable limits, its meaning
    /// versions and its lineage; no trimming, no clear, the default policy.
    pub fn for_sweep(sweep: &Sweep) -> Self {
        AppendOptions {
            var_max_time_events: Self::var_limits(sweep.results()),
            meanings: sweep
                .results()
                .iter()
                .filter(|r| r.meaning_version_value() != 0)
                .map(|r| (r.name().to_string(), r.meaning_version_value()))
                .collect(),
            lineage: Some(Lineage {
                sweep: sweep.name().to_string(),
                identity: HistoryIdentity::of(sweep),
            }),
            ..AppendOptions::default()
        }
    }

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

/// What [`CacheDb::append_event`](crate::CacheDb::append_event) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The sequence number given to the new event.
    pub seq: u64,
    /// The number of live events after the append.
    pub events: u64,
    /// Set when the old events were dropped; the reason says why.
    pub reset: Option<ResetReason>,
    /// Number of older events deleted (trimmed, replaced or reset).
    pub removed_events: u64,
    /// The sequence number of the event this one replaced (same label or
    /// timestamp).
    pub replaced: Option<u64>,
    /// Set when the sweep name last appended to another history.
    pub lineage: Option<LineageChange>,
    /// What the event did to the columns.
    pub columns: ColumnChanges,
    /// Number of older events rewritten with sentinels (per-variable aging).
    pub aged_events: u64,
    /// The media file paths that the committed batch stopped naming: named
    /// by cells it deleted (events trimmed, replaced or dropped by a reset) or
    /// overwrote with the sentinel (aging, the new event's cells
    /// included), and not named by the new event as written; each once, in
    /// the order met. Another live event, a stored result or another
    /// history may still name one: the caller decides, after this commit,
    /// which may go (the facade keeps every file the committed history
    /// names; [`CacheDb::files_still_named`](crate::CacheDb::files_still_named)
    /// also looks at stored results).
    pub released_files: Vec<String>,
}

/// Checks that `event` has `over_time` as its last dim with exactly one
/// coordinate of a time kind; returns that kind.
fn check_event(history_key: &str, event: &Dataset) -> Result<TimeKind> {
    let bad = |message: String| Error::InvalidEvent {
        history_key: history_key.to_string(),
        message,
    };
    let Some(d) = event.dims().last().filter(|d| d.name == OVER_TIME_DIM) else {
        return Err(bad(format!(
            "the last dim is not `over_time` (dims {:?})",
            event.dim_names()
        )));
    };
    if d.len() != 1 {
        return Err(bad(format!(
            "`over_time` has {} coordinates, expected 1",
            d.len()
        )));
    }
    TimeKind::of(&d.coords).ok_or_else(|| {
        bad(format!(
            "`over_time` holds {} values, expected timestamps or labels",
            d.coords.kind_name()
        ))
    })
}

/// The media files `ds` names (blobs are not media: trimming and aging
/// release media files only).
fn media_paths(ds: &Dataset) -> impl Iterator<Item = String> + '_ {
    ds.named_files()
        .filter(|f| f.kind.is_media())
        .map(|f| f.path.to_string())
}
