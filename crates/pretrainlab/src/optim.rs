//! Limited-memory BFGS for smooth unconstrained minimisation, with buffers reused across
//! calls so that a Monte Carlo trial allocates nothing once its workspace exists.
//!
//! The direction is the two-loop recursion of Nocedal & Wright (Numerical Optimization,
//! Alg. 7.4) with the initial scaling `γ = sᵀy / yᵀy`; the step is found by
//! backtracking from 1 under the Armijo condition `f(x + t p) ≤ f(x) + c₁ t ∇fᵀp`.
//! Near the optimum, where `f` changes by less than its rounding error, a step is also
//! accepted when it reduces `‖∇f‖`. A pair `(s, y)` enters the memory only when
//! `sᵀy > 0`, which keeps the implicit inverse Hessian positive definite without a Wolfe
//! line search.
//!
//! At a few thousand variables the stored pairs outgrow the L2 cache, and streaming them
//! is the cost of an iteration. Each inner product of the recursion is therefore taken
//! in the same pass as the update before it, and the accepted step forms `s`, `y`, `sᵀy`,
//! `yᵀy` and the new `‖∇f‖²` in one pass (see `kernels`).

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
    /// `ρᵢ = 1/(sᵢᵀyᵢ)` and `yᵢᵀyᵢ` of each stored pair.
    rho: Vec<f64>,
    yy: Vec<f64>,
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
            yy: vec![0.0; mem],
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
        let mut gg = dot(&self.g, &self.g);
        let mut iterations = 0;
        loop {
            let grad_norm = gg.sqrt();
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
            let mut slope = self.direction(stored, head, mem);
            // Not a descent direction (or NaN): restart from steepest descent.
            if slope >= 0.0 || slope.is_nan() {
                for (p, g) in self.p.iter_mut().zip(&self.g) {
                    *p = -g;
                }
                slope = -gg;
                stored = 0;
                head = 0;
            }
            let mut t = if stored == 0 {
                (1.0 / grad_norm).min(1.0)
            } else {
                1.0
            };
            let mut accepted = false;
            let mut f_new = f;
            for _ in 0..MAX_BACKTRACKS {
                kernels::step(&mut self.x_new, x, t, &self.p);
                f_new = fg(&self.x_new, &mut self.g_new);
                let armijo = f_new <= f + ARMIJO_C1 * t * slope;
                let at_rounding = (f_new - f).abs() <= ROUNDING * (1.0 + f.abs())
                    && dot(&self.g_new, &self.g_new) < gg;
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
            let pair = kernels::secant(
                x,
                &self.x_new,
                &self.g,
                &self.g_new,
                &mut self.s[slot],
                &mut self.y[slot],
            );
            if pair.sy > 1e-300 {
                self.rho[slot] = 1.0 / pair.sy;
                self.yy[slot] = pair.yy;
                head = (head + 1) % mem;
                stored = (stored + 1).min(mem);
            }
            std::mem::swap(&mut self.g, &mut self.g_new);
            gg = pair.gg_new;
            f = f_new;
            iterations += 1;
        }
    }

    /// Two-loop recursion (Nocedal & Wright, Alg. 7.4): `p = −H g` with the stored pairs,
    /// newest at `head − 1`, and the initial scaling `γ = sᵀy/yᵀy` of the newest pair.
    /// Returns the slope `gᵀp`.
    ///
    /// Each inner product of the recursion is taken in the same pass over memory as the
    /// update before it (`p ← p + c v` while `wᵀp` accumulates), so the recursion makes
    /// `2·stored + 1` passes after zeroing `p`, each streaming two vectors (stored ones,
    /// or `g` at the ends), instead of `4·stored`.
    /// At the dimensions of the unconstrained-features model (a few thousand) the
    /// stored pairs do not fit in the L2 cache and this traffic is the cost.
    fn direction(&mut self, stored: usize, head: usize, mem: usize) -> f64 {
        use kernels::update_dot;
        // Every branch starts with p ← −g, as 0 + (−1)·g.
        self.p.fill(0.0);
        if stored == 0 {
            return update_dot(&mut self.p, -1.0, &self.g, 1.0, &self.g);
        }
        let slot = |back: usize| (head + mem - 1 - back) % mem;
        // First loop, newest to oldest: αᵢ = ρᵢ sᵢᵀp, then p ← p − αᵢ yᵢ.
        let newest = slot(0);
        let d = update_dot(&mut self.p, -1.0, &self.g, 1.0, &self.s[newest]);
        self.alpha[newest] = self.rho[newest] * d;
        for back in 1..stored {
            let (i, prev) = (slot(back), slot(back - 1));
            let d = update_dot(
                &mut self.p,
                -self.alpha[prev],
                &self.y[prev],
                1.0,
                &self.s[i],
            );
            self.alpha[i] = self.rho[i] * d;
        }
        // The last update of the first loop, the scaling by γ, and the first βᵢ = ρᵢ yᵢᵀp.
        let oldest = slot(stored - 1);
        let gamma = 1.0 / (self.rho[newest] * self.yy[newest]);
        let d = update_dot(
            &mut self.p,
            -self.alpha[oldest],
            &self.y[oldest],
            gamma,
            &self.y[oldest],
        );
        let mut beta = self.rho[oldest] * d;
        // Second loop, oldest to newest: p ← p + (αᵢ − βᵢ) sᵢ, then the next βᵢ.
        for back in (0..stored - 1).rev() {
            let (i, prev) = (slot(back), slot(back + 1));
            let c = self.alpha[prev] - beta;
            beta = self.rho[i] * update_dot(&mut self.p, c, &self.s[prev], 1.0, &self.y[i]);
        }
        let c = self.alpha[newest] - beta;
        update_dot(&mut self.p, c, &self.s[newest], 1.0, &self.g)
    }
}

/// The vector passes of [`Lbfgs`], each one loop over memory. Sums use sixteen partial
/// sums in a fixed order, enough independent additions to keep up with memory. The AVX2
/// versions are written with intrinsics (the compiler does not vectorise an update fused
/// with a sum), without FMA, and give the same bits as the portable ones.
mod kernels {
    /// Width of the partial sums.
    const L: usize = 16;

    /// `Σ acc` in the fixed order `((a₀ + a₄) + (a₈ + a₁₂)) …` that the AVX2 versions
    /// also follow (four lanes of four registers).
    #[inline(always)]
    fn reduce(acc: &[f64; L]) -> f64 {
        let mut h = [0.0; 4];
        for (l, hl) in h.iter_mut().enumerate() {
            *hl = (acc[l] + acc[l + 4]) + (acc[l + 8] + acc[l + 12]);
        }
        (h[0] + h[2]) + (h[1] + h[3])
    }

    /// `p ← γ(p + c v)`; returns `wᵀp` of the updated `p`. With `γ = 1` this is an
    /// update `p ← p + c v` (the multiplication by 1 is exact), and with `p` all zero
    /// and `c = −1` it sets `p ← −v`.
    pub(super) fn update_dot(p: &mut [f64], c: f64, v: &[f64], gamma: f64, w: &[f64]) -> f64 {
        let n = p.len();
        assert!(v.len() == n && w.len() == n, "L-BFGS vectors of one length");
        #[cfg(target_arch = "x86_64")]
        {
            if crate::linalg::avx2() {
                // SAFETY: the CPU supports AVX2 (checked above); the lengths are equal.
                return unsafe { avx2_impl::update_dot(p, c, v, gamma, w) };
            }
        }
        update_dot_portable(p, c, v, gamma, w)
    }

    pub(super) fn update_dot_portable(
        p: &mut [f64],
        c: f64,
        v: &[f64],
        gamma: f64,
        w: &[f64],
    ) -> f64 {
        let n = p.len();
        let split = n - n % L;
        let mut acc = [0.0; L];
        for (j, pj) in p[..split].iter_mut().enumerate() {
            *pj = gamma * (*pj + c * v[j]);
            acc[j % L] += w[j] * *pj;
        }
        tail_update_dot(
            &mut p[split..],
            c,
            &v[split..],
            gamma,
            &w[split..],
            reduce(&acc),
        )
    }

    /// The last `n mod L` entries of [`update_dot`], added to `total` one at a time.
    #[inline(always)]
    fn tail_update_dot(p: &mut [f64], c: f64, v: &[f64], gamma: f64, w: &[f64], total: f64) -> f64 {
        let mut tail = 0.0;
        for ((pj, vj), wj) in p.iter_mut().zip(v).zip(w) {
            *pj = gamma * (*pj + c * vj);
            tail += wj * *pj;
        }
        total + tail
    }

    /// `x_new ← x + t p`.
    pub(super) fn step(x_new: &mut [f64], x: &[f64], t: f64, p: &[f64]) {
        for ((xn, xi), pi) in x_new.iter_mut().zip(x).zip(p) {
            *xn = xi + t * pi;
        }
    }

    /// Inner products and squared norm of a new pair (see [`secant`]).
    pub(super) struct Pair {
        pub sy: f64,
        pub yy: f64,
        pub gg_new: f64,
    }

    /// The accepted step: `s ← x_new − x`, `y ← g_new − g`, `x ← x_new`, in one pass,
    /// with `sᵀy`, `yᵀy` and `‖g_new‖²`.
    pub(super) fn secant(
        x: &mut [f64],
        x_new: &[f64],
        g: &[f64],
        g_new: &[f64],
        s: &mut [f64],
        y: &mut [f64],
    ) -> Pair {
        let n = x.len();
        assert!(
            [x_new.len(), g.len(), g_new.len(), s.len(), y.len()] == [n; 5],
            "L-BFGS vectors of one length"
        );
        #[cfg(target_arch = "x86_64")]
        {
            if crate::linalg::avx2() {
                // SAFETY: the CPU supports AVX2 (checked above); the lengths are equal.
                return unsafe { avx2_impl::secant(x, x_new, g, g_new, s, y) };
            }
        }
        secant_portable(x, x_new, g, g_new, s, y)
    }

    pub(super) fn secant_portable(
        x: &mut [f64],
        x_new: &[f64],
        g: &[f64],
        g_new: &[f64],
        s: &mut [f64],
        y: &mut [f64],
    ) -> Pair {
        let split = x.len() - x.len() % L;
        let (mut sy, mut yy, mut gg) = ([0.0; L], [0.0; L], [0.0; L]);
        for j in 0..split {
            s[j] = x_new[j] - x[j];
            y[j] = g_new[j] - g[j];
            x[j] = x_new[j];
            sy[j % L] += s[j] * y[j];
            yy[j % L] += y[j] * y[j];
            gg[j % L] += g_new[j] * g_new[j];
        }
        let totals = [reduce(&sy), reduce(&yy), reduce(&gg)];
        tail_secant(x, x_new, g, g_new, s, y, split, totals)
    }

    /// Entries `split..` of [`secant`], added to `totals` (`sᵀy`, `yᵀy`, `‖g_new‖²`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn tail_secant(
        x: &mut [f64],
        x_new: &[f64],
        g: &[f64],
        g_new: &[f64],
        s: &mut [f64],
        y: &mut [f64],
        split: usize,
        totals: [f64; 3],
    ) -> Pair {
        let mut t = [0.0; 3];
        for j in split..x.len() {
            s[j] = x_new[j] - x[j];
            y[j] = g_new[j] - g[j];
            x[j] = x_new[j];
            t[0] += s[j] * y[j];
            t[1] += y[j] * y[j];
            t[2] += g_new[j] * g_new[j];
        }
        Pair {
            sy: totals[0] + t[0],
            yy: totals[1] + t[1],
            gg_new: totals[2] + t[2],
        }
    }

    /// AVX2 versions: lanes `4r..4r + 4` of the sixteen partial sums live in register
    /// `r`, so the additions happen in the portable order.
    #[cfg(target_arch = "x86_64")]
    pub(super) mod avx2_impl {
        use std::arch::x86_64::*;

        use super::{L, Pair, reduce, tail_secant, tail_update_dot};

        /// The four registers of partial sums as the portable array.
        #[target_feature(enable = "avx2")]
        fn spill(acc: [__m256d; 4]) -> [f64; L] {
            let mut out = [0.0; L];
            for (r, a) in acc.into_iter().enumerate() {
                // SAFETY: `out[4r..4r + 4]` is in bounds (r < 4).
                unsafe { _mm256_storeu_pd(out.as_mut_ptr().add(4 * r), a) };
            }
            out
        }

        /// See [`super::update_dot`]. Safety: AVX2 is available; the slices have equal
        /// lengths.
        #[target_feature(enable = "avx2")]
        pub(in crate::optim) unsafe fn update_dot(
            p: &mut [f64],
            c: f64,
            v: &[f64],
            gamma: f64,
            w: &[f64],
        ) -> f64 {
            let n = p.len();
            let split = n - n % L;
            let (cv, gv) = (_mm256_set1_pd(c), _mm256_set1_pd(gamma));
            let mut acc = [_mm256_setzero_pd(); 4];
            let (pp, vp, wp) = (p.as_mut_ptr(), v.as_ptr(), w.as_ptr());
            let mut j = 0;
            while j < split {
                for (r, a) in acc.iter_mut().enumerate() {
                    let o = j + 4 * r;
                    // SAFETY: o + 4 ≤ split ≤ n for all three slices.
                    unsafe {
                        let pv = _mm256_loadu_pd(pp.add(o));
                        let upd = _mm256_add_pd(pv, _mm256_mul_pd(cv, _mm256_loadu_pd(vp.add(o))));
                        let upd = _mm256_mul_pd(gv, upd);
                        _mm256_storeu_pd(pp.add(o), upd);
                        *a = _mm256_add_pd(*a, _mm256_mul_pd(_mm256_loadu_pd(wp.add(o)), upd));
                    }
                }
                j += L;
            }
            let total = reduce(&spill(acc));
            tail_update_dot(&mut p[split..], c, &v[split..], gamma, &w[split..], total)
        }

        /// See [`super::secant`]. Safety: AVX2 is available; the slices have equal
        /// lengths.
        #[target_feature(enable = "avx2")]
        pub(in crate::optim) unsafe fn secant(
            x: &mut [f64],
            x_new: &[f64],
            g: &[f64],
            g_new: &[f64],
            s: &mut [f64],
            y: &mut [f64],
        ) -> Pair {
            let n = x.len();
            let split = n - n % L;
            let zero = _mm256_setzero_pd();
            let (mut sy, mut yy, mut gg) = ([zero; 4], [zero; 4], [zero; 4]);
            let (xp, xnp, gp, gnp) = (x.as_mut_ptr(), x_new.as_ptr(), g.as_ptr(), g_new.as_ptr());
            let (sp, yp) = (s.as_mut_ptr(), y.as_mut_ptr());
            let mut j = 0;
            while j < split {
                for r in 0..4 {
                    let o = j + 4 * r;
                    // SAFETY: o + 4 ≤ split ≤ n for all six slices.
                    unsafe {
                        let xn = _mm256_loadu_pd(xnp.add(o));
                        let gn = _mm256_loadu_pd(gnp.add(o));
                        let sv = _mm256_sub_pd(xn, _mm256_loadu_pd(xp.add(o)));
                        let yv = _mm256_sub_pd(gn, _mm256_loadu_pd(gp.add(o)));
                        _mm256_storeu_pd(sp.add(o), sv);
                        _mm256_storeu_pd(yp.add(o), yv);
                        _mm256_storeu_pd(xp.add(o), xn);
                        sy[r] = _mm256_add_pd(sy[r], _mm256_mul_pd(sv, yv));
                        yy[r] = _mm256_add_pd(yy[r], _mm256_mul_pd(yv, yv));
                        gg[r] = _mm256_add_pd(gg[r], _mm256_mul_pd(gn, gn));
                    }
                }
                j += L;
            }
            let totals = [reduce(&spill(sy)), reduce(&spill(yy)), reduce(&spill(gg))];
            tail_secant(x, x_new, g, g_new, s, y, split, totals)
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

    /// The fused recursion against the textbook two-loop recursion, written out here
    /// from Nocedal & Wright Alg. 7.4, for every number of stored pairs (with the ring
    /// buffer wrapped) at a length that is not a multiple of the sum width: 10⁻¹²
    /// relative. The slope returned is `gᵀp`.
    #[test]
    fn direction_matches_the_two_loop_recursion() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let (dim, mem) = (37, 5);
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(5);
        let mut opt = Lbfgs::new(dim, settings(10));
        let mut draw =
            |n: usize| -> Vec<f64> { (0..n).map(|_| StandardNormal.sample(&mut rng)).collect() };
        for v in opt.s.iter_mut().chain(opt.y.iter_mut()) {
            *v = draw(dim);
        }
        // Pairs with sᵀy > 0: y = s + a small perturbation.
        for i in 0..opt.s.len() {
            let noise = draw(dim);
            for ((y, s), e) in opt.y[i].iter_mut().zip(&opt.s[i]).zip(noise) {
                *y = s + 0.3 * e;
            }
            opt.rho[i] = 1.0 / dot(&opt.s[i], &opt.y[i]);
            opt.yy[i] = dot(&opt.y[i], &opt.y[i]);
            assert!(opt.rho[i] > 0.0);
        }
        opt.g = draw(dim);
        let mem_len = opt.s.len();
        assert_eq!(mem_len, 8);
        for stored in 0..=mem {
            for head in [0, 3, 7] {
                let slope = opt.direction(stored, head, mem_len);
                let mut q: Vec<f64> = opt.g.iter().map(|v| -v).collect();
                let order: Vec<usize> = (0..stored)
                    .map(|b| (head + mem_len - 1 - b) % mem_len)
                    .collect();
                let mut alpha = vec![0.0; mem_len];
                for &i in &order {
                    let sq: f64 = opt.s[i].iter().zip(&q).map(|(a, b)| a * b).sum();
                    alpha[i] = opt.rho[i] * sq;
                    for (qv, yv) in q.iter_mut().zip(&opt.y[i]) {
                        *qv -= alpha[i] * yv;
                    }
                }
                if let Some(&newest) = order.first() {
                    let sy: f64 = opt.s[newest]
                        .iter()
                        .zip(&opt.y[newest])
                        .map(|(a, b)| a * b)
                        .sum();
                    let yy: f64 = opt.y[newest].iter().map(|v| v * v).sum();
                    q.iter_mut().for_each(|v| *v *= sy / yy);
                }
                for &i in order.iter().rev() {
                    let yq: f64 = opt.y[i].iter().zip(&q).map(|(a, b)| a * b).sum();
                    let beta = opt.rho[i] * yq;
                    for (qv, sv) in q.iter_mut().zip(&opt.s[i]) {
                        *qv += (alpha[i] - beta) * sv;
                    }
                }
                let scale = q.iter().fold(0.0f64, |a, v| a.max(v.abs()));
                for (j, (a, b)) in opt.p.iter().zip(&q).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-12 * scale,
                        "stored {stored}, head {head}, [{j}]: {a} vs {b}"
                    );
                }
                let gq: f64 = opt.g.iter().zip(&q).map(|(a, b)| a * b).sum();
                assert!(
                    (slope - gq).abs() <= 1e-12 * gq.abs(),
                    "slope {slope} vs {gq}"
                );
            }
        }
    }

    /// The AVX2 kernels give the bits of the portable ones (same operations in the same
    /// order, no FMA), at lengths around multiples of the sum width.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_kernels_round_like_the_portable_ones() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        if !crate::linalg::avx2() {
            return;
        }
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(8);
        for n in [0, 1, 15, 16, 17, 33, 100, 3520] {
            let mut draw =
                || -> Vec<f64> { (0..n).map(|_| StandardNormal.sample(&mut rng)).collect() };
            let (p0, v, w, x0, xn, g, gn) =
                (draw(), draw(), draw(), draw(), draw(), draw(), draw());
            let (mut pa, mut pb) = (p0.clone(), p0.clone());
            let a = kernels::update_dot_portable(&mut pa, 0.7, &v, 1.3, &w);
            // SAFETY: AVX2 is available (checked above); the lengths are equal.
            let b = unsafe { kernels::avx2_impl::update_dot(&mut pb, 0.7, &v, 1.3, &w) };
            assert_eq!(a.to_bits(), b.to_bits(), "n = {n}");
            assert!(pa.iter().zip(&pb).all(|(x, y)| x.to_bits() == y.to_bits()));
            let (mut xa, mut xb) = (x0.clone(), x0.clone());
            let (mut sa, mut sb, mut ya, mut yb) =
                (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            let ka = kernels::secant_portable(&mut xa, &xn, &g, &gn, &mut sa, &mut ya);
            // SAFETY: as above.
            let kb = unsafe { kernels::avx2_impl::secant(&mut xb, &xn, &g, &gn, &mut sb, &mut yb) };
            assert_eq!(
                [ka.sy, ka.yy, ka.gg_new].map(f64::to_bits),
                [kb.sy, kb.yy, kb.gg_new].map(f64::to_bits),
                "n = {n}"
            );
            assert!(xa == xb && sa == sb && ya == yb && xa == xn);
            let sy: f64 = sa.iter().zip(&ya).map(|(a, b)| a * b).sum();
            assert!((ka.sy - sy).abs() <= 1e-12 * (1.0 + sy.abs()));
        }
    }
}
