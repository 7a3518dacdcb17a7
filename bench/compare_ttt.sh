#!/usr/bin/env bash
# Throughput of `pretrainlab simulate ttt-linear` against the NumPy peer (bench/ttt_peer.py)
# at d=100, n=50, sigma=0.5, k=200, 400 tasks per trial (each trial draws
# 400·(50 + 200 + 1)·100 ≈ 10⁷ normals), and a sanity check that the two compute the same
# thing: each side's mean excess_no_ttt, excess_ttt and excess_ttt_star agree within 4
# combined standard errors (the random streams differ, so only the statistics can be
# compared). The script exits 1 if a mean disagrees.
#
# Usage: bash bench/compare_ttt.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   PEER_TRIALS=20        trials for the peer
#   RUST_TRIALS=100       trials for pretrainlab
#   D=100 N=50 SIGMA=0.5 K=200 TASKS=400   the instance
#   THREADS=              empty (default): both sides may use all cores, with
#                         OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS unset and
#                         pretrainlab's default --threads; THREADS=k pins both to k threads
#
# The peer times its trial loop itself and draws all tasks of a trial as one batch
# ((tasks, n, d) and (tasks, k, d) arrays, einsum products); pretrainlab is timed from the
# outside (wall clock of the whole process, start-up and prediction included) and runs
# trials in parallel. NumPy threads only its BLAS calls; its random numbers are
# single-threaded, as in a plain NumPy script. Both sides use the exact optimal step η⋆,
# read from `pretrainlab predict`.
set -euo pipefail

cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
BIN=${PRETRAINLAB:-target/release/pretrainlab}
PEER_TRIALS=${PEER_TRIALS:-20}
RUST_TRIALS=${RUST_TRIALS:-100}
D=${D:-100} N=${N:-50} SIGMA=${SIGMA:-0.5} K=${K:-200} TASKS=${TASKS:-400}
THREADS=${THREADS:-}

RUST_THREADS=()
if [[ -n "$THREADS" ]]; then
    export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
    RUST_THREADS=(--threads "$THREADS")
    threads_note="$THREADS on both sides (OMP/OPENBLAS/MKL_NUM_THREADS=$THREADS, --threads $THREADS)"
else
    unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS
    threads_note="all cores on both sides (OMP/OPENBLAS/MKL_NUM_THREADS unset, default --threads)"
fi

if [[ ! -x "$BIN" ]]; then
    echo "error: $BIN not found; build it first with: cargo build --release" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import numpy' 2>/dev/null; then
    echo "error: $PYTHON lacks numpy; run: $PYTHON -m pip install -r bench/requirements.txt" >&2
    exit 1
fi

field() { "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
stat() { # stat METRIC KEY  (reads pretrainlab's JSON on stdin)
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])' "$1" "$2"
}
now() { date +%s.%N; }
calc() { "$PYTHON" -c "import sys; print($1)"; }
zscore() {
    "$PYTHON" -c 'import math, sys; a, sa, b, sb = map(float, sys.argv[1:]); print((a - b) / math.hypot(sa, sb))' "$@"
}

echo "cores: $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)   threads: $threads_note"
echo "instance: d=$D n=$N sigma=$SIGMA k=$K tasks=$TASKS"

set_args=(--set "d=$D" --set "n=$N" --set "sigma=$SIGMA" --set "k=$K" --set "tasks=$TASKS")
predicted=$("$BIN" predict ttt-linear "${set_args[@]}" --format json)
eta_star=$(field eta_star <<<"$predicted")
printf 'theory: excess_no_ttt %.5f   L* (excess_ttt_star) %.5f   eta* %.6g\n' \
    "$(field excess_no_ttt <<<"$predicted")" "$(field excess_ttt <<<"$predicted")" "$eta_star"

peer=$("$PYTHON" bench/ttt_peer.py --d "$D" --n "$N" --sigma "$SIGMA" --k "$K" --tasks "$TASKS" \
    --eta-star "$eta_star" --trials "$PEER_TRIALS" --seed 1 --json)
peer_tps=$(field trials_per_second <<<"$peer")
printf 'peer (numpy %s):  %5d trials in %8.3f s = %9.2f trials/s\n' \
    "$(field numpy_version <<<"$peer")" "$PEER_TRIALS" "$(field seconds <<<"$peer")" "$peer_tps"

t0=$(now)
out=$("$BIN" simulate ttt-linear "${set_args[@]}" --trials "$RUST_TRIALS" \
    ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
t1=$(now)
secs=$(calc "$t1 - $t0")
done_=$(field completed <<<"$out")
rust_tps=$(calc "$done_ / $secs")
printf 'pretrainlab:         %5d trials in %8.3f s = %9.2f trials/s\n' "$done_" "$secs" "$rust_tps"
ratio=$(calc "$rust_tps / $peer_tps")
printf 'ratio pretrainlab/peer: %.1fx\n' "$ratio"

mismatch=0
for metric in excess_no_ttt excess_ttt excess_ttt_star; do
    pm=$(field "mean_$metric" <<<"$peer"); ps=$(field "se_$metric" <<<"$peer")
    rm_=$(stat "$metric" mean <<<"$out"); rs=$(stat "$metric" se <<<"$out")
    z=$(zscore "$rm_" "$rs" "$pm" "$ps")
    if "$PYTHON" -c 'import sys; sys.exit(0 if abs(float(sys.argv[1])) < 4 else 1)' "$z"; then
        verdict=agree
    else
        verdict=MISMATCH
        mismatch=1
    fi
    printf '%-16s peer %.5f ± %.5f   pretrainlab %.5f ± %.5f   z %+.2f -> %s (|z| < 4)\n' \
        "$metric" "$pm" "$ps" "$rm_" "$rs" "$z" "$verdict"
done
exit "$mismatch"
