#!/usr/bin/env bash
# The melodl demo, from a fresh clone to music you can play: install the Debian packages,
# build, compose 8 melodies with the shipped pretrained Bach model at once (models/bach, no
# training), then extract melodies from the bundled Bach corpus (data/bach), train an LSTM on
# the CPU for a bounded time, compose 8 new melodies to MIDI and WAV, and say where they are.
# Usage: bash scripts/demo.sh [--short] [--no-build] [--out DIR]
#   --short     1-2 minute version (tiny model, 45 s of training; ctest runs it)
#   --no-build  use the melodl program in $MELODL (or build/examples/melodl), skip install
#   --out DIR   where everything goes (default: runs/demo or runs/demo-short)
# Env: BUILD_DIR (default build-cpu), JOBS (default nproc), BUDGET (training time, e.g. 8m).
set -euo pipefail
cd "$(dirname "$0")/.."
short=0
build=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --short) short=1 ;;
    --no-build) build=0 ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$out" ]; then
  if [ $short -eq 1 ]; then out=runs/demo-short; else out=runs/demo; fi
fi
BUILD_DIR=${BUILD_DIR:-build-cpu}
JOBS=${JOBS:-$(nproc)}

if [ $build -eq 1 ]; then
  echo "== 1/6 install the Debian packages (no-op when present)"
  bash scripts/install-deps.sh
  echo "== 2/6 build ($BUILD_DIR, CPU only)"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMELODL_CUDA=OFF \
        -DMELODL_BUILD_TESTS=OFF -DMELODL_BUILD_BENCH=OFF > /dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" --target melodl
  MELODL="$BUILD_DIR/examples/melodl"
fi
MELODL=${MELODL:-build/examples/melodl}
[ -x "$MELODL" ] || { echo "demo.sh: no melodl program at $MELODL (build first, or drop --no-build)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
echo "== 3/6 compose 8 melodies with the shipped Bach model (models/bach.safetensors: no training)"
"$MELODL" compose --model bach --count 8 --length 400 --temperature 0.9 --seed 1 \
  -o "$out/pretrained" --wav
echo "== 4/6 extract melodies from data/bach"
"$MELODL" extract data/bach -o "$out/bach.txt" -q
echo "   $(grep -vc '^//' "$out/bach.txt") melodies in $out/bach.txt"

if [ $short -eq 1 ]; then
  budget=${BUDGET:-45s}
  model=(--layers 1 --hidden 64 --batch 16 --window 200 --tbptt 50 --lr 5e-3)
else
  budget=${BUDGET:-8m}
  # data/bach is small (~52k symbols): on a quiet 2-core machine validation loss is best
  # after ~16-20 epochs (~75 s) and the model then memorises the corpus, so stop at 18
  # epochs (or at the time budget on a slower machine).
  model=(--layers 2 --hidden 192 --batch 16 --window 500 --tbptt 100 --lr 3e-3 --clip 5
         --epochs 18)
fi
echo "== 5/6 train on the CPU (at most $budget) (progress below; Ctrl-C stops with a checkpoint)"
"$MELODL" train "$out/bach.txt" --run-dir "$out/run" --time-budget "$budget" --threads 2 \
  --optimizer adam "${model[@]}" --samples-per-epoch 2 --sample-length 400 --seed 1

echo "== 6/6 compose 8 melodies (MIDI + WAV)"
"$MELODL" compose "$out/run" --count 8 --length 400 --temperature 0.9 --seed 1 \
  -o "$out/compositions" --wav
n_mid=$(ls "$out/compositions"/*.mid | wc -l)
n_wav=$(ls "$out/compositions"/*.wav | wc -l)
[ "$n_mid" -eq 8 ] && [ "$n_wav" -eq 8 ] || { echo "demo.sh: expected 8 MIDI and 8 WAV files, got $n_mid and $n_wav" >&2; exit 1; }
echo
echo "Done. Your new melodies are in $out/compositions/:"
ls "$out/compositions"
echo "and those of the shipped model (trained on 407 Bach files, docs/models.md) in $out/pretrained/."
echo
echo "Listen:  aplay $out/compositions/melody-01.wav       (any audio player opens the .wav files)"
echo "   or:   fluidsynth -a alsa -i /usr/share/sounds/sf2/FluidR3_GM.sf2 $out/compositions/melody-01.mid"
echo "Samples written after each training epoch (hear the model improve): $out/run/samples/"
echo "Are they copies? $MELODL match $out/compositions/compositions.txt --corpus $out/bach.txt"
