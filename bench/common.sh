# Shared preamble of the bench/compare_*.sh scripts; sourced, not run:
#
#   set -euo pipefail
#   source "$(dirname "$0")/common.sh"
#   bench_setup numpy            # or: bench_setup numpy scipy
#
# Sourcing moves to the repository root. bench_setup reads the environment overrides
# every comparison shares, pins the threads and checks the binary and the Python modules:
#   PYTHON=python3        interpreter with the modules (pip install -r bench/requirements.txt)
#   PRETRAINLAB=target/release/pretrainlab   the Rust binary (cargo build --release)
#   THREADS=              empty (default): both sides may use all cores, with
#                         OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS unset and
#                         pretrainlab's default --threads; THREADS=k pins both to k threads
# and sets PYTHON, BIN, THREADS, RUST_THREADS (the binary's thread arguments, to be passed
# as ${RUST_THREADS[@]+"${RUST_THREADS[@]}"}) and threads_note (a description).
# The helpers below read JSON on stdin or evaluate with $PYTHON.

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# bench_setup MODULE...: the shared overrides, thread pinning and checks (exit 1 on failure).
bench_setup() {
    PYTHON=${PYTHON:-python3}
    BIN=${PRETRAINLAB:-target/release/pretrainlab}
    THREADS=${THREADS:-}
    RUST_THREADS=()
    if [[ -n "$THREADS" ]]; then
        export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
        RUST_THREADS=(--threads "$THREADS")
        threads_note="$THREADS on both sides (OMP/OPENBLAS/MKL_NUM_THREADS=$THREADS, --threads $THREADS)"
    else
        unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS
        threads_note="all cores on both sides (OMP/OPENBLAS/MKL_NUM_THREADS unset, default --threads)"
    fi
    if [[ ! -x "$BIN" ]]; then
        echo "error: $BIN not found; build it first with: cargo build --release" >&2
        exit 1
    fi
    local modules
    modules=$(IFS=,; echo "$*")
    if ! "$PYTHON" -c "import ${modules:-numpy}" 2>/dev/null; then
        echo "error: $PYTHON lacks one of: ${*:-numpy}; run: $PYTHON -m pip install -r bench/requirements.txt" >&2
        exit 1
    fi
}

# cores: the machine's cores, whatever the thread pinning.
cores() { env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc; }

# field KEY: a top-level field of the JSON object on stdin.
field() { "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# stat METRIC KEY: a metric's statistic (mean, se, ...) from pretrainlab's JSON on stdin.
stat() {
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])' "$1" "$2"
}

# now: wall-clock seconds.
now() { date +%s.%N; }

# calc EXPR: a Python expression (math's inf and nan in scope).
calc() { "$PYTHON" -c "from math import inf, nan; print($1)"; }

# zscore A SE_A B SE_B: (A − B)/√(SE_A² + SE_B²); 0 when both are exact and equal.
zscore() {
    "$PYTHON" -c '
import math, sys
a, sa, b, sb = map(float, sys.argv[1:])
s = math.hypot(sa, sb)
d = a - b
print(d / s if s > 0 else (0.0 if d == 0 else math.copysign(math.inf, d)))' "$@"
}

# within4 Z: succeeds when |Z| < 4.
within4() { "$PYTHON" -c 'import sys; sys.exit(0 if abs(float(sys.argv[1])) < 4 else 1)' "$1"; }
