#!/usr/bin/env bash
# tests/dist/mpi_train_test.sh MELODL MPIRUN DATA_DIR: `mpirun -np 2 melodl train` end to end
# on loopback (ctest runs it with a TIMEOUT; docs/distributed.md):
#   1. a 2-rank run finishes; rank 0 alone wrote the run directory;
#   2. its checkpoint resumes in 1 process, and a 1-process run's resumes with 2 ranks; its
#      first epoch's train/validation bits equal the 1-process run's to rounding;
#   3. a rank killed (SIGKILL) mid-run ends the job within 30 s with mpirun's message, and the
#      run resumes with 2 ranks (and, after 4., in 1 process);
#   4. a rank that hangs (SIGSTOP) ends the job within MELODL_MPI_TIMEOUT (10 s) + 25 s with
#      "no answer from the other ranks".
set -uo pipefail
melodl=$1; mpirun="$2 --oversubscribe --allow-run-as-root"; data=$3
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$dir"
"$melodl" extract $(ls -d "$data"/mutopia-keyboard/* | head -6) -o m.txt -q || fail "extract"
# Without dropout: each rank draws its own masks (docs/distributed.md), so 2 ranks and 1 process
# would not compare to rounding; without early stopping: the kill tests need a run that goes on.
train=(m.txt --hidden 16 --layers 1 --batch 8 --window 60 --threads 1 --samples-per-epoch 1 -q
       --dropout 0 --recurrent-dropout 0 --patience 0)
# (no python or jq: manifest.json is indented JSON, one key per line)
epochs() { grep -c '"train_bits_per_symbol"' "$1"; }
first() { sed -n '/"epochs"/,$p' "$1" | grep -m1 "\"$2\"" | sed 's/.*: *//; s/,$//'; }

# 1. two ranks, one epoch
timeout 120 $mpirun -np 2 "$melodl" train "${train[@]}" --epochs 1 --run-dir a2 > a2.log 2>&1 ||
  { cat a2.log; fail "2-rank run"; }
[ "$(epochs a2/manifest.json)" = 1 ] || fail "2-rank run: manifest"
ls a2/samples/epoch-001/sample-01.mid > /dev/null || fail "2-rank run: samples"
# 2. 2 ranks -> 1 process, 1 process -> 2 ranks
timeout 120 "$melodl" train --resume a2 --epochs 2 -q > r1.log 2>&1 || { cat r1.log; fail "resume 2->1"; }
[ "$(epochs a2/manifest.json)" = 2 ] || fail "resume 2->1: manifest"
timeout 120 "$melodl" train "${train[@]}" --epochs 1 --run-dir b1 > b1.log 2>&1 || fail "1-process run"
timeout 120 $mpirun -np 2 "$melodl" train --resume b1 --epochs 2 -q > r2.log 2>&1 ||
  { cat r2.log; fail "resume 1->2"; }
[ "$(epochs b1/manifest.json)" = 2 ] || fail "resume 1->2: manifest"
# Epoch 1 of the 2-rank run (its manifest keeps it after the resume) against the 1-process
# run on the same windows: train and (shared, summed) validation bits agree to rounding.
for key in train_bits_per_symbol valid_bits_per_symbol valid_bits_per_note symbols; do
  a=$(first a2/manifest.json $key); b=$(first b1/manifest.json $key)
  echo "  epoch 1 $key: 2 ranks $a, 1 process $b"
  awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-4 * (1 + b)) }' ||
    fail "2 ranks vs 1 process, epoch 1 $key"
done
echo "ok: 2-rank run; checkpoints resume 2 -> 1 and 1 -> 2 ranks"

# 3 and 4: a rank dies or hangs mid-run.
rank_pid() {  # the pid of rank $2 of the job writing run dir $1 (started in this folder:
  # another copy of this test running elsewhere uses the same run-dir names)
  for p in $(pgrep -f "run-dir $1"); do
    [ "$(readlink /proc/$p/cwd 2>/dev/null)" = "$PWD" ] || continue
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo $p
  done | head -n 1
}
fault() {  # fault RUN SIGNAL BOUND_S EXPECTED_TEXT
  MELODL_MPI_TIMEOUT=10 $mpirun -np 2 "$melodl" train "${train[@]}" --epochs 100 \
    --checkpoint-every 0 --run-dir "$1" > "$1.log" 2>&1 &
  local job=$! k=0
  until [ -f "$1/checkpoints/latest" ] && [ "$(ls "$1/checkpoints" | wc -l)" -ge 3 ]; do
    sleep 0.2; k=$((k + 1)); [ $k -lt 300 ] || fail "$1: no checkpoints after 60 s"
  done
  local pid; pid=$(rank_pid "$1" 1)
  [ -n "$pid" ] || fail "$1: rank 1 not found"
  local t0; t0=$(date +%s.%N)
  kill -"$2" "$pid"
  local waited=0
  while kill -0 $job 2>/dev/null; do
    sleep 0.2; waited=$((waited + 1))
    if [ $waited -gt $(($3 * 5)) ]; then kill -9 $job; fail "$1: job still running $3 s after SIG$2"; fi
  done
  wait $job; local rc=$?
  local dt; dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  [ $rc -ne 0 ] || fail "$1: exit status 0 after SIG$2"
  grep -q "$4" "$1.log" || { cat "$1.log"; fail "$1: no message '$4'"; }
  echo "ok: SIG$2 to rank 1 ended the job in $dt s (status $rc): $(grep -m1 "$4" "$1.log")"
}
fault k KILL 30 "exited on signal 9"
timeout 120 $mpirun -np 2 "$melodl" train --resume k --epochs 1 -q > rk.log 2>&1 ||
  { cat rk.log; fail "resume after the kill"; }
echo "ok: the killed run resumed with 2 ranks"
fault h STOP 35 "no answer from the other ranks"
timeout 120 "$melodl" train --resume h --epochs 1 -q > rh.log 2>&1 ||
  { cat rh.log; fail "resume after the hang, 1 process"; }
echo "ok: the hung run resumed in 1 process"
echo "PASS"
