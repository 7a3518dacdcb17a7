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
//! done with two matrix products (`Uᵀ X` and `X Rᵀ`), data stored as a `d × m` matrix.
//! The mean log-likelihood never decreases along the iterations (a test checks it).
//! Convergence: `maxᵢⱼ |Δuᵢⱼ| ≤ tol` between two successive M-steps.

// Index loops mirror the formulas; `!(x > 0)` comparisons deliberately reject NaN.
#![allow(
    clippy::needless_range_loop,
    clippy::neg_cmp_op_on_partial_ord,
    clippy::type_complexity
)]

use faer::{Accum, Mat, MatMut, MatRef};
use rand::Rng;
use rand::RngExt;

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

/// Reusable buffers for [`fit`].
#[derive(Clone, Debug)]
pub struct EmScratch {
    resp: Mat<f64>,
    u_new: Mat<f64>,
    half_norms: Vec<f64>,
    mass: Vec<f64>,
    dist: Vec<f64>,
    /// Data points picked by the random start.
    chosen: Vec<usize>,
}

impl Default for EmScratch {
    fn default() -> Self {
        EmScratch {
            resp: Mat::zeros(0, 0),
            u_new: Mat::zeros(0, 0),
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

/// E-step in place: `resp` (K×m) ← responsibilities; returns `Σⱼ log Σᵢ exp(aᵢⱼ)` with
/// `aᵢⱼ = xⱼᵀuᵢ − ½‖uᵢ‖²`.
fn e_step(x: MatRef<'_, f64>, u: MatRef<'_, f64>, s: &mut EmScratch) -> f64 {
    let (k, m) = (u.ncols(), x.ncols());
    s.half_norms.clear();
    s.half_norms
        .extend((0..k).map(|i| 0.5 * u.col(i).iter().map(|v| v * v).sum::<f64>()));
    mul_into(s.resp.as_mut(), Accum::Replace, u.transpose(), x, 1.0);
    clean_simd_state();
    let mut total = 0.0;
    for j in 0..m {
        let mut col = s.resp.as_mut().col_mut(j);
        let mut max = f64::NEG_INFINITY;
        for i in 0..k {
            col[i] -= s.half_norms[i];
            max = max.max(col[i]);
        }
        let mut sum = 0.0;
        for i in 0..k {
            let e = (col[i] - max).exp();
            col[i] = e;
            sum += e;
        }
        let inv = 1.0 / sum;
        for i in 0..k {
            col[i] *= inv;
        }
        total += max + sum.ln();
    }
    total
}

/// Mean log-likelihood of the data `x` (d×m) at centres `u` (d×K).
pub fn mean_loglik(x: MatRef<'_, f64>, u: MatRef<'_, f64>, s: &mut EmScratch) -> f64 {
    let (d, k, m) = (x.nrows(), u.ncols(), x.ncols());
    ensure(&mut s.resp, k, m);
    let lse = e_step(x, u, s);
    let sq: f64 = (0..m)
        .map(|j| x.col(j).iter().map(|v| v * v).sum::<f64>())
        .sum();
    (lse - 0.5 * sq) / m as f64
        - (k as f64).ln()
        - 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln()
}

/// Runs EM from the centres in `u` (d×K, overwritten with the fit) on data `x` (d×m).
pub fn fit(
    x: MatRef<'_, f64>,
    mut u: MatMut<'_, f64>,
    tol: f64,
    max_iter: usize,
    s: &mut EmScratch,
) -> Result<EmFit, EmError> {
    let (d, k, m) = (x.nrows(), u.ncols(), x.ncols());
    ensure(&mut s.resp, k, m);
    ensure(&mut s.u_new, d, k);
    let mut last_step = f64::INFINITY;
    for it in 1..=max_iter {
        e_step(x, u.as_ref(), s);
        mul_into(
            s.u_new.as_mut(),
            Accum::Replace,
            x,
            s.resp.as_ref().transpose(),
            1.0,
        );
        clean_simd_state();
        s.mass.clear();
        s.mass
            .extend((0..k).map(|i| s.resp.as_ref().row(i).iter().sum::<f64>()));
        let mut step: f64 = 0.0;
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
                step = step.max((v - u[(r, i)]).abs());
                u[(r, i)] = v;
            }
        }
        last_step = step;
        if step <= tol {
            check_distinct(u.as_ref())?;
            let mean_loglik = mean_loglik(x, u.as_ref(), s);
            return Ok(EmFit {
                iterations: it,
                mean_loglik,
            });
        }
    }
    Err(EmError::NotConverged {
        iterations: max_iter,
        last_step,
    })
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
