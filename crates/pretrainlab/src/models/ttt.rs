//! Test-time training of a linear in-context learner (Gozeten, Ildiz, Zhang,
//! Soltanolkotabi, Mondelli, Oymak, "Test-Time Training Provably Improves Transformers as
//! In-context Learners", arXiv 2503.11842).
//!
//! **Data.** Each task draws a regression vector `β ~ N(0, I_d/d)`; its samples are
//! `x ~ N(0, I_d)`, `y = xᵀβ + σε`, `ε ~ N(0, 1)`.
//!
//! **In-context learner.** A context of `n` samples `(X_c, y_c)` of the task is summarised
//! by `u = X_cᵀy_c/n`, and a query `x` is answered by `xᵀWu`. The pretrained weight is
//! `W₀ = c⋆I` with
//!
//! ```text
//! c⋆ = n/(n + 1 + d + σ²d),
//! ```
//!
//! the minimiser of the population ICL risk `E‖β − cu‖²` over `c` (from
//! `E[uᵀβ] = 1` and `E‖u‖² = (n + 1 + d + σ²d)/n`, the Wishart moment
//! `E(X_cᵀX_c)² = n(n + d + 1)I`).
//!
//! **Test-time training.** Before answering, the learner takes one gradient step of size
//! `η` on the squared loss `‖y_tr − X_tr W u‖²` of `k` fresh samples `(X_tr, y_tr)` of the
//! same task (the context kept):
//!
//! ```text
//! W_TT = W₀ + 2η X_trᵀ(y_tr − X_tr W₀u)uᵀ.
//! ```
//!
//! **Risk.** The excess risk of `W` on fresh queries of the task, with the same context, is
//! exactly `‖β − Wu‖²` (no test sampling). With the ICL error `e = β − c⋆u`, `q = ‖u‖²`
//! and the update direction `a = 2q X_trᵀ(X_tr e + σε_tr)`, `W_TT u = c⋆u + ηa`, so
//!
//! ```text
//! excess_no_ttt = ‖e‖²,      excess_ttt(η) = ‖e − ηa‖².
//! ```
//!
//! **Simulation.** `β` and the context are drawn explicitly (`d + n(d + 1)` normals per
//! task). The test-time step enters the risks only through `eᵀv` and `‖v‖²`, with
//! `v = X_trᵀ r` and `r = X_tr e + σε_tr`, and these are drawn from their exact joint law
//! given `e`. In a basis whose first vector is `ê = e/‖e‖`, `X_tr = [g, H]` with
//! `g ~ N(0, I_k)` and `H` (`k × (d−1)`) independent standard normal; split `ε_tr` along
//! and across `ĝ = g/‖g‖`. Then
//!
//! ```text
//! ĝᵀr = ‖e‖√A + σξ,   ‖r‖² = (ĝᵀr)² + σ²B,   gᵀr = √A·ĝᵀr,
//! eᵀv = ‖e‖·gᵀr,      ‖v‖² = (gᵀr)² + ‖r‖²·G,   ‖e − sv‖² = (‖e‖ − s·gᵀr)² + s²‖r‖²G,
//! ```
//!
//! with `A = ‖g‖² ~ χ²_k`, `ξ ~ N(0, 1)`, `B ~ χ²_{k−1}` (the rest of `‖ε_tr‖²`) and
//! `G = ‖Hᵀr‖²/‖r‖² ~ χ²_{d−1}` (`Hᵀr ~ N(0, ‖r‖²I)` given `r`), all independent: four
//! draws in place of `k(d + 1)` normals.
//!
//! **Theory** (re-derived here). Over `X_tr`, `ε_tr` given `β` and the context,
//! `E[eᵀa] = 2kq‖e‖²` and `E‖a‖² = 4q²(k(k + d + 1)‖e‖² + σ²kd)`. The step that minimises
//! the expected risk over tasks, and the risk it reaches, are
//!
//! ```text
//! η⋆ = E[q‖e‖²] / (2((k + d + 1)E[q²‖e‖²] + σ²d E[q²])),
//! L⋆ = E‖e‖² − k E[q‖e‖²]² / ((k + 1 + d)E[q²‖e‖²] + σ²d E[q²]).
//! ```
//!
//! The four moments are exact: rotating `β = b e₁` (`b² ~ χ²_d/d`), the context enters
//! through `s = ‖X_c e₁‖/√n`, `ξ ~ N(0, 1)`, `C ~ χ²_{n−1}/n` and `G ~ χ²_{d−1}/n`, all
//! independent, with
//!
//! ```text
//! u₁ = b s² + σ s ξ/√n,   ‖u_rest‖² = (b²s² + 2σ b s ξ/√n + σ²ξ²/n + σ²C)·G,
//! q = u₁² + ‖u_rest‖²,    ‖e‖² = (b − c⋆u₁)² + c⋆²‖u_rest‖²;
//! ```
//!
//! [`moments`] expands these polynomials in `(b, s, ξ, C, G)` and takes their expectations
//! monomial by monomial with the exact moments of each variable.

use std::collections::BTreeMap;

use rand::rngs::ChaCha8Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::audit::Claim;
use crate::budget::{Cost, Need};
use crate::model::{Criterion, MeanPrediction, MetricSpec, Model, Prediction, Quantity, Reference};
use crate::params::{ModelInfo, check_at_most, describe};
use crate::runner::Trials;
use crate::{Error, Result};

/// Largest dimension `d`.
const MAX_D: usize = crate::params::MAX_DIM;
/// Largest context length `n`.
const MAX_N: usize = 1_000_000;
/// Largest number `k` of test-time training samples.
const MAX_K: usize = 1_000_000;
/// Largest noise level `σ`.
const MAX_SIGMA: f64 = 1e3;
/// Largest number of tasks per trial.
const MAX_TASKS: usize = 100_000;

/// Parameters of the test-time-training model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TttParams {
    /// Dimension `d` of `x` and `β`.
    pub d: usize,
    /// Context length `n`.
    pub n: usize,
    /// Label noise level `σ` (standard deviation).
    pub sigma: f64,
    /// Test-time training samples `k`.
    pub k: usize,
    /// Tasks per trial: the first half fits `η`, the second half is measured.
    pub tasks: usize,
}

impl Default for TttParams {
    fn default() -> Self {
        TttParams {
            d: 20,
            n: 10,
            sigma: 0.5,
            k: 40,
            tasks: 200,
        }
    }
}

/// The four exact moments of the pretrained learner's error that the theory needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    /// `E‖e‖²`.
    pub e2: f64,
    /// `E[q‖e‖²]`.
    pub q_e2: f64,
    /// `E[q²‖e‖²]`.
    pub q2_e2: f64,
    /// `E[q²]`.
    pub q2: f64,
}

/// The model, ready to run.
pub struct TttLinear {
    p: TttParams,
    /// `c⋆`, the pretrained `W₀ = c⋆I`.
    c_star: f64,
    /// The exact moments and, from them, `η⋆`, `L⋆` and `E‖a‖²`.
    moments: Moments,
    eta_star: f64,
    loss_star: f64,
    a2: f64,
    /// `χ²_k`, `χ²_{k−1}` and `χ²_{d−1}` of the test-time step (`None`: zero degrees of
    /// freedom, the variable is 0).
    chi_k: Option<ChiSquared<f64>>,
    chi_k1: Option<ChiSquared<f64>>,
    chi_d1: Option<ChiSquared<f64>>,
    metrics: Vec<MetricSpec>,
}

/// Per-worker buffers of a trial.
pub struct TttWorkspace {
    /// One sample `x` (drawn in place, row by row: no `n×d` matrix is held).
    x: Vec<f64>,
    beta: Vec<f64>,
    u: Vec<f64>,
    e: Vec<f64>,
    /// Per task: `‖e‖²`, `eᵀa`, `‖a‖²` and `‖e − η⋆a‖²`.
    ee: Vec<f64>,
    ea: Vec<f64>,
    aa: Vec<f64>,
    star: Vec<f64>,
}

/// What one task gives: `‖e‖²`, `eᵀa`, `‖a‖²`, `‖e − η⋆a‖²`.
#[derive(Clone, Copy, Debug)]
struct TaskRecord {
    ee: f64,
    ea: f64,
    aa: f64,
    star: f64,
}

fn invalid(field: &str, what: String) -> Error {
    Error::invalid(field, what)
}

impl TttLinear {
    pub fn new(p: TttParams) -> Result<Self> {
        if p.d == 0 {
            return Err(invalid("d", format!("must be in 1..={MAX_D}, got 0")));
        }
        check_at_most("d", p.d, MAX_D)?;
        if p.n == 0 {
            return Err(invalid("n", format!("must be in 1..={MAX_N}, got 0")));
        }
        check_at_most("n", p.n, MAX_N)?;
        if !(0.0..=MAX_SIGMA).contains(&p.sigma) {
            return Err(invalid(
                "sigma",
                format!("must be a number in [0, {MAX_SIGMA}], got {}", p.sigma),
            ));
        }
        if p.k == 0 {
            return Err(invalid("k", format!("must be in 1..={MAX_K}, got 0")));
        }
        check_at_most("k", p.k, MAX_K)?;
        if p.tasks < 2 || !p.tasks.is_multiple_of(2) || p.tasks > MAX_TASKS {
            return Err(invalid(
                "tasks",
                format!("must be even, in 2..={MAX_TASKS}, got {}", p.tasks),
            ));
        }
        let (d, n, k) = (p.d as f64, p.n as f64, p.k as f64);
        let s2 = p.sigma * p.sigma;
        let c_star = n / (n + 1.0 + d + s2 * d);
        let m = moments(p.d, p.n, p.sigma, c_star);
        let denom = (k + d + 1.0) * m.q2_e2 + s2 * d * m.q2;
        let eta_star = m.q_e2 / (2.0 * denom);
        let loss_star = m.e2 - k * m.q_e2 * m.q_e2 / denom;
        let a2 = 4.0 * k * denom;
        if ![c_star, eta_star, loss_star, a2]
            .iter()
            .all(|v| v.is_finite())
            || denom <= 0.0
        {
            return Err(invalid(
                "sigma",
                format!(
                    "the theory is not finite at d = {}, n = {}, σ = {}, k = {}",
                    p.d, p.n, p.sigma, p.k
                ),
            ));
        }
        let metrics = vec![
            MetricSpec::new(
                "excess_no_ttt",
                "1",
                "mean over the second half of the tasks of the pretrained learner's excess risk ‖β − c⋆u‖²",
            ),
            MetricSpec::new(
                "excess_ttt",
                "1",
                "mean over the second half of the tasks of the excess risk ‖e − η̂a‖² after one test-time step with η̂ fitted on the first half",
            ),
            MetricSpec::new(
                "excess_ttt_star",
                "1",
                "mean over the second half of the tasks of the excess risk ‖e − η⋆a‖² after one test-time step with the theory's η⋆",
            ),
            MetricSpec::new(
                "eta_hat",
                "1",
                "the step η̂ = Σ eᵀa / Σ ‖a‖² fitted on the first half of the tasks",
            ),
        ];
        let (chi_k, chi_k1, chi_d1) =
            (chi_squared(p.k), chi_squared(p.k - 1), chi_squared(p.d - 1));
        Ok(TttLinear {
            p,
            c_star,
            moments: m,
            eta_star,
            loss_star,
            a2,
            chi_k,
            chi_k1,
            chi_d1,
            metrics,
        })
    }

    /// Builds the model from a parameter table.
    pub fn build(table: toml::Table) -> Result<Self> {
        let params: TttParams = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| crate::models::parameter_error(&e.to_string()))?;
        Self::new(params)
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "ttt-linear",
            summary: "one test-time gradient step on k fresh samples of a linear in-context learner u = Xᵀy/n, W₀ = c⋆I: exact excess risk with and without it",
            source: "Gozeten, Ildiz, Zhang, Soltanolkotabi, Mondelli, Oymak, \"Test-Time Training Provably Improves Transformers as In-context Learners\", arXiv 2503.11842",
            params: describe::<TttParams>(
                &[
                    ("d", "dimension of x and β (1 to 4096)"),
                    ("n", "context length n (1 to 10⁶)"),
                    ("sigma", "label noise level σ, y = xᵀβ + σε (0 to 1000)"),
                    ("k", "test-time training samples k (1 to 10⁶)"),
                    (
                        "tasks",
                        "tasks per trial, even (2 to 10⁵): the first half fits η̂, the second half is measured",
                    ),
                ],
                &[],
            ),
        }
    }

    /// The moments, `η⋆`, `L⋆` and `E‖a‖²`.
    pub fn theory(&self) -> (Moments, f64, f64, f64) {
        (self.moments, self.eta_star, self.loss_star, self.a2)
    }

    /// One task, drawn in this order from `rng`: `β` (d standard normals, scaled by
    /// `1/√d`), then each context sample (`x`: d normals, then `ε`), then the test-time
    /// step's `A`, `ξ`, `B`, `G` (see the module documentation). Leaves `β`, `u` and `e`
    /// in the workspace.
    fn task(&self, rng: &mut ChaCha8Rng, ws: &mut TttWorkspace) -> TaskRecord {
        let (d, sigma) = (self.p.d, self.p.sigma);
        let scale = 1.0 / (d as f64).sqrt();
        for b in ws.beta.iter_mut() {
            let g: f64 = StandardNormal.sample(rng);
            *b = g * scale;
        }
        ws.u.fill(0.0);
        for _ in 0..self.p.n {
            let y = draw_row(rng, &mut ws.x, &ws.beta) + sigma * normal(rng);
            axpy(&mut ws.u, y, &ws.x);
        }
        let inv_n = 1.0 / self.p.n as f64;
        let (mut q, mut ee) = (0.0, 0.0);
        for ((u, e), b) in ws.u.iter_mut().zip(ws.e.iter_mut()).zip(&ws.beta) {
            *u *= inv_n;
            *e = b - self.c_star * *u;
            q += *u * *u;
            ee += *e * *e;
        }
        let draw = |chi: &Option<ChiSquared<f64>>, rng: &mut ChaCha8Rng| {
            chi.as_ref().map_or(0.0, |c| c.sample(rng))
        };
        let a = draw(&self.chi_k, rng);
        let xi = normal(rng);
        let b = draw(&self.chi_k1, rng);
        let g = draw(&self.chi_d1, rng);
        let step = Step::new(ee.sqrt(), sigma, [a, xi, b, g]);
        let s = 2.0 * q * self.eta_star;
        TaskRecord {
            ee,
            ea: 2.0 * q * step.ev,
            aa: 4.0 * q * q * step.vv,
            star: step.risk(s),
        }
    }
}

/// `eᵀv`, `‖v‖²` and what `‖e − sv‖²` needs, for `v = X_trᵀ(X_tr e + σε_tr)`, from `‖e‖`
/// and the draws `A ~ χ²_k`, `ξ ~ N(0, 1)`, `B ~ χ²_{k−1}`, `G ~ χ²_{d−1}`.
#[derive(Clone, Copy, Debug)]
struct Step {
    norm_e: f64,
    /// `gᵀr` and `‖r‖²·G` (`‖v_⊥‖²`).
    gr: f64,
    across: f64,
    ev: f64,
    vv: f64,
}

impl Step {
    fn new(norm_e: f64, sigma: f64, [a, xi, b, g]: [f64; 4]) -> Self {
        let root = a.sqrt();
        let along = norm_e * root + sigma * xi;
        let rr = along * along + sigma * sigma * b;
        let gr = root * along;
        let across = rr * g;
        Step {
            norm_e,
            gr,
            across,
            ev: norm_e * gr,
            vv: gr * gr + across,
        }
    }

    /// `‖e − sv‖² = (‖e‖ − s·gᵀr)² + s²‖v_⊥‖²`.
    fn risk(&self, s: f64) -> f64 {
        let along = self.norm_e - s * self.gr;
        along * along + s * s * self.across
    }
}

/// `χ²_dof`, `None` for zero degrees of freedom.
fn chi_squared(dof: usize) -> Option<ChiSquared<f64>> {
    ChiSquared::new(dof as f64).ok()
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Draws `x` in place from `rng` and returns `xᵀw`.
fn draw_row(rng: &mut ChaCha8Rng, x: &mut [f64], w: &[f64]) -> f64 {
    let mut dot = 0.0;
    for (xi, wi) in x.iter_mut().zip(w) {
        *xi = normal(rng);
        dot += *xi * wi;
    }
    dot
}

/// `acc += alpha·x`.
fn axpy(acc: &mut [f64], alpha: f64, x: &[f64]) {
    for (a, xi) in acc.iter_mut().zip(x) {
        *a += alpha * xi;
    }
}

// ---------------------------------------------------------------------------------------
// Exact moments: polynomials in (b, s, ξ, C, G).

/// Exponents of `b, s, ξ, C, G` (variables in this order).
type Monomial = [u8; 5];

/// Highest power of one variable the moment polynomials reach (`s¹²` in `q²‖e‖²`).
const MAX_POWER: usize = 16;

/// A polynomial in `b, s, ξ, C, G` with real coefficients.
#[derive(Clone, Debug, Default, PartialEq)]
struct Poly(BTreeMap<Monomial, f64>);

impl Poly {
    fn term(coef: f64, powers: Monomial) -> Poly {
        let mut p = Poly::default();
        if coef != 0.0 {
            p.0.insert(powers, coef);
        }
        p
    }

    fn plus(&self, other: &Poly) -> Poly {
        let mut out = self.clone();
        for (m, c) in &other.0 {
            *out.0.entry(*m).or_insert(0.0) += c;
        }
        out
    }

    fn scaled(&self, s: f64) -> Poly {
        Poly(self.0.iter().map(|(m, c)| (*m, c * s)).collect())
    }

    fn times(&self, other: &Poly) -> Poly {
        let mut out = Poly::default();
        for (ma, ca) in &self.0 {
            for (mb, cb) in &other.0 {
                let m: Monomial = std::array::from_fn(|i| ma[i] + mb[i]);
                *out.0.entry(m).or_insert(0.0) += ca * cb;
            }
        }
        out
    }

    /// `E[p]` with `table[v][j] = E[var_v^j]`, the variables independent.
    fn expectation(&self, table: &[[f64; MAX_POWER + 1]; 5]) -> f64 {
        self.0
            .iter()
            .map(|(m, c)| {
                c * m
                    .iter()
                    .enumerate()
                    .map(|(v, &j)| table[v][j as usize])
                    .product::<f64>()
            })
            .sum()
    }
}

/// `E[(χ_ν/√ν)^i]`: for even `i = 2m`, `Π_{t<m}(1 + 2t/ν)`; for odd `i`,
/// `(2/ν)^{i/2} Γ((ν + i)/2)/Γ(ν/2)` through ln Γ.
fn chi_moment(nu: f64, i: usize) -> f64 {
    if i.is_multiple_of(2) {
        (0..i / 2).map(|t| 1.0 + 2.0 * t as f64 / nu).product()
    } else {
        let h = i as f64 / 2.0;
        (libm::lgamma((nu + i as f64) / 2.0) - libm::lgamma(nu / 2.0) + h * (2.0 / nu).ln()).exp()
    }
}

/// The moment table of `b = χ_d/√d`, `s = χ_n/√n`, `ξ ~ N(0, 1)`, `C ~ χ²_{n−1}/n`,
/// `G ~ χ²_{d−1}/n`: `E[ξ^l] = (l − 1)!!` (0 for odd `l`), `E[C^m] = Π_{t<m}(n − 1 + 2t)/n`,
/// `E[G^p] = Π_{t<p}(d − 1 + 2t)/n` (so `C ≡ 0` at `n = 1` and `G ≡ 0` at `d = 1`).
fn moment_table(d: usize, n: usize) -> [[f64; MAX_POWER + 1]; 5] {
    let (df, nf) = (d as f64, n as f64);
    let xi = |j: usize| -> f64 {
        if j.is_multiple_of(2) {
            (0..j / 2).map(|t| (2 * t + 1) as f64).product()
        } else {
            0.0
        }
    };
    let scaled_chi2 =
        |nu: f64, j: usize| -> f64 { (0..j).map(|t| (nu + 2.0 * t as f64) / nf).product() };
    [
        std::array::from_fn(|j| chi_moment(df, j)),
        std::array::from_fn(|j| chi_moment(nf, j)),
        std::array::from_fn(xi),
        std::array::from_fn(|j| scaled_chi2(nf - 1.0, j)),
        std::array::from_fn(|j| scaled_chi2(df - 1.0, j)),
    ]
}

/// The polynomials `‖e‖²`, `q‖e‖²`, `q²‖e‖²`, `q²` in `(b, s, ξ, C, G)` (see the module
/// docs), for context length `n`, noise `σ` and pretrained scale `c`.
fn moment_polys(n: usize, sigma: f64, c: f64) -> [Poly; 4] {
    let root_n = (n as f64).sqrt();
    let t = |coef: f64, powers: Monomial| Poly::term(coef, powers);
    let b = t(1.0, [1, 0, 0, 0, 0]);
    // u₁ = b s² + σ s ξ/√n.
    let u1 = t(1.0, [1, 2, 0, 0, 0]).plus(&t(sigma / root_n, [0, 1, 1, 0, 0]));
    // ‖r‖²/n = b²s² + 2σ b s ξ/√n + σ²ξ²/n + σ²C; ‖u_rest‖² = (‖r‖²/n)·G.
    let r2 = t(1.0, [2, 2, 0, 0, 0])
        .plus(&t(2.0 * sigma / root_n, [1, 1, 1, 0, 0]))
        .plus(&t(sigma * sigma / n as f64, [0, 0, 2, 0, 0]))
        .plus(&t(sigma * sigma, [0, 0, 0, 1, 0]));
    let rest = r2.times(&t(1.0, [0, 0, 0, 0, 1]));
    let q = u1.times(&u1).plus(&rest);
    let e1 = b.plus(&u1.scaled(-c));
    let ee = e1.times(&e1).plus(&rest.scaled(c * c));
    let q2 = q.times(&q);
    [ee.clone(), q.times(&ee), q2.times(&ee), q2]
}

/// The exact moments `E‖e‖²`, `E[q‖e‖²]`, `E[q²‖e‖²]`, `E[q²]` at dimension `d`, context
/// length `n`, noise `σ` and pretrained scale `c`.
pub fn moments(d: usize, n: usize, sigma: f64, c: f64) -> Moments {
    let table = moment_table(d, n);
    let [e2, q_e2, q2_e2, q2] = moment_polys(n, sigma, c).map(|p| p.expectation(&table));
    Moments {
        e2,
        q_e2,
        q2_e2,
        q2,
    }
}

// ---------------------------------------------------------------------------------------

/// The mean of `values` and its standard error.
fn mean_se(values: &[f64]) -> (f64, f64) {
    crate::stats::Summary::of(values).map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se))
}

impl Model for TttLinear {
    type Workspace = TttWorkspace;

    fn name(&self) -> &'static str {
        "ttt-linear"
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn workspace(&self) -> TttWorkspace {
        let (d, t) = (self.p.d, self.p.tasks);
        TttWorkspace {
            x: vec![0.0; d],
            beta: vec![0.0; d],
            u: vec![0.0; d],
            e: vec![0.0; d],
            ee: vec![0.0; t],
            ea: vec![0.0; t],
            aa: vec![0.0; t],
            star: vec![0.0; t],
        }
    }

    /// `tasks` independent tasks; `η̂ = Σ eᵀa / Σ ‖a‖²` over the first half, the risks
    /// averaged over the second half (`‖e − η̂a‖² = ‖e‖² − 2η̂ eᵀa + η̂²‖a‖²`).
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut TttWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        for t in 0..self.p.tasks {
            let r = self.task(rng, ws);
            (ws.ee[t], ws.ea[t], ws.aa[t], ws.star[t]) = (r.ee, r.ea, r.aa, r.star);
        }
        let half = self.p.tasks / 2;
        let sea: f64 = ws.ea[..half].iter().sum();
        let saa: f64 = ws.aa[..half].iter().sum();
        if !(saa > 0.0 && saa.is_finite() && sea.is_finite()) {
            return Err(format!("Σ‖a‖² = {saa} over the fitting tasks"));
        }
        let eta = sea / saa;
        let (mut no, mut fitted, mut star) = (0.0, 0.0, 0.0);
        for t in half..self.p.tasks {
            no += ws.ee[t];
            fitted += (ws.ee[t] - 2.0 * eta * ws.ea[t] + eta * eta * ws.aa[t]).max(0.0);
            star += ws.star[t];
        }
        let m = half as f64;
        let values = [no / m, fitted / m, star / m, eta];
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!("{} is not finite", self.metrics[bad].name));
        }
        out[..4].copy_from_slice(&values);
        Ok(())
    }

    /// Exact: `c⋆`, the four moments, `E‖e‖²`, `η⋆`, `L⋆` and `E‖a‖²`; the predicted
    /// means of `excess_no_ttt` and `excess_ttt_star` are decisive.
    fn predict(&self) -> Result<Prediction> {
        let (d, n, k) = (self.p.d as f64, self.p.n as f64, self.p.k as f64);
        let s2d = self.p.sigma * self.p.sigma * d;
        let m = self.moments;
        let proportional = m.e2 * ((1.0 + d) * m.e2 + s2d) / ((k + 1.0 + d) * m.e2 + s2d);
        let equivalent = (1.0 + d + s2d) * (1.0 / self.loss_star - 1.0);
        let mean = |metric: &str, value: f64, decisive: bool| MeanPrediction {
            metric: metric.into(),
            value,
            se: 0.0,
            decisive,
        };
        Ok(Prediction {
            model: "ttt-linear".into(),
            quantities: vec![
                Quantity::exact("c_star", self.c_star),
                Quantity::exact("excess_no_ttt", m.e2),
                Quantity::exact("excess_no_ttt_closed_form", 1.0 - self.c_star),
                Quantity::exact("excess_ttt", self.loss_star),
                Quantity::exact("eta_star", self.eta_star),
                Quantity::exact("ttt_gain", m.e2 - self.loss_star),
                Quantity::exact("moment_e2", m.e2),
                Quantity::exact("moment_q_e2", m.q_e2),
                Quantity::exact("moment_q2_e2", m.q2_e2),
                Quantity::exact("moment_q2", m.q2),
                Quantity::exact("expected_a2", self.a2),
                Quantity::exact("excess_ttt_proportional", proportional),
                Quantity::exact("equivalent_context", equivalent),
                Quantity::exact("context_saving", equivalent / n),
            ],
            means: vec![
                mean("excess_no_ttt", m.e2, true),
                mean("excess_ttt_star", self.loss_star, true),
                mean("excess_ttt", self.loss_star, false),
                mean("eta_hat", self.eta_star, false),
            ],
            references: vec![Reference {
                key: "excess_ttt_proportional".into(),
                label: "proportional-limit heuristic E‖e‖²((1 + d)E‖e‖² + dσ²)/((k + 1 + d)E‖e‖² + dσ²)".into(),
                value: proportional,
                of: Some("excess_ttt".into()),
            }],
            ..Default::default()
        })
    }

    /// The fitted step: given `η̂` (fitted on the first half, independent of the second),
    /// the expected risk of a measured task is exactly `L⋆ + (η̂ − η⋆)²E‖a‖²`. So each
    /// trial's `excess_ttt − (η̂ − η⋆)²E‖a‖²` has mean `L⋆`, and the criterion asks that
    /// their mean be within 3 s.e. of it (no allowance needed).
    fn criteria(&self, _prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        let (Some(fitted), Some(eta)) = (trials.column("excess_ttt"), trials.column("eta_hat"))
        else {
            return Vec::new();
        };
        let penalties: Vec<f64> = eta
            .iter()
            .map(|h| (h - self.eta_star).powi(2) * self.a2)
            .collect();
        let corrected: Vec<f64> = fitted.iter().zip(&penalties).map(|(f, p)| f - p).collect();
        let (measured, se) = mean_se(&corrected);
        let (penalty, _) = mean_se(&penalties);
        vec![Criterion {
            name: "excess_ttt_fitted_eta".into(),
            statement: format!(
                "the mean of excess_ttt less each trial's exact cost of its fitted step, (η̂ − η⋆)²E‖a‖² (mean {penalty:.3e}), is within 3 s.e. of L⋆"
            ),
            predicted: Some(self.loss_star),
            measured,
            se: Some(se),
            pass: (measured - self.loss_star).abs() <= 3.0 * se,
        }]
    }

    fn default_trials(&self) -> u64 {
        100
    }

    /// A trial draws `tasks·((n + 1)·d + n)` normals and four more variables per task, and
    /// does a few flops with each, holding four d-vectors and four per-task numbers; the
    /// prediction expands polynomials of a few hundred terms.
    fn cost(&self) -> Cost {
        let (d, n, t) = (self.p.d as f64, self.p.n as f64, self.p.tasks as f64);
        let driver = if t >= (n + 1.0).max(d) {
            "tasks"
        } else if d >= n + 1.0 {
            "d"
        } else {
            "n"
        };
        Cost {
            trial: Need::new(
                super::doubles(4.0 * d + 4.0 * t),
                30.0 * t * ((n + 1.0) * d + 10.0),
                driver,
            ),
            predict: Need::new(1e6, 1e7, "d"),
        }
    }

    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("d", serde_json::json!(self.p.d)),
            ("n", serde_json::json!(self.p.n)),
            ("sigma", serde_json::json!(self.p.sigma)),
            ("k", serde_json::json!(self.p.k)),
            ("tasks", serde_json::json!(self.p.tasks)),
        ]
    }
}

/// The paper's statement that `pretrainlab audit` tests: the exact risk after one
/// test-time step at the default instance.
pub const CLAIMS: &[Claim] = &[Claim {
    id: "ttt-linear-risk",
    paper: "Gozeten et al., Test-Time Training Provably Improves Transformers as In-context Learners, arXiv 2503.11842",
    location: "main result on one-step test-time training of the linear in-context learner (its excess risk with the optimal step)",
    statement: "one gradient step on k fresh samples lowers the in-context learner's excess risk to the exact L⋆ at the optimal step",
    params: "",
    trials: 400,
    quick_trials: 100,
    test: crate::audit::ClaimTest::Generic,
}];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn model(d: usize, n: usize, sigma: f64, k: usize, tasks: usize) -> TttLinear {
        TttLinear::new(TttParams {
            d,
            n,
            sigma,
            k,
            tasks,
        })
        .unwrap()
    }

    /// E‖e‖² from the moment polynomials equals the closed form 1 − c⋆, including d = 1
    /// (no rest coordinates) and n = 1 (no C). Tolerance 10⁻¹⁵·max(n, 100) relative: the
    /// expansion of (b − c⋆u₁)² cancels terms of order 1 down to a risk of order d/n.
    #[test]
    fn the_icl_risk_is_one_minus_c_star() {
        for (d, n, sigma) in [
            (1, 1, 0.0),
            (1, 1, 0.5),
            (1, 7, 1.3),
            (5, 1, 0.2),
            (20, 10, 0.5),
            (100, 50, 0.5),
            (100, 400, 0.5),
            (3, 100_000, 0.1),
        ] {
            let m = model(d, n, sigma, 10, 2);
            let (mom, ..) = m.theory();
            let closed = 1.0 - m.c_star;
            assert!(
                (mom.e2 - closed).abs() <= 1e-15 * n.max(100) as f64 * closed,
                "d = {d}, n = {n}, σ = {sigma}: {} vs {closed}",
                mom.e2
            );
        }
    }

    /// Every monomial with an odd power of b or s has an odd power of ξ (the model is
    /// invariant under (b, ξ) → −(b, ξ) and (s, ξ) → −(s, ξ)), so the odd χ moments only
    /// ever meet E[ξ^odd] = 0; and the odd χ moments themselves are right
    /// (E χ₁ = √(2/π), E χ₃ = √2·Γ(2)/Γ(3/2)).
    #[test]
    fn odd_powers_meet_odd_xi() {
        for p in moment_polys(7, 0.8, 0.3) {
            for (m, c) in &p.0 {
                if (m[0] % 2 == 1 || m[1] % 2 == 1) && *c != 0.0 {
                    assert_eq!(m[2] % 2, 1, "{m:?}");
                    assert_eq!((m[0] + m[2]) % 2, 0, "{m:?}");
                    assert_eq!((m[1] + m[2]) % 2, 0, "{m:?}");
                }
            }
        }
        let pi = std::f64::consts::PI;
        assert!((chi_moment(1.0, 1) - (2.0 / pi).sqrt()).abs() < 1e-12);
        // E[(χ₃/√3)¹] = √2·Γ(2)/Γ(3/2)/√3, Γ(3/2) = √π/2.
        let exact = 2f64.sqrt() / (pi.sqrt() / 2.0) / 3f64.sqrt();
        assert!((chi_moment(3.0, 1) - exact).abs() < 1e-12);
        assert!((chi_moment(4.0, 4) - 24.0 / 16.0).abs() < 1e-12);
    }

    /// The four moments against Monte Carlo of the original, unrotated model (X_c n×d,
    /// β ~ N(0, I/d), u = X_cᵀy_c/n), 2·10⁵ draws each, within 5 s.e.
    #[test]
    fn moments_match_monte_carlo_of_the_model() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        for (d, n, sigma) in [(3, 4, 0.7), (1, 2, 0.5), (4, 1, 0.3)] {
            let c = model(d, n, sigma, 10, 2).c_star;
            let exact = moments(d, n, sigma, c);
            let draws = 200_000;
            let mut sums = [[0.0; 2]; 4];
            let mut x = vec![0.0; d];
            for _ in 0..draws {
                let beta: Vec<f64> = (0..d)
                    .map(|_| normal(&mut rng) / (d as f64).sqrt())
                    .collect();
                let mut u = vec![0.0; d];
                for _ in 0..n {
                    let y = draw_row(&mut rng, &mut x, &beta) + sigma * normal(&mut rng);
                    axpy(&mut u, y / n as f64, &x);
                }
                let q: f64 = u.iter().map(|v| v * v).sum();
                let ee: f64 = beta.iter().zip(&u).map(|(b, v)| (b - c * v).powi(2)).sum();
                for (s, v) in sums.iter_mut().zip([ee, q * ee, q * q * ee, q * q]) {
                    s[0] += v;
                    s[1] += v * v;
                }
            }
            let m = draws as f64;
            for (s, (name, e)) in sums.iter().zip([
                ("E‖e‖²", exact.e2),
                ("E q‖e‖²", exact.q_e2),
                ("E q²‖e‖²", exact.q2_e2),
                ("E q²", exact.q2),
            ]) {
                let mean = s[0] / m;
                let se = ((s[1] / m - mean * mean) / m).sqrt();
                assert!(
                    (mean - e).abs() < 5.0 * se,
                    "d = {d}, n = {n}, σ = {sigma}, {name}: {mean} ± {se} vs {e}"
                );
            }
        }
    }

    /// The reduced test-time draw has the law of the explicit one: at a fixed `e`, the
    /// two-sample Kolmogorov–Smirnov distance of `eᵀv`, `‖v‖²` and `‖e − sv‖²` between
    /// 20 000 draws of each stays below its 0.1% critical value, for (d, k) = (3, 4),
    /// (1, 1) (no `B`, no `G`) and (5, 1).
    #[test]
    fn the_reduced_step_has_the_explicit_law() {
        use crate::stats::{ks_two_sample, ks_two_sample_critical_001};
        let draws = 20_000;
        let critical = ks_two_sample_critical_001(draws, draws);
        for (d, k, sigma) in [(3, 4, 0.6), (1, 1, 0.5), (5, 1, 0.8)] {
            let m = model(d, 4, sigma, k, 2);
            let e: Vec<f64> = (0..d).map(|j| 0.3 + 0.2 * j as f64).collect();
            let norm_e = e.iter().map(|v| v * v).sum::<f64>().sqrt();
            let s = 0.05;
            let mut rng = ChaCha8Rng::seed_from_u64(31 + d as u64);
            let mut explicit = [Vec::new(), Vec::new(), Vec::new()];
            let mut reduced = [Vec::new(), Vec::new(), Vec::new()];
            for _ in 0..draws {
                let xt: Vec<Vec<f64>> = (0..k)
                    .map(|_| (0..d).map(|_| normal(&mut rng)).collect())
                    .collect();
                let r: Vec<f64> = xt
                    .iter()
                    .map(|x| {
                        x.iter().zip(&e).map(|(a, b)| a * b).sum::<f64>() + sigma * normal(&mut rng)
                    })
                    .collect();
                let v: Vec<f64> = (0..d)
                    .map(|j| (0..k).map(|i| xt[i][j] * r[i]).sum())
                    .collect();
                explicit[0].push(e.iter().zip(&v).map(|(a, b)| a * b).sum());
                explicit[1].push(v.iter().map(|x| x * x).sum());
                explicit[2].push(e.iter().zip(&v).map(|(a, b)| (a - s * b).powi(2)).sum());
                let chi = |c: &Option<ChiSquared<f64>>, rng: &mut ChaCha8Rng| {
                    c.as_ref().map_or(0.0, |c| c.sample(rng))
                };
                let a = chi(&m.chi_k, &mut rng);
                let xi = normal(&mut rng);
                let b = chi(&m.chi_k1, &mut rng);
                let g = chi(&m.chi_d1, &mut rng);
                let step = Step::new(norm_e, sigma, [a, xi, b, g]);
                reduced[0].push(step.ev);
                reduced[1].push(step.vv);
                reduced[2].push(step.risk(s));
            }
            for (i, name) in ["eᵀv", "‖v‖²", "‖e − sv‖²"].iter().enumerate() {
                let dist = ks_two_sample(&explicit[i], &reduced[i]);
                assert!(
                    dist < critical,
                    "d = {d}, k = {k}, {name}: KS {dist} ≥ {critical}"
                );
            }
        }
    }

    /// E[eᵀa] = 2kE[q‖e‖²] and E‖a‖² = 4k((k + d + 1)E[q²‖e‖²] + σ²dE[q²]) against the
    /// model's own tasks (10⁵ tasks, 5 s.e.).
    #[test]
    fn update_moments_match_tasks() {
        let m = model(3, 4, 0.6, 5, 2);
        let mut ws = m.workspace();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (mom, _, _, a2) = m.theory();
        let draws = 100_000;
        let (mut ea, mut ea2, mut aa, mut aa2) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..draws {
            let r = m.task(&mut rng, &mut ws);
            ea += r.ea;
            ea2 += r.ea * r.ea;
            aa += r.aa;
            aa2 += r.aa * r.aa;
        }
        let t = draws as f64;
        let check = |s: f64, s2: f64, exact: f64, what: &str| {
            let mean = s / t;
            let se = ((s2 / t - mean * mean) / t).sqrt();
            assert!(
                (mean - exact).abs() < 5.0 * se,
                "{what}: {mean} ± {se} vs {exact}"
            );
        };
        check(ea, ea2, 2.0 * 5.0 * mom.q_e2, "E eᵀa");
        check(aa, aa2, a2, "E‖a‖²");
    }

    /// W_TT = W₀ + 2η X_trᵀ(y_tr − X_tr W₀u)uᵀ is W₀ − η∇L for L(W) = ‖y_tr − X_tr W u‖²
    /// (central differences along random directions, 1e-6 relative); the task replays
    /// β and the context (1e-12); and `Step`, fed the `A, ξ, B, G` of explicit test-time
    /// matrices (`A = ‖X_tr ê‖²`, `ξ = ĝᵀε_tr`, `B = ‖ε_tr‖² − ξ²`, `G = ‖v_⊥‖²/‖r‖²`),
    /// gives ‖β − W_TT u‖² as computed from the explicit matrices (1e-10).
    #[test]
    fn the_update_is_a_gradient_step_of_the_ttt_loss() {
        let (d, n, k, sigma) = (4, 6, 5, 0.4);
        let m = model(d, n, sigma, k, 2);
        let mut ws = m.workspace();
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut replay = ChaCha8Rng::seed_from_u64(8);
        let r = m.task(&mut rng, &mut ws);
        // Replay the draws in the documented order into explicit matrices.
        let beta: Vec<f64> = (0..d)
            .map(|_| normal(&mut replay) / (d as f64).sqrt())
            .collect();
        let mut rows = |count: usize| -> (Vec<Vec<f64>>, Vec<f64>) {
            let mut xs = Vec::new();
            let mut ys = Vec::new();
            for _ in 0..count {
                let x: Vec<f64> = (0..d).map(|_| normal(&mut replay)).collect();
                let y = x.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>()
                    + sigma * normal(&mut replay);
                xs.push(x);
                ys.push(y);
            }
            (xs, ys)
        };
        let (xc, yc) = rows(n);
        // The test-time samples, explicit, from their own stream.
        let mut tt_rng = ChaCha8Rng::seed_from_u64(10);
        let xt: Vec<Vec<f64>> = (0..k)
            .map(|_| (0..d).map(|_| normal(&mut tt_rng)).collect())
            .collect();
        let eps: Vec<f64> = (0..k).map(|_| normal(&mut tt_rng)).collect();
        let yt: Vec<f64> = (0..k)
            .map(|i| (0..d).map(|j| xt[i][j] * beta[j]).sum::<f64>() + sigma * eps[i])
            .collect();
        let u: Vec<f64> = (0..d)
            .map(|j| (0..n).map(|i| xc[i][j] * yc[i]).sum::<f64>() / n as f64)
            .collect();
        for j in 0..d {
            assert!((u[j] - ws.u[j]).abs() < 1e-12);
            assert!((beta[j] - ws.beta[j]).abs() < 1e-12);
        }
        let loss = |w: &[Vec<f64>]| -> f64 {
            let wu: Vec<f64> = (0..d)
                .map(|i| (0..d).map(|j| w[i][j] * u[j]).sum())
                .collect();
            (0..k)
                .map(|i| (yt[i] - (0..d).map(|j| xt[i][j] * wu[j]).sum::<f64>()).powi(2))
                .sum()
        };
        let w0: Vec<Vec<f64>> = (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| if i == j { m.c_star } else { 0.0 })
                    .collect()
            })
            .collect();
        // The update 2 X_trᵀ(y_tr − X_tr W₀u)uᵀ, i.e. −∇L(W₀).
        let resid: Vec<f64> = (0..k)
            .map(|i| yt[i] - m.c_star * (0..d).map(|j| xt[i][j] * u[j]).sum::<f64>())
            .collect();
        let update: Vec<Vec<f64>> = (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| 2.0 * (0..k).map(|t| xt[t][i] * resid[t]).sum::<f64>() * u[j])
                    .collect()
            })
            .collect();
        let mut dir_rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..3 {
            let dir: Vec<Vec<f64>> = (0..d)
                .map(|_| (0..d).map(|_| normal(&mut dir_rng)).collect())
                .collect();
            let h = 1e-5;
            let shifted = |s: f64| -> Vec<Vec<f64>> {
                (0..d)
                    .map(|i| (0..d).map(|j| w0[i][j] + s * dir[i][j]).collect())
                    .collect()
            };
            let fd = (loss(&shifted(h)) - loss(&shifted(-h))) / (2.0 * h);
            let analytic: f64 = (0..d)
                .flat_map(|i| (0..d).map(move |j| (i, j)))
                .map(|(i, j)| -update[i][j] * dir[i][j])
                .sum();
            assert!(
                (fd - analytic).abs() <= 1e-6 * analytic.abs().max(1.0),
                "{fd} vs {analytic}"
            );
        }
        // The reduced variables of these explicit matrices.
        let q: f64 = u.iter().map(|v| v * v).sum();
        let e: Vec<f64> = (0..d).map(|j| beta[j] - m.c_star * u[j]).collect();
        let norm_e = e.iter().map(|v| v * v).sum::<f64>().sqrt();
        let g: Vec<f64> = (0..k)
            .map(|i| (0..d).map(|j| xt[i][j] * e[j]).sum::<f64>() / norm_e)
            .collect();
        let a: f64 = g.iter().map(|v| v * v).sum();
        let xi = g.iter().zip(&eps).map(|(x, y)| x * y).sum::<f64>() / a.sqrt();
        let b = eps.iter().map(|v| v * v).sum::<f64>() - xi * xi;
        let rt: Vec<f64> = (0..k).map(|i| norm_e * g[i] + sigma * eps[i]).collect();
        let v: Vec<f64> = (0..d)
            .map(|j| (0..k).map(|i| xt[i][j] * rt[i]).sum())
            .collect();
        let ev: f64 = e.iter().zip(&v).map(|(x, y)| x * y).sum();
        let vv: f64 = v.iter().map(|x| x * x).sum();
        let v_perp2 = vv - ev * ev / (norm_e * norm_e);
        let rr: f64 = rt.iter().map(|x| x * x).sum();
        let step = Step::new(norm_e, sigma, [a, xi, b, v_perp2 / rr]);
        assert!(
            (step.ev - ev).abs() < 1e-10 * ev.abs().max(1.0),
            "{} vs {ev}",
            step.ev
        );
        assert!((step.vv - vv).abs() < 1e-10 * vv, "{} vs {vv}", step.vv);
        let ee = norm_e * norm_e;
        for eta in [0.0, 0.01, 0.05] {
            let explicit: f64 = (0..d)
                .map(|i| {
                    let wu: f64 = (0..d).map(|j| (w0[i][j] + eta * update[i][j]) * u[j]).sum();
                    (beta[i] - wu).powi(2)
                })
                .sum();
            let (ea, aa) = (2.0 * q * step.ev, 4.0 * q * q * step.vv);
            let reduced = ee - 2.0 * eta * ea + eta * eta * aa;
            assert!(
                (explicit - reduced).abs() < 1e-10 * explicit.max(1.0),
                "η = {eta}: {explicit} vs {reduced}"
            );
            let direct = step.risk(2.0 * q * eta);
            assert!(
                (explicit - direct).abs() < 1e-10 * explicit.max(1.0),
                "η = {eta}: {explicit} vs {direct}"
            );
        }
        assert!((r.ee - ee).abs() < 1e-12 * ee.max(1.0));
        let h = m.eta_star;
        let expanded = r.ee - 2.0 * h * r.ea + h * h * r.aa;
        assert!((expanded - r.star).abs() < 1e-10 * r.star.max(1.0));
    }

    /// L⋆ is the minimum over η of the expected risk E‖e‖² − 2ηE[eᵀa] + η²E‖a‖² and lies
    /// below the ICL risk; and it decreases with k.
    #[test]
    fn the_optimal_step_minimises_the_expected_risk() {
        let mut last = f64::INFINITY;
        for k in [1, 5, 40, 200, 5000] {
            let m = model(20, 10, 0.5, k, 2);
            let (mom, eta, loss, a2) = m.theory();
            let ea = 2.0 * k as f64 * mom.q_e2;
            let risk = |h: f64| mom.e2 - 2.0 * h * ea + h * h * a2;
            assert!((risk(eta) - loss).abs() < 1e-12);
            assert!(risk(eta * 1.01) > loss && risk(eta * 0.99) > loss);
            assert!(loss < mom.e2 && loss < last, "k = {k}: {loss}");
            last = loss;
        }
    }

    /// The check passes at d = 20, n = 10 and k ∈ {5, 40, 200} (200 trials of 200 tasks):
    /// excess_no_ttt and excess_ttt_star within 3 s.e. of the exact theory, excess_ttt
    /// within 3 s.e. after its exact fitting cost.
    #[test]
    fn simulation_matches_the_exact_theory_along_k() {
        for k in [5, 40, 200] {
            let m = model(20, 10, 0.5, k, 200);
            let check = crate::criteria::check(&m, 3, 200, &|_| {}).unwrap();
            assert_eq!(check.verdict(), "pass", "k = {k}: {:?}", check.reasons());
            assert!(
                check
                    .criteria
                    .iter()
                    .any(|c| c.name == "excess_ttt_fitted_eta" && c.pass)
            );
        }
    }

    /// A wrong c⋆ or a wrong η⋆ in the theory is caught by the same check.
    #[test]
    fn a_wrong_theory_fails_the_check() {
        let mut m = model(20, 10, 0.5, 40, 200);
        m.loss_star *= 1.05;
        let check = crate::criteria::check(&m, 3, 200, &|_| {}).unwrap();
        assert_eq!(check.verdict(), "fail");
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let field = |p: TttParams| match TttLinear::new(p) {
            Err(Error::InvalidParameter { field, .. }) => field,
            other => panic!("expected an error, got {:?}", other.map(|_| ())),
        };
        let d = TttParams::default;
        assert_eq!(field(TttParams { d: 0, ..d() }), "d");
        assert_eq!(
            field(TttParams {
                d: MAX_D + 1,
                ..d()
            }),
            "d"
        );
        assert_eq!(field(TttParams { n: 0, ..d() }), "n");
        assert_eq!(
            field(TttParams {
                n: MAX_N + 1,
                ..d()
            }),
            "n"
        );
        assert_eq!(field(TttParams { k: 0, ..d() }), "k");
        assert_eq!(
            field(TttParams {
                k: MAX_K + 1,
                ..d()
            }),
            "k"
        );
        for sigma in [-0.1, f64::NAN, f64::INFINITY, 1e4] {
            assert_eq!(field(TttParams { sigma, ..d() }), "sigma");
        }
        for tasks in [0, 1, 3, MAX_TASKS + 2] {
            assert_eq!(field(TttParams { tasks, ..d() }), "tasks");
        }
        let table: toml::Table = "k = 2.5".parse().unwrap();
        match TttLinear::build(table) {
            Err(Error::InvalidParameter { field, .. }) => assert_eq!(field, "k"),
            other => panic!("expected an error, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn info_params_match_the_parameter_type() {
        crate::params::assert_describes::<TttParams>(&TttLinear::info().params, &[]);
    }
}
