#!/usr/bin/env python3
"""NumPy/SciPy "peer" benchmark for `pretrainlab simulate glm-oi-amp`.

Noiseless phase retrieval y = z^2 with an orthogonally invariant design (Zhang, Ji,
Venkataramanan, Mondelli, arXiv 2602.09240), one Monte Carlo trial at a time, written the
way a NumPy user would, with the same definitions as the Rust model
(crates/pretrainlab/src/models/glm_oi.rs):

    x ~ N(0, I_d),  n = round(delta d),  m = min(n, d)
    U (n x m), V (d x m): Q of numpy.linalg.qr of a Gaussian matrix, columns times sign(diag R)
    s_i^2 = c (a + (b - a)(i - 1/2)/m), c such that sum s_i^2 = n   (uniform shape on [a, b])
    A = U diag(s) V^T,  z = A x,  y = z^2
    spectral: top eigenvector w of S U^T diag(T(y)) U S / n (scipy.linalg.eigh, top pair
              only), x_s = V w, T(y) = 1 - 1/max(y, 1e-3) (= 1 - 1/E[z^2|y])
    GVAMP:    the model's iteration, with the posterior of z given y = z^2 and the prior
              N(p, v) in closed form (roots +-sqrt(y)): E = sqrt(y) tanh(p sqrt(y)/v),
              Var = y - E^2; damping 0.7 on (p2, tau2); start p1 = sqrt(0.05) A sqrt(d) x_s,
              tau1 = 1/0.95; stop when |x_t - x_{t-1}|^2 <= tol |x_t|^2.

The Rust model solves the posterior for any channel formula by root finding (about 150
formula evaluations per sample); the peer uses the closed form of phase retrieval, which
favours the peer. Only the trial loop is timed (time.perf_counter), split into the design
draw (QR), the spectral estimator and GVAMP. Threads: NumPy's BLAS/LAPACK use whatever
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS allow. The random streams differ
from pretrainlab's, so only the statistics (the means of the metrics) are comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import scipy
import scipy.linalg


def haar(rng, k, m):
    g = rng.standard_normal((k, m))
    q, r = np.linalg.qr(g)
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


def trial(rng, d, delta, a, b, iterations, tol, clock):
    n = int(round(delta * d))
    m = min(n, d)
    t0 = time.perf_counter()
    x = rng.standard_normal(d)
    u = haar(rng, n, m)
    v = haar(rng, d, m)
    shape = a + (b - a) * (np.arange(m) + 0.5) / m
    s = np.sqrt(shape * n / shape.sum())
    z = u @ (s * (v.T @ x))
    y = z * z
    t1 = time.perf_counter()
    t = 1.0 - 1.0 / np.maximum(y, 1e-3)
    k = (u.T @ (t[:, None] * u)) * np.outer(s, s) / n
    _, w = scipy.linalg.eigh(k, subset_by_index=[m - 1, m - 1])
    xs = v @ w[:, 0]
    overlap_spectral = (xs @ x) ** 2 / ((xs @ xs) * (x @ x))
    t2 = time.perf_counter()
    m0, rho = 0.05, 0.7
    p1 = math.sqrt(m0 * d / (xs @ xs)) * (u @ (s * (v.T @ xs)))
    tau1, tau2 = 1.0 / (1.0 - m0), 0.0
    p2t = np.zeros(n)
    xhat = xs.copy()
    root = np.sqrt(y)
    it = 0
    for it in range(1, iterations + 1):
        vv = 1.0 / tau1
        mean = root * np.tanh(p1 * root / vv)
        var = y - mean * mean
        eta1 = n / max(var.sum(), 1e-300)
        fresh = max(eta1 - tau1, 1e-12 * eta1)
        p2_new = (eta1 * mean - tau1 * p1) / fresh
        if it == 1:
            tau2, p2 = fresh, p2_new
        else:
            p2_old = p2t / tau2 if tau2 > 0 else 0.0
            tau2 = rho * fresh + (1 - rho) * tau2
            p2 = rho * p2_new + (1 - rho) * p2_old
        p2t = tau2 * p2
        c = u.T @ p2t
        kk = 1.0 / (1.0 + tau2 * s * s)
        vz = (s * s * kk).sum()
        xold = xhat
        xhat = v @ (s * kk * c)
        zhat = u @ (s * s * kk * c)
        eta2 = n / max(vz, 1e-300)
        tau1 = eta2 - tau2
        p1 = (eta2 * zhat - p2t) / tau1
        change = ((xhat - xold) ** 2).sum()
        if it > 1 and change <= tol * (xhat @ xhat):
            break
    t3 = time.perf_counter()
    clock["design"] += t1 - t0
    clock["spectral"] += t2 - t1
    clock["gvamp"] += t3 - t2
    xx, xh, hh = x @ x, x @ xhat, xhat @ xhat
    overlap = xh * xh / (xx * hh) if hh > 0 else 0.0
    mse = (xx - 2 * abs(xh) + hh) / d
    return [overlap_spectral, overlap, mse, float(it)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=1000)
    ap.add_argument("--delta", type=float, default=2.0)
    ap.add_argument("--a", type=float, default=0.0)
    ap.add_argument("--b", type=float, default=1.0)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    clock = {"design": 0.0, "spectral": 0.0, "gvamp": 0.0}
    start = time.perf_counter()
    rows = np.array([trial(rng, args.d, args.delta, args.a, args.b, args.iterations,
                           args.tol, clock) for _ in range(args.trials)])
    seconds = time.perf_counter() - start
    out = {
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "trials": args.trials,
        "seconds": seconds,
        "trials_per_second": args.trials / seconds,
        **{f"seconds_{k}": v for k, v in clock.items()},
    }
    for j, name in enumerate(["overlap_spectral", "overlap_amp", "mse_amp", "iterations"]):
        col = rows[:, j]
        out[f"mean_{name}"] = float(col.mean())
        out[f"se_{name}"] = float(col.std(ddof=1) / math.sqrt(len(col))) if len(col) > 1 else 0.0
    if args.json:
        json.dump(out, sys.stdout)
        print()
    else:
        for k, v in out.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
