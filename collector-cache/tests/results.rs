//! Results: round trip, completeness, references, eviction, corruption,
//! locking and the format version.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use collector_cache::{
    CacheDb, CacheOptions, ENVELOPE_FORMAT, Error, FORMAT_VERSION, VersionFound,
};
use collector_core::{REFERENCE_SENTINEL, TimeKind, cache_key};
use util::*;

#[test]
fn a_result_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = small_sweep();
    let r = small_result(&sweep, 1.0);
    let cache = open(dir.path());
    let key = cache_key(&sweep);
    let out = cache.put_result(&key, sweep.name(), &r).unwrap();
    assert!(out.complete);
    drop(cache);

    let cache = open(dir.path());
    let back = cache.get_complete_result(&key).unwrap().unwrap();
    assert!(back.complete);
    assert_eq!(back.stats, r.stats);
    assert!(back.failures.is_empty());
    assert_eq!(back.dataset.dims(), r.dataset.dims());
    assert_eq!(back.dataset.attrs, r.dataset.attrs);
    for c in r.dataset.columns() {
        let b = back.dataset.column(&c.name).unwrap();
        assert_eq!((b.kind, &b.var, &b.attrs), (c.kind, &c.var, &c.attrs));
        if c.kind != collector_core::ResultKind::Reference {
            assert_eq!(b.data, c.data, "column {}", c.name);
        }
    }
    assert_eq!(cache.get_result("absent").unwrap(), None);
}

#[test]
fn reference_cells_read_back_as_minus_one() {
    // SPEC §9.7: a reference cell must never index another run's objects.
    let dir = tempfile::tempdir().unwrap();
    let sweep = small_sweep();
    let r = small_result(&sweep, 0.0);
    assert!(
        r.dataset
            .column("obj")
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .any(|&i| i > 0)
    );
    let cache = open(dir.path());
    cache.put_result("k", "small", &r).unwrap();
    let back = cache.get_result("k").unwrap().unwrap();
    let obj = back
        .dataset
        .column("obj")
        .unwrap()
        .i64()
        .unwrap()
        .to_owned();
    assert!(obj.iter().all(|&i| i == REFERENCE_SENTINEL), "{obj:?}");
}

#[test]
fn results_with_failures_are_stored_incomplete() {
    // SPEC §9.6: a flaky job must not become a permanent hole.
    let dir = tempfile::tempdir().unwrap();
    let sweep = small_sweep();
    let cache = open(dir.path());
    let out = cache
        .put_result("k", "small", &failed_result(&sweep))
        .unwrap();
    assert!(!out.complete);
    let back = cache.get_result("k").unwrap().unwrap();
    assert!(!back.complete);
    assert_eq!(back.failures.len(), 1);
    assert_eq!(back.failures[0].message, "flaky");
    assert_eq!(cache.get_complete_result("k").unwrap(), None);

    // Jobs not all attempted: incomplete too.
    let partial =
        collector_core::setup_dataset(&sweep, &collector_core::TimeSrc::Label("v".into()))
            .unwrap()
            .result;
    cache.put_result("p", "small", &partial).unwrap();
    assert_eq!(cache.get_complete_result("p").unwrap(), None);
    assert!(cache.get_result("p").unwrap().is_some());

    // A later complete run replaces it.
    cache
        .put_result("k", "small", &small_result(&sweep, 0.0))
        .unwrap();
    assert!(cache.get_complete_result("k").unwrap().is_some());
    let listing = cache.list_sweeps().unwrap();
    assert_eq!(listing.len(), 1);
    let keys: Vec<(&str, bool)> = listing[0]
        .results
        .iter()
        .map(|r| (r.key.as_str(), r.complete))
        .collect();
    assert_eq!(keys, [("p", false), ("k", true)]);
}

#[test]
fn corrupt_results_are_removed_and_absent() {
    // SPEC §9.5: a corrupt entry must not crash the run.
    let sweep = small_sweep();
    let r = small_result(&sweep, 0.0);
    type Damage = fn(Vec<u8>) -> Vec<u8>;
    let damages: [(&str, Damage); 6] = [
        ("byte flip", |mut v| {
            let n = v.len();
            for i in [5, n / 3, n / 2, n - 3] {
                v[i] ^= 0xff;
            }
            v
        }),
        ("truncation", |mut v| {
            v.truncate(v.len() / 2);
            v
        }),
        ("garbage", |_| b"\xc1\xc1 not msgpack at all".to_vec()),
        ("empty", |_| Vec::new()),
        ("other envelope format", |v| {
            // The envelope starts with {format: 1, ...}: the byte after the
            // "format" key is the version.
            let pos = v.windows(6).position(|w| w == b"format").unwrap() + 6;
            let mut v = v;
            assert_eq!(v[pos], ENVELOPE_FORMAT as u8);
            v[pos] = 0x7f;
            v
        }),
        ("another kind", |v| {
            let pos = v.windows(6).position(|w| w == b"result").unwrap();
            let mut v = v;
            v[pos..pos + 6].copy_from_slice(b"resulu");
            v
        }),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        cache.put_result("k", "small", &r).unwrap();
        cache.put_result("other", "small", &r).unwrap();
        drop(cache);
        let v = peek(dir.path(), "results", b"k").unwrap();
        poke(dir.path(), "results", b"k", Some(damage(v)));
        let cache = open(dir.path());
        assert_eq!(cache.get_result("k").unwrap(), None, "{what}");
        // Removed, index entry included; the other result is untouched.
        assert_eq!(cache.stats().unwrap().results, 1, "{what}");
        drop(cache);
        assert_eq!(peek(dir.path(), "results", b"k"), None, "{what}");
        let cache = open(dir.path());
        assert!(
            cache.get_complete_result("other").unwrap().is_some(),
            "{what}"
        );
        // The run goes on: storing again works.
        cache.put_result("k", "small", &r).unwrap();
        assert!(cache.get_complete_result("k").unwrap().is_some(), "{what}");
    }
}

#[test]
fn eviction_removes_oldest_stored_results_but_never_history() {
    // SPEC §9.9: size-based eviction must not delete history.
    let dir = tempfile::tempdir().unwrap();
    let sweep = small_sweep();
    let r = small_result(&sweep, 0.0);
    let size = {
        let cache = open(dir.path());
        let hs = history_sweep(3, 1.0, false);
        cache
            .append_event("hist", &label_event(&hs, "v1", 0.0), &Default::default())
            .unwrap();
        let s = cache.put_result("probe", "small", &r).unwrap().bytes;
        cache.remove_result("probe").unwrap();
        s
    };
    let cache = CacheDb::open(
        dir.path(),
        CacheOptions {
            cache_size: Some(size * 3 + size / 2),
            ..Default::default()
        },
    )
    .unwrap();
    for k in ["a", "b", "c"] {
        assert!(cache.put_result(k, "small", &r).unwrap().evicted.is_empty());
    }
    // Reading "a" does not make it recent: eviction is by store order.
    assert!(cache.get_result("a").unwrap().is_some());
    let out = cache.put_result("d", "small", &r).unwrap();
    assert_eq!(out.evicted, ["a"]);
    // Storing "b" again makes it the most recent.
    assert!(
        cache
            .put_result("b", "small", &r)
            .unwrap()
            .evicted
            .is_empty()
    );
    assert_eq!(cache.put_result("e", "small", &r).unwrap().evicted, ["c"]);
    for (k, present) in [
        ("a", false),
        ("b", true),
        ("c", false),
        ("d", true),
        ("e", true),
    ] {
        assert_eq!(cache.get_result(k).unwrap().is_some(), present, "{k}");
    }
    let stats = cache.stats().unwrap();
    assert_eq!(stats.results, 3);
    assert!(stats.result_bytes <= size * 3 + size / 2);
    assert_eq!(stats.histories, 1);
    assert_eq!(cache.history_len("hist").unwrap(), 1);
    assert!(cache.load_history("hist").unwrap().is_some());
    drop(cache);
    // The size bookkeeping survives a reopen.
    let cache = open(dir.path());
    assert_eq!(cache.stats().unwrap().result_bytes, stats.result_bytes);
}

#[test]
fn a_locked_directory_gives_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let err = CacheDb::open(dir.path(), CacheOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("in use"), "{msg}");
    // Closing releases it; reopening after close works.
    first.close().unwrap();
    open(dir.path()).close().unwrap();
}

#[test]
fn a_version_2_cache_is_upgraded_in_place_and_keeps_its_results() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = small_sweep();
    let cache = open(dir.path());
    let stored = small_result(&sweep, 1.5);
    cache.put_result("k", "small", &stored).unwrap();
    drop(cache);
    poke(
        dir.path(),
        "meta",
        b"format_version",
        Some(2u32.to_le_bytes().to_vec()),
    );
    let cache = open(dir.path());
    let back = cache.get_complete_result("k").unwrap().unwrap().dataset;
    assert_eq!(f64s(&back, "cost"), f64s(&stored.dataset, "cost"));
    drop(cache);
    assert_eq!(
        peek(dir.path(), "meta", b"format_version"),
        Some(FORMAT_VERSION.to_le_bytes().to_vec())
    );
}

#[test]
fn another_format_version_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = small_sweep();
    let cache = open(dir.path());
    cache
        .put_result("k", "small", &small_result(&sweep, 0.0))
        .unwrap();
    drop(cache);
    poke(
        dir.path(),
        "meta",
        b"format_version",
        Some((FORMAT_VERSION + 1).to_le_bytes().to_vec()),
    );
    let err = CacheDb::open(dir.path(), CacheOptions::default()).unwrap_err();
    match &err {
        Error::FormatVersion {
            found, expected, ..
        } => {
            assert_eq!(*found, VersionFound::Version(FORMAT_VERSION + 1));
            assert_eq!(*expected, FORMAT_VERSION);
        }
        e => panic!("{e:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(
        msg.contains("Delete") && msg.contains("release that wrote it"),
        "{msg}"
    );
    // Nothing was deleted.
    assert!(peek(dir.path(), "results", b"k").is_some());
    // A database holding data but no version record is refused too.
    poke(dir.path(), "meta", b"format_version", None);
    let err = CacheDb::open(dir.path(), CacheOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::FormatVersion {
                found: VersionFound::Missing,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(peek(dir.path(), "results", b"k").is_some());
}

#[test]
fn bad_keys_and_directories_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let sweep = small_sweep();
    let r = small_result(&sweep, 0.0);
    assert!(matches!(
        cache.put_result("a\0b", "s", &r),
        Err(Error::InvalidKey { .. })
    ));
    assert!(matches!(
        cache.put_result("", "s", &r),
        Err(Error::InvalidKey { .. })
    ));
    assert!(matches!(
        cache.get_result(""),
        Err(Error::InvalidKey { .. })
    ));
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = CacheDb::open(&file, CacheOptions::default()).unwrap_err();
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[test]
fn exists_tells_whether_a_database_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("db");
    assert!(!CacheDb::exists(&db_dir));
    assert!(!CacheDb::exists(dir.path()));
    let cache = open(&db_dir);
    assert_eq!(cache.dir(), db_dir);
    cache.close().unwrap();
    assert!(CacheDb::exists(&db_dir));
    // The database is the directory given, not a sub-directory of it.
    assert!(!CacheDb::exists(&db_dir.join("db")));
    // Given the directory above the database, open refuses instead of
    // starting a second, empty database there.
    let e = CacheDb::open(dir.path(), CacheOptions::default()).unwrap_err();
    assert!(e.to_string().contains("pass that directory"), "{e}");
    assert!(!CacheDb::exists(dir.path()));
}

#[test]
fn listing_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let sweep = small_sweep();
    let r = small_result(&sweep, 0.0);
    cache.put_result("k1", "small", &r).unwrap();
    cache.put_result("k2", "other", &r).unwrap();
    let hs = history_sweep(3, 1.0, false);
    for l in ["a", "b"] {
        cache
            .append_event("h", &label_event(&hs, l, 0.0), &Default::default())
            .unwrap();
    }
    let l = cache.list_sweeps().unwrap();
    let names: Vec<&str> = l.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["hist", "other", "small"]);
    assert_eq!(l[0].histories[0].events, 2);
    assert_eq!(l[0].histories[0].over_time_kind, TimeKind::Label);
    assert_eq!(
        l[2].results[0].cells,
        r.dataset.cell_count() as u64 * r.dataset.columns().len() as u64
    );
    let s = cache.stats().unwrap();
    assert_eq!((s.results, s.histories, s.history_events), (2, 1, 2));
    assert!(s.history_bytes > 0 && s.result_bytes > 0);
}

/// Large results under many keys: the write-ahead log is freed as it goes
/// (the small families are flushed when it passes its bound) instead of
/// keeping every result ever written.
#[test]
fn the_write_ahead_log_stays_bounded() {
    use collector_core::ColumnData;
    let dir = tempfile::tempdir().unwrap();
    let mut r = float_result(250_000, 0.0);
    let cache = open(dir.path());
    // 60 results of 2 MB each: 120 MB written in all.
    for k in 0..60u32 {
        set_floats(&mut r, f64::from(k));
        cache.put_result(&format!("key{k}"), "big", &r).unwrap();
    }
    // Obsolete log files are removed in the background: give it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while log_bytes(dir.path()) > 80 << 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let total = log_bytes(dir.path());
    assert!(total <= 80 << 20, "write-ahead log holds {total} bytes");
    // And nothing was lost on the way.
    for k in [0u32, 31, 59] {
        let back = cache
            .get_complete_result(&format!("key{k}"))
            .unwrap()
            .unwrap();
        let ColumnData::F64(a) = &back.dataset.columns()[0].data else {
            panic!("float column")
        };
        assert!(a.iter().all(|&x| x == f64::from(k)), "result {k}");
    }
}

/// Closing (or dropping) flushes the memtables, so the next open has no
/// log to replay: the live write-ahead log is empty and the results are
/// read back from table files.
#[test]
fn closing_leaves_no_log_to_replay() {
    let r = float_result(125_000, 2.5);
    for explicit in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        for k in 0..5 {
            cache.put_result(&format!("key{k}"), "big", &r).unwrap();
        }
        assert!(
            log_bytes(dir.path()) > 5_000_000,
            "the writes went to the log"
        );
        if explicit {
            cache.close().unwrap();
        } else {
            drop(cache);
        }
        assert_eq!(log_bytes(dir.path()), 0, "explicit close: {explicit}");
        let cache = open(dir.path());
        let back = cache.get_complete_result("key4").unwrap().unwrap();
        assert_eq!(back.dataset, r.dataset);
    }
}

/// Files of the database in `db_dir` with the extension `ext`.
fn files_with(db_dir: &std::path::Path, ext: &str) -> usize {
    std::fs::read_dir(db_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == ext))
        .count()
}

/// A large result is flushed to a blob file (not held whole in a table
/// block: the flush of an 80 MB result took 240 MB there), reads back
/// whole after a reopen, and is gone once removed.
#[test]
fn a_large_result_goes_to_a_blob_file_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    // 2 MB of floats: past the 1 MiB threshold of blob files.
    let big = float_result(1 << 18, 2.5);
    let small = small_result(&small_sweep(), 1.0);
    let small_key = cache_key(&small_sweep());
    let cache = open(dir.path());
    cache.put_result("big", "big", &big).unwrap();
    cache.put_result(&small_key, "small", &small).unwrap();
    drop(cache); // closing flushes the memtables
    assert_eq!(
        files_with(dir.path(), "blob"),
        1,
        "one blob file: the large result only"
    );

    let cache = open(dir.path());
    let back = cache.get_complete_result("big").unwrap().unwrap();
    assert_eq!(f64s(&back.dataset, "y"), vec![2.5; 1 << 18]);
    let back_small = cache.get_complete_result(&small_key).unwrap().unwrap();
    assert_eq!(back_small.dataset.dims(), small.dataset.dims());
    assert!(cache.remove_result("big").unwrap());
    drop(cache);
    let cache = open(dir.path());
    assert!(cache.get_result("big").unwrap().is_none());
    assert!(cache.get_result(&small_key).unwrap().is_some());
}
