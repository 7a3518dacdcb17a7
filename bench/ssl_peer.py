"""NumPy peer for the nonlinear SSL model (Yang et al., AAAI-23; spec nonlinear-ssl.md).

The vectorised float64 loop a researcher would write for the authors' SSL simulation:
condition-0 initialisation, scalar data noise, fresh two-view augmentation at every step,
summed gradients, W <- W + lr * (sum_i grad_i - 2 alpha n W). Only the training loops of
all seeds are timed (time.perf_counter). Prints one summary line (or JSON with --json),
including the mean projection of e2 as a sanity check against the Rust run (spec: ~0.90).
"""

import argparse
import json
import time

import numpy as np


def run_seed(seed, d, tau, steps, lr, alpha):
    rng = np.random.default_rng(seed)
    n, rho = d * d, d ** -1.5
    w = rng.standard_normal((2, d))
    w[0, 0] = rng.uniform(3.1, 3.9)
    w[1, 0] = -rng.uniform(3.1, 3.9)
    w[0, 1] = rng.uniform(8.5, 9.0) / tau
    w[1, 1] = rng.uniform(8.5, 9.0) / tau
    centres = np.zeros((4, d))
    centres[0, 0], centres[1, 0], centres[2, 0], centres[3, 0] = 1, 1, -1, -1
    centres[1, 1] = centres[3, 1] = tau
    x = centres[rng.integers(0, 4, n)] + rho * rng.standard_normal(n)[:, None]
    for _ in range(steps):
        x1 = x + rho * rng.standard_normal((n, d))
        x2 = x + rho * rng.standard_normal((n, d))
        sa = 1.0 / (1.0 + np.exp(-(x1 @ w.T)))
        sb = 1.0 / (1.0 + np.exp(-(x2 @ w.T)))
        grad = (sa * (1 - sa) * sb).T @ x1 + (sb * (1 - sb) * sa).T @ x2
        w += lr * (grad - 2 * alpha * n * w)
    return w


def proj(w, j):
    q, _ = np.linalg.qr(w.T)
    return float(np.linalg.norm(q.T[:, j]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--d", type=int, default=10)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    t0 = time.perf_counter()
    ws = [run_seed(s, a.d, 7.0, a.steps, 1e-3, 1 / 800) for s in range(a.seeds)]
    wall = time.perf_counter() - t0
    out = {
        "seeds": a.seeds,
        "steps": a.steps,
        "wall_s": wall,
        "mean_proj_e2": float(np.mean([proj(w, 1) for w in ws])),
        "mean_proj_e1": float(np.mean([proj(w, 0) for w in ws])),
    }
    print(json.dumps(out) if a.json else " ".join(f"{k}={v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
