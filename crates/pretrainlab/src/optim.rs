//! Limited-memory BFGS for smooth unconstrained minimisation, with buffers reused across
//! calls so that a Monte Carlo trial allocates nothing once its workspace exists.
//!
//! The direction is the two-loop recursion of Nocedal & Wright (Numerical Optimization,
//! Alg. 7.4) with the initial scaling `γ = sᵀy / yᵀy`; the step is found by
//! backtracking from 1 under the Armijo condition `f(x + t p) ≤ f(x) + c₁ t ∇fᵀp`.
//! Near the optimum, where `f` changes by less than its rounding error, a step is also
//! accepted when it reduces `‖∇f‖`. A pair `(s, y)` enters the memory only when `sᵀy > 0`, which keeps the implicit
//! inverse Hessian positive definite without a Wolfe line search.

use crate::linalg::dot;

/// Stopping rule and memory of [`Lbfgs`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsSettings {
    /// Converged when `‖∇f‖₂ ≤ gtol`.
    pub gtol: f64,
    /// Most iterations before giving up.
    pub max_iter: usize,
    /// Number of stored `(s, y)` pairs.
    pub memory: usize,
}

/// How a minimisation ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LbfgsReport {
    pub converged: bool,
    pub iterations: usize,
    pub value: f64,
    pub grad_norm: f64,
}

/// An L-BFGS minimiser for problems of a fixed dimension, owning its buffers.
#[derive(Clone, Debug)]
pub struct Lbfgs {
    settings: LbfgsSettings,
    s: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    rho: Vec<f64>,
    alpha: Vec<f64>,
    g: Vec<f64>,
    g_new: Vec<f64>,
    p: Vec<f64>,
    x_new: Vec<f64>,
}

const ARMIJO_C1: f64 = 1e-4;
const MAX_BACKTRACKS: usize = 60;
/// Relative size of a change in `f` that rounding alone can produce. Near the optimum the
/// Armijo test cannot see decreases this small, so a step that changes `f` by less
/// while reducing `‖∇f‖` is accepted.
const ROUNDING: f64 = 1e-13;

impl Lbfgs {
    pub fn new(dim: usize, settings: LbfgsSettings) -> Self {
        let mem = settings.memory.max(1);
        Lbfgs {
            settings,
            s: vec![vec![0.0; dim]; mem],
            y: vec![vec![0.0; dim]; mem],
            rho: vec![0.0; mem],
            alpha: vec![0.0; mem],
            g: vec![0.0; dim],
            g_new: vec![0.0; dim],
            p: vec![0.0; dim],
            x_new: vec![0.0; dim],
        }
    }

    /// The stopping rule, adjustable between calls (e.g. a tolerance scaled per problem).
    pub fn settings_mut(&mut self) -> &mut LbfgsSettings {
        &mut self.settings
    }

    /// Minimises `f` from `x` (overwritten with the result). `fg(x, g)` returns `f(x)`
    /// and writes `∇f(x)` into `g`.
    pub fn minimize(
        &mut self,
        x: &mut [f64],
        mut fg: impl FnMut(&[f64], &mut [f64]) -> f64,
    ) -> LbfgsReport {
        let mem = self.s.len();
        let mut stored = 0usize;
        let mut head = 0usize;
        let mut f = fg(x, &mut self.g);
        let mut iterations = 0;
        loop {
            let grad_norm = dot(&self.g, &self.g).sqrt();
            if grad_norm <= self.settings.gtol || !f.is_finite() {
                return LbfgsReport {
                    converged: f.is_finite(),
                    iterations,
                    value: f,
                    grad_norm,
                };
            }
            if iterations >= self.settings.max_iter {
                return LbfgsReport {
                    converged: false,
                    iterations,
                    value: f,
                    grad_norm,
                };
            }
            self.direction(stored, head, mem);
            let mut slope = dot(&self.g, &self.p);
            if slope >= 0.0 {
                for (p, g) in self.p.iter_mut().zip(&self.g) {
                    *p = -g;
                }
                slope = -grad_norm * grad_norm;
                stored = 0;
            }
            let mut t = if stored == 0 {
                (1.0 / grad_norm).min(1.0)
            } else {
                1.0
            };
            let mut accepted = false;
            let mut f_new = f;
            for _ in 0..MAX_BACKTRACKS {
                for ((xn, xi), pi) in self.x_new.iter_mut().zip(x.iter()).zip(&self.p) {
                    *xn = xi + t * pi;
                }
                f_new = fg(&self.x_new, &mut self.g_new);
                let armijo = f_new <= f + ARMIJO_C1 * t * slope;
                let at_rounding = (f_new - f).abs() <= ROUNDING * (1.0 + f.abs())
                    && dot(&self.g_new, &self.g_new) < grad_norm * grad_norm;
                if f_new.is_finite() && (armijo || at_rounding) {
                    accepted = true;
                    break;
                }
                t *= 0.5;
            }
            if !accepted {
                return LbfgsReport {
                    converged: false,
                    iterations,
                    value: f,
                    grad_norm,
                };
            }
            let slot = head;
            for (s, (xn, xi)) in self.s[slot].iter_mut().zip(self.x_new.iter().zip(x.iter())) {
                *s = xn - xi;
            }
            for (y, (gn, gi)) in self.y[slot].iter_mut().zip(self.g_new.iter().zip(&self.g)) {
                *y = gn - gi;
            }
            let sy = dot(&self.s[slot], &self.y[slot]);
            if sy > 1e-300 {
                self.rho[slot] = 1.0 / sy;
                head = (head + 1) % mem;
                stored = (stored + 1).min(mem);
            }
            x.copy_from_slice(&self.x_new);
            std::mem::swap(&mut self.g, &mut self.g_new);
            f = f_new;
            iterations += 1;
        }
    }

    /// Two-loop recursion: `p = −H g` with the stored pairs, newest at `head − 1`.
    fn direction(&mut self, stored: usize, head: usize, mem: usize) {
        for (p, g) in self.p.iter_mut().zip(&self.g) {
            *p = -g;
        }
        let slot = |back: usize| (head + mem - 1 - back) % mem;
        for back in 0..stored {
            let i = slot(back);
            let a = self.rho[i] * dot(&self.s[i], &self.p);
            self.alpha[i] = a;
            for (p, y) in self.p.iter_mut().zip(&self.y[i]) {
                *p -= a * y;
            }
        }
        if stored > 0 {
            let i = slot(0);
            let gamma = 1.0 / (self.rho[i] * dot(&self.y[i], &self.y[i]));
            for p in self.p.iter_mut() {
                *p *= gamma;
            }
        }
        for back in (0..stored).rev() {
            let i = slot(back);
            let b = self.rho[i] * dot(&self.y[i], &self.p);
            let a = self.alpha[i];
            for (p, s) in self.p.iter_mut().zip(&self.s[i]) {
                *p += (a - b) * s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_iter: usize) -> LbfgsSettings {
        LbfgsSettings {
            gtol: 1e-10,
            max_iter,
            memory: 8,
        }
    }

    /// The Rosenbrock function's minimum is (1, 1) with value 0.
    #[test]
    fn finds_the_rosenbrock_minimum() {
        let mut opt = Lbfgs::new(2, settings(500));
        let mut x = [-1.2, 1.0];
        let report = opt.minimize(&mut x, |x, g| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        });
        assert!(report.converged, "{report:?}");
        assert!(
            (x[0] - 1.0).abs() < 1e-8 && (x[1] - 1.0).abs() < 1e-8,
            "{x:?}"
        );
    }

    /// An ill-conditioned quadratic `½ Σ cᵢ (xᵢ − i)²` is solved to the gradient tolerance.
    #[test]
    fn solves_an_ill_conditioned_quadratic() {
        let n = 20;
        let c: Vec<f64> = (0..n).map(|i| 10f64.powf(i as f64 / 4.0)).collect();
        let mut opt = Lbfgs::new(n, settings(2000));
        let mut x = vec![0.0; n];
        let report = opt.minimize(&mut x, |x, g| {
            let mut f = 0.0;
            for i in 0..n {
                let r = x[i] - i as f64;
                g[i] = c[i] * r;
                f += 0.5 * c[i] * r * r;
            }
            f
        });
        assert!(report.converged && report.grad_norm <= 1e-10, "{report:?}");
        for (i, xi) in x.iter().enumerate() {
            assert!((xi - i as f64).abs() < 1e-9, "x[{i}] = {xi}");
        }
    }

    /// Running out of iterations is reported, not hidden.
    #[test]
    fn reports_non_convergence() {
        let mut opt = Lbfgs::new(2, settings(2));
        let mut x = [-1.2, 1.0];
        let report = opt.minimize(&mut x, |x, g| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        });
        assert!(!report.converged);
        assert_eq!(report.iterations, 2);
    }
}
