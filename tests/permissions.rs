//! Permissions taken away, and links where directories should be: each
//! case gives one clear error naming the path (or, for an image a report
//! cannot read, a warning naming it and a page that says so), never a
//! panic, and never a deletion outside the media root.
//!
//! Permission bits do not stop root, and the tests run as root here and in
//! CI: the commands of the permission cases run as the unprivileged user
//! `nobody` (65534), with the `collector` program copied into a directory
//! that user can read. When the tests do not run as root, they run the
//! commands as the user they run as. They are skipped, with the reason
//! printed, only when root cannot switch to that user (no `CAP_SETUID`).
#![cfg(target_os = "linux")]
// `pre_exec` (drop to the unprivileged user in the child between fork and
// exec) is unsafe: it runs in the forked child, where only
// async-signal-safe calls are allowed (`setgroups`, `setgid` and `setuid`
// are).
#![allow(unsafe_code)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{one_error, s, stderr};

const NOBODY: u32 = 65_534;

/// Where the commands run: a world-writable work directory, and the
/// program, copied where an unprivileged user can run it when we are root.
struct Env {
    dir: tempfile::TempDir,
    program: PathBuf,
    /// The user and group to run as, when we are root.
    drop_to: Option<u32>,
}

impl Env {
    /// `None` (with the reason printed) when the commands cannot run
    /// unprivileged.
    fn new() -> Option<Env> {
        let dir = tempfile::tempdir().expect("tempdir");
        chmod(dir.path(), 0o777);
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let program = if root {
            let bin = dir.path().join("bin");
            std::fs::create_dir(&bin).expect("mkdir");
            let p = bin.join("collector");
            std::fs::copy(env!("CARGO_BIN_EXE_collector"), &p).expect("copy the program");
            chmod(&bin, 0o755);
            chmod(&p, 0o755);
            p
        } else {
            PathBuf::from(env!("CARGO_BIN_EXE_collector"))
        };
        let env = Env {
            dir,
            program,
            drop_to: root.then_some(NOBODY),
        };
        let probe = env.command(None, &["--version"]).output();
        match probe {
            Ok(o) if o.status.success() => Some(env),
            Ok(o) => {
                println!(
                    "SKIPPED: the program does not run as user {NOBODY}: {}",
                    stderr(&o)
                );
                None
            }
            Err(e) => {
                println!("SKIPPED: cannot run a command as user {NOBODY} (no CAP_SETUID?): {e}");
                None
            }
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, cache: Option<&Path>, args: &[&str]) -> Command {
        let mut c = Command::new(&self.program);
        if let Some(cache) = cache {
            c.arg("--cache-dir").arg(cache);
        }
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            .env_remove("RESULT_COLLECTOR_CACHE_DIR");
        if let Some(id) = self.drop_to {
            // SAFETY: only async-signal-safe libc calls, on a value copied in.
            unsafe {
                c.pre_exec(move || {
                    if libc::setgroups(0, std::ptr::null()) != 0
                        || libc::setgid(id) != 0
                        || libc::setuid(id) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        c
    }

    /// Runs the program (unprivileged) on `cache`.
    fn run(&self, cache: &Path, args: &[&str]) -> Output {
        self.command(Some(cache), args)
            .output()
            .expect("the collector runs")
    }

    fn ok(&self, cache: &Path, args: &[&str]) -> String {
        common::ok(self.run(cache, args))
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `chmod` of every file (`file_mode`) and directory (`dir_mode`) under
/// `dir`, `dir` included.
fn chmod_tree(dir: &Path, dir_mode: u32, file_mode: u32) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if e.file_type().expect("type").is_dir() {
            chmod_tree(&p, dir_mode, file_mode);
        } else if e.file_type().expect("type").is_file() {
            chmod(&p, file_mode);
        }
    }
    chmod(dir, dir_mode);
}

/// Every file and symlink under `dir` with its content (a link: its
/// target), recursively.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        let t = e.file_type().expect("type");
        if t.is_symlink() {
            let target = std::fs::read_link(&p).expect("readlink");
            out.push((p, target.into_os_string().into_encoded_bytes()));
        } else if t.is_dir() {
            out.extend(snapshot(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
        }
    }
    out.sort();
    out
}

/// The media files under `dir` (`.svg`), recursively, without following
/// links.
fn svgs(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.extension().is_some_and(|e| e == "svg") && !p.is_symlink())
        .collect()
}

/// A read-only cache directory: every command (inspection, export, report,
/// GC, a run) fails at the open with one error naming the database, and
/// nothing changes. A read-only directory holding no cache yet: the same
/// at its creation.
#[test]
fn a_read_only_cache_directory_is_one_clear_error() {
    let Some(env) = Env::new() else { return };
    let cache = env.path("ro");
    env.ok(&cache, &["demo", "--label", "v1"]);
    let out = env.path("out");
    std::fs::create_dir(&out).expect("mkdir");
    chmod(&out, 0o777);
    let before = snapshot(&cache);
    chmod_tree(&cache, 0o555, 0o444);
    let json = out.join("r.json");
    let html = out.join("r.html");
    let db = cache.join("db");
    let commands: Vec<Vec<&str>> = vec![
        vec!["ls"],
        vec!["show", "demo"],
        vec!["history", "demo"],
        vec!["export", "demo", "--format", "json", "-o", s(&json)],
        vec!["report", "demo", "-o", s(&html)],
        vec!["check", "demo"],
        vec!["gc", "--delete", "--grace-secs", "0"],
        vec!["stats"],
        vec!["jobs"],
        vec!["demo", "--label", "v2"],
    ];
    for args in &commands {
        let o = env.run(&cache, args);
        one_error(&o, &[s(&db), "Permission denied", "must be writable"]);
    }
    assert!(!json.exists() && !html.exists());
    chmod_tree(&cache, 0o777, 0o666);
    assert_eq!(
        snapshot(&cache),
        before,
        "a refused command changed the cache"
    );
    let listing = env.ok(&cache, &["ls"]);
    assert!(listing.contains("demo"), "{listing}");

    // A read-only directory where the cache would be created.
    let empty = env.path("ro-empty");
    std::fs::create_dir(&empty).expect("mkdir");
    chmod(&empty, 0o555);
    let o = env.run(&empty, &["demo", "--label", "v1"]);
    one_error(&o, &[s(&empty), "Permission denied"]);
    assert_eq!(std::fs::read_dir(&empty).expect("read_dir").count(), 0);
    println!(
        "read-only cache: {} commands, each one error",
        commands.len() + 1
    );
}

/// Media files nobody can read: the HTML report (which inlines images)
/// is still written, its cells say the file is unreadable, and a warning
/// names the file; the exports, GC and a history trim (which do not read
/// them) work; a merge, which copies a shard's files, stops with one error
/// naming the file.
#[test]
fn an_unreadable_media_file_is_named_and_nothing_else_breaks() {
    let Some(env) = Env::new() else { return };
    let cache = env.path("c");
    env.ok(&cache, &["demo", "--label", "v1"]);
    let media = cache.join("media");
    let files = svgs(&media);
    assert_eq!(files.len(), 54);
    for f in &files {
        chmod(f, 0o000);
    }
    let out = env.path("out");
    std::fs::create_dir(&out).expect("mkdir");
    chmod(&out, 0o777);

    // The report: written, every thumbnail a note, the files named.
    let html = out.join("r.html");
    let o = env.run(&cache, &["report", "demo", "-o", s(&html)]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("cannot be read"), "{err}");
    assert!(err.contains(s(&media)), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let page = std::fs::read_to_string(&html).expect("the page");
    assert!(page.contains("unreadable"), "the page does not say why");
    assert!(
        !page.contains("data:image/svg"),
        "an unreadable image was inlined"
    );

    // Exports and GC do not read media files.
    for format in ["json", "csv", "netcdf"] {
        let f = out.join(format!("r.{format}"));
        env.ok(&cache, &["export", "demo", "--format", format, "-o", s(&f)]);
    }
    let gc = env.ok(&cache, &["gc", "--delete", "--grace-secs", "0"]);
    assert!(gc.contains("deleted 0 orphan files"), "{gc}");
    assert!(files.iter().all(|f| f.is_file()));
    // A history trim deletes the old event's files unread.
    env.ok(&cache, &["demo", "--label", "v2", "--max-time-events", "1"]);
    assert!(files.iter().all(|f| !f.exists()), "the trimmed files stay");

    // A merge copies the shard's media files: one error naming the file.
    let shard = env.path("shard");
    env.ok(&shard, &["demo", "--label", "s", "--shard", "1/1"]);
    let shard_files = svgs(&shard.join("media"));
    assert_eq!(shard_files.len(), 54);
    for f in &shard_files {
        chmod(f, 0o000);
    }
    let merged = env.path("merged");
    let o = env.run(&merged, &["merge", s(&shard), "--label", "m"]);
    one_error(&o, &[s(&shard), ".svg", "Permission denied"]);
    let left: Vec<PathBuf> = snapshot(&merged.join("media"))
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.to_string_lossy().contains("tmp"))
        .collect();
    assert!(left.is_empty(), "a failed merge left {left:?}");
}

/// `reports/` is a file: the report command, and a run (after saving),
/// each end in one error naming it; the file is untouched.
#[test]
fn a_file_in_place_of_reports_is_one_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("c");
    common::ok(common::collector(&cache, &["demo", "--label", "v1"]));
    let reports = cache.join("reports");
    std::fs::remove_dir_all(&reports).expect("rm");
    std::fs::write(&reports, "not a directory").expect("write");
    let o = common::collector(&cache, &["report", "demo"]);
    one_error(&o, &[s(&reports), "not a directory"]);
    let o = common::collector(&cache, &["demo", "--label", "v2"]);
    one_error(&o, &[s(&reports), "not a directory", "saved"]);
    assert_eq!(
        std::fs::read_to_string(&reports).expect("read"),
        "not a directory"
    );
    // The run before the report was saved.
    let history = common::ok(common::collector(&cache, &["history", "demo"]));
    assert!(history.contains("v2"), "{history}");
}

/// A cache directory (or its `db/` or `media/`) that is a symbolic link:
/// every command is one error naming the link, and nothing is written or
/// deleted where it points. Inside a real media root, links leading out
/// (a file, a job folder, a kind folder) are never followed to delete:
/// neither by a history trim nor by GC.
#[test]
fn symlinks_never_lead_a_deletion_out_of_the_media_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real");
    common::ok(common::collector(&real, &["demo", "--label", "v1"]));
    let before = snapshot(&real);

    // The cache directory is a link.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let json = dir.path().join("r.json");
    let commands: Vec<Vec<&str>> = vec![
        vec!["ls"],
        vec!["demo", "--label", "v2", "--max-time-events", "1"],
        vec!["gc", "--delete", "--grace-secs", "0"],
        vec!["export", "demo", "--format", "json", "-o", s(&json)],
        vec!["report", "demo"],
        vec!["stats"],
    ];
    for args in &commands {
        let o = common::collector(&link, args);
        one_error(&o, &[s(&link), "symbolic link"]);
    }
    // A trailing slash resolves the link in the kernel's eyes: still refused.
    let slash = format!("{}/", s(&link));
    let o = common::collector(Path::new(&slash), &["gc", "--delete", "--grace-secs", "0"]);
    one_error(&o, &["symbolic link"]);
    assert_eq!(
        snapshot(&real),
        before,
        "a refused command changed the cache"
    );
    assert!(!json.exists());

    // `media/` is a link to a folder laid out like a media root, holding
    // files no record names: a GC would take them for orphans.
    let outside = dir.path().join("outside");
    let victim_dir = outside.join("image/plot/somejob");
    std::fs::create_dir_all(&victim_dir).expect("mkdir");
    std::fs::write(victim_dir.join("keep.svg"), "<svg/>").expect("write");
    std::fs::write(outside.join("precious.txt"), "keep me").expect("write");
    let outside_before = snapshot(&outside);
    let other = dir.path().join("other");
    common::ok(common::collector(&other, &["demo", "--label", "v1"]));
    std::fs::remove_dir_all(other.join("media")).expect("rm");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::os::unix::fs::symlink(&outside, other.join("media")).expect("symlink");
    for args in [
        &["gc", "--delete", "--grace-secs", "0"][..],
        &["demo", "--label", "v2", "--max-time-events", "1"][..],
    ] {
        let o = common::collector(&other, args);
        one_error(&o, &[s(&other.join("media")), "symbolic link"]);
    }
    assert_eq!(snapshot(&outside), outside_before);

    // `collector run`'s jobs' folder (emptied job by job) is a link.
    let sweep = dir.path().join("s.toml");
    std::fs::write(
        &sweep,
        "name = \"s\"\n[[input]]\nname = \"i\"\nvalues = [1]\n[command]\nargv = [\"true\"]\noutput = \"none\"\n",
    )
    .expect("write");
    let runs = dir.path().join("runs");
    std::fs::create_dir_all(runs.join("media")).expect("mkdir");
    let jobs_target = dir.path().join("jobs-target");
    std::fs::create_dir_all(&jobs_target).expect("mkdir");
    std::fs::write(jobs_target.join("precious.txt"), "keep me").expect("write");
    std::os::unix::fs::symlink(&jobs_target, runs.join("media/.tmp-jobs")).expect("symlink");
    let o = common::collector(&runs, &["run", s(&sweep)]);
    one_error(&o, &[".tmp-jobs", "symbolic link"]);
    assert!(jobs_target.join("precious.txt").is_file());

    // Links inside a real media root, leading out of it.
    let cache = dir.path().join("c");
    common::ok(common::collector(
        &cache,
        &["demo", "--label", "v1", "--max-time-events", "1"],
    ));
    let media = cache.join("media");
    let v1 = svgs(&media);
    assert_eq!(v1.len(), 54);
    let target_dir = dir.path().join("targets");
    std::fs::create_dir_all(&target_dir).expect("mkdir");
    // A file of v1 replaced by a link to a file outside.
    let f0 = target_dir.join("file.svg");
    std::fs::write(&f0, "<svg>outside</svg>").expect("write");
    std::fs::remove_file(&v1[0]).expect("rm");
    std::os::unix::fs::symlink(&f0, &v1[0]).expect("symlink");
    // A job folder of v1 replaced by a link to a folder outside holding a
    // file of the same name.
    let job_dir = v1[1].parent().expect("job dir").to_path_buf();
    let outside_job = target_dir.join("job");
    std::fs::create_dir_all(&outside_job).expect("mkdir");
    for f in std::fs::read_dir(&job_dir).expect("read_dir").flatten() {
        std::fs::write(outside_job.join(f.file_name()), "<svg>outside job</svg>").expect("write");
    }
    std::fs::remove_dir_all(&job_dir).expect("rm");
    std::os::unix::fs::symlink(&outside_job, &job_dir).expect("symlink");
    // A kind folder that is a link, and an orphan link in a job folder.
    let outside_kind = target_dir.join("kind/v/j");
    std::fs::create_dir_all(&outside_kind).expect("mkdir");
    std::fs::write(outside_kind.join("x.mp4"), "video").expect("write");
    std::os::unix::fs::symlink(target_dir.join("kind"), media.join("video")).expect("symlink");
    let f1 = target_dir.join("orphan.svg");
    std::fs::write(&f1, "<svg>orphan</svg>").expect("write");
    let orphan_link = v1[2].with_file_name("orphan-link.svg");
    std::os::unix::fs::symlink(&f1, &orphan_link).expect("symlink");
    let targets_before = snapshot(&target_dir);

    // A run whose history trim releases every v1 file, then a GC.
    common::ok(common::collector(
        &cache,
        &["demo", "--label", "v2", "--max-time-events", "1"],
    ));
    let gc = common::ok(common::collector(
        &cache,
        &["gc", "--delete", "--grace-secs", "0"],
    ));
    // (A run may write through a planted link; it never deletes there.)
    let targets_after = snapshot(&target_dir);
    for f in &targets_before {
        assert!(
            targets_after.contains(f),
            "{} outside the media root was deleted or changed; gc:\n{gc}",
            f.0.display()
        );
    }
    // The plain v1 files did go: the trim worked around the links.
    assert!(!v1[3].exists(), "the trim deleted nothing");
    println!(
        "symlinked cache: {} commands refused; links in the media root: none followed",
        commands.len() + 3
    );
}
