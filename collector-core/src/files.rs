//! The rules about the files a dataset names, and about aging a variable
//! out of old events. Every crate that needs them calls these: the cache
//! (which files a trimmed or aged event stops naming), media (which files
//! are still live, which are orphans) and the facade.

use ndarray::{Axis, Slice};

use crate::dataset::{ColumnData, Dataset};
use crate::error::{Error, Result, unknown};
use crate::sweep::{OVER_TIME_DIM, ResultKind, Sentinel, TEXT_SENTINEL};

/// Whether a text cell holds no value: empty, or the text sentinel `"NAN"`.
pub fn is_missing_text(cell: &str) -> bool {
    cell.is_empty() || cell == TEXT_SENTINEL
}

/// One file named by a cell of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRef<'a> {
    /// The kind of the column: a media kind or [`ResultKind::Blob`].
    pub kind: ResultKind,
    /// The result variable of the column.
    pub var: &'a str,
    /// The cell's text: a path (relative to the media root, or absolute)
    /// or a blob name.
    pub path: &'a str,
}

impl Dataset {
    /// Every file the dataset names: the non-missing cells of its media
    /// and blob columns (see [`ResultKind::names_file`]), column by column,
    /// each column in row-major order. The same path may appear more than
    /// once.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use collector_core::{Cell, Column, Coords, Dataset, Dim, ResultKind};
    ///
    /// let mut img = Column::new_missing("img", "img", ResultKind::Image, &[2]);
    /// img.set(&[1], Cell::Text("image/img/j1/a.png".into()))?;
    /// let ds = Dataset::from_parts(vec![Dim::new("x", Coords::Int(vec![1, 2]))], vec![img], BTreeMap::new())?;
    /// let paths: Vec<&str> = ds.named_files().map(|f| f.path).collect();
    /// assert_eq!(paths, ["image/img/j1/a.png"]); // the missing cell names nothing
    /// # Ok::<(), collector_core::Error>(())
    /// ```
    pub fn named_files(&self) -> impl Iterator<Item = FileRef<'_>> {
        self.columns()
            .iter()
            .filter(|c| c.kind.names_file())
            .flat_map(|c| {
                let cells = match &c.data {
                    ColumnData::Text(a) => Some(a.iter()),
                    _ => None,
                };
                cells.into_iter().flatten().filter_map(move |s| {
                    (!is_missing_text(s)).then_some(FileRef {
                        kind: c.kind,
                        var: &c.var,
                        path: s.as_str(),
                    })
                })
            })
    }

    /// Writes the sentinel of result variable `var` into all of its cells
    /// (every column of it: the components of a vec) along `over_time`
    /// except the newest `keep` events, in place. Events are in time order
    /// along `over_time`, so the oldest are its first positions.
    ///
    /// Returns the text of the overwritten media cells (never a missing
    /// value), in cell order: the files these cells named. Whether a file
    /// may go is for the caller to decide, after the write that stops
    /// naming it has committed.
    ///
    /// - `keep >=` the number of events: nothing changes.
    /// - Aging again is idempotent: cells already at the sentinel name no file.
    /// - A dataset without an `over_time` dim, or with no column of `var`,
    ///   is an error and is left unchanged.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use collector_core::{Cell, Column, Coords, Dataset, Dim, ResultKind, OVER_TIME_DIM};
    ///
    /// let mut img = Column::new_missing("img", "img", ResultKind::Image, &[3]);
    /// for t in 0..3 {
    ///     img.set(&[t], Cell::Text(format!("image/img/j/{t}.png")))?;
    /// }
    /// let time = Dim::new(OVER_TIME_DIM, Coords::Label(vec!["a".into(), "b".into(), "c".into()]));
    /// let mut ds = Dataset::from_parts(vec![time], vec![img], BTreeMap::new())?;
    /// let released = ds.age_var("img", 1)?;
    /// assert_eq!(released, ["image/img/j/0.png", "image/img/j/1.png"]);
    /// assert_eq!(ds.column("img")?.text().unwrap()[[0]], "NAN");
    /// # Ok::<(), collector_core::Error>(())
    /// ```
    pub fn age_var(&mut self, var: &str, keep: usize) -> Result<Vec<String>> {
        let Some(axis) = self.dims().iter().position(|d| d.name == OVER_TIME_DIM) else {
            return Err(Error::Shape {
                what: format!("aging variable `{var}`"),
                message: format!(
                    "the dataset has no `{OVER_TIME_DIM}` dim (dims: {})",
                    self.dim_names().join(", ")
                ),
            });
        };
        let events = self.dims()[axis].len();
        let cols: Vec<usize> = self
            .columns()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.var == var)
            .map(|(i, _)| i)
            .collect();
        if cols.is_empty() {
            let mut known: Vec<&str> = self.columns().iter().map(|c| c.var.as_str()).collect();
            known.dedup();
            return Err(unknown("result variable", var, &known));
        }
        // Check every column before touching any, so an error leaves the
        // dataset as it was.
        for &i in &cols {
            let c = &self.columns()[i];
            if c.data.storage() != c.kind.storage() {
                return Err(Error::Shape {
                    what: format!("aging variable `{var}`"),
                    message: format!(
                        "column `{}` holds {:?} cells, but its kind {} stores {:?}",
                        c.name,
                        c.data.storage(),
                        c.kind,
                        c.kind.storage()
                    ),
                });
            }
        }
        let mut released = Vec::new();
        if keep >= events {
            return Ok(released);
        }
        let old = Slice::from(..events - keep);
        for i in cols {
            let col = &mut self.columns_mut()[i];
            let media = col.kind.is_media();
            match (&mut col.data, col.kind.sentinel()) {
                (ColumnData::F64(a), Sentinel::F64(s)) => a.slice_axis_mut(Axis(axis), old).fill(s),
                (ColumnData::I64(a), Sentinel::I64(s)) => a.slice_axis_mut(Axis(axis), old).fill(s),
                (ColumnData::Text(a), Sentinel::Text(s)) => {
                    for cell in a.slice_axis_mut(Axis(axis), old).iter_mut() {
                        if cell == s {
                            continue;
                        }
                        let was = std::mem::replace(cell, s.to_string());
                        if media && !is_missing_text(&was) {
                            released.push(was);
                        }
                    }
                }
                // Ruled out by the storage check above.
                _ => {}
            }
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::collections::BTreeMap;

    use crate::{Cell, Column, Coords, Dim};

    use super::*;

    fn dataset(events: usize) -> Dataset {
        let dims = vec![
            Dim::new("x", Coords::Int(vec![1, 2])),
            Dim::new(
                OVER_TIME_DIM,
                Coords::Label((0..events).map(|i| format!("e{i}")).collect()),
            ),
        ];
        let shape = [2, events];
        let mut img = Column::new_missing("img", "img", ResultKind::Image, &shape);
        let mut blob = Column::new_missing("b", "b", ResultKind::Blob, &shape);
        let mut note = Column::new_missing("note", "note", ResultKind::String, &shape);
        let mut pos_x = Column::new_missing("pos_x", "pos", ResultKind::Vec(2), &shape);
        let mut pos_y = Column::new_missing("pos_y", "pos", ResultKind::Vec(2), &shape);
        let mut r = Column::new_missing("r", "r", ResultKind::Reference, &shape);
        for x in 0..2 {
            for t in 0..events {
                img.set(&[x, t], Cell::Text(format!("image/img/j{x}/e{t}.png")))
                    .unwrap();
                note.set(&[x, t], Cell::Text(format!("not a file {x}")))
                    .unwrap();
                pos_x.set(&[x, t], Cell::F64(t as f64)).unwrap();
                pos_y.set(&[x, t], Cell::F64(-(t as f64))).unwrap();
                r.set(&[x, t], Cell::I64(t as i64)).unwrap();
            }
        }
        blob.set(&[0, 0], Cell::Text("abc.bin".into())).unwrap();
        blob.set(&[1, 0], Cell::Text(String::new())).unwrap();
        Dataset::from_parts(
            dims,
            vec![img, blob, note, pos_x, pos_y, r],
            BTreeMap::new(),
        )
        .unwrap()
    }

    #[test]
    fn named_files_are_the_set_media_and_blob_cells() {
        let ds = dataset(2);
        let files: Vec<(ResultKind, &str)> = ds.named_files().map(|f| (f.kind, f.path)).collect();
        assert_eq!(files.len(), 5, "{files:?}");
        assert!(files.contains(&(ResultKind::Blob, "abc.bin")));
        assert!(files.contains(&(ResultKind::Image, "image/img/j1/e1.png")));
        assert!(!files.iter().any(|(_, p)| p.starts_with("not a file")));
    }

    #[test]
    fn ages_media_and_returns_files() {
        let mut ds = dataset(4);
        let mut paths = ds.age_var("img", 1).unwrap();
        paths.sort();
        assert_eq!(paths.len(), 6);
        assert!(paths.contains(&"image/img/j0/e0.png".to_string()));
        assert!(!paths.iter().any(|p| p.ends_with("e3.png")));
        let img = ds.column("img").unwrap().text().unwrap();
        assert_eq!(img[[1, 2]], "NAN");
        assert_eq!(img[[1, 3]], "image/img/j1/e3.png");
        // Idempotent.
        assert!(ds.age_var("img", 1).unwrap().is_empty());
    }

    #[test]
    fn ages_every_vec_component_and_releases_no_file() {
        let mut ds = dataset(3);
        assert!(ds.age_var("pos", 2).unwrap().is_empty());
        for c in ["pos_x", "pos_y"] {
            let a = ds.column(c).unwrap().f64().unwrap();
            assert!(a[[0, 0]].is_nan() && a[[1, 0]].is_nan());
            assert!(!a[[0, 1]].is_nan() && !a[[1, 2]].is_nan());
        }
        assert!(ds.age_var("r", 0).unwrap().is_empty());
        let r = ds.column("r").unwrap().i64().unwrap();
        assert!(r.iter().all(|v| *v == -1));
        // A string column is not a file.
        assert!(ds.age_var("note", 0).unwrap().is_empty());
    }

    #[test]
    fn keeping_at_least_every_event_changes_nothing() {
        let mut ds = dataset(3);
        let before = ds.clone();
        assert!(ds.age_var("img", 3).unwrap().is_empty());
        assert!(ds.age_var("img", 99).unwrap().is_empty());
        assert_eq!(ds, before);
    }

    #[test]
    fn errors_name_the_variable_and_leave_the_dataset() {
        let mut ds = dataset(3);
        let before = ds.clone();
        let e = ds.age_var("nope", 1).unwrap_err().to_string();
        assert!(e.contains("`nope`") && e.contains("img"), "{e}");
        assert_eq!(ds, before);
        let mut flat = ds.isel(OVER_TIME_DIM, 0).unwrap();
        let e = flat.age_var("img", 1).unwrap_err().to_string();
        assert!(e.contains("`img`") && e.contains(OVER_TIME_DIM), "{e}");
    }
}
