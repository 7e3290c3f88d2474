//! Peak memory of a large run with job records on: a 1000 x 1000 x 10
//! repeats float sweep (10 M cells of one float result, 80 MB of raw
//! column bytes), run end to end by `ResultCollector::run` (every job
//! recorded, the result stored) in a child process; the parent reads the
//! child's peak resident set with `getrusage(RUSAGE_CHILDREN)`.
//!
//! ```text
//! cargo run --release --example peak_memory [-- VALUES_A VALUES_B REPEATS] [--history]
//! ```
//!
//! With `--history`, the sweep keeps history (`over_time`): the run also
//! appends its event (as large as the result), and does not return the
//! history (`HistoryOptions::return_history` off: a returned history is
//! a second dataset as large as the run's).
//!
//! The bound it checks: 1.5 x the raw column bytes + 64 MB. It exits
//! with status 1 when the peak is over it.
#![allow(clippy::unwrap_used, reason = "a measurement tool")]
// getrusage is a libc call: the one unsafe block of this example.
#![allow(unsafe_code)]

use std::process::Command;

use result_collector::model::Error;
use result_collector::{InputVar, ResultCollector, ResultVar, RunOptions, Sweep, TimeSrc};

fn sweep(a: usize, b: usize, repeats: usize, history: bool) -> Sweep {
    Sweep::builder("peak_memory")
        .input(InputVar::int_range("a", 0, a as i64 - 1))
        .input(InputVar::int_range("b", 0, b as i64 - 1))
        .result(ResultVar::float("y"))
        .repeats(repeats)
        .over_time(history)
        .build()
        .unwrap()
}

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let history = args.iter().any(|a| a == "--history");
    args.retain(|a| a != "--history");
    if args.get(1).map(String::as_str) == Some("--child") {
        let n = |i: usize| args[i].parse::<usize>().unwrap();
        let s = sweep(n(2), n(3), n(4), history);
        let mut opts = RunOptions::default();
        opts.history.return_history = false;
        let dir = tempfile::tempdir().unwrap();
        let c = ResultCollector::new(Some(dir.path()));
        let started = std::time::Instant::now();
        let run = c
            .run(&s, &TimeSrc::Label("peak".into()), &opts, |smp| {
                #[allow(clippy::cast_precision_loss, reason = "a value")]
                let y = smp.job() as f64;
                Ok::<_, Error>(smp.outputs().with("y", y))
            })
            .unwrap();
        println!(
            "child: {} jobs run and recorded ({}) in {:.1} s",
            s.job_count(),
            run.jobs,
            started.elapsed().as_secs_f64()
        );
        return;
    }
    let a = args.get(1).map_or(1000, |v| v.parse().unwrap());
    let b = args.get(2).map_or(1000, |v| v.parse().unwrap());
    let r = args.get(3).map_or(10, |v| v.parse().unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap());
    child.args(["--child", &a.to_string(), &b.to_string(), &r.to_string()]);
    if history {
        child.arg("--history");
    }
    let status = child.status().unwrap();
    assert!(status.success(), "the child failed: {status}");
    // SAFETY: getrusage writes one `rusage` into the value we own.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    };
    let peak = u64::try_from(usage.ru_maxrss).unwrap() * 1024;
    let cells = (a * b * r) as u64;
    let raw = cells * 8;
    let bound = raw * 3 / 2 + (64 << 20);
    let mb = |x: u64| x as f64 / f64::from(1 << 20);
    println!(
        "peak_memory{}: {cells} cells ({:.0} MB raw): peak RSS {:.0} MB; bound 1.5 x raw + 64 MB = {:.0} MB: {}",
        if history { " (with history)" } else { "" },
        mb(raw),
        mb(peak),
        mb(bound),
        if peak <= bound { "within" } else { "OVER" }
    );
    if peak > bound {
        std::process::exit(1);
    }
}
