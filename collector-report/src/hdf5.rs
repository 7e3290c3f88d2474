//! Two faults of libhdf5 under a full disk, worked around.
//!
//! **Its clean-up at process exit**, turned off before the first netCDF
//! write.
//! When a write of a netCDF-4 file fails (a full disk: `EFBIG`, `ENOSPC`),
//! closing it fails too and libhdf5 keeps the half-closed file in its
//! tables; its `atexit` handler (`H5_term_library`) then closes it again and
//! crashes (a segmentation fault in `H5F__close_cb`, libhdf5 1.10): the
//! export printed its error and the process died of a signal instead of
//! exiting with it. `H5dont_atexit`, called before the library's first
//! use, keeps the handler from being registered. Nothing is lost: every
//! file this crate writes or reads is closed before its function returns.
//!
//! **Its errors say no cause** ("NetCDF: HDF error"): a write that failed
//! for want of space gets the operating system's error appended.

use std::sync::Once;

/// Turns off libhdf5's clean-up at exit, once per process. Effective only
/// before libhdf5's first use (later, it does nothing, harmlessly).
pub(crate) fn no_cleanup_at_exit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `H5dont_atexit` takes no argument and only sets a flag
        // of the library (it returns an error, ignored, once the library
        // is initialised).
        #[allow(unsafe_code, reason = "one FFI call without arguments")]
        let _ = unsafe { hdf5_metno_sys::h5::H5dont_atexit() };
    });
}

/// `e`, a failed netCDF write, with the operating system's error appended
/// when it says the disk is full (libhdf5 reports only "HDF error"; the
/// failed `write` left its `errno`, which no later successful call
/// clears).
pub(crate) fn with_disk_cause(e: crate::Error) -> crate::Error {
    let os = std::io::Error::last_os_error();
    let full = matches!(
        os.kind(),
        std::io::ErrorKind::StorageFull
            | std::io::ErrorKind::FileTooLarge
            | std::io::ErrorKind::QuotaExceeded
    );
    match e {
        crate::Error::Netcdf { path, source } if full => crate::Error::Io {
            path,
            source: std::io::Error::new(os.kind(), format!("{os} (netCDF: {source})")),
        },
        crate::Error::NetcdfItem {
            path,
            item,
            action,
            source,
        } if full => crate::Error::Io {
            path,
            source: std::io::Error::new(
                os.kind(),
                format!("{os} (netCDF: {item}: {action}: {source})"),
            ),
        },
        e => e,
    }
}
