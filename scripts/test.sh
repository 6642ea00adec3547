#!/usr/bin/env bash
# Build melodl and run the whole test suite (ctest). CUDA tests skip without a GPU.
# Usage: bash scripts/test.sh            (build dir: build/, override with BUILD_DIR=...)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 900
