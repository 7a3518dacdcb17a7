#!/usr/bin/env bash
# Throughput of `pretrainlab simulate rf-reconstruction` against the NumPy peer
# (bench/rf_reconstruction_peer.py) at d=10, n=4, ratio=8 (p=320), relu+tanh, lr 2,
# momentum 0.9, with tol = 0 so that every trial runs exactly STEPS attack steps in both.
#
# Usage: bash bench/compare_rf_reconstruction.sh
# Environment overrides (all optional):
#   PYTHON, PRETRAINLAB, THREADS   as in every comparison (see bench/common.sh)
#   STEPS=3000            attack steps per trial
#   PEER_TRIALS=4         trials for the peer
#   RUST_TRIALS=16        trials for pretrainlab
#
# The peer times its trial loop; pretrainlab is timed from the outside (the whole
# process). Both may use all cores (pretrainlab runs trials in parallel, NumPy's BLAS
# threads its products) unless THREADS=k pins both to k threads.
set -euo pipefail

source "$(dirname "$0")/common.sh"
bench_setup numpy scipy

STEPS=${STEPS:-3000}
PEER_TRIALS=${PEER_TRIALS:-4}
RUST_TRIALS=${RUST_TRIALS:-16}

echo "cores: $(cores)   threads: $threads_note"
echo "instance: d=10 n=4 p=320 relu+tanh steps=$STEPS (tol 0)"

peer=$("$PYTHON" bench/rf_reconstruction_peer.py --steps "$STEPS" --tol 0 \
    --trials "$PEER_TRIALS" --json)
peer_tps=$(field trials_per_second <<<"$peer")
printf 'peer (numpy %s):  %4d trials in %8.3f s = %8.3f trials/s   success %.2f\n' \
    "$(field numpy_version <<<"$peer")" "$PEER_TRIALS" "$(field seconds <<<"$peer")" \
    "$peer_tps" "$(field success_rate <<<"$peer")"

t0=$(now)
out=$("$BIN" simulate rf-reconstruction --set steps="$STEPS" --set tol=0 \
    --trials "$RUST_TRIALS" ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
t1=$(now)
secs=$(calc "$t1 - $t0")
done_=$(field completed <<<"$out")
rust_tps=$(calc "$done_ / $secs")
success=$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["success"]["mean"])' <<<"$out")
printf 'pretrainlab:        %4d trials in %8.3f s = %8.3f trials/s   success %.2f\n' \
    "$done_" "$secs" "$rust_tps" "$success"
printf 'ratio pretrainlab/peer: %.1fx\n' "$(calc "$rust_tps / $peer_tps")"
