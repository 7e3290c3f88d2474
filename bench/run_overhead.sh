#!/bin/sh
# The cost of `collector run` per job, against a shell loop.
#
#   bench/run_overhead.sh [COLLECTOR] [ROUNDS]
#
# COLLECTOR defaults to $CARGO_TARGET_DIR/release/collector (else
# target/release/collector); build it with `cargo build --release --bin collector`.
# In one sitting, ROUNDS times (default 5), interleaved:
#   - loop: a shell loop starting `env true` 1,000 times (env, so that the shell's
#     builtin `true` is not what is timed);
#   - loop1: the same loop starting the program true by its path: one exec a job, as
#     `collector run` does (env true is two: env, then true);
#   - run1: `collector run` of a 1,000-job sweep of the program `true` (output "none",
#     the built-in wall_time result), 1 thread, in a fresh cache directory;
#   - run2: the same with --threads 2.
# Each collector run is timed whole (process start to exit: opening the cache,
# storing, writing the HTML report) and by its own "ran 1000 jobs in X s" (the jobs).
# Printed: the median of each, the overhead per job beyond the loop's, and the
# throughput of 2 threads against 1 (jobs only, and whole).
set -eu

N=1000
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/collector}
ROUNDS=${2:-5}
if [ ! -x "$BIN" ]; then
    echo "no collector at $BIN: cargo build --release --bin collector (or give its path)" >&2
    exit 2
fi

TRUE=
for d in $(printf '%s' "$PATH" | tr ':' ' '); do
    if [ -x "$d/true" ]; then
        TRUE=$d/true
        break
    fi
done
if [ -z "$TRUE" ]; then
    echo "no program true in PATH" >&2
    exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
cat >"$tmp/true.toml" <<EOF
name = "true"
repeats = $N
[command]
argv = ["true"]
output = "none"
EOF

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One timed `collector run`: appends "whole jobs" seconds to $3.
run_once() {
    threads=$1
    dir="$tmp/cache-$threads-$2"
    t0=$(now)
    out=$("$BIN" --cache-dir "$dir" -q run "$tmp/true.toml" --threads "$threads")
    t1=$(now)
    jobs=$(printf '%s\n' "$out" | sed -n "s/^ran $N jobs in \([0-9.]*\) s (0 failed).*/\1/p")
    if [ -z "$jobs" ]; then
        printf '%s\n' "$out" >&2
        echo "collector run did not run $N jobs without failures" >&2
        exit 1
    fi
    echo "$(secs "$t0" "$t1") $jobs" >>"$3"
    rm -rf "$dir"
}

: >"$tmp/loop"
: >"$tmp/loop1"
: >"$tmp/run1"
: >"$tmp/run2"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    t0=$(now)
    i=0
    while [ "$i" -lt "$N" ]; do
        env true
        i=$((i + 1))
    done
    t1=$(now)
    secs "$t0" "$t1" >>"$tmp/loop"
    echo >>"$tmp/loop"
    t0=$(now)
    i=0
    while [ "$i" -lt "$N" ]; do
        "$TRUE"
        i=$((i + 1))
    done
    t1=$(now)
    secs "$t0" "$t1" >>"$tmp/loop1"
    echo >>"$tmp/loop1"
    run_once 1 "$r" "$tmp/run1"
    run_once 2 "$r" "$tmp/run2"
    r=$((r + 1))
done

loop=$(median <"$tmp/loop")
loop1=$(median <"$tmp/loop1")
w1=$(cut -d' ' -f1 <"$tmp/run1" | median)
j1=$(cut -d' ' -f2 <"$tmp/run1" | median)
w2=$(cut -d' ' -f1 <"$tmp/run2" | median)
j2=$(cut -d' ' -f2 <"$tmp/run2" | median)

awk -v n="$N" -v rounds="$ROUNDS" -v loop="$loop" -v loop1="$loop1" -v truep="$TRUE" -v w1="$w1" -v j1="$j1" -v w2="$w2" -v j2="$j2" 'BEGIN {
    printf "%d jobs of `true`, median of %d rounds (seconds)\n", n, rounds
    printf "  shell loop, env true:           %.3f s  (%.3f ms a start)\n", loop, 1000 * loop / n
    printf "  shell loop, %s:  %.3f s  (%.3f ms a start)\n", truep, loop1, 1000 * loop1 / n
    printf "  collector run, 1 thread:  whole %.3f s, jobs %.3f s  (%.3f ms a job)\n", w1, j1, 1000 * j1 / n
    printf "  collector run, 2 threads: whole %.3f s, jobs %.3f s  (%.3f ms a job)\n", w2, j2, 1000 * j2 / n
    printf "  overhead a job beyond the env true loop, 1 thread: jobs %+.3f ms, whole process %+.3f ms\n", 1000 * (j1 - loop) / n, 1000 * (w1 - loop) / n
    printf "  overhead a job beyond the %s loop, 1 thread: jobs %+.3f ms, whole process %+.3f ms\n", truep, 1000 * (j1 - loop1) / n, 1000 * (w1 - loop1) / n
    printf "  throughput, 2 threads / 1 thread: jobs %.2fx, whole process %.2fx\n", j1 / j2, w1 / w2
}'
