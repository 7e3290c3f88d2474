//! The memory limit of a run: how much physical memory the machine has,
//! and the default limit the collector applies (a half of it).
//!
//! Core takes the limit as a number (`RunOptions::memory_limit`,
//! `Sweep::check_memory`); finding physical memory is I/O, so it is here.

use std::path::Path;

/// The default memory limit is this fraction of physical memory: a half
/// (numerator, denominator), leaving the other half to the system, the
/// cache's block cache and the worker's own allocations.
pub const DEFAULT_MEMORY_FRACTION: (u64, u64) = (1, 2);

/// The default memory limit when physical memory is unknown (no
/// `/proc/meminfo`): 4 GiB, what a run of a sweep the cache can store at
/// all may need for its numbers (see `collector_core::MAX_STORED_VALUE_BYTES`).
pub const FALLBACK_MEMORY_LIMIT: u64 = 4 << 30;

/// The physical memory this process may use, in bytes: `MemTotal` of
/// `/proc/meminfo`, lowered to the cgroup's limit (`memory.max` of cgroup
/// v2, `memory.limit_in_bytes` of v1) when one is set; `None` when
/// unknown.
pub fn physical_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| parse_meminfo(&s));
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| read_limit(Path::new(p)))
    .min();
    match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    }
}

/// `MemTotal` in bytes, from the text of `/proc/meminfo`.
fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

/// A cgroup memory limit file: a number of bytes, or `max` (none).
fn read_limit(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    // cgroup v1 writes a huge number (about i64::MAX) for "no limit".
    text.trim().parse::<u64>().ok().filter(|&n| n < (1 << 60))
}

/// The default memory limit: [`DEFAULT_MEMORY_FRACTION`] of
/// [`physical_memory`], or [`FALLBACK_MEMORY_LIMIT`] when that is unknown.
pub fn default_memory_limit() -> u64 {
    let (num, den) = DEFAULT_MEMORY_FRACTION;
    physical_memory().map_or(FALLBACK_MEMORY_LIMIT, |m| m / den * num)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_parsed_in_bytes() {
        let text = "MemTotal:       24576000 kB\nMemFree:  100 kB\n";
        assert_eq!(parse_meminfo(text), Some(24_576_000 * 1024));
        assert_eq!(parse_meminfo("MemFree: 1 kB\n"), None);
        assert_eq!(parse_meminfo("MemTotal: lots kB\n"), None);
    }

    #[test]
    fn the_default_is_a_fraction_of_physical_memory() {
        let limit = default_memory_limit();
        match physical_memory() {
            Some(m) => assert_eq!(limit, m / 2),
            None => assert_eq!(limit, FALLBACK_MEMORY_LIMIT),
        }
        assert!(limit > 0);
    }
}
