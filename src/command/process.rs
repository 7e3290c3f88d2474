//! Running one child process: its stdout, the tail of its stderr, its exit
//! status, the wall clock around it, and a timeout.

use std::io::{self, Read};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// At most this much of stdout is kept; more is an error of the job.
pub(crate) const STDOUT_LIMIT: usize = 16 << 20;
/// The end of stderr kept for a failure's message.
const STDERR_KEEP: usize = 16 << 10;
/// Lines of stderr a failure's message shows.
pub(crate) const STDERR_LINES: usize = 10;
/// After a timeout kills the command, how long its pipes may take to close
/// (a child of the command may still hold them).
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// How a child process ended and what it wrote.
#[derive(Debug)]
pub(crate) struct Finished {
    /// Its exit status (after a kill on timeout: the kill's).
    pub(crate) status: ExitStatus,
    /// Whether the timeout killed it.
    pub(crate) timed_out: bool,
    /// The wall clock from just before the spawn to the end of the wait.
    pub(crate) wall: Duration,
    /// Its stdout (empty when not captured).
    pub(crate) stdout: Vec<u8>,
    /// Whether stdout went past [`STDOUT_LIMIT`].
    pub(crate) stdout_overflow: bool,
    /// The last lines of its stderr.
    pub(crate) stderr_tail: Vec<String>,
}

/// Runs `cmd` (stdin closed; stdout captured when `capture_stdout`, else
/// discarded; stderr captured) and waits for it, killing it after
/// `timeout`. An error is one of spawning or waiting.
pub(crate) fn run(
    cmd: &mut Command,
    capture_stdout: bool,
    timeout: Option<Duration>,
) -> io::Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(if capture_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped());
    // With a timeout, the job gets a process group of its own, so that a
    // kill takes the processes it started too (they would keep its pipes
    // open, and run on).
    #[cfg(unix)]
    if timeout.is_some() {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    let out = child.stdout.take();
    let err = child.stderr.take();
    match timeout {
        None => wait_plain(child, out, err, start),
        Some(t) => wait_with_timeout(child, out, err, start, t),
    }
}

/// Without a timeout: stderr is read on this thread (no thread for a
/// command whose stdout is discarded), stdout on a helper thread.
fn wait_plain(
    mut child: Child,
    out: Option<ChildStdout>,
    err: Option<ChildStderr>,
    start: Instant,
) -> io::Result<Finished> {
    std::thread::scope(|scope| {
        let reader = out.map(|o| scope.spawn(move || read_capped(o)));
        let tail = err.map(read_tail).unwrap_or_default();
        let status = child.wait()?;
        let wall = start.elapsed();
        let (stdout, stdout_overflow) = match reader {
            Some(h) => h.join().unwrap_or_else(|_| (Vec::new(), false)),
            None => (Vec::new(), false),
        };
        Ok(Finished {
            status,
            timed_out: false,
            wall,
            stdout,
            stdout_overflow,
            stderr_tail: tail_lines(&tail),
        })
    })
}

enum Pipe {
    Out(Vec<u8>, bool),
    Err(Vec<u8>),
}

/// With a timeout: both pipes on helper threads, the wait on this one.
/// After a kill, the pipes get [`PIPE_GRACE`] to close; a reader still
/// blocked then (a grandchild holds the pipe) is left behind.
fn wait_with_timeout(
    mut child: Child,
    out: Option<ChildStdout>,
    err: Option<ChildStderr>,
    start: Instant,
    timeout: Duration,
) -> io::Result<Finished> {
    let (tx, rx) = mpsc::channel();
    let mut pipes = 0;
    if let Some(o) = out {
        let tx = tx.clone();
        pipes += 1;
        std::thread::spawn(move || {
            let (b, over) = read_capped(o);
            let _ = tx.send(Pipe::Out(b, over));
        });
    }
    if let Some(e) = err {
        let tx = tx.clone();
        pipes += 1;
        std::thread::spawn(move || {
            let _ = tx.send(Pipe::Err(read_tail(e)));
        });
    }
    drop(tx);
    let (status, timed_out) = match child.wait_timeout(timeout)? {
        Some(s) => (s, false),
        None => {
            kill_group(&mut child);
            (child.wait()?, true)
        }
    };
    let wall = start.elapsed();
    let mut finished = Finished {
        status,
        timed_out,
        wall,
        stdout: Vec::new(),
        stdout_overflow: false,
        stderr_tail: Vec::new(),
    };
    let deadline = Instant::now() + PIPE_GRACE;
    for _ in 0..pipes {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Pipe::Out(b, over)) => {
                finished.stdout = b;
                finished.stdout_overflow = over;
            }
            Ok(Pipe::Err(t)) => finished.stderr_tail = tail_lines(&t),
            Err(_) => break,
        }
    }
    Ok(finished)
}

/// Kills `child` and its process group (see [`run`]). An error means it
/// is gone already.
fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    {
        // sh's builtin kill reaches a group without a signal call here
        // (which would need unsafe code).
        let group = format!("kill -KILL -{} 2>/dev/null", child.id());
        let _ = Command::new("sh")
            .arg("-c")
            .arg(group)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
}

/// Reads `r` to its end, keeping the first [`STDOUT_LIMIT`] bytes; the
/// flag says whether there was more (read and dropped, so the writer never
/// blocks on a full pipe).
fn read_capped(r: impl Read) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let mut r = r;
    let limit = u64::try_from(STDOUT_LIMIT).unwrap_or(u64::MAX);
    let _ = (&mut r).take(limit).read_to_end(&mut buf);
    let more = io::copy(&mut r, &mut io::sink()).unwrap_or(0) > 0;
    (buf, more)
}

/// Reads `r` to its end, keeping the last [`STDERR_KEEP`] bytes.
fn read_tail(mut r: impl Read) -> Vec<u8> {
    let mut keep: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                keep.extend_from_slice(&chunk[..n]);
                if keep.len() > 2 * STDERR_KEEP {
                    keep.drain(..keep.len() - STDERR_KEEP);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if keep.len() > STDERR_KEEP {
        keep.drain(..keep.len() - STDERR_KEEP);
    }
    keep
}

/// The last [`STDERR_LINES`] non-empty lines of `bytes`, each cut at 500
/// characters.
pub(crate) fn tail_lines(bytes: &[u8]) -> Vec<String> {
    const WIDTH: usize = 500;
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<String> = text
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(STDERR_LINES)
        .map(|l| {
            let l = l.trim_end();
            if l.chars().count() > WIDTH {
                let mut s: String = l.chars().take(WIDTH).collect();
                s.push('…');
                s
            } else {
                l.to_string()
            }
        })
        .collect();
    lines.reverse();
    lines
}

/// How a process ended, in words: `exit code 3`, `killed by signal 9`.
pub(crate) fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}");
        }
    }
    status.to_string()
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn captures_stdout_status_and_the_tail_of_stderr() {
        let script = "echo out; for i in $(seq 1 30); do echo err $i >&2; done; exit 3";
        for timeout in [None, Some(Duration::from_secs(30))] {
            let f = run(&mut sh(script), true, timeout).unwrap();
            assert_eq!(f.stdout, b"out\n");
            assert_eq!(describe(f.status), "exit code 3");
            assert!(!f.timed_out);
            assert_eq!(f.stderr_tail.len(), STDERR_LINES);
            assert_eq!(f.stderr_tail.last().unwrap(), "err 30");
        }
    }

    #[test]
    fn a_timeout_kills() {
        let t0 = Instant::now();
        let f = run(
            &mut sh("echo started >&2; exec sleep 20"),
            false,
            Some(Duration::from_millis(300)),
        )
        .unwrap();
        assert!(f.timed_out);
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert!(
            describe(f.status).contains("signal 9"),
            "{}",
            describe(f.status)
        );
        assert_eq!(f.stderr_tail, ["started"]);
    }

    #[test]
    fn a_timeout_kills_what_the_command_started() {
        let t0 = Instant::now();
        let f = run(
            &mut sh("sleep 20; echo never"),
            true,
            Some(Duration::from_millis(300)),
        )
        .unwrap();
        assert!(f.timed_out);
        // The pipes closed at once: the grandchild `sleep` was killed too.
        assert!(t0.elapsed() < PIPE_GRACE, "{:?}", t0.elapsed());
        assert!(f.stdout.is_empty());
    }

    #[test]
    fn a_huge_stdout_is_cut_not_blocked() {
        let f = run(&mut sh("head -c 17000000 /dev/zero"), true, None).unwrap();
        assert!(f.status.success());
        assert!(f.stdout_overflow);
        assert_eq!(f.stdout.len(), STDOUT_LIMIT);
    }

    #[test]
    fn tail_lines_skip_blank_and_cut_long_lines() {
        let long = "x".repeat(600);
        let text = format!("a\n\n  \nb\n{long}\n");
        let t = tail_lines(text.as_bytes());
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].chars().count(), 501);
    }
}
