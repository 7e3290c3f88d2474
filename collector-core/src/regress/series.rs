//! The single-series detector: one method on one history and one current
//! value.

use super::stats::{
    self, MAD_TO_SIGMA, Scratch, count_slopes_below, kendall_p, kendall_p_sorted, mad_sorted,
    median_sorted, np_mean, np_sum, py_max3, residual_sigma, sort_count_inversions, t_p_value,
    t_quantile, theil_sen,
};
use super::{Method, Status, Verdict};
use crate::sweep::Direction;

/// The drift threshold is this fraction of the step threshold.
const DRIFT_FRAC: f64 = 0.85;
/// The Mann-Kendall significance level of the drift test.
const MK_ALPHA: f64 = 0.1;
/// The Hampel filter's cutoff, in MAD sigmas.
const HAMPEL_K: f64 = 5.0;
/// The fewest points whose median and MAD are trusted.
const MIN_ROBUST_HISTORY: usize = 4;
/// IQR / this estimates a Gaussian sigma.
const IQR_TO_SIGMA: f64 = 1.349;

/// Judges one series: `history` holds the older events' values, oldest
/// first, `current` the newest. NaN and ±inf in `history` are skipped and
/// counted; a non-finite `current` gives [`Status::NotEnoughHistory`]. See
/// the [module docs](super) for each method and for where this differs
/// from the seed.
///
/// ```
/// use collector_core::Direction;
/// use collector_core::regress::{Method, Status, check_series};
///
/// let history = [10.0, 10.2, 9.9, 10.1, 10.0, 9.8];
/// let v = check_series(&history, 12.0, Direction::Minimize, &Method::default());
/// assert_eq!(v.status, Status::Regressed);
/// assert_eq!(v.test.as_deref(), Some("step"));
/// assert_eq!(v.baseline, Some(10.0));
/// // The same jump is an improvement when larger is better.
/// let v = check_series(&history, 12.0, Direction::Maximize, &Method::default());
/// assert_eq!(v.status, Status::Ok);
/// ```
pub fn check_series(
    history: &[f64],
    current: f64,
    direction: Direction,
    method: &Method,
) -> Verdict {
    let mut skipped = history.iter().filter(|v| !v.is_finite()).count();
    let hist: Vec<f64> = history.iter().copied().filter(|v| v.is_finite()).collect();
    if !current.is_finite() {
        skipped += 1;
        let mut v = not_enough(None);
        v.skipped_non_finite = skipped;
        return v;
    }
    let mut v = judge(
        &hist,
        None,
        current,
        direction,
        method,
        &mut Scratch::default(),
    );
    v.skipped_non_finite = skipped;
    v
}

/// [`check_series`] on clean input: `hist` and `fallback` (the pooled
/// samples the adaptive method's sparse fallback averages; `hist` when
/// `None`) finite, `current` finite.
pub(crate) fn judge(
    hist: &[f64],
    fallback: Option<&[f64]>,
    current: f64,
    direction: Direction,
    method: &Method,
    s: &mut Scratch,
) -> Verdict {
    match *method {
        Method::Absolute { limit } => absolute(current, limit, direction),
        _ if hist.is_empty() => not_enough(Some(current)),
        Method::Percentage { threshold_pct } => percentage(hist, current, threshold_pct, direction),
        Method::Delta { limit } => delta(hist, current, limit, direction),
        Method::Adaptive { sigmas, floor_pct } => {
            if hist.len() < MIN_ROBUST_HISTORY {
                percentage(fallback.unwrap_or(hist), current, floor_pct, direction)
            } else {
                adaptive(hist, current, sigmas, floor_pct, direction, s)
            }
        }
        Method::T { q } => student_t(hist, current, q, direction, s),
        Method::Iqr { k } => iqr(hist, current, k, direction, s),
    }
}

/// A verdict with nothing to compare.
fn not_enough(current: Option<f64>) -> Verdict {
    Verdict {
        status: Status::NotEnoughHistory,
        baseline: None,
        current,
        change_pct: None,
        band: None,
        test: None,
        p_value: None,
        skipped_non_finite: 0,
    }
}

/// The seed's `_safe_change_percent`: relative to `|baseline|`, ±inf (or
/// 0) against a zero baseline. Used for decisions only.
fn safe_change(current: f64, baseline: f64) -> f64 {
    if baseline == 0.0 {
        if current == 0.0 {
            0.0
        } else if current > 0.0 {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        }
    } else {
        (current - baseline) / baseline.abs() * 100.0
    }
}

/// The change that is reported: `None` against a baseline that is not
/// positive, or when it overflows.
fn reported_change(current: f64, baseline: f64) -> Option<f64> {
    if baseline > 0.0 {
        Some(safe_change(current, baseline)).filter(|c| c.is_finite())
    } else {
        None
    }
}

/// The seed's `_is_regression`: is a change of this sign bad?
fn is_regression(change: f64, direction: Direction) -> bool {
    match direction {
        Direction::Minimize => change > 0.0,
        Direction::Maximize => change < 0.0,
        Direction::None => true,
    }
}

/// The seed's `_exceeds_directional_threshold`.
fn exceeds(change: f64, threshold: f64, direction: Direction) -> bool {
    match direction {
        Direction::Minimize => change > threshold,
        Direction::Maximize => change < -threshold,
        Direction::None => change.abs() > threshold,
    }
}

/// +1 when larger is worse, -1 when smaller is, 0 for either side.
fn bad_side(direction: Direction) -> i8 {
    match direction {
        Direction::Minimize => 1,
        Direction::Maximize => -1,
        Direction::None => 0,
    }
}

/// `(a, b)` in order (NaN-tolerant: unordered pairs stay as they are).
fn ordered(a: f64, b: f64) -> (f64, f64) {
    if b < a { (b, a) } else { (a, b) }
}

/// Is `current` outside `(lower, upper)` on a bad side?
fn outside(current: f64, band: (f64, f64), direction: Direction) -> bool {
    match direction {
        Direction::Minimize => current > band.1,
        Direction::Maximize => current < band.0,
        Direction::None => current > band.1 || current < band.0,
    }
}

fn verdict(
    regressed: bool,
    test: &str,
    baseline: Option<f64>,
    current: f64,
    band: Option<(f64, f64)>,
    p_value: Option<f64>,
) -> Verdict {
    Verdict {
        status: if regressed {
            Status::Regressed
        } else {
            Status::Ok
        },
        baseline,
        current: Some(current),
        change_pct: baseline.and_then(|b| reported_change(current, b)),
        band,
        test: regressed.then(|| test.to_string()),
        p_value,
        skipped_non_finite: 0,
    }
}

/// The seed's `detect_percentage`.
fn percentage(hist: &[f64], current: f64, threshold_pct: f64, direction: Direction) -> Verdict {
    let mean = np_mean(hist);
    let change = safe_change(current, mean);
    let regressed = exceeds(change, threshold_pct, direction) && is_regression(change, direction);
    let frac = threshold_pct / 100.0;
    let band = ordered(mean * (1.0 - frac), mean * (1.0 + frac));
    verdict(
        regressed,
        "percentage",
        Some(mean),
        current,
        Some(band),
        None,
    )
}

/// The seed's `detect_delta`.
fn delta(hist: &[f64], current: f64, limit: f64, direction: Direction) -> Verdict {
    let mean = np_mean(hist);
    let d = current - mean;
    let regressed = match direction {
        Direction::Minimize => d > limit,
        Direction::Maximize => d < -limit,
        Direction::None => d.abs() > limit,
    };
    let band = (mean - limit, mean + limit);
    verdict(regressed, "delta", Some(mean), current, Some(band), None)
}

/// The seed's `detect_absolute`; without a direction there is no check.
fn absolute(current: f64, limit: f64, direction: Direction) -> Verdict {
    let (regressed, band) = match direction {
        Direction::Minimize => (current > limit, Some((f64::NEG_INFINITY, limit))),
        Direction::Maximize => (current < limit, Some((limit, f64::INFINITY))),
        Direction::None => (false, None),
    };
    verdict(regressed, "absolute", None, current, band, None)
}

/// The seed's `detect_adaptive` with at least 4 points, plus a p-value.
fn adaptive(
    hist: &[f64],
    current: f64,
    sigmas: f64,
    floor_pct: f64,
    direction: Direction,
    s: &mut Scratch,
) -> Verdict {
    let drift_threshold = DRIFT_FRAC * sigmas;
    // One sort of the history gives its median, and its inversions give
    // the Mann-Kendall test whenever the Hampel filter keeps every point.
    let mut sorted = std::mem::take(&mut s.a);
    sorted.clear();
    sorted.extend_from_slice(hist);
    let dis = sort_count_inversions(&mut sorted, &mut s.b);
    let baseline = median_sorted(&sorted);
    let mad_sigma = MAD_TO_SIGMA * mad_sorted(&sorted, baseline);
    let mut buf = std::mem::take(&mut s.c);
    let noise_floor = py_max3(mad_sigma, 1e-6 * baseline.abs(), 1e-12);

    // Step: the current value against the median, in MAD sigmas.
    let z_step = (current - baseline) / noise_floor;
    let step_mad = is_regression(z_step, direction) && z_step.abs() > sigmas;

    // Drift: Theil-Sen on the Hampel-filtered history, Mann-Kendall guard.
    let cutoff = HAMPEL_K * mad_sigma.max(1e-12);
    let keep = |h: &f64| (h - baseline).abs() <= cutoff;
    let kept = hist.iter().filter(|h| keep(h)).count();
    let filtered: &[f64] = if kept < MIN_ROBUST_HISTORY || kept == hist.len() {
        hist
    } else {
        buf.clear();
        buf.extend(hist.iter().copied().filter(keep));
        &buf
    };
    let mk_raw = if filtered.len() == hist.len() {
        kendall_p_sorted(&sorted, dis)
    } else {
        kendall_p(filtered, s)
    };
    s.a = sorted;
    let mk_p = if mk_raw.is_nan() { 1.0 } else { mk_raw };

    let change = safe_change(current, baseline);
    let step_regressed = step_mad && exceeds(change, floor_pct, direction);

    // The rest of the drift test only matters under the Mann-Kendall
    // guard (the residual noise is its only other use).
    let mut drift_regressed = false;
    let drift_noise = if mk_p < MK_ALPHA {
        let mut diffs = std::mem::take(&mut s.b);
        let resid_sigma = residual_sigma(filtered, &mut diffs);
        s.b = diffs;
        py_max3(resid_sigma, 1e-6 * baseline.abs(), 1e-12)
    } else {
        f64::NAN
    };
    if mk_p < MK_ALPHA
        && drift_may_fire(
            filtered,
            baseline,
            drift_noise,
            drift_threshold,
            floor_pct,
            direction,
            s,
        )
    {
        let slope = theil_sen(filtered, s);
        let drift_total = slope * (filtered.len() - 1) as f64;
        let z_drift = drift_total / drift_noise;
        let drift_mad =
            is_regression(z_drift, direction) && z_drift.abs() > drift_threshold && mk_p < MK_ALPHA;
        let drift_change = safe_change(baseline + drift_total, baseline);
        drift_regressed = drift_mad && exceeds(drift_change, floor_pct, direction);
    }
    s.c = buf;

    let test = match (step_regressed, drift_regressed) {
        (true, true) => "step+drift",
        (true, false) => "step",
        _ => "drift",
    };
    let df = (hist.len() - 1) as f64;
    let p_step = t_p_value(z_step, df, bad_side(direction));
    let p_value = (2.0 * p_step.min(mk_p)).min(1.0);
    let mad_band = (
        baseline - sigmas * noise_floor,
        baseline + sigmas * noise_floor,
    );
    let frac = floor_pct / 100.0;
    let pct_band = ordered(baseline * (1.0 - frac), baseline * (1.0 + frac));
    let band = (mad_band.0.min(pct_band.0), mad_band.1.max(pct_band.1));
    verdict(
        step_regressed || drift_regressed,
        test,
        Some(baseline),
        current,
        Some(band),
        Some(p_value),
    )
}

/// `false` only when the Theil-Sen slope of `y` certainly stays inside
/// what the drift test accepts, decided by counting the pairwise slopes
/// below the critical slope (O(n log n)) instead of finding their median.
/// Short series always answer `true` (the exact slope is cheap).
fn drift_may_fire(
    y: &[f64],
    baseline: f64,
    drift_noise: f64,
    drift_threshold: f64,
    floor_pct: f64,
    direction: Direction,
    s: &mut Scratch,
) -> bool {
    let n = y.len();
    let total = n * (n - 1) / 2;
    if total <= 8192 {
        return true;
    }
    let (k_lo, k_hi) = ((total - 1) / 2, total / 2);
    let steps = (n - 1) as f64;
    // The drift fires only beyond both the sigma and the percent limits.
    let s_sigma = drift_threshold.max(0.0) * drift_noise / steps;
    let s_pct = floor_pct * baseline.abs() / 100.0 / steps;
    let s_crit = s_sigma.max(s_pct);
    let scale = y.iter().fold(0.0f64, |m, v| m.max((v - baseline).abs()));
    let margin = 1e-7 * (s_crit.abs() + scale / steps);
    let safe = s_crit - margin;
    if !safe.is_finite() {
        return true;
    }
    // The median slope is below `safe` when more than k_hi slopes are.
    let below_up = |s: &mut Scratch| {
        count_slopes_below(y, baseline, safe, s).is_some_and(|c| c as usize > k_hi)
    };
    // ... and above `-safe` when at most k_lo slopes are below it.
    let above_down = |s: &mut Scratch| {
        count_slopes_below(y, baseline, -safe, s).is_some_and(|c| c as usize <= k_lo)
    };
    match direction {
        Direction::Minimize => !below_up(s),
        Direction::Maximize => !above_down(s),
        Direction::None => !(below_up(s) && above_down(s)),
    }
}

/// The Student-t prediction interval of one new observation.
fn student_t(hist: &[f64], current: f64, q: f64, direction: Direction, s: &mut Scratch) -> Verdict {
    let n = hist.len();
    if n < 2 {
        return not_enough(Some(current));
    }
    let nf = n as f64;
    let mean = np_mean(hist);
    let mut sq = Vec::with_capacity(n);
    sq.extend(hist.iter().map(|v| (v - mean) * (v - mean)));
    let sd = (np_sum(&sq) / (nf - 1.0)).sqrt();
    let sd = py_max3(sd, 1e-6 * mean.abs(), 1e-12);
    let scale = sd * (1.0 + 1.0 / nf).sqrt();
    let tq = t_quantile(q, nf - 1.0, s);
    let p = t_p_value((current - mean) / scale, nf - 1.0, bad_side(direction));
    if !tq.is_finite() {
        // A bad q: no limit, never fires.
        return verdict(false, "t", Some(mean), current, None, Some(p));
    }
    let half = tq * scale;
    let band = ordered(mean - half, mean + half);
    let regressed = outside(current, band, direction);
    verdict(regressed, "t", Some(mean), current, Some(band), Some(p))
}

/// Outside `median ± k IQR`.
fn iqr(hist: &[f64], current: f64, k: f64, direction: Direction, s: &mut Scratch) -> Verdict {
    if hist.len() < MIN_ROBUST_HISTORY {
        return not_enough(Some(current));
    }
    let buf = &mut s.c;
    buf.clear();
    buf.extend_from_slice(hist);
    let med = stats::median(buf);
    let q1 = stats::quantile(buf, 0.25);
    let q3 = stats::quantile(buf, 0.75);
    let spread = py_max3(q3 - q1, 1e-6 * med.abs(), 1e-12);
    let band = ordered(med - k * spread, med + k * spread);
    let regressed = outside(current, band, direction);
    let z = (current - med) / (spread / IQR_TO_SIGMA);
    let p = t_p_value(z, (hist.len() - 1) as f64, bad_side(direction));
    verdict(regressed, "iqr", Some(med), current, Some(band), Some(p))
}
