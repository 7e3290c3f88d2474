//! The anchor's cache write as the anchor's upstream_bench.py
//! (../shared/anchor) times it: once, in a process that has just started. Criterion's `cache_write_4_8mb` times
//! the same write in a warmed-up process; this shows the cold case, where
//! the fresh memory of each buffer is paid for in page faults.
//!
//! ```sh
//! cargo build --release --workspace --examples
//! "${CARGO_TARGET_DIR:-target}"/release/examples/cold_write
//! ```
//!
//! (Building with `--workspace` reuses the RocksDB build of the other
//! commands; `-p collector-cache` would unify features differently and
//! compile RocksDB again.)
#![allow(clippy::unwrap_used, reason = "an example")]

use std::time::Instant;

use collector_cache::{CacheDb, CacheOptions};

#[path = "../../collector-core/benches/anchor.rs"]
mod anchor;
use anchor::anchor_result;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The core store workload's result: 6 f64 columns, 600,000 cells, 4.8 MB.
    let result = anchor_result();

    let dir = tempfile::tempdir()?;
    let db_dir = dir.path().join("db");
    let t = Instant::now();
    let cache = CacheDb::open(&db_dir, CacheOptions::default())?;
    let open = t.elapsed().as_secs_f64() * 1e3;
    let mut writes = Vec::new();
    for i in 0..4 {
        let t = Instant::now();
        cache.put_result(&format!("key{i}"), "anchor_store", &result)?;
        writes.push(format!("{:.2}", t.elapsed().as_secs_f64() * 1e3));
    }
    let t = Instant::now();
    let back = cache.get_complete_result("key0")?.unwrap();
    let read = t.elapsed().as_secs_f64() * 1e3;
    cache.close()?;
    // Reopened, as upstream_bench.py reads after `close_caches`.
    let t = Instant::now();
    let cache = CacheDb::open(&db_dir, CacheOptions::default())?;
    let reopen = t.elapsed().as_secs_f64() * 1e3;
    let again = cache.get_complete_result("key3")?.unwrap();
    let reopen_read = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(again.dataset, result.dataset);
    assert_eq!(back.dataset, result.dataset);
    println!("opening a new cache (ms): {open:.2}");
    println!(
        "writes of 4.8 MB in a fresh process (ms, in order): {}",
        writes.join(" ")
    );
    println!("first read (ms): {read:.2}");
    println!("reopen (ms): {reopen:.2}, reopen + read (ms): {reopen_read:.2}");
    cache.close()?;
    Ok(())
}
