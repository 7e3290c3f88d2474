//! Numeric kernels of the regression detector.
//!
//! Where the seed calls NumPy or SciPy, the kernel here gives the same
//! number, operation for operation: [`np_sum`] is NumPy's pairwise
//! summation (so [`np_mean`] is `np.mean`), [`median`] is `np.median`,
//! [`kendall_p`] is the p-value of `scipy.stats.kendalltau(arange(n), y)`
//! (exact below 34 points without ties, asymptotic otherwise) and
//! [`theil_sen`] is the slope of `scipy.stats.theilslopes(y, arange(n))`.
//!
//! Theil-Sen is the median of the n(n-1)/2 pairwise slopes. Small series
//! list them all; long ones (a 1000-event history has half a million
//! pairs) find the two middle slopes by randomised selection: a sample of
//! slopes brackets the median, the pairs below a slope `t` are counted as
//! the inversions of `y[i] - t*i` (a merge sort, O(n log n)), and only the
//! pairs inside the bracket are listed. The answer is the same slope
//! value the full listing gives.

use std::cmp::Ordering;

use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::gamma;

/// Buffers reused across the series of one worker, so that testing a
/// cell allocates nothing in the steady state.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub(crate) a: Vec<f64>,
    pub(crate) b: Vec<f64>,
    pub(crate) c: Vec<f64>,
    ka: Vec<i64>,
    kb: Vec<i64>,
    pairs: Vec<(f64, u32)>,
    pairs2: Vec<(f64, u32)>,
    /// The last Student-t quantile: (q, df, value).
    t_cache: Option<(f64, f64, f64)>,
}

/// NumPy's pairwise summation of a contiguous `f64` array (what
/// `np.sum` and so `np.mean` do), bit for bit.
pub(crate) fn np_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut r = 0.0;
        for &x in a {
            r += x;
        }
        r
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let mut i = 8;
        while i < n - n % 8 {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        np_sum(&a[..n2]) + np_sum(&a[n2..])
    }
}

/// `np.mean`: NaN for an empty slice.
pub(crate) fn np_mean(a: &[f64]) -> f64 {
    if a.is_empty() {
        f64::NAN
    } else {
        np_sum(a) / a.len() as f64
    }
}

/// `np.median` of `a`, reordering it. NaN for an empty slice.
pub(crate) fn median(a: &mut [f64]) -> f64 {
    let n = a.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = n / 2;
    let (left, m, _) = a.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if n % 2 == 1 {
        m
    } else {
        let below = left
            .iter()
            .copied()
            .max_by(f64::total_cmp)
            .unwrap_or(f64::NAN);
        // np.mean of the two middle values: (0 + a + b) / 2.
        (0.0 + below + m) / 2.0
    }
}

/// The order statistics `k` and `k + 1` of `a` (reordering it); `k + 1`
/// is clamped to the last.
fn two_order_stats(a: &mut [f64], k: usize) -> (f64, f64) {
    let (_, v, right) = a.select_nth_unstable_by(k, f64::total_cmp);
    let v = *v;
    let next = right.iter().copied().min_by(f64::total_cmp).unwrap_or(v);
    (v, next)
}

/// NumPy's default (`linear`) quantile of `a` at `q` in [0, 1],
/// reordering `a`. NaN for an empty slice.
pub(crate) fn quantile(a: &mut [f64], q: f64) -> f64 {
    let n = a.len();
    if n == 0 {
        return f64::NAN;
    }
    let virt = q * (n - 1) as f64;
    let prev = (virt.floor().max(0.0) as usize).min(n - 1);
    let gamma = virt - prev as f64;
    let (lo, hi) = two_order_stats(a, prev);
    // numpy's _lerp.
    let diff = hi - lo;
    if gamma >= 0.5 {
        hi - diff * (1.0 - gamma)
    } else {
        lo + diff * gamma
    }
}

/// MAD x this estimates the standard deviation of a Gaussian.
pub(crate) const MAD_TO_SIGMA: f64 = 1.4826;

/// The seed's `_residual_sigma`: the noise of step-to-step differences,
/// `1.4826 * MAD(diff(values)) / sqrt(2)`; 0 below two points.
pub(crate) fn residual_sigma(values: &[f64], buf: &mut Vec<f64>) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    buf.clear();
    buf.extend(values.windows(2).map(|w| w[1] - w[0]));
    let med = median(buf);
    for v in buf.iter_mut() {
        *v = (*v - med).abs();
    }
    let mad = median(buf);
    MAD_TO_SIGMA * mad / std::f64::consts::SQRT_2
}

/// Python's `max(a, b, c)` on floats: the first of the largest.
pub(crate) fn py_max3(a: f64, b: f64, c: f64) -> f64 {
    let m = if b > a { b } else { a };
    if c > m { c } else { m }
}

/// An integer that orders as the float does under IEEE `<` (-0.0 is
/// folded onto 0.0, so equal floats have equal keys). NaN gets a key
/// that means nothing.
#[inline]
pub(crate) fn key(x: f64) -> i64 {
    let b = (x + 0.0).to_bits() as i64;
    b ^ (((b >> 63) as u64) >> 1) as i64
}

/// Sorts `a` ascending and returns the number of pairs `i < j` with
/// `a[i] > a[j]` (equal values are not an inversion). Used on integer
/// [`key`]s (an integer compare is the shortest link of the merge's
/// chain); an unordered value (NaN) gives a wrong count, never a panic.
///
/// A bottom-up merge sort shaped for a noisy series, whose comparisons
/// are unpredictable: blocks of 4 are sorted by a branch-free network
/// (their inversions counted pair by pair), and every merge is branch-free
/// and runs beside another one (two merges of a level in one loop, or the
/// front and back halves of the last merge) so that the processor
/// overlaps two chains of compare-and-load.
pub(crate) fn sort_count_inversions<T: Copy + PartialOrd + Default>(
    a: &mut Vec<T>,
    buf: &mut Vec<T>,
) -> u64 {
    let n = a.len();
    let mut count = 0u64;
    for block in a.chunks_mut(4) {
        count += sort_small(block);
    }
    buf.clear();
    buf.resize(n, T::default());
    let mut width = 4;
    let mut in_a = true;
    while width < n {
        let (src, dst) = if in_a {
            (&a[..], &mut buf[..])
        } else {
            (&buf[..], &mut a[..])
        };
        let pair = 2 * width;
        // The merges of this level two at a time; an odd one out merges
        // from both ends.
        let mut lo = 0;
        while lo < n {
            let hi = (lo + pair).min(n);
            let mid = (lo + width).min(hi);
            if hi < n {
                let hi2 = (hi + pair).min(n);
                let mid2 = (hi + width).min(hi2);
                let (d1, d2) = dst[lo..hi2].split_at_mut(hi - lo);
                count += merge_two(
                    (&src[lo..mid], &src[mid..hi], d1),
                    (&src[hi..mid2], &src[mid2..hi2], d2),
                );
                lo = hi2;
            } else {
                count += merge_both_ends(&src[lo..mid], &src[mid..hi], &mut dst[lo..hi]);
                lo = hi;
            }
        }
        in_a = !in_a;
        width = pair;
    }
    if !in_a {
        std::mem::swap(a, buf);
    }
    count
}

/// Sorts at most 4 values without branches on their order; returns their
/// inversions.
#[inline]
fn sort_small<T: Copy + PartialOrd>(b: &mut [T]) -> u64 {
    let mut c = 0u64;
    for i in 0..b.len() {
        for j in i + 1..b.len() {
            c += u64::from(b[i] > b[j]);
        }
    }
    // Compare-exchange that keeps equal values in place.
    fn cx<T: Copy + PartialOrd>(b: &mut [T], i: usize, j: usize) {
        let (x, y) = (b[i], b[j]);
        let swap = y < x;
        b[i] = if swap { y } else { x };
        b[j] = if swap { x } else { y };
    }
    match b.len() {
        2 => cx(b, 0, 1),
        3 => {
            cx(b, 0, 1);
            cx(b, 1, 2);
            cx(b, 0, 1);
        }
        4 => {
            cx(b, 0, 1);
            cx(b, 2, 3);
            cx(b, 0, 2);
            cx(b, 1, 3);
            cx(b, 1, 2);
        }
        _ => {}
    }
    c
}

/// One merge step: writes the smaller head (left first among equals)
/// and returns the inversions it closes.
macro_rules! merge_step {
    ($left:expr, $right:expr, $out:expr, $i:ident, $j:ident, $k:ident, $count:ident) => {{
        let (l, r) = ($left[$i], $right[$j]);
        let take_r = r < l;
        $out[$k] = if take_r { r } else { l };
        $count += ($left.len() - $i) as u64 * u64::from(take_r);
        $j += usize::from(take_r);
        $i += usize::from(!take_r);
        $k += 1;
    }};
}

/// Finishes a merge from `(i, j, k)`; returns the inversions.
#[inline]
fn merge_finish<T: Copy + PartialOrd>(
    left: &[T],
    right: &[T],
    out: &mut [T],
    mut i: usize,
    mut j: usize,
    mut k: usize,
) -> u64 {
    let mut count = 0u64;
    while i < left.len() && j < right.len() {
        merge_step!(left, right, out, i, j, k, count);
    }
    out[k..k + (left.len() - i)].copy_from_slice(&left[i..]);
    k += left.len() - i;
    out[k..].copy_from_slice(&right[j..]);
    count
}

/// Two independent merges in one loop.
type Merge<'a, 'b, T> = (&'a [T], &'a [T], &'b mut [T]);

#[inline]
fn merge_two<T: Copy + PartialOrd>(a: Merge<'_, '_, T>, b: Merge<'_, '_, T>) -> u64 {
    let (al, ar, ao) = a;
    let (bl, br, bo) = b;
    let (mut ai, mut aj, mut asum) = (0usize, 0usize, 0usize);
    let (mut bi, mut bj, mut bsum) = (0usize, 0usize, 0usize);
    let mut k = 0;
    loop {
        // Steps that cannot run a side dry: each takes one element.
        let safe = (al.len() - ai)
            .min(ar.len() - aj)
            .min(bl.len() - bi)
            .min(br.len() - bj);
        if safe == 0 {
            break;
        }
        for (oa, ob) in ao[k..k + safe].iter_mut().zip(bo[k..k + safe].iter_mut()) {
            // Only the sum of the left cursor over the steps is kept;
            // the inversions follow from it (see `inversions_from`).
            asum += ai;
            let (l, r) = (al[ai], ar[aj]);
            let take_r = r < l;
            *oa = if take_r { r } else { l };
            aj += usize::from(take_r);
            ai += usize::from(!take_r);
            bsum += bi;
            let (l, r) = (bl[bi], br[bj]);
            let take_r = r < l;
            *ob = if take_r { r } else { l };
            bj += usize::from(take_r);
            bi += usize::from(!take_r);
        }
        k += safe;
    }
    inversions_from(al.len(), ai, aj, asum)
        + inversions_from(bl.len(), bi, bj, bsum)
        + merge_finish(al, ar, ao, ai, aj, k)
        + merge_finish(bl, br, bo, bi, bj, k)
}

/// The inversions closed by the first steps of a merge with `nl` left
/// elements, after which `i` left and `j` right elements were taken and
/// the left cursor summed to `sum` over the steps: each right element
/// taken closes one inversion per left element not yet taken, so the
/// count is `j nl - (sum - (0 + 1 + ... + (i - 1)))`.
#[inline]
fn inversions_from(nl: usize, i: usize, j: usize, sum: usize) -> u64 {
    let left_takes = i * i.saturating_sub(1) / 2;
    (j * nl) as u64 - (sum - left_takes) as u64
}

/// Merges sorted `left` and `right` into `out` (stable), filling the
/// first half from the front and the second from the back in one loop;
/// returns the number of pairs (l, r) with l > r.
///
/// Each right element is counted once, by the end that writes it: from
/// the front, against the left elements the front has not written (all
/// larger); from the back, against the left elements the back has
/// already written (all larger; the others are not).
fn merge_both_ends<T: Copy + PartialOrd>(left: &[T], right: &[T], out: &mut [T]) -> u64 {
    let (nl, nr) = (left.len(), right.len());
    if nl == 0 || nr == 0 {
        out[..nl].copy_from_slice(left);
        out[nl..].copy_from_slice(right);
        return 0;
    }
    let m = nl + nr;
    let half = m / 2;
    // Front: next to write; back: one past the next to write.
    let (mut i, mut j, mut k) = (0usize, 0usize, 0usize);
    let (mut li, mut rj, mut kb) = (nl, nr, m);
    let mut count = 0u64;
    while k < half && i < nl && j < nr && li > 0 && rj > 0 {
        merge_step!(left, right, out, i, j, k, count);
        let (l, r) = (left[li - 1], right[rj - 1]);
        let take_l = l > r;
        out[kb - 1] = if take_l { l } else { r };
        count += (nl - li) as u64 * u64::from(!take_l);
        li -= usize::from(take_l);
        rj -= usize::from(!take_l);
        kb -= 1;
    }
    // Whatever is left (a side ran out, or the halves are done): the
    // front finishes the merge of what lies between the cursors.
    let rest = merge_finish(&left[..li], &right[..rj], &mut out[..kb], i, j, k);
    // The front counted its right elements against every unwritten left
    // element up to `li`; add those the back already wrote.
    count + rest + (nl - li) as u64 * (rj - j.min(rj)) as u64
}

/// `scipy.special.ndtr` built on the same erf/erfc split as Cephes, with
/// erf and erfc from the regularized incomplete gamma functions
/// (`erfc(z) = Q(1/2, z²)`), which statrs computes to about 1e-15 (its
/// own `erfc` is good to about 1e-10 only).
fn ndtr(a: f64) -> f64 {
    let x = a * std::f64::consts::FRAC_1_SQRT_2;
    let z = x.abs();
    let z2 = z * z;
    if z < std::f64::consts::FRAC_1_SQRT_2 {
        let erf = if z2 > 0.0 {
            gamma::checked_gamma_lr(0.5, z2).unwrap_or(f64::NAN)
        } else {
            0.0
        };
        0.5 + 0.5 * if x < 0.0 { -erf } else { erf }
    } else {
        let erfc = if z2.is_finite() {
            gamma::checked_gamma_ur(0.5, z2).unwrap_or(f64::NAN)
        } else if z.is_nan() {
            f64::NAN
        } else {
            0.0
        };
        let y = 0.5 * erfc;
        if x > 0.0 { 1.0 - y } else { y }
    }
}

/// `n!` as the nearest f64 (exact integer arithmetic up to 34!).
fn factorial(n: usize) -> f64 {
    if n <= 34 {
        (1..=n as u128).product::<u128>() as f64
    } else {
        (1..=n).fold(1.0, |acc, k| acc * k as f64)
    }
}

/// SciPy's `_kendall_p_exact(n, c, 'two-sided')`: the exact two-sided
/// p-value of `c` concordant pairs among `n` untied points.
fn kendall_p_exact(n: usize, c: u64) -> f64 {
    let tot = (n * (n - 1) / 2) as u64;
    let c = c.min(tot - c) as usize;
    let prob = if n <= 2 {
        1.0
    } else if c == 0 {
        if n < 171 { 2.0 / factorial(n) } else { 0.0 }
    } else if c == 1 {
        if n < 172 { 2.0 / factorial(n - 1) } else { 0.0 }
    } else if 4 * c == n * (n - 1) {
        1.0
    } else if n < 171 {
        let mut new = vec![0.0; c + 1];
        new[0] = 1.0;
        new[1] = 1.0;
        for j in 3..=n {
            for i in 1..=c {
                new[i] += new[i - 1];
            }
            if j <= c {
                for i in (j..=c).rev() {
                    new[i] -= new[i - j];
                }
            }
        }
        2.0 * np_sum(&new) / factorial(n)
    } else {
        let mut new = vec![0.0; c + 1];
        new[0] = 1.0;
        new[1] = 1.0;
        for j in 3..=n {
            for i in 1..=c {
                new[i] += new[i - 1];
            }
            for v in new.iter_mut() {
                *v /= j as f64;
            }
            if j <= c {
                for i in (j..=c).rev() {
                    new[i] -= new[i - j];
                }
            }
        }
        np_sum(&new)
    };
    prob.clamp(0.0, 1.0)
}

/// The two-sided p-value of `scipy.stats.kendalltau(arange(n), y)`: the
/// Mann-Kendall trend test of the seed. NaN when undefined (fewer than
/// two points, or every value equal). `y` must be free of NaN.
pub(crate) fn kendall_p(y: &[f64], s: &mut Scratch) -> f64 {
    s.a.clear();
    s.a.extend_from_slice(y);
    let dis = sort_count_inversions(&mut s.a, &mut s.b);
    kendall_p_sorted(&s.a, dis)
}

/// [`kendall_p`] from the series' values sorted and its inversion count.
pub(crate) fn kendall_p_sorted(sorted: &[f64], dis: u64) -> f64 {
    let n = sorted.len();
    if n < 2 {
        return f64::NAN;
    }
    // Ties among the y values (the x values, 0..n, have none).
    let mut ytie = 0u64;
    let mut y1 = 0.0f64;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && sorted[j] == sorted[i] {
            j += 1;
        }
        let cnt = (j - i) as u64;
        if cnt > 1 {
            ytie += cnt * (cnt - 1) / 2;
            let c = cnt as f64;
            y1 += c * (c - 1.0) * (2.0 * c + 5.0);
        }
        i = j;
    }
    let tot = (n as u64) * (n as u64 - 1) / 2;
    if ytie == tot {
        return f64::NAN;
    }
    let con_minus_dis = tot as f64 - ytie as f64 - 2.0 * dis as f64;
    if ytie == 0 && (n <= 33 || dis.min(tot - dis) <= 1) {
        kendall_p_exact(n, tot - dis)
    } else {
        let m = n as f64 * (n as f64 - 1.0);
        let var = (m * (2.0 * n as f64 + 5.0) - y1) / 18.0;
        let z = con_minus_dis / var.sqrt();
        2.0 * ndtr(-z.abs())
    }
}

/// `np.median(abs(values - med))` from the values sorted, without a
/// selection: the deviations of the values below `med`, read from `med`
/// outwards, and of those at or above it are two sorted runs, whose
/// middle order statistics a bisection finds in O(log n).
pub(crate) fn mad_sorted(sorted: &[f64], med: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let p = sorted.partition_point(|&v| v < med);
    let (na, nb) = (p, n - p);
    let a = |t: usize| (sorted[p - 1 - t] - med).abs();
    let b = |t: usize| (sorted[p + t] - med).abs();
    // The k-th smallest (0-based) of the two runs: take i from the first
    // and k + 1 - i from the second, the smallest i whose next element is
    // not below the second run's last taken one.
    let kth = |k: usize| {
        let (mut lo, mut hi) = ((k + 1).saturating_sub(nb), (k + 1).min(na));
        while lo < hi {
            let i = (lo + hi) / 2;
            let j = k + 1 - i;
            if i < na && j > 0 && b(j - 1) > a(i) {
                lo = i + 1;
            } else {
                hi = i;
            }
        }
        let (i, j) = (lo, k + 1 - lo);
        match (i > 0, j > 0) {
            (true, true) => a(i - 1).max(b(j - 1)),
            (true, false) => a(i - 1),
            (false, true) => b(j - 1),
            (false, false) => f64::NAN,
        }
    };
    if n % 2 == 1 {
        kth(n / 2)
    } else {
        (0.0 + kth(n / 2 - 1) + kth(n / 2)) / 2.0
    }
}

/// `np.median` of values already sorted.
pub(crate) fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (0.0 + sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The slope between points `i < j` of `y`, as SciPy computes it.
#[inline]
fn slope(y: &[f64], i: usize, j: usize) -> f64 {
    (y[j] - y[i]) / (j - i) as f64
}

/// Series with at most this many pairs list every slope.
const BRUTE_PAIRS: usize = 8192;

/// The slope of `scipy.stats.theilslopes(y, arange(n))`: the median of
/// every pairwise slope. NaN below two points.
pub(crate) fn theil_sen(y: &[f64], s: &mut Scratch) -> f64 {
    let n = y.len();
    if n < 2 {
        return f64::NAN;
    }
    let total = n * (n - 1) / 2;
    if total > BRUTE_PAIRS
        && let Some(v) = theil_sen_select(y, s)
    {
        return v;
    }
    s.c.clear();
    for j in 1..n {
        for i in 0..j {
            s.c.push(slope(y, i, j));
        }
    }
    median(&mut s.c)
}

/// A small deterministic generator (SplitMix64) for the slope sample.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fills `keys` with `y[i] - t*i` (y centred on `c`), `-0.0` folded to `0.0`
/// so that IEEE and total orders agree. `None` when a key is NaN.
fn fill_keys(y: &[f64], c: f64, t: f64, keys: &mut Vec<f64>) -> Option<()> {
    keys.clear();
    for (i, &v) in y.iter().enumerate() {
        let k = (v - c) - t * i as f64 + 0.0;
        if k.is_nan() {
            return None;
        }
        keys.push(k);
    }
    Some(())
}

/// The number of pairs `i < j` whose slope is below `t` (the inversions
/// of `y[i] - t*i`). `None` when a key is NaN.
pub(crate) fn count_slopes_below(y: &[f64], c: f64, t: f64, s: &mut Scratch) -> Option<u64> {
    fill_keys(y, c, t, &mut s.a)?;
    s.ka.clear();
    s.ka.extend(s.a.iter().map(|&v| key(v)));
    Some(sort_count_inversions(&mut s.ka, &mut s.kb))
}

/// The randomised selection of [`theil_sen`] for long series; `None`
/// when the bracket fails (the caller then lists every slope).
fn theil_sen_select(y: &[f64], s: &mut Scratch) -> Option<f64> {
    let n = y.len();
    let total = n * (n - 1) / 2;
    let (k_lo, k_hi) = ((total - 1) / 2, total / 2);
    let centre = y[n / 2];
    // A sample of slopes, sorted.
    let r = 2 * n + 64;
    let mut rng = SplitMix(0x5EED ^ n as u64);
    s.c.clear();
    while s.c.len() < r {
        let (i, j) = (rng.below(n), rng.below(n));
        if i == j {
            continue;
        }
        let v = slope(y, i.min(j), i.max(j));
        if !v.is_finite() {
            return None;
        }
        s.c.push(v);
    }
    let mut sample = std::mem::take(&mut s.c);
    sample.sort_unstable_by(f64::total_cmp);
    let frac = k_lo as f64 / total as f64;
    let mut delta = 1.5 * (r as f64).sqrt() + 2.0;
    let mut bracket = None;
    for _ in 0..3 {
        let jl = (frac * r as f64 - delta).floor();
        let jh = (frac * r as f64 + delta).ceil();
        if jl < 0.0 || jh >= r as f64 {
            break;
        }
        let (jl, jh) = (jl as usize, jh as usize);
        let cl = count_slopes_below(y, centre, sample[jl], s)? as usize;
        let ch = count_slopes_below(y, centre, sample[jh], s)? as usize;
        if cl <= k_lo && ch > k_hi {
            bracket = Some((jl, jh, cl, ch));
            break;
        }
        delta *= 2.0;
    }
    let (mut jl, mut jh, mut cl, mut ch) = bracket?;
    // Narrow the bracket on sample points until few pairs remain.
    for _ in 0..8 {
        if ch - cl <= 4 * n || jh - jl <= 2 {
            break;
        }
        let want = (k_lo - cl) as f64 + 0.5;
        let pos = jl as f64 + want / (ch - cl) as f64 * (jh - jl) as f64;
        let j = (pos.round() as usize).clamp(jl + 1, jh - 1);
        let c = count_slopes_below(y, centre, sample[j], s)? as usize;
        if c <= k_lo {
            (jl, cl) = (j, c);
        } else if c > k_hi {
            (jh, ch) = (j, c);
        } else {
            break;
        }
    }
    // Widen the bracket by far more than the rounding that can tell a
    // pair's key comparison apart from its computed slope (a few ulps of
    // the largest key): every pair whose classification could be wrong
    // then sits at an edge, away from the two middle slopes, and picking
    // by rank among the candidates stays exact.
    let (lo, hi) = (sample[jl], sample[jh]);
    let spread = y.iter().fold(0.0f64, |m, v| m.max((v - centre).abs()));
    let w = 1e-12 * (spread + lo.abs().max(hi.abs()) * n as f64 + lo.abs() + hi.abs());
    let (lo, hi) = (lo - w, hi + w);
    let cl = count_slopes_below(y, centre, lo, s)? as usize;
    s.c = sample;
    // Pairs at or above `lo` and below `hi`: order the points by their
    // key at `lo` (ties by index), then list the strict inversions of
    // their keys at `hi` in that order.
    fill_keys(y, centre, lo, &mut s.a)?;
    s.pairs.clear();
    s.pairs
        .extend(s.a.iter().enumerate().map(|(i, &k)| (k, i as u32)));
    s.pairs
        .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for p in s.pairs.iter_mut() {
        let i = p.1 as usize;
        let k = (y[i] - centre) - hi * i as f64 + 0.0;
        if k.is_nan() {
            return None;
        }
        p.0 = k;
    }
    s.c.clear();
    enumerate_inversions(&mut s.pairs, &mut s.pairs2, |a, b| {
        // `a` comes first in the order at `lo`: a pair at or above `lo`
        // when its index is the smaller one.
        if a < b {
            s.c.push(slope(y, a as usize, b as usize));
        }
    });
    let cand = &mut s.c;
    if cl > k_lo || k_hi >= cl + cand.len() {
        return None;
    }
    let (a, b) = two_order_stats(cand, k_lo - cl);
    Some(if k_lo == k_hi { a } else { (0.0 + a + b) / 2.0 })
}

/// Merge-sorts `v` by key and calls `f(first, second)` with the indices
/// of every pair whose keys are strictly inverted (the earlier element
/// has the larger key).
fn enumerate_inversions(
    v: &mut Vec<(f64, u32)>,
    buf: &mut Vec<(f64, u32)>,
    mut f: impl FnMut(u32, u32),
) {
    const RUN: usize = 16;
    let n = v.len();
    let mut start = 0;
    while start < n {
        let end = (start + RUN).min(n);
        for i in start + 1..end {
            let x = v[i];
            let mut j = i;
            while j > start && v[j - 1].0 > x.0 {
                f(v[j - 1].1, x.1);
                v[j] = v[j - 1];
                j -= 1;
            }
            v[j] = x;
        }
        start = end;
    }
    buf.clear();
    buf.resize(n, (0.0, 0));
    let mut width = RUN;
    let mut in_v = true;
    while width < n {
        let (src, dst) = if in_v {
            (&v[..], &mut buf[..])
        } else {
            (&buf[..], &mut v[..])
        };
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j, mut k) = (lo, mid, lo);
            while i < mid && j < hi {
                if src[j].0 < src[i].0 {
                    for e in &src[i..mid] {
                        f(e.1, src[j].1);
                    }
                    dst[k] = src[j];
                    j += 1;
                } else {
                    dst[k] = src[i];
                    i += 1;
                }
                k += 1;
            }
            dst[k..k + (mid - i)].copy_from_slice(&src[i..mid]);
            k += mid - i;
            dst[k..k + (hi - j)].copy_from_slice(&src[j..hi]);
            lo = hi;
        }
        in_v = !in_v;
        width *= 2;
    }
    if !in_v {
        std::mem::swap(v, buf);
    }
}

/// The probability that a Student t with `df` degrees of freedom exceeds
/// `x` (NaN for a bad `df`).
pub(crate) fn t_sf(x: f64, df: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    if x == f64::NEG_INFINITY {
        return 1.0;
    }
    match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => t.sf(x),
        Err(_) => f64::NAN,
    }
}

/// The `q` quantile of a Student t with `df` degrees of freedom; NaN
/// unless `0 < q < 1` and `df > 0`. Found by bisection on the survival
/// function to full precision (statrs' own `inverse_cdf` panics inside
/// its incomplete-beta inversion for some extreme `q`); the last answer
/// is kept in `s`, since the cells of a run share `q` and `df`.
pub(crate) fn t_quantile(q: f64, df: f64, s: &mut Scratch) -> f64 {
    if !(q > 0.0 && q < 1.0 && df > 0.0) {
        return f64::NAN;
    }
    if let Some((cq, cdf, v)) = s.t_cache
        && cq.to_bits() == q.to_bits()
        && cdf.to_bits() == df.to_bits()
    {
        return v;
    }
    let tail = if q >= 0.5 { 1.0 - q } else { q };
    let mut x = 0.0;
    if tail < 0.5 {
        // sf is decreasing on [0, inf): bracket, then bisect.
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        while t_sf(hi, df) > tail {
            lo = hi;
            hi *= 2.0;
            if !hi.is_finite() {
                break;
            }
        }
        for _ in 0..2100 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if t_sf(mid, df) > tail {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        x = hi;
    }
    let v = if q >= 0.5 { x } else { -x };
    s.t_cache = Some((q, df, v));
    v
}

/// The p-value of a deviation `z` (in units of the scale of the test)
/// against a Student t with `df` degrees of freedom: one-sided towards
/// `bad` (+1 larger is worse, -1 smaller is worse), two-sided for 0.
pub(crate) fn t_p_value(z: f64, df: f64, bad: i8) -> f64 {
    let p = match bad.cmp(&0) {
        Ordering::Greater => t_sf(z, df),
        Ordering::Less => t_sf(-z, df),
        Ordering::Equal => 2.0 * t_sf(z.abs(), df),
    };
    p.clamp(0.0, 1.0)
}

/// Benjamini-Hochberg adjusted p-values (q-values) of `p`, in the order
/// of `p`: `q_(i) = min_{j >= i} p_(j) m / j`, capped at 1. A hypothesis
/// is rejected at rate `alpha` exactly when its q-value is at most
/// `alpha` (the step-up rule). A NaN p-value counts as 1.
pub(crate) fn bh_qvalues(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let clean = |v: f64| if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) };
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| clean(p[a]).total_cmp(&clean(p[b])));
    let mut q = vec![1.0; m];
    let mut running = 1.0f64;
    for rank in (0..m).rev() {
        let i = order[rank];
        let v = clean(p[i]) * m as f64 / (rank + 1) as f64;
        running = running.min(v);
        q[i] = running.min(1.0);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_inversions(a: &[f64]) -> u64 {
        let mut c = 0;
        for i in 0..a.len() {
            for j in i + 1..a.len() {
                if a[i] > a[j] {
                    c += 1;
                }
            }
        }
        c
    }

    #[test]
    fn pairwise_sum_matches_numpy_grouping() {
        // Values whose sum depends on the grouping: numpy gives these.
        let a: Vec<f64> = (0..200).map(|i| 0.1 * i as f64).collect();
        assert_eq!(np_sum(&a), 1990.0);
        let naive: f64 = a.iter().sum();
        assert_ne!(naive, 1990.0, "the example must tell the groupings apart");
        assert_eq!(np_mean(&[1.0, 2.0, 4.0]), 7.0 / 3.0);
        assert!(np_mean(&[]).is_nan());
    }

    #[test]
    fn mad_from_sorted_matches_selection() {
        let mut rng = SplitMix(5);
        for n in 1..60 {
            for _ in 0..20 {
                let mut v: Vec<f64> = (0..n).map(|_| (rng.below(9) as f64) * 0.5 - 2.0).collect();
                v.sort_by(f64::total_cmp);
                let med = median_sorted(&v);
                let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
                assert_eq!(mad_sorted(&v, med), median(&mut dev), "{v:?}");
            }
        }
        assert!(mad_sorted(&[], 0.0).is_nan());
    }

    #[test]
    fn median_and_quantile_follow_numpy() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
        // np.quantile([1, 2, 3, 4], [0.25, 0.75]) == [1.75, 3.25]
        assert_eq!(quantile(&mut [4.0, 3.0, 2.0, 1.0], 0.25), 1.75);
        assert_eq!(quantile(&mut [4.0, 3.0, 2.0, 1.0], 0.75), 3.25);
        assert_eq!(quantile(&mut [5.0], 0.75), 5.0);
    }

    #[test]
    fn inversions_match_brute_force() {
        let mut rng = SplitMix(7);
        for n in [0usize, 1, 2, 5, 16, 17, 33, 100, 257] {
            let v: Vec<f64> = (0..n).map(|_| (rng.below(20)) as f64).collect();
            let mut a = v.clone();
            let mut b = Vec::new();
            assert_eq!(sort_count_inversions(&mut a, &mut b), brute_inversions(&v));
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            assert_eq!(a, sorted);
        }
    }

    #[test]
    fn enumeration_lists_every_strict_inversion() {
        let mut rng = SplitMix(11);
        for n in [0usize, 3, 16, 40, 130] {
            let keys: Vec<f64> = (0..n).map(|_| rng.below(10) as f64).collect();
            let mut v: Vec<(f64, u32)> = keys
                .iter()
                .enumerate()
                .map(|(i, &k)| (k, i as u32))
                .collect();
            let mut got = Vec::new();
            enumerate_inversions(&mut v, &mut Vec::new(), |a, b| got.push((a, b)));
            let mut want = Vec::new();
            for i in 0..n {
                for j in i + 1..n {
                    if keys[i] > keys[j] {
                        want.push((i as u32, j as u32));
                    }
                }
            }
            got.sort_unstable();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn kendall_p_golden_scipy() {
        // scipy.stats.kendalltau(np.arange(n), y).pvalue
        let mut s = Scratch::default();
        // A tie (10.0 twice): the asymptotic branch.
        let p = kendall_p(&[10.0, 10.2, 9.9, 10.1, 10.0, 9.8], &mut s);
        assert!((p - 0.2511180012744736).abs() < 1e-15, "{p}");
        let p = kendall_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &mut s);
        assert!((p - 0.016666666666666666).abs() < 1e-15, "{p}");
        let p = kendall_p(&[1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 8.0, 7.0], &mut s);
        assert!((p - 0.005505952380952381).abs() < 1e-15, "{p}");
        assert!(kendall_p(&[2.0, 2.0, 2.0], &mut s).is_nan());
        assert!(kendall_p(&[2.0], &mut s).is_nan());
    }

    #[test]
    fn theil_sen_selection_matches_listing() {
        let mut s = Scratch::default();
        let mut rng = SplitMix(3);
        for n in [130usize, 200, 501, 1000] {
            let y: Vec<f64> = (0..n)
                .map(|i| 0.01 * i as f64 + (rng.below(1000) as f64) / 100.0)
                .collect();
            let fast = theil_sen_select(&y, &mut s).expect("bracket");
            let mut all = Vec::new();
            for j in 1..n {
                for i in 0..j {
                    all.push(slope(&y, i, j));
                }
            }
            assert_eq!(fast, median(&mut all), "n = {n}");
        }
        // Heavy ties: integer values.
        let y: Vec<f64> = (0..300).map(|i| (i % 7) as f64).collect();
        let mut all = Vec::new();
        for j in 1..300 {
            for i in 0..j {
                all.push(slope(&y, i, j));
            }
        }
        assert_eq!(theil_sen(&y, &mut s), median(&mut all));
    }

    #[test]
    fn bh_qvalues_step_up() {
        // Textbook: p = 0.01, 0.04, 0.03, 0.005 with m = 4:
        // sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.02, 0.04, 0.04.
        let q = bh_qvalues(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.02, 0.04, 0.04, 0.02];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{q:?}");
        }
        assert!(bh_qvalues(&[]).is_empty());
        assert_eq!(bh_qvalues(&[f64::NAN]), vec![1.0]);
    }

    #[test]
    fn student_t_tails() {
        // scipy.stats.t.sf(2.0, 5) = 0.050969739414929174
        assert!((t_sf(2.0, 5.0) - 0.050969739414929174).abs() < 1e-12);
        // scipy.stats.t.ppf(0.99, 9) = 2.821437925025809
        let s = &mut Scratch::default();
        assert!((t_quantile(0.99, 9.0, s) - 2.821437925025809).abs() < 1e-12);
        // Cached, and the lower tail by symmetry.
        assert!((t_quantile(0.99, 9.0, s) - 2.821437925025809).abs() < 1e-12);
        assert!((t_quantile(0.01, 9.0, s) + 2.821437925025809).abs() < 1e-12);
        assert_eq!(t_quantile(0.5, 3.0, s), 0.0);
        // scipy.stats.t.ppf(1 - 1e-12, 1) = 318316927901.77966 (1 - 1e-12
        // itself is rounded, hence the loose tolerance).
        let x = t_quantile(1.0 - 1e-12, 1.0, s);
        assert!((x / 318316927901.77966 - 1.0).abs() < 1e-3, "{x}");
        assert!(t_quantile(1e-300, 2.0, s) < -1e100);
        assert!(t_quantile(1.0, 9.0, s).is_nan());
        assert!(t_quantile(f64::NAN, 9.0, s).is_nan());
        assert_eq!(t_p_value(f64::INFINITY, 3.0, 1), 0.0);
        assert_eq!(t_p_value(f64::INFINITY, 3.0, -1), 1.0);
    }
}
