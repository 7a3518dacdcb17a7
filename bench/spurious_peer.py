#!/usr/bin/env python3
"""NumPy "peer" benchmark for `pretrainlab simulate spurious-ridge`.

Ridge regression with a spurious feature (Bombari & Mondelli, "Spurious Correlations in
High Dimensional Regression", arXiv 2502.01347), one Monte Carlo trial at a time, written
the way a NumPy user would, vectorised and in float64, with the same definitions as the
Rust model (crates/pretrainlab/src/models/spurious.rs):

    x ~ N(0, Sigma_xx),  y = A x + w,  w ~ N(0, D),  g = x^T theta* + sigma eps,  z = [x; y]
    Sigma = [[Sigma_xx, Sigma_xx A^T], [A Sigma_xx, A Sigma_xx A^T + D]]

Per trial the data are drawn as X = G L_xx^T, Y = X A^T + G' L_w^T (L_xx, L_w the lower
Cholesky factors of Sigma_xx and D), g = X theta* + sigma eps, Z = [X, Y]; then

  linear features (--features linear):
    theta_hat(lambda) = V (S + lambda)^{-1} V^T Z^T g / n, with Z^T Z / n = V S V^T (eigh)
    C = theta_hat_y^T Sigma_yx theta*,  L = (theta_hat - theta*_z)^T Sigma (theta_hat - theta*_z)
    at lambda, and as the Rust trial does, the trial's own arg min L and arg max C over
    lambda and both slopes in ln lambda at --slope-at

  random features (--features random, width p, activation relu or erf):
    W (p x 2d) ~ N(0, 1/(2d)),  F = act(Z W^T) / sqrt(p),  a = (F F^T + n lambda I)^{-1} g,
    theta = F^T a, and the exact population metrics (Stein's lemma and the activation's
    Gaussian kernel): with B = W L (Sigma = L L^T), B' = W L' (L' the Cholesky factor of
    blockdiag(Sigma_xx, Sigma_yy)), s_j = |B_j|, s'_j = |B'_j|,
      E f^2 = (1/p) sum_ij theta_i theta_j k(B_i . B_j, s_i, s_j)
      L = E f^2 - 2/sqrt(p) sum_j theta_j E[act'(s_j G)] (W Sigma theta*_z)_j + theta*^T Sigma_xx theta*
      C = 1/sqrt(p) sum_j theta_j E[act'(s'_j G)] (W [0; Sigma_yx theta*])_j
    with, for ReLU, k = s_i s_j / (2 pi) (sin t + (pi - t) cos t), cos t = B_i . B_j / (s_i s_j),
    E[act'] = 1/2; for erf, k = (2/pi) asin(2 B_i . B_j / sqrt((1 + 2 s_i^2)(1 + 2 s_j^2))),
    E[act'(sG)] = (2/sqrt(pi)) / sqrt(1 + 2 s^2).
    The p x p kernel is evaluated on whole matrices (no Python loop over p or n): for ReLU
    the Gram matrix of the unit rows B_j / s_j is cos t directly, and
    theta^T K theta = u^T M u / (2 pi) with u = theta * s, M = sqrt(1 - c^2) + (pi - acos c) c.

Defaults are the Rust model's: d = 100, n = 300, lambda = 0.1, Sigma_xx = I, A = 0.6 I,
D diagonal with the first max(1, d/30) entries 3.0 and the rest 0.05, theta* = 1/sqrt(d)
each, sigma^2 = 0.25, width = 10 n, activation relu.

Only the trial loop is timed (time.perf_counter); the population matrices are built once
before it, as the Rust model builds them once. Threads: NumPy's BLAS/LAPACK use whatever
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS allow (all cores when unset);
the random number generation and the elementwise kernel evaluation are single-threaded,
as in a plain NumPy script. The random streams differ from pretrainlab's, so only the
statistics (the means of C and L) are comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
from scipy.linalg import cho_factor, cho_solve


class Spurious:
    """The population quantities, computed once."""

    def __init__(self, d: int, n: int, lam: float, sigma_xx: float, coupling: float,
                 noise_var: float, features: str, width: int | None, activation: str,
                 slope_at: float = 0.1257):
        if d < 1 or n < 2:
            raise SystemExit(f"error: need d >= 1 and n >= 2, got d={d}, n={n}")
        if not (lam > 0 and math.isfinite(lam)):
            raise SystemExit(f"error: --lambda must be > 0, got {lam}")
        if not (sigma_xx > 0 and math.isfinite(sigma_xx)):
            raise SystemExit(f"error: --sigma-xx must be > 0, got {sigma_xx}")
        if not (noise_var >= 0 and math.isfinite(noise_var)):
            raise SystemExit(f"error: --noise-var must be >= 0, got {noise_var}")
        self.d, self.n, self.lam = d, n, lam
        self.slope_at = slope_at
        self.noise = math.sqrt(noise_var)
        self.features, self.activation = features, activation
        self.width = width if width is not None else 10 * n
        if features == "random" and self.width < 1:
            raise SystemExit(f"error: --width must be >= 1, got {self.width}")

        sxx = sigma_xx * np.eye(d)
        self.a = coupling * np.eye(d)
        top = max(1, d // 30)
        dw = np.full(d, 0.05)
        dw[:top] = 3.0
        self.chol_xx = np.linalg.cholesky(sxx)
        self.chol_w = np.diag(np.sqrt(dw))
        self.theta = np.full(d, 1.0 / math.sqrt(d))
        sxy = sxx @ self.a.T
        syy = self.a @ sxy + np.diag(dw)
        self.sigma = np.block([[sxx, sxy], [sxy.T, syy]])
        self.syx_theta = sxy.T @ self.theta                      # Sigma_yx theta*
        self.theta_z = np.concatenate([self.theta, np.zeros(d)])
        if features == "random":
            zero = np.zeros((d, d))
            self.chol_sigma = np.linalg.cholesky(self.sigma)
            self.chol_blocks = np.linalg.cholesky(np.block([[sxx, zero], [zero, syy]]))
            # columns Sigma theta*_z and [0; Sigma_yx theta*]  (2d x 2)
            self.directions = np.column_stack([
                self.sigma @ self.theta_z,
                np.concatenate([np.zeros(d), self.syx_theta]),
            ])
            self.signal = float(self.theta @ sxx @ self.theta)

    def draw(self, rng: np.random.Generator):
        d, n = self.d, self.n
        x = rng.standard_normal((n, d)) @ self.chol_xx.T
        y = rng.standard_normal((n, d)) @ self.chol_w.T
        y += x @ self.a.T
        g = x @ self.theta + self.noise * rng.standard_normal(n)
        return np.hstack([x, y]), g

    def linear_fit(self, z: np.ndarray, g: np.ndarray) -> tuple[float, float]:
        """C and L at lambda, plus what the Rust trial also computes: the trial's own
        arg min L and arg max C over lambda in [1e-4, 1e4] (25-point log grid, evaluated as
        one matrix product, then 30 golden-section steps) and both slopes in ln lambda at
        --slope-at. Returns (C, L); the rest is kept in self.extra."""
        n = self.n
        s, v = np.linalg.eigh((z.T @ z) / n)
        b = v.T @ ((z.T @ g) / n)
        cdir = v.T @ np.concatenate([np.zeros(self.d), self.syx_theta])
        u = v.T @ (self.sigma @ self.theta_z)
        q = v.T @ self.sigma @ v
        signal = float(self.theta_z @ self.sigma @ self.theta_z)

        def curve(lams):
            w = b[:, None] / (s[:, None] + lams[None, :])
            return cdir @ w, np.einsum("ij,ij->j", w, q @ w) - 2.0 * (u @ w) + signal

        c, loss = curve(np.array([self.lam]))
        grid = np.logspace(-4.0, 4.0, 25)
        cs, ls = curve(grid)
        opt = []
        for values, sign in ((ls, 1.0), (cs, -1.0)):
            k = int(np.argmin(sign * values))
            lo, hi = math.log(grid[max(k - 1, 0)]), math.log(grid[min(k + 1, 24)])
            r = 0.5 * (math.sqrt(5.0) - 1.0)
            pick = 1 if sign > 0 else 0
            for _ in range(30):
                a, bb = hi - r * (hi - lo), lo + r * (hi - lo)
                fa, fb = (sign * curve(np.exp([a, bb]))[pick])
                if fa < fb:
                    hi = bb
                else:
                    lo = a
            opt.append(math.exp(0.5 * (lo + hi)))
        lam = self.slope_at
        w = b / (s + lam)
        dw = -w / (s + lam)
        self.extra = (opt[0], opt[1], lam * float(dw @ cdir), lam * 2.0 * float(dw @ (q @ w) - dw @ u))
        return float(c[0]), float(loss[0])

    def random_fit(self, rng: np.random.Generator, z: np.ndarray, g: np.ndarray) -> tuple[float, float]:
        n, p, dim = self.n, self.width, 2 * self.d
        w = rng.standard_normal((p, dim)) * (1.0 / math.sqrt(dim))
        f = z @ w.T
        if self.activation == "relu":
            np.maximum(f, 0.0, out=f)
        else:
            from scipy.special import erf
            erf(f, out=f)
        f *= 1.0 / math.sqrt(p)
        kern = f @ f.T
        kern[np.diag_indices_from(kern)] += n * self.lam
        coef = cho_solve(cho_factor(kern, lower=True, overwrite_a=True, check_finite=False),
                         g, check_finite=False)
        theta = f.T @ coef
        return self.metrics(w, theta)

    def metrics(self, w: np.ndarray, theta: np.ndarray) -> tuple[float, float]:
        p = self.width
        b = w @ self.chol_sigma                                   # p x 2d, B B^T = W Sigma W^T
        s = np.sqrt(np.einsum("ij,ij->i", b, b))
        bb = w @ self.chol_blocks
        sb = np.sqrt(np.einsum("ij,ij->i", bb, bb))
        proj = w @ self.directions                                # p x 2
        if self.activation == "relu":
            safe = np.where(s > 0, s, 1.0)
            unit = b / safe[:, None]
            c = unit @ unit.T                                     # cos t, p x p
            np.clip(c, -1.0, 1.0, out=c)
            m = np.arccos(c)
            np.subtract(math.pi, m, out=m)
            m *= c                                                # (pi - t) cos t
            np.multiply(c, c, out=c)
            np.subtract(1.0, c, out=c)
            np.sqrt(c, out=c)                                     # sin t
            m += c
            u = theta * s
            second = float(u @ (m @ u)) / (2.0 * math.pi)
            slope, slope_b = 0.5, 0.5
        else:
            v = b / np.sqrt(1.0 + 2.0 * s * s)[:, None]
            q = v @ v.T
            q *= 2.0
            np.clip(q, -1.0, 1.0, out=q)
            np.arcsin(q, out=q)
            second = float(theta @ (q @ theta)) * (2.0 / math.pi)
            slope = (2.0 / math.sqrt(math.pi)) / np.sqrt(1.0 + 2.0 * s * s)
            slope_b = (2.0 / math.sqrt(math.pi)) / np.sqrt(1.0 + 2.0 * sb * sb)
        root_p = math.sqrt(p)
        cross = float(np.sum(theta * slope * proj[:, 0]))
        spurious = float(np.sum(theta * slope_b * proj[:, 1]))
        loss = second / p - 2.0 * cross / root_p + self.signal
        return spurious / root_p, loss

    def trial(self, rng: np.random.Generator) -> tuple[float, float]:
        z, g = self.draw(rng)
        if self.features == "random":
            return self.random_fit(rng, z, g)
        return self.linear_fit(z, g)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="NumPy peer of `pretrainlab simulate spurious-ridge`: ridge on [x; y] "
                    "or on random features, exact population C and L per trial.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--d", type=int, default=100, help="dimension of x and of y")
    ap.add_argument("--n", type=int, default=300, help="training samples")
    ap.add_argument("--lambda", dest="lam", type=float, default=0.1, help="ridge strength")
    ap.add_argument("--sigma-xx", type=float, default=1.0, help="Sigma_xx = this times I")
    ap.add_argument("--coupling", type=float, default=0.6, help="A = this times I")
    ap.add_argument("--noise-var", type=float, default=0.25, help="label noise variance")
    ap.add_argument("--features", choices=["linear", "random"], default="linear")
    ap.add_argument("--width", type=int, default=None, help="random-features width p (default 10 n)")
    ap.add_argument("--activation", choices=["relu", "erf"], default="relu")
    ap.add_argument("--slope-at", type=float, default=0.1257,
                    help="linear: the lambda (pretrainlab's predicted arg min L) where each trial's slopes are taken")
    ap.add_argument("--trials", type=int, default=400, help="Monte Carlo trials")
    ap.add_argument("--seed", type=int, default=1, help="seed of numpy.random.default_rng")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a summary line")
    a = ap.parse_args(argv)
    if a.trials < 1:
        raise SystemExit(f"error: --trials must be >= 1, got {a.trials}")

    model = Spurious(a.d, a.n, a.lam, a.sigma_xx, a.coupling, a.noise_var, a.features,
                     a.width, a.activation, a.slope_at)
    rng = np.random.default_rng(a.seed)
    rec = np.empty((a.trials, 2))
    t0 = time.perf_counter()
    for t in range(a.trials):
        rec[t] = model.trial(rng)
    secs = time.perf_counter() - t0

    means = rec.mean(axis=0)
    ses = rec.std(axis=0, ddof=1) / math.sqrt(a.trials) if a.trials > 1 else np.full(2, float("nan"))
    tps = a.trials / secs if secs > 0 else float("inf")
    threads_env = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    out = {
        "trials": a.trials,
        "seconds": secs,
        "trials_per_second": tps,
        "mean_spurious_c": float(means[0]),
        "se_spurious_c": float(ses[0]),
        "mean_excess_loss": float(means[1]),
        "se_excess_loss": float(ses[1]),
        "numpy_version": np.__version__,
        "threads_env": threads_env,
        "d": a.d, "n": a.n, "lambda": a.lam, "features": a.features,
        "width": model.width if a.features == "random" else None,
        "activation": a.activation if a.features == "random" else None,
        "seed": a.seed, "cpu_count": os.cpu_count(),
    }
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        extra = f" width={model.width} {a.activation}" if a.features == "random" else ""
        print(
            f"spurious peer (numpy {np.__version__}): {a.features}{extra} d={a.d} n={a.n} "
            f"lambda={a.lam} trials={a.trials} in {secs:.3f} s = {tps:.3f} trials/s; "
            f"mean C = {means[0]:.5f} (se {ses[0]:.5f}), mean L = {means[1]:.5f} (se {ses[1]:.5f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
