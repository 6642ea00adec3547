#!/usr/bin/env bash
# bench/compare_torch.sh: melodl vs PyTorch (CPU) on the same LSTM configurations, in one run
# on one machine, so the ratios are fair. For each thread count and configuration it runs
# `melodl bench` (peepholes off and on) and bench/torch_lstm.py (nn.LSTM for peepholes off, a
# hand-written peephole LSTM for on), then prints a table of step times and the ratio
# torch_time / melodl_time (> 1: melodl is faster), plus one-stream sampling rates.
#
# Configurations: the seed size (hidden 200, vocab 60, batch 32, tbptt 50) with 1..4 layers,
# and 2 layers of hidden 512 with batch 64.
#
# Usage: bench/compare_torch.sh [-m MELODL] [-t "2 1"] [-i ITERS] [-o FILE.jsonl] [--quick]
#   -m MELODL   the melodl program (default: $MELODL, else build/examples/melodl)
#   -t THREADS  thread counts to run, space separated (default "2 1")
#   -i ITERS    timed training steps per configuration (default 10; 6 for hidden 512)
#   -o FILE     also keep the raw results, one tab-separated line per run (default: temp file)
#   --quick     only the 2x200 seed configuration, 3 steps (a smoke test)
# Environment: PYTHON (a python3 that can import torch; default: the first of python3,
# /usr/bin/python3 that can). OPENBLAS_NUM_THREADS is forced to 1 for both programs: Debian's
# torch is ~3x slower on 2 cores without it (see bench/torch_lstm.py).
# If `melodl bench` is missing, only the PyTorch half runs and the melodl columns say n/a.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
melodl="${MELODL:-$repo/build/examples/melodl}"
threads="2 1"
iters=10
out=""
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    -m) melodl="$2"; shift 2 ;;
    -t) threads="$2"; shift 2 ;;
    -i) iters="$2"; shift 2 ;;
    -o) out="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare_torch.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

py=""
for cand in "${PYTHON:-}" python3 /usr/bin/python3; do
  if [ -n "$cand" ] && "$cand" -c "import torch" >/dev/null 2>&1; then py="$cand"; break; fi
done
if [ -z "$py" ]; then
  echo "compare_torch.sh: no python3 with torch found (Debian: apt-get install python3-torch" \
       "libopenblas0-pthread; or set PYTHON)" >&2
  exit 1
fi
export OPENBLAS_NUM_THREADS=1

have_melodl=0
if [ -x "$melodl" ] && "$melodl" bench --help >/dev/null 2>&1; then
  have_melodl=1
else
  echo "compare_torch.sh: '$melodl bench' not available; running the PyTorch half only" >&2
fi

# layers hidden vocab batch tbptt iters
if [ "$quick" = 1 ]; then
  configs=("2 200 60 32 50 3")
else
  configs=("1 200 60 32 50 $iters" "2 200 60 32 50 $iters" "3 200 60 32 50 $iters"
           "4 200 60 32 50 $iters" "2 512 60 64 50 $(( iters < 6 ? iters : 6 ))")
fi
results="${out:-$(mktemp "${TMPDIR:-/tmp}/compare_torch.XXXXXX")}"
: > "$results"

echo "# $(date -u +%FT%TZ) $(uname -n), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
     "melodl $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'), $py," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"

for t in $threads; do
  for cfg in "${configs[@]}"; do
    read -r L H V B T N <<< "$cfg"
    for peep in off on; do
      key=$(printf '%s\t' "$t" "$L" "$H" "$V" "$B" "$T" "$peep")
      if [ "$have_melodl" = 1 ]; then
        line=$("$melodl" bench --layers "$L" --hidden "$H" --vocab "$V" --batch "$B" --tbptt "$T" \
                 --peepholes "$peep" --threads "$t" --iters "$N" --sample-streams 1 | grep '^{' | tail -n 1 || true)
        [ -n "$line" ] || line='{}'
        printf 'melodl\t%s%s\n' "$key" "$line" >> "$results"
      fi
      line=$("$py" "$repo/bench/torch_lstm.py" --layers "$L" --hidden "$H" --vocab "$V" \
               --batch "$B" --tbptt "$T" --peepholes "$peep" --threads "$t" --iters "$N" \
               --warmup 2 2>/dev/null | grep '^{' | tail -n 1 || true)
      [ -n "$line" ] || line='{}'
      printf 'torch\t%s%s\n' "$key" "$line" >> "$results"
      echo "# done: threads $t, ${L}x$H, batch $B, peepholes $peep" >&2
    done
  done
done

"$py" - "$results" <<'PY'
import json, sys

# melodl bench's step-time field: the first of these present (seconds if the name ends in _s).
STEP_KEYS = ["step_ms", "train_step_ms", "train_ms", "ms_per_step", "step_s", "train_step_s"]

def step_ms(rec):
    for k in STEP_KEYS:
        if isinstance(rec.get(k), (int, float)):
            return rec[k] * (1e3 if k.endswith("_s") else 1.0)
    return None

rows = {}
for line in open(sys.argv[1]):
    side, t, L, H, V, B, T, peep, js = line.rstrip("\n").split("\t", 8)
    try:
        rec = json.loads(js)
    except ValueError:
        rec = {}
    rows.setdefault((int(t), int(L), int(H), int(V), int(B), int(T), peep), {})[side] = rec

def fmt(x, spec):
    return format(x, spec) if isinstance(x, (int, float)) else "n/a"

head = ("thr", "layers", "H", "B", "T", "peep", "melodl ms", "torch impl", "torch ms",
        "torch cpu ms", "torch/melodl", "melodl smp/s", "torch smp/s", "smp ratio")
print("| " + " | ".join(head) + " |")
print("|" + "|".join("---" for _ in head) + "|")
for (t, L, H, V, B, T, peep), r in rows.items():
    m, tr = r.get("melodl", {}), r.get("torch", {})
    mm, tm = step_ms(m), step_ms(tr)
    ms, ts = m.get("sample_symbols_per_s"), tr.get("sample_symbols_per_s")
    ratio = tm / mm if mm and tm else None
    sratio = ms / ts if isinstance(ms, (int, float)) and ts else None
    print("| " + " | ".join([str(t), str(L), str(H), str(B), str(T), peep, fmt(mm, ".1f"),
                             tr.get("impl", "n/a"), fmt(tm, ".1f"),
                             fmt(tr.get("step_cpu_ms"), ".1f"), fmt(ratio, ".2f"),
                             fmt(ms, ".0f"), fmt(ts, ".0f"), fmt(sratio, ".2f")]) + " |")
print("\nms: median wall time of one training step; torch cpu ms: its process CPU time (all"
      " threads; far above ms * threads means the machine was busy). torch/melodl: PyTorch step"
      " time over melodl step time (> 1: melodl faster); smp ratio: melodl one-stream sampling"
      " rate over PyTorch's. Raw results: " + sys.argv[1])
PY
