//! Property test of aging: exactly the cells older than the limit hold the
//! sentinel afterwards, every other cell is unchanged, and the returned
//! files are exactly the media paths those cells held.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::{BTreeMap, BTreeSet};

use collector_core::{Cell, Column, ColumnData, Coords, Dataset, Dim, OVER_TIME_DIM, ResultKind};
use collector_media::null_old_entries;
use proptest::prelude::*;

const KINDS: [ResultKind; 7] = [
    ResultKind::Float,
    ResultKind::Vec(3),
    ResultKind::Image,
    ResultKind::Recording,
    ResultKind::String,
    ResultKind::Blob,
    ResultKind::Reference,
];

/// A comparable rendering of every cell, row-major.
fn cells(c: &Column) -> Vec<String> {
    match &c.data {
        ColumnData::F64(a) => a.iter().map(|v| format!("f{:x}", v.to_bits())).collect(),
        ColumnData::I64(a) => a.iter().map(|v| format!("i{v}")).collect(),
        ColumnData::Text(a) => a.iter().map(|v| format!("t{v}")).collect(),
    }
}

fn sentinel_repr(kind: ResultKind) -> String {
    cells(&Column::new_missing("s", "s", kind, &[1])).remove(0)
}

fn column(name: &str, var: &str, kind: ResultKind, shape: &[usize], seed: u64) -> Column {
    let mut col = Column::new_missing(name, var, kind, shape);
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for i in 0..n {
        // Unravel i, row-major.
        let mut r = i;
        for (d, &s) in shape.iter().enumerate().rev() {
            idx[d] = r % s;
            r /= s;
        }
        // Some cells stay missing, as after a failed job.
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
        if h.is_multiple_of(5) {
            continue;
        }
        let v = match kind.sentinel() {
            collector_core::Sentinel::F64(_) => Cell::F64((h % 1000) as f64 + 0.5),
            collector_core::Sentinel::I64(_) => Cell::I64((h % 1000) as i64),
            collector_core::Sentinel::Text(_) => {
                Cell::Text(format!("{}/{var}/j{i}/f.bin", kind.name()))
            }
        };
        col.set(&idx, v).unwrap();
    }
    col
}

fn dataset(inner: &[usize], events: usize, kind: ResultKind, seed: u64) -> Dataset {
    let mut dims: Vec<Dim> = inner
        .iter()
        .enumerate()
        .map(|(i, &n)| Dim::new(format!("a{i}"), Coords::Int((0..n as i64).collect())))
        .collect();
    dims.push(Dim::new(
        OVER_TIME_DIM,
        Coords::Label((0..events).map(|t| format!("{t}")).collect()),
    ));
    let shape: Vec<usize> = dims.iter().map(Dim::len).collect();
    let mut columns = Vec::new();
    let names: Vec<String> = match kind {
        ResultKind::Vec(n) => (0..n)
            .map(|i| collector_core::vec_component_name("v", i))
            .collect(),
        _ => vec!["v".into()],
    };
    for n in &names {
        columns.push(column(n, "v", kind, &shape, seed));
    }
    columns.push(column(
        "other",
        "other",
        ResultKind::Image,
        &shape,
        seed ^ 1,
    ));
    columns.push(column("num", "num", ResultKind::Float, &shape, seed ^ 2));
    Dataset::from_parts(dims, columns, BTreeMap::new()).unwrap()
}

proptest! {
    #[test]
    fn aging_nulls_exactly_the_old_cells(
        inner in prop::collection::vec(1usize..4, 0..3),
        events in 1usize..6,
        limit in 0usize..8,
        kind in 0usize..KINDS.len(),
        seed in any::<u64>(),
    ) {
        let kind = KINDS[kind];
        let before = dataset(&inner, events, kind, seed);
        let mut after = before.clone();
        let pending = null_old_entries(&mut after, "v", limit).unwrap();
        let sentinel = sentinel_repr(kind);
        let cut = events.saturating_sub(limit);
        let mut expected_files = BTreeSet::new();
        prop_assert_eq!(after.dims(), before.dims());
        for (b, a) in before.columns().iter().zip(after.columns()) {
            prop_assert_eq!(&a.name, &b.name);
            let (bc, ac) = (cells(b), cells(a));
            for (i, (bv, av)) in bc.iter().zip(&ac).enumerate() {
                let old = i % events < cut;
                if b.var == "v" && old {
                    prop_assert_eq!(av, &sentinel, "cell {} of {}", i, b.name);
                    if kind.is_media() && *bv != sentinel {
                        expected_files.insert(bv[1..].to_string());
                    }
                } else {
                    prop_assert_eq!(av, bv, "cell {} of {} changed", i, b.name);
                }
            }
        }
        let got: BTreeSet<String> = pending.paths().iter().cloned().collect();
        prop_assert_eq!(got.len(), pending.len(), "paths are deduplicated");
        prop_assert_eq!(got, expected_files);
        prop_assert!(!pending.paths().iter().any(|p| p == "NAN"));

        // Aging again changes nothing and names no file.
        let once = after.clone();
        let again = null_old_entries(&mut after, "v", limit).unwrap();
        prop_assert!(again.is_empty());
        prop_assert_eq!(
            once.columns().iter().map(cells).collect::<Vec<_>>(),
            after.columns().iter().map(cells).collect::<Vec<_>>()
        );
    }
}
