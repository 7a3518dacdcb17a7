//! The draws of a trial's risk parts, made in the `2r⋆` dimensions they depend on.
//!
//! A mixture point `x = u⋆ᵢ + g` (`i` uniform on `1..K`, `g ~ N(0, I_d)`) enters the
//! features `ψ_Û(x)` only through `z = Q_Ûᵀx` and the target `f⋆(x)` only through
//! `z⋆ = Q⋆ᵀx` (`Q_Û`, `Q⋆` the `d × r⋆` orthonormal bases of the two projections).
//! Given `i`, `(z⋆, z)` is Gaussian with means `(Q⋆ᵀu⋆ᵢ, Q_Ûᵀu⋆ᵢ)`, identity
//! covariances and cross-covariance `M = Q⋆ᵀQ_Û`, so with `g₁, g₂ ~ N(0, I_{r⋆})`
//!
//! ```text
//! z⋆ = Q⋆ᵀu⋆ᵢ + g₁,    z = Q_Ûᵀu⋆ᵢ + Mᵀg₁ + L g₂,    L = (I − MᵀM)^{1/2}
//! ```
//!
//! has exactly the law of `(Q⋆ᵀx, Q_Ûᵀx)` (`Cov z = MᵀM + L² = I`, `Cov(z⋆, z) = M`):
//! the `d − 2r⋆` directions orthogonal to both ranges, on which nothing depends, are
//! integrated out exactly instead of being drawn. A point costs `2r⋆` normals instead of
//! `d`, and a block of points is featurised by small matrix products and the vectorised
//! softmax of [`super::kernels`].

use faer::{Accum, Mat};
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{GmmModel, Projection, kernels};
use crate::Result;
use crate::linalg::{Eigh, clean_simd_state, mul_into};

/// Points per block.
pub(super) const BLOCK: usize = 256;

/// The coupling of `(z⋆, z)` at one fitted projection and the per-block buffers
/// (allocated once for `K` components and rank `r⋆`).
pub(super) struct Draws {
    k: usize,
    r: usize,
    /// `[M; L]` (2r⋆ × r⋆): `z − Q_Ûᵀu⋆ᵢ = [g₁ᵀ g₂ᵀ]·[M; L]` for a point in a row.
    coupling: Mat<f64>,
    /// `Q_Ûᵀu⋆ᵢ` in column `i` (r⋆ × K).
    mean_hat: Mat<f64>,
    /// `I − MᵀM` and its eigendecomposition.
    gram: Mat<f64>,
    eigh: Eigh,
    /// One block, column-major with a point per row: component labels, `[g₁ g₂]`
    /// (b × 2r⋆), `z⋆` and `z` (b × r⋆), the logits then responsibilities at `U⋆` and
    /// at `Û` (b × K), the slopes `⟨θ⋆ᵢ, z⋆⟩` (b × K), and each row's max and sum.
    label: Vec<usize>,
    g: Vec<f64>,
    z_star: Vec<f64>,
    z: Vec<f64>,
    a_star: Vec<f64>,
    a: Vec<f64>,
    slope: Vec<f64>,
    row_max: Vec<f64>,
    row_sum: Vec<f64>,
}

impl Draws {
    pub(super) fn new(k: usize, r: usize) -> Self {
        Draws {
            k,
            r,
            coupling: Mat::zeros(2 * r, r),
            mean_hat: Mat::zeros(r, k),
            gram: Mat::zeros(r, r),
            eigh: Eigh::new(r),
            label: vec![0; BLOCK],
            g: vec![0.0; BLOCK * 2 * r],
            z_star: vec![0.0; BLOCK * r],
            z: vec![0.0; BLOCK * r],
            a_star: vec![0.0; BLOCK * k],
            a: vec![0.0; BLOCK * k],
            slope: vec![0.0; BLOCK * k],
            row_max: vec![0.0; BLOCK],
            row_sum: vec![0.0; BLOCK],
        }
    }

    /// Sets the coupling of the truth's projection with the fitted `proj`.
    pub(super) fn couple(&mut self, model: &GmmModel, proj: &Projection) -> Result<()> {
        let r = self.r;
        let q_star = model.truth.q.as_ref();
        mul_into(
            self.coupling.as_mut().subrows_mut(0, r),
            Accum::Replace,
            q_star.transpose(),
            proj.q.as_ref(),
            1.0,
        );
        let m = self.coupling.as_ref().subrows(0, r);
        mul_into(self.gram.as_mut(), Accum::Replace, m.transpose(), m, -1.0);
        for c in 0..r {
            self.gram[(c, c)] += 1.0;
        }
        self.eigh.apply(
            self.gram.as_ref(),
            |l| l.max(0.0).sqrt(),
            self.coupling.as_mut().subrows_mut(r, r),
        )?;
        mul_into(
            self.mean_hat.as_mut(),
            Accum::Replace,
            proj.q.transpose(),
            model.u_star.as_ref(),
            1.0,
        );
        clean_simd_state();
        Ok(())
    }

    /// `[M; L]` of the last [`Draws::couple`].
    #[cfg(test)]
    pub(super) fn coupling(&self) -> faer::MatRef<'_, f64> {
        self.coupling.as_ref()
    }

    /// Draws `f.len()` mixture points: `ψ_Û(x)` of [`Draws::couple`]'s `proj` into the
    /// rows of `psi` (count × p) and `f⋆(x)` into `f`.
    pub(super) fn draw(
        &mut self,
        model: &GmmModel,
        proj: &Projection,
        rng: &mut ChaCha8Rng,
        psi: &mut Mat<f64>,
        f: &mut [f64],
    ) {
        let count = f.len();
        assert!(psi.nrows() == count && psi.ncols() == model.d_eff());
        let mut start = 0;
        while start < count {
            let b = BLOCK.min(count - start);
            self.sample_block(model, rng, b);
            self.logits(model, proj, b);
            self.target(model, b, &mut f[start..start + b]);
            self.features(proj, b, psi, start);
            start += b;
        }
    }

    /// Labels, `z⋆` and `z` of `b` points.
    fn sample_block(&mut self, model: &GmmModel, rng: &mut ChaCha8Rng, b: usize) {
        let (k, r) = (self.k, self.r);
        let g = &mut self.g[..b * 2 * r];
        for j in 0..b {
            self.label[j] = rng.random_range(0..k);
            for c in 0..2 * r {
                g[c * b + j] = StandardNormal.sample(rng);
            }
        }
        let mean_star = model.truth.qu.as_ref();
        for c in 0..r {
            let z_star = &mut self.z_star[c * b..(c + 1) * b];
            for (j, zs) in z_star.iter_mut().enumerate() {
                *zs = mean_star[(c, self.label[j])] + g[c * b + j];
            }
        }
        kernels::block_product(g, self.coupling.as_ref(), &mut self.z[..b * r]);
        for c in 0..r {
            let z = &mut self.z[c * b..(c + 1) * b];
            for (j, zc) in z.iter_mut().enumerate() {
                *zc += self.mean_hat[(c, self.label[j])];
            }
        }
    }

    /// The responsibilities at `U⋆` and at `Û` (eq. (6.3)) and the slopes `⟨θ⋆ᵢ, z⋆⟩`.
    fn logits(&mut self, model: &GmmModel, proj: &Projection, b: usize) {
        let (k, r) = (self.k, self.r);
        let z_star = &self.z_star[..b * r];
        kernels::block_product(z_star, model.truth.qu.as_ref(), &mut self.a_star[..b * k]);
        kernels::block_product(
            z_star,
            model.theta_slopes_feat.as_ref(),
            &mut self.slope[..b * k],
        );
        kernels::block_product(&self.z[..b * r], proj.qu.as_ref(), &mut self.a[..b * k]);
        let (mx, sm) = (&mut self.row_max[..b], &mut self.row_sum[..b]);
        kernels::softmax_rows(&mut self.a_star[..b * k], &model.truth.half, mx, sm);
        kernels::softmax_rows(&mut self.a[..b * k], &proj.half, mx, sm);
    }

    /// `f⋆ = Σᵢ π⋆ᵢ (⟨θ⋆ᵢ, z⋆ − Q⋆ᵀu⋆ᵢ⟩ + b⋆ᵢ)`, the target in feature coordinates.
    fn target(&self, model: &GmmModel, b: usize, f: &mut [f64]) {
        f.fill(0.0);
        for i in 0..self.k {
            let (pi, slope) = (
                &self.a_star[i * b..(i + 1) * b],
                &self.slope[i * b..(i + 1) * b],
            );
            let offset = model.theta_offset[i];
            for ((fj, p), s) in f.iter_mut().zip(pi).zip(slope) {
                *fj += p * (s + offset);
            }
        }
    }

    /// `ψ_Û = [π₁ Q_Ûᵀ(x − û₁), π₁, …]` (eq. (6.4)) into rows `start..start + b` of `psi`.
    fn features(&self, proj: &Projection, b: usize, psi: &mut Mat<f64>, start: usize) {
        let r = self.r;
        for i in 0..self.k {
            let pi = &self.a[i * b..(i + 1) * b];
            for c in 0..r {
                let (z, centre) = (&self.z[c * b..(c + 1) * b], proj.qu[(c, i)]);
                let col = &mut psi.col_as_slice_mut(i * (r + 1) + c)[start..start + b];
                for ((out, p), zc) in col.iter_mut().zip(pi).zip(z) {
                    *out = p * (zc - centre);
                }
            }
            psi.col_as_slice_mut(i * (r + 1) + r)[start..start + b].copy_from_slice(pi);
        }
    }
}
