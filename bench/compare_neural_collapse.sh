#!/usr/bin/env bash
# Throughput of `pretrainlab simulate neural-collapse-resnet` against the NumPy peer
# (bench/nc_peer.py): a post-LayerNorm ResNet (one linear layer and ReLU per block) trained
# by full-batch gradient descent with weight decay, hand-written backpropagation on both
# sides, at K=4 classes of 8 samples in d=8, width 16, depth 8, 2000 steps (each trial
# ≈ 2000 · 6N(Lm² + md + Km) ≈ 8·10⁸ flops in small matrix products), and a sanity check
# that the two compute the same thing: each side's mean objective, train_accuracy and nc1
# agree within 4 combined standard errors (the random streams differ, so only the
# statistics can be compared). The script exits 1 if a mean disagrees.
#
# Usage: bash bench/compare_neural_collapse.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   PEER_TRIALS=6         trials for the peer
#   RUST_TRIALS=40        trials for pretrainlab
#   CLASSES=4 PER_CLASS=8 INPUT_DIM=8 WIDTH=16 DEPTH=8 LOSS=ce LAMBDA=0.005 LR=0.25
#   STEPS=2000 NOISE=0.3  the instance
#   THREADS=              empty (default): both sides may use all cores, with
#                         OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS unset and
#                         pretrainlab's default --threads; THREADS=k pins both to k threads
#
# The peer times its trial loop itself and batches each layer over the N samples (one
# matrix product per layer and pass, as a NumPy user would write it); pretrainlab is timed
# from the outside (wall clock of the whole process, start-up and prediction included) and
# runs trials in parallel. The NC1 trace is off (record = 0), as the peer has none.
set -euo pipefail

source "$(dirname "$0")/common.sh"
bench_setup numpy

PEER_TRIALS=${PEER_TRIALS:-6}
RUST_TRIALS=${RUST_TRIALS:-40}
CLASSES=${CLASSES:-4} PER_CLASS=${PER_CLASS:-8} INPUT_DIM=${INPUT_DIM:-8} WIDTH=${WIDTH:-16}
DEPTH=${DEPTH:-8} LOSS=${LOSS:-ce} LAMBDA=${LAMBDA:-0.005} LR=${LR:-0.25} STEPS=${STEPS:-2000}
NOISE=${NOISE:-0.3}

echo "cores: $(cores)   threads: $threads_note"
echo "instance: classes=$CLASSES per_class=$PER_CLASS input_dim=$INPUT_DIM width=$WIDTH depth=$DEPTH loss=$LOSS lambda=$LAMBDA lr=$LR steps=$STEPS noise=$NOISE"

peer=$("$PYTHON" bench/nc_peer.py --classes "$CLASSES" --per-class "$PER_CLASS" \
    --input-dim "$INPUT_DIM" --width "$WIDTH" --depth "$DEPTH" --loss "$LOSS" \
    --lambda "$LAMBDA" --lr "$LR" --steps "$STEPS" --noise "$NOISE" \
    --trials "$PEER_TRIALS" --seed 1 --json)
peer_tps=$(field trials_per_second <<<"$peer")
printf 'peer (numpy %s):  %5d trials in %8.3f s = %9.3f trials/s\n' \
    "$(field numpy_version <<<"$peer")" "$PEER_TRIALS" "$(field seconds <<<"$peer")" "$peer_tps"

set_args=(--set "classes=$CLASSES" --set "per_class=$PER_CLASS" --set "input_dim=$INPUT_DIM"
    --set "width=$WIDTH" --set "depth=$DEPTH" --set "loss=\"$LOSS\"" --set "lambda=$LAMBDA"
    --set "lr=$LR" --set "steps=$STEPS" --set "noise=$NOISE" --set "record=0")
t0=$(now)
out=$("$BIN" simulate neural-collapse-resnet "${set_args[@]}" --trials "$RUST_TRIALS" \
    ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
t1=$(now)
secs=$(calc "$t1 - $t0")
done_=$(field completed <<<"$out")
rust_tps=$(calc "$done_ / $secs")
printf 'pretrainlab:         %5d trials in %8.3f s = %9.3f trials/s\n' "$done_" "$secs" "$rust_tps"
ratio=$(calc "$rust_tps / $peer_tps")
printf 'ratio pretrainlab/peer: %.1fx\n' "$ratio"

mismatch=0
for metric in objective train_accuracy nc1; do
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
