#!/usr/bin/env bash
# scripts/style_experiment.sh: issue 15 point 4, the style-conditioning experiment. For each
# corpus of ../shared/corpora (bach, beethoven, carulli, mendelssohn, mozart, nottingham; the
# Beatles are left out: in copyright) every 10th MIDI file (sorted by path) is held out as
# the test set; the rest trains. It trains one model per corpus and one style-conditioned model
# on all of them (same network, same flags, early stopping on each run's own validation
# split), then scores every model on every corpus's held-out files (`melodl eval`, bits/note;
# the styled model with `--style` of that corpus) and composes samples from the styled model
# in each style for `melodl classify` (an n-gram classifier trained on the corpora's training
# files). Results: docs/results.md "Style conditioning".
# Every run: --epochs 30, --time-budget 10m, --patience 3, seed 1, the default network.
# Usage: scripts/style_experiment.sh [--melodl PATH] [--work DIR] [--epochs N] [--samples N]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MELODL=$ROOT/build/examples/melodl
WORK=${TMPDIR:-/tmp}/melodl-styles
EPOCHS=30
BUDGET=10m   # per run, on top of --epochs and early stopping
MAX_FILES=500
SAMPLES=24
CORPORA=${CORPORA:-"bach beethoven carulli mendelssohn mozart nottingham"}
SHARED=${SHARED:-$ROOT/../shared/corpora}
while [ $# -gt 0 ]; do
  case $1 in
    --melodl) MELODL=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --samples) SAMPLES=$2; shift 2 ;;
    *) echo "usage: $0 [--melodl PATH] [--work DIR] [--epochs N] [--samples N]" >&2; exit 2 ;;
  esac
done
[ -x "$MELODL" ] || { echo "no melodl at $MELODL" >&2; exit 2; }
mkdir -p "$WORK"; cd "$WORK"
FLAGS=(--epochs "$EPOCHS" --time-budget "$BUDGET" --patience 3 --seed 1 --samples-per-epoch 0 -q)
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
# shellcheck source=lib/heldout.sh
. "$ROOT/scripts/lib/heldout.sh"

# 1. Held-out files: every 10th MIDI file of each corpus, by sorted path (scripts/lib/heldout.sh).
# A corpus of more than MAX_FILES files (Nottingham: 3,089) is thinned to every k-th file
# first, so that no corpus outweighs the others (and a run stays within minutes on 2 cores).
# Note: Nottingham's folder holds each tune three times (MIDI/, MIDI/melody/, MIDI/chords/), so
# a held-out file may be another rendering of a training tune; scripts/train_models.sh uses
# MIDI/melody/ alone (docs/results.md says what this means for the numbers).
for c in $CORPORA; do
  split_heldout "$MELODL" "$SHARED/$c" "$c" "$MAX_FILES" | while read -r line; do log "$line"; done
done

# 2. One model per corpus, and the style-conditioned model on all of them.
STYLES=()
for c in $CORPORA; do
  STYLES+=(--style "$c=data/$c-train.txt")
  [ -f "runs/single-$c.done" ] && continue
  rm -rf "runs/single-$c"
  log "training single-$c"
  "$MELODL" train "data/$c-train.txt" --run-dir "runs/single-$c" "${FLAGS[@]}"
  touch "runs/single-$c.done"
done
if [ ! -f runs/styled.done ]; then
  rm -rf runs/styled
  log "training styled"
  "$MELODL" train "${STYLES[@]}" --run-dir runs/styled "${FLAGS[@]}"
  touch runs/styled.done
fi

# 3. Held-out bits/note, and samples of the styled model in each style.
: > results.tsv
score() {  # "bits/note of the model, of the best n-gram", or "n/a n/a" when eval refused
  python3 -c 'import json,sys
try:
    d = json.load(sys.stdin); print(d["model"]["bits_per_note"], d["ngram"][d["best_ngram"]-1]["bits_per_note"])
except ValueError:
    print("n/a n/a")'
}
for c in $CORPORA; do
  # A single-corpus model knows only its training files' symbols: a held-out file with another
  # symbol cannot be scored by it (eval says which); the row then says n/a.
  read -r single _ < <("$MELODL" eval "runs/single-$c" --data "data/$c-test.txt" \
                        --train "data/$c-train.txt" --samples 1 --json 2>"eval-single-$c.err" | score)
  read -r styled ngram < <("$MELODL" eval runs/styled --style "$c" --data "data/$c-test.txt" \
                            --train "data/$c-train.txt" --samples 1 --json | score)
  printf '%s\t%s\t%s\t%s\n' "$c" "$single" "$styled" "$ngram" >> results.tsv
  rm -rf "samples/$c"
  "$MELODL" compose runs/styled --style "$c" --count "$SAMPLES" --seed 7 -o "samples/$c" -q
  log "$c: single $single, styled $styled, best n-gram $ngram bits/note"
done
CLASS=()
for c in $CORPORA; do CLASS+=(--corpus "$c=data/$c-train.txt" --samples "$c=samples/$c/compositions.txt"); done
"$MELODL" classify "${CLASS[@]}" | tee confusion.md
# The human baseline: the corpora's own held-out files, classified the same way.
HUMAN=()
for c in $CORPORA; do HUMAN+=(--corpus "$c=data/$c-train.txt" --samples "$c=data/$c-test.txt"); done
"$MELODL" classify "${HUMAN[@]}" | tee confusion-heldout.md
