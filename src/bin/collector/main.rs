//! `collector`: the command-line program of result-collector.
//!
//! `collector demo` runs a built-in sweep, caches it, keeps its history and
//! writes an HTML report; `collector run SWEEP.toml` does the same for any
//! program over the grid of a sweep file; the other commands inspect,
//! export, report and garbage-collect a cache directory. Run
//! `collector --help`.
//!
//! The program only parses arguments and prints: every decision is a
//! library function of `result_collector`.

mod check;
mod cli;
mod demo;
mod fmt;
mod inspect;
mod maintenance;
mod merge;
mod run;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use result_collector::{CacheDir, ResultCollector};

use cli::{Cli, Command};

fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return cli::usage_error(&e),
    };
    init_logs(cli.verbose, cli.quiet);
    match run(&cli) {
        Ok((out, code)) => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&out).and_then(|()| stdout.flush()) {
                Ok(()) => code,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
                Err(e) => {
                    eprintln!("error: writing to stdout: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, `: `-separated; a cause whose text the line
/// holds already (an error that prints its source) is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// A panic on the main thread is an internal error, printed as one line; a
/// worker's panic is caught and recorded as a failed sample.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if std::thread::current().name() == Some("main") {
            eprintln!("error: internal error: {msg}{at}");
        } else {
            tracing::debug!("worker panicked: {msg}{at}");
        }
    }));
}

/// Logs go to stderr: `-v`/`-q` choose the level, otherwise `RUST_LOG`,
/// otherwise warnings and errors.
fn init_logs(verbose: u8, quiet: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match (verbose, quiet) {
        (0, 0) => None,
        (1, _) => Some("info"),
        (2, _) => Some("debug"),
        (v, _) if v > 2 => Some("trace"),
        (_, 1) => Some("error"),
        _ => Some("off"),
    };
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// The output and the exit code of a command (only `check --fail` and
/// `--fail-on-regression` exit non-zero on success).
fn run(cli: &Cli) -> anyhow::Result<(Vec<u8>, ExitCode)> {
    let dir = CacheDir::new(&cli.cache_dir);
    let limit = cli.memory_limit;
    // Inspection never creates a cache.
    let open = || ResultCollector::open_existing(dir.clone()).map(|c| with_limit(c, limit));
    let out = match &cli.command {
        Command::Demo(a) => return demo::demo(dir.clone(), a, cli.quiet > 0, limit),
        Command::Run(a) => return run::run(dir.clone(), a, cli.quiet > 0, limit),
        Command::Ls => inspect::ls(&open()?),
        Command::Show(a) => inspect::show(&open()?, a),
        Command::History(a) => inspect::history(&open()?, &a.target),
        Command::Export(a) => inspect::export(&open()?, a),
        Command::Report(a) => inspect::report(&open()?, a),
        Command::Merge(a) => merge::merge(&dir, a, cli.quiet > 0, limit),
        Command::Jobs(a) => maintenance::jobs(&open()?, a),
        Command::Gc(a) => maintenance::gc(&open()?, a),
        Command::Stats => maintenance::stats(&open()?),
        Command::Check(a) => return check::check(&open()?, a),
    }?;
    Ok((out, ExitCode::SUCCESS))
}

/// `collector` with `--memory-limit` applied, when given.
pub fn with_limit(c: ResultCollector, limit: Option<u64>) -> ResultCollector {
    match limit {
        Some(bytes) => c.memory_limit(bytes),
        None => c,
    }
}
