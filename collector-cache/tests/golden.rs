//! Golden bytes of the on-disk encoding, as the database holds them: a
//! change here is a format change (bump `FORMAT_VERSION` when old values
//! can no longer be read).
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use collector_cache::{AppendOptions, encoded_result_size};
use collector_core::{
    FailureKind, InputVar, ResultValue, ResultVar, Sweep, TimeSrc, setup_dataset,
};
use util::{open, peek};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn golden_result() -> collector_core::SweepResult {
    let sweep = Sweep::builder("g")
        .input(InputVar::int_values("n", [1, 2]).units("u"))
        .result(ResultVar::float("v"))
        .result(ResultVar::string("s"))
        .result(ResultVar::reference("r"))
        .build()
        .unwrap();
    let mut r = setup_dataset(&sweep, &TimeSrc::Label("t".into()))
        .unwrap()
        .result;
    let out = collector_core::Outputs::for_sweep(&sweep)
        .with("v", 0.5)
        .with("s", "a")
        .with("r", ResultValue::Object(Box::new(7_u8)));
    assert!(r.store_results(0, out).is_none());
    r.record_failure(1, FailureKind::Error, "boom".into());
    r
}

/// A result of 2 jobs (one failed): dims n (int, units u) and repeat;
/// columns v (float), s (string), r (reference, written as -1).
const GOLDEN_RESULT: &str = concat!(
    "83a6666f726d617402a46b696e64a6726573756c74a77061796c6f6164c5025a84a8636f6d706c65",
    "7465c2a76461746173657483a464696d739283a46e616d65a16ea6636f6f72647381a3496e74c410",
    "01000000000000000200000000000000a5617474727383a96c6f6e675f6e616d65a16ea5756e6974",
    "73a175ab6465736372697074696f6ea083a46e616d65a6726570656174a6636f6f72647381a3496e",
    "74c4080100000000000000a5617474727383a96c6f6e675f6e616d65a6726570656174a5756e6974",
    "73a0ab6465736372697074696f6eb6726570656174206e756d6265722c20312d6261736564a7636f",
    "6c756d6e739385a46e616d65a176a3766172a176a46b696e64a5466c6f6174a5617474727383a96c",
    "6f6e675f6e616d65a176a5756e697473a0ab6465736372697074696f6ea0a46461746181a3463634",
    "c410000000000000e03f000000000000f87f85a46e616d65a173a3766172a173a46b696e64a65374",
    "72696e67a5617474727383a96c6f6e675f6e616d65a173a5756e697473a0ab646573637269707469",
    "6f6ea0a46461746181a45465787492a161a34e414e85a46e616d65a172a3766172a172a46b696e64",
    "a95265666572656e6365a5617474727383a96c6f6e675f6e616d65a172a5756e697473a0ab646573",
    "6372697074696f6ea0a46461746181a3493634c410ffffffffffffffffffffffffffffffffa56174",
    "74727381a5737765657081a3537472a167a86661696c757265739184a36a6f6201a6696e70757473",
    "9292a16e81a3496e740292a672657065617481a3496e7401a46b696e64a54572726f72a76d657373",
    "616765a4626f6f6da5737461747382a9617474656d7074656402a66661696c656401",
);

/// Event 3 of a history: x = [0.25], repeat, over_time = ["v1"]; y = -1.5.
const GOLDEN_EVENT: &str = concat!(
    "83a6666f726d617402a46b696e64a56576656e74a77061796c6f6164c5019282a373657103a76461",
    "746173657483a464696d739383a46e616d65a178a6636f6f72647381a5466c6f6174c40800000000",
    "0000d03fa5617474727383a96c6f6e675f6e616d65a178a5756e697473a0ab646573637269707469",
    "6f6ea083a46e616d65a6726570656174a6636f6f72647381a3496e74c4080100000000000000a561",
    "7474727383a96c6f6e675f6e616d65a6726570656174a5756e697473a0ab6465736372697074696f",
    "6eb6726570656174206e756d6265722c20312d626173656483a46e616d65a96f7665725f74696d65",
    "a6636f6f72647381a54c6162656c91a27631a5617474727383a96c6f6e675f6e616d65a96f766572",
    "5f74696d65a5756e697473a0ab6465736372697074696f6eaf72756e206576656e74206c6162656c",
    "a7636f6c756d6e739185a46e616d65a179a3766172a179a46b696e64a5466c6f6174a56174747273",
    "83a96c6f6e675f6e616d65a179a5756e697473a0ab6465736372697074696f6ea0a46461746181a3",
    "463634c408000000000000f8bfa5617474727381a5737765657081a3537472a168",
);

#[test]
fn result_bytes_are_pinned() {
    let r = golden_result();
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let out = cache.put_result("k", "g", &r).unwrap();
    drop(cache);
    let bytes = peek(dir.path(), "results", b"k").unwrap();
    assert_eq!(hex(&bytes), GOLDEN_RESULT, "the result encoding changed");
    assert_eq!(out.bytes, bytes.len() as u64);
    assert_eq!(encoded_result_size(&r).unwrap(), bytes.len() as u64);
    // The pinned bytes read back.
    let back = open(dir.path()).get_result("k").unwrap().unwrap();
    assert!(!back.complete);
    assert_eq!(back.failures, r.failures);
    assert_eq!(
        back.dataset.column("v").unwrap(),
        r.dataset.column("v").unwrap()
    );
}

#[test]
fn event_bytes_are_pinned() {
    let sweep = Sweep::builder("h")
        .input(InputVar::float_values("x", [0.25]))
        .result(ResultVar::float("y"))
        .over_time(true)
        .build()
        .unwrap();
    let event = |label: &str, y: f64| {
        let mut r = setup_dataset(&sweep, &TimeSrc::Label(label.into()))
            .unwrap()
            .result;
        r.store_results(0, collector_core::Outputs::for_sweep(&sweep).with("y", y));
        r.dataset
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    // Events 0 to 2 first, so that the pinned one is event 3; each append
    // keeps only the newest event.
    let keep_one = AppendOptions {
        max_time_events: Some(1),
        ..Default::default()
    };
    for label in ["a", "b", "c"] {
        cache
            .append_event("h", &event(label, 0.0), &keep_one)
            .unwrap();
    }
    let pinned = event("v1", -1.5);
    assert_eq!(cache.append_event("h", &pinned, &keep_one).unwrap().seq, 3);
    drop(cache);
    let mut key = b"h\0".to_vec();
    key.extend_from_slice(&3u64.to_be_bytes());
    let bytes = peek(dir.path(), "history_events", &key).unwrap();
    assert_eq!(hex(&bytes), GOLDEN_EVENT, "the event encoding changed");
    // The pinned bytes read back (a record holding another sequence number
    // than its key's would be dropped as corrupt).
    let back = open(dir.path()).load_history("h").unwrap().unwrap();
    assert_eq!(back, pinned);
}

/// A result larger than one part: its record under the cache key, the key
/// of each part, and the parts joined (the bytes of the whole result, as
/// a small one is stored).
#[test]
fn result_parts_are_pinned() {
    let r = util::float_result(600_000, 0.5);
    let dir = tempfile::tempdir().unwrap();
    let cache = open(dir.path());
    let out = cache.put_result("k", "g", &r).unwrap();
    drop(cache);
    assert_eq!(out.bytes, 9_600_375);
    let record = peek(dir.path(), "results", b"k").unwrap();
    assert_eq!(
        hex(&record),
        GOLDEN_PARTS_RECORD,
        "the parts record changed"
    );
    // Part keys: the id (the store's number, 0 in a new cache), u64
    // big-endian, then the part's number, u32 big-endian.
    let keys = util::keys_of(dir.path(), "result_parts");
    let want: Vec<Vec<u8>> = (0u32..3)
        .map(|n| [&0u64.to_be_bytes()[..], &n.to_be_bytes()[..]].concat())
        .collect();
    assert_eq!(keys, want);
    let parts: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| peek(dir.path(), "result_parts", k).unwrap())
        .collect();
    assert_eq!(parts[0].len(), 4 << 20);
    assert_eq!(parts[1].len(), 4 << 20);
    let joined = parts.concat();
    assert_eq!(joined.len() as u64, out.bytes);
    // The joined parts start with the envelope of a whole result.
    assert!(joined.starts_with(b"\x83\xa6format\x02\xa4kind\xa6result\xa7payload\xc6"));
}

/// `{format: 2, kind: "result-parts", payload: {id: 0, parts: 3, bytes:
/// 9600375}}`.
const GOLDEN_PARTS_RECORD: &str = "83a6666f726d617402a46b696e64ac726573756c742d7061727473a77061796c6f6164c41783a2696400a5706172747303a56279746573ce00927d77";
