//! Dense linear-algebra helpers on top of faer.
//!
//! Everything runs with `Par::Seq`: parallelism lives across Monte Carlo trials,
//! and faer's results change bitwise with its own thread count.

use faer::diag::DiagMut;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::llt;
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::prelude::ReborrowMut;
use faer::{Accum, Conj, Mat, MatMut, MatRef, Par};
use rand::Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};

use crate::{Error, Result};

/// `dst ← alpha · lhs · rhs` (or `dst += …` with `Accum::Add`), sequentially.
pub fn mul_into(
    dst: MatMut<'_, f64>,
    accum: Accum,
    lhs: MatRef<'_, f64>,
    rhs: MatRef<'_, f64>,
    alpha: f64,
) {
    matmul(dst, accum, lhs, rhs, alpha, Par::Seq);
}

/// Panel width of [`lower_mul`] and [`lower_t_mul`].
const PANEL: usize = 32;

/// `out ← L X` for a lower-triangular `L` (d×d; entries above the diagonal must be
/// zero, as the diagonal panels are multiplied whole). Column panel `J` of `L` touches
/// only rows from `J`'s first on, so the product is one GEMM per panel over those rows:
/// about half the work of a full product, and no allocation (faer's triangular product
/// allocates temporaries).
pub fn lower_mul(mut out: MatMut<'_, f64>, l: MatRef<'_, f64>, x: MatRef<'_, f64>) {
    let d = l.nrows();
    out.fill(0.0);
    for start in (0..d).step_by(PANEL) {
        let w = PANEL.min(d - start);
        mul_into(
            out.rb_mut().subrows_mut(start, d - start),
            Accum::Add,
            l.submatrix(start, start, d - start, w),
            x.subrows(start, w),
            1.0,
        );
    }
}

/// `out ← Lᵀ X` for a lower-triangular `L` as in [`lower_mul`]: row panel `I` of `Lᵀ`
/// is column panel `I` of `L`, nonzero only from `I`'s first row on.
pub fn lower_t_mul(mut out: MatMut<'_, f64>, l: MatRef<'_, f64>, x: MatRef<'_, f64>) {
    let d = l.nrows();
    for start in (0..d).step_by(PANEL) {
        let w = PANEL.min(d - start);
        mul_into(
            out.rb_mut().subrows_mut(start, w),
            Accum::Replace,
            l.submatrix(start, start, d - start, w).transpose(),
            x.subrows(start, d - start),
            1.0,
        );
    }
}

/// A faer scratch buffer that remembers its requirement, so that the workspaces holding
/// it can be cloned (a clone gets fresh scratch of the same size).
struct Scratch {
    req: StackReq,
    buf: MemBuffer,
}

impl Scratch {
    fn new(req: StackReq) -> Self {
        Scratch {
            req,
            buf: MemBuffer::new(req),
        }
    }

    fn stack(&mut self) -> &mut MemStack {
        MemStack::new(&mut self.buf)
    }
}

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::new(self.req)
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch")
            .field("bytes", &self.buf.len())
            .finish()
    }
}

/// Reusable symmetric eigendecomposition `A = U diag(λ) Uᵀ` of dimension `n`, with the
/// eigenvalues in **descending** order.
///
/// The algorithm is faer's `self_adjoint_evd`: Householder reduction to tridiagonal
/// form, then the implicit symmetric QR algorithm (divide and conquer from dimension
/// 128), with the reflections applied to the eigenvectors. It runs with the default
/// parameters and on buffers laid out as `Mat::self_adjoint_eigen` lays out its own, so
/// its results are bitwise those of that call. Only the lower triangle of the input is
/// read. Every buffer is allocated by [`Eigh::new`]; the methods allocate nothing.
#[derive(Clone, Debug)]
pub struct Eigh {
    values: Vec<f64>,
    vectors: Mat<f64>,
    /// faer's eigenvectors (ascending order) in [`Eigh::compute`], then `U f(Λ)` in
    /// [`Eigh::apply`] and [`Eigh::pinv_psd`].
    work: Mat<f64>,
    scratch: Scratch,
}

impl Eigh {
    /// Buffers for matrices of dimension `n`.
    pub fn new(n: usize) -> Self {
        let req = evd::self_adjoint_evd_scratch::<f64>(
            n,
            ComputeEigenvectors::Yes,
            Par::Seq,
            Default::default(),
        );
        Eigh {
            values: vec![0.0; n],
            vectors: Mat::zeros(n, n),
            work: Mat::zeros(n, n),
            scratch: Scratch::new(req),
        }
    }

    pub fn dim(&self) -> usize {
        self.values.len()
    }

    /// Decomposes `a` (n×n, lower triangle read).
    pub fn compute(&mut self, a: MatRef<'_, f64>) -> Result<()> {
        let n = self.dim();
        assert_eq!((a.nrows(), a.ncols()), (n, n), "Eigh::compute: dimension");
        self.compute_leading(a)
    }

    /// Decomposes a smaller `a` (p×p with `p ≤ n`, lower triangle read) into the leading
    /// `p` entries of [`Eigh::values`] and the leading p×p block of [`Eigh::vectors`];
    /// the rest of both is left as it was.
    pub fn compute_leading(&mut self, a: MatRef<'_, f64>) -> Result<()> {
        let p = a.nrows();
        assert!(
            a.ncols() == p && p <= self.dim(),
            "Eigh::compute_leading: dimension"
        );
        // The high-level call hands faer zeroed eigenvectors; so does this one.
        let mut work = self.work.as_mut().submatrix_mut(0, 0, p, p);
        work.fill(0.0);
        evd::self_adjoint_evd(
            a,
            DiagMut::from_slice_mut(&mut self.values[..p]),
            Some(work.rb_mut()),
            Par::Seq,
            self.scratch.stack(),
            Default::default(),
        )
        .map_err(|e| Error::Numerical(format!("symmetric eigendecomposition failed: {e:?}")))?;
        self.values[..p].reverse();
        for c in 0..p {
            self.vectors
                .as_mut()
                .submatrix_mut(0, c, p, 1)
                .copy_from(self.work.as_ref().submatrix(0, p - 1 - c, p, 1));
        }
        Ok(())
    }

    /// The eigenvalues of the last decomposition, descending.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The eigenvectors of the last decomposition, in the columns, in the order of
    /// [`Eigh::values`].
    pub fn vectors(&self) -> MatRef<'_, f64> {
        self.vectors.as_ref()
    }

    /// `out ← U f(Λ) Uᵀ` for the symmetric matrix `a` = `U Λ Uᵀ`.
    pub fn apply(
        &mut self,
        a: MatRef<'_, f64>,
        f: impl Fn(f64) -> f64,
        out: MatMut<'_, f64>,
    ) -> Result<()> {
        self.compute(a)?;
        self.reconstruct(f, out);
        Ok(())
    }

    /// `out ← A⁺`, the Moore–Penrose pseudo-inverse of the symmetric positive
    /// semi-definite `a`, with eigenvalues below [`rank_tolerance`] treated as zero.
    pub fn pinv_psd(&mut self, a: MatRef<'_, f64>, out: MatMut<'_, f64>) -> Result<()> {
        self.compute(a)?;
        let tol = rank_tolerance(self.dim(), self.values.first().copied().unwrap_or(0.0));
        self.reconstruct(|l| if l > tol { 1.0 / l } else { 0.0 }, out);
        Ok(())
    }

    /// `out ← U f(Λ) Uᵀ` from the last decomposition.
    fn reconstruct(&mut self, f: impl Fn(f64) -> f64, out: MatMut<'_, f64>) {
        for (c, &l) in self.values.iter().enumerate() {
            let fl = f(l);
            for r in 0..self.vectors.nrows() {
                self.work[(r, c)] = self.vectors[(r, c)] * fl;
            }
        }
        mul_into(
            out,
            Accum::Replace,
            self.work.as_ref(),
            self.vectors.transpose(),
            1.0,
        );
    }
}

/// Symmetric eigendecomposition with eigenvalues in **descending** order.
/// Returns `(λ, U)` with `A = U diag(λ) Uᵀ`. Only the lower triangle of `a` is read.
pub fn sym_eigen_desc(a: MatRef<'_, f64>) -> Result<(Vec<f64>, Mat<f64>)> {
    let mut eigh = Eigh::new(a.nrows());
    eigh.compute(a)?;
    Ok((eigh.values, eigh.vectors))
}

/// Relative eigenvalue cut-off used for ranks and pseudo-inverses: `dim · ε · λ_max`,
/// the same rule as NumPy's `pinv`/`matrix_rank` defaults.
pub fn rank_tolerance(dim: usize, lambda_max: f64) -> f64 {
    dim.max(1) as f64 * f64::EPSILON * lambda_max.abs()
}

/// Applies `f` to the eigenvalues of a symmetric matrix: `U f(Λ) Uᵀ`.
pub fn sym_apply(a: MatRef<'_, f64>, f: impl Fn(f64) -> f64) -> Result<Mat<f64>> {
    let n = a.nrows();
    let mut out = Mat::zeros(n, n);
    Eigh::new(n).apply(a, f, out.as_mut())?;
    Ok(out)
}

/// Moore–Penrose pseudo-inverse of a symmetric positive semi-definite matrix, with
/// eigenvalues below [`rank_tolerance`] treated as zero.
pub fn pinv_psd(a: MatRef<'_, f64>) -> Result<Mat<f64>> {
    let n = a.nrows();
    let mut out = Mat::zeros(n, n);
    Eigh::new(n).pinv_psd(a, out.as_mut())?;
    Ok(out)
}

/// Numerical rank of a symmetric positive semi-definite matrix.
pub fn rank_psd(a: MatRef<'_, f64>) -> Result<usize> {
    let (lambda, _) = sym_eigen_desc(a)?;
    let tol = rank_tolerance(a.nrows(), lambda.first().copied().unwrap_or(0.0));
    Ok(lambda.iter().filter(|&&l| l > tol).count())
}

/// Symmetric square root of a positive semi-definite matrix.
pub fn sqrt_psd(a: MatRef<'_, f64>) -> Result<Mat<f64>> {
    sym_apply(a, |l| l.max(0.0).sqrt())
}

/// `a ← I + a` for a square `a`, entry by entry as `Mat::identity + a` computes it (so
/// that even signed zeros match).
pub fn add_identity(mut a: MatMut<'_, f64>) {
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            a[(i, j)] += if i == j { 1.0 } else { 0.0 };
        }
    }
}

/// Reusable Cholesky factorisation `A = L Lᵀ` of dimension `n` and solves with it, for
/// right-hand sides of up to `rhs_cols` columns.
///
/// The algorithm is faer's left-looking blocked Cholesky (`llt::factor`) followed by two
/// triangular solves (`llt::solve`), with the default parameters and buffers laid out as
/// `Mat::llt` and `Solve::solve` lay out their own, so results are bitwise those of
/// that pair. Every buffer is allocated by [`Cholesky::new`]; the methods allocate
/// nothing.
#[derive(Clone, Debug)]
pub struct Cholesky {
    /// `L`, with zeros above the diagonal.
    l: Mat<f64>,
    scratch: Scratch,
}

impl Cholesky {
    /// Buffers for matrices of dimension `n` and right-hand sides of `rhs_cols` columns.
    pub fn new(n: usize, rhs_cols: usize) -> Self {
        let req = StackReq::any_of(&[
            llt::factor::cholesky_in_place_scratch::<f64>(n, Par::Seq, Default::default()),
            llt::solve::solve_in_place_scratch::<f64>(n, rhs_cols, Par::Seq),
        ]);
        Cholesky {
            l: Mat::zeros(n, n),
            scratch: Scratch::new(req),
        }
    }

    /// Factors `a` (lower triangle read); fails when `a` is not positive definite.
    pub fn factor(&mut self, a: MatRef<'_, f64>) -> Result<()> {
        self.l.fill(0.0);
        self.l.copy_from_triangular_lower(a);
        llt::factor::cholesky_in_place(
            self.l.as_mut(),
            Default::default(),
            Par::Seq,
            self.scratch.stack(),
            Default::default(),
        )
        .map_err(|e| Error::Numerical(format!("Cholesky factorisation failed: {e:?}")))?;
        let n = self.l.nrows();
        for j in 1..n {
            self.l.col_mut(j).subrows_mut(0, j).fill(0.0);
        }
        Ok(())
    }

    /// `rhs ← A⁻¹ rhs` with the last factorisation.
    pub fn solve_in_place(&mut self, rhs: MatMut<'_, f64>) {
        llt::solve::solve_in_place_with_conj(
            self.l.as_ref(),
            Conj::No,
            rhs,
            Par::Seq,
            self.scratch.stack(),
        );
    }
}

/// Lower Cholesky factor `C` with `A = C Cᵀ`, or an error naming `field` when `A` is
/// not positive definite.
pub fn cholesky_lower(a: MatRef<'_, f64>, field: &str) -> Result<Mat<f64>> {
    let mut chol = Cholesky::new(a.nrows(), 0);
    chol.factor(a)
        .map_err(|_| Error::invalid(field, "must be symmetric positive definite"))?;
    Ok(chol.l)
}

/// Trace of `A B` for square matrices of equal size, without forming the product.
pub fn trace_of_product(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let n = a.nrows();
    let mut t = 0.0;
    for i in 0..n {
        for j in 0..n {
            t += a[(i, j)] * b[(j, i)];
        }
    }
    t
}

/// Gram matrix of Frobenius inner products, `G_ab = ⟨A_a, B_b⟩_F = Σ_ij (A_a)_ij (B_b)_ij`,
/// computed as one matrix product of the flattened lists.
pub fn frobenius_gram(a: &[Mat<f64>], b: &[Mat<f64>]) -> Mat<f64> {
    let flat = |list: &[Mat<f64>]| {
        let len = list.first().map_or(0, |m| m.nrows() * m.ncols());
        Mat::from_fn(list.len(), len, |r, c| {
            let m = &list[r];
            m[(c % m.nrows(), c / m.nrows())]
        })
    };
    let (fa, fb) = (flat(a), flat(b));
    let mut out = Mat::zeros(a.len(), b.len());
    mul_into(
        out.as_mut(),
        Accum::Replace,
        fa.as_ref(),
        fb.transpose(),
        1.0,
    );
    out
}

/// Quadratic form `xᵀ A y` for column vectors.
pub fn quad_form(x: MatRef<'_, f64>, a: MatRef<'_, f64>, y: MatRef<'_, f64>) -> f64 {
    let n = a.nrows();
    let mut t = 0.0;
    for i in 0..n {
        let mut row = 0.0;
        for j in 0..n {
            row += a[(i, j)] * y[(j, 0)];
        }
        t += x[(i, 0)] * row;
    }
    t
}

/// Reusable buffers for drawing sample covariance matrices of dimension `d`.
#[derive(Clone, Debug)]
pub struct CovarianceDraw {
    factor: Mat<f64>,
    product: Mat<f64>,
}

/// How a sample covariance `S = (1/N) Σᵢ xᵢxᵢᵀ` of `N` i.i.d. `N(0, Σ)` vectors is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampler {
    /// Draw `N·S ~ Wishart(N, Σ)` directly by the Bartlett decomposition: `O(d³)`
    /// whatever `N` is. When `N < d` the Wishart law is singular and the draw falls
    /// back to `N` raw vectors, which is then the cheaper route anyway.
    Wishart,
    /// Draw the `N` vectors themselves and accumulate `Σ xᵢxᵢᵀ`: `O(N d²)`.
    Raw,
    /// Draw only what the trial needs, exactly in law: a model that supports it (the
    /// factor model) keeps the Bartlett factor of the pre-training Wishart unmultiplied
    /// and draws the downstream statistics as a low-dimensional Wishart. A full sample
    /// covariance asked for under this sampler is drawn as under `Wishart`.
    Projected,
}

/// Rows drawn per block by the raw sampler.
const RAW_BLOCK: usize = 256;

impl CovarianceDraw {
    pub fn new(d: usize) -> Self {
        CovarianceDraw {
            factor: Mat::zeros(d, d.max(RAW_BLOCK)),
            product: Mat::zeros(d, d.max(RAW_BLOCK)),
        }
    }

    /// Writes into `out` one draw of the sample covariance of `count` i.i.d. `N(0, C Cᵀ)`
    /// vectors, where `chol` is the lower Cholesky factor `C`.
    pub fn draw<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        sampler: Sampler,
        count: usize,
        chol: MatRef<'_, f64>,
        mut out: MatMut<'_, f64>,
    ) {
        let d = chol.nrows();
        if sampler != Sampler::Raw && count >= d {
            self.bartlett(rng, count, chol, out.rb_mut());
        } else {
            self.raw(rng, count, chol, out.rb_mut());
        }
        let inv = 1.0 / count as f64;
        for j in 0..d {
            for i in 0..d {
                out[(i, j)] *= inv;
            }
        }
    }

    /// Bartlett: `W = L Lᵀ ~ Wishart(N, I)` with `L` lower triangular,
    /// `L_ii = sqrt(χ²_{N−i})` (0-based `i`) and `L_ij ~ N(0,1)` below the diagonal;
    /// then `C W Cᵀ ~ Wishart(N, C Cᵀ)`.
    fn bartlett<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
        chol: MatRef<'_, f64>,
        out: MatMut<'_, f64>,
    ) {
        let d = chol.nrows();
        bartlett_factor(rng, count, self.factor.as_mut().submatrix_mut(0, 0, d, d));
        let mut t = self.product.as_mut().submatrix_mut(0, 0, d, d);
        mul_into(
            t.rb_mut(),
            Accum::Replace,
            chol,
            self.factor.as_ref().submatrix(0, 0, d, d),
            1.0,
        );
        let t = self.product.as_ref().submatrix(0, 0, d, d);
        mul_into(out, Accum::Replace, t, t.transpose(), 1.0);
    }

    /// Raw vectors, `RAW_BLOCK` at a time: `out = Σ_blocks (C G)(C G)ᵀ`.
    fn raw<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
        chol: MatRef<'_, f64>,
        mut out: MatMut<'_, f64>,
    ) {
        let d = chol.nrows();
        out.fill(0.0);
        let mut done = 0;
        while done < count {
            let b = RAW_BLOCK.min(count - done);
            let mut g = self.factor.as_mut().submatrix_mut(0, 0, d, b);
            for j in 0..b {
                for i in 0..d {
                    g[(i, j)] = StandardNormal.sample(rng);
                }
            }
            let mut x = self.product.as_mut().submatrix_mut(0, 0, d, b);
            mul_into(
                x.rb_mut(),
                Accum::Replace,
                chol,
                self.factor.as_ref().submatrix(0, 0, d, b),
                1.0,
            );
            let x = self.product.as_ref().submatrix(0, 0, d, b);
            mul_into(out.rb_mut(), Accum::Add, x, x.transpose(), 1.0);
            done += b;
        }
    }
}

/// The Bartlett factor of `Wishart(N, I_d)`: fills `l` (d×d) with the lower-triangular
/// `L`, `L_ii = sqrt(χ²_{N−i})` (0-based `i`), `L_ij ~ N(0,1)` below the diagonal and
/// zeros above, so that `L Lᵀ ~ Wishart(N, I_d)` (Bartlett, 1933). Needs `N ≥ d`.
/// Draws column by column, top to bottom.
pub fn bartlett_factor<R: Rng + ?Sized>(rng: &mut R, count: usize, mut l: MatMut<'_, f64>) {
    let d = l.nrows();
    debug_assert!(count >= d && l.ncols() == d);
    for j in 0..d {
        for i in 0..d {
            l[(i, j)] = if i > j {
                StandardNormal.sample(rng)
            } else if i == j {
                let chi = ChiSquared::new((count - i) as f64).expect("positive degrees of freedom");
                chi.sample(rng).sqrt()
            } else {
                0.0
            };
        }
    }
}

/// `aᵀb` over the common length, with eight independent partial sums: a single running
/// sum waits on the latency of each addition, so this is several times faster on the
/// short and medium vectors of hot loops (and rounds differently from a serial sum).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a8, b8) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let tail: f64 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0; 8];
    for (x, y) in a8.zip(b8) {
        for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
            *acc += x * y;
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Whether kernels compiled for AVX2 may run on this CPU (the detection is cached by
/// the standard library). The project's AVX2 kernels use no FMA, so they round exactly
/// as their portable versions do.
#[inline(always)]
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Returns the CPU's vector registers to the clean state after faer.
///
/// faer's x86 GEMM kernels (`private-gemm-x86`) use AVX-512 registers `zmm16–31` and
/// leave them dirty. `vzeroupper` cannot clean those, so every later legacy-SSE
/// instruction (all scalar `f64` code of a baseline x86-64 build, and glibc's `exp`
/// wrapper) pays a state-transition penalty: EM on a mixture ran 10× slower after one
/// `matmul` on this machine. Without AVX-512 the same happens to the upper halves of the
/// `ymm` registers, which `vzeroupper` does clean: on a 2-core AVX2 machine the mixture's
/// risk Monte Carlo spent 200 ns per `exp` without it and 10 ns with it. Call this after
/// faer calls that precede scalar hot loops. A no-op without AVX or on other
/// architectures.
#[inline]
pub fn clean_simd_state() {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above); the callee only zeroes
            // registers it declares as clobbered (see `zero_upper_zmm`).
            unsafe { zero_upper_zmm() }
        } else if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX (checked above).
            unsafe { zero_upper_ymm() }
        }
    }
}

/// `vzeroupper`: zeroes the upper halves of `ymm0–15`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn zero_upper_ymm() {
    std::arch::x86_64::_mm256_zeroupper();
}

/// `vpxord zmmN, zmmN, zmmN` for N = 16..31, then `vzeroupper`. Every register written
/// is declared as clobbered, so the compiler keeps no live value in them across the asm.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn zero_upper_zmm() {
    unsafe {
        std::arch::asm!(
            "vpxord zmm16, zmm16, zmm16",
            "vpxord zmm17, zmm17, zmm17",
            "vpxord zmm18, zmm18, zmm18",
            "vpxord zmm19, zmm19, zmm19",
            "vpxord zmm20, zmm20, zmm20",
            "vpxord zmm21, zmm21, zmm21",
            "vpxord zmm22, zmm22, zmm22",
            "vpxord zmm23, zmm23, zmm23",
            "vpxord zmm24, zmm24, zmm24",
            "vpxord zmm25, zmm25, zmm25",
            "vpxord zmm26, zmm26, zmm26",
            "vpxord zmm27, zmm27, zmm27",
            "vpxord zmm28, zmm28, zmm28",
            "vpxord zmm29, zmm29, zmm29",
            "vpxord zmm30, zmm30, zmm30",
            "vpxord zmm31, zmm31, zmm31",
            "vzeroupper",
            out("zmm16") _, out("zmm17") _, out("zmm18") _, out("zmm19") _,
            out("zmm20") _, out("zmm21") _, out("zmm22") _, out("zmm23") _,
            out("zmm24") _, out("zmm25") _, out("zmm26") _, out("zmm27") _,
            out("zmm28") _, out("zmm29") _, out("zmm30") _, out("zmm31") _,
            out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
            out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
            out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
            out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _,
            options(nomem, nostack, preserves_flags),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::trial_rng;

    fn spd(d: usize) -> Mat<f64> {
        Mat::from_fn(d, d, |i, j| {
            if i == j {
                2.0 + i as f64
            } else {
                0.3 / (1.0 + (i + j) as f64)
            }
        })
    }

    /// A symmetric matrix with distinct, well separated eigenvalues.
    fn sym(d: usize, seed: u64) -> Mat<f64> {
        let mut rng = trial_rng(seed, 0, 0);
        let g = Mat::from_fn(d, d, |_, _| {
            Distribution::<f64>::sample(&StandardNormal, &mut rng)
        });
        &g + g.transpose()
    }

    /// Whether two matrices hold the same bits (signed zeros included).
    fn same_bits(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> bool {
        a.shape() == b.shape()
            && (0..a.ncols())
                .all(|j| (0..a.nrows()).all(|i| a[(i, j)].to_bits() == b[(i, j)].to_bits()))
    }

    /// `dot` equals the serial sum to rounding at every length around the block of 8,
    /// with a tail, and on unequal lengths (the common prefix).
    #[test]
    fn dot_matches_the_serial_sum() {
        for n in [0, 1, 7, 8, 9, 16, 31, 100] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
            let b: Vec<f64> = (0..n + 3).map(|i| 1.0 + (i as f64 * 1.3).cos()).collect();
            let serial: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let scale: f64 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
            assert!(
                (dot(&a, &b) - serial).abs() <= 1e-15 * scale.max(1.0),
                "n = {n}"
            );
        }
    }

    /// `Eigh` reproduces faer's high-level `self_adjoint_eigen` bit for bit, in reverse
    /// order, when reused across matrices, on both sides of the divide-and-conquer
    /// threshold (128).
    #[test]
    fn eigh_matches_the_high_level_solver_bitwise() {
        for d in [1, 5, 40, 130] {
            let mut eigh = Eigh::new(d);
            for seed in 0..2 {
                let a = sym(d, seed);
                eigh.compute(a.as_ref()).unwrap();
                let evd = a.self_adjoint_eigen(faer::Side::Lower).unwrap();
                let (s, u) = (evd.S().column_vector(), evd.U());
                for c in 0..d {
                    assert_eq!(eigh.values()[c].to_bits(), s[d - 1 - c].to_bits());
                }
                assert!(same_bits(eigh.vectors(), u.reverse_cols()), "d = {d}");
            }
        }
    }

    /// `Cholesky` reproduces `Mat::llt` and `Solve::solve` bit for bit when reused.
    #[test]
    fn cholesky_matches_the_high_level_solver_bitwise() {
        use faer::prelude::Solve;
        let (d, cols) = (6, 3);
        let mut chol = Cholesky::new(d, cols);
        for shift in [0.0, 1.5] {
            let a = spd(d) + Mat::<f64>::identity(d, d) * faer::Scale(shift);
            let b = Mat::from_fn(d, cols, |i, j| (i as f64 - j as f64).sin());
            chol.factor(a.as_ref()).unwrap();
            let mut x = b.clone();
            chol.solve_in_place(x.as_mut());
            let llt = a.llt(faer::Side::Lower).unwrap();
            assert!(same_bits(chol.l.as_ref(), llt.L()));
            assert!(same_bits(x.as_ref(), llt.solve(&b).as_ref()));
        }
        assert!(chol.factor((-spd(d)).as_ref()).is_err());
    }

    #[test]
    fn eigen_is_descending_and_reconstructs() {
        let a = spd(5);
        let (l, u) = sym_eigen_desc(a.as_ref()).unwrap();
        assert!(l.windows(2).all(|w| w[0] >= w[1]));
        let rebuilt = Mat::from_fn(5, 5, |i, j| {
            (0..5).map(|c| u[(i, c)] * l[c] * u[(j, c)]).sum::<f64>()
        });
        assert!((&rebuilt - &a).norm_max() < 1e-12);
    }

    #[test]
    fn pinv_satisfies_penrose_identity_on_singular_matrix() {
        let v = Mat::from_fn(4, 2, |i, j| (i + 2 * j) as f64 + 1.0);
        let a = &v * v.transpose();
        let p = pinv_psd(a.as_ref()).unwrap();
        assert!((&a * &p * &a - &a).norm_max() < 1e-9);
        assert_eq!(rank_psd(a.as_ref()).unwrap(), 2);
    }

    /// Cleaning the vector state between faer calls changes no result.
    #[test]
    fn cleaning_the_simd_state_is_harmless() {
        let a = spd(40);
        let before = &a * &a;
        clean_simd_state();
        let after = &a * &a;
        clean_simd_state();
        assert_eq!(before, after);
        let x = 1.5f64;
        clean_simd_state();
        assert_eq!(x.exp().to_bits(), 1.5f64.exp().to_bits());
    }

    /// Both samplers estimate E[S] = Σ; the mean of 400 draws must be within a few
    /// standard errors (sd of an entry of S is ≈ sqrt(2/N)·Σ_ii, so 5·sqrt(2/(N·400))·4).
    /// The panel products against full products with the zero half materialised.
    #[test]
    fn lower_products_match_full_products() {
        let (d, k) = (75, 4);
        let l = Mat::from_fn(d, d, |i, j| {
            if i >= j {
                (1 + i * 7 + j * 3) as f64 % 5.0 - 2.0
            } else {
                0.0
            }
        });
        let x = Mat::from_fn(d, k, |i, j| ((i * 3 + j * 11) % 7) as f64 - 3.0);
        let mut out = Mat::zeros(d, k);
        lower_mul(out.as_mut(), l.as_ref(), x.as_ref());
        assert!((&out - &l * &x).norm_max() < 1e-12);
        lower_t_mul(out.as_mut(), l.as_ref(), x.as_ref());
        assert!((&out - l.transpose() * &x).norm_max() < 1e-12);
    }

    #[test]
    fn both_samplers_are_unbiased() {
        let d = 4;
        let sigma = spd(d);
        let chol = cholesky_lower(sigma.as_ref(), "sigma").unwrap();
        for sampler in [Sampler::Wishart, Sampler::Raw] {
            let mut draw = CovarianceDraw::new(d);
            let mut acc = Mat::<f64>::zeros(d, d);
            let mut s = Mat::<f64>::zeros(d, d);
            let reps = 400;
            for t in 0..reps {
                draw.draw(
                    &mut trial_rng(5, 0, t),
                    sampler,
                    50,
                    chol.as_ref(),
                    s.as_mut(),
                );
                acc += &s;
            }
            let mean = acc * faer::Scale(1.0 / reps as f64);
            let tol = 5.0 * (2.0 / (50.0 * reps as f64)).sqrt() * 5.0;
            assert!((&mean - &sigma).norm_max() < tol, "{sampler:?}");
        }
    }
}
