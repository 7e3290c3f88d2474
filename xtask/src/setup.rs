//! `cargo xtask setup`: the system libraries a fresh machine lacks.
//!
//! - libclang, which RocksDB's bindings (bindgen, through clang-sys) load at
//!   build time. It is found the way clang-sys looks for it: a file named
//!   `libclang.so`, `libclang.so.N`, `libclang-N.so` or `libclang-N.so.M`
//!   in the library folders or `/usr/lib/llvm-N/lib`. `libclang-cpp.so.N`
//!   is another library (the C++ API, pulled in by unrelated packages) and
//!   does not count: taking it for libclang made the first README command
//!   fail on a fresh Debian machine.
//! - libnetcdf's headers, for the netCDF export.
//!
//! Where `dpkg` knows the Debian package, its word is taken first.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run;

/// What a system library check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// Installed: how it was seen.
    Yes(String),
    /// Missing.
    No,
}

/// The folders clang-sys searches on Linux (before `/usr/lib/llvm-N/lib`,
/// which [`libclang_in`] adds for every `llvm-N` under each of them).
pub(crate) const LIB_DIRS: [&str; 6] = [
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/usr/local/lib64",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
];

/// Whether `name` is a file clang-sys would load as libclang.
pub(crate) fn is_libclang_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("libclang") else {
        return false;
    };
    // `libclang.so` or `libclang.so.<version>`.
    if let Some(v) = rest.strip_prefix(".so") {
        return v.is_empty() || v.strip_prefix('.').is_some_and(is_version);
    }
    // `libclang-<version>.so` or `libclang-<version>.so.<version>`.
    let Some(rest) = rest.strip_prefix('-') else {
        return false;
    };
    let Some((version, tail)) = rest.split_once(".so") else {
        return false;
    };
    is_version(version) && (tail.is_empty() || tail.strip_prefix('.').is_some_and(is_version))
}

/// Digits and dots, starting with a digit (`14`, `14.0.6`).
fn is_version(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit()) && s.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// The first libclang found in `dirs` or in their `llvm-N/lib` folders.
pub(crate) fn libclang_in(dirs: &[PathBuf]) -> Option<PathBuf> {
    let in_dir = |d: &Path| -> Option<PathBuf> {
        std::fs::read_dir(d).ok()?.flatten().find_map(|e| {
            let name = e.file_name();
            is_libclang_name(&name.to_string_lossy()).then(|| e.path())
        })
    };
    for d in dirs {
        if let Some(p) = in_dir(d) {
            return Some(p);
        }
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        let mut llvm: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("llvm-"))
            .map(|e| e.path().join("lib"))
            .collect();
        llvm.sort();
        if let Some(p) = llvm.iter().rev().find_map(|l| in_dir(l)) {
            return Some(p);
        }
    }
    None
}

/// Parses `dpkg-query -W -f '${Status}'` output: installed or not.
pub(crate) fn dpkg_says_installed(status: &str) -> bool {
    status.trim().ends_with("install ok installed")
}

/// `Some(installed)` when dpkg answers for `package`, `None` without dpkg.
fn dpkg_installed(package: &str) -> Option<bool> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", package])
        .output()
        .ok()?;
    // Unknown packages exit non-zero: dpkg answered "not installed".
    Some(out.status.success() && dpkg_says_installed(&String::from_utf8_lossy(&out.stdout)))
}

/// Whether libclang can be loaded by RocksDB's build.
pub(crate) fn libclang() -> Found {
    if let Some(p) = std::env::var_os("LIBCLANG_PATH") {
        let p = PathBuf::from(p);
        let hit = if p.is_dir() {
            libclang_in(std::slice::from_ref(&p))
        } else {
            p.file_name()
                .is_some_and(|n| is_libclang_name(&n.to_string_lossy()))
                .then(|| p.clone())
        };
        return match hit {
            Some(f) => Found::Yes(format!("{} (LIBCLANG_PATH)", f.display())),
            None => Found::No,
        };
    }
    if dpkg_installed("libclang-dev") == Some(true) {
        return Found::Yes("dpkg: libclang-dev".into());
    }
    let dirs: Vec<PathBuf> = LIB_DIRS.iter().map(PathBuf::from).collect();
    match libclang_in(&dirs) {
        Some(f) => Found::Yes(f.display().to_string()),
        None => Found::No,
    }
}

/// Whether libnetcdf's headers are installed.
pub(crate) fn netcdf() -> Found {
    if dpkg_installed("libnetcdf-dev") == Some(true) {
        return Found::Yes("dpkg: libnetcdf-dev".into());
    }
    ["/usr/include/netcdf.h", "/usr/local/include/netcdf.h"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map_or(Found::No, |p| Found::Yes((*p).to_string()))
}

/// The Debian packages to install, from what was found.
pub(crate) fn missing_packages(libclang: &Found, netcdf: &Found) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if *libclang == Found::No {
        missing.push("libclang-dev");
    }
    if *netcdf == Found::No {
        missing.push("libnetcdf-dev");
    }
    missing
}

/// Installs the system libraries the build needs when they are missing:
/// libclang-dev (RocksDB's bindings) and libnetcdf-dev (the netCDF export).
pub(crate) fn setup() -> Result<()> {
    let (clang, nc) = (libclang(), netcdf());
    let missing = missing_packages(&clang, &nc);
    if missing.is_empty() {
        return Ok(());
    }
    let cmd = format!(
        "sudo apt-get update && sudo apt-get install -y {}",
        missing.join(" ")
    );
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root || Command::new("apt-get").arg("--version").output().is_err() {
        bail!(
            "missing system libraries: {}. Install them (as root, or with sudo): {cmd}\n\
             Without root: install libclang from LLVM into a folder of yours and set \
             LIBCLANG_PATH to it, and libnetcdf with its headers where pkg-config finds it.",
            missing.join(", ")
        );
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {}",
        missing.join(" ")
    ));
    run(c, "install system libraries").with_context(|| format!("run by hand: {cmd}"))?;
    // Check again: an install that did not bring a loadable libclang would
    // otherwise fail 15 minutes later, inside RocksDB's build.
    if libclang() == Found::No {
        bail!(
            "libclang is still not found after installing libclang-dev; set LIBCLANG_PATH to the folder holding libclang.so"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"").unwrap();
        }
        dir
    }

    #[test]
    fn libclang_cpp_alone_is_missing() {
        let t = tree(&["x86_64-linux-gnu/libclang-cpp.so.14", "libclang-cpp.so"]);
        let dirs = [t.path().to_path_buf(), t.path().join("x86_64-linux-gnu")];
        assert_eq!(libclang_in(&dirs), None);
        assert_eq!(
            missing_packages(&Found::No, &Found::Yes("h".into())),
            ["libclang-dev"]
        );
    }

    #[test]
    fn libclang_under_an_llvm_lib_folder_is_present() {
        let t = tree(&["llvm-14/lib/libclang.so.14", "libclang-cpp.so.14"]);
        let found = libclang_in(&[t.path().to_path_buf()]).unwrap();
        assert!(found.ends_with("llvm-14/lib/libclang.so.14"), "{found:?}");
    }

    #[test]
    fn versioned_libclang_in_a_library_folder_is_present() {
        let t = tree(&["libclang-14.so.14.0.6"]);
        assert!(libclang_in(&[t.path().to_path_buf()]).is_some());
    }

    #[test]
    fn an_empty_or_absent_folder_has_no_libclang() {
        let t = tree(&[]);
        assert_eq!(libclang_in(&[t.path().to_path_buf()]), None);
        assert_eq!(libclang_in(&[t.path().join("absent")]), None);
    }

    #[test]
    fn names_clang_sys_loads() {
        for ok in [
            "libclang.so",
            "libclang.so.1",
            "libclang.so.14.0.6",
            "libclang-14.so",
            "libclang-14.so.1",
            "libclang-14.0.6.so",
        ] {
            assert!(is_libclang_name(ok), "{ok}");
        }
        for bad in [
            "libclang-cpp.so",
            "libclang-cpp.so.14",
            "libclang-cpp14.so",
            "libclang.a",
            "libclangBasic.a",
            "libclang.so.x",
            "libclang-.so",
            "libclang-14.a",
        ] {
            assert!(!is_libclang_name(bad), "{bad}");
        }
    }

    #[test]
    fn dpkg_status_is_read() {
        assert!(dpkg_says_installed("install ok installed"));
        assert!(!dpkg_says_installed("deinstall ok config-files"));
        assert!(!dpkg_says_installed("unknown ok not-installed"));
        assert!(!dpkg_says_installed(""));
    }
}
