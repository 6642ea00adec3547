#!/usr/bin/env bash
# Fuzz melodl's MIDI reader with libFuzzer (ASan + UBSan), then replay every known crash input.
# Usage: scripts/fuzz.sh [SECONDS]          (default 60; 0 = only build and replay)
# Env:   FUZZ_BUILD_DIR (default build-fuzz), JOBS (build jobs, default 2),
#        FUZZ_ARGS (extra libFuzzer flags, e.g. "-runs=1000000"), FUZZ_TIMEOUT (seconds one input
#        may take before it counts as a hang, default 20: the reader reads every input in both
#        modes under ASan, and a loaded 2-core machine once took 6 s on a 0.3 s input).
# Seeds: tests/fuzz/seeds/, data/bach and ../shared/corpora (when present), copied into a
# temporary work dir (the repository is never written to). Exits non-zero on any crash,
# leak, timeout or out-of-memory; the offending input is copied to $FUZZ_BUILD_DIR/artifacts/
# and belongs in tests/fuzz/regressions/ once fixed. Details: docs/midi.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-2}

CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMELODL_BUILD_FUZZ=ON -DMELODL_BUILD_TESTS=OFF \
  -DMELODL_BUILD_EXAMPLES=OFF -DMELODL_BUILD_BENCH=OFF -DMELODL_CUDA=OFF >/dev/null
cmake --build "$BUILD_DIR" --target midi_reader_fuzz -j "$JOBS"
FUZZER=$BUILD_DIR/tests/fuzz/midi_reader_fuzz

WORK=$(mktemp -d "${TMPDIR:-/tmp}/melodl-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/corpus" "$WORK/artifacts"
cp tests/fuzz/seeds/* "$WORK/corpus/"
for dir in data/bach ../shared/corpora; do
  [ -d "$dir" ] || continue
  # One cp per batch; same-named files from different folders are kept as name.~N~.
  find "$dir" -type f \( -name '*.mid' -o -name '*.midi' -o -name '*.rmi' \) -size -256k -print0 |
    xargs -0 -r cp --backup=numbered -t "$WORK/corpus/"
done
echo "fuzz.sh: $(ls "$WORK/corpus" | wc -l) seed files, ${SECS}s run"

status=0
if [ "$SECS" -gt 0 ]; then
  # shellcheck disable=SC2086
  "$FUZZER" "$WORK/corpus" -dict=tests/fuzz/midi.dict -max_total_time="$SECS" \
    -rss_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-20}" -max_len=262144 -print_final_stats=1 \
    -artifact_prefix="$WORK/artifacts/" ${FUZZ_ARGS:-} || status=$?
fi

# Replay every input that ever crashed the reader (and the seeds): each must pass.
mapfile -t replay < <(find tests/fuzz/regressions tests/fuzz/seeds -type f ! -name '.*' | sort)
if [ "${#replay[@]}" -gt 0 ]; then
  "$FUZZER" -rss_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-20}" "${replay[@]}" >"$WORK/replay.log" 2>&1 || {
    status=1
    tail -n 40 "$WORK/replay.log"
    echo "fuzz.sh: a file in tests/fuzz/regressions or tests/fuzz/seeds fails" >&2
  }
  echo "fuzz.sh: replayed ${#replay[@]} regression/seed inputs"
fi

if [ "$status" -ne 0 ]; then
  if [ -n "$(ls -A "$WORK/artifacts")" ]; then
    mkdir -p "$BUILD_DIR/artifacts"
    cp "$WORK/artifacts/"* "$BUILD_DIR/artifacts/"
    echo "fuzz.sh: crash inputs copied to $BUILD_DIR/artifacts/ (fix, then add to tests/fuzz/regressions/)" >&2
  fi
  echo "fuzz.sh: FAILED" >&2
  exit 1
fi
echo "fuzz.sh: OK"
