//! Image results as grids of thumbnails in the HTML report.
//!
//! An image cell holds a path relative to the media root (or an absolute
//! path). The report reads no cache: the caller gives the media root
//! ([`ImageOptions::media_root`]). Each file is inlined as a `data:` URI
//! (the page stays one self-contained file), or, with
//! [`ImageOptions::link`], linked by its path relative to the page. A
//! cell whose file is missing, too big, unreadable or not an image shows
//! a short note instead, never an error.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use collector_core::{Coords, Dataset, OVER_TIME_DIM, REPEAT_DIM, ResultKind, is_missing_text};

use crate::error::Result;
use crate::html::{combo_label, combos, escape, isel_all};
use crate::table::coord_labels;

/// How image results are shown: where their files are, and whether they
/// are inlined or linked. Part of [`HtmlOptions`](crate::HtmlOptions).
///
/// ```
/// use collector_report::{HtmlOptions, ImageOptions};
///
/// let opts = HtmlOptions::default()
///     .media_root("/data/cachedir/media")
///     .image_repeat(2);
/// assert_eq!(opts.images.repeat, Some(2));
/// assert!(!opts.images.link); // inlined as data: URIs by default
/// assert_eq!(ImageOptions::default().max_inline_bytes, 512 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageOptions {
    /// The directory image cells are relative to (the cache directory's
    /// `media/`). Without it only absolute cells can be shown.
    pub media_root: Option<PathBuf>,
    /// Link the files (paths relative to the page, see
    /// [`page_dir`](Self::page_dir)) instead of inlining them: a smaller
    /// page, which shows the images only beside the media folder.
    pub link: bool,
    /// The directory the page is written to, for relative links;
    /// [`write_html`](crate::write_html) sets it from its path. Without
    /// it, links are the files' paths as resolved.
    pub page_dir: Option<PathBuf>,
    /// The largest file inlined; a bigger one gets a note (default 512 KiB).
    pub max_inline_bytes: u64,
    /// The most bytes of files inlined in one page; past it, cells get a
    /// note (default 32 MiB).
    pub max_page_bytes: u64,
    /// The repeat shown (its coordinate, 1 for the first); default: the
    /// first repeat.
    pub repeat: Option<i64>,
    /// The event shown (its position in `over_time`, 0 for the oldest);
    /// default: the newest.
    pub event: Option<usize>,
    /// Thumbnails per image column at most, over all its grids.
    pub max_thumbnails: usize,
}

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            media_root: None,
            link: false,
            page_dir: None,
            max_inline_bytes: 512 * 1024,
            max_page_bytes: 32 * 1024 * 1024,
            repeat: None,
            event: None,
            max_thumbnails: 400,
        }
    }
}

/// What a cell shows.
enum Thumb {
    /// An `<img>` source (a `data:` URI or a relative link).
    Img { src: String, link: Option<String> },
    /// Why no image is shown.
    Note(Problem),
}

/// Why a cell shows no image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Problem {
    /// The cell names no file (a failed job, an aged cell).
    NoImage,
    /// A relative cell and no media root.
    NoRoot,
    /// A relative cell with `..` (or a root) in it.
    Escapes,
    Missing,
    NotAFile,
    TooBig(u64),
    OverBudget,
    Unreadable(String),
    NotAnImage,
}

impl Problem {
    fn short(&self) -> String {
        match self {
            Problem::NoImage => "no image".into(),
            Problem::NoRoot => "no media root given".into(),
            Problem::Escapes => "path leaves the media root".into(),
            Problem::Missing => "file missing".into(),
            Problem::NotAFile => "not a file".into(),
            Problem::TooBig(n) => format!("too big to inline ({})", bytes(*n)),
            Problem::OverBudget => "left out: page image budget used".into(),
            Problem::Unreadable(e) => format!("unreadable: {e}"),
            Problem::NotAnImage => "not a known image format".into(),
        }
    }

    /// The kind, for the section's counts.
    fn kind(&self) -> &'static str {
        match self {
            Problem::NoImage => "no image (no file named)",
            Problem::NoRoot => "no media root given",
            Problem::Escapes => "path leaves the media root",
            Problem::Missing => "file missing",
            Problem::NotAFile => "not a file",
            Problem::TooBig(_) => "too big to inline",
            Problem::OverBudget => "over the page's image budget",
            Problem::Unreadable(_) => "unreadable",
            Problem::NotAnImage => "not a known image format",
        }
    }
}

fn bytes(n: u64) -> String {
    #[allow(clippy::cast_precision_loss, reason = "display")]
    let f = n as f64;
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", f / (1024.0 * 1024.0))
    } else if n >= 1024 {
        format!("{:.0} KiB", f / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// The MIME type of an image file: by its extension, else by its first
/// bytes; `None` when it is no format a browser shows.
fn mime(path: &Path, head: &[u8]) -> Option<&'static str> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let by_ext = match ext.as_deref() {
        Some("png") => Some("image/png"),
        Some("jpg" | "jpeg") => Some("image/jpeg"),
        Some("gif") => Some("image/gif"),
        Some("svg") => Some("image/svg+xml"),
        Some("webp") => Some("image/webp"),
        Some("bmp") => Some("image/bmp"),
        Some("avif") => Some("image/avif"),
        Some("ico") => Some("image/x-icon"),
        _ => None,
    };
    by_ext.or_else(|| {
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some("image/png")
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some("image/jpeg")
        } else if head.starts_with(b"GIF8") {
            Some("image/gif")
        } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
            Some("image/webp")
        } else if head.starts_with(b"BM") {
            Some("image/bmp")
        } else {
            let text = String::from_utf8_lossy(&head[..head.len().min(512)]);
            let t = text.trim_start();
            (t.starts_with("<svg") || (t.starts_with("<?xml") && t.contains("<svg")))
                .then_some("image/svg+xml")
        }
    })
}

/// The file a cell names: a relative cell under the media root (no `..`),
/// an absolute one as it is.
fn resolve(cell: &str, root: Option<&Path>) -> std::result::Result<PathBuf, Problem> {
    let p = Path::new(cell);
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(Problem::Escapes);
    }
    root.map(|r| r.join(p)).ok_or(Problem::NoRoot)
}

/// `path` relative to the directory `from` (both made absolute against
/// the current directory, neither resolved through links).
fn relative_to(path: &Path, from: &Path) -> PathBuf {
    let abs = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .map(|c| c.as_os_str().to_os_string())
            .collect::<Vec<_>>()
    };
    let (p, f) = (abs(path), abs(from));
    let common = p.iter().zip(&f).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}

/// A path as a URL path: `/` separators, anything but unreserved
/// characters percent-encoded.
fn url_path(p: &Path) -> String {
    let mut out = String::new();
    let s = p.to_string_lossy().replace('\\', "/");
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The note of an image file that cannot be read (a permission): the page
/// is still written, and a warning names the file.
fn unreadable(path: &Path, e: &std::io::Error) -> Thumb {
    tracing::warn!(path = %path.display(), error = %e, "an image of the report cannot be read; its cell shows a note");
    Thumb::Note(Problem::Unreadable(e.kind().to_string()))
}

/// What one cell shows; `budget` is what is left of the page's bytes.
fn thumb(cell: &str, opts: &ImageOptions, budget: &mut u64) -> Thumb {
    if is_missing_text(cell) {
        return Thumb::Note(Problem::NoImage);
    }
    let path = match resolve(cell, opts.media_root.as_deref()) {
        Ok(p) => p,
        Err(p) => return Thumb::Note(p),
    };
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Thumb::Note(Problem::Missing);
        }
        Err(e) => return unreadable(&path, &e),
    };
    if !meta.is_file() {
        return Thumb::Note(Problem::NotAFile);
    }
    if opts.link {
        let rel = match &opts.page_dir {
            Some(dir) => relative_to(&path, dir),
            None => path.clone(),
        };
        let href = url_path(&rel);
        return Thumb::Img {
            src: href.clone(),
            link: Some(href),
        };
    }
    if meta.len() > opts.max_inline_bytes {
        return Thumb::Note(Problem::TooBig(meta.len()));
    }
    if meta.len() > *budget {
        return Thumb::Note(Problem::OverBudget);
    }
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => return unreadable(&path, &e),
    };
    let Some(mime) = mime(&path, &data[..data.len().min(512)]) else {
        return Thumb::Note(Problem::NotAnImage);
    };
    *budget = budget.saturating_sub(data.len() as u64);
    Thumb::Img {
        src: format!(
            "data:{mime};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&data)
        ),
        link: None,
    }
}

/// The dataset the grids show: one event and one repeat of `ds`, with
/// notes on what was chosen.
fn select(ds: &Dataset, opts: &ImageOptions, notes: &mut Vec<String>) -> Result<Dataset> {
    let mut out = ds.clone();
    if let Ok(t) = ds.dim(OVER_TIME_DIM)
        && !t.is_empty()
    {
        let labels = coord_labels(&t.coords);
        let newest = t.len() - 1;
        let at = match opts.event {
            Some(i) if i < t.len() => i,
            Some(i) => {
                notes.push(format!(
                    "There is no event {i} (the history has {} events, 0 to {newest}): the newest is shown.",
                    t.len()
                ));
                newest
            }
            None => newest,
        };
        if t.len() > 1 {
            let which = if at == newest { ", the newest" } else { "" };
            notes.push(format!(
                "Images of event {}{which}.",
                labels.get(at).map_or("", String::as_str)
            ));
        }
        out = out.isel(OVER_TIME_DIM, at)?;
    }
    if let Ok(r) = ds.dim(REPEAT_DIM)
        && !r.is_empty()
    {
        let values: Vec<i64> = match &r.coords {
            Coords::Int(v) => v.clone(),
            _ => Vec::new(),
        };
        let first = values.first().copied().unwrap_or(1);
        let want = opts.repeat.unwrap_or(first);
        let at = match values.iter().position(|v| *v == want) {
            Some(i) => i,
            None => {
                notes.push(format!(
                    "There is no repeat {want} (repeats {} to {}): repeat {first} is shown.",
                    first,
                    values.last().copied().unwrap_or(first)
                ));
                0
            }
        };
        if r.len() > 1 {
            notes.push(format!(
                "Repeat {} of {} is shown.",
                values.get(at).copied().unwrap_or(first),
                r.len()
            ));
        }
        out = out.isel(REPEAT_DIM, at)?;
    }
    Ok(out)
}

/// The "Images" section: for every image column, one grid of thumbnails
/// (rows: the first input, columns: the second) per combination of the
/// further inputs. `None` when `ds` has no image column.
pub(crate) fn images_html(
    ds: &Dataset,
    opts: &ImageOptions,
    max_grids: usize,
) -> Result<Option<String>> {
    let cols: Vec<&str> = ds
        .columns()
        .iter()
        .filter(|c| c.kind == ResultKind::Image && c.text().is_some())
        .map(|c| c.name.as_str())
        .collect();
    if cols.is_empty() {
        return Ok(None);
    }
    let mut notes = Vec::new();
    let sel = select(ds, opts, &mut notes)?;
    let inputs: Vec<String> = sel.dims().iter().map(|d| d.name.clone()).collect();
    let (rows_dim, cols_dim) = (inputs.first(), inputs.get(1));
    let extra: Vec<String> = inputs.iter().skip(2).cloned().collect();
    let sizes: Vec<usize> = extra
        .iter()
        .map(|n| sel.dim(n).map_or(0, |d| d.len()))
        .collect();
    let total: usize = sizes.iter().product();
    let grids = combos(&sizes, max_grids);
    if total > grids.len() {
        notes.push(format!(
            "One grid per combination of {}: the first {} of {total} are shown, {} left out.",
            extra.join(", "),
            grids.len(),
            total - grids.len()
        ));
    }
    if opts.link {
        notes.push(
            "Images are linked, not inlined: they show while the media folder stays where it is beside this page."
                .into(),
        );
    }
    let mut budget = opts.max_page_bytes;
    let mut out = String::new();
    let _ = writeln!(out, "<h2>Images</h2>");
    for n in &notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(n));
    }
    for col in cols {
        let _ = writeln!(out, "<h3>{}</h3>", escape(col));
        let mut problems: Vec<Problem> = Vec::new();
        let mut shown = 0usize;
        let mut cells_total = 0usize;
        let mut body = String::new();
        for g in &grids {
            let sub = isel_all(&sel, &extra, g)?;
            let Some(text) = sub
                .column(col)?
                .text()
                .map(|a| a.iter().cloned().collect::<Vec<String>>())
            else {
                continue;
            };
            let row_labels = rows_dim
                .and_then(|d| sub.dim(d).ok())
                .map_or_else(|| vec![String::new()], |d| coord_labels(&d.coords));
            let col_labels = cols_dim
                .and_then(|d| sub.dim(d).ok())
                .map_or_else(|| vec![String::new()], |d| coord_labels(&d.coords));
            let (nr, nc) = (row_labels.len().max(1), col_labels.len().max(1));
            cells_total += nr * nc;
            let label = combo_label(&sel, &extra, g);
            body.push_str("<div>");
            if !label.is_empty() {
                let _ = writeln!(body, "<h4>{}</h4>", escape(&label));
            }
            body.push_str("<table class=\"thumbs\">");
            if let Some(cd) = cols_dim {
                let corner = rows_dim.map_or_else(String::new, |r| format!("{r} \\ {cd}"));
                let _ = write!(body, "<tr><th>{}</th>", escape(&corner));
                for c in &col_labels {
                    let _ = write!(body, "<th>{}</th>", escape(&format!("{cd}={c}")));
                }
                body.push_str("</tr>\n");
            }
            for (r, rl) in row_labels.iter().enumerate() {
                if shown >= opts.max_thumbnails {
                    break;
                }
                body.push_str("<tr>");
                if let Some(rd) = rows_dim {
                    let _ = write!(body, "<th>{}</th>", escape(&format!("{rd}={rl}")));
                }
                for c in 0..nc {
                    let cell = text.get(r * nc + c).map_or("", String::as_str);
                    let mut at = label.clone();
                    for (d, v) in [(rows_dim, rl), (cols_dim, col_labels.get(c).unwrap_or(rl))] {
                        if let Some(d) = d {
                            if !at.is_empty() {
                                at.push_str(", ");
                            }
                            let _ = write!(at, "{d}={v}");
                        }
                    }
                    let alt = if at.is_empty() {
                        col.to_string()
                    } else {
                        format!("{col} at {at}")
                    };
                    body.push_str("<td>");
                    match thumb(cell, opts, &mut budget) {
                        Thumb::Img { src, link } => {
                            let img = format!(
                                "<img src=\"{}\" alt=\"{}\" title=\"{}\" loading=\"lazy\">",
                                escape(&src),
                                escape(&alt),
                                escape(cell)
                            );
                            match link {
                                Some(href) => {
                                    let _ = write!(body, "<a href=\"{}\">{img}</a>", escape(&href));
                                }
                                None => body.push_str(&img),
                            }
                        }
                        Thumb::Note(p) => {
                            let shown_cell = if is_missing_text(cell) { "" } else { cell };
                            let _ = write!(
                                body,
                                "<div class=\"miss\" title=\"{}\">{}<br><span>{}</span></div>",
                                escape(shown_cell),
                                escape(&p.short()),
                                escape(shown_cell)
                            );
                            problems.push(p);
                        }
                    }
                    body.push_str("</td>");
                    shown += 1;
                }
                body.push_str("</tr>\n");
            }
            body.push_str("</table></div>\n");
        }
        if shown < cells_total {
            let _ = writeln!(
                out,
                "<p class=\"note\">The first {shown} of {cells_total} images of {} are shown.</p>",
                escape(col)
            );
        }
        if !problems.is_empty() {
            problems.sort();
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for p in &problems {
                match counts.last_mut() {
                    Some((k, n)) if *k == p.kind() => *n += 1,
                    _ => counts.push((p.kind(), 1)),
                }
            }
            let what: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let _ = writeln!(
                out,
                "<p class=\"note\">{} of {shown} images of {} are not shown: {}.</p>",
                problems.len(),
                escape(col),
                escape(&what.join(", "))
            );
        }
        let _ = writeln!(out, "<div class=\"grid\">{body}</div>");
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_climb_out_of_the_page_dir() {
        assert_eq!(
            relative_to(Path::new("/c/media/image/a.png"), Path::new("/c/reports")),
            PathBuf::from("../media/image/a.png")
        );
        assert_eq!(
            relative_to(Path::new("/c/reports/a.png"), Path::new("/c/reports")),
            PathBuf::from("a.png")
        );
    }

    #[test]
    fn url_paths_encode_what_is_not_unreserved() {
        assert_eq!(url_path(Path::new("../a b/#1.png")), "../a%20b/%231.png");
    }

    #[test]
    fn cells_do_not_leave_the_media_root() {
        let root = Path::new("/m");
        assert_eq!(resolve("../etc/passwd", Some(root)), Err(Problem::Escapes));
        assert_eq!(resolve("a/../../b", Some(root)), Err(Problem::Escapes));
        assert_eq!(resolve("image/x.png", None), Err(Problem::NoRoot));
        assert_eq!(
            resolve("image/x.png", Some(root)),
            Ok(PathBuf::from("/m/image/x.png"))
        );
        assert_eq!(resolve("/abs/x.png", None), Ok(PathBuf::from("/abs/x.png")));
    }

    #[test]
    fn formats_by_extension_then_by_content() {
        assert_eq!(mime(Path::new("a.PNG"), b""), Some("image/png"));
        assert_eq!(
            mime(Path::new("a"), b"\x89PNG\r\n\x1a\nxx"),
            Some("image/png")
        );
        assert_eq!(
            mime(Path::new("a.out"), b"  <svg xmlns"),
            Some("image/svg+xml")
        );
        assert_eq!(mime(Path::new("a.txt"), b"hello"), None);
    }
}
