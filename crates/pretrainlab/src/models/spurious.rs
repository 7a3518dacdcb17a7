//! Spurious correlations in ridge regression (Bombari & Mondelli, "Spurious Correlations in
//! High Dimensional Regression: The Roles of Regularization, Simplicity Bias and
//! Over-Parameterization", arXiv 2502.01347).
//!
//! **Data.** The input is `z = [x; y] ∈ ℝ²ᵈ` with a core feature `x ~ N(0, Σ_xx)` and a
//! spurious feature `y = A x + w`, `w ~ N(0, D)`. The label `g = xᵀθ⋆ + ε`,
//! `ε ~ N(0, σ²)`, ignores `y`; so `θ⋆_z = [θ⋆; 0]` and
//!
//! ```text
//! Σ = [[Σ_xx, Σ_xx Aᵀ], [A Σ_xx, A Σ_xx Aᵀ + D]].
//! ```
//!
//! **Estimator.** Ridge regression on `n` samples with strength `λ`:
//! `θ̂ = (ZᵀZ/n + λI)⁻¹ Zᵀg/n`.
//!
//! **Metrics** (exact population values of each trial's `θ̂`, no test sampling):
//! - the learned spurious correlation `C(θ̂) = Cov(θ̂ᵀ[x̃; y], g) = θ̂_yᵀ Σ_yx θ⋆`, with `x̃`
//!   an independent copy of `x`;
//! - the in-distribution excess loss `L(θ̂) = (θ̂ − θ⋆_z)ᵀ Σ (θ̂ − θ⋆_z)`.
//!
//! **Theory** (the deterministic equivalent of ridge regression, re-derived here). The
//! effective regularisation `τ > 0` solves `λ = τ (1 − df₁(τ)/n)` with
//! `df₁ = tr Σ(Σ + τI)⁻¹`, and `θ̂ ≈ θ̄ = (Σ + τI)⁻¹Σ θ⋆_z`. Then
//!
//! ```text
//! C(λ) = θ̄_yᵀ Σ_yx θ⋆                                      (direct form)
//!      = τ θ⋆ᵀ(Σ_xx + τI)⁻¹ Σ_xy S_τ⁻¹ Σ_yx θ⋆                (Schur form)
//! S_τ  = (Σ_yy + τI) − Σ_yx (Σ_xx + τI)⁻¹ Σ_xy
//! L(λ) = (τ² θ⋆_zᵀ Σ(Σ + τI)⁻² θ⋆_z + σ² df₂/n) / (1 − df₂/n),  df₂ = tr Σ²(Σ + τI)⁻²
//! ```
//!
//! The Schur form follows from the block inverse `[(Σ + τI)⁻¹]_yx =
//! −S_τ⁻¹Σ_yx(Σ_xx + τI)⁻¹`; the two are computed separately and must agree.
//!
//! **Random features** (`features = "random"`). The regression runs on
//! `φ(z) = σ(Wz)/√p` with `p` = `width` and `W` (p×2d) drawn per trial with entries
//! `N(0, 1/(2d))`: `f(z) = θᵀφ(z)`, `θ̂ = argmin (1/n)‖g − Φθ‖² + λ‖θ‖²`, solved in its
//! n×n kernel form `θ̂ = Φᵀ(ΦΦᵀ + nλI)⁻¹g`. The metrics stay exact population values:
//! with `h_j = w_jᵀz` Gaussian, Stein's lemma gives `E[σ(h_j)·uᵀz] = E[σ'(h_j)] w_jᵀΣu`,
//! and `E[σ(h_i)σ(h_j)]` has a closed form for both activations offered (the arc-cosine
//! kernel of ReLU, the arcsine kernel of erf), so
//!
//! ```text
//! C(θ̂) = Σⱼ θ̂ⱼ/√p · E[σ'(s'ⱼG)] · w_{j,y}ᵀΣ_yxθ⋆,        s'ⱼ² = w_{j,x}ᵀΣ_xx w_{j,x} + w_{j,y}ᵀΣ_yy w_{j,y}
//! L(θ̂) = θ̂ᵀMθ̂/p − 2 Σⱼ θ̂ⱼ/√p · E[σ'(sⱼG)] · w_jᵀΣθ⋆_z + θ⋆ᵀΣ_xxθ⋆,   M_ij = E[σ(h_i)σ(h_j)]
//! ```
//!
//! (`C` correlates the prediction at `[x̃; y]`, whose covariance is block diagonal.)
//!
//! *The equivalent ridge.* As `p → ∞` the kernel `ΦΦᵀ` tends to
//! `K(z, z') = E_w σ(wᵀz)σ(wᵀz')`. With `r² = tr Σ/(2d)` (the pre-activation variance at a
//! typical `z`), the Hermite coefficients of `σ(r·)` are `μ₀ = E σ(rG)`, `μ₁ = E σ'(rG)` and
//! `μ⋆² = E σ(rG)² − μ₀² − r²μ₁²`, and to first order in `zᵀz'/(2d)`
//! `K ≈ μ₀²11ᵀ + μ₁²ZZᵀ/(2d) + μ⋆²I`. Kernel ridge with this kernel is linear ridge
//! regression on `[μ₀/c; z]` (`c = μ₁/√(2d)`) with strength
//!
//! ```text
//! λ̃ = (λ + μ⋆²/n) · 2d/μ₁²,
//! ```
//!
//! so the deterministic equivalent above applies with `λ̃` and one extra direction of
//! second moment `2d μ₀²/μ₁²` that carries no signal. This is the width → ∞ limit; a
//! finite width adds the variance of the random features, and the prediction warns when
//! `width < 10n`.

use faer::{Accum, Mat};
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::audit::Claim;
use crate::budget::{Cost, Need};
use crate::linalg::{Cholesky, Eigh, mul_into, sym_eigen_desc};
use crate::model::{Criterion, MeanPrediction, MetricSpec, Model, Prediction, Quantity};
use crate::params::{MAX_MAGNITUDE, ModelInfo, check_at_most, check_nonnegative, describe};
use crate::runner::Trials;
use crate::{Error, Result};

/// Largest `d` (the design has `2d` columns, at most [`crate::params::MAX_DIM`]).
const MAX_D: usize = crate::params::MAX_DIM / 2;
/// Largest `n`.
const MAX_N: usize = 10_000_000;
/// Largest `n` with random features (the kernel form solves an n×n system).
const MAX_N_RANDOM: usize = 20_000;
/// Largest random-features width (a trial holds a `width × width` Gram matrix).
const MAX_WIDTH: usize = 20_000;
/// The width, in multiples of `n`, from which the width → ∞ equivalence is taken at face
/// value; below it the prediction warns.
const WIDE: usize = 10;
/// The relative allowance of the criteria beyond 3 s.e.: the deterministic equivalent is
/// exact only as `n, d → ∞` together.
const RELATIVE_ALLOWANCE: f64 = 0.02;

/// A `d×d` matrix given as a scalar (times `I`), a diagonal (a list) or in full (rows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatrixSpec {
    Scalar(f64),
    Diagonal(Vec<f64>),
    Full(Vec<Vec<f64>>),
}

impl MatrixSpec {
    fn matrix(&self, field: &str, d: usize) -> Result<Mat<f64>> {
        let bad = |what: String| Error::invalid(field, what);
        let finite = |x: f64| x.is_finite() && x.abs() <= MAX_MAGNITUDE;
        match self {
            MatrixSpec::Scalar(s) if finite(*s) => {
                Ok(Mat::from_fn(d, d, |i, j| if i == j { *s } else { 0.0 }))
            }
            MatrixSpec::Diagonal(v) if v.len() == d && v.iter().all(|x| finite(*x)) => {
                Ok(Mat::from_fn(d, d, |i, j| if i == j { v[i] } else { 0.0 }))
            }
            MatrixSpec::Full(rows)
                if rows.len() == d
                    && rows
                        .iter()
                        .all(|r| r.len() == d && r.iter().all(|x| finite(*x))) =>
            {
                Ok(Mat::from_fn(d, d, |i, j| rows[i][j]))
            }
            _ => Err(bad(format!(
                "must be a number, a list of d = {d} numbers or d lists of d numbers, each finite with magnitude at most 1e12"
            ))),
        }
    }
}

/// What the ridge regression is fitted on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Features {
    /// The input `z = [x; y]` itself.
    #[default]
    Linear,
    /// Random features `σ(Wz)/√p`.
    Random,
}

/// The activation `σ` of the random features; both have closed-form Gaussian kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(0, t)`.
    Relu,
    /// The error function `erf(t)`.
    Erf,
}

impl Activation {
    fn apply(self, t: f64) -> f64 {
        match self {
            Activation::Relu => t.max(0.0),
            Activation::Erf => libm::erf(t),
        }
    }

    /// `E[σ'(sG)]`, `G ~ N(0, 1)`.
    fn slope(self, s: f64) -> f64 {
        match self {
            Activation::Relu => 0.5,
            Activation::Erf => std::f64::consts::FRAC_2_SQRT_PI / (1.0 + 2.0 * s * s).sqrt(),
        }
    }

    /// `E[σ(a)σ(b)]` for a centred Gaussian pair with `Var a = sa²`, `Var b = sb²`,
    /// `Cov(a, b) = c`: for ReLU the arc-cosine kernel
    /// `sa·sb/(2π)·(sin ϑ + (π − ϑ) cos ϑ)` with `cos ϑ = c/(sa·sb)`; for erf
    /// `(2/π) asin(2c/√((1 + 2sa²)(1 + 2sb²)))`.
    fn kernel(self, c: f64, sa: f64, sb: f64) -> f64 {
        use std::f64::consts::PI;
        match self {
            Activation::Relu => {
                let scale = sa * sb;
                if scale <= 0.0 {
                    return 0.0;
                }
                let cos = (c / scale).clamp(-1.0, 1.0);
                if cos.abs() <= RELU_SERIES_RHO {
                    return scale * relu_series(cos);
                }
                let sin = (1.0 - cos * cos).sqrt();
                scale / (2.0 * PI) * (sin + (PI - cos.acos()) * cos)
            }
            Activation::Erf => {
                let q = 2.0 * c / ((1.0 + 2.0 * sa * sa) * (1.0 + 2.0 * sb * sb)).sqrt();
                2.0 / PI * q.clamp(-1.0, 1.0).asin()
            }
        }
    }

    /// The Hermite coefficients `(μ₀, μ₁, μ⋆²)` of `σ(r·)`.
    fn hermite(self, r: f64) -> (f64, f64, f64) {
        let mu0 = match self {
            Activation::Relu => r / (2.0 * std::f64::consts::PI).sqrt(),
            Activation::Erf => 0.0,
        };
        let mu1 = self.slope(r);
        let second = self.kernel(r * r, r, r);
        (mu0, mu1, (second - mu0 * mu0 - r * r * mu1 * mu1).max(0.0))
    }
}

/// `|ρ|` up to which the ReLU kernel is summed as its Hermite series (most pairs of random
/// features are nearly orthogonal, and the series is cheaper than `acos`).
const RELU_SERIES_RHO: f64 = 0.6;
/// Even orders of that series kept: the first omitted term is below
/// `c₄₂·0.6⁴²/(1 − 0.6²) < 10⁻¹²`.
const RELU_SERIES_ORDER: usize = 40;

/// The arc-cosine kernel of ReLU at unit variances as its Hermite series:
/// `(sin ϑ + (π − ϑ) cos ϑ)/(2π) = 1/(2π) + ρ/4 + Σ_{k ≥ 2 even} cₖρᵏ` with
/// `cₖ = ((k − 3)!!)²/(2π k!)`, the squared Hermite coefficients of ReLU
/// (`E[relu(G)Heₖ(G)] = Heₖ₋₂(0)/√(2π)` for `k ≥ 2`).
fn relu_series(rho: f64) -> f64 {
    use std::f64::consts::PI;
    let r2 = rho * rho;
    // c₂ = 1/(4π); c_{k+2}/c_k = (k − 1)²/((k + 1)(k + 2)).
    let (mut term, mut power, mut sum) = (1.0 / (4.0 * PI), r2, 0.0);
    let mut k = 2;
    while k <= RELU_SERIES_ORDER {
        sum += term * power;
        let kf = k as f64;
        term *= (kf - 1.0) * (kf - 1.0) / ((kf + 1.0) * (kf + 2.0));
        power *= r2;
        k += 2;
    }
    1.0 / (2.0 * PI) + 0.25 * rho + sum
}

/// `θ⋆`: a list of `d` numbers or a named pattern.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ThetaSpec {
    /// `"uniform"` (all entries `1/√d`) or `"first"` (`e₁`).
    Pattern(String),
    Values(Vec<f64>),
}

/// Parameters of the spurious-correlation ridge model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpuriousParams {
    /// Dimension of the core feature `x` and of the spurious feature `y`.
    pub d: usize,
    /// Training samples.
    pub n: usize,
    /// Ridge strength `λ > 0`.
    pub lambda: f64,
    /// `Σ_xx`.
    pub sigma_xx: MatrixSpec,
    /// `A` in `y = A x + w`.
    pub coupling: MatrixSpec,
    /// `D = Cov w`; by default the "simple" spurious feature of the spec: the first
    /// `max(1, d/30)` coordinates 3.0, the rest 0.05.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spurious_noise: Option<MatrixSpec>,
    /// `θ⋆`.
    pub theta: ThetaSpec,
    /// Label noise variance `σ²`.
    pub noise_var: f64,
    /// `"linear"` (ridge on `z`) or `"random"` (ridge on random features of `z`).
    pub features: Features,
    /// The width `p` of the random features; by default `10n`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// The activation of the random features; by default ReLU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
}

impl Default for SpuriousParams {
    fn default() -> Self {
        SpuriousParams {
            d: 100,
            n: 300,
            lambda: 0.1,
            sigma_xx: MatrixSpec::Scalar(1.0),
            coupling: MatrixSpec::Scalar(0.6),
            spurious_noise: None,
            theta: ThetaSpec::Pattern("uniform".into()),
            noise_var: 0.25,
            features: Features::Linear,
            width: None,
            activation: None,
        }
    }
}

/// The model, ready to run.
pub struct SpuriousRidge {
    p: SpuriousParams,
    d: usize,
    /// `Σ` (2d×2d) and the lower Cholesky factors of `Σ_xx` and `D`.
    sigma: Mat<f64>,
    chol_xx: Mat<f64>,
    chol_w: Mat<f64>,
    coupling: Mat<f64>,
    theta: Vec<f64>,
    /// Eigenvalues `s` of `Σ`, and per eigenvector `k`: `uₖᵀθ⋆_z` and the `y`-block of
    /// `uₖ` dotted with `Σ_yxθ⋆`, so that each `λ` costs O(d).
    spectrum: Vec<f64>,
    theta_proj: Vec<f64>,
    c_proj: Vec<f64>,
    /// The columns `Σθ⋆_z` and `[0; Σ_yxθ⋆]` (2d×2), and `θ⋆ᵀΣ_xxθ⋆`.
    directions: Mat<f64>,
    signal: f64,
    /// The predicted arg min of L (linear features), where trials measure the slopes.
    loss_optimum: f64,
    rf: Option<RandomFeatures>,
    metrics: Vec<MetricSpec>,
}

/// What a random-features trial and its equivalent need beyond the linear model.
struct RandomFeatures {
    width: usize,
    activation: Activation,
    /// Lower Cholesky factors of `Σ` and of its block-diagonal part `diag(Σ_xx, Σ_yy)`
    /// (the covariance of `[x̃; y]`).
    chol_sigma: Mat<f64>,
    chol_blocks: Mat<f64>,
    /// The Hermite coefficients `μ₀`, `μ₁`, `μ⋆²` of `σ(r·)`, `r² = tr Σ/(2d)`.
    mu0: f64,
    mu1: f64,
    mu_star2: f64,
}

/// Per-worker buffers of a random-features trial.
struct RfWorkspace {
    w: Mat<f64>,
    feats: Mat<f64>,
    kernel: Mat<f64>,
    coef: Mat<f64>,
    theta: Mat<f64>,
    factor: Mat<f64>,
    factor_blocks: Mat<f64>,
    gram: Mat<f64>,
    proj: Mat<f64>,
    scale: Vec<f64>,
    scale_blocks: Vec<f64>,
    chol: Cholesky,
}

/// Per-worker buffers of a trial.
pub struct SpuriousWorkspace {
    normals: Mat<f64>,
    z: Mat<f64>,
    g: Mat<f64>,
    /// Linear features: `G = ZᵀZ/n = V S Vᵀ`, the columns `[Σθ⋆_z, [0; Σ_yxθ⋆], Zᵀg/n]`
    /// and their coordinates in `V`, `ΣV` and `VᵀΣV`.
    gram: Mat<f64>,
    eigh: Eigh,
    columns: Mat<f64>,
    coords: Mat<f64>,
    sigma_v: Mat<f64>,
    quadratic: Mat<f64>,
    w: Vec<f64>,
    dw: Vec<f64>,
    rf: Option<RfWorkspace>,
}

fn invalid(field: &str, what: String) -> Error {
    Error::invalid(field, what)
}

impl SpuriousRidge {
    pub fn new(p: SpuriousParams) -> Result<Self> {
        let d = p.d;
        if d == 0 {
            return Err(invalid("d", "must be ≥ 1".into()));
        }
        check_at_most("d", d, MAX_D)?;
        if p.n < 2 {
            return Err(invalid("n", format!("must be ≥ 2, got {}", p.n)));
        }
        check_at_most("n", p.n, MAX_N)?;
        if p.lambda.is_nan() || p.lambda <= 0.0 || p.lambda > MAX_MAGNITUDE {
            return Err(invalid(
                "lambda",
                format!("must be a number in (0, 1e12], got {}", p.lambda),
            ));
        }
        check_nonnegative("noise_var", p.noise_var)?;
        let sigma_xx = p.sigma_xx.matrix("sigma_xx", d)?;
        let coupling = p.coupling.matrix("coupling", d)?;
        let noise = match &p.spurious_noise {
            Some(m) => m.matrix("spurious_noise", d)?,
            None => {
                let top = (d / 30).max(1);
                Mat::from_fn(d, d, |i, j| match (i == j, i < top) {
                    (false, _) => 0.0,
                    (true, true) => 3.0,
                    (true, false) => 0.05,
                })
            }
        };
        let chol_xx = crate::linalg::cholesky_lower(sigma_xx.as_ref(), "sigma_xx")?;
        let chol_w = crate::linalg::cholesky_lower(noise.as_ref(), "spurious_noise")?;
        let theta = theta_of(&p.theta, d)?;
        let xy = &sigma_xx * coupling.transpose();
        let yy = &coupling * &xy + &noise;
        let sigma = Mat::from_fn(2 * d, 2 * d, |i, j| match (i < d, j < d) {
            (true, true) => sigma_xx[(i, j)],
            (true, false) => xy[(i, j - d)],
            (false, true) => xy[(j, i - d)],
            (false, false) => yy[(i - d, j - d)],
        });
        let (spectrum, u) = sym_eigen_desc(sigma.as_ref())?;
        let syx_theta: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|j| sigma[(d + i, j)] * theta[j]).sum())
            .collect();
        let theta_proj: Vec<f64> = (0..2 * d)
            .map(|k| (0..d).map(|i| u[(i, k)] * theta[i]).sum())
            .collect();
        let c_proj: Vec<f64> = (0..2 * d)
            .map(|k| (0..d).map(|i| u[(d + i, k)] * syx_theta[i]).sum())
            .collect();
        let directions = Mat::from_fn(2 * d, 2, |i, c| match (c, i < d) {
            (0, _) => (0..d).map(|j| sigma[(i, j)] * theta[j]).sum(),
            (_, true) => 0.0,
            (_, false) => syx_theta[i - d],
        });
        let signal: f64 = (0..d).map(|i| theta[i] * directions[(i, 0)]).sum();
        let rf = random_features(&p, &sigma)?;
        let mut metrics = vec![
            MetricSpec::new("spurious_c", "1", "spurious correlation C(θ̂) = θ̂_yᵀΣ_yxθ⋆"),
            MetricSpec::new("excess_loss", "1", "excess loss (θ̂ − θ⋆)ᵀΣ(θ̂ − θ⋆)"),
        ];
        if rf.is_none() {
            metrics.extend([
                MetricSpec::new(
                    "argmin_loss_lambda",
                    "1",
                    "the λ minimising this trial's own L(λ) (its data, exact population loss)",
                ),
                MetricSpec::new(
                    "argmax_c_lambda",
                    "1",
                    "the λ maximising this trial's own C(λ)",
                ),
                MetricSpec::new(
                    "dc_dlog_lambda_at_loss_optimum",
                    "1",
                    "dC/d ln λ of this trial's curve at the predicted arg min L: > 0 is the paper's trade-off",
                ),
                MetricSpec::new(
                    "dloss_dlog_lambda_at_loss_optimum",
                    "1",
                    "dL/d ln λ of this trial's curve at the predicted arg min L (0 on average at the optimum)",
                ),
            ]);
        }
        Ok(SpuriousRidge {
            p,
            d,
            sigma,
            chol_xx,
            chol_w,
            coupling,
            theta,
            spectrum,
            theta_proj,
            c_proj,
            directions,
            signal,
            loss_optimum: f64::NAN,
            rf,
            metrics,
        })
        .and_then(|mut model: SpuriousRidge| {
            if model.rf.is_none() {
                model.loss_optimum = model.optima()?.0;
            }
            Ok(model)
        })
    }

    /// Builds the model from a parameter table.
    pub fn build(table: toml::Table) -> Result<Self> {
        let params: SpuriousParams = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| crate::models::parameter_error(&e.to_string()))?;
        Self::new(params)
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "spurious-ridge",
            summary: "ridge regression on [x; y] with a spurious feature y = Ax + w: learned spurious correlation C(λ) and excess loss L(λ)",
            source: "Bombari & Mondelli, \"Spurious Correlations in High Dimensional Regression: The Roles of Regularization, Simplicity Bias and Over-Parameterization\", arXiv 2502.01347",
            params: describe::<SpuriousParams>(
                &[
                    ("d", "dimension of x and of y (1 to 2048)"),
                    ("n", "training samples (2 to 10⁷)"),
                    ("lambda", "ridge strength λ > 0"),
                    ("sigma_xx", "Σ_xx: a number (× I), a diagonal list or rows"),
                    (
                        "coupling",
                        "A in y = Ax + w: a number (× I), a diagonal list or rows",
                    ),
                    (
                        "spurious_noise",
                        "D = Cov w: a number (× I), a diagonal list or rows",
                    ),
                    (
                        "theta",
                        "θ⋆: a list of d numbers, \"uniform\" (1/√d each) or \"first\" (e₁)",
                    ),
                    ("noise_var", "label noise variance σ²"),
                    (
                        "features",
                        "\"linear\" (ridge on z) or \"random\" (ridge on σ(Wz)/√width, W drawn per trial)",
                    ),
                    (
                        "width",
                        "random features only: the width p (1 to 20000; n at most 20000)",
                    ),
                    ("activation", "random features only: \"relu\" or \"erf\""),
                ],
                &[
                    (
                        "spurious_noise",
                        "diagonal: 3.0 on the first max(1, d/30) coordinates, 0.05 on the rest",
                    ),
                    ("width", "10·n, with random features"),
                    ("activation", "relu, with random features"),
                ],
            ),
        }
    }
}

/// The random-features part, validated: `None` for linear features, where `width` and
/// `activation` must be absent.
fn random_features(p: &SpuriousParams, sigma: &Mat<f64>) -> Result<Option<RandomFeatures>> {
    if p.features == Features::Linear {
        for (field, given) in [
            ("width", p.width.is_some()),
            ("activation", p.activation.is_some()),
        ] {
            if given {
                return Err(invalid(
                    field,
                    "applies only to features = \"random\"".into(),
                ));
            }
        }
        return Ok(None);
    }
    check_at_most("n", p.n, MAX_N_RANDOM)?;
    let width = p.width.unwrap_or(WIDE * p.n);
    if width == 0 {
        return Err(invalid("width", "must be ≥ 1".into()));
    }
    check_at_most("width", width, MAX_WIDTH)?;
    let activation = p.activation.unwrap_or(Activation::Relu);
    let d = p.d;
    let dim = 2 * d;
    let blocks = Mat::from_fn(dim, dim, |i, j| {
        if (i < d) == (j < d) {
            sigma[(i, j)]
        } else {
            0.0
        }
    });
    let r = ((0..dim).map(|i| sigma[(i, i)]).sum::<f64>() / dim as f64).sqrt();
    let (mu0, mu1, mu_star2) = activation.hermite(r);
    Ok(Some(RandomFeatures {
        width,
        activation,
        chol_sigma: crate::linalg::cholesky_lower(sigma.as_ref(), "sigma_xx")?,
        chol_blocks: crate::linalg::cholesky_lower(blocks.as_ref(), "spurious_noise")?,
        mu0,
        mu1,
        mu_star2,
    }))
}

/// `θ⋆` from its spec; an error names `theta`.
fn theta_of(spec: &ThetaSpec, d: usize) -> Result<Vec<f64>> {
    match spec {
        ThetaSpec::Pattern(s) if s == "uniform" => Ok(vec![1.0 / (d as f64).sqrt(); d]),
        ThetaSpec::Pattern(s) if s == "first" => {
            Ok((0..d).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect())
        }
        ThetaSpec::Values(v)
            if v.len() == d && v.iter().all(|x| x.is_finite() && x.abs() <= MAX_MAGNITUDE) =>
        {
            Ok(v.clone())
        }
        _ => Err(invalid(
            "theta",
            format!(
                "must be \"uniform\", \"first\" or a list of d = {d} finite numbers of magnitude at most 1e12"
            ),
        )),
    }
}

/// The deterministic equivalent at one `λ`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Equivalent {
    pub tau: f64,
    pub c_direct: f64,
    pub c_schur: f64,
    pub loss: f64,
    pub df2: f64,
}

/// A linear ridge problem in the eigenbasis of its feature covariance, the input of the
/// deterministic equivalent: eigenvalues `eₖ` with multiplicities, the target's
/// coefficients `βₖ` (the best linear predictor is `Σ βₖ uₖ`), the direction `cₖ` along
/// which `C` reads the fit, and the residual variance the features cannot explain.
#[derive(Clone, Debug, Default)]
struct Problem {
    eig: Vec<f64>,
    mult: Vec<f64>,
    beta: Vec<f64>,
    cdir: Vec<f64>,
    residual: f64,
}

impl Problem {
    /// The deterministic equivalent at ridge strength `lambda` with `n` samples and label
    /// noise `noise_var`: `τ` from `λ = τ(1 − df₁/n)`, `θ̄ₖ = eₖβₖ/(eₖ + τ)`,
    /// `C = Σ θ̄ₖcₖ`, and `L = (τ²Σ eₖβₖ²/(eₖ + τ)² + (σ² + r)df₂/n)/(1 − df₂/n) + r` with
    /// `r` the residual (it acts as extra label noise in the fit and is lost at test).
    fn solve(&self, lambda: f64, n: f64, noise_var: f64) -> Result<Equivalent> {
        let terms = || self.eig.iter().zip(&self.mult);
        let df1 = |tau: f64| terms().map(|(&e, &m)| m * e / (e + tau)).sum::<f64>();
        // λ = g(τ) = τ(1 − df₁(τ)/n); g(λ) ≤ λ and g(λ + tr/n) ≥ λ bracket the root.
        let g = |tau: f64| tau * (1.0 - df1(tau) / n);
        let trace: f64 = terms().map(|(&e, &m)| m * e).sum();
        let (mut lo, mut hi) = (lambda, lambda + trace / n);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if g(mid) < lambda {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let tau = 0.5 * (lo + hi);
        let df2: f64 = terms().map(|(&e, &m)| m * (e / (e + tau)).powi(2)).sum();
        if df2.is_nan() || df2 >= n {
            return Err(Error::Numerical(format!(
                "the deterministic equivalent has df₂ = {df2:.3} ≥ n at ridge strength {lambda}"
            )));
        }
        let k = 0..self.eig.len();
        let c_direct: f64 = k
            .clone()
            .map(|k| self.eig[k] / (self.eig[k] + tau) * self.beta[k] * self.cdir[k])
            .sum();
        let bias: f64 = k
            .map(|k| tau * tau * self.eig[k] * (self.beta[k] / (self.eig[k] + tau)).powi(2))
            .sum();
        let r = self.residual;
        let loss = (bias + (noise_var + r) * df2 / n) / (1.0 - df2 / n) + r;
        Ok(Equivalent {
            tau,
            c_direct,
            c_schur: f64::NAN,
            loss,
            df2,
        })
    }
}

/// The finite-width equivalent of random features, averaged over draws of `W`: each
/// metric's mean and the s.e. of that average.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WidthEquivalent {
    pub c: f64,
    pub c_se: f64,
    pub loss: f64,
    pub loss_se: f64,
    pub tau: f64,
}

/// log₁₀ of the range of λ over which the arg-optima are searched.
const LAMBDA_RANGE: (f64, f64) = (-4.0, 4.0);
/// Grid points and golden-section steps of each trial's own search for its arg-optima:
/// a third of a decade between grid points, then a bracket of 2/3 decade shrunk 0.618³⁰
/// times, to about 10⁻⁶ in ln λ.
const TRIAL_SEARCH: (usize, usize) = (25, 30);

/// The relative spread of `‖z‖²` above which the erf equivalence warns.
const NORM_SPREAD: f64 = 0.1;

/// Draws of `W` the finite-width equivalent averages over.
const THEORY_DRAWS: u64 = 64;
/// The fixed master seed of those draws, so that `predict` is deterministic.
const THEORY_SEED: u64 = 250_201_347;

impl SpuriousRidge {
    /// The deterministic equivalent at `lambda`, from the eigendecomposition of `Σ`
    /// (the direct form) and, with `schur`, the Schur form by Cholesky solves. With random
    /// features this is the width → ∞ form: the equivalent ridge `λ̃` on `[μ₀/c; z]`.
    pub fn equivalent(&self, lambda: f64, schur: bool) -> Result<Equivalent> {
        let (lambda, extra) = self.equivalent_ridge(lambda);
        let mut problem = Problem {
            eig: self.spectrum.clone(),
            mult: vec![1.0; self.spectrum.len()],
            beta: self.theta_proj.clone(),
            cdir: self.c_proj.clone(),
            residual: 0.0,
        };
        if extra > 0.0 {
            problem.eig.push(extra);
            problem.mult.push(1.0);
            problem.beta.push(0.0);
            problem.cdir.push(0.0);
        }
        let mut eq = problem.solve(lambda, self.p.n as f64, self.p.noise_var)?;
        if schur {
            eq.c_schur = self.schur_c(eq.tau)?;
        }
        Ok(eq)
    }

    /// The random features' problems, one per draw of `W` (Gaussian equivalence: the
    /// features act as `(μ₀ + μ₁Wz + μ⋆ξ)/√p` with `ξ ~ N(0, I_p)` independent of `z`).
    ///
    /// With `WL = U S Vᵀ` (`Σ = LLᵀ`, `S = diag(sₖ)`), the feature covariance has the
    /// eigenvalues `eₖ = (μ₁²sₖ² + μ⋆²)/p` on `U`, `μ⋆²/p` on the rest of ℝᵖ (one of
    /// those directions, the constant one, gets `μ₀²` more); the target `zᵀθ⋆_z` has
    /// covariance `bₖ = μ₁sₖ(VᵀLᵀθ⋆_z)ₖ/√p` with them, so `βₖ = bₖ/eₖ`, the residual is
    /// `θ⋆ᵀΣ_xxθ⋆ − Σ bₖ²/eₖ`, and `C` reads `cₖ = μ₁sₖ(VᵀL⁻¹[0; Σ_yxθ⋆])ₖ/√p`.
    fn width_problems(&self, rf: &RandomFeatures) -> Result<Vec<Problem>> {
        let dim = 2 * self.d;
        let p = rf.width;
        let key = crate::rng::experiment_key("spurious-ridge/width-equivalent");
        let chol_t = rf.chol_sigma.transpose();
        // Lᵀθ⋆_z and L⁻¹[0; Σ_yxθ⋆] (forward substitution).
        let lt_theta: Vec<f64> = (0..dim)
            .map(|i| (0..self.d).map(|j| chol_t[(i, j)] * self.theta[j]).sum())
            .collect();
        let l = rf.chol_sigma.as_ref();
        let mut linv_c = vec![0.0; dim];
        for i in 0..dim {
            let partial: f64 = (0..i).map(|j| l[(i, j)] * linv_c[j]).sum();
            linv_c[i] = (self.directions[(i, 1)] - partial) / l[(i, i)];
        }
        let mut w = Mat::<f64>::zeros(p, dim);
        let mut wl = Mat::<f64>::zeros(p, dim);
        let mut gram = Mat::<f64>::zeros(dim, dim);
        let root_p = (p as f64).sqrt();
        let (mu1, ms2) = (rf.mu1, rf.mu_star2);
        (0..THEORY_DRAWS)
            .map(|draw| {
                let mut rng = crate::rng::trial_rng(THEORY_SEED, key, draw);
                fill_normal(&mut rng, &mut w);
                mul_into(
                    wl.as_mut(),
                    Accum::Replace,
                    w.as_ref(),
                    l,
                    1.0 / (dim as f64).sqrt(),
                );
                mul_into(
                    gram.as_mut(),
                    Accum::Replace,
                    wl.transpose(),
                    wl.as_ref(),
                    1.0,
                );
                let (nu, v) = sym_eigen_desc(gram.as_ref())?;
                let kept = p.min(dim);
                let mut problem = Problem::default();
                for k in 0..kept {
                    let s = nu[k].max(0.0).sqrt();
                    let proj = |x: &[f64]| (0..dim).map(|i| v[(i, k)] * x[i]).sum::<f64>();
                    let e = (mu1 * mu1 * s * s + ms2) / p as f64;
                    let b = mu1 * s * proj(&lt_theta) / root_p;
                    problem.eig.push(e);
                    problem.mult.push(1.0);
                    problem.beta.push(b / e);
                    problem.cdir.push(mu1 * s * proj(&linv_c) / root_p);
                    problem.residual -= b * b / e;
                }
                problem.residual += self.signal;
                problem.residual = problem.residual.max(0.0);
                let rest = (p - kept) as f64;
                if rest >= 1.0 {
                    problem
                        .eig
                        .extend([ms2 / p as f64, rf.mu0 * rf.mu0 + ms2 / p as f64]);
                    problem.mult.extend([rest - 1.0, 1.0]);
                    problem.beta.extend([0.0, 0.0]);
                    problem.cdir.extend([0.0, 0.0]);
                }
                Ok(problem)
            })
            .collect()
    }

    /// The sd of `‖z‖²` relative to its mean, `√(2 tr Σ²)/tr Σ`.
    fn norm_spread(&self) -> f64 {
        let square: f64 = self.spectrum.iter().map(|s| s * s).sum();
        (2.0 * square).sqrt() / self.spectrum.iter().sum::<f64>()
    }

    /// The finite-width equivalent at `lambda`, averaged over the problems of
    /// [`Self::width_problems`].
    fn width_equivalent(&self, problems: &[Problem], lambda: f64) -> Result<WidthEquivalent> {
        let n = self.p.n as f64;
        let eqs: Vec<Equivalent> = problems
            .iter()
            .map(|pr| pr.solve(lambda, n, self.p.noise_var))
            .collect::<Result<_>>()?;
        let stat = |f: fn(&Equivalent) -> f64| {
            let values: Vec<f64> = eqs.iter().map(f).collect();
            crate::stats::Summary::of(&values).map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se))
        };
        let (c, c_se) = stat(|e| e.c_direct);
        let (loss, loss_se) = stat(|e| e.loss);
        Ok(WidthEquivalent {
            c,
            c_se,
            loss,
            loss_se,
            tau: stat(|e| e.tau).0,
        })
    }

    /// The ridge strength and the extra signal-free direction of the linear problem that
    /// the regression is equivalent to: `(λ, 0)` for linear features,
    /// `(λ̃, 2d μ₀²/μ₁²)` with `λ̃ = (λ + μ⋆²/n)·2d/μ₁²` for random features.
    fn equivalent_ridge(&self, lambda: f64) -> (f64, f64) {
        match &self.rf {
            None => (lambda, 0.0),
            Some(rf) => {
                let dim = (2 * self.d) as f64;
                let slope2 = rf.mu1 * rf.mu1;
                (
                    (lambda + rf.mu_star2 / self.p.n as f64) * dim / slope2,
                    dim * rf.mu0 * rf.mu0 / slope2,
                )
            }
        }
    }

    /// `τ θ⋆ᵀ(Σ_xx + τI)⁻¹ Σ_xy S_τ⁻¹ Σ_yx θ⋆`, by Cholesky solves (independent of the
    /// eigendecomposition the direct form uses).
    fn schur_c(&self, tau: f64) -> Result<f64> {
        let d = self.d;
        let syx_theta: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|j| self.sigma[(d + i, j)] * self.theta[j]).sum())
            .collect();
        let block = |r: usize, c: usize| self.sigma.as_ref().submatrix(r, c, d, d).to_owned();
        let mut xx = block(0, 0);
        let mut yy = block(d, d);
        for i in 0..d {
            xx[(i, i)] += tau;
            yy[(i, i)] += tau;
        }
        let xy = block(0, d);
        let mut chol = Cholesky::new(d, d);
        chol.factor(xx.as_ref())?;
        let mut xx_inv_xy = xy.clone();
        chol.solve_in_place(xx_inv_xy.as_mut());
        let schur = &yy - xy.transpose() * &xx_inv_xy;
        let mut chol_s = Cholesky::new(d, 1);
        chol_s.factor(schur.as_ref())?;
        let mut v = Mat::from_fn(d, 1, |i, _| syx_theta[i]);
        chol_s.solve_in_place(v.as_mut());
        // θ⋆ᵀ(Σ_xx+τI)⁻¹Σ_xy = (xx_inv_xyᵀ θ⋆)ᵀ.
        let left: Vec<f64> = (0..d)
            .map(|j| (0..d).map(|i| xx_inv_xy[(i, j)] * self.theta[i]).sum())
            .collect();
        Ok(tau * (0..d).map(|j| left[j] * v[(j, 0)]).sum::<f64>())
    }

    /// `arg min_λ L` and `arg max_λ C` over λ ∈ [10⁻⁴, 10⁴], by golden-section search on
    /// log λ after a grid scan (both curves are unimodal in the tested instances; the
    /// scan keeps the search in the best cell), on the curves of `curve(λ) = (C, L)`.
    fn optima_of(curve: &dyn Fn(f64) -> Result<(f64, f64)>) -> Result<(f64, f64)> {
        Ok((
            argmin_log(|l| curve(l).map(|e| e.1), LAMBDA_RANGE, (81, 60))?,
            argmin_log(|l| curve(l).map(|e| -e.0), LAMBDA_RANGE, (81, 60))?,
        ))
    }

    /// The predicted `(C, L)` at each of `lambdas`: the deterministic equivalent, or with
    /// random features the finite-width equivalent (the predicted means of `predict`).
    pub fn curve(&self, lambdas: &[f64]) -> Result<Vec<(f64, f64)>> {
        match &self.rf {
            None => lambdas
                .iter()
                .map(|&l| self.equivalent(l, false).map(|e| (e.c_direct, e.loss)))
                .collect(),
            Some(rf) => {
                let problems = self.width_problems(rf)?;
                lambdas
                    .iter()
                    .map(|&l| self.width_equivalent(&problems, l).map(|e| (e.c, e.loss)))
                    .collect()
            }
        }
    }

    /// `dC/d ln λ` of the deterministic equivalent at `lambda`, by a central difference
    /// of step 10⁻⁴ in ln λ.
    fn c_slope(&self, lambda: f64) -> Result<f64> {
        let h: f64 = 1e-4;
        let c = |l: f64| self.equivalent(l, false).map(|e| e.c_direct);
        Ok((c(lambda * h.exp())? - c(lambda * (-h).exp())?) / (2.0 * h))
    }

    /// `arg min_λ L` and `arg max_λ C` of [`Self::equivalent`].
    pub fn optima(&self) -> Result<(f64, f64)> {
        Self::optima_of(&|l| self.equivalent(l, false).map(|e| (e.c_direct, e.loss)))
    }
}

/// The minimiser of `f` over λ ∈ [10^`lo`, 10^`hi`]: the best of `points` log-spaced
/// values, refined by `steps` steps of golden section on log λ between its neighbours
/// (each shrinks the bracket by 0.618). Allocates nothing, so trials use it too.
fn argmin_log<E>(
    mut f: impl FnMut(f64) -> std::result::Result<f64, E>,
    (lo, hi): (f64, f64),
    (points, steps): (usize, usize),
) -> std::result::Result<f64, E> {
    let at = |i: usize| (lo + (hi - lo) * i as f64 / (points - 1) as f64) * std::f64::consts::LN_10;
    let (mut best, mut best_value) = (0, f64::INFINITY);
    for i in 0..points {
        let v = f(at(i).exp())?;
        if v < best_value {
            (best, best_value) = (i, v);
        }
    }
    let (mut a, mut b) = (at(best.saturating_sub(1)), at((best + 1).min(points - 1)));
    let r = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..steps {
        let (c, d) = (b - r * (b - a), a + r * (b - a));
        if f(c.exp())? < f(d.exp())? {
            b = d;
        } else {
            a = c;
        }
    }
    Ok((0.5 * (a + b)).exp())
}

impl SpuriousRidge {
    /// Fills `ws.z = [X, Y]` and `ws.g` from the trial's stream.
    fn draw_data(&self, rng: &mut ChaCha8Rng, ws: &mut SpuriousWorkspace) {
        let (d, n) = (self.d, self.p.n);
        fill_normal(rng, &mut ws.normals);
        let (mut x, mut y) = ws.z.as_mut().split_at_col_mut(d);
        mul_into(
            x.as_mut(),
            Accum::Replace,
            ws.normals.as_ref(),
            self.chol_xx.transpose(),
            1.0,
        );
        fill_normal(rng, &mut ws.normals);
        mul_into(
            y.as_mut(),
            Accum::Replace,
            ws.normals.as_ref(),
            self.chol_w.transpose(),
            1.0,
        );
        mul_into(
            y.as_mut(),
            Accum::Add,
            x.as_ref(),
            self.coupling.transpose(),
            1.0,
        );
        let noise = self.p.noise_var.sqrt();
        for i in 0..n {
            let e: f64 = StandardNormal.sample(rng);
            ws.g[(i, 0)] = (0..d).map(|j| x[(i, j)] * self.theta[j]).sum::<f64>() + noise * e;
        }
    }

    /// Ridge on `z` for every λ at once: with `G = ZᵀZ/n = V S Vᵀ` and `b = VᵀZᵀg/n`,
    /// `θ̂(λ) = V w(λ)` with `wₖ = bₖ/(sₖ + λ)`, so `C(λ) = Σ wₖ(Vᵀ[0; Σ_yxθ⋆])ₖ` and
    /// `L(λ) = wᵀ(VᵀΣV)w − 2wᵀVᵀΣθ⋆_z + θ⋆ᵀΣ_xxθ⋆` cost O(d²) each. Writes `C` and `L` at
    /// the configured λ, this trial's own arg min of L and arg max of C, and the slopes of
    /// both curves in ln λ at the predicted arg min of L.
    fn linear_fit(
        &self,
        ws: &mut SpuriousWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        let dim = 2 * self.d;
        let inv_n = 1.0 / self.p.n as f64;
        mul_into(
            ws.gram.as_mut(),
            Accum::Replace,
            ws.z.transpose(),
            ws.z.as_ref(),
            inv_n,
        );
        ws.columns
            .as_mut()
            .submatrix_mut(0, 0, dim, 2)
            .copy_from(self.directions.as_ref());
        mul_into(
            ws.columns.as_mut().submatrix_mut(0, 2, dim, 1),
            Accum::Replace,
            ws.z.transpose(),
            ws.g.as_ref(),
            inv_n,
        );
        ws.eigh
            .compute(ws.gram.as_ref())
            .map_err(|e| e.to_string())?;
        let v = ws.eigh.vectors();
        mul_into(
            ws.coords.as_mut(),
            Accum::Replace,
            v.transpose(),
            ws.columns.as_ref(),
            1.0,
        );
        mul_into(
            ws.sigma_v.as_mut(),
            Accum::Replace,
            self.sigma.as_ref(),
            v,
            1.0,
        );
        mul_into(
            ws.quadratic.as_mut(),
            Accum::Replace,
            v.transpose(),
            ws.sigma_v.as_ref(),
            1.0,
        );
        let curve = Curve {
            s: ws.eigh.values(),
            coords: ws.coords.as_ref(),
            quadratic: ws.quadratic.as_ref(),
            signal: self.signal,
        };
        let w = &mut ws.w;
        (out[0], out[1]) = curve.at(self.p.lambda, w);
        let argmin_loss = argmin_log(
            |l| Ok::<f64, ()>(curve.at(l, w).1),
            LAMBDA_RANGE,
            TRIAL_SEARCH,
        )
        .unwrap_or(f64::NAN);
        let argmax_c = argmin_log(
            |l| Ok::<f64, ()>(-curve.at(l, w).0),
            LAMBDA_RANGE,
            TRIAL_SEARCH,
        )
        .unwrap_or(f64::NAN);
        out[2] = argmin_loss;
        out[3] = argmax_c;
        (out[4], out[5]) = curve.slope(self.loss_optimum, w, &mut ws.dw);
        Ok(())
    }

    /// Ridge on the random features `σ(Wz)/√p` in kernel form, then `C` and `L` exactly
    /// through Stein's lemma and the activation's Gaussian kernel; returns `(C, L)`.
    fn random_features_fit(
        &self,
        rf: &RandomFeatures,
        rng: &mut ChaCha8Rng,
        z: &Mat<f64>,
        g: &Mat<f64>,
        ws: &mut RfWorkspace,
    ) -> std::result::Result<(f64, f64), String> {
        let (n, p) = (self.p.n, rf.width);
        fill_normal(rng, &mut ws.w);
        let w_scale = 1.0 / ((2 * self.d) as f64).sqrt();
        for j in 0..ws.w.ncols() {
            for i in 0..p {
                ws.w[(i, j)] *= w_scale;
            }
        }
        mul_into(
            ws.feats.as_mut(),
            Accum::Replace,
            z.as_ref(),
            ws.w.transpose(),
            1.0,
        );
        let f_scale = 1.0 / (p as f64).sqrt();
        for j in 0..p {
            for i in 0..n {
                ws.feats[(i, j)] = f_scale * rf.activation.apply(ws.feats[(i, j)]);
            }
        }
        mul_into(
            ws.kernel.as_mut(),
            Accum::Replace,
            ws.feats.as_ref(),
            ws.feats.transpose(),
            1.0,
        );
        for i in 0..n {
            ws.kernel[(i, i)] += n as f64 * self.p.lambda;
            ws.coef[(i, 0)] = g[(i, 0)];
        }
        ws.chol
            .factor(ws.kernel.as_ref())
            .map_err(|e| e.to_string())?;
        ws.chol.solve_in_place(ws.coef.as_mut());
        mul_into(
            ws.theta.as_mut(),
            Accum::Replace,
            ws.feats.transpose(),
            ws.coef.as_ref(),
            1.0,
        );
        Ok(self.random_features_metrics(rf, ws))
    }

    /// `C` and `L` of the fitted `θ̂` (in `ws.theta`) for the drawn `W` (in `ws.w`).
    fn random_features_metrics(&self, rf: &RandomFeatures, ws: &mut RfWorkspace) -> (f64, f64) {
        let p = rf.width;
        let w = ws.w.as_ref();
        mul_into(
            ws.factor.as_mut(),
            Accum::Replace,
            w,
            rf.chol_sigma.as_ref(),
            1.0,
        );
        mul_into(
            ws.factor_blocks.as_mut(),
            Accum::Replace,
            w,
            rf.chol_blocks.as_ref(),
            1.0,
        );
        mul_into(
            ws.proj.as_mut(),
            Accum::Replace,
            w,
            self.directions.as_ref(),
            1.0,
        );
        // Gram = (W L)(W L)ᵀ = W Σ Wᵀ, the covariance of the pre-activations at z ~ N(0, Σ).
        mul_into(
            ws.gram.as_mut(),
            Accum::Replace,
            ws.factor.as_ref(),
            ws.factor.transpose(),
            1.0,
        );
        let row_norm = |m: &Mat<f64>, i: usize| {
            (0..m.ncols())
                .map(|j| m[(i, j)] * m[(i, j)])
                .sum::<f64>()
                .sqrt()
        };
        for i in 0..p {
            ws.scale[i] = row_norm(&ws.factor, i);
            ws.scale_blocks[i] = row_norm(&ws.factor_blocks, i);
        }
        let act = rf.activation;
        let theta = |i: usize| ws.theta[(i, 0)];
        let mut second = 0.0;
        for j in 0..p {
            let mut column = 0.5 * theta(j) * act.kernel(ws.gram[(j, j)], ws.scale[j], ws.scale[j]);
            for i in j + 1..p {
                column += theta(i) * act.kernel(ws.gram[(i, j)], ws.scale[i], ws.scale[j]);
            }
            second += 2.0 * theta(j) * column;
        }
        let root_p = (p as f64).sqrt();
        let (mut cross, mut spurious) = (0.0, 0.0);
        for j in 0..p {
            cross += theta(j) * act.slope(ws.scale[j]) * ws.proj[(j, 0)];
            spurious += theta(j) * act.slope(ws.scale_blocks[j]) * ws.proj[(j, 1)];
        }
        let loss = second / p as f64 - 2.0 * cross / root_p + self.signal;
        (spurious / root_p, loss)
    }
}

/// `arg min_λ L`, `arg max_λ C` and whether the first lies below the second (the paper's
/// trade-off: the loss-optimal λ still learns more of the spurious feature with more λ).
fn optima_quantities(argmin_loss: f64, argmax_c: f64) -> [Quantity; 3] {
    [
        Quantity::exact("argmin_loss_lambda", argmin_loss),
        Quantity::exact("argmax_c_lambda", argmax_c),
        Quantity::exact(
            "c_increasing_at_loss_optimum",
            f64::from(u8::from(argmin_loss < argmax_c)),
        ),
    ]
}

/// One trial's exact `(C(λ), L(λ))` of linear ridge, in the eigenbasis of its Gram matrix.
struct Curve<'a> {
    s: &'a [f64],
    /// Columns: `VᵀΣθ⋆_z`, `Vᵀ[0; Σ_yxθ⋆]`, `VᵀZᵀg/n`.
    coords: faer::MatRef<'a, f64>,
    /// `VᵀΣV`.
    quadratic: faer::MatRef<'a, f64>,
    signal: f64,
}

impl Curve<'_> {
    /// `(C(λ), L(λ))`, with `w` (length 2d) as scratch for `w(λ)`.
    fn at(&self, lambda: f64, w: &mut [f64]) -> (f64, f64) {
        for (k, wk) in w.iter_mut().enumerate() {
            *wk = self.coords[(k, 2)] / (self.s[k] + lambda);
        }
        let (mut c, mut linear, mut square) = (0.0, 0.0, 0.0);
        for (k, &wk) in w.iter().enumerate() {
            c += wk * self.coords[(k, 1)];
            linear += wk * self.coords[(k, 0)];
            let column = self.quadratic.col(k);
            let mut row = 0.5 * column[k] * wk;
            for j in k + 1..w.len() {
                row += column[j] * w[j];
            }
            square += 2.0 * wk * row;
        }
        (c, square - 2.0 * linear + self.signal)
    }

    /// `(dC/d ln λ, dL/d ln λ)` at `lambda`: with `w'ₖ = −bₖ/(sₖ + λ)²`,
    /// `dC/dλ = Σ w'ₖcₖ` and `dL/dλ = 2w'ᵀ(VᵀΣV)w − 2w'ᵀVᵀΣθ⋆_z`.
    fn slope(&self, lambda: f64, w: &mut [f64], dw: &mut [f64]) -> (f64, f64) {
        for k in 0..w.len() {
            let shifted = self.s[k] + lambda;
            w[k] = self.coords[(k, 2)] / shifted;
            dw[k] = -w[k] / shifted;
        }
        let (mut c, mut linear, mut cross) = (0.0, 0.0, 0.0);
        for (k, &dk) in dw.iter().enumerate() {
            c += dk * self.coords[(k, 1)];
            linear += dk * self.coords[(k, 0)];
            let column = self.quadratic.col(k);
            cross += dk * (0..w.len()).map(|j| column[j] * w[j]).sum::<f64>();
        }
        (lambda * c, lambda * 2.0 * (cross - linear))
    }
}

/// Fills `m` with independent standard normals, column by column.
fn fill_normal(rng: &mut ChaCha8Rng, m: &mut Mat<f64>) {
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            m[(i, j)] = StandardNormal.sample(rng);
        }
    }
}

impl SpuriousRidge {
    /// `spurious_c` and `excess_loss` within 3 s.e. + 2% of their predicted means.
    fn equivalence_criteria(&self, prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        ["spurious_c", "excess_loss"]
            .iter()
            .map(|&metric| {
                let (predicted, predicted_se) = prediction
                    .mean(metric)
                    .map_or((f64::NAN, f64::NAN), |m| (m.value, m.se));
                let values = trials.column(metric).unwrap_or_default();
                let s = crate::stats::Summary::of(&values);
                let (measured, se) = s.map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se));
                let se = se.hypot(predicted_se);
                let bound = 3.0 * se + RELATIVE_ALLOWANCE * predicted.abs();
                Criterion {
                    name: format!("{metric}_equivalent"),
                    statement: format!(
                        "the mean of {metric} is within 3 s.e. + 2% of its deterministic equivalent"
                    ),
                    predicted: Some(predicted),
                    measured,
                    se: Some(se),
                    pass: (measured - predicted).abs() <= bound,
                }
            })
            .collect()
    }
}

/// The paper's trade-off, measured: at the predicted arg min of L the trials' own C is
/// increasing, its mean slope in ln λ positive by more than 3 s.e. Where the predicted
/// slope is itself below 3 s.e. the trials cannot resolve its sign, and the criterion asks
/// only that the measured slope be within 3 s.e. of the predicted one.
fn tradeoff_criterion(prediction: &Prediction, trials: &Trials) -> Criterion {
    let metric = "dc_dlog_lambda_at_loss_optimum";
    let values = trials.column(metric).unwrap_or_default();
    let (measured, se) =
        crate::stats::Summary::of(&values).map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se));
    let predicted = prediction.mean(metric).map_or(f64::NAN, |m| m.value);
    let resolvable = predicted > 3.0 * se;
    Criterion {
        name: "c_increasing_at_loss_optimum".into(),
        statement: if resolvable {
            "the paper's trade-off, predicted here: at the λ minimising L, C is still increasing (the trials' mean dC/d ln λ there > 3 s.e.)".into()
        } else {
            "the paper's trade-off, predicted here but below the resolution of these trials: the trials' mean dC/d ln λ at the λ minimising L is within 3 s.e. of the predicted slope".into()
        },
        predicted: Some(predicted),
        measured,
        se: Some(se),
        pass: if resolvable {
            measured > 3.0 * se
        } else {
            (measured - predicted).abs() <= 3.0 * se
        },
    }
}

impl Model for SpuriousRidge {
    type Workspace = SpuriousWorkspace;

    fn name(&self) -> &'static str {
        "spurious-ridge"
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn workspace(&self) -> SpuriousWorkspace {
        let (d, n) = (self.d, self.p.n);
        // The linear fit's buffers are empty when the fit runs on random features.
        let lin = if self.rf.is_some() { 0 } else { 2 * d };
        SpuriousWorkspace {
            normals: Mat::zeros(n, d),
            z: Mat::zeros(n, 2 * d),
            g: Mat::zeros(n, 1),
            gram: Mat::zeros(lin, lin),
            // faer's eigensolver wants a positive dimension even when unused.
            eigh: Eigh::new(lin.max(1)),
            columns: Mat::zeros(lin, 3),
            coords: Mat::zeros(lin, 3),
            sigma_v: Mat::zeros(lin, lin),
            quadratic: Mat::zeros(lin, lin),
            w: vec![0.0; lin],
            dw: vec![0.0; lin],
            rf: self.rf.as_ref().map(|rf| {
                let (p, dim) = (rf.width, 2 * d);
                RfWorkspace {
                    w: Mat::zeros(p, dim),
                    feats: Mat::zeros(n, p),
                    kernel: Mat::zeros(n, n),
                    coef: Mat::zeros(n, 1),
                    theta: Mat::zeros(p, 1),
                    factor: Mat::zeros(p, dim),
                    factor_blocks: Mat::zeros(p, dim),
                    gram: Mat::zeros(p, p),
                    proj: Mat::zeros(p, 2),
                    scale: vec![0.0; p],
                    scale_blocks: vec![0.0; p],
                    chol: Cholesky::new(n, 1),
                }
            }),
        }
    }

    /// Draws the data (`X = G L_xxᵀ`, `Y = X Aᵀ + G' L_wᵀ`, `g = Xθ⋆ + σε`), fits the ridge
    /// regression and evaluates the two metrics exactly.
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut SpuriousWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        self.draw_data(rng, ws);
        match (&self.rf, ws.rf.as_mut()) {
            (Some(rf), Some(rws)) => {
                (out[0], out[1]) = self.random_features_fit(rf, rng, &ws.z, &ws.g, rws)?;
            }
            _ => self.linear_fit(ws, out)?,
        }
        Ok(())
    }

    /// Linear features: the deterministic equivalent. Random features: the finite-width
    /// equivalent (averaged over draws of `W`, with its s.e.) for the predicted means, and
    /// beside it the paper's width → ∞ equivalent ridge (`*_wide`, `lambda_equivalent`).
    fn predict(&self) -> Result<Prediction> {
        let eq = self.equivalent(self.p.lambda, true)?;
        let mean = |metric: &str, value: f64, se: f64| MeanPrediction {
            metric: metric.into(),
            value,
            se,
            decisive: false,
        };
        let Some(rf) = &self.rf else {
            let (argmin_loss, argmax_c) = self.optima()?;
            let mut quantities = vec![
                Quantity::exact("tau", eq.tau),
                Quantity::exact("spurious_c", eq.c_direct),
                Quantity::exact("spurious_c_schur", eq.c_schur),
                Quantity::exact("excess_loss", eq.loss),
                Quantity::exact("df2", eq.df2),
            ];
            quantities.extend(optima_quantities(argmin_loss, argmax_c));
            return Ok(Prediction {
                model: "spurious-ridge".into(),
                quantities,
                means: vec![
                    mean("spurious_c", eq.c_direct, 0.0),
                    mean("excess_loss", eq.loss, 0.0),
                    mean("argmin_loss_lambda", argmin_loss, 0.0),
                    mean("argmax_c_lambda", argmax_c, 0.0),
                    mean(
                        "dc_dlog_lambda_at_loss_optimum",
                        self.c_slope(argmin_loss)?,
                        0.0,
                    ),
                    mean("dloss_dlog_lambda_at_loss_optimum", 0.0, 0.0),
                ],
                ..Default::default()
            });
        };
        let problems = self.width_problems(rf)?;
        let wide = self.width_equivalent(&problems, self.p.lambda)?;
        let (argmin_loss, argmax_c) =
            Self::optima_of(&|l| self.width_equivalent(&problems, l).map(|e| (e.c, e.loss)))?;
        let with_se = |name: &str, value: f64, se: f64| Quantity {
            name: name.into(),
            value,
            se: Some(se),
        };
        let mut quantities = vec![
            Quantity::exact("tau", wide.tau),
            with_se("spurious_c", wide.c, wide.c_se),
            with_se("excess_loss", wide.loss, wide.loss_se),
            Quantity::exact("lambda_equivalent", self.equivalent_ridge(self.p.lambda).0),
            Quantity::exact("spurious_c_wide", eq.c_direct),
            Quantity::exact("spurious_c_schur", eq.c_schur),
            Quantity::exact("excess_loss_wide", eq.loss),
            Quantity::exact("mu0", rf.mu0),
            Quantity::exact("mu1", rf.mu1),
            Quantity::exact("mu_star", rf.mu_star2.sqrt()),
        ];
        quantities.extend(optima_quantities(argmin_loss, argmax_c));
        let mut warnings = Vec::new();
        let spread = self.norm_spread();
        if rf.activation == Activation::Erf && spread > NORM_SPREAD {
            warnings.push(format!(
                "‖z‖²/(2d) spreads by {:.0}% (sd relative to its mean): erf is not positively homogeneous, so its slope μ₁ varies from sample to sample and the equivalence, which takes it at r, is off at small λ (ReLU is exempt)",
                100.0 * spread
            ));
        }
        if rf.width < WIDE * self.p.n {
            warnings.push(format!(
                "width = {} is {:.1}·n: the paper's equivalent ridge (the width → ∞ limit, `*_wide`) is off by the variance of the features; the predicted means use the finite-width equivalent",
                rf.width,
                rf.width as f64 / self.p.n as f64
            ));
        }
        Ok(Prediction {
            model: "spurious-ridge".into(),
            quantities,
            warnings,
            means: vec![
                mean("spurious_c", wide.c, wide.c_se),
                mean("excess_loss", wide.loss, wide.loss_se),
            ],
            ..Default::default()
        })
    }

    /// Each metric's mean within 3 s.e. + 2% of its deterministic equivalent (the s.e.
    /// combines the trials' and, for random features, the equivalent's own); and, for
    /// linear features where the equivalent predicts the paper's trade-off
    /// (`arg min L < arg max C`), the trials' own optima in that order.
    fn criteria(&self, prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        let mut criteria = self.equivalence_criteria(prediction, trials);
        if self.rf.is_none() && prediction.quantity("c_increasing_at_loss_optimum") == Some(1.0) {
            criteria.push(tradeoff_criterion(prediction, trials));
        }
        criteria
    }

    fn default_trials(&self) -> u64 {
        200
    }

    /// A trial holds the `n×2d` design and a `2d×2d` Gram matrix: O(n d²) to form it,
    /// O(d³) to solve. The prediction eigendecomposes `Σ` (O(d³)) at each of about 200 λ
    /// of the optimum searches.
    ///
    /// With random features of width `w`, a trial holds `W`, the n×w features, the n×n
    /// kernel and the w×w Gram matrix of the pre-activations: O(n w d) to form the
    /// features, O(n² w) for the kernel, O(w² d) for the Gram matrix.
    fn cost(&self) -> Cost {
        let (d, n) = (self.d as f64, self.p.n as f64);
        let p = 2.0 * d;
        if let Some(rf) = &self.rf {
            let w = rf.width as f64;
            return Cost {
                trial: Need::new(
                    super::doubles(n * (p + d + 1.0) + w * (3.0 * p + n + w + 6.0) + n * n),
                    2.0 * n * w * p
                        + n * n * w
                        + n * n * n / 3.0
                        + 4.0 * w * p * p
                        + w * w * (p + 30.0),
                    if w >= n { "width" } else { "n" },
                ),
                // Each draw of the finite-width equivalent forms W L (w×2d) and its 2d×2d
                // Gram matrix and eigendecomposes it.
                predict: Need::new(
                    super::doubles(2.0 * w * p + 6.0 * p * p),
                    THEORY_DRAWS as f64 * (2.0 * w * p * p + 10.0 * p * p * p)
                        + 250.0 * THEORY_DRAWS as f64 * p * 200.0,
                    if w >= p { "width" } else { "d" },
                ),
            };
        }
        Cost {
            trial: Need::new(
                super::doubles(n * (p + d + 1.0) + 2.0 * p * p + 4.0 * p),
                2.0 * n * p * p + p * p * p / 3.0 + 4.0 * n * d * d,
                if n >= p { "n" } else { "d" },
            ),
            predict: Need::new(super::doubles(4.0 * p * p), 250.0 * 10.0 * p * p * p, "d"),
        }
    }

    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        let mut labels = vec![
            ("d", serde_json::json!(self.d)),
            ("n", serde_json::json!(self.p.n)),
            ("lambda", serde_json::json!(self.p.lambda)),
        ];
        if let Some(rf) = &self.rf {
            labels.push(("width", serde_json::json!(rf.width)));
        }
        labels
    }
}

/// The paper's statement that `pretrainlab audit` tests: the deterministic equivalent of
/// both curves at the default instance.
pub const CLAIMS: &[Claim] = &[Claim {
    id: "spurious-ridge-equivalent",
    paper: "Bombari & Mondelli, Spurious Correlations in High Dimensional Regression, arXiv 2502.01347",
    location: "main result (the deterministic equivalent C^Σ(λ), via the Schur complement)",
    statement: "the learned spurious correlation and the excess loss of ridge regression concentrate on their deterministic equivalents",
    params: "",
    trials: 400,
    quick_trials: 100,
    test: crate::audit::ClaimTest::Generic,
}];

#[cfg(test)]
mod tests {
    use super::*;

    fn model(d: usize, n: usize, lambda: f64) -> SpuriousRidge {
        SpuriousRidge::new(SpuriousParams {
            d,
            n,
            lambda,
            ..Default::default()
        })
        .unwrap()
    }

    /// A correlated instance with full matrices.
    fn full(d: usize, n: usize, lambda: f64) -> SpuriousRidge {
        let sxx: Vec<Vec<f64>> = (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| 0.3f64.powi((i as i32 - j as i32).abs()) * 1.5)
                    .collect()
            })
            .collect();
        let a: Vec<Vec<f64>> = (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| {
                        if i == j {
                            0.5
                        } else {
                            0.1 / (1 + i + j) as f64
                        }
                    })
                    .collect()
            })
            .collect();
        SpuriousRidge::new(SpuriousParams {
            d,
            n,
            lambda,
            sigma_xx: MatrixSpec::Full(sxx),
            coupling: MatrixSpec::Full(a),
            spurious_noise: Some(MatrixSpec::Diagonal(
                (0..d).map(|i| 0.1 + i as f64 / d as f64).collect(),
            )),
            theta: ThetaSpec::Values((0..d).map(|i| ((i + 1) as f64).sin()).collect()),
            noise_var: 0.5,
            ..Default::default()
        })
        .unwrap()
    }

    /// The Schur form (Cholesky solves of the blocks) equals the direct form (the
    /// eigendecomposition of Σ), and τ solves its equation.
    #[test]
    fn schur_and_direct_forms_agree() {
        for m in [model(20, 60, 0.1), full(15, 25, 0.3), full(15, 200, 3.0)] {
            for lambda in [1e-3, 0.05, 1.0, 30.0] {
                let e = m.equivalent(lambda, true).unwrap();
                assert!(
                    (e.c_direct - e.c_schur).abs() <= 1e-10 * e.c_direct.abs().max(1e-12),
                    "{e:?}"
                );
                let df1: f64 = m.spectrum.iter().map(|&s| s / (s + e.tau)).sum();
                let lhs = e.tau * (1.0 - df1 / m.p.n as f64);
                assert!((lhs - lambda).abs() <= 1e-10 * lambda, "{lhs} vs {lambda}");
            }
        }
    }

    /// The bias and C from a direct solve θ̄ = (Σ + τI)⁻¹Σθ⋆ (no eigendecomposition).
    #[test]
    fn the_equivalent_matches_a_direct_solve() {
        let m = full(12, 40, 0.2);
        let e = m.equivalent(0.2, false).unwrap();
        let p = 2 * m.d;
        let theta_z = Mat::from_fn(p, 1, |i, _| if i < m.d { m.theta[i] } else { 0.0 });
        let shifted = &m.sigma + Mat::<f64>::identity(p, p) * faer::Scale(e.tau);
        let mut chol = Cholesky::new(p, 1);
        chol.factor(shifted.as_ref()).unwrap();
        let mut bar = &m.sigma * &theta_z;
        chol.solve_in_place(bar.as_mut());
        let c: f64 = (0..m.d)
            .map(|i| {
                bar[(m.d + i, 0)]
                    * (0..m.d)
                        .map(|j| m.sigma[(m.d + i, j)] * m.theta[j])
                        .sum::<f64>()
            })
            .sum();
        assert!((c - e.c_direct).abs() < 1e-10, "{c} vs {}", e.c_direct);
        let diff = &bar - &theta_z;
        let bias = (diff.transpose() * &m.sigma * &diff)[(0, 0)];
        let n = m.p.n as f64;
        let loss = (bias + m.p.noise_var * e.df2 / n) / (1.0 - e.df2 / n);
        assert!((loss - e.loss).abs() < 1e-10, "{loss} vs {}", e.loss);
    }

    /// C vanishes at both ends of λ when n > 2d (OLS is unbiased; strong ridge shrinks θ̂
    /// to 0), and the default instance has the paper's ordering: the λ minimising L lies
    /// where C still increases.
    #[test]
    fn c_vanishes_at_both_ends_and_the_tradeoff_holds_at_the_default() {
        let m = model(20, 200, 0.1);
        assert!(m.equivalent(1e-8, false).unwrap().c_direct.abs() < 1e-6);
        assert!(m.equivalent(1e8, false).unwrap().c_direct.abs() < 1e-6);
        let (argmin_loss, argmax_c) = model(100, 300, 0.1).optima().unwrap();
        assert!(argmin_loss < argmax_c, "{argmin_loss} vs {argmax_c}");
    }

    /// Simulation against the deterministic equivalent along λ at d = 60, n = 180 (200
    /// trials each): both means within 3 s.e. + 2% (the model's criteria).
    #[test]
    fn simulation_matches_the_equivalent_along_lambda() {
        for lambda in [0.03, 0.3, 3.0] {
            let m = model(60, 180, lambda);
            let check = crate::criteria::check(&m, 7, 200, &|_| {}).unwrap();
            assert_eq!(
                check.verdict(),
                "pass",
                "λ = {lambda}: {:?}",
                check.reasons()
            );
        }
    }

    /// `(C, L)` of ridge at `lambda` on a trial's data by a direct Cholesky solve of the
    /// normal equations (independent of the eigenbasis the trial uses).
    fn direct(m: &SpuriousRidge, ws: &SpuriousWorkspace, lambda: f64) -> (f64, f64) {
        let p = 2 * m.d;
        let n = m.p.n as f64;
        let gram = ws.z.transpose() * &ws.z * faer::Scale(1.0 / n)
            + Mat::<f64>::identity(p, p) * faer::Scale(lambda);
        let mut theta = ws.z.transpose() * &ws.g * faer::Scale(1.0 / n);
        let mut chol = Cholesky::new(p, 1);
        chol.factor(gram.as_ref()).unwrap();
        chol.solve_in_place(theta.as_mut());
        let target = Mat::from_fn(p, 1, |i, _| if i < m.d { m.theta[i] } else { 0.0 });
        let err = &theta - &target;
        let loss = (err.transpose() * &m.sigma * &err)[(0, 0)];
        let c: f64 = (0..p).map(|i| theta[(i, 0)] * m.directions[(i, 1)]).sum();
        (c, loss)
    }

    /// A linear trial's C and L (eigenbasis of its Gram matrix) equal a direct solve, its
    /// slopes at the predicted loss optimum equal central differences of direct solves,
    /// and its own arg min of L is a minimum of the direct L.
    #[test]
    fn a_linear_trial_matches_direct_solves() {
        use rand::SeedableRng;
        for (d, n) in [(10, 60), (15, 20)] {
            let m = model(d, n, 0.2);
            let mut ws = m.workspace();
            let mut out = [0.0; 6];
            m.trial(&mut ChaCha8Rng::seed_from_u64(4), 0, &mut ws, &mut out)
                .unwrap();
            let (c, loss) = direct(&m, &ws, 0.2);
            assert!(
                (c - out[0]).abs() < 1e-9 && (loss - out[1]).abs() < 1e-9,
                "{out:?}"
            );
            let h: f64 = 1e-5;
            let (lo, hi) = (m.loss_optimum * (-h).exp(), m.loss_optimum * h.exp());
            let ((c0, l0), (c1, l1)) = (direct(&m, &ws, lo), direct(&m, &ws, hi));
            let tol = |x: f64| 1e-6 * (1.0 + x.abs());
            assert!(
                ((c1 - c0) / (2.0 * h) - out[4]).abs() < tol(out[4]),
                "{out:?}"
            );
            assert!(
                ((l1 - l0) / (2.0 * h) - out[5]).abs() < tol(out[5]),
                "{out:?}"
            );
            let at = |l: f64| direct(&m, &ws, l).1;
            let best = at(out[2]);
            assert!(
                best <= at(out[2] * 1.05) && best <= at(out[2] / 1.05),
                "{out:?}"
            );
        }
    }

    /// The trade-off is a criterion only where the equivalent predicts it: not at n < 2d,
    /// where the measured slope of C at the loss optimum is negative as predicted (within
    /// 3 s.e., 200 trials).
    #[test]
    fn the_tradeoff_is_checked_only_where_predicted() {
        let m = model(60, 90, 0.1);
        let check = crate::criteria::check(&m, 8, 200, &|_| {}).unwrap();
        assert_eq!(
            check.prediction.quantity("c_increasing_at_loss_optimum"),
            Some(0.0)
        );
        assert!(
            check
                .criteria
                .iter()
                .all(|c| c.name != "c_increasing_at_loss_optimum")
        );
        let metric = "dc_dlog_lambda_at_loss_optimum";
        let predicted = check.prediction.mean(metric).unwrap().value;
        let measured = check.simulation.metric(metric).unwrap();
        assert!(predicted < 0.0, "{predicted}");
        assert!(
            (measured.mean - predicted).abs() < 3.0 * measured.se,
            "{measured:?} vs {predicted}"
        );
        let m = model(60, 180, 0.1);
        let check = crate::criteria::check(&m, 8, 200, &|_| {}).unwrap();
        let tradeoff = check
            .criteria
            .iter()
            .find(|c| c.name == "c_increasing_at_loss_optimum");
        assert!(tradeoff.is_some_and(|c| c.pass), "{:?}", check.reasons());
    }

    fn random(d: usize, n: usize, lambda: f64, width: usize, act: Activation) -> SpuriousRidge {
        SpuriousRidge::new(SpuriousParams {
            d,
            n,
            lambda,
            features: Features::Random,
            width: Some(width),
            activation: Some(act),
            ..Default::default()
        })
        .unwrap()
    }

    /// The ReLU kernel's Hermite series against its closed form on |ρ| ≤ 0.6.
    #[test]
    fn the_relu_series_matches_the_arc_cosine_kernel() {
        use std::f64::consts::PI;
        for i in 0..=120 {
            let rho = -0.6 + 0.01 * i as f64;
            let t = rho.acos();
            let exact = (t.sin() + (PI - t) * rho) / (2.0 * PI);
            assert!(
                (relu_series(rho) - exact).abs() < 1e-12,
                "{rho}: {}",
                relu_series(rho) - exact
            );
        }
    }

    /// The closed-form kernels, slopes and Hermite coefficients against Monte Carlo over
    /// 4·10⁵ Gaussian pairs (tolerance 5 s.e.).
    #[test]
    fn activation_kernels_match_monte_carlo() {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let samples = 400_000;
        for act in [Activation::Relu, Activation::Erf] {
            for (sa, sb, rho) in [(1.0, 1.0, 0.0), (0.7, 1.6, 0.45), (1.3, 0.5, -0.8)] {
                let (mut prod, mut prod2, mut slope) = (0.0, 0.0, 0.0);
                for _ in 0..samples {
                    let g1: f64 = StandardNormal.sample(&mut rng);
                    let g2: f64 = StandardNormal.sample(&mut rng);
                    let a = sa * g1;
                    let b = sb * (rho * g1 + (1.0f64 - rho * rho).sqrt() * g2);
                    let v = act.apply(a) * act.apply(b);
                    prod += v;
                    prod2 += v * v;
                    // E[σ'(a)] = E[σ(a)a]/sa² (Stein).
                    slope += act.apply(a) * a / (sa * sa);
                }
                let m = samples as f64;
                let mean = prod / m;
                let se = ((prod2 / m - mean * mean) / m).sqrt();
                let exact = act.kernel(rho * sa * sb, sa, sb);
                assert!(
                    (mean - exact).abs() < 5.0 * se,
                    "{act:?} {sa} {sb} {rho}: {mean} ± {se} vs {exact}"
                );
                let slope = slope / m;
                assert!(
                    (slope - act.slope(sa)).abs() < 0.01,
                    "{act:?} slope {slope} vs {}",
                    act.slope(sa)
                );
            }
            // μ⋆² is what the first two Hermite terms leave of E σ(rG)².
            let r = 1.3;
            let (mu0, mu1, ms2) = act.hermite(r);
            let (mut m0, mut m2) = (0.0, 0.0);
            for _ in 0..samples {
                let g: f64 = StandardNormal.sample(&mut rng);
                m0 += act.apply(r * g);
                m2 += act.apply(r * g).powi(2);
            }
            let m = samples as f64;
            assert!(
                (m0 / m - mu0).abs() < 0.01,
                "{act:?} μ₀ {} vs {mu0}",
                m0 / m
            );
            assert!((m2 / m - mu0 * mu0 - r * r * mu1 * mu1 - ms2).abs() < 0.01);
        }
    }

    /// A random-features trial's exact population C and L against a Monte Carlo test set
    /// of 2·10⁵ fresh points for the same fitted θ̂ and W (tolerance 5 s.e.).
    #[test]
    fn random_features_metrics_match_a_test_set() {
        use rand::SeedableRng;
        for act in [Activation::Relu, Activation::Erf] {
            let m = random(6, 40, 0.01, 150, act);
            let mut ws = m.workspace();
            let mut out = [0.0; 2];
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            m.trial(&mut rng, 0, &mut ws, &mut out).unwrap();
            let rws = ws.rf.as_ref().unwrap();
            let (d, p) = (m.d, 150);
            let predict = |z: &[f64]| {
                (0..p)
                    .map(|j| {
                        let h: f64 = (0..2 * d).map(|k| rws.w[(j, k)] * z[k]).sum();
                        rws.theta[(j, 0)] * act.apply(h)
                    })
                    .sum::<f64>()
                    / (p as f64).sqrt()
            };
            let (mut loss, mut loss2, mut cov, mut cov2) = (0.0, 0.0, 0.0, 0.0);
            let samples = 200_000;
            let mut test = ChaCha8Rng::seed_from_u64(12);
            let draw = |rng: &mut ChaCha8Rng| -> Vec<f64> {
                let g: Vec<f64> = (0..2 * d).map(|_| StandardNormal.sample(rng)).collect();
                let x: Vec<f64> = (0..d)
                    .map(|i| (0..=i).map(|j| m.chol_xx[(i, j)] * g[j]).sum())
                    .collect();
                let y: Vec<f64> = (0..d)
                    .map(|i| {
                        (0..d).map(|j| m.coupling[(i, j)] * x[j]).sum::<f64>()
                            + (0..=i).map(|j| m.chol_w[(i, j)] * g[d + j]).sum::<f64>()
                    })
                    .collect();
                [x, y].concat()
            };
            for _ in 0..samples {
                let z = draw(&mut test);
                let signal: f64 = (0..d).map(|i| z[i] * m.theta[i]).sum();
                let e = (predict(&z) - signal).powi(2);
                loss += e;
                loss2 += e * e;
                // C = Cov(f([x̃; y]), g): x̃ from an independent draw.
                let other = draw(&mut test);
                let mixed: Vec<f64> = other[..d].iter().chain(&z[d..]).copied().collect();
                let c = predict(&mixed) * signal;
                cov += c;
                cov2 += c * c;
            }
            let n = samples as f64;
            let se = |s: f64, s2: f64| ((s2 / n - (s / n).powi(2)) / n).sqrt();
            assert!(
                (loss / n - out[1]).abs() < 5.0 * se(loss, loss2),
                "{act:?} L {} vs {}",
                loss / n,
                out[1]
            );
            assert!(
                (cov / n - out[0]).abs() < 5.0 * se(cov, cov2),
                "{act:?} C {} vs {}",
                cov / n,
                out[0]
            );
        }
    }

    /// As the width grows the finite-width equivalent tends to the paper's equivalent
    /// ridge (its width → ∞ limit): within 1% at width 2·10⁵.
    #[test]
    fn the_finite_width_equivalent_tends_to_the_equivalent_ridge() {
        for act in [Activation::Relu, Activation::Erf] {
            let m = random(4, 40, 0.01, 200_000.min(MAX_WIDTH), act);
            let rf = m.rf.as_ref().unwrap();
            let problems = m.width_problems(rf).unwrap();
            let finite = m.width_equivalent(&problems, 0.01).unwrap();
            let wide = m.equivalent(0.01, true).unwrap();
            assert!(
                (finite.c - wide.c_direct).abs() < 0.01 * wide.c_direct,
                "{act:?} {finite:?} {wide:?}"
            );
            assert!(
                (finite.loss - wide.loss).abs() < 0.01 * wide.loss,
                "{act:?} {finite:?} {wide:?}"
            );
            assert!((wide.c_direct - wide.c_schur).abs() < 1e-10, "{wide:?}");
        }
    }

    /// Simulated random features against the finite-width equivalent (the model's
    /// criteria: 3 s.e. + 2%) at d = 25, n = 100, for both activations, a small and a large
    /// λ, and widths 5n and 10n (150 trials each). (erf at λ = 10⁻³ misses L by 9% here:
    /// the spread of ‖z‖ the prediction warns about.)
    #[test]
    fn random_features_simulation_matches_the_equivalent() {
        for (act, lambda, width) in [
            (Activation::Relu, 0.001, 500),
            (Activation::Erf, 0.1, 1000),
            (Activation::Relu, 0.1, 1000),
        ] {
            let m = random(25, 100, lambda, width, act);
            let check = crate::criteria::check(&m, 5, 150, &|_| {}).unwrap();
            assert_eq!(
                check.verdict(),
                "pass",
                "{act:?} λ = {lambda}: {:?}",
                check.reasons()
            );
        }
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let field = |p: SpuriousParams| match SpuriousRidge::new(p) {
            Err(Error::InvalidParameter { field, .. }) => field,
            other => panic!("expected an error, got {:?}", other.map(|_| ())),
        };
        let d = SpuriousParams::default;
        assert_eq!(field(SpuriousParams { lambda: 0.0, ..d() }), "lambda");
        assert_eq!(field(SpuriousParams { d: 5000, ..d() }), "d");
        assert_eq!(
            field(SpuriousParams {
                sigma_xx: MatrixSpec::Scalar(-1.0),
                ..d()
            }),
            "sigma_xx"
        );
        assert_eq!(
            field(SpuriousParams {
                coupling: MatrixSpec::Diagonal(vec![1.0; 3]),
                ..d()
            }),
            "coupling"
        );
        assert_eq!(
            field(SpuriousParams {
                spurious_noise: Some(MatrixSpec::Scalar(0.0)),
                ..d()
            }),
            "spurious_noise"
        );
        assert_eq!(
            field(SpuriousParams {
                theta: ThetaSpec::Pattern("x".into()),
                ..d()
            }),
            "theta"
        );
        assert_eq!(
            field(SpuriousParams {
                noise_var: f64::NAN,
                ..d()
            }),
            "noise_var"
        );
        assert_eq!(
            field(SpuriousParams {
                width: Some(10),
                ..d()
            }),
            "width"
        );
        assert_eq!(
            field(SpuriousParams {
                activation: Some(Activation::Erf),
                ..d()
            }),
            "activation"
        );
        let random = || SpuriousParams {
            features: Features::Random,
            ..d()
        };
        assert_eq!(
            field(SpuriousParams {
                width: Some(0),
                ..random()
            }),
            "width"
        );
        assert_eq!(
            field(SpuriousParams {
                width: Some(MAX_WIDTH + 1),
                ..random()
            }),
            "width"
        );
        assert_eq!(
            field(SpuriousParams {
                n: MAX_N_RANDOM + 1,
                ..random()
            }),
            "n"
        );
        let table: toml::Table = "features = \"random\"\nactivation = \"tanh\""
            .parse()
            .unwrap();
        match SpuriousRidge::build(table) {
            Err(Error::InvalidParameter { field, .. }) => assert_eq!(field, "activation"),
            other => panic!("expected an error, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn info_params_match_the_parameter_type() {
        crate::params::assert_describes::<SpuriousParams>(
            &SpuriousRidge::info().params,
            &["spurious_noise", "width", "activation"],
        );
    }
}
