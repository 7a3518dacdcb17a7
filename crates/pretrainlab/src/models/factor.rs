//! The factor model with PPCA pre-training (Tinati & Tu, arXiv 2603.27631, §6.2).
//!
//! Data: `x = A h + μ`, `h ~ N(0, I_k)`, `μ ~ N(0, I_d)`, so `x ~ N(0, Σ_x)` with
//! `Σ_x = I + AAᵀ`. Here `A = [diag(√s); 0]`, so the `sᵢ` are the non-zero eigenvalues
//! of `AAᵀ`. Downstream: `y = βᵀh + ν`, `ν ~ N(0, σ_ν²)`, hence
//! `f⋆(x) = w⋆ᵀx` with `w⋆ = Σ_x⁻¹Aβ` and `σ² = σ_ν² + βᵀ(I_k + AᵀA)⁻¹β`.
//!
//! Pre-training is the Gaussian MLE over `A` (probabilistic PCA): from the sample
//! covariance `S_m`, `Â = Û_k diag(√(λ̂ᵢ − 1)₊)`. The descriptor is `M = AAᵀ` on
//! `M_{d,k}`, with symmetry `A ↦ AQ`, `Q ∈ O(k)`. Features are
//! `ψ(x, A) = W(A)x`, `W(A) = Aᵀ(I + AAᵀ)⁻¹ = (I_k + AᵀA)⁻¹Aᵀ`, the posterior mean of `h`.
//!
//! Both stages depend on the data only through `S_m` and `S_n`, which the default
//! sampler draws directly from their Wishart laws.

use crate::audit::{Claim, ClaimTest};
use faer::linalg::solvers::DenseSolveCore;
use faer::prelude::ReborrowMut;
use faer::prelude::Solve;
use faer::{Accum, Mat, MatRef, Side};
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Sizes;
use super::{TrialRecord, TwoStageModel};
use crate::budget::Cost;
use crate::downstream::{DownstreamScratch, LinearTask};
use crate::krylov::BlockKrylov;
use crate::linalg::{
    Cholesky, CovarianceDraw, Eigh, Sampler, add_identity, bartlett_factor, cholesky_lower,
    frobenius_gram, lower_mul, lower_t_mul, mul_into, rank_psd, sym_eigen_desc,
};
use crate::params::{
    ModelInfo, check_nonnegative, check_rank, check_size_above, check_vector, describe,
};
use crate::theory::psd_chart::{PsdModel, tangent_problem};
use crate::theory::{Theory, WeightedChiSquare};
use crate::{Error, Result};

/// Parameters of the factor model. Missing vectors take defaults of length `k`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FactorParams {
    pub d: usize,
    pub k: usize,
    /// Eigenvalues `sᵢ > 0` of `AAᵀ` (factor strengths); default: geometric from 4 to 1/4.
    pub strengths: Option<Vec<f64>>,
    /// Downstream coefficients on the factors; default: ones.
    pub beta: Option<Vec<f64>>,
    /// Variance `σ_ν²` of the downstream label noise.
    pub noise_var: f64,
}

impl Default for FactorParams {
    fn default() -> Self {
        FactorParams {
            d: 5,
            k: 2,
            strengths: None,
            beta: None,
            noise_var: 1.0,
        }
    }
}

/// Default strengths: `k` values geometric from 4 down to 1/4 (`[4]` when `k = 1`).
fn default_strengths(k: usize) -> Vec<f64> {
    if k == 1 {
        return vec![4.0];
    }
    (0..k)
        .map(|i| 4.0 * (1.0f64 / 16.0).powf(i as f64 / (k - 1) as f64))
        .collect()
}

/// The factor model, ready to simulate.
#[derive(Clone, Debug)]
pub struct FactorModel {
    d: usize,
    k: usize,
    strengths: Vec<f64>,
    beta: Vec<f64>,
    noise_var: f64,
    a: Mat<f64>,
    chol: Mat<f64>,
    /// The diagonal of `Σ_x^{1/2}` (`Σ_x` is diagonal in this parametrisation).
    sigma_root: Vec<f64>,
    /// `[I_k; 0]`: the top `k` eigenvectors of `Σ_x`, where the Krylov iteration starts.
    krylov_start: Mat<f64>,
    task: LinearTask,
}

/// Per-worker buffers.
pub struct FactorWorkspace {
    draw: CovarianceDraw,
    s_m: Mat<f64>,
    s_n: Mat<f64>,
    a_hat: Mat<f64>,
    eigh: Eigh,
    features: PpcaFeatures,
    down: DownstreamScratch,
    projected: ProjectedWorkspace,
}

/// Relative residual `‖S_m x − λ̂x‖ ≤ tol·λ̂₁` at which the projected sampler's Krylov
/// eigenpairs are accepted. With eigengaps of at least 1% of `λ̂₁` the angle to each exact
/// eigenvector is below 10⁻⁸, which moves `m·Rep` by a relative `O(10⁻⁸√m)`, far below
/// its Monte Carlo error.
pub const KRYLOV_TOL: f64 = 1e-10;

/// The largest Krylov basis, in blocks of `k` vectors, before the projected sampler falls
/// back to the dense eigendecomposition.
const KRYLOV_MAX_BLOCKS: usize = 30;

/// Buffers of the projected sampler: the Bartlett factor of the pre-training Wishart and
/// the Krylov solver working through it.
struct ProjectedWorkspace {
    /// `L`, lower triangular, with `L Lᵀ ~ Wishart(m, I_d)`.
    bartlett: Mat<f64>,
    /// `None` where the Krylov basis would fill too much of the space (small `d/k`).
    krylov: Option<BlockKrylov>,
    /// Two d×k temporaries of the operator `S_m v`.
    tmp: Mat<f64>,
    tmp2: Mat<f64>,
    /// Trials of this worker whose eigenpairs came from the Krylov solver.
    krylov_trials: u64,
}

impl ProjectedWorkspace {
    fn new(d: usize, k: usize) -> Self {
        let blocks = (d / (2 * k)).min(KRYLOV_MAX_BLOCKS);
        ProjectedWorkspace {
            bartlett: Mat::zeros(d, d),
            krylov: (blocks >= 4).then(|| BlockKrylov::new(d, k, blocks, KRYLOV_TOL)),
            tmp: Mat::zeros(d, k),
            tmp2: Mat::zeros(d, k),
            krylov_trials: 0,
        }
    }
}

impl FactorModel {
    pub fn new(p: FactorParams) -> Result<Self> {
        let (d, k) = (p.d, p.k);
        check_rank(k, d)?;
        let strengths = p.strengths.unwrap_or_else(|| default_strengths(k));
        check_vector("strengths", &strengths, k, true)?;
        let beta = p.beta.unwrap_or_else(|| vec![1.0; k]);
        check_vector("beta", &beta, k, false)?;
        check_nonnegative("noise_var", p.noise_var)?;
        let a = Mat::from_fn(d, k, |i, j| if i == j { strengths[j].sqrt() } else { 0.0 });
        let sigma_x = Mat::<f64>::identity(d, d) + &a * a.transpose();
        let chol = cholesky_lower(sigma_x.as_ref(), "strengths")?;
        let w_star = sigma_x
            .llt(Side::Lower)
            .map_err(|_| Error::Numerical("Σ_x".into()))?
            .solve(&a * beta_col(&beta));
        let posterior = Mat::<f64>::identity(k, k) + a.transpose() * &a;
        let b = beta_col(&beta);
        let sigma2 = p.noise_var
            + (b.transpose() * posterior.llt(Side::Lower).expect("SPD").solve(&b))[(0, 0)];
        let sigma_root = (0..d).map(|i| sigma_x[(i, i)].sqrt()).collect();
        Ok(FactorModel {
            sigma_root,
            krylov_start: Mat::from_fn(d, k, |i, j| if i == j { 1.0 } else { 0.0 }),
            d,
            k,
            strengths,
            beta,
            noise_var: p.noise_var,
            a,
            chol,
            task: LinearTask {
                sigma: sigma_x,
                w_star,
                sigma2,
            },
        })
    }

    /// The resolved parameters (defaults filled in).
    pub fn params(&self) -> FactorParams {
        FactorParams {
            d: self.d,
            k: self.k,
            strengths: Some(self.strengths.clone()),
            beta: Some(self.beta.clone()),
            noise_var: self.noise_var,
        }
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "factor",
            summary: "factor model x = A h + μ, PPCA pre-training, downstream y = βᵀh + ν",
            source: "Tinati & Tu, \"On the Asymptotics of Self-Supervised Pre-training: Two-Stage M-Estimation and Representation Symmetry\", arXiv 2603.27631, Sec. 6.2 (Corollary 6.4)",
            params: describe::<FactorParams>(
                &[
                    ("d", "ambient dimension (d > k)"),
                    ("k", "number of factors, 1 ≤ k < d"),
                    (
                        "strengths",
                        "eigenvalues s_i > 0 of A Aᵀ, A = [diag(√s); 0]",
                    ),
                    ("beta", "downstream coefficients: y = βᵀh + ν"),
                    ("noise_var", "variance σ_ν² ≥ 0 of the downstream noise ν"),
                ],
                &[
                    ("strengths", "k values geometric from 4 to 0.25"),
                    ("beta", "ones(k)"),
                ],
            ),
        }
    }

    pub fn task(&self) -> &LinearTask {
        &self.task
    }

    /// The paper's Corollary 6.4: `E‖L(Z)‖² = (d−k)‖(I + Σ⋆)^{-1/2} U₁ᵀAβ‖²`, with
    /// `Σ⋆, U₁` the top-`k` eigenpairs of `AAᵀ`.
    fn paper_interaction_mean(&self) -> Result<f64> {
        let (lambda, u) = sym_eigen_desc((&self.a * self.a.transpose()).as_ref())?;
        let proj = u.subcols(0, self.k).transpose() * &self.a * beta_col(&self.beta);
        Ok((self.d - self.k) as f64
            * (0..self.k)
                .map(|i| proj[(i, 0)].powi(2) / (1.0 + lambda[i]))
                .sum::<f64>())
    }
}

/// The paper's statements about this model that `pretrainlab audit` tests, at the
/// default instance (m = 2·10⁴, n = 10⁴).
pub const CLAIMS: &[Claim] = &[
    Claim {
        id: "factor-cor-6.4",
        paper: "Tinati & Tu, On the Asymptotics of Self-Supervised Pre-training, arXiv 2603.27631",
        location: "Corollary 6.4",
        statement: "E‖L(Z)‖² = (d − k)‖(I + Σ⋆)^(-1/2) U₁ᵀAβ‖², the mean of m·Rep",
        params: "m = 20000\nn = 10000",
        trials: 2000,
        quick_trials: 400,
        test: ClaimTest::PaperForm {
            reference: "paper_interaction_mean",
            metric: "m_rep",
        },
    },
    Claim {
        id: "factor-law",
        paper: "Tinati & Tu, On the Asymptotics of Self-Supervised Pre-training, arXiv 2603.27631",
        location: "Theorem 5.1 (arXiv v1: Theorem 5.2)",
        statement: "n(R − σ²) converges in law to σ² d_eff + ‖L(Z)‖²/α, with ‖L(Z)‖² the weighted χ² of the tangent problem",
        params: "m = 20000\nn = 10000",
        trials: 2000,
        quick_trials: 400,
        test: ClaimTest::Generic,
    },
];

/// Smallest eigengap, in sampling standard deviations, below which `predict` warns that
/// the asymptotics are not yet accurate (the neglected terms are then above 4%).
pub const MIN_SEPARATION: f64 = 5.0;

fn beta_col(beta: &[f64]) -> Mat<f64> {
    Mat::from_fn(beta.len(), 1, |i, _| beta[i])
}

/// PPCA feature map `W(A) = (I_k + AᵀA)⁻¹Aᵀ`.
pub fn ppca_features(a: MatRef<'_, f64>) -> Mat<f64> {
    PpcaFeatures::new(a.nrows(), a.ncols())
        .compute(a)
        .to_owned()
}

/// Reusable buffers of the PPCA feature map for `k` factors in dimension `d`.
#[derive(Clone, Debug)]
pub struct PpcaFeatures {
    /// `I_k + AᵀA`.
    gram: Mat<f64>,
    chol: Cholesky,
    /// `W(A)` (k×d).
    w: Mat<f64>,
}

impl PpcaFeatures {
    pub fn new(d: usize, k: usize) -> Self {
        PpcaFeatures {
            gram: Mat::zeros(k, k),
            chol: Cholesky::new(k, d),
            w: Mat::zeros(k, d),
        }
    }

    /// `W(A) = (I_k + AᵀA)⁻¹Aᵀ` by a Cholesky solve, for loadings `a` (d×k).
    pub fn compute(&mut self, a: MatRef<'_, f64>) -> MatRef<'_, f64> {
        mul_into(self.gram.as_mut(), Accum::Replace, a.transpose(), a, 1.0);
        add_identity(self.gram.as_mut());
        self.chol
            .factor(self.gram.as_ref())
            .expect("I + AᵀA is positive definite");
        self.w.copy_from(a.transpose());
        self.chol.solve_in_place(self.w.as_mut());
        self.w.as_ref()
    }
}

/// PPCA fit from a sample covariance: `Â = Û_k diag(√(λ̂ᵢ − 1)₊)` (Tipping & Bishop;
/// arXiv 2603.27631, Lemma I.1, with unit noise variance known). `eigh` has the
/// dimension of `s_m`.
pub fn ppca_fit(
    s_m: MatRef<'_, f64>,
    k: usize,
    eigh: &mut Eigh,
    mut out: faer::MatMut<'_, f64>,
) -> Result<()> {
    eigh.compute(s_m)?;
    let (lambda, u) = (eigh.values(), eigh.vectors());
    for j in 0..k {
        let scale = (lambda[j] - 1.0).max(0.0).sqrt();
        for i in 0..s_m.nrows() {
            out[(i, j)] = u[(i, j)] * scale;
        }
    }
    Ok(())
}

impl TwoStageModel for FactorModel {
    type Workspace = FactorWorkspace;
    type Params = FactorParams;

    fn from_params(p: FactorParams) -> Result<Self> {
        Self::new(p)
    }

    fn model_info() -> ModelInfo {
        Self::info()
    }

    fn name(&self) -> &'static str {
        "factor"
    }

    fn workspace(&self) -> FactorWorkspace {
        FactorWorkspace {
            draw: CovarianceDraw::new(self.d),
            s_m: Mat::zeros(self.d, self.d),
            s_n: Mat::zeros(self.d, self.d),
            a_hat: Mat::zeros(self.d, self.k),
            eigh: Eigh::new(self.d),
            features: PpcaFeatures::new(self.d, self.k),
            down: DownstreamScratch::new(self.k, self.d),
            projected: ProjectedWorkspace::new(self.d, self.k),
        }
    }

    fn check_sizes(&self, m: usize, n: usize) -> Result<()> {
        check_size_above("m", m, self.k, "k")?;
        check_size_above("n", n, self.k, "k")
    }

    fn samplers() -> &'static [Sampler] {
        &[Sampler::Projected, Sampler::Wishart, Sampler::Raw]
    }

    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        spec: &Sizes,
        ws: &mut FactorWorkspace,
    ) -> std::result::Result<TrialRecord, String> {
        if spec.sampler == Sampler::Projected && spec.m >= self.d {
            return self.projected_trial(rng, spec, ws);
        }
        ws.draw.draw(
            rng,
            spec.sampler,
            spec.m,
            self.chol.as_ref(),
            ws.s_m.as_mut(),
        );
        ppca_fit(ws.s_m.as_ref(), self.k, &mut ws.eigh, ws.a_hat.as_mut())
            .map_err(|e| e.to_string())?;
        let w = ws.features.compute(ws.a_hat.as_ref());
        ws.draw.draw(
            rng,
            spec.sampler,
            spec.n,
            self.chol.as_ref(),
            ws.s_n.as_mut(),
        );
        let parts = self
            .task
            .risk_parts(w, ws.s_n.as_ref(), spec.n, &mut ws.down)
            .map_err(|e| e.to_string())?;
        Ok(TrialRecord::from_parts(parts, spec.m, spec.n, None))
    }

    /// The expansion behind the limit needs each signal eigenvalue `λᵢ = 1 + sᵢ` of `Σ_x`
    /// separated from its neighbours (the noise bulk at 1 below `λ_k`) by much more than
    /// its sampling fluctuation `λᵢ √(2/m)`. With `r = minᵢ gapᵢ √(m/2) / λᵢ`, the
    /// neglected terms are of relative size about `1/r²`; below [`MIN_SEPARATION`] that
    /// is a warning.
    fn regime(&self, sizes: &Sizes) -> Vec<String> {
        let mut lambda: Vec<f64> = self.strengths.iter().map(|s| 1.0 + s).collect();
        lambda.sort_by(|a, b| b.total_cmp(a));
        lambda.push(1.0);
        let r = (0..self.k)
            .map(|i| {
                let below = lambda[i] - lambda[i + 1];
                let above = if i == 0 {
                    f64::INFINITY
                } else {
                    lambda[i - 1] - lambda[i]
                };
                below.min(above) * (sizes.m as f64 / 2.0).sqrt() / lambda[i]
            })
            .fold(f64::INFINITY, f64::min);
        if r >= MIN_SEPARATION {
            return Vec::new();
        }
        vec![format!(
            "the smallest eigengap of Σ_x is only {r:.2} sampling standard deviations at m = {}; \
             the asymptotics need ≫ 1, so expect m·Rep and the excess risk to deviate from \
             their limits by about {:.0}% (1/r²): increase m or separate the strengths",
            sizes.m,
            100.0 / (r * r)
        )]
    }

    fn cost(&self, sizes: &Sizes) -> Cost {
        let trial = if sizes.sampler == Sampler::Projected && sizes.m >= self.d {
            self.projected_cost()
        } else {
            super::covariance_trial(self.d, 12.0, sizes, 0.0)
        };
        Cost {
            trial,
            predict: super::tangent_theory(self.d, self.k),
        }
    }

    fn theory(&self) -> Result<Theory> {
        let weights = tangent_problem(self)?.interaction_weights()?;
        let law = WeightedChiSquare::new(&weights).map_err(Error::Numerical)?;
        let w_star_features = ppca_features(self.a.as_ref());
        let feature_cov = &w_star_features * &self.task.sigma * w_star_features.transpose();
        Ok(Theory {
            model: "factor".into(),
            d_eff: rank_psd(feature_cov.as_ref())?,
            d_base: self.d,
            sigma2: self.task.sigma2,
            law,
            design: crate::theory::DesignMoments::Gaussian,
            interaction_mean_se: 0.0,
            paper_interaction_mean: Some(self.paper_interaction_mean()?),
            references: vec![],
            extra_limit: None,
        })
    }
}

impl FactorModel {
    /// One trial under the projected sampler, exact in law, in `O(d²k)` work.
    ///
    /// Pre-training: `m S_m = C L Lᵀ Cᵀ` with `C = Σ_x^{1/2}`, which is diagonal here
    /// (`Σ_x = I + AAᵀ` with `A = [diag(√s); 0]`), and `L` the Bartlett factor of
    /// `Wishart(m, I_d)`; `S_m` is never formed. Its top `k` eigenpairs come from
    /// [`BlockKrylov`] applied through the factors, `S_m v = C(L(Lᵀ(Cv)))/m`, started from
    /// the population eigenvectors `e₁, …, e_k`. Where the Krylov basis does not converge
    /// (or `d/k` is too small for it to pay), `S_m` is formed from the same `L` and
    /// decomposed densely, so the trial stays exact either way.
    ///
    /// Downstream: [`LinearTask::risk_parts_projected`] draws the `(k+1)`-dimensional
    /// Wishart of the features and the target direction, which are independent of the
    /// downstream sample.
    fn projected_trial(
        &self,
        rng: &mut ChaCha8Rng,
        spec: &Sizes,
        ws: &mut FactorWorkspace,
    ) -> std::result::Result<TrialRecord, String> {
        let (d, k) = (self.d, self.k);
        let pw = &mut ws.projected;
        bartlett_factor(rng, spec.m, pw.bartlett.as_mut());
        let root: &[f64] = &self.sigma_root;
        let inv_m = 1.0 / spec.m as f64;
        let first_check = self.krylov_blocks_estimate(spec.m);
        let converged = match pw.krylov.as_mut() {
            Some(kr) if first_check <= kr.max_blocks() => {
                let (l, tmp, tmp2) = (pw.bartlett.as_ref(), &mut pw.tmp, &mut pw.tmp2);
                let start = self.krylov_start.as_ref();
                kr.run(start, first_check, |v, mut out| {
                    for j in 0..k {
                        for i in 0..d {
                            tmp[(i, j)] = root[i] * v[(i, j)];
                        }
                    }
                    lower_t_mul(tmp2.as_mut(), l, tmp.as_ref());
                    lower_mul(out.rb_mut(), l, tmp2.as_ref());
                    for j in 0..k {
                        for i in 0..d {
                            out[(i, j)] *= root[i] * inv_m;
                        }
                    }
                })
                .is_ok()
            }
            _ => false,
        };
        if converged {
            pw.krylov_trials += 1;
            let kr = pw.krylov.as_ref().expect("converged");
            for j in 0..k {
                let scale = (kr.values()[j] - 1.0).max(0.0).sqrt();
                for i in 0..d {
                    ws.a_hat[(i, j)] = kr.vectors()[(i, j)] * scale;
                }
            }
        } else {
            let l = pw.bartlett.as_ref();
            for j in 0..d {
                for i in 0..d {
                    ws.s_n[(i, j)] = root[i] * l[(i, j)];
                }
            }
            mul_into(
                ws.s_m.as_mut(),
                Accum::Replace,
                ws.s_n.as_ref(),
                ws.s_n.as_ref().transpose(),
                inv_m,
            );
            ppca_fit(ws.s_m.as_ref(), k, &mut ws.eigh, ws.a_hat.as_mut())
                .map_err(|e| e.to_string())?;
        }
        let w = ws.features.compute(ws.a_hat.as_ref());
        let parts = self
            .task
            .risk_parts_projected(rng, w, spec.n, &mut ws.down)
            .map_err(|e| e.to_string())?;
        Ok(TrialRecord::from_parts(parts, spec.m, spec.n, None))
    }

    /// How many Krylov blocks the projected trial should need, from the population
    /// spectrum and the Marchenko–Pastur law of the noise bulk at ratio `γ = d/m`: the bulk
    /// fills `[(1 − √γ)², (1 + √γ)²]`, the weakest factor `ℓ = 1 + s_min` sits at
    /// `θ = ℓ(1 + γ/(ℓ − 1))` (Baik, Ben Arous & Péché) when `ℓ − 1 > √γ` and at the bulk
    /// edge otherwise, and block Krylov gains `exp(−acosh(1 + 2g))` per block at relative
    /// gap `g = (θ − edge)/width`, from a start whose error is about the bulk's
    /// half-width `2√γ` (the start is the population eigenbasis). The estimate only decides when the Ritz pairs are first
    /// tested (every block after is tested too) and whether to try Krylov at all; the
    /// residual test decides convergence.
    fn krylov_blocks_estimate(&self, m: usize) -> usize {
        let gamma = self.d as f64 / m as f64;
        let (edge, width) = ((1.0 + gamma.sqrt()).powi(2), 4.0 * gamma.sqrt());
        let spike = self.strengths.iter().copied().fold(f64::INFINITY, f64::min);
        let ell = 1.0 + spike;
        let theta = if spike > gamma.sqrt() {
            ell * (1.0 + gamma / spike)
        } else {
            edge
        };
        let gap = ((theta - edge) / width).max(0.0);
        let per_block = (1.0 + 2.0 * gap).acosh();
        let start_error = (2.0 * gamma.sqrt()).min(1.0);
        let blocks = (start_error / KRYLOV_TOL).ln() / per_block;
        if blocks.is_finite() {
            (blocks.ceil() as usize).min(usize::MAX / 2)
        } else {
            usize::MAX / 2
        }
    }

    /// Memory and work of one projected trial: the `d×d` factor and dense fallback
    /// buffers; `d²/2` normal draws and at most [`KRYLOV_MAX_BLOCKS`] blocks of two
    /// triangular products (`2d²k` each) with their reorthogonalisation.
    fn projected_cost(&self) -> crate::budget::Need {
        let (d, k) = (self.d as f64, self.k as f64);
        let blocks = KRYLOV_MAX_BLOCKS as f64;
        let basis = 2.0 * d * k * blocks;
        crate::budget::Need::new(
            super::doubles(4.0 * d * d + basis + 2.0 * (k * blocks).powi(2)),
            d * d * (20.0 + 2.0 * k * blocks) + 4.0 * basis * k * blocks,
            "d",
        )
    }
}

impl PsdModel for FactorModel {
    fn descriptor(&self) -> Mat<f64> {
        &self.a * self.a.transpose()
    }

    fn rank(&self) -> usize {
        self.k
    }

    /// `∇L(M) = ½[Σ⁻¹ − Σ⁻¹Σ_xΣ⁻¹]` with `Σ = I + M`, at `M⋆` (zero: the MLE is consistent).
    fn loss_gradient(&self) -> Mat<f64> {
        let inv = self.model_cov_inverse();
        (&inv - &inv * &self.task.sigma * &inv) * faer::Scale(0.5)
    }

    /// `L(M) = ½[log det Σ + tr(Σ⁻¹Σ_x)]`, so
    /// `D²L[T_a, T_b] = −½ tr(Σ⁻¹T_aΣ⁻¹T_b) + tr(Σ⁻¹T_aΣ⁻¹T_bΣ⁻¹Σ_x)`.
    fn loss_hessian(&self, tangents: &[Mat<f64>]) -> Mat<f64> {
        let inv = self.model_cov_inverse();
        let p: Vec<Mat<f64>> = tangents.iter().map(|t| &inv * t).collect();
        let pt: Vec<Mat<f64>> = p.iter().map(|m| m.transpose().to_owned()).collect();
        let rt: Vec<Mat<f64>> = p
            .iter()
            .map(|m| (m * &inv * &self.task.sigma).transpose().to_owned())
            .collect();
        frobenius_gram(&p, &rt) - frobenius_gram(&p, &pt) * faer::Scale(0.5)
    }

    /// The score is `⟨∇ℓ, T⟩ = ½tr(Σ⁻¹T) − ½ zᵀΣ⁻¹TΣ⁻¹z`; for `z ~ N(0, Σ_x)` Isserlis gives
    /// `Cov(zᵀAz, zᵀBz) = 2 tr(AΣ_xBΣ_x)`, so `S_ab = ½ tr(A_aΣ_xA_bΣ_x)` with `A = Σ⁻¹TΣ⁻¹`.
    fn score_covariance(&self, tangents: &[Mat<f64>]) -> Mat<f64> {
        let inv = self.model_cov_inverse();
        let b: Vec<Mat<f64>> = tangents
            .iter()
            .map(|t| &inv * t * &inv * &self.task.sigma)
            .collect();
        let bt: Vec<Mat<f64>> = b.iter().map(|m| m.transpose().to_owned()).collect();
        frobenius_gram(&b, &bt) * faer::Scale(0.5)
    }

    fn task(&self) -> &LinearTask {
        &self.task
    }
}

impl FactorModel {
    /// `(I + M⋆)⁻¹`, the inverse model covariance at the truth.
    fn model_cov_inverse(&self) -> Mat<f64> {
        let sigma = Mat::<f64>::identity(self.d, self.d) + self.descriptor();
        sigma
            .llt(Side::Lower)
            .expect("I + M is positive definite")
            .inverse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::Sampler;
    use crate::model::Model;
    use crate::models::two_stage::TwoStage;
    use crate::rng::trial_rng;

    fn model(d: usize, strengths: Vec<f64>, beta: Vec<f64>) -> FactorModel {
        let k = strengths.len();
        FactorModel::new(FactorParams {
            d,
            k,
            strengths: Some(strengths),
            beta: Some(beta),
            noise_var: 1.0,
        })
        .unwrap()
    }

    /// Independent closed form (the section derivative kept):
    /// `E‖L(Z)‖² = (d−k) Σᵢ βᵢ² / ((1+sᵢ) sᵢ)` for `A = [diag(√s); 0]`, and the law is
    /// that constant times χ²_{d−k}: `d−k` equal weights.
    #[test]
    fn generic_interaction_matches_closed_form() {
        for (d, s, b) in [
            (5, vec![4.0, 0.25], vec![1.0, 1.0]),
            (7, vec![2.0, 1.0, 0.5], vec![0.3, -1.0, 2.0]),
        ] {
            let m = model(d, s.clone(), b.clone());
            let th = m.theory().unwrap();
            let c: f64 = s.iter().zip(&b).map(|(s, b)| b * b / ((1.0 + s) * s)).sum();
            let expect = (d - s.len()) as f64 * c;
            assert!(
                (th.law.mean() - expect).abs() < 1e-9 * expect,
                "{} vs {expect}",
                th.law.mean()
            );
            let w: Vec<f64> = th
                .law
                .weights()
                .iter()
                .copied()
                .filter(|&w| w > 1e-9 * c)
                .collect();
            assert_eq!(w.len(), d - s.len());
            assert!(w.iter().all(|x| (x - c).abs() < 1e-9 * c));
            assert_eq!(th.d_eff, s.len());
        }
    }

    #[test]
    fn acceptance_instance_values() {
        let th = model(5, vec![4.0, 0.25], vec![1.0, 1.0]).theory().unwrap();
        assert!((th.law.mean() - 9.75).abs() < 1e-6 * 9.75);
        assert!((th.paper_interaction_mean.unwrap() - 3.0).abs() < 1e-12);
        assert!((th.sigma2 - (1.0 + 1.0 / 5.0 + 1.0 / 1.25)).abs() < 1e-12);
    }

    /// For an MLE the Hessian equals the Fisher information (score covariance); the two
    /// are computed by different formulas.
    #[test]
    fn hessian_equals_score_covariance_at_the_mle() {
        let m = model(6, vec![3.0, 0.7], vec![1.0, 0.5]);
        let tp = tangent_problem(&m).unwrap();
        assert!((&tp.hessian - &tp.score_cov).norm_max() < 1e-12 * tp.hessian.norm_max());
        assert!(m.loss_gradient().norm_max() < 1e-14);
    }

    /// The chart Hessian equals central differences of the closed-form population loss
    /// `L(c) = ½[log det(I + M(c)) + tr((I + M(c))⁻¹Σ_x)]`.
    #[test]
    fn hessian_matches_finite_differences_of_population_loss() {
        let m = model(4, vec![2.0, 0.5], vec![1.0, 1.0]);
        let chart = crate::theory::psd_chart::PsdChart::at(m.descriptor().as_ref(), 2).unwrap();
        let loss = |c: &[f64]| {
            let sigma = Mat::<f64>::identity(4, 4) + chart.point(c);
            let (l, _) = sym_eigen_desc(sigma.as_ref()).unwrap();
            let inv = sigma.llt(Side::Lower).unwrap().inverse();
            0.5 * (l.iter().map(|x| x.ln()).sum::<f64>()
                + crate::linalg::trace_of_product(inv.as_ref(), m.task.sigma.as_ref()))
        };
        let tp = tangent_problem(&m).unwrap();
        let q = chart.dim();
        let h = 1e-4;
        for a in 0..q {
            for b in 0..q {
                let at = |sa: f64, sb: f64| {
                    let mut c = vec![0.0; q];
                    c[a] += sa * h;
                    c[b] += sb * h;
                    loss(&c)
                };
                let fd =
                    (at(1.0, 1.0) - at(1.0, -1.0) - at(-1.0, 1.0) + at(-1.0, -1.0)) / (4.0 * h * h);
                assert!(
                    (fd - tp.hessian[(a, b)]).abs() < 1e-5,
                    "({a},{b}) {fd} vs {}",
                    tp.hessian[(a, b)]
                );
            }
        }
    }

    /// Orbit invariance: replacing Â by ÂQ for an orthogonal Q changes the features to
    /// QᵀW and leaves every risk part unchanged (arXiv 2603.27631, Lemma 4.1).
    #[test]
    fn rotating_the_loadings_leaves_the_predictor_unchanged() {
        let m = model(6, vec![3.0, 1.0, 0.5], vec![1.0, -0.5, 2.0]);
        let mut ws = m.workspace();
        let mut rng = trial_rng(3, 0, 0);
        ws.draw.draw(
            &mut rng,
            Sampler::Wishart,
            200,
            m.chol.as_ref(),
            ws.s_m.as_mut(),
        );
        ws.draw.draw(
            &mut rng,
            Sampler::Wishart,
            50,
            m.chol.as_ref(),
            ws.s_n.as_mut(),
        );
        ppca_fit(ws.s_m.as_ref(), 3, &mut ws.eigh, ws.a_hat.as_mut()).unwrap();
        let (t, c) = (0.7f64, 0.3f64);
        let rot = Mat::from_fn(3, 3, |i, j| match (i, j) {
            (0, 0) | (1, 1) => t.cos(),
            (0, 1) => -t.sin(),
            (1, 0) => t.sin(),
            (2, 2) => 1.0,
            _ => 0.0,
        }) * Mat::from_fn(3, 3, |i, j| match (i, j) {
            (1, 1) | (2, 2) => c.cos(),
            (1, 2) => c.sin(),
            (2, 1) => -c.sin(),
            (0, 0) => -1.0,
            _ => 0.0,
        });
        assert!((rot.transpose() * &rot - Mat::<f64>::identity(3, 3)).norm_max() < 1e-14);
        let w0 = ppca_features(ws.a_hat.as_ref());
        let w1 = ppca_features((&ws.a_hat * &rot).as_ref());
        assert!((&w1 - rot.transpose() * &w0).norm_max() < 1e-12);
        let p0 = m
            .task
            .risk_parts(w0.as_ref(), ws.s_n.as_ref(), 50, &mut ws.down)
            .unwrap();
        let p1 = m
            .task
            .risk_parts(w1.as_ref(), ws.s_n.as_ref(), 50, &mut ws.down)
            .unwrap();
        for (a, b) in [(p0.rep, p1.rep), (p0.leak, p1.leak), (p0.var, p1.var)] {
            assert!((a - b).abs() <= 1e-10 * a.abs().max(1e-300), "{a} vs {b}");
        }
    }

    /// E[n·Var] = σ² k n/(n−k−1) exactly for Gaussian features (inverse Wishart mean):
    /// the simulated mean over 4000 trials must be within 4 standard errors.
    #[test]
    fn variance_part_matches_inverse_wishart_mean() {
        let m = model(5, vec![4.0, 0.25], vec![1.0, 1.0]);
        let sizes = Sizes {
            m: 2000,
            n: 30,
            sampler: Sampler::Wishart,
        };
        let model = TwoStage::new(m.clone(), sizes).unwrap();
        let r = crate::runner::run(&model, 9, 0..4000, &|_| {});
        let s = crate::stats::Summary::of(&r.column("n_var").unwrap()).unwrap();
        let expect = m.task.sigma2 * 2.0 * 30.0 / (30.0 - 3.0);
        assert!(
            (s.mean - expect).abs() < 4.0 * s.se,
            "{} ± {} vs {expect}",
            s.mean,
            s.se
        );
    }

    /// `E[n·Leakage_n] = p·E[n·Rep]/(n − p − 1)` for Gaussian features (here p = 2,
    /// n = 12): the simulated mean of `n_leak` against the formula applied to the
    /// simulated mean of `n_rep`, within 4 standard errors of their difference, under the
    /// Wishart and the projected sampler; and the prediction's `n_var` mean against the
    /// inverse-Wishart mean.
    #[test]
    fn leakage_part_matches_its_finite_n_mean() {
        for sampler in [Sampler::Wishart, Sampler::Projected] {
            leakage_mean_under(sampler);
        }
    }

    fn leakage_mean_under(sampler: Sampler) {
        let m = model(3, vec![7.2, 5.2], vec![1.0, 1.0]);
        let (n, p) = (12.0, 2.0);
        let sizes = Sizes {
            m: 400,
            n: 12,
            sampler,
        };
        let model = TwoStage::new(m.clone(), sizes).unwrap();
        let r = crate::runner::run(&model, 5, 0..40_000, &|_| {});
        let leak = r.column("n_leak").unwrap();
        let rep = r.column("n_rep").unwrap();
        let diff: Vec<f64> = leak
            .iter()
            .zip(&rep)
            .map(|(l, r)| l - p * r / (n - p - 1.0))
            .collect();
        let s = crate::stats::Summary::of(&diff).unwrap();
        assert!(
            s.mean.abs() < 4.0 * s.se,
            "{sampler:?}: {} ± {}",
            s.mean,
            s.se
        );
        let predicted = Model::predict(&model).unwrap();
        let n_var = predicted.mean("n_var").unwrap().value;
        assert!((n_var - m.task.sigma2 * p * n / (n - p - 1.0)).abs() < 1e-12);
    }

    /// Where `E‖L‖²/α ≪ σ² d_eff` and n is small, the decisive mean of `scaled_excess`
    /// needs the exact finite-n terms: at 20 000 trials the check passes with them, and
    /// the same trials sit many standard errors from the limit `σ² d_eff + E‖L‖²/α`.
    #[test]
    fn the_verdict_uses_the_exact_finite_n_terms() {
        let m = model(3, vec![7.2, 5.2], vec![1.0, 1.0]);
        let sizes = Sizes {
            m: 500_000,
            n: 50,
            sampler: Sampler::Wishart,
        };
        let model = TwoStage::new(m, sizes).unwrap();
        let check = crate::criteria::check(&model, 3, 20_000, &|_| {}).unwrap();
        let c = check
            .criteria
            .iter()
            .find(|c| c.name == "mean_scaled_excess")
            .unwrap();
        assert!(c.pass, "{c:?}");
        let limit = check.prediction.quantity("limit_mean").unwrap();
        let z = (c.measured - limit) / c.se.unwrap();
        assert!(z > 5.0, "against the limit z = {z}");
    }

    /// An eigengap of 0.03 (at λ = 2.03) is half a sampling standard deviation at
    /// m = 2000 (warned, with the expected deviation) and ten at m = 10⁶ (no warning).
    #[test]
    fn a_small_eigengap_for_m_is_warned() {
        let m = model(5, vec![1.03, 1.0], vec![1.0, 1.0]);
        let at = |m_size: usize| {
            let sizes = Sizes {
                m: m_size,
                n: 1000,
                sampler: Sampler::Wishart,
            };
            Model::predict(&TwoStage::new(m.clone(), sizes).unwrap())
                .unwrap()
                .warnings
        };
        let w = at(2000);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("eigengap") && w[0].contains('%'), "{w:?}");
        assert!(at(1_000_000).is_empty());
    }

    /// The projected trial's Krylov eigenpairs against the dense path on the same draws:
    /// with the Krylov solver removed, the same random stream gives the same Bartlett
    /// factor and the dense eigendecomposition of the formed `S_m`. Every risk part must
    /// agree to 10⁻⁶ relative (the Krylov tolerance puts the eigenvectors within ~10⁻⁹).
    #[test]
    fn projected_krylov_matches_the_dense_path() {
        let m = model(80, vec![4.0, 2.0, 1.0], vec![1.0, -1.0, 0.5]);
        let sizes = Sizes {
            m: 5000,
            n: 300,
            sampler: Sampler::Projected,
        };
        let mut fast = m.workspace();
        let mut dense = m.workspace();
        dense.projected.krylov = None;
        for t in 0..20 {
            let a = m.trial(&mut trial_rng(4, 0, t), &sizes, &mut fast).unwrap();
            let b = m
                .trial(&mut trial_rng(4, 0, t), &sizes, &mut dense)
                .unwrap();
            for (x, y) in [
                (a.m_rep, b.m_rep),
                (a.n_var, b.n_var),
                (a.n_leak, b.n_leak),
                (a.scaled_excess, b.scaled_excess),
            ] {
                assert!((x - y).abs() <= 1e-6 * y.abs(), "trial {t}: {x} vs {y}");
            }
        }
        assert_eq!(fast.projected.krylov_trials, 20);
        assert_eq!(dense.projected.krylov_trials, 0);
    }

    /// The projected sampler has the law of the Wishart sampler: 30 000 trials of each and
    /// a two-sample Kolmogorov–Smirnov test of each of the five per-trial quantities at
    /// level 0.001. Its critical distance, 0.016, resolves any 2% difference between the
    /// distribution functions. For the four quantities of moderate spread it also resolves
    /// a 2% scale shift: the Wishart sample scaled by 1.02 must sit beyond the critical
    /// value. `n_leak` is excepted from that: its relative spread is about 1, so a 2% scale
    /// shift moves its distribution function by only about 0.005; its law is checked
    /// through its exact mean under both samplers in
    /// `leakage_part_matches_its_finite_n_mean`.
    #[test]
    fn projected_sampler_has_the_law_of_the_wishart_sampler() {
        let m = model(24, vec![4.0, 2.0], vec![1.0, 1.0]);
        let trials = 30_000u64;
        let run = |sampler| {
            let sizes = Sizes {
                m: 3000,
                n: 150,
                sampler,
            };
            let model = TwoStage::new(m.clone(), sizes).unwrap();
            crate::runner::run(&model, 21, 0..trials, &|_| {})
        };
        let (wishart, projected) = (run(Sampler::Wishart), run(Sampler::Projected));
        let critical = crate::stats::ks_two_sample_critical_001(trials as usize, trials as usize);
        assert!(critical < 0.02);
        for metric in ["scaled_excess", "n_var", "n_leak", "n_rep", "m_rep"] {
            let a = wishart.column(metric).unwrap();
            let b = projected.column(metric).unwrap();
            let d = crate::stats::ks_two_sample(&a, &b);
            assert!(d < critical, "{metric}: KS {d} ≥ {critical}");
            if metric != "n_leak" {
                let shifted: Vec<f64> = a.iter().map(|x| 1.02 * x).collect();
                let power = crate::stats::ks_two_sample(&shifted, &b);
                assert!(power > critical, "{metric}: a 2% shift gives only {power}");
            }
        }
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let err = |p: FactorParams| match FactorModel::new(p) {
            Err(Error::InvalidParameter { field, .. }) => field,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(
            err(FactorParams {
                k: 5,
                ..Default::default()
            }),
            "k"
        );
        assert_eq!(
            err(FactorParams {
                k: 0,
                ..Default::default()
            }),
            "k"
        );
        assert_eq!(
            err(FactorParams {
                strengths: Some(vec![1.0, -1.0]),
                ..Default::default()
            }),
            "strengths"
        );
        assert_eq!(
            err(FactorParams {
                strengths: Some(vec![1.0]),
                ..Default::default()
            }),
            "strengths"
        );
        assert_eq!(
            err(FactorParams {
                beta: Some(vec![1.0; 3]),
                ..Default::default()
            }),
            "beta"
        );
        assert_eq!(
            err(FactorParams {
                noise_var: f64::NAN,
                ..Default::default()
            }),
            "noise_var"
        );
    }

    /// `info()` describes the parameter type (see `params::assert_describes`).
    #[test]
    fn info_params_match_the_parameter_type() {
        crate::params::assert_describes::<FactorParams>(
            &FactorModel::info().params,
            &["strengths", "beta"],
        );
    }
}
