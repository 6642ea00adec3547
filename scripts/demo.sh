#!/usr/bin/env bash
# scripts/demo.sh: the melodl demo, from a fresh clone: install the Debian packages,
# build (Ninja, Release, into build/), extract melodies from the bundled Bach corpus,
# render a few of them to MIDI and WAV, and say where everything is.
# Usage: bash scripts/demo.sh [--skip-deps] [--skip-build]
#   BUILD_DIR=build  OUT=out/demo  LIMIT=8  CMAKE_ARGS=...   (environment overrides)
# Each step is a function called from the list at the bottom; later issues add train
# and compose steps there.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
OUT=${OUT:-out/demo}
LIMIT=${LIMIT:-8}
JOBS=${JOBS:-$(nproc)}
SKIP_DEPS=0
SKIP_BUILD=0
for arg in "$@"; do
  case "$arg" in
    --skip-deps) SKIP_DEPS=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done
MELODL="$BUILD_DIR/examples/melodl"

step() { printf '\n== %s\n' "$*"; }

deps() {
  step "Debian packages (scripts/install-deps.sh)"
  if [ "$SKIP_DEPS" = 1 ]; then echo "skipped (--skip-deps)"; return; fi
  bash scripts/install-deps.sh
}

build() {
  step "build into $BUILD_DIR (Ninja, Release)"
  if [ "$SKIP_BUILD" = 1 ] && [ -x "$MELODL" ]; then echo "skipped (--skip-build)"; return; fi
  # shellcheck disable=SC2086
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-}
  cmake --build "$BUILD_DIR" -j "$JOBS" --target melodl
}

extract() {
  step "extract melodies from data/bach"
  "$MELODL" extract data/bach -o "$OUT/melodies.txt" --report "$OUT/report.json"
}

render() {
  step "render the first $LIMIT melodies to MIDI and WAV"
  "$MELODL" render "$OUT/melodies.txt" -o "$OUT/midi" --limit "$LIMIT" --wav
}

summary() {
  step "outputs"
  echo "melodies (one per line, after a provenance comment): $OUT/melodies.txt"
  echo "extraction report (counts, rejections per filter):   $OUT/report.json"
  echo "MIDI and WAV files:                                  $OUT/midi/"
  echo
  echo "Listen with any player, for example:"
  echo "  aplay $OUT/midi/melody-0001.wav"
  echo "  fluidsynth -a pulseaudio -i /usr/share/sounds/sf2/FluidR3_GM.sf2 $OUT/midi/melody-0001.mid"
  echo "  xdg-open $OUT/midi/melody-0001.mid"
}

# The demo, in order. Add steps here (train, compose, ...).
steps=(deps build extract render summary)
for s in "${steps[@]}"; do "$s"; done
