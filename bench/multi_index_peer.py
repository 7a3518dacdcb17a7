#!/usr/bin/env python3
"""NumPy/SciPy "peer" benchmark for `pretrainlab simulate multi-index-spectral`.

The spectral estimator of a multi-index model (Kovacevic, Zhang, Mondelli, "Spectral
Estimators for Multi-Index Models: Precise Asymptotics and Optimal Weak Recovery",
arXiv 2502.01583), one Monte Carlo trial at a time, written the way a NumPy user would, in
float64, with the same definitions as the Rust model
(crates/pretrainlab/src/models/multi_index/mod.rs):

    a_i ~ N(0, I_d), i = 1..n = round(delta d),  W* = the first p axes,  g_i = a_i[:p]
    y_i = g1^2 + 3 g2^2 (p = 2),  T(y) = y / (y + 2)
    D = (1/n) A^T diag(T) A    (one BLAS GEMM)
    top p + 1 eigenpairs by scipy.linalg.eigh(D, subset_by_index=...) (LAPACK syevr:
    tridiagonal reduction, then the wanted eigenpairs), or with --solver eigsh by
    scipy.sparse.linalg.eigsh(D, k=p+1, which="LA") (ARPACK's implicitly restarted Lanczos,
    the counterpart of pretrainlab's block Krylov iteration)

Metrics: lambda1..lambda3, overlap_j = |W*^T v_j|^2 and subspace_overlap = (1/p) sum_j
overlap_j. Only the trial loop is timed (time.perf_counter), split into drawing, the
product and the eigensolver. The random streams differ from pretrainlab's, so only the
statistics are comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import scipy
import scipy.linalg
import scipy.sparse.linalg


def trial(rng: np.random.Generator, d: int, n: int, p: int, solver: str, clock: dict) -> list[float]:
    t0 = time.perf_counter()
    a = rng.standard_normal((n, d))
    g = a[:, :p]
    y = g[:, 0] ** 2 + 3.0 * g[:, 1] ** 2
    t = y / (y + 2.0)
    t1 = time.perf_counter()
    dm = a.T @ (a * t[:, None]) / n
    t2 = time.perf_counter()
    if solver == "eigsh":
        vals, vecs = scipy.sparse.linalg.eigsh(dm, k=p + 1, which="LA", tol=1e-10)
        order = np.argsort(vals)
        vals, vecs = vals[order], vecs[:, order]
    else:
        vals, vecs = scipy.linalg.eigh(dm, subset_by_index=[d - p - 1, d - 1])
    t3 = time.perf_counter()
    clock["draw"] += t1 - t0
    clock["product"] += t2 - t1
    clock["eigen"] += t3 - t2
    vals, vecs = vals[::-1], vecs[:, ::-1]
    overlaps = [float(np.sum(vecs[:p, j] ** 2)) for j in range(p)]
    return [float(v) for v in vals] + overlaps + [sum(overlaps) / p]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--d", type=int, default=1000)
    ap.add_argument("--delta", type=float, default=4.0)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--solver", choices=["eigh", "eigsh"], default="eigh")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    p = 2
    n = round(args.delta * args.d)
    rng = np.random.default_rng(args.seed)
    clock = {"draw": 0.0, "product": 0.0, "eigen": 0.0}
    rows = []
    start = time.perf_counter()
    for _ in range(args.trials):
        rows.append(trial(rng, args.d, n, p, args.solver, clock))
    seconds = time.perf_counter() - start
    names = ["lambda1", "lambda2", "lambda3", "overlap1", "overlap2", "subspace_overlap"]
    out = {
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "solver": args.solver,
        "trials": args.trials,
        "seconds": seconds,
        "trials_per_second": args.trials / seconds,
        "seconds_draw": clock["draw"],
        "seconds_product": clock["product"],
        "seconds_eigen": clock["eigen"],
    }
    for i, name in enumerate(names):
        col = np.array([r[i] for r in rows])
        out[f"mean_{name}"] = float(col.mean())
        out[f"se_{name}"] = float(col.std(ddof=1) / math.sqrt(len(col))) if len(col) > 1 else 0.0
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
