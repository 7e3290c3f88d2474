//! Finding what a cache holds: listings, names and key prefixes, stored
//! results and histories, and HTML reports of them.

use std::path::{Path, PathBuf};

use collector_cache::{StoredResult, SweepListing};
use collector_core::{
    ColumnData, Dataset, OVER_TIME_DIM, REFERENCE_SENTINEL, SampleFailure, is_missing_text,
};
use collector_report::HtmlOptions;

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
        Ok(self
            .cache()?
            .load_history(key)?
            .map(|ds| (key.to_string(), ds)))
    }

    /// Writes the HTML report of `target`: its history when it has one
    /// (with the failures of its newest result, when readable), else its
    /// result. `path` defaults to [`CacheDir::report_path`](crate::CacheDir::report_path).
    pub fn write_report(
        &self,
        target: &Target,
        path: Option<&Path>,
    ) -> Result<(ReportOf, PathBuf)> {
        let (what, ds, failures) = match self.load_history(target)? {
            Some((_, ds)) => {
                let failures = if target.result_key.is_some() {
                    self.load_result(target)
                        .map(|r| r.failures)
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                (ReportOf::History, ds, failures)
            }
            None => {
                let r = self.load_result(target)?;
                (ReportOf::Result, r.dataset, r.failures)
            }
        };
        let path = path.map_or_else(|| self.dir.report_path(&target.name), Path::to_path_buf);
        write_html(&ds, &failures, &path, &target.name)?;
        Ok((what, path))
    }
}

/// One row per event of a history: its number, its `over_time`
/// coordinate and, per column, the mean of its float cells (NaN skipped)
/// or, for other columns, how many cells are set. Returns the header and
/// the rows, for a text table.
pub fn history_table(history: &Dataset) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let time = history.dim(OVER_TIME_DIM)?;
    let mut header = vec!["#".to_string(), OVER_TIME_DIM.to_string()];
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
    for i in 0..time.len() {
        let event = history.isel(OVER_TIME_DIM, i)?;
        let mut row = vec![
            (i + 1).to_string(),
            time.coords
                .get(i)
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ];
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
pub fn write_html(
    ds: &Dataset,
    failures: &[SampleFailure],
    path: &Path,
    title: &str,
) -> Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            what: "creating the directory",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    collector_report::write_html(ds, failures, path, &HtmlOptions::default().title(title))?;
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
}
