//! The JSON and netCDF exports are lossless: a dataset that a sweep
//! declaration builds, filled with any values, reads back as it was
//! written.
//!
//! - every f64, bit for bit (signed infinities, -0.0, subnormals, the
//!   extremes), in input coordinates, result cells of every kind and
//!   attributes; NaN reads back as NaN (JSON gives the canonical NaN,
//!   netCDF keeps its bits);
//! - every name and label the builder accepts: sweep, input and result
//!   names, enum values, over_time labels, units, descriptions, titles,
//!   with empty and very long strings, quotes, control characters (NUL
//!   too), '/', leading digits, trailing spaces, non-NFC unicode and
//!   netCDF's reserved names;
//! - text cells (the sentinel `"NAN"` and the empty string apart), and
//!   reference cells of any value;
//! - the failures (JSON).
//!
//! A property test draws declarations and values; a fixed test puts every
//! hand-picked hostile name and value in one dataset, so that each is
//! covered on every run whatever the draws.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeSet;

use collector_core::{
    AttrValue, ColumnData, Coords, Dataset, FailureKind, InputVar, ResultKind, ResultVar,
    SampleFailure, Sweep, TEXT_SENTINEL, TimeSrc, setup_dataset,
};
use collector_report::{from_json, read_json, to_json, write_json};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

/// Hand-picked hostile strings: netCDF's reserved and attribute names,
/// names our own writers use, sentinels, non-NFC forms, separators.
const HOSTILE: &[&str] = &[
    "",
    "NAN",
    "nan",
    "null",
    "Infinity",
    "-Infinity",
    "_FillValue",
    "_NCProperties",
    "_Netcdf4Dimid",
    "_Netcdf4Coordinates",
    "_IsNetcdf4",
    "_SuperblockVersion",
    "_Format",
    "_nc3_strict",
    "CLASS",
    "NAME",
    "DIMENSION_LIST",
    "REFERENCE_LIST",
    "_ARRAY_DIMENSIONS",
    "units",
    "calendar",
    "coordinates",
    "coord_kind",
    "result_kind",
    "result_var",
    "collector_units",
    "collector_name",
    "collector_escaped",
    "dtype",
    "x/y",
    "/",
    "/x",
    ".",
    "..",
    "1x",
    "0",
    " x",
    "x ",
    "x\t",
    "x\n",
    "-x",
    "+",
    "\"quoted\"",
    "back\\slash",
    "it's",
    "a\0b",
    "\0",
    "%00",
    "%",
    "%25",
    "\u{7f}",
    "\u{1b}[31m",
    "e\u{301}",
    "\u{e9}",
    "\u{212b}",
    "\u{c5}",
    "\u{1100}\u{1161}",
    "\u{ac00}",
    "\u{85}",
    "\u{a0}x\u{a0}",
    "\u{2028}",
    "\u{feff}x",
    "\u{fffd}",
    "\u{1f600}",
    "x_x",
    "x_y",
    "_",
    "__",
];

fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        2 => prop::char::range('\0', '\u{1f}'),
        1 => prop::sample::select(vec![
            '/', '"', '\\', ' ', '%', '_', '.', '\'', '\u{7f}', '\u{301}', '\u{e9}', 'e', '0',
            '9', '\u{85}', '\u{a0}', '\u{2028}', '\u{feff}', '\u{212b}', '\u{1100}', '\u{1161}',
        ]),
        3 => prop::char::range('a', 'z'),
    ]
}

/// Any string: short mixes of hostile characters, a hand-picked one, or
/// a long one (past netCDF's 256-byte name limit).
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => vec(hostile_char(), 0..10).prop_map(|v| v.into_iter().collect()),
        2 => prop::sample::select(HOSTILE).prop_map(str::to_string),
        1 => (vec(hostile_char(), 1..4), 200usize..400)
            .prop_map(|(c, n)| c.iter().cycle().take(n).collect()),
    ]
}

fn name() -> impl Strategy<Value = String> {
    any_text().prop_filter("the builder refuses empty names", |s| !s.is_empty())
}

/// Any f64, with the special values drawn often.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => prop::sample::select(vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001),
            f64::from_bits(0xfff8_dead_beef_0001),
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            0.1,
            1.0 / 3.0,
            1e300,
            -1e-300,
            9_007_199_254_740_993.0,
        ]),
        2 => any::<f64>(),
        1 => any::<u64>().prop_map(f64::from_bits),
    ]
}

fn finite_f64() -> impl Strategy<Value = f64> {
    any_f64().prop_filter("inputs are finite", |x| x.is_finite())
}

#[derive(Debug, Clone)]
enum InputDecl {
    Float(Vec<f64>),
    Int(Vec<i64>),
    Labels(Vec<String>),
    Bool(bool),
}

fn input_decl() -> impl Strategy<Value = InputDecl> {
    prop_oneof![
        vec(finite_f64(), 1..4).prop_map(|mut v| {
            // The builder refuses duplicates, with -0.0 == 0.0.
            let mut seen = BTreeSet::new();
            v.retain(|x| seen.insert((x + 0.0).to_bits()));
            InputDecl::Float(v)
        }),
        btree_set(any::<i64>(), 1..4).prop_map(|s| InputDecl::Int(s.into_iter().collect())),
        btree_set(any_text(), 1..4).prop_map(|s| InputDecl::Labels(s.into_iter().collect())),
        any::<bool>().prop_map(InputDecl::Bool),
    ]
}

fn result_kind() -> impl Strategy<Value = ResultKind> {
    prop_oneof![
        Just(ResultKind::Float),
        Just(ResultKind::Bool),
        (1usize..5).prop_map(ResultKind::Vec),
        Just(ResultKind::String),
        Just(ResultKind::Path),
        Just(ResultKind::Image),
        Just(ResultKind::Video),
        Just(ResultKind::Recording),
        Just(ResultKind::Blob),
        Just(ResultKind::Reference),
    ]
}

#[derive(Debug, Clone)]
enum Events {
    None,
    Labels(Vec<String>),
    Times(Vec<i64>),
}

#[derive(Debug, Clone)]
struct Decl {
    sweep: String,
    title: String,
    tag: String,
    version: String,
    inputs: Vec<(String, String, String, InputDecl)>,
    results: Vec<(String, String, String, ResultKind)>,
    repeats: usize,
    events: Events,
    floats: Vec<f64>,
    texts: Vec<String>,
    refs: Vec<i64>,
    failures: Vec<(usize, u8, String)>,
    attrs: Vec<(String, AttrValue)>,
}

fn attr_value() -> impl Strategy<Value = AttrValue> {
    prop_oneof![
        any_text().prop_map(AttrValue::Str),
        any::<i64>().prop_map(AttrValue::Int),
        any_f64().prop_map(AttrValue::Float),
    ]
}

fn decl() -> impl Strategy<Value = Decl> {
    let head = (name(), any_text(), any_text(), any_text());
    let inputs = vec((name(), any_text(), any_text(), input_decl()), 0..3);
    let results = vec((name(), any_text(), any_text(), result_kind()), 1..4);
    let events = prop_oneof![
        Just(Events::None),
        btree_set(any_text(), 1..3).prop_map(|s| Events::Labels(s.into_iter().collect())),
        btree_set(any::<i64>(), 1..3).prop_map(|s| Events::Times(s.into_iter().collect())),
    ];
    let pools = (
        vec(any_f64(), 1..24),
        vec(
            prop_oneof![3 => any_text(), 1 => Just(TEXT_SENTINEL.to_string())],
            1..8,
        ),
        vec(
            prop_oneof![3 => 0i64..1000, 1 => Just(-1i64), 1 => any::<i64>()],
            1..6,
        ),
    );
    let extra = (
        vec((any::<usize>(), 0u8..3, any_text()), 0..3),
        vec((any_text(), attr_value()), 0..3),
    );
    (head, inputs, results, 1usize..3, events, pools, extra).prop_map(
        |(
            (sweep, title, tag, version),
            inputs,
            results,
            repeats,
            events,
            (floats, texts, refs),
            (failures, attrs),
        )| Decl {
            sweep,
            title,
            tag,
            version,
            inputs,
            results,
            repeats,
            events,
            floats,
            texts,
            refs,
            failures,
            attrs,
        },
    )
}

fn input_var(name: &str, d: &InputDecl) -> InputVar {
    match d {
        InputDecl::Float(v) => InputVar::float_values(name, v.clone()),
        InputDecl::Int(v) => InputVar::int_values(name, v.clone()),
        InputDecl::Labels(v) => InputVar::labels(name, v.clone()),
        InputDecl::Bool(b) => InputVar::boolean(name, *b),
    }
}

/// The sweep of `d`, or `None` when the builder refuses it (a name used
/// twice, a reserved name): then there is nothing to export.
fn sweep_of(d: &Decl) -> Option<Sweep> {
    let mut b = Sweep::builder(&d.sweep)
        .title(&d.title)
        .tag(&d.tag)
        .version(&d.version)
        .repeats(d.repeats)
        .over_time(!matches!(d.events, Events::None));
    for (n, units, description, i) in &d.inputs {
        b = b.input(input_var(n, i).units(units).description(description));
    }
    for (n, units, description, k) in &d.results {
        b = b.result(ResultVar::new(n, *k).units(units).description(description));
    }
    b.build().ok()
}

/// Fills every cell of `ds` from the pools, starting at `offset`.
fn fill(ds: &mut Dataset, d: &Decl, offset: usize) {
    for (ci, c) in ds.columns_mut().iter_mut().enumerate() {
        let start = offset + 7 * ci;
        match &mut c.data {
            ColumnData::F64(a) => {
                let bool_kind = c.kind == ResultKind::Bool;
                for (i, x) in a.iter_mut().enumerate() {
                    let v = d.floats[(start + i) % d.floats.len()];
                    // Bool cells are 0, 1 or missing; still any bits of NaN.
                    *x = if bool_kind && !v.is_nan() {
                        f64::from(u8::from(v > 0.0))
                    } else {
                        v
                    };
                }
            }
            ColumnData::I64(a) => {
                for (i, x) in a.iter_mut().enumerate() {
                    *x = d.refs[(start + i) % d.refs.len()];
                }
            }
            ColumnData::Text(a) => {
                for (i, x) in a.iter_mut().enumerate() {
                    x.clone_from(&d.texts[(start + i) % d.texts.len()]);
                }
            }
        }
    }
}

/// The dataset of `d`: one run per over_time event, concatenated.
fn dataset_of(sweep: &Sweep, d: &Decl) -> Dataset {
    let sources: Vec<TimeSrc> = match &d.events {
        Events::None => vec![TimeSrc::Label("unused".into())],
        Events::Labels(l) => l.iter().map(|l| TimeSrc::Label(l.clone())).collect(),
        Events::Times(t) => t
            .iter()
            .map(|ns| TimeSrc::Timestamp(chrono::DateTime::from_timestamp_nanos(*ns)))
            .collect(),
    };
    let parts: Vec<Dataset> = sources
        .iter()
        .enumerate()
        .map(|(k, src)| {
            let mut ds = setup_dataset(sweep, src).unwrap().result.dataset;
            fill(&mut ds, d, 3 * k);
            ds
        })
        .collect();
    let mut ds = if parts.len() == 1 {
        parts.into_iter().next().unwrap()
    } else {
        Dataset::concat_over_time(&parts).unwrap()
    };
    for (k, v) in &d.attrs {
        ds.attrs.insert(k.clone(), v.clone());
    }
    ds
}

fn failures_of(sweep: &Sweep, d: &Decl) -> Vec<SampleFailure> {
    let jobs: Vec<_> = setup_dataset(sweep, &TimeSrc::Label("f".into()))
        .unwrap()
        .jobs
        .collect();
    d.failures
        .iter()
        .map(|(j, kind, message)| {
            let job = &jobs[j % jobs.len()];
            let mut names: Vec<String> = sweep
                .inputs()
                .iter()
                .map(|i| i.var.name().to_string())
                .collect();
            names.push("repeat".into());
            SampleFailure {
                job: job.linear,
                inputs: names.into_iter().zip(job.values.iter().cloned()).collect(),
                kind: match kind {
                    0 => FailureKind::Error,
                    1 => FailureKind::Panic,
                    _ => FailureKind::Contract,
                },
                message: message.clone(),
            }
        })
        .collect()
}

/// Every NaN of `ds` (cells, coordinates, attributes) as the canonical NaN.
fn canonical_nans(ds: &Dataset) -> Dataset {
    let canon = |x: f64| if x.is_nan() { f64::NAN } else { x };
    let (mut dims, mut columns, mut attrs) = ds.clone().into_parts();
    for d in &mut dims {
        if let Coords::Float(v) = &mut d.coords {
            v.iter_mut().for_each(|x| *x = canon(*x));
        }
    }
    for c in &mut columns {
        if let ColumnData::F64(a) = &mut c.data {
            a.mapv_inplace(canon);
        }
    }
    for v in attrs.values_mut() {
        if let AttrValue::Float(x) = v {
            *x = canon(*x);
        }
    }
    Dataset::from_parts(dims, columns, attrs).unwrap()
}

/// The first difference between `a` and `b`, floats compared bit for bit.
fn difference(a: &Dataset, b: &Dataset) -> Option<String> {
    if a.dim_names() != b.dim_names() {
        return Some(format!(
            "dim names {:?} vs {:?}",
            a.dim_names(),
            b.dim_names()
        ));
    }
    for (x, y) in a.dims().iter().zip(b.dims()) {
        if !x.coords.same_as(&y.coords) {
            return Some(format!(
                "coords of {:?}: {:?} vs {:?}",
                x.name, x.coords, y.coords
            ));
        }
        if x.attrs != y.attrs {
            return Some(format!(
                "attrs of dim {:?}: {:?} vs {:?}",
                x.name, x.attrs, y.attrs
            ));
        }
    }
    let names =
        |d: &Dataset| -> Vec<String> { d.columns().iter().map(|c| c.name.clone()).collect() };
    if names(a) != names(b) {
        return Some(format!("columns {:?} vs {:?}", names(a), names(b)));
    }
    for (x, y) in a.columns().iter().zip(b.columns()) {
        if (&x.var, x.kind, &x.attrs) != (&y.var, y.kind, &y.attrs) {
            return Some(format!(
                "column {:?}: var, kind, attrs {:?} vs {:?}",
                x.name,
                (&x.var, x.kind, &x.attrs),
                (&y.var, y.kind, &y.attrs)
            ));
        }
        if x.data != y.data {
            let cells = |c: &ColumnData| -> Vec<String> {
                match c {
                    ColumnData::F64(a) => a
                        .iter()
                        .map(|v| format!("{v:?} ({:#018x})", v.to_bits()))
                        .collect(),
                    ColumnData::I64(a) => a.iter().map(|v| format!("{v}")).collect(),
                    ColumnData::Text(a) => a.iter().map(|v| format!("{v:?}")).collect(),
                }
            };
            let (p, q) = (cells(&x.data), cells(&y.data));
            let i = p.iter().zip(&q).position(|(u, v)| u != v).unwrap_or(0);
            return Some(format!(
                "column {:?}: cell {i} {:?} vs {:?}",
                x.name,
                p.get(i),
                q.get(i)
            ));
        }
    }
    let same_attr = |p: &AttrValue, q: &AttrValue| match (p, q) {
        (AttrValue::Float(p), AttrValue::Float(q)) => p.to_bits() == q.to_bits(),
        _ => p == q,
    };
    if a.attrs.len() != b.attrs.len()
        || a.attrs
            .iter()
            .any(|(k, v)| b.attrs.get(k).is_none_or(|w| !same_attr(v, w)))
    {
        return Some(format!("attributes {:?} vs {:?}", a.attrs, b.attrs));
    }
    None
}

fn check_json(ds: &Dataset, failures: &[SampleFailure]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ds.json");
    write_json(ds, failures, &path).map_err(|e| format!("write_json: {e}"))?;
    let back = read_json(&path).map_err(|e| format!("read_json: {e}"))?;
    let want = canonical_nans(ds);
    if let Some(d) = difference(&want, &back.dataset) {
        return Err(format!("JSON file: {d}"));
    }
    if back.failures != failures {
        return Err(format!(
            "JSON failures: {failures:?} vs {:?}",
            back.failures
        ));
    }
    // In memory, too; and writing what was read gives the same document.
    let doc = to_json(ds, failures);
    let again = from_json(&doc).map_err(|e| format!("from_json: {e}"))?;
    if let Some(d) = difference(&want, &again.dataset) {
        return Err(format!("JSON document: {d}"));
    }
    if to_json(&again.dataset, &again.failures) != doc {
        return Err("JSON: a second export differs from the first".into());
    }
    Ok(())
}

#[cfg(feature = "netcdf")]
fn check_netcdf(ds: &Dataset) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ds.nc");
    collector_report::write_netcdf(ds, &path).map_err(|e| format!("write_netcdf: {e}"))?;
    let back = collector_report::read_netcdf(&path).map_err(|e| format!("read_netcdf: {e}"))?;
    // netCDF keeps the bits of every NaN.
    match difference(ds, &back) {
        Some(d) => Err(format!("netCDF: {d}")),
        None => Ok(()),
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        max_shrink_iters: 2000,
        source_file: Some(file!()),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_round_trips_every_value_and_name(d in decl()) {
        let sweep = sweep_of(&d);
        prop_assume!(sweep.is_some(), "the builder refused the declaration");
        let sweep = sweep.unwrap();
        let ds = dataset_of(&sweep, &d);
        let failures = failures_of(&sweep, &d);
        if let Err(e) = check_json(&ds, &failures) {
            prop_assert!(false, "{}", e);
        }
    }
}

const SPECIALS: [f64; 12] = [
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    f64::from_bits(0xfff8_dead_beef_0001),
    5e-324,
    -5e-324,
    f64::MIN_POSITIVE,
    f64::MAX,
    f64::MIN,
    0.1,
];

/// The pools and extras of the hostile datasets: every special float,
/// every hostile text, hostile attributes and failures.
fn hostile_decl(events: usize) -> Decl {
    Decl {
        sweep: String::new(),
        title: String::new(),
        tag: String::new(),
        version: String::new(),
        inputs: Vec::new(),
        results: Vec::new(),
        repeats: 1,
        events: Events::Labels(HOSTILE.iter().map(|s| s.to_string()).take(events).collect()),
        floats: SPECIALS.to_vec(),
        texts: HOSTILE.iter().map(|s| s.to_string()).collect(),
        refs: vec![-1, 0, 7, i64::MAX, i64::MIN, -2],
        failures: vec![(3, 0, "a\0b \"c\"".into()), (5, 1, String::new())],
        attrs: HOSTILE
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let v = match i % 3 {
                    0 => AttrValue::Float(SPECIALS[i % SPECIALS.len()]),
                    #[allow(clippy::cast_possible_wrap, reason = "a small index")]
                    1 => AttrValue::Int(i64::MIN + i as i64),
                    _ => AttrValue::Str(HOSTILE[(i + 5) % HOSTILE.len()].to_string()),
                };
                (format!("{k}{}", "\0".repeat(i % 2)), v)
            })
            .collect(),
    }
}

fn hostile_names() -> impl Iterator<Item = &'static str> {
    HOSTILE.iter().copied().filter(|s| !s.is_empty())
}

/// The hostile datasets, each with its failures:
///
/// - every hostile name as a dim (16 inputs of one value each at a time:
///   HDF5 arrays have at most 32 dims), with hostile units;
/// - every hostile name as a result variable, of every kind, with hostile
///   units and descriptions, and one name of 600 characters;
/// - every special float in input coordinates and cells, every hostile
///   text as an enum value, an over_time label and a text cell.
fn hostile_datasets() -> Vec<(Dataset, Vec<SampleFailure>)> {
    let names: Vec<&str> = hostile_names().collect();
    let mut sweeps = Vec::new();
    for (c, chunk) in names.chunks(16).enumerate() {
        let mut b = Sweep::builder(format!("dims {c}")).result(ResultVar::float("r\0").units("%"));
        for (i, n) in chunk.iter().enumerate() {
            let var = match i % 3 {
                0 => InputVar::float_values(*n, [SPECIALS[(i + 1) % 2]]),
                1 => InputVar::int_values(*n, [i64::MIN]),
                _ => InputVar::labels(*n, [names[i]]),
            };
            b = b.input(var.units(names[(i + 1) % names.len()]).description(*n));
        }
        sweeps.push(b.build().unwrap());
    }

    let mut b = Sweep::builder("sweep\u{1}/ é")
        .title("a\0title")
        .tag("%00")
        .version("")
        .over_time(true)
        .input(InputVar::labels("in\0e\u{301}", ["", "\0"]));
    let kinds = [
        ResultKind::Float,
        ResultKind::Vec(2),
        ResultKind::String,
        ResultKind::Reference,
        ResultKind::Image,
        ResultKind::Bool,
        ResultKind::Path,
        ResultKind::Video,
        ResultKind::Recording,
        ResultKind::Blob,
    ];
    for (i, n) in names.iter().enumerate() {
        b = b.result(
            ResultVar::new(*n, kinds[i % kinds.len()])
                .units(names[(i + 1) % names.len()])
                .description(names[(i + 2) % names.len()]),
        );
    }
    let long = "\u{e9}/\0".repeat(200);
    b = b.result(ResultVar::float(long.as_str()).units(long.as_str()));
    sweeps.push(b.build().unwrap());

    let mut b = Sweep::builder("values")
        .over_time(true)
        .input(
            InputVar::float_values(
                "in/x",
                [-0.0, 5e-324, f64::MAX, f64::MIN, -f64::MIN_POSITIVE],
            )
            .units("m\0s")
            .description("\"d\""),
        )
        .input(InputVar::labels("e\u{301}", HOSTILE.iter().copied()).units("\u{e9}"))
        .input(InputVar::int_values("2in", [i64::MIN, i64::MAX]));
    // One result of each storage (and bool): the names dataset has every kind.
    for (i, k) in kinds[..6].iter().enumerate() {
        b = b.result(ResultVar::new(format!("r{i}"), *k).units("\0"));
    }
    sweeps.push(b.build().unwrap());

    sweeps
        .iter()
        .map(|sweep| {
            let d = hostile_decl(if sweep.over_time() { 2 } else { 0 });
            let d = if sweep.over_time() {
                d
            } else {
                Decl {
                    events: Events::None,
                    ..d
                }
            };
            (dataset_of(sweep, &d), failures_of(sweep, &d))
        })
        .collect()
}

#[test]
fn json_carries_every_hostile_value_and_name() {
    for (ds, failures) in hostile_datasets() {
        check_json(&ds, &failures).unwrap();
    }
}

/// The hostile datasets, then the property test, in one test: libnetcdf
/// turns HDF5's error printing off only in the first thread that calls
/// it, so a second test thread would print error stacks (harmless ones,
/// of attributes that libnetcdf looks for and does not find).
#[cfg(feature = "netcdf")]
#[test]
fn netcdf_round_trips_every_value_and_name() {
    for (ds, _) in hostile_datasets() {
        check_netcdf(&ds).unwrap();
    }
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let result = runner.run(&decl(), |d| {
        let sweep = sweep_of(&d);
        prop_assume!(sweep.is_some(), "the builder refused the declaration");
        let ds = dataset_of(&sweep.unwrap(), &d);
        if let Err(e) = check_netcdf(&ds) {
            prop_assert!(false, "{}", e);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\n{runner}");
    }
}

/// Files of version 1 (infinities and negative references as `null`)
/// still read; a version this reader does not know is refused by number.
#[test]
fn json_reads_version_1_and_refuses_unknown_versions() {
    let (ds, failures) = hostile_datasets().pop().unwrap();
    let mut doc = to_json(&ds, &failures);
    assert_eq!(doc["schema_version"], collector_report::SCHEMA_VERSION);
    assert_eq!(collector_report::SCHEMA_VERSION, 2);
    let data = doc["columns"][0]["data"].as_array().unwrap();
    assert!(data.contains(&serde_json::json!("Infinity")), "{data:?}");
    assert!(data.contains(&serde_json::json!("-Infinity")), "{data:?}");
    doc["schema_version"] = 1.into();
    let back = from_json(&doc).unwrap();
    assert!(difference(&canonical_nans(&ds), &back.dataset).is_none());
    doc["schema_version"] = 3.into();
    let e = from_json(&doc).unwrap_err().to_string();
    assert!(
        e.contains("schema_version 3") && e.contains("1 to 2"),
        "{e}"
    );
}
