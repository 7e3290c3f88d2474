//! `collector`: the command-line program of result-collector.
//!
//! `collector demo` runs a built-in sweep, caches it, keeps its history and
//! writes an HTML report; the other commands inspect, export, report and
//! garbage-collect a cache directory. Run `collector --help`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use result_collector::cache::{CACHE_DIR_ENV, CacheOptions, DB_SUBDIR, SweepListing};
use result_collector::media::{GcOptions, GcReferences};
use result_collector::model::{ColumnData, OVER_TIME_DIM, Progress, sample_key};
use result_collector::report::HtmlOptions;
use result_collector::{
    CacheDb, Dataset, Direction, InputVar, MEDIA_SUBDIR, MediaRoot, ResultCollector, ResultKind,
    ResultVar, RunOptions, Sweep, TimeSrc,
};

/// Run a function over a grid of parameters, cache every result in RocksDB,
/// keep its history over time, and inspect what is stored.
#[derive(Debug, Parser)]
#[command(name = "collector", version, about, long_about = None)]
struct Cli {
    /// The cache directory (holds db/, media/ and reports/).
    #[arg(
        long,
        global = true,
        env = CACHE_DIR_ENV,
        default_value = "cachedir",
        value_name = "DIR"
    )]
    cache_dir: PathBuf,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); overrides RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// Less output on stderr: errors only, no progress bar (-qq: no logs at all).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    quiet: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the built-in demo sweep (in parallel, cached, with history) and write its HTML report.
    Demo(DemoArgs),
    /// List the sweeps stored in the cache: keys, completeness, cells, events and bytes.
    Ls,
    /// Print the summary of a stored result (and optionally its tidy table and failures).
    Show(ShowArgs),
    /// Print the history of a sweep: its events and per-column values over time.
    History(TargetArg),
    /// Export a stored result (or history) as CSV or JSON.
    Export(ExportArgs),
    /// Write the HTML report of a sweep (its history when it has one, else its result).
    Report(ReportArgs),
    /// Find media files that no stored record references; delete them with --delete.
    Gc(GcArgs),
    /// Show the sizes of the cache database and of the media directory.
    Stats,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Label of this run's history event (a git hash, "v1.2", …); default: the current time.
    #[arg(long)]
    label: Option<String>,
    /// Run every job even when a complete cached result exists.
    #[arg(long)]
    no_cache: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Where to write the HTML report (default: CACHE_DIR/reports/demo.html).
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct TargetArg {
    /// A sweep name (its newest stored result), or a cache or history key (a unique prefix is enough).
    target: String,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// A sweep name (its newest stored result), or a cache or history key (a unique prefix is enough).
    target: String,
    /// Also print the tidy table: one row per cell.
    #[arg(long)]
    table: bool,
    /// Rows of the tidy table to print.
    #[arg(long, value_name = "N", default_value_t = 50)]
    rows: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// The tidy table as CSV: one row per cell.
    Csv,
    /// The whole dataset (dims, coords, columns, failures, attributes) as JSON.
    Json,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// A sweep name (its newest stored result), or a cache or history key (a unique prefix is enough).
    target: String,
    /// The output format.
    #[arg(long, value_enum)]
    format: Format,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Export the history (every event) instead of the result.
    #[arg(long)]
    history: bool,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// A sweep name (its newest stored result), or a cache or history key (a unique prefix is enough).
    target: String,
    /// The HTML file to write (default: CACHE_DIR/reports/SWEEP.html).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct GcArgs {
    /// Delete the orphan files (without it, only report them).
    #[arg(long)]
    delete: bool,
    /// Spare unreferenced files modified less than this many seconds ago.
    #[arg(long, value_name = "N", default_value_t = result_collector::media::DEFAULT_GRACE.as_secs())]
    grace_secs: u64,
}

fn main() -> ExitCode {
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
            // A worker's panic is caught and recorded as a failed sample.
            tracing::debug!("worker panicked: {msg}{at}");
        }
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first} (see `collector --help`)");
            return ExitCode::from(2);
        }
    };
    init_logs(cli.verbose, cli.quiet);
    match run(&cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&out).and_then(|()| stdout.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: writing to stdout: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::FAILURE
        }
    }
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

fn run(cli: &Cli) -> Result<Vec<u8>> {
    let dir = cli.cache_dir.as_path();
    match &cli.command {
        Command::Demo(a) => demo(dir, a, cli.quiet > 0),
        Command::Ls => ls(dir),
        Command::Show(a) => show(dir, a),
        Command::History(a) => history(dir, &a.target),
        Command::Export(a) => export(dir, a),
        Command::Report(a) => report(dir, a),
        Command::Gc(a) => gc(dir, a),
        Command::Stats => stats(dir),
    }
}

// ------------------------------------------------------------------ demo

/// The built-in demo sweep: sorting pseudo-random data of a few sizes, in a
/// few chunks, with three algorithms, three times each.
fn demo_sweep() -> Result<Sweep> {
    Ok(Sweep::builder("demo")
        .title("collector demo: sorting pseudo-random data")
        .description("Sorts `size` thousand pseudo-random numbers in `chunks` chunks with `algo`, then merges them.")
        .input(
            InputVar::float_samples("size", 0.5, 2.0, 3)
                .units("k items")
                .description("thousands of numbers to sort"),
        )
        .input(
            InputVar::int_values("chunks", [1, 4])
                .description("the data is sorted in this many chunks, then merged"),
        )
        .input(InputVar::labels("algo", ["stable", "unstable", "heap"]).description("the sort used on each chunk"))
        .result(
            ResultVar::float("time")
                .units("s")
                .direction(Direction::Minimize)
                .description("modelled cost plus the measured sorting time"),
        )
        .result(
            ResultVar::vector("quantiles", 3)
                .description("min, median and max of the data"),
        )
        .result(ResultVar::image("plot").description("an SVG plot of the sorted data"))
        .repeats(3)
        .over_time(true)
        .build()?)
}

/// Pseudo-random numbers in [0, 1) from a 64-bit LCG (deterministic per seed).
fn demo_data(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

fn sort_chunk(chunk: &mut [f64], algo: &str) -> Result<()> {
    match algo {
        "stable" => chunk.sort_by(f64::total_cmp),
        "unstable" => chunk.sort_unstable_by(f64::total_cmp),
        "heap" => {
            let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<u64>> = chunk
                .iter()
                .map(|x| std::cmp::Reverse(x.to_bits()))
                .collect();
            for slot in chunk.iter_mut() {
                let std::cmp::Reverse(bits) =
                    heap.pop().ok_or_else(|| anyhow!("heap underflow"))?;
                *slot = f64::from_bits(bits);
            }
        }
        other => bail!("unknown algorithm `{other}`"),
    }
    Ok(())
}

/// Sorts `data` in `chunks` chunks, then merges them; the result is sorted.
fn chunked_sort(mut data: Vec<f64>, chunks: usize, algo: &str) -> Result<Vec<f64>> {
    let len = data.len();
    let size = len.div_ceil(chunks.max(1)).max(1);
    for c in data.chunks_mut(size) {
        sort_chunk(c, algo)?;
    }
    // k-way merge of the sorted chunks.
    let runs: Vec<&[f64]> = data.chunks(size).collect();
    let mut pos = vec![0usize; runs.len()];
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let mut best: Option<(usize, f64)> = None;
        for (r, run) in runs.iter().enumerate() {
            if let Some(&v) = run.get(pos[r])
                && best.is_none_or(|(_, b)| v < b)
            {
                best = Some((r, v));
            }
        }
        let (r, v) = best.ok_or_else(|| anyhow!("merge ran out of values"))?;
        pos[r] += 1;
        out.push(v);
    }
    Ok(out)
}

fn svg_plot(sorted: &[f64], title: &str) -> String {
    let (w, h) = (200.0, 100.0);
    let n = sorted.len().max(2);
    let step = (n / 64).max(1);
    let points: Vec<String> = sorted
        .iter()
        .enumerate()
        .step_by(step)
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 / (n - 1) as f64 * w, h - v * h))
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\">\n\
         <title>{}</title>\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#f8f8f8\" stroke=\"#ccc\"/>\n\
         <polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{}\"/>\n\
         <text x=\"4\" y=\"{}\" font-size=\"10\" font-family=\"sans-serif\">{}</text>\n</svg>\n",
        h + 14.0,
        h + 14.0,
        result_collector::report::escape(title),
        points.join(" "),
        h + 11.0,
        result_collector::report::escape(title),
    )
}

fn demo(dir: &Path, a: &DemoArgs, quiet: bool) -> Result<Vec<u8>> {
    let sweep = demo_sweep().context("declaring the demo sweep")?;
    let time_src = match &a.label {
        Some(l) if l.trim().is_empty() => bail!("--label must not be empty"),
        Some(l) => TimeSrc::Label(l.clone()),
        None => TimeSrc::now(),
    };
    let mut collector = ResultCollector::new(Some(dir)).use_cache(!a.no_cache);
    let media = collector.media_root()?;

    let total = sweep.job_count();
    let bar = if quiet || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} jobs, {per_sec}, {msg}",
            )
            .map_err(|e| anyhow!("progress bar template: {e}"))?,
        );
        bar.set_prefix(sweep.name().to_string());
        bar.set_message("0 failed");
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    };
    let progress_bar = bar.clone();
    let opts = RunOptions {
        threads: a.threads.map(|n| n as usize),
        batch: 0,
        progress: Some(Arc::new(move |p: Progress| {
            progress_bar.set_length(p.total as u64);
            progress_bar.set_position(p.done as u64);
            progress_bar.set_message(format!("{} failed", p.failed));
        })),
    };

    let started = Instant::now();
    let sweep_ref = &sweep;
    let run = collector.run(&sweep, &time_src, &opts, |s| -> Result<_> {
        let size = s.get::<f64>("size")?;
        let chunks = usize::try_from(s.get::<i64>("chunks")?)?;
        let algo = s.get::<String>("algo")?;
        let n = (size * 1000.0).round() as usize;
        let data = demo_data(n, n as u64 * 31 + s.repeat() as u64);
        let t0 = Instant::now();
        let sorted = chunked_sort(data, chunks, &algo)?;
        let measured = t0.elapsed().as_secs_f64();
        // A deterministic model of the cost (n log n per chunk plus the
        // merge), plus the real measured time.
        let per_chunk = (n as f64 / chunks as f64).max(1.0);
        let factor = match algo.as_str() {
            "stable" => 1.0,
            "unstable" => 0.8,
            _ => 1.6,
        };
        let model = 1e-8 * factor * n as f64 * per_chunk.log2() + 2e-9 * n as f64 * chunks as f64;
        let quantiles = [
            sorted.first().copied().unwrap_or(f64::NAN),
            sorted.get(n / 2).copied().unwrap_or(f64::NAN),
            sorted.last().copied().unwrap_or(f64::NAN),
        ];
        let key = sample_key(sweep_ref, &s.inputs());
        let mut file = media.new_file(ResultKind::Image, "plot", &key, "sorted.svg")?;
        let title = format!("{algo}, {n} items, {chunks} chunks, repeat {}", s.repeat());
        file.file
            .write_all(svg_plot(&sorted, &title).as_bytes())
            .with_context(|| format!("writing {}", file.path.display()))?;
        Ok(s.outputs()
            .with("time", model + measured)
            .with("quantiles", quantiles)
            .with("plot", file.cell))
    });
    bar.finish_and_clear();
    let run = run.context("running the demo sweep")?;
    let elapsed = started.elapsed();

    let mut out = String::new();
    out.push_str(&result_collector::report::summary(&run.result.dataset));
    if !run.result.failures.is_empty() {
        out.push_str(&result_collector::report::failures_table(
            &run.result.failures,
        ));
    }
    out.push('\n');
    if run.cache_hit {
        out.push_str(&format!(
            "cache hit: result {} loaded from the cache, no job ran ({} jobs stored; use --no-cache to run them again)\n",
            short(&run.cache_key),
            run.result.stats.attempted
        ));
    } else {
        out.push_str(&format!(
            "ran {} jobs in {:.2} s ({} failed) and cached result {}\n",
            run.result.stats.attempted,
            elapsed.as_secs_f64(),
            run.result.stats.failed,
            short(&run.cache_key)
        ));
    }
    let history = run
        .history
        .as_ref()
        .ok_or_else(|| anyhow!("the demo sweep keeps history, but none came back"))?;
    let events = history.dim(OVER_TIME_DIM).map(|d| d.len()).unwrap_or(0);
    out.push_str(&format!(
        "history: {events} event{} (history key {})\n",
        plural(events),
        short(&run.history_key)
    ));
    if let Some(append) = &run.append
        && let Some(reason) = &append.reset
    {
        out.push_str(&format!("history was reset: {reason}\n"));
    }
    let report_path = a
        .report
        .clone()
        .unwrap_or_else(|| dir.join("reports").join("demo.html"));
    write_report(
        history,
        &run.result.failures,
        &report_path,
        "collector demo",
    )?;
    out.push_str(&format!("report: {}\n", report_path.display()));
    Ok(out.into_bytes())
}

fn write_report(
    ds: &Dataset,
    failures: &[result_collector::model::SampleFailure],
    path: &Path,
    title: &str,
) -> Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the directory {}", parent.display()))?;
    }
    result_collector::report::write_html(ds, failures, path, &HtmlOptions::default().title(title))
        .with_context(|| format!("writing the report {}", path.display()))
}

// ------------------------------------------------------------ inspection

/// Opens an existing cache; never creates one.
fn open_existing(dir: &Path) -> Result<CacheDb> {
    if !dir.join(DB_SUBDIR).join("CURRENT").is_file() {
        bail!(
            "no cache at {} (run `collector demo` to create one, or pass --cache-dir / set {CACHE_DIR_ENV})",
            dir.display()
        );
    }
    Ok(CacheDb::open(dir, CacheOptions::default())?)
}

fn short(key: &str) -> &str {
    key.get(..12).unwrap_or(key)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Renders rows as a left-aligned text table with a header.
fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(widths[i].saturating_sub(c.chars().count())));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// What a NAME|KEY argument names.
#[derive(Debug)]
struct Target {
    name: String,
    result_key: Option<String>,
    history_key: Option<String>,
}

fn pick_history(l: &SweepListing) -> Option<String> {
    l.histories
        .iter()
        .max_by_key(|h| h.events)
        .map(|h| h.key.clone())
}

fn resolve(db: &CacheDb, arg: &str) -> Result<Target> {
    let listings = db.list_sweeps()?;
    if let Some(l) = listings.iter().find(|l| l.name == arg) {
        return Ok(Target {
            name: l.name.clone(),
            result_key: l.results.last().map(|r| r.key.clone()),
            history_key: pick_history(l),
        });
    }
    let mut found = Vec::new();
    for l in &listings {
        for r in l.results.iter().filter(|r| r.key.starts_with(arg)) {
            found.push(Target {
                name: l.name.clone(),
                result_key: Some(r.key.clone()),
                history_key: pick_history(l),
            });
        }
        for h in l.histories.iter().filter(|h| h.key.starts_with(arg)) {
            found.push(Target {
                name: l.name.clone(),
                result_key: l.results.last().map(|r| r.key.clone()),
                history_key: Some(h.key.clone()),
            });
        }
    }
    match found.len() {
        1 if !arg.is_empty() => Ok(found.remove(0)),
        0 | 1 => bail!(
            "unknown sweep name or key `{arg}` in {} (see `collector ls`)",
            db.dir().display()
        ),
        n => bail!("`{arg}` is ambiguous: it prefixes {n} keys; give more characters"),
    }
}

fn load_result(db: &CacheDb, t: &Target) -> Result<result_collector::cache::StoredResult> {
    let key = t
        .result_key
        .as_deref()
        .ok_or_else(|| anyhow!("sweep `{}` has no stored result", t.name))?;
    db.get_result(key)?.ok_or_else(|| {
        anyhow!(
            "result {key} of sweep `{}` could not be read (it was corrupt and has been removed)",
            t.name
        )
    })
}

fn load_history(db: &CacheDb, t: &Target) -> Result<Option<(String, Dataset)>> {
    let Some(key) = t.history_key.as_deref() else {
        return Ok(None);
    };
    Ok(db.load_history(key)?.map(|ds| (key.to_string(), ds)))
}

fn ls(dir: &Path) -> Result<Vec<u8>> {
    let db = open_existing(dir)?;
    let listings = db.list_sweeps()?;
    if listings.is_empty() {
        return Ok(format!("no sweeps stored in {}\n", dir.display()).into_bytes());
    }
    let mut rows = Vec::new();
    for l in &listings {
        for r in &l.results {
            rows.push(vec![
                l.name.clone(),
                "result".into(),
                short(&r.key).to_string(),
                if r.complete { "yes" } else { "no" }.into(),
                r.cells.to_string(),
                "-".into(),
                human_bytes(r.bytes),
            ]);
        }
        for h in &l.histories {
            rows.push(vec![
                l.name.clone(),
                format!("history ({})", h.over_time_kind),
                short(&h.key).to_string(),
                "-".into(),
                "-".into(),
                h.events.to_string(),
                human_bytes(h.bytes),
            ]);
        }
    }
    Ok(text_table(
        &[
            "SWEEP", "RECORD", "KEY", "COMPLETE", "CELLS", "EVENTS", "BYTES",
        ],
        &rows,
    )
    .into_bytes())
}

fn show(dir: &Path, a: &ShowArgs) -> Result<Vec<u8>> {
    let db = open_existing(dir)?;
    let t = resolve(&db, &a.target)?;
    let mut out = String::new();
    let (ds, failures) = if t.result_key.is_some() {
        let r = load_result(&db, &t)?;
        out.push_str(&format!(
            "sweep `{}`, result {} ({}: {} jobs attempted, {} failed)\n\n",
            t.name,
            t.result_key.as_deref().map(short).unwrap_or_default(),
            if r.complete { "complete" } else { "incomplete" },
            r.stats.attempted,
            r.stats.failed
        ));
        (r.dataset, r.failures)
    } else {
        let (key, ds) = load_history(&db, &t)?
            .ok_or_else(|| anyhow!("sweep `{}` has neither a result nor a history", t.name))?;
        out.push_str(&format!("sweep `{}`, history {}\n\n", t.name, short(&key)));
        (ds, Vec::new())
    };
    out.push_str(&result_collector::report::summary(&ds));
    if a.table {
        out.push('\n');
        out.push_str(&result_collector::report::tidy_table(&ds, a.rows));
        out.push('\n');
    }
    if !failures.is_empty() {
        out.push('\n');
        out.push_str(&result_collector::report::failures_table(&failures));
    }
    Ok(out.into_bytes())
}

fn history(dir: &Path, target: &str) -> Result<Vec<u8>> {
    let db = open_existing(dir)?;
    let t = resolve(&db, target)?;
    let (key, ds) = load_history(&db, &t)?.ok_or_else(|| {
        anyhow!(
            "sweep `{}` keeps no history (it was not run with over_time)",
            t.name
        )
    })?;
    let time = ds.dim(OVER_TIME_DIM)?;
    let events = time.len();
    let mut out = format!(
        "history {} of sweep `{}`: {events} event{} ({} coordinates)\n\n",
        short(&key),
        t.name,
        plural(events),
        time.coords.kind_name()
    );
    let mut header = vec!["#".to_string(), OVER_TIME_DIM.to_string()];
    for c in ds.columns() {
        let units = if c.attrs.units.is_empty() {
            String::new()
        } else {
            format!(" [{}]", c.attrs.units)
        };
        header.push(match &c.data {
            ColumnData::F64(_) => format!("mean {}{units}", c.name),
            _ => format!("{} (set)", c.name),
        });
    }
    let mut rows = Vec::new();
    for i in 0..events {
        let ev = ds.isel(OVER_TIME_DIM, i)?;
        let mut row = vec![
            (i + 1).to_string(),
            time.coords
                .get(i)
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ];
        for c in ev.columns() {
            row.push(match &c.data {
                ColumnData::F64(a) => {
                    let (sum, n) = a
                        .iter()
                        .filter(|v| !v.is_nan())
                        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
                    if n == 0 {
                        "NaN".into()
                    } else {
                        result_collector::report::fmt_num(sum / n as f64)
                    }
                }
                ColumnData::Text(a) => {
                    let set = a
                        .iter()
                        .filter(|s| {
                            !s.is_empty() && s.as_str() != result_collector::model::TEXT_SENTINEL
                        })
                        .count();
                    format!("{set}/{}", a.len())
                }
                ColumnData::I64(a) => {
                    let set = a.iter().filter(|v| **v >= 0).count();
                    format!("{set}/{}", a.len())
                }
            });
        }
        rows.push(row);
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    out.push_str(&text_table(&header, &rows));
    Ok(out.into_bytes())
}

fn export(dir: &Path, a: &ExportArgs) -> Result<Vec<u8>> {
    let db = open_existing(dir)?;
    let t = resolve(&db, &a.target)?;
    let (ds, failures) = if a.history {
        let (_, ds) =
            load_history(&db, &t)?.ok_or_else(|| anyhow!("sweep `{}` keeps no history", t.name))?;
        (ds, Vec::new())
    } else {
        let r = load_result(&db, &t)?;
        (r.dataset, r.failures)
    };
    match (&a.output, a.format) {
        (Some(path), Format::Csv) => {
            result_collector::report::write_csv(&ds, path)?;
        }
        (Some(path), Format::Json) => {
            result_collector::report::write_json(&ds, &failures, path)?;
        }
        (None, Format::Csv) => {
            let mut buf = Vec::new();
            result_collector::report::write_csv_to(&ds, &mut buf)?;
            return Ok(buf);
        }
        (None, Format::Json) => {
            let doc = result_collector::report::to_json(&ds, &failures);
            return Ok(format!("{doc:#}\n").into_bytes());
        }
    }
    let path = a.output.as_deref().unwrap_or(Path::new("-"));
    Ok(format!("wrote {}\n", path.display()).into_bytes())
}

fn report(dir: &Path, a: &ReportArgs) -> Result<Vec<u8>> {
    let db = open_existing(dir)?;
    let t = resolve(&db, &a.target)?;
    let (what, ds, failures) = match load_history(&db, &t)? {
        Some((_, ds)) => {
            // The failures of the newest result, when it can be read.
            let failures = if t.result_key.is_some() {
                load_result(&db, &t).map(|r| r.failures).unwrap_or_default()
            } else {
                Vec::new()
            };
            ("history", ds, failures)
        }
        None => {
            let r = load_result(&db, &t)?;
            ("result", r.dataset, r.failures)
        }
    };
    let path = a.output.clone().unwrap_or_else(|| {
        let safe: String = t
            .name
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        dir.join("reports").join(format!("{safe}.html"))
    });
    write_report(&ds, &failures, &path, &t.name)?;
    Ok(format!(
        "wrote the {what} report of `{}` to {}\n",
        t.name,
        path.display()
    )
    .into_bytes())
}

fn gc(dir: &Path, a: &GcArgs) -> Result<Vec<u8>> {
    let db = open_existing(dir)?;
    let media_dir = dir.join(MEDIA_SUBDIR);
    if !media_dir.is_dir() {
        return Ok(format!(
            "no media directory at {}: nothing to collect\n",
            media_dir.display()
        )
        .into_bytes());
    }
    let mut refs = GcReferences::new();
    let mut records = 0usize;
    for l in db.list_sweeps()? {
        for r in &l.results {
            match db.get_result(&r.key) {
                Ok(Some(stored)) => refs.add_dataset(&stored.dataset),
                Ok(None) => refs.mark_unreadable(format!(
                    "result {} of `{}` (corrupt, removed)",
                    r.key, l.name
                )),
                Err(e) => refs.mark_unreadable(format!("result {} of `{}`: {e}", r.key, l.name)),
            }
            records += 1;
        }
        for h in &l.histories {
            match db.load_history(&h.key) {
                Ok(Some(ds)) => refs.add_dataset(&ds),
                Ok(None) => refs.mark_unreadable(format!(
                    "history {} of `{}` (corrupt, removed)",
                    h.key, l.name
                )),
                Err(e) => refs.mark_unreadable(format!("history {} of `{}`: {e}", h.key, l.name)),
            }
            records += 1;
        }
    }
    let root = MediaRoot::new(&media_dir)?;
    let opts = GcOptions {
        delete: a.delete,
        grace: Duration::from_secs(a.grace_secs),
    };
    let rep = result_collector::media::gc(&root, &refs, opts).context("orphan media GC")?;
    let mut out = format!(
        "{} stored records read; {} media files scanned, {} referenced\n",
        records, rep.scanned, rep.referenced
    );
    if rep.dry_run {
        out.push_str(&format!(
            "dry run: {} orphan file{} ({}) would be deleted; pass --delete to delete them\n",
            rep.orphans.len(),
            plural(rep.orphans.len()),
            human_bytes(rep.orphan_bytes)
        ));
    } else {
        out.push_str(&format!(
            "deleted {} orphan file{} ({})\n",
            rep.deleted,
            plural(rep.deleted),
            human_bytes(rep.deleted_bytes)
        ));
    }
    out.push_str(&format!(
        "spared: {} younger than {} s, {} temporary, {} foreign\n",
        rep.too_young, a.grace_secs, rep.temporary, rep.foreign
    ));
    for o in rep.orphans.iter().take(20) {
        out.push_str(&format!(
            "  orphan {} ({})\n",
            o.path.display(),
            human_bytes(o.bytes)
        ));
    }
    if rep.orphans.len() > 20 {
        out.push_str(&format!("  … {} more\n", rep.orphans.len() - 20));
    }
    for (p, e) in &rep.failed {
        out.push_str(&format!("  failed {}: {e}\n", p.display()));
    }
    if !rep.failed.is_empty() {
        bail!(
            "{} file(s) could not be examined or deleted:\n{out}",
            rep.failed.len()
        );
    }
    Ok(out.into_bytes())
}

/// Files and bytes under `dir` (symlinks not followed).
fn walk_size(dir: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                files += 1;
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    (files, bytes)
}

fn stats(dir: &Path) -> Result<Vec<u8>> {
    let db = open_existing(dir)?;
    let s = db.stats()?;
    let (db_files, db_bytes) = walk_size(&s.db_dir);
    let mut out = format!("cache directory: {}\n", dir.display());
    out.push_str(&format!(
        "database:  {} on disk in {} files ({})\n",
        human_bytes(db_bytes),
        db_files,
        s.db_dir.display()
    ));
    out.push_str(&format!(
        "results:   {} stored, {} encoded{}\n",
        s.results,
        human_bytes(s.result_bytes),
        s.cache_size
            .map(|l| format!(" (limit {})", human_bytes(l)))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "histories: {} with {} events, {} encoded\n",
        s.histories,
        s.history_events,
        human_bytes(s.history_bytes)
    ));
    let media_dir = dir.join(MEDIA_SUBDIR);
    let (mf, mb) = walk_size(&media_dir);
    out.push_str(&format!(
        "media:     {mf} files, {} ({})\n",
        human_bytes(mb),
        media_dir.display()
    ));
    for kind in result_collector::media::MEDIA_KINDS {
        let (f, b) = walk_size(&media_dir.join(kind.name()));
        if f > 0 {
            out.push_str(&format!(
                "  {:<10} {f} files, {}\n",
                kind.name(),
                human_bytes(b)
            ));
        }
    }
    let (bf, bb) = walk_size(&media_dir.join(result_collector::media::BLOB_DIR));
    if bf > 0 {
        out.push_str(&format!(
            "  {:<10} {bf} files, {}\n",
            "blob",
            human_bytes(bb)
        ));
    }
    Ok(out.into_bytes())
}
