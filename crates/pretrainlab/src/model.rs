//! The one model API. Every system pretrainlab knows, a two-stage estimator over Monte
//! Carlo trials or a training trajectory over seeds, is a [`Model`]:
//!
//! - [`Model::metrics`]: the instance's fixed schema of named per-trial metrics;
//! - [`Model::trial`]: one trial from its own random stream, filling those metrics into a
//!   slice, with a reusable workspace so that the hot loop allocates nothing. An `Err`
//!   is a failed trial: it is counted, never averaged;
//! - [`Model::predict`]: the theory, as named quantities (with a Monte Carlo standard
//!   error where the theory is itself estimated), predicted means and limit laws of
//!   metrics, labelled reference values (a paper's closed form, a prior-art bound) and
//!   curves;
//! - [`Model::criteria`]: the model's own checks, added to the generic ones of
//!   [`crate::criteria`] (a z-test per predicted mean, KS per predicted law, a bound on
//!   failed trials).
//!
//! Front ends hold a `Box<dyn DynModel>` from [`crate::registry::build`]; the blanket
//! implementation connects the two. Only [`crate::runner`] calls [`Model::trial`].

use std::any::Any;
use std::ops::Range;
use std::sync::Arc;

use rand::rngs::ChaCha8Rng;
use serde::{Serialize, Serializer};

use crate::law::{Law, LawSummary};
use crate::runner::Trials;

/// One named per-trial metric of a model instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MetricSpec {
    pub name: String,
    /// The unit or scaling, e.g. "×n (risk units)" or "1" for a pure number.
    pub unit: String,
    pub meaning: String,
    /// Whether a trial may leave the metric undefined (NaN), e.g. where an inner solver
    /// of a diagnostic found nothing. Summaries count only its defined values; any other
    /// non-finite metric makes the trial a failed one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

impl MetricSpec {
    pub fn new(name: impl Into<String>, unit: &str, meaning: impl Into<String>) -> Self {
        MetricSpec {
            optional: false,
            name: name.into(),
            unit: unit.to_string(),
            meaning: meaning.into(),
        }
    }

    /// The same metric, allowed to be undefined (NaN) in a trial.
    pub fn optional(self) -> Self {
        MetricSpec {
            optional: true,
            ..self
        }
    }
}

/// A per-trial curve on a fixed grid: one value per point of `t` in every trial (a
/// learning curve, a norm against time). Traces are stored with the trial, after its
/// metrics, and are not summarised like metrics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceSpec {
    pub name: String,
    /// The grid (time, step or another abscissa).
    pub t: Vec<f64>,
    pub meaning: String,
}

impl TraceSpec {
    pub fn new(name: impl Into<String>, t: Vec<f64>, meaning: impl Into<String>) -> Self {
        TraceSpec {
            name: name.into(),
            t,
            meaning: meaning.into(),
        }
    }
}

/// A named number the theory predicts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quantity {
    pub name: String,
    pub value: f64,
    /// Monte Carlo standard error where the theory is itself estimated.
    pub se: Option<f64>,
}

impl Quantity {
    pub fn exact(name: &str, value: f64) -> Self {
        Quantity {
            name: name.to_string(),
            value,
            se: None,
        }
    }
}

/// The predicted mean of a metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeanPrediction {
    pub metric: String,
    pub value: f64,
    /// Standard error of `value` (0 when the theory is exact).
    pub se: f64,
    /// Whether the generic z-test of this mean enters the verdict.
    pub decisive: bool,
}

/// The predicted limit law of a metric.
#[derive(Clone, Debug)]
pub struct LawPrediction {
    pub metric: String,
    pub law: Arc<dyn Law>,
    /// Whether the generic KS test against this law enters the verdict.
    pub decisive: bool,
}

impl Serialize for LawPrediction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            metric: &'a str,
            decisive: bool,
            #[serde(flatten)]
            law: LawSummary,
        }
        View {
            metric: &self.metric,
            decisive: self.decisive,
            law: LawSummary::of(self.law.as_ref()),
        }
        .serialize(s)
    }
}

/// A labelled reference value printed beside the generic theory: a paper's closed form,
/// a prior-art bound.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reference {
    /// A short column-safe key, e.g. `paper_interaction_mean`.
    pub key: String,
    /// What the value is, in words.
    pub label: String,
    pub value: f64,
    /// The metric whose mean this value claims to predict, if any (figures draw it there).
    pub of: Option<String>,
}

/// A named curve `y(t)`: a learning curve, a norm against time, a predicted law.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Curve {
    pub name: String,
    pub t: Vec<f64>,
    pub y: Vec<f64>,
}

/// Everything a model's theory predicts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Prediction {
    pub model: String,
    pub quantities: Vec<Quantity>,
    pub means: Vec<MeanPrediction>,
    pub laws: Vec<LawPrediction>,
    pub references: Vec<Reference>,
    pub curves: Vec<Curve>,
    /// Conditions of the asymptotics that this instance does not meet, each with the
    /// expected size of the deviation (e.g. an eigengap too small for `m`). Front ends
    /// show them as warnings, and a failing check cites them.
    pub warnings: Vec<String>,
    /// A model's own structured record of the prediction, kept so that a model family's
    /// documented JSON keys stay stable (the two-stage models put their
    /// `theory::Prediction` here); front ends flatten it into their JSON.
    pub detail: Option<serde_json::Value>,
}

impl Prediction {
    /// The quantity `name`.
    pub fn quantity(&self, name: &str) -> Option<f64> {
        self.quantities
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.value)
    }

    /// The predicted law of `metric`.
    pub fn law(&self, metric: &str) -> Option<&dyn Law> {
        self.laws
            .iter()
            .find(|l| l.metric == metric)
            .map(|l| l.law.as_ref())
    }

    /// The predicted mean of `metric`.
    pub fn mean(&self, metric: &str) -> Option<&MeanPrediction> {
        self.means.iter().find(|m| m.metric == metric)
    }

    /// Every number in the prediction is finite.
    pub fn is_finite(&self) -> bool {
        self.first_non_finite().is_none()
    }

    /// The first number of the prediction that is not finite, named, with its value.
    pub fn first_non_finite(&self) -> Option<(String, f64)> {
        let bad = |name: String, v: f64| (!v.is_finite()).then_some((name, v));
        let quantities = self.quantities.iter().flat_map(|q| {
            [
                bad(q.name.clone(), q.value),
                bad(format!("{} (s.e.)", q.name), q.se.unwrap_or(0.0)),
            ]
        });
        let means = self.means.iter().flat_map(|m| {
            [
                bad(format!("mean of {}", m.metric), m.value),
                bad(format!("s.e. of the mean of {}", m.metric), m.se),
            ]
        });
        let laws = self.laws.iter().flat_map(|l| {
            [
                bad(format!("law of {} (mean)", l.metric), l.law.mean()),
                bad(format!("law of {} (variance)", l.metric), l.law.variance()),
            ]
        });
        let references = self.references.iter().map(|r| bad(r.key.clone(), r.value));
        let curves = self.curves.iter().flat_map(|c| {
            c.t.iter()
                .chain(&c.y)
                .map(move |&v| bad(format!("curve {}", c.name), v))
        });
        quantities
            .chain(means)
            .chain(laws)
            .chain(references)
            .chain(curves)
            .flatten()
            .next()
    }
}

/// One checked prediction: what the theory says, what the trials measured, and whether
/// they agree under the rule stated in `statement`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Criterion {
    pub name: String,
    /// The prediction and its pass rule in words (e.g. "SSL learns e2 in ≥ 90% of seeds").
    pub statement: String,
    pub predicted: Option<f64>,
    pub measured: f64,
    /// Standard error of `measured` over trials, where it is a mean.
    pub se: Option<f64>,
    pub pass: bool,
}

/// A system pretrainlab can simulate, predict and check. See the module docs.
pub trait Model: Send + Sync {
    /// Per-worker buffers reused across trials, so that the hot loop does not allocate.
    type Workspace: Send + 'static;

    /// The registry name.
    fn name(&self) -> &'static str;
    /// The fixed schema of per-trial metrics of this instance (at least one).
    fn metrics(&self) -> &[MetricSpec];
    /// The per-trial curves of this instance (none by default).
    fn traces(&self) -> &[TraceSpec] {
        &[]
    }
    fn workspace(&self) -> Self::Workspace;
    /// One trial (a Monte Carlo trial, or a seed's trajectory) from its own stream:
    /// fills `out`: one slot per [`Model::metrics`] entry, in order, then the values of
    /// each [`Model::traces`] entry on its grid. An `Err` is a failed trial.
    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        trial: u64,
        ws: &mut Self::Workspace,
        out: &mut [f64],
    ) -> std::result::Result<(), String>;
    /// The theory's prediction, computed from the model.
    fn predict(&self) -> crate::Result<Prediction>;
    /// The model's own criteria, checked beside the generic ones.
    fn criteria(&self, _prediction: &Prediction, _trials: &Trials) -> Vec<Criterion> {
        Vec::new()
    }
    /// Trials front ends run when the user gives no count.
    fn default_trials(&self) -> u64;
    /// What one trial and one prediction need, estimated from the parameters; front ends
    /// check it against their limits before any work ([`crate::budget::admit`]).
    fn cost(&self) -> crate::budget::Cost;
    /// Largest fraction of failed trials a passing check tolerates.
    fn max_failure_rate(&self) -> f64 {
        0.05
    }
    /// Facts about the instance shown with every simulation (e.g. `m` and `n`).
    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
}

/// The object-safe face of a [`Model`], for front ends that pick a model by name.
pub trait DynModel: Send + Sync {
    fn name(&self) -> &'static str;
    fn metrics(&self) -> &[MetricSpec];
    fn traces(&self) -> &[TraceSpec];
    fn predict(&self) -> crate::Result<Prediction>;
    fn criteria(&self, prediction: &Prediction, trials: &Trials) -> Vec<Criterion>;
    fn default_trials(&self) -> u64;
    fn cost(&self) -> crate::budget::Cost;
    fn max_failure_rate(&self) -> f64;
    fn labels(&self) -> Vec<(&'static str, serde_json::Value)>;
    /// Runs trials `range` under master seed `seed`. Call [`crate::runner::run`] instead:
    /// this is its dispatch point.
    fn run_range(&self, seed: u64, range: Range<u64>, progress: &(dyn Fn(u64) + Sync)) -> Trials;
    /// A fresh workspace, type-erased, for [`crate::runner::run_one`].
    fn workspace_any(&self) -> Box<dyn Any + Send>;
    /// One trial with a caller-held workspace. Call [`crate::runner::run_one`] instead:
    /// this is its dispatch point.
    fn trial_with(
        &self,
        seed: u64,
        trial: u64,
        ws: &mut dyn Any,
        out: &mut [f64],
    ) -> std::result::Result<(), String>;
}

impl<M: Model> DynModel for M {
    fn name(&self) -> &'static str {
        Model::name(self)
    }
    fn metrics(&self) -> &[MetricSpec] {
        Model::metrics(self)
    }
    fn traces(&self) -> &[TraceSpec] {
        Model::traces(self)
    }
    /// The model's prediction; one that is not finite everywhere is an error.
    fn predict(&self) -> crate::Result<Prediction> {
        let p = Model::predict(self)?;
        match p.first_non_finite() {
            None => Ok(p),
            Some((what, value)) => Err(crate::Error::NotFinite { what, value }),
        }
    }
    fn criteria(&self, prediction: &Prediction, trials: &Trials) -> Vec<Criterion> {
        Model::criteria(self, prediction, trials)
    }
    fn default_trials(&self) -> u64 {
        Model::default_trials(self)
    }
    fn cost(&self) -> crate::budget::Cost {
        Model::cost(self)
    }
    fn max_failure_rate(&self) -> f64 {
        Model::max_failure_rate(self)
    }
    fn labels(&self) -> Vec<(&'static str, serde_json::Value)> {
        Model::labels(self)
    }
    fn run_range(&self, seed: u64, range: Range<u64>, progress: &(dyn Fn(u64) + Sync)) -> Trials {
        crate::runner::execute(self, seed, range, progress)
    }
    fn workspace_any(&self) -> Box<dyn Any + Send> {
        Box::new(Model::workspace(self))
    }
    fn trial_with(
        &self,
        seed: u64,
        trial: u64,
        ws: &mut dyn Any,
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        let ws = ws
            .downcast_mut::<M::Workspace>()
            .ok_or("the workspace belongs to another model")?;
        crate::runner::execute_one(self, seed, trial, ws, out)
    }
}
