//! The preprocessing that minimises the weak-recovery threshold, and the Bayes-optimal
//! (AMP) threshold beside it.
//!
//! **Scalar preprocessings** (re-derived from [`super::theory`]). At `λ = λ̄_δ` write
//! `F(y) = T/(λ̄ − T)`, a reparametrisation of `T` with values in `(−1, ∞)`, and
//! `𝒢(y) = E[GGᵀ | y] − I`. Then `δ E[F²] = 1` and direction `u` has an outlier iff
//! `uᵀE[F(Y)𝒢(Y)]u > 1/δ`. By Cauchy–Schwarz `E[F·uᵀ𝒢u] ≤ δ^{-1/2} (E[(uᵀ𝒢u)²])^{1/2}`,
//! with equality for `F ∝ uᵀ𝒢u`. So no scalar `T` recovers below
//!
//! ```text
//! δ⋆ = 1 / max_{‖u‖=1} E[(uᵀ𝒢(Y)u)²],
//! ```
//!
//! and `F = uᵀ𝒢u` (allowed: `uᵀ𝒢u > −1`) attains it: `T⋆(y) = 1 − 1/E[(u⋆ᵀG)² | y]`. For
//! `p = 1` this is Mondelli–Montanari's `δ_u = 1/E[(E[G² | Y] − 1)²]` (1/2 for noiseless
//! phase retrieval) and Luo–Alghamdi–Lu's `T⋆ = 1 − 1/E[G² | y]`.
//!
//! **Bayes-optimal threshold.** The linearisation of the Bayes-optimal AMP state
//! evolution at the uninformative point (Troiani, Dandi, Defilippis, Zdeborová, Loureiro,
//! Krzakala, arXiv 2405.15480; the spectral method of Defilippis, Dandi, Mergny,
//! Krzakala, Loureiro, arXiv 2502.02545, reaches it) gives `δ_AMP = 1/λ_max(𝓛)` with
//! `𝓛(M) = E[𝒢(Y) M 𝒢(Y)]` on symmetric `p×p` matrices. Since
//! `E[(uᵀ𝒢u)²] = ⟨uuᵀ, 𝓛(uuᵀ)⟩ ≤ λ_max(𝓛)`, `δ⋆ ≥ δ_AMP`, with equality when the top
//! eigenvector of `𝓛` has rank one.
//!
//! **Computation.** `𝒢(y)` is a conditional expectation, estimated from [`SAMPLES`]
//! draws of the latent law (a fixed stream: the result is deterministic) sorted by `y`
//! and cut into [`BINS`] bins of equal count (ties never split). In each bin every entry
//! of `GGᵀ − I` is fitted by least squares as `C_k + D_k(y − ȳ_k)`, so that a conditional
//! mean linear within a bin is captured exactly. The estimate is biased down by the
//! curvature left within bins and up by the sampling noise of the fits (about
//! `2·BINS·Var/SAMPLES`, below 0.1 % here), and it carries the sampling error of the
//! draws of `y` (`δ⋆²·sd((u⋆ᵀ𝒢̂(Y)u⋆)²)/√SAMPLES`, about 0.3 % for phase retrieval);
//! [`optimum`] reports the larger of twice that standard error and the change against half
//! the bins as its accuracy.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::theory::{Labeller, MAX_P, Sym, quad};
use crate::linalg::sym_eigen_desc;
use crate::{Error, Result};

/// Draws of the latent law.
pub const SAMPLES: usize = 1 << 20;
/// Bins of `y`.
pub const BINS: usize = 128;
/// Seed of the fixed stream of draws.
const SEED: u64 = 0x6d75_6c74_6969_6478;

/// The optimal scalar preprocessing and the thresholds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Optimum {
    /// `δ⋆`, the smallest weak-recovery threshold of a scalar `T`.
    pub threshold: f64,
    /// `u⋆`, the direction it recovers first.
    pub direction: [f64; MAX_P],
    /// `δ_AMP = 1/λ_max(𝓛)`.
    pub amp_threshold: f64,
    /// The larger of twice the sampling standard error of `δ⋆` and the changes of `δ⋆`
    /// and `δ_AMP` against half the bins.
    pub accuracy: f64,
    /// `T⋆` at the bin centres: `(ȳ_k, 1 − 1/(1 + u⋆ᵀC_k u⋆))`.
    pub curve: Vec<(f64, f64)>,
}

/// The fitted conditional law of `GGᵀ − I` given `y`: per bin, its mass, mean `y`,
/// variance of `y`, intercept `C_k` and slope `D_k`.
struct Fit {
    p: usize,
    /// The first draw of each bin.
    starts: Vec<usize>,
    mass: Vec<f64>,
    centre: Vec<f64>,
    spread: Vec<f64>,
    c: Vec<Sym>,
    d: Vec<Sym>,
}

/// `δ⋆`, `u⋆`, `δ_AMP` and `T⋆` for the labelling `lab`.
pub fn optimum(lab: &Labeller) -> Result<Optimum> {
    let draws = draw(lab)?;
    let fine = fit(lab.p, &draws, BINS);
    let coarse = fit(lab.p, &draws, BINS / 2);
    let (q_fine, u) = best_direction(&fine);
    let (q_coarse, _) = best_direction(&coarse);
    let (amp_fine, amp_coarse) = (amp_eigenvalue(&fine)?, amp_eigenvalue(&coarse)?);
    if !(q_fine > 0.0 && amp_fine > 0.0) {
        return Err(Error::invalid(
            "link",
            format!(
                "y = {} carries no second-order information on g (E[GGᵀ | y] = I): no spectral method recovers the directions",
                lab.link.text()
            ),
        ));
    }
    let se = sampling_se(&fine, &draws, &u) / (q_fine * q_fine);
    let accuracy = (1.0 / q_fine - 1.0 / q_coarse)
        .abs()
        .max((1.0 / amp_fine - 1.0 / amp_coarse).abs())
        .max(2.0 * se);
    let curve = (0..fine.mass.len())
        .map(|k| {
            let m = quad(&fine.c[k], &u, lab.p);
            (fine.centre[k], 1.0 - 1.0 / (1.0 + m).max(1e-12))
        })
        .collect();
    Ok(Optimum {
        threshold: 1.0 / q_fine,
        direction: u,
        amp_threshold: 1.0 / amp_fine,
        accuracy,
        curve,
    })
}

/// [`SAMPLES`] draws `(y, g)` from the fixed stream, sorted by `y`.
fn draw(lab: &Labeller) -> Result<Vec<(f64, [f64; MAX_P])>> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let dim = lab.dim();
    let mut z = [0.0; MAX_P + 1];
    let mut out = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        for zi in z.iter_mut().take(dim) {
            *zi = StandardNormal.sample(&mut rng);
        }
        let (y, _) = lab.label(&z[..dim]);
        if !y.is_finite() {
            return Err(Error::invalid(
                "link",
                format!(
                    "y = {} is not finite ({y}) at (g, ξ) = {:.3?}",
                    lab.link.text(),
                    &z[..dim]
                ),
            ));
        }
        let mut g = [0.0; MAX_P];
        g[..lab.p].copy_from_slice(&z[..lab.p]);
        out.push((y, g));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(out)
}

/// The per-bin least-squares fits of `GGᵀ − I` against `y`, with `bins` bins of equal
/// count whose edges are moved past ties of `y`.
fn fit(p: usize, draws: &[(f64, [f64; MAX_P])], bins: usize) -> Fit {
    let n = draws.len();
    let mut out = Fit {
        p,
        starts: Vec::new(),
        mass: Vec::new(),
        centre: Vec::new(),
        spread: Vec::new(),
        c: Vec::new(),
        d: Vec::new(),
    };
    let mut start = 0;
    while start < n {
        let mut end = (start + n.div_ceil(bins)).min(n);
        while end < n && draws[end].0 == draws[end - 1].0 {
            end += 1;
        }
        let bin = &draws[start..end];
        let count = bin.len() as f64;
        let ybar = bin.iter().map(|b| b.0).sum::<f64>() / count;
        let var = bin.iter().map(|b| (b.0 - ybar).powi(2)).sum::<f64>() / count;
        let (mut c, mut d) = ([[0.0; MAX_P]; MAX_P], [[0.0; MAX_P]; MAX_P]);
        for (y, g) in bin {
            for a in 0..p {
                for b in 0..p {
                    let h = g[a] * g[b] - f64::from(u8::from(a == b));
                    c[a][b] += h / count;
                    if var > 0.0 {
                        d[a][b] += h * (y - ybar) / (count * var);
                    }
                }
            }
        }
        out.starts.push(start);
        out.mass.push(count / n as f64);
        out.centre.push(ybar);
        out.spread.push(var);
        out.c.push(c);
        out.d.push(d);
        start = end;
    }
    out
}

/// The standard error of `Q(u)` from the draws: `sd((uᵀ𝒢̂(yᵢ)u)²)/√n`, `𝒢̂` the fit.
fn sampling_se(f: &Fit, draws: &[(f64, [f64; MAX_P])], u: &[f64; MAX_P]) -> f64 {
    let n = draws.len();
    let (mut s1, mut s2) = (0.0, 0.0);
    for k in 0..f.mass.len() {
        let end = f.starts.get(k + 1).copied().unwrap_or(n);
        let (a, b) = (quad(&f.c[k], u, f.p), quad(&f.d[k], u, f.p));
        for (y, _) in &draws[f.starts[k]..end] {
            let q = (a + b * (y - f.centre[k])).powi(2);
            s1 += q;
            s2 += q * q;
        }
    }
    let mean = s1 / n as f64;
    ((s2 / n as f64 - mean * mean).max(0.0) / n as f64).sqrt()
}

/// `Q(u) = E[(uᵀ𝒢u)²] = Σ_k P_k ((uᵀC_k u)² + Var_k(y)(uᵀD_k u)²)`.
fn q_of(f: &Fit, u: &[f64; MAX_P]) -> f64 {
    (0..f.mass.len())
        .map(|k| {
            let (a, b) = (quad(&f.c[k], u, f.p), quad(&f.d[k], u, f.p));
            f.mass[k] * (a * a + f.spread[k] * b * b)
        })
        .sum()
}

/// The unit vector in spherical angles.
fn unit(p: usize, theta: f64, phi: f64) -> [f64; MAX_P] {
    match p {
        1 => [1.0, 0.0, 0.0],
        2 => [theta.cos(), theta.sin(), 0.0],
        _ => [
            theta.sin() * phi.cos(),
            theta.sin() * phi.sin(),
            theta.cos(),
        ],
    }
}

/// `max_u Q(u)` and its maximiser: a grid of the half-sphere (`u` and `−u` give the same
/// `Q`) refined by a compass search in the angles down to 10⁻¹⁰ rad.
fn best_direction(f: &Fit) -> (f64, [f64; MAX_P]) {
    let p = f.p;
    if p == 1 {
        let u = unit(1, 0.0, 0.0);
        return (q_of(f, &u), u);
    }
    let pi = std::f64::consts::PI;
    let (nt, np) = if p == 2 { (720, 1) } else { (90, 180) };
    let mut best = (f64::NEG_INFINITY, 0.0, 0.0);
    for i in 0..nt {
        for k in 0..np {
            let (theta, phi) = (pi * i as f64 / nt as f64, 2.0 * pi * k as f64 / np as f64);
            let q = q_of(f, &unit(p, theta, phi));
            if q > best.0 {
                best = (q, theta, phi);
            }
        }
    }
    let mut step = pi / nt as f64;
    while step > 1e-10 {
        let mut moved = false;
        for (dt, dp) in [(step, 0.0), (-step, 0.0), (0.0, step), (0.0, -step)] {
            if p == 2 && dp != 0.0 {
                continue;
            }
            let (theta, phi) = (best.1 + dt, best.2 + dp);
            let q = q_of(f, &unit(p, theta, phi));
            if q > best.0 {
                best = (q, theta, phi);
                moved = true;
            }
        }
        if !moved {
            step *= 0.5;
        }
    }
    (best.0, unit(p, best.1, best.2))
}

/// `λ_max(𝓛)`, `𝓛(M) = Σ_k P_k (C_k M C_k + Var_k(y) D_k M D_k)`, on the symmetric
/// matrices with the orthonormal basis `E_aa`, `(E_ab + E_ba)/√2`.
fn amp_eigenvalue(f: &Fit) -> Result<f64> {
    let p = f.p;
    let basis: Vec<Sym> = (0..p)
        .flat_map(|a| (0..=a).map(move |b| (a, b)))
        .map(|(a, b)| {
            let mut e = [[0.0; MAX_P]; MAX_P];
            let v = if a == b {
                1.0
            } else {
                std::f64::consts::FRAC_1_SQRT_2
            };
            e[a][b] = v;
            e[b][a] = v;
            e
        })
        .collect();
    let s = basis.len();
    let images: Vec<Sym> = basis.iter().map(|e| apply_l(f, e)).collect();
    let l = faer::Mat::from_fn(s, s, |i, j| {
        (0..p)
            .flat_map(|a| (0..p).map(move |b| (a, b)))
            .map(|(a, b)| basis[i][a][b] * images[j][a][b])
            .sum::<f64>()
    });
    let sym = faer::Mat::from_fn(s, s, |i, j| 0.5 * (l[(i, j)] + l[(j, i)]));
    Ok(sym_eigen_desc(sym.as_ref())?.0[0])
}

/// `𝓛(M)`.
fn apply_l(f: &Fit, m: &Sym) -> Sym {
    let p = f.p;
    let mut out = [[0.0; MAX_P]; MAX_P];
    let sandwich = |a: &Sym, w: f64, out: &mut Sym| {
        for i in 0..p {
            for j in 0..p {
                let mut v = 0.0;
                for k in 0..p {
                    for l in 0..p {
                        v += a[i][k] * m[k][l] * a[l][j];
                    }
                }
                out[i][j] += w * v;
            }
        }
    };
    for k in 0..f.mass.len() {
        sandwich(&f.c[k], f.mass[k], &mut out);
        sandwich(&f.d[k], f.mass[k] * f.spread[k], &mut out);
    }
    out
}
