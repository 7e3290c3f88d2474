//! Large zeroed buffers that the kernel may back with transparent huge
//! pages.
//!
//! Reading back a long history allocates its columns at once (40 MB for
//! 1,000 events of the anchor grid). The kernel zero-fills fresh memory on
//! first touch, one page fault per 4 KiB page: ten thousand faults for
//! 40 MB, which took half the load's time in a process whose allocator
//! had no memory to reuse. Where transparent huge pages are in `madvise`
//! mode (the common default), advising the buffer before it is first
//! written makes those faults 2 MiB each.

/// Below this size a buffer is not advised (it could not hold a huge page).
const HUGE_PAGE: usize = 2 << 20;

/// `n` zeros, advised for huge pages when large.
pub(crate) fn zeroed_f64(n: usize) -> Vec<f64> {
    // `vec![0.0; n]` is a calloc: fresh pages, not yet touched.
    let v = vec![0.0; n];
    advise_huge(&v);
    v
}

/// `n` zeros, advised for huge pages when large.
pub(crate) fn zeroed_i64(n: usize) -> Vec<i64> {
    let v = vec![0; n];
    advise_huge(&v);
    v
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // One advisory system call on memory this process owns; measured in `history_load_50x50x2_h1000`.
fn advise_huge<T>(v: &[T]) {
    let len = std::mem::size_of_val(v);
    if len < 2 * HUGE_PAGE {
        return;
    }
    // madvise takes a page-aligned start: the first whole page of `v`.
    let page = 4096;
    let start = v.as_ptr() as usize;
    let aligned = start.next_multiple_of(page);
    let end = start + len;
    // SAFETY: [aligned, end) lies inside `v`'s allocation, which outlives
    // the call; MADV_HUGEPAGE changes how the kernel backs the pages, never
    // their contents, and a failure (no THP, old kernel) only leaves the
    // advice untaken, so the result is ignored.
    unsafe {
        libc::madvise(
            aligned as *mut libc::c_void,
            end - aligned,
            libc::MADV_HUGEPAGE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge<T>(_: &[T]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_zeroed_whatever_their_size() {
        for n in [0, 1, 1000, 3 << 20] {
            let f = zeroed_f64(n);
            assert_eq!(f.len(), n);
            assert!(f.iter().all(|x| x.to_bits() == 0));
            let i = zeroed_i64(n);
            assert_eq!(i.len(), n);
            assert!(i.iter().all(|&x| x == 0));
        }
    }
}
