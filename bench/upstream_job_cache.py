"""Side-by-side anchor: time upstream's (PyPI holobench==1.148.0) own sweep of 10,000 jobs
with its per-sample cache on (`cache_samples=True`), cold and then warm, to compare with
our job records (resume) on the same grid. Prints one JSON line per repetition and
figure, then one summary line.

Workload: `bn.ParametrizedSweep` subclass, inputs a (FloatSweep, 100 values in [0, 1]) x
b (IntSweep, 0..=99, 100 values), repeats 1 = 10,000 jobs; a trivial worker
(`benchmark()` sets r0 = a, r1 = float(b), r2 = 1.0 -- 3 float results). Serial executor
(the default). The whole `Bench.plot_sweep(...)` call is timed (perf_counter), with
run_cfg: cache_samples=True, cache_results=False (so upstream's whole-result cache is
not *read* and cannot short-circuit the warm run; note upstream still *writes* the
finished BenchResult into cachedir/benchmark_inputs on every run that samples),
auto_plot=False (no holoviews/panel report), print_bench_inputs/results=False, no
over_time (no history), no server (plot_sweep never serves; only bench.report.show()
would). logging is disabled, as in ../shared/anchor/upstream_sample_cache.py.

How upstream's sample cache works (bencher 1.148.0, job.py / worker_job.py / bencher.py):
  * a diskcache `Cache("cachedir/sample_cache", tag_index=True)` opened RELATIVE TO THE
    CWD when the Bench's first sweep starts (FutureCache.__init__);
  * key per job = hash_sha1((sorted([(name, value) for a, b, repeat ...]), tag)), i.e.
    sha1 of the str() of the inputs + the run tag -- NOT the bench name, worker or
    result vars (two benches with the same input names/values and tag share samples);
  * the run first prefetches every key (one `cache.get` per job), then submits the
    jobs; a hit returns the stored dict without calling the worker; a miss calls the
    worker and `cache.set(key, result_dict, tag=tag)` -- one diskcache write (sqlite
    row + pickle) per job.

Cold = fresh empty temporary working directory (os.chdir), so cachedir/ does not exist
and every sample is computed and written. Warm = a new Bench (as a re-run would make)
doing the same sweep right after, in the same directory: every sample must be a cache
hit. Each is checked: worker calls counted in `benchmark()` (cold must be 10,000, warm
must be 0), `bench_res.n_attempted`, the FutureCache hit counter, the number of entries
in cachedir/sample_cache, and the warm dataset must equal the cold one. One untimed
warm-up (a 10 x 10 sweep, cold + warm, in a throwaway directory) first, so lazy imports
are not charged to the first cold run. Then REPS repetitions of (cold, warm), each in
its own fresh directory; the summary gives the medians. With REF=1 (default) it also
times the same sweep with cache_samples=False, REPS times, for reference.

Run:  ~/.cache/holobench-venv/bin/python bench/upstream_job_cache.py 2>/dev/null
Env:  N_A=100  N_B=100  REPS=3  REF=1
Skips (exit 0) when holobench (module `bencher`) is not importable.
"""
import json, os, shutil, statistics, sys, tempfile, time

try:
    import bencher as bn
    from bencher.launch_env import NO_CACHE_ENV
except ImportError as exc:  # holobench not installed in this interpreter
    print(f"upstream_job_cache: skipped, holobench (module 'bencher') not importable: {exc}")
    sys.exit(0)

import logging

logging.disable(logging.CRITICAL)
# A launcher variable that would silently turn both caches off (bencher.launch_env).
os.environ.pop(NO_CACHE_ENV, None)

N_A = int(os.environ.get("N_A", 100))
N_B = int(os.environ.get("N_B", 100))
REPS = int(os.environ.get("REPS", 3))
REF = os.environ.get("REF", "1") not in ("0", "", "false", "no")
JOBS = N_A * N_B

ORIG_CWD = os.getcwd()


def emit(**kw):
    print(json.dumps(kw), flush=True)


class Trivial(bn.ParametrizedSweep):
    a = bn.FloatSweep(default=0, bounds=[0, 1], samples=N_A)
    b = bn.IntSweep(default=0, bounds=[0, N_B - 1], samples=N_B)
    r0 = bn.ResultFloat(units="s")
    r1 = bn.ResultFloat(units="s")
    r2 = bn.ResultFloat(units="s")

    worker_calls = 0  # class-level: counts every real worker execution

    def benchmark(self):
        Trivial.worker_calls += 1
        self.r0 = self.a
        self.r1 = float(self.b)
        self.r2 = 1.0


def make_run_cfg(cache_samples):
    run_cfg = bn.BenchRunCfg()
    run_cfg.cache_samples = cache_samples
    run_cfg.cache_results = False  # do not read the whole-result cache
    run_cfg.overwrite_sample_cache = False  # read hits (the default, made explicit)
    run_cfg.clear_sample_cache = False
    run_cfg.only_plot = False
    run_cfg.over_time = False
    run_cfg.auto_plot = False
    run_cfg.print_bench_inputs = False
    run_cfg.print_bench_results = False
    run_cfg.print_xarray = False
    run_cfg.print_pandas = False
    run_cfg.repeats = 1
    return run_cfg


def sweep(cache_samples, a=N_A, b=N_B):
    """One timed plot_sweep on a new Bench in the current directory.

    Returns (seconds, worker calls, bench_res, sample-cache hit count)."""
    run_cfg = make_run_cfg(cache_samples)
    bench = Trivial().to_bench(run_cfg)
    inputs = ["a", "b"] if (a, b) == (N_A, N_B) else [
        {"name": "a", "samples": a}, {"name": "b", "samples": b}]
    Trivial.worker_calls = 0
    t0 = time.perf_counter()
    res = bench.plot_sweep(title="upstream_job_cache", input_vars=inputs,
                           result_vars=["r0", "r1", "r2"], run_cfg=run_cfg)
    dt = time.perf_counter() - t0
    sc = bench.sample_cache
    hits = sc.worker_cache_call_count if sc is not None else None
    return dt, Trivial.worker_calls, res, hits


def sample_cache_entries():
    from diskcache import Cache
    path = os.path.join("cachedir", "sample_cache")
    if not os.path.isdir(path):
        return 0
    with Cache(path) as c:
        return len(c)


def fresh_dir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chdir(d)  # upstream opens cachedir/ relative to the cwd
    assert not os.path.exists("cachedir")
    return d


def leave(d):
    os.chdir(ORIG_CWD if os.path.isdir(ORIG_CWD) else "/")
    shutil.rmtree(d, ignore_errors=True)


def same_results(x, y):
    return all(x.ds[v].equals(y.ds[v]) for v in ("r0", "r1", "r2"))


# Untimed warm-up: small sweep, cold + warm, so one-time lazy imports are not timed.
d = fresh_dir("anchor_job_cache_warmup_")
try:
    sweep(True, 10, 10)
    sweep(True, 10, 10)
finally:
    leave(d)

cold_s, warm_s, cold_calls, warm_calls, ref_s = [], [], [], [], []
for rep in range(REPS):
    d = fresh_dir("anchor_job_cache_")
    try:
        assert sample_cache_entries() == 0
        t, calls, res_c, hits = sweep(True)
        entries = sample_cache_entries()
        emit(figure="sample_cache_cold", rep=rep, jobs=JOBS, s=round(t, 4),
             jobs_per_s=round(JOBS / t, 1), worker_calls=calls, n_attempted=res_c.n_attempted,
             cache_hits=hits, sample_cache_entries=entries,
             job_execution_ms=round(res_c.timings.job_execution_ms, 1),
             prefetch_and_result_cache_check_ms=round(res_c.timings.cache_check_ms, 1))
        assert calls == JOBS and hits == 0 and entries == JOBS, (calls, hits, entries)
        cold_s.append(t); cold_calls.append(calls)

        t, calls, res_w, hits = sweep(True)
        emit(figure="sample_cache_warm", rep=rep, jobs=JOBS, s=round(t, 4),
             jobs_per_s=round(JOBS / t, 1), worker_calls=calls, n_attempted=res_w.n_attempted,
             cache_hits=hits, sample_cache_entries=sample_cache_entries(),
             job_execution_ms=round(res_w.timings.job_execution_ms, 1),
             prefetch_and_result_cache_check_ms=round(res_w.timings.cache_check_ms, 1))
        assert calls == 0 and hits == JOBS, (calls, hits)
        assert same_results(res_c, res_w), "warm results differ from cold results"
        warm_s.append(t); warm_calls.append(calls)
    finally:
        leave(d)

if REF:
    for rep in range(REPS):
        d = fresh_dir("anchor_job_cache_ref_")
        try:
            t, calls, _, _ = sweep(False)
            assert calls == JOBS and sample_cache_entries() == 0
            emit(figure="sweep_no_sample_cache", rep=rep, jobs=JOBS, s=round(t, 4),
                 jobs_per_s=round(JOBS / t, 1), worker_calls=calls)
            ref_s.append(t)
        finally:
            leave(d)

cm, wm = statistics.median(cold_s), statistics.median(warm_s)
summary = dict(figure="summary", jobs=JOBS, reps=REPS,
               cold_median_s=round(cm, 4), cold_jobs_per_s=round(JOBS / cm, 1),
               warm_median_s=round(wm, 4), warm_jobs_per_s=round(JOBS / wm, 1),
               worker_calls_cold=cold_calls, worker_calls_warm=warm_calls)
if ref_s:
    rm = statistics.median(ref_s)
    summary.update(no_cache_median_s=round(rm, 4), no_cache_jobs_per_s=round(JOBS / rm, 1))
emit(**summary)
ref_txt = f", no sample cache {rm:.3f} s ({JOBS / rm:,.0f} jobs/s)" if ref_s else ""
print(f"upstream cache_samples {JOBS} jobs: cold {cm:.3f} s ({JOBS / cm:,.0f} jobs/s), "
      f"warm {wm:.3f} s ({JOBS / wm:,.0f} jobs/s), worker calls warm: {max(warm_calls)}"
      f" [median of {REPS}{ref_txt}]", flush=True)
