#!/usr/bin/env python3
"""NumPy "peer" benchmark for `pretrainlab simulate rf-reconstruction`.

The reconstruction attack on a random-features interpolator (Iurada, Bombari, Tommasi &
Mondelli, "A Law of Data Reconstruction for Random Features (and Beyond)",
arXiv 2509.22214), written the way a NumPy user would, in float64, with the same
definitions as the Rust model:

    x_i ~ N(0, I_d) rescaled to norm sqrt(d),  y_i = x_i^T G + noise * eps_i,  G ~ N(0, I_d/d)
    V (p x d) ~ N(0, 1/d),  Phi = act(X V^T),  theta = Phi^T (Phi Phi^T + delta I)^{-1} y
    loss(Xh) = (|theta|^2 - v^T A^{-1} v) / |theta|^2,  v = Phih theta,  A = Phih Phih^T + delta I
    dL/dPhih = -2 alpha (theta - Phih^T alpha)^T / |theta|^2,  alpha = A^{-1} v

then back through act'(Xh V^T) (leaky for ReLU) and V, heavy-ball momentum, rows pulled
back to the sphere after each step; dist = min over assignments of
sum_i | |x_i| - |xh_pi(i)| | / (n sqrt(d)) by scipy's linear_sum_assignment; local_dim =
nd - rank J with the Jacobian J of the module docs of models/rf_reconstruction.rs and
numpy's matrix_rank.

Only the trial loop is timed (time.perf_counter). The random streams differ from the
Rust model's, so only the statistics (success rate, distances) are comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
from scipy.optimize import linear_sum_assignment

LEAK = 0.02
RIDGE = 1e-12
SUCCESS = 0.05


def act(z: np.ndarray, kind: str) -> np.ndarray:
    if kind == "relu":
        return np.maximum(z, 0.0)
    if kind == "tanh":
        return np.tanh(z)
    return np.maximum(z, 0.0) + np.tanh(z)


def slope(z: np.ndarray, kind: str, leaky: bool) -> np.ndarray:
    step = (z > 0).astype(float)
    if kind == "relu":
        return np.where(z > 0, 1.0, LEAK) if leaky else step
    sech2 = 1.0 - np.tanh(z) ** 2
    return sech2 if kind == "tanh" else step + sech2


def sphere(m: np.ndarray) -> np.ndarray:
    return m * (math.sqrt(m.shape[1]) / np.linalg.norm(m, axis=1, keepdims=True))


def solve_gram(phi: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    a = phi @ phi.T
    a += (RIDGE * np.trace(a) / a.shape[0]) * np.eye(a.shape[0])
    c = np.linalg.cholesky(a)
    return np.linalg.solve(c.T, np.linalg.solve(c, rhs))


def local_dim(x, v, c, kind):
    n, d = x.shape
    pre = x @ v.T
    cols = []
    for i in range(n):
        u = x[i] / np.linalg.norm(x[i])
        u[0] += 1.0 if u[0] >= 0 else -1.0
        u /= np.linalg.norm(u)
        h = np.eye(d) - 2.0 * np.outer(u, u)
        block = c[i] * slope(pre[i], kind, False)[:, None] * (v @ h[:, 1:])
        cols.append(block)
        cols.append(act(pre[i], kind)[:, None])
    j = np.hstack(cols)
    norms = np.linalg.norm(j, axis=0)
    j = j / np.where(norms > 0, norms, 1.0)
    return n * d - np.linalg.matrix_rank(j, tol=1e-5 * np.linalg.norm(j, 2))


def trial(rng, d, n, p, kind, lr, mu, steps, tol, noise):
    x = sphere(rng.standard_normal((n, d)))
    g = rng.standard_normal(d) / math.sqrt(d)
    y = x @ g + noise * rng.standard_normal(n)
    v = rng.standard_normal((p, d)) / math.sqrt(d)
    phi = act(x @ v.T, kind)
    c = solve_gram(phi, y)
    theta = phi.T @ c
    theta2 = theta @ theta
    dim = local_dim(x, v, c, kind)
    xh = sphere(rng.standard_normal((n, d)))
    vel = np.zeros_like(xh)
    for step in range(steps + 1):
        pre = xh @ v.T
        ph = act(pre, kind)
        f = ph @ theta
        alpha = solve_gram(ph, f)
        loss = (theta2 - f @ alpha) / theta2
        if loss <= tol or step == steps:
            break
        r = theta - ph.T @ alpha
        grad = (-2.0 / theta2) * np.outer(alpha, r) * slope(pre, kind, True)
        vel = mu * vel + grad @ v
        xh = sphere(xh - lr * vel)
    cost = np.linalg.norm(np.abs(x)[:, None, :] - np.abs(xh)[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(cost)
    dist = cost[rows, cols].sum() / (n * math.sqrt(d))
    return dist, max(loss, 0.0), dim, step


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--ratio", type=float, default=8.0)
    ap.add_argument("--activation", default="relu+tanh")
    ap.add_argument("--lr", type=float, default=2.0)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--tol", type=float, default=1e-7)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    p = round(a.ratio * a.d * a.n)
    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    rows = [
        trial(rng, a.d, a.n, p, a.activation, a.lr, a.momentum, a.steps, a.tol, a.noise)
        for _ in range(a.trials)
    ]
    secs = time.perf_counter() - t0
    dist = np.array([r[0] for r in rows])
    out = {
        "trials": a.trials,
        "seconds": secs,
        "trials_per_second": a.trials / secs,
        "success_rate": float(np.mean(dist < SUCCESS)),
        "mean_distance": float(np.mean(dist)),
        "local_dims": [int(r[2]) for r in rows],
        "steps": [int(r[3]) for r in rows],
        "numpy_version": np.__version__,
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
