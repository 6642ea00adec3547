#!/usr/bin/env bash
# Build melodl and run the whole test suite (ctest). CUDA tests skip without a GPU.
# Installs the build/test Debian packages first when any is missing (no-op otherwise).
# Usage: bash scripts/test.sh      (env: BUILD_DIR=build, JOBS=nproc, CMAKE_ARGS=...)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
bash scripts/install-deps.sh --minimal
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 900
