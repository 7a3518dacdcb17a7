//! The spectral estimator of a noiseless single-index model in the proportional limit
//! (Lu & Li, "Phase transitions of spectral initialization for high-dimensional
//! nonconvex estimation", Information and Inference 2020; Mondelli & Montanari,
//! "Fundamental limits of weak recovery with applications to phase retrieval",
//! arXiv 1708.05932, Lemma 2).
//!
//! **Setting.** `aᵢ ~ N(0, I_d)`, `gᵢ = ⟨aᵢ, θ⋆⟩` with `‖θ⋆‖ = 1`, `n/d → δ`, and the
//! matrix `D = (1/n) Σᵢ T(gᵢ) aᵢaᵢᵀ`, where `T` is the preprocessing composed with the
//! link (`T(g) = 𝒯(σ(g))`), bounded with supremum `τ = sup T > 0`. The estimator is the
//! top eigenvector `v₁` of `D`.
//!
//! **Limit** (re-derived from the resolvent of the rank-one-in-law signal part). With
//! `G ~ N(0, 1)` and, for `λ > τ`,
//!
//! ```text
//! ψ_δ(λ) = λ (1/δ + E[T/(λ − T)]),          φ(λ) = λ E[T G²/(λ − T)],
//! ψ'_δ(λ) = 1/δ − E[T²/(λ − T)²],          φ'(λ) = −E[T² G²/(λ − T)²],
//! ```
//!
//! `ψ_δ` is convex on `(τ, ∞)` with minimiser `λ̄_δ` (`δ E[T²/(λ̄ − T)²] = 1`, or `τ` when
//! that has no root) and `ψ_δ(λ̄_δ)` is the right edge of the bulk; `φ` decreases. An
//! outlier exists iff `φ(λ̄_δ) > ψ_δ(λ̄_δ)`; then `λ⋆ > λ̄_δ` is the unique root of
//! `ψ_δ(λ) = φ(λ)`, `λ₁(D) → ψ_δ(λ⋆)` and
//!
//! ```text
//! ⟨v₁, θ⋆⟩² → ψ'_δ(λ⋆) / (ψ'_δ(λ⋆) − φ'(λ⋆)),
//! ```
//!
//! otherwise `⟨v₁, θ⋆⟩² → 0` and `λ₁(D)` sticks to the edge. The weak-recovery threshold
//! `δ_c` is the `δ` at which `φ(λ̄_δ) = ψ_δ(λ̄_δ)`, i.e. where
//! `E[T(G² − 1)/(λ − T)] = E[T²/(λ − T)²] = 1/δ` hold together.
//!
//! The expectations over `G` are computed by adaptive Gauss–Kronrod (7/15) quadrature of
//! the Gaussian density on `[−12, 12]` (the mass beyond is below 10⁻³²), split at `0`
//! and at the caller's breakpoints (the discontinuities of `T` and the points where it
//! approaches `τ`, where `1/(λ − T)` peaks).
//!
//! **Noisy channels.** For `y = f(g, ε)` with a channel noise `ε ~ N(0, 1)` independent
//! of `g`, the same limit holds with every expectation taken over `(G, ε)`
//! ([`Preprocessing::with_noise`]): the inner expectation over `ε` by a quadrature rule
//! the caller gives, the outer one over `G` as above.

use crate::{Error, Result};

/// Half-width of the quadrature interval in units of the standard deviation.
const SPAN: f64 = 12.0;
/// Most subintervals one expectation may use.
const MAX_INTERVALS: usize = 20_000;
/// Relative tolerance of each expectation.
const TOL: f64 = 1e-11;

/// Gauss–Kronrod 15-point abscissae (non-negative half; QUADPACK's `qk15`).
const XGK: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
/// Kronrod weights of [`XGK`].
const WGK: [f64; 8] = [
    0.022_935_322_010_529_22,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_2,
    0.140_653_259_715_525_9,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_727_8,
];
/// Gauss 7-point weights, at the odd-indexed abscissae of [`XGK`] (1, 3, 5, 7).
const WG: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_7,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

/// `E[f(G)]`, `G ~ N(0, 1)`, for a vector of `K` integrands, by adaptive Gauss–Kronrod
/// on `[−12, 12]` split at `breaks` (each subinterval refined until the Kronrod and Gauss
/// estimates agree to [`TOL`] relative, or [`MAX_INTERVALS`] are used).
pub fn gaussian_expectation<const K: usize>(
    f: &dyn Fn(f64) -> [f64; K],
    breaks: &[f64],
) -> [f64; K] {
    let norm = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    let weighted = |g: f64| {
        let w = norm * (-0.5 * g * g).exp();
        f(g).map(|v| v * w)
    };
    let mut cuts: Vec<f64> = vec![-SPAN, 0.0, SPAN];
    cuts.extend(breaks.iter().filter(|b| b.abs() < SPAN && b.is_finite()));
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let mut stack: Vec<(f64, f64)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    let mut total = [0.0; K];
    let mut used = stack.len();
    while let Some((a, b)) = stack.pop() {
        let (kronrod, gauss) = gk15(&weighted, a, b);
        let converged = kronrod
            .iter()
            .zip(&gauss)
            .all(|(k, g)| (k - g).abs() <= TOL * k.abs().max(1e-300) || (k - g).abs() < 1e-300);
        if converged || used >= MAX_INTERVALS || b - a < 1e-13 {
            for (t, k) in total.iter_mut().zip(kronrod) {
                *t += k;
            }
        } else {
            let mid = 0.5 * (a + b);
            stack.push((a, mid));
            stack.push((mid, b));
            used += 1;
        }
    }
    total
}

/// The Kronrod and Gauss estimates of `∫ₐᵇ f`.
fn gk15<const K: usize>(f: &dyn Fn(f64) -> [f64; K], a: f64, b: f64) -> ([f64; K], [f64; K]) {
    let (center, half) = (0.5 * (a + b), 0.5 * (b - a));
    let mut kronrod = [0.0; K];
    let mut gauss = [0.0; K];
    for (i, (&x, &wk)) in XGK.iter().zip(&WGK).enumerate() {
        let points: &[f64] = if x == 0.0 {
            &[center]
        } else {
            &[center - half * x, center + half * x]
        };
        for &p in points {
            let v = f(p);
            for c in 0..K {
                kronrod[c] += wk * v[c];
                if i % 2 == 1 {
                    gauss[c] += WG[i / 2] * v[c];
                }
            }
        }
    }
    (kronrod.map(|v| v * half), gauss.map(|v| v * half))
}

/// `λ̄`: the root on `(τ, ∞)` of a function `excess(λ)` that decreases in `λ` (there
/// `δ E[T²/(λ − T)²] − 1`), by bisection in `log(λ − τ)` to `rel` relative; `τ(1 + 10⁻¹²)`
/// when `excess` is not positive there.
pub fn lambda_bar_root(tau: f64, rel: f64, excess: impl Fn(f64) -> f64) -> f64 {
    let above = |gap: f64| excess(tau + gap) > 0.0;
    let mut lo = 1e-12 * tau;
    if !above(lo) {
        return tau + lo;
    }
    let mut hi = tau;
    while above(hi) {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = (lo * hi).sqrt();
        if above(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi / lo < 1.0 + rel {
            break;
        }
    }
    tau + (lo * hi).sqrt()
}

/// A bounded preprocessing `T(g)` of the single-index model, as a function of the
/// latent `g = ⟨a, θ⋆⟩` (the link composed with the preprocessing of the label).
pub struct Preprocessing {
    /// `T(g, ε)`: the preprocessing of the label `y = f(g, ε)` of a latent `g` and a
    /// channel noise `ε ~ N(0, 1)` independent of `g` (`ε` unused without noise).
    t: Box<dyn Fn(f64, f64) -> f64 + Send + Sync>,
    /// Gauss–Hermite nodes and weights of `ε` (the single node `(0, 1)` without noise):
    /// every expectation is `E_G[Σₖ wₖ h(T(G, εₖ), G)]`.
    noise: Vec<(f64, f64)>,
    /// `τ = sup T`.
    sup: f64,
    /// Points of `g` where `T` jumps or approaches `τ`.
    breaks: Vec<f64>,
}

/// The four expectations the limit needs at one `λ > τ`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Moments {
    /// `E[T/(λ − T)]`.
    t: f64,
    /// `E[T²/(λ − T)²]`.
    t2: f64,
    /// `E[T G²/(λ − T)]`.
    tg: f64,
    /// `E[T² G²/(λ − T)²]`.
    t2g: f64,
}

/// The limit of the spectral estimator at one `δ`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct SpectralLimit {
    pub delta: f64,
    /// `λ̄_δ`, the minimiser of `ψ_δ`.
    pub lambda_bar: f64,
    /// `ψ_δ(λ̄_δ)`, the right edge of the bulk of `D`.
    pub bulk_edge: f64,
    /// `λ⋆`, where an outlier exists.
    pub lambda_star: Option<f64>,
    /// The limit of `λ₁(D)`: `ψ_δ(λ⋆)`, or the edge without an outlier.
    pub top_eigenvalue: f64,
    /// The limit of `⟨v₁, θ⋆⟩²`.
    pub overlap2: f64,
}

impl Preprocessing {
    /// `T` with supremum `sup > 0` and the points `breaks` where it jumps or approaches
    /// `sup` (they guide the quadrature).
    pub fn new(
        t: impl Fn(f64) -> f64 + Send + Sync + 'static,
        sup: f64,
        breaks: Vec<f64>,
    ) -> Result<Self> {
        Self::with_noise(move |g, _| t(g), sup, breaks, &[(0.0, 1.0)])
    }

    /// `T(g, ε)` of a noisy channel `y = f(g, ε)`, `ε ~ N(0, 1)` independent of `g`, with
    /// the expectation over `ε` taken by the quadrature rule `noise` (nodes and weights
    /// summing to 1, e.g. Gauss–Hermite); `sup` and `breaks` as in [`Preprocessing::new`],
    /// over both arguments.
    pub fn with_noise(
        t: impl Fn(f64, f64) -> f64 + Send + Sync + 'static,
        sup: f64,
        breaks: Vec<f64>,
        noise: &[(f64, f64)],
    ) -> Result<Self> {
        if !(sup > 0.0 && sup.is_finite()) {
            return Err(Error::Numerical(format!(
                "the preprocessing must be bounded with a positive supremum, got sup T = {sup}"
            )));
        }
        Ok(Preprocessing {
            t: Box::new(t),
            noise: noise.to_vec(),
            sup,
            breaks,
        })
    }

    /// `τ = sup T`.
    pub fn sup(&self) -> f64 {
        self.sup
    }

    /// `T(g)` (at `ε = 0` for a noisy channel).
    pub fn eval(&self, g: f64) -> f64 {
        (self.t)(g, 0.0)
    }

    /// `E[h(T(G, ε), G)]` for a vector of integrands.
    pub fn expect<const K: usize>(&self, h: impl Fn(f64, f64) -> [f64; K]) -> [f64; K] {
        gaussian_expectation(
            &|g| {
                let mut acc = [0.0; K];
                for &(e, w) in &self.noise {
                    for (a, v) in acc.iter_mut().zip(h((self.t)(g, e), g)) {
                        *a += w * v;
                    }
                }
                acc
            },
            &self.breaks,
        )
    }

    fn moments(&self, lambda: f64) -> Moments {
        let [t, t2, tg, t2g] = self.expect(|t, g| {
            let r = t / (lambda - t);
            [r, r * r, r * g * g, r * r * g * g]
        });
        Moments { t, t2, tg, t2g }
    }

    fn psi(&self, delta: f64, lambda: f64, m: &Moments) -> f64 {
        lambda * (1.0 / delta + m.t)
    }

    /// `λ̄_δ`: the root of `δ E[T²/(λ − T)²] = 1` on `(τ, ∞)` (decreasing in `λ`), by
    /// bisection in `log(λ − τ)` to 10⁻¹² relative; `τ` (to within 10⁻¹²·τ) when it has no root.
    pub fn lambda_bar(&self, delta: f64) -> f64 {
        lambda_bar_root(self.sup, 1e-12, |lambda| {
            delta * self.moments(lambda).t2 - 1.0
        })
    }

    /// The limit at `δ` (see the module docs).
    pub fn at(&self, delta: f64) -> Result<SpectralLimit> {
        if !(delta > 0.0 && delta.is_finite()) {
            return Err(Error::invalid("delta", format!("must be > 0, got {delta}")));
        }
        let lambda_bar = self.lambda_bar(delta);
        let mb = self.moments(lambda_bar);
        let bulk_edge = self.psi(delta, lambda_bar, &mb);
        // h(λ) = φ(λ) − ψ_δ(λ), decreasing on (λ̄, ∞).
        let h = |lambda: f64| {
            let m = self.moments(lambda);
            lambda * m.tg - self.psi(delta, lambda, &m)
        };
        let mut limit = SpectralLimit {
            delta,
            lambda_bar,
            bulk_edge,
            lambda_star: None,
            top_eigenvalue: bulk_edge,
            overlap2: 0.0,
        };
        if h(lambda_bar) <= 0.0 {
            return Ok(limit);
        }
        let (mut lo, mut hi) = (lambda_bar, 2.0 * lambda_bar);
        while h(hi) > 0.0 {
            lo = hi;
            hi *= 2.0;
            if !hi.is_finite() {
                return Err(Error::Numerical("no root of ψ_δ = φ was found".into()));
            }
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if h(mid) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo <= 1e-14 * hi {
                break;
            }
        }
        let star = 0.5 * (lo + hi);
        let m = self.moments(star);
        let psi_prime = 1.0 / delta - m.t2;
        limit.lambda_star = Some(star);
        limit.top_eigenvalue = self.psi(delta, star, &m);
        limit.overlap2 = (psi_prime / (psi_prime + m.t2g)).max(0.0);
        Ok(limit)
    }

    /// Whether an outlier exists at `δ`: `φ(λ̄_δ) > ψ_δ(λ̄_δ)`.
    fn has_outlier(&self, delta: f64) -> bool {
        let lambda = self.lambda_bar(delta);
        let m = self.moments(lambda);
        lambda * m.tg > self.psi(delta, lambda, &m)
    }

    /// The weak-recovery threshold `δ_c` (an outlier exists for `δ > δ_c`), by bisection
    /// in `log δ` on `[10⁻⁴, 10⁶]` to 10⁻⁸ relative; an error when there is no transition in that range.
    pub fn threshold(&self) -> Result<f64> {
        let (mut lo, mut hi) = (1e-4, 1e6);
        if self.has_outlier(lo) || !self.has_outlier(hi) {
            return Err(Error::Numerical(
                "the spectral estimator has no weak-recovery transition for δ in [1e-4, 1e6]"
                    .into(),
            ));
        }
        for _ in 0..100 {
            let mid = (lo * hi).sqrt();
            if self.has_outlier(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
            if hi / lo < 1.0 + 1e-8 {
                break;
            }
        }
        Ok((lo * hi).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{Eigh, mul_into};
    use faer::{Accum, Mat};
    use rand::SeedableRng;
    use rand::rngs::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// The quadrature integrates Gaussian moments (1, E G² = 1, E G⁴ = 3, E G⁶ = 15) and
    /// a discontinuous integrand (P(G² < 8) = erf(2)) to 1e-12.
    #[test]
    fn quadrature_integrates_gaussian_moments() {
        let m = gaussian_expectation(&|g| [1.0, g * g, g.powi(4), g.powi(6)], &[]);
        for (got, want) in m.iter().zip([1.0, 1.0, 3.0, 15.0]) {
            assert!((got - want).abs() < 1e-12 * want, "{got} vs {want}");
        }
        let root = 8f64.sqrt();
        let [p] = gaussian_expectation(&|g| [f64::from(u8::from(g * g < 8.0))], &[-root, root]);
        assert!((p - libm::erf(2.0)).abs() < 1e-12, "{p}");
    }

    fn rational() -> Preprocessing {
        Preprocessing::new(
            |g| {
                let y = g * g;
                y / (y + 1.0)
            },
            1.0,
            vec![],
        )
        .unwrap()
    }

    /// At λ̄ the derivative ψ'_δ vanishes and ψ_δ is smallest (central differences of the
    /// quadrature), and the overlap equals ψ'/(ψ' − φ') with φ' by finite differences.
    #[test]
    fn edge_and_overlap_follow_their_definitions() {
        let p = rational();
        let delta = 4.0;
        let lim = p.at(delta).unwrap();
        let psi = |l: f64| l * (1.0 / delta + p.moments(l).t);
        let phi = |l: f64| l * p.moments(l).tg;
        let b = lim.lambda_bar;
        assert!(psi(b) < psi(b * 1.001) && psi(b) < psi(1.0 + (b - 1.0) * 0.999));
        let star = lim.lambda_star.unwrap();
        assert!((psi(star) - phi(star)).abs() < 1e-9);
        let h = 1e-5;
        let dpsi = (psi(star + h) - psi(star - h)) / (2.0 * h);
        let dphi = (phi(star + h) - phi(star - h)) / (2.0 * h);
        let overlap = dpsi / (dpsi - dphi);
        assert!(
            (overlap - lim.overlap2).abs() < 1e-6,
            "{overlap} vs {lim:?}"
        );
    }

    /// T(y) = y/(y + 1), y = g²: independent numbers from a separate NumPy solution of
    /// the same equations, checked there against simulation at d = 4000 (δ = 4: λ₁ →
    /// 1.0009, edge 0.9442, overlap² 0.384; δ = 2: λ₁ → 1.3143, overlap² 0.175), to
    /// their printed precision; the threshold lies between the optimal 1/2 and 2.
    #[test]
    fn rational_preprocessing_matches_an_independent_solution() {
        let p = rational();
        let four = p.at(4.0).unwrap();
        assert!((four.top_eigenvalue - 1.0009).abs() < 6e-4, "{four:?}");
        assert!((four.bulk_edge - 0.9442).abs() < 6e-4, "{four:?}");
        assert!((four.overlap2 - 0.384).abs() < 6e-3, "{four:?}");
        let two = p.at(2.0).unwrap();
        assert!((two.top_eigenvalue - 1.3143).abs() < 6e-4, "{two:?}");
        assert!((two.overlap2 - 0.175).abs() < 6e-3, "{two:?}");
        // No spectral method recovers below the optimal δ_u = 1/2 of phase retrieval
        // (Mondelli–Montanari), and the same NumPy runs saw no overlap at δ = 1.
        let c = p.threshold().unwrap();
        assert!(c > 0.5 && c < 2.0, "{c}");
        let one = p.at(1.0).unwrap();
        assert!(one.overlap2 < 0.05, "{one:?}");
        assert_eq!(p.at(0.99 * c).unwrap().overlap2, 0.0);
        assert!(p.at(1.01 * c).unwrap().overlap2 > 0.0);
    }

    /// Simulation of the spectral estimator with the truncated weights T = 2g²·1{g² < 8}
    /// at d = 600, δ = 6 (3 matrices): the mean squared overlap and the mean top
    /// eigenvalue are within 0.06 and 0.1 of the limit (finite-d fluctuations of the
    /// overlap are about 0.03 at this size).
    #[test]
    fn truncated_weights_match_simulation() {
        let m = 8.0;
        let root = f64::sqrt(m);
        let p = Preprocessing::new(
            move |g| if g * g < m { 2.0 * g * g } else { 0.0 },
            2.0 * m,
            vec![-root, root],
        )
        .unwrap();
        let (d, delta) = (600, 6.0);
        let n = (delta * d as f64) as usize;
        let lim = p.at(delta).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut eigh = Eigh::new(d);
        let (mut overlap, mut top) = (0.0, 0.0);
        let reps = 3;
        for _ in 0..reps {
            let a = Mat::from_fn(n, d, |_, _| StandardNormal.sample(&mut rng));
            let w = Mat::from_fn(n, d, |i, j| p.eval(a[(i, 0)]) * a[(i, j)] / n as f64);
            let mut dm = Mat::<f64>::zeros(d, d);
            mul_into(dm.as_mut(), Accum::Replace, a.transpose(), w.as_ref(), 1.0);
            eigh.compute(dm.as_ref()).unwrap();
            overlap += eigh.vectors()[(0, 0)].powi(2) / reps as f64;
            top += eigh.values()[0] / reps as f64;
        }
        assert!(lim.overlap2 > 0.3, "{lim:?}");
        assert!(
            (overlap - lim.overlap2).abs() < 0.06,
            "{overlap} vs {lim:?}"
        );
        assert!((top - lim.top_eigenvalue).abs() < 0.1, "{top} vs {lim:?}");
    }
}
