//! A chart of the manifold `M_{d,k} = {M ∈ ℝ^{d×d} : M ⪰ 0, rank M = k}` and the
//! generic tangent problem of every model whose descriptor lives on it with linear
//! features spanning `range(M)` (the factor and the linear spectral models).
//!
//! Around `M⋆ = U₁ΛU₁ᵀ`, with `U = [U₁ U₂]` orthonormal, the chart is
//!
//! ```text
//! M(R, S) = Y R Yᵀ,   Y = U₁ + U₂ S,   R = Λ + δR ∈ Sym(k),   S ∈ ℝ^{(d−k)×k}
//! ```
//!
//! of dimension `k(k+1)/2 + k(d−k) = dim M_{d,k}`. Coordinates are ordered as the
//! upper triangle of `δR` (`δR = Σ c_ij (e_ie_jᵀ + e_je_iᵀ)` for `i<j`, `c_ii e_ie_iᵀ`),
//! then `S` row by row. Because the population loss `L` may have a non-zero ambient
//! gradient `∇L(M⋆)` normal to the manifold, the chart Hessian is
//! `H_ab = D²L[M_a, M_b] + ⟨∇L(M⋆), M_ab⟩`, with `M_a = ∂M/∂c_a` and
//! `M_ab = ∂²M/∂c_a∂c_b` at `c = 0`. The second term is the curvature (Weingarten)
//! correction that a tangent projection of the ambient Hessian misses.

use faer::{Mat, MatRef};

use super::TangentProblem;
use crate::downstream::LinearTask;
use crate::linalg::{frobenius_gram, pinv_psd, sqrt_psd, sym_eigen_desc};
use crate::{Error, Result};

/// The chart of `M_{d,k}` at a rank-`k` point.
#[derive(Clone, Debug)]
pub struct PsdChart {
    u1: Mat<f64>,
    u2: Mat<f64>,
    lambda: Vec<f64>,
    pairs: Vec<(usize, usize)>,
}

impl PsdChart {
    /// The chart at `m_star`, which must be symmetric PSD of rank exactly `k`.
    pub fn at(m_star: MatRef<'_, f64>, k: usize) -> Result<Self> {
        let d = m_star.nrows();
        let (lambda, u) = sym_eigen_desc(m_star)?;
        let top = lambda[0].abs().max(f64::MIN_POSITIVE);
        if k == 0
            || k >= d
            || lambda[k - 1] <= 1e-10 * top
            || lambda.get(k).is_some_and(|l| l.abs() > 1e-10 * top)
        {
            return Err(Error::Numerical(format!(
                "the true descriptor must have rank exactly k = {k}; its eigenvalues are {lambda:?}"
            )));
        }
        let pairs = (0..k).flat_map(|i| (i..k).map(move |j| (i, j))).collect();
        Ok(PsdChart {
            u1: u.subcols(0, k).to_owned(),
            u2: u.subcols(k, d - k).to_owned(),
            lambda: lambda[..k].to_vec(),
            pairs,
        })
    }

    pub fn k(&self) -> usize {
        self.u1.ncols()
    }

    /// Chart dimension `q = k(k+1)/2 + k(d−k)`.
    pub fn dim(&self) -> usize {
        self.pairs.len() + self.u2.ncols() * self.k()
    }

    fn split<'a>(&self, c: &'a [f64]) -> (&'a [f64], &'a [f64]) {
        c.split_at(self.pairs.len())
    }

    /// The point `M(c)` of the chart.
    pub fn point(&self, c: &[f64]) -> Mat<f64> {
        let k = self.k();
        let (cr, cs) = self.split(c);
        let mut r = Mat::from_fn(k, k, |i, j| if i == j { self.lambda[i] } else { 0.0 });
        for (&(i, j), &v) in self.pairs.iter().zip(cr) {
            r[(i, j)] += v;
            if i != j {
                r[(j, i)] += v;
            }
        }
        let s = Mat::from_fn(self.u2.ncols(), k, |a, i| cs[a * k + i]);
        let y = &self.u1 + &self.u2 * &s;
        &y * &r * y.transpose()
    }

    /// The coordinate tangent vectors `M_a = ∂M/∂c_a` at `c = 0`:
    /// `U₁ E U₁ᵀ` for the `δR` coordinates and `λ_i (u₂ₐu₁ᵢᵀ + u₁ᵢu₂ₐᵀ)` for `S_ai`.
    pub fn tangents(&self) -> Vec<Mat<f64>> {
        let d = self.u1.nrows();
        let (u1, u2) = (&self.u1, &self.u2);
        let mut out: Vec<Mat<f64>> = self
            .pairs
            .iter()
            .map(|&(i, j)| {
                Mat::from_fn(d, d, |r, c| {
                    let e = u1[(r, i)] * u1[(c, j)];
                    if i == j {
                        e
                    } else {
                        e + u1[(r, j)] * u1[(c, i)]
                    }
                })
            })
            .collect();
        for a in 0..u2.ncols() {
            for i in 0..self.k() {
                let l = self.lambda[i];
                out.push(Mat::from_fn(d, d, |r, c| {
                    l * (u2[(r, a)] * u1[(c, i)] + u1[(r, i)] * u2[(c, a)])
                }));
            }
        }
        out
    }

    /// The curvature matrix `K_ab = ⟨Γ, ∂²M/∂c_a∂c_b⟩` for a symmetric ambient matrix `Γ`
    /// (the loss gradient). With `Γ₁₂ = U₁ᵀΓU₂` and `Γ₂₂ = U₂ᵀΓU₂`:
    /// `K(δR_ij, S_al) = 2 (E_ij Γ₁₂)_{la}`, `K(S_ai, S_bj) = 2 λ_i δ_ij (Γ₂₂)_ab`, and
    /// zero between two `δR` coordinates (the chart is linear in `R`).
    pub fn curvature(&self, gamma: MatRef<'_, f64>) -> Mat<f64> {
        let k = self.k();
        let nr = self.pairs.len();
        let g12 = self.u1.transpose() * gamma * &self.u2;
        let g22 = self.u2.transpose() * gamma * &self.u2;
        let mut out = Mat::zeros(self.dim(), self.dim());
        for (p, &(i, j)) in self.pairs.iter().enumerate() {
            for a in 0..self.u2.ncols() {
                for l in 0..k {
                    let mut v = if l == i { g12[(j, a)] } else { 0.0 };
                    if i != j && l == j {
                        v += g12[(i, a)];
                    }
                    let s = nr + a * k + l;
                    out[(p, s)] = 2.0 * v;
                    out[(s, p)] = 2.0 * v;
                }
            }
        }
        for a in 0..self.u2.ncols() {
            for b in 0..self.u2.ncols() {
                for i in 0..k {
                    out[(nr + a * k + i, nr + b * k + i)] = 2.0 * self.lambda[i] * g22[(a, b)];
                }
            }
        }
        out
    }

    /// Gram matrix `G_ab = ⟨L(e_a), L(e_b)⟩_{L²}` of the first-order residual map for
    /// linear features spanning `range(M)` and the task `y = w⋆ᵀx + ε`, `Cov x = Σ`.
    ///
    /// The population projection of `f⋆` onto `{wᵀx : w ∈ range(M)}` is, in whitened
    /// coordinates, `Π(B) ω⋆` with `B = Σ^{1/2} M Σ^{1/2}`, `ω⋆ = Σ^{1/2} w⋆` and `Π(B)`
    /// the orthogonal projector onto `range(B)`. On a constant-rank set
    /// `DΠ(B)[Ḃ] = (I−Π)ḂB⁺ + B⁺Ḃ(I−Π)`, and `(I−Π)ω⋆ = 0` by well-specification, so
    /// `L(e_a) = −(I−Π) Σ^{1/2} M_a Σ^{1/2} B⁺ ω⋆` (arXiv 2603.27631, eq. (H.33)).
    pub fn residual_gram(&self, task: &LinearTask) -> Result<Mat<f64>> {
        let d = self.u1.nrows();
        let root = sqrt_psd(task.sigma.as_ref())?;
        let m_star = self.point(&vec![0.0; self.dim()]);
        let b = &root * &m_star * &root;
        let b_pinv = pinv_psd(b.as_ref())?;
        let proj = &b * &b_pinv;
        let omega = &root * &task.w_star;
        let outside = (Mat::<f64>::identity(d, d) - &proj) * &omega;
        if outside.norm_l2() > 1e-8 * omega.norm_l2().max(1e-300) {
            return Err(Error::Numerical(
                "the downstream target is not in the span of the true representation (not well-specified)".into(),
            ));
        }
        let rho = &root * &b_pinv * &omega;
        let complement = (Mat::<f64>::identity(d, d) - &proj) * &root;
        let columns: Vec<Mat<f64>> = self
            .tangents()
            .iter()
            .map(|t| -(&complement * (t * &rho)))
            .collect();
        Ok(frobenius_gram(&columns, &columns))
    }
}

/// A pre-training model whose descriptor is a point of `M_{d,k}` and whose features
/// are linear with row space `range(M)`: it supplies the ambient derivatives of its
/// loss at the truth; the chart does the rest.
pub trait PsdModel {
    /// The true descriptor `M⋆` (d×d, rank `k`).
    fn descriptor(&self) -> Mat<f64>;
    fn rank(&self) -> usize;
    /// Ambient gradient `∇L(M⋆)` of the population loss (symmetric d×d).
    fn loss_gradient(&self) -> Mat<f64>;
    /// `D²L(M⋆)[T_a, T_b]` for the given tangent vectors.
    fn loss_hessian(&self, tangents: &[Mat<f64>]) -> Mat<f64>;
    /// `Cov(⟨∇ℓ(M⋆; z), T_a⟩, ⟨∇ℓ(M⋆; z), T_b⟩)` for the given tangent vectors.
    fn score_covariance(&self, tangents: &[Mat<f64>]) -> Mat<f64>;
    /// The downstream task.
    fn task(&self) -> &LinearTask;
}

/// Builds `(H, S, G)` for a [`PsdModel`] in the chart at its true descriptor.
pub fn tangent_problem(model: &impl PsdModel) -> Result<TangentProblem> {
    let chart = PsdChart::at(model.descriptor().as_ref(), model.rank())?;
    let tangents = chart.tangents();
    let hessian = model.loss_hessian(&tangents) + chart.curvature(model.loss_gradient().as_ref());
    Ok(TangentProblem {
        hessian,
        score_cov: model.score_covariance(&tangents),
        residual_gram: chart.residual_gram(model.task())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> PsdChart {
        let d = 5;
        let v = Mat::from_fn(d, 2, |i, j| ((i * 3 + j * 5) % 7) as f64 - 3.0 + j as f64);
        PsdChart::at((&v * v.transpose()).as_ref(), 2).unwrap()
    }

    /// Central differences of `M(c)` reproduce the analytic tangents.
    #[test]
    fn tangents_are_derivatives_of_the_chart() {
        let ch = chart();
        let h = 1e-6;
        for (a, t) in ch.tangents().iter().enumerate() {
            let mut c = vec![0.0; ch.dim()];
            c[a] = h;
            let plus = ch.point(&c);
            c[a] = -h;
            let fd = (plus - ch.point(&c)) * faer::Scale(0.5 / h);
            assert!(
                (&fd - t).norm_max() < 1e-6 * t.norm_max().max(1.0),
                "coordinate {a}"
            );
        }
        assert_eq!(ch.dim(), 3 + 6);
    }

    /// The Hessian of `c ↦ ⟨Γ, M(c)⟩` by central differences equals `curvature(Γ)`.
    #[test]
    fn curvature_is_second_derivative_of_the_chart() {
        let ch = chart();
        let gamma = Mat::from_fn(5, 5, |i, j| {
            1.0 / (1.0 + i as f64 + j as f64) + if i == j { 0.5 } else { 0.0 }
        });
        let f = |c: &[f64]| {
            let m = ch.point(c);
            crate::linalg::frobenius_gram(std::slice::from_ref(&gamma), &[m])[(0, 0)]
        };
        let q = ch.dim();
        let k = ch.curvature(gamma.as_ref());
        let h = 1e-3;
        for a in 0..q {
            for b in 0..q {
                let at = |sa: f64, sb: f64| {
                    let mut c = vec![0.0; q];
                    c[a] += sa * h;
                    c[b] += sb * h;
                    f(&c)
                };
                let fd =
                    (at(1.0, 1.0) - at(1.0, -1.0) - at(-1.0, 1.0) + at(-1.0, -1.0)) / (4.0 * h * h);
                assert!(
                    (fd - k[(a, b)]).abs() < 1e-5,
                    "({a},{b}): fd {fd} vs {}",
                    k[(a, b)]
                );
            }
        }
    }

    /// The Gram of `L` equals `JᵀΣJ` with `J` the finite-difference Jacobian of the
    /// Σ-orthogonal projection coefficient `w(M) = Q(QᵀΣQ)⁻¹QᵀΣw⋆`, Q spanning range(M).
    #[test]
    fn residual_gram_matches_finite_differences() {
        let ch = chart();
        let d = 5;
        let m_star = ch.point(&vec![0.0; ch.dim()]);
        let sigma = Mat::from_fn(d, d, |i, j| if i == j { 1.5 + i as f64 } else { 0.3 });
        let (_, u) = sym_eigen_desc(m_star.as_ref()).unwrap();
        let w_star = u.subcols(0, 2) * Mat::from_fn(2, 1, |i, _| 1.0 + i as f64);
        let task = LinearTask {
            sigma: sigma.clone(),
            w_star: w_star.clone(),
            sigma2: 1.0,
        };
        let project = |m: &Mat<f64>| {
            let (_, u) = sym_eigen_desc(m.as_ref()).unwrap();
            let q = u.subcols(0, 2).to_owned();
            let small = q.transpose() * &sigma * &q;
            let inv = pinv_psd(small.as_ref()).unwrap();
            &q * inv * q.transpose() * &sigma * &w_star
        };
        let h = 1e-6;
        let cols: Vec<Mat<f64>> = (0..ch.dim())
            .map(|a| {
                let mut c = vec![0.0; ch.dim()];
                c[a] = h;
                let plus = project(&ch.point(&c));
                c[a] = -h;
                (plus - project(&ch.point(&c))) * faer::Scale(0.5 / h)
            })
            .collect();
        let fd = Mat::from_fn(ch.dim(), ch.dim(), |a, b| {
            (cols[a].transpose() * &sigma * &cols[b])[(0, 0)]
        });
        let g = ch.residual_gram(&task).unwrap();
        assert!(
            (&fd - &g).norm_max() < 1e-6 * g.norm_max(),
            "{:?}\n{:?}",
            fd,
            g
        );
    }
}
