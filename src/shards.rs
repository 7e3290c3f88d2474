//! Sharded runs: the manifest a shard writes, and the merge of shards run
//! on other machines into one result and one history event.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use collector_cache::ShardManifest;
use collector_core::{
    JobCounts, JobKey, JobRecord, RecordedCell, RecordedOutcome, Reuse, RunOptions, Shard,
    ShardAssign, Sweep, SweepResult, TimeSrc, grid_hash, job_set, to_hex,
};

use collector_media::MediaRoot;

use crate::{CacheDir, Error, Result, ResultCollector, RunReport};

/// The manifest of a finished shard run.
pub(crate) fn manifest(
    sweep: &Sweep,
    shard: Shard,
    jobs: &JobCounts,
    result: &SweepResult,
) -> ShardManifest {
    ShardManifest {
        sweep: sweep.spec(),
        job_set: to_hex(&job_set(sweep)),
        grid_hash: grid_hash(sweep),
        version: sweep.version().to_string(),
        k: shard.k(),
        n: shard.n(),
        assign: assign_name(shard.assignment()).to_string(),
        host: host_name(),
        time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        jobs: (jobs.reused + jobs.ran()) as u64,
        failed: result.stats.failed as u64,
    }
}

fn assign_name(a: ShardAssign) -> &'static str {
    match a {
        ShardAssign::Hash => "hash",
        ShardAssign::RoundRobin => "round-robin",
    }
}

/// The assignment a manifest names.
fn assign_of(name: &str) -> Option<ShardAssign> {
    [ShardAssign::Hash, ShardAssign::RoundRobin]
        .into_iter()
        .find(|&a| assign_name(a) == name)
}

/// The jobs no record covers, with their shard, in job order.
fn unrecorded_jobs<R>(
    sweep: &Sweep,
    chosen: &[(&PathBuf, &ShardManifest)],
    records: &HashMap<JobKey, R>,
) -> Result<Vec<(usize, u32)>> {
    let Some((d0, m0)) = chosen.first() else {
        return Ok(Vec::new());
    };
    let assign = assign_of(&m0.assign).ok_or_else(|| {
        merge_err(format!(
            "the manifest of shard {}/{} in {} names an unknown assignment `{}`",
            m0.k,
            m0.n,
            d0.display(),
            m0.assign
        ))
    })?;
    let shard = Shard::new(m0.k, m0.n)
        .map_err(|e| merge_err(format!("the manifest in {}: {e}", d0.display())))?
        .assign(assign);
    let keyer = collector_core::JobKeyer::new(sweep);
    Ok((0..sweep.job_count())
        .filter_map(|j| {
            let key = keyer.key(sweep, j);
            (!records.contains_key(&key)).then(|| (j, shard.shard_of(j, &key)))
        })
        .collect())
}

/// This machine's name, for the manifest: the kernel's host name, else
/// `$HOSTNAME`, else "unknown".
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// How many of `sweep`'s jobs `shard` takes (computes every job's key:
/// cheap next to running them).
///
/// ```
/// use result_collector::{shard_size, InputVar, ResultVar, Sweep};
/// use result_collector::model::Shard;
/// let sweep = Sweep::builder("s").input(InputVar::int_range("n", 1, 100))
///     .result(ResultVar::float("t")).build()?;
/// let sizes: Vec<usize> = (1..=4).map(|k| shard_size(&sweep, Shard::new(k, 4).unwrap())).collect();
/// assert_eq!(sizes.iter().sum::<usize>(), 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn shard_size(sweep: &Sweep, shard: Shard) -> usize {
    let keyer = collector_core::JobKeyer::new(sweep);
    (0..sweep.job_count())
        .filter(|&j| shard.takes(j, &keyer.key(sweep, j)))
        .count()
}

/// What [`ResultCollector::merge`] takes.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// The sweep to merge, by name, when the shard directories hold
    /// shards of more than one sweep.
    pub sweep: Option<String>,
    /// Merge even when some of shards 1..=n are missing, or some jobs of
    /// the shards present have no record: their cells stay at their
    /// sentinels, and [`MergeReport::missing_shards`] and
    /// [`MergeReport::empty_jobs`] name them.
    pub partial: bool,
    /// The merged run's `over_time` coordinate (its history event).
    pub time_src: TimeSrc,
    /// The merged run's options (history, regressions, threads). Reuse and
    /// shard are set by the merge.
    pub run: RunOptions,
}

/// What a merge did.
#[derive(Debug)]
pub struct MergeReport {
    /// The merged run: its result, history event and regression check.
    pub run: RunReport,
    /// The shards merged: number and directory.
    pub shards: Vec<(u32, PathBuf)>,
    /// The shard numbers that were missing (only with `partial`).
    pub missing_shards: Vec<u32>,
    /// The jobs (linear indices, in order) no shard recorded, left at
    /// their sentinels (only with `partial`): those of missing shards,
    /// and those of shards present whose records were removed, evicted
    /// or unreadable.
    pub empty_jobs: Vec<usize>,
    /// The job records imported.
    pub imported: usize,
    /// The media files and blobs copied from the shards' media roots.
    pub copied_files: usize,
}

/// The shards found in one directory.
struct Found {
    dir: PathBuf,
    manifests: Vec<ShardManifest>,
}

impl ResultCollector {
    /// Merges shard runs: `shard_dirs` are the cache directories the shards
    /// wrote (one per machine; this collector's own directory may be one
    /// of them). Checks that every shard is of the same sweep, version,
    /// grid and shard count, that shards 1..=n are all there and every
    /// job of theirs has its record (unless `partial`), and that no job
    /// has two different results. Then imports
    /// every job record into this cache and assembles the result from
    /// them, as one run would: it is stored, and it becomes one history
    /// event (with the regression check `opts.run` asks for).
    ///
    /// No worker runs: a job no shard recorded is left unattempted. The
    /// media files and blobs the records name are copied from the shards'
    /// media roots first.
    pub fn merge(&self, shard_dirs: &[PathBuf], opts: &MergeOptions) -> Result<MergeReport> {
        if shard_dirs.is_empty() {
            return Err(merge_err("no shard directories given"));
        }
        let own = canonical(self.dir.root());
        // Each shard's cache is opened once, kept for its records.
        let mut opened: HashMap<PathBuf, ResultCollector> = HashMap::new();
        let mut found = Vec::new();
        for dir in shard_dirs {
            let manifests = if canonical(dir) == own {
                self.cache()?.shard_manifests()?
            } else {
                let other = match opened.remove(&canonical(dir)) {
                    Some(c) => c,
                    None => ResultCollector::open_existing(CacheDir::new(dir))?,
                };
                let m = other.cache()?.shard_manifests()?;
                opened.insert(canonical(dir), other);
                m
            };
            found.push(Found {
                dir: dir.clone(),
                manifests,
            });
        }
        let (sweep, chosen) = choose(&found, opts.sweep.as_deref())?;
        let n = chosen[0].1.n;
        let present: BTreeSet<u32> = chosen.iter().map(|(_, m)| m.k).collect();
        let missing: Vec<u32> = (1..=n).filter(|k| !present.contains(k)).collect();
        if !missing.is_empty() && !opts.partial {
            return Err(merge_err(format!(
                "shard(s) {} of {n} of sweep `{}` are missing from {}; pass --partial to merge without them",
                list(&missing),
                sweep.name(),
                dirs_text(shard_dirs)
            )));
        }
        // Gather every record, refusing a job with two results.
        let set = job_set(&sweep);
        let mut records: HashMap<JobKey, (JobRecord, u32, PathBuf)> = HashMap::new();
        let mut dirs_read: BTreeSet<PathBuf> = BTreeSet::new();
        for (dir, m) in &chosen {
            if !dirs_read.insert(canonical(dir)) {
                continue;
            }
            let recs = match opened.get(&canonical(dir)) {
                Some(other) => other.cache()?.job_records(&set)?,
                None => self.cache()?.job_records(&set)?,
            };
            for (k, r) in recs {
                if let Some((old, ok, odir)) = records.get(&k) {
                    if !same_outcome(old, &r) {
                        return Err(merge_err(format!(
                            "job {} has two different results: shard {ok} in {} and shard {} in {}",
                            k.hex(),
                            odir.display(),
                            m.k,
                            dir.display()
                        )));
                    }
                    continue;
                }
                records.insert(k, (r, m.k, (*dir).clone()));
            }
        }
        // Every job of a shard present must have its record: one removed,
        // evicted or unreadable would merge as an empty cell.
        let unrecorded = unrecorded_jobs(&sweep, &chosen, &records)?;
        let lost: Vec<(usize, u32)> = unrecorded
            .iter()
            .copied()
            .filter(|(_, k)| present.contains(k))
            .collect();
        if let Some(&(job, k)) = lost.first()
            && !opts.partial
        {
            let shards: BTreeSet<u32> = lost.iter().map(|&(_, k)| k).collect();
            return Err(merge_err(format!(
                "{} job{} of shard(s) {} of sweep `{}` {} no record in {} (removed, evicted or \
                 unreadable; the first is job {job} ({}) of shard {k}); rerun {} with --resume, \
                 or pass --partial to merge without them",
                lost.len(),
                if lost.len() == 1 { "" } else { "s" },
                list(&shards.iter().copied().collect::<Vec<_>>()),
                sweep.name(),
                if lost.len() == 1 { "has" } else { "have" },
                dirs_text(shard_dirs),
                collector_core::format_inputs(&collector_core::Sample::new(&sweep, job).inputs()),
                if shards.len() == 1 {
                    "that shard"
                } else {
                    "those shards"
                },
            )));
        }
        // The files the records name come first (a crash in between
        // leaves orphans for the GC, never a record naming a missing file).
        let copied = self.copy_named_files(&records, &own)?;
        let mut all: Vec<(JobKey, JobRecord)> =
            records.into_iter().map(|(k, (r, _, _))| (k, r)).collect();
        all.sort_by_key(|(k, _)| *k);
        let db = self.cache()?;
        db.import_job_records(sweep.name(), &set, &all)?;
        let run_opts = RunOptions {
            reuse: Reuse::Replay,
            shard: None,
            ..opts.run.clone()
        };
        let run = self.run_with(&sweep, &opts.time_src, &run_opts, false, |s| {
            Err::<collector_core::Outputs, _>(format!(
                "job {} was recorded by no shard (replay runs no worker)",
                s.job()
            ))
        })?;
        let mut shards: Vec<(u32, PathBuf)> =
            chosen.iter().map(|(d, m)| (m.k, (*d).clone())).collect();
        shards.sort();
        Ok(MergeReport {
            run,
            shards,
            missing_shards: missing,
            empty_jobs: unrecorded.into_iter().map(|(j, _)| j).collect(),
            imported: all.len(),
            copied_files: copied,
        })
    }

    /// Copies the media files and blobs the records name from their
    /// shard's media root into this cache's, when missing here. A file a
    /// shard names but does not hold is logged. Returns the files copied.
    fn copy_named_files(
        &self,
        records: &HashMap<JobKey, (JobRecord, u32, PathBuf)>,
        own: &Path,
    ) -> Result<usize> {
        let dst = self.media_root()?;
        let mut roots: HashMap<PathBuf, Option<MediaRoot>> = HashMap::new();
        let mut copied = 0;
        for (rec, k, dir) in records.values() {
            let RecordedOutcome::Done(cells) = &rec.outcome else {
                continue;
            };
            if canonical(dir) == own {
                continue;
            }
            let src = roots
                .entry(dir.clone())
                .or_insert_with(|| {
                    let media = CacheDir::new(dir).media();
                    media
                        .is_dir()
                        .then(|| MediaRoot::new(&media).ok())
                        .flatten()
                })
                .as_ref();
            let Some(src) = src else { continue };
            for cell in cells {
                let (from, to) = match cell {
                    RecordedCell::Media(t) => (src.resolve(t), dst.resolve(t)),
                    RecordedCell::Blob(t) => (src.blob_path(t).ok(), dst.blob_path(t).ok()),
                    _ => continue,
                };
                let (Some(from), Some(to)) = (from, to) else {
                    continue;
                };
                if to.exists() {
                    continue;
                }
                if !from.is_file() {
                    tracing::warn!(shard = k, file = %from.display(),
                        "a job record names a file its shard does not hold");
                    continue;
                }
                copy_file(&from, &to)?;
                copied += 1;
            }
        }
        Ok(copied)
    }
}

/// Copies `from` to `to` through a temporary file in `to`'s directory,
/// renamed into place (no half-copied file under the final name).
fn copy_file(from: &Path, to: &Path) -> Result<()> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { what, path, source }
    };
    let parent = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("creating the directory", parent))?;
    let tmp = parent.join(format!(
        ".{}.merge-tmp",
        to.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    ));
    let copied = std::fs::copy(from, &tmp)
        .map(|_| ())
        .map_err(|source| Error::Io {
            what: "copying a shard's file",
            path: from.to_path_buf(),
            source: std::io::Error::new(source.kind(), format!("to {}: {source}", to.display())),
        })
        .and_then(|()| std::fs::rename(&tmp, to).map_err(io("renaming into place", to)));
    if copied.is_err() {
        // A full disk or an unreadable file: no half copy is left.
        let _ = std::fs::remove_file(&tmp);
    }
    copied
}

fn merge_err(message: impl Into<String>) -> Error {
    Error::Merge {
        message: message.into(),
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

fn list(ks: &[u32]) -> String {
    ks.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn dirs_text(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether two records of one job hold the same result (their durations
/// aside; floats compared by their bits).
fn same_outcome(a: &JobRecord, b: &JobRecord) -> bool {
    match (&a.outcome, &b.outcome) {
        (RecordedOutcome::Done(x), RecordedOutcome::Done(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| match (p, q) {
                    (RecordedCell::F64(p), RecordedCell::F64(q)) => p.to_bits() == q.to_bits(),
                    (p, q) => p == q,
                })
        }
        (
            RecordedOutcome::Failed { kind, message },
            RecordedOutcome::Failed {
                kind: k2,
                message: m2,
            },
        ) => kind == k2 && message == m2,
        _ => false,
    }
}

/// Picks the sweep to merge and checks that its shards belong together;
/// returns the sweep and each shard's directory and manifest.
fn choose<'a>(
    found: &'a [Found],
    name: Option<&str>,
) -> Result<(Sweep, Vec<(&'a PathBuf, &'a ShardManifest)>)> {
    let mut chosen: Vec<(&PathBuf, &ShardManifest)> = Vec::new();
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for f in found {
        if f.manifests.is_empty() {
            return Err(merge_err(format!(
                "{} holds no shard manifest (was it run with --shard K/N?)",
                f.dir.display()
            )));
        }
        for m in &f.manifests {
            names.insert(m.sweep.name.as_str());
            if name.is_none_or(|n| n == m.sweep.name) {
                chosen.push((&f.dir, m));
            }
        }
    }
    if chosen.is_empty() {
        return Err(merge_err(format!(
            "no shard of sweep `{}` (found: {})",
            name.unwrap_or_default(),
            names.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    if name.is_none() && names.len() > 1 {
        return Err(merge_err(format!(
            "the directories hold shards of several sweeps ({}); choose one with --sweep",
            names.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    // The first shard is the reference; every other must agree.
    let (d0, m0) = chosen[0];
    let describe = |d: &PathBuf, m: &ShardManifest| {
        format!("shard {}/{} in {} (host {})", m.k, m.n, d.display(), m.host)
    };
    for &(d, m) in &chosen[1..] {
        let differs = [
            (m.version != m0.version)
                .then(|| format!("code version `{}` against `{}`", m.version, m0.version)),
            (m.n != m0.n).then(|| format!("{} shards against {}", m.n, m0.n)),
            (m.grid_hash != m0.grid_hash)
                .then(|| "another grid (input values or repeats)".to_string()),
            // The job set hashes the version too: told apart above.
            (m.job_set != m0.job_set && m.version == m0.version)
                .then(|| "another sweep identity (tag, inputs, results or constants)".to_string()),
            (m.assign != m0.assign)
                .then(|| format!("assignment `{}` against `{}`", m.assign, m0.assign)),
        ];
        let why: Vec<String> = differs.into_iter().flatten().collect();
        if !why.is_empty() {
            return Err(merge_err(format!(
                "{} does not belong with {}: {}",
                describe(d, m),
                describe(d0, m0),
                why.join("; ")
            )));
        }
    }
    // Two different runs of the same shard number: the newest is kept.
    let mut by_k: BTreeMap<u32, (&PathBuf, &ShardManifest)> = BTreeMap::new();
    for (d, m) in chosen {
        match by_k.get(&m.k) {
            Some((_, old)) if old.time_ms >= m.time_ms => {}
            _ => {
                by_k.insert(m.k, (d, m));
            }
        }
    }
    let sweep = m0.sweep.clone().build().map_err(|e| {
        merge_err(format!(
            "the sweep in the manifest of {} does not build: {e}",
            describe(d0, m0)
        ))
    })?;
    if to_hex(&job_set(&sweep)) != m0.job_set || grid_hash(&sweep) != m0.grid_hash {
        return Err(merge_err(format!(
            "the manifest of {} does not match its own sweep (written by another version of result-collector?)",
            describe(d0, m0)
        )));
    }
    Ok((sweep, by_k.into_values().collect()))
}
