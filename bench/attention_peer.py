#!/usr/bin/env python3
"""NumPy peer of `pretrainlab simulate attention-tokens`: the same per-seed simulation.

Per trial: E0 ~ N(0, I/d) (v = e1), tiered planted tokens (one uniform bit for y, then per
tier presence and token, then neutral tokens), one gradient step of size eta on E at p = 0,
the optimal tokens s* = argmax y*gamma, the attention SVM (hard margin, no bias) by dual
coordinate ascent on the unique constraints (s*, s), then normalised gradient descent on
p, computed relative to each sequence's arg-max token (the stable form). Reports the
means and standard errors of alignment_tier{i}, slope_ratio, cos_pmm, selection and
train_accuracy, and the trials per second of the trial loop.

The random streams differ from pretrainlab's, so only the statistics are comparable.
"""

import argparse
import json
import time

import numpy as np


def parse_tiers(text):
    tiers = []
    for part in text.split(";"):
        c, p = part.split(",")
        tiers.append((int(c), float(p)))
    return tiers


def draw(rng, tiers, neutral, seq_len, n, d):
    vocab = 2 * sum(c for c, _ in tiers) + neutral
    e = rng.standard_normal((vocab, d)) / np.sqrt(d)
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    tokens = np.empty((n, seq_len), dtype=np.int64)
    fill = np.zeros(n, dtype=np.int64)
    off = 0
    for c, prob in tiers:
        present = rng.random(n) < prob
        k = rng.integers(0, c, n)
        tok = off + np.where(y > 0, k, c + k)
        rows = np.nonzero(present)[0]
        tokens[rows, fill[rows]] = tok[rows]
        fill[rows] += 1
        off += 2 * c
    neutrals = off + rng.integers(0, neutral, (n, seq_len))
    cols = np.arange(seq_len)[None, :]
    tokens = np.where(cols >= fill[:, None], neutrals, tokens)
    return e, y, tokens, vocab


def embedding_step(e, y, tokens, vocab, eta):
    n, t = tokens.shape
    f0 = e[tokens, 0].mean(axis=1)
    sig = 1.0 / (1.0 + np.exp(y * f0))
    alpha = np.bincount(tokens.ravel(), weights=np.repeat(y, t), minlength=vocab) / (n * t)
    delta = eta * np.bincount(tokens.ravel(), weights=np.repeat(y * sig, t), minlength=vocab) / (n * t)
    e = e.copy()
    e[:, 0] += delta
    return e, alpha, delta


def svm(a, tol=1e-10, max_sweeps=20000):
    """Hard-margin SVM without bias by dual coordinate ascent (p = sum lambda_i a_i)."""
    m, d = a.shape
    norms = np.einsum("ij,ij->i", a, a)
    lam = np.zeros(m)
    p = np.zeros(d)
    for _ in range(max_sweeps):
        worst = 0.0
        for i in range(m):
            margin = a[i] @ p
            new = max(0.0, lam[i] + (1.0 - margin) / norms[i])
            if new != lam[i]:
                p += (new - lam[i]) * a[i]
            if lam[i] > 0:
                worst = max(worst, abs(margin - 1.0))
            worst = max(worst, 1.0 - margin)
            lam[i] = new
        if worst < tol:
            return p
    raise RuntimeError("svm did not converge")


def train_p(e, gamma, y, tokens, steps, h):
    n, t = tokens.shape
    p = np.zeros(e.shape[1])
    rows = np.arange(n)
    for _ in range(steps):
        z = (e @ p)[tokens]
        o_idx = np.argmax(z, axis=1)
        o = tokens[rows, o_idx]
        lw = z - z[rows, o_idx][:, None]
        w = np.exp(lw)
        s = w.sum(axis=1)
        g = gamma[tokens] - gamma[o][:, None]
        f = gamma[o] + (w * g).sum(axis=1) / s
        log_scale = -np.logaddexp(0.0, y * f) - np.log(s)
        other = tokens != o[:, None]
        key = np.where(other, lw + log_scale[:, None], -np.inf)
        largest = key.max()
        coef = np.where(other, np.exp(key - largest), 0.0) * (g - (f - gamma[o])[:, None])
        coef *= (-y / n)[:, None]
        c = np.bincount(tokens.ravel(), weights=coef.ravel(), minlength=e.shape[0])
        c -= np.bincount(o, weights=coef.sum(axis=1), minlength=e.shape[0])
        grad = c @ e
        p -= h * grad / np.linalg.norm(grad)
    z = (e @ p)[tokens]
    o = tokens[rows, np.argmax(z, axis=1)]
    w = np.exp(z - z.max(axis=1, keepdims=True))
    f = (w * gamma[tokens]).sum(axis=1) / w.sum(axis=1)
    return p, o, f


def trial(rng, args, tiers):
    e, y, tokens, vocab = draw(rng, tiers, args.neutral, args.seq_len, args.n, args.d)
    e, alpha, delta = embedding_step(e, y, tokens, vocab, args.eta)
    out = {}
    off = 0
    for i, (c, _) in enumerate(tiers):
        out[f"alignment_tier{i + 1}"] = delta[off:off + c].mean()
        off += 2 * c
    da, dd = alpha - alpha.mean(), delta - delta.mean()
    out["slope_ratio"] = (da @ dd) / (da @ da) / (args.eta / 2)
    gamma = e[:, 0]
    best = tokens[np.arange(args.n), np.argmax(y[:, None] * gamma[tokens], axis=1)]
    pairs = {(int(b), int(s)) for b, row in zip(best, tokens) for s in row if s != b}
    pairs = np.array(sorted(pairs))
    pmm = svm(e[pairs[:, 0]] - e[pairs[:, 1]])
    p, o, f = train_p(e, gamma, y, tokens, args.p_steps, args.p_step)
    out["cos_pmm"] = p @ pmm / (np.linalg.norm(p) * np.linalg.norm(pmm))
    out["selection"] = np.mean(o == best)
    out["train_accuracy"] = np.mean(y * f > 0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiers", default="2,1.0;4,0.5", help="count,prob;count,prob;...")
    ap.add_argument("--neutral", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=8)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--eta", type=float, default=100.0)
    ap.add_argument("--p-step", type=float, default=0.05)
    ap.add_argument("--p-steps", type=int, default=4000)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tiers = parse_tiers(args.tiers)
    rng = np.random.default_rng(args.seed)
    rows = []
    t0 = time.perf_counter()
    for _ in range(args.trials):
        rows.append(trial(rng, args, tiers))
    secs = time.perf_counter() - t0
    result = {
        "numpy_version": np.__version__,
        "trials": args.trials,
        "seconds": secs,
        "trials_per_second": args.trials / secs,
    }
    for key in rows[0]:
        vals = np.array([r[key] for r in rows])
        result[f"mean_{key}"] = float(vals.mean())
        result[f"se_{key}"] = float(vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
