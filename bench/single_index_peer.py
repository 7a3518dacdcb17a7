#!/usr/bin/env python3
"""NumPy "peer" benchmark for `pretrainlab simulate single-index-gd-sgd`.

Single-index learning (Kovacevic, Ji, Wu, Soltanolkotabi, Mondelli, "Full-Batch Gradient
Descent Outperforms One-Pass SGD: Sample Complexity Separation in Single-Index Learning",
arXiv 2602.02431), one Monte Carlo trial at a time, written the way a NumPy user would,
in float64, with the same definitions as the Rust model
(crates/pretrainlab/src/models/single_index.rs):

    x ~ N(0, I_d),  theta* uniform on the sphere,  y = sigma(<x, theta*>),  n = round(delta d)
    sigma(z) = z^2 (square) or min(z^2, M) (truncated),  sigma'(z) = 2z (1{z^2 < M})

    sgd: n steps, one fresh sample each, u = <x, theta>,
         theta <- normalise(theta + (lr/d) y sigma'(u) (x - u theta))
    gd:  the n x d data held; g = X^T (y sigma'(X theta)) / n, rho = <g, theta>,
         eta = min(lr, 1/(2 rho)), theta <- normalise(theta + eta (g - rho theta)),
         stopping when |g - rho theta| <= 1e-7 rho or after `steps` steps

The metric is overlap2 = <theta, theta*>^2 at the end. Only the trial loop is timed
(time.perf_counter). The SGD loop is a Python loop over the samples (each step needs the
iterate of the previous one); GD is vectorised (two matrix-vector products per step).
The random streams differ from pretrainlab's, so only the statistics are comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np


def link(z, square: bool, m: float):
    """(sigma(z), sigma'(z)) elementwise."""
    s = z * z
    if square:
        return s, 2.0 * z
    inside = s < m
    return np.where(inside, s, m), np.where(inside, 2.0 * z, 0.0)


def link1(z: float, square: bool, m: float):
    """(sigma(z), sigma'(z)) of one float, without array overhead."""
    s = z * z
    if square or s < m:
        return s, 2.0 * z
    return m, 0.0


def unit(rng: np.random.Generator, d: int) -> np.ndarray:
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v)


def trial_sgd(rng, d, n, lr, square, m):
    star = unit(rng, d)
    theta = unit(rng, d)
    step = lr / d
    for _ in range(n):
        x = rng.standard_normal(d)
        z = float(x @ star)
        u = float(x @ theta)
        y, _ = link1(z, square, m)
        _, du = link1(u, square, m)
        theta = theta + step * y * du * (x - u * theta)
        theta /= np.linalg.norm(theta)
    return float((theta @ star) ** 2)


def trial_gd(rng, d, n, lr, steps, square, m):
    star = unit(rng, d)
    theta = unit(rng, d)
    x = rng.standard_normal((n, d))
    y, _ = link(x @ star, square, m)
    for _ in range(steps):
        _, du = link(x @ theta, square, m)
        g = x.T @ (y * du) / n
        rho = g @ theta
        t = g - rho * theta
        if np.linalg.norm(t) <= 1e-7 * abs(rho):
            break
        eta = min(lr, 0.5 / rho) if rho > 0 else lr
        theta = theta + eta * t
        theta /= np.linalg.norm(theta)
    return float((theta @ star) ** 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="NumPy peer of `pretrainlab simulate single-index-gd-sgd` (sgd and gd).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--algorithm", choices=["sgd", "gd"], default="sgd")
    ap.add_argument("--d", type=int, default=128, help="dimension")
    ap.add_argument("--delta", type=float, default=32.0, help="samples per dimension, n = round(delta d)")
    ap.add_argument("--link", choices=["square", "truncated"], default="truncated")
    ap.add_argument("--truncation", type=float, default=8.0, help="truncation level M")
    ap.add_argument("--lr", type=float, default=0.1, help="step size (sgd: lr/d per sample)")
    ap.add_argument("--steps", type=int, default=1000, help="gd steps")
    ap.add_argument("--trials", type=int, default=10, help="Monte Carlo trials")
    ap.add_argument("--seed", type=int, default=1, help="seed of numpy.random.default_rng")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args(argv)
    if a.trials < 1 or a.d < 2:
        raise SystemExit("error: --trials must be >= 1 and --d >= 2")
    n = int(round(a.delta * a.d))
    square = a.link == "square"
    rng = np.random.default_rng(a.seed)
    rec = np.empty(a.trials)
    t0 = time.perf_counter()
    for t in range(a.trials):
        if a.algorithm == "sgd":
            rec[t] = trial_sgd(rng, a.d, n, a.lr, square, a.truncation)
        else:
            rec[t] = trial_gd(rng, a.d, n, a.lr, a.steps, square, a.truncation)
    secs = time.perf_counter() - t0
    se = rec.std(ddof=1) / math.sqrt(a.trials) if a.trials > 1 else float("nan")
    out = {
        "trials": a.trials,
        "seconds": secs,
        "trials_per_second": a.trials / secs if secs > 0 else float("inf"),
        "numpy_version": np.__version__,
        "mean_overlap2": float(rec.mean()),
        "se_overlap2": float(se),
        "algorithm": a.algorithm, "d": a.d, "n": n, "link": a.link,
        "seed": a.seed, "cpu_count": os.cpu_count(),
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(f"{a.algorithm} d={a.d} n={n}: {a.trials} trials in {secs:.3f} s, "
              f"overlap2 {out['mean_overlap2']:.4f} +- {se:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
