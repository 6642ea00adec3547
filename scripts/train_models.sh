#!/usr/bin/env bash
# scripts/train_models.sh: trains the pretrained models shipped in models/ (issue 15 point 5)
# from ../shared/corpora with melodl's own commands, exactly as their model cards say.
# Of each corpus every 10th MIDI file (sorted by path) is held out (scripts/lib/heldout.sh)
# and never trained on; each run splits its own validation files off the rest, keeps its best
# checkpoint and stops early. Then every model is exported without its training state
# (`melodl export`, fp16 when that keeps held-out bits/note within 0.01 of float32) and scored
# on its held-out files; the held-out symbol files go to models/heldout/ for the tests.
#   bach        melodies, ../shared/corpora/bach
#   folk        melodies, ../shared/corpora/nottingham (all 3,089 tunes)
#   composers   melodies in six styles (bach beethoven carulli mendelssohn mozart nottingham;
#               Nottingham thinned to 442 files as in scripts/style_experiment.sh)
#   bach-duets  two-part harmonies, ../shared/corpora/bach
# Usage: scripts/train_models.sh [--melodl PATH] [--work DIR] [--only NAME] [--phase train|export|all]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MELODL=$ROOT/build/examples/melodl
WORK=${TMPDIR:-/tmp}/melodl-models
SHARED=${SHARED:-$ROOT/../shared/corpora}
ONLY=""
PHASE=all
while [ $# -gt 0 ]; do
  case $1 in
    --melodl) MELODL=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --phase) PHASE=$2; shift 2 ;;
    *) echo "usage: $0 [--melodl PATH] [--work DIR] [--only NAME] [--phase train|export|all]" >&2; exit 2 ;;
  esac
done
[ -x "$MELODL" ] || { echo "no melodl at $MELODL" >&2; exit 2; }
MELODL=$(cd "$(dirname "$MELODL")" && pwd)/$(basename "$MELODL")
# shellcheck source=lib/heldout.sh
. "$ROOT/scripts/lib/heldout.sh"
mkdir -p "$WORK"; cd "$WORK"
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
COMMON=(--seed 1 --threads 2 --patience 5 --samples-per-epoch 0 -q)
STYLES="bach beethoven carulli mendelssohn mozart nottingham"

# The training commands, as the model cards give them.
train_one() {
  local name=$1
  [ -f "runs/$name.done" ] && return 0
  rm -rf "runs/$name"
  log "training $name"
  case $name in
    bach)
      "$MELODL" train data/bach-train.txt --dropout 0.25 --weight-decay 0.01 --epochs 60 \
        --run-dir runs/bach "${COMMON[@]}" ;;
    folk)
      "$MELODL" train data/folk-train.txt --dropout 0.25 --weight-decay 0.01 --epochs 60 \
        --run-dir runs/folk "${COMMON[@]}" ;;
    composers)
      local s=() c
      for c in $STYLES; do s+=(--style "$c=data/style-$c-train.txt"); done
      "$MELODL" train "${s[@]}" --dropout 0.25 --weight-decay 0.01 --epochs 60 \
        --run-dir runs/composers "${COMMON[@]}" ;;
    bach-duets)
      "$MELODL" train --harmonies data/duets-train.txt --clip 5 --epochs 40 \
        --run-dir runs/bach-duets "${COMMON[@]}" ;;
  esac
  touch "runs/$name.done"
  log "trained $name"
}

if [ "$PHASE" != export ]; then
  want bach && split_heldout "$MELODL" "$SHARED/bach" bach 100000
  want folk && split_heldout "$MELODL" "$SHARED/nottingham" folk 100000
  if want composers; then
    for c in $STYLES; do split_heldout "$MELODL" "$SHARED/$c" "style-$c" 500; done
  fi
  want bach-duets && EXTRACT_FLAGS=--harmonies split_heldout "$MELODL" "$SHARED/bach" duets 100000
  for m in bach folk composers bach-duets; do want "$m" && train_one "$m"; done
fi
[ "$PHASE" = train ] && exit 0
echo "export phase: see below" >&2
