//! Simulation against theory for any [`DynModel`]: per-metric summaries, the generic
//! criteria built from the predicted means and laws, the model's own criteria, and a
//! verdict.
//!
//! The generic criteria are:
//! - for each decisive predicted mean, a z-test: `|z| ≤` [`Z_MAX`] with
//!   `z = (mean − predicted)/√(se²_sim + se²_theory)`;
//! - for each decisive predicted law, a Kolmogorov–Smirnov test of the metric's sample
//!   against the law, passing when its p-value is at least [`KS_P_MIN`];
//! - `runs_completed`: at least one trial completed and at most
//!   [`DynModel::max_failure_rate`] of them failed.
//!
//! Non-decisive means and laws are compared and reported, not judged.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::model::{Criterion, DynModel, Prediction};
use crate::runner::Trials;
use crate::stats::{LEVELS, Summary};
use crate::theory::weighted_chisq::{ks_p_value, ks_statistic};

/// Largest |z| for a mean comparison to pass.
pub const Z_MAX: f64 = 3.0;
/// Smallest KS p-value for the distance to count as consistent with the sample size.
pub const KS_P_MIN: f64 = 1e-3;

/// Summaries of one simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    pub model: String,
    /// Trials attempted.
    pub trials: u64,
    pub seed: u64,
    /// Trials that finished and enter the summaries.
    pub completed: usize,
    /// Trials that failed (non-convergence and the like), with the first few reasons.
    pub failed: usize,
    pub failure_examples: Vec<String>,
    /// Each metric's summary over its finite values, in schema order (a metric with no
    /// finite value is left out).
    pub metrics: Vec<(String, Summary)>,
    /// The model's labels ([`DynModel::labels`]).
    pub labels: Vec<(String, Value)>,
}

impl Simulation {
    /// Summarises trials of `model` run under master seed `seed`.
    pub fn of(model: &dyn DynModel, seed: u64, trials: &Trials) -> Simulation {
        let metrics = trials
            .metrics
            .iter()
            .filter_map(|name| {
                let v = finite_column(trials, name);
                Summary::of(&v).map(|s| (name.clone(), s))
            })
            .collect();
        Simulation {
            model: model.name().to_string(),
            trials: trials.attempted() as u64,
            seed,
            completed: trials.completed(),
            failed: trials.failures.len(),
            failure_examples: trials
                .failures
                .iter()
                .take(5)
                .map(|(t, e)| format!("trial {t}: {e}"))
                .collect(),
            metrics,
            labels: model
                .labels()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    /// The summary of `metric`.
    pub fn metric(&self, metric: &str) -> Option<&Summary> {
        self.metrics
            .iter()
            .find(|(k, _)| k == metric)
            .map(|(_, s)| s)
    }

    /// JSON: `model`, `trials`, `seed`, `completed`, `failed`, `failure_examples`, the
    /// labels, and one `{mean, se, q05, …, q95}` object per metric.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("model".into(), json!(self.model));
        m.insert("trials".into(), json!(self.trials));
        m.insert("seed".into(), json!(self.seed));
        m.insert("completed".into(), json!(self.completed));
        m.insert("failed".into(), json!(self.failed));
        m.insert("failure_examples".into(), json!(self.failure_examples));
        for (k, v) in &self.labels {
            m.insert(k.clone(), v.clone());
        }
        for (k, s) in &self.metrics {
            m.insert(k.clone(), json!(s));
        }
        Value::Object(m)
    }
}

/// The finite values of `metric` over the completed trials.
pub fn finite_column(trials: &Trials, metric: &str) -> Vec<f64> {
    trials
        .column(metric)
        .unwrap_or_default()
        .into_iter()
        .filter(|x| x.is_finite())
        .collect()
}

/// One simulated mean against its prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeanComparison {
    pub quantity: String,
    pub simulated: f64,
    /// Combined standard error of simulation and theory.
    pub se: f64,
    pub limit: f64,
    /// `(simulated − limit)/se` (0 when `se` is 0).
    pub z: f64,
    /// Whether this comparison enters the verdict.
    pub decisive: bool,
}

/// One metric's sample against its predicted law.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LawComparison {
    pub metric: String,
    /// Kolmogorov–Smirnov distance and its asymptotic p-value.
    pub ks: f64,
    pub p_value: f64,
    pub samples: usize,
    /// `(level, simulated quantile, predicted quantile)` at [`LEVELS`].
    pub quantiles: Vec<(f64, f64, f64)>,
    pub decisive: bool,
}

/// A check: prediction, simulation, comparisons, criteria and the verdict.
#[derive(Clone, Debug)]
pub struct Check {
    pub prediction: Prediction,
    pub simulation: Simulation,
    pub means: Vec<MeanComparison>,
    pub laws: Vec<LawComparison>,
    pub criteria: Vec<Criterion>,
    /// Every criterion passes.
    pub pass: bool,
}

impl Check {
    /// "pass" or "fail".
    pub fn verdict(&self) -> &'static str {
        if self.pass { "pass" } else { "fail" }
    }

    /// One line per criterion, saying what was compared and whether it held.
    pub fn reasons(&self) -> Vec<String> {
        let mut reasons: Vec<String> = self.criteria.iter().map(reason).collect();
        if !self.pass {
            reasons.extend(
                self.prediction
                    .warnings
                    .iter()
                    .map(|w| format!("outside the regime of the asymptotics: {w}")),
            );
        }
        reasons
    }

    /// JSON: `prediction`, `simulation`, `means`, `laws`, `quantiles` (one row per level
    /// with `<metric>_simulated` and `<metric>_predicted` for each law), `ks` and
    /// `ks_p_value` (of the first law), `ks_<metric>` for each law, `criteria`,
    /// `verdict` and `reasons`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("prediction".into(), prediction_json(&self.prediction));
        m.insert("simulation".into(), self.simulation.to_json());
        m.insert("means".into(), json!(self.means));
        m.insert("laws".into(), json!(self.laws));
        let rows: Vec<Value> = LEVELS
            .iter()
            .enumerate()
            .map(|(i, level)| {
                let mut row = Map::new();
                row.insert("level".into(), json!(level));
                for l in &self.laws {
                    let (_, sim, pred) = l.quantiles[i];
                    row.insert(format!("{}_simulated", l.metric), json!(sim));
                    row.insert(format!("{}_predicted", l.metric), json!(pred));
                }
                Value::Object(row)
            })
            .collect();
        m.insert("quantiles".into(), Value::Array(rows));
        if let Some(first) = self.laws.first() {
            m.insert("ks".into(), json!(first.ks));
            m.insert("ks_p_value".into(), json!(first.p_value));
        }
        for l in &self.laws {
            m.insert(format!("ks_{}", l.metric), json!(l.ks));
        }
        m.insert("criteria".into(), json!(self.criteria));
        m.insert("verdict".into(), json!(self.verdict()));
        m.insert("reasons".into(), json!(self.reasons()));
        Value::Object(m)
    }
}

/// JSON of a prediction: the model's `detail` record flattened, `model`, one key per
/// quantity not already in the record (and `<name>_se` where it has a standard error), `means`, `laws`,
/// `references` and `curves` (`{name: {t, y}}`).
pub fn prediction_json(p: &Prediction) -> Value {
    let mut m = match &p.detail {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    m.insert("model".into(), json!(p.model));
    for q in &p.quantities {
        m.entry(q.name.clone()).or_insert(json!(q.value));
        if let Some(se) = q.se {
            m.entry(format!("{}_se", q.name)).or_insert(json!(se));
        }
    }
    m.insert("means".into(), json!(p.means));
    m.insert("laws".into(), json!(p.laws));
    m.insert("references".into(), json!(p.references));
    m.insert("warnings".into(), json!(p.warnings));
    let curves: Map<String, Value> = p
        .curves
        .iter()
        .map(|c| (c.name.clone(), json!({"t": c.t, "y": c.y})))
        .collect();
    m.insert("curves".into(), Value::Object(curves));
    Value::Object(m)
}

/// Predicts, runs trials `0..trials` under master seed `seed` through the runner, and
/// checks them ([`assess`]).
pub fn check(
    model: &dyn DynModel,
    seed: u64,
    trials: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> crate::Result<Check> {
    let prediction = model.predict()?;
    let outcome = crate::runner::run(model, seed, 0..trials, progress);
    Ok(assess(model, prediction, seed, &outcome))
}

/// Checks `trials` (run under `seed`) against `prediction`: generic comparisons and
/// criteria, then the model's own, then `runs_completed`.
pub fn assess(model: &dyn DynModel, prediction: Prediction, seed: u64, trials: &Trials) -> Check {
    let simulation = Simulation::of(model, seed, trials);
    let means = compare_means(&prediction, &simulation);
    let laws = compare_laws(&prediction, &simulation, trials);
    let mut criteria: Vec<Criterion> = means
        .iter()
        .filter(|c| c.decisive)
        .map(|c| Criterion {
            name: format!("mean_{}", c.quantity),
            statement: format!(
                "the mean of {} is within {Z_MAX} standard errors of its prediction",
                c.quantity
            ),
            predicted: Some(c.limit),
            measured: c.simulated,
            se: Some(c.se),
            pass: c.z.abs() <= Z_MAX,
        })
        .collect();
    criteria.extend(laws.iter().filter(|l| l.decisive).map(|l| Criterion {
        name: format!("ks_{}", l.metric),
        statement: format!(
            "the KS distance of {} from its limit law ({:.4} over {} trials) has p-value ≥ {KS_P_MIN}",
            l.metric, l.ks, l.samples
        ),
        predicted: None,
        measured: l.p_value,
        se: None,
        pass: l.p_value >= KS_P_MIN,
    }));
    criteria.extend(model.criteria(&prediction, trials));
    criteria.push(runs_completed(model.max_failure_rate(), &simulation));
    for c in &mut criteria {
        let finite = c.measured.is_finite()
            && c.predicted.is_none_or(f64::is_finite)
            && c.se.is_none_or(f64::is_finite);
        if !finite {
            c.pass = false;
            c.statement
                .push_str(" (fails: a compared number is not finite)");
        }
    }
    let pass = criteria.iter().all(|c| c.pass);
    Check {
        prediction,
        simulation,
        means,
        laws,
        criteria,
        pass,
    }
}

fn compare_means(prediction: &Prediction, sim: &Simulation) -> Vec<MeanComparison> {
    prediction
        .means
        .iter()
        .filter_map(|p| {
            let s = sim.metric(&p.metric)?;
            let se = (s.se * s.se + p.se * p.se).sqrt();
            Some(MeanComparison {
                quantity: p.metric.clone(),
                simulated: s.mean,
                se,
                limit: p.value,
                z: if se > 0.0 {
                    (s.mean - p.value) / se
                } else {
                    0.0
                },
                decisive: p.decisive,
            })
        })
        .collect()
}

fn compare_laws(prediction: &Prediction, sim: &Simulation, trials: &Trials) -> Vec<LawComparison> {
    prediction
        .laws
        .iter()
        .filter_map(|l| {
            let s = sim.metric(&l.metric)?;
            let sample = finite_column(trials, &l.metric);
            let ks = ks_statistic(&sample, |x| l.law.cdf(x));
            Some(LawComparison {
                metric: l.metric.clone(),
                ks,
                p_value: ks_p_value(ks, sample.len()),
                samples: sample.len(),
                quantiles: LEVELS
                    .iter()
                    .zip(s.quantiles())
                    .map(|(&p, q)| (p, q, l.law.quantile(p)))
                    .collect(),
                decisive: l.decisive,
            })
        })
        .collect()
}

fn runs_completed(max_rate: f64, sim: &Simulation) -> Criterion {
    let rate = sim.failed as f64 / sim.trials.max(1) as f64;
    Criterion {
        name: "runs_completed".into(),
        statement: if max_rate > 0.0 {
            format!(
                "at most {:.0}% of the trials fail ({} of {} failed)",
                100.0 * max_rate,
                sim.failed,
                sim.trials
            )
        } else {
            format!(
                "every trial completes, no diverged integration or optimiser ({} of {} failed)",
                sim.failed, sim.trials
            )
        },
        predicted: Some(sim.trials as f64),
        measured: sim.completed as f64,
        se: None,
        pass: sim.completed > 0 && rate <= max_rate,
    }
}

fn reason(c: &Criterion) -> String {
    let verdict = if c.pass { "holds" } else { "FAILS" };
    match (c.predicted, c.se) {
        (Some(p), Some(se)) if se > 0.0 => format!(
            "{}: {verdict}: {} (measured {:.5} vs predicted {:.5}, z = {:+.2})",
            c.name,
            c.statement,
            c.measured,
            p,
            (c.measured - p) / se
        ),
        (Some(p), _) => format!(
            "{}: {verdict}: {} (measured {:.5} vs predicted {:.5})",
            c.name, c.statement, c.measured, p
        ),
        (None, _) => format!(
            "{}: {verdict}: {} (measured {:.5})",
            c.name, c.statement, c.measured
        ),
    }
}
