//! The command worker of `collector run`: one child process per job, its
//! results read from its stdout, the files it names adopted into the media
//! root.
//!
//! A [`CommandSpec`] comes from a sweep file ([`crate::SweepFile`]); a
//! [`CommandRunner`] runs it for the jobs of a sweep and is the worker of
//! [`ResultCollector::run`](crate::ResultCollector::run):
//!
//! ```
//! use result_collector::{ResultCollector, RunOptions, SweepFile, TimeSrc};
//! use result_collector::command::CommandRunner;
//!
//! let dir = tempfile::tempdir()?;
//! let file = SweepFile::parse(r#"
//! name = "echo"
//! [[input]]
//! name = "x"
//! values = [1.5, 2.0]
//! [[result]]
//! name = "y"
//! [command]
//! argv = ["echo", "{{\"y\": {x}}}"]  # prints {"y": 1.5}
//! "#, "echo.toml".as_ref())?;
//! let collector = ResultCollector::new(Some(dir.path()));
//! let runner = CommandRunner::new(file.command(), file.sweep(), collector.media_root()?)?;
//! let run = collector.run(file.sweep(), &TimeSrc::now(), &RunOptions::threads(1), |s| runner.run(s))?;
//! assert!(run.result.failures.is_empty(), "{:?}", run.result.failures);
//! let y = run.result.dataset.column("y")?.f64().expect("a float column").to_owned();
//! assert_eq!(y[[1, 0]], 2.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each job runs `argv` with its `{placeholders}` filled, without a shell
//! (unless `shell = true`), in the spec's working directory, with the
//! collector's environment plus the spec's `env` and, for every input and
//! constant, `RC_<NAME>` ([`env_name`]), plus `RC_REPEAT` and `RC_JOB_DIR`,
//! the job's own empty folder (under `<media root>/.tmp-jobs/`, removed
//! after the job). A job fails, and the failure carries the exit status and
//! the last lines of stderr, when the command cannot start, exits non-zero,
//! outlives its timeout, prints output that cannot be read, or lacks a
//! result or gives one of the wrong kind. A path, image, video or
//! recording result names a file (relative names are taken in
//! `RC_JOB_DIR`): it is moved (copied, when it lies outside `RC_JOB_DIR`)
//! to `<media root>/<kind>/<result>/<job key>/`, and a blob result's file
//! is stored as a content-addressed blob.

mod output;
mod process;
mod template;

use std::ffi::OsStr;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use collector_core::{Outputs, ResultKind, ResultValue, Sample, Sweep, sample_key};
use collector_media::MediaRoot;

pub use output::{Given, OutputFormat, Parsed, convert, read_output};
pub use template::{Template, env_name};
pub(crate) use template::{Var, env_vars, template_vars};

/// The built-in result: the wall clock around the command, in seconds
/// (measured by the collector, as hyperfine does).
pub const WALL_TIME: &str = "wall_time";

/// The folder under the media root holding each running job's `RC_JOB_DIR`.
/// Its name starts with `.tmp`, so orphan GC never looks inside.
pub const JOBS_DIR: &str = ".tmp-jobs";

/// How to run one job of a sweep: checked against the sweep when built.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub(crate) argv: Vec<Template>,
    pub(crate) shell: bool,
    pub(crate) output: OutputFormat,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cwd: PathBuf,
    pub(crate) env: Vec<(String, Template)>,
    /// The program, resolved when it is known before any job runs (`sh`
    /// with `shell = true`; `argv[0]` without placeholders).
    pub(crate) program: Option<PathBuf>,
    /// The `RC_` variables of every job.
    pub(crate) rc_env: Vec<(String, Var)>,
    /// The names of the sweep's inputs then constants it was built for.
    pub(crate) names: Vec<String>,
}

impl CommandSpec {
    /// The argument templates.
    pub fn argv(&self) -> &[Template] {
        &self.argv
    }
    /// Whether `argv[0]` is a `sh` script.
    pub fn shell(&self) -> bool {
        self.shell
    }
    /// The format of stdout.
    pub fn output(&self) -> OutputFormat {
        self.output
    }
    /// The per-job timeout.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
    /// The working directory of every job.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }
    /// The program, when known before any job runs.
    pub fn program(&self) -> Option<&Path> {
        self.program.as_deref()
    }
}

/// The input and constant names of `sweep`, in order.
pub(crate) fn var_names(sweep: &Sweep) -> Vec<String> {
    sweep
        .inputs()
        .iter()
        .map(|i| i.var.name().to_string())
        .chain(sweep.constants().iter().map(|c| c.name.clone()))
        .collect()
}

/// Finds `program` as `execvp` would: a name with a `/` is a path (taken
/// in `cwd` when relative), any other name is looked up in `path` (the
/// `PATH` to use). The file must exist and be executable; the error says
/// what was tried.
pub fn find_program(program: &str, cwd: &Path, path: Option<&OsStr>) -> Result<PathBuf, String> {
    if program.is_empty() {
        return Err("the program name is empty".into());
    }
    if program.contains('/') {
        let p = cwd.join(program);
        return match executable(&p) {
            Ok(()) => Ok(p),
            Err(why) => Err(format!("program `{program}` ({}) {why}", p.display())),
        };
    }
    let Some(path) = path else {
        return Err(format!(
            "program `{program}` not found: PATH is not set (give a path with a `/`)"
        ));
    };
    for dir in std::env::split_paths(path) {
        let dir = if dir.as_os_str().is_empty() {
            cwd.to_path_buf()
        } else {
            cwd.join(dir)
        };
        let p = dir.join(program);
        if executable(&p).is_ok() {
            return Ok(p);
        }
    }
    Err(format!(
        "program `{program}` not found in PATH ({})",
        path.to_string_lossy()
    ))
}

fn executable(p: &Path) -> Result<(), &'static str> {
    let meta = std::fs::metadata(p).map_err(|_| "does not exist")?;
    if !meta.is_file() {
        return Err("is not a file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err("is not executable (chmod +x it)");
        }
    }
    Ok(())
}

/// Why one job failed: what went wrong, how the command ended (when it
/// ran) and the last lines of its stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// What went wrong.
    pub reason: String,
    /// How the command ended (`exit code 3`, `killed by signal 9`), when
    /// it ran.
    pub status: Option<String>,
    /// The last lines of its stderr.
    pub stderr: Vec<String>,
}

impl fmt::Display for JobFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(s) = &self.status {
            write!(f, " ({s})")?;
        }
        if self.stderr.is_empty() {
            if self.status.is_some() {
                f.write_str("; stderr was empty")?;
            }
        } else {
            write!(
                f,
                "; stderr (last {} line{}):",
                self.stderr.len(),
                if self.stderr.len() == 1 { "" } else { "s" }
            )?;
            for l in &self.stderr {
                write!(f, "\n  {l}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for JobFailure {}

/// One result variable as the runner fills it.
#[derive(Debug)]
struct Slot {
    name: String,
    kind: ResultKind,
    wall_time: bool,
}

/// Runs a [`CommandSpec`] for the jobs of one sweep: the worker of
/// [`ResultCollector::run`](crate::ResultCollector::run). Shared by every
/// worker thread.
#[derive(Debug)]
pub struct CommandRunner<'a> {
    spec: &'a CommandSpec,
    sweep: &'a Sweep,
    media: MediaRoot,
    jobs_dir: PathBuf,
    consts: Vec<String>,
    slots: Vec<Slot>,
    /// The results read from stdout (all but `wall_time`).
    wanted: Vec<String>,
}

impl<'a> CommandRunner<'a> {
    /// A runner of `spec` for `sweep` (the sweep the spec was read with,
    /// whatever its code version), its files adopted into `media`.
    pub fn new(spec: &'a CommandSpec, sweep: &'a Sweep, media: MediaRoot) -> crate::Result<Self> {
        let names = var_names(sweep);
        if names != spec.names {
            return Err(crate::Error::CommandMismatch {
                sweep: sweep.name().to_string(),
                expected: spec.names.join(", "),
                found: names.join(", "),
            });
        }
        let jobs_dir = media.path().join(JOBS_DIR);
        std::fs::create_dir_all(&jobs_dir).map_err(|source| crate::Error::Io {
            what: "creating the jobs' folder",
            path: jobs_dir.clone(),
            source,
        })?;
        // Each job's folder in it is emptied with `remove_dir_all`: never
        // through a link to elsewhere.
        if std::fs::symlink_metadata(&jobs_dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(crate::Error::SymlinkedDir {
                what: "jobs' folder",
                target: std::fs::read_link(&jobs_dir).unwrap_or_default(),
                path: jobs_dir,
            });
        }
        let slots: Vec<Slot> = sweep
            .results()
            .iter()
            .map(|r| Slot {
                name: r.name().to_string(),
                kind: r.kind(),
                wall_time: r.name() == WALL_TIME,
            })
            .collect();
        let wanted = slots
            .iter()
            .filter(|s| !s.wall_time)
            .map(|s| s.name.clone())
            .collect();
        Ok(CommandRunner {
            spec,
            sweep,
            media,
            jobs_dir,
            consts: sweep
                .constants()
                .iter()
                .map(|c| c.value.to_string())
                .collect(),
            slots,
            wanted,
        })
    }

    /// Runs job `s`: its outputs, or why it failed.
    pub fn run(&self, s: &Sample<'_>) -> Result<Outputs, JobFailure> {
        let inputs = s.inputs();
        let key = sample_key(self.sweep, &inputs);
        let job_dir = JobDir::create(&self.jobs_dir, &key)?;
        let job_dir_text = job_dir.0.to_string_lossy().into_owned();
        let values: Vec<String> = inputs
            .iter()
            .take(self.sweep.inputs().len())
            .map(|(_, v)| v.to_string())
            .collect();
        let repeat = s.repeat().to_string();
        let value = |v: Var| -> &str {
            match v {
                Var::Input(i) => values.get(i).map_or("", String::as_str),
                Var::Const(i) => self.consts.get(i).map_or("", String::as_str),
                Var::Repeat => &repeat,
                Var::JobDir => &job_dir_text,
            }
        };
        let mut cmd = self.command(&value)?;
        let shown = self.shown_program(&value);
        let finished = process::run(
            &mut cmd,
            self.spec.output != OutputFormat::None,
            self.spec.timeout,
        )
        .map_err(|e| JobFailure {
            reason: format!("`{shown}` could not be started: {e}"),
            status: None,
            stderr: Vec::new(),
        })?;
        let status = Some(process::describe(finished.status));
        let fail = |reason: String| JobFailure {
            reason,
            status: status.clone(),
            stderr: finished.stderr_tail.clone(),
        };
        if finished.timed_out {
            let t = self.spec.timeout.unwrap_or_default();
            return Err(fail(format!(
                "`{shown}` timed out after {} s and was killed",
                t.as_secs_f64()
            )));
        }
        if !finished.status.success() {
            return Err(fail(format!("`{shown}` failed")));
        }
        if finished.stdout_overflow {
            return Err(fail(format!(
                "`{shown}` wrote more than {} MiB to stdout",
                process::STDOUT_LIMIT >> 20
            )));
        }
        let wanted: Vec<&str> = self.wanted.iter().map(String::as_str).collect();
        let mut given = read_output(self.spec.output, &finished.stdout, &wanted)
            .map_err(|e| fail(format!("output of `{shown}`: {e}")))?
            .into_iter();
        // Every result is read before any file is adopted, so that a job
        // failing on its output leaves nothing in the media root.
        let mut parsed = Vec::with_capacity(self.slots.len());
        for r in &self.slots {
            if r.wall_time {
                parsed.push(Parsed::Float(finished.wall.as_secs_f64()));
                continue;
            }
            let Some(g) = given.next().flatten() else {
                return Err(fail(format!(
                    "output of `{shown}`: result `{}` is missing ({} output)",
                    r.name,
                    self.spec.output.name()
                )));
            };
            parsed.push(
                convert(&r.name, r.kind, g)
                    .map_err(|e| fail(format!("output of `{shown}`: {e}")))?,
            );
        }
        let mut out = s.outputs();
        let mut adopted = Adopted::default();
        for (slot, (r, p)) in self.slots.iter().zip(parsed).enumerate() {
            match p {
                Parsed::Float(x) => out.set_slot(slot, x),
                Parsed::Bool(b) => out.set_slot(slot, b),
                Parsed::Vec(v) => out.set_slot(slot, v),
                Parsed::Text(t) => out.set_slot(slot, t),
                Parsed::Object(o) => out.set_slot(slot, ResultValue::Object(Box::new(o))),
                Parsed::File(named) => {
                    match self.adopt(r, &key, &job_dir.0, &named, &mut adopted) {
                        Ok(cell) => out.set_slot(slot, cell),
                        Err(e) => {
                            // The job failed: the files it placed go too
                            // (no record will name them).
                            for (_, placed) in &adopted.moved {
                                let _ = std::fs::remove_file(placed);
                            }
                            for placed in &adopted.copied {
                                let _ = std::fs::remove_file(placed);
                            }
                            return Err(fail(format!("result `{}`: {e}", r.name)));
                        }
                    }
                }
            };
        }
        Ok(out)
    }

    /// The command of one job.
    fn command<'v>(&self, value: &impl Fn(Var) -> &'v str) -> Result<Command, JobFailure> {
        let spec = self.spec;
        let mut cmd = if spec.shell {
            let sh = spec.program.clone().unwrap_or_else(|| PathBuf::from("sh"));
            let mut c = Command::new(sh);
            c.arg("-c");
            if let Some((script, rest)) = spec.argv.split_first() {
                c.arg(script.render(value, true)).arg("sh");
                c.args(rest.iter().map(|a| a.render(value, false)));
            }
            c
        } else {
            let (first, rest) = spec.argv.split_first().ok_or_else(|| JobFailure {
                reason: "the command's argv is empty".into(),
                status: None,
                stderr: Vec::new(),
            })?;
            let program = match &spec.program {
                Some(p) => p.clone(),
                None => {
                    let name = first.render(value, false);
                    let path = spec
                        .env
                        .iter()
                        .find(|(k, _)| k == "PATH")
                        .map(|(_, t)| t.render(value, false).into())
                        .or_else(|| std::env::var_os("PATH"));
                    find_program(&name, &spec.cwd, path.as_deref()).map_err(|reason| {
                        JobFailure {
                            reason,
                            status: None,
                            stderr: Vec::new(),
                        }
                    })?
                }
            };
            let mut c = Command::new(program);
            c.args(rest.iter().map(|a| a.render(value, false)));
            c
        };
        cmd.current_dir(&spec.cwd);
        for (k, t) in &spec.env {
            cmd.env(k, t.render(value, false));
        }
        for (k, v) in &spec.rc_env {
            cmd.env(k, value(*v));
        }
        Ok(cmd)
    }

    /// The program as messages name it.
    fn shown_program<'v>(&self, value: &impl Fn(Var) -> &'v str) -> String {
        if self.spec.shell {
            return "sh -c …".into();
        }
        self.spec
            .argv
            .first()
            .map(|t| t.render(value, false))
            .unwrap_or_default()
    }

    /// Moves (or copies) the file `named` that the command gave for result
    /// `r` into the media root; returns the cell. A file this job moved
    /// already (named by two results) is copied from where it went.
    fn adopt(
        &self,
        r: &Slot,
        key: &str,
        job_dir: &Path,
        named: &str,
        adopted: &mut Adopted,
    ) -> Result<String, String> {
        let p = Path::new(named);
        let named_path = if p.is_absolute() {
            p.to_path_buf()
        } else {
            if p.components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
            {
                return Err(format!(
                    "{named:?} leaves RC_JOB_DIR: name a file in it, or give an absolute path"
                ));
            }
            job_dir.join(p)
        };
        let (src, moved_already) = match adopted.moved.iter().find(|(from, _)| *from == named_path)
        {
            Some((_, to)) => (to.clone(), true),
            None => (named_path.clone(), false),
        };
        let meta = std::fs::metadata(&src).map_err(|_| {
            format!(
                "the command named {named:?}, but {} does not exist (relative names are taken in RC_JOB_DIR)",
                src.display()
            )
        })?;
        if !meta.is_file() {
            return Err(format!("{} is not a file", src.display()));
        }
        let inside = !moved_already
            && src.starts_with(job_dir)
            && !src.components().any(|c| matches!(c, Component::ParentDir));
        if r.kind == ResultKind::Blob {
            let bytes =
                std::fs::read(&src).map_err(|e| format!("reading {}: {e}", src.display()))?;
            let ext = named_path.extension().and_then(OsStr::to_str).unwrap_or("");
            return self
                .media
                .write_blob(&bytes, ext)
                .map_err(|e| e.to_string());
        }
        let name = named_path
            .file_name()
            .and_then(OsStr::to_str)
            .ok_or_else(|| format!("{named:?} has no usable file name"))?;
        let adopt_err = |e: collector_media::Error| format!("adopting {}: {e}", src.display());
        // A file of the job's folder is renamed over a reserved name (no
        // byte written); any other is copied through a temporary file, so
        // a failed copy (a full disk) leaves no part of it in the media root.
        let renamed = if inside {
            let reserved = self
                .media
                .new_file(r.kind, &r.name, key, name)
                .map_err(|e| e.to_string())?;
            drop(reserved.file);
            match std::fs::rename(&src, &reserved.path) {
                Ok(()) => Some((reserved.path, reserved.cell)),
                Err(_) => {
                    let _ = std::fs::remove_file(&reserved.path);
                    None
                }
            }
        } else {
            None
        };
        let (placed_path, cell) = match renamed {
            Some(p) => p,
            None => {
                let placed = self
                    .media
                    .copy_file(r.kind, &r.name, key, name, &src)
                    .map_err(adopt_err)?;
                (placed.path, placed.cell)
            }
        };
        if inside {
            adopted.moved.push((named_path, placed_path));
        } else {
            adopted.copied.push(placed_path);
        }
        Ok(cell)
    }
}

impl Drop for CommandRunner<'_> {
    fn drop(&mut self) {
        // Only when empty: another runner may still be using it.
        let _ = std::fs::remove_dir(&self.jobs_dir);
    }
}

/// The files one job placed in the media root.
#[derive(Debug, Default)]
struct Adopted {
    /// Moved from the job's folder: (where the command named it, where it went).
    moved: Vec<(PathBuf, PathBuf)>,
    /// Copied.
    copied: Vec<PathBuf>,
}

/// A job's `RC_JOB_DIR`: created empty, removed with what is left in it.
struct JobDir(PathBuf);

impl JobDir {
    fn create(jobs_dir: &Path, key: &str) -> Result<JobDir, JobFailure> {
        let dir = jobs_dir.join(key);
        let made = std::fs::create_dir(&dir).or_else(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                // Left by a killed run: start empty.
                std::fs::remove_dir_all(&dir).and_then(|()| std::fs::create_dir(&dir))
            } else if e.kind() == std::io::ErrorKind::NotFound {
                std::fs::create_dir_all(&dir)
            } else {
                Err(e)
            }
        });
        made.map_err(|e| JobFailure {
            reason: format!("creating the job's folder {}: {e}", dir.display()),
            status: None,
            stderr: Vec::new(),
        })?;
        Ok(JobDir(dir))
    }
}

impl Drop for JobDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn file(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn programs_are_found_as_execvp_would() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        file(&a.join("tool"), 0o644);
        file(&b.join("tool"), 0o755);
        std::fs::create_dir_all(a.join("dir")).unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        // The first executable one in PATH order.
        assert_eq!(
            find_program("tool", dir.path(), Some(&path)).unwrap(),
            b.join("tool")
        );
        // A relative PATH entry is taken in the working directory.
        assert_eq!(
            find_program("tool", dir.path(), Some(OsStr::new("b"))).unwrap(),
            dir.path().join("b").join("tool")
        );
        let e = find_program("dir", dir.path(), Some(&path)).unwrap_err();
        assert!(e.contains("not found in PATH"), "{e}");
        // A name with a slash is a path, in the working directory.
        assert_eq!(
            find_program("./b/tool", dir.path(), None).unwrap(),
            dir.path().join("./b/tool")
        );
        let e = find_program("a/tool", dir.path(), None).unwrap_err();
        assert!(e.contains("not executable"), "{e}");
        let e = find_program("a/dir", dir.path(), None).unwrap_err();
        assert!(e.contains("is not a file"), "{e}");
        let e = find_program("tool", dir.path(), None).unwrap_err();
        assert!(e.contains("PATH is not set"), "{e}");
        assert!(find_program("", dir.path(), None).is_err());
    }

    #[test]
    fn a_runner_refuses_another_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let file = crate::SweepFile::parse(
            "name = \"a\"\n[[input]]\nname = \"x\"\nvalues = [1]\n[command]\nargv = [\"true\"]\noutput = \"none\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        let other = Sweep::builder("a")
            .input(collector_core::InputVar::int_values("y", [1]))
            .result(collector_core::ResultVar::float(WALL_TIME))
            .build()
            .unwrap();
        let media = MediaRoot::new(dir.path()).unwrap();
        let e = CommandRunner::new(file.command(), &other, media.clone()).unwrap_err();
        assert!(
            e.to_string().contains("[x]") && e.to_string().contains("[y]"),
            "{e}"
        );
        // Another code version of the same sweep is fine.
        let v2 = file.sweep_at("v2").unwrap();
        assert!(CommandRunner::new(file.command(), &v2, media).is_ok());
    }

    #[test]
    fn failures_print_the_status_and_the_stderr_lines() {
        let f = JobFailure {
            reason: "`prog` failed".into(),
            status: Some("exit code 2".into()),
            stderr: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            f.to_string(),
            "`prog` failed (exit code 2); stderr (last 2 lines):\n  a\n  b"
        );
        let f = JobFailure {
            reason: "cannot start".into(),
            status: None,
            stderr: Vec::new(),
        };
        assert_eq!(f.to_string(), "cannot start");
    }
}
