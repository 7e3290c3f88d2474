//! The metadata record of one history: its schema, its identity, the live
//! events in time order, and the identity of every column it has held.

use std::collections::BTreeMap;

use collector_core::{
    AttrValue, Coords, Dataset, Dim, HistoryIdentity, OVER_TIME_DIM, ResultKind, TimeKind,
};
use serde::{Deserialize, Serialize};

pub(crate) use super::events::{EventRec, PackedEvents};
use crate::codec::{self, Corrupt};
use crate::error::Result;

/// The metadata of one history, as stored in the `history_meta` family.
/// The field names and order are the on-disk format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HistoryRec {
    /// The sweep name (dataset attribute `sweep`), for listings.
    pub(crate) sweep: String,
    /// What the history key is made of, when the appends said
    /// (`AppendOptions::lineage`): names what changed when a newer history
    /// of the same sweep supersedes this one.
    pub(crate) identity: Option<HistoryIdentity>,
    /// The kind of `over_time`, stored as its name ("timestamp" or
    /// "label").
    #[serde(with = "time_kind_name")]
    pub(crate) time_kind: TimeKind,
    /// The non-time dims (names, coordinates, attrs), encoded.
    #[serde(with = "serde_bytes")]
    schema: Vec<u8>,
    /// Every column the history has held, in order of birth; retired
    /// columns stay (their values do).
    pub(crate) columns: Vec<ColumnRec>,
    /// The live events, in time order: by timestamp, or for labels in the
    /// order each label was first appended. Packed: the list is read and
    /// written on every append, so it must cost little per event.
    #[serde(with = "packed")]
    pub(crate) events: PackedEvents,
    /// The variables named by [`EventRec::aged`].
    aged_vars: Vec<String>,
    /// The sequence number of the next event record.
    pub(super) next_seq: u64,
    /// Encoded size of the live events.
    pub(crate) bytes: u64,
    pub(super) updated_at_ms: u64,
}

/// An event's `over_time` coordinate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum At {
    /// A timestamp, nanoseconds since the epoch.
    Time(i64),
    /// A label.
    Label(String),
}

impl At {
    /// The single coordinate of `coords` (checked by `check_event`).
    pub(super) fn of(coords: &Coords) -> Option<At> {
        match coords {
            Coords::Time(v) if v.len() == 1 => Some(At::Time(v[0])),
            Coords::Label(v) if v.len() == 1 => Some(At::Label(v[0].clone())),
            _ => None,
        }
    }

    /// As shown to users.
    pub(crate) fn text(&self) -> String {
        match self {
            At::Time(ns) => collector_core::format_time_ns(*ns),
            At::Label(l) => l.clone(),
        }
    }
}

impl ColumnRec {
    /// What a history load reads into this column.
    pub(crate) fn plan(&self) -> crate::codec::ColumnPlan {
        crate::codec::ColumnPlan {
            name: self.name.clone(),
            var: self.var.clone(),
            kind: self.kind,
        }
    }
}

/// One column of a history and its identity (name, kind, units, meaning
/// version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ColumnRec {
    /// Its name in the loaded history (a retired column's is renamed).
    pub(crate) name: String,
    /// Its name inside the event records.
    pub(crate) stored: String,
    /// Its result variable.
    pub(crate) var: String,
    pub(crate) kind: ResultKind,
    pub(crate) units: String,
    pub(crate) meaning: u32,
    /// The sequence number of its first event.
    pub(crate) born: u64,
    /// The sequence number of the newest event that held it.
    pub(crate) last: u64,
    /// The sequence number of the event that retired it (the first of its
    /// successor); events from that one on hold the successor.
    pub(crate) retired: Option<u64>,
    /// Its dormant spans that ended: the last event that held it before
    /// each, and the event that held it again (the events appended in
    /// between lack it). Left out of the record when empty, so a history
    /// written before it existed reads the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) gaps: Vec<(u64, u64)>,
}

impl ColumnRec {
    /// Whether the column of event `seq` named `stored` is this one.
    pub(crate) fn holds(&self, stored: &str, seq: u64) -> bool {
        self.stored == stored && self.born <= seq && self.retired.is_none_or(|r| seq < r)
    }

    /// Whether it has the identity of `kind`, `units` and `meaning`.
    pub(super) fn same_identity(&self, kind: ResultKind, units: &str, meaning: u32) -> bool {
        self.kind == kind && self.units == units && self.meaning == meaning
    }

    /// Its identity, for messages: "float in s (meaning 0)".
    pub(crate) fn identity_text(&self) -> String {
        identity_text(self.kind, &self.units, self.meaning)
    }
}

/// A column identity, for messages.
pub(crate) fn identity_text(kind: ResultKind, units: &str, meaning: u32) -> String {
    let units = if units.is_empty() { "no units" } else { units };
    format!("{kind}, {units}, meaning version {meaning}")
}

/// The live events on disk: one MessagePack `bin` holding the packed list
/// (see [`PackedEvents`]).
mod packed {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use super::PackedEvents;

    pub(super) fn serialize<S: Serializer>(events: &PackedEvents, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(events.as_bytes())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PackedEvents, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(d)?;
        PackedEvents::from_bytes(bytes.into_vec()).map_err(D::Error::custom)
    }
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
    /// Checks what decoding cannot: sequence numbers unique and below
    /// `next_seq`, coordinates of the history's kind, aged indices in
    /// range.
    pub(crate) fn checked(self) -> Result<Self, Corrupt> {
        let mut seqs: Vec<u64> = (0..self.events.len()).map(|i| self.events.seq(i)).collect();
        seqs.sort_unstable();
        if seqs.windows(2).any(|w| w[0] == w[1]) || seqs.last().is_some_and(|&s| s >= self.next_seq)
        {
            return Err(Corrupt(format!(
                "event sequence numbers {seqs:?} are not unique and below {}",
                self.next_seq
            )));
        }
        if !self.events.all_times(self.time_kind == TimeKind::Timestamp) {
            return Err(Corrupt(format!(
                "an event coordinate is not a {}",
                self.time_kind.name()
            )));
        }
        let n = u32::try_from(self.aged_vars.len()).unwrap_or(u32::MAX);
        if self.events.iter().any(|e| e.aged().any(|i| i >= n)) {
            return Err(Corrupt(format!("an aged variable index is past {n}")));
        }
        Ok(self)
    }

    /// A history without events whose next event gets `next_seq`.
    pub(super) fn fresh(next_seq: u64, time_kind: TimeKind) -> Self {
        HistoryRec {
            sweep: String::new(),
            identity: None,
            time_kind,
            schema: Vec::new(),
            columns: Vec::new(),
            events: PackedEvents::default(),
            aged_vars: Vec::new(),
            next_seq,
            bytes: 0,
            updated_at_ms: 0,
        }
    }

    pub(crate) fn event_count(&self) -> u64 {
        self.events.len() as u64
    }

    pub(super) fn has_media(&self) -> bool {
        self.columns.iter().any(|c| c.kind.is_media())
    }

    /// The stored schema as a dataset without columns, for
    /// `Dataset::history_compatible`.
    pub(super) fn schema_dataset(&self) -> Result<Dataset, Corrupt> {
        let mut dims = codec::decode_dims(&self.schema)?;
        dims.push(Dim::new(OVER_TIME_DIM, self.time_kind.empty_coords()));
        Dataset::from_parts(dims, Vec::new(), BTreeMap::new()).map_err(|e| Corrupt(e.to_string()))
    }

    /// The stored schema: the non-time dims.
    pub(crate) fn schema_dims(&self) -> Result<Vec<Dim>, Corrupt> {
        codec::decode_dims(&self.schema)
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
        if !self.events.is_empty() {
            return Ok(());
        }
        let dims = event.dims().split_last().map_or(&[][..], |(_, rest)| rest);
        self.time_kind = kind;
        self.schema = codec::encode_dims(dims)?;
        Ok(())
    }

    /// The column of the newest stored name `stored` that is not retired.
    pub(super) fn current_column(&self, stored: &str) -> Option<usize> {
        self.columns
            .iter()
            .rposition(|c| c.stored == stored && c.retired.is_none())
    }

    /// A name no column has: `<name>__retired<k>`.
    pub(super) fn retired_name(&self, name: &str) -> String {
        (1..)
            .map(|k| format!("{name}__retired{k}"))
            .find(|n| !self.columns.iter().any(|c| c.name == *n || c.stored == *n))
            .unwrap_or_else(|| format!("{name}__retired"))
    }

    /// Takes the sweep name and gives the next sequence number.
    pub(super) fn next_event(&mut self, event: &Dataset) -> u64 {
        if let Some(AttrValue::Str(s)) = event.attrs.get("sweep") {
            self.sweep.clone_from(s);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// The position of the live event at `at`, if any.
    pub(super) fn position_of(&self, at: &At) -> Option<usize> {
        self.events.position_of(at)
    }

    /// Where a new event at `at` goes: after every timestamp not later than
    /// it; a label goes last.
    pub(super) fn insert_position(&self, at: &At) -> usize {
        self.events.insert_position(at)
    }

    /// Inserts the record of a new event at `pos`.
    pub(super) fn insert(&mut self, pos: usize, seq: u64, at: At, version: String) {
        self.events.insert(
            pos,
            &EventRec {
                seq,
                at,
                version,
                aged: Vec::new(),
            },
        );
    }

    /// For each per-variable limit in `limits` (its newest N events keep
    /// the variable's cells), the events newly past it: their sequence
    /// numbers with the variables to age. Marks them aged.
    pub(super) fn plan_aging(&mut self, limits: &BTreeMap<String, usize>) -> AgingPlan {
        let mut plan = AgingPlan::new();
        let n = self.events.len();
        for (var, &limit) in limits {
            let past = n.saturating_sub(limit);
            if past == 0 {
                continue;
            }
            let idx = match self.aged_vars.iter().position(|v| v == var) {
                Some(i) => i,
                None => {
                    self.aged_vars.push(var.clone());
                    self.aged_vars.len() - 1
                }
            };
            let idx = u32::try_from(idx).unwrap_or(u32::MAX);
            for i in 0..past {
                let e = self.events.get(i);
                if !e.is_aged(idx) {
                    let seq = e.seq;
                    self.events.set_aged(i, idx);
                    plan.entry(seq).or_default().push(var.clone());
                }
            }
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

    /// Changes event `i` in place.
    fn edit(m: &mut HistoryRec, i: usize, f: impl FnOnce(&mut EventRec)) {
        let mut e = m.events.remove(i);
        f(&mut e);
        m.events.insert(i, &e);
    }

    fn history(labels: &[&str]) -> HistoryRec {
        let mut m = HistoryRec::fresh(0, TimeKind::Label);
        for l in labels {
            let seq = m.next_seq;
            m.next_seq += 1;
            m.insert(m.events.len(), seq, At::Label((*l).into()), String::new());
        }
        m
    }

    #[test]
    fn aging_plans_only_the_events_newly_past_the_limit() {
        let mut m = history(&["a", "b", "c"]);
        let limits = BTreeMap::from([("img".to_string(), 2), ("y".to_string(), 0)]);
        let plan = m.plan_aging(&limits);
        assert_eq!(
            plan.get(&0),
            Some(&vec!["img".to_string(), "y".to_string()])
        );
        assert_eq!(plan.get(&2), Some(&vec!["y".to_string()]));
        assert_eq!(plan.len(), 3);
        // Nothing new: each event remembers what was aged in it.
        assert!(m.plan_aging(&limits).is_empty());
        m.insert(3, 3, At::Label("d".into()), String::new());
        let plan = m.plan_aging(&limits);
        assert_eq!(plan.keys().copied().collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn timestamps_insert_in_time_order_and_labels_last() {
        let mut m = HistoryRec::fresh(0, TimeKind::Timestamp);
        for (seq, t) in [(0, 10), (1, 30)] {
            m.insert(
                m.insert_position(&At::Time(t)),
                seq,
                At::Time(t),
                String::new(),
            );
        }
        assert_eq!(m.insert_position(&At::Time(20)), 1);
        assert_eq!(m.insert_position(&At::Time(5)), 0);
        assert_eq!(m.insert_position(&At::Time(30)), 2);
        assert_eq!(m.position_of(&At::Time(30)), Some(1));
        let l = history(&["b", "a"]);
        assert_eq!(l.insert_position(&At::Label("0".into())), 2);
    }

    #[test]
    fn retired_names_are_unused() {
        let mut m = history(&[]);
        m.columns.push(ColumnRec {
            name: "t__retired1".into(),
            stored: "t".into(),
            var: "t".into(),
            kind: ResultKind::Float,
            units: "s".into(),
            meaning: 0,
            born: 0,
            last: 0,
            retired: Some(1),
            gaps: Vec::new(),
        });
        assert_eq!(m.retired_name("t"), "t__retired2");
        assert!(m.columns[0].holds("t", 0));
        assert!(!m.columns[0].holds("t", 1));
    }

    /// The metadata of a history of two events: golden bytes of the
    /// on-disk format (a change here is a format change).
    fn golden_meta() -> HistoryRec {
        let mut m = history(&["a", "b"]);
        m.sweep = "g".into();
        edit(&mut m, 1, |e| e.version = "v2".into());
        m.columns.push(ColumnRec {
            name: "t".into(),
            stored: "t".into(),
            var: "t".into(),
            kind: ResultKind::Float,
            units: "s".into(),
            meaning: 1,
            born: 0,
            last: 1,
            retired: None,
            gaps: Vec::new(),
        });
        m.plan_aging(&BTreeMap::from([("t".to_string(), 1)]));
        m.bytes = 7;
        m.updated_at_ms = 9;
        m
    }

    /// Two label events (the first with `t` aged), column `t` (float, s,
    /// meaning 1), no identity.
    const GOLDEN_META: &str = concat!(
        "83a6666f726d617402a46b696e64ac686973746f72792d6d657461a77061796c6f6164c4e58aa573",
        "77656570a167a86964656e74697479c0a974696d655f6b696e64a56c6162656ca6736368656d61c4",
        "00a7636f6c756d6e739189a46e616d65a174a673746f726564a174a3766172a174a46b696e64a546",
        "6c6f6174a5756e697473a173a76d65616e696e6701a4626f726e00a46c61737401a7726574697265",
        "64c0a66576656e7473c4320000000000000000010100000061000000000100000000000000010000",
        "000000000001010000006202000000763200000000a9616765645f7661727391a174a86e6578745f",
        "73657102a5627974657307ad757064617465645f61745f6d7309",
    );

    #[test]
    fn metadata_bytes_are_pinned() {
        let m = golden_meta();
        let bytes = HistoryMeta::encode("h", &m).unwrap().to_vec();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, GOLDEN_META, "the history metadata encoding changed");
        let back = HistoryMeta::decode(&bytes).unwrap();
        assert_eq!(back.events, m.events);
        assert_eq!(back.columns, m.columns);
        assert_eq!(back.aged_vars, ["t"]);
    }

    #[test]
    fn dormant_spans_are_kept_and_add_one_field_only_when_present() {
        let mut m = golden_meta();
        m.columns[0].gaps = vec![(0, 3), (4, 9)];
        let bytes = HistoryMeta::encode("h", &m).unwrap().to_vec();
        assert!(bytes.windows(4).any(|w| w == b"gaps"));
        let back = HistoryMeta::decode(&bytes).unwrap();
        assert_eq!(back.columns[0].gaps, [(0, 3), (4, 9)]);
        // Without spans the record is the golden one (no `gaps` key), and
        // such a record reads with none.
        m.columns[0].gaps.clear();
        let plain = HistoryMeta::encode("h", &m).unwrap().to_vec();
        assert!(!plain.windows(4).any(|w| w == b"gaps"));
        assert!(
            HistoryMeta::decode(&plain).unwrap().columns[0]
                .gaps
                .is_empty()
        );
    }

    #[test]
    fn packed_events_cut_short_or_mistagged_are_corrupt() {
        let m = golden_meta();
        let bytes = HistoryMeta::encode("h", &m).unwrap().to_vec();
        // The packed list is the `bin` after the `events` key.
        let key = bytes.windows(6).position(|w| w == b"events").unwrap() + 6;
        assert_eq!(bytes[key], 0xc4, "a bin 8");
        let start = key + 2;
        let mut tagged = bytes.clone();
        tagged[start + 8] = 7; // the first coordinate tag
        let e = HistoryMeta::decode(&tagged).unwrap_err();
        assert!(e.0.contains("unknown coordinate tag 7"), "{e}");
        let mut short = bytes.clone();
        short[key + 1] -= 3; // the bin claims 3 bytes fewer: the list is cut
        assert!(HistoryMeta::decode(&short).is_err());
    }

    #[test]
    fn a_bad_time_kind_is_corrupt() {
        let m = history(&["a"]);
        let mut bytes = HistoryMeta::encode("h", &m).unwrap().to_vec();
        // The kind is stored by its name.
        let pos = bytes.windows(5).position(|w| w == b"label").unwrap();
        bytes[pos..pos + 5].copy_from_slice(b"lapel");
        let e = HistoryMeta::decode(&bytes).unwrap_err();
        assert!(e.0.contains("lapel"), "{e}");
    }

    #[test]
    fn repeated_or_future_sequence_numbers_are_corrupt() {
        let roundtrip = |m: &HistoryRec| {
            let bytes = HistoryMeta::encode("h", m).unwrap().to_vec();
            HistoryMeta::decode(&bytes)
        };
        let mut m = history(&["a", "b"]);
        assert!(roundtrip(&m).is_ok());
        edit(&mut m, 1, |e| e.seq = 0);
        assert!(roundtrip(&m).unwrap_err().0.contains("not unique"));
        edit(&mut m, 1, |e| e.seq = 5);
        assert!(roundtrip(&m).is_err());
        let mut m = history(&["a"]);
        edit(&mut m, 0, |e| e.at = At::Time(1));
        assert!(roundtrip(&m).unwrap_err().0.contains("not a label"));
    }
}
