#!/usr/bin/env bash
# Side-by-side timing of E‖L(Z)‖² for the Gaussian mixture at K = 4, d = 20, β = 2
# (unit-norm θ⋆), with the paper's Monte Carlo sizes (Fisher 1e5, projection 1e6,
# evaluation 1e6): pretrainlab (f64, analytic sensitivity) against the JAX float32
# reference bench/gmm_peer.py (autodiff sensitivity through the projection Monte Carlo).
#
# Setup once: python3 -m venv .venv && .venv/bin/pip install -r bench/requirements-jax.txt
# Run:        bash bench/compare_gmm.sh            (THREADS=1 to pin both to one core)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
THREADS=${THREADS:-}
cargo build --release -q -p pretrainlab-cli
BIN=target/release/pretrainlab
ARGS=(predict gmm --set K=4 --set d=20 --set beta=2.0 --set fisher_samples=100000
      --set proj_samples=1000000 --set eval_samples=1000000 --format json)
[ -n "$THREADS" ] && ARGS+=(--threads "$THREADS")
if [ -n "$THREADS" ]; then
  export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=$THREADS"
  export OMP_NUM_THREADS=$THREADS
fi
t0=$(date +%s.%N)
"$BIN" "${ARGS[@]}" > /tmp/gmm_rust.json
t1=$(date +%s.%N)
"$PY" bench/gmm_peer.py --K 4 --d 20 --beta 2 > /tmp/gmm_jax.json
t2=$(date +%s.%N)
"$PY" - "$t0" "$t1" "$t2" <<'PYEOF'
import json, sys
t0, t1, t2 = map(float, sys.argv[1:])
r = json.load(open("/tmp/gmm_rust.json"))
j = json.load(open("/tmp/gmm_jax.json"))
rt, jt = t1 - t0, t2 - t1
refs = {x["label"]: x["value"] for x in r["references"]}
se_eval = next(v for k, v in refs.items() if k.startswith("Monte Carlo s.e., evaluation"))
print(f"{'':14}{'E‖L(Z)‖²':>12}{'s.e.':>11}{'wall s':>9}")
print(f"{'pretrainlab':14}{r['interaction_mean']:>12.5f}{r['interaction_mean_se']:>11.2e}{rt:>9.2f}"
      f"   (s.e. total; evaluation stage alone {se_eval:.2e})")
print(f"{'JAX f32':14}{j['interaction_mean']:>12.5f}{j['interaction_mean_se']:>11.2e}{jt:>9.2f}"
      f"   (s.e. evaluation stage only; stages {j['times']})")
print(f"speed ratio JAX/pretrainlab = {jt / rt:.1f}x;"
      f" difference = {(j['interaction_mean'] - r['interaction_mean']):+.5f}")
PYEOF
