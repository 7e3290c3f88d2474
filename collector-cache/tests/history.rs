//! History over time: append, load, resets, trimming, aging, concurrency.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use std::collections::{BTreeMap, BTreeSet};

use collector_cache::{AppendOptions, Error, ResetPolicy, ResetReason};
use collector_core::{Coords, TimeSrc};
use util::*;

fn opts() -> AppendOptions {
    AppendOptions::default()
}

#[test]
fn events_append_and_load_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(4, 1.0, false);
    assert_eq!(cache.load_history("h").unwrap(), None);
    for (i, l) in ["a", "b", "c"].iter().enumerate() {
        let out = cache
            .append_event("h", &label_event(&s, l, i as f64), &opts())
            .unwrap();
        assert_eq!(out.events, i as u64 + 1);
        assert_eq!(out.seq, i as u64);
        assert_eq!(out.reset, None);
    }
    drop(cache);
    let cache = open(dir.path());
    let h = cache.load_history("h").unwrap().unwrap();
    assert_eq!(h.dim_names(), ["x", "repeat", "over_time"]);
    assert_eq!(labels(&h), ["a", "b", "c"]);
    // y[x, repeat, t] = x + t
    let y = f64s(&h, "y");
    let xs = [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0];
    for (i, x) in xs.iter().enumerate() {
        for t in 0..3 {
            assert!((y[i * 3 + t] - (x + t as f64)).abs() < 1e-12);
        }
    }
}

#[test]
fn timestamps_load_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(2, 1.0, false);
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(2));
        cache
            .append_event("h", &event(&s, TimeSrc::now(), 0.0), &opts())
            .unwrap();
    }
    let h = cache.load_history("h").unwrap().unwrap();
    match &h.dim("over_time").unwrap().coords {
        Coords::Time(v) => assert!(v.windows(2).all(|w| w[0] < w[1]) && v.len() == 3),
        c => panic!("{c:?}"),
    }
    // Switching to labels is another over_time kind: a reported reset.
    let out = cache
        .append_event("h", &label_event(&s, "v1", 0.0), &opts())
        .unwrap();
    assert!(
        matches!(out.reset, Some(ResetReason::Incompatible(_))),
        "{out:?}"
    );
    assert_eq!(out.events, 1);
}

#[test]
fn label_length_change_keeps_the_history() {
    // SPEC §9.1: a history must survive a label that changes length ("9" -> "10").
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(3, 1.0, false);
    for l in ["8", "9", "10", "a-much-longer-label-v1.2.3"] {
        let out = cache
            .append_event("h", &label_event(&s, l, 0.0), &opts())
            .unwrap();
        assert_eq!(out.reset, None, "{l}");
    }
    let h = cache.load_history("h").unwrap().unwrap();
    assert_eq!(labels(&h), ["8", "9", "10", "a-much-longer-label-v1.2.3"]);
}

#[test]
fn changed_bounds_are_a_reported_reset_not_a_merge() {
    // SPEC §9.2: a changed grid is a reported reset, never merged into a
    // NaN-padded union.
    for (n, hi) in [(5, 1.0), (4, 2.0)] {
        let dir = tempfile::tempdir().unwrap();
        let cache = open(dir.path());
        let s = history_sweep(4, 1.0, false);
        cache
            .append_event("h", &label_event(&s, "a", 0.0), &opts())
            .unwrap();
        cache
            .append_event("h", &label_event(&s, "b", 0.0), &opts())
            .unwrap();
        let changed = history_sweep(n, hi, false);
        let out = cache
            .append_event("h", &label_event(&changed, "c", 0.0), &opts())
            .unwrap();
        match &out.reset {
            Some(ResetReason::Incompatible(why)) => assert!(why.contains("`x`"), "{why}"),
            r => panic!("{r:?}"),
        }
        assert_eq!(out.events, 1);
        assert_eq!(out.removed_events, 2);
        let h = cache.load_history("h").unwrap().unwrap();
        assert_eq!(labels(&h), ["c"]);
        assert_eq!(h.dim("x").unwrap().len(), n);
        // Under Ignore, the same, silently.
        let out = cache
            .append_event(
                "h",
                &label_event(&s, "d", 0.0),
                &AppendOptions {
                    reset_policy: ResetPolicy::Ignore,
                    ..opts()
                },
            )
            .unwrap();
        assert!(out.reset.is_some());
        assert_eq!(labels(&cache.load_history("h").unwrap().unwrap()), ["d"]);
    }
}

#[test]
fn error_policy_writes_and_deletes_nothing() {
    // SPEC §9.3: under `error`, nothing at all is deleted.
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(3, 1.0, true);
    cache
        .append_event("h", &label_event(&s, "a", 0.0), &opts())
        .unwrap();
    cache
        .append_event("h", &label_event(&s, "b", 1.0), &opts())
        .unwrap();
    let before = cache.load_history("h").unwrap().unwrap();
    let meta_before = {
        drop(cache);
        peek(dir.path(), "history_meta", b"h").unwrap()
    };
    let cache = open(dir.path());
    let changed = history_sweep(5, 1.0, true);
    let strict = AppendOptions {
        reset_policy: ResetPolicy::Error,
        max_time_events: Some(1),
        ..opts()
    };
    let err = cache
        .append_event("h", &label_event(&changed, "c", 0.0), &strict)
        .unwrap_err();
    assert!(matches!(err, Error::HistoryMismatch { .. }), "{err:?}");
    assert!(
        err.to_string().contains("nothing was written or deleted"),
        "{err}"
    );
    assert_eq!(cache.load_history("h").unwrap().unwrap(), before);
    drop(cache);
    assert_eq!(peek(dir.path(), "history_meta", b"h").unwrap(), meta_before);
    // A compatible run under the same policy appends normally.
    let cache = open(dir.path());
    let out = cache
        .append_event(
            "h",
            &label_event(&s, "c", 2.0),
            &AppendOptions {
                reset_policy: ResetPolicy::Error,
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(out.events, 3);
}

#[test]
fn clear_history_starts_afresh_and_releases_media() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(2, 1.0, true);
    cache
        .append_event("h", &label_event(&s, "a", 0.0), &opts())
        .unwrap();
    cache
        .append_event("h", &label_event(&s, "b", 0.0), &opts())
        .unwrap();
    let out = cache
        .append_event(
            "h",
            &label_event(&s, "c", 0.0),
            &AppendOptions {
                clear_history: true,
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(out.reset, Some(ResetReason::Cleared));
    assert_eq!(out.events, 1);
    assert!(out.seq >= 2, "sequence numbers are never reused");
    let mut rel = out.released_files.clone();
    rel.sort();
    assert_eq!(rel, ["a/0.png", "a/1.png", "b/0.png", "b/1.png"]);
    assert_eq!(labels(&cache.load_history("h").unwrap().unwrap()), ["c"]);
}

#[test]
fn max_time_events_trims_oldest_and_releases_their_media() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(2, 1.0, true);
    let o = AppendOptions {
        max_time_events: Some(2),
        ..opts()
    };
    let mut released = Vec::new();
    for l in ["a", "b", "c", "d"] {
        let out = cache
            .append_event("h", &label_event(&s, l, 0.0), &o)
            .unwrap();
        assert!(out.events <= 2);
        released.extend(out.released_files);
    }
    assert_eq!(released, ["a/0.png", "a/1.png", "b/0.png", "b/1.png"]);
    let h = cache.load_history("h").unwrap().unwrap();
    assert_eq!(labels(&h), ["c", "d"]);
    assert_eq!(
        texts(&h, "img"),
        ["c/0.png", "d/0.png", "c/1.png", "d/1.png"]
    );
    let st = cache.stats().unwrap();
    assert_eq!(st.history_events, 2);
    // Only the trimmed records are gone.
    drop(cache);
    assert!(peek(dir.path(), "history_meta", b"h").is_some());
}

#[test]
fn a_file_the_new_event_still_names_is_not_released() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(2, 1.0, true);
    let o = AppendOptions {
        max_time_events: Some(1),
        ..opts()
    };
    // Same label twice: the same paths.
    cache
        .append_event("h", &label_event(&s, "same", 0.0), &o)
        .unwrap();
    let out = cache
        .append_event("h", &label_event(&s, "same", 1.0), &o)
        .unwrap();
    assert_eq!(out.removed_events, 1);
    assert!(out.released_files.is_empty(), "{:?}", out.released_files);
    // And the cache agrees that the live event names them.
    let names = BTreeSet::from(["same/0.png", "same/1.png"].map(String::from));
    let still = cache.files_still_named(&names).unwrap();
    assert_eq!(still.named, names);
    assert!(still.unreadable.is_empty());
}

#[test]
fn files_still_named_looks_at_results_and_live_events_only() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(1, 0.0, true);
    let o = AppendOptions {
        max_time_events: Some(1),
        ..opts()
    };
    cache
        .append_event("h", &label_event(&s, "a", 0.0), &o)
        .unwrap();
    let small = small_sweep();
    cache
        .put_result("k", "small", &small_result(&small, 0.0))
        .unwrap();
    // Trimmed: "a/0.png" is a candidate no live record names any more.
    let out = cache
        .append_event("h", &label_event(&s, "b", 0.0), &o)
        .unwrap();
    assert_eq!(out.released_files, ["a/0.png"]);
    let candidates = BTreeSet::from(
        ["a/0.png", "b/0.png", "media/1/plot.png", "never/named.png"].map(String::from),
    );
    let still = cache.files_still_named(&candidates).unwrap();
    assert_eq!(
        still.named,
        BTreeSet::from(["b/0.png", "media/1/plot.png"].map(String::from))
    );
    assert!(still.unreadable.is_empty());
    // No candidate: nothing to look at.
    assert_eq!(
        cache.files_still_named(&BTreeSet::new()).unwrap(),
        Default::default()
    );
    // An unreadable record is reported: the caller then keeps everything.
    drop(cache);
    let mut key = b"h\0".to_vec();
    key.extend_from_slice(&1u64.to_be_bytes());
    poke(dir.path(), "history_events", &key, Some(b"junk".to_vec()));
    let still = open(dir.path()).files_still_named(&candidates).unwrap();
    assert_eq!(still.unreadable, ["event 1 of history h"]);
}

#[test]
fn per_variable_aging_writes_sentinels_into_old_cells_only() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(2, 1.0, true);
    let o = AppendOptions {
        var_max_time_events: BTreeMap::from([("img".to_string(), 2)]),
        ..opts()
    };
    let mut aged = Vec::new();
    let mut released = Vec::new();
    for (i, l) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let out = cache
            .append_event("h", &label_event(&s, l, i as f64), &o)
            .unwrap();
        aged.push(out.aged_events);
        released.push(out.released_files);
    }
    // One old event newly falls out of the window per run.
    assert_eq!(aged, [0, 0, 1, 1, 1]);
    assert_eq!(released[2], ["a/0.png", "a/1.png"]);
    assert_eq!(released[4], ["c/0.png", "c/1.png"]);
    let h = cache.load_history("h").unwrap().unwrap();
    assert_eq!(labels(&h), ["a", "b", "c", "d", "e"]);
    // Axis length kept; img aged in a, b, c; y untouched everywhere.
    let img = texts(&h, "img");
    assert_eq!(&img[..5], ["NAN", "NAN", "NAN", "d/0.png", "e/0.png"]);
    let y = f64s(&h, "y");
    assert_eq!(&y[..5], [0.0, 1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn a_result_added_later_is_filled_with_sentinels() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let plain = history_sweep(2, 1.0, false);
    let more = history_sweep(2, 1.0, true);
    cache
        .append_event("h", &label_event(&plain, "a", 0.0), &opts())
        .unwrap();
    let out = cache
        .append_event("h", &label_event(&more, "b", 0.0), &opts())
        .unwrap();
    assert_eq!(out.reset, None);
    let h = cache.load_history("h").unwrap().unwrap();
    assert_eq!(texts(&h, "img"), ["NAN", "b/0.png", "NAN", "b/1.png"]);
}

#[test]
fn a_corrupt_event_is_skipped_and_removed() {
    // SPEC §9.5 (a corrupt entry must not crash the run), for history.
    let dir = tempfile::tempdir().unwrap();
    let s = history_sweep(2, 1.0, false);
    let cache = open(dir.path());
    for l in ["a", "b", "c"] {
        cache
            .append_event("h", &label_event(&s, l, 0.0), &opts())
            .unwrap();
    }
    drop(cache);
    let mut key = b"h\0".to_vec();
    key.extend_from_slice(&1u64.to_be_bytes());
    let mut v = peek(dir.path(), "history_events", &key).unwrap();
    v.truncate(v.len() - 7);
    poke(dir.path(), "history_events", &key, Some(v));
    let cache = open(dir.path());
    let h = cache.load_history("h").unwrap().unwrap();
    assert_eq!(labels(&h), ["a", "c"]);
    assert_eq!(cache.history_len("h").unwrap(), 2);
    cache
        .append_event("h", &label_event(&s, "d", 0.0), &opts())
        .unwrap();
    assert_eq!(
        labels(&cache.load_history("h").unwrap().unwrap()),
        ["a", "c", "d"]
    );
    // Corrupt metadata: the history is treated as absent and starts afresh.
    drop(cache);
    poke(dir.path(), "history_meta", b"h", Some(b"garbage".to_vec()));
    let cache = open(dir.path());
    let out = cache
        .append_event("h", &label_event(&s, "e", 0.0), &opts())
        .unwrap();
    assert!(
        matches!(out.reset, Some(ResetReason::CorruptMetadata(_))),
        "{out:?}"
    );
    assert_eq!(labels(&cache.load_history("h").unwrap().unwrap()), ["e"]);
}

#[test]
fn invalid_events_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let no_time = small_result(&small_sweep(), 0.0).dataset;
    let err = cache.append_event("h", &no_time, &opts()).unwrap_err();
    assert!(matches!(err, Error::InvalidEvent { .. }), "{err:?}");
    let s = history_sweep(2, 1.0, false);
    let two = collector_core::Dataset::concat_over_time(&[
        label_event(&s, "a", 0.0),
        label_event(&s, "b", 0.0),
    ])
    .unwrap();
    let err = cache.append_event("h", &two, &opts()).unwrap_err();
    assert!(err.to_string().contains("2 coordinates"), "{err}");
    assert_eq!(cache.history_len("h").unwrap(), 0);
}

#[test]
fn two_threads_appending_lose_nothing() {
    // SPEC §9.10: two runs of the same sweep at once lose no event.
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(3, 1.0, false);
    std::thread::scope(|sc| {
        for t in 0..2 {
            let (cache, s) = (&cache, &s);
            sc.spawn(move || {
                for i in 0..25 {
                    let l = format!("t{t}-{i}");
                    cache
                        .append_event("h", &label_event(s, &l, 0.0), &AppendOptions::default())
                        .unwrap();
                }
            });
        }
    });
    let h = cache.load_history("h").unwrap().unwrap();
    let mut got = labels(&h);
    assert_eq!(got.len(), 50);
    got.sort();
    let mut want: Vec<String> = (0..2)
        .flat_map(|t| (0..25).map(move |i| format!("t{t}-{i}")))
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn delete_history_releases_everything() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(1, 0.0, true);
    cache
        .append_event("h", &label_event(&s, "a", 0.0), &opts())
        .unwrap();
    cache
        .append_event("h", &label_event(&s, "b", 0.0), &opts())
        .unwrap();
    assert_eq!(cache.delete_history("h").unwrap(), ["a/0.png", "b/0.png"]);
    assert_eq!(cache.load_history("h").unwrap(), None);
}

#[test]
fn var_limits_come_from_result_vars() {
    let vars = [
        collector_core::ResultVar::float("a"),
        collector_core::ResultVar::image("b").max_time_events(3),
    ];
    assert_eq!(
        AppendOptions::var_limits(&vars),
        BTreeMap::from([("b".to_string(), 3)])
    );
}

#[test]
fn media_references_list_every_named_file_and_unreadable_records() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let s = history_sweep(1, 0.0, true);
    cache
        .append_event("h", &label_event(&s, "a", 0.0), &opts())
        .unwrap();
    let small = small_sweep();
    cache
        .put_result("k", "small", &small_result(&small, 0.0))
        .unwrap();
    let refs = cache.media_references().unwrap();
    assert!(refs.unreadable.is_empty());
    assert!(refs.paths.contains("a/0.png"));
    assert!(refs.paths.contains("media/0/plot.png"));
    assert_eq!(refs.paths.len(), 1 + small.job_count());
    drop(cache);
    let mut key = b"h\0".to_vec();
    key.extend_from_slice(&0u64.to_be_bytes());
    poke(dir.path(), "history_events", &key, Some(b"junk".to_vec()));
    let refs = open(dir.path()).media_references().unwrap();
    assert_eq!(refs.unreadable, ["event 0 of history h"]);
}

/// A loaded history takes its dataset and `over_time` attributes from its
/// last event, and each column's attributes from the last event that held
/// it (a dormant column keeps those of its last appearance).
#[test]
fn attributes_come_from_the_last_event_holding_them() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let both = history_sweep(3, 1.0, true);
    let only_y = history_sweep(3, 1.0, false);
    let mut first = label_event(&both, "a", 0.0);
    first.attrs.insert(
        "note".into(),
        collector_core::AttrValue::Str("first".into()),
    );
    first
        .columns_mut()
        .iter_mut()
        .for_each(|c| c.attrs.description = format!("{} of the first event", c.name));
    let mut second = label_event(&only_y, "b", 1.0);
    second.attrs.insert(
        "note".into(),
        collector_core::AttrValue::Str("second".into()),
    );
    second.columns_mut()[0].attrs.description = "y of the second event".into();
    second.dim_attrs_mut("over_time").unwrap().long_name = "commit".into();
    cache.append_event("h", &first, &opts()).unwrap();
    cache.append_event("h", &second, &opts()).unwrap();
    let h = cache.load_history("h").unwrap().unwrap();
    assert_eq!(
        h.attrs.get("note"),
        Some(&collector_core::AttrValue::Str("second".into()))
    );
    assert_eq!(
        h.column("y").unwrap().attrs.description,
        "y of the second event"
    );
    assert_eq!(
        h.column("img").unwrap().attrs.description,
        "img of the first event"
    );
    let t = h.dims().iter().find(|d| d.name == "over_time").unwrap();
    assert_eq!(t.attrs.long_name, "commit");
    assert_eq!(labels(&h), ["a", "b"]);
}

/// The events stored in parts, each as (sequence number, number of parts),
/// in key order (history `h` only).
fn event_part_seqs(db_dir: &std::path::Path) -> Vec<(u64, usize)> {
    let mut out: Vec<(u64, usize)> = Vec::new();
    for k in keys_of(db_dir, "event_parts") {
        assert!(k.starts_with(b"h\0") && k.len() == 2 + 8 + 4, "{k:?}");
        let seq = u64::from_be_bytes(k[2..10].try_into().unwrap());
        match out.last_mut() {
            Some((s, n)) if *s == seq => *n += 1,
            _ => out.push((seq, 1)),
        }
    }
    out
}

/// An event over 4 MiB is written in parts (never whole in a write batch
/// and a memtable at once), loads back exactly, and its parts go with it
/// when it is replaced, trimmed, cleared or deleted.
#[test]
fn a_large_event_is_stored_in_parts_and_goes_with_its_parts() {
    let dir = tempfile::tempdir().unwrap();
    // 600,000 float coordinates and as many cells: 9.6 MB an event.
    let s = history_sweep(600_000, 1.0, false);
    let cache = open(dir.path());
    let a = label_event(&s, "a", 0.0);
    let b = label_event(&s, "b", 1.0);
    cache.append_event("h", &a, &opts()).unwrap();
    cache.append_event("h", &b, &opts()).unwrap();
    drop(cache);
    assert_eq!(event_part_seqs(dir.path()), [(0, 3), (1, 3)]);
    // Under the event's key, only the record of its parts.
    let record = peek(dir.path(), "history_events", b"h\0\0\0\0\0\0\0\0\0").unwrap();
    assert!(record.len() < 100, "{} bytes", record.len());

    let cache = open(dir.path());
    let h = cache.load_history("h").unwrap().unwrap();
    assert_eq!(labels(&h), ["a", "b"]);
    let y = f64s(&h, "y");
    let xs = f64s(&a, "y");
    for i in [0, 1, 299_999, 599_999] {
        assert_eq!(y[i * 2], xs[i], "event a, x {i}");
        assert_eq!(y[i * 2 + 1], xs[i] + 1.0, "event b, x {i}");
    }
    // Sizes count the parts' bytes.
    let stats = cache.stats().unwrap();
    assert!(stats.history_bytes > 19_000_000, "{stats:?}");

    // Replaced: the old event's parts go in the append's batch.
    let a2 = label_event(&s, "a", 5.0);
    cache.append_event("h", &a2, &opts()).unwrap();
    drop(cache);
    assert_eq!(event_part_seqs(dir.path()), [(1, 3), (2, 3)]);
    let cache = open(dir.path());
    let h = cache.load_history("h").unwrap().unwrap();
    assert_eq!(labels(&h), ["a", "b"]);
    assert_eq!(f64s(&h, "y")[0], xs[0] + 5.0);

    // Trimmed.
    let c = label_event(&s, "c", 2.0);
    let trim = AppendOptions {
        max_time_events: Some(1),
        ..opts()
    };
    cache.append_event("h", &c, &trim).unwrap();
    drop(cache);
    assert_eq!(event_part_seqs(dir.path()), [(3, 3)]);

    // Cleared.
    let cache = open(dir.path());
    let clear = AppendOptions {
        clear_history: true,
        ..opts()
    };
    cache.append_event("h", &a, &clear).unwrap();
    drop(cache);
    assert_eq!(event_part_seqs(dir.path()), [(4, 3)]);

    // Deleted.
    let cache = open(dir.path());
    assert_eq!(labels(&cache.load_history("h").unwrap().unwrap()), ["a"]);
    cache.delete_history("h").unwrap();
    drop(cache);
    assert_eq!(event_part_seqs(dir.path()), []);
}

/// An event whose parts cannot be joined (one is missing) is a corrupt
/// event: the load leaves it out, removes it with its parts, and keeps the
/// others.
#[test]
fn a_large_event_with_a_missing_part_is_removed_and_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    let s = history_sweep(600_000, 1.0, false);
    let cache = open(dir.path());
    cache
        .append_event("h", &label_event(&s, "a", 0.0), &opts())
        .unwrap();
    cache
        .append_event("h", &label_event(&s, "b", 1.0), &opts())
        .unwrap();
    drop(cache);
    let mut part = b"h\0".to_vec();
    part.extend_from_slice(&0u64.to_be_bytes());
    part.extend_from_slice(&1u32.to_be_bytes());
    assert!(peek(dir.path(), "event_parts", &part).is_some());
    poke(dir.path(), "event_parts", &part, None);
    let cache = open(dir.path());
    let h = cache.load_history("h").unwrap().unwrap();
    assert_eq!(labels(&h), ["b"]);
    assert_eq!(cache.history_len("h").unwrap(), 1);
    drop(cache);
    assert_eq!(event_part_seqs(dir.path()), [(1, 3)]);
}

/// A large event aged by a per-variable limit is rewritten whole, with
/// its aged cells at the sentinel, and its parts go.
#[test]
fn a_large_event_aged_is_rewritten_whole_without_its_parts() {
    let dir = tempfile::tempdir().unwrap();
    let s = history_sweep(600_000, 1.0, false);
    let cache = open(dir.path());
    let a = label_event(&s, "a", 0.0);
    cache.append_event("h", &a, &opts()).unwrap();
    let aging = AppendOptions {
        var_max_time_events: BTreeMap::from([("y".to_string(), 1)]),
        ..opts()
    };
    let out = cache
        .append_event("h", &label_event(&s, "b", 1.0), &aging)
        .unwrap();
    assert_eq!(out.aged_events, 1, "{out:?}");
    drop(cache);
    assert_eq!(event_part_seqs(dir.path()), [(1, 3)]);
    let record = peek(dir.path(), "history_events", b"h\0\0\0\0\0\0\0\0\0").unwrap();
    assert!(record.len() > 4_000_000, "rewritten whole");
    let cache = open(dir.path());
    let h = cache.load_history("h").unwrap().unwrap();
    let y = f64s(&h, "y");
    assert!(
        y[0].is_nan() && y[2 * 599_999].is_nan(),
        "aged: the sentinel"
    );
    assert_eq!(y[1], f64s(&a, "y")[0] + 1.0);
}
