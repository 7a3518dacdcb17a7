//! The downstream stage: a minimum-norm least-squares head on a frozen linear
//! representation, and its exact conditional excess risk.
//!
//! Features are `ψ(x) = W x` with `W ∈ ℝ^{p×d}`, the design is `X ~ N(0, Σ)` (or any
//! law with covariance `Σ`), and the target is `f⋆(x) = w⋆ᵀx` with homoskedastic
//! noise of variance `σ²`. Conditional on the representation `W` and the design's
//! sample covariance `Σ_n = (1/n) Σᵢ xᵢxᵢᵀ`, the min-norm OLS predictor has risk
//! (Tinati & Tu, arXiv 2603.27631, Prop. B.1)
//!
//! ```text
//! R − σ² = Rep + Leakage + Var
//! Rep     = ‖w⋆ − Wᵀβ‖²_Σ,            β   = F⁺ W Σ w⋆,    F   = W Σ Wᵀ
//! Leakage = ‖Wᵀ(β_n − β)‖²_Σ,          β_n = F_n⁺ W Σ_n w⋆, F_n = W Σ_n Wᵀ
//! Var     = (σ²/n) tr(F F_n⁺)
//! ```
//!
//! where `‖v‖²_Σ = vᵀΣv`. The label noise is averaged out exactly, so no labels are
//! ever drawn. The formulas depend on the design only through `Σ_n`.

use faer::{Accum, Mat, MatRef};
use rand::Rng;

use crate::Result;
use crate::linalg::{Eigh, bartlett_factor, mul_into, pinv_psd, quad_form, trace_of_product};

/// A linear-Gaussian downstream task `y = w⋆ᵀx + ε`, `Var ε = σ²`, `Cov x = Σ`.
#[derive(Clone, Debug)]
pub struct LinearTask {
    /// Covariance `Σ` of the downstream design (d×d).
    pub sigma: Mat<f64>,
    /// Regression vector `w⋆` of the target (d×1).
    pub w_star: Mat<f64>,
    /// Noise variance `σ² = E[ε² | x]`.
    pub sigma2: f64,
}

/// The three parts of the conditional excess risk `R − σ²`, unscaled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskParts {
    pub rep: f64,
    pub leak: f64,
    pub var: f64,
}

impl RiskParts {
    /// `R − σ²`.
    pub fn excess(&self) -> f64 {
        self.rep + self.leak + self.var
    }
}

/// Reusable buffers for [`LinearTask::risk_parts`] with `p` features in dimension `d`.
#[derive(Clone, Debug)]
pub struct DownstreamScratch {
    w_sigma: Mat<f64>,
    w_sigma_n: Mat<f64>,
    f: Mat<f64>,
    f_n: Mat<f64>,
    c: Mat<f64>,
    c_n: Mat<f64>,
    beta: Mat<f64>,
    beta_n: Mat<f64>,
    resid: Mat<f64>,
    eigh: Eigh,
    f_pinv: Mat<f64>,
    f_n_pinv: Mat<f64>,
    projected: ProjectedScratch,
}

/// Buffers of [`LinearTask::risk_parts_projected`] for `p` features in dimension `d`.
#[derive(Clone, Debug)]
struct ProjectedScratch {
    /// `B = [Wᵀ w⋆]` (d×(p+1)).
    b: Mat<f64>,
    /// `ΣB`.
    sigma_b: Mat<f64>,
    /// `G = BᵀΣB`.
    gram: Mat<f64>,
    eigh: Eigh,
    /// `R = UΛ^{1/2}`, so that `RRᵀ = G`.
    root: Mat<f64>,
    bartlett: Mat<f64>,
    /// `R L`.
    factor: Mat<f64>,
    /// `BᵀΣ_nB`.
    moments: Mat<f64>,
    /// A residual's coordinates in `B`.
    coef: Mat<f64>,
}

impl ProjectedScratch {
    fn new(p: usize, d: usize) -> Self {
        let q = p + 1;
        ProjectedScratch {
            b: Mat::zeros(d, q),
            sigma_b: Mat::zeros(d, q),
            gram: Mat::zeros(q, q),
            eigh: Eigh::new(q),
            root: Mat::zeros(q, q),
            bartlett: Mat::zeros(q, q),
            factor: Mat::zeros(q, q),
            moments: Mat::zeros(q, q),
            coef: Mat::zeros(q, 1),
        }
    }
}

impl DownstreamScratch {
    pub fn new(p: usize, d: usize) -> Self {
        DownstreamScratch {
            w_sigma: Mat::zeros(p, d),
            w_sigma_n: Mat::zeros(p, d),
            f: Mat::zeros(p, p),
            f_n: Mat::zeros(p, p),
            c: Mat::zeros(p, 1),
            c_n: Mat::zeros(p, 1),
            beta: Mat::zeros(p, 1),
            beta_n: Mat::zeros(p, 1),
            resid: Mat::zeros(d, 1),
            eigh: Eigh::new(p),
            f_pinv: Mat::zeros(p, p),
            f_n_pinv: Mat::zeros(p, p),
            projected: ProjectedScratch::new(p, d),
        }
    }
}

impl LinearTask {
    pub fn dim(&self) -> usize {
        self.sigma.nrows()
    }

    /// Exact `Rep`, `Leakage` and `Var` of the min-norm OLS head on features `W x`,
    /// given the design sample covariance `sigma_n` of `n` points.
    pub fn risk_parts(
        &self,
        w: MatRef<'_, f64>,
        sigma_n: MatRef<'_, f64>,
        n: usize,
        s: &mut DownstreamScratch,
    ) -> Result<RiskParts> {
        mul_into(
            s.w_sigma.as_mut(),
            Accum::Replace,
            w,
            self.sigma.as_ref(),
            1.0,
        );
        mul_into(s.w_sigma_n.as_mut(), Accum::Replace, w, sigma_n, 1.0);
        mul_into(
            s.f.as_mut(),
            Accum::Replace,
            s.w_sigma.as_ref(),
            w.transpose(),
            1.0,
        );
        mul_into(
            s.f_n.as_mut(),
            Accum::Replace,
            s.w_sigma_n.as_ref(),
            w.transpose(),
            1.0,
        );
        mul_into(
            s.c.as_mut(),
            Accum::Replace,
            s.w_sigma.as_ref(),
            self.w_star.as_ref(),
            1.0,
        );
        mul_into(
            s.c_n.as_mut(),
            Accum::Replace,
            s.w_sigma_n.as_ref(),
            self.w_star.as_ref(),
            1.0,
        );
        self.parts_from_moments(w, n, s, Residual::Ambient)
    }

    /// The same risk parts for a Gaussian design of `n` points, with the design's sample
    /// moments drawn directly in their projected law instead of from a `d×d` sample
    /// covariance.
    ///
    /// The risk depends on `Σ_n` only through `F_n = WΣ_nWᵀ` and `c_n = WΣ_nw⋆`, which are
    /// blocks of `BᵀΣ_nB` for `B = [Wᵀ w⋆]` (d×(p+1)). For `xᵢ ~ N(0, Σ)` independent of
    /// `W`, the vectors `Bᵀxᵢ` are i.i.d. `N(0, G)` with `G = BᵀΣB`, so
    /// `n·BᵀΣ_nB ~ Wishart(n, G)`: it is drawn as `R LLᵀ Rᵀ` with `G = RRᵀ` (`R = UΛ^{1/2}`
    /// from the eigendecomposition, which allows a singular `G`) and `L` the Bartlett
    /// factor of `Wishart(n, I_{p+1})`. This is exact in law and costs `O(d²p)` for `ΣB`
    /// plus `O(p³)`. Needs `n ≥ p + 1`.
    pub fn risk_parts_projected<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        w: MatRef<'_, f64>,
        n: usize,
        s: &mut DownstreamScratch,
    ) -> Result<RiskParts> {
        let p = w.nrows();
        let pr = &mut s.projected;
        pr.b.as_mut().subcols_mut(0, p).copy_from(w.transpose());
        pr.b.as_mut().col_mut(p).copy_from(self.w_star.col(0));
        mul_into(
            pr.sigma_b.as_mut(),
            Accum::Replace,
            self.sigma.as_ref(),
            pr.b.as_ref(),
            1.0,
        );
        mul_into(
            pr.gram.as_mut(),
            Accum::Replace,
            pr.b.as_ref().transpose(),
            pr.sigma_b.as_ref(),
            1.0,
        );
        pr.eigh.compute(pr.gram.as_ref())?;
        for j in 0..=p {
            let root = pr.eigh.values()[j].max(0.0).sqrt();
            for i in 0..=p {
                pr.root[(i, j)] = pr.eigh.vectors()[(i, j)] * root;
            }
        }
        bartlett_factor(rng, n, pr.bartlett.as_mut());
        mul_into(
            pr.factor.as_mut(),
            Accum::Replace,
            pr.root.as_ref(),
            pr.bartlett.as_ref(),
            1.0,
        );
        mul_into(
            pr.moments.as_mut(),
            Accum::Replace,
            pr.factor.as_ref(),
            pr.factor.as_ref().transpose(),
            1.0 / n as f64,
        );
        s.f.copy_from(pr.gram.as_ref().submatrix(0, 0, p, p));
        s.c.copy_from(pr.gram.as_ref().submatrix(0, p, p, 1));
        s.f_n.copy_from(pr.moments.as_ref().submatrix(0, 0, p, p));
        s.c_n.copy_from(pr.moments.as_ref().submatrix(0, p, p, 1));
        self.parts_from_moments(w, n, s, Residual::Projected)
    }

    /// The risk parts from the population moments `F`, `c = WΣw⋆` and the sample moments
    /// `F_n`, `c_n` held in the scratch, with the two residual norms taken in `space`.
    fn parts_from_moments(
        &self,
        w: MatRef<'_, f64>,
        n: usize,
        s: &mut DownstreamScratch,
        space: Residual,
    ) -> Result<RiskParts> {
        s.eigh.pinv_psd(s.f.as_ref(), s.f_pinv.as_mut())?;
        s.eigh.pinv_psd(s.f_n.as_ref(), s.f_n_pinv.as_mut())?;
        mul_into(
            s.beta.as_mut(),
            Accum::Replace,
            s.f_pinv.as_ref(),
            s.c.as_ref(),
            1.0,
        );
        mul_into(
            s.beta_n.as_mut(),
            Accum::Replace,
            s.f_n_pinv.as_ref(),
            s.c_n.as_ref(),
            1.0,
        );

        let (rep, leak) = match space {
            Residual::Ambient => self.residual_norms(w, s),
            Residual::Projected => projected_residual_norms(s),
        };
        let var = self.sigma2 / n as f64 * trace_of_product(s.f.as_ref(), s.f_n_pinv.as_ref());
        Ok(RiskParts { rep, leak, var })
    }

    /// `Rep = ‖w⋆ − Wᵀβ‖²_Σ` and `Leakage = ‖Wᵀ(β_n − β)‖²_Σ` in the ambient space
    /// (`O(d²)`); leaves `β_n − β` in `s.beta_n`.
    fn residual_norms(&self, w: MatRef<'_, f64>, s: &mut DownstreamScratch) -> (f64, f64) {
        s.resid.copy_from(&self.w_star);
        mul_into(
            s.resid.as_mut(),
            Accum::Add,
            w.transpose(),
            s.beta.as_ref(),
            -1.0,
        );
        let rep = quad_form(s.resid.as_ref(), self.sigma.as_ref(), s.resid.as_ref());
        s.beta_n -= &s.beta;
        mul_into(
            s.resid.as_mut(),
            Accum::Replace,
            w.transpose(),
            s.beta_n.as_ref(),
            1.0,
        );
        let leak = quad_form(s.resid.as_ref(), self.sigma.as_ref(), s.resid.as_ref());
        (rep, leak)
    }

    /// Conditional risk `E[(y − θᵀWx)²]` of a fixed head `θ` on features `W x`.
    pub fn risk_of_head(&self, w: MatRef<'_, f64>, theta: MatRef<'_, f64>) -> f64 {
        let mut diff = self.w_star.clone();
        mul_into(diff.as_mut(), Accum::Add, w.transpose(), theta, -1.0);
        self.sigma2 + quad_form(diff.as_ref(), self.sigma.as_ref(), diff.as_ref())
    }
}

/// Where the two residual norms of the risk are taken.
#[derive(Clone, Copy)]
enum Residual {
    /// In `ℝ^d`, with `Σ`.
    Ambient,
    /// In the coordinates of `B = [Wᵀ w⋆]`, with `G = BᵀΣB`: both residuals lie in the
    /// span of `B` (`w⋆ − Wᵀβ = Bγ` with `γ = (−β, 1)`, `Wᵀ(β_n − β) = B(β_n − β, 0)`), so
    /// their `Σ`-norms are `γᵀGγ`, in `O(p²)`.
    Projected,
}

/// [`Residual::Projected`]'s norms from the Gram matrix of the last projected draw;
/// leaves `β_n − β` in `s.beta_n`.
fn projected_residual_norms(s: &mut DownstreamScratch) -> (f64, f64) {
    let p = s.beta.nrows();
    let pr = &mut s.projected;
    for i in 0..p {
        pr.coef[(i, 0)] = -s.beta[(i, 0)];
    }
    pr.coef[(p, 0)] = 1.0;
    let rep = quad_form(pr.coef.as_ref(), pr.gram.as_ref(), pr.coef.as_ref());
    s.beta_n -= &s.beta;
    for i in 0..p {
        pr.coef[(i, 0)] = s.beta_n[(i, 0)];
    }
    pr.coef[(p, 0)] = 0.0;
    let leak = quad_form(pr.coef.as_ref(), pr.gram.as_ref(), pr.coef.as_ref());
    (rep, leak)
}

/// The minimum-norm least-squares head `θ̂ = Ψ⁺ y` for a feature matrix `Ψ` (n×p) and
/// labels `y` (n×1), through the pseudo-inverse of the Gram matrix: `θ̂ = (ΨᵀΨ)⁺Ψᵀy`,
/// which equals `Ψ⁺y` for every `Ψ`.
pub fn min_norm_head(psi: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<Mat<f64>> {
    let gram = psi.transpose() * psi;
    let rhs = psi.transpose() * y;
    Ok(pinv_psd(gram.as_ref())? * rhs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{CovarianceDraw, Sampler, cholesky_lower};
    use crate::rng::trial_rng;
    use rand_distr::{Distribution, StandardNormal};

    fn task(d: usize) -> LinearTask {
        LinearTask {
            sigma: Mat::from_fn(d, d, |i, j| if i == j { 1.0 + i as f64 * 0.5 } else { 0.2 }),
            w_star: Mat::from_fn(d, 1, |i, _| 1.0 / (1.0 + i as f64)),
            sigma2: 0.7,
        }
    }

    /// Brute force: fix a design, resample the labels 20 000 times, fit the min-norm
    /// head each time and average its exact risk. The average must match
    /// σ² + Rep + Leak + Var within 5 Monte Carlo standard errors. The representation
    /// has 3 rows but rank 2, so the pseudo-inverse path is exercised.
    #[test]
    fn decomposition_matches_label_resampling() {
        let d = 4;
        let n = 12;
        let t = task(d);
        let w = Mat::from_fn(3, d, |i, j| match i {
            0 => 1.0 + j as f64,
            1 => (j as f64 - 1.5).powi(2),
            _ => 2.0 + 2.0 * j as f64,
        });
        let chol = cholesky_lower(t.sigma.as_ref(), "sigma").unwrap();
        let mut rng = trial_rng(11, 0, 0);
        let g = Mat::from_fn(n, d, |_, _| {
            Distribution::<f64>::sample(&StandardNormal, &mut rng)
        });
        let x = &g * chol.transpose();
        let sigma_n = x.transpose() * &x * faer::Scale(1.0 / n as f64);
        let parts = t
            .risk_parts(
                w.as_ref(),
                sigma_n.as_ref(),
                n,
                &mut DownstreamScratch::new(3, d),
            )
            .unwrap();

        let psi = &x * w.transpose();
        let f_x = &x * &t.w_star;
        let reps = 20_000;
        let (mut sum, mut sum2) = (0.0, 0.0);
        for _ in 0..reps {
            let y = Mat::from_fn(n, 1, |i, _| {
                f_x[(i, 0)]
                    + t.sigma2.sqrt() * Distribution::<f64>::sample(&StandardNormal, &mut rng)
            });
            let theta = min_norm_head(psi.as_ref(), y.as_ref()).unwrap();
            let r = t.risk_of_head(w.as_ref(), theta.as_ref());
            sum += r;
            sum2 += r * r;
        }
        let mean = sum / reps as f64;
        let se = ((sum2 / reps as f64 - mean * mean) / reps as f64).sqrt();
        let exact = t.sigma2 + parts.excess();
        assert!(
            (mean - exact).abs() < 5.0 * se,
            "resampled {mean} ± {se}, exact {exact}"
        );
        assert!(parts.var > 0.0 && parts.rep >= 0.0 && parts.leak >= 0.0);
    }

    /// The projected path's `Rep` (taken in the coordinates of `[Wᵀ w⋆]`) against the
    /// ambient formula, for a representation close to the target, where `Rep` is below 10⁻⁶ of
    /// `‖w⋆‖²_Σ` and cancellation would show; and its `Var` and `Leakage` means against the
    /// ambient path's over Wishart draws of `Σ_n` (the same law), within 5 standard errors.
    #[test]
    fn projected_parts_match_the_ambient_parts() {
        let d = 6;
        let t = task(d);
        let w = Mat::from_fn(2, d, |i, j| {
            if i == 0 {
                t.w_star[(j, 0)] + 1e-4 * (j as f64 - 2.0)
            } else {
                (j as f64 - 2.5).powi(2)
            }
        });
        let n = 15;
        let mut s = DownstreamScratch::new(2, d);
        let chol = cholesky_lower(t.sigma.as_ref(), "sigma").unwrap();
        let mut draw = CovarianceDraw::new(d);
        let mut s_n = Mat::zeros(d, d);
        let (mut amb, mut proj) = (Vec::new(), Vec::new());
        for trial in 0..4000 {
            let mut rng = trial_rng(5, 1, trial);
            draw.draw(&mut rng, Sampler::Wishart, n, chol.as_ref(), s_n.as_mut());
            let a = t.risk_parts(w.as_ref(), s_n.as_ref(), n, &mut s).unwrap();
            let b = t
                .risk_parts_projected(&mut rng, w.as_ref(), n, &mut s)
                .unwrap();
            assert!(
                (a.rep - b.rep).abs() <= 1e-6 * a.rep,
                "{} vs {}",
                a.rep,
                b.rep
            );
            amb.push((a.var, a.leak));
            proj.push((b.var, b.leak));
        }
        let rep = t
            .risk_parts(w.as_ref(), s_n.as_ref(), n, &mut s)
            .unwrap()
            .rep;
        assert!(rep < 1e-6 * quad_form(t.w_star.as_ref(), t.sigma.as_ref(), t.w_star.as_ref()));
        for part in 0..2 {
            let pick = |v: &[(f64, f64)]| -> Vec<f64> {
                v.iter()
                    .map(|x| if part == 0 { x.0 } else { x.1 })
                    .collect()
            };
            let (x, y) = (pick(&amb), pick(&proj));
            let (sx, sy) = (
                crate::stats::Summary::of(&x).unwrap(),
                crate::stats::Summary::of(&y).unwrap(),
            );
            let se = (sx.se.powi(2) + sy.se.powi(2)).sqrt();
            assert!(
                (sx.mean - sy.mean).abs() < 5.0 * se,
                "part {part}: {sx:?} vs {sy:?}"
            );
        }
    }

    /// With the full identity representation OLS is unbiased: Rep = Leak = 0 and
    /// Var = σ²/n tr(Σ Σ_n⁻¹).
    #[test]
    fn identity_representation_has_only_variance() {
        let d = 3;
        let t = task(d);
        let chol = cholesky_lower(t.sigma.as_ref(), "sigma").unwrap();
        let mut s_n = Mat::zeros(d, d);
        CovarianceDraw::new(d).draw(
            &mut trial_rng(1, 0, 0),
            Sampler::Wishart,
            40,
            chol.as_ref(),
            s_n.as_mut(),
        );
        let eye = Mat::<f64>::identity(d, d);
        let p = t
            .risk_parts(
                eye.as_ref(),
                s_n.as_ref(),
                40,
                &mut DownstreamScratch::new(d, d),
            )
            .unwrap();
        assert!(p.rep < 1e-24 && p.leak < 1e-24);
        let inv = crate::linalg::pinv_psd(s_n.as_ref()).unwrap();
        let expect = t.sigma2 / 40.0 * trace_of_product(t.sigma.as_ref(), inv.as_ref());
        assert!((p.var - expect).abs() < 1e-12 * expect);
    }
}
