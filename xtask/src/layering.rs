//! `cargo xtask layering`: the layering rules of ARCHITECTURE.md that a
//! tool can check.
//!
//! - On `cargo tree`: collector-core has no rocksdb and no sibling crate;
//!   cache, media and report do not depend on each other; only the cache
//!   sees rocksdb; the facade built with `--no-default-features` has none
//!   of the binary's dependencies ([`BINARY_ONLY_DEPS`]).
//! - On the sources: no crate but collector-cache names RocksDB's files
//!   ([`rocksdb_file_literals`]), and the binary reaches the cache only
//!   through the facade ([`binary_cache_paths`]).
//!
//! The source checks are pure functions over `(path, text)`, run on a rough
//! Rust tokenizer ([`tokenize`]) that knows comments, string, char and raw
//! string literals, so that a comment or a message never trips them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{cargo, root};

/// One broken rule, located when it comes from a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The file, relative to the repository root (empty for `cargo tree` rules).
    pub(crate) path: PathBuf,
    /// 1-based line in `path` (0 for `cargo tree` rules).
    pub(crate) line: usize,
    /// What is wrong and what to do instead.
    pub(crate) message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.as_os_str().is_empty() {
            write!(f, "{}", self.message)
        } else if self.line == 0 {
            write!(f, "{}: {}", self.path.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
        }
    }
}

fn tree_rule(message: String) -> Violation {
    Violation {
        path: PathBuf::new(),
        line: 0,
        message,
    }
}

// ------------------------------------------------------------ the task

/// Runs every layering check, prints every violation, fails when any.
pub(crate) fn layering() -> Result<()> {
    let root = root();
    let mut found = tree_checks()?;
    found.extend(source_checks(&root)?);
    if found.is_empty() {
        eprintln!(
            "xtask: layering ok (core has no rocksdb; cache, media and report are independent; \
             only collector-cache names RocksDB's files; the binary reaches the cache through \
             the facade; --no-default-features has none of the binary's dependencies)"
        );
        return Ok(());
    }
    for v in &found {
        eprintln!("layering: {v}");
    }
    bail!(
        "layering: {} violation{} of ARCHITECTURE.md",
        found.len(),
        if found.len() == 1 { "" } else { "s" }
    )
}

// ------------------------------------------------------------ cargo tree

/// The facade's dependencies that only the binary needs: the facade built
/// with `--no-default-features` (no `cli`, no `netcdf`) has none of them.
pub(crate) const BINARY_ONLY_DEPS: [&str; 7] = [
    "clap",
    "clap_builder",
    "indicatif",
    "tracing-subscriber",
    "netcdf",
    "netcdf-sys",
    "anyhow",
];

/// The package names of `cargo tree --prefix none --format {p}` output.
pub(crate) fn tree_packages(tree: &str) -> Vec<String> {
    tree.lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The names of `forbidden` that `packages` holds, in `forbidden`'s order.
pub(crate) fn present<'a>(packages: &[String], forbidden: &[&'a str]) -> Vec<&'a str> {
    forbidden
        .iter()
        .copied()
        .filter(|f| packages.iter().any(|p| p == f))
        .collect()
}

/// The normal and build dependencies of `pkg` (itself included), by name.
fn deps(pkg: &str, extra: &[&str]) -> Result<Vec<String>> {
    let out = cargo()
        .args(["tree", "-p", pkg])
        .args(extra)
        .args([
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .with_context(|| format!("cargo tree -p {pkg}"))?;
    if !out.status.success() {
        bail!(
            "cargo tree -p {pkg} {} failed: {}",
            extra.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(tree_packages(&String::from_utf8_lossy(&out.stdout)))
}

/// The rules checked on `cargo tree`.
fn tree_checks() -> Result<Vec<Violation>> {
    let mut found = Vec::new();
    let core = deps("collector-core", &[])?;
    for bad in present(
        &core,
        &[
            "rocksdb",
            "librocksdb-sys",
            "collector-cache",
            "collector-media",
            "collector-report",
        ],
    ) {
        found.push(tree_rule(format!("collector-core depends on {bad}")));
    }
    for (pkg, others) in [
        ("collector-cache", ["collector-media", "collector-report"]),
        ("collector-media", ["collector-cache", "collector-report"]),
        ("collector-report", ["collector-cache", "collector-media"]),
    ] {
        let d = deps(pkg, &[])?;
        for o in present(&d, &others) {
            found.push(tree_rule(format!("{pkg} depends on {o}")));
        }
        if pkg != "collector-cache" {
            for r in present(&d, &["rocksdb", "librocksdb-sys"]) {
                found.push(tree_rule(format!(
                    "{pkg} depends on {r} (only collector-cache may)"
                )));
            }
        }
    }
    let lib = deps("result-collector", &["--no-default-features"])?;
    for bad in present(&lib, &BINARY_ONLY_DEPS) {
        found.push(tree_rule(format!(
            "result-collector built with --no-default-features depends on {bad} \
             (`cargo tree -p result-collector --no-default-features -i {bad}` shows why); \
             the binary's dependencies belong behind the facade's `cli` feature \
             (netcdf behind its `netcdf` feature)"
        )));
    }
    Ok(found)
}

// ------------------------------------------------------------ sources

/// Runs the source rules on the repository at `root`.
pub(crate) fn source_checks(root: &Path) -> Result<Vec<Violation>> {
    let mut found = Vec::new();
    for file in rust_files(root, root, &["collector-cache", "xtask", "target"])? {
        let text = read(&file)?;
        found.extend(rocksdb_file_literals(rel(root, &file), &text));
    }
    let bin = binary_files(root)?;
    if bin.is_empty() {
        found.push(Violation {
            path: PathBuf::from(BIN_DIR),
            line: 0,
            message: format!(
                "no sources of the `collector` binary found (looked for {BIN_DIR}/**/*.rs and {OLD_MAIN})"
            ),
        });
    }
    for file in bin {
        let text = read(&file)?;
        found.extend(binary_cache_paths(rel(root, &file), &text));
    }
    Ok(found)
}

/// The folder of the `collector` binary (main.rs and a module per command).
pub(crate) const BIN_DIR: &str = "src/bin/collector";
/// Where the binary lived before [`BIN_DIR`].
pub(crate) const OLD_MAIN: &str = "src/main.rs";

/// The binary's sources: every `.rs` under [`BIN_DIR`], and [`OLD_MAIN`]
/// when it still exists.
pub(crate) fn binary_files(root: &Path) -> Result<Vec<PathBuf>> {
    let dir = root.join(BIN_DIR);
    let mut files = if dir.is_dir() {
        rust_files(root, &dir, &[])?
    } else {
        Vec::new()
    };
    let old = root.join(OLD_MAIN);
    if old.is_file() {
        files.push(old);
    }
    Ok(files)
}

fn read(file: &Path) -> Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))
}

fn rel<'a>(root: &Path, file: &'a Path) -> &'a Path {
    file.strip_prefix(root).unwrap_or(file)
}

/// Every `.rs` file under `dir`, sorted, skipping hidden folders, cargo
/// target folders (marked by `CACHEDIR.TAG`) and the folders of `root`
/// named in `skip_top`.
pub(crate) fn rust_files(root: &Path, dir: &Path, skip_top: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).with_context(|| format!("read {}", d.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("read {}", d.display()))?;
            let path = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            let ty = e
                .file_type()
                .with_context(|| format!("stat {}", path.display()))?;
            if ty.is_dir() {
                let skipped = name.starts_with('.')
                    || (d == root && skip_top.contains(&name.as_ref()))
                    || path.join("CACHEDIR.TAG").exists();
                if !skipped {
                    stack.push(path);
                }
            } else if ty.is_file() && name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Whether a string literal's contents name one of RocksDB's files.
pub(crate) fn is_rocksdb_file_name(s: &str) -> bool {
    matches!(s, "CURRENT" | "LOCK" | "IDENTITY")
        || s.starts_with("MANIFEST")
        || s.starts_with("OPTIONS-")
        || s.ends_with(".sst")
}

/// String literals of `text` that name RocksDB's files (`"CURRENT"`,
/// `"LOCK"`, `"IDENTITY"`, `"MANIFEST…"`, `"OPTIONS-…"`, `"….sst"`);
/// comments are not looked at.
pub(crate) fn rocksdb_file_literals(path: &Path, text: &str) -> Vec<Violation> {
    tokenize(text)
        .into_iter()
        .filter_map(|t| match t.kind {
            Tok::Str(s) if is_rocksdb_file_name(&s) => Some(Violation {
                path: path.to_path_buf(),
                line: t.line,
                message: format!(
                    "names RocksDB's file {s:?}; only collector-cache may know how RocksDB lays \
                     out its files (ask collector-cache instead, e.g. whether a cache exists)"
                ),
            }),
            _ => None,
        })
        .collect()
}

/// Paths of the binary's `text` that reach collector-cache or rocksdb
/// around the facade: `collector_cache…`, `result_collector::cache…`
/// (also inside `use result_collector::{…}` groups) and `rocksdb…`.
pub(crate) fn binary_cache_paths(path: &Path, text: &str) -> Vec<Violation> {
    let toks = tokenize(text);
    let mut found = Vec::new();
    let mut flag = |line: usize, what: String| {
        found.push(Violation {
            path: path.to_path_buf(),
            line,
            message: format!(
                "the binary names `{what}`; it may use the cache only through the facade \
                 (ResultCollector and what result_collector re-exports at its top level)"
            ),
        });
    };
    let mut i = 0;
    while i < toks.len() {
        if toks[i].is_ident("use") {
            let end = toks[i..]
                .iter()
                .position(|t| t.is_punct(";"))
                .map_or(toks.len(), |p| i + p);
            for (line, p) in use_paths(&toks[i + 1..end]) {
                if let Some(what) = forbidden_path(&p) {
                    flag(line, what);
                }
            }
            i = end + 1;
            continue;
        }
        // An expression or type path: from an identifier not preceded by `::`.
        if matches!(toks[i].kind, Tok::Ident(_)) && !(i > 0 && toks[i - 1].is_punct("::")) {
            let line = toks[i].line;
            let mut segs = Vec::new();
            let mut j = i;
            while let Some(Tok::Ident(s)) = toks.get(j).map(|t| &t.kind) {
                segs.push(s.clone());
                if toks.get(j + 1).is_some_and(|t| t.is_punct("::")) {
                    j += 2;
                } else {
                    j += 1;
                    break;
                }
            }
            if let Some(what) = forbidden_path(&segs) {
                flag(line, what);
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    found
}

/// Crates the binary must not name.
const FORBIDDEN_CRATES: [&str; 3] = ["collector_cache", "rocksdb", "librocksdb_sys"];

/// The offending prefix of a path, when it reaches the cache around the facade.
fn forbidden_path(segs: &[String]) -> Option<String> {
    if let Some(k) = segs
        .iter()
        .position(|s| FORBIDDEN_CRATES.contains(&s.as_str()))
    {
        return Some(segs[..=k].join("::"));
    }
    (segs.len() >= 2 && segs[0] == "result_collector" && segs[1] == "cache")
        .then(|| segs.join("::"))
}

/// The paths a `use` tree imports (the tokens between `use` and `;`), each
/// with the line of its last segment; `::` before the first segment and
/// `as` renames are dropped, `self` in a group stands for its prefix.
fn use_paths(toks: &[Token]) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    use_tree(toks, &mut pos, &mut Vec::new(), &mut out);
    out
}

fn use_tree(
    toks: &[Token],
    pos: &mut usize,
    prefix: &mut Vec<String>,
    out: &mut Vec<(usize, Vec<String>)>,
) {
    let depth = prefix.len();
    let mut line = toks.get(*pos).map_or(0, |t| t.line);
    let mut is_self = false;
    while let Some(t) = toks.get(*pos) {
        match &t.kind {
            Tok::Ident(s) => {
                line = t.line;
                if s == "self" {
                    // `{self, …}`: the group's prefix itself.
                    is_self = true;
                } else {
                    prefix.push(s.clone());
                }
                *pos += 1;
                if toks.get(*pos).is_some_and(|t| t.is_ident("as")) {
                    *pos += 2;
                }
            }
            Tok::Punct(p) if p == "{" => {
                *pos += 1;
                loop {
                    match toks.get(*pos) {
                        None => break,
                        Some(t) if t.is_punct("}") => {
                            *pos += 1;
                            break;
                        }
                        Some(t) if t.is_punct(",") => *pos += 1,
                        Some(_) => {
                            let before = *pos;
                            use_tree(toks, pos, prefix, out);
                            if *pos == before {
                                *pos += 1;
                            }
                        }
                    }
                }
                prefix.truncate(depth);
                return;
            }
            // `,` or `}` ends this tree inside a group.
            Tok::Punct(p) if p == "," || p == "}" => break,
            // `::`, `*` and anything unexpected.
            _ => *pos += 1,
        }
    }
    if prefix.len() > depth || (is_self && depth > 0) {
        out.push((line, prefix.clone()));
    }
    prefix.truncate(depth);
}

// ------------------------------------------------------------ tokenizer

/// A token of [`tokenize`], with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    pub(crate) line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An identifier or keyword (`r#` dropped).
    Ident(String),
    /// The contents of a string literal (`"…"`, `b"…"`, `r#"…"#`, `c"…"`),
    /// escapes left as written.
    Str(String),
    /// `::` or one other punctuation character; numbers, char literals and
    /// lifetimes are dropped.
    Punct(String),
}

impl Token {
    fn is_punct(&self, p: &str) -> bool {
        matches!(&self.kind, Tok::Punct(q) if q == p)
    }
    fn is_ident(&self, s: &str) -> bool {
        matches!(&self.kind, Tok::Ident(q) if q == s)
    }
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// A rough Rust tokenizer: enough to tell code from comments and literals.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let c: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Advances over c[from..to], counting lines.
    let count = |from: usize, to: usize, line: &mut usize| {
        *line += c[from..to.min(c.len())]
            .iter()
            .filter(|&&ch| ch == '\n')
            .count();
    };
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let start = i;
            let mut depth = 0usize;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            count(start, i, &mut line);
        } else if let Some((hashes, body)) = raw_string_start(&c, i) {
            // r"…", r#"…"#, br"…", cr#"…"#
            let start_line = line;
            let mut j = body;
            let end = loop {
                if j >= c.len() {
                    break c.len();
                }
                if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                    break j;
                }
                j += 1;
            };
            toks.push(Token {
                kind: Tok::Str(c[body..end].iter().collect()),
                line: start_line,
            });
            count(i, end, &mut line);
            i = (end + 1 + hashes).min(c.len());
        } else if ch == '"' || ((ch == 'b' || ch == 'c') && next == Some('"')) {
            let body = if ch == '"' { i + 1 } else { i + 2 };
            let start_line = line;
            let mut j = body;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            let end = j.min(c.len());
            toks.push(Token {
                kind: Tok::Str(c[body..end].iter().collect()),
                line: start_line,
            });
            count(i, end, &mut line);
            i = end + 1;
        } else if ch == '\'' || (ch == 'b' && next == Some('\'')) {
            // A char literal ('x', '\n', b'x') or a lifetime / label ('a).
            let q = if ch == '\'' { i } else { i + 1 };
            if c.get(q + 1) == Some(&'\\') {
                let mut j = q + 3;
                while j < c.len() && c[j] != '\'' && c[j] != '\n' {
                    j += 1;
                }
                i = j + 1;
            } else if c.get(q + 2) == Some(&'\'') {
                i = q + 3;
            } else {
                i = q + 1;
                while i < c.len() && is_ident_char(c[i]) {
                    i += 1;
                }
            }
        } else if is_ident_start(ch) {
            let mut start = i;
            if ch == 'r' && next == Some('#') && c.get(i + 2).is_some_and(|&d| is_ident_start(d)) {
                start = i + 2;
            }
            let mut j = start;
            while j < c.len() && is_ident_char(c[j]) {
                j += 1;
            }
            toks.push(Token {
                kind: Tok::Ident(c[start..j].iter().collect()),
                line,
            });
            i = j;
        } else if ch.is_ascii_digit() {
            while i < c.len() && (is_ident_char(c[i]) || c[i] == '.') {
                // `1..2` is a range, not a number.
                if c[i] == '.' && c.get(i + 1) == Some(&'.') {
                    break;
                }
                i += 1;
            }
        } else if ch == ':' && next == Some(':') {
            toks.push(Token {
                kind: Tok::Punct("::".into()),
                line,
            });
            i += 2;
        } else {
            toks.push(Token {
                kind: Tok::Punct(ch.to_string()),
                line,
            });
            i += 1;
        }
    }
    toks
}

/// At a raw string (`r"`, `r#"`, `br"`, `cr#"`…) starting at `i`: its number
/// of `#` and the index where its contents start.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if matches!(c.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    // An identifier like `bar"` is not a raw string: the prefix must start a token.
    if i > 0 && is_ident_char(c[i - 1]) {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn lines(v: &[Violation]) -> Vec<usize> {
        v.iter().map(|v| v.line).collect()
    }

    fn rocks(text: &str) -> Vec<usize> {
        lines(&rocksdb_file_literals(Path::new("src/lib.rs"), text))
    }

    fn bin(text: &str) -> Vec<usize> {
        lines(&binary_cache_paths(
            Path::new("src/bin/collector/main.rs"),
            text,
        ))
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (f, text) in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_rocksdb_file_literal_is_flagged_a_comment_is_not() {
        let text = "\
//! The db holds a CURRENT file and \"CURRENT\" in quotes.
fn exists(dir: &Path) -> bool {
    // dir.join(\"CURRENT\")
    /* \"LOCK\" /* nested \"IDENTITY\" */ still \"OPTIONS-000001\" */
    dir.join(\"db\").join(\"CURRENT\").is_file() // \"LOCK\"
}
";
        assert_eq!(rocks(text), [5]);
    }

    #[test]
    fn every_rocksdb_file_name_is_flagged() {
        let text = "let a = [\"LOCK\", \"IDENTITY\",\n \"MANIFEST-000005\", \"OPTIONS-000007\",\n \
                    format!(\"{n:06}.sst\"), b\"CURRENT\", r#\"CURRENT\"#, r\"LOCK\"];";
        assert_eq!(rocks(text), [1, 1, 2, 2, 3, 3, 3, 3]);
    }

    #[test]
    fn ordinary_strings_are_not_rocksdb_files() {
        let text = "let a = [\"CURRENT \", \"current\", \"LOCKED\", \"my.sst.bak\", \"db\", \"OPTIONS\"];\n\
                    let c = '\"'; let l: &'static str = \"x\"; let e = \"\\\"CURRENT\";";
        assert_eq!(rocks(text), Vec::<usize>::new());
    }

    #[test]
    fn a_string_spanning_lines_keeps_the_line_count() {
        let text = "let s = \"one\ntwo\nthree\";\nlet t = r#\"a\n\"b\"\n\"#;\nlet x = \"LOCK\";";
        assert_eq!(rocks(text), [7]);
    }

    #[test]
    fn the_binary_may_not_name_the_cache_around_the_facade() {
        assert_eq!(bin("use result_collector::cache::CacheDb;"), [1]);
        assert_eq!(bin("use result_collector::{cache::X, Y};"), [1]);
        assert_eq!(
            bin(
                "use result_collector::{\n    model::Dataset,\n    cache::{CacheDb, DB_SUBDIR},\n};"
            ),
            [3, 3]
        );
        assert_eq!(bin("use result_collector::{cache, model};"), [1]);
        assert_eq!(bin("use ::result_collector::cache as c;"), [1]);
        assert_eq!(
            bin("pub(crate) use result_collector::{self, cache::*};"),
            [1]
        );
        assert_eq!(bin("fn f() -> collector_cache::CacheDb { todo!() }"), [1]);
        assert_eq!(bin("use collector_cache::CacheDb;"), [1]);
        assert_eq!(bin("let db: result_collector::cache::CacheDb = x;"), [1]);
        assert_eq!(bin("fn f(e: rocksdb::Error) {}"), [1]);
        assert_eq!(bin("use rocksdb::{DB, Options};"), [1, 1]);
    }

    #[test]
    fn the_binary_may_use_the_facade_and_words_with_cache() {
        let text = "\
use result_collector::{CacheDb, ResultCollector, model::Dataset};
use result_collector::model::cache_key;
// result_collector::cache::CacheDb and collector_cache in a comment
/// rocksdb::DB in a doc comment
fn main() {
    let use_cache = true;
    let cache_hit = run.cache_hit;
    let cache = collector.cache();
    let s = \"result_collector::cache and rocksdb in a message\";
    let no_cache = args.no_cache;
    cache::open();
    my::result_collector::cache::X;
}
";
        assert_eq!(bin(text), Vec::<usize>::new());
    }

    #[test]
    fn the_file_tree_is_scanned_outside_the_cache_xtask_and_target() {
        let t = tree(&[
            (
                "src/lib.rs",
                "//! CURRENT\npub fn f() -> &'static str {\n    \"CURRENT\"\n}\n",
            ),
            ("src/bin/collector/main.rs", "mod ls;\nfn main() {}\n"),
            (
                "src/bin/collector/ls.rs",
                "\nuse result_collector::{cache::X, Y};\n",
            ),
            (
                "collector-media/tests/gc.rs",
                "let p = root.join(\"000001.sst\");",
            ),
            ("collector-cache/src/db.rs", "const LOCK: &str = \"LOCK\";"),
            ("xtask/src/layering.rs", "\"CURRENT\""),
            ("target/debug/build/x/out/b.rs", "\"CURRENT\""),
            ("elsewhere/CACHEDIR.TAG", ""),
            ("elsewhere/debug/a.rs", "\"CURRENT\""),
            (".git/x.rs", "\"CURRENT\""),
        ]);
        let found: Vec<String> = source_checks(t.path())
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0]
                .starts_with("collector-media/tests/gc.rs:1: names RocksDB's file \"000001.sst\"")
        );
        assert!(found[1].starts_with("src/lib.rs:3: names RocksDB's file \"CURRENT\""));
        assert!(
            found[2].starts_with(
                "src/bin/collector/ls.rs:2: the binary names `result_collector::cache::X`"
            ),
            "{found:#?}"
        );
    }

    #[test]
    fn the_old_main_is_scanned_until_the_binary_folder_exists() {
        let t = tree(&[(
            "src/main.rs",
            "use result_collector::cache::DB_SUBDIR;\nfn open() { dir.join(DB_SUBDIR).join(\"CURRENT\"); }",
        )]);
        let found: Vec<String> = source_checks(t.path())
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].starts_with("src/main.rs:2: names RocksDB's file"));
        assert!(
            found[1].starts_with(
                "src/main.rs:1: the binary names `result_collector::cache::DB_SUBDIR`"
            )
        );
    }

    #[test]
    fn a_missing_binary_is_reported() {
        let t = tree(&[("src/lib.rs", "")]);
        let found = source_checks(t.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .contains("no sources of the `collector` binary")
        );
    }

    #[test]
    fn binary_only_dependencies_are_found_in_cargo_tree_output() {
        let out = "result-collector v0.1.0 (/work/main)\nanyhow v1.0.100\nclap v4.6.0\n\
                   clap_builder v4.6.0\nclap_derive v4.6.0 (proc-macro)\nrayon v1.11.0\n";
        let pkgs = tree_packages(out);
        assert_eq!(
            present(&pkgs, &BINARY_ONLY_DEPS),
            ["clap", "clap_builder", "anyhow"]
        );
        let clean =
            tree_packages("result-collector v0.1.0 (/work/main)\nrayon v1.11.0\ntracing v0.1.41\n");
        assert!(present(&clean, &BINARY_ONLY_DEPS).is_empty());
    }
}
