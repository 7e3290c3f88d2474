//! The dataset as a netCDF-4 file that xarray opens natively
//! (`xarray.open_dataset(path)`), written and read with the `netcdf` crate
//! over the system's libnetcdf.
//!
//! The layout is documented on [`write_netcdf`].

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use collector_core::{
    AttrValue, Column, ColumnData, Coords, Dataset, Dim, REFERENCE_SENTINEL, ResultKind, Storage,
    VarAttrs, unravel,
};
use ndarray::{ArrayD, IxDyn};
use netcdf::{AttributeValue, Extents};
use unicode_normalization::is_nfc;

use crate::error::{Error, Result, format_err};

/// CF time units of timestamp coordinates.
const TIME_UNITS: &str = "nanoseconds since 1970-01-01";
/// CF calendar of timestamp coordinates.
const TIME_CALENDAR: &str = "proleptic_gregorian";
/// The attribute holding a dim's or column's own name, where the netCDF
/// name differs from it or is not plain ASCII.
const NAME_ATTR: &str = "collector_name";
/// The attribute listing which text attributes of a variable (or of the
/// file) are escaped, and [`VALUES`] when its string values are.
const ESCAPED_ATTR: &str = "collector_escaped";
/// The entry of [`ESCAPED_ATTR`] for a variable's values. No attribute of
/// a variable is called so: the writer names them all.
const VALUES: &str = "values";
/// A global attribute whose key cannot be an attribute name is written
/// as `collector_attr_N`, with its key in `collector_attr_N_key`.
const ATTR_PREFIX: &str = "collector_attr_";
/// See [`ATTR_PREFIX`].
const KEY_SUFFIX: &str = "_key";
/// The longest name kept as it is, in bytes: libnetcdf's `NC_MAX_NAME`
/// is 256, but the `netcdf` crate refuses a 256-byte name when it looks
/// a variable up, and misreads a 256-byte dimension name.
const MAX_NAME: usize = 255;
/// The longest escaped name before its `_N` suffix, in bytes.
const ESCAPED_MAX: usize = 200;
/// The most dims a netCDF-4 variable spans: HDF5's `H5S_MAX_RANK`.
const MAX_DIMS: usize = 32;
/// Attribute names that HDF5's dimension scales and libnetcdf reserve
/// without a leading underscore.
const RESERVED_ATTRS: [&str; 4] = ["CLASS", "NAME", "DIMENSION_LIST", "REFERENCE_LIST"];

fn nc_err(path: &Path) -> impl Fn(netcdf::Error) -> Error + '_ {
    move |source| Error::Netcdf {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether libnetcdf takes `name` and stores it unchanged: the rules of its
/// `NC_check_name` (not empty, at most 255 bytes here, no '/', no ASCII control
/// character, a letter, digit, '_' or non-ASCII first, no trailing ASCII
/// space), in NFC (libnetcdf normalises names to NFC), and not starting
/// with '_' (reserved for the library: `_nc4_non_coord_x` reads back as
/// `x`).
fn nc_keeps(name: &str) -> bool {
    let Some(first) = name.chars().next() else {
        return false;
    };
    name.len() <= MAX_NAME
        && (first.is_ascii_alphanumeric() || !first.is_ascii())
        && !name.chars().any(|c| c == '/' || c.is_ascii_control())
        && !name.ends_with(|c: char| c.is_ascii_whitespace())
        && is_nfc(name)
}

/// Whether a global attribute can be called `key`: an ASCII name that
/// libnetcdf keeps, that it does not reserve and that does not start like
/// the writer's own attributes.
fn plain_attr_key(key: &str) -> bool {
    key.is_ascii()
        && nc_keeps(key)
        && !key.starts_with("collector_")
        && !RESERVED_ATTRS.contains(&key)
}

/// The netCDF names of `names` (dims then columns: one namespace in the
/// file), and whether each needs [`NAME_ATTR`]. A name that libnetcdf
/// keeps is its own netCDF name; any other becomes ASCII (letters,
/// digits, `_ - . +`, anything else as `_`, a `v` before a first
/// character that cannot start a name, cut to 200 bytes), with `_2`,
/// `_3`… added until it is unique.
fn nc_names(names: &[&str]) -> Vec<(String, bool)> {
    let mut used: HashSet<String> = names
        .iter()
        .filter(|n| nc_keeps(n))
        .map(|n| (*n).to_string())
        .collect();
    names
        .iter()
        .map(|&n| {
            if nc_keeps(n) {
                return (n.to_string(), !n.is_ascii());
            }
            let mut base: String = n
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "_-.+".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .take(ESCAPED_MAX)
                .collect();
            if !base.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                base.insert(0, 'v');
            }
            let mut candidate = base.clone();
            let mut k = 1;
            while used.contains(&candidate) {
                k += 1;
                candidate = format!("{base}_{k}");
            }
            used.insert(candidate.clone());
            (candidate, true)
        })
        .collect()
}

/// `s` with '%' as `%25` and NUL as `%00`: libnetcdf's strings end at a
/// NUL.
fn escape(s: &str) -> String {
    s.replace('%', "%25").replace('\0', "%00")
}

/// The inverse of [`escape`], or `None` for a text it cannot have made.
fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3)?;
        out.push(match code {
            "25" => '%',
            "00" => '\0',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// A name quoted for messages, control characters escaped.
fn quoted(name: &str) -> String {
    format!("`{}`", name.escape_debug())
}

/// What the writer is writing, for its errors.
struct Item<'a> {
    path: &'a Path,
    what: String,
}

impl Item<'_> {
    fn err<A: Into<String>>(&self, action: A) -> impl FnOnce(netcdf::Error) -> Error + use<A> {
        let (path, item, action) = (self.path.to_path_buf(), self.what.clone(), action.into());
        move |source| Error::NetcdfItem {
            path,
            item,
            action,
            source,
        }
    }
}

/// The item of a dim or a column: its name and, when it differs, its
/// netCDF name.
fn item<'a>(path: &'a Path, kind: &str, name: &str, nc: &str) -> Item<'a> {
    let what = if name == nc {
        format!("{kind} {}", quoted(name))
    } else {
        format!("{kind} {} (netCDF name {})", quoted(name), quoted(nc))
    };
    Item { path, what }
}

/// Text attributes of one variable or of the file, escaping those that
/// hold a NUL and listing them in [`ESCAPED_ATTR`].
#[derive(Default)]
struct Escapes(Vec<String>);

impl Escapes {
    fn text(&mut self, key: &str, value: &str) -> AttributeValue {
        if value.contains('\0') {
            self.0.push(key.to_string());
            escape(value).into()
        } else {
            value.into()
        }
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
///
/// The file holds every value and name of the dataset, and
/// [`read_netcdf`] gives them back exactly (floats bit for bit, NaN
/// payloads too):
///
/// - a dim or column whose name libnetcdf would refuse or change (empty,
///   longer than 255 bytes, with a '/' or an ASCII control character,
///   starting with '_' or a character other than a letter, digit or
///   non-ASCII one, ending with a space, not in Unicode NFC) gets an ASCII
///   netCDF name (`x/y` is `x_y`; `_2`, `_3`… keep it unique), and its
///   own name goes to the attribute `collector_name`, which non-ASCII
///   names carry too. Other names, which are most, are the netCDF names;
/// - libnetcdf's strings end at a NUL, so a text attribute holding one,
///   and every value of a string variable any of whose values holds one,
///   is written with '%' as `%25` and NUL as `%00`; the attribute
///   `collector_escaped` (a list of strings) names those attributes, and
///   `values` for the values;
/// - a global attribute whose key is not a plain ASCII name (or is
///   reserved: `_…`, `CLASS`, `NAME`, `DIMENSION_LIST`, `REFERENCE_LIST`,
///   `collector_…`) is written as `collector_attr_N`, its key in
///   `collector_attr_N_key`.
///
/// An error names the dim, variable or attribute, and says what failed.
/// A dataset of more than 32 dims (HDF5's limit) is refused before the
/// file is created.
pub fn write_netcdf(ds: &Dataset, path: impl AsRef<Path>) -> Result<()> {
    crate::hdf5::no_cleanup_at_exit();
    crate::atomic::write_whole(path.as_ref(), |path| {
        write_netcdf_file(ds, path).map_err(crate::hdf5::with_disk_cause)
    })
}

fn write_netcdf_file(ds: &Dataset, path: &Path) -> Result<()> {
    let err = nc_err(path);
    // Checked here so that the message is a plain "No such file or
    // directory" naming the file, not an HDF5 error stack.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::metadata(parent).map_err(crate::error::io(path))?;
    }
    // Checked here so that no file is created for a dataset that cannot
    // be written.
    if ds.dims().len() > MAX_DIMS && !ds.columns().is_empty() {
        return Err(format_err(
            path.display().to_string(),
            format!(
                "netCDF-4 (HDF5) variables span at most {MAX_DIMS} dims; this dataset has {}",
                ds.dims().len()
            ),
        ));
    }
    let names: Vec<&str> = ds
        .dims()
        .iter()
        .map(|d| d.name.as_str())
        .chain(ds.columns().iter().map(|c| c.name.as_str()))
        .collect();
    let nc = nc_names(&names);
    let (dim_nc, col_nc) = nc.split_at(ds.dims().len());

    let mut file = netcdf::create(path).map_err(&err)?;
    for (d, (n, _)) in ds.dims().iter().zip(dim_nc) {
        file.add_dimension(n, d.len())
            .map_err(item(path, "dim", &d.name, n).err("cannot add the dimension"))?;
    }
    let dim_names: Vec<&str> = dim_nc.iter().map(|(n, _)| n.as_str()).collect();
    for (d, (n, keep)) in ds.dims().iter().zip(dim_nc) {
        write_coords(&mut file, d, n, *keep, &item(path, "dim", &d.name, n))?;
    }
    for (c, (n, keep)) in ds.columns().iter().zip(col_nc) {
        write_column(
            &mut file,
            c,
            n,
            *keep,
            &dim_names,
            &item(path, "variable", &c.name, n),
        )?;
    }
    write_global_attrs(&mut file, &ds.attrs, path)?;
    file.close().map_err(&err)
}

fn write_global_attrs(
    file: &mut netcdf::FileMut,
    attrs: &BTreeMap<String, AttrValue>,
    path: &Path,
) -> Result<()> {
    let mut esc = Escapes::default();
    let mut n = 0;
    for (k, v) in attrs {
        let key = if plain_attr_key(k) {
            k.clone()
        } else {
            let key = format!("{ATTR_PREFIX}{n}");
            n += 1;
            let key_attr = format!("{key}{KEY_SUFFIX}");
            let it = Item {
                path,
                what: format!("global attribute {} (netCDF name {key_attr})", quoted(k)),
            };
            let text = esc.text(&key_attr, k);
            file.add_attribute(&key_attr, text)
                .map_err(it.err("cannot write the key"))?;
            key
        };
        let v: AttributeValue = match v {
            AttrValue::Str(s) => esc.text(&key, s),
            AttrValue::Int(i) => (*i).into(),
            AttrValue::Float(x) => (*x).into(),
        };
        let it = Item {
            path,
            what: if key == *k {
                format!("global attribute {}", quoted(k))
            } else {
                format!("global attribute {} (netCDF name {key})", quoted(k))
            },
        };
        file.add_attribute(&key, v)
            .map_err(it.err("cannot write it"))?;
    }
    if !esc.0.is_empty() {
        let it = Item {
            path,
            what: format!("global attribute {ESCAPED_ATTR}"),
        };
        file.add_attribute(ESCAPED_ATTR, esc.0)
            .map_err(it.err("cannot write it"))?;
    }
    Ok(())
}

/// Writes the text attributes `pairs` (left out when empty), then the
/// name and the list of escaped attributes.
fn finish_attrs(
    var: &mut netcdf::VariableMut<'_>,
    mut esc: Escapes,
    pairs: &[(&str, &str)],
    name: Option<&str>,
    it: &Item<'_>,
) -> Result<()> {
    for &(k, v) in pairs {
        if !v.is_empty() {
            let value = esc.text(k, v);
            var.put_attribute(k, value)
                .map_err(it.err(format!("cannot write the attribute `{k}`")))?;
        }
    }
    if let Some(name) = name {
        let value = esc.text(NAME_ATTR, name);
        var.put_attribute(NAME_ATTR, value)
            .map_err(it.err(format!("cannot write the attribute `{NAME_ATTR}`")))?;
    }
    if !esc.0.is_empty() {
        var.put_attribute(ESCAPED_ATTR, esc.0)
            .map_err(it.err(format!("cannot write the attribute `{ESCAPED_ATTR}`")))?;
    }
    Ok(())
}

/// Writes `values` into the string variable `var` of `shape`, escaped
/// (and `values` listed in `esc`) when any holds a NUL.
fn put_strings<'a>(
    var: &mut netcdf::VariableMut<'_>,
    shape: &[usize],
    values: impl Iterator<Item = &'a String> + Clone,
    esc: &mut Escapes,
    it: &Item<'_>,
) -> Result<()> {
    let escaped = values.clone().any(|s| s.contains('\0'));
    if escaped {
        esc.0.push(VALUES.into());
    }
    let ones = vec![1; shape.len()];
    for (i, s) in values.enumerate() {
        let idx = unravel(i, shape);
        let r = if escaped {
            var.put_string(&escape(s), (idx.as_slice(), ones.as_slice()))
        } else {
            var.put_string(s, (idx.as_slice(), ones.as_slice()))
        };
        r.map_err(it.err(format!("cannot write the string at {idx:?}")))?;
    }
    Ok(())
}

fn put_all<T: netcdf::NcTypeDescriptor + Copy>(
    var: &mut netcdf::VariableMut<'_>,
    values: &[T],
    it: &Item<'_>,
) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    var.put_values(values, ..)
        .map_err(it.err("cannot write the values"))
}

fn write_coords(
    file: &mut netcdf::FileMut,
    d: &Dim,
    nc: &str,
    keep_name: bool,
    it: &Item<'_>,
) -> Result<()> {
    let dims = [nc];
    let mut esc = Escapes::default();
    let add = |e| it.err(format!("cannot add its {e} coordinate variable"));
    let mut var = match &d.coords {
        Coords::Float(v) => {
            let mut var = file.add_variable::<f64>(nc, &dims).map_err(add("double"))?;
            put_all(&mut var, v, it)?;
            var
        }
        Coords::Int(v) => {
            let mut var = file.add_variable::<i64>(nc, &dims).map_err(add("int64"))?;
            put_all(&mut var, v, it)?;
            var
        }
        Coords::Time(v) => {
            let mut var = file.add_variable::<i64>(nc, &dims).map_err(add("int64"))?;
            var.put_attribute("calendar", TIME_CALENDAR)
                .map_err(it.err("cannot write the attribute `calendar`"))?;
            put_all(&mut var, v, it)?;
            var
        }
        Coords::Bool(v) => {
            let mut var = file.add_variable::<i8>(nc, &dims).map_err(add("byte"))?;
            var.put_attribute("dtype", "bool")
                .map_err(it.err("cannot write the attribute `dtype`"))?;
            let b: Vec<i8> = v.iter().map(|&b| i8::from(b)).collect();
            put_all(&mut var, &b, it)?;
            var
        }
        Coords::Str(v) | Coords::Label(v) => {
            let mut var = file.add_string_variable(nc, &dims).map_err(add("string"))?;
            put_strings(&mut var, &[v.len()], v.iter(), &mut esc, it)?;
            var
        }
    };
    var.put_attribute("coord_kind", d.coords.kind_name())
        .map_err(it.err("cannot write the attribute `coord_kind`"))?;
    let name = keep_name.then_some(d.name.as_str());
    let a = &d.attrs;
    if let Coords::Time(_) = d.coords {
        var.put_attribute("units", TIME_UNITS)
            .map_err(it.err("cannot write the attribute `units`"))?;
        let pairs = [
            ("collector_units", a.units.as_str()),
            ("long_name", &a.long_name),
            ("description", &a.description),
        ];
        finish_attrs(&mut var, esc, &pairs, name, it)
    } else {
        let pairs = [
            ("units", a.units.as_str()),
            ("long_name", &a.long_name),
            ("description", &a.description),
        ];
        finish_attrs(&mut var, esc, &pairs, name, it)
    }
}

fn write_column(
    file: &mut netcdf::FileMut,
    c: &Column,
    nc: &str,
    keep_name: bool,
    dims: &[&str],
    it: &Item<'_>,
) -> Result<()> {
    let shape = c.data.shape().to_vec();
    let mut esc = Escapes::default();
    let add = |e| it.err(format!("cannot add it as a {e} variable"));
    let fill = || it.err("cannot set its _FillValue");
    let mut var = match &c.data {
        ColumnData::F64(a) => {
            let mut var = file.add_variable::<f64>(nc, dims).map_err(add("double"))?;
            var.set_fill_value(f64::NAN).map_err(fill())?;
            let a = a.as_standard_layout();
            put_all(&mut var, a.as_slice().unwrap_or_default(), it)?;
            var
        }
        ColumnData::I64(a) => {
            let mut var = file.add_variable::<i64>(nc, dims).map_err(add("int64"))?;
            var.set_fill_value(REFERENCE_SENTINEL).map_err(fill())?;
            let a = a.as_standard_layout();
            put_all(&mut var, a.as_slice().unwrap_or_default(), it)?;
            var
        }
        ColumnData::Text(a) => {
            let mut var = file.add_string_variable(nc, dims).map_err(add("string"))?;
            // `iter` walks in logical row-major order whatever the layout.
            put_strings(&mut var, &shape, a.iter(), &mut esc, it)?;
            var
        }
    };
    var.put_attribute("result_kind", c.kind.name())
        .map_err(it.err("cannot write the attribute `result_kind`"))?;
    let a = &c.attrs;
    let pairs = [
        ("units", a.units.as_str()),
        ("long_name", &a.long_name),
        ("description", &a.description),
    ];
    // `result_var` is written even when empty, like before.
    let value = esc.text("result_var", &c.var);
    var.put_attribute("result_var", value)
        .map_err(it.err("cannot write the attribute `result_var`"))?;
    finish_attrs(
        &mut var,
        esc,
        &pairs,
        keep_name.then_some(c.name.as_str()),
        it,
    )
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

    // Looked up in the list rather than with `file.variable`, which
    // panics on a name of 256 bytes.
    let vars: Vec<(String, netcdf::Variable<'_>)> =
        file.variables().map(|v| (v.name(), v)).collect();
    let mut dims = Vec::new();
    let mut dim_nc = Vec::new();
    for nd in file.dimensions() {
        let name = nd.name();
        let (_, var) = vars
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| bad(format!("dim `{name}` has no coordinate variable")))?;
        dims.push(read_dim(var, &name, nd.len(), path)?);
        dim_nc.push(name);
    }
    let shape: Vec<usize> = dims.iter().map(Dim::len).collect();

    let mut columns = Vec::new();
    for (name, var) in &vars {
        if dim_nc.contains(name) {
            continue;
        }
        let var_dims: Vec<String> = var.dimensions().iter().map(|d| d.name()).collect();
        if var_dims != dim_nc {
            return Err(bad(format!(
                "variable `{name}` spans dims {var_dims:?}, not all dims {dim_nc:?}"
            )));
        }
        columns.push(read_column(var, name, &shape, path)?);
    }

    let mut raw = BTreeMap::new();
    for a in file.attributes() {
        raw.insert(a.name().to_string(), a.value().map_err(&err)?);
    }
    let escaped = escaped_list(raw.get(ESCAPED_ATTR), &what)?;
    let text = |k: &str, s: String| -> Result<String> {
        if escaped.iter().any(|e| e == k) {
            unescape(&s).ok_or_else(|| bad(format!("global attribute `{k}` is not escaped text")))
        } else {
            Ok(s)
        }
    };
    let mut attrs = BTreeMap::new();
    for (k, v) in &raw {
        if k == ESCAPED_ATTR
            || k.strip_suffix(KEY_SUFFIX)
                .is_some_and(|s| s.starts_with(ATTR_PREFIX) && raw.contains_key(s))
        {
            continue;
        }
        let key_attr = format!("{k}{KEY_SUFFIX}");
        let key = match raw.get(&key_attr) {
            Some(AttributeValue::Str(s)) if k.starts_with(ATTR_PREFIX) => {
                text(&key_attr, s.clone())?
            }
            Some(other) if k.starts_with(ATTR_PREFIX) => {
                return Err(bad(format!(
                    "global attribute `{key_attr}` is not text: {other:?}"
                )));
            }
            _ => k.clone(),
        };
        let v = match v {
            AttributeValue::Str(s) => AttrValue::Str(text(k, s.clone())?),
            AttributeValue::Longlong(i) => AttrValue::Int(*i),
            AttributeValue::Int(i) => AttrValue::Int((*i).into()),
            AttributeValue::Double(x) => AttrValue::Float(*x),
            AttributeValue::Float(x) => AttrValue::Float((*x).into()),
            other => {
                return Err(bad(format!(
                    "global attribute `{k}` is not text or a number: {other:?}"
                )));
            }
        };
        attrs.insert(key, v);
    }
    Dataset::from_parts(dims, columns, attrs).map_err(|e| bad(e.to_string()))
}

/// The entries of a `collector_escaped` attribute (none when absent).
fn escaped_list(value: Option<&AttributeValue>, what: &str) -> Result<Vec<String>> {
    match value {
        None => Ok(Vec::new()),
        Some(AttributeValue::Strs(v)) => Ok(v.clone()),
        Some(AttributeValue::Str(s)) => Ok(vec![s.clone()]),
        Some(other) => Err(format_err(
            what,
            format!("attribute `{ESCAPED_ATTR}` is not a list of strings: {other:?}"),
        )),
    }
}

/// The text attributes of one variable, unescaped where listed.
struct VarText<'v, 'f> {
    var: &'v netcdf::Variable<'f>,
    what: String,
    /// Every attribute, by name: listed once rather than looked up by
    /// name, which makes HDF5 print an error stack for an absent one when
    /// the variable has many attributes.
    attrs: BTreeMap<String, netcdf::Attribute<'v>>,
    escaped: Vec<String>,
}

impl<'v, 'f> VarText<'v, 'f> {
    fn new(var: &'v netcdf::Variable<'f>, path: &Path) -> Result<Self> {
        let what = format!("{}: variable `{}`", path.display(), var.name());
        let attrs: BTreeMap<String, netcdf::Attribute<'v>> = var
            .attributes()
            .map(|a| (a.name().to_string(), a))
            .collect();
        let value = attrs
            .get(ESCAPED_ATTR)
            .map(netcdf::Attribute::value)
            .transpose()
            .map_err(nc_err(path))?;
        let escaped = escaped_list(value.as_ref(), &what)?;
        Ok(VarText {
            var,
            what,
            attrs,
            escaped,
        })
    }

    fn bad(&self, message: String) -> Error {
        format_err(&self.what, message)
    }

    fn unescape(&self, key: &str, s: String) -> Result<String> {
        if self.escaped.iter().any(|e| e == key) {
            unescape(&s).ok_or_else(|| self.bad(format!("`{key}` is not escaped text")))
        } else {
            Ok(s)
        }
    }

    /// The text attribute `name`, or `None` when it is absent.
    fn get(&self, name: &str) -> Result<Option<String>> {
        match self.attrs.get(name).map(netcdf::Attribute::value) {
            None => Ok(None),
            Some(Ok(AttributeValue::Str(s))) => self.unescape(name, s).map(Some),
            Some(Ok(other)) => Err(self.bad(format!("attribute `{name}` is not text: {other:?}"))),
            Some(Err(e)) => Err(self.bad(format!("attribute `{name}`: {e}"))),
        }
    }

    /// The text attribute `name`, or "" when it is absent.
    fn text(&self, name: &str) -> Result<String> {
        Ok(self.get(name)?.unwrap_or_default())
    }

    /// The variable's own name: [`NAME_ATTR`], or its netCDF name.
    fn name(&self, nc: &str) -> Result<String> {
        Ok(self.get(NAME_ATTR)?.unwrap_or_else(|| nc.to_string()))
    }

    fn strings(&self, shape: &[usize], path: &Path) -> Result<Vec<String>> {
        let values = get_strings(self.var, shape, path)?;
        if self.escaped.iter().any(|e| e == VALUES) {
            values
                .into_iter()
                .map(|s| {
                    unescape(&s).ok_or_else(|| self.bad(format!("value {s:?} is not escaped text")))
                })
                .collect()
        } else {
            Ok(values)
        }
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

fn read_dim(var: &netcdf::Variable<'_>, nc: &str, n: usize, path: &Path) -> Result<Dim> {
    let t = VarText::new(var, path)?;
    let kind = t.text("coord_kind")?;
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
        "string" => Coords::Str(t.strings(&[n], path)?),
        "label" => Coords::Label(t.strings(&[n], path)?),
        other => {
            return Err(format_err(
                format!("{}: dim `{nc}`", path.display()),
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
        name: t.name(nc)?,
        coords,
        attrs: VarAttrs {
            long_name: t.text("long_name")?,
            units: t.text(units_key)?,
            description: t.text("description")?,
        },
    })
}

fn read_column(
    var: &netcdf::Variable<'_>,
    nc: &str,
    shape: &[usize],
    path: &Path,
) -> Result<Column> {
    let t = VarText::new(var, path)?;
    let kind_s = t.text("result_kind")?;
    let kind = kind_s.parse::<ResultKind>().map_err(|_| {
        t.bad(format!(
            "unknown or missing `result_kind` attribute `{kind_s}`"
        ))
    })?;
    let n: usize = shape.iter().product();
    let sh = IxDyn(shape);
    let shape_err = |e: ndarray::ShapeError| t.bad(e.to_string());
    let data = match kind.storage() {
        Storage::F64 => {
            ColumnData::F64(ArrayD::from_shape_vec(sh, get_all(var, n, path)?).map_err(shape_err)?)
        }
        Storage::I64 => {
            ColumnData::I64(ArrayD::from_shape_vec(sh, get_all(var, n, path)?).map_err(shape_err)?)
        }
        Storage::Text => ColumnData::Text(
            ArrayD::from_shape_vec(sh, t.strings(shape, path)?).map_err(shape_err)?,
        ),
    };
    let name = t.name(nc)?;
    // Files of older writers may leave `result_var` out: the column is
    // then its own variable.
    let var_name = t.get("result_var")?.unwrap_or_else(|| name.clone());
    Ok(Column {
        var: var_name,
        kind,
        attrs: VarAttrs {
            long_name: t.text("long_name")?,
            units: t.text("units")?,
            description: t.text("description")?,
        },
        data,
        name,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn plain_names_are_kept_and_others_get_unique_ascii_names() {
        let names = [
            "x",
            "température",
            "1x",
            "x/y",
            "x_y",
            "",
            "e\u{301}",
            "_FillValue",
            "x ",
            "a\0b",
            "a_b",
        ];
        let nc = nc_names(&names);
        let got: Vec<(&str, bool)> = nc.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        assert_eq!(
            got,
            [
                ("x", false),
                ("température", true),
                ("1x", false),
                ("x_y_2", true),
                ("x_y", false),
                ("v", true),
                ("e_", true),
                ("v_FillValue", true),
                ("x_", true),
                ("a_b_2", true),
                ("a_b", false),
            ]
        );
        let long = "é".repeat(200);
        let nc = nc_names(&[long.as_str()]);
        assert!(nc[0].0.len() <= MAX_NAME && nc[0].1, "{nc:?}");
        let at_most = "a".repeat(MAX_NAME);
        let too_long = "a".repeat(MAX_NAME + 1);
        let nc = nc_names(&[at_most.as_str(), too_long.as_str()]);
        assert_eq!(nc[0], (at_most, false));
        assert_eq!(nc[1].0, "a".repeat(ESCAPED_MAX));
    }

    #[test]
    fn escaping_round_trips_and_rejects_what_it_cannot_have_made() {
        for s in ["", "%", "%00", "a\0b%25", "\0\0", "é%"] {
            assert_eq!(unescape(&escape(s)).as_deref(), Some(s));
            assert!(!escape(s).contains('\0'));
        }
        assert_eq!(unescape("%4"), None);
        assert_eq!(unescape("%41"), None);
        assert_eq!(unescape("plain"), Some("plain".into()));
    }

    #[test]
    fn writer_errors_name_the_variable_and_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.nc");
        let mut file = netcdf::create(&path).unwrap();
        file.add_dimension("d", 1).unwrap();
        let c = Column::new_missing("a/b", "a/b", ResultKind::Float, &[1]);
        // A netCDF name that libnetcdf refuses, as if `nc_names` had let it
        // through.
        let it = item(&path, "variable", "a/b", "a/b");
        let e = write_column(&mut file, &c, "a/b", false, &["d"], &it).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("e.nc") && m.contains("variable `a/b`") && m.contains("cannot add it"),
            "{m}"
        );
        let it = item(&path, "variable", "a\0", "a_");
        assert_eq!(it.what, "variable `a\\0` (netCDF name `a_`)");
    }

    #[test]
    fn more_dims_than_hdf5_holds_is_refused_before_the_file_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank.nc");
        let dataset = |n: usize| {
            let dims = (0..n)
                .map(|i| Dim::new(format!("d{i}"), Coords::Int(vec![1])))
                .collect();
            let y = Column::new_missing("y", "y", ResultKind::Float, &vec![1; n]);
            Dataset::from_parts(dims, vec![y], BTreeMap::new()).unwrap()
        };
        write_netcdf(&dataset(MAX_DIMS), &path).unwrap();
        assert_eq!(read_netcdf(&path).unwrap().dims().len(), MAX_DIMS);
        std::fs::remove_file(&path).unwrap();
        let m = write_netcdf(&dataset(MAX_DIMS + 1), &path)
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("rank.nc") && m.contains("at most 32 dims") && m.contains("33"),
            "{m}"
        );
        assert!(!path.exists());
    }
}
