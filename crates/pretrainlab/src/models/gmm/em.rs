//! Expectation–maximisation for the equal-weight, identity-covariance Gaussian mixture
//! (Tinati & Tu, arXiv 2603.27631, §6.3 and App. K: the pre-training MLE of Fig. 3).
//!
//! The per-sample loss is `ℓ(U; x) = −log((1/K) Σᵢ φ(x − uᵢ))` with `φ` the standard
//! normal density in `ℝ^d`. Only the centres `U = (u_1..u_K)` are estimated; weights
//! `1/K` and covariances `I_d` are known. One EM step is
//!
//! ```text
//! E: rᵢⱼ = softmaxᵢ(xⱼᵀuᵢ − ½‖uᵢ‖²)          (the ‖xⱼ‖² term cancels)
//! M: uᵢ ← Σⱼ rᵢⱼ xⱼ / Σⱼ rᵢⱼ
//! ```
//!
//! done in one pass over the data (stored as a `d × m` matrix), a block of 256 points at
//! a time: the block's logits by one product `X_Bᵀ U`, their softmax by a vectorised
//! kernel ([`super::kernels`]), and the M-step's sums by one product `X_B R_B`, so the
//! data are read once per step and the responsibilities never leave the cache. The
//! log-likelihood (one `ln` per point) is computed only in the steps that SQUAREM
//! compares.
//! The mean log-likelihood never decreases along the iterations (a test checks it).
//! Convergence: `maxᵢⱼ |Δuᵢⱼ| ≤ tol` between two successive M-steps.

// Index loops mirror the formulas; `!(x > 0)` comparisons deliberately reject NaN.
#![allow(
    clippy::needless_range_loop,
    clippy::neg_cmp_op_on_partial_ord,
    clippy::type_complexity
)]

use faer::prelude::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef};
use rand::Rng;
use rand::RngExt;

use super::kernels;
use crate::linalg::{clean_simd_state, mul_into};

/// How EM is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Init {
    /// At the true centres `U⋆` (the paper's implied choice: App. K does not say).
    #[default]
    #[serde(rename = "truth")]
    Truth,
    /// k-means++ seeding (D² sampling among the data points).
    #[serde(rename = "kmeans++")]
    KMeansPlusPlus,
    /// `K` distinct data points chosen uniformly at random.
    #[serde(rename = "random")]
    Random,
}

/// How the EM iteration is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Accel {
    /// SQUAREM (Varadhan & Roland, "Simple and Globally Convergent Methods for
    /// Accelerating the Convergence of Any EM Algorithm", Scand. J. Stat. 2008), scheme
    /// SqS3: from two EM steps `u₁ = M(u₀)`, `u₂ = M(u₁)`, with `r = u₁ − u₀` and
    /// `v = u₂ − 2u₁ + u₀`, it jumps to `u′ = u₀ − 2αr + α²v`, `α = −‖r‖/‖v‖` (at most −1;
    /// `α = −1` gives `u₂`), then takes one EM step from `u′`. A jump that lowers the
    /// likelihood is replaced by `u₂`, so the likelihood never decreases.
    #[default]
    #[serde(rename = "squarem")]
    Squarem,
    /// Plain EM steps.
    #[serde(rename = "none")]
    None,
}

/// Reusable buffers for [`fit`].
#[derive(Clone, Debug)]
pub struct EmScratch {
    /// One block's logits, then responsibilities (`BLOCK × K`, column-major).
    resp: Vec<f64>,
    row_max: Vec<f64>,
    row_sum: Vec<f64>,
    u_new: Mat<f64>,
    /// SQUAREM's iterates `u₀`, `u₁`, `u₂`.
    u0: Mat<f64>,
    u1: Mat<f64>,
    u2: Mat<f64>,
    half_norms: Vec<f64>,
    mass: Vec<f64>,
    dist: Vec<f64>,
    /// Data points picked by the random start.
    chosen: Vec<usize>,
}

impl Default for EmScratch {
    fn default() -> Self {
        EmScratch {
            resp: Vec::new(),
            row_max: Vec::new(),
            row_sum: Vec::new(),
            u_new: Mat::zeros(0, 0),
            u0: Mat::zeros(0, 0),
            u1: Mat::zeros(0, 0),
            u2: Mat::zeros(0, 0),
            half_norms: Vec::new(),
            mass: Vec::new(),
            dist: Vec::new(),
            chosen: Vec::new(),
        }
    }
}

/// Outcome of a converged fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EmFit {
    pub iterations: usize,
    /// Mean log-likelihood `(1/m) Σⱼ log((1/K) Σᵢ φ(xⱼ − uᵢ))` at the returned centres.
    pub mean_loglik: f64,
}

/// Why a fit is rejected (the engine counts these trials as failed).
#[derive(Clone, Debug, PartialEq)]
pub enum EmError {
    NotConverged {
        iterations: usize,
        last_step: f64,
    },
    /// A component lost (almost) all its responsibility mass, or two centres merged.
    Collapsed(String),
    NonFinite,
}

impl std::fmt::Display for EmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmError::NotConverged {
                iterations,
                last_step,
            } => write!(
                f,
                "EM did not converge in {iterations} iterations (last step {last_step:.3e})"
            ),
            EmError::Collapsed(why) => write!(f, "EM fit collapsed: {why}"),
            EmError::NonFinite => write!(f, "EM produced a non-finite centre"),
        }
    }
}

/// Smallest responsibility mass of a component, as a fraction of its fair share `m/K`,
/// below which the fit counts as collapsed.
pub const COLLAPSE_MASS: f64 = 1e-3;

fn ensure(mat: &mut Mat<f64>, rows: usize, cols: usize) {
    if mat.nrows() != rows || mat.ncols() != cols {
        *mat = Mat::zeros(rows, cols);
    }
}

/// Points per block of [`pass`]: the block's logits and responsibilities stay in cache.
const BLOCK: usize = 256;

/// One pass over the data `x` (d×m) at centres `u` (d×K), block by block: the logits
/// `aᵢⱼ = xⱼᵀuᵢ − ½‖uᵢ‖²` by one product `X_Bᵀ U`, their softmax `rᵢⱼ`
/// ([`kernels::softmax_rows`]), and, with `m_step`, the M-step's sums `Σⱼ rᵢⱼ xⱼ` into
/// `s.u_new` (by the product `X_B R_B`) and `Σⱼ rᵢⱼ` into `s.mass`. With `want_ll` it
/// returns `Σⱼ log Σᵢ exp(aᵢⱼ)`, otherwise 0.
fn pass(
    x: MatRef<'_, f64>,
    u: MatRef<'_, f64>,
    s: &mut EmScratch,
    m_step: bool,
    want_ll: bool,
) -> f64 {
    let (k, m) = (u.ncols(), x.ncols());
    s.half_norms.clear();
    s.half_norms
        .extend((0..k).map(|i| 0.5 * u.col(i).iter().map(|v| v * v).sum::<f64>()));
    s.resp.resize(BLOCK * k, 0.0);
    s.row_max.resize(BLOCK, 0.0);
    s.row_sum.resize(BLOCK, 0.0);
    s.mass.clear();
    s.mass.resize(k, 0.0);
    if m_step {
        s.u_new.fill(0.0);
    }
    let mut total = 0.0;
    let mut start = 0;
    while start < m {
        let b = BLOCK.min(m - start);
        let xb = x.subcols(start, b);
        let resp = &mut s.resp[..b * k];
        mul_into(
            MatMut::from_column_major_slice_mut(resp, b, k),
            Accum::Replace,
            xb.transpose(),
            u,
            1.0,
        );
        clean_simd_state();
        let (row_max, row_sum) = (&mut s.row_max[..b], &mut s.row_sum[..b]);
        kernels::softmax_rows(resp, &s.half_norms, row_max, row_sum);
        if want_ll {
            total += row_max
                .iter()
                .zip(row_sum.iter())
                .map(|(mx, sm)| mx + sm.ln())
                .sum::<f64>();
        }
        if m_step {
            for (mass, col) in s.mass.iter_mut().zip(resp.chunks_exact(b)) {
                *mass += col.iter().sum::<f64>();
            }
            mul_into(
                s.u_new.as_mut(),
                Accum::Add,
                xb,
                MatRef::from_column_major_slice(resp, b, k),
                1.0,
            );
            clean_simd_state();
        }
        start += b;
    }
    total
}

/// Mean log-likelihood of the data `x` (d×m) at centres `u` (d×K).
pub fn mean_loglik(x: MatRef<'_, f64>, u: MatRef<'_, f64>, s: &mut EmScratch) -> f64 {
    let (d, k, m) = (x.nrows(), u.ncols(), x.ncols());
    let lse = pass(x, u, s, false, true);
    let sq: f64 = (0..m)
        .map(|j| x.col(j).iter().map(|v| v * v).sum::<f64>())
        .sum();
    (lse - 0.5 * sq) / m as f64
        - (k as f64).ln()
        - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln()
}

/// Runs EM from the centres in `u` (d×K, overwritten with the fit) on data `x` (d×m),
/// plain or accelerated by `accel`. Either way the fit stops at the first EM step
/// `u ↦ M(u)` that moves no coordinate by more than `tol` and returns that `M(u)`, so both
/// stop by the same rule at the same fixed point; `iterations` counts EM steps.
pub fn fit(
    x: MatRef<'_, f64>,
    mut u: MatMut<'_, f64>,
    tol: f64,
    max_iter: usize,
    accel: Accel,
    s: &mut EmScratch,
) -> Result<EmFit, EmError> {
    let (d, k) = (x.nrows(), u.ncols());
    ensure(&mut s.u_new, d, k);
    let steps = match accel {
        Accel::None => plain(x, u.rb_mut(), tol, max_iter, s)?,
        Accel::Squarem => {
            for buf in [&mut s.u0, &mut s.u1, &mut s.u2] {
                ensure(buf, d, k);
            }
            squarem(x, u.rb_mut(), tol, max_iter, s)?
        }
    };
    check_distinct(u.as_ref())?;
    let mean_loglik = mean_loglik(x, u.as_ref(), s);
    Ok(EmFit {
        iterations: steps,
        mean_loglik,
    })
}

/// Plain EM from `u` until a step of at most `tol`; returns the number of steps.
fn plain(
    x: MatRef<'_, f64>,
    mut u: MatMut<'_, f64>,
    tol: f64,
    max_iter: usize,
    s: &mut EmScratch,
) -> Result<usize, EmError> {
    let mut last_step = f64::INFINITY;
    for it in 1..=max_iter {
        em_step(x, u.as_ref(), s, false)?;
        last_step = max_change(s.u_new.as_ref(), u.as_ref());
        u.copy_from(&s.u_new);
        if last_step <= tol {
            return Ok(it);
        }
    }
    Err(EmError::NotConverged {
        iterations: max_iter,
        last_step,
    })
}

/// SQUAREM (see [`Accel::Squarem`]) from `u` until an EM step of at most `tol`.
fn squarem(
    x: MatRef<'_, f64>,
    u: MatMut<'_, f64>,
    tol: f64,
    max_iter: usize,
    s: &mut EmScratch,
) -> Result<usize, EmError> {
    let mut it = Iterates {
        u0: std::mem::replace(&mut s.u0, Mat::new()),
        u1: std::mem::replace(&mut s.u1, Mat::new()),
        u2: std::mem::replace(&mut s.u2, Mat::new()),
    };
    let out = squarem_loop(x, u, tol, max_iter, s, &mut it);
    (s.u0, s.u1, s.u2) = (it.u0, it.u1, it.u2);
    out
}

/// SQUAREM's iterates `u₀`, `u₁ = M(u₀)`, `u₂ = M(u₁)`, held apart from the step's
/// buffers while it runs.
struct Iterates {
    u0: Mat<f64>,
    u1: Mat<f64>,
    u2: Mat<f64>,
}

fn squarem_loop(
    x: MatRef<'_, f64>,
    mut u: MatMut<'_, f64>,
    tol: f64,
    max_iter: usize,
    s: &mut EmScratch,
    it: &mut Iterates,
) -> Result<usize, EmError> {
    let Iterates { u0, u1, u2 } = it;
    u0.copy_from(u.as_ref());
    let (mut steps, mut last_step) = (0, f64::INFINITY);
    while steps < max_iter {
        // u₁ = M(u₀), with the log-likelihood at u₀.
        let ll0 = em_step(x, u0.as_ref(), s, true)?;
        steps += 1;
        last_step = max_change(s.u_new.as_ref(), u0.as_ref());
        u1.copy_from(&s.u_new);
        if last_step <= tol {
            u.copy_from(&u1);
            return Ok(steps);
        }
        if steps == max_iter {
            break;
        }
        // u₂ = M(u₁).
        em_step(x, u1.as_ref(), s, false)?;
        steps += 1;
        last_step = max_change(s.u_new.as_ref(), u1.as_ref());
        u2.copy_from(&s.u_new);
        if last_step <= tol {
            u.copy_from(&u2);
            return Ok(steps);
        }
        // The jump, written into u (as scratch): u′ = u₀ − 2αr + α²v.
        let alpha = squarem_alpha(u0, u1, u2);
        for c in 0..u.ncols() {
            for r in 0..u.nrows() {
                let (a, b, c2) = (u0[(r, c)], u1[(r, c)], u2[(r, c)]);
                u[(r, c)] = a - 2.0 * alpha * (b - a) + alpha * alpha * (c2 - 2.0 * b + a);
            }
        }
        if steps == max_iter {
            break;
        }
        // Stabilise with one EM step from u′; keep it unless u′ lost likelihood.
        match em_step(x, u.as_ref(), s, true) {
            Ok(ll_jump) if ll_jump >= ll0 => {
                steps += 1;
                last_step = max_change(s.u_new.as_ref(), u.as_ref());
                u0.copy_from(&s.u_new);
                if last_step <= tol {
                    u.copy_from(&u0);
                    return Ok(steps);
                }
            }
            _ => {
                steps += 1;
                u0.copy_from(&u2);
            }
        }
    }
    Err(EmError::NotConverged {
        iterations: max_iter,
        last_step,
    })
}

/// SqS3's step length `α = −‖r‖/‖v‖`, at most −1 (−1 where `v = 0`).
fn squarem_alpha(u0: &Mat<f64>, u1: &Mat<f64>, u2: &Mat<f64>) -> f64 {
    let (mut rr, mut vv) = (0.0, 0.0);
    for c in 0..u0.ncols() {
        for r in 0..u0.nrows() {
            let (a, b, c2) = (u0[(r, c)], u1[(r, c)], u2[(r, c)]);
            rr += (b - a) * (b - a);
            vv += (c2 - 2.0 * b + a) * (c2 - 2.0 * b + a);
        }
    }
    if vv > 0.0 {
        (-(rr / vv).sqrt()).min(-1.0)
    } else {
        -1.0
    }
}

/// `max |a − b|` over all entries.
fn max_change(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut step: f64 = 0.0;
    for c in 0..a.ncols() {
        for r in 0..a.nrows() {
            step = step.max((a[(r, c)] - b[(r, c)]).abs());
        }
    }
    step
}

/// One EM step from `u`: the M-step's centres into `s.u_new`; with `want_ll` returns
/// `Σⱼ log Σᵢ exp(aᵢⱼ)` at `u` (the log-likelihood up to terms that do not depend on
/// `u`), otherwise 0. A component that lost its responsibility mass, or a non-finite
/// centre, is an error.
fn em_step(
    x: MatRef<'_, f64>,
    u: MatRef<'_, f64>,
    s: &mut EmScratch,
    want_ll: bool,
) -> Result<f64, EmError> {
    let (d, k, m) = (x.nrows(), u.ncols(), x.ncols());
    let lse = pass(x, u, s, true, want_ll);
    for i in 0..k {
        let mass = s.mass[i];
        if !(mass > COLLAPSE_MASS * m as f64 / k as f64) {
            return Err(EmError::Collapsed(format!(
                "component {i} holds responsibility mass {mass:.3e} of m = {m}"
            )));
        }
        for r in 0..d {
            let v = s.u_new[(r, i)] / mass;
            if !v.is_finite() {
                return Err(EmError::NonFinite);
            }
            s.u_new[(r, i)] = v;
        }
    }
    Ok(lse)
}

/// Two fitted centres closer than `1e-6` (relative to the spread) count as merged.
fn check_distinct(u: MatRef<'_, f64>) -> Result<(), EmError> {
    let k = u.ncols();
    let scale = 1.0 + u.norm_max();
    for i in 0..k {
        for j in 0..i {
            let dist = (0..u.nrows())
                .map(|r| (u[(r, i)] - u[(r, j)]).powi(2))
                .sum::<f64>()
                .sqrt();
            if dist < 1e-6 * scale {
                return Err(EmError::Collapsed(format!(
                    "centres {j} and {i} merged (distance {dist:.2e})"
                )));
            }
        }
    }
    Ok(())
}

/// Writes initial centres into `u` (d×K) from the data `x` (d×m) by `init`
/// (`truth` copies `u_star`).
pub fn initialise<R: Rng + ?Sized>(
    init: Init,
    x: MatRef<'_, f64>,
    u_star: MatRef<'_, f64>,
    mut u: MatMut<'_, f64>,
    rng: &mut R,
    s: &mut EmScratch,
) {
    let (d, k, m) = (x.nrows(), u.ncols(), x.ncols());
    match init {
        Init::Truth => u.copy_from(u_star),
        Init::Random => {
            let chosen = &mut s.chosen;
            chosen.clear();
            while chosen.len() < k {
                let j = rng.random_range(0..m);
                if !chosen.contains(&j) {
                    chosen.push(j);
                }
            }
            for (i, &j) in chosen.iter().enumerate() {
                u.as_mut().col_mut(i).copy_from(x.col(j));
            }
        }
        Init::KMeansPlusPlus => {
            let first = rng.random_range(0..m);
            u.as_mut().col_mut(0).copy_from(x.col(first));
            s.dist.clear();
            s.dist.resize(m, f64::INFINITY);
            for i in 1..k {
                let mut total = 0.0;
                for j in 0..m {
                    let dd: f64 = (0..d).map(|r| (x[(r, j)] - u[(r, i - 1)]).powi(2)).sum();
                    s.dist[j] = s.dist[j].min(dd);
                    total += s.dist[j];
                }
                let mut target = rng.random::<f64>() * total;
                let mut pick = m - 1;
                for j in 0..m {
                    target -= s.dist[j];
                    if target <= 0.0 {
                        pick = j;
                        break;
                    }
                }
                u.as_mut().col_mut(i).copy_from(x.col(pick));
            }
        }
    }
}
