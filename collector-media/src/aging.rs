//! Per-variable aging: writing the sentinel into a variable's cells older
//! than its `max_time_events`, and queueing the media files they named for
//! deletion.

use collector_core::{Dataset, ResultVar, Sentinel};

use crate::deletion::PendingDeletion;
use crate::error::Result;

/// The missing value of `var`'s kind (named like the Python tool bencher's
/// `_sentinel_for_result_var`).
///
/// A convenience over [`collector_core::ResultKind::sentinel`], the one
/// place sentinels are defined.
pub fn sentinel_for_result_var(var: &ResultVar) -> Sentinel {
    var.kind().sentinel()
}

/// Writes the sentinel of result variable `var` into all of its cells (every
/// column of it: the components of a vec) along `over_time` except the
/// newest `limit` events, in place: [`Dataset::age_var`].
///
/// Returns the files the overwritten cells named (media kinds only; never
/// a missing value), as a [`PendingDeletion`] to execute only after the
/// write that stops referencing them has committed.
///
/// - `limit >= ` the number of events: nothing changes.
/// - Aging again is idempotent: cells already at the sentinel name no file.
/// - A dataset without an `over_time` dim, or with no column of `var`, is
///   an error ([`Error::Core`](crate::Error::Core), naming `var`) and is
///   left unchanged.
pub fn null_old_entries(dataset: &mut Dataset, var: &str, limit: usize) -> Result<PendingDeletion> {
    Ok(PendingDeletion::from_paths(dataset.age_var(var, limit)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::collections::BTreeMap;

    use collector_core::{Cell, Column, Coords, Dim, OVER_TIME_DIM, ResultKind};

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
        for x in 0..2 {
            for t in 0..events {
                img.set(&[x, t], Cell::Text(format!("image/img/j{x}/e{t}.png")))
                    .unwrap();
            }
        }
        Dataset::from_parts(dims, vec![img], BTreeMap::new()).unwrap()
    }

    #[test]
    fn ages_media_and_returns_files() {
        let mut ds = dataset(4);
        let p = null_old_entries(&mut ds, "img", 1).unwrap();
        let mut paths = p.paths().to_vec();
        paths.sort();
        assert_eq!(paths.len(), 6);
        assert!(paths.contains(&"image/img/j0/e0.png".to_string()));
        assert!(!paths.iter().any(|p| p.ends_with("e3.png")));
        let img = ds.column("img").unwrap().text().unwrap();
        assert_eq!(img[[1, 2]], "NAN");
        assert_eq!(img[[1, 3]], "image/img/j1/e3.png");
        // Idempotent.
        let again = null_old_entries(&mut ds, "img", 1).unwrap();
        assert!(again.is_empty());
        std::mem::drop(p);
    }

    // Vec components, references and limits covering every event are
    // tested where aging lives: `collector_core::Dataset::age_var`.

    #[test]
    fn errors_name_the_variable() {
        let mut ds = dataset(3);
        let e = null_old_entries(&mut ds, "nope", 1).unwrap_err();
        assert!(
            e.to_string().contains("`nope`") && e.to_string().contains("img"),
            "{e}"
        );
        assert!(
            matches!(
                e,
                crate::Error::Core(collector_core::Error::UnknownName { .. })
            ),
            "{e}"
        );
        let mut flat = ds.isel(OVER_TIME_DIM, 0).unwrap();
        let before = flat.clone();
        let e = null_old_entries(&mut flat, "img", 1).unwrap_err();
        assert!(
            matches!(e, crate::Error::Core(collector_core::Error::Shape { .. })),
            "{e}"
        );
        assert!(
            e.to_string().contains("`img`") && e.to_string().contains("no `over_time` dim"),
            "{e}"
        );
        assert_eq!(flat, before, "an error leaves the dataset unchanged");
    }

    #[test]
    fn sentinel_for_result_var_uses_core() {
        assert_eq!(
            sentinel_for_result_var(&ResultVar::image("i")),
            Sentinel::Text("NAN")
        );
        assert_eq!(
            sentinel_for_result_var(&ResultVar::reference("r")),
            Sentinel::I64(-1)
        );
    }
}
