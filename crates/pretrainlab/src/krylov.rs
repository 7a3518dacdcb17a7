//! The largest eigenpairs of a symmetric operator that is only applied to blocks of
//! vectors: block Krylov iteration with Rayleigh–Ritz extraction.
//!
//! From an orthonormal start block `Q₀` (d×k), the basis `Q = [Q₀, Q₁, …, Q_{j−1}]` of the
//! block Krylov space `span{Q₀, SQ₀, …, S^{j−1}Q₀}` is built one block at a time: each new
//! block is `S Q_{j−1}`, orthogonalised against every earlier block by classical
//! Gram–Schmidt applied twice (full reorthogonalisation, so the basis stays orthonormal to
//! rounding) and then within itself. At checkpoints the Rayleigh quotient `T = QᵀSQ` is
//! decomposed; its top `k` eigenpairs `(θᵢ, yᵢ)` give the Ritz pairs `(θᵢ, Q yᵢ)`, and the
//! iteration stops once every residual satisfies `‖S xᵢ − θᵢ xᵢ‖ ≤ tol·|θ₁|`. For a
//! symmetric `S`, a Ritz pair with residual `r` has an eigenvalue within `r` of `θᵢ`, and
//! (Davis–Kahan) its vector is within angle `r / gap` of the eigenvector, where `gap`
//! separates `θᵢ` from the rest of the spectrum.
//!
//! The Krylov space contains `p(S)Q₀` for every polynomial `p` of degree below `j`, so the
//! error falls like a Chebyshev polynomial: by a factor of about `exp(−2√γ)` per block for
//! a relative gap `γ = (λ_k − λ_{k+1}) / (λ_{k+1} − λ_min)`, where subspace iteration
//! gains only `λ_{k+1}/λ_k`. Every buffer is allocated by [`BlockKrylov::new`].

use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef};

use crate::linalg::{Eigh, mul_into};

/// Why [`BlockKrylov::run`] stopped without converged eigenpairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KrylovFailure {
    /// The residuals were still above the tolerance after the largest basis.
    NotConverged,
    /// A new block fell (numerically) inside the span of the earlier ones.
    Breakdown,
}

/// Buffers and settings for the top `k` eigenpairs of a `d×d` symmetric operator, with a
/// Krylov basis of at most `max_blocks` blocks of `k` vectors.
#[derive(Clone, Debug)]
pub struct BlockKrylov {
    k: usize,
    max_blocks: usize,
    /// Relative residual at which the iteration stops.
    tol: f64,
    /// The orthonormal basis `Q` (d × k·max_blocks).
    basis: Mat<f64>,
    /// `S Q`, block by block.
    image: Mat<f64>,
    /// The lower triangle of `T = QᵀSQ`.
    rayleigh: Mat<f64>,
    /// The eigensolver of `T`, sized for the largest basis.
    eigh: Eigh,
    /// Projection coefficients (k·max_blocks × k).
    coef: Mat<f64>,
    values: Vec<f64>,
    vectors: Mat<f64>,
    resid: Mat<f64>,
}

impl BlockKrylov {
    /// Buffers for the top `k` eigenpairs in dimension `d`, a basis of at most
    /// `max_blocks` blocks (`k·max_blocks ≤ d`, `max_blocks ≥ 2`) and the relative
    /// residual tolerance `tol`.
    pub fn new(d: usize, k: usize, max_blocks: usize, tol: f64) -> Self {
        assert!(
            k >= 1 && max_blocks >= 2 && k * max_blocks <= d,
            "BlockKrylov: sizes"
        );
        let p = k * max_blocks;
        BlockKrylov {
            k,
            max_blocks,
            tol,
            basis: Mat::zeros(d, p),
            image: Mat::zeros(d, p),
            rayleigh: Mat::zeros(p, p),
            eigh: Eigh::new(p),
            coef: Mat::zeros(p, k),
            values: vec![0.0; k],
            vectors: Mat::zeros(d, k),
            resid: Mat::zeros(d, k),
        }
    }

    /// The largest basis, in blocks.
    pub fn max_blocks(&self) -> usize {
        self.max_blocks
    }

    /// The Ritz values of the last successful run, descending.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The Ritz vectors of the last successful run (d×k), orthonormal, in the order of
    /// [`BlockKrylov::values`].
    pub fn vectors(&self) -> MatRef<'_, f64> {
        self.vectors.as_ref()
    }

    /// Runs the iteration from `start` (d×k, full column rank), where `apply(v, out)`
    /// writes `S v` into `out` for a d×k block `v`. The Ritz pairs are tested after every
    /// block from `first_check` blocks on (each test is an eigendecomposition of `T`, so a
    /// caller that knows roughly how many blocks it needs saves the early ones). On
    /// success returns the number of blocks used.
    pub fn run(
        &mut self,
        start: MatRef<'_, f64>,
        first_check: usize,
        mut apply: impl FnMut(MatRef<'_, f64>, MatMut<'_, f64>),
    ) -> Result<usize, KrylovFailure> {
        let k = self.k;
        let first_check = first_check.clamp(1, self.max_blocks);
        self.basis.as_mut().subcols_mut(0, k).copy_from(start);
        self.orthonormalise(0)?;
        for j in 0..self.max_blocks {
            let (q, s) = (self.basis.as_ref(), self.image.as_mut());
            apply(q.subcols(j * k, k), s.subcols_mut(j * k, k));
            self.extend_rayleigh(j);
            let blocks = j + 1;
            if blocks >= first_check && self.ritz(blocks) {
                return Ok(blocks);
            }
            if blocks < self.max_blocks {
                let (src, mut dst) = (self.image.as_ref(), self.basis.as_mut());
                dst.rb_mut()
                    .subcols_mut(blocks * k, k)
                    .copy_from(src.subcols(j * k, k));
                self.orthonormalise(blocks)?;
            }
        }
        Err(KrylovFailure::NotConverged)
    }

    /// Orthonormalises block `j` of the basis against blocks `0..j` (classical
    /// Gram–Schmidt, twice) and then within itself (modified Gram–Schmidt, twice).
    fn orthonormalise(&mut self, j: usize) -> Result<(), KrylovFailure> {
        let (k, p) = (self.k, j * self.k);
        let (before, mut block) = self.basis.as_mut().split_at_col_mut(p);
        let mut block = block.rb_mut().subcols_mut(0, k);
        if p > 0 {
            for _ in 0..2 {
                let mut c = self.coef.as_mut().subrows_mut(0, p);
                mul_into(
                    c.rb_mut(),
                    Accum::Replace,
                    before.rb().transpose(),
                    block.rb(),
                    1.0,
                );
                mul_into(block.rb_mut(), Accum::Add, before.rb(), c.rb(), -1.0);
            }
        }
        for c in 0..k {
            let start = block.rb().col(c).norm_l2();
            for _ in 0..2 {
                for prev in 0..c {
                    let dot = block.rb().col(prev).transpose() * block.rb().col(c);
                    let (left, mut right) = block.rb_mut().split_at_col_mut(c);
                    axpy(right.rb_mut().col_mut(0), -dot, left.rb().col(prev));
                }
            }
            let norm = block.rb().col(c).norm_l2();
            // A NaN norm counts as a breakdown too.
            if norm.is_nan() || norm <= 1e-10 * start.max(f64::MIN_POSITIVE) {
                return Err(KrylovFailure::Breakdown);
            }
            let mut col = block.rb_mut().col_mut(c);
            col *= faer::Scale(1.0 / norm);
        }
        Ok(())
    }

    /// Fills row block `j` of the Rayleigh quotient's lower triangle:
    /// `T_{j,i} = Q_jᵀ S Q_i` for `i ≤ j`.
    fn extend_rayleigh(&mut self, j: usize) {
        let k = self.k;
        let cols = (j + 1) * k;
        mul_into(
            self.rayleigh.as_mut().submatrix_mut(j * k, 0, k, cols),
            Accum::Replace,
            self.basis.as_ref().subcols(j * k, k).transpose(),
            self.image.as_ref().subcols(0, cols),
            1.0,
        );
    }

    /// Rayleigh–Ritz on the first `blocks` blocks: stores the top `k` Ritz pairs and says
    /// whether all their residuals are within tolerance.
    fn ritz(&mut self, blocks: usize) -> bool {
        let k = self.k;
        let p = blocks * k;
        let eigh = &mut self.eigh;
        if eigh
            .compute_leading(self.rayleigh.as_ref().submatrix(0, 0, p, p))
            .is_err()
        {
            return false;
        }
        let y = eigh.vectors().submatrix(0, 0, p, k);
        self.values.copy_from_slice(&eigh.values()[..k]);
        let q = self.basis.as_ref().subcols(0, p);
        mul_into(self.vectors.as_mut(), Accum::Replace, q, y, 1.0);
        mul_into(
            self.resid.as_mut(),
            Accum::Replace,
            self.image.as_ref().subcols(0, p),
            y,
            1.0,
        );
        let scale = self.values[0].abs().max(f64::MIN_POSITIVE);
        (0..k).all(|i| {
            axpy(
                self.resid.as_mut().col_mut(i),
                -self.values[i],
                self.vectors.as_ref().col(i),
            );
            self.resid.as_ref().col(i).norm_l2() <= self.tol * scale
        })
    }
}

/// `y ← y + a·x`, in place (faer's `a * x` would build a temporary column).
fn axpy(mut y: faer::ColMut<'_, f64>, a: f64, x: faer::ColRef<'_, f64>) {
    for i in 0..y.nrows() {
        y[i] += a * x[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::sym_eigen_desc;
    use crate::rng::trial_rng;
    use rand_distr::{Distribution, StandardNormal};

    /// A random symmetric matrix with `k` separated top eigenvalues over a bulk, in a
    /// random basis: the Ritz pairs must match a dense eigendecomposition.
    #[test]
    fn top_pairs_match_the_dense_solver() {
        let (d, k) = (120, 4);
        let mut rng = trial_rng(3, 0, 0);
        let g = Mat::from_fn(d, d, |_, _| -> f64 { StandardNormal.sample(&mut rng) });
        let (_, u) = sym_eigen_desc((&g + g.transpose()).as_ref()).unwrap();
        let spectrum: Vec<f64> = (0..d)
            .map(|i| {
                if i < k {
                    6.0 - i as f64
                } else {
                    1.0 - i as f64 / d as f64
                }
            })
            .collect();
        let s =
            &u * Mat::from_fn(d, d, |i, j| if i == j { spectrum[i] } else { 0.0 }) * u.transpose();
        let start = Mat::from_fn(d, k, |_, _| -> f64 { StandardNormal.sample(&mut rng) });
        let mut kr = BlockKrylov::new(d, k, 20, 1e-11);
        let blocks = kr
            .run(start.as_ref(), 2, |v, out| {
                mul_into(out, Accum::Replace, s.as_ref(), v, 1.0)
            })
            .unwrap();
        assert!(blocks < 20, "{blocks} blocks");
        for (i, &lambda) in spectrum.iter().enumerate().take(k) {
            assert!((kr.values()[i] - lambda).abs() < 1e-9, "{i}");
            let overlap = (kr.vectors().col(i).transpose() * u.col(i)).abs();
            assert!(
                (1.0 - overlap) < 1e-12,
                "eigenvector {i}: |cos| = {overlap}"
            );
        }
    }

    /// Too small a basis for a tiny gap reports non-convergence instead of a wrong answer.
    #[test]
    fn an_unresolved_gap_is_reported() {
        let d = 60;
        let s = Mat::from_fn(d, d, |i, j| {
            if i == j {
                1.0 - i as f64 / d as f64
            } else {
                0.0
            }
        });
        let start = Mat::from_fn(d, 1, |i, _| 1.0 / (1.0 + i as f64));
        let mut kr = BlockKrylov::new(d, 1, 3, 1e-12);
        let out = kr.run(start.as_ref(), 1, |v, out| {
            mul_into(out, Accum::Replace, s.as_ref(), v, 1.0)
        });
        assert_eq!(out, Err(KrylovFailure::NotConverged));
    }
}
