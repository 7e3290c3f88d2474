//! The command line: arguments, and how a bad one is reported.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use result_collector::CacheDir;

/// Run a function over a grid of parameters, cache every result in RocksDB,
/// keep its history over time, and inspect what is stored.
#[derive(Debug, Parser)]
#[command(name = "collector", version, about, long_about = None)]
pub struct Cli {
    /// The cache directory (holds db/, media/ and reports/).
    #[arg(
        long,
        global = true,
        env = CacheDir::ENV,
        default_value = CacheDir::DEFAULT,
        value_name = "DIR"
    )]
    pub cache_dir: PathBuf,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); overrides RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less output on stderr: errors only, no progress bar (-qq: no logs at all).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    /// The most memory a run or a history load may need (bytes, or with a suffix K, M, G, T: powers of 1024); one over it is refused before anything is allocated. Default: half of physical memory.
    #[arg(
        long,
        global = true,
        env = "RESULT_COLLECTOR_MEMORY_LIMIT",
        value_name = "SIZE",
        value_parser = parse_size
    )]
    pub memory_limit: Option<u64>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the built-in demo sweep (in parallel, cached, with history) and write its HTML report.
    Demo(DemoArgs),
    /// Run any program over the grid of a sweep file (cached, with history) and write its HTML report.
    #[command(after_long_help = crate::run::FORMAT_HELP)]
    Run(RunArgs),
    /// List the sweeps stored in the cache: keys, completeness, cells, events and bytes.
    Ls,
    /// Print the summary of a stored result (and optionally its tidy table and failures).
    Show(ShowArgs),
    /// Print the history of a sweep: its events and per-column values over time.
    History(TargetArg),
    /// Export a stored result (or history) as CSV, JSON or netCDF.
    Export(ExportArgs),
    /// Write the HTML report of a sweep (its history when it has one, else its result).
    Report(ReportArgs),
    /// Check the newest event of a sweep's history for regressions against the events before it.
    Check(CheckArgs),
    /// Merge shard runs (cache directories written with --shard K/N) into one result and one history event.
    Merge(MergeArgs),
    /// List the job records by sweep (what --resume reuses), or remove one sweep's with --remove.
    Jobs(JobsArgs),
    /// Find media files that no stored record references; delete them with --delete.
    Gc(GcArgs),
    /// Show the sizes of the cache database and of the media directory.
    Stats,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub event: EventArgs,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
    #[command(flatten)]
    pub check: RunCheckArgs,
    #[command(flatten)]
    pub jobs: JobArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The sweep file (TOML; its format is below, and in examples/sweeps/reference.toml).
    #[arg(value_name = "SWEEP.toml")]
    pub file: PathBuf,
    #[command(flatten)]
    pub event: EventArgs,
    /// Jobs run at once. The default, 1, keeps timings undisturbed by other jobs.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: u64,
    #[command(flatten)]
    pub check: RunCheckArgs,
    #[command(flatten)]
    pub jobs: JobArgs,
}

/// The flags of a run that records a history event (`demo`, `run`).
#[derive(Debug, Args)]
pub struct EventArgs {
    /// Label of this run's history event (a git hash, "v1.2", …); an event with the same label is replaced. Default: the current time.
    #[arg(long, conflicts_with = "timestamp")]
    pub label: Option<String>,
    /// Timestamp of this run's history event (RFC 3339, e.g. 2026-11-28T12:00:00Z); events stay in time order, and one with the same timestamp is replaced.
    #[arg(long, value_name = "RFC3339")]
    pub timestamp: Option<String>,
    /// The code version recorded with the event (a commit, a release); part of the result's identity, not of the history's (run: instead of the sweep file's `version`).
    #[arg(long, value_name = "STR")]
    pub code_version: Option<String>,
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Take a complete cached result instead of running the jobs (a hit adds no history event).
    #[arg(long)]
    pub use_cache: bool,
    /// Where to write the HTML report (default: CACHE_DIR/reports/SWEEP.html).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
}

/// How a run's event goes into its history (`demo`, `run`, `merge`).
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Keep only the newest N history events (this run's included).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_time_events: Option<u64>,
    /// Drop the stored history events before adding this run's.
    #[arg(long)]
    pub clear_history: bool,
    /// When the history cannot be continued (inputs changed, a column changed kind, units or meaning): warn and start afresh, error and write nothing, or ignore.
    #[arg(long, value_name = "POLICY", default_value = "warn", value_parser = parse_policy)]
    pub reset_policy: result_collector::ResetPolicy,
}

impl HistoryArgs {
    /// The history options these flags give (the whole history returned:
    /// the report needs it).
    pub fn options(&self) -> result_collector::HistoryOptions {
        result_collector::HistoryOptions {
            max_time_events: self.max_time_events.map(|n| n as usize),
            clear_history: self.clear_history,
            reset_policy: Some(self.reset_policy),
            return_history: true,
        }
    }
}

/// Job records and shards: what a run reuses, and which jobs it takes.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// Reuse recorded jobs: recorded successes are taken as they are; failed and never-recorded jobs run. Every run records its jobs, so a crashed or grown sweep resumes where it stopped.
    #[arg(long, conflicts_with_all = ["retry_failed", "force"])]
    pub resume: bool,
    /// Rerun only the jobs recorded as failed (successes are reused, jobs never recorded are skipped).
    #[arg(long, conflicts_with = "force")]
    pub retry_failed: bool,
    /// Ignore job records and run every job, recording it again (what a run does without --resume).
    #[arg(long)]
    pub force: bool,
    /// Run shard K of N (1-based) of the jobs: jobs are dealt by the hash of their inputs, so a job keeps its shard when the grid grows. The shard writes job records and a manifest, no history event; `collector merge` assembles the shards.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<result_collector::Shard>,
    /// With --shard: deal jobs round-robin over the grid order (the most even split; jobs move between shards when the grid grows).
    #[arg(long, requires = "shard")]
    pub round_robin: bool,
}

impl JobArgs {
    /// The reuse these flags ask for.
    pub fn reuse(&self) -> result_collector::Reuse {
        if self.resume {
            result_collector::Reuse::Resume
        } else if self.retry_failed {
            result_collector::Reuse::RetryFailed
        } else {
            result_collector::Reuse::Off
        }
    }

    /// The shard these flags ask for.
    pub fn shard(&self) -> Option<result_collector::Shard> {
        self.shard.map(|s| {
            if self.round_robin {
                s.assign(result_collector::ShardAssign::RoundRobin)
            } else {
                s
            }
        })
    }
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The cache directories the shards wrote (one per machine, or one shared directory).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// The cache directory to merge into (default: --cache-dir).
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    /// The sweep to merge, when the directories hold shards of several.
    #[arg(long, value_name = "NAME")]
    pub sweep: Option<String>,
    /// Merge even when shards are missing, or some of their jobs have no record: their cells stay empty and are reported.
    #[arg(long)]
    pub partial: bool,
    /// Label of the merged run's history event. Default: the current time.
    #[arg(long, conflicts_with = "timestamp")]
    pub label: Option<String>,
    /// Timestamp of the merged run's history event (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub timestamp: Option<String>,
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Check the merged event for regressions and print the report.
    #[arg(long)]
    pub check: bool,
    /// With --check: exit with an error when a regression blocks (after saving).
    #[arg(long, requires = "check")]
    pub fail_on_regression: bool,
    /// Where to write the HTML report (default: CACHE_DIR/reports/SWEEP.html).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Remove every job record of this sweep.
    #[arg(long, value_name = "SWEEP")]
    pub remove: Option<String>,
}

/// The regression check after a run (`demo`, `run`).
#[derive(Debug, Args)]
pub struct RunCheckArgs {
    /// Check this run's event for regressions against the history before it (the directions are the sweep's) and print the report.
    #[arg(long)]
    pub check: bool,
    /// Exit with code 1 when the check finds a blocking regression (one with a mature baseline); implies --check. The run is stored either way.
    #[arg(long)]
    pub fail_on_regression: bool,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

impl RunCheckArgs {
    /// Whether a check was asked for.
    pub fn wanted(&self) -> bool {
        self.check || self.fail_on_regression
    }
}

/// The options of the regression detector (`check`, and `demo`/`run` with --check).
#[derive(Debug, Args)]
pub struct DetectorArgs {
    /// The detection method: adaptive (the default; adaptive:SIGMAS,FLOOR_PCT), percentage (percentage:T_PCT), delta:L, absolute:L, t (t:Q) or iqr (iqr:K).
    #[arg(long, value_name = "SPEC", value_parser = parse_method)]
    pub method: Option<result_collector::model::regress::Method>,
    /// One series per grid cell or per variable (default: per cell below 10000 cells).
    #[arg(long, value_name = "GRAIN", value_parser = parse_grain)]
    pub grain: Option<result_collector::model::regress::Grain>,
    /// Regressions of series with fewer events since their birth are young: reported, never blocking.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_history: usize,
    /// The Benjamini-Hochberg false discovery rate of the per-cell statistical tests, in (0, 1].
    #[arg(long, value_name = "F", default_value_t = 0.05, value_parser = parse_fdr)]
    pub fdr: f64,
}

impl DetectorArgs {
    /// The detector's options.
    pub fn options(&self) -> result_collector::model::regress::Options {
        result_collector::model::regress::Options {
            method: self.method.unwrap_or_default(),
            grain: self.grain,
            min_history: self.min_history,
            fdr: self.fdr,
            ..result_collector::model::regress::Options::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct TargetArg {
    /// A sweep name (its newest stored result), or a cache or history key (a unique prefix is enough).
    pub target: String,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A sweep name (its newest stored result), or a cache or history key (a unique prefix is enough).
    pub target: String,
    /// Also print the tidy table: one row per cell.
    #[arg(long)]
    pub table: bool,
    /// Rows of the tidy table to print.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub rows: usize,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// The tidy table as CSV: one row per cell.
    Csv,
    /// The whole dataset (dims, coords, columns, failures, attributes) as JSON.
    Json,
    /// netCDF-4, as xarray opens it (`xarray.open_dataset`); needs -o FILE, and a build with the `netcdf` feature (the default).
    Netcdf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A sweep name (its newest stored result), or a cache or history key (a unique prefix is enough).
    pub target: String,
    /// The output format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Export the history (every event) instead of the result.
    #[arg(long)]
    pub history: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A sweep name (its newest stored result), or a cache or history key (a unique prefix is enough).
    pub target: String,
    /// The HTML file to write (default: CACHE_DIR/reports/SWEEP.html).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Leave out the regression check (by default a history's page marks each regressed series and lists them at the top).
    #[arg(long)]
    pub no_check: bool,
    /// Link the image files (by their path relative to the page) instead of inlining them: a smaller page, which shows the images only beside the cache directory's media folder.
    #[arg(long)]
    pub link_media: bool,
    /// The repeat whose images are shown (1 for the first).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
    pub image_repeat: i64,
    #[command(flatten)]
    pub detect: DetectArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A sweep name (its current history), or a history key (a unique prefix is enough).
    pub target: String,
    #[command(flatten)]
    pub detect: DetectArgs,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Exit with code 1 when a regression blocks (one with a mature baseline).
    #[arg(long)]
    pub fail: bool,
}

/// The detector's options and the directions of a check over a stored
/// history (`check`, `report`): the history keeps no directions.
#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub detector: DetectorArgs,
    /// A variable (or column) for which larger is worse; repeatable. The stored history keeps no directions: a variable named by neither flag is checked both ways.
    #[arg(long, value_name = "NAME")]
    pub minimize: Vec<String>,
    /// A variable (or column) for which smaller is worse; repeatable.
    #[arg(long, value_name = "NAME")]
    pub maximize: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Delete the orphan files (without it, only report them).
    #[arg(long)]
    pub delete: bool,
    /// Spare unreferenced files modified less than this many seconds ago.
    #[arg(long, value_name = "N", default_value_t = result_collector::media::DEFAULT_GRACE.as_secs())]
    pub grace_secs: u64,
}

fn parse_method(s: &str) -> Result<result_collector::model::regress::Method, String> {
    s.parse()
        .map_err(|e: result_collector::model::regress::ParseMethodError| e.to_string())
}

fn parse_grain(s: &str) -> Result<result_collector::model::regress::Grain, String> {
    s.parse()
        .map_err(|e: result_collector::model::regress::ParseMethodError| e.to_string())
}

fn parse_fdr(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!("`{s}` is not a rate in (0, 1]")),
    }
}

/// A size in bytes: `1000000`, `512M`, `8G` (K, M, G, T: powers of 1024,
/// an optional `iB` or `B` after).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("`{s}`: unknown unit `{c}` (expected K, M, G or T)")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a size (bytes, or a number with K, M, G or T)"))?;
    n.checked_mul(1 << shift)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("`{s}` is not a size between 1 byte and 16 EiB"))
}

fn parse_shard(s: &str) -> Result<result_collector::Shard, String> {
    s.parse()
}

fn parse_policy(s: &str) -> Result<result_collector::ResetPolicy, String> {
    s.parse()
}

/// Prints help and version as asked; any other parse error is one
/// `error: …` line and exit code 2.
pub fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            let rendered = e.render().to_string();
            let mut lines = rendered.lines();
            let first = lines.next().unwrap_or("error: invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            // A list follows a line ending in `:` (the missing required
            // arguments): keep it on the one line.
            let listed: Vec<&str> = if first.ends_with(':') {
                lines
                    .take_while(|l| !l.trim().is_empty())
                    .map(str::trim)
                    .collect()
            } else {
                Vec::new()
            };
            let first = if listed.is_empty() {
                first.to_string()
            } else {
                format!("{first} {}", listed.join(", "))
            };
            eprintln!("error: {first} (see `collector --help`)");
            ExitCode::from(2)
        }
    }
}
