//! Limit theory of the mixture model by Monte Carlo (arXiv 2603.27631, §5.1, App. G.2
//! and App. K; spec §2.4).
//!
//! The symmetry group `S_K` is finite, so the chart is the ambient `U ∈ ℝ^{K×d}`
//! (coordinates ordered `(u_1, …, u_K)`), and for the MLE `H⋆ = Σ⋆ = Fisher`, so
//! `V = Fisher⁻¹` (eq. (4.2)). The score is `∇_{uᵢ}ℓ = −π^fullᵢ(x)(x − uᵢ)` with
//! full-dimensional responsibilities `π^full = softmax(−½‖x − uᵢ‖²)` (Lemma J.4).
//!
//! **Sensitivity.** `g(x; U) = ψ_U(x)ᵀβ(U)` with `β(U) = Σ(U)⁺E[ψ_U f⋆]` is the
//! population projection `Π_U f⋆`, and `L(v)(x) = −s(x)ᵀv` with
//! `s(x) = ∇_U g(x; U)|_{U⋆}` (eq. (5.1), regular case). By the product rule
//!
//! ```text
//! s(x)ᵀv = Dψ[v](x)ᵀβ + ψ(x)ᵀDβ[v],
//! Dβ[v]  = Σ⁺(Dc[v] − DΣ[v]β) = Σ⁺(E[Dψ[v] e⋆] − E[ψ · Dψ[v]ᵀβ])
//! ```
//!
//! with `e⋆ = f⋆ − ψ_{U⋆}ᵀβ ≡ 0` (well-specified), so `Dβ[v] = −Σ⁺E[ψ J_v]` where
//! `J(x) = ∇_U (ψ_U(x)ᵀβ)` with `β` frozen. (`Σ⁺`'s extra constant-rank terms of
//! Lemma G.13 fall in `ker Σ`, which `ψ` never sees.) Hence `s = J − Bᵀψ`,
//! `B = Σ⁺E[ψJᵀ]`: `J` minus its `L²` projection on the feature span.
//!
//! `J` is computed analytically. With `P = P_{U⋆}`, `δᵢ = x − uᵢ`, `tᵢ` the slope
//! blocks of `β` in `d`-coordinates (in the range of `P`), logits
//! `aᵢ = uᵢᵀP(x − ½uᵢ)`, `τᵢ = tᵢᵀPδᵢ + bᵢ`, `g = Σπᵢτᵢ`, `ωᵢ = πᵢ(τᵢ − g)`:
//!
//! ```text
//! direct:   ∂g/∂uᵢ = ωᵢ Pδᵢ − πᵢ tᵢ
//! via P_U:  ⟨∂g/∂P, Ṗ⟩ with ∂g/∂P = Σₖ ωₖ uₖ(x − ½uₖ)ᵀ + πₖ tₖδₖᵀ =: G_P,
//!           Ṗ = (I−P)ṠS⁺ + S⁺Ṡ(I−P)   (constant-rank range projector; spec (H.33)),
//!           Ṡ = Σⱼ (vⱼ − v̄)cⱼᵀ + cⱼ(vⱼ − v̄)ᵀ, cⱼ = uⱼ − ū
//!           ⇒ ∂g/∂uⱼ = (I−P)(G_P + G_Pᵀ) S⁺cⱼ.
//! ```
//!
//! Three Monte Carlo stages from the mixture at `U⋆` (App. K), each split into
//! [`BLOCKS`] blocks with their own fixed streams (so results do not depend on the
//! thread count): Fisher (`fisher_samples`), projection (`proj_samples`: `Σ`, `β`,
//! `B`) and evaluation (`eval_samples`: `G = E[ssᵀ]`). Then `E‖L(Z)‖² = tr(VG)` and
//! the weights of the χ² law are the eigenvalues of `V^{1/2}GV^{1/2}`.
//!
//! **Error bars.** Evaluation stage: batch means of `tr(V G_b)` over blocks. Fisher
//! stage: delta method, `δ tr(F⁻¹G) = −tr(VGV δF)`, batch means of `tr(VGV F_b)`.
//! The two are independent and added in quadrature. The projection stage enters only
//! at second order (`E[sψᵀ] = 0`): a relative upward bias of about
//! `d_eff/proj_samples`, 1.6·10⁻⁵ at `K = 4` and the paper's sizes, not included.

// Index loops mirror the formulas; `!(x > 0)` comparisons deliberately reject NaN.
#![allow(
    clippy::needless_range_loop,
    clippy::neg_cmp_op_on_partial_ord,
    clippy::type_complexity
)]

use faer::{Accum, Mat, MatRef};
use rand::rngs::ChaCha8Rng;
use rayon::prelude::*;

use super::GmmModel;
use crate::linalg::{clean_simd_state, mul_into, pinv_psd, sym_eigen_desc};
use crate::rng::{experiment_key, trial_rng};
use crate::theory::{DesignMoments, Reference, TangentProblem, Theory, WeightedChiSquare};
use crate::{Error, Result};

/// Independent Monte Carlo blocks per stage.
pub const BLOCKS: usize = 32;
/// Samples processed per matrix product.
pub(super) const CHUNK: usize = 1024;

/// What the theory Monte Carlo produces.
#[derive(Clone, Debug)]
pub struct Interaction {
    /// `E‖L(Z)‖² = tr(V G)`.
    pub mean: f64,
    /// Total Monte Carlo standard error of `mean`.
    pub se: f64,
    pub se_eval: f64,
    pub se_fisher: f64,
    /// Weights of the χ² law (descending).
    pub weights: Vec<f64>,
    /// Fisher information (Kd×Kd).
    pub fisher: Mat<f64>,
    /// `G = E[s sᵀ]` (Kd×Kd).
    pub gram: Mat<f64>,
    /// `max |β̂(U⋆) − θ⋆|` of the projection stage (zero up to round-off when well specified).
    pub beta_error: f64,
    /// Numerical rank of `G`.
    pub gram_rank: usize,
    /// `κ = E[q²]` with `q = ψᵀΣ⁻¹ψ`, and its standard error (evaluation stage).
    pub kurtosis: (f64, f64),
    /// `λ = E[q·sᵀVs]`, and its standard error (evaluation stage).
    pub leak_weight: (f64, f64),
}

/// Everything at `U⋆` needed to evaluate `ψ`, `f⋆` and `J` at one point.
#[derive(Clone, Debug)]
pub struct Sensitivity {
    k: usize,
    d: usize,
    r: usize,
    u: Mat<f64>,
    q: Mat<f64>,
    qu: Mat<f64>,
    half: Vec<f64>,
    theta_r: Mat<f64>,
    b: Vec<f64>,
    /// Slopes of β in `d`-coordinates, `tᵢ = Qθ_rᵢ` (d×K).
    t: Mat<f64>,
    /// `P uᵢ` and `(I − P)uᵢ` (d×K).
    pu: Mat<f64>,
    nu: Mat<f64>,
    /// `Qᵀeⱼ` with `eⱼ = S⁺cⱼ` (r×K).
    qe: Mat<f64>,
    /// `C_kj = uₖ·eⱼ`, `T_kj = tₖ·eⱼ`.
    cm: Mat<f64>,
    tm: Mat<f64>,
}

/// Per-thread buffers for [`Sensitivity::eval`].
#[derive(Clone, Debug)]
pub struct SensScratch {
    z: Vec<f64>,
    px: Vec<f64>,
    nx: Vec<f64>,
    pub pi: Vec<f64>,
    tau: Vec<f64>,
    omega: Vec<f64>,
    xe: Vec<f64>,
}

impl Sensitivity {
    pub fn new(model: &GmmModel) -> Result<Sensitivity> {
        let (k, d, r) = (model.k, model.d, model.r);
        let u = model.u_star.clone();
        let q = model.truth.q.clone();
        let qu = model.truth.qu.clone();
        let theta_r = Mat::from_fn(r, k, |c, i| model.theta_feat[i * (r + 1) + c]);
        let b: Vec<f64> = (0..k).map(|i| model.theta_feat[i * (r + 1) + r]).collect();
        let t = &q * &theta_r;
        let pu = &q * &qu;
        let nu = &u - &pu;
        let s_pinv = pinv_psd(super::scatter(u.as_ref()).as_ref())?;
        let mean: Vec<f64> = (0..d)
            .map(|row| (0..k).map(|i| u[(row, i)]).sum::<f64>() / k as f64)
            .collect();
        let c = Mat::from_fn(d, k, |row, i| u[(row, i)] - mean[row]);
        let e = &s_pinv * &c;
        let qe = q.transpose() * &e;
        let cm = u.transpose() * &e;
        let tm = t.transpose() * &e;
        Ok(Sensitivity {
            k,
            d,
            r,
            u,
            q,
            qu,
            half: model.truth.half.clone(),
            theta_r,
            b,
            t,
            pu,
            nu,
            qe,
            cm,
            tm,
        })
    }

    pub fn scratch(&self) -> SensScratch {
        SensScratch {
            z: vec![0.0; self.r],
            px: vec![0.0; self.d],
            nx: vec![0.0; self.d],
            pi: vec![0.0; self.k],
            tau: vec![0.0; self.k],
            omega: vec![0.0; self.k],
            xe: vec![0.0; self.k],
        }
    }

    /// At one point `x`: `ψ_{U⋆}(x)` into `psi` (K(r+1)), the frozen-β gradient
    /// `J(x) = ∇_U(ψ_U(x)ᵀβ)|_{U⋆}` into `jac` (Kd, block `i` = `∂/∂uᵢ`); returns
    /// `f⋆(x) = ψᵀβ`.
    pub fn eval(&self, x: &[f64], s: &mut SensScratch, psi: &mut [f64], jac: &mut [f64]) -> f64 {
        let (k, d, r) = (self.k, self.d, self.r);
        for c in 0..r {
            s.z[c] = (0..d).map(|row| self.q[(row, c)] * x[row]).sum();
        }
        for row in 0..d {
            let v: f64 = (0..r).map(|c| self.q[(row, c)] * s.z[c]).sum();
            s.px[row] = v;
            s.nx[row] = x[row] - v;
        }
        // projected responsibilities
        let mut max = f64::NEG_INFINITY;
        for i in 0..k {
            let a = (0..r).map(|c| self.qu[(c, i)] * s.z[c]).sum::<f64>() - self.half[i];
            s.pi[i] = a;
            max = max.max(a);
        }
        let mut sum = 0.0;
        for i in 0..k {
            s.pi[i] = (s.pi[i] - max).exp();
            sum += s.pi[i];
        }
        let mut g = 0.0;
        for i in 0..k {
            s.pi[i] /= sum;
            let mut tau = self.b[i];
            for c in 0..r {
                let dz = s.z[c] - self.qu[(c, i)];
                tau += self.theta_r[(c, i)] * dz;
                psi[i * (r + 1) + c] = s.pi[i] * dz;
            }
            psi[i * (r + 1) + r] = s.pi[i];
            s.tau[i] = tau;
            g += s.pi[i] * tau;
        }
        for i in 0..k {
            s.omega[i] = s.pi[i] * (s.tau[i] - g);
            s.xe[i] = (0..r).map(|c| s.z[c] * self.qe[(c, i)]).sum();
        }
        for j in 0..k {
            let (om, pj) = (s.omega[j], s.pi[j]);
            let mut gamma = 0.0;
            for kk in 0..k {
                gamma += s.omega[kk] * self.cm[(kk, j)] + s.pi[kk] * self.tm[(kk, j)];
            }
            let out = &mut jac[j * d..(j + 1) * d];
            for row in 0..d {
                out[row] = om * (s.px[row] - self.pu[(row, j)]) - pj * self.t[(row, j)]
                    + gamma * s.nx[row];
            }
            for kk in 0..k {
                let kappa =
                    s.omega[kk] * (s.xe[j] - self.cm[(kk, j)]) - s.pi[kk] * self.tm[(kk, j)];
                if kappa != 0.0 {
                    for row in 0..d {
                        out[row] += kappa * self.nu[(row, kk)];
                    }
                }
            }
        }
        g
    }

    /// Score `π^fullᵢ(x)(x − uᵢ)` at `U⋆` into `score` (Kd); `pi` is scratch (K).
    pub fn score(&self, x: &[f64], pi: &mut [f64], score: &mut [f64]) {
        let (k, d) = (self.k, self.d);
        let mut max = f64::NEG_INFINITY;
        for i in 0..k {
            let a: f64 = (0..d)
                .map(|row| self.u[(row, i)] * (x[row] - 0.5 * self.u[(row, i)]))
                .sum();
            pi[i] = a;
            max = max.max(a);
        }
        let mut sum = 0.0;
        for p in pi.iter_mut() {
            *p = (*p - max).exp();
            sum += *p;
        }
        for i in 0..k {
            let w = pi[i] / sum;
            for row in 0..d {
                score[i * d + row] = w * (x[row] - self.u[(row, i)]);
            }
        }
    }
}

/// Runs `f(rng, count)` on [`BLOCKS`] blocks of `total` samples, block `b` on stream
/// `(seed, stage, b)`, in parallel, results in block order.
fn blocks<T: Send>(
    total: usize,
    seed: u64,
    stage: &str,
    f: impl Fn(&mut ChaCha8Rng, usize) -> T + Sync,
) -> Vec<T> {
    let key = experiment_key(stage);
    (0..BLOCKS)
        .into_par_iter()
        .map(|b| {
            let count = total / BLOCKS + usize::from(b < total % BLOCKS);
            let mut rng = trial_rng(seed, key, b as u64);
            f(&mut rng, count)
        })
        .collect()
}

/// Calls `visit(x_chunk)` (d×b) over `count` mixture draws, `CHUNK` at a time.
fn for_chunks(
    model: &GmmModel,
    rng: &mut ChaCha8Rng,
    count: usize,
    mut visit: impl FnMut(MatRef<'_, f64>),
) {
    let mut x = Mat::<f64>::zeros(model.d, CHUNK);
    let mut done = 0;
    while done < count {
        let b = CHUNK.min(count - done);
        GmmModel::sample_mixture(model.u_star.as_ref(), rng, x.as_mut().subcols_mut(0, b));
        visit(x.as_ref().subcols(0, b));
        done += b;
    }
}

fn sum_mats(list: &[Mat<f64>]) -> Mat<f64> {
    let mut acc = list[0].clone();
    for m in &list[1..] {
        acc += m;
    }
    acc
}

fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

fn frob(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    let mut t = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            t += a[(i, j)] * b[(i, j)];
        }
    }
    t
}

/// Fisher information `E[score scoreᵀ]` by blocks: per-block sums and counts.
fn fisher_blocks(
    model: &GmmModel,
    sens: &Sensitivity,
    n: usize,
    seed: u64,
) -> Vec<(Mat<f64>, usize)> {
    let kd = model.k * model.d;
    blocks(n, seed, "gmm/fisher", |rng, count| {
        let mut acc = Mat::<f64>::zeros(kd, kd);
        let mut sc = Mat::<f64>::zeros(kd, CHUNK);
        let mut pi = vec![0.0; model.k];
        let mut col = vec![0.0; kd];
        let mut xcol = vec![0.0; model.d];
        for_chunks(model, rng, count, |x| {
            let b = x.ncols();
            clean_simd_state();
            for j in 0..b {
                for row in 0..model.d {
                    xcol[row] = x[(row, j)];
                }
                sens.score(&xcol, &mut pi, &mut col);
                for (i, v) in col.iter().enumerate() {
                    sc[(i, j)] = *v;
                }
            }
            let s = sc.as_ref().subcols(0, b);
            mul_into(acc.as_mut(), Accum::Add, s, s.transpose(), 1.0);
        });
        (acc, count)
    })
}

/// Fills `psi` (p×b), `jac` (Kd×b) and `f` (1×b) for the points in `x` (d×b).
fn fill(
    sens: &Sensitivity,
    x: MatRef<'_, f64>,
    psi: &mut Mat<f64>,
    jac: &mut Mat<f64>,
    f: &mut Mat<f64>,
    s: &mut SensScratch,
) {
    let (d, k, r) = (sens.d, sens.k, sens.r);
    let p = k * (r + 1);
    let mut xcol = vec![0.0; d];
    let mut pcol = vec![0.0; p];
    let mut jcol = vec![0.0; k * d];
    clean_simd_state();
    for j in 0..x.ncols() {
        for row in 0..d {
            xcol[row] = x[(row, j)];
        }
        f[(0, j)] = sens.eval(&xcol, s, &mut pcol, &mut jcol);
        for (i, v) in pcol.iter().enumerate() {
            psi[(i, j)] = *v;
        }
        for (i, v) in jcol.iter().enumerate() {
            jac[(i, j)] = *v;
        }
    }
}

/// Projection stage: per-block `(Σψψᵀ, Σψf⋆, ΣψJᵀ, count)`.
fn projection_blocks(
    model: &GmmModel,
    sens: &Sensitivity,
    n: usize,
    seed: u64,
) -> Vec<(Mat<f64>, Mat<f64>, Mat<f64>, usize)> {
    let (kd, p) = (model.k * model.d, model.d_eff());
    blocks(n, seed, "gmm/projection", |rng, count| {
        let mut sig = Mat::<f64>::zeros(p, p);
        let mut c = Mat::<f64>::zeros(p, 1);
        let mut m = Mat::<f64>::zeros(p, kd);
        let mut psi = Mat::<f64>::zeros(p, CHUNK);
        let mut jac = Mat::<f64>::zeros(kd, CHUNK);
        let mut f = Mat::<f64>::zeros(1, CHUNK);
        let mut s = sens.scratch();
        for_chunks(model, rng, count, |x| {
            let b = x.ncols();
            fill(sens, x, &mut psi, &mut jac, &mut f, &mut s);
            let ps = psi.as_ref().subcols(0, b);
            mul_into(sig.as_mut(), Accum::Add, ps, ps.transpose(), 1.0);
            mul_into(
                c.as_mut(),
                Accum::Add,
                ps,
                f.as_ref().subcols(0, b).transpose(),
                1.0,
            );
            mul_into(
                m.as_mut(),
                Accum::Add,
                ps,
                jac.as_ref().subcols(0, b).transpose(),
                1.0,
            );
        });
        (sig, c, m, count)
    })
}

/// One block of the evaluation stage: `Σ s sᵀ`, the sums of `q²` and `q·sᵀVs` (with
/// `q = ψᵀΣ⁻¹ψ`, for the finite-`n` moments of [`crate::theory::DesignMoments`]) and the
/// count.
struct EvalBlock {
    gram: Mat<f64>,
    q2: f64,
    q_density: f64,
    count: usize,
}

/// Evaluation stage: per-block [`EvalBlock`]s with `s = J − Bᵀψ`.
fn evaluation_blocks(
    model: &GmmModel,
    sens: &Sensitivity,
    stage: &Stage,
    n: usize,
    seed: u64,
) -> Vec<EvalBlock> {
    let (kd, p) = (model.k * model.d, model.d_eff());
    blocks(n, seed, "gmm/evaluation", |rng, count| {
        let mut g = Mat::<f64>::zeros(kd, kd);
        let mut psi = Mat::<f64>::zeros(p, CHUNK);
        let mut jac = Mat::<f64>::zeros(kd, CHUNK);
        let mut f = Mat::<f64>::zeros(1, CHUNK);
        let mut white = Mat::<f64>::zeros(p, CHUNK);
        let mut vs = Mat::<f64>::zeros(kd, CHUNK);
        let mut s = sens.scratch();
        let (mut q2, mut q_density) = (0.0, 0.0);
        for_chunks(model, rng, count, |x| {
            let b = x.ncols();
            fill(sens, x, &mut psi, &mut jac, &mut f, &mut s);
            let mut js = jac.as_mut().subcols_mut(0, b);
            mul_into(
                js.as_mut(),
                Accum::Add,
                stage.b_mat.transpose(),
                psi.as_ref().subcols(0, b),
                -1.0,
            );
            let js = jac.as_ref().subcols(0, b);
            mul_into(g.as_mut(), Accum::Add, js, js.transpose(), 1.0);
            let ps = psi.as_ref().subcols(0, b);
            mul_into(
                white.as_mut().subcols_mut(0, b),
                Accum::Replace,
                stage.sigma_inv.as_ref(),
                ps,
                1.0,
            );
            mul_into(
                vs.as_mut().subcols_mut(0, b),
                Accum::Replace,
                stage.v.as_ref(),
                js,
                1.0,
            );
            clean_simd_state();
            for j in 0..b {
                let q: f64 = (0..p).map(|i| ps[(i, j)] * white[(i, j)]).sum();
                let density: f64 = (0..kd).map(|i| js[(i, j)] * vs[(i, j)]).sum();
                q2 += q * q;
                q_density += q * density;
            }
        });
        EvalBlock {
            gram: g,
            q2,
            q_density,
            count,
        }
    })
}

/// What the evaluation stage needs from the earlier ones: `B`, `Σ⁺` and `V`.
struct Stage {
    b_mat: Mat<f64>,
    sigma_inv: Mat<f64>,
    v: Mat<f64>,
}

/// `B = Σ⁻¹E[ψJᵀ]`, `β̂ = Σ⁻¹E[ψf⋆]` and `Σ⁻¹` from projection blocks.
pub fn projection(
    model: &GmmModel,
    sens: &Sensitivity,
    n: usize,
    seed: u64,
) -> Result<(Mat<f64>, Vec<f64>, Mat<f64>)> {
    let parts = projection_blocks(model, sens, n, seed);
    let total: usize = parts.iter().map(|p| p.3).sum();
    let scale = faer::Scale(1.0 / total as f64);
    let sig = sum_mats(&parts.iter().map(|p| p.0.clone()).collect::<Vec<_>>()) * scale;
    let c = sum_mats(&parts.iter().map(|p| p.1.clone()).collect::<Vec<_>>()) * scale;
    let m = sum_mats(&parts.iter().map(|p| p.2.clone()).collect::<Vec<_>>()) * scale;
    let inv = pinv_psd(sig.as_ref())?;
    let beta = &inv * &c;
    let b_mat = &inv * &m;
    Ok((
        b_mat,
        (0..beta.nrows()).map(|i| beta[(i, 0)]).collect(),
        inv,
    ))
}

/// The three Monte Carlo stages and `E‖L(Z)‖²` with its error bar.
pub fn interaction(model: &GmmModel) -> Result<Interaction> {
    let prm = &model.params;
    let sens = Sensitivity::new(model)?;
    let kd = model.k * model.d;
    let seed = prm.theory_seed;

    let fb = fisher_blocks(model, &sens, prm.fisher_samples, seed);
    let nf: usize = fb.iter().map(|b| b.1).sum();
    let fisher = sum_mats(&fb.iter().map(|b| b.0.clone()).collect::<Vec<_>>())
        * faer::Scale(1.0 / nf as f64);
    let fisher = Mat::from_fn(kd, kd, |i, j| 0.5 * (fisher[(i, j)] + fisher[(j, i)]));
    let mut problem = TangentProblem {
        hessian: fisher.clone(),
        score_cov: fisher.clone(),
        residual_gram: Mat::zeros(kd, kd),
    };
    let v = problem.tangent_covariance()?;

    let (b_mat, beta_hat, sigma_inv) = projection(model, &sens, prm.proj_samples, seed)?;
    let beta_error = beta_hat
        .iter()
        .zip(&model.theta_feat)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let theta_max = model.theta_feat.iter().map(|v| v.abs()).fold(0.0, f64::max);
    if !(beta_error <= 1e-6 * theta_max) {
        return Err(Error::Numerical(format!(
            "β(U⋆) from the projection Monte Carlo differs from θ⋆ by {beta_error:.3e}: \
             the feature covariance is numerically singular"
        )));
    }

    let stage = Stage {
        b_mat,
        sigma_inv,
        v,
    };
    let eb = evaluation_blocks(model, &sens, &stage, prm.eval_samples, seed);
    let v = stage.v;
    let ne: usize = eb.iter().map(|b| b.count).sum();
    let gram = sum_mats(&eb.iter().map(|b| b.gram.clone()).collect::<Vec<_>>())
        * faer::Scale(1.0 / ne as f64);
    let gram = Mat::from_fn(kd, kd, |i, j| 0.5 * (gram[(i, j)] + gram[(j, i)]));
    problem.residual_gram = gram.clone();
    let weights = problem.interaction_weights()?;
    let mean = frob(v.as_ref(), gram.as_ref());

    let per_block: Vec<f64> = eb
        .iter()
        .map(|b| frob(v.as_ref(), b.gram.as_ref()) / b.count as f64)
        .collect();
    let (_, sd_eval) = mean_sd(&per_block);
    let se_eval = sd_eval / (BLOCKS as f64).sqrt();
    let vgv = &v * &gram * &v;
    let per_block_f: Vec<f64> = fb
        .iter()
        .map(|(f, n)| frob(vgv.as_ref(), f.as_ref()) / *n as f64)
        .collect();
    let (_, sd_f) = mean_sd(&per_block_f);
    let se_fisher = sd_f / (BLOCKS as f64).sqrt();
    let kurtosis = batch_mean(&eb, |b| b.q2);
    let leak_weight = batch_mean(&eb, |b| b.q_density);

    let (g_eig, _) = sym_eigen_desc(gram.as_ref())?;
    let gram_rank = g_eig
        .iter()
        .filter(|&&l| l > 1e-9 * g_eig[0].max(0.0))
        .count();
    Ok(Interaction {
        mean,
        se: (se_eval * se_eval + se_fisher * se_fisher).sqrt(),
        se_eval,
        se_fisher,
        weights,
        fisher,
        gram,
        beta_error,
        gram_rank,
        kurtosis,
        leak_weight,
    })
}

/// The count-weighted mean of a per-block sum over the evaluation blocks, and its
/// batch-means standard error.
fn batch_mean(blocks: &[EvalBlock], sum: impl Fn(&EvalBlock) -> f64) -> (f64, f64) {
    let total: usize = blocks.iter().map(|b| b.count).sum();
    let mean = blocks.iter().map(&sum).sum::<f64>() / total as f64;
    let per_block: Vec<f64> = blocks.iter().map(|b| sum(b) / b.count as f64).collect();
    let (_, sd) = mean_sd(&per_block);
    (mean, sd / (BLOCKS as f64).sqrt())
}

/// The [`Theory`] of the mixture model.
pub fn theory(model: &GmmModel) -> Result<Theory> {
    let it = interaction(model)?;
    let law = WeightedChiSquare::new(&it.weights).map_err(Error::Numerical)?;
    let norm2 = model.params.theta_norm.powi(2);
    let prm = &model.params;
    Ok(Theory {
        model: "gmm".into(),
        d_eff: model.d_eff(),
        d_base: model.d_eff() + it.gram_rank,
        sigma2: prm.noise_var,
        law,
        design: DesignMoments::Estimated {
            kurtosis: it.kurtosis.0,
            kurtosis_se: it.kurtosis.1,
            leak_weight: it.leak_weight.0,
            leak_weight_se: it.leak_weight.1,
        },
        interaction_mean_se: it.se,
        paper_interaction_mean: None,
        extra_limit: None,
        references: vec![
            Reference {
                label: "E‖L(Z)‖² / ‖θ⋆‖² (free of the θ⋆ normalisation)".into(),
                value: it.mean / norm2,
            },
            Reference {
                label: format!(
                    "Monte Carlo s.e., evaluation stage ({} draws)",
                    prm.eval_samples
                ),
                value: it.se_eval,
            },
            Reference {
                label: format!(
                    "Monte Carlo s.e., Fisher stage ({} draws)",
                    prm.fisher_samples
                ),
                value: it.se_fisher,
            },
            Reference {
                label: format!(
                    "max |β̂(U⋆) − θ⋆| from the projection stage ({} draws)",
                    prm.proj_samples
                ),
                value: it.beta_error,
            },
        ],
    })
}
