#!/usr/bin/env bash
# Install every Debian 12 package melodl needs to build, test, benchmark and render audio.
# Usage: bash scripts/install-deps.sh [--minimal]   (--minimal: build + test only)
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
build=(cmake ninja-build g++ clang libclang-rt-14-dev pkg-config git
       libsmf-dev libeigen3-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
       nlohmann-json3-dev libcpp-httplib-dev libfluidsynth-dev fluid-soundfont-gm libjs-three
       zlib1g-dev chromium patchelf libopenmpi-dev openmpi-bin)
extra=(python3-mido python3-torch python3-numpy libopenblas0-pthread)
pkgs=("${build[@]}")
if [ "${1:-}" != "--minimal" ]; then pkgs+=("${extra[@]}"); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "melodl: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "melodl: all Debian packages already installed"
fi
