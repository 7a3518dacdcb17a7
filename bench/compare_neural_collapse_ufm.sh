#!/usr/bin/env bash
# Throughput of `pretrainlab simulate neural-collapse` (the LayerNorm unconstrained-features
# model: centred unit-norm features h = Pu/‖Pu‖ and a weight-decayed linear classifier W,
# minimised jointly by L-BFGS from a random start) against the NumPy/SciPy peer
# (bench/nc_ufm_peer.py, scipy.optimize.minimize(method="L-BFGS-B") with the analytic
# gradient) at two instances: the preset's (K=4 classes, width m=8, 5 samples per class:
# 192 variables) and a larger one (K=10, m=32, 10 per class: 3520 variables), λ=0.01,
# tol=1e-9 on ‖∇F‖₂ (the model's defaults), for the cross-entropy and the MSE loss, and a
# check that the two compute the same thing. The ratio falls with the size: the peer's
# cost per iteration is mostly Python and SciPy overhead, fixed, while pretrainlab's
# grows with the number of variables (at 3520 it is mostly the L-BFGS passes over its
# ten stored pairs, bound by memory bandwidth). Every trial of both sides should reach the global optimum F⋆
# (read from `pretrainlab predict`), so the means agree to rounding: objective within
# 4 combined s.e. plus 10⁻⁶·F⋆ (the model's own check tolerance), scale within 4 s.e. plus
# 10⁻⁵·s⋆, NC1 within 4 s.e. plus 10⁻⁵ absolute. The script exits 1 if a mean disagrees
# or a side completes no trial.
#
# Usage: bash bench/compare_neural_collapse_ufm.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy and scipy (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   PEER_TRIALS=8         trials (random starts) for the peer, per loss (10× at the small instance)
#   RUST_TRIALS=200       trials for pretrainlab, per loss (10× at the small instance)
#   LOSSES="ce mse"       the losses to compare (e.g. LOSSES=ce)
#   INSTANCES="4x8x5 10x32x10"   the instances, each classes x width x per_class
#   LAMBDA=0.01 TOL=1e-9 MAX_ITER=20000
#   THREADS=              empty (default): both sides may use all cores, with
#                         OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS unset and
#                         pretrainlab's default --threads; THREADS=k pins both to k threads
#
# The peer times its trial loop itself (one L-BFGS-B minimisation after another, the
# objective vectorised over the N samples); pretrainlab is timed from the outside (wall
# clock of the whole process, start-up and prediction included) and runs trials in
# parallel. Both use the same stopping rule (‖∇F‖₂ ≤ tol at the normalised point, restarts
# from it, 10 L-BFGS pairs) and the same random start (W ~ N(0, 1/m), U ~ N(0, 1), then
# uᵢ ← Puᵢ/‖Puᵢ‖); the line searches differ (SciPy: Moré–Thuente strong Wolfe; pretrainlab:
# Armijo backtracking from t = 1). The peer prints its mean L-BFGS-B iteration count.
set -euo pipefail

source "$(dirname "$0")/common.sh"
bench_setup numpy scipy

PEER_TRIALS=${PEER_TRIALS:-8}
RUST_TRIALS=${RUST_TRIALS:-200}
LOSSES=${LOSSES:-ce mse}
INSTANCES=${INSTANCES:-4x8x5 10x32x10}
LAMBDA=${LAMBDA:-0.01} TOL=${TOL:-1e-9} MAX_ITER=${MAX_ITER:-20000}
# agree A SE_A B SE_B SLACK: prints "z verdict" with z = (A − B)/√(SE_A² + SE_B²) and the
# verdict "agree" when |A − B| ≤ 4√(SE_A² + SE_B²) + SLACK (both finite), else "MISMATCH".
agree() {
    "$PYTHON" -c '
import math, sys
a, sa, b, sb, slack = map(float, sys.argv[1:])
s = math.hypot(sa, sb) if math.isfinite(sa) and math.isfinite(sb) else 0.0
d = a - b
z = d / s if s > 0 else (0.0 if d == 0 else math.copysign(math.inf, d))
ok = math.isfinite(d) and abs(d) <= 4 * s + slack
print(f"{z:+.2f}", "agree" if ok else "MISMATCH")' "$@"
}

echo "cores: $(cores)   threads: $threads_note"
mismatch=0
for instance in $INSTANCES; do
IFS=x read -r CLASSES WIDTH PER_CLASS <<<"$instance"
[[ $CLASSES =~ ^[0-9]+$ && $WIDTH =~ ^[0-9]+$ && $PER_CLASS =~ ^[0-9]+$ ]] || {
    echo "error: INSTANCES entries are classes x width x per_class, e.g. 4x8x5; got $instance" >&2
    exit 2
}
# The small instance runs ten times the trials, so that each side's time is not start-up.
scale=1; (( CLASSES * WIDTH * (1 + PER_CLASS) < 1000 )) && scale=10
echo "instance ${CLASSES}x${WIDTH}x${PER_CLASS}: classes=$CLASSES width=$WIDTH per_class=$PER_CLASS lambda=$LAMBDA tol=$TOL max_iter=$MAX_ITER"
for loss in $LOSSES; do
    echo "== $loss at ${CLASSES}x${WIDTH}x${PER_CLASS}"
    set_args=(--set "classes=$CLASSES" --set "width=$WIDTH" --set "per_class=$PER_CLASS"
        --set "lambda=$LAMBDA" --set "loss=\"$loss\"" --set "tol=$TOL" --set "max_iter=$MAX_ITER")
    predicted=$("$BIN" predict neural-collapse "${set_args[@]}" --format json)
    f_star=$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin).get("objective_star", "nan"))' <<<"$predicted")
    s_star=$("$PYTHON" -c 'import json, sys; print(json.load(sys.stdin).get("scale_star", "nan"))' <<<"$predicted")
    printf 'theory: F* %.12f   s* %.10f\n' "$f_star" "$s_star"

    peer=$("$PYTHON" bench/nc_ufm_peer.py --classes "$CLASSES" --width "$WIDTH" \
        --per-class "$PER_CLASS" --lambda "$LAMBDA" --loss "$loss" --tol "$TOL" \
        --max-iter "$MAX_ITER" --trials "$((PEER_TRIALS * scale))" --seed 1 --json)
    peer_tps=$(field trials_per_second <<<"$peer")
    printf 'peer (numpy %s, scipy %s):  %5d trials (%d failed) in %8.3f s = %9.3f trials/s, mean %.1f L-BFGS-B iterations\n' \
        "$(field numpy_version <<<"$peer")" "$(field scipy_version <<<"$peer")" \
        "$(field completed <<<"$peer")" "$(field failed <<<"$peer")" \
        "$(field seconds <<<"$peer")" "$peer_tps" "$(field mean_iterations <<<"$peer")"

    t0=$(now)
    out=$("$BIN" simulate neural-collapse "${set_args[@]}" --trials "$((RUST_TRIALS * scale))" \
        ${RUST_THREADS[@]+"${RUST_THREADS[@]}"} --format json --quiet)
    t1=$(now)
    secs=$(calc "$t1 - $t0")
    done_=$(field completed <<<"$out")
    rust_tps=$(calc "$done_ / $secs")
    printf 'pretrainlab:         %5d trials (%d failed) in %8.3f s = %9.3f trials/s\n' \
        "$done_" "$(field failed <<<"$out")" "$secs" "$rust_tps"
    ratio=$(calc "$rust_tps / $peer_tps")
    printf 'ratio pretrainlab/peer: %.1fx\n' "$ratio"

    for metric in objective scale nc1; do
        pm=$(field "mean_$metric" <<<"$peer"); ps=$(field "se_$metric" <<<"$peer")
        rm_=$(stat "$metric" mean <<<"$out"); rs=$(stat "$metric" se <<<"$out")
        # Relative slack against F*, s* (against the peer's mean where the width is too
        # small for the exact optimum and predict gives none).
        case $metric in
            objective) ref=$f_star; [[ $ref == nan ]] && ref=$pm; slack=$(calc "1e-6 * abs($ref)") ;;
            scale) ref=$s_star; [[ $ref == nan ]] && ref=$pm; slack=$(calc "1e-5 * abs($ref)") ;;
            nc1) slack=1e-5 ;;
        esac
        read -r z verdict < <(agree "$rm_" "$rs" "$pm" "$ps" "$slack")
        [[ $verdict == agree ]] || mismatch=1
        printf '%-10s peer %.12g ± %.2g   pretrainlab %.12g ± %.2g   diff %+.2g   z %s -> %s (|diff| <= 4 s.e. + %.2g)\n' \
            "$metric" "$pm" "$ps" "$rm_" "$rs" "$(calc "$rm_ - $pm")" "$z" "$verdict" "$slack"
    done
done
done
exit "$mismatch"
