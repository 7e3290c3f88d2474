"""Side-by-side anchor: time how long upstream (PyPI holobench==1.148.0) takes to READ
BACK an over_time history of H events, to compare with the Rust bench
`history_load_50x50x2_h{H}`. Prints one JSON line per figure.

Workload: the one of `history_append` in ../shared/anchor/upstream_bench.py -- a
50 x 50 grid, repeat 1, 2 float columns (x, y), one over_time entry per event; the
stored history of H events is `xr.concat` of H such slices, stored under one key of
the history diskcache as the record dict upstream writes. H in (1, 10, 100, 1000).

Upstream has no read-only load: `ResultCollector.load_history_cache` always reads the
stored record, concatenates the current run onto it and writes the whole history back.
Its history is ONE pickled record per key (the dataset already holding all H events),
so reading it back is one diskcache get + unpickle, not H reads. Figures, each timed
REPS times after one untimed warm-up, reported as median and min in ms:

  history_load_read   : ResultCollector._load_history_record(NamespacedHistory(cache), key)
                        -- the read path load_history_cache uses: diskcache Cache.__getitem__
                        (sqlite lookup + file read + pickle.loads) + record-shape check.
                        Returns the H-event dataset. No append, no write.
  history_load_concat : xr.concat([ds_old, current], "over_time") alone, in memory (the
                        append step load_history_cache does when result_vars is None, as in
                        upstream_bench.py). Result has H+1 events.
  history_load_read_concat : the two above back to back = load_history_cache minus its
                        write-back (and minus its cheap bookkeeping).
  history_load_full   : ResultCollector.load_history_cache(current, key, clear_history=False)
                        complete: read + concat + write of the (H+1)-event record. The
                        H-event record is re-stored (untimed) before every repetition so
                        each call appends to exactly H events.

Run:  ~/.cache/holobench-venv/bin/python bench/upstream_history_load.py 2>/dev/null
Env:  HISTORY_EVENTS="1,10,100,1000"  REPS=9  FULL_REPS=5
"""
import json, os, shutil, statistics, tempfile, time
from datetime import datetime, timedelta

import numpy as np
import xarray as xr

work = tempfile.mkdtemp(prefix="anchor_history_load_")
os.chdir(work)  # upstream opens its caches relative to the cwd ("cachedir/history")

import logging

from bencher.result_collector import ResultCollector
from bencher.history_transfer import NamespacedHistory

logging.disable(logging.CRITICAL)

HS = [int(h) for h in os.environ.get("HISTORY_EVENTS", "1,10,100,1000").split(",")]
REPS = int(os.environ.get("REPS", 9))
FULL_REPS = int(os.environ.get("FULL_REPS", 5))


def emit(**kw):
    print(json.dumps(kw), flush=True)


# Same slice as upstream_bench.py's history_append workload.
def slice_ds(i):
    ds = xr.Dataset({"x": (["a", "b", "repeat", "over_time"], np.full((50, 50, 1, 1), float(i))),
                     "y": (["a", "b", "repeat", "over_time"], np.full((50, 50, 1, 1), float(i)))},
                    coords={"a": np.arange(50), "b": np.arange(50), "repeat": [1],
                            "over_time": [np.datetime64(datetime(2024, 1, 1) + timedelta(hours=i))]})
    return ds


def timed(fn, reps, before=None):
    """Untimed warm-up, then `reps` timed calls; `before` runs untimed ahead of each."""
    if before:
        before()
    fn()
    ts = []
    for _ in range(reps):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def report(figure, H, ts, includes):
    emit(figure=figure, history_events=H, reps=len(ts),
         median_ms=round(statistics.median(ts) * 1e3, 3), min_ms=round(min(ts) * 1e3, 3),
         includes=includes)


col = ResultCollector()
try:
    for H in HS:
        key = f"hist-{H}"
        hist = xr.concat([slice_ds(i) for i in range(H)], "over_time")  # built once, not timed
        current = slice_ds(H)
        nbytes = sum(v.nbytes for v in hist.data_vars.values())

        def seed():
            col.get_history_cache()[key] = {"format": 1, "dataset": hist, "columns": {}, "retired": {}}

        seed()
        c = NamespacedHistory(col.get_history_cache(), "")  # what load_history_cache wraps
        rec = col._load_history_record(c, key)
        assert rec["dataset"].sizes["over_time"] == H and rec["dataset"].equals(hist)
        ds_old = rec["dataset"]

        ts = timed(lambda: col._load_history_record(c, key), REPS)
        report("history_load_read", H, ts,
               "ResultCollector._load_history_record: diskcache get + unpickle of the stored "
               f"H-event record ({nbytes} bytes of f64); no append, no write")

        ts = timed(lambda: xr.concat([ds_old, current], "over_time"), REPS)
        report("history_load_concat", H, ts,
               "xr.concat([ds_old(H events), current(1 event)], 'over_time') in memory only")

        def read_concat():
            r = col._load_history_record(c, key)
            return xr.concat([r["dataset"], current], "over_time")
        assert read_concat().sizes["over_time"] == H + 1
        ts = timed(read_concat, REPS)
        report("history_load_read_concat", H, ts,
               "_load_history_record + xr.concat with the current event: load_history_cache "
               "without its write-back")

        def full():
            out = col.load_history_cache(current, key, clear_history=False)
            assert out.sizes["over_time"] == H + 1
        ts = timed(full, FULL_REPS, before=seed)
        report("history_load_full", H, ts,
               "ResultCollector.load_history_cache(current, key, clear_history=False), result_vars=None: "
               "read + concat + diskcache write of the (H+1)-event record; H-event record re-stored "
               "untimed before each call")
        del hist, ds_old, rec
        col.get_history_cache().clear()
finally:
    col.close_caches()
    os.chdir("/")
    shutil.rmtree(work, ignore_errors=True)
