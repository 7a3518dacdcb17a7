//! Training-dynamics models: a trajectory (gradient descent, gradient flow or an ODE) is
//! simulated over independent seeds, the theory predicts its curve or end state, and a
//! check turns the paper's predictions into criteria with a verdict.
//!
//! Each model lives in its own module behind [`Dynamics`]; [`Trajectory`] makes it a
//! [`Model`], so front ends reach it through the registry like every other model. A run
//! writes its metrics and curves straight into the runner's output slice, with every
//! buffer in a per-worker workspace ([`Dynamics::Workspace`]), so that a warm trial
//! allocates nothing.

mod dense;
pub mod diagonal;
pub mod factorization;
pub mod ssl;

use std::fmt;

use rand::rngs::ChaCha8Rng;
use serde::Serialize;

use crate::Result;
pub use crate::model::{Criterion, Curve};
use crate::model::{MetricSpec, Model, Prediction, Quantity, TraceSpec};
use crate::params::ModelInfo;
use crate::runner::Trials;

/// What one simulated trajectory reports, by name: its scalar end-state metrics and its
/// curves. The criteria read the runs in this form.
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

    /// Names one run's output `row`: one value per entry of `metrics`, then the values
    /// of each entry of `traces` on its grid (the layout of [`Dynamics::run`]).
    pub fn from_row(metrics: &[MetricSpec], traces: &[TraceSpec], row: &[f64]) -> Self {
        let (head, mut rest) = row.split_at(metrics.len());
        let metrics = metrics
            .iter()
            .zip(head)
            .map(|(spec, v)| (spec.name.clone(), *v))
            .collect();
        let curves = traces
            .iter()
            .map(|spec| {
                let (y, tail) = rest.split_at(spec.t.len());
                rest = tail;
                Curve {
                    name: spec.name.clone(),
                    t: spec.t.clone(),
                    y: y.to_vec(),
                }
            })
            .collect();
        RunOutcome { metrics, curves }
    }
}

/// Where a model's named values go, in schema order. A model names its metrics and
/// curves in one function per kind, called with a [`Schema`] to list the names and
/// grids once, and with a [`Row`] in every run to write the values: names and values
/// come from the same lines, and a run formats no name.
pub(crate) trait Sink {
    /// The next metric; only the schema formats `name` and `meaning`.
    fn metric(
        &mut self,
        name: fmt::Arguments<'_>,
        unit: &str,
        meaning: fmt::Arguments<'_>,
        value: f64,
    );

    /// The next curve: its values `y`, one per point of its grid `t`; only the schema
    /// reads `t`, `name` and `meaning`.
    fn curve(
        &mut self,
        name: fmt::Arguments<'_>,
        meaning: fmt::Arguments<'_>,
        t: impl Iterator<Item = f64>,
        y: impl Iterator<Item = f64>,
    );

    /// A metric that a run may leave undefined (NaN), e.g. where an inner solver failed
    /// ([`MetricSpec::optional`]).
    fn optional_metric(&mut self, name: &str, unit: &str, meaning: &str, value: f64);

    /// [`Sink::metric`] with a plain name and meaning.
    fn put(&mut self, name: &str, unit: &str, meaning: &str, value: f64) {
        self.metric(
            format_args!("{name}"),
            unit,
            format_args!("{meaning}"),
            value,
        );
    }
}

/// The schema: the specs of the metrics and curves, in order.
#[derive(Default)]
pub(crate) struct Schema {
    pub metrics: Vec<MetricSpec>,
    pub traces: Vec<TraceSpec>,
}

impl Sink for Schema {
    fn optional_metric(&mut self, name: &str, unit: &str, meaning: &str, _value: f64) {
        self.metrics
            .push(MetricSpec::new(name, unit, meaning).optional());
    }

    fn metric(
        &mut self,
        name: fmt::Arguments<'_>,
        unit: &str,
        meaning: fmt::Arguments<'_>,
        _value: f64,
    ) {
        self.metrics
            .push(MetricSpec::new(name.to_string(), unit, meaning.to_string()));
    }

    fn curve(
        &mut self,
        name: fmt::Arguments<'_>,
        meaning: fmt::Arguments<'_>,
        t: impl Iterator<Item = f64>,
        _y: impl Iterator<Item = f64>,
    ) {
        self.traces.push(TraceSpec::new(
            name.to_string(),
            t.collect(),
            meaning.to_string(),
        ));
    }
}

/// One run's output slice, filled value by value in schema order.
pub(crate) struct Row<'a> {
    out: &'a mut [f64],
    /// Values written so far (also those past the end of `out`, which are dropped).
    written: usize,
}

impl<'a> Row<'a> {
    pub fn new(out: &'a mut [f64]) -> Self {
        Row { out, written: 0 }
    }

    fn push(&mut self, value: f64) {
        if let Some(slot) = self.out.get_mut(self.written) {
            *slot = value;
        }
        self.written += 1;
    }

    /// `Err` unless the run wrote exactly one value per slot.
    pub fn finish(self) -> std::result::Result<(), String> {
        if self.written == self.out.len() {
            Ok(())
        } else {
            Err(format!(
                "the run wrote {} values into a row of {}",
                self.written,
                self.out.len()
            ))
        }
    }
}

impl Sink for Row<'_> {
    fn optional_metric(&mut self, _name: &str, _unit: &str, _meaning: &str, value: f64) {
        self.push(value);
    }

    fn metric(
        &mut self,
        _name: fmt::Arguments<'_>,
        _unit: &str,
        _meaning: fmt::Arguments<'_>,
        value: f64,
    ) {
        self.push(value);
    }

    fn curve(
        &mut self,
        _name: fmt::Arguments<'_>,
        _meaning: fmt::Arguments<'_>,
        _t: impl Iterator<Item = f64>,
        y: impl Iterator<Item = f64>,
    ) {
        y.for_each(|v| self.push(v));
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
    /// Per-worker buffers that [`Dynamics::run`] reuses, so that a warm run allocates
    /// nothing.
    type Workspace: Send + 'static;

    /// Validates the parameters and builds the model.
    fn from_params(p: Self::Params) -> Result<Self>;
    /// The model's name, summary, source and parameters.
    fn model_info() -> ModelInfo;
    fn name(&self) -> &'static str;
    /// The end-state metrics every run of this instance reports, in the order
    /// [`Dynamics::run`] writes them.
    fn metric_specs(&self) -> Vec<MetricSpec>;
    /// The curves every run stores after its metrics, in order, each on its grid.
    fn trace_specs(&self) -> Vec<TraceSpec> {
        Vec::new()
    }
    /// A workspace for [`Dynamics::run`].
    fn workspace(&self) -> Self::Workspace;
    /// One trajectory from its own random stream (`trial` is the seed index): fills
    /// `out` with one value per [`Dynamics::metric_specs`] entry, in order, then the
    /// values of each [`Dynamics::trace_specs`] entry on its grid (the contract of
    /// [`Model::trial`]). `ws` may hold anything from earlier runs. An `Err` is a failed
    /// run (e.g. a diverged integrator): it is counted, never averaged.
    fn run(
        &self,
        rng: &mut ChaCha8Rng,
        trial: u64,
        ws: &mut Self::Workspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String>;
    /// One trajectory with a fresh workspace, named: for tests and one-off runs.
    fn outcome(&self, rng: &mut ChaCha8Rng, trial: u64) -> std::result::Result<RunOutcome, String> {
        let (metrics, traces) = (self.metric_specs(), self.trace_specs());
        let width = metrics.len() + traces.iter().map(|t| t.t.len()).sum::<usize>();
        let mut out = vec![0.0; width];
        self.run(rng, trial, &mut self.workspace(), &mut out)?;
        Ok(RunOutcome::from_row(&metrics, &traces, &out))
    }
    /// The theory's prediction, computed from the model.
    fn predict(&self) -> Result<DynPrediction>;
    /// What one run and one prediction need (see [`crate::budget`]).
    fn cost(&self) -> crate::budget::Cost;
    /// The paper's predictions as criteria against the simulated runs.
    fn criteria(&self, prediction: &DynPrediction, runs: &[RunOutcome]) -> Vec<Criterion>;
    /// Number of seeds front ends run when the user gives none.
    fn default_seeds(&self) -> u64 {
        20
    }
    /// Where this instance's settings fall outside what its criteria need (a horizon or
    /// tolerance against the predicted rates), one line each with the expected effect.
    fn regime(&self) -> Vec<String> {
        Vec::new()
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
    type Workspace = D::Workspace;

    fn name(&self) -> &'static str {
        self.model.name()
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn traces(&self) -> &[TraceSpec] {
        &self.traces
    }

    fn workspace(&self) -> D::Workspace {
        self.model.workspace()
    }

    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        trial: u64,
        ws: &mut D::Workspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        self.model.run(rng, trial, ws, out)
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
            warnings: self.model.regime(),
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
            .map(|i| RunOutcome::from_row(&self.metrics, &self.traces, trials.row(i)))
            .collect();
        self.model.criteria(&p, &runs)
    }

    fn default_trials(&self) -> u64 {
        self.model.default_seeds()
    }

    fn cost(&self) -> crate::budget::Cost {
        self.model.cost()
    }

    /// Every seed must complete: a diverged run is a failed check.
    fn max_failure_rate(&self) -> f64 {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use crate::registry;
    use crate::runner::{Trials, run_one};

    /// A workspace may hold anything from earlier runs: a run in a reused workspace gives
    /// the bits of a run in a fresh one, for each dynamics model in several modes.
    #[test]
    fn reused_workspaces_give_the_bits_of_fresh_ones() {
        let ssl = "d = 4\nsteps_ssl = 60\nsteps_sl = 60\nrecord_every = 7";
        let diagonal = "d = 30\nmax_steps = 3000";
        for (name, params) in [
            ("yang-ssl", format!("{ssl}\nsteps_long = 120")),
            ("yang-ssl", format!("{ssl}\nsteps_long = 0")),
            ("factorization", "t_end = 20.0\nt_fast = 5.0".to_string()),
            (
                "factorization",
                "t_end = 20.0\nt_fast = 5.0\nr = 2".to_string(),
            ),
            ("diagonal", format!("{diagonal}\nalpha_pt = 0.5")),
            ("diagonal", format!("{diagonal}\npretrain = \"oracle\"")),
            (
                "diagonal",
                format!("{diagonal}\npretrain = \"oracle\"\nfine_tune = \"interpolator\""),
            ),
        ] {
            let model = registry::build(name, params.parse().unwrap()).unwrap();
            let width = Trials::for_model(model.as_ref()).width();
            let mut ws = model.workspace_any();
            let mut reused = vec![0.0; width];
            for trial in 0..3 {
                run_one(model.as_ref(), 9, trial, ws.as_mut(), &mut reused).unwrap();
            }
            let mut fresh = vec![0.0; width];
            run_one(
                model.as_ref(),
                9,
                2,
                model.workspace_any().as_mut(),
                &mut fresh,
            )
            .unwrap();
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&reused), bits(&fresh), "{name}: {params}");
        }
    }
}
