//! Output files written whole or not at all.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Distinguishes the temporary files of one process.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Writes the file `path` through `write`, which is given a temporary path
/// beside it (`.<name>.tmp-<pid>-<n>`) to write; the temporary file is then
/// renamed over `path`. A failed write (a full disk, a permission) removes
/// the temporary file and leaves `path` as it was: never a half-written
/// export under the final name. Errors name `path`.
///
/// A `path` that exists and is not a regular file (a device such as
/// `/dev/stdout`, a FIFO, a symlink) is written directly, as it is.
pub(crate) fn write_whole(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => return write(path),
        _ => {}
    }
    let Some(name) = path.file_name() else {
        return write(path);
    };
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = write(&tmp).map_err(|e| rename_path(e, &tmp, path));
    let result = written.and_then(|()| {
        fs::rename(&tmp, path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `e` with the temporary path `tmp` it names replaced by `path`.
fn rename_path(e: Error, tmp: &Path, path: &Path) -> Error {
    let fix = |p: PathBuf| if p == tmp { path.to_path_buf() } else { p };
    match e {
        Error::Io { path: p, source } => Error::Io {
            path: fix(p),
            source,
        },
        Error::Csv { path: p, source } => Error::Csv {
            path: fix(p),
            source,
        },
        Error::Json { path: p, source } => Error::Json {
            path: fix(p),
            source,
        },
        #[cfg(feature = "netcdf")]
        Error::Netcdf { path: p, source } => Error::Netcdf {
            path: fix(p),
            source,
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        fs::write(&path, "old").unwrap();
        let err = write_whole(&path, |tmp| {
            fs::write(tmp, "half").unwrap();
            Err(Error::Io {
                path: tmp.to_path_buf(),
                source: std::io::Error::other("disk full"),
            })
        })
        .unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        write_whole(&path, |tmp| {
            fs::write(tmp, "new").map_err(|source| Error::Io {
                path: tmp.to_path_buf(),
                source,
            })
        })
        .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
