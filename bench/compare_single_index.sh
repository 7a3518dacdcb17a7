#!/usr/bin/env bash
# Throughput of `pretrainlab simulate single-index-gd-sgd` against the NumPy peer
# (bench/single_index_peer.py), by default for one-pass SGD (a per-sample loop: d=128,
# delta=32, so n = 4096 steps per trial, truncated link M = 8, lr = 0.1), and a sanity check
# that the two compute the same thing: the mean overlap2 agrees within 4 combined standard
# errors (the random streams differ, so only the statistics can be compared). The script
# exits 1 if it disagrees. ALGORITHM=gd compares full-batch spherical GD instead.
#
# Usage: bash bench/compare_single_index.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   PEER_TRIALS=10        trials for the peer
#   RUST_TRIALS=200       trials for pretrainlab
#   ALGORITHM=sgd D=128 DELTA=32 LINK=truncated LR=0.1 STEPS=1000   the instance
#   THREADS=              empty (default): both sides may use all cores; THREADS=k pins
#                         both to k threads (OMP/OPENBLAS/MKL_NUM_THREADS and --threads)
#
# The peer times its trial loop itself; pretrainlab is timed from the outside (wall clock
# of the whole process, start-up included) and runs trials in parallel.
set -euo pipefail

source "$(dirname "$0")/common.sh"
bench_setup numpy

PEER_TRIALS=${PEER_TRIALS:-10}
RUST_TRIALS=${RUST_TRIALS:-200}
ALGORITHM=${ALGORITHM:-sgd} D=${D:-128} DELTA=${DELTA:-32} LINK=${LINK:-truncated}
LR=${LR:-0.1} STEPS=${STEPS:-1000}

echo "cores: $(cores)   threads: $threads_note"
echo "instance: algorithm=$ALGORITHM d=$D delta=$DELTA link=$LINK lr=$LR steps=$STEPS"

set_args=(--set "algorithm=\"$ALGORITHM\"" --set "d=$D" --set "delta=$DELTA" \
    --set "link=\"$LINK\"" --set "lr=$LR")
if [[ "$ALGORITHM" == gd ]]; then
    set_args+=(--set "steps=$STEPS")
fi

peer=$("$PYTHON" bench/single_index_peer.py --algorithm "$ALGORITHM" --d "$D" --delta "$DELTA" \
    --link "$LINK" --lr "$LR" --steps "$STEPS" --trials "$PEER_TRIALS" --seed 1 --json)
peer_tps=$(field trials_per_second <<<"$peer")
printf 'peer (numpy %s):  %5d trials in %8.3f s = %9.2f trials/s\n' \
    "$(field numpy_version <<<"$peer")" "$PEER_TRIALS" "$(field seconds <<<"$peer")" "$peer_tps"

t0=$(now)
out=$("$BIN" simulate single-index-gd-sgd "${set_args[@]}" --trials "$RUST_TRIALS" \
    ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
t1=$(now)
secs=$(calc "$t1 - $t0")
done_=$(field completed <<<"$out")
rust_tps=$(calc "$done_ / $secs")
printf 'pretrainlab:         %5d trials in %8.3f s = %9.2f trials/s\n' "$done_" "$secs" "$rust_tps"
ratio=$(calc "$rust_tps / $peer_tps")
printf 'ratio pretrainlab/peer: %.1fx\n' "$ratio"

pm=$(field mean_overlap2 <<<"$peer"); ps=$(field se_overlap2 <<<"$peer")
rm_=$(stat overlap2 mean <<<"$out"); rs=$(stat overlap2 se <<<"$out")
z=$(zscore "$rm_" "$rs" "$pm" "$ps")
if within4 "$z"; then
    verdict=agree
    mismatch=0
else
    verdict=MISMATCH
    mismatch=1
fi
printf '%-16s peer %.5f ± %.5f   pretrainlab %.5f ± %.5f   z %+.2f -> %s (|z| < 4)\n' \
    overlap2 "$pm" "$ps" "$rm_" "$rs" "$z" "$verdict"
exit "$mismatch"
