//! Resume after SIGKILL: a child process runs a slow sweep with job
//! records on (`Reuse::Resume`) and is killed at random moments, 20 times,
//! then runs to the end. Every job's worker is called exactly once over
//! all the children, except the jobs of a batch in flight at a kill (at
//! most one batch per kill); the final dataset equals an uninterrupted
//! run's, and the history holds the one event of the run that finished.
//!
//! The worker appends its job's number to a calls file with one unbuffered
//! `write` per call (O_APPEND), before it returns; a line cut by the kill
//! has no newline and is not counted.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use result_collector::model::{Error as ModelError, Outputs, Sample};
use result_collector::report::to_json;
use result_collector::{InputVar, ResultCollector, ResultVar, Reuse, RunOptions, Sweep, TimeSrc};

const DIR_ENV: &str = "RC_RESUME_KILL_DIR";
const CALLS_ENV: &str = "RC_RESUME_KILL_CALLS";
const JOBS: i64 = 3000;
const BATCH: usize = 8;
const KILLS: usize = 20;

fn sweep() -> Sweep {
    Sweep::builder("resume-kill")
        .input(InputVar::int_values("n", (0..JOBS).collect::<Vec<_>>()))
        .result(ResultVar::float("y"))
        .result(ResultVar::string("tag"))
        .over_time(true)
        .build()
        .unwrap()
}

fn outputs(s: &Sample<'_>) -> Outputs {
    let n = s.get::<i64>("n").unwrap();
    #[allow(clippy::cast_precision_loss, reason = "small")]
    let y = (n as f64).sqrt() * 3.5;
    s.outputs().with("y", y).with("tag", format!("n{n}"))
}

fn opts() -> RunOptions {
    RunOptions {
        threads: Some(2),
        batch: BATCH,
        reuse: Reuse::Resume,
        ..RunOptions::default()
    }
}

/// The child: resumes the sweep, slowly, until killed (or done).
#[test]
fn resume_kill_child() {
    let (Some(dir), Some(calls)) = (std::env::var_os(DIR_ENV), std::env::var_os(CALLS_ENV)) else {
        return;
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&calls)
        .unwrap();
    let c = ResultCollector::new(Some(Path::new(&dir)));
    c.run(&sweep(), &TimeSrc::Label("done".into()), &opts(), |s| {
        std::thread::sleep(Duration::from_millis(2));
        // One write per call: the kill cuts a line, never mixes two.
        (&log)
            .write_all(format!("{}\n", s.job()).as_bytes())
            .unwrap();
        Ok::<_, ModelError>(outputs(s))
    })
    .unwrap();
}

#[test]
fn sigkill_during_a_resumed_run_loses_nothing_and_calls_each_job_once() {
    if std::env::var_os(DIR_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let side = tempfile::tempdir().unwrap();
    let calls = side.path().join("calls");
    let exe = std::env::current_exe().unwrap();
    let mut rng = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut kills = 0;
    let mut finished = false;
    let mut calls_before_last = 0;
    for run in 0..KILLS + 1 {
        let before = file_len(&calls);
        let out_file = side.path().join(format!("child-{run}.log"));
        let out = std::fs::File::create(&out_file).unwrap();
        let mut child = Command::new(&exe)
            .args(["--exact", "resume_kill_child", "--test-threads=1"])
            .env(DIR_ENV, dir.path())
            .env(CALLS_ENV, &calls)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        if run == KILLS {
            calls_before_last = line_count(&calls);
            // The last child runs to the end.
            let status = child.wait().unwrap();
            assert!(
                status.success(),
                "the last child failed:\n{}",
                std::fs::read_to_string(&out_file).unwrap_or_default()
            );
            finished = true;
            break;
        }
        // Wait until this child's jobs run (start-up takes tens of
        // milliseconds, more on a loaded machine), then kill at a random
        // moment among them.
        let waited = std::time::Instant::now();
        while file_len(&calls) <= before && waited.elapsed() < Duration::from_secs(20) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(next() % 80));
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "run {run}: the child exited by itself ({status}) before its kill:\n{}",
                std::fs::read_to_string(&out_file).unwrap_or_default()
            );
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        kills += 1;
    }
    assert!(finished);
    assert_eq!(kills, KILLS);
    // The killed children did part of the work, and the last did not
    // have to start over.
    assert!(
        calls_before_last > 0 && calls_before_last < JOBS as usize,
        "{calls_before_last} calls before the last child"
    );

    // Calls per job, from whole lines only.
    let text = std::fs::read_to_string(&calls).unwrap();
    let mut per_job: BTreeMap<usize, usize> = BTreeMap::new();
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        *per_job.entry(line.trim().parse().unwrap()).or_default() += 1;
    }
    assert_eq!(per_job.len(), JOBS as usize, "every job ran at least once");
    let extra: usize = per_job.values().map(|c| c - 1).sum();
    assert!(
        extra <= kills * BATCH,
        "{extra} calls beyond one per job, more than one batch of {BATCH} per kill ({kills} kills)"
    );
    assert!(per_job.values().all(|&c| c <= kills + 1));

    // The final result equals an uninterrupted run's.
    let c = ResultCollector::new(Some(dir.path()));
    let history = c.history_of(&sweep()).unwrap().unwrap();
    assert_eq!(history.shape(), vec![JOBS as usize, 1, 1], "one event");
    let clean = tempfile::tempdir().unwrap();
    let whole = ResultCollector::new(Some(clean.path()))
        .run(
            &sweep(),
            &TimeSrc::Label("done".into()),
            &RunOptions {
                reuse: Reuse::Off,
                ..opts()
            },
            |s| Ok::<_, ModelError>(outputs(s)),
        )
        .unwrap();
    assert_eq!(
        to_json(&history, &[]).to_string(),
        to_json(&whole.result.dataset, &[]).to_string()
    );
    eprintln!(
        "{kills} kills; {calls_before_last} calls before the last child; {extra} extra calls over {JOBS} jobs"
    );
}

/// Whole lines in `path` (0 when it does not exist).
fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| {
            t.split_inclusive('\n')
                .filter(|l| l.ends_with('\n'))
                .count()
        })
        .unwrap_or(0)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}
