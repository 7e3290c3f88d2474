//! `collector ls`, `show`, `history`, `export` and `report`.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use result_collector::model::OVER_TIME_DIM;
use result_collector::report::text_table;
use result_collector::{Error, ReportOptions, ResultCollector, history_table};

use crate::cli::{ExportArgs, Format, ReportArgs, ShowArgs};
use crate::fmt::{human_bytes, plural, short};

pub fn ls(c: &ResultCollector) -> Result<Vec<u8>> {
    let listings = c.list()?;
    if listings.is_empty() {
        return Ok(
            format!("no sweeps stored in {}\n", c.cache_dir().root().display()).into_bytes(),
        );
    }
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for l in &listings {
        for r in &l.results {
            rows.push(vec![
                l.name.clone(),
                "result".into(),
                short(&r.key).to_string(),
                if r.complete { "yes" } else { "no" }.into(),
                r.cells.to_string(),
                "-".into(),
                human_bytes(r.bytes),
            ]);
        }
        for h in &l.histories {
            let mut record = format!("history ({})", h.over_time_kind);
            if let Some(s) = &h.superseded {
                record.push_str(", superseded");
                notes.push(format!(
                    "history {} of sweep `{}` superseded by {}: {}\n",
                    short(&h.key),
                    l.name,
                    short(&s.by),
                    ResultCollector::superseded_changes(s)
                ));
            }
            rows.push(vec![
                l.name.clone(),
                record,
                short(&h.key).to_string(),
                "-".into(),
                "-".into(),
                h.events.to_string(),
                human_bytes(h.bytes),
            ]);
        }
    }
    let header = [
        "SWEEP", "RECORD", "KEY", "COMPLETE", "CELLS", "EVENTS", "BYTES",
    ];
    let mut out = text_table(&header, &rows);
    if !notes.is_empty() {
        out.push('\n');
        out.extend(notes);
    }
    Ok(out.into_bytes())
}

pub fn show(c: &ResultCollector, a: &ShowArgs) -> Result<Vec<u8>> {
    let t = c.resolve(&a.target)?;
    let mut out = String::new();
    let (ds, failures) = if t.result_key.is_some() {
        let r = c.load_result(&t)?;
        out.push_str(&format!(
            "sweep `{}`, result {} ({}: {} jobs attempted, {} failed)\n\n",
            t.name,
            t.result_key.as_deref().map(short).unwrap_or_default(),
            if r.complete { "complete" } else { "incomplete" },
            r.stats.attempted,
            r.stats.failed
        ));
        (r.dataset, r.failures)
    } else {
        let (key, ds) = c
            .load_history(&t)?
            .ok_or_else(|| anyhow!("sweep `{}` has neither a result nor a history", t.name))?;
        out.push_str(&format!("sweep `{}`, history {}\n\n", t.name, short(&key)));
        (ds, Vec::new())
    };
    out.push_str(&result_collector::report::summary(&ds));
    if a.table {
        out.push('\n');
        out.push_str(&result_collector::report::tidy_table(&ds, a.rows));
        out.push('\n');
    }
    if !failures.is_empty() {
        out.push('\n');
        out.push_str(&result_collector::report::failures_table(&failures));
    }
    Ok(out.into_bytes())
}

pub fn history(c: &ResultCollector, target: &str) -> Result<Vec<u8>> {
    let t = c.resolve(target)?;
    let (key, ds) = c.load_history(&t)?.ok_or_else(|| Error::NoHistory {
        sweep: t.name.clone(),
    })?;
    let time = ds.dim(OVER_TIME_DIM)?;
    let events = time.len();
    let mut out = format!(
        "history {} of sweep `{}`: {events} event{} ({} coordinates)\n\n",
        short(&key),
        t.name,
        plural(events),
        time.coords.kind_name()
    );
    let info = c.history_info(&t)?;
    if let Some(s) = info.as_ref().and_then(|i| i.superseded.as_ref()) {
        out.push_str(&format!(
            "superseded: runs of sweep `{}` now append to history {} ({}); this one keeps its events\n\n",
            t.name,
            short(&s.by),
            ResultCollector::superseded_changes(s)
        ));
    }
    let (header, rows) = history_table(&ds, info.as_ref())?;
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    out.push_str(&text_table(&header, &rows));
    if let Some(info) = &info {
        let (header, rows) = ResultCollector::columns_table(info);
        out.push_str(&format!(
            "\ncolumns of history {} ({}):\n",
            short(&key),
            rows.len()
        ));
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        out.push_str(&text_table(&header, &rows));
    }
    Ok(out.into_bytes())
}

pub fn export(c: &ResultCollector, a: &ExportArgs) -> Result<Vec<u8>> {
    let t = c.resolve(&a.target)?;
    let (ds, failures) = if a.history {
        let (_, ds) = c.load_history(&t)?.ok_or_else(|| Error::NoHistory {
            sweep: t.name.clone(),
        })?;
        (ds, Vec::new())
    } else {
        let r = c.load_result(&t)?;
        (r.dataset, r.failures)
    };
    match (a.format, &a.output) {
        (Format::Csv, Some(path)) => result_collector::report::write_csv(&ds, path)?,
        (Format::Json, Some(path)) => result_collector::report::write_json(&ds, &failures, path)?,
        (Format::Netcdf, Some(path)) => write_netcdf(&ds, path)?,
        (Format::Csv, None) => {
            let mut buf = Vec::new();
            result_collector::report::write_csv_to(&ds, &mut buf)?;
            return Ok(buf);
        }
        (Format::Json, None) => {
            let doc = result_collector::report::to_json(&ds, &failures);
            return Ok(format!("{doc:#}\n").into_bytes());
        }
        (Format::Netcdf, None) => {
            bail!("netCDF is a binary format: give the file to write with -o FILE")
        }
    }
    let path = a.output.as_deref().unwrap_or(Path::new("-"));
    Ok(format!("wrote {}\n", path.display()).into_bytes())
}

#[cfg(feature = "netcdf")]
fn write_netcdf(ds: &result_collector::Dataset, path: &Path) -> Result<()> {
    Ok(result_collector::report::write_netcdf(ds, path)?)
}

#[cfg(not(feature = "netcdf"))]
fn write_netcdf(_: &result_collector::Dataset, _: &Path) -> Result<()> {
    bail!(
        "this collector was built without the `netcdf` feature, so it cannot write netCDF; \
         rebuild it with default features (needs libnetcdf: apt-get install libnetcdf-dev), \
         or export --format json or csv"
    )
}

pub fn report(c: &ResultCollector, a: &ReportArgs) -> Result<Vec<u8>> {
    let t = c.resolve(&a.target)?;
    let mut opts = ReportOptions::default()
        .link_media(a.link_media)
        .image_repeat(a.image_repeat);
    if !a.no_check {
        let (directions, check) = crate::check::detect_options(&a.detect)?;
        opts = opts.check(check).directions(directions);
    }
    let w = c.write_report_with(&t, a.output.as_deref(), &opts)?;
    let mut out = format!(
        "wrote the {} report of `{}` to {}\n",
        w.of,
        t.name,
        w.path.display()
    );
    if let Some(r) = &w.regressions {
        let blocking = r.series.iter().filter(|f| !f.young).count();
        out.push_str(&format!(
            "regression check: {} series tested, {} flagged ({blocking} blocking); marked in the report (see `collector check` for the table)\n",
            r.cells_tested, r.cells_flagged
        ));
    }
    Ok(out.into_bytes())
}
