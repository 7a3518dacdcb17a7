//! Neural collapse with depth: a deep regularized ResNet with LayerNorm, trained by full
//! gradient descent (Súkeník, Lampert, Mondelli, "Neural Collapse is Globally Optimal in
//! Deep Regularized ResNets and Transformers", arXiv 2505.15239). The paper's claim is
//! that the global optima of such networks are approximately collapsed (NC1–NC3), ever
//! more tightly as the depth `L` grows; one instance is one depth, and the trend over
//! depths is the `neural-collapse-depth` preset's.
//!
//! **Data.** `K` classes of `n` samples each (`N = Kn`), inputs in `ℝᵈ`: class centres
//! `μ_k ~ N(0, I_d)` and `xᵢ = μ_{yᵢ} + σ ξᵢ`, `ξᵢ ~ N(0, I_d)` (`σ = noise`), drawn
//! afresh in every trial; the samples are distinct with probability 1 (the paper's
//! Assumption 4.4).
//!
//! **Network** (one linear layer per residual block, post-LayerNorm; the paper's L-RN1
//! family, whose exact block is not given in the material this was built from):
//!
//! ```text
//! LN(v)  = c/‖c‖,  c = v − (1ᵀv/m)1          (unit-norm LayerNorm, no affine part)
//! h₀     = LN(W_in x),                        W_in ∈ ℝ^{m×d}
//! h_l    = LN(h_{l−1} + relu(W_l h_{l−1})),   W_l ∈ ℝ^{m×m}, l = 1..L
//! z      = W h_L,                             W ∈ ℝ^{K×m} (no bias)
//! F      = (1/N) Σᵢ ℓ(zᵢ, yᵢ) + (λ/2)(‖W_in‖² + Σ_l ‖W_l‖² + ‖W‖²),
//! ```
//!
//! with `ℓ` the cross-entropy or `½‖z − e_y‖²`. Unit-norm LayerNorm is the convention of
//! the unconstrained-features model ([`super::neural_collapse`]); a raw LayerNorm of norm
//! `√m` is the same network with `W` rescaled.
//!
//! **Lower bound.** The last features `h_L` are LayerNorm outputs, so they are feasible
//! for the LayerNorm unconstrained-features model (GUFM), whose objective omits the
//! non-negative body penalty: `F ≥ F⋆` at every weight setting, `F⋆` the GUFM optimum
//! (`φ(s⋆)` under CE, `λK/(2(1 + Kλ))` under MSE, derived in [`super::neural_collapse`]).
//! The paper's argument is that the body's penalty at the optimum is `O(1/L)` (a feature
//! move split over `L` residual steps), so `F − F⋆` and the distance to collapse shrink
//! with depth.
//!
//! **Training.** Full-batch gradient descent `θ ← θ − η∇F` for `steps` steps from
//! `W_in ~ N(0, 1/d)`, `W_l ~ N(0, c²/m)` (`c = init_scale`), `W ~ N(0, 1/m)`, with the
//! gradient by hand-written backpropagation: with `g = ∂F/∂h` at `h = LN(v)`,
//! `∂F/∂v = (g − (1ᵀg/m)1 − (gᵀh)h)/‖c‖`; through a block, `∂F/∂s = LN'(g)`,
//! `∂F/∂p = ∂F/∂s ⊙ 1[p > 0]` (`p = W_l h_{l−1}`), `∂F/∂W_l = (∂F/∂p) h_{l−1}ᵀ + λW_l`
//! and `∂F/∂h_{l−1} = ∂F/∂s + W_lᵀ ∂F/∂p`. The products are batched over the samples.
//!
//! **Metrics** of the last-layer features `h_L` and `W` after training: the collapse
//! metrics NC1–NC3 of [`super::neural_collapse`] (Papyan, Han & Donoho, 2020), NC2 of `W`
//! against the GUFM's shape (the simplex ETF under CE, the identity under MSE) and of the
//! centred class means against the ETF, NC3 and its distance from the GUFM's value (0
//! under CE, `2 − 2√(1 − 1/K)` under MSE), the gap `F − F⋆`, the body penalty, the train
//! accuracy and, for reference, NC1 of the inputs.

use faer::{Accum, MatMut, MatRef};
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::neural_collapse::{
    Collapse, CollapseBuffers, Loss, NeuralCollapse, NeuralCollapseParams, collapse,
};
use crate::audit::Claim;
use crate::budget::{Cost, Need};
use crate::linalg::mul_into;
use crate::model::{Criterion, MetricSpec, Model, Prediction, Quantity, Reference, TraceSpec};
use crate::params::{ModelInfo, describe};
use crate::runner::Trials;
use crate::{Error, Result};

const MAX_CLASSES: usize = 64;
const MAX_PER_CLASS: usize = 1000;
const MAX_SAMPLES: usize = 4096;
const MAX_INPUT_DIM: usize = 1024;
const MAX_WIDTH: usize = 512;
const MAX_DEPTH: usize = 64;
const MAX_STEPS: usize = 1_000_000;
const MAX_RECORD: usize = 1000;
/// Most floating-point work of one trial, `steps · 6N(Lm² + md + Km)`.
const MAX_WORK: f64 = 1e13;
const MIN_LAMBDA: f64 = 1e-6;
const MAX_LAMBDA: f64 = 10.0;
const MAX_LR: f64 = 10.0;
const MAX_NOISE: f64 = 100.0;
const MAX_INIT_SCALE: f64 = 10.0;
/// Slack of the lower bound `F ≥ F⋆`, relative (rounding of the objective's sums).
const BOUND_TOL: f64 = 1e-9;

/// Parameters of the deep LayerNorm ResNet.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NcResnetParams {
    /// Number of classes `K`.
    pub classes: usize,
    /// Samples per class `n`.
    pub per_class: usize,
    /// Input dimension `d`.
    pub input_dim: usize,
    /// Width `m`.
    pub width: usize,
    /// Residual blocks `L`.
    pub depth: usize,
    pub loss: Loss,
    /// Weight decay `λ` on every weight.
    pub lambda: f64,
    /// Step size `η`.
    pub lr: f64,
    /// Gradient steps.
    pub steps: usize,
    /// Within-class noise `σ` of the inputs.
    pub noise: f64,
    /// Scale `c` of the blocks' initial weights, `W_l ~ N(0, c²/m)`.
    pub init_scale: f64,
    /// Points of the NC1 trace along training (0: none).
    pub record: usize,
}

impl Default for NcResnetParams {
    fn default() -> Self {
        NcResnetParams {
            classes: 4,
            per_class: 8,
            input_dim: 8,
            width: 16,
            depth: 4,
            loss: Loss::Ce,
            lambda: 0.005,
            lr: 0.25,
            steps: 8000,
            noise: 0.3,
            init_scale: 1.0,
            record: 11,
        }
    }
}

/// The sizes of one network.
#[derive(Clone, Copy, Debug)]
struct Shape {
    k: usize,
    pc: usize,
    d: usize,
    m: usize,
    depth: usize,
    loss: Loss,
    lambda: f64,
}

impl Shape {
    fn n(&self) -> usize {
        self.k * self.pc
    }

    /// Number of weights: `θ = (W_in, W_1, …, W_L, W)`, each row-major.
    fn dim(&self) -> usize {
        self.m * self.d + self.depth * self.m * self.m + self.k * self.m
    }

    /// Floating-point work of one gradient evaluation.
    fn step_flops(&self) -> f64 {
        let (n, m, d, k, l) = (
            self.n() as f64,
            self.m as f64,
            self.d as f64,
            self.k as f64,
            self.depth as f64,
        );
        6.0 * n * (l * m * m + m * d + k * m) + 20.0 * n * m * (l + 1.0)
    }
}

/// Activations and gradients of one forward–backward pass.
struct Buffers {
    /// `h_0, …, h_L` (each `N×m`) and their LayerNorm radii `‖c‖` (each `N`).
    hs: Vec<f64>,
    rs: Vec<f64>,
    /// Pre-activations `p_l = W_l h_{l−1}` (each `N×m`).
    pre: Vec<f64>,
    /// Logits, then `(1/N)∂ℓ/∂z` (`N×K`).
    z: Vec<f64>,
    /// `∂F/∂h`, `∂F/∂s`, `∂F/∂p` of the current block (each `N×m`).
    gh: Vec<f64>,
    gs: Vec<f64>,
    gr: Vec<f64>,
}

impl Buffers {
    fn new(s: &Shape) -> Self {
        let (n, m, l) = (s.n(), s.m, s.depth);
        Buffers {
            hs: vec![0.0; (l + 1) * n * m],
            rs: vec![0.0; (l + 1) * n],
            pre: vec![0.0; l * n * m],
            z: vec![0.0; n * s.k],
            gh: vec![0.0; n * m],
            gs: vec![0.0; n * m],
            gr: vec![0.0; n * m],
        }
    }
}

/// The model, ready to run.
pub struct NcResnet {
    p: NcResnetParams,
    shape: Shape,
    /// The GUFM optimum `F⋆` and the GUFM's NC3.
    objective_star: f64,
    scale_star: f64,
    nc3_star: f64,
    metrics: Vec<MetricSpec>,
    traces: Vec<TraceSpec>,
}

/// Per-worker buffers of a trial.
pub struct NcResnetWorkspace {
    /// Inputs `X` (`N×d`), class centres (`K×d`), weights and gradient (`dim`).
    x: Vec<f64>,
    centres: Vec<f64>,
    theta: Vec<f64>,
    grad: Vec<f64>,
    buf: Buffers,
    features: CollapseBuffers,
    inputs: CollapseBuffers,
}

fn row_major(a: &[f64], rows: usize, cols: usize) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(a, rows, cols)
}

fn row_major_mut(a: &mut [f64], rows: usize, cols: usize) -> MatMut<'_, f64> {
    MatMut::from_row_major_slice_mut(a, rows, cols)
}

/// Each row `v` of `a` (`m` wide) becomes `LN(v) = c/‖c‖`; the radii `‖c‖` go to `r`.
fn layer_norm(a: &mut [f64], r: &mut [f64], m: usize) {
    for (row, ri) in a.chunks_exact_mut(m).zip(r.iter_mut()) {
        let mean = row.iter().sum::<f64>() / m as f64;
        let mut r2 = 0.0;
        for v in row.iter_mut() {
            *v -= mean;
            r2 += *v * *v;
        }
        let norm = r2.sqrt();
        for v in row.iter_mut() {
            *v /= norm;
        }
        *ri = norm;
    }
}

/// `out = (g − (1ᵀg/m)1 − (gᵀh)h)/r` row by row: the gradient through `h = LN(v)`.
fn layer_norm_back(g: &[f64], h: &[f64], r: &[f64], out: &mut [f64], m: usize) {
    for (((gi, hi), &ri), oi) in g
        .chunks_exact(m)
        .zip(h.chunks_exact(m))
        .zip(r)
        .zip(out.chunks_exact_mut(m))
    {
        let mean = gi.iter().sum::<f64>() / m as f64;
        let gh: f64 = gi.iter().zip(hi).map(|(a, b)| a * b).sum();
        for ((o, &gv), &hv) in oi.iter_mut().zip(gi).zip(hi) {
            *o = (gv - mean - gh * hv) / ri;
        }
    }
}

/// The offsets in `θ` of `W_1` and of `W`.
fn split(s: &Shape) -> (usize, usize) {
    let a = s.m * s.d;
    (a, a + s.depth * s.m * s.m)
}

/// The forward pass: `h_0 … h_L`, radii, pre-activations and logits into `b`.
fn forward(s: &Shape, theta: &[f64], x: &[f64], b: &mut Buffers) {
    let (n, m, d, k) = (s.n(), s.m, s.d, s.k);
    let (i1, i2) = split(s);
    let nm = n * m;
    mul_into(
        row_major_mut(&mut b.hs[..nm], n, m),
        Accum::Replace,
        row_major(x, n, d),
        row_major(&theta[..i1], m, d).transpose(),
        1.0,
    );
    layer_norm(&mut b.hs[..nm], &mut b.rs[..n], m);
    for l in 0..s.depth {
        let wl = &theta[i1 + l * m * m..i1 + (l + 1) * m * m];
        let (done, rest) = b.hs.split_at_mut((l + 1) * nm);
        let (prev, next) = (&done[l * nm..], &mut rest[..nm]);
        let pre = &mut b.pre[l * nm..(l + 1) * nm];
        mul_into(
            row_major_mut(pre, n, m),
            Accum::Replace,
            row_major(prev, n, m),
            row_major(wl, m, m).transpose(),
            1.0,
        );
        for ((o, &hv), &pv) in next.iter_mut().zip(prev).zip(pre.iter()) {
            *o = hv + pv.max(0.0);
        }
        layer_norm(next, &mut b.rs[(l + 1) * n..(l + 2) * n], m);
    }
    mul_into(
        row_major_mut(&mut b.z, n, k),
        Accum::Replace,
        row_major(&b.hs[s.depth * nm..], n, m),
        row_major(&theta[i2..], k, m).transpose(),
        1.0,
    );
}

/// The mean loss and the number of correctly classified samples at the logits in
/// `z`, which become `(1/N)∂ℓ/∂z`.
fn loss_and_dz(s: &Shape, z: &mut [f64]) -> (f64, usize) {
    let (n, k) = (s.n(), s.k);
    let inv_n = 1.0 / n as f64;
    let mut f = 0.0;
    let mut correct = 0;
    for (i, zi) in z.chunks_exact_mut(k).enumerate() {
        let y = i / s.pc;
        let (arg, zmax) = zi
            .iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |(a, v), (j, &zj)| {
                if zj > v { (j, zj) } else { (a, v) }
            });
        correct += usize::from(arg == y);
        match s.loss {
            Loss::Ce => {
                let sum: f64 = zi.iter().map(|v| (v - zmax).exp()).sum();
                f += zmax + sum.ln() - zi[y];
                for v in zi.iter_mut() {
                    *v = (*v - zmax).exp() / sum * inv_n;
                }
                zi[y] -= inv_n;
            }
            Loss::Mse => {
                zi[y] -= 1.0;
                f += 0.5 * zi.iter().map(|v| v * v).sum::<f64>();
                for v in zi.iter_mut() {
                    *v *= inv_n;
                }
            }
        }
    }
    (f * inv_n, correct)
}

/// The backward pass from `(1/N)∂ℓ/∂z` in `b.z`: `∇F` (penalty included) into `grad`.
fn backward(s: &Shape, theta: &[f64], x: &[f64], b: &mut Buffers, grad: &mut [f64]) {
    let (n, m, d, k) = (s.n(), s.m, s.d, s.k);
    let (i1, i2) = split(s);
    let nm = n * m;
    for (g, w) in grad.iter_mut().zip(theta) {
        *g = s.lambda * w;
    }
    let h_last = &b.hs[s.depth * nm..];
    mul_into(
        row_major_mut(&mut grad[i2..], k, m),
        Accum::Add,
        row_major(&b.z, n, k).transpose(),
        row_major(h_last, n, m),
        1.0,
    );
    mul_into(
        row_major_mut(&mut b.gh, n, m),
        Accum::Replace,
        row_major(&b.z, n, k),
        row_major(&theta[i2..], k, m),
        1.0,
    );
    for l in (0..s.depth).rev() {
        let h_out = &b.hs[(l + 1) * nm..(l + 2) * nm];
        let h_in = &b.hs[l * nm..(l + 1) * nm];
        layer_norm_back(&b.gh, h_out, &b.rs[(l + 1) * n..(l + 2) * n], &mut b.gs, m);
        for ((gr, &gs), &p) in b.gr.iter_mut().zip(&b.gs).zip(&b.pre[l * nm..]) {
            *gr = if p > 0.0 { gs } else { 0.0 };
        }
        let range = i1 + l * m * m..i1 + (l + 1) * m * m;
        mul_into(
            row_major_mut(&mut grad[range.clone()], m, m),
            Accum::Add,
            row_major(&b.gr, n, m).transpose(),
            row_major(h_in, n, m),
            1.0,
        );
        b.gh.copy_from_slice(&b.gs);
        mul_into(
            row_major_mut(&mut b.gh, n, m),
            Accum::Add,
            row_major(&b.gr, n, m),
            row_major(&theta[range], m, m),
            1.0,
        );
    }
    layer_norm_back(&b.gh, &b.hs[..nm], &b.rs[..n], &mut b.gs, m);
    mul_into(
        row_major_mut(&mut grad[..i1], m, d),
        Accum::Add,
        row_major(&b.gs, n, m).transpose(),
        row_major(x, n, d),
        1.0,
    );
}

/// `(λ/2)‖·‖²` of the body `(W_in, W_1, …, W_L)` and of the classifier `W`.
fn penalties(s: &Shape, theta: &[f64]) -> (f64, f64) {
    let (_, i2) = split(s);
    let sq = |v: &[f64]| 0.5 * s.lambda * v.iter().map(|a| a * a).sum::<f64>();
    (sq(&theta[..i2]), sq(&theta[i2..]))
}

/// `F(θ)` and `∇F(θ)` into `grad`; returns `(F, correct count)`.
fn objective(
    s: &Shape,
    theta: &[f64],
    x: &[f64],
    b: &mut Buffers,
    grad: &mut [f64],
) -> (f64, usize) {
    forward(s, theta, x, b);
    let (data, correct) = loss_and_dz(s, &mut b.z);
    backward(s, theta, x, b, grad);
    let (body, head) = penalties(s, theta);
    (data + body + head, correct)
}

fn check_count(field: &str, v: usize, lo: usize, hi: usize) -> Result<()> {
    if v < lo || v > hi {
        return Err(Error::invalid(
            field,
            format!("must be in {lo}..={hi}, got {v}"),
        ));
    }
    Ok(())
}

fn check_real(field: &str, v: f64, lo: f64, hi: f64, open_low: bool) -> Result<()> {
    let low_ok = if open_low { v > lo } else { v >= lo };
    if !(low_ok && v <= hi) {
        let bracket = if open_low { "(" } else { "[" };
        return Err(Error::invalid(
            field,
            format!("must be a number in {bracket}{lo}, {hi}], got {v}"),
        ));
    }
    Ok(())
}

impl NcResnet {
    pub fn new(p: NcResnetParams) -> Result<Self> {
        check_count("classes", p.classes, 2, MAX_CLASSES)?;
        check_count("per_class", p.per_class, 2, MAX_PER_CLASS)?;
        if p.classes * p.per_class > MAX_SAMPLES {
            return Err(Error::invalid(
                "per_class",
                format!(
                    "classes·per_class must be at most {MAX_SAMPLES}, got {}",
                    p.classes * p.per_class
                ),
            ));
        }
        check_count("input_dim", p.input_dim, 1, MAX_INPUT_DIM)?;
        check_count("width", p.width, p.classes + 1, MAX_WIDTH)?;
        check_count("depth", p.depth, 1, MAX_DEPTH)?;
        check_real("lambda", p.lambda, MIN_LAMBDA, MAX_LAMBDA, false)?;
        check_real("lr", p.lr, 0.0, MAX_LR, true)?;
        check_real("noise", p.noise, 0.0, MAX_NOISE, false)?;
        check_real("init_scale", p.init_scale, 0.0, MAX_INIT_SCALE, false)?;
        check_count("steps", p.steps, 1, MAX_STEPS)?;
        if p.record != 0 {
            check_count("record", p.record, 2, MAX_RECORD.min(p.steps + 1))?;
        }
        let shape = Shape {
            k: p.classes,
            pc: p.per_class,
            d: p.input_dim,
            m: p.width,
            depth: p.depth,
            loss: p.loss,
            lambda: p.lambda,
        };
        let work = p.steps as f64 * shape.step_flops();
        if work > MAX_WORK {
            return Err(Error::invalid(
                "steps",
                format!(
                    "steps·6N(Lm² + md + Km) must be at most {MAX_WORK:e}, got {work:.3e}; use fewer steps or a smaller network"
                ),
            ));
        }
        let gufm = NeuralCollapse::new(NeuralCollapseParams {
            classes: p.classes,
            width: p.width,
            per_class: p.per_class,
            lambda: p.lambda,
            loss: p.loss,
            ..Default::default()
        })?
        .optimum()
        .ok_or_else(|| Error::invalid("width", "the GUFM optimum needs width ≥ classes + 1"))?;
        let traces = Self::trace_specs(&p);
        Ok(NcResnet {
            shape,
            objective_star: gufm.objective,
            scale_star: gufm.scale,
            nc3_star: gufm.nc3,
            metrics: Self::metric_specs(p.loss),
            traces,
            p,
        })
    }

    fn metric_specs(loss: Loss) -> Vec<MetricSpec> {
        let shape = match loss {
            Loss::Ce => "the simplex ETF Gram I − 11ᵀ/K",
            Loss::Mse => "the identity (orthonormal rows)",
        };
        vec![
            MetricSpec::new("objective", "1", "F(θ) after training"),
            MetricSpec::new(
                "objective_gap",
                "1",
                "F − F⋆, F⋆ the optimum of the LayerNorm unconstrained-features model (≥ 0 for every θ)",
            ),
            MetricSpec::new(
                "body_penalty",
                "1",
                "(λ/2)(‖W_in‖² + Σ_l ‖W_l‖²), the penalty of the layers below the classifier",
            ),
            MetricSpec::new(
                "train_accuracy",
                "1",
                "fraction of training samples classified correctly",
            ),
            MetricSpec::new(
                "nc1",
                "1",
                "NC1 = tr(Σ_W Σ_B⁺)/K of the last-layer features h_L",
            ),
            MetricSpec::new(
                "nc2_w",
                "1",
                format!("NC2 of W: distance of the normalised WWᵀ from {shape}, the GUFM's shape"),
            ),
            MetricSpec::new(
                "nc2_means",
                "1",
                "NC2 of the centred class means of h_L against the simplex ETF Gram",
            ),
            MetricSpec::new(
                "nc3",
                "1",
                "NC3 = ‖W/‖W‖_F − M̃/‖M̃‖_F‖²_F, M̃ the centred class means of h_L",
            ),
            MetricSpec::new(
                "nc3_gap",
                "1",
                "|NC3 − NC3⋆|, NC3⋆ the GUFM optimum's value (0 under CE)",
            ),
            MetricSpec::new("nc1_input", "1", "NC1 of the inputs x, for reference"),
        ]
    }

    /// The step of the `j`-th of `r` trace points: `⌊j·steps/(r − 1)⌋`.
    fn record_step(j: usize, r: usize, steps: usize) -> usize {
        j * steps / (r - 1)
    }

    fn trace_specs(p: &NcResnetParams) -> Vec<TraceSpec> {
        let mut out = Vec::new();
        if p.record > 0 {
            out.push(TraceSpec::new(
                "nc1",
                (0..p.record)
                    .map(|j| Self::record_step(j, p.record, p.steps) as f64)
                    .collect(),
                "NC1 of the last-layer features against the gradient step",
            ));
        }
        out.push(TraceSpec::new(
            "gram_means",
            (0..p.classes * p.classes).map(|i| i as f64).collect(),
            "Gram of the centred class means of h_L over its mean diagonal entry, row-major (entry a·K + b); the simplex ETF has 1 on the diagonal and −1/(K−1) off it",
        ));
        out
    }

    /// Builds the model from a parameter table.
    pub fn build(table: toml::Table) -> Result<Self> {
        let params: NcResnetParams = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| crate::models::parameter_error(&e.to_string()))?;
        Self::new(params)
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "neural-collapse-resnet",
            summary: "a deep post-LayerNorm ResNet (one linear layer and ReLU per block) trained by full gradient descent with weight decay on K Gaussian classes: objective against the unconstrained-features optimum, NC1–NC3 of the last-layer features at one depth",
            source: "Súkeník, Lampert, Mondelli, \"Neural Collapse is Globally Optimal in Deep Regularized ResNets and Transformers\", arXiv 2505.15239",
            params: describe::<NcResnetParams>(
                &[
                    ("classes", "number of classes K (2 to 64)"),
                    (
                        "per_class",
                        "training samples per class (2 to 1000, K·per_class ≤ 4096)",
                    ),
                    ("input_dim", "input dimension d (1 to 1024)"),
                    ("width", "width m (K + 1 to 512)"),
                    ("depth", "residual blocks L (1 to 64)"),
                    ("loss", "\"ce\" (cross-entropy) or \"mse\" (½‖z − e_y‖²)"),
                    (
                        "lambda",
                        "weight decay λ on every weight (10⁻⁶ to 10), for unit-norm LayerNorm",
                    ),
                    ("lr", "gradient-descent step size η (0 to 10]"),
                    (
                        "steps",
                        "full-batch gradient steps (1 to 10⁶, steps·6N(Lm² + md + Km) ≤ 10¹³)",
                    ),
                    (
                        "noise",
                        "within-class noise σ of the inputs around N(0, I_d) class centres (0 to 100)",
                    ),
                    (
                        "init_scale",
                        "scale c of the blocks' initial weights, W_l ~ N(0, c²/m) (0 to 10)",
                    ),
                    (
                        "record",
                        "points of the NC1 trace along training: 0 (none) or 2 to min(1000, steps + 1)",
                    ),
                ],
                &[],
            ),
        }
    }

    /// `F` and its gradient at weights `theta` (`dim()` long) on inputs `x` (`N×d`
    /// row-major, sample `i` of class `i / per_class`), for tests.
    pub fn objective_at(&self, theta: &[f64], x: &[f64], grad: &mut [f64]) -> f64 {
        let mut b = Buffers::new(&self.shape);
        objective(&self.shape, theta, x, &mut b, grad).0
    }

    /// Number of weights.
    pub fn dim(&self) -> usize {
        self.shape.dim()
    }

    /// The GUFM optimum `F⋆`, the lower bound of the objective.
    pub fn objective_star(&self) -> f64 {
        self.objective_star
    }

    /// Draws the class centres and inputs, then the initial weights.
    fn draw(&self, rng: &mut ChaCha8Rng, ws: &mut NcResnetWorkspace) {
        let s = &self.shape;
        let mut normal = || -> f64 { StandardNormal.sample(&mut *rng) };
        for c in ws.centres.iter_mut() {
            *c = normal();
        }
        for (i, xi) in ws.x.chunks_exact_mut(s.d).enumerate() {
            let mu = &ws.centres[(i / s.pc) * s.d..(i / s.pc + 1) * s.d];
            for (v, &c) in xi.iter_mut().zip(mu) {
                *v = c + self.p.noise * normal();
            }
        }
        let (i1, i2) = split(s);
        let scales = [
            1.0 / (s.d as f64).sqrt(),
            self.p.init_scale / (s.m as f64).sqrt(),
            1.0 / (s.m as f64).sqrt(),
        ];
        for (i, w) in ws.theta.iter_mut().enumerate() {
            let part = usize::from(i >= i1) + usize::from(i >= i2);
            *w = scales[part] * normal();
        }
    }

    /// The collapse metrics of the last features of the latest forward pass and `W`.
    fn collapse_now(&self, ws: &mut NcResnetWorkspace) -> Collapse {
        let s = &self.shape;
        let nm = s.n() * s.m;
        let (_, i2) = split(s);
        collapse(
            &ws.buf.hs[s.depth * nm..],
            &ws.theta[i2..],
            s.k,
            s.m,
            s.pc,
            &mut ws.features,
        )
    }
}

impl Model for NcResnet {
    type Workspace = NcResnetWorkspace;

    fn name(&self) -> &'static str {
        "neural-collapse-resnet"
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn traces(&self) -> &[TraceSpec] {
        &self.traces
    }

    fn workspace(&self) -> NcResnetWorkspace {
        let s = &self.shape;
        NcResnetWorkspace {
            x: vec![0.0; s.n() * s.d],
            centres: vec![0.0; s.k * s.d],
            theta: vec![0.0; s.dim()],
            grad: vec![0.0; s.dim()],
            buf: Buffers::new(s),
            features: CollapseBuffers::new(s.k, s.m),
            inputs: CollapseBuffers::new(s.k, s.d),
        }
    }

    /// Draws the data and the initial weights, runs `steps` gradient steps, recording
    /// NC1 at the trace's steps, and measures the trained network.
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut NcResnetWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        let s = self.shape;
        let (k, pc, d, m) = (s.k, s.pc, s.d, s.m);
        self.draw(rng, ws);
        let nc1_input = collapse(&ws.x, &ws.centres, k, d, pc, &mut ws.inputs).nc1;
        let nm_metrics = self.metrics.len();
        let record = self.p.record;
        let mut next = 0;
        let mut last = (0.0, 0);
        for step in 0..=self.p.steps {
            last = objective(&s, &ws.theta, &ws.x, &mut ws.buf, &mut ws.grad);
            if record > 0 && next < record && step == Self::record_step(next, record, self.p.steps)
            {
                out[nm_metrics + next] = self.collapse_now(ws).nc1;
                next += 1;
            }
            if step < self.p.steps {
                for (w, g) in ws.theta.iter_mut().zip(&ws.grad) {
                    *w -= self.p.lr * g;
                }
            }
        }
        let (f, correct) = last;
        if !f.is_finite() {
            return Err(format!("the objective is not finite after training: {f}"));
        }
        let c = self.collapse_now(ws);
        let (body, _) = penalties(&s, &ws.theta);
        let nc2_w = match s.loss {
            Loss::Ce => c.nc2_w_etf,
            Loss::Mse => c.nc2_w_identity,
        };
        let values = [
            f,
            f - self.objective_star,
            body,
            correct as f64 / s.n() as f64,
            c.nc1,
            nc2_w,
            c.nc2_means,
            c.nc3,
            (c.nc3 - self.nc3_star).abs(),
            nc1_input,
        ];
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "{} is not finite: {}",
                self.metrics[bad].name, values[bad]
            ));
        }
        out[..values.len()].copy_from_slice(&values);
        // The centred-means Gram over its mean diagonal entry.
        let means = &ws.features.means;
        let gram = &mut out[nm_metrics + if record > 0 { record } else { 0 }..];
        let mut trace = 0.0;
        for a in 0..k {
            for b in 0..k {
                let g: f64 = (0..m).map(|j| means[a * m + j] * means[b * m + j]).sum();
                gram[a * k + b] = g;
                if a == b {
                    trace += g;
                }
            }
        }
        let scale = k as f64 / trace;
        for g in gram[..k * k].iter_mut() {
            *g *= scale;
        }
        Ok(())
    }

    /// The GUFM optimum as a lower bound of the objective: `F⋆`, `s⋆` and, as
    /// references, `F⋆` (of `objective`) and the GUFM's NC3 (of `nc3`). Nothing is
    /// predicted at finite depth beyond the bound; the depth trend is the preset's.
    fn predict(&self) -> Result<Prediction> {
        Ok(Prediction {
            model: "neural-collapse-resnet".into(),
            quantities: vec![
                Quantity::exact("objective_star", self.objective_star),
                Quantity::exact("scale_star", self.scale_star),
            ],
            references: vec![
                Reference {
                    key: "gufm_objective".into(),
                    label: "optimum F⋆ of the LayerNorm unconstrained-features model, a lower bound of F".into(),
                    value: self.objective_star,
                    of: Some("objective".into()),
                },
                Reference {
                    key: "gufm_nc3".into(),
                    label: "NC3 at the unconstrained-features optimum".into(),
                    value: self.nc3_star,
                    of: Some("nc3".into()),
                },
            ],
            ..Default::default()
        })
    }

    /// Sound at one depth: (1) every trial's objective is at least `F⋆` (a bound that
    /// holds for every weight setting, so a violation is a bug); (2) every trial fits
    /// the training set; (3) training collapses the classes: in every trial NC1 of the
    /// last-layer features is below NC1 of the inputs. (2) and (3) need enough steps.
    fn criteria(&self, _prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        let col = |name: &str| trials.column(name).unwrap_or_default();
        let mut out = Vec::new();
        let gap = col("objective_gap");
        let worst_gap = gap.iter().cloned().fold(f64::INFINITY, f64::min);
        out.push(Criterion {
            name: "objective_above_gufm_optimum".into(),
            statement: format!(
                "every trial's objective is at least the unconstrained-features optimum F⋆ = {:.6e} (within {BOUND_TOL:e} relative); the measured value is the smallest F − F⋆",
                self.objective_star
            ),
            predicted: Some(0.0),
            measured: worst_gap,
            se: None,
            pass: !gap.is_empty() && worst_gap >= -BOUND_TOL * self.objective_star,
        });
        let acc = col("train_accuracy");
        let worst_acc = acc.iter().cloned().fold(f64::INFINITY, f64::min);
        out.push(Criterion {
            name: "fits_training_set".into(),
            statement: "every trial classifies all training samples correctly; the measured value is the lowest train accuracy".into(),
            predicted: Some(1.0),
            measured: worst_acc,
            se: None,
            pass: !acc.is_empty() && worst_acc == 1.0,
        });
        let ratio: Vec<f64> = col("nc1")
            .iter()
            .zip(col("nc1_input"))
            .map(|(a, b)| a / b)
            .collect();
        let worst_ratio = ratio.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        out.push(Criterion {
            name: "features_collapse".into(),
            statement: "in every trial NC1 of the last-layer features is below NC1 of the inputs; the measured value is the largest ratio of the two".into(),
            predicted: None,
            measured: worst_ratio,
            se: None,
            pass: !ratio.is_empty() && worst_ratio < 1.0,
        });
        out
    }

    fn default_trials(&self) -> u64 {
        5
    }

    /// `steps + 1` forward–backward passes of `≈ 6N(Lm² + md + Km)` flops; memory for
    /// the activations of every layer, the weights and their gradient.
    fn cost(&self) -> Cost {
        let s = &self.shape;
        let (n, m, l) = (s.n() as f64, s.m as f64, s.depth as f64);
        let bytes = super::doubles(
            (3.0 * l + 5.0) * n * m
                + (l + 1.0) * n
                + 2.0 * s.dim() as f64
                + (n + s.k as f64) * (s.d as f64 + s.k as f64)
                + 4.0 * (s.k * s.k) as f64
                + 2.0 * (m + s.d as f64) * s.k as f64,
        );
        Cost {
            trial: Need::new(bytes, (self.p.steps + 1) as f64 * s.step_flops(), "steps"),
            predict: Need::new(1e4, 1e4, "classes"),
        }
    }

    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("classes", serde_json::json!(self.p.classes)),
            ("per_class", serde_json::json!(self.p.per_class)),
            ("width", serde_json::json!(self.p.width)),
            ("depth", serde_json::json!(self.p.depth)),
            ("lambda", serde_json::json!(self.p.lambda)),
            ("loss", serde_json::json!(self.p.loss)),
            ("steps", serde_json::json!(self.p.steps)),
        ]
    }
}

/// The paper's statement that `pretrainlab audit` tests, at the default instance (one
/// depth: the bound, the fit and the collapse of the training classes).
pub const CLAIMS: &[Claim] = &[Claim {
    id: "neural-collapse-resnet-trained",
    paper: "Súkeník, Lampert, Mondelli, Neural Collapse is Globally Optimal in Deep Regularized ResNets and Transformers, arXiv 2505.15239",
    location: "deep regularized ResNets with LayerNorm trained with weight decay (Section 4, experiments)",
    statement: "a weight-decayed LayerNorm ResNet trained to fit the data collapses its last-layer features, with an objective above the unconstrained-features optimum",
    params: "",
    trials: 5,
    quick_trials: 2,
    test: crate::audit::ClaimTest::Generic,
}];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn model(depth: usize, loss: Loss) -> NcResnet {
        NcResnet::new(NcResnetParams {
            classes: 3,
            per_class: 3,
            input_dim: 4,
            width: 5,
            depth,
            loss,
            lambda: 0.03,
            ..Default::default()
        })
        .unwrap()
    }

    /// The analytic gradient against central differences of F, both losses, depths 1
    /// and 3, at random weights (block weights of scale 1, so ReLUs are on both sides).
    /// Rounding over ε = 1e-6 leaves errors near 1e-10; the tolerance is 1e-6 relative
    /// (to 1 + |fd|), far below the O(1) error of a wrong term.
    #[test]
    fn gradient_matches_finite_differences() {
        for loss in [Loss::Ce, Loss::Mse] {
            for depth in [1, 3] {
                let nc = model(depth, loss);
                let mut rng = ChaCha8Rng::seed_from_u64(5 + depth as u64);
                let theta: Vec<f64> = (0..nc.dim())
                    .map(|_| StandardNormal.sample(&mut rng))
                    .collect();
                let x: Vec<f64> = (0..9 * 4)
                    .map(|_| StandardNormal.sample(&mut rng))
                    .collect();
                let mut g = vec![0.0; theta.len()];
                nc.objective_at(&theta, &x, &mut g);
                let mut scratch = vec![0.0; theta.len()];
                let eps = 1e-6;
                let mut worst = 0.0f64;
                for i in 0..theta.len() {
                    let (mut tp, mut tm) = (theta.clone(), theta.clone());
                    tp[i] += eps;
                    tm[i] -= eps;
                    let fd = (nc.objective_at(&tp, &x, &mut scratch)
                        - nc.objective_at(&tm, &x, &mut scratch))
                        / (2.0 * eps);
                    worst = worst.max((fd - g[i]).abs() / (1.0 + fd.abs()));
                }
                assert!(worst <= 1e-6, "{loss:?}, L = {depth}: worst {worst}");
            }
        }
    }

    /// With every block weight zero the network is LN applied twice (idempotent), so F
    /// is the loss of LN(W_in x) plus the penalties, computed independently here.
    #[test]
    fn zero_blocks_reduce_to_one_layer_norm() {
        let nc = model(2, Loss::Ce);
        let s = nc.shape;
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut theta: Vec<f64> = (0..nc.dim())
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let (i1, i2) = split(&s);
        theta[i1..i2].fill(0.0);
        let x: Vec<f64> = (0..9 * 4)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let mut want = 0.0;
        for i in 0..9 {
            let mut h: Vec<f64> = (0..5)
                .map(|a| (0..4).map(|j| theta[a * 4 + j] * x[i * 4 + j]).sum())
                .collect();
            let mean = h.iter().sum::<f64>() / 5.0;
            h.iter_mut().for_each(|v| *v -= mean);
            let r = h.iter().map(|v| v * v).sum::<f64>().sqrt();
            let z: Vec<f64> = (0..3)
                .map(|c| (0..5).map(|a| theta[i2 + c * 5 + a] * h[a] / r).sum())
                .collect();
            let lse = z.iter().map(|v| v.exp()).sum::<f64>().ln();
            want += (lse - z[i / 3]) / 9.0;
        }
        want += 0.5 * 0.03 * theta.iter().map(|v| v * v).sum::<f64>();
        let mut g = vec![0.0; theta.len()];
        let f = nc.objective_at(&theta, &x, &mut g);
        assert!((f - want).abs() < 1e-12, "{f} vs {want}");
    }

    /// The default instance trains to a fit with its objective above F⋆, and the check
    /// passes; the Gram trace has unit mean diagonal.
    #[test]
    fn the_default_instance_trains_and_passes() {
        for loss in [Loss::Ce, Loss::Mse] {
            let nc = NcResnet::new(NcResnetParams {
                loss,
                steps: 3000,
                ..Default::default()
            })
            .unwrap();
            let check = crate::criteria::check(&nc, 3, 3, &|_| {}).unwrap();
            assert_eq!(check.verdict(), "pass", "{loss:?}: {:?}", check.reasons());
            let trials = crate::runner::run(&nc, 3, 0..1, &|_| {});
            let k = 4;
            let gram = trials.trace(0, "gram_means").unwrap();
            let diag: f64 = (0..k).map(|a| gram[a * k + a]).sum();
            assert!((diag - k as f64).abs() < 1e-12);
        }
    }

    /// Bad parameters name their field.
    #[test]
    fn bad_parameters_name_the_field() {
        for (text, field) in [
            ("classes = 1", "classes"),
            ("per_class = 1", "per_class"),
            ("width = 4", "width"),
            ("depth = 0", "depth"),
            ("depth = 65", "depth"),
            ("lambda = 0.0", "lambda"),
            ("lr = 0.0", "lr"),
            ("lr = nan", "lr"),
            ("noise = -1.0", "noise"),
            ("init_scale = 11.0", "init_scale"),
            ("steps = 0", "steps"),
            ("record = 1", "record"),
            ("steps = 3\nrecord = 5", "record"),
            ("steps = 1000000\nwidth = 512\ndepth = 64", "steps"),
            ("loss = \"hinge\"", "loss"),
            ("colour = 1", "colour"),
        ] {
            match NcResnet::build(text.parse().unwrap()) {
                Err(Error::InvalidParameter { field: f, .. }) => assert_eq!(f, field, "{text}"),
                Err(other) => panic!("{text}: {other}"),
                Ok(_) => panic!("{text} was accepted"),
            }
        }
    }

    #[test]
    fn info_describes_the_parameters() {
        crate::params::assert_describes::<NcResnetParams>(&NcResnet::info().params, &[]);
    }
}
