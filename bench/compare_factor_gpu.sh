#!/usr/bin/env bash
# pretrainlab on this machine's CPU cores against the batched PyTorch GPU peer
# (bench/factor_torch_peer.py) at the issue's instance: d=200, k=5, strengths geometric
# 4..0.5, beta ones, m=100000, n=10000.
#
# Usage: bash bench/compare_factor_gpu.sh
# Environment overrides (all optional):
#   TORCH_PYTHON=python3     interpreter with PyTorch (and a CUDA build for the GPU)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   GPU_TRIALS=512           trials for the peer, in batches of GPU_BATCH (default 32)
#   RUST_TRIALS=4000         trials for pretrainlab (default sampler: projected)
#
# Exits 3, printing why, when PyTorch or a CUDA device is missing: bench/run.sh then reports
# the comparison as skipped. The peer times its own trial loop (after a warm-up batch, with a
# device synchronisation at the end); pretrainlab is timed from the outside, start-up included.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_PYTHON=${TORCH_PYTHON:-python3}
BIN=${PRETRAINLAB:-target/release/pretrainlab}
GPU_TRIALS=${GPU_TRIALS:-512}
GPU_BATCH=${GPU_BATCH:-32}
RUST_TRIALS=${RUST_TRIALS:-4000}
STRENGTHS='[4.0,2.378414230005442,1.4142135623730951,0.8408964152537145,0.5]'

if ! "$TORCH_PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "skipped: no PyTorch with a visible CUDA device at $TORCH_PYTHON"
    exit 3
fi
if [[ ! -x "$BIN" ]]; then
    echo "error: $BIN not found; build it first with: cargo build --release" >&2
    exit 1
fi

field() { "$TORCH_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

peer=$("$TORCH_PYTHON" bench/factor_torch_peer.py --backend torch --device cuda \
    --trials "$GPU_TRIALS" --batch "$GPU_BATCH" --json)
peer_ms=$(field ms_per_trial <<<"$peer")
printf 'peer (%s): %d trials, %.3f ms/trial, mean m*Rep %.3f\n' \
    "$(field backend <<<"$peer")" "$GPU_TRIALS" "$peer_ms" "$(field mean_m_rep <<<"$peer")"

t0=$(date +%s.%N)
out=$("$BIN" simulate factor --set d=200 --set k=5 --set "strengths=$STRENGTHS" \
    --m 100000 --n 10000 --trials "$RUST_TRIALS" --format json --quiet)
t1=$(date +%s.%N)
read -r rust_ms rust_mrep < <("$TORCH_PYTHON" -c '
import json, sys
o = json.loads(sys.argv[3])
print(1000 * (float(sys.argv[2]) - float(sys.argv[1])) / o["completed"], o["m_rep"]["mean"])' "$t0" "$t1" "$out")
printf 'pretrainlab (%s cores): %d trials, %.3f ms/trial, mean m*Rep %.3f\n' \
    "$(nproc)" "$RUST_TRIALS" "$rust_ms" "$rust_mrep"
printf 'ratio pretrainlab/peer: %.2fx\n' "$("$TORCH_PYTHON" -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' "$peer_ms" "$rust_ms")"
