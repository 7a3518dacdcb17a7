//! One-pass DP-SGD for linear regression in the proportional regime, with aggressive
//! clipping (Bombari, Luo, Seroussi, Mondelli, "Better Rates for Private Linear Regression
//! in the Proportional Regime via Aggressive Clipping", arXiv 2505.16329).
//!
//! **Data.** `x ~ N(0, I_d)`, `y = xᵀθ* + ζε`, `ε ~ N(0, 1)`, `‖θ*‖² = theta_norm2`
//! (`θ*` uniform on that sphere in each trial). `n = round(d/γ)` fresh samples, each
//! used once.
//!
//! **Algorithm.** From `θ₀ = 0`, sample `i = 0, …, n − 1` (time `t = i/n`) makes the step
//!
//! ```text
//! θ ← θ − (η(t)/n)(clip_C(gᵢ) + ω ξᵢ),   gᵢ = xᵢ(xᵢᵀθ − yᵢ),   ξᵢ ~ N(0, I_d),
//! clip_C(g) = g·min(1, C/‖g‖),   C = c√d,   η(t) = η₀/(1 + λt),
//! ```
//!
//! with clipping constant `c` (`clip`), private-noise level `ω` (`noise`), learning rate
//! `η₀` (`lr`) and decay `λ` (`lr_decay`).
//!
//! **Deterministic equivalent** (re-derived here). With `e = θ − θ*`, the residual is
//! `r = xᵀe − ζε ~ N(0, 2P)`, `P = (D + ζ²)/2`, `D = ‖e‖²`, and `‖g‖ = ‖x‖·|r|` with
//! `‖x‖ = √d(1 + O(d^{-1/2}))`, so the clip acts on the residual: `clip_C(g) ≈ x·ψ(r)`,
//! `ψ(r) = sign(r)·min(|r|, c)`. One step changes `D` by
//! `−2(η/n)eᵀxψ(r) − 2(η/n)ωeᵀξ + (η/n)²(‖x‖²ψ(r)² + 2ωψ(r)xᵀξ + ω²‖ξ‖²)`. By Stein's
//! lemma `E[xᵀe·ψ(r)] = Cov(xᵀe, r)·E[ψ′(r)] = D·μ_c`, and `E‖x‖²ψ² = d·M_c + O(1)`,
//! `E‖ξ‖² = d`; with `n` steps per unit of `t` and `γ = d/n`:
//!
//! ```text
//! dD/dt = −2η(t) μ_c(P) D + γ η(t)² (M_c(P) + ω²),
//! μ_c(P) = Pr(|r| ≤ c) = erf(c/(2√P)),
//! M_c(P) = E[min(r², c²)] = 2P[erf(a/√2) − 2aφ(a)] + c²·erfc(a/√2),   a = c/√(2P).
//! ```
//!
//! It is exact as `d → ∞` at fixed `γ`; the neglected terms are `O(1/d)` relative (the
//! fluctuation of `‖x‖` inside the clip, the `O(1)` in `E‖x‖²ψ²`, and the curvature of
//! `μ_c, M_c` against the `O(d^{-1/2})` fluctuation of `D`). The predicted fraction of
//! clipped samples at time `t` is `1 − μ_c(P(t))`; [`RiskOde`] carries its integral
//! beside `D`, so window means are exact integrals of the ODE.
//!
//! **Privacy** (derived here). Adjacency: replace one of the `n` samples, the order of
//! the samples fixed (or drawn independently of the data). Release: every iterate
//! `θ₁, …, θ_n`. Step `i` is a Gaussian mechanism of the pair `(xᵢ, yᵢ)` given the
//! released `θᵢ`: its output is `θᵢ − (ηᵢ/n)clip_C(gᵢ)` plus `N(0, (ηᵢω/n)² I_d)`; the
//! L2 sensitivity under replacement is `(ηᵢ/n)·2C` (two clipped gradients differ by at
//! most `2C`), so the step is `ρᵢ = (2C)²/(2ω²) = 2c²d/ω²`-zCDP; the learning rate
//! cancels. By adaptive composition the run is `Σᵢ ρᵢ`-zCDP where `ρᵢ` is taken for the
//! pair of neighbouring data sets; a step whose sample is the same in both has `ρᵢ = 0`
//! whatever `θᵢ` is (its mechanism given `θᵢ` is identical), so the run is
//!
//! ```text
//! ρ = 2c²d/ω²  -zCDP   (zero-out adjacency, sensitivity C: ρ = c²d/(2ω²)).
//! ```
//!
//! The one-pass structure gives this parallel composition only under replacement with
//! fixed positions: an add/remove neighbour shifts every later sample to another step.
//! Given `ρ` (`rho`), the model sets `ω = c√(2d/ρ)`, so the privacy term of the ODE is
//! `γη²·2c²d/ρ`: it grows with `d` at fixed `ρ` (this batch-size-one algorithm reaches
//! `O(1)` risk only for `ρ ∝ d`). A time-varying `ω(t)` would make `ρ = 2c²d/min ω²`, so
//! the best private-noise schedule at fixed `ρ` is a constant `ω`; the noise actually
//! added, `η(t)ω/n` per step, then decays with the learning rate.
//!
//! **Optimal learning rate.** With `optimal_lr = true` the constant `η₀` of the schedule
//! is the one that minimises the ODE's `D(1)` (a log grid on `[10⁻³, 10³]` refined by
//! golden section), as in the paper's comparison of clipping constants at their best
//! learning rates.

use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::audit::Claim;
use crate::budget::{Cost, Need};
use crate::model::{
    Criterion, Curve, MeanPrediction, MetricSpec, Model, Prediction, Quantity, Reference, TraceSpec,
};
use crate::ode::{Dopri5, OdeSystem};
use crate::params::{ModelInfo, check_at_most, describe};
use crate::runner::Trials;
use crate::{Error, Result};

/// Largest dimension `d` (the trial holds two d-vectors).
const MAX_D: usize = 1_000_000;
/// Largest number of samples `n = round(d/γ)`.
const MAX_N: usize = 100_000_000;
/// Largest `γ`, `ζ`, `‖θ*‖²`.
const MAX_GAMMA: f64 = 1e6;
const MAX_ZETA: f64 = 1e3;
const MAX_THETA_NORM2: f64 = 1e6;
/// Largest clipping constant `c` (clipping never happens far below it).
const MAX_CLIP: f64 = 1e6;
/// Largest private-noise level `ω`, given or computed from `ρ`.
const MAX_NOISE: f64 = 1e6;
/// Largest learning rate `η₀` and decay `λ`.
const MAX_LR: f64 = 1e3;
const MAX_DECAY: f64 = 1e3;
/// Largest privacy target `ρ`.
const MAX_RHO: f64 = 1e12;
/// Points of the risk trace: `min(GRID, n)` windows.
const GRID: usize = 20;
/// Range of the learning-rate search.
const LR_SEARCH: (f64, f64) = (1e-3, 1e3);
/// Relative and absolute tolerances of the ODE.
const ODE_RTOL: f64 = 1e-9;
const ODE_ATOL: f64 = 1e-12;
/// The check: `|simulated − ODE| ≤ 3 s.e. + REL_TOL·ODE (+ FRACTION_FLOOR for fractions)`.
const REL_TOL: f64 = 0.01;
const FRACTION_FLOOR: f64 = 1e-3;

/// Parameters of the DP-SGD model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpSgdParams {
    /// Dimension `d`.
    pub d: usize,
    /// Aspect ratio `γ = d/n`.
    pub gamma: f64,
    /// Label noise level `ζ`.
    pub zeta: f64,
    /// `‖θ*‖²`, the initial distance `D(0)`.
    pub theta_norm2: f64,
    /// Clipping constant `c` (the threshold on the gradient norm is `c√d`).
    pub clip: f64,
    /// Private-noise level `ω`.
    pub noise: f64,
    /// Target `ρ` of replace-one zCDP: sets `ω = c√(2d/ρ)` (then `noise` must be 0).
    pub rho: Option<f64>,
    /// Learning rate `η₀` of `η(t) = η₀/(1 + λt)`.
    pub lr: f64,
    /// Decay `λ` of the learning rate.
    pub lr_decay: f64,
    /// Replace `lr` by the `η₀` that minimises the ODE's `D(1)`.
    pub optimal_lr: bool,
}

impl Default for DpSgdParams {
    fn default() -> Self {
        DpSgdParams {
            d: 500,
            gamma: 0.5,
            zeta: 0.5,
            theta_norm2: 1.0,
            clip: 0.5,
            noise: 0.0,
            rho: None,
            lr: 1.0,
            lr_decay: 0.0,
            optimal_lr: false,
        }
    }
}

/// `(μ_c, M_c)` at `P` for a residual `r ~ N(0, 2P)`: `μ_c = Pr(|r| ≤ c)` and
/// `M_c = E[min(r², c²)]` (module docs).
pub fn clip_moments(p: f64, c: f64) -> (f64, f64) {
    if p <= 0.0 {
        return (1.0, 0.0);
    }
    let s2 = 2.0 * p;
    let a = c / s2.sqrt();
    let z = a * std::f64::consts::FRAC_1_SQRT_2;
    let mu = libm::erf(z);
    let phi = (-0.5 * a * a).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let m = s2 * (mu - 2.0 * a * phi) + c * c * libm::erfc(z);
    (mu, m.max(0.0))
}

/// The risk ODE with the integral of the clipped fraction: `y = (D, ∫₀ᵗ(1 − μ_c) ds)`.
#[derive(Clone, Copy, Debug)]
pub struct RiskOde {
    pub gamma: f64,
    pub zeta: f64,
    pub clip: f64,
    pub noise: f64,
    pub lr: f64,
    pub lr_decay: f64,
}

impl RiskOde {
    /// `η(t) = η₀/(1 + λt)`.
    pub fn eta(&self, t: f64) -> f64 {
        self.lr / (1.0 + self.lr_decay * t)
    }

    /// `P = (D + ζ²)/2`.
    fn p(&self, d: f64) -> f64 {
        0.5 * (d.max(0.0) + self.zeta * self.zeta)
    }

    /// `(D, ∫(1 − μ_c))` at each of the increasing `times` (≥ 0), from `D(0) = d0`.
    pub fn solve(&self, d0: f64, times: &[f64]) -> Result<Vec<[f64; 2]>> {
        let mut sys = *self;
        let mut ode = Dopri5::new(2, ODE_RTOL, ODE_ATOL)?;
        let (mut t, mut y) = (0.0, [d0, 0.0]);
        let mut out = Vec::with_capacity(times.len());
        for &target in times {
            ode.integrate(&mut sys, &mut t, &mut y, target)
                .map_err(|e| Error::invalid("lr", format!("the risk ODE fails: {e}")))?;
            out.push(y);
        }
        Ok(out)
    }

    /// `D(1)`, or `+∞` where the ODE fails (for the learning-rate search).
    fn final_risk(&self, d0: f64) -> f64 {
        self.solve(d0, &[1.0])
            .map_or(f64::INFINITY, |v| v[0][0])
            .max(0.0)
    }

    /// The `η₀` in [`LR_SEARCH`] that minimises `D(1)`: the best of a log grid, refined by
    /// golden section in `ln η₀` between its neighbours.
    pub fn optimal_lr(&self, d0: f64) -> f64 {
        let at = |ln_lr: f64| {
            RiskOde {
                lr: ln_lr.exp(),
                ..*self
            }
            .final_risk(d0)
        };
        let (lo, hi) = (LR_SEARCH.0.ln(), LR_SEARCH.1.ln());
        let points: usize = 61;
        let step = (hi - lo) / (points - 1) as f64;
        let best = (0..points)
            .map(|k| (k, at(lo + step * k as f64)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(k, _)| k);
        let (mut a, mut b) = (
            lo + step * best.saturating_sub(1) as f64,
            lo + step * (best + 1).min(points - 1) as f64,
        );
        let g = 0.5 * (5f64.sqrt() - 1.0);
        let (mut x1, mut x2) = (b - g * (b - a), a + g * (b - a));
        let (mut f1, mut f2) = (at(x1), at(x2));
        for _ in 0..60 {
            if f1 <= f2 {
                (b, x2, f2) = (x2, x1, f1);
                x1 = b - g * (b - a);
                f1 = at(x1);
            } else {
                (a, x1, f1) = (x1, x2, f2);
                x2 = a + g * (b - a);
                f2 = at(x2);
            }
        }
        (0.5 * (a + b)).exp()
    }
}

impl OdeSystem for RiskOde {
    fn dim(&self) -> usize {
        2
    }

    fn rhs(&mut self, t: f64, y: &[f64], dydt: &mut [f64]) {
        let eta = self.eta(t);
        let (mu, m) = clip_moments(self.p(y[0]), self.clip);
        dydt[0] = -2.0 * eta * mu * y[0] + self.gamma * eta * eta * (m + self.noise * self.noise);
        dydt[1] = 1.0 - mu;
    }
}

/// The model, ready to run.
pub struct DpSgd {
    p: DpSgdParams,
    /// `n = round(d/γ)` and the exact `γ = d/n` the ODE uses.
    n: usize,
    gamma: f64,
    /// `ω`, given or computed from `ρ`.
    omega: f64,
    /// `η₀` used: `lr`, or the ODE's optimum.
    lr0: f64,
    /// Sample indices `i_k = ⌊k n / G⌋`, `k = 0..=G`, where `D` is recorded.
    grid: Vec<usize>,
    metrics: Vec<MetricSpec>,
    traces: Vec<TraceSpec>,
}

/// Per-worker buffers: the error `e = θ − θ*` and one sample `x`.
pub struct DpSgdWorkspace {
    e: Vec<f64>,
    x: Vec<f64>,
}

fn invalid(field: &str, what: String) -> Error {
    Error::invalid(field, what)
}

/// Checks `lo ≤ value ≤ hi` (or `lo < value` when `open`), naming `field`.
fn check_range(field: &str, value: f64, lo: f64, hi: f64, open: bool) -> Result<()> {
    let above = if open { value > lo } else { value >= lo };
    if !(above && value <= hi) {
        let bracket = if open { "(" } else { "[" };
        return Err(invalid(
            field,
            format!("must be a number in {bracket}{lo}, {hi}], got {value}"),
        ));
    }
    Ok(())
}

impl DpSgd {
    pub fn new(p: DpSgdParams) -> Result<Self> {
        if p.d == 0 {
            return Err(invalid("d", format!("must be in 1..={MAX_D}, got 0")));
        }
        check_at_most("d", p.d, MAX_D)?;
        check_range("gamma", p.gamma, 0.0, MAX_GAMMA, true)?;
        let n_real = (p.d as f64 / p.gamma).round();
        if !(2.0..=MAX_N as f64).contains(&n_real) {
            return Err(invalid(
                "gamma",
                format!(
                    "gives n = round(d/γ) = {n_real} samples at d = {}; n must be in 2..={MAX_N}",
                    p.d
                ),
            ));
        }
        check_range("zeta", p.zeta, 0.0, MAX_ZETA, false)?;
        check_range("theta_norm2", p.theta_norm2, 0.0, MAX_THETA_NORM2, false)?;
        check_range("clip", p.clip, 0.0, MAX_CLIP, true)?;
        check_range("noise", p.noise, 0.0, MAX_NOISE, false)?;
        check_range("lr", p.lr, 0.0, MAX_LR, true)?;
        check_range("lr_decay", p.lr_decay, 0.0, MAX_DECAY, false)?;
        let omega = match p.rho {
            None => p.noise,
            Some(rho) => {
                check_range("rho", rho, 0.0, MAX_RHO, true)?;
                if p.noise != 0.0 {
                    return Err(invalid(
                        "rho",
                        "sets the noise ω = c√(2d/ρ); give either `rho` or `noise`, not both"
                            .into(),
                    ));
                }
                let omega = p.clip * (2.0 * p.d as f64 / rho).sqrt();
                if omega > MAX_NOISE {
                    return Err(invalid(
                        "rho",
                        format!(
                            "gives the noise ω = c√(2d/ρ) = {omega:e}, above {MAX_NOISE:e}; raise ρ"
                        ),
                    ));
                }
                omega
            }
        };
        let n = n_real as usize;
        let windows = GRID.min(n);
        let grid: Vec<usize> = (0..=windows).map(|k| k * n / windows).collect();
        let mut model = DpSgd {
            gamma: p.d as f64 / n as f64,
            n,
            omega,
            lr0: p.lr,
            grid,
            metrics: Self::metric_specs(),
            traces: Vec::new(),
            p,
        };
        if model.p.optimal_lr {
            model.lr0 = model.ode().optimal_lr(model.p.theta_norm2);
        }
        let times: Vec<f64> = model.grid.iter().map(|&i| i as f64 / n as f64).collect();
        let windows: Vec<f64> = times[1..].to_vec();
        model.traces = vec![
            TraceSpec::new(
                "risk",
                times,
                "D = ‖θ − θ*‖² after the first ⌊kn/G⌋ samples, on a grid of t = i/n",
            ),
            TraceSpec::new(
                "clipped",
                windows,
                "fraction of clipped samples in the window of t ending at each grid point",
            ),
        ];
        Ok(model)
    }

    fn metric_specs() -> Vec<MetricSpec> {
        vec![
            MetricSpec::new(
                "risk_half",
                "1",
                "D = ‖θ − θ*‖² at t = 1/2 (after ⌊n/2⌋ samples)",
            ),
            MetricSpec::new(
                "risk_end",
                "1",
                "D = ‖θ − θ*‖² at t = 1 (after all n samples)",
            ),
            MetricSpec::new(
                "clipped_fraction",
                "1",
                "fraction of the n per-sample gradients whose norm exceeded c√d",
            ),
        ]
    }

    /// Builds the model from a parameter table.
    pub fn build(table: toml::Table) -> Result<Self> {
        let params: DpSgdParams = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| crate::models::parameter_error(&e.to_string()))?;
        Self::new(params)
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "dp-sgd",
            summary: "one-pass DP-SGD (per-sample clipping at c√d, Gaussian noise ω) for linear regression with n = d/γ: the risk ODE against simulation, clipped fraction, ρ-zCDP",
            source: "Bombari, Luo, Seroussi, Mondelli, \"Better Rates for Private Linear Regression in the Proportional Regime via Aggressive Clipping\", arXiv 2505.16329",
            params: describe::<DpSgdParams>(
                &[
                    ("d", "dimension d (1 to 10⁶)"),
                    (
                        "gamma",
                        "aspect ratio γ = d/n; n = round(d/γ) fresh samples, 2 to 10⁸ (γ in (0, 10⁶])",
                    ),
                    ("zeta", "label noise level ζ, y = xᵀθ* + ζε (0 to 1000)"),
                    ("theta_norm2", "‖θ*‖², the initial risk D(0) (0 to 10⁶)"),
                    (
                        "clip",
                        "clipping constant c: per-sample gradients are clipped to norm c√d (in (0, 10⁶])",
                    ),
                    (
                        "noise",
                        "private-noise level ω: each step adds (η/n)ω ξ, ξ ~ N(0, I_d) (0 to 10⁶)",
                    ),
                    (
                        "rho",
                        "privacy target ρ of replace-one zCDP (in (0, 10¹²]); sets ω = c√(2d/ρ) and then noise must be 0",
                    ),
                    (
                        "lr",
                        "learning rate η₀ of η(t) = η₀/(1 + λt) (in (0, 1000])",
                    ),
                    ("lr_decay", "decay λ of the learning rate (0 to 1000)"),
                    (
                        "optimal_lr",
                        "true: use the η₀ in [10⁻³, 10³] that minimises the ODE's D(1) instead of lr",
                    ),
                ],
                &[("rho", "none: ω is noise")],
            ),
        }
    }

    /// The risk ODE of this instance.
    pub fn ode(&self) -> RiskOde {
        RiskOde {
            gamma: self.gamma,
            zeta: self.p.zeta,
            clip: self.p.clip,
            noise: self.omega,
            lr: self.lr0,
            lr_decay: self.p.lr_decay,
        }
    }

    /// `n`, `ω` and the `η₀` used.
    pub fn sizes(&self) -> (usize, f64, f64) {
        (self.n, self.omega, self.lr0)
    }

    /// Replace-one zCDP `ρ = 2c²d/ω²` of the run (module docs); `None` without noise.
    pub fn rho(&self) -> Option<f64> {
        let rho = 2.0 * self.p.clip * self.p.clip * self.p.d as f64 / (self.omega * self.omega);
        rho.is_finite().then_some(rho)
    }

    fn grid_times(&self) -> Vec<f64> {
        self.grid
            .iter()
            .map(|&i| i as f64 / self.n as f64)
            .collect()
    }

    /// Draws `θ*` uniform on the sphere of radius `√theta_norm2` and sets `e = θ₀ − θ* =
    /// −θ*`; returns `‖e‖²`.
    fn start(&self, rng: &mut ChaCha8Rng, e: &mut [f64]) -> f64 {
        let mut norm2 = 0.0;
        for v in e.iter_mut() {
            *v = normal(rng);
            norm2 += *v * *v;
        }
        let scale = if norm2 > 0.0 {
            -(self.p.theta_norm2 / norm2).sqrt()
        } else {
            0.0
        };
        let mut dist = 0.0;
        for v in e.iter_mut() {
            *v *= scale;
            dist += *v * *v;
        }
        dist
    }

    /// One DP-SGD step on a fresh sample, drawn from `rng` in this order: `x` (d
    /// normals), `ε`, then `ξ` (d normals, only when `ω > 0`). Updates `e` in place and
    /// returns `(‖e‖², clipped)`.
    fn step(
        &self,
        rng: &mut ChaCha8Rng,
        ws: &mut DpSgdWorkspace,
        eta: f64,
        cap: f64,
    ) -> (f64, bool) {
        let (mut xe, mut xx) = (0.0, 0.0);
        for (xi, ei) in ws.x.iter_mut().zip(&ws.e) {
            let v = normal(rng);
            *xi = v;
            xe += v * ei;
            xx += v * v;
        }
        let r = xe - self.p.zeta * normal(rng);
        let norm = xx.sqrt() * r.abs();
        let clipped = norm > cap;
        let factor = if clipped { cap / norm } else { 1.0 };
        let h = eta / self.n as f64;
        let a = h * factor * r;
        let mut dist = 0.0;
        if self.omega > 0.0 {
            let b = h * self.omega;
            for (ei, xi) in ws.e.iter_mut().zip(&ws.x) {
                *ei -= a * xi + b * normal(rng);
                dist += *ei * *ei;
            }
        } else {
            for (ei, xi) in ws.e.iter_mut().zip(&ws.x) {
                *ei -= a * xi;
                dist += *ei * *ei;
            }
        }
        (dist, clipped)
    }
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// The mean and standard error of `values`.
fn mean_se(values: &[f64]) -> (f64, f64) {
    crate::stats::Summary::of(values).map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se))
}

/// One criterion: `|measured − predicted| ≤ 3 s.e. + REL_TOL·|predicted| + floor`.
fn close(name: String, what: &str, predicted: f64, values: &[f64], floor: f64) -> Criterion {
    let (measured, se) = mean_se(values);
    let allowed = 3.0 * se + REL_TOL * predicted.abs() + floor;
    let floor_text = if floor > 0.0 {
        format!(" + {floor}")
    } else {
        String::new()
    };
    Criterion {
        name,
        statement: format!(
            "the mean of {what} is within 3 s.e. + 1% of the ODE's value{floor_text} (the ODE is the d → ∞ limit; finite-d terms are O(1/d))"
        ),
        predicted: Some(predicted),
        measured,
        se: Some(se),
        pass: (measured - predicted).abs() <= allowed,
    }
}

impl Model for DpSgd {
    type Workspace = DpSgdWorkspace;

    fn name(&self) -> &'static str {
        "dp-sgd"
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn traces(&self) -> &[TraceSpec] {
        &self.traces
    }

    fn workspace(&self) -> DpSgdWorkspace {
        DpSgdWorkspace {
            e: vec![0.0; self.p.d],
            x: vec![0.0; self.p.d],
        }
    }

    /// `θ*`, then the `n` steps in order; `D` is recorded before sample `i_k` of the grid
    /// (and after the last one), the clipped fraction per window between grid points.
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut DpSgdWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        let windows = self.grid.len() - 1;
        let (head, traces) = out.split_at_mut(3);
        let (risk, clipped) = traces.split_at_mut(windows + 1);
        let cap = self.p.clip * (self.p.d as f64).sqrt();
        let half = self.n / 2;
        let inv_n = 1.0 / self.n as f64;
        let ode = self.ode();
        let mut dist = self.start(rng, &mut ws.e);
        let (mut k, mut in_window, mut total) = (0, 0u64, 0u64);
        let mut risk_half = f64::NAN;
        for i in 0..self.n {
            if i == self.grid[k] {
                risk[k] = dist;
                if k > 0 {
                    clipped[k - 1] = in_window as f64 / (i - self.grid[k - 1]) as f64;
                    in_window = 0;
                }
                k += 1;
            }
            if i == half {
                risk_half = dist;
            }
            let (next, was_clipped) = self.step(rng, ws, ode.eta(i as f64 * inv_n), cap);
            dist = next;
            if was_clipped {
                in_window += 1;
                total += 1;
            }
        }
        risk[windows] = dist;
        clipped[windows - 1] = in_window as f64 / (self.n - self.grid[windows - 1]) as f64;
        head.copy_from_slice(&[risk_half, dist, total as f64 * inv_n]);
        if !dist.is_finite() {
            return Err(format!("the risk is {dist} at the end"));
        }
        Ok(())
    }

    /// The ODE on the trace grid (`risk`), its window means of the clipped fraction
    /// (`clipped`) and the instantaneous `1 − μ_c` (`clipped_rate`); `D(1/2)`, `D(1)` and
    /// `∫₀¹(1 − μ_c)` as means (checked by [`Model::criteria`] with the 1% allowance, so
    /// not decisive as plain z-tests); `ρ` where there is noise.
    fn predict(&self) -> Result<Prediction> {
        let ode = self.ode();
        let times = self.grid_times();
        let d0 = self.p.theta_norm2;
        let path = ode.solve(d0, &times)?;
        let half_t = (self.n / 2) as f64 / self.n as f64;
        let half = ode.solve(d0, &[half_t])?[0][0];
        let end = path[path.len() - 1];
        let windows: Vec<f64> = path
            .windows(2)
            .zip(times.windows(2))
            .map(|(y, t)| (y[1][1] - y[0][1]) / (t[1] - t[0]))
            .collect();
        let rate: Vec<f64> = path
            .iter()
            .map(|y| 1.0 - clip_moments(ode.p(y[0]), ode.clip).0)
            .collect();
        let unclipped = RiskOde {
            clip: MAX_CLIP * 1e6,
            ..ode
        }
        .solve(d0, &[1.0])?[0][0];
        let mean = |metric: &str, value: f64| MeanPrediction {
            metric: metric.into(),
            value,
            se: 0.0,
            decisive: false,
        };
        let mut quantities = vec![
            Quantity::exact("n", self.n as f64),
            Quantity::exact("gamma", self.gamma),
            Quantity::exact("noise", self.omega),
            Quantity::exact("lr", self.lr0),
            Quantity::exact("risk_half", half),
            Quantity::exact("risk_end", end[0]),
            Quantity::exact("clipped_fraction", end[1]),
            Quantity::exact("risk_end_unclipped", unclipped),
        ];
        let mut warnings = Vec::new();
        match self.rho() {
            Some(rho) => {
                quantities.push(Quantity::exact("rho_zcdp", rho));
                quantities.push(Quantity::exact("rho_zcdp_zero_out", rho / 4.0));
            }
            None => warnings.push(
                "ω = 0: the run adds no private noise and has no finite zCDP guarantee".into(),
            ),
        }
        if self.p.d < 100 {
            warnings.push(format!(
                "d = {} is small: the ODE is the d → ∞ limit, with O(1/d) ≈ {:.0}% corrections",
                self.p.d,
                100.0 / self.p.d as f64
            ));
        }
        Ok(Prediction {
            model: "dp-sgd".into(),
            quantities,
            means: vec![
                mean("risk_half", half),
                mean("risk_end", end[0]),
                mean("clipped_fraction", end[1]),
            ],
            references: vec![Reference {
                key: "risk_end_unclipped".into(),
                label:
                    "D(1) of the same run without clipping (c → ∞: dD/dt = −2ηD + γη²(D + ζ² + ω²))"
                        .into(),
                value: unclipped,
                of: None,
            }],
            curves: vec![
                Curve {
                    name: "risk".into(),
                    t: times.clone(),
                    y: path.iter().map(|y| y[0]).collect(),
                },
                Curve {
                    name: "clipped".into(),
                    t: times[1..].to_vec(),
                    y: windows,
                },
                Curve {
                    name: "clipped_rate".into(),
                    t: times,
                    y: rate,
                },
            ],
            warnings,
            ..Default::default()
        })
    }

    /// `D` at t ≈ 1/4, 1/2, 3/4, 1 of the grid, the clipped fraction overall and in the
    /// first and last windows: each within 3 s.e. + 1% of the ODE (fractions also + 10⁻³,
    /// since a fraction near 0 has s.e. 0).
    fn criteria(&self, prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        let curve = |name: &str| prediction.curves.iter().find(|c| c.name == name);
        let (Some(risk), Some(clipped)) = (curve("risk"), curve("clipped")) else {
            return Vec::new();
        };
        let column = |name: &str, k: usize| -> Vec<f64> {
            (0..trials.completed())
                .filter_map(|i| trials.trace(i, name).map(|t| t[k]))
                .collect()
        };
        let windows = self.grid.len() - 1;
        let mut ks: Vec<usize> = (1..=4).map(|q| (q * windows).div_ceil(4)).collect();
        ks.dedup();
        let mut out: Vec<Criterion> = ks
            .iter()
            .map(|&k| {
                close(
                    format!("risk_t{:.3}", risk.t[k]),
                    &format!("D at t = {:.3}", risk.t[k]),
                    risk.y[k],
                    &column("risk", k),
                    0.0,
                )
            })
            .collect();
        if let (Some(values), Some(total)) = (
            trials.column("clipped_fraction"),
            prediction.quantity("clipped_fraction"),
        ) {
            out.push(close(
                "clipped_fraction".into(),
                "clipped_fraction",
                total,
                &values,
                FRACTION_FLOOR,
            ));
        }
        for k in [0, windows - 1] {
            out.push(close(
                format!("clipped_window_t{:.3}", clipped.t[k]),
                &format!(
                    "the clipped fraction in the window ending at t = {:.3}",
                    clipped.t[k]
                ),
                clipped.y[k],
                &column("clipped", k),
                FRACTION_FLOOR,
            ));
        }
        out
    }

    fn default_trials(&self) -> u64 {
        100
    }

    /// A trial draws `(2d + 1)n` normals (`(d + 1)n` without noise) and does a few flops
    /// with each, holding two d-vectors; the prediction integrates a 2-dimensional ODE
    /// (61 + 60 of them for the learning-rate search).
    fn cost(&self) -> Cost {
        let (d, n) = (self.p.d as f64, self.n as f64);
        let driver = if n >= d { "gamma" } else { "d" };
        let solves = if self.p.optimal_lr { 130.0 } else { 4.0 };
        Cost {
            trial: Need::new(
                super::doubles(2.0 * d + 2.0 * self.grid.len() as f64),
                40.0 * n * d,
                driver,
            ),
            predict: Need::new(1e5, solves * 1e5, "optimal_lr"),
        }
    }

    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        let mut labels = vec![
            ("d", serde_json::json!(self.p.d)),
            ("n", serde_json::json!(self.n)),
            ("gamma", serde_json::json!(self.gamma)),
            ("clip", serde_json::json!(self.p.clip)),
            ("noise", serde_json::json!(self.omega)),
            ("lr", serde_json::json!(self.lr0)),
            ("lr_decay", serde_json::json!(self.p.lr_decay)),
        ];
        if let Some(rho) = self.rho() {
            labels.push(("rho", serde_json::json!(rho)));
        }
        labels
    }
}

/// The paper's statement that `pretrainlab audit` tests: the ODE deterministic equivalent
/// of DP-SGD in the regime where clipping happens frequently.
pub const CLAIMS: &[Claim] = &[Claim {
    id: "dp-sgd-ode",
    paper: "Bombari, Luo, Seroussi, Mondelli, Better Rates for Private Linear Regression in the Proportional Regime via Aggressive Clipping, arXiv 2505.16329",
    location: "main result: the deterministic equivalent of the DP-SGD trajectory by an ODE, the bounds matching for isotropic data",
    statement: "the risk of one-pass DP-SGD with frequent clipping follows the ODE dD/dt = −2ημ_c D + γη²(M_c + ω²)",
    params: "d = 400\nclip = 0.3\nrho = 800.0\noptimal_lr = true",
    trials: 200,
    quick_trials: 40,
    test: crate::audit::ClaimTest::Generic,
}];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn model(table: &str) -> DpSgd {
        DpSgd::build(table.parse().unwrap()).unwrap()
    }

    /// μ_c and M_c against quadrature of the N(0, 2P) density (Simpson, 20 000 panels on
    /// ±12 s.d.): M_c to 1e-6 relative, μ_c to the O(h) error of the indicator's jump; and the limits μ_∞ = 1, M_∞ = 2P, M_c → c² as c → 0.
    #[test]
    fn clip_moments_match_quadrature() {
        for (p, c) in [(0.6f64, 0.5f64), (0.125, 0.05), (2.0, 3.0), (0.5, 0.8)] {
            let s = (2.0 * p).sqrt();
            let density =
                |r: f64| (-r * r / (2.0 * s * s)).exp() / (s * (2.0 * std::f64::consts::PI).sqrt());
            let panels = 20_000;
            let (lo, hi) = (-12.0 * s, 12.0 * s);
            let h = (hi - lo) / panels as f64;
            let (mut mu, mut m) = (0.0, 0.0);
            for k in 0..=panels {
                let r = lo + h * k as f64;
                let w = if k == 0 || k == panels {
                    1.0
                } else if k % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                let f = density(r) * w * h / 3.0;
                if r.abs() <= c {
                    mu += f;
                }
                m += f * (r * r).min(c * c);
            }
            let (mu_c, m_c) = clip_moments(p, c);
            // The indicator's jump limits Simpson to O(h) for μ: compare it to 2h·density.
            assert!(
                (mu - mu_c).abs() < 4.0 * h * density(c),
                "μ at P = {p}, c = {c}: {mu} vs {mu_c}"
            );
            assert!(
                (m - m_c).abs() < 1e-6 * m_c,
                "M at P = {p}, c = {c}: {m} vs {m_c}"
            );
        }
        let (mu, m) = clip_moments(0.7, 1e6);
        assert!((mu - 1.0).abs() < 1e-15 && (m - 1.4).abs() < 1e-12);
        let (_, m) = clip_moments(0.7, 1e-4);
        assert!((m - 1e-8).abs() < 1e-3 * 1e-8);
    }

    /// The drift and the second moment of one step of the exact algorithm (d = 400,
    /// P = 0.6 as in the spec's check, clip on ‖x‖·|r|) against D·μ_c and d·M_c: 40 000
    /// draws, within 5 s.e. + 1% (the O(1/d) terms of the clip on ‖x‖ rather than √d).
    #[test]
    fn one_step_moments_match_mu_and_m() {
        let d = 400;
        let (zeta, dist, c) = (0.5f64, 0.95f64, 0.5f64);
        let p = 0.5 * (dist + zeta * zeta);
        let (mu, m) = clip_moments(p, c);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let e: Vec<f64> = {
            let v: Vec<f64> = (0..d).map(|_| normal(&mut rng)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter().map(|x| x * dist.sqrt() / norm).collect()
        };
        let cap = c * (d as f64).sqrt();
        let draws = 40_000;
        let (mut s1, mut s1sq, mut s2, mut s2sq) = (0.0, 0.0, 0.0, 0.0);
        let mut x = vec![0.0; d];
        for _ in 0..draws {
            for v in x.iter_mut() {
                *v = normal(&mut rng);
            }
            let xe: f64 = x.iter().zip(&e).map(|(a, b)| a * b).sum();
            let xx: f64 = x.iter().map(|a| a * a).sum();
            let r = xe - zeta * normal(&mut rng);
            let factor = (cap / (xx.sqrt() * r.abs())).min(1.0);
            // eᵀclip(g) and ‖clip(g)‖²/d.
            let drift = factor * r * xe;
            let second = factor * factor * r * r * xx / d as f64;
            s1 += drift;
            s1sq += drift * drift;
            s2 += second;
            s2sq += second * second;
        }
        let t = draws as f64;
        for (s, sq, exact, what) in [
            (s1, s1sq, dist * mu, "E eᵀclip(g)"),
            (s2, s2sq, m, "E‖clip g‖²/d"),
        ] {
            let mean = s / t;
            let se = ((sq / t - mean * mean) / t).sqrt();
            assert!(
                (mean - exact).abs() < 5.0 * se + 0.01 * exact,
                "{what}: {mean} ± {se} vs {exact}"
            );
        }
    }

    /// Without clipping the ODE is linear: D(t) = D∞ + (D0 − D∞)e^{(γη² − 2η)t} with
    /// D∞ = γη²(ζ² + ω²)/(2η − γη²); DOPRI5 reproduces it to 1e-8.
    #[test]
    fn unclipped_ode_has_the_closed_form() {
        let ode = RiskOde {
            gamma: 0.5,
            zeta: 0.5,
            clip: 1e12,
            noise: 0.3,
            lr: 0.8,
            lr_decay: 0.0,
        };
        let (g, h) = (ode.gamma, ode.lr);
        let rate = g * h * h - 2.0 * h;
        let floor = g * h * h * (0.25 + 0.09) / -rate;
        let times = [0.1, 0.5, 1.0];
        let path = ode.solve(1.3, &times).unwrap();
        for (t, y) in times.iter().zip(&path) {
            let exact = floor + (1.3 - floor) * (rate * t).exp();
            assert!((y[0] - exact).abs() < 1e-8, "t = {t}: {} vs {exact}", y[0]);
            assert!(y[1].abs() < 1e-12);
        }
    }

    /// Small-c limit: μ_c ≈ c/√(πP), M_c ≈ c², so the ODE depends on (c, η, ω) only
    /// through ηc and ω/c: halving c while doubling η and ω changes D(1) by < 1% at c ≤ 0.02.
    #[test]
    fn small_clip_depends_on_eta_times_c() {
        let base = RiskOde {
            gamma: 0.5,
            zeta: 0.5,
            clip: 0.02,
            noise: 0.02,
            lr: 20.0,
            lr_decay: 0.0,
        };
        let a = base.final_risk(1.0);
        let b = RiskOde {
            clip: 0.01,
            noise: 0.01,
            lr: 40.0,
            ..base
        }
        .final_risk(1.0);
        assert!((a - b).abs() < 0.01 * a && a < 0.99, "{a} vs {b}");
    }

    /// ρ = Δ²/(2σ²) of one step, checked against the Rényi divergence of the two output
    /// laws along the sensitivity direction, D_α = α·ρ (numerical quadrature, α = 2, 5),
    /// with Δ the largest distance between two clipped steps (2C·η/n, found from two
    /// opposite gradients) and σ = ηω/n.
    #[test]
    fn zcdp_is_the_gaussian_mechanism_of_one_step() {
        let m = model("d = 50\ngamma = 0.5\nclip = 0.3\nnoise = 2.0\nlr = 0.7");
        let (n, omega, lr) = m.sizes();
        let h = lr / n as f64;
        let cap = 0.3 * 50f64.sqrt();
        // Two gradients far beyond the cap, pointing opposite ways: their clipped steps
        // differ by 2C·h, the worst case.
        let delta = 2.0 * cap * h;
        let sigma = h * omega;
        let rho = m.rho().unwrap();
        for alpha in [2.0f64, 5.0] {
            let pdf = |x: f64, mean: f64| (-(x - mean).powi(2) / (2.0 * sigma * sigma)).exp();
            let (lo, hi, panels) = (-12.0 * sigma - delta, 12.0 * sigma + 2.0 * delta, 200_000);
            let step = (hi - lo) / panels as f64;
            let mut integral = 0.0;
            for k in 0..panels {
                let x = lo + step * (k as f64 + 0.5);
                integral += pdf(x, delta).powf(alpha) * pdf(x, 0.0).powf(1.0 - alpha) * step;
            }
            let norm = sigma * (2.0 * std::f64::consts::PI).sqrt();
            let renyi = (integral / norm).ln() / (alpha - 1.0);
            assert!(
                (renyi - alpha * rho).abs() < 1e-6 * alpha * rho,
                "α = {alpha}: {renyi} vs {}",
                alpha * rho
            );
        }
        // ρ given: ω = c√(2d/ρ) gives back ρ.
        let m = model("d = 50\ngamma = 0.5\nclip = 0.3\nrho = 7.5");
        assert!((m.rho().unwrap() - 7.5).abs() < 1e-12);
    }

    /// The learning-rate search finds a minimum of D(1): 3% away either side is worse.
    #[test]
    fn optimal_lr_minimises_the_final_risk() {
        let m = model("d = 400\nclip = 0.3\nrho = 800.0\noptimal_lr = true");
        let ode = m.ode();
        let best = ode.final_risk(1.0);
        for f in [0.97, 1.03] {
            let other = RiskOde {
                lr: ode.lr * f,
                ..ode
            }
            .final_risk(1.0);
            assert!(other > best, "η₀ = {}: {other} vs {best}", ode.lr * f);
        }
    }

    /// The paper's message in the ODE (γ = 0.5, ζ = 0.5, ρ = 2d, so ω² = c², each c at
    /// its best η₀): clipping at c ≤ 0.5 (below the residual scale √(2P) ≈ 1.1 at start)
    /// reaches a lower D(1) than rare clipping at c = 3, and the small-c values lie
    /// within 3% of each other (the flat optimum).
    #[test]
    fn aggressive_clipping_is_optimal_in_the_ode() {
        let risk = |c: f64| {
            let m = model(&format!(
                "d = 400\nclip = {c}\nrho = 800.0\noptimal_lr = true"
            ));
            m.ode().final_risk(1.0)
        };
        let rare = risk(3.0);
        let small: Vec<f64> = [0.5, 0.2, 0.05].iter().map(|&c| risk(c)).collect();
        let (lo, hi) = small
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(
            hi < rare && hi - lo < 0.03 * lo,
            "{small:?} vs c = 3: {rare}"
        );
    }

    /// The check passes against simulation (d = 400, 100 trials): no noise with
    /// c = 0.5, η = 1 and c = 0.2, η = 2; ρ = 800 at c = 0.3 and the best η₀; a decaying
    /// learning rate with noise.
    #[test]
    fn simulation_matches_the_ode() {
        for table in [
            "d = 400\nclip = 0.5",
            "d = 400\nclip = 0.2\nlr = 2.0",
            "d = 400\nclip = 0.3\nrho = 800.0\noptimal_lr = true",
            "d = 400\nclip = 0.5\nnoise = 1.0\nlr = 2.0\nlr_decay = 3.0",
        ] {
            let m = model(table);
            let check = crate::criteria::check(&m, 7, 100, &|_| {}).unwrap();
            assert_eq!(check.verdict(), "pass", "{table}: {:?}", check.reasons());
        }
    }

    /// The same check fails when the theory is 5% off (the risk curve scaled), and when
    /// the privacy term is dropped from the ODE.
    #[test]
    fn a_wrong_theory_fails_the_check() {
        let m = model("d = 400\nclip = 0.5\nnoise = 1.0");
        let trials = crate::runner::run(&m, 7, 0..100, &|_| {});
        let mut scaled = m.predict().unwrap();
        for c in scaled.curves.iter_mut().filter(|c| c.name == "risk") {
            c.y.iter_mut().for_each(|y| *y *= 1.05);
        }
        assert!(m.criteria(&scaled, &trials).iter().any(|c| !c.pass));
        let silent = model("d = 400\nclip = 0.5");
        let without_noise = silent.predict().unwrap();
        assert!(m.criteria(&without_noise, &trials).iter().any(|c| !c.pass));
        assert!(
            m.criteria(&m.predict().unwrap(), &trials)
                .iter()
                .all(|c| c.pass)
        );
    }

    /// A warm trial reproduces itself from the same stream, and the traces agree with the
    /// metrics (D at t = 1/2 on the grid, the end, the clipped fraction as the mean of the
    /// equal windows).
    #[test]
    fn traces_agree_with_the_metrics() {
        let m = model("d = 40\ngamma = 0.5\nclip = 0.3\nnoise = 0.5");
        let width = 3 + 21 + 20;
        let mut ws = m.workspace();
        let mut out = vec![0.0; width];
        m.trial(&mut ChaCha8Rng::seed_from_u64(1), 0, &mut ws, &mut out)
            .unwrap();
        let mut again = vec![0.0; width];
        m.trial(&mut ChaCha8Rng::seed_from_u64(1), 0, &mut ws, &mut again)
            .unwrap();
        assert_eq!(out, again);
        assert_eq!(out[0], out[3 + 10]);
        assert_eq!(out[1], out[3 + 20]);
        let mean_windows = out[24..].iter().sum::<f64>() / 20.0;
        assert!((out[2] - mean_windows).abs() < 1e-12);
        assert!((out[3] - 1.0).abs() < 1e-12, "D(0) = ‖θ*‖²");
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let field = |table: &str| match DpSgd::build(table.parse().unwrap()) {
            Err(Error::InvalidParameter { field, .. }) => field,
            other => panic!("{table}: expected an error, got {:?}", other.map(|_| ())),
        };
        assert_eq!(field("d = 0"), "d");
        assert_eq!(field(&format!("d = {}", MAX_D + 1)), "d");
        for g in ["0.0", "-1.0", "nan", "inf", "1e-308", "1000.0"] {
            assert_eq!(field(&format!("gamma = {g}")), "gamma", "γ = {g}");
        }
        for (key, bad) in [
            ("zeta", "-0.1"),
            ("zeta", "nan"),
            ("theta_norm2", "inf"),
            ("clip", "0.0"),
            ("clip", "inf"),
            ("noise", "-1.0"),
            ("lr", "0.0"),
            ("lr", "1e4"),
            ("lr_decay", "-1.0"),
            ("rho", "0.0"),
            ("rho", "nan"),
            ("rho", "1e-308"),
            ("optimal_lr", "1"),
        ] {
            assert_eq!(field(&format!("{key} = {bad}")), key, "{key} = {bad}");
        }
        assert_eq!(field("rho = 1.0\nnoise = 1.0"), "rho");
    }

    #[test]
    fn info_params_match_the_parameter_type() {
        crate::params::assert_describes::<DpSgdParams>(&DpSgd::info().params, &["rho"]);
    }
}
