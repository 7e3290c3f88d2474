//! netCDF round trips through the `netcdf` crate's reader: dims, coords
//! (float, label, repeat, bool, over_time as labels and as timestamps),
//! columns with missing cells, units and attributes.

#![cfg(feature = "netcdf")]
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;

use collector_core::{
    AttrValue, Column, ColumnData, Coords, Dataset, Dim, REFERENCE_SENTINEL, ResultKind,
    TEXT_SENTINEL, VarAttrs,
};
use collector_report::{Error, read_netcdf, write_netcdf};
use ndarray::{ArrayD, IxDyn};

fn attrs(long_name: &str, units: &str, description: &str) -> VarAttrs {
    VarAttrs {
        long_name: long_name.into(),
        units: units.into(),
        description: description.into(),
    }
}

fn column(
    name: &str,
    var: &str,
    kind: ResultKind,
    a: VarAttrs,
    shape: &[usize],
    data: ColumnData,
) -> Column {
    assert_eq!(data.shape(), shape);
    Column {
        name: name.into(),
        var: var.into(),
        kind,
        attrs: a,
        data,
    }
}

/// x (3 floats, m) × algo (2 labels) × repeat 2 × over_time (2 events),
/// with float, vec(2), text and reference columns holding missing cells.
fn dataset(over_time: Coords) -> Dataset {
    let mut x = Dim::new("x", Coords::Float(vec![0.0, 0.1, 1.0 / 3.0]));
    x.attrs = attrs("tolerance", "m", "solver tolerance");
    let mut algo = Dim::new("algo", Coords::Str(vec!["quick".into(), "mérge".into()]));
    algo.attrs = attrs("algorithm", "", "");
    let repeat = Dim::new("repeat", Coords::Int(vec![0, 1]));
    let mut time = Dim::new("over_time", over_time);
    time.attrs.long_name = "event".into();
    let dims = vec![x, algo, repeat, time];
    let shape: Vec<usize> = dims.iter().map(Dim::len).collect();
    let n: usize = shape.iter().product();
    let sh = || IxDyn(&shape);

    #[allow(clippy::cast_precision_loss, reason = "small test values")]
    let cost: Vec<f64> = (0..n)
        .map(|i| match i % 7 {
            0 => f64::NAN,
            1 => -0.0,
            2 => f64::INFINITY,
            3 => 5e-324,
            _ => (i as f64).sqrt() / 3.0,
        })
        .collect();
    #[allow(clippy::cast_precision_loss, reason = "small test values")]
    let px: Vec<f64> = (0..n)
        .map(|i| if i == 5 { f64::NAN } else { i as f64 * 0.1 })
        .collect();
    #[allow(clippy::cast_precision_loss, reason = "small test values")]
    let py: Vec<f64> = (0..n)
        .map(|i| if i == 5 { f64::NAN } else { -(i as f64) * 0.1 })
        .collect();
    let note: Vec<String> = (0..n)
        .map(|i| match i % 5 {
            0 => TEXT_SENTINEL.to_string(),
            1 => String::new(),
            2 => "ünïcode ✓".to_string(),
            _ => format!("/tmp/plot_{i}.png"),
        })
        .collect();
    let obj: Vec<i64> = (0..n)
        .map(|i| {
            if i % 4 == 0 {
                REFERENCE_SENTINEL
            } else {
                i as i64
            }
        })
        .collect();

    let columns = vec![
        column(
            "cost",
            "cost",
            ResultKind::Float,
            attrs("cost", "s", "wall time"),
            &shape,
            ColumnData::F64(ArrayD::from_shape_vec(sh(), cost).unwrap()),
        ),
        column(
            "pos_x",
            "pos",
            ResultKind::Vec(2),
            attrs("", "m", ""),
            &shape,
            ColumnData::F64(ArrayD::from_shape_vec(sh(), px).unwrap()),
        ),
        column(
            "pos_y",
            "pos",
            ResultKind::Vec(2),
            attrs("", "m", ""),
            &shape,
            ColumnData::F64(ArrayD::from_shape_vec(sh(), py).unwrap()),
        ),
        column(
            "plot",
            "plot",
            ResultKind::Path,
            VarAttrs::default(),
            &shape,
            ColumnData::Text(ArrayD::from_shape_vec(sh(), note).unwrap()),
        ),
        column(
            "obj",
            "obj",
            ResultKind::Reference,
            attrs("object", "", "an in-memory object"),
            &shape,
            ColumnData::I64(ArrayD::from_shape_vec(sh(), obj).unwrap()),
        ),
    ];
    let mut a = BTreeMap::new();
    a.insert("title".into(), AttrValue::Str("Solver sweep".into()));
    a.insert("repeats".into(), AttrValue::Int(2));
    a.insert("big".into(), AttrValue::Int(i64::MAX));
    a.insert("scale".into(), AttrValue::Float(0.1));
    a.insert("nan".into(), AttrValue::Float(f64::NAN));
    Dataset::from_parts(dims, columns, a).unwrap()
}

fn assert_same(a: &Dataset, b: &Dataset) {
    assert_eq!(a.dim_names(), b.dim_names());
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.dims().iter().zip(b.dims()) {
        assert!(
            x.coords.same_as(&y.coords),
            "coords of `{}`: {:?} vs {:?}",
            x.name,
            x.coords,
            y.coords
        );
        assert_eq!(x.attrs, y.attrs, "attrs of dim `{}`", x.name);
    }
    assert_eq!(a.columns().len(), b.columns().len());
    for (x, y) in a.columns().iter().zip(b.columns()) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.var, y.var, "var of `{}`", x.name);
        assert_eq!(x.kind, y.kind, "kind of `{}`", x.name);
        assert_eq!(x.attrs, y.attrs, "attrs of `{}`", x.name);
        // Bitwise for floats: NaN positions, -0.0, subnormals, infinities.
        assert_eq!(x.data, y.data, "data of `{}`", x.name);
        assert_eq!(x.data.count_missing(), y.data.count_missing());
    }
    assert_eq!(a.attrs.len(), b.attrs.len());
    for (k, v) in &a.attrs {
        match (v, &b.attrs[k]) {
            (AttrValue::Float(p), AttrValue::Float(q)) => assert_eq!(p.to_bits(), q.to_bits()),
            (p, q) => assert_eq!(p, q, "attribute `{k}`"),
        }
    }
}

fn round_trip(ds: &Dataset) -> Dataset {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ds.nc");
    write_netcdf(ds, &path).unwrap();
    read_netcdf(&path).unwrap()
}

#[test]
fn labelled_history_round_trips() {
    let ds = dataset(Coords::Label(vec!["v1".into(), "v2".into()]));
    let back = round_trip(&ds);
    assert_same(&ds, &back);
    assert!(matches!(
        back.dim("over_time").unwrap().coords,
        Coords::Label(_)
    ));
    assert!(matches!(back.dim("algo").unwrap().coords, Coords::Str(_)));
    assert_eq!(back.column("plot").unwrap().data.count_missing(), 5);
    assert_eq!(back.column("obj").unwrap().data.count_missing(), 6);
    assert_eq!(back.column("cost").unwrap().attrs.units, "s");
    assert_eq!(back.dim("x").unwrap().attrs.units, "m");
}

#[test]
fn timestamped_history_round_trips() {
    let mut ds = dataset(Coords::Time(vec![
        1_700_000_000_123_456_789,
        1_700_086_400_000_000_001,
    ]));
    ds.dim_attrs_mut("over_time").unwrap().units = "UTC".into();
    let back = round_trip(&ds);
    assert_same(&ds, &back);
    assert!(matches!(
        back.dim("over_time").unwrap().coords,
        Coords::Time(_)
    ));
}

#[test]
fn bool_and_empty_dims_round_trip() {
    let flag = Dim::new("flag", Coords::Bool(vec![true, false]));
    let none = Dim::new("none", Coords::Float(vec![]));
    let ds = Dataset::from_parts(
        vec![flag, none],
        vec![Column::new_missing("y", "y", ResultKind::Float, &[2, 0])],
        BTreeMap::new(),
    )
    .unwrap();
    assert_same(&ds, &round_trip(&ds));

    let flag = Dim::new("flag", Coords::Bool(vec![false, true, true]));
    let mut y = Column::new_missing("ok", "ok", ResultKind::Bool, &[3]);
    y.f64_mut().unwrap()[[1]] = 1.0;
    let ds = Dataset::from_parts(vec![flag], vec![y], BTreeMap::new()).unwrap();
    assert_same(&ds, &round_trip(&ds));
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.nc");
    let e = read_netcdf(&missing).unwrap_err();
    assert!(matches!(e, Error::Netcdf { .. }));
    assert!(e.to_string().contains("nope.nc"), "{e}");

    let not_nc = dir.path().join("text.nc");
    std::fs::write(&not_nc, "not netCDF").unwrap();
    let e = read_netcdf(&not_nc).unwrap_err();
    assert!(e.to_string().contains("text.nc"), "{e}");

    let bad_dir = dir.path().join("no/such/dir/out.nc");
    let ds = dataset(Coords::Label(vec!["a".into(), "b".into()]));
    let e = write_netcdf(&ds, &bad_dir).unwrap_err();
    assert!(e.to_string().contains("out.nc"), "{e}");
}
