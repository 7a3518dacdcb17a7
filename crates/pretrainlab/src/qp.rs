//! The hard-margin linear SVM without bias, a small convex quadratic programme:
//!
//! ```text
//! p_mm = argmin ½‖p‖²  subject to  a_iᵀp ≥ 1,  i = 1, …, m,
//! ```
//!
//! solved through its dual `max_{λ ≥ 0} D(λ) = Σλ_i − ½‖Σλ_i a_i‖²` (primal `p = Σλ_i a_i`).
//!
//! **Method.** Dual coordinate ascent (Hsieh et al. 2008, without the box of the soft
//! margin): each constraint in turn takes the exact maximiser of `D` along `λ_i`,
//! `λ_i ← max(0, λ_i + (1 − a_iᵀp)/‖a_i‖²)`, and `p` is updated in place. Every few sweeps
//! the support `S = {i : λ_i > 0}` is *polished*: when `|S| ≤ dim`, the equality problem
//! `(A_S A_Sᵀ)μ = 1` is solved by Cholesky, and `μ` is accepted when it is positive and
//! `p = A_Sᵀμ` is feasible, which is then the exact optimum (KKT holds by construction).
//! Coordinate ascent alone converges linearly; the polish ends it once the support is
//! found, so that `p_mm` is exact to rounding.
//!
//! **Infeasibility.** Two lower bounds on `‖p_mm‖²` hold for every `λ ≥ 0` with
//! `w = Σλ_i a_i`: weak duality, `2D(λ) ≤ ‖p_mm‖²`, and `(Σλ_i)²/‖w‖² ≤ ‖p_mm‖²` (from
//! `p_mmᵀw ≥ Σλ_i` and Cauchy–Schwarz; it grows fast when the constraints contradict each
//! other, `w` staying small while `λ` grows). The ascent stops with
//! [`SvmError::Infeasible`] once either exceeds `max_norm2`, which proves that no solution
//! has `‖p‖² ≤ max_norm2` (the constraints contradict each other, or the margin is below
//! `1/√max_norm2`).
//!
//! The constraint rows are reached through [`Rows`], so a caller whose rows are implicit
//! (differences of embedding rows, say) stores no `m × dim` matrix. [`SvmWorkspace`] holds
//! every buffer: a warm solve allocates nothing.

/// The constraint vectors `a_i` of an SVM, read one at a time.
pub trait Rows {
    /// Number of constraints `m`.
    fn count(&self) -> usize;
    /// Dimension of `p`.
    fn dim(&self) -> usize;
    /// `a_iᵀw`.
    fn dot(&self, i: usize, w: &[f64]) -> f64;
    /// `w += alpha·a_i`.
    fn add_to(&self, i: usize, alpha: f64, w: &mut [f64]);
    /// `‖a_i‖²`.
    fn norm2(&self, i: usize) -> f64;
}

/// Rows stored densely, row-major `m × dim`.
pub struct DenseRows<'a> {
    a: &'a [f64],
    dim: usize,
}

impl<'a> DenseRows<'a> {
    /// The rows of the row-major matrix `a` with `dim` columns.
    pub fn new(a: &'a [f64], dim: usize) -> Self {
        DenseRows { a, dim }
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.a[i * self.dim..(i + 1) * self.dim]
    }
}

impl Rows for DenseRows<'_> {
    fn count(&self) -> usize {
        self.a.len() / self.dim.max(1)
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn dot(&self, i: usize, w: &[f64]) -> f64 {
        self.row(i).iter().zip(w).map(|(a, b)| a * b).sum()
    }
    fn add_to(&self, i: usize, alpha: f64, w: &mut [f64]) {
        for (wj, aj) in w.iter_mut().zip(self.row(i)) {
            *wj += alpha * aj;
        }
    }
    fn norm2(&self, i: usize) -> f64 {
        self.row(i).iter().map(|a| a * a).sum()
    }
}

/// Stopping rules of [`solve`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SvmOptions {
    /// Largest KKT violation accepted ([`kkt_violation`]).
    pub tol: f64,
    /// Most sweeps of coordinate ascent.
    pub max_sweeps: usize,
    /// Sweeps between two polishing attempts.
    pub polish_every: usize,
    /// Largest `‖p_mm‖²` sought: beyond it the problem is reported infeasible.
    pub max_norm2: f64,
}

impl Default for SvmOptions {
    fn default() -> Self {
        SvmOptions {
            tol: 1e-10,
            max_sweeps: 20_000,
            polish_every: 5,
            max_norm2: 1e8,
        }
    }
}

/// Why [`solve`] found no solution.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum SvmError {
    /// The dual exceeded the bound: no feasible `p` has `‖p‖² ≤ bound`.
    #[error("the hard-margin SVM is infeasible: no p with ‖p‖² ≤ {bound:e} meets the constraints")]
    Infeasible { bound: f64 },
    /// The ascent used its sweeps without reaching the tolerance.
    #[error("the SVM solver did not converge in {sweeps} sweeps (KKT violation {violation:e})")]
    NotConverged { sweeps: usize, violation: f64 },
    /// There are no constraints, or a constraint vector is zero or not finite.
    #[error("the SVM has no constraints, or a zero or non-finite constraint vector")]
    Degenerate,
}

/// What a successful [`solve`] reports (the solution itself is in the workspace).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SvmSolution {
    /// `‖p_mm‖²`.
    pub norm2: f64,
    /// Sweeps of coordinate ascent used.
    pub sweeps: usize,
    /// Number of support constraints (`λ_i > 0`).
    pub support: usize,
    /// The KKT violation at the solution.
    pub violation: f64,
}

/// Buffers of [`solve`], sized for up to `max_rows` constraints in dimension `dim`.
pub struct SvmWorkspace {
    lambda: Vec<f64>,
    p: Vec<f64>,
    /// The polish: support indices, their rows (`|S| × dim`), Gram matrix and solution.
    support: Vec<usize>,
    rows: Vec<f64>,
    gram: Vec<f64>,
    mu: Vec<f64>,
    trial: Vec<f64>,
}

impl SvmWorkspace {
    pub fn new(max_rows: usize, dim: usize) -> Self {
        let k = max_rows.min(dim);
        SvmWorkspace {
            lambda: vec![0.0; max_rows],
            p: vec![0.0; dim],
            support: Vec::with_capacity(max_rows),
            rows: vec![0.0; k * dim],
            gram: vec![0.0; k * k],
            mu: vec![0.0; k],
            trial: vec![0.0; dim],
        }
    }

    /// Bytes held for `max_rows` constraints in dimension `dim`.
    pub fn bytes(max_rows: usize, dim: usize) -> f64 {
        let k = max_rows.min(dim) as f64;
        let (m, d) = (max_rows as f64, dim as f64);
        8.0 * (2.0 * m + 3.0 * d + k * d + k * k + k)
    }

    /// The solution `p_mm` of the last [`solve`].
    pub fn p(&self) -> &[f64] {
        &self.p
    }

    /// The dual variables `λ` of the last [`solve`] (one per constraint).
    pub fn lambda(&self) -> &[f64] {
        &self.lambda
    }
}

/// The KKT violation of `(p, λ)`: the largest of the primal infeasibility
/// `max_i (1 − a_iᵀp)₊`, the complementarity `max_{λ_i > 0} |a_iᵀp − 1|`, a negative
/// `λ_i`, and the stationarity `‖p − Σλ_i a_i‖/max(‖p‖, 1)`. Zero exactly at the optimum.
/// Uses `scratch` (length `dim`).
pub fn kkt_violation(rows: &impl Rows, p: &[f64], lambda: &[f64], scratch: &mut [f64]) -> f64 {
    let mut worst = 0.0f64;
    scratch.copy_from_slice(p);
    for (i, &l) in lambda.iter().enumerate().take(rows.count()) {
        let m = rows.dot(i, p);
        worst = worst.max(1.0 - m).max(-l);
        if l > 0.0 {
            worst = worst.max((m - 1.0).abs());
            rows.add_to(i, -l, scratch);
        }
    }
    let pn = p.iter().map(|x| x * x).sum::<f64>().sqrt().max(1.0);
    let st = scratch.iter().map(|x| x * x).sum::<f64>().sqrt() / pn;
    worst.max(st)
}

/// Solves the hard-margin SVM of `rows` into `ws` (see the module docs).
pub fn solve(
    rows: &impl Rows,
    ws: &mut SvmWorkspace,
    opts: &SvmOptions,
) -> Result<SvmSolution, SvmError> {
    let m = rows.count();
    if m == 0 || m > ws.lambda.len() || rows.dim() != ws.p.len() {
        return Err(SvmError::Degenerate);
    }
    for i in 0..m {
        let n2 = rows.norm2(i);
        if !(n2.is_finite() && n2 > 0.0) {
            return Err(SvmError::Degenerate);
        }
    }
    ws.lambda[..m].fill(0.0);
    ws.p.fill(0.0);
    let mut violation = f64::INFINITY;
    for sweep in 1..=opts.max_sweeps {
        let (mut primal, mut sum_lambda) = (0.0f64, 0.0);
        for i in 0..m {
            let margin = rows.dot(i, &ws.p);
            let old = ws.lambda[i];
            let new = (old + (1.0 - margin) / rows.norm2(i)).max(0.0);
            if new != old {
                rows.add_to(i, new - old, &mut ws.p);
                ws.lambda[i] = new;
            }
            primal = primal.max(1.0 - margin);
            if old > 0.0 {
                primal = primal.max((margin - 1.0).abs());
            }
            sum_lambda += new;
        }
        let norm2 = dot(&ws.p, &ws.p);
        let certificate = if norm2 > 0.0 {
            sum_lambda * sum_lambda / norm2
        } else {
            0.0
        };
        if (2.0 * sum_lambda - norm2).max(certificate) > opts.max_norm2 {
            return Err(SvmError::Infeasible {
                bound: opts.max_norm2,
            });
        }
        if primal <= opts.tol || sweep % opts.polish_every == 0 {
            if primal > opts.tol {
                polish(rows, ws, opts.tol);
            }
            violation = kkt_violation(rows, &ws.p, &ws.lambda[..m], &mut ws.trial);
            if violation <= opts.tol {
                return Ok(SvmSolution {
                    norm2: dot(&ws.p, &ws.p),
                    sweeps: sweep,
                    support: ws.lambda[..m].iter().filter(|&&l| l > 0.0).count(),
                    violation,
                });
            }
        }
    }
    Err(SvmError::NotConverged {
        sweeps: opts.max_sweeps,
        violation,
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Tries the equality solution on the current support; keeps it only when its
/// multipliers are positive and it is feasible to `tol`.
fn polish(rows: &impl Rows, ws: &mut SvmWorkspace, tol: f64) {
    let m = rows.count();
    let d = ws.p.len();
    ws.support.clear();
    ws.support
        .extend((0..m).filter(|&i| ws.lambda[i] > 0.0).take(d + 1));
    let k = ws.support.len();
    if k == 0 || k > ws.mu.len() {
        return;
    }
    for (r, &i) in ws.support.iter().enumerate() {
        let row = &mut ws.rows[r * d..(r + 1) * d];
        row.fill(0.0);
        rows.add_to(i, 1.0, row);
    }
    for r in 0..k {
        for c in 0..=r {
            let g = dot(&ws.rows[r * d..(r + 1) * d], &ws.rows[c * d..(c + 1) * d]);
            ws.gram[r * k + c] = g;
        }
    }
    if !cholesky_in_place(&mut ws.gram[..k * k], k) {
        return;
    }
    ws.mu[..k].fill(1.0);
    cholesky_solve(&ws.gram[..k * k], k, &mut ws.mu[..k]);
    if ws.mu[..k].iter().any(|&x| x.is_nan() || x <= 0.0) {
        return;
    }
    ws.trial.fill(0.0);
    for r in 0..k {
        let mu = ws.mu[r];
        for (t, a) in ws.trial.iter_mut().zip(&ws.rows[r * d..(r + 1) * d]) {
            *t += mu * a;
        }
    }
    if (0..m).any(|i| rows.dot(i, &ws.trial) < 1.0 - tol) {
        return;
    }
    ws.lambda[..m].fill(0.0);
    for (r, &i) in ws.support.iter().enumerate() {
        ws.lambda[i] = ws.mu[r];
    }
    ws.p.copy_from_slice(&ws.trial);
}

/// Lower Cholesky factor of the symmetric `k × k` matrix whose lower triangle is in `g`
/// (row-major), in place. False when it is not numerically positive definite.
fn cholesky_in_place(g: &mut [f64], k: usize) -> bool {
    let scale = (0..k).map(|i| g[i * k + i]).fold(0.0f64, f64::max);
    for j in 0..k {
        let mut diag = g[j * k + j];
        for t in 0..j {
            diag -= g[j * k + t] * g[j * k + t];
        }
        if diag.is_nan() || diag <= 1e-13 * scale {
            return false;
        }
        let l = diag.sqrt();
        g[j * k + j] = l;
        for i in j + 1..k {
            let mut s = g[i * k + j];
            for t in 0..j {
                s -= g[i * k + t] * g[j * k + t];
            }
            g[i * k + j] = s / l;
        }
    }
    true
}

/// Solves `L Lᵀ x = b` in place, `L` from [`cholesky_in_place`].
fn cholesky_solve(l: &[f64], k: usize, b: &mut [f64]) {
    for i in 0..k {
        let mut s = b[i];
        for t in 0..i {
            s -= l[i * k + t] * b[t];
        }
        b[i] = s / l[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = b[i];
        for t in i + 1..k {
            s -= l[t * k + i] * b[t];
        }
        b[i] = s / l[i * k + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    fn normal(rng: &mut ChaCha8Rng) -> f64 {
        StandardNormal.sample(rng)
    }

    /// A random feasible problem: rows `a_i = s_i x_i` with `x_i ~ N(μ, I)` and
    /// `s_i = sign(x_iᵀu)` for a hidden `u`, so that `u` separates them.
    fn separable(m: usize, d: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let u: Vec<f64> = (0..d).map(|_| normal(&mut rng)).collect();
        let mut a = Vec::with_capacity(m * d);
        for _ in 0..m {
            let x: Vec<f64> = (0..d).map(|_| normal(&mut rng)).collect();
            let s = dot(&x, &u).signum();
            a.extend(x.iter().map(|v| s * v));
        }
        a
    }

    /// Brute force: over every subset S of at most `d` rows with an invertible Gram
    /// matrix, the equality solution `p = A_Sᵀ(A_S A_Sᵀ)⁻¹1`; the feasible one of least
    /// norm is the optimum (the optimum is such a point for its own support).
    fn brute_force(a: &[f64], m: usize, d: usize) -> f64 {
        let mut best = f64::INFINITY;
        for mask in 1u32..(1 << m) {
            let s: Vec<usize> = (0..m).filter(|i| mask >> i & 1 == 1).collect();
            let k = s.len();
            if k > d {
                continue;
            }
            let mut g = vec![0.0; k * k];
            for r in 0..k {
                for c in 0..=r {
                    g[r * k + c] = dot(&a[s[r] * d..][..d], &a[s[c] * d..][..d]);
                }
            }
            if !cholesky_in_place(&mut g, k) {
                continue;
            }
            let mut mu = vec![1.0; k];
            cholesky_solve(&g, k, &mut mu);
            let mut p = vec![0.0; d];
            for (r, &i) in s.iter().enumerate() {
                for j in 0..d {
                    p[j] += mu[r] * a[i * d + j];
                }
            }
            let feasible = (0..m).all(|i| dot(&a[i * d..][..d], &p) >= 1.0 - 1e-9);
            if feasible {
                best = best.min(dot(&p, &p));
            }
        }
        best
    }

    /// The solver's ‖p_mm‖² equals the brute-force optimum (1e-9 relative) on 40 random
    /// small problems (m ≤ 7 rows in d ∈ {2, 3, 4}), and its KKT violation is below the
    /// tolerance, checked by the independent [`kkt_violation`].
    #[test]
    fn small_problems_match_brute_force() {
        for seed in 0..40u64 {
            let d = 2 + (seed % 3) as usize;
            let m = 3 + (seed % 5) as usize;
            let a = separable(m, d, seed);
            let rows = DenseRows::new(&a, d);
            let mut ws = SvmWorkspace::new(m, d);
            let sol = solve(&rows, &mut ws, &SvmOptions::default()).unwrap();
            let exact = brute_force(&a, m, d);
            assert!(
                (sol.norm2 - exact).abs() <= 1e-9 * exact,
                "seed {seed}: {} vs {exact}",
                sol.norm2
            );
            let mut scratch = vec![0.0; d];
            assert!(kkt_violation(&rows, ws.p(), &ws.lambda()[..m], &mut scratch) <= 1e-10);
        }
    }

    /// Two points of a known closed form: a_1 = (1, 0), a_2 = (0, 2) give
    /// p_mm = (1, ½), ‖p_mm‖² = 5/4; a single row a gives p = a/‖a‖².
    #[test]
    fn closed_forms() {
        let a = [1.0, 0.0, 0.0, 2.0];
        let mut ws = SvmWorkspace::new(2, 2);
        let sol = solve(&DenseRows::new(&a, 2), &mut ws, &SvmOptions::default()).unwrap();
        assert!((sol.norm2 - 1.25).abs() < 1e-14);
        assert!((ws.p()[0] - 1.0).abs() < 1e-14 && (ws.p()[1] - 0.5).abs() < 1e-14);
        let a = [3.0, -4.0, 12.0];
        let mut ws = SvmWorkspace::new(1, 3);
        let sol = solve(&DenseRows::new(&a, 3), &mut ws, &SvmOptions::default()).unwrap();
        assert!((sol.norm2 - 1.0 / 169.0).abs() < 1e-16);
    }

    /// Larger random problems (m = 300 rows in d = 20, more rows than the dimension):
    /// KKT holds to 1e-10 and the solution beats 200 random feasible rescalings of
    /// perturbed directions (none has a smaller norm).
    #[test]
    fn larger_problems_satisfy_kkt() {
        let (m, d) = (300, 20);
        let a = separable(m, d, 99);
        let rows = DenseRows::new(&a, d);
        let mut ws = SvmWorkspace::new(m, d);
        let sol = solve(&rows, &mut ws, &SvmOptions::default()).unwrap();
        let mut scratch = vec![0.0; d];
        assert!(kkt_violation(&rows, ws.p(), &ws.lambda()[..m], &mut scratch) <= 1e-10);
        assert!(sol.support <= d);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let q: Vec<f64> = ws.p().iter().map(|x| x + 0.05 * normal(&mut rng)).collect();
            let margin = (0..m)
                .map(|i| rows.dot(i, &q))
                .fold(f64::INFINITY, f64::min);
            if margin > 0.0 {
                assert!(dot(&q, &q) / (margin * margin) >= sol.norm2 * (1.0 - 1e-12));
            }
        }
    }

    /// Contradicting constraints (a and −a) are reported infeasible, and a zero row is
    /// degenerate; a warm solve allocates nothing is checked by the models' tests.
    #[test]
    fn infeasible_and_degenerate() {
        let a = [1.0, 2.0, -1.0, -2.0];
        let mut ws = SvmWorkspace::new(2, 2);
        let opts = SvmOptions {
            max_norm2: 1e6,
            ..SvmOptions::default()
        };
        assert!(matches!(
            solve(&DenseRows::new(&a, 2), &mut ws, &opts),
            Err(SvmError::Infeasible { .. })
        ));
        let a = [1.0, 2.0, 0.0, 0.0];
        assert_eq!(
            solve(&DenseRows::new(&a, 2), &mut ws, &opts),
            Err(SvmError::Degenerate)
        );
    }
}
