#!/usr/bin/env bash
# scripts/hardening_repro.sh: runs every reproducer of issue 14 (crafted checkpoints, binary
# garbage, huge networks, long melody lines, hostile flags, SIGTERM during a long checkpoint
# write) under `/usr/bin/time -v` with a timeout, and prints one markdown table row each:
# exit code, first error line, wall time and peak RSS. The acceptance: no crash (exit >= 128
# other than the 130 of a signalled train) and no hang (124), no row above 1 GB unless the
# user asked for a model of that size, every refusal a clear message. Results and how to
# read them: docs/hardening.md.
# Usage: scripts/hardening_repro.sh [--melodl PATH] [--work DIR] [--timeout S] [--quick]
#   --quick leaves out the 50 MB line and the 1.6 GB checkpoint rows (a minute instead of ~5).
# Needs python3; installs Debian's `time` (and python3-crcmod, for speed) when missing.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MELODL=$ROOT/build-cpu/examples/melodl
WORK=${TMPDIR:-/tmp}/melodl-hardening
TIMEOUT=120
QUICK=0
while [ $# -gt 0 ]; do
  case $1 in
    --melodl) MELODL=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "usage: $0 [--melodl PATH] [--work DIR] [--timeout S] [--quick]" >&2; exit 2 ;;
  esac
done
[ -x "$MELODL" ] || { echo "no melodl program at $MELODL (build it, or give --melodl)" >&2; exit 2; }
if [ ! -x /usr/bin/time ]; then apt-get install -y time >/dev/null 2>&1 || {
  echo "/usr/bin/time is missing: apt-get install time" >&2; exit 2; }; fi
PY=python3
if ! python3 -c 'import crcmod' 2>/dev/null; then
  if /usr/bin/python3 -c 'import crcmod' 2>/dev/null; then PY=/usr/bin/python3
  else apt-get install -y python3-crcmod >/dev/null 2>&1 && PY=/usr/bin/python3; fi
fi
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK" || exit 2
M=$MELODL
TABLE=$WORK/table.md

# ---- inputs ----
echo "preparing inputs in $WORK ..." >&2
"$M" extract "$ROOT/data/bach" -o bach.txt -q >/dev/null 2>&1 || { echo "extract failed" >&2; exit 1; }
"$M" train bach.txt --layers 1 --hidden 64 --time-budget 3s --samples-per-epoch 0 -q \
  --run-dir model >/dev/null 2>&1 || { echo "training the small model failed" >&2; exit 1; }
"$M" train bach.txt --layers 1 --hidden 420 --time-budget 2s --samples-per-epoch 0 -q \
  --run-dir big10mb >/dev/null 2>&1 || { echo "training the 10 MB model failed" >&2; exit 1; }
GOOD=$(ls big10mb/checkpoints/ckpt-*.safetensors | tail -1)
$PY "$ROOT/scripts/craft_checkpoint.py" "$GOOD" crafted-vocab.safetensors vocab=1000000
$PY "$ROOT/scripts/craft_checkpoint.py" "$GOOD" crafted-hidden.safetensors hidden=1000000
$PY "$ROOT/scripts/craft_checkpoint.py" "$GOOD" crafted-layers.safetensors layers=100000
$PY "$ROOT/scripts/craft_checkpoint.py" "$GOOD" crafted-all.safetensors vocab=4000000000 \
  layers=4000000000 hidden=4000000000
$PY -c 'import random; r = random.Random(14); open("garbage.bin", "wb").write(bytes(r.getrandbits(8) for _ in range(1 << 20)))'
LENGTHS="50000 200000 1000000"
[ $QUICK = 1 ] || LENGTHS="$LENGTHS 50000000"
for n in $LENGTHS; do $PY "$ROOT/scripts/make_long_line.py" "$n" "long-$n.txt"; done

# ---- rows ----
printf '| # | reproducer | command | exit | first error line | wall s | max RSS MB |\n' >"$TABLE"
printf '|---|---|---|---|---|---|---|\n' >>"$TABLE"
cat "$TABLE"
N=0
emit() {  # what cmd exit err wall rss_kb
  N=$((N + 1))
  local err=${4//|/\\|}
  printf '| %d | %s | `%s` | %s | %s | %s | %d |\n' "$N" "$1" "$2" "$3" "${err:0:150}" "$5" \
    $(($6 / 1024)) | tee -a "$TABLE"
}
first_error() {  # the first line naming an error, else the first line of stderr
  local line
  line=$(grep -m1 -i 'error\|refus\|abandon\|stopped' "$1")
  [ -n "$line" ] || line=$(grep -m1 -v '^\s*$' "$1")
  printf '%s' "$line" | tr -d '\r' | cut -c1-150
}
row() {  # row "what" melodl-args...
  local what=$1; shift
  rm -rf out run
  /usr/bin/time -v -o time.txt timeout -k 5 "$TIMEOUT" "$M" "$@" >stdout.txt 2>stderr.txt
  local rc=$?
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0;
    for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.2f", s}' time.txt)
  rss=$(awk -F': ' '/Maximum resident/ {print $2}' time.txt)
  cat stdout.txt >>stderr.txt
  emit "$what" "melodl $*" "$rc" "$(first_error stderr.txt)" "${wall:-?}" "${rss:-0}"
}
# SIGTERM (once, or twice 0.2 s apart) while the first checkpoint of a 64 x 512 network
# (1.6 GB with Adam's state) is being written; wall = seconds from the last signal to exit.
signal_row() {  # signal_row "what" signals
  local what=$1 signals=$2
  rm -rf run
  local args=(train bach.txt --layers 64 --hidden 512 --batch 4 --window 50 --tbptt 25
    --samples-per-epoch 0 --run-dir run)
  /usr/bin/time -v -o time.txt "$M" "${args[@]}" >stdout.txt 2>stderr.txt &
  local tp=$! pid="" i
  for i in $(seq 1 100); do pid=$(pgrep -P $tp) && break; sleep 0.05; done
  for i in $(seq 1 1200); do ls -a run/checkpoints 2>/dev/null | grep -q '\.tmp-' && break; sleep 0.05; done
  sleep 0.5
  kill -TERM "$pid"
  [ "$signals" = 2 ] && { sleep 0.2; kill -TERM "$pid"; }
  local t0 t1
  t0=$(date +%s.%N)
  while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  t1=$(date +%s.%N)
  wait $tp
  local rc=$?
  local rss left
  rss=$(awk -F': ' '/Maximum resident/ {print $2}' time.txt)
  left=$(ls -a run/checkpoints | grep -c '\.tmp-')
  cat stdout.txt >>stderr.txt
  emit "$what (temp files left: $left)" "melodl ${args[*]}; SIGTERM x$signals" "$rc" \
    "$(grep -m1 'stopped by' stderr.txt)" "$(echo "$t1 - $t0" | bc)" "${rss:-0}"
}

for c in vocab hidden layers all; do
  row "crafted 10 MB checkpoint claiming $c" compose crafted-$c.safetensors --count 1 -o out
done
row "crafted checkpoint, eval" eval crafted-vocab.safetensors --data bach.txt --samples 1
row "1 MB binary garbage" render garbage.bin -o out
row "1 MB binary garbage" match garbage.bin --corpus bach.txt
row "1 MB binary garbage" match bach.txt --corpus garbage.bin
row "1 MB binary garbage" train garbage.bin --time-budget 5s --run-dir run
row "1 MB binary garbage" eval model --data bach.txt --train garbage.bin --samples 1
row "huge network" train bach.txt --hidden 8000 --time-budget 5s --run-dir run
row "huge network" train bach.txt --hidden 65536 --time-budget 5s --run-dir run
for n in $LENGTHS; do
  row "one melody line of $n symbols" render long-$n.txt -o out
  row "one melody line of $n symbols" match long-$n.txt --corpus bach.txt
  # The corpus side is quadratic by nature (every generated melody aligned against it):
  # one row, at 50k symbols, shows its scale.
  [ "$n" = 50000 ] && row "corpus of one $n-symbol line" match bach.txt --corpus long-$n.txt
  row "one melody line of $n symbols" eval model --data long-$n.txt --train bach.txt --samples 1
  row "one melody line of $n symbols" train long-$n.txt --layers 1 --hidden 32 --time-budget 5s \
    --samples-per-epoch 0 --run-dir run
done
for t in 0 -50 nan; do row "tempo $t" compose model --tempo "$t" --count 1 -o out; done
row "program 200" train bach.txt --program 200 --time-budget 2s --run-dir run
row "tbptt 0" train bach.txt --tbptt 0 --time-budget 2s --run-dir run
row "time budget 0" train bach.txt --time-budget 0 --run-dir run
if [ $QUICK = 0 ]; then
  signal_row "64 x 512 network, SIGTERM during the first 1.6 GB checkpoint write" 1
  signal_row "64 x 512 network, second SIGTERM during the first 1.6 GB checkpoint write" 2
fi
echo "table: $TABLE" >&2
