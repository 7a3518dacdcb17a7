//! Two-stage pre-training models (Tinati & Tu, arXiv 2603.27631). Each module holds one
//! pre-training estimator behind [`TwoStageModel`]: its parameters, its sampler and
//! estimator (one Monte Carlo trial), and what it tells the theory. [`two_stage::TwoStage`]
//! makes any of them a [`crate::model::Model`], with `m`, `n` and `sampler` as ordinary
//! parameters.

pub mod attention_tokens;
pub mod dp_sgd;
pub mod factor;
pub mod glm_oi;
pub mod gmm;
pub mod multi_index;
pub mod nc_resnet;
pub mod neural_collapse;
pub mod rf_reconstruction;
pub mod single_index;
pub mod spectral;
pub mod spurious;
pub mod ttt;
pub mod two_stage;

use rand::rngs::ChaCha8Rng;

use crate::budget::{Cost, Need};
use crate::linalg::Sampler;
use crate::params::ModelInfo;
use crate::theory::Theory;
use crate::{Error, Result};

/// The sample sizes and sampler of one two-stage trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Sizes {
    /// Pre-training sample size.
    pub m: usize,
    /// Downstream sample size.
    pub n: usize,
    /// How sample covariances are drawn.
    pub sampler: Sampler,
}

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
pub trait TwoStageModel: Send + Sync + Sized {
    /// Per-worker buffers reused across trials, so the hot loop does not allocate.
    type Workspace: Send + 'static;
    /// The model's own parameters (everything but `m`, `n` and `sampler`).
    type Params: serde::de::DeserializeOwned;

    /// Validates the parameters and builds the model.
    fn from_params(p: Self::Params) -> Result<Self>;
    /// The model's name, summary, source and own parameters.
    fn model_info() -> ModelInfo;
    /// Whether the trial depends on the `sampler` (models that draw raw samples do not).
    fn uses_sampler() -> bool {
        true
    }
    /// The samplers the model supports, its default first.
    fn samplers() -> &'static [Sampler] {
        &[Sampler::Wishart, Sampler::Raw]
    }

    fn name(&self) -> &'static str;
    fn workspace(&self) -> Self::Workspace;
    /// Rejects sample sizes the model cannot handle, naming `m` or `n`.
    fn check_sizes(&self, m: usize, n: usize) -> Result<()>;
    /// One Monte Carlo trial from its own random stream. An `Err` is a failed trial
    /// (e.g. an optimiser that did not converge): it is counted, never averaged.
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        sizes: &Sizes,
        ws: &mut Self::Workspace,
    ) -> std::result::Result<TrialRecord, String>;
    /// The limit theory, computed from the model.
    fn theory(&self) -> Result<Theory>;
    /// What one trial at `sizes` and one [`TwoStageModel::theory`] need (see
    /// [`crate::budget`]).
    fn cost(&self, sizes: &Sizes) -> Cost;
    /// Conditions of the limit theory that `sizes` does not meet, each with the expected
    /// size of the deviation (none by default).
    fn regime(&self, _sizes: &Sizes) -> Vec<String> {
        Vec::new()
    }
    /// Name of [`TrialRecord::extra`], if the model reports one.
    fn extra_name(&self) -> Option<&'static str> {
        None
    }
}

/// Bytes of `count` doubles.
pub(crate) fn doubles(count: f64) -> f64 {
    8.0 * count
}

/// The trial cost of drawing the two sample covariances in dimension `d` and working on
/// `dense` d×d matrices: O(d³) from their Wishart laws, O((m + n) d²) from raw samples.
pub(crate) fn covariance_trial(d: usize, dense: f64, sizes: &Sizes, extra_flops: f64) -> Need {
    let d = d as f64;
    let bytes = doubles(dense * d * d);
    match sizes.sampler {
        Sampler::Wishart | Sampler::Projected => {
            Need::new(bytes, 12.0 * d * d * d + extra_flops, "d")
        }
        Sampler::Raw => {
            let samples = (sizes.m + sizes.n) as f64;
            let flops = samples * d * d + 12.0 * d * d * d + extra_flops;
            let driver = if samples > d { "m" } else { "d" };
            Need::new(bytes, flops, driver)
        }
    }
}

/// The cost of the generic tangent-space theory ([`crate::theory::psd_chart`]) for a
/// `d×d` descriptor of rank `k`: `q ≈ dk` tangents, each a d×d matrix carried through a
/// few products, and `q×q` Hessian and score covariance.
pub(crate) fn tangent_theory(d: usize, k: usize) -> Need {
    let (d, q) = (d as f64, (d * k) as f64);
    Need::new(
        doubles(6.0 * q * d * d + 4.0 * q * q),
        6.0 * q * d * d * d + 4.0 * q * q * d * d + 20.0 * q * q * q,
        "d",
    )
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
