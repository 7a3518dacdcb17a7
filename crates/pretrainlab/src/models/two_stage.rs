//! Any two-stage pre-training estimator as a [`Model`].
//!
//! `TwoStage<M>` adds the run size to the estimator's own parameters: `m` (pre-training
//! samples), `n` (downstream samples) and, for estimators that use it, `sampler`. One
//! trial reports the scaled risk parts of arXiv 2603.27631 (eq. (3.3)):
//! `scaled_excess = n(R − σ²)`, `n_var`, `n_leak`, `n_rep` and `m_rep = m·Rep`, plus the
//! estimator's extra metric if it has one. The prediction is the limit
//! `n(R − σ²) ⇝ σ² d_eff + ‖L(Z)‖²/α` (Theorem 4.3) at this `(m, n)`: the weighted χ²
//! law of `‖L(Z)‖²` for `m_rep`, the shifted and scaled law for `scaled_excess`, the
//! limits of the other parts' means, and the paper's closed form as a reference. Where the
//! downstream features are Gaussian the predicted means of `n_var`, `n_leak` and the
//! decisive `scaled_excess` carry their exact finite-`n` terms
//! ([`crate::theory::Prediction::finite_n_mean`]); the limit stays beside them as
//! `limit_mean`.

use std::sync::Arc;

use rand::rngs::ChaCha8Rng;
use serde_json::json;

use super::{Sizes, TwoStageModel};
use crate::law::{Affine, Law};
use crate::linalg::Sampler;
use crate::model::{
    LawPrediction, MeanPrediction, MetricSpec, Model, Prediction, Quantity, Reference,
};
use crate::params::{ModelInfo, ParamSpec};
use crate::{Error, Result};

/// Default pre-training sample size.
pub const DEFAULT_M: usize = 20_000;
/// Default downstream sample size.
pub const DEFAULT_N: usize = 10_000;
/// Default number of Monte Carlo trials.
pub const DEFAULT_TRIALS: u64 = 2_000;

/// A two-stage model: a pre-training estimator `M` at sample sizes `m` and `n`.
pub struct TwoStage<M: TwoStageModel> {
    model: M,
    sizes: Sizes,
    metrics: Vec<MetricSpec>,
}

impl<M: TwoStageModel> TwoStage<M> {
    /// Wraps a built estimator, checking the sample sizes against it.
    pub fn new(model: M, sizes: Sizes) -> Result<Self> {
        model.check_sizes(sizes.m, sizes.n)?;
        let mut metrics = vec![
            MetricSpec::new(
                "scaled_excess",
                "×n",
                "n(R − σ²), the scaled downstream excess risk",
            ),
            MetricSpec::new(
                "n_var",
                "×n",
                "n·Var_n, the variance part; tends to σ² d_eff",
            ),
            MetricSpec::new("n_leak", "×n", "n·Leakage_n, the leakage part; tends to 0"),
            MetricSpec::new("n_rep", "×n", "n·Rep, the representation part"),
            MetricSpec::new(
                "m_rep",
                "×m",
                "m·Rep, the pre-training interaction; tends in law to ‖L(Z)‖²",
            ),
        ];
        if let Some(name) = model.extra_name() {
            metrics.push(MetricSpec::new(name, "1", extra_meaning(name)));
        }
        Ok(TwoStage {
            model,
            sizes,
            metrics,
        })
    }

    /// The registry's description: the estimator's parameters, then `m`, `n`, `sampler`.
    pub fn info() -> ModelInfo {
        let mut info = M::model_info();
        info.params.push(ParamSpec::new(
            "m",
            &DEFAULT_M.to_string(),
            "pre-training (unlabeled) sample size",
        ));
        info.params.push(ParamSpec::new(
            "n",
            &DEFAULT_N.to_string(),
            "downstream (labeled) sample size",
        ));
        if M::uses_sampler() {
            let allowed = M::samplers();
            let meaning = if allowed.contains(&Sampler::Projected) {
                SAMPLERS_WITH_PROJECTED
            } else {
                SAMPLERS
            };
            info.params.push(ParamSpec::new(
                "sampler",
                &format!("\"{}\"", sampler_name(allowed[0])),
                meaning,
            ));
        }
        info
    }

    /// Builds the model from a parameter table: `m`, `n` and `sampler` are taken out, the
    /// rest goes to the estimator.
    pub fn build(mut table: toml::Table) -> Result<Self> {
        let m = take_size(&mut table, "m", DEFAULT_M)?;
        let n = take_size(&mut table, "n", DEFAULT_N)?;
        let sampler = if M::uses_sampler() {
            let allowed = M::samplers();
            let pick = match table.remove("sampler") {
                None => Some(allowed[0]),
                Some(v) => v.try_into().ok().filter(|s| allowed.contains(s)),
            };
            pick.ok_or_else(|| {
                let names: Vec<String> = allowed
                    .iter()
                    .map(|s| format!("\"{}\"", sampler_name(*s)))
                    .collect();
                Error::invalid("sampler", format!("must be one of {}", names.join(", ")))
            })?
        } else {
            Sampler::Wishart
        };
        let params: M::Params = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| super::parameter_error(&e.to_string()))?;
        TwoStage::new(M::from_params(params)?, Sizes { m, n, sampler })
    }
}

/// The name of a sampler in parameter tables.
fn sampler_name(s: Sampler) -> &'static str {
    match s {
        Sampler::Wishart => "wishart",
        Sampler::Raw => "raw",
        Sampler::Projected => "projected",
    }
}

/// The `sampler` parameter's meaning for the models that offer `wishart` and `raw`.
const SAMPLERS: &str = "\"wishart\": draw the sample covariances from their Wishart laws (O(d³) per trial); \"raw\": draw the samples (O((m + n) d²))";

/// The same for a model that also offers `projected`, its default.
const SAMPLERS_WITH_PROJECTED: &str = "\"projected\": keep the pre-training Wishart as its Bartlett factor, take the top-k eigenpairs by block Krylov through it, and draw the downstream statistics as a (k+1)-dimensional Wishart (exact in law, O(d²k)); \"wishart\": draw both sample covariances from their Wishart laws (O(d³)); \"raw\": draw the samples (O((m + n) d²))";

/// A column-safe key from a label: ASCII letters and digits, other runs as `_`.
fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

fn extra_meaning(name: &str) -> &'static str {
    match name {
        "m_subopt" => "m(L(M̂) − L(M⋆)), the scaled pre-training sub-optimality; mean → ½ tr(H⁻¹S)",
        "em_iterations" => "EM iterations of the pre-training fit",
        _ => "the estimator's extra per-trial quantity",
    }
}

/// Removes a sample size from the table: an integer `≥ 1`, naming the field otherwise.
fn take_size(table: &mut toml::Table, field: &str, default: usize) -> Result<usize> {
    match table.remove(field) {
        None => Ok(default),
        Some(toml::Value::Integer(i)) if i >= 1 => Ok(i as usize),
        Some(v) => Err(Error::invalid(
            field,
            format!("must be an integer ≥ 1, got {v}"),
        )),
    }
}

/// A predicted quantity with its Monte Carlo standard error (none when it is exact).
fn estimated(name: &str, value: f64, se: f64) -> Quantity {
    Quantity {
        name: name.into(),
        value,
        se: (se > 0.0).then_some(se),
    }
}

impl<M: TwoStageModel> Model for TwoStage<M> {
    type Workspace = M::Workspace;

    fn name(&self) -> &'static str {
        self.model.name()
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn workspace(&self) -> M::Workspace {
        self.model.workspace()
    }

    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        ws: &mut M::Workspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        let r = self.model.trial(rng, &self.sizes, ws)?;
        out[..5].copy_from_slice(&[r.scaled_excess, r.n_var, r.n_leak, r.n_rep, r.m_rep]);
        if let Some(slot) = out.get_mut(5) {
            *slot = r.extra.unwrap_or(f64::NAN);
        }
        Ok(())
    }

    fn predict(&self) -> Result<Prediction> {
        let theory = self.model.theory()?;
        let p = theory.at(self.sizes.m, self.sizes.n);
        let se = p.interaction_mean_se;
        let var_limit = p.sigma2 * p.d_eff as f64;
        let mean = |metric: &str, value: f64, se: f64, decisive: bool| MeanPrediction {
            metric: metric.into(),
            value,
            se,
            decisive,
        };
        let mut means = vec![
            mean("m_rep", p.interaction_mean, se, true),
            mean("scaled_excess", p.finite_n_mean, p.finite_n_mean_se(), true),
            mean("n_var", p.n_var_mean, p.n_var_mean_se, false),
            mean("n_leak", p.n_leak_mean, p.n_leak_mean_se, false),
            mean("n_rep", p.interaction_mean / p.alpha, se / p.alpha, false),
        ];
        if let Some(x) = &p.extra_limit {
            means.push(mean(&x.label, x.value, 0.0, false));
        }
        let law: Arc<dyn Law> = Arc::new(theory.law.clone());
        let laws = vec![
            LawPrediction {
                metric: "m_rep".into(),
                law: law.clone(),
                decisive: true,
            },
            LawPrediction {
                metric: "scaled_excess".into(),
                law: Arc::new(Affine {
                    inner: law,
                    shift: var_limit,
                    divisor: p.alpha,
                }),
                decisive: false,
            },
        ];
        let mut quantities = vec![
            Quantity::exact("d_eff", p.d_eff as f64),
            Quantity::exact("d_base", p.d_base as f64),
            Quantity::exact("sigma2", p.sigma2),
            estimated("interaction_mean", p.interaction_mean, se),
            Quantity::exact("interaction_var", p.interaction_var),
            Quantity::exact("alpha", p.alpha),
            Quantity::exact("limit_mean", p.limit_mean),
            estimated("finite_n_mean", p.finite_n_mean, p.finite_n_mean_se()),
            estimated("n_var_mean", p.n_var_mean, p.n_var_mean_se),
            estimated("n_leak_mean", p.n_leak_mean, p.n_leak_mean_se),
        ];
        if let Some(a0) = p.alpha0 {
            quantities.push(Quantity::exact("alpha0", a0));
        }
        let mut references = Vec::new();
        if let Some(paper) = p.paper_interaction_mean {
            references.push(Reference {
                key: "paper_interaction_mean".into(),
                label: "the paper's closed form of E‖L(Z)‖²".into(),
                value: paper,
                of: Some("m_rep".into()),
            });
            references.push(Reference {
                key: "paper_limit_mean".into(),
                label: "σ² d_eff + (the paper's E‖L(Z)‖²)/α".into(),
                value: var_limit + paper / p.alpha,
                of: Some("scaled_excess".into()),
            });
        }
        references.extend(p.references.iter().map(|r| Reference {
            key: slug(&r.label),
            label: r.label.clone(),
            value: r.value,
            of: None,
        }));
        Ok(Prediction {
            model: self.model.name().into(),
            quantities,
            means,
            laws,
            references,
            curves: Vec::new(),
            warnings: self.model.regime(&self.sizes),
            detail: serde_json::to_value(&p).ok(),
        })
    }

    fn default_trials(&self) -> u64 {
        DEFAULT_TRIALS
    }

    fn cost(&self) -> crate::budget::Cost {
        self.model.cost(&self.sizes)
    }

    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        let (m, n) = (self.sizes.m, self.sizes.n);
        let mut labels = vec![
            ("m", json!(m)),
            ("n", json!(n)),
            ("alpha", json!(m as f64 / n as f64)),
        ];
        if M::uses_sampler() {
            labels.push(("sampler", json!(self.sizes.sampler)));
        }
        labels
    }
}
