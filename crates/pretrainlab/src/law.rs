//! Limit laws behind one small trait, so that checks, figures and front ends treat every
//! model's predicted distribution alike.
//!
//! A [`Law`] gives its mean, variance, CDF and quantile function. The weighted χ² law of
//! `‖L(Z)‖²` ([`WeightedChiSquare`]) implements it, and [`Affine`] maps a law through
//! `x ↦ shift + x/divisor`, which is how the two-stage limit `σ² d_eff + ‖L(Z)‖²/α` is
//! built from it.

use std::fmt::Debug;
use std::sync::Arc;

use serde::Serialize;

use crate::stats::LEVELS;
use crate::theory::WeightedChiSquare;

/// A univariate probability law.
pub trait Law: Send + Sync + Debug {
    /// `E X`.
    fn mean(&self) -> f64;
    /// `Var X`.
    fn variance(&self) -> f64;
    /// `P(X ≤ x)`.
    fn cdf(&self, x: f64) -> f64;
    /// The `p`-quantile, `p ∈ (0, 1)`.
    fn quantile(&self, p: f64) -> f64;
    /// One line saying what the law is, e.g. "Σ wⱼ χ²₁ (3 weights)".
    fn describe(&self) -> String;
}

impl Law for WeightedChiSquare {
    fn mean(&self) -> f64 {
        WeightedChiSquare::mean(self)
    }
    fn variance(&self) -> f64 {
        WeightedChiSquare::variance(self)
    }
    fn cdf(&self, x: f64) -> f64 {
        WeightedChiSquare::cdf(self, x)
    }
    fn quantile(&self, p: f64) -> f64 {
        WeightedChiSquare::quantile(self, p)
    }
    fn describe(&self) -> String {
        let w: Vec<String> = self.weights().iter().map(|w| format!("{w:.4e}")).collect();
        format!(
            "weighted χ²: Σ wⱼ χ²₁ with w = [{}] (CDF by {})",
            w.join(", "),
            self.method()
        )
    }
}

/// The law of `shift + X/divisor` for `X` drawn from `inner` (`divisor > 0`).
#[derive(Clone, Debug)]
pub struct Affine {
    pub inner: Arc<dyn Law>,
    pub shift: f64,
    pub divisor: f64,
}

impl Law for Affine {
    fn mean(&self) -> f64 {
        self.shift + self.inner.mean() / self.divisor
    }
    fn variance(&self) -> f64 {
        self.inner.variance() / (self.divisor * self.divisor)
    }
    fn cdf(&self, x: f64) -> f64 {
        self.inner.cdf(self.divisor * (x - self.shift))
    }
    fn quantile(&self, p: f64) -> f64 {
        self.shift + self.inner.quantile(p) / self.divisor
    }
    fn describe(&self) -> String {
        format!(
            "{} + X/{}, X ~ {}",
            self.shift,
            self.divisor,
            self.inner.describe()
        )
    }
}

/// What a law looks like in JSON: its description, mean, variance and quantiles at
/// [`LEVELS`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LawSummary {
    pub description: String,
    pub mean: f64,
    pub variance: f64,
    pub levels: [f64; 5],
    pub quantiles: [f64; 5],
}

impl LawSummary {
    pub fn of(law: &dyn Law) -> Self {
        LawSummary {
            description: law.describe(),
            mean: law.mean(),
            variance: law.variance(),
            levels: LEVELS,
            quantiles: LEVELS.map(|p| law.quantile(p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// χ²₂ with weight 1 is exponential with mean 2: closed forms for every method.
    #[test]
    fn affine_chi_square_matches_the_exponential_closed_form() {
        let inner: Arc<dyn Law> = Arc::new(WeightedChiSquare::new(&[1.0, 1.0]).unwrap());
        let law = Affine {
            inner,
            shift: 3.0,
            divisor: 4.0,
        };
        // X = 3 + E/4 with E ~ Exp(mean 2): mean 3.5, variance 4/16, cdf 1 − e^{−2(x−3)}.
        assert!((law.mean() - 3.5).abs() < 1e-12);
        assert!((law.variance() - 0.25).abs() < 1e-12);
        for x in [3.1, 3.5, 4.0] {
            let want = 1.0 - (-2.0 * (x - 3.0f64)).exp();
            assert!((law.cdf(x) - want).abs() < 1e-10, "cdf({x})");
        }
        let q = law.quantile(0.5);
        assert!((q - (3.0 + 2.0f64.ln() / 2.0)).abs() < 1e-9, "median {q}");
        assert_eq!(law.cdf(2.9), 0.0);
        let s = LawSummary::of(&law);
        assert!(s.quantiles.windows(2).all(|w| w[0] < w[1]));
    }
}
