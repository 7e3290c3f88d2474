//! Job records: what the store loop records about every finished job,
//! how a run reuses them (resume, a grown grid, a merge of shards), and
//! which jobs a shard of a run takes. No I/O: the store behind the records
//! is a [`JobLog`], implemented elsewhere (the cache).

use std::fmt;
use std::str::FromStr;

use crate::dataset::{ColumnData, Dataset};
use crate::keys::JobKey;
use crate::result::FailureKind;

/// One cell of a recorded job: a float column's value or a text column's.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedCell {
    /// A float cell (float, bool and vec results).
    F64(f64),
    /// A text cell that names no file (string and path results).
    Text(String),
    /// A media file's path (image, video and recording results): kept
    /// from deletion while a record names it.
    Media(String),
    /// A blob's name: kept from deletion while a record names it.
    Blob(String),
}

impl RecordedCell {
    /// The text of a text, media or blob cell.
    pub fn text(&self) -> Option<&str> {
        match self {
            RecordedCell::F64(_) => None,
            RecordedCell::Text(t) | RecordedCell::Media(t) | RecordedCell::Blob(t) => Some(t),
        }
    }

    /// The cell as borrowed.
    pub fn as_ref(&self) -> CellRef<'_> {
        match self {
            RecordedCell::F64(x) => CellRef::F64(*x),
            RecordedCell::Text(t) => CellRef::Text(t),
            RecordedCell::Media(t) => CellRef::Media(t),
            RecordedCell::Blob(t) => CellRef::Blob(t),
        }
    }
}

/// What a recorded job ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordedOutcome {
    /// It succeeded: one cell per column of the sweep's results, in
    /// column order.
    Done(Vec<RecordedCell>),
    /// It failed.
    Failed {
        /// How.
        kind: FailureKind,
        /// What happened.
        message: String,
    },
}

/// One finished job, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// Wall time of the job, in nanoseconds: from the end of the job
    /// before it on the same worker thread (or the start of that thread's
    /// run of jobs) to the end of its worker call. One clock read per job;
    /// it includes the loop's own tens of nanoseconds between two jobs.
    pub duration_ns: u64,
    /// How it ended.
    pub outcome: RecordedOutcome,
}

impl JobRecord {
    /// Whether the job succeeded.
    pub fn is_done(&self) -> bool {
        matches!(self.outcome, RecordedOutcome::Done(_))
    }
}

/// A borrowed cell of a job that just ran, read from the dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellRef<'a> {
    /// A float cell.
    F64(f64),
    /// A text cell that names no file.
    Text(&'a str),
    /// A media file's path.
    Media(&'a str),
    /// A blob's name.
    Blob(&'a str),
}

impl CellRef<'_> {
    /// The cell as owned.
    pub fn to_owned(self) -> RecordedCell {
        match self {
            CellRef::F64(x) => RecordedCell::F64(x),
            CellRef::Text(t) => RecordedCell::Text(t.to_string()),
            CellRef::Media(t) => RecordedCell::Media(t.to_string()),
            CellRef::Blob(t) => RecordedCell::Blob(t.to_string()),
        }
    }
}

/// How a job that just ran ended, borrowed from the result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutcomeRef<'a> {
    /// It succeeded; its cells are [`JobBatch::cells`].
    Done,
    /// It failed.
    Failed {
        /// How.
        kind: FailureKind,
        /// What happened.
        message: &'a str,
    },
}

/// The jobs of one stored batch that ran (not those reused or skipped),
/// for a [`JobLog`] to record in one write.
#[derive(Debug)]
pub struct JobBatch<'a> {
    pub(crate) keys: &'a [JobKey],
    pub(crate) jobs: &'a [usize],
    pub(crate) durations: &'a [u64],
    pub(crate) failures: &'a [Option<(FailureKind, &'a str)>],
    pub(crate) replaces: &'a [Option<bool>],
    /// The dataset's recorded columns, each as one slice (resolved once
    /// per batch: checking a column's layout per cell cost a tenth of the
    /// record loop).
    pub(crate) columns: Vec<BatchColumn<'a>>,
}

/// One recorded column of a batch's dataset, as a slice of its cells in
/// job order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BatchColumn<'a> {
    F64(&'a [f64]),
    Text(&'a [String], crate::sweep::ResultKind),
}

impl<'a> BatchColumn<'a> {
    /// The recorded columns of `dataset` (an integer column, the
    /// in-memory index of a reference, is never recorded; a column not in
    /// standard layout is left out, as it cannot be one of a result's).
    pub(crate) fn of(dataset: &'a Dataset) -> Vec<BatchColumn<'a>> {
        dataset
            .columns()
            .iter()
            .filter_map(|c| match &c.data {
                ColumnData::F64(a) => a.as_slice().map(BatchColumn::F64),
                ColumnData::Text(a) => a.as_slice().map(|s| BatchColumn::Text(s, c.kind)),
                ColumnData::I64(_) => None,
            })
            .collect()
    }

    fn cell(self, job: usize) -> Option<CellRef<'a>> {
        match self {
            BatchColumn::F64(s) => s.get(job).map(|x| CellRef::F64(*x)),
            BatchColumn::Text(s, kind) => s.get(job).map(|t| {
                if kind == crate::sweep::ResultKind::Blob {
                    CellRef::Blob(t.as_str())
                } else if kind.is_media() {
                    CellRef::Media(t.as_str())
                } else {
                    CellRef::Text(t.as_str())
                }
            }),
        }
    }
}

impl<'a> JobBatch<'a> {
    /// The number of jobs.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key of the `i`-th job.
    pub fn key(&self, i: usize) -> &JobKey {
        &self.keys[i]
    }

    /// The linear index of the `i`-th job in the grid.
    pub fn job(&self, i: usize) -> usize {
        self.jobs[i]
    }

    /// The `i`-th job's wall time, in nanoseconds (as
    /// [`JobRecord::duration_ns`]).
    pub fn duration_ns(&self, i: usize) -> u64 {
        self.durations[i]
    }

    /// Whether the `i`-th job's record replaces one: `Some(true)` when the
    /// run found a record of it (a failure run again), `Some(false)` when
    /// it looked and found none, `None` when it did not look (no reuse).
    pub fn replaces(&self, i: usize) -> Option<bool> {
        self.replaces.get(i).copied().flatten()
    }

    /// How the `i`-th job ended.
    pub fn outcome(&self, i: usize) -> OutcomeRef<'a> {
        match self.failures[i] {
            None => OutcomeRef::Done,
            Some((kind, message)) => OutcomeRef::Failed { kind, message },
        }
    }

    /// The cells of the `i`-th job, one per column in column order (the
    /// in-memory index of a reference column is never recorded: a sweep
    /// with reference results records failures only).
    pub fn cells(&self, i: usize) -> impl Iterator<Item = CellRef<'a>> + Clone + '_ {
        let job = self.jobs[i];
        self.columns.iter().filter_map(move |c| c.cell(job))
    }
}

/// Where the store loop records finished jobs and finds recorded ones.
/// Implemented by the cache; errors are the store's, boxed.
pub trait JobLog: Sync {
    /// The records of `keys`, in order: `None` for a job never recorded,
    /// or whose record cannot be read (it reruns).
    fn lookup(&self, keys: &[JobKey]) -> Result<Vec<Option<JobRecord>>, BoxError>;
    /// Records the jobs of one stored batch, in one write.
    fn record(&self, batch: &JobBatch<'_>) -> Result<(), BoxError>;
    /// Called on another thread while a batch is stored, before its
    /// [`record`](Self::record): `jobs` jobs ran and will be recorded. A
    /// log may get its buffers ready; the default does nothing.
    fn prepare(&self, jobs: usize) {
        let _ = jobs;
    }
}

/// An error of a [`JobLog`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which recorded jobs a run takes instead of calling the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Reuse {
    /// Run every job (the default). Finished jobs are still recorded,
    /// replacing older records.
    #[default]
    Off,
    /// Take recorded successes; rerun recorded failures and run jobs
    /// with no record (a crashed run, a grown grid).
    Resume,
    /// Take recorded successes and rerun recorded failures only; jobs
    /// with no record are skipped (left unattempted).
    RetryFailed,
    /// Take every record as it is, successes and failures, and run
    /// nothing: jobs with no record are skipped. What a merge of shards
    /// does.
    Replay,
}

impl Reuse {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Reuse::Off => "off",
            Reuse::Resume => "resume",
            Reuse::RetryFailed => "retry-failed",
            Reuse::Replay => "replay",
        }
    }
}

/// How jobs are dealt to shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShardAssign {
    /// By the job key's hash: a job keeps its shard when the grid grows.
    #[default]
    Hash,
    /// Round-robin over the canonical (row-major) order: the most even
    /// split, but a grown grid moves jobs between shards.
    RoundRobin,
}

/// One shard of a run: the jobs this machine takes. `k` is 1-based.
///
/// ```
/// use collector_core::Shard;
/// let s: Shard = "2/4".parse()?;
/// assert_eq!((s.k(), s.n()), (2, 4));
/// assert!("0/4".parse::<Shard>().is_err());
/// assert!("5/4".parse::<Shard>().is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    k: u32,
    n: u32,
    assign: ShardAssign,
}

impl Shard {
    /// Shard `k` of `n` (1 ≤ k ≤ n), dealt by hash. An error names the
    /// bound that failed.
    pub fn new(k: u32, n: u32) -> Result<Self, String> {
        if n == 0 {
            return Err(format!("shard {k}/{n}: the shard count must be at least 1"));
        }
        if k == 0 || k > n {
            return Err(format!(
                "shard {k}/{n}: the shard number must be between 1 and {n} (shards are 1-based)"
            ));
        }
        Ok(Shard {
            k,
            n,
            assign: ShardAssign::Hash,
        })
    }

    /// The same shard, dealt by `assign`.
    pub fn assign(mut self, assign: ShardAssign) -> Self {
        self.assign = assign;
        self
    }

    /// The shard number, 1-based.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// The number of shards.
    pub fn n(&self) -> u32 {
        self.n
    }

    /// How jobs are dealt.
    pub fn assignment(&self) -> ShardAssign {
        self.assign
    }

    /// The shard (1-based) of the job at `linear` with key `key`.
    pub fn shard_of(&self, linear: usize, key: &JobKey) -> u32 {
        let n = u64::from(self.n);
        let r = match self.assign {
            ShardAssign::Hash => key.shard_hash() % n,
            ShardAssign::RoundRobin => (linear as u64) % n,
        };
        // r < n ≤ u32::MAX.
        u32::try_from(r).unwrap_or(0) + 1
    }

    /// Whether this shard takes the job at `linear` with key `key`.
    pub fn takes(&self, linear: usize, key: &JobKey) -> bool {
        self.shard_of(linear, key) == self.k
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard `{s}`: expected K/N, such as 1/4"))?;
        let num = |t: &str, what: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|e| format!("shard `{s}`: the {what} `{t}` is not a number: {e}"))
        };
        Shard::new(num(k, "shard number")?, num(n, "shard count")?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// What a run did with each job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Jobs taken from their record, the worker not called.
    pub reused: usize,
    /// Jobs recorded as failed, or whose record does not fit the result,
    /// run again.
    pub rerun: usize,
    /// Jobs with no record, run. A corrupt record counts as none (it is
    /// logged and skipped), so its job is new.
    pub new: usize,
    /// Jobs not attempted: another shard's, or with no record under
    /// [`Reuse::RetryFailed`] or [`Reuse::Replay`].
    pub skipped: usize,
    /// Jobs recorded by this run (those that ran, when a log is present).
    pub recorded: usize,
}

impl JobCounts {
    /// Jobs whose worker ran.
    pub fn ran(&self) -> usize {
        self.rerun + self.new
    }
}

impl fmt::Display for JobCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} reused, {} rerun, {} new",
            self.reused, self.rerun, self.new
        )?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}
