#!/usr/bin/env bash
# Throughput of `pretrainlab simulate glm-oi-amp` against the NumPy/SciPy peer
# (bench/glm_oi_peer.py) on noiseless phase retrieval y = z² with Haar U, V and squared
# singular values uniform on [0, 1] in shape, d = 1000, δ = 2 (n = 2000): the design draw
# (two QR factorisations, 2000×1000 and 1000×1000), the spectral estimator (the 1000×1000
# matrix S Uᵀdiag(T)U S and its top eigenvector) and GVAMP from it, per trial. Sanity check:
# the mean spectral overlaps agree within 4 combined standard errors, and both sides'
# GVAMP reach the state evolution's perfect recovery (mean overlap_amp within 10⁻³ of each
# other). The script exits 1 if either disagrees.
#
# Usage: bash bench/compare_glm_oi.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy and scipy (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   PEER_TRIALS=4         trials for the peer
#   RUST_TRIALS=8         trials for pretrainlab
#   D=1000 DELTA=2.0      the instance
#   THREADS=              empty (default): both sides may use all cores, with
#                         OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS unset and
#                         pretrainlab's default --threads; THREADS=k pins both to k threads
#
# The peer times its trial loop itself and reports its split (design, spectral, GVAMP);
# pretrainlab is timed from the outside (wall clock of the whole process, start-up and
# prediction included) and runs trials in parallel, one per thread, each single-threaded
# (faer, Par::Seq). NumPy's LAPACK calls (QR, eigh) use its BLAS threads. The peer solves
# the phase-retrieval posterior in closed form; pretrainlab by root finding on the
# channel formula.
set -euo pipefail

source "$(dirname "$0")/common.sh"
bench_setup numpy scipy

PEER_TRIALS=${PEER_TRIALS:-4}
RUST_TRIALS=${RUST_TRIALS:-8}
D=${D:-1000} DELTA=${DELTA:-2.0}

echo "cores: $(cores)   threads: $threads_note"
echo "instance: d=$D delta=$DELTA spectrum=uniform[0,1] channel=z^2"

set_args=(--set "d=$D" --set "delta=$DELTA" --set 'spectrum="uniform"' --set 'channel="z^2"')

peer=$("$PYTHON" bench/glm_oi_peer.py --d "$D" --delta "$DELTA" --trials "$PEER_TRIALS" --seed 1 --json)
printf 'peer (numpy %s, scipy %s): %3d trials in %8.3f s = %8.3f trials/s\n' \
    "$(field numpy_version <<<"$peer")" "$(field scipy_version <<<"$peer")" \
    "$(field trials <<<"$peer")" "$(field seconds <<<"$peer")" \
    "$(field trials_per_second <<<"$peer")"
printf '  peer split: design (QR) %.2f s, spectral %.2f s, GVAMP %.2f s\n' \
    "$(field seconds_design <<<"$peer")" "$(field seconds_spectral <<<"$peer")" \
    "$(field seconds_gvamp <<<"$peer")"

t0=$(now)
out=$("$BIN" simulate glm-oi-amp "${set_args[@]}" --trials "$RUST_TRIALS" \
    ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
t1=$(now)
secs=$(calc "$t1 - $t0")
done_=$(field completed <<<"$out")
rust_tps=$(calc "$done_ / $secs")
printf 'pretrainlab:                       %3d trials in %8.3f s = %8.3f trials/s\n' \
    "$done_" "$secs" "$rust_tps"
printf 'ratio pretrainlab/peer: %.1fx\n' "$(calc "$rust_tps / $(field trials_per_second <<<"$peer")")"

mismatch=0
pm=$(field mean_overlap_spectral <<<"$peer"); ps=$(field se_overlap_spectral <<<"$peer")
rm_=$(stat overlap_spectral mean <<<"$out"); rs=$(stat overlap_spectral se <<<"$out")
z=$(zscore "$rm_" "$rs" "$pm" "$ps")
if within4 "$z"; then verdict=agree; else verdict=MISMATCH; mismatch=1; fi
printf '  overlap_spectral peer %.4f ± %.4f   pretrainlab %.4f ± %.4f   z %+.2f -> %s (|z| < 4)\n' \
    "$pm" "$ps" "$rm_" "$rs" "$z" "$verdict"
pa=$(field mean_overlap_amp <<<"$peer"); ra=$(stat overlap_amp mean <<<"$out")
if "$PYTHON" -c "import sys; sys.exit(0 if abs($pa - $ra) < 1e-3 else 1)"; then
    verdict=agree
else
    verdict=MISMATCH
    mismatch=1
fi
printf '  overlap_amp      peer %.6f   pretrainlab %.6f -> %s (within 1e-3)\n' "$pa" "$ra" "$verdict"
exit "$mismatch"
