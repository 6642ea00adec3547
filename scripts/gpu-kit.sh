#!/usr/bin/env bash
# scripts/gpu-kit.sh: the FALLBACK of a GPU window (docs/gpu-session.md): the normal path builds
# here with scripts/gpu-bundle.sh and only runs there with scripts/gpu-device.sh, which calls
# this script to rebuild a program there only when a bundled one cannot load.
# Build and run everything CUDA on a borrowed GPU machine that has nvcc,
# CMake, ninja and python3 (with pip's cuDNN) but none of melodl's C++ dependencies and no
# network. Two halves (docs/gpu-session.md says how a session uses them):
#   fetch  (here, Debian 12 with its mirrors): apt-get download the .debs melodl builds
#          against into .gpu-kit/debs/ (gitignored; travels with the device tool's carry)
#   run    (there, from the repository root): unpack them into /tmp/melodl-deps (never
#          into /), configure and build build-gpu/ (Release, CUDA on, sm_90, no audio),
#          run the selected steps, each under timeout with its own log, and leave a
#          summary, the benchmark JSONs and a tarball of all logs in OUTDIR.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage:
  scripts/gpu-kit.sh fetch [--dry-run]
  scripts/gpu-kit.sh run [OUTDIR] [--steps LIST] [--budget SECONDS] [--jobs N]
                         [--build-dir DIR] [--targets "T1 T2"] [--no-build] [--dry-run]
  scripts/gpu-kit.sh rehearse [OUTDIR] [run's options]
  scripts/gpu-kit.sh --help

fetch   Download the Debian 12 packages of melodl's build dependencies (Eigen, nlohmann-json,
        GoogleTest, Google Benchmark, libsmf + glib, CLI11, cpp-httplib, pkgconf and what
        their pkg-config files need) into .gpu-kit/debs/ and print their total size.
        Runs `apt-get update` only when a package has no download candidate.

run     OUTDIR (default $OUT, else ./gpu-out) receives at most 6 files: summary.txt,
        logs.tar.gz (every step's log, the e2e runs' metrics), bench-kernels.json,
        bench-bf16.json, bench-lstm-cuda.json, bench-lstm-cpu.json. The summary is also
        printed at the end.
  --steps LIST   comma-separated, in this order (default: all):
                   build       configure + build build-gpu/: the programs the other steps
                               run; everything with a ctest step or alone
                   kernels     tests/kernels/kernels_cuda_test (kernels vs their references)
                   cudnn       tests/kernels/kernels_cudnn_test (our layers vs cuDNN)
                   lstm        tests/lstm/lstm_cuda_test (CUDA backend vs CPU backend)
                   bench       the three CUDA benchmark programs, to JSON
                   e2e         melodl train data/bach --device cuda/cpu --epochs 2,
                               melodl bench --device cuda/cpu
                   ctest-cuda  ctest -L cuda
                   ctest-cpu   ctest -L cpu -j (summary only; without train_demo_short,
                               which renders WAV)
                   bench-cpu   lstm_cuda_bench's CPU cases (same shapes), to JSON
                 "info" (nvidia-smi, nvcc, commit) always runs first, and "build" is
                 added to any list (incremental: seconds when build-gpu/ is current).
  --no-build     do not add "build"
  --budget S     stop starting steps so that everything, packing included, ends within S
                 seconds of the start (default 570: the device tool kills a command at 600).
                 A step's timeout is cut to what is left; skipped steps are listed in the
                 summary with the --steps to pass next time.
  --jobs N       build and ctest -L cpu parallelism (default: nproc)
  --build-dir D  build folder inside the repository (default build-gpu: ignored by git, so
                 it stays on a warm device machine between calls and the build resumes)
  --targets "…"  build only these targets (default: what the steps run)
  --dry-run      print the commands instead of running them

rehearse  `run` here (root, Debian), in a private mount namespace where the system's copies
        of the kit's packages are hidden, so the build can use only the unpacked ones. E.g.
        scripts/gpu-kit.sh rehearse /tmp/kit-out --build-dir build-kit-gpu --jobs 2 \
          --steps kernels --targets "melodl kernels_cuda_test" --budget 3000

Environment: CUDNN_ROOT (else found through python3's nvidia.cudnn package),
GPU_KIT_COMMIT (recorded when the tree has no .git), GPU_KIT_CMAKE_ARGS (extra configure
arguments), MELODL_DEPS (unpack folder, default /tmp/melodl-deps), BENCH_MIN_TIME (default 0.1),
GPU_KIT_BUILD_TIMEOUT (seconds, default 480), GPU_KIT_STRICT=1 (the unpacked /usr/include
only where a target links the package).
EOF
}

cd "$(dirname "$0")/.."
ROOT=$(pwd)
KIT=$ROOT/.gpu-kit
DEBS=$KIT/debs
DEPS=${MELODL_DEPS:-/tmp/melodl-deps}
MULTIARCH=x86_64-linux-gnu
DRY=0

# The build dependencies, by what needs them. (a) the LSTM core, CUDA tests and benchmarks;
# (b) the music modules and the melodl program (audio off: no fluidsynth). Headers whose
# .pc files another .pc names (Requires.private) must be there for `pkg-config --cflags`.
PKGS_CORE=(libeigen3-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev libbenchmark1debian)
PKGS_MUSIC=(libsmf-dev libsmf0
            libglib2.0-dev libglib2.0-0 libpcre2-dev      # smf.pc -> glib-2.0.pc -> libpcre2-8.pc
            libcli11-dev
            libcpp-httplib-dev libcpp-httplib0.11         # compiled library in Debian
            libssl-dev libssl3 zlib1g-dev libbrotli-dev libbrotli1  # httplib.h includes them
            pkgconf pkgconf-bin libpkgconf3)               # pkg-config itself

die() {
  echo "gpu-kit: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------
fetch() {
  command -v apt-get >/dev/null || die "fetch needs apt-get (Debian 12)"
  local pkgs=("${PKGS_CORE[@]}" "${PKGS_MUSIC[@]}")
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local missing=0 p
  for p in "${pkgs[@]}"; do
    apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]' || missing=1
  done
  if [ "$DRY" -eq 1 ]; then
    [ "$missing" -eq 0 ] || echo "+ $sudo apt-get update"
    echo "+ cd $DEBS && apt-get download ${pkgs[*]}"
    return
  fi
  if [ "$missing" -eq 1 ]; then
    echo "gpu-kit: some packages have no candidate: apt-get update"
    $sudo apt-get update -qq
  fi
  rm -rf "$DEBS.new"
  mkdir -p "$DEBS.new"
  (cd "$DEBS.new" && apt-get download "${pkgs[@]}" 2>&1) | grep -v '^W: Download is performed unsandboxed' || true
  local n
  n=$(find "$DEBS.new" -name '*.deb' | wc -l)
  [ "$n" -eq "${#pkgs[@]}" ] || die "downloaded $n of ${#pkgs[@]} packages into $DEBS.new"
  rm -rf "$DEBS"
  mv "$DEBS.new" "$DEBS"
  (cd "$DEBS" && for f in *.deb; do
     dpkg-deb -f "$f" Package Version | paste -sd' '
   done) >"$DEBS/MANIFEST"
  cat "$DEBS/MANIFEST"
  local kit_bytes tree_bytes
  kit_bytes=$(du -cb "$DEBS"/*.deb | tail -1 | cut -f1)
  tree_bytes=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null |
    tail -1 | cut -f1)
  echo "gpu-kit: ${#pkgs[@]} packages, $((kit_bytes / 1024)) KiB in $DEBS"
  echo "gpu-kit: working tree $((tree_bytes / 1024)) KiB; with the kit $(((kit_bytes + tree_bytes) / 1024)) KiB (device tool limit: 65536 KiB)"
  [ $((kit_bytes + tree_bytes)) -lt $((60 * 1024 * 1024)) ] ||
    die "kit + working tree exceed 60 MiB: the device tool would refuse the call"
}

# ---------------------------------------------------------------------------------------
# run: helpers
START=$(date +%s)
BUDGET=570
declare -a STEP_ORDER=(build kernels cudnn lstm bench e2e ctest-cuda ctest-cpu bench-cpu)
declare -A STEP_TIMEOUT=([build]=${GPU_KIT_BUILD_TIMEOUT:-480} [kernels]=240 [cudnn]=120 [lstm]=240 [bench]=300
                         [e2e]=300 [ctest-cuda]=420 [ctest-cpu]=420 [bench-cpu]=300)
declare -a SUMMARY_LINES=()
declare -a SKIPPED=()
PACK_RESERVE=20

elapsed() { echo $(($(date +%s) - START)); }

# step NAME TIMEOUT LOG CMD...: runs CMD under timeout, output to LOG, never fails the script.
# Sets STEP_RC. In dry-run mode only prints the command.
step_cmd() {
  local timeout_s=$1 log=$2
  shift 2
  if [ "$DRY" -eq 1 ]; then
    echo "+ timeout $timeout_s $* > $log"
    STEP_RC=0
    return
  fi
  local shown=("$@")
  if [ "$1" = env ]; then  # log the command without the environment it runs in
    shown=()
    local a
    for a in "${@:2}"; do [[ "$a" == *=* && ${#shown[@]} -eq 0 ]] || shown+=("$a"); done
  fi
  echo "+ ${shown[*]}" >>"$log"
  set +e
  timeout -k 10 "$timeout_s" "$@" >>"$log" 2>&1
  STEP_RC=$?
  set -e
  [ "$STEP_RC" -ne 124 ] && [ "$STEP_RC" -ne 137 ] || echo "gpu-kit: TIMED OUT after ${timeout_s}s" >>"$log"
}

# Runtime environment of the programs we built: the kit's shared libraries (libsmf, glib,
# cpp-httplib, benchmark) when the machine lacks them. Only the steps that run our programs
# get it, not the build tools.
# PATH and CMAKE_PREFIX_PATH: ctest's lstm_find_package configures a project against the
# installed melodl, which finds Eigen and pkg-config's smf again.
with_libs=(env "LD_LIBRARY_PATH=$DEPS/usr/lib/$MULTIARCH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
           "PATH=$DEPS/bin:$PATH" "CMAKE_PREFIX_PATH=$DEPS/usr")

unpack() {
  if ! ls "$DEBS"/*.deb >/dev/null 2>&1; then
    die "no .debs in $DEBS: run 'scripts/gpu-kit.sh fetch' on Debian 12, then carry .gpu-kit"
  fi
  if [ "$DRY" -eq 1 ]; then
    echo "+ for f in $DEBS/*.deb; do dpkg-deb -x \$f $DEPS; done"
    return
  fi
  if [ -f "$DEPS/.kit-manifest" ] && cmp -s "$DEPS/.kit-manifest" "$DEBS/MANIFEST"; then
    return  # already unpacked by an earlier call on this machine
  fi
  rm -rf "$DEPS"
  mkdir -p "$DEPS"
  local f
  for f in "$DEBS"/*.deb; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$f" "$DEPS"
    else  # no dpkg: a .deb is an ar archive holding data.tar.*
      local member
      member=$(ar t "$f" | grep '^data\.tar')
      ar p "$f" "$member" | tar -x -a -f - -C "$DEPS" 2>/dev/null ||
        ar p "$f" "$member" | tar -xJ -C "$DEPS"
    fi
  done
  # Absolute symbolic links point into / : point them into the unpacked tree where their
  # target is there (zlib1g-dev's libz.so keeps pointing at the system's libz).
  local link target
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    [ ! -e "$DEPS$target" ] || ln -sfn "$DEPS$target" "$link"
  done < <(find "$DEPS" -type l -lname '/*' -not -lname "$DEPS/*" -print0)
  # pkg-config: the kit's pkgconf, reading only the kit's .pc files, whose prefix=/usr is
  # mapped into the unpacked tree by the sysroot.
  mkdir -p "$DEPS/bin"
  cat >"$DEPS/bin/pkg-config" <<EOF
#!/bin/sh
# Written by scripts/gpu-kit.sh: pkgconf over the unpacked Debian packages in $DEPS.
export PKG_CONFIG_LIBDIR="$DEPS/usr/lib/$MULTIARCH/pkgconfig:$DEPS/usr/lib/pkgconfig:$DEPS/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$DEPS"
export LD_LIBRARY_PATH="$DEPS/usr/lib/$MULTIARCH\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$DEPS/usr/bin/pkgconf" "\$@"
EOF
  chmod +x "$DEPS/bin/pkg-config"
  # The package's own pkg-config names (links to pkgconf) become the wrapper too: CMake
  # looks in <prefix>/bin before PATH when CMAKE_PREFIX_PATH is the unpacked /usr.
  local name
  for name in pkg-config $MULTIARCH-pkg-config $MULTIARCH-pkgconf; do
    rm -f "$DEPS/usr/bin/$name"
    cp "$DEPS/bin/pkg-config" "$DEPS/usr/bin/$name"
  done
  cp "$DEBS/MANIFEST" "$DEPS/.kit-manifest"
}

find_cudnn_root() {
  if [ -n "${CUDNN_ROOT:-}" ]; then
    echo "$CUDNN_ROOT"
    return
  fi
  command -v python3 >/dev/null || return 0
  python3 - <<'EOF' 2>/dev/null || true
import glob, importlib.util, os
try:
    spec = importlib.util.find_spec("nvidia")
except Exception:
    spec = None
roots = list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []
for r in roots:
    hits = sorted(glob.glob(os.path.join(r, "**", "include", "cudnn.h"), recursive=True))
    if hits:
        print(os.path.dirname(os.path.dirname(hits[0])))
        break
EOF
}

# summarize NAME LOG: the lines of LOG worth reading in the summary.
summarize() {
  local name=$1 log=$2 re
  [ -f "$log" ] || return 0
  case "$name" in
    build) re='FAILED:|error:|Error|CMake Warning|ninja: build stopped|cuDNN|fluidsynth|TIMED OUT' ;;
    kernels | cudnn | lstm) re='\[  (PASSED|FAILED|SKIPPED) |Failure|Expected|Which is|TIMED OUT|not built' ;;
    bench*)
      grep -E '^\+ |TIMED OUT|no time left|not built' "$log" | cut -c1-200 || true
      awk '/ERROR OCCURRED/ { e++; if (!first) first = $0 }
           /[0-9.]+ (ns|us|ms|s) +[0-9.]+ (ns|us|ms|s) +[0-9]+/ { n++ }
           END { printf "  %d benchmarks measured, %d errors\n", n, e
                 if (first) print "  first error: " substr(first, 1, 250) }' "$log"
      return 0
      ;;
    e2e) re='^\+ |^epoch|^melodl|^\{|error|TIMED OUT|no time left' ;;
    ctest-*) re='excluded|tests passed|tests failed|following tests|Failed|Timeout|Not Run|SEGFAULT|Exception|TIMED OUT' ;;
    *) re='error|TIMED OUT' ;;
  esac
  grep -E "$re" "$log" | cut -c1-250 | head -n 40 || true
  echo "  --- last lines of $name.log:"
  tail -n 4 "$log" | cut -c1-250 | sed 's/^/  /'
}

run_step() {
  local name=$1 fn=$2
  local left=$((BUDGET - $(elapsed) - PACK_RESERVE))
  local t=${STEP_TIMEOUT[$name]}
  [ "$t" -le "$left" ] || t=$left
  if [ "$t" -lt 30 ]; then
    SKIPPED+=("$name")
    SUMMARY_LINES+=("== $name: SKIPPED (out of time: ${left}s left of the ${BUDGET}s budget)")
    return
  fi
  local log=$LOGDIR/$name.log
  local t0
  t0=$(date +%s)
  echo "gpu-kit: step $name (timeout ${t}s, $(elapsed)s elapsed)"
  STEP_RC=0
  "$fn" "$t" "$log"
  local dt=$(($(date +%s) - t0))
  SUMMARY_LINES+=("== $name: rc=$STEP_RC (${dt}s, timeout ${t}s) log: $name.log")
  if [ "$DRY" -eq 0 ]; then
    SUMMARY_LINES+=("$(summarize "$name" "$log")")
  fi
}

# ---------------------------------------------------------------------------------------
# run: the steps (each takes TIMEOUT LOG)
step_info() {
  local log=$LOGDIR/info.log
  [ "$DRY" -eq 0 ] || {
    echo "+ nvidia-smi; nvcc --version; git rev-parse HEAD > $log"
    return
  }
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo "${GPU_KIT_COMMIT:-unknown (no .git; set GPU_KIT_COMMIT)}")"
    git status --short 2>/dev/null | head -20 | sed 's/^/  changed: /' || true
    echo "host: $(uname -srm)"
    grep PRETTY_NAME /etc/os-release 2>/dev/null || true
    echo "nproc: $(nproc)"
    echo "cudnn root: ${CUDNN_ROOT_FOUND:-none}"
    echo "--- nvidia-smi"
    timeout 60 nvidia-smi 2>&1 || echo "nvidia-smi failed"
    echo "--- nvidia-smi -q (clocks, persistence)"
    timeout 60 nvidia-smi -q -d CLOCK,PERFORMANCE 2>&1 | head -60 || true
    echo "--- nvcc"
    command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || echo "nvcc not on PATH"
    (nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>&1 | tail -3 || true
    echo "--- c++: $(c++ --version 2>&1 | head -1)"
    echo "--- cmake: $(cmake --version 2>&1 | head -1); ninja: $(ninja --version 2>&1)"
    echo "--- python3: $(python3 --version 2>&1)"
    echo "--- glibc: $(ldd --version 2>&1 | head -1) (the kit's libraries come from Debian 12, glibc 2.36)"
  } >"$log" 2>&1
  SUMMARY_LINES+=("== info")
  SUMMARY_LINES+=("$(grep -E '^(date|commit|host|PRETTY|nproc|cudnn root):|NVIDIA-SMI|Driver Version|release|^\|.*(H100|H200|NVIDIA)' "$log" | head -12)")
}

configure_args() {
  CONFIGURE=(cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
             -DMELODL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DMELODL_AUDIO=OFF
             -DMELODL_WARNINGS_AS_ERRORS=OFF
             "-DCMAKE_PREFIX_PATH=$DEPS/usr" "-DPKG_CONFIG_EXECUTABLE=$DEPS/bin/pkg-config")
  [ -z "${CUDNN_ROOT_FOUND:-}" ] || CONFIGURE+=("-DCUDNN_ROOT=$CUDNN_ROOT_FOUND")
  if [ -n "${GPU_KIT_CMAKE_ARGS:-}" ]; then
    local extra
    read -r -a extra <<<"$GPU_KIT_CMAKE_ARGS"
    CONFIGURE+=("${extra[@]}")
  fi
}

# The targets the wanted steps need (a call builds no more than it runs); everything when a
# ctest step is wanted or "build" is the only step.
build_targets() {
  local s only_build=1
  BUILD_FIRST=()
  BUILD_ALL=0
  for s in "${WANTED[@]}"; do
    case "$s" in
      build) continue ;;
      kernels) BUILD_FIRST+=(kernels_cuda_test) ;;
      cudnn) BUILD_FIRST+=(kernels_cudnn_test) ;;
      lstm) BUILD_FIRST+=(lstm_cuda_test) ;;
      bench) BUILD_FIRST+=(lstm_layer_cuda_bench bf16_cuda_bench lstm_cuda_bench) ;;
      bench-cpu) BUILD_FIRST+=(lstm_cuda_bench) ;;
      e2e) BUILD_FIRST+=(melodl) ;;
      ctest-*) BUILD_ALL=1 ;;
    esac
    only_build=0
  done
  [ "$only_build" -eq 0 ] || BUILD_ALL=1
  if [ -n "$TARGETS" ]; then
    read -r -a BUILD_FIRST <<<"$TARGETS"
    BUILD_ALL=0
  fi
}

# The build's environment: the pkg-config wrapper first on PATH, and the unpacked headers as
# system directories after the targets' own: the multiarch folder Debian's gcc searches by
# itself (openssl/opensslconf.h, which httplib.h includes), and /usr/include for a target
# that includes a package it does not link (on Debian the header is in /usr/include anyway).
# GPU_KIT_STRICT=1 leaves the latter out, to find such targets.
build_env() {
  local inc=$DEPS/usr/include/$MULTIARCH
  [ "${GPU_KIT_STRICT:-0}" = 1 ] || inc+=:$DEPS/usr/include
  BUILD_ENV=(env "PATH=$DEPS/bin:$PATH" "CPLUS_INCLUDE_PATH=$inc${CPLUS_INCLUDE_PATH:+:$CPLUS_INCLUDE_PATH}")
}

step_build() {
  local t=$1 log=$2 deadline=$(($(date +%s) + $1))
  configure_args
  build_env
  step_cmd "$t" "$log" "${BUILD_ENV[@]}" "${CONFIGURE[@]}"
  [ "$STEP_RC" -eq 0 ] || return 0
  build_targets
  local first=("${BUILD_FIRST[@]}")
  if [ "$DRY" -eq 0 ] && [ "${#first[@]}" -gt 0 ]; then  # e.g. no kernels_cudnn_test without cuDNN
    local have=() x all
    all=$(ninja -C "$BUILD" -t targets all 2>/dev/null || true)
    for x in "${first[@]}"; do
      if grep -q "^$x:" <<<"$all"; then have+=("$x"); else echo "gpu-kit: no target $x" >>"$log"; fi
    done
    first=(${have[@]+"${have[@]}"})
  fi
  if [ "${#first[@]}" -gt 0 ]; then
    step_cmd $((deadline - $(date +%s))) "$log" "${BUILD_ENV[@]}" cmake --build "$BUILD" -j "$JOBS" \
      --target "${first[@]}"
    [ "$STEP_RC" -eq 0 ] || return 0
  fi
  [ "$BUILD_ALL" -eq 1 ] || return 0
  step_cmd $((deadline - $(date +%s))) "$log" "${BUILD_ENV[@]}" cmake --build "$BUILD" -j "$JOBS"
}

gtest_step() {  # TIMEOUT LOG BINARY
  local t=$1 log=$2 bin=$3
  if [ "$DRY" -eq 0 ] && [ ! -x "$bin" ]; then
    echo "not built: $bin" >"$log"
    STEP_RC=127
    return
  fi
  step_cmd "$t" "$log" "${with_libs[@]}" "$bin" --gtest_brief=1 --gtest_color=no
}
step_kernels() { gtest_step "$1" "$2" "$BUILD/tests/kernels/kernels_cuda_test"; }
step_cudnn() { gtest_step "$1" "$2" "$BUILD/tests/kernels/kernels_cudnn_test"; }
step_lstm() { gtest_step "$1" "$2" "$BUILD/tests/lstm/lstm_cuda_test"; }

# bench_programs TIMEOUT LOG PROGRAM:JSON-NAME:FILTER...
bench_programs() {
  local t=$1 log=$2 deadline=$(($(date +%s) + $1)) rc=0
  shift 2
  local min=${BENCH_MIN_TIME:-0.1}
  local p prog name filter
  for p in "$@"; do
    IFS=: read -r prog name filter <<<"$p"
    local left=$((deadline - $(date +%s)))
    if [ "$left" -lt 10 ]; then
      echo "gpu-kit: no time left for $prog" >>"$log"
      rc=124
      continue
    fi
    if [ "$DRY" -eq 0 ] && [ ! -x "$BUILD/bench/$prog" ]; then
      echo "not built: $BUILD/bench/$prog" >>"$log"
      rc=127
      continue
    fi
    local args=("--benchmark_min_time=$min" "--benchmark_out=$OUTDIR/bench-$name.json"
                --benchmark_out_format=json)
    [ -z "$filter" ] || args+=("--benchmark_filter=$filter")
    step_cmd "$left" "$log" "${with_libs[@]}" "$BUILD/bench/$prog" "${args[@]}"
    [ "$STEP_RC" -eq 0 ] || rc=$STEP_RC
  done
  STEP_RC=$rc
}
step_bench() {
  bench_programs "$1" "$2" lstm_layer_cuda_bench:kernels: bf16_cuda_bench:bf16: \
    "lstm_cuda_bench:lstm-cuda:Ours|Cudnn"
}
# The CPU backend on the same shapes, for the GPU/CPU ratios (16 cores there).
step_bench_cpu() { bench_programs "$1" "$2" lstm_cuda_bench:lstm-cpu:Cpu; }

step_e2e() {
  local t=$1 log=$2 deadline=$(($(date +%s) + $1)) rc=0
  local melodl=$BUILD/examples/melodl runs=$BUILD/kit-runs
  if [ "$DRY" -eq 0 ] && [ ! -x "$melodl" ]; then
    echo "not built: $melodl" >"$log"
    STEP_RC=127
    return
  fi
  [ "$DRY" -eq 1 ] || rm -rf "$runs"
  local -a cmds=(
    "train data/bach --device cuda --epochs 2 --seed 1 --run-dir $runs/gpu"
    "train data/bach --device cpu --epochs 2 --seed 1 --run-dir $runs/cpu"
    "bench --device cuda --layers 2 --hidden 200 --batch 32 --tbptt 50"
    "bench --device cpu --layers 2 --hidden 200 --batch 32 --tbptt 50")
  local c
  for c in "${cmds[@]}"; do
    local left=$((deadline - $(date +%s))) args
    read -r -a args <<<"$c"
    if [ "$left" -lt 10 ]; then
      echo "gpu-kit: no time left for melodl $c" >>"$log"
      rc=124
      continue
    fi
    step_cmd "$left" "$log" "${with_libs[@]}" "$melodl" "${args[@]}"
    [ "$STEP_RC" -eq 0 ] || rc=$STEP_RC
  done
  STEP_RC=$rc
}

step_ctest_cuda() {
  step_cmd "$1" "$2" "${with_libs[@]}" ctest --test-dir "$BUILD" -L cuda --output-on-failure --timeout 300
}
# train_demo_short runs scripts/demo.sh, which writes WAV files: audio is off here.
step_ctest_cpu() {
  [ "$DRY" -eq 1 ] ||
    echo "gpu-kit: excluded train_demo_short (demo.sh renders WAV; this build has no audio)" >"$2"
  step_cmd "$1" "$2" "${with_libs[@]}" ctest --test-dir "$BUILD" -L cpu -j "$JOBS" --timeout 400 \
    -E '^train_demo_short$'
}

pack() {
  [ "$DRY" -eq 0 ] || {
    echo "+ write $OUTDIR/summary.txt; tar czf $OUTDIR/logs.tar.gz <logs, e2e metrics>"
    return
  }
  {
    echo "melodl gpu-kit run: steps ${STEPS}; $(elapsed)s of a ${BUDGET}s budget; build dir ${BUILD#"$ROOT"/}"
    printf '%s\n' "${SUMMARY_LINES[@]}"
    if [ "${#SKIPPED[@]}" -gt 0 ]; then
      local IFS=,
      echo "== NOT RUN (out of time): next call: scripts/gpu-kit.sh run --steps ${SKIPPED[*]}"
    fi
  } >"$LOGDIR/summary.txt"
  cp "$LOGDIR/summary.txt" "$OUTDIR/summary.txt"
  local -a extra=()
  if [ -d "$BUILD/kit-runs" ]; then
    while IFS= read -r -d '' f; do extra+=("${f#"$BUILD"/}"); done < <(
      find "$BUILD/kit-runs" -type f \( -name '*.json' -o -name '*.tsv' -o -name '*.csv' \
        -o -name '*.txt' -o -name '*.log' \) -size -4M -print0)
  fi
  if [ "${#extra[@]}" -gt 0 ]; then
    tar czf "$OUTDIR/logs.tar.gz" -C "$LOGDIR" . -C "$BUILD" "${extra[@]}"
  else
    tar czf "$OUTDIR/logs.tar.gz" -C "$LOGDIR" .
  fi
  cat "$OUTDIR/summary.txt"
  echo "gpu-kit: files in $OUTDIR:"
  ls -la "$OUTDIR"
}

run() {
  OUTDIR=${OUTDIR:-${OUT:-$ROOT/gpu-out}}
  case "$OUTDIR" in /*) ;; *) OUTDIR=$ROOT/$OUTDIR ;; esac
  BUILD=${BUILD_REL:-build-gpu}
  case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
  JOBS=${JOBS:-$(nproc)}
  STEPS=${STEPS:-all}
  if [ "$STEPS" = all ]; then
    WANTED=("${STEP_ORDER[@]}")
  else
    IFS=, read -r -a WANTED <<<"$STEPS"
    local s
    for s in "${WANTED[@]}"; do
      [ -n "${STEP_TIMEOUT[$s]:-}" ] || die "unknown step '$s' (steps: ${STEP_ORDER[*]})"
    done
    # Every other step needs the programs: build first (a no-op when build-gpu/ is current,
    # a full build when the machine is a fresh one).
    [ "$NO_BUILD" -eq 1 ] || WANTED+=(build)
  fi
  mkdir -p "$OUTDIR"
  LOGDIR=$BUILD/kit-logs/$(date -u +%Y%m%dT%H%M%SZ)
  [ "$DRY" -eq 1 ] || mkdir -p "$LOGDIR"
  unpack
  CUDNN_ROOT_FOUND=$(find_cudnn_root)
  step_info
  local s
  for s in "${STEP_ORDER[@]}"; do
    local w found=0
    for w in "${WANTED[@]}"; do [ "$w" = "$s" ] && found=1; done
    [ "$found" -eq 1 ] || continue
    run_step "$s" "step_${s//-/_}"
  done
  pack
}

# ---------------------------------------------------------------------------------------
# rehearse: `run` here, in a private mount namespace where the system's copies of the kit's
# packages are hidden (empty folders and /dev/null bound over them), so the build can only
# use the unpacked ones, as on the GPU machine. Needs root (unshare -m).
hide_system_copies() {
  local lib=/usr/lib/$MULTIARCH inc=/usr/include d f
  mkdir -p /tmp/melodl-empty
  for d in $inc/nlohmann $inc/eigen3 $inc/gtest $inc/gmock $inc/benchmark $inc/CLI \
           $inc/glib-2.0 $inc/openssl $inc/brotli $inc/$MULTIARCH/openssl $lib/pkgconfig \
           /usr/share/pkgconfig $lib/cmake /usr/share/cmake /usr/share/eigen3 $lib/glib-2.0 \
           /usr/src/googletest; do
    [ ! -d "$d" ] || mount --bind /tmp/melodl-empty "$d"
  done
  for f in $inc/httplib.h $inc/smf.h $inc/zlib.h $inc/zconf.h $inc/pcre2.h $inc/fluidsynth.h \
           /usr/bin/pkg-config /usr/bin/pkgconf /usr/bin/$MULTIARCH-pkg-config \
           $lib/libsmf.so $lib/libsmf.so.0 $lib/libcpp-httplib.so $lib/libcpp-httplib.so.0.11 \
           $lib/libbenchmark.so $lib/libbenchmark.so.1 $lib/libgtest.a $lib/libgtest_main.a \
           $lib/libglib-2.0.so; do
    [ ! -e "$f" ] || mount --bind /dev/null "$f"
  done
}

# ---------------------------------------------------------------------------------------
[ $# -gt 0 ] || {
  usage
  exit 2
}
CMD=$1
shift
case "$CMD" in
  -h | --help | help)
    usage
    exit 0
    ;;
  fetch | run) ;;
  rehearse)
    [ "$(id -u)" -eq 0 ] || die "rehearse needs root (unshare -m, mount --bind)"
    exec unshare -m bash "$ROOT/scripts/gpu-kit.sh" __hidden-run "$@"
    ;;
  __hidden-run)
    hide_system_copies
    CMD=run
    ;;
  *) die "unknown command '$CMD' (fetch, run, rehearse, --help)" ;;
esac
OUTDIR=""
TARGETS=""
NO_BUILD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --steps) STEPS=$2; shift ;;
    --steps=*) STEPS=${1#*=} ;;
    --budget) BUDGET=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    --build-dir) BUILD_REL=$2; shift ;;
    --targets) TARGETS=$2; shift ;;
    --no-build) NO_BUILD=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *)
      if [ "$CMD" != run ] || [ -n "$OUTDIR" ]; then die "unexpected argument '$1'"; fi
      OUTDIR=$1
      ;;
  esac
  shift
done
"$CMD"
