//! Finding what a cache holds: listings, names and key prefixes, stored
//! results and histories, and HTML reports of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use collector_cache::{
    ColumnInfo, ColumnState, HistoryInfo, StoredResult, Superseded, SweepListing,
};
use collector_core::regress::RegressionReport;
use collector_core::{
    ColumnData, Dataset, OVER_TIME_DIM, REFERENCE_SENTINEL, SampleFailure, is_missing_text,
};
use collector_report::{HtmlOptions, TextSection};

use crate::{Error, Result, ResultCollector};

/// What a sweep name or key prefix names: a sweep, its newest stored
/// result and its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The sweep name.
    pub name: String,
    /// The cache key of the result meant (the newest stored, unless a
    /// result key was given).
    pub result_key: Option<String>,
    /// The history key meant (the sweep's current one: not superseded,
    /// then the most events; unless a history key was given).
    pub history_key: Option<String>,
}

/// Which record an HTML report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOf {
    /// Every event of the sweep's history.
    History,
    /// The stored result (the sweep keeps no history).
    Result,
}

impl std::fmt::Display for ReportOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReportOf::History => "history",
            ReportOf::Result => "result",
        })
    }
}

fn current_history(l: &SweepListing) -> Option<String> {
    l.histories
        .iter()
        .max_by_key(|h| (h.superseded.is_none(), h.events))
        .map(|h| h.key.clone())
}

fn newest_result(l: &SweepListing) -> Option<String> {
    l.results.last().map(|r| r.key.clone())
}

/// Resolves `arg` against `listings`: an exact sweep name first, then a
/// unique prefix of a result or history key.
pub(crate) fn resolve_in(listings: &[SweepListing], arg: &str) -> Option<Result<Target, usize>> {
    if let Some(l) = listings.iter().find(|l| l.name == arg) {
        return Some(Ok(Target {
            name: l.name.clone(),
            result_key: newest_result(l),
            history_key: current_history(l),
        }));
    }
    if arg.is_empty() {
        return None;
    }
    let mut found = Vec::new();
    for l in listings {
        for r in l.results.iter().filter(|r| r.key.starts_with(arg)) {
            found.push(Target {
                name: l.name.clone(),
                result_key: Some(r.key.clone()),
                history_key: current_history(l),
            });
        }
        for h in l.histories.iter().filter(|h| h.key.starts_with(arg)) {
            found.push(Target {
                name: l.name.clone(),
                result_key: newest_result(l),
                history_key: Some(h.key.clone()),
            });
        }
    }
    match found.len() {
        0 => None,
        1 => found.pop().map(Ok),
        n => Some(Err(n)),
    }
}

impl ResultCollector {
    /// Everything stored, grouped by sweep name (sorted by name).
    pub fn list(&self) -> Result<Vec<SweepListing>> {
        Ok(self.cache()?.list_sweeps()?)
    }

    /// What `arg` names: a sweep name (its newest stored result and its
    /// history), or a unique prefix of a cache or history key.
    pub fn resolve(&self, arg: &str) -> Result<Target> {
        match resolve_in(&self.list()?, arg) {
            Some(Ok(t)) => Ok(t),
            Some(Err(matches)) => Err(Error::AmbiguousTarget {
                target: arg.to_string(),
                matches,
            }),
            None => Err(Error::UnknownTarget {
                target: arg.to_string(),
                dir: self.dir.root().to_path_buf(),
            }),
        }
    }

    /// The stored result `target` names.
    pub fn load_result(&self, target: &Target) -> Result<StoredResult> {
        let key = target
            .result_key
            .as_deref()
            .ok_or_else(|| Error::NoResult {
                sweep: target.name.clone(),
            })?;
        self.cache()?
            .get_result(key)?
            .ok_or_else(|| Error::UnreadableResult {
                sweep: target.name.clone(),
                key: key.to_string(),
            })
    }

    /// The history `target` names, with its key; `None` when the sweep
    /// keeps none.
    pub fn load_history(&self, target: &Target) -> Result<Option<(String, Dataset)>> {
        let Some(key) = target.history_key.as_deref() else {
            return Ok(None);
        };
        let db = self.cache()?;
        self.check_history_memory(&db, key, 0, None, self.memory_limit_bytes())?;
        Ok(db.load_history(key)?.map(|ds| (key.to_string(), ds)))
    }

    /// What the history `target` names holds, from its metadata alone
    /// (events with their code versions, columns with their birth,
    /// dormancy and retirement, whether it is superseded); `None` when
    /// the sweep keeps none.
    pub fn history_info(&self, target: &Target) -> Result<Option<HistoryInfo>> {
        let Some(key) = target.history_key.as_deref() else {
            return Ok(None);
        };
        Ok(self.cache()?.history_info(key)?)
    }

    /// Runs regression detection over the history `target` names (see
    /// [`collector_core::regress::detect`]): its newest event against the
    /// ones before it, each column's birth taken from the history's
    /// metadata. The stored history keeps no directions: `directions`
    /// gives them, by column or result variable name (missing means
    /// [`Direction::None`](collector_core::Direction::None): a change
    /// either way is flagged). [`Error::NoHistory`] when the sweep keeps
    /// none.
    pub fn check_history(
        &self,
        target: &Target,
        directions: &BTreeMap<String, collector_core::Direction>,
        opts: &collector_core::regress::Options,
    ) -> Result<collector_core::regress::RegressionReport> {
        let (_, history) = self.load_history(target)?.ok_or_else(|| Error::NoHistory {
            sweep: target.name.clone(),
        })?;
        let births = match self.history_info(target)? {
            Some(info) => crate::collector::births_of(&info),
            None => BTreeMap::new(),
        };
        Ok(collector_core::regress::detect(
            &history, directions, &births, opts,
        ))
    }

    /// The columns table of a history, one row per column it has held (in
    /// order of birth): `NAME`, `KIND`, `UNITS`, `MEANING` (version),
    /// `BORN` (its first event: the event's label or time while that event
    /// is stored, else `event <seq>` and why it is not shown) and `STATE` (`live`,
    /// `dormant since <event>` or `dormant (last in <event>)`, or `retired
    /// at <event>, now <successor>`). Returns the header and the rows, for
    /// a text table or the HTML report.
    pub fn columns_table(info: &HistoryInfo) -> (Vec<String>, Vec<Vec<String>>) {
        let header = ["NAME", "KIND", "UNITS", "MEANING", "BORN", "STATE"]
            .map(String::from)
            .to_vec();
        let rows = info.columns.iter().map(|c| column_row(info, c)).collect();
        (header, rows)
    }

    /// What changed between a superseded history and the one its sweep
    /// name appends to now, as one phrase: `input `n`: … -> …; repeats:
    /// 3 -> 2`.
    pub fn superseded_changes(s: &Superseded) -> String {
        if s.changes.is_empty() {
            "what changed is unknown (the old history recorded no identity)".into()
        } else {
            s.changes.join("; ")
        }
    }

    /// Writes the HTML report of the history `history_key` (its dataset
    /// `history`, with `failures`) to `path`, creating its directory: the
    /// page of [`write_html`], with a note when the history is superseded,
    /// a section on its columns (birth, dormancy, retirement), the image
    /// results as thumbnails (from the cache directory's `media/`) and, as
    /// `opts` asks, a regression check marked on the history plots.
    /// Returns the regression report the page shows, if any.
    pub fn write_history_html(
        &self,
        history_key: &str,
        history: &Dataset,
        failures: &[SampleFailure],
        path: &Path,
        title: &str,
        opts: &ReportOptions,
    ) -> Result<Option<RegressionReport>> {
        let mut html = self.html_options(title, opts);
        let info = self.cache()?.history_info(history_key)?;
        if let Some(info) = &info {
            if let Some(s) = &info.superseded {
                html = html.note(format!(
                    "History {history_key} of sweep `{}` is superseded: runs of the sweep now append to history {} ({}). Its events are kept.",
                    info.sweep,
                    s.by,
                    Self::superseded_changes(s)
                ));
            }
            let (header, rows) = Self::columns_table(info);
            html = html.columns(TextSection {
                title: format!("Columns of the history ({})", rows.len()),
                notes: vec![
                    "Every column the history has held. Born: its first event. Live: the newest event holds it. \
                     Dormant: newer events do not hold it; it resumes when a run holds it again. \
                     Retired: its kind, units or meaning version changed; its values stay under the name shown \
                     and a fresh column holds its old name."
                        .into(),
                ],
                header,
                rows,
            });
        }
        let report = match (&opts.regressions, &opts.check) {
            (Some(r), _) => Some(r.clone()),
            (None, Some(check)) => {
                let births = info
                    .as_ref()
                    .map(crate::collector::births_of)
                    .unwrap_or_default();
                Some(collector_core::regress::detect(
                    history,
                    &opts.directions,
                    &births,
                    check,
                ))
            }
            (None, None) => None,
        };
        if let Some(r) = &report {
            html = html.regressions(r.clone());
        }
        write_html_with(history, failures, path, &html)?;
        Ok(report)
    }

    /// The page options of this cache directory's reports: `title`, image
    /// cells resolved against its `media/`, and the image choices of
    /// `opts`.
    fn html_options(&self, title: &str, opts: &ReportOptions) -> HtmlOptions {
        let mut html = HtmlOptions::default()
            .title(title)
            .media_root(self.dir.media())
            .link_media(opts.link_media);
        if let Some(r) = opts.image_repeat {
            html = html.image_repeat(r);
        }
        html
    }

    /// Writes the HTML report of `target`: its history when it has one
    /// (with the failures of its newest result, when readable, and its
    /// columns), else its result. `path` defaults to
    /// [`CacheDir::report_path`](crate::CacheDir::report_path). The same
    /// as [`write_report_with`](Self::write_report_with) with the default
    /// [`ReportOptions`] (no regression check).
    pub fn write_report(
        &self,
        target: &Target,
        path: Option<&Path>,
    ) -> Result<(ReportOf, PathBuf)> {
        let w = self.write_report_with(target, path, &ReportOptions::default())?;
        Ok((w.of, w.path))
    }

    /// Writes the HTML report of `target` as [`write_report`](Self::write_report)
    /// does, with `opts`: a regression check of the history marked on its
    /// plots (its summary at the top of the page), and how image results
    /// are shown.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use result_collector::{demo, Direction, ReportOptions, ResultCollector, RunOptions, TimeSrc};
    /// use result_collector::model::regress::Options;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let collector = ResultCollector::new(Some(dir.path()));
    /// let sweep = demo::sweep()?;
    /// let media = collector.media_root()?;
    /// for label in ["v1", "v2"] {
    ///     collector.run(&sweep, &TimeSrc::Label(label.into()), &RunOptions::default(), |s| {
    ///         demo::job(&sweep, &media, s)
    ///     })?;
    /// }
    /// let target = collector.resolve("demo")?;
    /// let opts = ReportOptions::default()
    ///     .check(Options::default())
    ///     .directions(BTreeMap::from([("time".to_string(), Direction::Minimize)]));
    /// let written = collector.write_report_with(&target, None, &opts)?;
    /// let page = std::fs::read_to_string(&written.path)?;
    /// assert!(page.contains("Regressions</h2>") && written.regressions.is_some());
    /// // The demo's plots, inlined as thumbnails.
    /// assert!(page.contains("<img src=\"data:image/svg+xml;base64,"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_report_with(
        &self,
        target: &Target,
        path: Option<&Path>,
        opts: &ReportOptions,
    ) -> Result<WrittenReport> {
        let path = path.map_or_else(|| self.dir.report_path(&target.name), Path::to_path_buf);
        match self.load_history(target)? {
            Some((key, ds)) => {
                let failures = if target.result_key.is_some() {
                    self.load_result(target)
                        .map(|r| r.failures)
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                let regressions =
                    self.write_history_html(&key, &ds, &failures, &path, &target.name, opts)?;
                Ok(WrittenReport {
                    of: ReportOf::History,
                    path,
                    regressions,
                })
            }
            None => {
                let r = self.load_result(target)?;
                let html = self.html_options(&target.name, opts);
                write_html_with(&r.dataset, &r.failures, &path, &html)?;
                Ok(WrittenReport {
                    of: ReportOf::Result,
                    path,
                    regressions: None,
                })
            }
        }
    }
}

/// How [`ResultCollector::write_report_with`] and
/// [`ResultCollector::write_history_html`] draw a page.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ReportOptions {
    /// Run the regression detector over the history with these options
    /// and mark what it finds; `None`: no check (unless
    /// [`regressions`](Self::regressions) is given).
    pub check: Option<collector_core::regress::Options>,
    /// The directions of the check, by column or result variable name
    /// (the stored history keeps none; a variable not named is checked
    /// both ways).
    pub directions: BTreeMap<String, collector_core::Direction>,
    /// A report already made (a run's [`RunReport::regressions`](crate::RunReport::regressions)),
    /// marked as it is, instead of a check.
    pub regressions: Option<RegressionReport>,
    /// Link the image files (by their path relative to the page) instead
    /// of inlining them in the page.
    pub link_media: bool,
    /// The repeat whose images are shown (its coordinate, 1 for the
    /// first; default the first).
    pub image_repeat: Option<i64>,
}

impl ReportOptions {
    /// Runs the regression check with `opts`.
    #[must_use]
    pub fn check(mut self, opts: collector_core::regress::Options) -> Self {
        self.check = Some(opts);
        self
    }
    /// Sets the directions of the check.
    #[must_use]
    pub fn directions(mut self, d: BTreeMap<String, collector_core::Direction>) -> Self {
        self.directions = d;
        self
    }
    /// Marks `report` instead of running a check.
    #[must_use]
    pub fn regressions(mut self, report: RegressionReport) -> Self {
        self.regressions = Some(report);
        self
    }
    /// Links image files instead of inlining them.
    #[must_use]
    pub fn link_media(mut self, link: bool) -> Self {
        self.link_media = link;
        self
    }
    /// Sets the repeat whose images are shown.
    #[must_use]
    pub fn image_repeat(mut self, repeat: i64) -> Self {
        self.image_repeat = Some(repeat);
        self
    }
}

/// What [`ResultCollector::write_report_with`] wrote.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WrittenReport {
    /// Which record the page shows.
    pub of: ReportOf,
    /// The page's file.
    pub path: PathBuf,
    /// The regression report the page shows, when a check ran or was
    /// given (a history's page only).
    pub regressions: Option<RegressionReport>,
}

/// An event of `info` by name: its label or time while it is stored;
/// else `event <seq> (before every stored event)` when it is older (in
/// order of appends) than every stored one, as when it was replaced by a
/// rerun or trimmed, or `event <seq> (not stored)`.
fn event_name(info: &HistoryInfo, seq: u64) -> String {
    if let Some(at) = info.event_at(seq) {
        return at.to_string();
    }
    if info.events.iter().all(|e| e.seq > seq) {
        format!("event {seq} (before every stored event)")
    } else {
        format!("event {seq} (not stored)")
    }
}

fn column_row(info: &HistoryInfo, c: &ColumnInfo) -> Vec<String> {
    let state = match &c.state {
        ColumnState::Live => "live".to_string(),
        ColumnState::Dormant { last_seq } => {
            match first_appended_after(info, *last_seq, u64::MAX) {
                Some(next) => format!("dormant since {next}"),
                None => format!("dormant (last in {})", event_name(info, *last_seq)),
            }
        }
        ColumnState::Retired { at_seq, successor } => format!(
            "retired at {}, now `{successor}`",
            event_name(info, *at_seq)
        ),
    };
    // Its dormant spans that ended, oldest first.
    let state = c
        .dormant_spans
        .iter()
        .map(|&(last, back)| {
            let until = event_name(info, back);
            match first_appended_after(info, last, back) {
                Some(from) => format!("dormant from {from} until {until}"),
                None => format!("dormant until {until}"),
            }
        })
        .fold(state, |acc, span| format!("{acc}; was {span}"));
    vec![
        c.name.clone(),
        c.kind.to_string(),
        if c.units.is_empty() {
            "-".into()
        } else {
            c.units.clone()
        },
        c.meaning_version.to_string(),
        born_name(info, c),
        state,
    ]
}

/// The first stored event appended after event `last` and before event
/// `before` (the first without a column whose last event is `last`).
fn first_appended_after(info: &HistoryInfo, last: u64, before: u64) -> Option<&str> {
    info.events
        .iter()
        .filter(|e| e.seq > last && e.seq < before)
        .min_by_key(|e| e.seq)
        .map(|e| e.at.as_str())
}

/// Where a column starts: its first event while it is stored; else the
/// first stored event, in time order, that can hold it (appended from its
/// birth to its last event, before its retirement), as after a rerun of
/// its first label replaced that event; else [`event_name`].
fn born_name(info: &HistoryInfo, c: &ColumnInfo) -> String {
    if let Some(at) = info.event_at(c.born_seq) {
        return at.to_string();
    }
    let (last, retired) = match &c.state {
        ColumnState::Live => (u64::MAX, None),
        ColumnState::Dormant { last_seq } => (*last_seq, None),
        ColumnState::Retired { at_seq, .. } => (u64::MAX, Some(*at_seq)),
    };
    match info
        .events
        .iter()
        .find(|e| e.seq > c.born_seq && e.seq <= last && retired.is_none_or(|r| e.seq < r))
    {
        Some(e) => format!(
            "{} (its first event, {}, was replaced or trimmed)",
            e.at, c.born_seq
        ),
        None => event_name(info, c.born_seq),
    }
}

/// The code version of each event of `history`, from `info` (its
/// metadata): `None` when no event declared one.
fn event_versions(
    history_len: usize,
    coords: &[String],
    info: &HistoryInfo,
) -> Option<Vec<String>> {
    if info.events.iter().all(|e| e.version.is_empty()) {
        return None;
    }
    let shown = |v: &str| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.to_string()
        }
    };
    if info.events.len() == history_len {
        return Some(info.events.iter().map(|e| shown(&e.version)).collect());
    }
    // The metadata and the dataset disagree: match by coordinate.
    Some(
        coords
            .iter()
            .map(|at| {
                info.events
                    .iter()
                    .find(|e| e.at == *at)
                    .map_or_else(|| "?".to_string(), |e| shown(&e.version))
            })
            .collect(),
    )
}

/// One row per event of a history: its number, its `over_time`
/// coordinate, its code version (from `info`, when any event declared
/// one) and, per column, the mean of its float cells (NaN skipped) or,
/// for other columns, how many cells are set. Returns the header and the
/// rows, for a text table.
pub fn history_table(
    history: &Dataset,
    info: Option<&HistoryInfo>,
) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let time = history.dim(OVER_TIME_DIM)?;
    let coords: Vec<String> = (0..time.len())
        .map(|i| {
            time.coords
                .get(i)
                .map(|v| v.to_string())
                .unwrap_or_default()
        })
        .collect();
    let versions = info.and_then(|info| event_versions(time.len(), &coords, info));
    let mut header = vec!["#".to_string(), OVER_TIME_DIM.to_string()];
    if versions.is_some() {
        header.push("code version".into());
    }
    for c in history.columns() {
        let units = if c.attrs.units.is_empty() {
            String::new()
        } else {
            format!(" [{}]", c.attrs.units)
        };
        header.push(match &c.data {
            ColumnData::F64(_) => format!("mean {}{units}", c.name),
            _ => format!("{} (set)", c.name),
        });
    }
    let mut rows = Vec::with_capacity(time.len());
    for (i, at) in coords.iter().enumerate() {
        let event = history.isel(OVER_TIME_DIM, i)?;
        let mut row = vec![(i + 1).to_string(), at.clone()];
        if let Some(v) = &versions {
            row.push(v.get(i).cloned().unwrap_or_default());
        }
        for c in event.columns() {
            row.push(match &c.data {
                ColumnData::F64(a) => {
                    let (sum, n) = a
                        .iter()
                        .filter(|v| !v.is_nan())
                        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
                    if n == 0 {
                        "NaN".into()
                    } else {
                        collector_report::fmt_num(sum / n as f64)
                    }
                }
                ColumnData::Text(a) => {
                    let set = a.iter().filter(|s| !is_missing_text(s)).count();
                    format!("{set}/{}", a.len())
                }
                ColumnData::I64(a) => {
                    let set = a.iter().filter(|v| **v != REFERENCE_SENTINEL).count();
                    format!("{set}/{}", a.len())
                }
            });
        }
        rows.push(row);
    }
    Ok((header, rows))
}

/// Writes the HTML report of `ds` to `path`, creating its directory.
/// Image cells are shown only when absolute: relative ones name files
/// under a media root this function does not know (use
/// [`ResultCollector::write_report_with`] for a stored sweep, or
/// [`report::write_html`](collector_report::write_html) with
/// [`HtmlOptions::media_root`](collector_report::HtmlOptions::media_root)).
pub fn write_html(
    ds: &Dataset,
    failures: &[SampleFailure],
    path: &Path,
    title: &str,
) -> Result<()> {
    write_html_with(ds, failures, path, &HtmlOptions::default().title(title))
}

/// Writes the HTML page of `ds` with `opts` to `path`, creating its
/// directory.
fn write_html_with(
    ds: &Dataset,
    failures: &[SampleFailure],
    path: &Path,
    opts: &HtmlOptions,
) -> Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| {
            // `reports` (or another parent) that is a file.
            let source = match std::fs::metadata(parent) {
                Ok(m) if !m.is_dir() => std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a file is in the way (not a directory); move it away",
                ),
                _ => source,
            };
            Error::Io {
                what: "creating the directory",
                path: parent.to_path_buf(),
                source,
            }
        })?;
    }
    collector_report::write_html(ds, failures, path, opts)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::time::UNIX_EPOCH;

    use collector_cache::{HistoryEntry, ResultEntry};
    use collector_core::TimeKind;

    use super::*;

    fn listing(name: &str, results: &[&str], histories: &[(&str, u64)]) -> SweepListing {
        SweepListing {
            name: name.into(),
            results: results
                .iter()
                .map(|k| ResultEntry {
                    key: (*k).into(),
                    complete: true,
                    cells: 1,
                    bytes: 1,
                    stored_at: UNIX_EPOCH,
                    attempted: 1,
                    failed: 0,
                })
                .collect(),
            histories: histories
                .iter()
                .map(|(k, events)| HistoryEntry {
                    key: (*k).into(),
                    events: *events,
                    bytes: 1,
                    over_time_kind: TimeKind::Label,
                    superseded: None,
                })
                .collect(),
        }
    }

    #[test]
    fn names_then_unique_prefixes() {
        let l = [
            listing("a", &["aa11", "aa22"], &[("hh1", 1), ("hh2", 5)]),
            listing("b", &["bb"], &[]),
        ];
        let t = resolve_in(&l, "a").unwrap().unwrap();
        assert_eq!(t.result_key.as_deref(), Some("aa22"));
        assert_eq!(t.history_key.as_deref(), Some("hh2"));
        let t = resolve_in(&l, "aa1").unwrap().unwrap();
        assert_eq!(
            (t.name.as_str(), t.result_key.as_deref()),
            ("a", Some("aa11"))
        );
        let t = resolve_in(&l, "hh1").unwrap().unwrap();
        assert_eq!(t.history_key.as_deref(), Some("hh1"));
        assert_eq!(resolve_in(&l, "aa"), Some(Err(2)));
        assert_eq!(resolve_in(&l, "zz"), None);
        assert_eq!(resolve_in(&l, ""), None);
    }

    #[test]
    fn a_sweep_name_means_its_current_history_not_a_superseded_one() {
        let mut l = listing("a", &[], &[("old", 9), ("new", 1)]);
        l.histories[0].superseded = Some(collector_cache::Superseded {
            by: "new".into(),
            changes: vec!["repeats: 1 -> 2".into()],
        });
        let t = resolve_in(&[l], "a").unwrap().unwrap();
        assert_eq!(t.history_key.as_deref(), Some("new"));
    }

    fn info(events: &[(u64, &str, &str)], columns: Vec<ColumnInfo>) -> HistoryInfo {
        HistoryInfo {
            key: "k".into(),
            sweep: "s".into(),
            time_kind: TimeKind::Label,
            events: events
                .iter()
                .map(|(seq, at, version)| collector_cache::EventInfo {
                    seq: *seq,
                    at: (*at).into(),
                    version: (*version).into(),
                })
                .collect(),
            columns,
            identity: None,
            superseded: None,
        }
    }

    fn column(name: &str, born_seq: u64, state: ColumnState) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            var: name.into(),
            kind: collector_core::ResultKind::Float,
            units: String::new(),
            meaning_version: 1,
            born_seq,
            state,
            dormant_spans: Vec::new(),
        }
    }

    #[test]
    fn columns_table_names_events_by_label_and_states_by_event() {
        // Event 0 was trimmed; 1, 3 and 4 are stored (2 was replaced by 4).
        let i = info(
            &[(1, "b", ""), (3, "d", ""), (4, "c", "")],
            vec![
                column(
                    "old",
                    0,
                    ColumnState::Retired {
                        at_seq: 3,
                        successor: "x".into(),
                    },
                ),
                column("gone", 0, ColumnState::Dormant { last_seq: 1 }),
                column("lost", 2, ColumnState::Dormant { last_seq: 2 }),
                column("x", 3, ColumnState::Live),
            ],
        );
        let (header, rows) = ResultCollector::columns_table(&i);
        assert_eq!(
            header,
            ["NAME", "KIND", "UNITS", "MEANING", "BORN", "STATE"]
        );
        let states: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r[4].as_str(), r[5].as_str()))
            .collect();
        assert_eq!(
            states,
            [
                (
                    "b (its first event, 0, was replaced or trimmed)",
                    "retired at d, now `x`"
                ),
                (
                    "b (its first event, 0, was replaced or trimmed)",
                    "dormant since d"
                ),
                // No stored event holds it: 2 was its only one.
                ("event 2 (not stored)", "dormant since d"),
                ("d", "live"),
            ]
        );
        assert_eq!(rows[0][..4], ["old", "float", "-", "1"]);
    }

    #[test]
    fn versions_follow_the_events_and_are_left_out_when_none() {
        let none = info(&[(0, "a", ""), (1, "b", "")], Vec::new());
        let coords = ["a".to_string(), "b".to_string()];
        assert_eq!(event_versions(2, &coords, &none), None);
        let some = info(&[(0, "a", ""), (1, "b", "v2")], Vec::new());
        assert_eq!(
            event_versions(2, &coords, &some),
            Some(vec!["-".to_string(), "v2".to_string()])
        );
        // Metadata and dataset disagree: matched by coordinate.
        let three = ["a".to_string(), "z".to_string(), "b".to_string()];
        assert_eq!(
            event_versions(3, &three, &some),
            Some(vec!["-".to_string(), "?".to_string(), "v2".to_string()])
        );
    }

    #[test]
    fn superseded_changes_read_as_one_phrase() {
        let s = collector_cache::Superseded {
            by: "new".into(),
            changes: vec!["input `n`: 3 -> 4".into(), "repeats: 3 -> 2".into()],
        };
        assert_eq!(
            ResultCollector::superseded_changes(&s),
            "input `n`: 3 -> 4; repeats: 3 -> 2"
        );
        let unknown = collector_cache::Superseded {
            by: "new".into(),
            changes: Vec::new(),
        };
        assert!(ResultCollector::superseded_changes(&unknown).contains("unknown"));
    }
}
