//! Content-addressed blobs: `<root>/blob/<blake3 hex>[.<ext>]`.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use crate::error::{Error, Result, io_err};
use crate::root::MediaRoot;

/// Length of a blob hash in hex digits (blake3, 32 bytes).
const HASH_HEX_LEN: usize = 64;
/// Longest accepted extension.
const MAX_EXT_LEN: usize = 16;

/// The blob name of `bytes`: the lowercase hex blake3 hash, then `.ext`
/// unless `ext` is empty. A leading dot in `ext` is accepted and dropped;
/// otherwise `ext` must be 1 to 16 ASCII letters or digits.
pub fn blob_name(bytes: &[u8], ext: &str) -> Result<String> {
    let ext = ext.strip_prefix('.').unwrap_or(ext);
    let hash = blake3::hash(bytes).to_hex();
    if ext.is_empty() {
        return Ok(hash.to_string());
    }
    check_ext(ext)?;
    Ok(format!("{hash}.{ext}"))
}

fn check_ext(ext: &str) -> Result<()> {
    if ext.len() > MAX_EXT_LEN || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::InvalidName {
            what: "blob extension",
            name: ext.to_string(),
            reason: "an extension is 1 to 16 ASCII letters or digits",
        });
    }
    Ok(())
}

/// Whether `name` is a well-formed blob name (what [`blob_name`] makes).
pub fn is_blob_name(name: &str) -> bool {
    let (hash, ext) = match name.split_once('.') {
        Some((h, e)) => (h, Some(e)),
        None => (name, None),
    };
    hash.len() == HASH_HEX_LEN
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && ext.is_none_or(|e| !e.is_empty() && check_ext(e).is_ok())
}

impl MediaRoot {
    /// Stores `bytes` as a blob and returns its name (see [`blob_name`]).
    ///
    /// The file is written to a temporary file (named `.tmp…`) in the blob
    /// directory, synced, then renamed into place without replacing, so a
    /// reader never sees a partial blob. When the blob exists already it is
    /// not rewritten; its modification time is refreshed so that a
    /// concurrent [`gc`](crate::gc) treats it as young and spares it.
    pub fn write_blob(&self, bytes: &[u8], ext: &str) -> Result<String> {
        let name = blob_name(bytes, ext)?;
        let dir = self.blob_dir();
        let path = dir.join(&name);
        if path.is_file() {
            touch(&path);
            return Ok(name);
        }
        fs::create_dir_all(&dir).map_err(io_err("create the blob directory", &dir))?;
        let mut tmp = crate::root::temp_builder()
            .tempfile_in(&dir)
            .map_err(io_err("create a temporary file in", &dir))?;
        // On an error the temporary file is removed (dropped); the error
        // names the blob being written.
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(io_err("write blob", &path))?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => Ok(name),
            // Another writer stored the same bytes first; ours is dropped.
            Err(e) if e.error.kind() == ErrorKind::AlreadyExists => {
                touch(&path);
                Ok(name)
            }
            Err(e) => Err(io_err("rename into place blob", path)(e.error)),
        }
    }

    /// The path of blob `name`, after checking the name is a well-formed
    /// blob name (so it cannot lead out of the blob directory).
    pub fn blob_path(&self, name: &str) -> Result<PathBuf> {
        if !is_blob_name(name) {
            return Err(Error::InvalidName {
                what: "blob name",
                name: name.to_string(),
                reason: "a blob name is 64 lowercase hex digits, then optionally `.` and an extension",
            });
        }
        Ok(self.blob_dir().join(name))
    }
}

fn touch(path: &std::path::Path) {
    let r = File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now()));
    if let Err(e) = r {
        tracing::warn!(path = %path.display(), error = %e, "could not refresh a blob's mtime");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn names() {
        let n = blob_name(b"abc", "png").unwrap();
        assert!(is_blob_name(&n));
        assert_eq!(n, blob_name(b"abc", ".png").unwrap());
        assert!(is_blob_name(&blob_name(b"abc", "").unwrap()));
        assert!(blob_name(b"abc", "p/g").is_err());
        assert!(blob_name(b"abc", "a.b").is_err());
        assert!(!is_blob_name("../etc/passwd"));
        assert!(!is_blob_name(&format!("{}.", "a".repeat(64))));
        assert!(!is_blob_name(&format!("{}.png/x", "a".repeat(64))));
        assert!(!is_blob_name(&"A".repeat(64)));
    }
}
