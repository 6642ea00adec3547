#!/usr/bin/env bash
# scripts/gpu-device.sh: the one command of a GPU window (docs/gpu-session.md). Runs, from
# the repository root on the GPU machine, the programs scripts/gpu-bundle.sh built here and
# carried in .gpu-bundle/; compiles nothing unless a program cannot load there. Stages, each
# under its own time cap inside one overall budget (GPU_DEVICE_BUDGET, default 420 s):
#   preflight  nvidia-smi -L, driver, glibc/libstdc++ versions, where cuBLAS/cuDNN are,
#              every program's ldd (a program that cannot load is rebuilt there from
#              .gpu-kit/ when it travelled: scripts/gpu-kit.sh)
#   tests      the CUDA test programs run directly, in parallel gtest shards
#   sanitize   compute-sanitizer memcheck and racecheck on one small shape per kernel family
#   bench      the CUDA benchmark programs, one after another, short minimum times
#   e2e        melodl train --device cuda (one short epoch), melodl bench --device cuda and
#              --device cpu on the seed shape
# Writes at most 8 files into OUTDIR ($1, else $OUT, else ./gpu-out): summary.md (also
# printed last), logs.tar.gz, bench-kernels.json, bench-bf16.json, bench-lstm.json, e2e.jsonl.
# Exit status: 0 when every stage ran and nothing failed, 1 otherwise.
# GPU_DEVICE_REHEARSAL=1 (scripts/gpu-bundle.sh --rehearse): the machine has no GPU; the
# designed outcome is that every program loads and reports that no CUDA device is usable.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
B=$ROOT/.gpu-bundle
OUTDIR=${1:-${OUT:-$ROOT/gpu-out}}
BUDGET=${GPU_DEVICE_BUDGET:-420}
REHEARSAL=${GPU_DEVICE_REHEARSAL:-0}
SHARDS=${GPU_TEST_SHARDS:-4}
BENCH_MIN_TIME=${BENCH_MIN_TIME:-0.05}
START=$(date +%s)
mkdir -p "$OUTDIR"
LOGS=$(mktemp -d /tmp/melodl-device.XXXXXX)
SUMMARY=$LOGS/summary.md
declare -a ROWS=()     # "| stage | result | s | detail |"
declare -a DETAILS=()  # lines after the table
FAILED=0

elapsed() { echo $(($(date +%s) - START)); }
left() { echo $((BUDGET - $(elapsed))); }
# cap SECONDS: the stage's timeout, cut to what the budget leaves (15 s kept for packing).
cap() {
  local l=$(($(left) - 15))
  [ "$1" -le "$l" ] && echo "$1" || echo "$l"
}
row() { ROWS+=("| $1 | $2 | $3 | $4 |"); }
fail() { FAILED=1; }
log() { echo "gpu-device: $*" | tee -a "$LOGS/device.log"; }

[ -f "$B/MANIFEST.txt" ] || {
  echo "gpu-device: no .gpu-bundle/ here: run scripts/gpu-bundle.sh on the CPU machine and carry .gpu-bundle" >&2
  exit 2
}

declare -A PROG=()
for p in kernels_cuda_test kernels_cudnn_test lstm_cuda_test lstm_layer_cuda_bench bf16_cuda_bench \
         lstm_cuda_bench melodl; do
  [ ! -x "$B/$p" ] || PROG[$p]=$B/$p
done

# ---------------------------------------------------------------------------------------
# preflight
# Folders holding a library, searched the way the image may lay out CUDA: the loader's cache,
# the toolkit, pip's nvidia packages (cuDNN, cuBLAS, NCCL wheels).
find_lib_dir() {
  local lib=$1 hit
  hit=$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l && /x86-64/ && !f { print $NF; f = 1 }')
  if [ -z "$hit" ]; then
    hit=$(ls /usr/local/cuda/lib64/"$lib" /usr/local/cuda/targets/x86_64-linux/lib/"$lib" \
            /usr/local/cuda-*/lib64/"$lib" 2>/dev/null | head -1)
  fi
  if [ -z "$hit" ] && command -v python3 >/dev/null; then
    local site
    for site in $(python3 -c 'import site, sys; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null); do
      hit=$(find "$site/nvidia" -name "$lib" 2>/dev/null | head -1)
      [ -z "$hit" ] || break
    done
  fi
  [ -z "$hit" ] || dirname "$hit"
}

stage_preflight() {
  local t0=$(date +%s) detail="" gpu
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "commit of the tree: $(git rev-parse HEAD 2>/dev/null || echo "${GPU_KIT_COMMIT:-unknown (no .git)}")"
    sed -n '2,4p' "$B/MANIFEST.txt" | sed 's/^/bundle /'
    echo "host: $(uname -srm), $(grep PRETTY_NAME /etc/os-release 2>/dev/null | cut -d'"' -f2), $(nproc) cores"
    echo "glibc: $(ldd --version 2>&1 | head -1)"
  } >"$LOGS/preflight.log"
  if command -v nvidia-smi >/dev/null; then
    timeout 30 nvidia-smi -L >>"$LOGS/preflight.log" 2>&1
    gpu=$(timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -1)
    timeout 30 nvidia-smi >>"$LOGS/preflight.log" 2>&1
  else
    gpu="none (no nvidia-smi)"
  fi
  echo "gpu: $gpu" >>"$LOGS/preflight.log"
  DETAILS+=("- GPU: $gpu")
  # The libraries the image must provide.
  local dirs=() d lib missing_cuda=()
  for lib in libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libcudnn_graph.so.9; do
    d=$(find_lib_dir "$lib")
    if [ -n "$d" ]; then
      [[ " ${dirs[*]-} " == *" $d "* ]] || dirs+=("$d")
      echo "found $lib in $d" >>"$LOGS/preflight.log"
    else
      missing_cuda+=("$lib")
    fi
  done
  LIBPATH=$B
  for d in ${dirs[@]+"${dirs[@]}"}; do LIBPATH+=:$d; done
  # libstdc++: the image's when it is at least as new as the one the programs were built
  # against, else Debian's copy from compat/.
  local need sys
  need=$(cat "$B/.needs-glibcxx" 2>/dev/null || echo 0)
  sys=$(ldconfig -p 2>/dev/null | awk '$1 == "libstdc++.so.6" && /x86-64/ && !f { print $NF; f = 1 }')
  if [ -n "$sys" ] && grep -qa "GLIBCXX_$need" "$sys"; then
    echo "libstdc++: the image's ($sys) provides GLIBCXX_$need" >>"$LOGS/preflight.log"
  else
    LIBPATH=$B/compat:$LIBPATH
    DETAILS+=("- libstdc++: the image's (${sys:-none}) lacks GLIBCXX_$need: using the bundle's compat/")
  fi
  local gneed have
  gneed=$(cat "$B/.needs-glibc" 2>/dev/null || echo 0)
  have=$(ldd --version 2>&1 | head -1 | grep -o '[0-9]\+\.[0-9]\+$')
  if [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$gneed" "$have" | sort -V | head -1)" != "$gneed" ]; then
    DETAILS+=("- glibc $have is older than the GLIBC_$gneed the bundle needs")
  fi
  export LD_LIBRARY_PATH=$LIBPATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  local p bad=() out
  for p in $(printf '%s\n' "${!PROG[@]}" | sort); do
    out=$(ldd "${PROG[$p]}" 2>&1)
    echo "--- ldd $p" >>"$LOGS/preflight.log"
    echo "$out" >>"$LOGS/preflight.log"
    if grep -q 'not found' <<<"$out"; then
      bad+=("$p")
      DETAILS+=("- $p cannot load: $(grep 'not found' <<<"$out" | awk '{ print $1 }' | sort -u | paste -sd' ')")
    fi
  done
  detail="${#PROG[@]} programs, glibc $have (needs $gneed), LD_LIBRARY_PATH ${#dirs[@]} CUDA dir(s)"
  [ "${#missing_cuda[@]}" -eq 0 ] || detail+="; not found: ${missing_cuda[*]}"
  if [ "${#bad[@]}" -gt 0 ]; then
    detail+="; cannot load: ${bad[*]}"
    fallback_build "${bad[@]}"
  fi
  local r=ok
  [ "${#bad[@]}" -eq 0 ] || { r=FAIL; fail; }
  row preflight "$r" $(($(date +%s) - t0)) "$detail"
}

# A program that cannot load is rebuilt here from the Debian packages in .gpu-kit/ (when
# they travelled), with the kit's libraries on its path. Costs minutes of the window.
fallback_build() {
  if [ "$REHEARSAL" = 1 ] || [ ! -d "$ROOT/.gpu-kit/debs" ]; then
    DETAILS+=("- fallback build: not run (rehearsal, or .gpu-kit/debs did not travel)")
    return
  fi
  local t=$(cap 300) p
  log "fallback: building $* there (${t}s at most)"
  bash scripts/gpu-kit.sh run "$LOGS/kit" --steps build --targets "$*" --budget "$t" \
    --build-dir build-gpu >"$LOGS/fallback-build.log" 2>&1
  declare -A path=([kernels_cuda_test]=tests/kernels/kernels_cuda_test
    [kernels_cudnn_test]=tests/kernels/kernels_cudnn_test [lstm_cuda_test]=tests/lstm/lstm_cuda_test
    [lstm_layer_cuda_bench]=bench/lstm_layer_cuda_bench [bf16_cuda_bench]=bench/bf16_cuda_bench
    [lstm_cuda_bench]=bench/lstm_cuda_bench [melodl]=examples/melodl)
  for p in "$@"; do
    if [ -x "$ROOT/build-gpu/${path[$p]}" ]; then
      PROG[$p]=$ROOT/build-gpu/${path[$p]}
      DETAILS+=("- fallback: $p rebuilt on the GPU machine")
    fi
  done
  export LD_LIBRARY_PATH=${MELODL_DEPS:-/tmp/melodl-deps}/usr/lib/x86_64-linux-gnu:$LD_LIBRARY_PATH
}

# ---------------------------------------------------------------------------------------
# tests: each CUDA test program in SHARDS parallel gtest shards (one GPU, separate contexts).
gtest_tally() {  # LOG... -> "passed skipped failed crashed"
  awk '/^\[  PASSED  \] [0-9]+ test/ { p += $4 }
       /^\[  SKIPPED \] [0-9]+ test/ { s += $4 }
       /^\[  FAILED  \] [0-9]+ test/ { f += $4 }
       END { printf "%d %d %d\n", p, s, f }' "$@"
}

stage_tests() {
  local t0=$(date +%s) t=$(cap 150) p i pids=() names=()
  mkdir -p "$LOGS/tests"
  sanitize_start "$t"
  for p in kernels_cuda_test kernels_cudnn_test lstm_cuda_test; do
    [ -n "${PROG[$p]:-}" ] || { DETAILS+=("- tests: $p not in the bundle"); continue; }
    for ((i = 0; i < SHARDS; i++)); do
      GTEST_TOTAL_SHARDS=$SHARDS GTEST_SHARD_INDEX=$i timeout -k 5 "$t" "${PROG[$p]}" \
        --gtest_brief=1 --gtest_color=no --gtest_print_time=1 \
        >"$LOGS/tests/$p.$i.log" 2>&1 &
      pids+=($!)
      names+=("$p.$i")
    done
  done
  local k rc detail="" crashed=()
  for k in "${!pids[@]}"; do
    wait "${pids[$k]}"
    rc=$?
    echo "exit $rc" >>"$LOGS/tests/${names[$k]}.log"
    # 1: gtest's "some test failed"; anything else non-zero is a crash, a timeout or a load error.
    [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || crashed+=("${names[$k]}(exit $rc)")
  done
  local r=ok
  for p in kernels_cuda_test kernels_cudnn_test lstm_cuda_test; do
    ls "$LOGS/tests/$p".*.log >/dev/null 2>&1 || continue
    read -r np ns nf <<<"$(gtest_tally "$LOGS/tests/$p".*.log)"
    detail+="$p: $np passed, $ns skipped, $nf failed; "
    [ "$nf" -eq 0 ] || r=FAIL
    grep -h '^\[  FAILED  \] [A-Za-z]' "$LOGS/tests/$p".*.log | sort -u | head -20 |
      sed "s/^/- $p /" >>"$LOGS/failed-tests.txt"
    if [ "$REHEARSAL" = 1 ] && [ "$ns" -gt 0 ]; then
      grep -h -m1 -o 'no usable CUDA device[^"]*' "$LOGS/tests/$p".*.log | head -1 |
        sed "s/^/- $p skips: /" >>"$LOGS/skip-reasons.txt"
    fi
  done
  [ "${#crashed[@]}" -eq 0 ] || { r=FAIL; detail+="crashed/timed out: ${crashed[*]}"; }
  [ "$r" = ok ] || fail
  [ ! -s "$LOGS/failed-tests.txt" ] || DETAILS+=("$(cat "$LOGS/failed-tests.txt")")
  [ ! -s "$LOGS/skip-reasons.txt" ] || DETAILS+=("$(cat "$LOGS/skip-reasons.txt")")
  row tests "$r" $(($(date +%s) - t0)) "${detail%; }"
  sanitize_finish
}

# ---------------------------------------------------------------------------------------
# sanitize: memcheck and racecheck side by side, each over one small shape of every kernel
# family (GEMM/gather/reduce basics, pointwise, softmax/optimizer, variant (a) forward and
# backward, persistent forward (b) and (c) and backward, bf16, sampling).
SANITIZE_FILTER=${GPU_SANITIZE_FILTER:-'BasicsCuda.*:MiscCuda.*:Peephole/PointwiseCuda.*:Kinds/OptimCuda.*/adam:*LayerCuda.MatchesReference/T37_B7_I5_H33_peep_dense:*PersistentBackward.MatchesReferenceAndVariantA/T37_B7_I5_H33_peep_dense:*PersistentSplitK.MatchesReferenceAndVariantsAB/T37_B7_I5_H33*:*Bf16*T37_B7_I5_H33*:Bf16Cuda.GemmMatchesRoundedOperandReferenceAllTransposes'}
SAN_PIDS=()
SAN_T0=0
SAN_STATE=""
sanitize_start() {  # launched beside the test shards: both check correctness, neither times
  local t=$1 cs
  SAN_T0=$(date +%s)
  cs=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)
  if [ -z "$cs" ]; then SAN_STATE="compute-sanitizer not found"; return; fi
  if [ -z "${PROG[kernels_cuda_test]:-}" ]; then SAN_STATE="kernels_cuda_test not in the bundle"; return; fi
  local tool
  for tool in memcheck racecheck; do
    timeout -k 5 "$t" "$cs" --tool "$tool" --error-exitcode 99 --print-limit 20 \
      "${PROG[kernels_cuda_test]}" --gtest_brief=1 --gtest_color=no "--gtest_filter=$SANITIZE_FILTER" \
      >"$LOGS/sanitize-$tool.log" 2>&1 &
    SAN_PIDS+=($!)
  done
}
sanitize_finish() {
  if [ -n "$SAN_STATE" ]; then
    row sanitize "not run" 0 "$SAN_STATE"
    [ "$REHEARSAL" = 1 ] || fail
    return
  fi
  local tool k=0 rc detail="" r=ok errs
  for tool in memcheck racecheck; do
    wait "${SAN_PIDS[$k]}"
    rc=$?
    errs=$(grep -o 'ERROR SUMMARY: [0-9]* error' "$LOGS/sanitize-$tool.log" | tail -1)
    read -r np ns nf <<<"$(gtest_tally "$LOGS/sanitize-$tool.log")"
    detail+="$tool: exit $rc, ${errs:-no error summary}, $np passed $ns skipped $nf failed; "
    [ "$rc" -eq 0 ] || r=FAIL
    k=$((k + 1))
  done
  [ "$r" = ok ] || fail
  row sanitize "$r" $(($(date +%s) - SAN_T0)) "${detail%; }"
}

# ---------------------------------------------------------------------------------------
# bench: one program at a time (nothing else on the GPU while timing).
stage_bench() {
  local t0=$(date +%s) detail="" r=ok spec p name filter
  local spec p name filter budget
  for spec in "lstm_layer_cuda_bench:kernels::45" "bf16_cuda_bench:bf16::30" "lstm_cuda_bench:lstm:Ours|Cudnn:90"; do
    IFS=: read -r p name filter budget <<<"$spec"
    [ -n "${PROG[$p]:-}" ] || { detail+="$p: not in the bundle; "; r=FAIL; continue; }
    local t=$(cap "$budget")
    [ "$t" -ge 10 ] || { detail+="$p: no time left; "; r=FAIL; continue; }
    local args=("--benchmark_min_time=$BENCH_MIN_TIME" "--benchmark_out=$OUTDIR/bench-$name.json"
                --benchmark_out_format=json)
    [ -z "$filter" ] || args+=("--benchmark_filter=$filter")
    timeout -k 5 "$t" "${PROG[$p]}" "${args[@]}" >"$LOGS/bench-$name.log" 2>&1
    local rc=$? n e
    n=$(grep -cE '[0-9.]+ (ns|us|ms|s) +[0-9.]+ (ns|us|ms|s) +[0-9]+' "$LOGS/bench-$name.log")
    e=$(grep -c 'ERROR OCCURRED' "$LOGS/bench-$name.log")
    detail+="$p: exit $rc, $n measured, $e skipped/errors; "
    if [ "$rc" -ne 0 ]; then r=FAIL; fi
    if [ "$REHEARSAL" != 1 ] && [ "$n" -eq 0 ]; then r=FAIL; fi
  done
  [ "$r" = ok ] || fail
  row bench "$r" $(($(date +%s) - t0)) "${detail%; }"
}

# ---------------------------------------------------------------------------------------
# e2e: the program a user runs.
stage_e2e() {
  local t0=$(date +%s) detail="" r=ok m=${PROG[melodl]:-}
  [ -n "$m" ] || { row e2e FAIL 0 "melodl not in the bundle"; fail; return; }
  local run=$LOGS/run-cuda
  local -a cmds=(  # "cap in seconds:arguments"
    "45:train data/bach --device cuda --epochs 1 --seed 1 --samples-per-epoch 1 --quiet --run-dir $run"
    "15:bench --device cuda --layers 2 --hidden 200 --batch 32 --tbptt 50"
    "20:bench --device cpu --layers 2 --hidden 200 --batch 32 --tbptt 50")
  local c args rc t
  for c in "${cmds[@]}"; do
    t=$(cap "${c%%:*}")
    c=${c#*:}
    [ "$t" -ge 10 ] || { detail+="melodl ${c%% *}: no time left; "; r=FAIL; continue; }
    read -r -a args <<<"$c"
    echo "+ melodl $c" >>"$LOGS/e2e.log"
    timeout -k 5 "$t" "$m" "${args[@]}" >"$LOGS/e2e.out" 2>&1
    rc=$?
    cat "$LOGS/e2e.out" >>"$LOGS/e2e.log"
    grep '^{' "$LOGS/e2e.out" >>"$OUTDIR/e2e.jsonl"
    local dev=${c#*--device }
    dev=${dev%% *}
    local what="${args[0]} $dev"
    if [ "$rc" -eq 0 ]; then
      detail+="$what: ok; "
    elif [ "$REHEARSAL" = 1 ] && [ "$dev" = cuda ] && grep -q 'no usable CUDA device' "$LOGS/e2e.out"; then
      detail+="$what: no usable CUDA device (exit $rc, as designed); "
    else
      detail+="$what: exit $rc ($(tail -1 "$LOGS/e2e.out" | cut -c1-120)); "
      r=FAIL
    fi
  done
  if [ -f "$run/metrics.jsonl" ]; then
    tail -1 "$run/metrics.jsonl" | sed 's/^/{"e2e":"train-cuda-last-metrics","line":/; s/$/}/' >>"$OUTDIR/e2e.jsonl"
  fi
  [ "$r" = ok ] || fail
  row e2e "$r" $(($(date +%s) - t0)) "${detail%; }"
}

# ---------------------------------------------------------------------------------------
log "budget ${BUDGET}s, $SHARDS shards per test program, logs in $LOGS"
: >"$OUTDIR/e2e.jsonl"
stage_preflight
stage_tests  # and the sanitizer beside it
stage_bench
stage_e2e
{
  echo "# melodl GPU window: $(date -u +%FT%TZ)$([ "$REHEARSAL" = 1 ] && echo ' (REHEARSAL on a machine without a GPU)')"
  echo
  sed -n '2,4p' "$B/MANIFEST.txt" | sed 's/^/- bundle /'
  printf '%s\n' "${DETAILS[@]}"
  echo
  echo "| stage | result | s | detail |"
  echo "|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "total: $(elapsed) s of a ${BUDGET} s budget; overall: $([ "$FAILED" -eq 0 ] && echo PASS || echo FAIL)"
} >"$SUMMARY"
cp "$SUMMARY" "$OUTDIR/summary.md"
cp "$B/MANIFEST.txt" "$LOGS/MANIFEST.txt"
tar czf "$OUTDIR/logs.tar.gz" -C "$LOGS" --exclude='run-cuda/checkpoints' . 2>/dev/null
cat "$SUMMARY"
exit "$FAILED"
