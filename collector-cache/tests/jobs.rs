//! Job records in the cache: recorded by the store loop, reused across
//! opens, corrupt ones rerun, counted once, removable, evicted with
//! results, and named files kept.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use collector_cache::{CacheDb, CacheOptions, ShardManifest};
use collector_core::{
    InputVar, JobKeyer, ResultVar, Reuse, RunOptions, Sweep, SweepResult, TimeSrc, grid_hash,
    job_set, run_sweep_logged, setup_dataset,
};
use util::{open, peek, poke};

fn sweep(values: &[i64]) -> Sweep {
    Sweep::builder("jobs")
        .input(InputVar::int_values("n", values.to_vec()))
        .result(ResultVar::float("sq"))
        .result(ResultVar::image("img"))
        .repeats(2)
        .build()
        .unwrap()
}

fn fresh(s: &Sweep) -> SweepResult {
    setup_dataset(s, &TimeSrc::Label("t".into()))
        .unwrap()
        .result
}

/// Runs `s` with reuse `reuse` on `db`; returns the worker's calls.
fn run(db: &CacheDb, s: &Sweep, reuse: Reuse) -> (SweepResult, usize) {
    run_batched(db, s, reuse, 4)
}

/// [`run`] with batches of `batch` jobs.
fn run_batched(db: &CacheDb, s: &Sweep, reuse: Reuse, batch: usize) -> (SweepResult, usize) {
    let calls = AtomicUsize::new(0);
    let mut r = fresh(s);
    let log = db.job_log(s).unwrap();
    let opts = RunOptions {
        threads: Some(2),
        batch,
        reuse,
        ..RunOptions::default()
    };
    run_sweep_logged(&mut r, &opts, Some(&log), |x| {
        calls.fetch_add(1, Ordering::Relaxed);
        let n = x.get::<i64>("n")?;
        #[allow(clippy::cast_precision_loss, reason = "small")]
        let v = (n * n) as f64 + x.repeat() as f64;
        Ok::<_, collector_core::Error>(
            x.outputs()
                .with("sq", v)
                .with("img", format!("image/img/{n}-{}.png", x.repeat())),
        )
    })
    .unwrap();
    (r, calls.into_inner())
}

#[test]
fn records_survive_a_reopen_and_a_resume_calls_no_worker() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2, 3]);
    let db = open(dir.path());
    let (first, calls) = run(&db, &s, Reuse::Off);
    assert_eq!(calls, 6);
    drop(db);
    let db = open(dir.path());
    let (again, calls) = run(&db, &s, Reuse::Resume);
    assert_eq!(calls, 0);
    assert_eq!(again.dataset, first.dataset);
    let t = db.job_totals().unwrap();
    assert_eq!((t.sets, t.records), (1, 6));
}

#[test]
fn a_rerun_replaces_records_and_counts_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2, 3]);
    let db = open(dir.path());
    run(&db, &s, Reuse::Off);
    let once = db.job_totals().unwrap();
    run(&db, &s, Reuse::Off);
    let twice = db.job_totals().unwrap();
    assert_eq!((once.sets, once.records), (twice.sets, twice.records));
    // The superseded records stay stored (and counted in bytes) until the
    // set is compacted.
    assert!(once.bytes > 6 * 16, "{once:?}");
    assert!(twice.bytes > once.bytes, "{once:?} then {twice:?}");
    // What is read back is the newest record of each job, once.
    assert_eq!(db.job_records(&job_set(&s)).unwrap().len(), 6);
    // A grown grid adds only its new jobs.
    run(&db, &sweep(&[1, 2, 3, 4]), Reuse::Resume);
    assert_eq!(db.job_totals().unwrap().records, 8);
}

/// The stored key of chunk `n` of job set `set`.
fn chunk_key(set: [u8; 16], n: u64) -> Vec<u8> {
    let mut k = set.to_vec();
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// The entries of a stored chunk (version 2): each job (second half of
/// its key), the offset of its record and the record's bytes.
fn entries(chunk: &[u8]) -> Vec<([u8; 16], usize, Vec<u8>)> {
    assert_eq!(&chunk[..3], b"RC\x02");
    let n = u32::from_le_bytes(chunk[3..7].try_into().unwrap()) as usize;
    let mut at = 7;
    let mut out = Vec::new();
    for _ in 0..n {
        let job: [u8; 16] = chunk[at..at + 16].try_into().unwrap();
        let mut rest = &chunk[at + 16..];
        let before = rest.len();
        let len = leb128::read::unsigned(&mut rest).unwrap() as usize;
        let start = at + 16 + (before - rest.len());
        out.push((job, start, chunk[start..start + len].to_vec()));
        at = start + len;
    }
    assert_eq!(at, chunk.len());
    out
}

/// Replaces each stored chunk of job set `set` in the cache in `dir`, in
/// order, by what `rewrite` makes of it (`None` deletes it); returns how
/// many there were.
fn each_chunk(
    dir: &std::path::Path,
    set: [u8; 16],
    mut rewrite: impl FnMut(Vec<u8>) -> Option<Vec<u8>>,
) -> u64 {
    let mut n = 0;
    while let Some(chunk) = peek(dir, "job_records", &chunk_key(set, n)) {
        poke(dir, "job_records", &chunk_key(set, n), rewrite(chunk));
        n += 1;
    }
    n
}

/// Marks the cache in `dir` as written by format `v`.
fn set_format(dir: &std::path::Path, v: u32) {
    poke(
        dir,
        "meta",
        b"format_version",
        Some(v.to_le_bytes().to_vec()),
    );
}

/// The bytes of `rec` in record version 1 (what format 5 wrote).
fn record_v1(rec: &[u8]) -> Vec<u8> {
    use collector_core::{RecordedCell, RecordedOutcome};
    let r = collector_cache::fuzzing::decode_job(rec).unwrap();
    let mut b = b"RJ\x01".to_vec();
    let RecordedOutcome::Done(cells) = r.outcome else {
        panic!("a failure: {r:?}")
    };
    b.push(0);
    b.extend_from_slice(&r.duration_ns.to_le_bytes());
    b.extend_from_slice(&(cells.len() as u32).to_le_bytes());
    for c in cells {
        let (tag, text) = match &c {
            RecordedCell::F64(x) => {
                b.push(0);
                b.extend_from_slice(&x.to_le_bytes());
                continue;
            }
            RecordedCell::Text(t) => (1, t),
            RecordedCell::Media(t) => (2, t),
            RecordedCell::Blob(t) => (3, t),
        };
        b.push(tag);
        b.extend_from_slice(&(text.len() as u32).to_le_bytes());
        b.extend_from_slice(text.as_bytes());
    }
    b
}

#[test]
fn a_corrupt_record_is_a_warning_and_its_job_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2]);
    let db = open(dir.path());
    let (first, _) = run(&db, &s, Reuse::Off);
    drop(db);
    // Four jobs, one batch of four: one chunk.
    let key = chunk_key(job_set(&s), 0);
    let mut chunk = peek(dir.path(), "job_records", &key).unwrap();
    assert!(peek(dir.path(), "job_records", &chunk_key(job_set(&s), 1)).is_none());
    let job = JobKeyer::new(&s).key(&s, 1);
    let (_, at, rec) = entries(&chunk)
        .into_iter()
        .find(|(j, _, _)| j[..] == job.0[16..])
        .unwrap();
    // A record status this build does not read, its framing kept.
    assert_eq!(chunk[at], rec[0]);
    chunk[at] = 9;
    poke(dir.path(), "job_records", &key, Some(chunk));
    let db = open(dir.path());
    let (again, calls) = run(&db, &s, Reuse::Resume);
    assert_eq!(calls, 1);
    assert_eq!(again.dataset, first.dataset);
    drop(db);
    // A chunk whose framing is corrupt: its jobs run again; nothing else
    // is lost (the record written by the resume is in a later chunk).
    poke(
        dir.path(),
        "job_records",
        &key,
        Some(b"RC\x02garbage".to_vec()),
    );
    let db = open(dir.path());
    let (again, calls) = run(&db, &s, Reuse::Resume);
    assert_eq!(calls, 3);
    assert_eq!(again.dataset, first.dataset);
    let (_, calls) = run(&db, &s, Reuse::Resume);
    assert_eq!(calls, 0);
}

#[test]
fn a_format_3_cache_is_upgraded_and_its_records_reused() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2, 3]);
    let db = open(dir.path());
    let (first, _) = run(&db, &s, Reuse::Off);
    let before = db.job_totals().unwrap();
    drop(db);
    // Back to the layout of format 3: one value per job, under its job key.
    let set = job_set(&s);
    let n = each_chunk(dir.path(), set, |chunk| {
        for (job, _, rec) in entries(&chunk) {
            let mut k = set.to_vec();
            k.extend_from_slice(&job);
            poke(dir.path(), "job_records", &k, Some(rec));
        }
        None
    });
    assert_eq!(n, 2, "six jobs in batches of four");
    set_format(dir.path(), 3);
    let db = open(dir.path());
    let t = db.job_totals().unwrap();
    assert_eq!((t.sets, t.records), (before.sets, before.records));
    let (again, calls) = run(&db, &s, Reuse::Resume);
    assert_eq!(calls, 0);
    assert_eq!(again.dataset, first.dataset);
    drop(db);
    assert!(peek(dir.path(), "job_records", &chunk_key(set, 0)).is_some());
    let mut old = set.to_vec();
    old.extend_from_slice(&JobKeyer::new(&s).key(&s, 0).0[16..]);
    assert!(peek(dir.path(), "job_records", &old).is_none());
}

#[test]
fn a_format_5_cache_of_version_1_chunks_is_upgraded_and_its_records_reused() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2, 3]);
    let db = open(dir.path());
    let (first, _) = run(&db, &s, Reuse::Off);
    drop(db);
    // Back to what format 5 wrote: chunk and record version 1.
    let n = each_chunk(dir.path(), job_set(&s), |chunk| {
        let e = entries(&chunk);
        let mut v1 = b"RC\x01".to_vec();
        v1.extend_from_slice(&(e.len() as u32).to_le_bytes());
        for (job, _, rec) in e {
            let rec = record_v1(&rec);
            v1.extend_from_slice(&job);
            v1.extend_from_slice(&(rec.len() as u32).to_le_bytes());
            v1.extend_from_slice(&rec);
        }
        Some(v1)
    });
    assert_eq!(n, 2, "six jobs in batches of four");
    set_format(dir.path(), 5);
    let db = open(dir.path());
    let (again, calls) = run(&db, &s, Reuse::Resume);
    assert_eq!(calls, 0, "every version-1 record is read and taken");
    assert_eq!(again.dataset, first.dataset);
    drop(db);
    assert_eq!(
        peek(dir.path(), "meta", b"format_version"),
        Some(collector_cache::FORMAT_VERSION.to_le_bytes().to_vec())
    );
}

#[test]
fn superseded_records_are_compacted_away() {
    let dir = tempfile::tempdir().unwrap();
    // 4,200 jobs: enough superseded entries to compact after a rerun.
    let s = sweep(&(0..2100).collect::<Vec<_>>());
    let db = open(dir.path());
    let (first, _) = run_batched(&db, &s, Reuse::Off, 512);
    let once = db.job_totals().unwrap();
    assert_eq!(once.records, 4200);
    for _ in 0..3 {
        run_batched(&db, &s, Reuse::Off, 512);
    }
    let after = db.job_totals().unwrap();
    assert_eq!(after.records, 4200);
    // Without compaction, four runs would store four times the bytes.
    assert!(after.bytes < 2 * once.bytes, "{once:?} then {after:?}");
    drop(db);
    let db = open(dir.path());
    let (again, calls) = run_batched(&db, &s, Reuse::Resume, 512);
    assert_eq!(calls, 0);
    assert_eq!(again.dataset, first.dataset);
}

#[test]
fn records_are_removable_per_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2]);
    let other = Sweep::builder("other")
        .input(InputVar::int_values("n", [1]))
        .result(ResultVar::float("sq"))
        .result(ResultVar::image("img"))
        .build()
        .unwrap();
    let db = open(dir.path());
    run(&db, &s, Reuse::Off);
    run(&db, &other, Reuse::Off);
    assert_eq!(db.remove_job_records("jobs").unwrap(), 4);
    assert_eq!(db.remove_job_records("jobs").unwrap(), 0);
    let sets = db.job_sets().unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].sweep, "other");
    assert!(db.job_records(&job_set(&s)).unwrap().is_empty());
    let (_, calls) = run(&db, &s, Reuse::Resume);
    assert_eq!(calls, 4);
}

#[test]
fn job_records_count_against_cache_size_and_are_evicted_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = CacheDb::open(
        dir.path(),
        CacheOptions {
            cache_size: Some(1500),
            ..CacheOptions::default()
        },
    )
    .unwrap();
    let a = sweep(&(0..10).collect::<Vec<_>>());
    run(&db, &a, Reuse::Off);
    db.put_shard_manifest(&manifest(&a, 1, 2)).unwrap();
    let before = db.job_totals().unwrap();
    assert_eq!(before.records, 20);
    // A second sweep's records push the total past the limit: the first
    // set (the least recently written) goes.
    let b = Sweep::builder("b")
        .input(InputVar::int_values("n", (0..10).collect::<Vec<_>>()))
        .result(ResultVar::float("sq"))
        .result(ResultVar::image("img"))
        .repeats(2)
        .build()
        .unwrap();
    run(&db, &b, Reuse::Off);
    let sets = db.job_sets().unwrap();
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].sweep, "b");
    assert!(db.job_records(&job_set(&a)).unwrap().is_empty());
    // Its manifest went with it: a merge would find its shard empty.
    assert!(db.shard_manifests().unwrap().is_empty());
}

#[test]
fn files_named_by_job_records_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1]);
    let db = open(dir.path());
    run(&db, &s, Reuse::Off);
    let candidates: BTreeSet<String> = ["image/img/1-1.png", "image/img/9-9.png"]
        .into_iter()
        .map(String::from)
        .collect();
    let still = db.files_still_named(&candidates).unwrap();
    assert_eq!(
        still.named.into_iter().collect::<Vec<_>>(),
        ["image/img/1-1.png"]
    );
    assert!(
        db.media_references()
            .unwrap()
            .paths
            .contains("image/img/1-2.png")
    );
}

/// The manifest of shard `k` of `n` of `s`.
fn manifest(s: &Sweep, k: u32, n: u32) -> ShardManifest {
    ShardManifest {
        sweep: s.spec(),
        job_set: job_set(s).iter().map(|b| format!("{b:02x}")).collect(),
        grid_hash: grid_hash(s),
        version: s.version().to_string(),
        k,
        n,
        assign: "hash".into(),
        host: "h".into(),
        time_ms: 5,
        jobs: 2,
        failed: 0,
    }
}

/// The (version, k, n) of every manifest stored, sorted.
fn manifests(db: &CacheDb) -> Vec<(String, u32, u32)> {
    let mut v: Vec<_> = db
        .shard_manifests()
        .unwrap()
        .into_iter()
        .map(|m| (m.version, m.k, m.n))
        .collect();
    v.sort();
    v
}

#[test]
fn a_new_sharding_plan_supersedes_the_manifests_of_its_sweep_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let v1 = sweep(&[1, 2]);
    let other = Sweep::builder("other")
        .input(InputVar::int_values("n", vec![1]))
        .result(ResultVar::float("sq"))
        .build()
        .unwrap();
    for k in 1..=2 {
        db.put_shard_manifest(&manifest(&v1, k, 2)).unwrap();
    }
    db.put_shard_manifest(&manifest(&other, 1, 1)).unwrap();
    assert_eq!(manifests(&db).len(), 3);
    // Another shard count of the same job set: the old plan goes.
    db.put_shard_manifest(&manifest(&v1, 1, 3)).unwrap();
    assert_eq!(
        manifests(&db),
        [(String::new(), 1, 1), (String::new(), 1, 3)]
    );
    // Another version of the same sweep name (another job set): its old
    // manifests go; another sweep's stay.
    let v2 = Sweep::builder("jobs")
        .input(InputVar::int_values("n", vec![1, 2]))
        .result(ResultVar::float("sq"))
        .result(ResultVar::image("img"))
        .repeats(2)
        .version("v2")
        .build()
        .unwrap();
    assert_ne!(job_set(&v1), job_set(&v2));
    db.put_shard_manifest(&manifest(&v2, 2, 2)).unwrap();
    assert_eq!(
        manifests(&db),
        [(String::new(), 1, 1), ("v2".to_string(), 2, 2)]
    );
}

#[test]
fn removing_a_sweeps_job_records_removes_its_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let s = sweep(&[1, 2]);
    run(&db, &s, Reuse::Off);
    db.put_shard_manifest(&manifest(&s, 1, 2)).unwrap();
    let other = Sweep::builder("other")
        .input(InputVar::int_values("n", vec![1]))
        .result(ResultVar::float("sq"))
        .build()
        .unwrap();
    db.put_shard_manifest(&manifest(&other, 1, 1)).unwrap();
    assert_eq!(db.remove_job_records("jobs").unwrap(), 4);
    let left: Vec<String> = db
        .shard_manifests()
        .unwrap()
        .into_iter()
        .map(|m| m.sweep.name)
        .collect();
    assert_eq!(left, ["other"]);
}

#[test]
fn shard_manifests_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(&[1, 2]);
    let db = open(dir.path());
    let m = manifest(&s, 2, 3);
    db.put_shard_manifest(&m).unwrap();
    db.put_shard_manifest(&m).unwrap();
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.shard_manifests().unwrap(), std::slice::from_ref(&m));
    let bad = ShardManifest {
        job_set: "xyz".into(),
        ..m
    };
    assert!(db.put_shard_manifest(&bad).is_err());
}

/// A record whose one float cell is `value`.
fn float_record(value: f64) -> collector_core::JobRecord {
    collector_core::JobRecord {
        duration_ns: 1,
        outcome: collector_core::RecordedOutcome::Done(vec![collector_core::RecordedCell::F64(
            value,
        )]),
    }
}

/// A key of job set `set` whose job half is `job`.
fn key_of(set: [u8; 16], job: u64) -> collector_core::JobKey {
    let mut k = [0; 32];
    k[..16].copy_from_slice(&set);
    k[16..24].copy_from_slice(&job.to_be_bytes());
    collector_core::JobKey(k)
}

/// Compaction's two ways: chunks with no newest entry are dropped without
/// decoding (a rerun supersedes whole chunks), and a set whose chunks are
/// all partly superseded is rewritten. Either way each job keeps its
/// newest record.
#[test]
fn compaction_drops_dead_chunks_and_rewrites_partly_superseded_sets() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let set = [7; 16];
    let bytes = |db: &CacheDb| db.job_sets().unwrap()[0].bytes;
    // Import k holds the 300 shared jobs (value k) and one job of its own
    // (1000 + k): every import stays partly live.
    let import = |k: u64| {
        let mut recs: Vec<_> = (0..300)
            .map(|j| (key_of(set, j), float_record(k as f64)))
            .collect();
        recs.push((key_of(set, 1000 + k), float_record(-(k as f64))));
        db.import_job_records("partly", &set, &recs).unwrap();
    };
    import(0);
    let one = bytes(&db);
    for k in 1..4 {
        import(k);
    }
    // Four imports of 301 entries; the third made superseded entries (600)
    // outnumber the records (303): the set was rewritten then.
    let recs = db.job_records(&set).unwrap();
    assert_eq!(recs.len(), 304);
    assert_eq!(db.job_sets().unwrap()[0].records, 304);
    assert!(
        bytes(&db) < 3 * one,
        "{} bytes against {one} per import",
        bytes(&db)
    );
    for (k, r) in &recs {
        let job = u64::from_be_bytes(k.0[16..24].try_into().unwrap());
        let want = if job >= 1000 {
            -((job - 1000) as f64)
        } else {
            3.0
        };
        assert_eq!(r, &float_record(want), "job {job}");
    }

    // A second set rerun whole three times: each rerun supersedes whole
    // chunks, dropped as they are.
    let whole = [8; 16];
    let rerun = |k: u64| {
        let recs: Vec<_> = (0..400)
            .map(|j| (key_of(whole, j), float_record(k as f64)))
            .collect();
        db.import_job_records("whole", &whole, &recs).unwrap();
    };
    rerun(0);
    let first = db
        .job_sets()
        .unwrap()
        .into_iter()
        .find(|s| s.sweep == "whole")
        .unwrap();
    for k in 1..4 {
        rerun(k);
    }
    let after = db
        .job_sets()
        .unwrap()
        .into_iter()
        .find(|s| s.sweep == "whole")
        .unwrap();
    assert_eq!(after.records, 400);
    assert!(after.bytes < 3 * first.bytes, "{after:?} against {first:?}");
    let recs = db.job_records(&whole).unwrap();
    assert_eq!(recs.len(), 400);
    assert!(recs.iter().all(|(_, r)| r == &float_record(3.0)));
    // And a reopen reads the same.
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.job_records(&whole).unwrap().len(), 400);
    assert_eq!(db.job_records(&set).unwrap().len(), 304);
}

/// The table files of the database in `dir`.
fn tables(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sst"))
        })
        .count()
}

#[test]
fn settling_flushes_only_memtables_past_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    // Six jobs: a few hundred bytes of records stay in memory.
    run(&db, &sweep(&[1, 2, 3]), Reuse::Off);
    let before = tables(dir.path());
    db.settle().unwrap();
    assert_eq!(tables(dir.path()), before, "a small memtable was flushed");
    // 40,000 jobs: about 2.6 MB of records, past SETTLE_BYTES.
    let big = sweep(&(0..20_000).collect::<Vec<_>>());
    let (first, _) = run_batched(&db, &big, Reuse::Off, 4096);
    db.settle().unwrap();
    assert!(
        tables(dir.path()) > before,
        "the job records were not flushed"
    );
    // What was flushed reads back.
    let (again, calls) = run_batched(&db, &big, Reuse::Resume, 4096);
    assert_eq!(calls, 0);
    assert_eq!(again.dataset, first.dataset);
}
