//! Diagonal linear networks, pre-training then fine-tuning (Anguita, Locatello, Saxe,
//! Mondelli, Mancini, Lippl, Dominé, "A Theory of How Pretraining Shapes Inductive Bias in
//! Fine-Tuning", arXiv 2602.20062; spec §2).
//!
//! **Network.** `f(x) = βᵀx`, `β = w₊∘v₊ − w₋∘v₋` (first layer `w`, readout `v`, two
//! pathways). PT initialisation per pathway and coordinate: `w² + v² = c_PT`,
//! `w² − v² = λ_PT c_PT` (`λ_PT ∈ [−1, 1]`), both pathways equal, so `β(0) = 0`.
//!
//! **Tasks.** PT teacher: support of `ρ_PT d` coordinates, amplitude `a_PT`. FT teacher:
//! `ρ_FT d` active coordinates, a fraction `ω` of them inside the PT support, values
//! `N(0, 1/ρ_FT)`. Feasible iff `ωρ_FT ≤ ρ_PT` and `ρ_PT + (1 − ω)ρ_FT ≤ 1`. Designs
//! `Xᵢⱼ ~ N(0, 1/n)`, noiseless labels `y = Xβ`.
//!
//! **Fine-tuning.** After PT the pathways are re-balanced and the readout re-initialised:
//! both pathways get first layer `a_d = w₊,d + w₋,d` and readout `γ/√2`, so `β(0) = 0`
//! and `c_FT,d = a_d² + γ²/2`. From the PT closed form
//! `a_d² = c_PT(1 + λ_PT)(1 + √(1 + (β_PT,d/c_PT)²))` (spec §2, [DER] 2).
//!
//! **Implicit bias (Thm 4.1).** Gradient flow from `β(0) = 0` with per-coordinate scale
//! `c_d` converges to `argmin Σ_d q_{k_d}(β_d)` s.t. `Xβ = y`, with `√k_d = 2c_d` and
//! `q_k(z) = (√k/4)[1 − √(1 + 4z²/k) + (2z/√k) arcsinh(2z/√k)]`,
//! `q_k'(z) = ½ arcsinh(2z/√k)`, `q_k''(z) = 1/√(k + 4z²)`. Solved here on the dual
//! ([`min_q_interpolator`]): `β_d = (√k_d/2) sinh(2(Xᵀμ)_d)`.
//!
//! **Generalisation (Prop. 4.2).** The replica fixed point ([`replica`]): with `B = d/n`,
//! `z = x + sZ`, `x̂ = prox(z)` solving `x̂ − z + (γ/2) arcsinh(2x̂/√k) = 0`,
//! `s² ← σ₀² + B·E[(x − x̂)²]`, `γ ← γ_ext + B·E[1/(1/γ + 1/√(k + 4x̂²))]`, and test
//! MSE `E[(x − x̂)²]`.
//!
//! **Runs.** With `fine_tune = "gd"` a run trains FT (and PT, with `pretrain = "gd"`) by
//! full-batch GD and compares the end point with the Σq_k interpolator. With
//! `fine_tune = "interpolator"` (and the oracle PT) it skips GD and reports only the
//! interpolator's test MSE on the sampled instance ([`Diagonal::interpolator_mse`]): GD's
//! predicted limit, cheap where GD needs ~1e5 steps (small `c_FT`), the markers of the
//! paper's figures.

use crate::audit::{Claim, ClaimTest};
use crate::budget::{Cost, Need};
use faer::{Accum, Mat};
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::dense::Cholesky;
use super::{Criterion, Curve, DynPrediction, Dynamics, Row, RunOutcome, Schema, Sink};
use crate::linalg::mul_into;
use crate::model::MetricSpec;
use crate::params::{ModelInfo, describe};
use crate::{Error, Result};

// ---------------------------------------------------------------------------------------
// The potential q_k.

/// The paper's statements about this model that `pretrainlab audit` tests: every
/// criterion of `check` at the default instance.
pub const CLAIMS: &[Claim] = &[Claim {
    id: "diagonal-bias-and-replica",
    paper: "Anguita, Locatello, Saxe, Mondelli, Mancini, Lippl, Dominé, A Theory of How Pretraining Shapes Inductive Bias in Fine-Tuning, arXiv 2602.20062",
    location: "Theorem 4.1 and Proposition 4.2",
    statement: "fine-tuning converges to the min-Σq_k interpolator with the PT-shaped scales, and its test error is the replica fixed point's",
    params: "",
    trials: 12,
    quick_trials: 12,
    test: ClaimTest::Generic,
}];

/// `q_k(z) = (√k/4)[1 − √(1 + 4z²/k) + (2z/√k) arcsinh(2z/√k)]`.
pub fn q_k(z: f64, k: f64) -> f64 {
    let sk = k.sqrt();
    let u = 2.0 * z / sk;
    // 1 − √(1 + u²) written as −u²/(1 + √(1 + u²)) to avoid cancellation.
    let h = u.hypot(1.0);
    sk / 4.0 * (-u * u / (1.0 + h) + u * u.asinh())
}

/// `q_k'(z) = ½ arcsinh(2z/√k)`.
pub fn q_k_prime(z: f64, k: f64) -> f64 {
    0.5 * (2.0 * z / k.sqrt()).asinh()
}

/// `q_k''(z) = 1/√(k + 4z²)`.
pub fn q_k_second(z: f64, k: f64) -> f64 {
    1.0 / (k + 4.0 * z * z).sqrt()
}

/// The proximal map of `γ q_k`: the root of `u − z + (γ/2) arcsinh(2u/√k) = 0`, by
/// Newton's method safeguarded with bisection on `[min(0, z), max(0, z)]`; `guess` is a
/// starting point (clamped into the bracket).
pub fn prox(z: f64, gamma: f64, k: f64, guess: f64) -> f64 {
    if z == 0.0 {
        return 0.0;
    }
    let (sign, z) = (z.signum(), z.abs());
    let sk = k.sqrt();
    let f = |u: f64| u - z + 0.5 * gamma * (2.0 * u / sk).asinh();
    let (mut lo, mut hi) = (0.0, z);
    let mut u = (guess * sign).clamp(lo, hi);
    for _ in 0..200 {
        let fu = f(u);
        if fu > 0.0 {
            hi = u;
        } else {
            lo = u;
        }
        if fu.abs() <= 1e-15 * (1.0 + z) || hi - lo <= 1e-16 * (1.0 + z) {
            break;
        }
        let d = 1.0 + gamma / (k + 4.0 * u * u).sqrt();
        let next = u - fu / d;
        u = if next > lo && next < hi {
            next
        } else {
            0.5 * (lo + hi)
        };
    }
    sign * u
}

// ---------------------------------------------------------------------------------------
// The implicit-bias interpolator.

/// The minimiser of `Σ_d q_{k_d}(β_d)` subject to `Xβ = y`, with the dual multipliers,
/// and the buffers of the dual Newton that finds it ([`Interpolator::solve`]), for one
/// shape `n × d` of `X`.
#[derive(Debug)]
pub struct Interpolator {
    pub beta: Vec<f64>,
    pub mu: Vec<f64>,
    pub newton_steps: usize,
    /// `‖Xβ − y‖ / ‖y‖` at exit.
    pub residual: f64,
    scratch: DualScratch,
}

/// The dual Newton's buffers: `√k_d`, `u = Xᵀμ`, the gradient `Xβ − y`, the scaled design
/// `X diag(√k cosh 2u)^½` and the Hessian `X diag(√k cosh 2u) Xᵀ` with its factor, the
/// Newton step and the line search's trial point `(μ, u)`.
#[derive(Debug)]
struct DualScratch {
    sk: Vec<f64>,
    u: Vec<f64>,
    grad: Vec<f64>,
    xs: Mat<f64>,
    hessian: Mat<f64>,
    chol: Cholesky,
    delta: Mat<f64>,
    trial_mu: Vec<f64>,
    trial_u: Vec<f64>,
}

/// Solves `min Σ_d q_{k_d}(β_d)` s.t. `Xβ = y` with fresh buffers: see
/// [`Interpolator::solve`].
pub fn min_q_interpolator(x: &Mat<f64>, y: &[f64], k: &[f64], tol: f64) -> Result<Interpolator> {
    let mut sol = Interpolator::new(x.nrows(), x.ncols());
    sol.solve(x, y, k, tol)?;
    Ok(sol)
}

impl Interpolator {
    /// Buffers for an `n × d` design.
    pub fn new(n: usize, d: usize) -> Self {
        Interpolator {
            beta: vec![0.0; d],
            mu: vec![0.0; n],
            newton_steps: 0,
            residual: f64::NAN,
            scratch: DualScratch {
                sk: vec![0.0; d],
                u: vec![0.0; d],
                grad: vec![0.0; n],
                xs: Mat::zeros(n, d),
                hessian: Mat::zeros(n, n),
                chol: Cholesky::new(n, 1),
                delta: Mat::zeros(n, 1),
                trial_mu: vec![0.0; n],
                trial_u: vec![0.0; d],
            },
        }
    }

    /// Solves `min Σ_d q_{k_d}(β_d)` s.t. `Xβ = y` (`x` is `n×d`, `n ≤ d`, full row rank) by
    /// damped Newton on the dual `min_μ g(μ) = Σ_d (√k_d/4)(cosh(2(Xᵀμ)_d) − 1) − μᵀy`,
    /// whose minimiser gives `β_d = (√k_d/2) sinh(2(Xᵀμ)_d)` (stationarity
    /// `q'(β) = Xᵀμ`) and `∇g = Xβ − y` (feasibility). Stops at `‖Xβ − y‖ ≤ tol·‖y‖`.
    pub fn solve(&mut self, x: &Mat<f64>, y: &[f64], k: &[f64], tol: f64) -> Result<()> {
        let (n, d) = (x.nrows(), x.ncols());
        if y.len() != n || k.len() != d {
            return Err(Error::invalid(
                "dimensions",
                format!(
                    "X is {n}×{d} but y has {} entries and k has {}",
                    y.len(),
                    k.len()
                ),
            ));
        }
        if (self.mu.len(), self.beta.len()) != (n, d) {
            return Err(Error::invalid(
                "dimensions",
                format!(
                    "X is {n}×{d} but the solver's buffers are for {}×{}",
                    self.mu.len(),
                    self.beta.len()
                ),
            ));
        }
        if let Some(bad) = k.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            return Err(Error::invalid(
                "k",
                format!("every k_d must be > 0, got {bad}"),
            ));
        }
        let Interpolator {
            beta,
            mu,
            newton_steps,
            residual,
            scratch,
        } = self;
        let DualScratch {
            sk,
            u,
            grad,
            xs,
            hessian,
            chol,
            delta,
            trial_mu,
            trial_u,
        } = scratch;
        for (s, v) in sk.iter_mut().zip(k) {
            *s = v.sqrt();
        }
        let sk = &*sk;
        let y_norm = y.iter().map(|v| v * v).sum::<f64>().sqrt();
        mu.fill(0.0);
        u.fill(0.0);
        beta.fill(0.0);
        let dual = |u: &[f64], mu: &[f64]| -> f64 {
            let mut g = 0.0;
            for j in 0..d {
                // (cosh 2u − 1) = 2 sinh² u.
                g += sk[j] / 2.0 * u[j].sinh().powi(2);
            }
            g - mu.iter().zip(y).map(|(a, b)| a * b).sum::<f64>()
        };
        let at = |mu: &[f64], u: &mut [f64]| {
            for (j, uj) in u.iter_mut().enumerate() {
                let mut s = 0.0;
                for i in 0..n {
                    s += x[(i, j)] * mu[i];
                }
                *uj = s;
            }
        };
        let mut g_val = 0.0;
        for step in 0..500 {
            for j in 0..d {
                beta[j] = sk[j] / 2.0 * (2.0 * u[j]).sinh();
            }
            for (i, gi) in grad.iter_mut().enumerate() {
                *gi = (0..d).map(|j| x[(i, j)] * beta[j]).sum::<f64>() - y[i];
            }
            let res = grad.iter().map(|v| v * v).sum::<f64>().sqrt();
            if res <= tol * y_norm.max(1e-300) {
                *newton_steps = step;
                *residual = res / y_norm.max(1e-300);
                return Ok(());
            }
            // Hessian X diag(√k cosh 2u) Xᵀ.
            for j in 0..d {
                let scale = (sk[j] * (2.0 * u[j]).cosh()).sqrt();
                for i in 0..n {
                    xs[(i, j)] = x[(i, j)] * scale;
                }
            }
            mul_into(
                hessian.as_mut(),
                Accum::Replace,
                xs.as_ref(),
                xs.transpose(),
                1.0,
            );
            if !chol.factor(hessian.as_ref()) {
                return Err(Error::Numerical(
                    "dual Hessian is not positive definite (rank-deficient X?)".into(),
                ));
            }
            for (i, gi) in grad.iter().enumerate() {
                delta[(i, 0)] = -gi;
            }
            chol.solve_in_place(delta.as_mut());
            let decrement: f64 = (0..n).map(|i| -grad[i] * delta[(i, 0)]).sum();
            if step == 0 {
                g_val = dual(u, mu);
            }
            // Backtracking (Armijo) line search.
            let mut t = 1.0;
            let mut accepted = false;
            for _ in 0..60 {
                for i in 0..n {
                    trial_mu[i] = mu[i] + t * delta[(i, 0)];
                }
                at(trial_mu, trial_u);
                let g_new = dual(trial_u, trial_mu);
                // Armijo; near the optimum the dual value stalls at rounding level, and then a
                // step is accepted when it lowers the primal residual ‖Xβ − y‖ instead.
                let armijo = g_new <= g_val - 0.25 * t * decrement;
                let stalled = (g_new - g_val).abs() <= 1e-12 * (1.0 + g_val.abs()) && {
                    let trial_res = (0..n)
                        .map(|i| {
                            let xb: f64 = (0..d)
                                .map(|j| x[(i, j)] * sk[j] / 2.0 * (2.0 * trial_u[j]).sinh())
                                .sum();
                            (xb - y[i]).powi(2)
                        })
                        .sum::<f64>()
                        .sqrt();
                    trial_res < 0.9 * res
                };
                if g_new.is_finite() && (armijo || stalled) {
                    mu.copy_from_slice(trial_mu);
                    u.copy_from_slice(trial_u);
                    g_val = g_new;
                    accepted = true;
                    break;
                }
                t *= 0.5;
            }
            if !accepted {
                // No decrease is possible at working precision: accept the point we have.
                for j in 0..d {
                    beta[j] = sk[j] / 2.0 * (2.0 * u[j]).sinh();
                }
                let res = (0..n)
                    .map(|i| ((0..d).map(|j| x[(i, j)] * beta[j]).sum::<f64>() - y[i]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if res <= 1e3 * tol * y_norm.max(1e-300) {
                    *newton_steps = step;
                    *residual = res / y_norm.max(1e-300);
                    return Ok(());
                }
                return Err(Error::Numerical(format!(
                    "dual Newton line search failed at relative residual {:e}",
                    res / y_norm
                )));
            }
        }
        Err(Error::Numerical(
            "dual Newton did not converge in 500 steps".into(),
        ))
    }
}

/// KKT residuals of a candidate `β` for `min Σ q_{k_d}` s.t. `Xβ = y`, with fresh buffers:
/// see [`Kkt::residuals`].
pub fn kkt_residuals(x: &Mat<f64>, y: &[f64], k: &[f64], beta: &[f64]) -> Result<(f64, f64)> {
    Kkt::new(x.nrows(), x.ncols()).residuals(x, y, k, beta)
}

/// The buffers of [`Kkt::residuals`] for an `n × d` design: `Xβ`, `q'(β)`, `XXᵀ` and its
/// factor, the least-squares coefficients, the fit `Xᵀ·coef` and `q'(β)` minus it.
#[derive(Debug)]
pub struct Kkt {
    xb: Vec<f64>,
    g: Mat<f64>,
    gram: Mat<f64>,
    chol: Cholesky,
    coef: Mat<f64>,
    proj: Mat<f64>,
    off_row: Mat<f64>,
}

impl Kkt {
    pub fn new(n: usize, d: usize) -> Self {
        Kkt {
            xb: vec![0.0; n],
            g: Mat::zeros(d, 1),
            gram: Mat::zeros(n, n),
            chol: Cholesky::new(n, 1),
            coef: Mat::zeros(n, 1),
            proj: Mat::zeros(d, 1),
            off_row: Mat::zeros(d, 1),
        }
    }

    /// KKT residuals of a candidate `β` for `min Σ q_{k_d}` s.t. `Xβ = y` (`X` of this
    /// shape), computed without the dual multipliers: `(‖Xβ − y‖/‖y‖,
    /// ‖(I − Π_row X) q'(β)‖/‖q'(β)‖)`, the second from a least-squares fit of `q'(β)` on
    /// the rows of `X`.
    pub fn residuals(
        &mut self,
        x: &Mat<f64>,
        y: &[f64],
        k: &[f64],
        beta: &[f64],
    ) -> Result<(f64, f64)> {
        let (n, d) = (x.nrows(), x.ncols());
        if (self.xb.len(), self.g.nrows()) != (n, d) {
            return Err(Error::invalid(
                "dimensions",
                format!(
                    "X is {n}×{d} but the buffers are for {}×{}",
                    self.xb.len(),
                    self.g.nrows()
                ),
            ));
        }
        for (i, v) in self.xb.iter_mut().enumerate() {
            *v = (0..d).map(|j| x[(i, j)] * beta[j]).sum::<f64>();
        }
        let y_norm = y.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
        let feas = self
            .xb
            .iter()
            .zip(y)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt()
            / y_norm;
        for j in 0..d {
            self.g[(j, 0)] = q_k_prime(beta[j], k[j]);
        }
        mul_into(
            self.gram.as_mut(),
            Accum::Replace,
            x.as_ref(),
            x.transpose(),
            1.0,
        );
        if !self.chol.factor(self.gram.as_ref()) {
            return Err(Error::Numerical("X Xᵀ is singular".into()));
        }
        mul_into(
            self.coef.as_mut(),
            Accum::Replace,
            x.as_ref(),
            self.g.as_ref(),
            1.0,
        );
        self.chol.solve_in_place(self.coef.as_mut());
        mul_into(
            self.proj.as_mut(),
            Accum::Replace,
            x.transpose(),
            self.coef.as_ref(),
            1.0,
        );
        for j in 0..d {
            self.off_row[(j, 0)] = self.g[(j, 0)] - self.proj[(j, 0)];
        }
        let g_norm = self.g.norm_l2().max(1e-300);
        Ok((feas, self.off_row.norm_l2() / g_norm))
    }
}

// ---------------------------------------------------------------------------------------
// The replica fixed point.

/// One coordinate group of the replica problem: its probability, the variance of the
/// teacher coordinate `x` (0: `x = 0`; else `x ~ N(0, var)`) and its `k`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Group {
    pub prob: f64,
    pub x_var: f64,
    pub k: f64,
}

/// Settings of the replica solver.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplicaSettings {
    /// Vanishing explicit regularisation `γ_ext` (interpolation limit).
    pub gamma_ext: f64,
    /// Label-noise variance `σ₀²`.
    pub sigma0_sq: f64,
    /// Damping θ: `new = θ·old + (1 − θ)·update`.
    pub damping: f64,
    /// Relative tolerance on `s²` and `γ` between iterations.
    pub tol: f64,
    pub max_iter: usize,
    /// Composite Simpson intervals for each Gaussian expectation over `z ≥ 0`.
    pub nodes: usize,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        ReplicaSettings {
            gamma_ext: 1e-6,
            sigma0_sq: 0.0,
            damping: 0.25,
            tol: 1e-10,
            max_iter: 5_000,
            nodes: 1200,
        }
    }
}

/// The replica fixed point at one `α`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ReplicaPoint {
    pub alpha: f64,
    pub mse: f64,
    pub s2: f64,
    pub gamma: f64,
    pub iterations: usize,
}

/// Gaussian expectations `E f(Z)`, `Z ~ N(0,1)`, of even integrands by composite Simpson on
/// `t ∈ [0, 10]` (the tail beyond 10 is below 1e-22).
struct EvenGauss {
    t: Vec<f64>,
    w: Vec<f64>,
}

impl EvenGauss {
    fn new(intervals: usize) -> Self {
        let m = intervals.max(2) + intervals % 2;
        let h = 10.0 / m as f64;
        let norm = (2.0 / std::f64::consts::PI).sqrt(); // 2 φ(t) for the two half-lines
        let (mut t, mut w) = (Vec::with_capacity(m + 1), Vec::with_capacity(m + 1));
        for i in 0..=m {
            let ti = i as f64 * h;
            let c = if i == 0 || i == m {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            t.push(ti);
            w.push(c * h / 3.0 * norm * (-0.5 * ti * ti).exp());
        }
        EvenGauss { t, w }
    }
}

/// `(E[(x − x̂)²], E[1/(1/γ + q''(x̂))])` for one group at `(s², γ)`. With `x ~ N(0, σ²)`
/// the expectation over `(x, Z)` is reduced to one over `z = x + sZ ~ N(0, σ² + s²)` using
/// `E[x | z] = zσ²/(σ² + s²)`, `Var[x | z] = σ²s²/(σ² + s²)`.
fn group_terms(g: &Group, s2: f64, gamma: f64, quad: &EvenGauss) -> (f64, f64) {
    let v = g.x_var + s2;
    let sv = v.sqrt();
    let (mut mse, mut der) = (0.0, 0.0);
    let mut guess = 0.0;
    for (t, w) in quad.t.iter().zip(&quad.w) {
        let z = sv * t;
        let xh = prox(z, gamma, g.k, guess);
        guess = xh;
        let err = if g.x_var > 0.0 {
            g.x_var * s2 / v + (z * g.x_var / v - xh).powi(2)
        } else {
            xh * xh
        };
        mse += w * err;
        der += w / (1.0 / gamma + q_k_second(xh, g.k));
    }
    (mse, der)
}

fn replica_from(
    groups: &[Group],
    alpha: f64,
    set: &ReplicaSettings,
    quad: &EvenGauss,
    start: (f64, f64),
) -> Option<ReplicaPoint> {
    let b = 1.0 / alpha;
    let (mut s2, mut gamma) = start;
    for it in 0..set.max_iter {
        let (mut mse, mut der) = (0.0, 0.0);
        for g in groups {
            let (m, dd) = group_terms(g, s2, gamma, quad);
            mse += g.prob * m;
            der += g.prob * dd;
        }
        let s2_new = set.sigma0_sq + b * mse;
        let gamma_new = set.gamma_ext + b * der;
        let s2_next = set.damping * s2 + (1.0 - set.damping) * s2_new;
        let gamma_next = set.damping * gamma + (1.0 - set.damping) * gamma_new;
        if !(s2_next.is_finite() && gamma_next.is_finite()) || gamma_next <= 0.0 {
            return None;
        }
        let done = (s2_next - s2).abs() <= set.tol * s2.max(1e-300)
            && (gamma_next - gamma).abs() <= set.tol * gamma;
        s2 = s2_next.max(1e-300);
        gamma = gamma_next;
        if done {
            return Some(ReplicaPoint {
                alpha,
                mse,
                s2,
                gamma,
                iterations: it + 1,
            });
        }
    }
    None
}

fn check_groups(groups: &[Group], alpha: f64) -> Result<()> {
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(Error::invalid("alpha", format!("must be > 0, got {alpha}")));
    }
    let total: f64 = groups.iter().map(|g| g.prob).sum();
    if (total - 1.0).abs() > 1e-9 || groups.iter().any(|g| g.prob < 0.0 || g.k <= 0.0) {
        return Err(Error::invalid(
            "groups",
            format!("probabilities must be ≥ 0 summing to 1 (got {total}) and every k > 0"),
        ));
    }
    Ok(())
}

/// At `α ≥ 1` without label noise the constraint `Xβ = y` (n ≥ d, full column rank)
/// determines `β` = the teacher: the test MSE is exactly 0 and the fixed-point iteration
/// slows down critically there, so it is not run.
fn exact_recovery(alpha: f64, set: &ReplicaSettings) -> Option<ReplicaPoint> {
    (alpha >= 1.0 && set.sigma0_sq == 0.0).then_some(ReplicaPoint {
        alpha,
        mse: 0.0,
        s2: 0.0,
        gamma: f64::INFINITY,
        iterations: 0,
    })
}

/// The replica prediction of the test MSE at `α = n/d` for the coordinate `groups`
/// (probabilities summing to 1). Iterates from the uninformed start (`x̂ = 0`:
/// `s² = B E[x²]`) and from a near-perfect start (`s² = 1e-6·B E[x²]`), and keeps the
/// lower-MSE fixed point (the code's "lower branch").
pub fn replica(groups: &[Group], alpha: f64, set: &ReplicaSettings) -> Result<ReplicaPoint> {
    check_groups(groups, alpha)?;
    if let Some(p) = exact_recovery(alpha, set) {
        return Ok(p);
    }
    let quad = EvenGauss::new(set.nodes);
    let ex2: f64 = groups.iter().map(|g| g.prob * g.x_var).sum();
    let s0 = set.sigma0_sq + ex2 / alpha;
    let a = replica_from(groups, alpha, set, &quad, (s0.max(1e-12), 1.0));
    let b = replica_from(groups, alpha, set, &quad, ((1e-6 * s0).max(1e-14), 1.0));
    lower(a, b).ok_or_else(|| {
        Error::Numerical(format!(
            "replica fixed point did not converge at α = {alpha}"
        ))
    })
}

fn lower(a: Option<ReplicaPoint>, b: Option<ReplicaPoint>) -> Option<ReplicaPoint> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.mse < a.mse { b } else { a }),
        (Some(p), None) | (None, Some(p)) => Some(p),
        (None, None) => None,
    }
}

/// The replica curve over increasing `alphas`, by the authors' continuation: a forward
/// sweep (small to large α) and a backward sweep, each warm-started from the previous
/// α's fixed point (cold at the first α), keeping the lower-MSE branch at each α. An α
/// where neither sweep converged gives `None`. The two sweeps are independent and run
/// in parallel; each is sequential, so the result does not depend on the threads.
pub fn replica_curve(
    groups: &[Group],
    alphas: &[f64],
    set: &ReplicaSettings,
) -> Result<Vec<Option<ReplicaPoint>>> {
    for &a in alphas {
        check_groups(groups, a)?;
    }
    let quad = EvenGauss::new(set.nodes);
    let ex2: f64 = groups.iter().map(|g| g.prob * g.x_var).sum();
    let sweep = |order: Vec<usize>| -> Vec<(usize, Option<ReplicaPoint>)> {
        let mut state: Option<(f64, f64)> = None;
        let mut out = vec![];
        for i in order {
            let a = alphas[i];
            if let Some(p) = exact_recovery(a, set) {
                out.push((i, Some(p)));
                continue;
            }
            let cold = ((set.sigma0_sq + ex2 / a).max(1e-12), 1.0);
            let p = replica_from(groups, a, set, &quad, state.unwrap_or(cold));
            if let Some(p) = &p {
                state = Some((p.s2.max(1e-14), p.gamma));
            }
            out.push((i, p));
        }
        out
    };
    let (mut fwd, mut bwd) = rayon::join(
        || sweep((0..alphas.len()).collect()),
        || sweep((0..alphas.len()).rev().collect()),
    );
    fwd.sort_by_key(|x| x.0);
    bwd.sort_by_key(|x| x.0);
    Ok(fwd
        .into_iter()
        .zip(bwd)
        .map(|((_, a), (_, b))| lower(a, b))
        .collect())
}

// ---------------------------------------------------------------------------------------
// The model.

/// How the pre-trained network is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pretrain {
    /// Full-batch GD on `round(α_PT d)` PT samples from the PT initialisation.
    Gd,
    /// The authors' oracle: the PT closed form at `β̂_PT = β_PT` (no PT training).
    Oracle,
}

/// Step-size rule of full-batch GD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepRule {
    /// Loss `½‖Xβ − y‖²`, step `η_t = lr / (‖X‖₂² · max_{d,±}(w² + v²))`: `lr` is a
    /// fraction of the local curvature bound, so `lr < 2` is stable at every scale.
    Normalized,
    /// The authors' convention: loss `(1/n)‖Xβ − y‖²` (torch `mse_loss`), fixed step `lr`.
    Fixed,
}

/// What a run does at fine-tuning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FineTune {
    /// Full-batch GD from the PT-derived initialisation, compared with its implicit bias.
    Gd,
    /// No GD: the exact Σq_k interpolator (Thm 4.1) at the oracle `k_d`, GD's predicted
    /// limit; needs `pretrain = "oracle"`.
    Interpolator,
}

/// Smallest initial scales `a_pt` and `c_pt`: below them the initial weights underflow.
const MIN_SCALE: f64 = 1e-8;
/// Largest `max_steps`.
const MAX_STEPS: usize = 100_000_000;

/// Parameters of the diagonal-network PT → FT model. Missing fields take [`Default`]'s
/// values.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiagonalParams {
    /// Input dimension `d`.
    pub d: usize,
    /// FT sample ratio `α = n/d`.
    pub alpha: f64,
    pub rho_pt: f64,
    pub rho_ft: f64,
    pub omega: f64,
    pub a_pt: f64,
    pub c_pt: f64,
    pub lambda_pt: f64,
    /// FT readout scale `γ_FT ≥ 0`.
    pub gamma: f64,
    pub pretrain: Pretrain,
    /// What a run does at fine-tuning.
    pub fine_tune: FineTune,
    /// PT sample ratio `n_PT/d` (with `pretrain = "gd"`).
    pub alpha_pt: f64,
    pub lr: f64,
    pub step_rule: StepRule,
    /// Most GD steps per stage.
    pub max_steps: usize,
    /// GD stops when the train MSE `(1/n)‖Xβ − y‖²` falls below this.
    pub threshold: f64,
    pub gamma_ext: f64,
    pub damping: f64,
    /// Simpson intervals of each Gaussian expectation of the replica solver.
    pub replica_nodes: usize,
    /// Points of the predicted replica curve over α ∈ [0.02, 0.95] (0: no curve).
    pub curve_points: usize,
}

impl Default for DiagonalParams {
    fn default() -> Self {
        DiagonalParams {
            d: 200,
            alpha: 0.5,
            rho_pt: 0.2,
            rho_ft: 0.1,
            omega: 1.0,
            a_pt: 1.0,
            c_pt: 0.5,
            lambda_pt: 0.0,
            gamma: 0.0,
            pretrain: Pretrain::Gd,
            fine_tune: FineTune::Gd,
            alpha_pt: 2.0,
            lr: 0.05,
            step_rule: StepRule::Normalized,
            max_steps: 200_000,
            threshold: 1e-12,
            gamma_ext: 1e-6,
            damping: 0.25,
            replica_nodes: ReplicaSettings::default().nodes,
            curve_points: 0,
        }
    }
}

/// The model, validated.
#[derive(Clone, Debug)]
pub struct Diagonal {
    p: DiagonalParams,
    n: usize,
    n_pt_samples: usize,
    n_pt_support: usize,
    n_ov: usize,
    n_new: usize,
}

/// `c_FT = c_PT(1 + λ_PT)(1 + √(1 + (β_PT/c_PT)²)) + γ²/2` (spec §2; the authors'
/// `compute_c_ft_from_pt`).
pub fn c_ft(beta_pt: f64, c_pt: f64, lambda_pt: f64, gamma: f64) -> f64 {
    c_pt * (1.0 + lambda_pt) * (1.0 + (beta_pt / c_pt).hypot(1.0)) + 0.5 * gamma * gamma
}

fn finite_in(field: &str, x: f64, lo: f64, hi: f64, open_lo: bool) -> Result<()> {
    let ok = x.is_finite() && x <= hi && if open_lo { x > lo } else { x >= lo };
    if ok {
        Ok(())
    } else {
        let l = if open_lo { "(" } else { "[" };
        Err(Error::invalid(
            field,
            format!("must lie in {l}{lo}, {hi}], got {x}"),
        ))
    }
}

impl Diagonal {
    pub fn new(p: DiagonalParams) -> Result<Self> {
        if p.d < 10 || p.d > 5_000 {
            return Err(Error::invalid(
                "d",
                format!("must satisfy 10 ≤ d ≤ 5000, got {}", p.d),
            ));
        }
        finite_in("alpha", p.alpha, 0.0, 4.0, true)?;
        finite_in("rho_pt", p.rho_pt, 0.0, 1.0, true)?;
        finite_in("rho_ft", p.rho_ft, 0.0, 1.0, true)?;
        finite_in("omega", p.omega, 0.0, 1.0, false)?;
        finite_in("a_pt", p.a_pt, MIN_SCALE, 1e6, false)?;
        finite_in("c_pt", p.c_pt, MIN_SCALE, 1e6, false)?;
        finite_in("lambda_pt", p.lambda_pt, -1.0, 1.0, false)?;
        finite_in("gamma", p.gamma, 0.0, 1e6, false)?;
        finite_in("alpha_pt", p.alpha_pt, 0.0, 16.0, true)?;
        finite_in("lr", p.lr, 0.0, 1e6, true)?;
        finite_in("threshold", p.threshold, 0.0, 1.0, true)?;
        finite_in("gamma_ext", p.gamma_ext, 0.0, 1.0, true)?;
        finite_in("damping", p.damping, 0.0, 0.99, false)?;
        if p.step_rule == StepRule::Normalized && p.lr >= 2.0 {
            return Err(Error::invalid(
                "lr",
                format!(
                    "with step_rule = \"normalized\" must be in (0, 2), got {}",
                    p.lr
                ),
            ));
        }
        if p.max_steps == 0 {
            return Err(Error::invalid("max_steps", "must be ≥ 1"));
        }
        crate::params::check_at_most("max_steps", p.max_steps, MAX_STEPS)?;
        if p.curve_points > 400 {
            return Err(Error::invalid("curve_points", "must be ≤ 400"));
        }
        if !(50..=20_000).contains(&p.replica_nodes) {
            return Err(Error::invalid(
                "replica_nodes",
                format!("must be in 50..=20000, got {}", p.replica_nodes),
            ));
        }
        if p.fine_tune == FineTune::Interpolator && p.pretrain != Pretrain::Oracle {
            return Err(Error::invalid(
                "fine_tune",
                "\"interpolator\" uses the oracle k_d: set pretrain = \"oracle\"",
            ));
        }
        // Feasibility of the teacher tasks.
        if p.omega * p.rho_ft > p.rho_pt + 1e-12
            || p.rho_pt + (1.0 - p.omega) * p.rho_ft > 1.0 + 1e-12
        {
            return Err(Error::invalid(
                "omega",
                format!(
                    "infeasible (ρ_PT, ρ_FT, ω) = ({}, {}, {}): need ω·ρ_FT ≤ ρ_PT and ρ_PT + (1 − ω)·ρ_FT ≤ 1",
                    p.rho_pt, p.rho_ft, p.omega
                ),
            ));
        }
        if p.lambda_pt == -1.0 && p.gamma == 0.0 {
            return Err(Error::invalid(
                "lambda_pt",
                "λ_PT = −1 with γ = 0 gives c_FT = 0 (k = 0) off the PT support: the FT network starts at a saddle; use λ_PT > −1 or γ > 0",
            ));
        }
        let d = p.d;
        let round = |x: f64| x.round() as usize;
        let n = round(p.alpha * d as f64);
        let n_pt_samples = round(p.alpha_pt * d as f64);
        let n_pt_support = round(p.rho_pt * d as f64);
        let n_ft = round(p.rho_ft * d as f64);
        let n_ov = round(p.omega * n_ft as f64);
        let n_new = n_ft - n_ov;
        if n == 0 || n_ft == 0 || n_pt_support == 0 || n_pt_samples == 0 {
            return Err(Error::invalid(
                "d",
                format!(
                    "d = {d} is too small: n = {n}, n_PT = {n_pt_samples}, ρ_PT d = {n_pt_support}, ρ_FT d = {n_ft} must all be ≥ 1"
                ),
            ));
        }
        if n_ov > n_pt_support || n_new > d - n_pt_support {
            return Err(Error::invalid(
                "omega",
                format!(
                    "infeasible at d = {d}: {n_ov} shared and {n_new} new FT coordinates do not fit a PT support of {n_pt_support}"
                ),
            ));
        }
        Ok(Diagonal {
            p,
            n,
            n_pt_samples,
            n_pt_support,
            n_ov,
            n_new,
        })
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "diagonal",
            summary: "two-pathway diagonal linear network: PT then FT by full-batch GD; implicit bias Σq_k and replica test error",
            source: "Anguita, Locatello, Saxe, Mondelli, Mancini, Lippl, Dominé, \"A Theory of How Pretraining Shapes Inductive Bias in Fine-Tuning\", arXiv 2602.20062",
            params: describe::<DiagonalParams>(
                &[
                    ("d", "input dimension, 10 ≤ d ≤ 5000"),
                    ("alpha", "FT samples per dimension α = n/d, in (0, 4]"),
                    ("rho_pt", "PT teacher support fraction ρ_PT"),
                    (
                        "rho_ft",
                        "FT teacher support fraction ρ_FT (values N(0, 1/ρ_FT))",
                    ),
                    (
                        "omega",
                        "fraction ω of the FT support inside the PT support; need ωρ_FT ≤ ρ_PT, ρ_PT + (1−ω)ρ_FT ≤ 1",
                    ),
                    ("a_pt", "PT teacher amplitude on its support"),
                    ("c_pt", "PT init scale c_PT = w² + v² (> 0)"),
                    (
                        "lambda_pt",
                        "PT relative layer scale λ_PT = (w² − v²)/c_PT ∈ [−1, 1]",
                    ),
                    ("gamma", "FT readout re-initialisation scale γ ≥ 0"),
                    (
                        "pretrain",
                        "\"gd\": train PT by GD; \"oracle\": PT closed form at the teacher",
                    ),
                    (
                        "fine_tune",
                        "\"gd\": train FT by GD; \"interpolator\": only the Σq_k interpolator's test MSE (needs pretrain = \"oracle\")",
                    ),
                    ("alpha_pt", "PT samples per dimension (pretrain = \"gd\")"),
                    (
                        "lr",
                        "GD step (> 0; < 2 for the normalized rule); GD ≈ gradient flow needs it small",
                    ),
                    (
                        "step_rule",
                        "\"normalized\": η = lr/(‖X‖²·max(w²+v²)) on ½‖Xβ−y‖²; \"fixed\": η = lr on the mean MSE (authors')",
                    ),
                    ("max_steps", "most GD steps per stage"),
                    ("threshold", "stop when the train MSE is below this"),
                    ("gamma_ext", "replica: vanishing explicit regularisation"),
                    (
                        "damping",
                        "replica: weight of the old iterate, in [0, 0.99]",
                    ),
                    (
                        "replica_nodes",
                        "replica: Simpson intervals per Gaussian expectation, 50..=20000",
                    ),
                    (
                        "curve_points",
                        "replica curve points over α ∈ [0.02, 0.95] in predict",
                    ),
                ],
                &[],
            ),
        }
    }

    pub fn params(&self) -> &DiagonalParams {
        &self.p
    }

    fn gd_settings(&self) -> GdSettings {
        GdSettings {
            lr: self.p.lr,
            rule: self.p.step_rule,
            max_steps: self.p.max_steps,
            threshold: self.p.threshold,
        }
    }

    /// The four coordinate groups (OV, NEW, PT-only, none) of the replica problem, with the
    /// PT teacher taken as learned exactly (the oracle).
    pub fn groups(&self) -> Vec<Group> {
        let p = &self.p;
        let k_of = |b: f64| (2.0 * c_ft(b, p.c_pt, p.lambda_pt, p.gamma)).powi(2);
        let var = 1.0 / p.rho_ft;
        vec![
            Group {
                prob: p.omega * p.rho_ft,
                x_var: var,
                k: k_of(p.a_pt),
            },
            Group {
                prob: (1.0 - p.omega) * p.rho_ft,
                x_var: var,
                k: k_of(0.0),
            },
            Group {
                prob: p.rho_pt - p.omega * p.rho_ft,
                x_var: 0.0,
                k: k_of(p.a_pt),
            },
            Group {
                prob: 1.0 - p.rho_pt - (1.0 - p.omega) * p.rho_ft,
                x_var: 0.0,
                k: k_of(0.0),
            },
        ]
        .into_iter()
        .filter(|g| g.prob > 1e-15)
        .collect()
    }

    pub fn replica_settings(&self) -> ReplicaSettings {
        ReplicaSettings {
            gamma_ext: self.p.gamma_ext,
            damping: self.p.damping,
            nodes: self.p.replica_nodes,
            ..Default::default()
        }
    }

    /// Draws `x`, a row-major `rows × d` design, with i.i.d. `N(0, 1/rows)` entries.
    fn design(rng: &mut ChaCha8Rng, rows: usize, x: &mut [f64]) {
        let sd = 1.0 / (rows as f64).sqrt();
        for v in x {
            let g: f64 = StandardNormal.sample(rng);
            *v = sd * g;
        }
    }
}

/// `y = Xβ` for a row-major design `x` with rows of `β.len()` entries.
fn labels(x: &[f64], beta: &[f64], y: &mut [f64]) {
    let d = beta.len();
    for (yi, row) in y.iter_mut().zip(x.chunks_exact(d)) {
        *yi = (0..d).map(|j| row[j] * beta[j]).sum();
    }
}

/// Copies a row-major design into a matrix of its shape.
fn to_mat(x: &[f64], m: &mut Mat<f64>) {
    let d = m.ncols();
    for (i, row) in x.chunks_exact(d).enumerate() {
        for (j, v) in row.iter().enumerate() {
            m[(i, j)] = *v;
        }
    }
}

/// Partial Fisher–Yates: the first `k` entries of a uniform random permutation of `pool`.
fn choose(rng: &mut ChaCha8Rng, pool: &mut [usize], k: usize) {
    for i in 0..k {
        let j = rng.random_range(i..pool.len());
        pool.swap(i, j);
    }
}

/// Two-pathway diagonal network parameters.
#[derive(Clone, Debug)]
pub struct DiagNet {
    pub wp: Vec<f64>,
    pub vp: Vec<f64>,
    pub wm: Vec<f64>,
    pub vm: Vec<f64>,
}

impl DiagNet {
    fn zeros(d: usize) -> Self {
        DiagNet {
            wp: vec![0.0; d],
            vp: vec![0.0; d],
            wm: vec![0.0; d],
            vm: vec![0.0; d],
        }
    }

    /// Both pathways with first layer `w[j]` (coordinate `j`) and readout `v`.
    fn set(&mut self, w: impl Fn(usize) -> f64, v: f64) {
        for j in 0..self.wp.len() {
            (self.wp[j], self.vp[j], self.wm[j], self.vm[j]) = (w(j), v, w(j), v);
        }
    }

    /// `β = w₊∘v₊ − w₋∘v₋` into `beta`.
    pub fn beta(&self, beta: &mut [f64]) {
        for (j, b) in beta.iter_mut().enumerate() {
            *b = self.wp[j] * self.vp[j] - self.wm[j] * self.vm[j];
        }
    }
}

/// Result of one GD stage.
#[derive(Clone, Copy, Debug)]
pub struct GdReport {
    pub steps: usize,
    pub train_mse: f64,
}

/// `‖X‖₂²` of a row-major `rows×d` matrix by 100 power iterations on `XᵀX`, with the
/// iterate `v` (`d`) and `Xv` (`rows`) as buffers.
fn spectral_norm_sq(x: &[f64], rows: usize, v: &mut [f64], xv: &mut [f64]) -> f64 {
    let d = v.len();
    v.fill(1.0 / (d as f64).sqrt());
    let mut lam = 0.0;
    for _ in 0..100 {
        for i in 0..rows {
            xv[i] = x[i * d..(i + 1) * d]
                .iter()
                .zip(v.iter())
                .map(|(a, b)| a * b)
                .sum();
        }
        v.iter_mut().for_each(|e| *e = 0.0);
        for i in 0..rows {
            let row = &x[i * d..(i + 1) * d];
            for j in 0..d {
                v[j] += row[j] * xv[i];
            }
        }
        lam = v.iter().map(|e| e * e).sum::<f64>().sqrt();
        v.iter_mut().for_each(|e| *e /= lam);
    }
    lam
}

/// Step size, step rule and stopping rule of full-batch GD.
#[derive(Clone, Copy, Debug)]
pub struct GdSettings {
    pub lr: f64,
    pub rule: StepRule,
    pub max_steps: usize,
    /// Stop when the train MSE `(1/rows)‖Xβ − y‖²` is below this.
    pub threshold: f64,
}

/// The buffers of [`train`] on up to `rows` samples in dimension `d`: `β`, the residual,
/// the gradient, and the power iteration's `v` and `Xv`.
#[derive(Clone, Debug)]
pub struct GdScratch {
    beta: Vec<f64>,
    r: Vec<f64>,
    g: Vec<f64>,
    v: Vec<f64>,
    xv: Vec<f64>,
}

impl GdScratch {
    pub fn new(rows: usize, d: usize) -> Self {
        GdScratch {
            beta: vec![0.0; d],
            r: vec![0.0; rows],
            g: vec![0.0; d],
            v: vec![0.0; d],
            xv: vec![0.0; rows],
        }
    }
}

/// Full-batch GD of the diagonal network on `(X, y)` (`X` row-major `rows×d`) until the
/// train MSE `(1/rows)‖Xβ − y‖²` is below `threshold` or `max_steps` steps. Allocates
/// nothing: its buffers are `scratch`.
#[allow(clippy::needless_range_loop)] // index loops over the coordinates read as the maths
pub fn train(
    net: &mut DiagNet,
    x: &[f64],
    rows: usize,
    y: &[f64],
    gd: GdSettings,
    scratch: &mut GdScratch,
) -> std::result::Result<GdReport, String> {
    let GdSettings {
        lr,
        rule,
        max_steps,
        threshold,
    } = gd;
    let d = net.wp.len();
    let GdScratch { beta, r, g, v, xv } = scratch;
    let lx = spectral_norm_sq(x, rows, v, xv);
    let mut mse = f64::INFINITY;
    for step in 0..=max_steps {
        let mut scale = 0.0f64;
        for j in 0..d {
            beta[j] = net.wp[j] * net.vp[j] - net.wm[j] * net.vm[j];
            scale = scale
                .max(net.wp[j] * net.wp[j] + net.vp[j] * net.vp[j])
                .max(net.wm[j] * net.wm[j] + net.vm[j] * net.vm[j]);
        }
        let mut sq = 0.0;
        for i in 0..rows {
            let row = &x[i * d..(i + 1) * d];
            let mut s = -y[i];
            for j in 0..d {
                s += row[j] * beta[j];
            }
            r[i] = s;
            sq += s * s;
        }
        mse = sq / rows as f64;
        if !mse.is_finite() {
            return Err(format!("GD diverged at step {step} (lr too large?)"));
        }
        if mse < threshold || step == max_steps {
            return Ok(GdReport {
                steps: step,
                train_mse: mse,
            });
        }
        g.iter_mut().for_each(|e| *e = 0.0);
        for i in 0..rows {
            let row = &x[i * d..(i + 1) * d];
            let ri = r[i];
            for j in 0..d {
                g[j] += row[j] * ri;
            }
        }
        let eta = match rule {
            StepRule::Normalized => lr / (lx * scale.max(1e-300)),
            StepRule::Fixed => lr * 2.0 / rows as f64,
        };
        for j in 0..d {
            let gj = eta * g[j];
            let (wp, vp, wm, vm) = (net.wp[j], net.vp[j], net.wm[j], net.vm[j]);
            net.wp[j] = wp - gj * vp;
            net.vp[j] = vp - gj * wp;
            net.wm[j] = wm + gj * vm;
            net.vm[j] = vm + gj * wm;
        }
    }
    Ok(GdReport {
        steps: max_steps,
        train_mse: mse,
    })
}

/// One PT → FT instance: teachers, designs, and the GD solutions.
#[derive(Clone, Debug)]
pub struct Instance {
    pub beta_pt: Vec<f64>,
    pub beta_ft: Vec<f64>,
    pub beta_pt_hat: Vec<f64>,
    /// Per-coordinate FT scale `c_FT,d = a_d² + γ²/2` of the actual FT initialisation.
    pub c_ft: Vec<f64>,
    pub beta_gd: Vec<f64>,
    pub pt: Option<GdReport>,
    pub ft: GdReport,
    /// PT design (row-major `n_PT × d`) and labels when PT is trained by GD, else empty.
    pub x_pt: Vec<f64>,
    pub y_pt: Vec<f64>,
    /// FT design, row-major and as a matrix, and labels.
    pub x_ft_rows: Vec<f64>,
    pub x_ft: Mat<f64>,
    pub y_ft: Vec<f64>,
}

/// The index buffers of [`Diagonal::draw_teachers`] (`d` each): the permuted pool, the PT
/// support as flags, the indices in and out of it, and the FT support.
#[derive(Clone, Debug)]
struct TeacherScratch {
    pool: Vec<usize>,
    in_pt: Vec<bool>,
    pt_idx: Vec<usize>,
    non_idx: Vec<usize>,
    support: Vec<usize>,
}

/// The buffers of one run, reused across runs.
#[derive(Debug)]
pub struct DiagonalWorkspace {
    /// The seed's instance.
    pub instance: Instance,
    teachers: TeacherScratch,
    net: DiagNet,
    gd: GdScratch,
    /// `a_d²`: the squared first layer FT starts from.
    a_sq: Vec<f64>,
    /// `k_d` of the FT implicit bias, with the Σq_k interpolator and its KKT check (`n < d`).
    k: Vec<f64>,
    ft_fit: Option<(Interpolator, Kkt)>,
    /// The PT design as a matrix, `k = 4c_PT²` and the KKT check of the PT implicit bias
    /// (when [`Diagonal::checks_pt_implicit_bias`]).
    pt_fit: Option<(Mat<f64>, Vec<f64>, Kkt)>,
}

impl Diagonal {
    /// Draws the PT teacher (support of `ρ_PT d`, amplitude `a_PT`) and the FT teacher
    /// (`ω`-fraction of its `ρ_FT d` coordinates in the PT support, values `N(0, 1/ρ_FT)`)
    /// into `ws.instance`.
    fn draw_teachers(&self, rng: &mut ChaCha8Rng, ws: &mut DiagonalWorkspace) {
        let p = &self.p;
        let d = p.d;
        let TeacherScratch {
            pool,
            in_pt,
            pt_idx,
            non_idx,
            support,
        } = &mut ws.teachers;
        let inst = &mut ws.instance;
        pool.clear();
        pool.extend(0..d);
        choose(rng, pool, self.n_pt_support);
        in_pt.fill(false);
        for &j in &pool[..self.n_pt_support] {
            in_pt[j] = true;
        }
        pt_idx.clear();
        pt_idx.extend((0..d).filter(|&j| in_pt[j]));
        non_idx.clear();
        non_idx.extend((0..d).filter(|&j| !in_pt[j]));
        choose(rng, pt_idx, self.n_ov);
        choose(rng, non_idx, self.n_new);
        for (b, &inside) in inst.beta_pt.iter_mut().zip(in_pt.iter()) {
            *b = if inside { p.a_pt } else { 0.0 };
        }
        inst.beta_ft.fill(0.0);
        let sd = 1.0 / p.rho_ft.sqrt();
        support.clear();
        support.extend_from_slice(&pt_idx[..self.n_ov]);
        support.extend_from_slice(&non_idx[..self.n_new]);
        support.sort_unstable();
        for &j in support.iter() {
            let g: f64 = StandardNormal.sample(rng);
            inst.beta_ft[j] = sd * g;
        }
    }

    /// Test MSE of the exact Σq_k interpolator (Thm 4.1) on one sampled instance, with the
    /// oracle `k_d` (PT learned exactly): the empirical counterpart of the replica curve
    /// without running GD.
    pub fn interpolator_mse(
        &self,
        rng: &mut ChaCha8Rng,
        ws: &mut DiagonalWorkspace,
    ) -> std::result::Result<f64, String> {
        let p = &self.p;
        self.draw_teachers(rng, ws);
        let rows = self.n;
        let (inst, k) = (&mut ws.instance, &mut ws.k);
        let Some((sol, _)) = &mut ws.ft_fit else {
            // n ≥ d: the interpolator is the teacher.
            return Ok(0.0);
        };
        Self::design(rng, rows, &mut inst.x_ft_rows);
        labels(&inst.x_ft_rows, &inst.beta_ft, &mut inst.y_ft);
        for (kj, &b) in k.iter_mut().zip(&inst.beta_pt) {
            *kj = (2.0 * c_ft(b, p.c_pt, p.lambda_pt, p.gamma)).powi(2);
        }
        to_mat(&inst.x_ft_rows, &mut inst.x_ft);
        sol.solve(&inst.x_ft, &inst.y_ft, k, 1e-10)
            .map_err(|e| e.to_string())?;
        Ok(mean_sq_diff(&sol.beta, &inst.beta_ft))
    }

    /// Draws the teachers and designs of one seed into `ws.instance` and trains PT and
    /// FT by GD.
    pub fn instance(
        &self,
        rng: &mut ChaCha8Rng,
        ws: &mut DiagonalWorkspace,
    ) -> std::result::Result<(), String> {
        let p = &self.p;
        self.draw_teachers(rng, ws);
        let DiagonalWorkspace {
            instance: inst,
            net,
            gd,
            a_sq,
            ..
        } = ws;
        // Pre-training.
        match p.pretrain {
            Pretrain::Oracle => {
                for (a, &b) in a_sq.iter_mut().zip(&inst.beta_pt) {
                    *a = c_ft(b, p.c_pt, p.lambda_pt, 0.0);
                }
                inst.beta_pt_hat.copy_from_slice(&inst.beta_pt);
                inst.pt = None;
            }
            Pretrain::Gd => {
                let rows = self.n_pt_samples;
                Self::design(rng, rows, &mut inst.x_pt);
                labels(&inst.x_pt, &inst.beta_pt, &mut inst.y_pt);
                let w0 = (p.c_pt * (1.0 + p.lambda_pt) / 2.0).sqrt();
                let v0 = (p.c_pt * (1.0 - p.lambda_pt) / 2.0).max(0.0).sqrt();
                net.set(|_| w0, v0);
                let rep = train(net, &inst.x_pt, rows, &inst.y_pt, self.gd_settings(), gd)
                    .map_err(|e| format!("PT: {e}"))?;
                for ((a, wp), wm) in a_sq.iter_mut().zip(&net.wp).zip(&net.wm) {
                    *a = (wp + wm).powi(2);
                }
                net.beta(&mut inst.beta_pt_hat);
                inst.pt = Some(rep);
            }
        }
        // Fine-tuning: both pathways get first layer a_d and readout γ/√2.
        let rows = self.n;
        Self::design(rng, rows, &mut inst.x_ft_rows);
        labels(&inst.x_ft_rows, &inst.beta_ft, &mut inst.y_ft);
        net.set(|j| a_sq[j].sqrt(), p.gamma / 2f64.sqrt());
        inst.ft = train(
            net,
            &inst.x_ft_rows,
            rows,
            &inst.y_ft,
            self.gd_settings(),
            gd,
        )
        .map_err(|e| format!("FT: {e}"))?;
        for (c, a) in inst.c_ft.iter_mut().zip(a_sq.iter()) {
            *c = a + 0.5 * p.gamma * p.gamma;
        }
        net.beta(&mut inst.beta_gd);
        to_mat(&inst.x_ft_rows, &mut inst.x_ft);
        Ok(())
    }

    /// The implicit-bias checks of a trained instance: the Σq_k interpolator with
    /// `√k_d = 2c_FT,d` (left in `ws`), its worse KKT residual and the stationarity
    /// residual of `β_GD` for the same problem (`n < d`); and the stationarity residual of
    /// `β̂_PT` for `q_k` with `√k = 2c_PT` (when checked).
    fn implicit_bias(
        &self,
        ws: &mut DiagonalWorkspace,
    ) -> std::result::Result<(Option<[f64; 2]>, Option<f64>), String> {
        let inst = &ws.instance;
        let ft = match &mut ws.ft_fit {
            Some((sol, kkt)) => {
                for (k, c) in ws.k.iter_mut().zip(&inst.c_ft) {
                    *k = (2.0 * c).powi(2);
                }
                sol.solve(&inst.x_ft, &inst.y_ft, &ws.k, 1e-11)
                    .map_err(|e| format!("implicit-bias solver: {e}"))?;
                let (feas, stat) = kkt
                    .residuals(&inst.x_ft, &inst.y_ft, &ws.k, &sol.beta)
                    .map_err(|e| e.to_string())?;
                let (_, gd_stat) = kkt
                    .residuals(&inst.x_ft, &inst.y_ft, &ws.k, &inst.beta_gd)
                    .map_err(|e| e.to_string())?;
                Some([feas.max(stat), gd_stat])
            }
            None => None,
        };
        let pt = match &mut ws.pt_fit {
            Some((x, k, kkt)) => {
                to_mat(&inst.x_pt, x);
                let (_, stat) = kkt
                    .residuals(x, &inst.y_pt, k, &inst.beta_pt_hat)
                    .map_err(|e| e.to_string())?;
                Some(stat)
            }
            None => None,
        };
        Ok((ft, pt))
    }
}

fn mean_sq_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

fn norm(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// `‖a − b‖/‖scale‖`.
fn rel_dist(a: &[f64], b: &[f64], scale: &[f64]) -> f64 {
    let diff = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y));
    diff.sum::<f64>().sqrt() / norm(scale)
}

/// What one run measured, before [`Diagonal::end_metrics`] names it.
enum Measured<'a> {
    /// `fine_tune = "gd"`: the instance trained by GD; the Σq_k interpolator `β_q` with
    /// its KKT residual and GD's stationarity residual (`n < d`); PT's stationarity
    /// residual (when checked).
    Trained {
        inst: &'a Instance,
        fit: Option<(&'a [f64], [f64; 2])>,
        pt_stationarity: Option<f64>,
    },
    /// `fine_tune = "interpolator"`: the Σq_k interpolator's test MSE on the instance.
    Interpolated(f64),
}

/// The meaning of the metric `test_mse_implicit`, in both fine-tuning modes.
const IMPLICIT_MSE: &str = "(1/d)‖β_q − β_FT‖², the test MSE of the Σq_k interpolator (Thm 4.1)";

impl Diagonal {
    /// Whether runs compare GD with the Σq_k interpolator: it needs `n < d` (at `n ≥ d`
    /// the interpolator is `β_FT`).
    fn compares_implicit_bias(&self) -> bool {
        self.n < self.p.d
    }

    /// Whether runs check the PT implicit bias: PT by GD on `n_PT < d` samples.
    fn checks_pt_implicit_bias(&self) -> bool {
        self.p.pretrain == Pretrain::Gd && self.n_pt_samples < self.p.d
    }

    /// The end-state metrics of one run, named, in the order a run reports them. This is
    /// the one place their names are written: with `measured = None` every value is NaN,
    /// and the names are the schema ([`Dynamics::metric_specs`]).
    fn end_metrics(&self, measured: Option<&Measured<'_>>, sink: &mut impl Sink) {
        let p = &self.p;
        let d = p.d;
        let mut put = |name: &str, unit: &str, meaning: &str, value: Option<f64>| {
            sink.put(name, unit, meaning, value.unwrap_or(f64::NAN));
        };
        let (inst, fit, pt_stationarity) = match measured {
            Some(Measured::Trained {
                inst,
                fit,
                pt_stationarity,
            }) => (Some(*inst), *fit, *pt_stationarity),
            _ => (None, None, None),
        };
        if p.fine_tune == FineTune::Interpolator {
            let mse = match measured {
                Some(Measured::Interpolated(mse)) => Some(*mse),
                _ => None,
            };
            put("test_mse_implicit", "1", IMPLICIT_MSE, mse);
            return;
        }
        put(
            "test_mse_gd",
            "1",
            "(1/d)‖β_GD − β_FT‖², the test MSE of the fine-tuned network",
            inst.map(|i| mean_sq_diff(&i.beta_gd, &i.beta_ft)),
        );
        if self.compares_implicit_bias() {
            // The Σq_k interpolator β_q with √k_d = 2c_FT,d, its KKT residual, and the
            // stationarity residual of β_GD for the same problem.
            let fit = inst.zip(fit);
            put(
                "test_mse_implicit",
                "1",
                IMPLICIT_MSE,
                fit.map(|(i, (beta, _))| mean_sq_diff(beta, &i.beta_ft)),
            );
            put(
                "gd_vs_implicit_rel_dist",
                "1",
                "‖β_GD − β_q‖/‖β_FT‖: GD against its predicted implicit bias",
                fit.map(|(i, (beta, _))| rel_dist(&i.beta_gd, beta, &i.beta_ft)),
            );
            put(
                "implicit_kkt",
                "1",
                "the interpolator's worse KKT residual: ‖Xβ_q − y‖/‖y‖ or q'(β_q) off row(X)",
                fit.map(|(_, (_, r))| r[0]),
            );
            put(
                "gd_kkt_stationarity",
                "1",
                "relative residual of q'(β_GD) off row(X_FT): GD's KKT stationarity",
                fit.map(|(_, (_, r))| r[1]),
            );
        }
        put(
            "ft_train_mse",
            "1",
            "FT train MSE (1/n)‖Xβ − y‖² when GD stopped",
            inst.map(|i| i.ft.train_mse),
        );
        put(
            "ft_steps",
            "steps",
            "FT GD steps taken",
            inst.map(|i| i.ft.steps as f64),
        );
        if p.pretrain == Pretrain::Gd {
            let pt = inst.and_then(|i| Some((i, i.pt?)));
            put(
                "pt_train_mse",
                "1",
                "PT train MSE (1/n_PT)‖X_PT β̂_PT − y_PT‖² when GD stopped",
                pt.map(|(_, r)| r.train_mse),
            );
            put(
                "pt_steps",
                "steps",
                "PT GD steps taken",
                pt.map(|(_, r)| r.steps as f64),
            );
            put(
                "pt_recovery_rel_err",
                "1",
                "‖β̂_PT − β_PT‖/‖β_PT‖, how well PT learned its teacher",
                pt.map(|(i, _)| rel_dist(&i.beta_pt_hat, &i.beta_pt, &i.beta_pt)),
            );
            // (w₊ + w₋)² against the PT closed form at the learned β̂_PT (spec [DER] 2).
            put(
                "c_ft_formula_rel_err",
                "1",
                "max over coordinates of the relative error of (w₊ + w₋)² after PT against c_PT(1 + λ_PT)(1 + √(1 + (β̂_PT/c_PT)²))",
                pt.map(|(i, _)| {
                    (0..d)
                        .map(|j| {
                            let formula = c_ft(i.beta_pt_hat[j], p.c_pt, p.lambda_pt, 0.0);
                            let a_sq = i.c_ft[j] - 0.5 * p.gamma * p.gamma;
                            ((a_sq - formula) / formula).abs()
                        })
                        .fold(0.0, f64::max)
                }),
            );
            // PT implicit bias: q_k with √k = 2c_PT whatever λ_PT (spec [DER] 1).
            if self.checks_pt_implicit_bias() {
                put(
                    "pt_kkt_stationarity",
                    "1",
                    "relative residual of arcsinh(β̂_PT/c_PT) off row(X_PT): the PT implicit bias q_k, √k = 2c_PT",
                    pt.and(pt_stationarity),
                );
            }
        }
    }
}

impl Dynamics for Diagonal {
    type Params = DiagonalParams;
    type Workspace = DiagonalWorkspace;

    fn from_params(p: DiagonalParams) -> Result<Self> {
        Self::new(p)
    }

    fn model_info() -> ModelInfo {
        Self::info()
    }

    fn metric_specs(&self) -> Vec<MetricSpec> {
        let mut schema = Schema::default();
        self.end_metrics(None, &mut schema);
        schema.metrics
    }

    fn name(&self) -> &'static str {
        "diagonal"
    }

    fn default_seeds(&self) -> u64 {
        12
    }

    fn workspace(&self) -> DiagonalWorkspace {
        let p = &self.p;
        let (d, n) = (p.d, self.n);
        let n_pt = if p.pretrain == Pretrain::Gd {
            self.n_pt_samples
        } else {
            0
        };
        let indices = || Vec::with_capacity(d);
        DiagonalWorkspace {
            instance: Instance {
                beta_pt: vec![0.0; d],
                beta_ft: vec![0.0; d],
                beta_pt_hat: vec![0.0; d],
                c_ft: vec![0.0; d],
                beta_gd: vec![0.0; d],
                pt: None,
                ft: GdReport {
                    steps: 0,
                    train_mse: f64::NAN,
                },
                x_pt: vec![0.0; n_pt * d],
                y_pt: vec![0.0; n_pt],
                x_ft_rows: vec![0.0; n * d],
                x_ft: Mat::zeros(n, d),
                y_ft: vec![0.0; n],
            },
            teachers: TeacherScratch {
                pool: indices(),
                in_pt: vec![false; d],
                pt_idx: indices(),
                non_idx: indices(),
                support: indices(),
            },
            net: DiagNet::zeros(d),
            gd: GdScratch::new(n.max(n_pt), d),
            a_sq: vec![0.0; d],
            k: vec![0.0; d],
            ft_fit: self
                .compares_implicit_bias()
                .then(|| (Interpolator::new(n, d), Kkt::new(n, d))),
            pt_fit: self.checks_pt_implicit_bias().then(|| {
                (
                    Mat::zeros(n_pt, d),
                    vec![4.0 * p.c_pt * p.c_pt; d],
                    Kkt::new(n_pt, d),
                )
            }),
        }
    }

    fn run(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut DiagonalWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        let measured = match self.p.fine_tune {
            FineTune::Gd => {
                self.instance(rng, ws)?;
                let (ft, pt_stationarity) = self.implicit_bias(ws)?;
                Measured::Trained {
                    inst: &ws.instance,
                    fit: ws
                        .ft_fit
                        .as_ref()
                        .zip(ft)
                        .map(|((sol, _), r)| (sol.beta.as_slice(), r)),
                    pt_stationarity,
                }
            }
            FineTune::Interpolator => Measured::Interpolated(self.interpolator_mse(rng, ws)?),
        };
        let mut row = Row::new(out);
        self.end_metrics(Some(&measured), &mut row);
        row.finish()
    }

    /// A run keeps the `n×d` design (`n = α d`) and runs at most `max_steps` steps of
    /// O(n d) in each of its two stages; the replica prediction iterates a fixed point
    /// over `replica_nodes` quadrature nodes.
    fn cost(&self) -> Cost {
        let (n, d) = (self.n as f64, self.p.d as f64);
        let steps = 2.0 * self.p.max_steps as f64;
        let nodes = self.p.replica_nodes as f64;
        Cost {
            trial: Need::new(
                8.0 * (4.0 * n * d + 40.0 * d),
                6.0 * steps * n * d,
                "max_steps",
            ),
            predict: Need::new(8.0 * 64.0 * nodes, 2e4 * nodes * 16.0, "replica_nodes"),
        }
    }

    fn predict(&self) -> Result<DynPrediction> {
        let groups = self.groups();
        let set = self.replica_settings();
        let alpha = self.n as f64 / self.p.d as f64;
        let point = replica(&groups, alpha, &set)?;
        let mut quantities = vec![
            ("alpha".into(), alpha),
            ("replica_test_mse".into(), point.mse),
            ("replica_test_mse_db".into(), 10.0 * point.mse.log10()),
            ("replica_s2".into(), point.s2),
            ("replica_gamma".into(), point.gamma),
            ("replica_iterations".into(), point.iterations as f64),
            (
                "null_risk".into(),
                groups.iter().map(|g| g.prob * g.x_var).sum(),
            ),
        ];
        let k_of = |b: f64| (2.0 * c_ft(b, self.p.c_pt, self.p.lambda_pt, self.p.gamma)).powi(2);
        quantities.push(("k_pt_support".into(), k_of(self.p.a_pt)));
        quantities.push(("k_off_pt_support".into(), k_of(0.0)));
        // Spec §2 check 3 ("reuse"): the same task with the FT support inside (ω = 1) or
        // outside (ω = 0) the PT support, where both are feasible.
        let at_omega = |omega: f64| -> Option<f64> {
            if omega == self.p.omega {
                return Some(point.mse);
            }
            let m = Diagonal::new(DiagonalParams {
                omega,
                ..self.p.clone()
            })
            .ok()?;
            replica(&m.groups(), alpha, &set).ok().map(|p| p.mse)
        };
        if let (Some(reuse), Some(new)) = (at_omega(1.0), at_omega(0.0)) {
            quantities.push(("replica_test_mse_omega1".into(), reuse));
            quantities.push(("replica_test_mse_omega0".into(), new));
            quantities.push((
                "reuse_gain_db".into(),
                10.0 * new.log10() - 10.0 * reuse.log10(),
            ));
        }
        let mut curves = vec![];
        if self.p.curve_points > 0 {
            let grid = alpha_grid(self.p.curve_points);
            let curve = replica_curve(&groups, &grid, &set)?;
            curves.push(Curve {
                name: "replica_test_mse".into(),
                t: grid,
                y: curve
                    .iter()
                    .map(|p| p.map_or(f64::NAN, |p| p.mse))
                    .collect(),
            });
        }
        Ok(DynPrediction {
            model: "diagonal".into(),
            quantities,
            curves,
        })
    }

    fn criteria(&self, prediction: &DynPrediction, runs: &[RunOutcome]) -> Vec<Criterion> {
        let q = |name: &str| {
            prediction
                .quantities
                .iter()
                .find(|(k, _)| k == name)
                .map_or(f64::NAN, |(_, v)| *v)
        };
        let vals =
            |name: &str| -> Vec<f64> { runs.iter().filter_map(|r| r.metric(name)).collect() };
        let summary = |v: &[f64]| crate::stats::Summary::of(v);
        let mut out = vec![];
        let worst = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        // Without GD (`fine_tune = "interpolator"`) only the replica is checked.
        let trained = self.p.fine_tune == FineTune::Gd;
        if self.n < self.p.d {
            if trained {
                let v = vals("gd_vs_implicit_rel_dist");
                out.push(Criterion {
                    name: "gd_vs_implicit_bias".into(),
                    statement: "GD converges to the Σq_k interpolator (Thm 4.1, √k_d = 2c_FT,d): ‖β_GD − β_q‖/‖β_FT‖ ≤ 0.05 in every seed (measured: worst)".into(),
                    predicted: Some(0.0),
                    measured: worst(&v),
                    se: None,
                    pass: !v.is_empty() && worst(&v) <= 0.05,
                });
                let v = vals("implicit_kkt");
                out.push(Criterion {
                    name: "implicit_bias_kkt".into(),
                    statement: "the convex solver's output satisfies the KKT conditions (Xβ = y, q'(β) ∈ row X) to ≤ 1e-8 in every seed (worst)".into(),
                    predicted: Some(0.0),
                    measured: worst(&v),
                    se: None,
                    pass: !v.is_empty() && worst(&v) <= 1e-8,
                });
            }
            let pred = q("replica_test_mse");
            let v = vals("test_mse_implicit");
            if let Some(s) = summary(&v) {
                let gap_db = (10.0 * (s.mean / pred).log10()).abs();
                out.push(Criterion {
                    name: "replica_vs_implicit".into(),
                    statement: format!(
                        "replica test MSE (Prop. 4.2) = mean over seeds of the Σq_k interpolator's MSE: |gap| ≤ 1 dB or ≤ 3 s.e. (gap {gap_db:.2} dB)"
                    ),
                    predicted: Some(pred),
                    measured: s.mean,
                    se: Some(s.se),
                    pass: gap_db <= 1.0 || (s.mean - pred).abs() <= 3.0 * s.se,
                });
            }
            let v = vals("test_mse_gd");
            if let Some(s) = summary(&v) {
                let gap_db = (10.0 * (s.mean / pred).log10()).abs();
                out.push(Criterion {
                    name: "replica_vs_gd".into(),
                    statement: format!(
                        "replica test MSE = mean over seeds of GD's test MSE: |gap| ≤ 1 dB or ≤ 3 s.e. (gap {gap_db:.2} dB)"
                    ),
                    predicted: Some(pred),
                    measured: s.mean,
                    se: Some(s.se),
                    pass: gap_db <= 1.0 || (s.mean - pred).abs() <= 3.0 * s.se,
                });
            }
        }
        if trained {
            let v = vals("ft_train_mse");
            let capped = vals("ft_steps")
                .iter()
                .zip(&v)
                .filter(|&(&steps, &mse)| {
                    steps >= self.p.max_steps as f64 && mse >= self.p.threshold
                })
                .count();
            let cap_note = if capped > 0 {
                format!(
                    "; {capped} of {} seeds stopped at the step cap max_steps = {} before reaching it (raise max_steps)",
                    v.len(),
                    self.p.max_steps
                )
            } else {
                String::new()
            };
            out.push(Criterion {
                name: "ft_interpolates".into(),
                statement: format!(
                    "FT GD interpolates: train MSE < threshold = {:e} in every seed (worst){cap_note}",
                    self.p.threshold
                ),
                predicted: Some(0.0),
                measured: worst(&v),
                se: None,
                pass: !v.is_empty() && worst(&v) < self.p.threshold,
            });
        }
        if self.p.pretrain == Pretrain::Gd {
            let v = vals("c_ft_formula_rel_err");
            out.push(Criterion {
                name: "c_ft_formula".into(),
                statement: "after PT, (w₊ + w₋)² = c_PT(1 + λ_PT)(1 + √(1 + (β̂_PT/c_PT)²)) to within 2% on every coordinate of every seed (worst)".into(),
                predicted: Some(0.0),
                measured: worst(&v),
                se: None,
                pass: !v.is_empty() && worst(&v) <= 0.02,
            });
            let v = vals("pt_kkt_stationarity");
            if !v.is_empty() {
                out.push(Criterion {
                    name: "pt_implicit_bias".into(),
                    statement: "PT implicit bias is q_k with √k = 2c_PT (any λ_PT): arcsinh(β̂_PT/c_PT) ∈ row(X_PT) to relative residual ≤ 0.02 in every seed (worst)".into(),
                    predicted: Some(0.0),
                    measured: worst(&v),
                    se: None,
                    pass: worst(&v) <= 0.02,
                });
            }
        }
        out
    }
}

/// `count` values of α log-spaced over [0.02, 0.95].
pub fn alpha_grid(count: usize) -> Vec<f64> {
    if count == 1 {
        return vec![0.95];
    }
    (0..count)
        .map(|i| 0.02 * 47.5f64.powf(i as f64 / (count - 1) as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::trial_rng;
    use faer::Side;
    use faer::prelude::Solve;

    #[test]
    fn q_k_derivatives_match_finite_differences() {
        for &k in &[1e-6f64, 0.04, 1.0, 25.0] {
            for &z in &[-3.0f64, -0.1, 0.0, 0.02, 1.5, 7.0] {
                let h = 1e-6 * (1.0 + z.abs());
                let d1 = (q_k(z + h, k) - q_k(z - h, k)) / (2.0 * h);
                assert!(
                    (d1 - q_k_prime(z, k)).abs() <= 1e-6 * (1.0 + d1.abs()),
                    "k={k} z={z}"
                );
                let d2 = (q_k_prime(z + h, k) - q_k_prime(z - h, k)) / (2.0 * h);
                assert!(
                    (d2 - q_k_second(z, k)).abs() <= 1e-5 * (1.0 + d2.abs()),
                    "k={k} z={z}"
                );
            }
        }
        assert_eq!(q_k(0.0, 1.0), 0.0);
    }

    #[test]
    fn prox_solves_its_equation() {
        for &k in &[1e-8f64, 1e-3, 1.0, 100.0] {
            for &gamma in &[1e-4f64, 0.3, 10.0, 1e4] {
                for &z in &[-20.0f64, -0.5, 1e-6, 0.7, 30.0] {
                    let u = prox(z, gamma, k, 0.0);
                    let f = u - z + 0.5 * gamma * (2.0 * u / k.sqrt()).asinh();
                    assert!(
                        f.abs() <= 1e-10 * (1.0 + z.abs()),
                        "k={k} γ={gamma} z={z}: {f}"
                    );
                    assert!(u * z >= 0.0 && u.abs() <= z.abs());
                }
            }
        }
    }

    fn gaussian(rows: usize, d: usize, seed: u64) -> Mat<f64> {
        let mut rng = trial_rng(seed, 99, 0);
        Mat::from_fn(rows, d, |_, _| {
            let g: f64 = StandardNormal.sample(&mut rng);
            g / (rows as f64).sqrt()
        })
    }

    #[test]
    fn interpolator_satisfies_kkt_and_beats_feasible_perturbations() {
        let (n, d) = (30, 80);
        let x = gaussian(n, d, 1);
        let mut rng = trial_rng(2, 99, 0);
        let beta0: Vec<f64> = (0..d)
            .map(|j| {
                let g: f64 = StandardNormal.sample(&mut rng);
                if j % 8 == 0 { 3.0 * g } else { 0.0 }
            })
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| (0..d).map(|j| x[(i, j)] * beta0[j]).sum())
            .collect();
        let k: Vec<f64> = (0..d)
            .map(|j| if j % 3 == 0 { 1e-4 } else { 0.5 })
            .collect();
        let sol = min_q_interpolator(&x, &y, &k, 1e-12).unwrap();
        let (feas, stat) = kkt_residuals(&x, &y, &k, &sol.beta).unwrap();
        assert!(feas < 1e-10 && stat < 1e-8, "{feas} {stat}");
        // Independent check: moving along the null space of X never lowers Σ q_k.
        let obj = |b: &[f64]| b.iter().zip(&k).map(|(z, k)| q_k(*z, *k)).sum::<f64>();
        let base = obj(&sol.beta);
        let gram = &x * x.transpose();
        let llt = gram.llt(Side::Lower).unwrap();
        for s in 0..20 {
            let r = gaussian(d, 1, 100 + s);
            let proj = x.transpose() * llt.solve(&x * &r);
            let w = &r - proj; // in null(X)
            for &t in &[1e-3, 1e-2, 0.1] {
                let moved: Vec<f64> = (0..d).map(|j| sol.beta[j] + t * w[(j, 0)]).collect();
                assert!(obj(&moved) >= base - 1e-12, "s={s} t={t}");
            }
        }
        // The uniform-k limit k → ∞ is the minimum-ℓ2-norm interpolator Xᵀ(XXᵀ)⁻¹y.
        let big = vec![1e10; d];
        let sol = min_q_interpolator(&x, &y, &big, 1e-12).unwrap();
        let ymat = Mat::from_fn(n, 1, |i, _| y[i]);
        let mn = x.transpose() * llt.solve(&ymat);
        let err: f64 = (0..d)
            .map(|j| (sol.beta[j] - mn[(j, 0)]).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(err < 1e-6 * norm(&sol.beta), "{err}");
    }

    #[test]
    fn replica_ridge_limit_is_one_minus_alpha() {
        // Uniform large k: q_k ∝ z², the min-ℓ2 interpolator, whose MSE is (1 − α)E[x²].
        let groups = [
            Group {
                prob: 0.1,
                x_var: 10.0,
                k: 1e8,
            },
            Group {
                prob: 0.9,
                x_var: 0.0,
                k: 1e8,
            },
        ];
        for &alpha in &[0.1, 0.3, 0.7] {
            let p = replica(&groups, alpha, &ReplicaSettings::default()).unwrap();
            let exact = (1.0 - alpha) * 1.0;
            assert!(
                (p.mse - exact).abs() < 1e-4 * exact,
                "α={alpha}: {} vs {exact}",
                p.mse
            );
        }
    }

    /// Spec §2 check 2/3: at α = 0.2, ρ_PT = 0.1, ρ_FT = 0.04, c_PT = 0.001, λ = γ = 0 the
    /// spec's independent NumPy port of the fixed point gives 2.5e-4 (ω = 1) and 0.404
    /// (ω = 0): reuse is worth about 32 dB. Its 60k-sample Monte Carlo shares one sample
    /// across both, so the ratio is the robust comparison: 32 ± 1 dB.
    #[test]
    fn reuse_gain_matches_the_spec() {
        let m = Diagonal::new(DiagonalParams {
            d: 500,
            alpha: 0.2,
            rho_pt: 0.1,
            rho_ft: 0.04,
            c_pt: 0.001,
            ..Default::default()
        })
        .unwrap();
        let p = m.predict().unwrap();
        let gain = p
            .quantities
            .iter()
            .find(|(k, _)| k == "reuse_gain_db")
            .unwrap()
            .1;
        let spec_gain = 10.0 * (0.404f64 / 2.5e-4).log10();
        assert!(
            (gain - spec_gain).abs() <= 1.0,
            "{gain} dB vs spec {spec_gain} dB"
        );
    }

    #[test]
    fn continuation_curve_agrees_with_pointwise_solves() {
        let m = Diagonal::new(DiagonalParams {
            rho_pt: 0.1,
            rho_ft: 0.04,
            omega: 0.5,
            c_pt: 0.01,
            ..Default::default()
        })
        .unwrap();
        let set = ReplicaSettings {
            nodes: 400,
            ..Default::default()
        };
        let grid = [0.1, 0.2, 0.4, 1.0];
        let curve = replica_curve(&m.groups(), &grid, &set).unwrap();
        for (a, p) in grid.iter().zip(&curve) {
            let p = p.unwrap();
            let q = replica(&m.groups(), *a, &set).unwrap();
            assert!(
                (p.mse - q.mse).abs() <= 1e-6 * (1.0 + q.mse),
                "α={a}: {} vs {}",
                p.mse,
                q.mse
            );
        }
        assert_eq!(curve[3].unwrap().mse, 0.0);
    }

    /// A run writes the metrics of the schema, finite and in their named slots, at the
    /// default-style configuration (n < d, PT by GD on n_PT ≥ d samples) and with each
    /// condition flipped: n ≥ d (no interpolator), the oracle PT (no PT metrics),
    /// n_PT < d (PT implicit bias), and without GD (the interpolator only).
    #[test]
    fn metric_specs_match_the_run() {
        let small = DiagonalParams {
            d: 40,
            max_steps: 5_000,
            ..Default::default()
        };
        let cases = [
            ("default", small.clone(), 11),
            (
                "n ≥ d",
                DiagonalParams {
                    alpha: 1.5,
                    ..small.clone()
                },
                7,
            ),
            (
                "oracle",
                DiagonalParams {
                    pretrain: Pretrain::Oracle,
                    ..small.clone()
                },
                7,
            ),
            (
                "n_PT < d",
                DiagonalParams {
                    alpha_pt: 0.5,
                    ..small.clone()
                },
                12,
            ),
            (
                "interpolator",
                DiagonalParams {
                    pretrain: Pretrain::Oracle,
                    fine_tune: FineTune::Interpolator,
                    ..small.clone()
                },
                1,
            ),
        ];
        for (label, p, count) in cases {
            let m = Diagonal::new(p).unwrap();
            let run = m.outcome(&mut trial_rng(4, 0, 0), 0).unwrap();
            let specs = m.metric_specs();
            let named: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(named.len(), count, "{label}: {named:?}");
            assert!(
                run.metrics.iter().all(|(_, v)| v.is_finite()),
                "{label}: {run:?}"
            );
            assert!(
                specs
                    .iter()
                    .all(|s| !s.unit.is_empty() && !s.meaning.is_empty())
            );
            if m.params().fine_tune == FineTune::Gd {
                let mut ws = m.workspace();
                m.instance(&mut trial_rng(4, 0, 0), &mut ws).unwrap();
                let ft = ws.instance.ft;
                assert_eq!(run.metric("ft_train_mse"), Some(ft.train_mse), "{label}");
                assert_eq!(run.metric("ft_steps"), Some(ft.steps as f64), "{label}");
            }
        }
    }

    /// With `fine_tune = "interpolator"` a run reports the interpolator's test MSE on the
    /// instance its stream draws ([`Diagonal::interpolator_mse`]), and the check is the
    /// replica's alone.
    #[test]
    fn interpolator_runs_measure_the_interpolator() {
        let m = Diagonal::new(DiagonalParams {
            d: 60,
            alpha: 0.3,
            pretrain: Pretrain::Oracle,
            fine_tune: FineTune::Interpolator,
            ..Default::default()
        })
        .unwrap();
        let run = m.outcome(&mut trial_rng(5, 0, 1), 1).unwrap();
        let direct = m
            .interpolator_mse(&mut trial_rng(5, 0, 1), &mut m.workspace())
            .unwrap();
        assert_eq!(run.metric("test_mse_implicit"), Some(direct));
        let names: Vec<String> = m
            .criteria(&m.predict().unwrap(), &[run])
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["replica_vs_implicit"]);
    }

    /// `info()` describes the parameter type (see `params::assert_describes`).
    #[test]
    fn info_params_match_the_parameter_type() {
        crate::params::assert_describes::<DiagonalParams>(&Diagonal::info().params, &[]);
    }

    #[test]
    fn bad_parameters_are_rejected_naming_the_field() {
        let d = DiagonalParams::default;
        let bad = |p: DiagonalParams, field: &str| {
            let e = Diagonal::new(p).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidParameter { field: f, .. } if f == field),
                "{e}"
            );
        };
        bad(DiagonalParams { lr: 0.0, ..d() }, "lr");
        bad(DiagonalParams { lr: -1.0, ..d() }, "lr");
        bad(
            DiagonalParams {
                omega: 1.0,
                rho_ft: 0.5,
                rho_pt: 0.1,
                ..d()
            },
            "omega",
        );
        bad(
            DiagonalParams {
                omega: 0.0,
                rho_ft: 0.5,
                rho_pt: 0.6,
                ..d()
            },
            "omega",
        );
        bad(
            DiagonalParams {
                lambda_pt: 1.5,
                ..d()
            },
            "lambda_pt",
        );
        bad(
            DiagonalParams {
                lambda_pt: -1.0,
                ..d()
            },
            "lambda_pt",
        );
        bad(DiagonalParams { c_pt: 0.0, ..d() }, "c_pt");
        bad(DiagonalParams { d: 3, ..d() }, "d");
        bad(
            DiagonalParams {
                alpha: f64::NAN,
                ..d()
            },
            "alpha",
        );
        bad(DiagonalParams { gamma: -0.1, ..d() }, "gamma");
        bad(
            DiagonalParams {
                fine_tune: FineTune::Interpolator,
                ..d()
            },
            "fine_tune",
        );
        bad(
            DiagonalParams {
                replica_nodes: 10,
                ..d()
            },
            "replica_nodes",
        );
        let e = min_q_interpolator(&gaussian(3, 5, 0), &[1.0, 2.0], &[1.0; 5], 1e-9).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { ref field, .. } if field == "dimensions"));
    }
}

#[cfg(test)]
mod check_tests {
    use super::*;
    use crate::criteria::check;
    use crate::dynamics::Trajectory;

    fn report(c: &crate::criteria::Check) -> String {
        c.criteria
            .iter()
            .map(|c| {
                format!(
                    "{}: pred {:?} meas {} pass {}\n",
                    c.name, c.predicted, c.measured, c.pass
                )
            })
            .collect::<String>()
            + &format!("{:?}", c.simulation.failure_examples)
    }

    /// The CI configuration (the defaults): d = 200, α = 0.5, ρ_PT = 0.2, ρ_FT = 0.1, ω = 1,
    /// c_PT = 0.5, λ_PT = 0, γ = 0, PT by GD on 2d samples, normalized GD with lr = 0.05,
    /// 12 seeds.
    #[test]
    fn check_passes_at_the_ci_configuration() {
        let m = Diagonal::new(DiagonalParams::default()).unwrap();
        let c = check(&Trajectory::new(m), 1, 12, &|_| {}).unwrap();
        eprintln!("{}", report(&c));
        assert!(c.pass, "{}", report(&c));
    }

    /// Fine-tuning that stops at its step cap says so in the failing criterion.
    #[test]
    fn a_run_stopped_at_the_step_cap_says_so() {
        let m = Diagonal::new(DiagonalParams {
            d: 40,
            max_steps: 50,
            ..Default::default()
        })
        .unwrap();
        let c = check(&Trajectory::new(m), 1, 2, &|_| {}).unwrap();
        let ft = c
            .criteria
            .iter()
            .find(|c| c.name == "ft_interpolates")
            .unwrap();
        assert!(
            !ft.pass && ft.statement.contains("step cap max_steps = 50"),
            "{ft:?}"
        );
    }

    /// Spec §2 check 1: with PT from β(0) = 0 the PT implicit bias is q_k with √k = 2c_PT
    /// whatever λ_PT, i.e. arcsinh(β̂_PT/c_PT) ∈ row(X_PT) (under-determined PT, n_PT = d/2).
    #[test]
    fn pt_implicit_bias_does_not_depend_on_lambda() {
        for lambda_pt in [-0.9, 0.0, 0.9] {
            let m = Diagonal::new(DiagonalParams {
                d: 100,
                alpha_pt: 0.5,
                rho_pt: 0.1,
                rho_ft: 0.1,
                c_pt: 0.1,
                lambda_pt,
                alpha: 0.3,
                ..Default::default()
            })
            .unwrap();
            let mut rng = crate::rng::trial_rng(5, 1, 0);
            let run = m.outcome(&mut rng, 0).unwrap();
            let stat = run.metric("pt_kkt_stationarity").unwrap();
            let train = run.metric("pt_train_mse").unwrap();
            assert!(
                train < 1e-12,
                "λ={lambda_pt}: PT did not interpolate ({train})"
            );
            assert!(stat < 0.02, "λ={lambda_pt}: stationarity residual {stat}");
            // Negative control: the alternative √k = 2c_PT·√(1 − λ²) must fail the same test
            // when λ ≠ 0, so the test can tell the two apart.
            if lambda_pt != 0.0 {
                let mut rng = crate::rng::trial_rng(5, 1, 0);
                let mut ws = m.workspace();
                m.instance(&mut rng, &mut ws).unwrap();
                let inst = &ws.instance;
                let d = m.params().d;
                let xpt = &inst.x_pt;
                let rows = xpt.len() / d;
                let x = Mat::from_fn(rows, d, |i, j| xpt[i * d + j]);
                let y: Vec<f64> = (0..rows)
                    .map(|i| (0..d).map(|j| x[(i, j)] * inst.beta_pt[j]).sum())
                    .collect();
                let k_alt = vec![4.0 * 0.01 * (1.0 - lambda_pt * lambda_pt); d];
                let (_, alt) = kkt_residuals(&x, &y, &k_alt, &inst.beta_pt_hat).unwrap();
                assert!(
                    alt > 2.0 * stat.max(0.01),
                    "λ={lambda_pt}: alternative {alt} vs {stat}"
                );
            }
        }
    }
}
