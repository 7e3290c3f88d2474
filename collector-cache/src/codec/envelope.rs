//! The versioned envelope `{format, kind, payload}` every value of the
//! database (but the format version itself) is stored in, and
//! [`Encoded`], the buffer a value is sealed into.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::ENVELOPE_FORMAT;

/// Why a stored value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corrupt(pub(crate) String);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Corrupt {}

pub(crate) fn corrupt(m: impl std::fmt::Display) -> Corrupt {
    Corrupt(m.to_string())
}

#[derive(Serialize, Deserialize)]
pub(super) struct Envelope<'a> {
    pub(super) format: u32,
    #[serde(borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(borrow, with = "serde_bytes")]
    pub(super) payload: Cow<'a, [u8]>,
}

pub(super) fn to_msgpack<T: Serialize>(what: &str, v: &T) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(v).map_err(|e| Error::Encode {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// An encoded value, ready to store.
///
/// It dereferences to the bytes. An envelope's payload is written once,
/// straight after room left for the envelope's header, so sealing a large
/// value copies nothing.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Encoded {
    buf: Vec<u8>,
    start: usize,
}

impl Encoded {
    /// Bytes stored as they are, without an envelope (the format version).
    pub(crate) fn raw(bytes: Vec<u8>) -> Self {
        Encoded {
            buf: bytes,
            start: 0,
        }
    }

    /// The encoded bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The encoded bytes as a vector of their own (moves them to the front
    /// of the buffer when there is room left before them).
    #[cfg(test)]
    pub(crate) fn into_vec(mut self) -> Vec<u8> {
        self.buf.drain(..self.start);
        self.buf
    }
}

impl std::ops::Deref for Encoded {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Encoded {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encoded({} bytes)", self.len())
    }
}

/// The envelope's header, exactly as rmp-serde writes the map
/// `{format, kind, payload}` (the [`Envelope`] struct) before the payload's
/// bytes. A unit test below checks both agree for every `bin` length
/// class; the golden tests pin the bytes.
pub(super) fn envelope_header(kind: &str, payload_len: u32) -> Vec<u8> {
    use rmp::encode;
    let mut h = Vec::with_capacity(32 + kind.len());
    // Writing to a Vec cannot fail.
    let _ = encode::write_map_len(&mut h, 3);
    let _ = encode::write_str(&mut h, "format");
    let _ = encode::write_uint(&mut h, u64::from(ENVELOPE_FORMAT));
    let _ = encode::write_str(&mut h, "kind");
    let _ = encode::write_str(&mut h, kind);
    let _ = encode::write_str(&mut h, "payload");
    let _ = encode::write_bin_len(&mut h, payload_len);
    h
}

/// Encodes `payload` (MessagePack, named fields) in an envelope of `kind`.
pub(crate) fn seal<T: Serialize>(kind: &str, payload: &T) -> Result<Encoded> {
    seal_sized(kind, payload, 0)
}

/// [`seal`], with room reserved for `size_hint` bytes of payload up front,
/// so that a large value is written into its buffer without regrowing it.
pub(super) fn seal_sized<T: Serialize>(
    kind: &str,
    payload: &T,
    size_hint: usize,
) -> Result<Encoded> {
    let encode_err = |message: String| Error::Encode {
        what: kind.to_string(),
        message,
    };
    // Room for the longest header: the real one is at most this long.
    let room = envelope_header(kind, u32::MAX).len();
    let mut buf = Vec::with_capacity(room.saturating_add(size_hint));
    buf.resize(room, 0);
    rmp_serde::encode::write_named(&mut buf, payload).map_err(|e| encode_err(e.to_string()))?;
    let len = u32::try_from(buf.len() - room).map_err(|_| {
        encode_err(format!(
            "{} bytes is over the 4 GiB a MessagePack value can hold",
            buf.len() - room
        ))
    })?;
    let header = envelope_header(kind, len);
    let start = room - header.len();
    buf[start..room].copy_from_slice(&header);
    Ok(Encoded { buf, start })
}

/// Checks the envelope's format and returns its kind and payload.
pub(super) fn unseal_any(bytes: &[u8]) -> Result<(Cow<'_, str>, Cow<'_, [u8]>), Corrupt> {
    let env: Envelope<'_> =
        rmp_serde::from_slice(bytes).map_err(|e| corrupt(format!("bad envelope: {e}")))?;
    if env.format != ENVELOPE_FORMAT {
        return Err(corrupt(format!(
            "envelope format {} (this build reads {ENVELOPE_FORMAT})",
            env.format
        )));
    }
    Ok((env.kind, env.payload))
}

/// Checks the envelope and returns its payload.
pub(super) fn unseal<'a>(kind: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, Corrupt> {
    let (found, payload) = unseal_any(bytes)?;
    if found != kind {
        return Err(corrupt(format!(
            "envelope holds a `{found}`, expected a `{kind}`"
        )));
    }
    Ok(payload)
}

/// Decodes a MessagePack payload.
pub(super) fn payload<'a, T: Deserialize<'a>>(kind: &str, bytes: &'a [u8]) -> Result<T, Corrupt> {
    rmp_serde::from_slice(bytes).map_err(|e| corrupt(format!("bad {kind} payload: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    /// The hand-written header plus the payload are byte for byte what
    /// rmp-serde writes for the [`Envelope`] struct, for each size class of
    /// MessagePack `bin` (8, 16 and 32-bit lengths) and a few kinds.
    #[test]
    fn sealed_bytes_equal_the_serialized_envelope() {
        use crate::codec::{KIND_EVENT, KIND_HISTORY_META, KIND_INDEX, KIND_LINEAGE, KIND_RESULT};
        for kind in [
            KIND_RESULT,
            KIND_EVENT,
            KIND_INDEX,
            KIND_HISTORY_META,
            KIND_LINEAGE,
        ] {
            for n in [0usize, 1, 200, 253, 254, 300, 65_532, 65_540, 200_000] {
                let payload = serde_bytes::ByteBuf::from(vec![0xa5u8; n]);
                let sealed = seal(kind, &payload).unwrap();
                let whole = to_msgpack(
                    kind,
                    &Envelope {
                        format: ENVELOPE_FORMAT,
                        kind: Cow::Borrowed(kind),
                        payload: Cow::Owned(to_msgpack(kind, &payload).unwrap()),
                    },
                )
                .unwrap();
                assert_eq!(sealed.as_bytes(), &whole[..], "kind {kind}, {n} bytes");
                let inner = to_msgpack(kind, &payload).unwrap();
                assert_eq!(&*unseal(kind, &sealed).unwrap(), &inner[..]);
                assert_eq!(sealed.clone().into_vec(), whole);
            }
        }
    }
}
