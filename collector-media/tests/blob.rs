//! Content-addressed blobs: deduplicated, written atomically.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::fs;
use std::time::{Duration, SystemTime};

use collector_media::{Error, MediaRoot, blob_name, is_blob_name};

#[test]
fn blobs_are_content_addressed_and_deduplicated() {
    let dir = tempfile::tempdir().unwrap();
    let root = MediaRoot::new(dir.path()).unwrap();
    let a = root.write_blob(b"hello", "txt").unwrap();
    assert_eq!(a, format!("{}.txt", blake3::hash(b"hello").to_hex()));
    assert_eq!(a, blob_name(b"hello", "txt").unwrap());
    let path = root.blob_path(&a).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"hello");

    // Age it, write it again: same name, not rewritten, mtime refreshed.
    let old = SystemTime::now() - Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let b = root.write_blob(b"hello", "txt").unwrap();
    assert_eq!(a, b);
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    assert!(mtime > old + Duration::from_secs(3600));

    let c = root.write_blob(b"hello", "bin").unwrap();
    let d = root.write_blob(b"other", "txt").unwrap();
    assert_ne!(a, c);
    assert_ne!(a, d);

    // Only the three blobs: no temporary file is left behind.
    let mut names: Vec<String> = fs::read_dir(root.blob_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| is_blob_name(n) && !n.starts_with(".tmp"))
    );
}

#[test]
fn concurrent_writers_of_one_blob_agree() {
    let dir = tempfile::tempdir().unwrap();
    let root = MediaRoot::new(dir.path()).unwrap();
    let data = vec![7u8; 1 << 16];
    let names: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| s.spawn(|| root.write_blob(&data, "bin").unwrap()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(names.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(fs::read(root.blob_path(&names[0]).unwrap()).unwrap(), data);
    assert_eq!(fs::read_dir(root.blob_dir()).unwrap().count(), 1);
}

#[test]
fn bad_blob_names_and_extensions_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = MediaRoot::new(dir.path()).unwrap();
    for name in [
        "../x",
        "/etc/passwd",
        "abc",
        "",
        &format!("{}/x", "a".repeat(64)),
    ] {
        let e = root.blob_path(name).unwrap_err();
        assert!(matches!(e, Error::InvalidName { .. }), "{e}");
    }
    for ext in ["../png", "p g", "a.b", "toolongextension12"] {
        assert!(root.write_blob(b"x", ext).is_err(), "{ext}");
    }
}
