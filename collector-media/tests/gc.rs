//! Orphan GC: fail closed, grace period, dry run, temporary and foreign
//! files left alone.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use collector_core::{Cell, Column, Coords, Dataset, Dim, OVER_TIME_DIM, ResultKind};
use collector_media::{Error, GcOptions, GcReferences, MediaRoot, gc};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn age(path: &Path, by: Duration) {
    let f = File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - by).unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: MediaRoot,
    refs: GcReferences,
    kept_media: std::path::PathBuf,
    kept_blob: std::path::PathBuf,
    orphan_media: std::path::PathBuf,
    orphan_blob: std::path::PathBuf,
    young_orphan: std::path::PathBuf,
    temp: std::path::PathBuf,
    stale_temp: std::path::PathBuf,
    foreign: Vec<std::path::PathBuf>,
}

/// Two referenced files (one media, one blob), two old orphans, a young
/// orphan, a young temporary blob (being written), a stale one (its writer
/// was killed before the rename) and foreign files, all but the young ones
/// a day old.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = MediaRoot::new(dir.path().join("cache")).unwrap();
    let kept = root
        .new_file(ResultKind::Image, "img", "job0", "a.png")
        .unwrap();
    let orphan = root
        .new_file(ResultKind::Video, "vid", "job0", "a.mp4")
        .unwrap();
    fs::write(&orphan.path, vec![0u8; 100]).unwrap();
    let young = root
        .new_file(ResultKind::Video, "vid", "job1", "b.mp4")
        .unwrap();
    let kept_blob = root.write_blob(b"kept", "json").unwrap();
    let orphan_blob = root.write_blob(b"orphan!", "").unwrap();
    let temp = root.blob_dir().join(".tmpXYZ");
    fs::write(&temp, b"partial").unwrap();
    let stale_temp = root.blob_dir().join(".tmpOLD");
    fs::write(&stale_temp, b"stale").unwrap();
    let foreign = vec![
        root.blob_dir().join("notes.txt"),
        root.path().join("foreign.db"),
        root.path().join("db").join("000001.dat"),
    ];
    fs::create_dir_all(root.path().join("db")).unwrap();
    for f in &foreign {
        fs::write(f, b"foreign").unwrap();
    }
    let mut all = vec![
        kept.path.clone(),
        orphan.path.clone(),
        root.blob_path(&kept_blob).unwrap(),
        root.blob_path(&orphan_blob).unwrap(),
        stale_temp.clone(),
    ];
    all.extend(foreign.iter().cloned());
    for p in &all {
        age(p, DAY);
    }

    // The stored record references `kept` (as a cell) and `kept_blob`.
    let mut img = Column::new_missing("img", "img", ResultKind::Image, &[1]);
    img.set(&[0], Cell::Text(kept.cell.clone())).unwrap();
    let mut blob = Column::new_missing("blob", "blob", ResultKind::Blob, &[1]);
    blob.set(&[0], Cell::Text(kept_blob.clone())).unwrap();
    let time = Dim::new(OVER_TIME_DIM, Coords::Label(vec!["v1".into()]));
    let ds = Dataset::from_parts(vec![time], vec![img, blob], BTreeMap::new()).unwrap();
    let mut refs = GcReferences::new();
    refs.add_dataset(&ds);

    Fixture {
        kept_media: kept.path,
        kept_blob: root.blob_path(&kept_blob).unwrap(),
        orphan_media: orphan.path,
        orphan_blob: root.blob_path(&orphan_blob).unwrap(),
        young_orphan: young.path,
        temp,
        stale_temp,
        foreign,
        refs,
        root,
        _dir: dir,
    }
}

fn everything_but_orphans_exists(f: &Fixture) {
    for p in [&f.kept_media, &f.kept_blob, &f.young_orphan, &f.temp]
        .into_iter()
        .chain(&f.foreign)
    {
        assert!(p.is_file(), "{} was deleted", p.display());
    }
}

#[test]
fn dry_run_is_the_default_and_deletes_nothing() {
    let f = fixture();
    let report = gc(&f.root, &f.refs, GcOptions::default()).unwrap();
    assert!(report.dry_run);
    // The default grace (1 hour) spares the young orphan only; the stale
    // temporary blob is an orphan, the young one is left alone.
    assert_eq!(report.orphans.len(), 3, "{report:?}");
    assert_eq!(report.orphan_bytes, 100 + 7 + 5);
    assert_eq!(report.deleted, 0);
    assert_eq!(report.referenced, 2);
    assert_eq!(report.too_young, 1);
    assert_eq!(report.temporary, 1);
    assert_eq!(report.foreign, 1, "notes.txt in the blob dir");
    assert!(f.orphan_media.is_file() && f.orphan_blob.is_file());
    everything_but_orphans_exists(&f);
}

#[test]
fn delete_removes_only_old_orphans() {
    let f = fixture();
    let opts = GcOptions {
        delete: true,
        ..GcOptions::default()
    };
    let report = gc(&f.root, &f.refs, opts).unwrap();
    assert!(!report.dry_run);
    assert_eq!(report.deleted, 3, "{report:?}");
    assert_eq!(report.deleted_bytes, 112);
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(!f.orphan_media.exists() && !f.orphan_blob.exists() && !f.stale_temp.exists());
    everything_but_orphans_exists(&f);
    // The emptied job directory is pruned; the kind directory stays.
    assert!(!f.root.path().join("video/vid/job0").exists());
    assert!(f.root.path().join("video").is_dir());
}

#[test]
fn grace_period_holds() {
    let f = fixture();
    // A grace longer than the files' age spares every one of them.
    let opts = GcOptions {
        delete: true,
        grace: 2 * DAY,
    };
    let report = gc(&f.root, &f.refs, opts).unwrap();
    assert_eq!(report.deleted, 0, "{report:?}");
    assert_eq!(report.too_young, 3);
    assert_eq!(report.temporary, 2, "{report:?}");
    assert!(f.orphan_media.is_file() && f.orphan_blob.is_file() && f.stale_temp.is_file());

    // A zero grace (no writer at work) takes the young orphan and the young
    // temporary blob too.
    let opts = GcOptions {
        delete: true,
        grace: Duration::ZERO,
    };
    let report = gc(&f.root, &f.refs, opts).unwrap();
    assert_eq!(report.deleted, 5, "{report:?}");
    assert!(!f.young_orphan.exists() && !f.temp.exists());
    assert!(f.kept_media.is_file() && f.kept_blob.is_file());
}

#[test]
fn an_unreadable_record_deletes_nothing() {
    let mut f = fixture();
    f.refs
        .mark_unreadable("result `ab12…`: truncated MessagePack");
    assert!(!f.refs.is_complete());
    let opts = GcOptions {
        delete: true,
        grace: Duration::ZERO,
    };
    let err = gc(&f.root, &f.refs, opts).unwrap_err();
    assert!(
        matches!(err, Error::UnreadableRecords { count: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("ab12"), "{err}");
    assert!(f.orphan_media.is_file() && f.orphan_blob.is_file() && f.young_orphan.is_file());
    assert!(f.stale_temp.is_file());
    everything_but_orphans_exists(&f);
}

#[test]
fn absolute_references_count() {
    let mut f = fixture();
    f.refs.add_media(f.orphan_media.to_str().unwrap());
    let report = gc(&f.root, &f.refs, GcOptions::default()).unwrap();
    assert_eq!(report.referenced, 3);
    // The orphan blob and the stale temporary blob.
    assert_eq!(report.orphans.len(), 2);
}

#[cfg(unix)]
#[test]
fn symlinks_are_foreign() {
    let f = fixture();
    let outside = f.root.path().parent().unwrap().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("x.png"), b"x").unwrap();
    age(&outside.join("x.png"), DAY);
    std::os::unix::fs::symlink(&outside, f.root.path().join("image/img/linked")).unwrap();
    std::os::unix::fs::symlink(&outside, f.root.path().join("recording")).unwrap();
    let opts = GcOptions {
        delete: true,
        grace: Duration::ZERO,
    };
    let report = gc(&f.root, &f.refs, opts).unwrap();
    assert_eq!(report.foreign, 3, "{report:?}");
    assert!(outside.join("x.png").is_file());
}

#[test]
fn a_stale_temporary_file_is_an_orphan() {
    let dir = tempfile::tempdir().unwrap();
    let root = MediaRoot::new(dir.path()).unwrap();
    // Left by writers killed a day ago (a media file and a blob), and one
    // being written now (younger than the grace period).
    let job = root.job_dir(ResultKind::Image, "img", "job0").unwrap();
    fs::create_dir_all(&job).unwrap();
    fs::create_dir_all(root.blob_dir()).unwrap();
    let stale = [job.join(".tmpAAAA"), root.blob_dir().join(".tmpBBBB")];
    let fresh = job.join(".tmpCCCC");
    for p in stale.iter().chain([&fresh]) {
        fs::write(p, b"partial").unwrap();
    }
    for p in &stale {
        age(p, DAY);
    }
    let opts = GcOptions {
        delete: true,
        grace: collector_media::DEFAULT_GRACE,
    };
    let report = gc(&root, &GcReferences::new(), opts).unwrap();
    assert_eq!(report.deleted, 2, "{report:?}");
    assert_eq!(report.temporary, 1);
    assert!(stale.iter().all(|p| !p.exists()) && fresh.is_file());
}
