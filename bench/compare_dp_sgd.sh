#!/usr/bin/env bash
# Throughput of `pretrainlab simulate dp-sgd` against the NumPy peer (bench/dp_sgd_peer.py)
# at d=200, gamma=0.5 (n=400 samples used once), clip=0.5, noise=1.0, lr=1: each trial is
# n per-sample DP-SGD steps, each drawing 2d + 1 normals. Two peers: the plain per-sample
# Python loop with NumPy d-vectors, one trial at a time (`--variant loop`, what a user
# writes), and the same loop vectorised over all trials at once (`--variant seeds`). A
# sanity check that both compute the same thing: each side's mean risk_half, risk_end and
# clipped_fraction agree within 4 combined standard errors (the random streams differ,
# so only the statistics can be compared). The script exits 1 if a mean disagrees.
#
# Usage: bash bench/compare_dp_sgd.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   PEER_TRIALS=40        trials for the loop peer (SEEDS_TRIALS=200 for the vectorised one)
#   RUST_TRIALS=400       trials for pretrainlab
#   D=200 GAMMA=0.5 CLIP=0.5 NOISE=1.0 LR=1.0   the instance
#   THREADS=              empty (default): both sides may use all cores, with
#                         OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS unset and
#                         pretrainlab's default --threads; THREADS=k pins both to k threads
#
# The peer times its trial loop itself; pretrainlab is timed from the outside (wall clock
# of the whole process, start-up and prediction included) and runs trials in parallel.
# The per-sample loop is sequential by nature; NumPy's d-vector operations are single-
# threaded at this size.
set -euo pipefail

source "$(dirname "$0")/common.sh"
bench_setup numpy

PEER_TRIALS=${PEER_TRIALS:-40}
SEEDS_TRIALS=${SEEDS_TRIALS:-200}
RUST_TRIALS=${RUST_TRIALS:-400}
D=${D:-200} GAMMA=${GAMMA:-0.5} CLIP=${CLIP:-0.5} NOISE=${NOISE:-1.0} LR=${LR:-1.0}

echo "cores: $(cores)   threads: $threads_note"
echo "instance: d=$D gamma=$GAMMA clip=$CLIP noise=$NOISE lr=$LR"

set_args=(--set "d=$D" --set "gamma=$GAMMA" --set "clip=$CLIP" --set "noise=$NOISE" --set "lr=$LR")
predicted=$("$BIN" predict dp-sgd "${set_args[@]}" --format json)
printf 'ODE: risk_half %.5f   risk_end %.5f   clipped_fraction %.5f   rho (replace-one zCDP) %.5g\n' \
    "$(field risk_half <<<"$predicted")" "$(field risk_end <<<"$predicted")" \
    "$(field clipped_fraction <<<"$predicted")" "$(field rho_zcdp <<<"$predicted")"

peer_args=(--d "$D" --gamma "$GAMMA" --clip "$CLIP" --noise "$NOISE" --lr "$LR" --seed 1 --json)
loop=$("$PYTHON" bench/dp_sgd_peer.py "${peer_args[@]}" --variant loop --trials "$PEER_TRIALS")
seeds=$("$PYTHON" bench/dp_sgd_peer.py "${peer_args[@]}" --variant seeds --trials "$SEEDS_TRIALS")
loop_tps=$(field trials_per_second <<<"$loop")
seeds_tps=$(field trials_per_second <<<"$seeds")
printf 'peer loop  (numpy %s): %5d trials in %8.3f s = %9.2f trials/s\n' \
    "$(field numpy_version <<<"$loop")" "$PEER_TRIALS" "$(field seconds <<<"$loop")" "$loop_tps"
printf 'peer seeds (numpy %s): %5d trials in %8.3f s = %9.2f trials/s\n' \
    "$(field numpy_version <<<"$seeds")" "$SEEDS_TRIALS" "$(field seconds <<<"$seeds")" "$seeds_tps"

t0=$(now)
out=$("$BIN" simulate dp-sgd "${set_args[@]}" --trials "$RUST_TRIALS" \
    ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
t1=$(now)
secs=$(calc "$t1 - $t0")
done_=$(field completed <<<"$out")
rust_tps=$(calc "$done_ / $secs")
printf 'pretrainlab:                 %5d trials in %8.3f s = %9.2f trials/s\n' "$done_" "$secs" "$rust_tps"
printf 'ratio pretrainlab (vs the seeds-vectorised loop)/peer: %.1fx\n' "$(calc "$rust_tps / $seeds_tps")"
printf 'ratio pretrainlab/peer: %.1fx\n' "$(calc "$rust_tps / $loop_tps")"

mismatch=0
for peer_name in loop seeds; do
    peer=${!peer_name}
    for metric in risk_half risk_end clipped_fraction; do
        pm=$(field "mean_$metric" <<<"$peer"); ps=$(field "se_$metric" <<<"$peer")
        rm_=$(stat "$metric" mean <<<"$out"); rs=$(stat "$metric" se <<<"$out")
        z=$(zscore "$rm_" "$rs" "$pm" "$ps")
        if within4 "$z"; then
            verdict=agree
        else
            verdict=MISMATCH
            mismatch=1
        fi
        printf '%-5s %-16s peer %.5f ± %.5f   pretrainlab %.5f ± %.5f   z %+.2f -> %s (|z| < 4)\n' \
            "$peer_name" "$metric" "$pm" "$ps" "$rm_" "$rs" "$z" "$verdict"
    done
done
exit "$mismatch"
