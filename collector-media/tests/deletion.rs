//! Deferred deletion: only after a commit, never outside the media root,
//! never a file a live cell still names.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::PathBuf;

use collector_core::{Cell, Column, Coords, Dataset, Dim, OVER_TIME_DIM, ResultKind};
use collector_media::{
    DeletionReport, MediaRoot, PendingDeletion, live_media_paths, null_old_entries,
};

/// A history of `events` runs of two jobs, each run writing one image per job.
fn history(root: &MediaRoot, events: usize) -> (Dataset, Vec<Vec<PathBuf>>) {
    let shape = [2, events];
    let mut img = Column::new_missing("img", "img", ResultKind::Image, &shape);
    let mut files = vec![Vec::new(); 2];
    for t in 0..events {
        for (j, job_files) in files.iter_mut().enumerate() {
            let f = root
                .new_file(ResultKind::Image, "img", &format!("job{j}"), "plot.png")
                .unwrap();
            img.set(&[j, t], Cell::Text(f.cell)).unwrap();
            job_files.push(f.path);
        }
    }
    let dims = vec![
        Dim::new("x", Coords::Int(vec![0, 1])),
        Dim::new(
            OVER_TIME_DIM,
            Coords::Label((0..events).map(|t| format!("v{t}")).collect()),
        ),
    ];
    (
        Dataset::from_parts(dims, vec![img], BTreeMap::new()).unwrap(),
        files,
    )
}

/// What the facade does: age, commit, and delete only after a good commit.
fn age_and_commit(
    root: &MediaRoot,
    stored: &Dataset,
    commit: impl FnOnce(&Dataset) -> Result<(), String>,
) -> Result<DeletionReport, String> {
    let mut next = stored.clone();
    let pending = null_old_entries(&mut next, "img", 1).unwrap();
    commit(&next)?; // on failure `pending` is dropped: nothing is deleted
    Ok(pending.execute_against(root, &next))
}

#[test]
fn failed_commit_deletes_nothing_and_good_commit_deletes_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = MediaRoot::new(dir.path().join("cache")).unwrap();
    let (stored, files) = history(&root, 3);

    let err = age_and_commit(&root, &stored, |_| Err("disk full".into())).unwrap_err();
    assert_eq!(err, "disk full");
    // The stored record still names its files, and every one is there.
    for p in files.iter().flatten() {
        assert!(
            p.is_file(),
            "{} was deleted after a failed commit",
            p.display()
        );
    }
    for cell in live_media_paths(&stored) {
        assert!(root.resolve(&cell).unwrap().is_file());
    }

    let report = age_and_commit(&root, &stored, |_| Ok(())).unwrap();
    assert_eq!(report.deleted.len(), 4);
    assert!(report.is_clean(), "{report:?}");
    for job in &files {
        assert!(!job[0].exists() && !job[1].exists());
        assert!(job[2].is_file(), "the newest event's file must stay");
    }
}

#[test]
fn dropping_a_pending_deletion_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = MediaRoot::new(dir.path()).unwrap();
    let (mut ds, files) = history(&root, 2);
    {
        let _pending = null_old_entries(&mut ds, "img", 0).unwrap();
    }
    assert!(files.iter().flatten().all(|p| p.is_file()));
}

#[cfg(unix)]
#[test]
fn deletion_is_confined_to_the_media_root() {
    use std::os::unix::fs::symlink;

    let dir = tempfile::tempdir().unwrap();
    let root = MediaRoot::new(dir.path().join("cache")).unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    let secret = outside.join("secret.png");
    fs::write(&secret, b"keep me").unwrap();
    // A database file in the cache dir, outside every media directory.
    fs::write(root.path().join("foreign.db"), b"db").unwrap();
    let blob = root.write_blob(b"shared", "png").unwrap();

    let job = root.path().join("image/img/job0");
    fs::create_dir_all(&job).unwrap();
    symlink(&secret, job.join("link.png")).unwrap();
    symlink(&outside, root.path().join("image/img/jobdir-link")).unwrap();
    symlink(&outside, root.path().join("video")).unwrap();

    let cells = [
        secret.to_str().unwrap().to_string(), // absolute elsewhere
        "../outside/secret.png".to_string(),  // `..`
        "image/img/job0/../../../../outside/secret.png".to_string(), // `..` inside
        format!("{}/image/../../outside/secret.png", root.path().display()),
        "image/img/job0/link.png".to_string(), // symlink out
        "image/img/jobdir-link/secret.png".to_string(), // symlinked parent dir
        "video/secret.png".to_string(),        // symlinked kind dir
        "foreign.db".to_string(),              // not a media dir
        format!("blob/{blob}"),                // blobs: GC only
    ];
    let report = PendingDeletion::from_paths(cells.clone()).execute(&root, &HashSet::new());
    assert!(report.deleted.is_empty(), "{report:?}");
    assert_eq!(report.refused.len(), cells.len(), "{report:?}");
    assert!(
        report.refused[1..4].iter().all(|r| r.reason.contains("..")),
        "{report:?}"
    );
    assert!(
        report.refused[4..7]
            .iter()
            .all(|r| r.reason.contains("symlink")),
        "{report:?}"
    );
    assert_eq!(fs::read(&secret).unwrap(), b"keep me");
    assert!(root.path().join("foreign.db").is_file());
    assert!(root.blob_path(&blob).unwrap().is_file());
    assert!(fs::symlink_metadata(job.join("link.png")).is_ok());
}

#[test]
fn files_named_by_live_cells_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = MediaRoot::new(dir.path()).unwrap();
    let shared = root
        .new_file(ResultKind::Image, "img", "job0", "same.png")
        .unwrap();
    let only_old = root
        .new_file(ResultKind::Image, "img", "job0", "old.png")
        .unwrap();
    let mut img = Column::new_missing("img", "img", ResultKind::Image, &[3]);
    img.set(&[0], Cell::Text(only_old.cell.clone())).unwrap();
    img.set(&[1], Cell::Text(shared.cell.clone())).unwrap();
    // The newest event names the same file with an absolute spelling.
    img.set(&[2], Cell::Text(shared.path.to_str().unwrap().to_string()))
        .unwrap();
    let time = Dim::new(
        OVER_TIME_DIM,
        Coords::Label(vec!["a".into(), "b".into(), "c".into()]),
    );
    let mut ds = Dataset::from_parts(vec![time], vec![img], BTreeMap::new()).unwrap();

    let pending = null_old_entries(&mut ds, "img", 1).unwrap();
    assert_eq!(pending.len(), 2);
    let report = pending.execute_against(&root, &ds);
    assert_eq!(report.deleted, vec![only_old.path.clone()]);
    assert_eq!(report.kept_live.len(), 1);
    assert!(shared.path.is_file());
    assert!(!only_old.path.exists());
}

#[test]
fn released_paths_gone_files_and_empty_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let root = MediaRoot::new(dir.path()).unwrap();
    let a = root
        .new_file(ResultKind::Recording, "rec", "job0", "a.rrd")
        .unwrap();
    let b = root
        .new_file(ResultKind::Recording, "rec", "job1", "b.rrd")
        .unwrap();
    let c = root
        .new_file(ResultKind::Recording, "rec", "job1", "c.rrd")
        .unwrap();
    fs::remove_file(&b.path).unwrap();
    // What the cache returns after its write batch commits.
    let released = vec![
        a.cell.clone(),
        b.cell.clone(),
        "NAN".to_string(),
        a.cell.clone(),
    ];
    let pending = PendingDeletion::from_paths(released);
    assert_eq!(pending.len(), 2);
    let report = pending.execute(&root, &HashSet::new());
    assert_eq!(report.deleted, vec![a.path.clone()]);
    assert_eq!(report.already_gone, vec![b.path.clone()]);
    assert!(report.is_clean());
    // job0 was emptied and removed; job1 still holds c; the kind dir stays.
    assert!(!root.path().join("recording/rec/job0").exists());
    assert!(c.path.is_file());
    assert!(root.path().join("recording").is_dir());
    // A new file in a pruned directory still works.
    let again = root
        .new_file(ResultKind::Recording, "rec", "job0", "a.rrd")
        .unwrap();
    assert!(again.path.is_file());
}
