#!/usr/bin/env python3
"""NumPy "peer" benchmark for `pretrainlab simulate ttt-linear`.

Test-time training of a linear in-context learner (Gozeten, Ildiz, Zhang, Soltanolkotabi,
Mondelli, Oymak, "Test-Time Training Provably Improves Transformers as In-context
Learners", arXiv 2503.11842), one Monte Carlo trial at a time, written the way a NumPy
user would, vectorised over the tasks of a trial and in float64, with the same
definitions as the Rust model (crates/pretrainlab/src/models/ttt.rs):

    beta ~ N(0, I_d / d),  x ~ N(0, I_d),  y = x^T beta + sigma eps
    u = X_c^T y_c / n                          (context of n samples)
    c* = n / (n + 1 + d + sigma^2 d),  e = beta - c* u,  q = |u|^2
    a = 2 q X_tr^T (X_tr e + sigma eps_tr)     (k test-time samples)

One trial holds `tasks` independent tasks: eta_hat = sum e.a / sum |a|^2 over the first
half; over the second half the means of |e|^2 (excess_no_ttt), |e - eta_hat a|^2
(excess_ttt) and |e - eta* a|^2 (excess_ttt_star), with eta* the exact optimal step,

    eta* = E[q|e|^2] / (2 ((k + d + 1) E[q^2 |e|^2] + sigma^2 d E[q^2])),

whose moments the peer takes from the command line (--eta-star; compare_ttt.sh reads it
from `pretrainlab predict`).

All tasks of a trial are drawn at once: X_c as a (tasks, n, d) array, X_tr as
(tasks, k, d), and the products are batched einsum/matmul calls. With --update reduced
the peer draws, as pretrainlab does, only the test-time step's sufficient statistics
instead of X_tr and eps_tr: with A ~ chi2_k, xi ~ N(0, 1), B ~ chi2_{k-1}, G ~ chi2_{d-1},

    g.r = sqrt(A) (|e| sqrt(A) + sigma xi),  |r|^2 = (|e| sqrt(A) + sigma xi)^2 + sigma^2 B,
    e.v = |e| g.r,  |v|^2 = (g.r)^2 + |r|^2 G,  |e - s v|^2 = (|e| - s g.r)^2 + s^2 |r|^2 G

(v = X_tr^T r, r = X_tr e + sigma eps_tr; the law is derived in ttt.rs). Only the trial loop is
timed (time.perf_counter). Threads: NumPy's BLAS uses whatever OMP_NUM_THREADS /
OPENBLAS_NUM_THREADS / MKL_NUM_THREADS allow (all cores when unset); the random number
generation is single-threaded, as in a plain NumPy script. The random streams differ
from pretrainlab's, so only the statistics (the means of the metrics) are comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np


class Ttt:
    def __init__(self, d: int, n: int, sigma: float, k: int, tasks: int, eta_star: float,
                 update: str = "explicit"):
        if tasks < 2 or tasks % 2:
            raise SystemExit(f"error: --tasks must be even and >= 2, got {tasks}")
        self.d, self.n, self.sigma, self.k, self.tasks = d, n, sigma, k, tasks
        self.c = n / (n + 1 + d + sigma * sigma * d)
        self.eta_star = eta_star
        self.update = update

    def trial(self, rng: np.random.Generator) -> np.ndarray:
        d, n, k, t, s = self.d, self.n, self.k, self.tasks, self.sigma
        beta = rng.standard_normal((t, d)) / math.sqrt(d)
        xc = rng.standard_normal((t, n, d))
        yc = np.einsum("tnd,td->tn", xc, beta) + s * rng.standard_normal((t, n))
        u = np.einsum("tnd,tn->td", xc, yc) / n
        e = beta - self.c * u
        q = np.einsum("td,td->t", u, u)
        if self.update == "reduced":
            return self.reduced(rng, e, q)
        xt = rng.standard_normal((t, k, d))
        r = np.einsum("tkd,td->tk", xt, e) + s * rng.standard_normal((t, k))
        a = 2.0 * q[:, None] * np.einsum("tkd,tk->td", xt, r)
        ee = np.einsum("td,td->t", e, e)
        ea = np.einsum("td,td->t", e, a)
        aa = np.einsum("td,td->t", a, a)
        h = t // 2
        eta = ea[:h].sum() / aa[:h].sum()
        fitted = np.maximum(ee[h:] - 2.0 * eta * ea[h:] + eta * eta * aa[h:], 0.0)
        star = e[h:] - self.eta_star * a[h:]
        return np.array([
            ee[h:].mean(),
            fitted.mean(),
            np.einsum("td,td->t", star, star).mean(),
            eta,
        ])


    def reduced(self, rng: np.random.Generator, e: np.ndarray, q: np.ndarray) -> np.ndarray:
        t, k, d, s = self.tasks, self.k, self.d, self.sigma
        ee = np.einsum("td,td->t", e, e)
        ne = np.sqrt(ee)
        root = np.sqrt(rng.chisquare(k, t))
        along = ne * root + s * rng.standard_normal(t)
        rr = along * along + s * s * (rng.chisquare(k - 1, t) if k > 1 else 0.0)
        gr = root * along
        across = rr * (rng.chisquare(d - 1, t) if d > 1 else 0.0)
        ea = 2.0 * q * ne * gr
        aa = 4.0 * q * q * (gr * gr + across)
        h = t // 2
        eta = ea[:h].sum() / aa[:h].sum()
        fitted = np.maximum(ee[h:] - 2.0 * eta * ea[h:] + eta * eta * aa[h:], 0.0)
        step = 2.0 * q[h:] * self.eta_star
        star = (ne[h:] - step * gr[h:]) ** 2 + step * step * across[h:]
        return np.array([ee[h:].mean(), fitted.mean(), star.mean(), eta])


METRICS = ["excess_no_ttt", "excess_ttt", "excess_ttt_star", "eta_hat"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="NumPy peer of `pretrainlab simulate ttt-linear`: one test-time gradient "
                    "step of a linear in-context learner, exact excess risks per task.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--d", type=int, default=20, help="dimension of x and beta")
    ap.add_argument("--n", type=int, default=10, help="context length")
    ap.add_argument("--sigma", type=float, default=0.5, help="label noise level")
    ap.add_argument("--k", type=int, default=40, help="test-time training samples")
    ap.add_argument("--tasks", type=int, default=200, help="tasks per trial (even)")
    ap.add_argument("--eta-star", type=float, required=True,
                    help="the exact optimal step (pretrainlab predict ttt-linear: eta_star)")
    ap.add_argument("--update", choices=["explicit", "reduced"], default="explicit",
                    help="draw X_tr and eps_tr (explicit) or the step's four sufficient statistics (reduced)")
    ap.add_argument("--trials", type=int, default=100, help="Monte Carlo trials")
    ap.add_argument("--seed", type=int, default=1, help="seed of numpy.random.default_rng")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a summary line")
    a = ap.parse_args(argv)
    if a.trials < 1:
        raise SystemExit(f"error: --trials must be >= 1, got {a.trials}")

    model = Ttt(a.d, a.n, a.sigma, a.k, a.tasks, a.eta_star, a.update)
    rng = np.random.default_rng(a.seed)
    rec = np.empty((a.trials, len(METRICS)))
    t0 = time.perf_counter()
    for t in range(a.trials):
        rec[t] = model.trial(rng)
    secs = time.perf_counter() - t0

    means = rec.mean(axis=0)
    ses = rec.std(axis=0, ddof=1) / math.sqrt(a.trials) if a.trials > 1 else np.full(len(METRICS), float("nan"))
    tps = a.trials / secs if secs > 0 else float("inf")
    threads_env = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    out = {
        "trials": a.trials,
        "seconds": secs,
        "trials_per_second": tps,
        "numpy_version": np.__version__,
        "threads_env": threads_env,
        "d": a.d, "n": a.n, "sigma": a.sigma, "k": a.k, "tasks": a.tasks, "update": a.update,
        "seed": a.seed, "cpu_count": os.cpu_count(),
    }
    for i, name in enumerate(METRICS):
        out[f"mean_{name}"] = float(means[i])
        out[f"se_{name}"] = float(ses[i])
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        stats = ", ".join(f"{m} = {means[i]:.5f} (se {ses[i]:.5f})" for i, m in enumerate(METRICS))
        print(
            f"ttt peer (numpy {np.__version__}): d={a.d} n={a.n} sigma={a.sigma} k={a.k} "
            f"tasks={a.tasks} trials={a.trials} in {secs:.3f} s = {tps:.3f} trials/s; {stats}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
