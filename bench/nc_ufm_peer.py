#!/usr/bin/env python3
"""NumPy/SciPy "peer" benchmark for `pretrainlab simulate neural-collapse`.

The LayerNorm unconstrained-features model (UFM) of Súkeník, Lampert, Mondelli, "Neural
Collapse is Globally Optimal in Deep Regularized ResNets and Transformers" (arXiv
2505.15239), one Monte Carlo trial at a time, written the way a NumPy/SciPy user would,
in float64, with the same definitions as the Rust model
(crates/pretrainlab/src/models/neural_collapse.rs):

    K classes of n samples each (N = K n), width m,
    h_i = P u_i / |P u_i|          (P = I - 11^T/m: centred, unit-norm features)
    F(W, U) = (1/N) sum_i l(W h_i, y_i) + (lambda/2) |W|_F^2,
    l = cross-entropy (--loss ce) or 1/2 |z - e_y|^2 (--loss mse),

minimised jointly over (W, U) by scipy.optimize.minimize(method="L-BFGS-B") with the
analytic gradient (dF/dW = lambda W + D^T H, dF/du_i = (P - h_i h_i^T) dF/dh_i / |P u_i|,
D = dl/dz over N), vectorised over the N samples. Random start as in Rust: W entries
N(0, 1/m), then U entries N(0, 1), from numpy.random.default_rng, then the features
normalised, u_i <- P u_i/|P u_i| (F unchanged; from the raw draw, |u_i| ~ sqrt(m) scales
the features' gradient down and L-BFGS needs several times more iterations).

Stopping rule, matched to the Rust model as far as its docs state it: converged when the
Euclidean norm of the gradient is <= tol (1e-9) at the point whose u_i have been
normalised (the retraction u_i <- P u_i/|P u_i|, which leaves F unchanged); otherwise
L-BFGS-B is restarted from that normalised point, at most 20 rounds and max_iter
iterations in all. Within a round SciPy's own tests are switched off (ftol = 0,
gtol = 0: its gtol is an infinity norm of the projected gradient) and a callback stops
the round once |grad F|_2 <= tol, so the round ends by the same 2-norm test as
pretrainlab's L-BFGS. Memory 10 pairs (maxcor) on both sides. The line searches differ:
L-BFGS-B uses a Moré-Thuente (dcsrch) strong-Wolfe search; pretrainlab backtracks under
Armijo. A trial that does not reach the tolerance is counted as failed, as in Rust.

Metrics: objective F, scale |W|_F/sqrt(K), NC1 = tr(Sigma_W Sigma_B^+)/K (Papyan, Han &
Donoho 2020; pseudo-inverse cut at 1e-12 of the largest eigenvalue, as in Rust).
Only the trial loop is timed (time.perf_counter). Threads: NumPy's BLAS uses whatever
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS allow (all cores when unset);
the products here are small (N x m by m x K), so the time is mostly per-call overhead of
NumPy and of SciPy's Fortran driver. The random streams differ from pretrainlab's; both
sides should reach the global optimum F*, so their mean objectives agree to rounding.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import scipy
from scipy.optimize import minimize

MAX_ROUNDS = 20
MEMORY = 10


class _Converged(Exception):
    pass


class Ufm:
    def __init__(self, classes: int, width: int, per_class: int, lam: float, loss: str,
                 tol: float, max_iter: int):
        if loss not in ("ce", "mse"):
            raise SystemExit(f"error: --loss must be ce or mse, got {loss}")
        self.k, self.m, self.pc = classes, width, per_class
        self.n = classes * per_class
        self.lam, self.loss, self.tol, self.max_iter = lam, loss, tol, max_iter
        self.y = np.repeat(np.arange(classes), per_class)
        self.onehot = np.zeros((self.n, classes))
        self.onehot[np.arange(self.n), self.y] = 1.0
        self.dim = classes * width * (1 + per_class)

    def features(self, x: np.ndarray):
        k, m, n = self.k, self.m, self.n
        w = x[: k * m].reshape(k, m)
        u = x[k * m:].reshape(n, m)
        pu = u - u.mean(axis=1, keepdims=True)
        r = np.sqrt(np.einsum("ij,ij->i", pu, pu))[:, None]
        return w, pu / r, r

    def fg(self, x: np.ndarray):
        """F(x) and its gradient (x = (W, U), W row-major K x m, then U row-major N x m)."""
        k, m, n, lam = self.k, self.m, self.n, self.lam
        w, h, r = self.features(x)
        z = h @ w.T
        if self.loss == "ce":
            zmax = z.max(axis=1, keepdims=True)
            e = np.exp(z - zmax)
            s = e.sum(axis=1, keepdims=True)
            f = float(np.mean(zmax[:, 0] + np.log(s[:, 0]) - z[np.arange(n), self.y]))
            d = e / s - self.onehot
        else:
            d = z - self.onehot
            f = 0.5 * float(np.einsum("ij,ij->", d, d)) / n
        f += 0.5 * lam * float(np.einsum("ij,ij->", w, w))
        d /= n
        g = np.empty_like(x)
        g[: k * m] = (lam * w + d.T @ h).ravel()
        gh = d @ w
        gh -= gh.mean(axis=1, keepdims=True)
        gh -= np.einsum("ij,ij->i", gh, h)[:, None] * h
        g[k * m:] = (gh / r).ravel()
        return f, g

    def trial(self, rng: np.random.Generator) -> np.ndarray | None:
        k, m, n = self.k, self.m, self.n
        x = rng.standard_normal(self.dim)
        x[: k * m] /= math.sqrt(m)
        x[k * m:] = self.features(x)[1].ravel()
        used = 0
        last = {}

        def fg(xv):
            f, g = self.fg(xv)
            last["g"] = g
            return f, g

        def callback(intermediate_result):
            # L-BFGS-B's accepted point is its last evaluation.
            if float(np.dot(last["g"], last["g"])) <= self.tol * self.tol:
                raise StopIteration

        done = False
        for _ in range(MAX_ROUNDS):
            res = minimize(fg, x, jac=True, method="L-BFGS-B", callback=callback,
                           options={"maxcor": MEMORY, "ftol": 0.0, "gtol": 0.0,
                                    "maxiter": self.max_iter - used,
                                    "maxfun": 10 * (self.max_iter - used) + 100})
            used += int(res.nit)
            x = res.x
            # Retraction u_i <- P u_i/|P u_i| (F unchanged), then the 2-norm test there
            # (pretrainlab: the next round stops at once).
            w, h, _ = self.features(x)
            x[k * m:] = h.ravel()
            f, g = self.fg(x)
            if not math.isfinite(f):
                return None
            if float(np.dot(g, g)) <= self.tol * self.tol:
                done = True
                break
            if used >= self.max_iter:
                break
        if not done:
            return None
        w, h, _ = self.features(x)
        scale = math.sqrt(float(np.einsum("ij,ij->", w, w)) / k)
        return np.array([f, scale, self.nc1(h), float(used)])

    def nc1(self, h: np.ndarray) -> float:
        k, m, pc = self.k, self.m, self.pc
        means = h.reshape(k, pc, m).mean(axis=1)
        within = h - np.repeat(means, pc, axis=0)
        sigma_w = within.T @ within / self.n
        mt = means - means.mean(axis=0)
        sigma_b = mt.T @ mt / k
        return float(np.trace(sigma_w @ np.linalg.pinv(sigma_b, rcond=1e-12, hermitian=True)) / k)


METRICS = ["objective", "scale", "nc1", "iterations"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="NumPy/SciPy peer of `pretrainlab simulate neural-collapse`: the LayerNorm "
                    "unconstrained-features model minimised by L-BFGS-B from random starts.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--classes", type=int, default=4, help="number of classes K")
    ap.add_argument("--width", type=int, default=8, help="feature width m")
    ap.add_argument("--per-class", type=int, default=5, help="samples per class")
    ap.add_argument("--lambda", dest="lam", type=float, default=0.01, help="weight decay on W")
    ap.add_argument("--loss", default="ce", help="ce or mse")
    ap.add_argument("--tol", type=float, default=1e-9, help="gradient 2-norm tolerance")
    ap.add_argument("--max-iter", type=int, default=20000, help="most L-BFGS iterations per trial")
    ap.add_argument("--trials", type=int, default=20, help="Monte Carlo trials (random starts)")
    ap.add_argument("--seed", type=int, default=1, help="seed of numpy.random.default_rng")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a summary line")
    a = ap.parse_args(argv)
    if a.trials < 1:
        raise SystemExit(f"error: --trials must be >= 1, got {a.trials}")

    model = Ufm(a.classes, a.width, a.per_class, a.lam, a.loss, a.tol, a.max_iter)
    rng = np.random.default_rng(a.seed)
    rows = []
    failed = 0
    t0 = time.perf_counter()
    for _ in range(a.trials):
        r = model.trial(rng)
        if r is None:
            failed += 1
        else:
            rows.append(r)
    secs = time.perf_counter() - t0

    rec = np.array(rows).reshape(len(rows), len(METRICS))
    done = len(rows)
    means = rec.mean(axis=0) if done else np.full(len(METRICS), float("nan"))
    ses = rec.std(axis=0, ddof=1) / math.sqrt(done) if done > 1 else np.full(len(METRICS), float("nan"))
    tps = done / secs if secs > 0 else float("inf")
    threads_env = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    out = {
        "trials": a.trials,
        "completed": done,
        "failed": failed,
        "seconds": secs,
        "trials_per_second": tps,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "threads_env": threads_env,
        "classes": a.classes, "width": a.width, "per_class": a.per_class, "lambda": a.lam,
        "loss": a.loss, "tol": a.tol, "max_iter": a.max_iter,
        "seed": a.seed, "cpu_count": os.cpu_count(),
    }
    for i, name in enumerate(METRICS):
        out[f"mean_{name}"] = float(means[i])
        out[f"se_{name}"] = float(ses[i])
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        stats = ", ".join(f"{m} = {means[i]:.10g} (se {ses[i]:.3g})" for i, m in enumerate(METRICS))
        print(
            f"nc-ufm peer (numpy {np.__version__}, scipy {scipy.__version__}): K={a.classes} "
            f"m={a.width} n={a.per_class} lambda={a.lam} loss={a.loss} trials={a.trials} "
            f"({failed} failed) in {secs:.3f} s = {tps:.3f} trials/s; {stats}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
