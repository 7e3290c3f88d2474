//! The on-disk layout: the one place that lists the column families and
//! how their keys are built. A read and a write of the same family go
//! through the same key function, so they cannot disagree.

use crate::error::{Error, Result};

/// Version of the whole on-disk format: column families, key layouts and
/// the envelope payloads of [`crate::codec`]. Bump it when a change makes
/// a database written by an older build unreadable, or makes this build
/// write something an older build would misread (a renamed family, a new
/// key layout, a changed payload field). Adding an optional payload field
/// that old readers ignore does not need a bump. A cache with another
/// version is refused at open, never deleted.
pub const FORMAT_VERSION: u32 = 1;

/// The column families of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cf {
    /// cache key → encoded result (envelope kind `result`).
    Results,
    /// sweep name NUL cache key → index entry (envelope kind `index`).
    Index,
    /// history key → history metadata (envelope kind `history-meta`).
    HistoryMeta,
    /// history key NUL big-endian sequence number → one event
    /// (envelope kind `event`), so a prefix scan returns events in order.
    HistoryEvents,
    /// fixed names → small records ([`VERSION_KEY`]: the format version,
    /// 4 bytes little-endian).
    Meta,
}

impl Cf {
    /// Every family this build uses.
    pub(crate) const ALL: [Cf; 5] = [
        Cf::Results,
        Cf::Index,
        Cf::HistoryMeta,
        Cf::HistoryEvents,
        Cf::Meta,
    ];

    /// The family's name in RocksDB.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cf::Results => "results",
            Cf::Index => "index",
            Cf::HistoryMeta => "history_meta",
            Cf::HistoryEvents => "history_events",
            Cf::Meta => "meta",
        }
    }
}

/// The key of the format version in [`Cf::Meta`].
pub(crate) const VERSION_KEY: &[u8] = b"format_version";

const SEP: u8 = 0;

pub(crate) fn check_key(what: &'static str, key: &str) -> Result<()> {
    let message = if key.is_empty() {
        "it is empty"
    } else if key.as_bytes().contains(&SEP) {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKey {
        what,
        key: key.to_string(),
        message,
    })
}

/// Key in [`Cf::Results`].
pub(crate) fn result_key(cache_key: &str) -> Vec<u8> {
    cache_key.as_bytes().to_vec()
}

/// Key in [`Cf::Index`].
pub(crate) fn index_key(sweep: &str, cache_key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(sweep.len() + 1 + cache_key.len());
    k.extend_from_slice(sweep.as_bytes());
    k.push(SEP);
    k.extend_from_slice(cache_key.as_bytes());
    k
}

/// Key in [`Cf::HistoryMeta`].
pub(crate) fn history_meta_key(history_key: &str) -> Vec<u8> {
    history_key.as_bytes().to_vec()
}

/// The prefix of every event of one history in [`Cf::HistoryEvents`].
pub(crate) fn event_prefix(history_key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(history_key.len() + 9);
    k.extend_from_slice(history_key.as_bytes());
    k.push(SEP);
    k
}

/// The first key past every event of one history (for range deletes).
pub(crate) fn event_prefix_end(history_key: &str) -> Vec<u8> {
    let mut k = event_prefix(history_key);
    if let Some(last) = k.last_mut() {
        *last = SEP + 1;
    }
    k
}

/// Key in [`Cf::HistoryEvents`]: history key, NUL, sequence number
/// big-endian (so keys sort in sequence order).
pub(crate) fn event_key(history_key: &str, seq: u64) -> Vec<u8> {
    let mut k = event_prefix(history_key);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The history key and sequence number of a [`Cf::HistoryEvents`] key.
pub(crate) fn parse_event_key(k: &[u8]) -> Option<(String, u64)> {
    let n = k.len().checked_sub(9)?;
    if k[n] != SEP {
        return None;
    }
    let seq = u64::from_be_bytes(k[n + 1..].try_into().ok()?);
    Some((String::from_utf8_lossy(&k[..n]).into_owned(), seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_sort_by_sequence_and_stay_in_prefix() {
        let a = event_key("h", 1);
        let b = event_key("h", 256);
        assert!(a < b);
        assert!(a.starts_with(&event_prefix("h")));
        assert!(b < event_prefix_end("h"));
        assert!(event_key("h", u64::MAX) < event_prefix_end("h"));
        // A longer key that starts with the same text is another history.
        assert!(!event_key("hx", 0).starts_with(&event_prefix("h")));
        assert_eq!(parse_event_key(&event_key("h", 7)), Some(("h".into(), 7)));
        assert_eq!(parse_event_key(b"short"), None);
    }

    #[test]
    fn keys_with_nul_are_refused() {
        assert!(check_key("cache", "a\0b").is_err());
        assert!(check_key("cache", "").is_err());
        assert!(check_key("cache", "abc").is_ok());
    }
}
