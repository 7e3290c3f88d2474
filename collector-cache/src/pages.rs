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

/// A zeroed buffer whose `len` cells start at `at`: a large one is
/// allocated two huge pages larger than its cells, and its cells start on
/// a huge-page boundary, so that every huge page they touch lies whole
/// inside the allocation. (Since Linux 6.12 a mapping is aligned to huge
/// pages only when its length is a multiple of one; the allocator's are
/// not, and the unaligned head and tail of each buffer were faulted in as
/// 4 KiB pages, a thousand faults a load.) The padding is never touched.
pub(crate) struct Zeroed<T> {
    pub(crate) buf: Vec<T>,
    pub(crate) at: usize,
    pub(crate) len: usize,
}

impl<T> Zeroed<T> {
    /// The cells.
    pub(crate) fn cells(&mut self) -> &mut [T] {
        &mut self.buf[self.at..self.at + self.len]
    }
}

/// `n` zeros, advised for huge pages when large.
pub(crate) fn zeroed_f64(n: usize) -> Zeroed<f64> {
    zeroed(n, |m| vec![0.0; m])
}

/// `n` zeros, advised for huge pages when large.
pub(crate) fn zeroed_i64(n: usize) -> Zeroed<i64> {
    zeroed(n, |m| vec![0; m])
}

/// `n` zeros from `alloc` (which must give `m` zeros without touching
/// them: `vec![0; m]` is a calloc, fresh pages).
fn zeroed<T>(n: usize, alloc: impl FnOnce(usize) -> Vec<T>) -> Zeroed<T> {
    let size = std::mem::size_of::<T>().max(1);
    let bytes = n.saturating_mul(size);
    if !cfg!(target_os = "linux") || bytes < 2 * HUGE_PAGE {
        return Zeroed {
            buf: alloc(n),
            at: 0,
            len: n,
        };
    }
    let pad = HUGE_PAGE / size;
    let buf = alloc(n + 2 * pad);
    let start = buf.as_ptr() as usize;
    let at = (start.next_multiple_of(HUGE_PAGE) - start) / size;
    advise_huge(&buf);
    Zeroed { buf, at, len: n }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // One advisory system call on memory this process owns; measured in `history_load_50x50x2_h1000`.
fn advise_huge<T>(v: &[T]) {
    let len = std::mem::size_of_val(v);
    // madvise takes a page-aligned start: the page `v` starts in (the
    // allocation's own; the advice only says how its pages may be backed).
    let page = 4096;
    let start = v.as_ptr() as usize;
    let aligned = start - start % page;
    let end = start + len;
    // SAFETY: [aligned, end) covers `v`'s allocation and at most the rest
    // of the page it starts in, all mapped while `v` lives; MADV_HUGEPAGE
    // changes how the kernel backs the pages, never their contents, and a
    // failure (no THP, old kernel) only leaves the advice untaken, so the
    // result is ignored.
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
            let mut f = zeroed_f64(n);
            assert_eq!(f.len, n);
            assert!(f.at + f.len <= f.buf.len());
            assert!(f.cells().iter().all(|x| x.to_bits() == 0));
            let mut i = zeroed_i64(n);
            assert_eq!(i.cells().len(), n);
            assert!(i.cells().iter().all(|&x| x == 0));
        }
    }

    #[test]
    fn a_large_buffer_starts_on_a_huge_page_and_has_a_huge_page_after() {
        let n = 5 << 20; // 40 MB of f64
        let mut f = zeroed_f64(n);
        let start = f.cells().as_ptr() as usize;
        if cfg!(target_os = "linux") {
            assert_eq!(start % HUGE_PAGE, 0);
            // The huge page holding the last cell lies inside the buffer.
            let last_page_end = (start + n * 8).next_multiple_of(HUGE_PAGE);
            let alloc_end = f.buf.as_ptr() as usize + f.buf.len() * 8;
            assert!(last_page_end <= alloc_end);
        }
        // Small buffers are not padded.
        assert_eq!(zeroed_f64(1000).buf.len(), 1000);
    }
}
