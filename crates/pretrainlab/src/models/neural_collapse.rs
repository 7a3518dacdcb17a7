//! Neural collapse as the global optimum of the LayerNorm unconstrained-features model
//! (Súkeník, Lampert, Mondelli, "Neural Collapse is Globally Optimal in Deep Regularized
//! ResNets and Transformers", arXiv 2505.15239). Only the unconstrained-features part is
//! modelled here; the deep ResNet and transformer part is not.
//!
//! **Model.** `K` balanced classes of `n` samples each (`N = Kn`), width `m`. Each sample
//! has a free feature `hᵢ ∈ ℝᵐ` constrained as a LayerNorm output: centred and of unit
//! norm, `1ᵀhᵢ = 0`, `‖hᵢ‖ = 1`. A raw LayerNorm output has norm `√m`; rescaling it to
//! norm 1 rescales `W` by `√m`, which is the same model with `λ → λ/m`. A linear
//! classifier `W ∈ ℝ^{K×m}` (no bias) is fitted jointly with the features:
//!
//! ```text
//! F(W, H) = (1/N) Σᵢ ℓ(W hᵢ, yᵢ) + (λ/2)‖W‖²_F,
//! ```
//!
//! with `ℓ` the cross-entropy (`loss = "ce"`) or `ℓ(z, y) = ½‖z − e_y‖²` (`"mse"`).
//!
//! **Cross-entropy** (derived here). Put every feature of class `k` at `μ_k`, the `μ_k` a
//! simplex ETF in the centred hyperplane (`‖μ_k‖ = 1`, `μ_kᵀμ_l = −1/(K−1)`, possible iff
//! `m − 1 ≥ K − 1`), and `W`'s rows `w_k = sμ_k`. The logits of a sample of class `y` are
//! `s` and `−s/(K−1)`, and `‖W‖²_F = Ks²`, so
//!
//! ```text
//! F = φ(s) = log(1 + (K−1) e^{−sK/(K−1)}) + (λ/2) K s².
//! ```
//!
//! `φ` is strictly convex with `φ'(0) = −1`, so its minimiser `s⋆ > 0` is the unique root
//! of `φ'`, and the paper's theorem makes `F⋆ = φ(s⋆)` the global minimum. The `scale`
//! metric is `‖W‖_F/√K`, the row norm `s` at collapse.
//!
//! **Mean squared error** (derived here). Given `W`, each feature minimises its own loss,
//! so some optimum is collapsed; with the class means `M = [μ₁ … μ_K]` and `G = MᵀM`
//! (unit diagonal, rank `≤ m − 1`), the ridge fit `W = Mᵀ(MMᵀ + KλI)⁻¹` leaves
//! `F = Σ_j (λ/2)/(g_j + Kλ)` over the eigenvalues `g_j` of `G`, `Σ g_j = K`. This is
//! convex in `g`, so when `m − 1 ≥ K` the optimum is `G = I` (orthonormal means, not an
//! ETF), `W = Mᵀ/(1 + Kλ)`, and
//!
//! ```text
//! F⋆ = λK / (2(1 + Kλ)),     s⋆ = 1/(1 + Kλ).
//! ```
//!
//! When `m − 1 = r < K` the best spectrum is `r` eigenvalues `K/r` (a tight frame), so
//! `F⋆ = r²λ/(2K(1 + rλ)) + (K − r)/(2K)`; this is reported as a reference only.
//!
//! **Collapse metrics** (Papyan, Han & Donoho, "Prevalence of neural collapse during the
//! terminal phase of deep learning training", 2020). With class means `μ_k`, global mean
//! `μ_G`, centred means `μ̃_k = μ_k − μ_G` (the rows of `M̃`),
//! `Σ_W = (1/N) Σᵢ (hᵢ − μ_{yᵢ})(hᵢ − μ_{yᵢ})ᵀ` and `Σ_B = (1/K) Σ_k μ̃_k μ̃_kᵀ`:
//!
//! ```text
//! NC1 = tr(Σ_W Σ_B⁺)/K,
//! NC2(A) = ‖AAᵀ/‖AAᵀ‖_F − T/‖T‖_F‖_F      (A = W or M̃; T a target Gram),
//! NC3 = ‖W/‖W‖_F − M̃/‖M̃‖_F‖²_F,
//! ```
//!
//! with the ETF Gram `T = I − 11ᵀ/K`. Under MSE the optimal `W` has Gram `∝ I` while the
//! centred orthonormal means have the ETF Gram, so the predicted NC2 of `W` against the
//! ETF is `NC2_ETF(I)` and NC3 is `2 − 2√(1 − 1/K)`.
//!
//! **Optimiser.** The features are written `hᵢ = Puᵢ/‖Puᵢ‖` (`P` the centring projection),
//! so that [`crate::optim::Lbfgs`], allocation-free with its workspace, runs unconstrained
//! on `(W, U)`: the gradient in `uᵢ` is the Riemannian gradient on the sphere of the
//! centred hyperplane, `(P − hᵢhᵢᵀ)∇_h F`, divided by `‖Puᵢ‖`, and normalising `uᵢ` is the
//! retraction. The minimisation starts from the normalised draw (from the raw draw,
//! `‖uᵢ‖ ≈ √m` scales the features' gradient down by `√m` and L-BFGS needs several
//! times more iterations) and is restarted from the normalised point until it stops at
//! once with `‖∇F‖₂ ≤ tol`.

use faer::{Accum, MatMut, MatRef};
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::audit::Claim;
use crate::budget::{Cost, Need};
use crate::linalg::{clean_simd_state, dot, mul_into};
use crate::model::{Criterion, MeanPrediction, MetricSpec, Model, Prediction, Quantity, Reference};
use crate::optim::{Lbfgs, LbfgsSettings};
use crate::params::{ModelInfo, describe};
use crate::runner::Trials;
use crate::{Error, Result};

const MAX_CLASSES: usize = 256;
const MAX_WIDTH: usize = 4096;
const MAX_PER_CLASS: usize = 10_000;
const MAX_SAMPLES: usize = 100_000;
const MIN_LAMBDA: f64 = 1e-6;
const MAX_LAMBDA: f64 = 100.0;
const MAX_ITER: usize = 10_000_000;
const MIN_TOL: f64 = 1e-14;
const MAX_TOL: f64 = 1e-2;
/// Most restarts from the normalised point.
const MAX_ROUNDS: usize = 20;
/// L-BFGS memory.
const MEMORY: usize = 10;

/// Check tolerances: the objective relative to `F⋆` (the brief's 10⁻⁶; at a gradient of
/// norm `tol` the gap is of order `tol²` over the curvature), the scale relative to `s⋆`
/// and the collapse metrics absolutely (first order in the distance to the optimum,
/// which is of order `N·tol` over the curvature: 10⁻⁸ at the default `tol`).
pub const OBJECTIVE_TOL: f64 = 1e-6;
pub const SCALE_TOL: f64 = 1e-5;
pub const COLLAPSE_TOL: f64 = 1e-5;

/// The loss `ℓ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Cross-entropy `ℓ(z, y) = log Σ_j e^{z_j} − z_y`.
    Ce,
    /// Squared error `ℓ(z, y) = ½‖z − e_y‖²`.
    Mse,
}

/// Parameters of the LayerNorm unconstrained-features model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NeuralCollapseParams {
    /// Number of classes `K`.
    pub classes: usize,
    /// Feature width `m`.
    pub width: usize,
    /// Samples per class `n`.
    pub per_class: usize,
    /// Weight decay `λ` on `W`.
    pub lambda: f64,
    pub loss: Loss,
    /// Most L-BFGS iterations per trial.
    pub max_iter: usize,
    /// Gradient-norm tolerance.
    pub tol: f64,
}

impl Default for NeuralCollapseParams {
    fn default() -> Self {
        NeuralCollapseParams {
            classes: 4,
            width: 8,
            per_class: 5,
            lambda: 0.01,
            loss: Loss::Ce,
            max_iter: 20_000,
            tol: 1e-9,
        }
    }
}

/// What the theory predicts at an instance where it is exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Optimum {
    pub objective: f64,
    pub scale: f64,
    /// Predicted NC2 of `W` against the ETF and NC3 against the centred means.
    pub nc2_w_etf: f64,
    pub nc3: f64,
}

/// The model, ready to run.
pub struct NeuralCollapse {
    p: NeuralCollapseParams,
    /// `None` where the width is too small for the theory's shape.
    optimum: Option<Optimum>,
    metrics: Vec<MetricSpec>,
}

/// Per-worker buffers of a trial.
pub struct NeuralCollapseWorkspace {
    opt: Lbfgs,
    /// `(W, U)`, `W` row-major `K×m`, then `U` row-major `N×m`.
    x: Vec<f64>,
    /// Features, norms and logits of the last evaluation.
    buf: ObjectiveBuffers,
    /// Buffers of the collapse metrics.
    metrics_buf: CollapseBuffers,
}

fn invalid(field: &str, what: String) -> Error {
    Error::invalid(field, what)
}

fn check_range(field: &str, v: usize, lo: usize, hi: usize) -> Result<()> {
    if v < lo || v > hi {
        return Err(invalid(field, format!("must be in {lo}..={hi}, got {v}")));
    }
    Ok(())
}

/// `φ(s) = log(1 + (K−1)e^{−sK/(K−1)}) + (λ/2)Ks²`.
pub fn phi(s: f64, k: usize, lambda: f64) -> f64 {
    let k = k as f64;
    let c = k / (k - 1.0);
    ln_1p_exp((k - 1.0).ln() - c * s) + 0.5 * lambda * k * s * s
}

/// `log(1 + eᵗ)` without overflow.
fn ln_1p_exp(t: f64) -> f64 {
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

/// `φ'(s) = −c(K−1)e^{−cs}/(1 + (K−1)e^{−cs}) + λKs`, `c = K/(K−1)`.
fn phi_prime(s: f64, k: usize, lambda: f64) -> f64 {
    let k = k as f64;
    let c = k / (k - 1.0);
    let t = (k - 1.0).ln() - c * s;
    let sigmoid = 1.0 / (1.0 + (-t).exp());
    -c * sigmoid + lambda * k * s
}

/// `s⋆ = argmin φ`, by bisection on `φ'` over `[0, c/(λK)]` (where `φ' ≥ 0` at the top).
pub fn s_star(k: usize, lambda: f64) -> f64 {
    let kf = k as f64;
    let (mut lo, mut hi) = (0.0f64, kf / (kf - 1.0) / (lambda * kf));
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if phi_prime(mid, k, lambda) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// NC2 of a `K×K` Gram `g` against the ETF (`etf`) or the identity: the Frobenius
/// distance of the two after each is divided by its Frobenius norm.
fn nc2_distance(g: &[f64], k: usize, etf: bool) -> f64 {
    let kf = k as f64;
    let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let target = |i: usize, j: usize| {
        let id = if i == j { 1.0 } else { 0.0 };
        if etf {
            (id - 1.0 / kf) / (kf - 1.0).sqrt()
        } else {
            id / kf.sqrt()
        }
    };
    let mut d = 0.0;
    for i in 0..k {
        for j in 0..k {
            let r = g[i * k + j] / gn - target(i, j);
            d += r * r;
        }
    }
    d.sqrt()
}

/// The collapse metrics of features and a classifier (module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Collapse {
    pub nc1: f64,
    /// NC2 of `W` against the ETF Gram and against the identity.
    pub nc2_w_etf: f64,
    pub nc2_w_identity: f64,
    /// NC2 of the centred class means against the ETF Gram.
    pub nc2_means: f64,
    pub nc3: f64,
}

/// Buffers of [`collapse`]: class means (`K×m`, left centred), Grams and eigenvectors
/// (`K×K`), eigenvalues and a projection (`K`), the global mean `μ_G` (`m`).
pub(crate) struct CollapseBuffers {
    pub means: Vec<f64>,
    gram: Vec<f64>,
    vecs: Vec<f64>,
    vals: Vec<f64>,
    c: Vec<f64>,
    mu_g: Vec<f64>,
}

impl CollapseBuffers {
    pub(crate) fn new(k: usize, m: usize) -> Self {
        CollapseBuffers {
            means: vec![0.0; k * m],
            gram: vec![0.0; k * k],
            vecs: vec![0.0; k * k],
            vals: vec![0.0; k],
            c: vec![0.0; k],
            mu_g: vec![0.0; m],
        }
    }
}

/// NC1–NC3 of the features `h` (`N×m` row-major, `N = K·pc`, sample `i` of class
/// `i / pc`) and the classifier `w` (`K×m`); leaves the centred class means (the rows of
/// `M̃`) in `buf.means`. Allocates nothing.
pub(crate) fn collapse(
    h: &[f64],
    w: &[f64],
    k: usize,
    m: usize,
    pc: usize,
    buf: &mut CollapseBuffers,
) -> Collapse {
    let n = k * pc;
    let CollapseBuffers {
        means,
        gram,
        vecs,
        vals,
        c,
        mu_g,
    } = buf;
    let wn2: f64 = w.iter().map(|v| v * v).sum();
    means.fill(0.0);
    for i in 0..n {
        let y = i / pc;
        for (mv, hv) in means[y * m..(y + 1) * m]
            .iter_mut()
            .zip(&h[i * m..(i + 1) * m])
        {
            *mv += hv / pc as f64;
        }
    }
    // The global mean μ_G, then the means centred in place (rows of M̃).
    mu_g.fill(0.0);
    for a in 0..k {
        for (g, mv) in mu_g.iter_mut().zip(&means[a * m..(a + 1) * m]) {
            *g += mv / k as f64;
        }
    }
    for a in 0..k {
        for (mv, g) in means[a * m..(a + 1) * m].iter_mut().zip(mu_g.iter()) {
            *mv -= g;
        }
    }
    let mut nc1_sum = 0.0;
    // Gram of the centred means.
    for a in 0..k {
        for b in 0..k {
            let mut s = 0.0;
            for j in 0..m {
                s += means[a * m + j] * means[b * m + j];
            }
            gram[a * k + b] = s;
        }
    }
    let nc2_means = nc2_distance(gram, k, true);
    let mn2: f64 = (0..k).map(|a| gram[a * k + a]).sum();
    // NC3.
    let (wn, mn) = (wn2.sqrt(), mn2.sqrt());
    let mut nc3 = 0.0;
    for a in 0..k {
        for j in 0..m {
            let r = w[a * m + j] / wn - means[a * m + j] / mn;
            nc3 += r * r;
        }
    }
    // NC1 = (1/N) Σᵢ Σ_j (v_jᵀ cᵢ)²/g_j², cᵢ = M̃ dᵢ, G = M̃M̃ᵀ = Σ g_j v_j v_jᵀ.
    jacobi(gram, vecs, vals, k);
    let gmax = vals.iter().cloned().fold(0.0, f64::max);
    for i in 0..n {
        let y = i / pc;
        for (a, ca) in c.iter_mut().enumerate() {
            let mut s = 0.0;
            for j in 0..m {
                s += means[a * m + j] * (h[i * m + j] - means[y * m + j] - mu_g[j]);
            }
            *ca = s;
        }
        for (jj, &gj) in vals.iter().enumerate() {
            if gj > 1e-12 * gmax {
                let proj: f64 = (0..k).map(|a| vecs[a * k + jj] * c[a]).sum();
                nc1_sum += proj * proj / (gj * gj);
            }
        }
    }
    // NC2 of W.
    for a in 0..k {
        for b in 0..k {
            gram[a * k + b] = (0..m).map(|j| w[a * m + j] * w[b * m + j]).sum();
        }
    }
    Collapse {
        nc1: nc1_sum / n as f64,
        nc2_w_etf: nc2_distance(gram, k, true),
        nc2_w_identity: nc2_distance(gram, k, false),
        nc2_means,
        nc3,
    }
}

/// Cyclic Jacobi eigendecomposition of the symmetric `k×k` matrix `a` (destroyed): the
/// eigenvalues into `vals`, the eigenvectors as the columns of `v`.
fn jacobi(a: &mut [f64], v: &mut [f64], vals: &mut [f64], k: usize) {
    v.fill(0.0);
    for i in 0..k {
        v[i * k + i] = 1.0;
    }
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>();
    for _ in 0..100 {
        let mut off = 0.0;
        for i in 0..k {
            for j in 0..k {
                if i != j {
                    off += a[i * k + j] * a[i * k + j];
                }
            }
        }
        if off <= 1e-32 * norm || off == 0.0 {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                let apq = a[p * k + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * k + q] - a[p * k + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..k {
                    let (arp, arq) = (a[r * k + p], a[r * k + q]);
                    a[r * k + p] = c * arp - s * arq;
                    a[r * k + q] = s * arp + c * arq;
                }
                for r in 0..k {
                    let (apr, aqr) = (a[p * k + r], a[q * k + r]);
                    a[p * k + r] = c * apr - s * aqr;
                    a[q * k + r] = s * apr + c * aqr;
                }
                for r in 0..k {
                    let (vrp, vrq) = (v[r * k + p], v[r * k + q]);
                    v[r * k + p] = c * vrp - s * vrq;
                    v[r * k + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    for i in 0..k {
        vals[i] = a[i * k + i];
    }
}

/// `h = Pu/‖Pu‖` (`P` the centring projection); returns `‖Pu‖`, `None` when it is zero or
/// not finite.
#[inline(always)]
fn centre_normalise(u: &[f64], h: &mut [f64]) -> Option<f64> {
    let mean = sum(u) / u.len() as f64;
    for (hv, uv) in h.iter_mut().zip(u) {
        *hv = uv - mean;
    }
    let r = dot(h, h).sqrt();
    if !(r > 0.0 && r.is_finite()) {
        return None;
    }
    let inv = 1.0 / r;
    for hv in h.iter_mut() {
        *hv *= inv;
    }
    Some(r)
}

/// `Σ_i a_i` with eight partial sums (see [`crate::linalg::dot`]).
#[inline(always)]
fn sum(a: &[f64]) -> f64 {
    let chunks = a.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().sum();
    let mut acc = [0.0; 8];
    for c in chunks {
        for (acc, v) in acc.iter_mut().zip(c) {
            *acc += v;
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Shape of an instance: `K` classes, width `m`, `n` samples per class.
#[derive(Clone, Copy, Debug)]
struct Shape {
    k: usize,
    m: usize,
    per_class: usize,
}

impl Shape {
    fn samples(&self) -> usize {
        self.k * self.per_class
    }
}

/// Buffers of [`objective`]: the features `H` (`N×m`, row-major), the inverse norms
/// `1/‖Puᵢ‖` (`N`) and the logits `Z = HWᵀ`, then `∂ℓ/∂Z` (`N×K`, row-major).
struct ObjectiveBuffers {
    h: Vec<f64>,
    r: Vec<f64>,
    z: Vec<f64>,
}

impl ObjectiveBuffers {
    fn new(s: Shape) -> Self {
        let n = s.samples();
        ObjectiveBuffers {
            h: vec![0.0; n * s.m],
            r: vec![0.0; n],
            z: vec![0.0; n * s.k],
        }
    }
}

/// The objective `F` at `x = (W, U)` and its gradient into `g`; the features `hᵢ` are
/// left in `b.h`. A zero `Puᵢ` gives NaN.
///
/// Three matrix products carry the work: the logits `Z = HWᵀ`, then with
/// `D = (1/N) ∂ℓ/∂Z` the gradients `∇_W F = λW + DᵀH` and `∇_H F = DW`; the last is
/// turned row by row into the Riemannian gradient `(P − hᵢhᵢᵀ)∇_{hᵢ}F/‖Puᵢ‖`.
///
/// The passes around the products are compiled for AVX2 where the CPU has it (without
/// FMA, so the bits are those of the portable build): at a width of tens, the loop
/// overheads of the portable code cost as much as the products.
fn objective(
    x: &[f64],
    g: &mut [f64],
    b: &mut ObjectiveBuffers,
    s: Shape,
    lambda: f64,
    loss: Loss,
) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::linalg::avx2() {
            // SAFETY: the CPU supports AVX2 (checked above).
            return unsafe { objective_avx2(x, g, b, s, lambda, loss) };
        }
    }
    objective_portable(x, g, b, s, lambda, loss)
}

/// [`objective_portable`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn objective_avx2(
    x: &[f64],
    g: &mut [f64],
    b: &mut ObjectiveBuffers,
    s: Shape,
    lambda: f64,
    loss: Loss,
) -> f64 {
    objective_portable(x, g, b, s, lambda, loss)
}

#[inline(always)]
fn objective_portable(
    x: &[f64],
    g: &mut [f64],
    b: &mut ObjectiveBuffers,
    s: Shape,
    lambda: f64,
    loss: Loss,
) -> f64 {
    let (k, m, n) = (s.k, s.m, s.samples());
    let inv_n = 1.0 / n as f64;
    let (w, u) = x.split_at(k * m);
    let (gw, gu) = g.split_at_mut(k * m);
    for ((ui, hi), ri) in u
        .chunks_exact(m)
        .zip(b.h.chunks_exact_mut(m))
        .zip(b.r.iter_mut())
    {
        let Some(r) = centre_normalise(ui, hi) else {
            return f64::NAN;
        };
        *ri = 1.0 / r;
    }
    let hm = MatRef::from_row_major_slice(&b.h, n, m);
    let wm = MatRef::from_row_major_slice(w, k, m);
    mul_into(
        MatMut::from_row_major_slice_mut(&mut b.z, n, k),
        Accum::Replace,
        hm,
        wm.transpose(),
        1.0,
    );
    clean_simd_state();
    let mut f = 0.0;
    for (i, zi) in b.z.chunks_exact_mut(k).enumerate() {
        f += loss_and_derivative(zi, i / s.per_class, loss);
    }
    let mut wn = 0.0;
    for (gwi, wi) in gw.iter_mut().zip(w) {
        *gwi = lambda * wi;
        wn += wi * wi;
    }
    let dm = MatRef::from_row_major_slice(&b.z, n, k);
    mul_into(
        MatMut::from_row_major_slice_mut(gw, k, m),
        Accum::Add,
        dm.transpose(),
        hm,
        inv_n,
    );
    mul_into(
        MatMut::from_row_major_slice_mut(gu, n, m),
        Accum::Replace,
        dm,
        wm,
        inv_n,
    );
    clean_simd_state();
    // The Riemannian gradient (P − hᵢhᵢᵀ)∇_{hᵢ}F, divided by ‖Puᵢ‖.
    let inv_m = 1.0 / m as f64;
    for ((gi, hi), &inv_r) in gu
        .chunks_exact_mut(m)
        .zip(b.h.chunks_exact(m))
        .zip(b.r.iter())
    {
        let gmean = sum(gi) * inv_m;
        let hg = dot(gi, hi);
        for (gv, &hv) in gi.iter_mut().zip(hi) {
            *gv = (*gv - gmean - hg * hv) * inv_r;
        }
    }
    f * inv_n + 0.5 * lambda * wn
}

/// `ℓ(z, y)`, with `z` overwritten by `∂ℓ/∂z`.
#[inline(always)]
fn loss_and_derivative(z: &mut [f64], y: usize, loss: Loss) -> f64 {
    match loss {
        Loss::Ce => {
            let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let zy = z[y];
            let mut total = 0.0;
            for zc in z.iter_mut() {
                *zc = (*zc - zmax).exp();
                total += *zc;
            }
            let inv = 1.0 / total;
            for zc in z.iter_mut() {
                *zc *= inv;
            }
            z[y] -= 1.0;
            zmax + total.ln() - zy
        }
        Loss::Mse => {
            z[y] -= 1.0;
            0.5 * dot(z, z)
        }
    }
}

impl NeuralCollapse {
    pub fn new(p: NeuralCollapseParams) -> Result<Self> {
        check_range("classes", p.classes, 2, MAX_CLASSES)?;
        check_range("width", p.width, 2, MAX_WIDTH)?;
        check_range("per_class", p.per_class, 1, MAX_PER_CLASS)?;
        if p.classes * p.per_class > MAX_SAMPLES {
            return Err(invalid(
                "per_class",
                format!(
                    "classes·per_class must be at most {MAX_SAMPLES}, got {}",
                    p.classes * p.per_class
                ),
            ));
        }
        if !(MIN_LAMBDA..=MAX_LAMBDA).contains(&p.lambda) {
            return Err(invalid(
                "lambda",
                format!(
                    "must be a number in [{MIN_LAMBDA}, {MAX_LAMBDA}], got {}",
                    p.lambda
                ),
            ));
        }
        check_range("max_iter", p.max_iter, 1, MAX_ITER)?;
        if !(MIN_TOL..=MAX_TOL).contains(&p.tol) {
            return Err(invalid(
                "tol",
                format!("must be a number in [{MIN_TOL}, {MAX_TOL}], got {}", p.tol),
            ));
        }
        let (k, m, lambda) = (p.classes, p.width, p.lambda);
        let kf = k as f64;
        let optimum = match p.loss {
            Loss::Ce if m >= k => {
                let s = s_star(k, lambda);
                Some(Optimum {
                    objective: phi(s, k, lambda),
                    scale: s,
                    nc2_w_etf: 0.0,
                    nc3: 0.0,
                })
            }
            Loss::Mse if m > k => {
                let mut id = vec![0.0; k * k];
                for i in 0..k {
                    id[i * k + i] = 1.0;
                }
                Some(Optimum {
                    objective: lambda * kf / (2.0 * (1.0 + kf * lambda)),
                    scale: 1.0 / (1.0 + kf * lambda),
                    nc2_w_etf: nc2_distance(&id, k, true),
                    nc3: 2.0 - 2.0 * (1.0 - 1.0 / kf).sqrt(),
                })
            }
            _ => None,
        };
        let shape = match p.loss {
            Loss::Ce => "the simplex ETF Gram I − 11ᵀ/K",
            Loss::Mse => "the identity (orthonormal rows)",
        };
        let metrics = vec![
            MetricSpec::new("objective", "1", "F(W, H) at convergence"),
            MetricSpec::new(
                "scale",
                "1",
                "‖W‖_F/√K, the classifier's row norm s at collapse",
            ),
            MetricSpec::new(
                "nc1",
                "1",
                "NC1 = tr(Σ_W Σ_B⁺)/K, within-class variability of the features",
            ),
            MetricSpec::new(
                "nc2_w",
                "1",
                format!(
                    "NC2 of W: distance of the normalised WWᵀ from {shape}, the theory's shape"
                ),
            ),
            MetricSpec::new(
                "nc2_w_etf",
                "1",
                "NC2 of W against the simplex ETF Gram I − 11ᵀ/K",
            ),
            MetricSpec::new(
                "nc2_means",
                "1",
                "NC2 of the centred class means against the simplex ETF Gram",
            ),
            MetricSpec::new(
                "nc3",
                "1",
                "NC3 = ‖W/‖W‖_F − M̃/‖M̃‖_F‖²_F, M̃ the centred class means",
            ),
        ];
        Ok(NeuralCollapse {
            p,
            optimum,
            metrics,
        })
    }

    /// Builds the model from a parameter table.
    pub fn build(table: toml::Table) -> Result<Self> {
        let params: NeuralCollapseParams = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| crate::models::parameter_error(&e.to_string()))?;
        Self::new(params)
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "neural-collapse",
            summary: "LayerNorm unconstrained-features model: K classes, centred unit-norm features and a weight-decayed linear classifier minimised jointly; objective, scale and NC1–NC3 against the collapsed global optimum",
            source: "Súkeník, Lampert, Mondelli, \"Neural Collapse is Globally Optimal in Deep Regularized ResNets and Transformers\", arXiv 2505.15239",
            params: describe::<NeuralCollapseParams>(
                &[
                    ("classes", "number of classes K (2 to 256)"),
                    (
                        "width",
                        "feature width m (2 to 4096); exact theory needs m ≥ K (CE) or m ≥ K + 1 (MSE)",
                    ),
                    (
                        "per_class",
                        "samples per class (1 to 10⁴, K·per_class ≤ 10⁵)",
                    ),
                    (
                        "lambda",
                        "weight decay λ on W (10⁻⁶ to 100), for unit-norm features (λ/m for raw LayerNorm outputs of norm √m)",
                    ),
                    ("loss", "\"ce\" (cross-entropy) or \"mse\" (½‖Wh − e_y‖²)"),
                    ("max_iter", "most L-BFGS iterations per trial (1 to 10⁷)"),
                    ("tol", "gradient-norm tolerance (10⁻¹⁴ to 10⁻²)"),
                ],
                &[],
            ),
        }
    }

    /// The theory's optimum, where it is exact.
    pub fn optimum(&self) -> Option<Optimum> {
        self.optimum
    }

    /// `F` and its gradient at `x = (W, U)` (for tests).
    pub fn objective_at(&self, x: &[f64], g: &mut [f64]) -> f64 {
        let mut b = ObjectiveBuffers::new(self.shape());
        objective(x, g, &mut b, self.shape(), self.p.lambda, self.p.loss)
    }

    fn shape(&self) -> Shape {
        Shape {
            k: self.p.classes,
            m: self.p.width,
            per_class: self.p.per_class,
        }
    }

    fn dim(&self) -> usize {
        self.p.classes * self.p.width * (1 + self.p.per_class)
    }

    fn predicted(&self, o: &Optimum) -> [f64; 7] {
        [o.objective, o.scale, 0.0, 0.0, o.nc2_w_etf, 0.0, o.nc3]
    }
}

impl Model for NeuralCollapse {
    type Workspace = NeuralCollapseWorkspace;

    fn name(&self) -> &'static str {
        "neural-collapse"
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn workspace(&self) -> NeuralCollapseWorkspace {
        let (k, m) = (self.p.classes, self.p.width);
        NeuralCollapseWorkspace {
            opt: Lbfgs::new(
                self.dim(),
                LbfgsSettings {
                    gtol: self.p.tol,
                    max_iter: self.p.max_iter,
                    memory: MEMORY,
                },
            ),
            x: vec![0.0; self.dim()],
            buf: ObjectiveBuffers::new(self.shape()),
            metrics_buf: CollapseBuffers::new(k, m),
        }
    }

    /// Draws `W` (entries `N(0, 1/m)`) then `U` (entries `N(0, 1)`), normalises the
    /// features, `uᵢ ← Puᵢ/‖Puᵢ‖` (`F` unchanged), minimises `F` from there and measures
    /// the collapse.
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut NeuralCollapseWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        let (k, m, pc) = (self.p.classes, self.p.width, self.p.per_class);
        let (lambda, loss, shape) = (self.p.lambda, self.p.loss, self.shape());
        let sw = 1.0 / (m as f64).sqrt();
        for (i, xv) in ws.x.iter_mut().enumerate() {
            let g: f64 = StandardNormal.sample(rng);
            *xv = if i < k * m { g * sw } else { g };
        }
        for (ui, hi) in ws.x[k * m..]
            .chunks_exact_mut(m)
            .zip(ws.buf.h.chunks_exact_mut(m))
        {
            if centre_normalise(ui, hi).is_none() {
                return Err("a drawn feature has zero centred norm".into());
            }
            ui.copy_from_slice(hi);
        }
        let NeuralCollapseWorkspace {
            opt,
            x,
            buf,
            metrics_buf,
        } = ws;
        let mut used = 0usize;
        // F at the normalised point: the value of the round that stopped at once.
        let mut converged_at = None;
        for _ in 0..MAX_ROUNDS {
            opt.settings_mut().max_iter = self.p.max_iter - used;
            let report = opt.minimize(x, |xv, g| objective(xv, g, buf, shape, lambda, loss));
            used += report.iterations;
            if !report.value.is_finite() {
                return Err(format!("the objective is not finite: {}", report.value));
            }
            // Retraction: uᵢ ← Puᵢ/‖Puᵢ‖ (the features are unchanged).
            x[k * m..].copy_from_slice(&buf.h);
            if report.converged && report.iterations == 0 {
                converged_at = Some(report.value);
                break;
            }
            if !report.converged && used >= self.p.max_iter {
                break;
            }
        }
        let Some(f) = converged_at else {
            return Err(format!(
                "L-BFGS did not reach ‖∇F‖ ≤ {} in {} iterations",
                self.p.tol, used
            ));
        };
        let (w, h) = (&x[..k * m], &buf.h);
        let wn2: f64 = w.iter().map(|v| v * v).sum();
        let scale = (wn2 / k as f64).sqrt();
        let c = collapse(h, w, k, m, pc, metrics_buf);
        let nc2_w = match loss {
            Loss::Ce => c.nc2_w_etf,
            Loss::Mse => c.nc2_w_identity,
        };
        let (nc1, nc2_w_etf, nc2_means, nc3) = (c.nc1, c.nc2_w_etf, c.nc2_means, c.nc3);
        let values = [f, scale, nc1, nc2_w, nc2_w_etf, nc2_means, nc3];
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "{} is not finite: {}",
                self.metrics[bad].name, values[bad]
            ));
        }
        out[..7].copy_from_slice(&values);
        Ok(())
    }

    /// Exact where the width admits the theory's shape: `F⋆`, `s⋆` and the collapse
    /// metrics (0, or the MSE values of NC2 against the ETF and NC3). The means are not
    /// decisive (the trials are deterministic minimisations, not noisy estimates); the
    /// model's criteria judge them with tolerances.
    fn predict(&self) -> Result<Prediction> {
        let (k, m, lambda) = (self.p.classes, self.p.width, self.p.lambda);
        let kf = k as f64;
        let mut pred = Prediction {
            model: "neural-collapse".into(),
            ..Default::default()
        };
        match &self.optimum {
            Some(o) => {
                pred.quantities = vec![
                    Quantity::exact("objective_star", o.objective),
                    Quantity::exact("scale_star", o.scale),
                ];
                pred.means = self
                    .metrics
                    .iter()
                    .zip(self.predicted(o))
                    .map(|(spec, value)| MeanPrediction {
                        metric: spec.name.clone(),
                        value,
                        se: 0.0,
                        decisive: false,
                    })
                    .collect();
            }
            None => {
                let need = match self.p.loss {
                    Loss::Ce => "m − 1 ≥ K − 1 (a simplex ETF in the centred hyperplane)",
                    Loss::Mse => "m − 1 ≥ K (K orthonormal centred means)",
                };
                pred.warnings.push(format!(
                    "width m = {m} is too small for K = {k}: the theory needs {need}; the optimum is computed numerically only, and nothing exact is predicted"
                ));
                if self.p.loss == Loss::Mse {
                    let r = (m - 1) as f64;
                    let value =
                        r * r * lambda / (2.0 * kf * (1.0 + r * lambda)) + (kf - r) / (2.0 * kf);
                    pred.references.push(Reference {
                        key: "objective_tight_frame".into(),
                        label: "F of collapsed means forming a tight frame of rank m − 1 (the best rank-limited spectrum; derived here, not checked)".into(),
                        value,
                        of: Some("objective".into()),
                    });
                }
            }
        }
        Ok(pred)
    }

    /// Every trial within the tolerances of the optimum: `objective` within
    /// [`OBJECTIVE_TOL`] relative, `scale` within [`SCALE_TOL`] relative, each collapse
    /// metric within [`COLLAPSE_TOL`] of its prediction. The measured value is the
    /// worst trial's deviation.
    fn criteria(&self, _prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        let Some(o) = &self.optimum else {
            return Vec::new();
        };
        let predicted = self.predicted(o);
        let mut out = Vec::new();
        for (i, spec) in self.metrics.iter().enumerate() {
            let Some(col) = trials.column(&spec.name) else {
                continue;
            };
            let (relative, tol) = match i {
                0 => (true, OBJECTIVE_TOL),
                1 => (true, SCALE_TOL),
                _ => (false, COLLAPSE_TOL),
            };
            let p = predicted[i];
            let denom = if relative { p.abs() } else { 1.0 };
            let worst = col
                .iter()
                .map(|v| (v - p).abs() / denom)
                .fold(0.0, f64::max);
            let pass = !col.is_empty() && worst <= tol;
            out.push(Criterion {
                name: format!("{}_at_optimum", spec.name),
                statement: format!(
                    "every trial's {} is within {tol:e} {} of the global optimum's {p:.6e}",
                    spec.name,
                    if relative { "relative" } else { "absolute" }
                ),
                predicted: Some(p),
                measured: worst,
                se: None,
                pass,
            });
        }
        out
    }

    fn default_trials(&self) -> u64 {
        20
    }

    /// Each L-BFGS iteration evaluates `F` a few times (`≈ 6NKm` flops each) and updates
    /// `MEMORY` pairs of `(N + K)m`-vectors; a few hundred iterations are typical.
    fn cost(&self) -> Cost {
        let (k, m, n) = (
            self.p.classes as f64,
            self.p.width as f64,
            (self.p.classes * self.p.per_class) as f64,
        );
        let dim = (n + k) * m;
        let iters = (self.p.max_iter as f64).min(1e4);
        Cost {
            trial: Need::new(
                super::doubles((2.0 * MEMORY as f64 + 6.0) * dim + n * m + 4.0 * k * k),
                iters * (20.0 * n * k * m + 8.0 * MEMORY as f64 * dim),
                "per_class",
            ),
            predict: Need::new(1e4, 1e4, "classes"),
        }
    }

    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("classes", serde_json::json!(self.p.classes)),
            ("width", serde_json::json!(self.p.width)),
            ("per_class", serde_json::json!(self.p.per_class)),
            ("lambda", serde_json::json!(self.p.lambda)),
            ("loss", serde_json::json!(self.p.loss)),
        ]
    }
}

/// The paper's statement that `pretrainlab audit` tests, at the default instance.
pub const CLAIMS: &[Claim] = &[Claim {
    id: "neural-collapse-ufm-optimum",
    paper: "Súkeník, Lampert, Mondelli, Neural Collapse is Globally Optimal in Deep Regularized ResNets and Transformers, arXiv 2505.15239",
    location: "global optimality of neural collapse in the LayerNorm unconstrained-features model",
    statement: "neural collapse is the global optimum of the LayerNorm unconstrained-features model",
    params: "",
    trials: 40,
    quick_trials: 10,
    test: crate::audit::ClaimTest::Generic,
}];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn model(k: usize, m: usize, pc: usize, lambda: f64, loss: Loss) -> NeuralCollapse {
        NeuralCollapse::new(NeuralCollapseParams {
            classes: k,
            width: m,
            per_class: pc,
            lambda,
            loss,
            ..Default::default()
        })
        .unwrap()
    }

    /// The gradient (Riemannian in U, divided by ‖Puᵢ‖) against central differences of F
    /// through the parametrisation hᵢ = Puᵢ/‖Puᵢ‖, both losses, at a random point.
    #[test]
    fn gradient_matches_finite_differences() {
        for loss in [Loss::Ce, Loss::Mse] {
            let nc = model(3, 5, 2, 0.3, loss);
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let x: Vec<f64> = (0..nc.dim())
                .map(|_| StandardNormal.sample(&mut rng))
                .collect();
            let mut g = vec![0.0; x.len()];
            nc.objective_at(&x, &mut g);
            let mut scratch = vec![0.0; x.len()];
            let eps = 1e-6;
            for i in 0..x.len() {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[i] += eps;
                xm[i] -= eps;
                let fd = (nc.objective_at(&xp, &mut scratch) - nc.objective_at(&xm, &mut scratch))
                    / (2.0 * eps);
                assert!(
                    (fd - g[i]).abs() <= 1e-7 * (1.0 + fd.abs()),
                    "{loss:?} coordinate {i}: {fd} vs {}",
                    g[i]
                );
            }
        }
    }

    /// The matrix-product form of F and ∇F against a per-sample transcription of the
    /// definitions (logits `wᵢᵀhⱼ` one at a time, the loss and its derivative written out),
    /// to 10⁻¹² relative, at a random point, both losses.
    #[test]
    fn objective_matches_the_per_sample_definition() {
        let (k, m, pc, lambda) = (4, 7, 3, 0.2);
        for loss in [Loss::Ce, Loss::Mse] {
            let nc = model(k, m, pc, lambda, loss);
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let x: Vec<f64> = (0..nc.dim())
                .map(|_| StandardNormal.sample(&mut rng))
                .collect();
            let mut g = vec![0.0; x.len()];
            let f = nc.objective_at(&x, &mut g);
            let n = k * pc;
            let (w, u) = x.split_at(k * m);
            let mut f_ref = 0.5 * lambda * w.iter().map(|v| v * v).sum::<f64>();
            let mut g_ref: Vec<f64> = w
                .iter()
                .map(|v| lambda * v)
                .chain(vec![0.0; n * m])
                .collect();
            for i in 0..n {
                let ui = &u[i * m..(i + 1) * m];
                let mean = ui.iter().sum::<f64>() / m as f64;
                let r = ui.iter().map(|v| (v - mean).powi(2)).sum::<f64>().sqrt();
                let h: Vec<f64> = ui.iter().map(|v| (v - mean) / r).collect();
                let z: Vec<f64> = (0..k)
                    .map(|c| (0..m).map(|j| w[c * m + j] * h[j]).sum())
                    .collect();
                let y = i / pc;
                let dz: Vec<f64> = match loss {
                    Loss::Ce => {
                        let total: f64 = z.iter().map(|v| v.exp()).sum();
                        f_ref += (total.ln() - z[y]) / n as f64;
                        (0..k)
                            .map(|c| z[c].exp() / total - f64::from(c == y))
                            .collect()
                    }
                    Loss::Mse => {
                        let d: Vec<f64> = (0..k).map(|c| z[c] - f64::from(c == y)).collect();
                        f_ref += 0.5 * d.iter().map(|v| v * v).sum::<f64>() / n as f64;
                        d
                    }
                };
                let mut gh = vec![0.0; m];
                for c in 0..k {
                    for j in 0..m {
                        g_ref[c * m + j] += dz[c] * h[j] / n as f64;
                        gh[j] += dz[c] * w[c * m + j] / n as f64;
                    }
                }
                let gmean = gh.iter().sum::<f64>() / m as f64;
                let hg: f64 = gh.iter().zip(&h).map(|(a, b)| a * b).sum();
                for j in 0..m {
                    g_ref[k * m + i * m + j] = (gh[j] - gmean - hg * h[j]) / r;
                }
            }
            assert!(
                (f - f_ref).abs() <= 1e-12 * f_ref.abs(),
                "{loss:?}: {f} vs {f_ref}"
            );
            let scale = g_ref.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            for (i, (a, b)) in g.iter().zip(&g_ref).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12 * scale,
                    "{loss:?} coordinate {i}: {a} vs {b}"
                );
            }
        }
    }

    /// The simplex ETF μ_k = √(K/(K−1))(e_k − 1/K) in the first K coordinates, with
    /// W = s⋆M, has F = φ(s⋆); and the gradient vanishes there.
    #[test]
    fn the_etf_point_has_objective_phi_of_s_star() {
        for (k, m, lambda) in [(4, 8, 0.01), (3, 3, 0.5), (10, 12, 0.002)] {
            let nc = model(k, m, 3, lambda, Loss::Ce);
            let s = s_star(k, lambda);
            let kf = k as f64;
            let mu = |c: usize, j: usize| {
                if j >= k {
                    0.0
                } else {
                    (kf / (kf - 1.0)).sqrt() * (if j == c { 1.0 } else { 0.0 } - 1.0 / kf)
                }
            };
            let mut x = vec![0.0; nc.dim()];
            for c in 0..k {
                for j in 0..m {
                    x[c * m + j] = s * mu(c, j);
                }
            }
            for i in 0..k * 3 {
                for j in 0..m {
                    x[k * m + i * m + j] = mu(i / 3, j);
                }
            }
            let mut g = vec![0.0; x.len()];
            let f = nc.objective_at(&x, &mut g);
            let phi_star = phi(s, k, lambda);
            assert!(
                (f - phi_star).abs() <= 1e-13 * phi_star,
                "{f} vs {phi_star}"
            );
            assert_eq!(nc.optimum().unwrap().objective, phi_star);
            let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(gn < 1e-10, "K = {k}: ‖∇F‖ = {gn}");
        }
    }

    /// Orthonormal centred means (Helmert basis), W = Mᵀ/(1 + Kλ): F = λK/(2(1 + Kλ)),
    /// a stationary point.
    #[test]
    fn the_orthonormal_point_has_the_mse_objective() {
        let (k, m, lambda) = (4, 6, 0.05);
        let nc = model(k, m, 2, lambda, Loss::Mse);
        let kf = k as f64;
        let mu = |c: usize, j: usize| {
            let q = (c + 1) as f64;
            let norm = (q * (q + 1.0)).sqrt();
            if j <= c {
                1.0 / norm
            } else if j == c + 1 {
                -q / norm
            } else {
                0.0
            }
        };
        let mut x = vec![0.0; nc.dim()];
        for c in 0..k {
            for j in 0..m {
                x[c * m + j] = mu(c, j) / (1.0 + kf * lambda);
            }
        }
        for i in 0..k * 2 {
            for j in 0..m {
                x[k * m + i * m + j] = mu(i / 2, j);
            }
        }
        let mut g = vec![0.0; x.len()];
        let f = nc.objective_at(&x, &mut g);
        let star = lambda * kf / (2.0 * (1.0 + kf * lambda));
        assert!((f - star).abs() <= 1e-14, "{f} vs {star}");
        assert_eq!(nc.optimum().unwrap().objective, star);
        let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(gn < 1e-12, "‖∇F‖ = {gn}");
    }

    /// s⋆ is a minimiser of φ: φ' vanishes there and neighbours are higher.
    #[test]
    fn s_star_minimises_phi() {
        for (k, lambda) in [(2, 0.1), (4, 0.01), (10, 1e-4), (50, 3.0)] {
            let s = s_star(k, lambda);
            let f = phi(s, k, lambda);
            assert!(phi_prime(s, k, lambda).abs() < 1e-10, "K = {k}");
            for d in [1e-3, 1e-2, 0.1] {
                let step = d * s;
                assert!(phi(s + step, k, lambda) > f && phi(s - step, k, lambda) > f);
            }
        }
    }

    /// The check passes at small instances of both losses.
    #[test]
    fn the_check_passes_for_ce_and_mse() {
        for (loss, m) in [(Loss::Ce, 8), (Loss::Mse, 8), (Loss::Ce, 4)] {
            let nc = model(4, m, 5, 0.01, loss);
            let check = crate::criteria::check(&nc, 11, 10, &|_| {}).unwrap();
            assert_eq!(
                check.verdict(),
                "pass",
                "{loss:?}, m = {m}: {:?}",
                check.reasons()
            );
            assert!(!check.criteria.is_empty());
        }
    }

    /// Too narrow a width gives a warning and no exact prediction.
    #[test]
    fn narrow_width_warns() {
        for (loss, m) in [(Loss::Ce, 3), (Loss::Mse, 4)] {
            let nc = model(4, m, 2, 0.01, loss);
            assert!(nc.optimum().is_none());
            let p = Model::predict(&nc).unwrap();
            assert!(p.means.is_empty() && !p.warnings.is_empty());
        }
    }

    /// MSE with m − 1 < K: the simulated optimum reaches the tight-frame value of the
    /// reference (derived in the module docs), though it is not checked by `check`.
    #[test]
    fn narrow_mse_reaches_the_tight_frame_value() {
        let nc = model(4, 4, 5, 0.01, Loss::Mse);
        let p = Model::predict(&nc).unwrap();
        let reference = p.references[0].value;
        let trials = crate::runner::run(&nc, 3, 0..5, &|_| {});
        assert_eq!(trials.completed(), 5);
        for f in trials.column("objective").unwrap() {
            assert!(
                (f - reference).abs() <= 1e-9 * reference,
                "{f} vs {reference}"
            );
        }
    }

    /// Bad parameters name their field.
    #[test]
    fn bad_parameters_name_the_field() {
        for (text, field) in [
            ("classes = 1", "classes"),
            ("classes = 1000", "classes"),
            ("width = 1", "width"),
            ("per_class = 0", "per_class"),
            ("lambda = 0.0", "lambda"),
            ("lambda = 1e9", "lambda"),
            ("lambda = nan", "lambda"),
            ("max_iter = 0", "max_iter"),
            ("tol = 0.5", "tol"),
            ("tol = 0.0", "tol"),
            ("loss = \"hinge\"", "loss"),
            ("loss = 3", "loss"),
            ("colour = 1", "colour"),
        ] {
            match NeuralCollapse::build(text.parse().unwrap()) {
                Err(Error::InvalidParameter { field: f, .. }) => assert_eq!(f, field, "{text}"),
                Err(other) => panic!("{text}: {other}"),
                Ok(_) => panic!("{text} was accepted"),
            }
        }
    }
}
