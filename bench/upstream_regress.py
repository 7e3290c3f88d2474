"""Side-by-side anchor: time the upstream (PyPI holobench) regression detector
`bencher.regression.detect_regressions` on the over_time history workload, to compare
with the Rust bench `regress_per_variable_50x50x2_h1000`. Prints one JSON line per figure.

Workload: a 50 x 50 grid (a: 50 floats in [0, 1], b: 50 ints in 0..99), repeat 2, one
float result variable r0 (minimize), over_time of 1000 events; the newest event is the
current run. Values: deterministic noise around a level, 1.0 + 0.01*sin(i*cell) for
event i and flat cell index cell (0..4999). Dataset dims follow upstream's layout
(input vars + [repeat, over_time], over_time last). Built once, untimed.

Upstream calls it as `detect_regressions(bench_res.ds, bench_cfg, run_cfg)` (bencher.py,
after load_history_cache). It takes a plain xarray Dataset; from bench_cfg it reads only
`result_vars`, from run_cfg the `regression_*` settings. So we call it directly with a
real BenchCfg (result_vars=[r0]) and a real BenchRunCfg -- no BenchResult needed.

Figures, each timed REPS times after one untimed warm-up, reported as median and min in ms:

  regress_per_variable_50x50x2_h1000            : regression_method='adaptive' (default;
      regression_mad 3.5, dual-band regression_percentage 10)
  regress_per_variable_percentage_50x50x2_h1000 : regression_method='percentage'
  regress_core_adaptive_50x50x2_h1000           : NOT detect_regressions -- only the part
      the Rust figure covers: the per-event mean over (a, b, repeat) of the history via
      xarray (as _compute_history_arrays does), the current-event mean, and
      detect_adaptive on them (same arguments detect_regressions passes). Skips the flat
      per-sample copies / repeated datetime x-coords / NaN masks kept for plotting.

Run:  ~/.cache/holobench-venv/bin/python bench/upstream_regress.py 2>/dev/null
Env:  REPS=9  EVENTS=1000
"""
import json, os, statistics, tempfile, time
from datetime import datetime, timedelta

import numpy as np
import xarray as xr

work = tempfile.mkdtemp(prefix="anchor_regress_")
os.chdir(work)  # nothing here should write files, but keep any stray cache out of the repo

import logging

from bencher.bench_cfg import BenchCfg, BenchRunCfg
from bencher.regression import detect_regressions
from bencher.variables.inputs import FloatSweep, IntSweep
from bencher.variables.parametrised_sweep import ParametrizedSweep
from bencher.variables.results import OptDir, ResultFloat

logging.disable(logging.CRITICAL)

REPS = int(os.environ.get("REPS", 9))
N_A, N_B, REP = 50, 50, 2
EVENTS = int(os.environ.get("EVENTS", 1000))


def emit(**kw):
    print(json.dumps(kw), flush=True)


class Cfg(ParametrizedSweep):
    a = FloatSweep(default=0, bounds=[0, 1], samples=N_A)
    b = IntSweep(default=0, bounds=[0, 99], samples=N_B)
    r0 = ResultFloat(units="s", direction=OptDir.minimize)


inst = Cfg()
bench_cfg = BenchCfg(input_vars=[inst.param.a, inst.param.b], result_vars=[inst.param.r0],
                     const_vars=[], bench_name="anchor_regress", title="anchor_regress",
                     repeats=REP, over_time=True)

# Dataset: r0[a, b, repeat, over_time], value 1.0 + 0.01*sin(i*cell).
cells = N_A * N_B * REP
cell = np.arange(cells, dtype=float)
ev = np.arange(EVENTS, dtype=float)
vals = 1.0 + 0.01 * np.sin(np.outer(cell, ev))          # (cells, EVENTS)
vals = vals.reshape(N_A, N_B, REP, EVENTS)
times = np.array([np.datetime64(datetime(2024, 1, 1) + timedelta(hours=i)) for i in range(EVENTS)])
ds = xr.Dataset(
    {"r0": (["a", "b", "repeat", "over_time"], vals)},
    coords={"a": np.linspace(0, 1, N_A), "b": np.linspace(0, 99, N_B).round().astype(int),
            "repeat": np.arange(1, REP + 1), "over_time": times},
)


def timed(fn, reps):
    fn()  # untimed warm-up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


INCLUDES = ("detect_regressions(ds, bench_cfg, run_cfg) on an in-memory xr.Dataset "
            "r0[a=50,b=50,repeat=2,over_time={E}]: override/threshold resolution; "
            "current-event isel + _clean_1d + mean; history isel + _clean_1d over "
            "{H} events; _compute_history_arrays (mean over a,b,repeat per event -> {H} "
            "time means, plus flat per-sample history + repeated x coords for plotting); "
            "the {M}; _attach_plot_metadata (NaN mask of the flat history). "
            "No history load/concat, no cache I/O, no report rendering.")

for method, fig in (("adaptive", "regress_per_variable_50x50x2_h{E}"),
                    ("percentage", "regress_per_variable_percentage_50x50x2_h{E}")):
    run_cfg = BenchRunCfg()
    run_cfg.over_time = True
    run_cfg.regression_detection = True
    run_cfg.regression_method = method
    rep = detect_regressions(ds, bench_cfg, run_cfg)
    assert len(rep.results) == 1 and rep.results[0].method == method, rep.results
    r = rep.results[0]
    assert len(r.historical) == EVENTS - 1
    test = ("adaptive test (median+MAD step test, Hampel filter, residual sigma, "
            "scipy theilslopes + kendalltau drift test, 10% dual-band gate)"
            if method == "adaptive" else "percentage test (mean of history time means vs current mean, 10%)")
    ts = timed(lambda: detect_regressions(ds, bench_cfg, run_cfg), REPS)
    emit(figure=fig.format(E=EVENTS), method=method, events=EVENTS, cells=cells, reps=REPS,
         median_ms=statistics.median(ts) * 1e3, min_ms=min(ts) * 1e3,
         regressed=bool(r.regressed), current=r.current_value, baseline=r.baseline_value,
         includes=INCLUDES.format(E=EVENTS, H=EVENTS - 1, M=test))

# Core only: per-event means + adaptive test, without the plotting side arrays.
from bencher.regression import detect_adaptive
da = ds["r0"]
reduce_dims = [d for d in da.dims if d != "over_time"]


def core():
    tm = da.isel(over_time=slice(None, -1)).mean(dim=reduce_dims, skipna=True).values.astype(float)
    cur = np.array([float(da.isel(over_time=-1).mean(skipna=True).values)])
    return detect_adaptive("r0", tm, cur, regression_mad=3.5, direction=OptDir.minimize,
                           historical_samples=None, regression_percentage=10.0)


ts = timed(core, REPS)
emit(figure=f"regress_core_adaptive_50x50x2_h{EVENTS}", method="adaptive", events=EVENTS,
     cells=cells, reps=REPS, median_ms=statistics.median(ts) * 1e3, min_ms=min(ts) * 1e3,
     includes=("NOT detect_regressions: xarray isel + mean over (a,b,repeat) of the 999 "
               "history events -> 999 time means, current-event mean, then detect_adaptive "
               "(median+MAD step test, Hampel filter, residual sigma, scipy theilslopes + "
               "kendalltau, 10% dual-band gate). No flat per-sample history / x-coord "
               "arrays, no _clean_1d of the full history, no plot metadata."))
