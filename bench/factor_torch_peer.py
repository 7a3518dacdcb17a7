#!/usr/bin/env python3
"""Batched GPU peer of `pretrainlab simulate factor`: the pipeline of bench/factor_peer.py,
written the way a researcher with PyTorch and a GPU would write it.

Per trial, in float64, `batch` trials at a time:
  1. draw m raw samples x = A h + mu (A = [diag(sqrt(s)); 0], h ~ N(0, I_k), mu ~ N(0, I_d));
     S_m = X^T X / m; the top-k eigenpairs of S_m by a batched `eigh`; the PPCA features
     W = (I_k + A_hat^T A_hat)^{-1} A_hat^T with A_hat = U_k diag(sqrt((lam_k - 1)_+));
  2. draw n raw samples; the exact conditional risk parts of OLS on the frozen features:
     F = W Sigma_x W^T, F_n = Z^T Z / n (Z = X_n W^T), b = F^{-1} W Sigma_x w_star,
     b_n = F_n^{-1} Z^T X_n w_star / n, Rep = e^T Sigma_x e (e = w_star - W^T b),
     Leak = delta^T Sigma_x delta (delta = W^T (b_n - b)), Var = sigma2/n tr(F F_n^{-1}).

`--backend torch` runs on the GPU when one is visible (else on the CPU); `--backend numpy`
runs the same batched code with NumPy, so the script can be checked on a machine without
PyTorch. Only the trial loop is timed; on a GPU it ends with a device synchronisation.
A warm-up batch (not timed) absorbs the CUDA start-up.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np


def default_strengths(k: int) -> list[float]:
    """k values geometric from 4 down to 0.5 (as bench/factor_peer.py)."""
    if k == 1:
        return [4.0]
    return [4.0 * (0.5 / 4.0) ** (i / (k - 1)) for i in range(k)]


class NumpyBackend:
    name = "numpy"

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.device = "cpu"

    def asarray(self, a):
        return np.asarray(a, dtype=np.float64)

    def randn(self, *shape):
        return self.rng.standard_normal(shape)

    def eigh(self, a):
        return np.linalg.eigh(a)

    def solve(self, a, b):
        return np.linalg.solve(a, b)

    def eye(self, k):
        return np.eye(k)

    def clamp_min(self, a, lo):
        return np.maximum(a, lo)

    def sync(self):
        pass

    def to_numpy(self, a):
        return np.asarray(a)

    def version(self):
        return f"numpy {np.__version__}"


class TorchBackend:
    name = "torch"

    def __init__(self, seed: int, device: str):
        import torch

        self.torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(seed)

    def asarray(self, a):
        return self.torch.as_tensor(np.asarray(a), dtype=self.torch.float64, device=self.device)

    def randn(self, *shape):
        return self.torch.randn(*shape, generator=self.gen, dtype=self.torch.float64, device=self.device)

    def eigh(self, a):
        return self.torch.linalg.eigh(a)

    def solve(self, a, b):
        return self.torch.linalg.solve(a, b)

    def eye(self, k):
        return self.torch.eye(k, dtype=self.torch.float64, device=self.device)

    def clamp_min(self, a, lo):
        return self.torch.clamp(a, min=lo)

    def sync(self):
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def to_numpy(self, a):
        return a.detach().cpu().numpy()

    def version(self):
        gpu = self.torch.cuda.get_device_name(0) if self.device.startswith("cuda") else "cpu"
        return f"torch {self.torch.__version__} on {gpu}"


def t(a):
    """Transpose of the last two axes (NumPy and PyTorch spell it alike)."""
    return a.swapaxes(-1, -2) if isinstance(a, np.ndarray) else a.transpose(-1, -2)


class Factor:
    def __init__(self, xp, d, k, strengths, beta, noise_var):
        self.xp, self.d, self.k = xp, d, k
        a = np.zeros((d, k))
        a[np.arange(k), np.arange(k)] = np.sqrt(strengths)
        sigma = np.eye(d) + a @ a.T
        w_star = np.linalg.solve(sigma, a @ np.asarray(beta))
        self.sigma2 = noise_var + float(np.asarray(beta) @ np.linalg.solve(np.eye(k) + a.T @ a, beta))
        self.a_t = xp.asarray(a.T)                 # k x d
        self.sigma = xp.asarray(sigma)
        self.w_star = xp.asarray(w_star[:, None])  # d x 1
        self.sigma_w = xp.asarray((sigma @ w_star)[:, None])

    def draw(self, batch, size):
        """`batch` stacks of `size` raw samples (batch x size x d)."""
        xp = self.xp
        return xp.randn(batch, size, self.d) + xp.randn(batch, size, self.k) @ self.a_t

    def features(self, x):
        """PPCA features W (batch x k x d) from the samples x (batch x m x d)."""
        xp, k = self.xp, self.k
        s_m = t(x) @ x / x.shape[1]
        lam, u = xp.eigh(s_m)                       # ascending
        lam_k, u_k = lam[:, -k:], u[:, :, -k:]
        a_hat = u_k * xp.clamp_min(lam_k - 1.0, 0.0)[:, None, :] ** 0.5
        return xp.solve(xp.eye(k) + t(a_hat) @ a_hat, t(a_hat))

    def risk_parts(self, w, x_n):
        """(Rep, Leak, Var), each of length batch, of OLS on the frozen features."""
        n = x_n.shape[1]
        sig = self.sigma
        ws = w @ sig
        f = ws @ t(w)
        z = x_n @ t(w)
        f_n = t(z) @ z / n
        c_n = t(z) @ (x_n @ self.w_star) / n
        b = self.xp.solve(f, w @ self.sigma_w)
        b_n = self.xp.solve(f_n, c_n)
        e = self.w_star - t(w) @ b
        rep = (t(e) @ sig @ e)[:, 0, 0]
        delta = t(w) @ (b_n - b)
        leak = (t(delta) @ sig @ delta)[:, 0, 0]
        f_n_inv_f = self.xp.solve(f_n, f)
        var = self.sigma2 / n * (f_n_inv_f[:, range(self.k), range(self.k)]).sum(-1)
        return rep, leak, var


def run(model, xp, m, n, trials, batch):
    rows = []
    # Warm-up (not timed): kernel compilation and allocator start-up.
    model.risk_parts(model.features(model.draw(1, m)), model.draw(1, n))
    xp.sync()
    t0 = time.perf_counter()
    done = 0
    while done < trials:
        b = min(batch, trials - done)
        w = model.features(model.draw(b, m))
        rep, leak, var = model.risk_parts(w, model.draw(b, n))
        rows.append(np.stack([xp.to_numpy(v) for v in (n * var, n * leak, n * rep, m * rep, n * (var + leak + rep))], 1))
        done += b
    xp.sync()
    return np.concatenate(rows), time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="Batched PyTorch (or NumPy) peer of `pretrainlab simulate factor`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--backend", choices=["torch", "numpy"], default="torch", help="array library")
    p.add_argument("--device", default="auto", help="torch device: auto (cuda if visible), cuda or cpu")
    p.add_argument("--d", type=int, default=200, help="ambient dimension")
    p.add_argument("--k", type=int, default=5, help="number of factors, 1 <= k < d")
    p.add_argument("--m", type=int, default=100_000, help="pre-training sample size")
    p.add_argument("--n", type=int, default=10_000, help="downstream sample size")
    p.add_argument("--noise-var", type=float, default=1.0, help="downstream noise variance")
    p.add_argument("--trials", type=int, default=256, help="Monte Carlo trials")
    p.add_argument("--batch", type=int, default=32, help="trials per batched call")
    p.add_argument("--seed", type=int, default=1, help="generator seed")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    if not (1 <= a.k < a.d) or a.m <= a.k or a.n <= a.k or a.trials < 1 or a.batch < 1:
        raise SystemExit("error: need 1 <= k < d, m > k, n > k, trials >= 1 and batch >= 1")
    xp = NumpyBackend(a.seed) if a.backend == "numpy" else TorchBackend(a.seed, a.device)
    model = Factor(xp, a.d, a.k, default_strengths(a.k), [1.0] * a.k, a.noise_var)
    rec, seconds = run(model, xp, a.m, a.n, a.trials, a.batch)
    means = rec.mean(0)
    ses = rec.std(0, ddof=1) / math.sqrt(len(rec)) if len(rec) > 1 else np.full(5, math.nan)
    out = {
        "backend": xp.version(),
        "trials": a.trials,
        "batch": a.batch,
        "seconds": seconds,
        "trials_per_second": a.trials / seconds,
        "ms_per_trial": 1000 * seconds / a.trials,
        "mean_m_rep": float(means[3]),
        "se_m_rep": float(ses[3]),
        "mean_scaled_excess": float(means[4]),
        "se_scaled_excess": float(ses[4]),
    }
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"factor batched peer ({out['backend']}): d={a.d} k={a.k} m={a.m} n={a.n} trials={a.trials} "
            f"in {seconds:.3f} s = {out['ms_per_trial']:.3f} ms/trial; mean m*Rep = {means[3]:.4f} "
            f"(se {ses[3]:.4f}), mean n*excess = {means[4]:.4f} (se {ses[4]:.4f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
