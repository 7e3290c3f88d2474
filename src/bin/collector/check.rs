//! `collector check`: regression detection over a stored history.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use result_collector::model::regress::Options;
use result_collector::{Direction, ResultCollector};

use crate::cli::{CheckArgs, DetectArgs};

/// Prints the report (text, or JSON with `--json`); the exit code is 1
/// when `--fail` is given and a regression blocks, else 0.
pub fn check(c: &ResultCollector, a: &CheckArgs) -> Result<(Vec<u8>, ExitCode)> {
    let (directions, opts) = detect_options(&a.detect)?;
    let report = c
        .resolve(&a.target)
        .and_then(|t| c.check_history(&t, &directions, &opts))
        .with_context(|| format!("checking sweep `{}`", a.target))?;
    let mut out = if a.json {
        report.to_json()
    } else {
        report.to_text()
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let code = if a.fail && report.has_blocking() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    Ok((out.into_bytes(), code))
}

/// The detector's options and the directions of `--minimize` and
/// `--maximize`; a name in both is an error.
pub fn detect_options(a: &DetectArgs) -> Result<(BTreeMap<String, Direction>, Options)> {
    let opts: Options = a.detector.options();
    Ok((directions(a)?, opts))
}

/// The directions of `--minimize` and `--maximize`; a name in both is an error.
fn directions(a: &DetectArgs) -> Result<BTreeMap<String, Direction>> {
    let mut d = BTreeMap::new();
    for name in &a.minimize {
        d.insert(name.clone(), Direction::Minimize);
    }
    for name in &a.maximize {
        if d.insert(name.clone(), Direction::Maximize) == Some(Direction::Minimize) {
            bail!("`{name}` is given both --minimize and --maximize");
        }
    }
    Ok(d)
}
