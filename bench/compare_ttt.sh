#!/usr/bin/env bash
# Throughput of `pretrainlab simulate ttt-linear` against the NumPy peer (bench/ttt_peer.py)
# at d=100, n=50, sigma=0.5, k=200, 400 tasks per trial, and a sanity check that the two
# compute the same thing: each side's mean excess_no_ttt, excess_ttt and excess_ttt_star
# agree within 4 combined standard errors (the random streams differ, so only the
# statistics can be compared). The script exits 1 if a mean disagrees.
#
# The peer as a NumPy user writes it draws every sample (400·(50 + 200 + 1)·100 ≈ 10⁷
# normals per trial). pretrainlab draws β and the context explicitly but the test-time
# step through its four sufficient statistics (A ~ χ²_k, ξ, B ~ χ²_{k−1}, G ~ χ²_{d−1}:
# 400·(51·100 + 4) ≈ 2·10⁶ draws per trial); the second ratio is against the peer doing the
# same (--update reduced), where both sides are bound by drawing the context's normals.
#
# Usage: bash bench/compare_ttt.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   PEER_TRIALS=20        trials for the peer
#   REDUCED_PEER_TRIALS=40   trials for the peer with --update reduced
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

source "$(dirname "$0")/common.sh"
bench_setup numpy

PEER_TRIALS=${PEER_TRIALS:-20}
REDUCED_PEER_TRIALS=${REDUCED_PEER_TRIALS:-40}
RUST_TRIALS=${RUST_TRIALS:-100}
D=${D:-100} N=${N:-50} SIGMA=${SIGMA:-0.5} K=${K:-200} TASKS=${TASKS:-400}

echo "cores: $(cores)   threads: $threads_note"
echo "instance: d=$D n=$N sigma=$SIGMA k=$K tasks=$TASKS"

set_args=(--set "d=$D" --set "n=$N" --set "sigma=$SIGMA" --set "k=$K" --set "tasks=$TASKS")
predicted=$("$BIN" predict ttt-linear "${set_args[@]}" --format json)
eta_star=$(field eta_star <<<"$predicted")
printf 'theory: excess_no_ttt %.5f   L* (excess_ttt_star) %.5f   eta* %.6g\n' \
    "$(field excess_no_ttt <<<"$predicted")" "$(field excess_ttt <<<"$predicted")" "$eta_star"

# run_peer UPDATE TRIALS: the peer's JSON.
run_peer() {
    "$PYTHON" bench/ttt_peer.py --d "$D" --n "$N" --sigma "$SIGMA" --k "$K" --tasks "$TASKS" \
        --eta-star "$eta_star" --update "$1" --trials "$2" --seed 1 --json
}
peer=$(run_peer explicit "$PEER_TRIALS")
reduced=$(run_peer reduced "$REDUCED_PEER_TRIALS")
for json in "$peer" "$reduced"; do
    printf 'peer (numpy %s, %-8s): %5d trials in %8.3f s = %9.2f trials/s\n' \
        "$(field numpy_version <<<"$json")" "$(field update <<<"$json")" \
        "$(field trials <<<"$json")" "$(field seconds <<<"$json")" \
        "$(field trials_per_second <<<"$json")"
done

t0=$(now)
out=$("$BIN" simulate ttt-linear "${set_args[@]}" --trials "$RUST_TRIALS" \
    ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
t1=$(now)
secs=$(calc "$t1 - $t0")
done_=$(field completed <<<"$out")
rust_tps=$(calc "$done_ / $secs")
printf 'pretrainlab:                          %5d trials in %8.3f s = %9.2f trials/s\n' \
    "$done_" "$secs" "$rust_tps"
printf 'ratio pretrainlab (reduced peer)/peer: %.1fx\n' \
    "$(calc "$rust_tps / $(field trials_per_second <<<"$reduced")")"
printf 'ratio pretrainlab/peer: %.1fx\n' "$(calc "$rust_tps / $(field trials_per_second <<<"$peer")")"

mismatch=0
for json in "$peer" "$reduced"; do
    echo "against the $(field update <<<"$json") peer:"
    for metric in excess_no_ttt excess_ttt excess_ttt_star; do
        pm=$(field "mean_$metric" <<<"$json"); ps=$(field "se_$metric" <<<"$json")
        rm_=$(stat "$metric" mean <<<"$out"); rs=$(stat "$metric" se <<<"$out")
        z=$(zscore "$rm_" "$rs" "$pm" "$ps")
        if within4 "$z"; then
            verdict=agree
        else
            verdict=MISMATCH
            mismatch=1
        fi
        printf '  %-16s peer %.5f ± %.5f   pretrainlab %.5f ± %.5f   z %+.2f -> %s (|z| < 4)\n' \
            "$metric" "$pm" "$ps" "$rm_" "$rs" "$z" "$verdict"
    done
done
exit "$mismatch"
