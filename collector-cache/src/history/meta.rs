//! The metadata record of one history: its schema, which sequence numbers
//! are live, their size, and the per-variable aging watermarks.

use std::collections::BTreeMap;

use collector_core::{AttrValue, Dataset, Dim, OVER_TIME_DIM, ResultKind, TimeKind};
use serde::{Deserialize, Serialize};

use crate::codec::{self, Corrupt};
use crate::error::Result;

/// The metadata of one history, as stored in the `history_meta` family.
/// The field names and order are the on-disk format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HistoryRec {
    /// The sweep name (dataset attribute `sweep`), for listings.
    pub(crate) sweep: String,
    /// The kind of `over_time`, stored as its name ("timestamp" or
    /// "label").
    #[serde(with = "time_kind_name")]
    pub(crate) time_kind: TimeKind,
    /// The non-time dims (names, coordinates, attrs), encoded.
    #[serde(with = "serde_bytes")]
    schema: Vec<u8>,
    /// Every column seen: name, variable, kind.
    columns: Vec<(String, String, ResultKind)>,
    /// Live events are `first_seq..next_seq` minus `holes`.
    pub(super) first_seq: u64,
    pub(super) next_seq: u64,
    /// Sequence numbers in `first_seq..next_seq` whose record was removed
    /// (found corrupt). Sorted.
    holes: Vec<u64>,
    /// Encoded size of the live events.
    pub(crate) bytes: u64,
    /// Per variable: every live event with a smaller sequence number has
    /// that variable's cells at the sentinel.
    aged: BTreeMap<String, u64>,
    pub(super) updated_at_ms: u64,
}

/// [`TimeKind`] on disk: its name, a MessagePack string.
mod time_kind_name {
    use collector_core::TimeKind;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(k: &TimeKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TimeKind, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

impl HistoryRec {
    /// Checks what decoding cannot: the live range, and holes that are
    /// sorted, unique and inside it (the event count subtracts them).
    pub(crate) fn checked(self) -> Result<Self, Corrupt> {
        if self.first_seq > self.next_seq {
            return Err(Corrupt(format!(
                "first sequence {} > next {}",
                self.first_seq, self.next_seq
            )));
        }
        let in_range = |h: &u64| (self.first_seq..self.next_seq).contains(h);
        if !self.holes.iter().all(in_range) || !self.holes.windows(2).all(|w| w[0] < w[1]) {
            return Err(Corrupt(format!(
                "holes {:?} are not sorted, unique and within {}..{}",
                self.holes, self.first_seq, self.next_seq
            )));
        }
        Ok(self)
    }

    /// A history without events whose next event gets `next_seq`.
    pub(super) fn fresh(next_seq: u64, time_kind: TimeKind) -> Self {
        HistoryRec {
            sweep: String::new(),
            time_kind,
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

    /// The live sequence numbers, oldest first.
    pub(super) fn live(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        (self.first_seq..self.next_seq).filter(|s| self.holes.binary_search(s).is_err())
    }

    pub(super) fn has_media(&self) -> bool {
        self.columns.iter().any(|(_, _, k)| k.is_media())
    }

    /// The stored schema as a dataset without columns, for
    /// `Dataset::history_compatible`.
    pub(super) fn schema_dataset(&self) -> Result<Dataset, Corrupt> {
        let mut dims = codec::decode_dims(&self.schema)?;
        dims.push(Dim::new(OVER_TIME_DIM, self.time_kind.empty_coords()));
        Dataset::from_parts(dims, Vec::new(), BTreeMap::new()).map_err(|e| Corrupt(e.to_string()))
    }

    /// Whether `event` may join this history; what differs when not.
    pub(super) fn fits(&self, event: &Dataset) -> Result<(), String> {
        self.schema_dataset()
            .map_err(|e| format!("stored schema unreadable: {e}"))
            .and_then(|s| s.history_compatible(event))
    }

    /// When the history has no live event, makes `event`'s dims its
    /// schema: a new series.
    pub(super) fn start_series_if_empty(&mut self, event: &Dataset, kind: TimeKind) -> Result<()> {
        if self.event_count() > 0 {
            return Ok(());
        }
        let dims = event.dims().split_last().map_or(&[][..], |(_, rest)| rest);
        self.time_kind = kind;
        self.schema = codec::encode_dims(dims)?;
        self.aged.clear();
        Ok(())
    }

    /// Takes the sweep name and any new column of `event`, and gives it
    /// the next sequence number.
    pub(super) fn add_event(&mut self, event: &Dataset) -> u64 {
        if let Some(AttrValue::Str(s)) = event.attrs.get("sweep") {
            self.sweep.clone_from(s);
        }
        for c in event.columns() {
            if !self.columns.iter().any(|(n, _, _)| *n == c.name) {
                self.columns.push((c.name.clone(), c.var.clone(), c.kind));
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Forgets the oldest live event (trimmed).
    pub(super) fn drop_oldest(&mut self) {
        self.first_seq += 1;
        self.normalise();
    }

    /// Forgets event `s` (found corrupt and removed).
    pub(super) fn remove(&mut self, s: u64) {
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

    /// The live events whose cells of a variable newly fall out of that
    /// variable's limit in `limits` (its newest N events keep them), with
    /// those variables; moves each variable's watermark past them.
    pub(super) fn plan_aging(&mut self, limits: &BTreeMap<String, usize>) -> AgingPlan {
        let mut plan = AgingPlan::new();
        for (var, &limit) in limits {
            let boundary = if limit == 0 {
                self.next_seq
            } else {
                match self.live().rev().nth(limit - 1) {
                    Some(b) => b,
                    None => continue,
                }
            };
            let from = self.aged.get(var).copied().unwrap_or(0).max(self.first_seq);
            for s in (from..boundary).filter(|&s| self.is_live(s)) {
                plan.entry(s).or_default().push(var.clone());
            }
            let w = self.aged.entry(var.clone()).or_insert(0);
            *w = (*w).max(boundary);
        }
        plan
    }
}

/// Sequence number → the variables to age in that event.
pub(super) type AgingPlan = BTreeMap<u64, Vec<String>>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::schema::{Family, HistoryMeta};

    fn history(events: u64) -> HistoryRec {
        let mut m = HistoryRec::fresh(0, TimeKind::Label);
        m.next_seq = events;
        m
    }

    #[test]
    fn aging_plans_only_the_events_newly_past_the_limit() {
        let mut m = history(3);
        let limits = BTreeMap::from([("img".to_string(), 2), ("y".to_string(), 0)]);
        let plan = m.plan_aging(&limits);
        assert_eq!(
            plan.get(&0),
            Some(&vec!["img".to_string(), "y".to_string()])
        );
        assert_eq!(plan.get(&2), Some(&vec!["y".to_string()]));
        assert_eq!(plan.len(), 3);
        // Nothing new: the watermarks remember.
        assert!(m.plan_aging(&limits).is_empty());
        m.next_seq += 1;
        let plan = m.plan_aging(&limits);
        assert_eq!(plan.keys().copied().collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn holes_are_not_live_and_close_from_the_front() {
        let mut m = history(4);
        m.remove(1);
        assert_eq!(m.event_count(), 3);
        assert_eq!(m.live().collect::<Vec<_>>(), [0, 2, 3]);
        m.drop_oldest();
        assert_eq!(m.first_seq, 2);
        assert_eq!(m.live().collect::<Vec<_>>(), [2, 3]);
        assert!(m.holes.is_empty());
    }

    #[test]
    fn a_bad_time_kind_is_corrupt() {
        let m = history(1);
        let mut bytes = HistoryMeta::encode("h", &m).unwrap().to_vec();
        // The kind is stored by its name.
        let pos = bytes.windows(5).position(|w| w == b"label").unwrap();
        bytes[pos..pos + 5].copy_from_slice(b"lapel");
        let e = HistoryMeta::decode(&bytes).unwrap_err();
        assert!(e.0.contains("lapel"), "{e}");
    }

    #[test]
    fn holes_out_of_range_or_repeated_are_corrupt() {
        let roundtrip = |m: &HistoryRec| {
            let bytes = HistoryMeta::encode("h", m).unwrap().to_vec();
            HistoryMeta::decode(&bytes)
        };
        let mut m = history(4);
        m.remove(2);
        assert_eq!(roundtrip(&m).unwrap().event_count(), 3);
        for holes in [vec![2, 2], vec![3, 2], vec![4], vec![1, 2, 3, 0]] {
            let mut bad = history(4);
            bad.first_seq = 1;
            bad.holes = holes.clone();
            let e = roundtrip(&bad).unwrap_err();
            assert!(e.0.contains("holes"), "{holes:?}: {e}");
        }
    }
}
