#!/usr/bin/env bash
# Served throughput of two checkouts, alternating (A B, then B A, ...), with benchmarks.serving:
# prints clips/s and the server's CPU ms per request of every run, their medians, B/A and the
# load average (on a shared machine the CPU per request is the steadier figure).
#   bash scripts/ab_serving.sh CHECKOUT_A CHECKOUT_B ROUNDS [benchmarks.serving options...]
set -euo pipefail
a=${1:?usage: ab_serving.sh CHECKOUT_A CHECKOUT_B ROUNDS [options]}
b=${2:?}
rounds=${3:?}
shift 3
py=${PYTHON:-python}
out=$(mktemp -d)
for i in $(seq 1 "$rounds"); do
  order="a b" && [ $((i % 2)) = 0 ] && order="b a"
  for side in $order; do
    dir=$a && [ "$side" = b ] && dir=$b
    (cd "$dir" && PYTHONPATH="$dir" $py -m benchmarks.serving --no-torch "$@" \
      --json-out "$out/$side$i.json" >/dev/null 2>&1)
    $py - "$out/$side$i.json" "$side" "$i" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = next(iter(d["models"].values()))
c = next(iter(m["by_concurrency"].values()))
print(sys.argv[2], sys.argv[3], f"{d['clips_per_s']:.3f} clips/s, server {c['server_cpu_ms']:.1f}"
      f" CPU ms/request, load {[round(x, 1) for x in m['load_avg']]}")
PY
  done
done
$py - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
runs = {s: [json.load(open(f"{out}/{s}{i}.json")) for i in range(1, n + 1)] for s in "ab"}
rate = {s: statistics.median(d["clips_per_s"] for d in runs[s]) for s in "ab"}
cpu = {s: statistics.median(next(iter(next(iter(d["models"].values()))["by_concurrency"].values()))
                            ["server_cpu_ms"] for d in runs[s]) for s in "ab"}
print(f"median clips/s: A {rate['a']:.3f}, B {rate['b']:.3f}; B/A {rate['b'] / rate['a']:.3f}")
print(f"median server CPU ms/request: A {cpu['a']:.1f}, B {cpu['b']:.1f}; B/A {cpu['b'] / cpu['a']:.3f}")
PY
