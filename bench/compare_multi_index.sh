#!/usr/bin/env bash
# Throughput of `pretrainlab simulate multi-index-spectral` against the NumPy/SciPy peer
# (bench/multi_index_peer.py): the spectral matrix D = (1/n) Aᵀ diag(T) A of y = g1² + 3g2²,
# T = y/(y + 2), p = 2, at d = 1000, δ = 4 (n = 4000), and its top three eigenpairs. The
# peer runs twice, with SciPy's dense `eigh` (LAPACK syevr, top eigenpairs only) and with
# ARPACK's `eigsh` (Lanczos); pretrainlab forms the lower half of D with faer and takes
# the eigenpairs by block Krylov iteration. A sanity check per peer: the means of lambda1
# and subspace_overlap agree within 4 combined standard errors (the random streams
# differ, so only the statistics can be compared). The script exits 1 if they disagree.
#
# Usage: bash bench/compare_multi_index.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy and scipy (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   PEER_TRIALS=6         trials for each peer
#   RUST_TRIALS=12        trials for pretrainlab
#   D=1000 DELTA=4        the instance
#   THREADS=              empty (default): both sides may use all cores; THREADS=k pins
#                         both to k threads (OMP/OPENBLAS/MKL_NUM_THREADS and --threads)
#
# The peer times its trial loop itself (and splits it into drawing, the product and the
# eigensolver); pretrainlab is timed from the outside (wall clock of the whole process,
# start-up and the prediction included) and runs trials in parallel, one per core, each
# single-threaded; the peer's BLAS and LAPACK use all cores within one trial.
set -euo pipefail

source "$(dirname "$0")/common.sh"
bench_setup numpy scipy

PEER_TRIALS=${PEER_TRIALS:-6}
RUST_TRIALS=${RUST_TRIALS:-12}
D=${D:-1000} DELTA=${DELTA:-4}

echo "cores: $(cores)   threads: $threads_note"
echo "instance: d=$D delta=$DELTA p=2 link=g1^2+3*g2^2 preprocessing=y/(y+2)"

t0=$(now)
out=$("$BIN" simulate multi-index-spectral --set "d=$D" --set "delta=$DELTA" --set "p=2" \
    --set 'link="g1^2 + 3*g2^2"' --set 'preprocessing="y/(y + 2)"' \
    --trials "$RUST_TRIALS" ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
t1=$(now)
secs=$(calc "$t1 - $t0")
done_=$(field completed <<<"$out")
rust_tps=$(calc "$done_ / $secs")

mismatch=0
for solver in eigh eigsh; do
    echo "== $solver"
    peer=$("$PYTHON" bench/multi_index_peer.py --d "$D" --delta "$DELTA" --solver "$solver" \
        --trials "$PEER_TRIALS" --seed 1 --json)
    peer_tps=$(field trials_per_second <<<"$peer")
    printf 'peer (numpy %s, scipy %s, %s):  %5d trials in %8.3f s = %9.3f trials/s\n' \
        "$(field numpy_version <<<"$peer")" "$(field scipy_version <<<"$peer")" "$solver" \
        "$PEER_TRIALS" "$(field seconds <<<"$peer")" "$peer_tps"
    printf '  peer time: draw %.3f s, product AᵀdiagT A %.3f s, %s %.3f s\n' \
        "$(field seconds_draw <<<"$peer")" "$(field seconds_product <<<"$peer")" "$solver" \
        "$(field seconds_eigen <<<"$peer")"
    printf 'pretrainlab:         %5d trials in %8.3f s = %9.3f trials/s\n' "$done_" "$secs" "$rust_tps"
    ratio=$(calc "$rust_tps / $peer_tps")
    printf 'ratio pretrainlab/peer: %.1fx\n' "$ratio"
    for metric in lambda1 subspace_overlap; do
        pm=$(field "mean_$metric" <<<"$peer"); ps=$(field "se_$metric" <<<"$peer")
        rm_=$(stat "$metric" mean <<<"$out"); rs=$(stat "$metric" se <<<"$out")
        z=$(zscore "$rm_" "$rs" "$pm" "$ps")
        if within4 "$z"; then
            verdict=agree
        else
            verdict=MISMATCH
            mismatch=1
        fi
        printf '%-18s peer %.5f ± %.5f   pretrainlab %.5f ± %.5f   z %+.2f -> %s (|z| < 4)\n' \
            "$metric" "$pm" "$ps" "$rm_" "$rs" "$z" "$verdict"
    done
done
exit "$mismatch"
