//! The proportional-limit theory of the multi-index spectral estimator, from a table of
//! quadrature nodes of the latent law.
//!
//! **Setting.** `aᵢ ~ N(0, I_d)`, `gᵢ = W⋆ᵀaᵢ ∈ ℝᵖ`, `Tᵢ = T(yᵢ)`, `n/d → δ` and
//! `D = (1/n) Σᵢ Tᵢ aᵢaᵢᵀ`. With `G ~ N(0, I_p)` (and the noise), `τ = sup T > 0` and,
//! for `λ > τ`,
//!
//! ```text
//! ψ_δ(λ) = λ (1/δ + E[T/(λ − T)]),           ψ'_δ(λ) = 1/δ − E[T²/(λ − T)²],
//! Φ(λ)   = λ E[T GGᵀ/(λ − T)]   (p×p),       Φ'(λ)   = −E[T² GGᵀ/(λ − T)²].
//! ```
//!
//! **Derivation** (re-derived here for a general, non-diagonal `Φ`). Split `aᵢ = (gᵢ, uᵢ)`
//! along `span W⋆` and its complement. An eigenvalue `ℓ` of `D` outside the spectrum of
//! the complement block `D₂₂ = (1/n)Σ Tᵢuᵢuᵢᵀ` is one where the `p×p` Schur complement
//! `M(ℓ) = D₁₁ + D₁₂(ℓ − D₂₂)⁻¹D₂₁` has the eigenvalue `ℓ`. With `X = Z^{1/2}U/√n`,
//! `M(ℓ) = (ℓ/n) Gᵀ Z^{1/2}(ℓ − XXᵀ)⁻¹Z^{1/2} G`; the off-diagonal resolvent entries
//! average out (a sign flip of `uᵢ` leaves the law unchanged) and the diagonal ones are
//! `1/(ℓ(1 − Tᵢ s))` with `s = (1/n) tr(ℓ − D₂₂)⁻¹`. Writing `λ = 1/s`, `M(ℓ) → Φ(λ)` and
//! the trace identity `ℓ·tr(ℓ − D₂₂)⁻¹ = d + Σᵢ Tᵢs/(1 − Tᵢs)` gives `ℓ = ψ_δ(λ)`. So:
//!
//! - the **bulk edge** is `ψ_δ(λ̄_δ)`, `λ̄_δ` the minimiser of the convex `ψ_δ` on `(τ, ∞)`
//!   (`δ E[T²/(λ̄ − T)²] = 1`, or `τ` when that has no root);
//! - **outliers** are `ψ_δ(λ_j)` at the roots `λ_j > λ̄_δ` of `μ_j(Φ(λ)) = ψ_δ(λ)`, `μ_j`
//!   the `j`-th largest eigenvalue. `Φ` decreases in the Loewner order and `ψ_δ` increases
//!   on `(λ̄_δ, ∞)`, so each branch has at most one root, there is one iff
//!   `μ_j(Φ(λ̄_δ)) > ψ_δ(λ̄_δ)`, and the `j`-th outlier is the `j`-th largest eigenvalue;
//! - the **eigenvector** `v_j = (v₁, v₂)` has `v₂ = (ℓ − D₂₂)⁻¹D₂₁v₁`, so
//!   `‖v‖² = ‖v₁‖²(1 − ûᵀM'(ℓ)û)` with `M'(ℓ) = Φ'(λ)/ψ'_δ(λ)`: its projection on
//!   `span W⋆` points along the unit eigenvector `u_j` of `Φ(λ_j)` and
//!
//!   ```text
//!   ‖W⋆ᵀv_j‖² → ψ'_δ(λ_j) / (ψ'_δ(λ_j) − u_jᵀΦ'(λ_j)u_j).
//!   ```
//!
//! At `λ̄_δ` the outlier condition reads `μ_j(E[T(GGᵀ − I)/(λ̄ − T)]) > E[T²/(λ̄ − T)²]`;
//! parametrising `δ = 1/E[T²/(λ − T)²]` by `λ = λ̄_δ` turns the threshold `δ_c,j` of
//! direction `j` into one root in `λ` ([`Theory::thresholds`]).
//!
//! **Quadrature.** Every expectation is a weighted sum over the nodes of a tensor
//! Gauss–Hermite rule in `G` (and the noise `ξ` when the link uses it), with `T` evaluated
//! once per node ([`Nodes`]). The rule is exact for polynomials of degree `2q − 1` per
//! coordinate; for smooth `T` the error falls geometrically in `√q`, for a `T` with jumps
//! only algebraically, which is why [`super::MultiIndex`] reports the change of every
//! prediction between two orders as its achieved accuracy.

use crate::expr::Formula;
use crate::quadrature::TensorGaussHermite;
use crate::{Error, Result};

/// Largest latent dimension `p`.
pub const MAX_P: usize = 3;

/// A symmetric `p×p` matrix, `p ≤ 3`, stored full.
pub type Sym = [[f64; MAX_P]; MAX_P];

/// The latent law as quadrature nodes: weights, latent vectors and `T` at each node.
#[derive(Clone, Debug)]
pub struct Nodes {
    p: usize,
    w: Vec<f64>,
    /// `g` of node `i` at `g[i·p .. (i + 1)·p]`.
    g: Vec<f64>,
    t: Vec<f64>,
    /// `τ = sup T` (see [`supremum`]).
    tau: f64,
}

/// The link's argument list for `p` latent coordinates: `g1, …, gp, eps`.
pub fn link_vars(p: usize) -> Vec<String> {
    (1..=p)
        .map(|j| format!("g{j}"))
        .chain(std::iter::once("eps".to_string()))
        .collect()
}

/// The labelling of a latent point: `y = link(g, noise·ξ)` and `T(y)`.
#[derive(Clone, Debug)]
pub struct Labeller {
    pub p: usize,
    pub link: Formula,
    pub pre: Formula,
    pub noise: f64,
}

impl Labeller {
    /// Whether the noise enters (the link uses `eps` and `noise > 0`).
    pub fn noisy(&self) -> bool {
        self.noise > 0.0 && self.link.uses("eps")
    }

    /// The dimension of the latent law: `p`, plus one for the noise.
    pub fn dim(&self) -> usize {
        self.p + usize::from(self.noisy())
    }

    /// `(y, T(y))` at `z = (g, ξ)` (`ξ` read only when [`Labeller::noisy`]).
    pub fn label(&self, z: &[f64]) -> (f64, f64) {
        let mut args = [0.0; MAX_P + 1];
        args[..self.p].copy_from_slice(&z[..self.p]);
        if self.noisy() {
            args[self.p] = self.noise * z[self.p];
        }
        let y = self.link.eval(&args[..=self.p]);
        (y, self.pre.eval(&[y]))
    }
}

/// Largest `sup T` accepted: beyond it `T` is treated as unbounded.
pub const MAX_SUP: f64 = 1e9;

/// `τ = sup T(link(z))` over `ℝ^dim`, computed as the largest value of `T` on: the
/// quadrature `points`; a grid of the cube `[−12, 12]^dim` (all but 10⁻³² of the
/// Gaussian mass); and radial probes at radii `10², 10³, …, 10⁸` along the directions of
/// that grid's boundary; the best point of the grid is then refined by a compass search
/// (steps halving from the grid's spacing to 10⁻¹³), which climbs an interior maximum and
/// runs into a pole (such as `y/(y + 2)` at `y = −2`). The increments of the probes' maxima
/// between radii decide boundedness at infinity: when they do not shrink (ratio ≥ 1/2 over
/// the last two decades) or any value exceeds [`MAX_SUP`], `T` is declared unbounded (an
/// error naming `preprocessing`); when they shrink, the geometric remainder of the
/// increments is added. A maximum in a basin the grid does not sample (a spike narrower
/// than the grid away from its best point) is missed; the theory then uses the largest
/// value seen, which keeps every quadrature integrand finite.
pub fn supremum(lab: &Labeller, points: &[f64]) -> Result<f64> {
    let dim = lab.dim();
    let per_axis = match dim {
        1 => 4001,
        2 => 401,
        3 => 61,
        _ => 25,
    };
    let mut best = f64::NEG_INFINITY;
    let mut best_z = [0.0; MAX_P + 1];
    // `T = −∞` somewhere (e.g. `1 − 1/y` at `y = 0`) does not bound `τ`; a sample there
    // has probability zero, and the quadrature nodes were checked finite.
    let mut note = |z: &[f64]| -> Result<()> {
        let (y, t) = lab.label(z);
        if t != f64::NEG_INFINITY {
            check_finite(lab, z, y, t)?;
            if t > best {
                best = t;
                best_z[..dim].copy_from_slice(z);
            }
        }
        Ok(())
    };
    for z in points.chunks_exact(dim) {
        note(z)?;
    }
    let mut z = [0.0; MAX_P + 1];
    let step = 24.0 / (per_axis - 1) as f64;
    for_grid(dim, per_axis, |idx| {
        for (zi, &k) in z.iter_mut().zip(idx) {
            *zi = -12.0 + step * k as f64;
        }
        note(&z[..dim])
    })?;
    let core = best.max(climb(lab, &best_z[..dim], step));
    let probe = probe_maxima(lab, dim)?;
    let mut running = core;
    let mut incs = Vec::with_capacity(probe.len());
    for &m in &probe {
        let next = running.max(m);
        incs.push(next - running);
        running = next;
    }
    if running > MAX_SUP || !running.is_finite() {
        return Err(unbounded(lab, running));
    }
    let k = incs.len();
    let (a, b, c) = (incs[k - 3], incs[k - 2], incs[k - 1]);
    let tiny = 1e-12 * running.abs().max(1e-300);
    if c > tiny && (c >= 0.5 * b || b >= 0.5 * a) {
        return Err(unbounded(lab, running));
    }
    // Increments shrinking by `r = c/b` per decade sum to at most `c·r/(1 − r)`.
    let tail = if c > tiny && b > 0.0 {
        let r = c / b;
        c * r / (1.0 - r)
    } else {
        0.0
    };
    Ok(running + tail)
}

/// The largest `T` a compass search from `start` finds, with steps halving from `step`
/// to 10⁻¹³ (at most 4000 moves); `+∞` where `T` is infinite or passes [`MAX_SUP`].
fn climb(lab: &Labeller, start: &[f64], mut step: f64) -> f64 {
    let dim = start.len();
    let mut z = [0.0; MAX_P + 1];
    z[..dim].copy_from_slice(start);
    let value = |z: &[f64]| {
        let t = lab.label(z).1;
        if t.is_nan() { f64::NEG_INFINITY } else { t }
    };
    let mut best = value(&z[..dim]);
    let mut moves = 0;
    while step > 1e-13 && moves < 4000 && best <= MAX_SUP {
        let mut moved = false;
        for axis in 0..dim {
            for sign in [1.0, -1.0] {
                let mut trial = z;
                trial[axis] += sign * step;
                let t = value(&trial[..dim]);
                if t > best {
                    (best, z, moved) = (t, trial, true);
                }
            }
        }
        moves += 1;
        if !moved {
            step *= 0.5;
        }
    }
    if best > MAX_SUP { f64::INFINITY } else { best }
}

/// The maximum of `T` over the probes at each radius `10², …, 10⁸`.
fn probe_maxima(lab: &Labeller, dim: usize) -> Result<Vec<f64>> {
    let per_axis = match dim {
        1 => 2,
        2 => 65,
        3 => 17,
        _ => 9,
    };
    let mut maxima = Vec::with_capacity(7);
    let mut dir = [0.0; MAX_P + 1];
    let mut z = [0.0; MAX_P + 1];
    for e in 2..=8 {
        let radius = 10f64.powi(e);
        let mut best = f64::NEG_INFINITY;
        for_grid(dim, per_axis, |idx| {
            let on_boundary = idx.iter().any(|&k| k == 0 || k == per_axis - 1);
            if !on_boundary {
                return Ok(());
            }
            for (di, &k) in dir.iter_mut().zip(idx) {
                *di = -1.0 + 2.0 * k as f64 / (per_axis - 1) as f64;
            }
            let norm = dir[..dim].iter().map(|v| v * v).sum::<f64>().sqrt();
            for (zi, di) in z.iter_mut().zip(&dir) {
                *zi = radius * di / norm;
            }
            let (y, t) = lab.label(&z[..dim]);
            // Far out, a failed evaluation (an overflow) says nothing about the support.
            if y.is_finite() && !t.is_nan() {
                best = best.max(t);
            }
            Ok(())
        })?;
        maxima.push(best);
    }
    Ok(maxima)
}

/// Calls `f` on every multi-index of `{0, …, per_axis − 1}^dim`.
fn for_grid(dim: usize, per_axis: usize, mut f: impl FnMut(&[usize]) -> Result<()>) -> Result<()> {
    let mut idx = [0usize; MAX_P + 1];
    loop {
        f(&idx[..dim])?;
        let mut axis = 0;
        loop {
            if axis == dim {
                return Ok(());
            }
            idx[axis] += 1;
            if idx[axis] < per_axis {
                break;
            }
            idx[axis] = 0;
            axis += 1;
        }
    }
}

fn unbounded(lab: &Labeller, seen: f64) -> Error {
    Error::invalid(
        "preprocessing",
        format!(
            "T(y) = {} must be bounded above on the support of y = {} (the spectral theory needs τ = sup T < ∞, at most {MAX_SUP:e}); it reaches {seen:.4e} and keeps growing",
            lab.pre.text(),
            lab.link.text()
        ),
    )
}

/// An error naming the formula that is not finite at the latent point `z`.
fn check_finite(lab: &Labeller, z: &[f64], y: f64, t: f64) -> Result<()> {
    if !y.is_finite() {
        return Err(Error::invalid(
            "link",
            format!(
                "y = {} is not finite ({y}) at (g, ξ) = {z:.3?}",
                lab.link.text()
            ),
        ));
    }
    if !t.is_finite() {
        return Err(Error::invalid(
            "preprocessing",
            format!(
                "T(y) = {} is not finite ({t}) at y = {y:.6} (from (g, ξ) = {z:.3?})",
                lab.pre.text()
            ),
        ));
    }
    Ok(())
}

impl Nodes {
    /// The nodes of the `order`-point tensor rule in the latent law of `lab`, with `T`
    /// at each and `τ = sup T`: [`supremum`], or, given `tau`, the larger of it and the
    /// nodes' largest `T`. Errors name `link` or `preprocessing` where `y` or `T` is not
    /// finite, or `T` is unbounded or has `τ ≤ 0`.
    pub fn new(lab: &Labeller, order: usize, tau: Option<f64>) -> Result<Nodes> {
        let dim = lab.dim();
        let rule = TensorGaussHermite::new(dim, order)?;
        let p = lab.p;
        let mut nodes = Nodes {
            p,
            w: Vec::with_capacity(rule.len()),
            g: Vec::with_capacity(rule.len() * p),
            t: Vec::with_capacity(rule.len()),
            tau: 0.0,
        };
        let mut points = Vec::with_capacity(rule.len() * dim);
        for i in 0..rule.len() {
            let z = rule.point(i);
            let (y, t) = lab.label(z);
            check_finite(lab, z, y, t)?;
            nodes.w.push(rule.weight(i));
            nodes.g.extend_from_slice(&z[..p]);
            nodes.t.push(t);
            points.extend_from_slice(z);
        }
        nodes.tau = match tau {
            Some(t) => nodes.t.iter().fold(t, |a, &b| a.max(b)),
            None => supremum(lab, &points)?,
        };
        if nodes.tau <= 0.0 {
            return Err(Error::invalid(
                "preprocessing",
                format!(
                    "T(y) = {} must be positive somewhere on the support of y (sup T = {:.4e}): with T ≤ 0 the top of the spectrum carries no signal",
                    lab.pre.text(),
                    nodes.tau
                ),
            ));
        }
        Ok(nodes)
    }

    /// `τ = sup T`.
    pub fn tau(&self) -> f64 {
        self.tau
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.w.len()
    }

    /// Whether there are no nodes (never for a built table).
    pub fn is_empty(&self) -> bool {
        self.w.is_empty()
    }

    /// The expectations at `λ > τ`.
    pub fn moments(&self, lambda: f64) -> Moments {
        let p = self.p;
        let mut m = Moments::default();
        for ((&w, &t), g) in self.w.iter().zip(&self.t).zip(self.g.chunks_exact(p)) {
            let r = t / (lambda - t);
            let (wr, wr2) = (w * r, w * r * r);
            m.s1 += wr;
            m.s2 += wr2;
            for a in 0..p {
                for b in 0..=a {
                    let gg = g[a] * g[b];
                    m.a[a][b] += wr * gg;
                    m.b[a][b] += wr2 * gg;
                }
            }
        }
        for a in 0..p {
            for b in 0..a {
                m.a[b][a] = m.a[a][b];
                m.b[b][a] = m.b[a][b];
            }
        }
        m
    }
}

/// The expectations the limit needs at one `λ`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// `E[T/(λ − T)]`.
    pub s1: f64,
    /// `E[T²/(λ − T)²]`.
    pub s2: f64,
    /// `E[T GGᵀ/(λ − T)]`, so `Φ(λ) = λ·a`.
    pub a: Sym,
    /// `E[T² GGᵀ/(λ − T)²]`, so `Φ'(λ) = −b`.
    pub b: Sym,
}

/// One outlier of `D`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Outlier {
    /// The root `λ_j > λ̄_δ`.
    pub lambda_aux: f64,
    /// Its limit eigenvalue `ψ_δ(λ_j)`.
    pub eigenvalue: f64,
    /// The limit of `‖W⋆ᵀv_j‖²`.
    pub overlap: f64,
    /// The unit direction `u_j ∈ ℝᵖ` of the projection of `v_j` on `span W⋆`.
    pub direction: [f64; MAX_P],
}

/// The limit of the spectrum of `D` at one `δ`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Limit {
    pub delta: f64,
    /// `λ̄_δ`.
    pub lambda_bar: f64,
    /// `ψ_δ(λ̄_δ)`, the right edge of the bulk.
    pub bulk_edge: f64,
    /// The outliers, largest first (at most `p`).
    pub outliers: Vec<Outlier>,
}

impl Limit {
    /// The limit of the `j`-th largest eigenvalue (0-based): an outlier or the edge.
    pub fn eigenvalue(&self, j: usize) -> f64 {
        self.outliers
            .get(j)
            .map_or(self.bulk_edge, |o| o.eigenvalue)
    }

    /// The limit of `‖W⋆ᵀv_j‖²` (0-based `j`): 0 without an outlier.
    pub fn overlap(&self, j: usize) -> f64 {
        self.outliers.get(j).map_or(0.0, |o| o.overlap)
    }
}

/// The theory of one instance: the node table and `p`.
pub struct Theory {
    pub nodes: Nodes,
}

impl Theory {
    fn p(&self) -> usize {
        self.nodes.p
    }

    /// `λ̄_δ`: the root of `δ E[T²/(λ − T)²] = 1` on `(τ, ∞)` (decreasing in `λ`), by
    /// bisection in `log(λ − τ)` to 10⁻¹³ relative; `τ(1 + 10⁻¹²)` when it has no root.
    pub fn lambda_bar(&self, delta: f64) -> f64 {
        crate::theory::spectral_single_index::lambda_bar_root(self.nodes.tau, 1e-13, |lambda| {
            delta * self.nodes.moments(lambda).s2 - 1.0
        })
    }

    /// The limit at `δ` (see the module docs).
    pub fn at(&self, delta: f64) -> Result<Limit> {
        let p = self.p();
        let lambda_bar = self.lambda_bar(delta);
        let psi = |l: f64, m: &Moments| l * (1.0 / delta + m.s1);
        let mb = self.nodes.moments(lambda_bar);
        let bulk_edge = psi(lambda_bar, &mb);
        // f_j(λ) = μ_j(Φ(λ)) − ψ_δ(λ), decreasing on (λ̄, ∞).
        let f = |l: f64, j: usize| {
            let m = self.nodes.moments(l);
            l * sym_eigen(&m.a, p).0[j] - psi(l, &m)
        };
        let mut outliers = Vec::new();
        for j in 0..p {
            if f(lambda_bar, j) <= 0.0 {
                break;
            }
            let star = decreasing_root(|l| f(l, j), lambda_bar)?;
            let m = self.nodes.moments(star);
            let (_, vecs) = sym_eigen(&m.a, p);
            let u = vecs[j];
            let psi_prime = 1.0 / delta - m.s2;
            let ubu = quad(&m.b, &u, p);
            outliers.push(Outlier {
                lambda_aux: star,
                eigenvalue: psi(star, &m),
                overlap: (psi_prime / (psi_prime + ubu)).clamp(0.0, 1.0),
                direction: u,
            });
        }
        Ok(Limit {
            delta,
            lambda_bar,
            bulk_edge,
            outliers,
        })
    }

    /// `h_j(λ) = μ_j(E[T(GGᵀ − I)/(λ − T)]) − E[T²/(λ − T)²]` and `E[T²/(λ − T)²]`: at
    /// `λ = λ̄_δ` direction `j` has an outlier iff `h_j > 0`, and `δ = 1/E[T²/(λ − T)²]`.
    fn excess(&self, lambda: f64, j: usize) -> (f64, f64) {
        let p = self.p();
        let m = self.nodes.moments(lambda);
        let mut c = m.a;
        for (k, row) in c.iter_mut().enumerate().take(p) {
            row[k] -= m.s1;
        }
        (sym_eigen(&c, p).0[j] - m.s2, m.s2)
    }

    /// The threshold `δ_c,j` of each direction (largest outlier first): direction `j`
    /// has an outlier for `δ > δ_c,j`; `None` when it has none at any `δ`.
    ///
    /// `h_j` ([`Theory::excess`]) is scanned on 241 values of `λ − τ`, geometric from
    /// `10⁻⁸τ` to `10⁴τ`; the last sign change from `h_j ≤ 0` to `h_j > 0` is refined
    /// by bisection in `log(λ − τ)` and `δ_c,j = 1/E[T²/(λ_c − T)²]`. Where `h_j > 0`
    /// already at the smallest `λ` (the edge sticks at `λ̄ = τ` for small `δ`), the outlier
    /// condition `μ_j(Φ(λ)) > ψ_δ(λ)` at that `λ` gives `δ_c,j = 1/μ_j(E[T(GGᵀ − I)/(λ − T)])`.
    pub fn thresholds(&self) -> Vec<Option<f64>> {
        let tau = self.nodes.tau;
        let gaps: Vec<f64> = (0..=240)
            .map(|i| tau * 10f64.powf(-8.0 + i as f64 / 20.0))
            .collect();
        (0..self.p())
            .map(|j| {
                let h: Vec<f64> = gaps.iter().map(|&g| self.excess(tau + g, j).0).collect();
                if h[h.len() - 1] <= 0.0 {
                    return None;
                }
                let Some(k) = (0..h.len() - 1).rev().find(|&k| h[k] <= 0.0) else {
                    let (hj, s2) = self.excess(tau + gaps[0], j);
                    return Some(1.0 / (hj + s2));
                };
                let (mut lo, mut hi) = (gaps[k], gaps[k + 1]);
                for _ in 0..100 {
                    let mid = (lo * hi).sqrt();
                    if self.excess(tau + mid, j).0 > 0.0 {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                    if hi / lo < 1.0 + 1e-12 {
                        break;
                    }
                }
                Some(1.0 / self.excess(tau + (lo * hi).sqrt(), j).1)
            })
            .collect()
    }
}

/// The root of a function decreasing on `(start, ∞)` and positive at `start`: bracketed
/// by doubling the distance from `start`, then bisected to 10⁻¹⁴ relative.
fn decreasing_root(f: impl Fn(f64) -> f64, start: f64) -> Result<f64> {
    let scale = start.abs().max(1e-300);
    let (mut lo, mut step) = (start, scale);
    let mut hi = start + step;
    while f(hi) > 0.0 {
        lo = hi;
        step *= 2.0;
        hi = start + step;
        if !hi.is_finite() || step > 1e30 * scale {
            return Err(Error::Numerical(
                "no root of μ_j(Φ(λ)) = ψ_δ(λ) was found".into(),
            ));
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-14 * hi.abs() {
            break;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// `uᵀAu` over the leading `p` coordinates.
pub fn quad(a: &Sym, u: &[f64; MAX_P], p: usize) -> f64 {
    (0..p)
        .map(|i| (0..p).map(|k| u[i] * a[i][k] * u[k]).sum::<f64>())
        .sum()
}

/// Eigenvalues (descending) and unit eigenvectors (`vecs[j]` for value `j`) of the
/// leading `p×p` block of the symmetric `a`, by cyclic Jacobi rotations to 10⁻¹⁵.
pub fn sym_eigen(a: &Sym, p: usize) -> ([f64; MAX_P], [[f64; MAX_P]; MAX_P]) {
    let mut m = *a;
    let mut v = [[0.0; MAX_P]; MAX_P];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _ in 0..60 {
        let off: f64 = (0..p)
            .flat_map(|i| (0..i).map(move |k| (i, k)))
            .map(|(i, k)| m[i][k] * m[i][k])
            .sum();
        let diag: f64 = (0..p).map(|i| m[i][i] * m[i][i]).sum();
        if off <= 1e-32 * diag.max(1e-300) {
            break;
        }
        for q in 1..p {
            for r in 0..q {
                rotate(&mut m, &mut v, r, q, p);
            }
        }
    }
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&i, &k| m[k][k].total_cmp(&m[i][i]));
    let mut values = [0.0; MAX_P];
    let mut vectors = [[0.0; MAX_P]; MAX_P];
    for (j, &i) in order.iter().enumerate() {
        values[j] = m[i][i];
        for k in 0..p {
            // Column i of the accumulated rotations.
            vectors[j][k] = v[k][i];
        }
    }
    (values, vectors)
}

/// One Jacobi rotation zeroing `m[q][r]`, accumulated into `v` (`m ← JᵀmJ`, `v ← vJ`).
fn rotate(m: &mut Sym, v: &mut Sym, r: usize, q: usize, p: usize) {
    if m[q][r] == 0.0 {
        return;
    }
    let theta = (m[q][q] - m[r][r]) / (2.0 * m[q][r]);
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let t = if theta == 0.0 { 1.0 } else { t };
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for row in m.iter_mut().take(p) {
        let (mkr, mkq) = (row[r], row[q]);
        row[r] = c * mkr - s * mkq;
        row[q] = s * mkr + c * mkq;
    }
    let (row_r, row_q) = (m[r], m[q]);
    for (k, (mrk, mqk)) in row_r.iter().zip(&row_q).enumerate().take(p) {
        m[r][k] = c * mrk - s * mqk;
        m[q][k] = s * mrk + c * mqk;
    }
    for row in v.iter_mut().take(p) {
        let (vr, vq) = (row[r], row[q]);
        row[r] = c * vr - s * vq;
        row[q] = s * vr + c * vq;
    }
}
