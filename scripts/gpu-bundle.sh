#!/usr/bin/env bash
# scripts/gpu-bundle.sh: build, on this CPU machine, every program a GPU window runs, and pack
# them with the shared libraries the GPU image lacks into one git-ignored folder that travels
# with the device call (docs/gpu-session.md). The GPU machine then only runs
# (scripts/gpu-device.sh); nothing is compiled there unless a program cannot load.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/gpu-bundle.sh [--rehearse] [--no-build] [--build-dir DIR] [--jobs N]
       scripts/gpu-bundle.sh --rehearse-only

Installs the Debian build packages when any is missing (scripts/install-deps.sh --minimal),
builds build-kit/ (Release, CUDA on, sm_90, no audio, warnings as errors) with the CUDA
test programs (kernels_cuda_test, kernels_cudnn_test, lstm_cuda_test), the CUDA benchmark
programs (lstm_layer_cuda_bench, bf16_cuda_bench, lstm_cuda_bench) and the melodl program,
then assembles .gpu-bundle/:
  - the programs, stripped, RUNPATH $ORIGIN;
  - beside them every shared library they load that the GPU image does not hold (libsmf,
    glib, cpp-httplib, OpenSSL, brotli, Google Benchmark), stripped, RUNPATH $ORIGIN;
  - compat/: Debian's libstdc++ and libgcc_s, used there only when the image's libstdc++
    is older than the one the programs were built against;
  - MANIFEST.txt: commit, date, sizes, each program's needed libraries, the newest glibc and
    libstdc++ symbol versions any file needs.
Fails when the bundle exceeds 40 MiB (GPU_BUNDLE_MAX_MIB) or a program needs a library that
is neither carried nor expected on the GPU image (glibc, libstdc++, libgcc_s, libz,
libpcre2-8, the CUDA toolkit's cuBLAS/cuDNN/NCCL).

  --rehearse       after packing, run scripts/gpu-device.sh here (root: unshare -m) with the
                   system's copies of the carried libraries hidden: every program must load
                   from the bundle, report that there is no usable CUDA device and exit as
                   designed. Prints the bundle size and the rehearsal's wall time.
  --rehearse-only  the rehearsal alone, on the bundle already packed
  --no-build       pack what build-kit/ holds
  --build-dir DIR  default build-kit
  --jobs N         build parallelism (default: nproc)
EOF
}

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=build-kit
JOBS=$(nproc)
REHEARSE=0
BUILD_STEP=1
PACK=1
MAX_MIB=${GPU_BUNDLE_MAX_MIB:-40}
DEST=$ROOT/.gpu-bundle
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearse) REHEARSE=1 ;;
    --rehearse-only) REHEARSE=1; BUILD_STEP=0; PACK=0 ;;
    --no-build) BUILD_STEP=0 ;;
    --build-dir) BUILD=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu-bundle: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
die() { echo "gpu-bundle: $*" >&2; exit 1; }

# Programs: target name -> path under the build folder.
declare -A PROGRAM=(
  [kernels_cuda_test]=tests/kernels/kernels_cuda_test
  [kernels_cudnn_test]=tests/kernels/kernels_cudnn_test
  [lstm_cuda_test]=tests/lstm/lstm_cuda_test
  [lstm_layer_cuda_bench]=bench/lstm_layer_cuda_bench
  [bf16_cuda_bench]=bench/bf16_cuda_bench
  [lstm_cuda_bench]=bench/lstm_cuda_bench
  [melodl]=examples/melodl)
# Libraries the GPU image is expected to hold (sonames, as regular expressions): glibc's,
# the C++ runtime (Debian's copy travels in compat/ for older images), zlib and pcre2 (both
# "required" packages of every Ubuntu/Debian image), and the CUDA toolkit's (found there in
# /usr/local/cuda or pip's nvidia packages by gpu-device.sh). Everything else travels.
IMAGE_LIBS='^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libresolv|libstdc\+\+|libgcc_s|libz|libpcre2-8|libcuda|libcublas|libcublasLt|libcudnn[a-z_]*|libnccl|libnvrtc[a-z_-]*)\.so'

need() { command -v "$1" >/dev/null || die "$1 not found (bash scripts/install-deps.sh installs it)"; }

build() {
  bash "$ROOT/scripts/install-deps.sh" --minimal
  need cmake; need ninja; need patchelf
  [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null || die "nvcc not found: the bundle needs the CUDA toolkit"
  local t0=$(date +%s)
  # x86-64-v3: the bundle runs on the GPU machine's CPU, which may lack this machine's AVX-512.
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMELODL_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DMELODL_AUDIO=OFF -DMELODL_WARNINGS_AS_ERRORS=ON \
    -DMELODL_LSTM_ARCH=x86-64-v3 >/dev/null
  local targets=() t all
  # The target list is read whole first: `ninja | grep -q` would end ninja with SIGPIPE at
  # the first match, which pipefail reports as a failure.
  all=$(ninja -C "$BUILD" -t targets all 2>/dev/null || true)
  for t in "${!PROGRAM[@]}"; do
    if grep -q "^$t:" <<<"$all"; then
      targets+=("$t")
    else
      echo "gpu-bundle: note: no target $t in this configuration (kernels_cudnn_test needs cuDNN)"
    fi
  done
  cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"
  echo "gpu-bundle: built ${#targets[@]} programs in $(($(date +%s) - t0)) s"
}

# newest VERSIONED symbol a file needs from a family (GLIBC, GLIBCXX): e.g. 2.34
newest() { objdump -T "$2" 2>/dev/null | grep -o "$1_[0-9][0-9.]*" | sed "s/^$1_//" | sort -uV | tail -1 || true; }

pack() {
  need patchelf; need strip; need objdump
  local new=$DEST.new
  rm -rf "$new"
  mkdir -p "$new/compat"
  local name path lib soname real
  declare -A carried=()
  declare -A expected=()
  local manifest=$new/MANIFEST.txt
  {
    echo "melodl GPU bundle"
    echo "commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "built: $(date -u +%FT%TZ) on $(grep PRETTY_NAME /etc/os-release | cut -d'"' -f2), $(ldd --version | head -1)"
    echo "nvcc: $( (/usr/local/cuda/bin/nvcc --version || nvcc --version) 2>/dev/null | grep -o 'release [0-9.]*')  archs: $(grep '^CMAKE_CUDA_ARCHITECTURES:' "$BUILD/CMakeCache.txt" | cut -d= -f2)"
  } >"$manifest"
  for name in $(printf '%s\n' "${!PROGRAM[@]}" | sort); do
    path=$BUILD/${PROGRAM[$name]}
    if [ ! -x "$path" ]; then
      # Only the cuDNN comparison is optional (it needs cuDNN where the bundle is built).
      [ "$name" = kernels_cudnn_test ] || die "$name was not built ($path)"
      echo "program: $name: NOT BUILT (no cuDNN here)" >>"$manifest"
      continue
    fi
    cp "$path" "$new/$name"
    strip --strip-unneeded "$new/$name"
    patchelf --set-rpath '$ORIGIN' "$new/$name"
    local needed=()
    while read -r lib _ real _; do
      [ "$real" != "not" ] || die "$name: $lib not found here"
      if [[ "$lib" =~ $IMAGE_LIBS ]]; then
        expected[$lib]=1
      elif [ -z "${carried[$lib]:-}" ]; then
        cp -L "$real" "$new/$lib"
        chmod u+w "$new/$lib"
        strip --strip-unneeded "$new/$lib"
        patchelf --set-rpath '$ORIGIN' "$new/$lib"
        carried[$lib]=1
      fi
      needed+=("$lib")
    done < <(ldd "$path" | awk '/=>/ { print $1, $2, $3, $4 }')
    echo "program: $name ($(stat -c %s "$new/$name") bytes): ${needed[*]}" >>"$manifest"
  done
  for lib in libstdc++.so.6 libgcc_s.so.1; do
    real=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ && !f { print $NF; f = 1 }')
    [ -n "$real" ] || die "$lib not found here"
    cp -L "$real" "$new/compat/$lib"
    strip --strip-unneeded "$new/compat/$lib"
  done
  # The newest symbol versions needed: by the programs and carried libraries (what the image
  # must offer), and by compat/ (only loaded where the image's libstdc++ is older).
  local glibc="0" glibcxx="0" compat_glibc="0" v f
  for f in "$new"/*; do
    [ -f "$f" ] && [ "$f" != "$manifest" ] || continue
    v=$(newest GLIBC "$f"); [ -z "$v" ] || glibc=$(printf '%s\n%s\n' "$glibc" "$v" | sort -V | tail -1)
    v=$(newest GLIBCXX "$f"); [ -z "$v" ] || glibcxx=$(printf '%s\n%s\n' "$glibcxx" "$v" | sort -V | tail -1)
  done
  for f in "$new"/compat/*; do
    v=$(newest GLIBC "$f"); [ -z "$v" ] || compat_glibc=$(printf '%s\n%s\n' "$compat_glibc" "$v" | sort -V | tail -1)
  done
  {
    echo "carried: $(printf '%s ' "${!carried[@]}" | tr ' ' '\n' | sort | paste -sd' ')"
    echo "expected on the GPU image: $(printf '%s ' "${!expected[@]}" | tr ' ' '\n' | sort | paste -sd' ')"
    echo "compat (only if the image's libstdc++ lacks GLIBCXX_$glibcxx): libstdc++.so.6 libgcc_s.so.1, need GLIBC_$compat_glibc"
    echo "needs: GLIBC_$glibc GLIBCXX_$glibcxx"
  } >>"$manifest"
  echo "$glibc" >"$new/.needs-glibc"
  echo "$glibcxx" >"$new/.needs-glibcxx"
  local bytes
  bytes=$(du -sb "$new" | cut -f1)
  echo "size: $bytes bytes ($((bytes / 1024)) KiB; limit ${MAX_MIB} MiB)" >>"$manifest"
  rm -rf "$DEST"
  mv "$new" "$DEST"
  cat "$DEST/MANIFEST.txt"
  [ "$bytes" -le $((MAX_MIB * 1024 * 1024)) ] || die "bundle is $((bytes / 1024)) KiB, over ${MAX_MIB} MiB"
}

# The rehearsal: gpu-device.sh here, in a private mount namespace where the system's copies
# of the carried libraries are hidden (/dev/null bound over them), so each program can load
# only what the bundle holds, as on the GPU image.
rehearse() {
  [ "$(id -u)" -eq 0 ] || die "--rehearse needs root (unshare -m, mount --bind)"
  [ -f "$DEST/MANIFEST.txt" ] || die "no bundle in $DEST: run scripts/gpu-bundle.sh first"
  local out=${GPU_REHEARSE_OUT:-/tmp/melodl-rehearsal}
  rm -rf "$out"
  mkdir -p "$out"
  local t0=$(date +%s) rc=0
  GPU_DEVICE_REHEARSAL=1 unshare -m bash -c '
    set -e
    hidden=0
    for f in "$2"/*.so*; do
      n=$(basename "$f")
      for d in /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/local/lib; do
        if [ -e "$d/$n" ]; then mount --bind /dev/null "$(readlink -f "$d/$n")"; hidden=$((hidden + 1)); fi
      done
    done
    echo "rehearsal: $hidden system copies of carried libraries hidden"
    # The programs alone (RUNPATH $ORIGIN, no LD_LIBRARY_PATH) must find every carried library.
    for p in "$2"/*; do
      [ -x "$p" ] && [ -f "$p" ] || continue
      if env -u LD_LIBRARY_PATH ldd "$p" | grep "not found" | grep -vE "libcu|libnccl"; then
        echo "rehearsal: $(basename "$p") does not load from the bundle alone"; exit 3
      fi
    done
    exec bash scripts/gpu-device.sh "$1"' _ "$out" "$DEST" >"$out.log" 2>&1 || rc=$?
  local dt=$(($(date +%s) - t0))
  cat "$out.log"
  echo "gpu-bundle: rehearsal exit $rc in ${dt} s; bundle $(du -sk "$DEST" | cut -f1) KiB; files back: $(ls "$out" | wc -l) ($(ls "$out" | paste -sd' '))"
  [ "$rc" -eq 0 ] || die "rehearsal failed (exit $rc): see above"
  # gpu-device.sh checks the loads itself (stage preflight); here also the designed outcome.
  grep -q 'no usable CUDA device' "$out.log" || die "rehearsal: no program reported 'no usable CUDA device'"
  ! grep -q 'error while loading shared libraries' "$out.log" || die "rehearsal: a program could not load"
  [ "$(ls "$out" | wc -l)" -le 8 ] || die "rehearsal: more than 8 files in the output folder"
}

if [ "$BUILD_STEP" -eq 1 ]; then build; fi
if [ "$PACK" -eq 1 ]; then pack; fi
if [ "$REHEARSE" -eq 1 ]; then rehearse; fi
