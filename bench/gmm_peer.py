#!/usr/bin/env python3
"""JAX (float32) reference for the Gaussian-mixture interaction constant E||L(Z)||^2.

Follows the published algorithm of Tinati & Tu (arXiv 2603.27631, App. K; authors'
code mtinati/mog-subspace-jax, `estimate_expected_l2_sq`), written independently:

1. Fisher information F = mean score score^T over N_f mixture draws at U*, with
   score_i = pi_full_i(x) (x - u_i); V = pinv(F + 1e-6 I).
2. Projection coefficients beta(U) = (Sigma_hat(U) + 1e-6 I)^{-1} c_hat(U) over N_proj
   draws (streamed in chunks), features psi_U(x) = [pi_i P_U (x - u_i), pi_i] in
   d-coordinates (p = K(d+1)), P_U = C^T (C C^T + 1e-6 I)^{-1} C with C the centred U.
3. Sensitivity s(x) = grad_U [psi_U(x)^T beta(U)] at U* by JAX autodiff, including the
   Jacobian of beta(U) (forward mode through the whole projection Monte Carlo), and
   E||L||^2 = mean_x s^T V s over N_eval fresh draws; s.e. = sd/sqrt(N_eval).

Prints one JSON object: the estimate, its standard error and wall times per stage.
Usage: python bench/gmm_peer.py --K 4 --d 20 --beta 2 [--n-fisher 100000 ...]
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", False)


def make_problem(K, d, beta, theta_norm):
    U = beta * jnp.eye(K, d, dtype=jnp.float32)
    w = 1.0 / jnp.arange(1, K + 1, dtype=jnp.float32)
    theta = jnp.repeat(w[:, None], d + 1, axis=1)
    theta = theta_norm * theta / jnp.linalg.norm(theta)
    return U, theta.reshape(-1)


def projector(U):
    K = U.shape[0]
    C = U - U.mean(axis=0, keepdims=True)
    return C.T @ jnp.linalg.solve(C @ C.T + 1e-6 * jnp.eye(K, dtype=U.dtype), C)


def features(U, X):
    """psi_U(x) for the rows of X: (n, K(d+1))."""
    P = projector(U)
    PX = X @ P
    PU = U @ P
    logits = PX @ PU.T - 0.5 * jnp.sum(PU * PU, axis=1)
    pi = jax.nn.softmax(logits, axis=1)
    slopes = pi[:, :, None] * (PX[:, None, :] - PU[None, :, :])
    return jnp.concatenate([slopes, pi[:, :, None]], axis=2).reshape(X.shape[0], -1)


def sample(key, U, n):
    k1, k2 = jax.random.split(key)
    comp = jax.random.randint(k1, (n,), 0, U.shape[0])
    return U[comp] + jax.random.normal(k2, (n, U.shape[1]), dtype=jnp.float32)


def scores(U, X):
    logits = X @ U.T - 0.5 * jnp.sum(U * U, axis=1)
    pi = jax.nn.softmax(logits, axis=1)
    return (pi[:, :, None] * (X[:, None, :] - U[None, :, :])).reshape(X.shape[0], -1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--K", type=int, default=4)
    ap.add_argument("--d", type=int, default=20)
    ap.add_argument("--beta", type=float, default=2.0)
    ap.add_argument("--theta-norm", type=float, default=1.0)
    ap.add_argument("--n-fisher", type=int, default=100_000)
    ap.add_argument("--n-proj", type=int, default=1_000_000)
    ap.add_argument("--n-eval", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=8192)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t_all = time.perf_counter()
    K, d = a.K, a.d
    U0, theta = make_problem(K, d, a.beta, a.theta_norm)
    key = jax.random.PRNGKey(a.seed)
    kf, kp, ke = jax.random.split(key, 3)
    chunk = a.chunk
    times = {}

    # 1. Fisher.
    t = time.perf_counter()

    @jax.jit
    def fisher_chunk(k):
        S = scores(U0, sample(k, U0, chunk))
        return S.T @ S

    nf = (a.n_fisher // chunk) * chunk
    F = sum(fisher_chunk(k) for k in jax.random.split(kf, nf // chunk)) / nf
    F = 0.5 * (F + F.T)
    V = jnp.linalg.pinv(F + 1e-6 * jnp.eye(K * d, dtype=jnp.float32))
    V.block_until_ready()
    times["fisher_s"] = time.perf_counter() - t

    # 2. Projection and its Jacobian.
    t = time.perf_counter()
    npj = (a.n_proj // chunk) * chunk
    Xp = jnp.stack([sample(k, U0, chunk) for k in jax.random.split(kp, npj // chunk)])
    fstar = jax.vmap(lambda X: features(U0, X) @ theta)(Xp)

    def beta_fn(U):
        def body(acc, xs):
            X, f = xs
            Psi = features(U, X)
            return (acc[0] + Psi.T @ Psi, acc[1] + Psi.T @ f), None

        p = K * (d + 1)
        init = (jnp.zeros((p, p), jnp.float32), jnp.zeros((p,), jnp.float32))
        (Sig, c), _ = jax.lax.scan(body, init, (Xp, fstar))
        Sig, c = Sig / npj, c / npj
        return jnp.linalg.solve(Sig + 1e-6 * jnp.eye(p, dtype=jnp.float32), c)

    beta0 = jax.jit(beta_fn)(U0)
    dbeta = jax.jit(jax.jacfwd(beta_fn))(U0)  # (p, K, d)
    dbeta.block_until_ready()
    times["projection_s"] = time.perf_counter() - t

    # 3. Evaluation.
    t = time.perf_counter()

    def g(U, x):
        b = beta0 + jnp.tensordot(dbeta, U - U0, axes=2)
        return features(U, x[None, :])[0] @ b

    @jax.jit
    def eval_chunk(k):
        X = sample(k, U0, chunk)
        S = jax.vmap(lambda x: jax.grad(g)(U0, x).reshape(-1))(X)
        q = jnp.einsum("ni,ij,nj->n", S, V, S)
        return jnp.sum(q), jnp.sum(q * q), S.T @ S

    ne = (a.n_eval // chunk) * chunk
    s1 = s2 = 0.0
    G = jnp.zeros((K * d, K * d), jnp.float32)
    for k in jax.random.split(ke, ne // chunk):
        a1, a2, g_ = eval_chunk(k)
        s1, s2, G = s1 + float(a1), s2 + float(a2), G + g_
    mean = s1 / ne
    sd = np.sqrt(max(s2 / ne - mean * mean, 0.0))
    G = np.asarray(G, dtype=np.float64) / ne
    Vn = np.asarray(V, dtype=np.float64)
    w, Q = np.linalg.eigh(0.5 * (Vn + Vn.T))
    root = (Q * np.sqrt(np.clip(w, 0, None))) @ Q.T
    weights = np.sort(np.linalg.eigvalsh(root @ G @ root))[::-1]
    times["evaluation_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - t_all
    print(
        json.dumps(
            {
                "K": K,
                "d": d,
                "beta": a.beta,
                "theta_norm": a.theta_norm,
                "n_fisher": nf,
                "n_proj": npj,
                "n_eval": ne,
                "interaction_mean": mean,
                "interaction_mean_se": sd / np.sqrt(ne),
                "top_weights": [float(x) for x in weights[:5]],
                "times": times,
                "jax": jax.__version__,
                "device": str(jax.devices()[0]),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
