//! Sweep files: a sweep and the command that runs each of its jobs,
//! declared in TOML, for `collector run`.
//!
//! [`SweepFile::load`] reads a file, [`SweepFile::parse`] a text; both
//! check everything a run would otherwise find out job by job, before any
//! job runs: unknown keys, wrong types, bad declarations, a `{placeholder}`
//! that names no input or constant, a result no output format can fill,
//! and a program that does not exist. Every error names the file, the line
//! and the column ([`SweepFileError`]).
//!
//! The format, in full (`collector run --help` prints the same, and
//! `examples/sweeps/reference.toml` uses every key):
//!
//! ```toml
//! name = "sort"                 # required: the sweep's name (its history)
//! title = "Sorting"             # display only
//! description = "..."           # display only
//! tag = "ci"                    # part of every identity key
//! version = "1a2b3c"            # the code version (collector run --code-version overrides it)
//! repeats = 3                   # default 1
//! over_time = true              # keep a history (default false)
//! catch = "record"              # a failed job: "record" (default) and go on, or "fail-fast"
//! fail_on_sample_error = 0.1    # fail the run above this failed fraction, or "any"
//!
//! [[input]]                     # one per dim, in order
//! name = "size"
//! values = [1000, 10000]        # ints -> int input, floats -> float, strings -> labels,
//!                               # [false, true] -> bool
//! units = "items"
//! description = "..."
//!
//! [[input]]
//! name = "x"
//! bounds = [0.0, 1.0]           # floats: with samples (ends included) or step (below hi)
//! samples = 5                   # ints: every integer, or samples of them, or step
//!
//! [[input]]
//! name = "fast"
//! kind = "bool"                 # float | int | labels | bool: only when values don't say
//! default = true                # bool: [true, false]
//!
//! [[constant]]
//! name = "mode"
//! value = "release"             # string, int, float or bool
//! units = ""
//!
//! [[result]]
//! name = "time"
//! kind = "float"                # float (default), bool, vec(N), string, path, image,
//!                               # video, recording, blob, reference
//! units = "s"
//! direction = "minimize"        # minimize | maximize | none (default)
//! max_time_events = 10          # keep this result in the newest 10 events only
//! meaning_version = 1           # bump when what it measures changes
//! description = "..."
//!
//! [command]
//! argv = ["./bench", "--size={size}", "{x}"]  # no shell; {name}: an input or constant,
//!                                # {repeat}, {job_dir}; {{ and }} are literal braces
//! shell = false                 # true: argv[0] is a sh script (placeholders quoted for sh),
//!                               # argv[1..] its $1, $2, ...
//! output = "json"               # json (default) | key-value | none
//! timeout = 60                  # seconds per job (default: none)
//! cwd = "."                     # the working directory, relative to this file's directory
//! env = { OMP_NUM_THREADS = "1", SIZE = "{size}" }
//! ```
//!
//! ```
//! use result_collector::SweepFile;
//! let file = SweepFile::parse(
//!     r#"
//! name = "echo"
//! [[input]]
//! name = "n"
//! values = [1, 2, 3]
//! [[result]]
//! name = "n2"
//! [command]
//! argv = ["sh", "-c", "echo n2=$((RC_N * RC_N))"]
//! output = "key-value"
//! "#,
//!     std::path::Path::new("echo.toml"),
//! )?;
//! assert_eq!(file.sweep().job_count(), 3);
//! let err = SweepFile::parse("name = \"x\"\nrepeat = 3\n", "x.toml".as_ref()).unwrap_err();
//! assert!(err.to_string().starts_with("x.toml:2:1: unknown field `repeat`"), "{err}");
//! # Ok::<(), result_collector::Error>(())
//! ```

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use collector_core::{
    CatchPolicy, ConstVar, Direction, FailThreshold, InputVar, ResultKind, ResultVar, Sweep,
    SweepBuilder, Value,
};
use serde::Deserialize;
use toml::Spanned;

use crate::command::{
    CommandSpec, OutputFormat, Template, WALL_TIME, env_vars, find_program, template_vars,
    var_names,
};

/// A sweep file that could not be read, parsed or checked: the file, the
/// line and column (1-based; the column counts characters) when the error
/// has a place, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
pub struct SweepFileError {
    /// The sweep file.
    pub path: PathBuf,
    /// Line and column, 1-based, when the error has a place in the file.
    pub location: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

/// A parsed and checked sweep file: the sweep and its command.
#[derive(Debug, Clone)]
pub struct SweepFile {
    path: PathBuf,
    builder: SweepBuilder,
    sweep: Sweep,
    command: CommandSpec,
}

impl SweepFile {
    /// Reads and checks the sweep file at `path` (see the module docs).
    pub fn load(path: &Path) -> crate::Result<SweepFile> {
        let text = std::fs::read_to_string(path).map_err(|e| SweepFileError {
            path: path.to_path_buf(),
            location: None,
            message: format!("cannot read the sweep file: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks the text of a sweep file; `path` names it in
    /// errors, and its directory is where a relative `cwd` (and the
    /// default working directory) is taken from.
    pub fn parse(text: &str, path: &Path) -> crate::Result<SweepFile> {
        let ctx = Ctx { text, path };
        let decl: FileDecl = toml::from_str(text).map_err(|e| {
            let span = e.span();
            ctx.err_at(span, e.message().trim_end().to_string())
        })?;
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        Ok(decl.build(&ctx, &base)?)
    }

    /// The file this sweep was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sweep, with the file's code version.
    pub fn sweep(&self) -> &Sweep {
        &self.sweep
    }

    /// The sweep with `version` as its code version instead of the file's
    /// (`collector run --code-version`).
    pub fn sweep_at(&self, version: &str) -> crate::Result<Sweep> {
        Ok(self.builder.clone().version(version).build()?)
    }

    /// The command that runs each job.
    pub fn command(&self) -> &CommandSpec {
        &self.command
    }
}

/// Where errors point: the text and the file's name.
pub(crate) struct Ctx<'a> {
    pub(crate) text: &'a str,
    pub(crate) path: &'a Path,
}

impl Ctx<'_> {
    /// An error at byte `span.start` of the text (no place when `None`).
    pub(crate) fn err_at(&self, span: Option<Range<usize>>, message: String) -> SweepFileError {
        SweepFileError {
            path: self.path.to_path_buf(),
            location: span.map(|s| line_column(self.text, s.start)),
            message,
        }
    }

    pub(crate) fn err<T>(&self, at: &Spanned<T>, message: String) -> SweepFileError {
        self.err_at(Some(at.span()), message)
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

// ------------------------------------------------------------ the file's shape

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDecl {
    name: Spanned<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    version: String,
    repeats: Option<Spanned<i64>>,
    #[serde(default)]
    over_time: bool,
    #[serde(default)]
    catch: CatchDecl,
    fail_on_sample_error: Option<Spanned<toml::Value>>,
    #[serde(default, rename = "input")]
    inputs: Vec<Spanned<InputDecl>>,
    #[serde(default, rename = "constant")]
    constants: Vec<Spanned<ConstDecl>>,
    #[serde(default, rename = "result")]
    results: Vec<Spanned<ResultDecl>>,
    command: Spanned<CommandDecl>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum CatchDecl {
    #[default]
    Record,
    FailFast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum InputKind {
    Float,
    Int,
    Labels,
    Bool,
}

impl InputKind {
    fn name(self) -> &'static str {
        match self {
            InputKind::Float => "float",
            InputKind::Int => "int",
            InputKind::Labels => "labels",
            InputKind::Bool => "bool",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputDecl {
    name: Spanned<String>,
    kind: Option<Spanned<InputKind>>,
    values: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    bounds: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    samples: Option<Spanned<usize>>,
    step: Option<Spanned<toml::Value>>,
    default: Option<Spanned<bool>>,
    #[serde(default)]
    units: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstDecl {
    name: Spanned<String>,
    value: Spanned<toml::Value>,
    #[serde(default)]
    units: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultDecl {
    name: Spanned<String>,
    kind: Option<Spanned<String>>,
    #[serde(default)]
    units: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    direction: DirectionDecl,
    max_time_events: Option<Spanned<usize>>,
    #[serde(default)]
    meaning_version: u32,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum DirectionDecl {
    Minimize,
    Maximize,
    #[default]
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandDecl {
    argv: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    shell: bool,
    #[serde(default)]
    output: OutputDecl,
    timeout: Option<Spanned<f64>>,
    cwd: Option<Spanned<String>>,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum OutputDecl {
    #[default]
    Json,
    KeyValue,
    None,
}

// ------------------------------------------------------------ building

impl FileDecl {
    fn build(self, ctx: &Ctx<'_>, base: &Path) -> Result<SweepFile, SweepFileError> {
        let name = self.name.get_ref().clone();
        if name.trim().is_empty() {
            return Err(ctx.err(&self.name, "the sweep name is empty".into()));
        }
        let mut b = Sweep::builder(name)
            .title(self.title)
            .description(self.description)
            .tag(self.tag)
            .version(self.version)
            .over_time(self.over_time)
            .catch(match self.catch {
                CatchDecl::Record => CatchPolicy::Record,
                CatchDecl::FailFast => CatchPolicy::FailFast,
            });
        if let Some(r) = &self.repeats {
            let n = usize::try_from(*r.get_ref())
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ctx.err(r, format!("repeats {} must be at least 1", r.get_ref())))?;
            b = b.repeats(n);
        }
        if let Some(f) = &self.fail_on_sample_error {
            b = b.fail_on_sample_error(fail_threshold(ctx, f)?);
        }

        let mut names: BTreeMap<String, &'static str> = BTreeMap::new();
        let mut claim = |at: &Spanned<String>, role: &'static str| {
            let n = at.get_ref();
            if n.is_empty() {
                return Err(ctx.err(at, format!("a {role} has an empty name")));
            }
            if n == collector_core::REPEAT_DIM || n == collector_core::OVER_TIME_DIM {
                return Err(ctx.err(
                    at,
                    format!("`{n}` is reserved for a dim of every sweep and cannot name a {role}"),
                ));
            }
            if let Some(was) = names.insert(n.clone(), role) {
                return Err(ctx.err(
                    at,
                    format!("the name `{n}` is used twice (a {was}, then a {role})"),
                ));
            }
            Ok(())
        };
        for i in &self.inputs {
            claim(&i.get_ref().name, "input")?;
        }
        for c in &self.constants {
            claim(&c.get_ref().name, "constant")?;
        }
        for r in &self.results {
            claim(&r.get_ref().name, "result")?;
        }

        for i in &self.inputs {
            let var = input_var(ctx, i)?;
            // Resolved here so that a bad declaration points at its table.
            var.resolve().map_err(|e| ctx.err(i, e.to_string()))?;
            b = b.input(var);
        }
        for c in &self.constants {
            let c = c.get_ref();
            let value = const_value(ctx, &c.value)?;
            b = b.constant(ConstVar::new(c.name.get_ref().clone(), value).units(c.units.clone()));
        }
        let output = match self.command.get_ref().output {
            OutputDecl::Json => OutputFormat::Json,
            OutputDecl::KeyValue => OutputFormat::KeyValue,
            OutputDecl::None => OutputFormat::None,
        };
        if self.results.is_empty() {
            if output != OutputFormat::None {
                return Err(ctx.err(
                    &self.command,
                    "the sweep declares no [[result]]; declare what the command prints, \
                     or set output = \"none\" to time it (the built-in result `wall_time`)"
                        .into(),
                ));
            }
            b = b.result(
                ResultVar::float(WALL_TIME)
                    .units("s")
                    .direction(Direction::Minimize)
                    .description("wall clock time around the command, in seconds"),
            );
        }
        for r in &self.results {
            b = b.result(result_var(ctx, r, output)?);
        }
        let builder = b.clone();
        let sweep = b.build().map_err(|e| ctx.err(&self.name, e.to_string()))?;
        let command = command_spec(ctx, &self.command, &sweep, output, base)?;
        Ok(SweepFile {
            path: ctx.path.to_path_buf(),
            builder,
            sweep,
            command,
        })
    }
}

fn fail_threshold(
    ctx: &Ctx<'_>,
    f: &Spanned<toml::Value>,
) -> Result<FailThreshold, SweepFileError> {
    let bad = || {
        ctx.err(
            f,
            "fail_on_sample_error is \"any\" or a fraction of failed jobs in [0, 1]".into(),
        )
    };
    match f.get_ref() {
        toml::Value::String(s) if s == "any" => Ok(FailThreshold::Any),
        toml::Value::Float(x) if (0.0..=1.0).contains(x) => Ok(FailThreshold::Fraction(*x)),
        toml::Value::Integer(i @ (0 | 1)) =>
        {
            #[allow(clippy::cast_precision_loss, reason = "0 or 1")]
            Ok(FailThreshold::Fraction(*i as f64))
        }
        _ => Err(bad()),
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a bool",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

fn const_value(ctx: &Ctx<'_>, v: &Spanned<toml::Value>) -> Result<Value, SweepFileError> {
    Ok(match v.get_ref() {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(x) if x.is_nan() => {
            return Err(ctx.err(v, "a constant cannot be NaN".into()));
        }
        toml::Value::Float(x) => Value::Float(*x),
        toml::Value::Boolean(b) => Value::Bool(*b),
        other => {
            return Err(ctx.err(
                v,
                format!(
                    "a constant's value is a string, an integer, a float or a bool, not {}",
                    type_name(other)
                ),
            ));
        }
    })
}

/// The kind `values` or `bounds` imply: ints, floats (ints allowed among
/// them), strings or bools.
fn implied_kind(
    ctx: &Ctx<'_>,
    list: &Spanned<Vec<Spanned<toml::Value>>>,
    key: &str,
) -> Result<InputKind, SweepFileError> {
    let mut kind: Option<InputKind> = None;
    for v in list.get_ref() {
        let k = match v.get_ref() {
            toml::Value::Integer(_) => InputKind::Int,
            toml::Value::Float(_) => InputKind::Float,
            toml::Value::String(_) => InputKind::Labels,
            toml::Value::Boolean(_) => InputKind::Bool,
            other => {
                return Err(ctx.err(
                    v,
                    format!(
                        "`{key}` holds numbers, strings or bools, not {}",
                        type_name(other)
                    ),
                ));
            }
        };
        kind = Some(match (kind, k) {
            (None, k) => k,
            (Some(a), b) if a == b => a,
            (Some(InputKind::Int | InputKind::Float), InputKind::Int | InputKind::Float) => {
                InputKind::Float
            }
            (Some(a), b) => {
                return Err(ctx.err(
                    v,
                    format!(
                        "`{key}` mixes kinds ({} and {}); give one kind of value",
                        a.name(),
                        b.name()
                    ),
                ));
            }
        });
    }
    kind.ok_or_else(|| ctx.err(list, format!("`{key}` is empty")))
}

fn as_f64(ctx: &Ctx<'_>, v: &Spanned<toml::Value>, what: &str) -> Result<f64, SweepFileError> {
    match v.get_ref() {
        toml::Value::Float(x) => Ok(*x),
        #[allow(clippy::cast_precision_loss, reason = "a declared grid value")]
        toml::Value::Integer(i) => Ok(*i as f64),
        other => Err(ctx.err(
            v,
            format!("{what} must be a number, not {}", type_name(other)),
        )),
    }
}

fn as_i64(ctx: &Ctx<'_>, v: &Spanned<toml::Value>, what: &str) -> Result<i64, SweepFileError> {
    match v.get_ref() {
        toml::Value::Integer(i) => Ok(*i),
        other => Err(ctx.err(
            v,
            format!(
                "{what} of an int input must be an integer, not {}",
                type_name(other)
            ),
        )),
    }
}

fn input_var(ctx: &Ctx<'_>, decl: &Spanned<InputDecl>) -> Result<InputVar, SweepFileError> {
    let d = decl.get_ref();
    let name = d.name.get_ref().clone();
    let kind = match (&d.kind, &d.values, &d.bounds) {
        (Some(k), _, _) => *k.get_ref(),
        (None, Some(v), _) => implied_kind(ctx, v, "values")?,
        (None, None, Some(b)) => implied_kind(ctx, b, "bounds")?,
        (None, None, None) if d.default.is_some() => InputKind::Bool,
        (None, None, None) => {
            return Err(ctx.err(
                decl,
                format!(
                    "input `{name}` needs `values`, `bounds` (with `samples` or `step` for floats) \
                     or kind = \"bool\""
                ),
            ));
        }
    };
    // A key that does not apply to the kind is an error, not ignored.
    let refuse = |key: &str, at: Range<usize>| {
        Err(ctx.err_at(
            Some(at),
            format!("`{key}` does not apply to {} input `{name}`", kind.name()),
        ))
    };
    if kind != InputKind::Bool
        && let Some(x) = &d.default
    {
        return refuse("default", x.span());
    }
    if let (Some(_), Some(b)) = (&d.values, &d.bounds) {
        return Err(ctx.err(
            b,
            format!("input `{name}` has both `values` and `bounds`; give one"),
        ));
    }
    if let (Some(s), Some(_)) = (&d.samples, &d.step) {
        return Err(ctx.err(
            s,
            format!("input `{name}` has both `samples` and `step`; give one"),
        ));
    }
    let bounds = |b: &Spanned<Vec<Spanned<toml::Value>>>| match b.get_ref().as_slice() {
        [lo, hi] => Ok((lo.clone(), hi.clone())),
        _ => Err(ctx.err(b, "`bounds` is [low, high]".into())),
    };
    let var = match kind {
        InputKind::Float => {
            if let Some(v) = &d.values {
                if let Some(s) = &d.samples {
                    return refuse("samples", s.span());
                }
                if let Some(s) = &d.step {
                    return refuse("step", s.span());
                }
                let xs = v
                    .get_ref()
                    .iter()
                    .map(|x| as_f64(ctx, x, "a value"))
                    .collect::<Result<Vec<_>, _>>()?;
                InputVar::float_values(name.clone(), xs)
            } else if let Some(b) = &d.bounds {
                let (lo, hi) = bounds(b)?;
                let (lo, hi) = (as_f64(ctx, &lo, "a bound")?, as_f64(ctx, &hi, "a bound")?);
                match (&d.samples, &d.step) {
                    (Some(n), _) => InputVar::float_samples(name.clone(), lo, hi, *n.get_ref()),
                    (None, Some(s)) => {
                        InputVar::float_step(name.clone(), lo, hi, as_f64(ctx, s, "`step`")?)
                    }
                    (None, None) => {
                        return Err(ctx.err(
                            b,
                            format!(
                                "float input `{name}` with `bounds` needs `samples` (values from \
                                 low to high, both included) or `step` (low, low + step, ... below high)"
                            ),
                        ));
                    }
                }
            } else {
                return Err(ctx.err(
                    decl,
                    format!("float input `{name}` needs `values` or `bounds`"),
                ));
            }
        }
        InputKind::Int => {
            if let Some(v) = &d.values {
                if let Some(s) = &d.samples {
                    return refuse("samples", s.span());
                }
                if let Some(s) = &d.step {
                    return refuse("step", s.span());
                }
                let xs = v
                    .get_ref()
                    .iter()
                    .map(|x| as_i64(ctx, x, "a value"))
                    .collect::<Result<Vec<_>, _>>()?;
                InputVar::int_values(name.clone(), xs)
            } else if let Some(b) = &d.bounds {
                let (lo, hi) = bounds(b)?;
                let (lo, hi) = (as_i64(ctx, &lo, "a bound")?, as_i64(ctx, &hi, "a bound")?);
                match (&d.samples, &d.step) {
                    (Some(n), _) => InputVar::int_samples(name.clone(), lo, hi, *n.get_ref()),
                    (None, Some(s)) => {
                        let step = as_i64(ctx, s, "`step`")?;
                        InputVar::int_values(name.clone(), int_steps(ctx, s, lo, hi, step)?)
                    }
                    (None, None) => InputVar::int_range(name.clone(), lo, hi),
                }
            } else {
                return Err(ctx.err(
                    decl,
                    format!("int input `{name}` needs `values` or `bounds`"),
                ));
            }
        }
        InputKind::Labels => {
            if let Some(b) = &d.bounds {
                return refuse("bounds", b.span());
            }
            if let Some(s) = &d.step {
                return refuse("step", s.span());
            }
            let Some(v) = &d.values else {
                return Err(ctx.err(
                    decl,
                    format!("labels input `{name}` needs `values` (a list of strings)"),
                ));
            };
            let labels = v
                .get_ref()
                .iter()
                .map(|x| match x.get_ref() {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(ctx.err(
                        x,
                        format!("a label must be a string, not {}", type_name(other)),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let var = InputVar::labels(name.clone(), labels);
            match &d.samples {
                Some(n) => var.samples(*n.get_ref()),
                None => var,
            }
        }
        InputKind::Bool => {
            for (key, at) in [
                ("bounds", d.bounds.as_ref().map(Spanned::span)),
                ("samples", d.samples.as_ref().map(Spanned::span)),
                ("step", d.step.as_ref().map(Spanned::span)),
            ] {
                if let Some(at) = at {
                    return refuse(key, at);
                }
            }
            let from_values = match &d.values {
                None => None,
                Some(v) => match v.get_ref().as_slice() {
                    [a, b] => match (a.get_ref(), b.get_ref()) {
                        (toml::Value::Boolean(a), toml::Value::Boolean(b)) if a != b => Some(*a),
                        _ => None,
                    },
                    _ => None,
                }
                .map(Some)
                .ok_or_else(|| {
                    ctx.err(
                        v,
                        format!(
                            "bool input `{name}` takes values [false, true] or [true, false] \
                             (or none: [false, true])"
                        ),
                    )
                })?,
            };
            if let (Some(a), Some(dflt)) = (from_values, &d.default)
                && a != *dflt.get_ref()
            {
                return Err(ctx.err(
                    dflt,
                    format!("bool input `{name}`: `default` must be the first of `values`"),
                ));
            }
            let first = from_values
                .or(d.default.as_ref().map(|x| *x.get_ref()))
                .unwrap_or(false);
            InputVar::boolean(name.clone(), first)
        }
    };
    Ok(var
        .units(d.units.clone())
        .description(d.description.clone()))
}

/// `lo, lo + step, ...` strictly below `hi` (`[lo]` when `lo == hi`), as
/// a float step does.
fn int_steps(
    ctx: &Ctx<'_>,
    at: &Spanned<toml::Value>,
    lo: i64,
    hi: i64,
    step: i64,
) -> Result<Vec<i64>, SweepFileError> {
    const MAX: usize = 10_000_000;
    if step <= 0 {
        return Err(ctx.err(at, format!("`step` {step} must be > 0")));
    }
    if lo > hi {
        return Err(ctx.err(at, format!("bounds [{lo}, {hi}] are inverted")));
    }
    if lo == hi {
        return Ok(vec![lo]);
    }
    let mut v = Vec::new();
    let mut x = lo;
    while x < hi {
        if v.len() == MAX {
            return Err(ctx.err(
                at,
                format!("`step` {step} over [{lo}, {hi}] gives more than {MAX} values"),
            ));
        }
        v.push(x);
        match x.checked_add(step) {
            Some(n) => x = n,
            None => break,
        }
    }
    Ok(v)
}

fn result_var(
    ctx: &Ctx<'_>,
    decl: &Spanned<ResultDecl>,
    output: OutputFormat,
) -> Result<ResultVar, SweepFileError> {
    let d = decl.get_ref();
    let name = d.name.get_ref().clone();
    let kind = match &d.kind {
        None => ResultKind::Float,
        Some(k) => k
            .get_ref()
            .parse::<ResultKind>()
            .map_err(|e| ctx.err(k, e.to_string()))?,
    };
    if name == WALL_TIME {
        if kind != ResultKind::Float {
            return Err(ctx.err(
                d.kind.as_ref().map_or(&d.name, |k| k),
                format!(
                    "`{WALL_TIME}` is the built-in wall clock time around the command: a float, not {kind}"
                ),
            ));
        }
        if !(d.units.is_empty() || d.units == "s") {
            return Err(ctx.err(
                &d.name,
                format!(
                    "`{WALL_TIME}` is measured in seconds: its units are \"s\", not {:?}",
                    d.units
                ),
            ));
        }
    } else if output == OutputFormat::None {
        return Err(ctx.err(
            &d.name,
            format!(
                "result `{name}` cannot be filled: the command's output is \"none\", which fills \
                 only the built-in `{WALL_TIME}`; set output = \"json\" or \"key-value\" and print it"
            ),
        ));
    }
    let units = if name == WALL_TIME && d.units.is_empty() {
        "s".to_string()
    } else {
        d.units.clone()
    };
    let mut var = ResultVar::new(name, kind)
        .units(units)
        .description(d.description.clone())
        .direction(match d.direction {
            DirectionDecl::Minimize => Direction::Minimize,
            DirectionDecl::Maximize => Direction::Maximize,
            DirectionDecl::None => Direction::None,
        })
        .meaning_version(d.meaning_version);
    if let Some(n) = &d.max_time_events {
        if *n.get_ref() == 0 {
            return Err(ctx.err(n, "max_time_events must be at least 1".into()));
        }
        var = var.max_time_events(*n.get_ref());
    }
    Ok(var)
}

fn command_spec(
    ctx: &Ctx<'_>,
    decl: &Spanned<CommandDecl>,
    sweep: &Sweep,
    output: OutputFormat,
    base: &Path,
) -> Result<CommandSpec, SweepFileError> {
    let d = decl.get_ref();
    let vars = template_vars(sweep);
    let argv = d.argv.get_ref();
    if argv.is_empty() {
        return Err(ctx.err(&d.argv, "`argv` is empty: name the program to run".into()));
    }
    let templates = argv
        .iter()
        .map(|a| Template::parse(a.get_ref(), &vars).map_err(|m| ctx.err(a, m)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut env = Vec::new();
    for (k, v) in &d.env {
        if k.is_empty() || k.contains(['=', '\0']) {
            return Err(ctx.err(v, format!("`{k}` cannot name an environment variable")));
        }
        if k.starts_with("RC_") {
            return Err(ctx.err(
                v,
                format!("`{k}`: names starting with RC_ are set by the collector"),
            ));
        }
        env.push((
            k.clone(),
            Template::parse(v.get_ref(), &vars).map_err(|m| ctx.err(v, m))?,
        ));
    }
    let cwd = match &d.cwd {
        Some(c) => base.join(c.get_ref()),
        None => base.to_path_buf(),
    };
    let cwd_shown = if cwd.as_os_str().is_empty() {
        Path::new(".")
    } else {
        cwd.as_path()
    };
    let cwd = std::path::absolute(cwd_shown).unwrap_or_else(|_| cwd_shown.to_path_buf());
    if !cwd.is_dir() {
        let at = d.cwd.as_ref().map_or_else(|| decl.span(), Spanned::span);
        return Err(ctx.err_at(
            Some(at),
            format!(
                "the working directory {} does not exist or is not a directory",
                cwd.display()
            ),
        ));
    }
    let timeout = match &d.timeout {
        None => None,
        Some(t) => {
            let secs = *t.get_ref();
            if !(secs.is_finite() && secs > 0.0) {
                return Err(ctx.err(
                    t,
                    format!("timeout {secs} must be a positive number of seconds"),
                ));
            }
            Some(
                Duration::try_from_secs_f64(secs)
                    .map_err(|e| ctx.err(t, format!("timeout {secs}: {e}")))?,
            )
        }
    };
    let env_path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, t)| t.literal().ok_or("`PATH` in env has a placeholder"));
    let search_path = match env_path {
        Some(Ok(p)) => Some(std::ffi::OsString::from(p)),
        Some(Err(m)) => {
            let at = d.env.get("PATH").map(Spanned::span);
            return Err(ctx.err_at(at, m.into()));
        }
        None => std::env::var_os("PATH"),
    };
    let program = if d.shell {
        Some(
            find_program("sh", &cwd, search_path.as_deref())
                .map_err(|m| ctx.err(&d.argv, format!("shell = true runs sh, but {m}")))?,
        )
    } else {
        match templates[0].literal() {
            Some(p) => Some(
                find_program(&p, &cwd, search_path.as_deref()).map_err(|m| ctx.err(&argv[0], m))?,
            ),
            // Known only per job: a job whose program is missing fails.
            None => None,
        }
    };
    let rc_env = env_vars(sweep).map_err(|m| ctx.err(decl, m))?;
    Ok(CommandSpec {
        argv: templates,
        shell: d.shell,
        output,
        timeout,
        cwd,
        env,
        program,
        rc_env,
        names: var_names(sweep),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use collector_core::Coords;
    use proptest::prelude::*;

    const HEAD: &str = "name = \"t\"\n";
    const TAIL: &str = "[command]\nargv = [\"true\"]\noutput = \"none\"\n";

    fn parse(text: &str) -> crate::Result<SweepFile> {
        SweepFile::parse(text, Path::new("t.toml"))
    }

    fn inputs(decl: &str) -> Vec<Coords> {
        let f = parse(&format!("{HEAD}{decl}\n{TAIL}")).unwrap();
        f.sweep()
            .inputs()
            .iter()
            .map(|i| i.values.clone())
            .collect()
    }

    /// The error of `text`: its location and message.
    fn error(text: &str) -> (Option<(usize, usize)>, String) {
        match parse(text).unwrap_err() {
            crate::Error::SweepFile(e) => {
                assert_eq!(e.path, Path::new("t.toml"));
                (e.location, e.message)
            }
            other => panic!("not a sweep file error: {other}"),
        }
    }

    fn assert_error(text: &str, at: (usize, usize), needle: &str) {
        let (loc, msg) = error(text);
        assert!(msg.contains(needle), "`{needle}` expected in: {msg}");
        assert_eq!(loc, Some(at), "{msg}");
    }

    #[test]
    fn a_minimal_file_times_the_command() {
        let f = parse(&format!("{HEAD}{TAIL}")).unwrap();
        let s = f.sweep();
        assert_eq!((s.name(), s.repeats(), s.over_time()), ("t", 1, false));
        assert_eq!(s.catch_policy(), CatchPolicy::Record);
        assert_eq!(s.results().len(), 1);
        let r = &s.results()[0];
        assert_eq!((r.name(), r.units_str()), (WALL_TIME, "s"));
        assert_eq!(r.direction_value(), Direction::Minimize);
        let c = f.command();
        assert_eq!(c.output(), OutputFormat::None);
        assert!(c.program().unwrap().ends_with("true"));
        assert!(c.cwd().is_absolute());
        assert_eq!(c.timeout(), None);
    }

    #[test]
    fn input_kinds_come_from_the_values() {
        let v = inputs(
            "[[input]]\nname = \"i\"\nvalues = [3, 1]\n\
             [[input]]\nname = \"f\"\nvalues = [1, 2.5]\n\
             [[input]]\nname = \"l\"\nvalues = [\"a\", \"b\", \"c\"]\nsamples = 2\n\
             [[input]]\nname = \"b\"\nvalues = [true, false]\n\
             [[input]]\nname = \"d\"\ndefault = false\n",
        );
        assert_eq!(v[0], Coords::Int(vec![3, 1]));
        assert_eq!(v[1], Coords::Float(vec![1.0, 2.5]));
        assert_eq!(v[2], Coords::Str(vec!["a".into(), "c".into()]));
        assert_eq!(v[3], Coords::Bool(vec![true, false]));
        assert_eq!(v[4], Coords::Bool(vec![false, true]));
    }

    #[test]
    fn bounds_with_samples_or_step() {
        let v = inputs(
            "[[input]]\nname = \"a\"\nbounds = [0.0, 1.0]\nsamples = 3\n\
             [[input]]\nname = \"b\"\nbounds = [0.0, 1.0]\nstep = 0.25\n\
             [[input]]\nname = \"c\"\nbounds = [1, 4]\n\
             [[input]]\nname = \"d\"\nbounds = [0, 100]\nsamples = 3\n\
             [[input]]\nname = \"e\"\nbounds = [0, 10]\nstep = 4\n\
             [[input]]\nname = \"f\"\nkind = \"float\"\nbounds = [0, 2]\nsamples = 2\n",
        );
        assert_eq!(v[0], Coords::Float(vec![0.0, 0.5, 1.0]));
        assert_eq!(v[1], Coords::Float(vec![0.0, 0.25, 0.5, 0.75]));
        assert_eq!(v[2], Coords::Int(vec![1, 2, 3, 4]));
        assert_eq!(v[3], Coords::Int(vec![0, 50, 100]));
        assert_eq!(v[4], Coords::Int(vec![0, 4, 8]));
        assert_eq!(v[5], Coords::Float(vec![0.0, 2.0]));
    }

    #[test]
    fn every_sweep_option_has_a_spelling() {
        let f = parse(&format!(
            "{HEAD}title = \"T\"\ndescription = \"D\"\ntag = \"g\"\nversion = \"v9\"\n\
             repeats = 4\nover_time = true\ncatch = \"fail-fast\"\nfail_on_sample_error = \"any\"\n\
             [[input]]\nname = \"x\"\nvalues = [1]\nunits = \"m\"\ndescription = \"dx\"\n\
             [[constant]]\nname = \"k\"\nvalue = 2.5\nunits = \"kg\"\n\
             [[result]]\nname = \"wall_time\"\ndescription = \"w\"\nmax_time_events = 3\n\
             meaning_version = 2\ndirection = \"maximize\"\n{TAIL}"
        ))
        .unwrap();
        let s = f.sweep();
        assert_eq!(
            (s.title(), s.description(), s.tag(), s.version()),
            ("T", "D", "g", "v9")
        );
        assert_eq!((s.repeats(), s.over_time()), (4, true));
        assert_eq!(s.catch_policy(), CatchPolicy::FailFast);
        assert_eq!(s.fail_threshold(), Some(FailThreshold::Any));
        let x = &s.inputs()[0].var;
        assert_eq!((x.units_str(), x.description_str()), ("m", "dx"));
        let k = &s.constants()[0];
        assert_eq!(
            (k.value.clone(), k.units.as_str()),
            (Value::Float(2.5), "kg")
        );
        let r = &s.results()[0];
        assert_eq!(r.max_time_events_value(), Some(3));
        assert_eq!(r.meaning_version_value(), 2);
        assert_eq!(r.direction_value(), Direction::Maximize);
        assert_eq!(r.description_str(), "w");
        let again = f.sweep_at("v10").unwrap();
        assert_eq!(again.version(), "v10");
        assert_ne!(
            collector_core::cache_key(&again),
            collector_core::cache_key(s)
        );
        assert_eq!(
            collector_core::history_key(&again),
            collector_core::history_key(s)
        );
    }

    #[test]
    fn the_reference_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sweeps/reference.toml");
        let f = SweepFile::load(&path).unwrap();
        assert_eq!(f.sweep().name(), "reference");
        assert_eq!(f.sweep().results().len(), 9);
        for name in ["dd.toml", "shapes.toml"] {
            let p = path.with_file_name(name);
            SweepFile::load(&p).unwrap();
        }
    }

    #[test]
    fn syntax_and_shape_errors_point_at_the_key() {
        assert_error(
            &format!("{HEAD}repeat = 3\n{TAIL}"),
            (2, 1),
            "unknown field `repeat`",
        );
        assert_error(
            &format!("{HEAD}[[input]]\nname = \"x\"\nvals = [1]\n{TAIL}"),
            (4, 1),
            "unknown field `vals`",
        );
        assert_error(
            &format!("{HEAD}repeats = \"2\"\n{TAIL}"),
            (2, 11),
            "invalid type",
        );
        assert_error(&format!("{HEAD}repeats = 0\n{TAIL}"), (2, 11), "at least 1");
        assert_error(
            &format!("{HEAD}repeats = -2\n{TAIL}"),
            (2, 11),
            "at least 1",
        );
        assert_error(
            &format!("{HEAD}catch = \"maybe\"\n{TAIL}"),
            (2, 9),
            "fail-fast",
        );
        assert_error(
            &format!("{HEAD}fail_on_sample_error = 2.0\n{TAIL}"),
            (2, 24),
            "\"any\" or a fraction",
        );
        assert_error("name = \"t\"\n[command\n", (2, 9), "");
        assert_error("title = \"x\"\n", (1, 1), "missing field `name`");
    }

    #[test]
    fn input_errors_point_at_the_input() {
        let cases = [
            ("values = [1, \"a\"]", (4, 14), "mixes kinds"),
            ("values = []", (4, 10), "is empty"),
            ("bounds = [0.0, 1.0]", (4, 10), "needs `samples`"),
            ("bounds = [1.0]", (4, 10), "[low, high]"),
            (
                "values = [1]\nbounds = [0, 1]",
                (5, 10),
                "both `values` and `bounds`",
            ),
            (
                "bounds = [0, 9]\nsamples = 2\nstep = 1",
                (5, 11),
                "both `samples` and `step`",
            ),
            (
                "values = [\"a\"]\nstep = 1",
                (5, 8),
                "`step` does not apply to labels",
            ),
            (
                "values = [1]\ndefault = true",
                (5, 11),
                "`default` does not apply to int",
            ),
            (
                "kind = \"int\"\nvalues = [1.5]",
                (5, 11),
                "must be an integer",
            ),
            ("bounds = [0, 10]\nstep = 0", (5, 8), "must be > 0"),
            (
                "kind = \"bool\"\nvalues = [true, true]",
                (5, 10),
                "[false, true]",
            ),
            ("bounds = [2.0, 1.0]\nsamples = 3", (2, 1), "inverted"),
            ("kind = \"labels\"", (2, 1), "needs `values`"),
            ("units = \"s\"", (2, 1), "needs `values`, `bounds`"),
        ];
        for (decl, at, needle) in cases {
            assert_error(
                &format!("{HEAD}[[input]]\nname = \"x\"\n{decl}\n{TAIL}"),
                at,
                needle,
            );
        }
    }

    #[test]
    fn name_errors() {
        let inp = |n: &str| format!("[[input]]\nname = \"{n}\"\nvalues = [1]\n");
        assert_error(
            &format!("{HEAD}{}{}{TAIL}", inp("a"), inp("a")),
            (6, 8),
            "used twice",
        );
        assert_error(
            &format!("{HEAD}{}{TAIL}", inp("repeat")),
            (3, 8),
            "reserved",
        );
        assert_error(&format!("{HEAD}{}{TAIL}", inp("")), (3, 8), "empty name");
        assert_error(
            &format!("{HEAD}{}{}{TAIL}", inp("chunk-size"), inp("chunk_size")),
            (8, 1),
            "RC_CHUNK_SIZE",
        );
    }

    #[test]
    fn results_no_output_can_fill_are_refused() {
        assert_error(
            &format!("{HEAD}[[result]]\nname = \"t\"\n{TAIL}"),
            (3, 8),
            "cannot be filled",
        );
        assert_error(
            &format!("{HEAD}[[result]]\nname = \"wall_time\"\nkind = \"string\"\n{TAIL}"),
            (4, 8),
            "a float, not string",
        );
        assert_error(
            &format!("{HEAD}[[result]]\nname = \"wall_time\"\nunits = \"ms\"\n{TAIL}"),
            (3, 8),
            "seconds",
        );
        assert_error(
            &format!("{HEAD}[[result]]\nname = \"t\"\nkind = \"pixel\"\n{TAIL}"),
            (4, 8),
            "unknown result kind `pixel`",
        );
        assert_error(
            &format!("{HEAD}[[result]]\nname = \"wall_time\"\nmax_time_events = 0\n{TAIL}"),
            (4, 19),
            "at least 1",
        );
        assert_error(
            &format!("{HEAD}[command]\nargv = [\"true\"]\n"),
            (2, 1),
            "declares no [[result]]",
        );
    }

    #[test]
    fn command_errors_point_at_the_command() {
        let cmd = |body: &str| {
            format!(
                "{HEAD}[[input]]\nname = \"x\"\nvalues = [1]\n[command]\n{body}\noutput = \"none\"\n"
            )
        };
        assert_error(
            &cmd("argv = [\"true\", \"{y}\"]"),
            (6, 17),
            "`{y}` names no input",
        );
        assert_error(&cmd("argv = []"), (6, 8), "`argv` is empty");
        assert_error(
            &cmd("argv = [\"no-such-program-rc\"]"),
            (6, 9),
            "program `no-such-program-rc` not found in PATH",
        );
        assert_error(&cmd("argv = [\"./nope.sh\"]"), (6, 9), "does not exist");
        assert_error(
            &cmd("argv = [\"true\"]\ncwd = \"no/such/dir\""),
            (7, 7),
            "does not exist or is not a directory",
        );
        assert_error(&cmd("argv = [\"true\"]\ntimeout = 0"), (7, 11), "positive");
        assert_error(
            &cmd("argv = [\"true\"]\nenv = { RC_X = \"1\" }"),
            (7, 16),
            "set by the collector",
        );
        assert_error(
            &cmd("argv = [\"true\"]\nenv = { A = \"{nope}\" }"),
            (7, 13),
            "`{nope}`",
        );
        assert_error(
            &cmd("argv = [\"true\"]\nenv = { PATH = \"/bin:/usr/bin\" }\nshell = \"yes\""),
            (8, 9),
            "invalid type",
        );
        // A program given by a placeholder is looked up per job.
        let f = parse(&cmd("argv = [\"{x}\"]")).unwrap();
        assert_eq!(f.command().program(), None);
        // The PATH of `env` is the one searched.
        assert_error(
            &cmd("argv = [\"true\"]\nenv = { PATH = \"/nonexistent\" }"),
            (6, 9),
            "not found in PATH (/nonexistent)",
        );
    }

    #[test]
    fn errors_print_as_path_line_column() {
        let e = parse(&format!("{HEAD}bogus = 1\n{TAIL}")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:2:1: unknown field `bogus`"),
            "{e}"
        );
        let e = SweepFile::load(Path::new("/no/such/file.toml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/no/such/file.toml: cannot read the sweep file"),
            "{e}"
        );
    }

    proptest! {
        /// The line and column of an offset lead back to it.
        #[test]
        fn line_column_finds_the_offset(text in "[a\\né=\n]{0,40}", at in 0usize..50) {
            let (line, col) = line_column(&text, at);
            let mut offset = at.min(text.len());
            while !text.is_char_boundary(offset) {
                offset -= 1;
            }
            let start: usize = text.split_inclusive('\n').take(line - 1).map(str::len).sum();
            let back: usize = text[start..].chars().take(col - 1).map(char::len_utf8).sum();
            prop_assert_eq!(start + back, offset);
        }
    }
}
