//! Simulation against theory: summaries, mean comparisons, quantile tables, the
//! Kolmogorov–Smirnov distance and a verdict.

use serde::Serialize;

use crate::engine::{RunResult, RunSpec};
use crate::stats::{LEVELS, Summary};
use crate::theory::weighted_chisq::{ks_p_value, ks_statistic};
use crate::theory::{Prediction, Theory};

/// Summaries of one simulation.
#[derive(Clone, Debug, Serialize)]
pub struct Simulation {
    pub model: String,
    pub trials: u64,
    /// Trials that finished and enter the summaries.
    pub completed: usize,
    /// Trials that failed (non-convergence and the like), with the first few reasons.
    pub failed: usize,
    pub failure_examples: Vec<String>,
    pub m: usize,
    pub n: usize,
    pub seed: u64,
    pub scaled_excess: Summary,
    pub n_var: Summary,
    pub n_leak: Summary,
    pub n_rep: Summary,
    pub m_rep: Summary,
    /// Name of the model's extra per-trial quantity, if any.
    pub extra_name: Option<String>,
    /// Summary of the extra quantity over the trials that report it.
    pub extra: Option<Summary>,
}

impl Simulation {
    /// Summarises a run. Returns `None` when no trial finished.
    pub fn of(
        model: &str,
        extra_name: Option<&str>,
        spec: &RunSpec,
        run: &RunResult,
    ) -> Option<Simulation> {
        let col = |f: fn(&crate::models::TrialRecord) -> f64| Summary::of(&run.column(f));
        let extras: Vec<f64> = run.records.iter().filter_map(|(_, r)| r.extra).collect();
        Some(Simulation {
            model: model.to_string(),
            trials: spec.trials,
            completed: run.records.len(),
            failed: run.failures.len(),
            failure_examples: run
                .failures
                .iter()
                .take(3)
                .map(|(t, e)| format!("trial {t}: {e}"))
                .collect(),
            m: spec.m,
            n: spec.n,
            seed: spec.seed,
            scaled_excess: col(|r| r.scaled_excess)?,
            n_var: col(|r| r.n_var)?,
            n_leak: col(|r| r.n_leak)?,
            n_rep: col(|r| r.n_rep)?,
            m_rep: col(|r| r.m_rep)?,
            extra_name: extra_name.map(str::to_string),
            extra: Summary::of(&extras),
        })
    }
}

/// One simulated mean against its limit.
#[derive(Clone, Debug, Serialize)]
pub struct MeanComparison {
    pub quantity: String,
    pub simulated: f64,
    pub se: f64,
    pub limit: f64,
    /// `(simulated − limit)/se`, with `se` combining simulation and theory errors.
    pub z: f64,
    /// Whether this comparison enters the verdict.
    pub decisive: bool,
}

/// Simulated and predicted quantiles at one level.
#[derive(Clone, Debug, Serialize)]
pub struct QuantileRow {
    pub level: f64,
    pub m_rep_simulated: f64,
    pub m_rep_predicted: f64,
    pub scaled_excess_simulated: f64,
    pub scaled_excess_predicted: f64,
}

/// Largest |z| for a mean comparison to pass.
pub const Z_MAX: f64 = 3.0;
/// Smallest KS p-value for the distance to count as consistent with the sample size.
pub const KS_P_MIN: f64 = 1e-3;
/// Largest fraction of failed trials tolerated.
pub const FAILED_MAX: f64 = 0.05;

/// The full check of one model at one `(m, n)`.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub prediction: Prediction,
    pub simulation: Simulation,
    pub means: Vec<MeanComparison>,
    pub quantiles: Vec<QuantileRow>,
    /// KS distance between the empirical law of `m·Rep` and the law of `‖L(Z)‖²`.
    pub ks: f64,
    pub ks_p_value: f64,
    /// KS distance between the empirical law of `E_{m,n}` and `σ² d_eff + ‖L(Z)‖²/α`.
    pub ks_scaled_excess: f64,
    /// "pass" or "fail".
    pub verdict: String,
    /// Why the verdict is what it is, one line per criterion.
    pub reasons: Vec<String>,
}

/// Compares a simulation with the theory at the simulation's `(m, n)`.
///
/// Verdict: pass when the means of `m·Rep` and of `E_{m,n}` agree with their limits
/// within [`Z_MAX`] standard errors, the KS p-value of `m·Rep` is at least
/// [`KS_P_MIN`], and at most [`FAILED_MAX`] of the trials failed. The other parts
/// (`n·Var` against `σ² d_eff`, `n·Leak` against 0) are reported, not judged: their
/// finite-sample biases are of the same order as their tiny standard errors.
pub fn check(theory: &Theory, sim: Simulation, run: &RunResult) -> Check {
    let pred = theory.at(sim.m, sim.n);
    let theory_se = pred.interaction_mean_se;
    let compare = |quantity: &str, s: &Summary, limit: f64, limit_se: f64, decisive: bool| {
        let se = (s.se * s.se + limit_se * limit_se).sqrt();
        MeanComparison {
            quantity: quantity.to_string(),
            simulated: s.mean,
            se,
            limit,
            z: if se > 0.0 { (s.mean - limit) / se } else { 0.0 },
            decisive,
        }
    };
    let var_limit = pred.sigma2 * pred.d_eff as f64;
    let mut means = vec![
        compare("m_rep", &sim.m_rep, pred.interaction_mean, theory_se, true),
        compare(
            "scaled_excess",
            &sim.scaled_excess,
            pred.limit_mean,
            theory_se / pred.alpha,
            true,
        ),
        compare("n_var", &sim.n_var, var_limit, 0.0, false),
        compare("n_leak", &sim.n_leak, 0.0, 0.0, false),
        compare(
            "n_rep",
            &sim.n_rep,
            pred.interaction_mean / pred.alpha,
            theory_se / pred.alpha,
            false,
        ),
    ];
    if let (Some(name), Some(x), Some(limit)) = (&sim.extra_name, &sim.extra, &pred.extra_limit) {
        means.push(compare(name, x, limit.value, 0.0, false));
    }
    let quantiles = LEVELS
        .iter()
        .zip(sim.m_rep.quantiles())
        .zip(sim.scaled_excess.quantiles())
        .zip(pred.interaction_quantiles)
        .map(|(((&level, mq), sq), lq)| QuantileRow {
            level,
            m_rep_simulated: mq,
            m_rep_predicted: lq,
            scaled_excess_simulated: sq,
            scaled_excess_predicted: var_limit + lq / pred.alpha,
        })
        .collect();
    let m_rep = run.column(|r| r.m_rep);
    let ks = ks_statistic(&m_rep, |x| theory.law.cdf(x));
    let ks_p = ks_p_value(ks, m_rep.len());
    let ks_scaled = ks_statistic(&run.column(|r| r.scaled_excess), |x| {
        theory.limit_cdf(pred.alpha, x)
    });

    let mut reasons = Vec::new();
    let mut pass = true;
    for c in means.iter().filter(|c| c.decisive) {
        let ok = c.z.abs() <= Z_MAX;
        pass &= ok;
        reasons.push(format!(
            "{}: mean {:.5} vs limit {:.5}, z = {:+.2} ({} |z| ≤ {Z_MAX})",
            c.quantity,
            c.simulated,
            c.limit,
            c.z,
            if ok { "within" } else { "outside" }
        ));
    }
    let ks_ok = ks_p >= KS_P_MIN;
    pass &= ks_ok;
    reasons.push(format!(
        "KS(m_rep) = {ks:.4} with {} trials, p = {ks_p:.3} ({} p ≥ {KS_P_MIN})",
        m_rep.len(),
        if ks_ok {
            "consistent:"
        } else {
            "inconsistent:"
        }
    ));
    let failed_frac = sim.failed as f64 / sim.trials.max(1) as f64;
    if sim.failed > 0 {
        let ok = failed_frac <= FAILED_MAX;
        pass &= ok;
        reasons.push(format!(
            "{} of {} trials failed ({:.1}%, limit {:.0}%)",
            sim.failed,
            sim.trials,
            100.0 * failed_frac,
            100.0 * FAILED_MAX
        ));
    }
    Check {
        prediction: pred,
        simulation: sim,
        means,
        quantiles,
        ks,
        ks_p_value: ks_p,
        ks_scaled_excess: ks_scaled,
        verdict: if pass { "pass" } else { "fail" }.to_string(),
        reasons,
    }
}
