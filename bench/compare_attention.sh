#!/usr/bin/env bash
# Throughput of `pretrainlab simulate attention-tokens` against the NumPy peer
# (bench/attention_peer.py) at the default instance (tiers [2, 1.0] and [4, 0.5], 32 neutral
# tokens, T=8, n=200, d=64, eta=100, 4000 normalised-GD steps on p with step 0.05): per
# trial, one gradient step on E, the attention SVM, then the steps on p. A sanity check
# that the two compute the same thing: each side's mean alignment_tier1, alignment_tier2,
# slope_ratio and cos_pmm agree within 4 combined standard errors (the random streams
# differ, so only the statistics can be compared), and both select the optimal token in
# every sequence. The script exits 1 if a mean disagrees.
#
# Usage: bash bench/compare_attention.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   PEER_TRIALS=10        trials for the peer
#   RUST_TRIALS=100       trials for pretrainlab
#   P_STEPS=4000          steps on p
#   THREADS=              empty (default): both sides may use all cores, with
#                         OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS unset and
#                         pretrainlab's default --threads; THREADS=k pins both to k threads
#
# The peer times its trial loop itself, vectorises each step on p over all sequences
# (arrays n×T), and runs the SVM's coordinate ascent as a Python loop over the unique
# constraints (the method is sequential). pretrainlab is timed from the outside (wall
# clock of the whole process, start-up and prediction included) and runs trials in
# parallel.
set -euo pipefail

source "$(dirname "$0")/common.sh"
bench_setup numpy

PEER_TRIALS=${PEER_TRIALS:-10}
RUST_TRIALS=${RUST_TRIALS:-100}
P_STEPS=${P_STEPS:-4000}

echo "cores: $(cores)   threads: $threads_note"
echo "instance: tiers [2, 1.0], [4, 0.5]; neutral=32 seq_len=8 n=200 d=64 eta=100 p_step=0.05 p_steps=$P_STEPS"

peer=$("$PYTHON" bench/attention_peer.py --p-steps "$P_STEPS" --trials "$PEER_TRIALS" --seed 1 --json)
peer_tps=$(field trials_per_second <<<"$peer")
printf 'peer (numpy %s):  %5d trials in %8.3f s = %9.2f trials/s\n' \
    "$(field numpy_version <<<"$peer")" "$PEER_TRIALS" "$(field seconds <<<"$peer")" "$peer_tps"

t0=$(now)
out=$("$BIN" simulate attention-tokens --set "p_steps=$P_STEPS" --trials "$RUST_TRIALS" \
    ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
t1=$(now)
secs=$(calc "$t1 - $t0")
done_=$(field completed <<<"$out")
rust_tps=$(calc "$done_ / $secs")
printf 'pretrainlab:         %5d trials in %8.3f s = %9.2f trials/s\n' "$done_" "$secs" "$rust_tps"
ratio=$(calc "$rust_tps / $peer_tps")
printf 'ratio pretrainlab/peer: %.1fx\n' "$ratio"

mismatch=0
for metric in alignment_tier1 alignment_tier2 slope_ratio cos_pmm selection; do
    pm=$(field "mean_$metric" <<<"$peer"); ps=$(field "se_$metric" <<<"$peer")
    rm_=$(stat "$metric" mean <<<"$out"); rs=$(stat "$metric" se <<<"$out")
    z=$(zscore "$rm_" "$rs" "$pm" "$ps")
    if within4 "$z"; then
        verdict=agree
    else
        verdict=MISMATCH
        mismatch=1
    fi
    printf '%-16s peer %.5f ± %.5f   pretrainlab %.5f ± %.5f   z %+.2f -> %s (|z| < 4)\n' \
        "$metric" "$pm" "$ps" "$rm_" "$rs" "$z" "$verdict"
done
exit "$mismatch"
