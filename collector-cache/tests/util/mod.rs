//! Shared helpers of the integration tests.
#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(dead_code, reason = "each test binary uses a part")]

use std::path::Path;

use collector_cache::{CacheDb, CacheOptions};
use collector_core::{
    Dataset, FailureKind, InputVar, ResultVar, RunOptions, Sweep, SweepResult, TimeSrc, run_sweep,
    setup_dataset,
};

/// Opens the cache database in `dir` (a temporary directory is the
/// database directory itself) with default options.
pub fn open(dir: &Path) -> CacheDb {
    CacheDb::open(dir, CacheOptions::default()).unwrap()
}

/// A small sweep with one result of every storage class.
pub fn small_sweep() -> Sweep {
    Sweep::builder("small")
        .input(InputVar::float_values("x", [0.0, 0.5]).units("m"))
        .input(InputVar::labels("algo", ["a", "b"]))
        .result(ResultVar::float("cost").units("s"))
        .result(ResultVar::vector("pos", 2))
        .result(ResultVar::string("note"))
        .result(ResultVar::image("plot"))
        .result(ResultVar::reference("obj"))
        .repeats(2)
        .build()
        .unwrap()
}

/// A complete result of [`small_sweep`]; values depend on `salt`.
pub fn small_result(sweep: &Sweep, salt: f64) -> SweepResult {
    let mut r = setup_dataset(sweep, &TimeSrc::Label("v1".into()))
        .unwrap()
        .result;
    run_sweep(&mut r, &RunOptions::default(), |s| {
        let x = s.get::<f64>("x")?;
        let out = s
            .outputs()
            .with("cost", x + salt)
            .with("pos", [x, -x])
            .with("note", format!("job {}", s.job()))
            .with("plot", format!("media/{}/plot.png", s.job()))
            .with(
                "obj",
                collector_core::ResultValue::Object(Box::new(s.job())),
            );
        Ok::<_, collector_core::Error>(out)
    })
    .unwrap();
    r
}

/// A result with one failed job.
pub fn failed_result(sweep: &Sweep) -> SweepResult {
    let mut r = small_result(sweep, 0.0);
    r.record_failure(1, FailureKind::Error, "flaky".into());
    r
}

/// A sweep that keeps history: a `n`-value float input over [0, `hi`].
pub fn history_sweep(n: usize, hi: f64, with_media: bool) -> Sweep {
    let mut b = Sweep::builder("hist")
        .input(InputVar::float_samples("x", 0.0, hi, n))
        .result(ResultVar::float("y"))
        .over_time(true);
    if with_media {
        b = b.result(ResultVar::image("img"));
    }
    b.build().unwrap()
}

/// One event of `sweep` at `time`; `y = x + value`, `img = "<label>/<job>.png"`.
pub fn event(sweep: &Sweep, time: TimeSrc, value: f64) -> Dataset {
    let label = match &time {
        TimeSrc::Label(l) => l.clone(),
        TimeSrc::Timestamp(t) => t.timestamp().to_string(),
    };
    let mut r = setup_dataset(sweep, &time).unwrap().result;
    run_sweep(&mut r, &RunOptions::default(), |s| {
        let x = s.get::<f64>("x")?;
        let mut o = s.outputs().with("y", x + value);
        if s.sweep().results().len() > 1 {
            o = o.with("img", format!("{label}/{}.png", s.job()));
        }
        Ok::<_, collector_core::Error>(o)
    })
    .unwrap();
    r.dataset
}

/// A labelled event.
pub fn label_event(sweep: &Sweep, label: &str, value: f64) -> Dataset {
    event(sweep, TimeSrc::Label(label.into()), value)
}

/// Overwrites (or deletes, with `None`) one raw value in the database in
/// `db_dir`, with the cache closed.
pub fn poke(db_dir: &Path, cf: &str, key: &[u8], value: Option<Vec<u8>>) {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), db_dir).unwrap();
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), db_dir, cfs).unwrap();
    let h = db.cf_handle(cf).unwrap();
    match value {
        Some(v) => db.put_cf(h, key, v).unwrap(),
        None => db.delete_cf(h, key).unwrap(),
    }
}

/// Reads one raw value.
pub fn peek(db_dir: &Path, cf: &str, key: &[u8]) -> Option<Vec<u8>> {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), db_dir).unwrap();
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), db_dir, cfs).unwrap();
    let h = db.cf_handle(cf).unwrap();
    db.get_cf(h, key).unwrap()
}

/// The float values of column `name`, row-major.
pub fn f64s(ds: &Dataset, name: &str) -> Vec<f64> {
    ds.column(name)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

/// The text values of column `name`, row-major.
pub fn texts(ds: &Dataset, name: &str) -> Vec<String> {
    ds.column(name)
        .unwrap()
        .text()
        .unwrap()
        .iter()
        .cloned()
        .collect()
}

/// The `over_time` labels of a loaded history.
pub fn labels(ds: &Dataset) -> Vec<String> {
    match &ds.dim("over_time").unwrap().coords {
        collector_core::Coords::Label(v) => v.clone(),
        c => panic!("not labels: {c:?}"),
    }
}

/// A complete result of one float column `y` over `cells` jobs, every cell
/// `value` (`cells` x 8 bytes of data).
pub fn float_result(cells: i64, value: f64) -> SweepResult {
    let sweep = Sweep::builder("big")
        .input(InputVar::int_range("i", 0, cells - 1))
        .result(ResultVar::float("y"))
        .build()
        .unwrap();
    let mut r = setup_dataset(&sweep, &TimeSrc::Label("v1".into()))
        .unwrap()
        .result;
    r.stats.attempted = usize::try_from(cells).unwrap();
    set_floats(&mut r, value);
    r
}

/// Sets every cell of the first (float) column of `r` to `value`.
pub fn set_floats(r: &mut SweepResult, value: f64) {
    if let collector_core::ColumnData::F64(a) = &mut r.dataset.columns_mut()[0].data {
        a.fill(value);
    }
}

/// Total size of the write-ahead-log files of the database in `db_dir`.
pub fn log_bytes(db_dir: &Path) -> u64 {
    std::fs::read_dir(db_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum()
}

/// Every key of the family `cf`, in key order, with the cache closed.
pub fn keys_of(db_dir: &Path, cf: &str) -> Vec<Vec<u8>> {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), db_dir).unwrap();
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), db_dir, cfs).unwrap();
    let h = db.cf_handle(cf).unwrap();
    db.iterator_cf(h, rocksdb::IteratorMode::Start)
        .map(|kv| kv.unwrap().0.into_vec())
        .collect()
}

/// The ids of the result parts stored (the first 8 bytes of a part's key),
/// each with its number of parts, in key order.
pub fn part_ids(db_dir: &Path) -> Vec<(u64, usize)> {
    let mut ids: Vec<(u64, usize)> = Vec::new();
    for k in keys_of(db_dir, "result_parts") {
        assert_eq!(k.len(), 12, "a part key is 12 bytes");
        let id = u64::from_be_bytes(k[..8].try_into().unwrap());
        match ids.last_mut() {
            Some((last, n)) if *last == id => *n += 1,
            _ => ids.push((id, 1)),
        }
    }
    ids
}

/// Drops the family `cf` from the database in `db_dir` (to make the
/// layout of an older format, which did not have it).
pub fn drop_family(db_dir: &Path, cf: &str) {
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), db_dir).unwrap();
    let mut db = rocksdb::DB::open_cf(&rocksdb::Options::default(), db_dir, cfs).unwrap();
    db.drop_cf(cf).unwrap();
}

/// Starts every acknowledgement line a killed child writes.
pub const ACK: &str = "ACK ";

/// The file a child acknowledges in, opened for appending: each
/// acknowledgement is one unbuffered `write`, so a kill leaves whole lines
/// and at most a cut last one.
pub fn ack_file(path: &std::ffi::OsStr) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// The acknowledgements in a child's file: the fields (after [`ACK`]) of
/// whole lines only.
pub fn read_acks(path: &Path) -> Vec<String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("reading {}: {e}", path.display()),
    };
    // A line cut by the kill has no newline: it is not an acknowledgement.
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    whole
        .lines()
        .map(|l| {
            l.strip_prefix(ACK)
                .unwrap_or_else(|| panic!("unexpected line {l:?} in {}", path.display()))
                .to_string()
        })
        .collect()
}

/// A small, seeded random number generator (xorshift64) for the moments
/// of kills.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A seed from the clock (odd, never 0), printed by the tests that fail.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1
}

/// Runs the test `child` of this test binary (`--exact`, one thread) with
/// the environment `env`, its output to `log`; kills it with SIGKILL
/// after `delay`. A child that exited by itself before then failed: the
/// test panics with its output, prefixed by `what`.
pub fn run_then_kill(
    child: &str,
    env: &[(&str, &std::ffi::OsStr)],
    log: &Path,
    delay: std::time::Duration,
    what: &str,
) {
    use std::process::{Command, Stdio};
    let out = std::fs::File::create(log).unwrap();
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", child, "--test-threads=1"])
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out));
    for (k, v) in env {
        c.env(k, v);
    }
    let mut running = c.spawn().unwrap();
    std::thread::sleep(delay);
    if let Some(status) = running.try_wait().unwrap() {
        panic!(
            "{what}: the child exited by itself ({status}):\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    running.kill().unwrap(); // SIGKILL on Unix
    running.wait().unwrap();
}
