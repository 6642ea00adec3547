#!/usr/bin/env bash
# bench/viz_overhead.sh: throughput of `melodl train` with and without the live view
# (--viz, docs/viz.md): the same fixed training (seed, model, data, threads, one epoch)
# run alternately without and with --viz, REPEAT times each; prints training symbols/s of
# every run, the best of each side, and the ratio. The view is on but no browser is
# connected unless you open the printed URL (the snapshots are taken either way).
# Usage: bench/viz_overhead.sh [MELODL] [REPEAT]   (e.g. build/examples/melodl 3)
# Extra flags for both runs (not ones already set below): VIZ_BENCH_FLAGS="--l2 0.001"
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
melodl="${1:-$here/build/examples/melodl}"
repeat="${2:-3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
flags=(train "$here/data/bach" --seed 7 --layers 2 --hidden 128 --batch 16 --window 200
       --tbptt 50 --threads 1 --epochs 1 --valid-fraction 0 --samples-per-epoch 0
       --checkpoint-every 1h --quiet ${VIZ_BENCH_FLAGS:-})
rate() {  # symbols per second of one run directory
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); e=m["epochs"][-1]; print(e["symbols"]/m["timings"]["training_seconds"])' "$1/manifest.json"
}
off=(); on=()
for i in $(seq "$repeat"); do
  "$melodl" "${flags[@]}" --run-dir "$tmp/off$i" >/dev/null
  off+=("$(rate "$tmp/off$i")")
  "$melodl" "${flags[@]}" --run-dir "$tmp/on$i" --viz 0 >/dev/null
  on+=("$(rate "$tmp/on$i")")
  echo "run $i: without --viz ${off[-1]} symbols/s, with --viz ${on[-1]} symbols/s"
done
python3 - "${off[*]}" "${on[*]}" <<'PY'
import sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
b_off, b_on = max(off), max(on)
print(f"best without --viz: {b_off:.0f} symbols/s; best with --viz: {b_on:.0f} symbols/s; "
      f"ratio {b_on / b_off:.4f} ({(1 - b_on / b_off) * 100:+.2f}% overhead)")
PY
