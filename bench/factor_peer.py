#!/usr/bin/env python3
"""NumPy "peer" benchmark for `pretrainlab simulate factor`.

This is the Monte Carlo loop a researcher would write by hand for the factor model
of Tinati & Tu (arXiv 2603.27631, Sec. 6.2), vectorised and in float64:

    A = [diag(sqrt(s)); 0]  (d x k),  x = A h + mu,  h ~ N(0, I_k),  mu ~ N(0, I_d)
    Sigma_x = I_d + A A^T,  y = beta^T h + nu,  nu ~ N(0, noise_var)
    w_star  = Sigma_x^{-1} A beta
    sigma2  = noise_var + beta^T (I_k + A^T A)^{-1} beta

Per trial:
  1. pre-training: draw m raw samples, S_m = X^T X / m (no centring: the mean is
     known to be 0), PPCA MLE with unit noise variance known:
     (U_hat, lam_hat) = top-k eigenpairs of S_m, A_hat = U_hat diag(sqrt((lam_hat - 1)_+)),
     features W = (I_k + A_hat^T A_hat)^{-1} A_hat^T  (= A_hat^T (I + A_hat A_hat^T)^{-1}).
  2. downstream: draw n raw samples X_n, and compute the exact conditional excess
     risk of OLS on the frozen features Z = X_n W^T (no label resampling):
       F   = W Sigma_x W^T,            F_n = W S_n W^T = Z^T Z / n
       b   = pinv(F) W Sigma_x w_star, b_n = pinv(F_n) W S_n w_star = pinv(F_n) Z^T (X_n w_star) / n
       Rep  = e^T Sigma_x e,  e = w_star - W^T b
       Leak = delta^T Sigma_x delta,  delta = W^T (b_n - b)
       Var  = sigma2 / n * trace(F pinv(F_n))
     and record n*Var, n*Leak, n*Rep, m*Rep and n*(Var + Leak + Rep).

S_n is never formed as a d x d matrix: W S_n W^T and W S_n w_star are computed through
the n x k feature matrix Z (what fitting OLS on frozen features does anyway), which is
the same quantity at O(n d k) instead of O(n d^2) cost.

Default strengths: k values log-spaced (geometric) from 4 down to 0.5,
s_i = 4 * (0.5 / 4) ** (i / (k - 1)), i = 0..k-1 ([4.0] when k = 1). For k = 5 that is
[4.0, 2.378414230005442, 1.4142135623730951, 0.8408964152537145, 0.5], the list that
bench/compare_factor.sh passes to pretrainlab (the Rust CLI's own default is 4..0.25).

Only the trial loop is timed (time.perf_counter). Threads: NumPy's BLAS uses whatever
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS allow (all cores when unset);
the random number generation itself is single-threaded, as in a plain NumPy script.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np


def default_strengths(k: int) -> list[float]:
    """k values geometric from 4 down to 0.5 (bit-identical to the list in compare_factor.sh)."""
    if k == 1:
        return [4.0]
    return [4.0 * (0.5 / 4.0) ** (i / (k - 1)) for i in range(k)]


def parse_list(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.replace("[", "").replace("]", "").split(",") if v.strip()]
    except ValueError as e:
        raise SystemExit(f"error: --{name}: expected a comma-separated list of numbers, got {text!r}") from e


class FactorModel:
    """The population quantities, computed once."""

    def __init__(self, d: int, k: int, strengths: list[float], beta: list[float], noise_var: float):
        if not 1 <= k < d:
            raise SystemExit(f"error: need 1 <= k < d, got d={d}, k={k}")
        if len(strengths) != k or any(not (s > 0 and math.isfinite(s)) for s in strengths):
            raise SystemExit(f"error: --strengths must be {k} positive numbers, got {strengths}")
        if len(beta) != k or any(not math.isfinite(b) for b in beta):
            raise SystemExit(f"error: --beta must be {k} finite numbers, got {beta}")
        if not (noise_var >= 0 and math.isfinite(noise_var)):
            raise SystemExit(f"error: --noise-var must be finite and >= 0, got {noise_var}")
        self.d, self.k = d, k
        self.strengths = np.asarray(strengths, dtype=np.float64)
        self.beta = np.asarray(beta, dtype=np.float64)
        self.A = np.zeros((d, k))
        self.A[np.arange(k), np.arange(k)] = np.sqrt(self.strengths)
        self.sigma_x = np.eye(d) + self.A @ self.A.T
        self.w_star = np.linalg.solve(self.sigma_x, self.A @ self.beta)
        self.sigma2 = noise_var + self.beta @ np.linalg.solve(np.eye(k) + self.A.T @ self.A, self.beta)
        # Sigma_x w_star (= A beta), needed for W Sigma_x w_star in every trial.
        self.sigma_w_star = self.sigma_x @ self.w_star

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` raw samples x = A h + mu as the rows of a (size x d) matrix."""
        x = rng.standard_normal((size, self.d))          # mu
        x += rng.standard_normal((size, self.k)) @ self.A.T  # + A h
        return x


def ppca_features_eigh(x: np.ndarray, k: int) -> np.ndarray:
    """PPCA MLE (unit noise known) from raw samples via eigh of S_m; returns W (k x d).

    eigh on the d x d second-moment matrix is the fast honest choice: forming
    S_m = X^T X / m is one BLAS syrk, and eigh of a 200 x 200 matrix costs milliseconds,
    whereas sklearn's PCA(svd_solver='full') runs a thin SVD of the whole m x d matrix.
    """
    m = x.shape[0]
    s_m = (x.T @ x) / m                      # no centring: E x = 0 is known
    lam, u = np.linalg.eigh(s_m)             # ascending
    lam_k, u_k = lam[::-1][:k], u[:, ::-1][:, :k]
    a_hat = u_k * np.sqrt(np.maximum(lam_k - 1.0, 0.0))
    return np.linalg.solve(np.eye(k) + a_hat.T @ a_hat, a_hat.T)


def ppca_features_sklearn(x: np.ndarray, k: int) -> np.ndarray:
    """Same PPCA fit through sklearn.decomposition.PCA on the raw data (slower).

    PCA centres the data and divides by m - 1, so it is the same estimator up to
    O(1/m) terms, not bit-for-bit the uncentred eigh fit.
    """
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k, svd_solver="full").fit(x)
    a_hat = pca.components_.T * np.sqrt(np.maximum(pca.explained_variance_ - 1.0, 0.0))
    return np.linalg.solve(np.eye(k) + a_hat.T @ a_hat, a_hat.T)


def risk_parts(model: FactorModel, w: np.ndarray, x_n: np.ndarray) -> tuple[float, float, float]:
    """Exact conditional (Rep, Leak, Var) of OLS on the frozen features W given X_n."""
    n = x_n.shape[0]
    sig = model.sigma_x
    ws = w @ sig                                   # W Sigma_x (k x d)
    f = ws @ w.T                                   # F = W Sigma_x W^T
    z = x_n @ w.T                                  # frozen features, n x k
    f_n = (z.T @ z) / n                            # W S_n W^T
    c_n = z.T @ (x_n @ model.w_star) / n           # W S_n w_star
    # pinv with hermitian=True (eigh-based), as the Rust code's pinv_psd; F and F_n are
    # k x k and positive definite here, so the cutoff never bites.
    f_pinv = np.linalg.pinv(f, hermitian=True)
    f_n_pinv = np.linalg.pinv(f_n, hermitian=True)
    b_pop = f_pinv @ (w @ model.sigma_w_star)
    b_n = f_n_pinv @ c_n
    e = model.w_star - w.T @ b_pop
    rep = float(e @ sig @ e)
    delta = w.T @ (b_n - b_pop)
    leak = float(delta @ sig @ delta)
    var = float(model.sigma2 / n * np.sum(f * f_n_pinv.T))  # trace(F pinv(F_n))
    return rep, leak, var


def run(model: FactorModel, m: int, n: int, trials: int, seed: int, pca: str):
    rng = np.random.default_rng(seed)
    features = ppca_features_eigh if pca == "eigh" else ppca_features_sklearn
    rec = np.empty((trials, 5))  # n_var, n_leak, n_rep, m_rep, scaled_excess
    t0 = time.perf_counter()
    for t in range(trials):
        w = features(model.draw(rng, m), model.k)
        rep, leak, var = risk_parts(model, w, model.draw(rng, n))
        rec[t] = (n * var, n * leak, n * rep, m * rep, n * (var + leak + rep))
    seconds = time.perf_counter() - t0
    return rec, seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="NumPy peer of `pretrainlab simulate factor`: raw samples, PPCA, exact conditional risk parts.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--d", type=int, default=200, help="ambient dimension")
    p.add_argument("--k", type=int, default=5, help="number of factors, 1 <= k < d")
    p.add_argument("--strengths", type=str, default=None,
                   help="comma list of k factor strengths s_i > 0 (default: k values geometric from 4 to 0.5)")
    p.add_argument("--beta", type=str, default=None, help="comma list of k downstream coefficients (default: ones)")
    p.add_argument("--noise-var", type=float, default=1.0, help="downstream noise variance sigma_nu^2")
    p.add_argument("--m", type=int, default=100_000, help="pre-training sample size")
    p.add_argument("--n", type=int, default=10_000, help="downstream sample size")
    p.add_argument("--trials", type=int, default=5, help="Monte Carlo trials")
    p.add_argument("--seed", type=int, default=1, help="seed of numpy.random.default_rng")
    p.add_argument("--pca", choices=["eigh", "sklearn"], default="eigh",
                   help="PPCA fit: eigh of S_m (fast) or sklearn PCA(svd_solver='full') on the raw data")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary line")
    a = p.parse_args(argv)

    strengths = parse_list(a.strengths, "strengths") if a.strengths is not None else default_strengths(a.k)
    beta = parse_list(a.beta, "beta") if a.beta is not None else [1.0] * a.k
    if a.m <= a.k or a.n <= a.k:
        raise SystemExit(f"error: need m > k and n > k, got m={a.m}, n={a.n}, k={a.k}")
    if a.trials < 1:
        raise SystemExit(f"error: --trials must be >= 1, got {a.trials}")
    model = FactorModel(a.d, a.k, strengths, beta, a.noise_var)

    rec, seconds = run(model, a.m, a.n, a.trials, a.seed, a.pca)
    means = rec.mean(axis=0)
    ses = rec.std(axis=0, ddof=1) / math.sqrt(a.trials) if a.trials > 1 else np.full(5, float("nan"))
    tps = a.trials / seconds if seconds > 0 else float("inf")
    threads_env = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

    if a.json:
        out = {
            "trials": a.trials,
            "seconds": seconds,
            "trials_per_second": tps,
            "mean_m_rep": float(means[3]),
            "mean_scaled_excess": float(means[4]),
            "numpy_version": np.__version__,
            "threads_env": threads_env,
            # extras
            "se_m_rep": float(ses[3]),
            "se_scaled_excess": float(ses[4]),
            "mean_n_var": float(means[0]),
            "mean_n_leak": float(means[1]),
            "mean_n_rep": float(means[2]),
            "d": a.d, "k": a.k, "m": a.m, "n": a.n, "seed": a.seed,
            "strengths": list(strengths), "beta": list(beta), "noise_var": a.noise_var,
            "sigma2": float(model.sigma2), "pca": a.pca, "cpu_count": os.cpu_count(),
        }
        print(json.dumps(out, indent=2))
    else:
        print(
            f"factor peer (numpy {np.__version__}, pca={a.pca}): d={a.d} k={a.k} m={a.m} n={a.n} "
            f"trials={a.trials} in {seconds:.3f} s = {tps:.3f} trials/s; "
            f"mean m*Rep = {means[3]:.4f} (se {ses[3]:.4f}), mean n*excess = {means[4]:.4f} (se {ses[4]:.4f}), "
            f"n*Var = {means[0]:.4f}, n*Leak = {means[1]:.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
