//! A history event as stored: its record itself, or (for a large one) the
//! record of its parts and the parts joined. Every read of an event goes
//! through here.

use crate::codec::{self, Corrupt, StoredEvent};
use crate::db::{CacheDb, Decoded};
use crate::error::Result;
use crate::schema::{EventKey, EventParts, Family, HistoryEvents};

impl CacheDb {
    /// Calls `read` with the bytes of event `key`: its record's (pinned,
    /// not copied), or its parts joined when it is stored in parts. `None`
    /// when there is no record; `Some(Err)` when its parts cannot be
    /// joined or `read` fails.
    pub(crate) fn with_event<T>(
        &self,
        key: &EventKey,
        read: impl FnOnce(&[u8]) -> Decoded<T>,
    ) -> Result<Option<Decoded<T>>> {
        let mut read = Some(read);
        let found = self.get_raw::<HistoryEvents, _>(key, |b| match codec::event_parts_rec(b) {
            Some(rec) => Err(rec),
            None => Ok(read.take().map(|f| f(b))),
        })?;
        let rec = match found {
            None => return Ok(None),
            Some(Ok(done)) => return Ok(done),
            Some(Err(Err(e))) => return Ok(Some(Err(e))),
            Some(Err(Ok(rec))) => rec,
        };
        let joined = self.join_parts::<EventParts>(None, key, rec.parts, rec.bytes, |k| {
            EventParts::parse_key(k).map(|k| k.n)
        })?;
        Ok(Some(joined.and_then(|b| match read.take() {
            Some(f) => f(&b),
            None => Err(Corrupt("the event was read already".into())),
        })))
    }

    /// The stored size of event `key` (its parts' bytes when it is stored
    /// in parts); `None` when there is no record.
    pub(crate) fn event_size(&self, key: &EventKey) -> Result<Option<u64>> {
        self.get_raw::<HistoryEvents, _>(key, |b| match codec::event_parts_rec(b) {
            Some(Ok(rec)) => rec.bytes,
            _ => b.len() as u64,
        })
    }

    /// The event a record met by a scan holds: itself, or the event its
    /// parts hold.
    pub(crate) fn scanned_event(&self, key: &[u8], value: &[u8]) -> Result<Decoded<StoredEvent>> {
        if codec::event_parts_rec(value).is_none() {
            return Ok(HistoryEvents::decode(value));
        }
        let Some(key) = HistoryEvents::parse_key(key) else {
            return Ok(Err(Corrupt("the key of an event in parts".into())));
        };
        Ok(self
            .with_event(&key, HistoryEvents::decode)?
            .unwrap_or_else(|| Err(Corrupt("the event vanished".into()))))
    }
}
