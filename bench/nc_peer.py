#!/usr/bin/env python3
"""NumPy "peer" benchmark for `pretrainlab simulate neural-collapse-resnet`.

Neural collapse with depth (Súkeník, Lampert, Mondelli, "Neural Collapse is Globally
Optimal in Deep Regularized ResNets and Transformers", arXiv 2505.15239): a post-LayerNorm
residual network with one linear layer per block, trained by full-batch gradient descent
with weight decay on every weight, with the same definitions as the Rust model
(crates/pretrainlab/src/models/nc_resnet.rs):

    data      mu_k ~ N(0, I_d), x = mu_y + noise xi, per_class samples of each of K classes
    LN(v)     = c / |c|, c = v - mean(v)             (unit-norm LayerNorm, no affine part)
    h_0       = LN(W_in x)
    h_l       = LN(h_{l-1} + relu(W_l h_{l-1})),  l = 1..L
    F         = (1/N) sum_i loss(W h_L(x_i), y_i) + (lambda/2)(|W_in|^2 + sum_l |W_l|^2 + |W|^2)

with the cross-entropy or 1/2|z - e_y|^2 loss; the gradient is the same hand-written
backpropagation (batched over the N samples as matrix products). Initial weights:
W_in ~ N(0, 1/d), W_l ~ N(0, init_scale^2/m), W ~ N(0, 1/m). After `steps` steps of size
`lr` the peer measures the train accuracy, the objective and NC1 (tr(S_W S_B^+)/K) of
the last-layer features.

Only the trial loop is timed (time.perf_counter). The random streams differ from
pretrainlab's, so only the statistics (the means of the metrics) are comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np


def ln(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = v - v.mean(axis=1, keepdims=True)
    r = np.sqrt((c * c).sum(axis=1, keepdims=True))
    return c / r, r


def ln_back(g: np.ndarray, h: np.ndarray, r: np.ndarray) -> np.ndarray:
    return (g - g.mean(axis=1, keepdims=True) - (g * h).sum(axis=1, keepdims=True) * h) / r


class ResNet:
    def __init__(self, a: argparse.Namespace):
        self.a = a
        self.n = a.classes * a.per_class
        self.y = np.repeat(np.arange(a.classes), a.per_class)

    def forward_backward(self, x, w_in, ws, w):
        a, n = self.a, self.n
        lam = a.lam
        h0, r0 = ln(x @ w_in.T)
        hs, rs, masks = [h0], [r0], []
        h = h0
        for wl in ws:
            p = h @ wl.T
            mask = p > 0
            h, r = ln(h + p * mask)
            hs.append(h)
            rs.append(r)
            masks.append(mask)
        z = h @ w.T
        onehot = np.zeros_like(z)
        onehot[np.arange(n), self.y] = 1.0
        if a.loss == "ce":
            zmax = z.max(axis=1, keepdims=True)
            e = np.exp(z - zmax)
            s = e.sum(axis=1, keepdims=True)
            data = float(np.mean(zmax[:, 0] + np.log(s[:, 0]) - z[np.arange(n), self.y]))
            dz = (e / s - onehot) / n
        else:
            dz = z - onehot
            data = 0.5 * float((dz * dz).sum()) / n
            dz = dz / n
        reg = (w_in * w_in).sum() + sum((wl * wl).sum() for wl in ws) + (w * w).sum()
        f = data + 0.5 * lam * reg
        gw = dz.T @ h + lam * w
        gh = dz @ w
        gws = [None] * len(ws)
        for l in range(len(ws) - 1, -1, -1):
            gs = ln_back(gh, hs[l + 1], rs[l + 1])
            gr = gs * masks[l]
            gws[l] = gr.T @ hs[l] + lam * ws[l]
            gh = gs + gr @ ws[l]
        ga = ln_back(gh, hs[0], rs[0])
        gw_in = ga.T @ x + lam * w_in
        return f, z, hs[-1], gw_in, gws, gw

    def trial(self, rng: np.random.Generator) -> dict:
        a = self.a
        k, d, m = a.classes, a.input_dim, a.width
        mu = rng.standard_normal((k, d))
        x = mu[self.y] + a.noise * rng.standard_normal((self.n, d))
        w_in = rng.standard_normal((m, d)) / math.sqrt(d)
        ws = [rng.standard_normal((m, m)) * (a.init_scale / math.sqrt(m)) for _ in range(a.depth)]
        w = rng.standard_normal((k, m)) / math.sqrt(m)
        for _ in range(a.steps):
            _, _, _, gw_in, gws, gw = self.forward_backward(x, w_in, ws, w)
            w_in -= a.lr * gw_in
            for wl, g in zip(ws, gws):
                wl -= a.lr * g
            w -= a.lr * gw
        f, z, h, *_ = self.forward_backward(x, w_in, ws, w)
        acc = float(np.mean(z.argmax(axis=1) == self.y))
        return {"objective": f, "train_accuracy": acc, "nc1": nc1(h, self.y, k)}


def nc1(h: np.ndarray, y: np.ndarray, k: int) -> float:
    means = np.stack([h[y == c].mean(axis=0) for c in range(k)])
    mu_g = means.mean(axis=0)
    mc = means - mu_g
    sb = mc.T @ mc / k
    d = h - means[y]
    sw = d.T @ d / h.shape[0]
    return float(np.trace(sw @ np.linalg.pinv(sb, rcond=1e-12, hermitian=True)) / k)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--per-class", type=int, default=8)
    p.add_argument("--input-dim", type=int, default=8)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--loss", choices=["ce", "mse"], default="ce")
    p.add_argument("--lambda", dest="lam", type=float, default=0.005)
    p.add_argument("--lr", type=float, default=0.25)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--init-scale", type=float, default=1.0)
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if min(a.classes - 1, a.per_class, a.input_dim, a.width, a.depth, a.steps, a.trials) < 1:
        sys.exit("error: sizes must be positive (classes >= 2)")
    net = ResNet(a)
    rng = np.random.default_rng(a.seed)
    rows = []
    t0 = time.perf_counter()
    for _ in range(a.trials):
        rows.append(net.trial(rng))
    secs = time.perf_counter() - t0
    out = {"numpy_version": np.__version__, "trials": a.trials, "seconds": secs,
           "trials_per_second": a.trials / secs}
    for key in rows[0]:
        v = np.array([r[key] for r in rows])
        out[f"mean_{key}"] = float(v.mean())
        out[f"se_{key}"] = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
        out[f"values_{key}"] = v.tolist()
    if a.json:
        print(json.dumps(out))
    else:
        for key, v in out.items():
            print(f"{key}: {v}")


if __name__ == "__main__":
    main()
