//! The live events of a history, kept packed as they are stored: every
//! append reads and writes the list, so reading it must not cost one
//! allocation per event. Events are looked at in place ([`EventView`]);
//! only an event taken out is decoded into an owned [`EventRec`].
//!
//! Layout, per event, little-endian: the sequence number (u64); the
//! coordinate, a tag byte (0: timestamp, then i64 nanoseconds; 1: label,
//! then u32 length and UTF-8 bytes); the version (u32 length and UTF-8
//! bytes); the aged variables (u32 count, then u32 indices).

use super::meta::At;

/// One event, owned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventRec {
    /// The sequence number of its record (the order of appends).
    pub(crate) seq: u64,
    /// Its `over_time` coordinate.
    pub(crate) at: At,
    /// The code version that produced it ("" when none was declared).
    pub(crate) version: String,
    /// Indices of the variables whose cells were set to the sentinel by a
    /// per-variable limit.
    pub(crate) aged: Vec<u32>,
}

/// An event's coordinate, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtRef<'a> {
    Time(i64),
    Label(&'a str),
}

impl AtRef<'_> {
    pub(crate) fn to_owned(self) -> At {
        match self {
            AtRef::Time(t) => At::Time(t),
            AtRef::Label(l) => At::Label(l.to_string()),
        }
    }
}

/// One event, looked at in place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventView<'a> {
    pub(crate) seq: u64,
    pub(crate) at: AtRef<'a>,
    pub(crate) version: &'a str,
    /// The aged indices, packed (4 bytes each).
    aged: &'a [u8],
}

impl EventView<'_> {
    /// The indices of its aged variables.
    pub(crate) fn aged(&self) -> impl Iterator<Item = u32> + '_ {
        self.aged
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    }

    pub(crate) fn is_aged(&self, idx: u32) -> bool {
        self.aged().any(|a| a == idx)
    }

    pub(crate) fn to_owned(self) -> EventRec {
        EventRec {
            seq: self.seq,
            at: self.at.to_owned(),
            version: self.version.to_string(),
            aged: self.aged().collect(),
        }
    }
}

/// Where one event's parts lie in the packed bytes, found once when the
/// list is read or changed, so that looking at an event parses nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    start: usize,
    seq: u64,
    /// A timestamp, or where the label's bytes lie.
    at: EntryAt,
    version: (usize, usize),
    aged: (usize, usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum EntryAt {
    Time(i64),
    Label(usize, usize),
}

impl Entry {
    fn shifted(mut self, d: isize) -> Self {
        let m = |x: usize| x.wrapping_add_signed(d);
        self.start = m(self.start);
        if let EntryAt::Label(a, b) = &mut self.at {
            *a = m(*a);
            *b = m(*b);
        }
        self.version = (m(self.version.0), m(self.version.1));
        self.aged = (m(self.aged.0), m(self.aged.1));
        self
    }
}

/// The live events, in time order, packed.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PackedEvents {
    bytes: Vec<u8>,
    /// One per event; an event ends where the next starts (the last at
    /// the end of `bytes`).
    entries: Vec<Entry>,
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn encode(e: &EventRec) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + e.version.len());
    out.extend_from_slice(&e.seq.to_le_bytes());
    match &e.at {
        At::Time(t) => {
            out.push(0);
            out.extend_from_slice(&t.to_le_bytes());
        }
        At::Label(l) => {
            out.push(1);
            put_u32(&mut out, l.len());
            out.extend_from_slice(l.as_bytes());
        }
    }
    put_u32(&mut out, e.version.len());
    out.extend_from_slice(e.version.as_bytes());
    put_u32(&mut out, e.aged.len());
    for a in &e.aged {
        out.extend_from_slice(&a.to_le_bytes());
    }
    out
}

/// Parses the event at `pos`: its entry and where the next one starts.
fn parse_at(b: &[u8], pos: usize) -> Result<(Entry, usize), String> {
    let cut = |what: &str| format!("packed events cut short in {what} at byte {pos}");
    let span = |p: usize, n: usize, what: &str| -> Result<(usize, usize), String> {
        let end = p
            .checked_add(n)
            .filter(|&e| e <= b.len())
            .ok_or_else(|| cut(what))?;
        Ok((p, end))
    };
    let word = |p: usize, what: &str| -> Result<[u8; 8], String> {
        let (a, e) = span(p, 8, what)?;
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[a..e]);
        Ok(w)
    };
    let len32 = |p: usize, what: &str| -> Result<usize, String> {
        let (a, _) = span(p, 4, what)?;
        Ok(u32::from_le_bytes([b[a], b[a + 1], b[a + 2], b[a + 3]]) as usize)
    };
    let text = |p: usize, what: &str| -> Result<(usize, usize), String> {
        let n = len32(p, what)?;
        span(p + 4, n, what)
    };
    let seq = u64::from_le_bytes(word(pos, "a sequence number")?);
    let (tag_at, _) = span(pos + 8, 1, "a coordinate")?;
    let mut p = pos + 9;
    let at = match b[tag_at] {
        0 => {
            let t = i64::from_le_bytes(word(p, "a timestamp")?);
            p += 8;
            EntryAt::Time(t)
        }
        1 => {
            let (a, e) = text(p, "a label")?;
            p = e;
            EntryAt::Label(a, e)
        }
        t => {
            return Err(format!(
                "packed events: unknown coordinate tag {t} at byte {pos}"
            ));
        }
    };
    let version = text(p, "a version")?;
    p = version.1;
    let n = len32(p, "aged variables")?;
    let aged = span(
        p + 4,
        n.checked_mul(4).ok_or_else(|| cut("aged variables"))?,
        "aged variables",
    )?;
    Ok((
        Entry {
            start: pos,
            seq,
            at,
            version,
            aged,
        },
        aged.1,
    ))
}

fn parse_all(b: &[u8]) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        let (e, next) = parse_at(b, pos)?;
        entries.push(e);
        pos = next;
    }
    Ok(entries)
}

impl PackedEvents {
    /// The events stored as `bytes`; a message naming what is wrong when
    /// they are not a packed list.
    ///
    /// Its structure is checked here; its text is checked as UTF-8 when
    /// looked at (a label or version that is not reads as empty), so that
    /// reading the list costs no pass over every string.
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Result<Self, String> {
        let entries = parse_all(&bytes)?;
        Ok(PackedEvents { bytes, entries })
    }

    /// The stored bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn end(&self, i: usize) -> usize {
        self.entries
            .get(i + 1)
            .map_or(self.bytes.len(), |e| e.start)
    }

    fn text(&self, (a, e): (usize, usize)) -> &str {
        // Only valid strings are spliced in; stored bytes that are not
        // UTF-8 (damage) read as empty.
        std::str::from_utf8(&self.bytes[a..e]).unwrap_or("")
    }

    /// The sequence number of event `i`.
    pub(crate) fn seq(&self, i: usize) -> u64 {
        self.entries[i].seq
    }

    /// Event `i` (in time order).
    pub(crate) fn get(&self, i: usize) -> EventView<'_> {
        let e = &self.entries[i];
        EventView {
            seq: e.seq,
            at: match e.at {
                EntryAt::Time(t) => AtRef::Time(t),
                EntryAt::Label(a, b) => AtRef::Label(self.text((a, b))),
            },
            version: self.text(e.version),
            aged: &self.bytes[e.aged.0..e.aged.1],
        }
    }

    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = EventView<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Whether every coordinate is a timestamp (`true`) or a label.
    pub(crate) fn all_times(&self, times: bool) -> bool {
        self.entries
            .iter()
            .all(|e| matches!(e.at, EntryAt::Time(_)) == times)
    }

    /// The position of the event at `at`, if any (compares bytes: no
    /// parsing, no allocation).
    pub(crate) fn position_of(&self, at: &At) -> Option<usize> {
        self.entries.iter().position(|e| match (e.at, at) {
            (EntryAt::Time(a), At::Time(b)) => a == *b,
            (EntryAt::Label(x, y), At::Label(l)) => &self.bytes[x..y] == l.as_bytes(),
            _ => false,
        })
    }

    /// Where a new event at `at` goes: after every timestamp not later
    /// than it; a label goes last.
    pub(crate) fn insert_position(&self, at: &At) -> usize {
        match at {
            At::Time(t) => self
                .entries
                .iter()
                .position(|e| matches!(e.at, EntryAt::Time(u) if u > *t))
                .unwrap_or(self.len()),
            At::Label(_) => self.len(),
        }
    }

    /// Replaces the bytes of events `range` by `new` (whole encoded
    /// events), keeping the entries in step.
    fn splice(&mut self, range: std::ops::Range<usize>, new: Vec<u8>) {
        let at = if range.start < self.len() {
            self.entries[range.start].start
        } else {
            self.bytes.len()
        };
        let end = if range.end > range.start {
            self.end(range.end - 1)
        } else {
            at
        };
        let added = match parse_all(&new) {
            Ok(es) => es
                .into_iter()
                .map(|e| e.shifted(at as isize))
                .collect::<Vec<_>>(),
            // Only encodings made here are spliced in: never reached.
            Err(_) => return,
        };
        let delta = new.len() as isize - (end - at) as isize;
        self.bytes.splice(at..end, new);
        let tail: Vec<Entry> = self
            .entries
            .drain(range.start..)
            .skip(range.len())
            .collect();
        self.entries.extend(added);
        self.entries
            .extend(tail.into_iter().map(|e| e.shifted(delta)));
    }

    pub(crate) fn insert(&mut self, i: usize, e: &EventRec) {
        self.splice(i..i, encode(e));
    }

    #[cfg(test)]
    pub(crate) fn push(&mut self, e: &EventRec) {
        self.insert(self.len(), e);
    }

    /// Takes event `i` out.
    pub(crate) fn remove(&mut self, i: usize) -> EventRec {
        let owned = self.get(i).to_owned();
        self.splice(i..i + 1, Vec::new());
        owned
    }

    /// Keeps the events `keep` says yes to.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&EventView<'_>) -> bool) {
        let mut i = 0;
        while i < self.len() {
            if keep(&self.get(i)) {
                i += 1;
            } else {
                self.splice(i..i + 1, Vec::new());
            }
        }
    }

    /// Marks variable `idx` aged in event `i`.
    pub(crate) fn set_aged(&mut self, i: usize, idx: u32) {
        let mut e = self.get(i).to_owned();
        if e.aged.contains(&idx) {
            return;
        }
        e.aged.push(idx);
        self.splice(i..i + 1, encode(&e));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn ev(seq: u64, at: At) -> EventRec {
        EventRec {
            seq,
            at,
            version: format!("v{seq}"),
            aged: Vec::new(),
        }
    }

    #[test]
    fn events_round_trip_and_change_in_place() {
        let mut p = PackedEvents::default();
        p.push(&ev(0, At::Label("a".into())));
        p.push(&ev(1, At::Time(5)));
        p.insert(1, &ev(2, At::Label("ünï".into())));
        p.set_aged(0, 3);
        p.set_aged(0, 3);
        let back = PackedEvents::from_bytes(p.as_bytes().to_vec()).unwrap();
        assert_eq!(back, p);
        let all: Vec<EventRec> = back.iter().map(EventView::to_owned).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].aged, [3]);
        assert_eq!(all[1].at, At::Label("ünï".into()));
        assert_eq!(all[2].version, "v1");
        assert_eq!(back.position_of(&At::Time(5)), Some(2));
        let mut p = back;
        assert_eq!(p.remove(1).seq, 2);
        p.retain(|e| e.seq != 0);
        assert_eq!(p.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn cut_or_mistagged_lists_are_refused() {
        let mut p = PackedEvents::default();
        p.push(&ev(7, At::Label("abc".into())));
        let b = p.as_bytes().to_vec();
        for cut in 1..b.len() {
            assert!(
                PackedEvents::from_bytes(b[..cut].to_vec()).is_err(),
                "cut at {cut}"
            );
        }
        let mut bad = b.clone();
        bad[8] = 9;
        assert!(PackedEvents::from_bytes(bad).unwrap_err().contains("tag 9"));
    }
}
