//! The layout of a cache directory: the one place that knows it.

use std::path::{Path, PathBuf};

use collector_cache::CacheDb;

/// A cache directory and its layout:
///
/// | path | what |
/// |---|---|
/// | `db/` | the RocksDB database: results, their index, histories, the lineage of each sweep name, the format version |
/// | `media/` | files named by results (`media/<kind>/<variable>/<job key>/…`, blobs in `media/blob/`) |
/// | `reports/` | HTML reports |
///
/// ```
/// use result_collector::CacheDir;
///
/// let dir = CacheDir::new("/tmp/bench-cache");
/// assert!(dir.db().ends_with("db"));
/// assert!(dir.media().ends_with("media"));
/// assert_eq!(dir.report_path("my sweep/1"), dir.reports().join("my_sweep_1.html"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheDir {
    root: PathBuf,
}

impl CacheDir {
    /// The environment variable naming the cache directory when none is given.
    pub const ENV: &'static str = "RESULT_COLLECTOR_CACHE_DIR";
    /// The cache directory when neither an explicit one nor [`Self::ENV`] is given,
    /// relative to the working directory.
    pub const DEFAULT: &'static str = "cachedir";

    /// The cache directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        CacheDir { root: root.into() }
    }

    /// `explicit` if given, else the value of [`Self::ENV`] if set and not
    /// empty, else [`Self::DEFAULT`].
    pub fn resolve(explicit: Option<&Path>) -> Self {
        Self::resolve_from(explicit, std::env::var_os(Self::ENV))
    }

    /// [`resolve`](Self::resolve) with the value of [`Self::ENV`] given.
    fn resolve_from(explicit: Option<&Path>, env: Option<std::ffi::OsString>) -> Self {
        if let Some(p) = explicit {
            return CacheDir::new(p);
        }
        match env {
            Some(v) if !v.is_empty() => CacheDir::new(v),
            _ => CacheDir::new(Self::DEFAULT),
        }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The database directory, `<root>/db`.
    pub fn db(&self) -> PathBuf {
        self.root.join("db")
    }

    /// The media root, `<root>/media`.
    pub fn media(&self) -> PathBuf {
        self.root.join("media")
    }

    /// The reports directory, `<root>/reports`.
    pub fn reports(&self) -> PathBuf {
        self.root.join("reports")
    }

    /// The default HTML report of sweep `name`: `<root>/reports/<name>.html`,
    /// with every character other than letters, digits, `-` and `_` replaced
    /// by `_`.
    pub fn report_path(&self, name: &str) -> PathBuf {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.reports().join(format!("{safe}.html"))
    }

    /// Refuses a layout that goes through a symbolic link: the cache
    /// directory itself, `db/` or `media/` ([`Error::SymlinkedDir`](crate::Error::SymlinkedDir)).
    /// Through a link, a run would write, and a history trim or a GC would
    /// delete, files outside the directory given. Links above the cache
    /// directory (in its parent path) are not looked at.
    pub fn check_links(&self) -> crate::Result<()> {
        // `components` drops a trailing `/`, which would make `lstat`
        // follow the link.
        let root: PathBuf = self.root.components().collect();
        for (what, path) in [
            ("cache directory", root.clone()),
            ("database directory", root.join("db")),
            ("media directory", root.join("media")),
        ] {
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                let target = std::fs::read_link(&path).unwrap_or_default();
                return Err(crate::Error::SymlinkedDir { what, path, target });
            }
        }
        Ok(())
    }

    /// Whether a cache database exists here (nothing is created).
    pub fn has_cache(&self) -> bool {
        CacheDb::exists(&self.db())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_under_the_root() {
        let d = CacheDir::new("x");
        assert_eq!(d.db(), Path::new("x/db"));
        assert_eq!(d.media(), Path::new("x/media"));
        assert_eq!(d.reports(), Path::new("x/reports"));
        assert_eq!(d.report_path("a.b"), Path::new("x/reports/a_b.html"));
    }

    #[test]
    fn explicit_then_the_variable_then_the_default() {
        let env = || Some(std::ffi::OsString::from("from-env"));
        let pick = |explicit: Option<&str>, env| {
            CacheDir::resolve_from(explicit.map(Path::new), env)
                .root()
                .to_path_buf()
        };
        assert_eq!(pick(Some("e"), env()), Path::new("e"));
        assert_eq!(pick(None, env()), Path::new("from-env"));
        assert_eq!(pick(None, Some("".into())), Path::new(CacheDir::DEFAULT));
        assert_eq!(pick(None, None), Path::new("cachedir"));
        assert_eq!(
            CacheDir::resolve(Some(Path::new("e"))).root(),
            Path::new("e")
        );
    }

    #[test]
    fn an_empty_directory_has_no_cache() {
        let t = tempfile::tempdir().expect("tempdir");
        assert!(!CacheDir::new(t.path()).has_cache());
    }
}
