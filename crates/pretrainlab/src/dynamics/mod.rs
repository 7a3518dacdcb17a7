//! Training-dynamics models: a trajectory (gradient descent, gradient flow or an ODE) is
//! simulated over independent seeds, the theory predicts its curve or end state, and a
//! check turns the paper's predictions into criteria with a verdict.
//!
//! Each model lives in its own module behind [`Dynamics`]; [`Trajectory`] makes it a
//! [`Model`], so front ends reach it through the registry like every other model.

pub mod diagonal;
pub mod factorization;
pub mod ssl;

use rand::rngs::ChaCha8Rng;
use serde::Serialize;

use crate::Result;
pub use crate::model::{Criterion, Curve};
use crate::model::{MetricSpec, Model, Prediction, Quantity, TraceSpec};
use crate::params::ModelInfo;
use crate::runner::Trials;

/// What one simulated trajectory reports: named scalar end-state metrics and its curves.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunOutcome {
    pub metrics: Vec<(String, f64)>,
    pub curves: Vec<Curve>,
}

impl RunOutcome {
    /// The metric `name`, if the run reported it.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }
}

/// The theory's prediction: named scalars and curves, computed from the model.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DynPrediction {
    pub model: String,
    pub quantities: Vec<(String, f64)>,
    pub curves: Vec<Curve>,
}

/// A training-dynamics model. [`Trajectory`] makes it a [`Model`].
pub trait Dynamics: Send + Sync + Sized {
    /// The model's parameters.
    type Params: serde::de::DeserializeOwned;

    /// Validates the parameters and builds the model.
    fn from_params(p: Self::Params) -> Result<Self>;
    /// The model's name, summary, source and parameters.
    fn model_info() -> ModelInfo;
    fn name(&self) -> &'static str;
    /// The end-state metrics every run of this instance reports, in the order
    /// [`Dynamics::run`] reports them.
    fn metric_specs(&self) -> Vec<MetricSpec>;
    /// The curves every run stores with its metrics: each names a [`RunOutcome::curves`]
    /// entry and gives its grid, which the run's curve must match point for point.
    fn trace_specs(&self) -> Vec<TraceSpec> {
        Vec::new()
    }
    /// One trajectory from its own random stream (`trial` is the seed index). An `Err` is
    /// a failed run (e.g. a diverged integrator): it is counted, never averaged.
    fn run(&self, rng: &mut ChaCha8Rng, trial: u64) -> std::result::Result<RunOutcome, String>;
    /// The theory's prediction, computed from the model.
    fn predict(&self) -> Result<DynPrediction>;
    /// The paper's predictions as criteria against the simulated runs.
    fn criteria(&self, prediction: &DynPrediction, runs: &[RunOutcome]) -> Vec<Criterion>;
    /// Number of seeds front ends run when the user gives none.
    fn default_seeds(&self) -> u64 {
        20
    }
}

/// A training-dynamics model as a [`Model`]: one trial is one seed's trajectory, its
/// metrics are the run's end-state metrics, and every seed must complete.
pub struct Trajectory<D: Dynamics> {
    model: D,
    metrics: Vec<MetricSpec>,
    traces: Vec<TraceSpec>,
}

impl<D: Dynamics> Trajectory<D> {
    pub fn new(model: D) -> Self {
        let metrics = model.metric_specs();
        let traces = model.trace_specs();
        Trajectory {
            model,
            metrics,
            traces,
        }
    }

    /// The registry's description.
    pub fn info() -> ModelInfo {
        D::model_info()
    }

    /// Builds the model from a parameter table.
    pub fn build(table: toml::Table) -> Result<Self> {
        let params: D::Params = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| crate::models::parameter_error(&e.to_string()))?;
        Ok(Trajectory::new(D::from_params(params)?))
    }
}

impl<D: Dynamics> Model for Trajectory<D> {
    type Workspace = ();

    fn name(&self) -> &'static str {
        self.model.name()
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn traces(&self) -> &[TraceSpec] {
        &self.traces
    }

    fn workspace(&self) {}

    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        trial: u64,
        _ws: &mut (),
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        let run = self.model.run(rng, trial)?;
        let (head, mut rest) = out.split_at_mut(self.metrics.len());
        for (slot, spec) in head.iter_mut().zip(&self.metrics) {
            *slot = run
                .metric(&spec.name)
                .ok_or_else(|| format!("the run did not report metric `{}`", spec.name))?;
        }
        for spec in &self.traces {
            let curve = run
                .curves
                .iter()
                .find(|c| c.name == spec.name && c.t == spec.t)
                .ok_or_else(|| {
                    format!("the run did not report curve `{}` on its grid", spec.name)
                })?;
            let (slots, tail) = rest.split_at_mut(spec.t.len());
            slots.copy_from_slice(&curve.y);
            rest = tail;
        }
        Ok(())
    }

    fn predict(&self) -> Result<Prediction> {
        let p = self.model.predict()?;
        Ok(Prediction {
            model: p.model,
            quantities: p
                .quantities
                .iter()
                .map(|(k, v)| Quantity::exact(k, *v))
                .collect(),
            curves: p.curves,
            ..Default::default()
        })
    }

    fn criteria(&self, prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        let p = DynPrediction {
            model: prediction.model.clone(),
            quantities: prediction
                .quantities
                .iter()
                .map(|q| (q.name.clone(), q.value))
                .collect(),
            curves: prediction.curves.clone(),
        };
        let runs: Vec<RunOutcome> = (0..trials.completed())
            .map(|i| RunOutcome {
                metrics: trials
                    .metrics
                    .iter()
                    .cloned()
                    .zip(trials.row(i).iter().copied())
                    .collect(),
                curves: self
                    .traces
                    .iter()
                    .filter_map(|spec| {
                        Some(Curve {
                            name: spec.name.clone(),
                            t: spec.t.clone(),
                            y: trials.trace(i, &spec.name)?.to_vec(),
                        })
                    })
                    .collect(),
            })
            .collect();
        self.model.criteria(&p, &runs)
    }

    fn default_trials(&self) -> u64 {
        self.model.default_seeds()
    }

    /// Every seed must complete: a diverged run is a failed check.
    fn max_failure_rate(&self) -> f64 {
        0.0
    }
}
