//! `cargo xtask soak [KILLS]`: the SIGKILL soak of `tests/soak.rs` at its
//! full count (CI runs it with its quick count as part of the tests).
//!
//! Children write results, history appends (trimmed and aged), GCs with
//! delete, resumed runs and shard merges into temporary cache directories
//! and are killed at random moments; after each kill the test checks that
//! no acknowledged write is lost, no record is partial, no record names a
//! missing file and no orphan survives the next GC. The debug profile is
//! used: a release build would compile RocksDB's C++ a second time.
//! `COLLECTOR_SOAK_SEED` (passed through) replays a schedule.

use std::time::Instant;

use anyhow::{Context, Result};

/// The full count of `cargo xtask soak`.
pub const DEFAULT_KILLS: usize = 100;

/// Runs the soak with `KILLS` (the first argument, default
/// [`DEFAULT_KILLS`]) kills.
pub fn soak(rest: &[String]) -> Result<()> {
    let kills = match rest.first() {
        Some(a) => a
            .parse::<usize>()
            .with_context(|| format!("KILLS must be a whole number, not `{a}`"))?,
        None => DEFAULT_KILLS,
    };
    crate::setup::setup()?;
    let started = Instant::now();
    let mut c = crate::cargo();
    c.args([
        "test",
        "--test",
        "soak",
        "--",
        "--exact",
        "sigkill_soak_loses_no_acknowledged_write",
        "--nocapture",
    ])
    .env("COLLECTOR_SOAK_KILLS", kills.to_string());
    crate::run(
        c,
        &format!(
            "COLLECTOR_SOAK_KILLS={kills} cargo test --test soak -- --exact sigkill_soak_loses_no_acknowledged_write --nocapture"
        ),
    )?;
    eprintln!(
        "xtask: soak passed: {kills} kills in {:.1?} (build included)",
        started.elapsed()
    );
    Ok(())
}
