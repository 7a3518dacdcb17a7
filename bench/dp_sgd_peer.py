#!/usr/bin/env python3
"""NumPy "peer" benchmark for `pretrainlab simulate dp-sgd`.

One-pass DP-SGD for linear regression (Bombari, Luo, Seroussi, Mondelli, "Better Rates for
Private Linear Regression in the Proportional Regime via Aggressive Clipping", arXiv
2505.16329), with the same definitions as the Rust model
(crates/pretrainlab/src/models/dp_sgd.rs):

    x ~ N(0, I_d),  y = x^T theta* + zeta eps,  |theta*|^2 = theta_norm2,  n = round(d / gamma)
    theta <- theta - (eta(t) / n) (clip_{c sqrt(d)}(g_i) + omega xi_i),  g_i = x_i (x_i^T theta - y_i)
    eta(t) = lr / (1 + lr_decay t),  t = i / n,  xi_i ~ N(0, I_d),  theta_0 = 0

Metrics per trial: risk_half = |theta - theta*|^2 after n//2 samples, risk_end after all n,
clipped_fraction = the fraction of samples whose gradient norm exceeded c sqrt(d).

Two variants:
  --variant loop    (default) a plain per-sample Python loop with NumPy d-vectors, one trial
                    at a time: what a user would write.
  --variant seeds   the same loop over samples, vectorised over all trials at once
                    (arrays of shape (trials, d)).
Only the trial loop is timed (time.perf_counter). The random streams differ from
pretrainlab's, so only the statistics (the means of the metrics) are comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

METRICS = ["risk_half", "risk_end", "clipped_fraction"]


def trial(rng, d, n, zeta, theta_norm2, clip, noise, lr, lr_decay):
    theta_star = rng.standard_normal(d)
    theta_star *= math.sqrt(theta_norm2) / np.linalg.norm(theta_star)
    theta = np.zeros(d)
    cap = clip * math.sqrt(d)
    half = n // 2
    clipped = 0
    risk_half = float("nan")
    for i in range(n):
        if i == half:
            risk_half = float(np.sum((theta - theta_star) ** 2))
        eta = lr / (1.0 + lr_decay * i / n)
        x = rng.standard_normal(d)
        y = x @ theta_star + zeta * rng.standard_normal()
        g = x * (x @ theta - y)
        norm = np.linalg.norm(g)
        if norm > cap:
            g *= cap / norm
            clipped += 1
        if noise > 0.0:
            g += noise * rng.standard_normal(d)
        theta -= (eta / n) * g
    risk_end = float(np.sum((theta - theta_star) ** 2))
    return [risk_half, risk_end, clipped / n]


def trials_over_seeds(rng, trials, d, n, zeta, theta_norm2, clip, noise, lr, lr_decay):
    theta_star = rng.standard_normal((trials, d))
    theta_star *= math.sqrt(theta_norm2) / np.linalg.norm(theta_star, axis=1, keepdims=True)
    theta = np.zeros((trials, d))
    cap = clip * math.sqrt(d)
    half = n // 2
    clipped = np.zeros(trials)
    risk_half = np.full(trials, np.nan)
    for i in range(n):
        if i == half:
            risk_half = np.sum((theta - theta_star) ** 2, axis=1)
        eta = lr / (1.0 + lr_decay * i / n)
        x = rng.standard_normal((trials, d))
        r = np.einsum("td,td->t", x, theta - theta_star) - zeta * rng.standard_normal(trials)
        norm = np.linalg.norm(x, axis=1) * np.abs(r)
        over = norm > cap
        factor = np.where(over, cap / np.where(over, norm, 1.0), 1.0)
        clipped += over
        step = (factor * r)[:, None] * x
        if noise > 0.0:
            step += noise * rng.standard_normal((trials, d))
        theta -= (eta / n) * step
    risk_end = np.sum((theta - theta_star) ** 2, axis=1)
    return np.column_stack([risk_half, risk_end, clipped / n])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="NumPy peer of `pretrainlab simulate dp-sgd`: one-pass DP-SGD for linear regression.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--d", type=int, default=500, help="dimension")
    ap.add_argument("--gamma", type=float, default=0.5, help="d/n")
    ap.add_argument("--zeta", type=float, default=0.5, help="label noise level")
    ap.add_argument("--theta-norm2", type=float, default=1.0, help="|theta*|^2")
    ap.add_argument("--clip", type=float, default=0.5, help="clipping constant c (threshold c sqrt(d))")
    ap.add_argument("--noise", type=float, default=0.0, help="private-noise level omega")
    ap.add_argument("--lr", type=float, default=1.0, help="learning rate eta_0")
    ap.add_argument("--lr-decay", type=float, default=0.0, help="eta(t) = eta_0 / (1 + lr_decay t)")
    ap.add_argument("--trials", type=int, default=10, help="Monte Carlo trials")
    ap.add_argument("--variant", choices=["loop", "seeds"], default="loop",
                    help="per-trial Python loop, or the loop vectorised over trials")
    ap.add_argument("--seed", type=int, default=1, help="seed of numpy.random.default_rng")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a summary line")
    a = ap.parse_args(argv)
    if a.trials < 1:
        raise SystemExit(f"error: --trials must be >= 1, got {a.trials}")
    n = round(a.d / a.gamma)
    if n < 2:
        raise SystemExit(f"error: n = round(d / gamma) = {n} must be >= 2")
    args = (a.d, n, a.zeta, a.theta_norm2, a.clip, a.noise, a.lr, a.lr_decay)

    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    if a.variant == "loop":
        rec = np.array([trial(rng, *args) for _ in range(a.trials)])
    else:
        rec = trials_over_seeds(rng, a.trials, *args)
    secs = time.perf_counter() - t0

    means = rec.mean(axis=0)
    ses = rec.std(axis=0, ddof=1) / math.sqrt(a.trials) if a.trials > 1 else np.full(len(METRICS), float("nan"))
    tps = a.trials / secs if secs > 0 else float("inf")
    out = {
        "trials": a.trials,
        "seconds": secs,
        "trials_per_second": tps,
        "numpy_version": np.__version__,
        "variant": a.variant,
        "threads_env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "d": a.d, "n": n, "zeta": a.zeta, "clip": a.clip, "noise": a.noise,
        "lr": a.lr, "lr_decay": a.lr_decay, "seed": a.seed, "cpu_count": os.cpu_count(),
    }
    for i, name in enumerate(METRICS):
        out[f"mean_{name}"] = float(means[i])
        out[f"se_{name}"] = float(ses[i])
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        stats = ", ".join(f"{m} = {means[i]:.5f} (se {ses[i]:.5f})" for i, m in enumerate(METRICS))
        print(f"dp-sgd peer ({a.variant}, numpy {np.__version__}): d={a.d} n={n} trials={a.trials} "
              f"in {secs:.3f} s = {tps:.3f} trials/s; {stats}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
