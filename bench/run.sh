#!/usr/bin/env bash
# One benchmark command: every peer side by side with pretrainlab in one run, then a table
# of the measured ratios (pretrainlab's throughput over the peer's; above 1 means
# pretrainlab is faster) with a description of the machine.
#
# Usage: bash bench/run.sh
# Environment overrides (all optional):
#   PYTHON=python3        interpreter with numpy and scipy (pip install -r bench/requirements.txt)
#   JAX_PYTHON=.venv/bin/python   interpreter with JAX for the Gaussian-mixture peer
#                         (pip install -r bench/requirements-jax.txt); skipped if absent
#   TORCH_PYTHON=$PYTHON  interpreter with PyTorch and CUDA for the GPU peer of the factor
#                         model (bench/compare_factor_gpu.sh); skipped without a GPU
#   THREADS=k             pin every side to k threads (each comparison passes it on)
#
# Each comparison's full output is kept in the log folder printed at the end. The
# comparisons are the scripts bench/compare_*.sh; each also checks that both sides agree on
# the means it compares, and this command reports a comparison whose script failed.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
JAX_PYTHON=${JAX_PYTHON:-.venv/bin/python}
export PYTHON

cargo build --release -q -p pretrainlab-cli || exit 1
logs=$(mktemp -d "${TMPDIR:-/tmp}/pretrainlab-bench.XXXXXX")

describe_machine() {
    echo "machine:  $(uname -srm), $(env -u OMP_NUM_THREADS nproc) cores"
    local cpu
    cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
    [[ -n "$cpu" ]] && echo "cpu:      $cpu"
    local mem
    mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null)
    [[ -n "$mem" ]] && echo "memory:   $mem"
    echo "python:   $("$PYTHON" -c 'import sys, numpy; print(sys.version.split()[0], "numpy", numpy.__version__)' 2>&1)"
    echo "threads:  ${THREADS:-all cores}"
    echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

rows=()

# run_one NAME SCRIPT: runs a comparison and collects its ratio lines.
run_one() {
    local name=$1 script=$2 log="$logs/$1.log"
    echo "== $name ($script)"
    local start=$SECONDS
    if bash "$script" >"$log" 2>&1; then
        local found=0 section=""
        while IFS= read -r line; do
            if [[ $line =~ ^==\ (.+)$ ]]; then
                section=${BASH_REMATCH[1]}
            elif [[ $line =~ ratio\ pretrainlab([^:]*)/peer:\ ([0-9.]+)x ]]; then
                rows+=("$(printf '%-34s %8sx' "$name${section:+ $section}${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")")
                found=1
            elif [[ $line =~ speed\ ratio\ JAX/pretrainlab\ =\ ([0-9.]+)x ]]; then
                rows+=("$(printf '%-34s %8sx' "$name" "${BASH_REMATCH[1]}")")
                found=1
            fi
        done <"$log"
        ((found)) || rows+=("$(printf '%-34s %9s' "$name" "no ratio")")
        echo "   done in $((SECONDS - start)) s"
    else
        rows+=("$(printf '%-34s %9s' "$name" "FAILED")")
        echo "   FAILED after $((SECONDS - start)) s; see $log"
    fi
}

describe_machine | tee "$logs/machine.txt"
echo
run_one factor bench/compare_factor.sh
run_one spurious-ridge bench/compare_spurious.sh
run_one rf-reconstruction bench/compare_rf_reconstruction.sh
run_one ttt-linear bench/compare_ttt.sh
run_one dp-sgd bench/compare_dp_sgd.sh
run_one attention-tokens bench/compare_attention.sh
run_one neural-collapse-resnet bench/compare_neural_collapse.sh
run_one neural-collapse-ufm bench/compare_neural_collapse_ufm.sh
run_one single-index-gd-sgd bench/compare_single_index.sh
run_one glm-oi-amp bench/compare_glm_oi.sh
run_one multi-index-spectral bench/compare_multi_index.sh
if [[ -x "$JAX_PYTHON" ]] && "$JAX_PYTHON" -c 'import jax' 2>/dev/null; then
    PYTHON=$JAX_PYTHON run_one "gmm (JAX peer)" bench/compare_gmm.sh
else
    rows+=("$(printf '%-34s %9s' "gmm (JAX peer)" "skipped")")
    echo "== gmm: skipped, no JAX at $JAX_PYTHON (pip install -r bench/requirements-jax.txt)"
fi
TORCH_PYTHON=${TORCH_PYTHON:-$PYTHON}
if "$TORCH_PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    TORCH_PYTHON=$TORCH_PYTHON run_one "factor (PyTorch GPU peer)" bench/compare_factor_gpu.sh
else
    echo "== GPU: no PyTorch with a CUDA device at $TORCH_PYTHON; the PyTorch GPU peer is skipped"
    rows+=("$(printf '%-34s %9s' "factor (PyTorch GPU peer)" "skipped")")
fi

echo
describe_machine
printf '%-34s %9s\n' "comparison" "ratio"
printf '%s\n' "${rows[@]}"
echo "(ratio = pretrainlab trials/s over the peer's; gmm: the peer's wall time over pretrainlab's)"
echo "logs: $logs"
