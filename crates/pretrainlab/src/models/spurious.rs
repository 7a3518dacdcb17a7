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

use faer::{Accum, Mat};
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::audit::Claim;
use crate::budget::{Cost, Need};
use crate::linalg::{Cholesky, mul_into, sym_eigen_desc};
use crate::model::{Criterion, MeanPrediction, MetricSpec, Model, Prediction, Quantity};
use crate::params::{MAX_MAGNITUDE, ModelInfo, check_at_most, check_nonnegative, describe};
use crate::runner::Trials;
use crate::{Error, Result};

/// Largest `d` (the design has `2d` columns, at most [`crate::params::MAX_DIM`]).
const MAX_D: usize = crate::params::MAX_DIM / 2;
/// Largest `n`.
const MAX_N: usize = 10_000_000;
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
    metrics: Vec<MetricSpec>,
}

/// Per-worker buffers of a trial.
pub struct SpuriousWorkspace {
    normals: Mat<f64>,
    z: Mat<f64>,
    g: Mat<f64>,
    gram: Mat<f64>,
    rhs: Mat<f64>,
    err: Mat<f64>,
    sigma_err: Mat<f64>,
    chol: Cholesky,
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
        let metrics = vec![
            MetricSpec::new("spurious_c", "1", "spurious correlation C(θ̂) = θ̂_yᵀΣ_yxθ⋆"),
            MetricSpec::new("excess_loss", "1", "excess loss (θ̂ − θ⋆)ᵀΣ(θ̂ − θ⋆)"),
        ];
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
            metrics,
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
                ],
                &[(
                    "spurious_noise",
                    "diagonal: 3.0 on the first max(1, d/30) coordinates, 0.05 on the rest",
                )],
            ),
        }
    }
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

impl SpuriousRidge {
    /// The deterministic equivalent at `lambda`, from the eigendecomposition of `Σ`
    /// (the direct form) and, with `schur`, the Schur form by Cholesky solves.
    pub fn equivalent(&self, lambda: f64, schur: bool) -> Result<Equivalent> {
        let s = &self.spectrum;
        let n = self.p.n as f64;
        let df1 = |tau: f64| s.iter().map(|&x| x / (x + tau)).sum::<f64>();
        // λ = g(τ) = τ(1 − df₁(τ)/n); g(λ) ≤ λ and g(λ + tr Σ/n) ≥ λ bracket the root.
        let g = |tau: f64| tau * (1.0 - df1(tau) / n);
        let (mut lo, mut hi) = (lambda, lambda + s.iter().sum::<f64>() / n);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if g(mid) < lambda {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let tau = 0.5 * (lo + hi);
        let df2 = s.iter().map(|&x| (x / (x + tau)).powi(2)).sum::<f64>();
        if df2.is_nan() || df2 >= n {
            return Err(Error::Numerical(format!(
                "the deterministic equivalent has df₂ = {df2:.3} ≥ n at λ = {lambda}"
            )));
        }
        // θ̄ = U diag(s/(s+τ)) Uᵀθ⋆_z, so θ̄_yᵀΣ_yxθ⋆ = Σₖ sₖ/(sₖ+τ)·(uₖᵀθ⋆_z)(u_{k,y}ᵀΣ_yxθ⋆).
        let c_direct: f64 = (0..s.len())
            .map(|k| s[k] / (s[k] + tau) * self.theta_proj[k] * self.c_proj[k])
            .sum();
        let bias: f64 = (0..s.len())
            .map(|k| tau * tau * s[k] * (self.theta_proj[k] / (s[k] + tau)).powi(2))
            .sum();
        let loss = (bias + self.p.noise_var * df2 / n) / (1.0 - df2 / n);
        let c_schur = if schur { self.schur_c(tau)? } else { f64::NAN };
        Ok(Equivalent {
            tau,
            c_direct,
            c_schur,
            loss,
            df2,
        })
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
    /// scan keeps the search in the best cell).
    pub fn optima(&self) -> Result<(f64, f64)> {
        let grid: Vec<f64> = (0..=80)
            .map(|i| 10f64.powf(-4.0 + 0.1 * i as f64))
            .collect();
        let loss = |l: f64| self.equivalent(l, false).map(|e| e.loss);
        let c = |l: f64| self.equivalent(l, false).map(|e| -e.c_direct);
        Ok((golden(&grid, &loss)?, golden(&grid, &c)?))
    }
}

/// The minimiser of `f` over the grid's range: the best grid point, refined by golden
/// section on log λ within its neighbours.
fn golden(grid: &[f64], f: &dyn Fn(f64) -> Result<f64>) -> Result<f64> {
    let values: Vec<f64> = grid.iter().map(|&x| f(x)).collect::<Result<_>>()?;
    let best = (0..grid.len())
        .min_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap_or(0);
    let (mut a, mut b) = (
        grid[best.saturating_sub(1)].ln(),
        grid[(best + 1).min(grid.len() - 1)].ln(),
    );
    let r = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..60 {
        let (c, d) = (b - r * (b - a), a + r * (b - a));
        if f(c.exp())? < f(d.exp())? {
            b = d;
        } else {
            a = c;
        }
    }
    Ok((0.5 * (a + b)).exp())
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
        SpuriousWorkspace {
            normals: Mat::zeros(n, d),
            z: Mat::zeros(n, 2 * d),
            g: Mat::zeros(n, 1),
            gram: Mat::zeros(2 * d, 2 * d),
            rhs: Mat::zeros(2 * d, 1),
            err: Mat::zeros(2 * d, 1),
            sigma_err: Mat::zeros(2 * d, 1),
            chol: Cholesky::new(2 * d, 1),
        }
    }

    /// Draws `X = G L_xxᵀ`, `Y = X Aᵀ + G' L_wᵀ`, `g = Xθ⋆ + σε`, solves the ridge normal
    /// equations by Cholesky and evaluates the two metrics exactly.
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut SpuriousWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        let (d, n) = (self.d, self.p.n);
        let mut fill = |m: &mut Mat<f64>| {
            for j in 0..m.ncols() {
                for i in 0..m.nrows() {
                    m[(i, j)] = StandardNormal.sample(rng);
                }
            }
        };
        fill(&mut ws.normals);
        let (mut x, mut y) = ws.z.as_mut().split_at_col_mut(d);
        mul_into(
            x.as_mut(),
            Accum::Replace,
            ws.normals.as_ref(),
            self.chol_xx.transpose(),
            1.0,
        );
        fill(&mut ws.normals);
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
        let inv_n = 1.0 / n as f64;
        mul_into(
            ws.gram.as_mut(),
            Accum::Replace,
            ws.z.transpose(),
            ws.z.as_ref(),
            inv_n,
        );
        for i in 0..2 * d {
            ws.gram[(i, i)] += self.p.lambda;
        }
        mul_into(
            ws.rhs.as_mut(),
            Accum::Replace,
            ws.z.transpose(),
            ws.g.as_ref(),
            inv_n,
        );
        ws.chol
            .factor(ws.gram.as_ref())
            .map_err(|e| e.to_string())?;
        ws.chol.solve_in_place(ws.rhs.as_mut());
        // rhs = θ̂; err = θ̂ − θ⋆_z.
        for i in 0..2 * d {
            ws.err[(i, 0)] = ws.rhs[(i, 0)] - if i < d { self.theta[i] } else { 0.0 };
        }
        let spurious: f64 = (0..d)
            .map(|i| {
                ws.rhs[(d + i, 0)]
                    * (0..d)
                        .map(|j| self.sigma[(d + i, j)] * self.theta[j])
                        .sum::<f64>()
            })
            .sum();
        mul_into(
            ws.sigma_err.as_mut(),
            Accum::Replace,
            self.sigma.as_ref(),
            ws.err.as_ref(),
            1.0,
        );
        let loss: f64 = (0..2 * d)
            .map(|i| ws.err[(i, 0)] * ws.sigma_err[(i, 0)])
            .sum();
        out[0] = spurious;
        out[1] = loss;
        Ok(())
    }

    fn predict(&self) -> Result<Prediction> {
        let eq = self.equivalent(self.p.lambda, true)?;
        let (argmin_loss, argmax_c) = self.optima()?;
        let mean = |metric: &str, value: f64| MeanPrediction {
            metric: metric.into(),
            value,
            se: 0.0,
            decisive: false,
        };
        Ok(Prediction {
            model: "spurious-ridge".into(),
            quantities: vec![
                Quantity::exact("tau", eq.tau),
                Quantity::exact("spurious_c", eq.c_direct),
                Quantity::exact("spurious_c_schur", eq.c_schur),
                Quantity::exact("excess_loss", eq.loss),
                Quantity::exact("df2", eq.df2),
                Quantity::exact("argmin_loss_lambda", argmin_loss),
                Quantity::exact("argmax_c_lambda", argmax_c),
                Quantity::exact(
                    "c_increasing_at_loss_optimum",
                    f64::from(u8::from(argmin_loss < argmax_c)),
                ),
            ],
            means: vec![
                mean("spurious_c", eq.c_direct),
                mean("excess_loss", eq.loss),
            ],
            ..Default::default()
        })
    }

    /// Each metric's mean within 3 s.e. + 2% of its deterministic equivalent.
    fn criteria(&self, prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        ["spurious_c", "excess_loss"]
            .iter()
            .map(|&metric| {
                let predicted = prediction.quantity(metric).unwrap_or(f64::NAN);
                let values = trials.column(metric).unwrap_or_default();
                let s = crate::stats::Summary::of(&values);
                let (measured, se) = s.map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se));
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

    fn default_trials(&self) -> u64 {
        200
    }

    /// A trial holds the `n×2d` design and a `2d×2d` Gram matrix: O(n d²) to form it,
    /// O(d³) to solve. The prediction eigendecomposes `Σ` (O(d³)) at each of about 200 λ
    /// of the optimum searches.
    fn cost(&self) -> Cost {
        let (d, n) = (self.d as f64, self.p.n as f64);
        let p = 2.0 * d;
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
        vec![
            ("d", serde_json::json!(self.d)),
            ("n", serde_json::json!(self.p.n)),
            ("lambda", serde_json::json!(self.p.lambda)),
        ]
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
    }

    #[test]
    fn info_params_match_the_parameter_type() {
        crate::params::assert_describes::<SpuriousParams>(
            &SpuriousRidge::info().params,
            &["spurious_noise"],
        );
    }
}
