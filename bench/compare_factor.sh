#!/usr/bin/env bash
# Throughput of `pretrainlab simulate factor` against the NumPy peer (bench/factor_peer.py)
# at d=200, k=5, strengths geometric 4..0.5, beta ones, m=100000, n=10000.
#
# Usage: bash bench/compare_factor.sh
# Environment overrides (all optional):
#   PYTHON, PRETRAINLAB, THREADS   as in every comparison (see bench/common.sh)
#   PEER_TRIALS=5            trials for the peer (each takes ~0.5-1 s)
#   RUST_TRIALS=4000         trials for pretrainlab's default sampler (projected)
#   WISHART_TRIALS=200       trials for pretrainlab with --sampler wishart (the O(d³) path)
#   RAW=1                    also time pretrainlab with --sampler raw (draws the m and n
#                            samples like the peer does) over RAW_TRIALS (default 20) trials
#
# Both programs may use all cores (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS
# unset) unless THREADS=k pins both to k threads. The peer times its trial loop itself;
# pretrainlab is timed from the outside (wall clock of the whole process, start-up and
# model set-up included).
set -euo pipefail

source "$(dirname "$0")/common.sh"
bench_setup numpy

PEER_TRIALS=${PEER_TRIALS:-5}
RUST_TRIALS=${RUST_TRIALS:-4000}
WISHART_TRIALS=${WISHART_TRIALS:-200}
RAW=${RAW:-0}
RAW_TRIALS=${RAW_TRIALS:-20}

# Must equal factor_peer.py's default for k=5: 4 * (0.5/4) ** (i/4), i = 0..4.
STRENGTHS='[4.0,2.378414230005442,1.4142135623730951,0.8408964152537145,0.5]'
STRENGTHS_CSV=${STRENGTHS//[\[\]]/}
D=200
K=5
M=100000
N=10000

echo "cores: $(cores)   threads: $threads_note"
echo "instance: d=$D k=$K m=$M n=$N strengths=$STRENGTHS beta=ones"

# --- the NumPy peer ---------------------------------------------------------------
peer_json=$("$PYTHON" bench/factor_peer.py --d "$D" --k "$K" --strengths "$STRENGTHS_CSV" \
    --m "$M" --n "$N" --trials "$PEER_TRIALS" --seed 1 --json)
peer_tps=$(field trials_per_second <<<"$peer_json")
peer_secs=$(field seconds <<<"$peer_json")
peer_mrep=$(field mean_m_rep <<<"$peer_json")
numpy_version=$(field numpy_version <<<"$peer_json")
printf 'peer (numpy %s):        %6d trials in %9.3f s = %10.3f trials/s   mean m*Rep %.3f\n' \
    "$numpy_version" "$PEER_TRIALS" "$peer_secs" "$peer_tps" "$peer_mrep"

# --- pretrainlab --------------------------------------------------------------------
run_rust() { # run_rust TRIALS [extra args...]; sets rust_secs, rust_done, rust_mrep
    local trials=$1
    shift
    local t0 t1 out
    t0=$(now)
    out=$("$BIN" simulate factor --set d="$D" --set k="$K" --set "strengths=$STRENGTHS" \
        --m "$M" --n "$N" --trials "$trials" ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} \
        --format json --quiet "$@")
    t1=$(now)
    rust_secs=$("$PYTHON" -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$t0" "$t1")
    rust_done=$(field completed <<<"$out")
    rust_mrep=$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["m_rep"]["mean"])' <<<"$out")
}

ratio() { "$PYTHON" -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' "$1" "$2"; }

per_trial_ms() { "$PYTHON" -c 'import sys; print(1000 * float(sys.argv[2]) / float(sys.argv[1]))' "$1" "$2"; }

run_rust "$RUST_TRIALS" --sampler projected
rust_tps=$("$PYTHON" -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' "$rust_done" "$rust_secs")
printf 'pretrainlab (projected): %6d trials in %9.3f s = %10.3f trials/s = %.3f ms/trial   mean m*Rep %.3f\n' \
    "$rust_done" "$rust_secs" "$rust_tps" "$(per_trial_ms "$rust_done" "$rust_secs")" "$rust_mrep"

run_rust "$WISHART_TRIALS" --sampler wishart
wishart_tps=$("$PYTHON" -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' "$rust_done" "$rust_secs")
printf 'pretrainlab (wishart):   %6d trials in %9.3f s = %10.3f trials/s = %.3f ms/trial   mean m*Rep %.3f\n' \
    "$rust_done" "$rust_secs" "$wishart_tps" "$(per_trial_ms "$rust_done" "$rust_secs")" "$rust_mrep"

if [[ "$RAW" == 1 ]]; then
    run_rust "$RAW_TRIALS" --sampler raw
    raw_tps=$("$PYTHON" -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' "$rust_done" "$rust_secs")
    printf 'pretrainlab (raw):       %6d trials in %9.3f s = %10.3f trials/s   mean m*Rep %.3f\n' \
        "$rust_done" "$rust_secs" "$raw_tps" "$rust_mrep"
fi

printf 'ratio pretrainlab/peer: %.1fx\n' "$(ratio "$rust_tps" "$peer_tps")"
printf 'ratio pretrainlab --sampler wishart/peer: %.1fx\n' "$(ratio "$wishart_tps" "$peer_tps")"
if [[ "$RAW" == 1 ]]; then
    printf 'ratio pretrainlab --sampler raw/peer: %.1fx\n' "$(ratio "$raw_tps" "$peer_tps")"
fi
