//! `collector gc` and `collector stats`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use result_collector::{GcOptions, ResultCollector};

use crate::cli::GcArgs;
use crate::fmt::{human_bytes, plural};

pub fn gc(c: &ResultCollector, a: &GcArgs) -> Result<Vec<u8>> {
    let summary = c
        .gc(GcOptions {
            delete: a.delete,
            grace: Duration::from_secs(a.grace_secs),
        })
        .context("orphan media GC")?;
    let Some(rep) = summary.report else {
        return Ok(format!(
            "no media directory at {}: nothing to collect\n",
            c.cache_dir().media().display()
        )
        .into_bytes());
    };
    let mut out = format!(
        "{} stored records read; {} media files scanned, {} referenced\n",
        summary.records, rep.scanned, rep.referenced
    );
    if rep.dry_run {
        out.push_str(&format!(
            "dry run: {} orphan file{} ({}) would be deleted; pass --delete to delete them\n",
            rep.orphans.len(),
            plural(rep.orphans.len()),
            human_bytes(rep.orphan_bytes)
        ));
    } else {
        out.push_str(&format!(
            "deleted {} orphan file{} ({})\n",
            rep.deleted,
            plural(rep.deleted),
            human_bytes(rep.deleted_bytes)
        ));
    }
    out.push_str(&format!(
        "spared: {} younger than {} s, {} temporary, {} foreign\n",
        rep.too_young, a.grace_secs, rep.temporary, rep.foreign
    ));
    for o in rep.orphans.iter().take(20) {
        out.push_str(&format!(
            "  orphan {} ({})\n",
            o.path.display(),
            human_bytes(o.bytes)
        ));
    }
    if rep.orphans.len() > 20 {
        out.push_str(&format!("  … {} more\n", rep.orphans.len() - 20));
    }
    for (p, e) in &rep.failed {
        out.push_str(&format!("  failed {}: {e}\n", p.display()));
    }
    if !rep.failed.is_empty() {
        bail!(
            "{} file(s) could not be examined or deleted:\n{out}",
            rep.failed.len()
        );
    }
    Ok(out.into_bytes())
}

pub fn stats(c: &ResultCollector) -> Result<Vec<u8>> {
    let s = c.stats()?;
    let dir = c.cache_dir();
    let mut out = format!("cache directory: {}\n", s.dir.display());
    out.push_str(&format!(
        "database:  {} on disk in {} files ({})\n",
        human_bytes(s.db_disk.bytes),
        s.db_disk.files,
        dir.db().display()
    ));
    out.push_str(&format!(
        "results:   {} stored, {} encoded{}\n",
        s.cache.results,
        human_bytes(s.cache.result_bytes),
        s.cache
            .cache_size
            .map(|l| format!(" (limit {})", human_bytes(l)))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "histories: {} with {} events, {} encoded\n",
        s.cache.histories,
        s.cache.history_events,
        human_bytes(s.cache.history_bytes)
    ));
    out.push_str(&format!(
        "jobs:      {} record{} in {} job set{}, {}\n",
        s.cache.job_records,
        plural(s.cache.job_records as usize),
        s.cache.job_sets,
        plural(s.cache.job_sets as usize),
        human_bytes(s.cache.job_record_bytes)
    ));
    out.push_str(&format!(
        "media:     {} files, {} ({})\n",
        s.media_disk.files,
        human_bytes(s.media_disk.bytes),
        dir.media().display()
    ));
    for (kind, u) in &s.media_by_kind {
        out.push_str(&format!(
            "  {kind:<10} {} files, {}\n",
            u.files,
            human_bytes(u.bytes)
        ));
    }
    Ok(out.into_bytes())
}

/// `collector jobs`: the job sets, or the removal of one sweep's records.
pub fn jobs(c: &ResultCollector, a: &crate::cli::JobsArgs) -> Result<Vec<u8>> {
    if let Some(name) = &a.remove {
        let n = c.remove_job_records(name)?;
        return Ok(format!(
            "removed {n} job record{} of sweep `{name}`\n",
            if n == 1 { "" } else { "s" }
        )
        .into_bytes());
    }
    let sets = c.job_sets()?;
    if sets.is_empty() {
        return Ok(b"no job records\n".to_vec());
    }
    let w = sets.iter().map(|s| s.sweep.len()).max().unwrap_or(0).max(5);
    let mut out = format!(
        "{:<w$}  {:<12}  {:>9}  {:>10}\n",
        "sweep", "job set", "records", "bytes"
    );
    for s in &sets {
        out.push_str(&format!(
            "{:<w$}  {:<12}  {:>9}  {:>10}\n",
            s.sweep,
            s.set.get(..12).unwrap_or(&s.set),
            s.records,
            human_bytes(s.bytes)
        ));
    }
    Ok(out.into_bytes())
}
