//! A text summary of a dataset, like xarray's repr.

use std::fmt;

use crate::dataset::{ColumnData, Dataset};
use crate::value::{Coords, format_time_ns};

const PREVIEW: usize = 4;

fn preview(c: &Coords) -> String {
    fn list<T>(v: &[T], f: impl Fn(&T) -> String) -> String {
        let mut s: Vec<String> = v.iter().take(PREVIEW).map(f).collect();
        if v.len() > PREVIEW {
            s.push("…".into());
        }
        s.join(" ")
    }
    match c {
        Coords::Float(v) => list(v, |x| format!("{x}")),
        Coords::Int(v) => list(v, |x| format!("{x}")),
        Coords::Str(v) | Coords::Label(v) => list(v, |x| format!("{x:?}")),
        Coords::Bool(v) => list(v, |x| format!("{x}")),
        Coords::Time(v) => list(v, |x| format_time_ns(*x)),
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "<Dataset>")?;
        let dims: Vec<String> = self
            .dims()
            .iter()
            .map(|d| format!("{}: {}", d.name, d.len()))
            .collect();
        writeln!(f, "Dimensions:  ({})", dims.join(", "))?;
        writeln!(f, "Coordinates:")?;
        let w = self
            .dims()
            .iter()
            .map(|d| d.name.len())
            .chain(self.columns().iter().map(|c| c.name.len()))
            .max()
            .unwrap_or(0);
        for d in self.dims() {
            let units = if d.attrs.units.is_empty() {
                String::new()
            } else {
                format!(" [{}]", d.attrs.units)
            };
            writeln!(
                f,
                "  * {:<w$}  ({}) {}{} {}",
                d.name,
                d.name,
                d.coords.kind_name(),
                units,
                preview(&d.coords)
            )?;
        }
        writeln!(f, "Data variables:")?;
        let dim_list = self.dim_names().join(", ");
        for c in self.columns() {
            let units = if c.attrs.units.is_empty() {
                String::new()
            } else {
                format!(" [{}]", c.attrs.units)
            };
            let storage = match c.data {
                ColumnData::F64(_) => "float64",
                ColumnData::I64(_) => "int64",
                ColumnData::Text(_) => "text",
            };
            writeln!(
                f,
                "    {:<w$}  ({dim_list}) {storage} {}{units}, {} missing of {}",
                c.name,
                c.kind.name(),
                c.data.count_missing(),
                self.cell_count()
            )?;
        }
        if !self.attrs.is_empty() {
            writeln!(f, "Attributes:")?;
            for (k, v) in &self.attrs {
                writeln!(f, "    {k}: {v}")?;
            }
        }
        Ok(())
    }
}
