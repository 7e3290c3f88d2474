//! The media root: where media and blob files live, how their paths are
//! made, and how a cell's text is resolved to a file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Component, Path, PathBuf};

use collector_core::{ResultKind, is_missing_text};

use crate::error::{Error, Result, io_err};

/// The directory under the root holding content-addressed blobs.
pub const BLOB_DIR: &str = "blob";

/// Files whose name starts with this are temporary (a blob being written):
/// GC leaves them alone and no media or blob name may start with it.
pub const TMP_PREFIX: &str = ".tmp";

/// The media result kinds, each with a directory `<root>/<kind name>/`.
pub const MEDIA_KINDS: [ResultKind; 4] = [
    ResultKind::Path,
    ResultKind::Image,
    ResultKind::Video,
    ResultKind::Recording,
];

/// How many deduplicated variants of a file name [`MediaRoot::new_file`] tries.
const MAX_NAME_TRIES: usize = 10_000;

/// A media file written in full by [`MediaRoot::write_file`],
/// [`MediaRoot::copy_file`] or [`MediaRoot::write_file_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedFile {
    /// Its absolute path.
    pub path: PathBuf,
    /// What to store in the result cell: the path relative to the root,
    /// with `/` separators.
    pub cell: String,
}

/// The media root, usually the cache directory.
///
/// Layout:
/// - `<root>/<kind>/<variable>/<job key>/<file>` for media files, `<kind>`
///   being `path`, `image`, `video` or `recording`;
/// - `<root>/blob/<blake3 hex>[.<ext>]` for blobs.
///
/// **Cell convention.** A media cell holds either a path relative to the
/// root (what [`MediaFile::cell`] gives: `image/plot/ab12…/fig.png`, with
/// `/` separators, so the cache directory can move) or an absolute path.
/// Relative paths are always resolved against the root, never against the
/// current directory.
///
/// Deletion ([`crate::PendingDeletion`]) only ever removes files inside the
/// media kind directories; everything else under the root (the database,
/// blobs, foreign files) is out of its reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRoot {
    /// Absolute, as given (not resolved through symlinks).
    root: PathBuf,
    /// Resolved through symlinks, for confinement checks.
    canonical: PathBuf,
}

/// A freshly created, empty media file reserved for one job.
#[derive(Debug)]
pub struct MediaFile {
    /// Its absolute path.
    pub path: PathBuf,
    /// What to store in the result cell: the path relative to the root,
    /// with `/` separators.
    pub cell: String,
    /// The file, open for writing.
    pub file: File,
}

impl MediaRoot {
    /// Opens the media root at `dir`, creating it if needed.
    pub fn new(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(io_err("create the media root", dir))?;
        let canonical = fs::canonicalize(dir).map_err(io_err("resolve the media root", dir))?;
        let root = std::path::absolute(dir).map_err(io_err("make absolute the media root", dir))?;
        Ok(MediaRoot { root, canonical })
    }

    /// The root directory (absolute, as given).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The root directory resolved through symlinks.
    pub fn canonical_path(&self) -> &Path {
        &self.canonical
    }

    /// `<root>/<kind>` for a media kind; an error for other kinds.
    pub fn kind_dir(&self, kind: ResultKind) -> Result<PathBuf> {
        if !kind.is_media() {
            return Err(Error::NotMedia { kind: kind.name() });
        }
        Ok(self.root.join(kind.name()))
    }

    /// `<root>/blob`.
    pub fn blob_dir(&self) -> PathBuf {
        self.root.join(BLOB_DIR)
    }

    /// `<root>/<kind>/<variable>/<job key>`, without creating it.
    pub fn job_dir(&self, kind: ResultKind, var: &str, job_key: &str) -> Result<PathBuf> {
        check_component("variable", var)?;
        check_component("job key", job_key)?;
        Ok(self.kind_dir(kind)?.join(var).join(job_key))
    }

    /// Creates a new empty file for a job's media under
    /// `<root>/<kind>/<variable>/<job key>/`, named `name` or, when that is
    /// taken (by an earlier file of this job or by an earlier run of the
    /// same job, whose history may still name it), `stem-1.ext`,
    /// `stem-2.ext`, …
    ///
    /// The name is claimed atomically (`create_new`), so parallel jobs and
    /// several files of one job never collide and no file is overwritten.
    pub fn new_file(
        &self,
        kind: ResultKind,
        var: &str,
        job_key: &str,
        name: &str,
    ) -> Result<MediaFile> {
        check_component("file name", name)?;
        let dir = self.job_dir(kind, var, job_key)?;
        let (stem, ext) = split_name(name);
        let mut n = 0;
        let mut dir_retries = 0;
        while n < MAX_NAME_TRIES {
            let candidate = candidate_name(name, stem, ext, n);
            fs::create_dir_all(&dir).map_err(io_err("create the job directory", &dir))?;
            let path = dir.join(&candidate);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    let cell = format!("{}/{var}/{job_key}/{candidate}", kind.name());
                    return Ok(MediaFile { path, cell, file });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => n += 1,
                // A concurrent deletion pruned the empty job directory
                // between create_dir_all and open: make it again.
                Err(e) if e.kind() == ErrorKind::NotFound && dir_retries < 8 => dir_retries += 1,
                Err(e) => return Err(io_err("create the media file", path)(e)),
            }
        }
        Err(Error::NamesExhausted {
            name: name.to_string(),
            dir,
            tries: MAX_NAME_TRIES,
        })
    }

    /// Writes `bytes` as a new media file of a job (see
    /// [`write_file_with`](Self::write_file_with)).
    pub fn write_file(
        &self,
        kind: ResultKind,
        var: &str,
        job_key: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<PlacedFile> {
        self.write_file_with(kind, var, job_key, name, |f| f.write_all(bytes))
    }

    /// Copies the file `from` in as a new media file of a job (see
    /// [`write_file_with`](Self::write_file_with)). An error reading
    /// `from` names it.
    pub fn copy_file(
        &self,
        kind: ResultKind,
        var: &str,
        job_key: &str,
        name: &str,
        from: &Path,
    ) -> Result<PlacedFile> {
        let mut src = File::open(from).map_err(io_err("read the file", from))?;
        let mut read_failed = None;
        let placed = self.write_file_with(kind, var, job_key, name, |f| {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match io::Read::read(&mut src, &mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        read_failed = Some(e.kind());
                        return Err(e);
                    }
                };
                f.write_all(&buf[..n])?;
            }
        });
        match (placed, read_failed) {
            (Err(Error::Io { source, .. }), Some(_)) => Err(io_err("read the file", from)(source)),
            (r, _) => r,
        }
    }

    /// Writes a new media file of a job under
    /// `<root>/<kind>/<variable>/<job key>/`, named `name` or, when that is
    /// taken, `stem-1.ext`, `stem-2.ext`, … (as [`new_file`](Self::new_file)).
    ///
    /// `fill` writes the content into a temporary file (`.tmp…`) in the
    /// job directory, which is synced, then renamed into place without
    /// replacing: no file of the media root ever holds part of its content
    /// under its final name. When `fill` or the sync fails (a full disk),
    /// the temporary file is removed, and the error names the file that was
    /// being written.
    pub fn write_file_with(
        &self,
        kind: ResultKind,
        var: &str,
        job_key: &str,
        name: &str,
        fill: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> Result<PlacedFile> {
        check_component("file name", name)?;
        let dir = self.job_dir(kind, var, job_key)?;
        let mut dir_retries = 0;
        let mut tmp = loop {
            fs::create_dir_all(&dir).map_err(io_err("create the job directory", &dir))?;
            match temp_builder().tempfile_in(&dir) {
                Ok(t) => break t,
                // A concurrent deletion pruned the empty job directory.
                Err(e) if e.kind() == ErrorKind::NotFound && dir_retries < 8 => dir_retries += 1,
                Err(e) => return Err(io_err("create a temporary file in", &dir)(e)),
            }
        };
        if let Err(e) = fill(tmp.as_file_mut()).and_then(|()| tmp.as_file().sync_all()) {
            let tmp_path = tmp.path().to_path_buf();
            if let Err(close) = tmp.close() {
                tracing::warn!(path = %tmp_path.display(), error = %close,
                    "could not remove a temporary media file");
            }
            // Only when empty: another file of the job may be there.
            let _ = fs::remove_dir(&dir);
            return Err(io_err("write the media file", dir.join(name))(e));
        }
        let (stem, ext) = split_name(name);
        for n in 0..MAX_NAME_TRIES {
            let candidate = candidate_name(name, stem, ext, n);
            let path = dir.join(&candidate);
            match tmp.persist_noclobber(&path) {
                Ok(_) => {
                    let cell = format!("{}/{var}/{job_key}/{candidate}", kind.name());
                    return Ok(PlacedFile { path, cell });
                }
                Err(e) if e.error.kind() == ErrorKind::AlreadyExists => tmp = e.file,
                Err(e) => {
                    drop(e.file);
                    return Err(io_err("rename into place the media file", path)(e.error));
                }
            }
        }
        Err(Error::NamesExhausted {
            name: name.to_string(),
            dir,
            tries: MAX_NAME_TRIES,
        })
    }

    /// The root-relative form of a cell's text, normalised (no `.`), or
    /// `None` when the cell is missing (`"NAN"`, empty), has a `..`
    /// component, or is an absolute path outside the root.
    pub fn relative_key(&self, cell: &str) -> Option<PathBuf> {
        if is_missing_text(cell) {
            return None;
        }
        let p = Path::new(cell);
        let rel = if p.is_absolute() {
            p.strip_prefix(&self.root)
                .or_else(|_| p.strip_prefix(&self.canonical))
                .ok()?
        } else {
            p
        };
        let mut out = PathBuf::new();
        for c in rel.components() {
            match c {
                Component::Normal(s) => out.push(s),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        (!out.as_os_str().is_empty()).then_some(out)
    }

    /// The absolute path a cell names (see the cell convention above), or
    /// `None` as for [`relative_key`](Self::relative_key).
    pub fn resolve(&self, cell: &str) -> Option<PathBuf> {
        self.relative_key(cell).map(|k| self.root.join(k))
    }
}

/// `name` split into its stem and extension (`None` without one).
fn split_name(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, Some(e)),
        _ => (name, None),
    }
}

/// The `n`th name tried for `name`: itself, then `stem-n.ext`.
fn candidate_name(name: &str, stem: &str, ext: Option<&str>, n: usize) -> String {
    match (n, ext) {
        (0, _) => name.to_string(),
        (_, Some(e)) => format!("{stem}-{n}.{e}"),
        (_, None) => format!("{stem}-{n}"),
    }
}

/// A temporary file named `.tmp…`, with the permissions of a file
/// created the ordinary way (0666 less the umask, not tempfile's 0600).
pub(crate) fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut b = tempfile::Builder::new();
    b.prefix(TMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(fs::Permissions::from_mode(0o666));
    }
    b
}

/// Checks that `name` is usable as one path component.
pub(crate) fn check_component(what: &'static str, name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name == "." || name == ".." {
        Some("it is `.` or `..`")
    } else if name.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if name.contains('\0') {
        Some("it contains a NUL byte")
    } else if name.len() > 255 {
        Some("it is longer than 255 bytes")
    } else if name.starts_with(TMP_PREFIX) {
        Some("names starting with `.tmp` are reserved for temporary files")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what,
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn new_file_dedups_names_and_gives_relative_cells() {
        let dir = tempfile::tempdir().unwrap();
        let root = MediaRoot::new(dir.path()).unwrap();
        let a = root
            .new_file(ResultKind::Image, "plot", "job1", "fig.png")
            .unwrap();
        let b = root
            .new_file(ResultKind::Image, "plot", "job1", "fig.png")
            .unwrap();
        let c = root
            .new_file(ResultKind::Image, "plot", "job2", "fig.png")
            .unwrap();
        let d = root
            .new_file(ResultKind::Video, "plot", "job1", "noext")
            .unwrap();
        let e = root
            .new_file(ResultKind::Video, "plot", "job1", "noext")
            .unwrap();
        assert_eq!(a.cell, "image/plot/job1/fig.png");
        assert_eq!(b.cell, "image/plot/job1/fig-1.png");
        assert_eq!(c.cell, "image/plot/job2/fig.png");
        assert_eq!(d.cell, "video/plot/job1/noext");
        assert_eq!(e.cell, "video/plot/job1/noext-1");
        assert_eq!(root.resolve(&b.cell).unwrap(), b.path);
        assert!(b.path.is_file());
    }

    #[test]
    fn write_file_goes_through_a_temporary_file_and_leaves_nothing_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = MediaRoot::new(dir.path()).unwrap();
        let a = root
            .write_file(ResultKind::Image, "plot", "job1", "fig.svg", b"<svg/>")
            .unwrap();
        let b = root
            .write_file(
                ResultKind::Image,
                "plot",
                "job1",
                "fig.svg",
                b"<svg>2</svg>",
            )
            .unwrap();
        assert_eq!(a.cell, "image/plot/job1/fig.svg");
        assert_eq!(b.cell, "image/plot/job1/fig-1.svg");
        assert_eq!(fs::read(&b.path).unwrap(), b"<svg>2</svg>");
        // A write that fails halfway (a full disk): no file under its name,
        // no temporary file, and the error names the file and the cause.
        let err = root
            .write_file_with(ResultKind::Image, "plot", "job1", "big.svg", |f| {
                f.write_all(b"half")?;
                Err(io::Error::other("disk full"))
            })
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("big.svg") && msg.contains("disk full"),
            "{msg}"
        );
        let mut names: Vec<String> = fs::read_dir(a.path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["fig-1.svg", "fig.svg"]);
        // The job's folder goes when the failed file was its only one.
        let err = root.write_file_with(ResultKind::Video, "v", "j", "x.mp4", |_| {
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert!(!root.job_dir(ResultKind::Video, "v", "j").unwrap().exists());
        // A copy names an unreadable source.
        let err = root
            .copy_file(
                ResultKind::Image,
                "plot",
                "job2",
                "f.svg",
                &dir.path().join("none"),
            )
            .unwrap_err();
        assert!(err.to_string().contains("none"), "{err}");
    }

    #[test]
    fn parallel_jobs_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let root = MediaRoot::new(dir.path()).unwrap();
        let cells: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|t| {
                    let root = &root;
                    s.spawn(move || {
                        (0..10)
                            .map(|_| {
                                root.new_file(
                                    ResultKind::Recording,
                                    "r",
                                    &format!("j{}", t % 2),
                                    "x.rrd",
                                )
                                .unwrap()
                                .cell
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let unique: std::collections::HashSet<_> = cells.iter().collect();
        assert_eq!(unique.len(), 80);
    }

    #[test]
    fn bad_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = MediaRoot::new(dir.path()).unwrap();
        for (var, job, name) in [
            ("a/b", "j", "f"),
            ("v", "..", "f"),
            ("v", "j", ""),
            ("v", "j", ".tmpx"),
            ("v", "j", "a\\b"),
        ] {
            let err = root
                .new_file(ResultKind::Image, var, job, name)
                .unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{err}");
        }
        let err = root.new_file(ResultKind::Float, "v", "j", "f").unwrap_err();
        assert!(err.to_string().contains("float"), "{err}");
    }

    #[test]
    fn relative_key_normalises_and_confines() {
        let dir = tempfile::tempdir().unwrap();
        let root = MediaRoot::new(dir.path()).unwrap();
        let abs = root.path().join("image/v/j/f.png");
        assert_eq!(
            root.relative_key(abs.to_str().unwrap()).unwrap(),
            Path::new("image/v/j/f.png")
        );
        assert_eq!(
            root.relative_key("./image/v/j/f.png").unwrap(),
            Path::new("image/v/j/f.png")
        );
        assert_eq!(root.relative_key("image/../../x"), None);
        assert_eq!(root.relative_key("/etc/passwd"), None);
        assert_eq!(root.relative_key("NAN"), None);
        assert_eq!(root.relative_key(""), None);
    }
}
