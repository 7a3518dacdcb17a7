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
    /// the limits.
    pub finite_n_exact: bool,
    /// `E[n·Var_n]` at this `n`: `σ² p n/(n − p − 1)` with `p = d_eff` for Gaussian
    /// features (the inverse-Wishart mean), else the limit `σ² d_eff`.
    pub n_var_mean: f64,
    /// `E[n·Leakage_n]` at this `n`: `p E‖L(Z)‖² / (α (n − p − 1))` for Gaussian features
    /// (the population residual is independent of the features), else the limit 0.
    pub n_leak_mean: f64,
    /// `E[n(R − σ²)]` at this `(m, n)` with the exact finite-`n` downstream terms:
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
    /// Whether the downstream features `W x` are Gaussian (a Gaussian design), which makes
    /// the finite-`n` means of the variance and leakage parts exact.
    pub gaussian_features: bool,
}

impl Theory {
    /// Evaluates the limit at sample sizes `m` (pre-training) and `n` (downstream).
    pub fn at(&self, m: usize, n: usize) -> Prediction {
        let alpha = m as f64 / n as f64;
        let mean = self.law.mean();
        let spare = self.d_base.saturating_sub(self.d_eff);
        let alpha0 = (spare > 0 && self.sigma2 > 0.0).then(|| mean / (self.sigma2 * spare as f64));
        let (n_var_mean, n_leak_mean, exact) = self.finite_n_parts(n, mean / alpha);
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
            finite_n_exact: exact,
            n_var_mean,
            n_leak_mean,
            finite_n_mean: n_var_mean + n_leak_mean + mean / alpha,
            interaction_quantiles: crate::stats::LEVELS.map(|p| self.law.quantile(p)),
            references: self.references.clone(),
            extra_limit: self.extra_limit.clone(),
        }
    }

    /// `(E[n·Var_n], E[n·Leakage_n], exact)` at `n`, given the mean `rep = E[n·Rep]`.
    ///
    /// For Gaussian features `z = W x ∈ ℝᵖ` (`p = d_eff`) and `n > p + 1`, conditionally on
    /// the representation: `F_n = (1/n) Σ zᵢzᵢᵀ ~ Wishart_p(n, F)/n`, so
    /// `E[tr(F F_n⁻¹)] = n p/(n − p − 1)` and `E[n·Var_n] = σ² n p/(n − p − 1)`. The
    /// population residual `e = w⋆ᵀx − βᵀz` is uncorrelated with `z`, hence independent
    /// of it, with variance `Rep`; so `E[Leakage_n | Z] = Rep·tr(F (ZᵀZ)⁻¹)` and
    /// `E[n·Leakage_n] = p·E[n·Rep]/(n − p − 1)`. Otherwise the limits `σ² d_eff` and 0.
    fn finite_n_parts(&self, n: usize, rep: f64) -> (f64, f64, bool) {
        let p = self.d_eff as f64;
        let n_f = n as f64;
        if self.gaussian_features && n_f > p + 1.0 {
            let spare = n_f - p - 1.0;
            (self.sigma2 * n_f * p / spare, p * rep / spare, true)
        } else {
            (self.sigma2 * p, 0.0, false)
        }
    }

    /// CDF of the limit law of `n(R − σ²)`: `σ² d_eff + ‖L(Z)‖²/α`.
    pub fn limit_cdf(&self, alpha: f64, x: f64) -> f64 {
        self.law.cdf(alpha * (x - self.sigma2 * self.d_eff as f64))
    }
}
