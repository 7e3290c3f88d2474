//! Crash consistency: a child process appends events in a loop and is
//! killed with SIGKILL at random moments; every event whose append returned
//! must survive, and no event may be partial.
//!
//! The loop does more than add events. Its appends are fixed by the run
//! number and the index in the run ([`plan`]), so the parent knows each one:
//! some re-append a label already appended (a replacement, of this run's
//! events or of an earlier run's), the column `s` changes identity under
//! the same name (its kind flips between float and string, often alone;
//! its units flip between `s` and `ms`; its meaning version cycles through
//! `AppendOptions::meanings`), so columns are retired inside the killed
//! loop, `s` is sometimes left out (dormant) and a second column `z` comes
//! and goes. After each kill the parent replays the committed appends in a
//! model and checks the reopened history against it exactly, from
//! `load_history` and `history_info`: loading does not fail and removes
//! nothing; one event per label, in the order labels were first appended,
//! each with the value of its last committed append; every column with
//! its identity (kind, units, meaning version), birth and state (live,
//! dormant, or retired at the right event and under its `__retired<k>`
//! name), and loaded with that kind and units; each value of `s` (a float
//! or a string cell) under the column of the identity it was appended
//! with and under no other, which holds its kind's sentinel (NaN or
//! `"NAN"`) there; and every cell of every event from one append (no
//! partial event, no mix).
//! The committed appends are the acknowledged ones, plus possibly the
//! single append that was in flight when the child was killed (the
//! parent tells by its sequence number: an append's is its rank among the
//! committed appends); nothing else.
//!
//! The child acknowledges each returned append in a file of its own (one
//! `write` of a whole `ACK <i> <label> <value> <s identity> <z>` line,
//! unbuffered), never on stdout: libtest writes its own `test crash_child
//! ... ` prefix to stdout without a newline, which once swallowed the first
//! acknowledgement of every run. The child's stdout and stderr go to a log
//! file; a child that exits by itself (an append failed, or one of its own
//! checks) fails the test with that log.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};

use collector_cache::{AppendOptions, CacheDb, CacheOptions, ColumnInfo, ColumnState, HistoryInfo};
use collector_core::{
    Dataset, InputVar, ResultKind, ResultVar, RunOptions, Sweep, TimeSrc, run_sweep, setup_dataset,
};
use ndarray::{ArrayView2, ArrayViewD, Axis, Ix3};
use util::*;

const CHILD_DIR_ENV: &str = "COLLECTOR_CACHE_CRASH_CHILD_DIR";
const CHILD_RUN_ENV: &str = "COLLECTOR_CACHE_CRASH_CHILD_RUN";
const CHILD_ACK_ENV: &str = "COLLECTOR_CACHE_CRASH_CHILD_ACKS";
const HISTORY: &str = "crash-history";
const GRID: usize = 16;
/// One in this many appends (after a run's first) is a replacement.
const REPLACE_EVERY: u64 = 5;
/// The units of `s` flip every this many appends of a run, and between
/// runs of another parity.
const UNITS_PHASE: u64 = 11;
/// The meaning version of `s` moves on every this many appends of a run,
/// and every three runs.
const MEANING_PHASE: u64 = 27;
/// `s` is a string for this many appends out of every three times as many
/// (from a run's start when the run number is 2 modulo 3), else a float.
/// Prime to [`UNITS_PHASE`] and [`MEANING_PHASE`]: most flips of its kind
/// change nothing else.
const KIND_PHASE: u64 = 7;
/// `z` is held for this many appends out of every three times as many.
const Z_PHASE: u64 = 6;

/// The identity the child gives column `s`: its kind (float or string),
/// units and meaning version.
type Ident = (ResultKind, &'static str, u32);

/// One append of the child's loop.
#[derive(Debug, Clone, PartialEq)]
struct Op {
    label: String,
    /// Unique to the append: every cell of its event derives from it.
    value: f64,
    /// The identity of `s`, or `None`: the event leaves `s` out.
    s: Option<Ident>,
    /// Whether the event holds the second column `z`.
    z: bool,
}

/// A well-mixed hash of `(run, i, salt)` (splitmix64).
fn mix(run: u64, i: u64, salt: u64) -> u64 {
    let mut z = ((run << 40) ^ (i << 8) ^ salt).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether append `i` of `run` re-appends an older label.
fn is_replacement(run: u64, i: u64) -> bool {
    i > 0 && mix(run, i, 1).is_multiple_of(REPLACE_EVERY)
}

/// The label that the first appends of `run` up to `j` created last
/// (append `j`'s own, or the one before it when `j` was a replacement).
fn created_label(run: u64, j: u64) -> String {
    let mut j = j;
    while is_replacement(run, j) {
        j -= 1; // append 0 is never a replacement
    }
    format!("r{run}-{j}")
}

/// Append `i` of the child of `run`: fixed by `(run, i)` alone.
fn plan(run: u64, i: u64) -> Op {
    let label = if is_replacement(run, i) {
        let h = mix(run, i, 2);
        if run > 0 && h.is_multiple_of(3) {
            // An early label of an earlier run: a replacement when that run
            // got that far, else a new label.
            created_label(h / 3 % run, h / 9 % 4)
        } else {
            created_label(run, h / 3 % i)
        }
    } else {
        format!("r{run}-{i}")
    };
    let units = if (run + i / UNITS_PHASE).is_multiple_of(2) {
        "s"
    } else {
        "ms"
    };
    let meaning = ((run / 3 + i / MEANING_PHASE) % 3) as u32;
    let kind = if (run + i / KIND_PHASE) % 3 == 2 {
        ResultKind::String
    } else {
        ResultKind::Float
    };
    Op {
        label,
        value: (run * 100_000 + i) as f64,
        s: (!mix(run, i, 3).is_multiple_of(4)).then_some((kind, units, meaning)),
        z: (run + i / Z_PHASE).is_multiple_of(3),
    }
}

/// The fields of append `i`'s acknowledgement, after [`ACK`].
fn ack_fields(i: u64, op: &Op) -> String {
    let s =
        op.s.map_or("-".to_string(), |(k, u, m)| format!("{k}/{u}/{m}"));
    let z = if op.z { "z" } else { "-" };
    format!("{i} {} {} {s} {z}", op.label, op.value)
}

/// The value of column `col` at `x` in an event of `value`.
fn cell(col: &str, x: f64, value: f64) -> f64 {
    match col {
        "y" => x + value,
        "s" => x + value + 0.25,
        "z" => x + value + 0.5,
        _ => unreachable!("{col}"),
    }
}

/// The value of `s` at `x` in an event of `value` when `s` is a string.
fn text_cell(x: f64, value: f64) -> String {
    format!("s={}", cell("s", x, value))
}

/// The event of `op`: `y`, `img` and, as `op` says, `s` and `z`.
fn crash_event(op: &Op) -> Dataset {
    let mut b = Sweep::builder("hist")
        .input(InputVar::float_samples("x", 0.0, 1.0, GRID))
        .result(ResultVar::float("y"))
        .result(ResultVar::image("img"))
        .over_time(true);
    if let Some((kind, units, _)) = op.s {
        let s = match kind {
            ResultKind::Float => ResultVar::float("s"),
            ResultKind::String => ResultVar::string("s"),
            k => unreachable!("{k}"),
        };
        b = b.result(s.units(units));
    }
    if op.z {
        b = b.result(ResultVar::float("z"));
    }
    let sweep = b.build().unwrap();
    let mut r = setup_dataset(&sweep, &TimeSrc::Label(op.label.clone()))
        .unwrap()
        .result;
    run_sweep(&mut r, &RunOptions::default(), |smp| {
        let x = smp.get::<f64>("x")?;
        let mut o = smp
            .outputs()
            .with("y", cell("y", x, op.value))
            .with("img", format!("{}/{}.png", op.label, smp.job()));
        match op.s {
            Some((ResultKind::String, ..)) => o = o.with("s", text_cell(x, op.value)),
            Some(_) => o = o.with("s", cell("s", x, op.value)),
            None => {}
        }
        if op.z {
            o = o.with("z", cell("z", x, op.value));
        }
        Ok::<_, collector_core::Error>(o)
    })
    .unwrap();
    r.dataset
}

/// The child mode: does nothing unless the parent test set the variables.
#[test]
fn crash_child() {
    let (Some(dir), Some(run), Some(acks)) = (
        std::env::var_os(CHILD_DIR_ENV),
        std::env::var_os(CHILD_RUN_ENV),
        std::env::var_os(CHILD_ACK_ENV),
    ) else {
        return;
    };
    let run: u64 = run.to_str().unwrap().parse().unwrap();
    // Unbuffered: each acknowledgement is one `write` system call, so a kill
    // leaves whole lines (and at most a cut last line, which the parent
    // ignores).
    let mut acks = ack_file(&acks);
    let cache = CacheDb::open(std::path::Path::new(&dir), CacheOptions::default()).unwrap();
    // The identity of `s` in this run's newest append that held it.
    let mut last_s: Option<Ident> = None;
    for i in 0u64.. {
        let op = plan(run, i);
        let options = AppendOptions {
            meanings: op
                .s
                .map(|(_, _, m)| BTreeMap::from([("s".to_string(), m)]))
                .unwrap_or_default(),
            ..AppendOptions::default()
        };
        let out = cache
            .append_event(HISTORY, &crash_event(&op), &options)
            .unwrap();
        // What this run appended itself is live: re-appending it replaces.
        if is_replacement(run, i) && op.label.starts_with(&format!("r{run}-")) {
            assert!(out.replaced.is_some(), "{op:?}: {out:?}");
        }
        if let (Some(now), Some(was)) = (op.s, last_s) {
            let retired: Vec<&str> = out.columns.retired.iter().map(|r| &*r.column).collect();
            let want: &[&str] = if now == was { &[] } else { &["s"] };
            assert_eq!(retired, want, "{op:?} after {was:?}: {out:?}");
        }
        last_s = op.s.or(last_s);
        // Acknowledged only once the append has returned.
        acks.write_all(format!("{ACK}{}\n", ack_fields(i, &op)).as_bytes())
            .unwrap();
    }
}

/// What the history must hold after the committed appends `log`, in
/// order (the sequence number of `log[k]` is `k`).
struct Expected {
    /// The live events in time order: label and sequence number.
    events: Vec<(String, usize)>,
    /// Every column, in order of birth, as `history_info` gives it.
    columns: Vec<ColumnInfo>,
    /// Per append: the loaded name of the column holding its `s`.
    s_name: Vec<Option<String>>,
}

fn expected(log: &[Op]) -> Expected {
    let mut events: Vec<(String, usize)> = Vec::new();
    let mut pos: HashMap<&str, usize> = HashMap::new();
    for (k, op) in log.iter().enumerate() {
        match pos.get(op.label.as_str()) {
            // A replacement keeps the place of the event it replaces.
            Some(&p) => events[p].1 = k,
            None => {
                pos.insert(&op.label, events.len());
                events.push((op.label.clone(), k));
            }
        }
    }
    let column =
        |name: &str, kind: ResultKind, (units, meaning): (&str, u32), born: usize| ColumnInfo {
            name: name.to_string(),
            var: name.to_string(),
            kind,
            units: units.to_string(),
            meaning_version: meaning,
            born_seq: born as u64,
            state: ColumnState::Live,
            dormant_spans: Vec::new(),
        };
    // A column is held by append `k`: a span it lacked, if any, has ended
    // (one born by `k` has none).
    let hold = |col: &mut (ColumnInfo, usize), k: usize| {
        if col.1 + 1 < k {
            col.0.dormant_spans.push((col.1 as u64, k as u64));
        }
        col.1 = k;
    };
    // Each column with the sequence number of its newest event.
    let mut cols: Vec<(ColumnInfo, usize)> = Vec::new();
    let (mut s_cur, mut z_cur): (Option<usize>, Option<usize>) = (None, None);
    // The columns `s` had, oldest first.
    let mut s_epochs: Vec<usize> = Vec::new();
    let mut s_epoch = vec![None; log.len()];
    for (k, op) in log.iter().enumerate() {
        if k == 0 {
            cols.push((column("y", ResultKind::Float, ("", 0), 0), 0));
            cols.push((column("img", ResultKind::Image, ("", 0), 0), 0));
        }
        cols[0].1 = k;
        cols[1].1 = k;
        if let Some((kind, units, meaning)) = op.s {
            match s_cur {
                Some(c)
                    if cols[c].0.kind == kind
                        && cols[c].0.units == units
                        && cols[c].0.meaning_version == meaning =>
                {
                    hold(&mut cols[c], k);
                }
                _ => {
                    if let Some(c) = s_cur {
                        cols[c].0.state = ColumnState::Retired {
                            at_seq: k as u64,
                            successor: "s".into(),
                        };
                    }
                    s_cur = Some(cols.len());
                    s_epochs.push(cols.len());
                    cols.push((column("s", kind, (units, meaning), k), k));
                }
            }
            s_epoch[k] = Some(s_epochs.len() - 1);
        }
        if op.z {
            let c = *z_cur.get_or_insert_with(|| {
                cols.push((column("z", ResultKind::Float, ("", 0), k), k));
                cols.len() - 1
            });
            hold(&mut cols[c], k);
        }
    }
    // Retired columns keep their values under `s__retired<k>`, numbered in
    // the order they were retired; the newest keeps `s`.
    let epoch_name = |e: usize| {
        if e + 1 == s_epochs.len() {
            "s".to_string()
        } else {
            format!("s__retired{}", e + 1)
        }
    };
    for (e, &c) in s_epochs.iter().enumerate() {
        cols[c].0.name = epoch_name(e);
    }
    let newest = log.len().checked_sub(1);
    let columns = cols
        .into_iter()
        .map(|(mut c, last)| {
            if c.state == ColumnState::Live && Some(last) != newest {
                c.state = ColumnState::Dormant {
                    last_seq: last as u64,
                };
            }
            c
        })
        .collect();
    Expected {
        events,
        columns,
        s_name: s_epoch.into_iter().map(|e| e.map(epoch_name)).collect(),
    }
}

/// The cells of a loaded column as `[x, over_time]`: one lane along `x`
/// per event (its dims are `x`, `repeat` of one, and `over_time` of `t`).
fn lanes<T>(v: ArrayViewD<'_, T>, t: usize) -> ArrayView2<'_, T> {
    let v = v.into_dimensionality::<Ix3>().unwrap();
    assert_eq!(v.dim(), (GRID, 1, t), "the shape of a loaded column");
    v.index_axis_move(Axis(1), 0)
}

/// Checks the loaded history `h` and its `info` against the model of the
/// committed appends `log`.
fn check_history(run: u64, h: &Dataset, info: &HistoryInfo, log: &[Op]) {
    let ex = expected(log);
    let want_labels: Vec<&str> = ex.events.iter().map(|(l, _)| l.as_str()).collect();
    // One event per label, in the order labels were first appended.
    let got = labels(h);
    if got != want_labels {
        let missing: Vec<&str> = want_labels
            .iter()
            .copied()
            .filter(|l| !got.iter().any(|g| g == l))
            .collect();
        let unexpected: Vec<&str> = got
            .iter()
            .map(String::as_str)
            .filter(|g| !want_labels.contains(g))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let repeated: Vec<&str> = got
            .iter()
            .map(String::as_str)
            .filter(|g| !seen.insert(*g))
            .collect();
        panic!(
            "run {run}: acknowledged but missing {missing:?}, never acknowledged {unexpected:?}, \
             repeated {repeated:?}; loaded {got:?}, expected {want_labels:?}"
        );
    }
    let got_events: Vec<(&str, u64)> = info.events.iter().map(|e| (e.at.as_str(), e.seq)).collect();
    let want_events: Vec<(&str, u64)> = ex
        .events
        .iter()
        .map(|(l, k)| (l.as_str(), *k as u64))
        .collect();
    // Each label is the event of its last committed append.
    assert_eq!(got_events, want_events, "run {run}: events");
    // Every column with its identity, birth and state.
    assert_eq!(info.columns, ex.columns, "run {run}: columns");
    // The loaded columns: those some live event holds, in order of birth.
    let held = |c: &ColumnInfo| {
        ex.events.iter().any(|&(_, k)| match c.name.as_str() {
            "y" | "img" => true,
            "z" => log[k].z,
            n => ex.s_name[k].as_deref() == Some(n),
        })
    };
    let want_cols: Vec<&ColumnInfo> = ex.columns.iter().filter(|c| held(c)).collect();
    let got_cols: Vec<&str> = h.columns().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        got_cols,
        want_cols
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        "run {run}: loaded columns"
    );
    let xs: Vec<f64> = (0..GRID).map(|i| i as f64 / (GRID - 1) as f64).collect();
    let t = ex.events.len();
    for c in want_cols {
        let name = c.name.as_str();
        let col = h.column(name).unwrap();
        assert_eq!(col.kind, c.kind, "run {run}: kind of {name}");
        assert_eq!(col.attrs.units, c.units, "run {run}: units of {name}");
        // Per event (in time order), the append that wrote its cells of
        // the column, or `None` when it does not hold the column. A value
        // of `s` is under the column of its identity only.
        let writer: Vec<Option<&Op>> = ex
            .events
            .iter()
            .map(|&(_, k)| {
                let holds = match name {
                    "y" | "img" => true,
                    "z" => log[k].z,
                    _ => ex.s_name[k].as_deref() == Some(name),
                };
                holds.then_some(&log[k])
            })
            .collect();
        // No partial event: every cell of a column an event holds is from
        // the one append that wrote the event; the others are at the
        // sentinel of the column's kind (NaN, `"NAN"`). Each event's cells
        // are a lane along `x` (the history is `[x, over_time]`).
        let mismatch = |ti: usize, x: f64| {
            let (label, k) = &ex.events[ti];
            format!(
                "run {run}: event {label} ({:?}), column {name}, x {x}",
                log[*k]
            )
        };
        match c.kind {
            ResultKind::Image => {
                let v = lanes(col.text().unwrap(), t);
                for (lane, (label, _)) in v.axis_iter(Axis(1)).zip(&ex.events) {
                    for (xi, got) in lane.iter().enumerate() {
                        assert_eq!(
                            *got,
                            format!("{label}/{xi}.png"),
                            "run {run}: event {label}"
                        );
                    }
                }
            }
            ResultKind::Float => {
                let v = lanes(col.f64().unwrap(), t);
                for (ti, lane) in v.axis_iter(Axis(1)).enumerate() {
                    for (&got, &x) in lane.iter().zip(&xs) {
                        match writer[ti] {
                            Some(op) => {
                                let want = cell(&c.var, x, op.value);
                                assert_eq!(got, want, "{}", mismatch(ti, x));
                            }
                            None => assert!(got.is_nan(), "{}: holds {got}", mismatch(ti, x)),
                        }
                    }
                }
            }
            ResultKind::String => {
                let v = lanes(col.text().unwrap(), t);
                for (ti, lane) in v.axis_iter(Axis(1)).enumerate() {
                    for (got, &x) in lane.iter().zip(&xs) {
                        match writer[ti] {
                            Some(op) => {
                                let want = text_cell(x, op.value);
                                assert_eq!(*got, want, "{}", mismatch(ti, x));
                            }
                            None => assert_eq!(got, "NAN", "{}", mismatch(ti, x)),
                        }
                    }
                }
            }
            k => unreachable!("{name}: {k}"),
        }
    }
}

#[test]
fn sigkill_during_appends_loses_no_returned_event() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let ack_dir = tempfile::tempdir().unwrap();
    let seed = clock_seed();
    let mut rng = XorShift(seed);
    // Every committed append, in order: the acknowledged ones, and the
    // in-flight ones found committed.
    let mut log: Vec<Op> = Vec::new();
    let mut kills = 0;
    let mut in_flight_landed = 0;
    for run in 0..24u64 {
        if kills >= 20 {
            break;
        }
        let ack_file = ack_dir.path().join(format!("acks-{run}"));
        // Kill at a random moment: sometimes during start-up, mostly
        // in the middle of the appends. The child appends until killed.
        let run_text = run.to_string();
        run_then_kill(
            "crash_child",
            &[
                (CHILD_DIR_ENV, dir.path().as_os_str()),
                (CHILD_RUN_ENV, run_text.as_ref()),
                (CHILD_ACK_ENV, ack_file.as_os_str()),
            ],
            &ack_dir.path().join(format!("child-{run}.log")),
            Duration::from_millis(20 + rng.next() % 250),
            &format!("run {run}"),
        );
        kills += 1;
        let acks = read_acks(&ack_file);
        let committed_before = log.len();
        for (i, fields) in acks.iter().enumerate() {
            let op = plan(run, i as u64);
            assert_eq!(*fields, ack_fields(i as u64, &op), "run {run}: ack {i}");
            log.push(op);
        }

        let cache = CacheDb::open(dir.path(), CacheOptions::default()).unwrap();
        let len_before = cache.history_len(HISTORY).unwrap();
        let h = cache
            .load_history(HISTORY)
            .unwrap_or_else(|e| panic!("run {run}: loading the history failed: {e}"));
        // Nothing was found corrupt and removed while loading.
        assert_eq!(cache.history_len(HISTORY).unwrap(), len_before, "run {run}");
        let info = cache.history_info(HISTORY).unwrap();
        // The append in flight at the kill (the next one of the plan) may
        // have committed without being acknowledged: then its event holds
        // the next sequence number. It is the only unacknowledged append
        // that may have: the child starts an append only after
        // acknowledging the one before.
        let next_seq = log.len() as u64;
        if info
            .as_ref()
            .is_some_and(|i| i.events.iter().any(|e| e.seq == next_seq))
        {
            log.push(plan(run, acks.len() as u64));
            in_flight_landed += 1;
        }
        let (h, info) = match (h, info) {
            (Some(h), Some(info)) => (h, info),
            (None, None) => {
                assert!(log.is_empty(), "run {run}: history lost");
                continue;
            }
            (h, info) => panic!(
                "run {run}: a history loaded: {}, its info read: {}",
                h.is_some(),
                info.is_some()
            ),
        };
        assert_eq!(
            len_before,
            info.events.len() as u64,
            "run {run}: {committed_before} appends committed before this run, {} acknowledged in it",
            acks.len()
        );
        check_history(run, &h, &info, &log);
    }
    assert!(kills >= 20, "only {kills} kills");
    assert!(!log.is_empty(), "the child never appended anything");
    // What the killed loops did: replacements and retirements among them.
    let ex = expected(&log);
    let replacements = log.len() - ex.events.len();
    let retired = ex
        .columns
        .iter()
        .filter(|c| matches!(c.state, ColumnState::Retired { .. }))
        .count();
    // The retirements of `s` that changed its kind, and those among them
    // that changed nothing else.
    let s_cols: Vec<&ColumnInfo> = ex.columns.iter().filter(|c| c.var == "s").collect();
    let rekinds: Vec<bool> = s_cols
        .windows(2)
        .filter(|w| w[0].kind != w[1].kind)
        .map(|w| w[0].units == w[1].units && w[0].meaning_version == w[1].meaning_version)
        .collect();
    let kind_alone = rekinds.iter().filter(|&&alone| alone).count();
    let summary = format!(
        "{kills} kills, {} appends committed ({in_flight_landed} unacknowledged), \
         {replacements} replacements, {} events, {retired} retired columns \
         ({} re-kinded, {kind_alone} by kind alone), {:.1?}",
        log.len(),
        ex.events.len(),
        rekinds.len(),
        started.elapsed()
    );
    assert!(
        replacements > 0 && retired > 0 && !rekinds.is_empty(),
        "{summary}"
    );
    eprintln!("{summary}");
}
