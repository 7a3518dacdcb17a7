//! Full-batch gradient descent against one-pass SGD on a single-index model (Kovačević,
//! Ji, Wu, Soltanolkotabi, Mondelli, "Full-Batch Gradient Descent Outperforms One-Pass
//! SGD: Sample Complexity Separation in Single-Index Learning", arXiv 2602.02431).
//!
//! **Data.** `xᵢ ~ N(0, I_d)`, `θ⋆` uniform on the unit sphere, `yᵢ = σ(⟨xᵢ, θ⋆⟩)`,
//! `i = 1..n`, `n = round(δ d)`. The link `σ` (`link`) is, with `s = z²` and
//! `M = truncation`,
//!
//! ```text
//! square:            σ(z) = z²,
//! truncated:         σ(z) = min(z², M),
//! smooth-truncated:  σ(z) = s (s ≤ M),  s − (s − M)²/(2M) (M < s < 2M),  3M/2 (s ≥ 2M),
//! ```
//!
//! so `σ'(z) = 2z·φ(z²)` with `φ = 1`, `1{s < M}`, or `1, (2M − s)/M, 0` on the three
//! pieces. Which truncation the paper's Theorem 3.2 uses was not recovered; its proof
//! needs a bounded weight `yσ'(u)/u`, which both truncations give.
//!
//! **Algorithms** (`algorithm`).
//! - `gd`: spherical gradient ascent on the correlation `(1/n)Σ yᵢσ(⟨xᵢ, θ⟩)` from a
//!   uniform start. With `uᵢ = ⟨xᵢ, θ⟩`, `g = (1/n)Σ yᵢσ'(uᵢ)xᵢ = A(θ)θ`,
//!   `A(θ) = (1/n)Σ yᵢ(σ'(uᵢ)/uᵢ)xᵢxᵢᵀ ⪰ 0`, and `ρ = ⟨g, θ⟩`,
//!   `θ ← (θ + η(g − ρθ))/‖·‖` with `η = min(lr, 1/(2ρ))`: the cap keeps the update
//!   `(1 − ηρ)θ + ηAθ` a positive map (a longer step reverses `θ`), and leaves the
//!   flow's path unchanged. It stops after `steps` steps or when
//!   `‖g − ρθ‖ ≤ 10⁻⁷ρ`. For `square`, `A = (2/n)Σ yᵢxᵢxᵢᵀ` is fixed and the limit is its
//!   top eigenvector: the spectral estimator with the unbounded `T(y) = y`.
//! - `sgd`: one-pass spherical SGD, `n` steps, each with a fresh sample:
//!   `θ ← (θ + (lr/d)·yσ'(u)(x − uθ))/‖·‖`.
//! - `gd-squared`: Euclidean GD on `(1/2n)Σ(σ(uᵢ) − yᵢ)²` from `θ₀ = r₀·(uniform unit
//!   vector)`, `r₀ = init_scale`: `θ ← θ − lr·(1/n)Σ(σ(uᵢ) − yᵢ)σ'(uᵢ)xᵢ`, until
//!   `min_± ‖θ ∓ θ⋆‖ < strong_tol` or `steps` steps (Thm 4.1: strong recovery after a
//!   search phase of order `log d/η`).
//!
//! **Spectral estimator** (`spectral = true`, with `gd`): the top eigenvector of
//! `D = (1/n)Σ T(yᵢ)xᵢxᵢᵀ` with the weight of GD at `θ = θ⋆`, `T = yσ'(g)/g`:
//! `2y` (square), `2y·1{y < M}` (truncated), `2yφ(s)` (smooth), by a dense
//! eigendecomposition. Its limit for the bounded `T` is the Lu–Li / Mondelli–Montanari
//! formula of [`crate::theory::spectral_single_index`]; for GD with a truncated link it
//! is the labelled proxy of the paper's "consistent BBP" argument, not its theorem.

use faer::{Accum, Mat};
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::audit::Claim;
use crate::budget::{Cost, Need};
use crate::linalg::{Eigh, mul_into};
use crate::model::{Criterion, MeanPrediction, MetricSpec, Model, Prediction, Quantity, Reference};
use crate::params::{ModelInfo, check_at_most, describe};
use crate::runner::Trials;
use crate::theory::spectral_single_index::{Preprocessing, SpectralLimit};
use crate::{Error, Result};

/// Largest dimension `d`.
const MAX_D: usize = crate::params::MAX_DIM;
/// Largest sample size `n = round(δd)`.
const MAX_N: usize = 4_000_000;
/// Largest `n·d` of the data matrix that `gd` and `gd-squared` hold (512 MiB).
const MAX_DATA: usize = 1 << 26;
/// Largest number of steps.
const MAX_STEPS: usize = 1_000_000;
/// Largest `δ`.
const MAX_DELTA: f64 = 1e5;
/// Range of the truncation level `M`.
const MIN_M: f64 = 0.5;
const MAX_M: f64 = 100.0;
/// Largest step size.
const MAX_LR: f64 = 1e3;
/// `gd` stops when the spherical gradient is below this fraction of `ρ`.
const GD_TOL: f64 = 1e-7;
/// `recovered` is `overlap2 ≥` this.
const RECOVERED: f64 = 0.5;

/// The link `σ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Link {
    Square,
    Truncated,
    SmoothTruncated,
}

/// The training algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    Gd,
    Sgd,
    GdSquared,
}

/// Parameters of the single-index model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SingleIndexParams {
    /// Dimension `d`.
    pub d: usize,
    /// Samples per dimension `δ`, `n = round(δd)`.
    pub delta: f64,
    pub link: Link,
    /// Truncation level `M`.
    pub truncation: f64,
    pub algorithm: Algorithm,
    /// Step size (default per algorithm).
    pub lr: Option<f64>,
    /// Steps of `gd` and `gd-squared` (default per algorithm).
    pub steps: Option<usize>,
    /// `gd-squared`'s initial norm `r₀` (default `1/d²`).
    pub init_scale: Option<f64>,
    /// `gd-squared`'s strong-recovery tolerance on `min_± ‖θ ∓ θ⋆‖`.
    pub strong_tol: f64,
    /// With `gd`: also compute the spectral estimator.
    pub spectral: bool,
}

impl Default for SingleIndexParams {
    fn default() -> Self {
        SingleIndexParams {
            d: 64,
            delta: 6.0,
            link: Link::Truncated,
            truncation: 8.0,
            algorithm: Algorithm::Gd,
            lr: None,
            steps: None,
            init_scale: None,
            strong_tol: 0.01,
            spectral: false,
        }
    }
}

/// `σ(z)` and `σ'(z)` of a link with truncation `m`.
#[derive(Clone, Copy, Debug)]
struct LinkFn {
    link: Link,
    m: f64,
}

impl LinkFn {
    /// `(σ(z), σ'(z))`.
    fn eval(&self, z: f64) -> (f64, f64) {
        let (s, m) = (z * z, self.m);
        match self.link {
            Link::Square => (s, 2.0 * z),
            Link::Truncated if s < m => (s, 2.0 * z),
            Link::Truncated => (m, 0.0),
            Link::SmoothTruncated if s <= m => (s, 2.0 * z),
            Link::SmoothTruncated if s < 2.0 * m => (
                s - (s - m) * (s - m) / (2.0 * m),
                2.0 * z * (2.0 * m - s) / m,
            ),
            Link::SmoothTruncated => (1.5 * m, 0.0),
        }
    }

    /// The spectral weight `T = yσ'(g)/g` at the latent `g` (`2σ(g)φ(g²)`).
    fn weight(&self, g: f64) -> f64 {
        let (y, _) = self.eval(g);
        let s = g * g;
        let phi = match self.link {
            Link::Square => 1.0,
            Link::Truncated => f64::from(u8::from(s < self.m)),
            Link::SmoothTruncated if s <= self.m => 1.0,
            Link::SmoothTruncated => ((2.0 * self.m - s) / self.m).max(0.0),
        };
        2.0 * y * phi
    }

    /// `T` as a bounded preprocessing for the theory (`None` for the unbounded square).
    fn preprocessing(&self) -> Option<Preprocessing> {
        let m = self.m;
        let root = m.sqrt();
        let this = *self;
        let sup = match self.link {
            Link::Square => return None,
            Link::Truncated => 2.0 * m,
            // 2σφ on (M, 2M) is 2(s − (s−M)²/2M)(2M − s)/M, largest at s = M.
            Link::SmoothTruncated => 2.0 * m,
        };
        Preprocessing::new(move |g| this.weight(g), sup, vec![-root, root]).ok()
    }

    /// `2σ(g)`, the weight of `gd-squared`'s linearisation at `θ ≈ 0` (bounded by `2·sup σ`).
    fn linear_weight(&self) -> Option<Preprocessing> {
        let m = self.m;
        let this = *self;
        let (sup, breaks) = match self.link {
            Link::Square => return None,
            Link::Truncated => (2.0 * m, vec![-m.sqrt(), m.sqrt()]),
            Link::SmoothTruncated => (3.0 * m, vec![-(2.0 * m).sqrt(), (2.0 * m).sqrt()]),
        };
        Preprocessing::new(move |g| 2.0 * this.eval(g).0, sup, breaks).ok()
    }
}

/// The model, ready to run.
pub struct SingleIndex {
    p: SingleIndexParams,
    n: usize,
    lr: f64,
    steps: usize,
    init_scale: f64,
    link: LinkFn,
    metrics: Vec<MetricSpec>,
}

/// Per-worker buffers.
pub struct SingleIndexWorkspace {
    theta_star: Vec<f64>,
    /// `θ` as a `d×1` column (and the gradient).
    theta: Mat<f64>,
    grad: Mat<f64>,
    /// The data `X` (`n×d`, empty for `sgd`), `u = Xθ` and the per-sample weights.
    x: Mat<f64>,
    u: Mat<f64>,
    w: Mat<f64>,
    y: Vec<f64>,
    /// One sample of `sgd`.
    sample: Vec<f64>,
    /// `D` and its eigendecomposition (with `spectral`).
    spectral: Option<(Mat<f64>, Eigh)>,
}

fn invalid(field: &str, what: String) -> Error {
    Error::invalid(field, what)
}

fn check_range(field: &str, v: f64, lo: f64, hi: f64, open_lo: bool) -> Result<()> {
    let ok = if open_lo { v > lo } else { v >= lo };
    if !(ok && v <= hi) {
        let left = if open_lo { "(" } else { "[" };
        return Err(invalid(
            field,
            format!("must be a number in {left}{lo}, {hi}], got {v}"),
        ));
    }
    Ok(())
}

impl SingleIndex {
    pub fn new(p: SingleIndexParams) -> Result<Self> {
        if p.d < 2 {
            return Err(invalid("d", format!("must be in 2..={MAX_D}, got {}", p.d)));
        }
        check_at_most("d", p.d, MAX_D)?;
        check_range("delta", p.delta, 0.0, MAX_DELTA, true)?;
        let n = (p.delta * p.d as f64).round() as usize;
        if n == 0 || n > MAX_N {
            return Err(invalid(
                "delta",
                format!("n = round(δd) must be in 1..={MAX_N}, got {n}"),
            ));
        }
        let holds_data = p.algorithm != Algorithm::Sgd;
        if holds_data && n * p.d > MAX_DATA {
            return Err(invalid(
                "delta",
                format!(
                    "the data n·d = {} exceeds {MAX_DATA} (512 MiB) for algorithm gd or gd-squared",
                    n * p.d
                ),
            ));
        }
        check_range("truncation", p.truncation, MIN_M, MAX_M, false)?;
        let (lr, steps) = match p.algorithm {
            Algorithm::Gd => (0.1, 1000),
            Algorithm::Sgd => (0.1, 0),
            Algorithm::GdSquared => (0.1 / (p.truncation * p.truncation), 20_000),
        };
        let lr = p.lr.unwrap_or(lr);
        check_range("lr", lr, 0.0, MAX_LR, true)?;
        let steps = p.steps.unwrap_or(steps);
        if p.algorithm != Algorithm::Sgd && steps == 0 {
            return Err(invalid(
                "steps",
                format!("must be in 1..={MAX_STEPS}, got 0"),
            ));
        }
        check_at_most("steps", steps, MAX_STEPS)?;
        let init_scale = p.init_scale.unwrap_or(1.0 / (p.d * p.d) as f64);
        check_range("init_scale", init_scale, 0.0, 1.0, true)?;
        check_range("strong_tol", p.strong_tol, 0.0, 1.0, true)?;
        if p.spectral && p.algorithm != Algorithm::Gd {
            return Err(invalid(
                "spectral",
                "applies to algorithm = \"gd\" only".into(),
            ));
        }
        let mut metrics = vec![
            MetricSpec::new("overlap2", "1", "⟨θ̂, θ⋆⟩²/‖θ̂‖² at the end"),
            MetricSpec::new(
                "recovered",
                "1",
                "1 if overlap2 ≥ 0.5 (weak recovery), else 0",
            ),
        ];
        if p.spectral {
            metrics.push(MetricSpec::new(
                "overlap2_spectral",
                "1",
                "⟨v₁, θ⋆⟩² of the top eigenvector of D = (1/n)Σ T(yᵢ)xᵢxᵢᵀ, T = yσ'(g)/g",
            ));
            metrics.push(MetricSpec::new(
                "top_eigenvalue",
                "1",
                "λ₁(D), the top eigenvalue of the spectral matrix",
            ));
        }
        if p.algorithm == Algorithm::GdSquared {
            metrics.push(MetricSpec::new(
                "distance",
                "1",
                "min over the sign of ‖θ ∓ θ⋆‖ at the end",
            ));
            metrics.push(
                MetricSpec::new(
                    "steps_to_strong",
                    "steps",
                    "first step with min_± ‖θ ∓ θ⋆‖ < strong_tol (undefined when not reached)",
                )
                .optional(),
            );
        }
        Ok(SingleIndex {
            n,
            lr,
            steps,
            init_scale,
            link: LinkFn {
                link: p.link,
                m: p.truncation,
            },
            p,
            metrics,
        })
    }

    /// Builds the model from a parameter table.
    pub fn build(table: toml::Table) -> Result<Self> {
        let params: SingleIndexParams = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| crate::models::parameter_error(&e.to_string()))?;
        Self::new(params)
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "single-index-gd-sgd",
            summary: "weak and strong recovery of θ⋆ from y = σ(⟨x, θ⋆⟩), σ = z² or a truncated z², by full-batch spherical GD, one-pass spherical SGD or GD on the squared loss, with the spectral (BBP) theory of the bounded preprocessing",
            source: "Kovačević, Ji, Wu, Soltanolkotabi, Mondelli, \"Full-Batch Gradient Descent Outperforms One-Pass SGD: Sample Complexity Separation in Single-Index Learning\", arXiv 2602.02431",
            params: describe::<SingleIndexParams>(
                &[
                    ("d", "dimension d (2 to 4096)"),
                    (
                        "delta",
                        "samples per dimension δ, n = round(δd) (n in 1 to 4·10⁶; n·d at most 2²⁶ for gd and gd-squared)",
                    ),
                    (
                        "link",
                        "\"square\" σ = z², \"truncated\" σ = min(z², M), or \"smooth-truncated\" (z², a quadratic ramp on (M, 2M), 3M/2 beyond)",
                    ),
                    ("truncation", "truncation level M (0.5 to 100)"),
                    (
                        "algorithm",
                        "\"gd\" (full-batch spherical GD on the correlation loss), \"sgd\" (one-pass spherical SGD, step lr/d) or \"gd-squared\" (Euclidean GD on the squared loss from a small start)",
                    ),
                    ("lr", "step size (0 to 1000, exclusive of 0)"),
                    ("steps", "steps of gd and gd-squared (1 to 10⁶)"),
                    (
                        "init_scale",
                        "initial norm r₀ of gd-squared (0 to 1, exclusive of 0)",
                    ),
                    (
                        "strong_tol",
                        "gd-squared stops once min_± ‖θ ∓ θ⋆‖ < strong_tol (0 to 1, exclusive of 0)",
                    ),
                    (
                        "spectral",
                        "with gd: also the top eigenvector of (1/n)Σ T(yᵢ)xᵢxᵢᵀ (metrics overlap2_spectral, top_eigenvalue)",
                    ),
                ],
                &[
                    ("lr", "0.1 for gd and sgd; 0.1/M² for gd-squared"),
                    ("steps", "1000 for gd; 20000 for gd-squared"),
                    ("init_scale", "1/d²"),
                ],
            ),
        }
    }

    /// The sample size `n`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Draws a uniform unit vector into `v`.
    fn unit(rng: &mut ChaCha8Rng, v: &mut [f64]) {
        for x in v.iter_mut() {
            *x = StandardNormal.sample(rng);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
    }

    /// Draws the `n` samples into the rows of `ws.x` (row by row, `d` normals each) and
    /// their labels into `ws.y`.
    fn draw_data(&self, rng: &mut ChaCha8Rng, ws: &mut SingleIndexWorkspace) {
        for i in 0..self.n {
            let mut z = 0.0;
            for (j, t) in ws.theta_star.iter().enumerate() {
                let v: f64 = StandardNormal.sample(rng);
                ws.x[(i, j)] = v;
                z += v * t;
            }
            ws.y[i] = self.link.eval(z).0;
        }
    }

    /// `u ← Xθ`.
    fn project(ws: &mut SingleIndexWorkspace) {
        mul_into(
            ws.u.as_mut(),
            Accum::Replace,
            ws.x.as_ref(),
            ws.theta.as_ref(),
            1.0,
        );
    }

    /// `grad ← (1/n) Xᵀw`.
    fn back(&self, ws: &mut SingleIndexWorkspace) {
        mul_into(
            ws.grad.as_mut(),
            Accum::Replace,
            ws.x.transpose(),
            ws.w.as_ref(),
            1.0 / self.n as f64,
        );
    }

    /// Spherical GD on the correlation loss (module docs).
    fn run_gd(&self, ws: &mut SingleIndexWorkspace) {
        for _ in 0..self.steps {
            Self::project(ws);
            for i in 0..self.n {
                ws.w[(i, 0)] = ws.y[i] * self.link.eval(ws.u[(i, 0)]).1;
            }
            self.back(ws);
            let rho: f64 = (0..self.p.d)
                .map(|j| ws.grad[(j, 0)] * ws.theta[(j, 0)])
                .sum();
            let mut tangent = 0.0;
            for j in 0..self.p.d {
                let t = ws.grad[(j, 0)] - rho * ws.theta[(j, 0)];
                ws.grad[(j, 0)] = t;
                tangent += t * t;
            }
            if tangent.sqrt() <= GD_TOL * rho.abs() {
                break;
            }
            let eta = if rho > 0.0 {
                self.lr.min(0.5 / rho)
            } else {
                self.lr
            };
            let mut norm = 0.0;
            for j in 0..self.p.d {
                let v = ws.theta[(j, 0)] + eta * ws.grad[(j, 0)];
                ws.theta[(j, 0)] = v;
                norm += v * v;
            }
            let norm = norm.sqrt();
            for j in 0..self.p.d {
                ws.theta[(j, 0)] /= norm;
            }
        }
    }

    /// GD on the squared loss; returns the first step with distance `< strong_tol`.
    fn run_gd_squared(&self, ws: &mut SingleIndexWorkspace) -> Option<usize> {
        for step in 0..=self.steps {
            if distance(ws) < self.p.strong_tol {
                return Some(step);
            }
            if step == self.steps {
                break;
            }
            Self::project(ws);
            for i in 0..self.n {
                let (s, ds) = self.link.eval(ws.u[(i, 0)]);
                ws.w[(i, 0)] = (s - ws.y[i]) * ds;
            }
            self.back(ws);
            for j in 0..self.p.d {
                ws.theta[(j, 0)] -= self.lr * ws.grad[(j, 0)];
            }
        }
        None
    }

    /// One-pass spherical SGD: `n` fresh samples, each `d` normals.
    fn run_sgd(&self, rng: &mut ChaCha8Rng, ws: &mut SingleIndexWorkspace) {
        let step = self.lr / self.p.d as f64;
        for _ in 0..self.n {
            let (mut z, mut u) = (0.0, 0.0);
            for (j, v) in ws.sample.iter_mut().enumerate() {
                *v = StandardNormal.sample(rng);
                z += *v * ws.theta_star[j];
                u += *v * ws.theta[(j, 0)];
            }
            let y = self.link.eval(z).0;
            let c = step * y * self.link.eval(u).1;
            let mut norm = 0.0;
            for (j, v) in ws.sample.iter().enumerate() {
                let t = ws.theta[(j, 0)] + c * (v - u * ws.theta[(j, 0)]);
                ws.theta[(j, 0)] = t;
                norm += t * t;
            }
            let norm = norm.sqrt();
            for j in 0..self.p.d {
                ws.theta[(j, 0)] /= norm;
            }
        }
    }

    /// The spectral estimator: `D = (1/n) Xᵀ diag(T) X` (rows of `X` scaled by `√T` in
    /// place: `X` is not used after this), its top eigenpair; returns `(⟨v₁, θ⋆⟩², λ₁)`.
    fn spectral(&self, ws: &mut SingleIndexWorkspace) -> std::result::Result<(f64, f64), String> {
        for i in 0..self.n {
            let z: f64 = (0..self.p.d).map(|j| ws.x[(i, j)] * ws.theta_star[j]).sum();
            let s = self.link.weight(z).max(0.0).sqrt();
            for j in 0..self.p.d {
                ws.x[(i, j)] *= s;
            }
        }
        let (dm, eigh) = ws.spectral.as_mut().ok_or("no spectral buffers")?;
        mul_into(
            dm.as_mut(),
            Accum::Replace,
            ws.x.transpose(),
            ws.x.as_ref(),
            1.0 / self.n as f64,
        );
        eigh.compute(dm.as_ref()).map_err(|e| e.to_string())?;
        let v = eigh.vectors().col(0);
        let dot: f64 = (0..self.p.d).map(|j| v[j] * ws.theta_star[j]).sum();
        Ok((dot * dot, eigh.values()[0]))
    }

    /// The spectral limit of `D` at `delta`, for a bounded weight (`None` for the square
    /// link).
    pub fn spectral_at(&self, delta: f64) -> Result<Option<SpectralLimit>> {
        self.link.preprocessing().map(|t| t.at(delta)).transpose()
    }

    /// The weak-recovery threshold of the spectral estimator (`None` for the square link).
    pub fn spectral_threshold(&self) -> Result<Option<f64>> {
        self.link.preprocessing().map(|t| t.threshold()).transpose()
    }

    /// Heuristic threshold of the square link: the `δ` at which the largest single-sample
    /// spike of `(1/n)Σ yᵢxᵢxᵢᵀ`, `max yᵢ‖xᵢ‖²/n ≈ 2 ln(n)/δ`, reaches the signal's
    /// population eigenvalue `E[g⁴] = 3`: the root of `δ = (2/3) ln(δd)`.
    pub fn square_heuristic_threshold(d: usize) -> f64 {
        let mut delta = 1.0;
        for _ in 0..200 {
            delta = (2.0 / 3.0) * (delta * d as f64).ln().max(1.0);
        }
        delta
    }
}

/// `min_± ‖θ ∓ θ⋆‖`.
fn distance(ws: &SingleIndexWorkspace) -> f64 {
    let (mut plus, mut minus) = (0.0, 0.0);
    for (j, t) in ws.theta_star.iter().enumerate() {
        let v = ws.theta[(j, 0)];
        plus += (v - t) * (v - t);
        minus += (v + t) * (v + t);
    }
    plus.min(minus).sqrt()
}

/// `⟨θ, θ⋆⟩²/‖θ‖²`.
fn overlap2(ws: &SingleIndexWorkspace) -> f64 {
    let (mut dot, mut norm) = (0.0, 0.0);
    for (j, t) in ws.theta_star.iter().enumerate() {
        let v = ws.theta[(j, 0)];
        dot += v * t;
        norm += v * v;
    }
    dot * dot / norm
}

/// The mean of `values` and its standard error.
fn mean_se(values: &[f64]) -> (f64, f64) {
    crate::stats::Summary::of(values).map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se))
}

impl Model for SingleIndex {
    type Workspace = SingleIndexWorkspace;

    fn name(&self) -> &'static str {
        "single-index-gd-sgd"
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn workspace(&self) -> SingleIndexWorkspace {
        let d = self.p.d;
        let rows = if self.p.algorithm == Algorithm::Sgd {
            0
        } else {
            self.n
        };
        SingleIndexWorkspace {
            theta_star: vec![0.0; d],
            theta: Mat::zeros(d, 1),
            grad: Mat::zeros(d, 1),
            x: Mat::zeros(rows, d),
            u: Mat::zeros(rows, 1),
            w: Mat::zeros(rows, 1),
            y: vec![0.0; rows],
            sample: vec![0.0; if rows == 0 { d } else { 0 }],
            spectral: self.p.spectral.then(|| (Mat::zeros(d, d), Eigh::new(d))),
        }
    }

    /// Draws, in order: `θ⋆` (d normals, normalised), the start (d normals, normalised,
    /// times `init_scale` for `gd-squared`), then the samples (row by row, or one per
    /// `sgd` step).
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut SingleIndexWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        Self::unit(rng, &mut ws.theta_star);
        let start = ws
            .theta
            .col_mut(0)
            .try_as_col_major_mut()
            .map(|c| c.as_slice_mut());
        let start = start.ok_or("θ is not contiguous")?;
        Self::unit(rng, start);
        let mut extra = [f64::NAN; 2];
        match self.p.algorithm {
            Algorithm::Sgd => self.run_sgd(rng, ws),
            Algorithm::Gd => {
                self.draw_data(rng, ws);
                self.run_gd(ws);
            }
            Algorithm::GdSquared => {
                for j in 0..self.p.d {
                    ws.theta[(j, 0)] *= self.init_scale;
                }
                self.draw_data(rng, ws);
                let reached = self.run_gd_squared(ws);
                extra = [distance(ws), reached.map_or(f64::NAN, |s| s as f64)];
            }
        }
        let q = overlap2(ws);
        if !q.is_finite() {
            return Err(format!("the iterate is not finite (overlap² = {q})"));
        }
        out[0] = q;
        out[1] = f64::from(u8::from(q >= RECOVERED));
        if self.p.spectral {
            let (s, top) = self.spectral(ws)?;
            out[2] = s;
            out[3] = top;
        }
        if self.p.algorithm == Algorithm::GdSquared {
            if !extra[0].is_finite() {
                return Err(format!("the distance is {}", extra[0]));
            }
            out[2..4].copy_from_slice(&extra);
        }
        Ok(())
    }

    /// The spectral (BBP) limit of the bounded weight `T` (a proxy for `gd` with a
    /// truncated link, the exact limit of `overlap2_spectral`), the square link's
    /// heuristic threshold, and for `gd-squared` the heuristic search time.
    fn predict(&self) -> Result<Prediction> {
        let d = self.p.d;
        let mut quantities = vec![
            Quantity::exact("n", self.n as f64),
            Quantity::exact("delta_over_log_d", self.p.delta / (d as f64).ln()),
        ];
        let mut means = Vec::new();
        let mut references = Vec::new();
        let mut warnings = Vec::new();
        if let (Some(lim), Some(threshold)) =
            (self.spectral_at(self.p.delta)?, self.spectral_threshold()?)
        {
            quantities.extend([
                Quantity::exact("spectral_threshold", threshold),
                Quantity::exact("spectral_overlap2", lim.overlap2),
                Quantity::exact("spectral_top_eigenvalue", lim.top_eigenvalue),
                Quantity::exact("spectral_bulk_edge", lim.bulk_edge),
            ]);
            if self.p.algorithm == Algorithm::Gd {
                references.push(Reference {
                    key: "spectral_proxy_overlap2".into(),
                    label: "proxy: BBP overlap² of the spectral estimator with T = yσ'(g)/g (GD's weight at θ⋆)".into(),
                    value: lim.overlap2,
                    of: Some("overlap2".into()),
                });
            }
            if self.p.spectral {
                for (metric, value) in [
                    ("overlap2_spectral", lim.overlap2),
                    ("top_eigenvalue", lim.top_eigenvalue),
                ] {
                    means.push(MeanPrediction {
                        metric: metric.into(),
                        value,
                        se: 0.0,
                        decisive: false,
                    });
                }
            }
        } else {
            let h = Self::square_heuristic_threshold(d);
            quantities.push(Quantity::exact("heuristic_threshold", h));
            references.push(Reference {
                key: "square_heuristic_threshold".into(),
                label: "heuristic δ where the largest single-sample spike 2 ln(n)/δ reaches E[g⁴] = 3 (no BBP outlier: T = y is unbounded)".into(),
                value: h,
                of: None,
            });
            warnings.push(
                "square link: T(y) = y is unbounded, so there is no BBP limit; recovery needs n ≳ d log d (Thm 3.1)".into(),
            );
        }
        if self.p.algorithm == Algorithm::GdSquared
            && let Some(t) = self.link.linear_weight()
        {
            let lim = t.at(self.p.delta)?;
            let rate = (1.0 + self.lr * lim.top_eigenvalue).ln();
            quantities.extend([
                Quantity::exact("linear_top_eigenvalue", lim.top_eigenvalue),
                Quantity::exact("search_steps_heuristic", -self.init_scale.ln() / rate),
                Quantity::exact("search_slope_heuristic", 2.0 / rate),
            ]);
        }
        Ok(Prediction {
            model: "single-index-gd-sgd".into(),
            quantities,
            means,
            references,
            warnings,
            ..Default::default()
        })
    }

    /// With `spectral`: `overlap2_spectral` within 3 s.e. plus a finite-size allowance
    /// `1/√d` of its BBP limit (bounded weights); for the square link, GD reaches the
    /// top eigenvector (mean `|overlap2 − overlap2_spectral|` ≤ 0.01).
    fn criteria(&self, prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        let Some(spec) = trials.column("overlap2_spectral") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(limit) = prediction.mean("overlap2_spectral") {
            let (m, se) = mean_se(&spec);
            let allowance = 1.0 / (self.p.d as f64).sqrt();
            out.push(Criterion {
                name: "spectral_overlap_bbp".into(),
                statement: format!(
                    "the mean of overlap2_spectral is within 3 s.e. + 1/√d = {allowance:.3} of its BBP limit"
                ),
                predicted: Some(limit.value),
                measured: m,
                se: Some(se),
                pass: (m - limit.value).abs() <= 3.0 * se + allowance,
            });
        }
        if self.p.link == Link::Square
            && let Some(gd) = trials.column("overlap2")
        {
            let gaps: Vec<f64> = gd.iter().zip(&spec).map(|(a, b)| (a - b).abs()).collect();
            let (m, se) = mean_se(&gaps);
            out.push(Criterion {
                name: "gd_reaches_top_eigenvector".into(),
                statement: "square link: the mean of |overlap2 − overlap2_spectral| is ≤ 0.01 (GD converges to the top eigenvector of (2/n)Σ yᵢxᵢxᵢᵀ)".into(),
                predicted: Some(0.0),
                measured: m,
                se: Some(se),
                pass: m <= 0.01,
            });
        }
        out
    }

    fn default_trials(&self) -> u64 {
        20
    }

    /// `gd`: `steps` passes of `4nd` flops over the `n×d` data (plus `nd²` and `10d³` for
    /// the spectral estimator); `gd-squared` the same; `sgd`: `~30nd` flops (normals
    /// included) on three `d`-vectors. The prediction: a few hundred quadratures.
    fn cost(&self) -> Cost {
        let (n, d) = (self.n as f64, self.p.d as f64);
        let draw = 30.0 * n * d;
        let trial = match self.p.algorithm {
            Algorithm::Sgd => Need::new(super::doubles(4.0 * d), draw, "delta"),
            _ => {
                let spectral = if self.p.spectral { 3.0 * d * d } else { 0.0 };
                let flops = draw
                    + 4.0 * n * d * self.steps as f64
                    + if self.p.spectral {
                        n * d * d + 10.0 * d * d * d
                    } else {
                        0.0
                    };
                let driver = if self.steps as f64 > d {
                    "steps"
                } else {
                    "delta"
                };
                Need::new(super::doubles(n * d + 3.0 * n + spectral), flops, driver)
            }
        };
        Cost {
            trial,
            predict: Need::new(1e6, 1e9, "truncation"),
        }
    }

    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("d", serde_json::json!(self.p.d)),
            ("delta", serde_json::json!(self.p.delta)),
            ("n", serde_json::json!(self.n)),
            (
                "link",
                serde_json::to_value(self.p.link).unwrap_or_default(),
            ),
            (
                "algorithm",
                serde_json::to_value(self.p.algorithm).unwrap_or_default(),
            ),
            ("lr", serde_json::json!(self.lr)),
            ("steps", serde_json::json!(self.steps)),
        ]
    }
}

/// The paper's statements that `pretrainlab audit` tests.
pub const CLAIMS: &[Claim] = &[Claim {
    id: "single-index-spectral-bbp",
    paper: "Kovačević, Ji, Wu, Soltanolkotabi, Mondelli, Full-Batch Gradient Descent Outperforms One-Pass SGD, arXiv 2602.02431",
    location: "Section 3 (the spectral argument behind Thm 3.2)",
    statement: "with a truncated link the weight T = 2y·1{y < M} is bounded, so the spectral matrix has a BBP outlier at n ∝ d, with the Lu–Li overlap",
    params: "d = 256\ndelta = 6.0\nlink = \"truncated\"\nspectral = true\nsteps = 300",
    trials: 20,
    quick_trials: 6,
    test: crate::audit::ClaimTest::Generic,
}];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DynModel;

    fn model(text: &str) -> SingleIndex {
        SingleIndex::build(text.parse().unwrap()).unwrap()
    }

    /// σ' is the derivative of σ for every link (central differences, away from the kinks
    /// at z² = M and 2M), and the weight T = yσ'(g)/g is 2y, 2y·1{y < M}, 2σφ.
    #[test]
    fn link_derivatives_and_weights() {
        for link in [Link::Square, Link::Truncated, Link::SmoothTruncated] {
            let f = LinkFn { link, m: 3.0 };
            for z in [-3.1, -2.0, -1.2, -0.3, 0.4, 1.5, 1.9, 2.2, 2.6, 3.3] {
                let h = 1e-6;
                let fd = (f.eval(z + h).0 - f.eval(z - h).0) / (2.0 * h);
                assert!((fd - f.eval(z).1).abs() < 1e-6, "{link:?} z = {z}");
                let w = f.eval(z).0 * f.eval(z).1 / z;
                assert!((w - f.weight(z)).abs() < 1e-12, "{link:?} z = {z}");
            }
        }
        let t = LinkFn {
            link: Link::Truncated,
            m: 8.0,
        };
        assert_eq!(t.weight(2.0), 8.0);
        assert_eq!(t.weight(3.0), 0.0);
    }

    /// Square link: spherical GD converges to the top eigenvector of (2/n)Σ yᵢxᵢxᵢᵀ
    /// (computed by a dense eigendecomposition in the same trial): |overlap2 −
    /// overlap2_spectral| < 10⁻⁶ in each of 6 trials, at δ below and above the
    /// heuristic threshold; and the check's own criterion passes.
    #[test]
    fn square_gd_reaches_the_top_eigenvector() {
        for delta in [2.0, 8.0] {
            let m = model(&format!(
                "d = 48\ndelta = {delta}\nlink = \"square\"\nspectral = true\nsteps = 5000"
            ));
            let t = crate::runner::run(&m, 4, 0..6, &|_| {});
            let (gd, spec) = (
                t.column("overlap2").unwrap(),
                t.column("overlap2_spectral").unwrap(),
            );
            for (a, b) in gd.iter().zip(&spec) {
                assert!((a - b).abs() < 1e-6, "δ = {delta}: {a} vs {b}");
            }
            let p = DynModel::predict(&m).unwrap();
            let c = Model::criteria(&m, &p, &t);
            assert!(
                c.iter()
                    .any(|c| c.name == "gd_reaches_top_eigenvector" && c.pass),
                "{c:?}"
            );
        }
    }

    /// The spectral estimator with the truncated weight against its BBP limit at d = 200,
    /// δ = 8 (8 trials): within 3 s.e. + 1/√d (the model's criterion), and a limit that
    /// is wrong by 0.15 fails it.
    #[test]
    fn truncated_spectral_overlap_matches_bbp() {
        let m = model("d = 200\ndelta = 8.0\nspectral = true\nsteps = 1");
        let t = crate::runner::run(&m, 5, 0..8, &|_| {});
        let mut p = DynModel::predict(&m).unwrap();
        let c = Model::criteria(&m, &p, &t);
        assert!(c[0].pass, "{c:?}");
        let mean = p
            .means
            .iter_mut()
            .find(|x| x.metric == "overlap2_spectral")
            .unwrap();
        mean.value += 0.15;
        let c = Model::criteria(&m, &p, &t);
        assert!(!c[0].pass, "{c:?}");
    }

    /// At fixed δ = 3, square-link GD recovers less often as d grows (d = 32 vs 256,
    /// 16 trials each: the mean overlap falls by more than 3 s.e.), while truncated GD at
    /// the same δ keeps a mean overlap above that of the square link at d = 256.
    #[test]
    fn square_link_degrades_with_d_truncated_does_not() {
        let run = |text: &str| {
            let m = model(text);
            let out = crate::runner::run(&m, 9, 0..16, &|_| {});
            mean_se(&out.column("overlap2").unwrap())
        };
        let small = run("d = 32\ndelta = 3.0\nlink = \"square\"\nsteps = 3000");
        let large = run("d = 256\ndelta = 3.0\nlink = \"square\"\nsteps = 3000");
        let trunc = run("d = 256\ndelta = 3.0\nsteps = 1000");
        let se = (small.1.powi(2) + large.1.powi(2)).sqrt();
        assert!(small.0 - large.0 > 3.0 * se, "{small:?} vs {large:?}");
        assert!(trunc.0 > large.0, "{trunc:?} vs {large:?}");
    }

    /// gd-squared reaches strong recovery (distance < strong_tol, overlap² > 0.99) and
    /// steps_to_strong is defined; with too few steps it is undefined (NaN), not a failure.
    #[test]
    fn gd_squared_recovers_strongly() {
        let m = model("d = 24\ndelta = 10.0\nalgorithm = \"gd-squared\"");
        let out = crate::runner::run(&m, 2, 0..3, &|_| {});
        assert_eq!(out.completed(), 3);
        for i in 0..3 {
            let row = out.row(i);
            assert!(
                row[0] > 0.99 && row[2] < 0.01 && row[3].is_finite(),
                "{row:?}"
            );
        }
        let short = model("d = 24\ndelta = 10.0\nalgorithm = \"gd-squared\"\nsteps = 10");
        let out = crate::runner::run(&short, 2, 0..2, &|_| {});
        assert_eq!(out.completed(), 2);
        assert!(out.row(0)[3].is_nan());
    }

    /// One-pass SGD with many samples per dimension recovers (δ = 40, d = 64), and with
    /// few it does not (δ = 2): the information exponent 2 makes it need n ≳ d log d.
    #[test]
    fn sgd_needs_many_samples() {
        let run = |delta: f64| {
            let m = model(&format!("d = 64\ndelta = {delta}\nalgorithm = \"sgd\""));
            let out = crate::runner::run(&m, 3, 0..8, &|_| {});
            mean_se(&out.column("overlap2").unwrap()).0
        };
        assert!(run(40.0) > 0.5);
        assert!(run(2.0) < 0.2);
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let field = |text: &str| match SingleIndex::build(text.parse().unwrap()) {
            Err(Error::InvalidParameter { field, .. }) => field,
            other => panic!("{text}: expected an error, got {:?}", other.map(|_| ())),
        };
        assert_eq!(field("d = 1"), "d");
        assert_eq!(field("d = 5000"), "d");
        assert_eq!(field("delta = 0.0"), "delta");
        assert_eq!(field("delta = nan"), "delta");
        assert_eq!(field("delta = 0.001"), "delta");
        assert_eq!(field("d = 4096\ndelta = 100.0"), "delta");
        assert_eq!(field("truncation = 0.1"), "truncation");
        assert_eq!(field("lr = -1.0"), "lr");
        assert_eq!(field("steps = 0"), "steps");
        assert_eq!(field("steps = 2000000"), "steps");
        assert_eq!(field("init_scale = 2.0"), "init_scale");
        assert_eq!(field("strong_tol = 0.0"), "strong_tol");
        assert_eq!(field("algorithm = \"sgd\"\nspectral = true"), "spectral");
        assert_eq!(field("link = \"cubic\""), "link");
        assert_eq!(field("steps = 2.5"), "steps");
    }

    /// The square link has no BBP limit and says so; the truncated links predict one.
    #[test]
    fn predictions_are_finite_and_labelled() {
        for text in [
            "link = \"square\"",
            "link = \"truncated\"\nspectral = true",
            "link = \"smooth-truncated\"\nspectral = true",
            "algorithm = \"gd-squared\"",
            "algorithm = \"sgd\"\nlink = \"square\"",
        ] {
            let p = DynModel::predict(&model(text)).unwrap();
            assert!(p.is_finite(), "{text}");
        }
        let sq = DynModel::predict(&model("link = \"square\"")).unwrap();
        assert!(sq.quantity("spectral_overlap2").is_none() && !sq.warnings.is_empty());
    }

    #[test]
    fn info_params_match_the_parameter_type() {
        crate::params::assert_describes::<SingleIndexParams>(
            &SingleIndex::info().params,
            &["lr", "steps", "init_scale"],
        );
    }
}
