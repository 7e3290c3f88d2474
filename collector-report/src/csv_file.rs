//! CSV of the tidy table, and a reader for it.
//!
//! The header names each column `name [units]` (just `name` without
//! units). Floats are written exactly (shortest round-trip form, always
//! with a `.` or an exponent so they read back as floats), timestamps as
//! ISO-8601 UTC, missing cells as empty fields (what pandas writes for
//! NaN). CSV carries no types, so the reader guesses them back from the
//! text; the JSON export is the lossless one.

use std::io::{Read, Write};
use std::path::Path;

use collector_core::Dataset;

use crate::error::{Error, Result, format_err};
use crate::table::{Role, TidyCell, TidyColumn, TidyTable};

fn csv_err(path: &Path) -> impl FnOnce(csv::Error) -> Error + '_ {
    move |source| Error::Csv {
        path: path.to_path_buf(),
        source,
    }
}

/// The exact CSV text of one cell.
fn csv_cell(c: &TidyCell) -> String {
    match c {
        TidyCell::Float(x) => format!("{x:?}"),
        TidyCell::Missing => String::new(),
        other => other.to_string(),
    }
}

/// Writes the tidy table of `ds` as CSV to `w`.
pub fn write_csv_to<W: Write>(ds: &Dataset, w: W) -> Result<()> {
    write_table_to(&TidyTable::from_dataset(ds), w, Path::new("<memory>"))
}

/// Writes the tidy table of `ds` as CSV to the file `path`.
pub fn write_csv(ds: &Dataset, path: impl AsRef<Path>) -> Result<()> {
    let table = TidyTable::from_dataset(ds);
    crate::atomic::write_whole(path.as_ref(), |path| {
        let f = std::fs::File::create(path).map_err(crate::error::io(path))?;
        write_table_to(&table, std::io::BufWriter::new(f), path)
    })
}

fn write_table_to<W: Write>(t: &TidyTable, w: W, path: &Path) -> Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(t.columns.iter().map(TidyColumn::header))
        .map_err(csv_err(path))?;
    for r in 0..t.rows() {
        out.write_record(t.row(r).into_iter().map(csv_cell))
            .map_err(csv_err(path))?;
    }
    out.flush().map_err(crate::error::io(path))?;
    Ok(())
}

/// Reads a CSV written by [`write_csv`] back into a tidy table.
///
/// Types are guessed from the text: empty → missing, `true`/`false` →
/// bool, an integer → int, a number with `.` or an exponent → float, an
/// ISO-8601 UTC time → timestamp, anything else → text (so a text cell
/// that looks like a number reads back as a number). Dims are the leading
/// columns up to `repeat` (and `over_time` right after it), the layout of
/// every sweep dataset; without a `repeat` column every column is a
/// result column.
pub fn read_csv(path: impl AsRef<Path>) -> Result<TidyTable> {
    let path = path.as_ref();
    let f = std::fs::File::open(path).map_err(crate::error::io(path))?;
    read_csv_from(f, path)
}

/// Reads CSV text from `r`; `path` only names it in errors.
pub fn read_csv_from<R: Read>(r: R, path: &Path) -> Result<TidyTable> {
    let mut rd = csv::ReaderBuilder::new().has_headers(true).from_reader(r);
    let headers = rd.headers().map_err(csv_err(path))?.clone();
    let mut columns: Vec<TidyColumn> = headers
        .iter()
        .map(|h| {
            let (name, units) = split_header(h);
            TidyColumn {
                name,
                units,
                role: Role::Result,
                cells: Vec::new(),
            }
        })
        .collect();
    if let Some(rep) = columns
        .iter()
        .position(|c| c.name == collector_core::REPEAT_DIM)
    {
        let mut last = rep;
        if columns
            .get(rep + 1)
            .is_some_and(|c| c.name == collector_core::OVER_TIME_DIM)
        {
            last += 1;
        }
        for c in &mut columns[..=last] {
            c.role = Role::Dim;
        }
    }
    for (line, rec) in rd.records().enumerate() {
        let rec = rec.map_err(csv_err(path))?;
        if rec.len() != columns.len() {
            return Err(format_err(
                path.display().to_string(),
                format!(
                    "row {} has {} fields, the header {}",
                    line + 1,
                    rec.len(),
                    columns.len()
                ),
            ));
        }
        for (c, field) in columns.iter_mut().zip(rec.iter()) {
            c.cells.push(parse_cell(field));
        }
    }
    Ok(TidyTable { columns })
}

/// Splits `name [units]` into its parts.
fn split_header(h: &str) -> (String, String) {
    if let Some(stripped) = h.strip_suffix(']')
        && let Some(i) = stripped.rfind(" [")
    {
        return (stripped[..i].to_string(), stripped[i + 2..].to_string());
    }
    (h.to_string(), String::new())
}

fn parse_cell(s: &str) -> TidyCell {
    if s.is_empty() {
        return TidyCell::Missing;
    }
    match s {
        "true" => return TidyCell::Bool(true),
        "false" => return TidyCell::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return TidyCell::Int(i);
    }
    let floaty = s.contains(['.', 'e', 'E']) || matches!(s, "inf" | "-inf" | "NaN");
    if let (true, Ok(x)) = (floaty, s.parse::<f64>()) {
        return if x.is_nan() {
            TidyCell::Missing
        } else {
            TidyCell::Float(x)
        };
    }
    if let Some(t) = crate::json_file::parse_time(s) {
        return TidyCell::Time(t);
    }
    TidyCell::Text(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_split() {
        assert_eq!(split_header("t [s]"), ("t".into(), "s".into()));
        assert_eq!(split_header("t"), ("t".into(), String::new()));
        assert_eq!(split_header("a [b] [m/s]"), ("a [b]".into(), "m/s".into()));
    }

    #[test]
    fn cells_parse() {
        assert_eq!(parse_cell(""), TidyCell::Missing);
        assert_eq!(parse_cell("1"), TidyCell::Int(1));
        assert_eq!(parse_cell("1.0"), TidyCell::Float(1.0));
        assert_eq!(parse_cell("1e300"), TidyCell::Float(1e300));
        assert_eq!(parse_cell("true"), TidyCell::Bool(true));
        assert_eq!(parse_cell("v1.2"), TidyCell::Text("v1.2".into()));
        assert_eq!(
            parse_cell("1970-01-01T00:00:01Z"),
            TidyCell::Time(1_000_000_000)
        );
    }
}
