#!/usr/bin/env bash
# Throughput of `pretrainlab simulate spurious-ridge` against the NumPy peer
# (bench/spurious_peer.py) in two configurations, at the model's other defaults
# (lambda 0.1, Sigma_xx = I, A = 0.6 I, the default D, theta* uniform, noise_var 0.25):
#   linear: ridge on z = [x; y], d=100, n=300
#   random: ridge on ReLU random features, d=50, n=200, width=2000
# and a sanity check that the two compute the same thing: each side's mean C and L agree
# within 4 combined standard errors (the random streams differ, so only the statistics
# can be compared). The script exits 1 if a mean disagrees.
#
# Usage: bash bench/compare_spurious.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy and scipy (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   LIN_PEER_TRIALS=400   linear trials for the peer
#   LIN_RUST_TRIALS=400   linear trials for pretrainlab
#   RF_PEER_TRIALS=20     random-features trials for the peer
#   RF_RUST_TRIALS=20     random-features trials for pretrainlab
#   THREADS=              empty (default): both sides may use all cores, with
#                         OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS unset and
#                         pretrainlab's default --threads; THREADS=k pins both to k threads
#                         (those variables = k for NumPy's BLAS, --threads k for pretrainlab)
#
# The peer times its trial loop itself; pretrainlab is timed from the outside (wall clock
# of the whole process, start-up and model set-up included). pretrainlab runs trials in
# parallel; NumPy threads only its BLAS/LAPACK calls (the random numbers and the
# elementwise kernel evaluation are single-threaded, as in a plain NumPy script).
set -euo pipefail

source "$(dirname "$0")/common.sh"
bench_setup numpy scipy

LIN_PEER_TRIALS=${LIN_PEER_TRIALS:-400}
LIN_RUST_TRIALS=${LIN_RUST_TRIALS:-400}
RF_PEER_TRIALS=${RF_PEER_TRIALS:-20}
RF_RUST_TRIALS=${RF_RUST_TRIALS:-20}

echo "cores: $(cores)   threads: $threads_note"

mismatch=0
summary=()

# compare NAME PEER_TRIALS RUST_TRIALS "PEER ARGS" "RUST ARGS"
compare() {
    local name=$1 peer_trials=$2 rust_trials=$3 peer_args=$4 rust_args=$5
    local peer peer_tps t0 t1 out secs done_ rust_tps ratio
    local pc pcs pl pls rc rcs rl rls zc zl verdict
    echo
    echo "== $name"
    # shellcheck disable=SC2086
    peer=$("$PYTHON" bench/spurious_peer.py $peer_args --trials "$peer_trials" --seed 1 --json)
    peer_tps=$(field trials_per_second <<<"$peer")
    pc=$(field mean_spurious_c <<<"$peer"); pcs=$(field se_spurious_c <<<"$peer")
    pl=$(field mean_excess_loss <<<"$peer"); pls=$(field se_excess_loss <<<"$peer")
    printf 'peer (numpy %s):  %5d trials in %8.3f s = %9.2f trials/s   C %.5f ± %.5f   L %.5f ± %.5f\n' \
        "$(field numpy_version <<<"$peer")" "$peer_trials" "$(field seconds <<<"$peer")" \
        "$peer_tps" "$pc" "$pcs" "$pl" "$pls"

    t0=$(now)
    # shellcheck disable=SC2086
    out=$("$BIN" simulate spurious-ridge $rust_args --trials "$rust_trials" \
        ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
    t1=$(now)
    secs=$(calc "$t1 - $t0")
    done_=$(field completed <<<"$out")
    rust_tps=$(calc "$done_ / $secs")
    rc=$(stat spurious_c mean <<<"$out"); rcs=$(stat spurious_c se <<<"$out")
    rl=$(stat excess_loss mean <<<"$out"); rls=$(stat excess_loss se <<<"$out")
    printf 'pretrainlab:         %5d trials in %8.3f s = %9.2f trials/s   C %.5f ± %.5f   L %.5f ± %.5f\n' \
        "$done_" "$secs" "$rust_tps" "$rc" "$rcs" "$rl" "$rls"

    ratio=$(calc "$rust_tps / $peer_tps")
    printf 'ratio pretrainlab/peer: %.1fx\n' "$ratio"

    zc=$(zscore "$rc" "$rcs" "$pc" "$pcs")
    zl=$(zscore "$rl" "$rls" "$pl" "$pls")
    if "$PYTHON" -c 'import sys; sys.exit(0 if max(abs(float(v)) for v in sys.argv[1:]) < 4 else 1)' "$zc" "$zl"; then
        verdict=agree
    else
        verdict=MISMATCH
        mismatch=1
    fi
    printf 'means (pretrainlab - peer in combined s.e.): C %+.2f, L %+.2f -> %s (|z| < 4)\n' \
        "$zc" "$zl" "$verdict"
    summary+=("$(printf '%-8s %12.2f %12.2f %9.1fx   %s' "$name" "$peer_tps" "$rust_tps" "$ratio" "$verdict")")
}

# Both sides take each linear trial's slopes at pretrainlab's predicted arg min of L.
slope_at=$("$BIN" predict spurious-ridge --set d=100 --set n=300 --format json \
    | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["argmin_loss_lambda"])')
compare linear "$LIN_PEER_TRIALS" "$LIN_RUST_TRIALS" \
    "--features linear --d 100 --n 300 --slope-at $slope_at" \
    "--set d=100 --set n=300"
compare random "$RF_PEER_TRIALS" "$RF_RUST_TRIALS" \
    "--features random --d 50 --n 200 --width 2000 --activation relu" \
    "--set d=50 --set n=200 --set features=\"random\" --set width=2000 --set activation=\"relu\""

echo
printf '%-8s %12s %12s %10s   %s\n' config "peer tr/s" "rust tr/s" ratio means
printf '%s\n' "${summary[@]}"
exit "$mismatch"
