//! The law of `Q = Σⱼ wⱼ χ²₁,ⱼ` (independent χ² variables with one degree of freedom,
//! weights `wⱼ ≥ 0`): the limit law of the pre-training interaction `‖L(Z)‖²`.
//!
//! The CDF is computed by one of three methods, chosen at construction:
//! - **gamma**: all non-zero weights equal to `w`, so `Q/w ~ χ²_r` and
//!   `P(Q ≤ x) = P(r/2, x/(2w))`, the regularised lower incomplete gamma function;
//! - **ruben**: Ruben's (1962) expansion as a mixture of scaled χ² laws,
//!   `P(Q ≤ x) = Σₖ cₖ P(χ²_{r+2k} ≤ x/b)` with `b = min wⱼ`. With
//!   `γⱼ = 1 − b/wⱼ ∈ [0, 1)`, `gᵢ = Σⱼ γⱼⁱ`, `a₀ = 1`, `aₖ = (1/2k) Σᵢ₌₁..ₖ gᵢ aₖ₋ᵢ`
//!   and `cₖ = aₖ Πⱼ (b/wⱼ)^{1/2}`. All `cₖ ≥ 0` and `Σ cₖ = 1`, so truncating after
//!   `K` terms errs by at most `1 − Σ_{k<K} cₖ`;
//! - **imhof**: Imhof's (1961) inversion formula
//!   `P(Q > x) = ½ + (1/π) ∫₀^∞ sin θ(u) / (u ρ(u)) du`, with
//!   `θ(u) = ½ Σ atan(wⱼu) − ½xu` and `ρ(u) = Π (1 + wⱼ²u²)^{1/4}`, integrated by
//!   Gauss–Legendre panels up to a cut-off `U` chosen from the tail bound
//!   `(1/π)(2/J) Π_{j≤J} wⱼ^{−1/2} U^{−J/2}` (the `J` largest weights). Used when the
//!   weights are so spread that Ruben's series would need too many terms.
//!
//! Weights below `1e-12 · max w` are dropped before choosing a method; they move the
//! law by less than that relative amount.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Target absolute accuracy of the CDF.
const TOL: f64 = 1e-10;
/// Most terms Ruben's series may use (its set-up costs `O(K²)`).
const RUBEN_MAX_TERMS: usize = 20_000;

#[derive(Clone, Debug)]
enum Method {
    Degenerate,
    Gamma {
        w: f64,
        dof: f64,
    },
    Ruben {
        b: f64,
        dof: f64,
        coef: Vec<f64>,
        missing: f64,
    },
    Imhof {
        scaled: Vec<f64>,
        scale: f64,
    },
}

/// A weighted sum of independent χ²₁ variables.
#[derive(Clone, Debug)]
pub struct WeightedChiSquare {
    weights: Vec<f64>,
    method: Method,
}

impl WeightedChiSquare {
    /// The law with the given weights (any order). Errors on a negative or non-finite weight.
    pub fn new(weights: &[f64]) -> Result<Self, String> {
        if let Some(w) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(format!(
                "weights of a χ² mixture must be finite and ≥ 0, got {w}"
            ));
        }
        let mut sorted = weights.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let max = sorted.first().copied().unwrap_or(0.0);
        let active: Vec<f64> = sorted
            .iter()
            .copied()
            .filter(|&w| w > 1e-12 * max && w > 0.0)
            .collect();
        let method = choose(&active);
        Ok(WeightedChiSquare {
            weights: sorted,
            method,
        })
    }

    /// The weights, in descending order.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// `E Q = Σ wⱼ`.
    pub fn mean(&self) -> f64 {
        self.weights.iter().sum()
    }

    /// `Var Q = 2 Σ wⱼ²`.
    pub fn variance(&self) -> f64 {
        2.0 * self.weights.iter().map(|w| w * w).sum::<f64>()
    }

    /// Name of the CDF method in use: "degenerate", "gamma", "ruben" or "imhof".
    pub fn method(&self) -> &'static str {
        match self.method {
            Method::Degenerate => "degenerate",
            Method::Gamma { .. } => "gamma",
            Method::Ruben { .. } => "ruben",
            Method::Imhof { .. } => "imhof",
        }
    }

    /// Stated absolute accuracy of [`Self::cdf`] (round-off aside).
    pub fn cdf_error_bound(&self) -> f64 {
        match &self.method {
            Method::Ruben { missing, .. } => missing.max(1e-13),
            Method::Imhof { .. } => TOL,
            _ => 1e-13,
        }
    }

    /// `P(Q ≤ x)`.
    pub fn cdf(&self, x: f64) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        let p = match &self.method {
            Method::Degenerate => return if x >= 0.0 { 1.0 } else { 0.0 },
            _ if x <= 0.0 => 0.0,
            Method::Gamma { w, dof } => regularized_gamma_p(dof / 2.0, x / (2.0 * w)),
            Method::Ruben { b, dof, coef, .. } => ruben_cdf(x / b, *dof, coef),
            Method::Imhof { scaled, scale } => imhof_cdf(scaled, x / scale),
        };
        p.clamp(0.0, 1.0)
    }

    /// The `p`-quantile, `p ∈ (0, 1)`, to `1e-12` relative accuracy on a bracket grown
    /// from the mean, shrunk by the Illinois variant of regula falsi (superlinear: about
    /// ten CDF evaluations instead of bisection's forty) with every third step a bisection,
    /// so the bracket at least halves every three steps whatever the CDF's shape.
    pub fn quantile(&self, p: f64) -> f64 {
        if matches!(self.method, Method::Degenerate) || !(p > 0.0 && p < 1.0) {
            return if p >= 1.0 { f64::INFINITY } else { 0.0 };
        }
        let (mut lo, mut hi) = (0.0, self.mean().max(f64::MIN_POSITIVE));
        let mut f_hi = self.cdf(hi) - p;
        while f_hi < 0.0 {
            lo = hi;
            hi *= 2.0;
            f_hi = self.cdf(hi) - p;
        }
        let mut f_lo = self.cdf(lo) - p;
        let mut last_side = 0;
        for step in 0..300 {
            if hi - lo <= 1e-12 * hi {
                break;
            }
            let secant = (lo * f_hi - hi * f_lo) / (f_hi - f_lo);
            let x = if step % 3 == 2 || !(secant > lo && secant < hi) {
                0.5 * (lo + hi)
            } else {
                secant
            };
            let f = self.cdf(x) - p;
            if f < 0.0 {
                (lo, f_lo) = (x, f);
                if last_side == -1 {
                    f_hi *= 0.5;
                }
                last_side = -1;
            } else {
                (hi, f_hi) = (x, f);
                if last_side == 1 {
                    f_lo *= 0.5;
                }
                last_side = 1;
            }
        }
        0.5 * (lo + hi)
    }

    /// One draw `Σ wⱼ zⱼ²`, `zⱼ ~ N(0, 1)`.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        self.weights
            .iter()
            .map(|w| {
                let z: f64 = StandardNormal.sample(rng);
                w * z * z
            })
            .sum()
    }
}

fn choose(active: &[f64]) -> Method {
    let (Some(&max), Some(&min)) = (active.first(), active.last()) else {
        return Method::Degenerate;
    };
    let dof = active.len() as f64;
    if max - min <= 1e-12 * max {
        return Method::Gamma { w: max, dof };
    }
    let gamma_max = 1.0 - min / max;
    // Terms needed for γ_max^K below TOL, with slack for the polynomial prefactor.
    let needed = (TOL.ln() / gamma_max.ln()) * 2.0 + 50.0;
    if needed <= RUBEN_MAX_TERMS as f64 {
        let (coef, missing) = ruben_coefficients(active, min);
        return Method::Ruben {
            b: min,
            dof,
            coef,
            missing,
        };
    }
    Method::Imhof {
        scaled: active.iter().map(|w| w / max).collect(),
        scale: max,
    }
}

/// Ruben's mixture weights `cₖ` until `1 − Σcₖ < TOL` or the term cap; returns them and
/// the missing mass.
fn ruben_coefficients(w: &[f64], b: f64) -> (Vec<f64>, f64) {
    let gammas: Vec<f64> = w.iter().map(|&wj| 1.0 - b / wj).collect();
    let c0 = w.iter().map(|&wj| 0.5 * (b / wj).ln()).sum::<f64>().exp();
    let mut powers = vec![1.0; gammas.len()];
    let mut g = vec![0.0];
    let mut a = vec![1.0];
    let mut total = c0;
    while 1.0 - total > TOL && a.len() < RUBEN_MAX_TERMS {
        let k = a.len();
        for (p, gj) in powers.iter_mut().zip(&gammas) {
            *p *= gj;
        }
        g.push(powers.iter().sum());
        let ak = (1..=k).map(|i| g[i] * a[k - i]).sum::<f64>() / (2.0 * k as f64);
        a.push(ak);
        total += c0 * ak;
    }
    (
        a.into_iter().map(|ak| c0 * ak).collect(),
        (1.0 - total).max(0.0),
    )
}

/// `Σₖ cₖ P(χ²_{ν+2k} ≤ y)`, with `P(χ²_{ν+2} ≤ y) = P(χ²_ν ≤ y) − tᵥ` and
/// `tᵥ = (y/2)^{ν/2} e^{−y/2} / Γ(ν/2 + 1)`, `t_{ν+2} = tᵥ · (y/2)/(ν/2 + 1)`.
fn ruben_cdf(y: f64, dof: f64, coef: &[f64]) -> f64 {
    let half = y / 2.0;
    let mut nu = dof;
    let mut p = regularized_gamma_p(nu / 2.0, half);
    let mut log_t = (nu / 2.0) * half.ln() - half - ln_gamma(nu / 2.0 + 1.0);
    let mut sum = 0.0;
    for &c in coef {
        sum += c * p;
        p -= log_t.exp();
        if p <= 0.0 {
            break;
        }
        log_t += half.ln() - (nu / 2.0 + 1.0).ln();
        nu += 2.0;
    }
    sum
}

/// Gauss–Legendre nodes and weights on [−1, 1] (8 points).
const GL_X: [f64; 4] = [
    0.183_434_642_495_649_8,
    0.525_532_409_916_329,
    0.796_666_477_413_626_7,
    0.960_289_856_497_536_3,
];
const GL_W: [f64; 4] = [
    0.362_683_783_378_362,
    0.313_706_645_877_887_3,
    0.222_381_034_453_374_5,
    0.101_228_536_290_376_3,
];

/// Imhof's formula for weights scaled to `max = 1`.
/// Most Gauss–Legendre panels integrated directly before the tail is summed by
/// extrapolation instead.
const IMHOF_DIRECT_PANELS: usize = 20_000;
/// Most half-periods summed in the extrapolated tail.
const IMHOF_TAIL_TERMS: usize = 400;

/// Imhof's integral. Up to the cut-off `U` of the tail bound it is integrated directly;
/// when that would take more than [`IMHOF_DIRECT_PANELS`] panels (a few weights dominate
/// and the integrand decays slowly), the integral is taken directly up to that many
/// panels and the oscillating remainder is summed over half-periods `2π/x` of
/// `sin(xu/2)`, with Wynn's ε-algorithm accelerating the partial sums (the strategy of
/// QUADPACK's QAWF).
fn imhof_cdf(w: &[f64], x: f64) -> f64 {
    let integrand = |u: f64| {
        if u == 0.0 {
            return 0.5 * (w.iter().sum::<f64>() - x);
        }
        let theta = 0.5 * w.iter().map(|wj| (wj * u).atan()).sum::<f64>() - 0.5 * x * u;
        let log_rho = 0.25 * w.iter().map(|wj| (wj * wj * u * u).ln_1p()).sum::<f64>();
        theta.sin() / (u * log_rho.exp())
    };
    let gauss = |a: f64, b: f64, panels: usize| {
        let width = (b - a) / panels as f64;
        let mut sum = 0.0;
        for i in 0..panels {
            let lo = a + i as f64 * width;
            let (mid, half) = (lo + 0.5 * width, 0.5 * width);
            for (z, wt) in GL_X.iter().zip(GL_W) {
                sum += wt * half * (integrand(mid - half * z) + integrand(mid + half * z));
            }
        }
        sum
    };
    let mut log_prod = 0.0;
    let mut cutoff = f64::INFINITY;
    for (j, wj) in w.iter().enumerate() {
        log_prod -= 0.5 * wj.ln();
        let jf = (j + 1) as f64;
        let bound_at_one = (2.0 / (jf * std::f64::consts::PI)).ln() + log_prod;
        cutoff = cutoff.min(((bound_at_one - TOL.ln()) * 2.0 / jf).exp());
    }
    let width = std::f64::consts::PI / (w.iter().sum::<f64>() + x + 1.0);
    let panels = (cutoff / width).ceil();
    let integral = if panels <= IMHOF_DIRECT_PANELS as f64 {
        gauss(0.0, panels * width, panels.max(1.0) as usize)
    } else {
        let u0 = IMHOF_DIRECT_PANELS as f64 * width;
        let head = gauss(0.0, u0, IMHOF_DIRECT_PANELS);
        let period = 2.0 * std::f64::consts::PI / x;
        let per_term = ((period / width).ceil() as usize).max(2);
        let mut wynn = Wynn::default();
        let mut partial = 0.0;
        let mut estimate = 0.0;
        for k in 0..IMHOF_TAIL_TERMS {
            let a = u0 + k as f64 * period;
            partial += gauss(a, a + period, per_term);
            let (next, change) = wynn.push(partial);
            estimate = next;
            if k >= 8 && change <= 0.1 * TOL {
                break;
            }
        }
        head + estimate
    };
    0.5 - integral / std::f64::consts::PI
}

/// Wynn's ε-algorithm on a sequence of partial sums: each `push` returns the current
/// best extrapolation of the limit and how much it moved.
#[derive(Default)]
struct Wynn {
    /// The last row of the ε-table: `row[j] = ε_j` for the newest diagonal.
    row: Vec<f64>,
    best: f64,
}

impl Wynn {
    fn push(&mut self, s: f64) -> (f64, f64) {
        let mut prev_row = std::mem::take(&mut self.row);
        let mut row = Vec::with_capacity(prev_row.len() + 1);
        row.push(s);
        let mut older = 0.0; // ε_{j-1} of the previous diagonal (ε_{-1} = 0)
        for j in 0..prev_row.len() {
            let diff = row[j] - prev_row[j];
            if diff == 0.0 {
                break;
            }
            let next = older + 1.0 / diff;
            older = prev_row[j];
            row.push(next);
        }
        prev_row.clear();
        // Even columns (ε₀, ε₂, …) estimate the limit; take the highest one.
        let top = if row.len() % 2 == 1 {
            row[row.len() - 1]
        } else {
            row[row.len() - 2]
        };
        let estimate = if top.is_finite() { top } else { s };
        let change = (estimate - self.best).abs();
        self.best = estimate;
        self.row = row;
        (estimate, change)
    }
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; about 1e-15 relative).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let series = C[0] + (1..9).map(|i| C[i] / (x + i as f64)).sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// Regularised lower incomplete gamma `P(a, x)`: series for `x < a + 1`, Lentz's
/// continued fraction for the complement otherwise.
pub fn regularized_gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let log_prefix = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut n) = (1.0 / a, 1.0 / a, a);
        while term.abs() > sum.abs() * 1e-16 {
            n += 1.0;
            term *= x / n;
            sum += term;
        }
        (sum.ln() + log_prefix).exp().min(1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            d = if d.abs() < tiny { tiny } else { d };
            c = b + an / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        1.0 - (log_prefix.exp() * h)
    }
}

/// One-sample Kolmogorov–Smirnov distance `sup |Fₙ − F|` of a sample against a CDF.
pub fn ks_statistic(sample: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut sorted = sample.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted.iter().enumerate().fold(0.0, |d: f64, (i, &x)| {
        let f = cdf(x);
        d.max(f - i as f64 / n).max((i + 1) as f64 / n - f)
    })
}

/// Asymptotic p-value `P(Dₙ ≥ d)` from the Kolmogorov law, with Stephens' correction
/// `λ = (√n + 0.12 + 0.11/√n) d`: `p = 2 Σ_{j≥1} (−1)^{j−1} e^{−2j²λ²}`.
pub fn ks_p_value(d: f64, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let rn = (n as f64).sqrt();
    let lambda = (rn + 0.12 + 0.11 / rn) * d;
    if lambda < 0.2 {
        return 1.0;
    }
    let sum: f64 = (1..=100)
        .map(|j| {
            let j = j as f64;
            let sign = if j as u64 % 2 == 1 { 1.0 } else { -1.0 };
            sign * (-2.0 * j * j * lambda * lambda).exp()
        })
        .sum();
    (2.0 * sum).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::trial_rng;

    fn with_method(weights: &[f64], imhof: bool) -> WeightedChiSquare {
        let mut law = WeightedChiSquare::new(weights).unwrap();
        if imhof {
            let max = law.weights[0];
            law.method = Method::Imhof {
                scaled: law.weights.iter().map(|w| w / max).collect(),
                scale: max,
            };
        }
        law
    }

    #[test]
    fn gamma_case_matches_chi_square_tables() {
        let law = WeightedChiSquare::new(&[2.0, 2.0, 2.0]).unwrap();
        assert_eq!(law.method(), "gamma");
        assert!((law.cdf(2.0 * 7.814_727_903_251_178) - 0.95).abs() < 1e-10);
        let one = WeightedChiSquare::new(&[1.0, 0.0]).unwrap();
        assert!((one.quantile(0.95) - 3.841_458_820_694_124).abs() < 1e-9);
        assert!((regularized_gamma_p(3.0, 2.0) - 0.323_323_583_816_936_5).abs() < 1e-13);
        assert!((regularized_gamma_p(0.5, 8.0) - 0.999_936_657_516_334_3).abs() < 1e-13);
        assert!((ln_gamma(10.5) - 13.940_625_219_403_763).abs() < 1e-12);
    }

    #[test]
    fn ruben_and_imhof_agree() {
        for w in [
            vec![3.0, 1.0],
            vec![5.0, 2.0, 0.7, 0.1],
            vec![1.0, 0.9, 0.8, 0.5, 0.5, 0.2],
        ] {
            let r = with_method(&w, false);
            let i = with_method(&w, true);
            assert_eq!(r.method(), "ruben");
            for x in [0.1, 0.5, 1.0, 3.0, 8.0, 20.0] {
                assert!(
                    (r.cdf(x) - i.cdf(x)).abs() < 1e-7,
                    "{w:?} at {x}: {} vs {}",
                    r.cdf(x),
                    i.cdf(x)
                );
            }
        }
    }

    /// Weights `[1, 0.3, 0.01]`: Ruben's series converges (≈ 5 000 terms) and serves as
    /// the reference for Imhof's integral, which here needs the extrapolated tail (its
    /// direct cut-off would take millions of panels).
    #[test]
    fn imhof_with_extrapolated_tail_matches_ruben() {
        let w = [1.0, 0.3, 0.01];
        let r = with_method(&w, false);
        assert_eq!(r.method(), "ruben");
        assert!(r.cdf_error_bound() < 1e-9);
        for x in [0.05, 0.3, 1.0, 2.5, 6.0, 15.0] {
            let i = imhof_cdf(&w, x);
            assert!(
                (r.cdf(x) - i).abs() < 1e-8,
                "at {x}: ruben {} vs imhof {i}",
                r.cdf(x)
            );
        }
    }

    /// Very spread weights go to Imhof; the law then differs from the one without the
    /// tiny weight by at most `E[1e-5 χ²₁]·sup f ≈ 1e-5`, and quantiles stay consistent.
    #[test]
    fn wide_weights_use_imhof_and_stay_accurate() {
        let w = [1.0, 0.3, 1e-5];
        let law = WeightedChiSquare::new(&w).unwrap();
        assert_eq!(law.method(), "imhof");
        let reference = WeightedChiSquare::new(&[1.0, 0.3]).unwrap();
        for x in [0.2, 1.0, 4.0] {
            assert!((law.cdf(x) - reference.cdf(x)).abs() < 2e-5, "at {x}");
            assert!(
                law.cdf(x) <= reference.cdf(x) + 1e-9,
                "adding a weight lowers the CDF"
            );
        }
        let p = law.quantile(0.9);
        assert!((law.cdf(p) - 0.9).abs() < 1e-9);
    }

    /// Moments and quantiles against 200 000 draws: the mean within 5 s.e., the CDF at the
    /// predicted quantiles within 5 binomial s.e. (sqrt(p(1−p)/N) ≈ 1e-3).
    #[test]
    fn law_matches_monte_carlo() {
        let law = WeightedChiSquare::new(&[4.0, 1.5, 1.5, 0.3]).unwrap();
        let mut rng = trial_rng(1, 2, 3);
        let n = 200_000;
        let draws: Vec<f64> = (0..n).map(|_| law.sample(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        assert!((mean - law.mean()).abs() < 5.0 * (law.variance() / n as f64).sqrt());
        for p in [0.05, 0.25, 0.5, 0.75, 0.95] {
            let q = law.quantile(p);
            let frac = draws.iter().filter(|&&x| x <= q).count() as f64 / n as f64;
            assert!(
                (frac - p).abs() < 5.0 * (p * (1.0 - p) / n as f64).sqrt(),
                "p {p}: {frac}"
            );
            assert!((law.cdf(q) - p).abs() < 1e-10);
        }
    }

    #[test]
    fn ks_accepts_the_true_law_and_rejects_a_scaled_one() {
        let law = WeightedChiSquare::new(&[2.0, 1.0, 0.5]).unwrap();
        let wrong = WeightedChiSquare::new(&[2.6, 1.3, 0.65]).unwrap();
        let mut rng = trial_rng(4, 0, 0);
        let sample: Vec<f64> = (0..2000).map(|_| law.sample(&mut rng)).collect();
        let d = ks_statistic(&sample, |x| law.cdf(x));
        assert!(ks_p_value(d, sample.len()) > 1e-3, "D = {d}");
        let d_wrong = ks_statistic(&sample, |x| wrong.cdf(x));
        assert!(ks_p_value(d_wrong, sample.len()) < 1e-6, "D = {d_wrong}");
    }

    #[test]
    fn rejects_bad_weights_and_handles_degenerate_law() {
        assert!(WeightedChiSquare::new(&[1.0, -0.1]).is_err());
        assert!(WeightedChiSquare::new(&[f64::NAN]).is_err());
        let zero = WeightedChiSquare::new(&[0.0, 0.0]).unwrap();
        assert_eq!(zero.cdf(0.0), 1.0);
        assert_eq!(zero.quantile(0.5), 0.0);
    }
}
