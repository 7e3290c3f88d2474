//! The dataset as a netCDF-4 file that xarray opens natively
//! (`xarray.open_dataset(path)`), written and read with the `netcdf` crate
//! over the system's libnetcdf.
//!
//! The layout is documented on [`write_netcdf`].

use std::collections::BTreeMap;
use std::path::Path;

use collector_core::{
    AttrValue, Column, ColumnData, Coords, Dataset, Dim, REFERENCE_SENTINEL, ResultKind, Storage,
    VarAttrs, unravel,
};
use ndarray::{ArrayD, IxDyn};
use netcdf::{AttributeValue, Extents};

use crate::error::{Error, Result, format_err};

/// CF time units of timestamp coordinates.
const TIME_UNITS: &str = "nanoseconds since 1970-01-01";
/// CF calendar of timestamp coordinates.
const TIME_CALENDAR: &str = "proleptic_gregorian";

fn nc_err(path: &Path) -> impl Fn(netcdf::Error) -> Error + '_ {
    move |source| Error::Netcdf {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `ds` to the netCDF-4 file `path` (replacing it).
///
/// Layout, following xarray's own netCDF encoding and the CF conventions:
///
/// - one netCDF dimension per dim, in dim order;
/// - one coordinate variable per dim, named like it: floats as `double`,
///   ints as `int64`, bools as `byte` 0/1 with `dtype = "bool"` (xarray
///   decodes them to `bool`), strings and labels as `string`, timestamps as
///   `int64` with `units = "nanoseconds since 1970-01-01"` and
///   `calendar = "proleptic_gregorian"` (xarray decodes them to
///   `datetime64[ns]`);
/// - one data variable per column over all dims, row-major: floats as
///   `double` with `_FillValue = NaN`, references as `int64` with
///   `_FillValue = -1` (xarray shows missing ones as NaN), text as `string`
///   with missing cells kept as the text sentinel `"NAN"`;
/// - variable attributes `units`, `long_name`, `description` (left out when
///   empty); columns also carry `result_kind` (the result kind's name) and
///   `result_var` (the result variable: `pos` for `pos_x`); coordinate
///   variables carry `coord_kind` (the coordinate kind's name), which tells
///   strings from labels when reading back;
/// - the dataset attributes as global attributes (text, `int64` or
///   `double`).
///
/// A timestamp coordinate's `units` holds the CF time units, so the dim's
/// own units, if any, go to `collector_units`.
pub fn write_netcdf(ds: &Dataset, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let err = nc_err(path);
    // Checked here so that the message is a plain "No such file or
    // directory" naming the file, not an HDF5 error stack.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::metadata(parent).map_err(crate::error::io(path))?;
    }
    let mut file = netcdf::create(path).map_err(&err)?;
    let dim_names: Vec<&str> = ds.dim_names();
    for d in ds.dims() {
        file.add_dimension(&d.name, d.len()).map_err(&err)?;
    }
    for d in ds.dims() {
        write_coords(&mut file, d).map_err(&err)?;
    }
    for c in ds.columns() {
        write_column(&mut file, c, &dim_names).map_err(&err)?;
    }
    for (k, v) in &ds.attrs {
        let v: AttributeValue = match v {
            AttrValue::Str(s) => s.as_str().into(),
            AttrValue::Int(i) => (*i).into(),
            AttrValue::Float(x) => (*x).into(),
        };
        file.add_attribute(k, v).map_err(&err)?;
    }
    file.close().map_err(&err)
}

fn put_attrs(var: &mut netcdf::VariableMut<'_>, a: &VarAttrs) -> netcdf::Result<()> {
    for (k, v) in [
        ("units", &a.units),
        ("long_name", &a.long_name),
        ("description", &a.description),
    ] {
        if !v.is_empty() {
            var.put_attribute(k, v.as_str())?;
        }
    }
    Ok(())
}

fn put_strings<'a>(
    var: &mut netcdf::VariableMut<'_>,
    shape: &[usize],
    values: impl Iterator<Item = &'a String>,
) -> netcdf::Result<()> {
    let ones = vec![1; shape.len()];
    for (i, s) in values.enumerate() {
        let idx = unravel(i, shape);
        var.put_string(s, (idx.as_slice(), ones.as_slice()))?;
    }
    Ok(())
}

fn write_coords(file: &mut netcdf::FileMut, d: &Dim) -> netcdf::Result<()> {
    let dims = [d.name.as_str()];
    let n = d.len();
    let mut var = match &d.coords {
        Coords::Float(v) => {
            let mut var = file.add_variable::<f64>(&d.name, &dims)?;
            if n > 0 {
                var.put_values(v, ..)?;
            }
            var
        }
        Coords::Int(v) => {
            let mut var = file.add_variable::<i64>(&d.name, &dims)?;
            if n > 0 {
                var.put_values(v, ..)?;
            }
            var
        }
        Coords::Time(v) => {
            let mut var = file.add_variable::<i64>(&d.name, &dims)?;
            var.put_attribute("calendar", TIME_CALENDAR)?;
            if n > 0 {
                var.put_values(v, ..)?;
            }
            var
        }
        Coords::Bool(v) => {
            let mut var = file.add_variable::<i8>(&d.name, &dims)?;
            var.put_attribute("dtype", "bool")?;
            let b: Vec<i8> = v.iter().map(|&b| i8::from(b)).collect();
            if n > 0 {
                var.put_values(&b, ..)?;
            }
            var
        }
        Coords::Str(v) | Coords::Label(v) => {
            let mut var = file.add_string_variable(&d.name, &dims)?;
            put_strings(&mut var, &[n], v.iter())?;
            var
        }
    };
    var.put_attribute("coord_kind", d.coords.kind_name())?;
    if let Coords::Time(_) = d.coords {
        var.put_attribute("units", TIME_UNITS)?;
        for (k, v) in [
            ("collector_units", &d.attrs.units),
            ("long_name", &d.attrs.long_name),
            ("description", &d.attrs.description),
        ] {
            if !v.is_empty() {
                var.put_attribute(k, v.as_str())?;
            }
        }
        Ok(())
    } else {
        put_attrs(&mut var, &d.attrs)
    }
}

fn write_column(file: &mut netcdf::FileMut, c: &Column, dims: &[&str]) -> netcdf::Result<()> {
    let shape = c.data.shape().to_vec();
    let empty = shape.contains(&0);
    let mut var = match &c.data {
        ColumnData::F64(a) => {
            let mut var = file.add_variable::<f64>(&c.name, dims)?;
            var.set_fill_value(f64::NAN)?;
            let a = a.as_standard_layout();
            if !empty {
                var.put_values(a.as_slice().unwrap_or_default(), ..)?;
            }
            var
        }
        ColumnData::I64(a) => {
            let mut var = file.add_variable::<i64>(&c.name, dims)?;
            var.set_fill_value(REFERENCE_SENTINEL)?;
            let a = a.as_standard_layout();
            if !empty {
                var.put_values(a.as_slice().unwrap_or_default(), ..)?;
            }
            var
        }
        ColumnData::Text(a) => {
            let mut var = file.add_string_variable(&c.name, dims)?;
            // `iter` walks in logical row-major order whatever the layout.
            put_strings(&mut var, &shape, a.iter())?;
            var
        }
    };
    put_attrs(&mut var, &c.attrs)?;
    var.put_attribute("result_kind", c.kind.name())?;
    var.put_attribute("result_var", c.var.as_str())?;
    Ok(())
}

/// Reads a file written by [`write_netcdf`] back into a dataset, through
/// the `netcdf` crate's reader.
///
/// A file that is not netCDF (neither the `CDF` magic of netCDF-3 nor the
/// HDF5 signature of netCDF-4) is refused before libnetcdf sees it. A
/// corrupt netCDF file is an error too: the `netcdf` crate panics on some
/// library errors (its iterators over dims, variables and attributes
/// unwrap them), and those panics are caught here and returned as
/// [`Error::Format`] naming the file; the panic hook still runs (the
/// default one prints the message on stderr). A crash inside libnetcdf or
/// HDF5 themselves (C code) cannot be caught.
pub fn read_netcdf(path: impl AsRef<Path>) -> Result<Dataset> {
    let path = path.as_ref();
    check_magic(path)?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_checked(path))).unwrap_or_else(
        |panic| {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            Err(format_err(
                path.display().to_string(),
                format!("corrupt netCDF file: the netCDF reader failed ({why})"),
            ))
        },
    )
}

/// The HDF5 signature (netCDF-4 files are HDF5 files).
const HDF5_MAGIC: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Refuses a file that is neither netCDF-3 (`CDF` and version 1, 2 or 5)
/// nor HDF5 (its signature at offset 0, 512, 1024, 2048, …: HDF5 allows a
/// user block before it), so that junk never reaches the C library.
fn check_magic(path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    // A file that cannot be opened is left to libnetcdf, whose error says
    // why (and names the file).
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(());
    };
    let len = f.metadata().map_err(crate::error::io(path))?.len();
    let mut head = [0u8; 8];
    let n = f.read(&mut head).map_err(crate::error::io(path))?;
    let head = &head[..n];
    if head.len() >= 4 && head.starts_with(b"CDF") && matches!(head[3], 1 | 2 | 5) {
        return Ok(());
    }
    let mut at = 0u64;
    while at.saturating_add(8) <= len {
        let mut sig = [0u8; 8];
        f.seek(SeekFrom::Start(at))
            .map_err(crate::error::io(path))?;
        f.read_exact(&mut sig).map_err(crate::error::io(path))?;
        if &sig == HDF5_MAGIC {
            return Ok(());
        }
        at = if at == 0 { 512 } else { at.saturating_mul(2) };
    }
    Err(format_err(
        path.display().to_string(),
        "not a netCDF file: it starts with neither the netCDF-3 magic `CDF` nor the HDF5 signature of netCDF-4",
    ))
}

/// [`read_netcdf`] once the file's magic is checked.
fn read_checked(path: &Path) -> Result<Dataset> {
    let err = nc_err(path);
    let file = netcdf::open(path).map_err(&err)?;
    let what = path.display().to_string();
    let bad = |m: String| format_err(&what, m);

    let mut dims = Vec::new();
    for nd in file.dimensions() {
        let name = nd.name();
        let var = file
            .variable(&name)
            .ok_or_else(|| bad(format!("dim `{name}` has no coordinate variable")))?;
        dims.push(read_dim(&var, &name, nd.len(), path)?);
    }
    let dim_names: Vec<&str> = dims.iter().map(|d| d.name.as_str()).collect();
    let shape: Vec<usize> = dims.iter().map(Dim::len).collect();

    let mut columns = Vec::new();
    for var in file.variables() {
        let name = var.name();
        if dim_names.contains(&name.as_str()) {
            continue;
        }
        let var_dims: Vec<String> = var.dimensions().iter().map(|d| d.name()).collect();
        if var_dims != dim_names {
            return Err(bad(format!(
                "variable `{name}` spans dims {var_dims:?}, not all dims {dim_names:?}"
            )));
        }
        columns.push(read_column(&var, &name, &shape, path)?);
    }

    let mut attrs = BTreeMap::new();
    for a in file.attributes() {
        let v = match a.value().map_err(&err)? {
            AttributeValue::Str(s) => AttrValue::Str(s),
            AttributeValue::Longlong(i) => AttrValue::Int(i),
            AttributeValue::Int(i) => AttrValue::Int(i.into()),
            AttributeValue::Double(x) => AttrValue::Float(x),
            AttributeValue::Float(x) => AttrValue::Float(x.into()),
            other => {
                return Err(bad(format!(
                    "global attribute `{}` is not text or a number: {other:?}",
                    a.name()
                )));
            }
        };
        attrs.insert(a.name().to_string(), v);
    }
    Dataset::from_parts(dims, columns, attrs).map_err(|e| bad(e.to_string()))
}

/// A text attribute of `var`, or "" when it is absent.
fn text_attr(var: &netcdf::Variable<'_>, name: &str, path: &Path) -> Result<String> {
    match var.attribute_value(name) {
        None => Ok(String::new()),
        Some(v) => match v.map_err(nc_err(path))? {
            AttributeValue::Str(s) => Ok(s),
            other => Err(format_err(
                format!("{}: variable `{}`", path.display(), var.name()),
                format!("attribute `{name}` is not text: {other:?}"),
            )),
        },
    }
}

fn get_strings(var: &netcdf::Variable<'_>, shape: &[usize], path: &Path) -> Result<Vec<String>> {
    let n: usize = shape.iter().product();
    let ones = vec![1; shape.len()];
    (0..n)
        .map(|i| {
            let idx = unravel(i, shape);
            let ext = Extents::try_from((idx.as_slice(), ones.as_slice())).map_err(nc_err(path))?;
            var.get_string(ext).map_err(nc_err(path))
        })
        .collect()
}

fn get_all<T: netcdf::NcTypeDescriptor + Copy>(
    var: &netcdf::Variable<'_>,
    n: usize,
    path: &Path,
) -> Result<Vec<T>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    var.get_values::<T, _>(..).map_err(nc_err(path))
}

fn read_dim(var: &netcdf::Variable<'_>, name: &str, n: usize, path: &Path) -> Result<Dim> {
    let kind = text_attr(var, "coord_kind", path)?;
    let coords = match kind.as_str() {
        "float" => Coords::Float(get_all(var, n, path)?),
        "int" => Coords::Int(get_all(var, n, path)?),
        "timestamp" => Coords::Time(get_all(var, n, path)?),
        "bool" => Coords::Bool(
            get_all::<i8>(var, n, path)?
                .into_iter()
                .map(|b| b != 0)
                .collect(),
        ),
        "string" => Coords::Str(get_strings(var, &[n], path)?),
        "label" => Coords::Label(get_strings(var, &[n], path)?),
        other => {
            return Err(format_err(
                format!("{}: dim `{name}`", path.display()),
                format!("unknown or missing `coord_kind` attribute `{other}`"),
            ));
        }
    };
    let units_key = if kind == "timestamp" {
        "collector_units"
    } else {
        "units"
    };
    Ok(Dim {
        name: name.to_string(),
        coords,
        attrs: VarAttrs {
            long_name: text_attr(var, "long_name", path)?,
            units: text_attr(var, units_key, path)?,
            description: text_attr(var, "description", path)?,
        },
    })
}

fn read_column(
    var: &netcdf::Variable<'_>,
    name: &str,
    shape: &[usize],
    path: &Path,
) -> Result<Column> {
    let what = || format!("{}: variable `{name}`", path.display());
    let kind_s = text_attr(var, "result_kind", path)?;
    let kind = kind_s.parse::<ResultKind>().map_err(|_| {
        format_err(
            what(),
            format!("unknown or missing `result_kind` attribute `{kind_s}`"),
        )
    })?;
    let n: usize = shape.iter().product();
    let sh = IxDyn(shape);
    let shape_err = |e: ndarray::ShapeError| format_err(what(), e.to_string());
    let data = match kind.storage() {
        Storage::F64 => {
            ColumnData::F64(ArrayD::from_shape_vec(sh, get_all(var, n, path)?).map_err(shape_err)?)
        }
        Storage::I64 => {
            ColumnData::I64(ArrayD::from_shape_vec(sh, get_all(var, n, path)?).map_err(shape_err)?)
        }
        Storage::Text => ColumnData::Text(
            ArrayD::from_shape_vec(sh, get_strings(var, shape, path)?).map_err(shape_err)?,
        ),
    };
    let var_name = text_attr(var, "result_var", path)?;
    Ok(Column {
        name: name.to_string(),
        var: if var_name.is_empty() {
            name.to_string()
        } else {
            var_name
        },
        kind,
        attrs: VarAttrs {
            long_name: text_attr(var, "long_name", path)?,
            units: text_attr(var, "units", path)?,
            description: text_attr(var, "description", path)?,
        },
        data,
    })
}
