//! Hostile sweeps and workers (issue 15): random declarations (names of
//! any unicode, empty and very long, duplicates, reserved words, NaN, inf
//! and duplicate float values, zero and huge sample counts and repeats,
//! products that overflow) run by random workers (panics, errors, wrong
//! kinds, wrong vec lengths, missing and undeclared outputs, NaN and inf
//! results). Every case ends in one of two ways:
//!
//! - a clear error before any job runs: the worker is never called and
//!   nothing is stored; or
//! - a stored result, read back from the cache, whose recorded failures
//!   are exactly the jobs that misbehaved, and whose cells hold exactly
//!   what the worker returned.
//!
//! What counts as misbehaviour (SPEC §4, "contract violation"): a panic,
//! an error, a declared result not set, a value of another kind (a float
//! result takes an integer only when the float holds it exactly, up to
//! 2^53), a vec of another length, an undeclared output. A float value is
//! never misbehaviour, whatever it is: NaN (any payload, either sign),
//! ±inf and -0.0 are stored bit for bit, even though NaN is also the
//! float sentinel (a missing cell and a NaN result read the same: the
//! failure list says which jobs failed). Likewise the text `"NAN"` is a
//! valid string result. In a job that broke the contract, the values it
//! set correctly are kept (SPEC §4) and the others stay at their
//! sentinels; a job that panicked or failed keeps every sentinel.
//!
//! Whether a declaration must build is decided by an oracle written from
//! SPEC §2 (unique names, `repeat` and `over_time` reserved, vec columns
//! `v_x`, `v_y`, `v_z`, `v_3`, ... clashing like names, finite and
//! distinct float values, `samples` and `repeats` at least 1, a sweep name
//! neither empty nor holding NUL, a grid that fits a stored value): the
//! test checks `build` agrees both ways.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};
use result_collector::model::{
    Error as ModelError, MAX_STEP_VALUES, ResultValue, Value, vec_component_name,
};
use result_collector::{
    ConstVar, Error, InputVar, ResultCollector, ResultVar, RunOptions, Sweep, TimeSrc, cache_key,
};

// ------------------------------------------------------------ declarations

#[derive(Debug, Clone)]
enum In {
    FloatValues(Vec<f64>),
    FloatSamples(f64, f64, usize),
    IntRange(i64, i64, Option<usize>),
    Labels(Vec<String>, Option<usize>),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Float,
    Bool,
    Vec(usize),
    Str,
}

#[derive(Debug, Clone)]
struct Decl {
    name: String,
    inputs: Vec<(String, In)>,
    consts: Vec<(String, Value)>,
    results: Vec<(String, Kind)>,
    repeats: usize,
    over_time: bool,
    tag: String,
    version: String,
    /// Units of every input and result.
    units: String,
}

/// A long name: thousands of characters of any unicode.
fn long_name() -> impl Strategy<Value = String> {
    "\\PC{1,4}".prop_map(|s| s.repeat(3000))
}

fn sweep_name() -> BoxedStrategy<String> {
    prop_oneof![
        8 => "\\PC{1,40}",
        1 => any::<String>(),
        1 => Just(String::new()),
        1 => Just("a\0b".to_string()),
        1 => long_name(),
        2 => Just("bench".to_string()),
    ]
    .boxed()
}

fn var_name() -> BoxedStrategy<String> {
    let fixed = [
        "x",
        "y",
        "t",
        "v",
        "v_x",
        "v_y",
        "v_3",
        "repeat",
        "over_time",
        "",
        "é",
        "名前",
        "🦀",
        "NAN",
        "a b",
        "x\0y",
        "..",
        "/",
    ];
    prop_oneof![
        3 => prop::sample::select(fixed.to_vec()).prop_map(String::from),
        12 => "\\PC{1,12}",
        1 => any::<String>(),
        1 => long_name(),
    ]
    .boxed()
}

fn float() -> BoxedStrategy<f64> {
    prop_oneof![
        3 => prop::sample::select(vec![
            0.0,
            -0.0,
            1.5,
            -2.25,
            1e308,
            f64::MIN_POSITIVE,
            5e-324,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff8_0000_0000_0001),
            f64::from_bits(0xfff0_0000_0000_0002),
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]),
        1 => any::<u64>().prop_map(f64::from_bits),
    ]
    .boxed()
}

/// Sample counts: zero, small, just over the cap, and the largest.
fn count() -> BoxedStrategy<usize> {
    prop::sample::select(vec![0, 1, 2, 3, MAX_STEP_VALUES + 1, usize::MAX]).boxed()
}

fn label() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "", "NAN", "é", "a\0"]).prop_map(String::from),
        1 => any::<String>(),
    ]
    .boxed()
}

fn input() -> BoxedStrategy<In> {
    let bound =
        || prop::sample::select(vec![0.0, 1.0, -1.0, 0.5, 0.0, 1.0, f64::NAN, f64::INFINITY]);
    let int = || prop::sample::select(vec![0i64, 5, -3, i64::MIN, i64::MAX]);
    prop_oneof![
        1 => prop::collection::vec(float(), 0..4).prop_map(In::FloatValues),
        2 => prop::collection::btree_set(-1000i32..1000, 1..4)
            .prop_map(|v| In::FloatValues(v.into_iter().map(|x| f64::from(x) / 8.0).collect())),
        1 => (bound(), bound(), count()).prop_map(|(lo, hi, n)| In::FloatSamples(lo, hi, n)),
        1 => (int(), int(), prop::option::of(count())).prop_map(|(lo, hi, n)| In::IntRange(lo, hi, n)),
        1 => (prop::collection::vec(label(), 0..4), prop::option::of(count()))
            .prop_map(|(l, n)| In::Labels(l, n)),
        1 => any::<bool>().prop_map(In::Bool),
    ]
    .boxed()
}

fn kind() -> BoxedStrategy<Kind> {
    prop_oneof![
        3 => Just(Kind::Float),
        1 => Just(Kind::Bool),
        2 => prop::sample::select(vec![1usize, 2, 3, 4, 1, 2, 3, 4, 0, 1 << 40]).prop_map(Kind::Vec),
        2 => Just(Kind::Str),
    ]
    .boxed()
}

fn constant() -> BoxedStrategy<Value> {
    prop_oneof![
        float().prop_map(Value::Float),
        any::<i64>().prop_map(Value::Int),
        any::<String>().prop_map(Value::Str),
        any::<bool>().prop_map(Value::Bool),
    ]
    .boxed()
}

fn decl() -> impl Strategy<Value = Decl> {
    (
        sweep_name(),
        prop::collection::vec((var_name(), input()), 0..3),
        prop::collection::vec((var_name(), constant()), 0..2),
        prop::collection::vec((var_name(), kind()), 0..4),
        prop_oneof![
            30 => 1usize..=3,
            1 => Just(0usize),
            1 => Just(usize::MAX),
            1 => Just(1usize << 40),
        ],
        any::<bool>(),
        prop_oneof![3 => any::<String>(), 1 => long_name()],
        any::<String>(),
        any::<String>(),
    )
        .prop_map(
            |(name, inputs, consts, results, repeats, over_time, tag, version, units)| Decl {
                name,
                inputs,
                consts,
                results,
                repeats,
                over_time,
                tag,
                version,
                units,
            },
        )
}

fn build(d: &Decl) -> Result<Sweep, ModelError> {
    let mut b = Sweep::builder(d.name.clone())
        .repeats(d.repeats)
        .over_time(d.over_time)
        .tag(d.tag.clone())
        .version(d.version.clone());
    for (name, i) in &d.inputs {
        b = b.input(
            match i {
                In::FloatValues(v) => InputVar::float_values(name.clone(), v.clone()),
                In::FloatSamples(lo, hi, n) => InputVar::float_samples(name.clone(), *lo, *hi, *n),
                In::IntRange(lo, hi, None) => InputVar::int_range(name.clone(), *lo, *hi),
                In::IntRange(lo, hi, Some(n)) => InputVar::int_samples(name.clone(), *lo, *hi, *n),
                In::Labels(l, None) => InputVar::labels(name.clone(), l.clone()),
                In::Labels(l, Some(n)) => InputVar::labels(name.clone(), l.clone()).samples(*n),
                In::Bool(d) => InputVar::boolean(name.clone(), *d),
            }
            .units(d.units.clone()),
        );
    }
    for (name, v) in &d.consts {
        b = b.constant(ConstVar::new(name.clone(), v.clone()));
    }
    for (name, k) in &d.results {
        b = b.result(
            match k {
                Kind::Float => ResultVar::float(name.clone()),
                Kind::Bool => ResultVar::boolean(name.clone()),
                Kind::Vec(n) => ResultVar::vector(name.clone(), *n),
                Kind::Str => ResultVar::string(name.clone()),
            }
            .units(d.units.clone()),
        );
    }
    b.build()
}

/// `floor(linspace(0, len - 1, s))`, deduplicated when `s >= len`.
fn subsample(len: u128, s: Option<usize>) -> Vec<u128> {
    match s {
        None => (0..len).collect(),
        Some(s) if s as u128 >= len => (0..len).collect(),
        Some(1) => vec![0],
        Some(s) => (0..s as u128)
            .map(|i| i * (len - 1) / (s as u128 - 1))
            .collect(),
    }
}

/// How many values an input has, or why it must be refused (SPEC §2).
fn input_len(i: &In) -> Result<u128, &'static str> {
    let max = MAX_STEP_VALUES as u128;
    match i {
        In::FloatValues(v) => {
            if v.is_empty() {
                return Err("no values");
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err("a value is not finite");
            }
            let bits: HashSet<u64> = v.iter().map(|x| (x + 0.0).to_bits()).collect();
            if bits.len() < v.len() {
                return Err("a value twice");
            }
            Ok(v.len() as u128)
        }
        In::FloatSamples(lo, hi, n) => {
            if !(lo.is_finite() && hi.is_finite()) || lo > hi {
                return Err("bad bounds");
            }
            if *n == 0 {
                return Err("zero samples");
            }
            if lo == hi {
                return Ok(1);
            }
            if *n as u128 > max {
                return Err("too many samples");
            }
            Ok(*n as u128)
        }
        In::IntRange(lo, hi, n) => {
            if lo > hi {
                return Err("inverted");
            }
            let len = u128::from(hi.abs_diff(*lo)) + 1;
            if len > max && n.is_none_or(|s| s as u128 > max) {
                return Err("range too large");
            }
            match n {
                Some(0) => Err("zero samples"),
                Some(s) => Ok(len.min(*s as u128)),
                None => Ok(len),
            }
        }
        In::Labels(l, n) => {
            if l.is_empty() {
                return Err("no values");
            }
            if *n == Some(0) {
                return Err("zero samples");
            }
            let picked: Vec<&String> = subsample(l.len() as u128, *n)
                .into_iter()
                .map(|i| &l[i as usize])
                .collect();
            let set: HashSet<&&String> = picked.iter().collect();
            if set.len() < picked.len() {
                return Err("a label twice");
            }
            Ok(picked.len() as u128)
        }
        In::Bool(_) => Ok(2),
    }
}

/// Whether the declaration must build, and why not.
fn oracle(d: &Decl) -> Result<u128, String> {
    if d.name.is_empty() || d.name.contains('\0') {
        return Err("sweep name".into());
    }
    if d.repeats == 0 {
        return Err("repeats".into());
    }
    let names: Vec<&str> = d
        .inputs
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(d.consts.iter().map(|(n, _)| n.as_str()))
        .chain(d.results.iter().map(|(n, _)| n.as_str()))
        .collect();
    let mut seen = HashSet::new();
    for n in &names {
        if n.is_empty() || *n == "repeat" || *n == "over_time" || !seen.insert(*n) {
            return Err(format!("name {n:?}"));
        }
    }
    for (name, k) in &d.results {
        match k {
            Kind::Vec(0) => return Err("vec(0)".into()),
            // Columns listed only for small vecs (a huge one is refused
            // for its size below; its clashes are tested in tests/sweep.rs).
            Kind::Vec(n) if *n <= 4 => {
                for c in 0..*n {
                    if seen.contains(vec_component_name(name, c).as_str()) {
                        return Err(format!("column of {name:?}"));
                    }
                }
            }
            _ => {}
        }
    }
    if d.consts
        .iter()
        .any(|(_, v)| matches!(v, Value::Float(x) if x.is_nan()))
    {
        return Err("NaN constant".into());
    }
    let mut jobs: u128 = d.repeats as u128;
    for (_, i) in &d.inputs {
        jobs = jobs.saturating_mul(input_len(i)?);
    }
    let columns: u128 = d
        .results
        .iter()
        .map(|(_, k)| match k {
            Kind::Vec(n) => *n as u128,
            _ => 1,
        })
        .sum();
    // Generated grids are at most 4^3 x 3 jobs of 12 columns, unless a
    // huge repeat count or vec makes them too large to store.
    if jobs.saturating_mul(columns.max(1)) > 1 << 20 {
        return Err("too large".into());
    }
    Ok(jobs)
}

// ----------------------------------------------------------------- workers

/// What a worker returns for one result.
#[derive(Debug, Clone)]
enum Out {
    /// A value of the result's own kind, made from these: a float (a vec
    /// alternates it and its negation: NaN payloads and signs included),
    /// a text, a bool.
    Good(f64, String, bool),
    Missing,
    Float(f64),
    Int(i64),
    Bool(bool),
    Vec(Vec<f64>),
    Text(String),
}

/// What a worker does in one job.
#[derive(Debug, Clone)]
enum Act {
    Panic,
    Error(String),
    /// One output per result slot (the first `results.len()` are used),
    /// and an undeclared output, if any.
    Outputs(Vec<Out>, Option<String>),
}

fn out() -> BoxedStrategy<Out> {
    prop_oneof![
        40 => (float(), label(), any::<bool>()).prop_map(|(x, t, b)| Out::Good(x, t, b)),
        1 => Just(Out::Missing),
        4 => float().prop_map(Out::Float),
        1 => prop::sample::select(vec![0i64, 3, -7, 1 << 53, (1 << 53) + 1, i64::MAX, i64::MIN])
            .prop_map(Out::Int),
        1 => any::<bool>().prop_map(Out::Bool),
        3 => prop::collection::vec(float(), 0..5).prop_map(Out::Vec),
        3 => prop_oneof![3 => label(), 1 => long_name()].prop_map(Out::Text),
    ]
    .boxed()
}

fn act() -> BoxedStrategy<Act> {
    prop_oneof![
        1 => Just(Act::Panic),
        1 => any::<String>().prop_map(Act::Error),
        10 => (
            prop::collection::vec(out(), 4),
            prop::option::weighted(0.15, prop_oneof![var_name(), Just("undeclared".to_string())]),
        )
            .prop_map(|(o, extra)| Act::Outputs(o, extra)),
    ]
    .boxed()
}

/// The expected f64 columns (`Ok`) of one valid output of a kind, or a
/// contract violation (`Err`).
enum Cells {
    F64(Vec<f64>),
    Text(String),
}

/// What a worker sets for `out` in a result of `kind`.
fn value(kind: Kind, out: &Out) -> Option<ResultValue> {
    Some(match out {
        Out::Good(x, t, b) => match kind {
            Kind::Float => ResultValue::Float(*x),
            Kind::Bool => ResultValue::Bool(*b),
            Kind::Vec(n) => ResultValue::from(alternate(*x, n)),
            Kind::Str => ResultValue::Text(t.clone()),
        },
        Out::Missing => return None,
        Out::Float(x) => ResultValue::Float(*x),
        Out::Int(i) => ResultValue::Int(*i),
        Out::Bool(b) => ResultValue::Bool(*b),
        Out::Vec(v) => ResultValue::from(v.clone()),
        Out::Text(s) => ResultValue::Text(s.clone()),
    })
}

/// `[x, -x, x, ...]`, `n` long.
fn alternate(x: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| if i % 2 == 0 { x } else { -x }).collect()
}

fn expected(kind: Kind, out: &Out) -> Option<Cells> {
    match (kind, out) {
        (Kind::Float, Out::Good(x, ..)) => Some(Cells::F64(vec![*x])),
        (Kind::Bool, Out::Good(_, _, b)) => Some(Cells::F64(vec![if *b { 1.0 } else { 0.0 }])),
        (Kind::Vec(n), Out::Good(x, ..)) => Some(Cells::F64(alternate(*x, n))),
        (Kind::Str, Out::Good(_, t, _)) => Some(Cells::Text(t.clone())),
        (Kind::Float, Out::Float(x)) => Some(Cells::F64(vec![*x])),
        (Kind::Float, Out::Int(i)) => {
            #[allow(clippy::cast_precision_loss, reason = "the rule under test")]
            let f = *i as f64;
            #[allow(clippy::cast_possible_truncation, reason = "the rule under test")]
            let exact = f as i64 == *i && f.abs() <= 9_007_199_254_740_992.0;
            exact.then(|| Cells::F64(vec![f]))
        }
        (Kind::Bool, Out::Bool(b)) => Some(Cells::F64(vec![if *b { 1.0 } else { 0.0 }])),
        (Kind::Vec(n), Out::Vec(v)) if v.len() == n => Some(Cells::F64(v.clone())),
        (Kind::Str, Out::Text(s)) => Some(Cells::Text(s.clone())),
        _ => None,
    }
}

// -------------------------------------------------------------- the check

/// Worker panics are part of the test: their messages are not printed.
fn quiet_worker_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let hostile = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|s| s.starts_with("hostile worker"));
            if !hostile {
                default(info);
            }
        }));
    });
}

fn check(d: &Decl, acts: &[Act], time: &TimeSrc, tiny_memory: bool) -> Result<(), TestCaseError> {
    let want = oracle(d);
    let built = build(d);
    let sweep = match (&want, built) {
        (Err(why), Err(e)) => {
            // (a) refused at build: a message that says something.
            prop_assert!(!e.to_string().is_empty(), "{why}");
            return Ok(());
        }
        (Err(why), Ok(s)) => {
            return Err(TestCaseError::fail(format!(
                "built although {why}: {} jobs",
                s.job_count()
            )));
        }
        (Ok(_), Err(e)) => return Err(TestCaseError::fail(format!("refused: {e}"))),
        (Ok(jobs), Ok(s)) => {
            prop_assert_eq!(s.job_count() as u128, *jobs);
            s
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let collector = ResultCollector::new(Some(dir.path()));
    let calls: Mutex<Vec<u32>> = Mutex::new(vec![0; sweep.job_count()]);
    let called = AtomicUsize::new(0);
    let opts = RunOptions {
        threads: Some(2),
        memory_limit: Some(if tiny_memory { 8 } else { 64 << 20 }),
        ..RunOptions::default()
    };
    let results: Vec<(String, Kind)> = d.results.clone();
    let declared: HashSet<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    let act_of = |job: usize| &acts[job % acts.len()];
    let run = collector.run(&sweep, time, &opts, |s| {
        called.fetch_add(1, Ordering::SeqCst);
        calls.lock().unwrap()[s.job()] += 1;
        match act_of(s.job()) {
            Act::Panic => panic!("hostile worker {}", s.job()),
            Act::Error(m) => Err(format!("job {}: {m}", s.job())),
            Act::Outputs(outs, extra) => {
                let mut o = s.outputs();
                for (slot, ((_, k), out)) in results.iter().zip(outs).enumerate() {
                    if let Some(v) = value(*k, out) {
                        o.set_slot(slot, v);
                    }
                }
                // An extra output of a declared name would just set it.
                if let Some(name) = extra.as_deref().filter(|x| !declared.contains(x)) {
                    o.set(name, 1.0);
                }
                Ok(o)
            }
        }
    });
    if tiny_memory {
        // (a) refused by the memory limit before any job ran.
        let e = run.unwrap_err();
        prop_assert!(
            matches!(
                &e,
                Error::Model(ModelError::OverMemoryLimit { limit: 8, .. })
            ),
            "{e}"
        );
        prop_assert_eq!(called.load(Ordering::SeqCst), 0);
        prop_assert!(collector.cache()?.get_result(&cache_key(&sweep))?.is_none());
        return Ok(());
    }
    let run = run.map_err(|e| TestCaseError::fail(format!("run failed: {e}")))?;
    // Every job ran exactly once.
    prop_assert!(calls.lock().unwrap().iter().all(|&c| c == 1));
    drop(run);
    let stored = collector
        .cache()?
        .get_result(&cache_key(&sweep))?
        .ok_or_else(|| TestCaseError::fail("no stored result"))?;
    let n = sweep.job_count();
    prop_assert_eq!(stored.stats.attempted, n);
    let mut failures = stored.failures.iter().peekable();
    let mut failed = 0;
    let ds = &stored.dataset;
    let sentinel = f64::NAN.to_bits();
    for job in 0..n {
        let failure = failures.next_if(|f| f.job == job);
        let act = act_of(job);
        // The cells this job should hold, per result; `None`: sentinels.
        let mut cells: Vec<Option<Cells>> = Vec::new();
        let kind = match act {
            Act::Panic => {
                cells.resize_with(results.len(), || None);
                Some((
                    result_collector::model::FailureKind::Panic,
                    format!("panicked: hostile worker {job}"),
                ))
            }
            Act::Error(m) => {
                cells.resize_with(results.len(), || None);
                Some((
                    result_collector::model::FailureKind::Error,
                    format!("job {job}: {m}"),
                ))
            }
            Act::Outputs(outs, extra) => {
                let mut broke = extra.as_deref().is_some_and(|x| !declared.contains(x));
                for ((_, k), out) in results.iter().zip(outs) {
                    let c = expected(*k, out);
                    broke |= c.is_none();
                    cells.push(c);
                }
                broke.then(|| {
                    (
                        result_collector::model::FailureKind::Contract,
                        String::new(),
                    )
                })
            }
        };
        match (kind, failure) {
            (None, None) => {}
            (Some((k, message)), Some(f)) => {
                failed += 1;
                prop_assert_eq!(f.kind, k, "job {}", job);
                if message.is_empty() {
                    prop_assert!(!f.message.is_empty());
                } else {
                    prop_assert_eq!(&f.message, &message);
                }
                let sample = result_collector::Sample::new(&sweep, job);
                prop_assert_eq!(&f.inputs, &sample.inputs());
            }
            (want, got) => {
                return Err(TestCaseError::fail(format!(
                    "job {job}: expected failure {want:?}, recorded {got:?} ({act:?})"
                )));
            }
        }
        for ((name, k), c) in results.iter().zip(&cells) {
            match k {
                Kind::Str => {
                    let col = ds.column(name)?.text().unwrap();
                    let got = col.iter().nth(job).unwrap();
                    let want = match c {
                        Some(Cells::Text(s)) => s.as_str(),
                        _ => "NAN",
                    };
                    prop_assert_eq!(got.as_str(), want, "job {} result {:?}", job, name);
                }
                _ => {
                    let width = match k {
                        Kind::Vec(w) => *w,
                        _ => 1,
                    };
                    for i in 0..width {
                        let column = if matches!(k, Kind::Vec(_)) {
                            vec_component_name(name, i)
                        } else {
                            name.clone()
                        };
                        let col = ds.column(&column)?.f64().unwrap();
                        let got = col.iter().nth(job).unwrap().to_bits();
                        let want = match c {
                            Some(Cells::F64(v)) => v[i].to_bits(),
                            _ => sentinel,
                        };
                        prop_assert_eq!(got, want, "job {} column {:?}", job, column);
                    }
                }
            }
        }
    }
    prop_assert!(
        failures.next().is_none(),
        "failures of jobs outside the grid"
    );
    prop_assert_eq!(stored.stats.failed, failed);
    prop_assert_eq!(stored.complete, failed == 0);
    // A history event holds the same cells.
    if sweep.over_time() {
        let history = collector
            .history_of(&sweep)?
            .ok_or_else(|| TestCaseError::fail("no history"))?;
        for c in ds.columns() {
            prop_assert_eq!(&history.column(&c.name)?.data, &c.data, "{}", c.name);
        }
    }
    Ok(())
}

/// Fixed seed unless PROPTEST_RNG_SEED says otherwise; 128 cases (about
/// 20 s in a debug build) unless PROPTEST_CASES does.
fn config() -> ProptestConfig {
    let base = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            base.cases
        } else {
            128
        },
        rng_seed: match base.rng_seed {
            RngSeed::Random => RngSeed::Fixed(0x4057_11e5),
            fixed => fixed,
        },
        max_shrink_iters: 400,
        failure_persistence: None,
        ..base
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hostile_sweeps_and_workers_end_in_an_error_or_an_exact_result(
        d in decl(),
        acts in prop::collection::vec(act(), 1..5),
        tiny_memory in prop::bool::weighted(0.1),
        time in prop_oneof![
            3 => prop_oneof![3 => any::<String>(), 1 => long_name()].prop_map(TimeSrc::Label),
            // Timestamps, including ones outside the nanosecond range.
            1 => prop::sample::select(vec![
                "1970-01-01T00:00:00Z",
                "2026-11-28T12:00:00+01:00",
                "1677-09-21T00:12:44Z",
                "2262-04-11T23:47:16Z",
                "0001-01-01T00:00:00Z",
                "9999-12-31T23:59:59Z",
            ])
            .prop_map(|t| TimeSrc::parse_rfc3339(t).unwrap()),
        ],
    ) {
        quiet_worker_panics();
        check(&d, &acts, &time, tiny_memory)?;
    }
}

/// The generators reach both outcomes, and every kind of misbehaviour,
/// often enough to mean something: counted over the same cases.
#[test]
fn the_generators_reach_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::new(config());
    let (mut built, mut refused) = (0, 0);
    for _ in 0..400 {
        let d = decl().new_tree(&mut runner).unwrap().current();
        match oracle(&d) {
            Ok(_) => built += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(
        built >= 40 && refused >= 40,
        "built {built}, refused {refused}"
    );
}

// ------------------------------------------------------- the memory limit

/// A sweep the cache could store (a billion text cells: at least 1 GB
/// stored) but no machine here can hold in memory (60 bytes a text cell
/// and its encoded copy: 60 GB): refused by `ResultCollector::run` under
/// the default limit, a half of physical memory, before anything is
/// opened or allocated, with the bytes and the limit.
#[test]
fn a_run_too_large_for_memory_is_refused_under_the_default_limit() {
    let sweep = Sweep::builder("billion")
        .input(InputVar::int_range("a", 1, 1000))
        .input(InputVar::int_range("b", 1, 1000))
        .input(InputVar::int_range("c", 1, 1000))
        .result(ResultVar::string("s"))
        .build()
        .unwrap();
    let limit = result_collector::default_memory_limit();
    match result_collector::physical_memory() {
        Some(m) => assert_eq!(limit, m / 2),
        None => assert_eq!(limit, result_collector::FALLBACK_MEMORY_LIMIT),
    }
    assert!(
        sweep.memory_bytes() > limit,
        "this machine's default limit ({limit} bytes) would let the test allocate {} bytes",
        sweep.memory_bytes()
    );
    let dir = tempfile::tempdir().unwrap();
    let collector = ResultCollector::new(Some(dir.path()));
    assert_eq!(collector.memory_limit_bytes(), limit);
    let called = AtomicUsize::new(0);
    let e = collector
        .run(
            &sweep,
            &TimeSrc::Label("v1".into()),
            &RunOptions::default(),
            |s| {
                called.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(s.outputs().with("s", "x"))
            },
        )
        .unwrap_err();
    let Error::Model(ModelError::OverMemoryLimit {
        bytes, limit: l, ..
    }) = &e
    else {
        panic!("{e}")
    };
    assert_eq!((*bytes, *l), (sweep.memory_bytes(), limit));
    // 10^9 cells of 24 + 32 + 4 bytes.
    assert!(*bytes >= 60_000_000_000, "{bytes}");
    let m = e.to_string();
    assert!(
        m.contains("`billion`")
            && m.contains(&format!("{bytes} bytes"))
            && m.contains(&format!("{limit} bytes"))
            && m.contains("memory limit"),
        "{m}"
    );
    assert_eq!(called.load(Ordering::SeqCst), 0);
    assert!(!collector.cache_dir().has_cache(), "nothing is created");
}

fn thousand(name: &str) -> Sweep {
    Sweep::builder(name)
        .input(InputVar::int_range("n", 1, 1000))
        .result(ResultVar::float("t"))
        .over_time(true)
        .build()
        .unwrap()
}

fn square(s: &result_collector::Sample<'_>) -> Result<result_collector::Outputs, String> {
    let n = s.get::<i64>("n").map_err(|e| e.to_string())?;
    #[allow(clippy::cast_precision_loss, reason = "small")]
    Ok(s.outputs().with("t", (n * n) as f64))
}

/// The limit is settable on the collector and for one run (the run's
/// wins), and a run under it goes through.
#[test]
fn the_memory_limit_is_settable_on_the_collector_and_per_run() {
    let sweep = thousand("settable");
    let need = sweep.memory_bytes();
    let dir = tempfile::tempdir().unwrap();
    let time = TimeSrc::Label("v1".into());
    let tight = ResultCollector::new(Some(dir.path())).memory_limit(need - 1);
    assert_eq!(tight.memory_limit_bytes(), need - 1);
    let e = tight
        .run(
            &sweep,
            &time,
            &RunOptions::default(),
            |_| -> Result<_, String> { panic!("not called") },
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::Model(ModelError::OverMemoryLimit { bytes, limit, .. })
            if *bytes == need && *limit == need - 1),
        "{e}"
    );
    // A run's own limit overrides the collector's, both ways.
    let roomy = RunOptions {
        memory_limit: Some(need),
        ..RunOptions::default()
    };
    let run = tight.run(&sweep, &time, &roomy, square).unwrap();
    assert_eq!(run.result.stats.attempted, 1000);
    let other = tempfile::tempdir().unwrap();
    let loose = ResultCollector::new(Some(other.path()));
    let strict = RunOptions {
        memory_limit: Some(need - 1),
        ..RunOptions::default()
    };
    assert!(loose.run(&sweep, &time, &strict, square).is_err());
}

/// A history too large to load is refused before it is read: by
/// `history_of`, and by a run that would return it (before any job
/// runs); a run that does not return it goes on.
#[test]
fn a_history_too_large_for_memory_is_refused_before_loading() {
    let sweep = thousand("grows");
    let dir = tempfile::tempdir().unwrap();
    let quiet = RunOptions {
        history: result_collector::HistoryOptions {
            return_history: false,
            ..Default::default()
        },
        ..RunOptions::default()
    };
    {
        let c = ResultCollector::new(Some(dir.path()));
        for i in 0..10 {
            c.run(&sweep, &TimeSrc::Label(format!("v{i}")), &quiet, square)
                .unwrap();
        }
    }
    // One run needs about 32 KB; its 10 events 80 KB of cells.
    let limit = 50_000;
    assert!(sweep.memory_bytes() < limit);
    let c = ResultCollector::new(Some(dir.path())).memory_limit(limit);
    let e = c.history_of(&sweep).unwrap_err();
    let Error::Model(ModelError::OverMemoryLimit { bytes, what, .. }) = &e else {
        panic!("{e}")
    };
    assert_eq!(*bytes, 10 * 1000 * 8);
    assert!(
        what.contains("history") && what.contains("10 events"),
        "{what}"
    );
    let called = AtomicUsize::new(0);
    let e = c
        .run(
            &sweep,
            &TimeSrc::Label("v10".into()),
            &RunOptions::default(),
            |s| {
                called.fetch_add(1, Ordering::SeqCst);
                square(s)
            },
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::Model(ModelError::OverMemoryLimit { bytes, .. }) if *bytes == 11 * 8000),
        "{e}"
    );
    assert_eq!(called.load(Ordering::SeqCst), 0);
    // Trimmed to 5 events, it fits.
    let trimmed = RunOptions {
        history: result_collector::HistoryOptions {
            max_time_events: Some(5),
            ..Default::default()
        },
        ..RunOptions::default()
    };
    let run = c
        .run(&sweep, &TimeSrc::Label("v10".into()), &trimmed, square)
        .unwrap();
    let h = run.history.unwrap().dataset.unwrap();
    assert_eq!(h.shape(), [1000, 1, 5]);
    assert!(c.history_of(&sweep).unwrap().is_some());
}
