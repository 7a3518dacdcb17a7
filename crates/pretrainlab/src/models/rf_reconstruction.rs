//! Reconstructing the training data of a random-features model from its trained
//! parameters (Iurada, Bombari, Tommasi & Mondelli, "A Law of Data Reconstruction for
//! Random Features (and Beyond)", arXiv 2509.22214).
//!
//! **Data.** `n` inputs `xᵢ`, each a standard Gaussian vector of `ℝᵈ` rescaled to the
//! sphere of radius `√d`, with labels `yᵢ = xᵢᵀG + s·εᵢ`, `G ~ N(0, I_d/d)`,
//! `εᵢ ~ N(0, 1)` and `s` = `noise`, all fresh per trial.
//!
//! **Model.** Random features `φ(x) = σ(Vx) ∈ ℝᵖ` with `V` (p×d) of i.i.d. `N(0, 1/d)`
//! entries (fresh per trial) and `σ` one of ReLU, `tanh` or `σ(z) = relu(z) + tanh(z)`.
//! With `Φ` the n×p matrix of rows `φ(xᵢ)ᵀ`, training returns the minimum-norm
//! interpolator
//!
//! ```text
//! θ⋆ = Φᵀc,   c = (ΦΦᵀ)⁻¹y          (requires p ≥ n)
//! ```
//!
//! **Attack.** Knowing `V` and `θ⋆`, the attacker looks for `n` candidates `X̂` (rows
//! `x̂ᵢ` on the same sphere) whose features span `θ⋆`. With `Φ̂ = σ(X̂Vᵀ)`,
//! `v = Φ̂θ⋆` and `A = Φ̂Φ̂ᵀ + δI`, the loss is the share of `θ⋆` left outside the row
//! space of `Φ̂`,
//!
//! ```text
//! L(X̂) = (‖θ⋆‖² − vᵀA⁻¹v) / ‖θ⋆‖².
//! ```
//!
//! Since `d(vᵀA⁻¹v) = 2αᵀdΦ̂θ⋆ − αᵀ(dΦ̂Φ̂ᵀ + Φ̂dΦ̂ᵀ)α` with `α = A⁻¹v`, the gradient is the
//! rank-one matrix `∂L/∂Φ̂ = −2α(θ⋆ − Φ̂ᵀα)ᵀ / ‖θ⋆‖² = 2(ααᵀΦ̂ − αθ⋆ᵀ)/‖θ⋆‖²`; it reaches
//! `X̂` through `σ'(X̂Vᵀ)` and `V`. For ReLU the derivative is replaced by a leaky one
//! (`1` on positive pre-activations of the candidates, [`LEAK`] elsewhere), so that dead
//! units still move; the other activations use their exact derivative. The candidates
//! start from i.i.d. Gaussian rows rescaled to the sphere and follow gradient descent
//! with heavy-ball momentum (`m ← μm + ∇`, `X̂ ← X̂ − ηm`), each row pulled back to norm
//! `√d` after every step, until `L ≤ tol` or `steps` steps. The ridge `δ` is
//! [`RIDGE`] times the mean diagonal of `Φ̂Φ̂ᵀ`: it only keeps the Cholesky factorisation
//! defined, and changes `L` by about `δ‖α‖²/‖θ⋆‖²`, far below `tol`.
//!
//! **Distance.** As in the paper's experiments, the attack is scored up to the
//! permutation of the candidates and the sign of each coordinate,
//!
//! ```text
//! dist = (1 / (n√d)) · min_π Σᵢ ‖ |xᵢ| − |x̂_π(i)| ‖      (|·| entrywise)
//! ```
//!
//! with the optimal assignment `π` found by the Hungarian algorithm. A trial is a
//! success when `dist <` [`SUCCESS_DISTANCE`]. The assignment is solved here, in
//! [`Assignment`], because a warm trial allocates nothing and the assignment crates'
//! solvers allocate per call; a test checks it against the `pathfinding` crate's
//! Kuhn–Munkres and against brute force.
//!
//! **The law.** The paper's law states that reconstruction becomes possible once the
//! number of parameters exceeds the number of unknowns, `p > dn`: below, the zero-loss
//! set `{X̂ : θ⋆ ∈ rowspan Φ(X̂)}` is a manifold of dimension `nd − p` through the truth,
//! and the attack lands at zero loss far from the data. That dimension is computed
//! exactly per trial: at the truth, `F(X̂, c) = Φ(X̂)ᵀc − θ⋆` vanishes, and the Jacobian
//! of `F` in the `d − 1` tangent directions of each row (an orthonormal basis `Pᵢ` of
//! `xᵢ⊥`) and in `c` is the p×nd matrix with blocks
//!
//! ```text
//! J = [ c₁ diag(σ'(Vx₁)) V P₁ , φ(x₁) , … , c_n diag(σ'(Vx_n)) V P_n , φ(x_n) ],
//! local_dim = nd − rank J,
//! ```
//!
//! generically `max(0, nd − p)`. For ReLU the true derivative `1{z > 0}` enters, so units
//! that no training point activates lower the rank.

use faer::{Accum, Mat, MatMut, MatRef};
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::audit::Claim;
use crate::budget::{Cost, Need};
use crate::linalg::{Cholesky, Eigh, mul_into};
use crate::model::{Criterion, MeanPrediction, MetricSpec, Model, Prediction, Quantity};
use crate::params::{ModelInfo, check_at_most, describe};
use crate::runner::Trials;
use crate::{Error, Result};

/// Largest input dimension `d`.
const MAX_D: usize = 1024;
/// Largest number of training points `n`.
const MAX_N: usize = 1024;
/// Largest number of random features `p`.
const MAX_P: usize = 1_000_000;
/// Largest number of attack steps.
const MAX_STEPS: usize = 10_000_000;
/// Largest learning rate.
const MAX_LR: f64 = 1e4;
/// Largest label noise standard deviation.
const MAX_NOISE: f64 = 1e6;
/// The derivative a ReLU unit of the attack passes back where its pre-activation is not
/// positive (a leaky ReLU's slope).
pub const LEAK: f64 = 0.02;
/// The relative ridge `δ / (tr Φ̂Φ̂ᵀ / n)` of the attack's Gram matrix, and of the
/// interpolator's.
pub const RIDGE: f64 = 1e-12;
/// A trial reconstructs its data when `dist` is below this. Unrelated points of the
/// sphere are at `dist ≈ √(2 − 4/π) ≈ 0.85` (less after the assignment picks the best
/// pairs, never below about 0.5 at the sizes used here), a recovered set at
/// `dist ≲ 10⁻³` once `L ≤ 10⁻⁷`; the threshold sits far from both.
pub const SUCCESS_DISTANCE: f64 = 0.05;
/// A run counts as having reached zero loss when its final loss is at most `tol` and at
/// most this. Runs that recover all but one point, whose coefficient `cᵢ` is small, can
/// stall at losses of 10⁻⁷ to 10⁻⁶; only the attack's own stopping rule separates them.
pub const ZERO_LOSS: f64 = 1e-6;
/// Eigenvalues of the Gram matrix of the column-normalised Jacobian above this fraction
/// of the largest count towards its rank (singular values above `10⁻⁵` of the largest).
pub const RANK_TOLERANCE: f64 = 1e-10;
/// Most of the trials below the law (`p < dn`) that may reconstruct their data.
pub const MAX_SUCCESS_BELOW: f64 = 0.1;
/// Most of the zero-loss trials at `p ≥ 2dn` that may fail to reconstruct.
pub const MAX_MISS_ABOVE: f64 = 0.1;

/// The activation `σ` of the random features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `max(z, 0)`.
    Relu,
    /// `max(z, 0) + tanh z`: no sign symmetry, nowhere flat.
    ReluTanh,
    /// `tanh z`.
    Tanh,
}

impl Activation {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "relu" => Ok(Activation::Relu),
            "relu+tanh" => Ok(Activation::ReluTanh),
            "tanh" => Ok(Activation::Tanh),
            other => Err(Error::invalid(
                "activation",
                format!("must be \"relu\", \"relu+tanh\" or \"tanh\", got \"{other}\""),
            )),
        }
    }

    /// `σ(z)`.
    pub fn value(self, z: f64) -> f64 {
        match self {
            Activation::Relu => z.max(0.0),
            Activation::ReluTanh => z.max(0.0) + z.tanh(),
            Activation::Tanh => z.tanh(),
        }
    }

    /// The exact derivative `σ'(z)` (ReLU: `1{z > 0}`).
    pub fn slope(self, z: f64) -> f64 {
        let step = if z > 0.0 { 1.0 } else { 0.0 };
        match self {
            Activation::Relu => step,
            Activation::ReluTanh => step + 1.0 - z.tanh().powi(2),
            Activation::Tanh => 1.0 - z.tanh().powi(2),
        }
    }

    /// The derivative the attack back-propagates: ReLU's is leaky ([`LEAK`]).
    fn attack_slope(self, z: f64) -> f64 {
        match self {
            Activation::Relu if z <= 0.0 => LEAK,
            _ => self.slope(z),
        }
    }
}

/// Parameters of the reconstruction model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RfParams {
    /// Input dimension.
    pub d: usize,
    /// Training points.
    pub n: usize,
    /// Random features; exclusive with `ratio`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<usize>,
    /// `p/(dn)`, so that `p = round(ratio·d·n)`; exclusive with `p`, 8 when neither is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// `"relu"`, `"relu+tanh"` or `"tanh"`.
    pub activation: String,
    /// Learning rate `η` of the attack.
    pub lr: f64,
    /// Momentum `μ` of the attack.
    pub momentum: f64,
    /// Most attack steps.
    pub steps: usize,
    /// The attack stops once `L ≤ tol`.
    pub tol: f64,
    /// Label noise standard deviation `s`.
    pub noise: f64,
}

impl Default for RfParams {
    fn default() -> Self {
        RfParams {
            d: 10,
            n: 4,
            p: None,
            ratio: None,
            activation: "relu+tanh".into(),
            lr: 2.0,
            momentum: 0.9,
            steps: 20_000,
            tol: 1e-7,
            noise: 0.5,
        }
    }
}

/// The ratio used when neither `p` nor `ratio` is given.
const DEFAULT_RATIO: f64 = 8.0;

/// The model, ready to run.
pub struct RfReconstruction {
    prm: RfParams,
    d: usize,
    n: usize,
    /// The number of random features.
    p: usize,
    act: Activation,
    metrics: Vec<MetricSpec>,
}

/// Per-worker buffers of a trial; every one is allocated by [`Model::workspace`].
pub struct RfWorkspace {
    /// The data (n×d), the teacher `G` (d×1) and the labels (n×1).
    x: Mat<f64>,
    teacher: Mat<f64>,
    y: Mat<f64>,
    /// `V` (p×d), the pre-activations (n×p) and features (n×p) of the data or the
    /// candidates.
    v: Mat<f64>,
    pre: Mat<f64>,
    phi: Mat<f64>,
    /// `c` (n×1), `θ⋆` (p×1) and `Φθ⋆` (n×1).
    c: Mat<f64>,
    theta: Mat<f64>,
    fitted: Mat<f64>,
    /// n×n Gram matrix and its factorisation.
    gram: Mat<f64>,
    chol: Cholesky,
    /// The attack: candidates, their gradient and momentum (n×d each), the residual
    /// `θ⋆ − Φ̂ᵀα` (p×1) and the gradient in the pre-activations (n×p).
    xh: Mat<f64>,
    grad_x: Mat<f64>,
    velocity: Mat<f64>,
    residual: Mat<f64>,
    grad_pre: Mat<f64>,
    /// The Jacobian (p×nd), a Householder vector (d×1), one p-vector, the Gram matrix of the smaller side and its
    /// eigendecomposition.
    jac: Mat<f64>,
    hh: Mat<f64>,
    vu: Mat<f64>,
    jgram: Mat<f64>,
    eigh: Eigh,
    /// The assignment problem.
    assign: Assignment,
}

fn invalid(field: &str, what: String) -> Error {
    Error::invalid(field, what)
}

impl RfReconstruction {
    pub fn new(prm: RfParams) -> Result<Self> {
        if prm.d < 2 {
            return Err(invalid("d", format!("must be ≥ 2, got {}", prm.d)));
        }
        check_at_most("d", prm.d, MAX_D)?;
        if prm.n == 0 {
            return Err(invalid("n", "must be ≥ 1".into()));
        }
        check_at_most("n", prm.n, MAX_N)?;
        let p = width(&prm)?;
        let act = Activation::parse(&prm.activation)?;
        check_real("lr", prm.lr, (0.0, MAX_LR), false)?;
        if !(0.0..1.0).contains(&prm.momentum) {
            return Err(invalid(
                "momentum",
                format!("must be a number in [0, 1), got {}", prm.momentum),
            ));
        }
        check_at_most("steps", prm.steps, MAX_STEPS)?;
        check_real("tol", prm.tol, (0.0, 1.0), true)?;
        check_real("noise", prm.noise, (0.0, MAX_NOISE), true)?;
        Ok(RfReconstruction {
            d: prm.d,
            n: prm.n,
            p,
            act,
            prm,
            metrics: metric_specs(),
        })
    }

    /// Builds the model from a parameter table.
    pub fn build(table: toml::Table) -> Result<Self> {
        let params: RfParams = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| crate::models::parameter_error(&e.to_string()))?;
        Self::new(params)
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "rf-reconstruction",
            summary: "data reconstruction from a min-norm random-features interpolator: succeeds once p > dn, fails on a zero-loss manifold of dimension nd − p below",
            source: "Iurada, Bombari, Tommasi & Mondelli, \"A Law of Data Reconstruction for Random Features (and Beyond)\", arXiv 2509.22214",
            params: describe::<RfParams>(
                &[
                    ("d", "input dimension (2 to 1024)"),
                    ("n", "training points (1 to 1024)"),
                    ("p", "random features (n to 10⁶); exclusive with ratio"),
                    (
                        "ratio",
                        "p/(dn) > 0, so that p = round(ratio·d·n); exclusive with p",
                    ),
                    ("activation", "\"relu\", \"relu+tanh\" or \"tanh\""),
                    ("lr", "learning rate of the attack, in (0, 1e4]"),
                    ("momentum", "momentum of the attack, in [0, 1)"),
                    ("steps", "most attack steps (0 to 10⁷)"),
                    ("tol", "the attack stops at loss ≤ tol, in [0, 1]"),
                    ("noise", "label noise standard deviation, in [0, 1e6]"),
                ],
                &[
                    ("p", "round(ratio·d·n)"),
                    ("ratio", "8 when p is not given"),
                ],
            ),
        }
    }

    /// The number of random features.
    pub fn features(&self) -> usize {
        self.p
    }

    /// `p/(dn)`.
    pub fn ratio(&self) -> f64 {
        self.p as f64 / (self.d * self.n) as f64
    }

    /// `max(0, nd − p)`: the dimension of the zero-loss set for a generic activation.
    pub fn generic_local_dim(&self) -> usize {
        (self.n * self.d).saturating_sub(self.p)
    }
}

/// A real parameter in `[lo, hi]` (`(lo, hi]` unless `closed`), naming the field.
fn check_real(field: &str, value: f64, (lo, hi): (f64, f64), closed: bool) -> Result<()> {
    let above = if closed { value >= lo } else { value > lo };
    if above && value <= hi {
        return Ok(());
    }
    let open = if closed { "[" } else { "(" };
    Err(invalid(
        field,
        format!("must be a number in {open}{lo}, {hi}], got {value}"),
    ))
}

/// `p`, from `p` or from `ratio` (exactly one of them, or neither for the default
/// ratio); it must lie in `[n, MAX_P]` so that `ΦΦᵀ` is invertible.
fn width(prm: &RfParams) -> Result<usize> {
    let (field, p) = match (prm.p, prm.ratio) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "p",
                "give p or ratio, not both (ratio sets p = round(ratio·d·n))".into(),
            ));
        }
        (Some(p), None) => ("p", p as f64),
        (None, r) => {
            let r = r.unwrap_or(DEFAULT_RATIO);
            if !(r > 0.0 && r <= MAX_P as f64) {
                return Err(invalid(
                    "ratio",
                    format!("must be a number in (0, {MAX_P}], got {r}"),
                ));
            }
            ("ratio", (r * (prm.d * prm.n) as f64).round())
        }
    };
    if p < prm.n as f64 || p > MAX_P as f64 {
        return Err(invalid(
            field,
            format!(
                "must give n = {} ≤ p ≤ {MAX_P} (the interpolator needs p ≥ n), got p = {p}",
                prm.n
            ),
        ));
    }
    Ok(p as usize)
}

fn metric_specs() -> Vec<MetricSpec> {
    vec![
        MetricSpec::new(
            "success",
            "1",
            format!("1 when the attack recovers the data (dist < {SUCCESS_DISTANCE}), else 0"),
        ),
        MetricSpec::new(
            "distance",
            "1",
            "dist = min_π Σᵢ ‖|xᵢ| − |x̂_π(i)|‖ / (n√d) after the attack",
        ),
        MetricSpec::new(
            "final_loss",
            "1",
            "L(X̂) = ‖θ⋆ outside rowspan Φ̂‖²/‖θ⋆‖² at the end of the attack",
        ),
        MetricSpec::new(
            "local_dim",
            "1",
            "nd − rank J: the dimension of the zero-loss set at the data",
        ),
        MetricSpec::new(
            "excess_local_dim",
            "1",
            "local_dim − max(0, nd − p): the rank the activation loses (dead ReLU units)",
        ),
        MetricSpec::new(
            "label_loss",
            "1",
            "training MSE (1/n)‖Φθ⋆ − y‖² of the interpolator",
        ),
        MetricSpec::new("attack_steps", "1", "steps the attack ran"),
    ]
}

/// Fills `m` with i.i.d. `N(0, scale²)` entries.
fn fill_normal(m: MatMut<'_, f64>, scale: f64, rng: &mut ChaCha8Rng) {
    let mut m = m;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            let z: f64 = StandardNormal.sample(rng);
            m[(i, j)] = scale * z;
        }
    }
}

/// Rescales every row of `m` to norm `radius` (a zero row is left alone).
fn to_sphere(m: MatMut<'_, f64>, radius: f64) {
    let mut m = m;
    for i in 0..m.nrows() {
        let norm = (0..m.ncols())
            .map(|j| m[(i, j)] * m[(i, j)])
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            for j in 0..m.ncols() {
                m[(i, j)] *= radius / norm;
            }
        }
    }
}

/// `phi ← σ(pre)` entrywise.
fn activate(act: Activation, pre: MatRef<'_, f64>, phi: MatMut<'_, f64>) {
    let mut phi = phi;
    for j in 0..pre.ncols() {
        for i in 0..pre.nrows() {
            phi[(i, j)] = act.value(pre[(i, j)]);
        }
    }
}

/// `gram ← ΦΦᵀ + δI` with `δ` = [`RIDGE`] times the mean diagonal, factorised.
fn factor_gram(phi: MatRef<'_, f64>, gram: &mut Mat<f64>, chol: &mut Cholesky) -> Result<()> {
    mul_into(gram.as_mut(), Accum::Replace, phi, phi.transpose(), 1.0);
    let n = gram.nrows();
    let mean = (0..n).map(|i| gram[(i, i)]).sum::<f64>() / n as f64;
    let delta = RIDGE * mean + f64::MIN_POSITIVE;
    for i in 0..n {
        gram[(i, i)] += delta;
    }
    chol.factor(gram.as_ref())
}

fn dot(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    (0..a.nrows()).map(|i| a[(i, 0)] * b[(i, 0)]).sum()
}

impl RfReconstruction {
    /// Draws the data, the labels and `V` (in that order) from `rng`.
    fn draw(&self, rng: &mut ChaCha8Rng, ws: &mut RfWorkspace) {
        let d = self.d as f64;
        fill_normal(ws.x.as_mut(), 1.0, rng);
        to_sphere(ws.x.as_mut(), d.sqrt());
        fill_normal(ws.teacher.as_mut(), 1.0 / d.sqrt(), rng);
        fill_normal(ws.y.as_mut(), self.prm.noise, rng);
        mul_into(
            ws.y.as_mut(),
            Accum::Add,
            ws.x.as_ref(),
            ws.teacher.as_ref(),
            1.0,
        );
        fill_normal(ws.v.as_mut(), 1.0 / d.sqrt(), rng);
    }

    /// The features of the data and the min-norm interpolator `θ⋆ = Φᵀ(ΦΦᵀ)⁻¹y`;
    /// returns the training MSE.
    fn fit(&self, ws: &mut RfWorkspace) -> Result<f64> {
        mul_into(
            ws.pre.as_mut(),
            Accum::Replace,
            ws.x.as_ref(),
            ws.v.transpose(),
            1.0,
        );
        activate(self.act, ws.pre.as_ref(), ws.phi.as_mut());
        factor_gram(ws.phi.as_ref(), &mut ws.gram, &mut ws.chol)?;
        ws.c.copy_from(&ws.y);
        ws.chol.solve_in_place(ws.c.as_mut());
        mul_into(
            ws.theta.as_mut(),
            Accum::Replace,
            ws.phi.transpose(),
            ws.c.as_ref(),
            1.0,
        );
        mul_into(
            ws.fitted.as_mut(),
            Accum::Replace,
            ws.phi.as_ref(),
            ws.theta.as_ref(),
            1.0,
        );
        let sse: f64 = (0..self.n)
            .map(|i| (ws.fitted[(i, 0)] - ws.y[(i, 0)]).powi(2))
            .sum();
        Ok(sse / self.n as f64)
    }

    /// `L(X̂)` at the candidates `ws.xh`, and its gradient in `ws.grad_x`.
    fn loss_and_grad(&self, ws: &mut RfWorkspace) -> Result<f64> {
        mul_into(
            ws.pre.as_mut(),
            Accum::Replace,
            ws.xh.as_ref(),
            ws.v.transpose(),
            1.0,
        );
        activate(self.act, ws.pre.as_ref(), ws.phi.as_mut());
        factor_gram(ws.phi.as_ref(), &mut ws.gram, &mut ws.chol)?;
        // fitted ← v = Φ̂θ⋆, c ← α = A⁻¹v.
        mul_into(
            ws.fitted.as_mut(),
            Accum::Replace,
            ws.phi.as_ref(),
            ws.theta.as_ref(),
            1.0,
        );
        ws.c.copy_from(&ws.fitted);
        ws.chol.solve_in_place(ws.c.as_mut());
        let theta2 = dot(ws.theta.as_ref(), ws.theta.as_ref());
        let loss = (theta2 - dot(ws.fitted.as_ref(), ws.c.as_ref())) / theta2;
        // residual ← θ⋆ − Φ̂ᵀα; ∂L/∂Φ̂ = −2 α residualᵀ / ‖θ⋆‖².
        ws.residual.copy_from(&ws.theta);
        mul_into(
            ws.residual.as_mut(),
            Accum::Add,
            ws.phi.transpose(),
            ws.c.as_ref(),
            -1.0,
        );
        let scale = -2.0 / theta2;
        for j in 0..self.p {
            let r = scale * ws.residual[(j, 0)];
            for i in 0..self.n {
                ws.grad_pre[(i, j)] = ws.c[(i, 0)] * r * self.act.attack_slope(ws.pre[(i, j)]);
            }
        }
        mul_into(
            ws.grad_x.as_mut(),
            Accum::Replace,
            ws.grad_pre.as_ref(),
            ws.v.as_ref(),
            1.0,
        );
        Ok(loss)
    }

    /// Runs the attack from the candidates in `ws.xh`; returns the final loss and the
    /// steps taken.
    fn attack(&self, ws: &mut RfWorkspace) -> Result<(f64, usize)> {
        let radius = (self.d as f64).sqrt();
        let (lr, mu) = (self.prm.lr, self.prm.momentum);
        ws.velocity.fill(0.0);
        let mut step = 0;
        loop {
            let loss = self.loss_and_grad(ws)?;
            if !loss.is_finite() {
                return Err(Error::Numerical(format!(
                    "the attack's loss is {loss} at step {step}"
                )));
            }
            if loss <= self.prm.tol || step == self.prm.steps {
                return Ok((loss.max(0.0), step));
            }
            for j in 0..self.d {
                for i in 0..self.n {
                    let m = mu * ws.velocity[(i, j)] + ws.grad_x[(i, j)];
                    ws.velocity[(i, j)] = m;
                    ws.xh[(i, j)] -= lr * m;
                }
            }
            to_sphere(ws.xh.as_mut(), radius);
            step += 1;
        }
    }

    /// `nd − rank J` at the data, from the pre-activations of the data in `ws.pre` and
    /// `c` in `ws.c` (see the module docs). Columns are normalised before the rank is
    /// read off the Gram matrix of the smaller side ([`RANK_TOLERANCE`]).
    fn local_dim(&self, ws: &mut RfWorkspace) -> Result<usize> {
        let (d, n) = (self.d, self.n);
        for i in 0..n {
            self.jacobian_block(i, ws);
        }
        for col in 0..n * d {
            let mut c = ws.jac.col_mut(col);
            let norm = (0..self.p).map(|j| c[j] * c[j]).sum::<f64>().sqrt();
            if norm > 0.0 {
                for j in 0..self.p {
                    c[j] /= norm;
                }
            }
        }
        let rank = rank_of(ws.jac.as_ref(), &mut ws.jgram, &mut ws.eigh)?;
        Ok(n * d - rank)
    }

    /// Columns `i·d .. (i+1)·d` of `J`: `cᵢ diag(σ'(Vxᵢ)) V Pᵢ` (d − 1 columns) and
    /// `φ(xᵢ)`. `Pᵢ` holds columns 2..d of the Householder reflection
    /// `H = I − 2uuᵀ` that maps `x̂ᵢ = xᵢ/‖xᵢ‖` to `∓e₁`, so `V H e_k = V e_k − 2u_k Vu`.
    fn jacobian_block(&self, i: usize, ws: &mut RfWorkspace) {
        let (d, p) = (self.d, self.p);
        householder(ws.x.as_ref().row(i).transpose(), ws.hh.as_mut());
        mul_into(
            ws.vu.as_mut(),
            Accum::Replace,
            ws.v.as_ref(),
            ws.hh.as_ref(),
            1.0,
        );
        let ci = ws.c[(i, 0)];
        for k in 1..d {
            let uk = ws.hh[(k, 0)];
            let mut col = ws.jac.col_mut(i * d + k - 1);
            for j in 0..p {
                let vh = ws.v[(j, k)] - 2.0 * uk * ws.vu[(j, 0)];
                col[j] = ci * self.act.slope(ws.pre[(i, j)]) * vh;
            }
        }
        let mut col = ws.jac.col_mut(i * d + d - 1);
        for j in 0..p {
            col[j] = self.act.value(ws.pre[(i, j)]);
        }
    }

    /// The whole trial, returning the metrics in schema order.
    fn run_trial(&self, rng: &mut ChaCha8Rng, ws: &mut RfWorkspace) -> Result<[f64; 7]> {
        self.draw(rng, ws);
        let label_loss = self.fit(ws)?;
        let local_dim = self.local_dim(ws)?;
        fill_normal(ws.xh.as_mut(), 1.0, rng);
        to_sphere(ws.xh.as_mut(), (self.d as f64).sqrt());
        let (loss, steps) = self.attack(ws)?;
        let dist = distance(ws.x.as_ref(), ws.xh.as_ref(), &mut ws.assign);
        Ok([
            f64::from(u8::from(dist < SUCCESS_DISTANCE)),
            dist,
            loss,
            local_dim as f64,
            local_dim as f64 - self.generic_local_dim() as f64,
            label_loss,
            steps as f64,
        ])
    }
}

/// Writes into `u` (d×1) the unit vector of the Householder reflection `I − 2uuᵀ` that
/// maps `x/‖x‖` to `−s·e₁`, `s = sign(x₁)` (adding `s·e₁` avoids cancellation).
fn householder(x: faer::ColRef<'_, f64>, u: MatMut<'_, f64>) {
    let mut u = u;
    let norm = x.norm_l2();
    for k in 0..x.nrows() {
        u[(k, 0)] = x[k] / norm;
    }
    u[(0, 0)] += if x[0] >= 0.0 { 1.0 } else { -1.0 };
    let w = u.as_ref().norm_l2();
    for k in 0..x.nrows() {
        u[(k, 0)] /= w;
    }
}

/// The numerical rank of `j` (columns of unit norm or zero): the eigenvalues of the
/// Gram matrix of its smaller side above [`RANK_TOLERANCE`] times the largest.
fn rank_of(j: MatRef<'_, f64>, gram: &mut Mat<f64>, eigh: &mut Eigh) -> Result<usize> {
    if j.nrows() <= j.ncols() {
        mul_into(gram.as_mut(), Accum::Replace, j, j.transpose(), 1.0);
    } else {
        mul_into(gram.as_mut(), Accum::Replace, j.transpose(), j, 1.0);
    }
    eigh.compute(gram.as_ref())?;
    let values = eigh.values();
    let top = values.first().copied().unwrap_or(0.0);
    Ok(values
        .iter()
        .filter(|&&l| top > 0.0 && l > RANK_TOLERANCE * top)
        .count())
}

/// `dist = min_π Σᵢ ‖|xᵢ| − |x̂_π(i)|‖ / (n√d)`.
pub fn distance(x: MatRef<'_, f64>, xh: MatRef<'_, f64>, a: &mut Assignment) -> f64 {
    let (n, d) = (x.nrows(), x.ncols());
    for i in 0..n {
        for k in 0..n {
            a.cost[(i, k)] = (0..d)
                .map(|j| (x[(i, j)].abs() - xh[(k, j)].abs()).powi(2))
                .sum::<f64>()
                .sqrt();
        }
    }
    a.solve() / (n as f64 * (d as f64).sqrt())
}

/// Buffers of the Hungarian algorithm for n×n assignment problems (the shortest
/// augmenting path form with row and column potentials, O(n³)); nothing is allocated
/// after [`Assignment::new`].
pub struct Assignment {
    /// The cost matrix, filled by the caller.
    pub cost: Mat<f64>,
    /// Row and column potentials (index 0 is a sentinel).
    row_pot: Vec<f64>,
    col_pot: Vec<f64>,
    /// The row matched to each column (0: none; rows are 1-based).
    matched: Vec<usize>,
    /// The previous column on the shortest path, the slack of each column, and whether
    /// it is in the tree.
    way: Vec<usize>,
    slack: Vec<f64>,
    used: Vec<bool>,
}

impl Assignment {
    pub fn new(n: usize) -> Self {
        Assignment {
            cost: Mat::zeros(n, n),
            row_pot: vec![0.0; n + 1],
            col_pot: vec![0.0; n + 1],
            matched: vec![0; n + 1],
            way: vec![0; n + 1],
            slack: vec![0.0; n + 1],
            used: vec![false; n + 1],
        }
    }

    /// The minimum over permutations `π` of `Σᵢ cost[i, π(i)]`.
    pub fn solve(&mut self) -> f64 {
        let n = self.cost.nrows();
        self.row_pot.fill(0.0);
        self.col_pot.fill(0.0);
        self.matched.fill(0);
        for row in 1..=n {
            self.augment(row);
        }
        (1..=n)
            .map(|col| self.cost[(self.matched[col] - 1, col - 1)])
            .sum()
    }

    /// Adds `row` to the matching along a shortest augmenting path.
    fn augment(&mut self, row: usize) {
        let n = self.cost.nrows();
        self.matched[0] = row;
        self.slack.fill(f64::INFINITY);
        self.used.fill(false);
        let mut col0 = 0;
        loop {
            self.used[col0] = true;
            let r = self.matched[col0];
            let (mut delta, mut next) = (f64::INFINITY, 0);
            for col in 1..=n {
                if self.used[col] {
                    continue;
                }
                let reduced = self.cost[(r - 1, col - 1)] - self.row_pot[r] - self.col_pot[col];
                if reduced < self.slack[col] {
                    self.slack[col] = reduced;
                    self.way[col] = col0;
                }
                if self.slack[col] < delta {
                    delta = self.slack[col];
                    next = col;
                }
            }
            for col in 0..=n {
                if self.used[col] {
                    self.row_pot[self.matched[col]] += delta;
                    self.col_pot[col] -= delta;
                } else {
                    self.slack[col] -= delta;
                }
            }
            col0 = next;
            if self.matched[col0] == 0 {
                break;
            }
        }
        while col0 != 0 {
            let prev = self.way[col0];
            self.matched[col0] = self.matched[prev];
            col0 = prev;
        }
    }
}

impl Model for RfReconstruction {
    type Workspace = RfWorkspace;

    fn name(&self) -> &'static str {
        "rf-reconstruction"
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn workspace(&self) -> RfWorkspace {
        let (d, n, p) = (self.d, self.n, self.p);
        let side = p.min(n * d);
        RfWorkspace {
            x: Mat::zeros(n, d),
            teacher: Mat::zeros(d, 1),
            y: Mat::zeros(n, 1),
            v: Mat::zeros(p, d),
            pre: Mat::zeros(n, p),
            phi: Mat::zeros(n, p),
            c: Mat::zeros(n, 1),
            theta: Mat::zeros(p, 1),
            fitted: Mat::zeros(n, 1),
            gram: Mat::zeros(n, n),
            chol: Cholesky::new(n, 1),
            xh: Mat::zeros(n, d),
            grad_x: Mat::zeros(n, d),
            velocity: Mat::zeros(n, d),
            residual: Mat::zeros(p, 1),
            grad_pre: Mat::zeros(n, p),
            jac: Mat::zeros(p, n * d),
            hh: Mat::zeros(d, 1),
            vu: Mat::zeros(p, 1),
            jgram: Mat::zeros(side, side),
            eigh: Eigh::new(side),
            assign: Assignment::new(n),
        }
    }

    /// Draws the data, `G`, the labels and `V`, fits `θ⋆`, computes the local dimension
    /// at the data, then draws the candidates and runs the attack.
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut RfWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        let values = self.run_trial(rng, ws).map_err(|e| e.to_string())?;
        out[..values.len()].copy_from_slice(&values);
        Ok(())
    }

    fn predict(&self) -> Result<Prediction> {
        let generic = self.generic_local_dim() as f64;
        let mut means = vec![MeanPrediction {
            metric: "label_loss".into(),
            value: 0.0,
            se: 0.0,
            decisive: false,
        }];
        if self.act != Activation::Relu {
            for (metric, value) in [("local_dim", generic), ("excess_local_dim", 0.0)] {
                means.push(MeanPrediction {
                    metric: metric.into(),
                    value,
                    se: 0.0,
                    decisive: false,
                });
            }
        }
        Ok(Prediction {
            model: "rf-reconstruction".into(),
            quantities: vec![
                Quantity::exact("p", self.p as f64),
                Quantity::exact("ratio", self.ratio()),
                Quantity::exact("law_threshold_p", (self.d * self.n) as f64),
                Quantity::exact("generic_local_dim", generic),
                Quantity::exact(
                    "reconstruction_predicted",
                    f64::from(u8::from(self.p >= self.d * self.n)),
                ),
            ],
            means,
            ..Default::default()
        })
    }

    /// Below the law (`p < dn`) the attack fails; from `p ≥ 2dn` every run that reaches
    /// zero loss reconstructs; for a generic activation every trial's `local_dim` is
    /// `max(0, nd − p)`.
    fn criteria(&self, _prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        let column = |m: &str| trials.column(m).unwrap_or_default();
        let (success, loss, dims) = (column("success"), column("final_loss"), column("local_dim"));
        let mut out = Vec::new();
        let ratio = self.ratio();
        let zero = self.prm.tol.min(ZERO_LOSS);
        if ratio < 1.0 {
            out.push(fails_below(&success, &loss, zero));
        }
        if ratio >= 2.0 {
            out.push(succeeds_above(&success, &loss, zero));
        }
        if self.act != Activation::Relu {
            out.push(generic_dimension(&dims, self.generic_local_dim()));
        }
        out
    }

    fn default_trials(&self) -> u64 {
        20
    }

    /// A trial: the attack's steps each cost about `4npd` (two products with `V`) plus
    /// `n²p` (the Gram matrix) and `np` activations; the Jacobian costs `p(nd)·min(p, nd)`
    /// for its Gram matrix and about `10 min(p, nd)³` for the eigendecomposition.
    fn cost(&self) -> Cost {
        let (d, n, p) = (self.d as f64, self.n as f64, self.p as f64);
        let side = p.min(n * d);
        let per_step = 4.0 * n * p * d + n * n * p + 30.0 * n * p;
        let steps = self.prm.steps as f64 + 1.0;
        let jac = 2.0 * p * n * d * side + 10.0 * side * side * side;
        Cost {
            trial: Need::new(
                super::doubles(p * d + 4.0 * n * p + p * n * d + 3.0 * side * side + 8.0 * n * d),
                steps * per_step + jac,
                if steps * per_step >= jac {
                    "steps"
                } else {
                    "p"
                },
            ),
            predict: Need::new(1024.0, 100.0, "d"),
        }
    }

    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("d", serde_json::json!(self.d)),
            ("n", serde_json::json!(self.n)),
            ("p", serde_json::json!(self.p)),
            ("ratio", serde_json::json!(self.ratio())),
            ("activation", serde_json::json!(self.prm.activation)),
        ]
    }
}

/// Below the law: at most [`MAX_SUCCESS_BELOW`] of the trials reconstruct.
fn fails_below(success: &[f64], loss: &[f64], zero_loss: f64) -> Criterion {
    let rate = mean(success);
    let zero = loss.iter().filter(|&&l| l <= zero_loss).count();
    Criterion {
        name: "no_reconstruction_below_law".into(),
        statement: format!(
            "with p < dn the attack reconstructs in at most {:.0}% of trials ({zero} of {} reached loss ≤ {zero_loss:e})",
            100.0 * MAX_SUCCESS_BELOW,
            loss.len()
        ),
        predicted: Some(0.0),
        measured: rate,
        se: None,
        pass: rate <= MAX_SUCCESS_BELOW,
    }
}

/// Above the law: of the runs that reach zero loss (`L ≤ min(tol, ZERO_LOSS)`), at most
/// [`MAX_MISS_ABOVE`] miss the data. Measured: the number of such misses.
fn succeeds_above(success: &[f64], loss: &[f64], zero_loss: f64) -> Criterion {
    let zero: Vec<bool> = loss.iter().map(|&l| l <= zero_loss).collect();
    let reached = zero.iter().filter(|&&z| z).count();
    let missed = zero
        .iter()
        .zip(success)
        .filter(|&(&z, &s)| z && s < 0.5)
        .count();
    Criterion {
        name: "reconstruction_at_zero_loss".into(),
        statement: format!(
            "with p ≥ 2dn at most {:.0}% of the runs reaching loss ≤ {zero_loss:e} ({reached} of {}) miss the data",
            100.0 * MAX_MISS_ABOVE,
            loss.len()
        ),
        predicted: Some(0.0),
        measured: missed as f64,
        se: None,
        pass: missed as f64 <= MAX_MISS_ABOVE * reached as f64,
    }
}

/// Every trial's `local_dim` equals `max(0, nd − p)`. Measured: the trials where it
/// does not.
fn generic_dimension(dims: &[f64], generic: usize) -> Criterion {
    let off = dims.iter().filter(|&&v| v != generic as f64).count();
    Criterion {
        name: "generic_local_dim".into(),
        statement: format!(
            "in every trial the zero-loss set has local dimension max(0, nd − p) = {generic} at the data"
        ),
        predicted: Some(0.0),
        measured: off as f64,
        se: None,
        pass: off == 0,
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The law at a quick instance, above and below `p = dn`.
pub const CLAIMS: &[Claim] = &[
    Claim {
        id: "rf-reconstruction-above-law",
        paper: "Iurada, Bombari, Tommasi & Mondelli, A Law of Data Reconstruction for Random Features (and Beyond), arXiv 2509.22214",
        location: "main result (the law p > dn) and its random-features experiments",
        statement: "with p well above dn, an attack that drives the loss to zero recovers the training data, and the zero-loss set is locally a point",
        params: "d = 10\nn = 4\nratio = 8.0",
        trials: 20,
        quick_trials: 6,
        test: crate::audit::ClaimTest::Generic,
    },
    Claim {
        id: "rf-reconstruction-below-law",
        paper: "Iurada, Bombari, Tommasi & Mondelli, A Law of Data Reconstruction for Random Features (and Beyond), arXiv 2509.22214",
        location: "main result (the law p > dn): the zero-loss manifold of dimension nd − p",
        statement: "with p below dn the attack reaches zero loss far from the training data, on a zero-loss set of local dimension nd − p",
        params: "d = 10\nn = 4\nratio = 0.5",
        trials: 20,
        quick_trials: 6,
        test: crate::audit::ClaimTest::Generic,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn model(d: usize, n: usize, p: usize, activation: &str) -> RfReconstruction {
        RfReconstruction::new(RfParams {
            d,
            n,
            p: Some(p),
            activation: activation.into(),
            ..Default::default()
        })
        .unwrap()
    }

    /// A workspace holding a drawn and fitted instance.
    fn fitted(m: &RfReconstruction, seed: u64) -> RfWorkspace {
        let mut ws = m.workspace();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        m.draw(&mut rng, &mut ws);
        m.fit(&mut ws).unwrap();
        ws
    }

    /// The analytic gradient of `L` equals central finite differences of `L`, entry by
    /// entry, for the activations with an exact derivative.
    #[test]
    fn gradient_matches_finite_differences() {
        for act in ["relu+tanh", "tanh"] {
            let m = model(5, 3, 40, act);
            let mut ws = fitted(&m, 3);
            let mut rng = ChaCha8Rng::seed_from_u64(4);
            fill_normal(ws.xh.as_mut(), 1.0, &mut rng);
            to_sphere(ws.xh.as_mut(), 5f64.sqrt());
            m.loss_and_grad(&mut ws).unwrap();
            let grad = ws.grad_x.clone();
            let h = 1e-6;
            for i in 0..3 {
                for j in 0..5 {
                    let x0 = ws.xh[(i, j)];
                    ws.xh[(i, j)] = x0 + h;
                    let up = m.loss_and_grad(&mut ws).unwrap();
                    ws.xh[(i, j)] = x0 - h;
                    let down = m.loss_and_grad(&mut ws).unwrap();
                    ws.xh[(i, j)] = x0;
                    let fd = (up - down) / (2.0 * h);
                    let g = grad[(i, j)];
                    assert!(
                        (fd - g).abs() <= 1e-6 * (1.0 + g.abs()),
                        "{act} ({i}, {j}): {fd} vs {g}"
                    );
                }
            }
        }
    }

    /// The loss vanishes at the data (up to the ridge) and is in (0, 1] elsewhere.
    #[test]
    fn the_loss_vanishes_at_the_data() {
        let m = model(6, 3, 72, "relu+tanh");
        let mut ws = fitted(&m, 5);
        ws.xh.copy_from(&ws.x);
        assert!(m.loss_and_grad(&mut ws).unwrap().abs() < 1e-9);
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        fill_normal(ws.xh.as_mut(), 1.0, &mut rng);
        to_sphere(ws.xh.as_mut(), 6f64.sqrt());
        let l = m.loss_and_grad(&mut ws).unwrap();
        assert!(l > 1e-3 && l <= 1.0, "{l}");
    }

    /// For relu+tanh and tanh the local dimension is `max(0, nd − p)` on both sides of
    /// `p = nd`, including `p = nd ± 1`.
    #[test]
    fn local_dim_is_generic_on_both_sides_of_the_law() {
        let (d, n) = (4, 3);
        for act in ["relu+tanh", "tanh"] {
            for p in [3, 5, 8, 11, 12, 13, 16, 30] {
                let m = model(d, n, p, act);
                for seed in 0..3 {
                    let mut ws = fitted(&m, seed);
                    let dim = m.local_dim(&mut ws).unwrap();
                    assert_eq!(
                        dim,
                        (n * d).saturating_sub(p),
                        "{act}, p = {p}, seed {seed}"
                    );
                }
            }
        }
    }

    /// A ReLU unit that no training point activates is a zero row of the Jacobian: the
    /// rank drops by one against the same instance with that unit active everywhere.
    #[test]
    fn a_dead_relu_unit_lowers_the_rank() {
        let (d, n, p) = (4, 3, 9);
        let m = model(d, n, p, "relu");
        let mut ws = fitted(&m, 11);
        for i in 0..n {
            ws.x[(i, 0)] = ws.x[(i, 0)].abs();
        }
        let mut dims = [0; 2];
        for (k, sign) in [1.0, -1.0].into_iter().enumerate() {
            for j in 0..d {
                ws.v[(0, j)] = if j == 0 { sign } else { 0.0 };
            }
            m.fit(&mut ws).unwrap();
            dims[k] = m.local_dim(&mut ws).unwrap();
        }
        assert_eq!(dims[1], dims[0] + 1, "alive vs dead: {dims:?}");
    }

    /// The Hungarian algorithm finds the best permutation (against brute force).
    #[test]
    fn assignment_is_optimal() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for n in 1..=6 {
            let mut a = Assignment::new(n);
            for _ in 0..20 {
                fill_normal(a.cost.as_mut(), 1.0, &mut rng);
                let cost = a.cost.clone();
                let mut perm: Vec<usize> = (0..n).collect();
                let mut best = f64::INFINITY;
                permutations(&mut perm, 0, &mut |p| {
                    best = best.min((0..n).map(|i| cost[(i, p[i])]).sum());
                });
                let got = a.solve();
                assert!((got - best).abs() < 1e-12, "n = {n}: {got} vs {best}");
            }
        }
    }

    /// The allocation-free Hungarian algorithm (trials cannot allocate, and the crates'
    /// solvers do) against the `pathfinding` crate's Kuhn–Munkres on random integer costs
    /// up to n = 40.
    #[test]
    fn assignment_matches_kuhn_munkres() {
        use pathfinding::prelude::{Matrix, kuhn_munkres_min};
        use rand::RngExt;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for n in [7, 15, 40] {
            let mut a = Assignment::new(n);
            for _ in 0..5 {
                let costs: Vec<i64> = (0..n * n).map(|_| rng.random_range(0..1000)).collect();
                for i in 0..n {
                    for j in 0..n {
                        a.cost[(i, j)] = costs[i * n + j] as f64;
                    }
                }
                let (best, _) = kuhn_munkres_min(&Matrix::from_vec(n, n, costs).unwrap());
                assert_eq!(a.solve(), best as f64, "n = {n}");
            }
        }
    }

    fn permutations(v: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
        if k == v.len() {
            return f(v);
        }
        for i in k..v.len() {
            v.swap(k, i);
            permutations(v, k + 1, f);
            v.swap(k, i);
        }
    }

    /// The distance ignores the order of the candidates and the signs of coordinates,
    /// is 0 at the data and about 0.6 to 0.9 for unrelated points.
    #[test]
    fn distance_is_permutation_and_sign_invariant() {
        let (n, d) = (5, 8);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut x = Mat::zeros(n, d);
        fill_normal(x.as_mut(), 1.0, &mut rng);
        to_sphere(x.as_mut(), (d as f64).sqrt());
        let mut a = Assignment::new(n);
        let signs = |i: usize, j: usize| if (i * 7 + j * 3) % 5 < 2 { -1.0 } else { 1.0 };
        let shuffled = Mat::from_fn(n, d, |i, j| signs(i, j) * x[((i + 2) % n, j)]);
        assert!(distance(x.as_ref(), x.as_ref(), &mut a) < 1e-15);
        assert!(distance(x.as_ref(), shuffled.as_ref(), &mut a) < 1e-15);
        let mut y = Mat::zeros(n, d);
        fill_normal(y.as_mut(), 1.0, &mut rng);
        to_sphere(y.as_mut(), (d as f64).sqrt());
        let far = distance(x.as_ref(), y.as_ref(), &mut a);
        assert!((0.4..1.0).contains(&far), "{far}");
        let moved = Mat::from_fn(n, d, |i, j| {
            shuffled[(i, j)] + if j == 0 { 0.01 } else { 0.0 }
        });
        let near = distance(x.as_ref(), moved.as_ref(), &mut a);
        assert!(near > 0.0 && near < 0.01, "{near}");
    }

    /// Above the law (p = 16dn, 8 seeds) the attack reaches zero loss and recovers the
    /// data in at least 6 trials; below it (p = dn/2) every run reaches zero loss and
    /// none recovers the data (every distance > 0.3). The model's check passes at both.
    #[test]
    fn the_attack_recovers_above_the_law_and_fails_below() {
        let at = |ratio: f64| {
            RfReconstruction::new(RfParams {
                ratio: Some(ratio),
                ..Default::default()
            })
            .unwrap()
        };
        let above = at(16.0);
        let trials = crate::runner::run(&above, 1, 0..8, &|_| {});
        let success = trials.column("success").unwrap();
        assert!(success.iter().sum::<f64>() >= 6.0, "{success:?}");
        let check = crate::criteria::assess(&above, above.predict().unwrap(), 1, &trials);
        assert_eq!(check.verdict(), "pass", "{:?}", check.reasons());
        let below = at(0.5);
        let trials = crate::runner::run(&below, 1, 0..8, &|_| {});
        let loss = trials.column("final_loss").unwrap();
        let dist = trials.column("distance").unwrap();
        assert!(loss.iter().all(|&l| l <= ZERO_LOSS), "{loss:?}");
        assert!(dist.iter().all(|&x| x > 0.3), "{dist:?}");
        let check = crate::criteria::assess(&below, below.predict().unwrap(), 1, &trials);
        assert_eq!(check.verdict(), "pass", "{:?}", check.reasons());
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let field = |p: RfParams| match RfReconstruction::new(p) {
            Err(Error::InvalidParameter { field, .. }) => field,
            other => panic!("expected an error, got {:?}", other.map(|_| ())),
        };
        let d = RfParams::default;
        assert_eq!(field(RfParams { d: 1, ..d() }), "d");
        assert_eq!(field(RfParams { n: 0, ..d() }), "n");
        assert_eq!(field(RfParams { n: 5000, ..d() }), "n");
        assert_eq!(field(RfParams { p: Some(3), ..d() }), "p");
        assert_eq!(
            field(RfParams {
                p: Some(40),
                ratio: Some(1.0),
                ..d()
            }),
            "p"
        );
        assert_eq!(
            field(RfParams {
                ratio: Some(f64::NAN),
                ..d()
            }),
            "ratio"
        );
        assert_eq!(
            field(RfParams {
                ratio: Some(1e-9),
                ..d()
            }),
            "ratio"
        );
        assert_eq!(
            field(RfParams {
                activation: "gelu".into(),
                ..d()
            }),
            "activation"
        );
        assert_eq!(field(RfParams { lr: 0.0, ..d() }), "lr");
        assert_eq!(
            field(RfParams {
                momentum: 1.0,
                ..d()
            }),
            "momentum"
        );
        assert_eq!(
            field(RfParams {
                steps: usize::MAX,
                ..d()
            }),
            "steps"
        );
        assert_eq!(field(RfParams { tol: -1.0, ..d() }), "tol");
        assert_eq!(
            field(RfParams {
                noise: f64::INFINITY,
                ..d()
            }),
            "noise"
        );
    }

    #[test]
    fn info_params_match_the_parameter_type() {
        crate::params::assert_describes::<RfParams>(
            &RfReconstruction::info().params,
            &["p", "ratio"],
        );
    }
}
