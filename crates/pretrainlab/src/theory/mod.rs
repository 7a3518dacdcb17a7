//! Asymptotic theory of the two-stage estimator, generic over the model.
//!
//! A model describes itself in a chart `c ∈ ℝ^q` of the quotient manifold around the
//! true descriptor `Ω⋆` by three `q×q` matrices ([`TangentProblem`]):
//! - `H`, the Hessian of the population pre-training loss in the chart. At a critical
//!   point this is the Riemannian Hessian, curvature term included;
//! - `S`, the covariance of the per-sample score `∇_c ℓ(Ω(c); z)` at `c = 0`;
//! - `G = E_x[s(x) s(x)ᵀ]`, the Gram matrix of the first-order residual map
//!   `L(v)(x) = −s(x)ᵀv` in `L²(μ_down)`.
//!
//! From these, `√m ĉ ⇝ Z ~ N(0, V)` with `V = H⁻¹ S H⁻¹` (arXiv 2603.27631, eq. (4.2)),
//! and `‖L(Z)‖² = Zᵀ G Z` is a weighted χ² whose weights are the eigenvalues of
//! `V^{1/2} G V^{1/2}`. All quantities are chart-independent.

pub mod psd_chart;
pub mod spectral_single_index;
pub mod weighted_chisq;

use faer::Mat;
use faer::prelude::Solve;
use serde::Serialize;

pub use weighted_chisq::WeightedChiSquare;

use crate::linalg::{sqrt_psd, sym_eigen_desc};
use crate::{Error, Result};

/// The chart-level description of a model's pre-training and downstream geometry.
#[derive(Clone, Debug)]
pub struct TangentProblem {
    /// Chart Hessian of the population loss, `H`.
    pub hessian: Mat<f64>,
    /// Score covariance, `S`.
    pub score_cov: Mat<f64>,
    /// Gram matrix of the first-order map, `G`.
    pub residual_gram: Mat<f64>,
}

impl TangentProblem {
    /// `V = H⁻¹ S H⁻¹`. Fails with a clear message when `H` is singular, which means
    /// the model is not identifiable in this chart (typically: no eigengap).
    pub fn tangent_covariance(&self) -> Result<Mat<f64>> {
        let q = self.hessian.nrows();
        if q == 0 {
            return Ok(Mat::zeros(0, 0));
        }
        let (lambda, _) = sym_eigen_desc(self.hessian.as_ref())?;
        let (max, min) = (lambda[0].abs(), lambda[q - 1]);
        if min.is_nan() || min <= 1e-10 * max {
            return Err(Error::Numerical(format!(
                "the Hessian of the pre-training loss is not positive definite on the tangent space \
                 (smallest eigenvalue {min:.3e}, largest {max:.3e}): the model is not locally identifiable"
            )));
        }
        let lu = self.hessian.partial_piv_lu();
        let h_inv_s = lu.solve(&self.score_cov);
        let v = lu.solve(h_inv_s.transpose().to_owned());
        Ok(Mat::from_fn(q, q, |i, j| 0.5 * (v[(i, j)] + v[(j, i)])))
    }

    /// The weights of the weighted χ² law of `‖L(Z)‖²`: eigenvalues of
    /// `V^{1/2} G V^{1/2}`, descending, with round-off negatives clipped to zero.
    pub fn interaction_weights(&self) -> Result<Vec<f64>> {
        let v = self.tangent_covariance()?;
        let root = sqrt_psd(v.as_ref())?;
        let m = &root * &self.residual_gram * &root;
        let sym = Mat::from_fn(m.nrows(), m.ncols(), |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
        let (lambda, _) = sym_eigen_desc(sym.as_ref())?;
        Ok(lambda.into_iter().map(|l| l.max(0.0)).collect())
    }
}

/// A labelled number printed beside the generic theory, such as a paper's closed form.
#[derive(Clone, Debug, Serialize)]
pub struct Reference {
    pub label: String,
    pub value: f64,
}

/// Everything `predict` reports for one model at one `(m, n)`.
#[derive(Clone, Debug, Serialize)]
pub struct Prediction {
    pub model: String,
    /// `d_eff = rank Σ(Ω⋆)`, the dimension of the frozen function class.
    pub d_eff: usize,
    /// `d_base`, the dimension of the tangent of the full class `F` (downstream-only learning).
    pub d_base: usize,
    /// Downstream noise variance `σ²`.
    pub sigma2: f64,
    /// `E‖L(Z)‖²`, computed generically.
    pub interaction_mean: f64,
    /// Monte Carlo standard error of `interaction_mean` (0 when it is computed exactly).
    pub interaction_mean_se: f64,
    /// `Var ‖L(Z)‖² = 2 Σ wᵢ²`.
    pub interaction_var: f64,
    /// Weights of the weighted χ² law of `‖L(Z)‖²`, descending, zeros dropped.
    pub interaction_weights: Vec<f64>,
    /// The paper's closed form for `E‖L(Z)‖²`, where it gives one.
    pub paper_interaction_mean: Option<f64>,
    /// Crossover ratio `α0 = E‖L(Z)‖² / (σ²(d_base − d_eff))`: pre-training wins when `m/n > α0`.
    pub alpha0: Option<f64>,
    pub m: usize,
    pub n: usize,
    /// `α = m/n`.
    pub alpha: f64,
    /// Mean of the limit law, `σ² d_eff + E‖L(Z)‖²/α`.
    pub limit_mean: f64,
    /// Whether the finite-`n` means below are exact (Gaussian downstream features) or
    /// estimated to first order in `1/n` from the features' moments.
    pub finite_n_exact: bool,
    /// How the finite-`n` means were obtained, in words.
    pub finite_n_method: &'static str,
    /// `E[n·Var_n]` at this `n` (see [`Theory::finite_n_parts`]).
    pub n_var_mean: f64,
    /// Monte Carlo standard error of `n_var_mean` (0 when exact).
    pub n_var_mean_se: f64,
    /// `E[n·Leakage_n]` at this `n` (see [`Theory::finite_n_parts`]).
    pub n_leak_mean: f64,
    /// Monte Carlo standard error of `n_leak_mean` (0 when exact).
    pub n_leak_mean_se: f64,
    /// `E[n(R − σ²)]` at this `(m, n)` with the finite-`n` downstream terms:
    /// `n_var_mean + n_leak_mean + E‖L(Z)‖²/α`. The O(1/m) bias of `m·Rep` is not in it.
    pub finite_n_mean: f64,
    /// Quantiles (levels of [`crate::stats::LEVELS`]) of `‖L(Z)‖²`.
    pub interaction_quantiles: [f64; 5],
    /// Other labelled reference values (prior-art bounds and the like).
    pub references: Vec<Reference>,
    /// Limit mean of the model's extra per-trial quantity (labelled with its name),
    /// where the theory predicts one.
    pub extra_limit: Option<Reference>,
}

impl Prediction {
    /// Standard error of `finite_n_mean`: the Monte Carlo errors of `E‖L(Z)‖²/α` and of
    /// the two finite-`n` terms, in quadrature.
    pub fn finite_n_mean_se(&self) -> f64 {
        let rep = self.interaction_mean_se / self.alpha;
        (rep * rep + self.n_var_mean_se.powi(2) + self.n_leak_mean_se.powi(2)).sqrt()
    }
}

/// The model-level ingredients of a [`Prediction`] that do not depend on `(m, n)`.
#[derive(Clone, Debug)]
pub struct Theory {
    pub model: String,
    pub d_eff: usize,
    pub d_base: usize,
    pub sigma2: f64,
    pub law: WeightedChiSquare,
    /// Monte Carlo standard error of the law's mean (0 when the law is exact).
    pub interaction_mean_se: f64,
    pub paper_interaction_mean: Option<f64>,
    pub references: Vec<Reference>,
    /// Limit mean of the model's extra per-trial quantity (labelled with its name),
    /// where the theory predicts one.
    pub extra_limit: Option<Reference>,
    /// The moments of the downstream features that fix the finite-`n` means of the
    /// variance and leakage parts.
    pub design: DesignMoments,
}

/// The two moments of the downstream features `ψ ∈ ℝᵖ` (`p = d_eff`, `Σ = E ψψᵀ`,
/// `q(x) = ψ(x)ᵀΣ⁻¹ψ(x)`, the whitened squared norm) that the finite-`n` downstream means
/// need, per unit of `‖L(Z)‖²` where it enters:
///
/// - `κ = E[q²]`, the fourth moment of the whitened features (`p² + 2p` for Gaussian ones);
/// - `λ = E[q(x)·s(x)ᵀV s(x)]`, the leakage weight: the mean of `‖L(Z)‖²`'s density
///   `s(x)ᵀVs(x)` weighted by `q` (`p·E‖L(Z)‖²` when the residual is independent of the
///   features, as for Gaussian ones).
#[derive(Clone, Copy, Debug, Serialize)]
pub enum DesignMoments {
    /// Gaussian features: the finite-`n` means are exact (inverse-Wishart moments).
    Gaussian,
    /// Moments estimated by Monte Carlo, with their standard errors.
    Estimated {
        kurtosis: f64,
        kurtosis_se: f64,
        leak_weight: f64,
        leak_weight_se: f64,
    },
}

/// The finite-`n` downstream means of one [`Prediction`].
struct FiniteN {
    var: f64,
    var_se: f64,
    leak: f64,
    leak_se: f64,
    exact: bool,
}

impl Theory {
    /// Evaluates the limit at sample sizes `m` (pre-training) and `n` (downstream).
    pub fn at(&self, m: usize, n: usize) -> Prediction {
        let alpha = m as f64 / n as f64;
        let mean = self.law.mean();
        let spare = self.d_base.saturating_sub(self.d_eff);
        let alpha0 = (spare > 0 && self.sigma2 > 0.0).then(|| mean / (self.sigma2 * spare as f64));
        let fin = self.finite_n_parts(n, alpha, mean);
        let weights: Vec<f64> = self
            .law
            .weights()
            .iter()
            .copied()
            .filter(|&w| w > 0.0)
            .collect();
        Prediction {
            model: self.model.clone(),
            d_eff: self.d_eff,
            d_base: self.d_base,
            sigma2: self.sigma2,
            interaction_mean: mean,
            interaction_mean_se: self.interaction_mean_se,
            interaction_var: self.law.variance(),
            interaction_weights: weights,
            paper_interaction_mean: self.paper_interaction_mean,
            alpha0,
            m,
            n,
            alpha,
            limit_mean: self.sigma2 * self.d_eff as f64 + mean / alpha,
            finite_n_exact: fin.exact,
            finite_n_method: if fin.exact {
                "exact: inverse-Wishart means of Gaussian features"
            } else {
                "first order in 1/n from Monte Carlo moments of the features"
            },
            n_var_mean: fin.var,
            n_var_mean_se: fin.var_se,
            n_leak_mean: fin.leak,
            n_leak_mean_se: fin.leak_se,
            finite_n_mean: fin.var + fin.leak + mean / alpha,
            interaction_quantiles: crate::stats::LEVELS.map(|p| self.law.quantile(p)),
            references: self.references.clone(),
            extra_limit: self.extra_limit.clone(),
        }
    }

    /// `E[n·Var_n]` and `E[n·Leakage_n]` at `n`, given `α` and `E‖L(Z)‖²`.
    ///
    /// With `F_n = (1/n) Σ ψᵢψᵢᵀ` and `A = Σ^{-1/2} F_n Σ^{-1/2} = I + E`,
    /// `n·Var_n = σ² tr(Σ F_n⁻¹) = σ² tr A⁻¹`, and `tr A⁻¹ = p − tr E + tr E² − …` with
    /// `E[tr E] = 0`, `E[tr E²] = (κ − p)/n`. So
    ///
    /// ```text
    /// E[n·Var_n]     = σ² (p + (κ − p)/(n − p − 1))
    /// E[n·Leakage_n] = λ / (α (n − p − 1))
    /// ```
    ///
    /// For Gaussian features (`κ = p² + 2p`, `λ = p E‖L(Z)‖²`) both are exact: `F_n` is a
    /// scaled Wishart, `E[tr(Σ F_n⁻¹)] = n p/(n − p − 1)`, and the population residual
    /// `e` is independent of the features with variance `Rep`, so
    /// `E[Leakage_n | Z] = Rep·tr(Σ (ΨᵀΨ)⁻¹)`. Otherwise they are right to first order in
    /// `1/n` (the leakage from `δ ≈ Σ⁻¹(1/n)Σ ψᵢeᵢ` and `E[e² | x] = s(x)ᵀVs(x)/m`);
    /// the `n − p − 1` keeps them exact in the Gaussian case. Below `n = p + 2` the limits.
    fn finite_n_parts(&self, n: usize, alpha: f64, rep_mean: f64) -> FiniteN {
        let p = self.d_eff as f64;
        let spare = n as f64 - p - 1.0;
        let (kurtosis, kurtosis_se, leak_weight, leak_weight_se, exact) = match self.design {
            DesignMoments::Gaussian => (p * p + 2.0 * p, 0.0, p * rep_mean, 0.0, true),
            DesignMoments::Estimated {
                kurtosis,
                kurtosis_se,
                leak_weight,
                leak_weight_se,
            } => (kurtosis, kurtosis_se, leak_weight, leak_weight_se, false),
        };
        if spare <= 0.0 {
            return FiniteN {
                var: self.sigma2 * p,
                var_se: 0.0,
                leak: 0.0,
                leak_se: 0.0,
                exact: false,
            };
        }
        FiniteN {
            var: self.sigma2 * (p + (kurtosis - p) / spare),
            var_se: self.sigma2 * kurtosis_se / spare,
            leak: leak_weight / (alpha * spare),
            leak_se: leak_weight_se / (alpha * spare),
            exact,
        }
    }

    /// CDF of the limit law of `n(R − σ²)`: `σ² d_eff + ‖L(Z)‖²/α`.
    pub fn limit_cdf(&self, alpha: f64, x: f64) -> f64 {
        self.law.cdf(alpha * (x - self.sigma2 * self.d_eff as f64))
    }
}
