//! The fuzz targets on stable: replays every saved input of every target
//! (`fuzz/corpus/<target>/`, the seeds and what fuzzing kept) and every
//! past crash (`fuzz/regressions/<target>/`) through the very bodies the
//! fuzz binaries run (`fuzz/targets.rs`). (`fuzz/known-crashes/` holds
//! inputs that crash C libraries, libnetcdf and HDF5: not replayed, they
//! kill the process.) Each input must decode to `Ok` or
//! `Err`; a panic fails the test and names the file.
//!
//! The seeds are written by code, from a cache and exports made by this
//! build, so that they hold the current formats:
//!
//! ```text
//! cargo test --test fuzz_corpus -- --ignored write_seeds   # or: cargo xtask fuzz seeds
//! ```
#![allow(clippy::unwrap_used, reason = "tests")]

#[path = "../fuzz/targets.rs"]
mod targets;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use result_collector::cache::fuzzing;
use result_collector::model::ResultValue;
use result_collector::{
    InputVar, ResultCollector, ResultVar, RunOptions, Shard, Sweep, SweepFile, TimeSrc, report,
};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir` (none when it does not exist), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Runs `body` on `data`; the panic message when it panics.
fn replay(body: fn(&[u8]), data: &[u8]) -> Option<String> {
    std::panic::catch_unwind(|| body(data)).err().map(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".to_string())
    })
}

#[test]
fn every_saved_input_and_past_crash_decodes_without_a_panic() {
    let root = fuzz_dir();
    let mut failures = Vec::new();
    for (name, body) in targets::TARGETS {
        let start = Instant::now();
        let corpus = files(&root.join("corpus").join(name));
        // An empty or missing corpus would test nothing.
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name}/ is missing or empty: write the seeds with \
             `cargo test --test fuzz_corpus -- --ignored write_seeds`"
        );
        let crashes = files(&root.join("regressions").join(name));
        for path in corpus.iter().chain(&crashes) {
            let data = fs::read(path).unwrap();
            if let Some(msg) = replay(body, &data) {
                failures.push(format!("{}: {msg}", path.display()));
            }
        }
        println!(
            "{name}: {} corpus inputs, {} past crashes, {:.2} s",
            corpus.len(),
            crashes.len(),
            start.elapsed().as_secs_f64()
        );
    }
    assert!(failures.is_empty(), "panics:\n{}", failures.join("\n"));
}

/// The seeds hold what this build writes: each seed of the cache targets
/// decodes, so the corpus is not stale.
#[test]
fn the_seeds_of_the_cache_targets_decode() {
    let root = fuzz_dir().join("corpus");
    let seeds = |t: &str| -> Vec<(PathBuf, Vec<u8>)> {
        let v: Vec<_> = files(&root.join(t))
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("seed-")
            })
            .map(|p| {
                let d = fs::read(&p).unwrap();
                (p, d)
            })
            .collect();
        assert!(!v.is_empty(), "no seed in fuzz/corpus/{t}/");
        v
    };
    for (p, d) in seeds("result_envelope") {
        assert!(fuzzing::decode_result(&d).is_ok(), "{}", p.display());
    }
    for (p, d) in seeds("event_envelope") {
        let r = fuzzing::decode_event(&d);
        assert!(r.is_ok(), "{}: {r:?}", p.display());
    }
    for (p, d) in seeds("job_record") {
        let chunk = fuzzing::decode_job_chunk(&d);
        assert!(
            chunk
                .as_ref()
                .is_ok_and(|c| c.iter().all(|(_, r)| r.is_ok())),
            "{}: {chunk:?}",
            p.display()
        );
    }
    for (p, d) in seeds("records") {
        let decoded = fuzzing::decode_records(&d);
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        // `seed-<family>-…` (a value) or `seed-key-<family>-…` (a key).
        let ok = decoded.iter().any(|(family, r)| {
            r.is_ok() && {
                let f = family.replace([' ', '_'], "-");
                name.starts_with(&format!("seed-{f}-"))
            }
        });
        assert!(ok, "{name}: {decoded:?}");
    }
}

/// A sweep with a result of every kind, inputs of every kind, two repeats.
fn every_kind() -> Sweep {
    Sweep::builder("every_kind")
        .input(InputVar::float_values("x", [0.0, -0.5, 1e300]).units("m"))
        .input(InputVar::labels("shape", ["square", "ü ∆"]))
        .input(InputVar::int_values("n", [-3, 7]))
        .input(InputVar::boolean("flag", true))
        .result(ResultVar::float("cost").units("s").description("the cost"))
        .result(ResultVar::boolean("ok"))
        .result(ResultVar::vector("pos", 2))
        .result(ResultVar::string("note"))
        .result(ResultVar::path("file"))
        .result(ResultVar::image("plot"))
        .result(ResultVar::reference("obj"))
        .repeats(2)
        .tag("seed")
        .build()
        .unwrap()
}

fn every_kind_worker(
    s: &result_collector::Sample<'_>,
) -> Result<result_collector::Outputs, String> {
    let x = s.get::<f64>("x").map_err(|e| e.to_string())?;
    if s.job() == 5 {
        return Err("job 5 fails on purpose".into());
    }
    Ok(s.outputs()
        .with("cost", if s.job() == 1 { f64::NAN } else { x * 2.0 })
        .with("ok", x > 0.0)
        .with("pos", [x, f64::NEG_INFINITY])
        .with("note", format!("job {}", s.job()))
        .with("file", format!("out/{}.txt", s.job()))
        .with("plot", format!("media/{}/plot.png", s.job()))
        .with("obj", ResultValue::Object(Box::new(s.job()))))
}

/// A sweep with history, its events labelled.
fn history_sweep(n: usize) -> Sweep {
    Sweep::builder("hist")
        .input(InputVar::float_samples("x", 0.0, 1.0, n))
        .result(ResultVar::float("y").units("s"))
        .result(ResultVar::string("label"))
        .over_time(true)
        .build()
        .unwrap()
}

fn write_seed(dir: &Path, name: &str, data: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), data).unwrap();
}

/// Writes the seed corpus of every target into `fuzz/corpus/<target>/`
/// (files `seed-*`, replaced; the other files are left alone).
#[test]
#[ignore = "writes the seed corpus: run by hand or by `cargo xtask fuzz seeds`"]
fn write_seeds() {
    let corpus = fuzz_dir().join("corpus");
    for (name, _) in targets::TARGETS {
        for p in files(&corpus.join(name)) {
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
            {
                fs::remove_file(p).unwrap();
            }
        }
    }

    // ---- a cache made by real runs: results, events, index, metadata,
    // lineage, job records and sets, a shard manifest ----
    let tmp = tempfile::tempdir().unwrap();
    let collector = ResultCollector::new(Some(&tmp.path().join("cache")));
    let sweep = every_kind();
    let run = collector.run(
        &sweep,
        &TimeSrc::Label("v1".into()),
        &RunOptions::default(),
        every_kind_worker,
    );
    assert!(run.is_ok(), "{run:?}");
    let h1 = history_sweep(3);
    for (i, time) in [
        TimeSrc::Label("v1".into()),
        TimeSrc::Label("v2".into()),
        TimeSrc::Label("v3".into()),
    ]
    .iter()
    .enumerate()
    {
        collector
            .run(&h1, time, &RunOptions::default(), |s| {
                let x = s.get::<f64>("x")?;
                Ok::<_, result_collector::model::Error>(
                    s.outputs()
                        .with("y", x + i as f64)
                        .with("label", format!("event {i}")),
                )
            })
            .unwrap();
    }
    // A history over timestamps, and a shard run (its manifest).
    let h2 = Sweep::builder("timed")
        .input(InputVar::int_range("i", 0, 3))
        .result(ResultVar::float("t"))
        .over_time(true)
        .build()
        .unwrap();
    collector
        .run(
            &h2,
            &TimeSrc::parse_rfc3339("2026-11-28T12:00:00Z").unwrap(),
            &RunOptions::default(),
            |s| {
                let i = s.get::<i64>("i")?;
                Ok::<_, result_collector::model::Error>(s.outputs().with("t", i as f64 * 0.5))
            },
        )
        .unwrap();
    let sharded = Sweep::builder("sharded")
        .input(InputVar::int_range("i", 0, 5))
        .result(ResultVar::float("v"))
        .version("v7")
        .build()
        .unwrap();
    collector
        .run(
            &sharded,
            &TimeSrc::Label("s".into()),
            &RunOptions {
                shard: Some(Shard::new(1, 2).unwrap()),
                ..RunOptions::default()
            },
            |s| {
                let i = s.get::<i64>("i").map_err(|e| e.to_string())?;
                if i == 0 {
                    return Err("the first job fails".to_string());
                }
                Ok(s.outputs().with("v", i as f64))
            },
        )
        .unwrap();

    let cache = collector.cache().unwrap();
    let records = fuzzing::raw_records(&cache).unwrap();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for (family, key, value) in &records {
        let n = count.entry(family).or_default();
        *n += 1;
        let (target, name) = match *family {
            "results" => ("result_envelope", format!("seed-{n}")),
            "history_events" => ("event_envelope", format!("seed-{n}")),
            "job_records" => ("job_record", format!("seed-{n}")),
            f => ("records", format!("seed-{}-{n}", f.replace('_', "-"))),
        };
        let dir = corpus.join(target);
        // Job records are many and alike: a few are enough.
        if target == "job_record" && *n > 6 {
            continue;
        }
        write_seed(&dir, &name, value);
        // Keys of every family go to the records target (a few of each).
        if *n <= 2 {
            write_seed(
                &corpus.join("records"),
                &format!("seed-key-{}-{n}", family.replace('_', "-")),
                key,
            );
        }
    }
    for family in [
        "results",
        "history_events",
        "job_records",
        "index",
        "history_meta",
    ] {
        assert!(
            count.contains_key(family),
            "no `{family}` record: {count:?}"
        );
    }

    // ---- the exports of the report crate ----
    let result = &run.as_ref().unwrap().result;
    assert_eq!(
        result.failures.len(),
        1,
        "job 5 fails: a failure in the seeds"
    );
    let history = collector.history_of(&h1).unwrap().unwrap();
    let timed = collector.history_of(&h2).unwrap().unwrap();
    let exports = tmp.path().join("exports");
    fs::create_dir_all(&exports).unwrap();
    let datasets = [
        ("every-kind", &result.dataset),
        ("history", &history),
        ("timed", &timed),
    ];
    for (what, ds) in datasets {
        let failures = if what == "every-kind" {
            &result.failures[..]
        } else {
            &[]
        };
        let json = exports.join(format!("{what}.json"));
        report::write_json(ds, failures, &json).unwrap();
        write_seed(
            &corpus.join("json_reader"),
            &format!("seed-{what}.json"),
            &fs::read(&json).unwrap(),
        );
        let mut csv = Vec::new();
        report::write_csv_to(ds, &mut csv).unwrap();
        write_seed(
            &corpus.join("csv_reader"),
            &format!("seed-{what}.csv"),
            &csv,
        );
        let nc = exports.join(format!("{what}.nc"));
        match report::write_netcdf(ds, &nc) {
            Ok(()) => write_seed(
                &corpus.join("netcdf_reader"),
                &format!("seed-{what}.nc"),
                &fs::read(&nc).unwrap(),
            ),
            // Not every dataset has a netCDF form (references, objects).
            Err(e) => println!("no netCDF seed of `{what}`: {e}"),
        }
    }
    // A small classic netCDF-3 file and HDF5 signature: the reader's
    // first bytes, for the fuzzer to start from.
    write_seed(
        &corpus.join("netcdf_reader"),
        "seed-cdf1-header",
        b"CDF\x01\0\0\0\0",
    );
    write_seed(
        &corpus.join("netcdf_reader"),
        "seed-hdf5-signature",
        b"\x89HDF\r\n\x1a\n",
    );

    // ---- sweep files: the examples, which must parse ----
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sweeps");
    for p in files(&examples) {
        if p.extension().is_some_and(|e| e == "toml") {
            let text = fs::read_to_string(&p).unwrap();
            let parsed = SweepFile::parse(&text, &p);
            assert!(parsed.is_ok(), "{}: {parsed:?}", p.display());
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            write_seed(
                &corpus.join("sweep_file"),
                &format!("seed-{name}"),
                text.as_bytes(),
            );
        }
    }
    drop(cache);
    collector.close_caches();
    for (name, _) in targets::TARGETS {
        let n = files(&corpus.join(name)).len();
        println!("{name}: {n} files");
        assert!(n > 0, "no seed for {name}");
    }
}

/// A corrupt netCDF-4 file on which the `netcdf` crate's iterator unwraps
/// a library error (it panicked out of `read_netcdf` before the fix): an
/// error naming the file now. A file without a netCDF magic is refused
/// before libnetcdf sees it.
#[test]
fn corrupt_netcdf_files_are_errors_naming_the_file() {
    let p = fuzz_dir().join("regressions/netcdf_reader/netcdf-crate-unwrap-panic.nc");
    let e = report::read_netcdf(&p).unwrap_err().to_string();
    assert!(
        e.contains("netcdf-crate-unwrap-panic.nc") && e.contains("corrupt netCDF file"),
        "{e}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.nc");
    fs::write(&junk, b"PK\x03\x04 not netCDF").unwrap();
    let e = report::read_netcdf(&junk).unwrap_err().to_string();
    assert!(
        e.contains("junk.nc") && e.contains("not a netCDF file"),
        "{e}"
    );
}
