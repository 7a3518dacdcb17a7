//! Spectral estimators and generalised vector AMP for a generalised linear model with an
//! orthogonally invariant design (Zhang, Ji, Venkataramanan, Mondelli, "Optimal spectral
//! estimators and AMP for GLMs with orthogonally invariant designs", arXiv 2602.09240).
//!
//! **Model.** `x ~ N(0, I_d)`, `n = round(δd)` rows, `z = Ax`, `yᵢ = f(zᵢ, εᵢ)` with
//! `εᵢ ~ N(0, 1)` and the channel `f` a formula in `z` and `eps` (`channel`). The design is
//! `A = U diag(s) Vᵀ` with `U` (n×m) and `V` (d×m), `m = min(n, d)`, Haar-distributed
//! orthonormal columns (QR of a Gaussian matrix with the signs of `R`'s diagonal made
//! positive) and squared singular values `sᵢ²` of a fixed shape (`spectrum`):
//! `"uniform"` on `[a, b]` (quantiles `a + (b − a)(i − ½)/m`), or `"list"` (equal
//! proportions of the given values), rescaled so that `Σ sᵢ² = n`, i.e. `E z² = 1`; or
//! `"gaussian"`, `Aᵢⱼ ~ N(0, 1/d)` i.i.d. (then `s`, `U`, `V` come from the
//! eigendecomposition of the smaller Gram matrix).
//!
//! **Spectral estimator.** `x̂ₛ` = top eigenvector of `D = (1/n) Aᵀ diag(T(y)) A` with the
//! preprocessing `T` (`preprocessing`, a formula in `y`); by default
//! `T(y) = 1 − 1/E[z²|y]` (`z ~ N(0, 1)` a priori), which reaches the optimal weak-recovery
//! threshold `δ_u` on the Gaussian design (Luo, Alghamdi, Lu, arXiv 1811.04420), and is
//! used as is on other designs.
//!
//! **GVAMP** (Schniter, Rangan, Fletcher, "Vector approximate message passing for the
//! generalized linear model", arXiv 1612.01186) with Bayes-optimal denoisers. As the prior
//! of `x` is `N(0, I)`, the input denoiser is linear and its extrinsic message is the prior
//! itself, so one iteration alternates two modules on `z`:
//!
//! ```text
//! output:  ẑ₁ = E[z | y, p₁], v₁ = mean Var[z | y, p₁]   (prior z ~ N(p₁, 1/τ₁)),
//!          η₁ = 1/v₁, τ₂ = η₁ − τ₁, τ₂p₂ = η₁ẑ₁ − τ₁p₁;
//! LMMSE:   x̂ = (I + τ₂AᵀA)⁻¹ Aᵀ(τ₂p₂) = V diag(s/(1 + τ₂s²)) Uᵀ(τ₂p₂),  ẑ₂ = Ax̂,
//!          1/η₂ = (1/n) Σ sᵢ²/(1 + τ₂sᵢ²), τ₁ = η₂ − τ₂, τ₁p₁ = η₂ẑ₂ − τ₂p₂.
//! ```
//!
//! The output module's message is damped, `(p₂, τ₂) ← ρ·fresh + (1 − ρ)·old` with
//! `ρ = 0.7` (undamped VAMP oscillates at finite `d` with noiseless channels; damping
//! leaves the fixed points unchanged). Should the messages overflow (below `δ_c`, where
//! `τ₂` vanishes), GVAMP stops with its last finite estimate. It starts from the spectral
//! estimate, `p₁ = √m₀·A(√d x̂ₛ)`, `τ₁ = 1/(1 − m₀)`,
//! `m₀ = 0.05` (a weakly informative message), and stops when
//! `‖x̂ₜ − x̂ₜ₋₁‖² ≤ tol·‖x̂ₜ‖²` or after `amp_iterations`.
//!
//! **State evolution** (re-derived). With Bayes-optimal denoisers the message `p₁` obeys
//! `z = p₁ + N(0, 1 − m)`, `p₁ ~ N(0, m)` (`m = 1 − 1/τ₁`), and one iteration maps `m` to
//!
//! ```text
//! mmse(m) = E Var[z | y, p₁],   τ₂ = 1/mmse(m) − 1/(1 − m),
//! m' = 1 − 1/(1/v_z(τ₂) − τ₂),  v_z(τ) = (1/n) tr(AᵀA(I + τAᵀA)⁻¹),
//! ```
//!
//! and the estimate's MSE is `r(τ₂) = (1/d) tr(I + τ₂AᵀA)⁻¹`, its squared cosine with `x`
//! `q = 1 − r(τ₂)`. Both traces are functionals of the limiting law of `AᵀA` in closed
//! form: Marchenko–Pastur for the Gaussian design (`r(τ) = 2/(B + √(B² + 4τ))`,
//! `B = 1 + τ(δ − 1)`), `log` integrals for the uniform one, sums for a list. The
//! predicted fixed point is the smallest one reached from `m = 10⁻⁶`; the largest one,
//! reached from `m = 1 − 10⁻⁹`, is reported beside it (`se_overlap_from_informative`) and
//! a warning flags a hard phase where the two differ (noiseless phase retrieval: δ in
//! (1, ≈1.13) on the Gaussian design, (9/8, ≈1.4) for the uniform shape on [0, 1]).
//!
//! **Weak-recovery threshold** (linearising the map at `m = 0` for a channel with
//! `E[z|y] = 0`, e.g. an even one): `E[z|y, p₁] ≈ p₁E[z²|y]` gives `τ₂ ≈ mF`,
//! `F = E_Y[(E[z²|Y] − 1)²]`, and the LMMSE step `m' ≈ τ₂((d/n)E λ² − 1)` with `λ` an
//! eigenvalue of `AᵀA` (normalised `(d/n)E λ = 1`). The uninformative point is unstable iff
//!
//! ```text
//! F · ((d/n) E λ² − 1) > 1.
//! ```
//!
//! Gaussian design: `(d/n)E λ² − 1 = δ`, so `δ_c = 1/F`, Mondelli–Montanari's `δ_u` (1/2
//! for noiseless real phase retrieval). A fixed shape with `κ = E u²/(E u)²`: the gain is
//! `δκ − 1` for `δ ≥ 1` and `κ − 1` below, so `δ_c = (1 + 1/F)/κ` if that is ≥ 1, and
//! every `δ` recovers otherwise (column-orthogonal designs, `κ = 1`: `δ_c = 1 + 1/F`, 3/2
//! for real phase retrieval, as Maillard et al., arXiv 2006.05228, find).
//!
//! **Spectral prediction.** On the Gaussian design, the Lu–Li limit of the spectral
//! estimator ([`crate::theory::spectral_single_index`]) with `T` composed with the
//! channel. The paper's optimal spectral estimator for other designs was not recovered:
//! there the prediction says so and `overlap_spectral` is measured only.
//!
//! **Output denoiser.** Channels must be `y = g(z) + σ·eps` with a constant `σ ≥ 0`
//! (checked). Noiseless (`σ = 0`): the posterior sits on the preimages `r` of `y` in a
//! window of ±8 prior standard deviations, weighted by `φ((r − p)/√v)/|g'(r)|`; `g` is
//! split into monotone pieces on a 64-cell grid (turning points located by golden-section
//! search; `g` must be strictly monotone between finitely many turning points, at most one
//! per cell). Noisy: the posterior on a 257-point Simpson grid over the window, which
//! resolves likelihoods wider than 1/256 of the window.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::householder::{
    apply_block_householder_sequence_on_the_left_in_place_scratch,
    apply_block_householder_sequence_on_the_left_in_place_with_conj,
};
use faer::linalg::qr::no_pivoting::factor::{
    qr_in_place, qr_in_place_scratch, recommended_block_size,
};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Conj, Mat, MatMut, MatRef, Par};
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::audit::Claim;
use crate::budget::{Cost, Need};
use crate::expr::Formula;
use crate::linalg::{Eigh, mul_into};
use crate::model::{Criterion, MeanPrediction, MetricSpec, Model, Prediction, Quantity};
use crate::params::{ModelInfo, check_at_most, describe};
use crate::quadrature::{GaussHermite, TensorGaussHermite};
use crate::runner::Trials;
use crate::theory::spectral_single_index::Preprocessing;
use crate::{Error, Result};

/// Largest dimension `d`.
const MAX_D: usize = 3000;
/// Largest number of rows `n`.
const MAX_N: usize = 100_000;
/// Largest `n·d` (a trial holds two n×m matrices, and the n×d Gaussian design).
const MAX_ND: usize = 8_000_000;
/// Largest number of GVAMP iterations.
const MAX_ITER: usize = 10_000;
/// Largest ratio `b/a` bound and value of the spectrum shape.
const MAX_SPECTRUM: f64 = 1e6;
/// Most values of a `"list"` spectrum.
const MAX_LIST: usize = 4096;
/// The confidence `m₀` of GVAMP's initial message built from the spectral estimate.
const INIT_CONFIDENCE: f64 = 0.05;
/// GVAMP's damping of the output module's message `(p₂, τ₂)`: new = ρ·fresh + (1 − ρ)·old.
const DAMPING: f64 = 0.7;
/// Half-width of the posterior window, in prior standard deviations.
const WINDOW: f64 = 8.0;
/// Grid cells of the noiseless root search.
const ROOT_CELLS: usize = 64;
/// Grid points of the noisy posterior (odd, for Simpson's rule).
const NOISY_POINTS: usize = 257;
/// Points of the table of `E[z²|y]` behind the default preprocessing.
const TABLE_POINTS: usize = 2048;
/// Gauss–Hermite orders of the state evolution: per coordinate, without and with noise.
const SE_ORDER: usize = 60;
const SE_ORDER_NOISY: usize = 16;
/// Gauss–Hermite order of `F` and of the symmetry test (per coordinate).
const F_ORDER: usize = 120;
const F_ORDER_NOISY: usize = 48;
/// Gauss–Hermite order over `ε` in the Lu–Li expectations.
const LU_LI_NOISE_ORDER: usize = 24;
/// Start of the state evolution.
const SE_START: f64 = 1e-6;
/// Finite-size allowance of the overlap criteria, times `1/√d`.
const ALLOWANCE: f64 = 1.5;

/// Parameters of the model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlmOiParams {
    /// Dimension of `x`.
    pub d: usize,
    /// Rows per dimension: `n = round(δd)`.
    pub delta: f64,
    /// `"gaussian"`, `"uniform"` or `"list"`.
    pub spectrum: String,
    /// Bounds of the uniform shape of the squared singular values.
    pub spectrum_a: f64,
    pub spectrum_b: f64,
    /// Values of the `"list"` shape.
    pub spectrum_values: Vec<f64>,
    /// `y = f(z, eps)`.
    pub channel: String,
    /// `T(y)`; the default `1 − 1/E[z²|y]` when absent.
    pub preprocessing: Option<String>,
    /// Most GVAMP iterations.
    pub amp_iterations: usize,
    /// GVAMP's stopping tolerance on the relative squared change of `x̂`.
    pub amp_tol: f64,
}

impl Default for GlmOiParams {
    fn default() -> Self {
        GlmOiParams {
            d: 400,
            delta: 2.0,
            spectrum: "uniform".into(),
            spectrum_a: 0.0,
            spectrum_b: 1.0,
            spectrum_values: Vec::new(),
            channel: "z^2".into(),
            preprocessing: None,
            amp_iterations: 300,
            amp_tol: 1e-10,
        }
    }
}

/// The law of the squared singular values.
#[derive(Clone, Debug, PartialEq)]
enum Spectrum {
    /// `Aᵢⱼ ~ N(0, 1/d)`.
    Gaussian,
    /// Shape uniform on `[a, b]`.
    Uniform { a: f64, b: f64 },
    /// Shape: equal proportions of the values.
    List(Vec<f64>),
}

/// The limiting law of the eigenvalues `λ` of `AᵀA` (d of them, `n/d = δ`).
#[derive(Clone, Debug)]
struct SpectralLaw {
    spectrum: Spectrum,
    delta: f64,
    /// `c`: the shape `u` is rescaled to `s² = c·u` (shapes only).
    scale: f64,
    /// `m/d` and `m/n`.
    m_over_d: f64,
    m_over_n: f64,
}

impl SpectralLaw {
    fn new(spectrum: Spectrum, delta: f64) -> Self {
        let (m_over_d, m_over_n) = if delta >= 1.0 {
            (1.0, 1.0 / delta)
        } else {
            (delta, 1.0)
        };
        let mean = match &spectrum {
            Spectrum::Gaussian => 1.0,
            Spectrum::Uniform { a, b } => 0.5 * (a + b),
            Spectrum::List(v) => v.iter().sum::<f64>() / v.len() as f64,
        };
        SpectralLaw {
            scale: 1.0 / (m_over_n * mean),
            spectrum,
            delta,
            m_over_d,
            m_over_n,
        }
    }

    /// `E_u[u^k]` of the shape.
    fn shape_moment(&self, k: i32) -> f64 {
        match &self.spectrum {
            Spectrum::Gaussian => f64::NAN,
            Spectrum::Uniform { a, b } => {
                if b - a <= 1e-12 * b {
                    a.powi(k)
                } else {
                    (b.powi(k + 1) - a.powi(k + 1)) / ((k + 1) as f64 * (b - a))
                }
            }
            Spectrum::List(v) => v.iter().map(|u| u.powi(k)).sum::<f64>() / v.len() as f64,
        }
    }

    /// `E_u[u/(1 + xu)]` of the shape, `x ≥ 0`.
    fn shape_resolvent(&self, x: f64) -> f64 {
        match &self.spectrum {
            Spectrum::Gaussian => f64::NAN,
            Spectrum::Uniform { a, b } => {
                if x * b < 1e-3 {
                    // Σₖ (−x)ᵏ E u^{k+1}.
                    (0..8)
                        .map(|k| (-x).powi(k) * self.shape_moment(k + 1))
                        .sum()
                } else if b - a <= 1e-12 * b {
                    a / (1.0 + x * a)
                } else {
                    let h = ((1.0 + x * b) / (1.0 + x * a)).ln() / (x * (b - a));
                    (1.0 - h) / x
                }
            }
            Spectrum::List(v) => v.iter().map(|u| u / (1.0 + x * u)).sum::<f64>() / v.len() as f64,
        }
    }

    /// `r(τ) = (1/d) tr(I + τAᵀA)⁻¹`.
    fn r(&self, tau: f64) -> f64 {
        match self.spectrum {
            Spectrum::Gaussian => {
                // 2/(B + S) with S = √(B² + 4τ); = (S − B)/(2τ) without cancellation when B < 0.
                let b = 1.0 + tau * (self.delta - 1.0);
                let s = (b * b + 4.0 * tau).sqrt();
                if b >= 0.0 {
                    2.0 / (b + s)
                } else {
                    (s - b) / (2.0 * tau)
                }
            }
            _ => {
                let c = self.scale;
                1.0 - self.m_over_d * tau * c * self.shape_resolvent(tau * c)
            }
        }
    }

    /// `v_z(τ) = (1/n) tr(AᵀA(I + τAᵀA)⁻¹)` (1 at `τ = 0`).
    fn vz(&self, tau: f64) -> f64 {
        match self.spectrum {
            Spectrum::Gaussian => {
                let delta = self.delta;
                let b = 1.0 + tau * (delta - 1.0);
                let s = (b * b + 4.0 * tau).sqrt();
                // (1 − r)/(δτ) without cancellation.
                ((delta - 1.0) + ((delta - 1.0) * (2.0 + tau * (delta - 1.0)) + 4.0) / (s + 1.0))
                    / (b + s)
                    / delta
            }
            _ => {
                let c = self.scale;
                self.m_over_n * c * self.shape_resolvent(tau * c)
            }
        }
    }

    /// `(d/n) E λ² − 1`, the gain of the LMMSE step at the uninformative point.
    fn gain(&self) -> f64 {
        match self.spectrum {
            Spectrum::Gaussian => self.delta,
            _ => {
                let kappa = self.shape_moment(2) / self.shape_moment(1).powi(2);
                kappa / self.m_over_n - 1.0
            }
        }
    }

    /// `κ = E u²/(E u)²` of a shape.
    fn kappa(&self) -> f64 {
        self.shape_moment(2) / self.shape_moment(1).powi(2)
    }

    /// The squared singular values `s₁² … s_m²` of a shaped design (equal quantiles).
    fn fill_singular_values(&self, s: &mut [f64]) {
        let m = s.len();
        for (i, si) in s.iter_mut().enumerate() {
            let u = match &self.spectrum {
                Spectrum::Gaussian => 1.0,
                Spectrum::Uniform { a, b } => a + (b - a) * (i as f64 + 0.5) / m as f64,
                Spectrum::List(v) => v[i * v.len() / m],
            };
            *si = (self.scale * u).sqrt();
        }
    }
}

/// A channel `y = g(z) + σ·ε` and its Bayes posterior of `z` under a Gaussian prior.
#[derive(Clone, Debug)]
pub struct Channel {
    formula: Formula,
    /// `σ ≥ 0`.
    noise: f64,
}

/// Posterior sums `Σw`, `Σwz`, `Σwz²`.
#[derive(Clone, Copy, Default)]
struct Sums(f64, f64, f64);

impl Sums {
    fn add(&mut self, w: f64, z: f64) {
        self.0 += w;
        self.1 += w * z;
        self.2 += w * z * z;
    }
}

impl Channel {
    /// Parses `text` (parameter `channel`) and checks its form: it uses `z`, is finite on
    /// `[−8, 8]`, is affine in `eps` with a constant slope, and without noise has no flat
    /// piece.
    pub fn parse(text: &str) -> Result<Channel> {
        let formula = Formula::parse("channel", text, &["z", "eps"])?;
        let bad = |what: String| Err(Error::invalid("channel", what));
        if !formula.uses("z") {
            return bad(format!("`{text}` must depend on z"));
        }
        let f = |z: f64, e: f64| formula.eval(&[z, e]);
        let sigma = f(0.3, 1.0) - f(0.3, 0.0);
        for k in 0..=320 {
            let z = -8.0 + 0.05 * k as f64;
            let g = f(z, 0.0);
            if !g.is_finite() {
                return bad(format!("`{text}` is not finite at z = {z}, eps = 0"));
            }
            for e in [-2.0, -1.0, 1.0, 3.0] {
                let y = f(z, e);
                if !(y.is_finite() && (y - g - sigma * e).abs() <= 1e-9 * (1.0 + g.abs() + y.abs()))
                {
                    return bad(format!(
                        "`{text}` must have the form g(z) + σ·eps with a constant σ (a Gaussian channel noise); it is not at z = {z}, eps = {e}"
                    ));
                }
            }
        }
        let channel = Channel {
            formula,
            noise: sigma.abs(),
        };
        if channel.noise == 0.0 {
            for k in 0..320 {
                let z = -8.0 + 0.05 * k as f64;
                if channel.g(z) == channel.g(z + 0.05) {
                    return bad(format!(
                        "`{text}` is flat near z = {z}: a noiseless channel must be strictly monotone between its turning points (add noise, e.g. `+ 0.1*eps`)"
                    ));
                }
            }
        }
        Ok(channel)
    }

    /// `g(z)`, the noiseless part.
    fn g(&self, z: f64) -> f64 {
        self.formula.eval(&[z, 0.0])
    }

    /// `y = f(z, ε)`.
    fn sample(&self, z: f64, eps: f64) -> f64 {
        self.formula.eval(&[z, eps])
    }

    /// `(E[z | y], Var[z | y])` under the prior `z ~ N(p, v)` (the prior itself should the
    /// noisy grid's weights all vanish).
    fn posterior(&self, y: f64, p: f64, v: f64) -> (f64, f64) {
        let sd = v.sqrt();
        let sums = if self.noise > 0.0 {
            self.noisy_sums(y, p, sd)
        } else {
            self.root_sums(y, p, sd, WINDOW)
                .unwrap_or_else(|| self.nearest(y, p, sd))
        };
        if !(sums.0 > 0.0 && sums.0.is_finite()) {
            return (p, v);
        }
        let mean = sums.1 / sums.0;
        (mean, (sums.2 / sums.0 - mean * mean).max(0.0))
    }

    /// Posterior sums of the noiseless channel over the preimages of `y`.
    /// `None` when `y` has no preimage in the window of `±width` prior standard deviations.
    fn root_sums(&self, y: f64, p: f64, sd: f64, width: f64) -> Option<Sums> {
        const N: usize = ROOT_CELLS + 1;
        let lo = p - width * sd;
        let h = 2.0 * width * sd / ROOT_CELLS as f64;
        let mut grid = [(0.0, 0.0); N];
        for (k, pt) in grid.iter_mut().enumerate() {
            let z = lo + h * k as f64;
            *pt = (z, self.g(z));
        }
        // Monotone pieces: the grid points and the turning points between them.
        let mut pts = [(0.0, 0.0); 2 * N];
        let mut len = 0;
        for k in 0..N {
            if k > 0 && k + 1 < N {
                let (left, right) = (grid[k].1 - grid[k - 1].1, grid[k + 1].1 - grid[k].1);
                if left * right < 0.0 {
                    let e = self.turning_point(grid[k - 1].0, grid[k + 1].0, left > 0.0);
                    if e.0 < grid[k].0 {
                        pts[len] = e;
                        pts[len + 1] = grid[k];
                    } else {
                        pts[len] = grid[k];
                        pts[len + 1] = e;
                    }
                    len += 2;
                    continue;
                }
            }
            pts[len] = grid[k];
            len += 1;
        }
        let mut sums = Sums::default();
        for w in pts[..len].windows(2) {
            let ((a, ga), (b, gb)) = (w[0], w[1]);
            if (ga - y >= 0.0) != (gb - y >= 0.0) {
                let r = self.root(a, ga - y, b, gb - y, y);
                let dz = 1e-6 * (1.0 + r.abs());
                let slope = ((self.g(r + dz) - self.g(r - dz)) / (2.0 * dz))
                    .abs()
                    .max(1e-12);
                let t = (r - p) / sd;
                sums.add((-0.5 * t * t).exp() / slope, r);
            }
        }
        (sums.0 > 0.0).then_some(sums)
    }

    /// The point mass where `g` comes closest to `y` on the window: the posterior when `y`
    /// only touches `g` (at a turning point) or is out of reach.
    fn nearest(&self, y: f64, p: f64, sd: f64) -> Sums {
        let mut best = (p, f64::INFINITY);
        for k in 0..=4 * ROOT_CELLS {
            let z = p + sd * WINDOW * (k as f64 / (2 * ROOT_CELLS) as f64 - 1.0);
            let gap = (self.g(z) - y).abs();
            if gap < best.1 {
                best = (z, gap);
            }
        }
        let mut sums = Sums::default();
        sums.add(1.0, best.0);
        sums
    }

    /// The extremum of `g` on `[a, b]` (a maximum if `rising`), by golden-section search.
    fn turning_point(&self, mut a: f64, mut b: f64, rising: bool) -> (f64, f64) {
        let sign = if rising { -1.0 } else { 1.0 };
        let ratio = 0.5 * (5f64.sqrt() - 1.0);
        let mut c = b - ratio * (b - a);
        let mut d = a + ratio * (b - a);
        let (mut fc, mut fd) = (sign * self.g(c), sign * self.g(d));
        for _ in 0..48 {
            if fc < fd {
                b = d;
                d = c;
                fd = fc;
                c = b - ratio * (b - a);
                fc = sign * self.g(c);
            } else {
                a = c;
                c = d;
                fc = fd;
                d = a + ratio * (b - a);
                fd = sign * self.g(d);
            }
        }
        let z = 0.5 * (a + b);
        (z, self.g(z))
    }

    /// The root of `g − y` on `[a, b]` (values `fa`, `fb` of opposite signs), by the
    /// Illinois variant of regula falsi.
    fn root(&self, mut a: f64, mut fa: f64, mut b: f64, mut fb: f64, y: f64) -> f64 {
        let mut side = 0;
        let mut best = if fa.abs() < fb.abs() {
            (a, fa)
        } else {
            (b, fb)
        };
        for _ in 0..100 {
            let c = (a * fb - b * fa) / (fb - fa);
            if !c.is_finite() || (b - a).abs() <= 1e-14 * (1.0 + a.abs()) {
                break;
            }
            let fc = self.g(c) - y;
            if fc.abs() < best.1.abs() {
                best = (c, fc);
            }
            if fc == 0.0 || best.1.abs() <= 1e-15 * (1.0 + y.abs()) {
                break;
            }
            if (fc > 0.0) == (fb > 0.0) {
                b = c;
                fb = fc;
                if side == -1 {
                    fa *= 0.5;
                }
                side = -1;
            } else {
                a = c;
                fa = fc;
                if side == 1 {
                    fb *= 0.5;
                }
                side = 1;
            }
        }
        best.0
    }

    /// Posterior sums of the noisy channel on a Simpson grid over the window.
    fn noisy_sums(&self, y: f64, p: f64, sd: f64) -> Sums {
        let h = 2.0 * WINDOW * sd / (NOISY_POINTS - 1) as f64;
        let inv = 0.5 / (self.noise * self.noise);
        let mut logw = [0.0; NOISY_POINTS];
        let mut top = f64::NEG_INFINITY;
        for (k, l) in logw.iter_mut().enumerate() {
            let t = -WINDOW + k as f64 * h / sd;
            let r = y - self.g(p + sd * t);
            *l = -0.5 * t * t - inv * r * r;
            if l.is_finite() {
                top = top.max(*l);
            }
        }
        let mut sums = Sums::default();
        if !top.is_finite() {
            return sums;
        }
        for (k, l) in logw.iter().enumerate() {
            let simpson = if k == 0 || k == NOISY_POINTS - 1 {
                1.0
            } else if k % 2 == 1 {
                4.0
            } else {
                2.0
            };
            if l.is_finite() {
                sums.add(
                    simpson * (l - top).exp(),
                    p + sd * (-WINDOW + k as f64 * h / sd),
                );
            }
        }
        sums
    }

    /// `E_{(z, ε)}[h(y)]` for `z ~ N(0, 1)`: Gauss–Hermite over `z` (and `ε`).
    fn expect_over_y(&self, h: impl Fn(f64) -> f64) -> f64 {
        if self.noise > 0.0 {
            let rule = TensorGaussHermite::new(2, F_ORDER_NOISY).expect("valid order");
            rule.expect(|g| h(self.sample(g[0], g[1])))
        } else {
            let rule = GaussHermite::new(F_ORDER).expect("valid order");
            rule.expect(|z| h(self.g(z)))
        }
    }

    /// `E[z²|y]` under the prior `N(0, 1)`.
    fn second_moment(&self, y: f64) -> f64 {
        let (mean, var) = self.posterior(y, 0.0, 1.0);
        var + mean * mean
    }

    /// `F = E_Y[(E[z²|Y] − 1)²]`.
    pub fn fisher(&self) -> f64 {
        self.expect_over_y(|y| (self.second_moment(y) - 1.0).powi(2))
    }

    /// `E_Y[E[z|Y]²]`, zero for a channel without an uninformative fixed point's breaking.
    pub fn mean_signal(&self) -> f64 {
        self.expect_over_y(|y| self.posterior(y, 0.0, 1.0).0.powi(2))
    }

    /// The range of `y` over `|z|, |ε| ≤ 8`.
    fn y_range(&self) -> (f64, f64) {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for k in 0..=1600 {
            let g = self.g(-8.0 + 0.01 * k as f64);
            lo = lo.min(g);
            hi = hi.max(g);
        }
        (lo - 8.0 * self.noise, hi + 8.0 * self.noise)
    }
}

/// The preprocessing `T(y)`: a user formula, or `1 − 1/E[z²|y]` tabulated on a grid of `y`
/// and interpolated linearly (`E[z²|y]` floored at 10⁻³).
#[derive(Clone, Debug)]
enum Weight {
    Formula(Box<Formula>),
    Table {
        lo: f64,
        step: f64,
        values: Vec<f64>,
    },
}

impl Weight {
    fn default_for(channel: &Channel) -> Weight {
        let (lo, hi) = channel.y_range();
        let step = (hi - lo) / (TABLE_POINTS - 1) as f64;
        let values = (0..TABLE_POINTS)
            .map(|k| 1.0 - 1.0 / channel.second_moment(lo + step * k as f64).max(1e-3))
            .collect();
        Weight::Table { lo, step, values }
    }

    fn eval(&self, y: f64) -> f64 {
        match self {
            Weight::Formula(f) => f.eval(&[y]),
            Weight::Table { lo, step, values } => {
                let t = ((y - lo) / step).clamp(0.0, (values.len() - 1) as f64);
                let k = (t as usize).min(values.len() - 2);
                let frac = t - k as f64;
                values[k] * (1.0 - frac) + values[k + 1] * frac
            }
        }
    }
}

/// The state evolution's fixed point.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FixedPoint {
    /// `m`, the squared correlation of the message `p₁` with `z`.
    pub m: f64,
    /// `τ₂` at the fixed point.
    pub tau2: f64,
    /// Squared cosine of the GVAMP estimate with `x`.
    pub overlap: f64,
    /// `(1/d)‖x̂ − x‖²`.
    pub mse: f64,
}

/// The model, ready to run.
pub struct GlmOi {
    p: GlmOiParams,
    n: usize,
    m: usize,
    law: SpectralLaw,
    channel: Channel,
    weight: Weight,
    metrics: Vec<MetricSpec>,
}

/// Per-worker buffers.
pub struct GlmOiWorkspace {
    x: Vec<f64>,
    z: Vec<f64>,
    y: Vec<f64>,
    /// Singular values `s` (m).
    s: Vec<f64>,
    /// `U` (n×m) and `V` (d×m).
    u: Mat<f64>,
    v: Mat<f64>,
    /// The Gaussian draw behind `U` (n×m), or the Gaussian design (n×d); later a
    /// scratch n×m block.
    draw: Mat<f64>,
    /// The Gaussian draw behind `V` (d×m; empty for the Gaussian design).
    draw_v: Mat<f64>,
    coef_u: Mat<f64>,
    coef_v: Mat<f64>,
    scratch: MemBuffer,
    /// m×m: the Gram matrix, then `S Uᵀ diag(T) U S`.
    gram: Mat<f64>,
    eigh: Eigh,
    /// GVAMP state.
    p1: Vec<f64>,
    p2t: Vec<f64>,
    zhat: Vec<f64>,
    c: Vec<f64>,
    xhat: Vec<f64>,
    xold: Vec<f64>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `⟨a, b⟩²/(‖a‖²‖b‖²)`.
fn cosine2(a: &[f64], b: &[f64]) -> f64 {
    let ab = dot(a, b);
    ab * ab / (dot(a, a) * dot(b, b))
}

/// `out ← M·x` for a column-major `M` (k×m), `x` (m).
fn matvec(m: MatRef<'_, f64>, x: &[f64], out: &mut [f64]) {
    out.fill(0.0);
    for (j, &xj) in x.iter().enumerate() {
        let col = m
            .col(j)
            .try_as_col_major()
            .expect("column-major")
            .as_slice();
        for (o, c) in out.iter_mut().zip(col) {
            *o += c * xj;
        }
    }
}

/// `out ← Mᵀ·x` for a column-major `M` (k×m), `x` (k).
fn matvec_t(m: MatRef<'_, f64>, x: &[f64], out: &mut [f64]) {
    for (j, o) in out.iter_mut().enumerate() {
        let col = m
            .col(j)
            .try_as_col_major()
            .expect("column-major")
            .as_slice();
        *o = dot(col, x);
    }
}

/// Overwrites `q` with the Haar-distributed orthonormal columns `Q` of the QR factorisation
/// of the Gaussian `g` (destroyed), the signs fixed so that `R` has a positive diagonal.
fn haar_columns(
    g: MatMut<'_, f64>,
    coef: MatMut<'_, f64>,
    mut q: MatMut<'_, f64>,
    stack: &mut MemStack,
) {
    let mut g = g;
    let mut coef = coef;
    qr_in_place(
        g.rb_mut(),
        coef.rb_mut(),
        Par::Seq,
        stack,
        Default::default(),
    );
    q.fill(0.0);
    for j in 0..q.ncols() {
        q[(j, j)] = 1.0;
    }
    apply_block_householder_sequence_on_the_left_in_place_with_conj(
        g.rb(),
        coef.rb(),
        Conj::No,
        q.rb_mut(),
        Par::Seq,
        stack,
    );
    for j in 0..q.ncols() {
        if g[(j, j)] < 0.0 {
            for i in 0..q.nrows() {
                q[(i, j)] = -q[(i, j)];
            }
        }
    }
}

/// The scratch a Haar draw of a k×m matrix needs, and its block size.
fn haar_scratch(k: usize, m: usize) -> (StackReq, usize) {
    let bs = recommended_block_size::<f64>(k, m).max(1);
    let req = StackReq::any_of(&[
        qr_in_place_scratch::<f64>(k, m, bs, Par::Seq, Default::default()),
        apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(k, bs, m),
    ]);
    (req, bs)
}

impl GlmOi {
    pub fn new(p: GlmOiParams) -> Result<Self> {
        if p.d < 2 {
            return Err(Error::invalid(
                "d",
                format!("must be in 2..={MAX_D}, got {}", p.d),
            ));
        }
        check_at_most("d", p.d, MAX_D)?;
        let max_delta = MAX_N as f64 / p.d as f64;
        if !(p.delta.is_finite() && p.delta > 0.0 && p.delta <= max_delta) {
            return Err(Error::invalid(
                "delta",
                format!(
                    "must be a number in (0, {max_delta}] (n = round(δd) ≤ {MAX_N}), got {}",
                    p.delta
                ),
            ));
        }
        let n = (p.delta * p.d as f64).round() as usize;
        if n < 2 {
            return Err(Error::invalid(
                "delta",
                format!("gives n = {n} rows; at least 2 are needed"),
            ));
        }
        if n * p.d > MAX_ND {
            return Err(Error::invalid(
                "delta",
                format!("gives n·d = {} above the ceiling {MAX_ND}", n * p.d),
            ));
        }
        let spectrum = Self::spectrum(&p)?;
        if p.amp_iterations == 0 {
            return Err(Error::invalid(
                "amp_iterations",
                format!("must be in 1..={MAX_ITER}, got 0"),
            ));
        }
        check_at_most("amp_iterations", p.amp_iterations, MAX_ITER)?;
        if !(p.amp_tol.is_finite() && (0.0..1.0).contains(&p.amp_tol)) {
            return Err(Error::invalid(
                "amp_tol",
                format!("must be a number in [0, 1), got {}", p.amp_tol),
            ));
        }
        let channel = Channel::parse(&p.channel)?;
        let weight = match &p.preprocessing {
            Some(text) => Weight::Formula(Box::new(Formula::parse("preprocessing", text, &["y"])?)),
            None => Weight::default_for(&channel),
        };
        let (lo, hi) = channel.y_range();
        for k in 0..=400 {
            let y = lo + (hi - lo) * k as f64 / 400.0;
            if !weight.eval(y).is_finite() {
                return Err(Error::invalid(
                    "preprocessing",
                    format!("is not finite at y = {y}, a value the channel produces"),
                ));
            }
        }
        let delta_eff = n as f64 / p.d as f64;
        let metrics = vec![
            MetricSpec::new(
                "overlap_spectral",
                "1",
                "squared cosine ⟨x̂ₛ, x⟩²/(‖x̂ₛ‖²‖x‖²) of the top eigenvector of (1/n)Aᵀdiag(T(y))A",
            ),
            MetricSpec::new(
                "overlap_amp",
                "1",
                "squared cosine ⟨x̂, x⟩²/(‖x̂‖²‖x‖²) of GVAMP's final estimate",
            ),
            MetricSpec::new(
                "mse_amp",
                "1",
                "min over the sign of (1/d)‖x̂ ∓ x‖², GVAMP's final estimate",
            ),
            MetricSpec::new("iterations", "1", "GVAMP iterations run"),
        ];
        Ok(GlmOi {
            n,
            m: n.min(p.d),
            law: SpectralLaw::new(spectrum, delta_eff),
            channel,
            weight,
            metrics,
            p,
        })
    }

    fn spectrum(p: &GlmOiParams) -> Result<Spectrum> {
        match p.spectrum.as_str() {
            "gaussian" => Ok(Spectrum::Gaussian),
            "uniform" => {
                let (a, b) = (p.spectrum_a, p.spectrum_b);
                if !(a.is_finite() && (0.0..=MAX_SPECTRUM).contains(&a)) {
                    return Err(Error::invalid(
                        "spectrum_a",
                        format!("must be a number in [0, {MAX_SPECTRUM}], got {a}"),
                    ));
                }
                if !(b.is_finite() && b > 0.0 && b >= a && b <= MAX_SPECTRUM) {
                    return Err(Error::invalid(
                        "spectrum_b",
                        format!(
                            "must be a number in (0, {MAX_SPECTRUM}] and ≥ spectrum_a = {a}, got {b}"
                        ),
                    ));
                }
                Ok(Spectrum::Uniform { a, b })
            }
            "list" => {
                let v = &p.spectrum_values;
                if v.is_empty() || v.len() > MAX_LIST {
                    return Err(Error::invalid(
                        "spectrum_values",
                        format!(
                            "must hold 1 to {MAX_LIST} values with spectrum = \"list\", got {}",
                            v.len()
                        ),
                    ));
                }
                if let Some(bad) = v
                    .iter()
                    .find(|u| !(u.is_finite() && **u >= 0.0 && **u <= MAX_SPECTRUM))
                {
                    return Err(Error::invalid(
                        "spectrum_values",
                        format!("must be numbers in [0, {MAX_SPECTRUM}], got {bad}"),
                    ));
                }
                if v.iter().all(|u| *u == 0.0) {
                    return Err(Error::invalid(
                        "spectrum_values",
                        "must not all be 0".to_string(),
                    ));
                }
                Ok(Spectrum::List(v.clone()))
            }
            other => Err(Error::invalid(
                "spectrum",
                format!("must be \"gaussian\", \"uniform\" or \"list\", got \"{other}\""),
            )),
        }
    }

    pub fn build(table: toml::Table) -> Result<Self> {
        let params: GlmOiParams = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| crate::models::parameter_error(&e.to_string()))?;
        Self::new(params)
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "glm-oi-amp",
            summary: "GLM y = f(Ax, ε) with an orthogonally invariant design A = U diag(s) Vᵀ: spectral estimator, then GVAMP from it; state evolution, weak-recovery threshold δ_c and (Gaussian design) the Lu–Li spectral limit",
            source: "Zhang, Ji, Venkataramanan, Mondelli, \"Optimal spectral estimators and AMP for GLMs with orthogonally invariant designs\", arXiv 2602.09240",
            params: describe::<GlmOiParams>(
                &[
                    ("d", "dimension of x (2 to 3000)"),
                    (
                        "delta",
                        "rows per dimension, n = round(δd) (n ≤ 100000, n·d ≤ 8·10⁶)",
                    ),
                    (
                        "spectrum",
                        "\"gaussian\" (i.i.d. N(0, 1/d) entries), \"uniform\" (squared singular values uniform on [spectrum_a, spectrum_b] in shape) or \"list\" (equal proportions of spectrum_values); rescaled so that E z² = 1",
                    ),
                    ("spectrum_a", "lower end of the uniform shape (0 to 10⁶)"),
                    (
                        "spectrum_b",
                        "upper end of the uniform shape (> 0, ≥ spectrum_a, ≤ 10⁶)",
                    ),
                    (
                        "spectrum_values",
                        "squared singular values of the \"list\" shape (1 to 4096 numbers in [0, 10⁶])",
                    ),
                    (
                        "channel",
                        "y as a formula in z and eps, of the form g(z) + σ·eps, e.g. \"z^2\" or \"abs(z) + 0.3*eps\"",
                    ),
                    (
                        "preprocessing",
                        "T(y) of the spectral estimator, a formula in y",
                    ),
                    ("amp_iterations", "most GVAMP iterations (1 to 10000)"),
                    (
                        "amp_tol",
                        "GVAMP stops when ‖x̂ₜ − x̂ₜ₋₁‖² ≤ tol·‖x̂ₜ‖² (0 to 1)",
                    ),
                ],
                &[("preprocessing", "1 − 1/E[z²|y], computed from the channel")],
            ),
        }
    }

    /// `n`.
    pub fn rows(&self) -> usize {
        self.n
    }

    fn gaussian(&self) -> bool {
        self.law.spectrum == Spectrum::Gaussian
    }

    /// `mmse(m) = E Var[z | y, p₁]` with `p₁ ~ N(0, m)`, `z = p₁ + N(0, 1 − m)`.
    fn output_mmse(&self, m: f64, rule: &TensorGaussHermite) -> f64 {
        let (sm, sw) = (m.sqrt(), (1.0 - m).sqrt());
        let v = 1.0 - m;
        rule.expect(|g| {
            let p = sm * g[0];
            let z = p + sw * g[1];
            let y = self.channel.sample(z, if g.len() > 2 { g[2] } else { 0.0 });
            self.channel.posterior(y, p, v).1
        })
    }

    fn se_rule(&self) -> TensorGaussHermite {
        if self.channel.noise > 0.0 {
            TensorGaussHermite::new(3, SE_ORDER_NOISY).expect("valid order")
        } else {
            TensorGaussHermite::new(2, SE_ORDER).expect("valid order")
        }
    }

    /// One state-evolution step: `m ↦ (m', τ₂)`.
    fn se_step(&self, m: f64, rule: &TensorGaussHermite) -> (f64, f64) {
        let mmse = self.output_mmse(m, rule).max(1e-300);
        let tau2 = (1.0 / mmse - 1.0 / (1.0 - m)).max(0.0);
        let tau1 = 1.0 / self.law.vz(tau2) - tau2;
        ((1.0 - 1.0 / tau1).clamp(0.0, 1.0), tau2)
    }

    /// The state evolution's fixed point reached from `m = 10⁻⁶` (the smallest fixed point
    /// above it; `m = 0` when the map contracts there): located on a grid geometric
    /// towards 0 and towards 1, then refined by bisection.
    pub fn fixed_point(&self) -> FixedPoint {
        let rule = self.se_rule();
        let excess = |m: f64| self.se_step(m, &rule).0 - m;
        let point = |m: f64| self.point(m, &rule);
        if excess(SE_START) <= 0.0 {
            return point(0.0);
        }
        let grid = (1..=24)
            .map(|k| SE_START * (0.5 / SE_START).powf(k as f64 / 24.0))
            .chain((1..=16).map(|k| 1.0 - 0.5 * (1e-9f64 / 0.5).powf(k as f64 / 16.0)));
        let mut lo = SE_START;
        for hi in grid {
            if excess(hi) <= 0.0 {
                let mut hi = hi;
                for _ in 0..40 {
                    let mid = 0.5 * (lo + hi);
                    if excess(mid) > 0.0 {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                return point(0.5 * (lo + hi));
            }
            lo = hi;
        }
        point(lo)
    }

    /// The state evolution's largest fixed point, reached from `m = 1 − 10⁻⁹`: where it
    /// differs from [`GlmOi::fixed_point`], the two coexist and an algorithm's start
    /// decides which it reaches.
    pub fn fixed_point_from_above(&self) -> FixedPoint {
        let rule = self.se_rule();
        let excess = |m: f64| self.se_step(m, &rule).0 - m;
        let grid: Vec<f64> = (1..=24)
            .map(|k| SE_START * (0.5 / SE_START).powf(k as f64 / 24.0))
            .chain((1..=16).map(|k| 1.0 - 0.5 * (1e-9f64 / 0.5).powf(k as f64 / 16.0)))
            .collect();
        let mut hi = grid[grid.len() - 1];
        let mut m = 0.0;
        if excess(hi) >= 0.0 {
            m = hi;
        } else {
            for &lo in grid.iter().rev().skip(1) {
                if excess(lo) >= 0.0 {
                    let mut lo = lo;
                    for _ in 0..40 {
                        let mid = 0.5 * (lo + hi);
                        if excess(mid) >= 0.0 {
                            lo = mid;
                        } else {
                            hi = mid;
                        }
                    }
                    m = 0.5 * (lo + hi);
                    break;
                }
                hi = lo;
            }
        }
        self.point(m, &rule)
    }

    /// The fixed point record at message overlap `m`.
    fn point(&self, m: f64, rule: &TensorGaussHermite) -> FixedPoint {
        let tau2 = self.se_step(m, rule).1;
        let r = self.law.r(tau2);
        FixedPoint {
            m,
            tau2,
            overlap: (1.0 - r).max(0.0),
            mse: r,
        }
    }

    /// The weak-recovery threshold from `F` and the spectral law: `None` when the channel
    /// has `E[z|y] ≠ 0` (no uninformative fixed point: any `δ` recovers).
    pub fn threshold(&self) -> Option<f64> {
        if self.channel.mean_signal() > 1e-10 {
            return None;
        }
        let f = self.channel.fisher();
        Some(match self.law.spectrum {
            Spectrum::Gaussian => 1.0 / f,
            _ => {
                let c = (1.0 + 1.0 / f) / self.law.kappa();
                if c >= 1.0 { c } else { 0.0 }
            }
        })
    }

    /// The Lu–Li limit of the spectral estimator on the Gaussian design.
    fn lu_li(&self) -> Result<crate::theory::spectral_single_index::SpectralLimit> {
        let rule = GaussHermite::new(LU_LI_NOISE_ORDER)?;
        let noise: Vec<(f64, f64)> = if self.channel.noise > 0.0 {
            rule.nodes()
                .iter()
                .copied()
                .zip(rule.weights().iter().copied())
                .collect()
        } else {
            vec![(0.0, 1.0)]
        };
        let t = |g: f64, e: f64| self.weight.eval(self.channel.sample(g, e));
        let mut sup = f64::NEG_INFINITY;
        for k in 0..=24_000 {
            let g = -12.0 + 1e-3 * k as f64;
            for &(e, _) in &noise {
                sup = sup.max(t(g, e));
            }
        }
        if sup.is_nan() || sup <= 0.0 {
            return Err(Error::invalid(
                "preprocessing",
                format!(
                    "must take positive values for the spectral estimator to have a limit (sup T = {sup})"
                ),
            ));
        }
        let (channel, weight) = (self.channel.clone(), self.weight.clone());
        let pre = Preprocessing::with_noise(
            move |g, e| weight.eval(channel.sample(g, e)),
            sup,
            vec![],
            &noise,
        )?;
        pre.at(self.law.delta)
    }
}

impl Model for GlmOi {
    type Workspace = GlmOiWorkspace;

    fn name(&self) -> &'static str {
        "glm-oi-amp"
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn workspace(&self) -> GlmOiWorkspace {
        let (n, d, m) = (self.n, self.p.d, self.m);
        let gaussian = self.gaussian();
        let (req_u, bs_u) = haar_scratch(n, m);
        let (req_v, bs_v) = haar_scratch(d, m);
        GlmOiWorkspace {
            x: vec![0.0; d],
            z: vec![0.0; n],
            y: vec![0.0; n],
            s: vec![0.0; m],
            u: Mat::zeros(n, m),
            v: Mat::zeros(d, m),
            draw: if gaussian {
                Mat::zeros(n, d)
            } else {
                Mat::zeros(n, m)
            },
            draw_v: if gaussian {
                Mat::zeros(0, 0)
            } else {
                Mat::zeros(d, m)
            },
            coef_u: if gaussian {
                Mat::zeros(0, 0)
            } else {
                Mat::zeros(bs_u, m)
            },
            coef_v: if gaussian {
                Mat::zeros(0, 0)
            } else {
                Mat::zeros(bs_v, m)
            },
            scratch: MemBuffer::new(if gaussian {
                StackReq::EMPTY
            } else {
                StackReq::any_of(&[req_u, req_v])
            }),
            gram: Mat::zeros(m, m),
            eigh: Eigh::new(m),
            p1: vec![0.0; n],
            p2t: vec![0.0; n],
            zhat: vec![0.0; n],
            c: vec![0.0; m],
            xhat: vec![0.0; d],
            xold: vec![0.0; d],
        }
    }

    /// Draws, in this order: `x` (d normals); the design (`Aᵢⱼ`, n·d normals column by
    /// column, or the n×m then d×m Gaussian matrices behind `U` and `V`); the channel noise
    /// (n normals, only with noise). Then the spectral estimate and GVAMP from it.
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut GlmOiWorkspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        for xi in ws.x.iter_mut() {
            *xi = normal(rng);
        }
        self.draw_design(rng, ws).map_err(|e| e.to_string())?;
        for (i, yi) in ws.y.iter_mut().enumerate() {
            let eps = if self.channel.noise > 0.0 {
                normal(rng)
            } else {
                0.0
            };
            *yi = self.channel.sample(ws.z[i], eps);
        }
        let spectral = self.spectral(ws).map_err(|e| e.to_string())?;
        let iterations = self.gvamp(ws);
        let (xx, xh, hh) = (
            dot(&ws.x, &ws.x),
            dot(&ws.x, &ws.xhat),
            dot(&ws.xhat, &ws.xhat),
        );
        let overlap = if hh > 0.0 { xh * xh / (xx * hh) } else { 0.0 };
        let mse = (xx - 2.0 * xh.abs() + hh) / self.p.d as f64;
        let values = [spectral, overlap, mse, iterations as f64];
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!("{} is not finite", self.metrics[bad].name));
        }
        out[..4].copy_from_slice(&values);
        Ok(())
    }

    /// The GVAMP state evolution's fixed point (means of `overlap_amp` and `mse_amp`), the
    /// threshold `δ_c` with `F`, and on the Gaussian design the Lu–Li limit (mean of
    /// `overlap_spectral`). The means are not decisive: [`Model::criteria`] tests them
    /// with a finite-size allowance.
    fn predict(&self) -> Result<Prediction> {
        let fp = self.fixed_point();
        let top = if fp.m >= 1.0 - 1e-6 {
            fp
        } else {
            self.fixed_point_from_above()
        };
        let mut quantities = vec![
            Quantity::exact("se_overlap", fp.overlap),
            Quantity::exact("se_mse", fp.mse),
            Quantity::exact("se_message_overlap", fp.m),
            Quantity::exact("se_overlap_from_informative", top.overlap),
            Quantity::exact("lmmse_gain", self.law.gain()),
        ];
        let mut warnings = Vec::new();
        if top.overlap - fp.overlap > 1e-3 {
            warnings.push(format!(
                "two stable state-evolution fixed points coexist (overlap {:.4} reached from an uninformative start, {:.4} from an informative one): at finite d GVAMP from the spectral start may reach either, which the overlap_amp criterion does not allow for",
                fp.overlap, top.overlap
            ));
        }
        let mut notes = Vec::new();
        match self.threshold() {
            Some(c) => {
                let f = self.channel.fisher();
                quantities.push(Quantity::exact("fisher_f", f));
                quantities.push(Quantity::exact("weak_recovery_gain", f * self.law.gain()));
                quantities.push(Quantity::exact("delta_c", c));
                if !self.gaussian() {
                    quantities.push(Quantity::exact("delta_c_gaussian_design", 1.0 / f));
                }
            }
            None => notes.push(
                "E[z|y] ≠ 0 for this channel: the uninformative point is not a fixed point and every δ > 0 gives weak recovery (no δ_c)".to_string(),
            ),
        }
        let mean = |metric: &str, value: f64| MeanPrediction {
            metric: metric.into(),
            value,
            se: 0.0,
            decisive: false,
        };
        let mut means = vec![mean("overlap_amp", fp.overlap), mean("mse_amp", fp.mse)];
        if self.gaussian() {
            let lim = self.lu_li()?;
            quantities.push(Quantity::exact("lu_li_overlap", lim.overlap2));
            quantities.push(Quantity::exact("lu_li_top_eigenvalue", lim.top_eigenvalue));
            quantities.push(Quantity::exact("lu_li_bulk_edge", lim.bulk_edge));
            means.push(mean("overlap_spectral", lim.overlap2));
        } else {
            notes.push(
                "overlap_spectral has no prediction on a non-Gaussian design: the paper's optimal spectral estimator for orthogonally invariant designs was not recovered; it is measured only".to_string(),
            );
        }
        Ok(Prediction {
            model: "glm-oi-amp".into(),
            quantities,
            means,
            warnings,
            detail: Some(serde_json::json!({
                "fixed_point": fp,
                "fixed_point_from_informative": top,
                "notes": notes,
            })),
            ..Default::default()
        })
    }

    /// `overlap_amp` (and on the Gaussian design `overlap_spectral`) within 3 s.e. plus a
    /// finite-size allowance `1.5/√d` of the predicted value; below `δ_c` the prediction is
    /// 0 (no informative fixed point).
    fn criteria(&self, prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        let allowance = ALLOWANCE / (self.p.d as f64).sqrt();
        let mut out = Vec::new();
        for (metric, what) in [
            (
                "overlap_amp",
                "GVAMP's overlap matches the state evolution's fixed point",
            ),
            (
                "overlap_spectral",
                "the spectral overlap matches the Lu–Li limit",
            ),
        ] {
            let (Some(pred), Some(col)) = (prediction.mean(metric), trials.column(metric)) else {
                continue;
            };
            let Some(s) = crate::stats::Summary::of(&col) else {
                continue;
            };
            out.push(Criterion {
                name: format!("{metric}_matches_theory"),
                statement: format!(
                    "{what}: mean within 3 s.e. + {allowance:.3} (finite-d allowance 1.5/√d) of {:.4}",
                    pred.value
                ),
                predicted: Some(pred.value),
                measured: s.mean,
                se: Some(s.se),
                pass: (s.mean - pred.value).abs() <= 3.0 * s.se + allowance,
            });
        }
        out
    }

    fn default_trials(&self) -> u64 {
        20
    }

    /// A trial holds `U`, `V`, the draws (n×d for the Gaussian design), an m×m Gram matrix
    /// and its eigendecomposition; it costs the QR factorisations (≈ 4(n + d)m²), the
    /// spectral matrix (n m² + 10 m³), and per GVAMP iteration ≈ 6(n + d)m flops and n
    /// posterior evaluations (≈ 200 formula evaluations each, ≈ 300 with noise).
    fn cost(&self) -> Cost {
        let (n, d, m) = (self.n as f64, self.p.d as f64, self.m as f64);
        let gaussian = self.gaussian();
        let draws = if gaussian { n * d } else { (n + d) * m };
        let bytes = super::doubles(n * m + d * m + draws + 3.0 * m * m + 6.0 * (n + d));
        let per_eval = if self.channel.noise > 0.0 {
            300.0
        } else {
            200.0
        } * 50.0;
        let iter = self.p.amp_iterations as f64;
        let flops = 4.0 * (n + d) * m * m
            + n * m * m
            + 10.0 * m * m * m
            + iter * (6.0 * (n + d) * m + n * per_eval);
        let se_points = if self.channel.noise > 0.0 {
            4096.0 * 300.0
        } else {
            1600.0 * 200.0
        };
        Cost {
            trial: Need::new(bytes, flops, if n >= d { "delta" } else { "d" }),
            predict: Need::new(1e7, 100.0 * se_points * 50.0 + 1e9, "channel"),
        }
    }

    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("d", serde_json::json!(self.p.d)),
            ("n", serde_json::json!(self.n)),
            ("spectrum", serde_json::json!(self.p.spectrum)),
            ("channel", serde_json::json!(self.p.channel)),
        ]
    }
}

impl GlmOi {
    /// Draws the design and fills `s`, `U`, `V` and `z = Ax`.
    fn draw_design(&self, rng: &mut ChaCha8Rng, ws: &mut GlmOiWorkspace) -> Result<()> {
        let (n, d, m) = (self.n, self.p.d, self.m);
        if self.gaussian() {
            let scale = 1.0 / (d as f64).sqrt();
            for j in 0..d {
                for i in 0..n {
                    ws.draw[(i, j)] = scale * normal(rng);
                }
            }
            matvec(ws.draw.as_ref(), &ws.x, &mut ws.z);
            // Thin SVD from the smaller Gram matrix: n ≥ d: AᵀA = V S² Vᵀ, U = AVS⁻¹;
            // n < d: AAᵀ = U S² Uᵀ, V = AᵀUS⁻¹.
            let a = ws.draw.as_ref();
            let (small, big, small_out, big_out) = if n >= d {
                (a.transpose(), a, &mut ws.v, &mut ws.u)
            } else {
                (a, a.transpose(), &mut ws.u, &mut ws.v)
            };
            mul_into(
                ws.gram.as_mut(),
                Accum::Replace,
                small,
                small.transpose(),
                1.0,
            );
            ws.eigh.compute(ws.gram.as_ref())?;
            small_out.as_mut().copy_from(ws.eigh.vectors());
            mul_into(
                big_out.as_mut(),
                Accum::Replace,
                big,
                small_out.as_ref(),
                1.0,
            );
            for j in 0..m {
                let s2 = ws.eigh.values()[j];
                ws.s[j] = s2.max(0.0).sqrt();
                let inv = if ws.s[j] > 0.0 { 1.0 / ws.s[j] } else { 0.0 };
                for i in 0..big_out.nrows() {
                    big_out[(i, j)] *= inv;
                }
            }
        } else {
            for j in 0..m {
                for i in 0..n {
                    ws.draw[(i, j)] = normal(rng);
                }
            }
            for j in 0..m {
                for i in 0..d {
                    ws.draw_v[(i, j)] = normal(rng);
                }
            }
            let stack = MemStack::new(&mut ws.scratch);
            haar_columns(ws.draw.as_mut(), ws.coef_u.as_mut(), ws.u.as_mut(), stack);
            haar_columns(ws.draw_v.as_mut(), ws.coef_v.as_mut(), ws.v.as_mut(), stack);
            let mut s2 = std::mem::take(&mut ws.s);
            self.law.fill_singular_values(&mut s2);
            ws.s = s2;
            matvec_t(ws.v.as_ref(), &ws.x, &mut ws.c);
            for (c, s) in ws.c.iter_mut().zip(&ws.s) {
                *c *= s;
            }
            matvec(ws.u.as_ref(), &ws.c, &mut ws.z);
        }
        Ok(())
    }

    /// The spectral estimate `x̂ₛ = V w` (into `xhat`), `w` the top eigenvector of
    /// `S Uᵀ diag(T(y)) U S` (m×m, the nonzero spectrum of `AᵀDA`); returns its squared
    /// cosine with `x`.
    fn spectral(&self, ws: &mut GlmOiWorkspace) -> Result<f64> {
        let (n, m) = (self.n, self.m);
        for (t, y) in ws.zhat.iter_mut().zip(&ws.y) {
            *t = self.weight.eval(*y);
        }
        let mut tu = ws.draw.as_mut().submatrix_mut(0, 0, n, m);
        for j in 0..m {
            let sj = ws.s[j];
            for i in 0..n {
                tu[(i, j)] = ws.zhat[i] * ws.u[(i, j)] * sj;
            }
        }
        mul_into(
            ws.gram.as_mut(),
            Accum::Replace,
            ws.u.as_ref().transpose(),
            tu.as_ref(),
            1.0,
        );
        for i in 0..m {
            for j in 0..m {
                ws.gram[(i, j)] *= ws.s[i] / n as f64;
            }
        }
        ws.eigh.compute(ws.gram.as_ref())?;
        for (c, w) in ws.c.iter_mut().zip(ws.eigh.vectors().col(0).iter()) {
            *c = *w;
        }
        matvec(ws.v.as_ref(), &ws.c, &mut ws.xhat);
        Ok(cosine2(&ws.xhat, &ws.x))
    }

    /// GVAMP from the spectral estimate in `xhat` (module docs); leaves the final estimate
    /// in `xhat` and returns the iterations run.
    fn gvamp(&self, ws: &mut GlmOiWorkspace) -> usize {
        let n_f = self.n as f64;
        let norm = (self.p.d as f64 / dot(&ws.xhat, &ws.xhat)).sqrt();
        // p₁ = √m₀·A(√d x̂ₛ/‖x̂ₛ‖).
        matvec_t(ws.v.as_ref(), &ws.xhat, &mut ws.c);
        for (c, s) in ws.c.iter_mut().zip(&ws.s) {
            *c *= s * norm * INIT_CONFIDENCE.sqrt();
        }
        matvec(ws.u.as_ref(), &ws.c, &mut ws.p1);
        let mut tau1 = 1.0 / (1.0 - INIT_CONFIDENCE);
        let mut tau2 = 0.0;
        let mut iterations = 0;
        for t in 1..=self.p.amp_iterations {
            iterations = t;
            // Output module.
            let v = 1.0 / tau1;
            let mut vsum = 0.0;
            for i in 0..self.n {
                let (mean, var) = self.channel.posterior(ws.y[i], ws.p1[i], v);
                ws.zhat[i] = mean;
                vsum += var;
            }
            // Precisions are capped at 10³⁰ (a posterior variance of exactly 0 would
            // overflow the messages).
            let eta1 = n_f / vsum.max(n_f * 1e-30);
            let fresh = (eta1 - tau1).max(1e-12 * eta1);
            // Damped p₂ and τ₂ (the first message undamped); p2t holds τ₂p₂.
            let (rho, old) = if t == 1 { (1.0, 0.0) } else { (DAMPING, tau2) };
            tau2 = rho * fresh + (1.0 - rho) * old;
            for i in 0..self.n {
                let p2_old = if old > 0.0 { ws.p2t[i] / old } else { 0.0 };
                let p2_new = (eta1 * ws.zhat[i] - tau1 * ws.p1[i]) / fresh;
                ws.p2t[i] = tau2 * (rho * p2_new + (1.0 - rho) * p2_old);
            }
            // LMMSE module.
            matvec_t(ws.u.as_ref(), &ws.p2t, &mut ws.c);
            let mut vz = 0.0;
            for (c, s) in ws.c.iter_mut().zip(&ws.s) {
                let k = 1.0 / (1.0 + tau2 * s * s);
                vz += s * s * k;
                *c *= s * k;
            }
            std::mem::swap(&mut ws.xold, &mut ws.xhat);
            matvec(ws.v.as_ref(), &ws.c, &mut ws.xhat);
            for (c, s) in ws.c.iter_mut().zip(&ws.s) {
                *c *= s;
            }
            matvec(ws.u.as_ref(), &ws.c, &mut ws.zhat);
            let eta2 = n_f / vz.max(n_f * 1e-30);
            tau1 = eta2 - tau2;
            for i in 0..self.n {
                ws.p1[i] = (eta2 * ws.zhat[i] - ws.p2t[i]) / tau1;
            }
            let change: f64 = ws
                .xhat
                .iter()
                .zip(&ws.xold)
                .map(|(a, b)| (a - b).powi(2))
                .sum();
            if !(change.is_finite() && tau1.is_finite() && tau1 > 0.0) {
                // The messages overflowed (below δ_c the output module's τ₂ can vanish):
                // keep the last finite estimate.
                std::mem::swap(&mut ws.xold, &mut ws.xhat);
                break;
            }
            if t > 1 && change <= self.p.amp_tol * dot(&ws.xhat, &ws.xhat) {
                break;
            }
        }
        iterations
    }
}

/// The statement `pretrainlab audit` tests: GVAMP from the spectral estimate reaches the
/// state evolution's fixed point at the default instance.
pub const CLAIMS: &[Claim] = &[Claim {
    id: "glm-oi-amp-state-evolution",
    paper: "Zhang, Ji, Venkataramanan, Mondelli, Optimal spectral estimators and AMP for GLMs with orthogonally invariant designs, arXiv 2602.09240",
    location: "GVAMP state evolution for orthogonally invariant designs (Bayes-optimal denoisers), noiseless phase retrieval",
    statement: "GVAMP initialised by the spectral estimator reaches the overlap of its state evolution's fixed point",
    params: "",
    trials: 20,
    quick_trials: 8,
    test: crate::audit::ClaimTest::Generic,
}];

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn model(spectrum: &str, delta: f64, d: usize, channel: &str) -> GlmOi {
        GlmOi::new(GlmOiParams {
            d,
            delta,
            spectrum: spectrum.into(),
            channel: channel.into(),
            ..GlmOiParams::default()
        })
        .unwrap()
    }

    fn run(m: &GlmOi, trials: u64) -> Vec<[f64; 4]> {
        let mut ws = m.workspace();
        (0..trials)
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(100 + t);
                let mut out = [0.0; 4];
                m.trial(&mut rng, t, &mut ws, &mut out).unwrap();
                out
            })
            .collect()
    }

    /// Gaussian design: δ_c = 1/F with F = E_Y[(E[G²|Y] − 1)²] computed independently:
    /// in closed form for noiseless phase retrieval (E[G²|y] = y, F = Var G² = 2, and
    /// E[G²|y] = y² for y = |z|), and by a brute-force double integral on a grid for
    /// y = z² + 0.5ε. Non-even channels have no threshold.
    #[test]
    fn threshold_reduces_to_mondelli_montanari() {
        for channel in ["z^2", "abs(z)"] {
            let c = model("gaussian", 1.0, 50, channel).threshold().unwrap();
            assert!((c - 0.5).abs() < 1e-6, "{channel}: {c}");
        }
        let sigma = 0.5;
        let h = 0.002;
        let zs: Vec<f64> = (0..=10_000).map(|k| -10.0 + h * k as f64).collect();
        let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let mut f = 0.0;
        let hy = 0.01;
        for k in 0..=12_000 {
            let y = -5.0 + hy * k as f64;
            let (mut p, mut m2) = (0.0, 0.0);
            for &z in &zs {
                let r = (y - z * z) / sigma;
                let w = phi(z) * (-0.5 * r * r).exp()
                    / (sigma * (2.0 * std::f64::consts::PI).sqrt())
                    * h;
                p += w;
                m2 += w * z * z;
            }
            if p > 1e-300 {
                f += p * (m2 / p - 1.0).powi(2) * hy;
            }
        }
        let c = model("gaussian", 1.0, 50, "z^2 + 0.5*eps")
            .threshold()
            .unwrap();
        assert!((c * f - 1.0).abs() < 2e-3, "δ_c = {c}, 1/F = {}", 1.0 / f);
        assert!(model("gaussian", 1.0, 50, "z + z^2").threshold().is_none());
    }

    /// Shaped designs: δ_c = (1 + 1/F)/κ, κ = E u²/(E u)² (4/3 for uniform on [0, 1], so
    /// 9/8 for phase retrieval; column-orthogonal, κ = 1: 3/2), and the state evolution
    /// (which never uses F or κ) has no informative fixed point 3% below δ_c and one 3%
    /// above, on both designs.
    #[test]
    fn state_evolution_turns_on_at_the_threshold() {
        let c = model("uniform", 2.0, 50, "z^2").threshold().unwrap();
        assert!((c - 1.125).abs() < 1e-6, "{c}");
        let flat = GlmOi::new(GlmOiParams {
            spectrum: "list".into(),
            spectrum_values: vec![2.0],
            ..GlmOiParams::default()
        })
        .unwrap();
        assert!((flat.threshold().unwrap() - 1.5).abs() < 1e-6);
        for (spec, c) in [("uniform", 1.125), ("gaussian", 0.5)] {
            let below = model(spec, 0.97 * c, 1000, "z^2").fixed_point();
            let above = model(spec, 1.03 * c, 1000, "z^2").fixed_point();
            assert!(below.overlap < 1e-9, "{spec}: {below:?}");
            assert!(above.overlap > 1e-3, "{spec}: {above:?}");
        }
    }

    /// Noiseless real phase retrieval on the Gaussian design: Bayes-AMP's state evolution
    /// reaches perfect recovery from an uninformative start between δ = 1.1 and 1.2
    /// (Barbier, Krzakala, Macris, Miolane, Zdeborová, arXiv 1708.03395: α_alg ≈ 1.13),
    /// while the perfect fixed point already exists at δ = 1.1 (information-theoretic
    /// threshold 1).
    #[test]
    fn phase_retrieval_reaches_perfect_recovery_at_the_known_algorithmic_threshold() {
        let low = model("gaussian", 1.1, 1000, "z^2");
        let (a, b) = (low.fixed_point(), low.fixed_point_from_above());
        assert!(a.overlap < 0.9 && b.overlap > 0.999, "{a:?} {b:?}");
        let high = model("gaussian", 1.2, 1000, "z^2").fixed_point();
        assert!(high.overlap > 0.999, "{high:?}");
    }

    /// The closed forms of r(τ) = (1/d)tr(I + τAᵀA)⁻¹ and v_z(τ) against the spectrum of
    /// drawn designs (Gaussian: eigenvalues of AᵀA at d = 300, within 2%; shaped: the
    /// designed singular values), and the gain against a finite difference of v_z.
    #[test]
    fn spectral_law_matches_drawn_designs() {
        for (spec, delta) in [
            ("gaussian", 2.0),
            ("gaussian", 0.6),
            ("uniform", 1.5),
            ("uniform", 0.7),
        ] {
            let m = model(spec, delta, 300, "z^2");
            let mut ws = m.workspace();
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            ws.x.iter_mut().for_each(|x| *x = normal(&mut rng));
            m.draw_design(&mut rng, &mut ws).unwrap();
            let (d, n) = (m.p.d as f64, m.n as f64);
            for tau in [0.3, 2.0, 10.0] {
                let r = (ws.s.iter().map(|s| 1.0 / (1.0 + tau * s * s)).sum::<f64>() + d
                    - m.m as f64)
                    / d;
                let vz =
                    ws.s.iter()
                        .map(|s| s * s / (1.0 + tau * s * s))
                        .sum::<f64>()
                        / n;
                assert!(
                    (r / m.law.r(tau) - 1.0).abs() < 0.02,
                    "{spec} {delta} {tau}: {r} vs {}",
                    m.law.r(tau)
                );
                assert!(
                    (vz / m.law.vz(tau) - 1.0).abs() < 0.02,
                    "{spec} {delta} {tau}: {vz}"
                );
            }
            let h = 1e-6;
            let fd = (1.0 - m.law.vz(h)) / h - 1.0;
            assert!(
                (fd - m.law.gain()).abs() < 1e-4,
                "{spec}: {fd} vs {}",
                m.law.gain()
            );
            // E z² = 1 (within 4 s.e. of the n samples).
            let z2 = dot(&ws.z, &ws.z) / n;
            assert!(
                (z2 - 1.0).abs() < 4.0 * (2.0 / n).sqrt() + 0.05,
                "{spec}: {z2}"
            );
        }
    }

    /// Haar draws: QᵀQ = I, QᵀG upper triangular with a positive diagonal (the sign fix),
    /// E q⁴ = 3/(k(k + 2)) for the entries of a uniform unit column (within 5%), and
    /// A = U diag(s) Vᵀ has exactly the designed singular values.
    #[test]
    fn haar_draws_are_orthonormal_and_uniform() {
        let (k, m) = (200, 60);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let g0 = Mat::from_fn(k, m, |_, _| normal(&mut rng));
        let mut g = g0.clone();
        let (req, bs) = haar_scratch(k, m);
        let mut buf = MemBuffer::new(req);
        let mut coef = Mat::zeros(bs, m);
        let mut q = Mat::zeros(k, m);
        haar_columns(
            g.as_mut(),
            coef.as_mut(),
            q.as_mut(),
            MemStack::new(&mut buf),
        );
        let qtq = q.transpose() * &q;
        let r = q.transpose() * &g0;
        for i in 0..m {
            for j in 0..m {
                let id = if i == j { 1.0 } else { 0.0 };
                assert!((qtq[(i, j)] - id).abs() < 1e-12);
                if i > j {
                    assert!(r[(i, j)].abs() < 1e-10);
                }
            }
            assert!(r[(i, i)] > 0.0);
        }
        let mut q4 = 0.0;
        let reps = 20;
        for _ in 0..reps {
            let mut g = Mat::from_fn(k, m, |_, _| normal(&mut rng));
            haar_columns(
                g.as_mut(),
                coef.as_mut(),
                q.as_mut(),
                MemStack::new(&mut buf),
            );
            q4 += (0..m)
                .flat_map(|j| (0..k).map(move |i| (i, j)))
                .map(|(i, j)| q[(i, j)].powi(4))
                .sum::<f64>();
        }
        let q4 = q4 / (reps * k * m) as f64 * (k * (k + 2)) as f64 / 3.0;
        assert!((q4 - 1.0).abs() < 0.05, "{q4}");
        let model = model("uniform", 1.5, 40, "z^2");
        let mut ws = model.workspace();
        model.draw_design(&mut rng, &mut ws).unwrap();
        let a = &ws.u
            * Mat::from_fn(40, 40, |i, j| if i == j { ws.s[i] } else { 0.0 })
            * ws.v.transpose();
        let mut s = a.singular_values().unwrap();
        s.sort_by(|x, y| y.total_cmp(x));
        let mut want = ws.s.clone();
        want.sort_by(|x, y| y.total_cmp(x));
        for (x, y) in s.iter().zip(&want) {
            assert!((x - y).abs() < 1e-10, "{x} vs {y}");
        }
        let sum2: f64 = want.iter().map(|s| s * s).sum();
        assert!((sum2 / model.n as f64 - 1.0).abs() < 1e-9);
    }

    /// GVAMP from the spectral estimate against its state evolution at d = 600, 4 seeds:
    /// uniform shape at δ = 2 (the fixed point is perfect recovery) and the Gaussian design
    /// at δ = 0.8 (a partial fixed point); mean overlap within 3 s.e. + 1.5/√d. The
    /// spectral overlap on the Gaussian design against Lu–Li at δ = 2.5, same rule.
    #[test]
    fn gvamp_reaches_its_state_evolution() {
        for (spec, delta) in [("uniform", 2.0), ("gaussian", 0.8)] {
            let m = model(spec, delta, 600, "z^2");
            let fp = m.fixed_point();
            let r = run(&m, 4);
            let col: Vec<f64> = r.iter().map(|o| o[1]).collect();
            let s = crate::stats::Summary::of(&col).unwrap();
            let allowance = ALLOWANCE / 600f64.sqrt();
            assert!(
                (s.mean - fp.overlap).abs() <= 3.0 * s.se + allowance,
                "{spec} {delta}: {s:?} vs {fp:?}"
            );
        }
    }

    /// The spectral estimator on the Gaussian design with T(y) = y/(y + 1), δ = 4: the
    /// predicted Lu–Li overlap against an independent NumPy solution of the same equations
    /// (0.384, to its printed precision), and the simulated mean at d = 600 (4 seeds)
    /// against the prediction within 3 s.e. + 1.5/√d.
    #[test]
    fn spectral_overlap_matches_lu_li_on_the_gaussian_design() {
        let m = GlmOi::new(GlmOiParams {
            d: 600,
            delta: 4.0,
            spectrum: "gaussian".into(),
            preprocessing: Some("y/(y + 1)".into()),
            ..GlmOiParams::default()
        })
        .unwrap();
        let predicted = m.predict().unwrap().quantity("lu_li_overlap").unwrap();
        assert!((predicted - 0.384).abs() < 6e-3, "{predicted}");
        let col: Vec<f64> = run(&m, 4).iter().map(|o| o[0]).collect();
        let s = crate::stats::Summary::of(&col).unwrap();
        assert!(
            (s.mean - predicted).abs() <= 3.0 * s.se + ALLOWANCE / 600f64.sqrt(),
            "{s:?} vs {predicted}"
        );
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let field = |p: GlmOiParams| match GlmOi::new(p) {
            Err(Error::InvalidParameter { field, .. }) => field,
            other => panic!("expected an error, got {:?}", other.map(|_| ())),
        };
        let d = GlmOiParams::default;
        assert_eq!(field(GlmOiParams { d: 1, ..d() }), "d");
        assert_eq!(
            field(GlmOiParams {
                d: MAX_D + 1,
                ..d()
            }),
            "d"
        );
        for delta in [0.0, -1.0, f64::NAN, 1e9] {
            assert_eq!(field(GlmOiParams { delta, ..d() }), "delta");
        }
        for spectrum in ["", "wishart"] {
            assert_eq!(
                field(GlmOiParams {
                    spectrum: spectrum.into(),
                    ..d()
                }),
                "spectrum"
            );
        }
        assert_eq!(
            field(GlmOiParams {
                spectrum_a: -1.0,
                ..d()
            }),
            "spectrum_a"
        );
        assert_eq!(
            field(GlmOiParams {
                spectrum_a: 2.0,
                ..d()
            }),
            "spectrum_b"
        );
        assert_eq!(
            field(GlmOiParams {
                spectrum_b: f64::INFINITY,
                ..d()
            }),
            "spectrum_b"
        );
        let list = |v: Vec<f64>| GlmOiParams {
            spectrum: "list".into(),
            spectrum_values: v,
            ..d()
        };
        for v in [vec![], vec![0.0], vec![1.0, -1.0], vec![f64::NAN]] {
            assert_eq!(field(list(v)), "spectrum_values");
        }
        for channel in [
            "z^2 + w",
            "z^2 * (1 + eps)",
            "",
            "2 + eps",
            "ln(z)",
            "max(z, 0)",
            "z^2 + eps^2",
        ] {
            assert_eq!(
                field(GlmOiParams {
                    channel: channel.into(),
                    ..d()
                }),
                "channel",
                "{channel}"
            );
        }
        for pre in ["tanh(z)", "1/(y - 1) +", "ln(y - 1)"] {
            assert_eq!(
                field(GlmOiParams {
                    preprocessing: Some(pre.into()),
                    ..d()
                }),
                "preprocessing",
                "{pre}"
            );
        }
        assert_eq!(
            field(GlmOiParams {
                amp_iterations: 0,
                ..d()
            }),
            "amp_iterations"
        );
        assert_eq!(
            field(GlmOiParams {
                amp_tol: f64::NAN,
                ..d()
            }),
            "amp_tol"
        );
    }

    #[test]
    fn info_params_match_the_parameter_type() {
        crate::params::assert_describes::<GlmOiParams>(&GlmOi::info().params, &["preprocessing"]);
    }
}
