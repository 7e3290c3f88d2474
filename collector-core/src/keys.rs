//! Identity keys: the cache key, the history key and the sample key.
//!
//! Each key is the BLAKE3 hash of a canonical binary encoding (never of a
//! debug string): tagged fields, little-endian numbers, length-prefixed
//! strings, and sets encoded as their sorted member encodings. Golden tests
//! pin the values; changing the encoding means bumping
//! [`KEY_FORMAT_VERSION`]. The job half of a [`JobKey`] is XXH3-128 (see
//! [`JobKeyer`]; its version is [`JOB_KEY_VERSION`]).

use std::ops::Range;

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_128;

use crate::sweep::{ConstVar, ResolvedInput, ResultKind, ResultVar, Sweep};
use crate::value::{Coords, Value};

/// Version of the key encoding. Bump it when anything below changes the
/// bytes fed to the hash: every stored result then gets a new key.
pub const KEY_FORMAT_VERSION: u32 = 1;

/// Version of the job keys, hashed into every [`job_set`]: records written
/// under another version are never taken for a job's. 1 hashed each job
/// with BLAKE3 (and was [`KEY_FORMAT_VERSION`]); 2 with XXH3-128.
pub const JOB_KEY_VERSION: u32 = 2;

/// A canonical encoder: the bytes depend only on the values written.
#[derive(Debug, Default, Clone)]
pub struct Canon {
    buf: Vec<u8>,
}

impl Canon {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }
    /// A one-byte tag.
    pub fn tag(&mut self, t: u8) -> &mut Self {
        self.buf.push(t);
        self
    }
    /// An unsigned integer, 8 bytes little-endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A signed integer, 8 bytes little-endian.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A float by its bits, with `-0.0` as `0.0` and every NaN as one NaN.
    pub fn f64(&mut self, v: f64) -> &mut Self {
        let v = if v.is_nan() { f64::NAN } else { v + 0.0 };
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
        self
    }
    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
        self
    }
    /// A length-prefixed byte string.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }
    /// A set: the members' encodings, sorted, so order does not matter.
    pub fn set(&mut self, mut members: Vec<Vec<u8>>) -> &mut Self {
        members.sort_unstable();
        self.u64(members.len() as u64);
        for m in members {
            self.bytes(&m);
        }
        self
    }
    /// A value with its kind.
    pub fn value(&mut self, v: &Value) -> &mut Self {
        match v {
            Value::Float(x) => self.tag(1).f64(*x),
            Value::Int(x) => self.tag(2).i64(*x),
            Value::Str(x) => self.tag(3).str(x),
            Value::Bool(x) => self.tag(4).tag(u8::from(*x)),
            Value::Time(x) => self.tag(5).i64(*x),
        }
    }
    /// Coordinates with their kind.
    pub fn coords(&mut self, c: &Coords) -> &mut Self {
        self.u64(c.len() as u64);
        match c {
            Coords::Float(v) => {
                self.tag(1);
                v.iter().for_each(|x| {
                    self.f64(*x);
                });
            }
            Coords::Int(v) => {
                self.tag(2);
                v.iter().for_each(|x| {
                    self.i64(*x);
                });
            }
            Coords::Str(v) => {
                self.tag(3);
                v.iter().for_each(|x| {
                    self.str(x);
                });
            }
            Coords::Bool(v) => {
                self.tag(4);
                v.iter().for_each(|x| {
                    self.tag(u8::from(*x));
                });
            }
            Coords::Time(v) => {
                self.tag(5);
                v.iter().for_each(|x| {
                    self.i64(*x);
                });
            }
            Coords::Label(v) => {
                self.tag(6);
                v.iter().for_each(|x| {
                    self.str(x);
                });
            }
        }
        self
    }
    /// The bytes so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
    /// The BLAKE3 hash of the bytes, as 32 lowercase hex digits (128 bits).
    pub fn key(&self) -> String {
        to_hex(&blake3::hash(&self.buf).as_bytes()[..16])
    }
}

fn kind_code(k: ResultKind) -> (u8, u64) {
    match k {
        ResultKind::Float => (1, 1),
        ResultKind::Bool => (2, 1),
        ResultKind::Vec(n) => (3, n as u64),
        ResultKind::String => (4, 1),
        ResultKind::Path => (5, 1),
        ResultKind::Image => (6, 1),
        ResultKind::Video => (7, 1),
        ResultKind::Recording => (8, 1),
        ResultKind::Blob => (9, 1),
        ResultKind::Reference => (10, 1),
    }
}

fn input_bytes(c: &mut Canon, i: &ResolvedInput) {
    c.tag(coords_kind(&i.values))
        .str(i.var.name())
        .str(i.var.units_str())
        .coords(&i.values);
}

fn result_bytes(r: &ResultVar) -> Vec<u8> {
    let (k, size) = kind_code(r.kind());
    let mut c = Canon::new();
    c.tag(k).str(r.name()).str(r.units_str()).u64(size);
    // Optional trailing field: a variable without one keeps its bytes.
    if r.meaning_version_value() != 0 {
        c.tag(TAG_MEANING).u64(u64::from(r.meaning_version_value()));
    }
    c.buf
}

/// Tags of optional trailing fields. Each is written only when set, so
/// the keys of sweeps that do not use it are unchanged; the tag makes the
/// encoding unambiguous.
const TAG_MEANING: u8 = 0x4d;
const TAG_VERSION: u8 = 0x56;

/// The code version, when set (an optional trailing field).
fn version_bytes(c: &mut Canon, sweep: &Sweep) {
    if !sweep.version().is_empty() {
        c.tag(TAG_VERSION).str(sweep.version());
    }
}

fn const_bytes(k: &ConstVar) -> Vec<u8> {
    let mut c = Canon::new();
    c.str(&k.name).value(&k.value).str(&k.units);
    c.buf
}

fn common(sweep: &Sweep, domain: &str) -> Canon {
    let mut c = Canon::new();
    c.str(domain)
        .u64(u64::from(KEY_FORMAT_VERSION))
        .str(sweep.name())
        .str(sweep.tag())
        .tag(u8::from(sweep.over_time()))
        .u64(sweep.repeats() as u64)
        .u64(sweep.inputs().len() as u64);
    for i in sweep.inputs() {
        input_bytes(&mut c, i);
    }
    c.set(sweep.constants().iter().map(const_bytes).collect());
    c
}

/// The key of a sweep's whole result: format version, name, tag,
/// over_time, repeats, the ordered inputs with their values, the result
/// variables as a set (with their meaning versions), the constants as a
/// set, and the code version.
///
/// ```
/// use collector_core::{cache_key, InputVar, ResultVar, Sweep};
/// let a = Sweep::builder("s").input(InputVar::int_range("n", 0, 3))
///     .result(ResultVar::float("x")).result(ResultVar::float("y")).build()?;
/// let b = Sweep::builder("s").input(InputVar::int_range("n", 0, 3))
///     .result(ResultVar::float("y")).result(ResultVar::float("x")).build()?;
/// assert_eq!(cache_key(&a), cache_key(&b));
/// # Ok::<(), collector_core::Error>(())
/// ```
pub fn cache_key(sweep: &Sweep) -> String {
    let mut c = common(sweep, "result-collector/cache");
    c.set(sweep.results().iter().map(result_bytes).collect());
    version_bytes(&mut c, sweep);
    c.key()
}

/// The key of a sweep's history: the cache key without the result
/// variables and the code version, so adding a result column or moving to
/// a new commit continues the same history.
pub fn history_key(sweep: &Sweep) -> String {
    common(sweep, "result-collector/history").key()
}

/// The key of one job: sweep name, tag, the job's input values (with the
/// repeat number), the constants and the code version. For resuming runs.
pub fn sample_key(sweep: &Sweep, inputs: &[(String, Value)]) -> String {
    let mut c = Canon::new();
    c.str("result-collector/sample")
        .u64(u64::from(KEY_FORMAT_VERSION))
        .str(sweep.name())
        .str(sweep.tag())
        .u64(inputs.len() as u64);
    for (name, v) in inputs {
        c.str(name).value(v);
    }
    c.set(sweep.constants().iter().map(const_bytes).collect());
    version_bytes(&mut c, sweep);
    c.key()
}

/// The key of one job record: the job set (16 bytes) then the job (16
/// bytes). See [`JobKeyer`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobKey(pub [u8; 32]);

impl JobKey {
    /// The job set this job belongs to: its first 16 bytes.
    pub fn set(&self) -> [u8; 16] {
        let mut s = [0; 16];
        s.copy_from_slice(&self.0[..16]);
        s
    }

    /// A number drawn from the job's own hash, for shard assignment: it
    /// does not depend on the job's position in the grid.
    pub fn shard_hash(&self) -> u64 {
        let mut b = [0; 8];
        b.copy_from_slice(&self.0[16..24]);
        u64::from_le_bytes(b)
    }

    /// The key as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl std::fmt::Debug for JobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JobKey({})", self.hex())
    }
}

/// `bytes` as lowercase hex digits, two a byte (how keys and job sets are
/// printed and stored as text).
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The job set of a sweep: everything a job's result depends on but its
/// own input values and repeat number. Name, tag, the inputs' names,
/// kinds and units (not their values), the result variables as a set
/// (with units and meaning versions), the constants as a set, and the
/// code version. Neither the repeat count nor `over_time` is in it: a
/// sweep whose grid grows, whose repeats rise or that starts keeping
/// history has the same job set, and finds the jobs it already ran.
pub fn job_set(sweep: &Sweep) -> [u8; 16] {
    let mut c = Canon::new();
    c.str("result-collector/jobs")
        .u64(u64::from(JOB_KEY_VERSION))
        .str(sweep.name())
        .str(sweep.tag())
        .u64(sweep.inputs().len() as u64);
    for i in sweep.inputs() {
        c.tag(coords_kind(&i.values))
            .str(i.var.name())
            .str(i.var.units_str());
    }
    c.set(sweep.results().iter().map(result_bytes).collect());
    c.set(sweep.constants().iter().map(const_bytes).collect());
    c.str(sweep.version());
    let h = blake3::hash(c.as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&h.as_bytes()[..16]);
    out
}

/// The hash of a sweep's grid: its inputs with their values, in order,
/// and the repeat count. Two shards of one run have the same one.
pub fn grid_hash(sweep: &Sweep) -> String {
    let mut c = Canon::new();
    c.str("result-collector/grid")
        .u64(u64::from(KEY_FORMAT_VERSION))
        .u64(sweep.repeats() as u64)
        .u64(sweep.inputs().len() as u64);
    for i in sweep.inputs() {
        input_bytes(&mut c, i);
    }
    c.key()
}

/// The tag of an input's kind in every key.
fn coords_kind(c: &Coords) -> u8 {
    match c {
        Coords::Float(_) => 1,
        Coords::Int(_) => 2,
        Coords::Str(_) => 3,
        Coords::Bool(_) => 4,
        Coords::Time(_) => 5,
        Coords::Label(_) => 6,
    }
}

/// Computes the [`JobKey`] of each job of a sweep: the sweep's
/// [`job_set`] (a BLAKE3 hash), then the XXH3-128 hash of the job set, the
/// job's input values and its repeat number. The key of a job does not
/// depend on where it sits in the grid, so it survives a grid that grows.
///
/// The job half is XXH3, not BLAKE3, for speed: a key is computed for every
/// job of a recorded run, and BLAKE3's one compression of a short message
/// took a quarter of the store loop's time with job records. A job key
/// names a record in the user's own cache; it is not a defence against
/// crafted collisions (128 bits make an accidental one negligible: about
/// 10^-20 for a billion jobs).
///
/// ```
/// use collector_core::{InputVar, JobKeyer, ResultVar, Sweep};
/// let small = Sweep::builder("s").input(InputVar::int_values("n", [1, 2]))
///     .result(ResultVar::float("t")).build()?;
/// let grown = Sweep::builder("s").input(InputVar::int_values("n", [0, 1, 2]))
///     .result(ResultVar::float("t")).repeats(2).build()?;
/// let (a, b) = (JobKeyer::new(&small), JobKeyer::new(&grown));
/// // n=1, repeat 1: job 0 of the small grid, job 2 of the grown one.
/// assert_eq!(a.key(&small, 0), b.key(&grown, 2));
/// assert_ne!(a.key(&small, 0), a.key(&small, 1));
/// # Ok::<(), collector_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct JobKeyer {
    set: [u8; 16],
    /// Per input, the canonical bytes of each of its values (encoded once:
    /// a key is computed per job, on the store loop's path).
    values: Vec<Vec<Box<[u8]>>>,
    /// Whether every job's message fits in [`MESSAGE_ON_STACK`] bytes.
    on_stack: bool,
}

/// What a job's hashed message starts with.
const JOB_KEY_DOMAIN: &[u8] = b"result-collector/job";

/// The longest message gathered on the stack; a longer one (long string
/// values) goes to the heap.
const MESSAGE_ON_STACK: usize = 256;

/// The jobs of one run of [`JobKeyer::keys_into`].
const KEY_RUN: usize = 1024;

impl JobKeyer {
    /// The keyer of `sweep`'s jobs.
    pub fn new(sweep: &Sweep) -> Self {
        let values: Vec<Vec<Box<[u8]>>> = sweep
            .inputs()
            .iter()
            .map(|inp| {
                (0..inp.values.len())
                    .filter_map(|i| inp.values.get(i))
                    .map(|v| Canon::new().value(&v).as_bytes().into())
                    .collect()
            })
            .collect();
        // The domain, the set, the longest value of each input, the repeat.
        let longest = JOB_KEY_DOMAIN.len()
            + 16
            + values
                .iter()
                .map(|v| v.iter().map(|b| b.len()).max().unwrap_or(0))
                .sum::<usize>()
            + 8;
        JobKeyer {
            set: job_set(sweep),
            values,
            on_stack: longest <= MESSAGE_ON_STACK,
        }
    }

    /// The job set every key starts with.
    pub fn set(&self) -> [u8; 16] {
        self.set
    }

    /// The key of job `linear` (row-major over the inputs and `repeat`)
    /// of `sweep`, which must be the sweep this keyer was made for.
    pub fn key(&self, sweep: &Sweep, linear: usize) -> JobKey {
        self.key_at(&crate::jobs::unravel(linear, sweep.shape()))
    }

    /// The keys of the jobs `jobs` of `sweep` (the sweep this keyer was
    /// made for), in order, into `out` (cleared first; its room is kept).
    /// The pool computes them in runs of consecutive jobs, each stepping
    /// its index from job to job rather than unravelling every job's.
    pub fn keys_into(&self, sweep: &Sweep, jobs: Range<usize>, out: &mut Vec<JobKey>) {
        out.clear();
        out.resize(jobs.len(), JobKey([0; 32]));
        out.par_chunks_mut(KEY_RUN)
            .enumerate()
            .for_each(|(run, keys)| {
                let shape = sweep.shape();
                let mut idx = crate::jobs::unravel(jobs.start + run * KEY_RUN, shape);
                for k in keys {
                    *k = self.key_at(&idx);
                    crate::jobs::step(&mut idx, shape);
                }
            });
    }

    /// The key of the job at `idx` (one index per input, then the repeat).
    fn key_at(&self, idx: &[usize]) -> JobKey {
        // The message is gathered (on the stack unless long string values
        // can make it longer) and hashed in one call.
        let job = if self.on_stack {
            let mut buf = [0u8; MESSAGE_ON_STACK];
            let mut at = 0;
            self.message(idx, |b| {
                buf[at..at + b.len()].copy_from_slice(b);
                at += b.len();
            });
            xxh3_128(&buf[..at])
        } else {
            let mut buf = Vec::with_capacity(MESSAGE_ON_STACK * 2);
            self.message(idx, |b| buf.extend_from_slice(b));
            xxh3_128(&buf)
        };
        let mut k = [0; 32];
        k[..16].copy_from_slice(&self.set);
        k[16..].copy_from_slice(&job.to_le_bytes());
        JobKey(k)
    }

    /// Gives `put` the pieces of the message of the job at `idx`, in
    /// order: the domain, the job set, the canonical encoding of each of
    /// the job's values, then its repeat number (1-based, little-endian
    /// u64).
    fn message(&self, idx: &[usize], mut put: impl FnMut(&[u8])) {
        put(JOB_KEY_DOMAIN);
        put(&self.set);
        for (values, &i) in self.values.iter().zip(idx) {
            if let Some(b) = values.get(i) {
                put(b);
            }
        }
        let repeat = idx.get(self.values.len()).map_or(0, |r| *r as u64);
        put(&(repeat + 1).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::{InputVar, ResultVar};

    /// The key by its definition: the job's index unravelled, and the
    /// message streamed piece by piece into a hasher.
    fn streamed(keyer: &JobKeyer, sweep: &Sweep, linear: usize) -> JobKey {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(JOB_KEY_DOMAIN);
        h.update(&keyer.set);
        let idx = crate::jobs::unravel(linear, sweep.shape());
        for (values, &i) in keyer.values.iter().zip(&idx) {
            h.update(&values[i]);
        }
        let repeat = idx.get(keyer.values.len()).map_or(0, |r| *r as u64);
        h.update(&(repeat + 1).to_le_bytes());
        let mut k = [0; 32];
        k[..16].copy_from_slice(&keyer.set);
        k[16..].copy_from_slice(&h.digest128().to_le_bytes());
        JobKey(k)
    }

    fn every_key_matches(sweep: &Sweep, on_stack: bool) {
        let keyer = JobKeyer::new(sweep);
        let jobs: usize = sweep.shape().iter().product();
        let longest = (0..jobs)
            .map(|j| {
                let mut len = 0;
                let idx = crate::jobs::unravel(j, sweep.shape());
                keyer.message(&idx, |b| len += b.len());
                len
            })
            .max()
            .unwrap();
        assert_eq!(longest <= MESSAGE_ON_STACK, on_stack);
        assert_eq!(keyer.on_stack, on_stack);
        assert!(jobs > 1);
        for j in 0..jobs {
            assert_eq!(keyer.key(sweep, j), streamed(&keyer, sweep, j), "job {j}");
        }
    }

    #[test]
    fn keys_of_a_range_are_each_jobs_key() {
        // 4 x 3 x 250 repeats = 3,000 jobs: ranges that start inside the
        // grid, cross axes and span several runs of KEY_RUN jobs.
        let sweep = Sweep::builder("k")
            .input(InputVar::int_range("a", 1, 4))
            .input(InputVar::labels("b", ["x", "y", "z"]))
            .result(ResultVar::float("t"))
            .repeats(250)
            .build()
            .unwrap();
        let keyer = JobKeyer::new(&sweep);
        let mut out = vec![JobKey([7; 32]); 5];
        for range in [0..3000, 1..2, 249..251, 999..2100, 2999..3000, 5..5] {
            keyer.keys_into(&sweep, range.clone(), &mut out);
            assert_eq!(out.len(), range.len());
            for (k, j) in out.iter().zip(range.clone()) {
                assert_eq!(*k, keyer.key(&sweep, j), "job {j} of {range:?}");
            }
        }
    }

    #[test]
    fn gathered_message_hashes_as_the_streamed_one() {
        let short = Sweep::builder("k")
            .input(InputVar::float_samples("a", 0.0, 1.0, 3))
            .input(InputVar::labels("algo", ["fast", "slow"]))
            .input(InputVar::int_range("n", 1, 4))
            .result(ResultVar::float("t"))
            .repeats(3)
            .build()
            .unwrap();
        every_key_matches(&short, true);
    }

    #[test]
    fn a_message_longer_than_the_stack_buffer_takes_the_heap() {
        let long = "x".repeat(MESSAGE_ON_STACK + 7);
        let sweep = Sweep::builder("k")
            .input(InputVar::labels("name", [long.as_str(), "short"]))
            .input(InputVar::float_samples("a", 0.0, 1.0, 2))
            .result(ResultVar::float("t"))
            .repeats(2)
            .build()
            .unwrap();
        every_key_matches(&sweep, false);
    }
}
