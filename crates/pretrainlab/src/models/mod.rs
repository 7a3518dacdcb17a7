//! Pre-training models. Each module holds one model: its parameters, its sampler and
//! estimator (one Monte Carlo trial), and what it tells the theory.

pub mod factor;
pub mod gmm;
pub mod spectral;

use rand::rngs::ChaCha8Rng;
use serde::Deserializer;

use crate::engine::{self, RunResult, RunSpec};
use crate::params::ModelInfo;
use crate::theory::Theory;
use crate::{Error, Result};

/// What one trial reports: the scaled parts of the conditional excess risk.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct TrialRecord {
    /// `E_{m,n} = n(R − σ²)`.
    pub scaled_excess: f64,
    /// `n·Var_n(Ω̂)`, tends to `σ² d_eff`.
    pub n_var: f64,
    /// `n·Leakage_n(Ω̂)`, tends to 0.
    pub n_leak: f64,
    /// `n·Rep(Ω̂)`.
    pub n_rep: f64,
    /// The pre-training interaction `m·Rep(Ω̂)`, tends in law to `‖L(Z)‖²`.
    pub m_rep: f64,
    /// A model-specific extra quantity named by [`TwoStageModel::extra_name`].
    pub extra: Option<f64>,
}

impl TrialRecord {
    /// Scales the unscaled risk parts by `n` and `m`.
    pub fn from_parts(
        parts: crate::downstream::RiskParts,
        m: usize,
        n: usize,
        extra: Option<f64>,
    ) -> Self {
        let n_f = n as f64;
        TrialRecord {
            scaled_excess: n_f * parts.excess(),
            n_var: n_f * parts.var,
            n_leak: n_f * parts.leak,
            n_rep: n_f * parts.rep,
            m_rep: m as f64 * parts.rep,
            extra,
        }
    }
}

/// A two-stage model: draws one trial's data, pre-trains, freezes the representation,
/// fits the min-norm head and computes the exact risk parts; and describes its
/// limit theory.
pub trait TwoStageModel: Send + Sync {
    /// Per-worker buffers reused across trials, so the hot loop does not allocate.
    type Workspace: Send;

    fn name(&self) -> &'static str;
    fn workspace(&self) -> Self::Workspace;
    /// Rejects sample sizes the model cannot handle, naming `m` or `n`.
    fn check_sizes(&self, m: usize, n: usize) -> Result<()>;
    /// One Monte Carlo trial from its own random stream. An `Err` is a failed trial
    /// (e.g. an optimiser that did not converge): it is counted, never averaged.
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        spec: &RunSpec,
        ws: &mut Self::Workspace,
    ) -> std::result::Result<TrialRecord, String>;
    /// The limit theory, computed from the model.
    fn theory(&self) -> Result<Theory>;
    /// Name of [`TrialRecord::extra`], if the model reports one.
    fn extra_name(&self) -> Option<&'static str> {
        None
    }
}

/// Object-safe face of a [`TwoStageModel`], for front ends that pick a model by name.
pub trait DynModel: Send + Sync {
    fn name(&self) -> &'static str;
    fn check_sizes(&self, m: usize, n: usize) -> Result<()>;
    fn theory(&self) -> Result<Theory>;
    fn extra_name(&self) -> Option<&'static str>;
    /// Runs trials `range` of `spec`, calling `progress(k)` as `k` more finish.
    fn run(
        &self,
        spec: &RunSpec,
        range: std::ops::Range<u64>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> RunResult;
}

impl<M: TwoStageModel> DynModel for M {
    fn name(&self) -> &'static str {
        TwoStageModel::name(self)
    }
    fn check_sizes(&self, m: usize, n: usize) -> Result<()> {
        TwoStageModel::check_sizes(self, m, n)
    }
    fn theory(&self) -> Result<Theory> {
        TwoStageModel::theory(self)
    }
    fn extra_name(&self) -> Option<&'static str> {
        TwoStageModel::extra_name(self)
    }
    fn run(
        &self,
        spec: &RunSpec,
        range: std::ops::Range<u64>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> RunResult {
        engine::run(self, spec, range, progress)
    }
}

/// Every model the library knows, with its parameters.
pub fn catalogue() -> Vec<ModelInfo> {
    vec![
        factor::FactorModel::info(),
        spectral::SpectralModel::info(),
        gmm::GmmModel::info(),
    ]
}

/// Builds the model `name` from parameters in any serde format (TOML tables in the CLI).
/// Unknown models and unknown or ill-typed parameters are errors naming the field.
pub fn build<'de, D: Deserializer<'de>>(name: &str, params: D) -> Result<Box<dyn DynModel>> {
    let bad = |e: D::Error| parameter_error(&e.to_string());
    match name {
        "factor" => Ok(Box::new(factor::FactorModel::new(
            serde::Deserialize::deserialize(params).map_err(bad)?,
        )?)),
        "spectral" => Ok(Box::new(spectral::SpectralModel::new(
            serde::Deserialize::deserialize(params).map_err(bad)?,
        )?)),
        "gmm" => Ok(Box::new(gmm::GmmModel::new(
            serde::Deserialize::deserialize(params).map_err(bad)?,
        )?)),
        other => Err(Error::invalid(
            "model",
            format!(
                "unknown model `{other}`; known models: {}",
                catalogue()
                    .iter()
                    .map(|m| m.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Turns a deserialiser message into an error naming the parameter: serde reports
/// unknown keys as "unknown field `x`, …" and typed failures with a trailing "in `x`".
pub(crate) fn parameter_error(message: &str) -> Error {
    let flat = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let quoted = |s: &str| s.split('`').nth(1).map(str::to_string);
    if let Some((body, tail)) = flat.rsplit_once(" in `") {
        let field = tail.trim_end_matches('`').to_string();
        return Error::invalid(&field, body.to_string());
    }
    if let Some(field) = quoted(&flat).filter(|_| flat.starts_with("unknown field")) {
        return Error::invalid(&field, format!("is not a parameter of this model; {flat}"));
    }
    Error::invalid("parameters", flat)
}
