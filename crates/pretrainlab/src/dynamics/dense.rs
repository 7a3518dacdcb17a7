//! Dense kernels for the dynamics trials that allocate nothing once built: a Cholesky
//! factor and a symmetric eigendecomposition that keep their factors and faer scratch
//! across trials. Each makes the same faer calls, on matrices of the same shapes, as the
//! allocating call it stands for (`Mat::llt` and `Llt::solve`; `linalg::sym_eigen_desc`
//! and `linalg::sym_apply`), so it gives the same bits.

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::llt::{factor, solve};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::{Accum, Conj, Mat, MatMut, MatRef, Par};

use crate::linalg::mul_into;
use crate::{Error, Result};

/// `A = L Lᵀ` of a symmetric positive definite `n × n` matrix, reused across matrices.
pub(crate) struct Cholesky {
    l: Mat<f64>,
    scratch: MemBuffer,
}

impl std::fmt::Debug for Cholesky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cholesky")
            .field("l", &self.l)
            .finish_non_exhaustive()
    }
}

impl Cholesky {
    /// Room for `n × n` factors and solves with up to `rhs_cols` right-hand sides.
    pub fn new(n: usize, rhs_cols: usize) -> Self {
        let scratch = StackReq::any_of(&[
            factor::cholesky_in_place_scratch::<f64>(n, Par::Seq, Default::default()),
            solve::solve_in_place_scratch::<f64>(n, rhs_cols, Par::Seq),
        ]);
        Cholesky {
            l: Mat::zeros(n, n),
            scratch: MemBuffer::new(scratch),
        }
    }

    /// Factors `a` from its lower triangle, as `a.llt(Side::Lower)`; `false` when `a` is
    /// not positive definite.
    pub fn factor(&mut self, a: MatRef<'_, f64>) -> bool {
        self.l.as_mut().fill(0.0);
        self.l.as_mut().copy_from_triangular_lower(a);
        let factored = factor::cholesky_in_place(
            self.l.as_mut(),
            Default::default(),
            Par::Seq,
            MemStack::new(&mut self.scratch),
            Default::default(),
        );
        if factored.is_err() {
            return false;
        }
        for j in 0..self.l.ncols() {
            for i in 0..j {
                self.l[(i, j)] = 0.0;
            }
        }
        true
    }

    /// `rhs ← A⁻¹ rhs` with the last factor, as `Llt::solve`.
    pub fn solve_in_place(&mut self, rhs: MatMut<'_, f64>) {
        let stack = MemStack::new(&mut self.scratch);
        solve::solve_in_place_with_conj(self.l.as_ref(), Conj::No, rhs, Par::Seq, stack);
    }
}

/// `A = U diag(λ) Uᵀ` of a symmetric `n × n` matrix, eigenvalues descending, reused
/// across matrices.
pub(crate) struct SymEigen {
    /// faer's factors: eigenvalues ascending, eigenvectors in the same order.
    s: Diag<f64>,
    u: Mat<f64>,
    /// `λ` descending and `U` with its columns in that order.
    values: Vec<f64>,
    vectors: Mat<f64>,
    /// `U diag(f(λ))` in [`SymEigen::apply`].
    scaled: Mat<f64>,
    scratch: MemBuffer,
}

impl std::fmt::Debug for SymEigen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SymEigen")
            .field("values", &self.values)
            .field("vectors", &self.vectors)
            .finish_non_exhaustive()
    }
}

impl SymEigen {
    pub fn new(n: usize) -> Self {
        // faer's scratch formula does not cover n = 0, where nothing is computed.
        let scratch = if n == 0 {
            StackReq::EMPTY
        } else {
            evd::self_adjoint_evd_scratch::<f64>(
                n,
                ComputeEigenvectors::Yes,
                Par::Seq,
                Default::default(),
            )
        };
        SymEigen {
            s: Diag::zeros(n),
            u: Mat::zeros(n, n),
            values: vec![0.0; n],
            vectors: Mat::zeros(n, n),
            scaled: Mat::zeros(n, n),
            scratch: MemBuffer::new(scratch),
        }
    }

    /// Decomposes `a` from its lower triangle, as `linalg::sym_eigen_desc`.
    pub fn compute(&mut self, a: MatRef<'_, f64>) -> Result<()> {
        let n = self.values.len();
        self.s.as_mut().column_vector_mut().fill(0.0);
        self.u.as_mut().fill(0.0);
        evd::self_adjoint_evd(
            a,
            self.s.as_mut(),
            Some(self.u.as_mut()),
            Par::Seq,
            MemStack::new(&mut self.scratch),
            Default::default(),
        )
        .map_err(|e| Error::Numerical(format!("symmetric eigendecomposition failed: {e:?}")))?;
        let s = self.s.as_ref().column_vector();
        for i in 0..n {
            self.values[i] = s[n - 1 - i];
            for r in 0..n {
                self.vectors[(r, i)] = self.u[(r, n - 1 - i)];
            }
        }
        Ok(())
    }

    /// The eigenvalues of the last [`SymEigen::compute`], descending.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// `out ← U f(Λ) Uᵀ` of the last [`SymEigen::compute`], as `linalg::sym_apply`.
    pub fn apply(&mut self, f: impl Fn(f64) -> f64, out: MatMut<'_, f64>) {
        let n = self.values.len();
        for c in 0..n {
            let fc = f(self.values[c]);
            for r in 0..n {
                self.scaled[(r, c)] = self.vectors[(r, c)] * fc;
            }
        }
        mul_into(
            out,
            Accum::Replace,
            self.scaled.as_ref(),
            self.vectors.transpose(),
            1.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use faer::Side;
    use faer::prelude::Solve;
    use rand_distr::{Distribution, StandardNormal};

    use super::*;
    use crate::linalg::{sqrt_psd, sym_eigen_desc};
    use crate::rng::trial_rng;

    fn gaussian(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
        let mut rng = trial_rng(seed, 7, 0);
        Mat::from_fn(rows, cols, |_, _| StandardNormal.sample(&mut rng))
    }

    /// `G Gᵀ + I`, symmetric positive definite.
    fn spd(n: usize, seed: u64) -> Mat<f64> {
        let g = gaussian(n, n, seed);
        let mut a = Mat::zeros(n, n);
        mul_into(a.as_mut(), Accum::Replace, g.as_ref(), g.transpose(), 1.0);
        Mat::from_fn(n, n, |i, j| a[(i, j)] + if i == j { 1.0 } else { 0.0 })
    }

    fn bits(m: MatRef<'_, f64>) -> Vec<u64> {
        (0..m.ncols())
            .flat_map(|j| (0..m.nrows()).map(move |i| m[(i, j)].to_bits()))
            .collect()
    }

    /// Reused across matrices, the factor gives the bits of `Mat::llt` and `Llt::solve`.
    #[test]
    fn cholesky_gives_the_bits_of_faer_llt() {
        for n in [1, 3, 6, 17] {
            let mut chol = Cholesky::new(n, 2);
            for seed in 0..3 {
                let a = spd(n, seed);
                let b = gaussian(n, 2, seed + 10);
                assert!(chol.factor(a.as_ref()));
                let mut x = b.clone();
                chol.solve_in_place(x.as_mut());
                let want = a.llt(Side::Lower).unwrap().solve(&b);
                assert_eq!(bits(x.as_ref()), bits(want.as_ref()), "n = {n}");
            }
            let indefinite = Mat::from_fn(n, n, |i, j| if i == j { -1.0 } else { 0.0 });
            assert!(!chol.factor(indefinite.as_ref()));
        }
    }

    /// Reused across matrices, the decomposition gives the bits of
    /// `linalg::sym_eigen_desc` and its square root those of `linalg::sqrt_psd`.
    #[test]
    fn sym_eigen_gives_the_bits_of_linalg() {
        for n in [1, 2, 6, 17, 40] {
            let mut eigen = SymEigen::new(n);
            let mut root = Mat::zeros(n, n);
            for seed in 0..3 {
                let a = spd(n, seed);
                eigen.compute(a.as_ref()).unwrap();
                let (values, _) = sym_eigen_desc(a.as_ref()).unwrap();
                let got: Vec<u64> = eigen.values().iter().map(|v| v.to_bits()).collect();
                let want: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "n = {n}");
                eigen.apply(|l| l.max(0.0).sqrt(), root.as_mut());
                let want = sqrt_psd(a.as_ref()).unwrap();
                assert_eq!(bits(root.as_ref()), bits(want.as_ref()), "n = {n}");
            }
        }
        let mut empty = SymEigen::new(0);
        empty.compute(Mat::<f64>::zeros(0, 0).as_ref()).unwrap();
        assert!(empty.values().is_empty());
    }
}
