//! History over time (SPEC §7): one record per event, plus one metadata
//! record per history key, changed together in one write batch.
//!
//! An append writes the new event and the metadata, and touches older
//! events only to delete the few that fall out of `max_time_events` or to
//! rewrite the few whose cells of a variable newly fall out of that
//! variable's limit (tracked by a per-variable watermark). It never reads
//! or rewrites the rest of the history.

mod append;
mod load;
mod meta;

use std::collections::BTreeMap;

use collector_core::{Dataset, OVER_TIME_DIM, ResultVar, TimeKind};

pub(crate) use self::meta::HistoryRec;
use crate::error::{Error, Result};

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

/// Options of [`CacheDb::append_event`](crate::CacheDb::append_event).
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

/// What [`CacheDb::append_event`](crate::CacheDb::append_event) did.
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
    /// The media file paths that the committed batch stopped naming: named
    /// by cells it deleted (events trimmed or dropped by a reset) or
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
