//! Gauss–Hermite quadrature for expectations over standard Gaussian vectors.
//!
//! **Rule.** The `q`-point probabilists' Gauss–Hermite rule `Σᵢ wᵢ f(xᵢ)` approximates
//! `E f(G)`, `G ~ N(0, 1)`. It is exact when `f` is a polynomial of degree at most
//! `2q − 1`; for `f` analytic in a strip around the real axis its error decays
//! geometrically in `√q`, and for `f` with a kink or a jump only algebraically (about
//! `0.3/q` for `E|G|`), so non-smooth integrands need large `q` or a rule split at the
//! kink. The nodes are the eigenvalues of the Jacobi matrix of the Hermite polynomials
//! `He_k` (zero diagonal, off-diagonal `√k`), and the weights the squared first
//! components of its unit eigenvectors (Golub & Welsch, "Calculation of Gauss quadrature
//! rules", Math. Comp. 1969). Nodes and weights are accurate to about 10⁻¹⁴ absolute.
//!
//! **Tensor rule.** For `G ~ N(0, I_p)`, the product rule with `qᵖ` points, exact for
//! polynomials of degree at most `2q − 1` in each coordinate. Points whose weight is
//! below 10⁻³⁰⁰ of the largest are dropped.

use faer::Mat;

use crate::linalg::sym_eigen_desc;
use crate::{Error, Result};

/// Largest one-dimensional order.
pub const MAX_ORDER: usize = 400;
/// Largest dimension of a tensor rule.
pub const MAX_DIM: usize = 4;
/// Most points of a tensor rule.
pub const MAX_POINTS: usize = 4_000_000;

/// The one-dimensional probabilists' Gauss–Hermite rule.
#[derive(Clone, Debug)]
pub struct GaussHermite {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

impl GaussHermite {
    /// The `order`-point rule (`1 ≤ order ≤ MAX_ORDER`), nodes ascending.
    pub fn new(order: usize) -> Result<Self> {
        if !(1..=MAX_ORDER).contains(&order) {
            return Err(Error::invalid(
                "quadrature_order",
                format!("must be in 1..={MAX_ORDER}, got {order}"),
            ));
        }
        let mut jacobi = Mat::<f64>::zeros(order, order);
        for k in 1..order {
            let b = (k as f64).sqrt();
            jacobi[(k, k - 1)] = b;
            jacobi[(k - 1, k)] = b;
        }
        let (values, vectors) = sym_eigen_desc(jacobi.as_ref())?;
        let mut pairs: Vec<(f64, f64)> = (0..order)
            .map(|i| (values[i], vectors[(0, i)] * vectors[(0, i)]))
            .collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Symmetrise: the rule is even, so average mirrored pairs to cancel rounding.
        let n = pairs.len();
        for i in 0..n / 2 {
            let (x, w) = (
                0.5 * (pairs[n - 1 - i].0 - pairs[i].0),
                0.5 * (pairs[i].1 + pairs[n - 1 - i].1),
            );
            pairs[i] = (-x, w);
            pairs[n - 1 - i] = (x, w);
        }
        if n % 2 == 1 {
            pairs[n / 2].0 = 0.0;
        }
        let total: f64 = pairs.iter().map(|p| p.1).sum();
        Ok(GaussHermite {
            nodes: pairs.iter().map(|p| p.0).collect(),
            weights: pairs.iter().map(|p| p.1 / total).collect(),
        })
    }

    /// The nodes `xᵢ`, ascending.
    pub fn nodes(&self) -> &[f64] {
        &self.nodes
    }

    /// The weights `wᵢ` (they sum to 1).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// `Σᵢ wᵢ f(xᵢ) ≈ E f(G)`.
    pub fn expect(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(&x, &w)| w * f(x))
            .sum()
    }
}

/// The tensor-product rule for `G ~ N(0, I_dim)`.
#[derive(Clone, Debug)]
pub struct TensorGaussHermite {
    dim: usize,
    /// The points, `dim` coordinates each, one after another.
    points: Vec<f64>,
    weights: Vec<f64>,
}

impl TensorGaussHermite {
    /// The product of `dim` copies of the `order`-point rule (`1 ≤ dim ≤ MAX_DIM`, at most
    /// [`MAX_POINTS`] points).
    pub fn new(dim: usize, order: usize) -> Result<Self> {
        if !(1..=MAX_DIM).contains(&dim) {
            return Err(Error::invalid(
                "quadrature dimension",
                format!("must be in 1..={MAX_DIM}, got {dim}"),
            ));
        }
        let count = (order as u128).pow(dim as u32);
        if count > MAX_POINTS as u128 {
            return Err(Error::invalid(
                "quadrature_order",
                format!(
                    "order^dim must be at most {MAX_POINTS} points, got {order}^{dim} = {count}"
                ),
            ));
        }
        let rule = GaussHermite::new(order)?;
        let w_max = rule
            .weights
            .iter()
            .fold(0.0f64, |a, &b| a.max(b))
            .powi(dim as i32);
        let mut points = Vec::with_capacity(count as usize * dim);
        let mut weights = Vec::with_capacity(count as usize);
        let mut index = vec![0usize; dim];
        for _ in 0..count {
            let w: f64 = index.iter().map(|&i| rule.weights[i]).product();
            if w > 1e-300 * w_max {
                points.extend(index.iter().map(|&i| rule.nodes[i]));
                weights.push(w);
            }
            for slot in index.iter_mut() {
                *slot += 1;
                if *slot < order {
                    break;
                }
                *slot = 0;
            }
        }
        Ok(TensorGaussHermite {
            dim,
            points,
            weights,
        })
    }

    /// The dimension `p`.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of points kept.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether the rule has no points (never, for a rule built by [`TensorGaussHermite::new`]).
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The `i`-th point.
    pub fn point(&self, i: usize) -> &[f64] {
        &self.points[i * self.dim..(i + 1) * self.dim]
    }

    /// The `i`-th weight.
    pub fn weight(&self, i: usize) -> f64 {
        self.weights[i]
    }

    /// `Σᵢ wᵢ f(xᵢ) ≈ E f(G)`.
    pub fn expect(&self, f: impl Fn(&[f64]) -> f64) -> f64 {
        self.points
            .chunks_exact(self.dim)
            .zip(&self.weights)
            .map(|(x, &w)| w * f(x))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(2k − 1)!!`, the `2k`-th moment of N(0, 1).
    fn double_factorial(k: u32) -> f64 {
        (1..=k).map(|j| (2 * j - 1) as f64).product()
    }

    #[test]
    fn exact_for_polynomials_up_to_degree_2q_minus_1() {
        for q in [1usize, 2, 5, 10, 20] {
            let rule = GaussHermite::new(q).unwrap();
            for k in 0..q as u32 {
                let got = rule.expect(|x| x.powi(2 * k as i32));
                let want = double_factorial(k);
                // Relative 10⁻¹⁰: the highest moments weigh the outermost nodes by up to 10¹¹.
                assert!(
                    (got - want).abs() <= 1e-10 * want,
                    "q={q} k={k}: {got} vs {want}"
                );
                let odd = rule.expect(|x| x.powi(2 * k as i32 + 1));
                assert!(odd.abs() < 1e-12 * want.max(1.0), "q={q}: odd moment {odd}");
            }
            // Degree 2q is not integrated exactly: the rule can fail.
            let k = q as u32;
            let miss = rule.expect(|x| x.powi(2 * k as i32));
            assert!((miss - double_factorial(k)).abs() > 1e-3, "q={q}");
        }
    }

    #[test]
    fn smooth_closed_forms_converge_geometrically() {
        let rule = GaussHermite::new(60).unwrap();
        // E cos(aG) = exp(−a²/2), E exp(tG) = exp(t²/2), E 1/(1 + G²/4) by its Laplace form.
        for a in [0.5, 1.0, 2.0, 3.0] {
            let got = rule.expect(|x| (a * x).cos());
            assert!(
                (got - (-a * a / 2.0f64).exp()).abs() < 1e-13,
                "a={a}: {got}"
            );
            let e = rule.expect(|x| (a * x).exp());
            assert!(
                (e / (a * a / 2.0f64).exp() - 1.0).abs() < 1e-12,
                "t={a}: {e}"
            );
        }
    }

    #[test]
    fn tensor_rule_matches_closed_forms() {
        let rule = TensorGaussHermite::new(3, 20).unwrap();
        assert_eq!(rule.len(), 8000);
        let sum: f64 = (0..rule.len()).map(|i| rule.weight(i)).sum();
        assert!((sum - 1.0).abs() < 1e-14);
        // E[G1² G2⁴ G3⁶] = 1·3·15.
        let m = rule.expect(|g| g[0].powi(2) * g[1].powi(4) * g[2].powi(6));
        assert!((m - 45.0).abs() < 1e-10, "{m}");
        // E cos(G1 + 2G2 − G3) = exp(−6/2).
        let c = rule.expect(|g| (g[0] + 2.0 * g[1] - g[2]).cos());
        assert!((c - (-3.0f64).exp()).abs() < 1e-9, "{c}");
        // A cross moment that a wrong point layout would break: E[G1 G2 (G1 + G3)²] = 0,
        // E[G1² (G2 + G3)²] = 2.
        let x = rule.expect(|g| g[0] * g[1] * (g[0] + g[2]).powi(2));
        assert!(x.abs() < 1e-12, "{x}");
        let y = rule.expect(|g| g[0] * g[0] * (g[1] + g[2]).powi(2));
        assert!((y - 2.0).abs() < 1e-12, "{y}");
    }

    #[test]
    fn kinks_converge_slowly_and_the_rate_is_as_documented() {
        // E|G1 G2| = 2/π; the kink at 0 limits the rule to algebraic convergence.
        let exact = 2.0 / std::f64::consts::PI;
        let err = |q| {
            let r = TensorGaussHermite::new(2, q).unwrap();
            (r.expect(|g| (g[0] * g[1]).abs()) - exact).abs()
        };
        // About 0.6/q for the product (twice the one-dimensional 0.3/q times E|G|).
        let (e50, e200) = (err(50), err(200));
        assert!(e200 < 4e-3 && e50 / e200 > 3.0, "{e50} {e200}");
    }

    #[test]
    fn bad_orders_are_errors() {
        assert!(GaussHermite::new(0).is_err());
        assert!(GaussHermite::new(MAX_ORDER + 1).is_err());
        assert!(TensorGaussHermite::new(0, 5).is_err());
        assert!(TensorGaussHermite::new(4, 100).is_err());
    }
}
