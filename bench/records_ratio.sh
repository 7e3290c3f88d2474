#!/usr/bin/env bash
# The store loop with job records against the loop without, run
# alternately N times (default 4) in one sitting; prints each pair and
# its ratio. Usage: bench/records_ratio.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-4}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/result-collector/target}
bin=$(cargo bench -p collector-cache --bench jobs --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "jobs" and m.get("executable"):
        print(m["executable"])')
ms() { # the middle estimate of criterion's time, in ms
  local out
  out=$("$bin" --bench "$1" 2>&1)
  grep -m1 'time:' <<<"$out" |
    python3 -c 'import re,sys
t = re.findall(r"([0-9.]+) (ms|µs|s)\b", sys.stdin.read())[1]
print(float(t[0]) * {"ms": 1, "µs": 1e-3, "s": 1e3}[t[1]])'
}
for _ in $(seq "$n"); do
  with=$(ms 'store_loop_with_job_records_100k$')
  without=$(ms 'store_loop_without_job_records_100k$')
  python3 -c "print(f'with {$with:.2f} ms  without {$without:.2f} ms  ratio {$with/$without:.2f}')"
done
