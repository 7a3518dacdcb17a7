//! Training-dynamics models: a trajectory (gradient descent, gradient flow or an ODE) is
//! simulated over independent seeds, the theory predicts its curve or end state, and a
//! check turns the paper's predictions into criteria with a verdict.
//!
//! Each model lives in its own module behind [`Dynamics`]; front ends use the
//! object-safe [`DynDynamics`] picked by name through [`build`].

use rand::rngs::ChaCha8Rng;
use serde::{Deserializer, Serialize};

use crate::params::ModelInfo;
use crate::{Error, Result};

pub mod ssl;

/// A named curve `y(t)`: a learning curve, a norm against time, a predicted law.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Curve {
    pub name: String,
    pub t: Vec<f64>,
    pub y: Vec<f64>,
}

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

/// One checked prediction: what the theory says, what the runs measured, and whether they
/// agree under the rule stated in `statement`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Criterion {
    pub name: String,
    /// The prediction and its pass rule in words (e.g. "SSL learns e2 in ≥ 90% of seeds").
    pub statement: String,
    pub predicted: Option<f64>,
    pub measured: f64,
    /// Standard error of `measured` over seeds, where it is a mean.
    pub se: Option<f64>,
    pub pass: bool,
}

/// A training-dynamics model.
pub trait Dynamics: Send + Sync {
    fn name(&self) -> &'static str;
    /// One trajectory from its own random stream (`trial` is the seed index). An `Err` is
    /// a failed run (e.g. a diverged integrator): it is counted, never averaged.
    fn run(&self, rng: &mut ChaCha8Rng, trial: u64) -> std::result::Result<RunOutcome, String>;
    /// The theory's prediction, computed from the model.
    fn predict(&self) -> Result<DynPrediction>;
    /// The paper's predictions as criteria against the simulated runs.
    fn criteria(&self, prediction: &DynPrediction, runs: &[RunOutcome]) -> Vec<Criterion>;
}

/// Object-safe alias used by front ends.
pub type DynDynamics = dyn Dynamics;

/// Every training-dynamics model the library knows, with its parameters.
pub fn catalogue() -> Vec<ModelInfo> {
    vec![ssl::YangSsl::info()]
}

/// Builds the dynamics model `name` from parameters in any serde format.
pub fn build<'de, D: Deserializer<'de>>(name: &str, params: D) -> Result<Box<DynDynamics>> {
    let bad = |e: D::Error| crate::models::parameter_error(&e.to_string());
    if name == ssl::NAME {
        return Ok(Box::new(ssl::YangSsl::new(
            serde::Deserialize::deserialize(params).map_err(bad)?,
        )?));
    }
    Err(Error::invalid(
        "model",
        format!(
            "unknown dynamics model `{name}`; known: {}",
            catalogue()
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}
